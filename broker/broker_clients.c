/*  broker_clients.c -- messages from clients and from monitors.

    Clients send REQUEST, CANCEL and PING. A REQUEST becomes a request
    record keyed by (routing id, request id); a REQUEST whose key the
    broker holds is a resend of the same request and is attached to it
    (the answer will go to the same key), never a second request. The
    frame itself is kept in the record: DISPATCH forwards its packed map
    without re-encoding.
*/
#include "broker_internal.h"

#include <stdio.h>

static const void *
s_route (zmq_msg_t *route, size_t *len)
{
    *len = zmq_msg_size (route);
    return zmq_msg_data (route);
}

/*  The request's timeout in microseconds: its own or the default, capped.  */
static uint64_t
s_timeout_us (const broker_t *self, const llmq_wire_request_t *msg)
{
    uint64_t ms = msg->timeout_ms ? msg->timeout_ms : self->config.request_timeout_ms;
    if (ms > self->config.max_timeout_ms)
        ms = self->config.max_timeout_ms;
    return ms * 1000;
}

/*  Creates the record for a new request; NULL (client answered) on failure. */
static request_t *
s_new_request (broker_t *self, zmq_msg_t *route, zmq_msg_t *frame,
               const llmq_wire_request_t *msg)
{
    size_t route_len;
    const void *route_bytes = s_route (route, &route_len);
    model_t *model = models_get (self->models, msg->model.ptr, msg->model.len);
    request_t *req = model ? requests_alloc (self->requests) : NULL;
    if (req && request_attach (req, route, frame, msg->id.ptr, msg->id.len,
                               msg->raw, msg->raw_size)) {
        requests_free (self->requests, req);
        req = NULL;
    }
    if (!req) {
        llmq_log ('E', BROKER_LOG, "out of memory for a request");
        broker_monitor_refused (self, msg, LLMQ_ERR_INTERNAL);
        broker_send_error (self, self->clients, route_bytes, route_len, msg->id,
                           LLMQ_ERR_INTERNAL, "broker out of memory");
        return NULL;
    }
    requests_index (self->requests, req);
    req->model = model;
    broker_monitor_accept (self, req, msg);
    req->stream = msg->stream;
    req->accepted_us = self->msg_start_us;
    req->deadline_us = req->accepted_us + s_timeout_us (self, msg);
    req->deadline_timer = timers_add (self->timers, req->deadline_us, TIMER_DEADLINE,
                                      request_rid (req));
    if (req->deadline_timer == TIMER_NONE) {
        dispatch_fail (self, req, LLMQ_ERR_INTERNAL, "broker out of memory", 0);
        return NULL;
    }
    /*  Tenant, priority, and rate_limited for tenants in reject mode.     */
    sched_verdict_t verdict;
    if (sched_admit (self->sched, req, msg, self->msg_start_us, &verdict)) {
        dispatch_fail (self, req, verdict.code, verdict.message, verdict.retry_after_ms);
        return NULL;
    }
    return req;
}

/*  Answers a resend of a request answered a moment ago with the same
    FINAL (recent.h); false when there is none.                            */
static bool
s_replay (broker_t *self, const void *route, size_t route_len, llmq_str_t id)
{
    size_t size;
    const void *frame = recent_get (self->recent, route, route_len, id.ptr, id.len, &size,
                                    self->msg_start_us);
    if (!frame)
        return false;
    self->stats.resends++;
    self->stats.replayed++;
    broker_send_bytes (self, self->clients, route, route_len, frame, size);
    return true;
}

static void
s_on_request (broker_t *self, zmq_msg_t *route, zmq_msg_t *frame)
{
    self->stats.received++;
    size_t route_len;
    const void *route_bytes = s_route (route, &route_len);
    /*  Zeroed: on a failure the id is there if the decoder got to it.    */
    llmq_wire_request_t msg = { 0 };
    llmq_decode_result_t rc = llmq_decode_request (self->decoder, zmq_msg_data (frame),
                                                   zmq_msg_size (frame), &msg);
    if (rc) {
        broker_reject_decode (self, self->clients, route, rc, msg.id);
        return;
    }
    if (requests_find (self->requests, route_bytes, route_len, msg.id.ptr, msg.id.len)) {
        /*  The client did not hear back in time and sent it again; the
            answer of the one we hold will reach it.                       */
        self->stats.resends++;
        return;
    }
    if (s_replay (self, route_bytes, route_len, msg.id))
        return;
    if (self->stopping) {
        broker_monitor_refused (self, &msg, LLMQ_ERR_SHUTTING_DOWN);
        broker_send_error (self, self->clients, route_bytes, route_len, msg.id,
                           LLMQ_ERR_SHUTTING_DOWN, "broker is shutting down");
        return;
    }
    cache_plan_t plan;
    cache_flow_plan (self, &msg, &plan);
    request_t *req = s_new_request (self, route, frame, &msg);
    if (!req)
        return;
    uint64_t rid = request_rid (req);
    /*  The cache answers a hit, or holds an identical request back.      */
    if (!cache_flow_admit (self, req, &plan))
        dispatch_request (self, req);
    /*  It may already be over (overloaded, or its worker unreachable).     */
    if ((req = requests_lookup (self->requests, rid)))
        dispatch_charge (req, self->msg_start_us);
}

