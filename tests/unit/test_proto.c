/*  test_proto.c -- the codec's promises for well-formed traffic: every
    message type survives encode -> decode with every field, defaults and
    optional fields behave as PROTOCOL.md says, names map both ways, and
    the hot paths stop allocating once warm.

    Hostile input is in test_proto_hostile.c; JSON in test_proto_json.c.
*/
#include <criterion/criterion.h>
#include <string.h>

#include "test_proto_util.h"

static llmq_decoder_t *dec;
static llmq_buf_t buf;

static void
setup (void)
{
    dec = llmq_decoder_new ();
    cr_assert (dec);
    llmq_buf_init (&buf);
}

static void
teardown (void)
{
    llmq_decoder_destroy (&dec);
    cr_assert_null (dec);
    llmq_decoder_destroy (&dec);    //  harmless twice
    llmq_buf_free (&buf);
}

TestSuite (proto, .init = setup, .fini = teardown);

//  Asserts a decoded string equals a literal.
#define cr_assert_slice(s, lit) \
    cr_assert (llmq_str_eq ((s), (lit)), "expected '%s', got '%.*s'", (lit), \
               (int) (s).len, (s).ptr ? (s).ptr : "(null)")

static void
s_assert_ok (llmq_decode_result_t rc)
{
    cr_assert_eq (rc, LLMQ_DECODE_OK, "decode failed: %d %s", rc, llmq_decoder_error (dec));
}

/* ---------------------------------------------------------------------- */

Test (proto, header_is_signature_version_command)
{
    llmq_ping_t ping = { .nonce = 7 };
    cr_assert_eq (llmq_encode_ping (&buf, &ping), 0);
    cr_assert_geq (buf.size, LLMQ_HEADER_SIZE + 1);
    cr_assert_eq (memcmp (buf.data, "LLMQ\x01\x03", 6), 0);
    llmq_cmd_t cmd = 0;
    cr_assert_eq (llmq_peek_command (buf.data, buf.size, &cmd), LLMQ_DECODE_OK);
    cr_assert_eq (cmd, LLMQ_CMD_PING);
}

Test (proto, request_round_trip_all_fields)
{
    llmq_wire_request_t req, out;
    llmq_chat_msg_t msgs [2];
    tp_sample_request (&req, msgs);
    cr_assert_eq (llmq_encode_request (&buf, &req), 0);
    s_assert_ok (llmq_decode_request (dec, buf.data, buf.size, &out));

    cr_assert_slice (out.id, "req-1");
    cr_assert_slice (out.model, "gpt-4o-mini");
    cr_assert_eq (out.n_messages, 2);
    cr_assert_slice (out.messages [0].role, "system");
    cr_assert_slice (out.messages [0].content, "Be brief.");
    cr_assert_null (out.messages [0].name.ptr);
    cr_assert_slice (out.messages [1].role, "user");
    cr_assert_slice (out.messages [1].content, "Hello there");
    cr_assert_slice (out.messages [1].name, "ann");
    cr_assert (out.has_max_tokens && out.max_tokens == 64);
    cr_assert (out.has_temperature && out.temperature == 0.5);
    cr_assert (out.has_top_p && out.top_p == 0.9);
    cr_assert (out.has_seed && out.seed == -42);
    cr_assert_eq (out.n_stop, 2);
    cr_assert_slice (out.stop [0], "\n\n");
    cr_assert_slice (out.stop [1], "END");
    cr_assert (out.stream);
    cr_assert_eq (out.priority, LLMQ_PRIO_HIGH);
    cr_assert_eq (out.timeout_ms, 30000);
    cr_assert_eq (out.cache, LLMQ_CACHE_REFRESH);
    cr_assert (out.has_cache_ttl_ms && out.cache_ttl_ms == 60000);
    cr_assert_slice (out.tenant, "team-a");
    //  raw is the body, pointing into the frame.
    cr_assert_eq (out.raw, buf.data + LLMQ_HEADER_SIZE);
    cr_assert_eq (out.raw_size, buf.size - LLMQ_HEADER_SIZE);
}

