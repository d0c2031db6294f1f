/*  broker_monitor.c -- the broker's monitoring: the stats snapshot with
    everything in it, the published snapshots (PUB), /metrics and the
    request log. Glue between the loop (broker.c, dispatch) and the
    modules that know nothing of sockets: monitor.h (what is recorded),
    stats.h (the snapshot), metrics_text.h (Prometheus text),
    metrics_http.h (the HTTP thread), reqlog.h (log lines).

    Hot path: broker_monitor_accept / _final / _error cost a few
    increments and five histogram records per request; the rest runs on
    the stats tick (--stats-interval-ms): one snapshot published, one
    Prometheus text handed to the HTTP thread, and the latency window
    rotated. With --no-monitoring nothing is recorded (the base counters
    of stats_t still are): that is the comparison the stats-cost
    benchmark makes (tests/bench/stats_cost.sh).
*/
#include "broker_internal.h"
#include "metrics_http.h"
#include "metrics_text.h"
#include "reqlog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct broker_monitor {
    monitor_t *monitor;             /* NULL with --no-monitoring           */
    void *pub;                      /* PUB socket, NULL when off           */
    char pub_ep[BROKER_ENDPOINT_MAX];   /* bound PUB endpoint              */
    metrics_http_t *http;           /* /metrics server, NULL when off      */
    metrics_text_t text;            /* Prometheus text, reused             */
    llmq_buf_t frame;               /* published snapshot, reused          */
    reqlog_format_t log_format;     /* request log lines                   */
    uint64_t interval_us;           /* between ticks                       */
    uint64_t next_tick_us;          /* next publish                        */
    char suffix[2 * BROKER_ENDPOINT_MAX + 32];  /* ready-line additions    */
};

static int
s_bind_pub (broker_t *self, broker_monitor_t *mon)
{
    mon->pub = zmq_socket (self->ctx, ZMQ_PUB);
    int linger = 0, hwm = 16;
    size_t len = sizeof mon->pub_ep;
    /*  A small send queue: a slow subscriber loses old snapshots, never
        makes the broker buffer them.                                      */
    if (!mon->pub
    ||  zmq_setsockopt (mon->pub, ZMQ_LINGER, &linger, sizeof linger)
    ||  zmq_setsockopt (mon->pub, ZMQ_SNDHWM, &hwm, sizeof hwm)
    ||  zmq_bind (mon->pub, self->config.stats_pub_ep)
    ||  zmq_getsockopt (mon->pub, ZMQ_LAST_ENDPOINT, mon->pub_ep, &len)) {
        llmq_log ('E', BROKER_LOG, "cannot bind stats PUB %s: %s",
                  self->config.stats_pub_ep, zmq_strerror (errno));
        return -1;
    }
    return 0;
}

/*  A monitor whose labels start with the names known's config gives.     */
static monitor_t *
s_monitor_new (const broker_config_t *c, const sched_config_t *known, uint64_t now_us)
{
    size_t n_models = known ? known->n_models : 0;
    size_t n_tenants = known ? known->n_tenants : 0;
    const char **models = calloc (n_models + 1, sizeof *models);
    const char **tenants = calloc (n_tenants + 1, sizeof *tenants);
    monitor_t *monitor = NULL;
    if (models && tenants) {
        for (size_t i = 0; i < n_models; i++)
            models [i] = known->models [i].name;
        for (size_t i = 0; i < n_tenants; i++)
            tenants [i] = known->tenants [i].name;
        monitor = monitor_new_known (c->metrics_max_labels, c->latency_window_ms, now_us,
                                     models, n_models, tenants, n_tenants);
    }
    free (models);
    free (tenants);
    return monitor;
}

