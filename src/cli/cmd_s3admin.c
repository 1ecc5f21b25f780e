/* cmd_s3admin.c - `hybridstore key create|ls|rm` and `hybridstore bucket create|ls|rm`: S3
 * access keys and buckets through the gateway's admin routes (/v1/admin/s3/..., cluster
 * secret), like `hybridstore config`. Exit codes: client.h (3: no such key or bucket, 4: the
 * bucket exists or is not empty). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/client.h"
#include "commands.h"
#include "hs/clock.h"
#include "hs/config.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

struct s3admin_config {
    char *url;
    char *secret_file;
    bool json;
    int64_t timeout_ms;
    char *buckets;    /* key create: comma-separated */
    bool read_only;   /* key create */
    char *comment;    /* key create */
    char *strategy;   /* bucket create */
    bool public_read; /* bucket create */
};

#define FIELD(f) .offset = offsetof(struct s3admin_config, f)
#define COMMON_OPTS                                                                                \
    {.name = "url",                                                                                \
     .type = HS_OPT_STRING,                                                                        \
     FIELD(url),                                                                                   \
     .help = "gateway URL (default $HYBRIDSTORE_URL, else " HS_CLI_DEFAULT_URL ")"},               \
        {.name = "secret-file",                                                                    \
         .type = HS_OPT_STRING,                                                                    \
         FIELD(secret_file),                                                                       \
         .help = "file holding the cluster secret (default $HS_SECRET_FILE, else ./data/secret)"}, \
        {.name = "json", .type = HS_OPT_BOOL, FIELD(json), .help = "print the server's JSON"},     \
    {                                                                                              \
        .name = "timeout", .type = HS_OPT_DURATION, FIELD(timeout_ms), .def = "30s", .min = 0,     \
        .max = 3600000, .help = "give up after this long (0 = never)"                              \
    }

static const struct hs_opt key_opts[] = {
    COMMON_OPTS,
    {.name = "buckets",
     .type = HS_OPT_STRING,
     FIELD(buckets),
     .help = "create: limit the key to these buckets (comma-separated; default every bucket)"},
    {.name = "read-only",
     .type = HS_OPT_BOOL,
     FIELD(read_only),
     .help = "create: the key may only read (GET, HEAD, listings)"},
    {.name = "comment", .type = HS_OPT_STRING, FIELD(comment), .help = "create: free text"},
};
static const struct hs_opt bucket_opts[] = {
    COMMON_OPTS,
    {.name = "strategy",
     .type = HS_OPT_STRING,
     FIELD(strategy),
     .help = "create: default strategy of the bucket's objects: auto (default), replication, ec "
             "or field_hybrid (x-amz-storage-class STANDARD follows it)"},
    {.name = "public-read",
     .type = HS_OPT_BOOL,
     FIELD(public_read),
     .help = "create: anonymous GET/HEAD of the bucket's objects and listing allowed"},
};

static const struct hs_config_spec key_spec = {
    .command = "key",
    .summary = "S3 access keys: `key create [--buckets a,b] [--read-only]` prints a new access "
               "key and its secret (shown once), `key ls`, `key rm KEYID`. Needs the cluster "
               "secret. " HS_CLI_EXIT_HELP ".",
    .env_prefix = "HYBRIDSTORE_",
    .opts = key_opts,
    .n_opts = HS_ARRAY_LEN(key_opts),
    .usage_args = "create|ls|rm [KEYID]",
};
static const struct hs_config_spec bucket_spec = {
    .command = "bucket",
    .summary = "S3 buckets: `bucket create NAME [--strategy S] [--public-read]`, `bucket ls`, "
               "`bucket rm NAME` (only when empty). Objects of bucket b are the objects named "
               "b/<key> (hybridstore get b/<key>). Needs the cluster secret. " HS_CLI_EXIT_HELP ".",
    .env_prefix = "HYBRIDSTORE_",
    .opts = bucket_opts,
    .n_opts = HS_ARRAY_LEN(bucket_opts),
    .usage_args = "create|ls|rm [NAME]",
};

/* One admin call; on 2xx *out gets the parsed JSON body (NULL for an empty one). Returns the
 * exit code. */
