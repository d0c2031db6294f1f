/*  decoder.c -- llmq_decoder_t: header checks, the path from frame bytes to
    a msgpack_object tree, and the typed field readers the per-message
    decoders share.

    Order of trust: header first (cheap, rejects foreign traffic), then
    the structural checks of the pre-scan (counts, depth, sizes: nothing is
    allocated for a count the input can not hold), made by tree.c in the
    same pass that builds the tree in the decoder's zone. The zone is
    cleared, not freed, between decodes: its first chunk is reused, so
    typical frames decode without touching malloc once warm.

    Every failure leaves a one-line detail in the decoder naming the field,
    e.g. "field 'messages[3].content': expected a string".
*/
#include "llmq_proto_int.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Big enough for the arena of a typical request (objects, kv pairs and
//  our messages array) so warm decodes stay inside one chunk.
#define S_ZONE_CHUNK (64 * 1024)

struct llmq_decoder {
    msgpack_zone zone;              //  Arena for the object tree + arrays
    const char *prefix;             //  Field path prefix ("request.")
    int index;                      //  Chat message being read, or -1
    char error [256];               //  Detail of the last failure
};

llmq_decoder_t *
llmq_decoder_new (void)
{
    llmq_decoder_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (!msgpack_zone_init (&self->zone, S_ZONE_CHUNK)) {
        free (self);
        return NULL;
    }
    self->prefix = "";
    self->index = -1;
    return self;
}

void
llmq_decoder_destroy (llmq_decoder_t **self_p)
{
    assert (self_p);
    llmq_decoder_t *self = *self_p;
    if (self) {
        msgpack_zone_destroy (&self->zone);
        free (self);
        *self_p = NULL;
    }
}

const char *
llmq_decoder_error (const llmq_decoder_t *self)
{
    assert (self);
    return self->error;
}

msgpack_zone *
llmq_decoder_zone (llmq_decoder_t *self)
{
    return &self->zone;
}

llmq_decode_result_t
llmq_decoder_fail (llmq_decoder_t *self, llmq_decode_result_t rc,
                   const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (self->error, sizeof self->error, fmt, args);
    va_end (args);
    return rc;
}

llmq_decode_result_t
llmq_peek_command (const void *frame, size_t size, llmq_cmd_t *cmd)
{
    const uint8_t *bytes = frame;
    if (size > LLMQ_MAX_MSG_SIZE)
        return LLMQ_DECODE_TOO_LARGE;
    if (!frame || size < 4 || memcmp (bytes, LLMQ_SIGNATURE, 4) != 0)
        return LLMQ_DECODE_SIGNATURE;
    if (size < LLMQ_HEADER_SIZE)
        return LLMQ_DECODE_MALFORMED;
    if (bytes [4] != LLMQ_PROTO_VERSION)
        return LLMQ_DECODE_VERSION;
    if (bytes [5] < LLMQ_CMD_REQUEST || bytes [5] > LLMQ_CMD_STATS_REPLY)
        return LLMQ_DECODE_COMMAND;
    if (cmd)
        *cmd = (llmq_cmd_t) bytes [5];
    return LLMQ_DECODE_OK;
}

//  Detail for a header failure, in the words a peer's operator needs.
static llmq_decode_result_t
s_header_fail (llmq_decoder_t *self, llmq_decode_result_t rc,
               const uint8_t *frame, size_t size)
{
    switch (rc) {
        case LLMQ_DECODE_TOO_LARGE:
            return llmq_decoder_fail (self, rc, "frame of %zu bytes, limit %u",
                                      size, LLMQ_MAX_MSG_SIZE);
        case LLMQ_DECODE_SIGNATURE:
            return llmq_decoder_fail (self, rc, "not an LLMQ frame (bad signature)");
        case LLMQ_DECODE_VERSION:
            return llmq_decoder_fail (self, rc,
                "protocol version %u not supported; this peer speaks version %d",
                frame [4], LLMQ_PROTO_VERSION);
        case LLMQ_DECODE_COMMAND:
            return llmq_decoder_fail (self, rc, "unknown command 0x%02x", frame [5]);
        default:
            return llmq_decoder_fail (self, rc, "frame shorter than the %d-byte header",
                                      LLMQ_HEADER_SIZE);
    }
}