Test (proto, request_minimal_gets_defaults)
{
    llmq_chat_msg_t msg = { llmq_str ("user"), llmq_str (""), { NULL, 0 } };
    llmq_wire_request_t req = { .id = llmq_str ("a"), .model = llmq_str ("m"),
                           .messages = &msg, .n_messages = 1,
                           .priority = LLMQ_PRIO_NORMAL };
    llmq_wire_request_t out;
    cr_assert_eq (llmq_encode_request (&buf, &req), 0);
    s_assert_ok (llmq_decode_request (dec, buf.data, buf.size, &out));
    cr_assert_slice (out.messages [0].content, "");
    cr_assert_not_null (out.messages [0].content.ptr, "empty content is present");
    cr_assert_not (out.has_max_tokens || out.has_temperature || out.has_top_p
                   || out.has_seed || out.has_cache_ttl_ms || out.stream);
    cr_assert_eq (out.n_stop, 0);
    cr_assert_eq (out.priority, LLMQ_PRIO_NORMAL);
    cr_assert_eq (out.cache, LLMQ_CACHE_DEFAULT);
    cr_assert_eq (out.timeout_ms, 0);
    cr_assert_null (out.tenant.ptr);
}

Test (proto, request_body_has_no_header_and_matches_raw)
{
    llmq_wire_request_t req, out;
    llmq_chat_msg_t msgs [2];
    tp_sample_request (&req, msgs);
    llmq_buf_t body;
    llmq_buf_init (&body);
    cr_assert_eq (llmq_encode_request_body (&body, &req), 0);
    cr_assert_eq (llmq_encode_request (&buf, &req), 0);
    s_assert_ok (llmq_decode_request (dec, buf.data, buf.size, &out));
    cr_assert_eq (body.size, out.raw_size);
    cr_assert_eq (memcmp (body.data, out.raw, body.size), 0);
    llmq_buf_free (&body);
}

Test (proto, cancel_round_trip)
{
    llmq_cancel_t in = { .id = llmq_str ("x-1") }, out;
    cr_assert_eq (llmq_encode_cancel (&buf, &in), 0);
    s_assert_ok (llmq_decode_cancel (dec, buf.data, buf.size, &out));
    cr_assert_slice (out.id, "x-1");
    cr_assert_not (out.has_rid);

    in = (llmq_cancel_t) { .has_rid = true, .rid = UINT64_MAX };
    cr_assert_eq (llmq_encode_cancel (&buf, &in), 0);
    s_assert_ok (llmq_decode_cancel (dec, buf.data, buf.size, &out));
    cr_assert_null (out.id.ptr);
    cr_assert (out.has_rid && out.rid == UINT64_MAX);
}

Test (proto, ping_pong_round_trip)
{
    llmq_ping_t in = { .nonce = 123456789012ull }, out;
    cr_assert_eq (llmq_encode_ping (&buf, &in), 0);
    s_assert_ok (llmq_decode_ping (dec, buf.data, buf.size, &out));
    cr_assert_eq (out.nonce, in.nonce);
    in.version = llmq_str (LLMQ_VERSION_STRING);
    cr_assert_eq (llmq_encode_pong (&buf, &in), 0);
    cr_assert_eq (buf.data [5], LLMQ_CMD_PONG);
    s_assert_ok (llmq_decode_pong (dec, buf.data, buf.size, &out));
    cr_assert_eq (out.nonce, in.nonce);
    cr_assert_slice (out.version, LLMQ_VERSION_STRING);
    //  The shared struct does not let a PONG pass as a PING.
    cr_assert_eq (llmq_decode_ping (dec, buf.data, buf.size, &out), LLMQ_DECODE_COMMAND);
}

Test (proto, partial_round_trip)
{
    llmq_partial_t in = { .has_rid = true, .rid = 77, .seq = 3, .text = llmq_str (" wor") };
    llmq_partial_t out;
    cr_assert_eq (llmq_encode_partial (&buf, &in), 0);
    s_assert_ok (llmq_decode_partial (dec, buf.data, buf.size, &out));
    cr_assert (out.has_rid && out.rid == 77);
    cr_assert_null (out.id.ptr);
    cr_assert_eq (out.seq, 3);
    cr_assert_slice (out.text, " wor");

    in = (llmq_partial_t) { .id = llmq_str ("c-9"), .seq = 0, .text = llmq_str ("") };
    cr_assert_eq (llmq_encode_partial (&buf, &in), 0);
    s_assert_ok (llmq_decode_partial (dec, buf.data, buf.size, &out));
    cr_assert_slice (out.id, "c-9");
    cr_assert_not (out.has_rid);
    cr_assert_slice (out.text, "");
}

