/*  stats.c -- STATS_REPLY snapshot; see stats.h.

    The snapshot is written straight into the frame with the codec's
    writer (no intermediate tree): msgpack wants each map's size first,
    so every section counts its entries before writing them.
*/
#include "stats.h"
#include "scheduler.h"

#include <string.h>

static void
s_write_requests (llmq_writer_t *w, const stats_t *stats, const monitor_t *monitor)
{
    llmq_writer_str (w, "requests");
    llmq_writer_map (w, monitor ? 11 : 9);
    llmq_writer_kv_uint (w, "received", stats->received);
    llmq_writer_kv_uint (w, "answered", stats->answered);
    /*  Every code, zeros included: monitors get stable keys.              */
    llmq_writer_str (w, "errors");
    llmq_writer_map (w, LLMQ_ERR__COUNT - 1);
    for (uint32_t code = 1; code < LLMQ_ERR__COUNT; code++) {
        llmq_writer_str (w, llmq_errcode_name (code));
        llmq_writer_uint (w, stats->errors[code]);
    }
    llmq_writer_kv_uint (w, "resends", stats->resends);
    llmq_writer_kv_uint (w, "replayed", stats->replayed);
    llmq_writer_kv_uint (w, "cancelled", stats->cancelled);
    llmq_writer_kv_uint (w, "malformed", stats->malformed);
    llmq_writer_kv_uint (w, "dropped_replies", stats->dropped_replies);
    llmq_writer_kv_uint (w, "send_failures", stats->send_failures);
    if (monitor) {
        uint64_t errors = 0;
        for (uint32_t code = 1; code < LLMQ_ERR__COUNT; code++)
            errors += stats->errors[code];
        llmq_writer_kv_uint (w, "cached", monitor_totals (monitor).cached);
        llmq_writer_kv_uint (w, "error_total", errors);
    }
}

static void
s_write_queues (llmq_writer_t *w, models_t *models)
{
    llmq_writer_str (w, "queues");
    llmq_writer_map (w, (uint32_t) models_count (models));
    for (model_t *model = models_first (models); model; model = models_next (models)) {
        llmq_writer_str (w, model->name);
        llmq_writer_uint (w, queue_length (&model->queue));
    }
}

/*  Age of the oldest request waiting for each model (0 when none): the
    front of the model's queue, which holds every queued request oldest
    first. O(models).                                                      */
static void
s_write_oldest (llmq_writer_t *w, models_t *models, uint64_t now_us)
{
    llmq_writer_str (w, "oldest_queued_ms");
    llmq_writer_map (w, (uint32_t) models_count (models));
    for (model_t *model = models_first (models); model; model = models_next (models)) {
        llmq_writer_str (w, model->name);
        request_t *req = model_front (model);
        uint64_t age_us = req && now_us > req->accepted_us ? now_us - req->accepted_us : 0;
        llmq_writer_uint (w, age_us / 1000);
    }
}

void
stats_queue_levels (const model_t *model, uint64_t counts [LLMQ_PRIO__COUNT])
{
    memset (counts, 0, sizeof (uint64_t) * LLMQ_PRIO__COUNT);
    for (qnode_t *node = queue_front (&model->queue); node;
         node = queue_next (&model->queue, node)) {
        const request_t *req = QUEUE_ENTRY (node, request_t, link);
        counts [req->sched.level < LLMQ_PRIO__COUNT ? req->sched.level : LLMQ_PRIO_NORMAL]++;
    }
}

/*  Queue depth per model and priority level: {model: {level: n}}.        */
static void
s_write_queue_levels (llmq_writer_t *w, models_t *models)
{
    llmq_writer_str (w, "queued_by_priority");
    llmq_writer_map (w, (uint32_t) models_count (models));
    for (model_t *model = models_first (models); model; model = models_next (models)) {
        uint64_t counts [LLMQ_PRIO__COUNT];
        stats_queue_levels (model, counts);
        llmq_writer_str (w, model->name);
        llmq_writer_map (w, LLMQ_PRIO__COUNT);
        for (uint32_t prio = 0; prio < LLMQ_PRIO__COUNT; prio++) {
            llmq_writer_str (w, llmq_priority_name (prio));
            llmq_writer_uint (w, counts [prio]);
        }
    }
}

