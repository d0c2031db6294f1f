/*  health.c -- backend health figures for HEARTBEAT; see health.h.

    The window is a ring of the last LLMQ_HEALTH_WINDOW results with their
    times. Reading it walks at most that many entries, once per heartbeat,
    which is cheaper than keeping running counts right while entries age
    out by time.
*/
#include "health.h"

#include <stdlib.h>

typedef struct {
    uint64_t at_us;             /* when the result was recorded            */
    uint8_t result;             /* llmq_health_result_t                    */
} entry_t;

struct llmq_health {
    entry_t ring [LLMQ_HEALTH_WINDOW];  /* last results, oldest overwritten */
    size_t next;                /* ring slot the next result goes to      */
    size_t count;               /* valid entries, <= LLMQ_HEALTH_WINDOW   */
    double ttft_ewma;           /* us; 0 until the first answer           */
    double total_ewma;          /* us; 0 until the first answer           */
    bool have_ewma;             /* an answer has been seen                */
    uint32_t consecutive;       /* failures since the last sign of life   */
    uint64_t last_failure_us;   /* time of the latest failure             */
};

/*  A fifth: see health.h for why.                                         */
#define EWMA_ALPHA 0.2

llmq_health_t *
llmq_health_new (void)
{
    return calloc (1, sizeof (llmq_health_t));
}

void
llmq_health_destroy (llmq_health_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

static void
s_update_ewma (llmq_health_t *self, uint64_t ttft_us, uint64_t total_us)
{
    if (!self->have_ewma) {
        self->ttft_ewma = (double) ttft_us;
        self->total_ewma = (double) total_us;
        self->have_ewma = true;
        return;
    }
    self->ttft_ewma += EWMA_ALPHA * ((double) ttft_us - self->ttft_ewma);
    self->total_ewma += EWMA_ALPHA * ((double) total_us - self->total_ewma);
}

void
llmq_health_record (llmq_health_t *self, llmq_health_result_t result,
                    uint64_t ttft_us, uint64_t total_us, uint64_t now_us)
{
    self->ring [self->next] = (entry_t) { .at_us = now_us, .result = (uint8_t) result };
    self->next = (self->next + 1) % LLMQ_HEALTH_WINDOW;
    if (self->count < LLMQ_HEALTH_WINDOW)
        self->count++;

    if (result == LLMQ_HEALTH_OK)
        s_update_ewma (self, ttft_us, total_us);
    if (result == LLMQ_HEALTH_FAILED || result == LLMQ_HEALTH_THROTTLED) {
        self->consecutive++;
        self->last_failure_us = now_us;
    }
    else
        self->consecutive = 0;          /* the backend answered something */
}

uint64_t
llmq_health_ttft_ewma_us (const llmq_health_t *self)
{
    return (uint64_t) (self->ttft_ewma + 0.5);
}

uint64_t
llmq_health_total_ewma_us (const llmq_health_t *self)
{
    return (uint64_t) (self->total_ewma + 0.5);
}

/*  Counts results in the window: all of them, errors, and 429s.           */
static void
s_count (const llmq_health_t *self, uint64_t now_us,
         uint32_t *total, uint32_t *errors, uint32_t *throttled)
{
    *total = *errors = *throttled = 0;
    for (size_t i = 0; i < self->count; i++) {
        const entry_t *e = &self->ring [i];
        if (now_us > e->at_us && now_us - e->at_us > LLMQ_HEALTH_WINDOW_US)
            continue;
        (*total)++;
        if (e->result == LLMQ_HEALTH_FAILED || e->result == LLMQ_HEALTH_THROTTLED)
            (*errors)++;
        if (e->result == LLMQ_HEALTH_THROTTLED)
            (*throttled)++;
    }
}

double
llmq_health_error_rate (const llmq_health_t *self, uint64_t now_us)
{
    uint32_t total, errors, throttled;
    s_count (self, now_us, &total, &errors, &throttled);
    return total ? (double) errors / total : 0.0;
}

uint32_t
llmq_health_upstream_429 (const llmq_health_t *self, uint64_t now_us)
{
    uint32_t total, errors, throttled;
    s_count (self, now_us, &total, &errors, &throttled);
    return throttled;
}

uint32_t
llmq_health_state (const llmq_health_t *self, uint64_t now_us)
{
    if (self->consecutive < LLMQ_HEALTH_DEGRADED_AFTER)
        return LLMQ_BACKEND_OK;
    if (now_us > self->last_failure_us
    &&  now_us - self->last_failure_us > LLMQ_HEALTH_RECOVERY_US)
        return LLMQ_BACKEND_OK;         /* old news: let a request probe it */
    return self->consecutive >= LLMQ_HEALTH_DOWN_AFTER
         ? LLMQ_BACKEND_DOWN : LLMQ_BACKEND_DEGRADED;
}

void
llmq_health_fill (const llmq_health_t *self, uint64_t now_us, llmq_heartbeat_t *hb)
{
    uint32_t total, errors, throttled;
    s_count (self, now_us, &total, &errors, &throttled);
    hb->ttft_ewma_us = llmq_health_ttft_ewma_us (self);
    hb->total_ewma_us = llmq_health_total_ewma_us (self);
    hb->error_rate = total ? (double) errors / total : 0.0;
    hb->upstream_429 = throttled;
    hb->backend_state = llmq_health_state (self, now_us);
}
