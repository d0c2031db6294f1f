/*  test_cache.c -- the in-memory response store (broker/cache.h): LRU
    order, TTL, the byte budget; and the cache's settings
    (cache_config.h) and Redis URLs (cache_redis.h).  */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "cache_config.h"
#include "cache_flow.h"
#include "cache_redis.h"

static cache_key_t
K (uint64_t n)
{
    /*  Spread like real hashes, and some sharing a bucket.               */
    return (cache_key_t) { .lo = n * 0x9E3779B97F4A7C15ull, .hi = n };
}

#define FAR 1000000000ull          /* an expiry far in the future (us)    */

Test (cache, put_get_replace_remove)
{
    cache_t *c = cache_new (1 << 20);
    cr_assert_not_null (c);
    cache_key_t k = K (1);
    size_t size;
    cr_assert_null (cache_get (c, &k, 0, &size));
    cr_assert_eq (cache_put (c, &k, "answer-1", 8, FAR, 0), 0);
    const char *v = cache_get (c, &k, 0, &size);
    cr_assert (v && size == 8 && memcmp (v, "answer-1", 8) == 0);
    cr_assert_eq (cache_put (c, &k, "second", 6, FAR, 0), 0);
    v = cache_get (c, &k, 0, &size);
    cr_assert (v && size == 6 && memcmp (v, "second", 6) == 0);
    cr_assert_eq (cache_counters (c)->entries, 1);
    cache_remove (c, &k);
    cr_assert_null (cache_get (c, &k, 0, &size));
    cr_assert_eq (cache_counters (c)->entries, 0);
    cache_destroy (&c);
    cr_assert_null (c);
}

Test (cache, ttl_expiry_on_get_and_sweep)
{
    cache_t *c = cache_new (1 << 20);
    cache_key_t a = K (1), b = K (2), d = K (3);
    cache_put (c, &a, "a", 1, 1000, 0);
    cache_put (c, &b, "b", 1, 2000, 0);
    cache_put (c, &d, "d", 1, FAR, 0);
    size_t size;
    cr_assert_not_null (cache_get (c, &a, 999, &size));
    cr_assert_null (cache_get (c, &a, 1000, &size), "expired at its time");
    cr_assert_eq (cache_counters (c)->evicted_ttl, 1);
    cache_expire (c, 5000, 100);
    cr_assert_eq (cache_counters (c)->entries, 1, "b swept, d kept");
    cr_assert_eq (cache_counters (c)->evicted_ttl, 2);
    cr_assert_not_null (cache_get (c, &d, 5000, &size));
    cache_destroy (&c);
}

Test (cache, lru_order_decides_eviction)
{
    /*  Room for four 1000-byte values (an entry costs ~1.1 KB) but not five. */
    cache_t *c = cache_new (4 * 1200 + 64 * 8);
    char value [1000];
    memset (value, 'x', sizeof value);
    for (uint64_t i = 1; i <= 4; i++) {
        cache_key_t k = K (i);
        cr_assert_eq (cache_put (c, &k, value, sizeof value, FAR, 0), 0);
    }
    cr_assert_eq (cache_counters (c)->entries, 4);
    size_t size;
    cache_key_t k1 = K (1);
    cr_assert_not_null (cache_get (c, &k1, 0, &size));     /* 1 is now MRU */
    cache_key_t k5 = K (5);
    cache_put (c, &k5, value, sizeof value, FAR, 0);
    cache_key_t k2 = K (2), k3 = K (3);
    cr_assert_null (cache_get (c, &k2, 0, &size), "2 was least recently used");
    cr_assert_not_null (cache_get (c, &k1, 0, &size), "1 was touched");
    cr_assert_not_null (cache_get (c, &k3, 0, &size));
    cr_assert_not_null (cache_get (c, &k5, 0, &size));
    cr_assert_eq (cache_counters (c)->evicted_memory, 1);
    cache_destroy (&c);
}

Test (cache, budget_never_exceeded_under_pressure)
{
    size_t budget = 64 * 1024;
    cache_t *c = cache_new (budget);
    char value [3000];
    uint64_t evicted_before = 0;
    for (uint64_t i = 0; i < 20000; i++) {
        size_t size = 1 + (i * 7919) % sizeof value;
        memset (value, (int) i, size);
        cache_key_t k = K (i);
        cache_put (c, &k, value, size, FAR, 0);
        const cache_counters_t *n = cache_counters (c);
        cr_assert_leq (n->bytes, budget, "bytes %llu over budget after put %llu",
                       (unsigned long long) n->bytes, (unsigned long long) i);
        cr_assert_geq (n->evicted_memory, evicted_before);
        evicted_before = n->evicted_memory;
        /*  The newest entry is always there, intact.                      */
        size_t got_size;
        const char *got = cache_get (c, &k, 0, &got_size);
        cr_assert (got && got_size == size && (unsigned char) got [size - 1] == (unsigned char) i);
    }
    cr_assert_gt (cache_counters (c)->evicted_memory, 1000);
    cr_assert_gt (cache_counters (c)->entries, 20, "the budget is used, not wasted");
    cache_destroy (&c);
}

