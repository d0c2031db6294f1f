/*  config_file.h -- the broker's configuration file (YAML, read with libyaml).

    One file carries every broker setting: the flags as keys of `broker:`,
    `monitoring:` and `cache:` (a flag given on the command line wins over
    the file), the scheduler (`scheduler:`, `defaults:`, `tenants:`,
    `models:`, see scheduler.h), and sections later features fill
    (`security:`, `reliability:`), whose scalars are kept by path for them
    ("security.api_keys.k1") and read with config_value. The README section "Priorities, quotas and
    backpressure" shows a full example.

        char error[256];
        config_t *cfg = config_load ("llmq.yaml", error, sizeof error);
        if (!cfg) fprintf (stderr, "%s\n", error);   // "llmq.yaml:12: ..."
        config_apply_broker (cfg, &broker_config);   // only keys it sets
        broker_config.sched = config_sched (cfg);

    Validation is strict where a mistake would be silent: an unknown key,
    a wrong type or a number out of range is an error that names the file
    and line. Reload (SIGHUP) loads a new config_t and, when that succeeds,
    hands its scheduler part to broker_reload; a bad file leaves the old
    one in force.

    Complexity: load O(size of the file); config_value O(1) expected.
*/
#ifndef LLMQ_BROKER_CONFIG_FILE_H_INCLUDED
#define LLMQ_BROKER_CONFIG_FILE_H_INCLUDED

#include "broker.h"
#include "scheduler.h"

#include <stddef.h>

typedef struct config config_t;

/*  Parses and validates path. NULL on failure with "path:line: what" in
    error (truncated to error_size).                                       */
config_t *config_load (const char *path, char *error, size_t error_size);
/*  The same from a string (tests); name is used in messages.              */
config_t *config_parse (const char *name, const char *text, size_t size,
                        char *error, size_t error_size);
void config_destroy (config_t **self_p);

/*  Copies onto *broker the settings the file's `broker:` section sets;
    strings point into self, which must outlive their use.                 */
void config_apply_broker (const config_t *self, broker_config_t *broker);
/*  The scheduler settings (defaults where the file says nothing).         */
const sched_config_t *config_sched (const config_t *self);
/*  A scalar by its dotted path ("cache.ttl_ms"), NULL when absent. For
    sections this module does not interpret.                               */
const char *config_value (const config_t *self, const char *path);

#endif
