/*  test_client.c -- libllmq (client/llmq.h) against a fake broker.

    The fake broker is a ROUTER bound to tcp://127.0.0.1:* in a thread of
    the test, speaking through the codec like the real one. Each test
    picks a behaviour (answer, stream, fail, stay silent, repeat itself)
    and then checks what the library did and what the broker saw: the
    REQUEST frames (how many, which ids) and the CANCELs.

    Nothing waits a fixed time for readiness: the fake is bound before
    the client connects, and the tests wait on conditions with deadlines.
*/
#include <criterion/criterion.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "llmq_proto.h"
#include "llmq.h"

/* ---- the fake broker --------------------------------------------------- */

typedef enum {
    FAKE_FINAL,                     //  a FINAL echoing the last message
    FAKE_STREAM,                    //  3 PARTIALs, then a FINAL with all
    FAKE_STREAM_NO_TEXT,            //  3 PARTIALs, then a FINAL without text
    FAKE_ERROR,                     //  an ERROR (error_code, ...)
    FAKE_IGNORE_FIRST,              //  answers only a resend of an id
    FAKE_DUPLICATES,                //  every reply twice, plus noise
    FAKE_SILENT,                    //  never answers
    FAKE_STREAM_FOREVER             //  one PARTIAL, then silence
} fake_mode_t;

#define FAKE_MAX_IDS 256

//  How the fake answers; tests change it under the fake's lock.
typedef struct {
    fake_mode_t mode;               //  How to answer
    uint32_t error_code;            //  FAKE_ERROR: code
    uint32_t retry_after_ms;        //  FAKE_ERROR: 0 = absent
    uint32_t upstream_status;       //  FAKE_ERROR: 0 = absent
} fake_config_t;

typedef struct {
    fake_config_t config;           //  Guarded by lock
    void *context;                  //  The fake's own context
    void *router;                   //  Bound ROUTER
    char endpoint [256];            //  Where it is bound
    pthread_t thread;               //  Runs fake_run
    atomic_bool stop;               //  Ends the thread
    llmq_decoder_t *decoder;        //  Thread's decoder
    pthread_mutex_t lock;           //  Guards what follows
    pthread_cond_t changed;         //  Signalled on every record
    int requests;                   //  REQUEST frames seen
    int cancels;                    //  CANCEL frames seen
    char ids [FAKE_MAX_IDS][LLMQ_MAX_ID + 1];       //  REQUEST ids, in order
    char cancel_ids [FAKE_MAX_IDS][LLMQ_MAX_ID + 1];//  CANCEL ids, in order
    llmq_buf_t last_request;        //  Copy of the last REQUEST frame
} fake_t;

static void
fake_send (fake_t *self, zmq_msg_t *rid, const llmq_buf_t *frame)
{
    zmq_send (self->router, zmq_msg_data (rid), zmq_msg_size (rid), ZMQ_SNDMORE);
    zmq_send (self->router, frame->data, frame->size, 0);
}

static void
fake_partial (fake_t *self, zmq_msg_t *rid, llmq_str_t id, uint32_t seq, const char *text)
{
    llmq_partial_t partial = { .id = id, .seq = seq, .text = llmq_str (text) };
    llmq_buf_t frame;
    llmq_buf_init (&frame);
    llmq_encode_partial (&frame, &partial);
    fake_send (self, rid, &frame);
    llmq_buf_free (&frame);
}

static void
fake_final (fake_t *self, zmq_msg_t *rid, llmq_str_t id, const char *text)
{
    llmq_final_t final = {
        .id = id, .model = llmq_str ("fake-model"), .text = llmq_str (text),
        .finish_reason = llmq_str ("stop"), .usage = { 3, 5 }, .cached = true,
        .worker = llmq_str ("fake-w1"), .attempts = 2,
        .timings = { 11, 22, 33, 44, 55 }
    };
    llmq_buf_t frame;
    llmq_buf_init (&frame);
    llmq_encode_final (&frame, &final);
    fake_send (self, rid, &frame);
    llmq_buf_free (&frame);
}

static void
fake_error (fake_t *self, zmq_msg_t *rid, llmq_str_t id, const fake_config_t *config)
{
    llmq_error_t error = {
        .id = id, .code = config->error_code, .message = llmq_str ("fake says no"),
        .has_retry_after_ms = config->retry_after_ms > 0, .retry_after_ms = config->retry_after_ms,
        .has_upstream_status = config->upstream_status > 0, .upstream_status = config->upstream_status
    };
    llmq_buf_t frame;
    llmq_buf_init (&frame);
    llmq_encode_error (&frame, &error);
    fake_send (self, rid, &frame);
    llmq_buf_free (&frame);
}

//  Records a REQUEST; returns how many times its id was seen, this one
//  too, and the configuration to answer it with.
static int
fake_record_request (fake_t *self, const llmq_wire_request_t *req, const void *data, size_t size,
                     fake_config_t *config)
{
    pthread_mutex_lock (&self->lock);
    *config = self->config;
    int seen = 1;
    for (int i = 0; i < self->requests && i < FAKE_MAX_IDS; i++)
        if (strlen (self->ids [i]) == req->id.len && memcmp (self->ids [i], req->id.ptr, req->id.len) == 0)
            seen++;
    if (self->requests < FAKE_MAX_IDS)
        snprintf (self->ids [self->requests], LLMQ_MAX_ID + 1, "%.*s", (int) req->id.len, req->id.ptr);
    self->requests++;
    self->last_request.size = 0;
    self->last_request.data = realloc (self->last_request.data, size);
    memcpy (self->last_request.data, data, size);
    self->last_request.size = size;
    pthread_cond_broadcast (&self->changed);
    pthread_mutex_unlock (&self->lock);
    return seen;
}

