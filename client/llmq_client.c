/*  llmq_client.c -- the client object: one DEALER socket to the broker,
    the pending requests, resends, deadlines and callbacks.

    Everything runs on the caller's thread inside llmq_submit,
    llmq_process and llmq_cancel; the library starts no thread of its own
    (ZeroMQ's I/O thread aside). The blocking calls, llmq_chat and
    llmq_chat_stream, are llmq_submit plus a llmq_process loop, so there
    is one code path for every way of asking.

    A pending request keeps its encoded REQUEST frame: a resend is the
    same bytes again, hence the same id, which the broker recognises as
    the same request. Each pending request has two timers: its resend
    time (pushed back by every message about it) and its deadline. Rather
    than keep a timer heap, the client remembers a lower bound of the
    earliest timer and scans all pending requests only when that bound
    has passed; messages only push timers later, so the bound stays true.
    With steady traffic that is one O(n) scan per resend interval.

    Completed requests wait in a FIFO until llmq_process calls their
    on_done; that keeps callbacks out of llmq_submit and llmq_cancel and
    out of the middle of a table scan. Pending entries are recycled
    through a free list with their frame buffers, so a client in a steady
    closed loop stops allocating for them after warm-up.
*/
#include "llmq_private.h"
#include "llmq_idmap.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define S_RESEND_MS         2000    //  default silence before a resend
#define S_MAX_RESENDS       3       //  default resends per request
#define S_RECONNECT_IVL_MS  100     //  so a restarted broker is found fast
#define S_HWM               10000   //  messages queued per direction
#define S_FREE_MAX          1024    //  recycled entries kept at most
#define S_CLOSE_LINGER_MS   100     //  time given to last CANCELs on close
#define S_KEEP_BUFFER       65536   //  larger buffers are not recycled

typedef struct s_pending_t s_pending_t;

struct s_pending_t {
    char id [LLMQ_MAX_ID + 1];      //  Request id, NUL-terminated
    size_t id_len;                  //  Its length
    llmq_buf_t frame;               //  The REQUEST frame, sent again as is
    uint64_t deadline_us;           //  Local deadline: timeout + margin
    uint64_t resend_at_us;          //  Next resend if silent; 0 = none
    uint32_t resends;               //  Resends done
    uint32_t next_seq;              //  PARTIAL seq expected next
    llmq_chunk_fn *on_chunk;        //  Per chunk; NULL = not streamed
    llmq_done_fn *on_done;          //  At completion; may be NULL
    void *user;                     //  Argument of both callbacks
    char *streamed;                 //  Chunks received so far
    size_t streamed_len;            //  Bytes in streamed
    size_t streamed_alloc;          //  Bytes allocated
    llmq_response_t *resp;          //  Outcome, while waiting for on_done
    s_pending_t *next;              //  Link: done queue or free list
};

struct llmq_client {
    void *context;                  //  Our own ZeroMQ context
    void *socket;                   //  DEALER to the broker
    llmqc_idmap_t *pending;         //  id -> s_pending_t, in flight
    s_pending_t *done_head;         //  Completed, on_done not yet called
    s_pending_t *done_tail;         //  Last of them
    size_t done_count;              //  How many
    s_pending_t *free_list;         //  Recycled entries
    size_t free_count;              //  How many
    llmq_decoder_t *decoder;        //  For everything we receive
    llmq_buf_t scratch;             //  For CANCEL frames
    uint32_t resend_ms;             //  Silence before a resend
    uint32_t max_resends;           //  Resends per request
    uint64_t next_timer_us;         //  No timer is due before this
    uint64_t rng [4];               //  xoshiro256** state, for ids
    bool cancelled_any;             //  A CANCEL went out (see destroy)
};

/* ---- random ids ------------------------------------------------------- */

