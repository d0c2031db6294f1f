/*  scheduler.h -- the request scheduler: priority levels with aging, weighted
    fair turns between tenants, queue bounds with shedding, and the rate
    control (tenant and model quotas, AIMD on backend 429s) that decides
    when a queued request may go.

    Shape. Each model (models.h) has, per priority level, a ring of
    *lanes*: a lane is one tenant's FIFO of requests for that model at
    that level. Picking for a model walks the levels from critical down
    and takes the lane at the front of the first non-empty ring (strict
    priority); lanes take turns by deficit round robin, where a visit
    gives a lane `weight` requests, so tenants with weights 3 and 1 are
    served 3:1 and a tenant with 10,000 queued waits one turn like any
    other. Within a lane: FIFO, or earliest deadline first for tenants
    with `edf` (insertion walks from the back: O(1) when a tenant's
    requests share a timeout, O(lane) at worst). A lane whose tenant is
    over a rate (or its in-flight cap) is *parked* on its tenant until the
    tenant may go again, so blocked tenants cost nothing on later picks. A model over its own limits (in
    flight, RPM/TPM, AIMD pause after a 429) yields no request at all.

    Aging: each level keeps its requests in arrival order too; a request
    that has waited `aging_ms[level]` at its level moves up one, checked at
    the front of each list only.

    Bounds: a global count (broker --max-queue), global bytes, and per
    tenant count and bytes. When the global bound is hit, the newest
    queued `batch` request, then `low`, is shed to make room for a more
    urgent one (it gets ERROR overloaded); otherwise the newcomer is
    refused with overloaded and a retry_after_ms estimated from the queue
    length and the recent dispatch rate.

    Wake-ups: when something is blocked on time (a bucket refilling, a
    pause), sched_wake_us tells the broker when to call sched_unpark and
    dispatch again; one timer covers all of them.

    Complexity: enqueue, remove, pick and take O(1) (plus the aging and
    unparking they trigger, each O(1) per request or lane moved: amortised
    O(1)); finding a tenant and a lane O(1) expected (hash tables); unpark
    O(parked tenants). Memory: a sched_req_t inside each request (no
    allocation per request); a lane set per active (tenant, model) pair,
    pooled; a tenant record per tenant seen.
*/
#ifndef LLMQ_BROKER_SCHED_H_INCLUDED
#define LLMQ_BROKER_SCHED_H_INCLUDED

#include "llmq_proto.h"
#include "models.h"
#include "ratelimit.h"
#include "requests.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_LEVELS LLMQ_PRIO__COUNT
#define SCHED_DEFAULT_TENANT "default"

typedef enum {
    SCHED_MODE_QUEUE = 0,           /* over a rate: wait in the queue      */
    SCHED_MODE_REJECT               /* over a rate: rate_limited at once   */
} sched_mode_t;

/*  Limits: 0 means "none".                                                */
typedef struct {
    char *name;                     /* tenant name (NULL for the default)  */
    uint32_t weight;                /* DRR share, >= 1                     */
    sched_mode_t mode;              /* what happens over a rate            */
    bool edf;                       /* its requests by earliest deadline,
                                       not arrival                         */
    double rps;                     /* requests per second                 */
    double rpm;                     /* requests per minute                 */
    double burst;                   /* requests at once over rps/rpm       */
    double tpm;                     /* tokens per minute (estimate+settle) */
    uint32_t max_in_flight;         /* requests out at once                */
    size_t max_queued;              /* requests queued                     */
    size_t max_queued_bytes;        /* bytes of requests queued            */
    char **models;                  /* models allowed (reserved: security) */
    size_t n_models;
} sched_tenant_conf_t;

typedef struct {
    char *name;                     /* model name                          */
    uint32_t max_in_flight;         /* requests out at once                */
    double rpm;                     /* requests per minute                 */
    double tpm;                     /* tokens per minute                   */
    char **fallbacks;               /* reserved: reliability issue         */
    size_t n_fallbacks;
} sched_model_conf_t;

typedef struct sched_config {
    uint32_t aging_ms[SCHED_LEVELS];/* wait at a level before moving up; 0 = never */
    uint32_t default_max_tokens;    /* TPM estimate when max_tokens absent */
    sched_tenant_conf_t defaults;   /* tenants not listed                  */
    sched_tenant_conf_t *tenants;   /* listed tenants                      */
    size_t n_tenants;
    sched_model_conf_t *models;     /* models with limits                  */
    size_t n_models;
} sched_config_t;

/*  Documented defaults: aging 5 s for high/normal/low (critical cannot
    rise, batch does not age), weight 1, queue mode, no limits.            */
void sched_config_defaults (sched_config_t *config);
/*  Frees what a parsed config owns (names, lists); not the struct.        */
void sched_config_free (sched_config_t *config);

typedef struct sched sched_t;

/*  max_queue, max_queue_bytes: the global bounds (broker --max-queue,
    --max-queue-bytes; 0 bytes = no byte bound). config NULL = defaults;
    it is copied.                                                          */
sched_t *sched_new (const sched_config_t *config, size_t max_queue,
                    size_t max_queue_bytes, uint64_t now_us);
