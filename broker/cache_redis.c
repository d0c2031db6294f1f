/*  cache_redis.c -- Redis tier actor thread; see cache_redis.h.  */
#include "cache_redis.h"
#include "llmq_log.h"
#include "llmq_proto.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define REDIS_LOG    "llmq-broker"
#define BATCH_MAX    256            /* jobs pipelined in one round trip    */
#define RETRY_US     1000000        /* reconnect at most once a second     */
#define KEY_PREFIX   "llmq:cache:1:"

enum { OP_GET = 1, OP_SET, OP_STOP };

/*  Frames between the broker and the thread (one process: raw structs).   */
typedef struct {
    uint8_t op;                     /* OP_*                                */
    uint32_t ttl_ms;                /* SET                                 */
    uint64_t token;                 /* GET: echoed in the reply            */
    cache_key_t key;
} job_t;                            /* followed by the value for SET       */

typedef struct {
    uint64_t token;
    uint32_t status;                /* cache_redis_status_t                */
    uint8_t is_get;
} answer_t;                         /* followed by the value for a HIT     */

struct cache_redis {
    void *pipe;                     /* broker's end (PAIR)                 */
    void *thread_pipe;              /* thread's end, used only there       */
    void *thread;                   /* the actor (zmq_threadstart)         */
    cache_redis_url_t url;          /* where Redis is                      */
    uint32_t timeout_ms;            /* connect and command timeout         */
    zmq_msg_t last;                 /* reply the caller is looking at      */
    /*  Thread only.                                                       */
    redisContext *redis;            /* NULL while not connected            */
    bool down_logged;               /* "down" logged since the last "up"   */
    uint64_t next_try_us;           /* earliest reconnect                  */
};

int
cache_redis_parse_url (const char *url, cache_redis_url_t *out)
{
    memset (out, 0, sizeof *out);
    out->port = 6379;
    if (strncmp (url, "unix://", 7) == 0) {
        if (strlen (url + 7) == 0 || strlen (url + 7) >= sizeof out->path)
            return -1;
        strcpy (out->path, url + 7);
        return 0;
    }
    if (strncmp (url, "redis://", 8) != 0)
        return -1;
    const char *p = url + 8;
    const char *at = strchr (p, '@');
    if (at) {
        const char *colon = memchr (p, ':', (size_t) (at - p));
        const char *pass = colon ? colon + 1 : p;
        size_t len = (size_t) (at - pass);
        if (len >= sizeof out->password)
            return -1;
        memcpy (out->password, pass, len);
        p = at + 1;
    }
    size_t host_len = strcspn (p, ":/");
    if (host_len == 0 || host_len >= sizeof out->host)
        return -1;
    memcpy (out->host, p, host_len);
    p += host_len;
    if (*p == ':') {
        char *end;
        long port = strtol (p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535)
            return -1;
        out->port = (int) port;
        p = end;
    }
    if (*p == '/' && p [1]) {
        char *end;
        long db = strtol (p + 1, &end, 10);
        if (end == p + 1 || *end || db < 0 || db > 65535)
            return -1;
        out->db = (int) db;
        p = end;
    }
    else
    if (*p == '/')
        p++;
    return *p ? -1 : 0;
}

/* ---------------------------------------------------------------------- */
/*  The thread                                                             */

static void
s_disconnect (cache_redis_t *self, const char *why_text)
{
    char why [128];                 /* why_text may live in self->redis    */
    snprintf (why, sizeof why, "%s", why_text);
    if (self->redis)
        redisFree (self->redis);
    self->redis = NULL;
    self->next_try_us = llmq_now_us () + RETRY_US;
    if (!self->down_logged)
        llmq_log ('W', REDIS_LOG, "cache: redis unavailable (%s); serving from memory only",
                  why);
    self->down_logged = true;
}

/*  A reply that must be OK/+ for the connection to be usable.            */
static int
s_setup_command (cache_redis_t *self, const char *fmt, const char *arg)
{
    redisReply *reply = redisCommand (self->redis, fmt, arg);
    int rc = reply && reply->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (reply)
        freeReplyObject (reply);
    return rc;
}

static void
s_connect (cache_redis_t *self)
{
    if (self->redis || llmq_now_us () < self->next_try_us)
        return;
    struct timeval tv = { .tv_sec = self->timeout_ms / 1000,
                          .tv_usec = (self->timeout_ms % 1000) * 1000 };
    self->redis = self->url.path [0]
                ? redisConnectUnixWithTimeout (self->url.path, tv)
                : redisConnectWithTimeout (self->url.host, self->url.port, tv);
    if (!self->redis || self->redis->err) {
        s_disconnect (self, self->redis ? self->redis->errstr : "out of memory");
        return;
    }
    char db [16];
    snprintf (db, sizeof db, "%d", self->url.db);
    if (redisSetTimeout (self->redis, tv) != REDIS_OK
    ||  (self->url.password [0] && s_setup_command (self, "AUTH %s", self->url.password))
    ||  (self->url.db && s_setup_command (self, "SELECT %s", db))) {
        s_disconnect (self, "setup (timeout, AUTH or SELECT) failed");
        return;
    }
    llmq_log ('I', REDIS_LOG, "cache: redis connected");
    self->down_logged = false;
}

