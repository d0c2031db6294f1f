/*  test_cache_key.c -- the response cache's key (broker/cache_key.h):
    what makes two requests the same question.  */
#include <criterion/criterion.h>
#include <string.h>

#include "cache_key.h"

static llmq_chat_msg_t s_msgs [2];

/*  A fully specified request; tests change one field at a time.          */
static llmq_wire_request_t
s_request (void)
{
    s_msgs [0] = (llmq_chat_msg_t) { .role = llmq_str ("system"), .content = llmq_str ("Be brief.") };
    s_msgs [1] = (llmq_chat_msg_t) { .role = llmq_str ("user"), .content = llmq_str ("Hello there") };
    llmq_wire_request_t req = {
        .id = llmq_str ("req-1"), .model = llmq_str ("gpt-x"),
        .messages = s_msgs, .n_messages = 2,
        .has_max_tokens = true, .max_tokens = 64,
        .has_temperature = true, .temperature = 0.0,
        .has_top_p = true, .top_p = 0.9,
        .has_seed = true, .seed = 7,
        .n_stop = 1,
        .priority = LLMQ_PRIO_NORMAL, .timeout_ms = 5000,
        .tenant = llmq_str ("team-a")
    };
    req.stop [0] = llmq_str ("\n\n");
    return req;
}

static cache_key_t
s_key (const llmq_wire_request_t *req, bool by_tenant)
{
    cache_key_t key;
    cache_key_compute (req, by_tenant, &key);
    return key;
}

Test (cache_key, same_question_different_envelope_same_key)
{
    llmq_wire_request_t a = s_request ();
    cache_key_t ka = s_key (&a, false);
    llmq_wire_request_t b = s_request ();
    b.id = llmq_str ("another-id");
    b.stream = true;
    b.priority = LLMQ_PRIO_BATCH;
    b.timeout_ms = 99;
    b.cache = LLMQ_CACHE_REFRESH;
    b.has_cache_ttl_ms = true;
    b.cache_ttl_ms = 5;
    b.tenant = llmq_str ("team-b");
    cache_key_t kb = s_key (&b, false);
    cr_assert (cache_key_equal (&ka, &kb), "id, stream, priority, timeout, policy, tenant ignored");
    cr_assert (ka.lo != 0 || ka.hi != 0);
}

Test (cache_key, every_sampling_field_changes_the_key)
{
    llmq_wire_request_t base = s_request ();
    cache_key_t k0 = s_key (&base, false);
    llmq_wire_request_t v [16];
    int n = 0;
    v [n] = s_request (); v [n].model = llmq_str ("gpt-y"); n++;
    v [n] = s_request (); v [n].max_tokens = 65; n++;
    v [n] = s_request (); v [n].has_max_tokens = false; n++;
    v [n] = s_request (); v [n].temperature = 0.5; n++;
    v [n] = s_request (); v [n].has_temperature = false; n++;
    v [n] = s_request (); v [n].top_p = 0.8; n++;
    v [n] = s_request (); v [n].seed = 8; n++;
    v [n] = s_request (); v [n].has_seed = false; n++;
    v [n] = s_request (); v [n].stop [0] = llmq_str ("\n"); n++;
    v [n] = s_request (); v [n].n_stop = 0; n++;
    v [n] = s_request (); v [n].n_messages = 1; n++;
    for (int i = 0; i < n; i++) {
        cache_key_t k = s_key (&v [i], false);
        cr_assert_not (cache_key_equal (&k, &k0), "variant %d must differ", i);
        for (int j = 0; j < i; j++) {
            cache_key_t kj = s_key (&v [j], false);
            cr_assert_not (cache_key_equal (&k, &kj), "variants %d and %d must differ", i, j);
        }
    }
}

