/*  llmq_log.c -- see llmq_log.h.  */
#include "llmq_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

void
llmq_log (char level, const char *who, const char *fmt, ...)
{
    char line[2048];
    struct timeval tv;
    gettimeofday (&tv, NULL);
    struct tm tm;
    gmtime_r (&tv.tv_sec, &tm);
    int n = (int) strftime (line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf (line + n, sizeof line - (size_t) n, ".%03dZ %c %s: ",
                   (int) (tv.tv_usec / 1000), level, who);
    va_list args;
    va_start (args, fmt);
    int body = vsnprintf (line + n, sizeof line - (size_t) n - 1, fmt, args);
    va_end (args);
    if (body < 0)
        body = 0;
    n += body;
    if (n > (int) sizeof line - 2)
        n = (int) sizeof line - 2;      /* truncated: still one line */
    line[n++] = '\n';
    /*  One write: records from several processes sharing stderr stay whole. */
    ssize_t rc = write (STDERR_FILENO, line, (size_t) n);
    (void) rc;
}
