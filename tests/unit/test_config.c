/* test_config.c - the table-driven config loader: unit parsers and formatters, the file format
 * and its error messages, precedence (defaults < file < environment < flags), flag forms,
 * limits, validators, --help, --print-config (secrets masked), --version and positionals.
 * Environment variables use the prefix HS_TCFG_ and are removed after each test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hs/config.h"
#include "hs/daemon.h"
#include "hs/log.h"
#include "hs/banned.h"

struct tcfg {
    char *data_dir;     /* validated: absolute path */
    char *name;         /* default NULL */
    int64_t port;       /* 1..65535 */
    int64_t max_bytes;  /* bytes, 4KiB..1TiB */
    int64_t timeout_ms; /* 1ms..1d */
    bool fsync;         /* default true */
    bool verbose;       /* default false (NULL default) */
    int mode;           /* enum */
    char *token;        /* secret */
    int64_t offset;     /* no limits, negative allowed */
};

static const char *const mode_choices[] = {"fast", "safe", "paranoid", NULL};

static const char *check_abs_path(const void *value)
{
    const char *const *s = value;
    return *s && (*s)[0] != '/' ? "must be an absolute path" : NULL;
}

static const struct hs_opt topts[] = {
    {.name = "data-dir",
     .type = HS_OPT_STRING,
     .offset = offsetof(struct tcfg, data_dir),
     .def = "/var/lib/hs",
     .help = "where shards live",
     .check = check_abs_path},
    {.name = "name", .type = HS_OPT_STRING, .offset = offsetof(struct tcfg, name), .help = "id"},
    {.name = "port",
     .type = HS_OPT_INT,
     .offset = offsetof(struct tcfg, port),
     .def = "8080",
     .help = "TCP port",
     .min = 1,
     .max = 65535},
    {.name = "max-bytes",
     .type = HS_OPT_BYTES,
     .offset = offsetof(struct tcfg, max_bytes),
     .def = "64MiB",
     .help = "largest blob",
     .min = 4096,
     .max = INT64_C(1) << 40},
    {.name = "timeout",
     .type = HS_OPT_DURATION,
     .offset = offsetof(struct tcfg, timeout_ms),
     .def = "30s",
     .help = "request timeout",
     .min = 1,
     .max = 86400000},
    {.name = "fsync", .type = HS_OPT_BOOL, .offset = offsetof(struct tcfg, fsync), .def = "true"},
    {.name = "verbose", .type = HS_OPT_BOOL, .offset = offsetof(struct tcfg, verbose)},
    {.name = "mode",
     .type = HS_OPT_ENUM,
     .offset = offsetof(struct tcfg, mode),
     .def = "safe",
     .choices = mode_choices},
    {.name = "token",
     .type = HS_OPT_STRING,
     .offset = offsetof(struct tcfg, token),
     .help = "shared secret",
     .secret = true},
    {.name = "offset", .type = HS_OPT_INT, .offset = offsetof(struct tcfg, offset), .def = "-5"},
};

static const struct hs_config_spec tspec = {
    .command = "tcfg",
    .summary = "A test daemon.",
    .env_prefix = "HS_TCFG_",
    .opts = topts,
    .n_opts = sizeof topts / sizeof topts[0],
    .usage_args = "[KEY...]",
};

/* ---- helpers ---- */

static int clear_env(void **state)
{
    (void)state;
    static const char *const vars[] = {"HS_TCFG_PORT",  "HS_TCFG_DATA_DIR", "HS_TCFG_CONFIG",
                                       "HS_TCFG_TOKEN", "HS_TCFG_MODE",     "HS_TCFG_BOGUS",
                                       "HS_TCFG_NAME",  "HS_TCFG_TIMEOUT"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    return 0;
}

/* Writes text to a new temp file; returns its path (static buffer per call site is enough). */
static void write_temp(char *path, size_t pathlen, const char *text)
{
    snprintf(path, pathlen, "/tmp/hs_test_config_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

struct capture {
    int fd, saved;
    FILE *tmp;
};

static void capture_start(struct capture *c, int fd)
{
    fflush(stdout);
    fflush(stderr);
    c->fd = fd;
    c->tmp = tmpfile();
    assert_non_null(c->tmp);
    c->saved = dup(fd);
    assert_true(c->saved >= 0);
    assert_true(dup2(fileno(c->tmp), fd) >= 0);
}

/* Restores the fd and returns what was written to it (heap). */
static char *capture_stop(struct capture *c)
{
    fflush(stdout);
    fflush(stderr);
    dup2(c->saved, c->fd);
    close(c->saved);
    assert_int_equal(fseek(c->tmp, 0, SEEK_END), 0);
    long n = ftell(c->tmp);
    assert_true(n >= 0);
    rewind(c->tmp);
    char *s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, c->tmp), (size_t)n);
    fclose(c->tmp);
    return s;
}

#define MAX_ARGS 16

/* Runs hs_config_load on {"tcfg", args..., NULL}; stderr is captured into *errout when given. */
static enum hs_config_outcome load_argv(struct tcfg *c, const char **pos, size_t max_pos,
                                        size_t *n_pos, char **errout, ...)
{
    char *argv[MAX_ARGS + 2] = {"tcfg"};
    int argc = 1;
    va_list ap;
    va_start(ap, errout);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc <= MAX_ARGS;)
        argv[argc++] = (char *)(uintptr_t)a;
    va_end(ap);
    struct capture cap;
    capture_start(&cap, 2);
    memset(c, 0, sizeof *c);
    enum hs_config_outcome rc = hs_config_load(&tspec, c, argc, argv, pos, max_pos, n_pos);
    char *err = capture_stop(&cap);
    if (errout)
        *errout = err;
    else
        free(err);
    return rc;
}

