/*  requests.h -- the table of requests the broker holds.

    Every request the broker has accepted and not yet answered lives in
    one slot of this table, from REQUEST to its FINAL or ERROR. The slot
    keeps the client's routing id and the REQUEST frame itself, because
    DISPATCH forwards the packed request map verbatim.

    Two ways in:
    - by rid, the 64-bit handle a worker echoes: generation << 32 | index.
      The generation of a slot is bumped each time the slot is freed or
      its request is dispatched anew, so a late reply for a request that
      has ended (or moved on) carries a rid that no longer matches and is
      dropped: O(1).
    - by key (client routing id, client request id), so a resend of a
      request the broker holds finds it instead of making a second one:
      a chained hash index (xxh3), O(1) expected; the bucket array doubles
      when the load passes 1, an O(n) rehash amortised over the inserts.

    Slots live in fixed pages of 1024 that never move, so request_t
    pointers stay valid while the table grows (and a zmq_msg_t is never
    copied by realloc, which libzmq forbids). Freed slots are reused LIFO
    from a free list: alloc and free are O(1) and allocate only when a
    new page is needed.
*/
#ifndef LLMQ_BROKER_REQUESTS_H_INCLUDED
#define LLMQ_BROKER_REQUESTS_H_INCLUDED

#include "queue.h"
#include "sched_req.h"
#include "monitor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

typedef enum {
    REQ_FREE = 0,                   /* slot unused                         */
    REQ_NEW,                        /* allocated, not yet queued/sent      */
    REQ_QUEUED,                     /* waiting in its model's queue        */
    REQ_IN_FLIGHT                   /* dispatched to a worker              */
} request_state_t;

struct model;
struct worker;

typedef struct request {
    /*  Owned by the table.                                                */
    uint32_t index;                 /* slot number: low half of the rid    */
    uint32_t generation;            /* high half of the rid; never 0       */
    uint32_t next;                  /* hash chain, or free list when free  */
    bool indexed;                   /* in the key index                    */
    uint64_t key_hash;              /* xxh3 of routing id + request id     */
    zmq_msg_t route;                /* client routing id                   */
    zmq_msg_t frame;                /* the REQUEST frame as received       */
    uint32_t id_off, id_len;        /* client request id, inside frame     */
    uint32_t raw_off, raw_size;     /* packed request map, inside frame    */
    /*  Owned by the broker; reset by requests_alloc.                      */
    request_state_t state;          /* where the request is                */
    qnode_t link;                   /* in a model queue or worker's list   */
    struct model *model;            /* the model it asks for               */
    struct worker *worker;          /* serving it when REQ_IN_FLIGHT       */
    bool stream;                    /* client wants PARTIALs               */
    uint32_t attempts;              /* dispatches so far                   */
    uint64_t accepted_us;           /* REQUEST received                    */
    uint64_t dispatched_us;         /* last DISPATCH sent                  */
    uint64_t deadline_us;           /* answer due by                       */
    uint64_t broker_us;             /* time spent in broker handlers       */
    uint32_t deadline_timer;        /* timers handle, TIMER_NONE when none */
    uint32_t grace_timer;           /* no-worker grace timer, or none      */
    sched_req_t sched;              /* scheduler's links and marks         */
    monitor_tag_t mon;              /* monitoring labels (monitor.h)       */
    struct cache_ticket *cache;     /* response cache state (cache_flow.c) */
} request_t;

typedef struct requests requests_t;

requests_t *requests_new (void);
/*  Frees every slot still in use (closing its messages).                  */
void requests_destroy (requests_t **self_p);

/*  A fresh slot in state REQ_NEW with empty messages; NULL when out of
    memory.                                                                */
request_t *requests_alloc (requests_t *self);
/*  Moves route into req (leaving it empty) and keeps a copy of frame,
    remembering where the id and the raw map are (they must point into
    frame). -1 when out of memory.

    Why a copy: libzmq receives small messages zero-copy, as slices of a
    shared 8 KB read buffer; a request held for minutes would pin that
    whole buffer. One exact-size copy per request bounds the memory a
    queued request costs to its own size.                                  */
int request_attach (request_t *req, zmq_msg_t *route, const zmq_msg_t *frame,
                    const char *id, uint32_t id_len,
                    const void *raw, size_t raw_size);
/*  Adds req to the key index; its key must not be there yet.               */
void requests_index (requests_t *self, request_t *req);
/*  Ends req: unindexes it, closes its messages, bumps its generation so
    its rid goes stale. The caller has unlinked it from any queue.         */
void requests_free (requests_t *self, request_t *req);

/*  Gives req a new rid (a new generation), so the old one goes stale: a
    request dispatched again must not accept answers to the earlier
    dispatch. Returns the new rid.                                         */
uint64_t requests_renew (requests_t *self, request_t *req);
/*  The request a rid names, or NULL when the rid is stale or invalid.      */
request_t *requests_lookup (requests_t *self, uint64_t rid);
/*  The request with that key, or NULL.                                    */
request_t *requests_find (requests_t *self, const void *route, size_t route_len,
                          const char *id, size_t id_len);
/*  A walk over every slot (shutdown, destroy): requests_at gives the
    request in slot index, NULL when that slot is free. O(slots).          */
uint32_t requests_slots (const requests_t *self);
request_t *requests_at (requests_t *self, uint32_t index);
/*  Slots in use.                                                          */
size_t requests_count (const requests_t *self);

uint64_t request_rid (const request_t *req);
const char *request_id (const request_t *req, uint32_t *len);
const void *request_raw (const request_t *req, size_t *size);
const void *request_route (const request_t *req, size_t *len);

#endif
