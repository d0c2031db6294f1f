/*  test_mockllm.c -- llmq-mockllm, the OpenAI-compatible mock server.

    Every test starts the real binary (LLMQ_BIN_DIR/llmq-mockllm) on
    127.0.0.1:0, learns its port from the readiness line on stderr, talks
    HTTP/1.1 to it over a plain socket (the test needs no HTTP library, and
    sees the bytes and their timing exactly as a client would) and stops it
    with SIGTERM, checking it exits 0.
*/
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mocktext.h"

#define MOCKLLM LLMQ_BIN_DIR "/llmq-mockllm"
#define IO_TIMEOUT_MS 10000

/* ---------------------------------------------------------------------- */
/*  The server process                                                     */

typedef struct {
    pid_t pid;                  /* the server                              */
    int err_fd;                 /* read end of its stderr                  */
    uint16_t port;              /* from the ready line                     */
} server_t;

static uint64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/*  Reads stderr until the ready line (never a fixed sleep); -1 on EOF or
    after IO_TIMEOUT_MS.  */
static int
s_wait_ready (server_t *srv)
{
    char log [8192];
    size_t used = 0;
    uint64_t deadline = s_now_us () + IO_TIMEOUT_MS * 1000ull;
    while (s_now_us () < deadline && used < sizeof log - 1) {
        struct pollfd pfd = { .fd = srv->err_fd, .events = POLLIN };
        if (poll (&pfd, 1, 100) <= 0)
            continue;
        ssize_t n = read (srv->err_fd, log + used, sizeof log - 1 - used);
        if (n <= 0)
            return -1;
        used += (size_t) n;
        log [used] = '\0';
        const char *ready = strstr (log, "I llmq-mockllm: ready listen=127.0.0.1:");
        if (ready && strchr (ready, '\n')) {
            srv->port = (uint16_t) atoi (strrchr (strtok ((char *) ready, "\n"), ':') + 1);
            return srv->port ? 0 : -1;
        }
    }
    return -1;
}

/*  Starts llmq-mockllm --listen 127.0.0.1:0 plus the NULL-ended flags.  */
static server_t
s_start (const char *flag, ...)
{
    const char *argv [32] = { "llmq-mockllm", "--listen", "127.0.0.1:0" };
    int argc = 3;
    va_list args;
    va_start (args, flag);
    for (const char *arg = flag; arg && argc < 31; arg = va_arg (args, const char *))
        argv [argc++] = arg;
    va_end (args);
    argv [argc] = NULL;
    int fds [2];
    cr_assert_eq (pipe (fds), 0);
    server_t srv = { .err_fd = fds [0] };
    srv.pid = fork ();
    cr_assert_geq (srv.pid, 0);
    if (srv.pid == 0) {
        dup2 (fds [1], STDERR_FILENO);
        close (fds [0]);
        close (fds [1]);
        execv (MOCKLLM, (char *const *) argv);
        _exit (127);
    }
    close (fds [1]);
    if (s_wait_ready (&srv)) {
        kill (srv.pid, SIGKILL);
        waitpid (srv.pid, NULL, 0);
        cr_assert_fail ("llmq-mockllm did not log its ready line (%s)", MOCKLLM);
    }
    return srv;
}

/*  SIGTERM; the server must stop cleanly and exit 0.  */
static void
s_stop (server_t *srv)
{
    kill (srv->pid, SIGTERM);
    int status = 0;
    uint64_t deadline = s_now_us () + IO_TIMEOUT_MS * 1000ull;
    pid_t done = 0;
    while ((done = waitpid (srv->pid, &status, WNOHANG)) == 0 && s_now_us () < deadline) {
        struct pollfd pfd = { .fd = srv->err_fd, .events = POLLIN };
        char sink [4096];
        if (poll (&pfd, 1, 20) > 0 && read (srv->err_fd, sink, sizeof sink) <= 0)
            pfd.fd = -1;        /* EOF: keep waiting on waitpid alone */
    }
    if (done == 0) {
        kill (srv->pid, SIGKILL);
        waitpid (srv->pid, NULL, 0);
        cr_assert_fail ("llmq-mockllm did not stop on SIGTERM");
    }
    close (srv->err_fd);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0,
               "llmq-mockllm exit status %d", status);
}

