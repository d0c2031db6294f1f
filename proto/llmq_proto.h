/*  llmq_proto.h -- the llmq wire protocol codec (LLMQ/1).

    This is the one piece of code in llmq that packs or unpacks msgpack.
    Broker, worker and client all speak through it. proto/PROTOCOL.md is the
    normative description; this header must agree with it.

    Every ZeroMQ message of the protocol is ONE frame (after the ROUTER
    routing-id frame on the broker side):

        +------+------+------+------+---------+---------+------------------+
        | 'L'  | 'L'  | 'M'  | 'Q'  | version | command | msgpack map body |
        +------+------+------+------+---------+---------+------------------+
          6-byte header                                   (may be empty map)

    Decoding treats every byte as hostile: limits (size, nesting depth,
    element counts, string lengths, message count) are checked by a
    structural pre-scan BEFORE msgpack-c allocates anything, so an array
    header claiming 4 billion elements in a 5-byte input is rejected
    without allocating.

    Decoded structures point INTO the input frame (strings are not copied)
    and into the decoder's arena (the messages array). They stay valid until
    the next decode with the same decoder, or until the frame is freed,
    whichever comes first.

    Thread-safety: a decoder or buffer belongs to one thread at a time;
    the functions keep no global mutable state.
*/
#ifndef LLMQ_PROTO_H_INCLUDED
#define LLMQ_PROTO_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LLMQ_VERSION_STRING     "0.1.0"
#define LLMQ_PROTO_VERSION      1       /* the version byte in every header */
#define LLMQ_HEADER_SIZE        6

/*  Timing rules fixed by the protocol (see PROTOCOL.md, "Heartbeating").  */
#define LLMQ_HEARTBEAT_MS       1000    /* both sides send one per interval */
#define LLMQ_LIVENESS           3       /* intervals of silence = peer dead */

/*  Limits. A decoder rejects input that exceeds any of these.            */
#define LLMQ_MAX_MSG_SIZE       (8u << 20)  /* whole frame; ZMQ_MAXMSGSIZE  */
#define LLMQ_MAX_DEPTH          16          /* nesting of arrays/maps       */
#define LLMQ_MAX_ELEMENTS       (1u << 16)  /* objects in one message       */
#define LLMQ_MAX_STRING         (4u << 20)  /* one string or bin            */
#define LLMQ_MAX_ID             128         /* request id, worker id bytes  */
#define LLMQ_MAX_NAME           256         /* model, tenant, role ...      */
#define LLMQ_MAX_MESSAGES       1024        /* chat messages in a request   */
#define LLMQ_MAX_STOP           8           /* stop sequences               */
#define LLMQ_MAX_MODELS         64          /* models in READY              */
/*  A REQUEST must leave room for the DISPATCH that will carry it to a
    worker: its frame may be at most LLMQ_MAX_MSG_SIZE - LLMQ_DISPATCH_RESERVE
    bytes, nest at most LLMQ_MAX_DEPTH - 1 deep and hold at most
    LLMQ_MAX_ELEMENTS - LLMQ_DISPATCH_OBJECTS objects. The REQUEST decoder
    enforces these, so every request it accepts can be dispatched.         */
#define LLMQ_DISPATCH_RESERVE   64          /* bytes DISPATCH adds, rounded */
#define LLMQ_DISPATCH_OBJECTS   16          /* objects it adds, rounded     */

/*  Commands: the 6th header byte.                                         */
typedef enum {
    LLMQ_CMD_REQUEST     = 0x01,    /* C->B  */
    LLMQ_CMD_CANCEL      = 0x02,    /* C->B, B->W */
    LLMQ_CMD_PING        = 0x03,    /* C->B  */
    LLMQ_CMD_PONG        = 0x04,    /* B->C  */
    LLMQ_CMD_PARTIAL     = 0x05,    /* W->B, B->C */
    LLMQ_CMD_FINAL       = 0x06,    /* W->B, B->C */
    LLMQ_CMD_ERROR       = 0x07,    /* W->B, B->C, B->W */
    LLMQ_CMD_READY       = 0x08,    /* W->B  */
    LLMQ_CMD_HEARTBEAT   = 0x09,    /* W->B, B->W */
    LLMQ_CMD_DISPATCH    = 0x0A,    /* B->W  */
    LLMQ_CMD_DISCONNECT  = 0x0B,    /* W->B, B->W */
    LLMQ_CMD_STATS       = 0x0C,    /* monitor -> B (stats socket) */
    LLMQ_CMD_STATS_REPLY = 0x0D     /* B -> monitor */
} llmq_cmd_t;

