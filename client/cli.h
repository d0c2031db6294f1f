/*  cli.h -- the `llmq` command's parts: main.c dispatches to one function
    per subcommand (cli_chat.c, cli_stats.c, cli_bench.c); cli_util.c has
    what they share. Not part of libllmq.

    Exit status, the same for every subcommand (and documented in
    `llmq --help`): 0 success, 1 failure (printed on stderr as
    "llmq: NAME: MESSAGE"), 2 usage error, 130 interrupted.
*/
#ifndef LLMQ_CLI_H_INCLUDED
#define LLMQ_CLI_H_INCLUDED

//  The command uses the codec only for names and JSON.
#include "llmq_proto.h"
#include "llmq.h"

#include <stdbool.h>
#include <stdint.h>

#define CLI_EXIT_OK         0
#define CLI_EXIT_FAILURE    1
#define CLI_EXIT_USAGE      2
#define CLI_EXIT_INTERRUPT  130

#define CLI_DEFAULT_BROKER  "tcp://127.0.0.1:5555"
#define CLI_DEFAULT_STATS   "tcp://127.0.0.1:5557"
#define CLI_DEFAULT_MODEL   "mock"

/*  Subcommands: argv[0] is the subcommand's name. Return the exit status. */
int cli_chat (int argc, char **argv);
int cli_stats (int argc, char **argv);
int cli_bench (int argc, char **argv);
int cli_top (int argc, char **argv);

/*  True once SIGINT or SIGTERM arrived (main.c owns the flag).           */
bool cli_interrupted (void);

/*  The value of environment variable name, or fallback when unset/empty. */
const char *cli_env (const char *name, const char *fallback);

/*  Prints "llmq CMD: MESSAGE" and a pointer to --help on stderr; returns
    CLI_EXIT_USAGE so callers can `return cli_usage_error (...)`.          */
int cli_usage_error (const char *cmd, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  Prints "llmq: NAME: MESSAGE" on stderr; returns CLI_EXIT_FAILURE.     */
int cli_fail (const char *name, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  Whole decimal numbers in [min, max] and finite doubles; 0 or -1.      */
int cli_parse_u32 (const char *text, uint32_t min, uint32_t max, uint32_t *out);
int cli_parse_double (const char *text, double *out);

/*  A priority given as a name ("high") or a number (0..4); 0 or -1.      */
int cli_parse_priority (const char *text, uint32_t *out);

#endif
