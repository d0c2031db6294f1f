/*  test_worker_sse.c -- the worker's Server-Sent Events parser (sse.c).

    The parser must give the same events however the bytes are cut, so
    most tests feed one stream split at every byte offset, byte by byte,
    and whole, and compare the events each way.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

#define MAX_EVENTS 32

typedef struct {
    char events [MAX_EVENTS][256];  /* "event|data" per event              */
    int count;
    int stop_after;                 /* return -1 on this event (1-based)   */
} collect_t;

static int
s_collect (void *arg, const char *event, size_t event_len, const char *data, size_t data_len)
{
    collect_t *c = arg;
    cr_assert_lt (c->count, MAX_EVENTS);
    snprintf (c->events [c->count], sizeof c->events [0], "%.*s|%.*s",
              (int) event_len, event, (int) data_len, data);
    c->count++;
    return c->stop_after && c->count == c->stop_after ? -1 : 0;
}

/*  Feeds text in pieces cut at the given offsets (ascending), then ends.  */
static void
s_feed_cut (const char *text, const size_t *cuts, size_t n_cuts, collect_t *c, bool finish)
{
    llmq_sse_t *sse = llmq_sse_new (1 << 16);
    cr_assert_not_null (sse);
    memset (c, 0, sizeof *c);
    size_t len = strlen (text), from = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t to = i < n_cuts ? cuts [i] : len;
        cr_assert_eq (llmq_sse_feed (sse, text + from, to - from, s_collect, c), 0,
                      "feed failed at %zu..%zu", from, to);
        from = to;
    }
    if (finish)
        cr_assert_eq (llmq_sse_finish (sse, s_collect, c), 0);
    llmq_sse_destroy (&sse);
    cr_assert_null (sse);
}

static void
s_assert_same (const collect_t *a, const collect_t *b, const char *how)
{
    cr_assert_eq (a->count, b->count, "%s: %d events, expected %d", how, a->count, b->count);
    for (int i = 0; i < a->count; i++)
        cr_assert_str_eq (a->events [i], b->events [i], "%s: event %d", how, i);
}

/*  The stream split in two at every offset, and byte by byte, gives the
    events of the whole stream.                                            */
static void
s_assert_any_cut (const char *text, bool finish)
{
    collect_t whole, cut;
    s_feed_cut (text, NULL, 0, &whole, finish);
    size_t len = strlen (text);
    for (size_t at = 0; at <= len; at++) {
        s_feed_cut (text, &at, 1, &cut, finish);
        char how [32];
        snprintf (how, sizeof how, "cut at %zu", at);
        s_assert_same (&cut, &whole, how);
    }
    size_t *every = malloc (len * sizeof *every);
    for (size_t i = 0; i < len; i++)
        every [i] = i;
    s_feed_cut (text, every, len, &cut, finish);
    s_assert_same (&cut, &whole, "byte by byte");
    free (every);
}

static const char *s_openai_stream =
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n"
    "\n"
    ": keep-alive\n"
    "\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n"
    "\n"
    "data: [DONE]\n"
    "\n";

Test (sse, openai_stream)
{
    collect_t c;
    s_feed_cut (s_openai_stream, NULL, 0, &c, false);
    cr_assert_eq (c.count, 3);
    cr_assert_str_eq (c.events [0], "|{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}");
    cr_assert_str_eq (c.events [1],
                      "|{\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}");
    cr_assert_str_eq (c.events [2], "|[DONE]");
}

Test (sse, split_at_every_offset)
{
    s_assert_any_cut (s_openai_stream, false);
}

Test (sse, crlf_line_ends)
{
    const char *text = "data: a\r\n\r\ndata: b\r\n\r\n: c\r\n\r\ndata: [DONE]\r\n\r\n";
    collect_t c;
    s_feed_cut (text, NULL, 0, &c, false);
    cr_assert_eq (c.count, 3);
    cr_assert_str_eq (c.events [0], "|a");
    cr_assert_str_eq (c.events [1], "|b");
    cr_assert_str_eq (c.events [2], "|[DONE]");
    /*  A cut between CR and LF must not make an extra blank line.         */
    s_assert_any_cut (text, false);
}

Test (sse, bare_cr_line_ends)
{
    const char *text = "data: a\r\rdata: b\rdata: c\r\r";
    collect_t c;
    s_feed_cut (text, NULL, 0, &c, false);
    cr_assert_eq (c.count, 2);
    cr_assert_str_eq (c.events [0], "|a");
    cr_assert_str_eq (c.events [1], "|b\nc");
    s_assert_any_cut (text, false);
}

