/*  test_histogram.c -- broker/histogram.h: bucket geometry and the error
    bound it promises (percentiles within HISTOGRAM_REL_ERROR of the exact
    percentiles of the same samples).  */
#include "histogram.h"

#include <criterion/criterion.h>
#include <stdlib.h>

static int
s_cmp (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/*  Exact nearest-rank percentile of sorted samples.                       */
static uint64_t
s_exact (const uint64_t *sorted, size_t n, double percent)
{
    double exact = percent / 100.0 * (double) n;
    size_t rank = (size_t) exact;
    if ((double) rank < exact)
        rank++;
    if (rank < 1)
        rank = 1;
    return sorted [rank - 1];
}

/*  Simple xorshift so the samples are the same on every run.             */
static uint64_t
s_rand (uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

static void
s_check_within_error (uint64_t *samples, size_t n)
{
    histogram_t *h = histogram_new ();
    cr_assert_not_null (h);
    for (size_t i = 0; i < n; i++)
        histogram_record (h, samples [i]);
    qsort (samples, n, sizeof samples [0], s_cmp);
    static const double percents [] = { 1, 10, 50, 90, 99, 99.9, 100 };
    for (size_t i = 0; i < sizeof percents / sizeof percents [0]; i++) {
        uint64_t exact = s_exact (samples, n, percents [i]);
        uint64_t got = histogram_percentile (h, percents [i]);
        double allowed = (double) exact * HISTOGRAM_REL_ERROR + 0.5;
        double diff = got > exact ? (double) (got - exact) : (double) (exact - got);
        cr_expect (diff <= allowed, "p%g: histogram %llu, exact %llu, allowed +-%.1f",
                   percents [i], (unsigned long long) got, (unsigned long long) exact, allowed);
    }
    cr_assert_eq (h->total, n);
    cr_assert_eq (h->max, samples [n - 1]);
    histogram_destroy (&h);
    cr_assert_null (h);
}

Test (histogram, geometry_is_contiguous_and_bounded)
{
    /*  Every bucket starts right after the previous one ends and is at
        most 1/32 as wide as its lowest value.                             */
    cr_assert_eq (histogram_bucket_low (0), 0);
    for (uint32_t b = 1; b < HISTOGRAM_BUCKETS; b++) {
        cr_assert_eq (histogram_bucket_low (b), histogram_bucket_high (b - 1) + 1, "bucket %u", b);
        uint64_t width = histogram_bucket_high (b) - histogram_bucket_low (b) + 1;
        if (b >= HISTOGRAM_LINEAR)
            cr_assert_leq (width * 32, histogram_bucket_low (b), "bucket %u too wide", b);
        cr_assert_eq (histogram_bucket (histogram_bucket_low (b)), b);
        cr_assert_eq (histogram_bucket (histogram_bucket_high (b)), b);
    }
    cr_assert_eq (histogram_bucket (HISTOGRAM_MAX), HISTOGRAM_BUCKETS - 1);
    cr_assert_eq (histogram_bucket (UINT64_MAX), HISTOGRAM_BUCKETS - 1);
    cr_assert_eq (histogram_bucket_high (HISTOGRAM_BUCKETS - 1), HISTOGRAM_MAX);
}

Test (histogram, empty)
{
    histogram_t *h = histogram_new ();
    cr_assert_eq (histogram_percentile (h, 50), 0);
    cr_assert_eq (histogram_count_le (h, 1000), 0);
    histogram_destroy (&h);
    histogram_destroy (&h);         /* harmless */
}

Test (histogram, uniform_latencies_within_error)
{
    size_t n = 100000;
    uint64_t *samples = malloc (n * sizeof *samples);
    uint64_t state = 88172645463325252ull;
    for (size_t i = 0; i < n; i++)
        samples [i] = 1 + s_rand (&state) % 2000000;     /* 1 us .. 2 s */
    s_check_within_error (samples, n);
    free (samples);
}

Test (histogram, long_tail_within_error)
{
    /*  Mostly fast, a heavy tail: what request latencies look like.      */
    size_t n = 50000;
    uint64_t *samples = malloc (n * sizeof *samples);
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = s_rand (&state);
        samples [i] = (r % 100 < 95) ? 50 + r % 500 : 10000 + r % 30000000;
    }
    s_check_within_error (samples, n);
    free (samples);
}

Test (histogram, small_values_are_exact)
{
    histogram_t *h = histogram_new ();
    for (uint64_t v = 0; v < 50; v++)
        histogram_record (h, v);
    cr_assert_eq (histogram_percentile (h, 50), 24);
    cr_assert_eq (histogram_percentile (h, 100), 49);
    cr_assert_eq (histogram_count_le (h, 9), 10);
    cr_assert_eq (h->sum, 49 * 50 / 2);
    histogram_destroy (&h);
}

Test (histogram, merge_adds_and_count_le_is_monotonic)
{
    histogram_t *a = histogram_new (), *b = histogram_new ();
    for (uint64_t v = 1; v <= 1000; v++)
        histogram_record (v % 2 ? a : b, v * 1000);
    histogram_merge (a, b);
    cr_assert_eq (a->total, 1000);
    cr_assert_eq (a->max, 1000000);
    cr_assert_eq (histogram_count_le (a, HISTOGRAM_MAX), 1000);
    uint64_t last = 0;
    for (uint64_t le = 1000; le <= 1000000; le *= 10) {
        uint64_t count = histogram_count_le (a, le);
        cr_assert_geq (count, last);
        /*  Within one bucket's worth of the exact count (le/1000 values). */
        double exact = (double) le / 1000.0;
        cr_assert_leq ((double) count, exact + exact / 32 + 1, "le %llu: %llu", (unsigned long long) le, (unsigned long long) count);
        cr_assert_geq ((double) count, exact - 1);
        last = count;
    }
    histogram_reset (a);
    cr_assert_eq (a->total, 0);
    histogram_destroy (&a);
    histogram_destroy (&b);
}

Test (histogram, clamps_huge_values)
{
    histogram_t *h = histogram_new ();
    histogram_record (h, UINT64_MAX);
    cr_assert_eq (h->max, HISTOGRAM_MAX);
    cr_assert_eq (histogram_percentile (h, 50), HISTOGRAM_MAX);
    histogram_destroy (&h);
}

Test (histogram, subtract_gives_the_samples_since)
{
    histogram_t *then = histogram_new (), *now = histogram_new ();
    for (uint64_t v = 1; v <= 100; v++)
        histogram_record (now, v * 100);
    *then = *now;
    for (uint64_t v = 1; v <= 50; v++)
        histogram_record (now, 1000000 + v);
    histogram_subtract (now, then);
    cr_assert_eq (now->total, 50);
    cr_assert_eq (histogram_count_le (now, 900000), 0);
    cr_assert_eq (now->sum, 50 * 1000000 + 50 * 51 / 2);
    histogram_destroy (&then);
    histogram_destroy (&now);
}
