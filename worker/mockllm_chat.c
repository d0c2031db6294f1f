/*  mockllm_chat.c -- see mockllm_chat.h.

    Documents are built with jansson rather than printf: model names and
    prompt words come from the client and may hold quotes, control bytes or
    any UTF-8, which jansson escapes correctly. It costs a few microseconds
    per request, far below the HTTP handling around it.
*/
#include "mockllm_chat.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mocktext.h"

/*  Past this the answer is refused: a client asking for millions of tokens
    over a huge prompt must not make the mock allocate gigabytes.          */
#define MAX_ANSWER_BYTES (64u << 20)

struct mockllm_chat {
    json_t *root;                   /* the parsed body; owns model         */
    const char *model;              /* requested model                     */
    size_t model_len;               /* its length                          */
    bool stream;                    /* "stream": true                      */
    bool include_usage;             /* stream_options.include_usage        */
    char *text;                     /* the whole answer                    */
    size_t text_len;                /* its length                          */
    uint32_t tokens;                /* completion tokens in text           */
    uint32_t prompt_tokens;         /* words in all messages               */
    const char *finish_reason;      /* "stop" or "length"                  */
    char id [48];                   /* "chatcmpl-mock-<seq>"               */
    json_int_t created;             /* unix time of the request            */
};

/*  Growable string for the SSE events of one step.  */
typedef struct {
    char *data;                     /* NUL-terminated text                 */
    size_t len;                     /* bytes used                          */
    size_t alloc;                   /* bytes allocated                     */
} strbuf_t;

static void
s_error (mockllm_chat_error_t *err, const char *param, const char *message)
{
    err->param = param;
    snprintf (err->message, sizeof err->message, "%s", message);
}

/* ---------------------------------------------------------------------- */
/*  Request parsing                                                        */

/*  Words in one message content: a string, or an array of content parts
    whose "text" members count.  */
static uint32_t
s_content_words (json_t *content)
{
    if (json_is_string (content)) {
        const char *text = json_string_value (content);
        size_t len = json_string_length (content);
        return llmq_mock_prompt_tokens (&text, &len, 1);
    }
    uint32_t words = 0;
    size_t index;
    json_t *part;
    json_array_foreach (content, index, part) {
        json_t *text = json_object_get (part, "text");
        if (json_is_string (text))
            words += s_content_words (text);
    }
    return words;
}

/*  The prompt the answer cycles: the last user message's content. Parts
    of an array content are joined with spaces into *joined (caller frees). */
static int
s_last_user_prompt (json_t *messages, const char **prompt, size_t *len, char **joined)
{
    *prompt = NULL;
    *len = 0;
    *joined = NULL;
    for (size_t index = json_array_size (messages); index-- > 0;) {
        json_t *msg = json_array_get (messages, index);
        if (strcmp (json_string_value (json_object_get (msg, "role")), "user") != 0)
            continue;
        json_t *content = json_object_get (msg, "content");
        if (json_is_string (content)) {
            *prompt = json_string_value (content);
            *len = json_string_length (content);
            return 0;
        }
        size_t total = 1, part_index;
        json_t *part;
        json_array_foreach (content, part_index, part)
            total += json_string_length (json_object_get (part, "text")) + 1;
        if (!(*joined = (char *) malloc (total)))
            return -1;
        json_array_foreach (content, part_index, part) {
            json_t *text = json_object_get (part, "text");
            if (!json_is_string (text))
                continue;
            memcpy (*joined + *len, json_string_value (text), json_string_length (text));
            *len += json_string_length (text);
            (*joined) [(*len)++] = ' ';
        }
        *prompt = *joined;
        return 0;
    }
    return 0;
}

/*  Checks "messages": a non-empty array of objects with a string role and
    a string, array or null content; counts the prompt words.  */
static int
s_check_messages (mockllm_chat_t *self, json_t *messages, mockllm_chat_error_t *err)
{
    if (!json_is_array (messages) || json_array_size (messages) == 0) {
        s_error (err, "messages", "'messages' must be a non-empty array");
        return -1;
    }
    size_t index;
    json_t *msg;
    json_array_foreach (messages, index, msg) {
        json_t *content = json_object_get (msg, "content");
        if (!json_is_string (json_object_get (msg, "role"))
        || !(json_is_string (content) || json_is_array (content)
             || json_is_null (content) || !content)) {
            s_error (err, "messages", "each message needs a string 'role' "
                     "and a string or array 'content'");
            return -1;
        }
        self->prompt_tokens += s_content_words (content);
    }
    return 0;
}

