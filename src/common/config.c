/* config.c - one options table per daemon drives parsing (defaults < file < environment <
 * flags), --help, --print-config and the startup log line. Each source is staged and committed
 * only when all of it parsed, so a failed source leaves cfg as it was. Checks across options
 * (a < b) are the daemon's job after hs_config_load; this file validates single values.
 * Unit parsers live in config_units.c; --help, --print-config and the log line in
 * config_print.c. */
#include "hs/config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "hs/buf.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/version.h"
#include "config_int.h"
#include "hs/banned.h"

/* A config file is a few dozen lines; anything near this is a wrong path (a log, a disk image). */
#define CONFIG_FILE_MAX_BYTES ((size_t)1 << 20)
/* Characters of an offending value or key quoted in a message. */
#define SHOWN_MAX 64

/* Values of one source (file, environment or flags) waiting to be committed to cfg. */
struct stage {
    const struct hs_config_spec *spec;
    bool *set;                 /* n_opts: the source gave a value */
    size_t *line;              /* n_opts: file line that gave it (duplicate-key messages) */
    union hs_config_val *vals; /* n_opts: owned until committed */
};

/* Positional arguments collected from argv, handed to the caller only on success. */
struct positionals {
    const char **items; /* max entries */
    size_t n, max;
};

static const char *const reserved_names[] = {"config", "help", "print-config", "version"};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_blank(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_blank((*s)[*n - 1]))
        (*n)--;
}

/* ---- the table ---- */

/* True when key (n bytes, from a file or a flag) names name: case-insensitive, '_' == '-'. */
static bool key_matches(const char *name, const char *key, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = (char)tolower((unsigned char)key[i]);
        if (c == '_')
            c = '-';
        if (name[i] == '\0' || name[i] != c)
            return false;
    }
    return name[n] == '\0';
}

static bool find_opt(const struct hs_config_spec *spec, const char *key, size_t n, size_t *idx)
{
    for (size_t i = 0; i < spec->n_opts; i++) {
        if (key_matches(spec->opts[i].name, key, n)) {
            *idx = i;
            return true;
        }
    }
    return false;
}

/* "HS_NODE_" + "data-dir" -> "HS_NODE_DATA_DIR" (heap). */
char *hs_config_env_name(const struct hs_config_spec *spec, const char *name)
{
    char *s = hs_xasprintf("%s%s", spec->env_prefix, name);
    for (char *p = s + strlen(spec->env_prefix); *p; p++)
        *p = (char)(*p == '-' ? '_' : toupper((unsigned char)*p));
    return s;
}

