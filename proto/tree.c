/*  tree.c -- hostile msgpack bytes to a msgpack_object tree, in one pass.

    This replaces "llmq_scan, then msgpack_unpack" on the decode path.
    msgpack-c's unpacker is a general streaming state machine (its own
    stack, a callback per object, truncation checks at every byte) that
    trusts the counts it reads, so it needed a full validating pre-scan
    first: two walks over every message. Here one walk does both. Every
    object goes through exactly the checks llmq_scan makes, in the same
    order and with the same results and details (it reads headers with
    the same llmq_read_head), and the tree is written into the zone as it
    goes.

    Allocation stays bounded by the input, as with the pre-scan: a
    container's storage is allocated only after its count passed the
    scan's checks (every promised item, counting those of all open
    containers, needs at least one of the bytes left; objects seen plus
    promised stay under the object limit). So a 5-byte input claiming 4
    billion elements is rejected before anything is allocated, and the
    zone never holds more than one msgpack_object (24 bytes) per input
    byte.

    The tree is the one msgpack_unpack gives (the decoders and
    llmq_frame_to_json read it unchanged): strings, bins and exts point
    into the input; signed integers that are not negative become
    POSITIVE_INTEGER, as msgpack-c does; float32 is widened into via.f64;
    empty arrays and maps have a NULL ptr.

    Cost: O(bytes) time, one pass. Recursion is bounded by the depth
    limit (at most LLMQ_MAX_DEPTH), checked before each descent.
*/
#include "llmq_proto_int.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

//  Big-endian loads of 2, 4 and 8 bytes.
static inline uint16_t
s_be16 (const uint8_t *p)
{
    return (uint16_t) ((p [0] << 8) | p [1]);
}

static inline uint32_t
s_be32 (const uint8_t *p)
{
    return ((uint32_t) p [0] << 24) | ((uint32_t) p [1] << 16)
         | ((uint32_t) p [2] << 8) | p [3];
}

static inline uint64_t
s_be64 (const uint8_t *p)
{
    return ((uint64_t) s_be32 (p) << 32) | s_be32 (p + 4);
}

//  A signed value: negative ones stay signed, the rest are unsigned, as
//  msgpack-c reports them.
static inline void
s_int (msgpack_object *o, int64_t v)
{
    if (v < 0) {
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o->via.i64 = v;
    }
    else {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = (uint64_t) v;
    }
}

typedef struct {
    const uint8_t *data;            //  The input
    size_t size;                    //  Its length
    size_t pos;                     //  Next byte to read
    msgpack_zone *zone;             //  Where arrays and maps go
    size_t max_depth;               //  Limits of the scan
    size_t max_objects;
    size_t depth;                   //  Containers open around pos
    uint64_t pending;               //  Items they still promise
    size_t objects;                 //  Objects seen so far
    char *err;                      //  Failure detail goes here
    size_t errlen;                  //  Its size
} s_tree_t;

//  printf into the detail buffer and return rc (the scan's wording).
#define S_FAIL(t, rc, ...) do { \
        if ((t)->err && (t)->errlen) snprintf ((t)->err, (t)->errlen, __VA_ARGS__); \
        return (rc); \
    } while (0)

static llmq_decode_result_t s_object_slow (s_tree_t *t, msgpack_object *o,
                                           uint8_t b);
static inline llmq_decode_result_t s_object (s_tree_t *t, msgpack_object *o);

//  The n elements of an array (items checked by the caller).
static llmq_decode_result_t
s_array (s_tree_t *t, msgpack_object *o, uint32_t n)
{
    o->type = MSGPACK_OBJECT_ARRAY;
    o->via.array.size = n;
    o->via.array.ptr = NULL;
    if (n == 0)
        return LLMQ_DECODE_OK;
    msgpack_object *items = msgpack_zone_malloc (t->zone, n * sizeof *items);
    if (!items)
        S_FAIL (t, LLMQ_DECODE_NO_MEMORY, "out of memory");
    o->via.array.ptr = items;
    t->depth++;
    for (uint32_t i = 0; i < n; i++) {
        llmq_decode_result_t rc = s_object (t, &items [i]);
        if (rc)
            return rc;
    }
    t->depth--;
    return LLMQ_DECODE_OK;
}

