/*  test_worker_mock.c -- the worker's in-process mock backend
    (backend_mock.c): its text (mocktext.h), usage, max_tokens cap, timing
    on timers, deadline and cancel. Timing checks are lower bounds on the
    configured delays plus generous upper bounds, so a loaded machine does
    not make them fail.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "backend.h"
#include "mocktext.h"

#define MAX_PARTIALS 64

typedef struct {
    char partials [MAX_PARTIALS][64];
    uint64_t partial_us [MAX_PARTIALS];
    int n_partials;
    bool done;
    int n_done;
    uint64_t done_us;
    llmq_outcome_t outcome;
    char text [4096];
    char finish [32];
    char message [256];
} result_t;

static void
s_on_partial (void *arg, llmq_call_t *call, const char *text, size_t len)
{
    (void) call;
    result_t *r = arg;
    cr_assert_lt (r->n_partials, MAX_PARTIALS);
    r->partial_us [r->n_partials] = llmq_now_us ();
    snprintf (r->partials [r->n_partials++], 64, "%.*s", (int) len, text);
}

static void
s_on_done (void *arg, llmq_call_t *call, const llmq_outcome_t *o)
{
    result_t *r = arg;
    cr_assert_null (call->backend_data);
    r->outcome = *o;
    r->done_us = llmq_now_us ();
    snprintf (r->text, sizeof r->text, "%.*s", (int) o->text_len, o->text);
    snprintf (r->finish, sizeof r->finish, "%s", o->finish_reason);
    snprintf (r->message, sizeof r->message, "%s", o->message);
    r->done = true;
    r->n_done++;
}

static llmq_backend_t *
s_mock (uint32_t ttft_ms, uint32_t tpot_ms, uint32_t tokens, result_t *r)
{
    memset (r, 0, sizeof *r);
    llmq_backend_sink_t sink = { .arg = r, .partial = s_on_partial, .done = s_on_done };
    llmq_mock_config_t cfg = { .ttft_ms = ttft_ms, .tpot_ms = tpot_ms, .tokens = tokens };
    llmq_backend_t *b = llmq_mock_backend_new (&cfg, &sink);
    cr_assert_not_null (b);
    cr_assert_str_eq (llmq_backend_name (b), "mock");
    return b;
}

static llmq_chat_msg_t s_msgs [] = {
    { .role = { "system", 6 }, .content = { "You are terse", 13 } },
    { .role = { "user", 4 }, .content = { "first question", 14 } },
    { .role = { "assistant", 9 }, .content = { "an answer", 9 } },
    { .role = { "user", 4 }, .content = { "tell me about zeromq", 20 } }
};

static llmq_wire_request_t
s_request (bool stream)
{
    llmq_wire_request_t req = {
        .model = { "mock", 4 }, .messages = s_msgs, .n_messages = 4, .stream = stream
    };
    return req;
}

static llmq_call_t
s_call (const llmq_wire_request_t *req, uint32_t budget_ms)
{
    uint64_t now = llmq_now_us ();
    llmq_call_t call = { .rid = 1, .req = req, .upstream_model = "mock",
                         .start_us = now, .deadline_us = now + budget_ms * 1000ull };
    return call;
}

static void
s_pump_until (llmq_backend_t *b, const bool *flag)
{
    uint64_t deadline = llmq_now_us () + 10000000;
    while (!*flag) {
        cr_assert_lt (llmq_now_us (), deadline, "mock did not finish in time");
        long timeout = llmq_backend_timeout_ms (b);
        cr_assert_geq (timeout, 0, "a pending call must have a timer");
        zmq_poll (NULL, 0, timeout);
        llmq_backend_run (b, NULL, 0);
    }
}

static uint32_t
s_expected_prompt_tokens (void)
{
    const char *contents [4];
    size_t lens [4];
    for (int i = 0; i < 4; i++) {
        contents [i] = s_msgs [i].content.ptr;
        lens [i] = s_msgs [i].content.len;
    }
    return llmq_mock_prompt_tokens (contents, lens, 4);
}

Test (mock_backend, whole_answer_at_once)
{
    result_t r;
    llmq_backend_t *b = s_mock (0, 0, 16, &r);
    llmq_wire_request_t req = s_request (false);
    llmq_call_t call = s_call (&req, 1000);
    llmq_backend_start (b, &call);
    cr_assert (r.done, "no delays: answered inside start");
    cr_assert_null (call.backend_data);
    char expected [4096];
    llmq_mock_answer ("tell me about zeromq", 20, 16, expected, sizeof expected);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_NONE);
    cr_assert_str_eq (r.text, expected, "last user message is the prompt");
    cr_assert_str_eq (r.finish, "stop");
    cr_assert_eq (r.outcome.usage.completion_tokens, 16);
    cr_assert_eq (r.outcome.usage.prompt_tokens, s_expected_prompt_tokens ());
    cr_assert_eq (r.outcome.ttft_us, r.outcome.backend_us);
    cr_assert_eq (r.n_partials, 0);
    cr_assert_eq (llmq_backend_timeout_ms (b), -1, "nothing pending");
    llmq_backend_destroy (&b);
    cr_assert_null (b);
}

Test (mock_backend, streamed_tokens_join_to_answer)
{
    result_t r;
    llmq_backend_t *b = s_mock (0, 0, 9, &r);
    llmq_wire_request_t req = s_request (true);
    llmq_call_t call = s_call (&req, 1000);
    llmq_backend_start (b, &call);
    cr_assert (r.done);
    cr_assert_eq (r.n_partials, 9);
    char joined [4096] = "";
    for (int i = 0; i < r.n_partials; i++) {
        char token [64];
        llmq_mock_token ("tell me about zeromq", 20, (uint32_t) i, token, sizeof token);
        cr_assert_str_eq (r.partials [i], token, "token %d", i);
        strcat (joined, r.partials [i]);
    }
    char expected [4096];
    llmq_mock_answer ("tell me about zeromq", 20, 9, expected, sizeof expected);
    cr_assert_str_eq (joined, expected);
    cr_assert_str_eq (r.text, expected, "FINAL carries the whole text");
    llmq_backend_destroy (&b);
}

Test (mock_backend, max_tokens_caps_with_length)
{
    result_t r;
    llmq_backend_t *b = s_mock (0, 0, 16, &r);
    llmq_wire_request_t req = s_request (true);
    req.has_max_tokens = true;
    req.max_tokens = 5;
    llmq_call_t call = s_call (&req, 1000);
    llmq_backend_start (b, &call);
    cr_assert_eq (r.n_partials, 5);
    cr_assert_str_eq (r.finish, "length");
    cr_assert_eq (r.outcome.usage.completion_tokens, 5);
    /*  A max_tokens above the mock length does not cap.                   */
    memset (&r, 0, sizeof r);
    req.max_tokens = 100;
    req.stream = false;
    call = s_call (&req, 1000);
    llmq_backend_start (b, &call);
    cr_assert_str_eq (r.finish, "stop");
    cr_assert_eq (r.outcome.usage.completion_tokens, 16);
    llmq_backend_destroy (&b);
}

