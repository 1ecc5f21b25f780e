/* config.h - table-driven options for every subcommand. One table per daemon gives each
 * option's name, type, default, help, limits and validator; the environment variable and the
 * flag are derived from the name. The table drives parsing, --help and --print-config.
 *
 * Precedence: defaults < file (--config FILE or <env_prefix>CONFIG) < environment
 *             (<env_prefix><NAME>, NAME upper-cased with '-' -> '_', e.g. HS_NODE_DATA_DIR)
 *             < flags (--name value, --name=value; bools also bare --name and --no-name).
 * File format: one "key = value" per line; '#' starts a comment only as the first non-blank
 * character of a line; blank lines ignored; keys may spell '-' as '_' and are case-insensitive;
 * values are trimmed, never quoted; a key may appear once per file. An empty value unsets a
 * string (NULL) and is an error for other types. An empty environment variable is ignored;
 * one with the prefix that names no option is reported on stderr as a warning.
 * Values take units (docs/configuration.md has the full table):
 *   sizes      "512" (bytes), "4k" "4KiB" "64M" "64MiB" "1G" "1GiB" "1T" "1TiB" (binary, 1024^n),
 *              "1000kB" "1MB" "1GB" "1TB" (decimal, 1000^n); units are case-insensitive;
 *              no sign, no fraction.
 *   durations  "500ms", "30s", "10m", "2h", "1d"; a bare number is seconds; stored in ms.
 * Unknown keys and bad values stop startup with file:line (or the flag or environment variable
 * name), the key and a reason on stderr: HS_CONFIG_EXIT_BAD, and the process exits with 2.
 * Modules never read config: daemons copy values into module option structs. */
#ifndef HS_CONFIG_H
#define HS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hs/err.h"

enum hs_opt_type {
    HS_OPT_STRING,   /* char * (heap, owned by the config struct; NULL when default is NULL) */
    HS_OPT_INT,      /* int64_t, decimal with optional sign */
    HS_OPT_BYTES,    /* int64_t, bytes, accepts units */
    HS_OPT_DURATION, /* int64_t, milliseconds, accepts units */
    HS_OPT_BOOL,     /* bool: true/false/yes/no/on/off/1/0 (case-insensitive) */
    HS_OPT_ENUM,     /* int: index into choices (names matched case-insensitively) */
};

/* Extra validation after the value parsed and passed min/max. value points at a parsed value of
 * the option's storage type (char * may be NULL, int64_t, bool or int). Returns NULL when the
 * value is acceptable, otherwise a static reason ("must be an absolute path"). */
typedef const char *hs_opt_check_fn(const void *value);

struct hs_opt {
    const char *name;           /* "data-dir": lower-case [a-z0-9-]; flag --data-dir, env
                                   <prefix>DATA_DIR, file key data-dir (or data_dir) */
    enum hs_opt_type type;      /* how the value is parsed and stored */
    size_t offset;              /* offsetof(struct hs_<daemon>_config, field) */
    const char *def;            /* default as text, parsed like any value; NULL = unset string,
                                   0, false or the first choice */
    const char *help;           /* one line for --help */
    const char *const *choices; /* HS_OPT_ENUM: NULL-terminated names */
    int64_t min, max;           /* INT/BYTES/DURATION limits (inclusive) when min < max */
    bool secret;                /* masked in --print-config, --help and logs */
    hs_opt_check_fn *check;     /* optional validator, see above; NULL = none */
};

struct hs_config_spec {
    const char *command;       /* "node": used in --help ("hybridstore node [options]") and
                                  in error messages */
    const char *summary;       /* one paragraph for --help */
    const char *env_prefix;    /* "HS_NODE_" */
    const struct hs_opt *opts; /* the table; names config, help, print-config, version and
                                  names starting with "no-" are reserved */
    size_t n_opts;
    const char *usage_args; /* positional arguments for the usage line ("KEY..."), or NULL */
};

enum hs_config_outcome {
    HS_CONFIG_RUN = 0,  /* parsed: go on */
    HS_CONFIG_EXIT_OK,  /* --help, --print-config or --version printed to stdout: exit 0 */
    HS_CONFIG_EXIT_BAD, /* an error was printed to stderr: exit 2 */
};

/* Fills cfg from defaults, file, environment and argv (argv[0] is the subcommand name;
 * argv[1..] its arguments). Positional arguments (not starting with "--", or everything after
 * "--") are collected in order into positional (borrowed from argv) up to max_positional; more
 * is an error. n_positional may be NULL when max_positional is 0; it is set only on
 * HS_CONFIG_RUN. Built-in flags: --config FILE, --help (also -h; wins over everything else),
 * --version, --print-config. Unless the outcome is HS_CONFIG_RUN, cfg holds no heap strings
 * afterwards. Either way hs_config_release(spec, cfg) is safe to call after.
 * A bad table (duplicate or reserved name, default that does not parse) is a bug: HS_BUG.
 * Not thread-safe (reads the environment); call before starting threads. */
enum hs_config_outcome hs_config_load(const struct hs_config_spec *spec, void *cfg, int argc,
                                      char **argv, const char **positional, size_t max_positional,
                                      size_t *n_positional);
/* Frees the strings the table owns in cfg and sets them to NULL (so a second call is harmless).
 * cfg may be NULL. */
void hs_config_release(const struct hs_config_spec *spec, void *cfg);
/* Logs the effective config at info (evt=config) on one line, secrets masked. */
void hs_config_log(const struct hs_config_spec *spec, const void *cfg);

/* The pieces hs_config_load is made of, for tests, the fuzzer and tools. */

/* Stores every default in cfg (whose string fields are overwritten, not freed). */
void hs_config_defaults(const struct hs_config_spec *spec, void *cfg);
/* Applies the "key = value" lines of text (len bytes, no NUL needed) on top of cfg, all or
 * nothing: on HS_EINVAL cfg is unchanged and err (errlen bytes, may be 0) holds
 * "<source>:<line>: key '<key>': <reason>" or "<source>:<line>: <reason>". */
enum hs_err hs_config_load_text(const struct hs_config_spec *spec, void *cfg, const char *text,
                                size_t len, const char *source, char *err, size_t errlen);
/* The --help text: usage, summary, one line per option with its default and environment
 * variable, then the built-in flags. */
void hs_config_print_help(const struct hs_config_spec *spec, FILE *out);
/* The --print-config text: a comment line, then "key = value" for every option in table order.
 * It loads back through hs_config_load_text to the same values, except that a secret that is
 * set comes out as the comment "# key = ***" (never its value). */
void hs_config_print(const struct hs_config_spec *spec, const void *cfg, FILE *out);

/* Unit parsers, exposed for tests and for other parsers. The whole text must be the value (no
 * surrounding blanks). HS_EINVAL for garbage, HS_ETOOBIG when the value overflows int64_t.
 * Out-params untouched on error. */
enum hs_err hs_config_parse_bytes(const char *text, int64_t *out);
enum hs_err hs_config_parse_duration_ms(const char *text, int64_t *out);
enum hs_err hs_config_parse_bool(const char *text, bool *out);
enum hs_err hs_config_parse_int(const char *text, int64_t *out);
/* Shortest exact text that parses back to the value: "64MiB", "1000", "30s", "1500ms". buf
 * holds >= 32 bytes. Returns buf. */
const char *hs_config_format_bytes(int64_t bytes, char *buf, size_t buflen);
const char *hs_config_format_duration_ms(int64_t ms, char *buf, size_t buflen);

#endif
