/*  cli_chat.c -- `llmq chat`: one chat request, answer on stdout.

    Streams by default: each chunk is written and flushed as it arrives,
    then a newline. --no-stream prints the whole answer at the end; --json
    prints only the broker's FINAL (or ERROR) as one line of JSON. Errors
    go to stderr as "llmq: NAME: MESSAGE" with exit status 1.

    It drives libllmq's asynchronous calls itself (llmq_submit and an
    llmq_process loop) rather than llmq_chat_stream, so that Ctrl-C, which
    interrupts llmq_process, can cancel the request at the broker.
*/
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *broker;             //  Broker client endpoint
    const char *model;              //  Model name
    const char *system;             //  System message, or NULL
    const char *tenant;             //  Tenant, or NULL
    const char *cache;              //  Cache policy name, or NULL
    const char *prompt;             //  PROMPT argument ("-" = stdin)
    bool has_max_tokens;            //  --max-tokens given
    uint32_t max_tokens;            //  Its value
    bool has_temperature;           //  --temperature given
    double temperature;             //  Its value
    uint32_t priority;              //  0..4
    uint32_t timeout_ms;            //  Request deadline
    bool stream;                    //  Print chunks as they come
    bool json;                      //  Print the FINAL as JSON only
} s_options_t;

//  What the callbacks report back to the loop.
typedef struct {
    bool print_chunks;              //  Write chunks to stdout
    bool printed;                   //  Something was written
    bool done;                      //  on_done ran
    llmq_response_t *resp;          //  The outcome
} s_state_t;

static void
s_help (void)
{
    printf (
        "Usage: llmq chat [OPTIONS] PROMPT\n"
        "\n"
        "Sends one chat request to the broker and prints the answer, streamed as it\n"
        "arrives unless --no-stream. PROMPT '-' reads the prompt from stdin.\n"
        "\n"
        "Options:\n"
        "  --broker EP          broker client endpoint (env LLMQ_BROKER, default\n"
        "                       " CLI_DEFAULT_BROKER ")\n"
        "  -m, --model MODEL    model (env LLMQ_MODEL, default '" CLI_DEFAULT_MODEL "')\n"
        "  --system TEXT        a system message before the prompt\n"
        "  --max-tokens N       answer length limit\n"
        "  --temperature T      sampling temperature, 0..2\n"
        "  --priority P         critical, high, normal (default), low, batch or 0..4\n"
        "  --timeout MS         deadline of the request (default 30000)\n"
        "  --tenant T           tenant the request is accounted to\n"
        "  --cache POLICY       default, bypass, refresh or only-if-cached\n"
        "  --no-stream          wait for the whole answer\n"
        "  --json               print only the answer as one JSON object (text,\n"
        "                       finish_reason, usage, cached, worker, timings, ...)\n"
        "  -h, --help           this help\n"
        "\n"
        "Exit status: 0 answered, 1 failed (stderr: 'llmq: NAME: MESSAGE'),\n"
        "2 usage error, 130 interrupted (the request is cancelled).\n");
}

#define S_PARSED -1                 //  s_parse: go on (else: exit status)

