/*  test_worker_openai.c -- the OpenAI backend: JSON in and out (openai.c)
    and the libcurl multi transfers (backend_openai.c).

    The transfer tests run a tiny HTTP/1.1 server on a thread of the test
    (a thread per connection, keep-alive honoured) that answers every
    request with a canned response, sent in pieces to exercise chunk
    boundaries. The backend is driven exactly as the worker drives it:
    zmq_poll over its fds, then llmq_backend_run.
*/
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "backend.h"
#include "openai.h"

/* ---------------------------------------------------------------------- */
/*  Requests built by hand                                                 */

static llmq_chat_msg_t s_msgs [] = {
    { .role = { "system", 6 }, .content = { "Be brief.", 9 } },
    { .role = { "user", 4 }, .content = { "Say hello", 9 }, .name = { "bob", 3 } }
};

static llmq_wire_request_t
s_request (bool stream)
{
    llmq_wire_request_t req = {
        .id = { "r1", 2 },
        .model = { "served", 6 },
        .messages = s_msgs,
        .n_messages = 2,
        .stream = stream
    };
    return req;
}

/* ---------------------------------------------------------------------- */
/*  Body building                                                          */

static json_t *
s_body_json (const llmq_wire_request_t *req, const char *model)
{
    char err [128];
    char *body = llmq_openai_body (req, model, err, sizeof err);
    cr_assert_not_null (body, "body failed: %s", err);
    json_t *root = json_loads (body, JSON_ALLOW_NUL, NULL);
    cr_assert_not_null (root, "not JSON: %s", body);
    free (body);
    return root;
}

Test (openai_body, minimal_whole)
{
    llmq_wire_request_t req = s_request (false);
    json_t *root = s_body_json (&req, "upstream-model");
    cr_assert_str_eq (json_string_value (json_object_get (root, "model")), "upstream-model");
    json_t *messages = json_object_get (root, "messages");
    cr_assert_eq (json_array_size (messages), 2);
    json_t *m1 = json_array_get (messages, 1);
    cr_assert_str_eq (json_string_value (json_object_get (m1, "role")), "user");
    cr_assert_str_eq (json_string_value (json_object_get (m1, "content")), "Say hello");
    cr_assert_str_eq (json_string_value (json_object_get (m1, "name")), "bob");
    cr_assert_null (json_object_get (json_array_get (messages, 0), "name"));
    cr_assert (json_is_false (json_object_get (root, "stream")));
    /*  Only what the client set goes out.                                 */
    cr_assert_null (json_object_get (root, "stream_options"));
    cr_assert_null (json_object_get (root, "max_tokens"));
    cr_assert_null (json_object_get (root, "temperature"));
    cr_assert_null (json_object_get (root, "top_p"));
    cr_assert_null (json_object_get (root, "stop"));
    cr_assert_null (json_object_get (root, "seed"));
    json_decref (root);
}

Test (openai_body, all_params_and_stream)
{
    llmq_wire_request_t req = s_request (true);
    req.has_max_tokens = true;
    req.max_tokens = 64;
    req.has_temperature = true;
    req.temperature = 0.7;
    req.has_top_p = true;
    req.top_p = 0.9;
    req.has_seed = true;
    req.seed = -42;
    req.stop [0] = llmq_str ("\n\n");
    req.stop [1] = llmq_str ("END");
    req.n_stop = 2;
    char err [128];
    char *text = llmq_openai_body (&req, "m", err, sizeof err);
    cr_assert_not_null (text);
    cr_assert_not_null (strstr (text, "\"temperature\":0.7"), "exact decimal: %s", text);
    free (text);

    json_t *root = s_body_json (&req, "m");
    cr_assert_eq (json_integer_value (json_object_get (root, "max_tokens")), 64);
    cr_assert_float_eq (json_real_value (json_object_get (root, "temperature")), 0.7, 1e-12);
    cr_assert_float_eq (json_real_value (json_object_get (root, "top_p")), 0.9, 1e-12);
    cr_assert_eq (json_integer_value (json_object_get (root, "seed")), -42);
    json_t *stop = json_object_get (root, "stop");
    cr_assert_eq (json_array_size (stop), 2);
    cr_assert_str_eq (json_string_value (json_array_get (stop, 0)), "\n\n");
    cr_assert_str_eq (json_string_value (json_array_get (stop, 1)), "END");
    cr_assert (json_is_true (json_object_get (root, "stream")));
    json_t *opts = json_object_get (root, "stream_options");
    cr_assert (json_is_true (json_object_get (opts, "include_usage")));
    json_decref (root);
}

Test (openai_body, invalid_utf8_is_refused)
{
    llmq_chat_msg_t bad = { .role = { "user", 4 }, .content = { "\xff\xfe", 2 } };
    llmq_wire_request_t req = s_request (false);
    req.messages = &bad;
    req.n_messages = 1;
    char err [128];
    cr_assert_null (llmq_openai_body (&req, "m", err, sizeof err));
    cr_assert_not_null (strstr (err, "UTF-8"), "%s", err);
}

