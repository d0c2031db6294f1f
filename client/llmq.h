/*  llmq.h -- libllmq, the C client of the llmq broker.

    A service links libllmq to send chat requests to an llmq broker and get
    answers back, whole or streamed, blocking or from its own event loop.

        llmq_client_t *client = llmq_client_new ("tcp://127.0.0.1:5555");
        llmq_request_t *req = llmq_request_new ("gpt-4o-mini");
        llmq_request_add_message (req, "user", "Hello");
        llmq_response_t *resp = NULL;
        llmq_result_t rc = llmq_chat (client, req, 30000, &resp);
        if (rc == LLMQ_OK)
            printf ("%s\n", llmq_response_text (resp));
        else
            fprintf (stderr, "llmq: %s\n", llmq_strerror (rc));
        llmq_response_destroy (&resp);
        llmq_request_destroy (&req);
        llmq_client_destroy (&client);

    Thread safety: an llmq_client_t (and everything reached through it) is
    used by one thread at a time, like a ZeroMQ socket. Use one client per
    thread; clients are cheap. Requests and responses are plain objects that
    may be passed between threads. llmq_strerror is thread-safe.

    Reliability: every request has a request id (generated unless set).
    When no answer arrives within the resend interval, the same request id
    is sent again (up to a bounded number of times); the broker treats a
    resend of a request it holds as the same request, never a second one.
*/
#ifndef LLMQ_H_INCLUDED
#define LLMQ_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  libllmq.so is built with -fvisibility=hidden: only what this header
    declares is exported, so the codec and helpers linked into it stay
    private and cannot clash with the application's own symbols.          */
#if defined (__GNUC__) || defined (__clang__)
#   define LLMQ_EXPORT __attribute__ ((visibility ("default")))
#else
#   define LLMQ_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define LLMQ_CLIENT_VERSION "0.1.0"

/*  Results. Values 1..99 mirror the protocol's error codes (PROTOCOL.md,
    "Error codes") so a broker ERROR maps to the same number; the
    library's own conditions start at 100.                               */
typedef enum {
    LLMQ_OK                 = 0,
    LLMQ_E_BAD_REQUEST      = 1,
    LLMQ_E_UNSUPPORTED      = 2,
    LLMQ_E_TOO_LARGE        = 3,
    LLMQ_E_NO_WORKER        = 4,
    LLMQ_E_OVERLOADED       = 5,
    LLMQ_E_RATE_LIMITED     = 6,
    LLMQ_E_TIMEOUT          = 7,    /* broker or local deadline passed    */
    LLMQ_E_CANCELLED        = 8,
    LLMQ_E_BACKEND          = 9,
    LLMQ_E_SHUTTING_DOWN    = 10,
    LLMQ_E_INTERNAL         = 11,
    LLMQ_E_FORBIDDEN        = 12,
    LLMQ_E_NOT_CACHED       = 13,
    LLMQ_E_WORKER_LOST      = 14,
    LLMQ_E_INVALID          = 100,  /* bad argument to a library call     */
    LLMQ_E_NOMEM            = 101,
    LLMQ_E_CONNECT          = 102,  /* could not create/connect socket    */
    LLMQ_E_PROTOCOL         = 103,  /* broker sent something we can't read*/
    LLMQ_E_UNKNOWN_ID       = 104   /* no pending request with that id    */
} llmq_result_t;

/*  A static English sentence for any result; never NULL.                */
LLMQ_EXPORT const char *llmq_strerror (llmq_result_t rc);
/*  A short stable name for a result: "ok", the protocol's error name for
    1..14 ("timeout", "no_worker", ...), "invalid", "nomem", "connect",
    "protocol", "unknown_id"; "unknown" otherwise. Never NULL.            */
LLMQ_EXPORT const char *llmq_result_name (llmq_result_t rc);

typedef struct llmq_client llmq_client_t;
typedef struct llmq_request llmq_request_t;
typedef struct llmq_response llmq_response_t;

/* ---- client ---------------------------------------------------------- */

/*  Connects (asynchronously, like any ZeroMQ connect) to a broker's client
    endpoint. NULL on failure (bad endpoint, no memory). Each client has
    its own ZeroMQ context and a random routing id kept across reconnects,
    so answers still find it after a broker restart.                      */
LLMQ_EXPORT llmq_client_t *llmq_client_new (const char *endpoint);
/*  Pending requests are abandoned (their callbacks are not called); the
    broker is sent a CANCEL for each, and the close waits at most 100 ms
    for those to leave.                                                   */
LLMQ_EXPORT void llmq_client_destroy (llmq_client_t **self_p);

