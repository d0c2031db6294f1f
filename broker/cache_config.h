/*  cache_config.h -- the response cache's settings and counters.

    Settings: one struct with defaults (cache_config_defaults), filled by
    llmq-broker's flags and mappable one to one from a config file:
      memory_bytes   --cache-memory BYTES     [64 MiB; 0 = no L1 cache]
      ttl_ms         --cache-ttl-ms MS        [3600000]
      max_ttl_ms     --cache-max-ttl-ms MS    [86400000] cap on a request's
      mode           --cache-policy deterministic|all|bypass [deterministic]
      by_tenant      --cache-namespace off|tenant [off]
      redis_url      --cache-redis URL        [none]
      redis_timeout_ms --cache-redis-timeout-ms MS [250]

    Counters: bumped by cache_flow.c, written as the "cache" map of the
    stats snapshot by cache_stats_write (see proto/PROTOCOL.md).
*/
#ifndef LLMQ_BROKER_CACHE_CONFIG_H_INCLUDED
#define LLMQ_BROKER_CACHE_CONFIG_H_INCLUDED

#include "llmq_proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  What a request with cache policy "default" gets.                       */
typedef enum {
    CACHE_MODE_DETERMINISTIC = 0,   /* read+write if temperature 0 or seed */
    CACHE_MODE_ALL,                 /* read+write every request            */
    CACHE_MODE_BYPASS               /* neither                             */
} cache_mode_t;

typedef struct {
    size_t memory_bytes;            /* L1 budget; 0 = no L1                */
    uint32_t ttl_ms;                /* TTL of a stored answer              */
    uint32_t max_ttl_ms;            /* cap on a request's cache_ttl_ms     */
    uint32_t mode;                  /* cache_mode_t                        */
    bool by_tenant;                 /* one namespace per tenant            */
    const char *redis_url;          /* L2; NULL = none (not owned)         */
    uint32_t redis_timeout_ms;      /* connect and command timeout         */
} cache_config_t;

void cache_config_defaults (cache_config_t *config);
/*  Sets one setting from its flag name without the dashes ("cache-memory";
    "cache_memory" works too, for config files) and its text value. 0, or
    -1 for a bad value or an unknown name (the caller reports it). Sizes
    take a K, M or G suffix (KiB, MiB, GiB). value is kept, not copied
    (cache-redis).                                                         */
int cache_config_set (cache_config_t *config, const char *name, const char *value);
/*  The --help lines of the cache flags.                                   */
extern const char cache_config_help [];
/*  "deterministic" (or "default"), "all", "bypass": 0 and *mode, or -1.    */
int cache_mode_from_name (const char *name, uint32_t *mode);
const char *cache_mode_name (uint32_t mode);

typedef struct {
    uint64_t hits;                  /* answered from L1 or L2              */
    uint64_t misses;                /* looked up, not found                */
    uint64_t coalesced;             /* joined an identical request         */
    uint64_t stores;                /* answers stored                      */
    uint64_t not_cached;            /* only-if-cached misses               */
    uint64_t evicted_ttl;           /* L1 entries dropped: expired         */
    uint64_t evicted_memory;        /* L1 entries dropped: budget          */
    uint64_t entries;               /* L1 entries held                     */
    uint64_t bytes;                 /* L1 memory used                      */
    uint64_t max_bytes;             /* L1 budget                           */
    uint64_t redis_hits;            /* of hits, from Redis                 */
    uint64_t redis_errors;          /* Redis commands failed               */
    bool redis_enabled;             /* --cache-redis given                 */
    bool redis_up;                  /* last command succeeded              */
} cache_stats_t;

/*  Writes "cache" and its map (one key/value pair of an enclosing map).    */
void cache_stats_write (llmq_writer_t *w, const cache_stats_t *stats);

#endif
