/* main.c - `hybridstore healer`: options, start-up (etcd client, mirror of nodes/, HTTP server
 * with GET /health and GET /metrics, the election loop on its own thread) and shutdown on
 * SIGTERM/SIGINT: stop the passes, resign and revoke the leadership lease so a standby takes
 * over at once, exit 0. The election is leadership.c, what a leader does passes.c and the
 * pass files. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "commands.h"
#include "healer/healer.h"
#include "healer/stats.h"
#include "hs/config.h"
#include "hs/daemon.h"
#include "hs/http_server.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/view.h"
#include "hs/banned.h"

#define HTTP_THREADS  2
#define METRICS_MAX   ((size_t)64 * 1024)
#define ETCD_TIMEOUT  2000 /* ms per etcd attempt */
#define HTTP_DRAIN_MS 1000

struct hs_healer_config {
    struct hs_daemon_opts daemon; /* listen, etcd, secret, secret-file, log-level */
    char *healer_id;
    int64_t lease_ttl;       /* ms */
    int64_t pass_interval;   /* ms */
    int64_t wal_timeout;     /* ms */
    int64_t wal_owner_grace; /* ms */
    int64_t gc_grace;        /* ms */
    int64_t node_grace;      /* ms */
    int64_t audit_interval;  /* ms */
    int64_t audit_budget;    /* ms of audit work per second */
    int64_t gc_interval;     /* ms */
    int64_t repair_rate;     /* bytes/s, 0 = unlimited */
    int64_t repair_concurrency;
    int64_t node_timeout;      /* ms */
    int64_t retire_grace;      /* ms */
    int64_t retire_batch;      /* blobs per node request */
    int64_t upload_max_age;    /* ms */
    int64_t layout_interval;   /* ms, 0 = off */
    int64_t layout_min_change; /* ms */
    int64_t layout_min_writes;
    int64_t layout_halve_writes;
    int64_t relayout_rate;         /* objects/s */
    int64_t relayout_promote_rate; /* objects/s, promotions kept by shadows */
};

#define FIELD(f) .offset = offsetof(struct hs_healer_config, f)
/* f is a struct member name (offsetof), so it cannot be parenthesised */
#define DUR(n, f, d, lo, hi, h) /* NOLINT(bugprone-macro-parentheses) */                           \
    {                                                                                              \
        .name = (n), .type = HS_OPT_DURATION, FIELD(f), .def = (d), .min = (lo), .max = (hi),      \
        .help = (h)                                                                                \
    }
