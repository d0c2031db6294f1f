/*  encode.c -- message structs to frames.

    Each encoder resets the buffer and writes header + one msgpack map.
    msgpack wants the number of map entries before the entries, so each
    encoder first counts the optional fields it will write, then writes
    them; the two passes share the same has_/ptr tests.

    Optional fields are omitted when absent (strings with ptr NULL, numbers
    whose has_ flag is clear, defaults such as priority normal), which keeps
    the hot frames small. Nothing here allocates except the buffer's own
    growth.
*/
#include "llmq_proto_int.h"

#include <assert.h>
#include <string.h>

//  Packs a key (a literal) and checks every step; macros keep the encoders
//  readable while still failing on the first write error.
#define PK(expr) do { if ((expr) != 0) return -1; } while (0)

/*  The helpers below write straight into the frame buffer behind the
    packer (pk->data is our llmq_buf_t), one reserve per item, instead of
    going through msgpack_pack_*: that calls the write callback once for
    the header and once for the body of every string, and keys plus
    values are most of every frame. The bytes are the ones msgpack-c
    writes (the shortest form of each length and integer).             */

//  Room for extra more bytes; the write position, or NULL (no memory).
static inline uint8_t *
s_room (msgpack_packer *pk, size_t extra)
{
    llmq_buf_t *buf = pk->data;
    if (extra > buf->alloc - buf->size && llmq_buf_reserve (buf, extra))
        return NULL;
    return (uint8_t *) buf->data + buf->size;
}

//  Marks the bytes up to end as written.
static inline void
s_done (msgpack_packer *pk, uint8_t *end)
{
    llmq_buf_t *buf = pk->data;
    buf->size = (size_t) (end - (uint8_t *) buf->data);
}

static inline uint8_t *
s_be (uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        *p++ = (uint8_t) (v >> (8 * i));
    return p;
}

static inline int
s_put_str (msgpack_packer *pk, const char *s, size_t len)
{
    if (len > UINT32_MAX)
        return -1;
    uint8_t *p = s_room (pk, 5 + len);
    if (!p)
        return -1;
    if (len < 32)
        *p++ = (uint8_t) (0xa0 | len);
    else
    if (len < 256) {
        *p++ = 0xd9;
        *p++ = (uint8_t) len;
    }
    else
    if (len < 65536) {
        *p++ = 0xda;
        p = s_be (p, len, 2);
    }
    else {
        *p++ = 0xdb;
        p = s_be (p, len, 4);
    }
    if (len)
        memcpy (p, s, len);
    s_done (pk, p + len);
    return 0;
}

static inline int
s_put_uint (msgpack_packer *pk, uint64_t v)
{
    uint8_t *p = s_room (pk, 9);
    if (!p)
        return -1;
    if (v < 128)
        *p++ = (uint8_t) v;
    else
    if (v < 256) {
        *p++ = 0xcc;
        *p++ = (uint8_t) v;
    }
    else
    if (v < 65536) {
        *p++ = 0xcd;
        p = s_be (p, v, 2);
    }
    else
    if (v <= UINT32_MAX) {
        *p++ = 0xce;
        p = s_be (p, v, 4);
    }
    else {
        *p++ = 0xcf;
        p = s_be (p, v, 8);
    }
    s_done (pk, p);
    return 0;
}

//  Inline so strlen of the literal folds to a constant.
static inline int
s_key (msgpack_packer *pk, const char *key)
{
    return s_put_str (pk, key, __builtin_strlen (key));
}

static inline int
s_str (msgpack_packer *pk, llmq_str_t s)
{
    return s_put_str (pk, s.ptr ? s.ptr : "", s.ptr ? s.len : 0);
}

static inline int
s_kv_str (msgpack_packer *pk, const char *key, llmq_str_t s)
{
    PK (s_key (pk, key));
    return s_str (pk, s);
}

static inline int
s_kv_uint (msgpack_packer *pk, const char *key, uint64_t v)
{
    PK (s_key (pk, key));
    return s_put_uint (pk, v);
}

static inline int
s_kv_bool (msgpack_packer *pk, const char *key, bool v)
{
    PK (s_key (pk, key));
    return v ? msgpack_pack_true (pk) : msgpack_pack_false (pk);
}

static inline int
s_kv_double (msgpack_packer *pk, const char *key, double v)
{
    PK (s_key (pk, key));
    return msgpack_pack_double (pk, v);
}

//  The id/rid pair most replies carry: id when present, rid when set.
static uint32_t
s_ids_count (llmq_str_t id, bool has_rid)
{
    return (id.ptr != NULL) + has_rid;
}

