/*  worker.c -- llmq-worker's loop, broker session and slots; see worker.h.

    Slots: an array of `slots` entries, each holding one llmq_call_t, and a
    stack of free slot indexes, so taking and freeing a slot is O(1). The
    backend reports by llmq_call_t pointer, which is the slot's first
    member, so results find their slot in O(1) too. Only CANCEL looks a rid
    up, by a linear scan: cancels are rare, and slots are few.

    One loop turn (llmq_worker_step):
      1. poll the DEALER and the backend's fds, for at most the time until
         the next heartbeat, the broker's liveness deadline or the
         backend's next timer;
      2. let the backend act on its fds and timers (PARTIAL/FINAL/ERROR
         go out from its callbacks);
      3. drain the DEALER (ZMQ_DONTWAIT until EAGAIN): DISPATCH, CANCEL,
         HEARTBEAT, DISCONNECT;
      4. send a heartbeat if one is due; re-register if the broker has been
         silent too long.
    The backend runs before the DEALER is drained so that the fds it
    reported are acted on before a CANCEL or DISPATCH changes them.
*/
#include "worker.h"
#include "health.h"
#include "llmq_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define WHO "llmq-worker"
#define ROUTING_ID_SIZE 16
/*  Generous: a slow broker must not make us drop PARTIALs of a stream.   */
#define SEND_HWM 100000
#define STOP_LINGER_MS 500

typedef struct {
    llmq_call_t call;           /* first: the backend hands this back      */
    bool busy;                  /* a call is running                       */
    bool stream;                /* the request wants PARTIALs              */
    uint32_t seq;               /* next PARTIAL sequence number            */
    const char *served;         /* model name as the broker knows it       */
} slot_t;

struct llmq_worker {
    const llmq_worker_config_t *cfg;    /* settings (not owned)            */
    void *ctx;                  /* ZeroMQ context                          */
    void *dealer;               /* to the broker; NULL between sessions    */
    uint8_t routing_id [ROUTING_ID_SIZE];   /* kept across reconnects      */
    llmq_backend_t *backend;    /* runs the calls                          */
    slot_t *slots;              /* cfg->slots entries                      */
    uint32_t *free_ids;         /* stack of free slot indexes              */
    uint32_t n_free;            /* entries in free_ids                     */
    llmq_health_t *health;      /* figures for heartbeats                  */
    llmq_decoder_t *dec;        /* decodes broker messages                 */
    llmq_buf_t out;             /* encodes our messages                    */
    zmq_pollitem_t *items;      /* DEALER + backend fds                    */
    size_t items_alloc;         /* entries allocated in items              */
    bool awaiting_ack;          /* READY sent, broker not heard since      */
    uint32_t sessions;          /* connects so far                         */
    uint64_t broker_seen_us;    /* last message from the broker            */
    uint64_t next_heartbeat_us; /* when the next HEARTBEAT is due          */
    uint64_t dropped;           /* messages lost to a full send queue      */
    char models_csv [1024];     /* served names, for the log line          */
};

/* ---- sending ---------------------------------------------------------- */

/*  Sends self->out. A send never blocks the loop: when the queue is full
    (broker gone or very slow) the message is dropped and counted.         */
static void
s_send (llmq_worker_t *self)
{
    if (!self->dealer)
        return;
    if (zmq_send (self->dealer, self->out.data, self->out.size, ZMQ_DONTWAIT) == -1) {
        self->dropped++;
        if (self->cfg->verbose)
            llmq_log ('D', WHO, "send failed (%s); %llu dropped so far",
                      zmq_strerror (errno), (unsigned long long) self->dropped);
    }
}

static void
s_send_error (llmq_worker_t *self, uint64_t rid, uint32_t code, const char *message,
              const llmq_outcome_t *outcome)
{
    llmq_error_t error = {
        .has_rid = true, .rid = rid, .code = code, .message = llmq_str (message)
    };
    if (outcome && outcome->upstream_status) {
        error.has_upstream_status = true;
        error.upstream_status = outcome->upstream_status;
    }
    if (outcome && outcome->has_retry_after_ms) {
        error.has_retry_after_ms = true;
        error.retry_after_ms = outcome->retry_after_ms;
    }
    if (llmq_encode_error (&self->out, &error) == 0)
        s_send (self);
}

