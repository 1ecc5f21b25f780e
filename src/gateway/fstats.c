/* fstats.c - the gateway's field statistics (adaptive.h): field_hybrid writes and object reads
 * counted into field_stats.h sketches, one per stripe. A request thread always uses the same
 * stripe (threads are spread over HS_GW_FSTATS_STRIPES round-robin), so its mutex is almost never
 * contended; readers (the admin route, /metrics) merge the stripes. Nothing here talks to etcd:
 * the previous version's field digests come with the manifest the write read anyway.
 *
 * What a write counts: a PUT's fields (present, value bytes) and, when the version it replaced
 * has field digests (manifest.h "fdig"), the fields whose digest differs, that are new, or that
 * it dropped (its change set); a create has no change set. A PATCH's change set is its
 * top-level keys. Only field_hybrid writes are counted (the cost model is about them); reads
 * of any object are. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/adaptive.h"
#include "gateway/gw_int.h"
#include "gateway/metrics.h"
#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define HS_GW_FSTATS_STRIPES 8
#define CHANGE_FIELDS_MAX    256 /* fields compared per PUT; more: its changes are unknown */

struct stripe {
    pthread_mutex_t lock;
    struct hs_field_stats s; /* guarded by lock */
    char pad[64];            /* keeps stripes' locks on separate cache lines */
};

struct hs_gw_fstats {
    bool on;
    char boot[HS_TXN_ID_BUF];
    atomic_uint_fast64_t seq;
    atomic_uint next_stripe;
    struct stripe stripes[HS_GW_FSTATS_STRIPES];
};

static _Thread_local int my_stripe = -1;

struct hs_gw_fstats *hs_gw_fstats_new(bool on)
{
    struct hs_gw_fstats *fs = hs_xcalloc(1, sizeof *fs);
    fs->on = on;
    if (hs_meta_txn_id_new(fs->boot) != HS_OK)
        snprintf(fs->boot, sizeof fs->boot, "%016" PRIx64, (uint64_t)hs_clock_wall_ms());
    atomic_init(&fs->seq, 0);
    atomic_init(&fs->next_stripe, 0);
    for (int i = 0; i < HS_GW_FSTATS_STRIPES; i++) {
        pthread_mutex_init(&fs->stripes[i].lock, NULL);
        if (hs_field_stats_init(&fs->stripes[i].s, NULL) != HS_OK)
            HS_BUG("default field-stats limits refused");
    }
    return fs;
}

void hs_gw_fstats_free(struct hs_gw_fstats *fs)
{
    if (!fs)
        return;
    for (int i = 0; i < HS_GW_FSTATS_STRIPES; i++) {
        hs_field_stats_release(&fs->stripes[i].s);
        pthread_mutex_destroy(&fs->stripes[i].lock);
    }
    free(fs);
}

bool hs_gw_fstats_on(const struct hs_gw *gw)
{
    return gw->fstats && gw->fstats->on;
}

static struct stripe *stripe_of(struct hs_gw_fstats *fs)
{
    if (my_stripe < 0)
        my_stripe = (int)(atomic_fetch_add(&fs->next_stripe, 1) % HS_GW_FSTATS_STRIPES);
    return &fs->stripes[my_stripe];
}

static void record_write(struct hs_gw *gw, const struct hs_fstat_write *w)
{
    struct stripe *st = stripe_of(gw->fstats);
    pthread_mutex_lock(&st->lock);
    hs_field_stats_record_write(&st->s, w);
    pthread_mutex_unlock(&st->lock);
}

/* Bytes of every blob of p (what was sent to nodes for it). */
static uint64_t part_blob_bytes(const struct hs_part *p)
{
    uint64_t n = 0;
    for (size_t i = 0; i < p->n_segments; i++)
        for (size_t j = 0; j < p->segments[i].n_blobs; j++)
            n += (uint64_t)p->segments[i].blobs[j].len_bytes;
    return n;
}

/* The cost model (docs/design.md): replicas x hot bytes, plus (k + m) / k x cold bytes when the
 * cold part is rewritten. */