static const struct hs_opt healer_opts[] = {
    HS_DAEMON_OPT_ROWS(struct hs_healer_config, "127.0.0.1:9300",
                       "address:port of GET /metrics and GET /health (no authentication)",
                       "cluster secret for the nodes' blob API (this or --secret-file)"),
    {.name = "healer-id",
     .type = HS_OPT_STRING,
     FIELD(healer_id),
     .help = "name in the election and in logs (unset: 8 random bytes in hex)"},
    DUR("lease-ttl", lease_ttl, "5s", 2000, 60000,
        "leadership lease TTL: a standby takes over within about this long (whole seconds)"),
    DUR("pass-interval", pass_interval, "1s", 10, 3600000, "pause between two leader passes"),
    DUR("wal-timeout", wal_timeout, "60s", 0, INT64_MAX,
        "roll back WAL records whose writer showed no progress for this long, even if their "
        "gateway lives"),
    DUR("wal-owner-grace", wal_owner_grace, "10s", 0, INT64_MAX,
        "roll back WAL records of a gateway gone from gateways/ once they showed no progress "
        "for this long (a live writer shows progress every gateway wal-alive-interval, 3 s)"),
    DUR("gc-grace", gc_grace, "1h", 0, INT64_MAX,
        "orphan blobs younger than this (by their txn id's time) are kept"),
    DUR("node-grace", node_grace, "10m", 0, INT64_MAX,
        "a node gone from nodes/ longer than this has its blobs moved"),
    DUR("audit-interval", audit_interval, "1m", 10, INT64_MAX,
        "shortest time between the starts of two audit sweeps over every manifest"),
    DUR("audit-budget", audit_budget, "50ms", 1, 1000,
        "audit work (node listings, manifest pages) allowed per second of wall time"),
    DUR("gc-interval", gc_interval, "6m", 0, INT64_MAX,
        "longest pause between GC passes (GC also waits gc-grace/10 between passes)"),
    {.name = "repair-rate",
     .type = HS_OPT_BYTES,
     FIELD(repair_rate),
     .def = "0",
     .min = 0,
     .max = INT64_MAX,
     .help = "repair bandwidth in bytes/s (0 = unlimited)"},
    {.name = "repair-concurrency",
     .type = HS_OPT_INT,
     FIELD(repair_concurrency),
     .def = "4",
     .min = 1,
     .max = 256,
     .help = "objects repaired at once"},
    DUR("node-timeout", node_timeout, "10s", 100, 3600000, "timeout of one blob transfer"),
    DUR("retire-grace", retire_grace, "10m", 0, INT64_MAX,
        "blobs an overwrite or delete replaced are deleted this long after it (readers holding "
        "the old manifest keep working meanwhile)"),
    {.name = "retire-batch",
     .type = HS_OPT_INT,
     FIELD(retire_batch),
     .def = "256",
     .min = 1,
     .max = 4096,
     .help = "retired blobs deleted per node request"},
    DUR("upload-max-age", upload_max_age, "7d", 1000, INT64_MAX,
        "multipart uploads open longer than this are aborted and their parts deleted"),
    DUR("layout-interval", layout_interval, "10s", 0, INT64_MAX,
        "adaptive hot fields: a decision round (gateway statistics merged, layout records "
        "written) this often; 0 turns adaptive layouts and re-layout off"),
    DUR("layout-min-change", layout_min_change, "10m", 0, INT64_MAX,
        "least time between two changes of one collection's hot set"),
    {.name = "layout-min-writes",
     .type = HS_OPT_INT,
     FIELD(layout_min_writes),
     .def = "1000",
     .min = 1,
     .max = INT64_MAX,
     .help = "writes with known changes a collection needs before its hot set is decided"},
    {.name = "layout-halve-writes",
     .type = HS_OPT_INT,
     FIELD(layout_halve_writes),
     .def = "8192",
     .min = 16,
     .max = 1073741824,
     .help = "a collection's field statistics are halved every this many writes to it with "
             "known changes, summed over every gateway (old evidence fades at the cluster's "
             "pace)"},
    {.name = "relayout-rate",
     .type = HS_OPT_INT,
     FIELD(relayout_rate),
     .def = "10",
     .min = 0,
     .max = 100000,
     .help = "objects per second rewritten to their collection's current layout (0 = off)"},
    {.name = "relayout-promote-rate",
     .type = HS_OPT_INT,
     FIELD(relayout_promote_rate),
     .def = "100",
     .min = 1,
     .max = 100000,
     .help = "objects per second of the missed-promotion scan while config/manifest-shadows is "
             "on (such a rewrite writes only the hot part); at most relayout-rate when off"},
};

static const struct hs_config_spec healer_spec = {
    .command = "healer",
    .summary = "Healer: rolls back stalled writes, repairs lost or corrupt blobs, moves blobs off "
               "dead nodes and collects orphan blobs. Several run; one leads through an etcd "
               "election (docs/healer.md).",
    .env_prefix = "HS_HEALER_",
    .opts = healer_opts,
    .n_opts = sizeof healer_opts / sizeof healer_opts[0],
};

/* ---- HTTP: /health and /metrics ---- */

static void on_health(struct hs_http_req *r)
{
    struct hs_healer *h = hs_http_req_server_ctx(r);
    char body[256];
    int n = snprintf(body, sizeof body, "{\"status\":\"ok\",\"healer_id\":\"%s\",\"leader\":%s}",
                     h->opts.healer_id, atomic_load(&h->stats.is_leader) ? "true" : "false");
    hs_http_respond_buf(r, 200, "application/json", body, (size_t)n);
}

static void on_metrics(struct hs_http_req *r)
{
    struct hs_healer *h = hs_http_req_server_ctx(r);
    struct hs_buf b;
    hs_buf_init(&b, METRICS_MAX);
    hs_healer_stats_format(&h->stats, &b);
    size_t len = 0;
    uint8_t *data = hs_buf_detach(&b, &len);
    hs_http_respond_take(r, 200, "text/plain; version=0.0.4", data, len);
}

static const struct hs_http_route healer_routes[] = {
    {.method = "GET", .path = "/health", .flags = HS_HTTP_ROUTE_PUBLIC, .done = on_health},
    {.method = "GET", .path = "/metrics", .flags = HS_HTTP_ROUTE_PUBLIC, .done = on_metrics},
};

/* ---- start-up and shutdown ---- */

struct runtime {
    struct hs_healer h;
    struct hs_http_server *srv;
    pthread_t thread;
    bool thread_started;
    char *secret;
    char *healer_id;
};

static void *leader_thread(void *arg)
{
    hs_healer_run(arg);
    return NULL;
}

