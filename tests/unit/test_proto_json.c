/*  test_proto_json.c -- llmq_frame_to_json: what `llmq stats --json` and
    `llmq chat --json` print. The output must be one line of valid JSON for
    any frame that passes the header and limit checks, including msgpack
    that has no JSON equivalent.
*/
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "test_proto_util.h"

static llmq_decoder_t *dec;
static llmq_buf_t buf;
static llmq_buf_t json;

static void
setup (void)
{
    dec = llmq_decoder_new ();
    llmq_buf_init (&buf);
    llmq_buf_init (&json);
}

static void
teardown (void)
{
    llmq_decoder_destroy (&dec);
    llmq_buf_free (&buf);
    llmq_buf_free (&json);
}

TestSuite (proto_json, .init = setup, .fini = teardown);

//  Converts buf and parses the result back; the caller decrefs.
static json_t *
s_convert (void)
{
    llmq_decode_result_t rc = llmq_frame_to_json (dec, buf.data, buf.size, &json);
    cr_assert_eq (rc, LLMQ_DECODE_OK, "%s", llmq_decoder_error (dec));
    cr_assert_eq (strlen (json.data), json.size, "NUL-terminated, size without it");
    cr_assert_null (strchr (json.data, '\n'), "one line");
    json_error_t error;
    json_t *root = json_loads (json.data, JSON_ALLOW_NUL, &error);
    cr_assert_not_null (root, "invalid JSON '%s': %s", json.data, error.text);
    cr_assert (json_is_object (root));
    return root;
}

Test (proto_json, final_frame)
{
    llmq_final_t fin = { .id = llmq_str ("c-1"), .model = llmq_str ("m"),
                         .text = llmq_str ("h\xc3\xa9llo \"q\"\n"),
                         .finish_reason = llmq_str ("stop"), .usage = { 5, 7 },
                         .cached = false, .attempts = 1,
                         .timings = { .total_us = 1234 } };
    cr_assert_eq (llmq_encode_final (&buf, &fin), 0);
    json_t *root = s_convert ();
    cr_assert_str_eq (json_string_value (json_object_get (root, "id")), "c-1");
    cr_assert_str_eq (json_string_value (json_object_get (root, "text")),
                      "h\xc3\xa9llo \"q\"\n");
    json_t *usage = json_object_get (root, "usage");
    cr_assert_eq (json_integer_value (json_object_get (usage, "completion_tokens")), 7);
    cr_assert (json_is_false (json_object_get (root, "cached")));
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (root, "timings"),
                                                       "total_us")), 1234);
    json_decref (root);
}

Test (proto_json, error_frame_names_the_code)
{
    llmq_error_t err = { .id = llmq_str ("c-2"), .code = LLMQ_ERR_TIMEOUT,
                         .message = llmq_str ("deadline passed") };
    cr_assert_eq (llmq_encode_error (&buf, &err), 0);
    json_t *root = s_convert ();
    cr_assert_eq (json_integer_value (json_object_get (root, "code")), 7);
    cr_assert_str_eq (json_string_value (json_object_get (root, "error")), "timeout");
    json_decref (root);
}

Test (proto_json, values_json_cannot_hold)
{
    tp_packer_t p;
    tp_packer_init (&p);
    msgpack_pack_map (&p.pk, 7);
    tp_str (&p.pk, "bad_utf8");
    msgpack_pack_str_with_body (&p.pk, "a\xff" "b", 3);
    msgpack_pack_uint32 (&p.pk, 42);                //  non-string key
    tp_str (&p.pk, "int key");
    tp_str (&p.pk, "bin");
    msgpack_pack_bin_with_body (&p.pk, "\x01\x02", 2);
    tp_str (&p.pk, "nan");
    msgpack_pack_double (&p.pk, 0.0 / 0.0);
    tp_str (&p.pk, "big");
    msgpack_pack_uint64 (&p.pk, UINT64_MAX);
    tp_str (&p.pk, "neg");
    msgpack_pack_int64 (&p.pk, INT64_MIN);
    tp_str (&p.pk, "nul");
    msgpack_pack_str_with_body (&p.pk, "a\0b", 3);
    tp_frame (&buf, LLMQ_CMD_STATS_REPLY, p.sbuf.data, p.sbuf.size);
    tp_packer_free (&p);

    json_t *root = s_convert ();
    cr_assert_str_eq (json_string_value (json_object_get (root, "bad_utf8")), "a?b");
    cr_assert_str_eq (json_string_value (json_object_get (root, "42")), "int key");
    cr_assert (json_is_null (json_object_get (root, "bin")));
    cr_assert (json_is_null (json_object_get (root, "nan")));
    cr_assert (json_is_real (json_object_get (root, "big")));
    cr_assert_eq (json_integer_value (json_object_get (root, "neg")), INT64_MIN);
    cr_assert_eq (json_string_length (json_object_get (root, "nul")), 3);
    json_decref (root);
}

Test (proto_json, rejects_what_decoders_reject)
{
    cr_assert_eq (llmq_frame_to_json (dec, "LLMX\x01\x06\x80", 7, &json),
                  LLMQ_DECODE_SIGNATURE);
    cr_assert_eq (llmq_frame_to_json (dec, "LLMQ\x02\x06\x80", 7, &json),
                  LLMQ_DECODE_VERSION);
    cr_assert_eq (llmq_frame_to_json (dec, "LLMQ\x01\x06\x90", 7, &json),
                  LLMQ_DECODE_MALFORMED);
    cr_assert_eq (llmq_frame_to_json (dec, "LLMQ\x01\x06\xdd\xff\xff\xff\xff", 11, &json),
                  LLMQ_DECODE_TOO_MANY);
    cr_assert_eq (json.size, 0);
}

Test (proto_json, any_command_with_a_map_body)
{
    cr_assert_eq (llmq_encode_stats (&buf), 0);
    json_t *root = s_convert ();
    cr_assert_eq (json_object_size (root), 0);
    cr_assert_str_eq (json.data, "{}");
    json_decref (root);
}
