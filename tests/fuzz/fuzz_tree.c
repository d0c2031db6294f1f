/*  fuzz_tree.c -- libFuzzer target for the one-pass parser (proto/tree.c),
    differential against the two-pass path it replaced (llmq_scan, then
    msgpack_unpack).

    On every input both must agree on the result code and its detail; when
    the input is good, msgpack_unpack runs too and the two trees must be
    equal node by node, strings pointing at the same input bytes. The
    first input byte picks tight or protocol limits, so the depth and
    object limits are reached as well.
*/
#include "llmq_proto_int.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Not assert(): fuzz builds are release builds (NDEBUG).
#define CHECK(x) do { if (!(x)) { \
        fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x); \
        abort (); } } while (0)

static bool
s_same (const msgpack_object *a, const msgpack_object *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
        case MSGPACK_OBJECT_NIL:
            return true;
        case MSGPACK_OBJECT_BOOLEAN:
            return a->via.boolean == b->via.boolean;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            return a->via.u64 == b->via.u64;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            return a->via.i64 == b->via.i64;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            return memcmp (&a->via.f64, &b->via.f64, sizeof (double)) == 0;
        case MSGPACK_OBJECT_STR:
        case MSGPACK_OBJECT_BIN:
            return a->via.str.size == b->via.str.size
                && (a->via.str.size == 0 || a->via.str.ptr == b->via.str.ptr);
        case MSGPACK_OBJECT_EXT:
            return a->via.ext.type == b->via.ext.type && a->via.ext.size == b->via.ext.size
                && (a->via.ext.size == 0 || a->via.ext.ptr == b->via.ext.ptr);
        case MSGPACK_OBJECT_ARRAY:
            if (a->via.array.size != b->via.array.size)
                return false;
            for (uint32_t i = 0; i < a->via.array.size; i++)
                if (!s_same (&a->via.array.ptr [i], &b->via.array.ptr [i]))
                    return false;
            return true;
        case MSGPACK_OBJECT_MAP:
            if (a->via.map.size != b->via.map.size)
                return false;
            for (uint32_t i = 0; i < a->via.map.size; i++)
                if (!s_same (&a->via.map.ptr [i].key, &b->via.map.ptr [i].key)
                ||  !s_same (&a->via.map.ptr [i].val, &b->via.map.ptr [i].val))
                    return false;
            return true;
    }
    return false;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    llmq_scan_limits_t limits = { LLMQ_MAX_DEPTH, LLMQ_MAX_ELEMENTS };
    if (data [0] & 1) {
        limits.max_depth = 1 + (data [0] >> 1) % LLMQ_MAX_DEPTH;
        limits.max_objects = 1 + (data [0] >> 5) * 3;
    }
    data++;
    size--;

    char scan_err [256] = "", tree_err [256] = "";
    llmq_decode_result_t scan_rc = llmq_scan (data, size, &limits, NULL,
                                              scan_err, sizeof scan_err);
    msgpack_zone zone;
    CHECK (msgpack_zone_init (&zone, 1024));
    msgpack_object tree;
    llmq_decode_result_t tree_rc = llmq_tree_parse (data, size, &limits, &zone, &tree,
                                                    tree_err, sizeof tree_err);
    CHECK (tree_rc == scan_rc);
    if (scan_rc == LLMQ_DECODE_OK) {
        msgpack_zone ref_zone;
        CHECK (msgpack_zone_init (&ref_zone, 1024));
        msgpack_object ref;
        size_t off = 0;
        CHECK (msgpack_unpack ((const char *) data, size, &off, &ref_zone, &ref)
               == MSGPACK_UNPACK_SUCCESS);
        CHECK (off == size);
        CHECK (s_same (&tree, &ref));
        msgpack_zone_destroy (&ref_zone);
    }
    else
        CHECK (strcmp (tree_err, scan_err) == 0);
    msgpack_zone_destroy (&zone);
    return 0;
}
