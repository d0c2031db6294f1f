/*  dispatch.c -- the life of a request inside the broker.

    A request is accepted (broker_clients.c), then either dispatched at
    once to the worker of its model with the most free slots, or queued at
    the back of its model's FIFO. Whenever a worker gets a free slot
    (registers, answers, a request of it is cancelled or times out) the
    queues of its models are drained onto free workers, so a queue is
    never non-empty while a worker of its model sits idle.

    Every request ends exactly once, in FINAL or ERROR, by its deadline:
    its deadline timer is armed on arrival and cancelled when it ends. A
    request that loses its worker goes back to the FRONT of its queue (it
    has waited longest), up to --max-attempts dispatches. A request for a
    model no worker serves waits --no-worker-grace for one to register.
*/
#include "broker_internal.h"

#include <stdio.h>

void
dispatch_charge (request_t *req, uint64_t start_us)
{
    req->broker_us += llmq_now_us () - start_us;
}

int
dispatch_reply (broker_t *self, request_t *req)
{
    size_t route_len;
    const void *route = request_route (req, &route_len);
    return broker_send (self, self->clients, route, route_len, &self->out);
}

void
dispatch_release (broker_t *self, request_t *req)
{
    timers_cancel (self->timers, req->deadline_timer);
    timers_cancel (self->timers, req->grace_timer);
    req->deadline_timer = req->grace_timer = TIMER_NONE;
    if (req->state == REQ_QUEUED)
        models_dequeue (self->models, req);
    else
    if (req->state == REQ_IN_FLIGHT)
        workers_unassign (req);
    models_mark_idle (self->models, req->model);
    requests_free (self->requests, req);
}

void
dispatch_fail (broker_t *self, request_t *req, llmq_errcode_t code,
               const char *message, uint32_t retry_after_ms)
{
    llmq_error_t error = {
        .code = code,
        .message = llmq_str (message),
        .has_retry_after_ms = retry_after_ms > 0,
        .retry_after_ms = retry_after_ms
    };
    error.id.ptr = request_id (req, &error.id.len);
    self->stats.errors[code]++;
    if (llmq_encode_error (&self->out, &error) == 0)
        dispatch_reply (self, req);
    else
        llmq_log ('E', BROKER_LOG, "cannot encode ERROR: out of memory");
    dispatch_release (self, req);
}

void
dispatch_arm_grace (broker_t *self, request_t *req)
{
    if (req->grace_timer != TIMER_NONE)
        return;
    /*  Out of memory leaves it unarmed: the request then waits for its
        deadline instead, which still ends it.                             */
    uint64_t when_us = llmq_now_us () + (uint64_t) self->config.no_worker_grace_ms * 1000;
    req->grace_timer = timers_add (self->timers, when_us, TIMER_GRACE, request_rid (req));
}

/*  Puts req (not queued, not in flight) in its model's queue.             */
static void
s_enqueue (broker_t *self, request_t *req, bool front)
{
    req->state = REQ_QUEUED;
    models_enqueue (self->models, req, front);
    if (req->model->n_workers == 0)
        dispatch_arm_grace (self, req);
}

static int
s_send_dispatch (broker_t *self, worker_t *worker, request_t *req, uint64_t now_us)
{
    uint64_t left_ms = (req->deadline_us - now_us) / 1000;
    llmq_dispatch_t msg = {
        .rid = request_rid (req),
        .attempt = req->attempts + 1,
        .deadline_ms = left_ms == 0 ? 1 : left_ms > UINT32_MAX ? UINT32_MAX : (uint32_t) left_ms
    };
    msg.req_raw = request_raw (req, &msg.req_raw_size);
    if (llmq_encode_dispatch (&self->out, &msg)) {
        llmq_log ('E', BROKER_LOG, "cannot encode DISPATCH: out of memory");
        return -1;
    }
    return broker_send (self, self->workers_sock, worker->route, worker->route_len, &self->out);
}

/*  Sends req to worker and puts it in flight there. When the worker cannot
    be reached, req goes back to the front of its queue and the worker is
    declared lost (its other requests are requeued and redispatched).      */
static void
s_dispatch_to (broker_t *self, worker_t *worker, request_t *req)
{
    uint64_t now_us = llmq_now_us ();
    if (now_us >= req->deadline_us) {
        dispatch_fail (self, req, LLMQ_ERR_TIMEOUT, "deadline passed while queued", 0);
        return;
    }
    if (s_send_dispatch (self, worker, req, now_us)) {
        s_enqueue (self, req, true);
        broker_worker_lost (self, worker, "unreachable");
        return;
    }
    req->attempts++;
    req->dispatched_us = now_us;
    req->state = REQ_IN_FLIGHT;
    timers_cancel (self->timers, req->grace_timer);
    req->grace_timer = TIMER_NONE;
    workers_assign (self->workers, worker, req);
    broker_debug (self, "request %llx to worker %s (attempt %u)",
                  (unsigned long long) request_rid (req), worker->id, req->attempts);
}