/* ---------------------------------------------------------------------- */
/*  A minimal HTTP/1.1 client                                              */

typedef struct {
    int status;                 /* HTTP status                             */
    char headers [4096];        /* status line and headers                 */
    char *body;                 /* decoded body, NUL-terminated            */
    size_t body_len;            /* its length                              */
    uint64_t *arrival_us;       /* per body byte: when it was received     */
    uint64_t sent_us;           /* when the request was written            */
} resp_t;

static int
s_connect (uint16_t port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    cr_assert_geq (fd, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert_eq (connect (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void
s_send_request (int fd, const char *method, const char *path, const char *body)
{
    char head [512];
    int len = snprintf (head, sizeof head,
        "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
        method, path, body ? strlen (body) : 0);
    cr_assert_eq (write (fd, head, (size_t) len), len);
    if (body)
        cr_assert_eq (write (fd, body, strlen (body)), (ssize_t) strlen (body));
}

/*  Raw bytes until EOF, with the arrival time of each byte.  */
static size_t
s_read_all (int fd, char **raw, uint64_t **times)
{
    size_t used = 0, alloc = 65536;
    *raw = malloc (alloc + 1);
    *times = malloc (alloc * sizeof **times);
    while (true) {
        if (used == alloc) {
            alloc *= 2;
            *raw = realloc (*raw, alloc + 1);
            *times = realloc (*times, alloc * sizeof **times);
        }
        ssize_t n = read (fd, *raw + used, alloc - used);
        cr_assert_geq (n, 0, "read: %s", strerror (errno));
        if (n == 0)
            break;
        uint64_t now = s_now_us ();
        for (ssize_t index = 0; index < n; index++)
            (*times) [used + (size_t) index] = now;
        used += (size_t) n;
    }
    (*raw) [used] = '\0';
    return used;
}

/*  Copies the body out of raw, undoing chunked transfer encoding.  */
static void
s_decode_body (resp_t *resp, const char *raw, size_t size, const uint64_t *times,
               size_t at, bool chunked)
{
    resp->body = malloc (size + 1);
    resp->arrival_us = malloc ((size + 1) * sizeof (uint64_t));
    while (at < size) {
        size_t take = size - at;
        if (chunked) {
            char *end;
            take = strtoul (raw + at, &end, 16);
            cr_assert (end < raw + size && strncmp (end, "\r\n", 2) == 0, "bad chunk header");
            at = (size_t) (end - raw) + 2;
            if (take == 0)
                break;
            cr_assert_leq (at + take + 2, size, "truncated chunk");
        }
        memcpy (resp->body + resp->body_len, raw + at, take);
        memcpy (resp->arrival_us + resp->body_len, times + at, take * sizeof (uint64_t));
        resp->body_len += take;
        at += take + (chunked ? 2 : 0);
    }
    resp->body [resp->body_len] = '\0';
}

/*  One request on a fresh connection (Connection: close).  */
static resp_t
s_http (uint16_t port, const char *method, const char *path, const char *body)
{
    resp_t resp = { 0 };
    int fd = s_connect (port);
    resp.sent_us = s_now_us ();
    s_send_request (fd, method, path, body);
    char *raw;
    uint64_t *times;
    size_t size = s_read_all (fd, &raw, &times);
    close (fd);
    char *end = strstr (raw, "\r\n\r\n");
    cr_assert_not_null (end, "no end of headers in: %s", raw);
    size_t head_len = (size_t) (end - raw) + 2;
    cr_assert_lt (head_len, sizeof resp.headers);
    memcpy (resp.headers, raw, head_len);
    resp.headers [head_len] = '\0';
    cr_assert_eq (sscanf (raw, "HTTP/1.1 %d", &resp.status), 1);
    bool chunked = strcasestr (resp.headers, "\r\nTransfer-Encoding: chunked") != NULL;
    s_decode_body (&resp, raw, size, times, head_len + 2, chunked);
    free (raw);
    free (times);
    return resp;
}

static void
s_resp_free (resp_t *resp)
{
    free (resp->body);
    free (resp->arrival_us);
}

/*  Value of a response header (copied into out), or NULL.  */
static const char *
s_header (const resp_t *resp, const char *name, char *out, size_t size)
{
    char key [64];
    snprintf (key, sizeof key, "\r\n%s:", name);
    const char *at = strcasestr (resp->headers, key);
    if (!at)
        return NULL;
    at += strlen (key);
    at += strspn (at, " ");
    size_t len = strcspn (at, "\r\n");
    snprintf (out, size, "%.*s", (int) len, at);
    return out;
}

static json_t *
s_json (const resp_t *resp)
{
    json_error_t err;
    json_t *doc = json_loads (resp->body, 0, &err);
    cr_assert_not_null (doc, "not JSON (%s): %s", err.text, resp->body);
    return doc;
}

/*  A number from GET /stats.  */
static json_int_t
s_stat (uint16_t port, const char *key)
{
    resp_t resp = s_http (port, "GET", "/stats", NULL);
    cr_assert_eq (resp.status, 200);
    json_t *doc = s_json (&resp);
    json_t *value = json_object_get (doc, key);
    cr_assert (json_is_integer (value), "/stats has no '%s': %s", key, resp.body);
    json_int_t n = json_integer_value (value);
    json_decref (doc);
    s_resp_free (&resp);
    return n;
}

static const char *s_chat_body =
    "{\"model\":\"gpt-test\",\"messages\":["
    "{\"role\":\"system\",\"content\":\"You are terse.\"},"
    "{\"role\":\"user\",\"content\":\"first question\"},"
    "{\"role\":\"assistant\",\"content\":\"an answer\"},"
    "{\"role\":\"user\",\"content\":\"why is the \\\"sky\\\" blue\"}]}";
static const char *s_prompt = "why is the \"sky\" blue";

/* ---------------------------------------------------------------------- */
/*  Whole answers                                                          */

Test (mockllm, whole_completion)
{
    server_t srv = s_start (NULL);
    resp_t resp = s_http (srv.port, "POST", "/v1/chat/completions", s_chat_body);
    cr_assert_eq (resp.status, 200, "%s", resp.body);
    char value [128];
    cr_assert_str_eq (s_header (&resp, "Content-Type", value, sizeof value), "application/json");
    json_t *doc = s_json (&resp);
    char expected [512];
    llmq_mock_answer (s_prompt, strlen (s_prompt), 16, expected, sizeof expected);
    json_t *choice = json_array_get (json_object_get (doc, "choices"), 0);
    json_t *message = json_object_get (choice, "message");
    cr_assert_str_eq (json_string_value (json_object_get (doc, "object")), "chat.completion");
    cr_assert_str_eq (json_string_value (json_object_get (doc, "model")), "gpt-test");
    cr_assert (json_is_string (json_object_get (doc, "id")));
    cr_assert (json_is_integer (json_object_get (doc, "created")));
    cr_assert_str_eq (json_string_value (json_object_get (message, "role")), "assistant");
    cr_assert_str_eq (json_string_value (json_object_get (message, "content")), expected);
    cr_assert_str_eq (json_string_value (json_object_get (choice, "finish_reason")), "stop");
    json_t *usage = json_object_get (doc, "usage");
    /*  3 + 2 + 2 + 5 words in all messages.  */
    cr_assert_eq (json_integer_value (json_object_get (usage, "prompt_tokens")), 12);
    cr_assert_eq (json_integer_value (json_object_get (usage, "completion_tokens")), 16);
    cr_assert_eq (json_integer_value (json_object_get (usage, "total_tokens")), 28);
    json_decref (doc);
    s_resp_free (&resp);
    s_stop (&srv);
}

Test (mockllm, max_tokens_caps_with_length)
{
    server_t srv = s_start ("--tokens", "20", NULL);
    resp_t resp = s_http (srv.port, "POST", "/v1/chat/completions",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"a b c\"}]}");
    cr_assert_eq (resp.status, 200, "%s", resp.body);
    json_t *doc = s_json (&resp);
    json_t *choice = json_array_get (json_object_get (doc, "choices"), 0);
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (choice, "message"),
                                                          "content")),
                      "Mock answer to: a b");
    cr_assert_str_eq (json_string_value (json_object_get (choice, "finish_reason")), "length");
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (doc, "usage"),
                                                       "completion_tokens")), 5);
    json_decref (doc);
    s_resp_free (&resp);
    /*  A max_tokens above --tokens changes nothing.  */
    resp = s_http (srv.port, "POST", "/v1/chat/completions",
        "{\"model\":\"m\",\"max_tokens\":500,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    doc = s_json (&resp);
    choice = json_array_get (json_object_get (doc, "choices"), 0);
    cr_assert_str_eq (json_string_value (json_object_get (choice, "finish_reason")), "stop");
    json_decref (doc);
    s_resp_free (&resp);
    s_stop (&srv);
}

