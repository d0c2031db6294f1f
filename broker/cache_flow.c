/*  cache_flow.c -- the response cache in the request path; see
    cache_flow.h.

    A stored answer ("value") is the same bytes in L1 and in Redis: an
    8-byte big-endian wall-clock expiry (ms since the epoch; wall clock
    because brokers on other hosts read it too) followed by a FINAL frame
    holding model, text, finish_reason and usage. A hit decodes that frame
    and re-encodes it with the client's id, cached=true, attempts 0 and
    the hit's own timings (no queue, no backend: zero).
*/
#include "broker_internal.h"
#include "cache.h"
#include "cache_flow.h"
#include "cache_redis.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPIRY_SIZE     8           /* bytes before the FINAL frame        */
#define SWEEP_EVERY_US  100000      /* expiry sweep period                 */
#define SWEEP_CHECKS    64          /* entries looked at per sweep         */
#define CHUNK_MIN       16          /* replayed PARTIAL: at least, bytes   */
#define CHUNK_MAX       256         /* ... and at most, before a UTF-8 end */

typedef enum { ROLE_NONE = 0, ROLE_LEADER, ROLE_FOLLOWER } role_t;

/*  The cache's state of one request record (request_t.cache).             */
typedef struct cache_ticket {
    cache_plan_t plan;              /* key, read/write, TTL                */
    role_t role;                    /* leader, follower or neither         */
    bool l2_wait;                   /* a Redis GET is out for it           */
    request_t *req;                 /* the record                          */
    struct cache_ticket *leader;    /* follower: whom it waits for         */
    qnode_t link;                   /* follower: in leader->followers      */
    queue_t followers;              /* leader: who waits for it            */
    struct cache_ticket *hnext;     /* leader: chain in the leader index   */
    char *text;                     /* leader: text streamed so far        */
    size_t text_len, text_alloc;
    bool text_lost;                 /* out of memory keeping it            */
} ticket_t;

struct cache_flow {
    cache_config_t config;          /* settings (redis_url not owned)      */
    cache_t *store;                 /* L1, NULL when memory_bytes is 0     */
    cache_redis_t *redis;           /* L2, NULL without --cache-redis      */
    cache_stats_t *stats;           /* the broker's counters               */
    llmq_decoder_t *decoder;        /* for stored FINALs                   */
    llmq_buf_t frame;               /* a FINAL being stored                */
    char *value;                    /* expiry + frame being stored         */
    size_t value_alloc;
    char *entry;                    /* view + value: an L1 entry being put */
    size_t entry_alloc;
    ticket_t **leaders;             /* index of leaders by key             */
    size_t n_buckets;               /* power of two                        */
    size_t n_leaders;
    uint64_t *promote;              /* rids of freed followers to dispatch */
    size_t promote_head, promote_tail, promote_alloc;
    bool promoting;                 /* cache_flow_promote is running       */
    uint64_t next_sweep_us;         /* next cache_expire                   */
};

static uint64_t
s_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

cache_flow_t *
cache_flow_new (void *ctx, const cache_config_t *config, cache_stats_t *stats)
{
    cache_flow_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->stats = stats;
    self->n_buckets = 256;
    self->leaders = calloc (self->n_buckets, sizeof *self->leaders);
    self->decoder = llmq_decoder_new ();
    llmq_buf_init (&self->frame);
    if (config->memory_bytes)
        self->store = cache_new (config->memory_bytes);
    if (!self->leaders || !self->decoder || (config->memory_bytes && !self->store)) {
        llmq_log ('E', BROKER_LOG, "cache: out of memory");
        cache_flow_destroy (&self);
        return NULL;
    }
    if (config->redis_url && config->redis_url [0]) {
        self->redis = cache_redis_new (ctx, config->redis_url, config->redis_timeout_ms);
        if (!self->redis) {
            cache_flow_destroy (&self);
            return NULL;
        }
        stats->redis_enabled = true;
    }
    stats->max_bytes = config->memory_bytes;
    llmq_log ('I', BROKER_LOG, "cache: memory=%zu ttl_ms=%u policy=%s namespace=%s redis=%s",
              config->memory_bytes, config->ttl_ms, cache_mode_name (config->mode),
              config->by_tenant ? "tenant" : "off", self->redis ? "on" : "off");
    return self;
}