/*  Reads a positive integer field if present: 0 absent, 1 read, -1 bad.  */
static int
s_positive_int (json_t *root, const char *key, uint32_t *value, mockllm_chat_error_t *err)
{
    json_t *field = json_object_get (root, key);
    if (!field || json_is_null (field))
        return 0;
    if (!json_is_integer (field) || json_integer_value (field) < 1) {
        err->param = key;
        snprintf (err->message, sizeof err->message, "'%s' must be an integer >= 1", key);
        return -1;
    }
    json_int_t raw = json_integer_value (field);
    *value = raw > UINT32_MAX ? UINT32_MAX : (uint32_t) raw;
    return 1;
}

/*  model, stream, stream_options and the token limit.  */
static int
s_check_options (mockllm_chat_t *self, uint32_t *limit, mockllm_chat_error_t *err)
{
    json_t *model = json_object_get (self->root, "model");
    if (!json_is_string (model) || json_string_length (model) == 0) {
        s_error (err, "model", "you must provide a model parameter");
        return -1;
    }
    self->model = json_string_value (model);
    self->model_len = json_string_length (model);
    json_t *stream = json_object_get (self->root, "stream");
    if (stream && !json_is_boolean (stream) && !json_is_null (stream)) {
        s_error (err, "stream", "'stream' must be a boolean");
        return -1;
    }
    self->stream = json_is_true (stream);
    json_t *usage = json_object_get (json_object_get (self->root, "stream_options"),
                                     "include_usage");
    self->include_usage = json_is_true (usage);
    uint32_t value;
    int rc = s_positive_int (self->root, "max_tokens", &value, err);
    if (rc == 1 && value < *limit)
        *limit = value;
    if (rc >= 0)
        rc = s_positive_int (self->root, "max_completion_tokens", &value, err);
    if (rc == 1 && value < *limit)
        *limit = value;
    return rc < 0 ? -1 : 0;
}

/*  Renders the answer; retries with a bigger buffer while it fills it.  */
static int
s_make_answer (mockllm_chat_t *self, const char *prompt, size_t len,
               mockllm_chat_error_t *err)
{
    size_t size = 64 + (size_t) self->tokens * 16;
    while (true) {
        if (size > MAX_ANSWER_BYTES) {
            s_error (err, "max_tokens", "the answer would exceed 64 MiB; lower max_tokens");
            return -1;
        }
        char *text = (char *) realloc (self->text, size);
        if (!text) {
            s_error (err, NULL, "out of memory");
            return -1;
        }
        self->text = text;
        self->text_len = llmq_mock_answer (prompt, len, self->tokens, text, size);
        if (self->text_len < size - 1)
            return 0;
        size *= 2;
    }
}

mockllm_chat_t *
mockllm_chat_new (const char *body, size_t size, uint32_t answer_tokens,
                  uint64_t seq, mockllm_chat_error_t *err)
{
    mockllm_chat_t *self = (mockllm_chat_t *) calloc (1, sizeof *self);
    if (!self) {
        s_error (err, NULL, "out of memory");
        return NULL;
    }
    json_error_t jerr;
    self->root = json_loadb (body, size, 0, &jerr);
    if (!json_is_object (self->root)) {
        s_error (err, NULL, "We could not parse the JSON body of your request.");
        goto failed;
    }
    uint32_t limit = answer_tokens;
    if (s_check_options (self, &limit, err)
    ||  s_check_messages (self, json_object_get (self->root, "messages"), err))
        goto failed;
    self->tokens = limit;
    self->finish_reason = limit < answer_tokens ? "length" : "stop";
    snprintf (self->id, sizeof self->id, "chatcmpl-mock-%llu", (unsigned long long) seq);
    self->created = (json_int_t) time (NULL);
    const char *prompt;
    size_t prompt_len;
    char *joined;
    if (s_last_user_prompt (json_object_get (self->root, "messages"),
                            &prompt, &prompt_len, &joined)) {
        s_error (err, NULL, "out of memory");
        goto failed;
    }
    int rc = s_make_answer (self, prompt, prompt_len, err);
    free (joined);
    if (rc == 0)
        return self;
failed:
    mockllm_chat_destroy (&self);
    return NULL;
}

void
mockllm_chat_destroy (mockllm_chat_t **self_p)
{
    mockllm_chat_t *self = *self_p;
    if (!self)
        return;
    json_decref (self->root);
    free (self->text);
    free (self);
    *self_p = NULL;
}

const char *
mockllm_chat_model (const mockllm_chat_t *self)
{
    return self->model;
}

bool
mockllm_chat_stream (const mockllm_chat_t *self)
{
    return self->stream;
}

const char *
mockllm_chat_text (const mockllm_chat_t *self)
{
    return self->text;
}

uint32_t
mockllm_chat_tokens (const mockllm_chat_t *self)
{
    return self->tokens;
}

/* ---------------------------------------------------------------------- */
/*  Rendering                                                              */

static json_t *
s_usage (const mockllm_chat_t *self)
{
    return json_pack ("{s:I, s:I, s:I}",
                      "prompt_tokens", (json_int_t) self->prompt_tokens,
                      "completion_tokens", (json_int_t) self->tokens,
                      "total_tokens", (json_int_t) self->prompt_tokens + self->tokens);
}