static void
fake_on_cancel (fake_t *self, const void *data, size_t size)
{
    llmq_cancel_t cancel;
    if (llmq_decode_cancel (self->decoder, data, size, &cancel) != LLMQ_DECODE_OK)
        return;
    pthread_mutex_lock (&self->lock);
    if (self->cancels < FAKE_MAX_IDS)
        snprintf (self->cancel_ids [self->cancels], LLMQ_MAX_ID + 1, "%.*s",
                  (int) cancel.id.len, cancel.id.ptr);
    self->cancels++;
    pthread_cond_broadcast (&self->changed);
    pthread_mutex_unlock (&self->lock);
}

static void
fake_on_request (fake_t *self, zmq_msg_t *rid, const void *data, size_t size)
{
    llmq_wire_request_t req;
    if (llmq_decode_request (self->decoder, data, size, &req) != LLMQ_DECODE_OK)
        return;
    fake_config_t config;
    int seen = fake_record_request (self, &req, data, size, &config);
    llmq_str_t last = req.messages [req.n_messages - 1].content;
    char echo [512];
    snprintf (echo, sizeof echo, "echo: %.*s", (int) last.len, last.ptr);
    llmq_str_t id = req.id;
    switch (config.mode) {
        case FAKE_FINAL:
            fake_final (self, rid, id, echo);
            break;
        case FAKE_STREAM:
        case FAKE_STREAM_NO_TEXT:
            fake_partial (self, rid, id, 0, "Hel");
            fake_partial (self, rid, id, 1, "lo ");
            fake_partial (self, rid, id, 2, "world");
            fake_final (self, rid, id, config.mode == FAKE_STREAM? "Hello world": "");
            break;
        case FAKE_ERROR:
            fake_error (self, rid, id, &config);
            break;
        case FAKE_IGNORE_FIRST:
            if (seen > 1)
                fake_final (self, rid, id, echo);
            break;
        case FAKE_DUPLICATES: {
            fake_partial (self, rid, id, 0, "a");
            fake_partial (self, rid, id, 0, "a");
            fake_partial (self, rid, id, 1, "b");
            fake_final (self, rid, id, "ab");
            fake_final (self, rid, id, "ab");
            fake_partial (self, rid, id, 2, "late");
            llmq_str_t other = llmq_str ("no-such-id");
            fake_final (self, rid, other, "not yours");
            fake_error (self, rid, other, &config);
            llmq_buf_t garbage = { (char *) "garbage", 7, 7 };
            fake_send (self, rid, &garbage);
            break;
        }
        case FAKE_SILENT:
            break;
        case FAKE_STREAM_FOREVER:
            fake_partial (self, rid, id, 0, "first");
            break;
    }
}

static void *
fake_run (void *arg)
{
    fake_t *self = arg;
    zmq_msg_t rid, body;
    zmq_msg_init (&rid);
    zmq_msg_init (&body);
    while (!atomic_load (&self->stop)) {
        zmq_pollitem_t item = { self->router, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 20) <= 0)
            continue;
        if (zmq_msg_recv (&rid, self->router, 0) == -1 || !zmq_msg_more (&rid))
            continue;
        if (zmq_msg_recv (&body, self->router, 0) == -1)
            continue;
        llmq_cmd_t cmd;
        const void *data = zmq_msg_data (&body);
        size_t size = zmq_msg_size (&body);
        if (llmq_peek_command (data, size, &cmd) != LLMQ_DECODE_OK)
            continue;
        if (cmd == LLMQ_CMD_REQUEST)
            fake_on_request (self, &rid, data, size);
        else
        if (cmd == LLMQ_CMD_CANCEL)
            fake_on_cancel (self, data, size);
    }
    zmq_msg_close (&rid);
    zmq_msg_close (&body);
    return NULL;
}

static fake_t *
fake_start (fake_mode_t mode)
{
    fake_t *self = calloc (1, sizeof *self);
    cr_assert_not_null (self);
    self->config.mode = mode;
    self->context = zmq_ctx_new ();
    self->router = zmq_socket (self->context, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt (self->router, ZMQ_LINGER, &linger, sizeof linger);
    int handover = 1;
    zmq_setsockopt (self->router, ZMQ_ROUTER_HANDOVER, &handover, sizeof handover);
    cr_assert_eq (zmq_bind (self->router, "tcp://127.0.0.1:*"), 0);
    size_t size = sizeof self->endpoint;
    zmq_getsockopt (self->router, ZMQ_LAST_ENDPOINT, self->endpoint, &size);
    self->decoder = llmq_decoder_new ();
    llmq_buf_init (&self->last_request);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->changed, NULL);
    atomic_init (&self->stop, false);
    cr_assert_eq (pthread_create (&self->thread, NULL, fake_run, self), 0);
    return self;
}

static void
fake_stop (fake_t **self_p)
{
    fake_t *self = *self_p;
    atomic_store (&self->stop, true);
    pthread_join (self->thread, NULL);
    zmq_close (self->router);
    zmq_ctx_term (self->context);
    llmq_decoder_destroy (&self->decoder);
    llmq_buf_free (&self->last_request);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->changed);
    free (self);
    *self_p = NULL;
}

//  Waits until *counter (guarded by the lock) reaches n; false on timeout.
static bool
fake_wait (fake_t *self, const int *counter, int n, int timeout_ms)
{
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long) (timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock (&self->lock);
    int rc = 0;
    while (*counter < n && rc == 0)
        rc = pthread_cond_timedwait (&self->changed, &self->lock, &until);
    bool reached = *counter >= n;
    pthread_mutex_unlock (&self->lock);
    return reached;
}

