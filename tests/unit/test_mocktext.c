/*  test_mocktext.c -- the deterministic mock answer (worker/mocktext.h).

    Both mock backends and many integration tests rely on these exact
    strings, so the tests pin the text itself, not just its properties.
*/
#include <criterion/criterion.h>
#include <string.h>

#include "mocktext.h"

#define P(s) (s), strlen (s)

Test (mocktext, answer_cycles_words_after_prefix)
{
    char out [256];
    size_t n = llmq_mock_answer (P ("hello big world"), 8, out, sizeof out);
    cr_assert_str_eq (out, "Mock answer to: hello big world hello big");
    cr_assert_eq (n, strlen (out));
}

Test (mocktext, prefix_words_count_as_tokens)
{
    char out [64];
    cr_assert_eq (llmq_mock_answer (P ("hi"), 0, out, sizeof out), 0);
    cr_assert_str_eq (out, "");
    llmq_mock_answer (P ("hi"), 1, out, sizeof out);
    cr_assert_str_eq (out, "Mock");
    llmq_mock_answer (P ("hi"), 3, out, sizeof out);
    cr_assert_str_eq (out, "Mock answer to:");
    llmq_mock_answer (P ("hi"), 4, out, sizeof out);
    cr_assert_str_eq (out, "Mock answer to: hi");
}

Test (mocktext, splits_on_any_ascii_whitespace)
{
    char out [128];
    llmq_mock_answer (P ("  a\tb\n\r c  "), 7, out, sizeof out);
    cr_assert_str_eq (out, "Mock answer to: a b c a");
}

Test (mocktext, empty_prompt_cycles_empty)
{
    char out [128];
    llmq_mock_answer ("", 0, 5, out, sizeof out);
    cr_assert_str_eq (out, "Mock answer to: empty empty");
    llmq_mock_answer (P (" \t\n "), 4, out, sizeof out);
    cr_assert_str_eq (out, "Mock answer to: empty");
    llmq_mock_answer (NULL, 0, 4, out, sizeof out);
    cr_assert_str_eq (out, "Mock answer to: empty");
    llmq_mock_token (NULL, 0, 9, out, sizeof out);
    cr_assert_str_eq (out, " empty");
}

Test (mocktext, utf8_bytes_stay_inside_words)
{
    char out [128];
    llmq_mock_answer (P ("h\xc3\xa9llo w\xc3\xb6rld"), 6, out, sizeof out);
    cr_assert_str_eq (out, "Mock answer to: h\xc3\xa9llo w\xc3\xb6rld h\xc3\xa9llo");
}

Test (mocktext, prompt_len_bounds_the_prompt)
{
    /*  Not NUL-terminated input: only prompt_len bytes are read.  */
    char out [128];
    llmq_mock_answer ("one two three", 7, 6, out, sizeof out);
    cr_assert_str_eq (out, "Mock answer to: one two one");
}

Test (mocktext, tokens_concatenate_to_answer)
{
    const char *prompts [] = { "", "x", "the quick  brown fox\n", "  lead and trail  " };
    for (size_t p = 0; p < sizeof prompts / sizeof prompts [0]; p++)
        for (uint32_t n = 0; n < 40; n++) {
            char whole [1024], joined [1024], token [64];
            size_t used = 0;
            llmq_mock_answer (P (prompts [p]), n, whole, sizeof whole);
            for (uint32_t i = 0; i < n; i++) {
                size_t len = llmq_mock_token (P (prompts [p]), i, token, sizeof token);
                cr_assert_eq (len, strlen (token));
                memcpy (joined + used, token, len);
                used += len;
            }
            joined [used] = '\0';
            cr_assert_str_eq (joined, whole, "prompt %zu n %u", p, n);
        }
}

Test (mocktext, token_has_leading_space_after_first)
{
    char token [32];
    cr_assert_eq (llmq_mock_token (P ("alpha beta"), 0, token, sizeof token), 4);
    cr_assert_str_eq (token, "Mock");
    llmq_mock_token (P ("alpha beta"), 2, token, sizeof token);
    cr_assert_str_eq (token, " to:");
    llmq_mock_token (P ("alpha beta"), 4, token, sizeof token);
    cr_assert_str_eq (token, " beta");
    llmq_mock_token (P ("alpha beta"), 5, token, sizeof token);
    cr_assert_str_eq (token, " alpha");
}

Test (mocktext, answer_truncates_and_terminates)
{
    char out [8];
    memset (out, 'X', sizeof out);
    size_t n = llmq_mock_answer (P ("words here"), 100, out, sizeof out);
    cr_assert_eq (n, 7);
    cr_assert_str_eq (out, "Mock an");
    char none [1] = { 'X' };
    cr_assert_eq (llmq_mock_answer (P ("a"), 5, none, 0), 0);
    cr_assert_eq (none [0], 'X', "out_size 0 must not write");
    cr_assert_eq (llmq_mock_answer (P ("a"), 5, none, 1), 0);
    cr_assert_eq (none [0], '\0');
}

Test (mocktext, huge_token_budget_stops_at_buffer)
{
    char out [100];
    size_t n = llmq_mock_answer (P ("a b"), UINT32_MAX, out, sizeof out);
    cr_assert_eq (n, sizeof out - 1);
    cr_assert_eq (strlen (out), n);
}

Test (mocktext, token_truncates)
{
    char token [4];
    size_t n = llmq_mock_token (P ("abcdefgh"), 3, token, sizeof token);
    cr_assert_eq (n, 3);
    cr_assert_str_eq (token, " ab");
}

Test (mocktext, prompt_tokens_counts_words_in_all_messages)
{
    const char *contents [] = { "You are helpful.", NULL, "  hi  there  ", "" };
    size_t lens [] = { 16, 0, 13, 0 };
    cr_assert_eq (llmq_mock_prompt_tokens (contents, lens, 4), 5);
    cr_assert_eq (llmq_mock_prompt_tokens (contents, lens, 0), 0);
}

//  The word count reads eight bytes at a time; against the obvious count
//  over random text of every length and alignment, made of the bytes that
//  matter (each whitespace, its neighbours, high bytes).
static size_t
s_reference_words (const char *text, size_t len)
{
    size_t count = 0;
    int in_word = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text [i];
        int space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
        if (!space && !in_word)
            count++;
        in_word = !space;
    }
    return count;
}

Test (mocktext, prompt_tokens_match_a_plain_count)
{
    static const char alphabet [] = {
        ' ', '\t', '\n', '\v', '\f', '\r', 0x08, 0x0e, 0x1f, 0x21, 'a', 0x7f,
        (char) 0x80, (char) 0x89, (char) 0xa0, (char) 0xc3, (char) 0xff, 0
    };
    char text [80];
    uint64_t x = 88172645463325252ull;
    for (int round = 0; round < 20000; round++) {
        for (size_t i = 0; i < sizeof text; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            text [i] = alphabet [x % sizeof alphabet];
        }
        size_t start = (size_t) (x >> 20) % 8;
        size_t len = (size_t) (x >> 30) % (sizeof text - start);
        const char *p = text + start;
        cr_assert_eq (llmq_mock_prompt_tokens (&p, &len, 1), s_reference_words (p, len),
                      "round %d: start %zu len %zu", round, start, len);
    }
}
