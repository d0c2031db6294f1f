/*  test_worker_health.c -- the worker's health figures (health.c) and its
    timer queue (timerq.c). Time is passed in, so no test sleeps.
*/
#include <criterion/criterion.h>
#include <stdlib.h>

#include "health.h"
#include "timerq.h"

#define SEC 1000000ull

Test (health, empty_is_healthy)
{
    llmq_health_t *h = llmq_health_new ();
    cr_assert_not_null (h);
    cr_assert_eq (llmq_health_ttft_ewma_us (h), 0);
    cr_assert_eq (llmq_health_total_ewma_us (h), 0);
    cr_assert_float_eq (llmq_health_error_rate (h, SEC), 0.0, 1e-9);
    cr_assert_eq (llmq_health_upstream_429 (h, SEC), 0);
    cr_assert_eq (llmq_health_state (h, SEC), LLMQ_BACKEND_OK);
    llmq_health_destroy (&h);
    cr_assert_null (h);
}

Test (health, ewma_starts_at_first_sample_then_moves_a_fifth)
{
    llmq_health_t *h = llmq_health_new ();
    llmq_health_record (h, LLMQ_HEALTH_OK, 1000, 5000, SEC);
    cr_assert_eq (llmq_health_ttft_ewma_us (h), 1000);
    cr_assert_eq (llmq_health_total_ewma_us (h), 5000);
    llmq_health_record (h, LLMQ_HEALTH_OK, 2000, 10000, SEC);
    cr_assert_eq (llmq_health_ttft_ewma_us (h), 1200);
    cr_assert_eq (llmq_health_total_ewma_us (h), 6000);
    /*  Failures do not feed latency averages.                             */
    llmq_health_record (h, LLMQ_HEALTH_FAILED, 999999, 999999, SEC);
    cr_assert_eq (llmq_health_ttft_ewma_us (h), 1200);
    /*  A lasting change shows: after 20 samples of 3000 it is near 3000.  */
    for (int i = 0; i < 20; i++)
        llmq_health_record (h, LLMQ_HEALTH_OK, 3000, 3000, SEC);
    cr_assert_geq (llmq_health_ttft_ewma_us (h), 2960);
    cr_assert_leq (llmq_health_ttft_ewma_us (h), 3000);
    llmq_health_destroy (&h);
}

Test (health, error_rate_over_window)
{
    llmq_health_t *h = llmq_health_new ();
    for (int i = 0; i < 3; i++)
        llmq_health_record (h, LLMQ_HEALTH_OK, 10, 10, SEC);
    llmq_health_record (h, LLMQ_HEALTH_FAILED, 0, 0, SEC);
    cr_assert_float_eq (llmq_health_error_rate (h, SEC), 0.25, 1e-9);
    /*  Rejected (4xx) counts as a result but not as an error.             */
    llmq_health_record (h, LLMQ_HEALTH_REJECTED, 0, 0, SEC);
    cr_assert_float_eq (llmq_health_error_rate (h, SEC), 0.2, 1e-9);
    /*  Throttled is an error and a 429.                                   */
    llmq_health_record (h, LLMQ_HEALTH_THROTTLED, 0, 0, SEC);
    llmq_health_record (h, LLMQ_HEALTH_THROTTLED, 0, 0, SEC);
    cr_assert_float_eq (llmq_health_error_rate (h, SEC), 3.0 / 7, 1e-9);
    cr_assert_eq (llmq_health_upstream_429 (h, SEC), 2);
    llmq_health_destroy (&h);
}

Test (health, window_keeps_last_results_only)
{
    llmq_health_t *h = llmq_health_new ();
    for (int i = 0; i < LLMQ_HEALTH_WINDOW; i++)
        llmq_health_record (h, LLMQ_HEALTH_FAILED, 0, 0, SEC);
    cr_assert_float_eq (llmq_health_error_rate (h, SEC), 1.0, 1e-9);
    for (int i = 0; i < LLMQ_HEALTH_WINDOW / 2; i++)
        llmq_health_record (h, LLMQ_HEALTH_OK, 1, 1, SEC);
    cr_assert_float_eq (llmq_health_error_rate (h, SEC), 0.5, 1e-9);
    for (int i = 0; i < LLMQ_HEALTH_WINDOW; i++)
        llmq_health_record (h, LLMQ_HEALTH_OK, 1, 1, SEC);
    cr_assert_float_eq (llmq_health_error_rate (h, SEC), 0.0, 1e-9);
    llmq_health_destroy (&h);
}

Test (health, window_forgets_old_results)
{
    llmq_health_t *h = llmq_health_new ();
    llmq_health_record (h, LLMQ_HEALTH_THROTTLED, 0, 0, SEC);
    llmq_health_record (h, LLMQ_HEALTH_OK, 1, 1, SEC + LLMQ_HEALTH_WINDOW_US / 2);
    uint64_t later = SEC + LLMQ_HEALTH_WINDOW_US + 1;
    cr_assert_float_eq (llmq_health_error_rate (h, later), 0.0, 1e-9);
    cr_assert_eq (llmq_health_upstream_429 (h, later), 0);
    cr_assert_float_eq (llmq_health_error_rate (h, SEC + 1), 0.5, 1e-9);
    llmq_health_destroy (&h);
}

