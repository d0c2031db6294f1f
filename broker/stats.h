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
                served, ttft_ewma_us, error_rate}]
*/
#ifndef LLMQ_BROKER_STATS_H_INCLUDED
#define LLMQ_BROKER_STATS_H_INCLUDED

#include "llmq_proto.h"
#include "models.h"
#include "workers.h"

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
} stats_t;

/*  Writes a STATS_REPLY frame into buf. 0, or -1 when out of memory.       */
int stats_snapshot (const stats_t *stats, uint64_t uptime_ms, uint64_t now_us,
                    models_t *models, const workers_t *workers, llmq_buf_t *buf);

#endif