static void fill_bytes(struct hs_fstat_write *w, const struct hs_manifest *next, bool pure_hot)
{
    w->hybrid = true;
    w->wrote_cold = !pure_hot;
    w->hot_bytes = part_blob_bytes(&next->hot);
    w->predicted_bytes = (uint64_t)next->hot.replicas * (uint64_t)next->hot.len_bytes;
    if (!pure_hot && next->has_cold) {
        const struct hs_part *c = &next->cold;
        w->cold_bytes = part_blob_bytes(c);
        if (c->k)
            w->predicted_bytes +=
                ((uint64_t)c->len_bytes * (c->k + c->m) + c->k - 1) / (uint64_t)c->k;
    }
}

/* Was field f of the new document changed against the previous fields? Marks the match. */
static bool changed_against(const struct hs_split_result *split, const struct hs_split_field *f,
                            struct hs_manifest_field *prev, size_t n_prev, bool *matched)
{
    const uint8_t *name = split->names.data + f->name_off;
    for (size_t j = 0; j < n_prev; j++) {
        if (matched[j] || prev[j].name_len != f->name_len ||
            memcmp(prev[j].name, name, f->name_len) != 0)
            continue;
        matched[j] = true;
        return prev[j].digest != f->digest;
    }
    return true; /* a new field */
}

void hs_gw_fstats_put(struct hs_gw *gw, const char *key, const struct hs_gw_layout *lay,
                      const struct hs_split_result *split, const struct hs_manifest *prev,
                      const struct hs_manifest *next, bool pure_hot)
{
    if (!hs_gw_fstats_on(gw) || !split->want_fields)
        return;
    struct hs_manifest_field *pf = NULL;
    size_t n_prev = 0;
    bool known = prev && prev->strategy == HS_STRATEGY_FIELD_HYBRID && prev->field_digests &&
                 split->n_fields <= CHANGE_FIELDS_MAX &&
                 hs_manifest_fields_list(prev, &pf, &n_prev) == HS_OK;
    if (known && n_prev > CHANGE_FIELDS_MAX)
        known = false;
    bool *matched = hs_xcalloc(n_prev + 1, sizeof *matched);
    struct hs_fstat_obs *obs = hs_xcalloc(split->n_fields + n_prev + 1, sizeof *obs);
    size_t n = 0;
    for (size_t i = 0; i < split->n_fields; i++) {
        const struct hs_split_field *f = &split->fields[i];
        obs[n++] = (struct hs_fstat_obs){.name = (const char *)split->names.data + f->name_off,
                                         .name_len = f->name_len,
                                         .bytes = f->value_len,
                                         .present = true,
                                         .changed = known &&
                                                    changed_against(split, f, pf, n_prev, matched)};
    }
    for (size_t j = 0; known && j < n_prev; j++) /* fields the new version dropped */
        if (!matched[j])
            obs[n++] = (struct hs_fstat_obs){
                .name = pf[j].name, .name_len = pf[j].name_len, .changed = true};
    struct hs_fstat_write w = {.coll = key,
                               .coll_len = lay->coll_len,
                               .fields = obs,
                               .n_fields = n,
                               .changes_known = known,
                               .layout_epoch = (uint64_t)lay->epoch};
    fill_bytes(&w, next, pure_hot);
    record_write(gw, &w);
    free(obs);
    free(matched);
    hs_manifest_fields_free(pf, n_prev);
}

void hs_gw_fstats_patch(struct hs_gw *gw, const char *key, const struct hs_gw_layout *lay,
                        const uint8_t *patch, size_t patch_len, const struct hs_manifest *next,
                        bool pure_hot)
{
    if (!hs_gw_fstats_on(gw))
        return;
    struct hs_split_result sr;
    hs_split_result_init(&sr, 0);
    sr.want_fields = true;
    if (hs_split_document(NULL, NULL, patch, patch_len, &sr, NULL) != HS_OK) {
        hs_split_result_release(&sr);
        return; /* validated before it was applied: cannot happen */
    }
    struct hs_fstat_obs *obs = hs_xcalloc(sr.n_fields + 1, sizeof *obs);
    for (size_t i = 0; i < sr.n_fields; i++)
        obs[i] = (struct hs_fstat_obs){.name = (const char *)sr.names.data + sr.fields[i].name_off,
                                       .name_len = sr.fields[i].name_len,
                                       .bytes = sr.fields[i].value_len,
                                       .changed = true};
    struct hs_fstat_write w = {.coll = key,
                               .coll_len = lay->coll_len,
                               .fields = obs,
                               .n_fields = sr.n_fields,
                               .patch = true,
                               .layout_epoch = (uint64_t)lay->epoch};
    fill_bytes(&w, next, pure_hot);
    record_write(gw, &w);
    free(obs);
    hs_split_result_release(&sr);
}

