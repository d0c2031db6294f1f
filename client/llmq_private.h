/*  llmq_private.h -- what libllmq's source files share; not installed.

    The public API is llmq.h alone. The library is built from a few
    modules, one concept each:

        llmq_request.c   the request builder, its validation and encoding
        llmq_response.c  responses (from FINAL, ERROR or a local failure),
                         llmq_strerror and llmq_result_name
        llmq_idmap.c     the table of pending requests keyed by request id
        llmq_client.c    the socket, resends, deadlines, callbacks

    Internal functions are prefixed llmqc_ ("llmq client") so they never
    clash with the broker's or worker's llmq_ symbols when everything is
    linked into one test program, and the shared library hides them.

    The codec's request struct is llmq_wire_request_t; llmq_request_t is
    the public, opaque client object of llmq.h.
*/
#ifndef LLMQ_PRIVATE_H_INCLUDED
#define LLMQ_PRIVATE_H_INCLUDED

#include "llmq_proto.h"

#include "llmq.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Request timeout when none was set, in ms (also sent to the broker).   */
#define LLMQC_DEFAULT_TIMEOUT_MS    30000
/*  How long past a request's deadline we still wait for the broker's own
    timeout ERROR before completing it locally: the broker's answer is
    more informative, and clocks of two processes never tick together.    */
#define LLMQC_DEADLINE_MARGIN_MS    250
/*  Random hex characters in a generated request id (128 bits).           */
#define LLMQC_ID_HEX                32

/* ---- request (llmq_request.c) ---------------------------------------- */

/*  LLMQ_OK when the request can be sent: a model, 1..LLMQ_MAX_MESSAGES
    messages, every field inside the protocol's limits. LLMQ_E_INVALID or
    LLMQ_E_TOO_LARGE otherwise.                                           */
llmq_result_t llmqc_request_validate (const llmq_request_t *self);

/*  The id the caller set with llmq_request_set_id for the next send, or
    NULL when one must be generated.                                      */
const char *llmqc_request_user_id (const llmq_request_t *self);

/*  Records the id a blocking call used (llmq_request_id returns it) and
    forgets a caller-set id, so reusing the object gets a fresh one.       */
void llmqc_request_sent_as (llmq_request_t *self, const char *id);

/*  Encodes a validated request as a REQUEST frame into buf, with the given
    id and stream flag. LLMQ_OK, LLMQ_E_NOMEM or LLMQ_E_TOO_LARGE.         */
llmq_result_t llmqc_request_encode (const llmq_request_t *self, const char *id,
                                    bool stream, llmq_buf_t *buf);

/*  The request's timeout in ms (the default when unset).                 */
uint32_t llmqc_request_timeout (const llmq_request_t *self);

/* ---- response (llmq_response.c) -------------------------------------- */

/*  A response for a FINAL. frame/size is the whole frame (kept for
    llmq_response_json). When the FINAL has no text, streamed is used
    (the chunks received), so a stream never loses its text. NULL when
    out of memory.                                                        */
llmq_response_t *llmqc_response_from_final (const llmq_final_t *final,
                                            const void *frame, size_t size,
                                            const char *streamed,
                                            size_t streamed_len);

/*  A response for an ERROR frame (code mapped onto llmq_result_t).        */
llmq_response_t *llmqc_response_from_error (const llmq_error_t *error,
                                            const void *frame, size_t size);

/*  A response for a failure decided here (local timeout, cancel): built
    as if the broker had sent the ERROR, so llmq_response_json works the
    same. message NULL = llmq_strerror (rc).                               */
llmq_response_t *llmqc_response_local (llmq_result_t rc, const char *id,
                                       const char *message);

/*  The protocol code (1..14) as a result; LLMQ_E_PROTOCOL for a code this
    version does not know.                                                */
llmq_result_t llmqc_result_from_code (uint32_t code);

#ifdef __cplusplus
}
#endif

#endif
