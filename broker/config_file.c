/*  config_file.c -- the broker's YAML configuration file; see config_file.h.

    libyaml loads the whole document into a node tree (small files: the
    simplest correct way), and each section is walked with the line of
    every node at hand for messages. Values are checked here, once, so
    the broker and scheduler trust what they get.
*/
#include "config_file.h"

#include <czmq.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/*  Settings of the `broker:` section: the flags, by the field they set.   */
typedef enum { K_STR, K_U32, K_SIZE, K_I64, K_BOOL } kind_t;
typedef struct {
    const char *key;                /* YAML key (flag name with _)         */
    kind_t kind;                    /* field type                          */
    size_t offset;                  /* in broker_config_t                  */
    uint64_t min, max;              /* range of numbers                    */
} bkey_t;

#define BK(key, kind, field, min, max) { key, kind, offsetof (broker_config_t, field), min, max }
static const bkey_t s_bkeys [] = {
    BK ("clients",            K_STR,  clients_ep, 0, 0),
    BK ("workers",            K_STR,  workers_ep, 0, 0),
    BK ("stats",              K_STR,  stats_ep, 0, 0),
    BK ("request_timeout_ms", K_U32,  request_timeout_ms, 1, UINT32_MAX),
    BK ("max_timeout_ms",     K_U32,  max_timeout_ms, 1, UINT32_MAX),
    BK ("no_worker_grace_ms", K_U32,  no_worker_grace_ms, 0, UINT32_MAX),
    BK ("max_attempts",       K_U32,  max_attempts, 1, UINT32_MAX),
    BK ("max_queue",          K_SIZE, max_queue, 0, SIZE_MAX),
    BK ("max_queue_bytes",    K_SIZE, max_queue_bytes, 0, SIZE_MAX),
    BK ("max_msg_size",       K_I64,  max_msg_size, 64, INT64_MAX),
    BK ("heartbeat_ms",       K_U32,  heartbeat_ms, 1, 3600000),
    BK ("liveness",           K_U32,  liveness, 1, 1000),
    BK ("shutdown_grace_ms",  K_U32,  shutdown_grace_ms, 0, UINT32_MAX),
    BK ("replay_window_ms",   K_U32,  replay_window_ms, 0, UINT32_MAX),
    BK ("replay_max_bytes",   K_SIZE, replay_max_bytes, 0, SIZE_MAX),
    BK ("verbose",            K_BOOL, verbose, 0, 1),
};
#define N_BKEYS (sizeof s_bkeys / sizeof s_bkeys[0])

/*  The `monitoring:` section: the monitoring flags (README, "Monitoring"). */
static const bkey_t s_mkeys [] = {
    BK ("stats_pub",          K_STR,  stats_pub_ep, 0, 0),
    BK ("stats_interval_ms",  K_U32,  stats_interval_ms, 10, 3600000),
    BK ("metrics_listen",     K_STR,  metrics_listen, 0, 0),
    BK ("log_format",         K_STR,  log_format, 0, 0),
    BK ("metrics_max_labels", K_U32,  metrics_max_labels, 1, 10000),
    BK ("latency_window_ms",  K_U32,  latency_window_ms, 1000, 86400000),
    BK ("no_monitoring",      K_BOOL, no_monitoring, 0, 1),
    BK ("log_prompt_sizes",   K_BOOL, log_prompt_sizes, 0, 1),
};
#define N_MKEYS (sizeof s_mkeys / sizeof s_mkeys[0])

/*  `cache:` keys are the cache flags without "cache-" (cache_config.h),
    checked and applied by cache_config_set.                               */
#define MAX_CACHE_KEYS 16

/*  Sections kept as free-form scalars for the features that own them.     */
static const char *s_free_sections [] = { "security", "reliability" };

