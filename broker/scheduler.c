/*  scheduler.c -- priority levels, tenant DRR, bounds, rate control; see
    scheduler.h for the design and its costs.  */
#include "scheduler.h"
#include "ratelimit.h"

#include <assert.h>
#include <czmq.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

_Static_assert (MODEL_LEVELS == LLMQ_PRIO__COUNT, "models.h MODEL_LEVELS out of date");

/*  The retry_after_ms we quote stays in this range: below it clients spin,
    above it they give up on a queue that may drain sooner.                */
#define RETRY_MIN_MS     50
#define RETRY_MAX_MS     60000
#define RETRY_DEFAULT_MS 1000
/*  The TPM estimate counts this many bytes of request per prompt token:
    the usual rule of thumb for English with BPE tokenizers.               */
#define BYTES_PER_TOKEN  4
/*  Tenant records kept at most (see s_tenant_for).                        */
#define SCHED_MAX_TENANTS 100000

typedef struct sched_tenant sched_tenant_t;
typedef struct sched_flow sched_flow_t;

typedef struct sched_lane {
    queue_t reqs;                   /* requests, FIFO (sched_req.lane_link) */
    qnode_t link;                   /* in its model's ring, or parked      */
    int32_t deficit;                /* requests left in this turn          */
    bool parked;                    /* on its tenant's parked list         */
    uint8_t level;                  /* priority level                      */
    sched_flow_t *flow;             /* owner                               */
} sched_lane_t;

/*  One tenant's lanes for one model.                                      */
struct sched_flow {
    struct { sched_tenant_t *tenant; model_t *model; } key;   /* hash key   */
    sched_lane_t lanes[SCHED_LEVELS];   /* one per level                   */
    size_t queued;                  /* requests in all lanes               */
    sched_flow_t *next_free;        /* pool                                */
};

/*  What every request touches comes first, in the first cache line: with
    thousands of tenants each visit is a cache miss per line touched.     */
struct sched_tenant {
    char *name;                     /* hash key; in the same block         */
    uint32_t in_flight;             /* requests out                        */
    uint32_t weight;                /* conf.weight, here for the hot path  */
    size_t queued;                  /* requests queued, all models         */
    size_t queued_bytes;            /* their bytes                         */
    sched_flow_t *last_flow;        /* its flow used last: most requests of
                                       a tenant go to one model, and this
                                       saves a hash lookup (cache misses
                                       with many tenants)                  */
    uint64_t dispatched;            /* stats                               */
    uint32_t max_in_flight;         /* conf.max_in_flight (hot copy)       */
    bool rated;                     /* has a rate (else buckets untouched) */
    bool bounded;                   /* has a queue share of its own        */
    bool listed;                    /* in the config (never collected)     */
    sched_tenant_conf_t conf;       /* scalars only (name/models not used) */
    bucket_t rps, rpm, tpm;         /* rates                               */
    queue_t parked;                 /* lanes waiting for this tenant       */
    qnode_t parked_link;            /* in sched.parked when lanes wait     */
    uint64_t wake_us;               /* when a bucket allows again; 0 = on release */
    uint64_t rate_limited;          /* stats                               */
    uint64_t deferred;
};

/*  Per-model rate state; lives as long as the scheduler (a model_t is
    collected when idle, its AIMD history must not be).                    */
struct sched_limits {
    char *name;                     /* hash key, owned                     */
    sched_model_conf_t conf;        /* scalars only                        */
    bucket_t rpm, tpm;              /* rates                               */
    aimd_t aimd;                    /* backend 429 control                 */
    uint32_t in_flight;             /* requests out                        */
};

struct sched {
    sched_config_t conf;            /* scalars + defaults (lists not kept) */
    size_t max_queue;               /* global bound on queued requests     */
    size_t max_queue_bytes;         /* and on their bytes; 0 = none        */
    zhashx_t *tenants;              /* name -> sched_tenant_t (owned)      */
    struct tslot { uint64_t hash; sched_tenant_t *t; } *index;
                                    /* open-addressing copy of the above
                                       for the hot path (see s_index_get) */
    size_t index_size;              /* slots, a power of 2                 */
    size_t index_used;              /* tenants in it                       */
    zhashx_t *limits;               /* model name -> sched_limits (owned)  */
    zhashx_t *flows;                /* (tenant, model) -> flow (not owned) */
    sched_flow_t *free_flows;       /* pool of unused flows                */
    queue_t age[SCHED_LEVELS];      /* queued requests by level, arrival order */
    queue_t parked;                 /* tenants with parked lanes           */
    size_t queued;                  /* requests queued                     */
    size_t queued_bytes;            /* their bytes                         */
    uint64_t wake_us;               /* earliest wake wanted; 0 none        */
    double interval_us;             /* EWMA of time between dispatches     */
    uint64_t last_dispatch_us;      /* for the above                       */
    uint64_t shed;                  /* requests shed                       */
    uint64_t aged;                  /* level promotions                    */
    uint64_t now_us;                /* time of the current call            */
};

#define ENTRY QUEUE_ENTRY

/* ---------------------------------------------------------------------- */
/*  Config                                                                  */

void
sched_config_defaults (sched_config_t *config)
{
    memset (config, 0, sizeof *config);
    config->aging_ms[LLMQ_PRIO_HIGH] = 5000;
    config->aging_ms[LLMQ_PRIO_NORMAL] = 5000;
    config->aging_ms[LLMQ_PRIO_LOW] = 5000;
    config->default_max_tokens = 256;
    config->defaults.weight = 1;
    config->defaults.mode = SCHED_MODE_QUEUE;
}