Test (proto, final_round_trip)
{
    llmq_final_t in = {
        .id = llmq_str ("c-1"), .has_rid = true, .rid = (5ull << 32) | 9,
        .model = llmq_str ("m1"), .text = llmq_str ("Mock answer to: hi"),
        .finish_reason = llmq_str ("length"),
        .usage = { .prompt_tokens = 12, .completion_tokens = 4 },
        .cached = true, .worker = llmq_str ("w-1"), .attempts = 2,
        .timings = { 1, 2, 3, 4, UINT64_MAX }
    };
    llmq_final_t out;
    cr_assert_eq (llmq_encode_final (&buf, &in), 0);
    s_assert_ok (llmq_decode_final (dec, buf.data, buf.size, &out));
    cr_assert_slice (out.id, "c-1");
    cr_assert (out.has_rid && out.rid == in.rid);
    cr_assert_slice (out.model, "m1");
    cr_assert_slice (out.text, "Mock answer to: hi");
    cr_assert_slice (out.finish_reason, "length");
    cr_assert_eq (out.usage.prompt_tokens, 12);
    cr_assert_eq (out.usage.completion_tokens, 4);
    cr_assert (out.cached);
    cr_assert_slice (out.worker, "w-1");
    cr_assert_eq (out.attempts, 2);
    cr_assert_eq (out.timings.queued_us, 1);
    cr_assert_eq (out.timings.ttft_us, 2);
    cr_assert_eq (out.timings.backend_us, 3);
    cr_assert_eq (out.timings.total_us, 4);
    cr_assert_eq (out.timings.broker_us, UINT64_MAX);
}

Test (proto, final_minimal)
{
    llmq_final_t in = { .has_rid = true, .rid = 1, .text = llmq_str ("ok") }, out;
    cr_assert_eq (llmq_encode_final (&buf, &in), 0);
    s_assert_ok (llmq_decode_final (dec, buf.data, buf.size, &out));
    cr_assert_null (out.model.ptr);
    cr_assert_null (out.finish_reason.ptr);
    cr_assert_null (out.worker.ptr);
    cr_assert_not (out.cached);
}

Test (proto, error_round_trip)
{
    llmq_error_t in = {
        .id = llmq_str ("c-2"), .code = LLMQ_ERR_OVERLOADED,
        .message = llmq_str ("queue full"),
        .has_retry_after_ms = true, .retry_after_ms = 250,
        .has_upstream_status = true, .upstream_status = 429
    };
    llmq_error_t out;
    cr_assert_eq (llmq_encode_error (&buf, &in), 0);
    s_assert_ok (llmq_decode_error (dec, buf.data, buf.size, &out));
    cr_assert_slice (out.id, "c-2");
    cr_assert_not (out.has_rid);
    cr_assert_eq (out.code, LLMQ_ERR_OVERLOADED);
    cr_assert_slice (out.message, "queue full");
    cr_assert (out.has_retry_after_ms && out.retry_after_ms == 250);
    cr_assert (out.has_upstream_status && out.upstream_status == 429);
    //  The name is on the wire for humans.
    cr_assert_not_null (memmem (buf.data, buf.size, "overloaded", 10));
}

Test (proto, error_minimal_and_unknown_code)
{
    llmq_error_t in = { .code = 999 }, out;
    cr_assert_eq (llmq_encode_error (&buf, &in), 0);
    s_assert_ok (llmq_decode_error (dec, buf.data, buf.size, &out));
    cr_assert_eq (out.code, 999, "codes from newer peers are kept");
    cr_assert_null (out.id.ptr);
    cr_assert_not (out.has_rid || out.has_retry_after_ms || out.has_upstream_status);
    cr_assert_null (out.message.ptr);
}

Test (proto, ready_round_trip)
{
    llmq_ready_t in = { .worker_id = llmq_str ("w-7"), .n_models = 2, .slots = 4,
                        .version = llmq_str ("0.1.0") };
    in.models [0] = llmq_str ("a");
    in.models [1] = llmq_str ("b/c");
    llmq_ready_t out;
    cr_assert_eq (llmq_encode_ready (&buf, &in), 0);
    s_assert_ok (llmq_decode_ready (dec, buf.data, buf.size, &out));
    cr_assert_slice (out.worker_id, "w-7");
    cr_assert_eq (out.n_models, 2);
    cr_assert_slice (out.models [0], "a");
    cr_assert_slice (out.models [1], "b/c");
    cr_assert_eq (out.slots, 4);
    cr_assert_slice (out.version, "0.1.0");
}

