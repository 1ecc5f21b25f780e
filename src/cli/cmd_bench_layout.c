/* cmd_bench_layout.c - `hybridstore bench layout`: the adaptive hot-field workload
 * (docs/benchmarks.md "Adaptive layout") against a cluster started by `hybridstore cluster`
 * (reads <dir>/cluster.json). Collections `user:` and `item:` of field_hybrid JSON documents
 * whose top-level fields change with given probabilities (keys drawn with Zipf(0.99)
 * popularity, 80 % PUT / 20 % PATCH, reads half full and half projections of hot-ish fields);
 * halfway the probabilities shift. The offline best hot set of each phase comes from the
 * healer's own pure cost model (src/healer/layout_decide.h) fed the true probabilities (every
 * subset tried). Reports, as one JSON object on stdout: writes until the published layout
 * equals the offline best after the start and after the shift, layout changes during a steady
 * phase, bytes sent to nodes per update (node /v1/stats put_bytes) against `strategy=ec` and
 * the static default hot list, storage over logical size (from the manifests' blob lengths),
 * hot-field projections served without an EC shard, a flip workload's model cost against the
 * best static set, gateway CPU per write (/proc/<pid>/stat) and the gateways' predicted vs
 * measured bytes per update. It measures; the cluster tests check data. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "commands.h"
#include "healer/layout_decide.h"
#include "hs/clock.h"
#include "hs/config.h"
#include "hs/etcd.h"
#include "hs/field_stats.h"
#include "hs/layout.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/split.h"
#include "hs/banned.h"

#define MAXF             8
#define MAXGW            16
#define MAXNODES         64
#define TIMEOUT          60000L
#define USER_SHARE       0.6 /* of the writes of the tracked phases; item: has the rest */
#define FADE_PERIODS_MAX 16

struct lb_config {
    char *dir;
    int64_t keys;
    int64_t phase_writes;
    int64_t steady_writes;
    int64_t segment_writes;
    int64_t flip_writes;
    int64_t flip_every;
    int64_t concurrency;
    int64_t reads_pct; /* reads per 100 writes */
    int64_t seed;
    bool cpu_only;
    bool shadows;               /* config/manifest-shadows on for the run */
    int64_t layout_interval_ms; /* the healers' --layout-interval (for the stated bound) */
    int64_t min_writes;         /* the healers' --layout-min-writes (for the stated bound) */
    int64_t halve_writes;       /* the healers' --layout-halve-writes (for the stated bound) */
};

#define FIELD(f) .offset = offsetof(struct lb_config, f)
static const struct hs_opt lb_opts[] = {
    {.name = "dir",
     .type = HS_OPT_STRING,
     FIELD(dir),
     .def = "./data",
     .help = "the cluster's directory (its cluster.json says where everything is)"},
    {.name = "keys",
     .type = HS_OPT_INT,
     FIELD(keys),
     .def = "100000",
     .min = 8,
     .max = 10000000,
     .help = "keys of user: (item: has an eighth, the ec/static/flip collections min(keys, 200))"},
    {.name = "phase-writes",
     .type = HS_OPT_INT,
     FIELD(phase_writes),
     .def = "200000",
     .min = 100,
     .max = 1000000000,
     .help = "writes (both collections) before and after the shift"},
    {.name = "steady-writes",
     .type = HS_OPT_INT,
     FIELD(steady_writes),
     .def = "100000",
     .min = 0,
     .max = 1000000000,
     .help = "writes of the steady phase after the shift phase"},
    {.name = "segment-writes",
     .type = HS_OPT_INT,
     FIELD(segment_writes),
     .def = "5000",
     .min = 10,
     .max = 1000000000,
     .help = "writes of each bytes-per-update comparison (ec, static default)"},
    {.name = "flip-writes",
     .type = HS_OPT_INT,
     FIELD(flip_writes),
     .def = "60000",
     .min = 0,
     .max = 1000000000,
     .help = "writes of the flip workload (0 = skip it)"},
    {.name = "flip-every",
     .type = HS_OPT_INT,
     FIELD(flip_every),
     .def = "3000",
     .min = 10,
     .max = 1000000000,
     .help = "writes between two flips of the flip workload"},
    {.name = "concurrency",
     .type = HS_OPT_INT,
     FIELD(concurrency),
     .def = "4",
     .min = 1,
     .max = 64,
     .help = "client threads (each owns a share of the keys)"},
    {.name = "reads",
     .type = HS_OPT_INT,
     FIELD(reads_pct),
     .def = "50",
     .min = 0,
     .max = 1000,
     .help = "reads per 100 writes (half full reads, half projections)"},
    {.name = "seed",
     .type = HS_OPT_INT,
     FIELD(seed),
     .def = "1",
     .min = 0,
     .max = INT64_MAX,
     .help = "random seed"},
    {.name = "layout-interval",
     .type = HS_OPT_DURATION,
     FIELD(layout_interval_ms),
     .def = "10s",
     .min = 1,
     .max = 86400000,
     .help = "the healers' --layout-interval (only used to state the convergence bound)"},
    {.name = "min-writes",
     .type = HS_OPT_INT,
     FIELD(min_writes),
     .def = "1000",
     .min = 0,
     .max = 1000000000,
     .help = "the healers' --layout-min-writes (only used to state the convergence bound)"},
    {.name = "halve-writes",
     .type = HS_OPT_INT,
     FIELD(halve_writes),
     .def = "8192",
     .min = 16,
     .max = 1073741824,
     .help = "the healers' --layout-halve-writes (only used to state the convergence bound)"},
    {.name = "cpu-only",
     .type = HS_OPT_BOOL,
     FIELD(cpu_only),
     .def = "false",
     .help = "only populate and measure gateway CPU per write (for a --no-field-stats A/B)"},
    {.name = "shadows",
     .type = HS_OPT_BOOL,
     FIELD(shadows),
     .def = "true",
     .help = "turn the cluster setting manifest-shadows on (--no-shadows: off), so a write that "
             "promotes a field keeps the stored cold part"},
};

static const struct hs_config_spec lb_spec = {
    .command = "bench layout",
    .summary = "Adaptive hot-field workload against a `hybridstore cluster` directory; prints one "
               "JSON object (docs/benchmarks.md \"Adaptive layout\").",
    .env_prefix = "HS_BENCH_LAYOUT_",
    .opts = lb_opts,
    .n_opts = HS_ARRAY_LEN(lb_opts),
};

/* ---- the workload's collections ---- */

struct fdef {
    const char *name;
    size_t bytes;
    double p[2]; /* change probability per write: before, after the shift */
};

struct coll {
    const char *prefix;
    const char *strategy;
    const struct fdef *f;
    size_t nf;
    const char *const *const *proj; /* NULL-terminated list of NULL-terminated field lists */
    size_t keys;
    double *zipf_cdf; /* per thread share: cdf over ranks 0..keys/T */
    size_t share;
    uint32_t (*ver)[MAXF]; /* per key, per field: the version its value has */
    bool *exists;
    int phase; /* 0, 1 (atomic enough: read by workers, set between runs) */
};

static const struct fdef user_fields[] = {
    {"view_count", 8, {0.95, 0.95}},   {"like_count", 8, {0.50, 0.50}},
    {"last_login", 24, {0.30, 0.30}},  {"status", 12, {0.05, 0.05}},
    {"profile", 2048, {0.02, 0.60}},   {"history", 16384, {0.01, 0.01}},
    {"avatar", 65536, {0.002, 0.002}},
};
static const char *const user_p1[] = {"view_count", NULL};
static const char *const user_p2[] = {"view_count", "last_login", NULL};
static const char *const user_p3[] = {"status", NULL};
static const char *const *const user_proj[] = {user_p1, user_p2, user_p3, NULL};

