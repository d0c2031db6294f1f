/*  test_config_file.c -- the broker's YAML config file (broker/config_file.h): a
    full example parses into broker and scheduler settings, flags-only
    keys are applied when set, free-form sections are kept by path, and
    every kind of mistake is refused with the file name and line.  */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config_file.h"

static const char *s_example =
    "# llmq-broker example\n"
    "broker:\n"
    "  clients: tcp://127.0.0.1:7000\n"
    "  max_queue: 500\n"
    "  max_queue_bytes: 1048576\n"
    "  request_timeout_ms: 30000\n"
    "  verbose: true\n"
    "scheduler:\n"
    "  aging_ms: { high: 1000, normal: 2000, low: 3000, batch: 60000 }\n"
    "  default_max_tokens: 512\n"
    "defaults:\n"
    "  weight: 1\n"
    "  rpm: 600\n"
    "tenants:\n"
    "  web:\n"
    "    weight: 3\n"
    "    max_in_flight: 20\n"
    "  etl:\n"
    "    mode: reject\n"
    "    order: edf\n"
    "    rps: 5\n"
    "    burst: 10\n"
    "    tpm: 100000\n"
    "    max_queued: 100\n"
    "    models: [gpt-4o-mini]\n"
    "models:\n"
    "  gpt-4o:\n"
    "    max_in_flight: 32\n"
    "    rpm: 500\n"
    "    fallbacks: [gpt-4o-mini]\n"
    "monitoring:\n"
    "  stats_interval_ms: 500\n"
    "  log_format: json\n"
    "cache:\n"
    "  memory: 1M\n"
    "  ttl_ms: 60000\n"
    "security:\n"
    "  api_keys: { k1: web }\n";

static config_t *
s_parse (const char *text, char *error, size_t size)
{
    error[0] = 0;
    return config_parse ("test.yaml", text, strlen (text), error, size);
}

Test (config, full_example)
{
    char error[256];
    config_t *cfg = s_parse (s_example, error, sizeof error);
    cr_assert (cfg, "%s", error);
    broker_config_t bc;
    broker_config_defaults (&bc);
    config_apply_broker (cfg, &bc);
    cr_assert_str_eq (bc.clients_ep, "tcp://127.0.0.1:7000");
    cr_assert_str_eq (bc.workers_ep, "tcp://*:5556", "unset keys keep their value");
    cr_assert_eq (bc.max_queue, 500);
    cr_assert_eq (bc.max_queue_bytes, 1048576);
    cr_assert_eq (bc.request_timeout_ms, 30000);
    cr_assert (bc.verbose);
    const sched_config_t *sc = config_sched (cfg);
    cr_assert_eq (sc->aging_ms[LLMQ_PRIO_HIGH], 1000);
    cr_assert_eq (sc->aging_ms[LLMQ_PRIO_BATCH], 60000);
    cr_assert_eq (sc->default_max_tokens, 512);
    cr_assert_float_eq (sc->defaults.rpm, 600, 1e-9);
    cr_assert_eq (sc->n_tenants, 2);
    cr_assert_str_eq (sc->tenants[0].name, "web");
    cr_assert_eq (sc->tenants[0].weight, 3);
    cr_assert_float_eq (sc->tenants[0].rpm, 600, 1e-9, "inherits the defaults");
    cr_assert_eq (sc->tenants[0].max_in_flight, 20);
    cr_assert_eq (sc->tenants[1].mode, SCHED_MODE_REJECT);
    cr_assert (sc->tenants[1].edf);
    cr_assert_not (sc->tenants[0].edf);
    cr_assert_float_eq (sc->tenants[1].tpm, 100000, 1e-9);
    cr_assert_eq (sc->tenants[1].n_models, 1);
    cr_assert_str_eq (sc->tenants[1].models[0], "gpt-4o-mini");
    cr_assert_eq (sc->n_models, 1);
    cr_assert_eq (sc->models[0].max_in_flight, 32);
    cr_assert_str_eq (sc->models[0].fallbacks[0], "gpt-4o-mini");
    cr_assert_eq (bc.stats_interval_ms, 500);
    cr_assert_str_eq (bc.log_format, "json");
    cr_assert_eq (bc.cache.ttl_ms, 60000);
    cr_assert_eq (bc.cache.memory_bytes, 1u << 20);
    cr_assert_str_eq (config_value (cfg, "security.api_keys.k1"), "web");
    cr_assert_null (config_value (cfg, "security.nothing"));
    config_destroy (&cfg);
    cr_assert_null (cfg);
}

Test (config, empty_file_is_all_defaults)
{
    char error[256];
    config_t *cfg = s_parse ("", error, sizeof error);
    cr_assert (cfg, "%s", error);
    cr_assert_eq (config_sched (cfg)->aging_ms[LLMQ_PRIO_NORMAL], 5000);
    cr_assert_eq (config_sched (cfg)->defaults.weight, 1);
    config_destroy (&cfg);
}

/*  The text fails with a message naming test.yaml:line and containing what. */
static void
s_refused (const char *text, int line, const char *what)
{
    char error[256];
    config_t *cfg = s_parse (text, error, sizeof error);
    cr_assert_null (cfg, "accepted: %s", text);
    char prefix[64];
    snprintf (prefix, sizeof prefix, "test.yaml:%d:", line);
    cr_assert (strncmp (error, prefix, strlen (prefix)) == 0, "'%s' wanted %s", error, prefix);
    cr_assert (strstr (error, what), "'%s' wanted '%s'", error, what);
}

Test (config, mistakes_name_the_line)
{
    s_refused ("broker:\n  max_queue: 10\n  max_qeue: 5\n", 3, "unknown key 'broker.max_qeue'");
    s_refused ("broker:\n  max_queue: -1\n", 2, "whole number");
    s_refused ("tenants:\n  a:\n    weight: 0\n", 3, "weight");
    s_refused ("tenants:\n  a:\n    mode: drop\n", 3, "queue or reject");
    s_refused ("tenants:\n  a:\n    rps: fast\n", 3, "number");
    s_refused ("tenants:\n  a:\n    colour: blue\n", 3, "unknown tenant setting");
    s_refused ("models:\n  m:\n    rpm: [1]\n", 3, "single value");
    s_refused ("scheduler:\n  aging_ms: { urgent: 5 }\n", 2, "unknown priority");
    s_refused ("nonsense: 1\n", 1, "unknown section");
    s_refused ("broker:\n  verbose: maybe\n", 2, "true or false");
    s_refused ("broker: [\n", 2, "");
    s_refused ("- a\n- b\n", 1, "mapping");
    s_refused ("cache:\n  ttl_ms: 5\n  colour: red\n", 3, "bad cache setting");
    s_refused ("monitoring:\n  log_format: xml\n", 2, "off, json or logfmt");
}

Test (config, load_from_file_and_missing_file)
{
    char path[] = "/tmp/llmq-config-XXXXXX";
    int fd = mkstemp (path);
    cr_assert (fd >= 0);
    FILE *f = fdopen (fd, "w");
    fputs ("tenants:\n  a:\n    weight: 2\n", f);
    fclose (f);
    char error[256];
    config_t *cfg = config_load (path, error, sizeof error);
    cr_assert (cfg, "%s", error);
    cr_assert_eq (config_sched (cfg)->tenants[0].weight, 2);
    config_destroy (&cfg);
    remove (path);
    cr_assert_null (config_load (path, error, sizeof error));
    cr_assert (strstr (error, path) && strstr (error, "No such file"), "%s", error);
}