Test (mock_backend, prompt_falls_back_to_last_message)
{
    result_t r;
    llmq_backend_t *b = s_mock (0, 0, 6, &r);
    llmq_chat_msg_t sys = { .role = { "system", 6 }, .content = { "only system here", 16 } };
    llmq_wire_request_t req = s_request (false);
    req.messages = &sys;
    req.n_messages = 1;
    llmq_call_t call = s_call (&req, 1000);
    llmq_backend_start (b, &call);
    char expected [256];
    llmq_mock_answer ("only system here", 16, 6, expected, sizeof expected);
    cr_assert_str_eq (r.text, expected);
    llmq_backend_destroy (&b);
}

Test (mock_backend, long_prompt_words_are_not_truncated)
{
    result_t r;
    llmq_backend_t *b = s_mock (0, 0, 4, &r);
    static char word [3000];
    memset (word, 'w', sizeof word - 1);
    llmq_chat_msg_t msg = { .role = { "user", 4 }, .content = { word, sizeof word - 1 } };
    llmq_wire_request_t req = s_request (true);
    req.messages = &msg;
    req.n_messages = 1;
    llmq_call_t call = s_call (&req, 1000);
    llmq_backend_start (b, &call);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_NONE);
    cr_assert_eq (r.outcome.text_len, strlen ("Mock answer to:") + 1 + sizeof word - 1);
    llmq_backend_destroy (&b);
}

