/* cmd_bench_s3.c - `hybridstore bench s3`: S3 PUT/GET against the native /v1 API in one run.
 * For every object size (--sizes) and operation (put, then get of the objects just put) it runs
 * the same closed loop (--concurrency threads, one kept-alive curl handle each, --duration) on
 * /v1/objects/K and on the S3 endpoint, --repeat times alternating the two APIs, and prints one
 * JSON line per run and one summary line per (size, op) with the medians, the S3/native
 * ratio of the median ops/s and the median of the per-repeat ratios (paired_ratio). S3 requests are
 * signed as a client signs them (hs_s3_sigv4_sign of the S3 library; the body's SHA-256 is computed
 * once per worker: the client's own cost stays out of the measurement as far as possible).
 * Endpoints and keys come from cluster.json. Objects live in a bucket hsbench-<run id> (native keys
 * under the same prefix) removed at the end. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/bench_lat.h"
#include "commands.h"
#include "hs/buf.h"
#include "hs/clock.h"
#include "hs/config.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/s3_checksum.h"
#include "hs/s3_sigv4.h"
#include "hs/banned.h"

#define SIZES_MAX   8
#define REPEAT_MAX  15
#define EMPTY_SHA   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEADERS_MAX 8

static const char *const strategy_names[] = {"replication", "ec", NULL};
/* the storage class S3 maps onto each strategy (docs/s3.md "Storage classes") */
static const char *const storage_classes[] = {"REDUCED_REDUNDANCY", "STANDARD_IA"};
static const char *const payload_names[] = {"signed", "unsigned", NULL};
static const char *const checksum_names[] = {"none", "crc32", NULL};

struct bench_s3_config {
    char *cluster_dir;
    char *sizes;
    int strategy;
    int payload;
    int checksum;
    int64_t concurrency;
    int64_t duration_ms;
    int64_t repeat;
    int64_t keys;
    int64_t timeout_ms;
};

#define FIELD(f) .offset = offsetof(struct bench_s3_config, f)
static const struct hs_opt opts[] = {
    {.name = "cluster-dir",
     .type = HS_OPT_STRING,
     FIELD(cluster_dir),
     .def = "./data",
     .help = "data directory of `hybridstore cluster`: cluster.json gives the native URL, the S3 "
             "endpoint, region and root key"},
    {.name = "sizes",
     .type = HS_OPT_STRING,
     FIELD(sizes),
     .def = "1KiB,1MiB",
     .help = "object sizes, comma-separated"},
    {.name = "strategy",
     .type = HS_OPT_ENUM,
     FIELD(strategy),
     .choices = strategy_names,
     .help = "replication or ec, on both APIs (S3: the storage class that maps to it)"},
    {.name = "payload",
     .type = HS_OPT_ENUM,
     FIELD(payload),
     .choices = payload_names,
     .help = "S3 PUT body: signed (hex SHA-256, what aws-cli and boto3 send over http) or "
             "unsigned (UNSIGNED-PAYLOAD)"},
    {.name = "checksum",
     .type = HS_OPT_ENUM,
     FIELD(checksum),
     .choices = checksum_names,
     .help = "S3 PUT flexible checksum header: none or crc32 (the newest SDKs' default)"},
    {.name = "concurrency",
     .type = HS_OPT_INT,
     FIELD(concurrency),
     .def = "8",
     .min = 1,
     .max = 256,
     .help = "requests in flight (one thread and connection each)"},
    {.name = "duration",
     .type = HS_OPT_DURATION,
     FIELD(duration_ms),
     .def = "5s",
     .min = 100,
     .max = 3600000,
     .help = "measured time of each run"},
    {.name = "repeat",
     .type = HS_OPT_INT,
     FIELD(repeat),
     .def = "3",
     .min = 1,
     .max = REPEAT_MAX,
     .help = "runs per (size, op, api), alternating the APIs; the summary gives medians"},
    {.name = "keys",
     .type = HS_OPT_INT,
     FIELD(keys),
     .def = "64",
     .min = 1,
     .max = 100000,
     .help = "distinct keys per (size, api): PUTs cycle over them, GETs pick them at random"},
    {.name = "timeout",
     .type = HS_OPT_DURATION,
     FIELD(timeout_ms),
     .def = "30s",
     .min = 100,
     .max = 3600000,
     .help = "per request"},
};

static const struct hs_config_spec spec = {
    .command = "bench s3",
    .summary = "S3 PUT/GET against the native /v1 API in one run (endpoints and key from "
               "cluster.json); prints one JSON line per run and per (size, op) the medians and "
               "the S3/native ops/s ratio.",
    .env_prefix = "HS_BENCH_S3_",
    .opts = opts,
    .n_opts = HS_ARRAY_LEN(opts),
};