static int
s_ids (msgpack_packer *pk, llmq_str_t id, bool has_rid, uint64_t rid)
{
    if (id.ptr)
        PK (s_kv_str (pk, "id", id));
    if (has_rid)
        PK (s_kv_uint (pk, "rid", rid));
    return 0;
}

/* ---------------------------------------------------------------------- */
//  REQUEST

static int
s_messages (msgpack_packer *pk, const llmq_wire_request_t *msg)
{
    PK (s_key (pk, "messages"));
    PK (msgpack_pack_array (pk, msg->n_messages));
    for (uint32_t i = 0; i < msg->n_messages; i++) {
        const llmq_chat_msg_t *m = &msg->messages [i];
        PK (msgpack_pack_map (pk, 2 + (m->name.ptr != NULL)));
        PK (s_kv_str (pk, "role", m->role));
        PK (s_kv_str (pk, "content", m->content));
        if (m->name.ptr)
            PK (s_kv_str (pk, "name", m->name));
    }
    return 0;
}

static int
s_stop (msgpack_packer *pk, const llmq_wire_request_t *msg)
{
    PK (s_key (pk, "stop"));
    PK (msgpack_pack_array (pk, msg->n_stop));
    for (uint32_t i = 0; i < msg->n_stop; i++)
        PK (s_str (pk, msg->stop [i]));
    return 0;
}

static int
s_request_map (msgpack_packer *pk, const llmq_wire_request_t *msg)
{
    if ((msg->n_messages && !msg->messages) || msg->n_stop > LLMQ_MAX_STOP
    ||  msg->priority >= LLMQ_PRIO__COUNT
    ||  msg->cache > LLMQ_CACHE_ONLY_IF_CACHED)
        return -1;                  //  the caller built an impossible struct
    uint32_t n = 2                  //  model, messages
        + (msg->id.ptr != NULL) + msg->has_max_tokens + msg->has_temperature
        + msg->has_top_p + msg->has_seed + (msg->n_stop > 0) + msg->stream
        + (msg->priority != LLMQ_PRIO_NORMAL) + (msg->timeout_ms != 0)
        + (msg->cache != LLMQ_CACHE_DEFAULT) + msg->has_cache_ttl_ms
        + (msg->tenant.ptr != NULL);
    PK (msgpack_pack_map (pk, n));
    if (msg->id.ptr)
        PK (s_kv_str (pk, "id", msg->id));
    PK (s_kv_str (pk, "model", msg->model));
    PK (s_messages (pk, msg));
    if (msg->has_max_tokens)
        PK (s_kv_uint (pk, "max_tokens", msg->max_tokens));
    if (msg->has_temperature)
        PK (s_kv_double (pk, "temperature", msg->temperature));
    if (msg->has_top_p)
        PK (s_kv_double (pk, "top_p", msg->top_p));
    if (msg->has_seed) {
        PK (s_key (pk, "seed"));
        PK (msgpack_pack_int64 (pk, msg->seed));
    }
    if (msg->n_stop > 0)
        PK (s_stop (pk, msg));
    if (msg->stream)
        PK (s_kv_bool (pk, "stream", true));
    if (msg->priority != LLMQ_PRIO_NORMAL)
        PK (s_kv_uint (pk, "priority", msg->priority));
    if (msg->timeout_ms != 0)
        PK (s_kv_uint (pk, "timeout_ms", msg->timeout_ms));
    if (msg->cache != LLMQ_CACHE_DEFAULT)
        PK (s_kv_str (pk, "cache", llmq_str (llmq_cache_policy_name (msg->cache))));
    if (msg->has_cache_ttl_ms)
        PK (s_kv_uint (pk, "cache_ttl_ms", msg->cache_ttl_ms));
    if (msg->tenant.ptr)
        PK (s_kv_str (pk, "tenant", msg->tenant));
    return 0;
}

int
llmq_encode_request (llmq_buf_t *buf, const llmq_wire_request_t *msg)
{
    assert (msg);
    msgpack_packer pk;
    PK (llmq_buf_start_frame (buf, LLMQ_CMD_REQUEST, &pk));
    return s_request_map (&pk, msg);
}

int
llmq_encode_request_body (llmq_buf_t *buf, const llmq_wire_request_t *msg)
{
    assert (buf && msg);
    buf->size = 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, buf, llmq_buf_pack_write);
    return s_request_map (&pk, msg);
}

/* ---------------------------------------------------------------------- */
//  Small client messages

int
llmq_encode_cancel (llmq_buf_t *buf, const llmq_cancel_t *msg)
{
    assert (msg);
    msgpack_packer pk;
    PK (llmq_buf_start_frame (buf, LLMQ_CMD_CANCEL, &pk));
    PK (msgpack_pack_map (&pk, s_ids_count (msg->id, msg->has_rid)));
    return s_ids (&pk, msg->id, msg->has_rid, msg->rid);
}

