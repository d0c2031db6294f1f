/*  mockllm_server.h -- the HTTP side of llmq-mockllm.

    An OpenAI-compatible endpoint for tests and benchmarks, served by a
    libmicrohttpd thread pool (epoll). Delays and hangs never hold a
    thread: the connection is suspended and woken by mockllm_sched, so the
    server stays cheap with thousands of slow requests in flight and is not
    the bottleneck of a benchmark with zero delays.

        POST /v1/chat/completions   chat.completion, or SSE when "stream"
        GET  /v1/models             "mock" and every model seen so far
        GET  /health                {"status":"ok"}
        GET  /stats                 counters, see mockllm_server.c
        anything else               404 OpenAI-style error JSON

    Fault injection applies to well-formed chat requests only: one uniform
    draw per request, from a PRNG keyed by --seed and the request's
    sequence number, picks error (first error_rate of [0,1)), hang (next
    hang_rate) or malformed body (next malformed_rate); the rates must sum
    to at most 1.
*/
#ifndef MOCKLLM_SERVER_H_INCLUDED
#define MOCKLLM_SERVER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *host;               /* address to bind (numeric or name)   */
    uint16_t port;                  /* 0 = any free port                   */
    unsigned threads;               /* libmicrohttpd pool threads (>= 1)   */
    uint32_t ttft_ms;               /* delay before the first token        */
    uint32_t tpot_ms;               /* delay between tokens                */
    uint32_t tokens;                /* answer length in tokens (>= 1)      */
    double error_rate;              /* share answered with error_status    */
    unsigned error_status;          /* HTTP status of injected errors      */
    double hang_rate;               /* share never answered                */
    double malformed_rate;          /* share answered 200 with a bad body  */
    uint64_t seed;                  /* PRNG seed for the rates             */
    bool verbose;                   /* log every request                   */
} mockllm_config_t;

typedef struct mockllm_server mockllm_server_t;

/*  Binds and starts serving; NULL (reason logged) when it cannot.
    config is copied; host must stay valid while the server lives.         */
mockllm_server_t *mockllm_server_new (const mockllm_config_t *config);

/*  Wakes every waiting connection, stops the threads, frees.              */
void mockllm_server_destroy (mockllm_server_t **self_p);

/*  The port actually bound (useful with port 0).                          */
uint16_t mockllm_server_port (const mockllm_server_t *self);

#endif
