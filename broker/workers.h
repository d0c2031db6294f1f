/*  workers.h -- the registry of live workers.

    A worker is known by its ZeroMQ routing id (it sets a fixed one, so a
    reconnect is the same worker). READY registers it with its models and
    slot count; the registry links it into each model's worker list
    (models.h) so choosing a worker for a request only looks at the
    workers of that model. Each worker keeps the list of requests it has
    in flight (intrusive, queue.h), so losing a worker requeues exactly
    its requests without a scan of the request table.

    Choice: the ready worker of the model with the most free slots; ties
    go to the one least recently given work (a dispatch stamp), which
    spreads equal workers round-robin. This scans the workers of one model,
    O(W_model); a later issue replaces it with a heap per model, O(log W).

    A removed worker is unlinked at once (no lookup or choice finds it)
    but its memory lives on, marked dead, until workers_reap at the end of
    the event-loop round: handlers that lose a worker half-way (a failed
    send inside a dispatch loop) may still hold a pointer to it.

    Complexity: lookup by routing id O(1) expected (zhashx over the hex of
    the routing id); register/remove O(models of the worker x workers of
    each model); assign/unassign O(1).
*/
#ifndef LLMQ_BROKER_WORKERS_H_INCLUDED
#define LLMQ_BROKER_WORKERS_H_INCLUDED

#include "llmq_proto.h"
#include "models.h"
#include "queue.h"
#include "requests.h"

#include <stdbool.h>
#include <stdint.h>

#define WORKER_MAX_ROUTE 255        /* ZeroMQ routing ids are 1..255 bytes */

typedef struct worker {
    uint8_t route[WORKER_MAX_ROUTE];/* routing id                          */
    size_t route_len;               /* bytes in route                      */
    char *id;                       /* worker id from READY                */
    model_t **models;               /* models it serves                    */
    uint32_t n_models;              /* entries in models[]                 */
    uint32_t slots;                 /* concurrent requests it takes        */
    queue_t in_flight;              /* requests dispatched to it           */
    bool draining;                  /* takes no new work (its heartbeat)   */
    bool dead;                      /* removed; freed by workers_reap      */
    uint64_t last_seen_us;          /* last message from it                */
    uint64_t stamp;                 /* dispatch order, for ties            */
    uint32_t next_model;            /* where the next refill starts        */
    uint64_t served;                /* FINALs it delivered                 */
    llmq_heartbeat_t health;        /* last health it reported             */
    qnode_t link;                   /* in the registry's list              */
} worker_t;

typedef struct workers workers_t;

/*  The registry links workers into the models of models (not owned).       */
workers_t *workers_new (models_t *models);
/*  Destroys every worker; their in-flight lists must be empty.            */
void workers_destroy (workers_t **self_p);

/*  The worker with that routing id, or NULL.                              */
worker_t *workers_lookup (workers_t *self, const void *route, size_t len);
/*  Registers a worker from its READY; the routing id must not be known.
    NULL when out of memory or the routing id is empty or too long.        */
worker_t *workers_register (workers_t *self, const void *route, size_t len,
                            const llmq_ready_t *ready, uint64_t now_us);
/*  Forgets a worker: unlinks it from the lookup and from its models (and
    marks those for models_collect). Its in-flight list must be empty: the
    caller requeues or fails those requests first. The worker is marked
    dead; its memory, models[] included, stays valid until workers_reap.  */
void workers_remove (workers_t *self, worker_t *worker);
/*  Frees the dead workers. O(workers) when any died, else O(1).           */
void workers_reap (workers_t *self);

/*  The worker that should take the next request for model, or NULL when
    none has a free slot.                                                  */
worker_t *workers_choose (workers_t *self, const model_t *model);
/*  Records that req is now in flight on worker (sets req->worker).         */
void workers_assign (workers_t *self, worker_t *worker, request_t *req);
/*  Takes req off its worker's in-flight list (clears req->worker).         */
void workers_unassign (request_t *req);

uint32_t worker_in_flight (const worker_t *self);
uint32_t worker_free_slots (const worker_t *self);
/*  Live workers.                                                          */
size_t workers_count (const workers_t *self);

/*  Iteration over live workers in registration order. Removing workers
    meanwhile is safe (the dead stay linked until workers_reap).           */
worker_t *workers_first (const workers_t *self);
worker_t *workers_next (const workers_t *self, const worker_t *worker);

#endif
