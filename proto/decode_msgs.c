/*  decode_msgs.c -- every message but REQUEST and DISPATCH: the flat ones.

    Each decoder is a loop over the body map that hands known keys to a
    typed reader and ignores the rest (a newer peer may add keys within the
    same protocol version), followed by the checks for required keys.
*/
#include "llmq_proto_int.h"

#include <string.h>

//  The loop every flat decoder runs: unpack, then one call per entry.
typedef llmq_decode_result_t (s_field_fn) (llmq_decoder_t *dec, const msgpack_object *k,
                                           const msgpack_object *v, void *out);

static llmq_decode_result_t
s_decode (llmq_decoder_t *dec, const void *frame, size_t size, llmq_cmd_t cmd,
          s_field_fn *field, void *out)
{
    msgpack_object body;
    llmq_decode_result_t rc = llmq_decoder_unpack (dec, frame, size, cmd, false, &body);
    for (uint32_t i = 0; rc == LLMQ_DECODE_OK && i < body.via.map.size; i++)
        rc = field (dec, &body.via.map.ptr [i].key, &body.via.map.ptr [i].val, out);
    return rc;
}

//  "id" / "rid", which replies and CANCEL carry.
static llmq_decode_result_t
s_ids (llmq_decoder_t *dec, const msgpack_object *k, const msgpack_object *v,
       llmq_str_t *id, bool *has_rid, uint64_t *rid, bool *matched)
{
    *matched = true;
    if (llmq_key_is (k, "id"))
        return llmq_field_str (dec, "id", v, 1, LLMQ_MAX_ID, id);
    if (llmq_key_is (k, "rid"))
        return llmq_field_uint (dec, "rid", v, UINT64_MAX, rid, has_rid);
    *matched = false;
    return LLMQ_DECODE_OK;
}

static llmq_decode_result_t
s_need_id_or_rid (llmq_decoder_t *dec, llmq_str_t id, bool has_rid)
{
    if (!id.ptr && !has_rid)
        return llmq_field_missing (dec, "id' or 'rid");
    return LLMQ_DECODE_OK;
}

/* ---------------------------------------------------------------------- */

static llmq_decode_result_t
s_cancel_field (llmq_decoder_t *dec, const msgpack_object *k, const msgpack_object *v,
                void *out_)
{
    llmq_cancel_t *out = out_;
    bool matched;
    return s_ids (dec, k, v, &out->id, &out->has_rid, &out->rid, &matched);
}

llmq_decode_result_t
llmq_decode_cancel (llmq_decoder_t *dec, const void *frame, size_t size,
                    llmq_cancel_t *out)
{
    memset (out, 0, sizeof *out);
    llmq_decode_result_t rc = s_decode (dec, frame, size, LLMQ_CMD_CANCEL,
                                        s_cancel_field, out);
    return rc ? rc : s_need_id_or_rid (dec, out->id, out->has_rid);
}

static llmq_decode_result_t
s_ping_field (llmq_decoder_t *dec, const msgpack_object *k, const msgpack_object *v,
              void *out_)
{
    llmq_ping_t *out = out_;
    if (llmq_key_is (k, "nonce"))
        return llmq_field_uint (dec, "nonce", v, UINT64_MAX, &out->nonce, NULL);
    if (llmq_key_is (k, "version"))
        return llmq_field_str (dec, "version", v, 0, LLMQ_MAX_NAME, &out->version);
    return LLMQ_DECODE_OK;
}

llmq_decode_result_t
llmq_decode_ping (llmq_decoder_t *dec, const void *frame, size_t size, llmq_ping_t *out)
{
    memset (out, 0, sizeof *out);
    return s_decode (dec, frame, size, LLMQ_CMD_PING, s_ping_field, out);
}

llmq_decode_result_t
llmq_decode_pong (llmq_decoder_t *dec, const void *frame, size_t size, llmq_ping_t *out)
{
    memset (out, 0, sizeof *out);
    return s_decode (dec, frame, size, LLMQ_CMD_PONG, s_ping_field, out);
}

/* ---------------------------------------------------------------------- */

static llmq_decode_result_t
s_partial_field (llmq_decoder_t *dec, const msgpack_object *k, const msgpack_object *v,
                 void *out_)
{
    llmq_partial_t *out = out_;
    bool matched;
    llmq_decode_result_t rc = s_ids (dec, k, v, &out->id, &out->has_rid, &out->rid, &matched);
    if (matched)
        return rc;
    if (llmq_key_is (k, "seq"))
        return llmq_field_u32 (dec, "seq", v, &out->seq, NULL);
    if (llmq_key_is (k, "text"))
        return llmq_field_str (dec, "text", v, 0, LLMQ_MAX_STRING, &out->text);
    return LLMQ_DECODE_OK;
}

