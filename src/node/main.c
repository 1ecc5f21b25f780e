/* main.c - `hybridstore node`: options, startup (blob store, node id, HTTP server, etcd
 * registration in the background), and graceful shutdown on SIGTERM/SIGINT (stop accepting,
 * drain in-flight requests, revoke the lease, exit 0). The HTTP API is in routes.c. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "hs/clock.h"
#include "hs/config.h"
#include "hs/daemon.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "node/node_int.h"
#include "hs/banned.h"

#define REFRESH_MS   10000 /* registration value rewrite (free bytes) */
#define DRAIN_MAX_MS 5000  /* longest wait for in-flight requests on SIGTERM */

struct hs_node_config {
    struct hs_daemon_opts daemon; /* listen, etcd, secret, secret-file, log-level */
    char *advertise_url;          /* NULL = http://<listen> */
    char *data_dir;
    char *node_id;           /* NULL = <data-dir>/node-id */
    int fsync;               /* index into fsync_choices */
    int64_t reserve;         /* bytes */
    int64_t max_blob_size;   /* bytes */
    int64_t threads;         /* 0 = CPUs */
    int64_t lease_ttl;       /* ms */
    int64_t request_timeout; /* ms */
    char *zone;
    int64_t scrub_interval;   /* ms; 0 = no scrub */
    int64_t scrub_rate;       /* bytes/s */
    int small_blob_store;     /* index into small_store_choices */
    int64_t volume_size;      /* bytes */
    int64_t compact_interval; /* ms; 0 = no background compaction */
    int64_t compact_percent;  /* dead bytes of a volume that make it due, % */
    int64_t compact_rate;     /* bytes/s */
};

static const char *const fsync_choices[] = {"always", "never", NULL};
static const char *const small_store_choices[] = {"files", "volume", NULL};
#define FIELD(f) .offset = offsetof(struct hs_node_config, f)
static const struct hs_opt node_opts[] = {
    HS_DAEMON_OPT_ROWS(struct hs_node_config, "127.0.0.1:9100", "address:port to serve on",
                       "cluster secret clients send as 'Authorization: Bearer' (this or "
                       "--secret-file)"),
    {.name = "advertise-url",
     .type = HS_OPT_STRING,
     FIELD(advertise_url),
     .help = "URL other daemons reach this node at (unset: http://<listen>)"},
    {.name = "data-dir",
     .type = HS_OPT_STRING,
     FIELD(data_dir),
     .def = "./data/node",
     .help = "blob store directory"},
    {.name = "node-id",
     .type = HS_OPT_STRING,
     FIELD(node_id),
     .help = "node id (unset: read <data-dir>/node-id, created with 8 random bytes in hex)"},
    {.name = "fsync",
     .type = HS_OPT_ENUM,
     FIELD(fsync),
     .def = "always",
     .choices = fsync_choices,
     .help = "always: durable before 201; never: for benchmarks only, loses acknowledged writes "
             "on power loss"},
    {.name = "reserve",
     .type = HS_OPT_BYTES,
     FIELD(reserve),
     .def = "256MiB",
     .min = 0,
     .max = INT64_MAX,
     .help = "refuse writes (507) when free space would fall below this"},
    {.name = "max-blob-size",
     .type = HS_OPT_BYTES,
     FIELD(max_blob_size),
     .def = "256MiB",
     .min = 1,
     .max = INT64_MAX,
     .help = "largest blob accepted (413 above)"},
    {.name = "threads",
     .type = HS_OPT_INT,
     FIELD(threads),
     .def = "16",
     .min = 0,
     .max = 1024,
     .help = "HTTP worker threads (0 = number of CPUs)"},
    {.name = "lease-ttl",
     .type = HS_OPT_DURATION,
     FIELD(lease_ttl),
     .def = "10s",
     .min = 2000,
     .max = 3600000,
     .help = "TTL of the etcd lease the registration is bound to"},
    {.name = "request-timeout",
     .type = HS_OPT_DURATION,
     FIELD(request_timeout),
     .def = "30s",
     .min = 1000,
     .max = 3600000,
     .help = "drop a client that sends nothing for this long (its temp file is removed)"},
    {.name = "zone",
     .type = HS_OPT_STRING,
     FIELD(zone),
     .def = "local",
     .help = "failure zone, published in the registration"},
    {.name = "scrub-interval",
     .type = HS_OPT_DURATION,
     FIELD(scrub_interval),
     .def = "24h",
     .min = 0,
     .max = INT64_MAX / 2,
     .help = "verify every blob's CRC once per this interval, in the background (0 = off)"},
    {.name = "scrub-rate",
     .type = HS_OPT_BYTES,
     FIELD(scrub_rate),
     .def = "32MiB",
     .min = 1,
     .max = INT64_MAX / 2,
     .help = "bytes per second the scrub may read"},
    {.name = "small-blob-store",
     .type = HS_OPT_ENUM,
     FIELD(small_blob_store),
     .def = "volume",
     .choices = small_store_choices,
     .help = "files: one file per blob; volume: blobs up to 64 KiB appended to volume files "
             "with group commit (docs/node.md)"},
    {.name = "volume-size",
     .type = HS_OPT_BYTES,
     FIELD(volume_size),
     .def = "1GiB",
     .min = 1 << 20,
     .max = (int64_t)1 << 40,
     .help = "start a new volume file when the current one would pass this size"},
    {.name = "compact-interval",
     .type = HS_OPT_DURATION,
     FIELD(compact_interval),
     .def = "1m",
     .min = 0,
     .max = INT64_MAX / 2,
     .help = "look for volumes to compact this often, in the background (0 = only on "
             "POST /v1/compact)"},
    {.name = "compact-dead-percent",
     .type = HS_OPT_INT,
     FIELD(compact_percent),
     .def = "50",
     .min = 0,
     .max = 100,
     .help = "compact a sealed volume once this % of its bytes is deleted or replaced"},
    {.name = "compact-rate",
     .type = HS_OPT_BYTES,
     FIELD(compact_rate),
     .def = "16MiB",
     .min = 0,
     .max = INT64_MAX / 2,
     .help = "volume bytes per second compaction may read plus write (0 = unpaced)"},
};

