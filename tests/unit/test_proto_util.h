/*  test_proto_util.h -- helpers shared by the codec's unit tests.

    Tests build hostile frames by hand, so they pack msgpack directly; the
    helpers here make valid frames with the encoder and then edit them
    (remove a key, retype a value) to get exactly one defect per case.
*/
#ifndef TEST_PROTO_UTIL_H_INCLUDED
#define TEST_PROTO_UTIL_H_INCLUDED

#include "llmq_proto.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

//  A frame = 6-byte header + body bytes.
static inline void
tp_frame (llmq_buf_t *out, uint8_t cmd, const void *body, size_t size)
{
    out->size = 0;
    if (out->alloc < size + LLMQ_HEADER_SIZE + 1) {
        out->data = realloc (out->data, size + LLMQ_HEADER_SIZE + 1);
        out->alloc = size + LLMQ_HEADER_SIZE + 1;
    }
    memcpy (out->data, "LLMQ", 4);
    out->data [4] = LLMQ_PROTO_VERSION;
    out->data [5] = (char) cmd;
    if (size)
        memcpy (out->data + LLMQ_HEADER_SIZE, body, size);
    out->size = size + LLMQ_HEADER_SIZE;
}

//  A packer writing into an msgpack_sbuffer the caller owns.
typedef struct {
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
} tp_packer_t;

static inline void
tp_packer_init (tp_packer_t *p)
{
    msgpack_sbuffer_init (&p->sbuf);
    msgpack_packer_init (&p->pk, &p->sbuf, msgpack_sbuffer_write);
}

static inline void
tp_packer_free (tp_packer_t *p)
{
    msgpack_sbuffer_destroy (&p->sbuf);
}

static inline void
tp_str (msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body (pk, s, strlen (s));
}

//  Is this path component the key?
static inline bool
tp_key_is (const msgpack_object *k, const char *comp, size_t len)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == len
        && memcmp (k->via.str.ptr, comp, len) == 0;
}

//  Packs obj, editing the value at path ("messages.0.content"): removed
//  when repl is NULL, otherwise replaced by repl (or added, for a missing
//  map key). Array elements are named by their index; only map entries
//  can be removed.
static inline void
tp_pack_edited (msgpack_packer *pk, const msgpack_object *obj, const char *path,
                const msgpack_object *repl)
{
    if (!path || !*path) {
        msgpack_pack_object (pk, *obj);
        return;
    }
    const char *dot = strchr (path, '.');
    size_t len = dot ? (size_t) (dot - path) : strlen (path);
    const char *rest = dot ? dot + 1 : NULL;
    if (obj->type == MSGPACK_OBJECT_MAP) {
        uint32_t n = obj->via.map.size;
        bool found = false;
        for (uint32_t i = 0; i < obj->via.map.size; i++)
            if (tp_key_is (&obj->via.map.ptr [i].key, path, len)) {
                found = true;
                if (!rest && !repl)
                    n--;
            }
        //  Replacing a key that is not there adds it.
        bool add = !found && !rest && repl;
        msgpack_pack_map (pk, n + add);
        if (add) {
            msgpack_pack_str_with_body (pk, path, len);
            msgpack_pack_object (pk, *repl);
        }
        for (uint32_t i = 0; i < obj->via.map.size; i++) {
            const msgpack_object_kv *kv = &obj->via.map.ptr [i];
            if (!tp_key_is (&kv->key, path, len)) {
                msgpack_pack_object (pk, kv->key);
                msgpack_pack_object (pk, kv->val);
            }
            else
            if (rest) {
                msgpack_pack_object (pk, kv->key);
                tp_pack_edited (pk, &kv->val, rest, repl);
            }
            else
            if (repl) {
                msgpack_pack_object (pk, kv->key);
                msgpack_pack_object (pk, *repl);
            }
        }
    }
    else
    if (obj->type == MSGPACK_OBJECT_ARRAY) {
        uint32_t index = (uint32_t) strtoul (path, NULL, 10);
        msgpack_pack_array (pk, obj->via.array.size);
        for (uint32_t i = 0; i < obj->via.array.size; i++) {
            if (i != index)
                msgpack_pack_object (pk, obj->via.array.ptr [i]);
            else
            if (rest)
                tp_pack_edited (pk, &obj->via.array.ptr [i], rest, repl);
            else
                msgpack_pack_object (pk, repl ? *repl : obj->via.array.ptr [i]);
        }
    }
    else
        msgpack_pack_object (pk, *obj);
}

