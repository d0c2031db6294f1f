/*  llmq_response.c -- answers as the caller sees them (llmq_response_t),
    and the names and sentences of every llmq_result_t.

    A response is built from a FINAL, an ERROR, or a failure decided in the
    library (a local timeout, a cancel). Local failures are encoded as the
    ERROR frame the broker would have sent, so every response has a frame
    and llmq_response_json means the same thing for all of them.

    Cost: a response is ONE allocation holding the struct, a copy of the
    frame and every string, NUL-terminated; freeing it is one free. The
    JSON form is built only when llmq_response_json is first called,
    because most callers (a benchmark, a service) never ask for it.
*/
#include "llmq_private.h"

#include <stdlib.h>
#include <string.h>

struct llmq_response {
    llmq_result_t result;           //  LLMQ_OK or the failure
    const char *id;                 //  Request id; "" when unknown
    const char *text;               //  The answer; "" for errors
    const char *model;              //  Model that answered
    const char *finish_reason;      //  "stop", "length", ...
    const char *worker;             //  Worker that served it
    const char *message;            //  Error message; "" for answers
    uint32_t retry_after_ms;        //  0 = none
    uint32_t upstream_status;       //  0 = none
    uint32_t prompt_tokens;         //  Usage, as the backend counted
    uint32_t completion_tokens;     //  Usage, as the backend counted
    uint32_t attempts;              //  Dispatches it took
    bool cached;                    //  Answered from the broker's cache
    llmq_timings_t timings;         //  Broker/worker timings in us
    const void *frame;              //  Copy of the FINAL/ERROR frame
    size_t frame_size;              //  Its size in bytes
    char *json;                     //  Frame as JSON, built on demand
};

//  Lays out a response and its strings in one block. The cursor walks
//  the bytes after the struct; s_put copies a slice there.
typedef struct {
    char *cursor;                   //  Next free byte in the block
} s_block_t;

static const char *
s_put (s_block_t *block, llmq_str_t s)
{
    char *start = block->cursor;
    if (s.len)
        memcpy (start, s.ptr, s.len);
    start [s.len] = 0;
    block->cursor += s.len + 1;
    return start;
}

//  Allocates a zeroed response with room for the frame and strings of
//  the given total length (each string gets one more byte for its NUL).
static llmq_response_t *
s_alloc (const void *frame, size_t size, size_t strings, s_block_t *block)
{
    //  Only the struct is zeroed: the frame and strings after it are all
    //  written, and a FINAL is ~1 KiB a calloc would clear for nothing.
    llmq_response_t *self = malloc (sizeof *self + size + strings);
    if (!self)
        return NULL;
    memset (self, 0, sizeof *self);
    block->cursor = (char *) (self + 1);
    if (size)
        memcpy (block->cursor, frame, size);
    self->frame = block->cursor;
    self->frame_size = size;
    block->cursor += size;
    return self;
}

llmq_result_t
llmqc_result_from_code (uint32_t code)
{
    if (code >= LLMQ_ERR_BAD_REQUEST && code <= LLMQ_ERR_WORKER_LOST)
        return (llmq_result_t) code;    //  1:1 by design of llmq_result_t
    return LLMQ_E_PROTOCOL;
}

llmq_response_t *
llmqc_response_from_final (const llmq_final_t *final, const void *frame, size_t size,
                           const char *streamed, size_t streamed_len)
{
    llmq_str_t text = final->text;
    if (text.len == 0 && streamed_len > 0)
        text = (llmq_str_t) { streamed, (uint32_t) streamed_len };
    size_t strings = final->id.len + text.len + final->model.len
                   + final->finish_reason.len + final->worker.len + 6;
    s_block_t block;
    llmq_response_t *self = s_alloc (frame, size, strings, &block);
    if (!self)
        return NULL;
    self->result = LLMQ_OK;
    self->id = s_put (&block, final->id);
    self->text = s_put (&block, text);
    self->model = s_put (&block, final->model);
    self->finish_reason = s_put (&block, final->finish_reason);
    self->worker = s_put (&block, final->worker);
    self->message = s_put (&block, (llmq_str_t) { NULL, 0 });
    self->prompt_tokens = final->usage.prompt_tokens;
    self->completion_tokens = final->usage.completion_tokens;
    self->cached = final->cached;
    self->attempts = final->attempts;
    self->timings = final->timings;
    return self;
}