void
cache_flow_destroy (cache_flow_t **self_p)
{
    cache_flow_t *self = *self_p;
    if (!self)
        return;
    cache_redis_destroy (&self->redis);
    cache_destroy (&self->store);
    llmq_decoder_destroy (&self->decoder);
    llmq_buf_free (&self->frame);
    free (self->value);
    free (self->entry);
    free (self->leaders);
    free (self->promote);
    free (self);
    *self_p = NULL;
}

void *
cache_flow_socket (cache_flow_t *self)
{
    return self && self->redis ? cache_redis_socket (self->redis) : NULL;
}

static void
s_sync (cache_flow_t *self)
{
    if (!self->store)
        return;
    const cache_counters_t *c = cache_counters (self->store);
    self->stats->evicted_ttl = c->evicted_ttl;
    self->stats->evicted_memory = c->evicted_memory;
    self->stats->entries = c->entries;
    self->stats->bytes = c->bytes;
}

size_t
cache_flow_chunk (const char *text, size_t len)
{
    if (len <= CHUNK_MIN)
        return len;
    size_t n = CHUNK_MIN;
    while (n < len && n < CHUNK_MAX && text [n - 1] != ' ' && text [n - 1] != '\n')
        n++;
    /*  Never end inside a UTF-8 sequence: continuation bytes are 10xxxxxx. */
    while (n < len && ((unsigned char) text [n] & 0xC0) == 0x80)
        n++;
    return n;
}

/* ---------------------------------------------------------------------- */
/*  The leader index: identical requests queued or in flight               */

static size_t
s_bucket (const cache_flow_t *self, const cache_key_t *key)
{
    return (size_t) key->hi & (self->n_buckets - 1);
}

static ticket_t *
s_leader_find (cache_flow_t *self, const cache_key_t *key)
{
    ticket_t *t = self->leaders [s_bucket (self, key)];
    while (t && !cache_key_equal (&t->plan.key, key))
        t = t->hnext;
    return t;
}

/*  Doubles the buckets past a load of 1 (keeps them when out of memory).   */
static void
s_leader_grow (cache_flow_t *self)
{
    if (self->n_leaders < self->n_buckets)
        return;
    size_t n = self->n_buckets * 2;
    ticket_t **buckets = calloc (n, sizeof *buckets);
    if (!buckets)
        return;
    for (size_t b = 0; b < self->n_buckets; b++) {
        ticket_t *t = self->leaders [b];
        while (t) {
            ticket_t *next = t->hnext;
            size_t nb = (size_t) t->plan.key.hi & (n - 1);
            t->hnext = buckets [nb];
            buckets [nb] = t;
            t = next;
        }
    }
    free (self->leaders);
    self->leaders = buckets;
    self->n_buckets = n;
}

static void
s_leader_add (cache_flow_t *self, ticket_t *t)
{
    s_leader_grow (self);
    size_t b = s_bucket (self, &t->plan.key);
    t->hnext = self->leaders [b];
    self->leaders [b] = t;
    t->role = ROLE_LEADER;
    self->n_leaders++;
}

/*  Takes t out of the index; it stays a leader of its followers.           */
static void
s_leader_unindex (cache_flow_t *self, ticket_t *t)
{
    ticket_t **link = &self->leaders [s_bucket (self, &t->plan.key)];
    while (*link && *link != t)
        link = &(*link)->hnext;
    if (*link) {
        *link = t->hnext;
        self->n_leaders--;
    }
    t->hnext = NULL;
}

/* ---------------------------------------------------------------------- */
/*  Answering from a stored value                                          */

/*  Decodes a stored value into final; -1 when it is not one of ours or
    has expired. *left_ms: time it may still be used.                      */