/*  Stable error codes carried in ERROR (PROTOCOL.md, "Error codes").
    Numbers never change meaning; new codes are only added.               */
typedef enum {
    LLMQ_ERR_NONE            = 0,
    LLMQ_ERR_BAD_REQUEST     = 1,   /* malformed message or field        */
    LLMQ_ERR_UNSUPPORTED     = 2,   /* unknown protocol version/command  */
    LLMQ_ERR_TOO_LARGE       = 3,   /* over a size or count limit        */
    LLMQ_ERR_NO_WORKER       = 4,   /* unknown model / no worker serves  */
    LLMQ_ERR_OVERLOADED      = 5,   /* queue full; retry_after_ms        */
    LLMQ_ERR_RATE_LIMITED    = 6,   /* over a rate; retry_after_ms       */
    LLMQ_ERR_TIMEOUT         = 7,   /* deadline passed                   */
    LLMQ_ERR_CANCELLED       = 8,   /* cancelled by the client           */
    LLMQ_ERR_BACKEND         = 9,   /* upstream failed; upstream_status  */
    LLMQ_ERR_SHUTTING_DOWN   = 10,  /* broker/worker stopping; retryable */
    LLMQ_ERR_INTERNAL        = 11,  /* a bug in llmq                     */
    LLMQ_ERR_FORBIDDEN       = 12,  /* tenant may not use this           */
    LLMQ_ERR_NOT_CACHED      = 13,  /* only-if-cached and no entry       */
    LLMQ_ERR_WORKER_LOST     = 14,  /* worker died, attempts exhausted   */
    LLMQ_ERR__COUNT
} llmq_errcode_t;

/*  "bad_request", "unsupported_version", ... ; "unknown" past the table.  */
const char *llmq_errcode_name (uint32_t code);
/*  Inverse of llmq_errcode_name; LLMQ_ERR_NONE when unknown.              */
llmq_errcode_t llmq_errcode_from_name (const char *name);
/*  True for codes where sending the same request again later can succeed
    (no_worker, overloaded, rate_limited, timeout, backend_error,
    shutting_down, worker_lost).                                           */
bool llmq_errcode_retryable (uint32_t code);

/*  Priorities: numbers on the wire, names accepted too.                   */
typedef enum {
    LLMQ_PRIO_CRITICAL = 0,
    LLMQ_PRIO_HIGH     = 1,
    LLMQ_PRIO_NORMAL   = 2,         /* default */
    LLMQ_PRIO_LOW      = 3,
    LLMQ_PRIO_BATCH    = 4,
    LLMQ_PRIO__COUNT
} llmq_priority_t;
const char *llmq_priority_name (uint32_t prio);
/*  0 and the priority in *prio on success, -1 for an unknown name.        */
int llmq_priority_from_name (const char *name, uint32_t *prio);

typedef enum {
    LLMQ_CACHE_DEFAULT = 0,
    LLMQ_CACHE_BYPASS,
    LLMQ_CACHE_REFRESH,
    LLMQ_CACHE_ONLY_IF_CACHED
} llmq_cache_policy_t;
const char *llmq_cache_policy_name (uint32_t policy);
/*  0 and the policy in *policy on success, -1 for an unknown name.       */
int llmq_cache_policy_from_name (const char *name, uint32_t *policy);

/*  Decode results. 0 is success.                                          */
typedef enum {
    LLMQ_DECODE_OK = 0,
    LLMQ_DECODE_SIGNATURE,          /* not "LLMQ"                          */
    LLMQ_DECODE_VERSION,            /* version byte not supported          */
    LLMQ_DECODE_COMMAND,            /* unknown or unexpected command       */
    LLMQ_DECODE_MALFORMED,          /* not valid msgpack / truncated       */
    LLMQ_DECODE_TOO_LARGE,          /* frame over LLMQ_MAX_MSG_SIZE        */
    LLMQ_DECODE_TOO_DEEP,           /* nesting over LLMQ_MAX_DEPTH         */
    LLMQ_DECODE_TOO_MANY,           /* count over a limit / over bytes left*/
    LLMQ_DECODE_STRING_TOO_LONG,    /* a string over its limit             */
    LLMQ_DECODE_MISSING_FIELD,      /* a required key is absent            */
    LLMQ_DECODE_WRONG_TYPE,         /* a known key has the wrong type      */
    LLMQ_DECODE_OUT_OF_RANGE,       /* a number or enum outside its range  */
    LLMQ_DECODE_NO_MEMORY
} llmq_decode_result_t;

