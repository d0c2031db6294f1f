/*  scan.c -- the structural pre-scan of hostile msgpack.

    msgpack_unpack trusts the counts it reads: an array header that claims
    4 billion elements makes it try to allocate 4 billion objects before it
    notices the input is 5 bytes long. So every body is walked here first,
    without allocating, and only handed to msgpack-c when it is exactly one
    well-formed object within our limits.

    The walk is iterative with an explicit stack of "items still to read"
    per open container, bounded by LLMQ_MAX_DEPTH, so hostile nesting can
    not exhaust the C stack. Cost: O(bytes), one pass.

    Two running totals make the allocation msgpack-c will do bounded and
    proportional to the input: `pending` (items promised by open containers
    and not read yet, each needs at least one byte) must never exceed the
    bytes left, and objects seen + pending must stay under
    LLMQ_MAX_ELEMENTS.
*/
#include "llmq_proto_int.h"

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

//  Decodes the header at data[pos]; 0, or -1 when truncated/invalid.
static int
s_read_head (const uint8_t *data, size_t size, size_t pos, s_head_t *h)
{
    const uint8_t b = data [pos];
    const size_t left = size - pos - 1;     //  bytes after the type byte
    h->payload = 0;
    h->items = 0;
    h->declared = 0;
    h->container = false;
    h->head = 1;
    size_t lenbytes = 0;            //  Length field size (str/bin/ext/container)
    size_t extra = 0;               //  Fixed payload after the type byte
    int kind = 0;                   //  0 scalar, 1 raw, 2 ext, 3 array, 4 map

    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    else
    if (b <= 0x8f) {
        h->container = true;
        h->items = 2 * (uint64_t) (b & 0x0f);
        return 0;
    }
    else
    if (b <= 0x9f) {
        h->container = true;
        h->items = b & 0x0f;
        return 0;
    }
    else
    if (b <= 0xbf) {
        h->payload = b & 0x1f;
        return 0;
    }
    switch (b) {
        case 0xc4: case 0xc5: case 0xc6:
            kind = 1; lenbytes = (size_t) 1 << (b - 0xc4); break;
        case 0xc7: case 0xc8: case 0xc9:
            kind = 2; lenbytes = (size_t) 1 << (b - 0xc7); break;
        case 0xca: extra = 4; break;
        case 0xcb: extra = 8; break;
        case 0xcc: case 0xcd: case 0xce: case 0xcf:
            extra = (size_t) 1 << (b - 0xcc); break;
        case 0xd0: case 0xd1: case 0xd2: case 0xd3:
            extra = (size_t) 1 << (b - 0xd0); break;
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
            extra = 1 + ((size_t) 1 << (b - 0xd4)); break;
        case 0xd9: case 0xda: case 0xdb:
            kind = 1; lenbytes = (size_t) 1 << (b - 0xd9); break;
        case 0xdc: case 0xdd:
            kind = 3; lenbytes = b == 0xdc ? 2 : 4; break;
        case 0xde: case 0xdf:
            kind = 4; lenbytes = b == 0xde ? 2 : 4; break;
        default:
            return -1;              //  0xc1: never used
    }
    if (kind == 0) {
        h->payload = extra;         //  fixed-size scalar bytes
        return 0;
    }
    if (left < lenbytes)
        return -1;
    uint64_t n = s_be (data + pos + 1, lenbytes);
    h->head = 1 + lenbytes;
    h->declared = kind == 1 || kind == 2 ? n : 0;
    if (kind == 1)
        h->payload = n;
    else
    if (kind == 2)
        h->payload = n + 1;         //  type byte, then data
    else {
        h->container = true;
        h->items = kind == 4 ? 2 * n : n;
    }
    return 0;
}

//  printf into err when there is room to.
#define S_FAIL(rc, ...) do { \
        if (err && errlen) snprintf (err, errlen, __VA_ARGS__); \
        return (rc); \
    } while (0)

llmq_decode_result_t
llmq_scan (const void *data_, size_t size, llmq_scan_t *result,
           char *err, size_t errlen)
{
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
        if (++objects > LLMQ_MAX_ELEMENTS)
            S_FAIL (LLMQ_DECODE_TOO_MANY, "more than %u objects", LLMQ_MAX_ELEMENTS);
        pos += h.head;
        if (h.container) {
            if (depth + 1 > LLMQ_MAX_DEPTH)
                S_FAIL (LLMQ_DECODE_TOO_DEEP, "nesting deeper than %d at byte %zu",
                        LLMQ_MAX_DEPTH, pos - h.head);
            //  Every promised item needs at least one byte.
            if (h.items > size - pos || pending + h.items > size - pos)
                S_FAIL (LLMQ_DECODE_TOO_MANY, "count %llu at byte %zu exceeds the input",
                        (unsigned long long) h.items, pos - h.head);
            if (objects + pending + h.items > LLMQ_MAX_ELEMENTS)
                S_FAIL (LLMQ_DECODE_TOO_MANY, "more than %u objects", LLMQ_MAX_ELEMENTS);
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
