/* main.c - `hybridstore gateway`: options, start-up (the object layer's context, then the HTTP
 * server on the route table in routes.c) and graceful shutdown on SIGTERM/SIGINT: stop
 * accepting, drain in-flight requests, revoke the registration lease, exit 0. The object layer
 * is gateway.h; the handlers are api_*.c. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "commands.h"
#include "gateway/api.h"
#include "gateway/gateway.h"
#include "gateway/metrics.h"
#include "hs/config.h"
#include "hs/daemon.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define DRAIN_MAX_MS 10000              /* longest wait for in-flight requests on SIGTERM */
#define BUDGET_SLACK ((int64_t)1 << 20) /* body-buffer-budget over doc-max-size, at least */

struct hs_gateway_config {
    struct hs_daemon_opts daemon; /* listen, etcd, secret, secret-file, log-level */
    char *advertise_url;          /* NULL = http://<listen> */
    char *gateway_id;             /* NULL = random per start */
    int64_t threads;              /* HTTP workers */
    int64_t node_timeout;         /* ms */
    int64_t node_connect_timeout; /* ms */
    int64_t etcd_timeout;         /* ms */
    int64_t lease_ttl;            /* ms */
    int64_t segment_size;         /* bytes */
    int64_t stripe_size;          /* bytes */
    int64_t doc_max_size;         /* bytes */
    int64_t auto_ec_threshold;    /* bytes */
    int64_t replicas;
    int64_t ec_k, ec_m;
    int64_t wal_alive_interval; /* ms */
    int64_t body_buffer_budget; /* bytes; 0 = 4 x doc_max_size */
    int64_t max_open_writes;
};

static const char *check_gateway_id(const void *value)
{
    const char *v = *(const char *const *)value;
    return !v || hs_meta_node_id_valid(v) ? NULL
                                          : "must be 1..64 chars of [A-Za-z0-9._-], first a letter "
                                            "or digit";
}

#define FIELD(f) .offset = offsetof(struct hs_gateway_config, f)
#define DUR(n, f, d, lo, hi, h)                                                                    \
    {                                                                                              \
        .name = n, .type = HS_OPT_DURATION, FIELD(f), .def = d, .min = lo, .max = hi, .help = h    \
    }
#define BYTES(n, f, d, lo, hi, h)                                                                  \
    {                                                                                              \
        .name = n, .type = HS_OPT_BYTES, FIELD(f), .def = d, .min = lo, .max = hi, .help = h       \
    }
#define INT(n, f, d, lo, hi, h)                                                                    \
    {                                                                                              \
        .name = n, .type = HS_OPT_INT, FIELD(f), .def = d, .min = lo, .max = hi, .help = h         \
    }
