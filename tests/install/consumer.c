/*  consumer.c -- a program that uses an INSTALLED libllmq, as a service
    would: built by check.sh through pkg-config and through
    find_package(llmq). It needs no broker: it checks that the header
    compiles on its own, that the library links and runs, and that a
    request to an endpoint where nobody listens ends in a timeout.
*/
#include <llmq.h>

#include <stdio.h>
#include <string.h>

int
main (void)
{
    if (strcmp (llmq_strerror (LLMQ_E_TIMEOUT), llmq_strerror (LLMQ_OK)) == 0) {
        fprintf (stderr, "consumer: llmq_strerror does not tell codes apart\n");
        return 1;
    }
    //  Port 1 on loopback: nothing listens, the connect is asynchronous.
    llmq_client_t *client = llmq_client_new ("tcp://127.0.0.1:1");
    llmq_request_t *req = llmq_request_new ("mock");
    if (!client || !req || llmq_request_add_message (req, "user", "hello") != LLMQ_OK) {
        fprintf (stderr, "consumer: cannot create a client or a request\n");
        return 1;
    }
    llmq_response_t *resp = NULL;
    llmq_result_t rc = llmq_chat (client, req, 100, &resp);
    if (rc != LLMQ_E_TIMEOUT || resp != NULL || llmq_pending (client) != 0) {
        fprintf (stderr, "consumer: expected a timeout, got %s\n", llmq_result_name (rc));
        return 1;
    }
    printf ("consumer: libllmq %s works (%s: %s)\n", LLMQ_CLIENT_VERSION,
            llmq_result_name (rc), llmq_strerror (rc));
    llmq_request_destroy (&req);
    llmq_client_destroy (&client);
    return 0;
}
