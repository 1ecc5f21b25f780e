/* metrics.c - the gateway's Prometheus metrics: named counters (quorum failures, degraded
 * reads, ...), requests by method + route + status, a latency histogram and body bytes per
 * method + route, rendered in the text exposition format 0.0.4 for GET /metrics.
 *
 * Series live in fixed tables of slots found by a linear scan; a new series is added under a
 * mutex and published with a release store of the slot count, so the hot path (an existing
 * series) takes no lock: it is a scan of a few dozen slots and relaxed atomic adds. Label values
 * are bounded: routes come from the route table (or "none"), methods outside the HTTP set
 * become "other", so clients cannot grow the tables. A full table drops the sample and counts
 * it in hybridstore_gateway_metrics_dropped_total. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "gateway/budget.h"
#include "gateway/metrics.h"
#include "hs/banned.h"

#define LABEL_MAX    40  /* longest method or route kept (route table paths are short) */
#define ROUTES_MAX   64  /* method + route series */
#define STATUSES_MAX 256 /* method + route + status series */

/* Upper bounds of the latency buckets in microseconds: a 1 KiB write is ~1 ms, a degraded
 * 8 MiB EC read tens of ms, a stalled node hits the 10 s timeout. */
static const int64_t bucket_us[] = {250,    500,     1000,    2500,    5000,
                                    10000,  25000,   50000,   100000,  250000,
                                    500000, 1000000, 2500000, 5000000, 10000000};
#define N_BUCKETS (sizeof bucket_us / sizeof bucket_us[0])

struct route_series {
    char method[LABEL_MAX];
    char route[LABEL_MAX];
    atomic_int_fast64_t buckets[N_BUCKETS + 1]; /* per bucket (not cumulative); last is +Inf */
    atomic_int_fast64_t count;
    atomic_int_fast64_t sum_us;
    atomic_int_fast64_t bytes_in;
    atomic_int_fast64_t bytes_out;
};

struct status_series {
    char method[LABEL_MAX];
    char route[LABEL_MAX];
    unsigned status;
    atomic_int_fast64_t count;
};

static struct {
    pthread_mutex_t add_lock; /* serialises adding series; readers never take it */
    atomic_size_t n_routes;   /* published slots of routes[] */
    struct route_series routes[ROUTES_MAX];
    atomic_size_t n_statuses; /* published slots of statuses[] */
    struct status_series statuses[STATUSES_MAX];
    atomic_int_fast64_t counters[HS_GW_M_COUNT_];
    atomic_int_fast64_t dropped;
} g_m = {.add_lock = PTHREAD_MUTEX_INITIALIZER};

static const struct {
    const char *name; /* after the hybridstore_gateway_ prefix */
    const char *help;
} counter_info[HS_GW_M_COUNT_] = {
    [HS_GW_M_QUORUM_FAILURES] = {"quorum_failures_total",
                                 "Writes refused because too few blobs were stored."},
    [HS_GW_M_DEGRADED_READS] = {"degraded_reads_total",
                                "Reads that needed parity shards or a second replica."},
    [HS_GW_M_PURE_HOT_UPDATES] = {"pure_hot_updates_total",
                                  "field_hybrid writes that reused the stored cold part."},
    [HS_GW_M_COLD_UPDATES] = {"cold_updates_total",
                              "field_hybrid writes that wrote a new cold part."},
    [HS_GW_M_SHADOW_KEEPS] = {"shadow_keeps_total",
                              "field_hybrid writes that kept the stored cold part although "
                              "fields left it (they became shadows, order record version 2)."},
    [HS_GW_M_SHADOW_MISSES] = {"shadow_misses_total",
                               "Stored cold parts read to try that, in vain: a value the new "
                               "document keeps cold had changed."},
    [HS_GW_M_COMMIT_RETRIES] = {"commit_retries_total",
                                "Commit transactions retried after a concurrent writer."},
    [HS_GW_M_REPAIR_MARKS] = {"repair_marks_total", "repair/<key> marks written."},
    [HS_GW_M_BLOB_DELETE_FAILURES] = {"blob_delete_failures_total",
                                      "Replaced blobs that could not be deleted (left to GC)."},
    [HS_GW_M_HEDGED_READS] = {"hedged_reads_total",
                              "Segment reads that sent a backup request to another replica or "
                              "shard because the first was slow or failed."},
    [HS_GW_M_PROJECTIONS_HOT] = {"projections_hot_total",
                                 "Projection reads (?fields=) served from one hot replica."},
    [HS_GW_M_PROJECTIONS_FULL] = {"projections_full_total",
                                  "Projection reads (?fields=) that read the whole object."},
    [HS_GW_M_READ_RELAYOUTS] = {"projection_relayouts_total",
                                "Objects rewritten to their collection's layout after a "
                                "projection of fields the layout has hot read the whole object."},
    [HS_GW_M_WAL_ROLLED_BACK] = {"wal_rolled_back_total",
                                 "Writes refused because the healer rolled their record back."},
};

void hs_gw_metric_add(enum hs_gw_counter c, int64_t n)
{
    if ((unsigned)c >= HS_GW_M_COUNT_)
        return;
    atomic_fetch_add_explicit(&g_m.counters[c], n, memory_order_relaxed);
}

