/* config_print.c - the output side of config tables: --help text, --print-config text (a
 * config file that loads back, secrets masked) and the one-line evt=config log record. */
#include "hs/config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hs/buf.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/version.h"
#include "config_int.h"
#include "hs/banned.h"

/* Text of v for --print-config, --help and the log: the string itself (NULL -> "") or buf. */
static const char *value_text(const struct hs_opt *o, const union hs_config_val *v, char *buf,
                              size_t buflen)
{
    switch (o->type) {
    case HS_OPT_STRING:
        return v->s ? v->s : "";
    case HS_OPT_INT:
        snprintf(buf, buflen, "%" PRId64, v->i);
        return buf;
    case HS_OPT_BYTES:
        return hs_config_format_bytes(v->i, buf, buflen);
    case HS_OPT_DURATION:
        return hs_config_format_duration_ms(v->i, buf, buflen);
    case HS_OPT_BOOL:
        return v->b ? "true" : "false";
    case HS_OPT_ENUM:
        for (int i = 0; o->choices[i]; i++)
            if (i == v->e)
                return o->choices[i];
        snprintf(buf, buflen, "%d", v->e); /* a caller stored a bad index; show it as is */
        return buf;
    }
    return "";
}

/* A secret is "set" (and masked) unless it is an unset string. */
static bool is_set(const struct hs_opt *o, const union hs_config_val *v)
{
    return o->type != HS_OPT_STRING || (v->s && v->s[0]);
}

/* "--data-dir TEXT", "--[no-]fsync", "--mode fast|safe" into buf. */
static void flag_text(const struct hs_opt *o, char *buf, size_t buflen)
{
    static const char *const metavars[] = {[HS_OPT_STRING] = "TEXT",
                                           [HS_OPT_INT] = "N",
                                           [HS_OPT_BYTES] = "SIZE",
                                           [HS_OPT_DURATION] = "DURATION"};
    if (o->type == HS_OPT_BOOL) {
        snprintf(buf, buflen, "--[no-]%s", o->name);
    } else if (o->type == HS_OPT_ENUM) {
        int used = snprintf(buf, buflen, "--%s ", o->name);
        for (int i = 0; o->choices[i] && used >= 0 && (size_t)used < buflen; i++)
            used +=
                snprintf(buf + used, buflen - (size_t)used, "%s%s", i ? "|" : "", o->choices[i]);
    } else {
        snprintf(buf, buflen, "--%s %s", o->name, metavars[o->type]);
    }
}

void hs_config_print_help(const struct hs_config_spec *spec, FILE *out)
{
    hs_config_spec_check(spec);
    fprintf(out, "usage: hybridstore %s [options]%s%s\n\n", spec->command,
            spec->usage_args ? " " : "", spec->usage_args ? spec->usage_args : "");
    if (spec->summary)
        fprintf(out, "%s\n\n", spec->summary);
    int width = 16;
    char flag[256], buf[64], why[512];
    for (size_t i = 0; i < spec->n_opts; i++) {
        flag_text(&spec->opts[i], flag, sizeof flag);
        width = HS_MAX(width, (int)HS_MIN(strlen(flag), 34));
    }
    fprintf(out, "options:\n");
    for (size_t i = 0; i < spec->n_opts; i++) {
        const struct hs_opt *o = &spec->opts[i];
        union hs_config_val v = {.i = 0};
        if (o->def && !hs_config_parse_value(o, o->def, &v, why, sizeof why))
            HS_BUG("config table '%s': default of '%s': %s", spec->command, o->name, why);
        const char *def = value_text(o, &v, buf, sizeof buf);
        if (o->type == HS_OPT_STRING && !v.s)
            def = "none";
        else if (o->secret)
            def = "***";
        char *env = hs_config_env_name(spec, o->name);
        flag_text(o, flag, sizeof flag);
        fprintf(out, "  %-*s  %s (default: %s; env %s)\n", width, flag, o->help ? o->help : "", def,
                env);
        free(env);
        if (o->type == HS_OPT_STRING)
            free(v.s);
    }
    char *env = hs_config_env_name(spec, "config");
    fprintf(out,
            "  %-*s  read options from FILE (env %s)\n"
            "  %-*s  print the effective configuration as a config file, then exit\n"
            "  %-*s  print this help, then exit\n"
            "  %-*s  print the version and git commit, then exit\n\n",
            width, "--config FILE", env, width, "--print-config", width, "--help, -h", width,
            "--version");
    free(env);
    fprintf(out, "Precedence: defaults < config file (key = value) < environment < flags.\n"
                 "Sizes: 512, 4k, 4KiB, 64MiB, 1GiB (x1024) or 1000kB, 1MB, 1GB (x1000).\n"
                 "Durations: 500ms, 30s, 10m, 2h, 1d; a bare number is seconds.\n");
}

void hs_config_print(const struct hs_config_spec *spec, const void *cfg, FILE *out)
{
    char buf[64];
    fprintf(out, "# hybridstore %s: effective configuration (hybridstore %s, git %s)\n",
            spec->command, hs_version(), hs_version_git());
    for (size_t i = 0; i < spec->n_opts; i++) {
        const struct hs_opt *o = &spec->opts[i];
        union hs_config_val v = hs_config_field_get(o, cfg);
        const char *text = value_text(o, &v, buf, sizeof buf);
        if (o->secret && is_set(o, &v))
            fprintf(out, "# %s = ***\n", o->name); /* commented: loading it back keeps the
                                                      secret from its real source */
        else if (*text)
            fprintf(out, "%s = %s\n", o->name, text);
        else
            fprintf(out, "%s =\n", o->name);
    }
}

void hs_config_log(const struct hs_config_spec *spec, const void *cfg)
{
    if (!hs_log_enabled(HS_LOG_INFO))
        return;
    char buf[64];
    struct hs_buf line;
    hs_buf_init(&line, 0);
    hs_buf_printf(&line, "cmd=%s", spec->command);
    for (size_t i = 0; i < spec->n_opts; i++) {
        const struct hs_opt *o = &spec->opts[i];
        union hs_config_val v = hs_config_field_get(o, cfg);
        const char *text = value_text(o, &v, buf, sizeof buf);
        if (o->secret && is_set(o, &v))
            hs_buf_printf(&line, " %s=***", o->name);
        else if (o->type == HS_OPT_STRING && v.s)
            hs_buf_printf(&line, " %s='%s'", o->name, text);
        else
            hs_buf_printf(&line, " %s=%s", o->name, text);
    }
    HS_LOG_INFO("config", "%s", (const char *)line.data);
    hs_buf_release(&line);
}