static void opts_from_config(const struct hs_healer_config *cfg, struct runtime *rt)
{
    rt->h.opts = (struct hs_healer_opts){
        .etcd_endpoints = cfg->daemon.etcd,
        .secret = rt->secret,
        .healer_id = rt->healer_id,
        .lease_ttl_s = (cfg->lease_ttl + 999) / 1000,
        .pass_interval_ms = cfg->pass_interval,
        .wal_timeout_ms = cfg->wal_timeout,
        .wal_owner_grace_ms = cfg->wal_owner_grace,
        .gc_grace_ms = cfg->gc_grace,
        .node_grace_ms = cfg->node_grace,
        .audit_interval_ms = cfg->audit_interval,
        .audit_budget_ms = cfg->audit_budget,
        .gc_interval_ms = cfg->gc_interval,
        .repair_bytes_per_s = cfg->repair_rate,
        .repair_concurrency = (uint32_t)cfg->repair_concurrency,
        .node_timeout_ms = cfg->node_timeout,
        .retire_grace_ms = cfg->retire_grace,
        .retire_batch = cfg->retire_batch,
        .upload_max_age_ms = cfg->upload_max_age,
        .layout_interval_ms = cfg->layout_interval,
        .layout_min_change_ms = cfg->layout_min_change,
        .layout_min_writes = cfg->layout_min_writes,
        .layout_halve_writes = cfg->layout_halve_writes,
        .relayout_per_s = cfg->relayout_rate,
        .relayout_promote_per_s = cfg->relayout_promote_rate,
    };
}

static enum hs_err healer_start(const struct hs_healer_config *cfg, struct runtime *rt,
                                const char *host, uint16_t port)
{
    struct hs_etcd_opts eo = {.endpoints = cfg->daemon.etcd, .timeout_ms = ETCD_TIMEOUT};
    enum hs_err err = hs_etcd_new(&eo, &rt->h.etcd);
    if (err != HS_OK)
        return err;
    if ((err = hs_view_start(rt->h.etcd, HS_META_PREFIX_NODES, NULL, NULL, &rt->h.nodes)) != HS_OK)
        return err;
    struct hs_http_server_opts so = {.host = host,
                                     .port = port,
                                     .threads = HTTP_THREADS,
                                     .routes = healer_routes,
                                     .n_routes = HS_ARRAY_LEN(healer_routes),
                                     .ctx = &rt->h};
    if ((err = hs_http_server_start(&so, &rt->srv)) != HS_OK)
        return err;
    if (pthread_create(&rt->thread, NULL, leader_thread, &rt->h) != 0)
        return HS_EIO;
    rt->thread_started = true;
    return HS_OK;
}

static void healer_stop(struct runtime *rt)
{
    /* stop before cancel: the election loop re-checks stop after clearing cancel */
    hs_stop_set(&rt->h.stop);
    hs_stop_set(&rt->h.cancel);
    if (rt->thread_started)
        pthread_join(rt->thread, NULL);
    hs_http_server_stop(rt->srv, HTTP_DRAIN_MS);
    hs_healer_repair_free(&rt->h); /* after the leader thread: it owned the repair state */
    hs_healer_layout_free(&rt->h);
    hs_view_stop(rt->h.nodes);
    hs_etcd_free(rt->h.etcd);
    free(rt->secret);
    free(rt->healer_id);
}

int hs_cmd_healer(int argc, char **argv)
{
    struct hs_healer_config cfg = {0};
    static struct runtime rt; /* large (the stats) and alive for the whole command */
    memset(&rt, 0, sizeof rt);
    struct hs_daemon_start st;
    int rc = hs_daemon_begin(&healer_spec, &cfg, &cfg.daemon, argc, argv, &st);
    if (rc >= 0)
        goto out;
    rt.secret = st.secret;
    rt.healer_id =
        cfg.healer_id && *cfg.healer_id ? hs_xstrdup(cfg.healer_id) : hs_daemon_random_id();
    opts_from_config(&cfg, &rt);
    rc = 1;
    if (healer_start(&cfg, &rt, st.host, st.port) != HS_OK) {
        HS_LOG_ERROR("healer_start_failed", "listen='%s' etcd='%s'", cfg.daemon.listen,
                     cfg.daemon.etcd);
        healer_stop(&rt);
        goto out;
    }
    HS_LOG_INFO("healer_started", "healer=%s listen=%s:%u lease_ttl_s=%lld", rt.healer_id, st.host,
                (unsigned)st.port, (long long)rt.h.opts.lease_ttl_s);
    int sig = hs_daemon_signals_wait(&st.signals);
    HS_LOG_INFO("healer_stopping", "healer=%s signal=%d leader=%lld", rt.healer_id, sig,
                atomic_load(&rt.h.stats.is_leader));
    healer_stop(&rt);
    HS_LOG_INFO("healer_stopped", "signal=%d", sig);
    rc = 0;
out:
    if (rc == 2) {
        free(rt.secret);
        free(rt.healer_id);
    }
    hs_config_release(&healer_spec, &cfg);
    return rc;
}