int
broker_monitor_start (broker_t *self, const sched_config_t *known)
{
    broker_monitor_t *mon = calloc (1, sizeof *mon);
    if (!mon) {
        llmq_log ('E', BROKER_LOG, "out of memory");
        return -1;
    }
    self->mon = mon;
    llmq_buf_init (&mon->frame);
    uint64_t now_us = llmq_now_us ();
    if (!self->config.no_monitoring) {
        mon->monitor = s_monitor_new (&self->config, known, now_us);
        if (!mon->monitor) {
            llmq_log ('E', BROKER_LOG, "out of memory");
            return -1;
        }
    }
    if (self->config.log_format
    &&  reqlog_format_parse (self->config.log_format, &mon->log_format)) {
        llmq_log ('E', BROKER_LOG, "unknown --log-format '%s' (off, json, logfmt)",
                  self->config.log_format);
        return -1;
    }
    if (self->config.stats_pub_ep && *self->config.stats_pub_ep && s_bind_pub (self, mon))
        return -1;
    if (self->config.metrics_listen && *self->config.metrics_listen) {
        if (!mon->monitor) {
            llmq_log ('E', BROKER_LOG, "--metrics-listen needs monitoring (drop --no-monitoring)");
            return -1;
        }
        if (!(mon->http = metrics_http_new (self->config.metrics_listen)))
            return -1;
    }
    mon->interval_us = (uint64_t) (self->config.stats_interval_ms ? self->config.stats_interval_ms
                                                                   : 1000) * 1000;
    mon->next_tick_us = now_us;     /* the first tick comes at once         */
    size_t used = 0;
    if (mon->pub)
        used += (size_t) snprintf (mon->suffix + used, sizeof mon->suffix - used,
                                   " stats_pub=%s", mon->pub_ep);
    if (mon->http)
        snprintf (mon->suffix + used, sizeof mon->suffix - used, " metrics=%s",
                  metrics_http_address (mon->http));
    return 0;
}

void
broker_monitor_stop (broker_t *self)
{
    broker_monitor_t *mon = self->mon;
    if (!mon)
        return;
    metrics_http_destroy (&mon->http);
    if (mon->pub)
        zmq_close (mon->pub);
    monitor_destroy (&mon->monitor);
    metrics_text_free (&mon->text);
    llmq_buf_free (&mon->frame);
    free (mon);
    self->mon = NULL;
}

const char *
broker_monitor_endpoints (const broker_t *self)
{
    return self->mon ? self->mon->suffix : "";
}

const char *
broker_stats_pub_endpoint (const broker_t *self)
{
    return self->mon && self->mon->pub ? self->mon->pub_ep : NULL;
}

uint16_t
broker_metrics_port (const broker_t *self)
{
    return self->mon && self->mon->http ? metrics_http_port (self->mon->http) : 0;
}

/*  The view every rendering reads; config points into the caller's.      */
static void
s_view (broker_t *self, uint64_t now_us, stats_config_t *config, stats_view_t *view)
{
    broker_monitor_t *mon = self->mon;
    const broker_config_t *c = &self->config;
    *config = (stats_config_t) {
        .clients_ep = self->clients_ep, .workers_ep = self->workers_ep,
        .stats_ep = self->stats_ep,
        .stats_pub_ep = mon && mon->pub ? mon->pub_ep : NULL,
        .metrics_listen = mon && mon->http ? metrics_http_address (mon->http) : NULL,
        .log_format = c->log_format ? c->log_format : "off",
        .stats_interval_ms = c->stats_interval_ms,
        .request_timeout_ms = c->request_timeout_ms, .max_timeout_ms = c->max_timeout_ms,
        .no_worker_grace_ms = c->no_worker_grace_ms, .max_attempts = c->max_attempts,
        .heartbeat_ms = c->heartbeat_ms, .liveness = c->liveness,
        .max_queue = c->max_queue
    };
    *view = (stats_view_t) {
        .stats = &self->stats, .monitor = mon ? mon->monitor : NULL, .config = config,
        .uptime_ms = (now_us - self->started_us) / 1000, .now_us = now_us,
        .models = self->models, .workers = self->workers, .sched = self->sched
    };
}

int
broker_snapshot (broker_t *self, llmq_buf_t *buf)
{
    stats_config_t config;
    stats_view_t view;
    s_view (self, llmq_now_us (), &config, &view);
    return stats_snapshot_view (&view, buf);
}

uint64_t
broker_monitor_next_us (const broker_t *self)
{
    broker_monitor_t *mon = self->mon;
    if (!mon || (!mon->pub && !mon->http && !mon->monitor))
        return UINT64_MAX;
    return mon->next_tick_us;
}

void
broker_monitor_tick (broker_t *self, uint64_t now_us)
{
    broker_monitor_t *mon = self->mon;
    if (!mon || now_us < mon->next_tick_us)
        return;
    mon->next_tick_us = now_us + mon->interval_us;
    if (mon->monitor)
        monitor_tick (mon->monitor, now_us);
    stats_config_t config;
    stats_view_t view;
    s_view (self, now_us, &config, &view);
    if (mon->pub) {
        if (stats_snapshot_view (&view, &mon->frame) == 0) {
            /*  A refused send (no room for a slow subscriber) only loses
                this snapshot; the next tick sends a fresh one.            */
            if (zmq_send (mon->pub, mon->frame.data, mon->frame.size, ZMQ_DONTWAIT) == -1
            &&  errno != EAGAIN)
                broker_debug (self, "stats publish failed: %s", zmq_strerror (errno));
        }
        else
            llmq_log ('E', BROKER_LOG, "cannot build the stats snapshot: out of memory");
    }
    if (mon->http) {
        if (metrics_text_render (&view, &mon->text) == 0)
            metrics_http_publish (mon->http, mon->text.data, mon->text.size);
        else
            llmq_log ('E', BROKER_LOG, "cannot render the metrics: out of memory");
    }
}