#define LOAD(c, ...) load_argv((c), NULL, 0, NULL, NULL, __VA_ARGS__, NULL)

/* Loads text over defaults; returns the error text (static) or NULL on success. */
static const char *load_text(struct tcfg *c, const char *text)
{
    static char err[512];
    memset(c, 0, sizeof *c);
    hs_config_defaults(&tspec, c);
    err[0] = '\0';
    return hs_config_load_text(&tspec, c, text, strlen(text), "t.conf", err, sizeof err) == HS_OK
               ? NULL
               : err;
}

static char *print_to_string(const struct tcfg *c)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    assert_non_null(f);
    hs_config_print(&tspec, c, f);
    fclose(f);
    return s;
}

/* ---- unit parsers ---- */

static void parse_bytes_accepts_every_unit_form(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t want;
    } cases[] = {
        {"0", 0},
        {"512", 512},
        {"7b", 7},
        {"7B", 7},
        {"4k", 4096},
        {"4K", 4096},
        {"4KiB", 4096},
        {"4kib", 4096},
        {"64M", 64 << 20},
        {"64MiB", 64 << 20},
        {"1G", INT64_C(1) << 30},
        {"1GiB", INT64_C(1) << 30},
        {"2T", INT64_C(2) << 40},
        {"2TiB", INT64_C(2) << 40},
        {"1000kB", 1000000},
        {"1KB", 1000},
        {"1MB", 1000000},
        {"3GB", INT64_C(3000000000)},
        {"1TB", INT64_C(1000000000000)},
        {"0064MiB", 64 << 20},
        {"9223372036854775807", INT64_MAX},
        {"8388607TiB", INT64_C(8388607) << 40},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = -1;
        assert_int_equal(hs_config_parse_bytes(cases[i].text, &v), HS_OK);
        assert_int_equal(v, cases[i].want);
    }
}

static void parse_bytes_rejects_negative_garbage_and_overflow(void **state)
{
    (void)state;
    static const char *const garbage[] = {"",    "-1",   "+1",  " 1",    "1 ",   "1.5G",
                                          "abc", "12XB", "MiB", "1MiBs", "0x10", "1 MiB",
                                          "1e6", "1PiB", "1Ki", "--1",   "1k1",  "k"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        int64_t v = 42;
        assert_int_equal(hs_config_parse_bytes(garbage[i], &v), HS_EINVAL);
        assert_int_equal(v, 42); /* untouched on error */
    }
    static const char *const huge[] = {"9223372036854775808", "8388608TiB", "9999999999999999999G",
                                       "123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        int64_t v = 42;
        assert_int_equal(hs_config_parse_bytes(huge[i], &v), HS_ETOOBIG);
        assert_int_equal(v, 42);
    }
}

static void parse_duration_accepts_units_and_bare_seconds(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t want_ms;
    } cases[] = {
        {"500ms", 500},  {"30s", 30000},   {"10m", 600000},
        {"2h", 7200000}, {"1d", 86400000}, {"45", 45000},
        {"0", 0},        {"0ms", 0},       {"9223372036854775807ms", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = -1;
        assert_int_equal(hs_config_parse_duration_ms(cases[i].text, &v), HS_OK);
        assert_int_equal(v, cases[i].want_ms);
    }
    static const char *const bad[] = {"",   "-1s", "1.5s",  "s",  "10 s", "1w",
                                      "1M", "30S", "1h30m", "ms", "1us",  "+3s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 42;
        assert_int_equal(hs_config_parse_duration_ms(bad[i], &v), HS_EINVAL);
        assert_int_equal(v, 42);
    }
    int64_t v = 42;
    assert_int_equal(hs_config_parse_duration_ms("9223372036854775807s", &v), HS_ETOOBIG);
    assert_int_equal(hs_config_parse_duration_ms("106751991167301d", &v), HS_ETOOBIG);
    assert_int_equal(v, 42);
}

static void parse_bool_accepts_every_form_case_insensitively(void **state)
{
    (void)state;
    static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes", "ON"};
    static const char *const no[] = {"false", "no", "off", "0", "False", "NO", "Off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        bool b = false;
        assert_int_equal(hs_config_parse_bool(yes[i], &b), HS_OK);
        assert_true(b);
        b = true;
        assert_int_equal(hs_config_parse_bool(no[i], &b), HS_OK);
        assert_false(b);
    }
    static const char *const bad[] = {"", "2", "y", "n", "truth", " true", "enable"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool b = true;
        assert_int_equal(hs_config_parse_bool(bad[i], &b), HS_EINVAL);
        assert_true(b);
    }
}

