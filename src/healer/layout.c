/* layout.c - the adaptive-layout pass of the leader (docs/healer.md "Adaptive layout"): every
 * layout_interval_ms, a decision round: fetch GET /v1/admin/field-stats from every registered
 * gateway (cluster secret, bounded time; a gateway that does not answer is skipped), merge the
 * sketches (field_stats.h), read the layout records and the default hot set, run the pure
 * decision (layout_decide.h) for every collection the statistics track, and write the records
 * that changed in a fenced transaction that compares the record's mod_revision (an operator's
 * `layout pin` in between makes it fail; the next round decides again on the new record).
 * Between rounds, every pass runs a slice of re-layouts (relayout.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "healer/layout_decide.h"
#include "healer/layout_int.h"
#include "healer/leadership.h"
#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/field_stats.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/registration.h"
#include "hs/split.h"
#include "hs/banned.h"

struct hs_healer_layout *hs_healer_layout_state(struct hs_healer *h)
{
    if (!h->layout) {
        struct hs_healer_layout *st = hs_xcalloc(1, sizeof *st);
        struct hs_http_client_opts o = {.secret = h->opts.secret,
                                        .timeout_ms = HS_LAYOUT_GW_TIMEOUT_MS,
                                        .connect_timeout_ms = HS_LAYOUT_GW_TIMEOUT_MS / 3};
        if (hs_http_client_new(&o, &st->gw_client) != HS_OK)
            HS_BUG("cannot make the gateway client");
        for (size_t i = 0; i < HS_RELAYOUT_PARALLEL; i++)
            if (hs_http_client_new(&o, &st->par_clients[i]) != HS_OK)
                HS_BUG("cannot make the gateway client");
        h->layout = st;
    }
    return h->layout;
}

static void urls_free(struct hs_healer_layout *st)
{
    for (size_t i = 0; i < st->n_gw_urls; i++)
        free(st->gw_urls[i]);
    free(st->gw_urls);
    st->gw_urls = NULL;
    st->n_gw_urls = 0;
}

static void logged_free(struct hs_healer_layout *st)
{
    for (size_t i = 0; i < st->n_logged; i++) {
        free(st->logged[i].collection);
        free(st->logged[i].best);
    }
    free(st->logged);
    st->logged = NULL;
    st->n_logged = 0;
}

/* True when this round's conclusion for coll differs from the last one logged at info (and
 * remembers it). */
static bool decision_news(struct hs_healer_layout *st, const char *coll, int verdict,
                          const char *best)
{
    struct hs_layout_logged *e = NULL;
    for (size_t i = 0; i < st->n_logged && !e; i++)
        if (strcmp(st->logged[i].collection, coll) == 0)
            e = &st->logged[i];
    if (e && e->verdict == verdict && strcmp(e->best, best) == 0)
        return false;
    if (!e) {
        if (st->n_logged == HS_LAYOUT_LOGGED_MAX)
            logged_free(st);
        if (!st->logged)
            st->logged = hs_xcalloc(HS_LAYOUT_LOGGED_MAX, sizeof *st->logged);
        e = &st->logged[st->n_logged++];
        e->collection = hs_xstrdup(coll);
        e->best = NULL;
    }
    e->verdict = verdict;
    free(e->best);
    e->best = hs_xstrdup(best);
    return true;
}

void hs_healer_layout_free(struct hs_healer *h)
{
    struct hs_healer_layout *st = h->layout;
    if (!st)
        return;
    logged_free(st);
    hs_http_client_free(st->gw_client);
    for (size_t i = 0; i < HS_RELAYOUT_PARALLEL; i++)
        hs_http_client_free(st->par_clients[i]);
    urls_free(st);
    hs_relayout_targets_free(st);
    free(st);
    h->layout = NULL;
}

/* ---- gateways and their statistics ---- */

/* Fetches the statistics of every gateway that answers into snaps[] (heap; one initialised
 * sketch each, in the order of st->gw_urls) and merges them into *merged (initialised). Returns
 * how many answered; their URLs go to st->gw_urls (re-layouts and epochs are sent there). */