Test (openai_body, embedded_nul_and_quotes_survive)
{
    llmq_chat_msg_t msg = { .role = { "user", 4 }, .content = { "a\"b\0c", 5 } };
    llmq_wire_request_t req = s_request (false);
    req.messages = &msg;
    req.n_messages = 1;
    json_t *root = s_body_json (&req, "m");
    json_t *content = json_object_get (json_array_get (json_object_get (root, "messages"), 0),
                                       "content");
    cr_assert_eq (json_string_length (content), 5);
    cr_assert_eq (memcmp (json_string_value (content), "a\"b\0c", 5), 0);
    json_decref (root);
}

/* ---------------------------------------------------------------------- */
/*  Parsing                                                                */

static int
s_parse_reply (const char *text, llmq_openai_reply_t *r)
{
    return llmq_openai_parse_reply (text, strlen (text), r);
}

static int
s_parse_chunk (const char *text, llmq_openai_reply_t *r)
{
    return llmq_openai_parse_chunk (text, strlen (text), r);
}

Test (openai_parse, whole_answer)
{
    llmq_openai_reply_t r;
    cr_assert_eq (s_parse_reply ("{\"id\":\"x\",\"choices\":[{\"index\":0,\"message\":"
        "{\"role\":\"assistant\",\"content\":\"Hi there\"},\"finish_reason\":\"length\"}],"
        "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2,\"total_tokens\":14}}", &r), 0);
    cr_assert_eq (r.text_len, 8);
    cr_assert_str_eq (r.text, "Hi there");
    cr_assert_str_eq (r.finish_reason, "length");
    cr_assert (r.has_usage);
    cr_assert_eq (r.usage.prompt_tokens, 12);
    cr_assert_eq (r.usage.completion_tokens, 2);
    cr_assert_null (r.error);
    llmq_openai_reply_clear (&r);
    cr_assert_null (r.root);
}

Test (openai_parse, whole_answer_lenient_parts)
{
    llmq_openai_reply_t r;
    /*  Null content, no finish_reason, no usage, odd usage types.         */
    cr_assert_eq (s_parse_reply ("{\"choices\":[{\"message\":{\"content\":null}}]}", &r), 0);
    cr_assert_str_eq (r.text, "");
    cr_assert_null (r.finish_reason);
    cr_assert_not (r.has_usage);
    llmq_openai_reply_clear (&r);
    cr_assert_eq (s_parse_reply ("{\"choices\":[{\"message\":{\"content\":\"x\"}}],"
                                 "\"usage\":{\"prompt_tokens\":\"many\",\"completion_tokens\":-3}}", &r), 0);
    cr_assert (r.has_usage);
    cr_assert_eq (r.usage.prompt_tokens, 0);
    cr_assert_eq (r.usage.completion_tokens, 0);
    llmq_openai_reply_clear (&r);
}

Test (openai_parse, whole_answer_malformed)
{
    const char *bad [] = {
        "", "not json", "[1,2]", "{}", "{\"choices\":[]}", "{\"choices\":{}}",
        "{\"choices\":[{}]}", "{\"choices\":[{\"message\":\"hi\"}]}",
        "{\"choices\":[{\"message\":{\"content\":5}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}]", /* truncated */
        "{\"a\":1,\"a\":2}"
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        llmq_openai_reply_t r;
        cr_assert_eq (s_parse_reply (bad [i], &r), -1, "accepted: %s", bad [i]);
        cr_assert_null (r.root);
    }
}

Test (openai_parse, error_documents)
{
    llmq_openai_reply_t r;
    cr_assert_eq (s_parse_reply ("{\"error\":{\"message\":\"model not found\",\"type\":\"x\"}}", &r), 0);
    cr_assert_str_eq (r.error, "model not found");
    llmq_openai_reply_clear (&r);
    cr_assert_eq (s_parse_reply ("{\"error\":\"plain\"}", &r), 0);
    cr_assert_str_eq (r.error, "plain");
    llmq_openai_reply_clear (&r);
    cr_assert_eq (s_parse_chunk ("{\"error\":{\"code\":500}}", &r), 0);
    cr_assert_str_eq (r.error, "unknown error");
    llmq_openai_reply_clear (&r);
}