Test (mockllm, whole_answer_waits_ttft_and_tpot)
{
    server_t srv = s_start ("--ttft-ms", "100", "--tpot-ms", "20", "--tokens", "6", NULL);
    resp_t resp = s_http (srv.port, "POST", "/v1/chat/completions", s_chat_body);
    cr_assert_eq (resp.status, 200);
    uint64_t elapsed_ms = (resp.arrival_us [0] - resp.sent_us) / 1000;
    /*  The answer cannot come before ttft + 5 * tpot; only a lower bound is
        checked, so a slow machine cannot fail the test.  */
    cr_assert_geq (elapsed_ms, 200, "answered after %llu ms", (unsigned long long) elapsed_ms);
    s_resp_free (&resp);
    s_stop (&srv);
}

Test (mockllm, keep_alive_serves_several_requests)
{
    server_t srv = s_start (NULL);
    int fd = s_connect (srv.port);
    const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"k\"}]}";
    char request [512];
    int len = snprintf (request, sizeof request,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
        strlen (body), body);
    for (int round = 0; round < 3; round++) {
        cr_assert_eq (write (fd, request, (size_t) len), len);
        char reply [4096];
        size_t used = 0;
        /*  Read until the end of this one response (Content-Length).  */
        while (true) {
            ssize_t n = read (fd, reply + used, sizeof reply - 1 - used);
            cr_assert_gt (n, 0, "connection closed in round %d", round);
            used += (size_t) n;
            reply [used] = '\0';
            char *end = strstr (reply, "\r\n\r\n");
            const char *cl = strcasestr (reply, "Content-Length:");
            if (end && cl && used >= (size_t) (end + 4 - reply) + strtoul (cl + 15, NULL, 10))
                break;
        }
        cr_assert (strncmp (reply, "HTTP/1.1 200", 12) == 0, "%s", reply);
    }
    close (fd);
    cr_assert_eq (s_stat (srv.port, "chat_requests"), 3);
    s_stop (&srv);
}

