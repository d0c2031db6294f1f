/*  openai.c -- OpenAI chat-completions JSON, built and read with jansson;
    see openai.h.

    Reading is strict where a mistake would hand the client a wrong answer
    (no choices, content of the wrong type: "malformed") and lenient where
    nothing is lost (usage missing or odd: zeros; finish_reason missing).
*/
#include "openai.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Real numbers are printed with 15 significant digits, so a temperature
    of 0.7 goes out as 0.7 and not as 0.69999999999999996.                 */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION (15))

/*  A JSON string from a slice; NULL when it is not valid UTF-8.           */
static json_t *
s_string (llmq_str_t s)
{
    return json_stringn (s.ptr ? s.ptr : "", s.len);
}

/*  Sets key to value (taking it); -1 when value is NULL or no memory.     */
static int
s_set (json_t *obj, const char *key, json_t *value)
{
    return value ? json_object_set_new (obj, key, value) : -1;
}

static json_t *
s_message (const llmq_chat_msg_t *msg, char *err, size_t err_size)
{
    json_t *obj = json_object ();
    if (!obj)
        return NULL;
    const char *bad = NULL;
    if (s_set (obj, "role", s_string (msg->role)))
        bad = "role";
    else
    if (s_set (obj, "content", s_string (msg->content)))
        bad = "content";
    else
    if (msg->name.len && s_set (obj, "name", s_string (msg->name)))
        bad = "name";
    if (bad) {
        snprintf (err, err_size, "message %s is not valid UTF-8", bad);
        json_decref (obj);
        return NULL;
    }
    return obj;
}

static int
s_add_messages (json_t *root, const llmq_wire_request_t *req, char *err, size_t err_size)
{
    json_t *messages = json_array ();
    if (s_set (root, "messages", messages))
        return -1;
    for (uint32_t i = 0; i < req->n_messages; i++) {
        json_t *msg = s_message (&req->messages [i], err, err_size);
        if (!msg || json_array_append_new (messages, msg))
            return -1;
    }
    return 0;
}

/*  The generation parameters the client set, and nothing else: a backend
    uses its own defaults for the rest.                                    */
static int
s_add_params (json_t *root, const llmq_wire_request_t *req, char *err, size_t err_size)
{
    if (req->has_max_tokens
    &&  s_set (root, "max_tokens", json_integer (req->max_tokens)))
        return -1;
    if (req->has_temperature
    &&  s_set (root, "temperature", json_real (req->temperature)))
        return -1;
    if (req->has_top_p
    &&  s_set (root, "top_p", json_real (req->top_p)))
        return -1;
    if (req->has_seed
    &&  s_set (root, "seed", json_integer (req->seed)))
        return -1;
    if (req->n_stop > 0) {
        json_t *stop = json_array ();
        if (s_set (root, "stop", stop))
            return -1;
        for (uint32_t i = 0; i < req->n_stop && i < LLMQ_MAX_STOP; i++)
            if (json_array_append_new (stop, s_string (req->stop [i]))) {
                snprintf (err, err_size, "stop sequence is not valid UTF-8");
                return -1;
            }
    }
    return 0;
}

char *
llmq_openai_body (const llmq_wire_request_t *req, const char *model, char *err, size_t err_size)
{
    snprintf (err, err_size, "out of memory");
    char *body = NULL;
    json_t *root = json_object ();
    if (!root)
        return NULL;
    if (s_set (root, "model", json_string (model))) {
        snprintf (err, err_size, "model name is not valid UTF-8");
        goto done;
    }
    if (s_add_messages (root, req, err, err_size)
    ||  s_add_params (root, req, err, err_size)
    ||  s_set (root, "stream", json_boolean (req->stream)))
        goto done;
    if (req->stream
    &&  s_set (root, "stream_options", json_pack ("{s:b}", "include_usage", 1)))
        goto done;
    body = json_dumps (root, DUMP_FLAGS);
done:
    json_decref (root);
    return body;
}

/* ---------------------------------------------------------------------- */

void
llmq_openai_reply_clear (llmq_openai_reply_t *reply)
{
    json_decref (reply->root);
    memset (reply, 0, sizeof *reply);
}

/*  A count from usage; anything odd reads as 0 (usage is informative).    */
static uint32_t
s_count (json_t *usage, const char *key)
{
    json_int_t n = json_integer_value (json_object_get (usage, key));
    if (n < 0)
        return 0;
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t) n;
}

static void
s_read_usage (json_t *root, llmq_openai_reply_t *out)
{
    json_t *usage = json_object_get (root, "usage");
    if (!json_is_object (usage))
        return;
    out->has_usage = true;
    out->usage.prompt_tokens = s_count (usage, "prompt_tokens");
    out->usage.completion_tokens = s_count (usage, "completion_tokens");
}

