/*  test_cache.c -- the response cache's promises (README "Cache"), on the
    real binaries: hits never reach the backend (the mock counts its
    requests), streamed hits replay chunks, identical requests in flight
    reach the backend once, followers cancel and fail on their own,
    only-if-cached, and the shared Redis tier (two brokers, one
    redis-server started here, killed mid-run).  */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "llmq.h"
#include "mocktext.h"

static cluster_t cluster;
static cluster_t cluster2;
static pid_t redis_pid;

static void
stop_all (void)
{
    cluster_stop (&cluster);
    cluster_stop (&cluster2);
    if (redis_pid > 0) {
        kill (redis_pid, SIGKILL);
        waitpid (redis_pid, NULL, 0);
        redis_pid = 0;
    }
}

TestSuite (cache, .init = NULL, .fini = stop_all, .timeout = 120);

static uint64_t
now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void
start (cluster_t *c, cluster_opts_t *o)
{
    cr_assert_eq (cluster_start (c, o), 0, "cluster did not start");
}

/*  A deterministic (temperature 0) request: cached by default.            */
static llmq_request_t *
make_request (const char *prompt)
{
    llmq_request_t *req = llmq_request_new ("mock");
    cr_assert_not_null (req);
    cr_assert_eq (llmq_request_add_message (req, "user", prompt), LLMQ_OK);
    llmq_request_set_temperature (req, 0.0);
    llmq_request_set_timeout (req, 20000);
    return req;
}

static llmq_response_t *
chat_ok (llmq_client_t *client, llmq_request_t *req)
{
    llmq_response_t *resp = NULL;
    llmq_result_t rc = llmq_chat (client, req, 0, &resp);
    cr_assert_eq (rc, LLMQ_OK, "chat failed: %s (%s)", llmq_strerror (rc),
                  resp ? llmq_response_error_message (resp) : "");
    return resp;
}

/*  One number from the "cache" map of the stats snapshot (-1 if absent).   */
static long long
cache_stat (cluster_t *c, const char *key)
{
    char *text = harness_stats_json (c->stats_ep, 5000);
    cr_assert_not_null (text, "no stats");
    json_t *root = json_loads (text, 0, NULL);
    free (text);
    json_t *cache = json_object_get (root, "cache");
    json_t *value = cache ? json_object_get (cache, key) : NULL;
    long long n = value && json_is_integer (value) ? json_integer_value (value) : -1;
    json_decref (root);
    return n;
}

/*  Polls until cache.key >= want or 15 s pass; the last value.             */
static long long
wait_cache_stat (cluster_t *c, const char *key, long long want)
{
    long long n = -1;
    for (uint64_t end = now_ms () + 15000; now_ms () < end; ) {
        n = cache_stat (c, key);
        if (n >= want)
            break;
        usleep (5000);
    }
    return n;
}

typedef struct {
    char text [4096];
    size_t len;
    int chunks;
} acc_t;

static int
on_chunk (void *user, const char *text, size_t len)
{
    acc_t *acc = user;
    cr_assert_lt (acc->len + len, sizeof acc->text);
    memcpy (acc->text + acc->len, text, len);
    acc->len += len;
    acc->text [acc->len] = 0;
    acc->chunks++;
    return 0;
}

/* ---------------------------------------------------------------------- */

