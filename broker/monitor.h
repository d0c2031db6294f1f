/*  monitor.h -- what the broker records per request for monitoring:
    outcomes and tokens by model, tenant and priority, and latency
    histograms (time in queue, time to first token, time per output
    token, total time, broker overhead).

    Pure data, no sockets: the broker calls monitor_accept when it takes
    a request and monitor_end when the request ends (answer or error);
    the stats snapshot (stats.c), the Prometheus text (metrics_text.c)
    and the request log (reqlog.h) read it. One thread, no locks.

    Label cardinality is bounded: models and tenants named in the config
    get their labels first (monitor_new_known); other models (and,
    separately, tenants; "default", for requests that name none, is
    always the first) get their own label while fewer than max_labels
    are in use; later names are
    counted under "other", so a client inventing names cannot grow the
    broker's memory or a Prometheus server's series count.

    Latencies are recorded once, per model, in cumulative histograms (the
    Prometheus histograms; allocated with the model's label). The recent
    window of the snapshot's percentiles is derived from them: the sum
    over models now, minus the sum as it was when the previous half of
    the window began (halves of window_ms, rotated by monitor_tick), so
    the percentiles cover between one and two windows of traffic.

    Complexity: accept O(1) expected (two lookups in open-addressed XXH3
    tables); end O(1): a few increments and five histogram records
    (about 150 ns in all, tests/bench/monitor_cost.c). Reading the window
    O(labels x buckets). Memory: max_labels x (counters + 5 histograms of
    ~7 KiB) for models, max_labels x counters for tenants, 70 KiB of
    window marks.
*/
#ifndef LLMQ_BROKER_MONITOR_H_INCLUDED
#define LLMQ_BROKER_MONITOR_H_INCLUDED

#include "histogram.h"
#include "llmq_proto.h"

#include <stdbool.h>
#include <stdint.h>

/*  The latencies recorded for every answered request.                     */
typedef enum {
    MON_QUEUE = 0,                  /* accepted -> dispatched (last)       */
    MON_TTFT,                       /* accepted -> first token             */
    MON_TPOT,                       /* per output token after the first    */
    MON_TOTAL,                      /* accepted -> FINAL                   */
    MON_BROKER,                     /* the broker's own time               */
    MON__COUNT
} monitor_metric_t;

/*  "queue", "ttft", "tpot", "total", "broker".                            */
const char *monitor_metric_name (monitor_metric_t metric);

/*  Counters of one label (a model, a tenant, a priority, or everything). */
typedef struct {
    uint64_t received;              /* requests accepted                   */
    uint64_t answered;              /* FINALs from a worker                */
    uint64_t cached;                /* FINALs served from a cache          */
    uint64_t errors[LLMQ_ERR__COUNT];   /* ERRORs by code                  */
    uint64_t error_total;           /* sum of errors[]                     */
    uint64_t prompt_tokens;         /* usage of answered/cached requests   */
    uint64_t completion_tokens;
} monitor_counts_t;

/*  A label and what it counted.                                           */
typedef struct {
    char *name;                     /* model or tenant name, or "other"    */
    monitor_counts_t counts;        /* by outcome, tokens                  */
    histogram_t *latency[MON__COUNT];   /* models only: cumulative         */
} monitor_label_t;

typedef struct monitor monitor_t;

#define MONITOR_OTHER "other"       /* the label past max_labels           */

/*  How a request ended, for monitor_end.                                  */
typedef struct {
    uint32_t code;                  /* LLMQ_ERR_NONE for an answer         */
    bool cached;                    /* answered from a cache               */
    const char *worker;             /* worker id, NULL when none           */
    uint32_t attempts;              /* dispatches                          */
    uint32_t prompt_tokens;         /* usage from the FINAL                */
    uint32_t completion_tokens;
    bool has_latency;               /* the times below were measured       */
    uint64_t queue_us;              /* accepted -> dispatched              */
    uint64_t ttft_us;               /* accepted -> first token (0: unknown)*/
    uint64_t total_us;              /* accepted -> end                     */
    uint64_t broker_us;             /* broker's own time                   */
} monitor_end_t;

/*  The labels a request was counted under (kept in its record).           */
typedef struct {
    uint16_t model;                 /* index into the model labels         */
    uint16_t tenant;                /* index into the tenant labels        */
    uint8_t priority;               /* llmq_priority_t                     */
    uint16_t messages;              /* --log-prompt-sizes: message count   */
    uint32_t prompt_bytes;          /* and bytes of their contents         */
} monitor_tag_t;

/*  max_labels >= 1 (models and tenants each, "other" not included);
    window_ms > 0. NULL when out of memory.                                */
monitor_t *monitor_new (uint32_t max_labels, uint32_t window_ms, uint64_t now_us);
/*  The same with the models and tenants the config names (NULL entries
    skipped): they get their labels first, whatever their number; names
    not known share what is left of max_labels, then fold into "other".   */
monitor_t *monitor_new_known (uint32_t max_labels, uint32_t window_ms, uint64_t now_us,
                              const char *const *models, size_t n_models,
                              const char *const *tenants, size_t n_tenants);
void monitor_destroy (monitor_t **self_p);

/*  A request was accepted: counts it and fills tag. model is
    NUL-terminated; tenant may be absent ("default").                      */
void monitor_accept (monitor_t *self, const char *model, llmq_str_t tenant,
                     uint32_t priority, monitor_tag_t *tag);
/*  A request ended.                                                       */
void monitor_end (monitor_t *self, const monitor_tag_t *tag, const monitor_end_t *end);
/*  A decoded request refused before the broker held it (shutting down,
    out of memory): counted as received and ended with code (an error)
    under its model, tenant and priority. O(1) expected.                   */
void monitor_refuse (monitor_t *self, llmq_str_t model, llmq_str_t tenant,
                     uint32_t priority, uint32_t code);
/*  Starts a new window half when the current one is full (call on a tick). */
void monitor_tick (monitor_t *self, uint64_t now_us);

/*  Reading (snapshot, Prometheus): the totals, the labels, and a merged
    view of the recent window (into out, which the caller provides).       */
monitor_counts_t monitor_totals (const monitor_t *self);     /* O(models) */
uint32_t monitor_models (const monitor_t *self);
const monitor_label_t *monitor_model (const monitor_t *self, uint32_t index);
uint32_t monitor_tenants (const monitor_t *self);
const monitor_label_t *monitor_tenant (const monitor_t *self, uint32_t index);
const monitor_counts_t *monitor_priority (const monitor_t *self, uint32_t priority);
void monitor_window (const monitor_t *self, monitor_metric_t metric, histogram_t *out);
/*  The window the percentiles cover so far, in ms.                        */
uint64_t monitor_window_ms (const monitor_t *self, uint64_t now_us);

/*  The label names of a tag (for the request log).                        */
const char *monitor_tag_model (const monitor_t *self, const monitor_tag_t *tag);
const char *monitor_tag_tenant (const monitor_t *self, const monitor_tag_t *tag);

#endif