static void
s_send_heartbeat (llmq_worker_t *self, uint64_t now_us)
{
    uint32_t in_flight = self->cfg->slots - self->n_free;
    llmq_heartbeat_t hb = {
        .in_flight = in_flight,
        .free_slots = self->n_free,
        .draining = false
    };
    llmq_health_fill (self->health, now_us, &hb);
    if (llmq_encode_heartbeat (&self->out, &hb) == 0)
        s_send (self);
    self->next_heartbeat_us = now_us + self->cfg->heartbeat_ms * 1000ull;
}

static int
s_send_ready (llmq_worker_t *self)
{
    llmq_ready_t ready = {
        .worker_id = llmq_str (self->cfg->id),
        .n_models = self->cfg->n_models,
        .slots = self->cfg->slots,
        .version = llmq_str (LLMQ_VERSION_STRING)
    };
    for (uint32_t i = 0; i < self->cfg->n_models; i++)
        ready.models [i] = llmq_str (self->cfg->models [i].served);
    if (llmq_encode_ready (&self->out, &ready))
        return -1;
    s_send (self);
    return 0;
}

/* ---- slots ------------------------------------------------------------ */

static slot_t *
s_slot_find (llmq_worker_t *self, uint64_t rid)
{
    for (uint32_t i = 0; i < self->cfg->slots; i++)
        if (self->slots [i].busy && self->slots [i].call.rid == rid)
            return &self->slots [i];
    return NULL;
}

static slot_t *
s_slot_take (llmq_worker_t *self)
{
    if (self->n_free == 0)
        return NULL;
    slot_t *slot = &self->slots [self->free_ids [--self->n_free]];
    slot->busy = true;
    return slot;
}

static void
s_slot_free (llmq_worker_t *self, slot_t *slot)
{
    if (!slot->busy)
        return;                         /* a bug, but a harmless one */
    slot->busy = false;
    self->free_ids [self->n_free++] = (uint32_t) (slot - self->slots);
}

/*  Every call in flight is cancelled (no reply is sent).                  */
static uint32_t
s_cancel_all (llmq_worker_t *self)
{
    uint32_t cancelled = 0;
    for (uint32_t i = 0; i < self->cfg->slots; i++) {
        slot_t *slot = &self->slots [i];
        if (!slot->busy)
            continue;
        llmq_backend_cancel (self->backend, &slot->call);
        s_slot_free (self, slot);
        cancelled++;
    }
    return cancelled;
}

/* ---- backend results -------------------------------------------------- */

static void
s_on_partial (void *arg, llmq_call_t *call, const char *text, size_t len)
{
    llmq_worker_t *self = arg;
    slot_t *slot = (slot_t *) call;
    if (!slot->stream)
        return;
    llmq_partial_t partial = {
        .has_rid = true, .rid = call->rid, .seq = slot->seq++,
        .text = { text, (uint32_t) len }
    };
    if (llmq_encode_partial (&self->out, &partial) == 0)
        s_send (self);
}

/*  What a call's end says about the backend (health.h).                   */
static void
s_record_health (llmq_worker_t *self, const llmq_outcome_t *o, uint64_t now_us)
{
    llmq_health_result_t result;
    if (o->code == LLMQ_ERR_NONE)
        result = LLMQ_HEALTH_OK;
    else
    if (o->code == LLMQ_ERR_TIMEOUT)
        result = LLMQ_HEALTH_FAILED;
    else
    if (o->code != LLMQ_ERR_BACKEND)
        return;                         /* our own or the request's problem */
    else
    if (o->upstream_status == 429)
        result = LLMQ_HEALTH_THROTTLED;
    else
    if (o->upstream_status >= 400 && o->upstream_status < 500)
        result = LLMQ_HEALTH_REJECTED;
    else
        result = LLMQ_HEALTH_FAILED;
    llmq_health_record (self->health, result, o->ttft_us, o->backend_us, now_us);
}

