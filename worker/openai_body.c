/*  openai_body.c -- llmq_openai_body: the chat-completions request JSON,
    written directly (see openai.h for the format).

    The body used to be built as a jansson tree and dumped: ~45k
    instructions a request, a fifth of an HTTP worker's CPU, for a
    document whose shape is fixed. Here it is one pass into one growing
    buffer, escaping strings as JSON requires. What it writes is what
    jansson wrote: the same keys in the same order, compact, strings
    refused when they are not valid UTF-8 (overlong forms, surrogates and
    code points past U+10FFFF included), reals with 15 significant digits
    and always a '.' or exponent, so 0.7 goes out as 0.7. Replies are still
    read with jansson (openai.c).

    Cost: O(body bytes), about 2 allocations a request (growth by
    doubling from the prompt size).
*/
#include "openai.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;                 /* NUL-terminated when done                */
    size_t len;                 /* bytes written                           */
    size_t alloc;               /* bytes allocated                         */
    bool failed;                /* out of memory: the body is abandoned    */
} s_out_t;

/*  Room for n more bytes (and a NUL); false when out of memory.          */
static bool
s_room (s_out_t *out, size_t n)
{
    if (out->failed)
        return false;
    if (n < out->alloc - out->len)
        return true;
    size_t alloc = out->alloc ? out->alloc : 256;
    while (alloc - out->len <= n) {
        if (alloc > SIZE_MAX / 2) {
            out->failed = true;
            return false;
        }
        alloc *= 2;
    }
    char *data = realloc (out->data, alloc);
    if (!data) {
        out->failed = true;
        return false;
    }
    out->data = data;
    out->alloc = alloc;
    return true;
}

static void
s_raw (s_out_t *out, const char *bytes, size_t n)
{
    if (s_room (out, n)) {
        memcpy (out->data + out->len, bytes, n);
        out->len += n;
    }
}

/*  A string literal (only a literal: sizeof gives its length).            */
#define S_LIT(out, lit) s_raw ((out), (lit), sizeof (lit) - 1)

static void
s_printf (s_out_t *out, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_printf (s_out_t *out, const char *fmt, ...)
{
    char tmp [64];
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (tmp, sizeof tmp, fmt, args);
    va_end (args);
    if (n > 0 && (size_t) n < sizeof tmp)
        s_raw (out, tmp, (size_t) n);
}

/*  Bytes of the UTF-8 sequence starting at s[0..len), or 0 when it is not
    a valid one (RFC 3629: no overlong forms, no surrogates, <= U+10FFFF). */
static size_t
s_utf8_seq (const unsigned char *s, size_t len)
{
    const unsigned char c = s [0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;     /* range of the second byte    */
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2;
    else
    if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0)
            lo = 0xa0;                      /* overlong                     */
        if (c == 0xed)
            hi = 0x9f;                      /* surrogates                   */
    }
    else
    if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0)
            lo = 0x90;                      /* overlong                     */
        if (c == 0xf4)
            hi = 0x8f;                      /* past U+10FFFF                */
    }
    else
        return 0;
    if (len < need || s [1] < lo || s [1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (s [i] < 0x80 || s [i] > 0xbf)
            return 0;
    return need;
}

/*  A JSON string; false (nothing sensible written) when s is not valid
    UTF-8. Escapes what JSON requires: '"', '\\' and control bytes.        */
static bool
s_string (s_out_t *out, const char *ptr, size_t len)
{
    static const char hex [] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *) (ptr ? ptr : "");
    //  Worst case every byte becomes \u00XX.
    if (!s_room (out, 6 * len + 2))
        return true;                        /* failed is set: no memory    */
    char *w = out->data + out->len;
    *w++ = '"';
    size_t i = 0;
    while (i < len) {
        const unsigned char c = s [i];
        if (c >= 0x80) {
            size_t n = s_utf8_seq (s + i, len - i);
            if (n == 0)
                return false;
            memcpy (w, s + i, n);
            w += n;
            i += n;
            continue;
        }
        if (c == '"' || c == '\\') {
            *w++ = '\\';
            *w++ = (char) c;
        }
        else
        if (c < 0x20) {
            *w++ = '\\';
            switch (c) {
                case '\b': *w++ = 'b'; break;
                case '\f': *w++ = 'f'; break;
                case '\n': *w++ = 'n'; break;
                case '\r': *w++ = 'r'; break;
                case '\t': *w++ = 't'; break;
                default:
                    *w++ = 'u';
                    *w++ = '0';
                    *w++ = '0';
                    *w++ = hex [c >> 4];
                    *w++ = hex [c & 15];
            }
        }
        else
            *w++ = (char) c;
        i++;
    }
    *w++ = '"';
    out->len = (size_t) (w - out->data);
    return true;
}

