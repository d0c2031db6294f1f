/*  main.c -- the `llmq` command: dispatches to a subcommand.

        llmq chat  [options] PROMPT     one chat request
        llmq stats [options]            the broker's counters and workers
        llmq bench [options]            load test: requests/s and latency

    main owns the only process-wide state: the flag set by SIGINT and
    SIGTERM. The handlers are installed without SA_RESTART, so a blocking
    llmq_process returns with EINTR and the subcommand can react (chat
    cancels its request, bench prints what it measured).
*/
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t s_interrupted = 0;

static void
s_on_signal (int signum)
{
    (void) signum;
    s_interrupted = 1;
}

bool
cli_interrupted (void)
{
    return s_interrupted != 0;
}

static void
s_catch_signals (void)
{
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
}

static void
s_usage (FILE *out)
{
    fprintf (out,
        "Usage: llmq COMMAND [OPTIONS]\n"
        "       llmq --help | --version\n"
        "\n"
        "The command-line client of the llmq broker.\n"
        "\n"
        "Commands:\n"
        "  chat    send one chat request and print the answer (streamed by default)\n"
        "  stats   show the broker's counters, queues and workers\n"
        "  bench   keep many requests in flight and measure requests/s and latency\n"
        "  top     live view of the broker (rates, latency, queues, workers)\n"
        "\n"
        "Run 'llmq COMMAND --help' for the options of a command.\n"
        "\n"
        "Environment:\n"
        "  LLMQ_BROKER   broker client endpoint   (default " CLI_DEFAULT_BROKER ")\n"
        "  LLMQ_STATS    broker stats endpoint    (default " CLI_DEFAULT_STATS ")\n"
        "  LLMQ_STATS_PUB broker snapshot PUB     (default tcp://127.0.0.1:5558)\n"
        "  LLMQ_MODEL    model when -m is not given (default " CLI_DEFAULT_MODEL ")\n"
        "\n"
        "Exit status:\n"
        "  0    success\n"
        "  1    the request failed or the broker did not answer; the reason is\n"
        "       printed on stderr as 'llmq: NAME: MESSAGE' (NAME as in the\n"
        "       protocol: timeout, no_worker, overloaded, backend, ...)\n"
        "  2    usage error (unknown option, bad value)\n"
        "  130  interrupted (Ctrl-C); a chat request is cancelled at the broker\n");
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        s_usage (stderr);
        return CLI_EXIT_USAGE;
    }
    const char *command = argv [1];
    if (strcmp (command, "--help") == 0 || strcmp (command, "-h") == 0
    ||  strcmp (command, "help") == 0) {
        s_usage (stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp (command, "--version") == 0 || strcmp (command, "-V") == 0) {
        printf ("llmq %s (libllmq %s, protocol LLMQ/%d)\n",
                LLMQ_VERSION_STRING, LLMQ_CLIENT_VERSION, LLMQ_PROTO_VERSION);
        return CLI_EXIT_OK;
    }
    s_catch_signals ();
    if (strcmp (command, "chat") == 0)
        return cli_chat (argc - 1, argv + 1);
    if (strcmp (command, "stats") == 0)
        return cli_stats (argc - 1, argv + 1);
    if (strcmp (command, "bench") == 0)
        return cli_bench (argc - 1, argv + 1);
    if (strcmp (command, "top") == 0)
        return cli_top (argc - 1, argv + 1);
    fprintf (stderr, "llmq: unknown command '%s'\nTry 'llmq --help'.\n", command);
    return CLI_EXIT_USAGE;
}
