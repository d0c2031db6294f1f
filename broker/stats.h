/*  stats.h -- the broker's counters and the STATS_REPLY snapshot.

    Counters are plain integers bumped on the hot path (no locks: the
    broker is one thread). The snapshot is built on demand from the
    counters plus the live tables, so it costs O(models + workers) only
    when a monitor asks. A later issue exports the same numbers to
    Prometheus from this module.

    Snapshot (a msgpack map, see proto/PROTOCOL.md "STATS_REPLY"):
      version, uptime_ms,
      requests {received, answered, errors {name: n}, resends, replayed,
                cancelled, malformed, dropped_replies, send_failures},
      queued, in_flight, queues {model: length},
      workers [{id, models, slots, in_flight, state, heartbeat_age_ms,
                served, ttft_ewma_us, error_rate, total_ewma_us,
                upstream_429, backend_state}],
      cache {hits, misses, coalesced, stores, not_cached, evictions {ttl,
             memory}, entries, bytes, max_bytes, redis_errors, redis {...}}
             (cache_config.h, written by cache_stats_write)
    and, when the broker's monitor is given (stats_snapshot_view):
      requests.cached, requests.error_total,
      config {endpoints and limits}, oldest_queued_ms {model: age},
      queued_by_priority {model: {priority: n}} (O(queued) walk),
      by_model / by_tenant / by_priority {name: {received, answered,
                cached, errors {name: n, non-zero only}, error_total,
                prompt_tokens, completion_tokens}},
      tokens {prompt, completion},
      latency_us {window_ms, queue|ttft|tpot|total|broker:
                {count, mean, p50, p90, p99, p999, max}}
    Building it is O(models + workers + labels + histogram buckets).
*/
#ifndef LLMQ_BROKER_STATS_H_INCLUDED
#define LLMQ_BROKER_STATS_H_INCLUDED

#include "llmq_proto.h"
#include "models.h"
#include "monitor.h"
#include "workers.h"
#include "cache_config.h"

#include <stdint.h>

typedef struct {
    uint64_t received;              /* REQUEST frames from clients         */
    uint64_t answered;              /* FINALs delivered to clients         */
    uint64_t errors[LLMQ_ERR__COUNT];   /* ERRORs sent, by code            */
    uint64_t resends;               /* REQUESTs for a request we hold      */
    uint64_t replayed;              /* resends answered with a kept FINAL  */
    uint64_t cancelled;             /* requests cancelled by their client  */
    uint64_t malformed;             /* frames we could not use             */
    uint64_t dropped_replies;       /* stale worker replies, never passed on */
    uint64_t send_failures;         /* sends refused (peer gone, HWM)      */
    cache_stats_t cache;            /* response cache: the "cache" map     */
} stats_t;

/*  The configuration a snapshot reports (strings may be NULL).           */
typedef struct {
    const char *clients_ep, *workers_ep, *stats_ep;     /* bound endpoints */
    const char *stats_pub_ep;       /* PUB endpoint bound, NULL when off   */
    const char *metrics_listen;     /* HOST:PORT bound, NULL when off      */
    const char *log_format;         /* request log format                  */
    uint32_t stats_interval_ms;     /* PUB and /metrics refresh            */
    uint32_t request_timeout_ms, max_timeout_ms, no_worker_grace_ms;
    uint32_t max_attempts, heartbeat_ms, liveness;
    uint64_t max_queue;
} stats_config_t;

/*  Everything a snapshot (or the Prometheus text) is made from.           */
typedef struct {
    const stats_t *stats;           /* counters                            */
    const monitor_t *monitor;       /* NULL: the base snapshot only        */
    const stats_config_t *config;   /* NULL: no "config" key               */
    uint64_t uptime_ms;             /* since the broker started            */
    uint64_t now_us;                /* llmq_now_us () of the snapshot      */
    models_t *models;               /* queues                              */
    const workers_t *workers;       /* workers                             */
    struct sched *sched;            /* NULL: no "scheduler" key            */
} stats_view_t;

/*  Writes the full STATS_REPLY frame of view into buf. 0, or -1 when out
    of memory.                                                             */
int stats_snapshot_view (const stats_view_t *view, llmq_buf_t *buf);

/*  Counts model's queued requests by the priority level they wait at now
    (after aging) into counts[LLMQ_PRIO__COUNT]. O(queued of the model):
    paid once per snapshot, never on the request path.                     */
void stats_queue_levels (const model_t *model, uint64_t counts[LLMQ_PRIO__COUNT]);

/*  Writes a STATS_REPLY frame into buf. 0, or -1 when out of memory.       */
int stats_snapshot (const stats_t *stats, uint64_t uptime_ms, uint64_t now_us,
                    models_t *models, const workers_t *workers, llmq_buf_t *buf);

#endif