llmq_decode_result_t
llmq_decode_partial (llmq_decoder_t *dec, const void *frame, size_t size,
                     llmq_partial_t *out)
{
    memset (out, 0, sizeof *out);
    llmq_decode_result_t rc = s_decode (dec, frame, size, LLMQ_CMD_PARTIAL,
                                        s_partial_field, out);
    if (rc == LLMQ_DECODE_OK)
        rc = s_need_id_or_rid (dec, out->id, out->has_rid);
    if (rc == LLMQ_DECODE_OK && !out->text.ptr)
        rc = llmq_field_missing (dec, "text");
    return rc;
}

/* ---------------------------------------------------------------------- */
//  FINAL and its nested usage/timings maps.

static llmq_decode_result_t
s_usage (llmq_decoder_t *dec, const msgpack_object *o, llmq_usage_t *out)
{
    if (o->type == MSGPACK_OBJECT_NIL)
        return LLMQ_DECODE_OK;
    if (o->type != MSGPACK_OBJECT_MAP)
        return llmq_field_fail (dec, LLMQ_DECODE_WRONG_TYPE, "usage", "expected a map");
    llmq_decode_result_t rc = LLMQ_DECODE_OK;
    for (uint32_t i = 0; rc == LLMQ_DECODE_OK && i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr [i].key;
        const msgpack_object *v = &o->via.map.ptr [i].val;
        if (llmq_key_is (k, "prompt_tokens"))
            rc = llmq_field_u32 (dec, "usage.prompt_tokens", v, &out->prompt_tokens, NULL);
        else
        if (llmq_key_is (k, "completion_tokens"))
            rc = llmq_field_u32 (dec, "usage.completion_tokens", v,
                                 &out->completion_tokens, NULL);
    }
    return rc;
}

static llmq_decode_result_t
s_timings (llmq_decoder_t *dec, const msgpack_object *o, llmq_timings_t *out)
{
    if (o->type == MSGPACK_OBJECT_NIL)
        return LLMQ_DECODE_OK;
    if (o->type != MSGPACK_OBJECT_MAP)
        return llmq_field_fail (dec, LLMQ_DECODE_WRONG_TYPE, "timings", "expected a map");
    //  Key lengths are stored, not strlen'd: this runs for every FINAL.
#define S_TIMING(name) { #name, sizeof #name - 1, "timings." #name, \
                         offsetof (llmq_timings_t, name) }
    static const struct {
        const char *key;            //  wire key
        uint32_t len;               //  its length
        const char *path;           //  name in error details
        size_t offset;              //  where it goes in llmq_timings_t
    } fields [] = {
        S_TIMING (queued_us), S_TIMING (ttft_us), S_TIMING (backend_us),
        S_TIMING (total_us), S_TIMING (broker_us)
    };
#undef S_TIMING
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr [i].key;
        if (k->type != MSGPACK_OBJECT_STR)
            continue;
        for (size_t f = 0; f < sizeof fields / sizeof fields [0]; f++) {
            if (k->via.str.size != fields [f].len
            ||  memcmp (k->via.str.ptr, fields [f].key, fields [f].len) != 0)
                continue;
            uint64_t *slot = (uint64_t *) ((char *) out + fields [f].offset);
            llmq_decode_result_t rc = llmq_field_uint (dec, fields [f].path,
                                                       &o->via.map.ptr [i].val,
                                                       UINT64_MAX, slot, NULL);
            if (rc)
                return rc;
        }
    }
    return LLMQ_DECODE_OK;
}

static llmq_decode_result_t
s_final_field (llmq_decoder_t *dec, const msgpack_object *k, const msgpack_object *v,
               void *out_)
{
    llmq_final_t *out = out_;
    bool matched;
    llmq_decode_result_t rc = s_ids (dec, k, v, &out->id, &out->has_rid, &out->rid, &matched);
    if (matched)
        return rc;
    if (llmq_key_is (k, "model"))
        return llmq_field_str (dec, "model", v, 0, LLMQ_MAX_NAME, &out->model);
    if (llmq_key_is (k, "text"))
        return llmq_field_str (dec, "text", v, 0, LLMQ_MAX_STRING, &out->text);
    if (llmq_key_is (k, "finish_reason"))
        return llmq_field_str (dec, "finish_reason", v, 0, LLMQ_MAX_NAME, &out->finish_reason);
    if (llmq_key_is (k, "usage"))
        return s_usage (dec, v, &out->usage);
    if (llmq_key_is (k, "cached"))
        return llmq_field_bool (dec, "cached", v, &out->cached);
    if (llmq_key_is (k, "worker"))
        return llmq_field_str (dec, "worker", v, 0, LLMQ_MAX_ID, &out->worker);
    if (llmq_key_is (k, "attempts"))
        return llmq_field_u32 (dec, "attempts", v, &out->attempts, NULL);
    if (llmq_key_is (k, "timings"))
        return s_timings (dec, v, &out->timings);
    return LLMQ_DECODE_OK;
}

