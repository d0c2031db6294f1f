/*  health.h -- what a worker tells the broker about its backend.

    Every HEARTBEAT carries the worker's health so the broker can prefer
    fast, healthy workers: latency averages, the error rate of recent
    results, how often the upstream said 429, and a coarse backend state.

    - Latencies are exponentially weighted moving averages (alpha 1/5): a
      new figure moves the average a fifth of the way, so one slow answer
      does not swing routing but a lasting change shows within ~10 answers.
    - The error rate and the 429 count are over a sliding window of the last
      LLMQ_HEALTH_WINDOW results that are at most LLMQ_HEALTH_WINDOW_US old,
      so an idle worker forgets an old burst of errors.
    - The backend state comes from consecutive failures: degraded after
      LLMQ_HEALTH_DEGRADED_AFTER, down after LLMQ_HEALTH_DOWN_AFTER. It
      returns to ok on any answer, and also when the last failure is older
      than LLMQ_HEALTH_RECOVERY_US: a broker that stops routing to a "down"
      worker would otherwise never send the request that proves it is up.

    All functions take the time as an argument (llmq_now_us in production),
    so tests control the clock. Costs: record O(1), fill O(window).
*/
#ifndef LLMQ_HEALTH_H_INCLUDED
#define LLMQ_HEALTH_H_INCLUDED

#include "llmq_proto.h"

#define LLMQ_HEALTH_WINDOW          100
#define LLMQ_HEALTH_WINDOW_US       (60ull * 1000 * 1000)
#define LLMQ_HEALTH_DEGRADED_AFTER  3
#define LLMQ_HEALTH_DOWN_AFTER      10
#define LLMQ_HEALTH_RECOVERY_US     (15ull * 1000 * 1000)

/*  How a backend call ended, as far as the backend's health goes.         */
typedef enum {
    LLMQ_HEALTH_OK = 0,         /* answered                                */
    LLMQ_HEALTH_FAILED,         /* backend's fault: transport error, 5xx,
                                   malformed answer, timeout               */
    LLMQ_HEALTH_THROTTLED,      /* HTTP 429: reachable but over its limit  */
    LLMQ_HEALTH_REJECTED        /* other 4xx: the request's fault; proves
                                   the backend is up, is not an error      */
} llmq_health_result_t;

typedef struct llmq_health llmq_health_t;

llmq_health_t *llmq_health_new (void);
void llmq_health_destroy (llmq_health_t **self_p);

/*  Records one finished call. ttft_us and total_us feed the averages and
    are only looked at for LLMQ_HEALTH_OK. Cancelled calls are not recorded:
    they say nothing about the backend.                                    */
void llmq_health_record (llmq_health_t *self, llmq_health_result_t result,
                         uint64_t ttft_us, uint64_t total_us, uint64_t now_us);

uint64_t llmq_health_ttft_ewma_us (const llmq_health_t *self);
uint64_t llmq_health_total_ewma_us (const llmq_health_t *self);
/*  Failed + throttled over results in the window; 0 with no results.     */
double llmq_health_error_rate (const llmq_health_t *self, uint64_t now_us);
/*  429s in the window.                                                    */
uint32_t llmq_health_upstream_429 (const llmq_health_t *self, uint64_t now_us);
/*  llmq_backend_state_t.                                                  */
uint32_t llmq_health_state (const llmq_health_t *self, uint64_t now_us);

/*  Writes the health fields of a HEARTBEAT (all but in_flight, free_slots
    and draining, which the worker knows).                                 */
void llmq_health_fill (const llmq_health_t *self, uint64_t now_us,
                       llmq_heartbeat_t *hb);

#endif