Test (openai_parse, chunks)
{
    llmq_openai_reply_t r;
    cr_assert_eq (s_parse_chunk ("{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                                 "\"content\":\"Hel\"},\"finish_reason\":null}]}", &r), 0);
    cr_assert_eq (r.text_len, 3);
    cr_assert_eq (memcmp (r.text, "Hel", 3), 0);
    cr_assert_null (r.finish_reason);
    cr_assert_not (r.has_usage);
    llmq_openai_reply_clear (&r);

    /*  Role-only first chunk and the final one: no text.                  */
    cr_assert_eq (s_parse_chunk ("{\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}", &r), 0);
    cr_assert_null (r.text);
    llmq_openai_reply_clear (&r);
    cr_assert_eq (s_parse_chunk ("{\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}", &r), 0);
    cr_assert_null (r.text);
    cr_assert_str_eq (r.finish_reason, "stop");
    llmq_openai_reply_clear (&r);

    /*  include_usage: the last chunk has no choices.                      */
    cr_assert_eq (s_parse_chunk ("{\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
                                 "\"completion_tokens\":7}}", &r), 0);
    cr_assert_null (r.text);
    cr_assert (r.has_usage);
    cr_assert_eq (r.usage.prompt_tokens, 5);
    cr_assert_eq (r.usage.completion_tokens, 7);
    llmq_openai_reply_clear (&r);
}

Test (openai_parse, chunks_malformed)
{
    const char *bad [] = {
        "", "{", "[]", "\"str\"", "{\"choices\":5}", "{\"choices\":[7]}",
        "{\"choices\":[{\"delta\":\"x\"}]}", "{\"choices\":[{\"delta\":{\"content\":1}}]}"
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        llmq_openai_reply_t r;
        cr_assert_eq (s_parse_chunk (bad [i], &r), -1, "accepted: %s", bad [i]);
    }
}

Test (openai_parse, error_message)
{
    char out [64];
    const char *b1 = "{\"error\":{\"message\":\"Rate limit reached\"}}";
    cr_assert_eq (llmq_openai_error_message (b1, strlen (b1), out, sizeof out), 18);
    cr_assert_str_eq (out, "Rate limit reached");
    const char *b2 = "{\"detail\":\"Not Found\"}";
    llmq_openai_error_message (b2, strlen (b2), out, sizeof out);
    cr_assert_str_eq (out, "Not Found");
    const char *b3 = "{\"message\":\"bad\"}";
    llmq_openai_error_message (b3, strlen (b3), out, sizeof out);
    cr_assert_str_eq (out, "bad");
    const char *b4 = "{\"detail\":[{\"loc\":[\"body\"],\"msg\":\"field required\"}]}";
    llmq_openai_error_message (b4, strlen (b4), out, sizeof out);
    cr_assert_not_null (strstr (out, "field required"), "%s", out);
    const char *b5 = "<html>502 Bad Gateway</html>";
    cr_assert_eq (llmq_openai_error_message (b5, strlen (b5), out, sizeof out), 0);
    cr_assert_str_eq (out, "");
    char small [5];
    llmq_openai_error_message (b1, strlen (b1), small, sizeof small);
    cr_assert_str_eq (small, "Rate", "truncated");
}

Test (openai_parse, retry_after)
{
    uint32_t ms = 0;
    cr_assert (llmq_openai_retry_after ("5", 0, &ms));
    cr_assert_eq (ms, 5000);
    cr_assert (llmq_openai_retry_after (" 2 ", 0, &ms));
    cr_assert_eq (ms, 2000);
    cr_assert_not (llmq_openai_retry_after ("soon", 0, &ms));
    cr_assert_not (llmq_openai_retry_after ("5x", 0, &ms));
    /*  An HTTP-date, relative to now; a past date means at once.          */
    time_t date = 1445412480;           /* Wed, 21 Oct 2015 07:28:00 GMT */
    cr_assert (llmq_openai_retry_after ("Wed, 21 Oct 2015 07:28:00 GMT", date - 10, &ms));
    cr_assert_eq (ms, 10000);
    cr_assert (llmq_openai_retry_after ("Wed, 21 Oct 2015 07:28:00 GMT", date + 10, &ms));
    cr_assert_eq (ms, 0);
}

/* ---------------------------------------------------------------------- */
/*  A canned HTTP server                                                   */

#define MAX_PIECES 16
#define MAX_CONNS 32

typedef struct {
    int listen_fd;
    uint16_t port;
    pthread_t thread;
    atomic_bool stop;
    const char *pieces [MAX_PIECES];    /* the response, sent piece by piece */
    int pause_ms;                       /* between pieces                    */
    bool hang;                          /* read requests, never answer       */
    atomic_int requests;                /* requests read                     */
    atomic_int connections;             /* connections accepted              */
    pthread_mutex_t lock;
    char last_request [16384];          /* headers + body of the last one    */
    pthread_t conns [MAX_CONNS];
} server_t;

typedef struct {
    server_t *srv;
    int fd;
} conn_arg_t;

/*  Waits for fd to be readable, checking the stop flag; false on stop.    */
static bool
s_wait_readable (server_t *srv, int fd)
{
    while (!atomic_load (&srv->stop)) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll (&pfd, 1, 20) > 0)
            return true;
    }
    return false;
}

