/*  config.c -- llmq-worker's command line; see config.h.

    getopt_long keeps its position in libc globals; we reset them (optind
    = 0 asks glibc for a full re-initialisation) so the parser can be
    called more than once, as the tests do.
*/
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
llmq_worker_config_init (llmq_worker_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    cfg->broker = LLMQ_WORKER_DEFAULT_BROKER;
    cfg->backend = LLMQ_WORKER_BACKEND_MOCK;
    cfg->slots = LLMQ_WORKER_DEFAULT_SLOTS;
    cfg->heartbeat_ms = LLMQ_HEARTBEAT_MS;
    cfg->liveness = LLMQ_LIVENESS;
    cfg->request_timeout_ms = LLMQ_WORKER_DEFAULT_TIMEOUT_MS;
    cfg->mock.tokens = LLMQ_WORKER_DEFAULT_MOCK_TOKENS;
    char host [64] = "worker";
    gethostname (host, sizeof host - 1);
    host [sizeof host - 1] = 0;
    snprintf (cfg->id, sizeof cfg->id, "%s-%ld", host, (long) getpid ());
}

void
llmq_worker_config_clear (llmq_worker_config_t *cfg)
{
    for (uint32_t i = 0; i < cfg->n_models; i++) {
        free (cfg->models [i].served);
        free (cfg->models [i].upstream);
    }
    cfg->n_models = 0;
}

static bool
s_served (const llmq_worker_config_t *cfg, const char *name, size_t len)
{
    for (uint32_t i = 0; i < cfg->n_models; i++)
        if (strlen (cfg->models [i].served) == len
        &&  memcmp (cfg->models [i].served, name, len) == 0)
            return true;
    return false;
}

/*  One "served[=upstream]" item of a --model list.                        */
static int
s_add_model (llmq_worker_config_t *cfg, const char *item, size_t len,
             char *err, size_t err_size)
{
    const char *eq = memchr (item, '=', len);
    size_t served_len = eq ? (size_t) (eq - item) : len;
    const char *upstream = eq ? eq + 1 : item;
    size_t upstream_len = (size_t) (item + len - upstream);
    if (served_len == 0 || upstream_len == 0
    ||  served_len > LLMQ_MAX_NAME || upstream_len > LLMQ_MAX_NAME) {
        snprintf (err, err_size, "bad model name '%.*s' (1..%d bytes each side of '=')",
                  (int) len, item, LLMQ_MAX_NAME);
        return -1;
    }
    if (s_served (cfg, item, served_len)) {
        snprintf (err, err_size, "model '%.*s' given twice", (int) served_len, item);
        return -1;
    }
    if (cfg->n_models == LLMQ_MAX_MODELS) {
        snprintf (err, err_size, "more than %d models", LLMQ_MAX_MODELS);
        return -1;
    }
    llmq_model_map_t *map = &cfg->models [cfg->n_models];
    map->served = strndup (item, served_len);
    map->upstream = strndup (upstream, upstream_len);
    if (!map->served || !map->upstream) {
        free (map->served);
        free (map->upstream);
        snprintf (err, err_size, "out of memory");
        return -1;
    }
    cfg->n_models++;
    return 0;
}

int
llmq_worker_config_add_models (llmq_worker_config_t *cfg, const char *arg,
                               char *err, size_t err_size)
{
    while (true) {
        size_t len = strcspn (arg, ",");
        if (len > 0 && s_add_model (cfg, arg, len, err, err_size))
            return -1;
        if (arg [len] == 0)
            return 0;
        arg += len + 1;
    }
}

void
llmq_worker_config_models_csv (const llmq_worker_config_t *cfg, char *out, size_t out_size)
{
    size_t used = 0;
    out [0] = 0;
    for (uint32_t i = 0; i < cfg->n_models && used < out_size; i++) {
        int n = snprintf (out + used, out_size - used, "%s%s", i ? "," : "",
                          cfg->models [i].served);
        if (n < 0)
            break;
        used += (size_t) n;
    }
}

const llmq_model_map_t *
llmq_worker_config_find_model (const llmq_worker_config_t *cfg, llmq_str_t served)
{
    for (uint32_t i = 0; i < cfg->n_models; i++)
        if (llmq_str_eq (served, cfg->models [i].served))
            return &cfg->models [i];
    return NULL;
}

/* ---------------------------------------------------------------------- */

