/*  cli_top.c -- `llmq top`: a live view of the broker, like top(1).

    Subscribes to the broker's published snapshots (--stats-pub, a PUB
    socket: many monitors, no load on the broker beyond one snapshot per
    interval) and redraws on each: request rates (from the difference of
    two snapshots), cache hit rate, latency percentiles, queues, workers
    sorted by load, tenants. On a terminal the screen is redrawn in place
    (ANSI: home, clear to end of line/screen, alternate screen, hidden
    cursor) and 'q' or Ctrl-C quits; when stdout is not a terminal (a
    pipe, a log) it prints one plain line per snapshot instead.

    The snapshot is read tolerantly, as `llmq stats` does: frame -> JSON
    with the codec, then jansson; a key an older broker lacks shows "-".
*/
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define TOP_DEFAULT_PUB "tcp://127.0.0.1:5558"
#define TOP_MAX_ROWS    20          /* rows per table on screen            */

static void
s_help (void)
{
    printf (
        "Usage: llmq top [OPTIONS]\n"
        "\n"
        "Live view of the broker: request rates, latency percentiles, queues,\n"
        "workers sorted by load, cache hit rate. Redraws in place on a terminal\n"
        "(q or Ctrl-C quits); prints one line per snapshot when stdout is not one.\n"
        "\n"
        "Options:\n"
        "  --stats-pub EP   broker snapshot PUB endpoint (env LLMQ_STATS_PUB,\n"
        "                   default " TOP_DEFAULT_PUB ")\n"
        "  --count N        exit after N snapshots (default: run until q)\n"
        "  --timeout MS     give up when no snapshot arrives for MS (default 10000)\n"
        "  --plain          one line per snapshot even on a terminal\n"
        "  -h, --help       this help\n"
        "\n"
        "Exit status: 0 done (q, Ctrl-C or --count), 1 no snapshot in time,\n"
        "2 usage error.\n");
}

/*  What the rates are computed from: the previous snapshot's totals.      */
typedef struct {
    bool valid;                     /* a previous snapshot was seen        */
    double uptime_s;                /* its uptime                          */
    double received, answered, cached, errors;  /* its counters           */
} s_prev_t;

static double
s_num (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    return json_is_number (value) ? json_number_value (value) : 0;
}

static const char *
s_str (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    return json_is_string (value) ? json_string_value (value) : "-";
}

/*  A count in a short form: 950, 12.3k, 4.56M.                            */
static const char *
s_short (double v, char *text, size_t size)
{
    if (v < 10000)
        snprintf (text, size, "%.0f", v);
    else
    if (v < 1e7)
        snprintf (text, size, "%.1fk", v / 1e3);
    else
        snprintf (text, size, "%.2fM", v / 1e6);
    return text;
}

/*  Microseconds in a readable unit: 850us, 12.3ms, 4.56s.                 */
static const char *
s_time (double us, char *text, size_t size)
{
    if (us < 1000)
        snprintf (text, size, "%.0fus", us);
    else
    if (us < 1e6)
        snprintf (text, size, "%.1fms", us / 1e3);
    else
        snprintf (text, size, "%.2fs", us / 1e6);
    return text;
}

/*  Rates since the previous snapshot (requests per second).               */
typedef struct {
    double in, answered, errors;    /* per second                          */
    double hit_rate;                /* cached / (answered + cached), %     */
    bool have;                      /* two snapshots seen                  */
} s_rates_t;

static s_rates_t
s_rates (json_t *root, s_prev_t *prev)
{
    json_t *requests = json_object_get (root, "requests");
    double uptime_s = s_num (root, "uptime_ms") / 1000.0;
    double received = s_num (requests, "received");
    double answered = s_num (requests, "answered");
    double cached = s_num (requests, "cached");
    double errors = s_num (requests, "error_total");
    s_rates_t rates = { 0 };
    double served = answered + cached;
    rates.hit_rate = served > 0 ? 100.0 * cached / served : 0;
    double dt = uptime_s - prev->uptime_s;
    if (prev->valid && dt > 0 && received >= prev->received) {
        rates.in = (received - prev->received) / dt;
        rates.answered = (answered - prev->answered) / dt;
        rates.errors = (errors - prev->errors) / dt;
        rates.have = true;
    }
    *prev = (s_prev_t) { true, uptime_s, received, answered, cached, errors };
    return rates;
}