/* The table is code: a mistake in it is a bug to fix before anything runs, not user input. */
void hs_config_spec_check(const struct hs_config_spec *spec)
{
    if (!spec->command || !spec->env_prefix || (spec->n_opts && !spec->opts))
        HS_BUG("config table incomplete (command, env_prefix, opts)");
    for (size_t i = 0; i < spec->n_opts; i++) {
        const struct hs_opt *o = &spec->opts[i];
        if (!o->name || !o->name[0] || o->name[0] == '-' || strncmp(o->name, "no-", 3) == 0)
            HS_BUG("config table '%s': option %zu has a bad name", spec->command, i);
        for (const char *p = o->name; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
                HS_BUG("config table '%s': bad character in '%s'", spec->command, o->name);
        for (size_t r = 0; r < HS_ARRAY_LEN(reserved_names); r++)
            if (strcmp(o->name, reserved_names[r]) == 0)
                HS_BUG("config table '%s': '%s' is reserved", spec->command, o->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(o->name, spec->opts[j].name) == 0)
                HS_BUG("config table '%s': '%s' twice", spec->command, o->name);
        if ((unsigned)o->type > HS_OPT_ENUM ||
            (o->type == HS_OPT_ENUM && (!o->choices || !o->choices[0])))
            HS_BUG("config table '%s': '%s' has a bad type or no choices", spec->command, o->name);
    }
}

/* ---- values ---- */

union hs_config_val hs_config_field_get(const struct hs_opt *o, const void *cfg)
{
    const char *f = (const char *)cfg + o->offset;
    union hs_config_val v = {.i = 0};
    switch (o->type) {
    case HS_OPT_STRING:
        v.s = *(char *const *)(const void *)f;
        break;
    case HS_OPT_INT:
    case HS_OPT_BYTES:
    case HS_OPT_DURATION:
        v.i = *(const int64_t *)(const void *)f;
        break;
    case HS_OPT_BOOL:
        v.b = *(const bool *)(const void *)f;
        break;
    case HS_OPT_ENUM:
        v.e = *(const int *)(const void *)f;
        break;
    }
    return v;
}

/* Stores v (taking its string) in cfg; free_old frees the string it replaces. */
static void field_set(const struct hs_opt *o, void *cfg, union hs_config_val v, bool free_old)
{
    void *f = (char *)cfg + o->offset;
    switch (o->type) {
    case HS_OPT_STRING:
        if (free_old)
            free(*(char **)f);
        *(char **)f = v.s;
        break;
    case HS_OPT_INT:
    case HS_OPT_BYTES:
    case HS_OPT_DURATION:
        *(int64_t *)f = v.i;
        break;
    case HS_OPT_BOOL:
        *(bool *)f = v.b;
        break;
    case HS_OPT_ENUM:
        *(int *)f = v.e;
        break;
    }
}

/* Text of a numeric value in the option's own units, for range messages. */
static const char *number_text(const struct hs_opt *o, int64_t v, char *buf, size_t buflen)
{
    if (o->type == HS_OPT_BYTES)
        return hs_config_format_bytes(v, buf, buflen);
    if (o->type == HS_OPT_DURATION)
        return hs_config_format_duration_ms(v, buf, buflen);
    snprintf(buf, buflen, "%" PRId64, v);
    return buf;
}

static bool parse_number(const struct hs_opt *o, const char *text, int64_t *out, char *why,
                         size_t whylen)
{
    const char *shown = o->secret ? "***" : text;
    const char *what = "integer", *hint = "";
    int64_t v = 0;
    enum hs_err e;
    if (o->type == HS_OPT_BYTES) {
        e = hs_config_parse_bytes(text, &v);
        what = "size";
        hint = " (e.g. 512, 4KiB, 64MiB, 1GiB, 1MB)";
    } else if (o->type == HS_OPT_DURATION) {
        e = hs_config_parse_duration_ms(text, &v);
        what = "duration";
        hint = " (e.g. 500ms, 30s, 10m, 2h, 1d)";
    } else {
        e = hs_config_parse_int(text, &v);
    }
    if (e == HS_ETOOBIG) {
        set_err(why, whylen, "%s '%.*s' is too large", what, SHOWN_MAX, shown);
        return false;
    }
    if (e != HS_OK) {
        set_err(why, whylen, "invalid %s '%.*s'%s", what, SHOWN_MAX, shown, hint);
        return false;
    }
    if (o->min < o->max && (v < o->min || v > o->max)) {
        char lo[32], hi[32];
        set_err(why, whylen, "%s '%.*s' is out of range: must be between %s and %s", what,
                SHOWN_MAX, shown, number_text(o, o->min, lo, sizeof lo),
                number_text(o, o->max, hi, sizeof hi));
        return false;
    }
    *out = v;
    return true;
}

static bool parse_choice(const struct hs_opt *o, const char *text, int *out, char *why,
                         size_t whylen)
{
    for (int i = 0; o->choices[i]; i++) {
        if (strcasecmp(text, o->choices[i]) == 0) {
            *out = i;
            return true;
        }
    }
    int used = snprintf(why, whylen, "invalid choice '%.*s' (one of:", SHOWN_MAX,
                        o->secret ? "***" : text);
    for (int i = 0; o->choices[i] && used >= 0 && (size_t)used < whylen; i++)
        used += snprintf(why + used, whylen - (size_t)used, "%s %s", i ? "," : "", o->choices[i]);
    if (used >= 0 && (size_t)used < whylen)
        snprintf(why + used, whylen - (size_t)used, ")");
    return false;
}

/* Parses one value (already trimmed) for o, applying limits and the validator. The string of a
 * HS_OPT_STRING result is heap-owned by the caller. */
bool hs_config_parse_value(const struct hs_opt *o, const char *text, union hs_config_val *out,
                           char *why, size_t whylen)
{
    union hs_config_val v = {.i = 0};
    /* a control character could not be written back by --print-config (one line per key) */
    for (const char *p = text; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            set_err(why, whylen, "control character in value");
            return false;
        }
    }
    if (!*text && o->type != HS_OPT_STRING) {
        set_err(why, whylen, "empty value");
        return false;
    }
    switch (o->type) {
    case HS_OPT_STRING:
        v.s = *text ? hs_xstrdup(text) : NULL;
        break;
    case HS_OPT_INT:
    case HS_OPT_BYTES:
    case HS_OPT_DURATION:
        if (!parse_number(o, text, &v.i, why, whylen))
            return false;
        break;
    case HS_OPT_BOOL:
        if (hs_config_parse_bool(text, &v.b) != HS_OK) {
            set_err(why, whylen, "invalid boolean '%.*s' (true/false, yes/no, on/off, 1/0)",
                    SHOWN_MAX, o->secret ? "***" : text);
            return false;
        }
        break;
    case HS_OPT_ENUM:
        if (!parse_choice(o, text, &v.e, why, whylen))
            return false;
        break;
    }
    if (o->check) {
        const void *p = o->type == HS_OPT_STRING ? (const void *)&v.s
                        : o->type == HS_OPT_BOOL ? (const void *)&v.b
                        : o->type == HS_OPT_ENUM ? (const void *)&v.e
                                                 : (const void *)&v.i;
        const char *reason = o->check(p);
        if (reason) {
            set_err(why, whylen, "%s", reason);
            if (o->type == HS_OPT_STRING)
                free(v.s);
            return false;
        }
    }
    *out = v;
    return true;
}

