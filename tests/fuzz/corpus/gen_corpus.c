/*  gen_corpus.c -- writes the fuzz seed corpus with the encoder.

    Not part of the build (the fuzz targets glob fuzz_*.c only). Rerun it
    when the wire format changes:

        cc -I proto tests/fuzz/corpus/gen_corpus.c build/lib/libllmq_proto.a \
           -lmsgpack-c -ljansson -o /tmp/gen_corpus    # (-lmsgpackc on Debian)
        /tmp/gen_corpus tests/fuzz/corpus

    Each seed is one valid frame; a few deliberately broken ones show the
    fuzzer the interesting edges (limits, nesting, unknown keys).
*/
#include "llmq_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_root;

static void
s_write (const char *target, const char *name, const void *data, size_t size)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s/%s", s_root, target, name);
    FILE *file = fopen (path, "wb");
    if (!file || fwrite (data, 1, size, file) != size) {
        perror (path);
        exit (1);
    }
    fclose (file);
}

static void
s_seed (const char *target, const char *name, int rc, const llmq_buf_t *buf)
{
    if (rc) {
        fprintf (stderr, "encode %s failed\n", name);
        exit (1);
    }
    s_write (target, name, buf->data, buf->size);
}

static void
s_requests (llmq_buf_t *buf, llmq_buf_t *body)
{
    llmq_chat_msg_t msgs [3] = {
        { llmq_str ("system"), llmq_str ("You are terse."), { NULL, 0 } },
        { llmq_str ("user"), llmq_str ("What is ZeroMQ?"), llmq_str ("ann") },
        { llmq_str ("assistant"), llmq_str (""), { NULL, 0 } }
    };
    llmq_wire_request_t req = { .id = llmq_str ("r-1"), .model = llmq_str ("mock"),
                           .messages = msgs, .n_messages = 1,
                           .priority = LLMQ_PRIO_NORMAL };
    s_seed ("fuzz_request", "request_min", llmq_encode_request (buf, &req), buf);
    req.n_messages = 3;
    req.has_max_tokens = true; req.max_tokens = 32;
    req.has_temperature = true; req.temperature = 0.7;
    req.has_top_p = true; req.top_p = 1;
    req.has_seed = true; req.seed = -1;
    req.stop [0] = llmq_str ("\n"); req.n_stop = 1;
    req.stream = true;
    req.priority = LLMQ_PRIO_BATCH;
    req.timeout_ms = 5000;
    req.cache = LLMQ_CACHE_ONLY_IF_CACHED;
    req.has_cache_ttl_ms = true; req.cache_ttl_ms = 1000;
    req.tenant = llmq_str ("t");
    s_seed ("fuzz_request", "request_full", llmq_encode_request (buf, &req), buf);

    llmq_cancel_t cancel = { llmq_str ("r-1"), false, 0 };
    s_seed ("fuzz_request", "cancel", llmq_encode_cancel (buf, &cancel), buf);
    llmq_ping_t ping = { 42, { NULL, 0 } };
    s_seed ("fuzz_request", "ping", llmq_encode_ping (buf, &ping), buf);

    if (llmq_encode_request_body (body, &req))
        exit (1);
    llmq_dispatch_t dispatch = { .rid = 0x100000002ull, .attempt = 1, .deadline_ms = 4000,
                                 .req_raw = body->data, .req_raw_size = body->size };
    s_seed ("fuzz_request", "dispatch", llmq_encode_dispatch (buf, &dispatch), buf);
    s_seed ("fuzz_worker_msgs", "dispatch", llmq_encode_dispatch (buf, &dispatch), buf);

    //  Hand-made edges: priority by name, metadata, nil values, a huge
    //  array count, deep nesting.
    static const char by_name [] =
        "LLMQ\x01\x01\x86\xa2id\xa1x\xa5model\xa1m\xa8messages\x91\x82\xa4role\xa4user"
        "\xa7" "content\xa2hi\xa8priority\xa4high\xa8metadata\x81\xa1k\x92\x01\xc0"
        "\xaamax_tokens\xc0";
    s_write ("fuzz_request", "request_names", by_name, sizeof by_name - 1);
    s_write ("fuzz_request", "huge_count", "LLMQ\x01\x01\xdd\xff\xff\xff\xff", 11);
    char deep [6 + 3 + 20];
    memcpy (deep, "LLMQ\x01\x01\x81\xa1x", 9);
    memset (deep + 9, 0x91, 19);
    deep [28] = (char) 0x90;
    s_write ("fuzz_request", "deep", deep, sizeof deep);
}

