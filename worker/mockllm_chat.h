/*  mockllm_chat.h -- one OpenAI chat request to llmq-mockllm and its answer.

    This is the HTTP-free half of llmq-mockllm: it parses and validates a
    `POST /v1/chat/completions` body, computes the deterministic answer
    (worker/mocktext.h over the last user message) and renders the JSON an
    OpenAI server would send: the whole `chat.completion`, or the
    `chat.completion.chunk` events of a stream. Keeping it apart from the
    server lets the unit tests check the documents without a socket.

    Streaming tokens are the space-separated pieces of the answer: mocktext
    words never contain whitespace, so piece i is exactly llmq_mock_token(i)
    and the deltas always concatenate to the whole answer.
*/
#ifndef MOCKLLM_CHAT_H_INCLUDED
#define MOCKLLM_CHAT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  Largest request body accepted (413 above).                            */
#define MOCKLLM_MAX_BODY (16u << 20)

typedef struct mockllm_chat mockllm_chat_t;

/*  Why a body was refused: an OpenAI-style error.                         */
typedef struct {
    char message [160];             /* human-readable                      */
    const char *param;              /* offending field, or NULL            */
} mockllm_chat_error_t;

/*  Parses body and computes the answer: `answer_tokens` tokens, fewer when
    the request's max_tokens (or max_completion_tokens) is smaller, which
    makes finish_reason "length". `seq` makes the completion id unique.
    NULL with *err filled for a body that is not a valid chat request
    (an HTTP 400), or for out of memory (err->param NULL, message says so). */
mockllm_chat_t *mockllm_chat_new (const char *body, size_t size,
                                  uint32_t answer_tokens, uint64_t seq,
                                  mockllm_chat_error_t *err);
void mockllm_chat_destroy (mockllm_chat_t **self_p);

/*  The requested model (NUL-terminated, valid while self lives).         */
const char *mockllm_chat_model (const mockllm_chat_t *self);
/*  True when the request asked for "stream": true.                        */
bool mockllm_chat_stream (const mockllm_chat_t *self);
/*  The whole answer text and its token count.                             */
const char *mockllm_chat_text (const mockllm_chat_t *self);
uint32_t mockllm_chat_tokens (const mockllm_chat_t *self);
/*  Rendered documents: heap strings the caller frees (free()), NULL when
    out of memory.                                                          */
/*  The whole `chat.completion` JSON.                                       */
char *mockllm_chat_completion (const mockllm_chat_t *self);
/*  The SSE events for token `index` (`data: {...}\n\n`); the first carries
    the assistant role. After the last token the same string also holds
    the finish_reason chunk, the usage chunk (when stream_options.
    include_usage) and `data: [DONE]`. *cursor walks the answer text:
    start it at 0 and pass it back unchanged for the next index.           */
char *mockllm_chat_events (const mockllm_chat_t *self, uint32_t index,
                           size_t *cursor);

/*  An OpenAI-style error body {"error":{message,type,param,code}}; param
    and code may be NULL (JSON null). Heap string, NULL when out of memory. */
char *mockllm_error_json (const char *message, const char *type,
                          const char *param, const char *code);

#endif