struct config {
    broker_config_t broker;         /* values of the broker keys           */
    bool set[N_BKEYS];              /* which the file sets                 */
    bool mset[N_MKEYS];             /* which monitoring keys it sets       */
    struct { char *name; char *value; } cache[MAX_CACHE_KEYS];
                                    /* cache settings, flag name + value   */
    size_t n_cache;
    zlistx_t *strings;              /* strings broker points to (owned)    */
    sched_config_t sched;           /* scheduler settings (owned lists)    */
    zhashx_t *values;               /* dotted path -> scalar text          */
};

typedef struct {
    const char *name;               /* file name for messages              */
    yaml_document_t *doc;           /* the tree                            */
    char *error;                    /* where the message goes              */
    size_t error_size;
    config_t *cfg;                  /* being filled                        */
} parse_t;

/*  Records "name:line: message"; returns -1 for `return s_fail (...)`.    */
static int
s_fail (parse_t *p, const yaml_node_t *node, const char *format, ...)
{
    char text [200];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    snprintf (p->error, p->error_size, "%s:%zu: %s", p->name,
              node ? (size_t) node->start_mark.line + 1 : (size_t) 1, text);
    return -1;
}

static yaml_node_t *
s_node (parse_t *p, int index)
{
    return yaml_document_get_node (p->doc, index);
}

static const char *
s_scalar (const yaml_node_t *node)
{
    return node->type == YAML_SCALAR_NODE ? (const char *) node->data.scalar.value : NULL;
}

static int
s_want_scalar (parse_t *p, const yaml_node_t *node, const char *key, const char **text)
{
    if (!(*text = s_scalar (node)))
        return s_fail (p, node, "'%s' wants a single value", key);
    return 0;
}

static int
s_uint (parse_t *p, const yaml_node_t *node, const char *key, uint64_t min, uint64_t max,
        uint64_t *out)
{
    const char *text;
    if (s_want_scalar (p, node, key, &text))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull (text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || v < min || v > max)
        return s_fail (p, node, "'%s' wants a whole number from %llu to %llu, not '%s'",
                       key, (unsigned long long) min, (unsigned long long) max, text);
    *out = v;
    return 0;
}

static int
s_u32 (parse_t *p, const yaml_node_t *node, const char *key, uint32_t min, uint32_t *out)
{
    uint64_t v;
    if (s_uint (p, node, key, min, UINT32_MAX, &v))
        return -1;
    *out = (uint32_t) v;
    return 0;
}

static int
s_size (parse_t *p, const yaml_node_t *node, const char *key, size_t *out)
{
    uint64_t v;
    if (s_uint (p, node, key, 0, SIZE_MAX, &v))
        return -1;
    *out = (size_t) v;
    return 0;
}

static int
s_rate (parse_t *p, const yaml_node_t *node, const char *key, double *out)
{
    const char *text;
    if (s_want_scalar (p, node, key, &text))
        return -1;
    char *end;
    errno = 0;
    double v = strtod (text, &end);
    if (errno || end == text || *end || !isfinite (v) || v < 0)
        return s_fail (p, node, "'%s' wants a number >= 0, not '%s'", key, text);
    *out = v;
    return 0;
}

static int
s_bool (parse_t *p, const yaml_node_t *node, const char *key, bool *out)
{
    const char *text;
    if (s_want_scalar (p, node, key, &text))
        return -1;
    if (!strcmp (text, "true") || !strcmp (text, "yes") || !strcmp (text, "on"))
        *out = true;
    else
    if (!strcmp (text, "false") || !strcmp (text, "no") || !strcmp (text, "off"))
        *out = false;
    else
        return s_fail (p, node, "'%s' wants true or false, not '%s'", key, text);
    return 0;
}

static int
s_strdup (parse_t *p, const yaml_node_t *node, const char *key, char **out)
{
    const char *text;
    if (s_want_scalar (p, node, key, &text))
        return -1;
    if (!*text || strlen (text) > LLMQ_MAX_NAME)
        return s_fail (p, node, "'%s' wants a name of 1 to %d bytes", key, LLMQ_MAX_NAME);
    if (!(*out = strdup (text)))
        return s_fail (p, node, "out of memory");
    return 0;
}

