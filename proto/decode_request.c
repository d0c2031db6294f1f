/*  decode_request.c -- REQUEST and DISPATCH (which embeds a REQUEST body).

    The request is the one message with real structure (chat messages,
    stop sequences, enums given as names or numbers), and it is decoded on
    the broker's hot path and again on the worker, so both share one
    reader: llmq_request_from_object. The chat messages array lives in the
    decoder's zone; every string points into the frame.
*/
#include "llmq_proto_int.h"

#include <stdio.h>
#include <string.h>

//  One {role, content, name} map into m; the caller has set the scope to
//  this message's index so failures read "messages[3].content".
static llmq_decode_result_t
s_chat_msg (llmq_decoder_t *dec, const msgpack_object *o, llmq_chat_msg_t *m)
{
    memset (m, 0, sizeof *m);
    if (o->type != MSGPACK_OBJECT_MAP)
        return llmq_field_fail (dec, LLMQ_DECODE_WRONG_TYPE, NULL, "expected a map");
    llmq_decode_result_t rc = LLMQ_DECODE_OK;
    for (uint32_t i = 0; i < o->via.map.size && rc == LLMQ_DECODE_OK; i++) {
        const msgpack_object *k = &o->via.map.ptr [i].key;
        const msgpack_object *v = &o->via.map.ptr [i].val;
        if (llmq_key_is (k, "role"))
            rc = llmq_field_str (dec, "role", v, 1, LLMQ_MAX_NAME, &m->role);
        else
        if (llmq_key_is (k, "content"))
            rc = llmq_field_str (dec, "content", v, 0, LLMQ_MAX_STRING, &m->content);
        else
        if (llmq_key_is (k, "name"))
            rc = llmq_field_str (dec, "name", v, 0, LLMQ_MAX_NAME, &m->name);
    }
    if (rc == LLMQ_DECODE_OK && !m->role.ptr)
        rc = llmq_field_missing (dec, "role");
    if (rc == LLMQ_DECODE_OK && !m->content.ptr)
        rc = llmq_field_missing (dec, "content");
    return rc;
}

static llmq_decode_result_t
s_messages (llmq_decoder_t *dec, const msgpack_object *o, llmq_wire_request_t *out)
{
    if (o->type == MSGPACK_OBJECT_NIL)
        return LLMQ_DECODE_OK;      //  reported as missing by the caller
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return llmq_field_fail (dec, LLMQ_DECODE_WRONG_TYPE, "messages", "expected an array");
    const uint32_t n = o->via.array.size;
    if (n == 0)
        return llmq_field_fail (dec, LLMQ_DECODE_OUT_OF_RANGE, "messages",
                                "needs at least one message");
    if (n > LLMQ_MAX_MESSAGES)
        return llmq_field_fail (dec, LLMQ_DECODE_TOO_MANY, "messages",
                                "more messages than the limit");
    llmq_chat_msg_t *msgs = msgpack_zone_malloc (llmq_decoder_zone (dec), n * sizeof *msgs);
    if (!msgs)
        return llmq_decoder_fail (dec, LLMQ_DECODE_NO_MEMORY, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        llmq_field_scope (dec, NULL, (int) i);
        llmq_decode_result_t rc = s_chat_msg (dec, &o->via.array.ptr [i], &msgs [i]);
        if (rc)
            return rc;
    }
    llmq_field_scope (dec, NULL, -1);
    out->messages = msgs;
    out->n_messages = n;
    return LLMQ_DECODE_OK;
}

//  "stop": one string or an array of up to LLMQ_MAX_STOP strings.
static llmq_decode_result_t
s_stop (llmq_decoder_t *dec, const msgpack_object *o, llmq_wire_request_t *out)
{
    out->n_stop = 0;
    if (o->type == MSGPACK_OBJECT_NIL)
        return LLMQ_DECODE_OK;
    if (o->type == MSGPACK_OBJECT_STR) {
        out->n_stop = 1;
        return llmq_field_str (dec, "stop", o, 0, LLMQ_MAX_NAME, &out->stop [0]);
    }
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return llmq_field_fail (dec, LLMQ_DECODE_WRONG_TYPE, "stop",
                                "expected a string or an array of strings");
    if (o->via.array.size > LLMQ_MAX_STOP)
        return llmq_field_fail (dec, LLMQ_DECODE_TOO_MANY, "stop",
                                "more stop sequences than the limit (8)");
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *s = &o->via.array.ptr [i];
        if (s->type != MSGPACK_OBJECT_STR)
            return llmq_field_fail (dec, LLMQ_DECODE_WRONG_TYPE, "stop",
                                    "expected an array of strings");
        llmq_decode_result_t rc = llmq_field_str (dec, "stop", s, 0, LLMQ_MAX_NAME,
                                                  &out->stop [i]);
        if (rc)
            return rc;
    }
    out->n_stop = o->via.array.size;
    return LLMQ_DECODE_OK;
}