static void
s_strv_free (char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free (list[i]);
    free (list);
}

void
sched_config_free (sched_config_t *config)
{
    for (size_t i = 0; i < config->n_tenants; i++) {
        free (config->tenants[i].name);
        s_strv_free (config->tenants[i].models, config->tenants[i].n_models);
    }
    free (config->tenants);
    for (size_t i = 0; i < config->n_models; i++) {
        free (config->models[i].name);
        s_strv_free (config->models[i].fallbacks, config->models[i].n_fallbacks);
    }
    free (config->models);
    free (config->defaults.name);
    s_strv_free (config->defaults.models, config->defaults.n_models);
    config->tenants = NULL;
    config->models = NULL;
    config->n_tenants = config->n_models = 0;
    config->defaults.name = NULL;
    config->defaults.models = NULL;
    config->defaults.n_models = 0;
}

/*  Copies the scalars of a tenant conf (the runtime needs no lists).      */
static sched_tenant_conf_t
s_scalars (const sched_tenant_conf_t *conf)
{
    sched_tenant_conf_t copy = *conf;
    copy.name = NULL;
    copy.models = NULL;
    copy.n_models = 0;
    if (copy.weight == 0)
        copy.weight = 1;
    return copy;
}

/*  RPS and RPM buckets share the burst: with none given, one second's
    worth for RPS and one request for RPM, so an RPM limit spreads the
    requests over the minute instead of letting them all go at once.       */
static void
s_tenant_buckets (sched_tenant_t *t, bool fresh, uint64_t now_us)
{
    const sched_tenant_conf_t *c = &t->conf;
    t->rated = c->rps > 0 || c->rpm > 0 || c->tpm > 0;
    t->weight = c->weight ? c->weight : 1;
    t->max_in_flight = c->max_in_flight;
    t->bounded = c->max_queued || c->max_queued_bytes;
    double rpm_burst = c->burst > 0 ? c->burst : 1;
    if (fresh) {
        bucket_init (&t->rps, c->rps, c->burst, now_us);
        bucket_init (&t->rpm, c->rpm / 60, rpm_burst, now_us);
        bucket_init (&t->tpm, c->tpm / 60, c->tpm, now_us);
    }
    else {
        bucket_reconfigure (&t->rps, c->rps, c->burst, now_us);
        bucket_reconfigure (&t->rpm, c->rpm / 60, rpm_burst, now_us);
        bucket_reconfigure (&t->tpm, c->tpm / 60, c->tpm, now_us);
    }
}

static void
s_limits_buckets (struct sched_limits *m, bool fresh, uint64_t now_us)
{
    const sched_model_conf_t *c = &m->conf;
    if (fresh) {
        bucket_init (&m->rpm, c->rpm / 60, 1, now_us);
        bucket_init (&m->tpm, c->tpm / 60, c->tpm, now_us);
    }
    else {
        bucket_reconfigure (&m->rpm, c->rpm / 60, 1, now_us);
        bucket_reconfigure (&m->tpm, c->tpm / 60, c->tpm, now_us);
    }
}

/* ---------------------------------------------------------------------- */
/*  Tables                                                                  */

static void
s_tenant_free (void **item_p)
{
    free (*item_p);             /* the name lives in the same block        */
    *item_p = NULL;
}

static void
s_limits_free (void **item_p)
{
    struct sched_limits *m = *item_p;
    if (m) {
        free (m->name);
        free (m);
        *item_p = NULL;
    }
}

static size_t
s_flow_hash (const void *key)
{
    const uintptr_t *k = key;
    uint64_t h = (uint64_t) k[0] * 0x9E3779B97F4A7C15ull ^ (uint64_t) k[1] * 0xC2B2AE3D27D4EB4Full;
    return (size_t) (h ^ (h >> 29));
}

static int
s_flow_compare (const void *a, const void *b)
{
    return memcmp (a, b, 2 * sizeof (uintptr_t));
}

/*  The tenant index: the lookup every request makes. CZMQ's zhashx chains
    items and keys in separate allocations (three cache misses before the
    record); this table keeps the hash beside the pointer, linear probing,
    load at most 1/2, so a lookup costs about one miss plus the record.
    Tenants are never removed, so there are no tombstones.                 */
static uint64_t
s_name_hash (const char *name)
{
    return XXH3_64bits (name, strlen (name)) | 1;      /* 0 = empty slot   */
}

static void
s_index_insert (struct tslot *index, size_t size, uint64_t hash, sched_tenant_t *t)
{
    size_t i = (size_t) hash & (size - 1);
    while (index[i].hash)
        i = (i + 1) & (size - 1);
    index[i].hash = hash;
    index[i].t = t;
}

/*  Makes room for one more; -1 when out of memory.                        */
static int
s_index_room (sched_t *self)
{
    if ((self->index_used + 1) * 2 <= self->index_size)
        return 0;
    size_t size = self->index_size ? self->index_size * 2 : 64;
    struct tslot *index = calloc (size, sizeof *index);
    if (!index)
        return -1;
    for (size_t i = 0; i < self->index_size; i++)
        if (self->index[i].hash)
            s_index_insert (index, size, self->index[i].hash, self->index[i].t);
    free (self->index);
    self->index = index;
    self->index_size = size;
    return 0;
}

static void
s_index_put (sched_t *self, sched_tenant_t *t)
{
    s_index_insert (self->index, self->index_size, s_name_hash (t->name), t);
    self->index_used++;
}

