/*  test_proto_hostile.c -- the codec against broken and hostile input.

    PROTOCOL.md promises that every byte from the network is treated as
    hostile: each defect below must come back as the right decode result
    (and so the right protocol error), with a detail naming the field, and
    never as a crash or a large allocation.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "test_proto_util.h"

static llmq_decoder_t *dec;
static llmq_buf_t buf;              //  a valid frame
static llmq_buf_t bad;              //  the frame under test

static void
setup (void)
{
    dec = llmq_decoder_new ();
    cr_assert (dec);
    llmq_buf_init (&buf);
    llmq_buf_init (&bad);
}

static void
teardown (void)
{
    llmq_decoder_destroy (&dec);
    llmq_buf_free (&buf);
    llmq_buf_free (&bad);
}

TestSuite (hostile, .init = setup, .fini = teardown);

/* ---------------------------------------------------------------------- */
//  Every decoder behind one signature, so tables can name them.

typedef llmq_decode_result_t (decode_fn) (const void *frame, size_t size);

static union {
    llmq_wire_request_t req; llmq_cancel_t cancel; llmq_ping_t ping; llmq_partial_t partial;
    llmq_final_t final; llmq_error_t error; llmq_ready_t ready; llmq_heartbeat_t hb;
    llmq_dispatch_t dispatch; llmq_disconnect_t disconnect;
} out;

