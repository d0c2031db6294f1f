/*  test_e2e.c -- the end-to-end promises, proven on the real binaries:
    mockllm + llmq-broker + llmq-worker processes, driven through libllmq.  */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "llmq.h"
#include "mocktext.h"

#define TOKENS 16

static uint64_t
now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static cluster_t cluster;

static void
start_cluster (cluster_opts_t *o)
{
    cr_assert_eq (cluster_start (&cluster, o), 0, "cluster did not start");
}

static void
stop_cluster (void)
{
    cluster_stop (&cluster);
}

static void
expected_answer (const char *prompt, char *out, size_t size)
{
    llmq_mock_answer (prompt, strlen (prompt), TOKENS, out, size);
}

static llmq_request_t *
make_request (const char *model, const char *prompt)
{
    llmq_request_t *req = llmq_request_new (model);
    cr_assert_not_null (req);
    cr_assert_eq (llmq_request_add_message (req, "system", "You are terse."), LLMQ_OK);
    cr_assert_eq (llmq_request_add_message (req, "user", prompt), LLMQ_OK);
    llmq_request_set_timeout (req, 20000);
    return req;
}

/*  The id of the worker currently running a request, from the stats
    socket; waits until one is busy. Returns 0 and fills id, or -1.       */
static int
busy_worker (char *id, size_t size)
{
    for (int tries = 0; tries < 2000; tries++) {
        char *json = harness_stats_json (cluster.stats_ep, 2000);
        if (json) {
            json_t *root = json_loads (json, 0, NULL);
            free (json);
            json_t *workers = root ? json_object_get (root, "workers") : NULL;
            size_t i;
            json_t *w;
            int found = -1;
            json_array_foreach (workers, i, w) {
                if (json_integer_value (json_object_get (w, "in_flight")) > 0) {
                    snprintf (id, size, "%s", json_string_value (json_object_get (w, "id")));
                    found = 0;
                    break;
                }
            }
            json_decref (root);
            if (found == 0)
                return 0;
        }
    }
    return -1;
}

/* ---------------------------------------------------------------------- */

TestSuite (e2e, .fini = stop_cluster, .timeout = 120);

