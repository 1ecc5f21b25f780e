/* layouts.c - which hot set a field_hybrid write of a key uses: the key's collection (a prefix,
 * config/collection-separators and config/collection-depth), that collection's layout record
 * (layout/<collection>, layout.h, written by the healer or `hybridstore layout pin`, watched
 * here) or, without one, the cluster-wide config/hot-fields. Everything a request needs lives in
 * one immutable, reference-counted snapshot rebuilt when layout/ or config/ changes, so a write
 * splits its whole document with one hot set even when a record changes meanwhile, and a
 * request costs one uncontended mutex round, as the plain hot set did before. Reads never use
 * this: every object reads through its own manifest, whatever layout wrote it. */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/adaptive.h"
#include "gateway/gw_int.h"
#include "hs/layout.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/view.h"
#include "hs/banned.h"

#define SEPS_MAX 15 /* bytes of config/collection-separators */

struct coll_entry {
    char *name; /* heap collection prefix */
    size_t len;
    int64_t epoch;
    struct hs_split_hotset *set; /* the effective hot set */
};

struct hs_gw_layout_snap {
    int refs; /* guarded by layouts.lock */
    struct hs_fstat_rule rule;
    bool manifest_fields;
    bool manifest_shadows;
    struct hs_split_hotset *deflt; /* config/hot-fields */
    struct coll_entry *colls;      /* sorted by name bytes (memcmp, shorter first) */
    size_t n_colls;
};

/* Inputs of a snapshot, kept so that either source changing can rebuild it. Guarded by
 * build_lock (taken by the two view threads and the admin route). */
struct hs_gw_layouts {
    pthread_mutex_t lock;       /* guards cur and every snapshot's refs */
    pthread_mutex_t build_lock; /* guards the inputs below and serialises rebuilds */
    struct hs_gw_layout_snap *cur;
    char *default_csv;
    struct hs_fstat_rule rule;
    bool manifest_fields;
    bool manifest_shadows;
    struct hs_layout_record *recs; /* the valid records of layout/, decoded (heap) */
    size_t n_recs;
    bool closing; /* the gateway is stopping: ignore changes */
};

static void snap_free(struct hs_gw_layout_snap *s)
{
    if (!s)
        return;
    hs_split_hotset_free(s->deflt);
    for (size_t i = 0; i < s->n_colls; i++) {
        free(s->colls[i].name);
        hs_split_hotset_free(s->colls[i].set);
    }
    free(s->colls);
    free(s);
}

static void snap_unref(struct hs_gw_layouts *L, struct hs_gw_layout_snap *s)
{
    pthread_mutex_lock(&L->lock);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&L->lock);
    if (last)
        snap_free(s);
}

static struct hs_split_hotset *set_from_fields(const struct hs_layout_fields *f)
{
    struct hs_split_hotset *set = NULL;
    if (hs_split_hotset_new((const char *const *)f->names, f->n, &set) != HS_OK)
        HS_BUG("a validated layout field list does not make a hot set");
    return set;
}

/* Decodes one layout/ entry into out; false (logged) when it is not a valid record of the
 * collection its key names. */
static bool record_from(const struct hs_view_entry *e, struct hs_layout_record *out)
{
    char why[160] = "";
    enum hs_err err = hs_layout_record_decode(e->value, e->value_len, out, why, sizeof why);
    if (err == HS_OK && strcmp(out->collection, e->name) == 0)
        return true;
    HS_LOG_WARN("layout_record_invalid", "coll='%s' err=%s why='%s'", e->name,
                hs_err_name(err == HS_OK ? HS_ECORRUPT : err), why);
    if (err == HS_OK)
        hs_layout_record_release(out);
    return false;
}

/* One record's entry of a snapshot. */
static void entry_from(const struct hs_layout_record *rec, const struct hs_layout_fields *deflt,
                       struct coll_entry *out)
{
    struct hs_layout_fields eff = {0};
    hs_layout_effective_hot(rec, deflt, &eff);
    out->name = hs_xstrdup(rec->collection);
    out->len = strlen(rec->collection);
    out->epoch = rec->epoch;
    out->set = set_from_fields(&eff);
    hs_layout_fields_release(&eff);
}

static void recs_free(struct hs_layout_record *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hs_layout_record_release(&recs[i]);
    free(recs);
}

/* Do two snapshots split every collection alike (same records, same epochs)? The healer
 * rewrites a record every round for its bookkeeping; only a new epoch is worth a log line. */
static bool same_layouts(const struct hs_gw_layout_snap *a, const struct hs_gw_layout_snap *b)
{
    if (!a || a->n_colls != b->n_colls)
        return false;
    for (size_t i = 0; i < a->n_colls; i++)
        if (a->colls[i].epoch != b->colls[i].epoch ||
            strcmp(a->colls[i].name, b->colls[i].name) != 0)
            return false;
    return true;
}