/*  The protocol error code a decode failure maps to (bad_request,
    unsupported_version or too_large).                                     */
llmq_errcode_t llmq_decode_errcode (llmq_decode_result_t rc);
/*  "malformed msgpack", "missing field", ... for logs.                    */
const char *llmq_decode_result_name (llmq_decode_result_t rc);
/*  "REQUEST", "FINAL", ...; "UNKNOWN" for anything else.                  */
const char *llmq_cmd_name (uint32_t cmd);

/*  A string slice; not NUL-terminated. len 0 with ptr NULL = absent.       */
typedef struct {
    const char *ptr;
    uint32_t len;
} llmq_str_t;

/*  Growable output buffer; encoders reset it and write a whole frame.     */
typedef struct {
    char *data;                     /* frame bytes                         */
    size_t size;                    /* bytes used                          */
    size_t alloc;                   /* bytes allocated                     */
} llmq_buf_t;

void llmq_buf_init (llmq_buf_t *buf);
void llmq_buf_free (llmq_buf_t *buf);       /* frees, leaves it re-usable  */

/*  A decoder holds the arena decoded arrays live in, and the last error.  */
typedef struct llmq_decoder llmq_decoder_t;
llmq_decoder_t *llmq_decoder_new (void);
void llmq_decoder_destroy (llmq_decoder_t **self_p);
/*  Human-readable detail of the last failure: "field 'model': expected a
    string". Never NULL.                                                   */
const char *llmq_decoder_error (const llmq_decoder_t *self);

/*  Checks signature, version and size; on success writes the command.
    Does not look at the body.                                             */
llmq_decode_result_t llmq_peek_command (const void *frame, size_t size,
                                        llmq_cmd_t *cmd);
/*  The same, recording the failure detail in the decoder for
    llmq_decoder_error ("protocol version 2 not supported; this peer speaks
    version 1"), so an ERROR reply can quote it.                           */
llmq_decode_result_t llmq_decoder_peek (llmq_decoder_t *dec, const void *frame,
                                        size_t size, llmq_cmd_t *cmd);

/* ---------------------------------------------------------------------- */
/*  Message structures. Optional numeric fields have a has_ flag.         */

typedef struct {
    llmq_str_t role;                /* "system" | "user" | "assistant" ... */
    llmq_str_t content;             /* text                                */
    llmq_str_t name;                /* optional                            */
} llmq_chat_msg_t;

typedef struct {
    llmq_str_t id;                  /* client-chosen, unique per client    */
    llmq_str_t model;               /* required                            */
    const llmq_chat_msg_t *messages;/* required, 1..LLMQ_MAX_MESSAGES      */
    uint32_t n_messages;
    bool has_max_tokens;  uint32_t max_tokens;
    bool has_temperature; double temperature;   /* 0..2                    */
    bool has_top_p;       double top_p;         /* 0..1                    */
    bool has_seed;        int64_t seed;
    llmq_str_t stop[LLMQ_MAX_STOP]; /* stop sequences                      */
    uint32_t n_stop;
    bool stream;                    /* PARTIALs wanted                     */
    uint32_t priority;              /* llmq_priority_t, default normal     */
    uint32_t timeout_ms;            /* 0 = broker default                  */
    uint32_t cache;                 /* llmq_cache_policy_t                 */
    bool has_cache_ttl_ms; uint32_t cache_ttl_ms;
    llmq_str_t tenant;              /* optional                            */
    /*  Decode only: the packed body map (points into the frame), so a
        broker can forward it without re-encoding.                         */
    const void *raw;
    size_t raw_size;
} llmq_wire_request_t;

typedef struct {
    llmq_str_t id;                  /* client request id (B<->C)           */
    bool has_rid; uint64_t rid;     /* broker dispatch handle (B<->W)      */
} llmq_cancel_t;

typedef struct {
    uint64_t nonce;                 /* echoed in PONG                      */
    llmq_str_t version;             /* PONG: broker version                */
} llmq_ping_t;

typedef struct {
    uint32_t prompt_tokens;
    uint32_t completion_tokens;
} llmq_usage_t;

typedef struct {
    uint64_t queued_us;             /* broker: accepted -> dispatched      */
    uint64_t ttft_us;               /* first token, from dispatch (worker) */
    uint64_t backend_us;            /* worker: start of backend call->end  */
    uint64_t total_us;              /* broker: accepted -> final           */
    uint64_t broker_us;             /* broker's own CPU path time          */
} llmq_timings_t;