Test (health, state_from_consecutive_failures)
{
    llmq_health_t *h = llmq_health_new ();
    uint64_t t = 100 * SEC;
    for (int i = 1; i < LLMQ_HEALTH_DEGRADED_AFTER; i++)
        llmq_health_record (h, LLMQ_HEALTH_FAILED, 0, 0, t);
    cr_assert_eq (llmq_health_state (h, t), LLMQ_BACKEND_OK);
    llmq_health_record (h, LLMQ_HEALTH_FAILED, 0, 0, t);
    cr_assert_eq (llmq_health_state (h, t), LLMQ_BACKEND_DEGRADED);
    for (int i = LLMQ_HEALTH_DEGRADED_AFTER; i < LLMQ_HEALTH_DOWN_AFTER; i++)
        llmq_health_record (h, LLMQ_HEALTH_THROTTLED, 0, 0, t);
    cr_assert_eq (llmq_health_state (h, t), LLMQ_BACKEND_DOWN);
    /*  Old news: after the recovery time a request may probe it again.    */
    cr_assert_eq (llmq_health_state (h, t + LLMQ_HEALTH_RECOVERY_US + 1), LLMQ_BACKEND_OK);
    /*  Any answer, even a 4xx, proves it is up.                           */
    llmq_health_record (h, LLMQ_HEALTH_REJECTED, 0, 0, t);
    cr_assert_eq (llmq_health_state (h, t), LLMQ_BACKEND_OK);
    llmq_health_destroy (&h);
}

Test (health, fill_heartbeat)
{
    llmq_health_t *h = llmq_health_new ();
    llmq_health_record (h, LLMQ_HEALTH_OK, 100, 400, SEC);
    llmq_health_record (h, LLMQ_HEALTH_THROTTLED, 0, 0, SEC);
    llmq_heartbeat_t hb = { .in_flight = 3, .free_slots = 5, .draining = true };
    llmq_health_fill (h, SEC, &hb);
    cr_assert_eq (hb.in_flight, 3, "left alone");
    cr_assert_eq (hb.free_slots, 5, "left alone");
    cr_assert (hb.draining, "left alone");
    cr_assert_eq (hb.ttft_ewma_us, 100);
    cr_assert_eq (hb.total_ewma_us, 400);
    cr_assert_float_eq (hb.error_rate, 0.5, 1e-9);
    cr_assert_eq (hb.upstream_429, 1);
    cr_assert_eq (hb.backend_state, LLMQ_BACKEND_OK);
    llmq_health_destroy (&h);
}

/* ---------------------------------------------------------------------- */

Test (timerq, pops_in_due_order)
{
    llmq_timerq_t *q = llmq_timerq_new ();
    enum { N = 200 };
    llmq_timer_t timers [N];
    /*  A fixed shuffle of due times, with duplicates.                     */
    for (int i = 0; i < N; i++) {
        llmq_timer_init (&timers [i]);
        cr_assert_eq (llmq_timerq_add (q, &timers [i], (uint64_t) ((i * 7919) % 101)), 0);
    }
    cr_assert_eq (llmq_timerq_size (q), N);
    uint64_t last = 0;
    int popped = 0;
    llmq_timer_t *t;
    while ((t = llmq_timerq_pop_due (q, 1000))) {
        cr_assert_geq (t->due_us, last);
        cr_assert_not (llmq_timer_queued (t));
        last = t->due_us;
        popped++;
    }
    cr_assert_eq (popped, N);
    llmq_timerq_destroy (&q);
    cr_assert_null (q);
}

Test (timerq, pop_due_respects_now)
{
    llmq_timerq_t *q = llmq_timerq_new ();
    llmq_timer_t a, b;
    llmq_timer_init (&a);
    llmq_timer_init (&b);
    llmq_timerq_add (q, &a, 50);
    llmq_timerq_add (q, &b, 10);
    cr_assert_eq (llmq_timerq_peek (q), &b);
    cr_assert_null (llmq_timerq_pop_due (q, 9));
    cr_assert_eq (llmq_timerq_pop_due (q, 10), &b);
    cr_assert_null (llmq_timerq_pop_due (q, 49));
    cr_assert_eq (llmq_timerq_pop_due (q, 50), &a);
    cr_assert_null (llmq_timerq_peek (q));
    llmq_timerq_destroy (&q);
}

Test (timerq, remove_and_move)
{
    llmq_timerq_t *q = llmq_timerq_new ();
    enum { N = 50 };
    llmq_timer_t timers [N];
    for (int i = 0; i < N; i++) {
        llmq_timer_init (&timers [i]);
        llmq_timerq_add (q, &timers [i], (uint64_t) (N - i));
    }
    /*  Remove every third, move some others later, remove one twice.     */
    for (int i = 0; i < N; i += 3)
        llmq_timerq_remove (q, &timers [i]);
    llmq_timerq_remove (q, &timers [0]);
    llmq_timerq_add (q, &timers [1], 1000);
    llmq_timerq_add (q, &timers [2], 0);
    cr_assert_eq (llmq_timerq_size (q), N - (N + 2) / 3);
    cr_assert_eq (llmq_timerq_peek (q), &timers [2]);
    uint64_t last = 0;
    size_t popped = 0;
    llmq_timer_t *t;
    while ((t = llmq_timerq_pop_due (q, UINT64_MAX))) {
        cr_assert_geq (t->due_us, last);
        cr_assert_neq ((t - timers) % 3, 0, "a removed timer fired");
        last = t->due_us;
        popped++;
    }
    cr_assert_eq (popped, N - (N + 2) / 3);
    cr_assert_eq (last, 1000);
    llmq_timerq_destroy (&q);
}

Test (timerq, destroy_unqueues_timers)
{
    llmq_timerq_t *q = llmq_timerq_new ();
    llmq_timer_t a;
    llmq_timer_init (&a);
    cr_assert_not (llmq_timer_queued (&a));
    llmq_timerq_add (q, &a, 5);
    cr_assert (llmq_timer_queued (&a));
    llmq_timerq_destroy (&q);
    cr_assert_not (llmq_timer_queued (&a));
}