void hs_gw_fstats_read(struct hs_gw *gw, const char *key, size_t key_len, const char *const *names,
                       size_t n_names, bool projection, bool served_hot)
{
    if (projection)
        hs_gw_metric_add(served_hot ? HS_GW_M_PROJECTIONS_HOT : HS_GW_M_PROJECTIONS_FULL, 1);
    if (!hs_gw_fstats_on(gw))
        return;
    struct hs_gw_layout lay;
    hs_gw_layout_get(gw, key, key_len, &lay);
    struct hs_fstat_read r = {.coll = key,
                              .coll_len = lay.coll_len,
                              .projection = projection,
                              .served_hot = served_hot,
                              .names = names,
                              .n_names = n_names};
    hs_gw_layout_put(gw, &lay);
    struct stripe *st = stripe_of(gw->fstats);
    pthread_mutex_lock(&st->lock);
    hs_field_stats_record_read(&st->s, &r);
    pthread_mutex_unlock(&st->lock);
}

void hs_gw_fstats_merged(struct hs_gw *gw, struct hs_field_stats *out)
{
    hs_field_stats_reset(out);
    if (!gw->fstats)
        return;
    struct hs_field_stats copy;
    if (hs_field_stats_init(&copy, NULL) != HS_OK)
        HS_BUG("default field-stats limits refused");
    for (int i = 0; i < HS_GW_FSTATS_STRIPES; i++) {
        struct stripe *st = &gw->fstats->stripes[i];
        /* merging into an empty sketch is a linear copy: the stripe's lock is held that long
         * only, and the quadratic part of the merge runs unlocked */
        hs_field_stats_reset(&copy);
        pthread_mutex_lock(&st->lock);
        hs_field_stats_merge(&copy, &st->s);
        pthread_mutex_unlock(&st->lock);
        hs_field_stats_merge(out, &copy);
    }
    hs_field_stats_release(&copy);
}

bool hs_gw_fstats_set_epoch(struct hs_gw *gw, const char *coll, size_t coll_len, uint64_t epoch)
{
    bool tracked = false;
    if (!hs_gw_fstats_on(gw))
        return false;
    for (int i = 0; i < HS_GW_FSTATS_STRIPES; i++) {
        struct stripe *st = &gw->fstats->stripes[i];
        pthread_mutex_lock(&st->lock);
        tracked |= hs_field_stats_set_epoch(&st->s, coll, coll_len, epoch);
        pthread_mutex_unlock(&st->lock);
    }
    return tracked;
}

enum hs_err hs_gw_fstats_json(struct hs_gw *gw, char **out, size_t *out_len)
{
    struct hs_field_stats m;
    if (hs_field_stats_init(&m, NULL) != HS_OK)
        HS_BUG("default field-stats limits refused");
    hs_gw_fstats_merged(gw, &m);
    struct hs_fstat_info info = {.seq = atomic_fetch_add(&gw->fstats->seq, 1),
                                 .ms = hs_clock_wall_ms()};
    snprintf(info.gw, sizeof info.gw, "%s", gw->opts.gateway_id);
    snprintf(info.boot, sizeof info.boot, "%s", gw->fstats->boot);
    enum hs_err err = hs_field_stats_encode(&m, &info, out, out_len);
    /* Only hostile field names (escaped six times over) can pass HS_FSTAT_JSON_MAX: then the
     * least active half of the collections is left out until it fits (encode sorted them). */
    while (err == HS_ETOOBIG && m.n_colls > 1) {
        uint32_t keep = m.n_colls / 2;
        HS_LOG_WARN("field_stats_too_big", "collections=%u kept=%u", m.n_colls, keep);
        struct hs_field_stats top;
        if (hs_field_stats_init(&top, &m.limits) != HS_OK)
            HS_BUG("limits of a sketch refused");
        uint32_t n_all = m.n_colls;
        m.n_colls = keep; /* the merge copies the first keep (the most active) */
        hs_field_stats_merge(&top, &m);
        m.n_colls = n_all;
        hs_field_stats_release(&m);
        m = top;
        err = hs_field_stats_encode(&m, &info, out, out_len);
    }
    hs_field_stats_release(&m);
    return err;
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void label(struct hs_buf *b, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"')
            (void)hs_buf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            (void)hs_buf_printf(b, "\\n");
        else
            (void)hs_buf_append(b, p, 1);
    }
}

