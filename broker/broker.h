/*  broker.h -- llmq-broker: the broker as an object.

    main.c parses flags into a broker_config_t, creates the broker and
    runs it; tests create one in-process on tcp://127.0.0.1:* and drive
    it with broker_poll_once from their own thread, so no sleeps and no
    second thread are needed.

        broker_config_t config;
        broker_config_defaults (&config);
        broker_t *broker = broker_new (&config);     // binds, logs "ready"
        while (!broker_done (broker))
            broker_poll_once (broker, 100);          // or broker_run
        broker_destroy (&broker);

    The broker is single-threaded: one zmq_poll loop over three ROUTER
    sockets (clients, workers, stats) with a timeout set by the next timer.
*/
#ifndef LLMQ_BROKER_H_INCLUDED
#define LLMQ_BROKER_H_INCLUDED

#include "stats.h"
#include "cache_config.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *clients_ep;         /* client ROUTER bind endpoint         */
    const char *workers_ep;         /* worker ROUTER bind endpoint         */
    const char *stats_ep;           /* stats ROUTER bind endpoint          */
    uint32_t request_timeout_ms;    /* default when a request has none     */
    uint32_t max_timeout_ms;        /* cap on any request's timeout        */
    uint32_t no_worker_grace_ms;    /* wait for a worker of an unserved model */
    uint32_t max_attempts;          /* dispatches before worker_lost       */
    size_t max_queue;               /* queued requests before overloaded   */
    int64_t max_msg_size;           /* ZMQ_MAXMSGSIZE on every socket      */
    uint32_t heartbeat_ms;          /* heartbeat interval                  */
    uint32_t liveness;              /* silent intervals before a worker is dead */
    uint32_t shutdown_grace_ms;     /* time to finish work when stopping   */
    uint32_t replay_window_ms;      /* FINALs kept for resends (recent.h)  */
    size_t replay_max_bytes;        /* memory for those, at most           */
    cache_config_t cache;           /* response cache (cache_config.h)     */
    bool verbose;                   /* debug log lines                     */
    /*  Monitoring (broker_monitor.c, README "Monitoring").                */
    const char *stats_pub_ep;       /* PUB of snapshots; NULL/"" = off     */
    uint32_t stats_interval_ms;     /* PUB and /metrics refresh            */
    const char *metrics_listen;     /* HOST:PORT of /metrics; NULL = off   */
    const char *log_format;         /* request log: off|json|logfmt        */
    uint32_t metrics_max_labels;    /* models/tenants before "other"       */
    uint32_t latency_window_ms;     /* half of the percentile window       */
    bool no_monitoring;             /* record no per-request monitoring    */
    bool log_prompt_sizes;          /* request log: prompt bytes, messages */
    size_t max_queue_bytes;         /* queued request bytes before overloaded; 0 = none */
    const struct sched_config *sched;   /* scheduler.h: priorities,
                                       tenants, quotas; NULL = defaults;
                                       copied by broker_new/broker_reload  */
} broker_config_t;

typedef struct broker broker_t;
struct sched_config;

/*  Fills config with the documented defaults.                             */
void broker_config_defaults (broker_config_t *config);

/*  Binds the three sockets and logs the ready line; NULL (and an error
    logged) when a bind fails or memory runs out. config is copied.        */
broker_t *broker_new (const broker_config_t *config);
/*  Closes the sockets (linger 0) and frees everything.                    */
void broker_destroy (broker_t **self_p);

/*  The endpoints actually bound (ZMQ_LAST_ENDPOINT).                      */
const char *broker_clients_endpoint (const broker_t *self);
const char *broker_workers_endpoint (const broker_t *self);
const char *broker_stats_endpoint (const broker_t *self);
/*  The stats PUB endpoint bound, NULL when off; the /metrics port, 0 when
    off (broker_monitor.c).                                                */
const char *broker_stats_pub_endpoint (const broker_t *self);
uint16_t broker_metrics_port (const broker_t *self);

/*  One round: waits up to max_wait_ms (less when a timer is due) for
    traffic, handles what arrived and the timers that are due. 0, or -1
    on a fatal socket error.                                               */
int broker_poll_once (broker_t *self, int max_wait_ms);
/*  Starts the graceful stop: new requests are refused, the rest get up to
    --shutdown-grace to finish. broker_done tells when it is over.         */
void broker_shutdown (broker_t *self);
bool broker_done (const broker_t *self);
/*  Rounds until done; starts the shutdown when *interrupted becomes
    non-zero (main's signal flag). 0, or -1 on a fatal error.              */
int broker_run (broker_t *self, const volatile sig_atomic_t *interrupted);

/*  Applies new scheduling settings (a sched_config_t, see scheduler.h) without
    dropping queued requests: SIGHUP. 0, or -1 (old settings stay).        */
int broker_reload (broker_t *self, const struct sched_config *sched_config);

/*  The counters (tests, and the snapshot).                                */
const stats_t *broker_stats (const broker_t *self);

#endif