static void parse_int_takes_signs_and_rejects_units_and_overflow(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(hs_config_parse_int("-5", &v), HS_OK);
    assert_int_equal(v, -5);
    assert_int_equal(hs_config_parse_int("+7", &v), HS_OK);
    assert_int_equal(v, 7);
    assert_int_equal(hs_config_parse_int("-9223372036854775808", &v), HS_OK);
    assert_true(v == INT64_MIN);
    assert_int_equal(hs_config_parse_int("9223372036854775807", &v), HS_OK);
    assert_true(v == INT64_MAX);
    v = 42;
    assert_int_equal(hs_config_parse_int("9223372036854775808", &v), HS_ETOOBIG);
    assert_int_equal(hs_config_parse_int("-9223372036854775809", &v), HS_ETOOBIG);
    assert_int_equal(hs_config_parse_int("1k", &v), HS_EINVAL);
    assert_int_equal(hs_config_parse_int("", &v), HS_EINVAL);
    assert_int_equal(hs_config_parse_int("-", &v), HS_EINVAL);
    assert_int_equal(hs_config_parse_int("--1", &v), HS_EINVAL);
    assert_int_equal(v, 42);
}

static void format_gives_shortest_exact_text_that_parses_back(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(hs_config_format_bytes(64 << 20, buf, sizeof buf), "64MiB");
    assert_string_equal(hs_config_format_bytes(1000, buf, sizeof buf), "1000");
    assert_string_equal(hs_config_format_bytes(1536, buf, sizeof buf), "1536");
    assert_string_equal(hs_config_format_bytes(0, buf, sizeof buf), "0");
    assert_string_equal(hs_config_format_bytes(INT64_C(3) << 40, buf, sizeof buf), "3TiB");
    assert_string_equal(hs_config_format_duration_ms(30000, buf, sizeof buf), "30s");
    assert_string_equal(hs_config_format_duration_ms(1500, buf, sizeof buf), "1500ms");
    assert_string_equal(hs_config_format_duration_ms(7200000, buf, sizeof buf), "2h");
    assert_string_equal(hs_config_format_duration_ms(90000, buf, sizeof buf), "90s");
    assert_string_equal(hs_config_format_duration_ms(86400000, buf, sizeof buf), "1d");
    assert_string_equal(hs_config_format_duration_ms(0, buf, sizeof buf), "0s");
    static const int64_t values[] = {0,         1,
                                     999,       1000,
                                     1024,      4096,
                                     65536,     86400000,
                                     1 << 20,   (INT64_C(1) << 40) * 7,
                                     INT64_MAX, INT64_MAX - 1};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        int64_t back = -1;
        assert_int_equal(
            hs_config_parse_bytes(hs_config_format_bytes(values[i], buf, sizeof buf), &back),
            HS_OK);
        assert_int_equal(back, values[i]);
        back = -1;
        assert_int_equal(hs_config_parse_duration_ms(
                             hs_config_format_duration_ms(values[i], buf, sizeof buf), &back),
                         HS_OK);
        assert_int_equal(back, values[i]);
    }
}

/* ---- file ---- */

static void defaults_fill_every_type(void **state)
{
    (void)state;
    struct tcfg c;
    memset(&c, 0xff, sizeof c); /* defaults overwrite, never read, what was there */
    hs_config_defaults(&tspec, &c);
    assert_string_equal(c.data_dir, "/var/lib/hs");
    assert_null(c.name);
    assert_int_equal(c.port, 8080);
    assert_int_equal(c.max_bytes, 64 << 20);
    assert_int_equal(c.timeout_ms, 30000);
    assert_true(c.fsync);
    assert_false(c.verbose);
    assert_int_equal(c.mode, 1);
    assert_null(c.token);
    assert_int_equal(c.offset, -5);
    hs_config_release(&tspec, &c);
    assert_null(c.data_dir);
    hs_config_release(&tspec, &c); /* twice is harmless */
    hs_config_release(&tspec, NULL);
}

static void file_sets_values_with_comments_blanks_crlf_and_underscore_keys(void **state)
{
    (void)state;
    struct tcfg c;
    const char *err = load_text(&c, "# a comment\n"
                                    "\n"
                                    "   # indented comment\n"
                                    "data_dir = /srv/data # not a comment\n"
                                    "PORT=9000\r\n"
                                    "  max-bytes   =   1GiB  \n"
                                    "Timeout = 500ms\n"
                                    "fsync = off\n"
                                    "verbose = YES\n"
                                    "mode = Paranoid\n"
                                    "name = node 1 = a\n"
                                    "offset = -42");
    assert_null(err);
    assert_string_equal(c.data_dir, "/srv/data # not a comment");
    assert_int_equal(c.port, 9000);
    assert_int_equal(c.max_bytes, INT64_C(1) << 30);
    assert_int_equal(c.timeout_ms, 500);
    assert_false(c.fsync);
    assert_true(c.verbose);
    assert_int_equal(c.mode, 2);
    assert_string_equal(c.name, "node 1 = a");
    assert_int_equal(c.offset, -42);
    hs_config_release(&tspec, &c);
}

