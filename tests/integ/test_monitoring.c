/*  test_monitoring.c -- the monitoring promises (README "Monitoring",
    PROTOCOL.md "Stats"), on the real binaries:
    - a stats query after a known workload shows the exact counts, by
      outcome (answered by a worker, cached, errors by code), model,
      tenant and priority, and tokens;
    - latency percentiles are within the histogram's stated error of the
      exact percentiles of the same samples (the answers' own timings);
    - /metrics parses with the reference parser and matches the workload;
    - one request log line per finished request, without the prompt;
    - subscribers get snapshots at the configured interval;
    - `llmq top` renders in a pseudo-terminal, quits on q, and prints
      plain lines when stdout is not a terminal.  */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <zmq.h>

#include "harness.h"
#include "llmq.h"
#include "llmq_proto.h"

#define SECRET "zebraquokka"        /* in every prompt; never in a log     */
#define HIST_REL_ERROR (1.0 / 64)   /* broker/histogram.h                  */

static cluster_t cluster;

static uint64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void
s_start (const char *const *extra)
{
    cluster_opts_t o = cluster_defaults ();
    o.backend = "mock";
    o.workers = 2;
    o.slots = 4;
    o.tokens = 8;
    for (int i = 0; i < 8 && extra [i]; i++)
        o.broker_extra [i] = extra [i];
    cr_assert_eq (cluster_start (&cluster, &o), 0, "cluster did not start");
}

static void
s_stop (void)
{
    cluster_stop (&cluster);
}

/*  One chat; returns the response (caller destroys) or NULL on error.     */
static llmq_response_t *
s_chat (llmq_client_t *client, const char *model, const char *tenant, uint32_t priority,
        llmq_result_t *result)
{
    llmq_request_t *req = llmq_request_new (model);
    cr_assert_not_null (req);
    cr_assert_eq (llmq_request_add_message (req, "user", "tell me about the " SECRET), LLMQ_OK);
    llmq_request_set_timeout (req, 20000);
    if (tenant)
        cr_assert_eq (llmq_request_set_tenant (req, tenant), LLMQ_OK);
    cr_assert_eq (llmq_request_set_priority (req, priority), LLMQ_OK);
    llmq_response_t *resp = NULL;
    *result = llmq_chat (client, req, 30000, &resp);
    llmq_request_destroy (&req);
    return resp;
}

static json_t *
s_stats (void)
{
    char *text = harness_stats_json (cluster.stats_ep, 5000);
    cr_assert_not_null (text, "no stats answer");
    json_t *root = json_loads (text, 0, NULL);
    free (text);
    cr_assert (json_is_object (root));
    return root;
}

/*  root.a.b.c as an integer; -1 when missing.                             */
static long long
s_get (json_t *root, const char *path)
{
    char copy [256];
    snprintf (copy, sizeof copy, "%s", path);
    json_t *node = root;
    for (char *save = NULL, *key = strtok_r (copy, ".", &save); key && node;
         key = strtok_r (NULL, ".", &save))
        node = json_object_get (node, key);
    return json_is_integer (node) ? (long long) json_integer_value (node) : -1;
}

static int
s_cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static int
s_cmp_ll (const void *a, const void *b)
{
    long long x = *(const long long *) a, y = *(const long long *) b;
    return x < y ? -1 : x > y;
}

/*  Nearest-rank percentile, as histogram.h defines it.                    */
static uint64_t
s_exact (const uint64_t *sorted, size_t n, double percent)
{
    double exact = percent / 100.0 * (double) n;
    size_t rank = (size_t) exact;
    if ((double) rank < exact)
        rank++;
    return sorted [rank ? rank - 1 : 0];
}