static uint64_t
s_rotl (uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

//  xoshiro256**: fast, and plenty for ids that only need to be unique.
static uint64_t
s_random (llmq_client_t *self)
{
    uint64_t *s = self->rng;
    uint64_t result = s_rotl (s [1] * 5, 7) * 9;
    uint64_t t = s [1] << 17;
    s [2] ^= s [0];
    s [3] ^= s [1];
    s [1] ^= s [2];
    s [0] ^= s [3];
    s [2] ^= t;
    s [3] = s_rotl (s [3], 45);
    return result;
}

//  Seeds from the kernel; if that fails, from the clock, pid and an
//  address, stirred with splitmix64 (ids then stay unique in practice).
static void
s_random_seed (llmq_client_t *self)
{
    if (getrandom (self->rng, sizeof self->rng, 0) == (ssize_t) sizeof self->rng
    &&  (self->rng [0] | self->rng [1] | self->rng [2] | self->rng [3]))
        return;
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    uint64_t x = ((uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec)
               ^ ((uint64_t) getpid () << 32) ^ (uint64_t) (uintptr_t) self;
    for (int i = 0; i < 4; i++) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        self->rng [i] = z ^ (z >> 31);
    }
}

//  Writes LLMQC_ID_HEX random hex digits and a NUL to id.
static void
s_make_id (llmq_client_t *self, char *id)
{
    static const char hex [] = "0123456789abcdef";
    for (int i = 0; i < LLMQC_ID_HEX; i += 16) {
        uint64_t r = s_random (self);
        for (int j = 0; j < 16; j++, r >>= 4)
            id [i + j] = hex [r & 15];
    }
    id [LLMQC_ID_HEX] = 0;
}

/* ---- pending entries --------------------------------------------------- */

static s_pending_t *
s_entry_take (llmq_client_t *self)
{
    s_pending_t *entry = self->free_list;
    if (entry) {
        self->free_list = entry->next;
        self->free_count--;
    }
    else {
        entry = calloc (1, sizeof *entry);
        if (!entry)
            return NULL;
        llmq_buf_init (&entry->frame);
    }
    entry->resends = 0;
    entry->next_seq = 0;
    entry->streamed_len = 0;
    entry->resp = NULL;
    entry->next = NULL;
    return entry;
}

static void
s_entry_free (s_pending_t *entry)
{
    llmq_buf_free (&entry->frame);
    free (entry->streamed);
    free (entry);
}

//  Back to the free list (buffers kept) or freed when the list is full.
//  A buffer grown by an unusually large prompt or answer is let go, so
//  one big request does not pin memory in every recycled entry.
static void
s_entry_release (llmq_client_t *self, s_pending_t *entry)
{
    if (self->free_count >= S_FREE_MAX) {
        s_entry_free (entry);
        return;
    }
    if (entry->frame.alloc > S_KEEP_BUFFER)
        llmq_buf_free (&entry->frame);
    if (entry->streamed_alloc > S_KEEP_BUFFER) {
        free (entry->streamed);
        entry->streamed = NULL;
        entry->streamed_alloc = 0;
    }
    entry->next = self->free_list;
    self->free_list = entry;
    self->free_count++;
}

//  Appends a chunk to what the entry streamed so far; 0 or -1. Past the
//  protocol's string limit we stop keeping text (the FINAL's text is
//  the answer; this copy is only for a FINAL that carries none).
static int
s_entry_stream (s_pending_t *entry, llmq_str_t text)
{
    size_t need = entry->streamed_len + text.len;
    if (need > LLMQ_MAX_STRING)
        return 0;
    if (need + 1 > entry->streamed_alloc) {
        size_t alloc = entry->streamed_alloc? entry->streamed_alloc: 256;
        while (alloc < need + 1)
            alloc *= 2;
        char *streamed = realloc (entry->streamed, alloc);
        if (!streamed)
            return -1;
        entry->streamed = streamed;
        entry->streamed_alloc = alloc;
    }
    if (text.len)
        memcpy (entry->streamed + entry->streamed_len, text.ptr, text.len);
    entry->streamed_len = need;
    entry->streamed [need] = 0;
    return 0;
}

/* ---- sending ----------------------------------------------------------- */

//  Sends one frame without blocking; 0, or -1 with errno (EAGAIN when
//  the queue to the broker is full: the resend timer tries again).
static int
s_send (llmq_client_t *self, const void *data, size_t size)
{
    int rc;
    do
        rc = zmq_send (self->socket, data, size, ZMQ_DONTWAIT);
    while (rc == -1 && errno == EINTR);
    return rc == -1? -1: 0;
}

//  Tells the broker we no longer want the answer. Best effort: if it is
//  lost, the broker only finishes work nobody reads.
static void
s_send_cancel (llmq_client_t *self, const s_pending_t *entry)
{
    llmq_cancel_t cancel;
    memset (&cancel, 0, sizeof cancel);
    cancel.id = (llmq_str_t) { entry->id, (uint32_t) entry->id_len };
    if (llmq_encode_cancel (&self->scratch, &cancel) == 0
    &&  s_send (self, self->scratch.data, self->scratch.size) == 0)
        self->cancelled_any = true;
}

/* ---- completion -------------------------------------------------------- */

//  Takes the entry out of the table and queues it for its on_done with
//  resp (NULL only when even an error response could not be allocated).
static void
s_complete (llmq_client_t *self, s_pending_t *entry, llmq_response_t *resp)
{
    void *removed = llmqc_idmap_remove (self->pending, entry->id, entry->id_len);
    (void) removed;
    entry->resp = resp;
    entry->next = NULL;
    if (self->done_tail)
        self->done_tail->next = entry;
    else
        self->done_head = entry;
    self->done_tail = entry;
    self->done_count++;
}

//  Completes with a failure decided here: local timeout or cancel.
static void
s_fail (llmq_client_t *self, s_pending_t *entry, llmq_result_t rc, const char *message)
{
    s_complete (self, entry, llmqc_response_local (rc, entry->id, message));
}

//  Calls on_done for everything completed; returns how many. The entry
//  is recycled before its callback runs, so a callback that submits the
//  next request (a closed loop) reuses it at once.
static int
s_deliver (llmq_client_t *self)
{
    int delivered = 0;
    while (self->done_head) {
        s_pending_t *entry = self->done_head;
        self->done_head = entry->next;
        if (!self->done_head)
            self->done_tail = NULL;
        self->done_count--;
        llmq_done_fn *on_done = entry->on_done;
        void *user = entry->user;
        llmq_response_t *resp = entry->resp;
        s_entry_release (self, entry);
        if (on_done)
            on_done (user, resp);
        else
            llmq_response_destroy (&resp);
        delivered++;
    }
    return delivered;
}

/* ---- receiving --------------------------------------------------------- */

static s_pending_t *
s_lookup (llmq_client_t *self, llmq_str_t id)
{
    if (!id.ptr || id.len == 0)
        return NULL;
    return llmqc_idmap_lookup (self->pending, id.ptr, id.len);
}

//  Any message about a request shows the broker has it: no resend until
//  another interval of silence.
static void
s_touch (llmq_client_t *self, s_pending_t *entry, uint64_t now)
{
    if (entry->resend_at_us)
        entry->resend_at_us = now + (uint64_t) self->resend_ms * 1000;
}

static void
s_on_partial (llmq_client_t *self, const void *frame, size_t size, uint64_t now)
{
    llmq_partial_t partial;
    if (llmq_decode_partial (self->decoder, frame, size, &partial) != LLMQ_DECODE_OK)
        return;
    s_pending_t *entry = s_lookup (self, partial.id);
    if (!entry)
        return;                     //  completed already, or not ours
    s_touch (self, entry, now);
    //  After a resend the same chunks may come twice; seq tells.
    if (partial.seq < entry->next_seq)
        return;
    entry->next_seq = partial.seq + 1;
    if (!entry->on_chunk)
        return;                     //  not asked for; the FINAL has all
    if (s_entry_stream (entry, partial.text)) {
        s_send_cancel (self, entry);
        s_fail (self, entry, LLMQ_E_NOMEM, NULL);
        return;
    }
    if (entry->on_chunk (entry->user, partial.text.ptr? partial.text.ptr: "",
                         partial.text.len) == 0)
        return;
    //  The callback may have submitted (moving table slots) or cancelled
    //  this very request: find it again by id rather than trust entry.
    entry = s_lookup (self, partial.id);
    if (entry) {
        s_send_cancel (self, entry);
        s_fail (self, entry, LLMQ_E_CANCELLED, "cancelled by the chunk callback");
    }
}

static void
s_on_final (llmq_client_t *self, const void *frame, size_t size)
{
    llmq_final_t final;
    if (llmq_decode_final (self->decoder, frame, size, &final) != LLMQ_DECODE_OK)
        return;
    s_pending_t *entry = s_lookup (self, final.id);
    if (!entry)
        return;                     //  a duplicate, or not ours
    llmq_response_t *resp = llmqc_response_from_final (
        &final, frame, size, entry->streamed, entry->streamed_len);
    if (resp)
        s_complete (self, entry, resp);
    else
        s_fail (self, entry, LLMQ_E_NOMEM, NULL);
}

static void
s_on_error (llmq_client_t *self, const void *frame, size_t size)
{
    llmq_error_t error;
    if (llmq_decode_error (self->decoder, frame, size, &error) != LLMQ_DECODE_OK)
        return;
    //  An ERROR without an id answers a frame the broker could not read;
    //  ours are validated before sending, so there is nobody to tell.
    s_pending_t *entry = s_lookup (self, error.id);
    if (!entry)
        return;
    llmq_response_t *resp = llmqc_response_from_error (&error, frame, size);
    if (resp)
        s_complete (self, entry, resp);
    else
        s_fail (self, entry, LLMQ_E_NOMEM, NULL);
}

//  One received frame. Anything unreadable or unexpected is dropped: a
//  broker that sends garbage must not take the client down.
static void
s_handle (llmq_client_t *self, const void *frame, size_t size, uint64_t now)
{
    llmq_cmd_t cmd;
    if (llmq_peek_command (frame, size, &cmd) != LLMQ_DECODE_OK)
        return;
    if (cmd == LLMQ_CMD_PARTIAL)
        s_on_partial (self, frame, size, now);
    else
    if (cmd == LLMQ_CMD_FINAL)
        s_on_final (self, frame, size);
    else
    if (cmd == LLMQ_CMD_ERROR)
        s_on_error (self, frame, size);
}

//  Receives until the socket is empty: draining every wake-up costs far
//  less than one poll per message, and ZMQ_FD is edge-triggered.
static int
s_drain (llmq_client_t *self)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    int rc = 0;
    while (true) {
        if (zmq_msg_recv (&msg, self->socket, ZMQ_DONTWAIT) == -1) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                rc = -1;
            break;
        }
        s_handle (self, zmq_msg_data (&msg), zmq_msg_size (&msg), llmq_now_us ());
    }
    zmq_msg_close (&msg);
    return rc;
}

