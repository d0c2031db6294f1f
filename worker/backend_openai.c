/*  backend_openai.c -- the OpenAI-compatible HTTP backend (libcurl multi).

    All calls of a worker share one CURLM, driven from the worker's own
    zmq_poll loop through the multi "socket interface": curl tells us which
    fds to watch (CURLMOPT_SOCKETFUNCTION) and when to wake up for its
    timeouts (CURLMOPT_TIMERFUNCTION); we tell it what happened with
    curl_multi_socket_action. No thread per request, no select() of its own.

    Connections: the multi handle keeps the connection cache, so keep-alive
    connections to the backend are reused across calls; it opens at most
    max_connections (= slots) to the host. Transfers (easy handle, SSE
    parser and buffers) are kept in a free list after use, so a busy worker
    stops allocating once it has run `slots` calls at once.

    Safety: no redirects are followed (they would carry the API key to
    another host), only http/https are allowed, and a response over
    LLMQ_OPENAI_MAX_RESPONSE bytes is cut off and reported as an error.

    Sockets are kept in a small array searched linearly: there is one per
    connection, so at most a few dozen, and curl reports changes rarely.
*/
#include "backend.h"
#include "openai.h"
#include "sse.h"
#include "llmq_log.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LLMQ_OPENAI_MAX_RESPONSE  (16u << 20)
#define MAX_FINISH_REASON         32
#define MAX_UPSTREAM_ERROR        512

/*  How the body of a response is read, decided at its first byte.        */
typedef enum {
    MODE_UNKNOWN = 0,           /* no body byte yet                        */
    MODE_SSE,                   /* text/event-stream: parsed as it comes   */
    MODE_BUFFER                 /* anything else: kept whole, parsed at end*/
} read_mode_t;

typedef struct transfer transfer_t;
typedef struct openai openai_t;

struct transfer {
    openai_t *owner;            /* the backend                             */
    transfer_t *prev, *next;    /* in the active list or the free list     */
    llmq_call_t *call;          /* the worker's call; NULL when idle       */
    CURL *easy;                 /* reused across calls                     */
    llmq_sse_t *sse;            /* reused across calls                     */
    char *body;                 /* request JSON, read by curl while running*/
    bool stream;                /* the client wants PARTIALs               */
    read_mode_t mode;               /* how the body is read                    */
    char *resp;                 /* MODE_BUFFER: the body so far            */
    size_t resp_len, resp_alloc;
    char *text;                 /* MODE_SSE: the answer so far             */
    size_t text_len, text_alloc;
    char finish_reason [MAX_FINISH_REASON];   /* from the chunks           */
    llmq_usage_t usage;         /* from the usage chunk                    */
    bool saw_done;              /* "data: [DONE]" arrived                  */
    uint64_t first_us;          /* first content delta, 0 before           */
    bool has_retry_after;       /* a Retry-After header came               */
    uint32_t retry_after_ms;
    const char *abort_msg;      /* why a callback stopped the transfer     */
    char upstream_error [MAX_UPSTREAM_ERROR];  /* error sent mid-stream    */
    char errbuf [CURL_ERROR_SIZE];  /* curl's own detail                   */
};

typedef struct {
    curl_socket_t fd;           /* a socket curl wants watched             */
    int what;                   /* CURL_POLL_IN / OUT / INOUT              */
} sock_t;

struct openai {
    llmq_backend_t base;        /* first: we are an llmq_backend_t         */
    CURLM *multi;               /* all transfers; owns the connections     */
    char *url;                  /* {base}/chat/completions                 */
    struct curl_slist *headers_whole;   /* for whole answers               */
    struct curl_slist *headers_stream;  /* for streamed answers            */
    uint32_t max_idle;          /* transfers kept in the free list         */
    uint32_t n_idle;            /* transfers in the free list              */
    transfer_t *idle;           /* free list (singly linked via next)      */
    transfer_t *active;         /* running transfers (doubly linked)       */
    sock_t *socks;              /* fds curl wants watched                  */
    size_t n_socks, socks_alloc;
    bool has_timer;             /* curl asked to be woken                  */
    uint64_t timer_due_us;      /* ...at this time                         */
    bool verbose;               /* log each transfer                       */
};