/*  Tuning (defaults in brackets). Each returns LLMQ_OK or LLMQ_E_INVALID.
    resend_ms: silence after which a request is sent again [2000];
    max_resends: how many times [3]. 0 disables resending. "Silence" means
    no message at all about the request (a PARTIAL counts). Applies to
    requests submitted afterwards. A request with no answer by its
    deadline (llmq_request_set_timeout) plus 250 ms completes locally with
    LLMQ_E_TIMEOUT, and the broker is sent a CANCEL.                      */
LLMQ_EXPORT llmq_result_t llmq_client_set_resend (llmq_client_t *self, uint32_t resend_ms, uint32_t max_resends);

/* ---- request --------------------------------------------------------- */

LLMQ_EXPORT llmq_request_t *llmq_request_new (const char *model);
LLMQ_EXPORT void llmq_request_destroy (llmq_request_t **self_p);
/*  Copies the strings. role: "system", "user", "assistant", ...         */
LLMQ_EXPORT llmq_result_t llmq_request_add_message (llmq_request_t *self, const char *role, const char *content);
/*  Removes all messages, so one request object can be reused for many
    prompts (the other settings stay).                                    */
LLMQ_EXPORT void llmq_request_clear_messages (llmq_request_t *self);
/*  Sets the request id (copied, 1..128 bytes); otherwise one is generated
    when the request is first sent. Reusing a request object for a second
    call generates a fresh id unless set again.                           */
LLMQ_EXPORT llmq_result_t llmq_request_set_id (llmq_request_t *self, const char *id);
/*  The id in use (after the request was sent, or set); NULL before.      */
LLMQ_EXPORT const char *llmq_request_id (const llmq_request_t *self);
LLMQ_EXPORT void llmq_request_set_max_tokens (llmq_request_t *self, uint32_t max_tokens);
LLMQ_EXPORT void llmq_request_set_temperature (llmq_request_t *self, double temperature);
LLMQ_EXPORT void llmq_request_set_top_p (llmq_request_t *self, double top_p);
LLMQ_EXPORT void llmq_request_set_seed (llmq_request_t *self, int64_t seed);
LLMQ_EXPORT llmq_result_t llmq_request_add_stop (llmq_request_t *self, const char *stop);
/*  0 critical, 1 high, 2 normal (default), 3 low, 4 batch.               */
LLMQ_EXPORT llmq_result_t llmq_request_set_priority (llmq_request_t *self, uint32_t priority);
/*  The request's deadline, also sent to the broker [30000].              */
LLMQ_EXPORT void llmq_request_set_timeout (llmq_request_t *self, uint32_t timeout_ms);
/*  "default", "bypass", "refresh", "only-if-cached".                     */
LLMQ_EXPORT llmq_result_t llmq_request_set_cache (llmq_request_t *self, const char *policy);
LLMQ_EXPORT llmq_result_t llmq_request_set_tenant (llmq_request_t *self, const char *tenant);

/* ---- response -------------------------------------------------------- */

LLMQ_EXPORT void llmq_response_destroy (llmq_response_t **self_p);
/*  LLMQ_OK for an answer; otherwise the error and its message.           */
LLMQ_EXPORT llmq_result_t llmq_response_result (const llmq_response_t *self);
LLMQ_EXPORT const char *llmq_response_error_message (const llmq_response_t *self);
LLMQ_EXPORT uint32_t llmq_response_retry_after_ms (const llmq_response_t *self);    /* 0 = none */
LLMQ_EXPORT uint32_t llmq_response_upstream_status (const llmq_response_t *self);   /* 0 = none */
LLMQ_EXPORT const char *llmq_response_id (const llmq_response_t *self);
LLMQ_EXPORT const char *llmq_response_text (const llmq_response_t *self);
LLMQ_EXPORT const char *llmq_response_model (const llmq_response_t *self);
LLMQ_EXPORT const char *llmq_response_finish_reason (const llmq_response_t *self);
LLMQ_EXPORT const char *llmq_response_worker (const llmq_response_t *self);
LLMQ_EXPORT uint32_t llmq_response_prompt_tokens (const llmq_response_t *self);
LLMQ_EXPORT uint32_t llmq_response_completion_tokens (const llmq_response_t *self);
LLMQ_EXPORT bool llmq_response_cached (const llmq_response_t *self);
LLMQ_EXPORT uint32_t llmq_response_attempts (const llmq_response_t *self);
/*  Timings in microseconds, as the broker reported them.                 */
LLMQ_EXPORT uint64_t llmq_response_queued_us (const llmq_response_t *self);
LLMQ_EXPORT uint64_t llmq_response_ttft_us (const llmq_response_t *self);
LLMQ_EXPORT uint64_t llmq_response_backend_us (const llmq_response_t *self);
LLMQ_EXPORT uint64_t llmq_response_total_us (const llmq_response_t *self);
LLMQ_EXPORT uint64_t llmq_response_broker_us (const llmq_response_t *self);
/*  The FINAL (or ERROR) as one line of JSON (owned by the response).     */
LLMQ_EXPORT const char *llmq_response_json (const llmq_response_t *self);

