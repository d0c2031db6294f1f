/*  test_sched.c -- priorities, fairness, quotas and backpressure on the
    real binaries (README, "Priorities, quotas and backpressure"): a slow
    mock backend keeps the queue full, the broker reads a --config file,
    and libllmq clients check the order and the outcome of each answer.  */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "llmq.h"
#include "llmq_proto.h"      /* LLMQ_PRIO_*: the numbers on the wire */

#define MAX_DONE 4096

static cluster_t cluster;
static char config_path[64];

static uint64_t
now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/*  Outcomes in completion order.                                          */
typedef struct {
    int n;
    char tag[MAX_DONE][16];         /* what the test called the request    */
    llmq_result_t rc[MAX_DONE];
    uint32_t retry_after_ms[MAX_DONE];
    uint64_t at_ms[MAX_DONE];
} done_t;

static done_t done;

static void
s_on_done (void *user, llmq_response_t *resp)
{
    if (done.n < MAX_DONE) {
        snprintf (done.tag[done.n], sizeof done.tag[0], "%s", (const char *) user);
        done.rc[done.n] = resp ? llmq_response_result (resp) : LLMQ_E_NOMEM;
        done.retry_after_ms[done.n] = resp ? llmq_response_retry_after_ms (resp) : 0;
        done.at_ms[done.n] = now_ms ();
        done.n++;
    }
    llmq_response_destroy (&resp);
}

static void
s_write_config (const char *text)
{
    snprintf (config_path, sizeof config_path, "/tmp/llmq-sched-XXXXXX");
    int fd = mkstemp (config_path);
    cr_assert (fd >= 0);
    FILE *f = fdopen (fd, "w");
    cr_assert (f);
    fputs (text, f);
    fclose (f);
}

/*  One worker with `slots` slots on the in-process mock backend taking
    ttft_ms per answer; the broker reads config (may be NULL).              */
static void
s_start (const char *config, int slots, int ttft_ms, const char *extra1, const char *extra2)
{
    memset (&done, 0, sizeof done);
    cluster_opts_t o = cluster_defaults ();
    o.workers = 1;
    o.backend = "mock";
    o.slots = slots;
    o.mock_ttft_ms = ttft_ms;
    o.tokens = 4;
    int n = 0;
    if (config) {
        s_write_config (config);
        o.broker_extra[n++] = "--config";
        o.broker_extra[n++] = config_path;
    }
    if (extra1)
        o.broker_extra[n++] = extra1;
    if (extra2)
        o.broker_extra[n++] = extra2;
    cr_assert_eq (cluster_start (&cluster, &o), 0, "cluster did not start");
}

static void
s_stop (void)
{
    cluster_stop (&cluster);
    if (config_path[0])
        remove (config_path);
    config_path[0] = 0;
}

static llmq_client_t *
s_client (void)
{
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    cr_assert (client);
    return client;
}

static void
s_submit (llmq_client_t *client, const char *tenant, uint32_t prio, const char *tag,
          uint32_t timeout_ms)
{
    llmq_request_t *req = llmq_request_new ("mock");
    cr_assert (req);
    cr_assert_eq (llmq_request_add_message (req, "user", "hello there"), LLMQ_OK);
    llmq_request_set_priority (req, prio);
    llmq_request_set_timeout (req, timeout_ms);
    if (tenant)
        cr_assert_eq (llmq_request_set_tenant (req, tenant), LLMQ_OK);
    cr_assert_eq (llmq_submit (client, req, NULL, s_on_done, (void *) tag, NULL), LLMQ_OK);
    llmq_request_destroy (&req);
}

/*  Processes until n outcomes are in (or limit_ms passes).                */
static void
s_wait (llmq_client_t *client, int n, int limit_ms)
{
    uint64_t end = now_ms () + (uint64_t) limit_ms;
    while (done.n < n && now_ms () < end)
        llmq_process (client, 100);
    cr_assert_geq (done.n, n, "only %d of %d answers", done.n, n);
}

/*  The stats snapshot as JSON (caller decrefs).                           */
static json_t *
s_stats (void)
{
    char *text = harness_stats_json (cluster.stats_ep, 5000);
    cr_assert (text);
    json_t *root = json_loads (text, 0, NULL);
    free (text);
    cr_assert (root);
    return root;
}