#define DECODER(name, field) \
    static llmq_decode_result_t d_##name (const void *f, size_t s) \
    { return llmq_decode_##name (dec, f, s, &out.field); }
DECODER (request, req)
DECODER (cancel, cancel)
DECODER (ping, ping)
DECODER (pong, ping)
DECODER (partial, partial)
DECODER (final, final)
DECODER (error, error)
DECODER (ready, ready)
DECODER (heartbeat, hb)
DECODER (dispatch, dispatch)
DECODER (disconnect, disconnect)

static llmq_decode_result_t
d_json (const void *f, size_t s)
{
    llmq_buf_t json;
    llmq_buf_init (&json);
    llmq_decode_result_t rc = llmq_frame_to_json (dec, f, s, &json);
    llmq_buf_free (&json);
    return rc;
}

/* ---------------------------------------------------------------------- */
//  Valid frames of every type, fully populated.

static llmq_chat_msg_t s_msgs [2];
static llmq_wire_request_t s_req;
static llmq_buf_t s_body;           //  request body for DISPATCH

static void
s_make (llmq_cmd_t cmd, llmq_buf_t *frame)
{
    tp_sample_request (&s_req, s_msgs);
    switch (cmd) {
        case LLMQ_CMD_REQUEST:
            cr_assert_eq (llmq_encode_request (frame, &s_req), 0);
            break;
        case LLMQ_CMD_CANCEL: {
            llmq_cancel_t m = { llmq_str ("c-1"), true, 9 };
            cr_assert_eq (llmq_encode_cancel (frame, &m), 0);
            break;
        }
        case LLMQ_CMD_PING:
        case LLMQ_CMD_PONG: {
            llmq_ping_t m = { 77, llmq_str ("0.1.0") };
            cr_assert_eq (cmd == LLMQ_CMD_PING ? llmq_encode_ping (frame, &m)
                                               : llmq_encode_pong (frame, &m), 0);
            break;
        }
        case LLMQ_CMD_PARTIAL: {
            llmq_partial_t m = { llmq_str ("c-1"), true, 5, 2, llmq_str ("tok") };
            cr_assert_eq (llmq_encode_partial (frame, &m), 0);
            break;
        }
        case LLMQ_CMD_FINAL: {
            llmq_final_t m = { .id = llmq_str ("c-1"), .has_rid = true, .rid = 5,
                               .model = llmq_str ("m"), .text = llmq_str ("answer"),
                               .finish_reason = llmq_str ("stop"), .usage = { 3, 4 },
                               .cached = true, .worker = llmq_str ("w-1"),
                               .attempts = 1, .timings = { 1, 2, 3, 4, 5 } };
            cr_assert_eq (llmq_encode_final (frame, &m), 0);
            break;
        }
        case LLMQ_CMD_ERROR: {
            llmq_error_t m = { llmq_str ("c-1"), true, 5, LLMQ_ERR_BACKEND,
                               llmq_str ("upstream said no"), true, 100, true, 503 };
            cr_assert_eq (llmq_encode_error (frame, &m), 0);
            break;
        }
        case LLMQ_CMD_READY: {
            llmq_ready_t m = { .worker_id = llmq_str ("w-1"), .n_models = 2,
                               .slots = 4, .version = llmq_str ("0.1.0") };
            m.models [0] = llmq_str ("m1");
            m.models [1] = llmq_str ("m2");
            cr_assert_eq (llmq_encode_ready (frame, &m), 0);
            break;
        }
        case LLMQ_CMD_HEARTBEAT: {
            llmq_heartbeat_t m = { 1, 2, 3, 4, 0.5, 6, LLMQ_BACKEND_DOWN, true };
            cr_assert_eq (llmq_encode_heartbeat (frame, &m), 0);
            break;
        }
        case LLMQ_CMD_DISPATCH: {
            cr_assert_eq (llmq_encode_request_body (&s_body, &s_req), 0);
            llmq_dispatch_t m = { .rid = 5, .attempt = 1, .deadline_ms = 1000,
                                  .req_raw = s_body.data, .req_raw_size = s_body.size };
            cr_assert_eq (llmq_encode_dispatch (frame, &m), 0);
            break;
        }
        case LLMQ_CMD_DISCONNECT: {
            llmq_disconnect_t m = { llmq_str ("bye") };
            cr_assert_eq (llmq_encode_disconnect (frame, &m), 0);
            break;
        }
        default:
            cr_assert_fail ("no sample for %d", cmd);
    }
}

static const struct {
    llmq_cmd_t cmd;
    decode_fn *decode;
} s_types [] = {
    { LLMQ_CMD_REQUEST, d_request }, { LLMQ_CMD_CANCEL, d_cancel },
    { LLMQ_CMD_PING, d_ping }, { LLMQ_CMD_PONG, d_pong },
    { LLMQ_CMD_PARTIAL, d_partial }, { LLMQ_CMD_FINAL, d_final },
    { LLMQ_CMD_ERROR, d_error }, { LLMQ_CMD_READY, d_ready },
    { LLMQ_CMD_HEARTBEAT, d_heartbeat }, { LLMQ_CMD_DISPATCH, d_dispatch },
    { LLMQ_CMD_DISCONNECT, d_disconnect }
};
#define N_TYPES (sizeof s_types / sizeof s_types [0])

static const char *s_case = "";    //  names the table row in failures

static void
s_expect (decode_fn *decode, const llmq_buf_t *frame, llmq_decode_result_t want,
          const char *detail)
{
    llmq_decode_result_t rc = decode (frame->data, frame->size);
    cr_assert_eq (rc, want, "%s: expected %s, got %s (%s)", s_case,
                  llmq_decode_result_name (want), llmq_decode_result_name (rc),
                  llmq_decoder_error (dec));
    if (detail)
        cr_assert (strstr (llmq_decoder_error (dec), detail),
                   "detail '%s' lacks '%s'", llmq_decoder_error (dec), detail);
}

/* ---------------------------------------------------------------------- */

Test (hostile, every_sample_decodes)
{
    for (size_t t = 0; t < N_TYPES; t++) {
        s_make (s_types [t].cmd, &buf);
        s_expect (s_types [t].decode, &buf, LLMQ_DECODE_OK, NULL);
        s_expect (d_json, &buf, LLMQ_DECODE_OK, NULL);
    }
    llmq_buf_free (&s_body);
}

Test (hostile, truncated_at_every_offset)
{
    for (size_t t = 0; t < N_TYPES; t++) {
        s_make (s_types [t].cmd, &buf);
        for (size_t cut = 0; cut < buf.size; cut++) {
            //  A copy of exactly cut bytes, so ASan sees any over-read.
            char *part = malloc (cut ? cut : 1);
            memcpy (part, buf.data, cut);
            llmq_decode_result_t rc = s_types [t].decode (part, cut);
            cr_assert_neq (rc, LLMQ_DECODE_OK, "%s cut at %zu of %zu decoded",
                           llmq_cmd_name (s_types [t].cmd), cut, buf.size);
            cr_assert_neq (d_json (part, cut), LLMQ_DECODE_OK);
            free (part);
        }
    }
    llmq_buf_free (&s_body);
}

Test (hostile, header_errors)
{
    s_make (LLMQ_CMD_FINAL, &buf);
    tp_frame (&bad, LLMQ_CMD_FINAL, buf.data + 6, buf.size - 6);
    s_expect (d_final, &bad, LLMQ_DECODE_OK, NULL);

    bad.data [3] = 'X';
    s_expect (d_final, &bad, LLMQ_DECODE_SIGNATURE, "signature");
    bad.data [3] = 'Q';
    bad.data [4] = 2;
    s_expect (d_final, &bad, LLMQ_DECODE_VERSION, "version 1");
    cr_assert_eq (llmq_decode_errcode (LLMQ_DECODE_VERSION), LLMQ_ERR_UNSUPPORTED);
    bad.data [4] = 0;
    s_expect (d_final, &bad, LLMQ_DECODE_VERSION, NULL);
    bad.data [4] = 1;
    bad.data [5] = 0x7f;
    s_expect (d_final, &bad, LLMQ_DECODE_COMMAND, "0x7f");
    s_expect (d_json, &bad, LLMQ_DECODE_COMMAND, NULL);
    bad.data [5] = 0;
    s_expect (d_final, &bad, LLMQ_DECODE_COMMAND, NULL);
    //  A valid command, but not the one the decoder reads.
    bad.data [5] = LLMQ_CMD_PARTIAL;
    s_expect (d_final, &bad, LLMQ_DECODE_COMMAND, "expected FINAL, got PARTIAL");

    llmq_cmd_t cmd;
    cr_assert_eq (llmq_decoder_peek (dec, bad.data, bad.size, &cmd), LLMQ_DECODE_OK);
    cr_assert_eq (cmd, LLMQ_CMD_PARTIAL);
    cr_assert_str_eq (llmq_decoder_error (dec), "");
    bad.data [4] = 2;
    cr_assert_eq (llmq_decoder_peek (dec, bad.data, bad.size, &cmd), LLMQ_DECODE_VERSION);
    cr_assert_str_eq (llmq_decoder_error (dec),
                      "protocol version 2 not supported; this peer speaks version 1");
    cr_assert_eq (llmq_peek_command ("LLM", 3, &cmd), LLMQ_DECODE_SIGNATURE);
    cr_assert_eq (llmq_peek_command ("LLMQ\x01", 5, &cmd), LLMQ_DECODE_MALFORMED);
    cr_assert_eq (llmq_peek_command (NULL, 0, &cmd), LLMQ_DECODE_SIGNATURE);
    cr_assert_eq (llmq_peek_command ("LLMQ\x01\x0d", 6, &cmd), LLMQ_DECODE_OK);
    cr_assert_eq (cmd, LLMQ_CMD_STATS_REPLY);
    cr_assert_eq (llmq_peek_command ("LLMQ\x01\x0e", 6, &cmd), LLMQ_DECODE_COMMAND);

    //  Header only: the body must be a map, even an empty one.
    tp_frame (&bad, LLMQ_CMD_HEARTBEAT, NULL, 0);
    s_expect (d_heartbeat, &bad, LLMQ_DECODE_MALFORMED, NULL);
}

Test (hostile, frame_over_max_size)
{
    size_t size = LLMQ_MAX_MSG_SIZE + 1;
    char *big = calloc (1, size);
    memcpy (big, "LLMQ\x01\x01", 6);
    cr_assert_eq (llmq_decode_request (dec, big, size, &out.req), LLMQ_DECODE_TOO_LARGE);
    cr_assert_eq (llmq_peek_command (big, size, NULL), LLMQ_DECODE_TOO_LARGE);
    free (big);
}

Test (hostile, body_must_be_one_map)
{
    const struct { const char *bytes; size_t size; llmq_decode_result_t want; } cases [] = {
        { "\x90", 1, LLMQ_DECODE_MALFORMED },            //  empty array
        { "\x01", 1, LLMQ_DECODE_MALFORMED },            //  an int
        { "\xc0", 1, LLMQ_DECODE_MALFORMED },            //  nil
        { "\x80\x80", 2, LLMQ_DECODE_MALFORMED },        //  trailing bytes
        { "\xc1", 1, LLMQ_DECODE_MALFORMED },            //  reserved byte
        { "\x81\xa1k\xc1", 4, LLMQ_DECODE_MALFORMED },   //  reserved inside
        { "\x81\xa1k", 3, LLMQ_DECODE_MALFORMED },       //  value missing
        { "\x81\xd9\x05" "ab", 5, LLMQ_DECODE_MALFORMED },  //  str8 short
        { "\x81\xa1k\xcb\x00", 5, LLMQ_DECODE_MALFORMED } //  float64 short
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        tp_frame (&bad, LLMQ_CMD_HEARTBEAT, cases [i].bytes, cases [i].size);
        s_expect (d_heartbeat, &bad, cases [i].want, NULL);
    }
}

Test (hostile, counts_larger_than_the_input)
{
    //  The canonical attack: 4 billion elements promised in 5 bytes.
    tp_frame (&bad, LLMQ_CMD_REQUEST, "\xdd\xff\xff\xff\xff", 5);
    s_expect (d_request, &bad, LLMQ_DECODE_TOO_MANY, NULL);
    tp_frame (&bad, LLMQ_CMD_REQUEST, "\xdf\xff\xff\xff\xff", 5);
    s_expect (d_request, &bad, LLMQ_DECODE_TOO_MANY, NULL);
    s_expect (d_json, &bad, LLMQ_DECODE_TOO_MANY, NULL);
    //  Nested, and a map of 2 promising 3 entries' worth.
    tp_frame (&bad, LLMQ_CMD_REQUEST, "\x81\xa8messages\xdc\xff\xff", 13);
    s_expect (d_request, &bad, LLMQ_DECODE_TOO_MANY, NULL);
    tp_frame (&bad, LLMQ_CMD_HEARTBEAT, "\x84\xa1k\x01\xa1j\x02", 7);
    s_expect (d_heartbeat, &bad, LLMQ_DECODE_TOO_MANY, NULL);
    //  {"k": [[1, 1], <missing>]}: the inner array fits the bytes left,
    //  but not together with what the outer one still promises.
    tp_frame (&bad, LLMQ_CMD_HEARTBEAT, "\x81\xa1k\x92\x92\x01\x01", 7);
    s_expect (d_heartbeat, &bad, LLMQ_DECODE_TOO_MANY, NULL);
    //  A string length past the limit, whatever the input holds.
    tp_frame (&bad, LLMQ_CMD_HEARTBEAT, "\x81\xa1k\xdb\xff\xff\xff\xff", 8);
    s_expect (d_heartbeat, &bad, LLMQ_DECODE_STRING_TOO_LONG, NULL);
    tp_frame (&bad, LLMQ_CMD_HEARTBEAT, "\x81\xa1k\xc6\x7f\xff\xff\xff", 8);
    s_expect (d_heartbeat, &bad, LLMQ_DECODE_STRING_TOO_LONG, NULL);
    tp_frame (&bad, LLMQ_CMD_HEARTBEAT, "\x81\xa1k\xc9\x7f\xff\xff\xff\x01", 9);
    s_expect (d_heartbeat, &bad, LLMQ_DECODE_STRING_TOO_LONG, NULL);
}

//  Appends bytes as they are (formats the packer would not choose).
static void
s_raw (tp_packer_t *p, const char *bytes, size_t size)
{
    msgpack_sbuffer_write (&p->sbuf, bytes, size);
}

Test (hostile, every_msgpack_format_is_walked)
{
    //  One unknown key per msgpack format: the pre-scan and msgpack-c must
    //  agree on every one, or a valid frame would be refused (or worse).
    static char big [70000];
    tp_packer_t p;
    tp_packer_init (&p);
    msgpack_pack_map (&p.pk, 31);
    int keys = 0;
#define KEY(name) (tp_str (&p.pk, name), keys++)
    KEY ("pfix");  msgpack_pack_uint8 (&p.pk, 7);
    KEY ("nfix");  msgpack_pack_int8 (&p.pk, -7);
    KEY ("nil");   msgpack_pack_nil (&p.pk);
    KEY ("f");     msgpack_pack_false (&p.pk);
    KEY ("u8");    msgpack_pack_uint8 (&p.pk, 200);
    KEY ("u16");   msgpack_pack_uint16 (&p.pk, 60000);
    KEY ("u32");   msgpack_pack_uint32 (&p.pk, 4000000000u);
    KEY ("u64");   msgpack_pack_uint64 (&p.pk, UINT64_MAX);
    KEY ("i8");    msgpack_pack_int8 (&p.pk, -100);
    KEY ("i16");   msgpack_pack_int16 (&p.pk, -30000);
    KEY ("i32");   msgpack_pack_int32 (&p.pk, -2000000000);
    KEY ("i64");   msgpack_pack_int64 (&p.pk, INT64_MIN);
    KEY ("f32");   msgpack_pack_float (&p.pk, 1.5f);
    KEY ("f64");   msgpack_pack_double (&p.pk, -2.25);
    KEY ("str8");  msgpack_pack_str_with_body (&p.pk, big, 200);
    KEY ("str16"); msgpack_pack_str_with_body (&p.pk, big, 300);
    KEY ("str32"); msgpack_pack_str_with_body (&p.pk, big, sizeof big);
    KEY ("bin8");  msgpack_pack_bin_with_body (&p.pk, big, 10);
    KEY ("bin16"); msgpack_pack_bin_with_body (&p.pk, big, 300);
    KEY ("bin32"); msgpack_pack_bin_with_body (&p.pk, big, sizeof big);
    KEY ("fixext"); s_raw (&p, "\xd4\x01\x00", 3);
    KEY ("fixext16"); s_raw (&p, "\xd8\x01" "0123456789abcdef", 18);
    KEY ("ext8");  s_raw (&p, "\xc7\x03\x05" "abc", 6);
    KEY ("ext16"); s_raw (&p, "\xc8\x00\x02\x05" "ab", 6);
    KEY ("ext32"); s_raw (&p, "\xc9\x00\x00\x00\x01\x05" "a", 7);
    KEY ("arr16"); s_raw (&p, "\xdc\x00\x02\x01\x02", 5);
    KEY ("arr32"); s_raw (&p, "\xdd\x00\x00\x00\x01\xc3", 6);
    KEY ("map16"); s_raw (&p, "\xde\x00\x01\xa1k\x01", 6);
    KEY ("map32"); s_raw (&p, "\xdf\x00\x00\x00\x00", 5);
    KEY ("s8b");   s_raw (&p, "\xd9\x01z", 3);
    KEY ("s32b");  s_raw (&p, "\xdb\x00\x00\x00\x01z", 6);
#undef KEY
    cr_assert_eq (keys, 31);
    tp_frame (&bad, LLMQ_CMD_HEARTBEAT, p.sbuf.data, p.sbuf.size);
    tp_packer_free (&p);
    s_expect (d_heartbeat, &bad, LLMQ_DECODE_OK, NULL);
    s_expect (d_json, &bad, LLMQ_DECODE_OK, NULL);
    //  Every prefix of it is refused.
    for (size_t cut = LLMQ_HEADER_SIZE; cut < bad.size; cut += 97)
        cr_assert_neq (llmq_decode_heartbeat (dec, bad.data, cut, &out.hb), LLMQ_DECODE_OK);
}

//  A heartbeat whose unknown key "x" holds `levels` nested arrays.
static void
s_nested (int levels, llmq_buf_t *frame)
{
    tp_packer_t p;
    tp_packer_init (&p);
    msgpack_pack_map (&p.pk, 1);
    tp_str (&p.pk, "x");
    for (int i = 0; i < levels; i++)
        msgpack_pack_array (&p.pk, i + 1 < levels ? 1 : 0);
    tp_frame (frame, LLMQ_CMD_HEARTBEAT, p.sbuf.data, p.sbuf.size);
    tp_packer_free (&p);
}

Test (hostile, nesting_depth)
{
    //  The body map is level 1, so LLMQ_MAX_DEPTH - 1 arrays fit.
    s_nested (LLMQ_MAX_DEPTH - 1, &bad);
    s_expect (d_heartbeat, &bad, LLMQ_DECODE_OK, NULL);
    s_nested (LLMQ_MAX_DEPTH, &bad);
    s_expect (d_heartbeat, &bad, LLMQ_DECODE_TOO_DEEP, NULL);
    s_expect (d_json, &bad, LLMQ_DECODE_TOO_DEEP, NULL);
    s_nested (100000, &bad);
    s_expect (d_heartbeat, &bad, LLMQ_DECODE_TOO_DEEP, NULL);
}

//  A request whose metadata holds `levels` nested arrays.
static void
s_deep_request (int levels, llmq_buf_t *frame)
{
    llmq_buf_t body;
    llmq_buf_init (&body);
    llmq_chat_msg_t msg = { llmq_str ("user"), llmq_str ("hi"), { NULL, 0 } };
    llmq_wire_request_t req = { .id = llmq_str ("r"), .model = llmq_str ("m"), .messages = &msg,
                           .n_messages = 1, .priority = LLMQ_PRIO_NORMAL };
    cr_assert_eq (llmq_encode_request_body (&body, &req), 0);
    tp_packer_t p;
    tp_packer_init (&p);
    s_raw (&p, "\x84", 1);                 //  the 3 keys plus "x"
    s_raw (&p, body.data + 1, body.size - 1);
    tp_str (&p.pk, "x");
    for (int i = 0; i < levels; i++)
        msgpack_pack_array (&p.pk, i + 1 < levels ? 1 : 0);
    tp_frame (frame, LLMQ_CMD_REQUEST, p.sbuf.data, p.sbuf.size);
    tp_packer_free (&p);
    llmq_buf_free (&body);
}

//  A valid request frame of exactly size bytes: the sample request plus
//  two unknown keys of padding (one string may not pass LLMQ_MAX_STRING).
static void
s_make_sized_request (size_t size, llmq_buf_t *frame)
{
    size_t half = (size - 64) / 2;
    char *text = malloc (half + 1);
    memset (text, 'x', half);
    text [half] = 0;
    llmq_buf_t step;
    llmq_buf_init (&step);
    s_make (LLMQ_CMD_REQUEST, &buf);
    msgpack_object v = tp_obj_str (text);
    tp_edit (&buf, "p", &v, &step);
    //  Add the second pad, measure, and redo it with the exact length.
    size_t second = size > step.size + half ? half : size - step.size;
    text [second] = 0;
    v = tp_obj_str (text);
    tp_edit (&step, "q", &v, frame);
    second -= frame->size - size;
    text [second] = 0;
    v = tp_obj_str (text);
    tp_edit (&step, "q", &v, frame);
    cr_assert_eq (frame->size, size, "built %zu bytes, wanted %zu", frame->size, size);
    free (text);
    llmq_buf_free (&step);
}

Test (hostile, every_accepted_request_fits_a_dispatch)
{
    //  Found by fuzz_request: a request nested to the protocol's depth
    //  limit became one level too deep inside its DISPATCH. So a REQUEST
    //  is held to LLMQ_MAX_DEPTH - 1 (and to a little less size and fewer
    //  objects).
    s_deep_request (LLMQ_MAX_DEPTH - 1, &bad);
    s_expect (d_request, &bad, LLMQ_DECODE_TOO_DEEP, NULL);
    s_deep_request (LLMQ_MAX_DEPTH - 2, &bad);
    s_expect (d_request, &bad, LLMQ_DECODE_OK, NULL);
    llmq_dispatch_t in = { .rid = 1, .attempt = 1, .req_raw = out.req.raw,
                           .req_raw_size = out.req.raw_size };
    llmq_buf_t frame;
    llmq_buf_init (&frame);
    cr_assert_eq (llmq_encode_dispatch (&frame, &in), 0);
    s_expect (d_dispatch, &frame, LLMQ_DECODE_OK, NULL);

    //  Size: a request just over the reserve is refused; the largest one
    //  accepted still makes a DISPATCH under LLMQ_MAX_MSG_SIZE.
    size_t limit = LLMQ_MAX_MSG_SIZE - LLMQ_DISPATCH_RESERVE;
    for (size_t size = limit; size <= limit + 1; size++) {
        s_make_sized_request (size, &bad);
        s_expect (d_request, &bad, size == limit ? LLMQ_DECODE_OK : LLMQ_DECODE_TOO_LARGE,
                  NULL);
        if (size == limit) {
            in.req_raw = out.req.raw;
            in.req_raw_size = out.req.raw_size;
            cr_assert_eq (llmq_encode_dispatch (&frame, &in), 0);
            cr_assert_leq (frame.size, LLMQ_MAX_MSG_SIZE);
            s_expect (d_dispatch, &frame, LLMQ_DECODE_OK, NULL);
        }
    }
    llmq_buf_free (&frame);
}

Test (hostile, too_many_objects)
{
    tp_packer_t p;
    tp_packer_init (&p);
    msgpack_pack_map (&p.pk, 1);
    tp_str (&p.pk, "x");
    msgpack_pack_array (&p.pk, LLMQ_MAX_ELEMENTS);
    for (uint32_t i = 0; i < LLMQ_MAX_ELEMENTS; i++)
        msgpack_pack_nil (&p.pk);
    tp_frame (&bad, LLMQ_CMD_HEARTBEAT, p.sbuf.data, p.sbuf.size);
    tp_packer_free (&p);
    s_expect (d_heartbeat, &bad, LLMQ_DECODE_TOO_MANY, "objects");
}

//  A request with n messages.
static void
s_request_with (uint32_t n_messages, llmq_buf_t *frame)
{
    llmq_chat_msg_t *msgs = calloc (n_messages, sizeof *msgs);
    for (uint32_t i = 0; i < n_messages; i++)
        msgs [i] = (llmq_chat_msg_t) { llmq_str ("user"), llmq_str ("hi"), { NULL, 0 } };
    llmq_wire_request_t req = { .id = llmq_str ("r"), .model = llmq_str ("m"),
                           .messages = msgs, .n_messages = n_messages,
                           .priority = LLMQ_PRIO_NORMAL };
    cr_assert_eq (llmq_encode_request (frame, &req), 0);
    free (msgs);
}

Test (hostile, message_count_limit)
{
    s_request_with (LLMQ_MAX_MESSAGES, &bad);
    s_expect (d_request, &bad, LLMQ_DECODE_OK, NULL);
    cr_assert_eq (out.req.n_messages, LLMQ_MAX_MESSAGES);
    s_request_with (LLMQ_MAX_MESSAGES + 1, &bad);
    s_expect (d_request, &bad, LLMQ_DECODE_TOO_MANY, "field 'messages'");
    s_request_with (0, &bad);
    s_expect (d_request, &bad, LLMQ_DECODE_OUT_OF_RANGE, "field 'messages'");
}

Test (hostile, string_limits)
{
    char long_id [LLMQ_MAX_ID + 2];
    memset (long_id, 'i', sizeof long_id - 1);
    long_id [sizeof long_id - 1] = 0;
    char long_name [LLMQ_MAX_NAME + 2];
    memset (long_name, 'n', sizeof long_name - 1);
    long_name [sizeof long_name - 1] = 0;

    s_make (LLMQ_CMD_REQUEST, &buf);
    msgpack_object v = tp_obj_str (long_id);
    tp_edit (&buf, "id", &v, &bad);
    s_expect (d_request, &bad, LLMQ_DECODE_STRING_TOO_LONG, "field 'id'");
    long_id [LLMQ_MAX_ID] = 0;      //  exactly the limit
    v = tp_obj_str (long_id);
    tp_edit (&buf, "id", &v, &bad);
    s_expect (d_request, &bad, LLMQ_DECODE_OK, NULL);
    v = tp_obj_str ("");
    tp_edit (&buf, "id", &v, &bad);
    s_expect (d_request, &bad, LLMQ_DECODE_OUT_OF_RANGE, "field 'id'");
    v = tp_obj_str (long_name);
    tp_edit (&buf, "model", &v, &bad);
    s_expect (d_request, &bad, LLMQ_DECODE_STRING_TOO_LONG, "field 'model'");
    tp_edit (&buf, "messages.0.role", &v, &bad);
    s_expect (d_request, &bad, LLMQ_DECODE_STRING_TOO_LONG, "field 'messages[0].role'");

    s_make (LLMQ_CMD_READY, &buf);
    v = tp_obj_str (long_id);
    long_id [LLMQ_MAX_ID] = 'i';
    v = tp_obj_str (long_id);
    tp_edit (&buf, "worker", &v, &bad);
    s_expect (d_ready, &bad, LLMQ_DECODE_STRING_TOO_LONG, "field 'worker'");

    //  One string over LLMQ_MAX_STRING, in a frame under the frame limit.
    size_t huge = LLMQ_MAX_STRING + 1;
    char *text = malloc (huge + 1);
    memset (text, 'a', huge);
    text [huge] = 0;
    s_make (LLMQ_CMD_REQUEST, &buf);
    v = tp_obj_str (text);
    tp_edit (&buf, "messages.1.content", &v, &bad);
    s_expect (d_request, &bad, LLMQ_DECODE_STRING_TOO_LONG, NULL);
    free (text);
}

Test (hostile, unknown_keys_are_ignored)
{
    for (size_t t = 0; t < N_TYPES; t++) {
        s_make (s_types [t].cmd, &buf);
        //  Append {"zz_new": {"a": [1, {"b": nil}, "s"]}, "yy": [[], {}]}.
        tp_packer_t p;
        tp_packer_init (&p);
        msgpack_zone zone;
        msgpack_zone_init (&zone, 4096);
        msgpack_object body;
        size_t off = 0;
        msgpack_unpack (buf.data + 6, buf.size - 6, &off, &zone, &body);
        msgpack_pack_map (&p.pk, body.via.map.size + 3);
        tp_str (&p.pk, "zz_new");
        msgpack_pack_map (&p.pk, 1);
        tp_str (&p.pk, "a");
        msgpack_pack_array (&p.pk, 3);
        msgpack_pack_uint8 (&p.pk, 1);
        msgpack_pack_map (&p.pk, 1);
        tp_str (&p.pk, "b");
        msgpack_pack_nil (&p.pk);
        tp_str (&p.pk, "s");
        tp_str (&p.pk, "yy");
        msgpack_pack_array (&p.pk, 2);
        msgpack_pack_array (&p.pk, 0);
        msgpack_pack_map (&p.pk, 0);
        msgpack_pack_uint8 (&p.pk, 5);      //  a non-string key
        msgpack_pack_bin_with_body (&p.pk, "\x00\x01", 2);
        for (uint32_t i = 0; i < body.via.map.size; i++) {
            msgpack_pack_object (&p.pk, body.via.map.ptr [i].key);
            msgpack_pack_object (&p.pk, body.via.map.ptr [i].val);
        }
        tp_frame (&bad, s_types [t].cmd, p.sbuf.data, p.sbuf.size);
        tp_packer_free (&p);
        msgpack_zone_destroy (&zone);
        s_expect (s_types [t].decode, &bad, LLMQ_DECODE_OK, NULL);
    }
    //  Unknown keys inside a chat message and inside usage, too.
    s_make (LLMQ_CMD_REQUEST, &buf);
    msgpack_object v = tp_obj_str ("extra");
    tp_edit (&buf, "messages.0.tool_call_id", &v, &bad);
    s_expect (d_request, &bad, LLMQ_DECODE_OK, NULL);
    llmq_buf_free (&s_body);
}

/* ---------------------------------------------------------------------- */
//  Missing required fields: one row per (message, key).

static const struct {
    llmq_cmd_t cmd;
    decode_fn *decode;
    const char *path;
    const char *detail;
} s_required [] = {
    { LLMQ_CMD_REQUEST, d_request, "id", "field 'id'" },
    { LLMQ_CMD_REQUEST, d_request, "model", "field 'model'" },
    { LLMQ_CMD_REQUEST, d_request, "messages", "field 'messages'" },
    { LLMQ_CMD_REQUEST, d_request, "messages.1.role", "field 'messages[1].role'" },
    { LLMQ_CMD_REQUEST, d_request, "messages.1.content", "field 'messages[1].content'" },
    { LLMQ_CMD_PARTIAL, d_partial, "text", "field 'text'" },
    { LLMQ_CMD_FINAL, d_final, "text", "field 'text'" },
    { LLMQ_CMD_ERROR, d_error, "code", "field 'code'" },
    { LLMQ_CMD_READY, d_ready, "worker", "field 'worker'" },
    { LLMQ_CMD_READY, d_ready, "models", "field 'models'" },
    { LLMQ_CMD_READY, d_ready, "slots", "field 'slots'" },
    { LLMQ_CMD_DISPATCH, d_dispatch, "rid", "field 'rid'" },
    { LLMQ_CMD_DISPATCH, d_dispatch, "request", "field 'request'" },
    { LLMQ_CMD_DISPATCH, d_dispatch, "request.model", "field 'request.model'" },
    { LLMQ_CMD_DISPATCH, d_dispatch, "request.messages.0.content",
      "field 'request.messages[0].content'" },
};

Test (hostile, every_required_field_missing)
{
    msgpack_object nil = tp_obj_nil ();
    for (size_t i = 0; i < sizeof s_required / sizeof s_required [0]; i++) {
        s_make (s_required [i].cmd, &buf);
        s_case = s_required [i].path;
        //  Removed, and present as nil: both count as absent.
        tp_edit (&buf, s_required [i].path, NULL, &bad);
        s_expect (s_required [i].decode, &bad, LLMQ_DECODE_MISSING_FIELD,
                  s_required [i].detail);
        tp_edit (&buf, s_required [i].path, &nil, &bad);
        s_expect (s_required [i].decode, &bad, LLMQ_DECODE_MISSING_FIELD,
                  s_required [i].detail);
    }
    llmq_buf_free (&s_body);
}

Test (hostile, id_or_rid_required)
{
    const struct { llmq_cmd_t cmd; decode_fn *decode; } cases [] = {
        { LLMQ_CMD_CANCEL, d_cancel }, { LLMQ_CMD_PARTIAL, d_partial },
        { LLMQ_CMD_FINAL, d_final }
    };
    llmq_buf_t one;
    llmq_buf_init (&one);
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        s_make (cases [i].cmd, &buf);
        tp_edit (&buf, "id", NULL, &one);
        s_expect (cases [i].decode, &one, LLMQ_DECODE_OK, NULL);
        tp_edit (&one, "rid", NULL, &bad);
        s_expect (cases [i].decode, &bad, LLMQ_DECODE_MISSING_FIELD, "rid");
        tp_edit (&buf, "rid", NULL, &one);
        s_expect (cases [i].decode, &one, LLMQ_DECODE_OK, NULL);
    }
    llmq_buf_free (&one);
}