/* ---- staging ---- */

static void stage_init(struct stage *st, const struct hs_config_spec *spec)
{
    size_t n = spec->n_opts ? spec->n_opts : 1;
    st->spec = spec;
    st->set = hs_xcalloc(n, sizeof *st->set);
    st->line = hs_xcalloc(n, sizeof *st->line);
    st->vals = hs_xcalloc(n, sizeof *st->vals);
}

static void stage_release(struct stage *st)
{
    for (size_t i = 0; i < st->spec->n_opts; i++)
        if (st->set[i] && st->spec->opts[i].type == HS_OPT_STRING)
            free(st->vals[i].s);
    free(st->set);
    free(st->line);
    free(st->vals);
}

/* Moves every staged value into cfg; the stage keeps nothing to free. */
static void stage_commit(struct stage *st, void *cfg)
{
    for (size_t i = 0; i < st->spec->n_opts; i++) {
        if (!st->set[i])
            continue;
        field_set(&st->spec->opts[i], cfg, st->vals[i], true);
        st->set[i] = false;
    }
}

/* Parses val (vlen bytes, no NUL inside) for option idx; a later value of the same source
 * replaces an earlier one. where names the source in messages ("node.conf:3", "--port"). */
static bool stage_put(struct stage *st, size_t idx, const char *val, size_t vlen, size_t line,
                      const char *where, char *err, size_t errlen)
{
    const struct hs_opt *o = &st->spec->opts[idx];
    trim(&val, &vlen);
    char *text = hs_xstrndup(val, vlen);
    char why[512];
    union hs_config_val v;
    bool ok = hs_config_parse_value(o, text, &v, why, sizeof why);
    free(text);
    if (!ok) {
        set_err(err, errlen, "%s: key '%s': %s", where, o->name, why);
        return false;
    }
    if (st->set[idx] && o->type == HS_OPT_STRING)
        free(st->vals[idx].s);
    st->set[idx] = true;
    st->line[idx] = line;
    st->vals[idx] = v;
    return true;
}

/* ---- file ---- */

static bool load_line(struct stage *st, const char *line, size_t n, const char *source,
                      size_t lineno, char *err, size_t errlen)
{
    if (memchr(line, '\0', n)) {
        set_err(err, errlen, "%s:%zu: NUL byte in line", source, lineno);
        return false;
    }
    trim(&line, &n);
    if (n == 0 || line[0] == '#')
        return true;
    const char *eq = memchr(line, '=', n);
    if (!eq) {
        /* the line is not echoed: it may be a mistyped secret */
        set_err(err, errlen, "%s:%zu: expected 'key = value'", source, lineno);
        return false;
    }
    const char *key = line;
    size_t klen = (size_t)(eq - line);
    trim(&key, &klen);
    if (klen == 0) {
        set_err(err, errlen, "%s:%zu: missing key before '='", source, lineno);
        return false;
    }
    size_t idx;
    if (!find_opt(st->spec, key, klen, &idx)) {
        set_err(err, errlen, "%s:%zu: unknown key '%.*s'", source, lineno,
                (int)HS_MIN(klen, SHOWN_MAX), key);
        return false;
    }
    if (st->set[idx]) {
        set_err(err, errlen, "%s:%zu: key '%s' repeats line %zu", source, lineno,
                st->spec->opts[idx].name, st->line[idx]);
        return false;
    }
    char *where = hs_xasprintf("%s:%zu", source, lineno);
    const char *val = eq + 1;
    bool ok = stage_put(st, idx, val, n - (size_t)(val - line), lineno, where, err, errlen);
    free(where);
    return ok;
}

