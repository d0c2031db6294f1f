/*  cache.c -- hash + ring-log + TTL response store; see cache.h.  */
#include "cache.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MIN_BUCKETS 64
#define BYTES_PER_BUCKET 512        /* load <= 8 with the smallest records */
#define ALIGN 16                    /* records (and values) 16-aligned     */

enum { REC_DEAD = 0, REC_LIVE = 1, REC_REF = 2, REC_PAD = 4 };

/*  One record in the ring: this header, then the value, padded to ALIGN. */
typedef struct rec {
    struct rec *next;               /* hash chain                          */
    cache_key_t key;                /* the request's key                   */
    uint64_t expires_us;            /* not returned from then on           */
    uint32_t len;                   /* record bytes, header included       */
    uint32_t size;                  /* bytes of value                      */
    uint32_t flags;                 /* REC_*                               */
    uint32_t unused;                /* keeps the header a multiple of 16   */
} rec_t;

static_assert (sizeof (rec_t) % ALIGN == 0, "the value must stay aligned");
#define HDR sizeof (rec_t)

struct cache {
    size_t max_bytes;               /* budget: ring + bucket array         */
    unsigned char *ring;            /* one mapping of cap bytes            */
    size_t cap;                     /* ring bytes, a multiple of ALIGN     */
    size_t head;                    /* where the next record is written    */
    size_t tail;                    /* the oldest record                   */
    size_t used;                    /* bytes from tail to head (ring order)*/
    rec_t **buckets;                /* hash index                          */
    size_t n_buckets;               /* power of two                        */
    size_t table_bytes;             /* bucket array, counted               */
    cache_counters_t counters;      /* for the stats                       */
};

static void
s_sync_bytes (cache_t *self)
{
    self->counters.bytes = self->table_bytes + self->used;
}

cache_t *
cache_new (size_t max_bytes)
{
    cache_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max_bytes = max_bytes;
    if (max_bytes < MIN_BUCKETS * sizeof (rec_t *) * 4)
        return self;                /* disabled: too small to hold anything */
    size_t n = MIN_BUCKETS;
    while (n < max_bytes / BYTES_PER_BUCKET)
        n *= 2;
    size_t cap = (max_bytes - n * sizeof (rec_t *)) & ~(size_t) (ALIGN - 1);
    self->buckets = calloc (n, sizeof *self->buckets);
    /*  Its own mapping: pages are touched as records first reach them and
        no other allocation ever lands between records.                   */
    void *ring = mmap (NULL, cap, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!self->buckets || ring == MAP_FAILED) {
        if (ring != MAP_FAILED)
            munmap (ring, cap);
        free (self->buckets);
        free (self);
        return NULL;
    }
    self->ring = ring;
    self->cap = cap;
    self->n_buckets = n;
    self->table_bytes = n * sizeof (rec_t *);
    s_sync_bytes (self);
    return self;
}

void
cache_destroy (cache_t **self_p)
{
    cache_t *self = *self_p;
    if (!self)
        return;
    if (self->ring)
        munmap (self->ring, self->cap);
    free (self->buckets);
    free (self);
    *self_p = NULL;
}

static rec_t **
s_chain (const cache_t *self, const cache_key_t *key)
{
    return &self->buckets [(size_t) key->lo & (self->n_buckets - 1)];
}

/*  The link that points at rec in its chain.                              */
static rec_t **
s_link (const cache_t *self, const rec_t *rec)
{
    rec_t **link = s_chain (self, &rec->key);
    while (*link != rec)
        link = &(*link)->next;
    return link;
}

/*  Unlinks a live record; its bytes stay in the ring until the tail
    passes them.                                                           */
static void
s_drop (cache_t *self, rec_t *rec)
{
    *s_link (self, rec) = rec->next;
    rec->flags = REC_DEAD;
    self->counters.entries--;
}

static rec_t *
s_find (const cache_t *self, const cache_key_t *key)
{
    if (!self->buckets)
        return NULL;
    rec_t *rec = *s_chain (self, key);
    while (rec && !cache_key_equal (&rec->key, key))
        rec = rec->next;
    return rec;
}

/*  Frees the oldest record's bytes: dead records and pads just go, an
    expired entry is a "ttl" eviction, a referenced live one (read since
    it was written or last moved) is moved to the head (second chance),
    any other a "memory" eviction. Called only when used > 0.             */
