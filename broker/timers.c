/*  timers.c -- indexed binary min-heap; see timers.h.

    heap[] holds the entries ordered by time; slot[h] maps a live handle h
    to its position in heap[], and for a free handle links to the next
    free one, so handles are recycled without a separate free list.
*/
#include "timers.h"

#include <assert.h>
#include <stdlib.h>

typedef struct {
    uint64_t when_us;               /* when it fires                       */
    uint64_t arg;                   /* caller's argument (a rid)           */
    uint32_t kind;                  /* caller's timer kind                 */
    uint32_t handle;                /* index into slot[]                   */
} entry_t;

struct timers {
    entry_t *heap;                  /* min-heap on when_us                 */
    size_t size;                    /* entries in heap                     */
    uint32_t *slot;                 /* handle -> heap index / next free    */
    size_t capacity;                /* entries in heap[] and slot[]        */
    uint32_t free_handle;           /* first free handle, TIMER_NONE = none*/
};

timers_t *
timers_new (void)
{
    timers_t *self = calloc (1, sizeof *self);
    if (self)
        self->free_handle = TIMER_NONE;
    return self;
}

void
timers_destroy (timers_t **self_p)
{
    if (*self_p) {
        timers_t *self = *self_p;
        free (self->heap);
        free (self->slot);
        free (self);
        *self_p = NULL;
    }
}

/*  Doubles the arrays and threads the new handles onto the free list.     */
static int
s_grow (timers_t *self)
{
    size_t capacity = self->capacity ? self->capacity * 2 : 64;
    if (capacity >= TIMER_NONE)
        return -1;
    entry_t *heap = realloc (self->heap, capacity * sizeof *heap);
    if (!heap)
        return -1;
    self->heap = heap;
    uint32_t *slot = realloc (self->slot, capacity * sizeof *slot);
    if (!slot)
        return -1;
    self->slot = slot;
    for (size_t h = capacity; h-- > self->capacity;) {
        slot[h] = self->free_handle;
        self->free_handle = (uint32_t) h;
    }
    self->capacity = capacity;
    return 0;
}

static void
s_place (timers_t *self, size_t pos, entry_t entry)
{
    self->heap[pos] = entry;
    self->slot[entry.handle] = (uint32_t) pos;
}

static void
s_sift_up (timers_t *self, size_t pos)
{
    entry_t entry = self->heap[pos];
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (self->heap[parent].when_us <= entry.when_us)
            break;
        s_place (self, pos, self->heap[parent]);
        pos = parent;
    }
    s_place (self, pos, entry);
}

static void
s_sift_down (timers_t *self, size_t pos)
{
    entry_t entry = self->heap[pos];
    for (;;) {
        size_t child = 2 * pos + 1;
        if (child >= self->size)
            break;
        if (child + 1 < self->size
        &&  self->heap[child + 1].when_us < self->heap[child].when_us)
            child++;
        if (entry.when_us <= self->heap[child].when_us)
            break;
        s_place (self, pos, self->heap[child]);
        pos = child;
    }
    s_place (self, pos, entry);
}

uint32_t
timers_add (timers_t *self, uint64_t when_us, uint32_t kind, uint64_t arg)
{
    if (self->free_handle == TIMER_NONE && s_grow (self))
        return TIMER_NONE;
    uint32_t handle = self->free_handle;
    self->free_handle = self->slot[handle];
    entry_t entry = { .when_us = when_us, .arg = arg, .kind = kind, .handle = handle };
    size_t pos = self->size++;
    s_place (self, pos, entry);
    s_sift_up (self, pos);
    return handle;
}

/*  Takes the entry at pos out of the heap and frees its handle.           */
static void
s_remove_at (timers_t *self, size_t pos)
{
    uint32_t handle = self->heap[pos].handle;
    self->size--;
    if (pos < self->size) {
        uint64_t old_when = self->heap[pos].when_us;
        s_place (self, pos, self->heap[self->size]);
        if (self->heap[pos].when_us < old_when)
            s_sift_up (self, pos);
        else
            s_sift_down (self, pos);
    }
    self->slot[handle] = self->free_handle;
    self->free_handle = handle;
}

void
timers_cancel (timers_t *self, uint32_t handle)
{
    if (handle == TIMER_NONE)
        return;
    assert (handle < self->capacity);
    size_t pos = self->slot[handle];
    assert (pos < self->size && self->heap[pos].handle == handle);
    s_remove_at (self, pos);
}

bool
timers_next (const timers_t *self, uint64_t *when_us)
{
    if (self->size == 0)
        return false;
    *when_us = self->heap[0].when_us;
    return true;
}

bool
timers_pop_due (timers_t *self, uint64_t now_us, uint32_t *kind, uint64_t *arg)
{
    if (self->size == 0 || self->heap[0].when_us > now_us)
        return false;
    *kind = self->heap[0].kind;
    *arg = self->heap[0].arg;
    s_remove_at (self, 0);
    return true;
}

size_t
timers_size (const timers_t *self)
{
    return self->size;
}
