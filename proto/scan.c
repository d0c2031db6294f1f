/*  scan.c -- the structural pre-scan of hostile msgpack.

    msgpack_unpack trusts the counts it reads: an array header that claims
    4 billion elements makes it try to allocate 4 billion objects before it
    notices the input is 5 bytes long. So a body must be walked first,
    without allocating, and handed on only when it is exactly one
    well-formed object within our limits. These are the rules; the decode
    path applies them in tree.c, in the same pass that builds the tree
    (tests/unit/test_proto_tree.c and fuzz_tree hold the two to the same
    results). llmq_scan_skip and llmq_scan_map_value walk bodies that
    passed them.

    The walk is iterative with an explicit stack of "items still to read"
    per open container, bounded by the depth limit (at most LLMQ_MAX_DEPTH),
    so hostile nesting can not exhaust the C stack. Cost: O(bytes), one
    pass.

    Two running totals make the allocation msgpack-c will do bounded and
    proportional to the input: `pending` (items promised by open containers
    and not read yet, each needs at least one byte) must never exceed the
    bytes left, and objects seen + pending must stay under the object
    limit (at most LLMQ_MAX_ELEMENTS).
*/
#include "llmq_proto_int.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

//  The header reader (llmq_read_head) lives in llmq_proto_int.h: tree.c
//  reads headers the same way, so both passes agree on every byte.
typedef llmq_head_t s_head_t;
#define s_read_head llmq_read_head

//  printf into err when there is room to.
#define S_FAIL(rc, ...) do { \
        if (err && errlen) snprintf (err, errlen, __VA_ARGS__); \
        return (rc); \
    } while (0)

llmq_decode_result_t
llmq_scan (const void *data_, size_t size, const llmq_scan_limits_t *limits,
           llmq_scan_t *result, char *err, size_t errlen)
{
    assert (limits && limits->max_depth <= LLMQ_MAX_DEPTH);
    const uint8_t *data = data_;
    uint64_t left [LLMQ_MAX_DEPTH]; //  Items still to read per open container
    size_t depth = 0;               //  Open containers
    uint64_t pending = 0;           //  Sum of left[]
    size_t objects = 0;
    size_t pos = 0;

    do {
        if (pos >= size)
            S_FAIL (LLMQ_DECODE_MALFORMED, "truncated msgpack at byte %zu", pos);
        if (depth > 0) {
            left [depth - 1]--;
            pending--;
        }
        s_head_t h;
        if (s_read_head (data, size, pos, &h))
            S_FAIL (LLMQ_DECODE_MALFORMED, "invalid msgpack at byte %zu", pos);
        if (++objects > limits->max_objects)
            S_FAIL (LLMQ_DECODE_TOO_MANY, "more than %zu objects", limits->max_objects);
        pos += h.head;
        if (h.container) {
            if (depth + 1 > limits->max_depth)
                S_FAIL (LLMQ_DECODE_TOO_DEEP, "nesting deeper than %zu at byte %zu",
                        limits->max_depth, pos - h.head);
            //  Every promised item needs at least one byte.
            if (h.items > size - pos || pending + h.items > size - pos)
                S_FAIL (LLMQ_DECODE_TOO_MANY, "count %llu at byte %zu exceeds the input",
                        (unsigned long long) h.items, pos - h.head);
            if (objects + pending + h.items > limits->max_objects)
                S_FAIL (LLMQ_DECODE_TOO_MANY, "more than %zu objects", limits->max_objects);
            if (h.items > 0) {
                left [depth++] = h.items;
                pending += h.items;
            }
        }
        else
        if (h.payload) {
            if (h.declared > LLMQ_MAX_STRING)
                S_FAIL (LLMQ_DECODE_STRING_TOO_LONG, "string of %llu bytes at byte %zu",
                        (unsigned long long) h.declared, pos - h.head);
            if (h.payload > size - pos)
                S_FAIL (LLMQ_DECODE_MALFORMED, "truncated msgpack at byte %zu", pos);
            pos += h.payload;
        }
        while (depth > 0 && left [depth - 1] == 0)
            depth--;
    } while (depth > 0);

    if (pos != size)
        S_FAIL (LLMQ_DECODE_MALFORMED, "%zu trailing bytes", size - pos);
    if (result)
        result->objects = objects;
    return LLMQ_DECODE_OK;
}

void
llmq_scan_skip (const uint8_t *data, size_t size, size_t *pos)
{
    uint64_t todo = 1;              //  Objects still to skip
    while (todo > 0 && *pos < size) {
        s_head_t h;
        if (s_read_head (data, size, *pos, &h))
            return;                 //  not reached for scanned input
        *pos += h.head + (size_t) h.payload;
        todo += h.items;
        todo--;
    }
}

int
llmq_scan_map_value (const uint8_t *data, size_t size, const char *name,
                     size_t *offset, size_t *length)
{
    if (size == 0)
        return -1;
    s_head_t h;
    if (s_read_head (data, size, 0, &h) || !h.container)
        return -1;
    const size_t name_len = strlen (name);
    size_t pos = h.head;
    int found = -1;
    for (uint64_t i = 0; i < h.items; i += 2) {
        size_t key_at = pos;
        llmq_scan_skip (data, size, &pos);
        size_t value_at = pos;
        llmq_scan_skip (data, size, &pos);
        const uint8_t b = data [key_at];
        const bool is_str = (b & 0xe0) == 0xa0 || (b >= 0xd9 && b <= 0xdb);
        s_head_t k;
        if (is_str && s_read_head (data, size, key_at, &k) == 0
        &&  k.payload == name_len
        &&  memcmp (data + key_at + k.head, name, name_len) == 0) {
            *offset = value_at;
            *length = pos - value_at;
            found = 0;
        }
    }
    return found;
}
