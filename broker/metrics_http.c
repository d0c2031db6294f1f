/*  metrics_http.c -- GET /metrics on a libmicrohttpd thread; see
    metrics_http.h.  */
#include "metrics_http.h"
#include "llmq_log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define WHO "llmq-broker"
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
    struct MHD_Daemon *daemon;      /* the server and its thread           */
    pthread_mutex_t lock;           /* guards text and text_len            */
    char *text;                     /* exposition served, NULL before any  */
    size_t text_len;                /* bytes in text                       */
    size_t text_alloc;              /* room in text                        */
    uint16_t port;                  /* port bound                          */
    char address[300];              /* HOST:PORT bound                     */
};

static enum MHD_Result
s_reply (struct MHD_Connection *conn, unsigned status, char *body, size_t len,
         const char *type)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        len, body, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free (body);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result rc = MHD_queue_response (conn, status, response);
    MHD_destroy_response (response);
    return rc;
}

static enum MHD_Result
s_text (struct MHD_Connection *conn, unsigned status, const char *text)
{
    char *body = strdup (text);
    return body ? s_reply (conn, status, body, strlen (body), "text/plain")
                : MHD_NO;
}

/*  Runs on the server thread.                                             */
static enum MHD_Result
s_handler (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size,
           void **con_cls)
{
    metrics_http_t *self = cls;
    (void) version;
    (void) upload_data;
    (void) con_cls;
    if (*upload_data_size) {        /* a body we do not want: drop it      */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp (method, MHD_HTTP_METHOD_GET) && strcmp (method, MHD_HTTP_METHOD_HEAD))
        return s_text (conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
    if (strcmp (url, "/") == 0)
        return s_text (conn, MHD_HTTP_OK, "llmq-broker: metrics at /metrics\n");
    if (strcmp (url, "/metrics"))
        return s_text (conn, MHD_HTTP_NOT_FOUND, "not found; metrics at /metrics\n");
    /*  A copy, so the lock is held for a memcpy only and the broker can
        publish the next text while this one is being sent.                */
    pthread_mutex_lock (&self->lock);
    size_t len = self->text_len;
    char *body = self->text ? malloc (len ? len : 1) : NULL;
    bool ready = self->text != NULL;
    if (body)
        memcpy (body, self->text, len);
    pthread_mutex_unlock (&self->lock);
    if (!ready)
        return s_text (conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no metrics yet\n");
    if (!body)
        return MHD_NO;
    return s_reply (conn, MHD_HTTP_OK, body, len, CONTENT_TYPE);
}

static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    (void) cls;
    char text [512];
    vsnprintf (text, sizeof text, fmt, ap);
    size_t len = strlen (text);
    if (len && text [len - 1] == '\n')
        text [len - 1] = 0;
    llmq_log ('W', WHO, "metrics http: %s", text);
}

/*  HOST:PORT or [V6HOST]:PORT -> address; -1 (logged) when invalid.      */
static int
s_resolve (const char *listen, struct sockaddr_storage *addr, bool *ipv6)
{
    char host [256];
    const char *colon = strrchr (listen, ':');
    if (!colon || colon == listen) {
        llmq_log ('E', WHO, "--metrics-listen wants HOST:PORT, not '%s'", listen);
        return -1;
    }
    const char *start = listen, *end = colon;
    if (listen [0] == '[' && colon [-1] == ']') {
        start++;
        end--;
    }
    char *port_end;
    unsigned long port = strtoul (colon + 1, &port_end, 10);
    if (end <= start || (size_t) (end - start) >= sizeof host || *port_end
    ||  colon [1] == 0 || port > 65535) {
        llmq_log ('E', WHO, "--metrics-listen wants HOST:PORT, not '%s'", listen);
        return -1;
    }
    memcpy (host, start, (size_t) (end - start));
    host [end - start] = 0;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE };
    struct addrinfo *found = NULL;
    int rc = getaddrinfo (strcmp (host, "*") ? host : NULL, "0", &hints, &found);
    if (rc != 0 || !found) {
        llmq_log ('E', WHO, "cannot resolve metrics host '%s': %s", host, gai_strerror (rc));
        return -1;
    }
    memcpy (addr, found->ai_addr, found->ai_addrlen);
    *ipv6 = found->ai_family == AF_INET6;
    if (*ipv6)
        ((struct sockaddr_in6 *) addr)->sin6_port = htons ((uint16_t) port);
    else
        ((struct sockaddr_in *) addr)->sin_port = htons ((uint16_t) port);
    freeaddrinfo (found);
    return 0;
}

metrics_http_t *
metrics_http_new (const char *listen)
{
    struct sockaddr_storage addr;
    bool ipv6 = false;
    if (s_resolve (listen, &addr, &ipv6))
        return NULL;
    metrics_http_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    /*  One internal thread with poll: scrapes are rare and small, and the
        thread never competes with the broker for more than a core-moment. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG
                   | (ipv6 ? MHD_USE_IPv6 : 0);
    self->daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_handler, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_CONNECTION_LIMIT, 64u,
        MHD_OPTION_CONNECTION_TIMEOUT, 10u,
        MHD_OPTION_END);
    if (!self->daemon) {
        llmq_log ('E', WHO, "cannot listen for metrics on %s", listen);
        metrics_http_destroy (&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon,
                                                            MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : 0;
    /*  The host as given, the port as bound.                              */
    const char *colon = strrchr (listen, ':');
    snprintf (self->address, sizeof self->address, "%.*s:%u",
              (int) (colon - listen), listen, self->port);
    return self;
}

void
metrics_http_destroy (metrics_http_t **self_p)
{
    metrics_http_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    pthread_mutex_destroy (&self->lock);
    free (self->text);
    free (self);
    *self_p = NULL;
}

uint16_t
metrics_http_port (const metrics_http_t *self)
{
    return self->port;
}

const char *
metrics_http_address (const metrics_http_t *self)
{
    return self->address;
}

int
metrics_http_publish (metrics_http_t *self, const char *text, size_t len)
{
    /*  Grown outside the lock when it must; the copy inside it.           */
    char *fresh = NULL;
    if (len + 1 > self->text_alloc) {
        fresh = malloc (len + len / 2 + 1);
        if (!fresh)
            return -1;
    }
    pthread_mutex_lock (&self->lock);
    char *old = NULL;
    if (fresh) {
        old = self->text;
        self->text = fresh;
        self->text_alloc = len + len / 2 + 1;
    }
    memcpy (self->text, text, len);
    self->text [len] = 0;
    self->text_len = len;
    pthread_mutex_unlock (&self->lock);
    free (old);
    return 0;
}