/* ---- timers ------------------------------------------------------------ */

static void
s_resend (llmq_client_t *self, s_pending_t *entry, uint64_t now)
{
    //  A full queue (EAGAIN) is not a resend; the next interval retries.
    if (s_send (self, entry->frame.data, entry->frame.size) == 0)
        entry->resends++;
    entry->resend_at_us = entry->resends < self->max_resends
                        ? now + (uint64_t) self->resend_ms * 1000: 0;
}

static void
s_run_timers (llmq_client_t *self, uint64_t now)
{
    if (now < self->next_timer_us)
        return;
    uint64_t next = UINT64_MAX;
    s_pending_t *expired = NULL;
    size_t capacity = llmqc_idmap_capacity (self->pending);
    for (size_t i = 0; i < capacity; i++) {
        s_pending_t *entry = llmqc_idmap_at (self->pending, i);
        if (!entry)
            continue;
        if (now >= entry->deadline_us) {
            entry->next = expired;  //  complete after the scan: removing
            expired = entry;        //  would move slots under our feet
            continue;
        }
        if (entry->resend_at_us && now >= entry->resend_at_us)
            s_resend (self, entry, now);
        if (entry->deadline_us < next)
            next = entry->deadline_us;
        if (entry->resend_at_us && entry->resend_at_us < next)
            next = entry->resend_at_us;
    }
    self->next_timer_us = next;
    while (expired) {
        s_pending_t *entry = expired;
        expired = entry->next;
        s_send_cancel (self, entry);
        s_fail (self, entry, LLMQ_E_TIMEOUT, "no answer before the deadline (client)");
    }
}

