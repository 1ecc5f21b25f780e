/* fuzz_config.c - arbitrary bytes through the config-file parser (hs_config_load_text) and the
 * unit parsers. Beyond "no crash, no leak" it checks two properties: a failed load leaves the
 * config untouched, and --print-config output loads back to the same text (round trip). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/config.h"
#include "hs/mem.h"
#include "hs/banned.h"

struct fcfg {
    char *path;
    char *name;
    int64_t count;
    int64_t limit;
    int64_t bytes;
    int64_t timeout_ms;
    bool flag;
    int level;
};

static const char *const level_choices[] = {"low", "mid", "high", NULL};

static const char *check_no_space(const void *value)
{
    const char *const *s = value;
    return *s && strchr(*s, ' ') ? "must not contain spaces" : NULL;
}

/* No secret here: a masked secret does not round-trip by design (see config.h). */
static const struct hs_opt fopts[] = {
    {.name = "path",
     .type = HS_OPT_STRING,
     .offset = offsetof(struct fcfg, path),
     .def = "/x",
     .check = check_no_space},
    {.name = "name", .type = HS_OPT_STRING, .offset = offsetof(struct fcfg, name)},
    {.name = "count", .type = HS_OPT_INT, .offset = offsetof(struct fcfg, count), .def = "3"},
    {.name = "limit",
     .type = HS_OPT_INT,
     .offset = offsetof(struct fcfg, limit),
     .def = "10",
     .min = -100,
     .max = 100},
    {.name = "bytes", .type = HS_OPT_BYTES, .offset = offsetof(struct fcfg, bytes), .def = "1MiB"},
    {.name = "timeout",
     .type = HS_OPT_DURATION,
     .offset = offsetof(struct fcfg, timeout_ms),
     .def = "5s"},
    {.name = "flag", .type = HS_OPT_BOOL, .offset = offsetof(struct fcfg, flag)},
    {.name = "level",
     .type = HS_OPT_ENUM,
     .offset = offsetof(struct fcfg, level),
     .def = "mid",
     .choices = level_choices},
};

static const struct hs_config_spec fspec = {
    .command = "fuzz",
    .env_prefix = "HS_FUZZ_",
    .opts = fopts,
    .n_opts = sizeof fopts / sizeof fopts[0],
};

static char *print_config(const struct fcfg *c, size_t *len)
{
    char *s = NULL;
    FILE *f = open_memstream(&s, len);
    if (!f)
        abort();
    hs_config_print(&fspec, c, f);
    fclose(f);
    return s;
}

static void fuzz_unit_parsers(const uint8_t *data, size_t size)
{
    char *text = hs_xstrndup((const char *)data, HS_MIN(size, 64));
    int64_t v = 0;
    bool b = false;
    char buf[32];
    if (hs_config_parse_bytes(text, &v) == HS_OK) {
        int64_t back = -1;
        if (v < 0 || hs_config_parse_bytes(hs_config_format_bytes(v, buf, sizeof buf), &back) ||
            back != v)
            abort();
    }
    if (hs_config_parse_duration_ms(text, &v) == HS_OK) {
        int64_t back = -1;
        if (v < 0 ||
            hs_config_parse_duration_ms(hs_config_format_duration_ms(v, buf, sizeof buf), &back) ||
            back != v)
            abort();
    }
    (void)hs_config_parse_int(text, &v);
    (void)hs_config_parse_bool(text, &b);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_unit_parsers(data, size);

    struct fcfg c;
    memset(&c, 0, sizeof c);
    hs_config_defaults(&fspec, &c);
    size_t before_len = 0;
    char *before = print_config(&c, &before_len);
    char err[256];
    enum hs_err rc =
        hs_config_load_text(&fspec, &c, (const char *)data, size, "fuzz.conf", err, sizeof err);
    size_t after_len = 0;
    char *after = print_config(&c, &after_len);
    if (rc != HS_OK) {
        /* all or nothing: a rejected file changes nothing, and the message names the file */
        if (strcmp(before, after) != 0 || strncmp(err, "fuzz.conf:", 10) != 0)
            abort();
    } else {
        /* what --print-config writes loads back to the same configuration */
        struct fcfg d;
        memset(&d, 0, sizeof d);
        hs_config_defaults(&fspec, &d);
        if (hs_config_load_text(&fspec, &d, after, after_len, "printed", err, sizeof err) != HS_OK)
            abort();
        size_t again_len = 0;
        char *again = print_config(&d, &again_len);
        if (strcmp(after, again) != 0)
            abort();
        free(again);
        hs_config_release(&fspec, &d);
    }
    free(before);
    free(after);
    hs_config_release(&fspec, &c);
    return 0;
}