static const struct hs_opt gateway_opts[] = {
    HS_DAEMON_OPT_ROWS(struct hs_gateway_config, "127.0.0.1:8080", "address:port to serve on",
                       "cluster secret: node API and admin routes (this or --secret-file)"),
    {.name = "advertise-url",
     .type = HS_OPT_STRING,
     FIELD(advertise_url),
     .help = "URL published under gateways/<id> (unset: http://<listen>)"},
    {.name = "gateway-id",
     .type = HS_OPT_STRING,
     FIELD(gateway_id),
     .help = "gateway id in etcd and WAL records (unset: 8 random bytes in hex per start)",
     .check = check_gateway_id},
    INT("threads", threads, "32", 1, 1024,
        "HTTP worker threads (handlers block on etcd and nodes: more than cores)"),
    DUR("node-timeout", node_timeout, "10s", 100, 3600000, "per blob transfer to a node"),
    DUR("node-connect-timeout", node_connect_timeout, "1s", 10, 60000, "TCP connect to a node"),
    DUR("etcd-timeout", etcd_timeout, "2s", 100, 60000, "per etcd request attempt"),
    DUR("lease-ttl", lease_ttl, "10s", 2000, 3600000, "TTL of the registration lease"),
    BYTES("segment-size", segment_size, "8MiB", 65536, (int64_t)256 << 20,
          "object bytes per segment (replicated or coded on its own; memory per request)"),
    BYTES("stripe-size", stripe_size, "1MiB", 4096, (int64_t)64 << 20,
          "object bytes per EC stripe within a segment"),
    BYTES("doc-max-size", doc_max_size, "64MiB", 1024, (int64_t)1 << 30,
          "largest JSON document (field_hybrid, reference API, auto detection)"),
    BYTES("auto-ec-threshold", auto_ec_threshold, "1MiB", 0, (int64_t)1 << 40,
          "auto strategy: objects larger than this are erasure coded"),
    INT("replicas", replicas, "3", 1, 16, "copies (unless etcd config/replicas says otherwise)"),
    INT("ec-k", ec_k, "4", 1, 16, "RS data shards (unless etcd config/ec-k says otherwise)"),
    INT("ec-m", ec_m, "2", 1, 4, "RS parity shards (unless etcd config/ec-m says otherwise)"),
    DUR("wal-alive-interval", wal_alive_interval, "3s", 100, 600000,
        "a streamed write that keeps receiving bytes re-puts its WAL record this often, so the "
        "healer never rolls it back (keep it well under the healer's wal-owner-grace)"),
    BYTES("body-buffer-budget", body_buffer_budget, "0", 0, (int64_t)1 << 40,
          "request bodies, segments and streamed responses held in memory, all requests "
          "together; past it 503 "
          "(0: 512MiB, or 4 x doc-max-size if more)"),
    INT("max-open-writes", max_open_writes, "256", 1, 1000000,
        "writes with a WAL record open at once; past it 503"),
};

static const struct hs_config_spec gateway_spec = {
    .command = "gateway",
    .summary = "API gateway: the reference API and the native /v1/ object API over storage "
               "nodes and etcd (docs/api.md, docs/gateway.md). Stateless: run several behind a "
               "load balancer.",
    .env_prefix = "HS_GATEWAY_",
    .opts = gateway_opts,
    .n_opts = sizeof gateway_opts / sizeof gateway_opts[0],
};

struct runtime {
    struct hs_gw *gw;
    struct hs_http_server *srv;
    struct hs_gw_server server_ctx;
    char *secret;
    char *gateway_id;
    char *url;
    char hostname[256];
};

/* body-buffer-budget must always fit one whole document plus the chunk an auto write reads past
 * doc-max-size before it turns into a stream, and one EC segment with its shards (with the
 * flags' k and m; etcd's config/ may change those later). */
static bool budget_fits(const struct hs_gateway_config *cfg)
{
    int64_t seg = cfg->segment_size;
    int64_t ec_seg = seg + (seg + cfg->ec_k - 1) / cfg->ec_k * (cfg->ec_k + cfg->ec_m);
    int64_t need = HS_MAX(cfg->doc_max_size + BUDGET_SLACK, ec_seg);
    if (!cfg->body_buffer_budget || cfg->body_buffer_budget >= need)
        return true;
    fprintf(stderr,
            "hybridstore gateway: --body-buffer-budget (%lld) must be at least %lld: "
            "--doc-max-size + 1MiB, and one segment with its EC shards\n",
            (long long)cfg->body_buffer_budget, (long long)need);
    return false;
}

/* glibc raises its mmap threshold (up to 32 MiB) each time a mmapped block is freed, so after
 * one large request every later body buffer comes from the heap arenas, and freed heap memory
 * mostly stays with the process: 30 half-sent 64 MiB documents left a gateway at 500 MB after
 * they were gone. A fixed threshold turns the dynamic raise off: every buffer of 1 MiB or more
 * (bodies, segments, shards) is its own mapping, returned to the kernel by free(). The small
 * blocks left behind are trimmed after large bodies (gw.c, hs_gw_body_release). */
static void memory_give_back(void)
{
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): called before any thread starts */
    if (mallopt(M_MMAP_THRESHOLD, 1024 * 1024) != 1)
        HS_LOG_WARN("mallopt_failed", "param=M_MMAP_THRESHOLD");
}