static sched_tenant_t *
s_index_get (sched_t *self, const char *name)
{
    if (!self->index_size)
        return NULL;
    uint64_t hash = s_name_hash (name);
    for (size_t i = (size_t) hash & (self->index_size - 1); self->index[i].hash;
         i = (i + 1) & (self->index_size - 1))
        if (self->index[i].hash == hash && !strcmp (self->index[i].t->name, name))
            return self->index[i].t;
    return NULL;
}

static sched_tenant_t *
s_tenant_new (sched_t *self, const char *name, const sched_tenant_conf_t *conf, bool listed)
{
    /*  One block for the record and its name: fewer cache misses when
        the index compares names.                                          */
    size_t len = strlen (name);
    sched_tenant_t *t = calloc (1, sizeof *t + len + 1);
    if (!t)
        return NULL;
    t->name = memcpy ((char *) (t + 1), name, len + 1);
    if (s_index_room (self) || zhashx_insert (self->tenants, name, t)) {
        free (t);
        return NULL;
    }
    s_index_put (self, t);
    t->conf = s_scalars (conf);
    t->listed = listed;
    queue_init (&t->parked);
    qnode_init (&t->parked_link);
    s_tenant_buckets (t, true, self->now_us);
    return t;
}

static struct sched_limits *
s_limits_get (sched_t *self, const char *name, const sched_model_conf_t *conf)
{
    struct sched_limits *m = zhashx_lookup (self->limits, name);
    if (m)
        return m;
    m = calloc (1, sizeof *m);
    if (!m)
        return NULL;
    m->name = strdup (name);
    if (!m->name || zhashx_insert (self->limits, name, m)) {
        free (m->name);
        free (m);
        return NULL;
    }
    if (conf)
        m->conf = *conf;
    m->conf.name = NULL;
    m->conf.fallbacks = NULL;
    m->conf.n_fallbacks = 0;
    aimd_init (&m->aimd);
    s_limits_buckets (m, true, self->now_us);
    return m;
}

static void
s_copy_conf (sched_t *self, const sched_config_t *config)
{
    self->conf = *config;
    self->conf.defaults = s_scalars (&config->defaults);
    self->conf.tenants = NULL;
    self->conf.n_tenants = 0;
    self->conf.models = NULL;
    self->conf.n_models = 0;
}

sched_t *
sched_new (const sched_config_t *config, size_t max_queue, size_t max_queue_bytes,
           uint64_t now_us)
{
    sched_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->now_us = now_us;
    self->max_queue = max_queue;
    self->max_queue_bytes = max_queue_bytes;
    for (int level = 0; level < SCHED_LEVELS; level++)
        queue_init (&self->age[level]);
    queue_init (&self->parked);
    self->tenants = zhashx_new ();
    self->limits = zhashx_new ();
    self->flows = zhashx_new ();
    if (!self->tenants || !self->limits || !self->flows) {
        sched_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->tenants, s_tenant_free);
    zhashx_set_destructor (self->limits, s_limits_free);
    zhashx_set_key_hasher (self->flows, s_flow_hash);
    zhashx_set_key_comparator (self->flows, s_flow_compare);
    zhashx_set_key_duplicator (self->flows, NULL);
    zhashx_set_key_destructor (self->flows, NULL);
    sched_config_t defaults;
    sched_config_defaults (&defaults);
    if (sched_configure (self, config ? config : &defaults, now_us)) {
        sched_destroy (&self);
        return NULL;
    }
    return self;
}

void
sched_destroy (sched_t **self_p)
{
    sched_t *self = *self_p;
    if (!self)
        return;
    /*  Flows still in the table belong to requests the broker frees
        anyway; free them and the pool.                                     */
    if (self->flows) {
        for (sched_flow_t *f = zhashx_first (self->flows); f; f = zhashx_next (self->flows))
            free (f);
        zhashx_destroy (&self->flows);
    }
    while (self->free_flows) {
        sched_flow_t *f = self->free_flows;
        self->free_flows = f->next_free;
        free (f);
    }
    zhashx_destroy (&self->tenants);
    zhashx_destroy (&self->limits);
    free (self->index);
    free (self);
    *self_p = NULL;
}

int
sched_configure (sched_t *self, const sched_config_t *config, uint64_t now_us)
{
    self->now_us = now_us;
    /*  Create what is missing first, so running out of memory half way
        leaves limits as they were (new empty records are harmless).       */
    for (size_t i = 0; i < config->n_tenants; i++)
        if (!zhashx_lookup (self->tenants, config->tenants[i].name)
        &&  !s_tenant_new (self, config->tenants[i].name, &config->tenants[i], true))
            return -1;
    if (!zhashx_lookup (self->tenants, SCHED_DEFAULT_TENANT)
    &&  !s_tenant_new (self, SCHED_DEFAULT_TENANT, &config->defaults, false))
        return -1;
    for (size_t i = 0; i < config->n_models; i++)
        if (!s_limits_get (self, config->models[i].name, &config->models[i]))
            return -1;
    s_copy_conf (self, config);
    /*  Everyone gets the default, then the listed ones their own.          */
    for (sched_tenant_t *t = zhashx_first (self->tenants); t; t = zhashx_next (self->tenants)) {
        t->conf = s_scalars (&config->defaults);
        t->listed = false;
    }
    for (size_t i = 0; i < config->n_tenants; i++) {
        sched_tenant_t *t = zhashx_lookup (self->tenants, config->tenants[i].name);
        t->conf = s_scalars (&config->tenants[i]);
        t->listed = true;
    }
    for (sched_tenant_t *t = zhashx_first (self->tenants); t; t = zhashx_next (self->tenants))
        s_tenant_buckets (t, false, now_us);
    static const sched_model_conf_t unlimited = { 0 };
    for (struct sched_limits *m = zhashx_first (self->limits); m; m = zhashx_next (self->limits))
        m->conf = unlimited;
    for (size_t i = 0; i < config->n_models; i++) {
        struct sched_limits *m = zhashx_lookup (self->limits, config->models[i].name);
        m->conf = config->models[i];
        m->conf.name = NULL;
        m->conf.fallbacks = NULL;
        m->conf.n_fallbacks = 0;
    }
    for (struct sched_limits *m = zhashx_first (self->limits); m; m = zhashx_next (self->limits))
        s_limits_buckets (m, false, now_us);
    /*  New limits may let parked tenants go: let them all try again at
        once (a peek parks again those still over a limit).                */
    for (qnode_t *n = queue_front (&self->parked); n; n = queue_next (&self->parked, n))
        ENTRY (n, sched_tenant_t, parked_link)->wake_us = 0;
    if (queue_length (&self->parked))
        self->wake_us = now_us ? now_us : 1;
    return 0;
}

