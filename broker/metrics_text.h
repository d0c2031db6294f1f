/*  metrics_text.h -- the broker's state in the Prometheus text exposition
    format (version 0.0.4), served by metrics_http.h.

    Rendered from the same view as the stats snapshot (stats.h), in the
    broker's loop, once per stats tick. Names follow the Prometheus
    conventions (base units: seconds; counters end in _total) and, for
    model calls, the OpenTelemetry GenAI semantic conventions:
      llmq_time_to_first_token_seconds   ~ gen_ai.server.time_to_first_token
      llmq_time_per_output_token_seconds ~ gen_ai.server.time_per_output_token
      llmq_request_duration_seconds      ~ gen_ai.server.request.duration
      llmq_token_usage_total{type}       ~ gen_ai.client.token.usage
                                           (type = gen_ai.token.type)
    The full list is in README.md, "Monitoring".

    Histograms come from the per-model log-linear histograms: a bucket
    count ("le") is exact to within the histogram's resolution (1/32 of
    the bound), _sum and _count are exact. Label values are escaped as the
    format requires; their number is bounded by the monitor (monitor.h).

    Complexity: O(models x buckets + tenants + workers); about 50 KiB of
    text for a handful of models.
*/
#ifndef LLMQ_BROKER_METRICS_TEXT_H_INCLUDED
#define LLMQ_BROKER_METRICS_TEXT_H_INCLUDED

#include "stats.h"

#include <stddef.h>

typedef struct {
    char *data;                     /* the text, NUL-terminated            */
    size_t size;                    /* bytes used                          */
    size_t alloc;                   /* bytes allocated                     */
    bool failed;                    /* out of memory while writing         */
} metrics_text_t;

/*  Renders view (its monitor must be set) into text, replacing what it
    held. 0, or -1 when out of memory.                                     */
int metrics_text_render (const stats_view_t *view, metrics_text_t *text);
/*  Frees the text's memory (it can be rendered into again).               */
void metrics_text_free (metrics_text_t *text);

#endif