/* ---- buffers ---------------------------------------------------------- */

static int
s_append (char **buf, size_t *len, size_t *alloc, const char *bytes, size_t n)
{
    if (*len + n + 1 > *alloc) {
        size_t want = *alloc ? *alloc : 1024;
        while (want < *len + n + 1)
            want *= 2;
        char *grown = realloc (*buf, want);
        if (!grown)
            return -1;
        *buf = grown;
        *alloc = want;
    }
    memcpy (*buf + *len, bytes, n);
    *len += n;
    (*buf) [*len] = 0;
    return 0;
}

/* ---- streamed answers ------------------------------------------------- */

/*  Keeps an error the upstream sent inside the stream.                    */
static int
s_stream_error (transfer_t *t, const char *data, size_t len)
{
    if (!llmq_openai_error_message (data, len, t->upstream_error, sizeof t->upstream_error))
        snprintf (t->upstream_error, sizeof t->upstream_error, "%.*s",
                  (int) (len < 200 ? len : 200), data);
    t->abort_msg = "backend sent an error in the stream";
    return -1;
}

/*  One delta of text: kept for the FINAL and sent on as a PARTIAL.        */
static int
s_stream_text (transfer_t *t, const char *text, size_t len)
{
    if (t->text_len + len > LLMQ_MAX_STRING) {
        t->abort_msg = "response from backend too large";
        return -1;
    }
    if (s_append (&t->text, &t->text_len, &t->text_alloc, text, len)) {
        t->abort_msg = "out of memory";
        return -1;
    }
    if (t->first_us == 0)
        t->first_us = llmq_now_us ();
    llmq_backend_sink_t *sink = &t->owner->base.sink;
    sink->partial (sink->arg, t->call, text, len);
    return 0;
}

/*  llmq_sse_fn: one event of the stream.                                  */
static int
s_on_event (void *arg, const char *event, size_t event_len,
            const char *data, size_t data_len)
{
    transfer_t *t = arg;
    if (t->saw_done)
        return 0;                       /* nothing counts after [DONE] */
    if (event_len == 5 && memcmp (event, "error", 5) == 0)
        return s_stream_error (t, data, data_len);
    if (data_len == 6 && memcmp (data, "[DONE]", 6) == 0) {
        t->saw_done = true;
        return 0;
    }
    llmq_openai_reply_t chunk;
    if (llmq_openai_parse_chunk (data, data_len, &chunk)) {
        t->abort_msg = "malformed response from backend";
        return -1;
    }
    int rc = 0;
    if (chunk.error)
        rc = s_stream_error (t, data, data_len);
    else
    if (chunk.text_len > 0)
        rc = s_stream_text (t, chunk.text, chunk.text_len);
    if (chunk.finish_reason)
        snprintf (t->finish_reason, sizeof t->finish_reason, "%s", chunk.finish_reason);
    if (chunk.has_usage)
        t->usage = chunk.usage;
    llmq_openai_reply_clear (&chunk);
    return rc;
}

/* ---- curl callbacks --------------------------------------------------- */