static int
s_ping_pong (llmq_buf_t *buf, llmq_cmd_t cmd, const llmq_ping_t *msg)
{
    assert (msg);
    msgpack_packer pk;
    PK (llmq_buf_start_frame (buf, cmd, &pk));
    PK (msgpack_pack_map (&pk, 1 + (msg->version.ptr != NULL)));
    PK (s_kv_uint (&pk, "nonce", msg->nonce));
    if (msg->version.ptr)
        PK (s_kv_str (&pk, "version", msg->version));
    return 0;
}

int
llmq_encode_ping (llmq_buf_t *buf, const llmq_ping_t *msg)
{
    return s_ping_pong (buf, LLMQ_CMD_PING, msg);
}

int
llmq_encode_pong (llmq_buf_t *buf, const llmq_ping_t *msg)
{
    return s_ping_pong (buf, LLMQ_CMD_PONG, msg);
}

/* ---------------------------------------------------------------------- */
//  Replies: PARTIAL, FINAL, ERROR

int
llmq_encode_partial (llmq_buf_t *buf, const llmq_partial_t *msg)
{
    assert (msg);
    msgpack_packer pk;
    PK (llmq_buf_start_frame (buf, LLMQ_CMD_PARTIAL, &pk));
    PK (msgpack_pack_map (&pk, 2 + s_ids_count (msg->id, msg->has_rid)));
    PK (s_ids (&pk, msg->id, msg->has_rid, msg->rid));
    PK (s_kv_uint (&pk, "seq", msg->seq));
    return s_kv_str (&pk, "text", msg->text);
}

static int
s_usage (msgpack_packer *pk, const llmq_usage_t *usage)
{
    PK (s_key (pk, "usage"));
    PK (msgpack_pack_map (pk, 2));
    PK (s_kv_uint (pk, "prompt_tokens", usage->prompt_tokens));
    return s_kv_uint (pk, "completion_tokens", usage->completion_tokens);
}

static int
s_timings (msgpack_packer *pk, const llmq_timings_t *t)
{
    PK (s_key (pk, "timings"));
    PK (msgpack_pack_map (pk, 5));
    PK (s_kv_uint (pk, "queued_us", t->queued_us));
    PK (s_kv_uint (pk, "ttft_us", t->ttft_us));
    PK (s_kv_uint (pk, "backend_us", t->backend_us));
    PK (s_kv_uint (pk, "total_us", t->total_us));
    return s_kv_uint (pk, "broker_us", t->broker_us);
}

int
llmq_encode_final (llmq_buf_t *buf, const llmq_final_t *msg)
{
    assert (msg);
    msgpack_packer pk;
    PK (llmq_buf_start_frame (buf, LLMQ_CMD_FINAL, &pk));
    //  text, usage, cached, attempts, timings are always written: readers
    //  get one shape whatever the path (cache hit, fresh answer).
    uint32_t n = 5 + s_ids_count (msg->id, msg->has_rid)
        + (msg->model.ptr != NULL) + (msg->finish_reason.ptr != NULL)
        + (msg->worker.ptr != NULL);
    PK (msgpack_pack_map (&pk, n));
    PK (s_ids (&pk, msg->id, msg->has_rid, msg->rid));
    if (msg->model.ptr)
        PK (s_kv_str (&pk, "model", msg->model));
    PK (s_kv_str (&pk, "text", msg->text));
    if (msg->finish_reason.ptr)
        PK (s_kv_str (&pk, "finish_reason", msg->finish_reason));
    PK (s_usage (&pk, &msg->usage));
    PK (s_kv_bool (&pk, "cached", msg->cached));
    if (msg->worker.ptr)
        PK (s_kv_str (&pk, "worker", msg->worker));
    PK (s_kv_uint (&pk, "attempts", msg->attempts));
    return s_timings (&pk, &msg->timings);
}

int
llmq_encode_error (llmq_buf_t *buf, const llmq_error_t *msg)
{
    assert (msg);
    msgpack_packer pk;
    PK (llmq_buf_start_frame (buf, LLMQ_CMD_ERROR, &pk));
    uint32_t n = 2 + s_ids_count (msg->id, msg->has_rid)
        + (msg->message.ptr != NULL) + msg->has_retry_after_ms
        + msg->has_upstream_status;
    PK (msgpack_pack_map (&pk, n));
    PK (s_ids (&pk, msg->id, msg->has_rid, msg->rid));
    PK (s_kv_uint (&pk, "code", msg->code));
    PK (s_kv_str (&pk, "error", llmq_str (llmq_errcode_name (msg->code))));
    if (msg->message.ptr)
        PK (s_kv_str (&pk, "message", msg->message));
    if (msg->has_retry_after_ms)
        PK (s_kv_uint (&pk, "retry_after_ms", msg->retry_after_ms));
    if (msg->has_upstream_status)
        PK (s_kv_uint (&pk, "upstream_status", msg->upstream_status));
    return 0;
}

