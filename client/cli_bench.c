/*  cli_bench.c -- `llmq bench`: a closed-loop load generator.

    One client keeps CONCURRENCY requests in flight: each completion
    (in its on_done) submits the next request, until -n requests were
    sent or -d seconds passed; then it waits for the last answers. Every
    answer's latency (submit to FINAL, llmq_now_us) and the broker's own
    time (FINAL timings.broker_us) are kept, and percentiles are taken by
    sorting at the end.

    The generator shares two cores with the broker and the workers, so it
    is kept cheap: one request object reused for every prompt, the
    prompt rewritten in place (a counter makes each one distinct so a
    cache cannot answer, unless --repeat), sample arrays allocated up
    front for -n, no output until the end.
*/
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_RESULTS       128         //  llmq_result_t values all below this
#define S_NUMBER_AT     8           //  where the counter sits in a prompt
#define S_NUMBER_LEN    10          //  its digits

typedef struct {
    const char *broker;             //  Broker client endpoint
    const char *model;              //  Model name
    uint32_t concurrency;           //  Requests in flight
    uint32_t requests;              //  -n: requests to send (0 = use -d)
    uint32_t seconds;               //  -d: seconds to send for
    uint32_t prompt_bytes;          //  Size of each prompt
    bool has_max_tokens;            //  --max-tokens given
    uint32_t max_tokens;            //  Its value
    uint32_t timeout_ms;            //  Request deadline
    bool stream;                    //  Ask for PARTIALs
    bool repeat;                    //  One prompt for all requests
    bool json;                      //  One JSON line as output
} s_options_t;

//  A growable array of samples in microseconds.
typedef struct {
    uint64_t *values;               //  Samples
    size_t count;                   //  In use
    size_t alloc;                   //  Allocated
} s_samples_t;

typedef struct s_bench_t s_bench_t;

//  One of the CONCURRENCY places a request runs in.
typedef struct {
    s_bench_t *bench;               //  Back to the run
    uint64_t started_us;            //  When its request was submitted
    uint64_t first_chunk_us;        //  First PARTIAL; 0 = none yet
} s_slot_t;

struct s_bench_t {
    s_options_t opts;               //  What to do
    llmq_client_t *client;          //  The one client
    llmq_request_t *req;            //  Reused for every request
    char *prompt;                   //  The prompt, rewritten in place
    s_slot_t *slots;                //  opts.concurrency slots
    uint64_t end_us;                //  -d: stop submitting then
    uint64_t started_us;            //  First submit
    uint64_t last_done_us;          //  Last completion
    uint64_t submitted;             //  Requests sent
    uint64_t in_flight;             //  Sent and not completed
    uint64_t answered;              //  Completed with an answer
    uint64_t errors;                //  Completed with an error
    uint64_t by_result [S_RESULTS]; //  Errors by llmq_result_t
    bool stop;                      //  No more submits (failure/Ctrl-C)
    llmq_result_t submit_error;     //  Why submitting failed, if it did
    bool nomem;                     //  A sample could not be kept
    s_samples_t latency;            //  Submit -> FINAL
    s_samples_t broker;             //  FINAL timings.broker_us
    s_samples_t ttft;               //  Submit -> first PARTIAL
};

static void
s_help (void)
{
    printf (
        "Usage: llmq bench [OPTIONS] (-n REQUESTS | -d SECONDS)\n"
        "\n"
        "Keeps CONCURRENCY requests in flight through one client (a closed loop) and\n"
        "prints requests/s and latency percentiles. rps counts answers; errors are\n"
        "counted by name and left out of the latencies.\n"
        "\n"
        "Options:\n"
        "  --broker EP          broker client endpoint (env LLMQ_BROKER, default\n"
        "                       " CLI_DEFAULT_BROKER ")\n"
        "  -m, --model MODEL    model (env LLMQ_MODEL, default '" CLI_DEFAULT_MODEL "')\n"
        "  -c, --concurrency N  requests in flight (default 1)\n"
        "  -n, --requests N     send N requests (default 1000 when no -d)\n"
        "  -d, --duration S     send for S seconds, then wait for the last answers\n"
        "  --stream             ask for streamed answers (also reports ttft)\n"
        "  --prompt-bytes N     size of each prompt (default 300)\n"
        "  --max-tokens N       answer length limit\n"
        "  --timeout MS         deadline of each request (default 30000)\n"
        "  --unique             a distinct prompt per request, so no cache answers\n"
        "                       (the default)\n"
        "  --repeat             the same prompt for every request\n"
        "  --json               one JSON object: requests, errors, rps, p50_us, p90_us,\n"
        "                       p99_us, p999_us, max_us, errors_by_code, concurrency,\n"
        "                       duration_s, broker_p50_us, broker_p99_us, ...\n"
        "  -h, --help           this help\n"
        "\n"
        "Exit status: 0 done (even with errors: see the counts), 1 could not run,\n"
        "2 usage error, 130 interrupted (the results so far are printed).\n");
}

