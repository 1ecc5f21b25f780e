/* cmd_object.c - the object commands of the CLI against a gateway's native API: put, get, rm,
 * ls and stat. Bodies stream between files and the network (client.c); nothing is buffered
 * whole except listings and manifests. Exit codes: client.h (HS_CLI_EXIT_*). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/client.h"
#include "commands.h"
#include "hs/clock.h"
#include "hs/config.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

struct obj_config {
    char *url;
    char *strategy;
    char *content_type;
    char *output;
    char *if_match;
    bool json;
    int64_t page_size;
    int64_t timeout_ms;
    char *etcd; /* stat: where the collection's layout record is read */
};

static const char *const strategies[] = {"auto", "replication", "ec", "field_hybrid", NULL};

#define FIELD(f) .offset = offsetof(struct obj_config, f)
#define OPT_URL                                                                                    \
    {                                                                                              \
        .name = "url", .type = HS_OPT_STRING, FIELD(url),                                          \
        .help = "gateway URL (default $HYBRIDSTORE_URL, else " HS_CLI_DEFAULT_URL ")"              \
    }
#define OPT_TIMEOUT                                                                                \
    {                                                                                              \
        .name = "timeout", .type = HS_OPT_DURATION, FIELD(timeout_ms), .def = "0", .min = 0,       \
        .max = 86400000,                                                                           \
        .help = "give up after this long (0 = never; connecting is bounded to 5s)"                 \
    }
#define OPT_IF_MATCH                                                                               \
    {                                                                                              \
        .name = "if-match", .type = HS_OPT_STRING, FIELD(if_match),                                \
        .help = "only if the current version has this ETag (exit 4 otherwise)"                     \
    }
#define OPT_JSON                                                                                   \
    {                                                                                              \
        .name = "json", .type = HS_OPT_BOOL, FIELD(json),                                          \
        .help = "print the server's JSON as it is"                                                 \
    }

static const struct hs_opt put_opts[] = {
    OPT_URL,
    {.name = "strategy",
     .type = HS_OPT_STRING,
     FIELD(strategy),
     .help = "auto (default), replication, ec or field_hybrid"},
    {.name = "content-type",
     .type = HS_OPT_STRING,
     FIELD(content_type),
     .help = "stored Content-Type (default: application/json for *.json, else "
             "application/octet-stream)"},
    OPT_IF_MATCH,
    OPT_TIMEOUT,
};
static const struct hs_opt get_opts[] = {
    OPT_URL,
    {.name = "output",
     .type = HS_OPT_STRING,
     FIELD(output),
     .help = "write the object to this file (also -o); default stdout"},
    OPT_TIMEOUT,
};
static const struct hs_opt rm_opts[] = {OPT_URL, OPT_IF_MATCH, OPT_TIMEOUT};
static const struct hs_opt ls_opts[] = {
    OPT_URL,
    {.name = "page-size",
     .type = HS_OPT_INT,
     FIELD(page_size),
     .def = "1000",
     .min = 1,
     .max = 1000,
     .help = "keys asked per request (the listing pages through all of them)"},
    OPT_JSON,
    OPT_TIMEOUT,
};
static const struct hs_opt stat_opts[] = {
    OPT_URL,
    OPT_JSON,
    OPT_TIMEOUT,
    {.name = "etcd",
     .type = HS_OPT_STRING,
     FIELD(etcd),
     .def = "http://127.0.0.1:8100",
     .help = "etcd endpoints for the collection's layout record (field_hybrid objects)"}};

#define SPEC(cmd, opts_, args, text)                                                               \
    {                                                                                              \
        .command = (cmd), .summary = text " " HS_CLI_EXIT_HELP ".", .env_prefix = "HYBRIDSTORE_",  \
        .opts = (opts_), .n_opts = HS_ARRAY_LEN(opts_), .usage_args = (args)                       \
    }

static const struct hs_config_spec put_spec =
    SPEC("put", put_opts, "KEY [FILE|-]",
         "Stores FILE (or stdin when FILE is - or absent) as object KEY, streaming it; prints "
         "the new version.");
static const struct hs_config_spec get_spec =
    SPEC("get", get_opts, "KEY", "Writes object KEY to stdout, or to --output/-o FILE.");
static const struct hs_config_spec rm_spec = SPEC("rm", rm_opts, "KEY", "Deletes object KEY.");
static const struct hs_config_spec ls_spec =
    SPEC("ls", ls_opts, "[PREFIX]",
         "Lists objects (size, modified time UTC, strategy, key) in key order, all pages.");