llmq_decode_result_t
llmq_decode_final (llmq_decoder_t *dec, const void *frame, size_t size, llmq_final_t *out)
{
    memset (out, 0, sizeof *out);
    llmq_decode_result_t rc = s_decode (dec, frame, size, LLMQ_CMD_FINAL,
                                        s_final_field, out);
    if (rc == LLMQ_DECODE_OK)
        rc = s_need_id_or_rid (dec, out->id, out->has_rid);
    if (rc == LLMQ_DECODE_OK && !out->text.ptr)
        rc = llmq_field_missing (dec, "text");
    return rc;
}

/* ---------------------------------------------------------------------- */

//  The ERROR being filled, plus whether "code" was seen (it is required).
typedef struct {
    llmq_error_t *msg;
    bool has_code;
} s_error_out_t;

static llmq_decode_result_t
s_error_field (llmq_decoder_t *dec, const msgpack_object *k, const msgpack_object *v,
               void *out_)
{
    s_error_out_t *state = out_;
    llmq_error_t *out = state->msg;
    bool matched;
    llmq_decode_result_t rc = s_ids (dec, k, v, &out->id, &out->has_rid, &out->rid, &matched);
    if (matched)
        return rc;
    //  A code we do not know yet is still a valid error: new codes may be
    //  added within the version.
    if (llmq_key_is (k, "code"))
        return llmq_field_u32 (dec, "code", v, &out->code, &state->has_code);
    if (llmq_key_is (k, "message"))
        return llmq_field_str (dec, "message", v, 0, LLMQ_MAX_STRING, &out->message);
    if (llmq_key_is (k, "retry_after_ms"))
        return llmq_field_u32 (dec, "retry_after_ms", v, &out->retry_after_ms,
                               &out->has_retry_after_ms);
    if (llmq_key_is (k, "upstream_status"))
        return llmq_field_u32 (dec, "upstream_status", v, &out->upstream_status,
                               &out->has_upstream_status);
    return LLMQ_DECODE_OK;          //  "error" (the name) is for humans only
}

llmq_decode_result_t
llmq_decode_error (llmq_decoder_t *dec, const void *frame, size_t size, llmq_error_t *out)
{
    memset (out, 0, sizeof *out);
    s_error_out_t state = { out, false };
    llmq_decode_result_t rc = s_decode (dec, frame, size, LLMQ_CMD_ERROR,
                                        s_error_field, &state);
    if (rc == LLMQ_DECODE_OK && !state.has_code)
        rc = llmq_field_missing (dec, "code");
    return rc;
}

/* ---------------------------------------------------------------------- */
//  Worker side: READY, HEARTBEAT, DISCONNECT.

static llmq_decode_result_t
s_models (llmq_decoder_t *dec, const msgpack_object *o, llmq_ready_t *out)
{
    if (o->type == MSGPACK_OBJECT_NIL)
        return LLMQ_DECODE_OK;
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return llmq_field_fail (dec, LLMQ_DECODE_WRONG_TYPE, "models", "expected an array");
    if (o->via.array.size == 0)
        return llmq_field_fail (dec, LLMQ_DECODE_OUT_OF_RANGE, "models",
                                "needs at least one model");
    if (o->via.array.size > LLMQ_MAX_MODELS)
        return llmq_field_fail (dec, LLMQ_DECODE_TOO_MANY, "models",
                                "more models than the limit (64)");
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *m = &o->via.array.ptr [i];
        if (m->type != MSGPACK_OBJECT_STR)
            return llmq_field_fail (dec, LLMQ_DECODE_WRONG_TYPE, "models",
                                    "expected an array of strings");
        llmq_decode_result_t rc = llmq_field_str (dec, "models", m, 1, LLMQ_MAX_NAME,
                                                  &out->models [i]);
        if (rc)
            return rc;
    }
    out->n_models = o->via.array.size;
    return LLMQ_DECODE_OK;
}