static void
fake_configure (fake_t *self, fake_mode_t mode, uint32_t error_code,
                uint32_t retry_after_ms, uint32_t upstream_status)
{
    pthread_mutex_lock (&self->lock);
    self->config = (fake_config_t) { mode, error_code, retry_after_ms, upstream_status };
    pthread_mutex_unlock (&self->lock);
}

static int
fake_count (fake_t *self, const int *counter)
{
    pthread_mutex_lock (&self->lock);
    int n = *counter;
    pthread_mutex_unlock (&self->lock);
    return n;
}

/* ---- helpers ----------------------------------------------------------- */

static llmq_request_t *
s_request (const char *prompt)
{
    llmq_request_t *req = llmq_request_new ("mock");
    cr_assert_not_null (req);
    cr_assert_eq (llmq_request_add_message (req, "user", prompt), LLMQ_OK);
    return req;
}

//  Chunks a streaming call received, concatenated.
typedef struct {
    char text [256];                //  All chunks
    int chunks;                     //  How many calls
    int stop_after;                 //  Return non-zero at this chunk (0 = never)
} s_chunks_t;

static int
s_on_chunk (void *user, const char *text, size_t len)
{
    s_chunks_t *chunks = user;
    size_t used = strlen (chunks->text);
    snprintf (chunks->text + used, sizeof chunks->text - used, "%.*s", (int) len, text);
    chunks->chunks++;
    return chunks->stop_after && chunks->chunks >= chunks->stop_after;
}

//  Outcome of an asynchronous request (both callbacks get this one
//  user pointer).
typedef struct {
    int done;                       //  on_done calls
    llmq_response_t *resp;          //  The last response
    int index;                      //  Which request (several in flight)
    s_chunks_t chunks;              //  What s_on_done_chunk received
} s_done_t;

static int
s_on_done_chunk (void *user, const char *text, size_t len)
{
    s_done_t *done = user;
    return s_on_chunk (&done->chunks, text, len);
}

static void
s_on_done (void *user, llmq_response_t *resp)
{
    s_done_t *done = user;
    done->done++;
    llmq_response_destroy (&done->resp);
    done->resp = resp;
}

//  Processes until done->done reaches n or timeout_ms passes.
static void
s_process_until (llmq_client_t *client, const int *done, int n, int timeout_ms)
{
    uint64_t until = llmq_now_us () + (uint64_t) timeout_ms * 1000;
    while (*done < n && llmq_now_us () < until)
        cr_assert_geq (llmq_process (client, 50), 0);
}

/* ---- results ----------------------------------------------------------- */

Test (client, strerror_and_name_for_every_code)
{
    static const llmq_result_t codes [] = {
        LLMQ_OK, LLMQ_E_BAD_REQUEST, LLMQ_E_UNSUPPORTED, LLMQ_E_TOO_LARGE, LLMQ_E_NO_WORKER,
        LLMQ_E_OVERLOADED, LLMQ_E_RATE_LIMITED, LLMQ_E_TIMEOUT, LLMQ_E_CANCELLED,
        LLMQ_E_BACKEND, LLMQ_E_SHUTTING_DOWN, LLMQ_E_INTERNAL, LLMQ_E_FORBIDDEN,
        LLMQ_E_NOT_CACHED, LLMQ_E_WORKER_LOST, LLMQ_E_INVALID, LLMQ_E_NOMEM,
        LLMQ_E_CONNECT, LLMQ_E_PROTOCOL, LLMQ_E_UNKNOWN_ID
    };
    size_t n = sizeof codes / sizeof codes [0];
    for (size_t i = 0; i < n; i++) {
        const char *text = llmq_strerror (codes [i]);
        const char *name = llmq_result_name (codes [i]);
        cr_assert (text && *text && strcmp (text, "unknown error"), "code %d", codes [i]);
        cr_assert (name && *name && strcmp (name, "unknown"), "code %d", codes [i]);
        for (size_t j = 0; j < i; j++) {
            cr_assert_str_neq (text, llmq_strerror (codes [j]));
            cr_assert_str_neq (name, llmq_result_name (codes [j]));
        }
    }
    //  Protocol errors carry the wire's names.
    cr_assert_str_eq (llmq_result_name (LLMQ_E_TIMEOUT), llmq_errcode_name (LLMQ_ERR_TIMEOUT));
    cr_assert_str_eq (llmq_result_name (LLMQ_E_NO_WORKER), llmq_errcode_name (LLMQ_ERR_NO_WORKER));
    cr_assert_str_eq (llmq_result_name (LLMQ_OK), "ok");
    cr_assert_str_eq (llmq_result_name (LLMQ_E_UNKNOWN_ID), "unknown_id");
    cr_assert_str_eq (llmq_strerror ((llmq_result_t) 77), "unknown error");
    cr_assert_str_eq (llmq_result_name ((llmq_result_t) 77), "unknown");
}

/* ---- building and validating requests --------------------------------- */