/* ---------------------------------------------------------------------- */
/*  Streaming                                                              */

/*  Splits an SSE body into the payloads of its `data:` events, with the
    arrival time of each event's last byte. Returns the event count.  */
static size_t
s_sse_events (const resp_t *resp, char **data, uint64_t *arrival, size_t max)
{
    size_t count = 0;
    const char *at = resp->body;
    while (*at && count < max) {
        const char *end = strstr (at, "\n\n");
        cr_assert_not_null (end, "event without blank line: %s", at);
        cr_assert (strncmp (at, "data: ", 6) == 0, "not a data line: %.40s", at);
        data [count] = strndup (at + 6, (size_t) (end - at - 6));
        arrival [count] = resp->arrival_us [end + 1 - resp->body];
        count++;
        at = end + 2;
    }
    return count;
}

Test (mockllm, stream_paced_in_order)
{
    const unsigned ttft_ms = 60, tpot_ms = 30, tokens = 8;
    server_t srv = s_start ("--ttft-ms", "60", "--tpot-ms", "30", "--tokens", "8", NULL);
    resp_t resp = s_http (srv.port, "POST", "/v1/chat/completions",
        "{\"model\":\"gpt-s\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"messages\":[{\"role\":\"user\",\"content\":\"tell me more\"}]}");
    cr_assert_eq (resp.status, 200, "%s", resp.body);
    char value [128];
    cr_assert_str_eq (s_header (&resp, "Content-Type", value, sizeof value), "text/event-stream");
    char *data [64];
    uint64_t arrival [64];
    size_t count = s_sse_events (&resp, data, arrival, 64);
    /*  8 token chunks, finish chunk, usage chunk, [DONE].  */
    cr_assert_eq (count, tokens + 3, "%zu events: %s", count, resp.body);
    cr_assert_str_eq (data [count - 1], "[DONE]");
    char joined [512] = "", token [64];
    for (uint32_t index = 0; index < tokens; index++) {
        json_t *chunk = json_loads (data [index], 0, NULL);
        cr_assert_not_null (chunk, "bad chunk %u: %s", index, data [index]);
        cr_assert_str_eq (json_string_value (json_object_get (chunk, "object")),
                          "chat.completion.chunk");
        cr_assert_str_eq (json_string_value (json_object_get (chunk, "model")), "gpt-s");
        json_t *choice = json_array_get (json_object_get (chunk, "choices"), 0);
        cr_assert (json_is_null (json_object_get (choice, "finish_reason")));
        json_t *delta = json_object_get (choice, "delta");
        if (index == 0)
            cr_assert_str_eq (json_string_value (json_object_get (delta, "role")), "assistant");
        const char *content = json_string_value (json_object_get (delta, "content"));
        llmq_mock_token ("tell me more", 12, index, token, sizeof token);
        cr_assert_str_eq (content, token, "token %u", index);
        strcat (joined, content);
        json_decref (chunk);
    }
    char whole [512];
    llmq_mock_answer ("tell me more", 12, tokens, whole, sizeof whole);
    cr_assert_str_eq (joined, whole);
    json_t *finish = json_loads (data [tokens], 0, NULL);
    json_t *choice = json_array_get (json_object_get (finish, "choices"), 0);
    cr_assert_str_eq (json_string_value (json_object_get (choice, "finish_reason")), "stop");
    json_decref (finish);
    json_t *usage_chunk = json_loads (data [tokens + 1], 0, NULL);
    cr_assert_eq (json_array_size (json_object_get (usage_chunk, "choices")), 0);
    json_t *usage = json_object_get (usage_chunk, "usage");
    cr_assert_eq (json_integer_value (json_object_get (usage, "prompt_tokens")), 3);
    cr_assert_eq (json_integer_value (json_object_get (usage, "completion_tokens")), tokens);
    json_decref (usage_chunk);
    /*  Paced, not sent at the end in one piece: the first token cannot
        come before ttft, and the last comes at least (tokens-1) tpot after
        the first. Lower bounds only, so a slow machine cannot fail this. */
    cr_assert_geq (arrival [0] - resp.sent_us, ttft_ms * 1000ull);
    for (uint32_t index = 1; index < tokens; index++)
        cr_assert_geq (arrival [index], arrival [index - 1]);
    cr_assert_geq (arrival [tokens - 1] - arrival [0], (tokens - 1) * tpot_ms * 1000ull * 9 / 10,
                   "tokens arrived within %llu us",
                   (unsigned long long) (arrival [tokens - 1] - arrival [0]));
    for (size_t index = 0; index < count; index++)
        free (data [index]);
    s_resp_free (&resp);
    s_stop (&srv);
}