/* ---------------------------------------------------------------------- */
/*  Lanes and flows                                                         */

static void
s_flow_free (sched_t *self, sched_flow_t *flow)
{
    zhashx_delete (self->flows, &flow->key);
    flow->next_free = self->free_flows;
    self->free_flows = flow;
}

/*  A tenant keeps its last flow even when empty (s_flow_put), so that a
    tenant whose requests do not queue (the usual case) does not insert
    and delete a flow per request. Switching to another one frees it.
    An empty flow holds no state tied to its model, so one kept past its
    model's collection is harmless: at most one per tenant.               */
static void
s_set_last (sched_t *self, sched_tenant_t *tenant, sched_flow_t *flow)
{
    sched_flow_t *old = tenant->last_flow;
    tenant->last_flow = flow;
    if (old && old != flow && old->queued == 0)
        s_flow_free (self, old);
}

static sched_flow_t *
s_flow_get (sched_t *self, sched_tenant_t *tenant, model_t *model)
{
    if (tenant->last_flow && tenant->last_flow->key.model == model)
        return tenant->last_flow;
    struct { sched_tenant_t *tenant; model_t *model; } key = { tenant, model };
    sched_flow_t *flow = zhashx_lookup (self->flows, &key);
    if (flow) {
        s_set_last (self, tenant, flow);
        return flow;
    }
    if (self->free_flows) {
        flow = self->free_flows;
        self->free_flows = flow->next_free;
    }
    else
    if (!(flow = malloc (sizeof *flow)))
        return NULL;
    memset (flow, 0, sizeof *flow);
    flow->key.tenant = tenant;
    flow->key.model = model;
    for (int level = 0; level < SCHED_LEVELS; level++) {
        queue_init (&flow->lanes[level].reqs);
        qnode_init (&flow->lanes[level].link);
        flow->lanes[level].level = (uint8_t) level;
        flow->lanes[level].flow = flow;
    }
    if (zhashx_insert (self->flows, &flow->key, flow)) {
        flow->next_free = self->free_flows;
        self->free_flows = flow;
        return NULL;
    }
    s_set_last (self, tenant, flow);
    return flow;
}

static void
s_flow_put (sched_t *self, sched_flow_t *flow)
{
    if (flow->queued || flow->key.tenant->last_flow == flow)
        return;                 /* in use, or kept (see s_set_last)        */
    s_flow_free (self, flow);
}

/*  Unlinks a lane from its ring or its tenant's parked list.              */
static void
s_lane_unlink (sched_lane_t *lane)
{
    if (!qnode_linked (&lane->link))
        return;
    if (lane->parked) {
        sched_tenant_t *t = lane->flow->key.tenant;
        queue_remove (&t->parked, &lane->link);
        lane->parked = false;
    }
    else
        queue_remove (&lane->flow->key.model->active[lane->level], &lane->link);
}

/*  Earliest deadline first: req goes after the last request due no later.
    The walk starts at the back, so when a tenant's requests share one
    timeout (the usual case) it stops at once: O(1); O(lane) worst case.   */
static void
s_lane_insert_edf (sched_lane_t *lane, request_t *req)
{
    qnode_t *at = queue_back (&lane->reqs);
    while (at && ENTRY (at, request_t, sched.lane_link)->deadline_us > req->deadline_us) {
        qnode_t *prev = at->prev;
        at = prev == &lane->reqs.head ? NULL : prev;
    }
    queue_insert_after (&lane->reqs, at ? at : &lane->reqs.head, &req->sched.lane_link);
}

static void
s_lane_push (sched_t *self, sched_lane_t *lane, request_t *req, bool front)
{
    if (lane->flow->key.tenant->conf.edf)
        s_lane_insert_edf (lane, req);
    else
    if (front)
        queue_push_front (&lane->reqs, &req->sched.lane_link);
    else
        queue_push_back (&lane->reqs, &req->sched.lane_link);
    req->sched.lane = lane;
    lane->flow->queued++;
    if (!qnode_linked (&lane->link)) {
        lane->deficit = 0;
        queue_push_back (&lane->flow->key.model->active[lane->level], &lane->link);
    }
    (void) self;
}

