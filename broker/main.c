/*  main.c -- llmq-broker: flags, signals, run. The work is in broker.c.  */
#include "broker.h"
#include "config_file.h"
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
static volatile sig_atomic_t s_hangup = 0;     /* SIGHUP: reload --config */

static void
s_on_hangup (int signum)
{
    (void) signum;
    s_hangup = 1;
}

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
        "Monitoring (README, \"Monitoring\"):\n"
        "  --stats-pub EP          PUB endpoint for periodic snapshots\n"
        "                          [tcp://*:5558; with --stats ...:* a free port on\n"
        "                          the same host; \"off\" disables it]\n"
        "  --stats-interval-ms MS  snapshot publish and /metrics refresh period [1000]\n"
        "  --metrics-listen H:P    serve Prometheus GET /metrics on HOST:PORT\n"
        "                          (port 0 = any; off by default)\n"
        "  --log-format F          one line per finished request on stderr:\n"
        "                          off, json or logfmt [off]\n"
        "  --log-prompt-sizes      add prompt_bytes and messages to those lines\n"
        "                          (sizes only, never the text) [off]\n"
        "  --metrics-max-labels N  models (and tenants) counted by name before\n"
        "                          the rest fold into \"other\" [64]\n"
        "  --latency-window-ms MS  percentiles cover the last 1-2 windows [60000]\n"
        "  --no-monitoring         record no per-request metrics (benchmarks)\n"
        "Scheduling (README, \"Priorities, quotas and backpressure\"):\n"
        "  --config FILE           YAML file with every setting: broker keys,\n"
        "                          tenants (weights, rates, modes), model limits;\n"
        "                          flags given here win over it; SIGHUP reloads\n"
        "                          its scheduling part (a bad file is refused)\n"
        "  --max-queue-bytes N     bytes of queued requests (all models) before\n"
        "                          ERROR overloaded; 0 = no byte bound [0]\n"
        "  -v, --verbose           debug log lines\n"
        "  -h, --help              this help\n"
        "  -V, --version           print the version\n",
        LLMQ_MAX_MSG_SIZE, LLMQ_HEARTBEAT_MS, LLMQ_LIVENESS);
    fputs (cache_config_help, out);
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

/*  Monitoring flags (broker_monitor.c); numbered apart from the others.   */
enum {
    OPT_STATS_PUB = 512, OPT_STATS_INTERVAL, OPT_METRICS_LISTEN, OPT_LOG_FORMAT,
    OPT_MAX_LABELS, OPT_LATENCY_WINDOW, OPT_NO_MONITORING, OPT_LOG_PROMPT_SIZES
};

/*  Scheduling flags (config_file.c, scheduler.c).                         */
enum { OPT_CONFIG = 768, OPT_MAX_QUEUE_BYTES };

/*  Response cache flags (cache_config.c parses them by name).             */
enum {
    OPT_CACHE_FIRST = 1024, OPT_CACHE_MEMORY = OPT_CACHE_FIRST, OPT_CACHE_TTL,
    OPT_CACHE_MAX_TTL, OPT_CACHE_POLICY, OPT_CACHE_NAMESPACE, OPT_CACHE_REDIS,
    OPT_CACHE_REDIS_TIMEOUT, OPT_CACHE_LAST = OPT_CACHE_REDIS_TIMEOUT
};

