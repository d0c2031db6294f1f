/*  harness.c -- see harness.h.  */
#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "llmq_proto.h"

#define STARTUP_TIMEOUT_MS 15000

static void
sleep_ms (int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
    nanosleep (&ts, NULL);
}

static const char *
log_dir (void)
{
    const char *dir = getenv ("LLMQ_TEST_LOGS");
    return dir ? dir : "/tmp/llmq-test-logs";
}

int
proc_start (proc_t *p, const char *name, const char *bin, const char *const *args)
{
    memset (p, 0, sizeof *p);
    snprintf (p->name, sizeof p->name, "%s", name);
    mkdir (log_dir (), 0755);
    /*  The clock in the name keeps the logs of a restarted process, or of
        a second cluster in the same test, apart from the first one's.     */
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    snprintf (p->log_path, sizeof p->log_path, "%s/%s-%d-%ld%09ld-%s.log", log_dir (), name,
              (int) getpid (), (long) ts.tv_sec, ts.tv_nsec, bin);
    char path[512];
    snprintf (path, sizeof path, "%s/%s", LLMQ_BIN_DIR, bin);

    const char *argv[HARNESS_MAX_ARGS + 2];
    int n = 0;
    argv[n++] = path;
    for (int i = 0; args && args[i] && n < HARNESS_MAX_ARGS; i++)
        argv[n++] = args[i];
    argv[n] = NULL;

    int fd = open (p->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd < 0)
        return -1;
    pid_t pid = fork ();
    if (pid < 0) {
        close (fd);
        return -1;
    }
    if (pid == 0) {
        dup2 (fd, STDERR_FILENO);
        int devnull = open ("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2 (devnull, STDIN_FILENO);
            dup2 (devnull, STDOUT_FILENO);
        }
        execv (path, (char *const *) argv);
        fprintf (stderr, "harness: exec %s: %s\n", path, strerror (errno));
        _exit (127);
    }
    close (fd);
    p->pid = pid;
    return 0;
}

bool
proc_alive (proc_t *p)
{
    if (p->pid <= 0)
        return false;
    int status;
    pid_t rc = waitpid (p->pid, &status, WNOHANG);
    if (rc == p->pid) {
        p->pid = 0;
        return false;
    }
    return true;
}

/*  Scans the log from p->log_offset for a complete line with pattern.    */
static int
scan_log (proc_t *p, const char *pattern, char *line, size_t line_size)
{
    FILE *f = fopen (p->log_path, "r");
    if (!f)
        return -1;
    fseek (f, p->log_offset, SEEK_SET);
    char buf[4096];
    int found = -1;
    while (fgets (buf, sizeof buf, f)) {
        size_t len = strlen (buf);
        if (len == 0 || buf[len - 1] != '\n')
            break;                      /* a partial line: read it later */
        p->log_offset += (long) len;
        if (strstr (buf, pattern)) {
            buf[len - 1] = 0;
            if (line)
                snprintf (line, line_size, "%s", buf);
            found = 0;
            break;
        }
    }
    fclose (f);
    return found;
}

int
proc_wait_line (proc_t *p, const char *pattern, int timeout_ms, char *line, size_t line_size)
{
    for (int waited = 0; waited <= timeout_ms; waited += 5) {
        if (scan_log (p, pattern, line, line_size) == 0)
            return 0;
        if (!proc_alive (p)) {
            /*  It may have printed the line just before exiting.  */
            if (scan_log (p, pattern, line, line_size) == 0)
                return 0;
            fprintf (stderr, "harness: %s exited while waiting for '%s' (log %s)\n",
                     p->name, pattern, p->log_path);
            return -1;
        }
        sleep_ms (5);   /* polling a condition, not waiting a fixed time */
    }
    fprintf (stderr, "harness: %s: no '%s' within %d ms (log %s)\n", p->name, pattern,
             timeout_ms, p->log_path);
    return -1;
}

int
proc_count_lines (proc_t *p, const char *pattern)
{
    FILE *f = fopen (p->log_path, "r");
    if (!f)
        return 0;
    char buf[4096];
    int count = 0;
    while (fgets (buf, sizeof buf, f))
        if (strstr (buf, pattern))
            count++;
    fclose (f);
    return count;
}

void
proc_signal (proc_t *p, int sig)
{
    if (p->pid > 0)
        kill (p->pid, sig);
}

int
proc_stop (proc_t *p, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    kill (p->pid, SIGTERM);
    int status = 0;
    for (int waited = 0; waited <= timeout_ms; waited += 5) {
        pid_t rc = waitpid (p->pid, &status, WNOHANG);
        if (rc == p->pid) {
            p->pid = 0;
            return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
        }
        sleep_ms (5);
    }
    fprintf (stderr, "harness: %s did not stop within %d ms; killing it\n", p->name, timeout_ms);
    proc_kill (p);
    return 128 + SIGKILL;
}