/*  A list of names: `[a, b]` or one name.                                 */
static int
s_names (parse_t *p, const yaml_node_t *node, const char *key, char ***list, size_t *n)
{
    if (node->type == YAML_SCALAR_NODE) {
        if (!(*list = calloc (1, sizeof **list)))
            return s_fail (p, node, "out of memory");
        *n = 1;
        return s_strdup (p, node, key, &(*list)[0]);
    }
    if (node->type != YAML_SEQUENCE_NODE)
        return s_fail (p, node, "'%s' wants a list of names", key);
    size_t count = (size_t) (node->data.sequence.items.top - node->data.sequence.items.start);
    if (!(*list = calloc (count ? count : 1, sizeof **list)))
        return s_fail (p, node, "out of memory");
    for (size_t i = 0; i < count; i++) {
        *n = i + 1;
        if (s_strdup (p, s_node (p, node->data.sequence.items.start[i]), key, &(*list)[i]))
            return -1;
    }
    *n = count;
    return 0;
}

/*  Iterates a mapping: calls fn for each key/value; stops on -1.          */
typedef int (pair_fn) (parse_t *p, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *arg);

static int
s_each (parse_t *p, yaml_node_t *map, const char *what, pair_fn *fn, void *arg)
{
    if (map->type == YAML_SCALAR_NODE && !*s_scalar (map))
        return 0;               /* `section:` with nothing under it        */
    if (map->type != YAML_MAPPING_NODE)
        return s_fail (p, map, "'%s' wants a mapping of keys to values", what);
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *kn = s_node (p, pair->key);
        yaml_node_t *vn = s_node (p, pair->value);
        const char *key = s_scalar (kn);
        if (!key)
            return s_fail (p, kn, "keys in '%s' must be plain names", what);
        if (fn (p, key, kn, vn, arg))
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------- */

/*  A key of a table-driven section (broker, monitoring).                  */
static int
s_table_pair (parse_t *p, const char *section, const bkey_t *table, size_t n, bool *set,
              const char *key, yaml_node_t *kn, yaml_node_t *vn)
{
    config_t *cfg = p->cfg;
    for (size_t i = 0; i < n; i++) {
        const bkey_t *k = &table[i];
        if (strcmp (key, k->key))
            continue;
        char *field = (char *) &cfg->broker + k->offset;
        uint64_t v;
        const char *text;
        switch (k->kind) {
            case K_STR:
                if (s_want_scalar (p, vn, key, &text))
                    return -1;
                if (!strcmp (key, "log_format") && strcmp (text, "off")
                &&  strcmp (text, "json") && strcmp (text, "logfmt"))
                    return s_fail (p, vn, "'log_format' is off, json or logfmt, not '%s'", text);
                char *copy = strdup (text);
                if (!copy || !zlistx_add_end (cfg->strings, copy)) {
                    free (copy);
                    return s_fail (p, vn, "out of memory");
                }
                memcpy (field, &copy, sizeof copy);
                break;
            case K_U32:
                if (s_uint (p, vn, key, k->min, k->max, &v))
                    return -1;
                *(uint32_t *) (void *) field = (uint32_t) v;
                break;
            case K_SIZE:
                if (s_uint (p, vn, key, k->min, k->max, &v))
                    return -1;
                *(size_t *) (void *) field = (size_t) v;
                break;
            case K_I64:
                if (s_uint (p, vn, key, k->min, k->max, &v))
                    return -1;
                *(int64_t *) (void *) field = (int64_t) v;
                break;
            case K_BOOL:
                if (s_bool (p, vn, key, (bool *) (void *) field))
                    return -1;
                break;
        }
        set[i] = true;
        return 0;
    }
    return s_fail (p, kn, "unknown key '%s.%s'", section, key);
}

static int
s_broker_pair (parse_t *p, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *arg)
{
    (void) arg;
    return s_table_pair (p, "broker", s_bkeys, N_BKEYS, p->cfg->set, key, kn, vn);
}

static int
s_monitoring_pair (parse_t *p, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *arg)
{
    (void) arg;
    return s_table_pair (p, "monitoring", s_mkeys, N_MKEYS, p->cfg->mset, key, kn, vn);
}

static int
s_cache_pair (parse_t *p, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *arg)
{
    (void) arg;
    config_t *cfg = p->cfg;
    const char *text;
    if (s_want_scalar (p, vn, key, &text))
        return -1;
    if (cfg->n_cache == MAX_CACHE_KEYS)
        return s_fail (p, kn, "too many cache settings");
    char name [64];
    if ((size_t) snprintf (name, sizeof name, "cache-%s", key) >= sizeof name)
        return s_fail (p, kn, "unknown cache setting '%s'", key);
    for (char *c = name; *c; c++)
        if (*c == '_')
            *c = '-';
    /*  Checked now, on a scratch copy, so the error names the line.       */
    cache_config_t scratch;
    cache_config_defaults (&scratch);
    if (cache_config_set (&scratch, name, text))
        return s_fail (p, kn, "bad cache setting '%s: %s' (keys: memory, ttl_ms, "
                       "max_ttl_ms, policy, namespace, redis, redis_timeout_ms)", key, text);
    cfg->cache[cfg->n_cache].name = strdup (name);
    cfg->cache[cfg->n_cache].value = strdup (text);
    cfg->n_cache++;
    if (!cfg->cache[cfg->n_cache - 1].name || !cfg->cache[cfg->n_cache - 1].value)
        return s_fail (p, kn, "out of memory");
    return 0;
}

static int
s_tenant_pair (parse_t *p, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *arg)
{
    sched_tenant_conf_t *t = arg;
    if (!strcmp (key, "weight")) {
        uint64_t v;
        if (s_uint (p, vn, key, 1, 1000000, &v))
            return -1;
        t->weight = (uint32_t) v;
        return 0;
    }
    if (!strcmp (key, "mode")) {
        const char *text;
        if (s_want_scalar (p, vn, key, &text))
            return -1;
        if (!strcmp (text, "queue"))
            t->mode = SCHED_MODE_QUEUE;
        else
        if (!strcmp (text, "reject"))
            t->mode = SCHED_MODE_REJECT;
        else
            return s_fail (p, vn, "'mode' is queue or reject, not '%s'", text);
        return 0;
    }
    if (!strcmp (key, "order")) {
        const char *text;
        if (s_want_scalar (p, vn, key, &text))
            return -1;
        if (strcmp (text, "fifo") && strcmp (text, "edf"))
            return s_fail (p, vn, "'order' is fifo or edf, not '%s'", text);
        t->edf = !strcmp (text, "edf");
        return 0;
    }
    if (!strcmp (key, "rps"))    return s_rate (p, vn, key, &t->rps);
    if (!strcmp (key, "rpm"))    return s_rate (p, vn, key, &t->rpm);
    if (!strcmp (key, "burst"))  return s_rate (p, vn, key, &t->burst);
    if (!strcmp (key, "tpm"))    return s_rate (p, vn, key, &t->tpm);
    if (!strcmp (key, "max_in_flight"))    return s_u32 (p, vn, key, 0, &t->max_in_flight);
    if (!strcmp (key, "max_queued"))       return s_size (p, vn, key, &t->max_queued);
    if (!strcmp (key, "max_queued_bytes")) return s_size (p, vn, key, &t->max_queued_bytes);
    if (!strcmp (key, "models")) {
        if (t->models)
            return s_fail (p, kn, "'models' given twice");
        return s_names (p, vn, key, &t->models, &t->n_models);
    }
    return s_fail (p, kn, "unknown tenant setting '%s'", key);
}

static int
s_tenant_entry (parse_t *p, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *arg)
{
    (void) arg;
    sched_config_t *sc = &p->cfg->sched;
    if (!*key || strlen (key) > LLMQ_MAX_NAME)
        return s_fail (p, kn, "tenant names have 1 to %d bytes", LLMQ_MAX_NAME);
    for (size_t i = 0; i < sc->n_tenants; i++)
        if (!strcmp (sc->tenants[i].name, key))
            return s_fail (p, kn, "tenant '%s' given twice", key);
    sched_tenant_conf_t *list = realloc (sc->tenants, (sc->n_tenants + 1) * sizeof *list);
    if (!list)
        return s_fail (p, kn, "out of memory");
    sc->tenants = list;
    sched_tenant_conf_t *t = &list[sc->n_tenants];
    /*  A listed tenant starts from the defaults and overrides them.       */
    *t = sc->defaults;
    t->models = NULL;
    t->n_models = 0;
    t->name = strdup (key);
    if (!t->name)
        return s_fail (p, kn, "out of memory");
    sc->n_tenants++;
    return s_each (p, vn, key, s_tenant_pair, t);
}

static int
s_model_pair (parse_t *p, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *arg)
{
    sched_model_conf_t *m = arg;
    if (!strcmp (key, "max_in_flight")) return s_u32 (p, vn, key, 0, &m->max_in_flight);
    if (!strcmp (key, "rpm"))           return s_rate (p, vn, key, &m->rpm);
    if (!strcmp (key, "tpm"))           return s_rate (p, vn, key, &m->tpm);
    if (!strcmp (key, "fallbacks")) {
        if (m->fallbacks)
            return s_fail (p, kn, "'fallbacks' given twice");
        return s_names (p, vn, key, &m->fallbacks, &m->n_fallbacks);
    }
    return s_fail (p, kn, "unknown model setting '%s'", key);
}

static int
s_model_entry (parse_t *p, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *arg)
{
    (void) arg;
    sched_config_t *sc = &p->cfg->sched;
    if (!*key || strlen (key) > LLMQ_MAX_NAME)
        return s_fail (p, kn, "model names have 1 to %d bytes", LLMQ_MAX_NAME);
    for (size_t i = 0; i < sc->n_models; i++)
        if (!strcmp (sc->models[i].name, key))
            return s_fail (p, kn, "model '%s' given twice", key);
    sched_model_conf_t *list = realloc (sc->models, (sc->n_models + 1) * sizeof *list);
    if (!list)
        return s_fail (p, kn, "out of memory");
    sc->models = list;
    sched_model_conf_t *m = &list[sc->n_models];
    memset (m, 0, sizeof *m);
    if (!(m->name = strdup (key)))
        return s_fail (p, kn, "out of memory");
    sc->n_models++;
    return s_each (p, vn, key, s_model_pair, m);
}

static int
s_aging_pair (parse_t *p, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *arg)
{
    (void) arg;
    uint32_t level;
    if (llmq_priority_from_name (key, &level))
        return s_fail (p, kn, "unknown priority '%s' (critical, high, normal, low, batch)", key);
    if (level == LLMQ_PRIO_CRITICAL)
        return s_fail (p, kn, "critical is the top level: it cannot age");
    return s_u32 (p, vn, key, 0, &p->cfg->sched.aging_ms[level]);
}

static int
s_scheduler_pair (parse_t *p, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *arg)
{
    (void) arg;
    if (!strcmp (key, "aging_ms")) {
        /*  One number for every level that ages by default, or a map.     */
        if (vn->type == YAML_SCALAR_NODE) {
            uint32_t ms;
            if (s_u32 (p, vn, key, 0, &ms))
                return -1;
            for (int level = LLMQ_PRIO_HIGH; level <= LLMQ_PRIO_LOW; level++)
                p->cfg->sched.aging_ms[level] = ms;
            return 0;
        }
        return s_each (p, vn, key, s_aging_pair, NULL);
    }
    if (!strcmp (key, "default_max_tokens"))
        return s_u32 (p, vn, key, 1, &p->cfg->sched.default_max_tokens);
    return s_fail (p, kn, "unknown key 'scheduler.%s'", key);
}

/*  Free-form sections: every scalar under them kept by dotted path.       */
static int
s_keep (parse_t *p, const char *path, yaml_node_t *node)
{
    if (node->type == YAML_SCALAR_NODE) {
        char *copy = strdup (s_scalar (node));
        if (!copy)
            return s_fail (p, node, "out of memory");
        zhashx_update (p->cfg->values, path, copy);
        return 0;
    }
    if (node->type == YAML_SEQUENCE_NODE) {
        /*  Lists as "path.0", "path.1", ... and the count in "path".      */
        size_t count = (size_t) (node->data.sequence.items.top - node->data.sequence.items.start);
        for (size_t i = 0; i < count; i++) {
            char sub [512];
            snprintf (sub, sizeof sub, "%s.%zu", path, i);
            if (s_keep (p, sub, s_node (p, node->data.sequence.items.start[i])))
                return -1;
        }
        char *n = zsys_sprintf ("%zu", count);
        if (!n)
            return s_fail (p, node, "out of memory");
        zhashx_update (p->cfg->values, path, n);
        return 0;
    }
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        const char *key = s_scalar (s_node (p, pair->key));
        if (!key)
            return s_fail (p, s_node (p, pair->key), "keys must be plain names");
        char sub [512];
        if ((size_t) snprintf (sub, sizeof sub, "%s.%s", path, key) >= sizeof sub)
            return s_fail (p, s_node (p, pair->key), "key path too long");
        if (s_keep (p, sub, s_node (p, pair->value)))
            return -1;
    }
    return 0;
}

