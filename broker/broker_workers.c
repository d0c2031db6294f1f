/*  broker_workers.c -- messages from workers, heartbeats and liveness.

    A worker registers with READY and is answered with a HEARTBEAT at
    once (it logs "registered" on it). Replies carry the rid the broker
    gave in DISPATCH; a reply is used only if the rid is current AND the
    request is in flight on this very worker: anything else (a late reply
    after a timeout, a cancel, a redispatch) is dropped and counted, so no
    client ever gets two answers.

    Any message but READY from a routing id the broker does not know gets
    a DISCONNECT, on which the worker registers again (the broker may have
    declared it dead, or restarted).
*/
#include "broker_internal.h"

#include <stdio.h>

static int
s_send (broker_t *self, const worker_t *worker)
{
    return broker_send (self, self->workers_sock, worker->route, worker->route_len, &self->out);
}

static void
s_reject (broker_t *self, zmq_msg_t *route, llmq_decode_result_t rc)
{
    broker_reject_decode (self, self->workers_sock, route, rc, llmq_str (NULL));
}

/*  The request a worker reply names, if it is in flight on this worker;
    NULL (counted) for a stale or foreign rid.                             */
static request_t *
s_owned (broker_t *self, worker_t *worker, bool has_rid, uint64_t rid)
{
    request_t *req = has_rid ? requests_lookup (self->requests, rid) : NULL;
    if (!req || req->state != REQ_IN_FLIGHT || req->worker != worker) {
        self->stats.dropped_replies++;
        broker_debug (self, "dropped a stale reply from worker %s (rid %llx)",
                      worker->id, (unsigned long long) rid);
        return NULL;
    }
    return req;
}

static void
s_on_ready (broker_t *self, worker_t *worker, zmq_msg_t *route, zmq_msg_t *frame)
{
    llmq_ready_t msg;
    llmq_decode_result_t rc = llmq_decode_ready (self->decoder, zmq_msg_data (frame),
                                                 zmq_msg_size (frame), &msg);
    if (rc) {
        s_reject (self, route, rc);
        return;
    }
    if (msg.slots == 0 || msg.n_models == 0) {
        broker_reject (self, self->workers_sock, route, LLMQ_ERR_BAD_REQUEST, llmq_str (NULL),
                       "READY needs slots and models");
        return;
    }
    if (worker)                 /* it restarted: what it had is lost       */
        broker_worker_lost (self, worker, "registered again");
    worker = workers_register (self->workers, zmq_msg_data (route), zmq_msg_size (route),
                               &msg, self->msg_start_us);
    if (!worker) {
        broker_send_error (self, self->workers_sock, zmq_msg_data (route), zmq_msg_size (route),
                           llmq_str (NULL), LLMQ_ERR_INTERNAL, "cannot register worker");
        return;
    }
    llmq_log ('I', BROKER_LOG, "worker %s registered: %u models, %u slots",
              worker->id, worker->n_models, worker->slots);
    llmq_heartbeat_t ack = { 0 };
    if (llmq_encode_heartbeat (&self->out, &ack) || s_send (self, worker)) {
        broker_worker_lost (self, worker, "unreachable");
        return;
    }
    dispatch_worker (self, worker);
}

static void
s_on_heartbeat (broker_t *self, worker_t *worker, zmq_msg_t *route, zmq_msg_t *frame)
{
    llmq_heartbeat_t msg;
    llmq_decode_result_t rc = llmq_decode_heartbeat (self->decoder, zmq_msg_data (frame),
                                                     zmq_msg_size (frame), &msg);
    if (rc) {
        s_reject (self, route, rc);
        return;
    }
    bool was_draining = worker->draining;
    worker->health = msg;
    worker->draining = msg.draining;
    /*  Logged on the change only: heartbeats repeat the state.           */
    if (was_draining != worker->draining)
        llmq_log ('I', BROKER_LOG, "worker %s %s", worker->id,
                  worker->draining ? "draining (cooling down or stopping): no new work"
                                   : "ready again");
    if (was_draining && !worker->draining)
        dispatch_worker (self, worker);
}