static void
s_send_final (llmq_worker_t *self, slot_t *slot, const llmq_outcome_t *o)
{
    llmq_final_t final = {
        .has_rid = true,
        .rid = slot->call.rid,
        .model = llmq_str (slot->served),
        .text = { o->text, (uint32_t) o->text_len },
        .finish_reason = llmq_str (o->finish_reason),
        .usage = o->usage,
        .worker = llmq_str (self->cfg->id),
        .timings = { .ttft_us = o->ttft_us, .backend_us = o->backend_us }
    };
    if (llmq_encode_final (&self->out, &final) == 0)
        s_send (self);
    else
        s_send_error (self, slot->call.rid, LLMQ_ERR_INTERNAL, "could not encode the answer", NULL);
}

static void
s_on_done (void *arg, llmq_call_t *call, const llmq_outcome_t *outcome)
{
    llmq_worker_t *self = arg;
    slot_t *slot = (slot_t *) call;
    uint64_t now_us = llmq_now_us ();
    s_record_health (self, outcome, now_us);
    if (outcome->code == LLMQ_ERR_NONE)
        s_send_final (self, slot, outcome);
    else {
        if (self->cfg->verbose)
            llmq_log ('D', WHO, "rid=%llu failed: %s", (unsigned long long) call->rid,
                      outcome->message);
        s_send_error (self, call->rid, outcome->code, outcome->message, outcome);
    }
    s_slot_free (self, slot);
}

/* ---- broker messages -------------------------------------------------- */

static void
s_on_dispatch (llmq_worker_t *self, const void *frame, size_t size)
{
    llmq_dispatch_t d;
    memset (&d, 0, sizeof d);
    if (llmq_decode_dispatch (self->dec, frame, size, &d) != LLMQ_DECODE_OK) {
        llmq_log ('W', WHO, "bad DISPATCH: %s", llmq_decoder_error (self->dec));
        if (d.rid)                      /* the codec got that far: say so */
            s_send_error (self, d.rid, LLMQ_ERR_BAD_REQUEST, llmq_decoder_error (self->dec), NULL);
        return;
    }
    if (s_slot_find (self, d.rid)) {
        if (self->cfg->verbose)
            llmq_log ('D', WHO, "rid=%llu dispatched twice; ignored", (unsigned long long) d.rid);
        return;
    }
    const llmq_model_map_t *model = llmq_worker_config_find_model (self->cfg, d.req.model);
    if (!model) {
        s_send_error (self, d.rid, LLMQ_ERR_NO_WORKER, "model not served by this worker", NULL);
        return;
    }
    slot_t *slot = s_slot_take (self);
    if (!slot) {
        s_send_error (self, d.rid, LLMQ_ERR_OVERLOADED, "worker has no free slot", NULL);
        return;
    }
    uint64_t now_us = llmq_now_us ();
    uint32_t budget_ms = self->cfg->request_timeout_ms;
    if (d.deadline_ms > 0 && d.deadline_ms < budget_ms)
        budget_ms = d.deadline_ms;
    slot->served = model->served;
    slot->stream = d.req.stream;
    slot->seq = 0;
    slot->call = (llmq_call_t) {
        .rid = d.rid,
        .req = &d.req,
        .upstream_model = model->upstream,
        .start_us = now_us,
        .deadline_us = now_us + budget_ms * 1000ull
    };
    if (self->cfg->verbose)
        llmq_log ('D', WHO, "rid=%llu attempt=%u model=%s stream=%d budget=%ums",
                  (unsigned long long) d.rid, d.attempt, slot->served, (int) slot->stream,
                  budget_ms);
    llmq_backend_start (self->backend, &slot->call);
    /*  The slot may already be free again: the backend can answer at once. */
}

static void
s_on_cancel (llmq_worker_t *self, const void *frame, size_t size)
{
    llmq_cancel_t cancel;
    memset (&cancel, 0, sizeof cancel);
    if (llmq_decode_cancel (self->dec, frame, size, &cancel) != LLMQ_DECODE_OK
    ||  !cancel.has_rid) {
        llmq_log ('W', WHO, "bad CANCEL: %s", llmq_decoder_error (self->dec));
        return;
    }
    slot_t *slot = s_slot_find (self, cancel.rid);
    if (self->cfg->verbose)
        llmq_log ('D', WHO, "rid=%llu cancel%s", (unsigned long long) cancel.rid,
                  slot ? "" : " (not running)");
    if (!slot)
        return;                         /* already answered: nothing to do */
    llmq_backend_cancel (self->backend, &slot->call);
    s_slot_free (self, slot);
}