/* Builds a snapshot from the inputs and installs it; true when a collection's layout epoch
 * (or the set of records) changed. Called with build_lock held. */
static bool rebuild_locked(struct hs_gw_layouts *L)
{
    struct hs_gw_layout_snap *s = hs_xcalloc(1, sizeof *s);
    s->refs = 1;
    s->rule = L->rule;
    s->manifest_fields = L->manifest_fields;
    s->manifest_shadows = L->manifest_shadows;
    if (hs_split_hotset_new_csv(L->default_csv, &s->deflt) != HS_OK)
        HS_BUG("the default hot set was validated by settings.c");
    /* the default as a layout field list, for records that only pin (names the list cannot
     * hold make it empty: such a record's own lists still apply) */
    struct hs_layout_fields deflt = {0};
    if (hs_layout_fields_parse_csv(&deflt, L->default_csv) != HS_OK)
        HS_LOG_WARN("layout_default_unusable", "hot_fields='%.80s'", L->default_csv);
    /* the view's entries are sorted by key bytes, so the records (and colls) are too */
    s->colls = hs_xcalloc(L->n_recs + 1, sizeof *s->colls);
    for (size_t i = 0; i < L->n_recs; i++)
        entry_from(&L->recs[i], &deflt, &s->colls[s->n_colls++]);
    hs_layout_fields_release(&deflt);
    pthread_mutex_lock(&L->lock);
    struct hs_gw_layout_snap *old = L->cur;
    L->cur = s;
    pthread_mutex_unlock(&L->lock);
    bool same = same_layouts(old, s); /* old is still referenced by L until the unref */
    if (old)
        snap_unref(L, old);
    return !same;
}

void hs_gw_layouts_init(struct hs_gw *gw)
{
    struct hs_gw_layouts *L = hs_xcalloc(1, sizeof *L);
    gw->layouts = L;
    pthread_mutex_init(&L->lock, NULL);
    pthread_mutex_init(&L->build_lock, NULL);
    L->default_csv = hs_xstrdup(HS_GW_DEFAULT_HOT_FIELDS);
    pthread_mutex_lock(&L->build_lock);
    (void)rebuild_locked(L);
    pthread_mutex_unlock(&L->build_lock);
}

void hs_gw_layouts_release(struct hs_gw *gw)
{
    struct hs_gw_layouts *L = gw->layouts;
    if (!L)
        return;
    /* changes from here on are ignored */
    pthread_mutex_lock(&L->build_lock);
    L->closing = true;
    recs_free(L->recs, L->n_recs);
    L->recs = NULL;
    L->n_recs = 0;
    pthread_mutex_unlock(&L->build_lock);
    hs_view_stop(gw->layout_view);
    gw->layout_view = NULL;
    if (L->cur)
        snap_unref(L, L->cur);
    L->cur = NULL;
    free(L->default_csv);
    L->default_csv = NULL;
    pthread_mutex_destroy(&L->lock);
    pthread_mutex_destroy(&L->build_lock);
    free(L);
    gw->layouts = NULL;
}