static enum hs_err gateway_open(const struct hs_gateway_config *cfg, struct runtime *rt,
                                const char *host, uint16_t port)
{
    struct hs_gw_opts go = {
        .etcd_endpoints = cfg->daemon.etcd,
        .secret = rt->secret,
        .gateway_id = rt->gateway_id,
        .advertise_url = rt->url,
        .etcd_timeout_ms = cfg->etcd_timeout,
        .node_timeout_ms = cfg->node_timeout,
        .node_connect_timeout_ms = cfg->node_connect_timeout,
        .lease_ttl_s = (cfg->lease_ttl + 999) / 1000,
        .segment_bytes = cfg->segment_size,
        .doc_max_bytes = cfg->doc_max_size,
        .auto_ec_threshold = cfg->auto_ec_threshold,
        .replicas = (uint32_t)cfg->replicas,
        .ec_k = (uint32_t)cfg->ec_k,
        .ec_m = (uint32_t)cfg->ec_m,
        .stripe_bytes = cfg->stripe_size,
        .wal_alive_ms = cfg->wal_alive_interval,
        .body_budget_bytes = cfg->body_buffer_budget,
        .max_open_writes = cfg->max_open_writes,
    };
    enum hs_err err = hs_gw_new(&go, &rt->gw);
    if (err != HS_OK)
        return err;
    if (gethostname(rt->hostname, sizeof rt->hostname - 1) != 0)
        snprintf(rt->hostname, sizeof rt->hostname, "unknown");
    rt->server_ctx = (struct hs_gw_server){
        .gw = rt->gw, .metrics = NULL, .secret = rt->secret, .hostname = rt->hostname};
    struct hs_http_server_opts so = {
        .host = host,
        .port = port,
        .threads = (unsigned)cfg->threads,
        .connection_limit = 4096,
        .routes = hs_gw_routes,
        .n_routes = hs_gw_n_routes,
        .guard = hs_gw_guard,
        .ctx = &rt->server_ctx,
        .on_complete = hs_gw_metrics_on_complete,
    };
    return hs_http_server_start(&so, &rt->srv);
}

static void gateway_close(struct runtime *rt, int64_t drain_ms)
{
    int64_t left = hs_http_server_stop(rt->srv, drain_ms);
    hs_gw_free(rt->gw); /* revokes the lease after the drain: WAL owners stay alive till then */
    HS_LOG_INFO("gateway_stopped", "abandoned_requests=%lld", (long long)left);
}

int hs_cmd_gateway(int argc, char **argv)
{
    struct hs_gateway_config cfg = {0};
    struct runtime rt = {0};
    struct hs_daemon_start st;
    int rc = hs_daemon_begin(&gateway_spec, &cfg, &cfg.daemon, argc, argv, &st);
    if (rc >= 0)
        goto out;
    rt.secret = st.secret;
    rc = 2;
    if (!budget_fits(&cfg))
        goto out;
    memory_give_back();
    rt.gateway_id = cfg.gateway_id ? hs_xstrdup(cfg.gateway_id) : hs_daemon_random_id();
    rt.url = cfg.advertise_url ? hs_xstrdup(cfg.advertise_url)
                               : hs_xasprintf("http://%s", cfg.daemon.listen);
    rc = 1;
    if (gateway_open(&cfg, &rt, st.host, st.port) != HS_OK) {
        HS_LOG_ERROR("gateway_start_failed", "listen='%s' etcd='%s'", cfg.daemon.listen,
                     cfg.daemon.etcd);
        gateway_close(&rt, 0);
        goto out;
    }
    HS_LOG_INFO("gateway_started", "gateway=%s url=%s", rt.gateway_id, rt.url);
    int sig = hs_daemon_signals_wait(&st.signals);
    HS_LOG_INFO("gateway_stopping", "signal=%d in_flight=%lld", sig,
                (long long)hs_http_server_in_flight(rt.srv));
    gateway_close(&rt, HS_MIN(cfg.node_timeout + 1000, DRAIN_MAX_MS));
    rc = 0;
out:
    free(rt.secret);
    free(rt.gateway_id);
    free(rt.url);
    hs_config_release(&gateway_spec, &cfg);
    return rc;
}
