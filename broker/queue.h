/*  queue.h -- intrusive doubly-linked FIFO.

    A queue_t links qnode_t members embedded in the caller's structs, so
    putting a request in a queue, taking it out of the middle (cancel,
    timeout) or moving it to another queue never allocates. The broker
    uses it for the per-model wait queues and for each worker's list of
    requests in flight.

    The list is circular around a sentinel node held in the queue itself:
    no NULL checks on the hot path, and a node knows whether it is linked
    (its pointers are non-NULL) without knowing which queue holds it.

    Complexity: every operation is O(1). A node is in at most one queue.
*/
#ifndef LLMQ_BROKER_QUEUE_H_INCLUDED
#define LLMQ_BROKER_QUEUE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct qnode {
    struct qnode *prev;             /* previous node, or the sentinel      */
    struct qnode *next;             /* next node, or the sentinel          */
} qnode_t;

typedef struct {
    qnode_t head;                   /* sentinel: head.next is the front    */
    size_t length;                  /* nodes linked                        */
} queue_t;

/*  The struct that embeds a node: QUEUE_ENTRY (node, request_t, link).     */
#define QUEUE_ENTRY(node, type, member) \
    ((type *) ((char *) (node) - offsetof (type, member)))

void queue_init (queue_t *self);
/*  A node that is in no queue.                                            */
void qnode_init (qnode_t *node);
bool qnode_linked (const qnode_t *node);

void queue_push_back (queue_t *self, qnode_t *node);
void queue_push_front (queue_t *self, qnode_t *node);
/*  Links node right after at, which is in self (or is self's sentinel:
    queue_push_front).                                                     */
void queue_insert_after (queue_t *self, qnode_t *at, qnode_t *node);
/*  NULL when empty.                                                       */
qnode_t *queue_front (const queue_t *self);
qnode_t *queue_back (const queue_t *self);
qnode_t *queue_pop_front (queue_t *self);
/*  Unlinks node, which must be in self.                                   */
void queue_remove (queue_t *self, qnode_t *node);
/*  The node after node, NULL at the end (iteration; see queue_front).      */
qnode_t *queue_next (const queue_t *self, const qnode_t *node);
size_t queue_length (const queue_t *self);

#endif
