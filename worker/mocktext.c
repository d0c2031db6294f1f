/*  mocktext.c -- see mocktext.h.

    The prompt is never copied or tokenised into an array: a word is found
    by scanning, which keeps the functions allocation-free at the price of
    O(prompt_len) per llmq_mock_token call. Callers that want a whole
    answer use llmq_mock_answer, which walks the prompt once per cycle.
*/
#include "mocktext.h"

#include <string.h>

/*  The first three tokens of every answer.  */
static const char *const s_prefix[] = { "Mock", "answer", "to:" };
#define PREFIX_TOKENS 3u

/*  The word cycled when the prompt has none.  */
static const char s_empty_word[] = "empty";

/*  Only ASCII whitespace separates words: prompts are UTF-8, and bytes
    >= 0x80 must stay inside words so a multi-byte character is never cut.  */
static inline int
s_is_space (char c)
{
    //  One compare and a bit test instead of six compares: this runs for
    //  every prompt byte, on the benchmark's hot path. The mask holds bits
    //  9..13 (\t \n \v \f \r) and 32 (' ').
    const unsigned char u = (unsigned char) c;
    return u <= ' ' && ((0x100003E00ull >> u) & 1u);
}

/*  A word of the prompt: start and length.  */
typedef struct {
    const char *ptr;                /* first byte of the word              */
    size_t len;                     /* bytes in the word                   */
} word_t;

/*  Finds the first word at or after *pos; advances *pos past it.
    Returns 0 when there is none left.  */
static int
s_next_word (const char *text, size_t text_len, size_t *pos, word_t *word)
{
    size_t p = *pos;
    while (p < text_len && s_is_space (text [p]))
        p++;
    if (p == text_len)
        return 0;
    size_t start = p;
    while (p < text_len && !s_is_space (text [p]))
        p++;
    word->ptr = text + start;
    word->len = p - start;
    *pos = p;
    return 1;
}

//  Counts word starts: a non-space byte at the start or after a space.
//  It runs over every message of every request to report usage, so it is
//  the mock backend's main cost: on little-endian machines it looks at
//  eight bytes at a time (SWAR), about 3 instructions a byte instead of 9.
static inline unsigned
s_space_bit (unsigned char u)
{
    return (u == ' ') | ((unsigned) (u - '\t') < 5u);  //  \t \n \v \f \r
}

#if defined (__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define S_ONES  0x0101010101010101ull
#define S_HIGH  0x8080808080808080ull
#define S_LOW7  0x7f7f7f7f7f7f7f7full

//  Bit 7 of each byte of w set when that byte is ASCII whitespace.
static inline uint64_t
s_space_mask (uint64_t w)
{
    //  Byte == ' ': x has a zero byte there; (x & 0x7f) + 0x7f carries
    //  into bit 7 for any nonzero low bits, and x's own bit 7 covers the
    //  rest. No carry crosses bytes.
    const uint64_t x = w ^ (S_ONES * ' ');
    const uint64_t is_blank = ~(((x & S_LOW7) + S_LOW7) | x) & S_HIGH;
    //  Byte in 9..13 (and below 0x80): low 7 bits >= 9 and not >= 14.
    const uint64_t low = w & S_LOW7;
    const uint64_t ge9 = low + S_ONES * (0x80 - 9);
    const uint64_t ge14 = low + S_ONES * (0x80 - 14);
    const uint64_t is_ctl = ge9 & ~ge14 & ~w & S_HIGH;
    return is_blank | is_ctl;
}
#endif

static size_t
s_count_words (const char *text, size_t text_len)
{
    const unsigned char *t = (const unsigned char *) text;
    size_t count = 0, i = 0;
    uint64_t prev_space = 1;            //  before the text: "a space"
#if defined (__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    //  Byte k of a word starts a word when it is not a space and byte
    //  k-1 (the previous byte in memory, one byte lower in w) is.
    uint64_t carry = S_HIGH & 0x80;     //  byte 0's "previous was a space"
    for (; i + 8 <= text_len; i += 8) {
        uint64_t w;
        memcpy (&w, t + i, sizeof w);
        const uint64_t space = s_space_mask (w);
        const uint64_t starts = ~space & S_HIGH & ((space << 8) | carry);
        count += (size_t) __builtin_popcountll (starts);
        carry = space >> 56;            //  byte 7's bit to byte 0's place
    }
    prev_space = carry != 0;
#endif
    for (; i < text_len; i++) {
        const unsigned space = s_space_bit (t [i]);
        count += prev_space & (space ^ 1u);
        prev_space = space;
    }
    return count;
}

