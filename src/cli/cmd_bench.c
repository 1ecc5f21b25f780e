/* cmd_bench.c - `hybridstore bench`: a closed-loop load generator against a gateway (or nginx in
 * front of several). Each of --concurrency workers is one thread with one kept-alive curl handle
 * that sends its next request as soon as the previous one answered, for --duration seconds.
 * Bodies are JSON documents of about --size bytes: hot fields like_count/view_count and a cold
 * "payload" string, so the same run works on the reference API (POST /write, GET /read/K) and
 * the native one (/v1/objects/K). Prints one JSON line: ops/s, MB/s, p50/p99/p999, errors.
 * Keys live under bench/<random run id>/ and are deleted at the end. It measures; it does not
 * check data (the cluster tests do). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <curl/curl.h>

#include "cli/bench_cpu.h"
#include "cli/bench_lat.h"
#include "cli/client.h"
#include "commands.h"
#include "hs/clock.h"
#include "hs/config.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

enum mode { M_WRITE, M_READ, M_HOT_UPDATE, M_PATCH, M_MIXED };
static const char *const mode_names[] = {"write", "read", "hot-update", "patch", "mixed", NULL};
enum api { API_REF, API_V1 };
static const char *const api_names[] = {"ref", "v1", NULL};
static const char *const strategy_names[] = {"replication", "ec", "field_hybrid", "auto", NULL};

struct bench_config {
    char *url;
    int strategy; /* index into strategy_names */
    int64_t size;
    int64_t concurrency;
    int64_t duration_ms;
    int mode;
    int api;
    int64_t keys;
    int64_t timeout_ms;
    char *cluster_dir;
    int64_t repeat;
    bool prefill;
};

#define FIELD(f) .offset = offsetof(struct bench_config, f)
static const struct hs_opt bench_opts[] = {
    {.name = "url",
     .type = HS_OPT_STRING,
     FIELD(url),
     .help = "gateway or load balancer (default $HYBRIDSTORE_URL, else " HS_CLI_DEFAULT_URL ")"},
    {.name = "strategy",
     .type = HS_OPT_ENUM,
     FIELD(strategy),
     .choices = strategy_names,
     .help = "replication, ec, field_hybrid or auto (v1 only); hot-update/patch force "
             "field_hybrid"},
    {.name = "size",
     .type = HS_OPT_BYTES,
     FIELD(size),
     .def = "1KiB",
     .min = 64,
     .max = (int64_t)1 << 30,
     .help = "document size (hot-update, patch: size of the cold part)"},
    {.name = "concurrency",
     .type = HS_OPT_INT,
     FIELD(concurrency),
     .def = "8",
     .min = 1,
     .max = 512,
     .help = "requests in flight (one thread and connection each)"},
    {.name = "duration",
     .type = HS_OPT_DURATION,
     FIELD(duration_ms),
     .def = "10s",
     .min = 100,
     .max = 86400000,
     .help = "measured time (population and clean-up are not counted)"},
    {.name = "mode",
     .type = HS_OPT_ENUM,
     FIELD(mode),
     .choices = mode_names,
     .help = "write, read, hot-update, patch (v1 PATCH of hot fields) or mixed (80% read, 20% "
             "write)"},
    {.name = "api",
     .type = HS_OPT_ENUM,
     FIELD(api),
     .choices = api_names,
     .help = "ref (POST /write, GET /read/K) or v1 (/v1/objects/K)"},
    {.name = "keys",
     .type = HS_OPT_INT,
     FIELD(keys),
     .def = "1000",
     .min = 1,
     .max = 10000000,
     .help = "distinct keys (written cyclically; read modes populate them first)"},
    {.name = "timeout",
     .type = HS_OPT_DURATION,
     FIELD(timeout_ms),
     .def = "30s",
     .min = 100,
     .max = 3600000,
     .help = "per request"},
    {.name = "cluster-dir",
     .type = HS_OPT_STRING,
     FIELD(cluster_dir),
     .help = "directory of a cluster started by `hybridstore cluster`: also report CPU ms per "
             "operation of each role (etcd, node, gateway, healer, nginx) from its cluster.json; "
             "its URL is the default --url"},
    {.name = "repeat",
     .type = HS_OPT_INT,
     FIELD(repeat),
     .def = "1",
     .min = 1,
     .max = 99,
     .help = "measured runs (one line each); more than one adds a line of medians"},
    {.name = "prefill",
     .type = HS_OPT_BOOL,
     FIELD(prefill),
     .def = "false",
     .help = "write mode: write every key first (untimed), so that every measured write is an "
             "overwrite"},
};