Test (mockllm, stream_without_usage_and_with_max_tokens)
{
    server_t srv = s_start (NULL);
    resp_t resp = s_http (srv.port, "POST", "/v1/chat/completions",
        "{\"model\":\"m\",\"stream\":true,\"max_tokens\":4,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"only\"}]}");
    char *data [16];
    uint64_t arrival [16];
    size_t count = s_sse_events (&resp, data, arrival, 16);
    cr_assert_eq (count, 4 + 2, "%s", resp.body);     /* tokens, finish, [DONE] */
    cr_assert (strstr (data [4], "\"finish_reason\":\"length\""), "%s", data [4]);
    cr_assert_str_eq (data [5], "[DONE]");
    for (size_t index = 0; index < count; index++)
        free (data [index]);
    s_resp_free (&resp);
    s_stop (&srv);
}

/* ---------------------------------------------------------------------- */
/*  Fault injection                                                        */

Test (mockllm, error_429_with_retry_after)
{
    server_t srv = s_start ("--error-rate", "1", "--error-status", "429", NULL);
    for (int round = 0; round < 3; round++) {
        resp_t resp = s_http (srv.port, "POST", "/v1/chat/completions", s_chat_body);
        cr_assert_eq (resp.status, 429);
        char value [64];
        cr_assert_not_null (s_header (&resp, "Retry-After", value, sizeof value));
        cr_assert_str_eq (value, "1");
        json_t *doc = s_json (&resp);
        json_t *error = json_object_get (doc, "error");
        cr_assert (json_is_string (json_object_get (error, "message")));
        cr_assert_str_eq (json_string_value (json_object_get (error, "code")),
                          "rate_limit_exceeded");
        json_decref (doc);
        s_resp_free (&resp);
    }
    cr_assert_eq (s_stat (srv.port, "errors_injected"), 3);
    cr_assert_eq (s_stat (srv.port, "chat_requests"), 3);
    s_stop (&srv);
}

