/*  sched_req.h -- what the scheduler keeps inside each request.

    Embedded in request_t (requests.h) so queueing a request never
    allocates: the scheduler links these nodes into its lists. A zeroed
    sched_req_t is "not scheduled" (qnode_linked is false on NULL links);
    requests_alloc zeroes it.
*/
#ifndef LLMQ_BROKER_SCHED_REQ_H_INCLUDED
#define LLMQ_BROKER_SCHED_REQ_H_INCLUDED

#include "queue.h"

#include <stdbool.h>
#include <stdint.h>

struct sched_tenant;
struct sched_lane;
struct sched_limits;

typedef struct {
    struct sched_tenant *tenant;    /* who asked; NULL until admitted      */
    struct sched_lane *lane;        /* the lane it waits in, when queued   */
    qnode_t lane_link;              /* in its lane's FIFO                  */
    qnode_t age_link;               /* in its level's arrival-order list   */
    uint64_t level_us;              /* when it entered its current level   */
    uint32_t bytes;                 /* queued bytes it counts for          */
    uint32_t est_tokens;            /* tokens charged at dispatch (TPM)    */
    uint8_t priority;               /* level asked for (llmq_priority_t)   */
    uint8_t level;                  /* level now (aging moves it up)       */
    bool rate_taken;                /* tenant rate tokens paid             */
    bool in_flight;                 /* counted in flight (tenant, model)   */
    struct sched_limits *limits;    /* model limits it counts against      */
} sched_req_t;

#endif
