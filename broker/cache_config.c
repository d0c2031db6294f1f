/*  cache_config.c -- cache settings and the stats map; see cache_config.h. */
#include "cache_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
cache_config_defaults (cache_config_t *config)
{
    memset (config, 0, sizeof *config);
    config->memory_bytes = 64u << 20;
    config->ttl_ms = 3600 * 1000;
    config->max_ttl_ms = 24 * 3600 * 1000;
    config->mode = CACHE_MODE_DETERMINISTIC;
    config->redis_timeout_ms = 250;
}

static const char *s_modes [] = { "deterministic", "all", "bypass" };

const char cache_config_help [] =
    "Response cache (README, \"Cache\"):\n"
    "  --cache-memory BYTES    in-memory cache budget, K/M/G suffixes; 0 = no\n"
    "                          in-memory cache [64M]\n"
    "  --cache-ttl-ms MS       how long a stored answer is reused [3600000]\n"
    "  --cache-max-ttl-ms MS   cap on a request's cache_ttl_ms [86400000]\n"
    "  --cache-policy P        for requests with cache policy \"default\":\n"
    "                          deterministic (only temperature 0 or a fixed\n"
    "                          seed, or a request that sets cache_ttl_ms), all,\n"
    "                          or bypass [deterministic]\n"
    "  --cache-namespace N     off (tenants share answers) or tenant [off]\n"
    "  --cache-redis URL       shared tier: redis://[:password@]host[:port][/db]\n"
    "                          or unix:///path [none]\n"
    "  --cache-redis-timeout-ms MS  Redis connect/command timeout [250]\n";

/*  Parses a whole number with an optional K/M/G suffix; -1 if not one.     */
static int
s_number (const char *text, uint64_t max, bool sizes, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull (text, &end, 10);
    if (errno || end == text || text [0] == '-')
        return -1;
    unsigned shift = 0;
    if (sizes && *end) {
        const char *units = "KMG";
        const char *unit = strchr (units, toupper ((unsigned char) *end));
        if (!unit || end [1])
            return -1;
        shift = 10 * (unsigned) (unit - units + 1);
        end++;
    }
    if (*end || value > (max >> shift))
        return -1;
    *out = (uint64_t) value << shift;
    return 0;
}

int
cache_config_set (cache_config_t *config, const char *name, const char *value)
{
    char key [32];
    size_t i = 0;
    for (; name [i] && i < sizeof key - 1; i++)
        key [i] = name [i] == '_' ? '-' : name [i];
    key [i] = 0;
    uint64_t v = 0;
    int rc = -1;
    if (strcmp (key, "cache-memory") == 0) {
        if ((rc = s_number (value, SIZE_MAX, true, &v)) == 0)
            config->memory_bytes = (size_t) v;
    }
    else
    if (strcmp (key, "cache-ttl-ms") == 0) {
        if ((rc = s_number (value, UINT32_MAX, false, &v)) == 0)
            config->ttl_ms = (uint32_t) v;
    }
    else
    if (strcmp (key, "cache-max-ttl-ms") == 0) {
        if ((rc = s_number (value, UINT32_MAX, false, &v)) == 0)
            config->max_ttl_ms = (uint32_t) v;
    }
    else
    if (strcmp (key, "cache-redis-timeout-ms") == 0) {
        if ((rc = s_number (value, 3600000, false, &v)) == 0 && v > 0)
            config->redis_timeout_ms = (uint32_t) v;
        else
            rc = -1;
    }
    else
    if (strcmp (key, "cache-policy") == 0)
        rc = cache_mode_from_name (value, &config->mode);
    else
    if (strcmp (key, "cache-namespace") == 0) {
        rc = strcmp (value, "off") == 0 || strcmp (value, "tenant") == 0 ? 0 : -1;
        if (rc == 0)
            config->by_tenant = strcmp (value, "tenant") == 0;
    }
    else
    if (strcmp (key, "cache-redis") == 0) {
        rc = 0;
        config->redis_url = value [0] && strcmp (value, "off") ? value : NULL;
    }
    else
        rc = -1;                /* unknown setting: the caller reports it  */
    return rc;
}

int
cache_mode_from_name (const char *name, uint32_t *mode)
{
    if (strcmp (name, "default") == 0) {
        *mode = CACHE_MODE_DETERMINISTIC;
        return 0;
    }
    for (uint32_t i = 0; i < sizeof s_modes / sizeof s_modes [0]; i++)
        if (strcmp (name, s_modes [i]) == 0) {
            *mode = i;
            return 0;
        }
    return -1;
}

const char *
cache_mode_name (uint32_t mode)
{
    return mode < sizeof s_modes / sizeof s_modes [0] ? s_modes [mode] : "unknown";
}

static void
s_pair (llmq_writer_t *w, const char *key, uint64_t value)
{
    llmq_writer_str (w, key);
    llmq_writer_uint (w, value);
}

void
cache_stats_write (llmq_writer_t *w, const cache_stats_t *stats)
{
    llmq_writer_str (w, "cache");
    llmq_writer_map (w, 11);
    s_pair (w, "hits", stats->hits);
    s_pair (w, "misses", stats->misses);
    s_pair (w, "coalesced", stats->coalesced);
    s_pair (w, "stores", stats->stores);
    s_pair (w, "not_cached", stats->not_cached);
    llmq_writer_str (w, "evictions");
    llmq_writer_map (w, 2);
    s_pair (w, "ttl", stats->evicted_ttl);
    s_pair (w, "memory", stats->evicted_memory);
    s_pair (w, "entries", stats->entries);
    s_pair (w, "bytes", stats->bytes);
    s_pair (w, "max_bytes", stats->max_bytes);
    s_pair (w, "redis_errors", stats->redis_errors);
    llmq_writer_str (w, "redis");
    llmq_writer_map (w, 4);
    llmq_writer_str (w, "enabled");
    llmq_writer_bool (w, stats->redis_enabled);
    llmq_writer_str (w, "up");
    llmq_writer_bool (w, stats->redis_up);
    s_pair (w, "hits", stats->redis_hits);
    s_pair (w, "errors", stats->redis_errors);
}