static size_t fetch_stats(struct hs_healer *h, struct hs_healer_layout *st,
                          struct hs_field_stats *merged, struct hs_field_stats **snaps)
{
    struct hs_gateway_urls u = {0};
    if (hs_healer_range_at(h, HS_META_PREFIX_GATEWAYS, 0, 0, false, hs_gateway_urls_add_kv, &u,
                           NULL) != HS_OK)
        HS_LOG_WARN("layout_gateways_unreadable", "healer=%s", h->opts.healer_id);
    urls_free(st);
    st->gw_urls = u.n ? hs_xcalloc(u.n, sizeof *st->gw_urls) : NULL;
    *snaps = hs_xcalloc(u.n + 1, sizeof **snaps);
    size_t answered = 0, skipped = 0;
    for (size_t i = 0; i < u.n && hs_healer_leading(h); i++) {
        struct hs_buf reply;
        hs_buf_init(&reply, HS_FSTAT_JSON_MAX);
        long status = 0;
        char why[160] = "";
        struct hs_field_stats *one = &(*snaps)[answered];
        if (hs_field_stats_init(one, NULL) != HS_OK)
            HS_BUG("default sketch limits refused");
        enum hs_err err = hs_http_client_request(st->gw_client, "GET", u.v[i],
                                                 "/v1/admin/field-stats", &reply, &status);
        if (err == HS_OK && status != 200)
            err = HS_EPROTO;
        if (err == HS_OK)
            err = hs_field_stats_decode(reply.data, reply.len, one, NULL, why, sizeof why);
        hs_buf_release(&reply);
        if (err != HS_OK) {
            hs_field_stats_release(one);
            skipped++;
            HS_LOG_INFO("layout_gateway_skipped", "url=%s err=%s status=%ld why='%s'", u.v[i],
                        hs_err_name(err), status, why);
            free(u.v[i]);
            continue;
        }
        hs_field_stats_merge(merged, one);
        st->gw_urls[st->n_gw_urls++] = u.v[i];
        answered++;
    }
    for (size_t i = answered + skipped; i < u.n; i++)
        free(u.v[i]); /* not asked: leadership was lost */
    free(u.v);
    atomic_store(&h->stats.layout_gateways_skipped, (long long)skipped);
    return answered;
}

/* Sends every gateway the epoch of each collection it tracks at a lower one, or unpaced
 * (field_stats.h "Pacing"; merged was paced this round). A gateway that misses one is aligned
 * by the next round's merge and sent it again. */
static void send_epochs(struct hs_healer *h, struct hs_healer_layout *st,
                        const struct hs_field_stats *merged, const struct hs_field_stats *snaps)
{
    for (size_t g = 0; g < st->n_gw_urls && hs_healer_leading(h); g++) {
        const struct hs_field_stats *one = &snaps[g];
        for (uint32_t i = 0; i < one->n_colls; i++) {
            const struct hs_fstat_coll *c = &one->colls[i];
            const struct hs_fstat_coll *m = hs_field_stats_find(merged, c->name, strlen(c->name));
            if (!m || !hs_layout_collection_valid(c->name) || (c->paced && c->epoch >= m->epoch))
                continue;
            char *esc = hs_relayout_escape_key(c->name);
            char *path = hs_xasprintf("/v1/admin/field-stats/%s?epoch=%" PRIu64, esc, m->epoch);
            struct hs_buf reply;
            hs_buf_init(&reply, 256);
            long status = 0;
            enum hs_err err = hs_http_client_request(st->gw_client, "POST", st->gw_urls[g], path,
                                                     &reply, &status);
            if (err != HS_OK || status != 200)
                HS_LOG_INFO("layout_epoch_unsent",
                            "url=%s coll='%s' epoch=%" PRIu64 " err=%s status=%ld", st->gw_urls[g],
                            c->name, m->epoch, hs_err_name(err), status);
            hs_buf_release(&reply);
            free(path);
            free(esc);
        }
    }
}