Test (cache, hit_returns_the_same_text_without_the_backend)
{
    cluster_opts_t o = cluster_defaults ();
    start (&cluster, &o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("what does a cache do");
    llmq_response_t *first = chat_ok (client, req);
    cr_assert_not (llmq_response_cached (first));
    cr_assert_eq (harness_mock_chat_requests (&cluster), 1);
    char expected [1024];
    llmq_mock_answer ("what does a cache do", strlen ("what does a cache do"), 16,
                      expected, sizeof expected);
    cr_assert_str_eq (llmq_response_text (first), expected);

    /*  Another request id, another priority: the same question.           */
    llmq_request_set_priority (req, 1);
    llmq_response_t *second = chat_ok (client, req);
    cr_assert (llmq_response_cached (second));
    cr_assert_str_eq (llmq_response_text (second), expected);
    cr_assert_str_eq (llmq_response_finish_reason (second), "stop");
    cr_assert_eq (llmq_response_completion_tokens (second),
                  llmq_response_completion_tokens (first), "original usage");
    cr_assert_eq (llmq_response_prompt_tokens (second), llmq_response_prompt_tokens (first));
    cr_assert_eq (llmq_response_backend_us (second), 0);
    cr_assert_eq (llmq_response_attempts (second), 0);
    cr_assert_eq (harness_mock_chat_requests (&cluster), 1, "the hit reached the backend");
    cr_assert_eq (cache_stat (&cluster, "hits"), 1);
    cr_assert_eq (cache_stat (&cluster, "stores"), 1);
    cr_assert_eq (cache_stat (&cluster, "entries"), 1);
    cr_assert_gt (cache_stat (&cluster, "bytes"), 0);

    /*  A sampling field changed: a different question.                    */
    llmq_request_set_max_tokens (req, 8);
    llmq_response_t *third = chat_ok (client, req);
    cr_assert_not (llmq_response_cached (third));
    cr_assert_eq (harness_mock_chat_requests (&cluster), 2);

    /*  bypass neither reads nor writes; refresh does not read.             */
    llmq_request_set_cache (req, "bypass");
    llmq_response_t *fourth = chat_ok (client, req);
    cr_assert_not (llmq_response_cached (fourth));
    llmq_request_set_cache (req, "refresh");
    llmq_response_t *fifth = chat_ok (client, req);
    cr_assert_not (llmq_response_cached (fifth));
    cr_assert_eq (harness_mock_chat_requests (&cluster), 4);

    llmq_response_destroy (&first);
    llmq_response_destroy (&second);
    llmq_response_destroy (&third);
    llmq_response_destroy (&fourth);
    llmq_response_destroy (&fifth);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

Test (cache, sampled_requests_are_not_cached_by_default)
{
    cluster_opts_t o = cluster_defaults ();
    start (&cluster, &o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = llmq_request_new ("mock");
    llmq_request_add_message (req, "user", "tell me a story");
    llmq_request_set_temperature (req, 0.8);
    for (int i = 0; i < 2; i++) {
        llmq_response_t *resp = chat_ok (client, req);
        cr_assert_not (llmq_response_cached (resp));
        llmq_response_destroy (&resp);
    }
    cr_assert_eq (harness_mock_chat_requests (&cluster), 2);
    /*  A fixed seed makes it reproducible: cached.                        */
    llmq_request_set_seed (req, 42);
    llmq_response_t *a = chat_ok (client, req);
    llmq_response_t *b = chat_ok (client, req);
    cr_assert_not (llmq_response_cached (a));
    cr_assert (llmq_response_cached (b));
    cr_assert_eq (harness_mock_chat_requests (&cluster), 3);
    llmq_response_destroy (&a);
    llmq_response_destroy (&b);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

Test (cache, streamed_hit_replays_chunks_then_final)
{
    cluster_opts_t o = cluster_defaults ();
    o.tokens = 40;
    start (&cluster, &o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("stream me the cached answer please");
    /*  The first answer is streamed too: streamed answers are stored.      */
    acc_t live = { .len = 0 };
    llmq_response_t *first = NULL;
    cr_assert_eq (llmq_chat_stream (client, req, 0, on_chunk, &live, &first), LLMQ_OK);
    cr_assert_not (llmq_response_cached (first));
    cr_assert_gt (live.chunks, 1);
    acc_t replay = { .len = 0 };
    llmq_response_t *second = NULL;
    cr_assert_eq (llmq_chat_stream (client, req, 0, on_chunk, &replay, &second), LLMQ_OK);
    cr_assert (llmq_response_cached (second));
    cr_assert_gt (replay.chunks, 1, "a streamed hit comes as several chunks");
    cr_assert_str_eq (replay.text, live.text);
    cr_assert_str_eq (llmq_response_text (second), llmq_response_text (first));
    cr_assert_eq (harness_mock_chat_requests (&cluster), 1);
    llmq_response_destroy (&first);
    llmq_response_destroy (&second);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

typedef struct {
    int done, ok, cached;
    llmq_result_t last;
    char text [1024];
    bool same;
} tally_t;

static void
on_done (void *user, llmq_response_t *resp)
{
    tally_t *t = user;
    t->done++;
    t->last = resp ? llmq_response_result (resp) : LLMQ_E_NOMEM;
    if (resp && llmq_response_result (resp) == LLMQ_OK) {
        t->ok++;
        t->cached += llmq_response_cached (resp);
        if (!t->text [0])
            snprintf (t->text, sizeof t->text, "%s", llmq_response_text (resp));
        else
        if (strcmp (t->text, llmq_response_text (resp)))
            t->same = false;
    }
    llmq_response_destroy (&resp);
}

static void
run_until (llmq_client_t *client, tally_t *t, int done, int timeout_ms)
{
    uint64_t end = now_ms () + (uint64_t) timeout_ms;
    while (t->done < done && now_ms () < end)
        llmq_process (client, 100);
}

Test (cache, hundred_identical_requests_reach_the_backend_once)
{
    cluster_opts_t o = cluster_defaults ();
    o.ttft_ms = 400;
    start (&cluster, &o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("everyone asks this at once");
    tally_t t = { .same = true };
    for (int i = 0; i < 100; i++)
        cr_assert_eq (llmq_submit (client, req, NULL, on_done, &t, NULL), LLMQ_OK);
    run_until (client, &t, 100, 30000);
    cr_assert_eq (t.done, 100);
    cr_assert_eq (t.ok, 100);
    cr_assert (t.same, "everyone got the same answer");
    cr_assert_eq (t.cached, 99, "all but the leader are served without a backend call");
    cr_assert_eq (harness_mock_chat_requests (&cluster), 1);
    cr_assert_geq (cache_stat (&cluster, "coalesced"), 90);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

typedef struct {
    acc_t acc;
    tally_t tally;
} stream_job_t;

static int
on_job_chunk (void *user, const char *text, size_t len)
{
    return on_chunk (&((stream_job_t *) user)->acc, text, len);
}

static void
on_job_done (void *user, llmq_response_t *resp)
{
    on_done (&((stream_job_t *) user)->tally, resp);
}

Test (cache, plain_followers_of_a_streaming_leader_get_the_final)
{
    cluster_opts_t o = cluster_defaults ();
    o.tpot_ms = 30;
    o.tokens = 20;
    start (&cluster, &o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("stream to several listeners");
    stream_job_t lead = { .tally.same = true };
    tally_t t1 = { .same = true }, t2 = { .same = true };
    cr_assert_eq (llmq_submit (client, req, on_job_chunk, on_job_done, &lead, NULL), LLMQ_OK);
    /*  One follower joins at once, one a little later.                     */
    cr_assert_eq (llmq_submit (client, req, NULL, on_done, &t1, NULL), LLMQ_OK);
    llmq_process (client, 100);
    cr_assert_eq (llmq_submit (client, req, NULL, on_done, &t2, NULL), LLMQ_OK);
    run_until (client, &lead.tally, 1, 20000);
    run_until (client, &t1, 1, 20000);
    run_until (client, &t2, 1, 20000);
    cr_assert_eq (lead.tally.ok + t1.ok + t2.ok, 3);
    cr_assert_str_eq (lead.acc.text, lead.tally.text);
    cr_assert_str_eq (t1.text, lead.tally.text);
    cr_assert_str_eq (t2.text, lead.tally.text);
    cr_assert_eq (harness_mock_chat_requests (&cluster), 1);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

Test (cache, streaming_follower_of_a_plain_leader_gets_chunks)
{
    cluster_opts_t o = cluster_defaults ();
    o.ttft_ms = 400;
    o.tokens = 30;
    start (&cluster, &o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("the first one does not stream");
    tally_t plain = { .same = true };
    stream_job_t streamed = { .tally.same = true };
    cr_assert_eq (llmq_submit (client, req, NULL, on_done, &plain, NULL), LLMQ_OK);
    cr_assert_eq (llmq_submit (client, req, on_job_chunk, on_job_done, &streamed, NULL), LLMQ_OK);
    run_until (client, &plain, 1, 20000);
    run_until (client, &streamed.tally, 1, 20000);
    cr_assert_eq (plain.ok, 1);
    cr_assert_eq (streamed.tally.ok, 1);
    cr_assert_eq (cache_stat (&cluster, "coalesced"), 1);
    cr_assert_gt (streamed.acc.chunks, 1, "replayed as chunks");
    cr_assert_str_eq (streamed.acc.text, plain.text);
    cr_assert_eq (harness_mock_chat_requests (&cluster), 1);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

Test (cache, late_streaming_follower_sees_every_chunk)
{
    cluster_opts_t o = cluster_defaults ();
    o.tpot_ms = 40;
    o.tokens = 20;
    start (&cluster, &o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("a long streamed answer to share");
    stream_job_t leader = { .tally.same = true }, late = { .tally.same = true };
    cr_assert_eq (llmq_submit (client, req, on_job_chunk, on_job_done, &leader, NULL), LLMQ_OK);
    /*  Join after the leader has streamed a few chunks.                    */
    uint64_t end = now_ms () + 10000;
    while (leader.acc.chunks < 3 && now_ms () < end)
        llmq_process (client, 20);
    cr_assert_geq (leader.acc.chunks, 3);
    cr_assert_eq (llmq_submit (client, req, on_job_chunk, on_job_done, &late, NULL), LLMQ_OK);
    run_until (client, &leader.tally, 1, 20000);
    run_until (client, &late.tally, 1, 20000);
    cr_assert_eq (leader.tally.ok, 1);
    cr_assert_eq (late.tally.ok, 1);
    cr_assert_str_eq (late.acc.text, leader.acc.text, "chunks before the join come first");
    cr_assert_str_eq (late.tally.text, leader.tally.text);
    cr_assert_eq (cache_stat (&cluster, "coalesced"), 1);
    cr_assert_eq (harness_mock_chat_requests (&cluster), 1);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

Test (cache, a_followers_cancel_does_not_touch_the_leader)
{
    cluster_opts_t o = cluster_defaults ();
    o.ttft_ms = 800;
    start (&cluster, &o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("cancel me but not him");
    tally_t leader = { .same = true }, follower = { .same = true };
    cr_assert_eq (llmq_submit (client, req, NULL, on_done, &leader, NULL), LLMQ_OK);
    char id [160];
    cr_assert_eq (llmq_submit (client, req, NULL, on_done, &follower, id), LLMQ_OK);
    cr_assert_eq (wait_cache_stat (&cluster, "coalesced", 1), 1);
    cr_assert_eq (llmq_cancel (client, id), LLMQ_OK);
    run_until (client, &follower, 1, 5000);
    cr_assert_eq (follower.last, LLMQ_E_CANCELLED);
    run_until (client, &leader, 1, 20000);
    cr_assert_eq (leader.ok, 1, "leader: %s", llmq_strerror (leader.last));
    cr_assert_eq (harness_mock_chat_requests (&cluster), 1);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

Test (cache, a_failed_leader_sends_followers_on_their_own)
{
    cluster_opts_t o = cluster_defaults ();
    o.ttft_ms = 2000;
    start (&cluster, &o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("the leader will time out");
    tally_t leader = { .same = true }, follower = { .same = true };
    llmq_request_set_timeout (req, 1000);
    cr_assert_eq (llmq_submit (client, req, NULL, on_done, &leader, NULL), LLMQ_OK);
    llmq_request_set_timeout (req, 20000);
    cr_assert_eq (llmq_submit (client, req, NULL, on_done, &follower, NULL), LLMQ_OK);
    run_until (client, &leader, 1, 10000);
    cr_assert_eq (leader.last, LLMQ_E_TIMEOUT);
    run_until (client, &follower, 1, 20000);
    cr_assert_eq (follower.ok, 1, "follower: %s", llmq_strerror (follower.last));
    cr_assert_eq (follower.cached, 0, "it was computed for it");
    cr_assert_eq (cache_stat (&cluster, "coalesced"), 1);
    cr_assert_eq (harness_mock_chat_requests (&cluster), 2);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

Test (cache, only_if_cached_miss_then_hit)
{
    cluster_opts_t o = cluster_defaults ();
    start (&cluster, &o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("only if you know it already");
    llmq_request_set_cache (req, "only-if-cached");
    llmq_response_t *resp = NULL;
    cr_assert_eq (llmq_chat (client, req, 0, &resp), LLMQ_E_NOT_CACHED);
    llmq_response_destroy (&resp);
    cr_assert_eq (harness_mock_chat_requests (&cluster), 0, "never calls a backend");
    cr_assert_eq (cache_stat (&cluster, "not_cached"), 1);
    llmq_request_set_cache (req, "default");
    resp = chat_ok (client, req);
    llmq_response_destroy (&resp);
    llmq_request_set_cache (req, "only-if-cached");
    resp = chat_ok (client, req);
    cr_assert (llmq_response_cached (resp));
    llmq_response_destroy (&resp);
    cr_assert_eq (harness_mock_chat_requests (&cluster), 1);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

Test (cache, ttl_and_memory_flags)
{
    cluster_opts_t o = cluster_defaults ();
    o.broker_extra [0] = "--cache-ttl-ms";
    o.broker_extra [1] = "1000";
    start (&cluster, &o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("a short-lived answer");
    llmq_response_t *resp = chat_ok (client, req);
    llmq_response_destroy (&resp);
    resp = chat_ok (client, req);
    cr_assert (llmq_response_cached (resp));
    llmq_response_destroy (&resp);
    usleep (1100 * 1000);           /* past the TTL: what is tested here    */
    resp = chat_ok (client, req);
    cr_assert_not (llmq_response_cached (resp), "expired");
    llmq_response_destroy (&resp);
    cr_assert_eq (harness_mock_chat_requests (&cluster), 2);
    cr_assert_geq (cache_stat (&cluster, "max_bytes"), 1);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

Test (cache, memory_zero_turns_the_cache_off)
{
    cluster_opts_t o = cluster_defaults ();
    o.broker_extra [0] = "--cache-memory";
    o.broker_extra [1] = "0";
    start (&cluster, &o);
    llmq_client_t *client = llmq_client_new (cluster.clients_ep);
    llmq_request_t *req = make_request ("no cache here");
    for (int i = 0; i < 2; i++) {
        llmq_response_t *resp = chat_ok (client, req);
        cr_assert_not (llmq_response_cached (resp));
        llmq_response_destroy (&resp);
    }
    cr_assert_eq (harness_mock_chat_requests (&cluster), 2);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
}

/* ---------------------------------------------------------------------- */
/*  Redis                                                                  */

/*  A free TCP port on 127.0.0.1 (bound, read, closed).                    */
static int
free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    cr_assert (fd >= 0 && bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0
               && getsockname (fd, (struct sockaddr *) &addr, &len) == 0);
    close (fd);
    return ntohs (addr.sin_port);
}

/*  Starts redis-server on port; waits for "Ready to accept connections". */
static void
start_redis (int port)
{
    char port_s [16], log [256];
    snprintf (port_s, sizeof port_s, "%d", port);
    snprintf (log, sizeof log, "%s/llmq-test-redis-%d.log",
              getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp", (int) getpid ());
    unlink (log);
    redis_pid = fork ();
    cr_assert (redis_pid >= 0);
    if (redis_pid == 0) {
        int devnull = open ("/dev/null", O_RDWR);
        dup2 (devnull, STDIN_FILENO);
        dup2 (devnull, STDOUT_FILENO);
        execlp ("redis-server", "redis-server", "--port", port_s, "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--logfile", log, (char *) NULL);
        _exit (127);
    }
    for (uint64_t end = now_ms () + 10000; now_ms () < end; usleep (10000)) {
        FILE *f = fopen (log, "r");
        char line [512];
        bool ready = false;
        while (f && fgets (line, sizeof line, f))
            ready |= strstr (line, "Ready to accept connections") != NULL;
        if (f)
            fclose (f);
        if (ready)
            return;
        cr_assert_eq (waitpid (redis_pid, NULL, WNOHANG), 0, "redis-server exited (see %s)", log);
    }
    cr_assert_fail ("redis-server not ready (see %s)", log);
}

Test (cache, two_brokers_share_answers_through_redis_and_survive_its_loss)
{
    int port = free_port ();
    start_redis (port);
    char url [64];
    snprintf (url, sizeof url, "redis://127.0.0.1:%d", port);
    cluster_opts_t o = cluster_defaults ();
    o.workers = 1;
    o.broker_extra [0] = "--cache-redis";
    o.broker_extra [1] = url;
    start (&cluster, &o);
    start (&cluster2, &o);
    llmq_client_t *c1 = llmq_client_new (cluster.clients_ep);
    llmq_client_t *c2 = llmq_client_new (cluster2.clients_ep);
    llmq_request_t *req = make_request ("computed by one broker, served by the other");

    llmq_response_t *resp = chat_ok (c1, req);
    cr_assert_not (llmq_response_cached (resp));
    char text [1024];
    snprintf (text, sizeof text, "%s", llmq_response_text (resp));
    llmq_response_destroy (&resp);
    cr_assert_eq (harness_mock_chat_requests (&cluster), 1);

    /*  The SET is asynchronous: ask broker 2 only-if-cached until it is
        there (bounded), then normally.                                    */
    llmq_request_set_cache (req, "only-if-cached");
    llmq_result_t rc = LLMQ_E_NOT_CACHED;
    for (uint64_t end = now_ms () + 10000; rc == LLMQ_E_NOT_CACHED && now_ms () < end; ) {
        rc = llmq_chat (c2, req, 0, &resp);
        if (rc == LLMQ_OK) {
            cr_assert (llmq_response_cached (resp));
            cr_assert_str_eq (llmq_response_text (resp), text);
        }
        llmq_response_destroy (&resp);
        if (rc == LLMQ_E_NOT_CACHED)
            usleep (10000);
    }
    cr_assert_eq (rc, LLMQ_OK, "broker 2 never saw the answer: %s", llmq_strerror (rc));
    llmq_request_set_cache (req, "default");
    resp = chat_ok (c2, req);
    cr_assert (llmq_response_cached (resp));
    llmq_response_destroy (&resp);
    cr_assert_eq (harness_mock_chat_requests (&cluster2), 0, "broker 2's backend never asked");
    cr_assert_geq (cache_stat (&cluster2, "hits"), 1);

    /*  Redis dies: no request fails, both brokers go on from memory.       */
    kill (redis_pid, SIGKILL);
    waitpid (redis_pid, NULL, 0);
    redis_pid = 0;
    char prompt [64];
    for (int i = 0; i < 10; i++) {
        snprintf (prompt, sizeof prompt, "after redis died %d", i);
        llmq_request_t *r = make_request (prompt);
        llmq_response_t *a = chat_ok (i % 2 ? c1 : c2, r);
        llmq_response_destroy (&a);
        a = chat_ok (i % 2 ? c1 : c2, r);
        cr_assert (llmq_response_cached (a), "L1 still answers");
        llmq_response_destroy (&a);
        llmq_request_destroy (&r);
    }
    cr_assert_geq (cache_stat (&cluster, "redis_errors") + cache_stat (&cluster2, "redis_errors"),
                   1, "the outage is counted");
    llmq_request_destroy (&req);
    llmq_client_destroy (&c1);
    llmq_client_destroy (&c2);
}