Test (client, request_setters_check_their_arguments)
{
    llmq_request_t *req = llmq_request_new ("mock");
    cr_assert_eq (llmq_request_add_message (req, "", "x"), LLMQ_E_INVALID);
    cr_assert_eq (llmq_request_add_message (req, "user", NULL), LLMQ_E_INVALID);
    cr_assert_eq (llmq_request_add_message (req, "user", ""), LLMQ_OK);
    cr_assert_eq (llmq_request_set_priority (req, 4), LLMQ_OK);
    cr_assert_eq (llmq_request_set_priority (req, 5), LLMQ_E_INVALID);
    cr_assert_eq (llmq_request_set_cache (req, "only-if-cached"), LLMQ_OK);
    cr_assert_eq (llmq_request_set_cache (req, "sometimes"), LLMQ_E_INVALID);
    cr_assert_eq (llmq_request_set_tenant (req, ""), LLMQ_E_INVALID);
    cr_assert_eq (llmq_request_set_tenant (req, "team-a"), LLMQ_OK);
    cr_assert_eq (llmq_request_set_id (req, ""), LLMQ_E_INVALID);
    char id [LLMQ_MAX_ID + 2];
    memset (id, 'x', sizeof id - 1);
    id [LLMQ_MAX_ID + 1] = 0;
    cr_assert_eq (llmq_request_set_id (req, id), LLMQ_E_INVALID);
    id [LLMQ_MAX_ID] = 0;
    cr_assert_eq (llmq_request_set_id (req, id), LLMQ_OK);
    cr_assert_str_eq (llmq_request_id (req), id);
    for (int i = 0; i < LLMQ_MAX_STOP; i++)
        cr_assert_eq (llmq_request_add_stop (req, "END"), LLMQ_OK);
    cr_assert_eq (llmq_request_add_stop (req, "END"), LLMQ_E_TOO_LARGE);
    llmq_request_destroy (&req);
    cr_assert_null (req);
    llmq_request_destroy (&req);        //  harmless twice
}

Test (client, submit_refuses_invalid_requests_before_sending)
{
    //  Nothing listens there: validation must fail before any send.
    llmq_client_t *client = llmq_client_new ("tcp://127.0.0.1:1");
    cr_assert_not_null (client);
    s_done_t done = { 0 };
    llmq_request_t *req = llmq_request_new ("mock");
    cr_assert_eq (llmq_submit (client, req, NULL, s_on_done, &done, NULL), LLMQ_E_INVALID,
                  "no messages");
    llmq_request_add_message (req, "user", "hi");
    llmq_request_set_temperature (req, 2.5);
    cr_assert_eq (llmq_submit (client, req, NULL, s_on_done, &done, NULL), LLMQ_E_INVALID);
    llmq_request_set_temperature (req, 0.5);
    llmq_request_set_top_p (req, 0);
    cr_assert_eq (llmq_submit (client, req, NULL, s_on_done, &done, NULL), LLMQ_E_INVALID);
    llmq_request_destroy (&req);
    req = llmq_request_new ("");
    llmq_request_add_message (req, "user", "hi");
    cr_assert_eq (llmq_submit (client, req, NULL, s_on_done, &done, NULL), LLMQ_E_INVALID,
                  "empty model");
    cr_assert_eq (llmq_submit (NULL, req, NULL, s_on_done, &done, NULL), LLMQ_E_INVALID);
    cr_assert_eq (llmq_submit (client, NULL, NULL, s_on_done, &done, NULL), LLMQ_E_INVALID);
    cr_assert_eq (llmq_pending (client), 0);
    cr_assert_eq (llmq_next_timeout_ms (client), -1);
    cr_assert_eq (llmq_process (client, 0), 0);
    cr_assert_eq (done.done, 0);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    cr_assert_null (client);
    cr_assert_null (llmq_client_new (NULL));
    cr_assert_null (llmq_client_new ("not an endpoint"));
}