/*  Reads one request (headers and Content-Length body); false on EOF.     */
static bool
s_read_request (server_t *srv, int fd, char *buf, size_t size)
{
    size_t used = 0;
    char *end = NULL;
    long body = 0;
    while (true) {
        if (end && used >= (size_t) (end + 4 - buf) + (size_t) body)
            return true;
        if (used == size - 1 || !s_wait_readable (srv, fd))
            return false;
        ssize_t n = read (fd, buf + used, size - 1 - used);
        if (n <= 0)
            return false;
        used += (size_t) n;
        buf [used] = 0;
        if (!end && (end = strstr (buf, "\r\n\r\n"))) {
            const char *cl = strcasestr (buf, "content-length:");
            body = cl ? atol (cl + 15) : 0;
        }
    }
}

static void
s_write_all (int fd, const char *data)
{
    size_t len = strlen (data);
    while (len > 0) {
        ssize_t n = send (fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t) n;
    }
}

static void *
s_conn_main (void *arg)
{
    conn_arg_t *ca = arg;
    server_t *srv = ca->srv;
    int fd = ca->fd;
    free (ca);
    char *buf = malloc (65536);
    while (s_read_request (srv, fd, buf, 65536)) {
        pthread_mutex_lock (&srv->lock);
        snprintf (srv->last_request, sizeof srv->last_request, "%s", buf);
        pthread_mutex_unlock (&srv->lock);
        atomic_fetch_add (&srv->requests, 1);
        if (srv->hang) {
            while (s_wait_readable (srv, fd)) {
                char sink [256];
                if (read (fd, sink, sizeof sink) <= 0)
                    break;              /* the client gave up */
            }
            break;
        }
        for (int i = 0; i < MAX_PIECES && srv->pieces [i]; i++) {
            if (i > 0 && srv->pause_ms)
                usleep ((useconds_t) srv->pause_ms * 1000);
            s_write_all (fd, srv->pieces [i]);
        }
        if (strcasestr (srv->pieces [0], "Connection: close"))
            break;
    }
    free (buf);
    close (fd);
    return NULL;
}

static void *
s_server_main (void *arg)
{
    server_t *srv = arg;
    int n_conns = 0;
    while (s_wait_readable (srv, srv->listen_fd)) {
        int fd = accept (srv->listen_fd, NULL, NULL);
        if (fd < 0 || n_conns == MAX_CONNS)
            continue;
        atomic_fetch_add (&srv->connections, 1);
        conn_arg_t *ca = malloc (sizeof *ca);
        ca->srv = srv;
        ca->fd = fd;
        pthread_create (&srv->conns [n_conns++], NULL, s_conn_main, ca);
    }
    for (int i = 0; i < n_conns; i++)
        pthread_join (srv->conns [i], NULL);
    return NULL;
}

static server_t *
s_server_start (const char *const *pieces)
{
    server_t *srv = calloc (1, sizeof *srv);
    pthread_mutex_init (&srv->lock, NULL);
    for (int i = 0; pieces && pieces [i]; i++)
        srv->pieces [i] = pieces [i];
    srv->listen_fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    cr_assert_eq (bind (srv->listen_fd, (struct sockaddr *) &addr, sizeof addr), 0);
    cr_assert_eq (listen (srv->listen_fd, 16), 0);
    socklen_t len = sizeof addr;
    getsockname (srv->listen_fd, (struct sockaddr *) &addr, &len);
    srv->port = ntohs (addr.sin_port);
    return srv;
}

static void
s_server_run (server_t *srv)
{
    pthread_create (&srv->thread, NULL, s_server_main, srv);
}

static void
s_server_stop (server_t *srv)
{
    atomic_store (&srv->stop, true);
    pthread_join (srv->thread, NULL);
    close (srv->listen_fd);
    pthread_mutex_destroy (&srv->lock);
    free (srv);
}

/* ---------------------------------------------------------------------- */
/*  Driving the backend                                                    */

typedef struct {
    char partials [32][64];
    int n_partials;
    bool done;
    int n_done;
    llmq_outcome_t outcome;     /* strings below, copied                  */
    char text [1 << 16];
    char finish [32];
    char message [1024];
} result_t;

static void
s_on_partial (void *arg, llmq_call_t *call, const char *text, size_t len)
{
    (void) call;
    result_t *r = arg;
    cr_assert_lt (r->n_partials, 32);
    snprintf (r->partials [r->n_partials++], 64, "%.*s", (int) len, text);
}

static void
s_on_done (void *arg, llmq_call_t *call, const llmq_outcome_t *o)
{
    result_t *r = arg;
    cr_assert_null (call->backend_data, "backend forgot the call before done");
    r->outcome = *o;
    snprintf (r->text, sizeof r->text, "%.*s", (int) o->text_len, o->text);
    snprintf (r->finish, sizeof r->finish, "%s", o->finish_reason);
    snprintf (r->message, sizeof r->message, "%s", o->message);
    r->done = true;
    r->n_done++;
}

