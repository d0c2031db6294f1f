/*  histogram.h -- log-linear latency histogram (HdrHistogram style).

    Records non-negative integers (the broker records microseconds) into
    a fixed array of buckets: values below 64 get a bucket each; above,
    every power-of-two range [2^e, 2^(e+1)) is cut into 32 equal buckets.
    So a bucket is never wider than 1/32 of its lowest value, and a
    percentile, reported as the middle of its bucket, is within 1/64
    (HISTOGRAM_REL_ERROR, about 1.6%) of the exact percentile of the same
    samples, or +-0.5 below 64. Values past HISTOGRAM_MAX (about 71
    minutes in microseconds) are clamped into the last bucket.

    Why this shape: recording is a bit scan, a shift and an increment,
    with no allocation and no locks, cheap enough for every request on
    the broker's hot path; memory is fixed (HISTOGRAM_BUCKETS counters,
    about 7.5 KiB) whatever the traffic; two histograms merge by adding
    counters, so a recent window is kept as two halves (current and
    previous) merged when read.

    Complexity: record O(1); percentile, merge and count_le O(buckets).

        histogram_t *h = histogram_new ();
        histogram_record (h, elapsed_us);
        uint64_t p99 = histogram_percentile (h, 99.0);
        histogram_destroy (&h);
*/
#ifndef LLMQ_BROKER_HISTOGRAM_H_INCLUDED
#define LLMQ_BROKER_HISTOGRAM_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#define HISTOGRAM_SUB_BITS  5                       /* 32 buckets per octave */
#define HISTOGRAM_LINEAR    (2u << HISTOGRAM_SUB_BITS)  /* 64 exact buckets  */
#define HISTOGRAM_TOP_BIT   32                      /* octaves up to 2^32    */
#define HISTOGRAM_MAX       ((UINT64_C (1) << HISTOGRAM_TOP_BIT) - 1)
#define HISTOGRAM_BUCKETS   (HISTOGRAM_LINEAR + \
    (HISTOGRAM_TOP_BIT - HISTOGRAM_SUB_BITS - 1) * (1u << HISTOGRAM_SUB_BITS))
#define HISTOGRAM_REL_ERROR (1.0 / (2u << HISTOGRAM_SUB_BITS))

typedef struct {
    uint64_t counts[HISTOGRAM_BUCKETS]; /* samples per bucket              */
    uint64_t total;                 /* samples recorded                    */
    uint64_t sum;                   /* sum of the values (clamped)         */
    uint64_t max;                   /* largest value (clamped)             */
} histogram_t;

/*  A zeroed histogram; NULL when out of memory. A histogram_t may also be
    embedded in a struct and zeroed with histogram_reset.                 */
histogram_t *histogram_new (void);
void histogram_destroy (histogram_t **self_p);
void histogram_reset (histogram_t *self);

/*  Counts one sample.                                                     */
void histogram_record (histogram_t *self, uint64_t value);
/*  Adds every sample of other to self.                                    */
void histogram_merge (histogram_t *self, const histogram_t *other);
/*  Takes away the samples of other, an earlier state of self (a window is
    "now minus then"). max is left as it is: the caller knows better.      */
void histogram_subtract (histogram_t *self, const histogram_t *other);

/*  The value below which percent (0..100) of the samples lie: the middle
    of the bucket holding that rank (the max for the last sample); 0 when
    empty.                                                                 */
uint64_t histogram_percentile (const histogram_t *self, double percent);
/*  Samples whose bucket starts at or below value: the samples <= value,
    give or take those sharing value's bucket (Prometheus "le" buckets).  */
uint64_t histogram_count_le (const histogram_t *self, uint64_t value);

/*  Bucket geometry (tests): the bucket of a value, and the lowest and
    highest value a bucket holds.                                         */
uint32_t histogram_bucket (uint64_t value);
uint64_t histogram_bucket_low (uint32_t bucket);
uint64_t histogram_bucket_high (uint32_t bucket);

#endif