Test (mockllm, error_default_status_500)
{
    server_t srv = s_start ("--error-rate", "1", NULL);
    resp_t resp = s_http (srv.port, "POST", "/v1/chat/completions", s_chat_body);
    cr_assert_eq (resp.status, 500);
    char value [64];
    cr_assert_null (s_header (&resp, "Retry-After", value, sizeof value));
    json_t *doc = s_json (&resp);
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (doc, "error"), "type")),
                      "server_error");
    json_decref (doc);
    s_resp_free (&resp);
    s_stop (&srv);
}

/*  Same seed, same sequence of faults; a fraction near the rate.  */
static void
s_fault_pattern (const char *seed, char *pattern, int n)
{
    server_t srv = s_start ("--error-rate", "0.5", "--error-status", "503", "--seed", seed, NULL);
    for (int index = 0; index < n; index++) {
        resp_t resp = s_http (srv.port, "POST", "/v1/chat/completions", s_chat_body);
        cr_assert (resp.status == 200 || resp.status == 503);
        pattern [index] = resp.status == 200 ? '.' : 'E';
        s_resp_free (&resp);
    }
    pattern [n] = '\0';
    s_stop (&srv);
}

Test (mockllm, error_rate_is_seeded)
{
    char first [61], second [61];
    s_fault_pattern ("42", first, 60);
    s_fault_pattern ("42", second, 60);
    cr_assert_str_eq (first, second);
    int errors = 0;
    for (int index = 0; index < 60; index++)
        errors += first [index] == 'E';
    cr_assert (errors >= 15 && errors <= 45, "%d errors of 60 at rate 0.5: %s", errors, first);
}

