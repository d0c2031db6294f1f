/*  cache.c -- hash + LRU + TTL response store; see cache.h.  */
#include "cache.h"
#include "queue.h"

#include <stdbool.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define MIN_BUCKETS 64
#define MALLOC_OVERHEAD 24          /* header + rounding, on average       */

typedef struct entry {
    qnode_t lru;                    /* least recently used first           */
    size_t cost;                    /* bytes counted for it                */
    struct entry *next;             /* hash chain                          */
    cache_key_t key;                /* the request's key                   */
    uint64_t expires_us;            /* not returned from then on           */
    size_t size;                    /* bytes of value                      */
    unsigned char value [];         /* the stored answer                   */
} entry_t;

struct cache {
    size_t max_bytes;               /* budget: entries + bucket array      */
    queue_t lru;                    /* every entry, LRU first              */
    entry_t **buckets;              /* hash index                          */
    size_t n_buckets;               /* power of two                        */
    cache_counters_t counters;      /* for the stats                       */
};

/*  What an entry is estimated to cost before it is allocated.             */
static size_t
s_cost (size_t size)
{
    return sizeof (entry_t) + size + MALLOC_OVERHEAD;
}

/*  What it really costs: the allocator's block, its header included, so
    the budget bounds the process's memory, not just the bytes asked for.  */
static size_t
s_real_cost (entry_t *entry)
{
    return malloc_usable_size (entry) + sizeof (size_t);
}

cache_t *
cache_new (size_t max_bytes)
{
    cache_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max_bytes = max_bytes;
    queue_init (&self->lru);
    if (max_bytes >= MIN_BUCKETS * sizeof (entry_t *) * 4) {
        self->n_buckets = MIN_BUCKETS;
        self->buckets = calloc (self->n_buckets, sizeof *self->buckets);
        if (!self->buckets) {
            free (self);
            return NULL;
        }
        self->counters.bytes = self->n_buckets * sizeof *self->buckets;
    }
    return self;
}

static size_t
s_bucket (const cache_t *self, const cache_key_t *key)
{
    return (size_t) key->lo & (self->n_buckets - 1);
}

/*  Unlinks and frees entry.                                               */
static void
s_drop (cache_t *self, entry_t *entry)
{
    entry_t **link = &self->buckets [s_bucket (self, &entry->key)];
    while (*link != entry)
        link = &(*link)->next;
    *link = entry->next;
    queue_remove (&self->lru, &entry->lru);
    self->counters.bytes -= entry->cost;
    self->counters.entries--;
    free (entry);
}

static entry_t *
s_lru (const cache_t *self)
{
    qnode_t *node = queue_front (&self->lru);
    return node ? QUEUE_ENTRY (node, entry_t, lru) : NULL;
}

void
cache_destroy (cache_t **self_p)
{
    cache_t *self = *self_p;
    if (!self)
        return;
    entry_t *entry;
    while ((entry = s_lru (self)))
        s_drop (self, entry);
    free (self->buckets);
    free (self);
    *self_p = NULL;
}

static entry_t *
s_find (const cache_t *self, const cache_key_t *key)
{
    if (!self->buckets)
        return NULL;
    entry_t *entry = self->buckets [s_bucket (self, key)];
    while (entry && !cache_key_equal (&entry->key, key))
        entry = entry->next;
    return entry;
}

/*  Doubles the buckets when entries outnumber them and the budget allows
    the bigger array next to pending bytes about to be added; otherwise
    chains just get longer.                                                */
static void
s_grow (cache_t *self, size_t pending)
{
    if (self->counters.entries < self->n_buckets)
        return;
    size_t n = self->n_buckets * 2;
    size_t extra = (n - self->n_buckets) * sizeof (entry_t *);
    if (self->counters.bytes + pending + extra > self->max_bytes)
        return;
    entry_t **buckets = calloc (n, sizeof *buckets);
    if (!buckets)
        return;
    for (qnode_t *node = queue_front (&self->lru); node; node = queue_next (&self->lru, node)) {
        entry_t *entry = QUEUE_ENTRY (node, entry_t, lru);
        size_t b = (size_t) entry->key.lo & (n - 1);
        entry->next = buckets [b];
        buckets [b] = entry;
    }
    free (self->buckets);
    self->buckets = buckets;
    self->n_buckets = n;
    self->counters.bytes += extra;
}

int
cache_put (cache_t *self, const cache_key_t *key, const void *value, size_t size,
           uint64_t expires_us, uint64_t now_us)
{
    if (!self->buckets)
        return -1;                  /* disabled                            */
    entry_t *old = s_find (self, key);
    if (old)
        s_drop (self, old);
    size_t cost = s_cost (size);
    size_t table = self->n_buckets * sizeof (entry_t *);
    if (cost > self->max_bytes - table)
        return -1;
    /*  Sizes rounded to 64 bytes: an evicted entry's block fits the next
        answers of about its size, so churn does not fragment the heap.   */
    entry_t *entry = malloc ((sizeof (entry_t) + size + 63) & ~(size_t) 63);
    if (!entry)
        return -1;
    cost = s_real_cost (entry);
    if (cost > self->max_bytes - table) {
        free (entry);
        return -1;
    }
    entry_t *victim;
    while (self->counters.bytes + cost > self->max_bytes && (victim = s_lru (self))) {
        if (now_us >= victim->expires_us)
            self->counters.evicted_ttl++;
        else
            self->counters.evicted_memory++;
        s_drop (self, victim);
    }
    entry->cost = cost;
    entry->key = *key;
    entry->expires_us = expires_us;
    entry->size = size;
    memcpy (entry->value, value, size);
    qnode_init (&entry->lru);
    s_grow (self, cost);            /* may not fit: then chains grow       */
    size_t b = s_bucket (self, key);
    entry->next = self->buckets [b];
    self->buckets [b] = entry;
    queue_push_back (&self->lru, &entry->lru);
    self->counters.bytes += cost;
    self->counters.entries++;
    return 0;
}

const void *
cache_get (cache_t *self, const cache_key_t *key, uint64_t now_us, size_t *size)
{
    entry_t *entry = s_find (self, key);
    if (!entry)
        return NULL;
    if (now_us >= entry->expires_us) {
        self->counters.evicted_ttl++;
        s_drop (self, entry);
        return NULL;
    }
    queue_remove (&self->lru, &entry->lru);
    queue_push_back (&self->lru, &entry->lru);
    *size = entry->size;
    return entry->value;
}

void
cache_remove (cache_t *self, const cache_key_t *key)
{
    entry_t *entry = s_find (self, key);
    if (entry)
        s_drop (self, entry);
}

void
cache_expire (cache_t *self, uint64_t now_us, size_t max_checks)
{
    qnode_t *node = queue_front (&self->lru);
    for (size_t checked = 0; node && checked < max_checks; checked++) {
        entry_t *entry = QUEUE_ENTRY (node, entry_t, lru);
        node = queue_next (&self->lru, node);
        if (now_us >= entry->expires_us) {
            self->counters.evicted_ttl++;
            s_drop (self, entry);
        }
    }
}

size_t
cache_max_bytes (const cache_t *self)
{
    return self->max_bytes;
}

const cache_counters_t *
cache_counters (const cache_t *self)
{
    return &self->counters;
}
