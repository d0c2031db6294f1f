/*  util.c -- the small helpers every component needs: a monotonic clock and
    llmq_str_t conveniences.
*/
#include "llmq_proto_int.h"

#include <string.h>
#include <time.h>

uint64_t
llmq_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

bool
llmq_str_eq (llmq_str_t s, const char *lit)
{
    if (!lit)
        return s.ptr == NULL;
    size_t n = strlen (lit);
    return s.ptr && s.len == n && memcmp (s.ptr, lit, n) == 0;
}

llmq_str_t
llmq_str (const char *s)
{
    llmq_str_t r = { s, s ? (uint32_t) strlen (s) : 0 };
    return r;
}