void sched_destroy (sched_t **self_p);
/*  Applies a new config (SIGHUP): tenants keep their queues, in-flight
    counts and bucket levels; limits and weights change. 0 or -1 (out of
    memory: the old config stays).                                         */
int sched_configure (sched_t *self, const sched_config_t *config, uint64_t now_us);

/*  Verdict on admission.                                                  */
typedef struct {
    llmq_errcode_t code;            /* LLMQ_ERR_NONE when admitted         */
    uint32_t retry_after_ms;        /* for rate_limited / overloaded       */
    const char *message;            /* static text                         */
} sched_verdict_t;

/*  Fills req->sched from msg (tenant, priority, size, token estimate).
    A tenant in reject mode over its rate gets rate_limited (and its
    tokens are taken when it is not). Returns 0 admitted, -1 refused
    (*verdict says why); the caller answers and frees req.                 */
int sched_admit (sched_t *self, request_t *req, const llmq_wire_request_t *msg,
                 uint64_t now_us, sched_verdict_t *verdict);
/*  Room for req in the bounds? 0 yes; -1 no, *verdict overloaded. When
    the global bound is hit, *victim is the queued request to shed to make
    room (call again after ending it), or NULL when none may be shed.      */
int sched_room (sched_t *self, const request_t *req, request_t **victim,
                sched_verdict_t *verdict);
/*  Queues req (state set by the caller). front: it had been dispatched
    already and goes back first in line.                                   */
void sched_enqueue (sched_t *self, request_t *req, bool front, uint64_t now_us);
/*  Takes req out of its queue: cancelled, timed out, shed.                */
void sched_remove (sched_t *self, request_t *req);
/*  The request model should dispatch next, NULL when none may go now
    (empty, or everything blocked by rates: see sched_wake_us). Does not
    remove it: sched_take does, once a worker is there.                    */
request_t *sched_peek (sched_t *self, model_t *model, uint64_t now_us);
/*  Removes the request sched_peek gave and charges its lane's turn.       */
void sched_take (sched_t *self, request_t *req);
/*  req went out to a worker: takes its rate tokens, counts it in flight.  */
void sched_charge (sched_t *self, request_t *req, uint64_t now_us);
/*  req is no longer in flight (answered, failed, requeued).               */
void sched_release (sched_t *self, request_t *req, uint64_t now_us);
/*  A FINAL: settles the token estimate against the real usage and counts
    a success for the model's AIMD. AIMD_RECOVERED when that ended the
    model's throttling (for a log line), else AIMD_SAME.                   */
aimd_change_t sched_settle (sched_t *self, request_t *req, const llmq_usage_t *usage,
                            uint64_t now_us);
/*  A worker reported an upstream 429 for req's model: how the model's
    AIMD changed (ratelimit.h), for a log line on a state change.          */
aimd_change_t sched_throttled (sched_t *self, request_t *req, uint32_t retry_after_ms,
                               uint64_t now_us);
/*  The in-flight limit AIMD puts on req's model now; 0 = none.           */
uint32_t sched_aimd_cap (const sched_t *self, const request_t *req);

/*  When something blocked on time may go; 0 = nothing waits on time.     */
uint64_t sched_wake_us (const sched_t *self);
/*  Puts back the lanes of tenants that may go again. Call at the wake
    time, then dispatch the models with queued requests.                   */
void sched_unpark (sched_t *self, uint64_t now_us);

/*  The tenant name of an admitted request (logs, monitoring).             */
const char *sched_tenant_name (const request_t *req);
/*  Counts a request shed by the caller (sched_room's victim).             */
void sched_count_shed (sched_t *self);
/*  Counters for stats and tests.                                          */
size_t sched_queued (const sched_t *self);
size_t sched_queued_bytes (const sched_t *self);
size_t sched_tenants (const sched_t *self);
uint64_t sched_shed (const sched_t *self);
uint64_t sched_aged (const sched_t *self);

/*  Per-tenant and per-model figures for the stats snapshot.               */
typedef struct {
    const char *name;
    uint32_t weight;
    size_t queued;
    uint32_t in_flight;
    uint64_t dispatched;
    uint64_t rate_limited;          /* rejected (reject mode)              */
    uint64_t deferred;              /* times parked by a rate (queue mode) */
} sched_tenant_info_t;
typedef struct {
    const char *name;
    uint32_t in_flight;
    uint32_t aimd_cap;              /* current AIMD in-flight cap, 0 = none */
    uint64_t throttled;             /* upstream 429s reported              */
    uint64_t decreases;             /* AIMD decreases                      */
    bool paused;                    /* in a Retry-After pause now          */
} sched_model_info_t;
/*  Iteration over tenants / model limit records; false at the end. The
    scheduler must not change meanwhile.                                   */
bool sched_tenant_info (sched_t *self, bool first, sched_tenant_info_t *info);
bool sched_model_info (sched_t *self, bool first, uint64_t now_us, sched_model_info_t *info);

/*  Writes the "scheduler" key and its map into a stats snapshot:
    queued, queued_bytes, shed, aged, tenant_count, tenants (the first
    100: weight, queued, in_flight, dispatched, rate_limited, deferred),
    models (in_flight, aimd_cap, throttled, decreases, paused).            */
void sched_stats_write (sched_t *self, llmq_writer_t *w, uint64_t now_us);

#endif