llmq_response_t *
llmqc_response_from_error (const llmq_error_t *error, const void *frame, size_t size)
{
    llmq_result_t result = llmqc_result_from_code (error->code);
    llmq_str_t message = error->message;
    if (message.len == 0)
        message = llmq_str (llmq_strerror (result));
    size_t strings = error->id.len + message.len + 5;
    s_block_t block;
    llmq_response_t *self = s_alloc (frame, size, strings, &block);
    if (!self)
        return NULL;
    llmq_str_t none = { NULL, 0 };
    self->result = result;
    self->id = s_put (&block, error->id);
    self->message = s_put (&block, message);
    //  One empty string serves text, model, finish_reason and worker.
    self->text = self->model = self->finish_reason = self->worker = s_put (&block, none);
    self->retry_after_ms = error->has_retry_after_ms? error->retry_after_ms: 0;
    self->upstream_status = error->has_upstream_status? error->upstream_status: 0;
    return self;
}

llmq_response_t *
llmqc_response_local (llmq_result_t rc, const char *id, const char *message)
{
    llmq_error_t error;
    memset (&error, 0, sizeof error);
    error.id = llmq_str (id);
    error.code = (uint32_t) rc;
    error.message = llmq_str (message? message: llmq_strerror (rc));
    llmq_buf_t buf;
    llmq_buf_init (&buf);
    //  The encoder may refuse a code the wire does not have (ours >= 100);
    //  the response then has no frame and its JSON is "{}".
    bool encoded = llmq_encode_error (&buf, &error) == 0;
    llmq_response_t *self = llmqc_response_from_error (
        &error, encoded? buf.data: NULL, encoded? buf.size: 0);
    if (self)
        self->result = rc;
    llmq_buf_free (&buf);
    return self;
}

void
llmq_response_destroy (llmq_response_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->json);
    free (*self_p);
    *self_p = NULL;
}

llmq_result_t
llmq_response_result (const llmq_response_t *self)
{
    return self? self->result: LLMQ_E_INVALID;
}

const char *
llmq_response_error_message (const llmq_response_t *self)
{
    return self? self->message: NULL;
}

uint32_t
llmq_response_retry_after_ms (const llmq_response_t *self)
{
    return self? self->retry_after_ms: 0;
}

uint32_t
llmq_response_upstream_status (const llmq_response_t *self)
{
    return self? self->upstream_status: 0;
}

const char *
llmq_response_id (const llmq_response_t *self)
{
    return self? self->id: NULL;
}

const char *
llmq_response_text (const llmq_response_t *self)
{
    return self? self->text: NULL;
}

const char *
llmq_response_model (const llmq_response_t *self)
{
    return self? self->model: NULL;
}

const char *
llmq_response_finish_reason (const llmq_response_t *self)
{
    return self? self->finish_reason: NULL;
}

const char *
llmq_response_worker (const llmq_response_t *self)
{
    return self? self->worker: NULL;
}

uint32_t
llmq_response_prompt_tokens (const llmq_response_t *self)
{
    return self? self->prompt_tokens: 0;
}

uint32_t
llmq_response_completion_tokens (const llmq_response_t *self)
{
    return self? self->completion_tokens: 0;
}

bool
llmq_response_cached (const llmq_response_t *self)
{
    return self? self->cached: false;
}

uint32_t
llmq_response_attempts (const llmq_response_t *self)
{
    return self? self->attempts: 0;
}

uint64_t
llmq_response_queued_us (const llmq_response_t *self)
{
    return self? self->timings.queued_us: 0;
}

uint64_t
llmq_response_ttft_us (const llmq_response_t *self)
{
    return self? self->timings.ttft_us: 0;
}

uint64_t
llmq_response_backend_us (const llmq_response_t *self)
{
    return self? self->timings.backend_us: 0;
}