static void file_errors_name_file_line_key_and_reason(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"port = 1\n\nprot = 2\n", "t.conf:3: unknown key 'prot'"},
        {"port = abc\n", "t.conf:1: key 'port': invalid integer 'abc'"},
        {"# x\nmax-bytes = 12XB\n", "t.conf:2: key 'max-bytes': invalid size '12XB'"},
        {"timeout = 1.5s\n", "t.conf:1: key 'timeout': invalid duration '1.5s'"},
        {"fsync = maybe\n", "t.conf:1: key 'fsync': invalid boolean 'maybe'"},
        {"\n\n\njust words\n", "t.conf:4: expected 'key = value'"},
        {" = 5\n", "t.conf:1: missing key before '='"},
        {"port = 1\nport = 2\n", "t.conf:2: key 'port' repeats line 1"},
        {"port =\n", "t.conf:1: key 'port': empty value"},
        {"max-bytes = -1\n", "t.conf:1: key 'max-bytes': invalid size '-1'"},
        {"max-bytes = 99999999999999999999\n", "t.conf:1: key 'max-bytes': size "},
        {"name = a\tb\n", "t.conf:1: key 'name': control character in value"},
        {"data-dir = relative/path\n", "t.conf:1: key 'data-dir': must be an absolute path"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tcfg c;
        const char *err = load_text(&c, cases[i].text);
        assert_non_null(err);
        if (strstr(err, cases[i].want) != err)
            fail_msg("case %zu: got \"%s\", want prefix \"%s\"", i, err, cases[i].want);
        hs_config_release(&tspec, &c);
    }
}

static void file_with_nul_byte_names_the_line(void **state)
{
    (void)state;
    struct tcfg c;
    memset(&c, 0, sizeof c);
    hs_config_defaults(&tspec, &c);
    static const char text[] = "port = 1\nname = a\0b\n";
    char err[256];
    assert_int_equal(
        hs_config_load_text(&tspec, &c, text, sizeof text - 1, "n.conf", err, sizeof err),
        HS_EINVAL);
    assert_string_equal(err, "n.conf:2: NUL byte in line");
    hs_config_release(&tspec, &c);
}

static void file_error_leaves_config_unchanged(void **state)
{
    (void)state;
    struct tcfg c;
    const char *err = load_text(&c, "name = changed\nport = 1\nprot = 2\n");
    assert_non_null(err);
    assert_null(c.name);
    assert_int_equal(c.port, 8080);
    hs_config_release(&tspec, &c);
}

static void file_replaces_default_string_without_leaking(void **state)
{
    (void)state;
    struct tcfg c;
    assert_null(load_text(&c, "data-dir = /a\nname = x\n"));
    char err[128];
    static const char more[] = "data-dir = /b\nname =\n";
    assert_int_equal(hs_config_load_text(&tspec, &c, more, sizeof more - 1, "m", err, sizeof err),
                     HS_OK);
    assert_string_equal(c.data_dir, "/b");
    assert_null(c.name); /* empty value unsets a string */
    hs_config_release(&tspec, &c);
}

/* ---- hs_config_load: sources and precedence ---- */

static void precedence_is_defaults_then_file_then_env_then_flags(void **state)
{
    (void)state;
    char path[64];
    write_temp(path, sizeof path, "name = from-file\nport = 1111\ntimeout = 1m\nmode = fast\n");
    setenv("HS_TCFG_PORT", "2222", 1);
    setenv("HS_TCFG_TIMEOUT", "2m", 1);
    setenv("HS_TCFG_NAME", "", 1); /* empty: ignored */
    struct tcfg c;
    assert_int_equal(LOAD(&c, "--config", path, "--timeout=3m"), HS_CONFIG_RUN);
    assert_int_equal(c.max_bytes, 64 << 20);   /* default */
    assert_string_equal(c.name, "from-file");  /* file */
    assert_int_equal(c.mode, 0);               /* file */
    assert_int_equal(c.port, 2222);            /* env over file */
    assert_int_equal(c.timeout_ms, 3 * 60000); /* flag over env over file */
    hs_config_release(&tspec, &c);

    /* the file can come from <prefix>CONFIG too; --config wins over it */
    setenv("HS_TCFG_CONFIG", path, 1);
    assert_int_equal(LOAD(&c, "--port", "3333"), HS_CONFIG_RUN);
    assert_string_equal(c.name, "from-file");
    assert_int_equal(c.port, 3333);
    hs_config_release(&tspec, &c);
    setenv("HS_TCFG_CONFIG", "/nonexistent/hs.conf", 1);
    assert_int_equal(LOAD(&c, "--config", path), HS_CONFIG_RUN);
    assert_string_equal(c.name, "from-file");
    hs_config_release(&tspec, &c);
    unlink(path);
}

static void missing_config_file_is_reported(void **state)
{
    (void)state;
    struct tcfg c;
    char *err = NULL;
    assert_int_equal(load_argv(&c, NULL, 0, NULL, &err, "--config=/nonexistent/x.conf", NULL),
                     HS_CONFIG_EXIT_BAD);
    assert_non_null(strstr(err, "hybridstore tcfg: cannot open config file '/nonexistent/x.conf'"));
    free(err);
    assert_null(c.data_dir); /* released on failure */
}

static void bad_file_through_load_names_path_and_line(void **state)
{
    (void)state;
    char path[64], want[512];
    write_temp(path, sizeof path, "port = 80\nmode = turbo\n");
    struct tcfg c;
    char *err = NULL;
    assert_int_equal(load_argv(&c, NULL, 0, NULL, &err, "--config", path, NULL),
                     HS_CONFIG_EXIT_BAD);
    snprintf(want, sizeof want,
             "%s:2: key 'mode': invalid choice 'turbo' (one of: fast, safe, "
             "paranoid)",
             path);
    assert_non_null(strstr(err, want));
    free(err);
    unlink(path);
}

static void bad_env_value_names_the_variable(void **state)
{
    (void)state;
    setenv("HS_TCFG_PORT", "80x", 1);
    struct tcfg c;
    char *err = NULL;
    assert_int_equal(load_argv(&c, NULL, 0, NULL, &err, NULL), HS_CONFIG_EXIT_BAD);
    assert_non_null(strstr(err, "HS_TCFG_PORT: key 'port': invalid integer '80x'"));
    free(err);
    assert_null(c.data_dir);
}