static void
s_choose_mode (transfer_t *t)
{
    long status = 0;
    const char *type = NULL;
    curl_easy_getinfo (t->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo (t->easy, CURLINFO_CONTENT_TYPE, &type);
    bool sse = type && strncasecmp (type, "text/event-stream", 17) == 0;
    /*  A server that ignores "stream" answers whole JSON: buffered, then
        sent as one PARTIAL and the FINAL (see s_complete_whole).          */
    t->mode = t->stream && status >= 200 && status < 300 && sse ? MODE_SSE : MODE_BUFFER;
}

static size_t
s_on_write (char *bytes, size_t size, size_t nmemb, void *arg)
{
    transfer_t *t = arg;
    size_t n = size * nmemb;
    if (t->mode == MODE_UNKNOWN)
        s_choose_mode (t);
    if (t->mode == MODE_SSE) {
        if (llmq_sse_feed (t->sse, bytes, n, s_on_event, t)) {
            if (!t->abort_msg)
                t->abort_msg = "response from backend too large";
            return 0;                   /* curl stops: CURLE_WRITE_ERROR */
        }
        return n;
    }
    if (t->resp_len + n > LLMQ_OPENAI_MAX_RESPONSE) {
        t->abort_msg = "response from backend too large";
        return 0;
    }
    if (s_append (&t->resp, &t->resp_len, &t->resp_alloc, bytes, n)) {
        t->abort_msg = "out of memory";
        return 0;
    }
    return n;
}

/*  Picks Retry-After (seconds or a date) and OpenAI's retry-after-ms.     */
static size_t
s_on_header (char *bytes, size_t size, size_t nmemb, void *arg)
{
    transfer_t *t = arg;
    size_t n = size * nmemb;
    char line [256];
    if (n >= sizeof line)
        return n;                       /* not one we want */
    memcpy (line, bytes, n);
    line [n] = 0;
    line [strcspn (line, "\r\n")] = 0;
    if (strncasecmp (line, "HTTP/", 5) == 0)
        t->has_retry_after = false;     /* a new response (after 100) */
    else
    if (strncasecmp (line, "retry-after-ms:", 15) == 0) {
        char *end;
        unsigned long ms = strtoul (line + 15, &end, 10);
        if (end != line + 15) {
            t->retry_after_ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t) ms;
            t->has_retry_after = true;
        }
    }
    else
    if (strncasecmp (line, "retry-after:", 12) == 0 && !t->has_retry_after)
        t->has_retry_after = llmq_openai_retry_after (line + 12, time (NULL),
                                                      &t->retry_after_ms);
    return n;
}

static int
s_on_socket (CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void) easy;
    (void) socketp;
    openai_t *self = userp;
    size_t i = 0;
    while (i < self->n_socks && self->socks [i].fd != fd)
        i++;
    if (what == CURL_POLL_REMOVE) {
        if (i < self->n_socks)
            self->socks [i] = self->socks [--self->n_socks];
        return 0;
    }
    if (i == self->n_socks) {
        if (self->n_socks == self->socks_alloc) {
            size_t want = self->socks_alloc ? self->socks_alloc * 2 : 16;
            sock_t *grown = realloc (self->socks, want * sizeof *grown);
            if (!grown)
                return -1;              /* curl fails the transfer */
            self->socks = grown;
            self->socks_alloc = want;
        }
        self->n_socks++;
    }
    self->socks [i] = (sock_t) { .fd = fd, .what = what };
    return 0;
}

static int
s_on_timer (CURLM *multi, long timeout_ms, void *userp)
{
    (void) multi;
    openai_t *self = userp;
    self->has_timer = timeout_ms >= 0;
    if (self->has_timer)
        self->timer_due_us = llmq_now_us () + (uint64_t) timeout_ms * 1000;
    return 0;
}

/* ---- transfers -------------------------------------------------------- */

static void
s_transfer_free (transfer_t *t)
{
    curl_easy_cleanup (t->easy);
    llmq_sse_destroy (&t->sse);
    free (t->body);
    free (t->resp);
    free (t->text);
    free (t);
}

/*  A transfer from the free list, or a new one; reset for a call.         */
static transfer_t *
s_transfer_take (openai_t *self)
{
    transfer_t *t = self->idle;
    if (t) {
        self->idle = t->next;
        self->n_idle--;
        curl_easy_reset (t->easy);
    }
    else {
        t = calloc (1, sizeof *t);
        if (!t)
            return NULL;
        t->owner = self;
        t->easy = curl_easy_init ();
        t->sse = llmq_sse_new (LLMQ_MAX_STRING);
        if (!t->easy || !t->sse) {
            s_transfer_free (t);
            return NULL;
        }
    }
    t->prev = t->next = NULL;
    t->mode = MODE_UNKNOWN;
    t->resp_len = t->text_len = 0;
    t->finish_reason [0] = 0;
    t->usage = (llmq_usage_t) { 0, 0 };
    t->saw_done = false;
    t->first_us = 0;
    t->has_retry_after = false;
    t->abort_msg = NULL;
    t->upstream_error [0] = 0;
    t->errbuf [0] = 0;
    llmq_sse_reset (t->sse);
    return t;
}