static void
s_on_cancel (broker_t *self, zmq_msg_t *route, zmq_msg_t *frame)
{
    size_t route_len;
    const void *route_bytes = s_route (route, &route_len);
    llmq_cancel_t msg = { 0 };
    llmq_decode_result_t rc = llmq_decode_cancel (self->decoder, zmq_msg_data (frame),
                                                  zmq_msg_size (frame), &msg);
    if (rc) {
        broker_reject_decode (self, self->clients, route, rc, msg.id);
        return;
    }
    if (!msg.id.ptr) {          /* a CANCEL by rid is for workers only     */
        broker_reject (self, self->clients, route, LLMQ_ERR_BAD_REQUEST, msg.id,
                       "missing field 'id'");
        return;
    }
    request_t *req = requests_find (self->requests, route_bytes, route_len,
                                    msg.id.ptr, msg.id.len);
    if (!req)
        return;                 /* already answered, or never known        */
    self->stats.cancelled++;
    worker_t *worker = req->state == REQ_IN_FLIGHT ? req->worker : NULL;
    if (worker)
        broker_worker_cancel (self, worker, request_rid (req));
    dispatch_fail (self, req, LLMQ_ERR_CANCELLED, "cancelled by the client", 0);
    if (worker)
        dispatch_worker (self, worker);
}

static void
s_on_ping (broker_t *self, zmq_msg_t *route, zmq_msg_t *frame)
{
    size_t route_len;
    const void *route_bytes = s_route (route, &route_len);
    llmq_ping_t msg;
    llmq_decode_result_t rc = llmq_decode_ping (self->decoder, zmq_msg_data (frame),
                                                zmq_msg_size (frame), &msg);
    if (rc) {
        broker_reject_decode (self, self->clients, route, rc, llmq_str (NULL));
        return;
    }
    llmq_ping_t pong = { .nonce = msg.nonce, .version = llmq_str (LLMQ_VERSION_STRING) };
    if (llmq_encode_pong (&self->out, &pong) == 0)
        broker_send (self, self->clients, route_bytes, route_len, &self->out);
}

void
broker_client_msg (broker_t *self, zmq_msg_t *route, zmq_msg_t *frame)
{
    llmq_cmd_t cmd;
    llmq_decode_result_t rc = llmq_decoder_peek (self->decoder, zmq_msg_data (frame),
                                                 zmq_msg_size (frame), &cmd);
    if (rc) {
        broker_reject_decode (self, self->clients, route, rc, llmq_str (NULL));
        return;
    }
    switch (cmd) {
        case LLMQ_CMD_REQUEST: s_on_request (self, route, frame); break;
        case LLMQ_CMD_CANCEL:  s_on_cancel (self, route, frame); break;
        case LLMQ_CMD_PING:    s_on_ping (self, route, frame); break;
        default:               broker_reject_command (self, self->clients, route, cmd); break;
    }
}

void
broker_stats_msg (broker_t *self, zmq_msg_t *route, zmq_msg_t *frame)
{
    llmq_cmd_t cmd;
    llmq_decode_result_t rc = llmq_decoder_peek (self->decoder, zmq_msg_data (frame),
                                                 zmq_msg_size (frame), &cmd);
    if (rc) {
        broker_reject_decode (self, self->stats_sock, route, rc, llmq_str (NULL));
        return;
    }
    if (cmd != LLMQ_CMD_STATS) {
        broker_reject_command (self, self->stats_sock, route, cmd);
        return;
    }
    if (broker_snapshot (self, &self->out)) {
        llmq_log ('E', BROKER_LOG, "cannot build the stats snapshot: out of memory");
        return;
    }
    broker_send (self, self->stats_sock, zmq_msg_data (route), zmq_msg_size (route), &self->out);
}