static void unknown_env_variable_with_prefix_is_warned_not_fatal(void **state)
{
    (void)state;
    setenv("HS_TCFG_BOGUS", "1", 1);
    struct tcfg c;
    char *err = NULL;
    assert_int_equal(load_argv(&c, NULL, 0, NULL, &err, NULL), HS_CONFIG_RUN);
    assert_non_null(strstr(err, "ignoring unknown environment variable 'HS_TCFG_BOGUS'"));
    free(err);
    hs_config_release(&tspec, &c);
}

static void unknown_flag_is_rejected(void **state)
{
    (void)state;
    struct tcfg c;
    char *err = NULL;
    assert_int_equal(load_argv(&c, NULL, 0, NULL, &err, "--port=1", "--bogus", "x", NULL),
                     HS_CONFIG_EXIT_BAD);
    assert_non_null(strstr(err, "unknown flag '--bogus'"));
    free(err);
    assert_null(c.data_dir);
}

static void flag_forms_set_values(void **state)
{
    (void)state;
    struct tcfg c;
    assert_int_equal(LOAD(&c, "--port=9", "--data-dir", "/x", "--no-fsync", "--verbose",
                          "--max_bytes", "4k", "--offset", "-7", "--name="),
                     HS_CONFIG_RUN);
    assert_int_equal(c.port, 9);
    assert_string_equal(c.data_dir, "/x");
    assert_false(c.fsync);
    assert_true(c.verbose);
    assert_int_equal(c.max_bytes, 4096);
    assert_int_equal(c.offset, -7);
    assert_null(c.name);
    hs_config_release(&tspec, &c);

    /* explicit bool values; the last of repeated flags wins */
    assert_int_equal(
        LOAD(&c, "--fsync=false", "--verbose=yes", "--fsync=on", "--port", "1", "--port", "2"),
        HS_CONFIG_RUN);
    assert_true(c.fsync);
    assert_true(c.verbose);
    assert_int_equal(c.port, 2);
    hs_config_release(&tspec, &c);
}

