/*  ratelimit.h -- token buckets and an AIMD limit, the arithmetic of rate
    control. Pure functions of the time passed in: no clock, no I/O, so the
    scheduler (scheduler.c) and the tests drive them with any time they like.

    Token bucket: `rate` tokens per second flow in up to `burst`. A request
    of cost c is ready when the bucket holds min(c, burst) tokens (a cost
    above the burst would never fit otherwise), and taking c may leave the
    bucket in debt (negative), which later requests wait out. Settling
    gives back (or takes) the difference between the estimate charged and
    the real cost, so a TPM limit follows real usage.

    AIMD: a backend that answers 429 halves the number of requests llmq
    keeps in flight to it (multiplicative decrease, at most once per pause)
    and pauses new dispatches for the Retry-After; each success adds
    1/limit (additive increase: +1 per limit's worth of successes). Once
    the limit has grown back past where it started, the model is no longer
    throttled.

    Complexity: every function O(1). Memory: the structs, nothing else.
*/
#ifndef LLMQ_BROKER_RATELIMIT_H_INCLUDED
#define LLMQ_BROKER_RATELIMIT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    double rate;                    /* tokens per second; 0 = unlimited    */
    double burst;                   /* most tokens held                    */
    double tokens;                  /* held now (negative = debt)          */
    uint64_t last_us;               /* time of the last refill             */
} bucket_t;

/*  A full bucket. rate 0 makes it unlimited (always ready). burst <= 0
    means max(1, rate).                                                    */
void bucket_init (bucket_t *self, double rate, double burst, uint64_t now_us);
/*  Changes rate and burst keeping the tokens held (capped): a config
    reload must not hand every tenant a fresh burst.                       */
void bucket_reconfigure (bucket_t *self, double rate, double burst, uint64_t now_us);
bool bucket_unlimited (const bucket_t *self);
/*  True when cost can be taken now.                                       */
bool bucket_ready (bucket_t *self, double cost, uint64_t now_us);
/*  Takes cost (may go into debt).                                         */
void bucket_take (bucket_t *self, double cost, uint64_t now_us);
/*  Microseconds until cost is ready; 0 when ready now.                    */
uint64_t bucket_wait_us (bucket_t *self, double cost, uint64_t now_us);
/*  Gives back estimate - actual (negative takes more), capped at burst.   */
void bucket_settle (bucket_t *self, double estimate, double actual, uint64_t now_us);

typedef struct {
    double limit;                   /* in-flight cap; 0 = not throttled    */
    double release;                 /* limit at which throttling ends      */
    uint64_t pause_until_us;        /* no dispatch before this             */
    uint64_t decreases;             /* 429 episodes (stats)                */
    uint64_t throttled;             /* 429 answers seen (stats)            */
} aimd_t;

void aimd_init (aimd_t *self);
/*  What a call changed, so that the caller can log state changes once
    (an episode begins, the limit drops again, the limit is back).         */
typedef enum {
    AIMD_SAME = 0,                  /* no change worth a log line          */
    AIMD_LOWERED,                   /* throttled already, limit halved     */
    AIMD_STARTED,                   /* was not throttled: now it is        */
    AIMD_RECOVERED                  /* back to full: no longer throttled   */
} aimd_change_t;

/*  A 429 with in_flight requests out; retry_after_ms 0 = none given.
    AIMD_STARTED, AIMD_LOWERED or AIMD_SAME (a 429 of the same burst).     */
aimd_change_t aimd_throttle (aimd_t *self, uint32_t in_flight, uint32_t retry_after_ms,
                             uint64_t now_us);
/*  A successful answer: AIMD_RECOVERED when it ended throttling, else
    AIMD_SAME (the additive steps are not state changes).                  */
aimd_change_t aimd_success (aimd_t *self);
/*  True when one more request may go out with in_flight out now.          */
bool aimd_allows (const aimd_t *self, uint32_t in_flight, uint64_t now_us);
/*  Current cap (0 = none) for stats.                                      */
uint32_t aimd_cap (const aimd_t *self);

#endif
