/*  cache.h -- the broker's in-memory response cache (L1).

    Maps a cache key (cache_key.h) to one stored answer: the packed FINAL
    frame the broker replays on a hit. Each entry is ONE allocation
    holding its header and the frame bytes, so an entry costs its answer
    plus ~80 bytes, never a tree of small allocations.

    Bounded by a byte budget that covers the entries AND the bucket array,
    each entry counted at the allocator's real block size (header and
    rounding included, malloc_usable_size), so the budget bounds what the
    process holds: the counted bytes never exceed max_bytes. A put that does not fit evicts least
    recently used entries first ("memory" evictions); an answer larger
    than the whole budget is not stored.

    TTL: every entry has its own expiry time. An expired entry is dropped
    when a get finds it, when the LRU end is swept (cache_expire, a
    bounded amount of work per call) or when it is evicted; it is never
    returned. Expired entries still count against the budget until then,
    which is why eviction takes them first when it meets them ("ttl"
    evictions). A full expiry order (a heap) would cost O(log n) per put
    for little gain: the LRU end is where expired entries collect.

    Complexity: get, put, remove O(1) expected (chained hash, the buckets
    double when entries outnumber them, an O(n) rehash amortised over the
    puts); eviction O(1) per entry evicted. Budget 0 = disabled: nothing
    is stored.
*/
#ifndef LLMQ_BROKER_CACHE_H_INCLUDED
#define LLMQ_BROKER_CACHE_H_INCLUDED

#include "cache_key.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t evicted_ttl;           /* entries dropped because expired     */
    uint64_t evicted_memory;        /* entries dropped to make room        */
    uint64_t entries;               /* entries held                        */
    uint64_t bytes;                 /* memory counted against the budget   */
} cache_counters_t;

typedef struct cache cache_t;

/*  NULL when out of memory.                                               */
cache_t *cache_new (size_t max_bytes);
void cache_destroy (cache_t **self_p);

/*  Stores a copy of value under key until expires_us (replacing any older
    entry), evicting LRU entries as needed. 0, or -1 when it is not stored
    (disabled, larger than the budget, out of memory). now_us tells an
    eviction of an expired entry (ttl) from one of a live entry (memory).                     */
int cache_put (cache_t *self, const cache_key_t *key, const void *value, size_t size,
               uint64_t expires_us, uint64_t now_us);
/*  The value for key and its size, and marks it most recently used; NULL
    when absent or expired at now_us. Valid until the next put, remove or
    expire.                                                                */
const void *cache_get (cache_t *self, const cache_key_t *key, uint64_t now_us, size_t *size);
/*  Drops the entry for key, if any.                                       */
void cache_remove (cache_t *self, const cache_key_t *key);
/*  Drops expired entries found at the LRU end, at most max_checks looked
    at.                                                                    */
void cache_expire (cache_t *self, uint64_t now_us, size_t max_checks);

size_t cache_max_bytes (const cache_t *self);
const cache_counters_t *cache_counters (const cache_t *self);

#endif
