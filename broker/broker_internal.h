/*  broker_internal.h -- what the broker's source files share.

    The broker is split by concern, not by layer:
      broker.c          lifecycle, sockets, the poll loop, sending, timers
      broker_clients.c  messages from clients (REQUEST, CANCEL, PING) and
                        the stats socket
      broker_workers.c  messages from workers (READY ... DISCONNECT),
                        heartbeats, liveness, losing a worker
      dispatch.c        the life of a request: dispatch or queue, requeue,
                        answer, deadlines and the no-worker grace
    over the data structures, one module each, that know nothing of
    sockets: requests.c (table + key index), models.c (per-model queue and
    workers), workers.c (registry, choice), queue.c (intrusive FIFO),
    timers.c (deadline heap), recent.c (answers kept for resends),
    stats.c (counters, snapshot).
    Not a public header: nothing outside broker/ includes it.
*/
#ifndef LLMQ_BROKER_INTERNAL_H_INCLUDED
#define LLMQ_BROKER_INTERNAL_H_INCLUDED

#include "broker.h"
#include "cache_flow.h"
#include "llmq_log.h"
#include "llmq_proto.h"
#include "models.h"
#include "recent.h"
#include "scheduler.h"
#include "requests.h"
#include "stats.h"
#include "timers.h"
#include "workers.h"

#include <zmq.h>

#define BROKER_ENDPOINT_MAX 256

/*  Timer kinds (timers.h); the argument is the request's rid.             */
enum {
    TIMER_DEADLINE = 1,             /* answer due: ERROR timeout           */
    TIMER_GRACE = 2,                /* still no worker: ERROR no_worker    */
    TIMER_RATE = 3                  /* sched: a rate or pause allows again */
};

struct broker {
    broker_config_t config;         /* flags, endpoints not owned          */
    void *ctx;                      /* ZeroMQ context                      */
    void *clients;                  /* ROUTER for clients                  */
    void *workers_sock;             /* ROUTER for workers                  */
    void *stats_sock;               /* ROUTER for monitors                 */
    char clients_ep[BROKER_ENDPOINT_MAX];   /* bound endpoints             */
    char workers_ep[BROKER_ENDPOINT_MAX];
    char stats_ep[BROKER_ENDPOINT_MAX];
    requests_t *requests;           /* every request held                  */
    models_t *models;               /* models, their queues and workers    */
    workers_t *workers;             /* live workers                        */
    timers_t *timers;               /* request deadlines and graces        */
    recent_t *recent;               /* FINALs just sent, for resends       */
    cache_flow_t *cache;            /* response cache (cache_flow.h)       */
    sched_t *sched;                 /* priorities, tenants, rate control   */
    uint32_t rate_timer;            /* TIMER_RATE handle, or TIMER_NONE    */
    uint64_t rate_timer_us;         /* when it fires                       */
    stats_t stats;                  /* counters                            */
    llmq_decoder_t *decoder;        /* reused for every incoming frame     */
    llmq_buf_t out;                 /* reused for every outgoing frame     */
    uint64_t started_us;            /* for uptime                          */
    uint64_t msg_start_us;          /* when handling of this message began */
    uint64_t next_heartbeat_us;     /* next heartbeat round                */
    bool stopping;                  /* shutdown started                    */
    uint64_t stop_deadline_us;      /* end of the shutdown grace           */
    bool done;                      /* shutdown finished                   */
    struct broker_monitor *mon;     /* monitoring (broker_monitor.c)       */
};

#define BROKER_LOG "llmq-broker"
#define broker_debug(self, ...) \
    do { if ((self)->config.verbose) llmq_log ('D', BROKER_LOG, __VA_ARGS__); } while (0)

/*  broker.c: sending. Every send is non-blocking; a refused send counts
    in stats.send_failures and returns -1 (errno from zmq).                */
int broker_send (broker_t *self, void *sock, const void *route, size_t route_len,
                 const llmq_buf_t *frame);
int broker_send_bytes (broker_t *self, void *sock, const void *route, size_t route_len,
                       const void *frame, size_t size);
/*  Sends ERROR {id?, code, message} to a peer; counts it by code.          */
int broker_send_error (broker_t *self, void *sock, const void *route, size_t route_len,
                       llmq_str_t id, llmq_errcode_t code, const char *message);
/*  A frame we cannot use: counted as malformed, answered with ERROR
    {id?, code, detail}.                                                   */
void broker_reject (broker_t *self, void *sock, zmq_msg_t *route, llmq_errcode_t code,
                    llmq_str_t id, const char *detail);
