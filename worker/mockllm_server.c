/*  mockllm_server.c -- see mockllm_server.h.

    Request life cycle (libmicrohttpd calls s_handler repeatedly):
      1. first call: a request_t is attached to the request;
      2. body calls: the body is collected (up to MOCKLLM_MAX_BODY);
      3. final call: the route answers, or, for a delayed whole answer or a
         hang, suspends the connection through mockllm_sched and returns;
      4. after a resume libmicrohttpd calls the handler once more and the
         request's state says what to do (send the completion, or close).
    A streamed answer is a callback response whose reader suspends the
    connection until the next token is due, so tokens leave the server one
    by one at the configured pace.

    /stats counters: requests (every HTTP request), chat_requests (POSTs to
    /v1/chat/completions, whatever became of them), bad_requests (400/413),
    errors_injected, hangs_injected, malformed_injected, completions (whole
    answers sent), streams (SSE answers started), completion_tokens,
    not_found, waiting (connections suspended right now), connections.
*/
#include "mockllm_server.h"

#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "llmq_log.h"
#include "llmq_proto.h"
#include "mockllm_chat.h"
#include "mockllm_sched.h"

#define WHO "llmq-mockllm"
#define MAX_SEEN_MODELS 64          /* /v1/models lists at most this many  */
#define STREAM_BLOCK (32u << 10)    /* libmicrohttpd's buffer for a stream */

/*  Counters behind /stats; relaxed atomics, any pool thread adds.  */
typedef struct {
    atomic_uint_fast64_t requests;          /* every HTTP request          */
    atomic_uint_fast64_t chat_requests;     /* POST /v1/chat/completions   */
    atomic_uint_fast64_t bad_requests;      /* answered 400 or 413         */
    atomic_uint_fast64_t errors_injected;   /* answered error_status       */
    atomic_uint_fast64_t hangs_injected;    /* never answered              */
    atomic_uint_fast64_t malformed_injected;/* answered a broken body      */
    atomic_uint_fast64_t completions;       /* whole answers sent          */
    atomic_uint_fast64_t streams;           /* SSE answers started         */
    atomic_uint_fast64_t completion_tokens; /* tokens in all answers       */
    atomic_uint_fast64_t not_found;         /* 404 and 405                 */
} stats_t;

struct mockllm_server {
    mockllm_config_t config;        /* copy of the caller's configuration  */
    struct MHD_Daemon *daemon;      /* the HTTP server                     */
    mockllm_sched_t *sched;         /* wakes suspended connections         */
    uint16_t port;                  /* port actually bound                 */
    atomic_bool running;            /* start-up done: quiet MHD warnings   */
    stats_t stats;                  /* /stats counters                     */
    atomic_uint_fast64_t seq;       /* chat request sequence (ids, PRNG)   */
    pthread_mutex_t models_lock;    /* guards models and n_models          */
    char *models [MAX_SEEN_MODELS]; /* models requested so far             */
    size_t n_models;                /* entries in models                   */
};

typedef enum {
    REQ_READING = 0,                /* collecting the body                 */
    REQ_DELAYED,                    /* suspended until the answer is due   */
    REQ_HUNG                        /* suspended until the client leaves   */
} req_state_t;

/*  Per-request state, libmicrohttpd's req_cls.  */
typedef struct {
    req_state_t state;              /* where the request is                */
    char *body;                     /* request body collected so far       */
    size_t len;                     /* bytes in body                       */
    size_t alloc;                   /* bytes allocated                     */
    bool too_large;                 /* body over MOCKLLM_MAX_BODY          */
    mockllm_chat_t *chat;           /* parsed request of a delayed answer  */
    atomic_bool gone;               /* a hung client went away             */
} request_t;