/*  The message of an error value: {"message":..} or a bare string.        */
static const char *
s_error_text (json_t *error)
{
    if (json_is_string (error))
        return json_string_value (error);
    const char *message = json_string_value (json_object_get (error, "message"));
    return message ? message : "unknown error";
}

/*  Reads a content value into out->text. 0, or -1 for a wrong type.       */
static int
s_read_content (json_t *content, llmq_openai_reply_t *out)
{
    if (!content || json_is_null (content))
        return 0;
    if (!json_is_string (content))
        return -1;
    out->text = json_string_value (content);
    out->text_len = json_string_length (content);
    return 0;
}

/*  Parses body as a JSON object into out->root; handles an error document.
    1 = an error document (done), 0 = go on, -1 = not a JSON object.       */
static int
s_load (const char *body, size_t len, llmq_openai_reply_t *out)
{
    memset (out, 0, sizeof *out);
    out->root = json_loadb (body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object (out->root))
        return -1;
    json_t *error = json_object_get (out->root, "error");
    if (error && !json_is_null (error)) {
        out->error = s_error_text (error);
        return 1;
    }
    return 0;
}

static void
s_read_finish (json_t *choice, llmq_openai_reply_t *out)
{
    out->finish_reason = json_string_value (json_object_get (choice, "finish_reason"));
}

int
llmq_openai_parse_reply (const char *body, size_t len, llmq_openai_reply_t *out)
{
    int rc = s_load (body, len, out);
    if (rc)
        goto done;
    rc = -1;
    json_t *choice = json_array_get (json_object_get (out->root, "choices"), 0);
    json_t *message = json_object_get (choice, "message");
    if (!json_is_object (message))
        goto done;
    if (s_read_content (json_object_get (message, "content"), out))
        goto done;
    if (!out->text)
        out->text = "";
    s_read_finish (choice, out);
    s_read_usage (out->root, out);
    rc = 0;
done:
    if (rc < 0)
        llmq_openai_reply_clear (out);
    return rc < 0 ? -1 : 0;
}

int
llmq_openai_parse_chunk (const char *data, size_t len, llmq_openai_reply_t *out)
{
    int rc = s_load (data, len, out);
    if (rc)
        goto done;
    rc = -1;
    json_t *choices = json_object_get (out->root, "choices");
    if (choices && !json_is_null (choices) && !json_is_array (choices))
        goto done;
    json_t *choice = json_array_get (choices, 0);
    if (choice) {
        if (!json_is_object (choice))
            goto done;
        json_t *delta = json_object_get (choice, "delta");
        if (delta && !json_is_null (delta) && !json_is_object (delta))
            goto done;
        if (s_read_content (json_object_get (delta, "content"), out))
            goto done;
        s_read_finish (choice, out);
    }
    s_read_usage (out->root, out);
    rc = 0;
done:
    if (rc < 0)
        llmq_openai_reply_clear (out);
    return rc < 0 ? -1 : 0;
}

size_t
llmq_openai_error_message (const char *body, size_t len, char *out, size_t out_size)
{
    if (out_size == 0)
        return 0;
    out [0] = 0;
    json_t *root = json_loadb (body, len, 0, NULL);
    if (!json_is_object (root)) {
        json_decref (root);
        return 0;
    }
    const char *text = NULL;
    char *dumped = NULL;
    json_t *error = json_object_get (root, "error");
    json_t *detail = json_object_get (root, "detail");
    if (error && !json_is_null (error))
        text = s_error_text (error);
    else
    if (json_is_string (json_object_get (root, "message")))
        text = json_string_value (json_object_get (root, "message"));
    else
    if (json_is_string (detail))
        text = json_string_value (detail);
    else
    if (detail)                         /* FastAPI validation: a list */
        text = dumped = json_dumps (detail, JSON_COMPACT);
    size_t n = 0;
    if (text) {
        n = strlen (text);
        if (n >= out_size)
            n = out_size - 1;
        memcpy (out, text, n);
        out [n] = 0;
    }
    free (dumped);
    json_decref (root);
    return n;
}

bool
llmq_openai_retry_after (const char *value, time_t now, uint32_t *ms)
{
    while (isspace ((unsigned char) *value))
        value++;
    if (isdigit ((unsigned char) *value)) {
        char *end;
        unsigned long long seconds = strtoull (value, &end, 10);
        while (isspace ((unsigned char) *end))
            end++;
        if (*end)
            return false;
        *ms = seconds > UINT32_MAX / 1000 ? UINT32_MAX : (uint32_t) (seconds * 1000);
        return true;
    }
    time_t when = curl_getdate (value, NULL);
    if (when == -1)
        return false;
    long long delta = (long long) when - (long long) now;
    if (delta < 0)
        delta = 0;
    *ms = delta > UINT32_MAX / 1000 ? UINT32_MAX : (uint32_t) (delta * 1000);
    return true;
}
