/*  codec_bench.c -- cost of the codec's hot-path operations, one at a time.

    Built and run by tests/bench/codec.sh. Encodes and decodes the frames of
    one benchmark request's life (REQUEST ~300-byte prompt, DISPATCH,
    FINAL with a ~950-byte answer) N times and prints ns per operation; under
    `valgrind --tool=callgrind` (codec.sh CALLGRIND=1) the instruction
    count per operation is exact and repeatable, which is what to compare
    between two versions of the codec on a noisy machine.

        codec_bench N [OP]     OP: encode_request decode_request
                               encode_dispatch decode_dispatch encode_final
                               decode_final, or all (default)
*/
#include "llmq_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int
main (int argc, char *argv [])
{
    if (argc < 2) {
        fprintf (stderr, "usage: codec_bench N [OP]\n");
        return 2;
    }
    const long n = atol (argv [1]);
    const char *only = argc > 2 ? argv [2] : "all";

    static char text [950], prompt [300];
    memset (text, 'a', sizeof text);
    for (size_t i = 0; i < sizeof prompt; i++)
        prompt [i] = i % 6 == 5 ? ' ' : 'w';
    llmq_final_t final;
    memset (&final, 0, sizeof final);
    final.id = llmq_str ("0123456789abcdef0123456789abcdef");
    final.has_rid = true;
    final.rid = 123456789012ull;
    final.model = llmq_str ("mock");
    final.text = (llmq_str_t) { text, sizeof text };
    final.finish_reason = llmq_str ("stop");
    final.usage = (llmq_usage_t) { 50, 16 };
    final.worker = llmq_str ("host-12345");
    final.attempts = 1;
    final.timings = (llmq_timings_t) { 12, 345, 678, 9012, 3 };

    llmq_chat_msg_t msg = { llmq_str ("user"), { prompt, sizeof prompt }, { NULL, 0 } };
    llmq_wire_request_t req;
    memset (&req, 0, sizeof req);
    req.id = llmq_str ("0123456789abcdef0123456789abcdef");
    req.model = llmq_str ("mock");
    req.messages = &msg;
    req.n_messages = 1;
    req.priority = LLMQ_PRIO_NORMAL;
    req.timeout_ms = 30000;
    req.has_max_tokens = true;
    req.max_tokens = 16;

    llmq_buf_t fbuf, rbuf, dbuf;
    llmq_buf_init (&fbuf);
    llmq_buf_init (&rbuf);
    llmq_buf_init (&dbuf);
    llmq_decoder_t *dec = llmq_decoder_new ();
    llmq_wire_request_t decoded;
    if (!dec || llmq_encode_final (&fbuf, &final) || llmq_encode_request (&rbuf, &req)
    ||  llmq_decode_request (dec, rbuf.data, rbuf.size, &decoded)) {
        fprintf (stderr, "codec_bench: setup failed\n");
        return 1;
    }
    //  The DISPATCH embeds the request body; keep our own copy of it, as
    //  decoding into dec again would move nothing but is clearer this way.
    llmq_dispatch_t dispatch;
    memset (&dispatch, 0, sizeof dispatch);
    dispatch.rid = 1;
    dispatch.attempt = 1;
    dispatch.deadline_ms = 30000;
    dispatch.req_raw = decoded.raw;
    dispatch.req_raw_size = decoded.raw_size;
    if (llmq_encode_dispatch (&dbuf, &dispatch)) {
        fprintf (stderr, "codec_bench: setup failed\n");
        return 1;
    }

    static const char *ops [] = {
        "encode_request", "decode_request", "encode_dispatch", "decode_dispatch",
        "encode_final", "decode_final"
    };
    unsigned long sink = 0;
    for (size_t op = 0; op < sizeof ops / sizeof ops [0]; op++) {
        if (strcmp (only, "all") != 0 && strcmp (only, ops [op]) != 0)
            continue;
        double start = s_now ();
        for (long i = 0; i < n; i++) {
            int rc = 0;
            switch (op) {
                case 0: rc = llmq_encode_request (&rbuf, &req); sink += rbuf.size; break;
                case 1: {
                    llmq_wire_request_t out;
                    rc = llmq_decode_request (dec, rbuf.data, rbuf.size, &out);
                    sink += out.n_messages;
                    break;
                }
                case 2: rc = llmq_encode_dispatch (&dbuf, &dispatch); sink += dbuf.size; break;
                case 3: {
                    llmq_dispatch_t out;
                    rc = llmq_decode_dispatch (dec, dbuf.data, dbuf.size, &out);
                    sink += out.req.n_messages;
                    break;
                }
                case 4: rc = llmq_encode_final (&fbuf, &final); sink += fbuf.size; break;
                default: {
                    llmq_final_t out;
                    rc = llmq_decode_final (dec, fbuf.data, fbuf.size, &out);
                    sink += out.text.len;
                    break;
                }
            }
            if (rc) {
                fprintf (stderr, "codec_bench: %s failed\n", ops [op]);
                return 1;
            }
        }
        double elapsed = s_now () - start;
        printf ("%-16s %8.1f ns/op\n", ops [op], n ? elapsed / (double) n * 1e9 : 0.0);
    }
    llmq_decoder_destroy (&dec);
    llmq_buf_free (&fbuf);
    llmq_buf_free (&rbuf);
    llmq_buf_free (&dbuf);
    return sink == 42;              //  keeps the work observable; never 42
}
