/*  backend_mock.c -- the in-process mock backend (no HTTP).

    It answers every call with the deterministic text of mocktext.h over
    the last user message: the first token after --mock-ttft-ms, then one
    token every --mock-tpot-ms. It exists to measure the broker alone, so
    the common benchmark case -- no delays -- answers inside
    llmq_backend_start without allocating: the job lives on the stack and
    the prompt is read where it lies in the DISPATCH frame.

    With delays, each call is a job with one timer in a min-heap (timerq),
    due at its next token (streamed), at its last token (whole answer), or
    at its deadline, whichever comes first. Token i is due at
    start + ttft + i * tpot, computed from the start so that a late loop
    turn does not push every later token back.
*/
#include "backend.h"
#include "mocktext.h"
#include "timerq.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    llmq_timer_t timer;         /* first: the queue hands back its address */
    llmq_call_t *call;          /* the worker's call                       */
    bool on_heap;               /* job and prompt were allocated           */
    const char *prompt;         /* last user message (copied when on_heap) */
    size_t prompt_len;
    bool stream;                /* a PARTIAL per token                     */
    uint32_t n_tokens;          /* answer length                           */
    bool capped;                /* max_tokens cut the answer: "length"     */
    uint32_t prompt_tokens;     /* usage figure                            */
    uint32_t next;              /* streamed: next token to send            */
    uint64_t first_us;          /* streamed: when token 0 went out         */
    char *text;                 /* streamed: the answer so far             */
    size_t text_len;
    size_t text_alloc;
} job_t;

typedef struct {
    llmq_backend_t base;        /* first: we are an llmq_backend_t         */
    llmq_mock_config_t config;  /* delays and answer length                */
    llmq_timerq_t *timers;      /* one timer per delayed job               */
} mock_t;

#define MS 1000ull

/*  The prompt is the content of the last message with role "user", or of
    the last message when no message has that role.                        */
static llmq_str_t
s_prompt (const llmq_wire_request_t *req)
{
    for (uint32_t i = req->n_messages; i > 0; i--)
        if (llmq_str_eq (req->messages [i - 1].role, "user"))
            return req->messages [i - 1].content;
    if (req->n_messages > 0)
        return req->messages [req->n_messages - 1].content;
    return (llmq_str_t) { NULL, 0 };
}

static uint32_t
s_prompt_tokens (const llmq_wire_request_t *req)
{
    uint32_t total = 0;
    for (uint32_t i = 0; i < req->n_messages; i++) {
        const char *content = req->messages [i].content.ptr;
        size_t len = req->messages [i].content.len;
        total += llmq_mock_prompt_tokens (&content, &len, 1);
    }
    return total;
}

static uint64_t
s_token_due (const mock_t *self, const job_t *job, uint32_t i)
{
    return job->call->start_us + self->config.ttft_ms * MS
         + (uint64_t) i * self->config.tpot_ms * MS;
}

/*  When the next thing happens to a job: its next streamed token, or its
    last token for a whole answer.                                         */
static uint64_t
s_next_due (const mock_t *self, const job_t *job)
{
    if (job->stream)
        return s_token_due (self, job, job->next);
    return s_token_due (self, job, job->n_tokens ? job->n_tokens - 1 : 0);
}

/*  Forgets the job, then reports: the worker may reuse the call at once.  */
static void
s_report (mock_t *self, job_t *job, const llmq_outcome_t *outcome)
{
    llmq_timerq_remove (self->timers, &job->timer);
    llmq_call_t *call = job->call;
    call->backend_data = NULL;
    self->base.sink.done (self->base.sink.arg, call, outcome);
    free (job->text);
    if (job->on_heap) {
        free ((char *) job->prompt);
        free (job);
    }
}

static void
s_fail (mock_t *self, job_t *job, uint32_t code, const char *message)
{
    llmq_outcome_t outcome = { .code = code, .message = message,
                               .finish_reason = "", .text = "" };
    s_report (self, job, &outcome);
}

/*  Writes the whole answer into buf (size bytes), or into a heap buffer
    when it does not fit; returns the text or NULL on no memory.           */