/* ---- records ---- */

struct rec {
    char *collection; /* heap */
    int64_t mod_rev;
    bool readable;
    struct hs_layout_record r; /* when readable */
};

struct recs {
    struct rec *v;
    size_t n, cap;
    struct hs_healer *h;
};

static bool record_each(void *ctx, const struct hs_etcd_kv *kv)
{
    struct recs *rs = ctx;
    const char *coll = hs_meta_key_strip(kv->key, HS_META_PREFIX_LAYOUT);
    if (!coll)
        return true;
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 16;
        rs->v = hs_xrealloc(rs->v, rs->cap * sizeof *rs->v);
    }
    struct rec *r = &rs->v[rs->n++];
    memset(r, 0, sizeof *r);
    r->collection = hs_xstrdup(coll);
    r->mod_rev = kv->mod_revision;
    char why[160] = "";
    enum hs_err err = hs_layout_record_decode(kv->value, kv->value_len, &r->r, why, sizeof why);
    r->readable = err == HS_OK && strcmp(r->r.collection, coll) == 0;
    if (!r->readable) {
        if (err == HS_OK)
            hs_layout_record_release(&r->r);
        /* a newer writer's record (HS_EPROTO) or a damaged one: left alone */
        HS_LOG_WARN("layout_record_unreadable", "coll='%s' err=%s why='%s'", coll,
                    hs_err_name(err == HS_OK ? HS_ECORRUPT : err), why);
    }
    return true;
}

static void recs_release(struct recs *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->v[i].collection);
        if (rs->v[i].readable)
            hs_layout_record_release(&rs->v[i].r);
    }
    free(rs->v);
}

static struct rec *recs_find(struct recs *rs, const char *coll)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->v[i].collection, coll) == 0)
            return &rs->v[i];
    return NULL;
}

/* Is config/manifest-shadows on (the gateways keep cold parts under promotions)? */
static bool shadows_on(struct hs_healer *h)
{
    char *key = NULL;
    struct hs_etcd_kvs kvs = {0};
    bool on = false;
    if (hs_meta_key_config("manifest-shadows", &key) == HS_OK &&
        hs_etcd_get(h->etcd, key, &kvs) == HS_OK && kvs.n == 1) {
        /* the gateways' reading of a flag (layouts.c) */
        const char *v = (const char *)kvs.kvs[0].value;
        size_t n = kvs.kvs[0].value_len;
        on = (n == 2 && memcmp(v, "on", 2) == 0) || (n == 4 && memcmp(v, "true", 4) == 0) ||
             (n == 1 && v[0] == '1');
    }
    hs_etcd_kvs_release(&kvs);
    free(key);
    return on;
}

/* The cluster default: config/hot-fields, else the built-in list. */
static void default_hot(struct hs_healer *h, struct hs_layout_fields *out)
{
    char *key = NULL;
    struct hs_etcd_kvs kvs = {0};
    bool have = false;
    if (hs_meta_key_config("hot-fields", &key) == HS_OK &&
        hs_etcd_get(h->etcd, key, &kvs) == HS_OK && kvs.n == 1)
        have = hs_layout_fields_parse_csv(out, (const char *)kvs.kvs[0].value) == HS_OK;
    if (!have && hs_layout_fields_parse_csv(out, HS_SPLIT_DEFAULT_HOT_FIELDS) != HS_OK)
        HS_BUG("default hot set does not parse");
    hs_etcd_kvs_release(&kvs);
    free(key);
}

/* Objects in the collection: one count-only range (etcd counts without sending keys). */
static double count_objects(struct hs_healer *h, const char *coll)
{
    char *prefix = hs_xasprintf("%s%s", HS_META_PREFIX_META, coll);
    struct hs_etcd_range_req req = {.key = prefix, .prefix = true, .count_only = true};
    struct hs_etcd_kvs kvs = {0};
    double n = 0;
    if (hs_etcd_range(h->etcd, &req, &kvs) == HS_OK)
        n = (double)kvs.count;
    hs_etcd_kvs_release(&kvs);
    free(prefix);
    return n;
}

