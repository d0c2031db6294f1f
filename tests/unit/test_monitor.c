/*  test_monitor.c -- broker/monitor.h: counts by label, bounded label
    cardinality ("other"), the latency window.  */
#include "monitor.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static monitor_end_t
s_answer (uint64_t total_us)
{
    monitor_end_t end = {
        .code = LLMQ_ERR_NONE, .prompt_tokens = 10, .completion_tokens = 5,
        .has_latency = true, .queue_us = 10, .ttft_us = total_us / 2, .total_us = total_us,
        .broker_us = 3
    };
    return end;
}

Test (monitor, counts_by_model_tenant_priority)
{
    monitor_t *m = monitor_new (8, 60000, 0);
    cr_assert_not_null (m);
    monitor_tag_t a, b;
    monitor_accept (m, "gpt", llmq_str ("acme"), LLMQ_PRIO_HIGH, &a);
    monitor_accept (m, "gpt", llmq_str (NULL), LLMQ_PRIO_NORMAL, &b);
    monitor_end_t end = s_answer (1000);
    monitor_end (m, &a, &end);
    monitor_end_t err = { .code = LLMQ_ERR_TIMEOUT };
    monitor_end (m, &b, &err);

    cr_assert_str_eq (monitor_tag_model (m, &a), "gpt");
    cr_assert_str_eq (monitor_tag_tenant (m, &a), "acme");
    cr_assert_str_eq (monitor_tag_tenant (m, &b), "default");
    cr_assert_eq (monitor_totals (m).received, 2);
    cr_assert_eq (monitor_totals (m).answered, 1);
    cr_assert_eq (monitor_totals (m).errors [LLMQ_ERR_TIMEOUT], 1);
    cr_assert_eq (monitor_totals (m).error_total, 1);
    cr_assert_eq (monitor_totals (m).prompt_tokens, 10);
    cr_assert_eq (monitor_priority (m, LLMQ_PRIO_HIGH)->answered, 1);
    cr_assert_eq (monitor_priority (m, LLMQ_PRIO_NORMAL)->error_total, 1);
    const monitor_label_t *gpt = monitor_model (m, a.model);
    cr_assert_eq (gpt->counts.received, 2);
    cr_assert_eq (gpt->latency [MON_TOTAL]->total, 1);
    /*  time per output token: (1000 - 500) / (5 - 1).                     */
    cr_assert_eq (gpt->latency [MON_TPOT]->max, 125);
    /*  The error has no latency samples.                                  */
    histogram_t window;
    monitor_window (m, MON_TOTAL, &window);
    cr_assert_eq (window.total, 1);
    monitor_destroy (&m);
    cr_assert_null (m);
}

Test (monitor, labels_fold_into_other_past_the_limit)
{
    monitor_t *m = monitor_new (3, 60000, 0);
    char name [32];
    for (int i = 0; i < 100; i++) {
        monitor_tag_t tag;
        snprintf (name, sizeof name, "tenant-%d", i);
        monitor_accept (m, "model", llmq_str (name), LLMQ_PRIO_NORMAL, &tag);
        monitor_end_t end = s_answer (100);
        monitor_end (m, &tag, &end);
    }
    /*  "other" + 3 named, "default" (always there) being one of them.     */
    cr_assert_eq (monitor_tenants (m), 4);
    cr_assert_str_eq (monitor_tenant (m, 0)->name, "other");
    cr_assert_eq (monitor_tenant (m, 0)->counts.answered, 98);
    cr_assert_str_eq (monitor_tenant (m, 1)->name, "default");
    cr_assert_str_eq (monitor_tenant (m, 2)->name, "tenant-0");
    /*  A known name still finds its own label.                            */
    monitor_tag_t tag;
    monitor_accept (m, "model", llmq_str ("tenant-1"), LLMQ_PRIO_NORMAL, &tag);
    cr_assert_str_eq (monitor_tag_tenant (m, &tag), "tenant-1");
    /*  A client naming itself "other" does not make a second series.      */
    monitor_accept (m, "other", llmq_str ("other"), LLMQ_PRIO_NORMAL, &tag);
    cr_assert_eq (tag.tenant, 0);
    cr_assert_eq (tag.model, 0);
    monitor_destroy (&m);
}

