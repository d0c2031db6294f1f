/*  models.c -- model table; see models.h.  */
#include "models.h"
#include "llmq_proto.h"

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

struct models {
    zhashx_t *table;                /* name -> model_t, owns the models    */
    size_t queued;                  /* requests queued over all models     */
    queue_t marked;                 /* models that may be idle             */
};

static void
s_model_destroy (void **item_p)
{
    model_t *model = *item_p;
    if (model) {
        assert (queue_length (&model->queue) == 0);
        free (model->name);
        free (model->workers);
        free (model);
        *item_p = NULL;
    }
}

models_t *
models_new (void)
{
    models_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->table = zhashx_new ();
    if (!self->table) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->table, s_model_destroy);
    queue_init (&self->marked);
    return self;
}

void
models_destroy (models_t **self_p)
{
    if (*self_p) {
        zhashx_destroy (&(*self_p)->table);
        free (*self_p);
        *self_p = NULL;
    }
}

/*  Copies a counted name into key; false when empty or too long.          */
static bool
s_key (const char *name, size_t len, char key[LLMQ_MAX_NAME + 1])
{
    if (len == 0 || len > LLMQ_MAX_NAME)
        return false;
    memcpy (key, name, len);
    key[len] = 0;
    return true;
}

model_t *
models_lookup (models_t *self, const char *name, size_t len)
{
    char key[LLMQ_MAX_NAME + 1];
    if (!s_key (name, len, key))
        return NULL;
    return zhashx_lookup (self->table, key);
}

model_t *
models_get (models_t *self, const char *name, size_t len)
{
    char key[LLMQ_MAX_NAME + 1];
    if (!s_key (name, len, key))
        return NULL;
    model_t *model = zhashx_lookup (self->table, key);
    if (model)
        return model;
    model = calloc (1, sizeof *model);
    if (!model)
        return NULL;
    model->name = strdup (key);
    if (!model->name || zhashx_insert (self->table, key, model)) {
        free (model->name);
        free (model);
        return NULL;
    }
    queue_init (&model->queue);
    for (int level = 0; level < MODEL_LEVELS; level++)
        queue_init (&model->active[level]);
    qnode_init (&model->idle_link);
    /*  A new model is idle until a worker or a request takes it.          */
    models_mark_idle (self, model);
    return model;
}

void
models_mark_idle (models_t *self, model_t *model)
{
    if (!qnode_linked (&model->idle_link))
        queue_push_back (&self->marked, &model->idle_link);
}

void
models_collect (models_t *self)
{
    qnode_t *node;
    while ((node = queue_pop_front (&self->marked))) {
        model_t *model = QUEUE_ENTRY (node, model_t, idle_link);
        if (model->n_workers == 0 && queue_length (&model->queue) == 0)
            zhashx_delete (self->table, model->name);
    }
}

int
model_add_worker (model_t *self, struct worker *worker)
{
    if (self->n_workers == self->workers_alloc) {
        size_t alloc = self->workers_alloc ? self->workers_alloc * 2 : 4;
        struct worker **workers = realloc (self->workers, alloc * sizeof *workers);
        if (!workers)
            return -1;
        self->workers = workers;
        self->workers_alloc = alloc;
    }
    self->workers[self->n_workers++] = worker;
    return 0;
}

void
model_remove_worker (model_t *self, struct worker *worker)
{
    for (size_t i = 0; i < self->n_workers; i++)
        if (self->workers[i] == worker) {
            self->workers[i] = self->workers[--self->n_workers];
            return;
        }
}

void
models_enqueue (models_t *self, request_t *req, bool front)
{
    assert (req->model);
    if (front)
        queue_push_front (&req->model->queue, &req->link);
    else
        queue_push_back (&req->model->queue, &req->link);
    self->queued++;
}

void
models_dequeue (models_t *self, request_t *req)
{
    queue_remove (&req->model->queue, &req->link);
    self->queued--;
}

request_t *
model_front (const model_t *self)
{
    qnode_t *node = queue_front (&self->queue);
    return node ? QUEUE_ENTRY (node, request_t, link) : NULL;
}

size_t
models_queued (const models_t *self)
{
    return self->queued;
}

size_t
models_count (models_t *self)
{
    return zhashx_size (self->table);
}

model_t *
models_first (models_t *self)
{
    return zhashx_first (self->table);
}

model_t *
models_next (models_t *self)
{
    return zhashx_next (self->table);
}