//  out = in (a whole frame) with the body edited as tp_pack_edited does.
static inline void
tp_edit (const llmq_buf_t *in, const char *path, const msgpack_object *repl,
         llmq_buf_t *out)
{
    msgpack_zone zone;
    msgpack_zone_init (&zone, 4096);
    msgpack_object body;
    size_t off = 0;
    msgpack_unpack (in->data + LLMQ_HEADER_SIZE, in->size - LLMQ_HEADER_SIZE, &off,
                    &zone, &body);
    tp_packer_t p;
    tp_packer_init (&p);
    tp_pack_edited (&p.pk, &body, path, repl);
    tp_frame (out, (uint8_t) in->data [5], p.sbuf.data, p.sbuf.size);
    tp_packer_free (&p);
    msgpack_zone_destroy (&zone);
}

//  Ready-made msgpack values for retyping.
static inline msgpack_object
tp_obj_uint (uint64_t v)
{
    msgpack_object o;
    o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    o.via.u64 = v;
    return o;
}

static inline msgpack_object
tp_obj_int (int64_t v)
{
    msgpack_object o;
    if (v < 0) {
        o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o.via.i64 = v;
    }
    else {
        o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o.via.u64 = (uint64_t) v;
    }
    return o;
}

static inline msgpack_object
tp_obj_str (const char *s)
{
    msgpack_object o;
    o.type = MSGPACK_OBJECT_STR;
    o.via.str.ptr = s;
    o.via.str.size = (uint32_t) strlen (s);
    return o;
}

static inline msgpack_object
tp_obj_double (double v)
{
    msgpack_object o;
    o.type = MSGPACK_OBJECT_FLOAT64;
    o.via.f64 = v;
    return o;
}

static inline msgpack_object
tp_obj_bool (bool v)
{
    msgpack_object o;
    o.type = MSGPACK_OBJECT_BOOLEAN;
    o.via.boolean = v;
    return o;
}

static inline msgpack_object
tp_obj_nil (void)
{
    msgpack_object o;
    o.type = MSGPACK_OBJECT_NIL;
    return o;
}

//  A message set used across the tests.
static inline void
tp_sample_request (llmq_wire_request_t *req, llmq_chat_msg_t msgs [2])
{
    memset (req, 0, sizeof *req);
    msgs [0] = (llmq_chat_msg_t) { llmq_str ("system"), llmq_str ("Be brief."), { NULL, 0 } };
    msgs [1] = (llmq_chat_msg_t) { llmq_str ("user"), llmq_str ("Hello there"), llmq_str ("ann") };
    req->id = llmq_str ("req-1");
    req->model = llmq_str ("gpt-4o-mini");
    req->messages = msgs;
    req->n_messages = 2;
    req->has_max_tokens = true;   req->max_tokens = 64;
    req->has_temperature = true;  req->temperature = 0.5;
    req->has_top_p = true;        req->top_p = 0.9;
    req->has_seed = true;         req->seed = -42;
    req->stop [0] = llmq_str ("\n\n");
    req->stop [1] = llmq_str ("END");
    req->n_stop = 2;
    req->stream = true;
    req->priority = LLMQ_PRIO_HIGH;
    req->timeout_ms = 30000;
    req->cache = LLMQ_CACHE_REFRESH;
    req->has_cache_ttl_ms = true; req->cache_ttl_ms = 60000;
    req->tenant = llmq_str ("team-a");
}

#endif
