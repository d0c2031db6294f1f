/*  worker.h -- llmq-worker: the broker session, the slots and the loop.

    A worker is one DEALER connected to the broker's worker endpoint plus
    one backend, driven by a single zmq_poll over the DEALER and the
    backend's fds. It

      - registers with READY {id, models, slots, version} and logs
        "registered id=.. broker=.. models=.. slots=.." when the broker
        first answers (the broker answers READY with a HEARTBEAT);
      - sends a HEARTBEAT with its health every heartbeat interval;
      - runs each DISPATCH in a free slot and answers PARTIAL* then FINAL,
        or ERROR, all carrying the dispatch's rid; CANCEL stops a call
        silently;
      - re-registers (new socket, same routing id, READY again) when the
        broker is silent for liveness intervals or sends DISCONNECT.
        Calls in flight at that moment are CANCELLED, not finished: the
        broker takes a READY as a worker with every slot free, and the
        requests were, or will be, dispatched again by it.

    Usage:
        llmq_worker_t *worker = llmq_worker_new (&config);
        llmq_worker_run (worker, &stop_flag);   // until *stop_flag
        llmq_worker_destroy (&worker);          // sends DISCONNECT

    Tests drive it a turn at a time with llmq_worker_step instead.
*/
#ifndef LLMQ_WORKER_H_INCLUDED
#define LLMQ_WORKER_H_INCLUDED

#include "config.h"

#include <signal.h>

typedef struct llmq_worker llmq_worker_t;

/*  A worker for config, which must outlive it. Creates the backend; does
    not connect yet. NULL on failure (logged).                             */
llmq_worker_t *llmq_worker_new (const llmq_worker_config_t *config);

/*  Stops (see llmq_worker_stop) and frees.                                */
void llmq_worker_destroy (llmq_worker_t **self_p);

/*  One loop turn: connects first if needed, waits at most max_wait_ms
    (-1: as long as nothing is due) for the broker or the backend, and
    handles what happened. 0, or -1 on a fatal error (logged).             */
int llmq_worker_step (llmq_worker_t *self, long max_wait_ms);

/*  Steps until *stop is set (by a signal handler) or a fatal error; then
    stops. 0 or -1.                                                        */
int llmq_worker_run (llmq_worker_t *self, volatile sig_atomic_t *stop);

/*  Cancels the calls in flight, sends DISCONNECT and closes the socket
    (waiting at most half a second for DISCONNECT to leave). Idempotent.   */
void llmq_worker_stop (llmq_worker_t *self);

/*  The broker has acknowledged the current registration.                  */
bool llmq_worker_registered (const llmq_worker_t *self);
/*  Calls running now.                                                     */
uint32_t llmq_worker_in_flight (const llmq_worker_t *self);
/*  Times the worker has (re)connected, counting the first.                */
uint32_t llmq_worker_sessions (const llmq_worker_t *self);

#endif