TestSuite (sched, .fini = s_stop, .timeout = 120);

Test (sched, high_priority_overtakes_queued_low)
{
    s_start (NULL, 1, 100, NULL, NULL);
    llmq_client_t *client = s_client ();
    for (int i = 0; i < 8; i++)
        s_submit (client, NULL, LLMQ_PRIO_LOW, "low", 30000);
    s_submit (client, NULL, LLMQ_PRIO_HIGH, "high", 30000);
    s_wait (client, 9, 30000);
    int at = -1;
    for (int i = 0; i < done.n; i++) {
        cr_assert_eq (done.rc[i], LLMQ_OK);
        if (!strcmp (done.tag[i], "high"))
            at = i;
    }
    /*  Only the low request already in flight may finish before it.       */
    cr_assert (at >= 0 && at <= 1, "high finished at position %d of 9", at);
    llmq_client_destroy (&client);
}

Test (sched, weights_3_to_1_under_saturation)
{
    s_start ("tenants:\n  a: { weight: 3 }\n  b: { weight: 1 }\n", 1, 30, NULL, NULL);
    llmq_client_t *client = s_client ();
    for (int i = 0; i < 40; i++) {
        s_submit (client, "a", LLMQ_PRIO_NORMAL, "a", 60000);
        s_submit (client, "b", LLMQ_PRIO_NORMAL, "b", 60000);
    }
    s_wait (client, 80, 60000);
    /*  While both have work queued (the first 40 answers after the one
        sent before the queue formed) a gets 3 turns for b's 1.            */
    int a = 0, b = 0;
    for (int i = 1; i <= 40; i++) {
        cr_assert_eq (done.rc[i], LLMQ_OK);
        if (!strcmp (done.tag[i], "a"))
            a++;
        else
            b++;
    }
    double ratio = b ? (double) a / b : 99;
    cr_assert (ratio >= 2.7 && ratio <= 3.3, "a=%d b=%d ratio %.2f", a, b, ratio);
    llmq_client_destroy (&client);
}

Test (sched, queue_mode_spreads_requests_over_time)
{
    s_start ("tenants:\n  slow: { rps: 5, burst: 1, mode: queue }\n", 8, 0, NULL, NULL);
    llmq_client_t *client = s_client ();
    uint64_t start = now_ms ();
    for (int i = 0; i < 10; i++)
        s_submit (client, "slow", LLMQ_PRIO_NORMAL, "slow", 30000);
    s_wait (client, 10, 30000);
    for (int i = 0; i < 10; i++)
        cr_assert_eq (done.rc[i], LLMQ_OK, "request %d: %s", i, llmq_result_name (done.rc[i]));
    /*  5 per second with a burst of 1: the 10th goes ~1.8 s after the 1st. */
    uint64_t span = done.at_ms[9] - start;
    cr_assert (span >= 1500, "10 requests at 5/s took only %llu ms", (unsigned long long) span);
    llmq_client_destroy (&client);
}

Test (sched, reject_mode_answers_rate_limited_with_retry_after)
{
    s_start ("tenants:\n  strict: { rps: 1, burst: 1, mode: reject }\n", 4, 0, NULL, NULL);
    llmq_client_t *client = s_client ();
    s_submit (client, "strict", LLMQ_PRIO_NORMAL, "first", 30000);
    s_submit (client, "strict", LLMQ_PRIO_NORMAL, "second", 30000);
    s_wait (client, 2, 30000);
    int ok = 0, limited = -1;
    for (int i = 0; i < 2; i++) {
        if (done.rc[i] == LLMQ_OK)
            ok++;
        if (done.rc[i] == LLMQ_E_RATE_LIMITED)
            limited = i;
    }
    cr_assert_eq (ok, 1);
    cr_assert (limited >= 0, "the second request was not rate_limited");
    uint32_t retry = done.retry_after_ms[limited];
    cr_assert (retry > 0 && retry <= 1000, "retry_after_ms %u", retry);
    /*  Waiting as told works (the wait is what is under test here).       */
    usleep ((useconds_t) retry * 1000 + 50000);
    s_submit (client, "strict", LLMQ_PRIO_NORMAL, "third", 30000);
    s_wait (client, 3, 30000);
    cr_assert_eq (done.rc[2], LLMQ_OK, "after retry_after: %s", llmq_result_name (done.rc[2]));
    llmq_client_destroy (&client);
}