/*  The state of a streamed answer, owned by its MHD response.  */
typedef struct {
    mockllm_server_t *server;       /* for the scheduler                   */
    struct MHD_Connection *conn;    /* to suspend between tokens           */
    mockllm_chat_t *chat;           /* the request and its answer          */
    uint32_t next;                  /* next token to send                  */
    size_t cursor;                  /* position of that token in the text  */
    uint64_t due_us;                /* when the next token is due          */
    char *pending;                  /* events made but not yet handed out  */
    size_t pending_len;             /* bytes in pending                    */
    size_t pending_off;             /* bytes of pending already handed out */
    bool done;                      /* [DONE] is in pending                */
} stream_t;

/*  What one handler call is about; keeps parameter lists short.  */
typedef struct {
    mockllm_server_t *server;       /* the server                          */
    struct MHD_Connection *conn;    /* the connection                      */
    const char *method;             /* "GET", "POST", ...                  */
    const char *url;                /* path                                */
    request_t *req;                 /* our per-request state               */
} call_t;

static const char s_json [] = "application/json";

/* ---------------------------------------------------------------------- */
/*  Replies                                                                */

/*  Queues status with body (taken: freed with free(); constant bodies are
    strdup'ed so every body is owned the same way). A NULL body means we
    ran out of memory making it: the connection is closed instead.  */
