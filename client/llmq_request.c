/*  llmq_request.c -- the request builder (llmq_request_t in llmq.h).

    A request is a plain object: the caller fills it with setters, and the
    client encodes it into a REQUEST frame when it is sent. Setters check
    what they can at once (a bad priority name fails where it is written);
    llmqc_request_validate checks the whole before anything goes out, so
    the broker only ever sees requests it will accept.

    The messages are kept as the codec's llmq_chat_msg_t array, pointing
    at our own copies of the strings, so encoding needs no conversion and
    no allocation beyond the frame buffer.
*/
#include "llmq_private.h"

#include <stdlib.h>
#include <string.h>

struct llmq_request {
    char *model;                    //  Model name (owned); NULL = unset
    llmq_chat_msg_t *messages;      //  Chat messages; strings owned by us
    uint32_t n_messages;            //  Messages in use
    uint32_t alloc_messages;        //  Messages allocated
    char *user_id;                  //  Id set by the caller for next send
    char *sent_id;                  //  Id the last blocking call used
    bool has_max_tokens;            //  max_tokens was set
    uint32_t max_tokens;            //  Answer length limit
    bool has_temperature;           //  temperature was set
    double temperature;             //  Sampling temperature, 0..2
    bool has_top_p;                 //  top_p was set
    double top_p;                   //  Nucleus sampling, (0..1]
    bool has_seed;                  //  seed was set
    int64_t seed;                   //  Sampling seed
    char *stop [LLMQ_MAX_STOP];     //  Stop sequences (owned)
    uint32_t n_stop;                //  Stop sequences in use
    uint32_t priority;              //  llmq_priority_t
    uint32_t timeout_ms;            //  Deadline; 0 = the default
    uint32_t cache;                 //  llmq_cache_policy_t
    char *tenant;                   //  Tenant (owned) or NULL
};

//  Frees a string the request owns through a codec slice. The slices are
//  const for the codec's sake; the bytes are ours (strdup'ed).
static void
s_str_free (llmq_str_t *s)
{
    free ((void *) s->ptr);
    s->ptr = NULL;
    s->len = 0;
}

//  Copies s (len bytes) into a slice; -1 when out of memory.
static int
s_str_dup (llmq_str_t *out, const char *s, size_t len)
{
    char *copy = malloc (len + 1);
    if (!copy)
        return -1;
    memcpy (copy, s, len + 1);
    out->ptr = copy;
    out->len = (uint32_t) len;
    return 0;
}

//  Replaces *field with a copy of value (NULL clears it); 0 or -1.
static int
s_set_string (char **field, const char *value)
{
    char *copy = NULL;
    if (value && !(copy = strdup (value)))
        return -1;
    free (*field);
    *field = copy;
    return 0;
}

llmq_request_t *
llmq_request_new (const char *model)
{
    llmq_request_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->priority = LLMQ_PRIO_NORMAL;
    self->cache = LLMQ_CACHE_DEFAULT;
    if (model && s_set_string (&self->model, model)) {
        free (self);
        return NULL;
    }
    return self;
}

void
llmq_request_destroy (llmq_request_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    llmq_request_t *self = *self_p;
    llmq_request_clear_messages (self);
    free (self->messages);
    for (uint32_t i = 0; i < self->n_stop; i++)
        free (self->stop [i]);
    free (self->model);
    free (self->user_id);
    free (self->sent_id);
    free (self->tenant);
    free (self);
    *self_p = NULL;
}

llmq_result_t
llmq_request_add_message (llmq_request_t *self, const char *role, const char *content)
{
    if (!self || !role || !content)
        return LLMQ_E_INVALID;
    size_t role_len = strlen (role);
    size_t content_len = strlen (content);
    if (role_len == 0 || role_len > LLMQ_MAX_NAME)
        return LLMQ_E_INVALID;
    if (self->n_messages >= LLMQ_MAX_MESSAGES || content_len > LLMQ_MAX_STRING)
        return LLMQ_E_TOO_LARGE;
    if (self->n_messages == self->alloc_messages) {
        uint32_t alloc = self->alloc_messages ? self->alloc_messages * 2 : 4;
        llmq_chat_msg_t *messages = realloc (self->messages, alloc * sizeof *messages);
        if (!messages)
            return LLMQ_E_NOMEM;
        self->messages = messages;
        self->alloc_messages = alloc;
    }
    llmq_chat_msg_t *msg = &self->messages [self->n_messages];
    memset (msg, 0, sizeof *msg);
    if (s_str_dup (&msg->role, role, role_len))
        return LLMQ_E_NOMEM;
    if (s_str_dup (&msg->content, content, content_len)) {
        s_str_free (&msg->role);
        return LLMQ_E_NOMEM;
    }
    self->n_messages++;
    return LLMQ_OK;
}

void
llmq_request_clear_messages (llmq_request_t *self)
{
    if (!self)
        return;
    for (uint32_t i = 0; i < self->n_messages; i++) {
        s_str_free (&self->messages [i].role);
        s_str_free (&self->messages [i].content);
    }
    self->n_messages = 0;
}

llmq_result_t
llmq_request_set_id (llmq_request_t *self, const char *id)
{
    if (!self || !id || !*id || strlen (id) > LLMQ_MAX_ID)
        return LLMQ_E_INVALID;
    return s_set_string (&self->user_id, id)? LLMQ_E_NOMEM: LLMQ_OK;
}

