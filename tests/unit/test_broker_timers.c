/*  test_broker_timers.c -- the deadline heap (broker/timers.h).  */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "timers.h"

Test (timers, pops_in_time_order_only_when_due)
{
    timers_t *t = timers_new ();
    cr_assert_not_null (t);
    uint64_t when;
    cr_assert_not (timers_next (t, &when));
    uint64_t times[] = { 50, 10, 40, 20, 30 };
    for (int i = 0; i < 5; i++)
        cr_assert_neq (timers_add (t, times[i], 1, times[i] * 100), TIMER_NONE);
    cr_assert (timers_next (t, &when));
    cr_assert_eq (when, 10);
    uint32_t kind;
    uint64_t arg;
    cr_assert_not (timers_pop_due (t, 9, &kind, &arg));
    cr_assert (timers_pop_due (t, 25, &kind, &arg));
    cr_assert_eq (arg, 1000);
    cr_assert_eq (kind, 1);
    cr_assert (timers_pop_due (t, 25, &kind, &arg));
    cr_assert_eq (arg, 2000);
    cr_assert_not (timers_pop_due (t, 25, &kind, &arg));
    cr_assert_eq (timers_size (t), 3);
    timers_destroy (&t);
    cr_assert_null (t);
}

Test (timers, cancel_removes_at_once)
{
    timers_t *t = timers_new ();
    uint32_t a = timers_add (t, 10, 1, 1);
    uint32_t b = timers_add (t, 20, 2, 2);
    uint32_t c = timers_add (t, 30, 3, 3);
    timers_cancel (t, a);
    timers_cancel (t, c);
    timers_cancel (t, TIMER_NONE);          /* ignored */
    cr_assert_eq (timers_size (t), 1);
    uint32_t kind;
    uint64_t arg;
    cr_assert (timers_pop_due (t, 100, &kind, &arg));
    cr_assert_eq (kind, 2);
    cr_assert_eq (arg, 2);
    cr_assert_not (timers_pop_due (t, 100, &kind, &arg));
    (void) b;
    timers_destroy (&t);
}

/*  Random adds and cancels against a brute-force model: the heap must
    always give the earliest live timer, across growth and handle reuse.   */
Test (timers, random_against_model)
{
    enum { N = 3000 };
    timers_t *t = timers_new ();
    static uint64_t when[N];
    static uint32_t handle[N];
    static bool live[N];
    srand (42);
    for (int i = 0; i < N; i++) {
        when[i] = (uint64_t) (rand () % 100000);
        handle[i] = timers_add (t, when[i], 0, (uint64_t) i);
        live[i] = true;
        if (i % 3 == 0) {
            int victim = rand () % (i + 1);
            if (live[victim]) {
                timers_cancel (t, handle[victim]);
                live[victim] = false;
            }
        }
    }
    uint64_t last = 0;
    uint32_t kind;
    uint64_t arg;
    size_t popped = 0;
    while (timers_pop_due (t, UINT64_MAX, &kind, &arg)) {
        cr_assert (live[arg], "timer %llu was cancelled", (unsigned long long) arg);
        cr_assert_geq (when[arg], last);
        last = when[arg];
        live[arg] = false;
        popped++;
    }
    for (int i = 0; i < N; i++)
        cr_assert_not (live[i], "timer %d never fired", i);
    cr_assert_gt (popped, N / 2);
    timers_destroy (&t);
}
