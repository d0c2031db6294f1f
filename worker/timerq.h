/*  timerq.h -- a queue of timers ordered by due time (indexed min-heap).

    The mock backend keeps one timer per running request (its next token or
    its deadline). A timer is a small struct embedded in the owner's struct
    (put it first and cast back, or use offsetof); the queue stores
    pointers, never copies, and writes the timer's heap position into it so
    that removing a cancelled request's timer is O(log n) rather than a
    search.

    Costs: add, remove, pop O(log n); peek O(1). Timers with the same due
    time come out in no particular order.
*/
#ifndef LLMQ_TIMERQ_H_INCLUDED
#define LLMQ_TIMERQ_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t due_us;            /* when it fires (llmq_now_us clock)       */
    size_t index;               /* heap position; SIZE_MAX when not queued */
} llmq_timer_t;

typedef struct llmq_timerq llmq_timerq_t;

/*  Marks a timer as not queued; call once before first use.               */
void llmq_timer_init (llmq_timer_t *timer);
bool llmq_timer_queued (const llmq_timer_t *timer);

llmq_timerq_t *llmq_timerq_new (void);
/*  Timers still queued are forgotten, not freed: their owners own them.   */
void llmq_timerq_destroy (llmq_timerq_t **self_p);

/*  Queues timer to fire at due_us; a timer already queued is moved.
    0, or -1 on no memory (timer left as it was).                          */
int llmq_timerq_add (llmq_timerq_t *self, llmq_timer_t *timer, uint64_t due_us);
/*  Takes timer out of the queue; harmless when it is not queued.          */
void llmq_timerq_remove (llmq_timerq_t *self, llmq_timer_t *timer);
/*  The earliest timer, left queued; NULL when empty.                      */
llmq_timer_t *llmq_timerq_peek (const llmq_timerq_t *self);
/*  The earliest timer if it is due at now_us, removed; else NULL.         */
llmq_timer_t *llmq_timerq_pop_due (llmq_timerq_t *self, uint64_t now_us);
size_t llmq_timerq_size (const llmq_timerq_t *self);

#endif
