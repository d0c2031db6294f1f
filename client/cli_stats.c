/*  cli_stats.c -- `llmq stats`: asks the broker's stats socket for its
    snapshot and prints it, as JSON (--json) or as a short report.

    The snapshot is a free-form map that grows with the broker, so the
    report reads it tolerantly: it turns the frame into JSON with the
    codec (llmq_frame_to_json; no msgpack here) and walks that with
    jansson. Known keys get a readable layout, a missing key prints as
    "-", and keys this version does not know are still shown, compactly.
*/
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static void
s_help (void)
{
    printf (
        "Usage: llmq stats [OPTIONS]\n"
        "\n"
        "Asks the broker for its counters, queues and workers and prints them.\n"
        "\n"
        "Options:\n"
        "  --stats EP       broker stats endpoint (env LLMQ_STATS, default\n"
        "                   " CLI_DEFAULT_STATS ")\n"
        "  --timeout MS     how long to wait for the answer (default 2000)\n"
        "  --json           print the broker's snapshot as one JSON object\n"
        "  -h, --help       this help\n"
        "\n"
        "Exit status: 0 answered, 1 no answer or a bad answer, 2 usage error.\n");
}

/* ---- asking ------------------------------------------------------------ */

//  Sends STATS on a fresh DEALER and waits for STATS_REPLY; on success the
//  reply as JSON is in json (NUL-terminated). Returns an exit status.
static int
s_ask (const char *endpoint, uint32_t timeout_ms, llmq_buf_t *json)
{
    void *context = zmq_ctx_new ();
    void *socket = context? zmq_socket (context, ZMQ_DEALER): NULL;
    int linger = 0;
    int status = CLI_EXIT_FAILURE;
    llmq_buf_t frame;
    llmq_buf_init (&frame);
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    llmq_decoder_t *decoder = llmq_decoder_new ();
    if (!socket || !decoder
    ||  zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger)
    ||  zmq_connect (socket, endpoint)) {
        cli_fail ("connect", "cannot connect to '%s'", endpoint);
        goto cleanup;
    }
    if (llmq_encode_stats (&frame) || zmq_send (socket, frame.data, frame.size, 0) == -1) {
        cli_fail ("connect", "cannot send to '%s'", endpoint);
        goto cleanup;
    }
    zmq_pollitem_t item = { socket, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, (long) timeout_ms) <= 0 || !(item.revents & ZMQ_POLLIN)) {
        if (cli_interrupted ())
            status = CLI_EXIT_INTERRUPT;
        else
            cli_fail ("timeout", "no answer from '%s' within %u ms", endpoint, timeout_ms);
        goto cleanup;
    }
    llmq_cmd_t cmd;
    if (zmq_msg_recv (&msg, socket, 0) == -1
    ||  llmq_peek_command (zmq_msg_data (&msg), zmq_msg_size (&msg), &cmd) != LLMQ_DECODE_OK
    ||  cmd != LLMQ_CMD_STATS_REPLY
    ||  llmq_frame_to_json (decoder, zmq_msg_data (&msg), zmq_msg_size (&msg), json) != LLMQ_DECODE_OK) {
        cli_fail ("protocol", "'%s' did not answer with a stats snapshot", endpoint);
        goto cleanup;
    }
    status = CLI_EXIT_OK;
cleanup:
    llmq_decoder_destroy (&decoder);
    zmq_msg_close (&msg);
    llmq_buf_free (&frame);
    if (socket)
        zmq_close (socket);
    if (context)
        zmq_ctx_term (context);
    return status;
}

/* ---- the report -------------------------------------------------------- */

//  A number as text, "-" when absent or not a number.
static const char *
s_num (json_t *object, const char *key, char *text, size_t size)
{
    json_t *value = json_object_get (object, key);
    if (json_is_integer (value))
        snprintf (text, size, "%lld", (long long) json_integer_value (value));
    else
    if (json_is_real (value))
        snprintf (text, size, "%.3g", json_real_value (value));
    else
        snprintf (text, size, "-");
    return text;
}

//  A value of any type, compactly: strings bare, the rest as JSON.
static void
s_print_value (json_t *value)
{
    if (json_is_string (value)) {
        printf ("%s", json_string_value (value));
        return;
    }
    char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
    printf ("%s", text? text: "?");
    free (text);
}

//  "key value  key value ..." for every member of a map, in order.
static void
s_print_members (json_t *map)
{
    const char *key;
    json_t *value;
    bool first = true;
    json_object_foreach (map, key, value) {
        printf ("%s%s ", first? "": "  ", key);
        s_print_value (value);
        first = false;
    }
    if (first)
        printf ("none");
    printf ("\n");
}