/* ---- public: client ---------------------------------------------------- */

//  Socket options; -1 when the endpoint or an option is refused.
static int
s_socket_open (llmq_client_t *self, const char *endpoint)
{
    self->socket = zmq_socket (self->context, ZMQ_DEALER);
    if (!self->socket)
        return -1;
    //  A fixed random identity: after a reconnect (or a broker restart)
    //  the broker still routes our answers, and resends find their key.
    unsigned char routing_id [16];
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = s_random (self);
        memcpy (routing_id + i, &r, 8);
    }
    if (routing_id [0] == 0)
        routing_id [0] = 1;         //  ZeroMQ reserves a leading zero
    int linger = 0;
    int reconnect = S_RECONNECT_IVL_MS;
    int hwm = S_HWM;
    int64_t maxmsgsize = LLMQ_MAX_MSG_SIZE;
    if (zmq_setsockopt (self->socket, ZMQ_ROUTING_ID, routing_id, sizeof routing_id)
    ||  zmq_setsockopt (self->socket, ZMQ_LINGER, &linger, sizeof linger)
    ||  zmq_setsockopt (self->socket, ZMQ_RECONNECT_IVL, &reconnect, sizeof reconnect)
    ||  zmq_setsockopt (self->socket, ZMQ_SNDHWM, &hwm, sizeof hwm)
    ||  zmq_setsockopt (self->socket, ZMQ_RCVHWM, &hwm, sizeof hwm)
    ||  zmq_setsockopt (self->socket, ZMQ_MAXMSGSIZE, &maxmsgsize, sizeof maxmsgsize))
        return -1;
    return zmq_connect (self->socket, endpoint);
}