/* ---- the full screen ---------------------------------------------------- */

/*  Workers sorted by load (in flight / slots), busiest first.             */
static int
s_by_load (const void *a, const void *b)
{
    json_t *x = *(json_t * const *) a, *y = *(json_t * const *) b;
    double sx = s_num (x, "slots"), sy = s_num (y, "slots");
    double lx = sx > 0 ? s_num (x, "in_flight") / sx : 0;
    double ly = sy > 0 ? s_num (y, "in_flight") / sy : 0;
    return lx < ly ? 1 : lx > ly ? -1 : strcmp (s_str (x, "id"), s_str (y, "id"));
}

static void
s_screen_latency (FILE *out, json_t *root)
{
    json_t *latency = json_object_get (root, "latency_us");
    if (!json_is_object (latency))
        return;
    fprintf (out, "\nlatency (last %.0f s)  %8s %9s %9s %9s %9s %9s\n",
             s_num (latency, "window_ms") / 1000.0, "COUNT", "P50", "P90", "P99", "P99.9", "MAX");
    static const char *names [] = { "queue", "ttft", "tpot", "total", "broker", NULL };
    static const char *labels [] = { "time in queue", "time to 1st token",
                                     "time per token", "total time", "broker overhead" };
    for (int i = 0; names [i]; i++) {
        json_t *m = json_object_get (latency, names [i]);
        char count [16], p50 [16], p90 [16], p99 [16], p999 [16], max [16];
        fprintf (out, "  %-19s %8s %9s %9s %9s %9s %9s\n", labels [i],
                 s_short (s_num (m, "count"), count, sizeof count),
                 s_time (s_num (m, "p50"), p50, sizeof p50),
                 s_time (s_num (m, "p90"), p90, sizeof p90),
                 s_time (s_num (m, "p99"), p99, sizeof p99),
                 s_time (s_num (m, "p999"), p999, sizeof p999),
                 s_time (s_num (m, "max"), max, sizeof max));
    }
}

static void
s_screen_queues (FILE *out, json_t *root)
{
    json_t *queues = json_object_get (root, "queues");
    json_t *oldest = json_object_get (root, "oldest_queued_ms");
    if (!json_is_object (queues) || json_object_size (queues) == 0)
        return;
    fprintf (out, "\n%-28s %8s %10s\n", "QUEUE (model)", "DEPTH", "OLDEST");
    const char *model;
    json_t *depth;
    int rows = 0;
    json_object_foreach (queues, model, depth) {
        if (rows++ == TOP_MAX_ROWS)
            break;
        char age [16];
        fprintf (out, "  %-26.26s %8.0f %10s\n", model,
                 json_is_number (depth) ? json_number_value (depth) : 0,
                 s_time (s_num (oldest, model) * 1000, age, sizeof age));
    }
}

static void
s_screen_workers (FILE *out, json_t *root)
{
    json_t *workers = json_object_get (root, "workers");
    size_t n = json_array_size (workers);
    fprintf (out, "\n%-18s %-16s %5s %6s %5s %-9s %6s %8s %8s %5s\n", "WORKER (by load)",
             "MODELS", "SLOTS", "BUSY", "LOAD", "STATE", "HB", "SERVED", "TTFT", "ERR%");
    if (n == 0) {
        fprintf (out, "  (no workers)\n");
        return;
    }
    json_t **sorted = malloc (n * sizeof *sorted);
    if (!sorted)
        return;
    for (size_t i = 0; i < n; i++)
        sorted [i] = json_array_get (workers, i);
    qsort (sorted, n, sizeof *sorted, s_by_load);
    for (size_t i = 0; i < n && i < TOP_MAX_ROWS; i++) {
        json_t *w = sorted [i];
        char models [64] = "", hb [16], served [16], ttft [16];
        size_t index;
        json_t *model;
        json_array_foreach (json_object_get (w, "models"), index, model)
            if (json_is_string (model) && strlen (models) + 2 < sizeof models)
                snprintf (models + strlen (models), sizeof models - strlen (models), "%s%s",
                          index ? "," : "", json_string_value (model));
        double slots = s_num (w, "slots");
        fprintf (out, "  %-16.16s %-16.16s %5.0f %6.0f %4.0f%% %-9.9s %6s %8s %8s %5.1f\n",
                 s_str (w, "id"), models, slots, s_num (w, "in_flight"),
                 slots > 0 ? 100.0 * s_num (w, "in_flight") / slots : 0, s_str (w, "state"),
                 s_time (s_num (w, "heartbeat_age_ms") * 1000, hb, sizeof hb),
                 s_short (s_num (w, "served"), served, sizeof served),
                 s_time (s_num (w, "ttft_ewma_us"), ttft, sizeof ttft),
                 100.0 * s_num (w, "error_rate"));
    }
    if (n > TOP_MAX_ROWS)
        fprintf (out, "  ... %zu more\n", n - TOP_MAX_ROWS);
    free (sorted);
}

