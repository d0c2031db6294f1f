/*  test_broker_recent.c -- answers kept for resends (broker/recent.h).  */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "recent.h"

#define S(s) (s), strlen (s)

Test (recent, keeps_an_answer_by_route_and_id_for_the_window)
{
    recent_t *r = recent_new (1000, 1 << 20);
    recent_put (r, S ("c1"), S ("r1"), S ("FINAL-1"), 100);
    size_t size;
    const char *got = recent_get (r, S ("c1"), S ("r1"), &size, 600);
    cr_assert_not_null (got);
    cr_assert_eq (size, 7);
    cr_assert (memcmp (got, "FINAL-1", 7) == 0);
    cr_assert_null (recent_get (r, S ("c2"), S ("r1"), &size, 600), "other client");
    cr_assert_null (recent_get (r, S ("c1"), S ("r2"), &size, 600), "other id");
    cr_assert_null (recent_get (r, S ("c1"), S ("r1"), &size, 1101), "past the window");
    recent_expire (r, 1101);
    cr_assert_eq (recent_count (r), 0);
    cr_assert_eq (recent_bytes (r), 0);
    recent_destroy (&r);
    cr_assert_null (r);
}

Test (recent, a_new_answer_replaces_the_old_one)
{
    recent_t *r = recent_new (1000, 1 << 20);
    recent_put (r, S ("c"), S ("r"), S ("old"), 1);
    recent_put (r, S ("c"), S ("r"), S ("newer"), 2);
    cr_assert_eq (recent_count (r), 1);
    size_t size;
    const char *got = recent_get (r, S ("c"), S ("r"), &size, 3);
    cr_assert (got && size == 5 && memcmp (got, "newer", 5) == 0);
    recent_destroy (&r);
}

Test (recent, the_byte_budget_drops_the_oldest)
{
    recent_t *r = recent_new (1000000, 1000);
    char id[16], frame[200];
    memset (frame, 'x', sizeof frame);
    for (int i = 0; i < 20; i++) {
        snprintf (id, sizeof id, "r%d", i);
        recent_put (r, S ("c"), S (id), frame, sizeof frame, (uint64_t) i);
        cr_assert_leq (recent_bytes (r), 1000);
    }
    size_t size;
    cr_assert_not_null (recent_get (r, S ("c"), S ("r19"), &size, 20), "the newest stays");
    cr_assert_null (recent_get (r, S ("c"), S ("r0"), &size, 20), "the oldest went");
    /*  An answer bigger than the whole budget is not kept.                 */
    static char huge[4000];
    recent_put (r, S ("c"), S ("big"), huge, sizeof huge, 21);
    cr_assert_null (recent_get (r, S ("c"), S ("big"), &size, 21));
    recent_destroy (&r);
}

Test (recent, many_entries_grow_the_index)
{
    recent_t *r = recent_new (1000000, 64 << 20);
    char id[16];
    for (int i = 0; i < 5000; i++) {
        snprintf (id, sizeof id, "r%d", i);
        recent_put (r, S ("c"), S (id), S (id), (uint64_t) i);
    }
    cr_assert_eq (recent_count (r), 5000);
    size_t size;
    for (int i = 0; i < 5000; i += 499) {
        snprintf (id, sizeof id, "r%d", i);
        const char *got = recent_get (r, S ("c"), S (id), &size, 5000);
        cr_assert (got && size == strlen (id) && memcmp (got, id, size) == 0);
    }
    recent_expire (r, 1000000 + 2500);
    cr_assert_lt (recent_count (r), 5000);
    cr_assert_gt (recent_count (r), 0);
    recent_destroy (&r);
}

Test (recent, a_zero_window_keeps_nothing)
{
    recent_t *r = recent_new (0, 1 << 20);
    recent_put (r, S ("c"), S ("r"), S ("x"), 1);
    size_t size;
    cr_assert_null (recent_get (r, S ("c"), S ("r"), &size, 1));
    recent_destroy (&r);
}