/*  Takes req out of its lane; the lane leaves its ring when empty.        */
static void
s_lane_pop (sched_lane_t *lane, request_t *req)
{
    queue_remove (&lane->reqs, &req->sched.lane_link);
    req->sched.lane = NULL;
    lane->flow->queued--;
    if (queue_length (&lane->reqs) == 0) {
        s_lane_unlink (lane);
        lane->deficit = 0;
    }
}

static request_t *
s_lane_front (const sched_lane_t *lane)
{
    qnode_t *node = queue_front (&lane->reqs);
    return node ? ENTRY (node, request_t, sched.lane_link) : NULL;
}

/* ---------------------------------------------------------------------- */
/*  Admission and bounds                                                    */

static uint32_t
s_clamp_ms (double ms)
{
    if (!(ms >= RETRY_MIN_MS))
        return RETRY_MIN_MS;
    if (ms > RETRY_MAX_MS)
        return RETRY_MAX_MS;
    return (uint32_t) ceil (ms);
}

/*  How long the queue ahead takes to drain at the recent dispatch rate.   */
static uint32_t
s_drain_estimate (const sched_t *self, size_t ahead)
{
    if (self->interval_us <= 0)
        return RETRY_DEFAULT_MS;
    return s_clamp_ms ((double) (ahead ? ahead : 1) * self->interval_us / 1000);
}

static sched_tenant_t *
s_tenant_for (sched_t *self, llmq_str_t name)
{
    char key[LLMQ_MAX_NAME + 1];
    if (name.len == 0 || name.len > LLMQ_MAX_NAME)
        strcpy (key, SCHED_DEFAULT_TENANT);
    else {
        memcpy (key, name.ptr, name.len);
        key[name.len] = 0;
    }
    sched_tenant_t *t = s_index_get (self, key);
    if (t)
        return t;
    /*  The tenant is the client's claim: past this many, new names share
        the default tenant's record, so made-up names cannot grow memory
        without bound (they still get the default limits, together).      */
    if (self->index_used >= SCHED_MAX_TENANTS)
        return s_index_get (self, SCHED_DEFAULT_TENANT);
    return s_tenant_new (self, key, &self->conf.defaults, false);
}

int
sched_admit (sched_t *self, request_t *req, const llmq_wire_request_t *msg,
             uint64_t now_us, sched_verdict_t *verdict)
{
    self->now_us = now_us;
    verdict->code = LLMQ_ERR_NONE;
    verdict->retry_after_ms = 0;
    verdict->message = NULL;
    sched_tenant_t *t = s_tenant_for (self, msg->tenant);
    if (!t) {
        verdict->code = LLMQ_ERR_INTERNAL;
        verdict->message = "broker out of memory";
        return -1;
    }
    sched_req_t *s = &req->sched;
    s->tenant = t;
    s->priority = (uint8_t) (msg->priority < SCHED_LEVELS ? msg->priority : LLMQ_PRIO_NORMAL);
    s->level = s->priority;
    s->bytes = (uint32_t) (msg->raw_size > UINT32_MAX ? UINT32_MAX : msg->raw_size);
    uint64_t est = msg->raw_size / BYTES_PER_TOKEN
                 + (msg->has_max_tokens ? msg->max_tokens : self->conf.default_max_tokens);
    s->est_tokens = est > UINT32_MAX ? UINT32_MAX : (uint32_t) est;
    if (t->conf.mode != SCHED_MODE_REJECT || !t->rated)
        return 0;
    uint64_t wait = bucket_wait_us (&t->rps, 1, now_us);
    uint64_t w = bucket_wait_us (&t->rpm, 1, now_us);
    wait = w > wait ? w : wait;
    w = bucket_wait_us (&t->tpm, s->est_tokens, now_us);
    wait = w > wait ? w : wait;
    if (wait) {
        t->rate_limited++;
        verdict->code = LLMQ_ERR_RATE_LIMITED;
        verdict->message = "tenant over its rate limit";
        verdict->retry_after_ms = s_clamp_ms ((double) wait / 1000);
        return -1;
    }
    bucket_take (&t->rps, 1, now_us);
    bucket_take (&t->rpm, 1, now_us);
    bucket_take (&t->tpm, s->est_tokens, now_us);
    s->rate_taken = true;
    return 0;
}

static request_t *
s_newest_at (const sched_t *self, int level)
{
    qnode_t *node = queue_back (&self->age[level]);
    return node ? ENTRY (node, request_t, sched.age_link) : NULL;
}

int
sched_room (sched_t *self, const request_t *req, request_t **victim,
            sched_verdict_t *verdict)
{
    *victim = NULL;
    verdict->code = LLMQ_ERR_NONE;
    verdict->retry_after_ms = 0;
    verdict->message = NULL;
    const sched_tenant_t *t = req->sched.tenant;
    const sched_tenant_conf_t *c = &t->conf;
    if (t->bounded
    &&  ((c->max_queued && t->queued >= c->max_queued)
         || (c->max_queued_bytes && t->queued_bytes + req->sched.bytes > c->max_queued_bytes))) {
        verdict->code = LLMQ_ERR_OVERLOADED;
        verdict->message = "tenant queue is full";
        verdict->retry_after_ms = s_drain_estimate (self, self->queued);
        return -1;
    }
    bool full = self->queued >= self->max_queue
             || (self->max_queue_bytes
                 && self->queued_bytes + req->sched.bytes > self->max_queue_bytes);
    if (!full)
        return 0;
    /*  Shed the least urgent work, newest first (it has waited least),
        but only for something more urgent than itself.                   */
    for (int level = LLMQ_PRIO_BATCH; level >= LLMQ_PRIO_LOW; level--)
        if (req->sched.level < level && (*victim = s_newest_at (self, level)))
            break;
    verdict->code = LLMQ_ERR_OVERLOADED;
    verdict->message = "broker queue is full";
    verdict->retry_after_ms = s_drain_estimate (self, self->queued);
    return -1;
}

