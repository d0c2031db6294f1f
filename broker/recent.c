/*  recent.c -- recently sent answers; see recent.h.  */
#include "recent.h"
#include "queue.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct entry {
    qnode_t link;                   /* in age order, oldest first          */
    struct entry *next;             /* hash chain                          */
    uint64_t hash;                  /* xxh3 of route + id                  */
    uint64_t at_us;                 /* when the answer was sent            */
    uint32_t route_len;             /* bytes of routing id                 */
    uint32_t id_len;                /* bytes of request id                 */
    size_t size;                    /* bytes of the answer frame           */
    char bytes [];                  /* route, id, frame                    */
} entry_t;

struct recent {
    uint64_t window_us;             /* how long an answer is kept          */
    size_t max_bytes;               /* memory budget for kept answers      */
    size_t bytes;                   /* memory used                         */
    queue_t age;                    /* entries, oldest first               */
    entry_t **buckets;              /* hash index                          */
    size_t n_buckets;               /* power of two                        */
};

recent_t *
recent_new (uint64_t window_us, size_t max_bytes)
{
    recent_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->window_us = window_us;
    self->max_bytes = max_bytes;
    self->n_buckets = 1024;
    self->buckets = calloc (self->n_buckets, sizeof *self->buckets);
    if (!self->buckets) {
        free (self);
        return NULL;
    }
    queue_init (&self->age);
    return self;
}

static size_t
s_cost (const entry_t *entry)
{
    return sizeof *entry + entry->route_len + entry->id_len + entry->size;
}

/*  Unlinks and frees entry.                                               */
static void
s_drop (recent_t *self, entry_t *entry)
{
    entry_t **link = &self->buckets [entry->hash & (self->n_buckets - 1)];
    while (*link != entry)
        link = &(*link)->next;
    *link = entry->next;
    queue_remove (&self->age, &entry->link);
    self->bytes -= s_cost (entry);
    free (entry);
}

static bool
s_expired (const recent_t *self, const entry_t *entry, uint64_t now_us)
{
    return now_us > entry->at_us && now_us - entry->at_us > self->window_us;
}

static entry_t *
s_oldest (const recent_t *self)
{
    qnode_t *node = queue_front (&self->age);
    return node ? QUEUE_ENTRY (node, entry_t, link) : NULL;
}

void
recent_destroy (recent_t **self_p)
{
    recent_t *self = *self_p;
    if (!self)
        return;
    entry_t *entry;
    while ((entry = s_oldest (self)))
        s_drop (self, entry);
    free (self->buckets);
    free (self);
    *self_p = NULL;
}

static uint64_t
s_hash (const void *route, size_t route_len, const char *id, size_t id_len)
{
    return XXH3_64bits_withSeed (id, id_len, XXH3_64bits (route, route_len));
}

static entry_t *
s_find (const recent_t *self, uint64_t hash, const void *route, size_t route_len,
        const char *id, size_t id_len)
{
    entry_t *entry = self->buckets [hash & (self->n_buckets - 1)];
    for (; entry; entry = entry->next)
        if (entry->hash == hash && entry->route_len == route_len && entry->id_len == id_len
        &&  memcmp (entry->bytes, route, route_len) == 0
        &&  memcmp (entry->bytes + route_len, id, id_len) == 0)
            return entry;
    return NULL;
}

/*  Doubles the buckets when entries outnumber them; keeps the old array
    when out of memory (chains get longer, nothing breaks).                */
static void
s_grow (recent_t *self)
{
    if (queue_length (&self->age) < self->n_buckets)
        return;
    size_t n = self->n_buckets * 2;
    entry_t **buckets = calloc (n, sizeof *buckets);
    if (!buckets)
        return;
    qnode_t *node = queue_front (&self->age);
    for (; node; node = queue_next (&self->age, node)) {
        entry_t *entry = QUEUE_ENTRY (node, entry_t, link);
        entry->next = buckets [entry->hash & (n - 1)];
        buckets [entry->hash & (n - 1)] = entry;
    }
    free (self->buckets);
    self->buckets = buckets;
    self->n_buckets = n;
}

void
recent_put (recent_t *self, const void *route, size_t route_len,
            const char *id, size_t id_len, const void *frame, size_t size,
            uint64_t now_us)
{
    uint64_t hash = s_hash (route, route_len, id, id_len);
    entry_t *old = s_find (self, hash, route, route_len, id, id_len);
    if (old)
        s_drop (self, old);
    size_t cost = sizeof (entry_t) + route_len + id_len + size;
    if (cost > self->max_bytes || self->window_us == 0)
        return;
    entry_t *entry;
    while ((entry = s_oldest (self)) && self->bytes + cost > self->max_bytes)
        s_drop (self, entry);
    entry = malloc (cost);
    if (!entry)
        return;
    entry->hash = hash;
    entry->at_us = now_us;
    entry->route_len = (uint32_t) route_len;
    entry->id_len = (uint32_t) id_len;
    entry->size = size;
    memcpy (entry->bytes, route, route_len);
    memcpy (entry->bytes + route_len, id, id_len);
    memcpy (entry->bytes + route_len + id_len, frame, size);
    qnode_init (&entry->link);
    s_grow (self);
    entry->next = self->buckets [hash & (self->n_buckets - 1)];
    self->buckets [hash & (self->n_buckets - 1)] = entry;
    queue_push_back (&self->age, &entry->link);
    self->bytes += cost;
}

const void *
recent_get (recent_t *self, const void *route, size_t route_len,
            const char *id, size_t id_len, size_t *size, uint64_t now_us)
{
    uint64_t hash = s_hash (route, route_len, id, id_len);
    entry_t *entry = s_find (self, hash, route, route_len, id, id_len);
    if (!entry || s_expired (self, entry, now_us))
        return NULL;
    *size = entry->size;
    return entry->bytes + entry->route_len + entry->id_len;
}

void
recent_expire (recent_t *self, uint64_t now_us)
{
    entry_t *entry;
    while ((entry = s_oldest (self)) && s_expired (self, entry, now_us))
        s_drop (self, entry);
}

size_t
recent_count (const recent_t *self)
{
    return queue_length (&self->age);
}

size_t
recent_bytes (const recent_t *self)
{
    return self->bytes;
}
