/*  cache_redis.h -- the shared cache tier (L2) in Redis, off the broker's
    thread.

    Redis I/O must never block the broker's loop, and hiredis 0.14 (Debian
    12) has no timeouts in its async API. So a small actor thread owns a
    blocking hiredis connection (connect and command timeouts set), and
    the broker talks to it over an inproc PAIR socket it polls like its
    other sockets: it sends GET and SET jobs and reads replies. The thread
    drains every job waiting, pipelines them in one round trip, and
    answers each GET with HIT (and the value), MISS or ERROR.

    When Redis is down every job fails at once with ERROR (the thread
    tries to reconnect at most once a second), so the broker degrades to
    its L1 cache. The thread logs the transitions down and up once each.

    Keys: "llmq:cache:1:" + 32 hex digits of the cache key. Values carry
    their own TTL into Redis (SET ... PX ttl).

    URL: redis://[:password@]host[:port][/db], or unix:///path/to/socket.
*/
#ifndef LLMQ_BROKER_CACHE_REDIS_H_INCLUDED
#define LLMQ_BROKER_CACHE_REDIS_H_INCLUDED

#include "cache_key.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CACHE_REDIS_HIT = 1,
    CACHE_REDIS_MISS,
    CACHE_REDIS_ERROR
} cache_redis_status_t;

typedef struct {
    uint64_t token;                 /* the caller's, from cache_redis_get  */
    uint32_t status;                /* cache_redis_status_t                */
    bool is_get;                    /* false: a SET's outcome              */
    const void *value;              /* HIT: the value, until the next recv */
    size_t size;
} cache_redis_reply_t;

typedef struct cache_redis cache_redis_t;

/*  Starts the thread on ctx. NULL (logged) for a URL it cannot parse or
    when the thread cannot start. Connecting happens in the thread: a
    Redis that is down is not an error here.                               */
cache_redis_t *cache_redis_new (void *ctx, const char *url, uint32_t timeout_ms);
/*  Stops and joins the thread.                                            */
void cache_redis_destroy (cache_redis_t **self_p);

/*  The socket to poll for ZMQ_POLLIN; then call cache_redis_recv.          */
void *cache_redis_socket (cache_redis_t *self);

/*  Queues a GET whose reply carries token. -1 when it cannot be queued
    (the thread is that far behind): treat as a miss.                      */
int cache_redis_get (cache_redis_t *self, const cache_key_t *key, uint64_t token);
/*  Queues a SET with a TTL (ms, >= 1). -1 when it cannot be queued.        */
int cache_redis_set (cache_redis_t *self, const cache_key_t *key,
                     const void *value, size_t size, uint32_t ttl_ms);

/*  One reply without waiting: 1 (reply filled), 0 when none is waiting.   */
int cache_redis_recv (cache_redis_t *self, cache_redis_reply_t *reply);

/*  Parses url into host/port/password/db or a unix path; 0 or -1. Public
    for the tests.                                                         */
typedef struct {
    char host [256];                /* TCP host, or ""                     */
    int port;                       /* TCP port [6379]                     */
    char path [256];                /* unix socket path, or ""             */
    char password [256];            /* AUTH, or ""                         */
    int db;                         /* SELECT, 0 = default                 */
} cache_redis_url_t;
int cache_redis_parse_url (const char *url, cache_redis_url_t *out);

#endif
