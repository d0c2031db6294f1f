/*  main.c -- llmq-broker: flags, signals, run. The work is in broker.c.  */
#include "broker.h"
#include "llmq_log.h"
#include "llmq_proto.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t s_interrupted = 0;

static void
s_on_signal (int signum)
{
    (void) signum;
    s_interrupted = 1;
}

static void
s_usage (FILE *out)
{
    fprintf (out,
        "Usage: llmq-broker [options]\n"
        "Spreads LLM chat requests from clients over registered workers.\n"
        "\n"
        "  --clients EP            client endpoint to bind [tcp://*:5555]\n"
        "  --workers EP            worker endpoint to bind [tcp://*:5556]\n"
        "  --stats EP              stats endpoint to bind [tcp://*:5557]\n"
        "                          (tcp://127.0.0.1:* picks a free port; the\n"
        "                          ready line shows the endpoints bound)\n"
        "  --request-timeout MS    timeout of requests that set none [60000]\n"
        "  --max-timeout MS        cap on any request's timeout [600000]\n"
        "  --no-worker-grace MS    how long a request for a model no worker\n"
        "                          serves waits for one before ERROR no_worker [2000]\n"
        "  --max-attempts N        dispatches per request before ERROR\n"
        "                          worker_lost [3]\n"
        "  --max-queue N           queued requests (all models) before ERROR\n"
        "                          overloaded [100000]\n"
        "  --max-msg-size BYTES    largest frame accepted [%u]\n"
        "  --heartbeat-ms MS       heartbeat interval [%u]\n"
        "  --liveness N            silent intervals before a worker is dead [%u]\n"
        "  --shutdown-grace MS     on SIGINT/SIGTERM, time to finish the work\n"
        "                          held before failing it [10000]\n"
        "  -v, --verbose           debug log lines\n"
        "  -h, --help              this help\n"
        "  -V, --version           print the version\n",
        LLMQ_MAX_MSG_SIZE, LLMQ_HEARTBEAT_MS, LLMQ_LIVENESS);
}

/*  Parses a whole decimal number in [min, max]; -1 (and a message) if not. */
static int
s_number (const char *flag, const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull (text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || value < min || value > max) {
        fprintf (stderr, "llmq-broker: --%s wants a number from %" PRIu64 " to %" PRIu64
                 ", not '%s'\n", flag, min, max, text);
        return -1;
    }
    *out = value;
    return 0;
}

enum {
    OPT_CLIENTS = 256, OPT_WORKERS, OPT_STATS, OPT_REQUEST_TIMEOUT, OPT_MAX_TIMEOUT,
    OPT_GRACE, OPT_ATTEMPTS, OPT_QUEUE, OPT_MSG_SIZE, OPT_HEARTBEAT, OPT_LIVENESS,
    OPT_SHUTDOWN
};

static const struct option s_options [] = {
    { "clients",         required_argument, NULL, OPT_CLIENTS },
    { "workers",         required_argument, NULL, OPT_WORKERS },
    { "stats",           required_argument, NULL, OPT_STATS },
    { "request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT },
    { "max-timeout",     required_argument, NULL, OPT_MAX_TIMEOUT },
    { "no-worker-grace", required_argument, NULL, OPT_GRACE },
    { "max-attempts",    required_argument, NULL, OPT_ATTEMPTS },
    { "max-queue",       required_argument, NULL, OPT_QUEUE },
    { "max-msg-size",    required_argument, NULL, OPT_MSG_SIZE },
    { "heartbeat-ms",    required_argument, NULL, OPT_HEARTBEAT },
    { "liveness",        required_argument, NULL, OPT_LIVENESS },
    { "shutdown-grace",  required_argument, NULL, OPT_SHUTDOWN },
    { "verbose",         no_argument,       NULL, 'v' },
    { "help",            no_argument,       NULL, 'h' },
    { "version",         no_argument,       NULL, 'V' },
    { NULL, 0, NULL, 0 }
};

/*  Parses one numeric flag into its config field; -1 on a bad value.       */
static int
s_numeric_flag (int opt, const char *arg, broker_config_t *config)
{
    const char *flag = NULL;
    for (const struct option *o = s_options; o->name; o++)
        if (o->val == opt)
            flag = o->name;
    uint64_t v;
    switch (opt) {
        case OPT_REQUEST_TIMEOUT: if (s_number (flag, arg, 1, UINT32_MAX, &v)) return -1;
                                  config->request_timeout_ms = (uint32_t) v; break;
        case OPT_MAX_TIMEOUT:     if (s_number (flag, arg, 1, UINT32_MAX, &v)) return -1;
                                  config->max_timeout_ms = (uint32_t) v; break;
        case OPT_GRACE:           if (s_number (flag, arg, 0, UINT32_MAX, &v)) return -1;
                                  config->no_worker_grace_ms = (uint32_t) v; break;
        case OPT_ATTEMPTS:        if (s_number (flag, arg, 1, UINT32_MAX, &v)) return -1;
                                  config->max_attempts = (uint32_t) v; break;
        case OPT_QUEUE:           if (s_number (flag, arg, 0, SIZE_MAX, &v)) return -1;
                                  config->max_queue = (size_t) v; break;
        case OPT_MSG_SIZE:        if (s_number (flag, arg, 64, INT64_MAX, &v)) return -1;
                                  config->max_msg_size = (int64_t) v; break;
        case OPT_HEARTBEAT:       if (s_number (flag, arg, 1, 3600000, &v)) return -1;
                                  config->heartbeat_ms = (uint32_t) v; break;
        case OPT_LIVENESS:        if (s_number (flag, arg, 1, 1000, &v)) return -1;
                                  config->liveness = (uint32_t) v; break;
        case OPT_SHUTDOWN:        if (s_number (flag, arg, 0, UINT32_MAX, &v)) return -1;
                                  config->shutdown_grace_ms = (uint32_t) v; break;
        default: return -1;
    }
    return 0;
}

/*  0 to run, 1 to exit 0 (help, version), 2 for a usage error.            */
static int
s_parse (int argc, char *argv [], broker_config_t *config)
{
    int opt;
    while ((opt = getopt_long (argc, argv, "vhV", s_options, NULL)) != -1) {
        switch (opt) {
            case OPT_CLIENTS: config->clients_ep = optarg; break;
            case OPT_WORKERS: config->workers_ep = optarg; break;
            case OPT_STATS:   config->stats_ep = optarg; break;
            case 'v':         config->verbose = true; break;
            case 'h':         s_usage (stdout); return 1;
            case 'V':         printf ("llmq-broker %s\n", LLMQ_VERSION_STRING); return 1;
            case '?':         s_usage (stderr); return 2;
            default:
                if (s_numeric_flag (opt, optarg, config))
                    return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "llmq-broker: unexpected argument '%s'\n", argv [optind]);
        return 2;
    }
    return 0;
}

int
main (int argc, char *argv [])
{
    broker_config_t config;
    broker_config_defaults (&config);
    int rc = s_parse (argc, argv, &config);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (config.request_timeout_ms > config.max_timeout_ms)
        config.request_timeout_ms = config.max_timeout_ms;

    /*  No SA_RESTART: the signal interrupts zmq_poll, so the loop sees the
        flag at once.                                                      */
    struct sigaction action = { .sa_handler = s_on_signal };
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);

    broker_t *broker = broker_new (&config);
    if (!broker)
        return 1;
    rc = broker_run (broker, &s_interrupted);
    broker_destroy (&broker);
    return rc ? 1 : 0;
}