//  The n pairs of a map (items checked by the caller).
static llmq_decode_result_t
s_map (s_tree_t *t, msgpack_object *o, uint32_t n)
{
    o->type = MSGPACK_OBJECT_MAP;
    o->via.map.size = n;
    o->via.map.ptr = NULL;
    if (n == 0)
        return LLMQ_DECODE_OK;
    msgpack_object_kv *kv = msgpack_zone_malloc (t->zone, n * sizeof *kv);
    if (!kv)
        S_FAIL (t, LLMQ_DECODE_NO_MEMORY, "out of memory");
    o->via.map.ptr = kv;
    t->depth++;
    for (uint32_t i = 0; i < n; i++) {
        llmq_decode_result_t rc = s_object (t, &kv [i].key);
        if (rc == LLMQ_DECODE_OK)
            rc = s_object (t, &kv [i].val);
        if (rc)
            return rc;
    }
    t->depth--;
    return LLMQ_DECODE_OK;
}

//  The scalar whose format byte is b and whose payload (len bytes) starts
//  at p; the scan's checks have passed.
static void
s_scalar (msgpack_object *o, uint8_t b, const uint8_t *p, uint64_t len)
{
    if (b <= 0x7f) {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = b;
        return;
    }
    if (b >= 0xe0) {
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o->via.i64 = (int8_t) b;
        return;
    }
    if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb)) {            //  str
        o->type = MSGPACK_OBJECT_STR;
        o->via.str.size = (uint32_t) len;
        o->via.str.ptr = (const char *) p;
        return;
    }
    switch (b) {
        case 0xc0: o->type = MSGPACK_OBJECT_NIL; return;
        case 0xc2: o->type = MSGPACK_OBJECT_BOOLEAN; o->via.boolean = false; return;
        case 0xc3: o->type = MSGPACK_OBJECT_BOOLEAN; o->via.boolean = true; return;
        case 0xc4: case 0xc5: case 0xc6:                    //  bin
            o->type = MSGPACK_OBJECT_BIN;
            o->via.bin.size = (uint32_t) len;
            o->via.bin.ptr = (const char *) p;
            return;
        case 0xca: {
            uint32_t bits = s_be32 (p);
            float f;
            memcpy (&f, &bits, sizeof f);
            o->type = MSGPACK_OBJECT_FLOAT32;
            o->via.f64 = f;
            return;
        }
        case 0xcb: {
            uint64_t bits = s_be64 (p);
            double d;
            memcpy (&d, &bits, sizeof d);
            o->type = MSGPACK_OBJECT_FLOAT64;
            o->via.f64 = d;
            return;
        }
        case 0xcc: case 0xcd: case 0xce: case 0xcf:         //  uint 8..64
            o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
            o->via.u64 = llmq_be_read (p, (size_t) len);
            return;
        case 0xd0: s_int (o, (int8_t) p [0]); return;
        case 0xd1: s_int (o, (int16_t) s_be16 (p)); return;
        case 0xd2: s_int (o, (int32_t) s_be32 (p)); return;
        case 0xd3: s_int (o, (int64_t) s_be64 (p)); return;
        default:                    //  ext 8/16/32 (0xc7..0xc9), fixext (0xd4..0xd8)
            //  The payload is the type byte then the data (len >= 1).
            o->type = MSGPACK_OBJECT_EXT;
            o->via.ext.type = (int8_t) p [0];
            o->via.ext.size = (uint32_t) (len - 1);
            o->via.ext.ptr = (const char *) p + 1;
            return;
    }
}

