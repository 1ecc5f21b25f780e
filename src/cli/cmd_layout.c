/* cmd_layout.c - `hybridstore layout show [COLLECTION]` and `hybridstore layout pin COLLECTION`
 * (docs/cli.md "Adaptive layouts"). show reads the layout records and the default hot set from
 * etcd, asks every registered gateway for its field statistics (GET /v1/admin/field-stats,
 * cluster secret) and merges them as the healer does, then explains each field with the
 * healer's own pure model (src/healer/layout_decide.h): change rate and its confidence interval,
 * size, co-change partners, hot or cold and what that saves or costs, and what a decision round
 * would do now. pin changes a record's pins and mode in etcd with a compare on its
 * mod_revision (the healer's writes compare it too, so neither loses the other's change).
 * Exit codes: 0 ok, 1 etcd or gateway trouble, 2 usage, 3 no such collection (show). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "commands.h"
#include "healer/layout_decide.h"
#include "hs/clock.h"
#include "hs/config.h"
#include "hs/etcd.h"
#include "hs/field_stats.h"
#include "hs/http_client.h"
#include "hs/layout.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/registration.h"
#include "hs/split.h"
#include "hs/banned.h"

#define LAYOUT_DEFAULT_ETCD "http://127.0.0.1:8100"
#define LAYOUT_EXIT_HELP    "exit codes: 0 ok, 1 etcd or gateway error, 2 usage, 3 no such collection"
#define GW_TIMEOUT_MS       5000
#define PIN_TRIES           5

enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2, EXIT_NONE = 3 };

struct layout_config {
    char *etcd;
    char *secret_file;
    char *hot;  /* pin: pinned hot fields (replaces), NULL = unchanged */
    char *cold; /* pin: pinned cold fields (replaces), NULL = unchanged */
    char *mode; /* pin: adaptive | static, NULL = unchanged */
};

#define FIELD(f) .offset = offsetof(struct layout_config, f)
#define ETCD_OPT                                                                                   \
    {                                                                                              \
        .name = "etcd", .type = HS_OPT_STRING, FIELD(etcd), .def = LAYOUT_DEFAULT_ETCD,            \
        .help = "etcd endpoints, comma-separated (default: the etcd of `make run`'s cluster)"      \
    }
static const struct hs_opt show_opts[] = {
    ETCD_OPT,
    {.name = "secret-file",
     .type = HS_OPT_STRING,
     FIELD(secret_file),
     .help = "cluster secret for the gateways' statistics (default $HS_SECRET_FILE, else "
             "./data/secret)"},
};
static const struct hs_opt pin_opts[] = {
    ETCD_OPT,
    {.name = "hot",
     .type = HS_OPT_STRING,
     FIELD(hot),
     .help = "fields always hot: a,b (\"\" clears)"},
    {.name = "cold",
     .type = HS_OPT_STRING,
     FIELD(cold),
     .help = "fields never hot: c,d (\"\" clears)"},
    {.name = "mode",
     .type = HS_OPT_STRING,
     FIELD(mode),
     .help = "adaptive (the healer decides) or static (the hot set stays as it is now)"},
};
static const struct hs_config_spec show_spec = {
    .command = "layout show",
    .summary = "Explains the hot fields of one collection (or of every collection with "
               "statistics or a layout record): per field its change rate with a 99% confidence "
               "interval, size, co-change partners, hot or cold and what that saves or costs; "
               "then what the healer's next decision round would do. " LAYOUT_EXIT_HELP ".",
    .env_prefix = "HS_LAYOUT_",
    .opts = show_opts,
    .n_opts = HS_ARRAY_LEN(show_opts),
    .usage_args = "[COLLECTION]",
};
static const struct hs_config_spec pin_spec = {
    .command = "layout pin",
    .summary = "Pins fields of COLLECTION hot (--hot) or cold (--cold) whatever the healer "
               "decides, and sets its mode: static keeps the hot set as it is now. "
               "" LAYOUT_EXIT_HELP ".",
    .env_prefix = "HS_LAYOUT_",
    .opts = pin_opts,
    .n_opts = HS_ARRAY_LEN(pin_opts),
    .usage_args = "COLLECTION",
};