static const struct hs_config_spec node_spec = {
    .command = "node",
    .summary = "Storage node: a durable blob store on local disk behind an HTTP API "
               "(docs/node.md), registered in etcd under a lease.",
    .env_prefix = "HS_NODE_",
    .opts = node_opts,
    .n_opts = sizeof node_opts / sizeof node_opts[0],
};

/* <data-dir>/node-id, created atomically on first start. */
static enum hs_err node_id_load(const char *dir, char **out)
{
    char *path = hs_xasprintf("%s/node-id", dir);
    char *id = hs_daemon_read_trimmed(path, 256);
    enum hs_err err = HS_OK;
    if (!id) {
        id = hs_daemon_random_id();
        if (!hs_daemon_write_id_file(path, id)) {
            int saved = errno;
            char eb[128];
            HS_LOG_ERROR("node_id_write_failed", "path='%s' errno=%d err='%s'", path, saved,
                         hs_errno_text(saved, eb, sizeof eb));
            err = HS_EIO;
        }
    }
    if (err == HS_OK && !hs_meta_node_id_valid(id)) {
        HS_LOG_ERROR("node_id_invalid", "path='%s'", path);
        err = HS_EINVAL;
    }
    free(path);
    if (err != HS_OK) {
        free(id);
        return err;
    }
    *out = id;
    return HS_OK;
}

struct runtime {
    struct hs_node node;
    struct hs_http_server *srv;
    struct hs_node_reg *reg;
    struct hs_node_scrub *scrub;     /* NULL when --scrub-interval is 0 */
    struct hs_node_compact *compact; /* NULL when --compact-interval is 0 */
    char *secret;
    char *node_id;
    char *url;
};

static enum hs_err node_open(const struct hs_node_config *cfg, struct runtime *rt)
{
    struct hs_blob_store_opts bo = {.dir = cfg->data_dir,
                                    .fsync = cfg->fsync == 0,
                                    .reserve_bytes = cfg->reserve,
                                    .max_blob_bytes = cfg->max_blob_size,
                                    .small_volume = cfg->small_blob_store == 1,
                                    .volume_max_bytes = cfg->volume_size};
    enum hs_err err = hs_blob_store_open(&bo, &rt->node.store);
    if (err != HS_OK)
        return err;
    if (cfg->node_id) {
        if (!hs_meta_node_id_valid(cfg->node_id)) {
            HS_LOG_ERROR("node_id_invalid", "node_id='%s'", cfg->node_id);
            return HS_EINVAL;
        }
        rt->node_id = hs_xstrdup(cfg->node_id);
    } else if ((err = node_id_load(cfg->data_dir, &rt->node_id)) != HS_OK) {
        return err;
    }
    rt->url = cfg->advertise_url ? hs_xstrdup(cfg->advertise_url)
                                 : hs_xasprintf("http://%s", cfg->daemon.listen);
    rt->node.secret = rt->secret;
    rt->node.node_id = rt->node_id;
    rt->node.zone = cfg->zone;
    rt->node.url = rt->url;
    rt->node.max_blob_bytes = cfg->max_blob_size;
    rt->node.started_ms = hs_clock_wall_ms();
    rt->node.scrub_interval_ms = cfg->scrub_interval;
    rt->node.scrub_rate_bytes_s = cfg->scrub_rate;
    rt->node.compact_dead_percent = (int)cfg->compact_percent;
    rt->node.compact_rate_bytes_s = cfg->compact_rate;
    return HS_OK;
}

