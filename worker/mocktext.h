/*  mocktext.h -- the deterministic text both mock backends answer with.

    The worker's in-process `mock` backend and the `llmq-mockllm` HTTP
    server must give byte-identical answers, so tests can check any answer
    against these functions without knowing which backend produced it.

    The answer for a prompt and a token budget n is

        "Mock answer to:" followed by the words of the prompt, cycled,

    n tokens in all: the three prefix words are tokens 0..2, token 3 is the
    first prompt word, and so on. Every token after the first carries one
    leading space, so joining tokens 0..n-1 gives exactly the whole answer.
    Words are split on ASCII whitespace; a prompt with no words cycles the
    word "empty".

    Nothing here allocates or keeps state: all functions are reentrant and
    cost O(prompt_len + output) per call.
*/
#ifndef LLMQ_MOCKTEXT_H_INCLUDED
#define LLMQ_MOCKTEXT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Deterministic mock answer: "Mock answer to: " then the words of prompt
    cycled, n_tokens tokens in all (the 3 prefix words count). Returns bytes
    written (NUL-terminated, truncated to out_size-1). out_size 0 writes
    nothing and returns 0. prompt may be NULL when prompt_len is 0.        */
size_t llmq_mock_answer (const char *prompt, size_t prompt_len, uint32_t n_tokens,
                         char *out, size_t out_size);

/*  Token i (0-based) of that answer, with its leading space for i > 0;
    returns its length (bytes written: NUL-terminated, truncated to
    out_size-1 like llmq_mock_answer).                                     */
size_t llmq_mock_token (const char *prompt, size_t prompt_len, uint32_t i,
                        char *out, size_t out_size);

/*  Rough prompt token count used for usage figures (words in all
    messages). A NULL content counts as no words.                          */
uint32_t llmq_mock_prompt_tokens (const char *const *contents, const size_t *lens,
                                  size_t n);

#ifdef __cplusplus
}
#endif

#endif