/* Puts value at key if its mod_revision is still mod_rev (0: absent), fenced. */
static bool fenced_put(struct hs_healer *h, const char *key, int64_t mod_rev, const char *value,
                       size_t len)
{
    struct hs_etcd_cmp cmps[2] = {
        {.target = HS_ETCD_CMP_MOD, .result = HS_ETCD_EQUAL, .key = key, .number = mod_rev}};
    hs_healer_fence(h, &cmps[1]);
    struct hs_etcd_op put = {.type = HS_ETCD_OP_PUT, .key = key, .value = value, .value_len = len};
    struct hs_etcd_op fail = {.type = HS_ETCD_OP_RANGE, .key = h->leader.key};
    struct hs_etcd_txn txn = {.cmps = cmps,
                              .n_cmps = 2,
                              .success = &put,
                              .n_success = 1,
                              .failure = &fail,
                              .n_failure = 1};
    struct hs_etcd_txn_result res = {0};
    bool done = false;
    if (hs_etcd_txn(h->etcd, &txn, &res) == HS_OK) {
        done = res.succeeded;
        if (!done && hs_healer_fence_failed(h, &res)) {
            hs_healer_fenced_out(h);
            HS_LOG_WARN("fenced_out", "healer=%s op=layout key='%s'", h->opts.healer_id, key);
        }
    }
    hs_etcd_txn_result_release(&res);
    return done;
}

static void decide_one(struct hs_healer *h, struct hs_healer_layout *st,
                       const struct hs_fstat_coll *c, struct rec *rec,
                       const struct hs_layout_fields *deflt, const struct hs_layout_config *cfg)
{
    struct hs_layout_input in;
    hs_layout_input_from_fstat(c, count_objects(h, c->name), &in);
    struct hs_layout_decision d;
    hs_layout_decision_init(&d);
    int64_t now = hs_clock_wall_ms();
    if (hs_layout_decide(&in, rec ? &rec->r : NULL, c->name, deflt, cfg, now, &d) != HS_OK)
        goto out;
    char *best = hs_layout_fields_csv(&d.best);
    bool written = false;
    if (d.write) {
        char *key = NULL, *json = NULL, why[160] = "";
        size_t len = 0;
        if (hs_meta_key_layout(c->name, &key) == HS_OK &&
            hs_layout_record_encode(&d.next, &json, &len, why, sizeof why) == HS_OK) {
            written = fenced_put(h, key, rec ? rec->mod_rev : 0, json, len);
            if (!written)
                HS_LOG_INFO("layout_record_raced", "coll='%s' (changed meanwhile: next round)",
                            c->name);
        }
        free(json);
        free(key);
    }
    if (written && d.changed)
        atomic_fetch_add(&h->stats.layout_changes, 1);
    if (written && rec && rec->readable)
        hs_layout_record_copy(&rec->r, &d.next); /* the re-layout targets follow it */
    /* every decision is logged; at info when written or when its conclusion is new */
    bool news = decision_news(st, c->name, (int)d.verdict, best);
    HS_LOG(written || news ? HS_LOG_INFO : HS_LOG_DEBUG, "layout_decision",
           "coll='%s' verdict=%s epoch=%" PRId64 " changed=%d written=%d writes=%.0f best='%s' "
           "cost_now=%.0f cost_best=%.0f gain_low=%.3f reason='%s'",
           c->name, hs_layout_verdict_name(d.verdict), d.next.epoch, d.changed, written, in.known,
           best, d.cost_current, d.cost_best, d.gain_low, d.reason);
    free(best);
out:
    hs_layout_decision_release(&d);
    hs_layout_input_release(&in);
}

static void round_config(const struct hs_healer *h, struct hs_layout_config *cfg)
{
    hs_layout_config_defaults(cfg);
    cfg->min_interval_ms = h->opts.layout_min_change_ms;
    cfg->min_writes = (double)h->opts.layout_min_writes;
}