/* ---------------------------------------------------------------------- */
//  Worker protocol: READY, HEARTBEAT, DISPATCH, DISCONNECT

int
llmq_encode_ready (llmq_buf_t *buf, const llmq_ready_t *msg)
{
    assert (msg);
    if (msg->n_models > LLMQ_MAX_MODELS)
        return -1;
    msgpack_packer pk;
    PK (llmq_buf_start_frame (buf, LLMQ_CMD_READY, &pk));
    PK (msgpack_pack_map (&pk, 3 + (msg->version.ptr != NULL)));
    PK (s_kv_str (&pk, "worker", msg->worker_id));
    PK (s_key (&pk, "models"));
    PK (msgpack_pack_array (&pk, msg->n_models));
    for (uint32_t i = 0; i < msg->n_models; i++)
        PK (s_str (&pk, msg->models [i]));
    PK (s_kv_uint (&pk, "slots", msg->slots));
    if (msg->version.ptr)
        PK (s_kv_str (&pk, "version", msg->version));
    return 0;
}

int
llmq_encode_heartbeat (llmq_buf_t *buf, const llmq_heartbeat_t *msg)
{
    assert (msg);
    msgpack_packer pk;
    PK (llmq_buf_start_frame (buf, LLMQ_CMD_HEARTBEAT, &pk));
    //  Zero fields are left out: the broker's heartbeat (all zero) is an
    //  empty map, and a missing field decodes as zero anyway.
    uint32_t n = (msg->in_flight != 0) + (msg->free_slots != 0)
        + (msg->ttft_ewma_us != 0) + (msg->total_ewma_us != 0)
        + (msg->error_rate != 0) + (msg->upstream_429 != 0)
        + (msg->backend_state != LLMQ_BACKEND_OK) + msg->draining;
    PK (msgpack_pack_map (&pk, n));
    if (msg->in_flight)
        PK (s_kv_uint (&pk, "in_flight", msg->in_flight));
    if (msg->free_slots)
        PK (s_kv_uint (&pk, "free_slots", msg->free_slots));
    if (msg->ttft_ewma_us)
        PK (s_kv_uint (&pk, "ttft_ewma_us", msg->ttft_ewma_us));
    if (msg->total_ewma_us)
        PK (s_kv_uint (&pk, "total_ewma_us", msg->total_ewma_us));
    if (msg->error_rate != 0)
        PK (s_kv_double (&pk, "error_rate", msg->error_rate));
    if (msg->upstream_429)
        PK (s_kv_uint (&pk, "upstream_429", msg->upstream_429));
    if (msg->backend_state != LLMQ_BACKEND_OK)
        PK (s_kv_str (&pk, "backend", llmq_str (llmq_backend_state_name (msg->backend_state))));
    if (msg->draining)
        PK (s_kv_bool (&pk, "draining", true));
    return 0;
}

int
llmq_encode_dispatch (llmq_buf_t *buf, const llmq_dispatch_t *msg)
{
    assert (msg);
    if (!msg->req_raw || msg->req_raw_size == 0)
        return -1;                  //  nothing to embed: a caller bug
    msgpack_packer pk;
    PK (llmq_buf_start_frame (buf, LLMQ_CMD_DISPATCH, &pk));
    PK (msgpack_pack_map (&pk, 4));
    PK (s_kv_uint (&pk, "rid", msg->rid));
    PK (s_kv_uint (&pk, "attempt", msg->attempt));
    PK (s_kv_uint (&pk, "deadline_ms", msg->deadline_ms));
    PK (s_key (&pk, "request"));
    //  The client's packed map goes in verbatim: no decode, no re-encode.
    return llmq_buf_append (buf, msg->req_raw, msg->req_raw_size);
}

int
llmq_encode_disconnect (llmq_buf_t *buf, const llmq_disconnect_t *msg)
{
    assert (msg);
    msgpack_packer pk;
    PK (llmq_buf_start_frame (buf, LLMQ_CMD_DISCONNECT, &pk));
    PK (msgpack_pack_map (&pk, msg->reason.ptr != NULL));
    if (msg->reason.ptr)
        PK (s_kv_str (&pk, "reason", msg->reason));
    return 0;
}

int
llmq_encode_stats (llmq_buf_t *buf)
{
    msgpack_packer pk;
    PK (llmq_buf_start_frame (buf, LLMQ_CMD_STATS, &pk));
    return msgpack_pack_map (&pk, 0);
}