static const struct hs_config_spec stat_spec =
    SPEC("stat", stat_opts, "KEY",
         "Shows object KEY's manifest: strategy, sizes, version and every blob with its node; "
         "for field_hybrid each field's part and whether the object has an older layout than "
         "its collection's (read from --etcd).");

/* hs_config knows only --long flags: let `get KEY -o FILE` work as users expect. The copy
 * borrows argv's strings. */
static char **short_flags(int argc, char **argv)
{
    char **v = hs_xcalloc((size_t)argc + 1, sizeof *v);
    for (int i = 0; i < argc; i++)
        v[i] = strcmp(argv[i], "-o") == 0 ? (char *)"--output" : argv[i];
    return v;
}

/* Loads cfg; returns -1 to go on, else the exit code. */
static int load(const struct hs_config_spec *spec, struct obj_config *cfg, int argc, char **argv,
                const char **pos, size_t max_pos, size_t *n_pos, size_t min_pos)
{
    char **v = short_flags(argc, argv);
    enum hs_config_outcome oc = hs_config_load(spec, cfg, argc, v, pos, max_pos, n_pos);
    free(v);
    if (oc != HS_CONFIG_RUN)
        return oc == HS_CONFIG_EXIT_OK ? HS_CLI_EXIT_OK : HS_CLI_EXIT_USAGE;
    if (*n_pos < min_pos) {
        fprintf(stderr, "usage: hybridstore %s [options] %s   (--help for more)\n", spec->command,
                spec->usage_args);
        return HS_CLI_EXIT_USAGE;
    }
    hs_log_init("cli", HS_LOG_WARN);
    return -1;
}

/* "/v1/objects/<escaped key>" plus query into a fresh string (free()). */
static char *object_path(const char *route, const char *key, const char *query)
{
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_printf(&b, "%s", route);
    hs_cli_escape(&b, key, true);
    if (query)
        (void)hs_buf_printf(&b, "%s", query);
    (void)hs_buf_append(&b, "", 1);
    return (char *)hs_buf_detach(&b, NULL);
}

static const char *guess_type(const char *file)
{
    size_t n = file ? strlen(file) : 0;
    if (n > 5 && strcmp(file + n - 5, ".json") == 0)
        return "application/json";
    return NULL;
}

static bool strategy_ok(const char *s)
{
    for (size_t i = 0; strategies[i]; i++)
        if (strcmp(s, strategies[i]) == 0)
            return true;
    return false;
}

/* Prints the write answer {"key","etag","version","strategy","size"} in words. */
static void print_put(const struct hs_cli_resp *r, const char *key)
{
    json_t *j = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
    const char *strategy = json_string_value(json_object_get(j, "strategy"));
    const char *etag = json_string_value(json_object_get(j, "etag"));
    printf("%s '%s': %" PRId64 " bytes, %s, version %" PRId64 ", etag \"%s\"\n",
           r->status == 201 ? "created" : "replaced", key,
           (int64_t)json_integer_value(json_object_get(j, "size")), strategy ? strategy : "?",
           (int64_t)json_integer_value(json_object_get(j, "version")), etag ? etag : "?");
    json_decref(j);
}

