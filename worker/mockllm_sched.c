/*  mockllm_sched.c -- see mockllm_sched.h.

    The waiting connections sit in a binary min-heap ordered by wake-up
    time: O(log n) insert and pop, O(1) peek at the next deadline, which is
    all a timer thread needs. The thread sleeps on a condition variable with
    a CLOCK_MONOTONIC deadline, the same clock as llmq_now_us, so a change of
    wall-clock time cannot stretch a delay.

    Connections are resumed with the lock released: MHD_resume_connection
    takes libmicrohttpd's own lock, and holding ours across it would order
    the two locks differently from the handler threads (which hold MHD's
    state while calling mockllm_sched_wait, which takes ours).
*/
#include "mockllm_sched.h"

#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "llmq_proto.h"

/*  One waiting connection.  */
typedef struct {
    uint64_t due_us;                /* wake-up (or next hang check) time   */
    struct MHD_Connection *conn;    /* suspended connection                */
    int fd;                         /* socket to watch for a hang, or -1   */
    atomic_bool *gone;              /* set when a hung client has left     */
} entry_t;

struct mockllm_sched {
    pthread_mutex_t lock;           /* guards everything below             */
    pthread_cond_t wake;            /* new earliest entry, or stop         */
    pthread_t thread;               /* the timer thread                    */
    entry_t *heap;                  /* min-heap on due_us                  */
    size_t size;                    /* entries in heap                     */
    size_t alloc;                   /* entries allocated                   */
    bool stopping;                  /* no new waits; thread drains, exits  */
    bool joined;                    /* thread already joined               */
};

static void
s_swap (entry_t *a, entry_t *b)
{
    entry_t tmp = *a;
    *a = *b;
    *b = tmp;
}

static void
s_sift_up (entry_t *heap, size_t index)
{
    while (index > 0) {
        size_t parent = (index - 1) / 2;
        if (heap [parent].due_us <= heap [index].due_us)
            break;
        s_swap (&heap [parent], &heap [index]);
        index = parent;
    }
}

static void
s_sift_down (entry_t *heap, size_t size, size_t index)
{
    while (true) {
        size_t least = index, left = 2 * index + 1, right = left + 1;
        if (left < size && heap [left].due_us < heap [least].due_us)
            least = left;
        if (right < size && heap [right].due_us < heap [least].due_us)
            least = right;
        if (least == index)
            break;
        s_swap (&heap [least], &heap [index]);
        index = least;
    }
}

/*  Lock held. -1 when the heap cannot grow.  */
static int
s_push (mockllm_sched_t *self, entry_t entry)
{
    if (self->size == self->alloc) {
        size_t alloc = self->alloc ? self->alloc * 2 : 64;
        entry_t *heap = realloc (self->heap, alloc * sizeof *heap);
        if (!heap)
            return -1;
        self->heap = heap;
        self->alloc = alloc;
    }
    self->heap [self->size] = entry;
    s_sift_up (self->heap, self->size++);
    return 0;
}

/*  Lock held; heap not empty.  */
static entry_t
s_pop (mockllm_sched_t *self)
{
    entry_t top = self->heap [0];
    self->heap [0] = self->heap [--self->size];
    s_sift_down (self->heap, self->size, 0);
    return top;
}

/*  True once the peer has shut down its side (or the socket failed).
    POLLRDHUP is reported even when unread request bytes are pending.  */
static bool
s_peer_gone (int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLRDHUP };
    if (poll (&pfd, 1, 0) < 0)
        return false;           /* EINTR: look again at the next check */
    return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

static void
s_deadline (struct timespec *ts, uint64_t due_us)
{
    ts->tv_sec = (time_t) (due_us / 1000000);
    ts->tv_nsec = (long) (due_us % 1000000) * 1000;
}

/*  Lock held. Pops every entry that is due into out (at most max) and
    re-queues hang entries whose client is still there.  */