/*  Runs the parser script on /metrics; the samples as JSON, or NULL.     */
static json_t *
s_metrics (void)
{
    char dir [512], cmd [1200];
    snprintf (dir, sizeof dir, "%s", __FILE__);
    char *slash = strrchr (dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf (dir, sizeof dir, ".");
    snprintf (cmd, sizeof cmd, "/usr/bin/python3 %s/check_metrics.py http://%s/metrics",
              dir, cluster.metrics_addr);
    FILE *pipe = popen (cmd, "r");
    cr_assert_not_null (pipe);
    size_t size = 0, alloc = 1 << 16;
    char *text = malloc (alloc);
    size_t n;
    while ((n = fread (text + size, 1, alloc - size - 1, pipe)) > 0) {
        size += n;
        if (size + 1 == alloc)
            text = realloc (text, alloc *= 2);
    }
    text [size] = 0;
    int status = pclose (pipe);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0,
               "check_metrics.py failed (status %d)", status);
    json_t *samples = json_loads (text, 0, NULL);
    free (text);
    cr_assert (json_is_object (samples), "parser output is not JSON");
    return samples;
}

static double
s_sample (json_t *samples, const char *key)
{
    json_t *value = json_object_get (samples, key);
    return json_is_number (value) ? json_number_value (value) : -1;
}