static int
s_decode_value (cache_flow_t *self, const void *value, size_t size, llmq_final_t *final,
                uint64_t *left_ms)
{
    if (size <= EXPIRY_SIZE)
        return -1;
    const unsigned char *bytes = value;
    uint64_t expiry_ms = 0;
    for (int i = 0; i < EXPIRY_SIZE; i++)
        expiry_ms = expiry_ms << 8 | bytes [i];
    uint64_t now_ms = s_wall_ms ();
    if (expiry_ms <= now_ms)
        return -1;
    *left_ms = expiry_ms - now_ms;
    return llmq_decode_final (self->decoder, bytes + EXPIRY_SIZE, size - EXPIRY_SIZE,
                              final) == LLMQ_DECODE_OK ? 0 : -1;
}

/*  L1 entries are [view_t][value]: the offsets of the answer's fields in
    the frame, found once when the entry is stored, so a hit never decodes.  */
typedef struct {
    uint32_t model_off, model_len;  /* in the frame; len 0 + off 0 = none  */
    uint32_t text_off, text_len;
    uint32_t reason_off, reason_len;
    bool has_model, has_reason;     /* absent differs from empty           */
    llmq_usage_t usage;             /* the original usage                  */
} view_t;

static llmq_str_t
s_slice (const char *frame, bool has, uint32_t off, uint32_t len)
{
    llmq_str_t str = { .ptr = has ? frame + off : NULL, .len = has ? len : 0 };
    return str;
}

/*  The answer in an L1 entry (value and size from cache_get).              */
static int
s_view_l1 (const void *value, size_t size, llmq_final_t *final)
{
    view_t view;
    if (size < sizeof view + EXPIRY_SIZE)
        return -1;
    memcpy (&view, value, sizeof view);
    const char *frame = (const char *) value + sizeof view + EXPIRY_SIZE;
    memset (final, 0, sizeof *final);
    final->model = s_slice (frame, view.has_model, view.model_off, view.model_len);
    final->text = s_slice (frame, true, view.text_off, view.text_len);
    final->finish_reason = s_slice (frame, view.has_reason, view.reason_off, view.reason_len);
    final->usage = view.usage;
    return 0;
}

static uint32_t
s_offset (const char *frame, llmq_str_t str)
{
    return str.ptr ? (uint32_t) (str.ptr - frame) : 0;
}

/*  Stores value ([expiry][frame], decoded as final, pointing into it) in
    L1 until expires_us.                                                   */
static void
s_put_l1 (cache_flow_t *self, const cache_key_t *key, const void *value, size_t size,
          const llmq_final_t *final, uint64_t expires_us, uint64_t now_us)
{
    const char *frame = (const char *) value + EXPIRY_SIZE;
    view_t view = {
        .model_off = s_offset (frame, final->model), .model_len = final->model.len,
        .text_off = s_offset (frame, final->text), .text_len = final->text.len,
        .reason_off = s_offset (frame, final->finish_reason),
        .reason_len = final->finish_reason.len,
        .has_model = final->model.ptr != NULL, .has_reason = final->finish_reason.ptr != NULL,
        .usage = final->usage
    };
    size_t total = sizeof view + size;
    if (total > self->entry_alloc) {
        char *entry = realloc (self->entry, total);
        if (!entry)
            return;
        self->entry = entry;
        self->entry_alloc = total;
    }
    memcpy (self->entry, &view, sizeof view);
    memcpy (self->entry + sizeof view, value, size);
    cache_put (self->store, key, self->entry, total, expires_us, now_us);
    s_sync (self);
}

/*  Sends a stored answer to one client: PARTIAL chunks when it streams,
    then FINAL.                                                            */
