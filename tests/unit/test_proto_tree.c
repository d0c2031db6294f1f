/*  test_proto_tree.c -- the one-pass parser (proto/tree.c) against the
    two-pass path it replaced: llmq_scan, then msgpack_unpack.

    For every input both must agree: the same result code and detail for
    hostile bytes, and for good bytes a tree equal node by node (types,
    values, and string/bin/ext pointers into the same input). Inputs are
    documents packed with msgpack-c covering every format family, plus
    every truncation and thousands of seeded random byte edits of them.
*/
#include <criterion/criterion.h>     //  first: it sets feature macros

#include "llmq_proto_int.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Deep, exact equality: msgpack_object_equal compares floats loosely and
//  ignores where strings point.
static bool
s_same_tree (const msgpack_object *a, const msgpack_object *b)
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
            return a->via.str.size == b->via.str.size
                && (a->via.str.size == 0 || a->via.str.ptr == b->via.str.ptr);
        case MSGPACK_OBJECT_BIN:
            return a->via.bin.size == b->via.bin.size
                && (a->via.bin.size == 0 || a->via.bin.ptr == b->via.bin.ptr);
        case MSGPACK_OBJECT_EXT:
            return a->via.ext.type == b->via.ext.type && a->via.ext.size == b->via.ext.size
                && (a->via.ext.size == 0 || a->via.ext.ptr == b->via.ext.ptr);
        case MSGPACK_OBJECT_ARRAY:
            if (a->via.array.size != b->via.array.size)
                return false;
            for (uint32_t i = 0; i < a->via.array.size; i++)
                if (!s_same_tree (&a->via.array.ptr [i], &b->via.array.ptr [i]))
                    return false;
            return true;
        case MSGPACK_OBJECT_MAP:
            if (a->via.map.size != b->via.map.size)
                return false;
            for (uint32_t i = 0; i < a->via.map.size; i++)
                if (!s_same_tree (&a->via.map.ptr [i].key, &b->via.map.ptr [i].key)
                ||  !s_same_tree (&a->via.map.ptr [i].val, &b->via.map.ptr [i].val))
                    return false;
            return true;
    }
    return false;
}

//  Runs both paths over data[0..size) with the given limits and checks
//  they agree. Returns the result, for tests that want a given one.
static llmq_decode_result_t
s_agree (const void *data, size_t size, size_t max_depth, size_t max_objects)
{
    llmq_scan_limits_t limits = { max_depth, max_objects };
    char scan_err [256] = "", tree_err [256] = "";
    llmq_decode_result_t scan_rc = llmq_scan (data, size, &limits, NULL,
                                              scan_err, sizeof scan_err);
    msgpack_zone zone;
    cr_assert (msgpack_zone_init (&zone, 4096));
    msgpack_object tree;
    llmq_decode_result_t tree_rc = llmq_tree_parse (data, size, &limits, &zone, &tree,
                                                    tree_err, sizeof tree_err);
    cr_assert_eq (tree_rc, scan_rc, "size %zu: tree %d (%s), scan %d (%s)", size,
                  tree_rc, tree_err, scan_rc, scan_err);
    if (scan_rc == LLMQ_DECODE_OK) {
        msgpack_zone ref_zone;
        cr_assert (msgpack_zone_init (&ref_zone, 4096));
        msgpack_object ref;
        size_t off = 0;
        cr_assert_eq (msgpack_unpack (data, size, &off, &ref_zone, &ref),
                      MSGPACK_UNPACK_SUCCESS);
        cr_assert (s_same_tree (&tree, &ref), "trees differ for a %zu-byte input", size);
        msgpack_zone_destroy (&ref_zone);
    }
    else
        cr_assert_str_eq (tree_err, scan_err);
    msgpack_zone_destroy (&zone);
    return tree_rc;
}

