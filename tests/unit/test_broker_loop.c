/*  test_broker_loop.c -- the broker in-process, driven round by round.

    Each test creates a broker on tcp://127.0.0.1:*, fake workers and
    clients as DEALER sockets speaking through the codec, and calls
    broker_poll_once from this thread until the expected frame arrives (or
    a deadline passes and the test fails): no sleeps, no second thread.

    "Nothing else arrived" is checked by ordering, not by waiting: ZeroMQ
    keeps the order of one connection, so when a later answer (a PONG, the
    DISPATCH of a later request) arrives, an earlier unwanted frame would
    have arrived before it.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "broker.h"
#include "llmq_proto.h"

#define WAIT_MS 3000                /* generous: a failing test ends here  */

static broker_t *broker;
static void *ctx;
static void *sockets[16];           /* to close at teardown                */
static int n_sockets;
static void *keepalive[4];          /* fake workers that keep heartbeating */
static int n_keepalive;
static uint64_t last_beat_us;
static llmq_buf_t buf;
static llmq_decoder_t *dec;
static zmq_msg_t last;              /* the frame s_expect returned         */

/* ---------------------------------------------------------------------- */
/*  Fixture                                                                */

static void
s_start (broker_config_t *config)
{
    config->clients_ep = "tcp://127.0.0.1:*";
    config->workers_ep = "tcp://127.0.0.1:*";
    config->stats_ep = "tcp://127.0.0.1:*";
    broker = broker_new (config);
    cr_assert_not_null (broker);
}

static void
s_start_default (void)
{
    broker_config_t config;
    broker_config_defaults (&config);
    config.no_worker_grace_ms = 100;
    s_start (&config);
}

static void
s_setup (void)
{
    ctx = zmq_ctx_new ();
    llmq_buf_init (&buf);
    dec = llmq_decoder_new ();
    zmq_msg_init (&last);
    n_sockets = n_keepalive = 0;
    broker = NULL;
}

static void
s_teardown (void)
{
    for (int i = 0; i < n_sockets; i++)
        zmq_close (sockets[i]);
    broker_destroy (&broker);
    zmq_msg_close (&last);
    llmq_decoder_destroy (&dec);
    llmq_buf_free (&buf);
    zmq_ctx_term (ctx);
}

