/*  models.h -- the models the broker knows: each with its wait queue and
    the workers that serve it.

    A model exists while someone needs it: a worker serves it, or requests
    wait for it. When one may have become idle the broker marks it, and
    models_collect (run between rounds of the event loop) deletes the
    marked ones still idle, so a client sending made-up model names cannot
    grow the table for ever. Deferring the delete keeps every model_t
    pointer the broker holds valid for the whole of a round (a worker
    being removed still lists its models, a dispatch loop holds one).

    The queue is a FIFO per model (queue.h); the table keeps the total of
    queued requests so the global bound (--max-queue) is O(1) to check.
    Priorities and tenant fairness (a later issue) replace the one FIFO
    with a set of queues inside model_t; nothing outside this module and
    dispatch needs to change.

    Complexity: lookup by name O(1) expected (CZMQ zhashx); enqueue,
    dequeue O(1); adding/removing a worker O(workers of the model).
*/
#ifndef LLMQ_BROKER_MODELS_H_INCLUDED
#define LLMQ_BROKER_MODELS_H_INCLUDED

#include "queue.h"
#include "requests.h"

#include <stdbool.h>
#include <stddef.h>

struct worker;
struct sched_limits;

#define MODEL_LEVELS 5              /* = LLMQ_PRIO__COUNT (scheduler.c checks) */

typedef struct model {
    char *name;                     /* NUL-terminated                      */
    queue_t queue;                  /* requests waiting, oldest first      */
    struct worker **workers;        /* workers that serve it               */
    size_t n_workers;               /* entries in workers[]                */
    size_t workers_alloc;           /* room in workers[]                   */
    qnode_t idle_link;              /* in the to-collect list when marked  */
    /*  Scheduler state (scheduler.h): the queue above holds every queued
        request (oldest first); these order them.                          */
    queue_t active[MODEL_LEVELS];   /* per priority: ring of tenant lanes  */
    struct sched_limits *limits;    /* rate state, owned by sched; or NULL */
} model_t;

typedef struct models models_t;

models_t *models_new (void);
void models_destroy (models_t **self_p);

/*  The model with that name, or NULL. name need not be NUL-terminated.     */
model_t *models_lookup (models_t *self, const char *name, size_t len);
/*  The model with that name, created when missing; NULL when out of
    memory or the name is empty or too long.                               */
model_t *models_get (models_t *self, const char *name, size_t len);
/*  Notes that model may be idle (no worker, no queued request).            */
void models_mark_idle (models_t *self, model_t *model);
/*  Deletes the marked models that are still idle. O(marked).              */
void models_collect (models_t *self);

int model_add_worker (model_t *self, struct worker *worker);
void model_remove_worker (model_t *self, struct worker *worker);

/*  Queue req on its model (req->model), at the back or the front.          */
void models_enqueue (models_t *self, request_t *req, bool front);
/*  Takes req out of its model's queue.                                    */
void models_dequeue (models_t *self, request_t *req);
/*  The oldest request waiting for model, or NULL.                         */
request_t *model_front (const model_t *self);
/*  Requests queued over all models.                                       */
size_t models_queued (const models_t *self);
size_t models_count (models_t *self);

/*  Iteration (stats); the table must not change meanwhile.                */
model_t *models_first (models_t *self);
model_t *models_next (models_t *self);

#endif