Test (mockllm, malformed_body)
{
    server_t srv = s_start ("--malformed-rate", "1", NULL);
    resp_t resp = s_http (srv.port, "POST", "/v1/chat/completions", s_chat_body);
    cr_assert_eq (resp.status, 200);
    cr_assert_null (json_loads (resp.body, 0, NULL), "body parsed: %s", resp.body);
    s_resp_free (&resp);
    resp = s_http (srv.port, "POST", "/v1/chat/completions",
        "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    cr_assert_eq (resp.status, 200);
    cr_assert (strncmp (resp.body, "data: {", 7) == 0, "%s", resp.body);
    char *first_event = strndup (resp.body + 6, strcspn (resp.body + 6, "\n"));
    cr_assert_null (json_loads (first_event, 0, NULL), "event parsed: %s", first_event);
    free (first_event);
    s_resp_free (&resp);
    cr_assert_eq (s_stat (srv.port, "malformed_injected"), 2);
    s_stop (&srv);
}

/*  Polls /stats until key == value or the deadline passes.  */
static bool
s_wait_stat (uint16_t port, const char *key, json_int_t value, int timeout_ms)
{
    uint64_t deadline = s_now_us () + (uint64_t) timeout_ms * 1000;
    while (s_now_us () < deadline) {
        if (s_stat (port, key) == value)
            return true;
        poll (NULL, 0, 10);
    }
    return false;
}

Test (mockllm, hang_until_client_leaves)
{
    server_t srv = s_start ("--hang-rate", "1", NULL);
    int fd = s_connect (srv.port);
    s_send_request (fd, "POST", "/v1/chat/completions", s_chat_body);
    cr_assert (s_wait_stat (srv.port, "waiting", 1, IO_TIMEOUT_MS), "request never hung");
    /*  Nothing arrives while it hangs.  */
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    cr_assert_eq (poll (&pfd, 1, 300), 0, "a hung request got an answer");
    cr_assert_eq (s_stat (srv.port, "hangs_injected"), 1);
    close (fd);
    /*  The server notices the client left and frees the connection.  */
    cr_assert (s_wait_stat (srv.port, "waiting", 0, IO_TIMEOUT_MS), "hung request kept");
    s_stop (&srv);
}

Test (mockllm, stops_cleanly_with_requests_in_flight)
{
    server_t srv = s_start ("--hang-rate", "1", NULL);
    int fd = s_connect (srv.port);
    s_send_request (fd, "POST", "/v1/chat/completions", s_chat_body);
    cr_assert (s_wait_stat (srv.port, "waiting", 1, IO_TIMEOUT_MS));
    s_stop (&srv);                      /* asserts exit status 0 */
    char byte;
    cr_assert_leq (read (fd, &byte, 1), 0, "connection not closed on stop");
    close (fd);
}

/* ---------------------------------------------------------------------- */
/*  Bad requests and the other endpoints                                   */

static void
s_expect_400 (uint16_t port, const char *body, const char *param)
{
    resp_t resp = s_http (port, "POST", "/v1/chat/completions", body);
    cr_assert_eq (resp.status, 400, "for %s: %d %s", body, resp.status, resp.body);
    json_t *doc = s_json (&resp);
    json_t *error = json_object_get (doc, "error");
    cr_assert_str_eq (json_string_value (json_object_get (error, "type")), "invalid_request_error");
    cr_assert (json_is_string (json_object_get (error, "message")));
    if (param)
        cr_assert_str_eq (json_string_value (json_object_get (error, "param")), param);
    json_decref (doc);
    s_resp_free (&resp);
}

Test (mockllm, bad_requests_get_400)
{
    server_t srv = s_start (NULL);
    s_expect_400 (srv.port, "{not json", NULL);
    s_expect_400 (srv.port, "[1,2]", NULL);
    s_expect_400 (srv.port, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "model");
    s_expect_400 (srv.port, "{\"model\":\"m\"}", "messages");
    s_expect_400 (srv.port, "{\"model\":\"m\",\"messages\":[]}", "messages");
    s_expect_400 (srv.port, "{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", "messages");
    s_expect_400 (srv.port, "{\"model\":\"m\",\"max_tokens\":0,"
                  "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "max_tokens");
    cr_assert_eq (s_stat (srv.port, "bad_requests"), 7);
    s_stop (&srv);
}

Test (mockllm, content_parts_and_no_user_message)
{
    server_t srv = s_start ("--tokens", "6", NULL);
    resp_t resp = s_http (srv.port, "POST", "/v1/chat/completions",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
        "[{\"type\":\"text\",\"text\":\"red\"},{\"type\":\"text\",\"text\":\"green\"}]}]}");
    json_t *doc = s_json (&resp);
    json_t *message = json_object_get (json_array_get (json_object_get (doc, "choices"), 0),
                                       "message");
    cr_assert_str_eq (json_string_value (json_object_get (message, "content")),
                      "Mock answer to: red green red");
    json_decref (doc);
    s_resp_free (&resp);
    resp = s_http (srv.port, "POST", "/v1/chat/completions",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"sys\"}]}");
    doc = s_json (&resp);
    message = json_object_get (json_array_get (json_object_get (doc, "choices"), 0), "message");
    cr_assert_str_eq (json_string_value (json_object_get (message, "content")),
                      "Mock answer to: empty empty empty");
    json_decref (doc);
    s_resp_free (&resp);
    s_stop (&srv);
}

Test (mockllm, models_health_stats_404)
{
    server_t srv = s_start (NULL);
    resp_t resp = s_http (srv.port, "POST", "/v1/chat/completions", s_chat_body);
    s_resp_free (&resp);

    resp = s_http (srv.port, "GET", "/v1/models", NULL);
    cr_assert_eq (resp.status, 200);
    json_t *doc = s_json (&resp);
    cr_assert_str_eq (json_string_value (json_object_get (doc, "object")), "list");
    json_t *data = json_object_get (doc, "data");
    cr_assert_eq (json_array_size (data), 2, "%s", resp.body);
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (data, 0), "id")), "mock");
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (data, 1), "id")),
                      "gpt-test");
    json_decref (doc);
    s_resp_free (&resp);

    resp = s_http (srv.port, "GET", "/health", NULL);
    cr_assert_eq (resp.status, 200);
    doc = s_json (&resp);
    cr_assert_str_eq (json_string_value (json_object_get (doc, "status")), "ok");
    json_decref (doc);
    s_resp_free (&resp);

    resp = s_http (srv.port, "GET", "/v1/nothing", NULL);
    cr_assert_eq (resp.status, 404);
    doc = s_json (&resp);
    cr_assert (json_is_object (json_object_get (doc, "error")));
    json_decref (doc);
    s_resp_free (&resp);

    resp = s_http (srv.port, "GET", "/v1/chat/completions", NULL);
    cr_assert_eq (resp.status, 405);
    s_resp_free (&resp);

    cr_assert_eq (s_stat (srv.port, "chat_requests"), 1);
    cr_assert_eq (s_stat (srv.port, "completions"), 1);
    cr_assert_eq (s_stat (srv.port, "errors_injected"), 0);
    /*  Every request counts, this /stats included: chat, models, health,
        404, 405, four /stats.  */
    cr_assert_eq (s_stat (srv.port, "requests"), 9);
    s_stop (&srv);
}