//  One object at t->pos, with llmq_scan's checks in llmq_scan's order.
//  Inline fast path for what most of every message is made of, keys and
//  small numbers (the same checks as s_object_slow, for the cases they
//  reduce to: a fixstr is never over LLMQ_MAX_STRING, a fixint has no
//  payload); everything else goes to s_object_slow.
static inline llmq_decode_result_t
s_object (s_tree_t *t, msgpack_object *o)
{
    const size_t size = t->size;
    if (t->pos >= size)
        S_FAIL (t, LLMQ_DECODE_MALFORMED, "truncated msgpack at byte %zu", t->pos);
    if (t->depth > 0)
        t->pending--;
    const uint8_t b = t->data [t->pos];
    if (b <= 0x7f || (b >= 0xa0 && b <= 0xbf)) {
        if (++t->objects > t->max_objects)
            S_FAIL (t, LLMQ_DECODE_TOO_MANY, "more than %zu objects", t->max_objects);
        t->pos++;
        if (b <= 0x7f) {
            o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
            o->via.u64 = b;
            return LLMQ_DECODE_OK;
        }
        const uint32_t len = b & 0x1f;
        if (len > size - t->pos)
            S_FAIL (t, LLMQ_DECODE_MALFORMED, "truncated msgpack at byte %zu", t->pos);
        o->type = MSGPACK_OBJECT_STR;
        o->via.str.size = len;
        o->via.str.ptr = (const char *) t->data + t->pos;
        t->pos += len;
        return LLMQ_DECODE_OK;
    }
    return s_object_slow (t, o, b);
}

//  Any other object, starting with format byte b; the bounds check and
//  the pending count are done.
static llmq_decode_result_t
s_object_slow (s_tree_t *t, msgpack_object *o, uint8_t b)
{
    const size_t size = t->size;
    llmq_head_t h;
    if (llmq_read_head (t->data, size, t->pos, &h))
        S_FAIL (t, LLMQ_DECODE_MALFORMED, "invalid msgpack at byte %zu", t->pos);
    if (++t->objects > t->max_objects)
        S_FAIL (t, LLMQ_DECODE_TOO_MANY, "more than %zu objects", t->max_objects);
    t->pos += h.head;
    if (h.container) {
        if (t->depth + 1 > t->max_depth)
            S_FAIL (t, LLMQ_DECODE_TOO_DEEP, "nesting deeper than %zu at byte %zu",
                    t->max_depth, t->pos - h.head);
        //  Every promised item needs at least one byte.
        if (h.items > size - t->pos || t->pending + h.items > size - t->pos)
            S_FAIL (t, LLMQ_DECODE_TOO_MANY, "count %llu at byte %zu exceeds the input",
                    (unsigned long long) h.items, t->pos - h.head);
        if (t->objects + t->pending + h.items > t->max_objects)
            S_FAIL (t, LLMQ_DECODE_TOO_MANY, "more than %zu objects", t->max_objects);
        t->pending += h.items;
        //  A map's items are its keys and values; the count fits 32 bits
        //  as it is below the input size (LLMQ_MAX_MSG_SIZE).
        const bool map = b <= 0x8f || b == 0xde || b == 0xdf;
        return map ? s_map (t, o, (uint32_t) (h.items / 2))
                   : s_array (t, o, (uint32_t) h.items);
    }
    if (h.payload) {
        if (h.declared > LLMQ_MAX_STRING)
            S_FAIL (t, LLMQ_DECODE_STRING_TOO_LONG, "string of %llu bytes at byte %zu",
                    (unsigned long long) h.declared, t->pos - h.head);
        if (h.payload > size - t->pos)
            S_FAIL (t, LLMQ_DECODE_MALFORMED, "truncated msgpack at byte %zu", t->pos);
    }
    s_scalar (o, b, t->data + t->pos, h.payload);
    t->pos += h.payload;
    return LLMQ_DECODE_OK;
}

llmq_decode_result_t
llmq_tree_parse (const void *data, size_t size, const llmq_scan_limits_t *limits,
                 msgpack_zone *zone, msgpack_object *out, char *err, size_t errlen)
{
    assert (limits && limits->max_depth <= LLMQ_MAX_DEPTH);
    s_tree_t t = {
        .data = data, .size = size, .zone = zone,
        .max_depth = limits->max_depth, .max_objects = limits->max_objects,
        .err = err, .errlen = errlen
    };
    llmq_decode_result_t rc = s_object (&t, out);
    if (rc)
        return rc;
    if (t.pos != size)
        S_FAIL (&t, LLMQ_DECODE_MALFORMED, "%zu trailing bytes", size - t.pos);
    return LLMQ_DECODE_OK;
}