#define S_PARSED -1                 //  s_parse: go on (else: exit status)

//  A number option into *out, or a usage error naming the option.
static int
s_number (const char *name, uint32_t min, uint32_t max, uint32_t *out)
{
    if (cli_parse_u32 (optarg, min, max, out) == 0)
        return S_PARSED;
    return cli_usage_error ("bench", "bad %s '%s' (%u..%u)", name, optarg, min, max);
}

static int
s_parse (int argc, char **argv, s_options_t *opts)
{
    static const struct option longopts [] = {
        { "broker",       required_argument, NULL, 'b' },
        { "model",        required_argument, NULL, 'm' },
        { "concurrency",  required_argument, NULL, 'c' },
        { "requests",     required_argument, NULL, 'n' },
        { "duration",     required_argument, NULL, 'd' },
        { "stream",       no_argument,       NULL, 's' },
        { "prompt-bytes", required_argument, NULL, 'P' },
        { "max-tokens",   required_argument, NULL, 'M' },
        { "timeout",      required_argument, NULL, 't' },
        { "unique",       no_argument,       NULL, 'u' },
        { "repeat",       no_argument,       NULL, 'r' },
        { "json",         no_argument,       NULL, 'j' },
        { "help",         no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int opt, status = S_PARSED;
    while (status == S_PARSED
       &&  (opt = getopt_long (argc, argv, "m:c:n:d:h", longopts, NULL)) != -1) {
        switch (opt) {
            case 'b': opts->broker = optarg; break;
            case 'm': opts->model = optarg; break;
            case 's': opts->stream = true; break;
            case 'u': opts->repeat = false; break;
            case 'r': opts->repeat = true; break;
            case 'j': opts->json = true; break;
            case 'c': status = s_number ("-c", 1, 100000, &opts->concurrency); break;
            case 'n': status = s_number ("-n", 1, UINT32_MAX, &opts->requests); break;
            case 'd': status = s_number ("-d", 1, 86400, &opts->seconds); break;
            case 'P': status = s_number ("--prompt-bytes", 1, LLMQ_MAX_STRING, &opts->prompt_bytes); break;
            case 't': status = s_number ("--timeout", 1, UINT32_MAX / 2, &opts->timeout_ms); break;
            case 'M':
                opts->has_max_tokens = true;
                status = s_number ("--max-tokens", 1, UINT32_MAX, &opts->max_tokens);
                break;
            case 'h':
                s_help ();
                return CLI_EXIT_OK;
            default:
                return cli_usage_error ("bench", "unknown option");
        }
    }
    if (status != S_PARSED)
        return status;
    if (optind != argc)
        return cli_usage_error ("bench", "unexpected argument '%s'", argv [optind]);
    if (opts->requests && opts->seconds)
        return cli_usage_error ("bench", "-n and -d exclude each other");
    if (!opts->requests && !opts->seconds)
        opts->requests = 1000;
    return S_PARSED;
}

/* ---- samples ----------------------------------------------------------- */

static int
s_samples_reserve (s_samples_t *samples, size_t alloc)
{
    if (alloc <= samples->alloc)
        return 0;
    uint64_t *values = realloc (samples->values, alloc * sizeof *values);
    if (!values)
        return -1;
    samples->values = values;
    samples->alloc = alloc;
    return 0;
}

static void
s_samples_add (s_bench_t *bench, s_samples_t *samples, uint64_t value)
{
    if (samples->count == samples->alloc
    &&  s_samples_reserve (samples, samples->alloc? samples->alloc * 2: 4096)) {
        bench->nomem = true;
        return;
    }
    samples->values [samples->count++] = value;
}

static int
s_compare (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

//  Nearest-rank percentile of sorted samples; 0 when there are none.
static uint64_t
s_percentile (const s_samples_t *samples, double q)
{
    if (samples->count == 0)
        return 0;
    size_t rank = (size_t) ceil (q * (double) samples->count);
    if (rank < 1)
        rank = 1;
    if (rank > samples->count)
        rank = samples->count;
    return samples->values [rank - 1];
}

/* ---- the closed loop --------------------------------------------------- */

//  Fills the prompt: "request NNNNNNNNNN:" then words up to the size.
static int
s_prompt_init (s_bench_t *bench)
{
    static const char words [] = " the quick brown fox jumps over the lazy dog";
    size_t size = bench->opts.prompt_bytes;
    size_t head = S_NUMBER_AT + S_NUMBER_LEN + 1;
    if (size < head)
        size = head;
    bench->prompt = malloc (size + 1);
    if (!bench->prompt)
        return -1;
    snprintf (bench->prompt, head + 1, "request %0*d:", S_NUMBER_LEN, 0);
    for (size_t i = head; i < size; i++)
        bench->prompt [i] = words [(i - head) % (sizeof words - 1)];
    bench->prompt [size] = 0;
    return 0;
}

static void
s_prompt_number (s_bench_t *bench, uint64_t number)
{
    char *digit = bench->prompt + S_NUMBER_AT + S_NUMBER_LEN;
    for (int i = 0; i < S_NUMBER_LEN; i++, number /= 10)
        *--digit = (char) ('0' + number % 10);
}

static bool
s_may_submit (const s_bench_t *bench, uint64_t now)
{
    if (bench->stop)
        return false;
    if (bench->opts.requests)
        return bench->submitted < bench->opts.requests;
    return now < bench->end_us;
}

static llmq_chunk_fn s_on_chunk;
static llmq_done_fn s_on_done;

static void
s_submit (s_bench_t *bench, s_slot_t *slot, uint64_t now)
{
    if (!bench->opts.repeat)
        s_prompt_number (bench, bench->submitted);
    llmq_request_clear_messages (bench->req);
    llmq_result_t rc = llmq_request_add_message (bench->req, "user", bench->prompt);
    slot->started_us = now;
    slot->first_chunk_us = 0;
    if (rc == LLMQ_OK)
        rc = llmq_submit (bench->client, bench->req, bench->opts.stream? s_on_chunk: NULL,
                          s_on_done, slot, NULL);
    if (rc != LLMQ_OK) {
        //  The same request would fail again: stop rather than spin.
        bench->stop = true;
        bench->submit_error = rc;
        return;
    }
    bench->submitted++;
    bench->in_flight++;
}

static int
s_on_chunk (void *user, const char *text, size_t len)
{
    (void) text;
    (void) len;
    s_slot_t *slot = user;
    if (!slot->first_chunk_us)
        slot->first_chunk_us = llmq_now_us ();
    return 0;
}

static void
s_on_done (void *user, llmq_response_t *resp)
{
    s_slot_t *slot = user;
    s_bench_t *bench = slot->bench;
    uint64_t now = llmq_now_us ();
    bench->in_flight--;
    bench->last_done_us = now;
    llmq_result_t rc = resp? llmq_response_result (resp): LLMQ_E_NOMEM;
    if (rc == LLMQ_OK) {
        bench->answered++;
        s_samples_add (bench, &bench->latency, now - slot->started_us);
        s_samples_add (bench, &bench->broker, llmq_response_broker_us (resp));
        if (slot->first_chunk_us)
            s_samples_add (bench, &bench->ttft, slot->first_chunk_us - slot->started_us);
    }
    else {
        bench->errors++;
        bench->by_result [(unsigned) rc < S_RESULTS? rc: LLMQ_E_PROTOCOL]++;
    }
    llmq_response_destroy (&resp);
    if (s_may_submit (bench, now))
        s_submit (bench, slot, now);
}

//  Runs the loop to its end; an exit status.
static int
s_run (s_bench_t *bench)
{
    bench->started_us = llmq_now_us ();
    bench->last_done_us = bench->started_us;
    bench->end_us = bench->started_us + (uint64_t) bench->opts.seconds * 1000000;
    for (uint32_t i = 0; i < bench->opts.concurrency; i++) {
        if (!s_may_submit (bench, llmq_now_us ()))
            break;
        s_submit (bench, &bench->slots [i], llmq_now_us ());
    }
    while (bench->in_flight > 0) {
        if (cli_interrupted ())
            return CLI_EXIT_INTERRUPT;  //  what is in flight is cancelled
        if (llmq_process (bench->client, 200) == -1 && errno != EINTR)
            return cli_fail ("connect", "%s", llmq_strerror (LLMQ_E_CONNECT));
    }
    if (bench->submit_error != LLMQ_OK)
        return cli_fail (llmq_result_name (bench->submit_error), "%s",
                         llmq_strerror (bench->submit_error));
    return CLI_EXIT_OK;
}

/* ---- report ------------------------------------------------------------ */

static double
s_seconds (const s_bench_t *bench)
{
    return (double) (bench->last_done_us - bench->started_us) / 1e6;
}

static double
s_rps (const s_bench_t *bench)
{
    double seconds = s_seconds (bench);
    return seconds > 0? (double) bench->answered / seconds: 0;
}

static void
s_report_json (const s_bench_t *bench)
{
    const s_samples_t *lat = &bench->latency, *brk = &bench->broker;
    printf ("{\"requests\":%llu,\"answered\":%llu,\"errors\":%llu,\"concurrency\":%u,"
            "\"duration_s\":%.3f,\"rps\":%.1f,",
            (unsigned long long) (bench->answered + bench->errors),
            (unsigned long long) bench->answered, (unsigned long long) bench->errors,
            bench->opts.concurrency, s_seconds (bench), s_rps (bench));
    printf ("\"p50_us\":%llu,\"p90_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,\"max_us\":%llu,",
            (unsigned long long) s_percentile (lat, 0.50), (unsigned long long) s_percentile (lat, 0.90),
            (unsigned long long) s_percentile (lat, 0.99), (unsigned long long) s_percentile (lat, 0.999),
            (unsigned long long) s_percentile (lat, 1.0));
    printf ("\"broker_p50_us\":%llu,\"broker_p99_us\":%llu,",
            (unsigned long long) s_percentile (brk, 0.50), (unsigned long long) s_percentile (brk, 0.99));
    if (bench->opts.stream)
        printf ("\"ttft_p50_us\":%llu,\"ttft_p99_us\":%llu,",
                (unsigned long long) s_percentile (&bench->ttft, 0.50),
                (unsigned long long) s_percentile (&bench->ttft, 0.99));
    printf ("\"stream\":%s,\"prompt_bytes\":%u,\"errors_by_code\":{",
            bench->opts.stream? "true": "false", bench->opts.prompt_bytes);
    const char *comma = "";
    for (int rc = 0; rc < S_RESULTS; rc++)
        if (bench->by_result [rc]) {
            printf ("%s\"%s\":%llu", comma, llmq_result_name ((llmq_result_t) rc),
                    (unsigned long long) bench->by_result [rc]);
            comma = ",";
        }
    printf ("}}\n");
}

//  Microseconds as a short human figure: "850 us", "1.23 ms", "2.50 s".
static const char *
s_time (uint64_t us, char *text, size_t size)
{
    if (us < 1000)
        snprintf (text, size, "%llu us", (unsigned long long) us);
    else
    if (us < 1000000)
        snprintf (text, size, "%.2f ms", (double) us / 1e3);
    else
        snprintf (text, size, "%.2f s", (double) us / 1e6);
    return text;
}

static void
s_report_text (const s_bench_t *bench)
{
    const s_samples_t *lat = &bench->latency;
    char a [32], b [32], c [32], d [32], e [32];
    printf ("llmq bench: model %s, concurrency %u, %s prompts of %u bytes%s\n",
            bench->opts.model, bench->opts.concurrency, bench->opts.repeat? "repeated": "distinct",
            bench->opts.prompt_bytes, bench->opts.stream? ", streamed": "");
    printf ("  requests  %llu in %.3f s\n",
            (unsigned long long) (bench->answered + bench->errors), s_seconds (bench));
    printf ("  answered  %llu (%.1f req/s)\n", (unsigned long long) bench->answered, s_rps (bench));
    printf ("  errors    %llu", (unsigned long long) bench->errors);
    for (int rc = 0; rc < S_RESULTS; rc++)
        if (bench->by_result [rc])
            printf ("  %s %llu", llmq_result_name ((llmq_result_t) rc),
                    (unsigned long long) bench->by_result [rc]);
    printf ("\n  latency   p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
            s_time (s_percentile (lat, 0.50), a, sizeof a), s_time (s_percentile (lat, 0.90), b, sizeof b),
            s_time (s_percentile (lat, 0.99), c, sizeof c), s_time (s_percentile (lat, 0.999), d, sizeof d),
            s_time (s_percentile (lat, 1.0), e, sizeof e));
    printf ("  broker    p50 %s  p99 %s (its own time per request)\n",
            s_time (s_percentile (&bench->broker, 0.50), a, sizeof a),
            s_time (s_percentile (&bench->broker, 0.99), b, sizeof b));
    if (bench->opts.stream)
        printf ("  ttft      p50 %s  p99 %s\n",
                s_time (s_percentile (&bench->ttft, 0.50), a, sizeof a),
                s_time (s_percentile (&bench->ttft, 0.99), b, sizeof b));
    if (bench->nomem)
        printf ("  (out of memory: some samples were not kept)\n");
}

static void
s_samples_sort (s_samples_t *samples)
{
    if (samples->count)             //  qsort wants a pointer even for 0
        qsort (samples->values, samples->count, sizeof (uint64_t), s_compare);
}

static void
s_report (s_bench_t *bench)
{
    s_samples_sort (&bench->latency);
    s_samples_sort (&bench->broker);
    s_samples_sort (&bench->ttft);
    if (bench->opts.json)
        s_report_json (bench);
    else
        s_report_text (bench);
    fflush (stdout);
}

/* ---- setup ------------------------------------------------------------- */

static int
s_setup (s_bench_t *bench)
{
    const s_options_t *opts = &bench->opts;
    bench->slots = calloc (opts->concurrency, sizeof *bench->slots);
    bench->req = llmq_request_new (opts->model);
    if (!bench->slots || !bench->req || s_prompt_init (bench)
    ||  (opts->requests && (s_samples_reserve (&bench->latency, opts->requests)
                        ||  s_samples_reserve (&bench->broker, opts->requests))))
        return cli_fail ("nomem", "%s", llmq_strerror (LLMQ_E_NOMEM));
    for (uint32_t i = 0; i < opts->concurrency; i++)
        bench->slots [i].bench = bench;
    if (opts->has_max_tokens)
        llmq_request_set_max_tokens (bench->req, opts->max_tokens);
    llmq_request_set_timeout (bench->req, opts->timeout_ms);
    bench->client = llmq_client_new (opts->broker);
    if (!bench->client)
        return cli_fail ("connect", "cannot connect to '%s'", opts->broker);
    return CLI_EXIT_OK;
}

static void
s_teardown (s_bench_t *bench)
{
    llmq_client_destroy (&bench->client);
    llmq_request_destroy (&bench->req);
    free (bench->slots);
    free (bench->prompt);
    free (bench->latency.values);
    free (bench->broker.values);
    free (bench->ttft.values);
}

int
cli_bench (int argc, char **argv)
{
    s_bench_t bench;
    memset (&bench, 0, sizeof bench);
    bench.opts = (s_options_t) {
        .broker = cli_env ("LLMQ_BROKER", CLI_DEFAULT_BROKER),
        .model = cli_env ("LLMQ_MODEL", CLI_DEFAULT_MODEL),
        .concurrency = 1,
        .prompt_bytes = 300,
        .timeout_ms = 30000,
    };
    int status = s_parse (argc, argv, &bench.opts);
    if (status != S_PARSED)
        return status;
    status = s_setup (&bench);
    if (status == CLI_EXIT_OK)
        status = s_run (&bench);
    if (status == CLI_EXIT_OK || status == CLI_EXIT_INTERRUPT)
        s_report (&bench);
    s_teardown (&bench);
    return status;
}