static int do_put(const struct obj_config *cfg, const char *key, const char *file)
{
    if (cfg->strategy && !strategy_ok(cfg->strategy)) {
        fprintf(stderr,
                "hybridstore put: unknown strategy '%s' (auto, replication, ec, "
                "field_hybrid)\n",
                cfg->strategy);
        return HS_CLI_EXIT_USAGE;
    }
    bool from_stdin = !file || strcmp(file, "-") == 0;
    FILE *in = from_stdin ? stdin : fopen(file, "rb");
    if (!in) {
        char eb[128];
        fprintf(stderr, "hybridstore put: cannot open '%s': %s\n", file,
                hs_errno_text(errno, eb, sizeof eb));
        return HS_CLI_EXIT_USAGE;
    }
    /* a regular file (also stdin redirected from one) has a length: Content-Length, which
     * lets the gateway refuse an oversize body before it is sent; a pipe goes chunked */
    struct stat st;
    int64_t len = -1;
    if (fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode)) {
        off_t pos = ftello(in);
        len = (int64_t)st.st_size - (pos > 0 ? (int64_t)pos : 0);
    }
    const char *ctype = cfg->content_type ? cfg->content_type : guess_type(file);
    char *ct_h = ctype ? hs_xasprintf("Content-Type: %s", ctype) : NULL;
    char *im_h = cfg->if_match ? hs_xasprintf("If-Match: \"%s\"", cfg->if_match) : NULL;
    const char *headers[3] = {0};
    size_t nh = 0;
    if (ct_h)
        headers[nh++] = ct_h;
    if (im_h)
        headers[nh++] = im_h;
    char *query = cfg->strategy ? hs_xasprintf("?strategy=%s", cfg->strategy) : NULL;
    char *path = object_path("/v1/objects/", key, query);
    struct hs_cli *c = hs_cli_new(hs_cli_url(cfg->url), NULL, cfg->timeout_ms);
    struct hs_cli_req req = {
        .method = "PUT", .path = path, .headers = headers, .body_file = in, .body_file_len = len};
    struct hs_cli_resp resp;
    hs_cli_resp_init(&resp);
    enum hs_err err = hs_cli_do(c, &req, &resp);
    int rc;
    if (err == HS_OK && resp.status / 100 == 2) {
        print_put(&resp, key);
        rc = HS_CLI_EXIT_OK;
    } else {
        rc = hs_cli_fail("put", key, err, &resp);
    }
    hs_cli_resp_release(&resp);
    hs_cli_free(c);
    if (!from_stdin)
        fclose(in);
    free(path);
    free(query);
    free(ct_h);
    free(im_h);
    return rc;
}

/* Into FILE.part, renamed over FILE only once the whole object arrived: an interrupted get
 * never leaves a truncated file under the real name. */
static int do_get(const struct obj_config *cfg, const char *key)
{
    bool to_stdout = !cfg->output || strcmp(cfg->output, "-") == 0;
    char *tmp = to_stdout ? NULL : hs_xasprintf("%s.part", cfg->output);
    FILE *out = to_stdout ? stdout : fopen(tmp, "wbe");
    if (!out) {
        char eb[128];
        fprintf(stderr, "hybridstore get: cannot create '%s': %s\n", tmp,
                hs_errno_text(errno, eb, sizeof eb));
        free(tmp);
        return HS_CLI_EXIT_ERROR;
    }
    char *path = object_path("/v1/objects/", key, NULL);
    struct hs_cli *c = hs_cli_new(hs_cli_url(cfg->url), NULL, cfg->timeout_ms);
    struct hs_cli_req req = {.method = "GET", .path = path, .out = out};
    struct hs_cli_resp resp;
    hs_cli_resp_init(&resp);
    enum hs_err err = hs_cli_do(c, &req, &resp);
    int rc =
        err == HS_OK && resp.status == 200 ? HS_CLI_EXIT_OK : hs_cli_fail("get", key, err, &resp);
    if (fflush(out) != 0 && rc == HS_CLI_EXIT_OK) {
        fprintf(stderr, "hybridstore get: cannot write the output\n");
        rc = HS_CLI_EXIT_ERROR;
    }
    if (!to_stdout) {
        if (fclose(out) != 0 && rc == HS_CLI_EXIT_OK)
            rc = HS_CLI_EXIT_ERROR;
        if (rc == HS_CLI_EXIT_OK && rename(tmp, cfg->output) != 0) {
            char eb[128];
            fprintf(stderr, "hybridstore get: cannot rename '%s' to '%s': %s\n", tmp, cfg->output,
                    hs_errno_text(errno, eb, sizeof eb));
            rc = HS_CLI_EXIT_ERROR;
        }
        if (rc != HS_CLI_EXIT_OK)
            unlink(tmp);
    }
    hs_cli_resp_release(&resp);
    hs_cli_free(c);
    free(path);
    free(tmp);
    return rc;
}

static int do_rm(const struct obj_config *cfg, const char *key)
{
    char *path = object_path("/v1/objects/", key, NULL);
    char *im_h = cfg->if_match ? hs_xasprintf("If-Match: \"%s\"", cfg->if_match) : NULL;
    const char *headers[2] = {im_h, NULL};
    struct hs_cli *c = hs_cli_new(hs_cli_url(cfg->url), NULL, cfg->timeout_ms);
    struct hs_cli_req req = {.method = "DELETE", .path = path, .headers = headers};
    struct hs_cli_resp resp;
    hs_cli_resp_init(&resp);
    enum hs_err err = hs_cli_do(c, &req, &resp);
    int rc;
    if (err == HS_OK && resp.status / 100 == 2) {
        printf("removed '%s'\n", key);
        rc = HS_CLI_EXIT_OK;
    } else {
        rc = hs_cli_fail("rm", key, err, &resp);
    }
    hs_cli_resp_release(&resp);
    hs_cli_free(c);
    free(path);
    free(im_h);
    return rc;
}