typedef struct {
    llmq_str_t id;                  /* client request id (B->C)            */
    bool has_rid; uint64_t rid;     /* dispatch handle (W->B)              */
    uint32_t seq;                   /* 0,1,2... per request                */
    llmq_str_t text;                /* the delta                           */
} llmq_partial_t;

typedef struct {
    llmq_str_t id;                  /* client request id (B->C)            */
    bool has_rid; uint64_t rid;     /* dispatch handle (W->B)              */
    llmq_str_t model;               /* the model that answered             */
    llmq_str_t text;                /* the whole answer                    */
    llmq_str_t finish_reason;       /* "stop" | "length" | ...             */
    llmq_usage_t usage;
    bool cached;
    llmq_str_t worker;              /* worker id that served it            */
    uint32_t attempts;              /* dispatches it took (>=1)            */
    llmq_timings_t timings;
} llmq_final_t;

typedef struct {
    llmq_str_t id;                  /* client request id, may be absent    */
    bool has_rid; uint64_t rid;     /* dispatch handle (W->B)              */
    uint32_t code;                  /* llmq_errcode_t                      */
    llmq_str_t message;             /* human-readable                      */
    bool has_retry_after_ms; uint32_t retry_after_ms;
    bool has_upstream_status; uint32_t upstream_status;
} llmq_error_t;

typedef struct {
    llmq_str_t worker_id;           /* required                            */
    llmq_str_t models[LLMQ_MAX_MODELS];
    uint32_t n_models;              /* required, >= 1                      */
    uint32_t slots;                 /* required, >= 1                      */
    llmq_str_t version;             /* software version                    */
} llmq_ready_t;

typedef enum {
    LLMQ_BACKEND_OK = 0,
    LLMQ_BACKEND_DEGRADED = 1,
    LLMQ_BACKEND_DOWN = 2
} llmq_backend_state_t;
const char *llmq_backend_state_name (uint32_t state);
/*  0 and the state in *state on success, -1 for an unknown name.         */
int llmq_backend_state_from_name (const char *name, uint32_t *state);

typedef struct {
    /*  W->B carries health; B->W sends an empty body (all zero).          */
    uint32_t in_flight;
    uint32_t free_slots;
    uint64_t ttft_ewma_us;
    uint64_t total_ewma_us;
    double error_rate;              /* 0..1 over a recent window           */
    uint32_t upstream_429;          /* recent count                        */
    uint32_t backend_state;         /* llmq_backend_state_t                */
    bool draining;                  /* takes no new work                   */
} llmq_heartbeat_t;

typedef struct {
    uint64_t rid;                   /* handle the worker echoes            */
    uint32_t attempt;               /* 1 on first dispatch                 */
    uint32_t deadline_ms;           /* time left for this request          */
    /*  Encode: the packed request body map to embed (llmq_wire_request_t.raw).
        Decode: the embedded request, decoded.                             */
    const void *req_raw;
    size_t req_raw_size;
    llmq_wire_request_t req;
} llmq_dispatch_t;

typedef struct {
    llmq_str_t reason;              /* optional                            */
} llmq_disconnect_t;

/* ---------------------------------------------------------------------- */
/*  Encoders: reset buf and write one whole frame. 0 ok, -1 no memory or an
    invalid struct (a bug in the caller).                                  */
int llmq_encode_request    (llmq_buf_t *buf, const llmq_wire_request_t *msg);
int llmq_encode_cancel     (llmq_buf_t *buf, const llmq_cancel_t *msg);
int llmq_encode_ping       (llmq_buf_t *buf, const llmq_ping_t *msg);
int llmq_encode_pong       (llmq_buf_t *buf, const llmq_ping_t *msg);
int llmq_encode_partial    (llmq_buf_t *buf, const llmq_partial_t *msg);
int llmq_encode_final      (llmq_buf_t *buf, const llmq_final_t *msg);
int llmq_encode_error      (llmq_buf_t *buf, const llmq_error_t *msg);
int llmq_encode_ready      (llmq_buf_t *buf, const llmq_ready_t *msg);
int llmq_encode_heartbeat  (llmq_buf_t *buf, const llmq_heartbeat_t *msg);
int llmq_encode_dispatch   (llmq_buf_t *buf, const llmq_dispatch_t *msg);
int llmq_encode_disconnect (llmq_buf_t *buf, const llmq_disconnect_t *msg);
int llmq_encode_stats      (llmq_buf_t *buf);
/*  A request body without the 6-byte header: the map a DISPATCH embeds.
    Used by tests and by anyone building a DISPATCH from a struct.         */