/*  A real as jansson writes it with JSON_REAL_PRECISION(15): %.15g, and
    ".0" added when that looks like an integer.                            */
static void
s_real (s_out_t *out, double v)
{
    char tmp [40];
    int n = snprintf (tmp, sizeof tmp, "%.15g", v);
    if (n <= 0 || (size_t) n >= sizeof tmp - 2)
        return;
    //  A locale with a decimal comma must not leak into JSON.
    for (int i = 0; i < n; i++)
        if (tmp [i] == ',')
            tmp [i] = '.';
    if (strspn (tmp, "0123456789-") == (size_t) n) {
        tmp [n++] = '.';
        tmp [n++] = '0';
    }
    s_raw (out, tmp, (size_t) n);
}

char *
llmq_openai_body (const llmq_wire_request_t *req, const char *model, char *err, size_t err_size)
{
    s_out_t out = { NULL, 0, 0, false };
    const char *bad = NULL;                 /* what was not valid UTF-8    */
    S_LIT (&out, "{\"model\":");
    if (!s_string (&out, model, model ? strlen (model) : 0))
        bad = "model name";
    if (!bad) {
        S_LIT (&out, ",\"messages\":[");
        for (uint32_t i = 0; i < req->n_messages && !bad; i++) {
            const llmq_chat_msg_t *msg = &req->messages [i];
            if (i)
                S_LIT (&out, ",");
            S_LIT (&out, "{\"role\":");
            if (!s_string (&out, msg->role.ptr, msg->role.len))
                bad = "message role";
            else {
                S_LIT (&out, ",\"content\":");
                if (!s_string (&out, msg->content.ptr, msg->content.len))
                    bad = "message content";
            }
            if (!bad && msg->name.len) {
                S_LIT (&out, ",\"name\":");
                if (!s_string (&out, msg->name.ptr, msg->name.len))
                    bad = "message name";
            }
            S_LIT (&out, "}");
        }
        S_LIT (&out, "]");
    }
    //  The generation parameters the client set, and nothing else: a
    //  backend uses its own defaults for the rest.
    if (!bad && req->has_max_tokens)
        s_printf (&out, ",\"max_tokens\":%" PRIu32, req->max_tokens);
    if (!bad && req->has_temperature) {
        S_LIT (&out, ",\"temperature\":");
        s_real (&out, req->temperature);
    }
    if (!bad && req->has_top_p) {
        S_LIT (&out, ",\"top_p\":");
        s_real (&out, req->top_p);
    }
    if (!bad && req->has_seed)
        s_printf (&out, ",\"seed\":%" PRId64, req->seed);
    if (!bad && req->n_stop > 0) {
        S_LIT (&out, ",\"stop\":[");
        for (uint32_t i = 0; i < req->n_stop && i < LLMQ_MAX_STOP && !bad; i++) {
            if (i)
                S_LIT (&out, ",");
            if (!s_string (&out, req->stop [i].ptr, req->stop [i].len))
                bad = "stop sequence";
        }
        S_LIT (&out, "]");
    }
    if (!bad) {
        if (req->stream)
            S_LIT (&out, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
        else
            S_LIT (&out, ",\"stream\":false}");
    }
    if (bad || out.failed || !s_room (&out, 1)) {
        if (bad)
            snprintf (err, err_size, "%s is not valid UTF-8", bad);
        else
            snprintf (err, err_size, "out of memory");
        free (out.data);
        return NULL;
    }
    out.data [out.len] = 0;
    return out.data;
}