Test (cache, expired_entries_are_evicted_first_and_counted_as_ttl)
{
    cache_t *c = cache_new (3 * 1200 + 64 * 8);
    char value [1000] = { 0 };
    cache_key_t a = K (1), b = K (2), d = K (3), e = K (4);
    cache_put (c, &a, value, sizeof value, 100, 0);
    cache_put (c, &b, value, sizeof value, FAR, 0);
    cache_put (c, &d, value, sizeof value, FAR, 0);
    cache_put (c, &e, value, sizeof value, FAR, 500);     /* a is expired */
    cr_assert_eq (cache_counters (c)->evicted_ttl, 1);
    cr_assert_eq (cache_counters (c)->evicted_memory, 0);
    cache_destroy (&c);
}

Test (cache, too_large_or_disabled_is_not_stored)
{
    cache_t *c = cache_new (8192);
    char big [9000] = { 0 };
    cache_key_t k = K (1);
    cr_assert_eq (cache_put (c, &k, big, sizeof big, FAR, 0), -1);
    cr_assert_eq (cache_counters (c)->entries, 0);
    cache_destroy (&c);
    c = cache_new (0);
    cr_assert_not_null (c);
    cr_assert_eq (cache_put (c, &k, "x", 1, FAR, 0), -1);
    size_t size;
    cr_assert_null (cache_get (c, &k, 0, &size));
    cache_destroy (&c);
}

Test (cache, many_entries_grow_the_index)
{
    cache_t *c = cache_new (64u << 20);
    for (uint64_t i = 0; i < 50000; i++) {
        cache_key_t k = K (i);
        cr_assert_eq (cache_put (c, &k, &i, sizeof i, FAR, 0), 0);
    }
    size_t size;
    for (uint64_t i = 0; i < 50000; i += 997) {
        cache_key_t k = K (i);
        const uint64_t *v = cache_get (c, &k, 0, &size);
        cr_assert (v && *v == i);
    }
    cr_assert_leq (cache_counters (c)->bytes, 64u << 20);
    cache_destroy (&c);
}

/*  A value of size bytes for key i and round r, checkable afterwards.     */
static void
s_fill (unsigned char *value, size_t size, uint64_t i, uint64_t r)
{
    for (size_t j = 0; j < size; j++)
        value [j] = (unsigned char) (i * 31 + r * 7 + j);
}

static bool
s_intact (const unsigned char *got, size_t got_size, size_t size, uint64_t i, uint64_t r)
{
    if (!got || got_size != size || ((uintptr_t) got & 15) != 0)
        return false;
    for (size_t j = 0; j < size; j++)
        if (got [j] != (unsigned char) (i * 31 + r * 7 + j))
            return false;
    return true;
}

Test (cache, read_entries_survive_churn_intact)
{
    /*  Hot keys read after every put get their second chance each turn of
        the ring (moved, so their bytes must survive the move); cold keys
        of changing sizes wrap the ring many times around them.           */
    size_t budget = 32 * 1024;
    cache_t *c = cache_new (budget);
    unsigned char value [700];
    for (uint64_t i = 0; i < 5000; i++) {
        size_t size = 1 + (i * 131) % sizeof value;
        cache_key_t k = K (i);
        s_fill (value, size, i, 1);
        cr_assert_eq (cache_put (c, &k, value, size, FAR, 0), 0);
        /*  Not first in the ring, so moving them really moves bytes.      */
        for (uint64_t h = 0; h < 4 && i == 10; h++) {
            cache_key_t hk = K (1000000 + h);
            s_fill (value, 100 + h, h, 0);
            cr_assert_eq (cache_put (c, &hk, value, 100 + h, FAR, 0), 0);
        }
        for (uint64_t h = 0; h < 4 && i >= 10; h++) {
            cache_key_t hk = K (1000000 + h);
            size_t got_size;
            const unsigned char *got = cache_get (c, &hk, 0, &got_size);
            cr_assert (s_intact (got, got_size, 100 + h, h, 0), "hot %llu lost at %llu",
                       (unsigned long long) h, (unsigned long long) i);
        }
        cr_assert_leq (cache_counters (c)->bytes, budget);
    }
    cr_assert_gt (cache_counters (c)->evicted_memory, 4000);
    cache_destroy (&c);
}