static size_t
s_collect_due (mockllm_sched_t *self, entry_t *out, size_t max)
{
    size_t count = 0;
    uint64_t now = llmq_now_us ();
    while (count < max && self->size > 0 && self->heap [0].due_us <= now) {
        entry_t entry = s_pop (self);
        if (entry.fd >= 0) {
            if (!s_peer_gone (entry.fd)) {
                entry.due_us = now + MOCKLLM_SCHED_HANG_MS * 1000;
                s_push (self, entry);   /* cannot fail: we just popped one */
                continue;
            }
            atomic_store (entry.gone, true);
        }
        out [count++] = entry;
    }
    return count;
}

static void *
s_thread_main (void *arg)
{
    mockllm_sched_t *self = (mockllm_sched_t *) arg;
    entry_t due [64];
    pthread_mutex_lock (&self->lock);
    while (!self->stopping) {
        size_t count = s_collect_due (self, due, sizeof due / sizeof due [0]);
        if (count > 0) {
            pthread_mutex_unlock (&self->lock);
            for (size_t index = 0; index < count; index++)
                MHD_resume_connection (due [index].conn);
            pthread_mutex_lock (&self->lock);
            continue;
        }
        if (self->size == 0)
            pthread_cond_wait (&self->wake, &self->lock);
        else {
            struct timespec ts;
            s_deadline (&ts, self->heap [0].due_us);
            pthread_cond_timedwait (&self->wake, &self->lock, &ts);
        }
    }
    /*  Stopping: wake everyone so libmicrohttpd can be stopped.  */
    while (self->size > 0) {
        entry_t entry = s_pop (self);
        pthread_mutex_unlock (&self->lock);
        MHD_resume_connection (entry.conn);
        pthread_mutex_lock (&self->lock);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

mockllm_sched_t *
mockllm_sched_new (void)
{
    mockllm_sched_t *self = (mockllm_sched_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->wake, &attr);
    pthread_condattr_destroy (&attr);
    pthread_mutex_init (&self->lock, NULL);
    if (pthread_create (&self->thread, NULL, s_thread_main, self) != 0) {
        self->joined = true;
        mockllm_sched_destroy (&self);
    }
    return self;
}

void
mockllm_sched_stop (mockllm_sched_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    bool joined = self->joined;
    self->joined = true;
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    if (!joined)
        pthread_join (self->thread, NULL);
}

void
mockllm_sched_destroy (mockllm_sched_t **self_p)
{
    mockllm_sched_t *self = *self_p;
    if (!self)
        return;
    mockllm_sched_stop (self);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self->heap);
    free (self);
    *self_p = NULL;
}

static int
s_add (mockllm_sched_t *self, entry_t entry)
{
    int rc = -1;
    pthread_mutex_lock (&self->lock);
    if (!self->stopping && s_push (self, entry) == 0) {
        /*  Suspended while we hold the lock, so the timer thread cannot
            resume it before it is suspended.  */
        MHD_suspend_connection (entry.conn);
        if (self->heap [0].conn == entry.conn)
            pthread_cond_signal (&self->wake);
        rc = 0;
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
mockllm_sched_wait (mockllm_sched_t *self, struct MHD_Connection *conn,
                    uint64_t due_us)
{
    entry_t entry = { .due_us = due_us, .conn = conn, .fd = -1, .gone = NULL };
    return s_add (self, entry);
}

int
mockllm_sched_hang (mockllm_sched_t *self, struct MHD_Connection *conn,
                    int fd, atomic_bool *gone)
{
    entry_t entry = {
        .due_us = llmq_now_us () + MOCKLLM_SCHED_HANG_MS * 1000,
        .conn = conn, .fd = fd, .gone = gone
    };
    return s_add (self, entry);
}

uint32_t
mockllm_sched_waiting (mockllm_sched_t *self)
{
    pthread_mutex_lock (&self->lock);
    uint32_t size = (uint32_t) self->size;
    pthread_mutex_unlock (&self->lock);
    return size;
}