Test (monitor, window_keeps_one_to_two_halves)
{
    monitor_t *m = monitor_new (4, 1000, 0);        /* halves of 1 s       */
    monitor_tag_t tag;
    monitor_accept (m, "model", llmq_str (NULL), 0, &tag);
    monitor_end_t end = s_answer (500);
    monitor_end (m, &tag, &end);
    histogram_t window;
    monitor_tick (m, 500000);                       /* half not full yet   */
    monitor_window (m, MON_TOTAL, &window);
    cr_assert_eq (window.total, 1);
    monitor_tick (m, 1000000);                      /* rotated: previous   */
    monitor_window (m, MON_TOTAL, &window);
    cr_assert_eq (window.total, 1);
    cr_assert_eq (monitor_window_ms (m, 1500000), 1500);
    monitor_tick (m, 2000000);                      /* dropped             */
    monitor_window (m, MON_TOTAL, &window);
    cr_assert_eq (window.total, 0);
    /*  The cumulative per-model histogram keeps everything.               */
    cr_assert_eq (monitor_model (m, tag.model)->latency [MON_TOTAL]->total, 1);
    monitor_destroy (&m);
}

Test (monitor, config_names_take_labels_first)
{
    /*  Three known models with room for two: all three get labels, and
        an unknown one has no slot left.                                   */
    const char *models [] = { "m-a", "m-b", "m-c" };
    const char *tenants [] = { "acme" };
    monitor_t *m = monitor_new_known (2, 60000, 0, models, 3, tenants, 1);
    cr_assert_not_null (m);
    monitor_tag_t tag;
    monitor_accept (m, "invented", llmq_str ("stranger"), LLMQ_PRIO_NORMAL, &tag);
    cr_assert_eq (tag.model, 0, "no slot left for an unknown model");
    cr_assert_eq (tag.tenant, 0, "default + acme fill the tenant slots");
    monitor_accept (m, "m-c", llmq_str ("acme"), LLMQ_PRIO_NORMAL, &tag);
    cr_assert_str_eq (monitor_tag_model (m, &tag), "m-c");
    cr_assert_str_eq (monitor_tag_tenant (m, &tag), "acme");
    cr_assert_eq (monitor_models (m), 4);           /* other + 3           */
    monitor_destroy (&m);

    /*  One known model, room for three: two unknown ones share the rest,
        even when they arrive before the known one's first request.        */
    const char *one [] = { "known" };
    m = monitor_new_known (3, 60000, 0, one, 1, NULL, 0);
    const char *seen [] = { "u1", "u2", "u3", "known" };
    const char *want [] = { "u1", "u2", "other", "known" };
    for (int i = 0; i < 4; i++) {
        monitor_accept (m, seen [i], llmq_str (NULL), LLMQ_PRIO_NORMAL, &tag);
        cr_assert_str_eq (monitor_tag_model (m, &tag), want [i]);
    }
    monitor_destroy (&m);
}

Test (monitor, refusals_count_by_model_tenant_priority)
{
    monitor_t *m = monitor_new (8, 60000, 0);
    monitor_refuse (m, llmq_str ("gpt"), llmq_str ("acme"), LLMQ_PRIO_HIGH,
                    LLMQ_ERR_SHUTTING_DOWN);
    monitor_refuse (m, llmq_str ("gpt"), llmq_str (NULL), LLMQ_PRIO_LOW, LLMQ_ERR_INTERNAL);
    monitor_tag_t tag;
    monitor_accept (m, "gpt", llmq_str ("acme"), LLMQ_PRIO_HIGH, &tag);
    const monitor_label_t *gpt = monitor_model (m, tag.model);
    cr_assert_eq (gpt->counts.received, 3);
    cr_assert_eq (gpt->counts.errors [LLMQ_ERR_SHUTTING_DOWN], 1);
    cr_assert_eq (gpt->counts.error_total, 2);
    const monitor_label_t *acme = monitor_tenant (m, tag.tenant);
    cr_assert_eq (acme->counts.errors [LLMQ_ERR_SHUTTING_DOWN], 1);
    cr_assert_eq (monitor_priority (m, LLMQ_PRIO_HIGH)->errors [LLMQ_ERR_SHUTTING_DOWN], 1);
    cr_assert_eq (monitor_priority (m, LLMQ_PRIO_LOW)->errors [LLMQ_ERR_INTERNAL], 1);
    cr_assert_eq (monitor_totals (m).error_total, 2);
    /*  No latency sample for a refusal.                                   */
    cr_assert_eq (gpt->latency [MON_TOTAL]->total, 0);
    monitor_destroy (&m);
}