static const struct hs_config_spec bench_spec = {
    .command = "bench",
    .summary = "Closed-loop load against a gateway; prints one JSON line with ops, ops_per_s, "
               "mb_per_s, p50_ms, p99_ms, p999_ms and errors.",
    .env_prefix = "HS_BENCH_",
    .opts = bench_opts,
    .n_opts = HS_ARRAY_LEN(bench_opts),
};

struct run {
    const struct bench_config *cfg;
    const char *base; /* URL without trailing '/' */
    char run_id[17];  /* keys are bench/<run_id>/<n> */
    const char *strategy;
    size_t n_keys;
};

enum op { OP_WRITE, OP_READ, OP_PATCH, OP_DELETE };

struct worker {
    pthread_t thread;
    const struct run *run;
    size_t index;
    CURL *curl;
    char *doc; /* the JSON document, hot fields at fixed offsets */
    size_t doc_len;
    size_t like_off; /* offset of the 10-char like_count value */
    uint64_t rng;
    enum { PH_POPULATE, PH_MEASURE, PH_CLEANUP } phase;
    int64_t deadline_ms;
    struct hs_bench_lat lat;
    int64_t errors;
    int64_t bytes;     /* body bytes moved by successful measured ops */
    size_t resp_bytes; /* of the current request */
    size_t req_bytes;  /* body bytes the current request sent */
    uint64_t seq;
    long first_err_status;
};

static uint64_t next_rand(uint64_t *s)
{
    /* xorshift64*: per worker, no locking, good enough to pick keys */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* {"like_count":<10>,"view_count":<10>,"id":"<key>","payload":"aaa..."} of about size bytes;
 * numbers are right-aligned in 10 columns (JSON allows the leading spaces) so that each write
 * patches them in place instead of building a new document. */
static void make_doc(struct worker *w, size_t size, size_t index)
{
    char head[160];
    int n = snprintf(head, sizeof head,
                     "{\"like_count\":%10u,\"view_count\":%10u,\"id\":\"w%zu\",\"payload\":\"", 0u,
                     0u, index);
    size_t pay = size > (size_t)n + 2 ? size - (size_t)n - 2 : 1;
    w->doc_len = (size_t)n + pay + 2;
    w->doc = hs_xmalloc(w->doc_len + 1);
    memcpy(w->doc, head, (size_t)n);
    for (size_t i = 0; i < pay; i++)
        w->doc[(size_t)n + i] = (char)('a' + (i * 7 + index) % 26);
    memcpy(w->doc + n + pay, "\"}", 3);
    w->like_off = strlen("{\"like_count\":");
}

static void set_hot(struct worker *w, uint32_t v)
{
    char num[12];
    snprintf(num, sizeof num, "%10u", v);
    memcpy(w->doc + w->like_off, num, 10);
    memcpy(w->doc + w->like_off + 10 + strlen(",\"view_count\":"), num, 10);
}

static size_t sink(char *d, size_t s, size_t n, void *ud)
{
    (void)d;
    struct worker *w = ud;
    w->resp_bytes += s * n;
    return s * n;
}

/* Builds the URL of op on key number k into url. */
static void op_url(const struct worker *w, enum op op, size_t k, char *url, size_t cap)
{
    const struct run *r = w->run;
    bool v1 = r->cfg->api == API_V1 || op == OP_PATCH;
    if (!v1 && op == OP_WRITE)
        snprintf(url, cap, "%s/write?key=bench/%s/%zu&strategy=%s", r->base, r->run_id, k,
                 r->strategy);
    else if (!v1)
        snprintf(url, cap, "%s/%s/bench/%s/%zu", r->base, op == OP_READ ? "read" : "delete",
                 r->run_id, k);
    else if (op == OP_WRITE)
        snprintf(url, cap, "%s/v1/objects/bench/%s/%zu?strategy=%s", r->base, r->run_id, k,
                 r->strategy);
    else
        snprintf(url, cap, "%s/v1/objects/bench/%s/%zu", r->base, r->run_id, k);
}

/* One request; returns the HTTP status (0: no answer). */
static long do_op(struct worker *w, enum op op, size_t k)
{
    static const char *const methods[] = {"PUT", "GET", "PATCH", "DELETE"};
    char url[512], patch[96];
    op_url(w, op, k, url, sizeof url);
    CURL *e = w->curl;
    curl_easy_reset(e);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)w->run->cfg->timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, w);
    w->resp_bytes = 0;
    w->req_bytes = 0;
    if (op == OP_WRITE) {
        set_hot(w, (uint32_t)w->seq);
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, w->doc);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)w->doc_len);
        w->req_bytes = w->doc_len;
        if (w->run->cfg->api == API_V1)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (op == OP_PATCH) {
        int n =
            snprintf(patch, sizeof patch, "{\"like_count\":%" PRIu64 ",\"view_count\":%" PRIu64 "}",
                     w->seq, w->seq * 3);
        h = curl_slist_append(h, "Content-Type: application/merge-patch+json");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, patch);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
        w->req_bytes = (size_t)n;
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
    } else if (op != OP_READ) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, methods[op]);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    w->seq++;
    return status;
}