llmq_client_t *
llmq_client_new (const char *endpoint)
{
    if (!endpoint || !*endpoint)
        return NULL;
    llmq_client_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->resend_ms = S_RESEND_MS;
    self->max_resends = S_MAX_RESENDS;
    self->next_timer_us = UINT64_MAX;
    llmq_buf_init (&self->scratch);
    s_random_seed (self);
    self->pending = llmqc_idmap_new ();
    self->decoder = llmq_decoder_new ();
    self->context = zmq_ctx_new ();
    if (!self->pending || !self->decoder || !self->context
    ||  s_socket_open (self, endpoint)) {
        llmq_client_destroy (&self);
        return NULL;
    }
    return self;
}

void
llmq_client_destroy (llmq_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    llmq_client_t *self = *self_p;
    //  Abandoned requests are cancelled, so the broker stops work that
    //  nobody will read; a short linger lets those CANCELs leave.
    if (self->pending) {
        size_t capacity = llmqc_idmap_capacity (self->pending);
        for (size_t i = 0; i < capacity; i++) {
            s_pending_t *entry = llmqc_idmap_at (self->pending, i);
            if (entry) {
                if (self->socket)
                    s_send_cancel (self, entry);
                s_entry_free (entry);
            }
        }
        llmqc_idmap_destroy (&self->pending);
    }
    while (self->done_head) {
        s_pending_t *entry = self->done_head;
        self->done_head = entry->next;
        llmq_response_destroy (&entry->resp);
        s_entry_free (entry);
    }
    while (self->free_list) {
        s_pending_t *entry = self->free_list;
        self->free_list = entry->next;
        s_entry_free (entry);
    }
    if (self->socket) {
        if (self->cancelled_any) {
            int linger = S_CLOSE_LINGER_MS;
            zmq_setsockopt (self->socket, ZMQ_LINGER, &linger, sizeof linger);
        }
        zmq_close (self->socket);
    }
    if (self->context)
        zmq_ctx_term (self->context);
    llmq_decoder_destroy (&self->decoder);
    llmq_buf_free (&self->scratch);
    free (self);
    *self_p = NULL;
}

llmq_result_t
llmq_client_set_resend (llmq_client_t *self, uint32_t resend_ms, uint32_t max_resends)
{
    if (!self || resend_ms == 0 || resend_ms > INT_MAX / 1000)
        return LLMQ_E_INVALID;
    self->resend_ms = resend_ms;
    self->max_resends = max_resends;
    return LLMQ_OK;
}

int
llmq_client_fd (llmq_client_t *self)
{
    if (!self)
        return -1;
    int fd = -1;
    size_t size = sizeof fd;
    if (zmq_getsockopt (self->socket, ZMQ_FD, &fd, &size))
        return -1;
    return fd;
}

size_t
llmq_pending (const llmq_client_t *self)
{
    return self? llmqc_idmap_size (self->pending) + self->done_count: 0;
}

int
llmq_next_timeout_ms (const llmq_client_t *self)
{
    if (!self || llmq_pending (self) == 0)
        return -1;
    if (self->done_head)
        return 0;
    if (self->next_timer_us == UINT64_MAX)
        return -1;
    uint64_t now = llmq_now_us ();
    if (self->next_timer_us <= now)
        return 0;
    uint64_t ms = (self->next_timer_us - now + 999) / 1000;
    return ms > INT_MAX? INT_MAX: (int) ms;
}