static void
s_print_uptime (json_t *root)
{
    json_t *uptime = json_object_get (root, "uptime_ms");
    json_t *version = json_object_get (root, "version");
    printf ("broker     version %s", json_is_string (version)? json_string_value (version): "-");
    if (json_is_integer (uptime)) {
        long long s = json_integer_value (uptime) / 1000;
        printf (", up %lldd %02lldh %02lldm %02llds", s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    }
    printf ("\n");
}

//  Requests by outcome: numbers on one line, then the error map.
static void
s_print_requests (json_t *root)
{
    json_t *requests = json_object_get (root, "requests");
    if (!json_is_object (requests))
        return;
    printf ("requests  ");
    const char *key;
    json_t *value;
    json_object_foreach (requests, key, value)
        if (!json_is_object (value)) {
            printf (" %s ", key);
            s_print_value (value);
        }
    printf ("\n");
    json_object_foreach (requests, key, value)
        if (json_is_object (value)) {
            printf ("%-10s ", key);
            s_print_members (value);
        }
}

static void
s_print_queues (json_t *root)
{
    char queued [32], in_flight [32];
    printf ("queued     %s  in flight %s\n",
            s_num (root, "queued", queued, sizeof queued),
            s_num (root, "in_flight", in_flight, sizeof in_flight));
    json_t *queues = json_object_get (root, "queues");
    if (json_is_object (queues)) {
        printf ("queues     ");
        s_print_members (queues);
    }
}

//  The models of a worker, comma-separated, into text.
static const char *
s_models (json_t *worker, char *text, size_t size)
{
    json_t *models = json_object_get (worker, "models");
    size_t index, used = 0;
    json_t *model;
    text [0] = 0;
    json_array_foreach (models, index, model)
        if (json_is_string (model) && used < size)
            used += (size_t) snprintf (text + used, size - used, "%s%s",
                                       index? ",": "", json_string_value (model));
    return *text? text: "-";
}

static void
s_print_workers (json_t *root)
{
    json_t *workers = json_object_get (root, "workers");
    if (!json_is_array (workers))
        return;
    printf ("workers    %zu\n", json_array_size (workers));
    if (json_array_size (workers) == 0)
        return;
    printf ("  %-20s %-20s %5s %9s %-10s %9s %9s\n",
            "ID", "MODELS", "SLOTS", "IN FLIGHT", "STATE", "HEARTBEAT", "SERVED");
    size_t index;
    json_t *worker;
    json_array_foreach (workers, index, worker) {
        json_t *id = json_object_get (worker, "id");
        json_t *state = json_object_get (worker, "state");
        char models [128], slots [32], in_flight [32], age [32], served [32];
        s_num (worker, "heartbeat_age_ms", age, sizeof age);
        if (strcmp (age, "-"))
            strncat (age, " ms", sizeof age - strlen (age) - 1);
        printf ("  %-20s %-20s %5s %9s %-10s %9s %9s\n",
                json_is_string (id)? json_string_value (id): "-",
                s_models (worker, models, sizeof models),
                s_num (worker, "slots", slots, sizeof slots),
                s_num (worker, "in_flight", in_flight, sizeof in_flight),
                json_is_string (state)? json_string_value (state): "-",
                age, s_num (worker, "served", served, sizeof served));
    }
}

//  A table of labels (by_model, by_tenant, by_priority): one row each.
static void
s_print_labels (json_t *root, const char *key, const char *title)
{
    json_t *labels = json_object_get (root, key);
    if (!json_is_object (labels) || json_object_size (labels) == 0)
        return;
    printf ("  %-20s %9s %9s %9s %9s %11s %11s  %s\n", title, "RECEIVED", "ANSWERED",
            "CACHED", "ERRORS", "TOKENS IN", "TOKENS OUT", "ERRORS BY CODE");
    const char *name;
    json_t *label;
    json_object_foreach (labels, name, label) {
        char received [32], answered [32], cached [32], errors [32], in [32], out [32];
        printf ("  %-20s %9s %9s %9s %9s %11s %11s  ", name,
                s_num (label, "received", received, sizeof received),
                s_num (label, "answered", answered, sizeof answered),
                s_num (label, "cached", cached, sizeof cached),
                s_num (label, "error_total", errors, sizeof errors),
                s_num (label, "prompt_tokens", in, sizeof in),
                s_num (label, "completion_tokens", out, sizeof out));
        json_t *codes = json_object_get (label, "errors");
        if (json_is_object (codes) && json_object_size (codes))
            s_print_members (codes);
        else
            printf ("-\n");
    }
}

//  Latency percentiles over the recent window, microseconds.
static void
s_print_latency (json_t *root)
{
    json_t *latency = json_object_get (root, "latency_us");
    if (!json_is_object (latency))
        return;
    char window [32];
    printf ("latency    microseconds, last %s ms\n", s_num (latency, "window_ms", window, sizeof window));
    printf ("  %-20s %9s %9s %9s %9s %9s %9s %9s\n", "", "COUNT", "MEAN", "P50", "P90", "P99",
            "P99.9", "MAX");
    const char *name;
    json_t *m;
    json_object_foreach (latency, name, m) {
        if (!json_is_object (m))
            continue;
        char v [7][32];
        printf ("  %-20s %9s %9s %9s %9s %9s %9s %9s\n", name,
                s_num (m, "count", v [0], 32), s_num (m, "mean", v [1], 32),
                s_num (m, "p50", v [2], 32), s_num (m, "p90", v [3], 32),
                s_num (m, "p99", v [4], 32), s_num (m, "p999", v [5], 32),
                s_num (m, "max", v [6], 32));
    }
}

//  The monitoring sections (broker_monitor.c), as tables.
static void
s_print_monitoring (json_t *root)
{
    json_t *tokens = json_object_get (root, "tokens");
    if (json_is_object (tokens)) {
        char in [32], out [32];
        printf ("tokens     in %s  out %s\n", s_num (tokens, "prompt", in, sizeof in),
                s_num (tokens, "completion", out, sizeof out));
    }
    json_t *oldest = json_object_get (root, "oldest_queued_ms");
    if (json_is_object (oldest) && json_object_size (oldest)) {
        printf ("oldest queued (ms) ");
        s_print_members (oldest);
    }
    json_t *levels = json_object_get (root, "queued_by_priority");
    const char *model;
    json_t *by_level;
    json_object_foreach (levels, model, by_level) {
        printf ("queued %-12s ", model);
        s_print_members (by_level);
    }
    if (json_object_get (root, "by_model"))
        printf ("requests by label\n");
    s_print_labels (root, "by_model", "MODEL");
    s_print_labels (root, "by_tenant", "TENANT");
    s_print_labels (root, "by_priority", "PRIORITY");
    s_print_latency (root);
}

//  Top-level keys the report has no place for (later additions).
static void
s_print_others (json_t *root)
{
    static const char *known [] = {
        "version", "uptime_ms", "requests", "queued", "in_flight", "queues", "workers",
        "by_model", "by_tenant", "by_priority", "tokens", "oldest_queued_ms", "latency_us",
        "queued_by_priority",
        NULL
    };
    const char *key;
    json_t *value;
    json_object_foreach (root, key, value) {
        bool is_known = false;
        for (int i = 0; known [i] && !is_known; i++)
            is_known = strcmp (key, known [i]) == 0;
        if (is_known)
            continue;
        printf ("%-10s ", key);
        if (json_is_object (value))
            s_print_members (value);
        else {
            s_print_value (value);
            printf ("\n");
        }
    }
}

static int
s_report (const char *text)
{
    json_error_t error;
    json_t *root = json_loads (text, 0, &error);
    if (!json_is_object (root)) {
        json_decref (root);
        return cli_fail ("protocol", "stats snapshot is not a map");
    }
    s_print_uptime (root);
    s_print_requests (root);
    s_print_queues (root);
    s_print_workers (root);
    s_print_monitoring (root);
    s_print_others (root);
    json_decref (root);
    return CLI_EXIT_OK;
}

int
cli_stats (int argc, char **argv)
{
    static const struct option longopts [] = {
        { "stats",   required_argument, NULL, 's' },
        { "timeout", required_argument, NULL, 't' },
        { "json",    no_argument,       NULL, 'j' },
        { "help",    no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *endpoint = cli_env ("LLMQ_STATS", CLI_DEFAULT_STATS);
    uint32_t timeout_ms = 2000;
    bool json = false;
    int opt;
    while ((opt = getopt_long (argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
            case 's': endpoint = optarg; break;
            case 'j': json = true; break;
            case 't':
                if (cli_parse_u32 (optarg, 1, INT32_MAX, &timeout_ms))
                    return cli_usage_error ("stats", "bad --timeout '%s'", optarg);
                break;
            case 'h':
                s_help ();
                return CLI_EXIT_OK;
            default:
                return cli_usage_error ("stats", "unknown option");
        }
    }
    if (optind != argc)
        return cli_usage_error ("stats", "unexpected argument '%s'", argv [optind]);
    llmq_buf_t text;
    llmq_buf_init (&text);
    int status = s_ask (endpoint, timeout_ms, &text);
    if (status == CLI_EXIT_OK) {
        if (json)
            printf ("%s\n", text.data);
        else
            status = s_report (text.data);
    }
    llmq_buf_free (&text);
    return status;
}
