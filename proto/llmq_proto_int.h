/*  llmq_proto_int.h -- private glue between the codec's source files.

    Nothing here is public: broker, worker and client see llmq_proto.h only.
    The codec is split by job (buffer, pre-scan, encode, decode, JSON); this
    header is what those files share.
*/
#ifndef LLMQ_PROTO_INT_H_INCLUDED
#define LLMQ_PROTO_INT_H_INCLUDED

#include "llmq_proto.h"

#include <msgpack.h>

/*  The four signature bytes that open every frame.                        */
#define LLMQ_SIGNATURE "LLMQ"

/*  Appends len bytes to buf, growing it geometrically; 0 or -1 (no memory).
    Growth never shrinks, so a buffer that is reused stops allocating once
    it has seen its largest frame.                                         */
int llmq_buf_append (llmq_buf_t *buf, const void *data, size_t len);

/*  Makes room for extra bytes past buf->size (geometric growth); 0 or -1.
    Writers that know an item's size reserve once and write in place.    */
int llmq_buf_reserve (llmq_buf_t *buf, size_t extra);

/*  msgpack_packer write callback over an llmq_buf_t (the packer's data).   */
int llmq_buf_pack_write (void *data, const char *bytes, size_t len);

/*  Resets buf, writes the 6-byte header and points pk at buf.             */
int llmq_buf_start_frame (llmq_buf_t *buf, llmq_cmd_t cmd, msgpack_packer *pk);

/*  Result of the structural pre-scan of a msgpack body.                   */
typedef struct {
    size_t objects;                 /* msgpack objects seen (keys too)     */
} llmq_scan_t;

/*  msgpack headers, read the same way by scan.c and tree.c. Inline: they
    run once per object of every message.                                 */

//  What one msgpack header announces.
typedef struct {
    size_t head;                    //  Bytes of the header itself
    uint64_t payload;               //  Raw bytes that follow (str/bin/ext)
    uint64_t items;                 //  Objects that follow (array/map)
    uint64_t declared;              //  Declared str/bin/ext length
    bool container;                 //  Array or map
} llmq_head_t;

//  Reads a big-endian unsigned of n bytes at p.
static inline uint64_t
llmq_be_read (const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p [i];
    return v;
}

//  What the format bytes 0xc0..0xdf announce (the fix* families are
//  handled by range in llmq_read_head).
typedef enum {
    LLMQ_HEAD_INVALID,              //  0xc1, never used
    LLMQ_HEAD_FIXED,                //  size bytes of payload follow
    LLMQ_HEAD_RAW,                  //  str/bin: a size-byte length, data
    LLMQ_HEAD_EXT,                  //  a size-byte length, a type byte, data
    LLMQ_HEAD_ARRAY,                //  a size-byte element count
    LLMQ_HEAD_MAP                   //  a size-byte pair count
} llmq_head_kind_t;

#define LLMQ_HF_(k, n) { LLMQ_HEAD_##k, n }
static const struct {
    uint8_t kind;                   //  llmq_head_kind_t
    uint8_t size;                   //  fixed payload or length-field bytes
} llmq_head_formats [32] = {
    LLMQ_HF_(FIXED, 0), LLMQ_HF_(INVALID, 0),                   //  nil, 0xc1
    LLMQ_HF_(FIXED, 0), LLMQ_HF_(FIXED, 0),                     //  false, true
    LLMQ_HF_(RAW, 1), LLMQ_HF_(RAW, 2), LLMQ_HF_(RAW, 4),       //  bin 8/16/32
    LLMQ_HF_(EXT, 1), LLMQ_HF_(EXT, 2), LLMQ_HF_(EXT, 4),       //  ext 8/16/32
    LLMQ_HF_(FIXED, 4), LLMQ_HF_(FIXED, 8),                     //  float 32/64
    LLMQ_HF_(FIXED, 1), LLMQ_HF_(FIXED, 2),                     //  uint 8/16
    LLMQ_HF_(FIXED, 4), LLMQ_HF_(FIXED, 8),                     //  uint 32/64
    LLMQ_HF_(FIXED, 1), LLMQ_HF_(FIXED, 2),                     //  int 8/16
    LLMQ_HF_(FIXED, 4), LLMQ_HF_(FIXED, 8),                     //  int 32/64
    LLMQ_HF_(FIXED, 2), LLMQ_HF_(FIXED, 3), LLMQ_HF_(FIXED, 5), //  fixext 1/2/4
    LLMQ_HF_(FIXED, 9), LLMQ_HF_(FIXED, 17),                    //  fixext 8/16
    LLMQ_HF_(RAW, 1), LLMQ_HF_(RAW, 2), LLMQ_HF_(RAW, 4),       //  str 8/16/32
    LLMQ_HF_(ARRAY, 2), LLMQ_HF_(ARRAY, 4),                     //  array 16/32
    LLMQ_HF_(MAP, 2), LLMQ_HF_(MAP, 4)                          //  map 16/32
};
#undef LLMQ_HF_

//  Decodes the header at data[pos] (pos < size); 0, or -1 when the
//  length field is truncated or the byte is 0xc1.
static inline int
llmq_read_head (const uint8_t *data, size_t size, size_t pos, llmq_head_t *h)
{
    const uint8_t b = data [pos];
    h->head = 1;
    h->payload = 0;
    h->items = 0;
    h->declared = 0;
    h->container = false;
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
    const unsigned kind = llmq_head_formats [b - 0xc0].kind;
    const size_t width = llmq_head_formats [b - 0xc0].size;
    if (kind == LLMQ_HEAD_INVALID)
        return -1;
    if (kind == LLMQ_HEAD_FIXED) {
        h->payload = width;
        return 0;
    }
    if (size - pos - 1 < width)
        return -1;
    const uint64_t n = llmq_be_read (data + pos + 1, width);
    h->head = 1 + width;
    if (kind == LLMQ_HEAD_ARRAY || kind == LLMQ_HEAD_MAP) {
        h->container = true;
        h->items = kind == LLMQ_HEAD_MAP ? 2 * n : n;
    }
    else {
        h->declared = n;
        h->payload = kind == LLMQ_HEAD_EXT ? n + 1 : n;
    }
    return 0;
}