llmq_decode_result_t
llmq_decoder_peek (llmq_decoder_t *self, const void *frame, size_t size, llmq_cmd_t *cmd)
{
    assert (self);
    self->error [0] = 0;
    llmq_decode_result_t rc = llmq_peek_command (frame, size, cmd);
    return rc ? s_header_fail (self, rc, frame, size) : rc;
}

llmq_decode_result_t
llmq_decoder_unpack (llmq_decoder_t *self, const void *frame, size_t size,
                     llmq_cmd_t want, bool any_cmd, msgpack_object *body)
{
    assert (self);
    self->error [0] = 0;
    self->prefix = "";
    self->index = -1;
    llmq_cmd_t cmd;
    llmq_decode_result_t rc = llmq_peek_command (frame, size, &cmd);
    if (rc)
        return s_header_fail (self, rc, frame, size);
    if (!any_cmd && cmd != want)
        return llmq_decoder_fail (self, LLMQ_DECODE_COMMAND,
                                  "expected %s, got %s", llmq_cmd_name (want),
                                  llmq_cmd_name (cmd));
    const char *data = (const char *) frame + LLMQ_HEADER_SIZE;
    size_t len = size - LLMQ_HEADER_SIZE;
    if (len == 0)
        return llmq_decoder_fail (self, LLMQ_DECODE_MALFORMED, "no body (an empty map is 0x80)");
    //  A REQUEST gets tighter limits so the DISPATCH carrying it fits the
    //  protocol's (see LLMQ_DISPATCH_RESERVE).
    const bool request = !any_cmd && want == LLMQ_CMD_REQUEST;
    llmq_scan_limits_t limits = { LLMQ_MAX_DEPTH, LLMQ_MAX_ELEMENTS };
    if (request) {
        if (size > LLMQ_MAX_MSG_SIZE - LLMQ_DISPATCH_RESERVE)
            return llmq_decoder_fail (self, LLMQ_DECODE_TOO_LARGE,
                                      "request of %zu bytes, limit %u", size,
                                      LLMQ_MAX_MSG_SIZE - LLMQ_DISPATCH_RESERVE);
        limits.max_depth = LLMQ_MAX_DEPTH - 1;
        limits.max_objects = LLMQ_MAX_ELEMENTS - LLMQ_DISPATCH_OBJECTS;
    }
    //  One pass validates (the pre-scan's checks, see tree.c) and builds
    //  the tree: half the work of llmq_scan followed by msgpack_unpack.
    msgpack_zone_clear (&self->zone);
    rc = llmq_tree_parse (data, len, &limits, &self->zone, body,
                          self->error, sizeof self->error);
    if (rc)
        return rc;
    if (body->type != MSGPACK_OBJECT_MAP)
        return llmq_decoder_fail (self, LLMQ_DECODE_MALFORMED, "body is not a map");
    return LLMQ_DECODE_OK;
}

/* ---------------------------------------------------------------------- */
//  Field readers. A nil value means "absent" for every optional key, so
//  each reader leaves its output untouched (and *has false) on nil.

void
llmq_field_scope (llmq_decoder_t *self, const char *prefix, int index)
{
    if (prefix)
        self->prefix = prefix;
    self->index = index;
}

llmq_decode_result_t
llmq_field_fail (llmq_decoder_t *self, llmq_decode_result_t rc,
                 const char *key, const char *what)
{
    if (self->index >= 0 && key)
        return llmq_decoder_fail (self, rc, "field '%smessages[%d].%s': %s",
                                  self->prefix, self->index, key, what);
    if (self->index >= 0)
        return llmq_decoder_fail (self, rc, "field '%smessages[%d]': %s",
                                  self->prefix, self->index, what);
    return llmq_decoder_fail (self, rc, "field '%s%s': %s", self->prefix, key, what);
}