void
dispatch_request (broker_t *self, request_t *req)
{
    model_t *model = req->model;
    /*  A non-empty queue means no worker of the model is free (see top). */
    worker_t *worker = queue_length (&model->queue) ? NULL : workers_choose (self->workers, model);
    if (worker) {
        s_dispatch_to (self, worker, req);
        return;
    }
    if (models_queued (self->models) >= self->config.max_queue) {
        dispatch_fail (self, req, LLMQ_ERR_OVERLOADED, "broker queue is full", 1000);
        return;
    }
    s_enqueue (self, req, false);
}

void
dispatch_model (broker_t *self, model_t *model)
{
    request_t *req;
    worker_t *worker;
    /*  Each pass either puts one request in flight, ends it, or loses a
        worker of the model: the loop ends.                                */
    while ((req = model_front (model)) && (worker = workers_choose (self->workers, model))) {
        uint64_t start_us = llmq_now_us ();
        models_dequeue (self->models, req);
        req->state = REQ_NEW;
        uint64_t rid = request_rid (req);
        s_dispatch_to (self, worker, req);
        if ((req = requests_lookup (self->requests, rid)))
            dispatch_charge (req, start_us);
    }
}

void
dispatch_worker (broker_t *self, worker_t *worker)
{
    /*  Start at a different model each time, so a worker serving several
        busy models does not always refill from the first.                 */
    uint32_t n = worker->n_models;
    uint32_t start = n ? worker->next_model++ % n : 0;
    for (uint32_t i = 0; i < n && !worker->dead && worker_free_slots (worker) > 0; i++)
        dispatch_model (self, worker->models[(start + i) % n]);
}

/*  A new rid for a request about to be dispatched again: answers to the
    earlier dispatch are then stale. Its timers carry the rid, so they are
    armed again under the new one (O(log n), only when a worker is lost).  */
static void
s_renew_rid (broker_t *self, request_t *req)
{
    uint64_t rid = requests_renew (self->requests, req);
    timers_cancel (self->timers, req->grace_timer);
    req->grace_timer = TIMER_NONE;
    timers_cancel (self->timers, req->deadline_timer);
    req->deadline_timer = timers_add (self->timers, req->deadline_us, TIMER_DEADLINE, rid);
}

void
dispatch_requeue (broker_t *self, request_t *req)
{
    if (req->state == REQ_IN_FLIGHT) {
        workers_unassign (req);
        req->state = REQ_NEW;
    }
    s_renew_rid (self, req);
    if (req->deadline_timer == TIMER_NONE) {
        dispatch_fail (self, req, LLMQ_ERR_INTERNAL, "broker out of memory", 0);
        return;
    }
    if (req->attempts >= self->config.max_attempts) {
        char message [96];
        snprintf (message, sizeof message, "worker lost %u times", req->attempts);
        dispatch_fail (self, req, LLMQ_ERR_WORKER_LOST, message, 0);
        return;
    }
    s_enqueue (self, req, true);
}

static void
s_grace_over (broker_t *self, request_t *req)
{
    req->grace_timer = TIMER_NONE;
    if (req->state != REQ_QUEUED || req->model->n_workers > 0)
        return;                 /* a worker came in time                   */
    char message [LLMQ_MAX_NAME + 64];
    snprintf (message, sizeof message, "no worker serves model '%s'", req->model->name);
    dispatch_fail (self, req, LLMQ_ERR_NO_WORKER, message, 0);
}

static void
s_deadline_over (broker_t *self, request_t *req)
{
    req->deadline_timer = TIMER_NONE;
    worker_t *worker = req->state == REQ_IN_FLIGHT ? req->worker : NULL;
    if (worker)
        broker_worker_cancel (self, worker, request_rid (req));
    dispatch_fail (self, req, LLMQ_ERR_TIMEOUT, "request timed out", 0);
    if (worker)
        dispatch_worker (self, worker);
}

void
dispatch_timer (broker_t *self, uint32_t kind, uint64_t rid)
{
    request_t *req = requests_lookup (self->requests, rid);
    if (!req)
        return;                 /* timers are cancelled with requests      */
    if (kind == TIMER_GRACE)
        s_grace_over (self, req);
    else
        s_deadline_over (self, req);
}

void
dispatch_fail_all (broker_t *self)
{
    for (uint32_t index = 0; index < requests_slots (self->requests); index++) {
        request_t *req = requests_at (self->requests, index);
        if (!req)
            continue;
        if (req->state == REQ_IN_FLIGHT)
            broker_worker_cancel (self, req->worker, request_rid (req));
        dispatch_fail (self, req, LLMQ_ERR_SHUTTING_DOWN, "broker shutting down", 0);
    }
}