static void series(struct hs_buf *b, const char *name, const char *coll, const char *lname,
                   const char *lval, uint64_t v)
{
    (void)hs_buf_printf(b, "hybridstore_gateway_collection_%s{collection=\"", name);
    label(b, coll);
    if (lname)
        (void)hs_buf_printf(b, "\",%s=\"%s", lname, lval);
    (void)hs_buf_printf(b, "\"} %" PRIu64 "\n", v);
}

static const struct {
    const char *name, *type, *help;
} coll_metrics[] = {
    {"updates_total", "counter",
     "field_hybrid writes by kind: pure_hot (no cold part written) "
     "or cold (a cold part written)."},
    {"bytes_written_total", "counter", "Blob bytes sent to nodes by field_hybrid writes, by part."},
    {"projections_total", "counter",
     "Projection reads (?fields=) by how they were served: hot "
     "(one hot replica) or full (the whole object)."},
    {"layout_epoch", "gauge", "Layout epoch the latest write used (0: the cluster default)."},
    {"update_bytes_total", "counter",
     "Bytes per field_hybrid write summed: predicted by the "
     "cost model, and measured (blob bytes sent)."},
};

void hs_gw_fstats_metrics(struct hs_gw *gw, struct hs_buf *b)
{
    if (!hs_gw_fstats_on(gw))
        return;
    struct hs_field_stats m;
    if (hs_field_stats_init(&m, NULL) != HS_OK)
        HS_BUG("default field-stats limits refused");
    hs_gw_fstats_merged(gw, &m);
    hs_field_stats_sort(&m);
    for (size_t k = 0; k < sizeof coll_metrics / sizeof coll_metrics[0]; k++) {
        (void)hs_buf_printf(b, "# HELP hybridstore_gateway_collection_%s %s\n",
                            coll_metrics[k].name, coll_metrics[k].help);
        (void)hs_buf_printf(b, "# TYPE hybridstore_gateway_collection_%s %s\n",
                            coll_metrics[k].name, coll_metrics[k].type);
        for (uint32_t i = 0; i < m.n_colls; i++) {
            const struct hs_fstat_coll *c = &m.colls[i];
            const struct hs_fstat_totals *t = &c->tot;
            switch (k) {
            case 0:
                series(b, "updates_total", c->name, "kind", "pure_hot", t->pure_hot);
                series(b, "updates_total", c->name, "kind", "cold", t->cold);
                break;
            case 1:
                series(b, "bytes_written_total", c->name, "part", "hot", t->hot_bytes);
                series(b, "bytes_written_total", c->name, "part", "cold", t->cold_bytes);
                break;
            case 2:
                series(b, "projections_total", c->name, "served", "hot", t->proj_hot);
                series(b, "projections_total", c->name, "served", "full", t->proj_full);
                break;
            case 3:
                series(b, "layout_epoch", c->name, NULL, NULL, t->layout_epoch);
                break;
            default:
                series(b, "update_bytes_total", c->name, "kind", "predicted", t->predicted_bytes);
                series(b, "update_bytes_total", c->name, "kind", "measured", t->measured_bytes);
                break;
            }
        }
    }
    hs_field_stats_release(&m);
}

char *hs_gw_fdig_of_split(const struct hs_split_result *split)
{
    if (!split->want_fields || split->n_fields > HS_MANIFEST_FDIG_MAX)
        return NULL;
    uint64_t *d = hs_xmalloc((split->n_fields ? split->n_fields : 1) * sizeof *d);
    for (size_t i = 0; i < split->n_fields; i++)
        d[i] = split->fields[i].digest;
    char *text = hs_manifest_fdig_encode(d, split->n_fields);
    free(d);
    return text;
}
