/*  workers.c -- worker registry; see workers.h.  */
#include "workers.h"

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

struct workers {
    models_t *models;               /* model table (not owned)             */
    zhashx_t *by_route;             /* hex routing id -> worker_t          */
    queue_t list;                   /* all workers, registration order     */
    size_t n_dead;                  /* removed workers not yet reaped      */
    uint64_t stamp;                 /* last dispatch stamp handed out      */
};

/*  zhashx keys are strings; a routing id is bytes, so key on its hex.     */
static void
s_route_key (const void *route, size_t len, char key[2 * WORKER_MAX_ROUTE + 1])
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *bytes = route;
    for (size_t i = 0; i < len; i++) {
        key[2 * i] = hex[bytes[i] >> 4];
        key[2 * i + 1] = hex[bytes[i] & 15];
    }
    key[2 * len] = 0;
}

workers_t *
workers_new (models_t *models)
{
    workers_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->models = models;
    self->by_route = zhashx_new ();
    if (!self->by_route) {
        free (self);
        return NULL;
    }
    queue_init (&self->list);
    return self;
}

static void
s_worker_free (worker_t *worker)
{
    free (worker->id);
    free (worker->models);
    free (worker);
}

void
workers_destroy (workers_t **self_p)
{
    workers_t *self = *self_p;
    if (!self)
        return;
    worker_t *worker;
    while ((worker = workers_first (self)))
        workers_remove (self, worker);
    workers_reap (self);
    zhashx_destroy (&self->by_route);
    free (self);
    *self_p = NULL;
}

worker_t *
workers_lookup (workers_t *self, const void *route, size_t len)
{
    if (len == 0 || len > WORKER_MAX_ROUTE)
        return NULL;
    char key[2 * WORKER_MAX_ROUTE + 1];
    s_route_key (route, len, key);
    return zhashx_lookup (self->by_route, key);
}

static bool
s_serves (const worker_t *worker, const model_t *model)
{
    for (uint32_t i = 0; i < worker->n_models; i++)
        if (worker->models[i] == model)
            return true;
    return false;
}

/*  Links worker into the model of each name in ready (once per model).    */
static int
s_link_models (workers_t *self, worker_t *worker, const llmq_ready_t *ready)
{
    for (uint32_t i = 0; i < ready->n_models; i++) {
        model_t *model = models_get (self->models, ready->models[i].ptr,
                                     ready->models[i].len);
        if (!model)
            return -1;
        if (s_serves (worker, model))
            continue;
        if (model_add_worker (model, worker))
            return -1;
        /*  Counted only once linked, so s_unlink_models undoes exactly this. */
        worker->models[worker->n_models++] = model;
    }
    return 0;
}

/*  Unlinks worker from its models and marks them for collection; keeps
    worker->models so a caller can still walk them.                        */
static void
s_unlink_models (workers_t *self, worker_t *worker)
{
    for (uint32_t i = 0; i < worker->n_models; i++) {
        model_remove_worker (worker->models[i], worker);
        models_mark_idle (self->models, worker->models[i]);
    }
}

static worker_t *
s_worker_new (const void *route, size_t len, const llmq_ready_t *ready, uint64_t now_us)
{
    worker_t *worker = calloc (1, sizeof *worker);
    if (!worker)
        return NULL;
    memcpy (worker->route, route, len);
    worker->route_len = len;
    worker->id = strndup (ready->worker_id.ptr ? ready->worker_id.ptr : "",
                          ready->worker_id.len);
    worker->models = calloc (ready->n_models ? ready->n_models : 1, sizeof *worker->models);
    if (!worker->id || !worker->models) {
        s_worker_free (worker);
        return NULL;
    }
    worker->slots = ready->slots;
    worker->last_seen_us = now_us;
    queue_init (&worker->in_flight);
    qnode_init (&worker->link);
    return worker;
}

worker_t *
workers_register (workers_t *self, const void *route, size_t len,
                  const llmq_ready_t *ready, uint64_t now_us)
{
    if (len == 0 || len > WORKER_MAX_ROUTE)
        return NULL;
    assert (!workers_lookup (self, route, len));
    worker_t *worker = s_worker_new (route, len, ready, now_us);
    if (!worker)
        return NULL;
    char key[2 * WORKER_MAX_ROUTE + 1];
    s_route_key (route, len, key);
    if (s_link_models (self, worker, ready)
    ||  zhashx_insert (self->by_route, key, worker)) {
        s_unlink_models (self, worker);
        s_worker_free (worker);
        return NULL;
    }
    queue_push_back (&self->list, &worker->link);
    return worker;
}

void
workers_remove (workers_t *self, worker_t *worker)
{
    assert (!worker->dead);
    assert (queue_length (&worker->in_flight) == 0);
    char key[2 * WORKER_MAX_ROUTE + 1];
    s_route_key (worker->route, worker->route_len, key);
    zhashx_delete (self->by_route, key);
    s_unlink_models (self, worker);
    worker->dead = true;
    self->n_dead++;
}

void
workers_reap (workers_t *self)
{
    qnode_t *node = queue_front (&self->list);
    while (self->n_dead && node) {
        qnode_t *next = queue_next (&self->list, node);
        worker_t *worker = QUEUE_ENTRY (node, worker_t, link);
        if (worker->dead) {
            queue_remove (&self->list, node);
            s_worker_free (worker);
            self->n_dead--;
        }
        node = next;
    }
}

worker_t *
workers_choose (workers_t *self, const model_t *model)
{
    (void) self;
    worker_t *best = NULL;
    uint32_t best_free = 0;
    for (size_t i = 0; i < model->n_workers; i++) {
        worker_t *worker = model->workers[i];
        uint32_t free_slots = worker_free_slots (worker);
        if (worker->draining || free_slots == 0)
            continue;
        if (!best || free_slots > best_free
        ||  (free_slots == best_free && worker->stamp < best->stamp)) {
            best = worker;
            best_free = free_slots;
        }
    }
    return best;
}

void
workers_assign (workers_t *self, worker_t *worker, request_t *req)
{
    assert (!qnode_linked (&req->link));
    queue_push_back (&worker->in_flight, &req->link);
    req->worker = worker;
    worker->stamp = ++self->stamp;
}

void
workers_unassign (request_t *req)
{
    assert (req->worker);
    queue_remove (&req->worker->in_flight, &req->link);
    req->worker = NULL;
}

uint32_t
worker_in_flight (const worker_t *self)
{
    return (uint32_t) queue_length (&self->in_flight);
}

uint32_t
worker_free_slots (const worker_t *self)
{
    uint32_t busy = worker_in_flight (self);
    return busy < self->slots ? self->slots - busy : 0;
}

size_t
workers_count (const workers_t *self)
{
    return queue_length (&self->list) - self->n_dead;
}

/*  The first live worker at or after node.                                */
static worker_t *
s_live_from (const workers_t *self, qnode_t *node)
{
    while (node) {
        worker_t *worker = QUEUE_ENTRY (node, worker_t, link);
        if (!worker->dead)
            return worker;
        node = queue_next (&self->list, node);
    }
    return NULL;
}

worker_t *
workers_first (const workers_t *self)
{
    return s_live_from (self, queue_front (&self->list));
}

worker_t *
workers_next (const workers_t *self, const worker_t *worker)
{
    return s_live_from (self, queue_next (&self->list, &worker->link));
}