void
proc_kill (proc_t *p)
{
    if (p->pid <= 0)
        return;
    kill (p->pid, SIGKILL);
    waitpid (p->pid, NULL, 0);
    p->pid = 0;
}

int
harness_field (const char *line, const char *key, char *out, size_t out_size)
{
    const char *at = strstr (line, key);
    if (!at || out_size == 0)
        return -1;
    at += strlen (key);
    size_t n = strcspn (at, " \n");
    if (n >= out_size)
        n = out_size - 1;
    memcpy (out, at, n);
    out[n] = 0;
    return 0;
}

cluster_opts_t
cluster_defaults (void)
{
    cluster_opts_t o;
    memset (&o, 0, sizeof o);
    o.workers = 2;
    o.backend = "openai";
    o.slots = 16;
    o.model = "mock";
    o.heartbeat_ms = 200;
    o.tokens = 16;
    o.error_status = 500;
    return o;
}

static int
start_mockllm (cluster_t *c)
{
    char ttft[16], tpot[16], tokens[16], rate[32], status[16];
    snprintf (ttft, sizeof ttft, "%d", c->opts.ttft_ms);
    snprintf (tpot, sizeof tpot, "%d", c->opts.tpot_ms);
    snprintf (tokens, sizeof tokens, "%d", c->opts.tokens);
    snprintf (rate, sizeof rate, "%g", c->opts.error_rate);
    snprintf (status, sizeof status, "%d", c->opts.error_status);
    const char *args[] = { "--listen", "127.0.0.1:0", "--ttft-ms", ttft, "--tpot-ms", tpot,
                           "--tokens", tokens, "--error-rate", rate, "--error-status", status,
                           NULL };
    char line[1024], listen[96];
    if (proc_start (&c->mockllm, "mockllm", "llmq-mockllm", args) != 0
        || proc_wait_line (&c->mockllm, "llmq-mockllm: ready", STARTUP_TIMEOUT_MS, line,
                           sizeof line) != 0
        || harness_field (line, "listen=", listen, sizeof listen) != 0)
        return -1;
    snprintf (c->mock_url, sizeof c->mock_url, "http://%s/v1", listen);
    return 0;
}

int
cluster_start_broker (cluster_t *c)
{
    char hb[16];
    snprintf (hb, sizeof hb, "%d", c->opts.heartbeat_ms);
    const char *args[HARNESS_MAX_ARGS] = { "--clients", c->clients_ep, "--workers",
                                           c->workers_ep, "--stats", c->stats_ep,
                                           "--heartbeat-ms", hb,
                                           "--stats-pub", c->stats_pub_ep };
    int n = 10;
    for (int i = 0; i < 8 && c->opts.broker_extra[i]; i++)
        args[n++] = c->opts.broker_extra[i];
    args[n] = NULL;
    char line[1024];
    if (proc_start (&c->broker, "broker", "llmq-broker", args) != 0
        || proc_wait_line (&c->broker, "llmq-broker: ready", STARTUP_TIMEOUT_MS, line,
                           sizeof line) != 0)
        return -1;
    /*  Record the ports actually bound so a restart binds the same ones.  */
    if (harness_field (line, "clients=", c->clients_ep, sizeof c->clients_ep) != 0
        || harness_field (line, "workers=", c->workers_ep, sizeof c->workers_ep) != 0
        || harness_field (line, "stats=", c->stats_ep, sizeof c->stats_ep) != 0
        || harness_field (line, "stats_pub=", c->stats_pub_ep, sizeof c->stats_pub_ep) != 0)
        return -1;
    /*  Optional: only with --metrics-listen in broker_extra.             */
    if (harness_field (line, "metrics=", c->metrics_addr, sizeof c->metrics_addr) != 0)
        c->metrics_addr[0] = 0;
    return 0;
}

