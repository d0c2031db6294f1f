/*  names.c -- the names of protocol enums, as they appear on the wire and
    in logs: error codes, priorities, cache policies, backend states.

    The tables are indexed by the enum's number; those numbers are part of
    the protocol (PROTOCOL.md) and never change meaning.
*/
#include "llmq_proto_int.h"

#include <string.h>

static const char *const s_errcode_names [LLMQ_ERR__COUNT] = {
    [LLMQ_ERR_NONE]          = "none",
    [LLMQ_ERR_BAD_REQUEST]   = "bad_request",
    [LLMQ_ERR_UNSUPPORTED]   = "unsupported_version",
    [LLMQ_ERR_TOO_LARGE]     = "too_large",
    [LLMQ_ERR_NO_WORKER]     = "no_worker",
    [LLMQ_ERR_OVERLOADED]    = "overloaded",
    [LLMQ_ERR_RATE_LIMITED]  = "rate_limited",
    [LLMQ_ERR_TIMEOUT]       = "timeout",
    [LLMQ_ERR_CANCELLED]     = "cancelled",
    [LLMQ_ERR_BACKEND]       = "backend_error",
    [LLMQ_ERR_SHUTTING_DOWN] = "shutting_down",
    [LLMQ_ERR_INTERNAL]      = "internal",
    [LLMQ_ERR_FORBIDDEN]     = "forbidden",
    [LLMQ_ERR_NOT_CACHED]    = "not_cached",
    [LLMQ_ERR_WORKER_LOST]   = "worker_lost"
};

const char *
llmq_errcode_name (uint32_t code)
{
    return code < LLMQ_ERR__COUNT ? s_errcode_names [code] : "unknown";
}

llmq_errcode_t
llmq_errcode_from_name (const char *name)
{
    if (name)
        for (uint32_t i = 1; i < LLMQ_ERR__COUNT; i++)
            if (strcmp (name, s_errcode_names [i]) == 0)
                return (llmq_errcode_t) i;
    return LLMQ_ERR_NONE;
}

bool
llmq_errcode_retryable (uint32_t code)
{
    //  Retrying the same request later can succeed for these; the others
    //  need a different request (or a fixed llmq).
    return code == LLMQ_ERR_NO_WORKER || code == LLMQ_ERR_OVERLOADED
        || code == LLMQ_ERR_RATE_LIMITED || code == LLMQ_ERR_TIMEOUT
        || code == LLMQ_ERR_BACKEND || code == LLMQ_ERR_SHUTTING_DOWN
        || code == LLMQ_ERR_WORKER_LOST;
}

static const char *const s_priority_names [LLMQ_PRIO__COUNT] = {
    "critical", "high", "normal", "low", "batch"
};

const char *
llmq_priority_name (uint32_t prio)
{
    return prio < LLMQ_PRIO__COUNT ? s_priority_names [prio] : "unknown";
}

int
llmq_priority_from_name (const char *name, uint32_t *prio)
{
    if (name)
        for (uint32_t i = 0; i < LLMQ_PRIO__COUNT; i++)
            if (strcmp (name, s_priority_names [i]) == 0) {
                if (prio)
                    *prio = i;
                return 0;
            }
    return -1;
}

static const char *const s_cache_names [] = {
    [LLMQ_CACHE_DEFAULT]        = "default",
    [LLMQ_CACHE_BYPASS]         = "bypass",
    [LLMQ_CACHE_REFRESH]        = "refresh",
    [LLMQ_CACHE_ONLY_IF_CACHED] = "only-if-cached"
};
#define S_CACHE_COUNT (sizeof s_cache_names / sizeof s_cache_names [0])

const char *
llmq_cache_policy_name (uint32_t policy)
{
    return policy < S_CACHE_COUNT ? s_cache_names [policy] : "unknown";
}

int
llmq_cache_policy_from_name (const char *name, uint32_t *policy)
{
    if (name)
        for (uint32_t i = 0; i < S_CACHE_COUNT; i++)
            if (strcmp (name, s_cache_names [i]) == 0) {
                if (policy)
                    *policy = i;
                return 0;
            }
    return -1;
}

static const char *const s_backend_names [] = {
    [LLMQ_BACKEND_OK]       = "ok",
    [LLMQ_BACKEND_DEGRADED] = "degraded",
    [LLMQ_BACKEND_DOWN]     = "down"
};
#define S_BACKEND_COUNT (sizeof s_backend_names / sizeof s_backend_names [0])

const char *
llmq_backend_state_name (uint32_t state)
{
    return state < S_BACKEND_COUNT ? s_backend_names [state] : "unknown";
}

int
llmq_backend_state_from_name (const char *name, uint32_t *state)
{
    if (name)
        for (uint32_t i = 0; i < S_BACKEND_COUNT; i++)
            if (strcmp (name, s_backend_names [i]) == 0) {
                if (state)
                    *state = i;
                return 0;
            }
    return -1;
}

static const char *const s_cmd_names [] = {
    [LLMQ_CMD_REQUEST]     = "REQUEST",
    [LLMQ_CMD_CANCEL]      = "CANCEL",
    [LLMQ_CMD_PING]        = "PING",
    [LLMQ_CMD_PONG]        = "PONG",
    [LLMQ_CMD_PARTIAL]     = "PARTIAL",
    [LLMQ_CMD_FINAL]       = "FINAL",
    [LLMQ_CMD_ERROR]       = "ERROR",
    [LLMQ_CMD_READY]       = "READY",
    [LLMQ_CMD_HEARTBEAT]   = "HEARTBEAT",
    [LLMQ_CMD_DISPATCH]    = "DISPATCH",
    [LLMQ_CMD_DISCONNECT]  = "DISCONNECT",
    [LLMQ_CMD_STATS]       = "STATS",
    [LLMQ_CMD_STATS_REPLY] = "STATS_REPLY"
};
#define S_CMD_COUNT (sizeof s_cmd_names / sizeof s_cmd_names [0])

const char *
llmq_cmd_name (uint32_t cmd)
{
    return cmd > 0 && cmd < S_CMD_COUNT ? s_cmd_names [cmd] : "UNKNOWN";
}

llmq_errcode_t
llmq_decode_errcode (llmq_decode_result_t rc)
{
    switch (rc) {
        case LLMQ_DECODE_OK:
            return LLMQ_ERR_NONE;
        case LLMQ_DECODE_VERSION:
        case LLMQ_DECODE_COMMAND:
            return LLMQ_ERR_UNSUPPORTED;
        case LLMQ_DECODE_TOO_LARGE:
        case LLMQ_DECODE_TOO_DEEP:
        case LLMQ_DECODE_TOO_MANY:
        case LLMQ_DECODE_STRING_TOO_LONG:
            return LLMQ_ERR_TOO_LARGE;
        case LLMQ_DECODE_NO_MEMORY:
            return LLMQ_ERR_INTERNAL;
        default:
            return LLMQ_ERR_BAD_REQUEST;
    }
}

const char *
llmq_decode_result_name (llmq_decode_result_t rc)
{
    static const char *const names [] = {
        "ok", "bad signature", "unsupported version", "unknown or unexpected command",
        "malformed msgpack", "frame too large", "nesting too deep", "too many elements",
        "string too long", "missing field", "wrong type", "out of range", "no memory"
    };
    return (unsigned) rc < sizeof names / sizeof names [0] ? names [rc] : "unknown";
}