static void
s_active_unlink (openai_t *self, transfer_t *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        self->active = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

/*  Back to the free list; big buffers are let go so that one huge answer
    does not pin its memory for the life of the worker.                    */
static void
s_transfer_release (openai_t *self, transfer_t *t)
{
    free (t->body);
    t->body = NULL;
    t->call = NULL;
    if (self->n_idle >= self->max_idle) {
        s_transfer_free (t);
        return;
    }
    if (t->resp_alloc > (1u << 20)) {
        free (t->resp);
        t->resp = NULL;
        t->resp_alloc = 0;
    }
    if (t->text_alloc > (1u << 20)) {
        free (t->text);
        t->text = NULL;
        t->text_alloc = 0;
    }
    t->next = self->idle;
    self->idle = t;
    self->n_idle++;
}

/* ---- outcomes --------------------------------------------------------- */

/*  Ends the call: the transfer goes back to the pool first, so the worker
    may reuse the call from inside done().                                 */
static void
s_report (openai_t *self, transfer_t *t, llmq_call_t *call, const llmq_outcome_t *outcome)
{
    call->backend_data = NULL;
    self->base.sink.done (self->base.sink.arg, call, outcome);
    if (t)
        s_transfer_release (self, t);
}

static void
s_fail (openai_t *self, transfer_t *t, llmq_call_t *call, uint32_t code,
        const char *message, uint32_t upstream_status)
{
    llmq_outcome_t outcome = { .code = code, .message = message,
                               .upstream_status = upstream_status,
                               .text = "", .finish_reason = "" };
    if (t && t->has_retry_after && upstream_status == 429) {
        outcome.has_retry_after_ms = true;
        outcome.retry_after_ms = t->retry_after_ms;
    }
    s_report (self, t, call, &outcome);
}

static void
s_succeed (openai_t *self, transfer_t *t, const char *text, size_t text_len,
           const char *finish_reason, llmq_usage_t usage, uint64_t now_us)
{
    llmq_call_t *call = t->call;
    llmq_outcome_t outcome = {
        .code = LLMQ_ERR_NONE,
        .text = text,
        .text_len = text_len,
        .finish_reason = finish_reason && *finish_reason ? finish_reason : "stop",
        .usage = usage,
        .backend_us = now_us - call->start_us,
        .message = ""
    };
    outcome.ttft_us = t->first_us ? t->first_us - call->start_us : outcome.backend_us;
    s_report (self, t, call, &outcome);
}

/*  HTTP status outside 2xx: the upstream's own message when it gave one.  */
static void
s_complete_http_error (openai_t *self, transfer_t *t, long status)
{
    char upstream [MAX_UPSTREAM_ERROR];
    char message [MAX_UPSTREAM_ERROR + 64];
    if (llmq_openai_error_message (t->resp ? t->resp : "", t->resp_len,
                                   upstream, sizeof upstream))
        snprintf (message, sizeof message, "backend: HTTP %ld: %s", status, upstream);
    else
        snprintf (message, sizeof message, "backend: HTTP %ld", status);
    s_fail (self, t, t->call, LLMQ_ERR_BACKEND, message, (uint32_t) status);
}

static void
s_complete_stream (openai_t *self, transfer_t *t, long status, uint64_t now_us)
{
    if (llmq_sse_finish (t->sse, s_on_event, t)) {
        char message [MAX_UPSTREAM_ERROR + 64];
        snprintf (message, sizeof message, "%s%s%s",
                  t->abort_msg ? t->abort_msg : "malformed response from backend",
                  t->upstream_error [0] ? ": " : "", t->upstream_error);
        s_fail (self, t, t->call, LLMQ_ERR_BACKEND, message, (uint32_t) status);
        return;
    }
    if (!t->saw_done && !t->finish_reason [0]) {
        s_fail (self, t, t->call, LLMQ_ERR_BACKEND,
                "backend stream ended before the answer was complete", (uint32_t) status);
        return;
    }
    s_succeed (self, t, t->text ? t->text : "", t->text_len, t->finish_reason,
               t->usage, now_us);
}

static void
s_complete_whole (openai_t *self, transfer_t *t, long status, uint64_t now_us)
{
    llmq_openai_reply_t reply;
    if (llmq_openai_parse_reply (t->resp ? t->resp : "", t->resp_len, &reply)) {
        s_fail (self, t, t->call, LLMQ_ERR_BACKEND, "malformed response from backend",
                (uint32_t) status);
        return;
    }
    if (reply.error) {
        char message [MAX_UPSTREAM_ERROR + 64];
        snprintf (message, sizeof message, "backend: %.*s", MAX_UPSTREAM_ERROR, reply.error);
        s_fail (self, t, t->call, LLMQ_ERR_BACKEND, message, (uint32_t) status);
    }
    else
    if (reply.text_len > LLMQ_MAX_STRING)
        s_fail (self, t, t->call, LLMQ_ERR_BACKEND, "response from backend too large",
                (uint32_t) status);
    else {
        if (t->stream && reply.text_len > 0) {
            /*  Asked for a stream, got a whole answer: one big PARTIAL.   */
            t->first_us = now_us;
            llmq_backend_sink_t *sink = &self->base.sink;
            sink->partial (sink->arg, t->call, reply.text, reply.text_len);
        }
        s_succeed (self, t, reply.text, reply.text_len, reply.finish_reason,
                   reply.usage, now_us);
    }
    llmq_openai_reply_clear (&reply);
}

/*  A transfer curl has finished, removed from the multi handle.           */
static void
s_complete (openai_t *self, transfer_t *t, CURLcode result)
{
    uint64_t now_us = llmq_now_us ();
    long status = 0;
    curl_easy_getinfo (t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (self->verbose)
        llmq_log ('D', "llmq-worker", "backend rid=%llu done status=%ld curl=%d in %llu us",
                  (unsigned long long) t->call->rid, status, (int) result,
                  (unsigned long long) (now_us - t->call->start_us));
    char message [MAX_UPSTREAM_ERROR + CURL_ERROR_SIZE + 64];
    if (t->abort_msg) {
        snprintf (message, sizeof message, "%s%s%s", t->abort_msg,
                  t->upstream_error [0] ? ": " : "", t->upstream_error);
        s_fail (self, t, t->call, LLMQ_ERR_BACKEND, message, (uint32_t) status);
    }
    else
    if (result == CURLE_OPERATION_TIMEDOUT) {
        snprintf (message, sizeof message, "backend call timed out after %llu ms",
                  (unsigned long long) (now_us - t->call->start_us) / 1000);
        s_fail (self, t, t->call, LLMQ_ERR_TIMEOUT, message, 0);
    }
    else
    if (result != CURLE_OK) {
        /*  curl's error buffer has the detail ("Failed to connect to ...
            port 1 after 0 ms: Connection refused"); its absence, the code. */
        snprintf (message, sizeof message, "backend: %s",
                  t->errbuf [0] ? t->errbuf : curl_easy_strerror (result));
        s_fail (self, t, t->call, LLMQ_ERR_BACKEND, message, 0);
    }
    else
    if (status < 200 || status > 299)
        s_complete_http_error (self, t, status);
    else
    if (t->mode == MODE_SSE)
        s_complete_stream (self, t, status, now_us);
    else
        s_complete_whole (self, t, status, now_us);
}

static void
s_check_done (openai_t *self)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read (self->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo (easy, CURLINFO_PRIVATE, &priv);
        transfer_t *t = (transfer_t *) priv;
        curl_multi_remove_handle (self->multi, easy);
        s_active_unlink (self, t);
        s_complete (self, t, result);
    }
}

/* ---- backend operations ----------------------------------------------- */

static int
s_setup (openai_t *self, transfer_t *t, uint64_t timeout_ms)
{
    CURL *e = t->easy;
    CURLcode rc = CURLE_OK;
#define SET(opt, val) if (rc == CURLE_OK) rc = curl_easy_setopt (e, opt, val)
    SET (CURLOPT_URL, self->url);
    SET (CURLOPT_POSTFIELDS, t->body);
    SET (CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen (t->body));
    SET (CURLOPT_HTTPHEADER, t->stream ? self->headers_stream : self->headers_whole);
    SET (CURLOPT_WRITEFUNCTION, s_on_write);
    SET (CURLOPT_WRITEDATA, t);
    SET (CURLOPT_HEADERFUNCTION, s_on_header);
    SET (CURLOPT_HEADERDATA, t);
    SET (CURLOPT_PRIVATE, t);
    SET (CURLOPT_ERRORBUFFER, t->errbuf);
    SET (CURLOPT_NOSIGNAL, 1L);
    SET (CURLOPT_TIMEOUT_MS, (long) timeout_ms);
    SET (CURLOPT_FOLLOWLOCATION, 0L);
    SET (CURLOPT_PROTOCOLS_STR, "http,https");
    SET (CURLOPT_TCP_KEEPALIVE, 1L);
    SET (CURLOPT_TCP_NODELAY, 1L);
    SET (CURLOPT_USERAGENT, "llmq-worker/" LLMQ_VERSION_STRING);
#undef SET
    return rc == CURLE_OK ? 0 : -1;
}

static void
s_start (llmq_backend_t *base, llmq_call_t *call)
{
    openai_t *self = (openai_t *) base;
    uint64_t now_us = llmq_now_us ();
    if (now_us >= call->deadline_us) {
        s_fail (self, NULL, call, LLMQ_ERR_TIMEOUT, "deadline passed before the backend call", 0);
        return;
    }
    transfer_t *t = s_transfer_take (self);
    if (!t) {
        s_fail (self, NULL, call, LLMQ_ERR_INTERNAL, "out of memory", 0);
        return;
    }
    t->call = call;
    t->stream = call->req->stream;
    char err [128];
    t->body = llmq_openai_body (call->req, call->upstream_model, err, sizeof err);
    if (!t->body) {
        bool nomem = strcmp (err, "out of memory") == 0;
        s_fail (self, t, call, nomem ? LLMQ_ERR_INTERNAL : LLMQ_ERR_BAD_REQUEST, err, 0);
        return;
    }
    uint64_t timeout_ms = (call->deadline_us - now_us + 999) / 1000;
    if (s_setup (self, t, timeout_ms)
    ||  curl_multi_add_handle (self->multi, t->easy) != CURLM_OK) {
        s_fail (self, t, call, LLMQ_ERR_INTERNAL, "could not set up the backend call", 0);
        return;
    }
    t->next = self->active;
    if (self->active)
        self->active->prev = t;
    self->active = t;
    call->backend_data = t;
    if (self->verbose)
        llmq_log ('D', "llmq-worker", "backend rid=%llu POST %s model=%s stream=%d",
                  (unsigned long long) call->rid, self->url, call->upstream_model,
                  (int) t->stream);
}

static void
s_cancel (llmq_backend_t *base, llmq_call_t *call)
{
    openai_t *self = (openai_t *) base;
    transfer_t *t = call->backend_data;
    if (!t)
        return;
    curl_multi_remove_handle (self->multi, t->easy);
    s_active_unlink (self, t);
    call->backend_data = NULL;
    s_transfer_release (self, t);
}

static long
s_timeout_ms (llmq_backend_t *base)
{
    openai_t *self = (openai_t *) base;
    if (!self->has_timer)
        return -1;
    uint64_t now_us = llmq_now_us ();
    if (self->timer_due_us <= now_us)
        return 0;
    return (long) ((self->timer_due_us - now_us + 999) / 1000);
}

static size_t
s_fds (llmq_backend_t *base, zmq_pollitem_t *items, size_t max)
{
    openai_t *self = (openai_t *) base;
    for (size_t i = 0; i < self->n_socks && i < max; i++) {
        int what = self->socks [i].what;
        items [i] = (zmq_pollitem_t) {
            .socket = NULL,
            .fd = self->socks [i].fd,
            .events = (short) (((what & CURL_POLL_IN) ? ZMQ_POLLIN : 0)
                             | ((what & CURL_POLL_OUT) ? ZMQ_POLLOUT : 0))
        };
    }
    return self->n_socks;
}

static void
s_run (llmq_backend_t *base, const zmq_pollitem_t *items, size_t n)
{
    openai_t *self = (openai_t *) base;
    int running;
    for (size_t i = 0; i < n; i++) {
        short ev = items [i].revents;
        if (!ev)
            continue;
        int mask = ((ev & ZMQ_POLLIN) ? CURL_CSELECT_IN : 0)
                 | ((ev & ZMQ_POLLOUT) ? CURL_CSELECT_OUT : 0)
                 | ((ev & ZMQ_POLLERR) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action (self->multi, items [i].fd, mask, &running);
    }
    if (self->has_timer && self->timer_due_us <= llmq_now_us ()) {
        self->has_timer = false;        /* curl sets a new one if it wants */
        curl_multi_socket_action (self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    s_check_done (self);
}

static void
s_destroy (llmq_backend_t *base)
{
    openai_t *self = (openai_t *) base;
    while (self->active)
        s_cancel (base, self->active->call);
    while (self->idle) {
        transfer_t *t = self->idle;
        self->idle = t->next;
        s_transfer_free (t);
    }
    curl_multi_cleanup (self->multi);
    curl_slist_free_all (self->headers_whole);
    curl_slist_free_all (self->headers_stream);
    free (self->socks);
    free (self->url);
    free (self);
}

static const llmq_backend_ops_t s_openai_ops = {
    .name = "openai",
    .start = s_start,
    .cancel = s_cancel,
    .timeout_ms = s_timeout_ms,
    .fds = s_fds,
    .run = s_run,
    .destroy = s_destroy
};

/* ---- construction ----------------------------------------------------- */

/*  {base}/chat/completions, after checking base is an http(s) URL.        */
static char *
s_make_url (const char *base)
{
    size_t len = strlen (base);
    while (len > 0 && base [len - 1] == '/')
        len--;
    char *url = malloc (len + sizeof "/chat/completions");
    if (!url)
        return NULL;
    memcpy (url, base, len);
    strcpy (url + len, "/chat/completions");
    CURLU *u = curl_url ();
    char *scheme = NULL;
    bool ok = u && curl_url_set (u, CURLUPART_URL, url, 0) == CURLUE_OK
           && curl_url_get (u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
           && (strcmp (scheme, "http") == 0 || strcmp (scheme, "https") == 0);
    curl_free (scheme);
    curl_url_cleanup (u);
    if (!ok) {
        free (url);
        return NULL;
    }
    return url;
}

/*  The headers of every call. The key only ever lives here and in curl's
    copy of the request; it is never logged.                               */
static struct curl_slist *
s_make_headers (const char *api_key, bool stream)
{
    struct curl_slist *list = NULL, *next;
    const char *fixed [] = {
        "Content-Type: application/json",
        stream ? "Accept: text/event-stream" : "Accept: application/json",
        "Expect:"               /* no 100-continue round trip on big bodies */
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed [0]; i++) {
        if (!(next = curl_slist_append (list, fixed [i])))
            goto fail;
        list = next;
    }
    if (api_key && *api_key) {
        size_t size = strlen (api_key) + sizeof "Authorization: Bearer ";
        char *auth = malloc (size);
        if (!auth)
            goto fail;
        snprintf (auth, size, "Authorization: Bearer %s", api_key);
        next = curl_slist_append (list, auth);
        memset (auth, 0, size);
        free (auth);
        if (!next)
            goto fail;
        list = next;
    }
    return list;
fail:
    curl_slist_free_all (list);
    return NULL;
}

llmq_backend_t *
llmq_openai_backend_new (const llmq_openai_config_t *config, const llmq_backend_sink_t *sink)
{
    openai_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->base.ops = &s_openai_ops;
    self->base.sink = *sink;
    self->verbose = config->verbose;
    self->max_idle = config->max_connections ? config->max_connections : 1;
    self->url = config->url ? s_make_url (config->url) : NULL;
    self->headers_whole = s_make_headers (config->api_key, false);
    self->headers_stream = s_make_headers (config->api_key, true);
    self->multi = curl_multi_init ();
    if (!self->url || !self->headers_whole || !self->headers_stream || !self->multi) {
        s_destroy (&self->base);
        return NULL;
    }
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETFUNCTION, s_on_socket);
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERFUNCTION, s_on_timer);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERDATA, self);
    curl_multi_setopt (self->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) self->max_idle);
    curl_multi_setopt (self->multi, CURLMOPT_MAXCONNECTS, (long) self->max_idle);
    return &self->base;
}