Test (proto, heartbeat_round_trip)
{
    llmq_heartbeat_t in = { .in_flight = 3, .free_slots = 1, .ttft_ewma_us = 1500,
                            .total_ewma_us = 90000, .error_rate = 0.25,
                            .upstream_429 = 2, .backend_state = LLMQ_BACKEND_DEGRADED,
                            .draining = true };
    llmq_heartbeat_t out;
    cr_assert_eq (llmq_encode_heartbeat (&buf, &in), 0);
    s_assert_ok (llmq_decode_heartbeat (dec, buf.data, buf.size, &out));
    cr_assert_eq (out.in_flight, 3);
    cr_assert_eq (out.free_slots, 1);
    cr_assert_eq (out.ttft_ewma_us, 1500);
    cr_assert_eq (out.total_ewma_us, 90000);
    cr_assert_eq (out.error_rate, 0.25);
    cr_assert_eq (out.upstream_429, 2);
    cr_assert_eq (out.backend_state, LLMQ_BACKEND_DEGRADED);
    cr_assert (out.draining);
}

Test (proto, broker_heartbeat_is_an_empty_map)
{
    llmq_heartbeat_t in = { 0 }, out;
    memset (&out, 0xff, sizeof out);
    cr_assert_eq (llmq_encode_heartbeat (&buf, &in), 0);
    cr_assert_eq (buf.size, LLMQ_HEADER_SIZE + 1);
    cr_assert_eq ((uint8_t) buf.data [6], 0x80);
    s_assert_ok (llmq_decode_heartbeat (dec, buf.data, buf.size, &out));
    cr_assert_eq (out.in_flight, 0);
    cr_assert_eq (out.backend_state, LLMQ_BACKEND_OK);
    cr_assert_not (out.draining);
}

Test (proto, dispatch_embeds_request_verbatim)
{
    llmq_wire_request_t req, in_req;
    llmq_chat_msg_t msgs [2];
    tp_sample_request (&req, msgs);
    cr_assert_eq (llmq_encode_request (&buf, &req), 0);
    s_assert_ok (llmq_decode_request (dec, buf.data, buf.size, &in_req));
    //  Copy the raw body: the next decode may reuse what in_req points at.
    size_t raw_size = in_req.raw_size;
    char *raw = malloc (raw_size);
    memcpy (raw, in_req.raw, raw_size);

    llmq_dispatch_t in = { .rid = 0xabcdef0123ull, .attempt = 2, .deadline_ms = 29000,
                           .req_raw = raw, .req_raw_size = raw_size };
    llmq_buf_t frame;
    llmq_buf_init (&frame);
    cr_assert_eq (llmq_encode_dispatch (&frame, &in), 0);
    cr_assert_not_null (memmem (frame.data, frame.size, raw, raw_size),
                        "the request map is embedded byte for byte");

    llmq_dispatch_t out;
    s_assert_ok (llmq_decode_dispatch (dec, frame.data, frame.size, &out));
    cr_assert_eq (out.rid, in.rid);
    cr_assert_eq (out.attempt, 2);
    cr_assert_eq (out.deadline_ms, 29000);
    cr_assert_slice (out.req.id, "req-1");
    cr_assert_slice (out.req.model, "gpt-4o-mini");
    cr_assert_eq (out.req.n_messages, 2);
    cr_assert_slice (out.req.messages [1].content, "Hello there");
    cr_assert_eq (out.req.priority, LLMQ_PRIO_HIGH);
    cr_assert_eq (out.req.raw_size, raw_size);
    cr_assert_eq (memcmp (out.req.raw, raw, raw_size), 0);
    cr_assert_eq (out.req_raw, out.req.raw);
    cr_assert_eq (out.req_raw_size, raw_size);
    cr_assert_geq ((const char *) out.req.raw, frame.data);
    cr_assert_leq ((const char *) out.req.raw + raw_size, frame.data + frame.size);
    llmq_buf_free (&frame);
    free (raw);
}