static void
s_reclaim (cache_t *self, uint64_t now_us)
{
    if (self->cap - self->tail < HDR) {     /* implicit pad at the end     */
        self->used -= self->cap - self->tail;
        self->tail = 0;
        return;
    }
    rec_t *rec = (rec_t *) (self->ring + self->tail);
    size_t len = rec->len;
    if (rec->flags & REC_LIVE) {
        if (now_us >= rec->expires_us) {
            self->counters.evicted_ttl++;
            s_drop (self, rec);
        }
        else
        if ((rec->flags & REC_REF) && self->head <= self->tail
        &&  (self->head < self->tail || self->used == self->cap)) {
            /*  The head is right behind it (the free gap is between):
                slide it down to the head, it becomes the newest.          */
            rec_t **link = s_link (self, rec);
            rec_t *moved = (rec_t *) (self->ring + self->head);
            memmove (moved, rec, len);
            moved->flags = REC_LIVE;
            *link = moved;
            self->head += len;
            if (self->head == self->cap)
                self->head = 0;
            self->tail += len;
            if (self->tail == self->cap)
                self->tail = 0;
            return;                 /* used unchanged                      */
        }
        else {
            self->counters.evicted_memory++;
            s_drop (self, rec);
        }
    }
    self->tail += len;
    if (self->tail == self->cap)
        self->tail = 0;
    self->used -= len;
}

/*  Room for len contiguous bytes at the head, evicting from the tail.     */
static rec_t *
s_alloc (cache_t *self, size_t len, uint64_t now_us)
{
    while (true) {
        if (self->used == 0)
            self->head = self->tail = 0;
        if (self->used == 0 || self->head > self->tail) {
            if (len <= self->cap - self->head)
                break;
            /*  Does not fit before the end: the rest of the ring is a pad
                (a header saying so when there is room for one).           */
            size_t rest = self->cap - self->head;
            if (rest >= HDR) {
                rec_t *pad = (rec_t *) (self->ring + self->head);
                pad->flags = REC_PAD;
                pad->len = (uint32_t) rest;
            }
            self->used += rest;
            self->head = 0;
            continue;
        }
        if (self->used < self->cap && len <= self->tail - self->head)
            break;
        s_reclaim (self, now_us);
    }
    rec_t *rec = (rec_t *) (self->ring + self->head);
    self->head += len;
    if (self->head == self->cap)
        self->head = 0;
    self->used += len;
    return rec;
}

int
cache_put (cache_t *self, const cache_key_t *key, const void *value, size_t size,
           uint64_t expires_us, uint64_t now_us)
{
    if (!self->buckets)
        return -1;                  /* disabled                            */
    rec_t *old = s_find (self, key);
    if (old)
        s_drop (self, old);
    if (size > self->cap)
        return -1;
    size_t len = (HDR + size + ALIGN - 1) & ~(size_t) (ALIGN - 1);
    if (len > self->cap || len > UINT32_MAX)
        return -1;
    rec_t *rec = s_alloc (self, len, now_us);
    rec->key = *key;
    rec->expires_us = expires_us;
    rec->len = (uint32_t) len;
    rec->size = (uint32_t) size;
    rec->flags = REC_LIVE;
    memcpy (rec + 1, value, size);
    rec_t **chain = s_chain (self, key);
    rec->next = *chain;
    *chain = rec;
    self->counters.entries++;
    s_sync_bytes (self);
    return 0;
}

const void *
cache_get (cache_t *self, const cache_key_t *key, uint64_t now_us, size_t *size)
{
    rec_t *rec = s_find (self, key);
    if (!rec)
        return NULL;
    if (now_us >= rec->expires_us) {
        self->counters.evicted_ttl++;
        s_drop (self, rec);
        return NULL;
    }
    rec->flags |= REC_REF;
    *size = rec->size;
    return rec + 1;
}

void
cache_remove (cache_t *self, const cache_key_t *key)
{
    rec_t *rec = s_find (self, key);
    if (rec)
        s_drop (self, rec);
}

void
cache_expire (cache_t *self, uint64_t now_us, size_t max_checks)
{
    if (!self->buckets)
        return;
    /*  Expired entries become dead; dead bytes at the tail are handed back
        to the free gap at once.                                          */
    size_t pos = self->tail, left = self->used;
    bool at_tail = true;
    for (size_t checked = 0; left > 0 && checked < max_checks; checked++) {
        if (self->cap - pos < HDR) {
            left -= self->cap - pos;
            pos = 0;
            if (at_tail)
                s_reclaim (self, now_us);
            continue;
        }
        rec_t *rec = (rec_t *) (self->ring + pos);
        if ((rec->flags & REC_LIVE) && now_us >= rec->expires_us) {
            self->counters.evicted_ttl++;
            s_drop (self, rec);
        }
        size_t len = rec->len;
        if (at_tail && !(rec->flags & REC_LIVE))
            s_reclaim (self, now_us);
        else
            at_tail = false;
        left -= len;
        pos += len;
        if (pos == self->cap)
            pos = 0;
    }
    s_sync_bytes (self);
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
