/*  fuzz_request.c -- libFuzzer target for what clients send the broker:
    REQUEST (and CANCEL/PING, which arrive on the same socket), plus the
    DISPATCH a worker builds from a REQUEST.

    Besides "never crash", it checks the codec's invariants on every input
    that decodes: strings and raw spans lie inside the frame, and a decoded
    request re-encodes into a frame that decodes to the same fields.
*/
#include "llmq_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Not assert(): fuzz builds are release builds (NDEBUG), and a fuzz check
//  must fire there. Calls inside CHECK are always evaluated.
#define CHECK(x) do { if (!(x)) { \
        fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x); \
        abort (); } } while (0)

//  Asserts that s (when present) lies inside frame[0..size).
static void
s_inside (llmq_str_t s, const uint8_t *frame, size_t size)
{
    if (s.ptr && s.len)
        CHECK ((const uint8_t *) s.ptr >= frame
                && (const uint8_t *) s.ptr + s.len <= frame + size);
}

static bool
s_same (llmq_str_t a, llmq_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp (a.ptr, b.ptr, a.len) == 0);
}

//  The request re-encodes to an equivalent one.
static void
s_round_trip (const llmq_wire_request_t *req)
{
    llmq_buf_t buf;
    llmq_buf_init (&buf);
    CHECK (llmq_encode_request (&buf, req) == 0);
    llmq_decoder_t *dec = llmq_decoder_new ();
    llmq_wire_request_t again;
    llmq_decode_result_t rc = llmq_decode_request (dec, buf.data, buf.size, &again);
    CHECK (rc == LLMQ_DECODE_OK);
    CHECK (s_same (again.id, req->id) && s_same (again.model, req->model));
    CHECK (again.n_messages == req->n_messages && again.n_stop == req->n_stop);
    for (uint32_t i = 0; i < req->n_messages; i++)
        CHECK (s_same (again.messages [i].content, req->messages [i].content)
                && s_same (again.messages [i].role, req->messages [i].role));
    CHECK (again.priority == req->priority && again.cache == req->cache);
    CHECK (again.stream == req->stream && again.timeout_ms == req->timeout_ms);
    llmq_decoder_destroy (&dec);
    llmq_buf_free (&buf);
}

static void
s_check_request (const llmq_wire_request_t *req, const uint8_t *frame, size_t size)
{
    CHECK (req->n_messages >= 1 && req->n_messages <= LLMQ_MAX_MESSAGES);
    CHECK (req->id.len >= 1 && req->id.len <= LLMQ_MAX_ID);
    CHECK (req->priority < LLMQ_PRIO__COUNT);
    CHECK (req->n_stop <= LLMQ_MAX_STOP);
    s_inside (req->id, frame, size);
    s_inside (req->model, frame, size);
    for (uint32_t i = 0; i < req->n_messages; i++)
        s_inside (req->messages [i].content, frame, size);
    CHECK ((const uint8_t *) req->raw >= frame
            && (const uint8_t *) req->raw + req->raw_size <= frame + size);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    llmq_decoder_t *dec = llmq_decoder_new ();
    CHECK (dec);
    llmq_wire_request_t req;
    if (llmq_decode_request (dec, data, size, &req) == LLMQ_DECODE_OK) {
        s_check_request (&req, data, size);
        s_round_trip (&req);
        //  The broker's forward path: embed raw in a DISPATCH and read it
        //  back as a worker would.
        llmq_buf_t buf;
        llmq_buf_init (&buf);
        llmq_dispatch_t out = { .rid = 1, .attempt = 1, .req_raw = req.raw,
                                .req_raw_size = req.raw_size };
        CHECK (llmq_encode_dispatch (&buf, &out) == 0);
        llmq_decoder_t *dec2 = llmq_decoder_new ();
        llmq_dispatch_t in;
        CHECK (llmq_decode_dispatch (dec2, buf.data, buf.size, &in) == LLMQ_DECODE_OK);
        CHECK (in.req.raw_size == req.raw_size);
        CHECK (memcmp (in.req.raw, req.raw, req.raw_size) == 0);
        llmq_decoder_destroy (&dec2);
        llmq_buf_free (&buf);
    }
    else
        CHECK (llmq_decoder_error (dec) [0] != 0);

    //  The same bytes through the other client-side decoders.
    llmq_cancel_t cancel;
    if (llmq_decode_cancel (dec, data, size, &cancel) == LLMQ_DECODE_OK)
        CHECK (cancel.id.ptr || cancel.has_rid);
    llmq_ping_t ping;
    llmq_decode_ping (dec, data, size, &ping);
    llmq_dispatch_t dispatch;
    if (llmq_decode_dispatch (dec, data, size, &dispatch) == LLMQ_DECODE_OK)
        s_check_request (&dispatch.req, data, size);
    llmq_decoder_destroy (&dec);
    return 0;
}