enum hs_err hs_config_load_text(const struct hs_config_spec *spec, void *cfg, const char *text,
                                size_t len, const char *source, char *err, size_t errlen)
{
    assert(spec && cfg && (text || len == 0) && source);
    struct stage st;
    stage_init(&st, spec);
    enum hs_err rc = HS_EINVAL;
    size_t pos = 0, lineno = 0;
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        lineno++;
        if (!load_line(&st, line, n, source, lineno, err, errlen))
            goto out;
    }
    stage_commit(&st, cfg);
    rc = HS_OK;
out:
    stage_release(&st);
    return rc;
}

static bool load_file(const struct hs_config_spec *spec, void *cfg, const char *path, char *err,
                      size_t errlen)
{
    char ebuf[128];
    struct hs_buf b;
    bool ok = false;
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        set_err(err, errlen, "cannot open config file '%s': %s", path,
                hs_errno_text(e, ebuf, sizeof ebuf));
        return false;
    }
    hs_buf_init(&b, CONFIG_FILE_MAX_BYTES);
    for (;;) {
        if (hs_buf_reserve(&b, 4096) != HS_OK) {
            set_err(err, errlen, "config file '%s' is too large (limit %zu bytes)", path,
                    CONFIG_FILE_MAX_BYTES - 4096);
            goto out;
        }
        /* hs_buf_reserve keeps one byte past len + extra for a NUL: read into the rest */
        size_t n = fread(b.data + b.len, 1, b.cap - b.len - 1, f);
        b.len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        int e = errno;
        set_err(err, errlen, "cannot read config file '%s': %s", path,
                hs_errno_text(e, ebuf, sizeof ebuf));
        goto out;
    }
    ok = hs_config_load_text(spec, cfg, (const char *)b.data, b.len, path, err, errlen) == HS_OK;
out:
    hs_buf_release(&b);
    fclose(f);
    return ok;
}

/* ---- environment ---- */

/* Does <prefix>suffix (n bytes) name an option or CONFIG? */
static bool env_suffix_known(const struct hs_config_spec *spec, const char *suffix, size_t n)
{
    if (n == 6 && memcmp(suffix, "CONFIG", 6) == 0)
        return true;
    for (size_t i = 0; i < spec->n_opts; i++) {
        const char *name = spec->opts[i].name;
        size_t k = 0;
        while (k < n && name[k] && suffix[k] == (name[k] == '-' ? '_' : toupper(name[k])))
            k++;
        if (k == n && name[k] == '\0')
            return true;
    }
    return false;
}

/* A typo in a variable name would otherwise go unnoticed; only a warning, because launchers
 * and shells export variables that share a prefix. */
static void warn_unknown_env(const struct hs_config_spec *spec)
{
    size_t plen = strlen(spec->env_prefix);
    for (char **e = environ; plen && e && *e; e++) {
        if (strncmp(*e, spec->env_prefix, plen) != 0)
            continue;
        const char *suffix = *e + plen;
        size_t n = strcspn(suffix, "=");
        if (!env_suffix_known(spec, suffix, n))
            fprintf(stderr,
                    "hybridstore %s: warning: ignoring unknown environment variable '%.*s'\n",
                    spec->command, (int)HS_MIN(plen + n, 256), *e);
    }
}

static bool load_env(const struct hs_config_spec *spec, void *cfg, char *err, size_t errlen)
{
    struct stage st;
    bool ok = true;
    stage_init(&st, spec);
    for (size_t i = 0; ok && i < spec->n_opts; i++) {
        char *name = hs_config_env_name(spec, spec->opts[i].name);
        const char *v = getenv(name); /* NOLINT(concurrency-mt-unsafe): before threads */
        if (v && *v) /* empty = unset, as shells and compose files produce it by accident */
            ok = stage_put(&st, i, v, strlen(v), 0, name, err, errlen);
        free(name);
    }
    if (ok)
        stage_commit(&st, cfg);
    stage_release(&st);
    return ok;
}

