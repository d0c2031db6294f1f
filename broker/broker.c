/*  broker.c -- the broker's lifecycle and event loop; see broker.h.

    One thread, one zmq_poll over the three ROUTER sockets. The poll
    timeout is the time to the next timer (request deadline, no-worker
    grace, heartbeat round, end of the shutdown grace), so the loop never
    wakes up without a reason and never scans requests to find work.

    After each poll every readable socket is drained with non-blocking
    receives, up to DRAIN_BATCH messages per socket per round, so a flood
    on one socket cannot starve the others (a socket with more waiting is
    still readable and the next poll returns at once).
*/
#include "broker_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRAIN_BATCH  256            /* messages per socket per round       */
#define SOCKET_HWM   100000         /* messages queued per peer, both ways */

typedef void (handler_fn) (broker_t *self, zmq_msg_t *route, zmq_msg_t *frame);

void
broker_config_defaults (broker_config_t *config)
{
    memset (config, 0, sizeof *config);
    config->clients_ep = "tcp://*:5555";
    config->workers_ep = "tcp://*:5556";
    config->stats_ep = "tcp://*:5557";
    config->request_timeout_ms = 60000;
    config->max_timeout_ms = 600000;
    config->no_worker_grace_ms = 2000;
    config->max_attempts = 3;
    config->max_queue = 100000;
    config->max_msg_size = LLMQ_MAX_MSG_SIZE;
    config->heartbeat_ms = LLMQ_HEARTBEAT_MS;
    config->liveness = LLMQ_LIVENESS;
    config->shutdown_grace_ms = 10000;
    config->replay_window_ms = 10000;
    config->replay_max_bytes = 16u << 20;
    cache_config_defaults (&config->cache);
    config->stats_interval_ms = 1000;   /* stats_pub_ep: off here, main sets it */
    config->metrics_max_labels = 64;
    config->latency_window_ms = 60000;
}

static int
s_set_int (void *sock, int option, int value)
{
    return zmq_setsockopt (sock, option, &value, sizeof value);
}

/*  A ROUTER bound to endpoint, its real endpoint in bound; NULL on error.  */
static void *
s_bind (broker_t *self, const char *endpoint, char bound[BROKER_ENDPOINT_MAX])
{
    void *sock = zmq_socket (self->ctx, ZMQ_ROUTER);
    if (!sock) {
        llmq_log ('E', BROKER_LOG, "cannot create socket: %s", zmq_strerror (errno));
        return NULL;
    }
    int64_t max_msg = self->config.max_msg_size;
    size_t bound_len = BROKER_ENDPOINT_MAX;
    /*  Mandatory: a send to a peer that is gone fails (EHOSTUNREACH) instead
        of vanishing, so the broker learns a worker or client is gone.
        Handover: a peer that reconnects with its fixed routing id takes
        over the old connection instead of being refused.                  */
    if (s_set_int (sock, ZMQ_ROUTER_MANDATORY, 1)
    ||  s_set_int (sock, ZMQ_ROUTER_HANDOVER, 1)
    ||  zmq_setsockopt (sock, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg)
    ||  s_set_int (sock, ZMQ_SNDHWM, SOCKET_HWM)
    ||  s_set_int (sock, ZMQ_RCVHWM, SOCKET_HWM)
    ||  s_set_int (sock, ZMQ_LINGER, 0)
    ||  zmq_bind (sock, endpoint)
    ||  zmq_getsockopt (sock, ZMQ_LAST_ENDPOINT, bound, &bound_len)) {
        llmq_log ('E', BROKER_LOG, "cannot bind %s: %s", endpoint, zmq_strerror (errno));
        zmq_close (sock);
        return NULL;
    }
    return sock;
}