static void
s_write_worker (llmq_writer_t *w, const worker_t *worker, uint64_t now_us)
{
    llmq_writer_map (w, 12);
    llmq_writer_str (w, "id");
    llmq_writer_str (w, worker->id);
    llmq_writer_str (w, "models");
    llmq_writer_array (w, worker->n_models);
    for (uint32_t i = 0; i < worker->n_models; i++)
        llmq_writer_str (w, worker->models[i]->name);
    llmq_writer_kv_uint (w, "slots", worker->slots);
    llmq_writer_kv_uint (w, "in_flight", worker_in_flight (worker));
    llmq_writer_str (w, "state");
    llmq_writer_str (w, worker->draining ? "draining" : "ready");
    llmq_writer_str (w, "heartbeat_age_ms");
    uint64_t age_us = now_us > worker->last_seen_us ? now_us - worker->last_seen_us : 0;
    llmq_writer_uint (w, age_us / 1000);
    llmq_writer_kv_uint (w, "served", worker->served);
    llmq_writer_kv_uint (w, "ttft_ewma_us", worker->health.ttft_ewma_us);
    llmq_writer_str (w, "error_rate");
    llmq_writer_double (w, worker->health.error_rate);
    llmq_writer_kv_uint (w, "total_ewma_us", worker->health.total_ewma_us);
    llmq_writer_kv_uint (w, "upstream_429", worker->health.upstream_429);
    llmq_writer_str (w, "backend_state");
    llmq_writer_str (w, llmq_backend_state_name (worker->health.backend_state));
}

/*  Sums in-flight requests over workers: O(workers), only on demand.      */
static uint64_t
s_in_flight (const workers_t *workers)
{
    uint64_t total = 0;
    for (worker_t *worker = workers_first (workers); worker;
         worker = workers_next (workers, worker))
        total += worker_in_flight (worker);
    return total;
}

static void
s_write_counts (llmq_writer_t *w, const monitor_counts_t *counts)
{
    uint32_t nonzero = 0;
    for (uint32_t code = 1; code < LLMQ_ERR__COUNT; code++)
        nonzero += counts->errors[code] > 0;
    llmq_writer_map (w, 7);
    llmq_writer_kv_uint (w, "received", counts->received);
    llmq_writer_kv_uint (w, "answered", counts->answered);
    llmq_writer_kv_uint (w, "cached", counts->cached);
    /*  Only the codes that happened: a map per label with every code
        would make the snapshot several times larger.                      */
    llmq_writer_str (w, "errors");
    llmq_writer_map (w, nonzero);
    for (uint32_t code = 1; code < LLMQ_ERR__COUNT; code++)
        if (counts->errors[code]) {
            llmq_writer_str (w, llmq_errcode_name (code));
            llmq_writer_uint (w, counts->errors[code]);
        }
    llmq_writer_kv_uint (w, "error_total", counts->error_total);
    llmq_writer_kv_uint (w, "prompt_tokens", counts->prompt_tokens);
    llmq_writer_kv_uint (w, "completion_tokens", counts->completion_tokens);
}

/*  A label set; "other" only when something was folded into it.           */
static void
s_write_labels (llmq_writer_t *w, const char *key, const monitor_t *monitor, bool models)
{
    uint32_t n = models ? monitor_models (monitor) : monitor_tenants (monitor);
    const monitor_label_t *other = models ? monitor_model (monitor, 0) : monitor_tenant (monitor, 0);
    bool with_other = other->counts.received > 0 || other->counts.error_total > 0;
    llmq_writer_str (w, key);
    llmq_writer_map (w, n - 1 + with_other);
    for (uint32_t i = with_other ? 0 : 1; i < n; i++) {
        const monitor_label_t *label = models ? monitor_model (monitor, i)
                                              : monitor_tenant (monitor, i);
        llmq_writer_str (w, label->name);
        s_write_counts (w, &label->counts);
    }
}

static void
s_write_latency (llmq_writer_t *w, const monitor_t *monitor, uint64_t now_us)
{
    /*  One scratch histogram, reused: 7 KiB off the stack.                */
    histogram_t *merged = histogram_new ();
    llmq_writer_str (w, "latency_us");
    llmq_writer_map (w, 1 + (merged ? MON__COUNT : 0));
    llmq_writer_kv_uint (w, "window_ms", monitor_window_ms (monitor, now_us));
    for (int m = 0; merged && m < MON__COUNT; m++) {
        monitor_window (monitor, (monitor_metric_t) m, merged);
        llmq_writer_str (w, monitor_metric_name ((monitor_metric_t) m));
        llmq_writer_map (w, 7);
        llmq_writer_kv_uint (w, "count", merged->total);
        llmq_writer_kv_uint (w, "mean", merged->total ? merged->sum / merged->total : 0);
        llmq_writer_kv_uint (w, "p50", histogram_percentile (merged, 50));
        llmq_writer_kv_uint (w, "p90", histogram_percentile (merged, 90));
        llmq_writer_kv_uint (w, "p99", histogram_percentile (merged, 99));
        llmq_writer_kv_uint (w, "p999", histogram_percentile (merged, 99.9));
        llmq_writer_kv_uint (w, "max", merged->max);
    }
    histogram_destroy (&merged);
}