static void
s_on_error (llmq_worker_t *self, const void *frame, size_t size)
{
    llmq_error_t error;
    memset (&error, 0, sizeof error);
    if (llmq_decode_error (self->dec, frame, size, &error) != LLMQ_DECODE_OK) {
        llmq_log ('W', WHO, "bad ERROR from broker: %s", llmq_decoder_error (self->dec));
        return;
    }
    llmq_log ('W', WHO, "broker says %s: %.*s", llmq_errcode_name (error.code),
              (int) error.message.len, error.message.ptr ? error.message.ptr : "");
}

static void s_reconnect (llmq_worker_t *self, const char *why);

static void
s_on_message (llmq_worker_t *self, const void *frame, size_t size)
{
    llmq_cmd_t cmd;
    llmq_decode_result_t rc = llmq_peek_command (frame, size, &cmd);
    if (rc != LLMQ_DECODE_OK) {
        llmq_log ('W', WHO, "unreadable message from broker (%zu bytes, error %d)", size, (int) rc);
        return;
    }
    self->broker_seen_us = llmq_now_us ();
    if (cmd == LLMQ_CMD_DISCONNECT) {
        s_reconnect (self, "broker sent DISCONNECT");
        return;
    }
    if (self->awaiting_ack) {
        self->awaiting_ack = false;
        llmq_log ('I', WHO, "registered id=%s broker=%s models=%s slots=%u",
                  self->cfg->id, self->cfg->broker, self->models_csv, self->cfg->slots);
    }
    switch (cmd) {
        case LLMQ_CMD_HEARTBEAT:
            break;                      /* being heard is all it says */
        case LLMQ_CMD_DISPATCH:
            s_on_dispatch (self, frame, size);
            break;
        case LLMQ_CMD_CANCEL:
            s_on_cancel (self, frame, size);
            break;
        case LLMQ_CMD_ERROR:
            s_on_error (self, frame, size);
            break;
        default:
            llmq_log ('W', WHO, "unexpected command 0x%02x from broker", (unsigned) cmd);
    }
}

/*  Reads every message waiting on the DEALER.                             */
static void
s_drain (llmq_worker_t *self)
{
    void *dealer = self->dealer;
    while (self->dealer == dealer) {    /* a reconnect ends this socket */
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, dealer, ZMQ_DONTWAIT) == -1) {
            int err = errno;
            zmq_msg_close (&msg);
            if (err != EAGAIN && err != EINTR)
                llmq_log ('W', WHO, "receive failed: %s", zmq_strerror (err));
            return;
        }
        if (zmq_msg_more (&msg)) {      /* not ours: one frame per message */
            llmq_log ('W', WHO, "multi-frame message from broker ignored");
            while (zmq_msg_more (&msg) && zmq_msg_recv (&msg, dealer, ZMQ_DONTWAIT) != -1)
                ;
        }
        else
            s_on_message (self, zmq_msg_data (&msg), zmq_msg_size (&msg));
        zmq_msg_close (&msg);
    }
}

/* ---- session ---------------------------------------------------------- */

static void
s_close (llmq_worker_t *self)
{
    if (self->dealer) {
        zmq_close (self->dealer);
        self->dealer = NULL;
    }
}