/* ---------------------------------------------------------------------- */
/*  Queueing                                                                */

static void
s_count (sched_t *self, request_t *req, int sign)
{
    sched_tenant_t *t = req->sched.tenant;
    if (sign > 0) {
        self->queued++;
        self->queued_bytes += req->sched.bytes;
        t->queued++;
        t->queued_bytes += req->sched.bytes;
    }
    else {
        self->queued--;
        self->queued_bytes -= req->sched.bytes;
        t->queued--;
        t->queued_bytes -= req->sched.bytes;
    }
}

static int
s_place (sched_t *self, request_t *req, bool front)
{
    sched_flow_t *flow = s_flow_get (self, req->sched.tenant, req->model);
    if (!flow)
        return -1;
    s_lane_push (self, &flow->lanes[req->sched.level], req, front);
    if (front)
        queue_push_front (&self->age[req->sched.level], &req->sched.age_link);
    else
        queue_push_back (&self->age[req->sched.level], &req->sched.age_link);
    return 0;
}

void
sched_enqueue (sched_t *self, request_t *req, bool front, uint64_t now_us)
{
    self->now_us = now_us;
    assert (req->sched.tenant && !req->sched.lane);
    /*  Back at the front (its worker was lost): it keeps the time it
        entered its level, so the arrival-order list stays in order.       */
    if (!front || !req->sched.level_us)
        req->sched.level_us = now_us;
    if (s_place (self, req, front)) {
        /*  No memory for a lane: the request still sits in its model's
            FIFO (models.h) and waits for its deadline; it is never lost.  */
        return;
    }
    s_count (self, req, +1);
}

static void
s_unplace (sched_t *self, request_t *req)
{
    sched_lane_t *lane = req->sched.lane;
    queue_remove (&self->age[req->sched.level], &req->sched.age_link);
    s_lane_pop (lane, req);
    s_flow_put (self, lane->flow);
}

void
sched_remove (sched_t *self, request_t *req)
{
    if (!req->sched.lane)
        return;
    s_unplace (self, req);
    s_count (self, req, -1);
}

/*  Moves requests that waited long enough at their level up one.          */
static void
s_age (sched_t *self, uint64_t now_us)
{
    for (int level = 1; level < SCHED_LEVELS; level++) {
        uint64_t after_us = (uint64_t) self->conf.aging_ms[level] * 1000;
        if (!after_us)
            continue;
        qnode_t *node;
        while ((node = queue_front (&self->age[level]))) {
            request_t *req = ENTRY (node, request_t, sched.age_link);
            if (req->sched.level_us + after_us > now_us)
                break;
            s_unplace (self, req);
            req->sched.level = (uint8_t) (level - 1);
            req->sched.level_us = now_us;
            self->aged++;
            if (s_place (self, req, false))
                s_count (self, req, -1);    /* out of memory: see enqueue  */
        }
    }
}

/* ---------------------------------------------------------------------- */
/*  Rates                                                                   */

static void
s_want_wake (sched_t *self, uint64_t when_us)
{
    if (!self->wake_us || when_us < self->wake_us)
        self->wake_us = when_us;
}

/*  0 when the tenant may send req now; else the time it may (UINT64_MAX:
    when one of its requests ends).                                         */
static uint64_t
s_tenant_blocked (sched_tenant_t *t, const request_t *req, uint64_t now_us)
{
    if (t->max_in_flight && t->in_flight >= t->max_in_flight)
        return UINT64_MAX;
    if (req->sched.rate_taken || !t->rated)
        return 0;
    uint64_t wait = bucket_wait_us (&t->rps, 1, now_us);
    uint64_t w = bucket_wait_us (&t->rpm, 1, now_us);
    wait = w > wait ? w : wait;
    w = bucket_wait_us (&t->tpm, req->sched.est_tokens, now_us);
    wait = w > wait ? w : wait;
    return wait ? now_us + wait : 0;
}

static struct sched_limits *
s_limits_of (sched_t *self, model_t *model)
{
    if (!model->limits)
        model->limits = s_limits_get (self, model->name, NULL);
    return model->limits;
}

/*  0 when the model may take one more request; else when it may (or
    UINT64_MAX: when one of its requests ends).                            */
static uint64_t
s_model_blocked (struct sched_limits *m, uint64_t now_us)
{
    if (m->conf.max_in_flight && m->in_flight >= m->conf.max_in_flight)
        return UINT64_MAX;
    if (now_us < m->aimd.pause_until_us)
        return m->aimd.pause_until_us;
    if (!aimd_allows (&m->aimd, m->in_flight, now_us))
        return UINT64_MAX;
    uint64_t wait = bucket_wait_us (&m->rpm, 1, now_us);
    /*  TPM per model is checked for one average request: the real cost is
        settled afterwards; blocking on the head request's estimate would
        let one huge request hold up a model's whole queue.                */
    uint64_t w = bucket_wait_us (&m->tpm, 1, now_us);
    wait = w > wait ? w : wait;
    return wait ? now_us + wait : 0;
}