static llmq_backend_t *
s_backend (const char *url, result_t *r, uint32_t conns)
{
    llmq_backend_sink_t sink = { .arg = r, .partial = s_on_partial, .done = s_on_done };
    llmq_openai_config_t cfg = { .url = url, .api_key = "sekrit", .max_connections = conns, .verbose = getenv ("DBG") != NULL };
    llmq_backend_t *b = llmq_openai_backend_new (&cfg, &sink);
    cr_assert_not_null (b);
    return b;
}

static void
s_url (char *url, size_t size, uint16_t port)
{
    snprintf (url, size, "http://127.0.0.1:%u/v1", port);
}

/*  One loop turn, as the worker does it.                                  */
static void
s_turn (llmq_backend_t *b, long max_ms)
{
    zmq_pollitem_t items [64];
    size_t n = llmq_backend_fds (b, items, 64);
    cr_assert_leq (n, 64);
    long timeout = llmq_backend_timeout_ms (b);
    if (timeout < 0 || timeout > max_ms)
        timeout = max_ms;
    zmq_poll (n ? items : NULL, (int) n, timeout);
    llmq_backend_run (b, items, n);
}

/*  Turns until *flag, failing after 10 s.                                 */
static void
s_pump_until (llmq_backend_t *b, const bool *flag)
{
    uint64_t deadline = llmq_now_us () + 10000000;
    while (!*flag) {
        cr_assert_lt (llmq_now_us (), deadline, "backend did not finish in time");
        s_turn (b, 50);
    }
}

static llmq_call_t
s_call (const llmq_wire_request_t *req, uint64_t rid, uint32_t budget_ms)
{
    uint64_t now = llmq_now_us ();
    llmq_call_t call = {
        .rid = rid, .req = req, .upstream_model = "up-model",
        .start_us = now, .deadline_us = now + budget_ms * 1000ull
    };
    return call;
}

/*  Runs one call against a server answering with pieces.                 */
static server_t *
s_run_one (const char *const *pieces, bool stream, result_t *r)
{
    server_t *srv = s_server_start (pieces);
    s_server_run (srv);
    char url [64];
    s_url (url, sizeof url, srv->port);
    llmq_backend_t *b = s_backend (url, r, 4);
    llmq_wire_request_t req = s_request (stream);
    llmq_call_t call = s_call (&req, 7, 5000);
    llmq_backend_start (b, &call);
    s_pump_until (b, &r->done);
    llmq_backend_destroy (&b);
    cr_assert_null (b);
    return srv;
}

static void
s_init_curl (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
}

static void
s_fini_curl (void)
{
    curl_global_cleanup ();
}

TestSuite (openai_http, .init = s_init_curl, .fini = s_fini_curl, .timeout = 60);

#define WHOLE_BODY "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"Hello!\"}," \
                   "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}"

Test (openai_http, whole_answer)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    char response [512];
    snprintf (response, sizeof response,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
              strlen (WHOLE_BODY), WHOLE_BODY);
    const char *pieces [] = { response, NULL };
    server_t *srv = s_run_one (pieces, false, &r);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_NONE, "%s", r.message);
    cr_assert_str_eq (r.text, "Hello!");
    cr_assert_str_eq (r.finish, "stop");
    cr_assert_eq (r.outcome.usage.prompt_tokens, 9);
    cr_assert_eq (r.outcome.usage.completion_tokens, 2);
    cr_assert_eq (r.outcome.ttft_us, r.outcome.backend_us, "whole: ttft = backend time");
    cr_assert_gt (r.outcome.backend_us, 0);
    cr_assert_eq (r.n_partials, 0);
    /*  What went over the wire.                                           */
    const char *req = srv->last_request;
    cr_assert_eq (strncmp (req, "POST /v1/chat/completions HTTP/1.1\r\n", 36), 0, "%s", req);
    cr_assert_not_null (strcasestr (req, "\r\nAuthorization: Bearer sekrit\r\n"));
    cr_assert_not_null (strcasestr (req, "\r\nContent-Type: application/json\r\n"));
    cr_assert_not_null (strcasestr (req, "\r\nAccept: application/json\r\n"));
    cr_assert_null (strcasestr (req, "Expect:"));
    cr_assert_not_null (strstr (req, "\"model\":\"up-model\""));
    cr_assert_not_null (strstr (req, "\"stream\":false"));
    s_server_stop (srv);
}