const char *
llmq_request_id (const llmq_request_t *self)
{
    if (!self)
        return NULL;
    return self->user_id? self->user_id: self->sent_id;
}

void
llmq_request_set_max_tokens (llmq_request_t *self, uint32_t max_tokens)
{
    if (!self)
        return;
    self->has_max_tokens = true;
    self->max_tokens = max_tokens;
}

void
llmq_request_set_temperature (llmq_request_t *self, double temperature)
{
    if (!self)
        return;
    self->has_temperature = true;
    self->temperature = temperature;
}

void
llmq_request_set_top_p (llmq_request_t *self, double top_p)
{
    if (!self)
        return;
    self->has_top_p = true;
    self->top_p = top_p;
}

void
llmq_request_set_seed (llmq_request_t *self, int64_t seed)
{
    if (!self)
        return;
    self->has_seed = true;
    self->seed = seed;
}

llmq_result_t
llmq_request_add_stop (llmq_request_t *self, const char *stop)
{
    if (!self || !stop || !*stop || strlen (stop) > LLMQ_MAX_NAME)
        return LLMQ_E_INVALID;
    if (self->n_stop >= LLMQ_MAX_STOP)
        return LLMQ_E_TOO_LARGE;
    if (!(self->stop [self->n_stop] = strdup (stop)))
        return LLMQ_E_NOMEM;
    self->n_stop++;
    return LLMQ_OK;
}

llmq_result_t
llmq_request_set_priority (llmq_request_t *self, uint32_t priority)
{
    if (!self || priority >= LLMQ_PRIO__COUNT)
        return LLMQ_E_INVALID;
    self->priority = priority;
    return LLMQ_OK;
}

void
llmq_request_set_timeout (llmq_request_t *self, uint32_t timeout_ms)
{
    if (self)
        self->timeout_ms = timeout_ms;
}

llmq_result_t
llmq_request_set_cache (llmq_request_t *self, const char *policy)
{
    if (!self || !policy)
        return LLMQ_E_INVALID;
    for (uint32_t p = LLMQ_CACHE_DEFAULT; p <= LLMQ_CACHE_ONLY_IF_CACHED; p++)
        if (strcmp (policy, llmq_cache_policy_name (p)) == 0) {
            self->cache = p;
            return LLMQ_OK;
        }
    return LLMQ_E_INVALID;
}

llmq_result_t
llmq_request_set_tenant (llmq_request_t *self, const char *tenant)
{
    if (!self || (tenant && (!*tenant || strlen (tenant) > LLMQ_MAX_NAME)))
        return LLMQ_E_INVALID;
    return s_set_string (&self->tenant, tenant)? LLMQ_E_NOMEM: LLMQ_OK;
}

/* ---- internal --------------------------------------------------------- */

llmq_result_t
llmqc_request_validate (const llmq_request_t *self)
{
    if (!self || !self->model || !*self->model || strlen (self->model) > LLMQ_MAX_NAME)
        return LLMQ_E_INVALID;
    if (self->n_messages == 0)
        return LLMQ_E_INVALID;
    //  The negated forms also reject NaN, which compares false to all.
    if (self->has_temperature && !(self->temperature >= 0 && self->temperature <= 2))
        return LLMQ_E_INVALID;
    if (self->has_top_p && !(self->top_p > 0 && self->top_p <= 1))
        return LLMQ_E_INVALID;
    return LLMQ_OK;
}

const char *
llmqc_request_user_id (const llmq_request_t *self)
{
    return self->user_id;
}

void
llmqc_request_sent_as (llmq_request_t *self, const char *id)
{
    //  Out of memory here only loses what llmq_request_id reports; the
    //  request itself has been sent already.
    if (s_set_string (&self->sent_id, id)) {
        free (self->sent_id);
        self->sent_id = NULL;
    }
    free (self->user_id);
    self->user_id = NULL;
}

uint32_t
llmqc_request_timeout (const llmq_request_t *self)
{
    return self->timeout_ms? self->timeout_ms: LLMQC_DEFAULT_TIMEOUT_MS;
}

llmq_result_t
llmqc_request_encode (const llmq_request_t *self, const char *id, bool stream,
                      llmq_buf_t *buf)
{
    llmq_wire_request_t wire;
    memset (&wire, 0, sizeof wire);
    wire.id = llmq_str (id);
    wire.model = llmq_str (self->model);
    wire.messages = self->messages;
    wire.n_messages = self->n_messages;
    wire.has_max_tokens = self->has_max_tokens;
    wire.max_tokens = self->max_tokens;
    wire.has_temperature = self->has_temperature;
    wire.temperature = self->temperature;
    wire.has_top_p = self->has_top_p;
    wire.top_p = self->top_p;
    wire.has_seed = self->has_seed;
    wire.seed = self->seed;
    for (uint32_t i = 0; i < self->n_stop; i++)
        wire.stop [i] = llmq_str (self->stop [i]);
    wire.n_stop = self->n_stop;
    wire.stream = stream;
    wire.priority = self->priority;
    wire.timeout_ms = llmqc_request_timeout (self);
    wire.cache = self->cache;
    wire.tenant = llmq_str (self->tenant);
    if (llmq_encode_request (buf, &wire))
        return LLMQ_E_NOMEM;
    //  The broker refuses bigger frames (ZMQ_MAXMSGSIZE drops them without
    //  a word), so say so here rather than wait for a timeout.
    if (buf->size > LLMQ_MAX_MSG_SIZE)
        return LLMQ_E_TOO_LARGE;
    return LLMQ_OK;
}
