/*  json.c -- any frame's body as one line of JSON (llmq_frame_to_json).

    For humans and scripts: `llmq stats --json`, `llmq chat --json`. The
    body goes through the same header check and pre-scan as every decoder,
    then the msgpack tree is mapped onto jansson values and dumped
    compactly. Recursion depth is bounded by the pre-scan (LLMQ_MAX_DEPTH).

    msgpack can carry things JSON cannot; they are mapped, not rejected,
    because a monitor should show whatever a broker sent:
    - non-string map keys become their JSON text ("1", "true");
    - strings that are not valid UTF-8 have their non-ASCII bytes
      replaced by '?' (jansson only accepts UTF-8);
    - bin and ext become null; NaN and infinities become null;
    - unsigned integers above INT64_MAX become doubles.
*/
#include "llmq_proto_int.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_t *s_to_json (const msgpack_object *o);

//  A JSON string from msgpack bytes; lossy only for invalid UTF-8.
static json_t *
s_string (const char *ptr, size_t len)
{
    json_t *s = json_stringn (ptr, len);
    if (s)
        return s;
    char *copy = malloc (len + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) ptr [i];
        copy [i] = c >= 0x80 || c == 0 ? '?' : (char) c;
    }
    s = json_stringn (copy, len);
    free (copy);
    return s;
}

static json_t *
s_array (const msgpack_object *o)
{
    json_t *array = json_array ();
    for (uint32_t i = 0; array && i < o->via.array.size; i++)
        if (json_array_append_new (array, s_to_json (&o->via.array.ptr [i]))) {
            json_decref (array);
            return NULL;
        }
    return array;
}

//  The key text of a map entry: strings as they are, anything else as its
//  compact JSON encoding.
static json_t *
s_key (const msgpack_object *key)
{
    if (key->type == MSGPACK_OBJECT_STR)
        return s_string (key->via.str.ptr, key->via.str.size);
    json_t *value = s_to_json (key);
    char *text = value ? json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref (value);
    json_t *s = text ? s_string (text, strlen (text)) : NULL;
    free (text);
    return s;
}

static json_t *
s_map (const msgpack_object *o)
{
    json_t *map = json_object ();
    for (uint32_t i = 0; map && i < o->via.map.size; i++) {
        json_t *key = s_key (&o->via.map.ptr [i].key);
        json_t *value = s_to_json (&o->via.map.ptr [i].val);
        int rc = -1;
        if (key && value)           //  takes value, even when it fails
            rc = json_object_setn_new (map, json_string_value (key),
                                       json_string_length (key), value);
        else
            json_decref (value);
        json_decref (key);
        if (rc) {
            json_decref (map);
            return NULL;
        }
    }
    return map;
}

static json_t *
s_to_json (const msgpack_object *o)
{
    switch (o->type) {
        case MSGPACK_OBJECT_BOOLEAN:
            return json_boolean (o->via.boolean);
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            return o->via.u64 <= INT64_MAX ? json_integer ((json_int_t) o->via.u64)
                                           : json_real ((double) o->via.u64);
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            return json_integer ((json_int_t) o->via.i64);
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            return isfinite (o->via.f64) ? json_real (o->via.f64) : json_null ();
        case MSGPACK_OBJECT_STR:
            return s_string (o->via.str.ptr, o->via.str.size);
        case MSGPACK_OBJECT_ARRAY:
            return s_array (o);
        case MSGPACK_OBJECT_MAP:
            return s_map (o);
        default:
            return json_null ();    //  nil, bin, ext
    }
}

static int
s_dump_cb (const char *bytes, size_t size, void *data)
{
    return llmq_buf_append ((llmq_buf_t *) data, bytes, size);
}

llmq_decode_result_t
llmq_frame_to_json (llmq_decoder_t *dec, const void *frame, size_t size, llmq_buf_t *out)
{
    out->size = 0;
    msgpack_object body;
    llmq_decode_result_t rc = llmq_decoder_unpack (dec, frame, size, 0, true, &body);
    if (rc)
        return rc;
    json_t *json = s_to_json (&body);
    if (!json)
        return llmq_decoder_fail (dec, LLMQ_DECODE_NO_MEMORY, "out of memory");
    //  15 significant digits: 0.7 prints as 0.7, not 0.69999999999999996.
    int dump = json_dump_callback (json, s_dump_cb, out,
                                   JSON_COMPACT | JSON_REAL_PRECISION (15));
    json_decref (json);
    //  The terminating NUL is not counted in out->size.
    if (dump || llmq_buf_append (out, "", 1)) {
        out->size = 0;
        return llmq_decoder_fail (dec, LLMQ_DECODE_NO_MEMORY, "out of memory");
    }
    out->size--;
    return LLMQ_DECODE_OK;
}