static enum MHD_Result
s_reply (call_t *call, unsigned status, char *body, const char *type,
         const char *retry_after)
{
    if (call->server->config.verbose)
        llmq_log ('D', WHO, "%s %s -> %u", call->method, call->url, status);
    if (!body)
        return MHD_NO;
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (body), body, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free (body);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (retry_after)
        MHD_add_response_header (response, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    enum MHD_Result rc = MHD_queue_response (call->conn, status, response);
    MHD_destroy_response (response);
    return rc;
}

static enum MHD_Result
s_reply_error (call_t *call, unsigned status, const char *message, const char *type,
               const char *param, const char *code)
{
    return s_reply (call, status, mockllm_error_json (message, type, param, code),
                    s_json, NULL);
}

/* ---------------------------------------------------------------------- */
/*  GET endpoints                                                          */

static char *
s_dump (json_t *doc)
{
    char *text = doc ? json_dumps (doc, JSON_COMPACT) : NULL;
    json_decref (doc);
    return text;
}

static json_t *
s_model_entry (const char *id)
{
    return json_pack ("{s:s, s:s, s:i, s:s}", "id", id, "object", "model",
                      "created", 0, "owned_by", "llmq");
}

static enum MHD_Result
s_get_models (call_t *call)
{
    mockllm_server_t *server = call->server;
    json_t *data = json_array ();
    json_array_append_new (data, s_model_entry ("mock"));
    pthread_mutex_lock (&server->models_lock);
    for (size_t index = 0; index < server->n_models; index++)
        if (strcmp (server->models [index], "mock") != 0)
            json_array_append_new (data, s_model_entry (server->models [index]));
    pthread_mutex_unlock (&server->models_lock);
    json_t *doc = json_pack ("{s:s, s:o}", "object", "list", "data", data);
    return s_reply (call, MHD_HTTP_OK, s_dump (doc), s_json, NULL);
}

static enum MHD_Result
s_get_stats (call_t *call)
{
    mockllm_server_t *server = call->server;
    stats_t *stats = &server->stats;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (
        server->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    json_t *doc = json_pack (
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "requests", (json_int_t) atomic_load (&stats->requests),
        "chat_requests", (json_int_t) atomic_load (&stats->chat_requests),
        "bad_requests", (json_int_t) atomic_load (&stats->bad_requests),
        "errors_injected", (json_int_t) atomic_load (&stats->errors_injected),
        "hangs_injected", (json_int_t) atomic_load (&stats->hangs_injected),
        "malformed_injected", (json_int_t) atomic_load (&stats->malformed_injected),
        "completions", (json_int_t) atomic_load (&stats->completions),
        "streams", (json_int_t) atomic_load (&stats->streams),
        "completion_tokens", (json_int_t) atomic_load (&stats->completion_tokens),
        "not_found", (json_int_t) atomic_load (&stats->not_found),
        "waiting", (json_int_t) mockllm_sched_waiting (server->sched),
        "connections", (json_int_t) (info ? info->num_connections : 0));
    return s_reply (call, MHD_HTTP_OK, s_dump (doc), s_json, NULL);
}

/* ---------------------------------------------------------------------- */
/*  Fault injection                                                        */

typedef enum { FAULT_NONE, FAULT_ERROR, FAULT_HANG, FAULT_MALFORMED } fault_t;

/*  splitmix64 of (seed, seq): a reproducible uniform draw in [0, 1) per
    request, with no PRNG state shared between the pool threads.  */
static double
s_uniform (uint64_t seed, uint64_t seq)
{
    uint64_t z = seed + (seq + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double) (z >> 11) * 0x1.0p-53;
}

static fault_t
s_draw_fault (const mockllm_config_t *config, uint64_t seq)
{
    double u = s_uniform (config->seed, seq);
    if (u < config->error_rate)
        return FAULT_ERROR;
    if (u < config->error_rate + config->hang_rate)
        return FAULT_HANG;
    if (u < config->error_rate + config->hang_rate + config->malformed_rate)
        return FAULT_MALFORMED;
    return FAULT_NONE;
}

static enum MHD_Result
s_inject_error (call_t *call)
{
    unsigned status = call->server->config.error_status;
    atomic_fetch_add (&call->server->stats.errors_injected, 1);
    if (status == MHD_HTTP_TOO_MANY_REQUESTS)
        return s_reply (call, status, mockllm_error_json (
            "Rate limit reached for requests (injected by llmq-mockllm)",
            "requests", NULL, "rate_limit_exceeded"), s_json, "1");
    if (status >= 500)
        return s_reply_error (call, status, "The server had an error while processing "
                              "your request (injected by llmq-mockllm)",
                              "server_error", NULL, NULL);
    return s_reply_error (call, status, "Injected error (llmq-mockllm)",
                          "invalid_request_error", NULL, NULL);
}

/*  200 with a body a client cannot parse: JSON cut in the middle, or a
    stream whose event is cut the same way.  */
static enum MHD_Result
s_inject_malformed (call_t *call, bool stream)
{
    atomic_fetch_add (&call->server->stats.malformed_injected, 1);
    if (stream)
        return s_reply (call, MHD_HTTP_OK, strdup (
            "data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\","
            "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Mock\n\n"
            "data: [DONE]\n\n"), "text/event-stream", NULL);
    return s_reply (call, MHD_HTTP_OK, strdup (
        "{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion\",\"choices\":"
        "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Mock answ"),
        s_json, NULL);
}

/*  Accepts and never answers: the connection stays suspended until the
    client closes it (or the server stops), then it is closed.  */
static enum MHD_Result
s_inject_hang (call_t *call)
{
    atomic_fetch_add (&call->server->stats.hangs_injected, 1);
    const union MHD_ConnectionInfo *info = MHD_get_connection_info (
        call->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    call->req->state = REQ_HUNG;
    if (!info || mockllm_sched_hang (call->server->sched, call->conn,
                                     info->connect_fd, &call->req->gone))
        return MHD_NO;
    return MHD_YES;
}

/* ---------------------------------------------------------------------- */
/*  Chat answers                                                           */

static enum MHD_Result
s_send_completion (call_t *call)
{
    mockllm_chat_t *chat = call->req->chat;
    atomic_fetch_add (&call->server->stats.completions, 1);
    atomic_fetch_add (&call->server->stats.completion_tokens, mockllm_chat_tokens (chat));
    return s_reply (call, MHD_HTTP_OK, mockllm_chat_completion (chat), s_json, NULL);
}

/*  The whole answer arrives when the last token would have:
    ttft + (tokens - 1) * tpot after the request.  */
static enum MHD_Result
s_answer_whole (call_t *call)
{
    const mockllm_config_t *config = &call->server->config;
    uint64_t delay_ms = config->ttft_ms
        + (uint64_t) (mockllm_chat_tokens (call->req->chat) - 1) * config->tpot_ms;
    if (delay_ms == 0)
        return s_send_completion (call);
    call->req->state = REQ_DELAYED;
    if (mockllm_sched_wait (call->server->sched, call->conn,
                            llmq_now_us () + delay_ms * 1000))
        return MHD_NO;          /* stopping: close rather than answer early */
    return MHD_YES;
}

/*  Makes the events of every token that is due, while they fit in max.  */
static int
s_stream_produce (stream_t *stream, size_t max)
{
    const mockllm_config_t *config = &stream->server->config;
    uint64_t now = llmq_now_us ();
    stream->pending_len = stream->pending_off = 0;
    while (!stream->done && stream->due_us <= now && stream->pending_len < max) {
        char *events = mockllm_chat_events (stream->chat, stream->next, &stream->cursor);
        if (!events)
            return -1;
        size_t len = strlen (events);
        char *pending = (char *) realloc (stream->pending, stream->pending_len + len);
        if (!pending) {
            free (events);
            return -1;
        }
        memcpy (pending + stream->pending_len, events, len);
        free (events);
        stream->pending = pending;
        stream->pending_len += len;
        stream->due_us += (uint64_t) config->tpot_ms * 1000;
        stream->done = ++stream->next == mockllm_chat_tokens (stream->chat);
    }
    return 0;
}

/*  libmicrohttpd's content reader for an SSE answer.  */
static ssize_t
s_stream_read (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    stream_t *stream = (stream_t *) cls;
    if (stream->pending_off == stream->pending_len) {
        if (stream->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (s_stream_produce (stream, max))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (stream->pending_len == 0) {
            /*  Next token not due yet: sleep without holding a thread.  */
            if (mockllm_sched_wait (stream->server->sched, stream->conn, stream->due_us))
                return MHD_CONTENT_READER_END_WITH_ERROR;
            return 0;
        }
    }
    size_t len = stream->pending_len - stream->pending_off;
    if (len > max)
        len = max;
    memcpy (buf, stream->pending + stream->pending_off, len);
    stream->pending_off += len;
    return (ssize_t) len;
}

static void
s_stream_free (void *cls)
{
    stream_t *stream = (stream_t *) cls;
    mockllm_chat_destroy (&stream->chat);
    free (stream->pending);
    free (stream);
}

static enum MHD_Result
s_answer_stream (call_t *call)
{
    stream_t *stream = (stream_t *) calloc (1, sizeof *stream);
    if (!stream)
        return MHD_NO;
    stream->server = call->server;
    stream->conn = call->conn;
    stream->chat = call->req->chat;
    call->req->chat = NULL;
    stream->due_us = llmq_now_us () + (uint64_t) call->server->config.ttft_ms * 1000;
    struct MHD_Response *response = MHD_create_response_from_callback (
        MHD_SIZE_UNKNOWN, STREAM_BLOCK, s_stream_read, stream, s_stream_free);
    if (!response) {
        s_stream_free (stream);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    atomic_fetch_add (&call->server->stats.streams, 1);
    atomic_fetch_add (&call->server->stats.completion_tokens, mockllm_chat_tokens (stream->chat));
    if (call->server->config.verbose)
        llmq_log ('D', WHO, "%s %s -> 200 (stream)", call->method, call->url);
    enum MHD_Result rc = MHD_queue_response (call->conn, MHD_HTTP_OK, response);
    MHD_destroy_response (response);
    return rc;
}

/*  Adds model to the list /v1/models reports.  */
static void
s_note_model (mockllm_server_t *server, const char *model)
{
    pthread_mutex_lock (&server->models_lock);
    bool known = false;
    for (size_t index = 0; index < server->n_models && !known; index++)
        known = strcmp (server->models [index], model) == 0;
    if (!known && server->n_models < MAX_SEEN_MODELS) {
        char *copy = strdup (model);
        if (copy)
            server->models [server->n_models++] = copy;
    }
    pthread_mutex_unlock (&server->models_lock);
}

static enum MHD_Result
s_post_chat (call_t *call)
{
    mockllm_server_t *server = call->server;
    request_t *req = call->req;
    atomic_fetch_add (&server->stats.chat_requests, 1);
    if (req->too_large) {
        atomic_fetch_add (&server->stats.bad_requests, 1);
        return s_reply_error (call, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large",
                              "invalid_request_error", NULL, NULL);
    }
    uint64_t seq = atomic_fetch_add (&server->seq, 1);
    mockllm_chat_error_t err;
    req->chat = mockllm_chat_new (req->body, req->len, server->config.tokens, seq, &err);
    free (req->body);
    req->body = NULL;
    if (!req->chat) {
        atomic_fetch_add (&server->stats.bad_requests, 1);
        return s_reply_error (call, MHD_HTTP_BAD_REQUEST, err.message,
                              "invalid_request_error", err.param, NULL);
    }
    s_note_model (server, mockllm_chat_model (req->chat));
    switch (s_draw_fault (&server->config, seq)) {
        case FAULT_ERROR:
            return s_inject_error (call);
        case FAULT_HANG:
            return s_inject_hang (call);
        case FAULT_MALFORMED:
            return s_inject_malformed (call, mockllm_chat_stream (req->chat));
        case FAULT_NONE:
            break;
    }
    return mockllm_chat_stream (req->chat) ? s_answer_stream (call) : s_answer_whole (call);
}

/* ---------------------------------------------------------------------- */
/*  Routing and the libmicrohttpd callbacks                                */

static enum MHD_Result
s_route (call_t *call)
{
    bool get = strcmp (call->method, MHD_HTTP_METHOD_GET) == 0;
    const char *url = call->url;
    if (strcmp (url, "/v1/chat/completions") == 0 && strcmp (call->method, "POST") == 0)
        return s_post_chat (call);
    if (get && strcmp (url, "/v1/models") == 0)
        return s_get_models (call);
    if (get && strcmp (url, "/health") == 0)
        return s_reply (call, MHD_HTTP_OK, strdup ("{\"status\":\"ok\"}"), s_json, NULL);
    if (get && strcmp (url, "/stats") == 0)
        return s_get_stats (call);
    atomic_fetch_add (&call->server->stats.not_found, 1);
    bool known = strcmp (url, "/v1/chat/completions") == 0 || strcmp (url, "/v1/models") == 0
              || strcmp (url, "/health") == 0 || strcmp (url, "/stats") == 0;
    if (known)
        return s_reply_error (call, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed",
                              "invalid_request_error", NULL, "method_not_allowed");
    return s_reply_error (call, MHD_HTTP_NOT_FOUND, "Unknown request URL",
                          "invalid_request_error", NULL, "unknown_url");
}

/*  Appends a piece of the body; past the limit the rest is dropped and the
    request answered 413.  */
static void
s_collect_body (request_t *req, const char *data, size_t size)
{
    if (req->too_large || req->len + size > MOCKLLM_MAX_BODY) {
        req->too_large = true;
        return;
    }
    if (req->len + size > req->alloc) {
        size_t alloc = req->alloc ? req->alloc : 1024;
        while (alloc < req->len + size)
            alloc *= 2;
        char *body = (char *) realloc (req->body, alloc);
        if (!body) {
            req->too_large = true;      /* refuse it rather than crash */
            return;
        }
        req->body = body;
        req->alloc = alloc;
    }
    memcpy (req->body + req->len, data, size);
    req->len += size;
}

static enum MHD_Result
s_handler (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size,
           void **req_cls)
{
    (void) version;
    mockllm_server_t *server = (mockllm_server_t *) cls;
    request_t *req = (request_t *) *req_cls;
    if (!req) {
        if (!(req = (request_t *) calloc (1, sizeof *req)))
            return MHD_NO;
        *req_cls = req;
        atomic_fetch_add (&server->stats.requests, 1);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        s_collect_body (req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    call_t call = { server, conn, method, url, req };
    if (req->state == REQ_DELAYED)
        return s_send_completion (&call);
    if (req->state == REQ_HUNG) {
        if (server->config.verbose)
            llmq_log ('D', WHO, "%s %s: hung request closed (%s)", method, url,
                      atomic_load (&req->gone) ? "client left" : "stopping");
        return MHD_NO;
    }
    return s_route (&call);
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **req_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void) cls; (void) conn; (void) toe;
    request_t *req = (request_t *) *req_cls;
    if (!req)
        return;
    free (req->body);
    mockllm_chat_destroy (&req->chat);
    free (req);
    *req_cls = NULL;
}

/*  libmicrohttpd's warnings matter at start-up (why a bind failed); once
    running they are mostly clients hanging up, so only -v shows them.  */
static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    mockllm_server_t *self = (mockllm_server_t *) cls;
    if (atomic_load (&self->running) && !self->config.verbose)
        return;
    char line [512];
    vsnprintf (line, sizeof line, fmt, ap);
    line [strcspn (line, "\n")] = '\0';
    llmq_log ('W', WHO, "microhttpd: %s", line);
}

/* ---------------------------------------------------------------------- */
/*  Life cycle                                                             */

/*  Resolves host into addr with port; 0 or -1 (logged).  */
static int
s_resolve (const char *host, uint16_t port, struct sockaddr_storage *addr, bool *ipv6)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE };
    struct addrinfo *found = NULL;
    int rc = getaddrinfo (host, NULL, &hints, &found);
    if (rc != 0 || !found) {
        llmq_log ('E', WHO, "cannot resolve listen host '%s': %s", host, gai_strerror (rc));
        return -1;
    }
    memcpy (addr, found->ai_addr, found->ai_addrlen);
    *ipv6 = found->ai_family == AF_INET6;
    if (*ipv6)
        ((struct sockaddr_in6 *) addr)->sin6_port = htons (port);
    else
        ((struct sockaddr_in *) addr)->sin_port = htons (port);
    freeaddrinfo (found);
    return 0;
}

static int
s_start_daemon (mockllm_server_t *self)
{
    struct sockaddr_storage addr;
    bool ipv6;
    if (s_resolve (self->config.host, self->config.port, &addr, &ipv6))
        return -1;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO
                   | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG
                   | (ipv6 ? MHD_USE_IPv6 : 0);
    self->daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_handler, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,   /* first, or MHD says so */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_THREAD_POOL_SIZE, self->config.threads,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_CONNECTION_LIMIT, 16384u,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u,
        MHD_OPTION_END);
    if (!self->daemon) {
        llmq_log ('E', WHO, "cannot listen on %s:%u", self->config.host, self->config.port);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon,
                                                            MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : self->config.port;
    atomic_store (&self->running, true);
    return 0;
}

mockllm_server_t *
mockllm_server_new (const mockllm_config_t *config)
{
    mockllm_server_t *self = (mockllm_server_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    pthread_mutex_init (&self->models_lock, NULL);
    self->sched = mockllm_sched_new ();
    if (!self->sched || s_start_daemon (self))
        mockllm_server_destroy (&self);
    return self;
}

void
mockllm_server_destroy (mockllm_server_t **self_p)
{
    mockllm_server_t *self = *self_p;
    if (!self)
        return;
    /*  Resume every suspended connection first: libmicrohttpd must not be
        stopped while any is suspended.  */
    if (self->sched)
        mockllm_sched_stop (self->sched);
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    mockllm_sched_destroy (&self->sched);
    for (size_t index = 0; index < self->n_models; index++)
        free (self->models [index]);
    pthread_mutex_destroy (&self->models_lock);
    free (self);
    *self_p = NULL;
}

uint16_t
mockllm_server_port (const mockllm_server_t *self)
{
    return self->port;
}
