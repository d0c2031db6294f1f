/*  test_sched.c -- the scheduler (broker/scheduler.h): order across priority
    levels, aging, weighted fair turns between tenants, bounds and the
    shedding order, rate control in queue and reject mode, in-flight caps,
    AIMD pauses, and reconfiguration without losing queued requests.

    The scheduler takes the time as an argument, so every test runs on a
    made-up clock: no sleeps.  */
#include <criterion/criterion.h>
#include <string.h>

#include "models.h"
#include "requests.h"
#include "scheduler.h"

#define MAX_REQS 20000

static models_t *models;
static requests_t *requests;
static sched_t *sched;
static model_t *model;
static sched_config_t conf;
static sched_tenant_conf_t tenants[4];

static void
s_setup (void)
{
    models = models_new ();
    requests = requests_new ();
    cr_assert (models && requests);
    model = models_get (models, "m", 1);
    cr_assert (model);
    sched_config_defaults (&conf);
    memset (tenants, 0, sizeof tenants);
}

static void
s_start (size_t max_queue, uint64_t now_us)
{
    sched = sched_new (&conf, max_queue, 0, now_us);
    cr_assert (sched);
}

static void
s_teardown (void)
{
    for (uint32_t i = 0; i < requests_slots (requests); i++) {
        request_t *req = requests_at (requests, i);
        if (!req)
            continue;
        if (req->state == REQ_QUEUED) {
            models_dequeue (models, req);
            sched_remove (sched, req);
        }
        requests_free (requests, req);
    }
    sched_destroy (&sched);
    requests_destroy (&requests);
    models_destroy (&models);
}

static sched_tenant_conf_t *
s_tenant (int i, const char *name, uint32_t weight)
{
    tenants[i] = conf.defaults;
    tenants[i].name = (char *) name;
    tenants[i].weight = weight;
    conf.tenants = tenants;
    if (conf.n_tenants < (size_t) i + 1)
        conf.n_tenants = (size_t) i + 1;
    return &tenants[i];
}

/*  A request of tenant at priority, admitted; NULL when refused (*v).     */
static request_t *
s_admit (const char *tenant, uint32_t prio, uint64_t now_us, sched_verdict_t *v)
{
    request_t *req = requests_alloc (requests);
    cr_assert (req);
    req->model = model;
    llmq_wire_request_t msg = { 0 };
    msg.tenant = tenant ? llmq_str (tenant) : (llmq_str_t) { 0 };
    msg.priority = prio;
    msg.raw_size = 100;
    msg.has_max_tokens = true;
    msg.max_tokens = 100;
    sched_verdict_t local;
    if (sched_admit (sched, req, &msg, now_us, v ? v : &local)) {
        requests_free (requests, req);
        return NULL;
    }
    return req;
}

/*  Admits and queues (no bound check): the request.                       */
static request_t *
s_queue (const char *tenant, uint32_t prio, uint64_t now_us)
{
    request_t *req = s_admit (tenant, prio, now_us, NULL);
    cr_assert (req);
    req->state = REQ_QUEUED;
    models_enqueue (models, req, false);
    sched_enqueue (sched, req, false, now_us);
    return req;
}

/*  Like dispatch_model for one free slot: the next request, taken, in
    flight. NULL when none may go.                                         */
static request_t *
s_next (uint64_t now_us)
{
    request_t *req = sched_peek (sched, model, now_us);
    if (!req)
        return NULL;
    models_dequeue (models, req);
    sched_take (sched, req);
    req->state = REQ_IN_FLIGHT;
    sched_charge (sched, req, now_us);
    return req;
}

/*  Ends an in-flight request.                                             */
static void
s_done (request_t *req, uint64_t now_us)
{
    sched_release (sched, req, now_us);
    requests_free (requests, req);
}

static const char *
s_tenant_of (const request_t *req)
{
    return req ? sched_tenant_name (req) : "none";
}

TestSuite (sched, .init = s_setup, .fini = s_teardown);

Test (sched, strict_priority_across_levels)
{
    s_start (1000, 1);
    s_queue ("a", LLMQ_PRIO_BATCH, 1);
    s_queue ("a", LLMQ_PRIO_LOW, 2);
    s_queue ("a", LLMQ_PRIO_NORMAL, 3);
    s_queue ("a", LLMQ_PRIO_HIGH, 4);
    s_queue ("a", LLMQ_PRIO_CRITICAL, 5);
    for (uint32_t prio = LLMQ_PRIO_CRITICAL; prio <= LLMQ_PRIO_BATCH; prio++) {
        request_t *req = s_next (10);
        cr_assert (req);
        cr_assert_eq (req->sched.priority, prio, "got %u, expected %u", req->sched.priority, prio);
        s_done (req, 10);
    }
    cr_assert_null (s_next (10));
}

