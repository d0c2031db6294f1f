/*  test_worker_config.c -- llmq-worker's command line (config.c).  */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/*  Parses a NULL-terminated argument list (argv [0] added).               */
static int
s_parse (llmq_worker_config_t *cfg, const char *const *args, char *out, char *err)
{
    char *argv [32] = { "llmq-worker" };
    int argc = 1;
    for (int i = 0; args [i]; i++)
        argv [argc++] = (char *) args [i];
    FILE *o = fmemopen (out, 4096, "w");
    FILE *e = fmemopen (err, 4096, "w");
    llmq_worker_config_init (cfg);
    int rc = llmq_worker_config_parse (cfg, argc, argv, o, e);
    fclose (o);
    fclose (e);
    return rc;
}

Test (worker_config, defaults)
{
    char out [4096] = "", err [4096] = "";
    llmq_worker_config_t cfg;
    const char *args [] = { NULL };
    cr_assert_eq (s_parse (&cfg, args, out, err), 0, "%s", err);
    cr_assert_str_eq (cfg.broker, "tcp://127.0.0.1:5556");
    cr_assert_eq (cfg.backend, LLMQ_WORKER_BACKEND_MOCK);
    cr_assert_eq (cfg.n_models, 1);
    cr_assert_str_eq (cfg.models [0].served, "mock");
    cr_assert_eq (cfg.slots, 16);
    cr_assert_eq (cfg.heartbeat_ms, LLMQ_HEARTBEAT_MS);
    cr_assert_eq (cfg.liveness, 3);
    cr_assert_eq (cfg.request_timeout_ms, 120000);
    cr_assert_eq (cfg.mock.ttft_ms, 0);
    cr_assert_eq (cfg.mock.tpot_ms, 0);
    cr_assert_eq (cfg.mock.tokens, 16);
    cr_assert_not (cfg.verbose);
    cr_assert_not_null (strchr (cfg.id, '-'), "hostname-pid: %s", cfg.id);
    cr_assert_null (cfg.api_key);
    llmq_worker_config_clear (&cfg);
}

Test (worker_config, everything_set)
{
    char out [4096] = "", err [4096] = "";
    llmq_worker_config_t cfg;
    setenv ("LLMQ_TEST_KEY", "sk-test", 1);
    const char *args [] = {
        "--broker=tcp://10.0.0.1:7000", "--backend", "openai",
        "--url", "http://127.0.0.1:8000/v1", "--api-key-env", "LLMQ_TEST_KEY",
        "--model", "small=Qwen/Qwen2.5-0.5B,big", "--model", "other",
        "--slots", "4", "--id", "gpu-3", "--heartbeat-ms", "250", "--liveness", "5",
        "--request-timeout", "9000", "--mock-ttft-ms", "7", "--mock-tpot-ms", "3",
        "--mock-tokens", "32", "-v", NULL
    };
    cr_assert_eq (s_parse (&cfg, args, out, err), 0, "%s", err);
    cr_assert_str_eq (cfg.broker, "tcp://10.0.0.1:7000");
    cr_assert_eq (cfg.backend, LLMQ_WORKER_BACKEND_OPENAI);
    cr_assert_str_eq (cfg.url, "http://127.0.0.1:8000/v1");
    cr_assert_str_eq (cfg.api_key, "sk-test");
    cr_assert_eq (cfg.n_models, 3);
    cr_assert_str_eq (cfg.models [0].served, "small");
    cr_assert_str_eq (cfg.models [0].upstream, "Qwen/Qwen2.5-0.5B");
    cr_assert_str_eq (cfg.models [1].served, "big");
    cr_assert_str_eq (cfg.models [1].upstream, "big");
    cr_assert_str_eq (cfg.models [2].served, "other");
    cr_assert_eq (cfg.slots, 4);
    cr_assert_str_eq (cfg.id, "gpu-3");
    cr_assert_eq (cfg.heartbeat_ms, 250);
    cr_assert_eq (cfg.liveness, 5);
    cr_assert_eq (cfg.request_timeout_ms, 9000);
    cr_assert_eq (cfg.mock.ttft_ms, 7);
    cr_assert_eq (cfg.mock.tpot_ms, 3);
    cr_assert_eq (cfg.mock.tokens, 32);
    cr_assert (cfg.verbose);
    const llmq_model_map_t *m = llmq_worker_config_find_model (&cfg, llmq_str ("small"));
    cr_assert_not_null (m);
    cr_assert_str_eq (m->upstream, "Qwen/Qwen2.5-0.5B");
    cr_assert_null (llmq_worker_config_find_model (&cfg, llmq_str ("Qwen/Qwen2.5-0.5B")),
                    "only served names are routable");
    char csv [128];
    llmq_worker_config_models_csv (&cfg, csv, sizeof csv);
    cr_assert_str_eq (csv, "small,big,other");
    llmq_worker_config_clear (&cfg);
    unsetenv ("LLMQ_TEST_KEY");
}

