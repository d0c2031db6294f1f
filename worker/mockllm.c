/*  mockllm.c -- llmq-mockllm: an OpenAI-compatible mock LLM server.

    Thin main: parses flags, starts mockllm_server, logs the readiness line
    tests and scripts wait for, and sleeps in sigwait until SIGINT or
    SIGTERM. The signals are blocked before any thread starts, so only
    sigwait sees them and no handler or flag is needed.
*/
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "llmq_log.h"
#include "llmq_proto.h"
#include "mockllm_server.h"

#define WHO "llmq-mockllm"

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: llmq-mockllm [options]\n"
        "OpenAI-compatible mock LLM server for llmq tests and benchmarks.\n"
        "Answers \"Mock answer to: <words of the last user message, cycled>\".\n"
        "\n"
        "  --listen HOST:PORT    address to bind (default 127.0.0.1:8000; port 0 = any)\n"
        "  --ttft-ms N           delay before the first token (default 0)\n"
        "  --tpot-ms N           delay between tokens (default 0)\n"
        "  --tokens N            answer length in tokens (default 16); a smaller\n"
        "                        max_tokens in the request cuts it: finish_reason \"length\"\n"
        "  --error-rate F        share of chat requests answered with an error (0..1)\n"
        "  --error-status CODE   HTTP status of those errors (default 500; 429 adds\n"
        "                        Retry-After: 1)\n"
        "  --hang-rate F         share accepted and never answered\n"
        "  --malformed-rate F    share answered 200 with a broken body\n"
        "  --seed N              seed of the rates' PRNG (default 1)\n"
        "  --threads N           HTTP threads (default 2)\n"
        "  -v, --verbose         log every request\n"
        "  -h, --help            this text\n"
        "  -V, --version         print the version\n"
        "\n"
        "Endpoints: POST /v1/chat/completions, GET /v1/models, GET /health, GET /stats.\n"
        "The rates are exclusive and must sum to at most 1.\n");
}

/*  Strict unsigned parse: the whole string, within [0, max].  */
static int
s_parse_uint (const char *text, unsigned long long max, unsigned long long *value)
{
    char *end;
    errno = 0;
    if (!text [0] || text [0] == '-')
        return -1;
    *value = strtoull (text, &end, 10);
    return errno || *end || *value > max ? -1 : 0;
}

static int
s_parse_rate (const char *text, double *value)
{
    char *end;
    *value = strtod (text, &end);
    return *end || end == text || !(*value >= 0.0 && *value <= 1.0) ? -1 : 0;
}

/*  HOST:PORT or [V6HOST]:PORT; host written into host (size bytes).  */
static int
s_parse_listen (const char *text, char *host, size_t size, uint16_t *port)
{
    const char *colon = strrchr (text, ':');
    if (!colon || colon == text)
        return -1;
    const char *start = text, *end = colon;
    if (text [0] == '[' && colon [-1] == ']') {
        start++;
        end--;
    }
    if ((size_t) (end - start) >= size || end == start)
        return -1;
    memcpy (host, start, (size_t) (end - start));
    host [end - start] = '\0';
    unsigned long long value;
    if (s_parse_uint (colon + 1, 65535, &value))
        return -1;
    *port = (uint16_t) value;
    return 0;
}

/*  Applies one option; 0 ok, 1 exit 0 (help/version), -1 bad usage.  */
static int
s_apply_option (int opt, const char *arg, mockllm_config_t *config, char *host,
                size_t host_size)
{
    unsigned long long value = 0;
    int rc = 0;
    switch (opt) {
        case 'l': rc = s_parse_listen (arg, host, host_size, &config->port); break;
        case 't': rc = s_parse_uint (arg, 3600000, &value); config->ttft_ms = (uint32_t) value; break;
        case 'p': rc = s_parse_uint (arg, 3600000, &value); config->tpot_ms = (uint32_t) value; break;
        case 'n': rc = s_parse_uint (arg, 1000000, &value) || value == 0;
                  config->tokens = (uint32_t) value; break;
        case 'e': rc = s_parse_rate (arg, &config->error_rate); break;
        case 's': rc = s_parse_uint (arg, 599, &value) || value < 400;
                  config->error_status = (unsigned) value; break;
        case 'g': rc = s_parse_rate (arg, &config->hang_rate); break;
        case 'm': rc = s_parse_rate (arg, &config->malformed_rate); break;
        case 'S': rc = s_parse_uint (arg, UINT64_MAX, &value); config->seed = value; break;
        case 'T': rc = s_parse_uint (arg, 64, &value) || value == 0;
                  config->threads = (unsigned) value; break;
        case 'v': config->verbose = true; break;
        case 'h': s_usage (stdout); return 1;
        case 'V': printf ("llmq-mockllm %s\n", LLMQ_VERSION_STRING); return 1;
        default: return -1;
    }
    if (rc)
        fprintf (stderr, "llmq-mockllm: bad value '%s'\n", arg);
    return rc ? -1 : 0;
}

static int
s_parse_args (int argc, char **argv, mockllm_config_t *config, char *host, size_t host_size)
{
    static const struct option options [] = {
        { "listen", required_argument, NULL, 'l' },
        { "ttft-ms", required_argument, NULL, 't' },
        { "tpot-ms", required_argument, NULL, 'p' },
        { "tokens", required_argument, NULL, 'n' },
        { "error-rate", required_argument, NULL, 'e' },
        { "error-status", required_argument, NULL, 's' },
        { "hang-rate", required_argument, NULL, 'g' },
        { "malformed-rate", required_argument, NULL, 'm' },
        { "seed", required_argument, NULL, 'S' },
        { "threads", required_argument, NULL, 'T' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "vhV", options, NULL)) != -1) {
        int rc = s_apply_option (opt, optarg, config, host, host_size);
        if (rc)
            return rc;
    }
    if (optind < argc) {
        fprintf (stderr, "llmq-mockllm: unexpected argument '%s'\n", argv [optind]);
        return -1;
    }
    if (config->error_rate + config->hang_rate + config->malformed_rate > 1.0 + 1e-9) {
        fprintf (stderr, "llmq-mockllm: --error-rate + --hang-rate + --malformed-rate > 1\n");
        return -1;
    }
    return 0;
}

/*  Benchmarks open thousands of connections: use the hard fd limit.  */
static void
s_raise_fd_limit (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
}

int
main (int argc, char **argv)
{
    char host [256] = "127.0.0.1";
    mockllm_config_t config = {
        .host = host, .port = 8000, .threads = 2, .tokens = 16,
        .error_status = 500, .seed = 1
    };
    int rc = s_parse_args (argc, argv, &config, host, sizeof host);
    if (rc) {
        if (rc < 0)
            s_usage (stderr);
        return rc < 0 ? 2 : 0;
    }
    sigset_t stop_signals;
    sigemptyset (&stop_signals);
    sigaddset (&stop_signals, SIGINT);
    sigaddset (&stop_signals, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &stop_signals, NULL);
    signal (SIGPIPE, SIG_IGN);
    s_raise_fd_limit ();

    mockllm_server_t *server = mockllm_server_new (&config);
    if (!server)
        return 1;
    llmq_log ('I', WHO, "ready listen=%s:%u", host, mockllm_server_port (server));
    int signo = 0;
    sigwait (&stop_signals, &signo);
    llmq_log ('I', WHO, "stopping (signal %d)", signo);
    mockllm_server_destroy (&server);
    llmq_log ('I', WHO, "stopped");
    return 0;
}