/*  Passes a chunk on to a streaming client.                               */
static void
s_on_partial (broker_t *self, worker_t *worker, zmq_msg_t *route, zmq_msg_t *frame)
{
    llmq_partial_t msg;
    llmq_decode_result_t rc = llmq_decode_partial (self->decoder, zmq_msg_data (frame),
                                                   zmq_msg_size (frame), &msg);
    if (rc) {
        s_reject (self, route, rc);
        return;
    }
    request_t *req = s_owned (self, worker, msg.has_rid, msg.rid);
    if (req)
        cache_flow_partial (self, req, &msg);   /* to streaming followers  */
    if (!req || !req->stream)
        return;                 /* a client that did not ask for a stream  */
    llmq_partial_t out = { .seq = msg.seq, .text = msg.text };
    out.id.ptr = request_id (req, &out.id.len);
    if (llmq_encode_partial (&self->out, &out) == 0 && dispatch_reply (self, req)) {
        /*  The client is gone: nobody wants the rest.                     */
        broker_worker_cancel (self, worker, request_rid (req));
        dispatch_release (self, req);
        dispatch_worker (self, worker);
        return;
    }
    dispatch_charge (req, self->msg_start_us);
}

static void
s_on_final (broker_t *self, worker_t *worker, zmq_msg_t *route, zmq_msg_t *frame)
{
    llmq_final_t msg;
    llmq_decode_result_t rc = llmq_decode_final (self->decoder, zmq_msg_data (frame),
                                                 zmq_msg_size (frame), &msg);
    if (rc) {
        s_reject (self, route, rc);
        return;
    }
    request_t *req = s_owned (self, worker, msg.has_rid, msg.rid);
    if (!req)
        return;
    uint64_t now_us = llmq_now_us ();
    msg.id.ptr = request_id (req, &msg.id.len);
    msg.has_rid = false;
    msg.worker = llmq_str (worker->id);
    msg.attempts = req->attempts;
    msg.timings.queued_us = req->dispatched_us - req->accepted_us;
    msg.timings.total_us = now_us - req->accepted_us;
    msg.timings.broker_us = req->broker_us + (now_us - self->msg_start_us);
    cache_flow_final (self, req, &msg);     /* store; answer followers     */
    if (llmq_encode_final (&self->out, &msg) == 0) {
        if (dispatch_reply (self, req) == 0)
            self->stats.answered++;
        /*  Kept even when the send failed: the client may come back.       */
        size_t route_len;
        const void *route_bytes = request_route (req, &route_len);
        recent_put (self->recent, route_bytes, route_len, msg.id.ptr, msg.id.len,
                    self->out.data, self->out.size, now_us);
    }
    worker->served++;
    broker_monitor_final (self, req, &msg);
    if (sched_settle (self->sched, req, &msg.usage, now_us) == AIMD_RECOVERED)
        llmq_log ('I', BROKER_LOG, "model %s rate limit recovered: no longer throttled",
                  req->model ? req->model->name : "?");
    dispatch_release (self, req);
    dispatch_worker (self, worker);
}

static void
s_on_error (broker_t *self, worker_t *worker, zmq_msg_t *route, zmq_msg_t *frame)
{
    llmq_error_t msg;
    llmq_decode_result_t rc = llmq_decode_error (self->decoder, zmq_msg_data (frame),
                                                 zmq_msg_size (frame), &msg);
    if (rc) {
        s_reject (self, route, rc);
        return;
    }
    request_t *req = s_owned (self, worker, msg.has_rid, msg.rid);
    if (!req)
        return;
    /*  An upstream 429: the model slows down and the request waits for
        another turn instead of failing, while its deadline allows.       */
    if ((msg.code == LLMQ_ERR_RATE_LIMITED
         || (msg.has_upstream_status && msg.upstream_status == 429))
    &&  dispatch_throttled (self, req, msg.has_retry_after_ms ? msg.retry_after_ms : 0) == 0) {
        dispatch_worker (self, worker);
        return;
    }
    msg.id.ptr = request_id (req, &msg.id.len);
    msg.has_rid = false;
    if (msg.code < LLMQ_ERR__COUNT)
        self->stats.errors[msg.code]++;
    broker_monitor_error (self, req, msg.code);
    if (llmq_encode_error (&self->out, &msg) == 0)
        dispatch_reply (self, req);
    dispatch_release (self, req);
    dispatch_worker (self, worker);
}

/*  A worker we do not know (or no longer know): tell it to register.      */
static void
s_on_stranger (broker_t *self, zmq_msg_t *route, llmq_cmd_t cmd)
{
    if (cmd == LLMQ_CMD_PARTIAL || cmd == LLMQ_CMD_FINAL || cmd == LLMQ_CMD_ERROR)
        self->stats.dropped_replies++;
    if (cmd == LLMQ_CMD_DISCONNECT)
        return;
    llmq_disconnect_t bye = { .reason = llmq_str ("unknown worker: send READY") };
    if (llmq_encode_disconnect (&self->out, &bye) == 0)
        broker_send (self, self->workers_sock, zmq_msg_data (route), zmq_msg_size (route),
                     &self->out);
}

