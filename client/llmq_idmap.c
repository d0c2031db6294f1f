/*  llmq_idmap.c -- see llmq_idmap.h.  */
#include "llmq_idmap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define S_MIN_CAPACITY  16

typedef struct {
    uint64_t hash;                  //  Full hash of the key
    const char *key;                //  Key bytes, owned by the value
    size_t len;                     //  Key length
    void *value;                    //  NULL = empty slot
} s_slot_t;

struct llmqc_idmap {
    s_slot_t *slots;                //  capacity slots
    size_t capacity;                //  Power of two
    size_t size;                    //  Slots in use
};

//  FNV-1a: request ids are random hex, so a simple hash spreads them
//  well and costs a few cycles per byte.
static uint64_t
s_hash (const char *key, size_t len)
{
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        hash ^= (unsigned char) key [i];
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

llmqc_idmap_t *
llmqc_idmap_new (void)
{
    llmqc_idmap_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->slots = calloc (S_MIN_CAPACITY, sizeof *self->slots);
    if (!self->slots) {
        free (self);
        return NULL;
    }
    self->capacity = S_MIN_CAPACITY;
    return self;
}

void
llmqc_idmap_destroy (llmqc_idmap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->slots);
    free (*self_p);
    *self_p = NULL;
}

//  Index of key's slot, or of the empty slot where it would go.
static size_t
s_find (const llmqc_idmap_t *self, uint64_t hash, const char *key, size_t len)
{
    size_t mask = self->capacity - 1;
    size_t index = (size_t) hash & mask;
    while (self->slots [index].value) {
        const s_slot_t *slot = &self->slots [index];
        if (slot->hash == hash && slot->len == len && memcmp (slot->key, key, len) == 0)
            break;
        index = (index + 1) & mask;
    }
    return index;
}

//  Doubles the table; 0 or -1.
static int
s_grow (llmqc_idmap_t *self)
{
    s_slot_t *old = self->slots;
    size_t old_capacity = self->capacity;
    s_slot_t *slots = calloc (old_capacity * 2, sizeof *slots);
    if (!slots)
        return -1;
    self->slots = slots;
    self->capacity = old_capacity * 2;
    for (size_t i = 0; i < old_capacity; i++)
        if (old [i].value)
            self->slots [s_find (self, old [i].hash, old [i].key, old [i].len)] = old [i];
    free (old);
    return 0;
}

int
llmqc_idmap_insert (llmqc_idmap_t *self, const char *key, size_t len, void *value)
{
    if ((self->size + 1) * 2 > self->capacity && s_grow (self))
        return -1;
    uint64_t hash = s_hash (key, len);
    size_t index = s_find (self, hash, key, len);
    if (!self->slots [index].value)
        self->size++;
    self->slots [index] = (s_slot_t) { hash, key, len, value };
    return 0;
}

void *
llmqc_idmap_lookup (const llmqc_idmap_t *self, const char *key, size_t len)
{
    return self->slots [s_find (self, s_hash (key, len), key, len)].value;
}

//  True when home lies cyclically in (hole, index]: the entry at index
//  probed past hole, so it may not move back into it.
static bool
s_between (size_t hole, size_t home, size_t index)
{
    return hole <= index? (hole < home && home <= index)
                        : (hole < home || home <= index);
}

void *
llmqc_idmap_remove (llmqc_idmap_t *self, const char *key, size_t len)
{
    size_t mask = self->capacity - 1;
    size_t hole = s_find (self, s_hash (key, len), key, len);
    void *value = self->slots [hole].value;
    if (!value)
        return NULL;
    self->size--;
    //  Backward shift: pull later entries of the run into the hole when
    //  their home slot allows, so lookups never meet a gap mid-run.
    size_t index = (hole + 1) & mask;
    while (self->slots [index].value) {
        size_t home = (size_t) self->slots [index].hash & mask;
        if (!s_between (hole, home, index)) {
            self->slots [hole] = self->slots [index];
            hole = index;
        }
        index = (index + 1) & mask;
    }
    self->slots [hole].value = NULL;
    return value;
}

size_t
llmqc_idmap_size (const llmqc_idmap_t *self)
{
    return self->size;
}

size_t
llmqc_idmap_capacity (const llmqc_idmap_t *self)
{
    return self->capacity;
}

void *
llmqc_idmap_at (const llmqc_idmap_t *self, size_t index)
{
    return index < self->capacity? self->slots [index].value: NULL;
}