static void
s_park (sched_t *self, sched_lane_t *lane, uint64_t until_us)
{
    sched_tenant_t *t = lane->flow->key.tenant;
    queue_remove (&lane->flow->key.model->active[lane->level], &lane->link);
    queue_push_back (&t->parked, &lane->link);
    lane->parked = true;
    t->deferred++;
    if (until_us != UINT64_MAX && (!t->wake_us || until_us < t->wake_us))
        t->wake_us = until_us;
    if (!qnode_linked (&t->parked_link))
        queue_push_back (&self->parked, &t->parked_link);
    if (until_us != UINT64_MAX)
        s_want_wake (self, until_us);
}

request_t *
sched_peek (sched_t *self, model_t *model, uint64_t now_us)
{
    self->now_us = now_us;
    s_age (self, now_us);
    if (queue_length (&model->queue) == 0)
        return NULL;
    struct sched_limits *m = s_limits_of (self, model);
    if (m) {
        uint64_t until = s_model_blocked (m, now_us);
        if (until) {
            if (until != UINT64_MAX)
                s_want_wake (self, until);
            return NULL;
        }
    }
    for (int level = 0; level < SCHED_LEVELS; level++) {
        qnode_t *node;
        while ((node = queue_front (&model->active[level]))) {
            sched_lane_t *lane = ENTRY (node, sched_lane_t, link);
            request_t *req = s_lane_front (lane);
            uint64_t until = s_tenant_blocked (lane->flow->key.tenant, req, now_us);
            if (until) {
                s_park (self, lane, until);
                continue;
            }
            if (lane->deficit <= 0)
                lane->deficit += (int32_t) lane->flow->key.tenant->weight;
            return req;
        }
    }
    return NULL;
}

void
sched_take (sched_t *self, request_t *req)
{
    sched_lane_t *lane = req->sched.lane;
    if (!lane)
        return;
    model_t *model = lane->flow->key.model;
    lane->deficit--;
    sched_remove (self, req);
    /*  Turn over: the lane goes to the back of its ring.                  */
    if (qnode_linked (&lane->link) && !lane->parked && lane->deficit <= 0) {
        queue_remove (&model->active[lane->level], &lane->link);
        queue_push_back (&model->active[lane->level], &lane->link);
    }
}

void
sched_charge (sched_t *self, request_t *req, uint64_t now_us)
{
    self->now_us = now_us;
    sched_req_t *s = &req->sched;
    sched_tenant_t *t = s->tenant;
    if (!t || s->in_flight)
        return;
    if (!s->rate_taken && t->rated) {
        bucket_take (&t->rps, 1, now_us);
        bucket_take (&t->rpm, 1, now_us);
        bucket_take (&t->tpm, s->est_tokens, now_us);
        s->rate_taken = true;
    }
    struct sched_limits *m = s_limits_of (self, req->model);
    if (m) {
        bucket_take (&m->rpm, 1, now_us);
        bucket_take (&m->tpm, s->est_tokens, now_us);
        m->in_flight++;
    }
    s->limits = m;
    t->in_flight++;
    t->dispatched++;
    s->in_flight = true;
    if (self->last_dispatch_us && now_us > self->last_dispatch_us) {
        double gap = (double) (now_us - self->last_dispatch_us);
        self->interval_us = self->interval_us > 0 ? 0.9 * self->interval_us + 0.1 * gap : gap;
    }
    self->last_dispatch_us = now_us;
}

/*  The tenant may have room again: let its lanes be looked at.            */
static void
s_tenant_freed (sched_t *self, sched_tenant_t *t, uint64_t now_us)
{
    if (queue_length (&t->parked))
        s_want_wake (self, now_us ? now_us : 1);
}

void
sched_release (sched_t *self, request_t *req, uint64_t now_us)
{
    self->now_us = now_us;
    sched_req_t *s = &req->sched;
    if (!s->in_flight)
        return;
    s->in_flight = false;
    s->tenant->in_flight--;
    s_tenant_freed (self, s->tenant, now_us);
    /*  No wake-up for the model's own cap: the broker dispatches the
        models of the worker that just got free, this one among them.      */
    if (s->limits)
        s->limits->in_flight--;
    /*  A request dispatched again must pay again (it is a new call).      */
    s->rate_taken = false;
}

aimd_change_t
sched_settle (sched_t *self, request_t *req, const llmq_usage_t *usage, uint64_t now_us)
{
    sched_req_t *s = &req->sched;
    if (!s->tenant)
        return AIMD_SAME;
    aimd_change_t change = AIMD_SAME;
    if (s->limits)
        change = aimd_success (&s->limits->aimd);
    double actual = (double) usage->prompt_tokens + usage->completion_tokens;
    if (actual <= 0)
        return change;          /* the backend reported no usage           */
    bucket_settle (&s->tenant->tpm, s->est_tokens, actual, now_us);
    if (s->limits)
        bucket_settle (&s->limits->tpm, s->est_tokens, actual, now_us);
    (void) self;
    return change;
}

aimd_change_t
sched_throttled (sched_t *self, request_t *req, uint32_t retry_after_ms, uint64_t now_us)
{
    struct sched_limits *m = req->sched.limits ? req->sched.limits
                                               : s_limits_of (self, req->model);
    if (!m)
        return AIMD_SAME;
    aimd_change_t change = aimd_throttle (&m->aimd, m->in_flight, retry_after_ms, now_us);
    s_want_wake (self, m->aimd.pause_until_us);
    return change;
}

uint32_t
sched_aimd_cap (const sched_t *self, const request_t *req)
{
    (void) self;
    const struct sched_limits *m = req->sched.limits ? req->sched.limits
                                                     : req->model ? req->model->limits : NULL;
    return m ? aimd_cap (&m->aimd) : 0;
}