static const struct fdef item_fields[] = {
    {"price", 8, {0.05, 0.05}},      {"stock", 8, {0.90, 0.90}},
    {"title", 64, {0.01, 0.01}},     {"description", 4096, {0.40, 0.0}},
    {"reviews", 8192, {0.02, 0.50}}, {"images", 32768, {0.005, 0.005}},
};
static const char *const item_p1[] = {"stock", NULL};
static const char *const item_p2[] = {"price", "stock", NULL};
static const char *const *const item_proj[] = {item_p1, item_p2, NULL};

/* ---- cluster ---- */

struct cluster {
    char url[256];
    char etcd_url[512];
    char *secret;
    char gw[MAXGW][128];
    int gw_pid[MAXGW];
    size_t n_gw;
    char node[MAXNODES][128];
    size_t n_node;
    struct hs_etcd *etcd;
};

static int load_cluster(const char *dir, struct cluster *c)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/cluster.json", dir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        fprintf(stderr, "hybridstore bench layout: cannot read '%s': %s\n", path, je.text);
        return 1;
    }
    snprintf(c->url, sizeof c->url, "%s", json_string_value(json_object_get(j, "url")));
    snprintf(c->etcd_url, sizeof c->etcd_url, "%s", json_string_value(json_object_get(j, "etcd")));
    const char *sf = json_string_value(json_object_get(j, "secret_file"));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(j, "processes"), i, p)
    {
        const char *role = json_string_value(json_object_get(p, "role"));
        const char *url = json_string_value(json_object_get(p, "url"));
        if (!role || !url)
            continue;
        if (strcmp(role, "gateway") == 0 && c->n_gw < MAXGW) {
            c->gw_pid[c->n_gw] = (int)json_integer_value(json_object_get(p, "pid"));
            snprintf(c->gw[c->n_gw++], sizeof c->gw[0], "%s", url);
        } else if (strcmp(role, "node") == 0 && c->n_node < MAXNODES) {
            snprintf(c->node[c->n_node++], sizeof c->node[0], "%s", url);
        }
    }
    FILE *f = sf ? fopen(sf, "r") : NULL;
    char sec[256] = "";
    if (f) {
        if (!fgets(sec, sizeof sec, f))
            sec[0] = '\0';
        fclose(f);
    }
    sec[strcspn(sec, " \r\n")] = '\0';
    c->secret = hs_xstrdup(sec);
    json_decref(j);
    struct hs_etcd_opts o = {.endpoints = c->etcd_url};
    if (!sec[0] || hs_etcd_new(&o, &c->etcd) != HS_OK) {
        fprintf(stderr, "hybridstore bench layout: no secret or bad etcd in '%s'\n", path);
        return 1;
    }
    return 0;
}

/* ---- HTTP ---- */

struct resp {
    char *body;
    size_t len, cap;
    bool proj_hot;
    bool proj_seen;
};

