/*  test_reqlog.c -- broker/reqlog.h: the request log line is valid JSON
    (or logfmt) whatever a client put in its strings, and carries the
    fields the README lists.  */
#include "reqlog.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

static reqlog_entry_t
s_entry (void)
{
    reqlog_entry_t e = {
        .id = "req-1", .id_len = 5, .tenant = "acme", .model = "gpt-x",
        .priority = "high", .outcome = "answered", .code = NULL, .cached = false,
        .worker = "w1", .attempts = 1, .queue_us = 12, .ttft_us = 800, .total_us = 1650,
        .broker_us = 9, .prompt_tokens = 12, .completion_tokens = 30, .request_bytes = 312
    };
    return e;
}

Test (reqlog, json_line_has_every_field)
{
    reqlog_entry_t e = s_entry ();
    char line [4096];
    size_t len = reqlog_format (REQLOG_JSON, &e, 1764079323123ull, line, sizeof line);
    cr_assert_eq (len, strlen (line));
    cr_assert_eq (line [len - 1], '\n');
    json_error_t error;
    json_t *root = json_loads (line, 0, &error);
    cr_assert_not_null (root, "not JSON: %s (%s)", line, error.text);
    cr_expect_str_eq (json_string_value (json_object_get (root, "ts")), "2025-11-25T14:02:03.123Z");
    cr_expect_str_eq (json_string_value (json_object_get (root, "msg")), "request");
    cr_expect_str_eq (json_string_value (json_object_get (root, "id")), "req-1");
    cr_expect_str_eq (json_string_value (json_object_get (root, "tenant")), "acme");
    cr_expect_str_eq (json_string_value (json_object_get (root, "outcome")), "answered");
    cr_expect (json_is_null (json_object_get (root, "code")));
    cr_expect (json_is_false (json_object_get (root, "cached")));
    cr_expect_eq (json_integer_value (json_object_get (root, "total_us")), 1650);
    cr_expect_eq (json_integer_value (json_object_get (root, "completion_tokens")), 30);
    cr_expect_eq (json_integer_value (json_object_get (root, "request_bytes")), 312);
    json_decref (root);
}

Test (reqlog, hostile_strings_stay_one_valid_line)
{
    reqlog_entry_t e = s_entry ();
    char id [300];
    memset (id, '"', sizeof id);
    id [0] = '\n';
    id [1] = '\\';
    id [2] = 0x01;
    e.id = id;
    e.id_len = sizeof id;
    e.tenant = "a \"quoted\"\ntenant";
    char line [12288];
    size_t len = reqlog_format (REQLOG_JSON, &e, 0, line, sizeof line);
    cr_assert_eq (strchr (line, '\n'), line + len - 1, "more than one line");
    json_t *root = json_loads (line, 0, NULL);
    cr_assert_not_null (root, "not JSON: %s", line);
    /*  Cut at 256 bytes.                                                  */
    cr_expect_eq (strlen (json_string_value (json_object_get (root, "id"))), 256);
    cr_expect_str_eq (json_string_value (json_object_get (root, "tenant")), "a \"quoted\"\ntenant");
    json_decref (root);

    len = reqlog_format (REQLOG_LOGFMT, &e, 0, line, sizeof line);
    cr_assert_eq (strchr (line, '\n'), line + len - 1, "logfmt: more than one line");
    cr_expect (strstr (line, "tenant=\"a \\\"quoted\\\"\\u000atenant\""), "%s", line);
}

Test (reqlog, logfmt_line)
{
    reqlog_entry_t e = s_entry ();
    e.outcome = "error";
    e.code = "timeout";
    e.worker = NULL;
    char line [4096];
    reqlog_format (REQLOG_LOGFMT, &e, 0, line, sizeof line);
    cr_expect (strncmp (line, "ts=1970-01-01T00:00:00.000Z msg=request id=req-1 tenant=acme "
                              "model=gpt-x priority=high outcome=error code=timeout "
                              "cached=false worker= attempts=1 ", 128) == 0, "%s", line);
    cr_expect (strstr (line, " total_us=1650 "), "%s", line);
}

Test (reqlog, small_buffer_still_ends_the_line)
{
    reqlog_entry_t e = s_entry ();
    char line [40];
    size_t len = reqlog_format (REQLOG_JSON, &e, 0, line, sizeof line);
    cr_assert_lt (len, sizeof line);
    cr_assert_eq (line [len - 1], '\n');
    cr_assert_eq (line [len], 0);
}

Test (reqlog, format_names)
{
    reqlog_format_t f;
    cr_assert_eq (reqlog_format_parse ("json", &f), 0);
    cr_assert_eq (f, REQLOG_JSON);
    cr_assert_eq (reqlog_format_parse ("logfmt", &f), 0);
    cr_assert_eq (f, REQLOG_LOGFMT);
    cr_assert_eq (reqlog_format_parse ("off", &f), 0);
    cr_assert_eq (f, REQLOG_OFF);
    cr_assert_eq (reqlog_format_parse ("xml", &f), -1);
}

Test (reqlog, prompt_sizes_only_when_asked)
{
    reqlog_entry_t e = s_entry ();
    char line [4096];
    reqlog_format (REQLOG_JSON, &e, 0, line, sizeof line);
    cr_expect_null (strstr (line, "prompt_bytes"), "off by default: %s", line);
    cr_expect_null (strstr (line, "\"messages\""), "%s", line);
    e.has_prompt_size = true;
    e.prompt_bytes = 1234;
    e.messages = 3;
    reqlog_format (REQLOG_JSON, &e, 0, line, sizeof line);
    json_error_t error;
    json_t *root = json_loads (line, 0, &error);
    cr_assert_not_null (root, "not JSON: %s (%s)", line, error.text);
    cr_expect_eq (json_integer_value (json_object_get (root, "prompt_bytes")), 1234);
    cr_expect_eq (json_integer_value (json_object_get (root, "messages")), 3);
    json_decref (root);
    reqlog_format (REQLOG_LOGFMT, &e, 0, line, sizeof line);
    cr_expect_not_null (strstr (line, " prompt_bytes=1234 messages=3"), "%s", line);
}