void
broker_worker_msg (broker_t *self, zmq_msg_t *route, zmq_msg_t *frame)
{
    llmq_cmd_t cmd;
    llmq_decode_result_t rc = llmq_decoder_peek (self->decoder, zmq_msg_data (frame),
                                                 zmq_msg_size (frame), &cmd);
    if (rc) {
        broker_reject_decode (self, self->workers_sock, route, rc, llmq_str (NULL));
        return;
    }
    worker_t *worker = workers_lookup (self->workers, zmq_msg_data (route), zmq_msg_size (route));
    if (cmd == LLMQ_CMD_READY) {
        s_on_ready (self, worker, route, frame);
        return;
    }
    if (!worker) {
        s_on_stranger (self, route, cmd);
        return;
    }
    worker->last_seen_us = self->msg_start_us;
    switch (cmd) {
        case LLMQ_CMD_HEARTBEAT:  s_on_heartbeat (self, worker, route, frame); break;
        case LLMQ_CMD_PARTIAL:    s_on_partial (self, worker, route, frame); break;
        case LLMQ_CMD_FINAL:      s_on_final (self, worker, route, frame); break;
        case LLMQ_CMD_ERROR:      s_on_error (self, worker, route, frame); break;
        case LLMQ_CMD_DISCONNECT: broker_worker_lost (self, worker, "disconnected"); break;
        default: broker_reject_command (self, self->workers_sock, route, cmd); break;
    }
}

/* ---------------------------------------------------------------------- */

/*  The queued requests of the models only this worker serves start their
    no-worker grace: once it is gone nobody serves them. O(queued of those
    models), paid only when a model loses its last worker.                 */
static void
s_orphan_queues (broker_t *self, worker_t *worker)
{
    for (uint32_t i = 0; i < worker->n_models; i++) {
        model_t *model = worker->models[i];
        if (model->n_workers != 1)
            continue;
        for (qnode_t *node = queue_front (&model->queue); node;
             node = queue_next (&model->queue, node))
            dispatch_arm_grace (self, QUEUE_ENTRY (node, request_t, link));
    }
}

void
broker_worker_lost (broker_t *self, worker_t *worker, const char *why)
{
    if (worker->dead)
        return;
    llmq_log ('W', BROKER_LOG, "worker %s lost (%s), %u requests in flight",
              worker->id, why, worker_in_flight (worker));
    /*  From the newest back, each to the front: the oldest ends up first. */
    qnode_t *node;
    while ((node = queue_back (&worker->in_flight)))
        dispatch_requeue (self, QUEUE_ENTRY (node, request_t, link));
    s_orphan_queues (self, worker);
    workers_remove (self->workers, worker);
    /*  worker->models stays valid until the end of the round (workers.h). */
    for (uint32_t i = 0; i < worker->n_models; i++)
        dispatch_model (self, worker->models[i]);
}

void
broker_worker_cancel (broker_t *self, worker_t *worker, uint64_t rid)
{
    llmq_cancel_t cancel = { .has_rid = true, .rid = rid };
    if (llmq_encode_cancel (&self->out, &cancel) == 0)
        s_send (self, worker);
}

void
broker_heartbeat (broker_t *self, uint64_t now_us)
{
    uint64_t expiry_us = (uint64_t) self->config.liveness * self->config.heartbeat_ms * 1000;
    llmq_heartbeat_t beat = { 0 };
    for (worker_t *worker = workers_first (self->workers); worker;
         worker = workers_next (self->workers, worker)) {
        if (now_us > worker->last_seen_us + expiry_us)
            broker_worker_lost (self, worker, "heartbeat expired");
        else
        if (llmq_encode_heartbeat (&self->out, &beat) == 0 && s_send (self, worker))
            broker_worker_lost (self, worker, "unreachable");
    }
}

void
broker_disconnect_workers (broker_t *self)
{
    llmq_disconnect_t bye = { .reason = llmq_str ("broker shutting down") };
    for (worker_t *worker = workers_first (self->workers); worker;
         worker = workers_next (self->workers, worker))
        if (llmq_encode_disconnect (&self->out, &bye) == 0)
            s_send (self, worker);
}
