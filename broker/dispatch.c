/*  dispatch.c -- the life of a request inside the broker.

    A request is accepted (broker_clients.c), queued in the scheduler
    (scheduler.h: priority, tenant turns, rates, bounds) and, when a
    worker of its model has a free slot and the scheduler says it may go,
    dispatched at once to the worker with the most free slots. Whenever a
    worker gets a free slot (registers, answers, a request of it is
    cancelled or times out) the queues of its models are drained onto free
    workers, so a queue is never non-empty while a worker of its model
    sits idle, unless rate control holds its requests back (a TIMER_RATE
    then wakes the broker when they may go).

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

/*  Arms the one TIMER_RATE when the scheduler waits for a time (a bucket
    refilling, a Retry-After pause) earlier than the one armed.            */
static void
s_arm_rate (broker_t *self)
{
    uint64_t when_us = sched_wake_us (self->sched);
    if (!when_us || (self->rate_timer != TIMER_NONE && self->rate_timer_us <= when_us))
        return;
    timers_cancel (self->timers, self->rate_timer);
    self->rate_timer = timers_add (self->timers, when_us, TIMER_RATE, 0);
    self->rate_timer_us = when_us;
}

/*  Takes a queued req out of its model's queue and the scheduler.         */
static void
s_unqueue (broker_t *self, request_t *req)
{
    models_dequeue (self->models, req);
    sched_remove (self->sched, req);
}

void
dispatch_release (broker_t *self, request_t *req)
{
    timers_cancel (self->timers, req->deadline_timer);
    timers_cancel (self->timers, req->grace_timer);
    req->deadline_timer = req->grace_timer = TIMER_NONE;
    if (req->state == REQ_QUEUED)
        s_unqueue (self, req);
    else
    if (req->state == REQ_IN_FLIGHT) {
        workers_unassign (req);
        sched_release (self->sched, req, llmq_now_us ());
        s_arm_rate (self);
    }
    cache_flow_release (self, req);
    models_mark_idle (self->models, req->model);
    requests_free (self->requests, req);
    cache_flow_promote (self);      /* followers of a failed leader        */
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
    broker_monitor_error (self, req, code);
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
    sched_enqueue (self->sched, req, front, llmq_now_us ());
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
    sched_charge (self->sched, req, now_us);
    timers_cancel (self->timers, req->grace_timer);
    req->grace_timer = TIMER_NONE;
    workers_assign (self->workers, worker, req);
    broker_debug (self, "request %llx to worker %s (attempt %u)",
                  (unsigned long long) request_rid (req), worker->id, req->attempts);
}

static void s_drain (broker_t *self, model_t *model, uint64_t charged_rid);

void
dispatch_request (broker_t *self, request_t *req)
{
    /*  Every request goes through the scheduler, even when a worker is
        free: only it knows whether the tenant and the model may send now
        and who is first in line. When the queue is full, less urgent work
        already queued is shed (answered overloaded) to make room; each
        round ends one request, and a few rounds free any byte bound.     */
    request_t *victim;
    sched_verdict_t verdict;
    for (int shed = 0; sched_room (self->sched, req, &victim, &verdict); shed++) {
        if (!victim || shed >= 64) {
            dispatch_fail (self, req, verdict.code, verdict.message, verdict.retry_after_ms);
            return;
        }
        sched_count_shed (self->sched);
        dispatch_fail (self, victim, LLMQ_ERR_OVERLOADED,
                       "shed for more urgent work: broker queue is full",
                       verdict.retry_after_ms);
    }
    s_enqueue (self, req, false);
    s_drain (self, req->model, request_rid (req));
}

/*  Hands queued requests of model to free workers, best first. Each one's
    broker time is charged here, except the request whose rid is
    charged_rid: its caller charges its whole handling (a new request).   */
static void
s_drain (broker_t *self, model_t *model, uint64_t charged_rid)
{
    request_t *req;
    worker_t *worker;
    /*  Each pass either puts one request in flight, ends it, or loses a
        worker of the model: the loop ends.                                */
    while ((req = sched_peek (self->sched, model, llmq_now_us ()))
       &&  (worker = workers_choose (self->workers, model))) {
        uint64_t start_us = llmq_now_us ();
        models_dequeue (self->models, req);
        sched_take (self->sched, req);
        req->state = REQ_NEW;
        uint64_t rid = request_rid (req);
        s_dispatch_to (self, worker, req);
        if (rid != charged_rid && (req = requests_lookup (self->requests, rid)))
            dispatch_charge (req, start_us);
    }
    s_arm_rate (self);
}

void
dispatch_model (broker_t *self, model_t *model)
{
    s_drain (self, model, 0);       /* rids are never 0                    */
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
        sched_release (self->sched, req, llmq_now_us ());
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

/*  Something the scheduler waited for is due (or a reload changed the
    limits): let the tenants that may go back in line and dispatch every
    model with requests waiting. O(parked tenants + models).               */
static void
s_rate_due (broker_t *self, bool fired)
{
    /*  A timer that fired is gone (its handle may already be reused); one
        still armed (a reload calls early) is cancelled.                   */
    if (!fired)
        timers_cancel (self->timers, self->rate_timer);
    self->rate_timer = TIMER_NONE;
    sched_unpark (self->sched, llmq_now_us ());
    for (model_t *model = models_first (self->models); model; model = models_next (self->models))
        if (queue_length (&model->queue))
            dispatch_model (self, model);
    s_arm_rate (self);
}

int
dispatch_throttled (broker_t *self, request_t *req, uint32_t retry_after_ms)
{
    uint64_t now_us = llmq_now_us ();
    /*  Logged on a change of state only: the 429s of one burst (and the
        successes that raise the limit again) would flood the log.        */
    aimd_change_t change = sched_throttled (self->sched, req, retry_after_ms, now_us);
    if (change != AIMD_SAME)
        llmq_log ('W', BROKER_LOG, "model %s %s by upstream 429: in-flight limit %u, "
                  "paused %u ms", req->model ? req->model->name : "?",
                  change == AIMD_STARTED ? "throttled" : "throttled further",
                  sched_aimd_cap (self->sched, req),
                  retry_after_ms ? retry_after_ms : 1000);
    /*  Waiting is better than an error only when the answer can still
        come in time: past the deadline the client gets the 429 itself.   */
    uint64_t pause_us = (uint64_t) (retry_after_ms ? retry_after_ms : 1000) * 1000;
    if (req->state != REQ_IN_FLIGHT || now_us + pause_us >= req->deadline_us) {
        s_arm_rate (self);
        return -1;
    }
    workers_unassign (req);
    sched_release (self->sched, req, now_us);
    req->state = REQ_NEW;
    s_renew_rid (self, req);
    if (req->deadline_timer == TIMER_NONE) {
        dispatch_fail (self, req, LLMQ_ERR_INTERNAL, "broker out of memory", 0);
        return 0;
    }
    s_enqueue (self, req, true);
    s_arm_rate (self);
    return 0;
}

void
dispatch_timer (broker_t *self, uint32_t kind, uint64_t rid)
{
    if (kind == TIMER_RATE) {
        s_rate_due (self, rid == 0);    /* broker_reload passes 1          */
        return;
    }
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