enum api { API_NATIVE, API_S3 };
static const char *const api_names[] = {"native", "s3"};
enum op { OP_PUT, OP_GET, OP_DELETE };
static const char *const op_names[] = {"put", "get", "delete"};

struct target {
    char native[256]; /* base URL, no trailing '/' */
    char s3[256];
    char s3_host[256]; /* host:port as the Host header */
    char region[HS_S3_REGION_MAX + 1];
    char access_key[HS_S3_ACCESS_KEY_MAX + 1];
    char secret_key[HS_S3_SECRET_MAX + 1];
    char bucket[40]; /* hsbench-<run id> */
};

struct run {
    const struct bench_s3_config *cfg;
    const struct target *t;
    size_t size;
    enum api api;
    enum op op;
    size_t n_keys;
};

struct worker {
    pthread_t thread;
    const struct run *run;
    size_t index;
    CURL *curl;
    uint8_t *body; /* size bytes, distinct per worker */
    char body_sha[65];
    char body_crc32[HS_S3_CKSUM_B64_MAX];
    uint64_t rng, seq;
    bool timed;
    int64_t deadline_ms;
    struct hs_bench_lat lat;
    int64_t errors;
    long first_err;
};

struct result {
    double ops_per_s, p50_ms, p99_ms;
    int64_t errors;
};

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static size_t sink(char *d, size_t s, size_t n, void *ud)
{
    (void)d, (void)ud;
    return s * n;
}

/* Adds "x-amz-date", "x-amz-content-sha256" and "Authorization" for method/target to h. */
static struct curl_slist *s3_sign(const struct worker *w, const char *method, const char *target,
                                  const char *payload_sha, const char *crc32, struct curl_slist *h)
{
    const struct target *t = w->run->t;
    char date[HS_S3_AMZ_DATE_LEN + 1];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm);
    struct hs_s3_header hs[HEADERS_MAX];
    size_t n = 0;
    hs[n++] = (struct hs_s3_header){"host", t->s3_host};
    hs[n++] = (struct hs_s3_header){"x-amz-date", date};
    hs[n++] = (struct hs_s3_header){"x-amz-content-sha256", payload_sha};
    if (crc32)
        hs[n++] = (struct hs_s3_header){"x-amz-checksum-crc32", crc32};
    const char *sc = NULL;
    if (strcmp(method, "PUT") == 0) {
        sc = storage_classes[w->run->cfg->strategy];
        hs[n++] = (struct hs_s3_header){"x-amz-storage-class", sc};
    }
    struct hs_s3_sigv4_request req = {
        .method = method, .target = target, .headers = hs, .n_headers = n};
    struct hs_buf auth;
    hs_buf_init(&auth, 1024);
    if (hs_s3_sigv4_sign(t->access_key, t->secret_key, t->region, &req, &auth) != HS_OK)
        HS_BUG("cannot sign an S3 request");
    char line[1200];
    snprintf(line, sizeof line, "Authorization: %.*s", (int)auth.len, (const char *)auth.data);
    hs_buf_release(&auth);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "x-amz-date: %s", date);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "x-amz-content-sha256: %s", payload_sha);
    h = curl_slist_append(h, line);
    if (crc32) {
        snprintf(line, sizeof line, "x-amz-checksum-crc32: %s", crc32);
        h = curl_slist_append(h, line);
    }
    if (sc) {
        snprintf(line, sizeof line, "x-amz-storage-class: %s", sc);
        h = curl_slist_append(h, line);
    }
    return h;
}

/* One request on key k; returns the HTTP status (0: no answer). */
static long do_op(struct worker *w, enum op op, size_t k)
{
    static const char *const methods[] = {"PUT", "GET", "DELETE"};
    const struct run *r = w->run;
    const struct target *t = r->t;
    char url[600], target[300];
    snprintf(target, sizeof target, "/%s/%s-%zu/%zu", t->bucket, api_names[r->api], r->size, k);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (r->api == API_NATIVE) {
        snprintf(url, sizeof url, "%s/v1/objects%s%s%s", t->native, target,
                 op == OP_PUT ? "?strategy=" : "",
                 op == OP_PUT ? strategy_names[r->cfg->strategy] : "");
    } else {
        snprintf(url, sizeof url, "%s%s", t->s3, target);
        bool put = op == OP_PUT;
        const char *sha = !put                   ? EMPTY_SHA
                          : r->cfg->payload == 0 ? w->body_sha
                                                 : "UNSIGNED-PAYLOAD";
        h = s3_sign(w, methods[op], target, sha, put && r->cfg->checksum ? w->body_crc32 : NULL, h);
    }
    CURL *e = w->curl;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)r->cfg->timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    if (op == OP_PUT) {
        /* the same body every time (its SHA-256 is computed once); nothing deduplicates */
        h = curl_slist_append(h, "Content-Type: application/octet-stream");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, w->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->size);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (op == OP_DELETE) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    w->seq++;
    return status;
}