Test (e2e, chat_round_trip_whole)
{
    cluster_opts_t o = cluster_defaults ();
    start_cluster (&o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    cr_assert_not_null (client);
    llmq_request_t *req = make_request ("mock", "what is a broker");
    llmq_response_t *resp = NULL;
    llmq_result_t rc = llmq_chat (client, req, 0, &resp);
    cr_assert_eq (rc, LLMQ_OK, "chat failed: %s (%s)", llmq_strerror (rc),
                  resp ? llmq_response_error_message (resp) : "");
    char expected[1024];
    expected_answer ("what is a broker", expected, sizeof expected);
    cr_expect_str_eq (llmq_response_text (resp), expected);
    cr_expect_str_eq (llmq_response_finish_reason (resp), "stop");
    cr_expect_eq (llmq_response_completion_tokens (resp), TOKENS);
    cr_expect_gt (llmq_response_prompt_tokens (resp), 0);
    const char *worker = llmq_response_worker (resp);
    cr_expect (strcmp (worker, "w1") == 0 || strcmp (worker, "w2") == 0, "worker %s", worker);
    cr_expect_not (llmq_response_cached (resp));
    cr_expect_gt (llmq_response_total_us (resp), 0);
    cr_expect_leq (llmq_response_broker_us (resp), llmq_response_total_us (resp));
    cr_expect_eq (harness_mock_chat_requests (&cluster), 1);
    llmq_response_destroy (&resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

typedef struct {
    char text[2048];
    size_t len;
    int chunks;
} stream_acc_t;

static int
on_chunk (void *user, const char *text, size_t len)
{
    stream_acc_t *acc = user;
    cr_assert_lt (acc->len + len, sizeof acc->text);
    memcpy (acc->text + acc->len, text, len);
    acc->len += len;
    acc->text[acc->len] = 0;
    acc->chunks++;
    return 0;
}

Test (e2e, chat_round_trip_streamed)
{
    cluster_opts_t o = cluster_defaults ();
    o.tpot_ms = 5;
    start_cluster (&o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("mock", "stream me please");
    stream_acc_t acc = { .len = 0 };
    llmq_response_t *resp = NULL;
    llmq_result_t rc = llmq_chat_stream (client, req, 0, on_chunk, &acc, &resp);
    cr_assert_eq (rc, LLMQ_OK, "stream failed: %s", llmq_strerror (rc));
    char expected[1024];
    expected_answer ("stream me please", expected, sizeof expected);
    cr_expect_eq (acc.chunks, TOKENS, "one chunk per token, got %d", acc.chunks);
    cr_expect_str_eq (acc.text, expected);
    cr_expect_str_eq (llmq_response_text (resp), expected);
    cr_expect_gt (llmq_response_ttft_us (resp), 0);
    llmq_response_destroy (&resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

/* ---------------------------------------------------------------------- */

#define MANY 1000
#define MANY_CONCURRENCY 32

typedef struct {
    int done, errors, mismatches;
    char prompts[MANY][48];
    int index_of_next;
} many_t;

typedef struct {
    many_t *state;
    int index;
} many_slot_t;

static many_slot_t many_slots[MANY];

static void
on_many_done (void *user, llmq_response_t *resp)
{
    many_slot_t *slot = user;
    many_t *m = slot->state;
    m->done++;
    if (llmq_response_result (resp) != LLMQ_OK) {
        m->errors++;
        fprintf (stderr, "request %d: %s: %s\n", slot->index,
                 llmq_strerror (llmq_response_result (resp)),
                 llmq_response_error_message (resp));
    }
    else {
        char expected[1024];
        expected_answer (m->prompts[slot->index], expected, sizeof expected);
        if (strcmp (expected, llmq_response_text (resp)) != 0)
            m->mismatches++;
    }
    llmq_response_destroy (&resp);
}

static void
submit_many (llmq_client_t *client, many_t *m, int i)
{
    snprintf (m->prompts[i], sizeof m->prompts[i], "question number %d of many", i);
    llmq_request_t *req = make_request ("mock", m->prompts[i]);
    many_slots[i].state = m;
    many_slots[i].index = i;
    cr_assert_eq (llmq_submit (client, req, NULL, on_many_done, &many_slots[i], NULL), LLMQ_OK);
    llmq_request_destroy (&req);
}

Test (e2e, thousand_requests_at_concurrency_32)
{
    cluster_opts_t o = cluster_defaults ();
    start_cluster (&o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    static many_t m;
    memset (&m, 0, sizeof m);
    int next = 0;
    while (next < MANY_CONCURRENCY)
        submit_many (client, &m, next++);
    while (m.done < MANY) {
        int rc = llmq_process (client, 1000);
        cr_assert_geq (rc, 0);
        while (next < MANY && (int) llmq_pending (client) < MANY_CONCURRENCY)
            submit_many (client, &m, next++);
    }
    cr_expect_eq (m.errors, 0, "%d errors", m.errors);
    cr_expect_eq (m.mismatches, 0, "%d answers did not match their prompt", m.mismatches);
    cr_expect_eq (harness_mock_chat_requests (&cluster), MANY);
    llmq_client_destroy (&client);
}

/* ---------------------------------------------------------------------- */

typedef struct {
    llmq_response_t *resp;
} one_t;

static void
on_one_done (void *user, llmq_response_t *resp)
{
    ((one_t *) user)->resp = resp;
}

Test (e2e, killed_worker_request_completes_elsewhere)
{
    cluster_opts_t o = cluster_defaults ();
    o.ttft_ms = 800;        /* long enough to kill the worker mid-request */
    start_cluster (&o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("mock", "survive a dead worker");
    one_t one = { NULL };
    cr_assert_eq (llmq_submit (client, req, NULL, on_one_done, &one, NULL), LLMQ_OK);
    llmq_process (client, 0);

    char busy[64];
    cr_assert_eq (busy_worker (busy, sizeof busy), 0, "no worker took the request");
    int victim = strcmp (busy, "w1") == 0 ? 0 : 1;
    proc_kill (&cluster.worker[victim]);

    while (!one.resp)
        cr_assert_geq (llmq_process (client, 1000), 0);
    cr_assert_eq (llmq_response_result (one.resp), LLMQ_OK, "%s",
                  llmq_response_error_message (one.resp));
    cr_expect_str_neq (llmq_response_worker (one.resp), busy);
    cr_expect_eq (llmq_response_attempts (one.resp), 2);
    char expected[1024];
    expected_answer ("survive a dead worker", expected, sizeof expected);
    cr_expect_str_eq (llmq_response_text (one.resp), expected);
    llmq_response_destroy (&one.resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

Test (e2e, broker_restart_resend_completes)
{
    cluster_opts_t o = cluster_defaults ();
    o.ttft_ms = 600;
    start_cluster (&o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    cr_assert_eq (llmq_client_set_resend (client, 400, 20), LLMQ_OK);
    llmq_request_t *req = make_request ("mock", "outlive the broker");
    one_t one = { NULL };
    cr_assert_eq (llmq_submit (client, req, NULL, on_one_done, &one, NULL), LLMQ_OK);
    llmq_process (client, 0);
    char busy[64];
    cr_assert_eq (busy_worker (busy, sizeof busy), 0, "no worker took the request");

    proc_kill (&cluster.broker);
    cr_assert_eq (cluster_start_broker (&cluster), 0, "broker did not restart");
    for (int i = 0; i < o.workers; i++)
        cr_assert_eq (proc_wait_line (&cluster.worker[i], "llmq-worker: registered", 10000,
                                      NULL, 0),
                      0, "worker %d did not re-register", i + 1);

    while (!one.resp)
        cr_assert_geq (llmq_process (client, 1000), 0);
    cr_assert_eq (llmq_response_result (one.resp), LLMQ_OK, "%s: %s",
                  llmq_strerror (llmq_response_result (one.resp)),
                  llmq_response_error_message (one.resp));
    char expected[1024];
    expected_answer ("outlive the broker", expected, sizeof expected);
    cr_expect_str_eq (llmq_response_text (one.resp), expected);
    llmq_response_destroy (&one.resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

Test (e2e, unknown_model_gets_no_worker)
{
    cluster_opts_t o = cluster_defaults ();
    o.broker_extra[0] = "--no-worker-grace";
    o.broker_extra[1] = "300";
    start_cluster (&o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("no-such-model", "hello?");
    llmq_response_t *resp = NULL;
    uint64_t start = now_ms ();
    llmq_result_t rc = llmq_chat (client, req, 0, &resp);
    uint64_t took_ms = now_ms () - start;
    cr_assert_eq (rc, LLMQ_E_NO_WORKER, "got %s", llmq_strerror (rc));
    cr_assert_not_null (resp);
    cr_expect_not_null (strstr (llmq_response_error_message (resp), "no-such-model"),
                        "message names the model: %s", llmq_response_error_message (resp));
    cr_expect_geq (took_ms, 250, "answered before the grace period: %lu ms", (unsigned long) took_ms);
    cr_expect_lt (took_ms, 5000, "took %lu ms", (unsigned long) took_ms);
    cr_expect_eq (harness_mock_chat_requests (&cluster), 0);
    llmq_response_destroy (&resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

Test (e2e, backend_500_becomes_backend_error)
{
    cluster_opts_t o = cluster_defaults ();
    o.error_rate = 1.0;
    o.error_status = 500;
    start_cluster (&o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("mock", "fail please");
    llmq_response_t *resp = NULL;
    llmq_result_t rc = llmq_chat (client, req, 0, &resp);
    cr_assert_eq (rc, LLMQ_E_BACKEND, "got %s", llmq_strerror (rc));
    cr_assert_not_null (resp);
    cr_expect_eq (llmq_response_upstream_status (resp), 500);
    llmq_response_destroy (&resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

Test (e2e, mock_backend_workers_answer)
{
    cluster_opts_t o = cluster_defaults ();
    o.backend = "mock";
    start_cluster (&o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("mock", "in-process please");
    llmq_response_t *resp = NULL;
    cr_assert_eq (llmq_chat (client, req, 0, &resp), LLMQ_OK);
    char expected[1024];
    expected_answer ("in-process please", expected, sizeof expected);
    cr_expect_str_eq (llmq_response_text (resp), expected);
    llmq_response_destroy (&resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

Test (e2e, stats_count_answers)
{
    cluster_opts_t o = cluster_defaults ();
    o.backend = "mock";
    start_cluster (&o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    for (int i = 0; i < 5; i++) {
        llmq_request_t *req = make_request ("mock", "count me");
        llmq_response_t *resp = NULL;
        cr_assert_eq (llmq_chat (client, req, 0, &resp), LLMQ_OK);
        llmq_response_destroy (&resp);
        llmq_request_destroy (&req);
    }
    char *json = harness_stats_json (cluster.stats_ep, 2000);
    cr_assert_not_null (json);
    json_t *root = json_loads (json, 0, NULL);
    cr_assert_not_null (root, "stats is not JSON: %s", json);
    json_t *requests = json_object_get (root, "requests");
    cr_expect_eq (json_integer_value (json_object_get (requests, "answered")), 5, "%s", json);
    cr_expect_eq (json_array_size (json_object_get (root, "workers")), 2, "%s", json);
    json_decref (root);
    free (json);
    llmq_client_destroy (&client);
}

Test (e2e, resends_of_one_request_run_once)
{
    cluster_opts_t o = cluster_defaults ();
    o.ttft_ms = 700;
    start_cluster (&o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    /*  Resend every 100 ms: the broker sees the same id ~6 times.  */
    cr_assert_eq (llmq_client_set_resend (client, 100, 20), LLMQ_OK);
    llmq_request_t *req = make_request ("mock", "only once");
    llmq_response_t *resp = NULL;
    cr_assert_eq (llmq_chat (client, req, 0, &resp), LLMQ_OK);
    cr_expect_eq (harness_mock_chat_requests (&cluster), 1, "the backend ran it more than once");
    char *json = harness_stats_json (cluster.stats_ep, 2000);
    cr_assert_not_null (json);
    json_t *root = json_loads (json, 0, NULL);
    json_t *requests = json_object_get (root, "requests");
    cr_expect_gt (json_integer_value (json_object_get (requests, "resends")), 0, "%s", json);
    cr_expect_eq (json_integer_value (json_object_get (requests, "answered")), 1, "%s", json);
    json_decref (root);
    free (json);
    llmq_response_destroy (&resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

Test (e2e, sigterm_finishes_in_flight_then_exits_0)
{
    cluster_opts_t o = cluster_defaults ();
    o.ttft_ms = 500;
    start_cluster (&o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("mock", "finish me first");
    one_t one = { NULL };
    cr_assert_eq (llmq_submit (client, req, NULL, on_one_done, &one, NULL), LLMQ_OK);
    llmq_process (client, 0);
    char busy[64];
    cr_assert_eq (busy_worker (busy, sizeof busy), 0, "no worker took the request");
    proc_signal (&cluster.broker, SIGTERM);
    while (!one.resp)
        cr_assert_geq (llmq_process (client, 1000), 0);
    cr_expect_eq (llmq_response_result (one.resp), LLMQ_OK, "%s",
                  llmq_response_error_message (one.resp));
    cr_expect_eq (proc_stop (&cluster.broker, 10000), 0, "broker exit status");
    llmq_response_destroy (&one.resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}