Test (sched, fifo_within_a_tenant_and_default_tenant)
{
    s_start (1000, 1);
    request_t *first = s_queue (NULL, LLMQ_PRIO_NORMAL, 1);
    request_t *second = s_queue (NULL, LLMQ_PRIO_NORMAL, 2);
    cr_assert_str_eq (s_tenant_of (first), SCHED_DEFAULT_TENANT);
    cr_assert_eq (s_next (3), first);
    cr_assert_eq (s_next (3), second);
}

Test (sched, weights_3_to_1)
{
    s_tenant (0, "a", 3);
    s_tenant (1, "b", 1);
    s_start (1000, 1);
    for (int i = 0; i < 40; i++) {
        s_queue ("a", LLMQ_PRIO_NORMAL, 1);
        s_queue ("b", LLMQ_PRIO_NORMAL, 1);
    }
    int a = 0, b = 0;
    for (int i = 0; i < 40; i++) {
        request_t *req = s_next (2);
        cr_assert (req);
        if (!strcmp (s_tenant_of (req), "a"))
            a++;
        else
            b++;
        /*  Within every window of four picks: three a, one b.             */
        if (i % 4 == 3)
            cr_assert (a == 3 * b, "after %d picks a=%d b=%d", i + 1, a, b);
        s_done (req, 2);
    }
    cr_assert_eq (a, 30);
    cr_assert_eq (b, 10);
}

Test (sched, newcomer_waits_at_most_one_turn)
{
    s_start (MAX_REQS, 1);
    for (int i = 0; i < 10000; i++)
        s_queue ("noisy", LLMQ_PRIO_NORMAL, 1);
    s_done (s_next (2), 2);
    request_t *mine = s_queue ("quiet", LLMQ_PRIO_NORMAL, 3);
    /*  noisy (weight 1) used its turn: quiet is next, or after one more.  */
    request_t *r1 = s_next (4);
    request_t *r2 = r1 == mine ? NULL : s_next (4);
    cr_assert (r1 == mine || r2 == mine);
}

Test (sched, aging_moves_a_request_up)
{
    conf.aging_ms[LLMQ_PRIO_HIGH] = 0;      /* high stays high             */
    conf.aging_ms[LLMQ_PRIO_NORMAL] = 10;
    conf.aging_ms[LLMQ_PRIO_LOW] = 10;
    s_start (1000, 1000);
    request_t *old = s_queue ("a", LLMQ_PRIO_LOW, 1000);
    for (int i = 0; i < 10; i++)
        s_queue ("b", LLMQ_PRIO_HIGH, 1000);
    /*  At 11 ms low -> normal, at 22 ms -> high, beside the b lane.      */
    sched_peek (sched, model, 1000 + 5000);
    cr_assert_eq (old->sched.level, LLMQ_PRIO_LOW);
    sched_peek (sched, model, 1000 + 11000);
    cr_assert_eq (old->sched.level, LLMQ_PRIO_NORMAL);
    sched_peek (sched, model, 1000 + 22000);
    cr_assert_eq (old->sched.level, LLMQ_PRIO_HIGH);
    request_t *r1 = s_next (1000 + 23000);
    request_t *r2 = s_next (1000 + 23000);
    cr_assert (r1 == old || r2 == old, "the aged request overtakes 9 high ones");
    cr_assert_eq (sched_aged (sched), 2);
}

Test (sched, batch_does_not_age_by_default)
{
    s_start (1000, 1);
    request_t *req = s_queue ("a", LLMQ_PRIO_BATCH, 1);
    sched_peek (sched, model, 3600ull * 1000000);
    cr_assert_eq (req->sched.level, LLMQ_PRIO_BATCH);
}