/* ---------------------------------------------------------------------- */
//  Every known field with a value of the wrong type.

typedef enum { W_STR, W_UINT, W_BOOL, W_MAP, W_ARRAY, W_DOUBLE } wrong_t;

static const struct {
    llmq_cmd_t cmd;
    decode_fn *decode;
    const char *path;
    wrong_t with;                   //  what to put there instead
    const char *detail;
} s_wrong [] = {
    { LLMQ_CMD_REQUEST, d_request, "id", W_UINT, "field 'id': expected a string" },
    { LLMQ_CMD_REQUEST, d_request, "model", W_UINT, "field 'model'" },
    { LLMQ_CMD_REQUEST, d_request, "model", W_ARRAY, "field 'model'" },
    { LLMQ_CMD_REQUEST, d_request, "messages", W_MAP, "field 'messages'" },
    { LLMQ_CMD_REQUEST, d_request, "messages", W_STR, "field 'messages'" },
    { LLMQ_CMD_REQUEST, d_request, "messages.1", W_STR, "field 'messages[1]'" },
    { LLMQ_CMD_REQUEST, d_request, "messages.1.role", W_UINT, "field 'messages[1].role'" },
    { LLMQ_CMD_REQUEST, d_request, "messages.1.content", W_BOOL,
      "field 'messages[1].content': expected a string" },
    { LLMQ_CMD_REQUEST, d_request, "messages.1.name", W_UINT, "field 'messages[1].name'" },
    { LLMQ_CMD_REQUEST, d_request, "max_tokens", W_STR, "field 'max_tokens'" },
    { LLMQ_CMD_REQUEST, d_request, "max_tokens", W_DOUBLE, "field 'max_tokens'" },
    { LLMQ_CMD_REQUEST, d_request, "temperature", W_STR, "field 'temperature'" },
    { LLMQ_CMD_REQUEST, d_request, "top_p", W_BOOL, "field 'top_p'" },
    { LLMQ_CMD_REQUEST, d_request, "stop", W_UINT, "field 'stop'" },
    { LLMQ_CMD_REQUEST, d_request, "stop.1", W_UINT, "field 'stop'" },
    { LLMQ_CMD_REQUEST, d_request, "seed", W_STR, "field 'seed'" },
    { LLMQ_CMD_REQUEST, d_request, "stream", W_UINT, "field 'stream'" },
    { LLMQ_CMD_REQUEST, d_request, "priority", W_BOOL, "field 'priority'" },
    { LLMQ_CMD_REQUEST, d_request, "timeout_ms", W_STR, "field 'timeout_ms'" },
    { LLMQ_CMD_REQUEST, d_request, "cache", W_UINT, "field 'cache'" },
    { LLMQ_CMD_REQUEST, d_request, "cache_ttl_ms", W_BOOL, "field 'cache_ttl_ms'" },
    { LLMQ_CMD_REQUEST, d_request, "tenant", W_MAP, "field 'tenant'" },
    { LLMQ_CMD_REQUEST, d_request, "metadata", W_STR, "field 'metadata'" },
    { LLMQ_CMD_CANCEL, d_cancel, "id", W_UINT, "field 'id'" },
    { LLMQ_CMD_CANCEL, d_cancel, "rid", W_STR, "field 'rid'" },
    { LLMQ_CMD_PING, d_ping, "nonce", W_STR, "field 'nonce'" },
    { LLMQ_CMD_PONG, d_pong, "version", W_UINT, "field 'version'" },
    { LLMQ_CMD_PARTIAL, d_partial, "id", W_BOOL, "field 'id'" },
    { LLMQ_CMD_PARTIAL, d_partial, "rid", W_STR, "field 'rid'" },
    { LLMQ_CMD_PARTIAL, d_partial, "seq", W_STR, "field 'seq'" },
    { LLMQ_CMD_PARTIAL, d_partial, "text", W_UINT, "field 'text'" },
    { LLMQ_CMD_FINAL, d_final, "id", W_UINT, "field 'id'" },
    { LLMQ_CMD_FINAL, d_final, "rid", W_DOUBLE, "field 'rid'" },
    { LLMQ_CMD_FINAL, d_final, "model", W_UINT, "field 'model'" },
    { LLMQ_CMD_FINAL, d_final, "text", W_ARRAY, "field 'text'" },
    { LLMQ_CMD_FINAL, d_final, "finish_reason", W_UINT, "field 'finish_reason'" },
    { LLMQ_CMD_FINAL, d_final, "usage", W_STR, "field 'usage'" },
    { LLMQ_CMD_FINAL, d_final, "usage.prompt_tokens", W_STR, "field 'usage.prompt_tokens'" },
    { LLMQ_CMD_FINAL, d_final, "usage.completion_tokens", W_BOOL,
      "field 'usage.completion_tokens'" },
    { LLMQ_CMD_FINAL, d_final, "cached", W_STR, "field 'cached'" },
    { LLMQ_CMD_FINAL, d_final, "worker", W_UINT, "field 'worker'" },
    { LLMQ_CMD_FINAL, d_final, "attempts", W_STR, "field 'attempts'" },
    { LLMQ_CMD_FINAL, d_final, "timings", W_ARRAY, "field 'timings'" },
    { LLMQ_CMD_FINAL, d_final, "timings.queued_us", W_STR, "field 'timings.queued_us'" },
    { LLMQ_CMD_FINAL, d_final, "timings.ttft_us", W_STR, "field 'timings.ttft_us'" },
    { LLMQ_CMD_FINAL, d_final, "timings.backend_us", W_STR, "field 'timings.backend_us'" },
    { LLMQ_CMD_FINAL, d_final, "timings.total_us", W_STR, "field 'timings.total_us'" },
    { LLMQ_CMD_FINAL, d_final, "timings.broker_us", W_DOUBLE, "field 'timings.broker_us'" },
    { LLMQ_CMD_ERROR, d_error, "id", W_UINT, "field 'id'" },
    { LLMQ_CMD_ERROR, d_error, "rid", W_STR, "field 'rid'" },
    { LLMQ_CMD_ERROR, d_error, "code", W_STR, "field 'code'" },
    { LLMQ_CMD_ERROR, d_error, "message", W_UINT, "field 'message'" },
    { LLMQ_CMD_ERROR, d_error, "retry_after_ms", W_STR, "field 'retry_after_ms'" },
    { LLMQ_CMD_ERROR, d_error, "upstream_status", W_STR, "field 'upstream_status'" },
    { LLMQ_CMD_READY, d_ready, "worker", W_UINT, "field 'worker'" },
    { LLMQ_CMD_READY, d_ready, "models", W_STR, "field 'models'" },
    { LLMQ_CMD_READY, d_ready, "models.0", W_UINT, "field 'models'" },
    { LLMQ_CMD_READY, d_ready, "slots", W_STR, "field 'slots'" },
    { LLMQ_CMD_READY, d_ready, "version", W_UINT, "field 'version'" },
    { LLMQ_CMD_HEARTBEAT, d_heartbeat, "in_flight", W_STR, "field 'in_flight'" },
    { LLMQ_CMD_HEARTBEAT, d_heartbeat, "free_slots", W_STR, "field 'free_slots'" },
    { LLMQ_CMD_HEARTBEAT, d_heartbeat, "ttft_ewma_us", W_STR, "field 'ttft_ewma_us'" },
    { LLMQ_CMD_HEARTBEAT, d_heartbeat, "total_ewma_us", W_BOOL, "field 'total_ewma_us'" },
    { LLMQ_CMD_HEARTBEAT, d_heartbeat, "error_rate", W_STR, "field 'error_rate'" },
    { LLMQ_CMD_HEARTBEAT, d_heartbeat, "upstream_429", W_STR, "field 'upstream_429'" },
    { LLMQ_CMD_HEARTBEAT, d_heartbeat, "backend", W_UINT, "field 'backend'" },
    { LLMQ_CMD_HEARTBEAT, d_heartbeat, "draining", W_UINT, "field 'draining'" },
    { LLMQ_CMD_DISPATCH, d_dispatch, "rid", W_STR, "field 'rid'" },
    { LLMQ_CMD_DISPATCH, d_dispatch, "attempt", W_STR, "field 'attempt'" },
    { LLMQ_CMD_DISPATCH, d_dispatch, "deadline_ms", W_STR, "field 'deadline_ms'" },
    { LLMQ_CMD_DISPATCH, d_dispatch, "request", W_ARRAY, "field 'request'" },
    { LLMQ_CMD_DISPATCH, d_dispatch, "request.messages.0.role", W_UINT,
      "field 'request.messages[0].role'" },
    { LLMQ_CMD_DISCONNECT, d_disconnect, "reason", W_UINT, "field 'reason'" },
};