static void *worker_main(void *p)
{
    struct worker *w = p;
    const struct run *r = w->run;
    size_t step = (size_t)r->cfg->concurrency;
    if (!w->timed) { /* populate (put) or clean up (delete) this worker's keys, untimed */
        for (size_t k = w->index; k < r->n_keys; k += step) {
            long st = do_op(w, r->op, k);
            if (st / 100 != 2 && w->first_err == 0)
                w->first_err = st ? st : -1;
        }
        return NULL;
    }
    size_t mine = (r->n_keys - w->index + step - 1) / step;
    while (hs_clock_mono_ms() < w->deadline_ms) {
        size_t k = r->op == OP_PUT ? w->index + step * (size_t)(w->seq % (mine ? mine : 1))
                                   : (size_t)(next_rand(&w->rng) % r->n_keys);
        int64_t t0 = hs_clock_mono_ns();
        long st = do_op(w, r->op, k);
        int64_t us = (hs_clock_mono_ns() - t0) / 1000;
        if (st / 100 != 2) {
            if (w->errors++ == 0)
                w->first_err = st ? st : -1;
            continue;
        }
        hs_bench_lat_add(&w->lat, us);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs r with ws (timed for duration, or untimed over every key); fills res when timed.
 * Returns the first error status of an untimed run (0: none). */
static long run_once(struct run *r, struct worker *ws, bool timed, struct result *res)
{
    size_t n = (size_t)r->cfg->concurrency;
    int64_t t0 = hs_clock_mono_ms();
    for (size_t i = 0; i < n; i++) {
        ws[i].run = r;
        ws[i].timed = timed;
        ws[i].deadline_ms = t0 + r->cfg->duration_ms;
        ws[i].lat.n = 0;
        ws[i].errors = 0;
        ws[i].first_err = 0;
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0)
            HS_BUG("cannot start a bench thread");
    }
    for (size_t i = 0; i < n; i++)
        pthread_join(ws[i].thread, NULL);
    double secs = (double)(hs_clock_mono_ms() - t0) / 1000.0;
    long first_err = 0;
    size_t total = 0;
    int64_t errors = 0;
    for (size_t i = 0; i < n; i++) {
        errors += ws[i].errors;
        if (!first_err)
            first_err = ws[i].first_err;
    }
    if (!timed)
        return first_err;
    int64_t *all = hs_bench_lat_sorted(&ws[0].lat, n, sizeof ws[0], &total);
    res->ops_per_s = (double)total / secs;
    res->p50_ms = hs_bench_lat_pct_ms(all, total, 0.50);
    res->p99_ms = hs_bench_lat_pct_ms(all, total, 0.99);
    res->errors = errors;
    free(all);
    printf("{\"api\":\"%s\",\"op\":\"%s\",\"size\":%zu,\"strategy\":\"%s\",\"concurrency\":%zu,"
           "\"seconds\":%.2f,\"ops\":%zu,\"errors\":%" PRId64 ",\"first_error_status\":%ld,"
           "\"ops_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n",
           api_names[r->api], op_names[r->op], r->size, strategy_names[r->cfg->strategy], n, secs,
           total, errors, first_err, res->ops_per_s, res->p50_ms, res->p99_ms);
    fflush(stdout);
    return 0;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static bool copy_str(const json_t *o, const char *name, char *out, size_t cap)
{
    const char *v = json_string_value(json_object_get(o, name));
    if (!v || strlen(v) >= cap)
        return false;
    snprintf(out, cap, "%s", v);
    return true;
}

static bool load_target(const char *dir, struct target *t)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cluster.json", dir);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    json_t *s3 = json_object_get(j, "s3");
    bool ok = j && copy_str(j, "url", t->native, sizeof t->native) &&
              copy_str(s3, "endpoint", t->s3, sizeof t->s3) &&
              copy_str(s3, "region", t->region, sizeof t->region) &&
              copy_str(s3, "access_key", t->access_key, sizeof t->access_key) &&
              copy_str(s3, "secret_key", t->secret_key, sizeof t->secret_key);
    json_decref(j);
    if (!ok) {
        fprintf(stderr,
                "hybridstore bench s3: cannot read url and s3 {endpoint, region, "
                "access_key, secret_key} from '%s'\n",
                path);
        return false;
    }
    const char *hp = strstr(t->s3, "://");
    snprintf(t->s3_host, sizeof t->s3_host, "%s", hp ? hp + 3 : t->s3);
    t->s3_host[strcspn(t->s3_host, "/")] = '\0';
    return true;
}

/* PUT or DELETE of the bucket through S3 by worker 0's handle; returns the HTTP status. */
static long bucket_op(struct worker *w, const char *method)
{
    const struct target *t = w->run->t;
    char url[600], target[64];
    snprintf(target, sizeof target, "/%s", t->bucket);
    snprintf(url, sizeof url, "%s%s", t->s3, target);
    struct hs_s3_header hs[3];
    char date[HS_S3_AMZ_DATE_LEN + 1];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm);
    hs[0] = (struct hs_s3_header){"host", t->s3_host};
    hs[1] = (struct hs_s3_header){"x-amz-date", date};
    hs[2] = (struct hs_s3_header){"x-amz-content-sha256", EMPTY_SHA};
    struct hs_s3_sigv4_request req = {
        .method = method, .target = target, .headers = hs, .n_headers = 3};
    struct hs_buf auth;
    hs_buf_init(&auth, 1024);
    if (hs_s3_sigv4_sign(t->access_key, t->secret_key, t->region, &req, &auth) != HS_OK)
        HS_BUG("cannot sign an S3 request");
    char line[1200];
    snprintf(line, sizeof line, "Authorization: %.*s", (int)auth.len, (const char *)auth.data);
    hs_buf_release(&auth);
    struct curl_slist *h = curl_slist_append(NULL, line);
    snprintf(line, sizeof line, "x-amz-date: %s", date);
    h = curl_slist_append(h, line);
    h = curl_slist_append(h, "x-amz-content-sha256: " EMPTY_SHA);
    CURL *e = w->curl;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
}