/*  Limits a scan enforces: the protocol's, or tighter for a REQUEST.      */
typedef struct {
    size_t max_depth;               /* <= LLMQ_MAX_DEPTH                   */
    size_t max_objects;             /* <= LLMQ_MAX_ELEMENTS                */
} llmq_scan_limits_t;

/*  Walks the msgpack bytes of data[0..size) without allocating. Succeeds
    only for exactly one object that uses every byte, whose counts all fit
    in the bytes left, nested at most limits->max_depth deep, made of at
    most limits->max_objects objects, with no str/bin/ext over
    LLMQ_MAX_STRING. Writes a human-readable reason to err (errlen bytes)
    on failure.                                                            */
llmq_decode_result_t llmq_scan (const void *data, size_t size,
                                const llmq_scan_limits_t *limits,
                                llmq_scan_t *result, char *err, size_t errlen);

/*  Skips one object that llmq_scan already accepted, starting at *pos.
    Only for validated input: it trusts the counts.                        */
void llmq_scan_skip (const uint8_t *data, size_t size, size_t *pos);

/*  Validates data[0..size) with exactly llmq_scan's checks, results and
    details, and builds its object tree in zone as it goes, in one pass
    (tree.c): the tree msgpack_unpack would give, strings pointing into
    data. Zone use is bounded by the input as the scan bounds it.        */
llmq_decode_result_t llmq_tree_parse (const void *data, size_t size,
                                      const llmq_scan_limits_t *limits,
                                      msgpack_zone *zone, msgpack_object *out,
                                      char *err, size_t errlen);

/*  Checks the header of frame (as llmq_peek_command), pre-scans the body
    and builds its tree in the decoder's zone. On success *body is the root
    map. Command mismatch with want gives LLMQ_DECODE_COMMAND.             */
llmq_decode_result_t llmq_decoder_unpack (llmq_decoder_t *self,
                                          const void *frame, size_t size,
                                          llmq_cmd_t want, bool any_cmd,
                                          msgpack_object *body);

/*  Records a failure detail (printf-style) and returns rc.                */
llmq_decode_result_t llmq_decoder_fail (llmq_decoder_t *self,
                                        llmq_decode_result_t rc,
                                        const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/*  The decoder's arena, for arrays decoded structures point at.           */
msgpack_zone *llmq_decoder_zone (llmq_decoder_t *self);

/*  Field readers shared by the message decoders. All treat nil as absent
    (output untouched, *has not set). Failures name the field using the
    decoder's scope: "field 'request.messages[3].content': ...". Scope:
    prefix NULL keeps the current one; index >= 0 names a chat message
    (key NULL then names the message itself).                             */
void llmq_field_scope (llmq_decoder_t *self, const char *prefix, int index);
llmq_decode_result_t llmq_field_fail (llmq_decoder_t *self, llmq_decode_result_t rc,
                                      const char *key, const char *what);
llmq_decode_result_t llmq_field_missing (llmq_decoder_t *self, const char *key);
/*  Inline so that strlen of the literal key folds to a constant: the
    decoders compare every key of every message against a list of names,
    and a call plus a strlen per comparison was the codec's top cost.    */
static inline bool
llmq_key_is (const msgpack_object *key, const char *name)
{
    const size_t n = __builtin_strlen (name);
    return key->type == MSGPACK_OBJECT_STR && key->via.str.size == n
        && __builtin_memcmp (key->via.str.ptr, name, n) == 0;
}
/*  A string of min..max bytes; present empty strings get a non-NULL ptr.  */
llmq_decode_result_t llmq_field_str (llmq_decoder_t *self, const char *key,
                                     const msgpack_object *o, uint32_t min,
                                     uint32_t max, llmq_str_t *out);
llmq_decode_result_t llmq_field_uint (llmq_decoder_t *self, const char *key,
                                      const msgpack_object *o, uint64_t max,
                                      uint64_t *out, bool *has);
llmq_decode_result_t llmq_field_u32 (llmq_decoder_t *self, const char *key,
                                     const msgpack_object *o, uint32_t *out,
                                     bool *has);
llmq_decode_result_t llmq_field_int (llmq_decoder_t *self, const char *key,
                                     const msgpack_object *o, int64_t *out,
                                     bool *has);
/*  A float or integer in [lo, hi], or (lo, hi] when lo_open.               */
llmq_decode_result_t llmq_field_double (llmq_decoder_t *self, const char *key,
                                        const msgpack_object *o, double lo,
                                        double hi, bool lo_open, double *out,
                                        bool *has);
llmq_decode_result_t llmq_field_bool (llmq_decoder_t *self, const char *key,
                                      const msgpack_object *o, bool *out);

/*  Request map -> struct (REQUEST body, DISPATCH's "request").           */
llmq_decode_result_t llmq_request_from_object (llmq_decoder_t *self,
                                               const msgpack_object *map,
                                               llmq_wire_request_t *out);

/*  In a scanned map at data[0..size), the byte span of the value of the
    last entry whose key is the string name; -1 when there is none.        */
int llmq_scan_map_value (const uint8_t *data, size_t size, const char *name,
                         size_t *offset, size_t *length);

#endif