static int
s_top_pair (parse_t *p, const char *key, yaml_node_t *kn, yaml_node_t *vn, void *arg)
{
    (void) arg;
    if (!strcmp (key, "broker"))
        return s_each (p, vn, key, s_broker_pair, NULL);
    if (!strcmp (key, "scheduler"))
        return s_each (p, vn, key, s_scheduler_pair, NULL);
    if (!strcmp (key, "defaults"))
        return s_each (p, vn, key, s_tenant_pair, &p->cfg->sched.defaults);
    if (!strcmp (key, "tenants"))
        return s_each (p, vn, key, s_tenant_entry, NULL);
    if (!strcmp (key, "models"))
        return s_each (p, vn, key, s_model_entry, NULL);
    if (!strcmp (key, "monitoring"))
        return s_each (p, vn, key, s_monitoring_pair, NULL);
    if (!strcmp (key, "cache"))
        return s_each (p, vn, key, s_cache_pair, NULL);
    for (size_t i = 0; i < sizeof s_free_sections / sizeof s_free_sections[0]; i++)
        if (!strcmp (key, s_free_sections[i]))
            return s_keep (p, key, vn);
    return s_fail (p, kn, "unknown section '%s' (broker, monitoring, cache, scheduler, "
                   "defaults, tenants, models, security, reliability)", key);
}

