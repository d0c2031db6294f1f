/*  buf.c -- llmq_buf_t, the growable output buffer, and llmq_writer_t,
    the free-form map writer used for STATS_REPLY.

    Encoders reset a buffer and write one whole frame into it. The buffer
    grows by doubling and never shrinks, so a sender that keeps one buffer
    per socket stops allocating after its largest frame (the broker's hot
    path depends on that).
*/
#include "llmq_proto_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void
llmq_buf_init (llmq_buf_t *buf)
{
    assert (buf);
    buf->data = NULL;
    buf->size = 0;
    buf->alloc = 0;
}

void
llmq_buf_free (llmq_buf_t *buf)
{
    assert (buf);
    free (buf->data);
    llmq_buf_init (buf);
}

//  Makes room for at least need bytes in total; 0 or -1.
static int
s_buf_reserve (llmq_buf_t *buf, size_t need)
{
    if (need <= buf->alloc)
        return 0;
    size_t alloc = buf->alloc ? buf->alloc : 256;
    while (alloc < need) {
        if (alloc > SIZE_MAX / 2)
            return -1;
        alloc *= 2;
    }
    char *data = realloc (buf->data, alloc);
    if (!data)
        return -1;
    buf->data = data;
    buf->alloc = alloc;
    return 0;
}

int
llmq_buf_reserve (llmq_buf_t *buf, size_t extra)
{
    if (extra > SIZE_MAX - buf->size)
        return -1;
    return s_buf_reserve (buf, buf->size + extra);
}

int
llmq_buf_append (llmq_buf_t *buf, const void *data, size_t len)
{
    //  Fast path first: the packer calls us once per header byte and once
    //  per string body, nearly always with room to spare.
    if (len <= buf->alloc - buf->size) {
        if (len == 1)
            buf->data [buf->size] = *(const char *) data;
        else
        if (len)
            memcpy (buf->data + buf->size, data, len);
        buf->size += len;
        return 0;
    }
    if (len > SIZE_MAX - buf->size || s_buf_reserve (buf, buf->size + len))
        return -1;
    if (len)
        memcpy (buf->data + buf->size, data, len);
    buf->size += len;
    return 0;
}

int
llmq_buf_pack_write (void *data, const char *bytes, size_t len)
{
    return llmq_buf_append ((llmq_buf_t *) data, bytes, len);
}

int
llmq_buf_start_frame (llmq_buf_t *buf, llmq_cmd_t cmd, msgpack_packer *pk)
{
    assert (buf);
    buf->size = 0;
    const char header [LLMQ_HEADER_SIZE] = {
        'L', 'L', 'M', 'Q', LLMQ_PROTO_VERSION, (char) cmd
    };
    msgpack_packer_init (pk, buf, llmq_buf_pack_write);
    return llmq_buf_append (buf, header, sizeof header);
}

/* ---------------------------------------------------------------------- */
//  The writer: a thin shell over msgpack_packer. Callers say how many
//  entries a map or array has up front (msgpack needs the count first).

struct llmq_writer {
    llmq_buf_t *buf;                //  Frame being written (not owned)
    msgpack_packer pk;              //  Packer writing into buf
    bool failed;                    //  A write ran out of memory
};

llmq_writer_t *
llmq_writer_new (llmq_buf_t *buf, llmq_cmd_t cmd)
{
    assert (buf);
    llmq_writer_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->buf = buf;
    if (llmq_buf_start_frame (buf, cmd, &self->pk))
        self->failed = true;
    return self;
}

void
llmq_writer_destroy (llmq_writer_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

bool
llmq_writer_failed (const llmq_writer_t *self)
{
    assert (self);
    return self->failed;
}

//  Folds a packer result into the writer's sticky failure flag.
static void
s_check (llmq_writer_t *self, int rc)
{
    if (rc)
        self->failed = true;
}

void
llmq_writer_map (llmq_writer_t *w, uint32_t n)
{
    s_check (w, msgpack_pack_map (&w->pk, n));
}

void
llmq_writer_array (llmq_writer_t *w, uint32_t n)
{
    s_check (w, msgpack_pack_array (&w->pk, n));
}

void
llmq_writer_str (llmq_writer_t *w, const char *s)
{
    llmq_writer_strn (w, s ? s : "", s ? strlen (s) : 0);
}

void
llmq_writer_strn (llmq_writer_t *w, const char *s, size_t len)
{
    s_check (w, msgpack_pack_str_with_body (&w->pk, s ? s : "", s ? len : 0));
}

void
llmq_writer_uint (llmq_writer_t *w, uint64_t v)
{
    s_check (w, msgpack_pack_uint64 (&w->pk, v));
}

void
llmq_writer_int (llmq_writer_t *w, int64_t v)
{
    s_check (w, msgpack_pack_int64 (&w->pk, v));
}

void
llmq_writer_double (llmq_writer_t *w, double v)
{
    s_check (w, msgpack_pack_double (&w->pk, v));
}

void
llmq_writer_bool (llmq_writer_t *w, bool v)
{
    s_check (w, v ? msgpack_pack_true (&w->pk) : msgpack_pack_false (&w->pk));
}

void
llmq_writer_nil (llmq_writer_t *w)
{
    s_check (w, msgpack_pack_nil (&w->pk));
}

void
llmq_writer_kv_uint (llmq_writer_t *w, const char *key, uint64_t v)
{
    llmq_writer_str (w, key);
    llmq_writer_uint (w, v);
}

void
llmq_writer_kv_str (llmq_writer_t *w, const char *key, const char *v)
{
    llmq_writer_str (w, key);
    llmq_writer_str (w, v);
}