/* ---- blocking calls -------------------------------------------------- */

/*  Sends req and waits up to timeout_ms (0 = the request's own timeout).
    On LLMQ_OK or a broker error, *resp_p receives a response the caller
    destroys (for a broker error it carries the message); for local
    failures (timeout with no answer, bad argument) *resp_p may be NULL.
    The return value equals llmq_response_result when a response exists. */
LLMQ_EXPORT llmq_result_t llmq_chat (llmq_client_t *self, llmq_request_t *req,
                         uint32_t timeout_ms, llmq_response_t **resp_p);

/*  Called for each streamed chunk, in order, once each (chunks repeated
    after a resend are dropped). text is NOT NUL-terminated: use len.
    Return 0 to go on, non-zero to cancel the request (the call then
    returns LLMQ_E_CANCELLED, and a CANCEL goes to the broker).           */
typedef int (llmq_chunk_fn) (void *user, const char *text, size_t len);

/*  Like llmq_chat but asks for a stream and calls on_chunk per PARTIAL.
    The response's text is the whole answer (the chunks joined if the
    FINAL carries none).

    Both blocking calls are llmq_submit plus llmq_process: other requests
    pending on the same client progress (and get their callbacks) while
    they wait. They keep waiting through signals (EINTR); a program that
    must react to a signal mid-call uses llmq_submit + llmq_process.
    When timeout_ms passes first, the request is cancelled at the broker,
    LLMQ_E_TIMEOUT is returned and *resp_p is NULL.                       */
LLMQ_EXPORT llmq_result_t llmq_chat_stream (llmq_client_t *self, llmq_request_t *req,
                                uint32_t timeout_ms, llmq_chunk_fn *on_chunk,
                                void *user, llmq_response_t **resp_p);

/* ---- asynchronous calls --------------------------------------------- */

/*  Called once per submitted request with its outcome; takes ownership of
    resp (destroy it). Never called from inside llmq_submit or llmq_cancel,
    only from llmq_process (and the blocking calls). It may call
    llmq_submit and llmq_cancel (a closed loop submits the next request
    from here), not llmq_process or the blocking calls. resp is NULL only
    when the library ran out of memory building it.                       */
typedef void (llmq_done_fn) (void *user, llmq_response_t *resp);

/*  Sends req (copied: the request object may be destroyed or reused at
    once). on_chunk may be NULL; when given, the request is streamed.
    user is passed to both callbacks; on_done may be NULL (the outcome is
    then dropped). The id used is written to id_out (at least 129 bytes)
    when not NULL: the id set with llmq_request_set_id, else a fresh
    random one (req is const here, so a set id stays set; the blocking
    calls clear it). LLMQ_E_INVALID for a request that fails validation
    (no model or messages, temperature/top_p out of range) or whose id is
    already pending on this client; LLMQ_E_TOO_LARGE over the protocol's
    limits. A broker that is down is not an error here: the request waits
    in the queue and is resent.                                            */
LLMQ_EXPORT llmq_result_t llmq_submit (llmq_client_t *self, const llmq_request_t *req,
                           llmq_chunk_fn *on_chunk, llmq_done_fn *on_done,
                           void *user, char *id_out);

/*  Cancels a pending request: a CANCEL goes to the broker and its on_done
    is called (at the next llmq_process) with LLMQ_E_CANCELLED.           */
LLMQ_EXPORT llmq_result_t llmq_cancel (llmq_client_t *self, const char *id);

/*  A file descriptor that becomes readable when llmq_process has work
    (ZeroMQ's ZMQ_FD semantics: edge-like; always call llmq_process until
    it returns 0 after a wake-up). -1 on error.                            */
LLMQ_EXPORT int llmq_client_fd (llmq_client_t *self);

/*  Handles whatever arrived, fires callbacks, resends and expires
    requests. Waits up to timeout_ms for something to arrive (0 = do not
    wait, -1 = until at least one request completes).
    Returns the number of requests completed, or -1 on error.

    Precisely: it returns as soon as at least one request completed (its
    on_done was called), when timeout_ms passed, or at once when nothing
    is pending. -1 with errno EINTR when a signal interrupted the wait
    (call it again), other errno values when the socket failed.          */
LLMQ_EXPORT int llmq_process (llmq_client_t *self, int timeout_ms);

/*  Number of requests submitted and not yet completed.                   */
LLMQ_EXPORT size_t llmq_pending (const llmq_client_t *self);

/*  Milliseconds until the library next needs llmq_process for a timer
    (resend or deadline), -1 when nothing is pending.                      */
LLMQ_EXPORT int llmq_next_timeout_ms (const llmq_client_t *self);

#ifdef __cplusplus
}
#endif

#endif
