/*  monitor_cost.c -- the hot-path cost of monitoring, alone: what
    broker_monitor_accept + broker_monitor_final add to one request
    (monitor_accept: two label lookups; monitor_end: counters and five
    histogram records), in nanoseconds per request, over N requests
    spread over a few models and tenants like real traffic.

    Built and run by tests/bench/stats_cost.sh; on its own:
        cc -O2 -std=c11 -D_GNU_SOURCE -Ibroker -Iproto tests/bench/monitor_cost.c \
           broker/monitor.c broker/histogram.c BUILD/proto/libllmq_proto.a \
           $(pkg-config --cflags --libs libczmq msgpack jansson libxxhash) -o monitor_cost
*/
#include "monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

int
main (int argc, char *argv [])
{
    long n = argc > 1 ? atol (argv [1]) : 5000000;
    monitor_t *monitor = monitor_new (64, 60000, 0);
    if (!monitor || n <= 0)
        return 1;
    static const char *models [] = { "gpt-4o-mini", "llama-3-8b", "mock", "claude" };
    static const char *tenants [] = { "search", "billing", "support", "ads", "default",
                                      "mobile", "web", "batch-jobs" };
    uint64_t x = 88172645463325252ull, sink = 0;
    double start = s_now_ns ();
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        monitor_tag_t tag;
        monitor_accept (monitor, models [x % 4], llmq_str (tenants [(x >> 8) % 8]),
                        (uint32_t) (x >> 16) % LLMQ_PRIO__COUNT, &tag);
        monitor_end_t end = {
            .code = LLMQ_ERR_NONE, .prompt_tokens = 100, .completion_tokens = 50,
            .has_latency = true, .queue_us = x % 1000, .ttft_us = 1000 + x % 100000,
            .total_us = 200000 + x % 1000000, .broker_us = 5 + x % 50
        };
        monitor_end (monitor, &tag, &end);
        if ((i & 0xFFFF) == 0)
            monitor_tick (monitor, (uint64_t) i);
        sink += tag.model;
    }
    double ns = (s_now_ns () - start) / (double) n;
    printf ("monitoring hot path: %.1f ns per request (%ld requests; %llu)\n", ns, n,
            (unsigned long long) (sink & 1));
    monitor_destroy (&monitor);
    return 0;
}