int hs_cmd_put(int argc, char **argv)
{
    struct obj_config cfg = {0};
    const char *pos[2];
    size_t n = 0;
    int rc = load(&put_spec, &cfg, argc, argv, pos, 2, &n, 1);
    if (rc < 0)
        rc = do_put(&cfg, pos[0], n > 1 ? pos[1] : NULL);
    hs_config_release(&put_spec, &cfg);
    return rc;
}

int hs_cmd_get(int argc, char **argv)
{
    struct obj_config cfg = {0};
    const char *pos[1];
    size_t n = 0;
    int rc = load(&get_spec, &cfg, argc, argv, pos, 1, &n, 1);
    if (rc < 0)
        rc = do_get(&cfg, pos[0]);
    hs_config_release(&get_spec, &cfg);
    return rc;
}

int hs_cmd_rm(int argc, char **argv)
{
    struct obj_config cfg = {0};
    const char *pos[1];
    size_t n = 0;
    int rc = load(&rm_spec, &cfg, argc, argv, pos, 1, &n, 1);
    if (rc < 0)
        rc = do_rm(&cfg, pos[0]);
    hs_config_release(&rm_spec, &cfg);
    return rc;
}

/* One page of GET /v1/objects: prints its entries, sets *next (heap) to next_start_after or
 * NULL at the end. Returns an exit code (HS_CLI_EXIT_OK to go on). */
static int ls_page(struct hs_cli *c, const struct obj_config *cfg, const char *prefix,
                   const char *after, char **next)
{
    struct hs_buf q;
    hs_buf_init(&q, 0);
    (void)hs_buf_printf(&q, "/v1/objects?limit=%" PRId64 "&prefix=", cfg->page_size);
    hs_cli_escape(&q, prefix ? prefix : "", false);
    if (after) {
        (void)hs_buf_printf(&q, "&start-after=");
        hs_cli_escape(&q, after, false);
    }
    (void)hs_buf_append(&q, "", 1);
    struct hs_cli_req req = {.method = "GET", .path = (const char *)q.data};
    struct hs_cli_resp resp;
    hs_cli_resp_init(&resp);
    enum hs_err err = hs_cli_do(c, &req, &resp);
    int rc = HS_CLI_EXIT_OK;
    json_t *j = NULL;
    if (err != HS_OK || resp.status != 200) {
        rc = hs_cli_fail("ls", prefix ? prefix : "(all)", err, &resp);
        goto out;
    }
    j = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
    json_t *objs = json_object_get(j, "objects");
    if (!json_is_array(objs)) {
        fprintf(stderr, "hybridstore ls: the gateway sent a listing without \"objects\"\n");
        rc = HS_CLI_EXIT_ERROR;
        goto out;
    }
    size_t i;
    json_t *o;
    json_array_foreach(objs, i, o)
    {
        if (cfg->json) {
            char *line = json_dumps(o, JSON_COMPACT);
            printf("%s\n", line ? line : "{}");
            free(line);
            continue;
        }
        char when[40] = "-";
        json_t *ms = json_object_get(o, "modified_ms");
        if (json_is_integer(ms))
            hs_clock_format_utc((int64_t)json_integer_value(ms), when, sizeof when);
        const char *st = json_string_value(json_object_get(o, "strategy"));
        const char *key = json_string_value(json_object_get(o, "key"));
        printf("%12" PRId64 "  %-24s  %-12s  %s\n",
               (int64_t)json_integer_value(json_object_get(o, "size")), when, st ? st : "?",
               key ? key : "?");
    }
    const char *nx = json_string_value(json_object_get(j, "next_start_after"));
    if (json_is_true(json_object_get(j, "truncated")) && nx)
        *next = hs_xstrdup(nx);
out:
    json_decref(j);
    hs_cli_resp_release(&resp);
    hs_buf_release(&q);
    return rc;
}