uint64_t
sched_wake_us (const sched_t *self)
{
    return self->wake_us;
}

void
sched_unpark (sched_t *self, uint64_t now_us)
{
    self->now_us = now_us;
    self->wake_us = 0;
    qnode_t *node = queue_front (&self->parked);
    while (node) {
        qnode_t *next = queue_next (&self->parked, node);
        sched_tenant_t *t = ENTRY (node, sched_tenant_t, parked_link);
        bool in_flight_ok = !t->max_in_flight || t->in_flight < t->max_in_flight;
        if (in_flight_ok && t->wake_us <= now_us) {
            qnode_t *ln;
            while ((ln = queue_pop_front (&t->parked))) {
                sched_lane_t *lane = ENTRY (ln, sched_lane_t, link);
                lane->parked = false;
                queue_push_back (&lane->flow->key.model->active[lane->level], &lane->link);
            }
            t->wake_us = 0;
            queue_remove (&self->parked, &t->parked_link);
        }
        else
        if (in_flight_ok || t->wake_us)
            s_want_wake (self, t->wake_us ? t->wake_us : now_us);
        node = next;
    }
}

/* ---------------------------------------------------------------------- */
/*  Figures                                                                 */

size_t sched_queued (const sched_t *self) { return self->queued; }
size_t sched_queued_bytes (const sched_t *self) { return self->queued_bytes; }
size_t sched_tenants (const sched_t *self) { return zhashx_size (self->tenants); }
uint64_t sched_shed (const sched_t *self) { return self->shed; }
uint64_t sched_aged (const sched_t *self) { return self->aged; }

const char *
sched_tenant_name (const request_t *req)
{
    return req->sched.tenant ? req->sched.tenant->name : SCHED_DEFAULT_TENANT;
}

void
sched_count_shed (sched_t *self)
{
    self->shed++;
}

bool
sched_tenant_info (sched_t *self, bool first, sched_tenant_info_t *info)
{
    sched_tenant_t *t = first ? zhashx_first (self->tenants) : zhashx_next (self->tenants);
    if (!t)
        return false;
    info->name = t->name;
    info->weight = t->weight;
    info->queued = t->queued;
    info->in_flight = t->in_flight;
    info->dispatched = t->dispatched;
    info->rate_limited = t->rate_limited;
    info->deferred = t->deferred;
    return true;
}

bool
sched_model_info (sched_t *self, bool first, uint64_t now_us, sched_model_info_t *info)
{
    struct sched_limits *m = first ? zhashx_first (self->limits) : zhashx_next (self->limits);
    if (!m)
        return false;
    info->name = m->name;
    info->in_flight = m->in_flight;
    info->aimd_cap = aimd_cap (&m->aimd);
    info->throttled = m->aimd.throttled;
    info->decreases = m->aimd.decreases;
    info->paused = now_us < m->aimd.pause_until_us;
    return true;
}

/*  Tenants listed in a snapshot at most: a snapshot with 10,000 tenants
    would be larger than it is useful (the monitoring labels fold too).   */
#define STATS_MAX_TENANTS 100

void
sched_stats_write (sched_t *self, llmq_writer_t *w, uint64_t now_us)
{
    llmq_writer_str (w, "scheduler");
    llmq_writer_map (w, 7);
    llmq_writer_kv_uint (w, "queued", self->queued);
    llmq_writer_kv_uint (w, "queued_bytes", self->queued_bytes);
    llmq_writer_kv_uint (w, "shed", self->shed);
    llmq_writer_kv_uint (w, "aged", self->aged);
    llmq_writer_kv_uint (w, "tenant_count", zhashx_size (self->tenants));
    size_t n = zhashx_size (self->tenants);
    llmq_writer_str (w, "tenants");
    llmq_writer_map (w, (uint32_t) (n < STATS_MAX_TENANTS ? n : STATS_MAX_TENANTS));
    sched_tenant_info_t t;
    size_t i = 0;
    for (bool more = sched_tenant_info (self, true, &t); more && i < STATS_MAX_TENANTS;
         more = sched_tenant_info (self, false, &t), i++) {
        llmq_writer_str (w, t.name);
        llmq_writer_map (w, 6);
        llmq_writer_kv_uint (w, "weight", t.weight);
        llmq_writer_kv_uint (w, "queued", t.queued);
        llmq_writer_kv_uint (w, "in_flight", t.in_flight);
        llmq_writer_kv_uint (w, "dispatched", t.dispatched);
        llmq_writer_kv_uint (w, "rate_limited", t.rate_limited);
        llmq_writer_kv_uint (w, "deferred", t.deferred);
    }
    llmq_writer_str (w, "models");
    llmq_writer_map (w, (uint32_t) zhashx_size (self->limits));
    sched_model_info_t m;
    for (bool more = sched_model_info (self, true, now_us, &m); more;
         more = sched_model_info (self, false, now_us, &m)) {
        llmq_writer_str (w, m.name);
        llmq_writer_map (w, 5);
        llmq_writer_kv_uint (w, "in_flight", m.in_flight);
        llmq_writer_kv_uint (w, "aimd_cap", m.aimd_cap);
        llmq_writer_kv_uint (w, "throttled", m.throttled);
        llmq_writer_kv_uint (w, "decreases", m.decreases);
        llmq_writer_str (w, "paused");
        llmq_writer_bool (w, m.paused);
    }
}
