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

/*  msgpack_packer write callback over an llmq_buf_t (the packer's data).   */
int llmq_buf_pack_write (void *data, const char *bytes, size_t len);

/*  Resets buf, writes the 6-byte header and points pk at buf.             */
int llmq_buf_start_frame (llmq_buf_t *buf, llmq_cmd_t cmd, msgpack_packer *pk);

/*  Result of the structural pre-scan of a msgpack body.                   */
typedef struct {
    size_t objects;                 /* msgpack objects seen (keys too)     */
} llmq_scan_t;

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

/*  Checks the header of frame (as llmq_peek_command), pre-scans the body
    and unpacks it into the decoder's zone. On success *body is the root
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
bool llmq_key_is (const msgpack_object *key, const char *name);
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