/*  `defaults:` must come before `tenants:` to be inherited; a file that
    lists them the other way round would silently get other limits, so the
    defaults section is read first whatever its place.                     */
static int
s_walk (parse_t *p, yaml_node_t *root)
{
    if (!root)
        return 0;               /* empty file: all defaults                */
    if (root->type != YAML_MAPPING_NODE)
        return s_fail (p, root, "the file must be a mapping of sections");
    for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++) {
        const char *key = s_scalar (s_node (p, pair->key));
        if (key && !strcmp (key, "defaults")
        &&  s_top_pair (p, key, s_node (p, pair->key), s_node (p, pair->value), NULL))
            return -1;
    }
    for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++) {
        yaml_node_t *kn = s_node (p, pair->key);
        const char *key = s_scalar (kn);
        if (!key)
            return s_fail (p, kn, "section names must be plain names");
        if (!strcmp (key, "defaults"))
            continue;
        if (s_top_pair (p, key, kn, s_node (p, pair->value), NULL))
            return -1;
    }
    return 0;
}

static void
s_value_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static void
s_string_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

config_t *
config_parse (const char *name, const char *text, size_t size, char *error, size_t error_size)
{
    config_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (error, error_size, "%s: out of memory", name);
        return NULL;
    }
    broker_config_defaults (&self->broker);
    sched_config_defaults (&self->sched);
    self->strings = zlistx_new ();
    self->values = zhashx_new ();
    if (!self->strings || !self->values) {
        snprintf (error, error_size, "%s: out of memory", name);
        config_destroy (&self);
        return NULL;
    }
    zlistx_set_destructor (self->strings, s_string_free);
    zhashx_set_destructor (self->values, s_value_free);

    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize (&parser)) {
        snprintf (error, error_size, "%s: out of memory", name);
        config_destroy (&self);
        return NULL;
    }
    yaml_parser_set_input_string (&parser, (const unsigned char *) text, size);
    if (!yaml_parser_load (&parser, &doc)) {
        snprintf (error, error_size, "%s:%zu: %s%s%s", name,
                  (size_t) parser.problem_mark.line + 1,
                  parser.problem ? parser.problem : "not valid YAML",
                  parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete (&parser);
        config_destroy (&self);
        return NULL;
    }
    parse_t p = { .name = name, .doc = &doc, .error = error, .error_size = error_size,
                  .cfg = self };
    int rc = s_walk (&p, yaml_document_get_root_node (&doc));
    if (rc == 0 && self->broker.request_timeout_ms > self->broker.max_timeout_ms) {
        snprintf (error, error_size, "%s: broker.request_timeout_ms is over "
                  "broker.max_timeout_ms", name);
        rc = -1;
    }
    yaml_document_delete (&doc);
    yaml_parser_delete (&parser);
    if (rc)
        config_destroy (&self);
    return self;
}