Test (monitoring, known_workload_exact_counts_metrics_and_log, .fini = s_stop, .timeout = 120)
{
    const char *extra [] = { "--no-worker-grace", "200", "--stats-interval-ms", "200",
                             "--metrics-listen", "127.0.0.1:0", "--log-format", "json",
                             NULL };
    s_start (extra);
    cr_assert (cluster.metrics_addr [0], "no metrics= in the ready line");
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    cr_assert_not_null (client);

    enum { ACME = 12, DEFAULT = 8, NO_WORKER = 3, SAME = 4, CACHED = SAME - 1 };
    uint64_t totals [ACME + DEFAULT + SAME];
    uint64_t prompt = 0, completion = 0;
    for (int i = 0; i < ACME + DEFAULT; i++) {
        llmq_result_t rc;
        llmq_response_t *resp = i < ACME ? s_chat (client, "mock", "acme", LLMQ_PRIO_HIGH, &rc)
                                         : s_chat (client, "mock", NULL, LLMQ_PRIO_NORMAL, &rc);
        cr_assert_eq (rc, LLMQ_OK, "request %d: %s", i, llmq_strerror (rc));
        totals [i] = llmq_response_total_us (resp);
        prompt += llmq_response_prompt_tokens (resp);
        completion += llmq_response_completion_tokens (resp);
        llmq_response_destroy (&resp);
    }
    for (int i = 0; i < NO_WORKER; i++) {
        llmq_result_t rc;
        llmq_response_t *resp = s_chat (client, "nobody", "acme", LLMQ_PRIO_LOW, &rc);
        cr_assert_neq (rc, LLMQ_OK);
        llmq_response_destroy (&resp);
    }
    /*  The same deterministic question SAME times: one answer from the
        worker, the rest from the broker's cache (README, "Cache").       */
    int cached = 0;
    for (int i = 0; i < SAME; i++) {
        llmq_request_t *req = llmq_request_new ("mock");
        llmq_request_add_message (req, "user", "the same question about the " SECRET);
        llmq_request_set_temperature (req, 0);
        llmq_request_set_tenant (req, "beta");
        llmq_response_t *resp = NULL;
        cr_assert_eq (llmq_chat (client, req, 30000, &resp), LLMQ_OK);
        cached += llmq_response_cached (resp);
        totals [ACME + DEFAULT + i] = llmq_response_total_us (resp);
        prompt += llmq_response_prompt_tokens (resp);
        completion += llmq_response_completion_tokens (resp);
        llmq_response_destroy (&resp);
        llmq_request_destroy (&req);
    }
    cr_assert_eq (cached, CACHED, "the cache answered %d, not %d", cached, CACHED);
    llmq_client_destroy (&client);

    /*  The stats query: exact counts.                                     */
    json_t *root = s_stats ();
    cr_expect_eq (s_get (root, "requests.received"), ACME + DEFAULT + NO_WORKER + SAME);
    /*  requests.answered counts every FINAL delivered, cache hits too.   */
    cr_expect_eq (s_get (root, "requests.answered"), ACME + DEFAULT + SAME);
    cr_expect_eq (s_get (root, "requests.cached"), CACHED);
    cr_expect_eq (s_get (root, "by_tenant.beta.answered"), 1);
    cr_expect_eq (s_get (root, "by_tenant.beta.cached"), CACHED);
    cr_expect_eq (s_get (root, "by_model.mock.cached"), CACHED);
    cr_expect_eq (s_get (root, "requests.errors.no_worker"), NO_WORKER);
    cr_expect_eq (s_get (root, "requests.error_total"), NO_WORKER);
    cr_expect_eq (s_get (root, "by_model.mock.answered"), ACME + DEFAULT + 1);
    cr_expect_eq (s_get (root, "by_model.mock.received"), ACME + DEFAULT + SAME);
    cr_expect_eq (s_get (root, "by_model.nobody.errors.no_worker"), NO_WORKER);
    cr_expect_eq (s_get (root, "by_tenant.acme.answered"), ACME);
    cr_expect_eq (s_get (root, "by_tenant.acme.error_total"), NO_WORKER);
    cr_expect_eq (s_get (root, "by_tenant.default.answered"), DEFAULT);
    cr_expect_eq (s_get (root, "by_priority.high.answered"), ACME);
    cr_expect_eq (s_get (root, "by_priority.normal.answered"), DEFAULT + 1);
    cr_expect_eq (s_get (root, "by_priority.normal.cached"), CACHED);
    cr_expect_eq (s_get (root, "by_priority.low.errors.no_worker"), NO_WORKER);
    cr_expect_eq (s_get (root, "tokens.prompt"), (long long) prompt);
    cr_expect_eq (s_get (root, "tokens.completion"), (long long) completion);
    cr_expect_eq (s_get (root, "latency_us.total.count"), ACME + DEFAULT + SAME);
    cr_expect_eq (s_get (root, "latency_us.queue.count"), ACME + DEFAULT + SAME);
    cr_expect_eq (s_get (root, "latency_us.broker.count"), ACME + DEFAULT + SAME);
    cr_expect_eq (s_get (root, "config.stats_interval_ms"), 200);
    cr_expect_eq (json_array_size (json_object_get (root, "workers")), 2);

    /*  Percentiles within the stated error of the exact ones, computed
        from the very samples the broker recorded (each answer carries
        its total time).                                                   */
    size_t n = ACME + DEFAULT + SAME;
    qsort (totals, n, sizeof totals [0], s_cmp_u64);
    static const struct { const char *key; double p; } ps [] = {
        { "latency_us.total.p50", 50 }, { "latency_us.total.p90", 90 },
        { "latency_us.total.p99", 99 }, { "latency_us.total.p999", 99.9 }
    };
    for (size_t i = 0; i < sizeof ps / sizeof ps [0]; i++) {
        double exact = (double) s_exact (totals, n, ps [i].p);
        double got = (double) s_get (root, ps [i].key);
        double allowed = exact * HIST_REL_ERROR + 0.5;
        cr_expect (got >= exact - allowed && got <= exact + allowed,
                   "%s: %g, exact %g (+-%g)", ps [i].key, got, exact, allowed);
    }
    cr_expect_eq (s_get (root, "latency_us.total.max"), (long long) totals [n - 1]);
    json_decref (root);

    /*  /metrics: refreshed every 200 ms; wait for this workload to show. */
    json_t *samples = NULL;
    uint64_t until = s_now_ms () + 10000;
    do {
        json_decref (samples);
        samples = s_metrics ();
    } while (s_sample (samples, "llmq_request_errors_total{code=\"no_worker\"}") != NO_WORKER
             && s_now_ms () < until);
    cr_expect_eq (s_sample (samples, "llmq_requests_received_total{}"),
                  ACME + DEFAULT + NO_WORKER + SAME);
    cr_expect_eq (s_sample (samples, "llmq_requests_total{outcome=\"answered\"}"), ACME + DEFAULT + 1);
    cr_expect_eq (s_sample (samples, "llmq_requests_total{outcome=\"cached\"}"), CACHED);
    cr_expect_eq (s_sample (samples, "llmq_cache_hits_total{}"), CACHED);
    cr_expect_eq (s_sample (samples, "llmq_requests_total{outcome=\"error\"}"), NO_WORKER);
    cr_expect_eq (s_sample (samples, "llmq_request_errors_total{code=\"no_worker\"}"), NO_WORKER);
    cr_expect_eq (s_sample (samples, "llmq_model_requests_total{model=\"mock\",outcome=\"answered\"}"),
                  ACME + DEFAULT + 1);
    cr_expect_eq (s_sample (samples, "llmq_tenant_requests_total{outcome=\"cached\",tenant=\"beta\"}"),
                  CACHED);
    cr_expect_eq (s_sample (samples, "llmq_tenant_requests_total{outcome=\"answered\",tenant=\"acme\"}"),
                  ACME);
    cr_expect_eq (s_sample (samples, "llmq_priority_requests_total{outcome=\"answered\",priority=\"high\"}"),
                  ACME);
    cr_expect_eq (s_sample (samples, "llmq_token_usage_total{model=\"mock\",type=\"output\"}"),
                  (double) completion);
    cr_expect_eq (s_sample (samples, "llmq_request_duration_seconds_count{model=\"mock\"}"),
                  ACME + DEFAULT + SAME);
    cr_expect_eq (s_sample (samples, "llmq_request_duration_seconds_bucket{le=\"+Inf\",model=\"mock\"}"),
                  ACME + DEFAULT + SAME);
    cr_expect_eq (s_sample (samples, "llmq_workers{state=\"ready\"}"), 2);
    cr_expect_eq (s_sample (samples, "llmq_queued_requests{}"), 0);
    json_decref (samples);

    /*  The request log: one JSON line per finished request, no prompt.   */
    cr_expect_eq (proc_count_lines (&cluster.broker, "\"msg\":\"request\""),
                  ACME + DEFAULT + NO_WORKER + SAME);
    cr_expect_eq (proc_count_lines (&cluster.broker, "\"outcome\":\"cached\""), CACHED);
    cr_expect_eq (proc_count_lines (&cluster.broker, "\"tenant\":\"acme\",\"model\":\"mock\""), ACME);
    cr_expect_eq (proc_count_lines (&cluster.broker, "\"code\":\"no_worker\""), NO_WORKER);
    cr_expect_eq (proc_count_lines (&cluster.broker, SECRET), 0, "the prompt reached the log");
}