static void
s_answer (cache_redis_t *self, const job_t *job, uint32_t status, const void *value,
          size_t size)
{
    answer_t answer = { .token = job->token, .status = status, .is_get = job->op == OP_GET };
    zmq_msg_t msg;
    if (zmq_msg_init_size (&msg, sizeof answer + size))
        return;                     /* out of memory: the broker's request
                                       still ends by its deadline           */
    memcpy (zmq_msg_data (&msg), &answer, sizeof answer);
    if (size)
        memcpy ((char *) zmq_msg_data (&msg) + sizeof answer, value, size);
    if (zmq_msg_send (&msg, self->thread_pipe, 0) == -1)
        zmq_msg_close (&msg);
}

static void
s_key (const job_t *job, char out [sizeof KEY_PREFIX + 32])
{
    char hex [33];
    cache_key_hex (&job->key, hex);
    snprintf (out, sizeof KEY_PREFIX + 32, KEY_PREFIX "%s", hex);
}

/*  Runs a batch of jobs as one pipeline and answers each.                 */
static void
s_run_batch (cache_redis_t *self, zmq_msg_t *jobs, int n)
{
    s_connect (self);
    int appended = 0;
    for (int i = 0; i < n && self->redis; i++, appended++) {
        const job_t *job = zmq_msg_data (&jobs [i]);
        char key [sizeof KEY_PREFIX + 32];
        s_key (job, key);
        int rc;
        if (job->op == OP_GET)
            rc = redisAppendCommand (self->redis, "GET %s", key);
        else
            rc = redisAppendCommand (self->redis, "SET %s %b PX %u", key,
                                     (const char *) zmq_msg_data (&jobs [i]) + sizeof *job,
                                     zmq_msg_size (&jobs [i]) - sizeof *job, job->ttl_ms);
        if (rc != REDIS_OK)
            s_disconnect (self, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        const job_t *job = zmq_msg_data (&jobs [i]);
        redisReply *reply = NULL;
        if (i < appended && self->redis
        &&  redisGetReply (self->redis, (void **) &reply) != REDIS_OK) {
            s_disconnect (self, self->redis->errstr [0] ? self->redis->errstr : "I/O error");
            reply = NULL;
        }
        if (!reply || reply->type == REDIS_REPLY_ERROR)
            s_answer (self, job, CACHE_REDIS_ERROR, NULL, 0);
        else
        if (job->op == OP_GET && reply->type == REDIS_REPLY_STRING)
            s_answer (self, job, CACHE_REDIS_HIT, reply->str, reply->len);
        else
            s_answer (self, job, job->op == OP_GET ? CACHE_REDIS_MISS : CACHE_REDIS_HIT,
                      NULL, 0);
        if (reply)
            freeReplyObject (reply);
    }
}

static void
s_thread (void *arg)
{
    cache_redis_t *self = arg;
    zmq_msg_t jobs [BATCH_MAX];
    bool stop = false;
    while (!stop) {
        int n = 0;
        zmq_msg_init (&jobs [0]);
        if (zmq_msg_recv (&jobs [0], self->thread_pipe, 0) == -1) {
            zmq_msg_close (&jobs [0]);
            if (errno == EINTR)
                continue;
            break;                  /* context terminated                  */
        }
        n = 1;
        while (n < BATCH_MAX) {
            zmq_msg_init (&jobs [n]);
            if (zmq_msg_recv (&jobs [n], self->thread_pipe, ZMQ_DONTWAIT) == -1) {
                zmq_msg_close (&jobs [n]);
                break;
            }
            n++;
        }
        /*  Drop malformed jobs (a bug) and notice STOP.                    */
        int kept = 0;
        for (int i = 0; i < n; i++) {
            const job_t *job = zmq_msg_data (&jobs [i]);
            if (zmq_msg_size (&jobs [i]) < sizeof *job || job->op == OP_STOP) {
                stop |= zmq_msg_size (&jobs [i]) >= sizeof *job;
                zmq_msg_close (&jobs [i]);
            }
            else
                jobs [kept++] = jobs [i];
        }
        if (!stop && kept)
            s_run_batch (self, jobs, kept);
        for (int i = 0; i < kept; i++)
            zmq_msg_close (&jobs [i]);
    }
    if (self->redis)
        redisFree (self->redis);
    self->redis = NULL;
    zmq_close (self->thread_pipe);
}

/* ---------------------------------------------------------------------- */
/*  The broker's side                                                      */

cache_redis_t *
cache_redis_new (void *ctx, const char *url, uint32_t timeout_ms)
{
    cache_redis_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    zmq_msg_init (&self->last);
    self->timeout_ms = timeout_ms ? timeout_ms : 1;
    if (cache_redis_parse_url (url, &self->url)) {
        llmq_log ('E', REDIS_LOG, "cache: cannot parse redis URL (want redis://host:port"
                  "[/db] or unix:///path)");
        free (self);
        return NULL;
    }
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://llmq-cache-redis-%p", (void *) self);
    int unlimited = 0, linger = 0;
    self->pipe = zmq_socket (ctx, ZMQ_PAIR);
    self->thread_pipe = zmq_socket (ctx, ZMQ_PAIR);
    /*  Unbounded both ways: the jobs in flight are bounded by the broker's
        requests, and neither end may ever block on the other.             */
    if (!self->pipe || !self->thread_pipe
    ||  zmq_setsockopt (self->pipe, ZMQ_SNDHWM, &unlimited, sizeof unlimited)
    ||  zmq_setsockopt (self->pipe, ZMQ_RCVHWM, &unlimited, sizeof unlimited)
    ||  zmq_setsockopt (self->thread_pipe, ZMQ_SNDHWM, &unlimited, sizeof unlimited)
    ||  zmq_setsockopt (self->thread_pipe, ZMQ_RCVHWM, &unlimited, sizeof unlimited)
    ||  zmq_setsockopt (self->pipe, ZMQ_LINGER, &linger, sizeof linger)
    ||  zmq_setsockopt (self->thread_pipe, ZMQ_LINGER, &linger, sizeof linger)
    ||  zmq_bind (self->pipe, endpoint)
    ||  zmq_connect (self->thread_pipe, endpoint)) {
        llmq_log ('E', REDIS_LOG, "cache: cannot create the redis pipe: %s",
                  zmq_strerror (errno));
        cache_redis_destroy (&self);
        return NULL;
    }
    /*  zmq's portable thread helper: no pthread.h here (broker/sched.h
        would shadow the system <sched.h> it includes).                    */
    self->thread = zmq_threadstart (s_thread, self);
    if (!self->thread) {
        llmq_log ('E', REDIS_LOG, "cache: cannot start the redis thread");
        cache_redis_destroy (&self);
        return NULL;
    }
    return self;
}

void
cache_redis_destroy (cache_redis_t **self_p)
{
    cache_redis_t *self = *self_p;
    if (!self)
        return;
    if (self->thread) {
        job_t stop = { .op = OP_STOP };
        /*  Blocking send: the pipe is unbounded, so it cannot wait long.  */
        zmq_send (self->pipe, &stop, sizeof stop, 0);
        zmq_threadclose (self->thread);
    }
    else
    if (self->thread_pipe)
        zmq_close (self->thread_pipe);
    if (self->pipe)
        zmq_close (self->pipe);
    zmq_msg_close (&self->last);
    free (self);
    *self_p = NULL;
}

void *
cache_redis_socket (cache_redis_t *self)
{
    return self->pipe;
}

int
cache_redis_get (cache_redis_t *self, const cache_key_t *key, uint64_t token)
{
    job_t job = { .op = OP_GET, .token = token, .key = *key };
    return zmq_send (self->pipe, &job, sizeof job, ZMQ_DONTWAIT) == -1 ? -1 : 0;
}

int
cache_redis_set (cache_redis_t *self, const cache_key_t *key, const void *value,
                 size_t size, uint32_t ttl_ms)
{
    job_t job = { .op = OP_SET, .ttl_ms = ttl_ms ? ttl_ms : 1, .key = *key };
    zmq_msg_t msg;
    if (zmq_msg_init_size (&msg, sizeof job + size))
        return -1;
    memcpy (zmq_msg_data (&msg), &job, sizeof job);
    memcpy ((char *) zmq_msg_data (&msg) + sizeof job, value, size);
    if (zmq_msg_send (&msg, self->pipe, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&msg);
        return -1;
    }
    return 0;
}

int
cache_redis_recv (cache_redis_t *self, cache_redis_reply_t *reply)
{
    zmq_msg_close (&self->last);
    zmq_msg_init (&self->last);
    if (zmq_msg_recv (&self->last, self->pipe, ZMQ_DONTWAIT) == -1)
        return 0;
    answer_t answer;
    if (zmq_msg_size (&self->last) < sizeof answer)
        return 0;
    memcpy (&answer, zmq_msg_data (&self->last), sizeof answer);
    reply->token = answer.token;
    reply->status = answer.status;
    reply->is_get = answer.is_get;
    reply->value = (const char *) zmq_msg_data (&self->last) + sizeof answer;
    reply->size = zmq_msg_size (&self->last) - sizeof answer;
    return 1;
}
