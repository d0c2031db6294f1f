/*  test_ratelimit.c -- token buckets and AIMD (broker/ratelimit.h):
    refill, burst, debt, settle with real usage, reconfiguration, and the
    multiplicative decrease / additive increase of a model's limit.  */
#include <criterion/criterion.h>

#include "ratelimit.h"

#define SEC 1000000ull

Test (bucket, unlimited_always_ready)
{
    bucket_t b;
    bucket_init (&b, 0, 0, 0);
    cr_assert (bucket_unlimited (&b));
    for (int i = 0; i < 1000; i++) {
        cr_assert (bucket_ready (&b, 1e9, 0));
        bucket_take (&b, 1e9, 0);
    }
    cr_assert_eq (bucket_wait_us (&b, 5, 0), 0);
}

Test (bucket, burst_then_refill)
{
    bucket_t b;
    bucket_init (&b, 2, 5, 10 * SEC);          /* 2/s, burst 5           */
    for (int i = 0; i < 5; i++) {
        cr_assert (bucket_ready (&b, 1, 10 * SEC), "burst %d", i);
        bucket_take (&b, 1, 10 * SEC);
    }
    cr_assert_not (bucket_ready (&b, 1, 10 * SEC));
    cr_assert_eq (bucket_wait_us (&b, 1, 10 * SEC), SEC / 2);
    cr_assert (bucket_ready (&b, 1, 10 * SEC + SEC / 2));
    /*  Refill stops at the burst.                                         */
    cr_assert (bucket_ready (&b, 5, 100 * SEC));
    bucket_take (&b, 5, 100 * SEC);
    cr_assert_not (bucket_ready (&b, 1, 100 * SEC));
}

Test (bucket, default_burst)
{
    bucket_t b;
    bucket_init (&b, 0.5, 0, 0);
    cr_assert_float_eq (b.burst, 1, 1e-9);
    bucket_init (&b, 10, 0, 0);
    cr_assert_float_eq (b.burst, 10, 1e-9);
}

Test (bucket, cost_over_burst_waits_for_full_then_debt)
{
    bucket_t b;
    bucket_init (&b, 100, 1000, 0);             /* TPM-like: 100/s, 1000  */
    cr_assert (bucket_ready (&b, 5000, 0), "a big request goes when the bucket is full");
    bucket_take (&b, 5000, 0);
    cr_assert_float_eq (b.tokens, -4000, 1e-6);
    /*  The debt is paid before anything else goes: 40 s + 0.01 s.         */
    cr_assert_eq (bucket_wait_us (&b, 1, 0), 40 * SEC + 10000);
}

Test (bucket, settle_returns_or_takes_the_difference)
{
    bucket_t b;
    bucket_init (&b, 1, 1000, 0);
    bucket_take (&b, 600, 0);                   /* estimate               */
    bucket_settle (&b, 600, 100, 0);            /* real usage 100         */
    cr_assert_float_eq (b.tokens, 900, 1e-6);
    bucket_take (&b, 100, 0);
    bucket_settle (&b, 100, 700, 0);            /* real usage was more    */
    cr_assert_float_eq (b.tokens, 200, 1e-6);
    bucket_settle (&b, 5000, 0, 0);             /* capped at the burst    */
    cr_assert_float_eq (b.tokens, 1000, 1e-6);
}

Test (bucket, reconfigure_keeps_level)
{
    bucket_t b;
    bucket_init (&b, 10, 10, 0);
    bucket_take (&b, 8, 0);
    bucket_reconfigure (&b, 20, 20, 0);
    cr_assert_float_eq (b.tokens, 2, 1e-6, "no fresh burst on reload");
    bucket_reconfigure (&b, 20, 1, 0);
    cr_assert_float_eq (b.tokens, 1, 1e-6, "capped at the new burst");
}

Test (aimd, decrease_pause_increase)
{
    aimd_t a;
    aimd_init (&a);
    cr_assert (aimd_allows (&a, 1000, 0));
    aimd_throttle (&a, 8, 2000, 1 * SEC);
    cr_assert_eq (aimd_cap (&a), 4);
    cr_assert_not (aimd_allows (&a, 0, 1 * SEC + 1), "paused for Retry-After");
    /*  More 429s of the same burst do not halve again.                    */
    aimd_throttle (&a, 8, 2000, 1 * SEC + 10);
    cr_assert_eq (aimd_cap (&a), 4);
    cr_assert_eq (a.decreases, 1);
    cr_assert_eq (a.throttled, 2);
    cr_assert (aimd_allows (&a, 3, 3 * SEC + 1));
    cr_assert_not (aimd_allows (&a, 4, 3 * SEC + 1));
    /*  A 429 after the pause: halve again.                                */
    aimd_throttle (&a, 4, 0, 4 * SEC);
    cr_assert_eq (aimd_cap (&a), 2);
    cr_assert (a.pause_until_us == 5 * SEC, "default pause 1 s");
    /*  Additive increase: +1 per limit's worth of successes, until back
        where it started (8): then not throttled any more.                 */
    int successes = 0;
    while (aimd_cap (&a) != 0 && successes < 100) {
        aimd_success (&a);
        successes++;
    }
    cr_assert (successes > 6 && successes < 40, "%d successes", successes);
    cr_assert (aimd_allows (&a, 1000, 6 * SEC));
}

Test (aimd, reports_state_changes_once)
{
    aimd_t a;
    aimd_init (&a);
    cr_assert_eq (aimd_success (&a), AIMD_SAME, "not throttled: nothing to log");
    cr_assert_eq (aimd_throttle (&a, 8, 1000, 1 * SEC), AIMD_STARTED);
    cr_assert_eq (aimd_throttle (&a, 8, 1000, 1 * SEC + 5), AIMD_SAME, "same burst");
    cr_assert_eq (aimd_throttle (&a, 4, 1000, 3 * SEC), AIMD_LOWERED);
    int recovered = 0, steps = 0;
    for (int i = 0; i < 100; i++) {
        aimd_change_t change = aimd_success (&a);
        recovered += change == AIMD_RECOVERED;
        steps += change == AIMD_SAME;
    }
    cr_assert_eq (recovered, 1, "recovery reported once, not per step");
    cr_assert_eq (aimd_cap (&a), 0);
    cr_assert_eq (aimd_throttle (&a, 8, 1000, 10 * SEC), AIMD_STARTED, "a new episode");
}

Test (aimd, never_below_one)
{
    aimd_t a;
    aimd_init (&a);
    for (int i = 0; i < 10; i++)
        aimd_throttle (&a, 1, 10, (uint64_t) i * SEC);
    cr_assert_eq (aimd_cap (&a), 1);
    cr_assert (aimd_allows (&a, 0, 100 * SEC));
}