static void worker_body(struct worker *w, size_t size)
{
    free(w->body);
    w->body = hs_xmalloc(size ? size : 1);
    for (size_t i = 0; i < size; i++)
        w->body[i] = (uint8_t)(next_rand(&w->rng) >> 56);
    uint8_t raw[HS_S3_CKSUM_RAW_MAX];
    if (hs_s3_cksum_compute(HS_S3_CKSUM_SHA256, w->body, size, raw) != HS_OK)
        HS_BUG("sha256");
    hs_s3_hex(raw, 32, w->body_sha);
    if (hs_s3_cksum_compute(HS_S3_CKSUM_CRC32, w->body, size, raw) != HS_OK)
        HS_BUG("crc32");
    hs_s3_base64(raw, 4, w->body_crc32);
}

/* One size: populate both APIs' keys, then for put and get: repeat x (native, s3) runs. */
static int bench_size(const struct bench_s3_config *cfg, const struct target *t, size_t size,
                      struct worker *ws)
{
    size_t n = (size_t)cfg->concurrency;
    for (size_t i = 0; i < n; i++)
        worker_body(&ws[i], size);
    int rc = 0;
    for (int op = OP_PUT; op <= OP_GET && rc == 0; op++) {
        double ops[2][REPEAT_MAX], p50[2][REPEAT_MAX], p99[2][REPEAT_MAX];
        for (int64_t i = 0; i < cfg->repeat && rc == 0; i++) {
            for (int a = 0; a < 2 && rc == 0; a++) {
                /* alternate which API goes first: drift on a shared machine hits both */
                enum api api = (enum api)((a + i) % 2);
                struct run r = {.cfg = cfg,
                                .t = t,
                                .size = size,
                                .api = api,
                                .op = (enum op)op,
                                .n_keys = (size_t)cfg->keys};
                if (op == OP_GET && i == 0) {
                    r.op = OP_PUT; /* every key exists before GETs are timed */
                    long st = run_once(&r, ws, false, NULL);
                    if (st) {
                        fprintf(stderr, "hybridstore bench s3: populating %s failed (HTTP %ld)\n",
                                api_names[api], st);
                        rc = 1;
                        break;
                    }
                    r.op = OP_GET;
                }
                struct result res = {0};
                run_once(&r, ws, true, &res);
                ops[api][i] = res.ops_per_s;
                p50[api][i] = res.p50_ms;
                p99[api][i] = res.p99_ms;
            }
        }
        if (rc)
            break;
        size_t k = (size_t)cfg->repeat;
        /* each repeat's S3 run against the native run next to it: on a machine whose load
         * drifts, the median of these pairs is steadier than the ratio of the medians */
        double pairs[REPEAT_MAX];
        for (size_t i = 0; i < k; i++)
            pairs[i] = ops[0][i] > 0 ? ops[1][i] / ops[0][i] : 0;
        double paired = median(pairs, k);
        double no = median(ops[0], k), so = median(ops[1], k);
        printf("{\"summary\":true,\"op\":\"%s\",\"size\":%zu,\"strategy\":\"%s\",\"repeat\":%zu,"
               "\"native_ops_per_s\":%.1f,\"s3_ops_per_s\":%.1f,\"native_p50_ms\":%.3f,"
               "\"s3_p50_ms\":%.3f,\"native_p99_ms\":%.3f,\"s3_p99_ms\":%.3f,\"ratio\":%.3f,"
               "\"paired_ratio\":%.3f}\n",
               op_names[op], size, strategy_names[cfg->strategy], k, no, so, median(p50[0], k),
               median(p50[1], k), median(p99[0], k), median(p99[1], k), no > 0 ? so / no : 0,
               paired);
        fflush(stdout);
    }
    for (int a = 0; a < 2; a++) { /* clean up, untimed */
        struct run r = {.cfg = cfg,
                        .t = t,
                        .size = size,
                        .api = (enum api)a,
                        .op = OP_DELETE,
                        .n_keys = (size_t)cfg->keys};
        run_once(&r, ws, false, NULL);
    }
    return rc;
}