static msgpack_object
s_wrong_value (wrong_t with)
{
    static msgpack_object_kv kv;    //  {"k": 1} for W_MAP
    static msgpack_object one;      //  [1] for W_ARRAY
    msgpack_object o;
    switch (with) {
        case W_STR:    return tp_obj_str ("wrong");
        case W_UINT:   return tp_obj_uint (5);
        case W_BOOL:   return tp_obj_bool (true);
        case W_DOUBLE: return tp_obj_double (1.5);
        case W_MAP:
            kv.key = tp_obj_str ("k");
            kv.val = tp_obj_uint (1);
            o.type = MSGPACK_OBJECT_MAP;
            o.via.map.size = 1;
            o.via.map.ptr = &kv;
            return o;
        default:
            one = tp_obj_uint (1);
            o.type = MSGPACK_OBJECT_ARRAY;
            o.via.array.size = 1;
            o.via.array.ptr = &one;
            return o;
    }
}

Test (hostile, every_known_field_with_wrong_type)
{
    for (size_t i = 0; i < sizeof s_wrong / sizeof s_wrong [0]; i++) {
        s_make (s_wrong [i].cmd, &buf);
        s_case = s_wrong [i].path;
        msgpack_object v = s_wrong_value (s_wrong [i].with);
        tp_edit (&buf, s_wrong [i].path, &v, &bad);
        s_expect (s_wrong [i].decode, &bad, LLMQ_DECODE_WRONG_TYPE, s_wrong [i].detail);
        cr_assert_eq (llmq_decode_errcode (LLMQ_DECODE_WRONG_TYPE), LLMQ_ERR_BAD_REQUEST);
    }
    llmq_buf_free (&s_body);
}

