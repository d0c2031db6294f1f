/*  openai.c -- OpenAI chat-completions replies, read with jansson; see
    openai.h. The request body is written by openai_body.c.

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