static void malformed_flags_are_rejected_with_a_reason(void **state)
{
    (void)state;
    static const struct {
        const char *args[3];
        const char *want;
    } cases[] = {
        {{"--port"}, "--port needs a value"},
        {{"--port", "--fsync"}, "--port needs a value"},
        {{"--no-port"}, "--no-port: not a boolean option"},
        {{"--no-fsync=1"}, "--no-fsync: takes no value"},
        {{"--verbose=maybe"}, "--verbose: key 'verbose': invalid boolean 'maybe'"},
        {{"--version=2"}, "--version takes no value"},
        {{"--config"}, "--config needs a value"},
        {{"--config="}, "--config needs a value"},
        {{"--print-config=yes"}, "--print-config takes no value"},
        {{"--timeout", ""}, "--timeout: key 'timeout': empty value"},
        {{"stray"}, "unexpected argument 'stray'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tcfg c;
        char *err = NULL;
        enum hs_config_outcome rc = load_argv(&c, NULL, 0, NULL, &err, cases[i].args[0],
                                              cases[i].args[1], cases[i].args[2], NULL);
        if (rc != HS_CONFIG_EXIT_BAD || !strstr(err, cases[i].want))
            fail_msg("case %zu: rc %d, stderr \"%s\", want \"%s\"", i, rc, err, cases[i].want);
        free(err);
        hs_config_release(&tspec, &c);
    }
}

static void enum_accepts_only_its_choices(void **state)
{
    (void)state;
    struct tcfg c;
    assert_int_equal(LOAD(&c, "--mode", "PARANOID"), HS_CONFIG_RUN);
    assert_int_equal(c.mode, 2);
    hs_config_release(&tspec, &c);
    char *err = NULL;
    assert_int_equal(load_argv(&c, NULL, 0, NULL, &err, "--mode=turbo", NULL), HS_CONFIG_EXIT_BAD);
    assert_non_null(
        strstr(err, "--mode: key 'mode': invalid choice 'turbo' (one of: fast, safe, paranoid)"));
    free(err);
}

static void numeric_limits_are_inclusive_and_reported_in_units(void **state)
{
    (void)state;
    struct tcfg c;
    assert_int_equal(LOAD(&c, "--port=65535", "--max-bytes=4KiB", "--timeout=1d"), HS_CONFIG_RUN);
    assert_int_equal(c.port, 65535);
    assert_int_equal(c.max_bytes, 4096);
    assert_int_equal(c.timeout_ms, 86400000);
    hs_config_release(&tspec, &c);
    assert_int_equal(LOAD(&c, "--port=1", "--timeout=1ms", "--max-bytes=1TiB"), HS_CONFIG_RUN);
    hs_config_release(&tspec, &c);
    static const struct {
        const char *arg, *want;
    } cases[] = {
        {"--port=0",
         "--port: key 'port': integer '0' is out of range: must be between 1 and 65535"},
        {"--port=65536", "must be between 1 and 65535"},
        {"--max-bytes=4095", "size '4095' is out of range: must be between 4KiB and 1TiB"},
        {"--max-bytes=1TB", "must be between 4KiB and 1TiB"}, /* 1TB < 1TiB: accepted below */
        {"--timeout=0", "duration '0' is out of range: must be between 1ms and 1d"},
        {"--timeout=25h", "must be between 1ms and 1d"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err = NULL;
        enum hs_config_outcome rc = load_argv(&c, NULL, 0, NULL, &err, cases[i].arg, NULL);
        bool ok = rc == HS_CONFIG_EXIT_BAD && strstr(err, cases[i].want);
        if (i == 3) /* 10^12 is within [4KiB, 2^40]: the decimal form is accepted */
            ok = rc == HS_CONFIG_RUN;
        if (!ok)
            fail_msg("case %zu: rc %d, stderr \"%s\"", i, rc, err);
        free(err);
        hs_config_release(&tspec, &c);
    }
}

static void validator_rejects_value(void **state)
{
    (void)state;
    struct tcfg c;
    char *err = NULL;
    assert_int_equal(load_argv(&c, NULL, 0, NULL, &err, "--data-dir", "rel", NULL),
                     HS_CONFIG_EXIT_BAD);
    assert_non_null(strstr(err, "--data-dir: key 'data-dir': must be an absolute path"));
    free(err);
}

static void positional_args_are_collected_in_order(void **state)
{
    (void)state;
    struct tcfg c;
    const char *pos[3] = {NULL};
    size_t n = 99;
    assert_int_equal(load_argv(&c, pos, 3, &n, NULL, "a", "--port", "9", "b", "--fsync", "c", NULL),
                     HS_CONFIG_RUN);
    assert_int_equal(n, 3);
    assert_string_equal(pos[0], "a");
    assert_string_equal(pos[1], "b");
    assert_string_equal(pos[2], "c"); /* a bare bool flag never takes the next argument */
    assert_int_equal(c.port, 9);
    hs_config_release(&tspec, &c);

    const char *few[1] = {NULL};
    n = 99;
    char *err = NULL;
    assert_int_equal(load_argv(&c, few, 1, &n, &err, "a", "b", NULL), HS_CONFIG_EXIT_BAD);
    assert_non_null(strstr(err, "too many arguments at 'b' (at most 1)"));
    assert_int_equal(n, 99); /* untouched on failure */
    free(err);
}

static void double_dash_ends_flags(void **state)
{
    (void)state;
    struct tcfg c;
    const char *pos[4] = {NULL};
    size_t n = 0;
    assert_int_equal(
        load_argv(&c, pos, 4, &n, NULL, "--port=7", "--", "--port=8", "--help", "-h", NULL),
        HS_CONFIG_RUN);
    assert_int_equal(c.port, 7);
    assert_int_equal(n, 3);
    assert_string_equal(pos[0], "--port=8");
    assert_string_equal(pos[1], "--help");
    assert_string_equal(pos[2], "-h");
    hs_config_release(&tspec, &c);
}

/* ---- output ---- */

static void print_config_masks_secret_and_loads_back(void **state)
{
    (void)state;
    struct tcfg c;
    assert_int_equal(
        LOAD(&c, "--token", "s3cr3t", "--name", "n1", "--max-bytes", "5000", "--timeout", "1500ms"),
        HS_CONFIG_RUN);
    char *out = print_to_string(&c);
    assert_null(strstr(out, "s3cr3t"));
    assert_non_null(strstr(out, "\n# token = ***\n"));
    assert_non_null(strstr(out, "\ndata-dir = /var/lib/hs\n"));
    assert_non_null(strstr(out, "\nname = n1\n"));
    assert_non_null(strstr(out, "\nport = 8080\n"));
    assert_non_null(strstr(out, "\nmax-bytes = 5000\n"));
    assert_non_null(strstr(out, "\ntimeout = 1500ms\n"));
    assert_non_null(strstr(out, "\nfsync = true\n"));
    assert_non_null(strstr(out, "\nmode = safe\n"));
    assert_non_null(strstr(out, "\noffset = -5\n"));

    /* fed back as a file it gives the same values, except the secret */
    struct tcfg d;
    memset(&d, 0, sizeof d);
    hs_config_defaults(&tspec, &d);
    char err[256] = "";
    assert_int_equal(hs_config_load_text(&tspec, &d, out, strlen(out), "p", err, sizeof err),
                     HS_OK);
    assert_null(d.token);
    d.token = strdup("s3cr3t");
    char *again = print_to_string(&d);
    assert_string_equal(out, again);
    free(out);
    free(again);
    hs_config_release(&tspec, &c);
    hs_config_release(&tspec, &d);

    /* an unset secret prints as an empty value */
    assert_int_equal(LOAD(&c, "--port=1"), HS_CONFIG_RUN);
    out = print_to_string(&c);
    assert_non_null(strstr(out, "\ntoken =\n"));
    assert_non_null(strstr(out, "\nname =\n"));
    free(out);
    hs_config_release(&tspec, &c);
}

static void print_config_flag_prints_effective_config_and_exits_ok(void **state)
{
    (void)state;
    setenv("HS_TCFG_TOKEN", "envsecret", 1);
    struct tcfg c;
    struct capture cap;
    capture_start(&cap, 1);
    enum hs_config_outcome rc = LOAD(&c, "--print-config", "--port", "4242");
    char *out = capture_stop(&cap);
    assert_int_equal(rc, HS_CONFIG_EXIT_OK);
    assert_non_null(strstr(out, "# hybridstore tcfg: effective configuration"));
    assert_non_null(strstr(out, "\nport = 4242\n"));
    assert_non_null(strstr(out, "\n# token = ***\n"));
    assert_null(strstr(out, "envsecret"));
    assert_null(c.data_dir); /* nothing left to release */
    free(out);
}

static void bad_secret_value_is_not_echoed(void **state)
{
    (void)state;
    static const struct hs_opt sopts[] = {
        {.name = "key", .type = HS_OPT_INT, .offset = 0, .secret = true}};
    static const struct hs_config_spec sspec = {
        .command = "s", .env_prefix = "HS_TCFG_S_", .opts = sopts, .n_opts = 1};
    int64_t v = 0;
    char err[256];
    static const char text[] = "key = hunter2\n";
    assert_int_equal(
        hs_config_load_text(&sspec, &v, text, sizeof text - 1, "s.conf", err, sizeof err),
        HS_EINVAL);
    assert_null(strstr(err, "hunter2"));
    assert_non_null(strstr(err, "s.conf:1: key 'key': invalid integer '***'"));
}

static void help_lists_every_option_with_default_and_env(void **state)
{
    (void)state;
    struct tcfg c;
    struct capture cap;
    capture_start(&cap, 1);
    /* --help wins even over an unknown flag and a bad value */
    enum hs_config_outcome rc = LOAD(&c, "--bogus", "--port=x", "--help");
    char *out = capture_stop(&cap);
    assert_int_equal(rc, HS_CONFIG_EXIT_OK);
    assert_non_null(strstr(out, "usage: hybridstore tcfg [options] [KEY...]\n\nA test daemon.\n"));
    assert_non_null(strstr(out, "--data-dir TEXT"));
    assert_non_null(strstr(out, "where shards live (default: /var/lib/hs; env HS_TCFG_DATA_DIR)"));
    assert_non_null(strstr(out, "--port N"));
    assert_non_null(strstr(out, "(default: 8080; env HS_TCFG_PORT)"));
    assert_non_null(strstr(out, "--max-bytes SIZE"));
    assert_non_null(strstr(out, "(default: 64MiB; env HS_TCFG_MAX_BYTES)"));
    assert_non_null(strstr(out, "(default: 30s; env HS_TCFG_TIMEOUT)"));
    assert_non_null(strstr(out, "--[no-]fsync"));
    assert_non_null(strstr(out, "--mode fast|safe|paranoid"));
    assert_non_null(strstr(out, "(default: safe; env HS_TCFG_MODE)"));
    assert_non_null(strstr(out, "(default: none; env HS_TCFG_TOKEN)"));
    assert_non_null(strstr(out, "--config FILE"));
    assert_non_null(strstr(out, "env HS_TCFG_CONFIG"));
    assert_non_null(strstr(out, "--print-config"));
    assert_non_null(strstr(out, "--version"));
    free(out);

    capture_start(&cap, 1);
    rc = LOAD(&c, "-h");
    out = capture_stop(&cap);
    assert_int_equal(rc, HS_CONFIG_EXIT_OK);
    assert_non_null(strstr(out, "usage: hybridstore tcfg"));
    free(out);
}

static void version_prints_release_and_commit(void **state)
{
    (void)state;
    struct tcfg c;
    struct capture cap;
    capture_start(&cap, 1);
    enum hs_config_outcome rc = LOAD(&c, "--version");
    char *out = capture_stop(&cap);
    assert_int_equal(rc, HS_CONFIG_EXIT_OK);
    char want[128];
    snprintf(want, sizeof want, "hybridstore %s (git ", HS_VERSION_STRING);
    assert_true(strncmp(out, want, strlen(want)) == 0);
    assert_int_equal(out[strlen(out) - 2], ')');
    free(out);
}

static void config_log_line_has_every_key_and_masks_secret(void **state)
{
    (void)state;
    struct tcfg c;
    assert_int_equal(LOAD(&c, "--token=s3cr3t", "--name=n 1"), HS_CONFIG_RUN);
    hs_log_init("test", HS_LOG_INFO);
    struct capture cap;
    capture_start(&cap, 2);
    hs_config_log(&tspec, &c);
    char *out = capture_stop(&cap);
    assert_non_null(strstr(out, "lvl=info comp=test evt=config cmd=tcfg data-dir='/var/lib/hs' "
                                "name='n 1' port=8080 max-bytes=64MiB timeout=30s fsync=true "
                                "verbose=false mode=safe token=*** offset=-5\n"));
    assert_null(strstr(out, "s3cr3t"));
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out)); /* one line */
    free(out);
    hs_config_release(&tspec, &c);
}

