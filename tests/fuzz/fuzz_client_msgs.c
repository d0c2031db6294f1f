/*  fuzz_client_msgs.c -- libFuzzer target for what a client reads from the
    broker: PARTIAL, FINAL, ERROR, PONG, and llmq_frame_to_json, which
    `llmq chat --json` and `llmq stats --json` print for any frame.

    frame_to_json must produce one NUL-terminated line for anything the
    header and limit checks accept.
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

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    llmq_decoder_t *dec = llmq_decoder_new ();
    CHECK (dec);
    llmq_partial_t partial;
    llmq_decode_partial (dec, data, size, &partial);
    llmq_final_t final;
    if (llmq_decode_final (dec, data, size, &final) == LLMQ_DECODE_OK)
        CHECK (final.text.ptr != NULL);
    llmq_error_t error;
    llmq_decode_error (dec, data, size, &error);
    llmq_ping_t pong;
    llmq_decode_pong (dec, data, size, &pong);

    llmq_buf_t json;
    llmq_buf_init (&json);
    if (llmq_frame_to_json (dec, data, size, &json) == LLMQ_DECODE_OK) {
        CHECK (json.size >= 2 && json.data [0] == '{' && json.data [json.size - 1] == '}');
        CHECK (json.data [json.size] == 0);
        CHECK (memchr (json.data, '\n', json.size) == NULL);
    }
    else
        CHECK (json.size == 0);
    llmq_buf_free (&json);
    llmq_decoder_destroy (&dec);
    return 0;
}