/* ---- flags ---- */

struct argv_scan {
    const char *config_path; /* --config value, or NULL */
    bool help, version, print_config;
};

static bool is_flag(const char *a)
{
    return a[0] == '-' && a[1] == '-';
}

/* "--name=value" -> name, its length, value (NULL without '='). */
static void split_flag(const char *arg, const char **name, size_t *nlen, const char **value)
{
    *name = arg + 2;
    const char *eq = strchr(*name, '=');
    *nlen = eq ? (size_t)(eq - *name) : strlen(*name);
    *value = eq ? eq + 1 : NULL;
}

/* First pass: the built-in flags, so that --help works whatever else is wrong and the file is
 * read before the environment and flags apply. Mirrors the value rules of apply_flag. */
static void prescan(const struct hs_config_spec *spec, int argc, char **argv, struct argv_scan *sc)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *name, *value;
        size_t n, idx;
        if (strcmp(a, "--") == 0)
            break;
        if (strcmp(a, "-h") == 0)
            sc->help = true;
        if (!is_flag(a))
            continue;
        split_flag(a, &name, &n, &value);
        bool next_is_value = !value && i + 1 < argc && !is_flag(argv[i + 1]);
        if (key_matches("help", name, n)) {
            sc->help = sc->help || !value; /* "--help=x" is reported by apply_flag */
        } else if (key_matches("version", name, n)) {
            sc->version = sc->version || !value;
        } else if (key_matches("print-config", name, n)) {
            sc->print_config = true;
        } else if (key_matches("config", name, n)) {
            if (value && *value)
                sc->config_path = value;
            else if (next_is_value && argv[i + 1][0])
                sc->config_path = argv[++i];
        } else if (next_is_value && find_opt(spec, name, n, &idx) &&
                   spec->opts[idx].type != HS_OPT_BOOL) {
            i++;
        }
    }
}

/* Applies argv[*i] (a "--" flag), consuming the next argument when it is the value. */
static bool apply_flag(struct stage *st, int argc, char **argv, int *i, char *err, size_t errlen)
{
    const struct hs_config_spec *spec = st->spec;
    const char *name, *value;
    size_t n, idx = 0;
    split_flag(argv[*i], &name, &n, &value);
    int shown = (int)HS_MIN(n, SHOWN_MAX);
    bool has_next = *i + 1 < argc && !is_flag(argv[*i + 1]);
    if (key_matches("help", name, n) || key_matches("version", name, n) ||
        key_matches("print-config", name, n)) {
        if (value)
            set_err(err, errlen, "--%.*s takes no value", shown, name);
        return !value;
    }
    if (key_matches("config", name, n)) { /* the file was read by prescan already */
        if (!value && has_next)
            value = argv[++*i];
        if (!value || !*value)
            set_err(err, errlen, "--%.*s needs a value", shown, name);
        return value && *value;
    }
    bool negated = false;
    if (!find_opt(spec, name, n, &idx)) {
        negated = n > 3 && key_matches("no-", name, 3) && find_opt(spec, name + 3, n - 3, &idx);
        if (!negated) {
            set_err(err, errlen, "unknown flag '--%.*s' (see hybridstore %s --help)", shown, name,
                    spec->command);
            return false;
        }
    }
    const struct hs_opt *o = &spec->opts[idx];
    if (negated) {
        if (o->type != HS_OPT_BOOL || value) {
            set_err(err, errlen, "--%.*s: %s", shown, name,
                    value ? "takes no value" : "not a boolean option");
            return false;
        }
        value = "false";
    } else if (!value) {
        if (o->type == HS_OPT_BOOL)
            value = "true";
        else if (has_next)
            value = argv[++*i];
    }
    if (!value) {
        set_err(err, errlen, "--%.*s needs a value", shown, name);
        return false;
    }
    char *where = hs_xasprintf("--%.*s", shown, name);
    bool ok = stage_put(st, idx, value, strlen(value), 0, where, err, errlen);
    free(where);
    return ok;
}