//  "priority": 0..4 or a name ("high").
static llmq_decode_result_t
s_priority (llmq_decoder_t *dec, const msgpack_object *o, uint32_t *out)
{
    if (o->type == MSGPACK_OBJECT_STR) {
        for (uint32_t p = 0; p < LLMQ_PRIO__COUNT; p++) {
            llmq_str_t s = { o->via.str.ptr, o->via.str.size };
            if (llmq_str_eq (s, llmq_priority_name (p))) {
                *out = p;
                return LLMQ_DECODE_OK;
            }
        }
        return llmq_field_fail (dec, LLMQ_DECODE_OUT_OF_RANGE, "priority",
                                "expected critical, high, normal, low or batch");
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER
    ||  o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        uint64_t p = 0;
        if (llmq_field_uint (dec, "priority", o, LLMQ_PRIO__COUNT - 1, &p, NULL))
            return llmq_field_fail (dec, LLMQ_DECODE_OUT_OF_RANGE, "priority",
                                    "must be 0..4");
        *out = (uint32_t) p;
        return LLMQ_DECODE_OK;
    }
    if (o->type == MSGPACK_OBJECT_NIL)
        return LLMQ_DECODE_OK;
    return llmq_field_fail (dec, LLMQ_DECODE_WRONG_TYPE, "priority",
                            "expected an unsigned integer or a name");
}

//  "cache": a policy name.
static llmq_decode_result_t
s_cache (llmq_decoder_t *dec, const msgpack_object *o, uint32_t *out)
{
    llmq_str_t s = { NULL, 0 };
    llmq_decode_result_t rc = llmq_field_str (dec, "cache", o, 0, LLMQ_MAX_NAME, &s);
    if (rc || !s.ptr)
        return rc;
    for (uint32_t c = LLMQ_CACHE_DEFAULT; c <= LLMQ_CACHE_ONLY_IF_CACHED; c++)
        if (llmq_str_eq (s, llmq_cache_policy_name (c))) {
            *out = c;
            return LLMQ_DECODE_OK;
        }
    return llmq_field_fail (dec, LLMQ_DECODE_OUT_OF_RANGE, "cache",
                            "expected default, bypass, refresh or only-if-cached");
}

//  One key/value of the request map; unknown keys are ignored.
static llmq_decode_result_t
s_request_field (llmq_decoder_t *dec, const msgpack_object *k,
                 const msgpack_object *v, llmq_wire_request_t *out)
{
    if (llmq_key_is (k, "id"))
        return llmq_field_str (dec, "id", v, 1, LLMQ_MAX_ID, &out->id);
    if (llmq_key_is (k, "model"))
        return llmq_field_str (dec, "model", v, 1, LLMQ_MAX_NAME, &out->model);
    if (llmq_key_is (k, "messages"))
        return s_messages (dec, v, out);
    if (llmq_key_is (k, "max_tokens"))
        return llmq_field_u32 (dec, "max_tokens", v, &out->max_tokens, &out->has_max_tokens);
    if (llmq_key_is (k, "temperature"))
        return llmq_field_double (dec, "temperature", v, 0, 2, false,
                                  &out->temperature, &out->has_temperature);
    if (llmq_key_is (k, "top_p"))
        return llmq_field_double (dec, "top_p", v, 0, 1, true, &out->top_p, &out->has_top_p);
    if (llmq_key_is (k, "stop"))
        return s_stop (dec, v, out);
    if (llmq_key_is (k, "seed"))
        return llmq_field_int (dec, "seed", v, &out->seed, &out->has_seed);
    if (llmq_key_is (k, "stream"))
        return llmq_field_bool (dec, "stream", v, &out->stream);
    if (llmq_key_is (k, "priority"))
        return s_priority (dec, v, &out->priority);
    if (llmq_key_is (k, "timeout_ms"))
        return llmq_field_u32 (dec, "timeout_ms", v, &out->timeout_ms, NULL);
    if (llmq_key_is (k, "cache"))
        return s_cache (dec, v, &out->cache);
    if (llmq_key_is (k, "cache_ttl_ms"))
        return llmq_field_u32 (dec, "cache_ttl_ms", v, &out->cache_ttl_ms,
                               &out->has_cache_ttl_ms);
    if (llmq_key_is (k, "tenant"))
        return llmq_field_str (dec, "tenant", v, 0, LLMQ_MAX_NAME, &out->tenant);
    if (llmq_key_is (k, "metadata")
    &&  v->type != MSGPACK_OBJECT_MAP && v->type != MSGPACK_OBJECT_NIL)
        return llmq_field_fail (dec, LLMQ_DECODE_WRONG_TYPE, "metadata", "expected a map");
    return LLMQ_DECODE_OK;
}

