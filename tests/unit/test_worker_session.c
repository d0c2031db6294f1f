/*  test_worker_session.c -- llmq-worker against a fake broker (worker.c).

    The test is the broker: a ROUTER bound to tcp://127.0.0.1:*. The worker
    runs in the same thread, a loop turn at a time (llmq_worker_step), so
    the test interleaves both sides without threads and waits for events,
    never for fixed times. The mock backend answers, so no HTTP is needed.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "config.h"
#include "mocktext.h"
#include "worker.h"

#define WAIT_MS 5000

typedef struct {
    void *ctx;
    void *router;
    char endpoint [128];
    uint8_t peer [256];             /* routing id of the worker            */
    size_t peer_len;
    uint8_t frame [1 << 16];        /* last message received               */
    size_t frame_len;
    llmq_decoder_t *dec;
    llmq_buf_t buf;
} broker_t;

static broker_t *
s_broker_new (void)
{
    broker_t *b = calloc (1, sizeof *b);
    b->ctx = zmq_ctx_new ();
    b->router = zmq_socket (b->ctx, ZMQ_ROUTER);
    int one = 1, zero = 0;
    zmq_setsockopt (b->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt (b->router, ZMQ_LINGER, &zero, sizeof zero);
    cr_assert_eq (zmq_bind (b->router, "tcp://127.0.0.1:*"), 0);
    size_t size = sizeof b->endpoint;
    zmq_getsockopt (b->router, ZMQ_LAST_ENDPOINT, b->endpoint, &size);
    b->dec = llmq_decoder_new ();
    llmq_buf_init (&b->buf);
    return b;
}

static void
s_broker_destroy (broker_t **b_p)
{
    broker_t *b = *b_p;
    zmq_close (b->router);
    zmq_ctx_term (b->ctx);
    llmq_decoder_destroy (&b->dec);
    llmq_buf_free (&b->buf);
    free (b);
    *b_p = NULL;
}

/*  Sends b->buf to the worker.                                            */
static void
s_broker_send (broker_t *b)
{
    cr_assert_gt (b->peer_len, 0, "no worker seen yet");
    cr_assert_eq (zmq_send (b->router, b->peer, b->peer_len, ZMQ_SNDMORE), (int) b->peer_len);
    cr_assert_eq (zmq_send (b->router, b->buf.data, b->buf.size, 0), (int) b->buf.size);
}

/*  Receives one message without waiting; true when one came.              */
static bool
s_broker_poll (broker_t *b)
{
    int n = zmq_recv (b->router, b->peer, sizeof b->peer, ZMQ_DONTWAIT);
    if (n < 0)
        return false;
    b->peer_len = (size_t) n;
    n = zmq_recv (b->router, b->frame, sizeof b->frame, 0);
    cr_assert_geq (n, 0);
    b->frame_len = (size_t) n;
    return true;
}

/*  Turns the worker until the broker gets a message with command cmd
    (others are skipped, HEARTBEATs included). Fails after WAIT_MS.       */
static void
s_expect (broker_t *b, llmq_worker_t *w, llmq_cmd_t cmd)
{
    uint64_t deadline = llmq_now_us () + WAIT_MS * 1000ull;
    while (llmq_now_us () < deadline) {
        cr_assert_eq (llmq_worker_step (w, 5), 0);
        while (s_broker_poll (b)) {
            llmq_cmd_t got;
            cr_assert_eq (llmq_peek_command (b->frame, b->frame_len, &got), LLMQ_DECODE_OK);
            if (got == cmd)
                return;
        }
    }
    cr_assert_fail ("no message 0x%02x from the worker within %d ms", cmd, WAIT_MS);
}

/*  Turns the worker for ms milliseconds; fails if cmd arrives meanwhile.  */
static void
s_expect_none (broker_t *b, llmq_worker_t *w, llmq_cmd_t cmd, uint32_t ms)
{
    uint64_t until = llmq_now_us () + ms * 1000ull;
    while (llmq_now_us () < until) {
        cr_assert_eq (llmq_worker_step (w, 5), 0);
        while (s_broker_poll (b)) {
            llmq_cmd_t got;
            llmq_peek_command (b->frame, b->frame_len, &got);
            cr_assert_neq (got, cmd, "unexpected message 0x%02x", cmd);
        }
    }
}

static void
s_send_heartbeat (broker_t *b)
{
    llmq_heartbeat_t hb;
    memset (&hb, 0, sizeof hb);
    cr_assert_eq (llmq_encode_heartbeat (&b->buf, &hb), 0);
    s_broker_send (b);
}

static void
s_config (llmq_worker_config_t *cfg, const broker_t *b)
{
    llmq_worker_config_init (cfg);
    cfg->broker = b->endpoint;
    snprintf (cfg->id, sizeof cfg->id, "w1");
    cfg->slots = 2;
    cfg->heartbeat_ms = 100;
    cfg->liveness = 3;
    cfg->mock.tokens = 6;
    char err [128];
    cr_assert_eq (llmq_worker_config_add_models (cfg, "mock,alias=mock", err, sizeof err), 0);
}

/*  A worker that has registered with the fake broker.                     */
static llmq_worker_t *
s_registered_worker (broker_t *b, const llmq_worker_config_t *cfg)
{
    llmq_worker_t *w = llmq_worker_new (cfg);
    cr_assert_not_null (w);
    s_expect (b, w, LLMQ_CMD_READY);
    cr_assert_not (llmq_worker_registered (w));
    s_send_heartbeat (b);
    uint64_t deadline = llmq_now_us () + WAIT_MS * 1000ull;
    while (!llmq_worker_registered (w)) {
        cr_assert_lt (llmq_now_us (), deadline, "worker never saw the ack");
        llmq_worker_step (w, 5);
    }
    return w;
}

/*  Sends DISPATCH rid for model with prompt.                              */
static void
s_dispatch (broker_t *b, uint64_t rid, const char *model, const char *prompt,
            bool stream, uint32_t deadline_ms)
{
    llmq_chat_msg_t msg = { .role = llmq_str ("user"), .content = llmq_str (prompt) };
    llmq_wire_request_t req = {
        .id = llmq_str ("req-1"), .model = llmq_str (model),
        .messages = &msg, .n_messages = 1, .stream = stream
    };
    llmq_buf_t body;
    llmq_buf_init (&body);
    cr_assert_eq (llmq_encode_request_body (&body, &req), 0);
    llmq_dispatch_t d = {
        .rid = rid, .attempt = 1, .deadline_ms = deadline_ms,
        .req_raw = body.data, .req_raw_size = body.size
    };
    cr_assert_eq (llmq_encode_dispatch (&b->buf, &d), 0);
    llmq_buf_free (&body);
    s_broker_send (b);
}

static void
s_cancel (broker_t *b, uint64_t rid)
{
    llmq_cancel_t c = { .has_rid = true, .rid = rid };
    cr_assert_eq (llmq_encode_cancel (&b->buf, &c), 0);
    s_broker_send (b);
}

static llmq_error_t
s_error (broker_t *b)
{
    llmq_error_t e;
    cr_assert_eq (llmq_decode_error (b->dec, b->frame, b->frame_len, &e), LLMQ_DECODE_OK);
    return e;
}

/* ---------------------------------------------------------------------- */

Test (worker_session, ready_then_registered_then_heartbeats)
{
    broker_t *b = s_broker_new ();
    llmq_worker_config_t cfg;
    s_config (&cfg, b);
    llmq_worker_t *w = llmq_worker_new (&cfg);
    s_expect (b, w, LLMQ_CMD_READY);
    cr_assert_eq (b->peer_len, 16, "16-byte routing id");
    cr_assert_neq (b->peer [0], 0, "first byte non-zero");
    llmq_ready_t ready;
    cr_assert_eq (llmq_decode_ready (b->dec, b->frame, b->frame_len, &ready), LLMQ_DECODE_OK);
    cr_assert (llmq_str_eq (ready.worker_id, "w1"));
    cr_assert_eq (ready.n_models, 2);
    cr_assert (llmq_str_eq (ready.models [0], "mock"));
    cr_assert (llmq_str_eq (ready.models [1], "alias"), "served names only");
    cr_assert_eq (ready.slots, 2);
    cr_assert (llmq_str_eq (ready.version, LLMQ_VERSION_STRING));
    cr_assert_not (llmq_worker_registered (w));

    s_send_heartbeat (b);
    s_expect (b, w, LLMQ_CMD_HEARTBEAT);
    cr_assert (llmq_worker_registered (w));
    llmq_heartbeat_t hb;
    cr_assert_eq (llmq_decode_heartbeat (b->dec, b->frame, b->frame_len, &hb), LLMQ_DECODE_OK);
    cr_assert_eq (hb.in_flight, 0);
    cr_assert_eq (hb.free_slots, 2);
    cr_assert_eq (hb.backend_state, LLMQ_BACKEND_OK);
    cr_assert_not (hb.draining);
    llmq_worker_destroy (&w);
    cr_assert_null (w);
    llmq_worker_config_clear (&cfg);
    s_broker_destroy (&b);
}

Test (worker_session, dispatch_whole_answer)
{
    broker_t *b = s_broker_new ();
    llmq_worker_config_t cfg;
    s_config (&cfg, b);
    llmq_worker_t *w = s_registered_worker (b, &cfg);
    s_dispatch (b, 77, "alias", "hello there world", false, 5000);
    s_expect (b, w, LLMQ_CMD_FINAL);
    llmq_final_t f;
    cr_assert_eq (llmq_decode_final (b->dec, b->frame, b->frame_len, &f), LLMQ_DECODE_OK);
    cr_assert (f.has_rid);
    cr_assert_eq (f.rid, 77);
    cr_assert (llmq_str_eq (f.model, "alias"), "the served name");
    char expected [256];
    llmq_mock_answer ("hello there world", 17, 6, expected, sizeof expected);
    cr_assert_eq (f.text.len, strlen (expected));
    cr_assert_eq (memcmp (f.text.ptr, expected, f.text.len), 0);
    cr_assert (llmq_str_eq (f.finish_reason, "stop"));
    cr_assert_eq (f.usage.completion_tokens, 6);
    cr_assert_eq (f.usage.prompt_tokens, 3);
    cr_assert (llmq_str_eq (f.worker, "w1"));
    cr_assert_eq (llmq_worker_in_flight (w), 0);
    llmq_worker_destroy (&w);
    llmq_worker_config_clear (&cfg);
    s_broker_destroy (&b);
}

Test (worker_session, dispatch_streamed)
{
    broker_t *b = s_broker_new ();
    llmq_worker_config_t cfg;
    s_config (&cfg, b);
    cfg.mock.tpot_ms = 2;
    llmq_worker_t *w = s_registered_worker (b, &cfg);
    s_dispatch (b, 78, "mock", "stream me", true, 5000);
    char joined [256] = "";
    for (uint32_t seq = 0; seq < 6; seq++) {
        s_expect (b, w, LLMQ_CMD_PARTIAL);
        llmq_partial_t p;
        cr_assert_eq (llmq_decode_partial (b->dec, b->frame, b->frame_len, &p), LLMQ_DECODE_OK);
        cr_assert_eq (p.rid, 78);
        cr_assert_eq (p.seq, seq);
        strncat (joined, p.text.ptr, p.text.len);
    }
    s_expect (b, w, LLMQ_CMD_FINAL);
    llmq_final_t f;
    cr_assert_eq (llmq_decode_final (b->dec, b->frame, b->frame_len, &f), LLMQ_DECODE_OK);
    cr_assert_eq (f.text.len, strlen (joined));
    cr_assert_eq (memcmp (f.text.ptr, joined, f.text.len), 0);
    cr_assert_geq (f.timings.backend_us, 5 * 2000);
    llmq_worker_destroy (&w);
    llmq_worker_config_clear (&cfg);
    s_broker_destroy (&b);
}

Test (worker_session, unknown_model_and_no_free_slot)
{
    broker_t *b = s_broker_new ();
    llmq_worker_config_t cfg;
    s_config (&cfg, b);
    cfg.mock.ttft_ms = 10000;           /* calls stay in their slots */
    llmq_worker_t *w = s_registered_worker (b, &cfg);
    s_dispatch (b, 1, "gpt-9", "x", false, 5000);
    s_expect (b, w, LLMQ_CMD_ERROR);
    llmq_error_t e = s_error (b);
    cr_assert_eq (e.rid, 1);
    cr_assert_eq (e.code, LLMQ_ERR_NO_WORKER);

    s_dispatch (b, 2, "mock", "x", false, 30000);
    s_dispatch (b, 3, "mock", "x", false, 30000);
    s_dispatch (b, 4, "mock", "x", false, 30000);
    s_expect (b, w, LLMQ_CMD_ERROR);
    e = s_error (b);
    cr_assert_eq (e.rid, 4);
    cr_assert_eq (e.code, LLMQ_ERR_OVERLOADED);
    cr_assert_eq (llmq_worker_in_flight (w), 2);
    s_expect (b, w, LLMQ_CMD_HEARTBEAT);
    llmq_heartbeat_t hb;
    cr_assert_eq (llmq_decode_heartbeat (b->dec, b->frame, b->frame_len, &hb), LLMQ_DECODE_OK);
    cr_assert_eq (hb.in_flight, 2);
    cr_assert_eq (hb.free_slots, 0);
    llmq_worker_destroy (&w);
    llmq_worker_config_clear (&cfg);
    s_broker_destroy (&b);
}

Test (worker_session, cancel_frees_the_slot_silently)
{
    broker_t *b = s_broker_new ();
    llmq_worker_config_t cfg;
    s_config (&cfg, b);
    cfg.mock.ttft_ms = 150;
    llmq_worker_t *w = s_registered_worker (b, &cfg);
    s_dispatch (b, 5, "mock", "x", true, 5000);
    uint64_t deadline = llmq_now_us () + WAIT_MS * 1000ull;
    while (llmq_worker_in_flight (w) == 0) {
        cr_assert_lt (llmq_now_us (), deadline);
        llmq_worker_step (w, 5);
    }
    s_cancel (b, 5);
    s_cancel (b, 999);                  /* unknown rid: ignored */
    deadline = llmq_now_us () + WAIT_MS * 1000ull;
    while (llmq_worker_in_flight (w) != 0) {
        cr_assert_lt (llmq_now_us (), deadline);
        llmq_worker_step (w, 5);
    }
    s_expect_none (b, w, LLMQ_CMD_PARTIAL, 300);
    s_expect_none (b, w, LLMQ_CMD_FINAL, 50);
    llmq_worker_destroy (&w);
    llmq_worker_config_clear (&cfg);
    s_broker_destroy (&b);
}

Test (worker_session, deadline_from_dispatch)
{
    broker_t *b = s_broker_new ();
    llmq_worker_config_t cfg;
    s_config (&cfg, b);
    cfg.mock.ttft_ms = 5000;
    llmq_worker_t *w = s_registered_worker (b, &cfg);
    uint64_t start = llmq_now_us ();
    s_dispatch (b, 6, "mock", "x", false, 80);
    s_expect (b, w, LLMQ_CMD_ERROR);
    llmq_error_t e = s_error (b);
    cr_assert_eq (e.rid, 6);
    cr_assert_eq (e.code, LLMQ_ERR_TIMEOUT);
    cr_assert_geq (llmq_now_us () - start, 80000);
    cr_assert_lt (llmq_now_us () - start, 3000000);
    llmq_worker_destroy (&w);
    llmq_worker_config_clear (&cfg);
    s_broker_destroy (&b);
}

Test (worker_session, disconnect_makes_it_register_again)
{
    broker_t *b = s_broker_new ();
    llmq_worker_config_t cfg;
    s_config (&cfg, b);
    cfg.mock.ttft_ms = 10000;
    llmq_worker_t *w = s_registered_worker (b, &cfg);
    uint8_t first_id [16];
    memcpy (first_id, b->peer, 16);
    s_dispatch (b, 7, "mock", "x", false, 30000);
    llmq_disconnect_t bye = { .reason = llmq_str ("who are you") };
    cr_assert_eq (llmq_encode_disconnect (&b->buf, &bye), 0);
    s_broker_send (b);
    s_expect (b, w, LLMQ_CMD_READY);
    cr_assert_eq (llmq_worker_sessions (w), 2);
    cr_assert_eq (memcmp (b->peer, first_id, 16), 0, "same routing id after reconnect");
    cr_assert_not (llmq_worker_registered (w));
    cr_assert_eq (llmq_worker_in_flight (w), 0, "calls in flight are cancelled");
    s_send_heartbeat (b);
    uint64_t deadline = llmq_now_us () + WAIT_MS * 1000ull;
    while (!llmq_worker_registered (w)) {
        cr_assert_lt (llmq_now_us (), deadline);
        llmq_worker_step (w, 5);
    }
    llmq_worker_destroy (&w);
    llmq_worker_config_clear (&cfg);
    s_broker_destroy (&b);
}

Test (worker_session, silent_broker_means_reconnect)
{
    broker_t *b = s_broker_new ();
    llmq_worker_config_t cfg;
    s_config (&cfg, b);
    llmq_worker_t *w = s_registered_worker (b, &cfg);
    uint64_t start = llmq_now_us ();
    /*  The broker says nothing more: after liveness x heartbeat (300 ms)
        the worker starts a new session with a new READY.                 */
    s_expect (b, w, LLMQ_CMD_READY);
    uint64_t took_ms = (llmq_now_us () - start) / 1000;
    cr_assert_geq (took_ms, 300);
    cr_assert_lt (took_ms, 3000);
    cr_assert_eq (llmq_worker_sessions (w), 2);
    llmq_worker_destroy (&w);
    llmq_worker_config_clear (&cfg);
    s_broker_destroy (&b);
}

Test (worker_session, stop_sends_disconnect)
{
    broker_t *b = s_broker_new ();
    llmq_worker_config_t cfg;
    s_config (&cfg, b);
    llmq_worker_t *w = s_registered_worker (b, &cfg);
    llmq_worker_stop (w);
    cr_assert_not (llmq_worker_registered (w));
    uint64_t deadline = llmq_now_us () + WAIT_MS * 1000ull;
    bool got = false;
    while (!got && llmq_now_us () < deadline) {
        zmq_pollitem_t item = { .socket = b->router, .events = ZMQ_POLLIN };
        zmq_poll (&item, 1, 50);
        while (s_broker_poll (b)) {
            llmq_cmd_t cmd;
            llmq_peek_command (b->frame, b->frame_len, &cmd);
            got = got || cmd == LLMQ_CMD_DISCONNECT;
        }
    }
    cr_assert (got, "DISCONNECT reached the broker");
    llmq_worker_destroy (&w);
    llmq_worker_config_clear (&cfg);
    s_broker_destroy (&b);
}

Test (worker_session, garbage_from_broker_is_survived)
{
    broker_t *b = s_broker_new ();
    llmq_worker_config_t cfg;
    s_config (&cfg, b);
    llmq_worker_t *w = s_registered_worker (b, &cfg);
    const char *junk [] = { "", "LLMQ", "XXXX\x01\x09", "LLMQ\x01\x0A\xc1", "LLMQ\x01\x02\x80" };
    for (size_t i = 0; i < sizeof junk / sizeof junk [0]; i++) {
        zmq_send (b->router, b->peer, b->peer_len, ZMQ_SNDMORE);
        zmq_send (b->router, junk [i], strlen (junk [i]) + (i >= 3 ? 1 : 0), 0);
    }
    /*  Still working afterwards.                                          */
    s_dispatch (b, 9, "mock", "still there", false, 5000);
    s_expect (b, w, LLMQ_CMD_FINAL);
    llmq_worker_destroy (&w);
    llmq_worker_config_clear (&cfg);
    s_broker_destroy (&b);
}
