/*  histogram.c -- log-linear histogram; see histogram.h.  */
#include "histogram.h"

#include <stdlib.h>
#include <string.h>

histogram_t *
histogram_new (void)
{
    return calloc (1, sizeof (histogram_t));
}

void
histogram_destroy (histogram_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

void
histogram_reset (histogram_t *self)
{
    memset (self, 0, sizeof *self);
}

/*  Inlined into histogram_record: it runs five times per request.          */
static inline uint32_t
s_bucket (uint64_t value)
{
    if (value < HISTOGRAM_LINEAR)
        return (uint32_t) value;
    /*  e >= SUB_BITS + 1: the top bit, then the SUB_BITS bits below it
        pick one of the octave's 32 buckets.                               */
    uint32_t e = 63u - (uint32_t) __builtin_clzll (value);
    uint32_t shift = e - HISTOGRAM_SUB_BITS;
    uint32_t sub = (uint32_t) (value >> shift) - (1u << HISTOGRAM_SUB_BITS);
    return HISTOGRAM_LINEAR + (e - HISTOGRAM_SUB_BITS - 1) * (1u << HISTOGRAM_SUB_BITS) + sub;
}

uint32_t
histogram_bucket (uint64_t value)
{
    return s_bucket (value > HISTOGRAM_MAX ? HISTOGRAM_MAX : value);
}

uint64_t
histogram_bucket_low (uint32_t bucket)
{
    if (bucket < HISTOGRAM_LINEAR)
        return bucket;
    uint32_t above = bucket - HISTOGRAM_LINEAR;
    uint32_t e = above / (1u << HISTOGRAM_SUB_BITS) + HISTOGRAM_SUB_BITS + 1;
    uint64_t sub = above % (1u << HISTOGRAM_SUB_BITS);
    return ((UINT64_C (1) << HISTOGRAM_SUB_BITS) + sub) << (e - HISTOGRAM_SUB_BITS);
}

uint64_t
histogram_bucket_high (uint32_t bucket)
{
    if (bucket + 1 >= HISTOGRAM_BUCKETS)
        return HISTOGRAM_MAX;
    return histogram_bucket_low (bucket + 1) - 1;
}

void
histogram_record (histogram_t *self, uint64_t value)
{
    if (value > HISTOGRAM_MAX)
        value = HISTOGRAM_MAX;
    self->counts[s_bucket (value)]++;
    self->total++;
    self->sum += value;
    if (value > self->max)
        self->max = value;
}

void
histogram_merge (histogram_t *self, const histogram_t *other)
{
    for (uint32_t i = 0; i < HISTOGRAM_BUCKETS; i++)
        self->counts[i] += other->counts[i];
    self->total += other->total;
    self->sum += other->sum;
    if (other->max > self->max)
        self->max = other->max;
}

void
histogram_subtract (histogram_t *self, const histogram_t *other)
{
    for (uint32_t i = 0; i < HISTOGRAM_BUCKETS; i++)
        self->counts[i] -= self->counts[i] >= other->counts[i] ? other->counts[i] : self->counts[i];
    self->total -= self->total >= other->total ? other->total : self->total;
    self->sum -= self->sum >= other->sum ? other->sum : self->sum;
}

uint64_t
histogram_percentile (const histogram_t *self, double percent)
{
    if (self->total == 0)
        return 0;
    if (percent < 0)
        percent = 0;
    if (percent > 100)
        percent = 100;
    /*  The rank of the sample wanted, 1-based: ceil (p/100 * n), the
        nearest-rank method.                                               */
    double exact = percent / 100.0 * (double) self->total;
    uint64_t rank = (uint64_t) exact;
    if ((double) rank < exact)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank >= self->total)
        return self->max;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < HISTOGRAM_BUCKETS; i++) {
        seen += self->counts[i];
        if (seen >= rank) {
            uint64_t low = histogram_bucket_low (i);
            uint64_t mid = low + (histogram_bucket_high (i) - low) / 2;
            /*  Never report past the largest sample seen.                  */
            return mid < self->max ? mid : self->max;
        }
    }
    return self->max;
}

uint64_t
histogram_count_le (const histogram_t *self, uint64_t value)
{
    uint32_t last = histogram_bucket (value);
    uint64_t count = 0;
    for (uint32_t i = 0; i <= last; i++)
        count += self->counts[i];
    return count;
}
