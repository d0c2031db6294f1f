/*  cache.h -- the broker's in-memory response cache (L1).

    Maps a cache key (cache_key.h) to one stored answer: the packed FINAL
    frame the broker replays on a hit. Each entry is ONE record (a 48-byte
    header, then the answer, padded to 16 bytes), never a tree of small
    allocations.

    Memory: the records live in a ring log the cache owns: ONE anonymous
    mapping of the budget (minus the bucket array), written head to tail
    like a circular log; pages become resident as the head first reaches
    them. Nothing else is ever allocated between records, so churn cannot
    fragment the heap: the broker's resident memory grows by at most the
    budget plus a fixed base (the bucket array is inside the budget; the
    base is this struct and the mapping's last partial page), whatever the
    answers' sizes and however often entries are replaced. Measured with
    tests/bench/cache_memory.sh: RSS growth / budget = 0.97-1.01 at 4 MiB,
    1.000-1.003 at 64 MiB (per-entry malloc, before: up to 1.16).
    Budget accounting: `bytes` = bucket array + ring bytes between tail
    and head (live records, and dead ones not yet reclaimed); it never
    exceeds max_bytes. A put that does not fit reclaims records from the
    tail; an answer larger than the ring is not stored.

    Eviction order: second chance (CLOCK) instead of exact LRU, the
    trade-off of the ring. A get only sets a "referenced" bit (no list
    relinking, the pointer it returns stays put); when the tail reaches a
    referenced live record it is moved to the head once (a memmove of its
    bytes) and the bit cleared; an unreferenced one is evicted ("memory").
    So an entry read since it was written or last moved survives a full
    turn of the ring, as with LRU for the usual hot/cold mix, but among
    entries not read since, eviction is oldest-written first. Costs: a
    removed or replaced entry's bytes stay counted until the tail passes
    them (at most one turn of the ring), the end of the ring left over
    when a record does not fit before it is padding (less than one answer),
    the ring's virtual size (the budget) is reserved at cache_new
    (MAP_NORESERVE: no commit until touched), and pages once touched stay
    resident when entries expire (never more than the budget).

    TTL: every entry has its own expiry time. An expired entry is dropped
    when a get finds it, when the tail end is swept (cache_expire, a
    bounded amount of work per call) or when the tail reaches it; it is
    never returned. Expired entries still count against the budget until
    the tail passes them, which is why reclaiming takes them first when it
    meets them ("ttl" evictions). A full expiry order (a heap) would cost
    O(log n) per put for little gain: the tail is where expired entries
    collect.

    Complexity: get, put, remove O(1) expected (chained hash with a fixed
    array of one bucket per 512 budget bytes, about 1.6% of the budget, so
    chains stay short even with the smallest records); eviction O(1) per
    record reclaimed, plus one copy per get at most (a moved record),
    amortised over the gets. Budget 0 (or under 2 KiB) = disabled:
    nothing is stored.
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
    entry), reclaiming records from the tail as needed. 0, or -1 when it is not stored
    (disabled, larger than the budget, out of memory). now_us tells an
    eviction of an expired entry (ttl) from one of a live entry (memory).                     */
int cache_put (cache_t *self, const cache_key_t *key, const void *value, size_t size,
               uint64_t expires_us, uint64_t now_us);
/*  The value for key and its size (16-byte aligned), and marks it
    referenced (kept by the next eviction pass); NULL when absent or
    expired at now_us. Valid until the next put, remove or expire.                                                                */
const void *cache_get (cache_t *self, const cache_key_t *key, uint64_t now_us, size_t *size);
/*  Drops the entry for key, if any.                                       */
void cache_remove (cache_t *self, const cache_key_t *key);
/*  Drops expired entries found at the tail (oldest) end, at most
    max_checks looked at.                                                                    */
void cache_expire (cache_t *self, uint64_t now_us, size_t max_checks);

size_t cache_max_bytes (const cache_t *self);
const cache_counters_t *cache_counters (const cache_t *self);

#endif
