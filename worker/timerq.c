/*  timerq.c -- indexed binary min-heap of timers; see timerq.h.  */
#include "timerq.h"

#include <stdlib.h>

struct llmq_timerq {
    llmq_timer_t **heap;        /* heap [0] is the earliest                */
    size_t size;                /* timers queued                           */
    size_t alloc;               /* slots allocated in heap                 */
};

void
llmq_timer_init (llmq_timer_t *timer)
{
    timer->due_us = 0;
    timer->index = SIZE_MAX;
}

bool
llmq_timer_queued (const llmq_timer_t *timer)
{
    return timer->index != SIZE_MAX;
}

llmq_timerq_t *
llmq_timerq_new (void)
{
    return calloc (1, sizeof (llmq_timerq_t));
}

void
llmq_timerq_destroy (llmq_timerq_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    llmq_timerq_t *self = *self_p;
    for (size_t i = 0; i < self->size; i++)
        self->heap [i]->index = SIZE_MAX;
    free (self->heap);
    free (self);
    *self_p = NULL;
}

static void
s_place (llmq_timerq_t *self, size_t i, llmq_timer_t *timer)
{
    self->heap [i] = timer;
    timer->index = i;
}

static void
s_sift_up (llmq_timerq_t *self, size_t i)
{
    llmq_timer_t *timer = self->heap [i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (self->heap [parent]->due_us <= timer->due_us)
            break;
        s_place (self, i, self->heap [parent]);
        i = parent;
    }
    s_place (self, i, timer);
}

static void
s_sift_down (llmq_timerq_t *self, size_t i)
{
    llmq_timer_t *timer = self->heap [i];
    while (true) {
        size_t child = 2 * i + 1;
        if (child >= self->size)
            break;
        if (child + 1 < self->size
        &&  self->heap [child + 1]->due_us < self->heap [child]->due_us)
            child++;
        if (timer->due_us <= self->heap [child]->due_us)
            break;
        s_place (self, i, self->heap [child]);
        i = child;
    }
    s_place (self, i, timer);
}

void
llmq_timerq_remove (llmq_timerq_t *self, llmq_timer_t *timer)
{
    if (timer->index == SIZE_MAX)
        return;
    size_t i = timer->index;
    timer->index = SIZE_MAX;
    self->size--;
    if (i == self->size)
        return;                         /* it was the last leaf */
    llmq_timer_t *moved = self->heap [self->size];
    s_place (self, i, moved);
    /*  The moved leaf may belong above or below its new place.            */
    s_sift_up (self, i);
    s_sift_down (self, moved->index);
}

int
llmq_timerq_add (llmq_timerq_t *self, llmq_timer_t *timer, uint64_t due_us)
{
    if (timer->index == SIZE_MAX && self->size == self->alloc) {
        size_t want = self->alloc ? self->alloc * 2 : 16;
        llmq_timer_t **grown = realloc (self->heap, want * sizeof *grown);
        if (!grown)
            return -1;
        self->heap = grown;
        self->alloc = want;
    }
    llmq_timerq_remove (self, timer);
    timer->due_us = due_us;
    s_place (self, self->size++, timer);
    s_sift_up (self, timer->index);
    return 0;
}

llmq_timer_t *
llmq_timerq_peek (const llmq_timerq_t *self)
{
    return self->size ? self->heap [0] : NULL;
}

llmq_timer_t *
llmq_timerq_pop_due (llmq_timerq_t *self, uint64_t now_us)
{
    llmq_timer_t *first = llmq_timerq_peek (self);
    if (!first || first->due_us > now_us)
        return NULL;
    llmq_timerq_remove (self, first);
    return first;
}

size_t
llmq_timerq_size (const llmq_timerq_t *self)
{
    return self->size;
}
