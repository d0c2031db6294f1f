/*  backend.h -- what the worker loop needs from an LLM backend.

    A backend runs chat calls without threads, inside the worker's single
    zmq_poll loop. Each loop turn the worker asks every backend for

      - the file descriptors it waits on (llmq_backend_fds), which go into
        the same zmq_poll as the broker socket, and
      - how long it may sleep (llmq_backend_timeout_ms),

    and after the poll hands the polled items back (llmq_backend_run), which
    also fires the backend's due timers. Results come back through the sink
    given at creation: any number of partial() calls (streamed text), then
    exactly one done() per started call, unless the call is cancelled.

    The worker owns each llmq_call_t (it lives in a slot) for the whole run
    of the call; the backend keeps its per-call state in call->backend_data.
    The request a call starts from is only valid inside llmq_backend_start:
    a backend copies what it needs there.

    Two backends: openai (libcurl multi over HTTP, backend_openai.c) and
    mock (in-process, timers only, backend_mock.c).
*/
#ifndef LLMQ_BACKEND_H_INCLUDED
#define LLMQ_BACKEND_H_INCLUDED

#include "llmq_proto.h"

#include <zmq.h>

/*  One chat call, owned by the worker.                                    */
typedef struct {
    uint64_t rid;                   /* broker's dispatch handle            */
    const llmq_wire_request_t *req;      /* valid inside llmq_backend_start only*/
    const char *upstream_model;     /* the model name the backend is sent  */
    uint64_t start_us;              /* when the call started (llmq_now_us) */
    uint64_t deadline_us;           /* absolute; past it the call fails
                                       with LLMQ_ERR_TIMEOUT               */
    void *backend_data;             /* the backend's per-call state        */
} llmq_call_t;

/*  How a call ended; valid only during the done() callback.               */
typedef struct {
    uint32_t code;                  /* LLMQ_ERR_NONE on success            */
    /*  Success.                                                           */
    const char *text;               /* the whole answer                    */
    size_t text_len;
    const char *finish_reason;      /* "stop", "length", ...; never NULL   */
    llmq_usage_t usage;
    uint64_t ttft_us;               /* start -> first token                */
    uint64_t backend_us;            /* start -> end                        */
    /*  Failure.                                                           */
    const char *message;            /* human-readable; never NULL          */
    uint32_t upstream_status;       /* HTTP status, 0 when none            */
    bool has_retry_after_ms;
    uint32_t retry_after_ms;
} llmq_outcome_t;

typedef struct {
    void *arg;                      /* first argument of both callbacks    */
    /*  A piece of streamed answer (only for calls whose request asked for
        a stream). text is not NUL-terminated.                             */
    void (*partial) (void *arg, llmq_call_t *call, const char *text, size_t len);
    /*  The call ended. The backend has forgotten the call when this is
        called; the worker may free or reuse it.                           */
    void (*done) (void *arg, llmq_call_t *call, const llmq_outcome_t *outcome);
} llmq_backend_sink_t;

typedef struct llmq_backend llmq_backend_t;

/*  The operations every backend implements; see the wrappers below.       */
typedef struct {
    const char *name;
    void (*start) (llmq_backend_t *self, llmq_call_t *call);
    void (*cancel) (llmq_backend_t *self, llmq_call_t *call);
    long (*timeout_ms) (llmq_backend_t *self);
    size_t (*fds) (llmq_backend_t *self, zmq_pollitem_t *items, size_t max);
    void (*run) (llmq_backend_t *self, const zmq_pollitem_t *items, size_t n);
    void (*destroy) (llmq_backend_t *self);
} llmq_backend_ops_t;

/*  Every backend struct starts with this header.                          */
struct llmq_backend {
    const llmq_backend_ops_t *ops;  /* the implementation                  */
    llmq_backend_sink_t sink;       /* where results go                    */
};

/*  Starts a call. Never fails from the caller's view: a call that cannot
    start is reported through done() -- possibly before this returns (the
    mock backend with no delays answers at once), so the caller must have
    the call fully set up before and must not touch it after.             */
void llmq_backend_start (llmq_backend_t *self, llmq_call_t *call);
/*  Stops a running call and forgets it; done() is NOT called.             */
void llmq_backend_cancel (llmq_backend_t *self, llmq_call_t *call);
/*  Milliseconds until llmq_backend_run must be called even if no fd is
    ready; -1 when no timer is pending.                                    */
long llmq_backend_timeout_ms (llmq_backend_t *self);
/*  Writes up to max poll items for the backend's fds and returns how many
    it has in all (more than max: call again with a bigger array).        */
size_t llmq_backend_fds (llmq_backend_t *self, zmq_pollitem_t *items, size_t max);
/*  Acts on the items written by llmq_backend_fds (revents filled by
    zmq_poll) and on due timers. Callbacks fire from here.                 */
void llmq_backend_run (llmq_backend_t *self, const zmq_pollitem_t *items, size_t n);
const char *llmq_backend_name (const llmq_backend_t *self);
/*  Running calls are cancelled (no done()).                               */
void llmq_backend_destroy (llmq_backend_t **self_p);

/*  ---------------------------------------------------------------------- */

typedef struct {
    const char *url;                /* base, e.g. http://127.0.0.1:8000/v1 */
    const char *api_key;            /* NULL or "" = no Authorization       */
    uint32_t max_connections;       /* to the backend host (= slots)       */
    bool verbose;                   /* log each transfer                   */
} llmq_openai_config_t;

/*  libcurl must have been initialised (curl_global_init) by the program.
    NULL on failure (no memory, bad URL).                                  */
llmq_backend_t *llmq_openai_backend_new (const llmq_openai_config_t *config,
                                         const llmq_backend_sink_t *sink);

typedef struct {
    uint32_t ttft_ms;               /* delay before the first token        */
    uint32_t tpot_ms;               /* delay between tokens                */
    uint32_t tokens;                /* answer length unless max_tokens caps*/
} llmq_mock_config_t;

llmq_backend_t *llmq_mock_backend_new (const llmq_mock_config_t *config,
                                       const llmq_backend_sink_t *sink);

#endif