Test (worker_config, help_and_version)
{
    char out [4096] = "", err [4096] = "";
    llmq_worker_config_t cfg;
    const char *help [] = { "--help", NULL };
    cr_assert_eq (s_parse (&cfg, help, out, err), 1);
    const char *flags [] = {
        "--broker", "--backend", "--url", "--api-key-env", "--model", "--slots", "--id",
        "--heartbeat-ms", "--liveness", "--request-timeout", "--mock-ttft-ms",
        "--mock-tpot-ms", "--mock-tokens", "--verbose", "--help", "--version"
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags [0]; i++)
        cr_assert_not_null (strstr (out, flags [i]), "--help does not mention %s", flags [i]);
    llmq_worker_config_clear (&cfg);
    const char *version [] = { "--version", NULL };
    cr_assert_eq (s_parse (&cfg, version, out, err), 1);
    cr_assert_not_null (strstr (out, LLMQ_VERSION_STRING));
    llmq_worker_config_clear (&cfg);
}

Test (worker_config, usage_errors)
{
    const char *const cases [][6] = {
        { "--backend", "vllm", NULL },
        { "--backend", "openai", "--model", "m", NULL },          /* no --url */
        { "--backend", "openai", "--url", "http://x/v1", NULL },  /* no model */
        { "--slots", "0", NULL },
        { "--slots", "-1", NULL },
        { "--slots", "12abc", NULL },
        { "--heartbeat-ms", "", NULL },
        { "--model", "=x", NULL },
        { "--model", "a=", NULL },
        { "--model", "a,a", NULL },
        { "--api-key-env", "LLMQ_TEST_SURELY_UNSET_VAR", NULL },
        { "--nope", NULL },
        { "stray", NULL },
        { "--id", "", NULL },
        { "--mock-tok", "5", NULL },                               /* prefix */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char out [4096] = "", err [4096] = "";
        llmq_worker_config_t cfg;
        cr_assert_eq (s_parse (&cfg, cases [i], out, err), -1, "case %zu accepted", i);
        cr_assert_not_null (strstr (err, "llmq-worker: "), "case %zu: no message", i);
        llmq_worker_config_clear (&cfg);
    }
}

Test (worker_config, api_key_is_never_on_the_command_line)
{
    char out [4096] = "", err [4096] = "";
    llmq_worker_config_t cfg;
    /*  getopt_long would take "--api-key" as "--api-key-env" and then
        name the key in its complaint about the variable; we refuse it.    */
    const char *args [] = { "--api-key", "sk-123", NULL };
    cr_assert_eq (s_parse (&cfg, args, out, err), -1);
    cr_assert_null (strstr (err, "sk-123"), "the key was echoed: %s", err);
    cr_assert_not_null (strstr (err, "in full"), "%s", err);
    llmq_worker_config_clear (&cfg);
    const char *eq [] = { "--api-key=sk-123", NULL };
    cr_assert_eq (s_parse (&cfg, eq, out, err), -1);
    cr_assert_null (strstr (err, "sk-123"), "the key was echoed: %s", err);
    llmq_worker_config_clear (&cfg);
    const char *bogus [] = { "--apikey=sk-123", NULL };
    cr_assert_eq (s_parse (&cfg, bogus, out, err), -1);
    cr_assert_null (strstr (err, "sk-123"), "the key was echoed: %s", err);
    llmq_worker_config_clear (&cfg);
}