static void record(struct worker *w, int64_t us, int64_t bytes)
{
    hs_bench_lat_add(&w->lat, us);
    w->bytes += bytes;
}

/* The measured op of the mode, on which key. */
static enum op pick_op(struct worker *w, size_t *k)
{
    const struct run *r = w->run;
    size_t mine = (r->n_keys - w->index + r->cfg->concurrency - 1) / (size_t)r->cfg->concurrency;
    switch (r->cfg->mode) {
    case M_WRITE:
    case M_HOT_UPDATE:
        /* each worker cycles over its own keys: no two writers race on one key */
        *k = w->index + (size_t)r->cfg->concurrency * (size_t)(w->seq % (mine ? mine : 1));
        return OP_WRITE;
    case M_PATCH:
        *k = w->index + (size_t)r->cfg->concurrency * (size_t)(w->seq % (mine ? mine : 1));
        return OP_PATCH;
    case M_READ:
        *k = (size_t)(next_rand(&w->rng) % r->n_keys);
        return OP_READ;
    default: /* mixed */
        if (next_rand(&w->rng) % 5 == 0) {
            *k = w->index + (size_t)r->cfg->concurrency * (size_t)(w->seq % (mine ? mine : 1));
            return OP_WRITE;
        }
        *k = (size_t)(next_rand(&w->rng) % r->n_keys);
        return OP_READ;
    }
}

static void *worker_main(void *p)
{
    struct worker *w = p;
    const struct run *r = w->run;
    size_t step = (size_t)r->cfg->concurrency;
    if (w->phase != PH_MEASURE) {
        /* populate or clean up this worker's share of the keys, untimed */
        for (size_t k = w->index; k < r->n_keys; k += step) {
            long st = do_op(w, w->phase == PH_POPULATE ? OP_WRITE : OP_DELETE, k);
            if (w->phase == PH_POPULATE && st / 100 != 2 && w->first_err_status == 0)
                w->first_err_status = st ? st : -1;
        }
        return NULL;
    }
    while (hs_clock_mono_ms() < w->deadline_ms) {
        size_t k = 0;
        enum op op = pick_op(w, &k);
        int64_t t0 = hs_clock_mono_ns();
        long st = do_op(w, op, k);
        int64_t us = (hs_clock_mono_ns() - t0) / 1000;
        if (st / 100 != 2) {
            if (w->errors++ == 0)
                w->first_err_status = st ? st : -1;
            continue;
        }
        record(w, us, op == OP_READ ? (int64_t)w->resp_bytes : (int64_t)w->req_bytes);
    }
    return NULL;
}

static void run_phase(struct worker *ws, size_t n, int phase, int64_t ms)
{
    int64_t deadline = hs_clock_mono_ms() + ms;
    for (size_t i = 0; i < n; i++) {
        ws[i].phase = phase;
        ws[i].deadline_ms = deadline;
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0)
            HS_BUG("cannot start a bench thread");
    }
    for (size_t i = 0; i < n; i++)
        pthread_join(ws[i].thread, NULL);
}

/* What one measured run gives (one JSON line). */
struct result {
    double secs, ops, errors, ops_per_s, mb_per_s, p50_ms, p99_ms, p999_ms;
    long first_err;
    bool have_cpu;
    double cpu_ms_per_op[HS_BENCH_CPU_ROLES + 1]; /* roles, then the total */
};