Test (cache, replace_and_remove_churn_stays_within_budget)
{
    /*  Replaced and removed entries leave dead bytes behind; they are
        reclaimed, never counted twice, and entries stays exact.          */
    size_t budget = 16 * 1024;
    cache_t *c = cache_new (budget);
    unsigned char value [900];
    for (uint64_t r = 0; r < 300; r++) {
        for (uint64_t i = 0; i < 8; i++) {
            size_t size = 50 + (r * 37 + i * 101) % 800;
            cache_key_t k = K (i);
            s_fill (value, size, i, r);
            cr_assert_eq (cache_put (c, &k, value, size, FAR, 0), 0);
            size_t got_size;
            const unsigned char *got = cache_get (c, &k, 0, &got_size);
            cr_assert (s_intact (got, got_size, size, i, r));
            cr_assert_leq (cache_counters (c)->bytes, budget);
        }
        cache_key_t k = K (r % 8);
        cache_remove (c, &k);
        cr_assert_null (cache_get (c, &k, 0, &(size_t) { 0 }));
        cr_assert_leq (cache_counters (c)->entries, 8);
    }
    cache_expire (c, FAR + 1, 1000);            /* everything expired      */
    cr_assert_eq (cache_counters (c)->entries, 0);
    cr_assert_leq (cache_counters (c)->bytes, 64 * 8 * 2, "only the index is left held");
    cache_destroy (&c);
}

Test (cache_config, flags_parse_and_reject)
{
    cache_config_t c;
    cache_config_defaults (&c);
    cr_assert_eq (c.memory_bytes, 64u << 20);
    cr_assert_eq (c.mode, CACHE_MODE_DETERMINISTIC);
    cr_assert_eq (cache_config_set (&c, "cache-memory", "16M"), 0);
    cr_assert_eq (c.memory_bytes, 16u << 20);
    cr_assert_eq (cache_config_set (&c, "cache_memory", "4096"), 0, "config-file spelling");
    cr_assert_eq (c.memory_bytes, 4096);
    cr_assert_eq (cache_config_set (&c, "cache-policy", "all"), 0);
    cr_assert_eq (c.mode, CACHE_MODE_ALL);
    cr_assert_eq (cache_config_set (&c, "cache-namespace", "tenant"), 0);
    cr_assert (c.by_tenant);
    cr_assert_eq (cache_config_set (&c, "cache-redis", "redis://localhost:6380/2"), 0);
    cr_assert_str_eq (c.redis_url, "redis://localhost:6380/2");
    cr_assert_eq (cache_config_set (&c, "cache-ttl-ms", "1500"), 0);
    cr_assert_eq (c.ttl_ms, 1500);
    cr_assert_eq (cache_config_set (&c, "cache-memory", "12Q"), -1);
    cr_assert_eq (cache_config_set (&c, "cache-memory", "-1"), -1);
    cr_assert_eq (cache_config_set (&c, "cache-policy", "sometimes"), -1);
    cr_assert_eq (cache_config_set (&c, "cache-namespace", "user"), -1);
    cr_assert_eq (cache_config_set (&c, "cache-colour", "blue"), -1);
}

Test (cache_redis, urls)
{
    cache_redis_url_t u;
    cr_assert_eq (cache_redis_parse_url ("redis://127.0.0.1:6390", &u), 0);
    cr_assert_str_eq (u.host, "127.0.0.1");
    cr_assert_eq (u.port, 6390);
    cr_assert_eq (u.db, 0);
    cr_assert_eq (cache_redis_parse_url ("redis://:s3cret@cache.internal/3", &u), 0);
    cr_assert_str_eq (u.host, "cache.internal");
    cr_assert_eq (u.port, 6379);
    cr_assert_str_eq (u.password, "s3cret");
    cr_assert_eq (u.db, 3);
    cr_assert_eq (cache_redis_parse_url ("unix:///run/redis.sock", &u), 0);
    cr_assert_str_eq (u.path, "/run/redis.sock");
    cr_assert_eq (cache_redis_parse_url ("http://x", &u), -1);
    cr_assert_eq (cache_redis_parse_url ("redis://", &u), -1);
    cr_assert_eq (cache_redis_parse_url ("redis://h:99999", &u), -1);
    cr_assert_eq (cache_redis_parse_url ("redis://h:1/x", &u), -1);
}

Test (cache_flow, replay_chunks_cover_the_text_and_keep_utf8_whole)
{
    const char *text = "Mock answer to: caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 "
                       "and some more words to split into several chunks";
    size_t len = strlen (text), done = 0;
    int chunks = 0;
    while (done < len) {
        size_t n = cache_flow_chunk (text + done, len - done);
        cr_assert_geq (n, 1);
        cr_assert_leq (done + n, len);
        if (done + n < len)
            cr_assert_neq ((unsigned char) text [done + n] & 0xC0, 0x80, "cut inside UTF-8");
        done += n;
        chunks++;
    }
    cr_assert_eq (done, len);
    cr_assert_gt (chunks, 2);
    cr_assert_eq (cache_flow_chunk ("", 0), 0);
}