Test (sched, global_bound_sheds_batch_then_low)
{
    s_start (3, 1);
    request_t *low = s_queue ("a", LLMQ_PRIO_LOW, 1);
    request_t *batch1 = s_queue ("a", LLMQ_PRIO_BATCH, 2);
    request_t *batch2 = s_queue ("a", LLMQ_PRIO_BATCH, 3);
    request_t *victim;
    sched_verdict_t v;
    request_t *urgent = s_admit ("b", LLMQ_PRIO_HIGH, 4, NULL);
    cr_assert_eq (sched_room (sched, urgent, &victim, &v), -1);
    cr_assert_eq (v.code, LLMQ_ERR_OVERLOADED);
    cr_assert (v.retry_after_ms > 0);
    cr_assert_eq (victim, batch2, "newest batch first");
    models_dequeue (models, batch2);
    sched_remove (sched, batch2);
    requests_free (requests, batch2);
    cr_assert_eq (sched_room (sched, urgent, &victim, &v), 0);
    /*  With only low left above batch1: batch1, then low.                  */
    request_t *more = s_queue ("b", LLMQ_PRIO_HIGH, 5);
    (void) more;
    cr_assert_eq (sched_room (sched, urgent, &victim, &v), -1);
    cr_assert_eq (victim, batch1);
    models_dequeue (models, batch1);
    sched_remove (sched, batch1);
    requests_free (requests, batch1);
    s_queue ("b", LLMQ_PRIO_HIGH, 6);
    cr_assert_eq (sched_room (sched, urgent, &victim, &v), -1);
    cr_assert_eq (victim, low);
    /*  A batch request never sheds: it is refused.                         */
    request_t *lazy = s_admit ("b", LLMQ_PRIO_BATCH, 7, NULL);
    cr_assert_eq (sched_room (sched, lazy, &victim, &v), -1);
    cr_assert_null (victim);
    requests_free (requests, lazy);
    requests_free (requests, urgent);
}

Test (sched, tenant_bound)
{
    s_tenant (0, "small", 1)->max_queued = 2;
    s_start (1000, 1);
    s_queue ("small", LLMQ_PRIO_NORMAL, 1);
    s_queue ("small", LLMQ_PRIO_NORMAL, 1);
    request_t *victim;
    sched_verdict_t v;
    request_t *third = s_admit ("small", LLMQ_PRIO_CRITICAL, 2, NULL);
    cr_assert_eq (sched_room (sched, third, &victim, &v), -1);
    cr_assert_eq (v.code, LLMQ_ERR_OVERLOADED);
    cr_assert_null (victim);
    request_t *other = s_admit ("other", LLMQ_PRIO_NORMAL, 2, NULL);
    cr_assert_eq (sched_room (sched, other, &victim, &v), 0);
    requests_free (requests, third);
    requests_free (requests, other);
}

Test (sched, queue_mode_rate_waits)
{
    sched_tenant_conf_t *t = s_tenant (0, "slow", 1);
    t->rps = 1;
    t->burst = 1;
    s_start (1000, 1000000);
    s_queue ("slow", LLMQ_PRIO_NORMAL, 1000000);
    s_queue ("slow", LLMQ_PRIO_NORMAL, 1000000);
    request_t *fast = s_queue ("fast", LLMQ_PRIO_NORMAL, 1000000);
    cr_assert (s_next (1000000));
    /*  slow is parked: fast goes, then nothing until the bucket refills.  */
    cr_assert_eq (s_next (1000001), fast);
    cr_assert_null (s_next (1000002));
    uint64_t wake = sched_wake_us (sched);
    cr_assert (wake > 1000002 && wake <= 2000001, "wake at %llu", (unsigned long long) wake);
    sched_unpark (sched, wake);
    cr_assert (s_next (wake));
}

Test (sched, reject_mode_rate_limited)
{
    sched_tenant_conf_t *t = s_tenant (0, "strict", 1);
    t->rpm = 60;
    t->mode = SCHED_MODE_REJECT;
    s_start (1000, 5000000);
    sched_verdict_t v;
    cr_assert (s_admit ("strict", LLMQ_PRIO_NORMAL, 5000000, &v));
    cr_assert_null (s_admit ("strict", LLMQ_PRIO_NORMAL, 5000000, &v));
    cr_assert_eq (v.code, LLMQ_ERR_RATE_LIMITED);
    cr_assert (v.retry_after_ms >= 900 && v.retry_after_ms <= 1000, "%u", v.retry_after_ms);
    cr_assert (s_admit ("strict", LLMQ_PRIO_NORMAL, 5000000 + 1000ull * v.retry_after_ms, &v));
}

