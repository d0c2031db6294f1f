/*  requests.c -- request slab + key index; see requests.h.  */
#include "requests.h"
#include "timers.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define PAGE_SHIFT  10
#define PAGE_SLOTS  (1u << PAGE_SHIFT)
#define NO_SLOT     UINT32_MAX

struct requests {
    request_t **pages;              /* PAGE_SLOTS slots each, never moved  */
    uint32_t n_pages;               /* pages allocated                     */
    uint32_t pages_alloc;           /* room in pages[]                     */
    uint32_t free_head;             /* first free slot, NO_SLOT = none     */
    size_t count;                   /* slots in use                        */
    uint32_t *buckets;              /* key index heads, NO_SLOT = empty    */
    size_t n_buckets;               /* power of two                        */
    size_t n_indexed;               /* requests in the key index           */
};

static request_t *
s_slot (const requests_t *self, uint32_t index)
{
    return &self->pages[index >> PAGE_SHIFT][index & (PAGE_SLOTS - 1)];
}

requests_t *
requests_new (void)
{
    requests_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->free_head = NO_SLOT;
    self->n_buckets = 1024;
    self->buckets = malloc (self->n_buckets * sizeof *self->buckets);
    if (!self->buckets) {
        free (self);
        return NULL;
    }
    memset (self->buckets, 0xff, self->n_buckets * sizeof *self->buckets);
    return self;
}

void
requests_destroy (requests_t **self_p)
{
    requests_t *self = *self_p;
    if (!self)
        return;
    for (uint32_t p = 0; p < self->n_pages; p++) {
        for (uint32_t i = 0; i < PAGE_SLOTS; i++) {
            request_t *req = &self->pages[p][i];
            if (req->state != REQ_FREE) {
                zmq_msg_close (&req->route);
                zmq_msg_close (&req->frame);
            }
        }
        free (self->pages[p]);
    }
    free (self->pages);
    free (self->buckets);
    free (self);
    *self_p = NULL;
}

/*  Adds one page of free slots; -1 when out of memory or indexes.         */
static int
s_add_page (requests_t *self)
{
    if ((uint64_t) (self->n_pages + 1) * PAGE_SLOTS >= NO_SLOT)
        return -1;
    if (self->n_pages == self->pages_alloc) {
        uint32_t alloc = self->pages_alloc ? self->pages_alloc * 2 : 16;
        request_t **pages = realloc (self->pages, alloc * sizeof *pages);
        if (!pages)
            return -1;
        self->pages = pages;
        self->pages_alloc = alloc;
    }
    request_t *page = calloc (PAGE_SLOTS, sizeof *page);
    if (!page)
        return -1;
    uint32_t base = self->n_pages << PAGE_SHIFT;
    self->pages[self->n_pages++] = page;
    for (uint32_t i = PAGE_SLOTS; i-- > 0;) {
        page[i].index = base + i;
        page[i].generation = 1;
        page[i].next = self->free_head;
        self->free_head = base + i;
    }
    return 0;
}

request_t *
requests_alloc (requests_t *self)
{
    if (self->free_head == NO_SLOT && s_add_page (self))
        return NULL;
    request_t *req = s_slot (self, self->free_head);
    self->free_head = req->next;
    self->count++;
    req->next = NO_SLOT;
    req->indexed = false;
    req->key_hash = 0;
    zmq_msg_init (&req->route);
    zmq_msg_init (&req->frame);
    req->id_off = req->id_len = req->raw_off = req->raw_size = 0;
    req->state = REQ_NEW;
    qnode_init (&req->link);
    req->model = NULL;
    req->worker = NULL;
    req->stream = false;
    req->attempts = 0;
    req->accepted_us = req->dispatched_us = req->deadline_us = req->broker_us = 0;
    req->deadline_timer = TIMER_NONE;
    req->grace_timer = TIMER_NONE;
    memset (&req->sched, 0, sizeof req->sched);
    memset (&req->mon, 0, sizeof req->mon);
    req->cache = NULL;
    return req;
}

int
request_attach (request_t *req, zmq_msg_t *route, const zmq_msg_t *frame,
                const char *id, uint32_t id_len,
                const void *raw, size_t raw_size)
{
    /*  Offsets, not pointers: they stay right in the copy, and a small
        message lives inside the zmq_msg_t itself, so its bytes move.      */
    const char *base = zmq_msg_data ((zmq_msg_t *) frame);
    size_t size = zmq_msg_size ((zmq_msg_t *) frame);
    assert (id_len == 0 || (id >= base && id + id_len <= base + size));
    assert ((const char *) raw >= base && (const char *) raw + raw_size <= base + size);
    zmq_msg_close (&req->frame);
    if (zmq_msg_init_size (&req->frame, size)) {
        zmq_msg_init (&req->frame);
        return -1;
    }
    memcpy (zmq_msg_data (&req->frame), base, size);
    req->id_off = id_len ? (uint32_t) (id - base) : 0;
    req->id_len = id_len;
    req->raw_off = (uint32_t) ((const char *) raw - base);
    req->raw_size = (uint32_t) raw_size;
    zmq_msg_move (&req->route, route);
    return 0;
}