static void
s_write_str_or_nil (llmq_writer_t *w, const char *key, const char *value)
{
    llmq_writer_str (w, key);
    if (value)
        llmq_writer_str (w, value);
    else
        llmq_writer_nil (w);
}

static void
s_write_config (llmq_writer_t *w, const stats_config_t *config)
{
    llmq_writer_str (w, "config");
    llmq_writer_map (w, 14);
    s_write_str_or_nil (w, "clients", config->clients_ep);
    s_write_str_or_nil (w, "workers", config->workers_ep);
    s_write_str_or_nil (w, "stats", config->stats_ep);
    s_write_str_or_nil (w, "stats_pub", config->stats_pub_ep);
    s_write_str_or_nil (w, "metrics_listen", config->metrics_listen);
    s_write_str_or_nil (w, "log_format", config->log_format);
    llmq_writer_kv_uint (w, "stats_interval_ms", config->stats_interval_ms);
    llmq_writer_kv_uint (w, "request_timeout_ms", config->request_timeout_ms);
    llmq_writer_kv_uint (w, "max_timeout_ms", config->max_timeout_ms);
    llmq_writer_kv_uint (w, "no_worker_grace_ms", config->no_worker_grace_ms);
    llmq_writer_kv_uint (w, "max_attempts", config->max_attempts);
    llmq_writer_kv_uint (w, "max_queue", config->max_queue);
    llmq_writer_kv_uint (w, "heartbeat_ms", config->heartbeat_ms);
    llmq_writer_kv_uint (w, "liveness", config->liveness);
}

static void
s_write_monitor (llmq_writer_t *w, const stats_view_t *view)
{
    const monitor_t *monitor = view->monitor;
    s_write_oldest (w, view->models, view->now_us);
    s_write_queue_levels (w, view->models);
    s_write_labels (w, "by_model", monitor, true);
    s_write_labels (w, "by_tenant", monitor, false);
    llmq_writer_str (w, "by_priority");
    llmq_writer_map (w, LLMQ_PRIO__COUNT);
    for (uint32_t prio = 0; prio < LLMQ_PRIO__COUNT; prio++) {
        llmq_writer_str (w, llmq_priority_name (prio));
        s_write_counts (w, monitor_priority (monitor, prio));
    }
    llmq_writer_str (w, "tokens");
    llmq_writer_map (w, 2);
    llmq_writer_kv_uint (w, "prompt", monitor_totals (monitor).prompt_tokens);
    llmq_writer_kv_uint (w, "completion", monitor_totals (monitor).completion_tokens);
    s_write_latency (w, monitor, view->now_us);
}

int
stats_snapshot_view (const stats_view_t *view, llmq_buf_t *buf)
{
    llmq_writer_t *w = llmq_writer_new (buf, LLMQ_CMD_STATS_REPLY);
    if (!w)
        return -1;
    uint32_t keys = 8 + (view->config ? 1 : 0) + (view->monitor ? 7 : 0)
                  + (view->sched ? 1 : 0);
    llmq_writer_map (w, keys);
    llmq_writer_str (w, "version");
    llmq_writer_str (w, LLMQ_VERSION_STRING);
    llmq_writer_kv_uint (w, "uptime_ms", view->uptime_ms);
    s_write_requests (w, view->stats, view->monitor);
    llmq_writer_kv_uint (w, "queued", models_queued (view->models));
    llmq_writer_kv_uint (w, "in_flight", s_in_flight (view->workers));
    s_write_queues (w, view->models);
    llmq_writer_str (w, "workers");
    llmq_writer_array (w, (uint32_t) workers_count (view->workers));
    for (worker_t *worker = workers_first (view->workers); worker;
         worker = workers_next (view->workers, worker))
        s_write_worker (w, worker, view->now_us);
    cache_stats_write (w, &view->stats->cache);
    if (view->config)
        s_write_config (w, view->config);
    if (view->monitor)
        s_write_monitor (w, view);
    if (view->sched)
        sched_stats_write (view->sched, w, view->now_us);
    int rc = llmq_writer_failed (w) ? -1 : 0;
    llmq_writer_destroy (&w);
    return rc;
}

int
stats_snapshot (const stats_t *stats, uint64_t uptime_ms, uint64_t now_us,
                models_t *models, const workers_t *workers, llmq_buf_t *buf)
{
    stats_view_t view = {
        .stats = stats, .uptime_ms = uptime_ms, .now_us = now_us,
        .models = models, .workers = workers
    };
    return stats_snapshot_view (&view, buf);
}