/* ---- public: asynchronous calls --------------------------------------- */

//  Fills a fresh entry's id and frame. LLMQ_OK or the failure.
static llmq_result_t
s_entry_prepare (llmq_client_t *self, s_pending_t *entry, const llmq_request_t *req,
                 bool stream)
{
    const char *user_id = llmqc_request_user_id (req);
    if (user_id) {
        entry->id_len = strlen (user_id);
        memcpy (entry->id, user_id, entry->id_len + 1);
    }
    else {
        s_make_id (self, entry->id);
        entry->id_len = LLMQC_ID_HEX;
    }
    //  Two requests with one id would be one request to the broker.
    if (llmqc_idmap_lookup (self->pending, entry->id, entry->id_len))
        return LLMQ_E_INVALID;
    return llmqc_request_encode (req, entry->id, stream, &entry->frame);
}

llmq_result_t
llmq_submit (llmq_client_t *self, const llmq_request_t *req,
             llmq_chunk_fn *on_chunk, llmq_done_fn *on_done,
             void *user, char *id_out)
{
    if (!self || !req)
        return LLMQ_E_INVALID;
    llmq_result_t rc = llmqc_request_validate (req);
    if (rc != LLMQ_OK)
        return rc;
    s_pending_t *entry = s_entry_take (self);
    if (!entry)
        return LLMQ_E_NOMEM;
    rc = s_entry_prepare (self, entry, req, on_chunk != NULL);
    if (rc == LLMQ_OK && llmqc_idmap_insert (self->pending, entry->id, entry->id_len, entry))
        rc = LLMQ_E_NOMEM;
    if (rc != LLMQ_OK) {
        s_entry_release (self, entry);
        return rc;
    }
    entry->on_chunk = on_chunk;
    entry->on_done = on_done;
    entry->user = user;
    uint64_t now = llmq_now_us ();
    uint64_t timeout_ms = llmqc_request_timeout (req);
    entry->deadline_us = now + (timeout_ms + LLMQC_DEADLINE_MARGIN_MS) * 1000;
    entry->resend_at_us = self->max_resends? now + (uint64_t) self->resend_ms * 1000: 0;
    if (entry->deadline_us < self->next_timer_us)
        self->next_timer_us = entry->deadline_us;
    if (entry->resend_at_us && entry->resend_at_us < self->next_timer_us)
        self->next_timer_us = entry->resend_at_us;
    //  EAGAIN (queue full, broker away) is fine: the resend covers it.
    if (s_send (self, entry->frame.data, entry->frame.size) == -1 && errno != EAGAIN) {
        llmqc_idmap_remove (self->pending, entry->id, entry->id_len);
        s_entry_release (self, entry);
        return LLMQ_E_CONNECT;
    }
    if (id_out)
        memcpy (id_out, entry->id, entry->id_len + 1);
    return LLMQ_OK;
}

llmq_result_t
llmq_cancel (llmq_client_t *self, const char *id)
{
    if (!self || !id)
        return LLMQ_E_INVALID;
    s_pending_t *entry = s_lookup (self, llmq_str (id));
    if (!entry)
        return LLMQ_E_UNKNOWN_ID;
    s_send_cancel (self, entry);
    s_fail (self, entry, LLMQ_E_CANCELLED, "cancelled by the caller");
    return LLMQ_OK;
}

int
llmq_process (llmq_client_t *self, int timeout_ms)
{
    if (!self) {
        errno = EINVAL;
        return -1;
    }
    uint64_t until = timeout_ms > 0? llmq_now_us () + (uint64_t) timeout_ms * 1000: 0;
    int completed = 0;
    while (true) {
        if (s_drain (self))
            return -1;
        s_run_timers (self, llmq_now_us ());
        completed += s_deliver (self);
        if (completed > 0 || timeout_ms == 0 || llmq_pending (self) == 0)
            return completed;
        long wait = llmq_next_timeout_ms (self);
        if (timeout_ms > 0) {
            uint64_t now = llmq_now_us ();
            if (now >= until)
                return completed;
            long left = (long) ((until - now + 999) / 1000);
            if (wait < 0 || wait > left)
                wait = left;
        }
        zmq_pollitem_t item = { self->socket, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, wait) == -1)
            return -1;              //  EINTR: let the caller see signals
    }
}

