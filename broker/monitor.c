/*  monitor.c -- per-request monitoring records; see monitor.h.  */
#include "monitor.h"

#include <stdlib.h>
#include <string.h>
/*  Inlined: through the shared library a short-key XXH3 costs ~180
    instructions of dispatch; inlined, a few dozen.                        */
#define XXH_INLINE_ALL
#include <xxhash.h>

/*  A slot of a label set's index: open addressing, linear probing, never
    deleted from (labels live as long as the monitor). Cheaper than a
    general hash table on the request path: one XXH3 of the name, usually
    one probe, one memcmp, and no copy of the name.                        */
typedef struct {
    uint64_t hash;                  /* XXH3 of the name                    */
    uint32_t index;                 /* label index + 1; 0 = empty slot     */
} s_slot_t;

/*  One kind of label (models or tenants): index 0 is "other".             */
typedef struct {
    monitor_label_t *labels;        /* [0] = other, then first come        */
    size_t *name_len;               /* strlen of each label's name         */
    uint32_t count;                 /* labels in use, other included       */
    uint32_t alloc;                 /* max_labels + 1                      */
    s_slot_t *slots;                /* name -> index, load <= 1/2          */
    uint32_t mask;                  /* slots - 1 (a power of two)          */
    bool histograms;                /* labels get latency histograms       */
} s_labelset_t;

struct monitor {
    s_labelset_t models;            /* by model                            */
    s_labelset_t tenants;           /* by tenant                           */
    const char *last_model;         /* name pointer of the last model seen */
    uint16_t last_model_label;      /* and its label (checked by strcmp)   */
    uint16_t default_tenant;        /* label of requests without a tenant  */
    monitor_counts_t priorities[LLMQ_PRIO__COUNT];  /* by priority         */
    /*  The recent window is derived, not recorded twice: the sum of the
        models' cumulative histograms now, minus that sum as it was when
        the previous half began (marks[0]; marks[1] is the sum when the
        current half began). Recording then costs one histogram per
        metric; a snapshot pays O(labels x buckets) instead.               */
    histogram_t marks[2][MON__COUNT];   /* [older], [newer] sums           */
    uint64_t half_max[2][MON__COUNT];   /* largest sample: [previous], [current] half */
    uint64_t window_us;             /* length of a half                    */
    uint64_t window_start_us;       /* when the current half began         */
    bool has_previous;              /* the previous half holds a full one  */
};

static const char *s_metric_names [MON__COUNT] = {
    "queue", "ttft", "tpot", "total", "broker"
};

const char *
monitor_metric_name (monitor_metric_t metric)
{
    return metric < MON__COUNT ? s_metric_names [metric] : "unknown";
}

static void
s_label_free (monitor_label_t *label)
{
    free (label->name);
    for (int m = 0; m < MON__COUNT; m++)
        histogram_destroy (&label->latency [m]);
}

/*  Sets up label as name; -1 when out of memory.                          */
static int
s_label_init (s_labelset_t *set, monitor_label_t *label, const char *name)
{
    memset (label, 0, sizeof *label);
    label->name = strdup (name);
    if (!label->name)
        return -1;
    for (int m = 0; set->histograms && m < MON__COUNT; m++)
        if (!(label->latency [m] = histogram_new ())) {
            s_label_free (label);
            return -1;
        }
    return 0;
}

static int
s_labelset_init (s_labelset_t *set, uint32_t max_labels, bool histograms)
{
    set->alloc = max_labels + 1;
    set->histograms = histograms;
    set->labels = calloc (set->alloc, sizeof *set->labels);
    set->name_len = calloc (set->alloc, sizeof *set->name_len);
    uint32_t slots = 8;
    while (slots < 2 * set->alloc)
        slots *= 2;
    set->slots = calloc (slots, sizeof *set->slots);
    set->mask = slots - 1;
    if (!set->labels || !set->name_len || !set->slots
    ||  s_label_init (set, &set->labels [0], MONITOR_OTHER))
        return -1;
    set->name_len [0] = strlen (MONITOR_OTHER);
    set->count = 1;
    return 0;
}

static void
s_labelset_free (s_labelset_t *set)
{
    for (uint32_t i = 0; set->labels && i < set->count; i++)
        s_label_free (&set->labels [i]);
    free (set->labels);
    free (set->name_len);
    free (set->slots);
}

/*  The label of name (len bytes), added when there is room; "other" (0)
    past the limit or when out of memory.                                  */
