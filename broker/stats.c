/*  stats.c -- STATS_REPLY snapshot; see stats.h.  */
#include "stats.h"

static void
s_write_requests (llmq_writer_t *w, const stats_t *stats)
{
    llmq_writer_str (w, "requests");
    llmq_writer_map (w, 9);
    llmq_writer_str (w, "received");
    llmq_writer_uint (w, stats->received);
    llmq_writer_str (w, "answered");
    llmq_writer_uint (w, stats->answered);
    /*  Every code, zeros included: monitors get stable keys.              */
    llmq_writer_str (w, "errors");
    llmq_writer_map (w, LLMQ_ERR__COUNT - 1);
    for (uint32_t code = 1; code < LLMQ_ERR__COUNT; code++) {
        llmq_writer_str (w, llmq_errcode_name (code));
        llmq_writer_uint (w, stats->errors[code]);
    }
    llmq_writer_str (w, "resends");
    llmq_writer_uint (w, stats->resends);
    llmq_writer_str (w, "replayed");
    llmq_writer_uint (w, stats->replayed);
    llmq_writer_str (w, "cancelled");
    llmq_writer_uint (w, stats->cancelled);
    llmq_writer_str (w, "malformed");
    llmq_writer_uint (w, stats->malformed);
    llmq_writer_str (w, "dropped_replies");
    llmq_writer_uint (w, stats->dropped_replies);
    llmq_writer_str (w, "send_failures");
    llmq_writer_uint (w, stats->send_failures);
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

static void
s_write_worker (llmq_writer_t *w, const worker_t *worker, uint64_t now_us)
{
    llmq_writer_map (w, 9);
    llmq_writer_str (w, "id");
    llmq_writer_str (w, worker->id);
    llmq_writer_str (w, "models");
    llmq_writer_array (w, worker->n_models);
    for (uint32_t i = 0; i < worker->n_models; i++)
        llmq_writer_str (w, worker->models[i]->name);
    llmq_writer_str (w, "slots");
    llmq_writer_uint (w, worker->slots);
    llmq_writer_str (w, "in_flight");
    llmq_writer_uint (w, worker_in_flight (worker));
    llmq_writer_str (w, "state");
    llmq_writer_str (w, worker->draining ? "draining" : "ready");
    llmq_writer_str (w, "heartbeat_age_ms");
    uint64_t age_us = now_us > worker->last_seen_us ? now_us - worker->last_seen_us : 0;
    llmq_writer_uint (w, age_us / 1000);
    llmq_writer_str (w, "served");
    llmq_writer_uint (w, worker->served);
    llmq_writer_str (w, "ttft_ewma_us");
    llmq_writer_uint (w, worker->health.ttft_ewma_us);
    llmq_writer_str (w, "error_rate");
    llmq_writer_double (w, worker->health.error_rate);
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

int
stats_snapshot (const stats_t *stats, uint64_t uptime_ms, uint64_t now_us,
                models_t *models, const workers_t *workers, llmq_buf_t *buf)
{
    llmq_writer_t *w = llmq_writer_new (buf, LLMQ_CMD_STATS_REPLY);
    if (!w)
        return -1;
    llmq_writer_map (w, 7);
    llmq_writer_str (w, "version");
    llmq_writer_str (w, LLMQ_VERSION_STRING);
    llmq_writer_str (w, "uptime_ms");
    llmq_writer_uint (w, uptime_ms);
    s_write_requests (w, stats);
    llmq_writer_str (w, "queued");
    llmq_writer_uint (w, models_queued (models));
    llmq_writer_str (w, "in_flight");
    llmq_writer_uint (w, s_in_flight (workers));
    s_write_queues (w, models);
    llmq_writer_str (w, "workers");
    llmq_writer_array (w, (uint32_t) workers_count (workers));
    for (worker_t *worker = workers_first (workers); worker;
         worker = workers_next (workers, worker))
        s_write_worker (w, worker, now_us);
    int rc = llmq_writer_failed (w) ? -1 : 0;
    llmq_writer_destroy (&w);
    return rc;
}
