/*  mockllm_sched.h -- wakes suspended HTTP connections of llmq-mockllm.

    llmq-mockllm serves requests from a small libmicrohttpd thread pool, so a
    delay (time to first token, time per output token) or a hang must never
    block a thread. Instead the connection is suspended and handed to this
    scheduler: one thread, one min-heap of wake-up times. At its time the
    connection is resumed and libmicrohttpd calls our handler again.

    A hang has no wake-up time: it waits until the client goes away. A
    suspended connection is invisible to libmicrohttpd, so the scheduler
    itself polls its socket for a peer shutdown every MOCKLLM_SCHED_HANG_MS
    and resumes it with *gone set once the client has closed.

    Shutdown: libmicrohttpd must not be stopped while connections are
    suspended, so mockllm_sched_stop resumes every waiting connection and
    refuses new ones; handlers then see mockllm_sched_wait fail and close.

    Thread-safety: every function may be called from any thread.
*/
#ifndef MOCKLLM_SCHED_H_INCLUDED
#define MOCKLLM_SCHED_H_INCLUDED

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct MHD_Connection;

/*  How often a hung connection's socket is checked for the client leaving. */
#define MOCKLLM_SCHED_HANG_MS 50

typedef struct mockllm_sched mockllm_sched_t;

/*  Starts the scheduler thread; NULL if the thread cannot start.         */
mockllm_sched_t *mockllm_sched_new (void);

/*  Stops (if still running) and frees.                                    */
void mockllm_sched_destroy (mockllm_sched_t **self_p);

/*  Suspends conn and resumes it at due_us (llmq_now_us clock). Call only
    from a libmicrohttpd access handler or content reader of conn. Returns
    -1 without suspending when stopping or out of memory: the caller must
    then answer or close instead of waiting.                               */
int mockllm_sched_wait (mockllm_sched_t *self, struct MHD_Connection *conn,
                        uint64_t due_us);

/*  Suspends conn until the client closes the connection (socket fd), then
    sets *gone and resumes it. Also resumed, with *gone unset, by
    mockllm_sched_stop. Same rules as mockllm_sched_wait.                  */
int mockllm_sched_hang (mockllm_sched_t *self, struct MHD_Connection *conn,
                        int fd, atomic_bool *gone);

/*  Resumes every waiting connection, refuses new waits and joins the
    thread. Idempotent.                                                    */
void mockllm_sched_stop (mockllm_sched_t *self);

/*  Connections waiting right now (for /stats).                           */
uint32_t mockllm_sched_waiting (mockllm_sched_t *self);

#endif
