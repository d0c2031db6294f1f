/*  cache_key.c -- canonical request hash; see cache_key.h.  */
#define XXH_STATIC_LINKING_ONLY     /* XXH3_state_t on the stack: no malloc */
#include "cache_key.h"

#include <stdio.h>
#include <string.h>
#include <xxhash.h>

/*  Field tags: a field's tag goes before its value, so "max_tokens absent,
    seed 5" and "max_tokens 5, seed absent" hash differently.              */
enum {
    TAG_VERSION = 0xC1, TAG_MODEL, TAG_MESSAGES, TAG_ROLE, TAG_NAME, TAG_CONTENT,
    TAG_MAX_TOKENS, TAG_TEMPERATURE, TAG_TOP_P, TAG_SEED, TAG_STOP, TAG_TENANT
};

/*  Writes are gathered in a buffer: a request that fits (most do) is
    hashed in one XXH3_128bits call; a bigger one streams in batches. One
    streaming update per field would cost more than the field.             */
typedef struct {
    bool streaming;                 /* state in use (did not fit)          */
    size_t used;                    /* bytes in batch                      */
    unsigned char batch [2048];     /* pending writes                      */
    XXH3_state_t state;             /* the running hash when streaming     */
} hasher_t;

static void
s_flush (hasher_t *h)
{
    if (!h->streaming) {
        XXH3_INITSTATE (&h->state);
        XXH3_128bits_reset (&h->state);
        h->streaming = true;
    }
    if (h->used)
        XXH3_128bits_update (&h->state, h->batch, h->used);
    h->used = 0;
}

static void
s_bytes (hasher_t *h, const void *data, size_t size)
{
    if (size > sizeof h->batch / 2) {
        s_flush (h);
        XXH3_128bits_update (&h->state, data, size);
        return;
    }
    if (h->used + size > sizeof h->batch)
        s_flush (h);
    memcpy (h->batch + h->used, data, size);
    h->used += size;
}

/*  Tags and numbers go straight into the batch: a memcpy call per byte
    would cost more than the hash.                                         */
static inline void
s_room (hasher_t *h, size_t size)
{
    if (h->used + size > sizeof h->batch)
        s_flush (h);
}

static inline void
s_u64 (hasher_t *h, uint64_t value)
{
    s_room (h, 8);
    for (int i = 0; i < 8; i++)
        h->batch [h->used++] = (unsigned char) (value >> (8 * i));
}

static inline void
s_tag (hasher_t *h, int tag)
{
    s_room (h, 1);
    h->batch [h->used++] = (unsigned char) tag;
}

/*  Length + 1, then the bytes: absent (0) differs from empty (1).         */
static void
s_str (hasher_t *h, int tag, llmq_str_t s)
{
    s_tag (h, tag);
    s_u64 (h, s.ptr ? (uint64_t) s.len + 1 : 0);
    if (s.ptr && s.len)
        s_bytes (h, s.ptr, s.len);
}

static void
s_opt_u64 (hasher_t *h, int tag, bool has, uint64_t value)
{
    s_tag (h, tag);
    s_tag (h, has);
    if (has)
        s_u64 (h, value);
}

/*  The bits of a double, with -0.0 folded into 0.0 (the same setting).    */
static uint64_t
s_double_bits (double value)
{
    if (value == 0.0)
        value = 0.0;
    uint64_t bits;
    memcpy (&bits, &value, sizeof bits);
    return bits;
}

void
cache_key_compute (const llmq_wire_request_t *req, bool by_tenant, cache_key_t *key)
{
    hasher_t hasher;
    hasher_t *state = &hasher;
    hasher.used = 0;
    hasher.streaming = false;
    s_tag (state, TAG_VERSION);
    s_u64 (state, 1);              /* bump when the encoding changes      */
    s_str (state, TAG_MODEL, req->model);
    s_tag (state, TAG_MESSAGES);
    s_u64 (state, req->n_messages);
    for (uint32_t i = 0; i < req->n_messages; i++) {
        s_str (state, TAG_ROLE, req->messages [i].role);
        s_str (state, TAG_NAME, req->messages [i].name);
        s_str (state, TAG_CONTENT, req->messages [i].content);
    }
    s_opt_u64 (state, TAG_MAX_TOKENS, req->has_max_tokens, req->max_tokens);
    s_opt_u64 (state, TAG_TEMPERATURE, req->has_temperature, s_double_bits (req->temperature));
    s_opt_u64 (state, TAG_TOP_P, req->has_top_p, s_double_bits (req->top_p));
    s_opt_u64 (state, TAG_SEED, req->has_seed, (uint64_t) req->seed);
    s_tag (state, TAG_STOP);
    s_u64 (state, req->n_stop);
    for (uint32_t i = 0; i < req->n_stop && i < LLMQ_MAX_STOP; i++)
        s_str (state, TAG_STOP, req->stop [i]);
    if (by_tenant)
        s_str (state, TAG_TENANT, req->tenant);
    XXH128_hash_t hash;
    if (hasher.streaming) {
        s_flush (state);
        hash = XXH3_128bits_digest (&hasher.state);
    }
    else
        hash = XXH3_128bits (hasher.batch, hasher.used);

    key->lo = hash.low64;
    key->hi = hash.high64;
}

bool
cache_key_equal (const cache_key_t *a, const cache_key_t *b)
{
    return a->lo == b->lo && a->hi == b->hi;
}

void
cache_key_hex (const cache_key_t *key, char out[33])
{
    snprintf (out, 33, "%016llx%016llx", (unsigned long long) key->hi,
              (unsigned long long) key->lo);
}

bool
cache_key_deterministic (const llmq_wire_request_t *req)
{
    return (req->has_temperature && req->temperature == 0.0) || req->has_seed;
}