Test (proto, dispatch_raw_and_fields_agree_on_repeated_keys)
{
    //  {"rid": 1, "request": {model a...}, "request": {model b...}}: the
    //  decoded fields and the raw span must describe the same map.
    llmq_chat_msg_t msg = { llmq_str ("user"), llmq_str ("x"), { NULL, 0 } };
    llmq_wire_request_t a = { .id = llmq_str ("1"), .model = llmq_str ("a"), .messages = &msg,
                         .n_messages = 1, .priority = LLMQ_PRIO_NORMAL };
    llmq_wire_request_t b = a;
    b.model = llmq_str ("b");
    llmq_buf_t body_a, body_b;
    llmq_buf_init (&body_a);
    llmq_buf_init (&body_b);
    cr_assert_eq (llmq_encode_request_body (&body_a, &a), 0);
    cr_assert_eq (llmq_encode_request_body (&body_b, &b), 0);
    tp_packer_t p;
    tp_packer_init (&p);
    msgpack_pack_map (&p.pk, 3);
    tp_str (&p.pk, "rid");
    msgpack_pack_uint8 (&p.pk, 1);
    tp_str (&p.pk, "request");
    msgpack_sbuffer_write (&p.sbuf, body_a.data, body_a.size);
    tp_str (&p.pk, "request");
    msgpack_sbuffer_write (&p.sbuf, body_b.data, body_b.size);
    tp_frame (&buf, LLMQ_CMD_DISPATCH, p.sbuf.data, p.sbuf.size);
    tp_packer_free (&p);

    llmq_dispatch_t out;
    s_assert_ok (llmq_decode_dispatch (dec, buf.data, buf.size, &out));
    cr_assert_slice (out.req.model, "b");
    cr_assert_eq (out.req.raw_size, body_b.size);
    cr_assert_eq (memcmp (out.req.raw, body_b.data, body_b.size), 0);
    llmq_buf_free (&body_a);
    llmq_buf_free (&body_b);
}

Test (proto, dispatch_without_raw_is_a_caller_bug)
{
    llmq_dispatch_t in = { .rid = 1 };
    cr_assert_eq (llmq_encode_dispatch (&buf, &in), -1);
}

Test (proto, disconnect_and_stats)
{
    llmq_disconnect_t in = { .reason = llmq_str ("unknown worker") }, out;
    cr_assert_eq (llmq_encode_disconnect (&buf, &in), 0);
    s_assert_ok (llmq_decode_disconnect (dec, buf.data, buf.size, &out));
    cr_assert_slice (out.reason, "unknown worker");
    in.reason = llmq_str (NULL);
    cr_assert_eq (llmq_encode_disconnect (&buf, &in), 0);
    s_assert_ok (llmq_decode_disconnect (dec, buf.data, buf.size, &out));
    cr_assert_null (out.reason.ptr);

    cr_assert_eq (llmq_encode_stats (&buf), 0);
    cr_assert_eq (buf.size, 7);
    cr_assert_eq (memcmp (buf.data, "LLMQ\x01\x0c\x80", 7), 0);
}

Test (proto, encoders_reject_impossible_structs)
{
    llmq_wire_request_t req = { .id = llmq_str ("a"), .model = llmq_str ("m"), .n_messages = 1 };
    cr_assert_eq (llmq_encode_request (&buf, &req), -1, "messages NULL with n 1");
    llmq_chat_msg_t msg = { llmq_str ("user"), llmq_str ("x"), { NULL, 0 } };
    req.messages = &msg;
    req.priority = LLMQ_PRIO__COUNT;
    cr_assert_eq (llmq_encode_request (&buf, &req), -1, "priority out of range");
    req.priority = LLMQ_PRIO_NORMAL;
    req.n_stop = LLMQ_MAX_STOP + 1;
    cr_assert_eq (llmq_encode_request (&buf, &req), -1, "too many stops");
    llmq_ready_t ready = { .worker_id = llmq_str ("w"), .n_models = LLMQ_MAX_MODELS + 1 };
    cr_assert_eq (llmq_encode_ready (&buf, &ready), -1);
}