/*  The fields every completion and chunk starts with.  */
static json_t *
s_envelope (const mockllm_chat_t *self, const char *object)
{
    return json_pack ("{s:s, s:s, s:I, s:s%}",
                      "id", self->id, "object", object, "created", self->created,
                      "model", self->model, self->model_len);
}

char *
mockllm_chat_completion (const mockllm_chat_t *self)
{
    json_t *doc = s_envelope (self, "chat.completion");
    json_t *choices = json_pack ("[{s:i, s:{s:s, s:s%}, s:n, s:s}]",
        "index", 0,
        "message", "role", "assistant", "content", self->text, self->text_len,
        "logprobs", "finish_reason", self->finish_reason);
    char *text = NULL;
    if (doc && choices
    &&  json_object_set_new (doc, "choices", choices) == 0
    &&  json_object_set_new (doc, "usage", s_usage (self)) == 0
    &&  json_object_set_new (doc, "system_fingerprint", json_string ("fp_llmq_mock")) == 0)
        text = json_dumps (doc, JSON_COMPACT);
    else
    if (!doc)
        json_decref (choices);
    json_decref (doc);
    return text;
}

/*  Appends `data: <doc>\n\n` and releases doc. -1 when out of memory.  */
static int
s_append_event (strbuf_t *buf, json_t *doc)
{
    char *json = doc ? json_dumps (doc, JSON_COMPACT) : NULL;
    json_decref (doc);
    if (!json)
        return -1;
    size_t len = strlen (json), need = buf->len + len + 9;
    if (need > buf->alloc) {
        char *data = (char *) realloc (buf->data, need * 2);
        if (!data) {
            free (json);
            return -1;
        }
        buf->data = data;
        buf->alloc = need * 2;
    }
    buf->len += (size_t) sprintf (buf->data + buf->len, "data: %s\n\n", json);
    free (json);
    return 0;
}

/*  One chunk: delta (stolen), finish_reason or NULL, usage or NULL.  */
static json_t *
s_chunk (const mockllm_chat_t *self, json_t *delta, const char *finish)
{
    json_t *doc = s_envelope (self, "chat.completion.chunk");
    json_t *choices = json_pack ("[{s:i, s:o, s:n, s:o}]", "index", 0, "delta", delta,
                                 "logprobs", "finish_reason",
                                 finish ? json_string (finish) : json_null ());
    if (!doc || !choices || json_object_set_new (doc, "choices", choices)) {
        json_decref (doc);
        return NULL;
    }
    return doc;
}

/*  finish_reason chunk, usage chunk if asked, [DONE].  */
static int
s_append_end (const mockllm_chat_t *self, strbuf_t *buf)
{
    if (s_append_event (buf, s_chunk (self, json_object (), self->finish_reason)))
        return -1;
    if (self->include_usage) {
        json_t *doc = s_envelope (self, "chat.completion.chunk");
        if (doc && (json_object_set_new (doc, "choices", json_array ())
                 || json_object_set_new (doc, "usage", s_usage (self)))) {
            json_decref (doc);
            doc = NULL;
        }
        if (s_append_event (buf, doc))
            return -1;
    }
    const char done [] = "data: [DONE]\n\n";
    char *data = (char *) realloc (buf->data, buf->len + sizeof done);
    if (!data)
        return -1;
    memcpy (data + buf->len, done, sizeof done);
    buf->data = data;
    buf->len += sizeof done - 1;
    return 0;
}

char *
mockllm_chat_events (const mockllm_chat_t *self, uint32_t index, size_t *cursor)
{
    if (index >= self->tokens || *cursor > self->text_len)
        return NULL;
    size_t start = *cursor, end = start + (index > 0 ? 1 : 0);
    while (end < self->text_len && self->text [end] != ' ')
        end++;
    *cursor = end;
    json_t *delta = index == 0
        ? json_pack ("{s:s, s:s%}", "role", "assistant", "content", self->text + start, end - start)
        : json_pack ("{s:s%}", "content", self->text + start, end - start);
    strbuf_t buf = { NULL, 0, 0 };
    if (s_append_event (&buf, delta ? s_chunk (self, delta, NULL) : NULL)
    ||  (index + 1 == self->tokens && s_append_end (self, &buf))) {
        free (buf.data);
        return NULL;
    }
    return buf.data;
}

char *
mockllm_error_json (const char *message, const char *type, const char *param,
                    const char *code)
{
    json_t *doc = json_pack ("{s:{s:s, s:s, s:o, s:o}}", "error",
                             "message", message, "type", type,
                             "param", param ? json_string (param) : json_null (),
                             "code", code ? json_string (code) : json_null ());
    char *text = doc ? json_dumps (doc, JSON_COMPACT) : NULL;
    json_decref (doc);
    return text;
}