/* ---- public: blocking calls ------------------------------------------- */

//  One blocking call in progress: what its callbacks report back.
typedef struct {
    bool done;                      //  on_done ran
    llmq_response_t *resp;          //  The outcome
    llmq_chunk_fn *on_chunk;        //  The caller's chunk callback
    void *user;                     //  Its argument
} s_call_t;

static void
s_call_done (void *user, llmq_response_t *resp)
{
    s_call_t *call = user;
    call->done = true;
    call->resp = resp;
}

static int
s_call_chunk (void *user, const char *text, size_t len)
{
    s_call_t *call = user;
    return call->on_chunk (call->user, text, len);
}

//  Drops a request we stop waiting for: the broker is told, and no
//  callback will run (its user pointer is about to go out of scope). It
//  may be in the table, or already completed and waiting in the queue.
static void
s_abandon (llmq_client_t *self, const char *id)
{
    s_pending_t *entry = s_lookup (self, llmq_str (id));
    if (entry) {
        s_send_cancel (self, entry);
        llmqc_idmap_remove (self->pending, entry->id, entry->id_len);
        s_entry_release (self, entry);
        return;
    }
    s_pending_t **link = &self->done_head;
    s_pending_t *prev = NULL;
    while ((entry = *link) && strcmp (entry->id, id) != 0) {
        prev = entry;
        link = &entry->next;
    }
    if (!entry)
        return;
    *link = entry->next;
    if (self->done_tail == entry)
        self->done_tail = prev;
    self->done_count--;
    llmq_response_destroy (&entry->resp);
    s_entry_release (self, entry);
}

//  Waits until the call is done or wait_until (0 = no limit) passes.
//  Signals do not end the wait: a library cannot know what they mean to
//  the program (an event loop uses llmq_process, which reports EINTR).
static llmq_result_t
s_call_wait (llmq_client_t *self, s_call_t *call, uint64_t wait_until)
{
    while (!call->done) {
        int wait = -1;
        if (wait_until) {
            uint64_t now = llmq_now_us ();
            if (now >= wait_until)
                return LLMQ_E_TIMEOUT;
            uint64_t ms = (wait_until - now + 999) / 1000;
            wait = ms > INT_MAX? INT_MAX: (int) ms;
        }
        if (llmq_process (self, wait) == -1 && errno != EINTR)
            return LLMQ_E_CONNECT;
    }
    return LLMQ_OK;
}

static llmq_result_t
s_call (llmq_client_t *self, llmq_request_t *req, uint32_t timeout_ms,
        llmq_chunk_fn *on_chunk, void *user, llmq_response_t **resp_p)
{
    if (resp_p)
        *resp_p = NULL;
    s_call_t call = { false, NULL, on_chunk, user };
    char id [LLMQ_MAX_ID + 1];
    llmq_result_t rc = llmq_submit (self, req, on_chunk? s_call_chunk: NULL,
                                    s_call_done, &call, id);
    if (rc != LLMQ_OK)
        return rc;
    llmqc_request_sent_as (req, id);
    uint64_t wait_until = timeout_ms? llmq_now_us () + (uint64_t) timeout_ms * 1000: 0;
    rc = s_call_wait (self, &call, wait_until);
    if (rc != LLMQ_OK) {
        s_abandon (self, id);
        return rc;
    }
    if (!call.resp)
        return LLMQ_E_NOMEM;
    rc = llmq_response_result (call.resp);
    if (resp_p)
        *resp_p = call.resp;
    else
        llmq_response_destroy (&call.resp);
    return rc;
}

llmq_result_t
llmq_chat (llmq_client_t *self, llmq_request_t *req, uint32_t timeout_ms,
           llmq_response_t **resp_p)
{
    return s_call (self, req, timeout_ms, NULL, NULL, resp_p);
}

llmq_result_t
llmq_chat_stream (llmq_client_t *self, llmq_request_t *req, uint32_t timeout_ms,
                  llmq_chunk_fn *on_chunk, void *user, llmq_response_t **resp_p)
{
    if (!on_chunk) {
        if (resp_p)
            *resp_p = NULL;
        return LLMQ_E_INVALID;
    }
    return s_call (self, req, timeout_ms, on_chunk, user, resp_p);
}
