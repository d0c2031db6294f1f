/*  reqlog.c -- structured request log lines; see reqlog.h.  */
#include "reqlog.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define REQLOG_MAX_FIELD 256        /* bytes of a client string we show    */
#define REQLOG_LINE      12288      /* fits 5 escaped 256-byte strings     */

/*  An output cursor that never overruns and keeps room for "\n".         */
typedef struct {
    char *buf;                      /* output                              */
    size_t size;                    /* capacity, the last byte for NUL     */
    size_t used;                    /* bytes written                       */
} s_out_t;

static void
s_putc (s_out_t *out, char c)
{
    if (out->used + 2 < out->size)  /* room for this, "\n" and NUL         */
        out->buf [out->used++] = c;
}

static void
s_puts (s_out_t *out, const char *s)
{
    while (*s)
        s_putc (out, *s++);
}

static void
s_printf (s_out_t *out, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_printf (s_out_t *out, const char *fmt, ...)
{
    char tmp [64];
    va_list args;
    va_start (args, fmt);
    vsnprintf (tmp, sizeof tmp, fmt, args);
    va_end (args);
    s_puts (out, tmp);
}

/*  A JSON string (quoted, escaped), or null.                              */
static void
s_json_str (s_out_t *out, const char *s, size_t len)
{
    if (!s) {
        s_puts (out, "null");
        return;
    }
    if (len > REQLOG_MAX_FIELD)
        len = REQLOG_MAX_FIELD;
    s_putc (out, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s [i];
        if (c == '"' || c == '\\') {
            s_putc (out, '\\');
            s_putc (out, (char) c);
        }
        else
        if (c < 0x20 || c == 0x7f)
            s_printf (out, "\\u%04x", c);
        else
            s_putc (out, (char) c);
    }
    s_putc (out, '"');
}

/*  A logfmt value: bare when it is a plain word, else quoted with \" \\
    and control bytes escaped.                                             */
static void
s_logfmt_str (s_out_t *out, const char *s, size_t len)
{
    if (!s)
        return;
    if (len > REQLOG_MAX_FIELD)
        len = REQLOG_MAX_FIELD;
    bool plain = len > 0;
    for (size_t i = 0; i < len && plain; i++) {
        unsigned char c = (unsigned char) s [i];
        plain = c > ' ' && c != '"' && c != '=' && c != '\\' && c != 0x7f;
    }
    if (plain) {
        for (size_t i = 0; i < len; i++)
            s_putc (out, s [i]);
        return;
    }
    s_json_str (out, s, len);       /* the same escaping logfmt readers take */
}

static void
s_str (s_out_t *out, reqlog_format_t format, bool *first, const char *key,
       const char *s, size_t len)
{
    if (format == REQLOG_JSON) {
        s_puts (out, *first ? "\"" : ",\"");
        s_puts (out, key);
        s_puts (out, "\":");
        s_json_str (out, s, len);
    }
    else {
        if (!*first)
            s_putc (out, ' ');
        s_puts (out, key);
        s_putc (out, '=');
        s_logfmt_str (out, s, len);
    }
    *first = false;
}

static void
s_cstr (s_out_t *out, reqlog_format_t format, bool *first, const char *key, const char *s)
{
    s_str (out, format, first, key, s, s ? strlen (s) : 0);
}

static void
s_num (s_out_t *out, reqlog_format_t format, bool *first, const char *key, uint64_t value)
{
    if (format == REQLOG_JSON)
        s_printf (out, "%s\"%s\":%" PRIu64, *first ? "" : ",", key, value);
    else
        s_printf (out, "%s%s=%" PRIu64, *first ? "" : " ", key, value);
    *first = false;
}

static void
s_bool (s_out_t *out, reqlog_format_t format, bool *first, const char *key, bool value)
{
    if (format == REQLOG_JSON)
        s_printf (out, "%s\"%s\":%s", *first ? "" : ",", key, value ? "true" : "false");
    else
        s_printf (out, "%s%s=%s", *first ? "" : " ", key, value ? "true" : "false");
    *first = false;
}

int
reqlog_format_parse (const char *text, reqlog_format_t *format)
{
    if (strcmp (text, "off") == 0 || strcmp (text, "none") == 0)
        *format = REQLOG_OFF;
    else
    if (strcmp (text, "json") == 0)
        *format = REQLOG_JSON;
    else
    if (strcmp (text, "logfmt") == 0)
        *format = REQLOG_LOGFMT;
    else
        return -1;
    return 0;
}

size_t
reqlog_format (reqlog_format_t format, const reqlog_entry_t *e, uint64_t wall_ms,
               char *buf, size_t size)
{
    if (size == 0)
        return 0;
    if (size < 2) {
        buf [0] = 0;
        return 0;
    }
    s_out_t out = { buf, size, 0 };
    char ts [40];
    time_t secs = (time_t) (wall_ms / 1000);
    struct tm tm;
    gmtime_r (&secs, &tm);
    size_t n = strftime (ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (ts + n, sizeof ts - n, ".%03uZ", (unsigned) (wall_ms % 1000));

    bool first = true;
    if (format == REQLOG_JSON)
        s_putc (&out, '{');
    s_cstr (&out, format, &first, "ts", ts);
    s_cstr (&out, format, &first, "msg", "request");
    s_str (&out, format, &first, "id", e->id, e->id_len);
    s_cstr (&out, format, &first, "tenant", e->tenant);
    s_cstr (&out, format, &first, "model", e->model);
    s_cstr (&out, format, &first, "priority", e->priority);
    s_cstr (&out, format, &first, "outcome", e->outcome);
    s_cstr (&out, format, &first, "code", e->code);
    s_bool (&out, format, &first, "cached", e->cached);
    s_cstr (&out, format, &first, "worker", e->worker);
    s_num (&out, format, &first, "attempts", e->attempts);
    s_num (&out, format, &first, "queue_us", e->queue_us);
    s_num (&out, format, &first, "ttft_us", e->ttft_us);
    s_num (&out, format, &first, "total_us", e->total_us);
    s_num (&out, format, &first, "broker_us", e->broker_us);
    s_num (&out, format, &first, "prompt_tokens", e->prompt_tokens);
    s_num (&out, format, &first, "completion_tokens", e->completion_tokens);
    s_num (&out, format, &first, "request_bytes", e->request_bytes);
    if (e->has_prompt_size) {
        s_num (&out, format, &first, "prompt_bytes", e->prompt_bytes);
        s_num (&out, format, &first, "messages", e->messages);
    }
    if (format == REQLOG_JSON)
        s_putc (&out, '}');
    buf [out.used++] = '\n';        /* s_putc always left room for it       */
    buf [out.used] = 0;
    return out.used;
}

void
reqlog_write (reqlog_format_t format, const reqlog_entry_t *entry, int fd)
{
    if (format == REQLOG_OFF)
        return;
    struct timeval tv;
    gettimeofday (&tv, NULL);
    uint64_t wall_ms = (uint64_t) tv.tv_sec * 1000 + (uint64_t) tv.tv_usec / 1000;
    char line [REQLOG_LINE];
    size_t len = reqlog_format (format, entry, wall_ms, line, sizeof line);
    /*  A log line that cannot be written is dropped: the request it
        describes has already been answered, and retrying here would
        block the broker's loop.                                           */
    ssize_t rc = write (fd, line, len);
    (void) rc;
}