static void
s_answer_hit (broker_t *b, request_t *req, const llmq_final_t *stored)
{
    size_t route_len;
    const void *route = request_route (req, &route_len);
    llmq_str_t id;
    id.ptr = request_id (req, &id.len);
    llmq_final_t final = *stored;
    if (req->stream) {
        llmq_partial_t partial = { .id = id };
        size_t done = 0;
        do {
            size_t n = cache_flow_chunk (final.text.ptr + done, final.text.len - done);
            partial.text.ptr = final.text.ptr + done;
            partial.text.len = (uint32_t) n;
            if (llmq_encode_partial (&b->out, &partial)
            ||  broker_send (b, b->clients, route, route_len, &b->out))
                return;             /* client gone: nothing more to do     */
            partial.seq++;
            done += n;
        } while (done < final.text.len);
    }
    uint64_t now_us = llmq_now_us ();
    final.id = id;
    final.has_rid = false;
    final.cached = true;
    final.worker = llmq_str (NULL);
    final.attempts = 0;
    memset (&final.timings, 0, sizeof final.timings);
    final.timings.total_us = now_us - req->accepted_us;
    final.timings.broker_us = req->broker_us + (now_us - b->msg_start_us);
    broker_monitor_final (b, req, &final);
    if (llmq_encode_final (&b->out, &final) == 0
    &&  broker_send (b, b->clients, route, route_len, &b->out) == 0)
        b->stats.answered++;
}

static void
s_not_cached (broker_t *b, request_t *req)
{
    b->cache->stats->not_cached++;
    dispatch_fail (b, req, LLMQ_ERR_NOT_CACHED,
                   "no cached answer (cache policy only-if-cached)", 0);
}

/* ---------------------------------------------------------------------- */
/*  Storing                                                                */

static bool
s_complete (const llmq_final_t *msg)
{
    return llmq_str_eq (msg->finish_reason, "stop") || llmq_str_eq (msg->finish_reason, "length");
}

/*  Builds the value for msg into self->value; its size, or 0 on no memory. */
static size_t
s_build_value (cache_flow_t *self, const llmq_final_t *msg, uint32_t ttl_ms)
{
    llmq_final_t stored = {
        .has_rid = true, .rid = 0,  /* a FINAL needs an id or a rid        */
        .model = msg->model, .text = msg->text, .finish_reason = msg->finish_reason,
        .usage = msg->usage, .cached = true
    };
    if (llmq_encode_final (&self->frame, &stored))
        return 0;
    size_t size = EXPIRY_SIZE + self->frame.size;
    if (size > self->value_alloc) {
        char *value = realloc (self->value, size);
        if (!value)
            return 0;
        self->value = value;
        self->value_alloc = size;
    }
    uint64_t expiry_ms = s_wall_ms () + ttl_ms;
    for (int i = EXPIRY_SIZE - 1; i >= 0; i--, expiry_ms >>= 8)
        self->value [i] = (char) (expiry_ms & 0xFF);
    memcpy (self->value + EXPIRY_SIZE, self->frame.data, self->frame.size);
    return size;
}

static void
s_store (broker_t *b, const ticket_t *t, const llmq_final_t *msg)
{
    cache_flow_t *self = b->cache;
    size_t size = s_build_value (self, msg, t->plan.ttl_ms);
    if (!size)
        return;
    bool stored = false;
    llmq_final_t view;
    uint64_t left_ms;
    if (self->store && s_decode_value (self, self->value, size, &view, &left_ms) == 0) {
        uint64_t now_us = llmq_now_us ();
        s_put_l1 (self, &t->plan.key, self->value, size, &view,
                  now_us + (uint64_t) t->plan.ttl_ms * 1000, now_us);
        stored = true;
    }
    if (self->redis) {
        if (cache_redis_set (self->redis, &t->plan.key, self->value, size, t->plan.ttl_ms) == 0)
            stored = true;
        else
            self->stats->redis_errors++;
    }
    if (stored)
        self->stats->stores++;
}

/* ---------------------------------------------------------------------- */
/*  Hooks                                                                  */

