/*  scan.c -- the structural pre-scan of hostile msgpack.

    msgpack_unpack trusts the counts it reads: an array header that claims
    4 billion elements makes it try to allocate 4 billion objects before it
    notices the input is 5 bytes long. So every body is walked here first,
    without allocating, and only handed to msgpack-c when it is exactly one
    well-formed object within our limits.

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

//  What one msgpack header announces.
typedef struct {
    size_t head;                    //  Bytes of the header itself
    uint64_t payload;               //  Raw bytes that follow (str/bin/ext)
    uint64_t items;                 //  Objects that follow (array/map)
    uint64_t declared;              //  Declared str/bin/ext length
    bool container;                 //  Array or map
} s_head_t;

//  Reads a big-endian unsigned of n bytes at p.
static uint64_t
s_be (const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p [i];
    return v;
}

//  What the format bytes 0xc0..0xdf announce (the fix* families are
//  handled by range in s_read_head).
typedef enum {
    S_INVALID,                      //  0xc1, never used
    S_FIXED,                        //  size bytes of payload follow
    S_RAW,                          //  str/bin: a size-byte length, then data
    S_EXT,                          //  a size-byte length, a type byte, data
    S_ARRAY,                        //  a size-byte element count
    S_MAP                           //  a size-byte pair count
} s_kind_t;

static const struct {
    uint8_t kind;                   //  s_kind_t
    uint8_t size;                   //  fixed payload or length-field bytes
} s_formats [32] = {
    { S_FIXED, 0 }, { S_INVALID, 0 }, { S_FIXED, 0 }, { S_FIXED, 0 },    //  nil - false true
    { S_RAW, 1 }, { S_RAW, 2 }, { S_RAW, 4 },                           //  bin 8/16/32
    { S_EXT, 1 }, { S_EXT, 2 }, { S_EXT, 4 },                           //  ext 8/16/32
    { S_FIXED, 4 }, { S_FIXED, 8 },                                     //  float 32/64
    { S_FIXED, 1 }, { S_FIXED, 2 }, { S_FIXED, 4 }, { S_FIXED, 8 },     //  uint 8..64
    { S_FIXED, 1 }, { S_FIXED, 2 }, { S_FIXED, 4 }, { S_FIXED, 8 },     //  int 8..64
    { S_FIXED, 2 }, { S_FIXED, 3 }, { S_FIXED, 5 }, { S_FIXED, 9 },     //  fixext 1/2/4/8
    { S_FIXED, 17 },                                                    //  fixext 16
    { S_RAW, 1 }, { S_RAW, 2 }, { S_RAW, 4 },                           //  str 8/16/32
    { S_ARRAY, 2 }, { S_ARRAY, 4 }, { S_MAP, 2 }, { S_MAP, 4 }          //  array, map 16/32
};

//  Decodes the header at data[pos]; 0, or -1 when truncated/invalid.
static int
s_read_head (const uint8_t *data, size_t size, size_t pos, s_head_t *h)
{
    const uint8_t b = data [pos];
    memset (h, 0, sizeof *h);
    h->head = 1;
    if (b <= 0x7f || b >= 0xe0)                         //  fixints
        return 0;
    if (b <= 0x9f) {                                    //  fixmap, fixarray
        h->container = true;
        h->items = b <= 0x8f ? 2u * (b & 0x0f) : (b & 0x0f);
        return 0;
    }
    if (b <= 0xbf) {                                    //  fixstr
        h->payload = b & 0x1f;
        return 0;
    }
    const unsigned kind = s_formats [b - 0xc0].kind;
    const size_t width = s_formats [b - 0xc0].size;
    if (kind == S_INVALID)
        return -1;
    if (kind == S_FIXED) {
        h->payload = width;
        return 0;
    }
    if (size - pos - 1 < width)
        return -1;
    const uint64_t n = s_be (data + pos + 1, width);
    h->head = 1 + width;
    if (kind == S_ARRAY || kind == S_MAP) {
        h->container = true;
        h->items = kind == S_MAP ? 2 * n : n;
    }
    else {
        h->declared = n;
        h->payload = kind == S_EXT ? n + 1 : n;
    }
    return 0;
}

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