/* ---------------------------------------------------------------------- */

//  Values for the out-of-range table (functions: NaN is not a constant
//  expression everywhere).
#define V(name, expr) static msgpack_object name (void) { return expr; }
V (v_prio_9, tp_obj_uint (9))
V (v_prio_neg, tp_obj_int (-1))
V (v_prio_name, tp_obj_str ("urgent"))
V (v_temp_5, tp_obj_double (5.0))
V (v_temp_neg, tp_obj_double (-0.1))
V (v_temp_nan, tp_obj_double (0.0 / 0.0))
V (v_top_p_2, tp_obj_uint (2))
V (v_top_p_0, tp_obj_double (0.0))
V (v_neg, tp_obj_int (-5))
V (v_u32_over, tp_obj_uint ((uint64_t) UINT32_MAX + 1))
V (v_cache_bad, tp_obj_str ("sometimes"))
V (v_zero, tp_obj_uint (0))
V (v_backend_bad, tp_obj_str ("sideways"))
V (v_rate_2, tp_obj_double (2.0))
V (v_empty, tp_obj_str (""))

static const struct {
    llmq_cmd_t cmd;
    decode_fn *decode;
    const char *path;
    msgpack_object (*value) (void);
    const char *detail;
} s_out_of_range [] = {
    { LLMQ_CMD_REQUEST, d_request, "priority", v_prio_9, "field 'priority'" },
    { LLMQ_CMD_REQUEST, d_request, "priority", v_prio_neg, "field 'priority'" },
    { LLMQ_CMD_REQUEST, d_request, "priority", v_prio_name, "field 'priority'" },
    { LLMQ_CMD_REQUEST, d_request, "temperature", v_temp_5, "field 'temperature'" },
    { LLMQ_CMD_REQUEST, d_request, "temperature", v_temp_neg, "field 'temperature'" },
    { LLMQ_CMD_REQUEST, d_request, "temperature", v_temp_nan, "field 'temperature'" },
    { LLMQ_CMD_REQUEST, d_request, "top_p", v_top_p_2, "field 'top_p'" },
    { LLMQ_CMD_REQUEST, d_request, "top_p", v_top_p_0, "field 'top_p'" },
    { LLMQ_CMD_REQUEST, d_request, "max_tokens", v_neg, "field 'max_tokens'" },
    { LLMQ_CMD_REQUEST, d_request, "max_tokens", v_u32_over, "field 'max_tokens'" },
    { LLMQ_CMD_REQUEST, d_request, "timeout_ms", v_neg, "field 'timeout_ms'" },
    { LLMQ_CMD_REQUEST, d_request, "cache", v_cache_bad, "field 'cache'" },
    { LLMQ_CMD_REQUEST, d_request, "model", v_empty, "field 'model'" },
    { LLMQ_CMD_REQUEST, d_request, "messages.0.role", v_empty, "field 'messages[0].role'" },
    { LLMQ_CMD_PARTIAL, d_partial, "rid", v_neg, "field 'rid'" },
    { LLMQ_CMD_ERROR, d_error, "code", v_neg, "field 'code'" },
    { LLMQ_CMD_READY, d_ready, "slots", v_zero, "field 'slots'" },
    { LLMQ_CMD_READY, d_ready, "worker", v_empty, "field 'worker'" },
    { LLMQ_CMD_READY, d_ready, "models.1", v_empty, "field 'models'" },
    { LLMQ_CMD_HEARTBEAT, d_heartbeat, "backend", v_backend_bad, "field 'backend'" },
    { LLMQ_CMD_HEARTBEAT, d_heartbeat, "error_rate", v_rate_2, "field 'error_rate'" },
    { LLMQ_CMD_DISPATCH, d_dispatch, "request.temperature", v_temp_5,
      "field 'request.temperature'" },
};