static size_t on_body(char *d, size_t s, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t add = s * n;
    if (r->len + add + 1 > r->cap) {
        r->cap = (r->len + add + 1) * 2;
        r->body = hs_xrealloc(r->body, r->cap);
    }
    memcpy(r->body + r->len, d, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static size_t on_header(char *d, size_t s, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = s * n;
    static const char h[] = "x-hs-projection:";
    if (len > sizeof h && strncasecmp(d, h, sizeof h - 1) == 0) {
        r->proj_seen = true;
        r->proj_hot = strstr(d + sizeof h - 1, "hot") != NULL;
    }
    return len;
}

/* One request; returns the HTTP status (0: no answer). r->body holds the reply. */
static long http(CURL *e, const char *method, const char *url, const char *secret,
                 const char *ctype, const char *body, size_t body_len, struct resp *r)
{
    curl_easy_reset(e);
    r->len = 0;
    r->proj_seen = r->proj_hot = false;
    if (r->body)
        r->body[0] = '\0';
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    char auth[320], ct[96];
    if (secret) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", secret);
        h = curl_slist_append(h, auth);
    }
    if (ctype) {
        snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
        h = curl_slist_append(h, ct);
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, TIMEOUT);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (strcmp(method, "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
}

/* ---- the offline best (the engine's model fed the true probabilities) ---- */

struct truth {
    struct hs_layout_field_in fields[MAXF];
    struct hs_layout_set_in csets[1 << MAXF];
    const char *cnames[1 << MAXF][MAXF];
    struct hs_layout_set_in rsets[8];
    struct hs_layout_input in;
};

/* The statistics the gateways would count in the limit, per write, for probabilities p. */
static void truth_build(const struct coll *c, const double *p, double reads_per_write,
                        struct truth *t)
{
    memset(t, 0, sizeof *t);
    double n = 1e6, puts = 0.8 * n;
    for (size_t i = 0; i < c->nf; i++)
        t->fields[i] =
            (struct hs_layout_field_in){c->f[i].name, puts, p[i] * n, (double)c->f[i].bytes * puts};
    size_t ns = 0;
    for (unsigned m = 1; m < (1u << c->nf); m++) {
        double q = 1;
        size_t k = 0;
        for (size_t i = 0; i < c->nf; i++) {
            bool in = (m >> i) & 1u;
            q *= in ? p[i] : 1 - p[i];
            if (in)
                t->cnames[ns][k++] = c->f[i].name;
        }
        if (q > 0) {
            t->csets[ns] = (struct hs_layout_set_in){t->cnames[ns], k, false, q * n};
            ns++;
        }
    }
    size_t np = 0;
    while (c->proj[np])
        np++;
    double proj = reads_per_write * 0.5 * n;
    for (size_t r = 0; r < np; r++) {
        size_t k = 0;
        while (c->proj[r][k])
            k++;
        t->rsets[r] =
            (struct hs_layout_set_in){(const char *const *)c->proj[r], k, false, proj / (double)np};
    }
    t->in = (struct hs_layout_input){.writes = n,
                                     .puts = puts,
                                     .known = n,
                                     .proj_reads = proj,
                                     .fields = t->fields,
                                     .n_fields = c->nf,
                                     .csets = t->csets,
                                     .n_csets = ns,
                                     .rsets = t->rsets,
                                     .n_rsets = np};
}

static double truth_cost(const struct truth *t, const struct hs_layout_fields *hot)
{
    struct hs_layout_config cfg;
    hs_layout_config_defaults(&cfg);
    struct hs_layout_cost cost;
    hs_layout_evaluate(&t->in, &cfg, hot, 0, &cost);
    return cost.total;
}

static void mask_fields(const struct coll *c, unsigned m, struct hs_layout_fields *out)
{
    const char *names[MAXF];
    size_t k = 0;
    for (size_t i = 0; i < c->nf; i++)
        if ((m >> i) & 1u)
            names[k++] = c->f[i].name;
    (void)hs_layout_fields_set(out, names, k);
}

/* Every subset within the engine's caps: the cheapest for the weighted mix of the phases
 * (w[0], w[1]: share of writes under each phase's probabilities). */
static double offline_best(const struct coll *c, const double w[2], double reads_per_write,
                           struct hs_layout_fields *best)
{
    struct hs_layout_config cfg;
    hs_layout_config_defaults(&cfg);
    struct truth *t = hs_xcalloc(2, sizeof *t);
    double pv[2][MAXF];
    for (int ph = 0; ph < 2; ph++) {
        for (size_t i = 0; i < c->nf; i++)
            pv[ph][i] = c->f[i].p[ph];
        truth_build(c, pv[ph], reads_per_write, &t[ph]);
    }
    double lo = INFINITY;
    for (unsigned m = 0; m < (1u << c->nf); m++) {
        double h = 0;
        for (size_t i = 0; i < c->nf; i++)
            if ((m >> i) & 1u)
                h += (double)c->f[i].bytes;
        if (h > cfg.hot_max_bytes)
            continue;
        struct hs_layout_fields f = {0};
        mask_fields(c, m, &f);
        double cost = w[0] * truth_cost(&t[0], &f) + w[1] * truth_cost(&t[1], &f);
        if (cost < lo - 1e-9) {
            lo = cost;
            hs_layout_fields_copy(best, &f);
        }
        hs_layout_fields_release(&f);
    }
    free(t);
    return lo;
}

static double phase_cost(const struct coll *c, int phase, double reads_per_write,
                         const struct hs_layout_fields *hot)
{
    struct truth *t = hs_xcalloc(1, sizeof *t);
    double pv[MAXF];
    for (size_t i = 0; i < c->nf; i++)
        pv[i] = c->f[i].p[phase];
    truth_build(c, pv, reads_per_write, t);
    double v = truth_cost(t, hot);
    free(t);
    return v;
}

/* ---- the published layout ---- */

static void published(struct cluster *cl, const char *coll, struct hs_layout_fields *out,
                      int64_t *epoch)
{
    struct hs_layout_fields deflt = {0};
    char *key = NULL;
    struct hs_etcd_kvs kvs = {0};
    bool have = false;
    if (hs_meta_key_config("hot-fields", &key) == HS_OK &&
        hs_etcd_get(cl->etcd, key, &kvs) == HS_OK && kvs.n == 1)
        have = hs_layout_fields_parse_csv(&deflt, (const char *)kvs.kvs[0].value) == HS_OK;
    if (!have)
        (void)hs_layout_fields_parse_csv(&deflt, HS_SPLIT_DEFAULT_HOT_FIELDS);
    hs_etcd_kvs_release(&kvs);
    free(key);
    key = NULL;
    struct hs_layout_record rec;
    hs_layout_record_init(&rec);
    bool found = false;
    if (hs_meta_key_layout(coll, &key) == HS_OK && hs_etcd_get(cl->etcd, key, &kvs) == HS_OK &&
        kvs.n == 1) {
        char why[200];
        found = hs_layout_record_decode(kvs.kvs[0].value, kvs.kvs[0].value_len, &rec, why,
                                        sizeof why) == HS_OK;
    }
    hs_etcd_kvs_release(&kvs);
    free(key);
    hs_layout_effective_hot(found ? &rec : NULL, &deflt, out);
    *epoch = found ? rec.epoch : 0;
    hs_layout_record_release(&rec);
    hs_layout_fields_release(&deflt);
}

/* Writes a record for coll: mode static at epoch 0 (the default hot list forever). */
static void pin_static(struct cluster *cl, const char *coll)
{
    struct hs_layout_record rec;
    hs_layout_record_init(&rec);
    rec.collection = hs_xstrdup(coll);
    rec.mode = HS_LAYOUT_STATIC;
    char *text = NULL, *key = NULL, why[200];
    size_t len = 0;
    if (hs_layout_record_encode(&rec, &text, &len, why, sizeof why) == HS_OK &&
        hs_meta_key_layout(coll, &key) == HS_OK)
        (void)hs_etcd_put(cl->etcd, key, text, len, 0, NULL);
    free(text);
    free(key);
    hs_layout_record_release(&rec);
}

/* ---- node and gateway counters ---- */

/* Sum over nodes of ops.put_bytes and ops.puts (/v1/stats, cluster secret). */
static void node_puts(struct cluster *cl, CURL *e, double *bytes, double *puts)
{
    *bytes = *puts = 0;
    struct resp r = {0};
    for (size_t i = 0; i < cl->n_node; i++) {
        char url[256];
        snprintf(url, sizeof url, "%s/v1/stats", cl->node[i]);
        if (http(e, "GET", url, cl->secret, NULL, NULL, 0, &r) != 200)
            continue;
        json_t *j = json_loads(r.body, 0, NULL);
        json_t *ops = json_object_get(j, "ops");
        *bytes += (double)json_integer_value(json_object_get(ops, "put_bytes"));
        *puts += (double)json_integer_value(json_object_get(ops, "puts"));
        json_decref(j);
    }
    free(r.body);
}

/* CPU seconds (user + system) of every gateway process. */
static double gateway_cpu_s(const struct cluster *cl)
{
    double s = 0;
    long hz = sysconf(_SC_CLK_TCK);
    for (size_t i = 0; i < cl->n_gw; i++) {
        char path[64], buf[2048];
        snprintf(path, sizeof path, "/proc/%d/stat", cl->gw_pid[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* fields 14 and 15 (utime, stime) are the 12th and 13th after the ") " that ends
         * the command name */
        char *p = strrchr(buf, ')');
        for (int field = 0; p && field < 12; field++)
            p = strchr(p + 1, ' ');
        if (!p)
            continue;
        char *end = NULL;
        unsigned long ut = strtoul(p + 1, &end, 10);
        unsigned long st = end ? strtoul(end, NULL, 10) : 0;
        s += (double)(ut + st) / (double)hz;
    }
    return s;
}

/* Sum over gateways of a per-collection metric line's value: name{collection="c",label="v"}. */
static double gw_metric(struct cluster *cl, CURL *e, const char *name, const char *coll,
                        const char *label)
{
    double sum = 0;
    struct resp r = {0};
    char want[256];
    snprintf(want, sizeof want, "hybridstore_gateway_%s{collection=\"%s\",%s}", name, coll, label);
    for (size_t i = 0; i < cl->n_gw; i++) {
        char url[256];
        snprintf(url, sizeof url, "%s/metrics", cl->gw[i]);
        if (http(e, "GET", url, NULL, NULL, NULL, 0, &r) != 200)
            continue;
        const char *at = strstr(r.body, want);
        if (at)
            sum += strtod(at + strlen(want), NULL);
    }
    free(r.body);
    return sum;
}

/* ---- the workers ---- */

struct run;

struct worker {
    pthread_t thread;
    struct run *run;
    size_t index;
    CURL *curl;
    uint64_t rng;
    struct resp resp;
    char *doc;
    size_t doc_cap;
    int64_t errors;
    long first_err;
    /* projections of fields in the published hot set, and how many were served hot */
    int64_t proj_hotset, proj_hotset_hot, proj_total, proj_hot;
    double flip_cost; /* model cost summed over this worker's flip writes */
};

struct run {
    const struct lb_config *cfg;
    struct cluster *cl;
    struct coll *colls[2];
    double weight0; /* share of writes to colls[0] */
    size_t n_colls;
    int64_t target; /* writes */
    _Atomic int64_t issued;
    _Atomic int64_t coll_writes[2];
    int64_t t0_ms; /* when the run's writes started (monotonic) */
    bool reads;
    bool populate;
    int64_t flip_every; /* > 0: colls[0]'s phase flips every this many of its writes */
    /* the published hot sets (poller), for projection accounting and the flip cost */
    pthread_mutex_t mu;
    struct hs_layout_fields hot[2];
    double flip_cost_now[2]; /* model cost of the published set under each phase */
};

static uint64_t rnd64(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static double rnd01(uint64_t *s)
{
    return (double)(rnd64(s) >> 11) / 9007199254740992.0;
}

static void doc_reserve(struct worker *w, size_t n)
{
    if (n > w->doc_cap) {
        w->doc_cap = n * 2;
        w->doc = hs_xrealloc(w->doc, w->doc_cap);
    }
}

/* Appends "name":value for field i of key k at version v; numbers for 8-byte fields, strings
 * of the field's size otherwise (the version first, so the digest changes with it). */
static size_t put_field(char *out, const struct coll *c, size_t i, size_t k, uint32_t v)
{
    const struct fdef *f = &c->f[i];
    size_t n = (size_t)snprintf(out, 96, "\"%s\":", f->name);
    if (f->bytes <= 8)
        return n + (size_t)snprintf(out + n, 16, "%u", 10000000u + v % 89999999u);
    size_t start = n;
    n += (size_t)snprintf(out + n, 48, "\"k%zuv%u.", k, v);
    size_t fill = f->bytes > n - start + 1 ? f->bytes - (n - start) - 1 : 0;
    for (size_t j = 0; j < fill; j++)
        out[n + j] = (char)('a' + (j * 7 + k + v) % 26);
    n += fill;
    out[n++] = '"';
    return n;
}

static size_t doc_max(const struct coll *c)
{
    size_t n = 16;
    for (size_t i = 0; i < c->nf; i++)
        n += c->f[i].bytes + strlen(c->f[i].name) + 48;
    return n;
}

/* Key index of coll for this worker: Zipf over its share. */
static size_t pick_key(struct worker *w, const struct coll *c)
{
    size_t T = (size_t)w->run->cfg->concurrency;
    double u = rnd01(&w->rng);
    size_t lo = 0, hi = c->share - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->zipf_cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t k = w->index + T * lo;
    return k < c->keys ? k : w->index;
}

static void count_err(struct worker *w, long st)
{
    if (w->errors++ == 0)
        w->first_err = st ? st : -1;
}

static void do_write(struct worker *w, struct coll *c, size_t k, int phase, bool create)
{
    char url[512];
    unsigned mask = 0;
    if (!create)
        for (size_t i = 0; i < c->nf; i++)
            if (rnd01(&w->rng) < c->f[i].p[phase])
                mask |= 1u << i;
    bool patch = !create && mask && rnd01(&w->rng) < 0.2;
    for (size_t i = 0; i < c->nf; i++)
        if ((mask >> i) & 1u)
            c->ver[k][i]++;
    doc_reserve(w, doc_max(c));
    size_t n = 0;
    w->doc[n++] = '{';
    for (size_t i = 0; i < c->nf; i++) {
        if (patch && !((mask >> i) & 1u))
            continue;
        if (n > 1)
            w->doc[n++] = ',';
        n += put_field(w->doc + n, c, i, k, c->ver[k][i]);
    }
    w->doc[n++] = '}';
    w->doc[n] = '\0';
    snprintf(url, sizeof url, "%s/v1/objects/%s%zu%s%s", w->run->cl->url, c->prefix, k,
             patch ? "" : "?strategy=", patch ? "" : c->strategy);
    long st =
        http(w->curl, patch ? "PATCH" : "PUT", url, NULL,
             patch ? "application/merge-patch+json" : "application/json", w->doc, n, &w->resp);
    if (st / 100 != 2)
        count_err(w, st);
    else
        c->exists[k] = true;
}

static void do_read(struct worker *w, struct coll *c, size_t ci, size_t k)
{
    char url[512];
    if (!c->exists[k])
        return;
    if (rnd01(&w->rng) < 0.5) {
        snprintf(url, sizeof url, "%s/v1/objects/%s%zu", w->run->cl->url, c->prefix, k);
        long st = http(w->curl, "GET", url, NULL, NULL, NULL, 0, &w->resp);
        if (st != 200)
            count_err(w, st);
        return;
    }
    size_t np = 0;
    while (c->proj[np])
        np++;
    if (np == 0)
        return;
    const char *const *set = c->proj[rnd64(&w->rng) % np];
    int n = snprintf(url, sizeof url, "%s/v1/objects/%s%zu?fields=", w->run->cl->url, c->prefix, k);
    bool all_hot = true;
    pthread_mutex_lock(&w->run->mu);
    for (size_t i = 0; set[i]; i++) {
        n += snprintf(url + n, sizeof url - (size_t)n, "%s%s", i ? "," : "", set[i]);
        all_hot = all_hot && hs_layout_fields_contains(&w->run->hot[ci], set[i]);
    }
    pthread_mutex_unlock(&w->run->mu);
    long st = http(w->curl, "GET", url, NULL, NULL, NULL, 0, &w->resp);
    if (st != 200) {
        count_err(w, st);
        return;
    }
    w->proj_total++;
    w->proj_hot += w->resp.proj_hot;
    if (all_hot) {
        w->proj_hotset++;
        w->proj_hotset_hot += w->resp.proj_hot;
    }
}

static void *worker_main(void *p)
{
    struct worker *w = p;
    struct run *r = w->run;
    size_t T = (size_t)r->cfg->concurrency;
    if (r->populate) {
        for (size_t ci = 0; ci < r->n_colls; ci++) {
            struct coll *c = r->colls[ci];
            for (size_t k = w->index; k < c->keys; k += T)
                if (!c->exists[k])
                    do_write(w, c, k, 0, true);
        }
        return NULL;
    }
    double rp = (double)r->cfg->reads_pct / 100.0;
    while (atomic_fetch_add(&r->issued, 1) < r->target) {
        size_t ci = r->n_colls > 1 && rnd01(&w->rng) >= r->weight0 ? 1 : 0;
        struct coll *c = r->colls[ci];
        int64_t cw = atomic_fetch_add(&r->coll_writes[ci], 1);
        int phase = c->phase;
        if (r->flip_every > 0 && ci == 0) {
            phase = (int)((cw / r->flip_every) % 2);
            pthread_mutex_lock(&r->mu);
            w->flip_cost += r->flip_cost_now[phase];
            pthread_mutex_unlock(&r->mu);
        }
        do_write(w, c, pick_key(w, c), phase, false);
        if (r->reads && rnd01(&w->rng) < rp)
            do_read(w, c, ci, pick_key(w, c));
    }
    return NULL;
}

static void coll_init(struct coll *c, size_t keys, size_t T)
{
    c->keys = keys;
    c->share = (keys + T - 1) / T;
    c->zipf_cdf = hs_xcalloc(c->share, sizeof *c->zipf_cdf);
    double s = 0;
    for (size_t i = 0; i < c->share; i++)
        s += 1.0 / pow((double)(i + 1), 0.99);
    double acc = 0;
    for (size_t i = 0; i < c->share; i++) {
        acc += 1.0 / pow((double)(i + 1), 0.99) / s;
        c->zipf_cdf[i] = acc;
    }
    c->zipf_cdf[c->share - 1] = 1.0;
    c->ver = hs_xcalloc(keys, sizeof *c->ver);
    c->exists = hs_xcalloc(keys, sizeof *c->exists);
}

static void coll_release(struct coll *c)
{
    free(c->zipf_cdf);
    free(c->ver);
    free(c->exists);
}

/* ---- runs ---- */

struct track {
    struct hs_layout_fields best; /* target of the convergence check */
    bool check;
    int64_t conv_at;     /* collection writes when the published set last became best, -1 */
    int64_t conv_ms;     /* ms into the run then */
    int64_t epoch_first; /* epoch at the run's first poll */
    int64_t epoch_last;
    int64_t near_at; /* same, for a set whose true cost is within min_gain (5 %) of the best */
    struct hs_layout_fields last; /* the published set at the last poll */
};

static void poll_once(struct run *r, struct track *t)
{
    for (size_t ci = 0; ci < r->n_colls; ci++) {
        struct coll *c = r->colls[ci];
        struct hs_layout_fields hot = {0};
        int64_t epoch = 0;
        published(r->cl, c->prefix, &hot, &epoch);
        double fc[2] = {0, 0};
        if (r->flip_every > 0 && ci == 0)
            for (int ph = 0; ph < 2; ph++)
                fc[ph] = phase_cost(c, ph, (double)r->cfg->reads_pct / 100.0, &hot);
        pthread_mutex_lock(&r->mu);
        hs_layout_fields_copy(&r->hot[ci], &hot);
        if (r->flip_every > 0 && ci == 0)
            memcpy(r->flip_cost_now, fc, sizeof fc);
        pthread_mutex_unlock(&r->mu);
        if (t) {
            if (t[ci].epoch_first < 0)
                t[ci].epoch_first = epoch;
            t[ci].epoch_last = epoch;
            bool eq = t[ci].check && hs_layout_fields_equal(&hot, &t[ci].best);
            if (eq && t[ci].conv_at < 0) {
                t[ci].conv_at = atomic_load(&r->coll_writes[ci]);
                t[ci].conv_ms = hs_clock_mono_ms() - r->t0_ms;
            } else if (!eq)
                t[ci].conv_at = -1;
            double rpw = (double)r->cfg->reads_pct / 100.0;
            bool near = t[ci].check && phase_cost(c, c->phase, rpw, &hot) <=
                                           1.05 * phase_cost(c, c->phase, rpw, &t[ci].best);
            if (near && t[ci].near_at < 0)
                t[ci].near_at = atomic_load(&r->coll_writes[ci]);
            else if (!near)
                t[ci].near_at = -1;
            hs_layout_fields_copy(&t[ci].last, &hot);
        }
        hs_layout_fields_release(&hot);
    }
}

static _Atomic size_t g_done;

static void *worker_thread(void *p)
{
    worker_main(p);
    atomic_fetch_add(&g_done, 1);
    return NULL;
}

/* Runs the workers over r until r->target writes (or the population) are done, polling the
 * published layouts every 200 ms. Returns the wall seconds. */
static double run_exec(struct run *r, struct worker *ws, struct track *t)
{
    size_t n = (size_t)r->cfg->concurrency;
    atomic_store(&r->issued, 0);
    atomic_store(&r->coll_writes[0], 0);
    atomic_store(&r->coll_writes[1], 0);
    atomic_store(&g_done, 0);
    for (size_t ci = 0; t && ci < r->n_colls; ci++)
        t[ci].conv_at = t[ci].conv_ms = t[ci].near_at = t[ci].epoch_first = -1;
    r->t0_ms = hs_clock_mono_ms();
    poll_once(r, t);
    int64_t t0 = r->t0_ms;
    for (size_t i = 0; i < n; i++) {
        ws[i].run = r;
        if (pthread_create(&ws[i].thread, NULL, worker_thread, &ws[i]) != 0)
            HS_BUG("cannot start a bench thread");
    }
    int64_t last = 0;
    while (atomic_load(&g_done) < n) {
        usleep(50000);
        if (hs_clock_mono_ms() - last >= 200) {
            poll_once(r, t);
            last = hs_clock_mono_ms();
        }
    }
    for (size_t i = 0; i < n; i++)
        pthread_join(ws[i].thread, NULL);
    poll_once(r, t);
    return (double)(hs_clock_mono_ms() - t0) / 1000.0;
}

static void run_setup(struct run *r, const struct lb_config *cfg, struct cluster *cl,
                      struct coll *a, struct coll *b, double weight0)
{
    memset(r, 0, sizeof *r);
    r->cfg = cfg;
    r->cl = cl;
    r->colls[0] = a;
    r->colls[1] = b;
    r->n_colls = b ? 2 : 1;
    r->weight0 = weight0;
    pthread_mutex_init(&r->mu, NULL);
}

static void run_release(struct run *r)
{
    hs_layout_fields_release(&r->hot[0]);
    hs_layout_fields_release(&r->hot[1]);
    pthread_mutex_destroy(&r->mu);
}

static void populate(struct run *r, struct worker *ws)
{
    r->populate = true;
    run_exec(r, ws, NULL);
    r->populate = false;
}

struct segment {
    double writes, node_bytes, node_puts, cpu_s, seconds;
};

/* A write-only run of segment_writes on c alone, measured at the nodes and gateways. */
static void measure_segment(const struct lb_config *cfg, struct cluster *cl, struct worker *ws,
                            struct coll *c, CURL *e, struct segment *s)
{
    struct run r;
    run_setup(&r, cfg, cl, c, NULL, 1.0);
    populate(&r, ws);
    double b0, p0, b1, p1;
    node_puts(cl, e, &b0, &p0);
    double c0 = gateway_cpu_s(cl);
    r.target = cfg->segment_writes;
    s->seconds = run_exec(&r, ws, NULL);
    double c1 = gateway_cpu_s(cl);
    node_puts(cl, e, &b1, &p1);
    s->writes = (double)cfg->segment_writes;
    s->node_bytes = b1 - b0;
    s->node_puts = p1 - p0;
    s->cpu_s = c1 - c0;
    run_release(&r);
}

/* Blob bytes the manifests of c's objects hold, and their logical size. */
static void storage(struct cluster *cl, CURL *e, const struct coll *c, double *stored,
                    double *logical)
{
    *stored = *logical = 0;
    struct resp r = {0};
    for (size_t k = 0; k < c->keys; k++) {
        if (!c->exists[k])
            continue;
        char url[512];
        snprintf(url, sizeof url, "%s/v1/manifests/%s%zu", cl->url, c->prefix, k);
        if (http(e, "GET", url, NULL, NULL, NULL, 0, &r) != 200)
            continue;
        json_t *j = json_loads(r.body, 0, NULL);
        *logical += (double)json_integer_value(json_object_get(j, "size"));
        const char *parts[] = {"hot", "cold", "data"};
        for (size_t pi = 0; pi < 3; pi++) {
            json_t *part = json_object_get(j, parts[pi]);
            size_t si, bi;
            json_t *seg, *blob;
            json_array_foreach(json_object_get(part, "segs"), si, seg)
            {
                json_array_foreach(json_object_get(seg, "blobs"), bi, blob)
                {
                    *stored += (double)json_integer_value(json_object_get(blob, "len"));
                }
            }
        }
        json_decref(j);
    }
    free(r.body);
}

static void print_fields(const char *name, const struct hs_layout_fields *f, bool comma)
{
    char *csv = hs_layout_fields_csv(f);
    printf("\"%s\":\"%s\"%s", name, csv, comma ? "," : "");
    free(csv);
}

static double conv_secs(const struct track *t)
{
    return t->conv_at >= 0 ? (double)t->conv_ms / 1000 : -1;
}

static int64_t conv_or_null(const struct track *t)
{
    return t->conv_at;
}

/* ---- the bench ---- */

struct ctx {
    const struct lb_config *cfg;
    struct cluster cl;
    struct worker *ws;
    size_t T;
    CURL *e;
    double rpw; /* reads per write */
};

/* ---- the stated bounds (docs/benchmarks.md "Adaptive layout") ---- */

/* Halving periods after a shift until the statistics window's mix of the two phases makes best2
 * the cheapest set with a gain of at least min_gain over best1, for that and every later period
 * (the pre-shift writes weigh at most (1 + R/H) 2^(1-k) of the window after k periods: design.md
 * section 10), plus one period for the decision's confidence bounds. 0 when best1 = best2. */
static int fade_periods(const struct coll *c, double rpw, double r_over_h,
                        const struct hs_layout_fields *best1, const struct hs_layout_fields *best2)
{
    if (hs_layout_fields_equal(best1, best2))
        return 0;
    struct hs_layout_config cfg;
    hs_layout_config_defaults(&cfg);
    double j1[2], j2[2];
    for (int ph = 0; ph < 2; ph++) {
        j1[ph] = phase_cost(c, ph, rpw, best1);
        j2[ph] = phase_cost(c, ph, rpw, best2);
    }
    int kmin = FADE_PERIODS_MAX;
    for (int k = FADE_PERIODS_MAX; k >= 1; k--) {
        double old = fmin(1.0, (1.0 + r_over_h) * pow(2.0, 1 - k));
        double w[2] = {old, 1 - old};
        struct hs_layout_fields b = {0};
        (void)offline_best(c, w, rpw, &b);
        double c1 = w[0] * j1[0] + w[1] * j1[1], c2 = w[0] * j2[0] + w[1] * j2[1];
        bool ok = hs_layout_fields_equal(&b, best2) && c2 <= (1 - cfg.min_gain) * c1;
        hs_layout_fields_release(&b);
        if (!ok)
            break;
        kmin = k;
    }
    return kmin + 1;
}

/* The collection's writes per second while it converged (t: that phase's track, phase_rate
 * its average over the phase): the rounds of the bounds below are wall time, and the phase
 * average understates the rate of a phase's first seconds (before the re-layout it starts
 * competes with the writes). The phase average when it did not converge, or at once. */
static double conv_rate(const struct track *t, double phase_rate)
{
    return t->conv_at > 0 && t->conv_ms >= 1000 ? (double)t->conv_at * 1000.0 / (double)t->conv_ms
                                                : phase_rate;
}

/* Writes of c within which the published set should equal the best after the start (evidence
 * plus three layout intervals: the round that first sees the evidence, the confirming round,
 * and the statistics pull's lag) and after the shift (three intervals; the fading of the old
 * evidence: fade_periods periods of H + R writes of the collection plus one round R, H the
 * healers' --layout-halve-writes, R the collection's writes per layout interval; and for a
 * demotion the writes its saving needs to earn the re-encoding of every object's cold part
 * once). R at rate1 writes per second for the start, rate2 for the shift. */
static void bounds(const struct ctx *x, const struct coll *c, double rate1, double rate2,
                   const struct hs_layout_fields *best1, const struct hs_layout_fields *best2,
                   double *b_start, double *b_shift, int *periods)
{
    double interval_s = (double)x->cfg->layout_interval_ms / 1000.0;
    double wpi = rate2 * interval_s;
    double hw = (double)x->cfg->halve_writes;
    *periods = fade_periods(c, x->rpw, wpi / hw, best1, best2);
    double fading = *periods ? (double)*periods * (hw + wpi) + wpi : 0;
    *b_start = (double)x->cfg->min_writes + 3 * rate1 * interval_s;
    bool demotes = false;
    for (size_t i = 0; i < best1->n; i++)
        demotes = demotes || !hs_layout_fields_contains(best2, best1->names[i]);
    double migration = 0;
    if (demotes) {
        double d = 0, h = 0;
        for (size_t i = 0; i < c->nf; i++) {
            d += (double)c->f[i].bytes;
            if (hs_layout_fields_contains(best2, c->f[i].name))
                h += (double)c->f[i].bytes;
        }
        double save = phase_cost(c, 1, x->rpw, best1) - phase_cost(c, 1, x->rpw, best2);
        if (save > 0)
            migration = (double)c->keys * (1.5 * (d - h) + 6 * 4096.0) / save;
    }
    *b_shift = 3 * wpi + fading + migration;
}

static struct coll coll_make(const char *prefix, const char *strategy, const struct fdef *f,
                             size_t nf, const char *const *const *proj)
{
    return (struct coll){.prefix = prefix, .strategy = strategy, .f = f, .nf = nf, .proj = proj};
}

static void errors_out(const struct ctx *x)
{
    int64_t errors = 0;
    long first = 0;
    for (size_t i = 0; i < x->T; i++) {
        errors += x->ws[i].errors;
        if (!first)
            first = x->ws[i].first_err;
    }
    printf("\"errors\":%" PRId64 ",\"first_error_status\":%ld}\n", errors, first);
}

static int cpu_only(struct ctx *x, struct coll *user)
{
    struct segment s;
    user->phase = 1;
    measure_segment(x->cfg, &x->cl, x->ws, user, x->e, &s);
    printf("{\"cpu_only\":true,\"writes\":%.0f,\"seconds\":%.2f,\"gateway_cpu_ms_per_write\":%.4f,",
           s.writes, s.seconds, s.cpu_s * 1000.0 / s.writes);
    errors_out(x);
    return 0;
}

/* One adaptive run over user: and item: with convergence tracking against bests. */
static double tracked(struct ctx *x, struct coll *u, struct coll *it, int64_t writes,
                      const struct hs_layout_fields *bu, const struct hs_layout_fields *bi,
                      struct track t[2], double coll_writes[2])
{
    struct run r;
    run_setup(&r, x->cfg, &x->cl, u, it, USER_SHARE);
    r.reads = true;
    r.target = writes;
    memset(t, 0, 2 * sizeof *t);
    hs_layout_fields_copy(&t[0].best, bu);
    hs_layout_fields_copy(&t[1].best, bi);
    t[0].check = t[1].check = true;
    double secs = run_exec(&r, x->ws, t);
    coll_writes[0] = (double)atomic_load(&r.coll_writes[0]);
    coll_writes[1] = (double)atomic_load(&r.coll_writes[1]);
    run_release(&r);
    return secs;
}

static void track_release(struct track t[2])
{
    for (int i = 0; i < 2; i++) {
        hs_layout_fields_release(&t[i].best);
        hs_layout_fields_release(&t[i].last);
    }
}

/* Hot-set projections so far and how many were served hot, over every worker. */
static void proj_snap(const struct ctx *x, int64_t out[2])
{
    out[0] = out[1] = 0;
    for (size_t i = 0; i < x->T; i++) {
        out[0] += x->ws[i].proj_hotset;
        out[1] += x->ws[i].proj_hotset_hot;
    }
}

static int bench_layout(struct ctx *x)
{
    const struct lb_config *cfg = x->cfg;
    size_t N = (size_t)cfg->keys, small = N < 200 ? N : 200, T = x->T;
    struct coll user =
        coll_make("user:", "field_hybrid", user_fields, HS_ARRAY_LEN(user_fields), user_proj);
    struct coll item =
        coll_make("item:", "field_hybrid", item_fields, HS_ARRAY_LEN(item_fields), item_proj);
    struct coll sdef =
        coll_make("sdef:", "field_hybrid", user_fields, HS_ARRAY_LEN(user_fields), user_proj);
    struct coll uec = coll_make("uec:", "ec", user_fields, HS_ARRAY_LEN(user_fields), user_proj);
    struct coll flip =
        coll_make("flip:", "field_hybrid", user_fields, HS_ARRAY_LEN(user_fields), user_proj);
    coll_init(&user, N, T);
    coll_init(&item, N / 8 > T ? N / 8 : T, T);
    coll_init(&sdef, small, T);
    coll_init(&uec, small, T);
    coll_init(&flip, small, T);
    int rc = 0;
    char *key = NULL;
    if (hs_meta_key_config("manifest-fields", &key) == HS_OK)
        (void)hs_etcd_put(x->cl.etcd, key, "on", 2, 0, NULL);
    free(key);
    key = NULL;
    if (hs_meta_key_config("manifest-shadows", &key) == HS_OK)
        (void)hs_etcd_put(x->cl.etcd, key, cfg->shadows ? "on" : "off", cfg->shadows ? 2 : 3, 0,
                          NULL);
    free(key);
    if (cfg->cpu_only) {
        /* the default hot set throughout: an A/B compares the counting, not two layouts */
        pin_static(&x->cl, user.prefix);
        struct run r;
        run_setup(&r, cfg, &x->cl, &user, NULL, 1);
        populate(&r, x->ws);
        run_release(&r);
        rc = cpu_only(x, &user);
        goto out;
    }
    /* the offline bests */
    struct hs_layout_fields best_u[2] = {{0}}, best_i[2] = {{0}}, best_flip = {0};
    double cost_u[2], cost_i[2];
    for (int ph = 0; ph < 2; ph++) {
        double w[2] = {ph == 0, ph == 1};
        cost_u[ph] = offline_best(&user, w, x->rpw, &best_u[ph]);
        cost_i[ph] = offline_best(&item, w, x->rpw, &best_i[ph]);
    }
    struct hs_layout_fields deflt = {0};
    (void)hs_layout_fields_parse_csv(&deflt, HS_SPLIT_DEFAULT_HOT_FIELDS);
    fprintf(stderr, "bench layout: populating %zu user: and %zu item: keys\n", user.keys,
            item.keys);
    {
        struct run r;
        run_setup(&r, cfg, &x->cl, &user, &item, USER_SHARE);
        populate(&r, x->ws);
        run_release(&r);
    }
    for (int i = 0; i < 2; i++) {
        int k = fade_periods(i ? &item : &user, x->rpw, 0, i ? &best_i[0] : &best_u[0],
                             i ? &best_i[1] : &best_u[1]);
        fprintf(stderr, "bench layout: %s halving periods for the shift to show: %d\n",
                i ? item.prefix : user.prefix, k);
    }
    struct track t1[2], t2[2], t3[2];
    double w1[2], w2[2], w3[2];
    int64_t proj_ph[3][2] = {{0}}; /* per tracked phase: hot-set projections, served hot */
    fprintf(stderr, "bench layout: phase 1 (%" PRId64 " writes)\n", cfg->phase_writes);
    double s1 = tracked(x, &user, &item, cfg->phase_writes, &best_u[0], &best_i[0], t1, w1);
    proj_snap(x, proj_ph[0]);
    user.phase = item.phase = 1;
    fprintf(stderr, "bench layout: phase 2, shifted (%" PRId64 " writes)\n", cfg->phase_writes);
    double s2 = tracked(x, &user, &item, cfg->phase_writes, &best_u[1], &best_i[1], t2, w2);
    proj_snap(x, proj_ph[1]);
    fprintf(stderr, "bench layout: steady (%" PRId64 " writes)\n", cfg->steady_writes);
    double s3 = cfg->steady_writes
                    ? tracked(x, &user, &item, cfg->steady_writes, &best_u[1], &best_i[1], t3, w3)
                    : 0;
    proj_snap(x, proj_ph[2]);
    for (int i = 2; i > 0; i--)
        for (int j = 0; j < 2; j++)
            proj_ph[i][j] -= proj_ph[i - 1][j];
    if (!cfg->steady_writes) {
        memset(t3, 0, sizeof t3);
        memset(w3, 0, sizeof w3);
    }
    /* projections (phases 1-3, every worker) */
    int64_t ph_set = 0, ph_set_hot = 0, ph_all = 0, ph_hot = 0;
    for (size_t i = 0; i < T; i++) {
        ph_set += x->ws[i].proj_hotset, ph_set_hot += x->ws[i].proj_hotset_hot;
        ph_all += x->ws[i].proj_total, ph_hot += x->ws[i].proj_hot;
    }
    /* bytes per update after the shift: adaptive user:, static default sdef:, ec uec: */
    fprintf(stderr, "bench layout: bytes per update (adaptive, static default, ec)\n");
    double pred0 =
        gw_metric(&x->cl, x->e, "collection_update_bytes_total", "user:", "kind=\"predicted\"");
    double meas0 =
        gw_metric(&x->cl, x->e, "collection_update_bytes_total", "user:", "kind=\"measured\"");
    struct segment sa, ss, se;
    measure_segment(cfg, &x->cl, x->ws, &user, x->e, &sa);
    double pred =
        gw_metric(&x->cl, x->e, "collection_update_bytes_total", "user:", "kind=\"predicted\"") -
        pred0;
    double meas =
        gw_metric(&x->cl, x->e, "collection_update_bytes_total", "user:", "kind=\"measured\"") -
        meas0;
    pin_static(&x->cl, sdef.prefix);
    sdef.phase = uec.phase = 1;
    measure_segment(cfg, &x->cl, x->ws, &sdef, x->e, &ss);
    measure_segment(cfg, &x->cl, x->ws, &uec, x->e, &se);
    double stored = 0, logical = 0;
    storage(&x->cl, x->e, &user, &stored, &logical);
    /* flip workload */
    double flip_cost = 0, flip_best = 0, flip_secs = 0;
    int64_t flip_epochs = 0;
    if (cfg->flip_writes > 0) {
        fprintf(stderr, "bench layout: flip (%" PRId64 " writes, every %" PRId64 ")\n",
                cfg->flip_writes, cfg->flip_every);
        struct run r;
        run_setup(&r, cfg, &x->cl, &flip, NULL, 1);
        populate(&r, x->ws);
        r.flip_every = cfg->flip_every;
        r.target = cfg->flip_writes;
        r.reads = true;
        struct track tf[1] = {{.conv_at = -1}};
        flip_secs = run_exec(&r, x->ws, tf);
        flip_epochs = tf[0].epoch_last - tf[0].epoch_first;
        for (size_t i = 0; i < T; i++)
            flip_cost += x->ws[i].flip_cost;
        flip_cost /= (double)cfg->flip_writes;
        /* share of the writes under each phase */
        int64_t n0 = 0;
        for (int64_t w = 0; w < cfg->flip_writes; w++)
            n0 += (w / cfg->flip_every) % 2 == 0;
        double wf[2] = {(double)n0 / (double)cfg->flip_writes,
                        1 - (double)n0 / (double)cfg->flip_writes};
        flip_best = offline_best(&flip, wf, x->rpw, &best_flip);
        hs_layout_fields_release(&tf[0].last);
        run_release(&r);
    }
    /* the report */
    printf("{\"keys\":%zu,\"item_keys\":%zu,\"concurrency\":%zu,\"reads_per_100_writes\":%" PRId64
           ",\"phase_writes\":%" PRId64 ",\"steady_writes\":%" PRId64 ",",
           user.keys, item.keys, T, cfg->reads_pct, cfg->phase_writes, cfg->steady_writes);
    print_fields("best_user_1", &best_u[0], true);
    print_fields("best_user_2", &best_u[1], true);
    print_fields("best_item_1", &best_i[0], true);
    print_fields("best_item_2", &best_i[1], true);
    printf("\"cost_user\":[%.0f,%.0f],\"cost_item\":[%.0f,%.0f],", cost_u[0], cost_u[1], cost_i[0],
           cost_i[1]);
    printf("\"seconds\":[%.1f,%.1f,%.1f],\"user_writes\":[%.0f,%.0f,%.0f],"
           "\"item_writes\":[%.0f,%.0f,%.0f],",
           s1, s2, s3, w1[0], w2[0], w3[0], w1[1], w2[1], w3[1]);
    printf("\"converged_user\":[%" PRId64 ",%" PRId64 "],\"converged_item\":[%" PRId64 ",%" PRId64
           "],",
           conv_or_null(&t1[0]), conv_or_null(&t2[0]), conv_or_null(&t1[1]), conv_or_null(&t2[1]));
    double bu[2], bi[2];
    int pu = 0, pi = 0;
    double ru[2] = {conv_rate(&t1[0], w1[0] / s1), conv_rate(&t2[0], w2[0] / s2)};
    double ri[2] = {conv_rate(&t1[1], w1[1] / s1), conv_rate(&t2[1], w2[1] / s2)};
    bounds(x, &user, ru[0], ru[1], &best_u[0], &best_u[1], &bu[0], &bu[1], &pu);
    bounds(x, &item, ri[0], ri[1], &best_i[0], &best_i[1], &bi[0], &bi[1], &pi);
    printf("\"bound_user\":[%.0f,%.0f],\"bound_item\":[%.0f,%.0f],", bu[0], bu[1], bi[0], bi[1]);
    printf("\"converged_secs_user\":[%.1f,%.1f],\"converged_secs_item\":[%.1f,%.1f],",
           conv_secs(&t1[0]), conv_secs(&t2[0]), conv_secs(&t1[1]), conv_secs(&t2[1]));
    printf("\"bound_rate_user\":[%.1f,%.1f],\"bound_rate_item\":[%.1f,%.1f],", ru[0], ru[1], ri[0],
           ri[1]);
    printf("\"fade_periods\":[%d,%d],\"halve_writes\":%" PRId64 ",", pu, pi, cfg->halve_writes);
    printf("\"near_user\":[%" PRId64 ",%" PRId64 "],\"near_item\":[%" PRId64 ",%" PRId64 "],",
           t1[0].near_at, t2[0].near_at, t1[1].near_at, t2[1].near_at);
    print_fields("published_user_1", &t1[0].last, true);
    print_fields("published_user_2", &t2[0].last, true);
    print_fields("published_item_1", &t1[1].last, true);
    print_fields("published_item_2", &t2[1].last, true);
    printf("\"epochs_user\":[%" PRId64 ",%" PRId64 ",%" PRId64 "],\"epochs_item\":[%" PRId64
           ",%" PRId64 ",%" PRId64 "],",
           t1[0].epoch_last, t2[0].epoch_last, t3[0].epoch_last, t1[1].epoch_last, t2[1].epoch_last,
           t3[1].epoch_last);
    printf("\"steady_changes\":[%" PRId64 ",%" PRId64 "],\"steady_still_best\":[%s,%s],",
           t3[0].epoch_last - t3[0].epoch_first, t3[1].epoch_last - t3[1].epoch_first,
           t3[0].conv_at >= 0 ? "true" : "false", t3[1].conv_at >= 0 ? "true" : "false");
    printf("\"bytes_per_update\":{\"adaptive\":%.0f,\"static_default\":%.0f,\"ec\":%.0f},"
           "\"blobs_per_update\":{\"adaptive\":%.2f,\"static_default\":%.2f,\"ec\":%.2f},",
           sa.node_bytes / sa.writes, ss.node_bytes / ss.writes, se.node_bytes / se.writes,
           sa.node_puts / sa.writes, ss.node_puts / ss.writes, se.node_puts / se.writes);
    printf("\"ec_over_adaptive\":%.2f,\"static_over_adaptive\":%.2f,",
           se.node_bytes / sa.node_bytes, ss.node_bytes / sa.node_bytes);
    printf("\"gateway_cpu_ms_per_write\":{\"adaptive\":%.4f,\"static_default\":%.4f,"
           "\"ec\":%.4f},",
           sa.cpu_s * 1000 / sa.writes, ss.cpu_s * 1000 / ss.writes, se.cpu_s * 1000 / se.writes);
    printf("\"predicted_bytes_per_update\":%.0f,\"measured_bytes_per_update\":%.0f,"
           "\"measured_over_predicted\":%.4f,",
           pred / sa.writes, meas / sa.writes, pred > 0 ? meas / pred : 0);
    printf("\"storage_bytes\":%.0f,\"logical_bytes\":%.0f,\"storage_over_logical\":%.4f,", stored,
           logical, logical > 0 ? stored / logical : 0);
    printf("\"projections\":%" PRId64 ",\"projections_hot\":%" PRId64
           ",\"hotset_projections\":%" PRId64 ",\"hotset_projections_hot\":%" PRId64
           ",\"hotset_projection_share\":%.4f,",
           ph_all, ph_hot, ph_set, ph_set_hot, ph_set ? (double)ph_set_hot / (double)ph_set : 0);
    printf("\"hotset_projections_by_phase\":[[%" PRId64 ",%" PRId64 "],[%" PRId64 ",%" PRId64
           "],[%" PRId64 ",%" PRId64 "]],",
           proj_ph[0][0], proj_ph[0][1], proj_ph[1][0], proj_ph[1][1], proj_ph[2][0],
           proj_ph[2][1]);
    print_fields("flip_best_static", &best_flip, true);
    printf("\"flip_cost_per_write\":%.0f,\"flip_best_static_cost\":%.0f,\"flip_ratio\":%.3f,"
           "\"flip_layout_changes\":%" PRId64 ",\"flip_seconds\":%.1f,",
           flip_cost, flip_best, flip_best > 0 ? flip_cost / flip_best : 0, flip_epochs, flip_secs);
    errors_out(x);
    track_release(t1);
    track_release(t2);
    track_release(t3);
    for (int ph = 0; ph < 2; ph++) {
        hs_layout_fields_release(&best_u[ph]);
        hs_layout_fields_release(&best_i[ph]);
    }
    hs_layout_fields_release(&best_flip);
    hs_layout_fields_release(&deflt);
out:
    coll_release(&user);
    coll_release(&item);
    coll_release(&sdef);
    coll_release(&uec);
    coll_release(&flip);
    return rc;
}

int hs_cmd_bench_layout(int argc, char **argv)
{
    struct lb_config cfg = {0};
    enum hs_config_outcome oc = hs_config_load(&lb_spec, &cfg, argc, argv, NULL, 0, NULL);
    if (oc != HS_CONFIG_RUN)
        return oc == HS_CONFIG_EXIT_OK ? 0 : 2;
    hs_log_init("bench", HS_LOG_WARN);
    struct ctx x = {.cfg = &cfg, .T = (size_t)cfg.concurrency};
    x.rpw = (double)cfg.reads_pct / 100.0;
    int rc = load_cluster(cfg.dir, &x.cl);
    if (rc == 0) {
        x.e = curl_easy_init();
        x.ws = hs_xcalloc(x.T, sizeof *x.ws);
        for (size_t i = 0; i < x.T; i++) {
            x.ws[i].index = i;
            x.ws[i].curl = curl_easy_init();
            x.ws[i].rng =
                ((uint64_t)cfg.seed + 1) * 0x9e3779b97f4a7c15ull ^ (i + 1) * 0x2545f491ull;
        }
        rc = bench_layout(&x);
        for (size_t i = 0; i < x.T; i++) {
            curl_easy_cleanup(x.ws[i].curl);
            free(x.ws[i].resp.body);
            free(x.ws[i].doc);
        }
        free(x.ws);
        curl_easy_cleanup(x.e);
    }
    hs_etcd_free(x.cl.etcd);
    free(x.cl.secret);
    hs_config_release(&lb_spec, &cfg);
    return rc;
}