static char *
s_answer (const job_t *job, char *buf, size_t size, size_t *len, char **heap)
{
    *heap = NULL;
    while (true) {
        *len = llmq_mock_answer (job->prompt, job->prompt_len, job->n_tokens, buf, size);
        if (*len + 1 < size)
            return buf;                 /* room to spare: not truncated */
        size *= 2;
        free (*heap);
        *heap = buf = malloc (size);
        if (!buf)
            return NULL;
    }
}

static void
s_finish (mock_t *self, job_t *job, uint64_t now_us)
{
    llmq_outcome_t outcome = {
        .code = LLMQ_ERR_NONE,
        .finish_reason = job->capped ? "length" : "stop",
        .usage = { job->prompt_tokens, job->n_tokens },
        .backend_us = now_us - job->call->start_us,
        .message = ""
    };
    char stack [4096];
    char *heap = NULL;
    if (job->stream) {
        outcome.text = job->text ? job->text : "";
        outcome.text_len = job->text_len;
        outcome.ttft_us = (job->n_tokens ? job->first_us : now_us) - job->call->start_us;
    }
    else {
        outcome.text = s_answer (job, stack, sizeof stack, &outcome.text_len, &heap);
        if (!outcome.text) {
            s_fail (self, job, LLMQ_ERR_INTERNAL, "mock backend: out of memory");
            return;
        }
        outcome.ttft_us = outcome.backend_us;
    }
    s_report (self, job, &outcome);
    free (heap);
}

static int
s_append_text (job_t *job, const char *token, size_t len)
{
    if (job->text_len + len + 1 > job->text_alloc) {
        size_t want = job->text_alloc ? job->text_alloc * 2 : 256;
        while (want < job->text_len + len + 1)
            want *= 2;
        char *grown = realloc (job->text, want);
        if (!grown)
            return -1;
        job->text = grown;
        job->text_alloc = want;
    }
    memcpy (job->text + job->text_len, token, len);
    job->text_len += len;
    job->text [job->text_len] = 0;
    return 0;
}

/*  Sends the job's next token as a PARTIAL and keeps it for the FINAL.    */
static int
s_emit_token (mock_t *self, job_t *job, uint64_t now_us)
{
    char stack [256];
    char *token = stack;
    size_t len = llmq_mock_token (job->prompt, job->prompt_len, job->next, stack, sizeof stack);
    char *heap = NULL;
    if (len + 1 >= sizeof stack) {
        /*  Maybe truncated. A token is one prompt word plus a space, or a
            prefix word, so this size always fits.                         */
        size_t size = job->prompt_len + 64;
        token = heap = malloc (size);
        if (!heap)
            return -1;
        len = llmq_mock_token (job->prompt, job->prompt_len, job->next, heap, size);
    }
    int rc = s_append_text (job, token, len);
    if (rc == 0) {
        if (job->next == 0)
            job->first_us = now_us;
        job->next++;
        self->base.sink.partial (self->base.sink.arg, job->call, token, len);
    }
    free (heap);
    return rc;
}

/*  Does whatever is due for the job at now_us: tokens, the final answer,
    or the deadline; otherwise queues its timer for the next event.        */
static void
s_fire (mock_t *self, job_t *job, uint64_t now_us)
{
    while (job->stream && job->next < job->n_tokens
       &&  s_token_due (self, job, job->next) <= now_us)
        if (s_emit_token (self, job, now_us)) {
            s_fail (self, job, LLMQ_ERR_INTERNAL, "mock backend: out of memory");
            return;
        }
    bool complete = job->stream ? job->next == job->n_tokens
                                : s_next_due (self, job) <= now_us;
    if (complete) {
        s_finish (self, job, now_us);
        return;
    }
    if (now_us >= job->call->deadline_us) {
        s_fail (self, job, LLMQ_ERR_TIMEOUT, "mock backend: deadline passed");
        return;
    }
    uint64_t due = s_next_due (self, job);
    if (due > job->call->deadline_us)
        due = job->call->deadline_us;
    if (llmq_timerq_add (self->timers, &job->timer, due))
        s_fail (self, job, LLMQ_ERR_INTERNAL, "mock backend: out of memory");
}

/*  Moves a stack job to the heap, copying the prompt out of the request
    frame, which is gone after llmq_backend_start returns.                 */