static const struct option s_options [] = {
    { "config",          required_argument, NULL, OPT_CONFIG },
    { "cache-memory",    required_argument, NULL, OPT_CACHE_MEMORY },
    { "cache-ttl-ms",    required_argument, NULL, OPT_CACHE_TTL },
    { "cache-max-ttl-ms", required_argument, NULL, OPT_CACHE_MAX_TTL },
    { "cache-policy",    required_argument, NULL, OPT_CACHE_POLICY },
    { "cache-namespace", required_argument, NULL, OPT_CACHE_NAMESPACE },
    { "cache-redis",     required_argument, NULL, OPT_CACHE_REDIS },
    { "cache-redis-timeout-ms", required_argument, NULL, OPT_CACHE_REDIS_TIMEOUT },
    { "max-queue-bytes", required_argument, NULL, OPT_MAX_QUEUE_BYTES },
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
    { "stats-pub",       required_argument, NULL, OPT_STATS_PUB },
    { "stats-interval-ms", required_argument, NULL, OPT_STATS_INTERVAL },
    { "metrics-listen",  required_argument, NULL, OPT_METRICS_LISTEN },
    { "log-format",      required_argument, NULL, OPT_LOG_FORMAT },
    { "metrics-max-labels", required_argument, NULL, OPT_MAX_LABELS },
    { "latency-window-ms", required_argument, NULL, OPT_LATENCY_WINDOW },
    { "no-monitoring",   no_argument,       NULL, OPT_NO_MONITORING },
    { "log-prompt-sizes", no_argument,      NULL, OPT_LOG_PROMPT_SIZES },
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
        case OPT_STATS_INTERVAL:  if (s_number (flag, arg, 10, 3600000, &v)) return -1;
                                  config->stats_interval_ms = (uint32_t) v; break;
        case OPT_MAX_LABELS:      if (s_number (flag, arg, 1, 10000, &v)) return -1;
                                  config->metrics_max_labels = (uint32_t) v; break;
        case OPT_LATENCY_WINDOW:  if (s_number (flag, arg, 1000, 86400000, &v)) return -1;
                                  config->latency_window_ms = (uint32_t) v; break;
        case OPT_MAX_QUEUE_BYTES: if (s_number (flag, arg, 0, SIZE_MAX, &v)) return -1;
                                  config->max_queue_bytes = (size_t) v; break;
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
            case OPT_STATS_PUB:      config->stats_pub_ep = optarg; break;
            case OPT_METRICS_LISTEN: config->metrics_listen = optarg; break;
            case OPT_NO_MONITORING:  config->no_monitoring = true; break;
            case OPT_LOG_PROMPT_SIZES: config->log_prompt_sizes = true; break;
            case OPT_LOG_FORMAT:
                if (strcmp (optarg, "off") && strcmp (optarg, "json") && strcmp (optarg, "logfmt")) {
                    fprintf (stderr, "llmq-broker: --log-format wants off, json or logfmt, "
                             "not '%s'\n", optarg);
                    return 2;
                }
                config->log_format = optarg;
                break;
            case OPT_CONFIG:  break;        /* read first: see s_config_path */
            case 'v':         config->verbose = true; break;
            case 'h':         s_usage (stdout); return 1;
            case OPT_CACHE_MEMORY: case OPT_CACHE_TTL: case OPT_CACHE_MAX_TTL:
            case OPT_CACHE_POLICY: case OPT_CACHE_NAMESPACE: case OPT_CACHE_REDIS:
            case OPT_CACHE_REDIS_TIMEOUT:
                for (const struct option *o = s_options; o->name; o++)
                    if (o->val == opt && cache_config_set (&config->cache, o->name, optarg)) {
                        fprintf (stderr, "llmq-broker: bad value '%s' for --%s (see --help)\n",
                                 optarg, o->name);
                        return 2;
                    }
                break;
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

/*  --stats-pub when not given: port 5558 on every interface, except when --stats asks for
    a free port ("...:*"), where a fixed port would make brokers started
    side by side (tests, benchmarks) collide: then a free port on the same
    host. "off" (or "") turns the PUB off.                                 */
static void
s_default_stats_pub (broker_config_t *config, char *buf, size_t size)
{
    if (config->stats_pub_ep) {
        if (strcmp (config->stats_pub_ep, "off") == 0)
            config->stats_pub_ep = NULL;
        return;
    }
    const char *stats = config->stats_ep;
    size_t len = strlen (stats);
    if (len >= 2 && strcmp (stats + len - 2, ":*") == 0 && len < size) {
        snprintf (buf, size, "%s", stats);
        config->stats_pub_ep = buf;
    }
    else
        config->stats_pub_ep = "tcp://*:5558";
}

/*  The --config argument, NULL when none: the file is read before the
    other flags so that they override it.                                  */
static const char *
s_config_path (int argc, char *argv [])
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv [i], "--"))
            break;
        if (!strcmp (argv [i], "--config") && i + 1 < argc)
            path = argv [++i];
        else
        if (!strncmp (argv [i], "--config=", 9))
            path = argv [i] + 9;
    }
    return path;
}

/*  SIGHUP: a new file replaces the scheduling settings, or is refused and
    logged with the old ones kept. Broker keys need a restart. *file is the
    last reloaded file (the first one stays alive apart: the broker's
    endpoint strings point into it).                                       */
static void
s_reload (broker_t *broker, const char *path, config_t **file)
{
    if (!path) {
        llmq_log ('W', "llmq-broker", "SIGHUP: no --config file to reload");
        return;
    }
    char error [512];
    config_t *fresh = config_load (path, error, sizeof error);
    if (!fresh) {
        llmq_log ('E', "llmq-broker", "reload refused, old config kept: %s", error);
        return;
    }
    if (broker_reload (broker, config_sched (fresh))) {
        llmq_log ('E', "llmq-broker", "reload failed (out of memory), old config kept");
        config_destroy (&fresh);
        return;
    }
    config_destroy (file);
    *file = fresh;
    llmq_log ('I', "llmq-broker", "reloaded config=%s", path);
}

int
main (int argc, char *argv [])
{
    char stats_pub_buf [256];
    broker_config_t config;
    broker_config_defaults (&config);
    const char *config_path = s_config_path (argc, argv);
    config_t *file = NULL;
    config_t *reloaded = NULL;
    if (config_path) {
        char error [512];
        if (!(file = config_load (config_path, error, sizeof error))) {
            fprintf (stderr, "llmq-broker: %s\n", error);
            return 2;
        }
        config_apply_broker (file, &config);
        config.sched = config_sched (file);
        llmq_log ('I', "llmq-broker", "config=%s tenants=%zu models=%zu", config_path,
                  config.sched->n_tenants, config.sched->n_models);
    }
    int rc = s_parse (argc, argv, &config);
    if (rc) {
        config_destroy (&file);
        return rc == 1 ? 0 : 2;
    }
    s_default_stats_pub (&config, stats_pub_buf, sizeof stats_pub_buf);
    if (config.request_timeout_ms > config.max_timeout_ms)
        config.request_timeout_ms = config.max_timeout_ms;

    /*  No SA_RESTART: the signal interrupts zmq_poll, so the loop sees the
        flag at once.                                                      */
    struct sigaction action = { .sa_handler = s_on_signal };
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    struct sigaction hangup = { .sa_handler = s_on_hangup };
    sigemptyset (&hangup.sa_mask);
    sigaction (SIGHUP, &hangup, NULL);

    broker_t *broker = broker_new (&config);
    if (!broker) {
        config_destroy (&file);
        return 1;
    }
    /*  broker_run's loop, with SIGHUP handled between rounds.             */
    while (!broker_done (broker)) {
        if (s_interrupted)
            broker_shutdown (broker);
        if (s_hangup) {
            s_hangup = 0;
            s_reload (broker, config_path, &reloaded);
        }
        if (broker_poll_once (broker, 100)) {
            rc = -1;
            break;
        }
    }
    broker_destroy (&broker);
    config_destroy (&file);
    config_destroy (&reloaded);
    return rc ? 1 : 0;
}
