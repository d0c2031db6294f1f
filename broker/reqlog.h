/*  reqlog.h -- one structured log line per finished request.

    Operators grep these by request id, or feed them to a log pipeline:
    JSON lines (--log-format json) or logfmt (--log-format logfmt); off
    by default. A line names the request (client id, tenant, model,
    priority), how it ended (outcome, error code, cached, worker,
    attempts), its times (queue, first token, total, broker, all in
    microseconds), its token usage and the size in bytes of the request
    it sent. It never carries the prompt, the answer or any key: only
    what the broker's counters already know.

        {"ts":"2026-11-25T14:02:03.123Z","msg":"request","id":"r1",
         "tenant":"default","model":"mock","priority":"normal",
         "outcome":"answered","code":null,"cached":false,"worker":"w1",
         "attempts":1,"queue_us":12,"ttft_us":803,"total_us":1650,
         "broker_us":9,"prompt_tokens":12,"completion_tokens":30,
         "request_bytes":312}

    The line is built in a stack buffer and written with one write(2) to
    the given descriptor (stderr in the broker), so lines never interleave
    with other log lines. Strings from clients are escaped (JSON) or
    quoted (logfmt), and cut at 256 bytes.

    Complexity: O(line length), no allocation.
*/
#ifndef LLMQ_BROKER_REQLOG_H_INCLUDED
#define LLMQ_BROKER_REQLOG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    REQLOG_OFF = 0,
    REQLOG_JSON,
    REQLOG_LOGFMT
} reqlog_format_t;

/*  "off" | "json" | "logfmt" -> format; -1 for anything else.             */
int reqlog_format_parse (const char *text, reqlog_format_t *format);

/*  What a line says. Strings may be NULL (written as null / empty).      */
typedef struct {
    const char *id;                 /* client request id                   */
    size_t id_len;
    const char *tenant;
    const char *model;
    const char *priority;           /* priority name                       */
    const char *outcome;            /* "answered" | "cached" | "error"     */
    const char *code;               /* error code name, NULL when none     */
    bool cached;
    const char *worker;             /* worker id, NULL when none           */
    uint32_t attempts;
    uint64_t queue_us, ttft_us, total_us, broker_us;
    uint32_t prompt_tokens, completion_tokens;
    uint64_t request_bytes;         /* size of the request (not its text)  */
    /*  --log-prompt-sizes: the bytes of the messages' contents and how
        many messages; written only when has_prompt_size.                  */
    bool has_prompt_size;
    uint64_t prompt_bytes;
    uint32_t messages;
} reqlog_entry_t;

/*  Formats entry as one line (newline included) into buf; the length, at
    most size - 1 (a line that does not fit is cut and still ends in a
    newline). wall_ms is the wall-clock time for "ts".                     */
size_t reqlog_format (reqlog_format_t format, const reqlog_entry_t *entry,
                      uint64_t wall_ms, char *buf, size_t size);
/*  Formats and writes one line to fd; nothing when format is OFF.         */
void reqlog_write (reqlog_format_t format, const reqlog_entry_t *entry, int fd);

#endif