static enum hs_err node_serve(const struct hs_node_config *cfg, struct runtime *rt,
                              const char *host, uint16_t port)
{
    struct hs_http_server_opts so = {
        .host = host,
        .port = port,
        .threads = (unsigned)cfg->threads,
        .connection_timeout_s = (unsigned)((cfg->request_timeout + 999) / 1000),
        .routes = hs_node_routes,
        .n_routes = hs_node_n_routes,
        .guard = hs_node_guard,
        .ctx = &rt->node,
    };
    enum hs_err err = hs_http_server_start(&so, &rt->srv);
    if (err != HS_OK)
        return err;
    struct hs_node_reg_opts ro = {.endpoints = cfg->daemon.etcd,
                                  .node = &rt->node,
                                  .ttl_s = (cfg->lease_ttl + 999) / 1000,
                                  .refresh_ms = REFRESH_MS,
                                  .data_dir = cfg->data_dir};
    err = hs_node_reg_start(&ro, &rt->reg);
    if (err != HS_OK)
        return err;
    if (cfg->compact_interval > 0) {
        struct hs_node_compact_opts co = {.node = &rt->node,
                                          .interval_ms = cfg->compact_interval,
                                          .min_dead_percent = (int)cfg->compact_percent,
                                          .rate_bytes_s = cfg->compact_rate};
        if ((err = hs_node_compact_start(&co, &rt->compact)) != HS_OK)
            return err;
    }
    if (cfg->scrub_interval == 0)
        return HS_OK;
    struct hs_node_scrub_opts sc = {.node = &rt->node,
                                    .data_dir = cfg->data_dir,
                                    .interval_ms = cfg->scrub_interval,
                                    .rate_bytes_s = cfg->scrub_rate};
    return hs_node_scrub_start(&sc, &rt->scrub);
}

static void node_close(struct runtime *rt, int64_t drain_ms)
{
    atomic_store(&rt->node.stopping, true); /* ends a POST /v1/compact within a needle */
    int64_t left = hs_http_server_stop(rt->srv, drain_ms);
    hs_node_scrub_stop(rt->scrub);     /* before the store closes: it reads blobs */
    hs_node_compact_stop(rt->compact); /* likewise */
    hs_node_reg_stop(rt->reg);
    hs_blob_store_close(rt->node.store);
    free(rt->secret);
    free(rt->node_id);
    free(rt->url);
    HS_LOG_INFO("node_stopped", "abandoned_requests=%lld", (long long)left);
}

int hs_cmd_node(int argc, char **argv)
{
    struct hs_node_config cfg = {0};
    struct runtime rt = {0};
    struct hs_daemon_start st;
    int rc = hs_daemon_begin(&node_spec, &cfg, &cfg.daemon, argc, argv, &st);
    if (rc >= 0)
        goto out;
    rt.secret = st.secret;
    rc = 1;
    if (node_open(&cfg, &rt) != HS_OK || node_serve(&cfg, &rt, st.host, st.port) != HS_OK) {
        HS_LOG_ERROR("node_start_failed", "data_dir='%s' listen='%s'", cfg.data_dir,
                     cfg.daemon.listen);
        node_close(&rt, 0);
        goto out;
    }
    HS_LOG_INFO("node_started", "node=%s url=%s data_dir='%s' fsync=%s", rt.node_id, rt.url,
                cfg.data_dir, fsync_choices[cfg.fsync]);
    int sig = hs_daemon_signals_wait(&st.signals);
    HS_LOG_INFO("node_stopping", "signal=%d in_flight=%lld", sig,
                (long long)hs_http_server_in_flight(rt.srv));
    node_close(&rt, HS_MIN(cfg.request_timeout, DRAIN_MAX_MS));
    rc = 0;
out:
    hs_config_release(&node_spec, &cfg);
    return rc;
}