static void
s_replies (llmq_buf_t *buf, const char *target, bool with_rid)
{
    llmq_partial_t partial = { .seq = 1, .text = llmq_str (" tok") };
    llmq_final_t final = { .model = llmq_str ("mock"), .text = llmq_str ("Mock answer to: hi"),
                           .finish_reason = llmq_str ("stop"), .usage = { 3, 5 },
                           .worker = llmq_str ("w-1"), .attempts = 1,
                           .timings = { 10, 20, 30, 40, 5 } };
    llmq_error_t error = { .code = LLMQ_ERR_BACKEND, .message = llmq_str ("upstream 503"),
                           .has_retry_after_ms = true, .retry_after_ms = 1000,
                           .has_upstream_status = true, .upstream_status = 503 };
    if (with_rid) {
        partial.has_rid = final.has_rid = error.has_rid = true;
        partial.rid = final.rid = error.rid = 0x200000001ull;
    }
    else
        partial.id = final.id = error.id = llmq_str ("r-1");
    s_seed (target, "partial", llmq_encode_partial (buf, &partial), buf);
    s_seed (target, "final", llmq_encode_final (buf, &final), buf);
    s_seed (target, "error", llmq_encode_error (buf, &error), buf);
}

static void
s_worker (llmq_buf_t *buf)
{
    llmq_ready_t ready = { .worker_id = llmq_str ("w-1"), .n_models = 2, .slots = 8,
                           .version = llmq_str (LLMQ_VERSION_STRING) };
    ready.models [0] = llmq_str ("mock");
    ready.models [1] = llmq_str ("gpt-4o-mini");
    s_seed ("fuzz_worker_msgs", "ready", llmq_encode_ready (buf, &ready), buf);
    llmq_heartbeat_t hb = { 2, 6, 1500, 80000, 0.1, 1, LLMQ_BACKEND_DEGRADED, false };
    s_seed ("fuzz_worker_msgs", "heartbeat", llmq_encode_heartbeat (buf, &hb), buf);
    llmq_heartbeat_t empty = { 0 };
    s_seed ("fuzz_worker_msgs", "heartbeat_empty", llmq_encode_heartbeat (buf, &empty), buf);
    llmq_disconnect_t bye = { llmq_str ("unknown worker") };
    s_seed ("fuzz_worker_msgs", "disconnect", llmq_encode_disconnect (buf, &bye), buf);
    llmq_cancel_t cancel = { { NULL, 0 }, true, 0x200000001ull };
    s_seed ("fuzz_worker_msgs", "cancel", llmq_encode_cancel (buf, &cancel), buf);
    s_replies (buf, "fuzz_worker_msgs", true);
}

static void
s_client (llmq_buf_t *buf)
{
    s_replies (buf, "fuzz_client_msgs", false);
    llmq_ping_t pong = { 42, llmq_str (LLMQ_VERSION_STRING) };
    s_seed ("fuzz_client_msgs", "pong", llmq_encode_pong (buf, &pong), buf);
    llmq_writer_t *w = llmq_writer_new (buf, LLMQ_CMD_STATS_REPLY);
    llmq_writer_map (w, 3);
    llmq_writer_str (w, "queued");
    llmq_writer_uint (w, 3);
    llmq_writer_str (w, "workers");
    llmq_writer_array (w, 1);
    llmq_writer_map (w, 2);
    llmq_writer_str (w, "id");
    llmq_writer_str (w, "w-1");
    llmq_writer_str (w, "error_rate");
    llmq_writer_double (w, 0.5);
    llmq_writer_str (w, "up");
    llmq_writer_bool (w, true);
    bool failed = llmq_writer_failed (w);
    llmq_writer_destroy (&w);
    s_seed ("fuzz_client_msgs", "stats_reply", failed, buf);
}

int
main (int argc, char *argv [])
{
    s_root = argc > 1 ? argv [1] : "tests/fuzz/corpus";
    llmq_buf_t buf, body;
    llmq_buf_init (&buf);
    llmq_buf_init (&body);
    s_requests (&buf, &body);
    s_worker (&buf);
    s_client (&buf);
    llmq_buf_free (&buf);
    llmq_buf_free (&body);
    return 0;
}
