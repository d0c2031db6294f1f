/*  bench_sched.c -- the scheduler's cost per request (broker/scheduler.h)
    with 1, 100 and 10,000 tenants and 100,000 requests queued.

    Steady state: the queue holds 100,000 requests spread over T tenants
    (weights 1..4, mixed priorities); each round dispatches the best one
    (peek, take, charge), ends it (release) and admits a new one for a
    tenant in turn (admit, enqueue): one request's whole life in the
    scheduler. Prints ns per request per T and the ratio to T = 1; the
    issue's target is within 2x.

        bench_sched [rounds [tenants]]    # default 1,000,000, all three
        valgrind --tool=callgrind --toggle-collect=s_rounds \
            bench_sched 100000 10000      # instructions, repeatable
*/
#include "models.h"
#include "requests.h"
#include "scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUED 100000

static uint64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static char names[10000][16];

static request_t *
s_admit (sched_t *sched, requests_t *requests, model_t *model, int tenant, uint32_t prio,
         uint64_t now_us)
{
    request_t *req = requests_alloc (requests);
    if (!req)
        abort ();
    req->model = model;
    llmq_wire_request_t msg = { 0 };
    msg.tenant = llmq_str (names[tenant]);
    msg.priority = prio;
    msg.raw_size = 300;
    sched_verdict_t v;
    if (sched_admit (sched, req, &msg, now_us, &v))
        abort ();
    return req;
}

static void
s_queue (sched_t *sched, models_t *models, request_t *req, uint64_t now_us)
{
    req->state = REQ_QUEUED;
    models_enqueue (models, req, false);
    sched_enqueue (sched, req, false, now_us);
}

/*  The measured part, a function of its own so that callgrind can count
    only it: valgrind --tool=callgrind --toggle-collect=s_rounds.          */
__attribute__ ((noinline)) void
s_rounds (sched_t *sched, models_t *models, requests_t *requests, model_t *model,
          int tenants, long rounds, uint64_t *now_p)
{
    uint64_t now_us = *now_p;
    for (long r = 0; r < rounds; r++) {
        now_us++;
        request_t *req = sched_peek (sched, model, now_us);
        if (!req)
            abort ();
        models_dequeue (models, req);
        sched_take (sched, req);
        req->state = REQ_IN_FLIGHT;
        sched_charge (sched, req, now_us);
        sched_release (sched, req, now_us);
        requests_free (requests, req);
        s_queue (sched, models, s_admit (sched, requests, model, (int) (r % tenants),
                                         LLMQ_PRIO_HIGH + (uint32_t) (r % 3), now_us), now_us);
    }
    *now_p = now_us;
}

static double
s_run (int tenants, long rounds)
{
    sched_config_t conf;
    sched_config_defaults (&conf);
    /*  Aging off: with a fake clock that barely moves it would never fire
        anyway, and the cost measured is the steady one.                    */
    memset (conf.aging_ms, 0, sizeof conf.aging_ms);
    sched_tenant_conf_t *list = calloc ((size_t) tenants, sizeof *list);
    for (int t = 0; t < tenants; t++) {
        list[t] = conf.defaults;
        list[t].name = names[t];
        list[t].weight = 1 + (uint32_t) (t % 4);
    }
    conf.tenants = list;
    conf.n_tenants = (size_t) tenants;
    models_t *models = models_new ();
    requests_t *requests = requests_new ();
    sched_t *sched = sched_new (&conf, QUEUED * 2, 0, 1);
    model_t *model = models_get (models, "m", 1);
    uint64_t now_us = 1;
    for (int i = 0; i < QUEUED; i++)
        s_queue (sched, models, s_admit (sched, requests, model, i % tenants,
                                         LLMQ_PRIO_HIGH + (uint32_t) (i % 3), now_us), now_us);
    uint64_t start = s_now_ns ();
    s_rounds (sched, models, requests, model, tenants, rounds, &now_us);
    double ns = (double) (s_now_ns () - start) / (double) rounds;
    for (uint32_t i = 0; i < requests_slots (requests); i++) {
        request_t *req = requests_at (requests, i);
        if (req) {
            models_dequeue (models, req);
            sched_remove (sched, req);
            requests_free (requests, req);
        }
    }
    sched_destroy (&sched);
    requests_destroy (&requests);
    models_destroy (&models);
    free (list);
    return ns;
}

int
main (int argc, char *argv [])
{
    long rounds = argc > 1 ? atol (argv [1]) : 1000000;
    int only = argc > 2 ? atoi (argv [2]) : 0;     /* one tenant count     */
    for (int t = 0; t < 10000; t++)
        snprintf (names[t], sizeof names[t], "tenant-%d", t);
    const int tenants [] = { 1, 100, 10000 };
    /*  The machine is shared and noisy: run the three interleaved, three
        times, and keep each one's best (the least disturbed) run.        */
    double best [3] = { 0, 0, 0 };
    printf ("scheduler cost per request, %d queued, %ld rounds, best of 3\n", QUEUED, rounds);
    for (int rep = 0; rep < 3; rep++)
        for (int i = 0; i < 3; i++) {
            if (only && tenants [i] != only)
                continue;
            double ns = s_run (tenants [i], rounds);
            if (best [i] == 0 || ns < best [i])
                best [i] = ns;
        }
    for (int i = 0; i < 3; i++)
        if (best [i] > 0)
            printf ("tenants=%-6d %7.1f ns/request  (%.2fx of 1 tenant)\n", tenants [i],
                    best [i], best [0] > 0 ? best [i] / best [0] : 0);
    return 0;
}