Test (hostile, out_of_range_values)
{
    for (size_t i = 0; i < sizeof s_out_of_range / sizeof s_out_of_range [0]; i++) {
        s_make (s_out_of_range [i].cmd, &buf);
        s_case = s_out_of_range [i].path;
        msgpack_object v = s_out_of_range [i].value ();
        tp_edit (&buf, s_out_of_range [i].path, &v, &bad);
        s_expect (s_out_of_range [i].decode, &bad, LLMQ_DECODE_OUT_OF_RANGE,
                  s_out_of_range [i].detail);
    }
    llmq_buf_free (&s_body);
}

Test (hostile, failed_request_still_names_its_id)
{
    //  The encoder writes "id" first, so a bad later field leaves it set.
    s_make (LLMQ_CMD_REQUEST, &buf);
    msgpack_object v = tp_obj_uint (9);
    tp_edit (&buf, "priority", &v, &bad);
    s_expect (d_request, &bad, LLMQ_DECODE_OUT_OF_RANGE, NULL);
    cr_assert (llmq_str_eq (out.req.id, "req-1"));
}

Test (hostile, list_limits)
{
    //  Nine stop sequences, 65 models.
    s_make (LLMQ_CMD_REQUEST, &buf);
    msgpack_object stops [LLMQ_MAX_STOP + 1];
    for (int i = 0; i < LLMQ_MAX_STOP + 1; i++)
        stops [i] = tp_obj_str ("s");
    msgpack_object v = { .type = MSGPACK_OBJECT_ARRAY };
    v.via.array.size = LLMQ_MAX_STOP + 1;
    v.via.array.ptr = stops;
    tp_edit (&buf, "stop", &v, &bad);
    s_expect (d_request, &bad, LLMQ_DECODE_TOO_MANY, "field 'stop'");
    v.via.array.size = LLMQ_MAX_STOP;
    tp_edit (&buf, "stop", &v, &bad);
    s_expect (d_request, &bad, LLMQ_DECODE_OK, NULL);

    s_make (LLMQ_CMD_READY, &buf);
    msgpack_object models [LLMQ_MAX_MODELS + 1];
    for (int i = 0; i < LLMQ_MAX_MODELS + 1; i++)
        models [i] = tp_obj_str ("m");
    v.via.array.size = LLMQ_MAX_MODELS + 1;
    v.via.array.ptr = models;
    tp_edit (&buf, "models", &v, &bad);
    s_expect (d_ready, &bad, LLMQ_DECODE_TOO_MANY, "field 'models'");
    v.via.array.size = 0;
    tp_edit (&buf, "models", &v, &bad);
    s_expect (d_ready, &bad, LLMQ_DECODE_OUT_OF_RANGE, "field 'models'");
}

Test (hostile, random_bytes_never_crash)
{
    //  A cheap in-test fuzz pass (the real one is tests/fuzz): flip bytes
    //  of valid frames and decode with every decoder.
    uint32_t seed = 12345;
    for (size_t t = 0; t < N_TYPES; t++) {
        s_make (s_types [t].cmd, &buf);
        for (int round = 0; round < 300; round++) {
            tp_frame (&bad, s_types [t].cmd, buf.data + 6, buf.size - 6);
            for (int flips = 0; flips < 3; flips++) {
                seed = seed * 1103515245u + 12345u;
                size_t at = 6 + (seed >> 8) % (bad.size - 6);
                bad.data [at] = (char) (seed >> 24);
            }
            for (size_t d = 0; d < N_TYPES; d++)
                s_types [d].decode (bad.data, bad.size);
            d_json (bad.data, bad.size);
        }
    }
    llmq_buf_free (&s_body);
}