uint64_t
llmq_response_total_us (const llmq_response_t *self)
{
    return self? self->timings.total_us: 0;
}

uint64_t
llmq_response_broker_us (const llmq_response_t *self)
{
    return self? self->timings.broker_us: 0;
}

const char *
llmq_response_json (const llmq_response_t *self)
{
    if (!self)
        return NULL;
    if (!self->json) {
        //  Built on first use and cached in the object: the const is the
        //  caller's view (the answer does not change), and a response is
        //  used by one thread at a time like everything in llmq.h.
        llmq_response_t *cache = (llmq_response_t *) self;
        llmq_decoder_t *decoder = llmq_decoder_new ();
        llmq_buf_t out;
        llmq_buf_init (&out);
        if (decoder
        &&  llmq_frame_to_json (decoder, self->frame, self->frame_size, &out) == LLMQ_DECODE_OK
        &&  out.data)
            cache->json = out.data;     //  take the buffer, NUL-terminated
        else
            llmq_buf_free (&out);
        llmq_decoder_destroy (&decoder);
    }
    //  Only out of memory leaves no JSON; an empty object still parses.
    return self->json? self->json: "{}";
}

/* ---- results ---------------------------------------------------------- */

typedef struct {
    llmq_result_t rc;               //  The result
    const char *name;               //  Its short name (1..14: the wire's)
    const char *text;               //  Its sentence
} s_result_info_t;

static const s_result_info_t s_results [] = {
    { LLMQ_OK,              "ok",            "success" },
    { LLMQ_E_BAD_REQUEST,   NULL,            "the broker rejected the request as malformed" },
    { LLMQ_E_UNSUPPORTED,   NULL,            "the broker does not support this protocol version or command" },
    { LLMQ_E_TOO_LARGE,     NULL,            "the request is over a size or count limit" },
    { LLMQ_E_NO_WORKER,     NULL,            "no worker serves this model" },
    { LLMQ_E_OVERLOADED,    NULL,            "the broker is overloaded; retry later" },
    { LLMQ_E_RATE_LIMITED,  NULL,            "rate limited; retry later" },
    { LLMQ_E_TIMEOUT,       NULL,            "no answer before the deadline" },
    { LLMQ_E_CANCELLED,     NULL,            "the request was cancelled" },
    { LLMQ_E_BACKEND,       NULL,            "the LLM backend failed" },
    { LLMQ_E_SHUTTING_DOWN, NULL,            "the broker or worker is shutting down; retry" },
    { LLMQ_E_INTERNAL,      NULL,            "internal error in llmq" },
    { LLMQ_E_FORBIDDEN,     NULL,            "the tenant may not use this" },
    { LLMQ_E_NOT_CACHED,    NULL,            "no cached answer (only-if-cached)" },
    { LLMQ_E_WORKER_LOST,   NULL,            "the worker was lost and no attempts are left" },
    { LLMQ_E_INVALID,       "invalid",       "invalid argument" },
    { LLMQ_E_NOMEM,         "nomem",         "out of memory" },
    { LLMQ_E_CONNECT,       "connect",       "cannot create or connect the socket" },
    { LLMQ_E_PROTOCOL,      "protocol",      "the broker sent something this library cannot read" },
    { LLMQ_E_UNKNOWN_ID,    "unknown_id",    "no pending request has this id" },
};

static const s_result_info_t *
s_result_info (llmq_result_t rc)
{
    for (size_t i = 0; i < sizeof s_results / sizeof s_results [0]; i++)
        if (s_results [i].rc == rc)
            return &s_results [i];
    return NULL;
}

const char *
llmq_strerror (llmq_result_t rc)
{
    const s_result_info_t *info = s_result_info (rc);
    return info? info->text: "unknown error";
}

const char *
llmq_result_name (llmq_result_t rc)
{
    const s_result_info_t *info = s_result_info (rc);
    if (!info)
        return "unknown";
    //  Protocol errors use the codec's names, so the CLI, the broker's
    //  stats and the wire all call an error the same.
    return info->name? info->name: llmq_errcode_name ((uint32_t) rc);
}
