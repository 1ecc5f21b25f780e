/* cmd_bench_node.c - `hybridstore bench node`: blob PUT then GET throughput and latency against
 * a running storage node, closed loop with C threads (each its own kept-alive connection), one
 * JSON object per line. It measures the node (HTTP, fsync, sendfile), not a cluster; the blobs
 * it wrote are deleted afterwards. */
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli/bench_lat.h"
#include "commands.h"
#include "hs/clock.h"
#include "hs/config.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

struct bench_config {
    char *url;
    char *secret;
    char *secret_file;
    int64_t size;        /* bytes; 0 = 4 KiB and 1 MiB */
    int64_t seconds;     /* ms per phase */
    int64_t concurrency; /* threads */
};

#define FIELD(f) .offset = offsetof(struct bench_config, f)
static const struct hs_opt bench_opts[] = {
    {.name = "url",
     .type = HS_OPT_STRING,
     FIELD(url),
     .def = "http://127.0.0.1:9100",
     .help = "node base URL"},
    {.name = "secret",
     .type = HS_OPT_STRING,
     FIELD(secret),
     .secret = true,
     .help = "cluster secret (or --secret-file)"},
    {.name = "secret-file",
     .type = HS_OPT_STRING,
     FIELD(secret_file),
     .help = "file holding the cluster secret"},
    {.name = "size",
     .type = HS_OPT_BYTES,
     FIELD(size),
     .def = "0",
     .min = 0,
     .max = 1 << 30,
     .help = "blob size; 0 = both 4KiB and 1MiB"},
    {.name = "seconds",
     .type = HS_OPT_DURATION,
     FIELD(seconds),
     .def = "5s",
     .min = 100,
     .max = 3600000,
     .help = "duration of each phase (PUT, then GET)"},
    {.name = "concurrency",
     .type = HS_OPT_INT,
     FIELD(concurrency),
     .def = "8",
     .min = 1,
     .max = 256,
     .help = "requests in flight (one thread and connection each)"},
};

static const struct hs_config_spec bench_spec = {
    .command = "bench node",
    .summary = "Measures blob PUT then GET ops/s, MB/s and latency against a running node; "
               "prints one JSON object per line.",
    .env_prefix = "HS_BENCH_NODE_",
    .opts = bench_opts,
    .n_opts = sizeof bench_opts / sizeof bench_opts[0],
};

struct worker {
    pthread_t thread;
    int index;
    const struct bench_config *cfg;
    const char *secret;
    const char *prefix; /* random hex: runs never collide */
    const uint8_t *payload;
    size_t size;
    bool get_phase;
    int64_t deadline_ms;
    struct hs_bench_lat lat;
    int64_t errors;
    int64_t written; /* blobs this worker wrote (ids <prefix>.<index>.<0..written-1>) */
};

static void *worker_main(void *p)
{
    struct worker *w = p;
    struct hs_http_client_opts o = {.secret = w->secret, .timeout_ms = 30000};
    struct hs_http_client *c = NULL;
    hs_http_client_new(&o, &c);
    struct hs_buf out;
    hs_buf_init(&out, w->size);
    char id[96];
    for (int64_t seq = 0; hs_clock_mono_ms() < w->deadline_ms; seq++) {
        int64_t n = w->get_phase ? (w->written ? seq % w->written : 0) : seq;
        snprintf(id, sizeof id, "%s.%d.%" PRId64, w->prefix, w->index, n);
        int64_t t0 = hs_clock_mono_ns();
        enum hs_err err;
        if (w->get_phase) {
            hs_buf_reset(&out);
            err = hs_http_client_get(c, w->cfg->url, id, &out, NULL);
        } else {
            err = hs_http_client_put(c, w->cfg->url, id, w->payload, w->size);
        }
        int64_t us = (hs_clock_mono_ns() - t0) / 1000;
        if (err != HS_OK) {
            if (w->errors++ == 0)
                HS_LOG_WARN("bench_request_failed", "id=%s err=%s", id, hs_err_name(err));
            continue;
        }
        hs_bench_lat_add(&w->lat, us);
        if (!w->get_phase)
            w->written = seq + 1;
    }
    hs_buf_release(&out);
    hs_http_client_free(c);
    return NULL;
}