static long
s_rss_kb (pid_t pid)
{
    char path[64], line[256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen (path, "r");
    long kb = -1;
    while (f && fgets (line, sizeof line, f))
        if (sscanf (line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose (f);
    return kb;
}

/*  Floods n requests; returns how many were refused with overloaded.      */
static int
s_flood (llmq_client_t *client, int n)
{
    int before = done.n;
    for (int i = 0; i < n; i++)
        s_submit (client, NULL, LLMQ_PRIO_NORMAL, "flood", 60000);
    s_wait (client, before + n, 90000);
    int overloaded = 0;
    for (int i = before; i < done.n; i++)
        if (done.rc[i] == LLMQ_E_OVERLOADED) {
            overloaded++;
            cr_assert (done.retry_after_ms[i] > 0, "overloaded without retry_after_ms");
        }
        else
            cr_assert_eq (done.rc[i], LLMQ_OK, "%s", llmq_result_name (done.rc[i]));
    return overloaded;
}

Test (sched, full_queue_answers_overloaded_and_memory_stays_flat)
{
    s_start (NULL, 4, 0, "--max-queue", "50");
    llmq_client_t *client = s_client ();
    /*  The first flood warms up every pool; the later ones must not grow. */
    cr_assert_gt (s_flood (client, 1000), 0, "no request was refused");
    long rss1 = s_rss_kb (cluster.broker.pid);
    s_flood (client, 1000);
    s_flood (client, 1000);
    long rss2 = s_rss_kb (cluster.broker.pid);
    cr_assert (rss1 > 0 && rss2 > 0);
    cr_assert (rss2 - rss1 < 4096, "broker grew from %ld to %ld kB", rss1, rss2);
    llmq_client_destroy (&client);
}

Test (sched, batch_is_shed_for_urgent_work)
{
    s_start (NULL, 1, 300, "--max-queue", "5");
    llmq_client_t *client = s_client ();
    for (int i = 0; i < 6; i++)     /* 1 in flight + 5 queued              */
        s_submit (client, NULL, LLMQ_PRIO_BATCH, "batch", 60000);
    /*  Wait until the queue holds five.                                   */
    for (int tries = 0; tries < 200; tries++) {
        llmq_process (client, 20);
        json_t *root = s_stats ();
        json_int_t queued = json_integer_value (json_object_get (root, "queued"));
        json_decref (root);
        if (queued == 5)
            break;
    }
    s_submit (client, NULL, LLMQ_PRIO_HIGH, "high", 60000);
    s_wait (client, 7, 60000);
    int shed = 0;
    bool high_ok = false;
    for (int i = 0; i < done.n; i++) {
        if (!strcmp (done.tag[i], "high"))
            high_ok = done.rc[i] == LLMQ_OK;
        else
        if (done.rc[i] == LLMQ_E_OVERLOADED)
            shed++;
    }
    cr_assert (high_ok, "the high request was not served");
    cr_assert_eq (shed, 1, "%d batch requests shed", shed);
    llmq_client_destroy (&client);
}

Test (sched, deadline_passes_in_queue_and_in_flight)
{
    s_start (NULL, 1, 1500, NULL, NULL);
    llmq_client_t *client = s_client ();
    s_submit (client, NULL, LLMQ_PRIO_NORMAL, "inflight", 500);   /* on the worker  */
    s_submit (client, NULL, LLMQ_PRIO_NORMAL, "queued", 300);     /* behind it      */
    s_wait (client, 2, 10000);
    for (int i = 0; i < 2; i++)
        cr_assert_eq (done.rc[i], LLMQ_E_TIMEOUT, "%s: %s", done.tag[i],
                      llmq_result_name (done.rc[i]));
    /*  The slot was freed (CANCEL to the worker): a new request is served. */
    s_submit (client, NULL, LLMQ_PRIO_NORMAL, "after", 10000);
    s_wait (client, 3, 10000);
    cr_assert_eq (done.rc[2], LLMQ_OK);
    llmq_client_destroy (&client);
}

Test (sched, cancel_removes_queued_request)
{
    s_start (NULL, 1, 400, NULL, NULL);
    llmq_client_t *client = s_client ();
    s_submit (client, NULL, LLMQ_PRIO_NORMAL, "first", 30000);
    llmq_request_t *req = llmq_request_new ("mock");
    llmq_request_add_message (req, "user", "cancel me");
    char id[160];
    cr_assert_eq (llmq_submit (client, req, NULL, s_on_done, "cancelled", id), LLMQ_OK);
    llmq_request_destroy (&req);
    llmq_process (client, 50);
    cr_assert_eq (llmq_cancel (client, id), LLMQ_OK);
    s_submit (client, NULL, LLMQ_PRIO_NORMAL, "third", 30000);
    s_wait (client, 3, 30000);
    json_t *root = s_stats ();
    json_int_t queued = json_integer_value (json_object_get (root, "queued"));
    json_decref (root);
    cr_assert_eq (queued, 0);
    for (int i = 0; i < 3; i++)
        if (!strcmp (done.tag[i], "cancelled"))
            cr_assert_eq (done.rc[i], LLMQ_E_CANCELLED);
        else
            cr_assert_eq (done.rc[i], LLMQ_OK);
    llmq_client_destroy (&client);
}

Test (sched, sighup_reloads_config_and_keeps_queue)
{
    s_start ("tenants:\n  t: { rps: 0.5, burst: 1 }\n", 4, 0, NULL, NULL);
    llmq_client_t *client = s_client ();
    for (int i = 0; i < 6; i++)
        s_submit (client, "t", LLMQ_PRIO_NORMAL, "t", 60000);
    s_wait (client, 1, 10000);
    /*  A bad file is refused and the old one stays.                       */
    FILE *f = fopen (config_path, "w");
    fputs ("tenants:\n  t: { rps: fast }\n", f);
    fclose (f);
    proc_signal (&cluster.broker, SIGHUP);
    cr_assert_eq (proc_wait_line (&cluster.broker, "reload refused", 10000, NULL, 0), 0);
    /*  A good one lifts the limit: the 5 queued requests go at once.      */
    f = fopen (config_path, "w");
    fputs ("tenants:\n  t: { rps: 0 }\n", f);
    fclose (f);
    uint64_t start = now_ms ();
    proc_signal (&cluster.broker, SIGHUP);
    s_wait (client, 6, 20000);
    cr_assert (now_ms () - start < 5000, "queued requests did not go after the reload");
    for (int i = 0; i < 6; i++)
        cr_assert_eq (done.rc[i], LLMQ_OK);
    llmq_client_destroy (&client);
}

Test (sched, upstream_429_slows_down_without_failing_requests)
{
    memset (&done, 0, sizeof done);
    cluster_opts_t o = cluster_defaults ();
    o.workers = 1;
    o.slots = 8;
    o.tokens = 4;
    o.error_rate = 0.3;
    o.error_status = 429;           /* with Retry-After: 1                 */
    cr_assert_eq (cluster_start (&cluster, &o), 0, "cluster did not start");
    llmq_client_t *client = s_client ();
    for (int i = 0; i < 20; i++)
        s_submit (client, NULL, LLMQ_PRIO_NORMAL, "r", 60000);
    s_wait (client, 20, 90000);
    for (int i = 0; i < 20; i++)
        cr_assert_eq (done.rc[i], LLMQ_OK, "request %d: %s", i, llmq_result_name (done.rc[i]));
    json_t *root = s_stats ();
    json_t *model = json_object_get (json_object_get (json_object_get (root, "scheduler"),
                                                      "models"), "mock");
    cr_assert (model, "no scheduler.models.mock in stats");
    cr_assert_gt (json_integer_value (json_object_get (model, "throttled")), 0);
    cr_assert_gt (json_integer_value (json_object_get (model, "decreases")), 0);
    /*  Logged once per change of the limit, not per 429 (README
        "Monitoring").                                                     */
    cr_expect_eq (proc_count_lines (&cluster.broker, "by upstream 429"),
                  json_integer_value (json_object_get (model, "decreases")));
    /*  An episode begins once, and again only after it has ended.        */
    int started = proc_count_lines (&cluster.broker, "mock throttled by upstream 429");
    int recovered = proc_count_lines (&cluster.broker, "mock rate limit recovered");
    cr_expect (started == recovered || started == recovered + 1,
               "%d episodes began, %d ended", started, recovered);
    cr_expect_geq (started, 1);
    json_decref (root);
    llmq_client_destroy (&client);
}