/*  The same for a failed decode: the code for rc, the decoder's detail.    */
void broker_reject_decode (broker_t *self, void *sock, zmq_msg_t *route,
                           llmq_decode_result_t rc, llmq_str_t id);
/*  A known command this socket does not take: bad_request.               */
void broker_reject_command (broker_t *self, void *sock, zmq_msg_t *route, llmq_cmd_t cmd);

/*  broker_monitor.c: stats PUB, /metrics, request log, full snapshot.
    start binds/starts what the config asks (-1, logged, on failure);
    tick publishes when due (next_us says when, UINT64_MAX = never); the
    per-request hooks record a request accepted and ended.                 */
typedef struct broker_monitor broker_monitor_t;
/*  known: the config's tenants and models (labelled first), or NULL.     */
int broker_monitor_start (broker_t *self, const sched_config_t *known);
void broker_monitor_stop (broker_t *self);
const char *broker_monitor_endpoints (const broker_t *self);   /* ready line */
uint64_t broker_monitor_next_us (const broker_t *self);
void broker_monitor_tick (broker_t *self, uint64_t now_us);
int broker_snapshot (broker_t *self, llmq_buf_t *buf);
void broker_monitor_accept (broker_t *self, request_t *req, const llmq_wire_request_t *msg);
/*  A decoded request answered with ERROR code before a record held it.   */
void broker_monitor_refused (broker_t *self, const llmq_wire_request_t *msg, uint32_t code);
void broker_monitor_final (broker_t *self, request_t *req, const llmq_final_t *final);
void broker_monitor_error (broker_t *self, request_t *req, uint32_t code);

/*  broker_clients.c                                                       */
void broker_client_msg (broker_t *self, zmq_msg_t *route, zmq_msg_t *frame);
void broker_stats_msg (broker_t *self, zmq_msg_t *route, zmq_msg_t *frame);

/*  broker_workers.c                                                       */
void broker_worker_msg (broker_t *self, zmq_msg_t *route, zmq_msg_t *frame);
/*  Sends HEARTBEAT to every worker and removes the silent ones.            */
void broker_heartbeat (broker_t *self, uint64_t now_us);
/*  Removes worker; its requests go back to the front of their queues (or
    fail past --max-attempts) and are dispatched to the others.            */
void broker_worker_lost (broker_t *self, worker_t *worker, const char *why);
/*  Sends CANCEL {rid} to a worker (a failure is only counted: the
    request is being ended anyway).                                        */
void broker_worker_cancel (broker_t *self, worker_t *worker, uint64_t rid);
/*  DISCONNECT to every worker (end of shutdown).                          */
void broker_disconnect_workers (broker_t *self);

/*  dispatch.c: the life of a request.                                     */
/*  A new request: to a free worker, else to the back of its queue (or
    ERROR overloaded when the queue bound is reached).                     */
void dispatch_request (broker_t *self, request_t *req);
/*  Hands queued requests of model to workers with free slots.             */
void dispatch_model (broker_t *self, model_t *model);
/*  After worker got free slots (registered, finished, un-drained).         */
void dispatch_worker (broker_t *self, worker_t *worker);
/*  A request whose worker was lost: taken off that worker, back to the
    front of its queue, or ERROR worker_lost past --max-attempts.          */
void dispatch_requeue (broker_t *self, request_t *req);
/*  Arms the no-worker grace timer of a queued request if not armed.       */
void dispatch_arm_grace (broker_t *self, request_t *req);
/*  Sends the client ERROR for req and ends it (retry_after_ms 0 = none).   */
void dispatch_fail (broker_t *self, request_t *req, llmq_errcode_t code,
                    const char *message, uint32_t retry_after_ms);
/*  Ends req: cancels its timers, unlinks it, frees its slot.               */
void dispatch_release (broker_t *self, request_t *req);
/*  Sends self->out to req's client; -1 when the client is gone.            */
int dispatch_reply (broker_t *self, request_t *req);
/*  Adds the time since start_us to req's broker time.                     */
void dispatch_charge (request_t *req, uint64_t start_us);
/*  A timer fired. TIMER_RATE with argument 1: not a timer, a reload.      */
void dispatch_timer (broker_t *self, uint32_t kind, uint64_t rid);
/*  Fails every request still held with shutting_down (end of shutdown).    */
void dispatch_fail_all (broker_t *self);
/*  A worker's upstream 429 for req: the model slows down (sched AIMD) and
    req waits in its queue again while its deadline allows: 0. -1 when it
    cannot wait (the caller forwards the worker's error).                  */
int dispatch_throttled (broker_t *self, request_t *req, uint32_t retry_after_ms);

#endif