static llmq_decode_result_t
s_ready_field (llmq_decoder_t *dec, const msgpack_object *k, const msgpack_object *v,
               void *out_)
{
    llmq_ready_t *out = out_;
    if (llmq_key_is (k, "worker"))
        return llmq_field_str (dec, "worker", v, 1, LLMQ_MAX_ID, &out->worker_id);
    if (llmq_key_is (k, "models"))
        return s_models (dec, v, out);
    if (llmq_key_is (k, "slots")) {
        llmq_decode_result_t rc = llmq_field_u32 (dec, "slots", v, &out->slots, NULL);
        if (rc == LLMQ_DECODE_OK && v->type != MSGPACK_OBJECT_NIL && out->slots == 0)
            rc = llmq_field_fail (dec, LLMQ_DECODE_OUT_OF_RANGE, "slots", "must be at least 1");
        return rc;
    }
    if (llmq_key_is (k, "version"))
        return llmq_field_str (dec, "version", v, 0, LLMQ_MAX_NAME, &out->version);
    return LLMQ_DECODE_OK;
}

llmq_decode_result_t
llmq_decode_ready (llmq_decoder_t *dec, const void *frame, size_t size, llmq_ready_t *out)
{
    memset (out, 0, sizeof *out);
    llmq_decode_result_t rc = s_decode (dec, frame, size, LLMQ_CMD_READY,
                                        s_ready_field, out);
    if (rc == LLMQ_DECODE_OK && !out->worker_id.ptr)
        rc = llmq_field_missing (dec, "worker");
    if (rc == LLMQ_DECODE_OK && out->n_models == 0)
        rc = llmq_field_missing (dec, "models");
    if (rc == LLMQ_DECODE_OK && out->slots == 0)
        rc = llmq_field_missing (dec, "slots");
    return rc;
}

static llmq_decode_result_t
s_backend (llmq_decoder_t *dec, const msgpack_object *o, uint32_t *out)
{
    llmq_str_t s = { NULL, 0 };
    llmq_decode_result_t rc = llmq_field_str (dec, "backend", o, 0, LLMQ_MAX_NAME, &s);
    if (rc || !s.ptr)
        return rc;
    for (uint32_t b = LLMQ_BACKEND_OK; b <= LLMQ_BACKEND_DOWN; b++)
        if (llmq_str_eq (s, llmq_backend_state_name (b))) {
            *out = b;
            return LLMQ_DECODE_OK;
        }
    return llmq_field_fail (dec, LLMQ_DECODE_OUT_OF_RANGE, "backend",
                            "expected ok, degraded or down");
}

static llmq_decode_result_t
s_heartbeat_field (llmq_decoder_t *dec, const msgpack_object *k, const msgpack_object *v,
                   void *out_)
{
    llmq_heartbeat_t *out = out_;
    if (llmq_key_is (k, "in_flight"))
        return llmq_field_u32 (dec, "in_flight", v, &out->in_flight, NULL);
    if (llmq_key_is (k, "free_slots"))
        return llmq_field_u32 (dec, "free_slots", v, &out->free_slots, NULL);
    if (llmq_key_is (k, "ttft_ewma_us"))
        return llmq_field_uint (dec, "ttft_ewma_us", v, UINT64_MAX, &out->ttft_ewma_us, NULL);
    if (llmq_key_is (k, "total_ewma_us"))
        return llmq_field_uint (dec, "total_ewma_us", v, UINT64_MAX, &out->total_ewma_us, NULL);
    if (llmq_key_is (k, "error_rate"))
        return llmq_field_double (dec, "error_rate", v, 0, 1, false, &out->error_rate, NULL);
    if (llmq_key_is (k, "upstream_429"))
        return llmq_field_u32 (dec, "upstream_429", v, &out->upstream_429, NULL);
    if (llmq_key_is (k, "backend"))
        return s_backend (dec, v, &out->backend_state);
    if (llmq_key_is (k, "draining"))
        return llmq_field_bool (dec, "draining", v, &out->draining);
    return LLMQ_DECODE_OK;
}

llmq_decode_result_t
llmq_decode_heartbeat (llmq_decoder_t *dec, const void *frame, size_t size,
                       llmq_heartbeat_t *out)
{
    memset (out, 0, sizeof *out);
    return s_decode (dec, frame, size, LLMQ_CMD_HEARTBEAT, s_heartbeat_field, out);
}

static llmq_decode_result_t
s_disconnect_field (llmq_decoder_t *dec, const msgpack_object *k, const msgpack_object *v,
                    void *out_)
{
    llmq_disconnect_t *out = out_;
    if (llmq_key_is (k, "reason"))
        return llmq_field_str (dec, "reason", v, 0, LLMQ_MAX_STRING, &out->reason);
    return LLMQ_DECODE_OK;
}

llmq_decode_result_t
llmq_decode_disconnect (llmq_decoder_t *dec, const void *frame, size_t size,
                        llmq_disconnect_t *out)
{
    memset (out, 0, sizeof *out);
    return s_decode (dec, frame, size, LLMQ_CMD_DISCONNECT, s_disconnect_field, out);
}