static int admin_call(const char *cmd, const struct s3admin_config *cfg, const char *method,
                      const char *path, const char *body, json_t **out)
{
    char *secret = hs_cli_read_secret(cmd, cfg->secret_file);
    if (!secret)
        return HS_CLI_EXIT_USAGE;
    const char *headers[] = {"Content-Type: application/json", NULL};
    struct hs_cli *c = hs_cli_new(hs_cli_url(cfg->url), secret, cfg->timeout_ms);
    struct hs_cli_req req = {.method = method,
                             .path = path,
                             .headers = body ? headers : NULL,
                             .body = body,
                             .body_len = body ? strlen(body) : 0};
    struct hs_cli_resp resp;
    hs_cli_resp_init(&resp);
    enum hs_err err = hs_cli_do(c, &req, &resp);
    int rc = HS_CLI_EXIT_OK;
    if (err == HS_OK && resp.status / 100 == 2) {
        *out =
            resp.body.len ? json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL) : NULL;
        if (cfg->json && resp.body.len)
            printf("%.*s\n", (int)resp.body.len, (const char *)resp.body.data);
    } else {
        char what[160];
        snprintf(what, sizeof what, "%s %s", method, path);
        rc = hs_cli_fail(cmd, what, err, &resp);
    }
    hs_cli_resp_release(&resp);
    hs_cli_free(c);
    free(secret);
    return rc;
}

static char *path_with(const char *prefix, const char *name)
{
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_printf(&b, "%s", prefix);
    hs_cli_escape(&b, name, false);
    (void)hs_buf_append(&b, "", 1);
    size_t len = 0;
    return (char *)hs_buf_detach(&b, &len);
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void buckets_text(json_t *k, char *out, size_t cap)
{
    json_t *a = json_object_get(k, "buckets");
    if (!json_is_array(a)) {
        snprintf(out, cap, "*");
        return;
    }
    out[0] = '\0';
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", i ? "," : "", json_string_value(v));
    }
}

/* ---- key ---- */

static int key_create(const struct s3admin_config *cfg)
{
    json_t *req = json_object();
    if (cfg->buckets && *cfg->buckets) {
        json_t *a = json_array();
        char *list = hs_xstrdup(cfg->buckets), *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
            json_array_append_new(a, json_string(t));
        free(list);
        json_object_set_new(req, "buckets", a);
    }
    json_object_set_new(req, "read_only", json_boolean(cfg->read_only));
    if (cfg->comment)
        json_object_set_new(req, "comment", json_string(cfg->comment));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_t *out = NULL;
    int rc = admin_call("key", cfg, "POST", "/v1/admin/s3/keys", body, &out);
    free(body);
    if (rc == HS_CLI_EXIT_OK && !cfg->json && out) {
        char b[4096];
        buckets_text(out, b, sizeof b);
        printf("access_key %s\nsecret_key %s\nbuckets    %s\nmode       %s\n",
               jstr(out, "access_key"), jstr(out, "secret_key"), b, jstr(out, "mode"));
    }
    json_decref(out);
    return rc;
}

static int key_ls(const struct s3admin_config *cfg)
{
    json_t *out = NULL;
    int rc = admin_call("key", cfg, "GET", "/v1/admin/s3/keys", NULL, &out);
    if (rc == HS_CLI_EXIT_OK && !cfg->json && out) {
        printf("%-24s %-10s %-24s %s\n", "ACCESS_KEY", "MODE", "CREATED", "BUCKETS");
        size_t i;
        json_t *k;
        json_array_foreach(json_object_get(out, "keys"), i, k)
        {
            char when[40], b[4096];
            hs_clock_format_utc(json_integer_value(json_object_get(k, "created_ms")), when,
                                sizeof when);
            buckets_text(k, b, sizeof b);
            printf("%-24s %-10s %-24s %s\n", jstr(k, "access_key"), jstr(k, "mode"), when, b);
        }
    }
    json_decref(out);
    return rc;
}

static int key_rm(const struct s3admin_config *cfg, const char *id)
{
    char *path = path_with("/v1/admin/s3/keys/", id);
    json_t *out = NULL;
    int rc = admin_call("key", cfg, "DELETE", path, NULL, &out);
    json_decref(out);
    free(path);
    if (rc == HS_CLI_EXIT_OK && !cfg->json)
        printf("removed %s\n", id);
    return rc;
}

