/*  harness.h -- start the real llmq binaries for integration tests.

    Processes run from LLMQ_BIN_DIR with their stderr sent to a log file
    under $TMPDIR (kept on failure for reading). Readiness is the log line
    each binary prints (HACKING.md, "Readiness lines"): the harness waits
    for the line, never for a fixed time. Everything binds to
    tcp://127.0.0.1:* or 127.0.0.1:0 so tests can run side by side.

        cluster_t c;
        cluster_opts_t o = cluster_defaults ();
        o.workers = 2;
        cluster_start (&c, &o);           // mockllm + broker + 2 workers
        llmq_client_t *client = llmq_client_new (c.clients_ep);
        ...
        cluster_stop (&c);
*/
#ifndef LLMQ_HARNESS_H_INCLUDED
#define LLMQ_HARNESS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define HARNESS_MAX_ARGS 48
#define HARNESS_MAX_WORKERS 8

typedef struct {
    pid_t pid;                  /* 0 when not running                    */
    char name[64];              /* for messages                          */
    char log_path[256];         /* its stderr                            */
    long log_offset;            /* where the next wait starts reading    */
} proc_t;

/*  Starts bin (a name in LLMQ_BIN_DIR) with NULL-terminated argv (argv[0]
    not included). Returns 0, or -1 when fork/exec failed.               */
int proc_start (proc_t *p, const char *name, const char *bin, const char *const *args);

/*  Waits until a line containing pattern appears in the log after the
    last matched line; copies it to line. 0, or -1 on timeout or when the
    process exited first.                                                */
int proc_wait_line (proc_t *p, const char *pattern, int timeout_ms, char *line, size_t line_size);

/*  Sends sig. */
void proc_signal (proc_t *p, int sig);
/*  SIGTERM, waits up to timeout_ms, then SIGKILL. Returns the exit status
    (0..255), 128+signal when killed, -1 if it was not running.         */
int proc_stop (proc_t *p, int timeout_ms);
/*  SIGKILL and reap. */
void proc_kill (proc_t *p);
/*  True while the process runs. */
bool proc_alive (proc_t *p);
/*  Counts lines of the whole log that contain pattern. */
int proc_count_lines (proc_t *p, const char *pattern);

/*  Copies the value of "key=" from a log line (up to a space) into out.  */
int harness_field (const char *line, const char *key, char *out, size_t out_size);

typedef struct {
    int workers;                /* how many llmq-worker processes        */
    const char *backend;        /* "openai" (through mockllm) or "mock"  */
    int slots;                  /* per worker                            */
    const char *model;          /* served by every worker                */
    int heartbeat_ms;           /* broker and workers                    */
    /*  mockllm behaviour (openai backend)                               */
    int ttft_ms, tpot_ms, tokens;
    double error_rate;
    int error_status;
    /*  mock backend behaviour                                            */
    int mock_ttft_ms, mock_tpot_ms;
    const char *broker_extra[8];    /* extra broker flags, NULL-ended   */
} cluster_opts_t;

typedef struct {
    cluster_opts_t opts;
    proc_t mockllm;
    proc_t broker;
    proc_t worker[HARNESS_MAX_WORKERS];
    char mock_url[128];         /* http://127.0.0.1:PORT/v1              */
    char clients_ep[128];       /* tcp://127.0.0.1:PORT                  */
    char workers_ep[128];
    char stats_ep[128];
    char stats_pub_ep[128];     /* PUB of snapshots (--stats-pub)        */
    char metrics_addr[128];     /* HOST:PORT of /metrics, "" when off    */
} cluster_t;

cluster_opts_t cluster_defaults (void);
/*  Starts mockllm (openai backend only), the broker and the workers, and
    waits until every worker is registered. 0 or -1 (with a message on
    stderr and everything stopped).                                      */
int cluster_start (cluster_t *c, const cluster_opts_t *opts);
/*  Starts worker i (already configured by cluster_start) again and waits
    for it to register. */
int cluster_start_worker (cluster_t *c, int i);
/*  (Re)starts the broker on the endpoints recorded in c (after the first
    start they are fixed ports), waits for its ready line. */
int cluster_start_broker (cluster_t *c);
void cluster_stop (cluster_t *c);

/*  Asks the stats socket for a snapshot and returns it as a JSON string
    (malloc'd; free it), NULL on timeout.                                */
char *harness_stats_json (const char *stats_ep, int timeout_ms);

/*  HTTP GET of url; returns the body (malloc'd) or NULL.                */
char *harness_http_get (const char *url);

/*  Number of chat requests mockllm has received (its GET /stats).       */
long harness_mock_chat_requests (cluster_t *c);

#endif
