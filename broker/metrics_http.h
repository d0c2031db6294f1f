/*  metrics_http.h -- the Prometheus endpoint: GET /metrics over HTTP.

    libmicrohttpd serves it on its own thread, so a slow or stuck scraper
    never touches the broker's loop. The broker renders the exposition
    text itself, in its loop, at every stats tick (--stats-interval-ms),
    and hands it over with metrics_http_publish: the text is copied into
    a buffer the HTTP thread reads under a mutex held only for a copy
    (no lock on the broker's hot path, no shared live data). A scrape
    therefore sees the state of the last tick, at most one interval old.

    Anything but GET /metrics is 404 (GET / says where to look); before
    the first publish /metrics answers 503.

        metrics_http_t *http = metrics_http_new ("127.0.0.1:0");
        printf ("port %u\n", metrics_http_port (http));
        metrics_http_publish (http, text, len);     // at every tick
        metrics_http_destroy (&http);

    Complexity: publish O(text) (one copy); a scrape O(text).
*/
#ifndef LLMQ_BROKER_METRICS_HTTP_H_INCLUDED
#define LLMQ_BROKER_METRICS_HTTP_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct metrics_http metrics_http_t;

/*  Listens on HOST:PORT ([V6HOST]:PORT; port 0 picks a free one) and
    starts the server thread. NULL (error logged) on a bad address or
    when the port cannot be bound.                                         */
metrics_http_t *metrics_http_new (const char *listen);
/*  Stops the thread (waits for scrapes in progress) and frees.            */
void metrics_http_destroy (metrics_http_t **self_p);
/*  The port bound (useful with port 0).                                   */
uint16_t metrics_http_port (const metrics_http_t *self);
/*  "HOST:PORT" as bound, for the ready line.                              */
const char *metrics_http_address (const metrics_http_t *self);
/*  Replaces the text served; -1 (old text kept) when out of memory.       */
int metrics_http_publish (metrics_http_t *self, const char *text, size_t len);

#endif