Test (proto, nil_optional_values_are_absent)
{
    llmq_wire_request_t req, out;
    llmq_chat_msg_t msgs [2];
    tp_sample_request (&req, msgs);
    cr_assert_eq (llmq_encode_request (&buf, &req), 0);
    llmq_buf_t edited;
    llmq_buf_init (&edited);
    msgpack_object nil = tp_obj_nil ();
    const char *optional [] = { "max_tokens", "temperature", "top_p", "stop", "seed",
                                "stream", "priority", "timeout_ms", "cache",
                                "cache_ttl_ms", "tenant", "messages.1.name" };
    for (size_t i = 0; i < sizeof optional / sizeof optional [0]; i++) {
        tp_edit (&buf, optional [i], &nil, &edited);
        s_assert_ok (llmq_decode_request (dec, edited.data, edited.size, &out));
    }
    //  All of them at once.
    llmq_buf_t acc;
    llmq_buf_init (&acc);
    tp_edit (&buf, NULL, NULL, &acc);
    for (size_t i = 0; i < sizeof optional / sizeof optional [0]; i++) {
        tp_edit (&acc, optional [i], &nil, &edited);
        tp_edit (&edited, NULL, NULL, &acc);
    }
    s_assert_ok (llmq_decode_request (dec, acc.data, acc.size, &out));
    cr_assert_not (out.has_max_tokens || out.has_temperature || out.has_top_p
                   || out.has_seed || out.has_cache_ttl_ms || out.stream);
    cr_assert_eq (out.n_stop, 0);
    cr_assert_eq (out.priority, LLMQ_PRIO_NORMAL);
    cr_assert_eq (out.cache, LLMQ_CACHE_DEFAULT);
    cr_assert_null (out.tenant.ptr);
    cr_assert_null (out.messages [1].name.ptr);
    llmq_buf_free (&edited);
    llmq_buf_free (&acc);
}

Test (proto, priority_by_name_or_number)
{
    llmq_wire_request_t req, out;
    llmq_chat_msg_t msgs [2];
    tp_sample_request (&req, msgs);
    cr_assert_eq (llmq_encode_request (&buf, &req), 0);
    llmq_buf_t edited;
    llmq_buf_init (&edited);
    const char *names [] = { "critical", "high", "normal", "low", "batch" };
    for (uint32_t p = 0; p < 5; p++) {
        msgpack_object v = tp_obj_str (names [p]);
        tp_edit (&buf, "priority", &v, &edited);
        s_assert_ok (llmq_decode_request (dec, edited.data, edited.size, &out));
        cr_assert_eq (out.priority, p);
        v = tp_obj_uint (p);
        tp_edit (&buf, "priority", &v, &edited);
        s_assert_ok (llmq_decode_request (dec, edited.data, edited.size, &out));
        cr_assert_eq (out.priority, p);
    }
    llmq_buf_free (&edited);
}

Test (proto, numbers_accept_ints_and_floats)
{
    llmq_wire_request_t req, out;
    llmq_chat_msg_t msgs [2];
    tp_sample_request (&req, msgs);
    cr_assert_eq (llmq_encode_request (&buf, &req), 0);
    llmq_buf_t edited;
    llmq_buf_init (&edited);
    msgpack_object v = tp_obj_uint (1);
    tp_edit (&buf, "temperature", &v, &edited);
    s_assert_ok (llmq_decode_request (dec, edited.data, edited.size, &out));
    cr_assert_eq (out.temperature, 1.0);
    v = tp_obj_uint (2);
    tp_edit (&buf, "temperature", &v, &edited);
    s_assert_ok (llmq_decode_request (dec, edited.data, edited.size, &out));
    cr_assert_eq (out.temperature, 2.0, "2 is inside 0..2");
    v = tp_obj_uint (1);
    tp_edit (&buf, "top_p", &v, &edited);
    s_assert_ok (llmq_decode_request (dec, edited.data, edited.size, &out));
    cr_assert_eq (out.top_p, 1.0);
    v = tp_obj_uint (UINT64_MAX);
    tp_edit (&buf, "seed", &v, &edited);
    cr_assert_eq (llmq_decode_request (dec, edited.data, edited.size, &out),
                  LLMQ_DECODE_OUT_OF_RANGE, "seed is a signed 64-bit integer");
    //  A single stop string is one stop sequence.
    v = tp_obj_str ("###");
    tp_edit (&buf, "stop", &v, &edited);
    s_assert_ok (llmq_decode_request (dec, edited.data, edited.size, &out));
    cr_assert_eq (out.n_stop, 1);
    cr_assert_slice (out.stop [0], "###");
    llmq_buf_free (&edited);
}

