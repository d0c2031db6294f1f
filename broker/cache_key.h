/*  cache_key.h -- the response cache's key: what makes two requests "the
    same question".

    The key is XXH3-128 over a canonical encoding of everything that can
    change the answer: model, every message (role, name, content), and the
    generation parameters max_tokens, temperature, top_p, seed and the stop
    sequences, each tagged and length-prefixed so no two different
    requests encode alike (an absent field differs from any value of it).
    The request id, stream, priority, timeout, cache policy, metadata and
    the tenant are NOT part of it, unless the operator asks for one
    namespace per tenant (then the tenant is).

    Two requests are treated as equal when their 128-bit hashes are; at
    2^-128 per pair a collision is not a practical concern, and it lets an
    entry be stored as 16 bytes plus the answer, not the whole question.

    Complexity: O(size of the request), no allocation.
*/
#ifndef LLMQ_BROKER_CACHE_KEY_H_INCLUDED
#define LLMQ_BROKER_CACHE_KEY_H_INCLUDED

#include "llmq_proto.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint64_t lo;                    /* low 64 bits of XXH3-128             */
    uint64_t hi;                    /* high 64 bits                        */
} cache_key_t;

/*  The key of req; when by_tenant, the tenant is part of it (an absent
    tenant is its own namespace).                                          */
void cache_key_compute (const llmq_wire_request_t *req, bool by_tenant, cache_key_t *key);

bool cache_key_equal (const cache_key_t *a, const cache_key_t *b);

/*  32 lowercase hex digits and a NUL into out (Redis keys, logs).         */
void cache_key_hex (const cache_key_t *key, char out[33]);

/*  True when the request asks for a reproducible answer: temperature 0,
    or a fixed seed. Only those are cached under the broker's default
    policy "deterministic": caching a sampled answer would hand every
    later caller the same "random" text.                                   */
bool cache_key_deterministic (const llmq_wire_request_t *req);

#endif