void
cache_flow_plan (broker_t *b, const llmq_wire_request_t *msg, cache_plan_t *plan)
{
    cache_flow_t *self = b->cache;
    memset (plan, 0, sizeof *plan);
    if (!self)
        return;
    switch (msg->cache) {
        case LLMQ_CACHE_BYPASS:
            return;
        case LLMQ_CACHE_REFRESH:
            plan->write = true;
            break;
        case LLMQ_CACHE_ONLY_IF_CACHED:
            plan->read = plan->only_if_cached = true;
            break;
        default:
            /*  A request that sets its own TTL asks to be cached.         */
            if (self->config.mode == CACHE_MODE_BYPASS
            ||  (self->config.mode == CACHE_MODE_DETERMINISTIC
                 && !cache_key_deterministic (msg) && !msg->has_cache_ttl_ms))
                return;
            plan->read = plan->write = true;
    }
    plan->ttl_ms = msg->has_cache_ttl_ms ? msg->cache_ttl_ms : self->config.ttl_ms;
    if (plan->ttl_ms > self->config.max_ttl_ms)
        plan->ttl_ms = self->config.max_ttl_ms;
    if (plan->ttl_ms == 0)
        plan->write = false;
    if (!self->store && !self->redis) {
        plan->write = false;        /* nothing to read from or write to    */
        plan->read = plan->only_if_cached;
        return;
    }
    cache_key_compute (msg, self->config.by_tenant, &plan->key);
}

/*  Sends a late-joining streaming follower the text streamed so far.      */
static void
s_catch_up (broker_t *b, const ticket_t *leader, request_t *req)
{
    if (!req->stream || leader->text_len == 0 || leader->text_lost)
        return;
    llmq_partial_t partial = { .seq = 0 };
    partial.id.ptr = request_id (req, &partial.id.len);
    partial.text.ptr = leader->text;
    partial.text.len = (uint32_t) leader->text_len;
    if (llmq_encode_partial (&b->out, &partial) == 0)
        dispatch_reply (b, req);
}

bool
cache_flow_admit (broker_t *b, request_t *req, const cache_plan_t *plan)
{
    cache_flow_t *self = b->cache;
    if (!self || (!plan->read && !plan->write))
        return false;
    ticket_t *t = calloc (1, sizeof *t);
    if (!t)
        return false;               /* served without the cache            */
    t->plan = *plan;
    t->req = req;
    qnode_init (&t->link);
    queue_init (&t->followers);
    req->cache = t;
    if (plan->read) {
        size_t size;
        const void *value = self->store
                          ? cache_get (self->store, &plan->key, b->msg_start_us, &size) : NULL;
        llmq_final_t stored;
        if (value && s_view_l1 (value, size, &stored) == 0) {
            s_answer_hit (b, req, &stored);
            self->stats->hits++;
            s_sync (self);
            dispatch_release (b, req);
            return true;
        }
        if (value)
            cache_remove (self->store, &plan->key);     /* unusable        */
        s_sync (self);
        if (!self->redis) {
            self->stats->misses++;
            if (plan->only_if_cached) {
                s_not_cached (b, req);
                return true;
            }
        }
    }
    ticket_t *leader = s_leader_find (self, &plan->key);
    if (leader && plan->read && !plan->only_if_cached) {
        t->role = ROLE_FOLLOWER;
        t->leader = leader;
        queue_push_back (&leader->followers, &t->link);
        self->stats->coalesced++;
        s_catch_up (b, leader, req);
        return true;
    }
    if (!leader && !plan->only_if_cached)
        s_leader_add (self, t);
    if (plan->read && self->redis) {
        if (cache_redis_get (self->redis, &plan->key, request_rid (req)) == 0) {
            t->l2_wait = true;
            return true;
        }
        self->stats->redis_errors++;
    }
    if (plan->read && self->redis) {
        self->stats->misses++;
        if (plan->only_if_cached) {
            s_not_cached (b, req);
            return true;
        }
    }
    return false;
}

void
cache_flow_partial (broker_t *b, request_t *req, const llmq_partial_t *msg)
{
    ticket_t *t = req->cache;
    if (!t || t->role != ROLE_LEADER)
        return;
    /*  Kept for followers that join later (s_catch_up).                    */
    if (!t->text_lost && msg->text.len) {
        size_t need = t->text_len + msg->text.len;
        if (need > t->text_alloc) {
            size_t alloc = t->text_alloc ? t->text_alloc * 2 : 256;
            while (alloc < need)
                alloc *= 2;
            char *text = realloc (t->text, alloc);
            if (text) {
                t->text = text;
                t->text_alloc = alloc;
            }
            else
                t->text_lost = true;
        }
        if (!t->text_lost) {
            memcpy (t->text + t->text_len, msg->text.ptr, msg->text.len);
            t->text_len = need;
        }
    }
    for (qnode_t *node = queue_front (&t->followers); node;
         node = queue_next (&t->followers, node)) {
        ticket_t *f = QUEUE_ENTRY (node, ticket_t, link);
        if (!f->req->stream)
            continue;
        llmq_partial_t out = { .seq = msg->seq, .text = msg->text };
        out.id.ptr = request_id (f->req, &out.id.len);
        if (llmq_encode_partial (&b->out, &out) == 0)
            dispatch_reply (b, f->req);
    }
}