/*  Word k (0-based) of the cycled prompt; the prompt has n_words >= 1.  */
static word_t
s_word_at (const char *prompt, size_t prompt_len, size_t n_words, uint64_t k)
{
    size_t target = (size_t) (k % n_words), pos = 0;
    word_t word = { NULL, 0 };
    for (size_t index = 0; index <= target; index++) {
        int found = s_next_word (prompt, prompt_len, &pos, &word);
        (void) found;
    }
    return word;
}

/*  Appends len bytes to out at *used, never past out_size - 1.
    Returns 0 once the buffer is full, so callers can stop early.  */
static int
s_append (char *out, size_t out_size, size_t *used, const char *src, size_t len)
{
    size_t room = out_size - 1 - *used;
    size_t copy = len < room ? len : room;
    memcpy (out + *used, src, copy);
    *used += copy;
    return copy == len && *used < out_size - 1;
}

/*  Writes token `index` given the word it holds (for index >= 3).  */
static size_t
s_write_token (uint32_t index, word_t word, char *out, size_t out_size)
{
    if (out_size == 0)
        return 0;
    size_t used = 0;
    if (index > 0)
        s_append (out, out_size, &used, " ", 1);
    s_append (out, out_size, &used, word.ptr, word.len);
    out [used] = '\0';
    return used;
}

size_t
llmq_mock_token (const char *prompt, size_t prompt_len, uint32_t i,
                 char *out, size_t out_size)
{
    word_t word;
    if (i < PREFIX_TOKENS) {
        word.ptr = s_prefix [i];
        word.len = strlen (s_prefix [i]);
    }
    else {
        size_t n_words = prompt ? s_count_words (prompt, prompt_len) : 0;
        if (n_words == 0) {
            word.ptr = s_empty_word;
            word.len = sizeof s_empty_word - 1;
        }
        else
            word = s_word_at (prompt, prompt_len, n_words, i - PREFIX_TOKENS);
    }
    return s_write_token (i, word, out, out_size);
}

size_t
llmq_mock_answer (const char *prompt, size_t prompt_len, uint32_t n_tokens,
                  char *out, size_t out_size)
{
    if (out_size == 0)
        return 0;
    if (!prompt)
        prompt_len = 0;
    //  Whether the prompt has a word at all; counting them would cost a
    //  pass over the whole prompt that the answer rarely needs.
    size_t probe = 0;
    word_t first;
    size_t n_words = prompt_len ? (size_t) s_next_word (prompt, prompt_len, &probe, &first) : 0;
    size_t used = 0, pos = 0;
    int room = 1;
    for (uint32_t index = 0; index < n_tokens && room; index++) {
        word_t word;
        if (index < PREFIX_TOKENS) {
            word.ptr = s_prefix [index];
            word.len = strlen (s_prefix [index]);
        }
        else
        if (n_words == 0) {
            word.ptr = s_empty_word;
            word.len = sizeof s_empty_word - 1;
        }
        else
        if (!s_next_word (prompt, prompt_len, &pos, &word)) {
            pos = 0;            /* end of the prompt: start the next cycle */
            s_next_word (prompt, prompt_len, &pos, &word);
        }
        if (index > 0)
            room = s_append (out, out_size, &used, " ", 1);
        if (room)
            room = s_append (out, out_size, &used, word.ptr, word.len);
    }
    out [used] = '\0';
    return used;
}

uint32_t
llmq_mock_prompt_tokens (const char *const *contents, const size_t *lens, size_t n)
{
    uint64_t total = 0;
    for (size_t index = 0; index < n; index++)
        if (contents [index])
            total += s_count_words (contents [index], lens [index]);
    return total > UINT32_MAX ? UINT32_MAX : (uint32_t) total;
}