llmq_decode_result_t
llmq_field_str (llmq_decoder_t *self, const char *key, const msgpack_object *o,
                uint32_t min, uint32_t max, llmq_str_t *out)
{
    if (o->type == MSGPACK_OBJECT_NIL)
        return LLMQ_DECODE_OK;
    if (o->type != MSGPACK_OBJECT_STR)
        return llmq_field_fail (self, LLMQ_DECODE_WRONG_TYPE, key, "expected a string");
    if (o->via.str.size > max) {
        char what [64];
        snprintf (what, sizeof what, "string longer than %u bytes", max);
        return llmq_field_fail (self, LLMQ_DECODE_STRING_TOO_LONG, key, what);
    }
    if (o->via.str.size < min)
        return llmq_field_fail (self, LLMQ_DECODE_OUT_OF_RANGE, key, "must not be empty");
    //  A zero-length string still gets a non-NULL ptr: present, not absent.
    out->ptr = o->via.str.size ? o->via.str.ptr : "";
    out->len = o->via.str.size;
    return LLMQ_DECODE_OK;
}

llmq_decode_result_t
llmq_field_uint (llmq_decoder_t *self, const char *key, const msgpack_object *o,
                 uint64_t max, uint64_t *out, bool *has)
{
    if (o->type == MSGPACK_OBJECT_NIL)
        return LLMQ_DECODE_OK;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return llmq_field_fail (self, LLMQ_DECODE_OUT_OF_RANGE, key, "must not be negative");
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return llmq_field_fail (self, LLMQ_DECODE_WRONG_TYPE, key,
                                "expected an unsigned integer");
    if (o->via.u64 > max) {
        char what [64];
        snprintf (what, sizeof what, "must be at most %llu", (unsigned long long) max);
        return llmq_field_fail (self, LLMQ_DECODE_OUT_OF_RANGE, key, what);
    }
    *out = o->via.u64;
    if (has)
        *has = true;
    return LLMQ_DECODE_OK;
}

llmq_decode_result_t
llmq_field_u32 (llmq_decoder_t *self, const char *key, const msgpack_object *o,
                uint32_t *out, bool *has)
{
    uint64_t v = *out;
    llmq_decode_result_t rc = llmq_field_uint (self, key, o, UINT32_MAX, &v, has);
    *out = (uint32_t) v;
    return rc;
}

llmq_decode_result_t
llmq_field_int (llmq_decoder_t *self, const char *key, const msgpack_object *o,
                int64_t *out, bool *has)
{
    if (o->type == MSGPACK_OBJECT_NIL)
        return LLMQ_DECODE_OK;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *out = o->via.i64;
    else
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > INT64_MAX)
            return llmq_field_fail (self, LLMQ_DECODE_OUT_OF_RANGE, key,
                                    "does not fit a signed 64-bit integer");
        *out = (int64_t) o->via.u64;
    }
    else
        return llmq_field_fail (self, LLMQ_DECODE_WRONG_TYPE, key, "expected an integer");
    if (has)
        *has = true;
    return LLMQ_DECODE_OK;
}

llmq_decode_result_t
llmq_field_double (llmq_decoder_t *self, const char *key, const msgpack_object *o,
                   double lo, double hi, bool lo_open, double *out, bool *has)
{
    double v;
    if (o->type == MSGPACK_OBJECT_NIL)
        return LLMQ_DECODE_OK;
    if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
        v = o->via.f64;
    else
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        v = (double) o->via.u64;
    else
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        v = (double) o->via.i64;
    else
        return llmq_field_fail (self, LLMQ_DECODE_WRONG_TYPE, key, "expected a number");
    //  Written so NaN fails too.
    if (!(lo_open ? v > lo : v >= lo) || !(v <= hi)) {
        char what [80];
        snprintf (what, sizeof what, "must be in %s%g, %g]", lo_open ? "(" : "[", lo, hi);
        return llmq_field_fail (self, LLMQ_DECODE_OUT_OF_RANGE, key, what);
    }
    *out = v;
    if (has)
        *has = true;
    return LLMQ_DECODE_OK;
}

llmq_decode_result_t
llmq_field_bool (llmq_decoder_t *self, const char *key, const msgpack_object *o,
                 bool *out)
{
    if (o->type == MSGPACK_OBJECT_NIL)
        return LLMQ_DECODE_OK;
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return llmq_field_fail (self, LLMQ_DECODE_WRONG_TYPE, key, "expected a boolean");
    *out = o->via.boolean;
    return LLMQ_DECODE_OK;
}

llmq_decode_result_t
llmq_field_missing (llmq_decoder_t *self, const char *key)
{
    return llmq_field_fail (self, LLMQ_DECODE_MISSING_FIELD, key, "required");
}
