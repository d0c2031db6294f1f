/*  queue.c -- intrusive FIFO; see queue.h.  */
#include "queue.h"

#include <assert.h>

void
queue_init (queue_t *self)
{
    self->head.prev = &self->head;
    self->head.next = &self->head;
    self->length = 0;
}

void
qnode_init (qnode_t *node)
{
    node->prev = NULL;
    node->next = NULL;
}

bool
qnode_linked (const qnode_t *node)
{
    return node->next != NULL;
}

static void
s_link_after (qnode_t *at, qnode_t *node)
{
    node->prev = at;
    node->next = at->next;
    at->next->prev = node;
    at->next = node;
}

void
queue_push_back (queue_t *self, qnode_t *node)
{
    assert (!qnode_linked (node));
    s_link_after (self->head.prev, node);
    self->length++;
}

void
queue_push_front (queue_t *self, qnode_t *node)
{
    assert (!qnode_linked (node));
    s_link_after (&self->head, node);
    self->length++;
}

void
queue_insert_after (queue_t *self, qnode_t *at, qnode_t *node)
{
    assert (!qnode_linked (node));
    s_link_after (at, node);
    self->length++;
}

qnode_t *
queue_front (const queue_t *self)
{
    return self->length ? self->head.next : NULL;
}

qnode_t *
queue_back (const queue_t *self)
{
    return self->length ? self->head.prev : NULL;
}

qnode_t *
queue_pop_front (queue_t *self)
{
    qnode_t *node = queue_front (self);
    if (node)
        queue_remove (self, node);
    return node;
}

void
queue_remove (queue_t *self, qnode_t *node)
{
    assert (qnode_linked (node) && self->length > 0);
    node->prev->next = node->next;
    node->next->prev = node->prev;
    qnode_init (node);
    self->length--;
}

qnode_t *
queue_next (const queue_t *self, const qnode_t *node)
{
    return node->next == &self->head ? NULL : node->next;
}

size_t
queue_length (const queue_t *self)
{
    return self->length;
}