int hs_cmd_ls(int argc, char **argv)
{
    struct obj_config cfg = {0};
    const char *pos[1] = {NULL};
    size_t n = 0;
    int rc = load(&ls_spec, &cfg, argc, argv, pos, 1, &n, 0);
    if (rc >= 0)
        goto out;
    struct hs_cli *c = hs_cli_new(hs_cli_url(cfg.url), NULL, cfg.timeout_ms);
    char *after = NULL;
    do {
        char *next = NULL;
        rc = ls_page(c, &cfg, n ? pos[0] : NULL, after, &next);
        free(after);
        after = next;
    } while (rc == HS_CLI_EXIT_OK && after);
    free(after);
    hs_cli_free(c);
out:
    hs_config_release(&ls_spec, &cfg);
    return rc;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "?";
}

static long long jint(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

/* stat's words: every part of the manifest with its segments and blobs (GET /v1/manifests
 * answers the manifest record of manifest.h, with each blob's node "url" added). */
static void print_part(const char *name, json_t *part)
{
    if (!json_is_object(part))
        return;
    if (json_is_integer(json_object_get(part, "k")))
        printf("%s part: erasure coded RS(%lld,%lld), %lld bytes\n", name, jint(part, "k"),
               jint(part, "m"), jint(part, "len"));
    else
        printf("%s part: %lld replicas, %lld bytes\n", name, jint(part, "replicas"),
               jint(part, "len"));
    size_t si;
    json_t *seg;
    json_array_foreach(json_object_get(part, "segs"), si, seg)
    {
        printf("  segment %zu: %lld bytes, crc %s\n", si, jint(seg, "len"), jstr(seg, "crc"));
        size_t bi;
        json_t *b;
        json_array_foreach(json_object_get(seg, "blobs"), bi, b)
        {
            const char *url = json_string_value(json_object_get(b, "url"));
            printf("    [%zu] %s on %s (%s)\n", bi, jstr(b, "id"), jstr(b, "node"),
                   url ? url : "not live");
        }
    }
}

static void print_stat(json_t *j)
{
    const char *fields[] = {"key", "strategy", "ctype", "content_type", "etag", "txn", "cold_hash"};
    for (size_t i = 0; i < HS_ARRAY_LEN(fields); i++) {
        const char *v = json_string_value(json_object_get(j, fields[i]));
        if (v)
            printf("%-12s %s\n", fields[i], v);
    }
    const char *nums[] = {"size", "ver", "version", "ctime_ms"};
    for (size_t i = 0; i < HS_ARRAY_LEN(nums); i++) {
        json_t *v = json_object_get(j, nums[i]);
        if (json_is_integer(v))
            printf("%-12s %lld\n", nums[i], (long long)json_integer_value(v));
    }
    json_t *m = json_object_get(j, "manifest"); /* the answer may wrap the record */
    if (json_is_object(m))
        j = m;
    print_part("data", json_object_get(j, "data"));
    print_part("hot", json_object_get(j, "hot"));
    print_part("cold", json_object_get(j, "cold"));
}

int hs_cmd_stat(int argc, char **argv)
{
    struct obj_config cfg = {0};
    const char *pos[1];
    size_t n = 0;
    int rc = load(&stat_spec, &cfg, argc, argv, pos, 1, &n, 1);
    if (rc >= 0)
        goto out;
    char *path = object_path("/v1/manifests/", pos[0], NULL);
    struct hs_cli *c = hs_cli_new(hs_cli_url(cfg.url), NULL, cfg.timeout_ms);
    struct hs_cli_req req = {.method = "GET", .path = path};
    struct hs_cli_resp resp;
    hs_cli_resp_init(&resp);
    enum hs_err err = hs_cli_do(c, &req, &resp);
    if (err == HS_OK && resp.status == 200) {
        json_t *j = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
        if (cfg.json || !j)
            printf("%.*s\n", (int)resp.body.len, (const char *)resp.body.data);
        else
            print_stat(j);
        json_t *order_a = json_object_get(j, "order");
        char *order_text = json_is_array(order_a) ? json_dumps(order_a, JSON_COMPACT) : NULL;
        if (!cfg.json && order_text)
            hs_cli_layout_stat(pos[0], order_text, cfg.etcd);
        free(order_text);
        json_decref(j);
        rc = HS_CLI_EXIT_OK;
    } else {
        rc = hs_cli_fail("stat", pos[0], err, &resp);
    }
    hs_cli_resp_release(&resp);
    hs_cli_free(c);
    free(path);
out:
    hs_config_release(&stat_spec, &cfg);
    return rc;
}