Test (sse, comments_are_skipped)
{
    const char *text = ":first\n: second\n\n:\ndata: x\n:between\n\n";
    collect_t c;
    s_feed_cut (text, NULL, 0, &c, false);
    cr_assert_eq (c.count, 1);
    cr_assert_str_eq (c.events [0], "|x");
    s_assert_any_cut (text, false);
}

Test (sse, multi_line_data_joined_with_lf)
{
    const char *text = "data: one\ndata:two\ndata:  three\ndata\n\n";
    collect_t c;
    s_feed_cut (text, NULL, 0, &c, false);
    cr_assert_eq (c.count, 1);
    /*  One space after the colon is dropped, a second is kept; "data"
        alone is an empty data line.                                       */
    cr_assert_str_eq (c.events [0], "|one\ntwo\n three\n");
    s_assert_any_cut (text, false);
}

Test (sse, event_field_and_ignored_fields)
{
    const char *text = "event: error\nid: 7\nretry: 10\nfoo: bar\ndata: {\"e\":1}\n\n"
                       "data: plain\n\n";
    collect_t c;
    s_feed_cut (text, NULL, 0, &c, false);
    cr_assert_eq (c.count, 2);
    cr_assert_str_eq (c.events [0], "error|{\"e\":1}");
    cr_assert_str_eq (c.events [1], "|plain", "the event name does not carry over");
    s_assert_any_cut (text, false);
}

Test (sse, blank_lines_without_data_dispatch_nothing)
{
    const char *text = "\n\n\nevent: x\n\ndata:\n\n";
    collect_t c;
    s_feed_cut (text, NULL, 0, &c, false);
    cr_assert_eq (c.count, 1);
    cr_assert_str_eq (c.events [0], "|", "an empty data field is still an event");
}

Test (sse, incomplete_event_waits_for_blank_line)
{
    llmq_sse_t *sse = llmq_sse_new (1024);
    collect_t c = { .count = 0 };
    cr_assert_eq (llmq_sse_feed (sse, "data: a\n", 8, s_collect, &c), 0);
    cr_assert_eq (c.count, 0);
    cr_assert_eq (llmq_sse_feed (sse, "\n", 1, s_collect, &c), 0);
    cr_assert_eq (c.count, 1);
    llmq_sse_destroy (&sse);
}

Test (sse, finish_flushes_unterminated_event)
{
    collect_t c;
    s_feed_cut ("data: a\n\ndata: last", NULL, 0, &c, true);
    cr_assert_eq (c.count, 2);
    cr_assert_str_eq (c.events [1], "|last");
    s_assert_any_cut ("data: a\n\ndata: last\n", true);
}

Test (sse, event_too_large_fails)
{
    llmq_sse_t *sse = llmq_sse_new (16);
    collect_t c = { .count = 0 };
    cr_assert_eq (llmq_sse_feed (sse, "data: 0123456789", 16, s_collect, &c), 0);
    cr_assert_eq (llmq_sse_feed (sse, "abcdef", 6, s_collect, &c), -1);
    cr_assert_str_eq (llmq_sse_error (sse), "event too large");
    /*  Data lines add up too, not only a single long line.                */
    llmq_sse_reset (sse);
    cr_assert_str_eq (llmq_sse_error (sse), "");
    const char *two = "data: 0123456789\ndata: 0123456789\n";   /* 10 + 11 bytes */
    cr_assert_eq (llmq_sse_feed (sse, two, strlen (two), s_collect, &c), -1);
    cr_assert_eq (c.count, 0);
    llmq_sse_destroy (&sse);
}

Test (sse, callback_can_stop_the_stream)
{
    llmq_sse_t *sse = llmq_sse_new (1024);
    collect_t c = { .count = 0, .stop_after = 1 };
    const char *text = "data: a\n\ndata: b\n\n";
    cr_assert_eq (llmq_sse_feed (sse, text, strlen (text), s_collect, &c), -1);
    cr_assert_eq (c.count, 1);
    cr_assert_str_eq (llmq_sse_error (sse), "stopped by callback");
    llmq_sse_destroy (&sse);
}

Test (sse, reset_forgets_pending_state)
{
    llmq_sse_t *sse = llmq_sse_new (1024);
    collect_t c = { .count = 0 };
    cr_assert_eq (llmq_sse_feed (sse, "data: old\ndata: par", 19, s_collect, &c), 0);
    llmq_sse_reset (sse);
    cr_assert_eq (llmq_sse_feed (sse, "data: new\n\n", 11, s_collect, &c), 0);
    cr_assert_eq (c.count, 1);
    cr_assert_str_eq (c.events [0], "|new");
    llmq_sse_destroy (&sse);
}

Test (sse, destroy_null_is_harmless)
{
    llmq_sse_t *sse = NULL;
    llmq_sse_destroy (&sse);
    llmq_sse_destroy (NULL);
}