int llmq_encode_request_body (llmq_buf_t *buf, const llmq_wire_request_t *msg);

/*  Decoders: the whole frame (header included) in; the header's command
    must match. LLMQ_DECODE_OK or the reason; detail in
    llmq_decoder_error(). Unknown keys are ignored; known keys of the wrong
    type are errors. Ping and pong share a struct.
    On failure *out keeps the fields read before the bad one (keys are read
    in wire order), so a broker can still quote a request's id in its
    ERROR when a later field was wrong; absent ones are zero/NULL.        */
llmq_decode_result_t llmq_decode_request    (llmq_decoder_t *dec, const void *frame, size_t size, llmq_wire_request_t *out);
llmq_decode_result_t llmq_decode_cancel     (llmq_decoder_t *dec, const void *frame, size_t size, llmq_cancel_t *out);
llmq_decode_result_t llmq_decode_ping       (llmq_decoder_t *dec, const void *frame, size_t size, llmq_ping_t *out);
llmq_decode_result_t llmq_decode_pong       (llmq_decoder_t *dec, const void *frame, size_t size, llmq_ping_t *out);
llmq_decode_result_t llmq_decode_partial    (llmq_decoder_t *dec, const void *frame, size_t size, llmq_partial_t *out);
llmq_decode_result_t llmq_decode_final      (llmq_decoder_t *dec, const void *frame, size_t size, llmq_final_t *out);
llmq_decode_result_t llmq_decode_error      (llmq_decoder_t *dec, const void *frame, size_t size, llmq_error_t *out);
llmq_decode_result_t llmq_decode_ready      (llmq_decoder_t *dec, const void *frame, size_t size, llmq_ready_t *out);
llmq_decode_result_t llmq_decode_heartbeat  (llmq_decoder_t *dec, const void *frame, size_t size, llmq_heartbeat_t *out);
llmq_decode_result_t llmq_decode_dispatch   (llmq_decoder_t *dec, const void *frame, size_t size, llmq_dispatch_t *out);
llmq_decode_result_t llmq_decode_disconnect (llmq_decoder_t *dec, const void *frame, size_t size, llmq_disconnect_t *out);

/* ---------------------------------------------------------------------- */
/*  Free-form maps (the stats snapshot). The broker builds one with the
    writer; monitors turn one into JSON.                                   */

typedef struct llmq_writer llmq_writer_t;
/*  Starts a frame with the given command in buf (buf is reset).           */
llmq_writer_t *llmq_writer_new (llmq_buf_t *buf, llmq_cmd_t cmd);
void llmq_writer_destroy (llmq_writer_t **self_p);
void llmq_writer_map   (llmq_writer_t *w, uint32_t n);  /* n key/value pairs follow */
void llmq_writer_array (llmq_writer_t *w, uint32_t n);
void llmq_writer_str   (llmq_writer_t *w, const char *s);   /* NUL-terminated */
void llmq_writer_strn  (llmq_writer_t *w, const char *s, size_t len);
void llmq_writer_uint  (llmq_writer_t *w, uint64_t v);
void llmq_writer_int   (llmq_writer_t *w, int64_t v);
void llmq_writer_double(llmq_writer_t *w, double v);
void llmq_writer_bool  (llmq_writer_t *w, bool v);
void llmq_writer_nil   (llmq_writer_t *w);
/*  A map entry in one call: the key (NUL-terminated) then the value.     */
void llmq_writer_kv_uint (llmq_writer_t *w, const char *key, uint64_t v);
void llmq_writer_kv_str  (llmq_writer_t *w, const char *key, const char *v);
/*  True when a write ran out of memory; the frame is then unusable.       */
bool llmq_writer_failed (const llmq_writer_t *w);

/*  Writes the body of any frame (header skipped) as one line of JSON into
    out (reset first, NUL-terminated). Used by `llmq stats --json` and
    `llmq chat --json`. Same limits as the decoders.                       */
llmq_decode_result_t llmq_frame_to_json (llmq_decoder_t *dec, const void *frame, size_t size, llmq_buf_t *out);

/* ---------------------------------------------------------------------- */
/*  Small helpers every component needs.                                   */

/*  Monotonic clock in microseconds.                                       */
uint64_t llmq_now_us (void);
/*  True when s equals the NUL-terminated literal.                         */
bool llmq_str_eq (llmq_str_t s, const char *lit);
/*  llmq_str_t over a NUL-terminated string (NULL -> absent).               */
llmq_str_t llmq_str (const char *s);

#ifdef __cplusplus
}
#endif

#endif