int
cluster_start_worker (cluster_t *c, int i)
{
    char id[32], slots[16], hb[16], ttft[16], tpot[16], tokens[16];
    snprintf (id, sizeof id, "w%d", i + 1);
    snprintf (slots, sizeof slots, "%d", c->opts.slots);
    snprintf (hb, sizeof hb, "%d", c->opts.heartbeat_ms);
    snprintf (ttft, sizeof ttft, "%d", c->opts.mock_ttft_ms);
    snprintf (tpot, sizeof tpot, "%d", c->opts.mock_tpot_ms);
    snprintf (tokens, sizeof tokens, "%d", c->opts.tokens);
    bool openai = strcmp (c->opts.backend, "openai") == 0;
    const char *args[] = { "--broker", c->workers_ep, "--id", id, "--model", c->opts.model,
                           "--slots", slots, "--heartbeat-ms", hb, "--backend", c->opts.backend,
                           openai ? "--url" : "--mock-ttft-ms", openai ? c->mock_url : ttft,
                           "--mock-tpot-ms", tpot, "--mock-tokens", tokens, NULL };
    char name[32];
    snprintf (name, sizeof name, "worker%d", i + 1);
    if (proc_start (&c->worker[i], name, "llmq-worker", args) != 0
        || proc_wait_line (&c->worker[i], "llmq-worker: registered", STARTUP_TIMEOUT_MS, NULL,
                           0) != 0)
        return -1;
    return 0;
}

int
cluster_start (cluster_t *c, const cluster_opts_t *opts)
{
    memset (c, 0, sizeof *c);
    c->opts = *opts;
    snprintf (c->clients_ep, sizeof c->clients_ep, "tcp://127.0.0.1:*");
    snprintf (c->workers_ep, sizeof c->workers_ep, "tcp://127.0.0.1:*");
    snprintf (c->stats_ep, sizeof c->stats_ep, "tcp://127.0.0.1:*");
    snprintf (c->stats_pub_ep, sizeof c->stats_pub_ep, "tcp://127.0.0.1:*");
    bool openai = strcmp (opts->backend, "openai") == 0;
    if ((openai && start_mockllm (c) != 0) || cluster_start_broker (c) != 0)
        goto failed;
    for (int i = 0; i < opts->workers && i < HARNESS_MAX_WORKERS; i++)
        if (cluster_start_worker (c, i) != 0)
            goto failed;
    return 0;
failed:
    fprintf (stderr, "harness: cluster did not start\n");
    cluster_stop (c);
    return -1;
}

void
cluster_stop (cluster_t *c)
{
    for (int i = 0; i < HARNESS_MAX_WORKERS; i++)
        proc_stop (&c->worker[i], 5000);
    proc_stop (&c->broker, 15000);
    proc_stop (&c->mockllm, 5000);
}

char *
harness_stats_json (const char *stats_ep, int timeout_ms)
{
    void *ctx = zmq_ctx_new ();
    void *sock = zmq_socket (ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    char *json = NULL;
    llmq_buf_t frame, out;
    llmq_buf_init (&frame);
    llmq_buf_init (&out);
    llmq_decoder_t *dec = llmq_decoder_new ();
    if (zmq_connect (sock, stats_ep) == 0 && llmq_encode_stats (&frame) == 0
        && zmq_send (sock, frame.data, frame.size, 0) >= 0) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, sock, 0) >= 0
            && llmq_frame_to_json (dec, zmq_msg_data (&msg), zmq_msg_size (&msg), &out)
                   == LLMQ_DECODE_OK)
            json = strdup (out.data);
        zmq_msg_close (&msg);
    }
    llmq_decoder_destroy (&dec);
    llmq_buf_free (&frame);
    llmq_buf_free (&out);
    zmq_close (sock);
    zmq_ctx_term (ctx);
    return json;
}

typedef struct {
    char *data;
    size_t size;
} body_t;

static size_t
collect_body (char *ptr, size_t size, size_t nmemb, void *user)
{
    body_t *body = user;
    size_t n = size * nmemb;
    char *grown = realloc (body->data, body->size + n + 1);
    if (!grown)
        return 0;
    body->data = grown;
    memcpy (body->data + body->size, ptr, n);
    body->size += n;
    body->data[body->size] = 0;
    return n;
}

char *
harness_http_get (const char *url)
{
    CURL *curl = curl_easy_init ();
    if (!curl)
        return NULL;
    body_t body = { NULL, 0 };
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, 5000L);
    CURLcode rc = curl_easy_perform (curl);
    curl_easy_cleanup (curl);
    if (rc != CURLE_OK) {
        free (body.data);
        return NULL;
    }
    return body.data;
}

long
harness_mock_chat_requests (cluster_t *c)
{
    char url[256];
    /*  mock_url ends in /v1; the stats page is at the root.  */
    snprintf (url, sizeof url, "%.*s/stats", (int) (strlen (c->mock_url) - 3), c->mock_url);
    char *body = harness_http_get (url);
    if (!body)
        return -1;
    long n = -1;
    const char *at = strstr (body, "\"chat_requests\"");
    if (at) {
        at = strchr (at, ':');
        if (at)
            n = strtol (at + 1, NULL, 10);
    }
    free (body);
    return n;
}