Test (monitoring, subscribers_get_snapshots_at_the_interval, .fini = s_stop, .timeout = 60)
{
    const char *extra [] = { "--stats-interval-ms", "250", NULL };
    s_start (extra);
    void *ctx = zmq_ctx_new ();
    void *sub = zmq_socket (ctx, ZMQ_SUB);
    int linger = 0;
    zmq_setsockopt (sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (sub, ZMQ_SUBSCRIBE, "", 0);
    cr_assert_eq (zmq_connect (sub, cluster.stats_pub_ep), 0, "%s", cluster.stats_pub_ep);
    int timeout = 5000;
    zmq_setsockopt (sub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    llmq_decoder_t *dec = llmq_decoder_new ();
    llmq_buf_t json;
    llmq_buf_init (&json);
    long long last_uptime = -1;
    enum { SNAPSHOTS = 7 };
    long long gaps [SNAPSHOTS];
    int n_gaps = 0;
    for (int i = 0; i < SNAPSHOTS; i++) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        cr_assert_neq (zmq_msg_recv (&msg, sub, 0), -1, "snapshot %d did not come", i);
        llmq_cmd_t cmd;
        cr_assert_eq (llmq_peek_command (zmq_msg_data (&msg), zmq_msg_size (&msg), &cmd), 0);
        cr_assert_eq (cmd, LLMQ_CMD_STATS_REPLY);
        cr_assert_eq (llmq_frame_to_json (dec, zmq_msg_data (&msg), zmq_msg_size (&msg), &json), 0);
        zmq_msg_close (&msg);
        json_t *root = json_loads (json.data, 0, NULL);
        cr_assert_not_null (root);
        cr_assert_not_null (json_object_get (root, "latency_us"));
        cr_assert_eq (json_array_size (json_object_get (root, "workers")), 2);
        long long uptime = s_get (root, "uptime_ms");
        /*  Consecutive snapshots, by the broker's own clock: never early;
            typically one interval apart (the median: a loaded machine may
            delay one tick, which delays only that one).                   */
        if (last_uptime >= 0) {
            gaps [n_gaps++] = uptime - last_uptime;
            cr_expect_geq (uptime - last_uptime, 245, "snapshot %d came early", i);
        }
        last_uptime = uptime;
        json_decref (root);
    }
    qsort (gaps, (size_t) n_gaps, sizeof gaps [0], s_cmp_ll);
    cr_expect (gaps [n_gaps / 2] >= 245 && gaps [n_gaps / 2] <= 400,
               "median snapshot gap %lld ms, interval 250", gaps [n_gaps / 2]);
    llmq_buf_free (&json);
    llmq_decoder_destroy (&dec);
    zmq_close (sub);
    zmq_ctx_term (ctx);
}

/*  Runs a shell command, returns its exit status and its output.          */
static int
s_run (const char *cmd, char *out, size_t size)
{
    FILE *pipe = popen (cmd, "r");
    cr_assert_not_null (pipe);
    size_t used = 0, n;
    while (used + 1 < size && (n = fread (out + used, 1, size - used - 1, pipe)) > 0)
        used += n;
    out [used] = 0;
    char drain [4096];
    while (fread (drain, 1, sizeof drain, pipe) > 0)
        ;
    int status = pclose (pipe);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

Test (monitoring, top_renders_in_a_terminal_and_as_lines, .fini = s_stop, .timeout = 90)
{
    const char *extra [] = { "--stats-interval-ms", "200", NULL };
    s_start (extra);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_result_t rc;
    llmq_response_t *resp = s_chat (client, "mock", "acme", LLMQ_PRIO_NORMAL, &rc);
    cr_assert_eq (rc, LLMQ_OK);
    llmq_response_destroy (&resp);
    llmq_client_destroy (&client);

    static char out [1 << 16];
    char cmd [1024];
    /*  In a pseudo-terminal (script(1)): full screen, redrawn in place.  */
    snprintf (cmd, sizeof cmd, "timeout 30 script -qec '%s/llmq top --stats-pub %s --count 3' "
              "/dev/null </dev/null 2>&1", LLMQ_BIN_DIR, cluster.stats_pub_ep);
    int status = s_run (cmd, out, sizeof out);
    cr_assert_eq (status, 0, "llmq top exited %d:\n%s", status, out);
    cr_expect (strstr (out, "\033[?1049h"), "no alternate screen");
    cr_expect (strstr (out, "\033[H"), "no redraw in place");
    cr_expect (strstr (out, "llmq top - broker"), "%s", out);
    cr_expect (strstr (out, "WORKER (by load)"));
    cr_expect (strstr (out, "time to 1st token"));
    cr_expect (strstr (out, "acme"), "tenant table missing");
    cr_expect (strstr (out, "req/s in"), "no rate after 3 snapshots");
    cr_expect (strstr (out, "\033[?25h"), "cursor not restored");
    cr_expect (!strstr (out, "llmq: "), "an error was printed:\n%s", out);

    /*  'q' quits: typed into the terminal while it runs (again a little
        later, in case the first came before top was reading keys).       */
    snprintf (cmd, sizeof cmd, "(sleep 1; printf q; sleep 2; printf q) 2>/dev/null | "
              "timeout 30 script -qec "
              "'%s/llmq top --stats-pub %s' /dev/null >/dev/null 2>&1; echo $?",
              LLMQ_BIN_DIR, cluster.stats_pub_ep);
    uint64_t start = s_now_ms ();
    s_run (cmd, out, sizeof out);
    cr_expect_eq (atoi (out), 0, "llmq top did not quit on q (status %s)", out);
    cr_expect_lt (s_now_ms () - start, 20000);

    /*  Not a terminal: one plain line per snapshot.                      */
    snprintf (cmd, sizeof cmd, "timeout 30 %s/llmq top --stats-pub %s --count 2 </dev/null",
              LLMQ_BIN_DIR, cluster.stats_pub_ep);
    status = s_run (cmd, out, sizeof out);
    cr_assert_eq (status, 0);
    cr_expect (!strchr (out, '\033'), "escape codes in plain output");
    int lines = 0;
    for (char *p = out; (p = strstr (p, "rate_in=")); p++)
        lines++;
    cr_expect_eq (lines, 2, "%s", out);
    cr_expect (strstr (out, "received=1 "), "%s", out);
}

Test (monitoring, queue_depth_by_priority_and_oldest_age, .fini = s_stop, .timeout = 60)
{
    cluster_opts_t o = cluster_defaults ();
    o.backend = "mock";
    o.workers = 1;
    o.slots = 1;
    o.tokens = 4;
    o.mock_ttft_ms = 5000;          /* the one slot stays busy             */
    cr_assert_eq (cluster_start (&cluster, &o), 0, "cluster did not start");
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    static const struct { uint32_t priority; int count; } plan [] = {
        { LLMQ_PRIO_NORMAL, 1 }, { LLMQ_PRIO_LOW, 2 }, { LLMQ_PRIO_HIGH, 3 }
    };
    for (size_t p = 0; p < 3; p++)
        for (int i = 0; i < plan [p].count; i++) {
            llmq_request_t *req = llmq_request_new ("mock");
            llmq_request_add_message (req, "user", "wait in line");
            llmq_request_set_priority (req, plan [p].priority);
            llmq_request_set_timeout (req, 30000);
            cr_assert_eq (llmq_submit (client, req, NULL, NULL, NULL, NULL), LLMQ_OK);
            llmq_request_destroy (&req);
        }
    /*  Until the broker holds all six: one in flight, five queued.       */
    json_t *root = NULL;
    uint64_t until = s_now_ms () + 10000;
    for (;;) {
        llmq_process (client, 50);
        json_decref (root);
        root = s_stats ();
        if (s_get (root, "queued") == 5 || s_now_ms () > until)
            break;
    }
    cr_assert_eq (s_get (root, "queued"), 5);
    cr_expect_eq (s_get (root, "in_flight"), 1);
    cr_expect_eq (s_get (root, "queued_by_priority.mock.low"), 2);
    cr_expect_eq (s_get (root, "queued_by_priority.mock.high"), 3);
    cr_expect_eq (s_get (root, "queued_by_priority.mock.normal"), 0);
    cr_expect_eq (s_get (root, "by_priority.low.received"), 2);
    cr_expect_eq (s_get (root, "by_priority.high.received"), 3);
    cr_expect_geq (s_get (root, "oldest_queued_ms.mock"), 0);
    json_decref (root);
    /*  Some time later the oldest has aged by about that much.           */
    uint64_t start = s_now_ms ();
    while (s_now_ms () - start < 300)
        llmq_process (client, 50);
    root = s_stats ();
    cr_expect_geq (s_get (root, "oldest_queued_ms.mock"), 250);
    json_decref (root);
    llmq_client_destroy (&client);
}

/*  Labels: the config's tenants and models are labelled first, unknown
    names share what --metrics-max-labels leaves and then fold into
    "other"; refusals by the scheduler are counted by tenant, model and
    priority; --log-prompt-sizes adds sizes (never the text) to the log.  */
Test (monitoring, config_labels_refusals_and_prompt_sizes, .fini = s_stop, .timeout = 90)
{
    char path [] = "/tmp/llmq-mon-XXXXXX";
    int fd = mkstemp (path);
    cr_assert (fd >= 0);
    FILE *f = fdopen (fd, "w");
    cr_assert_not_null (f);
    fputs ("tenants:\n"
           "  acme: { rps: 0.01, burst: 1, mode: reject }\n"
           "  beta: { weight: 1 }\n"
           "models:\n"
           "  mock: { max_in_flight: 64 }\n"
           "  zeta: { max_in_flight: 64 }\n"
           "broker:\n"
           "  no_worker_grace_ms: 100\n"
           "monitoring:\n"             /* the config keys of the flags    */
           "  stats_interval_ms: 100\n"
           "  metrics_listen: 127.0.0.1:0\n"
           "  metrics_max_labels: 1\n"
           "  log_format: json\n"
           "  log_prompt_sizes: true\n", f);
    fclose (f);
    cluster_opts_t o = cluster_defaults ();
    o.backend = "mock";
    o.workers = 1;
    o.slots = 4;
    o.tokens = 8;
    o.broker_extra [0] = "--config";
    o.broker_extra [1] = path;
    int started = cluster_start (&cluster, &o);
    remove (path);
    cr_assert_eq (started, 0, "cluster did not start");
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    cr_assert_not_null (client);

    /*  Unknown names first: with the known ones holding every slot they
        fold into "other" at once, and cannot take the known ones' labels. */
    llmq_result_t rc;
    llmq_response_t *resp = s_chat (client, "invented", "stranger", LLMQ_PRIO_LOW, &rc);
    cr_assert_neq (rc, LLMQ_OK);
    llmq_response_destroy (&resp);
    resp = s_chat (client, "zeta", "beta", LLMQ_PRIO_NORMAL, &rc);
    cr_assert_neq (rc, LLMQ_OK);            /* no worker serves zeta       */
    llmq_response_destroy (&resp);
    /*  acme's burst of 1: one answer, then rate_limited at admission.    */
    resp = s_chat (client, "mock", "acme", LLMQ_PRIO_HIGH, &rc);
    cr_assert_eq (rc, LLMQ_OK, "%s", llmq_strerror (rc));
    llmq_response_destroy (&resp);
    resp = s_chat (client, "mock", "acme", LLMQ_PRIO_HIGH, &rc);
    cr_assert_neq (rc, LLMQ_OK, "acme over its rate");
    llmq_response_destroy (&resp);
    llmq_client_destroy (&client);

    json_t *root = s_stats ();
    cr_expect_eq (s_get (root, "by_model.other.errors.no_worker"), 1);
    cr_expect_eq (s_get (root, "by_model.zeta.errors.no_worker"), 1);
    cr_expect_eq (s_get (root, "by_model.invented.received"), -1, "folded, no own label");
    cr_expect_eq (s_get (root, "by_tenant.other.error_total"), 1);
    cr_expect_eq (s_get (root, "by_tenant.beta.error_total"), 1);
    cr_expect_eq (s_get (root, "by_tenant.acme.answered"), 1);
    cr_expect_eq (s_get (root, "by_tenant.acme.errors.rate_limited"), 1);
    cr_expect_eq (s_get (root, "by_model.mock.errors.rate_limited"), 1);
    cr_expect_eq (s_get (root, "by_priority.high.errors.rate_limited"), 1);
    json_decref (root);

    json_t *samples = NULL;
    uint64_t until = s_now_ms () + 10000;
    const char *limited =
        "llmq_tenant_requests_total{outcome=\"error\",tenant=\"acme\"}";
    do {
        json_decref (samples);
        samples = s_metrics ();
    } while (s_sample (samples, limited) != 1 && s_now_ms () < until);
    cr_expect_eq (s_sample (samples, limited), 1);
    cr_expect_eq (s_sample (samples,
                  "llmq_model_requests_total{model=\"other\",outcome=\"error\"}"), 1);
    cr_expect_eq (s_sample (samples,
                  "llmq_model_requests_total{model=\"zeta\",outcome=\"error\"}"), 1);
    cr_expect_eq (s_sample (samples,
                  "llmq_model_requests_total{model=\"invented\",outcome=\"error\"}"), -1);
    json_decref (samples);

    /*  Sizes of the one message ("tell me about the " SECRET), no text.  */
    char want [64];
    snprintf (want, sizeof want, "\"prompt_bytes\":%zu,\"messages\":1",
              strlen ("tell me about the " SECRET));
    cr_expect_eq (proc_count_lines (&cluster.broker, want), 4, "want %s on 4 lines", want);
    cr_expect_eq (proc_count_lines (&cluster.broker, SECRET), 0, "the prompt was logged");
}