Test (openai_http, streamed_answer_in_pieces)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    /*  Cut mid-line, mid-CRLF and mid-JSON; a comment; the usage chunk.   */
    const char *pieces [] = {
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\r\n\r",
        "\n: ping\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"}",
        "}]}\r\n\r\ndata: {\"choices\":[{\"delta\":{\"content\":\" world\"},\"finish_reason\":",
        "\"stop\"}]}\n\ndata: ",
        "{\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n",
        NULL
    };
    server_t *srv = s_server_start (pieces);
    srv->pause_ms = 5;
    s_server_run (srv);
    char url [64];
    s_url (url, sizeof url, srv->port);
    llmq_backend_t *b = s_backend (url, &r, 4);
    llmq_wire_request_t req = s_request (true);
    llmq_call_t call = s_call (&req, 8, 5000);
    llmq_backend_start (b, &call);
    s_pump_until (b, &r.done);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_NONE, "%s", r.message);
    cr_assert_eq (r.n_partials, 3);
    cr_assert_str_eq (r.partials [0], "Hel");
    cr_assert_str_eq (r.partials [1], "lo");
    cr_assert_str_eq (r.partials [2], " world");
    cr_assert_str_eq (r.text, "Hello world");
    cr_assert_str_eq (r.finish, "stop");
    cr_assert_eq (r.outcome.usage.prompt_tokens, 4);
    cr_assert_eq (r.outcome.usage.completion_tokens, 3);
    cr_assert_lt (r.outcome.ttft_us, r.outcome.backend_us, "first token before the end");
    cr_assert_not_null (strstr (srv->last_request, "\"stream\":true"));
    cr_assert_not_null (strstr (srv->last_request, "\"stream_options\":{\"include_usage\":true}"));
    cr_assert_not_null (strcasestr (srv->last_request, "\r\nAccept: text/event-stream\r\n"));
    llmq_backend_destroy (&b);
    s_server_stop (srv);
}

Test (openai_http, stream_asked_whole_given)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    char response [512];
    snprintf (response, sizeof response,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
              strlen (WHOLE_BODY), WHOLE_BODY);
    const char *pieces [] = { response, NULL };
    server_t *srv = s_run_one (pieces, true, &r);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_NONE, "%s", r.message);
    cr_assert_eq (r.n_partials, 1, "the whole text as one PARTIAL");
    cr_assert_str_eq (r.partials [0], "Hello!");
    cr_assert_str_eq (r.text, "Hello!");
    s_server_stop (srv);
}

Test (openai_http, http_error_with_upstream_message)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    const char *body = "{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}";
    char response [512];
    snprintf (response, sizeof response,
              "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
              "Content-Length: %zu\r\n\r\n%s", strlen (body), body);
    const char *pieces [] = { response, NULL };
    server_t *srv = s_run_one (pieces, true, &r);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_BACKEND);
    cr_assert_eq (r.outcome.upstream_status, 500);
    cr_assert_not_null (strstr (r.message, "boom"), "%s", r.message);
    cr_assert_not (r.outcome.has_retry_after_ms);
    cr_assert_eq (r.n_partials, 0);
    s_server_stop (srv);
}

Test (openai_http, rate_limited_with_retry_after)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    const char *pieces [] = {
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n", NULL
    };
    server_t *srv = s_run_one (pieces, false, &r);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_BACKEND);
    cr_assert_eq (r.outcome.upstream_status, 429);
    cr_assert (r.outcome.has_retry_after_ms);
    cr_assert_eq (r.outcome.retry_after_ms, 3000);
    s_server_stop (srv);
}

Test (openai_http, retry_after_ms_header_wins)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    const char *pieces [] = {
        "HTTP/1.1 429 Too Many Requests\r\nretry-after-ms: 250\r\nRetry-After: 1\r\n"
        "Content-Length: 0\r\n\r\n", NULL
    };
    server_t *srv = s_run_one (pieces, false, &r);
    cr_assert_eq (r.outcome.retry_after_ms, 250);
    s_server_stop (srv);
}

Test (openai_http, malformed_whole_body)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    const char *pieces [] = {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\nnot json", NULL
    };
    server_t *srv = s_run_one (pieces, false, &r);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_BACKEND);
    cr_assert_str_eq (r.message, "malformed response from backend");
    cr_assert_eq (r.outcome.upstream_status, 200);
    s_server_stop (srv);
}

Test (openai_http, malformed_chunk)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    const char *pieces [] = {
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n",
        "data: {broken\n\n",
        NULL
    };
    server_t *srv = s_run_one (pieces, true, &r);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_BACKEND);
    cr_assert_str_eq (r.message, "malformed response from backend");
    cr_assert_eq (r.outcome.upstream_status, 200);
    cr_assert_eq (r.n_partials, 1, "what came before the bad chunk went out");
    s_server_stop (srv);
}

Test (openai_http, error_inside_stream)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    const char *pieces [] = {
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
        "data: {\"error\":{\"message\":\"overloaded\"}}\n\n",
        NULL
    };
    server_t *srv = s_run_one (pieces, true, &r);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_BACKEND);
    cr_assert_not_null (strstr (r.message, "overloaded"), "%s", r.message);
    s_server_stop (srv);
}