static void print_result(const struct run *r, const struct result *res, const char *rep)
{
    printf("{\"mode\":\"%s\",\"api\":\"%s\",\"strategy\":\"%s\",\"size\":%" PRId64
           ",\"concurrency\":%" PRId64 ",\"rep\":\"%s\",\"seconds\":%.2f,\"ops\":%.0f,"
           "\"errors\":%.0f,\"first_error_status\":%ld,\"ops_per_s\":%.1f,\"mb_per_s\":%.2f,"
           "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f",
           mode_names[r->cfg->mode], api_names[r->cfg->api], r->strategy, r->cfg->size,
           r->cfg->concurrency, rep, res->secs, res->ops, res->errors, res->first_err,
           res->ops_per_s, res->mb_per_s, res->p50_ms, res->p99_ms, res->p999_ms);
    if (res->have_cpu) {
        printf(",\"cpu_ms_per_op\":{");
        for (int i = 0; i < HS_BENCH_CPU_ROLES; i++)
            printf("\"%s\":%.3f,", hs_bench_cpu_role_names[i], res->cpu_ms_per_op[i]);
        printf("\"total\":%.3f}", res->cpu_ms_per_op[HS_BENCH_CPU_ROLES]);
    }
    printf("}\n");
    fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of each field on its own across n runs (n odd gives a measured value per field). */
static double median_of(const struct result *rs, size_t n, size_t field_off)
{
    double v[99];
    for (size_t i = 0; i < n; i++)
        memcpy(&v[i], (const char *)&rs[i] + field_off, sizeof v[i]);
    qsort(v, n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_median(const struct run *r, const struct result *rs, size_t n)
{
    struct result m = rs[0];
#define MED(f) m.f = median_of(rs, n, offsetof(struct result, f))
    MED(secs);
    MED(ops);
    MED(errors);
    MED(ops_per_s);
    MED(mb_per_s);
    MED(p50_ms);
    MED(p99_ms);
    MED(p999_ms);
#undef MED
    for (int i = 0; i <= HS_BENCH_CPU_ROLES; i++)
        m.cpu_ms_per_op[i] =
            median_of(rs, n, offsetof(struct result, cpu_ms_per_op) + (size_t)i * sizeof(double));
    print_result(r, &m, "median");
}

static void report(struct worker *ws, size_t n, int64_t elapsed_ms, struct result *res)
{
    size_t total = 0;
    int64_t errors = 0, bytes = 0;
    long first_err = 0;
    for (size_t i = 0; i < n; i++) {
        errors += ws[i].errors;
        bytes += ws[i].bytes;
        if (!first_err)
            first_err = ws[i].first_err_status;
    }
    int64_t *all = hs_bench_lat_sorted(&ws[0].lat, n, sizeof ws[0], &total);
    double secs = (double)elapsed_ms / 1000.0;
    res->secs = secs;
    res->ops = (double)total;
    res->errors = (double)errors;
    res->first_err = first_err;
    res->ops_per_s = (double)total / secs;
    res->mb_per_s = (double)bytes / secs / 1e6;
    res->p50_ms = hs_bench_lat_pct_ms(all, total, 0.50);
    res->p99_ms = hs_bench_lat_pct_ms(all, total, 0.99);
    res->p999_ms = hs_bench_lat_pct_ms(all, total, 0.999);
    free(all);
}

/* One measured run: workers' counters reset, the cluster's CPU sampled around it (cpu may be
 * NULL). */
static void measure(const struct run *r, struct worker *ws, size_t n,
                    const struct hs_bench_cpu *cpu, struct result *res)
{
    for (size_t i = 0; i < n; i++) {
        ws[i].lat.n = 0;
        ws[i].errors = 0;
        ws[i].bytes = 0;
        ws[i].first_err_status = 0;
    }
    int64_t *before = NULL, *after = NULL;
    if (cpu) {
        before = hs_xcalloc(cpu->n_procs, sizeof *before);
        after = hs_xcalloc(cpu->n_procs, sizeof *after);
        hs_bench_cpu_sample(cpu, before);
    }
    int64_t t0 = hs_clock_mono_ms();
    run_phase(ws, n, PH_MEASURE, r->cfg->duration_ms);
    int64_t elapsed_ms = hs_clock_mono_ms() - t0;
    if (cpu)
        hs_bench_cpu_sample(cpu, after);
    *res = (struct result){0};
    report(ws, n, elapsed_ms, res);
    if (cpu) {
        double ns[HS_BENCH_CPU_ROLES], total = 0, ops = res->ops > 0 ? res->ops : 1;
        hs_bench_cpu_diff(cpu, before, after, ns);
        for (int i = 0; i < HS_BENCH_CPU_ROLES; i++) {
            res->cpu_ms_per_op[i] = ns[i] / 1e6 / ops;
            total += res->cpu_ms_per_op[i];
        }
        res->cpu_ms_per_op[HS_BENCH_CPU_ROLES] = total;
        res->have_cpu = true;
    }
    free(before);
    free(after);
}

static int bench(const struct bench_config *cfg)
{
    struct run r = {.cfg = cfg, .n_keys = (size_t)cfg->keys};
    struct hs_bench_cpu cpu = {0};
    if (cfg->cluster_dir && hs_bench_cpu_load(cfg->cluster_dir, &cpu) != HS_OK) {
        fprintf(stderr, "hybridstore bench: cannot read '%s/cluster.json'\n", cfg->cluster_dir);
        return 2;
    }
    char *base =
        hs_xstrdup(cfg->cluster_dir && !(cfg->url && *cfg->url) ? cpu.url : hs_cli_url(cfg->url));
    for (size_t l = strlen(base); l > 0 && base[l - 1] == '/'; l--)
        base[l - 1] = '\0';
    r.base = base;
    bool hybrid = cfg->mode == M_HOT_UPDATE || cfg->mode == M_PATCH;
    r.strategy = hybrid ? "field_hybrid" : strategy_names[cfg->strategy];
    uint8_t raw[8];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        HS_BUG("getrandom failed");
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(r.run_id + 2 * i, 3, "%02x", raw[i]);
    size_t n = (size_t)cfg->concurrency;
    struct worker *ws = hs_xcalloc(n, sizeof *ws);
    for (size_t i = 0; i < n; i++) {
        ws[i].run = &r;
        ws[i].index = i;
        ws[i].curl = curl_easy_init();
        ws[i].rng = ((uint64_t)raw[i % 8] << 32) ^ (i * 0x9e3779b97f4a7c15ull) ^ 1u;
        make_doc(&ws[i], (size_t)cfg->size + (hybrid ? 64 : 0), i);
    }
    int rc = 0;
    if (cfg->mode != M_WRITE || cfg->prefill) {
        run_phase(ws, n, PH_POPULATE, 0);
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (ws[i].first_err_status) {
                fprintf(stderr, "hybridstore bench: populating failed (HTTP %ld)\n",
                        ws[i].first_err_status);
                rc = 1;
            }
        }
    }
    if (rc == 0) {
        size_t reps = (size_t)cfg->repeat;
        struct result *rs = hs_xcalloc(reps, sizeof *rs);
        for (size_t i = 0; i < reps; i++) {
            char rep[24];
            snprintf(rep, sizeof rep, "%zu", i + 1);
            measure(&r, ws, n, cfg->cluster_dir ? &cpu : NULL, &rs[i]);
            print_result(&r, &rs[i], rep);
        }
        if (reps > 1)
            print_median(&r, rs, reps);
        free(rs);
        run_phase(ws, n, PH_CLEANUP, 0);
    }
    for (size_t i = 0; i < n; i++) {
        curl_easy_cleanup(ws[i].curl);
        hs_bench_lat_release(&ws[i].lat);
        free(ws[i].doc);
    }
    free(ws);
    free(base);
    hs_bench_cpu_release(&cpu);
    return rc;
}

int hs_cmd_bench(int argc, char **argv)
{
    struct bench_config cfg = {0};
    enum hs_config_outcome oc = hs_config_load(&bench_spec, &cfg, argc, argv, NULL, 0, NULL);
    if (oc != HS_CONFIG_RUN)
        return oc == HS_CONFIG_EXIT_OK ? 0 : 2;
    hs_log_init("bench", HS_LOG_WARN);
    int rc = 2;
    if (cfg.api == API_REF && strcmp(strategy_names[cfg.strategy], "auto") == 0)
        fprintf(stderr, "hybridstore bench: the reference API has no 'auto' strategy\n");
    else
        rc = bench(&cfg);
    hs_config_release(&bench_spec, &cfg);
    return rc;
}