static void
s_screen_tenants (FILE *out, json_t *root)
{
    json_t *tenants = json_object_get (root, "by_tenant");
    if (!json_is_object (tenants) || json_object_size (tenants) == 0)
        return;
    fprintf (out, "\n%-18s %9s %9s %9s %9s %10s %10s\n", "TENANT", "RECEIVED", "ANSWERED",
             "CACHED", "ERRORS", "TOKENS IN", "TOKENS OUT");
    const char *name;
    json_t *t;
    int rows = 0;
    json_object_foreach (tenants, name, t) {
        if (rows++ == TOP_MAX_ROWS)
            break;
        char a [16], b [16], c [16], d [16], e [16], f [16];
        fprintf (out, "  %-16.16s %9s %9s %9s %9s %10s %10s\n", name,
                 s_short (s_num (t, "received"), a, sizeof a),
                 s_short (s_num (t, "answered"), b, sizeof b),
                 s_short (s_num (t, "cached"), c, sizeof c),
                 s_short (s_num (t, "error_total"), d, sizeof d),
                 s_short (s_num (t, "prompt_tokens"), e, sizeof e),
                 s_short (s_num (t, "completion_tokens"), f, sizeof f));
    }
}

/*  The whole screen into out; the caller writes it in one go (no flicker). */
static void
s_screen (FILE *out, json_t *root, const s_rates_t *rates, const char *endpoint)
{
    json_t *requests = json_object_get (root, "requests");
    long long up = (long long) (s_num (root, "uptime_ms") / 1000);
    fprintf (out, "llmq top - broker %s, up %lldd %02lld:%02lld:%02lld - %s   (q quits)\n",
             s_str (root, "version"), up / 86400, up / 3600 % 24, up / 60 % 60, up % 60,
             endpoint);
    char a [16], b [16], c [16], d [16];
    if (rates->have)
        fprintf (out, "rate      %9.1f req/s in  %9.1f answered/s  %7.1f errors/s  "
                 "cache hit %5.1f%%\n", rates->in, rates->answered, rates->errors,
                 rates->hit_rate);
    else
        fprintf (out, "rate      (after the next snapshot)              cache hit %5.1f%%\n",
                 rates->hit_rate);
    fprintf (out, "requests  received %s  answered %s  cached %s  errors %s\n",
             s_short (s_num (requests, "received"), a, sizeof a),
             s_short (s_num (requests, "answered"), b, sizeof b),
             s_short (s_num (requests, "cached"), c, sizeof c),
             s_short (s_num (requests, "error_total"), d, sizeof d));
    json_t *tokens = json_object_get (root, "tokens");
    fprintf (out, "now       queued %.0f  in flight %.0f  workers %zu  tokens in %s out %s\n",
             s_num (root, "queued"), s_num (root, "in_flight"),
             json_array_size (json_object_get (root, "workers")),
             s_short (s_num (tokens, "prompt"), a, sizeof a),
             s_short (s_num (tokens, "completion"), b, sizeof b));
    s_screen_latency (out, root);
    s_screen_queues (out, root);
    s_screen_workers (out, root);
    s_screen_tenants (out, root);
}

