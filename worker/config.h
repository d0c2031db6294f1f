/*  config.h -- llmq-worker's settings and its command line.

    main.c parses the command line into an llmq_worker_config_t and hands
    it to the worker; tests build one by hand or parse an argv of their own.
    Parsing lives here rather than in main.c so it can be tested.

    Models: --model takes NAME, a comma-separated list, or served=upstream
    pairs; it can be repeated. The broker only ever sees the served name;
    the backend is sent the upstream name:

        --model gpt-small=Qwen/Qwen2.5-0.5B-Instruct,mock
*/
#ifndef LLMQ_WORKER_CONFIG_H_INCLUDED
#define LLMQ_WORKER_CONFIG_H_INCLUDED

#include "backend.h"
#include "llmq_proto.h"

#include <stdio.h>

#define LLMQ_WORKER_DEFAULT_BROKER      "tcp://127.0.0.1:5556"
#define LLMQ_WORKER_DEFAULT_SLOTS       16
#define LLMQ_WORKER_DEFAULT_TIMEOUT_MS  120000
#define LLMQ_WORKER_DEFAULT_MOCK_TOKENS 16

typedef enum {
    LLMQ_WORKER_BACKEND_MOCK = 0,   /* in-process, backend_mock.c          */
    LLMQ_WORKER_BACKEND_OPENAI      /* HTTP, backend_openai.c              */
} llmq_worker_backend_kind_t;

typedef struct {
    char *served;                   /* the name the broker routes on       */
    char *upstream;                 /* the name sent to the backend        */
} llmq_model_map_t;

typedef struct {
    const char *broker;             /* endpoint of the broker's worker side*/
    llmq_worker_backend_kind_t backend;
    const char *url;                /* openai: base URL                    */
    const char *api_key_env;        /* name of the variable with the key   */
    const char *api_key;            /* its value (from getenv); never logged*/
    llmq_model_map_t models [LLMQ_MAX_MODELS];  /* owned, see clear        */
    uint32_t n_models;
    uint32_t slots;                 /* calls run at once                   */
    char id [LLMQ_MAX_ID + 1];      /* worker id, default hostname-pid     */
    uint32_t heartbeat_ms;          /* interval, both directions           */
    uint32_t liveness;              /* silent intervals before reconnecting*/
    uint32_t request_timeout_ms;    /* cap on one backend call             */
    llmq_mock_config_t mock;        /* mock backend delays and length      */
    bool verbose;                   /* debug lines                         */
} llmq_worker_config_t;

/*  The defaults of every setting (no models yet).                         */
void llmq_worker_config_init (llmq_worker_config_t *cfg);

/*  Parses argv over the defaults. 0: run; 1: --help or --version was
    printed to out, exit 0; -1: a usage error was printed to err, exit 2.
    Leaves cfg to be cleared in every case.                                */
int llmq_worker_config_parse (llmq_worker_config_t *cfg, int argc, char **argv,
                              FILE *out, FILE *err);

/*  Adds models from one --model argument. 0 or -1 (reason in err).        */
int llmq_worker_config_add_models (llmq_worker_config_t *cfg, const char *arg,
                                   char *err, size_t err_size);

/*  The served model names joined with ',' into out (truncated).          */
void llmq_worker_config_models_csv (const llmq_worker_config_t *cfg,
                                    char *out, size_t out_size);

/*  The model entry for a served name, or NULL if not served.             */
const llmq_model_map_t *llmq_worker_config_find_model (const llmq_worker_config_t *cfg,
                                                       llmq_str_t served);

/*  Frees the model names.                                                 */
void llmq_worker_config_clear (llmq_worker_config_t *cfg);

#endif
