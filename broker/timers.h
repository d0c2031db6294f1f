/*  timers.h -- deadlines in a binary min-heap with cancellable handles.

    The broker keeps one or two timers per request (its deadline, and the
    grace period while no worker serves its model). Requests usually end
    long before their deadline, so timers are cancelled far more often
    than they fire; an indexed heap removes a cancelled timer at once
    instead of leaving it to rot until its time (lazy deletion would let
    the heap grow with the request rate times the default timeout).

    Each timer carries a kind and a 64-bit argument (the broker uses the
    request's rid) and is named by a handle that stays valid until the
    timer fires or is cancelled; handles are then reused.

    Complexity: add, cancel, pop O(log n); next O(1). Memory: 24 bytes
    per timer in the heap plus 4 per handle, grown by doubling.
*/
#ifndef LLMQ_BROKER_TIMERS_H_INCLUDED
#define LLMQ_BROKER_TIMERS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIMER_NONE UINT32_MAX       /* "no timer" handle                   */

typedef struct timers timers_t;

timers_t *timers_new (void);
void timers_destroy (timers_t **self_p);

/*  Arms a timer; returns its handle, or TIMER_NONE when out of memory.    */
uint32_t timers_add (timers_t *self, uint64_t when_us, uint32_t kind, uint64_t arg);
/*  Disarms a timer that has not fired yet. TIMER_NONE is ignored.          */
void timers_cancel (timers_t *self, uint32_t handle);
/*  The earliest deadline; false when no timer is armed.                   */
bool timers_next (const timers_t *self, uint64_t *when_us);
/*  Removes the earliest timer if it is due (when_us <= now_us) and gives
    its kind and argument; false when none is due.                         */
bool timers_pop_due (timers_t *self, uint64_t now_us, uint32_t *kind, uint64_t *arg);
size_t timers_size (const timers_t *self);

#endif