/*  One plain line per snapshot (not a terminal).                          */
static void
s_line (json_t *root, const s_rates_t *rates)
{
    json_t *requests = json_object_get (root, "requests");
    json_t *total = json_object_get (json_object_get (root, "latency_us"), "total");
    time_t now = time (NULL);
    struct tm tm;
    char ts [32];
    gmtime_r (&now, &tm);
    strftime (ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf ("%s up_s=%.0f rate_in=%.1f rate_answered=%.1f received=%.0f answered=%.0f "
            "cached=%.0f errors=%.0f cache_hit_pct=%.1f queued=%.0f in_flight=%.0f "
            "workers=%zu p50_total_us=%.0f p99_total_us=%.0f\n",
            ts, s_num (root, "uptime_ms") / 1000.0, rates->in, rates->answered,
            s_num (requests, "received"), s_num (requests, "answered"),
            s_num (requests, "cached"), s_num (requests, "error_total"), rates->hit_rate,
            s_num (root, "queued"), s_num (root, "in_flight"),
            json_array_size (json_object_get (root, "workers")),
            s_num (total, "p50"), s_num (total, "p99"));
    fflush (stdout);
}

/* ---- the terminal ------------------------------------------------------- */

typedef struct {
    bool screen;                    /* redrawing in place                  */
    bool raw;                       /* stdin switched to raw keys          */
    struct termios saved;           /* stdin's settings, restored at exit  */
} s_term_t;

static void
s_term_enter (s_term_t *term)
{
    /*  Keys without Enter and without echo, so 'q' quits at once; signals
        stay on (Ctrl-C still raises SIGINT).                              */
    if (isatty (STDIN_FILENO) && tcgetattr (STDIN_FILENO, &term->saved) == 0) {
        struct termios raw = term->saved;
        raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
        raw.c_cc [VMIN] = 0;
        raw.c_cc [VTIME] = 0;
        term->raw = tcsetattr (STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    fputs ("\033[?1049h\033[?25l", stdout);    /* alternate screen, no cursor */
    fflush (stdout);
}

static void
s_term_leave (s_term_t *term)
{
    fputs ("\033[?25h\033[?1049l", stdout);
    fflush (stdout);
    if (term->raw)
        tcsetattr (STDIN_FILENO, TCSANOW, &term->saved);
}

/*  Draws text (lines ending in \n) from the top left, clearing what the
    previous frame left on each line and below the last one.               */
static void
s_draw (const char *text)
{
    fputs ("\033[H", stdout);
    for (const char *p = text; *p; ) {
        const char *nl = strchr (p, '\n');
        size_t len = nl ? (size_t) (nl - p) : strlen (p);
        fwrite (p, 1, len, stdout);
        fputs ("\033[K", stdout);
        if (!nl)
            break;
        fputs ("\r\n", stdout);
        p = nl + 1;
    }
    fputs ("\033[J", stdout);
    fflush (stdout);
}

/*  True when 'q' (or Q) was typed.                                        */
static bool
s_quit_key (void)
{
    char keys [32];
    ssize_t n = read (STDIN_FILENO, keys, sizeof keys);
    for (ssize_t i = 0; i < n; i++)
        if (keys [i] == 'q' || keys [i] == 'Q')
            return true;
    return false;
}

/* ---- the loop ----------------------------------------------------------- */

typedef struct {
    const char *endpoint;           /* PUB to subscribe to                 */
    uint32_t count;                 /* snapshots before exit, 0 = no limit */
    uint32_t timeout_ms;            /* silence before giving up            */
    bool plain;                     /* lines even on a terminal            */
} s_opts_t;

/*  Handles one received frame; false when it is not a snapshot.            */
static bool
s_show (llmq_decoder_t *decoder, zmq_msg_t *msg, llmq_buf_t *json, s_prev_t *prev,
        const s_opts_t *opts, bool screen)
{
    llmq_cmd_t cmd;
    if (llmq_peek_command (zmq_msg_data (msg), zmq_msg_size (msg), &cmd) != LLMQ_DECODE_OK
    ||  cmd != LLMQ_CMD_STATS_REPLY
    ||  llmq_frame_to_json (decoder, zmq_msg_data (msg), zmq_msg_size (msg), json) != LLMQ_DECODE_OK)
        return false;
    json_t *root = json_loads (json->data, 0, NULL);
    if (!json_is_object (root)) {
        json_decref (root);
        return false;
    }
    s_rates_t rates = s_rates (root, prev);
    if (screen) {
        char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream (&text, &size);
        if (out) {
            s_screen (out, root, &rates, opts->endpoint);
            fclose (out);
            s_draw (text);
        }
        free (text);
    }
    else
        s_line (root, &rates);
    json_decref (root);
    return true;
}

static int
s_run (const s_opts_t *opts)
{
    void *context = zmq_ctx_new ();
    void *socket = context ? zmq_socket (context, ZMQ_SUB) : NULL;
    int linger = 0, status = CLI_EXIT_FAILURE;
    llmq_decoder_t *decoder = llmq_decoder_new ();
    llmq_buf_t json;
    llmq_buf_init (&json);
    s_term_t term = { .screen = isatty (STDOUT_FILENO) && !opts->plain };
    if (!socket || !decoder
    ||  zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger)
    ||  zmq_setsockopt (socket, ZMQ_SUBSCRIBE, "", 0)
    ||  zmq_connect (socket, opts->endpoint)) {
        cli_fail ("connect", "cannot subscribe to '%s'", opts->endpoint);
        goto cleanup;
    }
    if (term.screen)
        s_term_enter (&term);
    s_prev_t prev = { 0 };
    uint32_t shown = 0;
    uint64_t last_us = llmq_now_us ();
    status = CLI_EXIT_OK;
    while (!cli_interrupted () && (opts->count == 0 || shown < opts->count)) {
        zmq_pollitem_t items [] = {
            { socket, 0, ZMQ_POLLIN, 0 },
            { NULL, STDIN_FILENO, ZMQ_POLLIN, 0 }
        };
        int rc = zmq_poll (items, term.raw ? 2 : 1, 250);
        if (rc == -1 && !cli_interrupted ()) {
            cli_fail ("connect", "poll failed: %s", zmq_strerror (zmq_errno ()));
            status = CLI_EXIT_FAILURE;
            break;
        }
        if (term.raw && (items [1].revents & ZMQ_POLLIN) && s_quit_key ())
            break;
        if (rc > 0 && (items [0].revents & ZMQ_POLLIN)) {
            zmq_msg_t msg;
            zmq_msg_init (&msg);
            if (zmq_msg_recv (&msg, socket, ZMQ_DONTWAIT) >= 0
            &&  s_show (decoder, &msg, &json, &prev, opts, term.screen)) {
                shown++;
                last_us = llmq_now_us ();
            }
            zmq_msg_close (&msg);
        }
        if (llmq_now_us () - last_us > (uint64_t) opts->timeout_ms * 1000) {
            if (term.screen)
                s_term_leave (&term);
            term.screen = false;
            cli_fail ("timeout", "no snapshot from '%s' for %u ms", opts->endpoint,
                      opts->timeout_ms);
            status = CLI_EXIT_FAILURE;
            break;
        }
    }
    if (term.screen)
        s_term_leave (&term);
cleanup:
    llmq_buf_free (&json);
    llmq_decoder_destroy (&decoder);
    if (socket)
        zmq_close (socket);
    if (context)
        zmq_ctx_term (context);
    return status;
}

int
cli_top (int argc, char **argv)
{
    static const struct option longopts [] = {
        { "stats-pub", required_argument, NULL, 's' },
        { "count",     required_argument, NULL, 'n' },
        { "timeout",   required_argument, NULL, 't' },
        { "plain",     no_argument,       NULL, 'p' },
        { "help",      no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    s_opts_t opts = {
        .endpoint = cli_env ("LLMQ_STATS_PUB", TOP_DEFAULT_PUB),
        .timeout_ms = 10000
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
            case 's': opts.endpoint = optarg; break;
            case 'p': opts.plain = true; break;
            case 'n':
                if (cli_parse_u32 (optarg, 1, UINT32_MAX, &opts.count))
                    return cli_usage_error ("top", "bad --count '%s'", optarg);
                break;
            case 't':
                if (cli_parse_u32 (optarg, 1, INT32_MAX, &opts.timeout_ms))
                    return cli_usage_error ("top", "bad --timeout '%s'", optarg);
                break;
            case 'h':
                s_help ();
                return CLI_EXIT_OK;
            default:
                return cli_usage_error ("top", "unknown option");
        }
    }
    if (optind != argc)
        return cli_usage_error ("top", "unexpected argument '%s'", argv [optind]);
    int status = s_run (&opts);
    return cli_interrupted () && status == CLI_EXIT_OK ? CLI_EXIT_OK : status;
}