/*  Sends text to a streaming request as PARTIAL chunks.                   */
static void
s_replay_chunks (broker_t *b, request_t *req, llmq_str_t text)
{
    llmq_partial_t partial = { .seq = 0 };
    partial.id.ptr = request_id (req, &partial.id.len);
    size_t done = 0;
    while (done < text.len) {
        size_t n = cache_flow_chunk (text.ptr + done, text.len - done);
        partial.text.ptr = text.ptr + done;
        partial.text.len = (uint32_t) n;
        if (llmq_encode_partial (&b->out, &partial) || dispatch_reply (b, req))
            return;
        partial.seq++;
        done += n;
    }
}

/*  Detaches every follower of leader and answers it with msg.             */
static void
s_answer_followers (broker_t *b, ticket_t *leader, const llmq_final_t *msg)
{
    uint64_t now_us = llmq_now_us ();
    qnode_t *node;
    while ((node = queue_pop_front (&leader->followers))) {
        ticket_t *f = QUEUE_ENTRY (node, ticket_t, link);
        qnode_init (&f->link);
        f->role = ROLE_NONE;
        f->leader = NULL;
        request_t *req = f->req;
        llmq_final_t out = *msg;
        out.id.ptr = request_id (req, &out.id.len);
        /*  A leader that did not stream sent no chunks: replay them.       */
        if (req->stream && !leader->req->stream)
            s_replay_chunks (b, req, msg->text);
        out.has_rid = false;
        out.cached = true;          /* no backend call was made for it     */
        out.attempts = 0;
        memset (&out.timings, 0, sizeof out.timings);
        out.timings.total_us = now_us - req->accepted_us;
        out.timings.broker_us = req->broker_us;
        broker_monitor_final (b, req, &out);
        if (llmq_encode_final (&b->out, &out) == 0 && dispatch_reply (b, req) == 0)
            b->stats.answered++;
        dispatch_release (b, req);
    }
}

void
cache_flow_final (broker_t *b, request_t *req, const llmq_final_t *msg)
{
    ticket_t *t = req->cache;
    if (!t)
        return;
    if (t->plan.write && s_complete (msg))
        s_store (b, t, msg);
    if (t->role != ROLE_LEADER)
        return;
    s_leader_unindex (b->cache, t);
    llmq_final_t shared = *msg;
    if (req->worker)
        shared.worker = llmq_str (req->worker->id);
    s_answer_followers (b, t, &shared);
}

static void
s_push_promote (cache_flow_t *self, uint64_t rid)
{
    if (self->promote_tail == self->promote_alloc) {
        size_t alloc = self->promote_alloc ? self->promote_alloc * 2 : 64;
        uint64_t *promote = realloc (self->promote, alloc * sizeof *promote);
        if (!promote) {
            /*  It still ends, by its deadline: never worse than an error.  */
            llmq_log ('E', BROKER_LOG, "cache: out of memory dispatching a follower");
            return;
        }
        self->promote = promote;
        self->promote_alloc = alloc;
    }
    self->promote [self->promote_tail++] = rid;
}