/* "on"/"off" (also true/false, 1/0); false for anything else. */
static bool flag_on(const struct hs_view_entry *e)
{
    if (!e)
        return false;
    const char *v = (const char *)e->value;
    return strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

void hs_gw_layouts_on_config(struct hs_gw *gw, const struct hs_view_snapshot *snap)
{
    struct hs_gw_layouts *L = gw->layouts;
    struct hs_fstat_rule rule = {0};
    const struct hs_view_entry *seps = hs_view_find(snap, "collection-separators");
    const struct hs_view_entry *depth = hs_view_find(snap, "collection-depth");
    unsigned d = 1;
    if (depth) {
        char *end = NULL;
        unsigned long v = strtoul((const char *)depth->value, &end, 10);
        if (*end || v < 1 || v > HS_FSTAT_DEPTH_MAX)
            HS_LOG_WARN("config_invalid", "name=collection-depth revision=%" PRId64,
                        snap->revision);
        else
            d = (unsigned)v;
    }
    if (hs_fstat_rule_set(&rule, seps ? (const char *)seps->value : HS_FSTAT_DEFAULT_SEPS, d) !=
        HS_OK) {
        HS_LOG_WARN("config_invalid", "name=collection-separators revision=%" PRId64,
                    snap->revision);
        (void)hs_fstat_rule_set(&rule, HS_FSTAT_DEFAULT_SEPS, d);
    }
    const struct hs_view_entry *hf = hs_view_find(snap, "hot-fields");
    struct hs_split_hotset *probe = NULL;
    const char *csv = hf ? (const char *)hf->value : HS_GW_DEFAULT_HOT_FIELDS;
    if (hs_split_hotset_new_csv(csv, &probe) != HS_OK)
        csv = NULL; /* settings.c logged it; keep the last good one */
    hs_split_hotset_free(probe);
    bool mf = flag_on(hs_view_find(snap, "manifest-fields"));
    bool ms = flag_on(hs_view_find(snap, "manifest-shadows"));
    pthread_mutex_lock(&L->build_lock);
    bool changed = memcmp(&rule, &L->rule, sizeof rule) != 0 || mf != L->manifest_fields ||
                   ms != L->manifest_shadows || (csv && strcmp(csv, L->default_csv) != 0);
    if (changed) {
        L->rule = rule;
        L->manifest_fields = mf;
        L->manifest_shadows = ms;
        if (csv) {
            free(L->default_csv);
            L->default_csv = hs_xstrdup(csv);
        }
        (void)rebuild_locked(L);
        HS_LOG_INFO("layout_config",
                    "collection_separators='%s' collection_depth=%u "
                    "manifest_fields=%d manifest_shadows=%d",
                    rule.seps, rule.depth, mf, ms);
    }
    pthread_mutex_unlock(&L->build_lock);
}

void hs_gw_layouts_set_default(struct hs_gw *gw, const char *csv)
{
    struct hs_gw_layouts *L = gw->layouts;
    pthread_mutex_lock(&L->build_lock);
    if (strcmp(csv, L->default_csv) != 0) {
        free(L->default_csv);
        L->default_csv = hs_xstrdup(csv);
        (void)rebuild_locked(L);
    }
    pthread_mutex_unlock(&L->build_lock);
}

void hs_gw_layouts_on_change(void *ctx, const struct hs_view_snapshot *snap)
{
    struct hs_gw *gw = ctx;
    struct hs_gw_layouts *L = gw->layouts;
    /* decoded here: snap is borrowed for the call only (and the first load calls this before
     * hs_view_start has even returned the view) */
    struct hs_layout_record *recs = hs_xcalloc(snap->n + 1, sizeof *recs);
    size_t n = 0;
    for (size_t i = 0; i < snap->n; i++)
        if (record_from(&snap->entries[i], &recs[n]))
            n++;
    pthread_mutex_lock(&L->build_lock);
    if (L->closing) {
        pthread_mutex_unlock(&L->build_lock);
        recs_free(recs, n);
        return;
    }
    struct hs_layout_record *old = L->recs;
    size_t n_old = L->n_recs;
    L->recs = recs;
    L->n_recs = n;
    bool changed = rebuild_locked(L);
    pthread_mutex_unlock(&L->build_lock);
    recs_free(old, n_old);
    HS_LOG(changed ? HS_LOG_INFO : HS_LOG_DEBUG, "layouts_changed", "records=%zu revision=%" PRId64,
           snap->n, snap->revision);
}

static int coll_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int r = memcmp(a, b, HS_MIN(alen, blen));
    if (r)
        return r;
    return alen < blen ? -1 : alen > blen;
}

void hs_gw_layout_get(struct hs_gw *gw, const char *key, size_t key_len, struct hs_gw_layout *out)
{
    struct hs_gw_layouts *L = gw->layouts;
    pthread_mutex_lock(&L->lock);
    struct hs_gw_layout_snap *s = L->cur;
    s->refs++;
    pthread_mutex_unlock(&L->lock);
    size_t cl = hs_fstat_collection_len(&s->rule, key, key_len);
    *out = (struct hs_gw_layout){.snap_ = s,
                                 .hot = s->deflt,
                                 .coll_len = cl,
                                 .manifest_fields = s->manifest_fields,
                                 .manifest_shadows = s->manifest_shadows};
    size_t lo = 0, hi = s->n_colls;
    while (cl > 0 && lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct coll_entry *e = &s->colls[mid];
        int r = coll_cmp(e->name, e->len, key, cl);
        if (r == 0) {
            out->hot = e->set;
            out->epoch = e->epoch;
            break;
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
}

void hs_gw_layout_put(struct hs_gw *gw, struct hs_gw_layout *l)
{
    if (!l || !l->snap_)
        return;
    snap_unref(gw->layouts, l->snap_);
    memset(l, 0, sizeof *l);
}

void hs_gw_layouts_each(struct hs_gw *gw, hs_gw_layout_epoch_fn *fn, void *ctx)
{
    struct hs_gw_layout l;
    hs_gw_layout_get(gw, "", 0, &l);
    const struct hs_gw_layout_snap *s = l.snap_;
    for (size_t i = 0; i < s->n_colls; i++)
        fn(ctx, s->colls[i].name, s->colls[i].epoch);
    hs_gw_layout_put(gw, &l);
}