static int
s_connect (llmq_worker_t *self)
{
    void *dealer = zmq_socket (self->ctx, ZMQ_DEALER);
    if (!dealer) {
        llmq_log ('E', WHO, "cannot create socket: %s", zmq_strerror (errno));
        return -1;
    }
    int linger = 0, hwm = SEND_HWM;
    int64_t max_msg = LLMQ_MAX_MSG_SIZE;
    zmq_setsockopt (dealer, ZMQ_ROUTING_ID, self->routing_id, ROUTING_ID_SIZE);
    zmq_setsockopt (dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (dealer, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg);
    if (zmq_connect (dealer, self->cfg->broker)) {
        llmq_log ('E', WHO, "cannot connect to %s: %s", self->cfg->broker, zmq_strerror (errno));
        zmq_close (dealer);
        return -1;
    }
    self->dealer = dealer;
    self->sessions++;
    uint64_t now_us = llmq_now_us ();
    self->broker_seen_us = now_us;
    self->awaiting_ack = true;
    if (s_send_ready (self)) {
        llmq_log ('E', WHO, "cannot encode READY");
        s_close (self);
        return -1;
    }
    self->next_heartbeat_us = now_us + self->cfg->heartbeat_ms * 1000ull;
    return 0;
}

/*  A fresh session: calls in flight are cancelled (see worker.h).         */
static void
s_reconnect (llmq_worker_t *self, const char *why)
{
    uint32_t cancelled = s_cancel_all (self);
    llmq_log ('W', WHO, "%s; re-registering with %s (%u call%s cancelled)", why,
              self->cfg->broker, cancelled, cancelled == 1 ? "" : "s");
    s_close (self);
    if (s_connect (self))
        llmq_log ('E', WHO, "re-registration failed; retrying next turn");
}

static void
s_tick (llmq_worker_t *self)
{
    uint64_t now_us = llmq_now_us ();
    if (self->dealer && now_us >= self->next_heartbeat_us)
        s_send_heartbeat (self, now_us);
    uint64_t silence_us = (uint64_t) self->cfg->liveness * self->cfg->heartbeat_ms * 1000ull;
    if (self->dealer && now_us - self->broker_seen_us > silence_us) {
        char why [96];
        snprintf (why, sizeof why, "broker silent for %llu ms",
                  (unsigned long long) (now_us - self->broker_seen_us) / 1000);
        s_reconnect (self, why);
    }
}

/* ---- loop ------------------------------------------------------------- */

/*  ms from now to when_us, rounded up, so we never wake just too early.   */
static long
s_ms_until (uint64_t when_us, uint64_t now_us)
{
    return when_us <= now_us ? 0 : (long) ((when_us - now_us + 999) / 1000);
}

static long
s_min_timeout (long a, long b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static long
s_poll_timeout (llmq_worker_t *self, long max_wait_ms)
{
    uint64_t now_us = llmq_now_us ();
    uint64_t silence_us = (uint64_t) self->cfg->liveness * self->cfg->heartbeat_ms * 1000ull;
    long timeout = max_wait_ms;
    timeout = s_min_timeout (timeout, s_ms_until (self->next_heartbeat_us, now_us));
    /*  Just past the liveness deadline: s_tick acts once it is exceeded.  */
    timeout = s_min_timeout (timeout, s_ms_until (self->broker_seen_us + silence_us + 1000, now_us));
    timeout = s_min_timeout (timeout, llmq_backend_timeout_ms (self->backend));
    return timeout;
}

/*  items [0] is the DEALER, the backend's fds follow. Grows the array
    when the backend has more fds than fit.                                */
static size_t
s_fill_items (llmq_worker_t *self)
{
    while (true) {
        size_t n = llmq_backend_fds (self->backend, self->items + 1, self->items_alloc - 1);
        if (n + 1 <= self->items_alloc) {
            self->items [0] = (zmq_pollitem_t) { .socket = self->dealer, .events = ZMQ_POLLIN };
            return n + 1;
        }
        size_t want = (n + 1) * 2;
        zmq_pollitem_t *grown = realloc (self->items, want * sizeof *grown);
        if (!grown)
            return 0;
        self->items = grown;
        self->items_alloc = want;
    }
}

int
llmq_worker_step (llmq_worker_t *self, long max_wait_ms)
{
    if (!self->dealer && s_connect (self))
        return -1;
    long timeout = s_poll_timeout (self, max_wait_ms);
    size_t n = s_fill_items (self);
    if (n == 0) {
        llmq_log ('E', WHO, "out of memory");
        return -1;
    }
    if (zmq_poll (self->items, (int) n, timeout) == -1) {
        if (errno == EINTR)
            return 0;                   /* a signal: let the caller look */
        llmq_log ('E', WHO, "poll failed: %s", zmq_strerror (errno));
        return -1;
    }
    llmq_backend_run (self->backend, self->items + 1, n - 1);
    if (self->items [0].revents & ZMQ_POLLIN)
        s_drain (self);
    s_tick (self);
    return 0;
}

int
llmq_worker_run (llmq_worker_t *self, volatile sig_atomic_t *stop)
{
    int rc = 0;
    while (!*stop && rc == 0)
        rc = llmq_worker_step (self, -1);
    llmq_worker_stop (self);
    return rc;
}

void
llmq_worker_stop (llmq_worker_t *self)
{
    uint32_t cancelled = s_cancel_all (self);
    if (!self->dealer)
        return;
    if (cancelled)
        llmq_log ('I', WHO, "stopping: %u call%s in flight cancelled", cancelled,
                  cancelled == 1 ? "" : "s");
    llmq_disconnect_t bye = { .reason = llmq_str ("worker stopping") };
    if (llmq_encode_disconnect (&self->out, &bye) == 0)
        s_send (self);
    /*  Linger a little, so DISCONNECT leaves before the socket goes.      */
    int linger = STOP_LINGER_MS;
    zmq_setsockopt (self->dealer, ZMQ_LINGER, &linger, sizeof linger);
    s_close (self);
}

bool
llmq_worker_registered (const llmq_worker_t *self)
{
    return self->dealer && !self->awaiting_ack;
}

uint32_t
llmq_worker_in_flight (const llmq_worker_t *self)
{
    return self->cfg->slots - self->n_free;
}

uint32_t
llmq_worker_sessions (const llmq_worker_t *self)
{
    return self->sessions;
}

/* ---- construction ----------------------------------------------------- */

/*  A random routing id, so a reconnecting worker keeps its identity at the
    broker (ROUTER_HANDOVER); ZeroMQ reserves ids starting with 0.         */
static void
s_make_routing_id (uint8_t *id)
{
    if (getrandom (id, ROUTING_ID_SIZE, 0) != ROUTING_ID_SIZE) {
        uint64_t seed = llmq_now_us () ^ ((uint64_t) getpid () << 32);
        for (size_t i = 0; i < ROUTING_ID_SIZE; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            id [i] = (uint8_t) (seed >> 56);
        }
    }
    if (id [0] == 0)
        id [0] = 1;
}

static llmq_backend_t *
s_make_backend (llmq_worker_t *self)
{
    const llmq_worker_config_t *cfg = self->cfg;
    llmq_backend_sink_t sink = { .arg = self, .partial = s_on_partial, .done = s_on_done };
    if (cfg->backend == LLMQ_WORKER_BACKEND_MOCK)
        return llmq_mock_backend_new (&cfg->mock, &sink);
    llmq_openai_config_t openai = {
        .url = cfg->url,
        .api_key = cfg->api_key,
        .max_connections = cfg->slots,
        .verbose = cfg->verbose
    };
    return llmq_openai_backend_new (&openai, &sink);
}

llmq_worker_t *
llmq_worker_new (const llmq_worker_config_t *config)
{
    llmq_worker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = config;
    llmq_buf_init (&self->out);
    s_make_routing_id (self->routing_id);
    llmq_worker_config_models_csv (config, self->models_csv, sizeof self->models_csv);
    self->ctx = zmq_ctx_new ();
    self->slots = calloc (config->slots, sizeof *self->slots);
    self->free_ids = calloc (config->slots, sizeof *self->free_ids);
    self->health = llmq_health_new ();
    self->dec = llmq_decoder_new ();
    self->items_alloc = 16;
    self->items = calloc (self->items_alloc, sizeof *self->items);
    self->backend = s_make_backend (self);
    if (!self->ctx || !self->slots || !self->free_ids || !self->health || !self->dec
    ||  !self->items || !self->backend || config->slots == 0 || config->n_models == 0) {
        llmq_log ('E', WHO, "cannot set up the worker%s", self->backend ? "" : " (backend)");
        llmq_worker_destroy (&self);
        return NULL;
    }
    /*  Slot 0 is taken first: the stack holds the indexes in reverse.     */
    for (uint32_t i = 0; i < config->slots; i++)
        self->free_ids [self->n_free++] = config->slots - 1 - i;
    return self;
}

void
llmq_worker_destroy (llmq_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    llmq_worker_t *self = *self_p;
    if (self->backend && self->slots)
        llmq_worker_stop (self);
    llmq_backend_destroy (&self->backend);
    s_close (self);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    llmq_decoder_destroy (&self->dec);
    llmq_health_destroy (&self->health);
    llmq_buf_free (&self->out);
    free (self->items);
    free (self->free_ids);
    free (self->slots);
    free (self);
    *self_p = NULL;
}