static int bench_s3(const struct bench_s3_config *cfg)
{
    struct target t = {0};
    if (!load_target(cfg->cluster_dir, &t))
        return 2;
    size_t sizes[SIZES_MAX], n_sizes = 0;
    char *list = hs_xstrdup(cfg->sizes), *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int64_t v = 0;
        if (n_sizes == SIZES_MAX || hs_config_parse_bytes(tok, &v) != HS_OK || v < 1 ||
            v > ((int64_t)1 << 30)) {
            fprintf(stderr, "hybridstore bench s3: --sizes: want up to %d sizes of 1 B..1 GiB\n",
                    SIZES_MAX);
            free(list);
            return 2;
        }
        sizes[n_sizes++] = (size_t)v;
    }
    free(list);
    uint8_t raw[8];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        HS_BUG("getrandom failed");
    char id[17];
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
    snprintf(t.bucket, sizeof t.bucket, "hsbench-%s", id);
    size_t n = (size_t)cfg->concurrency;
    struct worker *ws = hs_xcalloc(n, sizeof *ws);
    struct run r0 = {.cfg = cfg, .t = &t};
    for (size_t i = 0; i < n; i++) {
        ws[i].index = i;
        ws[i].curl = curl_easy_init();
        ws[i].run = &r0;
        ws[i].rng = ((uint64_t)raw[i % 8] << 32) ^ ((i + 1) * 0x9e3779b97f4a7c15ull) ^ 1u;
    }
    int rc = 0;
    long st = bucket_op(&ws[0], "PUT");
    if (st / 100 != 2) {
        fprintf(stderr, "hybridstore bench s3: cannot create bucket %s (HTTP %ld)\n", t.bucket, st);
        rc = 1;
    }
    for (size_t i = 0; i < n_sizes && rc == 0; i++)
        rc = bench_size(cfg, &t, sizes[i], ws);
    ws[0].run = &r0;
    if (st / 100 == 2 && bucket_op(&ws[0], "DELETE") / 100 != 2)
        fprintf(stderr, "hybridstore bench s3: bucket %s left behind\n", t.bucket);
    for (size_t i = 0; i < n; i++) {
        curl_easy_cleanup(ws[i].curl);
        hs_bench_lat_release(&ws[i].lat);
        free(ws[i].body);
    }
    free(ws);
    return rc;
}

int hs_cmd_bench_s3(int argc, char **argv)
{
    struct bench_s3_config cfg = {0};
    enum hs_config_outcome oc = hs_config_load(&spec, &cfg, argc, argv, NULL, 0, NULL);
    if (oc != HS_CONFIG_RUN)
        return oc == HS_CONFIG_EXIT_OK ? 0 : 2;
    hs_log_init("bench", HS_LOG_WARN);
    int rc = bench_s3(&cfg);
    hs_config_release(&spec, &cfg);
    return rc;
}
