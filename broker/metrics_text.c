/*  metrics_text.c -- Prometheus exposition of the broker; see
    metrics_text.h.  */
#include "metrics_text.h"
#include "scheduler.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Histogram bounds, seconds: 10 us to 5 minutes, what an LLM gateway
    sees from its own overhead up to long generations.                     */
static const double s_bounds [] = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300
};
#define N_BOUNDS (sizeof s_bounds / sizeof s_bounds [0])

static void
s_vappend (metrics_text_t *t, const char *fmt, va_list args)
{
    if (t->failed)
        return;
    for (;;) {
        size_t room = t->alloc - t->size;
        va_list copy;
        va_copy (copy, args);
        int n = t->data ? vsnprintf (t->data + t->size, room, fmt, copy) : -1;
        va_end (copy);
        if (n >= 0 && (size_t) n < room) {
            t->size += (size_t) n;
            return;
        }
        size_t want = t->alloc ? t->alloc * 2 : 16384;
        if (n >= 0 && want < t->size + (size_t) n + 1)
            want = t->size + (size_t) n + 1;
        char *grown = realloc (t->data, want);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->data = grown;
        t->alloc = want;
    }
}

static void s_append (metrics_text_t *t, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_append (metrics_text_t *t, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    s_vappend (t, fmt, args);
    va_end (args);
}

/*  A label value with \ " and newline escaped, as the format wants. Names
    are at most LLMQ_MAX_NAME bytes; anything longer is cut.                */
static const char *
s_escape (const char *value, char *out, size_t size)
{
    size_t used = 0;
    for (const char *p = value; *p && used + 3 < size; p++) {
        if (*p == '\\' || *p == '"') {
            out [used++] = '\\';
            out [used++] = *p;
        }
        else
        if (*p == '\n') {
            out [used++] = '\\';
            out [used++] = 'n';
        }
        else
            out [used++] = *p;
    }
    out [used] = 0;
    return out;
}

static void
s_header (metrics_text_t *t, const char *name, const char *type, const char *help)
{
    s_append (t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
s_outcomes (metrics_text_t *t, const char *name, const char *label, const char *value,
            const monitor_counts_t *counts)
{
    char esc [2 * LLMQ_MAX_NAME + 8];
    s_escape (value, esc, sizeof esc);
    s_append (t, "%s{%s=\"%s\",outcome=\"answered\"} %" PRIu64 "\n", name, label, esc, counts->answered);
    s_append (t, "%s{%s=\"%s\",outcome=\"cached\"} %" PRIu64 "\n", name, label, esc, counts->cached);
    s_append (t, "%s{%s=\"%s\",outcome=\"error\"} %" PRIu64 "\n", name, label, esc, counts->error_total);
}

static void
s_tokens (metrics_text_t *t, const char *name, const char *label, const char *value,
          const monitor_counts_t *counts)
{
    char esc [2 * LLMQ_MAX_NAME + 8];
    s_escape (value, esc, sizeof esc);
    s_append (t, "%s{%s=\"%s\",type=\"input\"} %" PRIu64 "\n", name, label, esc, counts->prompt_tokens);
    s_append (t, "%s{%s=\"%s\",type=\"output\"} %" PRIu64 "\n", name, label, esc, counts->completion_tokens);
}

static void
s_counter (metrics_text_t *t, const char *name, const char *help, uint64_t value)
{
    s_header (t, name, "counter", help);
    s_append (t, "%s %" PRIu64 "\n", name, value);
}

static void
s_gauge (metrics_text_t *t, const char *name, const char *help, double value)
{
    s_header (t, name, "gauge", help);
    s_append (t, "%s %.17g\n", name, value);
}

/*  Does model label i hold anything worth a series? "other" (0) only when
    something was folded into it.                                          */
static bool
s_label_used (const monitor_label_t *label, uint32_t index)
{
    return index > 0 || label->counts.received > 0 || label->counts.error_total > 0;
}

static void
s_requests (metrics_text_t *t, const stats_view_t *view)
{
    const monitor_t *mon = view->monitor;
    const stats_t *stats = view->stats;
    s_counter (t, "llmq_requests_received_total", "REQUEST frames received from clients.",
               stats->received);

    monitor_counts_t sum = monitor_totals (mon);
    const monitor_counts_t *totals = &sum;
    s_header (t, "llmq_requests_total", "counter", "Requests ended, by outcome.");
    s_append (t, "llmq_requests_total{outcome=\"answered\"} %" PRIu64 "\n", totals->answered);
    s_append (t, "llmq_requests_total{outcome=\"cached\"} %" PRIu64 "\n", totals->cached);
    uint64_t errors = 0;
    for (uint32_t code = 1; code < LLMQ_ERR__COUNT; code++)
        errors += stats->errors [code];
    s_append (t, "llmq_requests_total{outcome=\"error\"} %" PRIu64 "\n", errors);

    s_header (t, "llmq_request_errors_total", "counter",
              "ERRORs sent to clients, by protocol error code.");
    for (uint32_t code = 1; code < LLMQ_ERR__COUNT; code++)
        s_append (t, "llmq_request_errors_total{code=\"%s\"} %" PRIu64 "\n",
                  llmq_errcode_name (code), stats->errors [code]);

    s_header (t, "llmq_model_requests_total", "counter",
              "Requests ended, by model and outcome.");
    for (uint32_t i = 0; i < monitor_models (mon); i++) {
        const monitor_label_t *label = monitor_model (mon, i);
        if (s_label_used (label, i))
            s_outcomes (t, "llmq_model_requests_total", "model", label->name, &label->counts);
    }
    s_header (t, "llmq_tenant_requests_total", "counter",
              "Requests ended, by tenant and outcome.");
    for (uint32_t i = 0; i < monitor_tenants (mon); i++) {
        const monitor_label_t *label = monitor_tenant (mon, i);
        if (s_label_used (label, i))
            s_outcomes (t, "llmq_tenant_requests_total", "tenant", label->name, &label->counts);
    }
    s_header (t, "llmq_priority_requests_total", "counter",
              "Requests ended, by priority and outcome.");
    for (uint32_t prio = 0; prio < LLMQ_PRIO__COUNT; prio++)
        s_outcomes (t, "llmq_priority_requests_total", "priority", llmq_priority_name (prio),
                    monitor_priority (mon, prio));

    s_header (t, "llmq_token_usage_total", "counter",
              "Tokens used by answered requests, by model and type (input, output); "
              "OpenTelemetry gen_ai.client.token.usage.");
    for (uint32_t i = 0; i < monitor_models (mon); i++) {
        const monitor_label_t *label = monitor_model (mon, i);
        if (s_label_used (label, i))
            s_tokens (t, "llmq_token_usage_total", "model", label->name, &label->counts);
    }
    s_header (t, "llmq_tenant_token_usage_total", "counter",
              "Tokens used by answered requests, by tenant and type.");
    for (uint32_t i = 0; i < monitor_tenants (mon); i++) {
        const monitor_label_t *label = monitor_tenant (mon, i);
        if (s_label_used (label, i))
            s_tokens (t, "llmq_tenant_token_usage_total", "tenant", label->name, &label->counts);
    }
    s_counter (t, "llmq_resends_total", "REQUESTs for a request the broker held or just answered.",
               stats->resends);
    s_counter (t, "llmq_replayed_total", "Resends answered with a kept FINAL.", stats->replayed);
    s_counter (t, "llmq_cancelled_total", "Requests cancelled by their client.", stats->cancelled);
    s_counter (t, "llmq_malformed_total", "Frames the broker could not use.", stats->malformed);
    s_counter (t, "llmq_dropped_replies_total", "Stale worker replies dropped.",
               stats->dropped_replies);
    s_counter (t, "llmq_send_failures_total", "Sends refused (peer gone, queue full).",
               stats->send_failures);
}

static void
s_histogram (metrics_text_t *t, const char *name, const char *help, monitor_metric_t metric,
             const monitor_t *mon)
{
    s_header (t, name, "histogram", help);
    char esc [2 * LLMQ_MAX_NAME + 8];
    for (uint32_t i = 0; i < monitor_models (mon); i++) {
        const monitor_label_t *label = monitor_model (mon, i);
        const histogram_t *h = label->latency [metric];
        if (!h || !s_label_used (label, i))
            continue;
        s_escape (label->name, esc, sizeof esc);
        for (size_t b = 0; b < N_BOUNDS; b++)
            s_append (t, "%s_bucket{model=\"%s\",le=\"%g\"} %" PRIu64 "\n", name, esc,
                      s_bounds [b], histogram_count_le (h, (uint64_t) (s_bounds [b] * 1e6 + 0.5)));
        s_append (t, "%s_bucket{model=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", name, esc, h->total);
        s_append (t, "%s_sum{model=\"%s\"} %.9g\n", name, esc, (double) h->sum / 1e6);
        s_append (t, "%s_count{model=\"%s\"} %" PRIu64 "\n", name, esc, h->total);
    }
}

static void
s_latencies (metrics_text_t *t, const monitor_t *mon)
{
    s_histogram (t, "llmq_request_queue_seconds",
                 "Time from acceptance to (last) dispatch to a worker.", MON_QUEUE, mon);
    s_histogram (t, "llmq_time_to_first_token_seconds",
                 "Time from acceptance to the first token; "
                 "OpenTelemetry gen_ai.server.time_to_first_token.", MON_TTFT, mon);
    s_histogram (t, "llmq_time_per_output_token_seconds",
                 "Generation time per output token after the first; "
                 "OpenTelemetry gen_ai.server.time_per_output_token.", MON_TPOT, mon);
    s_histogram (t, "llmq_request_duration_seconds",
                 "Time from acceptance to the answer; "
                 "OpenTelemetry gen_ai.server.request.duration.", MON_TOTAL, mon);
    s_histogram (t, "llmq_broker_overhead_seconds",
                 "The broker's own time spent on a request.", MON_BROKER, mon);
}

static void
s_gauges (metrics_text_t *t, const stats_view_t *view)
{
    char esc [2 * LLMQ_MAX_NAME + 8];
    s_gauge (t, "llmq_uptime_seconds", "Time since the broker started.",
             (double) view->uptime_ms / 1000.0);
    s_header (t, "llmq_build_info", "gauge", "Version of the broker (value 1).");
    s_append (t, "llmq_build_info{version=\"%s\"} 1\n", LLMQ_VERSION_STRING);
    s_gauge (t, "llmq_queued_requests", "Requests waiting for a worker, all models.",
             (double) models_queued (view->models));

    s_header (t, "llmq_queue_depth", "gauge", "Requests waiting for a worker, by model.");
    for (model_t *m = models_first (view->models); m; m = models_next (view->models))
        s_append (t, "llmq_queue_depth{model=\"%s\"} %zu\n",
                  s_escape (m->name, esc, sizeof esc), queue_length (&m->queue));
    s_header (t, "llmq_queue_oldest_age_seconds", "gauge",
              "Age of the oldest request waiting, by model (0 when none).");
    for (model_t *m = models_first (view->models); m; m = models_next (view->models)) {
        request_t *req = model_front (m);
        uint64_t age_us = req && view->now_us > req->accepted_us
                        ? view->now_us - req->accepted_us : 0;
        s_append (t, "llmq_queue_oldest_age_seconds{model=\"%s\"} %.6f\n",
                  s_escape (m->name, esc, sizeof esc), (double) age_us / 1e6);
    }

    s_header (t, "llmq_queue_depth_by_priority", "gauge",
              "Requests waiting, by model and the priority level they wait at.");
    for (model_t *m = models_first (view->models); m; m = models_next (view->models)) {
        uint64_t counts [LLMQ_PRIO__COUNT];
        stats_queue_levels (m, counts);
        s_escape (m->name, esc, sizeof esc);
        for (uint32_t prio = 0; prio < LLMQ_PRIO__COUNT; prio++)
            s_append (t, "llmq_queue_depth_by_priority{model=\"%s\",priority=\"%s\"} %" PRIu64 "\n",
                      esc, llmq_priority_name (prio), counts [prio]);
    }

    uint64_t in_flight = 0, slots = 0, ready = 0, draining = 0;
    for (worker_t *w = workers_first (view->workers); w; w = workers_next (view->workers, w)) {
        in_flight += worker_in_flight (w);
        slots += w->slots;
        if (w->draining)
            draining++;
        else
            ready++;
    }
    s_gauge (t, "llmq_in_flight_requests", "Requests dispatched to workers, not yet answered.",
             (double) in_flight);
    s_gauge (t, "llmq_worker_slots", "Slots of all live workers.", (double) slots);
    s_header (t, "llmq_workers", "gauge", "Live workers, by state.");
    s_append (t, "llmq_workers{state=\"ready\"} %" PRIu64 "\n", ready);
    s_append (t, "llmq_workers{state=\"draining\"} %" PRIu64 "\n", draining);

    /*  Per worker: bounded by the fleet, which the operator controls.     */
    s_header (t, "llmq_worker_in_flight", "gauge", "Requests in flight, by worker.");
    for (worker_t *w = workers_first (view->workers); w; w = workers_next (view->workers, w))
        s_append (t, "llmq_worker_in_flight{worker=\"%s\"} %u\n",
                  s_escape (w->id, esc, sizeof esc), worker_in_flight (w));
    s_header (t, "llmq_worker_served_total", "counter", "Answers delivered, by worker.");
    for (worker_t *w = workers_first (view->workers); w; w = workers_next (view->workers, w))
        s_append (t, "llmq_worker_served_total{worker=\"%s\"} %" PRIu64 "\n",
                  s_escape (w->id, esc, sizeof esc), w->served);
    s_header (t, "llmq_worker_error_rate", "gauge",
              "Backend error rate the worker reports (0..1, recent window).");
    for (worker_t *w = workers_first (view->workers); w; w = workers_next (view->workers, w))
        s_append (t, "llmq_worker_error_rate{worker=\"%s\"} %.6g\n",
                  s_escape (w->id, esc, sizeof esc), w->health.error_rate);
}

static void
s_cache (metrics_text_t *t, const cache_stats_t *cache)
{
    s_counter (t, "llmq_cache_hits_total", "Requests answered from the cache (memory or Redis).",
               cache->hits);
    s_counter (t, "llmq_cache_misses_total", "Cache lookups that found nothing.", cache->misses);
    s_counter (t, "llmq_cache_coalesced_total",
               "Requests that joined an identical request in flight.", cache->coalesced);
    s_counter (t, "llmq_cache_stores_total", "Answers stored in the cache.", cache->stores);
    s_header (t, "llmq_cache_evictions_total", "counter", "Cache entries dropped, by reason.");
    s_append (t, "llmq_cache_evictions_total{reason=\"ttl\"} %" PRIu64 "\n", cache->evicted_ttl);
    s_append (t, "llmq_cache_evictions_total{reason=\"memory\"} %" PRIu64 "\n",
              cache->evicted_memory);
    s_gauge (t, "llmq_cache_entries", "Entries in the in-memory cache.", (double) cache->entries);
    s_gauge (t, "llmq_cache_bytes", "Memory used by the in-memory cache.", (double) cache->bytes);
    s_gauge (t, "llmq_cache_max_bytes", "Budget of the in-memory cache.", (double) cache->max_bytes);
    s_counter (t, "llmq_cache_redis_errors_total", "Redis commands that failed.",
               cache->redis_errors);
    s_gauge (t, "llmq_cache_redis_up", "1 when the last Redis command succeeded.",
             cache->redis_enabled && cache->redis_up ? 1 : 0);
}

/*  Rate-limit and adaptive-limit state from the scheduler (scheduler.h).
    Tenants are capped like the snapshot's list (the first 100).           */
#define METRICS_MAX_TENANTS 100
static void
s_sched (metrics_text_t *t, struct sched *sched, uint64_t now_us)
{
    char esc [2 * LLMQ_MAX_NAME + 8];
    sched_tenant_info_t ti;
    s_header (t, "llmq_tenant_queued_requests", "gauge", "Requests waiting, by tenant.");
    int n = 0;
    for (bool ok = sched_tenant_info (sched, true, &ti); ok && n < METRICS_MAX_TENANTS;
         ok = sched_tenant_info (sched, false, &ti), n++)
        s_append (t, "llmq_tenant_queued_requests{tenant=\"%s\"} %zu\n",
                  s_escape (ti.name, esc, sizeof esc), ti.queued);
    s_header (t, "llmq_tenant_in_flight_requests", "gauge", "Requests in flight, by tenant.");
    n = 0;
    for (bool ok = sched_tenant_info (sched, true, &ti); ok && n < METRICS_MAX_TENANTS;
         ok = sched_tenant_info (sched, false, &ti), n++)
        s_append (t, "llmq_tenant_in_flight_requests{tenant=\"%s\"} %u\n",
                  s_escape (ti.name, esc, sizeof esc), ti.in_flight);
    s_header (t, "llmq_tenant_rate_limited_total", "counter",
              "Requests refused by a tenant rate limit.");
    n = 0;
    for (bool ok = sched_tenant_info (sched, true, &ti); ok && n < METRICS_MAX_TENANTS;
         ok = sched_tenant_info (sched, false, &ti), n++)
        s_append (t, "llmq_tenant_rate_limited_total{tenant=\"%s\"} %" PRIu64 "\n",
                  s_escape (ti.name, esc, sizeof esc), ti.rate_limited);
    sched_model_info_t mi;
    s_header (t, "llmq_model_concurrency_limit", "gauge",
              "Adaptive (AIMD) in-flight cap on a model's backend; 0 = none.");
    for (bool ok = sched_model_info (sched, true, now_us, &mi); ok;
         ok = sched_model_info (sched, false, now_us, &mi))
        s_append (t, "llmq_model_concurrency_limit{model=\"%s\"} %u\n",
                  s_escape (mi.name, esc, sizeof esc), mi.aimd_cap);
    s_header (t, "llmq_model_throttled_total", "counter",
              "Upstream 429s reported by workers, by model.");
    for (bool ok = sched_model_info (sched, true, now_us, &mi); ok;
         ok = sched_model_info (sched, false, now_us, &mi))
        s_append (t, "llmq_model_throttled_total{model=\"%s\"} %" PRIu64 "\n",
                  s_escape (mi.name, esc, sizeof esc), mi.throttled);
    s_header (t, "llmq_model_paused", "gauge", "1 while a model is in a Retry-After pause.");
    for (bool ok = sched_model_info (sched, true, now_us, &mi); ok;
         ok = sched_model_info (sched, false, now_us, &mi))
        s_append (t, "llmq_model_paused{model=\"%s\"} %d\n",
                  s_escape (mi.name, esc, sizeof esc), mi.paused ? 1 : 0);
}

int
metrics_text_render (const stats_view_t *view, metrics_text_t *text)
{
    text->size = 0;
    text->failed = false;
    if (text->data)
        text->data [0] = 0;
    s_gauges (text, view);
    s_requests (text, view);
    s_latencies (text, view->monitor);
    s_cache (text, &view->stats->cache);
    if (view->sched)
        s_sched (text, view->sched, view->now_us);
    return text->failed ? -1 : 0;
}

void
metrics_text_free (metrics_text_t *text)
{
    free (text->data);
    memset (text, 0, sizeof *text);
}