Test (client, large_requests_are_refused_or_sent_whole)
{
    fake_t *fake = fake_start (FAKE_FINAL);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    llmq_request_t *req = llmq_request_new ("mock");
    //  Messages of 3 MiB: each is under the string limit, three are over
    //  the 8 MiB frame limit, which the client checks before sending.
    size_t size = 3u << 20;
    char *big = malloc (size + 1);
    memset (big, 'a', size);
    big [size] = 0;
    cr_assert_eq (llmq_request_add_message (req, "user", big), LLMQ_OK);
    //  One is fine.
    llmq_response_t *resp = NULL;
    cr_assert_eq (llmq_chat (client, req, 5000, &resp), LLMQ_OK);
    llmq_response_destroy (&resp);
    cr_assert_eq (llmq_request_add_message (req, "assistant", big), LLMQ_OK);
    cr_assert_eq (llmq_request_add_message (req, "user", big), LLMQ_OK);
    cr_assert_eq (llmq_chat (client, req, 5000, &resp), LLMQ_E_TOO_LARGE);
    cr_assert_null (resp);
    cr_assert_eq (llmq_pending (client), 0);
    free (big);
    big = malloc (LLMQ_MAX_STRING + 2);
    memset (big, 'a', LLMQ_MAX_STRING + 1);
    big [LLMQ_MAX_STRING + 1] = 0;
    cr_assert_eq (llmq_request_add_message (req, "user", big), LLMQ_E_TOO_LARGE);
    free (big);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

Test (client, request_fields_reach_the_broker)
{
    fake_t *fake = fake_start (FAKE_FINAL);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    llmq_request_t *req = llmq_request_new ("gpt-test");
    llmq_request_add_message (req, "system", "be brief");
    llmq_request_add_message (req, "user", "hello");
    llmq_request_set_max_tokens (req, 42);
    llmq_request_set_temperature (req, 0.25);
    llmq_request_set_top_p (req, 0.5);
    llmq_request_set_seed (req, -7);
    llmq_request_add_stop (req, "\n\n");
    llmq_request_set_priority (req, LLMQ_PRIO_HIGH);
    llmq_request_set_timeout (req, 1234);
    llmq_request_set_cache (req, "bypass");
    llmq_request_set_tenant (req, "team-a");
    llmq_request_set_id (req, "my-id-1");
    llmq_response_t *resp = NULL;
    cr_assert_eq (llmq_chat (client, req, 5000, &resp), LLMQ_OK);
    cr_assert_str_eq (llmq_response_id (resp), "my-id-1");

    pthread_mutex_lock (&fake->lock);
    llmq_decoder_t *decoder = llmq_decoder_new ();
    llmq_wire_request_t wire;
    cr_assert_eq (llmq_decode_request (decoder, fake->last_request.data,
                                       fake->last_request.size, &wire), LLMQ_DECODE_OK);
    cr_assert (llmq_str_eq (wire.id, "my-id-1"));
    cr_assert (llmq_str_eq (wire.model, "gpt-test"));
    cr_assert_eq (wire.n_messages, 2);
    cr_assert (llmq_str_eq (wire.messages [0].role, "system"));
    cr_assert (llmq_str_eq (wire.messages [0].content, "be brief"));
    cr_assert (llmq_str_eq (wire.messages [1].role, "user"));
    cr_assert (llmq_str_eq (wire.messages [1].content, "hello"));
    cr_assert (wire.has_max_tokens && wire.max_tokens == 42);
    cr_assert (wire.has_temperature && wire.temperature == 0.25);
    cr_assert (wire.has_top_p && wire.top_p == 0.5);
    cr_assert (wire.has_seed && wire.seed == -7);
    cr_assert_eq (wire.n_stop, 1);
    cr_assert (llmq_str_eq (wire.stop [0], "\n\n"));
    cr_assert_eq (wire.priority, LLMQ_PRIO_HIGH);
    cr_assert_eq (wire.timeout_ms, 1234);
    cr_assert_eq (wire.cache, LLMQ_CACHE_BYPASS);
    cr_assert (llmq_str_eq (wire.tenant, "team-a"));
    cr_assert_not (wire.stream, "llmq_chat does not ask for a stream");
    llmq_decoder_destroy (&decoder);
    pthread_mutex_unlock (&fake->lock);

    llmq_response_destroy (&resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

Test (client, ids_are_generated_and_fresh_on_reuse)
{
    fake_t *fake = fake_start (FAKE_FINAL);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    llmq_request_t *req = s_request ("hi");
    cr_assert_null (llmq_request_id (req), "no id before the first send");
    cr_assert_eq (llmq_chat (client, req, 5000, NULL), LLMQ_OK);
    char first [LLMQ_MAX_ID + 1];
    snprintf (first, sizeof first, "%s", llmq_request_id (req));
    cr_assert_geq (strlen (first), 16);
    for (const char *c = first; *c; c++)
        cr_assert (strchr ("0123456789abcdef", *c), "hex id: %s", first);
    cr_assert_eq (llmq_chat (client, req, 5000, NULL), LLMQ_OK);
    cr_assert_str_neq (llmq_request_id (req), first, "reuse gets a fresh id");
    //  A caller-set id is used once, then the object generates again.
    llmq_request_set_id (req, "chosen");
    cr_assert_eq (llmq_chat (client, req, 5000, NULL), LLMQ_OK);
    cr_assert_str_eq (llmq_request_id (req), "chosen");
    cr_assert_eq (llmq_chat (client, req, 5000, NULL), LLMQ_OK);
    cr_assert_str_neq (llmq_request_id (req), "chosen");
    cr_assert_eq (fake_count (fake, &fake->requests), 4);
    pthread_mutex_lock (&fake->lock);
    cr_assert_str_eq (fake->ids [0], first);
    cr_assert_str_eq (fake->ids [2], "chosen");
    pthread_mutex_unlock (&fake->lock);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

/* ---- answers ----------------------------------------------------------- */

Test (client, chat_returns_the_final_with_every_field)
{
    fake_t *fake = fake_start (FAKE_FINAL);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    llmq_request_t *req = s_request ("hello there");
    llmq_response_t *resp = NULL;
    cr_assert_eq (llmq_chat (client, req, 5000, &resp), LLMQ_OK);
    cr_assert_not_null (resp);
    cr_assert_eq (llmq_response_result (resp), LLMQ_OK);
    cr_assert_str_eq (llmq_response_text (resp), "echo: hello there");
    cr_assert_str_eq (llmq_response_id (resp), llmq_request_id (req));
    cr_assert_str_eq (llmq_response_model (resp), "fake-model");
    cr_assert_str_eq (llmq_response_finish_reason (resp), "stop");
    cr_assert_str_eq (llmq_response_worker (resp), "fake-w1");
    cr_assert_str_eq (llmq_response_error_message (resp), "");
    cr_assert_eq (llmq_response_prompt_tokens (resp), 3);
    cr_assert_eq (llmq_response_completion_tokens (resp), 5);
    cr_assert (llmq_response_cached (resp));
    cr_assert_eq (llmq_response_attempts (resp), 2);
    cr_assert_eq (llmq_response_queued_us (resp), 11);
    cr_assert_eq (llmq_response_ttft_us (resp), 22);
    cr_assert_eq (llmq_response_backend_us (resp), 33);
    cr_assert_eq (llmq_response_total_us (resp), 44);
    cr_assert_eq (llmq_response_broker_us (resp), 55);
    cr_assert_eq (llmq_response_retry_after_ms (resp), 0);
    cr_assert_eq (llmq_response_upstream_status (resp), 0);

    const char *text = llmq_response_json (resp);
    cr_assert_null (strchr (text, '\n'), "one line");
    json_error_t error;
    json_t *json = json_loads (text, 0, &error);
    cr_assert_not_null (json, "valid JSON: %s", text);
    cr_assert_str_eq (json_string_value (json_object_get (json, "text")), "echo: hello there");
    cr_assert_str_eq (json_string_value (json_object_get (json, "finish_reason")), "stop");
    cr_assert (json_is_true (json_object_get (json, "cached")));
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (json, "usage"),
                                                       "completion_tokens")), 5);
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (json, "timings"),
                                                       "broker_us")), 55);
    json_decref (json);
    cr_assert_eq (llmq_response_json (resp), text, "built once, then kept");

    llmq_response_destroy (&resp);
    cr_assert_null (resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

Test (client, chat_stream_calls_back_per_chunk)
{
    fake_t *fake = fake_start (FAKE_STREAM);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    llmq_request_t *req = s_request ("hi");
    s_chunks_t chunks = { "", 0, 0 };
    llmq_response_t *resp = NULL;
    cr_assert_eq (llmq_chat_stream (client, req, 5000, s_on_chunk, &chunks, &resp), LLMQ_OK);
    cr_assert_eq (chunks.chunks, 3);
    cr_assert_str_eq (chunks.text, "Hello world");
    cr_assert_str_eq (llmq_response_text (resp), "Hello world");
    //  The request asked for a stream.
    pthread_mutex_lock (&fake->lock);
    llmq_decoder_t *decoder = llmq_decoder_new ();
    llmq_wire_request_t wire;
    cr_assert_eq (llmq_decode_request (decoder, fake->last_request.data,
                                       fake->last_request.size, &wire), LLMQ_DECODE_OK);
    cr_assert (wire.stream);
    llmq_decoder_destroy (&decoder);
    pthread_mutex_unlock (&fake->lock);
    llmq_response_destroy (&resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

Test (client, streamed_text_fills_a_final_without_text)
{
    fake_t *fake = fake_start (FAKE_STREAM_NO_TEXT);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    llmq_request_t *req = s_request ("hi");
    s_chunks_t chunks = { "", 0, 0 };
    llmq_response_t *resp = NULL;
    cr_assert_eq (llmq_chat_stream (client, req, 5000, s_on_chunk, &chunks, &resp), LLMQ_OK);
    cr_assert_str_eq (llmq_response_text (resp), "Hello world");
    llmq_response_destroy (&resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

Test (client, broker_errors_map_to_results)
{
    fake_t *fake = fake_start (FAKE_ERROR);
    fake_configure (fake, FAKE_ERROR, LLMQ_ERR_OVERLOADED, 1234, 0);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    llmq_request_t *req = s_request ("hi");
    llmq_response_t *resp = NULL;
    cr_assert_eq (llmq_chat (client, req, 5000, &resp), LLMQ_E_OVERLOADED);
    cr_assert_eq (llmq_response_result (resp), LLMQ_E_OVERLOADED);
    cr_assert_str_eq (llmq_response_error_message (resp), "fake says no");
    cr_assert_eq (llmq_response_retry_after_ms (resp), 1234);
    cr_assert_str_eq (llmq_response_text (resp), "");
    json_t *json = json_loads (llmq_response_json (resp), 0, NULL);
    cr_assert_eq (json_integer_value (json_object_get (json, "code")), LLMQ_ERR_OVERLOADED);
    json_decref (json);
    llmq_response_destroy (&resp);

    fake_configure (fake, FAKE_ERROR, LLMQ_ERR_BACKEND, 0, 500);
    cr_assert_eq (llmq_chat (client, req, 5000, &resp), LLMQ_E_BACKEND);
    cr_assert_eq (llmq_response_upstream_status (resp), 500);
    llmq_response_destroy (&resp);

    fake_configure (fake, FAKE_ERROR, 99, 0, 0);    //  from a newer broker
    cr_assert_eq (llmq_chat (client, req, 5000, &resp), LLMQ_E_PROTOCOL);
    cr_assert_str_eq (llmq_response_error_message (resp), "fake says no");
    llmq_response_destroy (&resp);

    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

/* ---- reliability ------------------------------------------------------- */

Test (client, silence_resends_the_same_id)
{
    fake_t *fake = fake_start (FAKE_IGNORE_FIRST);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    cr_assert_eq (llmq_client_set_resend (client, 100, 3), LLMQ_OK);
    llmq_request_t *req = s_request ("again");
    llmq_response_t *resp = NULL;
    uint64_t start = llmq_now_us ();
    cr_assert_eq (llmq_chat (client, req, 5000, &resp), LLMQ_OK);
    uint64_t elapsed_ms = (llmq_now_us () - start) / 1000;
    cr_assert_geq (elapsed_ms, 90, "answered only after a resend (%llu ms)",
                   (unsigned long long) elapsed_ms);
    cr_assert_str_eq (llmq_response_text (resp), "echo: again");
    cr_assert_eq (fake_count (fake, &fake->requests), 2);
    pthread_mutex_lock (&fake->lock);
    cr_assert_str_eq (fake->ids [0], fake->ids [1]);
    cr_assert_str_eq (fake->ids [0], llmq_request_id (req));
    pthread_mutex_unlock (&fake->lock);
    llmq_response_destroy (&resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

Test (client, duplicates_and_noise_are_ignored)
{
    fake_t *fake = fake_start (FAKE_DUPLICATES);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    llmq_request_t *req = s_request ("hi");
    s_done_t done = { 0 };
    //  Asynchronously, so the duplicates have time to arrive and be
    //  ignored while the client keeps processing.
    char id [LLMQ_MAX_ID + 1];
    cr_assert_eq (llmq_submit (client, req, s_on_done_chunk, s_on_done, &done, id), LLMQ_OK);
    s_process_until (client, &done.done, 1, 5000);
    cr_assert_eq (done.done, 1);
    cr_assert_str_eq (llmq_response_text (done.resp), "ab");
    //  A second request on the same client completes normally: the noise
    //  about the first one (and about no-such-id) changed nothing.
    s_done_t second = { 0 };
    fake_configure (fake, FAKE_FINAL, 0, 0, 0);
    cr_assert_eq (llmq_submit (client, req, NULL, s_on_done, &second, NULL), LLMQ_OK);
    s_process_until (client, &second.done, 1, 5000);
    cr_assert_eq (second.done, 1);
    cr_assert_eq (llmq_process (client, 0), 0);
    cr_assert_eq (done.done, 1, "the duplicate FINAL did not complete it again");
    cr_assert_eq (done.chunks.chunks, 2);
    cr_assert_str_eq (done.chunks.text, "ab");
    cr_assert_eq (llmq_pending (client), 0);
    llmq_response_destroy (&done.resp);
    llmq_response_destroy (&second.resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

Test (client, no_answer_times_out_locally_after_bounded_resends)
{
    fake_t *fake = fake_start (FAKE_SILENT);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    cr_assert_eq (llmq_client_set_resend (client, 50, 2), LLMQ_OK);
    llmq_request_t *req = s_request ("anyone?");
    llmq_request_set_timeout (req, 300);
    llmq_response_t *resp = NULL;
    uint64_t start = llmq_now_us ();
    cr_assert_eq (llmq_chat (client, req, 0, &resp), LLMQ_E_TIMEOUT);
    uint64_t elapsed_ms = (llmq_now_us () - start) / 1000;
    cr_assert_geq (elapsed_ms, 300);
    cr_assert_lt (elapsed_ms, 3000);
    cr_assert_not_null (resp, "a local timeout still has a response");
    cr_assert_eq (llmq_response_result (resp), LLMQ_E_TIMEOUT);
    cr_assert_str_eq (llmq_response_id (resp), llmq_request_id (req));
    //  The first send and exactly two resends; then a CANCEL.
    cr_assert (fake_wait (fake, &fake->cancels, 1, 2000));
    cr_assert_eq (fake_count (fake, &fake->requests), 3);
    pthread_mutex_lock (&fake->lock);
    cr_assert_str_eq (fake->ids [2], fake->ids [0]);
    cr_assert_str_eq (fake->cancel_ids [0], fake->ids [0]);
    pthread_mutex_unlock (&fake->lock);
    cr_assert_eq (llmq_pending (client), 0);
    llmq_response_destroy (&resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

Test (client, chat_wait_limit_abandons_the_request)
{
    fake_t *fake = fake_start (FAKE_SILENT);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    llmq_request_t *req = s_request ("anyone?");
    llmq_response_t *resp = (llmq_response_t *) 1;
    uint64_t start = llmq_now_us ();
    cr_assert_eq (llmq_chat (client, req, 150, &resp), LLMQ_E_TIMEOUT);
    cr_assert_lt ((llmq_now_us () - start) / 1000, 2000);
    cr_assert_null (resp);
    cr_assert_eq (llmq_pending (client), 0);
    cr_assert (fake_wait (fake, &fake->cancels, 1, 2000), "the broker is told");
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

Test (client, next_timeout_follows_the_resend_timer)
{
    fake_t *fake = fake_start (FAKE_SILENT);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    cr_assert_eq (llmq_next_timeout_ms (client), -1);
    cr_assert_eq (llmq_client_set_resend (client, 0, 1), LLMQ_E_INVALID);
    cr_assert_eq (llmq_client_set_resend (client, 400, 1), LLMQ_OK);
    llmq_request_t *req = s_request ("hi");
    s_done_t done = { 0 };
    cr_assert_eq (llmq_submit (client, req, NULL, s_on_done, &done, NULL), LLMQ_OK);
    int next = llmq_next_timeout_ms (client);
    cr_assert (next > 0 && next <= 400, "next %d", next);
    cr_assert_geq (llmq_client_fd (client), 0);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
    cr_assert_eq (done.done, 0, "destroy calls no callback");
}

/* ---- cancel ------------------------------------------------------------ */

Test (client, cancel_sends_cancel_and_completes_later)
{
    fake_t *fake = fake_start (FAKE_STREAM_FOREVER);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    llmq_request_t *req = s_request ("long story");
    s_done_t done = { 0 };
    char id [LLMQ_MAX_ID + 1];
    cr_assert_eq (llmq_submit (client, req, s_on_done_chunk, s_on_done, &done, id), LLMQ_OK);
    s_process_until (client, &done.chunks.chunks, 1, 5000);
    cr_assert_str_eq (done.chunks.text, "first");
    cr_assert_eq (llmq_cancel (client, "not-an-id"), LLMQ_E_UNKNOWN_ID);
    cr_assert_eq (llmq_cancel (client, id), LLMQ_OK);
    cr_assert_eq (done.done, 0, "on_done waits for llmq_process");
    cr_assert_eq (llmq_pending (client), 1);
    cr_assert_eq (llmq_next_timeout_ms (client), 0);
    cr_assert_eq (llmq_process (client, 0), 1);
    cr_assert_eq (done.done, 1);
    cr_assert_eq (llmq_response_result (done.resp), LLMQ_E_CANCELLED);
    cr_assert_str_eq (llmq_response_id (done.resp), id);
    cr_assert_eq (llmq_cancel (client, id), LLMQ_E_UNKNOWN_ID, "already completed");
    cr_assert (fake_wait (fake, &fake->cancels, 1, 2000));
    pthread_mutex_lock (&fake->lock);
    cr_assert_str_eq (fake->cancel_ids [0], id);
    pthread_mutex_unlock (&fake->lock);
    llmq_response_destroy (&done.resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

Test (client, chunk_callback_can_cancel)
{
    fake_t *fake = fake_start (FAKE_STREAM_FOREVER);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    llmq_request_t *req = s_request ("long story");
    s_chunks_t chunks = { "", 0, 1 };
    llmq_response_t *resp = NULL;
    cr_assert_eq (llmq_chat_stream (client, req, 5000, s_on_chunk, &chunks, &resp),
                  LLMQ_E_CANCELLED);
    cr_assert_eq (llmq_response_result (resp), LLMQ_E_CANCELLED);
    cr_assert (fake_wait (fake, &fake->cancels, 1, 2000));
    pthread_mutex_lock (&fake->lock);
    cr_assert_str_eq (fake->cancel_ids [0], llmq_request_id (req));
    pthread_mutex_unlock (&fake->lock);
    llmq_response_destroy (&resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

/* ---- asynchronous use -------------------------------------------------- */

Test (client, many_requests_in_flight_each_get_their_answer)
{
    enum { N = 50 };
    fake_t *fake = fake_start (FAKE_FINAL);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    llmq_request_t *req = llmq_request_new ("mock");
    s_done_t done [N];
    memset (done, 0, sizeof done);
    for (int i = 0; i < N; i++) {
        char prompt [32];
        snprintf (prompt, sizeof prompt, "prompt %d", i);
        llmq_request_clear_messages (req);
        llmq_request_add_message (req, "user", prompt);
        done [i].index = i;
        cr_assert_eq (llmq_submit (client, req, NULL, s_on_done, &done [i], NULL), LLMQ_OK);
        cr_assert_eq (done [i].done, 0, "never called from inside llmq_submit");
    }
    cr_assert_eq (llmq_pending (client), N);
    uint64_t until = llmq_now_us () + 5000000;
    while (llmq_pending (client) > 0 && llmq_now_us () < until)
        cr_assert_geq (llmq_process (client, -1), 0);
    cr_assert_eq (llmq_pending (client), 0);
    for (int i = 0; i < N; i++) {
        char expect [48];
        snprintf (expect, sizeof expect, "echo: prompt %d", i);
        cr_assert_eq (done [i].done, 1, "request %d", i);
        cr_assert_str_eq (llmq_response_text (done [i].resp), expect);
        llmq_response_destroy (&done [i].resp);
    }
    cr_assert_eq (llmq_process (client, -1), 0, "nothing pending: returns at once");
    cr_assert_eq (llmq_next_timeout_ms (client), -1);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

Test (client, fd_wakes_an_external_poll_loop)
{
    fake_t *fake = fake_start (FAKE_STREAM);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    int fd = llmq_client_fd (client);
    cr_assert_geq (fd, 0);
    llmq_request_t *req = s_request ("hi");
    s_done_t done = { 0 };
    cr_assert_eq (llmq_submit (client, req, s_on_done_chunk, s_on_done, &done, NULL), LLMQ_OK);
    //  The loop a service would write: process until nothing is left,
    //  then sleep in poll(2) on the fd. The poll timeout is long: if the
    //  fd did not wake us, the test would take seconds and fail below.
    uint64_t start = llmq_now_us ();
    while (!done.done && llmq_now_us () - start < 5000000) {
        while (llmq_process (client, 0) > 0)
            ;
        if (done.done)
            break;
        struct pollfd pfd = { fd, POLLIN, 0 };
        cr_assert_geq (poll (&pfd, 1, 3000), 0);
    }
    cr_assert_eq (done.done, 1);
    cr_assert_lt (llmq_now_us () - start, 2000000, "woken by the fd, not the poll timeout");
    cr_assert_str_eq (done.chunks.text, "Hello world");
    llmq_response_destroy (&done.resp);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

//  A closed loop: each completion submits the next request from on_done.
typedef struct {
    llmq_client_t *client;          //  Where to submit
    llmq_request_t *req;            //  What
    int completed;                  //  Answers so far
    int target;                     //  Answers wanted
    int failures;                   //  Non-OK results or submits
} s_loop_t;

static void
s_loop_done (void *user, llmq_response_t *resp)
{
    s_loop_t *loop = user;
    if (llmq_response_result (resp) != LLMQ_OK)
        loop->failures++;
    llmq_response_destroy (&resp);
    loop->completed++;
    if (loop->completed + (int) llmq_pending (loop->client) < loop->target
    &&  llmq_submit (loop->client, loop->req, NULL, s_loop_done, loop, NULL) != LLMQ_OK)
        loop->failures++;
}

Test (client, on_done_may_submit_the_next_request)
{
    fake_t *fake = fake_start (FAKE_FINAL);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    llmq_request_t *req = s_request ("loop");
    s_loop_t loop = { client, req, 0, 200, 0 };
    for (int i = 0; i < 4; i++)
        cr_assert_eq (llmq_submit (client, req, NULL, s_loop_done, &loop, NULL), LLMQ_OK);
    uint64_t until = llmq_now_us () + 10000000;
    while (llmq_pending (client) > 0 && llmq_now_us () < until)
        cr_assert_geq (llmq_process (client, -1), 0);
    cr_assert_eq (loop.completed, 200);
    cr_assert_eq (loop.failures, 0);
    cr_assert_eq (fake_count (fake, &fake->requests), 200);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    fake_stop (&fake);
}

Test (client, duplicate_pending_id_is_refused)
{
    fake_t *fake = fake_start (FAKE_SILENT);
    llmq_client_t *client = llmq_client_new (fake->endpoint);
    llmq_request_t *req = s_request ("hi");
    llmq_request_set_id (req, "same");
    s_done_t done = { 0 };
    cr_assert_eq (llmq_submit (client, req, NULL, s_on_done, &done, NULL), LLMQ_OK);
    cr_assert_eq (llmq_submit (client, req, NULL, s_on_done, &done, NULL), LLMQ_E_INVALID);
    cr_assert_eq (llmq_pending (client), 1);
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    //  Destroying with a pending request tells the broker.
    cr_assert (fake_wait (fake, &fake->cancels, 1, 2000));
    fake_stop (&fake);
}
