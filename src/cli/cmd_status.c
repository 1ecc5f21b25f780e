/* cmd_status.c - `hybridstore status` (GET /v1/status in words: nodes, usage, WAL and repair
 * backlogs, hot fields) and `hybridstore config set NAME VALUE` (PUT /v1/admin/config/NAME with
 * the cluster secret). Exit codes: client.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/client.h"
#include "commands.h"
#include "hs/config.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

struct status_config {
    char *url;
    char *secret_file;
    bool json;
    int64_t timeout_ms;
};

#define FIELD(f) .offset = offsetof(struct status_config, f)
static const struct hs_opt status_opts[] = {
    {.name = "url",
     .type = HS_OPT_STRING,
     FIELD(url),
     .help = "gateway URL (default $HYBRIDSTORE_URL, else " HS_CLI_DEFAULT_URL ")"},
    {.name = "json", .type = HS_OPT_BOOL, FIELD(json), .help = "print the server's JSON as it is"},
    {.name = "timeout",
     .type = HS_OPT_DURATION,
     FIELD(timeout_ms),
     .def = "30s",
     .min = 0,
     .max = 3600000,
     .help = "give up after this long (0 = never)"},
};
static const struct hs_opt config_opts[] = {
    {.name = "url",
     .type = HS_OPT_STRING,
     FIELD(url),
     .help = "gateway URL (default $HYBRIDSTORE_URL, else " HS_CLI_DEFAULT_URL ")"},
    {.name = "secret-file",
     .type = HS_OPT_STRING,
     FIELD(secret_file),
     .help = "file holding the cluster secret (default $HS_SECRET_FILE, else ./data/secret)"},
    {.name = "timeout",
     .type = HS_OPT_DURATION,
     FIELD(timeout_ms),
     .def = "30s",
     .min = 0,
     .max = 3600000,
     .help = "give up after this long (0 = never)"},
};

static const struct hs_config_spec status_spec = {
    .command = "status",
    .summary = "Shows the cluster as one gateway sees it: nodes (live, blobs, stored and free "
               "bytes), WAL backlog (writes in progress or abandoned), repair backlog and the "
               "hot fields. " HS_CLI_EXIT_HELP ".",
    .env_prefix = "HYBRIDSTORE_",
    .opts = status_opts,
    .n_opts = HS_ARRAY_LEN(status_opts),
};
static const struct hs_config_spec config_spec = {
    .command = "config",
    .summary = "Changes a cluster-wide setting kept in etcd: `config set hot-fields a,b,c` (or a "
               "JSON array). Needs the cluster secret. " HS_CLI_EXIT_HELP ".",
    .env_prefix = "HYBRIDSTORE_",
    .opts = config_opts,
    .n_opts = HS_ARRAY_LEN(config_opts),
    .usage_args = "set NAME VALUE",
};

static void human(int64_t v, char *out, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double d = (double)v;
    size_t u = 0;
    while (d >= 1024.0 && u + 1 < HS_ARRAY_LEN(units)) {
        d /= 1024.0;
        u++;
    }
    snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", d, units[u]);
}

static int64_t num(json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static void print_status(json_t *j)
{
    json_t *nodes = json_object_get(j, "nodes");
    size_t live = 0, i;
    int64_t blobs = 0, stored = 0, free_b = 0;
    json_t *n;
    json_array_foreach(nodes, i, n)
    {
        live += json_is_true(json_object_get(n, "live"));
        blobs += num(n, "blobs");
        stored += num(n, "payload_bytes");
        free_b += num(n, "free_bytes");
    }
    char s1[32], s2[32];
    human(stored, s1, sizeof s1);
    human(free_b, s2, sizeof s2);
    printf("nodes:          %zu of %zu live\n", live, json_array_size(nodes));
    printf("stored:         %" PRId64 " blobs, %s (%s free)\n", blobs, s1, s2);
    printf("WAL backlog:    %" PRId64 " write(s) in progress or abandoned (txn/)\n",
           num(j, "wal_backlog"));
    printf("repair backlog: %" PRId64 " object(s) marked for repair (repair/)\n",
           num(j, "repair_backlog"));
    json_t *hot = json_object_get(j, "hot_fields");
    if (json_is_string(hot))
        printf("hot fields:     %s\n", json_string_value(hot));
    printf("\n%-16s %-28s %-8s %-5s %10s %12s %12s\n", "NODE", "URL", "ZONE", "LIVE", "BLOBS",
           "STORED", "FREE");
    json_array_foreach(nodes, i, n)
    {
        human(num(n, "payload_bytes"), s1, sizeof s1);
        human(num(n, "free_bytes"), s2, sizeof s2);
        printf("%-16s %-28s %-8s %-5s %10" PRId64 " %12s %12s\n", str(n, "id"), str(n, "url"),
               str(n, "zone"), json_is_true(json_object_get(n, "live")) ? "yes" : "NO",
               num(n, "blobs"), s1, s2);
    }
}

int hs_cmd_status(int argc, char **argv)
{
    struct status_config cfg = {0};
    enum hs_config_outcome oc = hs_config_load(&status_spec, &cfg, argc, argv, NULL, 0, NULL);
    if (oc != HS_CONFIG_RUN)
        return oc == HS_CONFIG_EXIT_OK ? HS_CLI_EXIT_OK : HS_CLI_EXIT_USAGE;
    hs_log_init("cli", HS_LOG_WARN);
    struct hs_cli *c = hs_cli_new(hs_cli_url(cfg.url), NULL, cfg.timeout_ms);
    struct hs_cli_req req = {.method = "GET", .path = "/v1/status"};
    struct hs_cli_resp resp;
    hs_cli_resp_init(&resp);
    enum hs_err err = hs_cli_do(c, &req, &resp);
    int rc;
    if (err == HS_OK && resp.status == 200) {
        json_t *j = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
        if (cfg.json || !j)
            printf("%.*s\n", (int)resp.body.len, (const char *)resp.body.data);
        else
            print_status(j);
        json_decref(j);
        rc = HS_CLI_EXIT_OK;
    } else {
        rc = hs_cli_fail("status", "GET /v1/status", err, &resp);
    }
    hs_cli_resp_release(&resp);
    hs_cli_free(c);
    hs_config_release(&status_spec, &cfg);
    return rc;
}

static int config_set(const struct status_config *cfg, const char *name, const char *value)
{
    char *secret = hs_cli_read_secret("config", cfg->secret_file);
    if (!secret)
        return HS_CLI_EXIT_USAGE;
    struct hs_buf path;
    hs_buf_init(&path, 0);
    (void)hs_buf_printf(&path, "/v1/admin/config/");
    hs_cli_escape(&path, name, false);
    (void)hs_buf_append(&path, "", 1);
    bool is_json = value[strspn(value, " \t")] == '[';
    const char *headers[] = {
        is_json ? "Content-Type: application/json" : "Content-Type: text/plain", NULL};
    struct hs_cli *c = hs_cli_new(hs_cli_url(cfg->url), secret, cfg->timeout_ms);
    struct hs_cli_req req = {.method = "PUT",
                             .path = (const char *)path.data,
                             .headers = headers,
                             .body = value,
                             .body_len = strlen(value)};
    struct hs_cli_resp resp;
    hs_cli_resp_init(&resp);
    enum hs_err err = hs_cli_do(c, &req, &resp);
    int rc;
    if (err == HS_OK && resp.status / 100 == 2) {
        json_t *j = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
        const char *v = json_string_value(json_object_get(j, "value"));
        printf("%s = %s\n", name, v ? v : value);
        json_decref(j);
        rc = HS_CLI_EXIT_OK;
    } else {
        rc = hs_cli_fail("config", name, err, &resp);
    }
    hs_cli_resp_release(&resp);
    hs_cli_free(c);
    hs_buf_release(&path);
    free(secret);
    return rc;
}

int hs_cmd_config(int argc, char **argv)
{
    struct status_config cfg = {0};
    const char *pos[3];
    size_t n = 0;
    enum hs_config_outcome oc = hs_config_load(&config_spec, &cfg, argc, argv, pos, 3, &n);
    if (oc != HS_CONFIG_RUN)
        return oc == HS_CONFIG_EXIT_OK ? HS_CLI_EXIT_OK : HS_CLI_EXIT_USAGE;
    hs_log_init("cli", HS_LOG_WARN);
    int rc = HS_CLI_EXIT_USAGE;
    if (n != 3 || strcmp(pos[0], "set") != 0)
        fprintf(stderr, "usage: hybridstore config set NAME VALUE   (e.g. config set hot-fields "
                        "like_count,view_count)\n");
    else
        rc = config_set(&cfg, pos[1], pos[2]);
    hs_config_release(&config_spec, &cfg);
    return rc;
}
