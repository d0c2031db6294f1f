/*  sse.c -- incremental Server-Sent Events parser; see sse.h.

    The input is scanned once for line ends. A line wholly inside the
    chunk is handed to parse_line where it lies; only the tail of a chunk
    (a line cut in two) is copied into self->line, to be completed by the
    next chunk. A CR that ends a chunk may be the first half of a CRLF, so
    skip_lf remembers to swallow an LF that starts the next chunk.
*/
#include "sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct llmq_sse {
    size_t max_event;       /* bound on line + data + event name bytes    */
    char *line;             /* unfinished line carried across chunks      */
    size_t line_len;        /* bytes in line                              */
    size_t line_alloc;      /* bytes allocated for line                   */
    char *data;             /* data lines of the current event, '\n'-joined */
    size_t data_len;        /* bytes in data                              */
    size_t data_alloc;      /* bytes allocated for data                   */
    bool has_data;          /* a data field was seen in this event        */
    char *event;            /* "event:" field of the current event        */
    size_t event_len;       /* bytes in event                             */
    size_t event_alloc;     /* bytes allocated for event                  */
    bool skip_lf;           /* last chunk ended with CR: eat a leading LF */
    const char *error;      /* reason of the last -1, "" if none          */
};

llmq_sse_t *
llmq_sse_new (size_t max_event)
{
    llmq_sse_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max_event = max_event;
    self->error = "";
    return self;
}

void
llmq_sse_destroy (llmq_sse_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    llmq_sse_t *self = *self_p;
    free (self->line);
    free (self->data);
    free (self->event);
    free (self);
    *self_p = NULL;
}

void
llmq_sse_reset (llmq_sse_t *self)
{
    self->line_len = 0;
    self->data_len = 0;
    self->event_len = 0;
    self->has_data = false;
    self->skip_lf = false;
    self->error = "";
}

const char *
llmq_sse_error (const llmq_sse_t *self)
{
    return self->error;
}

/*  Appends n bytes to a growable buffer, first checking that the parser's
    whole pending state stays within max_event.                            */
static int
s_append (llmq_sse_t *self, char **buf, size_t *len, size_t *alloc,
          const char *bytes, size_t n)
{
    if (n == 0)
        return 0;
    if (self->line_len + self->data_len + self->event_len + n > self->max_event) {
        self->error = "event too large";
        return -1;
    }
    if (*len + n > *alloc) {
        size_t want = *alloc ? *alloc : 256;
        while (want < *len + n)
            want *= 2;
        char *grown = realloc (*buf, want);
        if (!grown) {
            self->error = "out of memory";
            return -1;
        }
        *buf = grown;
        *alloc = want;
    }
    memcpy (*buf + *len, bytes, n);
    *len += n;
    return 0;
}

/*  A blank line: hand the event over, then start a fresh one.             */
static int
s_dispatch (llmq_sse_t *self, llmq_sse_fn *fn, void *arg)
{
    int rc = 0;
    if (self->has_data) {
        rc = fn (arg, self->event ? self->event : "", self->event_len,
                 self->data ? self->data : "", self->data_len);
        if (rc != 0)
            self->error = "stopped by callback";
    }
    self->data_len = 0;
    self->event_len = 0;
    self->has_data = false;
    return rc == 0 ? 0 : -1;
}

/*  One complete line, without its line end.                               */
static int
s_parse_line (llmq_sse_t *self, const char *line, size_t n,
              llmq_sse_fn *fn, void *arg)
{
    if (n == 0)
        return s_dispatch (self, fn, arg);
    if (line [0] == ':')
        return 0;                       /* comment, e.g. a keep-alive */

    const char *colon = memchr (line, ':', n);
    size_t field_len = colon ? (size_t) (colon - line) : n;
    const char *value = colon ? colon + 1 : line + n;
    size_t value_len = (size_t) (line + n - value);
    if (value_len > 0 && *value == ' ') {
        value++;
        value_len--;
    }
    if (field_len == 4 && memcmp (line, "data", 4) == 0) {
        if (self->has_data
        &&  s_append (self, &self->data, &self->data_len, &self->data_alloc, "\n", 1))
            return -1;
        self->has_data = true;
        return s_append (self, &self->data, &self->data_len, &self->data_alloc,
                         value, value_len);
    }
    if (field_len == 5 && memcmp (line, "event", 5) == 0) {
        self->event_len = 0;
        return s_append (self, &self->event, &self->event_len, &self->event_alloc,
                         value, value_len);
    }
    return 0;                           /* id, retry, unknown: ignored */
}

/*  Offset of the first CR or LF in bytes[0..n), or n.                     */
static size_t
s_find_eol (const char *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (bytes [i] == '\n' || bytes [i] == '\r')
            return i;
    return n;
}

int
llmq_sse_feed (llmq_sse_t *self, const char *bytes, size_t len,
               llmq_sse_fn *fn, void *arg)
{
    size_t pos = 0;
    if (self->skip_lf && len > 0) {
        if (bytes [0] == '\n')
            pos = 1;
        self->skip_lf = false;
    }
    while (pos < len) {
        const char *start = bytes + pos;
        size_t eol = s_find_eol (start, len - pos);
        if (eol == len - pos)           /* cut line: keep it for later */
            return s_append (self, &self->line, &self->line_len, &self->line_alloc,
                             start, eol);
        int rc;
        if (self->line_len > 0) {
            if (s_append (self, &self->line, &self->line_len, &self->line_alloc,
                          start, eol))
                return -1;
            size_t n = self->line_len;
            self->line_len = 0;         /* before parsing: it may count size */
            rc = s_parse_line (self, self->line, n, fn, arg);
        }
        else
            rc = s_parse_line (self, start, eol, fn, arg);
        if (rc)
            return -1;
        pos += eol + 1;
        if (start [eol] == '\r') {
            if (pos == len)
                self->skip_lf = true;
            else
            if (bytes [pos] == '\n')
                pos++;
        }
    }
    return 0;
}

int
llmq_sse_finish (llmq_sse_t *self, llmq_sse_fn *fn, void *arg)
{
    int rc = 0;
    if (self->line_len > 0) {
        size_t n = self->line_len;
        self->line_len = 0;
        rc = s_parse_line (self, self->line, n, fn, arg);
    }
    if (rc == 0)
        rc = s_dispatch (self, fn, arg);
    const char *error = self->error;
    llmq_sse_reset (self);
    self->error = error;
    return rc;
}