void
cache_flow_release (broker_t *b, request_t *req)
{
    ticket_t *t = req->cache;
    if (!t)
        return;
    cache_flow_t *self = b->cache;
    req->cache = NULL;
    if (t->role == ROLE_FOLLOWER)
        queue_remove (&t->leader->followers, &t->link);
    else
    if (t->role == ROLE_LEADER) {
        /*  Ended without an answer: each follower goes on its own, so one
            failure is not fanned out to everyone.                         */
        s_leader_unindex (self, t);
        qnode_t *node;
        while ((node = queue_pop_front (&t->followers))) {
            ticket_t *f = QUEUE_ENTRY (node, ticket_t, link);
            qnode_init (&f->link);
            f->role = ROLE_NONE;
            f->leader = NULL;
            s_push_promote (self, request_rid (f->req));
        }
    }
    free (t->text);
    free (t);
}

void
cache_flow_promote (broker_t *b)
{
    cache_flow_t *self = b->cache;
    if (!self || self->promoting)
        return;
    self->promoting = true;         /* nested releases just add to the list */
    while (self->promote_head < self->promote_tail) {
        uint64_t rid = self->promote [self->promote_head++];
        request_t *req = requests_lookup (b->requests, rid);
        if (!req || req->state != REQ_NEW)
            continue;
        uint64_t start_us = llmq_now_us ();
        dispatch_request (b, req);
        if ((req = requests_lookup (b->requests, rid)))
            dispatch_charge (req, start_us);
    }
    self->promote_head = self->promote_tail = 0;
    self->promoting = false;
}

/*  A Redis GET answered for the leader t: a hit answers it and its
    followers; a miss dispatches it (or fails only-if-cached).             */
static void
s_redis_result (broker_t *b, ticket_t *t, const llmq_final_t *stored)
{
    cache_flow_t *self = b->cache;
    request_t *req = t->req;
    uint64_t rid = request_rid (req);
    t->l2_wait = false;
    if (stored) {
        s_answer_hit (b, req, stored);
        self->stats->hits++;
        self->stats->redis_hits++;
        if (t->role == ROLE_LEADER) {
            s_leader_unindex (self, t);
            qnode_t *node;
            while ((node = queue_pop_front (&t->followers))) {
                ticket_t *f = QUEUE_ENTRY (node, ticket_t, link);
                qnode_init (&f->link);
                f->role = ROLE_NONE;
                f->leader = NULL;
                s_answer_hit (b, f->req, stored);
                dispatch_release (b, f->req);
            }
        }
        dispatch_release (b, req);
        return;
    }
    self->stats->misses++;
    if (t->plan.only_if_cached) {
        s_not_cached (b, req);
        return;
    }
    dispatch_request (b, req);
    if ((req = requests_lookup (b->requests, rid)))
        dispatch_charge (req, b->msg_start_us);
}

void
cache_flow_redis_input (broker_t *b)
{
    cache_flow_t *self = b->cache;
    cache_redis_reply_t reply;
    while (self && self->redis && cache_redis_recv (self->redis, &reply)) {
        b->msg_start_us = llmq_now_us ();
        bool ok = reply.status != CACHE_REDIS_ERROR;
        if (!ok)
            self->stats->redis_errors++;
        self->stats->redis_up = ok;
        if (!reply.is_get)
            continue;
        const void *value = NULL;
        llmq_final_t final;
        uint64_t left_ms;
        request_t *req = requests_lookup (b->requests, reply.token);
        ticket_t *t = req ? req->cache : NULL;
        if (reply.status == CACHE_REDIS_HIT
        &&  s_decode_value (self, reply.value, reply.size, &final, &left_ms) == 0) {
            value = reply.value;
            /*  Into L1 for the time Redis still keeps it.                  */
            if (self->store && t) {
                uint64_t now_us = llmq_now_us ();
                s_put_l1 (self, &t->plan.key, value, reply.size, &final,
                          now_us + left_ms * 1000, now_us);
            }
        }
        if (t && t->l2_wait)
            s_redis_result (b, t, value ? &final : NULL);
    }
}

void
cache_flow_tick (broker_t *b, uint64_t now_us)
{
    cache_flow_t *self = b->cache;
    if (!self || !self->store || now_us < self->next_sweep_us)
        return;
    self->next_sweep_us = now_us + SWEEP_EVERY_US;
    cache_expire (self->store, now_us, SWEEP_CHECKS);
    s_sync (self);
}
