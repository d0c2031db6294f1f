/*  fuzz_worker_msgs.c -- libFuzzer target for the worker socket: what the
    broker reads from workers (READY, HEARTBEAT, PARTIAL, FINAL, ERROR,
    DISCONNECT) and what a worker reads from the broker (DISPATCH,
    HEARTBEAT, CANCEL, DISCONNECT).

    Every decoder sees every input (one decoder object, reused, as in the
    broker), so a decoder must also cope with the leftovers of the previous
    decode. Decoded results are checked against the protocol's limits.
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

static void
s_inside (llmq_str_t s, const uint8_t *frame, size_t size)
{
    if (s.ptr && s.len)
        CHECK ((const uint8_t *) s.ptr >= frame
                && (const uint8_t *) s.ptr + s.len <= frame + size);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    llmq_decoder_t *dec = llmq_decoder_new ();
    CHECK (dec);

    llmq_ready_t ready;
    if (llmq_decode_ready (dec, data, size, &ready) == LLMQ_DECODE_OK) {
        CHECK (ready.n_models >= 1 && ready.n_models <= LLMQ_MAX_MODELS);
        CHECK (ready.slots >= 1);
        CHECK (ready.worker_id.len >= 1 && ready.worker_id.len <= LLMQ_MAX_ID);
        for (uint32_t i = 0; i < ready.n_models; i++)
            s_inside (ready.models [i], data, size);
    }
    llmq_heartbeat_t hb;
    if (llmq_decode_heartbeat (dec, data, size, &hb) == LLMQ_DECODE_OK) {
        CHECK (hb.backend_state <= LLMQ_BACKEND_DOWN);
        CHECK (hb.error_rate >= 0 && hb.error_rate <= 1);
    }
    llmq_dispatch_t dispatch;
    if (llmq_decode_dispatch (dec, data, size, &dispatch) == LLMQ_DECODE_OK) {
        CHECK (dispatch.req.n_messages >= 1);
        CHECK ((const uint8_t *) dispatch.req_raw > data
                && (const uint8_t *) dispatch.req_raw + dispatch.req_raw_size <= data + size);
        //  The worker may forward the embedded request; it must re-dispatch.
        llmq_buf_t buf;
        llmq_buf_init (&buf);
        CHECK (llmq_encode_dispatch (&buf, &dispatch) == 0);
        llmq_decoder_t *dec2 = llmq_decoder_new ();
        llmq_dispatch_t again;
        CHECK (llmq_decode_dispatch (dec2, buf.data, buf.size, &again) == LLMQ_DECODE_OK);
        CHECK (again.rid == dispatch.rid && again.req.n_messages == dispatch.req.n_messages);
        //  `again` was decoded from the raw span alone, so equal fields
        //  mean the span is the very map the first decode read.
        CHECK (again.req.model.len == dispatch.req.model.len
               && memcmp (again.req.model.ptr, dispatch.req.model.ptr,
                          again.req.model.len) == 0);
        CHECK (again.req.id.len == dispatch.req.id.len
               && memcmp (again.req.id.ptr, dispatch.req.id.ptr, again.req.id.len) == 0);
        CHECK (again.req.priority == dispatch.req.priority
               && again.req.stream == dispatch.req.stream);
        llmq_decoder_destroy (&dec2);
        llmq_buf_free (&buf);
    }
    llmq_partial_t partial;
    if (llmq_decode_partial (dec, data, size, &partial) == LLMQ_DECODE_OK) {
        CHECK (partial.text.ptr && (partial.id.ptr || partial.has_rid));
        s_inside (partial.text, data, size);
    }
    llmq_final_t final;
    if (llmq_decode_final (dec, data, size, &final) == LLMQ_DECODE_OK) {
        CHECK (final.text.ptr && (final.id.ptr || final.has_rid));
        s_inside (final.text, data, size);
        //  The broker re-encodes a worker's FINAL for the client.
        llmq_buf_t buf;
        llmq_buf_init (&buf);
        CHECK (llmq_encode_final (&buf, &final) == 0);
        llmq_buf_free (&buf);
    }
    llmq_error_t error;
    if (llmq_decode_error (dec, data, size, &error) == LLMQ_DECODE_OK) {
        llmq_errcode_name (error.code);
        llmq_buf_t buf;
        llmq_buf_init (&buf);
        CHECK (llmq_encode_error (&buf, &error) == 0);
        llmq_buf_free (&buf);
    }
    llmq_disconnect_t disconnect;
    llmq_decode_disconnect (dec, data, size, &disconnect);
    llmq_cancel_t cancel;
    llmq_decode_cancel (dec, data, size, &cancel);

    llmq_cmd_t cmd;
    llmq_decode_result_t rc = llmq_peek_command (data, size, &cmd);
    if (rc == LLMQ_DECODE_OK)
        CHECK (cmd >= LLMQ_CMD_REQUEST && cmd <= LLMQ_CMD_STATS_REPLY);
    llmq_decode_errcode (rc);
    llmq_decoder_destroy (&dec);
    return 0;
}
