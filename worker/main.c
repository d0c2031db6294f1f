/*  main.c -- llmq-worker: parse flags, run the worker until a signal.

    Everything lives in the library (worker.c and friends); this file only
    owns what a process owns: the command line, signals, libcurl's global
    initialisation and the exit code.
*/
#include "config.h"
#include "worker.h"
#include "llmq_log.h"

#include <curl/curl.h>
#include <signal.h>
#include <string.h>

/*  Set by SIGINT/SIGTERM; the loop looks at it after every poll.          */
static volatile sig_atomic_t s_stop = 0;

static void
s_on_signal (int sig)
{
    (void) sig;
    s_stop = 1;
}

static void
s_install_signals (void)
{
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset (&sa.sa_mask);
    sa.sa_flags = 0;                    /* no SA_RESTART: interrupt zmq_poll */
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);
}

int
main (int argc, char **argv)
{
    llmq_worker_config_t cfg;
    llmq_worker_config_init (&cfg);
    int rc = llmq_worker_config_parse (&cfg, argc, argv, stdout, stderr);
    if (rc != 0) {
        llmq_worker_config_clear (&cfg);
        return rc > 0 ? 0 : 2;
    }
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        llmq_log ('E', "llmq-worker", "cannot initialise libcurl");
        llmq_worker_config_clear (&cfg);
        return 1;
    }
    s_install_signals ();
    llmq_worker_t *worker = llmq_worker_new (&cfg);
    if (worker) {
        llmq_log ('I', "llmq-worker", "starting id=%s backend=%s broker=%s slots=%u",
                  cfg.id, cfg.backend == LLMQ_WORKER_BACKEND_OPENAI ? "openai" : "mock",
                  cfg.broker, cfg.slots);
        rc = llmq_worker_run (worker, &s_stop) == 0 ? 0 : 1;
        llmq_worker_destroy (&worker);
        if (rc == 0)
            llmq_log ('I', "llmq-worker", "stopped");
    }
    else
        rc = 1;
    curl_global_cleanup ();
    llmq_worker_config_clear (&cfg);
    return rc;
}