static void *
s_dealer (const char *endpoint, const char *identity)
{
    void *sock = zmq_socket (ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt (sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (sock, ZMQ_ROUTING_ID, identity, strlen (identity));
    cr_assert_eq (zmq_connect (sock, endpoint), 0);
    sockets[n_sockets++] = sock;
    return sock;
}

static void
s_send_buf (void *sock)
{
    cr_assert_eq (zmq_send (sock, buf.data, buf.size, 0), (int) buf.size);
}

/* ---------------------------------------------------------------------- */
/*  Pumping the broker                                                     */

static void
s_beat (void)
{
    uint64_t now = llmq_now_us ();
    if (n_keepalive == 0 || now - last_beat_us < 20000)
        return;
    last_beat_us = now;
    llmq_buf_t beat;
    llmq_buf_init (&beat);
    llmq_heartbeat_t hb = { .free_slots = 1 };
    cr_assert_eq (llmq_encode_heartbeat (&beat, &hb), 0);
    for (int i = 0; i < n_keepalive; i++)
        zmq_send (keepalive[i], beat.data, beat.size, 0);
    llmq_buf_free (&beat);
}

static llmq_cmd_t
s_cmd (zmq_msg_t *msg)
{
    llmq_cmd_t cmd;
    cr_assert_eq (llmq_peek_command (zmq_msg_data (msg), zmq_msg_size (msg), &cmd), 0);
    return cmd;
}

/*  Pumps the broker until sock gets a frame (HEARTBEATs skipped unless
    wanted) and asserts it is a `want`. The frame stays in `last`.         */
static void
s_expect (void *sock, llmq_cmd_t want)
{
    uint64_t deadline = llmq_now_us () + WAIT_MS * 1000;
    while (llmq_now_us () < deadline) {
        broker_poll_once (broker, 2);
        s_beat ();
        zmq_msg_close (&last);
        zmq_msg_init (&last);
        if (zmq_msg_recv (&last, sock, ZMQ_DONTWAIT) == -1)
            continue;
        llmq_cmd_t cmd = s_cmd (&last);
        if (cmd == LLMQ_CMD_HEARTBEAT && want != LLMQ_CMD_HEARTBEAT)
            continue;
        cr_assert_eq (cmd, want, "got command 0x%02x, wanted 0x%02x", cmd, want);
        return;
    }
    cr_assert_fail ("no command 0x%02x within %d ms", want, WAIT_MS);
}

/*  Pumps until a broker counter reaches a value.                          */
#define S_PUMP_UNTIL(cond) do {                                            \
    uint64_t deadline_ = llmq_now_us () + WAIT_MS * 1000;                  \
    while (!(cond) && llmq_now_us () < deadline_) {                        \
        broker_poll_once (broker, 2);                                      \
        s_beat ();                                                         \
    }                                                                      \
    cr_assert ((cond), "timed out waiting for " #cond);                    \
} while (0)

/* ---------------------------------------------------------------------- */
/*  Fake peers                                                             */

static void *
s_worker (const char *identity, const char *model, uint32_t slots, bool keep_alive)
{
    void *sock = s_dealer (broker_workers_endpoint (broker), identity);
    llmq_ready_t ready = { .worker_id = llmq_str (identity), .slots = slots };
    ready.models[ready.n_models++] = llmq_str (model);
    cr_assert_eq (llmq_encode_ready (&buf, &ready), 0);
    s_send_buf (sock);
    s_expect (sock, LLMQ_CMD_HEARTBEAT);    /* the READY ack */
    if (keep_alive)
        keepalive[n_keepalive++] = sock;
    return sock;
}

static const llmq_chat_msg_t s_chat[] = { { .role = { "user", 4 }, .content = { "hello", 5 } } };

static void
s_request (void *client, const char *id, const char *model, uint32_t timeout_ms, bool stream)
{
    llmq_wire_request_t req = {
        .id = llmq_str (id), .model = llmq_str (model),
        .messages = s_chat, .n_messages = 1,
        .timeout_ms = timeout_ms, .stream = stream
    };
    cr_assert_eq (llmq_encode_request (&buf, &req), 0);
    s_send_buf (client);
}

/*  Waits for a DISPATCH on worker and decodes it into *out.                */
static void
s_expect_dispatch (void *worker, llmq_dispatch_t *out, const char *want_id)
{
    s_expect (worker, LLMQ_CMD_DISPATCH);
    cr_assert_eq (llmq_decode_dispatch (dec, zmq_msg_data (&last), zmq_msg_size (&last), out), 0,
                  "%s", llmq_decoder_error (dec));
    if (want_id)
        cr_assert (llmq_str_eq (out->req.id, want_id), "dispatched %.*s, wanted %s",
                   (int) out->req.id.len, out->req.id.ptr, want_id);
}

static void
s_final (void *worker, uint64_t rid, const char *text)
{
    llmq_final_t final = {
        .has_rid = true, .rid = rid, .model = llmq_str ("m"), .text = llmq_str (text),
        .finish_reason = llmq_str ("stop"), .usage = { 3, 4 },
        .timings = { .ttft_us = 111, .backend_us = 222 }
    };
    cr_assert_eq (llmq_encode_final (&buf, &final), 0);
    s_send_buf (worker);
}

static void
s_expect_final (void *client, llmq_final_t *out, const char *want_id)
{
    s_expect (client, LLMQ_CMD_FINAL);
    cr_assert_eq (llmq_decode_final (dec, zmq_msg_data (&last), zmq_msg_size (&last), out), 0);
    cr_assert (llmq_str_eq (out->id, want_id));
}

static void
s_expect_error (void *sock, llmq_errcode_t code, const char *want_id)
{
    s_expect (sock, LLMQ_CMD_ERROR);
    llmq_error_t error;
    cr_assert_eq (llmq_decode_error (dec, zmq_msg_data (&last), zmq_msg_size (&last), &error), 0);
    cr_assert_eq (error.code, code, "error %s (%.*s), wanted %s", llmq_errcode_name (error.code),
                  (int) error.message.len, error.message.ptr, llmq_errcode_name (code));
    if (want_id)
        cr_assert (llmq_str_eq (error.id, want_id));
}

static void
s_expect_cancel (void *worker, uint64_t rid)
{
    s_expect (worker, LLMQ_CMD_CANCEL);
    llmq_cancel_t cancel;
    cr_assert_eq (llmq_decode_cancel (dec, zmq_msg_data (&last), zmq_msg_size (&last), &cancel), 0);
    cr_assert (cancel.has_rid);
    cr_assert_eq (cancel.rid, rid);
}

/*  PING -> PONG: proves the broker handled everything client sent before. */
static void
s_sync (void *client)
{
    llmq_ping_t ping = { .nonce = 77 };
    cr_assert_eq (llmq_encode_ping (&buf, &ping), 0);
    s_send_buf (client);
    s_expect (client, LLMQ_CMD_PONG);
    llmq_ping_t pong;
    cr_assert_eq (llmq_decode_pong (dec, zmq_msg_data (&last), zmq_msg_size (&last), &pong), 0);
    cr_assert_eq (pong.nonce, 77);
    cr_assert (llmq_str_eq (pong.version, LLMQ_VERSION_STRING));
}

TestSuite (broker, .init = s_setup, .fini = s_teardown, .timeout = 30);

/* ---------------------------------------------------------------------- */

Test (broker, ready_is_acked_with_a_heartbeat)
{
    s_start_default ();
    s_worker ("w1", "m", 2, false);     /* asserts the HEARTBEAT ack */
}

Test (broker, request_is_dispatched_with_the_raw_map_and_answered)
{
    s_start_default ();
    void *worker = s_worker ("w1", "m", 2, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, false);
    /*  What the client put on the wire, to compare with the DISPATCH.      */
    llmq_buf_t sent;
    llmq_buf_init (&sent);
    llmq_wire_request_t req = { .id = llmq_str ("r1"), .model = llmq_str ("m"),
                           .messages = s_chat, .n_messages = 1 };
    cr_assert_eq (llmq_encode_request_body (&sent, &req), 0);

    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    cr_assert_eq (dispatch.attempt, 1);
    cr_assert (dispatch.deadline_ms > 59000 && dispatch.deadline_ms <= 60000,
               "default timeout: %u", dispatch.deadline_ms);
    cr_assert_eq (dispatch.req_raw_size, sent.size);
    cr_assert (memcmp (dispatch.req_raw, sent.data, sent.size) == 0, "raw map forwarded verbatim");
    llmq_buf_free (&sent);

    s_final (worker, dispatch.rid, "the answer");
    llmq_final_t final;
    s_expect_final (client, &final, "r1");
    cr_assert (llmq_str_eq (final.text, "the answer"));
    cr_assert (llmq_str_eq (final.worker, "w1"));
    cr_assert (llmq_str_eq (final.model, "m"));
    cr_assert (llmq_str_eq (final.finish_reason, "stop"));
    cr_assert_eq (final.usage.completion_tokens, 4);
    cr_assert_eq (final.attempts, 1);
    cr_assert_not (final.has_rid, "the rid is not the client's business");
    cr_assert_eq (final.timings.ttft_us, 111);
    cr_assert_eq (final.timings.backend_us, 222);
    cr_assert_gt (final.timings.total_us, 0);
    cr_assert_geq (final.timings.total_us, final.timings.queued_us);
    cr_assert_gt (final.timings.broker_us, 0);
    cr_assert_lt (final.timings.broker_us, final.timings.total_us);
    cr_assert_eq (broker_stats (broker)->answered, 1);
}

Test (broker, stale_replies_are_dropped)
{
    s_start_default ();
    void *worker = s_worker ("w1", "m", 2, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    uint64_t rid = dispatch.rid;
    s_final (worker, rid, "once");
    llmq_final_t final;
    s_expect_final (client, &final, "r1");
    /*  The same FINAL again, and one with a forged generation.            */
    s_final (worker, rid, "twice");
    s_final (worker, rid + (1ull << 32), "forged");
    S_PUMP_UNTIL (broker_stats (broker)->dropped_replies == 2);
    s_sync (client);                    /* no FINAL came before the PONG */
}

Test (broker, reply_from_another_worker_is_dropped)
{
    s_start_default ();
    void *w1 = s_worker ("w1", "m", 1, true);
    void *w2 = s_worker ("w2", "m", 1, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (w1, &dispatch, "r1");
    s_final (w2, dispatch.rid, "not mine");
    S_PUMP_UNTIL (broker_stats (broker)->dropped_replies == 1);
    s_final (w1, dispatch.rid, "mine");
    llmq_final_t final;
    s_expect_final (client, &final, "r1");
    cr_assert (llmq_str_eq (final.text, "mine"));
}

Test (broker, unknown_model_gets_no_worker_after_the_grace)
{
    s_start_default ();                 /* grace 100 ms */
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    uint64_t start = llmq_now_us ();
    s_request (client, "r1", "nobody-serves-this", 0, false);
    s_expect_error (client, LLMQ_ERR_NO_WORKER, "r1");
    cr_assert_geq (llmq_now_us () - start, 100000, "waited for the grace");
    llmq_error_t error;
    llmq_decode_error (dec, zmq_msg_data (&last), zmq_msg_size (&last), &error);
    cr_assert (memmem (error.message.ptr, error.message.len, "nobody-serves-this", 18));
}

Test (broker, worker_arriving_within_the_grace_serves_the_request)
{
    s_start_default ();
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "late", 0, false);
    s_sync (client);
    void *worker = s_worker ("w1", "late", 1, true);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    s_final (worker, dispatch.rid, "ok");
    llmq_final_t final;
    s_expect_final (client, &final, "r1");
    cr_assert_geq (final.timings.queued_us, 1);
}

Test (broker, grace_ends_quietly_when_a_busy_worker_serves_the_model)
{
    s_start_default ();                 /* grace 100 ms */
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "late", 0, false);
    s_request (client, "r2", "late", 0, false);
    s_sync (client);
    uint64_t start = llmq_now_us ();
    void *worker = s_worker ("w1", "late", 1, true);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    /*  r2 waits for the busy worker past its grace: that is not no_worker. */
    S_PUMP_UNTIL (llmq_now_us () - start > 300000);
    s_final (worker, dispatch.rid, "one");
    llmq_final_t final;
    s_expect_final (client, &final, "r1");
    s_expect_dispatch (worker, &dispatch, "r2");
    cr_assert_eq (broker_stats (broker)->errors[LLMQ_ERR_NO_WORKER], 0);
}

Test (broker, queue_left_without_workers_gets_no_worker_after_the_grace)
{
    s_start_default ();                 /* grace 100 ms */
    void *worker = s_worker ("w1", "m", 1, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    s_request (client, "r2", "m", 0, false);
    s_sync (client);
    llmq_disconnect_t bye = { .reason = llmq_str ("bye") };
    llmq_encode_disconnect (&buf, &bye);
    s_send_buf (worker);
    /*  r1 went back to the front of the queue: it fails first.            */
    s_expect_error (client, LLMQ_ERR_NO_WORKER, "r1");
    s_expect_error (client, LLMQ_ERR_NO_WORKER, "r2");
}

Test (broker, malformed_frames_get_errors_and_the_broker_goes_on)
{
    s_start_default ();
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    /*  Valid header, body not msgpack.                                     */
    const char bad_body[] = { 'L', 'L', 'M', 'Q', 1, LLMQ_CMD_REQUEST, (char) 0xc1 };
    zmq_send (client, bad_body, sizeof bad_body, 0);
    s_expect_error (client, LLMQ_ERR_BAD_REQUEST, NULL);
    /*  Not LLMQ at all.                                                    */
    zmq_send (client, "GET / HTTP/1.0", 14, 0);
    s_expect_error (client, LLMQ_ERR_BAD_REQUEST, NULL);
    /*  Wrong version.                                                      */
    const char v9[] = { 'L', 'L', 'M', 'Q', 9, LLMQ_CMD_PING, (char) 0x80 };
    zmq_send (client, v9, sizeof v9, 0);
    s_expect_error (client, LLMQ_ERR_UNSUPPORTED, NULL);
    llmq_error_t error;
    llmq_decode_error (dec, zmq_msg_data (&last), zmq_msg_size (&last), &error);
    cr_assert (memmem (error.message.ptr, error.message.len, "version 9", 9));
    /*  Two frames.                                                         */
    llmq_ping_t ping = { .nonce = 1 };
    llmq_encode_ping (&buf, &ping);
    zmq_send (client, buf.data, buf.size, ZMQ_SNDMORE);
    zmq_send (client, buf.data, buf.size, 0);
    s_expect_error (client, LLMQ_ERR_BAD_REQUEST, NULL);
    /*  A known command clients may not send: bad_request (PROTOCOL.md).    */
    llmq_heartbeat_t hb = { 0 };
    llmq_encode_heartbeat (&buf, &hb);
    s_send_buf (client);
    s_expect_error (client, LLMQ_ERR_BAD_REQUEST, NULL);
    /*  An unknown command byte: unsupported.                               */
    const char unknown[] = { 'L', 'L', 'M', 'Q', 1, 0x7f, (char) 0x80 };
    zmq_send (client, unknown, sizeof unknown, 0);
    s_expect_error (client, LLMQ_ERR_UNSUPPORTED, NULL);
    /*  A REQUEST missing its model: the error carries the id.             */
    llmq_wire_request_t req = { .id = llmq_str ("x"), .model = llmq_str ("m"),
                           .messages = s_chat, .n_messages = 1 };
    llmq_encode_request (&buf, &req);
    /*  Corrupt the key "model" into "modem": the field is then missing.    */
    char *key = memmem (buf.data, buf.size, "model", 5);
    cr_assert_not_null (key);
    key[4] = 'm';
    s_send_buf (client);
    s_expect_error (client, LLMQ_ERR_BAD_REQUEST, "x");

    cr_assert_eq (broker_stats (broker)->malformed, 7);
    s_sync (client);
    /*  And real work still flows.                                          */
    void *worker = s_worker ("w1", "m", 1, true);
    s_request (client, "r1", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
}

Test (broker, malformed_worker_frames_get_errors)
{
    s_start_default ();
    void *worker = s_worker ("w1", "m", 1, true);
    const char bad[] = { 'L', 'L', 'M', 'Q', 1, LLMQ_CMD_FINAL, (char) 0xc1 };
    zmq_send (worker, bad, sizeof bad, 0);
    s_expect_error (worker, LLMQ_ERR_BAD_REQUEST, NULL);
    /*  READY with 0 slots is refused.                                      */
    /*  A command workers may not send.                                     */
    s_request (worker, "x", "m", 0, false);
    s_expect_error (worker, LLMQ_ERR_BAD_REQUEST, NULL);
    void *w2 = s_dealer (broker_workers_endpoint (broker), "w2");
    llmq_ready_t ready = { .worker_id = llmq_str ("w2"), .slots = 0, .n_models = 1 };
    ready.models[0] = llmq_str ("m");
    llmq_encode_ready (&buf, &ready);
    s_send_buf (w2);
    s_expect (w2, LLMQ_CMD_ERROR);
}

Test (broker, in_flight_deadline_gives_timeout_and_cancels_the_worker)
{
    s_start_default ();
    void *worker = s_worker ("w1", "m", 1, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    uint64_t start = llmq_now_us ();
    s_request (client, "r1", "m", 150, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    cr_assert_leq (dispatch.deadline_ms, 150);
    s_expect_error (client, LLMQ_ERR_TIMEOUT, "r1");
    cr_assert_geq (llmq_now_us () - start, 150000);
    s_expect_cancel (worker, dispatch.rid);
    /*  A FINAL after the timeout is stale.                                 */
    s_final (worker, dispatch.rid, "too late");
    S_PUMP_UNTIL (broker_stats (broker)->dropped_replies == 1);
    s_sync (client);
}

Test (broker, queued_deadline_gives_timeout)
{
    s_start_default ();
    void *worker = s_worker ("w1", "m", 1, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "busy", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "busy");
    s_request (client, "r2", "m", 100, false);      /* waits: the slot is taken */
    s_expect_error (client, LLMQ_ERR_TIMEOUT, "r2");
    /*  The slot frees: nothing queued is left to dispatch.                 */
    s_final (worker, dispatch.rid, "done");
    llmq_final_t final;
    s_expect_final (client, &final, "busy");
    cr_assert_eq (broker_stats (broker)->errors[LLMQ_ERR_TIMEOUT], 1);
}

static void
s_cancel (void *client, const char *id)
{
    llmq_cancel_t cancel = { .id = llmq_str (id) };
    cr_assert_eq (llmq_encode_cancel (&buf, &cancel), 0);
    s_send_buf (client);
}

Test (broker, cancel_in_flight_and_queued)
{
    s_start_default ();
    void *worker = s_worker ("w1", "m", 1, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    uint64_t rid1 = dispatch.rid;
    s_request (client, "r2", "m", 0, false);        /* queued */
    s_request (client, "r3", "m", 0, false);        /* queued */
    s_cancel (client, "r2");
    s_expect_error (client, LLMQ_ERR_CANCELLED, "r2");
    s_cancel (client, "r1");
    s_expect_error (client, LLMQ_ERR_CANCELLED, "r1");
    s_expect_cancel (worker, rid1);
    /*  The freed slot goes to r3, not to the cancelled r2.                 */
    s_expect_dispatch (worker, &dispatch, "r3");
    s_cancel (client, "unknown-id");                /* ignored */
    s_sync (client);
    cr_assert_eq (broker_stats (broker)->cancelled, 2);
}

Test (broker, silent_worker_expires_and_its_request_goes_to_another)
{
    broker_config_t config;
    broker_config_defaults (&config);
    config.heartbeat_ms = 100;
    config.liveness = 3;
    s_start (&config);
    /*  The silent worker was last heard no earlier than this, so it cannot
        expire before start + liveness x heartbeat, however slow the run.  */
    uint64_t start = llmq_now_us ();
    void *silent = s_worker ("silent", "m", 1, false);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (silent, &dispatch, "r1");
    uint64_t first_rid = dispatch.rid;
    void *alive = s_worker ("alive", "m", 1, true);
    s_expect_dispatch (alive, &dispatch, "r1");
    cr_assert_geq (llmq_now_us () - start, 300000, "only after the liveness window");
    cr_assert_eq (dispatch.attempt, 2);
    cr_assert_neq (dispatch.rid, first_rid, "one rid per dispatch");
    /*  The expired worker's late answer is dropped; it is told to register. */
    s_final (silent, first_rid, "late");
    s_expect (silent, LLMQ_CMD_DISCONNECT);
    s_final (alive, dispatch.rid, "from alive");
    llmq_final_t final;
    s_expect_final (client, &final, "r1");
    cr_assert (llmq_str_eq (final.worker, "alive"));
    cr_assert_eq (final.attempts, 2);
}

Test (broker, disconnect_requeues_then_worker_lost_past_max_attempts)
{
    broker_config_t config;
    broker_config_defaults (&config);
    config.max_attempts = 2;
    s_start (&config);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    llmq_disconnect_t bye = { .reason = llmq_str ("bye") };
    void *w1 = s_worker ("w1", "m", 1, true);
    s_request (client, "r1", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (w1, &dispatch, "r1");
    llmq_encode_disconnect (&buf, &bye);
    s_send_buf (w1);
    /*  w1 comes back (READY again) and gets r1 as attempt 2.               */
    void *w1b = s_worker ("w1b", "m", 1, true);
    s_expect_dispatch (w1b, &dispatch, "r1");
    cr_assert_eq (dispatch.attempt, 2);
    llmq_encode_disconnect (&buf, &bye);
    s_send_buf (w1b);
    s_expect_error (client, LLMQ_ERR_WORKER_LOST, "r1");
}

Test (broker, ready_again_requeues_what_the_worker_had)
{
    s_start_default ();
    void *worker = s_worker ("w1", "m", 1, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    /*  The worker restarted with the same routing id.                      */
    llmq_ready_t ready = { .worker_id = llmq_str ("w1"), .slots = 1, .n_models = 1 };
    ready.models[0] = llmq_str ("m");
    llmq_encode_ready (&buf, &ready);
    s_send_buf (worker);
    s_expect (worker, LLMQ_CMD_HEARTBEAT);
    uint64_t old_rid = dispatch.rid;
    s_expect_dispatch (worker, &dispatch, "r1");
    cr_assert_eq (dispatch.attempt, 2);
    /*  Same worker, same request: the answer to the first dispatch is
        still stale, only the current rid counts.                          */
    cr_assert_neq (dispatch.rid, old_rid);
    s_final (worker, old_rid, "from the old run");
    S_PUMP_UNTIL (broker_stats (broker)->dropped_replies == 1);
    s_final (worker, dispatch.rid, "from the new run");
    llmq_final_t final;
    s_expect_final (client, &final, "r1");
    cr_assert (llmq_str_eq (final.text, "from the new run"));
}

Test (broker, unknown_worker_is_told_to_disconnect)
{
    s_start_default ();
    void *stranger = s_dealer (broker_workers_endpoint (broker), "stranger");
    llmq_heartbeat_t hb = { 0 };
    llmq_encode_heartbeat (&buf, &hb);
    s_send_buf (stranger);
    s_expect (stranger, LLMQ_CMD_DISCONNECT);
}

Test (broker, resend_while_in_flight_is_dispatched_once)
{
    s_start_default ();
    void *worker = s_worker ("w1", "m", 4, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    uint64_t rid = dispatch.rid;
    s_request (client, "r1", "m", 0, false);        /* the resend */
    s_request (client, "r2", "m", 0, false);
    /*  Were the resend dispatched, its DISPATCH would come before r2's.    */
    s_expect_dispatch (worker, &dispatch, "r2");
    cr_assert_eq (broker_stats (broker)->resends, 1);
    s_final (worker, rid, "one answer");
    llmq_final_t final;
    s_expect_final (client, &final, "r1");
    s_sync (client);
    /*  The same id from ANOTHER client is another request.                 */
    void *other = s_dealer (broker_clients_endpoint (broker), "c2");
    s_request (other, "r1", "m", 0, false);
    s_expect_dispatch (worker, &dispatch, "r1");
}

Test (broker, resend_crossing_the_final_gets_the_same_final_again)
{
    s_start_default ();
    void *worker = s_worker ("w1", "m", 4, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    s_final (worker, dispatch.rid, "the one answer");
    llmq_final_t final;
    s_expect_final (client, &final, "r1");
    /*  The resend the client sent before it got the FINAL: the same FINAL
        comes back and nothing runs again.                                 */
    s_request (client, "r1", "m", 0, false);
    s_expect_final (client, &final, "r1");
    cr_assert (llmq_str_eq (final.text, "the one answer"));
    cr_assert_eq (broker_stats (broker)->replayed, 1);
    s_request (client, "r2", "m", 0, false);
    s_expect_dispatch (worker, &dispatch, "r2");    /* not r1 again */
}

Test (broker, resend_after_an_error_is_a_new_request)
{
    s_start_default ();
    void *worker = s_worker ("w1", "m", 4, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    llmq_error_t error = { .has_rid = true, .rid = dispatch.rid, .code = LLMQ_ERR_BACKEND };
    llmq_encode_error (&buf, &error);
    s_send_buf (worker);
    s_expect_error (client, LLMQ_ERR_BACKEND, "r1");
    s_request (client, "r1", "m", 0, false);        /* try again */
    s_expect_dispatch (worker, &dispatch, "r1");
    cr_assert_eq (broker_stats (broker)->replayed, 0);
}

Test (broker, resend_while_queued_is_queued_once)
{
    s_start_default ();
    void *worker = s_worker ("w1", "m", 1, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "busy", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "busy");
    uint64_t busy = dispatch.rid;
    s_request (client, "r1", "m", 0, false);
    s_request (client, "r1", "m", 0, false);
    s_request (client, "r2", "m", 0, false);
    s_sync (client);
    s_final (worker, busy, "x");
    s_expect_dispatch (worker, &dispatch, "r1");
    s_final (worker, dispatch.rid, "x");
    s_expect_dispatch (worker, &dispatch, "r2");
}

Test (broker, stream_partials_are_forwarded_in_order)
{
    s_start_default ();
    void *worker = s_worker ("w1", "m", 1, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, true);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    cr_assert (dispatch.req.stream);
    const char *chunks[] = { "Hel", "lo" };
    for (uint32_t seq = 0; seq < 2; seq++) {
        llmq_partial_t partial = { .has_rid = true, .rid = dispatch.rid, .seq = seq,
                                   .text = llmq_str (chunks[seq]) };
        llmq_encode_partial (&buf, &partial);
        s_send_buf (worker);
    }
    s_final (worker, dispatch.rid, "Hello");
    for (uint32_t seq = 0; seq < 2; seq++) {
        s_expect (client, LLMQ_CMD_PARTIAL);
        llmq_partial_t partial;
        cr_assert_eq (llmq_decode_partial (dec, zmq_msg_data (&last), zmq_msg_size (&last),
                                           &partial), 0);
        cr_assert (llmq_str_eq (partial.id, "r1"));
        cr_assert_eq (partial.seq, seq);
        cr_assert (llmq_str_eq (partial.text, chunks[seq]));
    }
    llmq_final_t final;
    s_expect_final (client, &final, "r1");
}

Test (broker, worker_error_is_forwarded_with_the_client_id)
{
    s_start_default ();
    void *worker = s_worker ("w1", "m", 1, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    llmq_error_t error = { .has_rid = true, .rid = dispatch.rid, .code = LLMQ_ERR_BACKEND,
                           .message = llmq_str ("upstream said no"),
                           .has_upstream_status = true, .upstream_status = 503,
                           .has_retry_after_ms = true, .retry_after_ms = 700 };
    llmq_encode_error (&buf, &error);
    s_send_buf (worker);
    s_expect_error (client, LLMQ_ERR_BACKEND, "r1");
    llmq_error_t got;
    llmq_decode_error (dec, zmq_msg_data (&last), zmq_msg_size (&last), &got);
    cr_assert_eq (got.upstream_status, 503);
    cr_assert_eq (got.retry_after_ms, 700);
    cr_assert (llmq_str_eq (got.message, "upstream said no"));
    cr_assert_not (got.has_rid);
    /*  The slot is free again.                                             */
    s_request (client, "r2", "m", 0, false);
    s_expect_dispatch (worker, &dispatch, "r2");
}

Test (broker, full_queue_answers_overloaded)
{
    broker_config_t config;
    broker_config_defaults (&config);
    config.max_queue = 1;
    config.no_worker_grace_ms = 10000;
    s_start (&config);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, false);
    s_request (client, "r2", "m", 0, false);
    s_expect (client, LLMQ_CMD_ERROR);
    llmq_error_t error;
    llmq_decode_error (dec, zmq_msg_data (&last), zmq_msg_size (&last), &error);
    cr_assert_eq (error.code, LLMQ_ERR_OVERLOADED);
    cr_assert (llmq_str_eq (error.id, "r2"));
    cr_assert (error.has_retry_after_ms && error.retry_after_ms > 0);
}

Test (broker, timeout_is_capped_by_max_timeout)
{
    broker_config_t config;
    broker_config_defaults (&config);
    config.max_timeout_ms = 5000;
    s_start (&config);
    void *worker = s_worker ("w1", "m", 1, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 3600000, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    cr_assert_leq (dispatch.deadline_ms, 5000);
}

Test (broker, work_spreads_over_the_most_free_workers)
{
    s_start_default ();
    void *w1 = s_worker ("w1", "m", 1, true);
    void *w2 = s_worker ("w2", "m", 3, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    llmq_dispatch_t dispatch;
    /*  w2 has 3 free, w1 has 1: the first three go w2, w2, then a tie
        (w1 1 free, w2 1 free): the least recently used, w1.               */
    s_request (client, "r1", "m", 0, false);
    s_expect_dispatch (w2, &dispatch, "r1");
    s_request (client, "r2", "m", 0, false);
    s_expect_dispatch (w2, &dispatch, "r2");
    s_request (client, "r3", "m", 0, false);
    s_expect_dispatch (w1, &dispatch, "r3");
    s_request (client, "r4", "m", 0, false);
    s_expect_dispatch (w2, &dispatch, "r4");
}

Test (broker, stats_reply_describes_the_broker)
{
    s_start_default ();
    s_worker ("w1", "m", 2, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, false);
    s_sync (client);
    void *monitor = s_dealer (broker_stats_endpoint (broker), "mon");
    cr_assert_eq (llmq_encode_stats (&buf), 0);
    s_send_buf (monitor);
    s_expect (monitor, LLMQ_CMD_STATS_REPLY);
    llmq_buf_t json;
    llmq_buf_init (&json);
    cr_assert_eq (llmq_frame_to_json (dec, zmq_msg_data (&last), zmq_msg_size (&last), &json), 0);
    const char *text = json.data;
    cr_log_info ("%s", text);
    cr_assert (strstr (text, "\"received\":1"), "%s", text);
    cr_assert (strstr (text, "\"in_flight\":1"), "%s", text);
    cr_assert (strstr (text, "\"id\":\"w1\""), "%s", text);
    cr_assert (strstr (text, "\"state\":\"ready\""), "%s", text);
    cr_assert (strstr (text, "\"no_worker\":0"), "%s", text);
    cr_assert (strstr (text, "\"queues\":{\"m\":0}"), "%s", text);
    cr_assert (strstr (text, "\"uptime_ms\""), "%s", text);
    llmq_buf_free (&json);
}

Test (broker, shutdown_refuses_new_work_and_finishes_the_rest)
{
    broker_config_t config;
    broker_config_defaults (&config);
    config.shutdown_grace_ms = 5000;
    s_start (&config);
    void *worker = s_worker ("w1", "m", 1, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    broker_shutdown (broker);
    s_request (client, "r2", "m", 0, false);
    s_expect_error (client, LLMQ_ERR_SHUTTING_DOWN, "r2");
    cr_assert_not (broker_done (broker));
    s_final (worker, dispatch.rid, "finished");
    llmq_final_t final;
    s_expect_final (client, &final, "r1");
    S_PUMP_UNTIL (broker_done (broker));
    s_expect (worker, LLMQ_CMD_DISCONNECT);
}

Test (broker, shutdown_grace_cuts_what_is_left)
{
    broker_config_t config;
    broker_config_defaults (&config);
    config.shutdown_grace_ms = 100;
    s_start (&config);
    void *worker = s_worker ("w1", "m", 1, true);
    void *client = s_dealer (broker_clients_endpoint (broker), "c1");
    s_request (client, "r1", "m", 0, false);
    llmq_dispatch_t dispatch;
    s_expect_dispatch (worker, &dispatch, "r1");
    broker_shutdown (broker);
    s_expect_error (client, LLMQ_ERR_SHUTTING_DOWN, "r1");
    cr_assert (broker_done (broker));
    s_expect_cancel (worker, dispatch.rid);
    s_expect (worker, LLMQ_CMD_DISCONNECT);
}