Test (sched, tenant_in_flight_cap)
{
    s_tenant (0, "capped", 1)->max_in_flight = 1;
    s_start (1000, 1);
    s_queue ("capped", LLMQ_PRIO_NORMAL, 1);
    s_queue ("capped", LLMQ_PRIO_NORMAL, 1);
    request_t *first = s_next (2);
    cr_assert (first);
    cr_assert_null (s_next (3));
    s_done (first, 4);
    cr_assert (sched_wake_us (sched));
    sched_unpark (sched, 4);
    cr_assert (s_next (5));
}

Test (sched, model_in_flight_cap_and_aimd)
{
    static sched_model_conf_t mconf = { .name = "m", .max_in_flight = 2 };
    conf.models = &mconf;
    conf.n_models = 1;
    s_start (1000, 1);
    for (int i = 0; i < 6; i++)
        s_queue ("a", LLMQ_PRIO_NORMAL, 1);
    request_t *r1 = s_next (2);
    request_t *r2 = s_next (2);
    cr_assert (r1 && r2);
    cr_assert_null (s_next (2), "model cap 2");
    /*  A 429 with Retry-After 500 ms: halve (to 1) and pause.            */
    sched_throttled (sched, r1, 500, 3);
    s_done (r1, 3);
    s_done (r2, 3);
    cr_assert_null (s_next (4), "paused");
    cr_assert_eq (sched_wake_us (sched), 3 + 500000, "wake %llu",
                  (unsigned long long) sched_wake_us (sched));
    request_t *r3 = s_next (3 + 500000);
    cr_assert (r3);
    cr_assert_null (s_next (3 + 500001), "AIMD cap 1");
    sched_model_info_t info;
    cr_assert (sched_model_info (sched, true, 3 + 500001, &info));
    cr_assert_eq (info.aimd_cap, 1);
    cr_assert_eq (info.throttled, 1);
    /*  Successes raise it back.                                           */
    llmq_usage_t usage = { 0 };
    sched_settle (sched, r3, &usage, 3 + 500002);
    s_done (r3, 3 + 500002);
    cr_assert (sched_model_info (sched, true, 3 + 500002, &info));
    cr_assert (info.aimd_cap != 1);
}

Test (sched, reconfigure_keeps_queue)
{
    s_tenant (0, "a", 1)->rps = 1;
    s_start (1000, 1);
    for (int i = 0; i < 5; i++)
        s_queue ("a", LLMQ_PRIO_NORMAL, 1);
    cr_assert (s_next (2));
    cr_assert_null (s_next (3));
    tenants[0].rps = 0;            /* unlimited now                        */
    cr_assert_eq (sched_configure (sched, &conf, 4), 0);
    cr_assert_eq (sched_queued (sched), 4);
    sched_unpark (sched, 4);
    for (int i = 0; i < 4; i++)
        cr_assert (s_next (5));
}

Test (sched, earliest_deadline_first_within_a_tenant)
{
    s_tenant (0, "edf", 1)->edf = true;
    s_start (1000, 1);
    uint64_t deadlines[] = { 300, 100, 200, 400, 150 };
    for (int i = 0; i < 5; i++) {
        request_t *req = s_admit ("edf", LLMQ_PRIO_NORMAL, 1, NULL);
        req->deadline_us = deadlines[i];
        req->state = REQ_QUEUED;
        models_enqueue (models, req, false);
        sched_enqueue (sched, req, false, 1);
    }
    uint64_t expected[] = { 100, 150, 200, 300, 400 };
    for (int i = 0; i < 5; i++) {
        request_t *req = s_next (2);
        cr_assert (req);
        cr_assert_eq (req->deadline_us, expected[i], "pick %d: %llu", i,
                      (unsigned long long) req->deadline_us);
    }
}

Test (sched, cancel_from_the_middle)
{
    s_start (1000, 1);
    request_t *a = s_queue ("a", LLMQ_PRIO_NORMAL, 1);
    request_t *b = s_queue ("a", LLMQ_PRIO_NORMAL, 1);
    request_t *c = s_queue ("a", LLMQ_PRIO_NORMAL, 1);
    models_dequeue (models, b);
    sched_remove (sched, b);
    requests_free (requests, b);
    cr_assert_eq (sched_queued (sched), 2);
    cr_assert_eq (s_next (2), a);
    cr_assert_eq (s_next (2), c);
    cr_assert_null (s_next (2));
}
