/*  cli_util.c -- helpers the `llmq` subcommands share; see cli.h.  */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *
cli_env (const char *name, const char *fallback)
{
    const char *value = getenv (name);
    return value && *value? value: fallback;
}

int
cli_usage_error (const char *cmd, const char *fmt, ...)
{
    fprintf (stderr, "llmq %s: ", cmd);
    va_list args;
    va_start (args, fmt);
    vfprintf (stderr, fmt, args);
    va_end (args);
    fprintf (stderr, "\nTry 'llmq %s --help'.\n", cmd);
    return CLI_EXIT_USAGE;
}

int
cli_fail (const char *name, const char *fmt, ...)
{
    fprintf (stderr, "llmq: %s: ", name);
    va_list args;
    va_start (args, fmt);
    vfprintf (stderr, fmt, args);
    va_end (args);
    fputc ('\n', stderr);
    return CLI_EXIT_FAILURE;
}

int
cli_parse_u32 (const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
    if (!text || *text < '0' || *text > '9')
        return -1;                  //  no sign, no blanks, no empty
    errno = 0;
    char *end;
    unsigned long long value = strtoull (text, &end, 10);
    if (errno || *end || value < min || value > max)
        return -1;
    *out = (uint32_t) value;
    return 0;
}

int
cli_parse_double (const char *text, double *out)
{
    if (!text || !*text)
        return -1;
    errno = 0;
    char *end;
    double value = strtod (text, &end);
    if (errno || *end || !isfinite (value))
        return -1;
    *out = value;
    return 0;
}

int
cli_parse_priority (const char *text, uint32_t *out)
{
    if (cli_parse_u32 (text, 0, LLMQ_PRIO__COUNT - 1, out) == 0)
        return 0;
    return llmq_priority_from_name (text, out);
}