Test (openai_http, stream_cut_short)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    const char *pieces [] = {
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
        NULL
    };
    server_t *srv = s_run_one (pieces, true, &r);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_BACKEND);
    cr_assert_not_null (strstr (r.message, "ended before"), "%s", r.message);
    s_server_stop (srv);
}

Test (openai_http, stream_without_done_but_finished)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    /*  Some servers close after the finish_reason chunk, without [DONE]
        and even without the final blank line.                             */
    const char *pieces [] = {
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"length\"}]}",
        NULL
    };
    server_t *srv = s_run_one (pieces, true, &r);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_NONE, "%s", r.message);
    cr_assert_str_eq (r.text, "Hi");
    cr_assert_str_eq (r.finish, "length");
    s_server_stop (srv);
}

Test (openai_http, redirect_not_followed)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    const char *pieces [] = {
        "HTTP/1.1 302 Found\r\nLocation: http://example.com/steal\r\nContent-Length: 0\r\n\r\n", NULL
    };
    server_t *srv = s_run_one (pieces, false, &r);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_BACKEND);
    cr_assert_eq (r.outcome.upstream_status, 302);
    cr_assert_eq (atomic_load (&srv->requests), 1);
    s_server_stop (srv);
}

Test (openai_http, response_too_large)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    size_t big = (16u << 20) + 1024;
    char *response = malloc (big + 256);
    int head = snprintf (response, 256, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\n\r\n", big);
    memset (response + head, 'x', big);
    response [head + big] = 0;
    const char *pieces [] = { response, NULL };
    server_t *srv = s_run_one (pieces, false, &r);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_BACKEND);
    cr_assert_str_eq (r.message, "response from backend too large");
    s_server_stop (srv);
    free (response);
}

Test (openai_http, connection_refused)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    /*  A port nobody listens on: bind one, learn it, close it.            */
    server_t *srv = s_server_start (NULL);
    uint16_t port = srv->port;
    close (srv->listen_fd);
    srv->listen_fd = -1;
    pthread_mutex_destroy (&srv->lock);
    free (srv);
    char url [64];
    s_url (url, sizeof url, port);
    llmq_backend_t *b = s_backend (url, &r, 4);
    llmq_wire_request_t req = s_request (false);
    llmq_call_t call = s_call (&req, 9, 5000);
    llmq_backend_start (b, &call);
    s_pump_until (b, &r.done);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_BACKEND);
    cr_assert_eq (r.outcome.upstream_status, 0);
    cr_assert_not_null (strstr (r.message, "backend: "), "%s", r.message);
    cr_assert_gt (strlen (r.message), strlen ("backend: "));
    llmq_backend_destroy (&b);
}

Test (openai_http, deadline_gives_timeout)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    server_t *srv = s_server_start (NULL);
    srv->hang = true;
    s_server_run (srv);
    char url [64];
    s_url (url, sizeof url, srv->port);
    llmq_backend_t *b = s_backend (url, &r, 4);
    llmq_wire_request_t req = s_request (false);
    llmq_call_t call = s_call (&req, 10, 300);
    uint64_t start = llmq_now_us ();
    llmq_backend_start (b, &call);
    s_pump_until (b, &r.done);
    uint64_t took_ms = (llmq_now_us () - start) / 1000;
    cr_assert_eq (r.outcome.code, LLMQ_ERR_TIMEOUT, "%u %s", r.outcome.code, r.message);
    cr_assert_geq (took_ms, 290);
    cr_assert_lt (took_ms, 3000);
    llmq_backend_destroy (&b);
    s_server_stop (srv);
}

Test (openai_http, cancel_reports_nothing)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    server_t *srv = s_server_start (NULL);
    srv->hang = true;
    s_server_run (srv);
    char url [64];
    s_url (url, sizeof url, srv->port);
    llmq_backend_t *b = s_backend (url, &r, 4);
    llmq_wire_request_t req = s_request (true);
    llmq_call_t call = s_call (&req, 11, 5000);
    llmq_backend_start (b, &call);
    cr_assert_not_null (call.backend_data);
    uint64_t deadline = llmq_now_us () + 5000000;
    while (atomic_load (&srv->requests) == 0) {
        cr_assert_lt (llmq_now_us (), deadline, "request never reached the server");
        s_turn (b, 20);
    }
    llmq_backend_cancel (b, &call);
    cr_assert_null (call.backend_data);
    for (int i = 0; i < 5; i++)
        s_turn (b, 10);
    cr_assert_not (r.done, "a cancelled call reported");
    /*  The backend is usable after a cancel.                              */
    llmq_backend_destroy (&b);
    s_server_stop (srv);
}