static uint64_t
s_key_hash (const void *route, size_t route_len, const char *id, size_t id_len)
{
    return XXH3_64bits_withSeed (id, id_len, XXH3_64bits (route, route_len));
}

/*  Doubles the bucket array and relinks every indexed request. Keeps the
    old array when out of memory: chains just get longer.                  */
static void
s_rehash (requests_t *self)
{
    size_t n = self->n_buckets * 2;
    uint32_t *buckets = malloc (n * sizeof *buckets);
    if (!buckets)
        return;
    memset (buckets, 0xff, n * sizeof *buckets);
    for (size_t b = 0; b < self->n_buckets; b++) {
        uint32_t index = self->buckets[b];
        while (index != NO_SLOT) {
            request_t *req = s_slot (self, index);
            index = req->next;
            size_t nb = req->key_hash & (n - 1);
            req->next = buckets[nb];
            buckets[nb] = req->index;
        }
    }
    free (self->buckets);
    self->buckets = buckets;
    self->n_buckets = n;
}

void
requests_index (requests_t *self, request_t *req)
{
    assert (req->state != REQ_FREE && !req->indexed);
    size_t route_len;
    uint32_t id_len;
    const void *route = request_route (req, &route_len);
    const char *id = request_id (req, &id_len);
    assert (!requests_find (self, route, route_len, id, id_len));
    if (self->n_indexed >= self->n_buckets)
        s_rehash (self);
    req->key_hash = s_key_hash (route, route_len, id, id_len);
    size_t b = req->key_hash & (self->n_buckets - 1);
    req->next = self->buckets[b];
    self->buckets[b] = req->index;
    req->indexed = true;
    self->n_indexed++;
}

static void
s_unindex (requests_t *self, request_t *req)
{
    uint32_t *link = &self->buckets[req->key_hash & (self->n_buckets - 1)];
    while (*link != req->index) {
        assert (*link != NO_SLOT);
        link = &s_slot (self, *link)->next;
    }
    *link = req->next;
    req->indexed = false;
    self->n_indexed--;
}

static void
s_next_generation (request_t *req)
{
    if (++req->generation == 0)
        req->generation = 1;
}

void
requests_free (requests_t *self, request_t *req)
{
    assert (req->state != REQ_FREE);
    assert (!qnode_linked (&req->link));
    if (req->indexed)
        s_unindex (self, req);
    zmq_msg_close (&req->route);
    zmq_msg_close (&req->frame);
    req->state = REQ_FREE;
    s_next_generation (req);
    req->next = self->free_head;
    self->free_head = req->index;
    self->count--;
}

uint64_t
requests_renew (requests_t *self, request_t *req)
{
    (void) self;
    assert (req->state != REQ_FREE);
    s_next_generation (req);
    return request_rid (req);
}

request_t *
requests_lookup (requests_t *self, uint64_t rid)
{
    uint32_t index = (uint32_t) rid;
    uint32_t generation = (uint32_t) (rid >> 32);
    if (index >= requests_slots (self))
        return NULL;
    request_t *req = s_slot (self, index);
    if (req->state == REQ_FREE || req->generation != generation)
        return NULL;
    return req;
}

request_t *
requests_find (requests_t *self, const void *route, size_t route_len,
               const char *id, size_t id_len)
{
    uint64_t hash = s_key_hash (route, route_len, id, id_len);
    uint32_t index = self->buckets[hash & (self->n_buckets - 1)];
    while (index != NO_SLOT) {
        request_t *req = s_slot (self, index);
        size_t rlen;
        uint32_t ilen;
        const void *rbytes = request_route (req, &rlen);
        const char *ibytes = request_id (req, &ilen);
        if (req->key_hash == hash && rlen == route_len && ilen == id_len
        &&  memcmp (rbytes, route, rlen) == 0 && memcmp (ibytes, id, ilen) == 0)
            return req;
        index = req->next;
    }
    return NULL;
}

uint32_t
requests_slots (const requests_t *self)
{
    return self->n_pages << PAGE_SHIFT;
}

request_t *
requests_at (requests_t *self, uint32_t index)
{
    if (index >= requests_slots (self))
        return NULL;
    request_t *req = s_slot (self, index);
    return req->state == REQ_FREE ? NULL : req;
}

size_t
requests_count (const requests_t *self)
{
    return self->count;
}

uint64_t
request_rid (const request_t *req)
{
    return (uint64_t) req->generation << 32 | req->index;
}

const char *
request_id (const request_t *req, uint32_t *len)
{
    *len = req->id_len;
    return (const char *) zmq_msg_data ((zmq_msg_t *) &req->frame) + req->id_off;
}

const void *
request_raw (const request_t *req, size_t *size)
{
    *size = req->raw_size;
    return (const char *) zmq_msg_data ((zmq_msg_t *) &req->frame) + req->raw_off;
}

const void *
request_route (const request_t *req, size_t *len)
{
    *len = zmq_msg_size ((zmq_msg_t *) &req->route);
    return zmq_msg_data ((zmq_msg_t *) &req->route);
}