llmq_decode_result_t
llmq_request_from_object (llmq_decoder_t *dec, const msgpack_object *map,
                          llmq_wire_request_t *out)
{
    memset (out, 0, sizeof *out);
    out->priority = LLMQ_PRIO_NORMAL;
    out->cache = LLMQ_CACHE_DEFAULT;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        llmq_decode_result_t rc = s_request_field (dec, &map->via.map.ptr [i].key,
                                                   &map->via.map.ptr [i].val, out);
        if (rc)
            return rc;
    }
    if (!out->id.ptr)
        return llmq_field_missing (dec, "id");
    if (!out->model.ptr)
        return llmq_field_missing (dec, "model");
    if (!out->messages)
        return llmq_field_missing (dec, "messages");
    return LLMQ_DECODE_OK;
}

llmq_decode_result_t
llmq_decode_request (llmq_decoder_t *dec, const void *frame, size_t size,
                     llmq_wire_request_t *out)
{
    msgpack_object body;
    llmq_decode_result_t rc = llmq_decoder_unpack (dec, frame, size, LLMQ_CMD_REQUEST,
                                                   false, &body);
    if (rc == LLMQ_DECODE_OK)
        rc = llmq_request_from_object (dec, &body, out);
    if (rc == LLMQ_DECODE_OK) {
        out->raw = (const char *) frame + LLMQ_HEADER_SIZE;
        out->raw_size = size - LLMQ_HEADER_SIZE;
    }
    return rc;
}

/* ---------------------------------------------------------------------- */
//  DISPATCH: rid, attempt, deadline_ms and the client's request map.

llmq_decode_result_t
llmq_decode_dispatch (llmq_decoder_t *dec, const void *frame, size_t size,
                      llmq_dispatch_t *out)
{
    memset (out, 0, sizeof *out);
    msgpack_object body;
    llmq_decode_result_t rc = llmq_decoder_unpack (dec, frame, size, LLMQ_CMD_DISPATCH,
                                                   false, &body);
    if (rc)
        return rc;
    bool has_rid = false;
    const msgpack_object *request = NULL;
    for (uint32_t i = 0; i < body.via.map.size && rc == LLMQ_DECODE_OK; i++) {
        const msgpack_object *k = &body.via.map.ptr [i].key;
        const msgpack_object *v = &body.via.map.ptr [i].val;
        if (llmq_key_is (k, "rid"))
            rc = llmq_field_uint (dec, "rid", v, UINT64_MAX, &out->rid, &has_rid);
        else
        if (llmq_key_is (k, "attempt"))
            rc = llmq_field_u32 (dec, "attempt", v, &out->attempt, NULL);
        else
        if (llmq_key_is (k, "deadline_ms"))
            rc = llmq_field_u32 (dec, "deadline_ms", v, &out->deadline_ms, NULL);
        else
        if (llmq_key_is (k, "request")) {
            //  The last "request" counts, as for the raw span found below.
            request = v->type == MSGPACK_OBJECT_MAP ? v : NULL;
            if (v->type != MSGPACK_OBJECT_MAP && v->type != MSGPACK_OBJECT_NIL)
                rc = llmq_field_fail (dec, LLMQ_DECODE_WRONG_TYPE, "request", "expected a map");
        }
    }
    if (rc)
        return rc;
    if (!has_rid)
        return llmq_field_missing (dec, "rid");
    if (!request)
        return llmq_field_missing (dec, "request");
    llmq_field_scope (dec, "request.", -1);
    rc = llmq_request_from_object (dec, request, &out->req);
    if (rc)
        return rc;
    //  The embedded map's bytes, so a worker (or a test) can forward them.
    const uint8_t *data = (const uint8_t *) frame + LLMQ_HEADER_SIZE;
    size_t offset = 0, length = 0;
    int found = llmq_scan_map_value (data, size - LLMQ_HEADER_SIZE, "request",
                                     &offset, &length);
    if (found != 0)
        return llmq_decoder_fail (dec, LLMQ_DECODE_MALFORMED, "request span not found");
    out->req.raw = data + offset;
    out->req.raw_size = length;
    out->req_raw = out->req.raw;
    out->req_raw_size = length;
    return LLMQ_DECODE_OK;
}
