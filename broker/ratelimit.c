/*  ratelimit.c -- token buckets and AIMD; see ratelimit.h.  */
#include "ratelimit.h"

#include <math.h>

/*  A 429 without Retry-After pauses this long: long enough for a
    per-second quota to refill, short enough not to idle a backend.       */
#define AIMD_DEFAULT_PAUSE_MS 1000
#define AIMD_MAX_PAUSE_MS     60000

static double
s_burst (double rate, double burst)
{
    if (burst > 0)
        return burst;
    return rate > 1 ? rate : 1;
}

void
bucket_init (bucket_t *self, double rate, double burst, uint64_t now_us)
{
    self->rate = rate > 0 ? rate : 0;
    self->burst = s_burst (self->rate, burst);
    self->tokens = self->burst;
    self->last_us = now_us;
}

void
bucket_reconfigure (bucket_t *self, double rate, double burst, uint64_t now_us)
{
    bool was_unlimited = bucket_unlimited (self);
    if (!was_unlimited)
        bucket_ready (self, 0, now_us);         /* refill at the old rate */
    self->rate = rate > 0 ? rate : 0;
    self->burst = s_burst (self->rate, burst);
    if (was_unlimited || self->tokens > self->burst)
        self->tokens = self->burst;
    self->last_us = now_us;
}

bool
bucket_unlimited (const bucket_t *self)
{
    return self->rate <= 0;
}

static void
s_refill (bucket_t *self, uint64_t now_us)
{
    if (now_us > self->last_us) {
        self->tokens += self->rate * (double) (now_us - self->last_us) / 1e6;
        if (self->tokens > self->burst)
            self->tokens = self->burst;
    }
    self->last_us = now_us > self->last_us ? now_us : self->last_us;
}

static double
s_need (const bucket_t *self, double cost)
{
    return cost < self->burst ? cost : self->burst;
}

bool
bucket_ready (bucket_t *self, double cost, uint64_t now_us)
{
    if (bucket_unlimited (self))
        return true;
    s_refill (self, now_us);
    /*  A hair of slack: refills are computed in floating point.           */
    return self->tokens + 1e-9 >= s_need (self, cost);
}

void
bucket_take (bucket_t *self, double cost, uint64_t now_us)
{
    if (bucket_unlimited (self))
        return;
    s_refill (self, now_us);
    self->tokens -= cost;
}

uint64_t
bucket_wait_us (bucket_t *self, double cost, uint64_t now_us)
{
    if (bucket_ready (self, cost, now_us))
        return 0;
    double missing = s_need (self, cost) - self->tokens;
    return (uint64_t) ceil (missing / self->rate * 1e6);
}

void
bucket_settle (bucket_t *self, double estimate, double actual, uint64_t now_us)
{
    if (bucket_unlimited (self))
        return;
    s_refill (self, now_us);
    self->tokens += estimate - actual;
    if (self->tokens > self->burst)
        self->tokens = self->burst;
}

void
aimd_init (aimd_t *self)
{
    self->limit = 0;
    self->release = 0;
    self->pause_until_us = 0;
    self->decreases = 0;
    self->throttled = 0;
}

aimd_change_t
aimd_throttle (aimd_t *self, uint32_t in_flight, uint32_t retry_after_ms, uint64_t now_us)
{
    self->throttled++;
    /*  The 429s of one burst arrive together: the requests were all sent
        before the first one came back. Decrease once per pause.           */
    if (now_us < self->pause_until_us)
        return AIMD_SAME;
    aimd_change_t change = self->limit > 0 ? AIMD_LOWERED : AIMD_STARTED;
    double base = self->limit > 0 ? self->limit : (in_flight > 0 ? in_flight : 1);
    if (self->limit <= 0)
        self->release = base < 2 ? 2 : base;
    self->limit = base / 2 < 1 ? 1 : base / 2;
    uint32_t pause_ms = retry_after_ms ? retry_after_ms : AIMD_DEFAULT_PAUSE_MS;
    if (pause_ms > AIMD_MAX_PAUSE_MS)
        pause_ms = AIMD_MAX_PAUSE_MS;
    self->pause_until_us = now_us + (uint64_t) pause_ms * 1000;
    self->decreases++;
    return change;
}

aimd_change_t
aimd_success (aimd_t *self)
{
    if (self->limit <= 0)
        return AIMD_SAME;
    self->limit += 1 / self->limit;
    if (self->limit < self->release)
        return AIMD_SAME;
    self->limit = 0;
    return AIMD_RECOVERED;
}

bool
aimd_allows (const aimd_t *self, uint32_t in_flight, uint64_t now_us)
{
    if (now_us < self->pause_until_us)
        return false;
    return self->limit <= 0 || (double) in_flight < floor (self->limit);
}

uint32_t
aimd_cap (const aimd_t *self)
{
    return self->limit > 0 ? (uint32_t) floor (self->limit) : 0;
}