static int
s_create_tables (broker_t *self)
{
    self->requests = requests_new ();
    self->models = models_new ();
    self->workers = self->models ? workers_new (self->models) : NULL;
    self->timers = timers_new ();
    self->decoder = llmq_decoder_new ();
    self->recent = recent_new ((uint64_t) self->config.replay_window_ms * 1000,
                               self->config.replay_max_bytes);
    llmq_buf_init (&self->out);
    self->sched = sched_new (self->config.sched, self->config.max_queue,
                             self->config.max_queue_bytes, llmq_now_us ());
    self->config.sched = NULL;      /* copied; the caller's may go away    */
    self->rate_timer = TIMER_NONE;
    self->cache = cache_flow_new (self->ctx, &self->config.cache, &self->stats.cache);
    if (!self->cache)
        return -1;                  /* logged by cache_flow_new            */
    if (!self->requests || !self->workers || !self->timers || !self->decoder
    ||  !self->recent || !self->sched) {
        llmq_log ('E', BROKER_LOG, "out of memory");
        return -1;
    }
    return 0;
}

broker_t *
broker_new (const broker_config_t *config)
{
    broker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->ctx = zmq_ctx_new ();
    if (!self->ctx || s_create_tables (self)) {
        broker_destroy (&self);
        return NULL;
    }
    self->clients = s_bind (self, config->clients_ep, self->clients_ep);
    self->workers_sock = self->clients ? s_bind (self, config->workers_ep, self->workers_ep) : NULL;
    self->stats_sock = self->workers_sock ? s_bind (self, config->stats_ep, self->stats_ep) : NULL;
    if (!self->stats_sock || broker_monitor_start (self, config->sched)) {
        broker_destroy (&self);
        return NULL;
    }
    self->started_us = llmq_now_us ();
    self->next_heartbeat_us = self->started_us + (uint64_t) config->heartbeat_ms * 1000;
    llmq_log ('I', BROKER_LOG, "ready clients=%s workers=%s stats=%s%s",
              self->clients_ep, self->workers_ep, self->stats_ep,
              broker_monitor_endpoints (self));
    return self;
}

/*  Ends every request quietly: the broker is going away.                  */
static void
s_release_all (broker_t *self)
{
    for (uint32_t index = 0; index < requests_slots (self->requests); index++) {
        request_t *req = requests_at (self->requests, index);
        if (req)
            dispatch_release (self, req);
    }
}

void
broker_destroy (broker_t **self_p)
{
    broker_t *self = *self_p;
    if (!self)
        return;
    if (self->requests && self->workers && self->timers && self->sched)
        s_release_all (self);
    requests_destroy (&self->requests);
    workers_destroy (&self->workers);
    models_destroy (&self->models);
    timers_destroy (&self->timers);
    sched_destroy (&self->sched);
    recent_destroy (&self->recent);
    cache_flow_destroy (&self->cache);
    llmq_decoder_destroy (&self->decoder);
    llmq_buf_free (&self->out);
    if (self->clients)
        zmq_close (self->clients);
    if (self->workers_sock)
        zmq_close (self->workers_sock);
    if (self->stats_sock)
        zmq_close (self->stats_sock);
    broker_monitor_stop (self);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    free (self);
    *self_p = NULL;
}

const char *
broker_clients_endpoint (const broker_t *self)
{
    return self->clients_ep;
}

const char *
broker_workers_endpoint (const broker_t *self)
{
    return self->workers_ep;
}

const char *
broker_stats_endpoint (const broker_t *self)
{
    return self->stats_ep;
}

int
broker_reload (broker_t *self, const struct sched_config *sched_config)
{
    if (sched_configure (self->sched, sched_config, llmq_now_us ()))
        return -1;
    /*  New limits may let waiting requests go: look at once.              */
    dispatch_timer (self, TIMER_RATE, 1);
    return 0;
}

const stats_t *
broker_stats (const broker_t *self)
{
    return &self->stats;
}

/* ---------------------------------------------------------------------- */
/*  Sending                                                                */

int
broker_send (broker_t *self, void *sock, const void *route, size_t route_len,
             const llmq_buf_t *frame)
{
    return broker_send_bytes (self, sock, route, route_len, frame->data, frame->size);
}