/* "57 KB", "1.4 MB" (decimal units, as the text people read). */
static const char *human(double bytes, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
    size_t u = 0;
    double v = fabs(bytes);
    while (v >= 1000 && u + 1 < HS_ARRAY_LEN(units)) {
        v /= 1000;
        u++;
    }
    snprintf(buf, cap, v < 10 && u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

/* "41 210": thousands separated by a space. */
static const char *count_text(double n, char *buf, size_t cap)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", n < 0 ? 0 : n);
    size_t len = strlen(digits), at = 0;
    for (size_t i = 0; i < len && at + 2 < cap; i++) {
        if (i && (len - i) % 3 == 0)
            buf[at++] = ' ';
        buf[at++] = digits[i];
    }
    buf[at] = '\0';
    return buf;
}

static void default_hot(struct hs_etcd *e, struct hs_layout_fields *out)
{
    char *key = NULL;
    struct hs_etcd_kvs kvs = {0};
    bool have = false;
    if (hs_meta_key_config("hot-fields", &key) == HS_OK && hs_etcd_get(e, key, &kvs) == HS_OK &&
        kvs.n == 1)
        have = hs_layout_fields_parse_csv(out, (const char *)kvs.kvs[0].value) == HS_OK;
    if (!have)
        (void)hs_layout_fields_parse_csv(out, HS_SPLIT_DEFAULT_HOT_FIELDS);
    hs_etcd_kvs_release(&kvs);
    free(key);
}

/* The record of coll: HS_OK with *found false when there is none. */
static enum hs_err read_record(struct hs_etcd *e, const char *coll, struct hs_layout_record *out,
                               int64_t *mod_rev, bool *found, char *why, size_t why_len)
{
    char *key = NULL;
    if (hs_meta_key_layout(coll, &key) != HS_OK)
        return HS_EINVAL;
    struct hs_etcd_kvs kvs = {0};
    enum hs_err err = hs_etcd_get(e, key, &kvs);
    free(key);
    *found = false;
    *mod_rev = 0;
    if (err == HS_OK && kvs.n == 1) {
        *mod_rev = kvs.kvs[0].mod_revision;
        struct hs_layout_record got;
        err = hs_layout_record_decode(kvs.kvs[0].value, kvs.kvs[0].value_len, &got, why, why_len);
        *found = err == HS_OK;
        if (*found) { /* decode fills a record of its own: out's (an empty one) goes */
            hs_layout_record_release(out);
            *out = got;
        }
    }
    hs_etcd_kvs_release(&kvs);
    return err;
}

/* ---- show ---- */

/* Merged statistics of every gateway that answers (as the healer merges them). */
static size_t fetch_stats(struct hs_etcd *e, const char *secret, struct hs_field_stats *merged,
                          size_t *n_gateways)
{
    struct hs_gateway_urls u = {0};
    (void)hs_etcd_range_prefix_each(e, HS_META_PREFIX_GATEWAYS, 0, false, hs_gateway_urls_add_kv,
                                    &u, NULL);
    struct hs_http_client_opts o = {.secret = secret, .timeout_ms = GW_TIMEOUT_MS};
    struct hs_http_client *c = NULL;
    size_t answered = 0;
    if (hs_http_client_new(&o, &c) == HS_OK) {
        for (size_t i = 0; i < u.n; i++) {
            struct hs_buf reply;
            hs_buf_init(&reply, HS_FSTAT_JSON_MAX);
            long status = 0;
            enum hs_err err =
                hs_http_client_request(c, "GET", u.v[i], "/v1/admin/field-stats", &reply, &status);
            if (err == HS_OK && status == 200) {
                err = hs_field_stats_decode_merge(reply.data, reply.len, merged, answered == 0,
                                                  NULL, 0);
                answered += err == HS_OK;
            } else {
                fprintf(stderr,
                        "hybridstore layout show: gateway %s: no statistics (%s, HTTP %ld)\n",
                        u.v[i], hs_err_name(err), status);
            }
            hs_buf_release(&reply);
        }
        hs_http_client_free(c);
    }
    for (size_t i = 0; i < u.n; i++)
        free(u.v[i]);
    free(u.v);
    *n_gateways = u.n;
    return answered;
}

static double count_objects(struct hs_etcd *e, const char *coll)
{
    char *prefix = hs_xasprintf("%s%s", HS_META_PREFIX_META, coll);
    struct hs_etcd_range_req req = {.key = prefix, .prefix = true, .count_only = true};
    struct hs_etcd_kvs kvs = {0};
    double n = 0;
    if (hs_etcd_range(e, &req, &kvs) == HS_OK)
        n = (double)kvs.count;
    hs_etcd_kvs_release(&kvs);
    free(prefix);
    return n;
}

static void print_set(const char *label, const struct hs_layout_fields *f)
{
    char *csv = hs_layout_fields_csv(f);
    printf("%s{%s}", label, csv);
    free(csv);
}

static void print_field(const struct hs_layout_field_report *r, double known, double objects,
                        const char *coll)
{
    char a[32], b[32], c[32];
    printf("  %s %s: changed in %.1f%% (%.1f%%..%.1f%%) of %s writes to %s*; %s each", r->name,
           r->hot ? "HOT" : "cold", 100 * r->change_rate, 100 * r->change_lo, 100 * r->change_hi,
           count_text(known, a, sizeof a), coll, human(r->mean_bytes, b, sizeof b));
    if (r->present_rate < 0.995)
        printf(" (in %.0f%% of documents)", 100 * r->present_rate);
    const char *per = objects > 0 ? "" : " per object";
    double store = r->storage_cost * (objects > 0 ? objects : 1);
    if (r->hot && r->write_saving >= 0)
        printf("; saves %s of re-encoding per write, costs %s of storage%s",
               human(r->write_saving, b, sizeof b), human(store, c, sizeof c), per);
    else if (r->hot)
        printf("; costs %s more per write and %s of storage%s (pinned or part of a set)",
               human(-r->write_saving, b, sizeof b), human(store, c, sizeof c), per);
    else if (r->write_saving > 0)
        printf("; hot it would save %s per write and cost %s of storage%s",
               human(r->write_saving, b, sizeof b), human(store, c, sizeof c), per);
    else
        printf("; hot it would cost %s more per write and %s of storage%s",
               human(-r->write_saving, b, sizeof b), human(store, c, sizeof c), per);
    for (size_t i = 0; i < r->n_partners; i++)
        printf("%s%s (%.0f%%)", i ? ", " : "; changes with ", r->partners[i],
               100 * r->partner_share[i]);
    printf("\n");
}

static void show_one(struct hs_etcd *e, const char *coll, const struct hs_fstat_coll *c,
                     const struct hs_layout_record *rec, const struct hs_layout_fields *deflt)
{
    struct hs_layout_fields hot = {0};
    hs_layout_effective_hot(rec, deflt, &hot);
    char t[40];
    printf("%s  mode %s  epoch %" PRId64 "  ", coll,
           rec ? hs_layout_mode_name(rec->mode) : "adaptive", rec ? rec->epoch : 0);
    print_set("hot ", &hot);
    if (rec && rec->decided_ms) {
        hs_clock_format_utc(rec->decided_ms, t, sizeof t);
        printf("  decided %s", t);
    }
    printf("\n");
    if (rec && (rec->pin_hot.n || rec->pin_cold.n)) {
        print_set("  pinned: hot ", &rec->pin_hot);
        print_set(" cold ", &rec->pin_cold);
        printf("\n");
    }
    if (rec && *rec->reason)
        printf("  reason: %s\n", rec->reason);
    if (!rec || rec->epoch == 0)
        printf("  (no decision yet: the cluster default hot-fields with the pins)\n");
    if (rec && rec->pending_n) {
        print_set("  pending: ", &rec->pending);
        printf(" won %d round(s) in a row, earned %" PRId64 " bytes toward its migration\n",
               rec->pending_n, rec->pending_gain_bytes);
    }
    if (!c) {
        printf("  no statistics from the gateways for this collection\n\n");
        hs_layout_fields_release(&hot);
        return;
    }
    double objects = count_objects(e, coll);
    struct hs_layout_input in;
    hs_layout_input_from_fstat(c, objects, &in);
    char a[32], b[32], o[32];
    printf("  statistics: %s writes (%s with known changes), %s projection reads, %s objects\n",
           count_text(in.writes, a, sizeof a), count_text(in.known, b, sizeof b),
           count_text(in.proj_reads, t, sizeof t), count_text(objects, o, sizeof o));
    struct hs_layout_config cfg;
    hs_layout_config_defaults(&cfg);
    struct hs_layout_field_report *rep = in.n_fields ? hs_xcalloc(in.n_fields, sizeof *rep) : NULL;
    size_t n = hs_layout_report(&in, &cfg, &hot, rep, in.n_fields);
    for (size_t i = 0; i < n; i++)
        print_field(&rep[i], in.known, objects, coll);
    free(rep);
    struct hs_layout_decision d;
    hs_layout_decision_init(&d);
    if (hs_layout_decide(&in, rec, coll, deflt, &cfg, hs_clock_wall_ms(), &d) == HS_OK)
        printf("  a decision round now (default thresholds): %s\n", d.reason);
    printf("\n");
    hs_layout_decision_release(&d);
    hs_layout_input_release(&in);
    hs_layout_fields_release(&hot);
}

struct all_records {
    struct hs_layout_record *v;
    size_t n, cap;
};

static bool record_each(void *ctx, const struct hs_etcd_kv *kv)
{
    struct all_records *a = ctx;
    struct hs_layout_record r;
    if (hs_layout_record_decode(kv->value, kv->value_len, &r, NULL, 0) != HS_OK) {
        fprintf(stderr, "hybridstore layout show: %s: unreadable record\n", kv->key);
        return true;
    }
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 16;
        a->v = hs_xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = r;
    return true;
}

static int layout_show(int argc, char **argv)
{
    struct layout_config cfg = {0};
    const char *pos[1];
    size_t n_pos = 0;
    struct hs_etcd *e = NULL;
    char *secret = NULL;
    int rc = EXIT_USAGE;
    struct hs_field_stats merged;
    bool have_stats = false;
    struct all_records recs = {0};
    struct hs_layout_fields deflt = {0};
    enum hs_config_outcome oc = hs_config_load(&show_spec, &cfg, argc, argv, pos, 1, &n_pos);
    if (oc != HS_CONFIG_RUN) {
        rc = oc == HS_CONFIG_EXIT_OK ? EXIT_OK : EXIT_USAGE;
        goto out;
    }
    if (n_pos == 1 && !hs_layout_collection_valid(pos[0])) {
        hs_cli_say("layout", "show", "'%s' is not a collection name (a key prefix such as user:)",
                   pos[0]);
        goto out;
    }
    if (!(e = hs_cli_open_etcd("layout", "show", cfg.etcd)) ||
        !(secret = hs_cli_read_secret("layout show", cfg.secret_file)))
        goto out;
    rc = EXIT_ERR;
    if (hs_etcd_range_prefix_each(e, HS_META_PREFIX_LAYOUT, 0, false, record_each, &recs, NULL) !=
        HS_OK) {
        hs_cli_say("layout", "show", "cannot read %s from etcd %s", HS_META_PREFIX_LAYOUT,
                   cfg.etcd);
        goto out;
    }
    default_hot(e, &deflt);
    if (hs_field_stats_init(&merged, NULL) != HS_OK)
        goto out;
    have_stats = true;
    size_t n_gw = 0;
    size_t answered = fetch_stats(e, secret, &merged, &n_gw);
    printf("statistics from %zu of %zu gateways; default hot set ", answered, n_gw);
    print_set("", &deflt);
    printf("\n\n");
    size_t shown = 0;
    for (uint32_t i = 0; i < merged.n_colls; i++) {
        const struct hs_fstat_coll *c = &merged.colls[i];
        if (!hs_layout_collection_valid(c->name) || (n_pos && strcmp(c->name, pos[0]) != 0))
            continue;
        const struct hs_layout_record *rec = NULL;
        for (size_t j = 0; j < recs.n && !rec; j++)
            if (strcmp(recs.v[j].collection, c->name) == 0)
                rec = &recs.v[j];
        show_one(e, c->name, c, rec, &deflt);
        shown++;
    }
    for (size_t j = 0; j < recs.n; j++) {
        const char *name = recs.v[j].collection;
        if ((n_pos && strcmp(name, pos[0]) != 0) ||
            hs_field_stats_find(&merged, name, strlen(name)))
            continue;
        show_one(e, name, NULL, &recs.v[j], &deflt);
        shown++;
    }
    rc = EXIT_OK;
    if (n_pos && !shown) {
        hs_cli_say("layout", "show", "no statistics and no layout record for '%s'", pos[0]);
        rc = EXIT_NONE;
    }
out:
    for (size_t j = 0; j < recs.n; j++)
        hs_layout_record_release(&recs.v[j]);
    free(recs.v);
    hs_layout_fields_release(&deflt);
    if (have_stats)
        hs_field_stats_release(&merged);
    free(secret);
    hs_etcd_free(e);
    hs_config_release(&show_spec, &cfg);
    return rc;
}

/* ---- pin ---- */

/* Applies the flags to r (a copy of the stored record, or a fresh one). */
static enum hs_err apply_pins(const struct layout_config *cfg, const struct hs_layout_fields *deflt,
                              struct hs_layout_record *r, char *msg, size_t msg_len)
{
    struct hs_layout_fields hot = {0}, cold = {0}, tmp = {0};
    enum hs_err err = HS_OK;
    if (cfg->hot && strcmp(cfg->hot, "none") != 0 &&
        (err = hs_layout_fields_parse_csv(&hot, cfg->hot)) != HS_OK) {
        snprintf(msg, msg_len, "--hot: want up to %d field names a,b,c", HS_LAYOUT_FIELDS_MAX);
        goto out;
    }
    if (cfg->cold && strcmp(cfg->cold, "none") != 0 &&
        (err = hs_layout_fields_parse_csv(&cold, cfg->cold)) != HS_OK) {
        snprintf(msg, msg_len, "--cold: want up to %d field names a,b,c", HS_LAYOUT_FIELDS_MAX);
        goto out;
    }
    if (cfg->hot) {
        hs_layout_fields_copy(&r->pin_hot, &hot);
        hs_layout_fields_combine(&r->pin_cold, NULL, &hot, &tmp); /* newly hot: not cold */
        hs_layout_fields_copy(&r->pin_cold, &tmp);
    }
    if (cfg->cold) {
        hs_layout_fields_copy(&r->pin_cold, &cold);
        hs_layout_fields_combine(&r->pin_hot, NULL, &cold, &tmp);
        hs_layout_fields_copy(&r->pin_hot, &tmp);
    }
    if (cfg->mode && !hs_layout_mode_parse(cfg->mode, &r->mode)) {
        snprintf(msg, msg_len, "--mode: want adaptive or static");
        err = HS_EINVAL;
        goto out;
    }
    if (r->mode == HS_LAYOUT_STATIC && r->epoch == 0) {
        /* static freezes what is in force now, so a later default change does not move it */
        hs_layout_effective_hot(r, deflt, &r->hot);
        r->epoch = 1;
        r->decided_ms = hs_clock_wall_ms();
        free(r->reason);
        r->reason = hs_xstrdup("static: frozen by the operator (hybridstore layout pin)");
    } else if (r->epoch > 0) {
        hs_layout_fields_combine(&r->hot, &r->pin_hot, &r->pin_cold, &tmp);
        hs_layout_fields_copy(&r->hot, &tmp);
    }
    if (r->mode == HS_LAYOUT_STATIC) {
        hs_layout_fields_release(&r->pending);
        r->pending_n = 0;
        r->pending_ms = 0;
        r->pending_gain_bytes = 0;
    }
    char why[160] = "";
    if (hs_layout_record_validate(r, why, sizeof why) != HS_OK) {
        snprintf(msg, msg_len, "%s", why);
        err = HS_EINVAL;
    }
out:
    hs_layout_fields_release(&hot);
    hs_layout_fields_release(&cold);
    hs_layout_fields_release(&tmp);
    return err;
}

/* One read-modify-write; *raced when the record changed meanwhile. */
static enum hs_err pin_once(struct hs_etcd *e, const struct layout_config *cfg, const char *coll,
                            bool *raced, struct hs_layout_record *done, char *msg, size_t msg_len)
{
    struct hs_layout_record r;
    hs_layout_record_init(&r);
    int64_t rev = 0;
    bool found = false;
    char why[160] = "";
    enum hs_err err = read_record(e, coll, &r, &rev, &found, why, sizeof why);
    if (err != HS_OK) {
        snprintf(msg, msg_len, "the stored record is unreadable (%s): not changed", why);
        hs_layout_record_release(&r);
        return err;
    }
    if (!found) {
        free(r.collection);
        r.collection = hs_xstrdup(coll);
    }
    struct hs_layout_fields deflt = {0};
    default_hot(e, &deflt);
    err = apply_pins(cfg, &deflt, &r, msg, msg_len);
    hs_layout_fields_release(&deflt);
    char *key = NULL, *json = NULL;
    size_t len = 0;
    if (err == HS_OK && (err = hs_meta_key_layout(coll, &key)) == HS_OK &&
        (err = hs_layout_record_encode(&r, &json, &len, why, sizeof why)) == HS_OK) {
        struct hs_etcd_cmp cmp = {
            .target = HS_ETCD_CMP_MOD, .result = HS_ETCD_EQUAL, .key = key, .number = rev};
        struct hs_etcd_op put = {
            .type = HS_ETCD_OP_PUT, .key = key, .value = json, .value_len = len};
        struct hs_etcd_txn txn = {.cmps = &cmp, .n_cmps = 1, .success = &put, .n_success = 1};
        struct hs_etcd_txn_result res = {0};
        err = hs_etcd_txn(e, &txn, &res);
        if (err != HS_OK)
            snprintf(msg, msg_len, "etcd: %s", hs_strerror(err));
        *raced = err == HS_OK && !res.succeeded;
        hs_etcd_txn_result_release(&res);
    }
    if (err == HS_OK && !*raced)
        hs_layout_record_copy(done, &r);
    free(json);
    free(key);
    hs_layout_record_release(&r);
    return err;
}

static int layout_pin(int argc, char **argv)
{
    struct layout_config cfg = {0};
    const char *pos[1];
    size_t n_pos = 0;
    struct hs_etcd *e = NULL;
    int rc = EXIT_USAGE;
    enum hs_config_outcome oc = hs_config_load(&pin_spec, &cfg, argc, argv, pos, 1, &n_pos);
    if (oc != HS_CONFIG_RUN) {
        rc = oc == HS_CONFIG_EXIT_OK ? EXIT_OK : EXIT_USAGE;
        goto out;
    }
    if (n_pos != 1 || !hs_layout_collection_valid(pos[0])) {
        hs_cli_say("layout", "pin",
                   n_pos != 1 ? "expected one COLLECTION (hybridstore layout pin --help)"
                              : "not a collection name (a key prefix such as user:)");
        goto out;
    }
    if (!cfg.hot && !cfg.cold && !cfg.mode) {
        hs_cli_say("layout", "pin", "nothing to change: give --hot, --cold or --mode");
        goto out;
    }
    if (!(e = hs_cli_open_etcd("layout", "pin", cfg.etcd)))
        goto out;
    struct hs_layout_record done;
    hs_layout_record_init(&done);
    char msg[256] = "";
    enum hs_err err = HS_OK;
    bool raced = true;
    for (int i = 0; i < PIN_TRIES && err == HS_OK && raced; i++) {
        raced = false;
        err = pin_once(e, &cfg, pos[0], &raced, &done, msg, sizeof msg);
    }
    if (err == HS_EINVAL) {
        hs_cli_say("layout", "pin", "%s", msg);
    } else if (err != HS_OK || raced) {
        hs_cli_say("layout", "pin", "%s", raced ? "the record kept changing; try again" : msg);
        rc = EXIT_ERR;
    } else {
        struct hs_layout_fields deflt = {0};
        default_hot(e, &deflt);
        show_one(e, pos[0], NULL, &done, &deflt);
        hs_layout_fields_release(&deflt);
        rc = EXIT_OK;
    }
    hs_layout_record_release(&done);
out:
    hs_etcd_free(e);
    hs_config_release(&pin_spec, &cfg);
    return rc;
}

/* ---- stat KEY ---- */

void hs_cli_layout_stat(const char *key, const char *order_json, const char *etcd)
{
    struct hs_layout_fields oh = {0}, oc = {0}, deflt = {0}, want = {0};
    if (hs_layout_object_fields(order_json, &oh, &oc) != HS_OK) {
        printf("%-12s (order record unreadable)\n", "fields");
        return;
    }
    for (size_t i = 0; i < oh.n; i++)
        printf("%-12s %s HOT\n", i ? "" : "fields", oh.names[i]);
    for (size_t i = 0; i < oc.n; i++)
        printf("%-12s %s cold\n", i || oh.n ? "" : "fields", oc.names[i]);
    long shadows = hs_split_order_shadows((const uint8_t *)order_json, strlen(order_json));
    if (shadows > 0)
        printf("%-12s %ld stale member%s kept in the cold part (shadowed: a promotion or removal "
               "that did not re-encode it; the next cold write drops them)\n",
               "shadows", shadows, shadows == 1 ? "" : "s");
    size_t clen = hs_fstat_collection_len(NULL, key, strlen(key));
    char *coll = hs_xstrndup(key, clen);
    struct hs_etcd *e = NULL;
    struct hs_etcd_opts o = {.endpoints = etcd};
    struct hs_layout_record r;
    hs_layout_record_init(&r);
    int64_t rev = 0;
    bool found = false;
    char why[160] = "";
    if (!hs_layout_collection_valid(coll)) {
        printf("%-12s the default hot set (key outside any collection)\n", "layout");
    } else if (hs_etcd_new(&o, &e) != HS_OK ||
               read_record(e, coll, &r, &rev, &found, why, sizeof why) != HS_OK) {
        printf("%-12s unknown: the layout record of %s could not be read from %s\n", "layout", coll,
               etcd);
    } else {
        default_hot(e, &deflt);
        hs_layout_effective_hot(found ? &r : NULL, &deflt, &want);
        bool older = false;
        for (size_t i = 0; i < oh.n; i++)
            older |= !hs_layout_fields_contains(&want, oh.names[i]);
        for (size_t i = 0; i < oc.n; i++)
            older |= hs_layout_fields_contains(&want, oc.names[i]);
        printf("%-12s %s (collection %s, epoch %" PRId64 ")\n", "layout",
               older ? "OLDER than its collection's: the next write or a re-layout re-splits it"
                     : "current",
               coll, found ? r.epoch : 0);
    }
    hs_layout_record_release(&r);
    hs_etcd_free(e);
    free(coll);
    hs_layout_fields_release(&oh);
    hs_layout_fields_release(&oc);
    hs_layout_fields_release(&deflt);
    hs_layout_fields_release(&want);
}

int hs_cmd_layout(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "show") == 0)
        return layout_show(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "pin") == 0)
        return layout_pin(argc - 1, argv + 1);
    bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    fprintf(
        help ? stdout : stderr,
        "usage: hybridstore layout <what> [options]   (hybridstore layout <what> --help)\n\n"
        "Adaptive hot fields per collection (docs/cli.md).\n\n"
        "  show [COLLECTION]       why each field is hot or cold, and what it saves or costs\n"
        "  pin COLLECTION [--hot a,b] [--cold c] [--mode static|adaptive]\n"
        "                          pin fields, freeze or release the hot set\n\n" LAYOUT_EXIT_HELP
        "\n");
    return help ? EXIT_OK : EXIT_USAGE;
}