static const char *method_label(const char *method)
{
    static const char *const known[] = {"GET",    "HEAD",    "PUT",   "POST",
                                        "DELETE", "OPTIONS", "PATCH", "TRACE"};
    for (size_t i = 0; method && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(method, known[i]) == 0)
            return known[i];
    return "other";
}

static bool same(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* The series for (method, route), added when new; NULL when the table is full. */
static struct route_series *route_find(const char *method, const char *route)
{
    size_t n = atomic_load_explicit(&g_m.n_routes, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (same(g_m.routes[i].method, method) && same(g_m.routes[i].route, route))
            return &g_m.routes[i];
    struct route_series *rs = NULL;
    pthread_mutex_lock(&g_m.add_lock);
    n = atomic_load_explicit(&g_m.n_routes, memory_order_relaxed);
    for (size_t i = 0; i < n && !rs; i++) /* someone may have added it meanwhile */
        if (same(g_m.routes[i].method, method) && same(g_m.routes[i].route, route))
            rs = &g_m.routes[i];
    if (!rs && n < ROUTES_MAX) {
        rs = &g_m.routes[n];
        snprintf(rs->method, sizeof rs->method, "%s", method);
        snprintf(rs->route, sizeof rs->route, "%s", route);
        atomic_store_explicit(&g_m.n_routes, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&g_m.add_lock);
    return rs;
}

static struct status_series *status_find(const char *method, const char *route, unsigned status)
{
    size_t n = atomic_load_explicit(&g_m.n_statuses, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        struct status_series *s = &g_m.statuses[i];
        if (s->status == status && same(s->method, method) && same(s->route, route))
            return s;
    }
    struct status_series *ss = NULL;
    pthread_mutex_lock(&g_m.add_lock);
    n = atomic_load_explicit(&g_m.n_statuses, memory_order_relaxed);
    for (size_t i = 0; i < n && !ss; i++) {
        struct status_series *s = &g_m.statuses[i];
        if (s->status == status && same(s->method, method) && same(s->route, route))
            ss = s;
    }
    if (!ss && n < STATUSES_MAX) {
        ss = &g_m.statuses[n];
        snprintf(ss->method, sizeof ss->method, "%s", method);
        snprintf(ss->route, sizeof ss->route, "%s", route);
        ss->status = status;
        atomic_store_explicit(&g_m.n_statuses, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&g_m.add_lock);
    return ss;
}

void hs_gw_metric_request(const char *method, const char *route, unsigned status,
                          int64_t duration_us, int64_t bytes_in, int64_t bytes_out)
{
    const char *m = method_label(method);
    const char *rt = route ? route : "none";
    if (status > 999)
        status = 999; /* keep the label three digits */
    struct route_series *rs = route_find(m, rt);
    struct status_series *ss = status_find(m, rt, status);
    if (!rs || !ss) {
        atomic_fetch_add_explicit(&g_m.dropped, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&ss->count, 1, memory_order_relaxed);
    size_t b = 0;
    while (b < N_BUCKETS && duration_us > bucket_us[b])
        b++;
    atomic_fetch_add_explicit(&rs->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rs->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rs->sum_us, duration_us > 0 ? duration_us : 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&rs->bytes_in, bytes_in > 0 ? bytes_in : 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&rs->bytes_out, bytes_out > 0 ? bytes_out : 0, memory_order_relaxed);
}

void hs_gw_metrics_on_complete(void *ctx, const char *method, const char *route, unsigned status,
                               int64_t duration_us, int64_t bytes_in, int64_t bytes_out)
{
    (void)ctx;
    hs_gw_metric_request(method, route, status, duration_us, bytes_in, bytes_out);
}

/* Label values come from the route table and a fixed method list, but escape them anyway as
 * the format requires (backslash, double quote, newline). */
static void put_label(struct hs_buf *out, const char *name, const char *value, bool first)
{
    (void)hs_buf_printf(out, "%s%s=\"", first ? "" : ",", name);
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            (void)hs_buf_printf(out, "\\%c", *p);
        else if (*p == '\n')
            (void)hs_buf_append(out, "\\n", 2);
        else
            (void)hs_buf_append(out, p, 1);
    }
    (void)hs_buf_append(out, "\"", 1);
}

static void put_header(struct hs_buf *out, const char *name, const char *type, const char *help)
{
    (void)hs_buf_printf(out, "# HELP hybridstore_gateway_%s %s\n", name, help);
    (void)hs_buf_printf(out, "# TYPE hybridstore_gateway_%s %s\n", name, type);
}

static int64_t load(atomic_int_fast64_t *v)
{
    return (int64_t)atomic_load_explicit(v, memory_order_relaxed);
}

static void render_requests(struct hs_buf *out)
{
    size_t n = atomic_load_explicit(&g_m.n_statuses, memory_order_acquire);
    put_header(out, "requests_total", "counter", "HTTP requests by method, route and status.");
    for (size_t i = 0; i < n; i++) {
        struct status_series *s = &g_m.statuses[i];
        (void)hs_buf_append(out, "hybridstore_gateway_requests_total{", 35);
        put_label(out, "method", s->method, true);
        put_label(out, "route", s->route, false);
        (void)hs_buf_printf(out, ",status=\"%u\"} %lld\n", s->status, (long long)load(&s->count));
    }
}

static void route_labels(struct hs_buf *out, const char *metric, const struct route_series *rs)
{
    (void)hs_buf_printf(out, "hybridstore_gateway_%s{", metric);
    put_label(out, "method", rs->method, true);
    put_label(out, "route", rs->route, false);
}

static void render_latency(struct hs_buf *out, size_t n)
{
    put_header(out, "request_duration_seconds", "histogram",
               "Time from the request's first byte to its completion, by method and route.");
    for (size_t i = 0; i < n; i++) {
        struct route_series *rs = &g_m.routes[i];
        int64_t cum = 0;
        for (size_t b = 0; b <= N_BUCKETS; b++) {
            cum += load(&rs->buckets[b]);
            route_labels(out, "request_duration_seconds_bucket", rs);
            if (b < N_BUCKETS)
                (void)hs_buf_printf(out, ",le=\"%g\"} %lld\n", (double)bucket_us[b] / 1e6,
                                    (long long)cum);
            else
                (void)hs_buf_printf(out, ",le=\"+Inf\"} %lld\n", (long long)cum);
        }
        route_labels(out, "request_duration_seconds_sum", rs);
        (void)hs_buf_printf(out, "} %.6f\n", (double)load(&rs->sum_us) / 1e6);
        /* the count is the +Inf bucket, as the format requires, even while adds race */
        route_labels(out, "request_duration_seconds_count", rs);
        (void)hs_buf_printf(out, "} %lld\n", (long long)cum);
    }
}

static void render_bytes(struct hs_buf *out, size_t n)
{
    put_header(out, "request_body_bytes_total", "counter",
               "Request body bytes received, by method and route.");
    for (size_t i = 0; i < n; i++) {
        route_labels(out, "request_body_bytes_total", &g_m.routes[i]);
        (void)hs_buf_printf(out, "} %lld\n", (long long)load(&g_m.routes[i].bytes_in));
    }
    put_header(out, "response_body_bytes_total", "counter",
               "Response body bytes sent, by method and route.");
    for (size_t i = 0; i < n; i++) {
        route_labels(out, "response_body_bytes_total", &g_m.routes[i]);
        (void)hs_buf_printf(out, "} %lld\n", (long long)load(&g_m.routes[i].bytes_out));
    }
}

void hs_gw_metrics_render(struct hs_buf *out)
{
    render_requests(out);
    size_t n = atomic_load_explicit(&g_m.n_routes, memory_order_acquire);
    render_latency(out, n);
    render_bytes(out, n);
    for (size_t c = 0; c < HS_GW_M_COUNT_; c++) {
        put_header(out, counter_info[c].name, "counter", counter_info[c].help);
        (void)hs_buf_printf(out, "hybridstore_gateway_%s %lld\n", counter_info[c].name,
                            (long long)load(&g_m.counters[c]));
    }
    put_header(out, "metrics_dropped_total", "counter",
               "Request samples dropped because the series tables were full.");
    (void)hs_buf_printf(out, "hybridstore_gateway_metrics_dropped_total %lld\n",
                        (long long)load(&g_m.dropped));
}

void hs_gw_metrics_render_budget(struct hs_buf *out, const struct hs_gw_budget_stats *s)
{
    static const struct {
        const char *name, *type, *help;
        size_t offset;
    } rows[] = {
        {"body_buffer_bytes", "gauge",
         "Request body bytes reserved against body-buffer-budget right now.",
         offsetof(struct hs_gw_budget_stats, body_reserved_bytes)},
        {"body_buffer_limit_bytes", "gauge", "body-buffer-budget.",
         offsetof(struct hs_gw_budget_stats, body_limit_bytes)},
        {"body_buffer_peak_bytes", "gauge", "Highest body_buffer_bytes since start.",
         offsetof(struct hs_gw_budget_stats, body_peak_reserved_bytes)},
        {"body_buffer_refusals_total", "counter",
         "Requests refused (503 EBUSY, or 413) because their body would pass body-buffer-budget.",
         offsetof(struct hs_gw_budget_stats, body_refusals)},
        {"open_writes", "gauge", "Writes holding a WAL slot (max-open-writes) right now.",
         offsetof(struct hs_gw_budget_stats, writes_open)},
        {"open_writes_limit", "gauge", "max-open-writes.",
         offsetof(struct hs_gw_budget_stats, writes_limit)},
        {"open_writes_refusals_total", "counter",
         "Writes refused (503 EBUSY) because max-open-writes were open.",
         offsetof(struct hs_gw_budget_stats, writes_refusals)},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t v = 0;
        memcpy(&v, (const char *)s + rows[i].offset, sizeof v);
        put_header(out, rows[i].name, rows[i].type, rows[i].help);
        (void)hs_buf_printf(out, "hybridstore_gateway_%s %lld\n", rows[i].name, (long long)v);
    }
}