/* One decision round. */
static void layout_round(struct hs_healer *h, struct hs_healer_layout *st)
{
    struct hs_field_stats merged;
    if (hs_field_stats_init(&merged, NULL) != HS_OK)
        HS_BUG("default sketch limits refused");
    int64_t t0 = hs_clock_mono_ms();
    struct hs_field_stats *snaps = NULL;
    size_t answered = fetch_stats(h, st, &merged, &snaps);
    int64_t every = h->opts.layout_halve_writes > 0 ? h->opts.layout_halve_writes : 8192;
    uint32_t halved = hs_field_stats_pace(&merged, (uint64_t)every);
    if (halved)
        HS_LOG_INFO("layout_stats_halved", "collections=%u every=%" PRId64 " writes", halved,
                    every);
    if (answered)
        send_epochs(h, st, &merged, snaps);
    for (size_t i = 0; i < answered; i++)
        hs_field_stats_release(&snaps[i]);
    free(snaps);
    struct recs rs = {.h = h};
    struct hs_layout_fields deflt = {0};
    struct hs_layout_config cfg;
    round_config(h, &cfg);
    if (!hs_healer_leading(h) ||
        hs_healer_range_at(h, HS_META_PREFIX_LAYOUT, 0, 0, false, record_each, &rs, NULL) != HS_OK)
        goto out;
    default_hot(h, &deflt);
    st->shadows = shadows_on(h);
    for (uint32_t i = 0; answered && i < merged.n_colls && hs_healer_leading(h); i++) {
        const struct hs_fstat_coll *c = &merged.colls[i];
        if (!hs_layout_collection_valid(c->name))
            continue; /* "" (keys without a separator) keeps the default */
        struct rec *rec = recs_find(&rs, c->name);
        if (rec && !rec->readable)
            continue;
        decide_one(h, st, c, rec, &deflt, &cfg);
    }
    atomic_fetch_add(&h->stats.layout_rounds, 1);
    HS_LOG_DEBUG("layout_round", "gateways=%zu collections=%u halved=%u records=%zu ms=%" PRId64,
                 answered, merged.n_colls, halved, rs.n, hs_clock_mono_ms() - t0);
    /* re-layout targets: every readable record (decisions of this round included next round) */
    struct hs_layout_record *recs = rs.n ? hs_xcalloc(rs.n, sizeof *recs) : NULL;
    size_t n = 0;
    for (size_t i = 0; i < rs.n; i++)
        if (rs.v[i].readable)
            recs[n++] = rs.v[i].r; /* shallow: set_targets copies what it keeps */
    hs_relayout_set_targets(st, recs, n, &deflt, answered ? &merged : NULL);
    free(recs);
out:
    hs_layout_fields_release(&deflt);
    recs_release(&rs);
    hs_field_stats_release(&merged);
}

enum hs_err hs_healer_layout_pass(struct hs_healer *h)
{
    if (h->opts.layout_interval_ms <= 0)
        return HS_OK;
    struct hs_healer_layout *st = hs_healer_layout_state(h);
    int64_t now = hs_clock_mono_ms();
    long long won = atomic_load(&h->stats.leader_changes);
    if (won != st->leadership) {
        /* a new term: the first round one interval in, after the urgent passes had their turn
         * (the decision state is in the records, so nothing is lost by waiting) */
        st->leadership = won;
        st->next_round_mono_ms = now + h->opts.layout_interval_ms;
    }
    if (now >= st->next_round_mono_ms) {
        /* on a grid: a round every interval on average, however late a pass reaches it (from
         * `now` the spacing was the interval plus a pass: 11 s instead of 10 under load); one
         * late by a whole interval moves the grid instead of running rounds back to back */
        st->next_round_mono_ms += h->opts.layout_interval_ms;
        if (st->next_round_mono_ms <= now)
            st->next_round_mono_ms = now + h->opts.layout_interval_ms;
        layout_round(h, st);
    }
    if (hs_healer_leading(h))
        hs_relayout_slice(h, st);
    return HS_OK;
}