Test (proto, decoder_is_reused_across_frames)
{
    llmq_wire_request_t req, out;
    llmq_chat_msg_t msgs [2];
    tp_sample_request (&req, msgs);
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq (llmq_encode_request (&buf, &req), 0);
        s_assert_ok (llmq_decode_request (dec, buf.data, buf.size, &out));
        cr_assert_slice (out.messages [1].content, "Hello there");
    }
    //  A decode failure leaves a detail; a success clears it.
    cr_assert_str_eq (llmq_decoder_error (dec), "");
}

Test (proto, encoders_reuse_the_buffer)
{
    llmq_final_t fin = { .id = llmq_str ("c"), .text = llmq_str ("some answer text") };
    cr_assert_eq (llmq_encode_final (&buf, &fin), 0);
    char *data = buf.data;
    size_t alloc = buf.alloc;
    for (int i = 0; i < 100; i++) {
        llmq_partial_t part = { .id = llmq_str ("c"), .seq = (uint32_t) i, .text = llmq_str ("x") };
        cr_assert_eq (llmq_encode_partial (&buf, &part), 0);
        cr_assert_eq (llmq_encode_final (&buf, &fin), 0);
    }
    cr_assert_eq (buf.data, data, "no reallocation once warm");
    cr_assert_eq (buf.alloc, alloc);
}

Test (proto, writer_builds_stats_reply)
{
    llmq_writer_t *w = llmq_writer_new (&buf, LLMQ_CMD_STATS_REPLY);
    cr_assert (w);
    llmq_writer_map (w, 3);
    llmq_writer_str (w, "queued");
    llmq_writer_uint (w, 5);
    llmq_writer_str (w, "workers");
    llmq_writer_array (w, 1);
    llmq_writer_map (w, 2);
    llmq_writer_strn (w, "idXX", 2);
    llmq_writer_str (w, "w-1");
    llmq_writer_str (w, "load");
    llmq_writer_double (w, 0.5);
    llmq_writer_str (w, "flags");
    llmq_writer_array (w, 3);
    llmq_writer_bool (w, true);
    llmq_writer_nil (w);
    llmq_writer_int (w, -3);
    cr_assert_not (llmq_writer_failed (w));
    llmq_writer_destroy (&w);
    cr_assert_null (w);
    llmq_cmd_t cmd;
    cr_assert_eq (llmq_peek_command (buf.data, buf.size, &cmd), LLMQ_DECODE_OK);
    cr_assert_eq (cmd, LLMQ_CMD_STATS_REPLY);
    llmq_buf_t json;
    llmq_buf_init (&json);
    s_assert_ok (llmq_frame_to_json (dec, buf.data, buf.size, &json));
    cr_assert_str_eq (json.data,
        "{\"queued\":5,\"workers\":[{\"id\":\"w-1\",\"load\":0.5}],\"flags\":[true,null,-3]}");
    llmq_buf_free (&json);
}

/* ---------------------------------------------------------------------- */

Test (proto_names, error_codes_round_trip)
{
    for (uint32_t c = 1; c < LLMQ_ERR__COUNT; c++) {
        const char *name = llmq_errcode_name (c);
        cr_assert_str_neq (name, "unknown");
        cr_assert_eq (llmq_errcode_from_name (name), c, "%s", name);
    }
    cr_assert_str_eq (llmq_errcode_name (LLMQ_ERR_BAD_REQUEST), "bad_request");
    cr_assert_str_eq (llmq_errcode_name (LLMQ_ERR_UNSUPPORTED), "unsupported_version");
    cr_assert_str_eq (llmq_errcode_name (LLMQ_ERR_TOO_LARGE), "too_large");
    cr_assert_str_eq (llmq_errcode_name (LLMQ_ERR_BACKEND), "backend_error");
    cr_assert_str_eq (llmq_errcode_name (LLMQ_ERR_WORKER_LOST), "worker_lost");
    cr_assert_str_eq (llmq_errcode_name (LLMQ_ERR__COUNT), "unknown");
    cr_assert_eq (llmq_errcode_from_name ("nope"), LLMQ_ERR_NONE);
    cr_assert_eq (llmq_errcode_from_name (NULL), LLMQ_ERR_NONE);
    cr_assert (llmq_errcode_retryable (LLMQ_ERR_OVERLOADED));
    cr_assert (llmq_errcode_retryable (LLMQ_ERR_WORKER_LOST));
    cr_assert_not (llmq_errcode_retryable (LLMQ_ERR_BAD_REQUEST));
    cr_assert_not (llmq_errcode_retryable (LLMQ_ERR_CANCELLED));
}