static void report(const char *op, size_t size, struct worker *ws, size_t n, int64_t elapsed_ms)
{
    size_t total = 0;
    int64_t errors = 0;
    for (size_t i = 0; i < n; i++) {
        errors += ws[i].errors;
    }
    int64_t *all = hs_bench_lat_sorted(&ws[0].lat, n, sizeof ws[0], &total);
    double secs = (double)elapsed_ms / 1000.0;
    double p50 = hs_bench_lat_pct_ms(all, total, 0.50);
    double p99 = hs_bench_lat_pct_ms(all, total, 0.99);
    printf("{\"op\":\"%s\",\"size\":%zu,\"concurrency\":%zu,\"ops\":%zu,\"errors\":%" PRId64
           ",\"seconds\":%.2f,\"ops_per_s\":%.1f,\"mb_per_s\":%.2f,\"p50_ms\":%.3f,"
           "\"p99_ms\":%.3f}\n",
           op, size, n, total, errors, secs, (double)total / secs,
           (double)total * (double)size / secs / 1e6, p50, p99);
    fflush(stdout);
    free(all);
}

static void run_phase(struct worker *ws, size_t n, bool get_phase, int64_t ms)
{
    int64_t t0 = hs_clock_mono_ms();
    for (size_t i = 0; i < n; i++) {
        ws[i].get_phase = get_phase;
        ws[i].lat.n = 0;
        ws[i].errors = 0;
        ws[i].deadline_ms = t0 + ms;
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0)
            HS_BUG("cannot start a bench thread");
    }
    for (size_t i = 0; i < n; i++)
        pthread_join(ws[i].thread, NULL);
    report(get_phase ? "get" : "put", ws[0].size, ws, n, hs_clock_mono_ms() - t0);
}

/* Deletes what the PUT phase wrote, so that repeated runs do not fill the node. */
static void cleanup(struct worker *ws, size_t n, const char *secret, const char *url)
{
    struct hs_http_client_opts o = {.secret = secret};
    struct hs_http_client *c = NULL;
    hs_http_client_new(&o, &c);
    char id[96];
    for (size_t i = 0; i < n; i++) {
        for (int64_t s = 0; s < ws[i].written; s++) {
            snprintf(id, sizeof id, "%s.%d.%" PRId64, ws[i].prefix, ws[i].index, s);
            hs_http_client_delete(c, url, id);
        }
    }
    hs_http_client_free(c);
}

static void bench_size(const struct bench_config *cfg, const char *secret, size_t size)
{
    size_t n = (size_t)cfg->concurrency;
    uint8_t *payload = hs_xmalloc(size ? size : 1);
    for (size_t i = 0; i < size; i++)
        payload[i] = (uint8_t)(i * 131 + 7);
    uint8_t raw[4] = {0};
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        HS_BUG("getrandom failed");
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%02x%02x%02x%02x", raw[0], raw[1], raw[2], raw[3]);
    struct worker *ws = hs_xcalloc(n, sizeof *ws);
    for (size_t i = 0; i < n; i++)
        ws[i] = (struct worker){.index = (int)i,
                                .cfg = cfg,
                                .secret = secret,
                                .prefix = prefix,
                                .payload = payload,
                                .size = size};
    run_phase(ws, n, false, cfg->seconds);
    run_phase(ws, n, true, cfg->seconds);
    cleanup(ws, n, secret, cfg->url);
    for (size_t i = 0; i < n; i++)
        hs_bench_lat_release(&ws[i].lat);
    free(ws);
    free(payload);
}

static char *bench_secret(const struct bench_config *cfg)
{
    if (cfg->secret)
        return hs_xstrdup(cfg->secret);
    if (!cfg->secret_file)
        return NULL;
    FILE *f = fopen(cfg->secret_file, "re");
    if (!f)
        return NULL;
    char buf[4096] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
        n--;
    buf[n] = '\0';
    size_t start = strspn(buf, " \t\r\n");
    return hs_xstrdup(buf + start);
}

int hs_cmd_bench_node(int argc, char **argv)
{
    struct bench_config cfg = {0};
    enum hs_config_outcome oc = hs_config_load(&bench_spec, &cfg, argc, argv, NULL, 0, NULL);
    if (oc != HS_CONFIG_RUN)
        return oc == HS_CONFIG_EXIT_OK ? 0 : 2;
    hs_log_init("bench", HS_LOG_WARN);
    char *secret = bench_secret(&cfg);
    int rc = 2;
    if (!secret || !*secret) {
        fprintf(stderr, "hybridstore bench node: --secret or a readable --secret-file needed\n");
        goto out;
    }
    if (cfg.size > 0) {
        bench_size(&cfg, secret, (size_t)cfg.size);
    } else {
        bench_size(&cfg, secret, 4096);
        bench_size(&cfg, secret, 1u << 20);
    }
    rc = 0;
out:
    free(secret);
    hs_config_release(&bench_spec, &cfg);
    return rc;
}