static uint16_t
s_labelset_get (s_labelset_t *set, const char *name, size_t len)
{
    if (len > LLMQ_MAX_NAME)
        len = LLMQ_MAX_NAME;
    uint64_t hash = XXH3_64bits (name, len);
    uint32_t at = (uint32_t) hash & set->mask;
    for (; set->slots [at].index; at = (at + 1) & set->mask) {
        uint32_t index = set->slots [at].index - 1;
        if (set->slots [at].hash == hash && set->name_len [index] == len
        &&  memcmp (set->labels [index].name, name, len) == 0)
            return (uint16_t) index;
    }
    /*  Not known: a new label while there is room ("other" past it). A
        name spelled "other" is the fold label itself: no second series.  */
    if (set->count >= set->alloc
    ||  (len == strlen (MONITOR_OTHER) && memcmp (name, MONITOR_OTHER, len) == 0))
        return 0;
    char key [LLMQ_MAX_NAME + 1];
    memcpy (key, name, len);
    key [len] = 0;
    uint32_t index = set->count;
    if (s_label_init (set, &set->labels [index], key))
        return 0;
    set->name_len [index] = len;
    set->slots [at].hash = hash;
    set->slots [at].index = index + 1;
    set->count++;
    return (uint16_t) index;
}

monitor_t *
monitor_new (uint32_t max_labels, uint32_t window_ms, uint64_t now_us)
{
    return monitor_new_known (max_labels, window_ms, now_us, NULL, 0, NULL, 0);
}

/*  Labels for max_labels names, or for all the known ones (plus extra)
    when they are more: a name from the config is never folded.           */
static uint32_t
s_room (uint32_t max_labels, size_t known)
{
    size_t room = known > max_labels ? known : max_labels;
    if (room < 1)
        room = 1;
    return room > UINT16_MAX - 1 ? UINT16_MAX - 1 : (uint32_t) room;
}

monitor_t *
monitor_new_known (uint32_t max_labels, uint32_t window_ms, uint64_t now_us,
                   const char *const *models, size_t n_models,
                   const char *const *tenants, size_t n_tenants)
{
    monitor_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (s_labelset_init (&self->models, s_room (max_labels, n_models), true)
    ||  s_labelset_init (&self->tenants, s_room (max_labels, n_tenants + 1), false)) {
        monitor_destroy (&self);
        return NULL;
    }
    self->default_tenant = s_labelset_get (&self->tenants, "default", 7);
    /*  Known names take their labels first, so that a burst of invented
        names before their first request cannot push them into "other".   */
    for (size_t i = 0; i < n_models; i++)
        if (models [i])
            s_labelset_get (&self->models, models [i], strlen (models [i]));
    for (size_t i = 0; i < n_tenants; i++)
        if (tenants [i])
            s_labelset_get (&self->tenants, tenants [i], strlen (tenants [i]));
    self->window_us = (uint64_t) (window_ms ? window_ms : 1) * 1000;
    self->window_start_us = now_us;
    return self;
}

void
monitor_destroy (monitor_t **self_p)
{
    monitor_t *self = *self_p;
    if (!self)
        return;
    s_labelset_free (&self->models);
    s_labelset_free (&self->tenants);
    free (self);
    *self_p = NULL;
}

void
monitor_accept (monitor_t *self, const char *model, llmq_str_t tenant,
                uint32_t priority, monitor_tag_t *tag)
{
    /*  Requests come in runs of the same model: the last one is checked
        first, by a string compare (its pointer alone could be a new model
        reusing freed memory), before hashing.                             */
    if (model == self->last_model
    &&  strcmp (self->models.labels [self->last_model_label].name, model) == 0)
        tag->model = self->last_model_label;
    else {
        tag->model = s_labelset_get (&self->models, model, strlen (model));
        self->last_model = model;
        self->last_model_label = tag->model;
    }
    if (tenant.ptr && tenant.len)
        tag->tenant = s_labelset_get (&self->tenants, tenant.ptr, tenant.len);
    else
        tag->tenant = self->default_tenant;
    tag->priority = (uint8_t) (priority < LLMQ_PRIO__COUNT ? priority : LLMQ_PRIO_NORMAL);
    self->models.labels [tag->model].counts.received++;
    self->tenants.labels [tag->tenant].counts.received++;
    self->priorities [tag->priority].received++;
}

static void
s_count_end (monitor_counts_t *counts, const monitor_end_t *end)
{
    if (end->code == LLMQ_ERR_NONE) {
        if (end->cached)
            counts->cached++;
        else
            counts->answered++;
        counts->prompt_tokens += end->prompt_tokens;
        counts->completion_tokens += end->completion_tokens;
    }
    else {
        counts->errors [end->code < LLMQ_ERR__COUNT ? end->code : LLMQ_ERR_INTERNAL]++;
        counts->error_total++;
    }
}

/*  The latencies of an answer, -1 in values[m] when not measured.        */
static void
s_latencies (const monitor_end_t *end, int64_t values [MON__COUNT])
{
    values [MON_QUEUE] = (int64_t) end->queue_us;
    values [MON_TTFT] = end->ttft_us ? (int64_t) end->ttft_us : -1;
    values [MON_TOTAL] = (int64_t) end->total_us;
    values [MON_BROKER] = (int64_t) end->broker_us;
    values [MON_TPOT] = -1;
    /*  OpenTelemetry's time per output token: the generation time after
        the first token, spread over the tokens that followed it.          */
    if (end->ttft_us && end->completion_tokens > 1 && end->total_us > end->ttft_us)
        values [MON_TPOT] = (int64_t) ((end->total_us - end->ttft_us)
                                       / (end->completion_tokens - 1));
}