//  A document with every format family msgpack-c writes.
static void
s_pack_everything (msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, sb, msgpack_sbuffer_write);
    char big [70000];
    memset (big, 'x', sizeof big);
    msgpack_pack_map (&pk, 19);
    msgpack_pack_str_with_body (&pk, "nil", 3);     msgpack_pack_nil (&pk);
    msgpack_pack_str_with_body (&pk, "t", 1);       msgpack_pack_true (&pk);
    msgpack_pack_str_with_body (&pk, "f", 1);       msgpack_pack_false (&pk);
    msgpack_pack_str_with_body (&pk, "u", 1);
    msgpack_pack_array (&pk, 6);
    msgpack_pack_uint64 (&pk, 5);
    msgpack_pack_uint64 (&pk, 200);
    msgpack_pack_uint64 (&pk, 60000);
    msgpack_pack_uint64 (&pk, 4000000000u);
    msgpack_pack_uint64 (&pk, UINT64_MAX);
    msgpack_pack_fix_uint8 (&pk, 3);
    msgpack_pack_str_with_body (&pk, "i", 1);
    msgpack_pack_array (&pk, 9);
    msgpack_pack_int64 (&pk, -5);
    msgpack_pack_int64 (&pk, -100);
    msgpack_pack_int64 (&pk, -30000);
    msgpack_pack_int64 (&pk, -2000000000);
    msgpack_pack_int64 (&pk, INT64_MIN);
    msgpack_pack_fix_int8 (&pk, 7);                 //  signed format, not negative
    msgpack_pack_fix_int16 (&pk, 300);
    msgpack_pack_fix_int32 (&pk, 70000);
    msgpack_pack_fix_int64 (&pk, 5);
    msgpack_pack_str_with_body (&pk, "f32", 3);     msgpack_pack_float (&pk, 1.5f);
    msgpack_pack_str_with_body (&pk, "f64", 3);     msgpack_pack_double (&pk, -2.25);
    msgpack_pack_str_with_body (&pk, "s0", 2);      msgpack_pack_str_with_body (&pk, "", 0);
    msgpack_pack_str_with_body (&pk, "s8", 2);      msgpack_pack_str_with_body (&pk, big, 100);
    msgpack_pack_str_with_body (&pk, "s16", 3);     msgpack_pack_str_with_body (&pk, big, 1000);
    msgpack_pack_str_with_body (&pk, "s32", 3);     msgpack_pack_str_with_body (&pk, big, 70000);
    msgpack_pack_str_with_body (&pk, "b", 1);       msgpack_pack_bin_with_body (&pk, big, 3);
    msgpack_pack_str_with_body (&pk, "b16", 3);     msgpack_pack_bin_with_body (&pk, big, 300);
    msgpack_pack_str_with_body (&pk, "e", 1);
    msgpack_pack_array (&pk, 7);
    const size_t ext_sizes [] = { 1, 2, 4, 8, 16, 0, 300 };     //  fixext x5, ext8, ext16
    for (size_t i = 0; i < 7; i++)
        msgpack_pack_ext_with_body (&pk, big, ext_sizes [i], (int8_t) (i - 3));
    msgpack_pack_str_with_body (&pk, "ea", 2);      msgpack_pack_array (&pk, 0);
    msgpack_pack_str_with_body (&pk, "em", 2);      msgpack_pack_map (&pk, 0);
    msgpack_pack_str_with_body (&pk, "a16", 3);
    msgpack_pack_array (&pk, 20);
    for (int i = 0; i < 20; i++)
        msgpack_pack_int (&pk, i - 10);
    msgpack_pack_str_with_body (&pk, "m16", 3);
    msgpack_pack_map (&pk, 17);
    for (int i = 0; i < 17; i++) {
        msgpack_pack_int (&pk, i);
        msgpack_pack_array (&pk, 1);
        msgpack_pack_map (&pk, 1);
        msgpack_pack_nil (&pk);
        msgpack_pack_str_with_body (&pk, "deep", 4);
    }
    msgpack_pack_str_with_body (&pk, "dup", 3);     msgpack_pack_int (&pk, 1);
}

Test (tree, same_tree_as_msgpack_unpack_for_every_format)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    s_pack_everything (&sb);
    cr_assert_eq (s_agree (sb.data, sb.size, LLMQ_MAX_DEPTH, LLMQ_MAX_ELEMENTS),
                  LLMQ_DECODE_OK);
    msgpack_sbuffer_destroy (&sb);
}

