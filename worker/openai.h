/*  openai.h -- the OpenAI chat-completions wire format, without HTTP.

    backend_openai.c moves bytes with libcurl; this module turns a request
    into the JSON body and the JSON that comes back into text, finish
    reason and usage. Keeping it free of I/O lets the unit tests feed it
    every shape of answer a real server sends, and every broken one.

    Formats (POST {url}/chat/completions):
      request   {"model", "messages":[{"role","content"[,"name"]}],
                 ["max_tokens"], ["temperature"], ["top_p"], ["stop":[...]],
                 ["seed"], "stream"[, "stream_options":{"include_usage":true}]}
      whole     {"choices":[{"message":{"content":"..."},"finish_reason":"stop"}],
                 "usage":{"prompt_tokens":n,"completion_tokens":n}}
      chunk     {"choices":[{"delta":{"content":"..."},"finish_reason":null}]}
                (the last chunk may have "choices":[] and "usage")
      error     {"error":{"message":"..."}}  (also {"error":"..."}, {"detail":"..."})
*/
#ifndef LLMQ_OPENAI_H_INCLUDED
#define LLMQ_OPENAI_H_INCLUDED

#include "llmq_proto.h"

#include <jansson.h>
#include <time.h>

/*  The JSON body for req, with model as the model name. A malloc'ed
    NUL-terminated string the caller frees; NULL when a string of the
    request is not valid UTF-8 (or no memory), with the reason in err.    */
char *llmq_openai_body (const llmq_wire_request_t *req, const char *model,
                        char *err, size_t err_size);

/*  What a whole answer or one stream chunk says. Strings point into root
    and live until llmq_openai_reply_clear.                                */
typedef struct {
    json_t *root;               /* the parsed document                     */
    const char *text;           /* message.content / delta.content, or NULL*/
    size_t text_len;
    const char *finish_reason;  /* NULL when absent or null                */
    bool has_usage;
    llmq_usage_t usage;
    const char *error;          /* the document is an error: its message   */
} llmq_openai_reply_t;

/*  Parses a whole (non-streamed) answer. 0, or -1 when it is not JSON or
    lacks choices[0].message. A null content (e.g. a refusal or tool call)
    reads as "". An error document parses (0) with error set.              */
int llmq_openai_parse_reply (const char *body, size_t len, llmq_openai_reply_t *out);

/*  Parses the data of one stream event. 0, or -1 when it is not a JSON
    object or a field has the wrong type. Chunks without choices (the
    usage chunk) or without content are fine.                              */
int llmq_openai_parse_chunk (const char *data, size_t len, llmq_openai_reply_t *out);

void llmq_openai_reply_clear (llmq_openai_reply_t *reply);

/*  The upstream's own words from an error body, as a NUL-terminated
    string in out (truncated); 0 when there are none. Understands
    {"error":{"message":..}}, {"error":".."}, {"message":".."} and
    {"detail":".."} (FastAPI servers).                                     */
size_t llmq_openai_error_message (const char *body, size_t len,
                                  char *out, size_t out_size);

/*  A Retry-After header value (delay-seconds or an HTTP-date, taken
    relative to now) in milliseconds. true when understood.                */
bool llmq_openai_retry_after (const char *value, time_t now, uint32_t *ms);

#endif
