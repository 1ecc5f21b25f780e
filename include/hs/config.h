/* config.h - table-driven options for every subcommand. One table per daemon gives each
 * option's name, type, default, help and limits; it drives parsing, --help and --print-config.
 *
 * Precedence: defaults < file (--config FILE, lines "key = value", '#' comments)
 *             < environment (<env_prefix><NAME>, NAME upper-cased with '-' -> '_')
 *             < flags (--name value or --name=value; bool flags also bare "--name").
 * Values take units: sizes "64MiB", "4k", "1G" (binary for KiB/MiB/GiB/k/M/G, plain bytes
 * otherwise); durations "30s", "500ms", "10m", "2h" (stored in milliseconds; a bare number is
 * seconds). Unknown keys and bad values stop startup with file:line (or the flag) and the key.
 * Modules never read config: daemons copy values into module option structs. */
#ifndef HS_CONFIG_H
#define HS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"

enum hs_opt_type {
    HS_OPT_STRING,   /* char * (heap, owned by the config struct; NULL when default is NULL) */
    HS_OPT_INT,      /* int64_t */
    HS_OPT_BYTES,    /* int64_t, bytes, accepts units */
    HS_OPT_DURATION, /* int64_t, milliseconds, accepts units */
    HS_OPT_BOOL,     /* bool: true/false/yes/no/on/off/1/0 */
    HS_OPT_ENUM,     /* int: index into choices */
};

struct hs_opt {
    const char *name;            /* "data-dir": flag --data-dir, file key data-dir (or data_dir) */
    enum hs_opt_type type;       /* how the value is parsed and stored */
    size_t offset;               /* offsetof(struct hs_<daemon>_config, field) */
    const char *def;             /* default as text, parsed like any value; NULL = unset string */
    const char *help;            /* one line for --help */
    const char *const *choices;  /* HS_OPT_ENUM: NULL-terminated names */
    int64_t min, max;            /* numeric limits when min < max; ignored otherwise */
    bool secret;                 /* masked in --print-config and logs */
};

struct hs_config_spec {
    const char *command;        /* "node": used in --help ("hybridstore node [options]") */
    const char *summary;        /* one paragraph for --help */
    const char *env_prefix;     /* "HS_NODE_" */
    const struct hs_opt *opts;  /* the table */
    size_t n_opts;
};

enum hs_config_outcome {
    HS_CONFIG_RUN = 0,  /* parsed: go on */
    HS_CONFIG_EXIT_OK,  /* --help, --print-config or --version printed to stdout: exit 0 */
    HS_CONFIG_EXIT_BAD, /* an error was printed to stderr: exit 2 */
};

/* Fills cfg (a zeroed struct) from defaults, file, environment and argv (argv[0] is the
 * subcommand name; argv[1..] its arguments). Positional arguments (not starting with "--", or
 * everything after "--") are collected in order into positional (borrowed from argv) up to
 * max_positional; more is an error. n_positional may be NULL when max_positional is 0.
 * Not thread-safe (reads the environment); call before starting threads. */
enum hs_config_outcome hs_config_load(const struct hs_config_spec *spec, void *cfg, int argc,
                                      char **argv, const char **positional, size_t max_positional,
                                      size_t *n_positional);
/* Frees the strings the table owns in cfg. cfg may be NULL. */
void hs_config_release(const struct hs_config_spec *spec, void *cfg);
/* Logs the effective config at info (evt=config), secrets masked. */
void hs_config_log(const struct hs_config_spec *spec, const void *cfg);

/* Unit parsers, exposed for tests and for other parsers. Out-params untouched on error. */
enum hs_err hs_config_parse_bytes(const char *text, int64_t *out);
enum hs_err hs_config_parse_duration_ms(const char *text, int64_t *out);
enum hs_err hs_config_parse_bool(const char *text, bool *out);

#endif