/* ---------------------------------------------------------------------- */
/*  Command line                                                           */

static int
s_run_status (const char *const *argv)
{
    pid_t pid = fork ();
    cr_assert_geq (pid, 0);
    if (pid == 0) {
        int null = open ("/dev/null", O_WRONLY);
        dup2 (null, STDOUT_FILENO);
        dup2 (null, STDERR_FILENO);
        execv (MOCKLLM, (char *const *) argv);
        _exit (127);
    }
    int status;
    waitpid (pid, &status, 0);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

Test (mockllm, command_line)
{
    const char *help [] = { "llmq-mockllm", "--help", NULL };
    const char *version [] = { "llmq-mockllm", "--version", NULL };
    const char *bad_rate [] = { "llmq-mockllm", "--error-rate", "1.5", NULL };
    const char *bad_sum [] = { "llmq-mockllm", "--error-rate", "0.6", "--hang-rate", "0.6", NULL };
    const char *bad_listen [] = { "llmq-mockllm", "--listen", "nope", NULL };
    const char *bad_flag [] = { "llmq-mockllm", "--frobnicate", NULL };
    cr_assert_eq (s_run_status (help), 0);
    cr_assert_eq (s_run_status (version), 0);
    cr_assert_eq (s_run_status (bad_rate), 2);
    cr_assert_eq (s_run_status (bad_sum), 2);
    cr_assert_eq (s_run_status (bad_listen), 2);
    cr_assert_eq (s_run_status (bad_flag), 2);
}