//  Parses argv into opts; S_PARSED, or the exit status (help, usage).
static int
s_parse (int argc, char **argv, s_options_t *opts)
{
    static const struct option longopts [] = {
        { "broker",      required_argument, NULL, 'b' },
        { "model",       required_argument, NULL, 'm' },
        { "system",      required_argument, NULL, 's' },
        { "max-tokens",  required_argument, NULL, 'M' },
        { "temperature", required_argument, NULL, 'T' },
        { "priority",    required_argument, NULL, 'p' },
        { "timeout",     required_argument, NULL, 't' },
        { "tenant",      required_argument, NULL, 'n' },
        { "cache",       required_argument, NULL, 'c' },
        { "no-stream",   no_argument,       NULL, 'S' },
        { "json",        no_argument,       NULL, 'j' },
        { "help",        no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "m:h", longopts, NULL)) != -1) {
        switch (opt) {
            case 'b': opts->broker = optarg; break;
            case 'm': opts->model = optarg; break;
            case 's': opts->system = optarg; break;
            case 'n': opts->tenant = optarg; break;
            case 'c': opts->cache = optarg; break;
            case 'S': opts->stream = false; break;
            case 'j': opts->json = true; break;
            case 'M':
                opts->has_max_tokens = true;
                if (cli_parse_u32 (optarg, 1, UINT32_MAX, &opts->max_tokens))
                    return cli_usage_error ("chat", "bad --max-tokens '%s'", optarg);
                break;
            case 'T':
                opts->has_temperature = true;
                if (cli_parse_double (optarg, &opts->temperature)
                ||  opts->temperature < 0 || opts->temperature > 2)
                    return cli_usage_error ("chat", "bad --temperature '%s' (0..2)", optarg);
                break;
            case 'p':
                if (cli_parse_priority (optarg, &opts->priority))
                    return cli_usage_error ("chat", "bad --priority '%s'", optarg);
                break;
            case 't':
                if (cli_parse_u32 (optarg, 1, UINT32_MAX / 2, &opts->timeout_ms))
                    return cli_usage_error ("chat", "bad --timeout '%s'", optarg);
                break;
            case 'h':
                s_help ();
                return CLI_EXIT_OK;
            default:
                return cli_usage_error ("chat", "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage_error ("chat", "expected one PROMPT argument");
    opts->prompt = argv [optind];
    return S_PARSED;
}

//  Reads all of stdin; the trailing newline a shell or file adds is not
//  part of the prompt. NULL when out of memory or on a read error.
static char *
s_read_stdin (void)
{
    size_t size = 0, alloc = 4096;
    char *text = malloc (alloc);
    while (text) {
        size += fread (text + size, 1, alloc - size - 1, stdin);
        if (size < alloc - 1)
            break;
        char *bigger = realloc (text, alloc * 2);
        if (!bigger)
            free (text);
        text = bigger;
        alloc *= 2;
    }
    if (!text || ferror (stdin)) {
        free (text);
        return NULL;
    }
    while (size > 0 && (text [size - 1] == '\n' || text [size - 1] == '\r'))
        size--;
    text [size] = 0;
    return text;
}

//  Builds the request from the options; prints the reason and returns
//  NULL when a value is refused.
static llmq_request_t *
s_request (const s_options_t *opts, const char *prompt)
{
    llmq_request_t *req = llmq_request_new (opts->model);
    if (!req)
        return NULL;
    llmq_result_t rc = LLMQ_OK;
    if (opts->system)
        rc = llmq_request_add_message (req, "system", opts->system);
    if (rc == LLMQ_OK)
        rc = llmq_request_add_message (req, "user", prompt);
    if (rc == LLMQ_OK && opts->tenant)
        rc = llmq_request_set_tenant (req, opts->tenant);
    if (rc == LLMQ_OK && opts->cache && llmq_request_set_cache (req, opts->cache) != LLMQ_OK) {
        cli_usage_error ("chat", "bad --cache '%s'", opts->cache);
        llmq_request_destroy (&req);
        return NULL;
    }
    if (rc == LLMQ_OK)
        rc = llmq_request_set_priority (req, opts->priority);
    if (opts->has_max_tokens)
        llmq_request_set_max_tokens (req, opts->max_tokens);
    if (opts->has_temperature)
        llmq_request_set_temperature (req, opts->temperature);
    llmq_request_set_timeout (req, opts->timeout_ms);
    if (rc != LLMQ_OK) {
        cli_fail (llmq_result_name (rc), "%s", llmq_strerror (rc));
        llmq_request_destroy (&req);
    }
    return req;
}

static int
s_on_chunk (void *user, const char *text, size_t len)
{
    s_state_t *state = user;
    if (state->print_chunks && len) {
        fwrite (text, 1, len, stdout);
        fflush (stdout);
        state->printed = true;
    }
    return 0;
}

static void
s_on_done (void *user, llmq_response_t *resp)
{
    s_state_t *state = user;
    state->done = true;
    state->resp = resp;
}

//  Prints the outcome; returns the exit status.
static int
s_report (const s_options_t *opts, s_state_t *state)
{
    llmq_response_t *resp = state->resp;
    if (!resp)
        return cli_fail ("nomem", "%s", llmq_strerror (LLMQ_E_NOMEM));
    llmq_result_t rc = llmq_response_result (resp);
    if (opts->json)
        printf ("%s\n", llmq_response_json (resp));
    else
    if (rc == LLMQ_OK && !opts->stream)
        printf ("%s\n", llmq_response_text (resp));
    else
    if (state->printed)
        printf ("\n");
    fflush (stdout);
    if (rc == LLMQ_OK)
        return CLI_EXIT_OK;
    char extra [96] = "";
    if (llmq_response_upstream_status (resp))
        snprintf (extra, sizeof extra, " (upstream status %u)",
                  llmq_response_upstream_status (resp));
    else
    if (llmq_response_retry_after_ms (resp))
        snprintf (extra, sizeof extra, " (retry after %u ms)",
                  llmq_response_retry_after_ms (resp));
    return cli_fail (llmq_result_name (rc), "%s%s", llmq_response_error_message (resp), extra);
}

//  Sends the request and waits for its end; returns the exit status.
static int
s_run (const s_options_t *opts, llmq_client_t *client, llmq_request_t *req)
{
    s_state_t state = { opts->stream && !opts->json, false, false, NULL };
    char id [LLMQ_MAX_ID + 1];
    llmq_result_t rc = llmq_submit (client, req, opts->stream? s_on_chunk: NULL,
                                    s_on_done, &state, id);
    if (rc != LLMQ_OK)
        return cli_fail (llmq_result_name (rc), "%s", llmq_strerror (rc));
    //  The flag is checked every pass: a signal that lands outside the
    //  poll (say, while a chunk is written) does not interrupt it, so the
    //  wait is bounded to notice such a signal soon.
    bool interrupted = false;
    while (!state.done) {
        if (cli_interrupted () && !interrupted) {
            interrupted = true;
            llmq_cancel (client, id);   //  on_done follows at once
        }
        if (llmq_process (client, 200) == -1 && errno != EINTR)
            return cli_fail ("connect", "%s", llmq_strerror (LLMQ_E_CONNECT));
    }
    int status;
    if (interrupted) {
        if (state.printed)
            printf ("\n");
        status = CLI_EXIT_INTERRUPT;
    }
    else
        status = s_report (opts, &state);
    llmq_response_destroy (&state.resp);
    return status;
}

int
cli_chat (int argc, char **argv)
{
    s_options_t opts = {
        .broker = cli_env ("LLMQ_BROKER", CLI_DEFAULT_BROKER),
        .model = cli_env ("LLMQ_MODEL", CLI_DEFAULT_MODEL),
        .priority = LLMQ_PRIO_NORMAL,
        .timeout_ms = 30000,
        .stream = true,
    };
    int status = s_parse (argc, argv, &opts);
    if (status != S_PARSED)
        return status;
    char *from_stdin = NULL;
    if (strcmp (opts.prompt, "-") == 0 && !(from_stdin = s_read_stdin ()))
        return cli_fail ("invalid", "cannot read the prompt from stdin");
    const char *prompt = from_stdin? from_stdin: opts.prompt;
    llmq_request_t *req = s_request (&opts, prompt);
    llmq_client_t *client = req? llmq_client_new (opts.broker): NULL;
    if (!req)
        status = CLI_EXIT_USAGE;
    else
    if (!client)
        status = cli_fail ("connect", "cannot connect to '%s'", opts.broker);
    else
        status = s_run (&opts, client, req);
    llmq_client_destroy (&client);
    llmq_request_destroy (&req);
    free (from_stdin);
    return status;
}