/* ---- the rows and start-up every daemon shares (daemon.h) ---- */

struct tdaemon {
    struct hs_daemon_opts daemon;
    int64_t extra;
};

static const struct hs_opt tdaemon_opts[] = {
    HS_DAEMON_OPT_ROWS(struct tdaemon, "127.0.0.1:7", "where to listen", "the secret"),
    {.name = "extra", .type = HS_OPT_INT, .offset = offsetof(struct tdaemon, extra), .def = "3"},
};

static const struct hs_config_spec tdaemon_spec = {
    .command = "tdaemon",
    .summary = "test daemon",
    .env_prefix = "HS_TDMN_",
    .opts = tdaemon_opts,
    .n_opts = sizeof tdaemon_opts / sizeof tdaemon_opts[0],
};

/* hs_daemon_begin on {"tdaemon", args..., NULL}, stderr captured (and dropped). */
static int begin_argv(struct tdaemon *c, struct hs_daemon_start *st, ...)
{
    char *argv[MAX_ARGS + 2] = {"tdaemon"};
    int argc = 1;
    va_list ap;
    va_start(ap, st);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc <= MAX_ARGS;)
        argv[argc++] = (char *)(uintptr_t)a;
    va_end(ap);
    struct capture cap;
    capture_start(&cap, 2);
    memset(c, 0, sizeof *c);
    int rc = hs_daemon_begin(&tdaemon_spec, c, &c->daemon, argc, argv, st);
    free(capture_stop(&cap));
    return rc;
}