/* ---------------------------------------------------------------------- */
/*  Per request                                                            */

void
broker_monitor_accept (broker_t *self, request_t *req, const llmq_wire_request_t *msg)
{
    if (self->mon && self->mon->monitor)
        monitor_accept (self->mon->monitor, req->model->name, msg->tenant, msg->priority,
                        &req->mon);
    if (self->config.log_prompt_sizes) {
        /*  Sizes only: the text itself is never kept nor logged.          */
        uint64_t bytes = 0;
        for (uint32_t i = 0; i < msg->n_messages; i++)
            bytes += msg->messages [i].content.len;
        req->mon.prompt_bytes = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t) bytes;
        req->mon.messages = msg->n_messages > UINT16_MAX ? UINT16_MAX
                                                         : (uint16_t) msg->n_messages;
    }
}

void
broker_monitor_refused (broker_t *self, const llmq_wire_request_t *msg, uint32_t code)
{
    if (self->mon && self->mon->monitor)
        monitor_refuse (self->mon->monitor, msg->model, msg->tenant, msg->priority, code);
}

static void
s_log (broker_t *self, request_t *req, const monitor_end_t *end)
{
    broker_monitor_t *mon = self->mon;
    uint32_t id_len;
    const char *id = request_id (req, &id_len);
    size_t raw_size = 0;
    request_raw (req, &raw_size);
    reqlog_entry_t entry = {
        .id = id, .id_len = id_len,
        .tenant = mon->monitor ? monitor_tag_tenant (mon->monitor, &req->mon) : NULL,
        .model = req->model ? req->model->name : NULL,
        .priority = llmq_priority_name (req->mon.priority),
        .outcome = end->code ? "error" : end->cached ? "cached" : "answered",
        .code = end->code ? llmq_errcode_name (end->code) : NULL,
        .cached = end->cached, .worker = end->worker, .attempts = end->attempts,
        .queue_us = end->queue_us, .ttft_us = end->ttft_us, .total_us = end->total_us,
        .broker_us = end->broker_us,
        .prompt_tokens = end->prompt_tokens, .completion_tokens = end->completion_tokens,
        .request_bytes = raw_size,
        .has_prompt_size = self->config.log_prompt_sizes,
        .prompt_bytes = req->mon.prompt_bytes, .messages = req->mon.messages
    };
    reqlog_write (mon->log_format, &entry, STDERR_FILENO);
}

static void
s_end (broker_t *self, request_t *req, const monitor_end_t *end)
{
    broker_monitor_t *mon = self->mon;
    if (!mon)
        return;
    if (mon->monitor)
        monitor_end (mon->monitor, &req->mon, end);
    if (mon->log_format != REQLOG_OFF)
        s_log (self, req, end);
}

void
broker_monitor_final (broker_t *self, request_t *req, const llmq_final_t *final)
{
    monitor_end_t end = {
        .code = LLMQ_ERR_NONE,
        .cached = final->cached,
        .worker = req->worker ? req->worker->id : NULL,
        .attempts = req->attempts,
        .prompt_tokens = final->usage.prompt_tokens,
        .completion_tokens = final->usage.completion_tokens,
        .has_latency = true,
        .queue_us = final->timings.queued_us,
        /*  The worker measures from its dispatch; the client waited for
            the queue too.                                                 */
        .ttft_us = final->timings.ttft_us ? final->timings.queued_us + final->timings.ttft_us : 0,
        .total_us = final->timings.total_us,
        .broker_us = final->timings.broker_us
    };
    s_end (self, req, &end);
}

void
broker_monitor_error (broker_t *self, request_t *req, uint32_t code)
{
    uint64_t now_us = llmq_now_us ();
    monitor_end_t end = {
        .code = code,
        .worker = req->state == REQ_IN_FLIGHT && req->worker ? req->worker->id : NULL,
        .attempts = req->attempts,
        .queue_us = req->dispatched_us ? req->dispatched_us - req->accepted_us : 0,
        .total_us = now_us > req->accepted_us ? now_us - req->accepted_us : 0,
        .broker_us = req->broker_us
    };
    s_end (self, req, &end);
}