Test (proto_names, priorities_caches_backends_commands)
{
    uint32_t v = 99;
    cr_assert_eq (llmq_priority_from_name ("batch", &v), 0);
    cr_assert_eq (v, LLMQ_PRIO_BATCH);
    cr_assert_eq (llmq_priority_from_name ("urgent", &v), -1);
    cr_assert_str_eq (llmq_priority_name (LLMQ_PRIO_CRITICAL), "critical");
    cr_assert_str_eq (llmq_priority_name (7), "unknown");
    cr_assert_str_eq (llmq_cache_policy_name (LLMQ_CACHE_ONLY_IF_CACHED), "only-if-cached");
    cr_assert_eq (llmq_cache_policy_from_name ("bypass", &v), 0);
    cr_assert_eq (v, LLMQ_CACHE_BYPASS);
    cr_assert_str_eq (llmq_backend_state_name (LLMQ_BACKEND_DOWN), "down");
    cr_assert_eq (llmq_backend_state_from_name ("degraded", &v), 0);
    cr_assert_eq (v, LLMQ_BACKEND_DEGRADED);
    cr_assert_str_eq (llmq_cmd_name (LLMQ_CMD_DISPATCH), "DISPATCH");
    cr_assert_str_eq (llmq_cmd_name (0), "UNKNOWN");
}

Test (proto_names, decode_results_map_to_protocol_errors)
{
    cr_assert_eq (llmq_decode_errcode (LLMQ_DECODE_OK), LLMQ_ERR_NONE);
    cr_assert_eq (llmq_decode_errcode (LLMQ_DECODE_SIGNATURE), LLMQ_ERR_BAD_REQUEST);
    cr_assert_eq (llmq_decode_errcode (LLMQ_DECODE_MALFORMED), LLMQ_ERR_BAD_REQUEST);
    cr_assert_eq (llmq_decode_errcode (LLMQ_DECODE_MISSING_FIELD), LLMQ_ERR_BAD_REQUEST);
    cr_assert_eq (llmq_decode_errcode (LLMQ_DECODE_WRONG_TYPE), LLMQ_ERR_BAD_REQUEST);
    cr_assert_eq (llmq_decode_errcode (LLMQ_DECODE_OUT_OF_RANGE), LLMQ_ERR_BAD_REQUEST);
    cr_assert_eq (llmq_decode_errcode (LLMQ_DECODE_VERSION), LLMQ_ERR_UNSUPPORTED);
    cr_assert_eq (llmq_decode_errcode (LLMQ_DECODE_COMMAND), LLMQ_ERR_UNSUPPORTED);
    cr_assert_eq (llmq_decode_errcode (LLMQ_DECODE_TOO_LARGE), LLMQ_ERR_TOO_LARGE);
    cr_assert_eq (llmq_decode_errcode (LLMQ_DECODE_TOO_DEEP), LLMQ_ERR_TOO_LARGE);
    cr_assert_eq (llmq_decode_errcode (LLMQ_DECODE_TOO_MANY), LLMQ_ERR_TOO_LARGE);
    cr_assert_eq (llmq_decode_errcode (LLMQ_DECODE_STRING_TOO_LONG), LLMQ_ERR_TOO_LARGE);
    cr_assert_eq (llmq_decode_errcode (LLMQ_DECODE_NO_MEMORY), LLMQ_ERR_INTERNAL);
    cr_assert_str_eq (llmq_decode_result_name (LLMQ_DECODE_MISSING_FIELD), "missing field");
}

Test (proto_util, str_helpers_and_clock)
{
    cr_assert (llmq_str_eq (llmq_str ("abc"), "abc"));
    cr_assert_not (llmq_str_eq (llmq_str ("abc"), "ab"));
    cr_assert_not (llmq_str_eq (llmq_str ("ab"), "abc"));
    cr_assert_not (llmq_str_eq (llmq_str (NULL), ""));
    cr_assert (llmq_str_eq (llmq_str (""), ""));
    llmq_str_t absent = llmq_str (NULL);
    cr_assert_null (absent.ptr);
    cr_assert_eq (absent.len, 0);
    uint64_t a = llmq_now_us ();
    uint64_t b = llmq_now_us ();
    cr_assert_geq (b, a);
    cr_assert_gt (a, 0);
}
