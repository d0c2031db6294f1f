/*  sse.h -- incremental Server-Sent Events parser.

    OpenAI-compatible servers stream an answer as text/event-stream:

        data: {"choices":[{"delta":{"content":"Hel"}}]}\n
        \n
        : keep-alive comment\n
        data: [DONE]\n
        \n

    libcurl hands us the body in chunks cut anywhere (inside a line, between
    the CR and LF of a CRLF), so the parser keeps the unfinished line and the
    unfinished event between calls to llmq_sse_feed and calls back once per
    complete event.

    It follows the WHATWG event-stream rules that matter to us: lines end
    with CRLF, LF or CR; a line starting with ':' is a comment; "field:
    value" drops one space after the colon; several data lines join with
    '\n'; a blank line dispatches the event, and an event with no data line
    is not dispatched. "id" and "retry" are ignored (we never reconnect a
    stream). A UTF-8 BOM is not skipped: no LLM server sends one.

    Cost: O(bytes fed). A complete line inside one chunk is parsed where it
    lies; only a line cut by a chunk boundary is copied, and each event's
    data once, into the event buffer. Memory is bounded by max_event bytes, so a server that never
    ends a line cannot make us grow without limit.

        llmq_sse_t *sse = llmq_sse_new (1 << 20);
        while (more bytes)
            if (llmq_sse_feed (sse, bytes, len, on_event, arg) == -1)
                abort the transfer;
        llmq_sse_finish (sse, on_event, arg);
        llmq_sse_destroy (&sse);
*/
#ifndef LLMQ_SSE_H_INCLUDED
#define LLMQ_SSE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

/*  Called once per event. event is the "event:" field ("" when none);
    data is the joined data lines. Neither is NUL-terminated and both are
    valid only during the call. Return 0 to go on, -1 to stop parsing
    (llmq_sse_feed then returns -1 too).                                   */
typedef int (llmq_sse_fn) (void *arg, const char *event, size_t event_len,
                           const char *data, size_t data_len);

typedef struct llmq_sse llmq_sse_t;

/*  A parser whose pending line plus pending event data may not exceed
    max_event bytes. NULL on no memory.                                    */
llmq_sse_t *llmq_sse_new (size_t max_event);
void llmq_sse_destroy (llmq_sse_t **self_p);

/*  Parses len more bytes, calling fn for each event they complete.
    0 ok; -1 when fn asked to stop or an event grew over max_event (see
    llmq_sse_error). After -1 the parser must be reset before reuse.       */
int llmq_sse_feed (llmq_sse_t *self, const char *bytes, size_t len,
                   llmq_sse_fn *fn, void *arg);

/*  End of stream: a last line without its line end, and a last event
    without its blank line, are dispatched rather than lost (servers that
    close the connection right after the last data line exist). 0 or -1
    as for llmq_sse_feed.                                                  */
int llmq_sse_finish (llmq_sse_t *self, llmq_sse_fn *fn, void *arg);

/*  Forgets everything pending, ready for a new stream.                    */
void llmq_sse_reset (llmq_sse_t *self);

/*  Why the last -1 happened: "event too large", "stopped by callback",
    or "" when none.                                                       */
const char *llmq_sse_error (const llmq_sse_t *self);

#endif