Test (openai_http, keep_alive_and_parallel_calls)
{
    static result_t r;
    memset (&r, 0, sizeof r);
    char response [512];
    snprintf (response, sizeof response,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
              strlen (WHOLE_BODY), WHOLE_BODY);
    const char *pieces [] = { response, NULL };
    server_t *srv = s_server_start (pieces);
    s_server_run (srv);
    char url [64];
    s_url (url, sizeof url, srv->port);
    llmq_backend_t *b = s_backend (url, &r, 2);
    llmq_wire_request_t req = s_request (false);
    /*  Sequential calls share one connection.                             */
    for (int i = 0; i < 3; i++) {
        r.done = false;
        llmq_call_t call = s_call (&req, 20 + (uint64_t) i, 5000);
        llmq_backend_start (b, &call);
        s_pump_until (b, &r.done);
        cr_assert_eq (r.outcome.code, LLMQ_ERR_NONE, "%s", r.message);
    }
    cr_assert_eq (atomic_load (&srv->connections), 1, "keep-alive connection reused");
    /*  Parallel calls: all finish, over at most max_connections (2).      */
    r.n_done = 0;
    llmq_call_t calls [4];
    for (int i = 0; i < 4; i++) {
        calls [i] = s_call (&req, 30 + (uint64_t) i, 5000);
        llmq_backend_start (b, &calls [i]);
    }
    uint64_t deadline = llmq_now_us () + 10000000;
    while (r.n_done < 4) {
        cr_assert_lt (llmq_now_us (), deadline, "done %d, requests %d, connections %d",
                      r.n_done, atomic_load (&srv->requests), atomic_load (&srv->connections));
        s_turn (b, 50);
    }
    cr_assert_leq (atomic_load (&srv->connections), 2);
    cr_assert_eq (atomic_load (&srv->requests), 7);
    llmq_backend_destroy (&b);
    s_server_stop (srv);
}

Test (openai_http, bad_url_refused)
{
    result_t r;
    llmq_backend_sink_t sink = { .arg = &r, .partial = s_on_partial, .done = s_on_done };
    llmq_openai_config_t cfg = { .url = "ftp://127.0.0.1/v1", .max_connections = 1 };
    cr_assert_null (llmq_openai_backend_new (&cfg, &sink));
    cfg.url = "not a url at all";
    cr_assert_null (llmq_openai_backend_new (&cfg, &sink));
}

/*  The body is written by hand (openai_body.c): against jansson, which
    wrote it before, for random strings made of the bytes that matter
    (quotes, backslashes, controls, NUL, every UTF-8 lead and continuation
    range): the same strings accepted, and what is accepted reads back
    byte for byte.                                                         */
Test (openai_body, strings_match_jansson)
{
    static const unsigned char alphabet [] = {
        'a', '"', '\\', '/', 0x00, 0x01, '\n', '\t', 0x1f, 0x7f, 0x80, 0x8f, 0x90, 0x9f,
        0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff
    };
    unsigned char text [12];
    uint64_t x = 0x2545f4914f6cdd1dull;
    int accepted = 0, refused = 0;
    for (int round = 0; round < 20000; round++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        size_t len = (size_t) (x % sizeof text);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            text [i] = alphabet [x % sizeof alphabet];
        }
        llmq_chat_msg_t msg = { .role = { "user", 4 }, .content = { (const char *) text, (uint32_t) len } };
        llmq_wire_request_t req = s_request (false);
        req.messages = &msg;
        req.n_messages = 1;
        char err [128];
        char *body = llmq_openai_body (&req, "m", err, sizeof err);
        json_t *ref = json_stringn ((const char *) text, len);
        cr_assert_eq (body != NULL, ref != NULL, "round %d: body %s, jansson %s", round,
                      body ? "accepts" : "refuses", ref ? "accepts" : "refuses");
        if (body) {
            json_t *root = json_loads (body, JSON_ALLOW_NUL, NULL);
            cr_assert_not_null (root, "not JSON: %s", body);
            json_t *content = json_object_get (json_array_get (json_object_get (root, "messages"), 0),
                                               "content");
            cr_assert_eq (json_string_length (content), len);
            cr_assert (len == 0 || memcmp (json_string_value (content), text, len) == 0);
            json_decref (root);
            free (body);
            accepted++;
        }
        else {
            cr_assert_not_null (strstr (err, "UTF-8"), "%s", err);
            refused++;
        }
        json_decref (ref);
    }
    cr_assert_gt (accepted, 1000);
    cr_assert_gt (refused, 1000);
}

Test (openai_body, reals_keep_a_decimal_point)
{
    llmq_wire_request_t req = s_request (false);
    req.has_temperature = true;
    req.temperature = 1;
    req.has_top_p = true;
    req.top_p = 0.1;
    char err [128];
    char *text = llmq_openai_body (&req, "m", err, sizeof err);
    cr_assert_not_null (text);
    cr_assert_not_null (strstr (text, "\"temperature\":1.0,"), "%s", text);
    cr_assert_not_null (strstr (text, "\"top_p\":0.1,"), "%s", text);
    free (text);
}
