/*  backend.c -- the dispatch wrappers of backend.h.  */
#include "backend.h"

void
llmq_backend_start (llmq_backend_t *self, llmq_call_t *call)
{
    self->ops->start (self, call);
}

void
llmq_backend_cancel (llmq_backend_t *self, llmq_call_t *call)
{
    self->ops->cancel (self, call);
}

long
llmq_backend_timeout_ms (llmq_backend_t *self)
{
    return self->ops->timeout_ms (self);
}

size_t
llmq_backend_fds (llmq_backend_t *self, zmq_pollitem_t *items, size_t max)
{
    return self->ops->fds (self, items, max);
}

void
llmq_backend_run (llmq_backend_t *self, const zmq_pollitem_t *items, size_t n)
{
    self->ops->run (self, items, n);
}

const char *
llmq_backend_name (const llmq_backend_t *self)
{
    return self->ops->name;
}

void
llmq_backend_destroy (llmq_backend_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    (*self_p)->ops->destroy (*self_p);
    *self_p = NULL;
}