static void
s_usage (FILE *out)
{
    fprintf (out,
"Usage: llmq-worker [OPTION]...\n"
"Serve LLM chat requests from an llmq broker by calling a backend.\n"
"\n"
"  --broker EP             broker's worker endpoint (default " LLMQ_WORKER_DEFAULT_BROKER ")\n"
"  --backend openai|mock   where answers come from (default mock)\n"
"  --url BASE_URL          openai: base URL, e.g. http://127.0.0.1:8000/v1;\n"
"                          requests go to BASE_URL/chat/completions (required)\n"
"  --api-key-env VAR       openai: read the API key from environment variable VAR\n"
"                          and send it as 'Authorization: Bearer ...' (never\n"
"                          given on the command line, never logged)\n"
"  --model NAME            a model to serve; repeatable or comma-separated;\n"
"                          served=upstream announces 'served' to the broker and\n"
"                          sends 'upstream' to the backend (default for mock: mock;\n"
"                          required for openai)\n"
"  --slots N               calls run at once (default %d)\n"
"  --id NAME               worker id (default hostname-pid)\n"
"  --heartbeat-ms MS       heartbeat interval (default %d)\n"
"  --liveness N            reconnect after N silent intervals (default %d)\n"
"  --request-timeout MS    cap on one backend call (default %d)\n"
"  --mock-ttft-ms N        mock: delay before the first token (default 0)\n"
"  --mock-tpot-ms N        mock: delay between tokens (default 0)\n"
"  --mock-tokens N         mock: answer length in tokens, capped by the\n"
"                          request's max_tokens (default %d)\n"
"  -v, --verbose           debug logging\n"
"  -h, --help              show this help and exit\n"
"  -V, --version           show the version and exit\n"
"\n"
"Logs go to stderr; 'registered id=... broker=... models=... slots=...' is\n"
"logged each time the broker accepts the worker.\n",
             LLMQ_WORKER_DEFAULT_SLOTS, LLMQ_HEARTBEAT_MS, LLMQ_LIVENESS,
             LLMQ_WORKER_DEFAULT_TIMEOUT_MS, LLMQ_WORKER_DEFAULT_MOCK_TOKENS);
}