void
monitor_refuse (monitor_t *self, llmq_str_t model, llmq_str_t tenant, uint32_t priority,
                uint32_t code)
{
    monitor_tag_t tag = {
        .model = model.ptr && model.len ? s_labelset_get (&self->models, model.ptr, model.len)
                                        : 0,
        .tenant = tenant.ptr && tenant.len
                  ? s_labelset_get (&self->tenants, tenant.ptr, tenant.len)
                  : self->default_tenant,
        .priority = (uint8_t) (priority < LLMQ_PRIO__COUNT ? priority : LLMQ_PRIO_NORMAL)
    };
    /*  Received and ended at once, so that received = answered + cached +
        errors + in progress holds for every label.                        */
    self->models.labels [tag.model].counts.received++;
    self->tenants.labels [tag.tenant].counts.received++;
    self->priorities [tag.priority].received++;
    monitor_end_t end = { .code = code ? code : LLMQ_ERR_INTERNAL };
    monitor_end (self, &tag, &end);
}

void
monitor_end (monitor_t *self, const monitor_tag_t *tag, const monitor_end_t *end)
{
    monitor_label_t *model = &self->models.labels [tag->model];
    s_count_end (&model->counts, end);
    s_count_end (&self->tenants.labels [tag->tenant].counts, end);
    s_count_end (&self->priorities [tag->priority], end);
    if (!end->has_latency)
        return;
    int64_t values [MON__COUNT];
    s_latencies (end, values);
    for (int m = 0; m < MON__COUNT; m++)
        if (values [m] >= 0) {
            histogram_record (model->latency [m], (uint64_t) values [m]);
            if ((uint64_t) values [m] > self->half_max [1][m])
                self->half_max [1][m] = (uint64_t) values [m];
        }
}

void
monitor_tick (monitor_t *self, uint64_t now_us)
{
    if (now_us - self->window_start_us < self->window_us)
        return;
    /*  The current half becomes the previous one: the newer mark becomes
        the older, the sum now the newer. O(labels x buckets x metrics),
        once per window.                                                   */
    for (int m = 0; m < MON__COUNT; m++) {
        self->marks [0][m] = self->marks [1][m];
        histogram_reset (&self->marks [1][m]);
        for (uint32_t i = 0; i < self->models.count; i++)
            histogram_merge (&self->marks [1][m], self->models.labels [i].latency [m]);
        self->half_max [0][m] = self->half_max [1][m];
        self->half_max [1][m] = 0;
    }
    self->window_start_us = now_us;
    self->has_previous = true;
}

/*  Every request is counted under exactly one model label ("other"
    included), so the totals are their sum: O(models x codes), on read,
    instead of one more set of increments per request.                     */
monitor_counts_t
monitor_totals (const monitor_t *self)
{
    monitor_counts_t t = { 0 };
    for (uint32_t i = 0; i < self->models.count; i++) {
        const monitor_counts_t *c = &self->models.labels [i].counts;
        t.received += c->received;
        t.answered += c->answered;
        t.cached += c->cached;
        for (uint32_t code = 0; code < LLMQ_ERR__COUNT; code++)
            t.errors [code] += c->errors [code];
        t.error_total += c->error_total;
        t.prompt_tokens += c->prompt_tokens;
        t.completion_tokens += c->completion_tokens;
    }
    return t;
}

uint32_t
monitor_models (const monitor_t *self)
{
    return self->models.count;
}

const monitor_label_t *
monitor_model (const monitor_t *self, uint32_t index)
{
    return index < self->models.count ? &self->models.labels [index] : NULL;
}

uint32_t
monitor_tenants (const monitor_t *self)
{
    return self->tenants.count;
}

const monitor_label_t *
monitor_tenant (const monitor_t *self, uint32_t index)
{
    return index < self->tenants.count ? &self->tenants.labels [index] : NULL;
}

const monitor_counts_t *
monitor_priority (const monitor_t *self, uint32_t priority)
{
    return priority < LLMQ_PRIO__COUNT ? &self->priorities [priority] : NULL;
}

void
monitor_window (const monitor_t *self, monitor_metric_t metric, histogram_t *out)
{
    histogram_reset (out);
    for (uint32_t i = 0; i < self->models.count; i++)
        histogram_merge (out, self->models.labels [i].latency [metric]);
    histogram_subtract (out, &self->marks [0][metric]);
    out->max = self->half_max [0][metric] > self->half_max [1][metric]
             ? self->half_max [0][metric] : self->half_max [1][metric];
}

uint64_t
monitor_window_ms (const monitor_t *self, uint64_t now_us)
{
    uint64_t span = now_us - self->window_start_us;
    if (self->has_previous)
        span += self->window_us;
    return span / 1000;
}

const char *
monitor_tag_model (const monitor_t *self, const monitor_tag_t *tag)
{
    return self->models.labels [tag->model].name;
}

const char *
monitor_tag_tenant (const monitor_t *self, const monitor_tag_t *tag)
{
    return self->tenants.labels [tag->tenant].name;
}