static job_t *
s_job_to_heap (const job_t *job)
{
    job_t *copy = malloc (sizeof *copy);
    char *prompt = malloc (job->prompt_len + 1);
    if (!copy || !prompt) {
        free (copy);
        free (prompt);
        return NULL;
    }
    *copy = *job;
    if (job->prompt_len)
        memcpy (prompt, job->prompt, job->prompt_len);
    prompt [job->prompt_len] = 0;
    copy->prompt = prompt;
    copy->on_heap = true;
    llmq_timer_init (&copy->timer);
    return copy;
}

static void
s_start (llmq_backend_t *base, llmq_call_t *call)
{
    mock_t *self = (mock_t *) base;
    const llmq_wire_request_t *req = call->req;
    llmq_str_t prompt = s_prompt (req);
    job_t job = {
        .call = call,
        .prompt = prompt.ptr,
        .prompt_len = prompt.len,
        .stream = req->stream,
        .n_tokens = self->config.tokens,
        .prompt_tokens = s_prompt_tokens (req)
    };
    llmq_timer_init (&job.timer);
    if (req->has_max_tokens && req->max_tokens < job.n_tokens) {
        job.n_tokens = req->max_tokens;
        job.capped = true;
    }
    uint64_t now_us = llmq_now_us ();
    uint64_t last_due = s_token_due (self, &job, job.n_tokens ? job.n_tokens - 1 : 0);
    if (last_due <= now_us || now_us >= call->deadline_us) {
        /*  Everything is due (no delays) or nothing can be: s_fire ends
            the call here and never queues this stack job.                 */
        s_fire (self, &job, now_us);
        return;
    }
    job_t *heap_job = s_job_to_heap (&job);
    if (!heap_job) {
        s_fail (self, &job, LLMQ_ERR_INTERNAL, "mock backend: out of memory");
        return;
    }
    call->backend_data = heap_job;
    s_fire (self, heap_job, now_us);
}

static void
s_cancel (llmq_backend_t *base, llmq_call_t *call)
{
    mock_t *self = (mock_t *) base;
    job_t *job = call->backend_data;
    if (!job)
        return;
    llmq_timerq_remove (self->timers, &job->timer);
    call->backend_data = NULL;
    free (job->text);
    free ((char *) job->prompt);
    free (job);
}

static long
s_timeout_ms (llmq_backend_t *base)
{
    mock_t *self = (mock_t *) base;
    llmq_timer_t *first = llmq_timerq_peek (self->timers);
    if (!first)
        return -1;
    uint64_t now_us = llmq_now_us ();
    if (first->due_us <= now_us)
        return 0;
    return (long) ((first->due_us - now_us + MS - 1) / MS);    /* round up */
}

static size_t
s_fds (llmq_backend_t *base, zmq_pollitem_t *items, size_t max)
{
    (void) base;
    (void) items;
    (void) max;
    return 0;                           /* timers only */
}

static void
s_run (llmq_backend_t *base, const zmq_pollitem_t *items, size_t n)
{
    (void) items;
    (void) n;
    mock_t *self = (mock_t *) base;
    uint64_t now_us = llmq_now_us ();
    llmq_timer_t *timer;
    while ((timer = llmq_timerq_pop_due (self->timers, now_us)))
        s_fire (self, (job_t *) timer, now_us);
}

static void
s_destroy (llmq_backend_t *base)
{
    mock_t *self = (mock_t *) base;
    llmq_timer_t *timer;
    while ((timer = llmq_timerq_peek (self->timers))) {
        job_t *job = (job_t *) timer;
        s_cancel (base, job->call);
    }
    llmq_timerq_destroy (&self->timers);
    free (self);
}

static const llmq_backend_ops_t s_mock_ops = {
    .name = "mock",
    .start = s_start,
    .cancel = s_cancel,
    .timeout_ms = s_timeout_ms,
    .fds = s_fds,
    .run = s_run,
    .destroy = s_destroy
};

llmq_backend_t *
llmq_mock_backend_new (const llmq_mock_config_t *config, const llmq_backend_sink_t *sink)
{
    mock_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->base.ops = &s_mock_ops;
    self->base.sink = *sink;
    self->config = *config;
    self->timers = llmq_timerq_new ();
    if (!self->timers) {
        free (self);
        return NULL;
    }
    return &self->base;
}