/*  A whole decimal number in [min, max].                                  */
static int
s_number (const char *text, uint32_t min, uint32_t max, uint32_t *value)
{
    if (!*text || *text == '-' || *text == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull (text, &end, 10);
    if (errno || *end || n < min || n > max)
        return -1;
    *value = (uint32_t) n;
    return 0;
}

enum {
    OPT_BROKER = 256, OPT_BACKEND, OPT_URL, OPT_API_KEY_ENV, OPT_MODEL, OPT_SLOTS,
    OPT_ID, OPT_HEARTBEAT, OPT_LIVENESS, OPT_TIMEOUT, OPT_TTFT, OPT_TPOT, OPT_TOKENS
};

static const struct option s_options [] = {
    { "broker",          required_argument, NULL, OPT_BROKER },
    { "backend",         required_argument, NULL, OPT_BACKEND },
    { "url",             required_argument, NULL, OPT_URL },
    { "api-key-env",     required_argument, NULL, OPT_API_KEY_ENV },
    { "model",           required_argument, NULL, OPT_MODEL },
    { "slots",           required_argument, NULL, OPT_SLOTS },
    { "id",              required_argument, NULL, OPT_ID },
    { "heartbeat-ms",    required_argument, NULL, OPT_HEARTBEAT },
    { "liveness",        required_argument, NULL, OPT_LIVENESS },
    { "request-timeout", required_argument, NULL, OPT_TIMEOUT },
    { "mock-ttft-ms",    required_argument, NULL, OPT_TTFT },
    { "mock-tpot-ms",    required_argument, NULL, OPT_TPOT },
    { "mock-tokens",     required_argument, NULL, OPT_TOKENS },
    { "verbose",         no_argument,       NULL, 'v' },
    { "help",            no_argument,       NULL, 'h' },
    { "version",         no_argument,       NULL, 'V' },
    { NULL, 0, NULL, 0 }
};

/*  Applies one option. 0 ok, 1 exit 0 (help/version), -1 error in err.    */
static int
s_option (llmq_worker_config_t *cfg, int opt, const char *arg, FILE *out,
          char *err, size_t err_size)
{
    uint32_t *number = NULL;
    uint32_t min = 0, max = UINT32_MAX;
    switch (opt) {
        case OPT_BROKER:        cfg->broker = arg; return 0;
        case OPT_URL:           cfg->url = arg; return 0;
        case OPT_API_KEY_ENV:   cfg->api_key_env = arg; return 0;
        case OPT_MODEL:
            return llmq_worker_config_add_models (cfg, arg, err, err_size);
        case OPT_BACKEND:
            if (strcmp (arg, "mock") == 0)
                cfg->backend = LLMQ_WORKER_BACKEND_MOCK;
            else
            if (strcmp (arg, "openai") == 0)
                cfg->backend = LLMQ_WORKER_BACKEND_OPENAI;
            else {
                snprintf (err, err_size, "--backend must be openai or mock, not '%s'", arg);
                return -1;
            }
            return 0;
        case OPT_ID:
            if (!*arg || strlen (arg) > LLMQ_MAX_ID) {
                snprintf (err, err_size, "--id must be 1..%d bytes", LLMQ_MAX_ID);
                return -1;
            }
            snprintf (cfg->id, sizeof cfg->id, "%s", arg);
            return 0;
        case OPT_SLOTS:     number = &cfg->slots; min = 1; max = 100000; break;
        case OPT_HEARTBEAT: number = &cfg->heartbeat_ms; min = 10; max = 3600000; break;
        case OPT_LIVENESS:  number = &cfg->liveness; min = 1; max = 1000; break;
        case OPT_TIMEOUT:   number = &cfg->request_timeout_ms; min = 1; break;
        case OPT_TTFT:      number = &cfg->mock.ttft_ms; max = 3600000; break;
        case OPT_TPOT:      number = &cfg->mock.tpot_ms; max = 3600000; break;
        case OPT_TOKENS:    number = &cfg->mock.tokens; max = 1000000; break;
        case 'v':           cfg->verbose = true; return 0;
        case 'h':           s_usage (out); return 1;
        case 'V':           fprintf (out, "llmq-worker " LLMQ_VERSION_STRING "\n"); return 1;
        default:
            snprintf (err, err_size, "try --help");
            return -1;
    }
    if (s_number (arg, min, max, number)) {
        snprintf (err, err_size, "bad number '%s' (allowed %u..%u)", arg, min, max);
        return -1;
    }
    return 0;
}

/*  Checks that fit together, after all options are read.                 */
static int
s_check (llmq_worker_config_t *cfg, char *err, size_t err_size)
{
    if (cfg->backend == LLMQ_WORKER_BACKEND_OPENAI) {
        if (!cfg->url) {
            snprintf (err, err_size, "--backend openai needs --url");
            return -1;
        }
        if (cfg->n_models == 0) {
            snprintf (err, err_size, "--backend openai needs --model");
            return -1;
        }
    }
    if (cfg->n_models == 0
    &&  llmq_worker_config_add_models (cfg, "mock", err, err_size))
        return -1;
    if (cfg->api_key_env) {
        cfg->api_key = getenv (cfg->api_key_env);
        if (!cfg->api_key || !*cfg->api_key) {
            snprintf (err, err_size, "environment variable %s (from --api-key-env) is not set",
                      cfg->api_key_env);
            return -1;
        }
    }
    return 0;
}

/*  getopt_long takes any unambiguous prefix ("--api-key" for
    "--api-key-env"). We want every flag spelled out: a prefix would let
    "--api-key sk-..." through as the name of a variable, and error
    messages would then echo the key. true when the flag just parsed was
    written in full.                                                       */
static bool
s_spelled_out (char **argv, int index)
{
    const char *name = s_options [index].name;
    const char *text = optarg && optarg == argv [optind - 1] ? argv [optind - 2]
                                                             : argv [optind - 1];
    size_t len = strlen (name);
    return strncmp (text, "--", 2) == 0 && strncmp (text + 2, name, len) == 0
        && (text [2 + len] == 0 || text [2 + len] == '=');
}

int
llmq_worker_config_parse (llmq_worker_config_t *cfg, int argc, char **argv,
                          FILE *out, FILE *err)
{
    char reason [512] = "";
    int rc = 0;
    optind = 0;
    opterr = 0;                         /* we word our own errors */
    int opt, index = -1;
    while (rc == 0 && (opt = getopt_long (argc, argv, "vhV", s_options, &index)) != -1) {
        if (opt == '?' || opt == ':') {
            const char *bad = optind > 0 && optind <= argc ? argv [optind - 1] : "?";
            snprintf (reason, sizeof reason, "bad option '%.*s'; try --help",
                      (int) strcspn (bad, "="), bad);
            rc = -1;
        }
        else
        if (index >= 0 && !s_spelled_out (argv, index)) {
            snprintf (reason, sizeof reason, "write --%s in full", s_options [index].name);
            rc = -1;
        }
        else
            rc = s_option (cfg, opt, optarg, out, reason, sizeof reason);
        index = -1;
    }
    if (rc == 0 && optind < argc) {
        snprintf (reason, sizeof reason, "unexpected argument '%s'; try --help", argv [optind]);
        rc = -1;
    }
    if (rc == 0)
        rc = s_check (cfg, reason, sizeof reason);
    if (rc < 0)
        fprintf (err, "llmq-worker: %s\n", reason);
    return rc;
}