Test (tree, every_truncation_fails_like_the_scan)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    s_pack_everything (&sb);
    //  Every cut inside the small fields, then every 97th through the
    //  long strings (same code paths, far fewer runs).
    for (size_t cut = 0; cut < sb.size; cut += cut < 400 ? 1 : 97)
        cr_assert_neq (s_agree (sb.data, cut, LLMQ_MAX_DEPTH, LLMQ_MAX_ELEMENTS),
                       LLMQ_DECODE_OK);
    msgpack_sbuffer_destroy (&sb);
}

Test (tree, random_edits_agree_with_the_scan)
{
    //  A small document, so edits hit headers and counts often.
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 4);
    msgpack_pack_str_with_body (&pk, "id", 2);
    msgpack_pack_str_with_body (&pk, "abc", 3);
    msgpack_pack_str_with_body (&pk, "m", 1);
    msgpack_pack_array (&pk, 2);
    msgpack_pack_map (&pk, 1);
    msgpack_pack_str_with_body (&pk, "k", 1);
    msgpack_pack_double (&pk, 0.5);
    msgpack_pack_array (&pk, 1);
    msgpack_pack_ext_with_body (&pk, "zz", 2, 1);
    msgpack_pack_str_with_body (&pk, "n", 1);
    msgpack_pack_int64 (&pk, -70000);
    msgpack_pack_str_with_body (&pk, "u", 1);
    msgpack_pack_uint64 (&pk, 1u << 20);

    uint8_t edited [64];
    cr_assert (sb.size <= sizeof edited);
    //  Format bytes that matter most: containers with big counts, 0xc1,
    //  lengths, fix families; otherwise any byte.
    static const uint8_t hot [] = {
        0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc4, 0xc7, 0xca, 0xcb, 0xd4,
        0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xff, 0x00, 0x7f
    };
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int ok = 0, failed = 0;
    for (int round = 0; round < 20000; round++) {
        memcpy (edited, sb.data, sb.size);
        int edits = 1 + (int) (x % 3);
        for (int e = 0; e < edits; e++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;    //  xorshift64
            size_t at = (size_t) (x % sb.size);
            edited [at] = (x >> 32) & 1 ? hot [(x >> 40) % sizeof hot] : (uint8_t) (x >> 48);
        }
        size_t size = sb.size - (size_t) ((x >> 56) % 2 ? 0 : (x >> 24) % 4);
        //  Tight limits too, so the depth and object checks are reached.
        size_t depth = (x >> 8) % 4 == 0 ? 2 : LLMQ_MAX_DEPTH;
        size_t objects = (x >> 12) % 4 == 0 ? 8 : LLMQ_MAX_ELEMENTS;
        if (s_agree (edited, size, depth, objects) == LLMQ_DECODE_OK)
            ok++;
        else
            failed++;
    }
    //  Both outcomes were exercised.
    cr_assert_gt (ok, 100);
    cr_assert_gt (failed, 100);
    msgpack_sbuffer_destroy (&sb);
}

Test (tree, huge_counts_fail_before_allocating)
{
    //  A 4-billion-element array in 5 bytes: rejected, and the zone is
    //  not asked for anything (a tiny chunk would have to grow).
    const uint8_t bad [] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
    llmq_scan_limits_t limits = { LLMQ_MAX_DEPTH, LLMQ_MAX_ELEMENTS };
    msgpack_zone zone;
    cr_assert (msgpack_zone_init (&zone, 64));
    msgpack_object o;
    char err [128];
    cr_assert_eq (llmq_tree_parse (bad, sizeof bad, &limits, &zone, &o, err, sizeof err),
                  LLMQ_DECODE_TOO_MANY);
    cr_assert_eq (zone.chunk_list.free, 64, "the zone was used");
    msgpack_zone_destroy (&zone);
    s_agree (bad, sizeof bad, LLMQ_MAX_DEPTH, LLMQ_MAX_ELEMENTS);
}

Test (tree, nesting_limit_is_the_scans)
{
    uint8_t deep [40];
    for (size_t n = 1; n < sizeof deep; n++) {
        memset (deep, 0x91, n - 1);                 //  n-1 one-element arrays
        deep [n - 1] = 0x90;                        //  around an empty one
        for (size_t limit = 1; limit <= LLMQ_MAX_DEPTH; limit += 5)
            s_agree (deep, n, limit, LLMQ_MAX_ELEMENTS);
    }
}