Test (mock_backend, delays_run_on_timers)
{
    result_t r;
    llmq_backend_t *b = s_mock (60, 15, 5, &r);
    llmq_wire_request_t req = s_request (true);
    llmq_call_t call = s_call (&req, 5000);
    llmq_backend_start (b, &call);
    cr_assert_not (r.done, "nothing before ttft");
    cr_assert_eq (r.n_partials, 0);
    cr_assert_not_null (call.backend_data);
    long timeout = llmq_backend_timeout_ms (b);
    cr_assert_gt (timeout, 40);
    cr_assert_leq (timeout, 60);
    s_pump_until (b, &r.done);
    cr_assert_eq (r.n_partials, 5);
    cr_assert_geq (r.partial_us [0] - call.start_us, 60000, "first token after ttft");
    for (int i = 1; i < 5; i++)
        cr_assert_geq (r.partial_us [i] - call.start_us, 60000 + 15000ull * (uint64_t) i,
                       "token %d on its schedule", i);
    cr_assert_geq (r.outcome.ttft_us, 60000);
    cr_assert_geq (r.outcome.backend_us, 60000 + 4 * 15000);
    cr_assert_lt (r.outcome.backend_us, 2000000);
    cr_assert_leq (r.outcome.ttft_us, r.outcome.backend_us);
    llmq_backend_destroy (&b);
}

Test (mock_backend, whole_answer_after_all_delays)
{
    result_t r;
    llmq_backend_t *b = s_mock (20, 10, 4, &r);
    llmq_wire_request_t req = s_request (false);
    llmq_call_t call = s_call (&req, 5000);
    llmq_backend_start (b, &call);
    cr_assert_not (r.done);
    s_pump_until (b, &r.done);
    cr_assert_eq (r.n_partials, 0);
    cr_assert_geq (r.done_us - call.start_us, 20000 + 3 * 10000);
    cr_assert_eq (r.outcome.usage.completion_tokens, 4);
    llmq_backend_destroy (&b);
}

Test (mock_backend, many_calls_interleave)
{
    result_t r;
    llmq_backend_t *b = s_mock (10, 5, 3, &r);
    llmq_wire_request_t req = s_request (false);
    llmq_call_t calls [20];
    for (int i = 0; i < 20; i++) {
        calls [i] = s_call (&req, 5000);
        calls [i].rid = (uint64_t) i;
        llmq_backend_start (b, &calls [i]);
    }
    uint64_t deadline = llmq_now_us () + 10000000;
    while (r.n_done < 20) {
        cr_assert_lt (llmq_now_us (), deadline);
        zmq_poll (NULL, 0, llmq_backend_timeout_ms (b));
        llmq_backend_run (b, NULL, 0);
    }
    cr_assert_eq (llmq_backend_timeout_ms (b), -1);
    llmq_backend_destroy (&b);
}

Test (mock_backend, deadline_gives_timeout)
{
    result_t r;
    llmq_backend_t *b = s_mock (0, 50, 10, &r);
    llmq_wire_request_t req = s_request (true);
    llmq_call_t call = s_call (&req, 120);
    llmq_backend_start (b, &call);
    s_pump_until (b, &r.done);
    cr_assert_eq (r.outcome.code, LLMQ_ERR_TIMEOUT);
    cr_assert_gt (r.n_partials, 0, "tokens before the deadline went out");
    cr_assert_lt (r.n_partials, 10);
    cr_assert_geq (r.done_us - call.start_us, 120000);
    cr_assert_lt (r.done_us - call.start_us, 2000000);
    llmq_backend_destroy (&b);
}

Test (mock_backend, cancel_reports_nothing)
{
    result_t r;
    llmq_backend_t *b = s_mock (30, 0, 4, &r);
    llmq_wire_request_t req = s_request (true);
    llmq_call_t a = s_call (&req, 5000), c = s_call (&req, 5000);
    a.rid = 1;
    c.rid = 2;
    llmq_backend_start (b, &a);
    llmq_backend_start (b, &c);
    llmq_backend_cancel (b, &a);
    cr_assert_null (a.backend_data);
    llmq_backend_cancel (b, &a);       /* twice: harmless */
    s_pump_until (b, &r.done);
    cr_assert_eq (r.n_done, 1, "only the call not cancelled answered");
    cr_assert_eq (r.n_partials, 4);
    /*  Destroy with a call still pending frees it without reporting.      */
    memset (&r, 0, sizeof r);
    llmq_call_t d = s_call (&req, 5000);
    llmq_backend_start (b, &d);
    llmq_backend_destroy (&b);
    cr_assert_not (r.done);
}