config_t *
config_load (const char *path, char *error, size_t error_size)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        snprintf (error, error_size, "%s: %s", path, strerror (errno));
        return NULL;
    }
    /*  A config file is small; a huge one is a mistake, not a config.     */
    enum { MAX_SIZE = 16 << 20 };
    char *text = malloc (MAX_SIZE);
    size_t size = text ? fread (text, 1, MAX_SIZE, file) : 0;
    bool failed = !text || ferror (file);
    bool too_big = !failed && size == MAX_SIZE;
    fclose (file);
    config_t *self = NULL;
    if (failed)
        snprintf (error, error_size, "%s: cannot read: %s", path,
                  text ? strerror (errno) : "out of memory");
    else
    if (too_big)
        snprintf (error, error_size, "%s: larger than 16 MiB", path);
    else
        self = config_parse (path, text, size, error, error_size);
    free (text);
    return self;
}

void
config_destroy (config_t **self_p)
{
    config_t *self = *self_p;
    if (!self)
        return;
    sched_config_free (&self->sched);
    for (size_t i = 0; i < self->n_cache; i++) {
        free (self->cache[i].name);
        free (self->cache[i].value);
    }
    zlistx_destroy (&self->strings);
    zhashx_destroy (&self->values);
    free (self);
    *self_p = NULL;
}

static void
s_apply_table (const config_t *self, const bkey_t *table, size_t n, const bool *set,
               broker_config_t *broker)
{
    for (size_t i = 0; i < n; i++) {
        if (!set[i])
            continue;
        const bkey_t *k = &table[i];
        size_t width = k->kind == K_STR ? sizeof (char *) : k->kind == K_U32 ? sizeof (uint32_t)
                     : k->kind == K_SIZE ? sizeof (size_t) : k->kind == K_I64 ? sizeof (int64_t)
                     : sizeof (bool);
        memcpy ((char *) broker + k->offset, (const char *) &self->broker + k->offset, width);
    }
}

void
config_apply_broker (const config_t *self, broker_config_t *broker)
{
    s_apply_table (self, s_bkeys, N_BKEYS, self->set, broker);
    s_apply_table (self, s_mkeys, N_MKEYS, self->mset, broker);
    for (size_t i = 0; i < self->n_cache; i++)
        cache_config_set (&broker->cache, self->cache[i].name, self->cache[i].value);
}

const sched_config_t *
config_sched (const config_t *self)
{
    return &self->sched;
}

const char *
config_value (const config_t *self, const char *path)
{
    return zhashx_lookup (self->values, path);
}
