/*  cache_flow.h -- the response cache in the broker's request path.

    Glue between the broker and the cache modules (cache_key.h: the key,
    cache.h: the in-memory L1 store, cache_redis.h: the shared L2 tier).
    Its hooks, one line each in the broker's files:

      broker_clients.c  REQUEST  cache_flow_plan: policy, TTL and key.
                        cache_flow_admit, on the new record (so tenant
                        admission and rate limits apply to hits too): L1
                        lookup, a hit is answered at once (a streaming
                        request gets the answer as PARTIAL chunks, then
                        FINAL); else joins an identical request already
                        queued or in flight (single flight), or waits for
                        a Redis lookup, or lets the broker dispatch it (as
                        the leader that identical requests will join).
      broker_workers.c  PARTIAL  cache_flow_partial: passes a leader's
                        chunks to its streaming followers.
                        FINAL    cache_flow_final: stores a complete answer
                        (finish_reason stop or length) in L1 and Redis and
                        answers every follower with it.
      dispatch.c        dispatch_release -> cache_flow_release: a follower
                        leaves its leader; a leader that ends without an
                        answer (error, timeout, cancel) sets its followers
                        free, and cache_flow_promote (end of
                        dispatch_release) dispatches each on its own.
      broker.c          poll loop: cache_flow_socket / cache_flow_redis_input
                        for Redis replies; cache_flow_tick sweeps expiry.

    Followers are ordinary request records (state REQ_NEW, in no queue):
    they keep their own deadline timers and can be cancelled on their own;
    the leader is not affected. A streaming follower that joins late first
    gets one PARTIAL (seq 0) with the text streamed so far, then the
    leader's chunks (with the leader's seq numbers) as they come.

    Per request cost: a key hash (O(request size)), O(1) lookups; one
    small allocation for a request the cache follows (a miss).
*/
#ifndef LLMQ_BROKER_CACHE_FLOW_H_INCLUDED
#define LLMQ_BROKER_CACHE_FLOW_H_INCLUDED

#include "cache_config.h"
#include "cache_key.h"
#include "llmq_proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct broker broker_t;
typedef struct cache_flow cache_flow_t;
struct request;

/*  What the cache does with one request (filled by cache_flow_request).   */
typedef struct {
    cache_key_t key;                /* the request's cache key             */
    bool read;                      /* may be answered from the cache      */
    bool write;                     /* its answer is stored                */
    bool only_if_cached;            /* never dispatched                    */
    uint32_t ttl_ms;                /* for the stored answer               */
} cache_plan_t;

/*  NULL (logged) when out of memory or the Redis URL is bad. stats is the
    broker's, kept up to date.                                             */
cache_flow_t *cache_flow_new (void *ctx, const cache_config_t *config, cache_stats_t *stats);
void cache_flow_destroy (cache_flow_t **self_p);
/*  The Redis pipe to poll, NULL without Redis.                             */
void *cache_flow_socket (cache_flow_t *self);

void cache_flow_plan (broker_t *broker, const llmq_wire_request_t *msg, cache_plan_t *plan);
bool cache_flow_admit (broker_t *broker, struct request *req, const cache_plan_t *plan);
void cache_flow_partial (broker_t *broker, struct request *req, const llmq_partial_t *msg);
void cache_flow_final (broker_t *broker, struct request *req, const llmq_final_t *msg);
void cache_flow_release (broker_t *broker, struct request *req);
void cache_flow_promote (broker_t *broker);
void cache_flow_redis_input (broker_t *broker);
void cache_flow_tick (broker_t *broker, uint64_t now_us);

/*  Splits text for a streamed replay: the length of the next chunk at
    text (>= 1 when len >= 1), cut after whitespace and never inside a
    UTF-8 sequence. Public for the tests.                                  */
size_t cache_flow_chunk (const char *text, size_t len);

#endif
