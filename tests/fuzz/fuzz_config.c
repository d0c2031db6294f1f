/*  fuzz_config.c -- libFuzzer target for the broker's YAML config file
    (broker/config_file.c, through config_parse: the same path as
    config_load after it has read the file).

    The file is operator input, not client input, but a typo must give an
    error naming the line, never a crash or a leak; and SIGHUP reloads it
    into a running broker. Beyond "no crash, no leak" (ASan/LSan):
      - a refusal has a message "fuzz.yaml:..." (or "fuzz.yaml: ...");
      - parsing is deterministic: the same input gives the same verdict
        and message again;
      - an accepted config is usable the way the broker uses it: every
        listed tenant and model has a name and weight >= 1, its broker
        part applies, its scalars are readable, and the scheduler accepts
        its scheduler part (sched_new, then sched_configure as on reload).
*/
#include "config_file.h"
#include "scheduler.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Not assert(): fuzz builds are release builds (NDEBUG).
#define CHECK(x) do { if (!(x)) { \
        fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x); \
        abort (); } } while (0)

#define NAME "fuzz.yaml"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char error [256] = "";
    config_t *cfg = config_parse (NAME, (const char *) data, size, error, sizeof error);
    char again [256] = "";
    config_t *cfg2 = config_parse (NAME, (const char *) data, size, again, sizeof again);
    CHECK ((cfg == NULL) == (cfg2 == NULL));
    config_destroy (&cfg2);
    if (!cfg) {
        CHECK (strncmp (error, NAME ":", strlen (NAME ":")) == 0);
        CHECK (strlen (error) > strlen (NAME ":"));
        CHECK (strcmp (error, again) == 0);
        return 0;
    }
    broker_config_t broker;
    broker_config_defaults (&broker);
    config_apply_broker (cfg, &broker);
    CHECK (broker.request_timeout_ms <= broker.max_timeout_ms);
    const sched_config_t *sc = config_sched (cfg);
    CHECK (sc);
    for (size_t i = 0; i < sc->n_tenants; i++)
        CHECK (sc->tenants [i].name && sc->tenants [i].weight >= 1);
    for (size_t i = 0; i < sc->n_models; i++)
        CHECK (sc->models [i].name);
    CHECK (sc->aging_ms [LLMQ_PRIO_CRITICAL] == 0);
    (void) config_value (cfg, "security.api_keys.k1");
    (void) config_value (cfg, "reliability");
    sched_t *sched = sched_new (sc, 1000, 0, 1);
    if (sched) {
        CHECK (sched_configure (sched, sc, 2) == 0);
        sched_destroy (&sched);
    }
    config_destroy (&cfg);
    return 0;
}
