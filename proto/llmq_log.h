/*  llmq_log.h -- one-line, timestamped log records on stderr.

    Every llmq process logs the same way, so operators can grep all of them
    with one pattern:

        2026-11-25T13:45:00.123Z I llmq-broker: ready clients=tcp://...

    Levels: 'E' error, 'W' warning, 'I' info, 'D' debug. Whether a debug
    line is wanted is the caller's decision (its --verbose flag); this
    module keeps no state. One record is written with a single write(2)
    so lines from concurrent threads or processes do not interleave.
*/
#ifndef LLMQ_LOG_H_INCLUDED
#define LLMQ_LOG_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

void llmq_log (char level, const char *who, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#ifdef __cplusplus
}
#endif

#endif