static bool load_flags(const struct hs_config_spec *spec, void *cfg, int argc, char **argv,
                       struct positionals *pos, char *err, size_t errlen)
{
    struct stage st;
    bool ok = true, dashdash = false;
    stage_init(&st, spec);
    for (int i = 1; ok && i < argc; i++) {
        const char *a = argv[i];
        if (!dashdash && strcmp(a, "--") == 0) {
            dashdash = true;
        } else if (!dashdash && is_flag(a)) {
            ok = apply_flag(&st, argc, argv, &i, err, errlen);
        } else if (pos->n < pos->max) {
            pos->items[pos->n++] = a;
        } else {
            if (pos->max)
                set_err(err, errlen, "too many arguments at '%.*s' (at most %zu)", SHOWN_MAX, a,
                        pos->max);
            else
                set_err(err, errlen, "unexpected argument '%.*s'", SHOWN_MAX, a);
            ok = false;
        }
    }
    if (ok)
        stage_commit(&st, cfg);
    stage_release(&st);
    return ok;
}

/* ---- entry points ---- */

void hs_config_defaults(const struct hs_config_spec *spec, void *cfg)
{
    assert(spec && cfg);
    hs_config_spec_check(spec);
    for (size_t i = 0; i < spec->n_opts; i++) {
        const struct hs_opt *o = &spec->opts[i];
        union hs_config_val v = {.i = 0};
        char why[512];
        if (o->def && !hs_config_parse_value(o, o->def, &v, why, sizeof why))
            HS_BUG("config table '%s': default of '%s': %s", spec->command, o->name, why);
        field_set(o, cfg, v, false);
    }
}

enum hs_config_outcome hs_config_load(const struct hs_config_spec *spec, void *cfg, int argc,
                                      char **argv, const char **positional, size_t max_positional,
                                      size_t *n_positional)
{
    assert(spec && cfg && argc >= 1 && argv);
    assert(max_positional == 0 || (positional && n_positional));
    struct argv_scan sc = {0};
    prescan(spec, argc, argv, &sc);
    if (sc.help) {
        hs_config_print_help(spec, stdout);
        fflush(stdout);
        return HS_CONFIG_EXIT_OK;
    }
    if (sc.version) {
        printf("hybridstore %s (git %s)\n", hs_version(), hs_version_git());
        fflush(stdout);
        return HS_CONFIG_EXIT_OK;
    }

    enum hs_config_outcome rc = HS_CONFIG_EXIT_BAD;
    char err[1024] = "";
    struct positionals pos = {.max = max_positional};
    pos.items = hs_xcalloc(max_positional ? max_positional : 1, sizeof *pos.items);
    char *config_env = hs_config_env_name(spec, "config");
    const char *path = sc.config_path;
    if (!path) {
        path = getenv(config_env); /* NOLINT(concurrency-mt-unsafe): before threads */
        if (path && !*path)
            path = NULL;
    }
    hs_config_defaults(spec, cfg);
    if (path && !load_file(spec, cfg, path, err, sizeof err))
        goto out;
    warn_unknown_env(spec);
    if (!load_env(spec, cfg, err, sizeof err))
        goto out;
    if (!load_flags(spec, cfg, argc, argv, &pos, err, sizeof err))
        goto out;
    if (sc.print_config) {
        hs_config_print(spec, cfg, stdout);
        fflush(stdout);
        rc = HS_CONFIG_EXIT_OK;
        goto out;
    }
    if (pos.n)
        memcpy(positional, pos.items, pos.n * sizeof *pos.items);
    if (n_positional)
        *n_positional = pos.n;
    rc = HS_CONFIG_RUN;
out:
    if (rc == HS_CONFIG_EXIT_BAD)
        fprintf(stderr, "hybridstore %s: %s\n", spec->command, err);
    if (rc != HS_CONFIG_RUN)
        hs_config_release(spec, cfg);
    free(config_env);
    free(pos.items);
    return rc;
}

void hs_config_release(const struct hs_config_spec *spec, void *cfg)
{
    if (!spec || !cfg)
        return;
    for (size_t i = 0; i < spec->n_opts; i++) {
        if (spec->opts[i].type != HS_OPT_STRING)
            continue;
        char **f = (char **)(void *)((char *)cfg + spec->opts[i].offset);
        free(*f);
        *f = NULL;
    }
}