static void daemon_rows_and_begin_give_every_daemon_the_same_start_up(void **state)
{
    (void)state;
    struct tdaemon c;
    struct hs_daemon_start st;
    /* the shared rows land in the daemon member, the daemon's own rows after them */
    assert_int_equal(begin_argv(&c, &st, "--listen", "127.0.0.1:9", "--etcd", "http://e:1",
                                "--secret", "s3", "--log-level", "warn", "--extra", "5", NULL),
                     -1);
    assert_string_equal(st.host, "127.0.0.1");
    assert_int_equal(st.port, 9);
    assert_string_equal(st.secret, "s3");
    assert_string_equal(c.daemon.etcd, "http://e:1");
    assert_int_equal(c.daemon.log_level, HS_LOG_WARN);
    assert_int_equal(c.extra, 5);
    free(st.secret);
    hs_config_release(&tdaemon_spec, &c);
    /* defaults */
    assert_int_equal(begin_argv(&c, &st, "--secret", "s", NULL), -1);
    assert_string_equal(c.daemon.listen, "127.0.0.1:7");
    assert_string_equal(c.daemon.etcd, "http://127.0.0.1:2379");
    assert_int_equal(c.daemon.log_level, HS_LOG_INFO);
    assert_int_equal(st.port, 7);
    free(st.secret);
    hs_config_release(&tdaemon_spec, &c);
    /* exit 2: a listen address that is not host:port, no secret, both secret and file */
    assert_int_equal(begin_argv(&c, &st, "--secret", "s", "--listen", "nohost", NULL), 2);
    hs_config_release(&tdaemon_spec, &c);
    assert_int_equal(begin_argv(&c, &st, NULL), 2);
    assert_null(st.secret);
    hs_config_release(&tdaemon_spec, &c);
    assert_int_equal(begin_argv(&c, &st, "--secret", "s", "--secret-file", "/nonexistent", NULL),
                     2);
    assert_null(st.secret);
    hs_config_release(&tdaemon_spec, &c);
    /* the secret row is masked like any secret: --print-config exits 0 */
    assert_int_equal(begin_argv(&c, &st, "--secret", "s", "--print-config", NULL), 0);
    hs_config_release(&tdaemon_spec, &c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_bytes_accepts_every_unit_form),
        cmocka_unit_test(parse_bytes_rejects_negative_garbage_and_overflow),
        cmocka_unit_test(parse_duration_accepts_units_and_bare_seconds),
        cmocka_unit_test(parse_bool_accepts_every_form_case_insensitively),
        cmocka_unit_test(parse_int_takes_signs_and_rejects_units_and_overflow),
        cmocka_unit_test(format_gives_shortest_exact_text_that_parses_back),
        cmocka_unit_test(defaults_fill_every_type),
        cmocka_unit_test(file_sets_values_with_comments_blanks_crlf_and_underscore_keys),
        cmocka_unit_test(file_errors_name_file_line_key_and_reason),
        cmocka_unit_test(file_with_nul_byte_names_the_line),
        cmocka_unit_test(file_error_leaves_config_unchanged),
        cmocka_unit_test(file_replaces_default_string_without_leaking),
        cmocka_unit_test_teardown(precedence_is_defaults_then_file_then_env_then_flags, clear_env),
        cmocka_unit_test(missing_config_file_is_reported),
        cmocka_unit_test(bad_file_through_load_names_path_and_line),
        cmocka_unit_test_teardown(bad_env_value_names_the_variable, clear_env),
        cmocka_unit_test_teardown(unknown_env_variable_with_prefix_is_warned_not_fatal, clear_env),
        cmocka_unit_test(unknown_flag_is_rejected),
        cmocka_unit_test(flag_forms_set_values),
        cmocka_unit_test(malformed_flags_are_rejected_with_a_reason),
        cmocka_unit_test(enum_accepts_only_its_choices),
        cmocka_unit_test(numeric_limits_are_inclusive_and_reported_in_units),
        cmocka_unit_test(validator_rejects_value),
        cmocka_unit_test(positional_args_are_collected_in_order),
        cmocka_unit_test(double_dash_ends_flags),
        cmocka_unit_test(print_config_masks_secret_and_loads_back),
        cmocka_unit_test_teardown(print_config_flag_prints_effective_config_and_exits_ok,
                                  clear_env),
        cmocka_unit_test(bad_secret_value_is_not_echoed),
        cmocka_unit_test(help_lists_every_option_with_default_and_env),
        cmocka_unit_test(version_prints_release_and_commit),
        cmocka_unit_test(config_log_line_has_every_key_and_masks_secret),
        cmocka_unit_test(daemon_rows_and_begin_give_every_daemon_the_same_start_up),
    };
    return cmocka_run_group_tests(tests, clear_env, NULL);
}
