/*  recent.h -- answers the broker sent a moment ago, for resends.

    A client resends a request (same id) when it has heard nothing for a
    while. If that resend crosses the FINAL on the wire, the broker has
    already forgotten the request and would run it again: the backend is
    paid twice and the client gets a second answer it must ignore. So the
    broker keeps each FINAL it sends for a short window, keyed like the
    requests (client routing id, request id), and answers a resend that
    hits the window with the same FINAL instead of running it again. This
    also recovers an answer lost with a broken connection when the
    client reconnects (same routing id) and resends within the window.

    Only FINALs are kept: after an ERROR a client may resend the same id
    on purpose to try again (PROTOCOL.md, "Error codes").

    Bounded twice: by age (the window) and by bytes (oldest dropped first),
    so at high rates the window shrinks rather than memory growing. A
    resend that misses the window is a new request, which the protocol
    allows.

    Complexity: put, get O(1) expected (chained hash over xxh3); expiry
    O(entries expired). One allocation per answer kept.
*/
#ifndef LLMQ_BROKER_RECENT_H_INCLUDED
#define LLMQ_BROKER_RECENT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct recent recent_t;

/*  window_us 0 or max_bytes 0 keeps nothing.                              */
recent_t *recent_new (uint64_t window_us, size_t max_bytes);
void recent_destroy (recent_t **self_p);

/*  Keeps a copy of the answer frame for the key (replacing an older one).
    Out of memory just keeps nothing.                                      */
void recent_put (recent_t *self, const void *route, size_t route_len,
                 const char *id, size_t id_len, const void *frame, size_t size,
                 uint64_t now_us);
/*  The answer kept for the key, or NULL; valid until the next put/expire. */
const void *recent_get (recent_t *self, const void *route, size_t route_len,
                        const char *id, size_t id_len, size_t *size, uint64_t now_us);
/*  Forgets the answers older than the window.                             */
void recent_expire (recent_t *self, uint64_t now_us);

size_t recent_count (const recent_t *self);
size_t recent_bytes (const recent_t *self);

#endif