int
broker_send_bytes (broker_t *self, void *sock, const void *route, size_t route_len,
                   const void *frame, size_t size)
{
    if (zmq_send (sock, route, route_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1
    ||  zmq_send (sock, frame, size, ZMQ_DONTWAIT) == -1) {
        int err = errno;
        self->stats.send_failures++;
        broker_debug (self, "send failed: %s", zmq_strerror (err));
        errno = err;
        return -1;
    }
    return 0;
}

int
broker_send_error (broker_t *self, void *sock, const void *route, size_t route_len,
                   llmq_str_t id, llmq_errcode_t code, const char *message)
{
    llmq_error_t error = { .id = id, .code = code, .message = llmq_str (message) };
    if (llmq_encode_error (&self->out, &error)) {
        llmq_log ('E', BROKER_LOG, "cannot encode ERROR: out of memory");
        return -1;
    }
    self->stats.errors[code]++;
    return broker_send (self, sock, route, route_len, &self->out);
}

void
broker_reject (broker_t *self, void *sock, zmq_msg_t *route, llmq_errcode_t code,
               llmq_str_t id, const char *detail)
{
    self->stats.malformed++;
    broker_debug (self, "rejected a frame: %s", detail);
    broker_send_error (self, sock, zmq_msg_data (route), zmq_msg_size (route), id, code, detail);
}

void
broker_reject_decode (broker_t *self, void *sock, zmq_msg_t *route,
                      llmq_decode_result_t rc, llmq_str_t id)
{
    broker_reject (self, sock, route, llmq_decode_errcode (rc), id,
                   llmq_decoder_error (self->decoder));
}

void
broker_reject_command (broker_t *self, void *sock, zmq_msg_t *route, llmq_cmd_t cmd)
{
    char detail [64];
    snprintf (detail, sizeof detail, "command 0x%02x is not accepted on this socket",
              (unsigned) cmd);
    broker_reject (self, sock, route, LLMQ_ERR_BAD_REQUEST, llmq_str (NULL), detail);
}

/* ---------------------------------------------------------------------- */
/*  Receiving                                                              */

/*  Receives one message: 1 when one came ([routing id][frame...], *parts
    counts the frames after the routing id; extra frames are read and
    dropped), 0 when none is waiting, -1 on a socket error.                */
static int
s_recv (void *sock, zmq_msg_t *route, zmq_msg_t *frame, int *parts)
{
    if (zmq_msg_recv (route, sock, ZMQ_DONTWAIT) == -1)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    *parts = 0;
    if (!zmq_msg_more (route))
        return 1;
    /*  The rest of a multipart message is already here (ZeroMQ delivers
        messages whole), so these receives cannot block.                   */
    if (zmq_msg_recv (frame, sock, ZMQ_DONTWAIT) == -1)
        return 1;
    *parts = 1;
    bool more = zmq_msg_more (frame);
    while (more) {
        zmq_msg_t extra;
        zmq_msg_init (&extra);
        if (zmq_msg_recv (&extra, sock, ZMQ_DONTWAIT) == -1)
            more = false;
        else {
            more = zmq_msg_more (&extra);
            (*parts)++;
        }
        zmq_msg_close (&extra);
    }
    return 1;
}

static void
s_drain (broker_t *self, void *sock, handler_fn *handler)
{
    for (int count = 0; count < DRAIN_BATCH; count++) {
        zmq_msg_t route, frame;
        zmq_msg_init (&route);
        zmq_msg_init (&frame);
        int parts = 0;
        int rc = s_recv (sock, &route, &frame, &parts);
        if (rc == 1) {
            self->msg_start_us = llmq_now_us ();
            if (parts == 1)
                handler (self, &route, &frame);
            else
                broker_reject (self, sock, &route, LLMQ_ERR_BAD_REQUEST, llmq_str (NULL),
                               "expected exactly one frame after the routing id");
        }
        else
        if (rc == -1)
            llmq_log ('W', BROKER_LOG, "receive failed: %s", zmq_strerror (errno));
        zmq_msg_close (&route);
        zmq_msg_close (&frame);
        if (rc != 1)
            break;
    }
}

/* ---------------------------------------------------------------------- */
/*  The loop                                                               */

static uint64_t
s_min (uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/*  Milliseconds zmq_poll may wait: up to max_wait_ms, rounded up so a
    timer is never polled for before it is due.                            */
static long
s_poll_timeout (const broker_t *self, uint64_t now_us, int max_wait_ms)
{
    uint64_t wake_us = self->next_heartbeat_us;
    uint64_t timer_us;
    if (timers_next (self->timers, &timer_us))
        wake_us = s_min (wake_us, timer_us);
    if (self->stopping)
        wake_us = s_min (wake_us, self->stop_deadline_us);
    wake_us = s_min (wake_us, broker_monitor_next_us (self));
    if (self->stopping && requests_count (self->requests) == 0)
        wake_us = now_us;       /* nothing left to wait for                */
    uint64_t wait_ms = wake_us > now_us ? (wake_us - now_us + 999) / 1000 : 0;
    if (max_wait_ms >= 0)
        wait_ms = s_min (wait_ms, (uint64_t) max_wait_ms);
    return (long) wait_ms;
}

static void
s_run_timers (broker_t *self)
{
    uint64_t now_us = llmq_now_us ();
    uint32_t kind;
    uint64_t rid;
    while (timers_pop_due (self->timers, now_us, &kind, &rid)) {
        self->msg_start_us = llmq_now_us ();
        dispatch_timer (self, kind, rid);
    }
    if (now_us >= self->next_heartbeat_us) {
        broker_heartbeat (self, now_us);
        self->next_heartbeat_us = now_us + (uint64_t) self->config.heartbeat_ms * 1000;
    }
    broker_monitor_tick (self, now_us);
}

/*  Ends the shutdown once the work is done or the grace is over.          */
static void
s_check_shutdown (broker_t *self)
{
    if (!self->stopping || self->done)
        return;
    if (requests_count (self->requests) > 0 && llmq_now_us () < self->stop_deadline_us)
        return;
    size_t left = requests_count (self->requests);
    dispatch_fail_all (self);
    broker_disconnect_workers (self);
    self->done = true;
    llmq_log ('I', BROKER_LOG, "stopped (%zu requests cut short)", left);
}

int
broker_poll_once (broker_t *self, int max_wait_ms)
{
    zmq_pollitem_t items [] = {
        { self->workers_sock, 0, ZMQ_POLLIN, 0 },
        { self->clients, 0, ZMQ_POLLIN, 0 },
        { self->stats_sock, 0, ZMQ_POLLIN, 0 },
        { cache_flow_socket (self->cache), 0, ZMQ_POLLIN, 0 }  /* Redis replies */
    };
    int n_items = items [3].socket ? 4 : 3;
    long timeout = s_poll_timeout (self, llmq_now_us (), max_wait_ms);
    if (zmq_poll (items, n_items, timeout) == -1 && errno != EINTR) {
        llmq_log ('E', BROKER_LOG, "poll failed: %s", zmq_strerror (errno));
        return -1;
    }
    /*  Workers first: freed slots and new workers are known before the
        new requests of this round are placed.                             */
    if (items [0].revents & ZMQ_POLLIN)
        s_drain (self, self->workers_sock, broker_worker_msg);
    if (items [1].revents & ZMQ_POLLIN)
        s_drain (self, self->clients, broker_client_msg);
    if (items [2].revents & ZMQ_POLLIN)
        s_drain (self, self->stats_sock, broker_stats_msg);
    if (n_items == 4 && (items [3].revents & ZMQ_POLLIN))
        cache_flow_redis_input (self);
    s_run_timers (self);
    s_check_shutdown (self);
    /*  Only now may removed workers and idle models be freed: handlers of
        this round may have held pointers to them.                         */
    workers_reap (self->workers);
    models_collect (self->models);
    recent_expire (self->recent, llmq_now_us ());
    cache_flow_tick (self, llmq_now_us ());
    return 0;
}

void
broker_shutdown (broker_t *self)
{
    if (self->stopping)
        return;
    self->stopping = true;
    self->stop_deadline_us = llmq_now_us () + (uint64_t) self->config.shutdown_grace_ms * 1000;
    llmq_log ('I', BROKER_LOG, "shutting down: %zu requests to finish within %u ms",
              requests_count (self->requests), self->config.shutdown_grace_ms);
}

bool
broker_done (const broker_t *self)
{
    return self->done;
}

int
broker_run (broker_t *self, const volatile sig_atomic_t *interrupted)
{
    while (!self->done) {
        if (*interrupted)
            broker_shutdown (self);
        /*  Bounded wait: a signal that lands just before zmq_poll is seen
            within 100 ms even though it did not interrupt the poll.       */
        if (broker_poll_once (self, 100))
            return -1;
    }
    return 0;
}