int hs_cmd_key(int argc, char **argv)
{
    struct s3admin_config cfg = {0};
    const char *pos[3];
    size_t n = 0;
    enum hs_config_outcome oc = hs_config_load(&key_spec, &cfg, argc, argv, pos, 3, &n);
    if (oc != HS_CONFIG_RUN)
        return oc == HS_CONFIG_EXIT_OK ? HS_CLI_EXIT_OK : HS_CLI_EXIT_USAGE;
    hs_log_init("cli", HS_LOG_WARN);
    int rc = HS_CLI_EXIT_USAGE;
    if (n == 1 && strcmp(pos[0], "create") == 0)
        rc = key_create(&cfg);
    else if (n == 1 && strcmp(pos[0], "ls") == 0)
        rc = key_ls(&cfg);
    else if (n == 2 && strcmp(pos[0], "rm") == 0)
        rc = key_rm(&cfg, pos[1]);
    else
        fprintf(stderr, "usage: hybridstore key create [--buckets a,b] [--read-only] | ls | rm "
                        "KEYID\n");
    hs_config_release(&key_spec, &cfg);
    return rc;
}

/* ---- bucket ---- */

static int bucket_create(const struct s3admin_config *cfg, const char *name)
{
    json_t *req = json_object();
    json_object_set_new(req, "name", json_string(name));
    if (cfg->strategy)
        json_object_set_new(req, "strategy", json_string(cfg->strategy));
    json_object_set_new(req, "public_read", json_boolean(cfg->public_read));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_t *out = NULL;
    int rc = admin_call("bucket", cfg, "POST", "/v1/admin/s3/buckets", body, &out);
    free(body);
    if (rc == HS_CLI_EXIT_OK && !cfg->json && out)
        printf("created bucket %s (strategy %s%s)\n", jstr(out, "name"), jstr(out, "strategy"),
               json_is_true(json_object_get(out, "public_read")) ? ", public-read" : "");
    json_decref(out);
    return rc;
}

static int bucket_ls(const struct s3admin_config *cfg)
{
    json_t *out = NULL;
    int rc = admin_call("bucket", cfg, "GET", "/v1/admin/s3/buckets", NULL, &out);
    if (rc == HS_CLI_EXIT_OK && !cfg->json && out) {
        printf("%-32s %-14s %-12s %s\n", "BUCKET", "STRATEGY", "PUBLIC_READ", "CREATED");
        size_t i;
        json_t *b;
        json_array_foreach(json_object_get(out, "buckets"), i, b)
        {
            char when[40];
            hs_clock_format_utc(json_integer_value(json_object_get(b, "created_ms")), when,
                                sizeof when);
            printf("%-32s %-14s %-12s %s\n", jstr(b, "name"), jstr(b, "strategy"),
                   json_is_true(json_object_get(b, "public_read")) ? "yes" : "no", when);
        }
    }
    json_decref(out);
    return rc;
}

static int bucket_rm(const struct s3admin_config *cfg, const char *name)
{
    char *path = path_with("/v1/admin/s3/buckets/", name);
    json_t *out = NULL;
    int rc = admin_call("bucket", cfg, "DELETE", path, NULL, &out);
    json_decref(out);
    free(path);
    if (rc == HS_CLI_EXIT_OK && !cfg->json)
        printf("removed bucket %s\n", name);
    return rc;
}

int hs_cmd_bucket(int argc, char **argv)
{
    struct s3admin_config cfg = {0};
    const char *pos[3];
    size_t n = 0;
    enum hs_config_outcome oc = hs_config_load(&bucket_spec, &cfg, argc, argv, pos, 3, &n);
    if (oc != HS_CONFIG_RUN)
        return oc == HS_CONFIG_EXIT_OK ? HS_CLI_EXIT_OK : HS_CLI_EXIT_USAGE;
    hs_log_init("cli", HS_LOG_WARN);
    int rc = HS_CLI_EXIT_USAGE;
    if (n == 2 && strcmp(pos[0], "create") == 0)
        rc = bucket_create(&cfg, pos[1]);
    else if (n == 1 && strcmp(pos[0], "ls") == 0)
        rc = bucket_ls(&cfg);
    else if (n == 2 && strcmp(pos[0], "rm") == 0)
        rc = bucket_rm(&cfg, pos[1]);
    else
        fprintf(stderr, "usage: hybridstore bucket create NAME [--strategy S] [--public-read] | "
                        "ls | rm NAME\n");
    hs_config_release(&bucket_spec, &cfg);
    return rc;
}