Test (cache_key, messages_role_name_and_content_count)
{
    llmq_wire_request_t base = s_request ();
    cache_key_t k0 = s_key (&base, false);
    llmq_chat_msg_t saved [2];
    memcpy (saved, s_msgs, sizeof saved);

    s_msgs [1].role = llmq_str ("assistant");
    cache_key_t k = s_key (&base, false);
    cr_assert_not (cache_key_equal (&k, &k0), "role");
    memcpy (s_msgs, saved, sizeof saved);

    s_msgs [1].name = llmq_str ("alice");
    k = s_key (&base, false);
    cr_assert_not (cache_key_equal (&k, &k0), "name");
    memcpy (s_msgs, saved, sizeof saved);

    s_msgs [1].content = llmq_str ("Hello there!");
    k = s_key (&base, false);
    cr_assert_not (cache_key_equal (&k, &k0), "content");
    memcpy (s_msgs, saved, sizeof saved);

    /*  Moving text between messages is a different conversation.         */
    s_msgs [0].content = llmq_str ("Be brief.Hello");
    s_msgs [1].content = llmq_str (" there");
    k = s_key (&base, false);
    cr_assert_not (cache_key_equal (&k, &k0), "boundaries");
    memcpy (s_msgs, saved, sizeof saved);

    k = s_key (&base, false);
    cr_assert (cache_key_equal (&k, &k0), "restored");
}

Test (cache_key, negative_zero_temperature_is_zero)
{
    llmq_wire_request_t a = s_request ();
    llmq_wire_request_t b = s_request ();
    b.temperature = -0.0;
    cache_key_t ka = s_key (&a, false), kb = s_key (&b, false);
    cr_assert (cache_key_equal (&ka, &kb));
}

Test (cache_key, tenant_namespace_separates_tenants)
{
    llmq_wire_request_t a = s_request ();
    llmq_wire_request_t b = s_request ();
    b.tenant = llmq_str ("team-b");
    cache_key_t ka = s_key (&a, true), kb = s_key (&b, true);
    cr_assert_not (cache_key_equal (&ka, &kb));
    cache_key_t ka2 = s_key (&a, true);
    cr_assert (cache_key_equal (&ka, &ka2));
    cache_key_t shared = s_key (&a, false);
    cr_assert_not (cache_key_equal (&ka, &shared), "namespaced keys differ from shared ones");
}

Test (cache_key, deterministic_means_temperature_zero_or_seed)
{
    llmq_wire_request_t r = s_request ();
    cr_assert (cache_key_deterministic (&r));
    r.has_seed = false;
    cr_assert (cache_key_deterministic (&r), "temperature 0");
    r.temperature = 0.7;
    cr_assert_not (cache_key_deterministic (&r));
    r.has_temperature = false;
    cr_assert_not (cache_key_deterministic (&r), "absent temperature: the backend samples");
    r.has_seed = true;
    cr_assert (cache_key_deterministic (&r), "fixed seed");
}

Test (cache_key, hex_is_32_digits)
{
    cache_key_t k = { .lo = 0x1, .hi = 0xabcdef };
    char hex [33];
    cache_key_hex (&k, hex);
    cr_assert_str_eq (hex, "0000000000abcdef0000000000000001");
}

Test (cache_key, long_messages_hash_in_pieces_the_same_way)
{
    /*  Past the one-shot buffer the hash streams; it must still see every
        byte and give equal keys for equal requests.                       */
    static char big [6000], big2 [6000];
    for (size_t len = 900; len < sizeof big; len += 1000) {
        memset (big, 'a', len);
        big [len] = 0;
        memcpy (big2, big, len + 1);
        llmq_wire_request_t a = s_request ();
        s_msgs [1].content = llmq_str (big);
        cache_key_t ka = s_key (&a, false);
        s_msgs [1].content = llmq_str (big2);
        cache_key_t kb = s_key (&a, false);
        cr_assert (cache_key_equal (&ka, &kb), "len %zu", len);
        big2 [len - 1] = 'b';
        cache_key_t kc = s_key (&a, false);
        cr_assert_not (cache_key_equal (&ka, &kc), "last byte of %zu", len);
        big2 [0] = 'c';
        big2 [len - 1] = 'a';
        cache_key_t kd = s_key (&a, false);
        cr_assert_not (cache_key_equal (&ka, &kd), "first byte of %zu", len);
    }
}
