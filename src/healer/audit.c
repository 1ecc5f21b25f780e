/* audit.c - the continuous audit. A sweep lists each node's blobs once (paged, into one hash set
 * of (blob id, node, CRC, length)), then walks every manifest from a cursor in bounded pages and
 * checks its blobs against that set: never one request per object per node. Objects with a blob
 * missing from its node's listing, or on a node gone past node_grace_ms, become repair
 * candidates, repaired least redundancy first, a slice per leader pass (at most AUDIT_SLICE_MS,
 * so WAL recovery and GC keep their turn), with the same primitive as the repair/ queue: it
 * re-reads the manifest and confirms each suspect blob with a HEAD before writing anything, so a
 * blob written after its node was listed is never taken for a missing one.
 *
 * Regular sweeps never stop: one starts when the previous one ended (at most once per
 * audit_interval_ms) and works in units (a listing page, a page of manifests) paced by a budget
 * of audit_budget_ms of work per second of wall time, so the cost is bounded however big the
 * store is. The cursor, the listing set and the pager's pace live across passes.
 *
 * Targeted sweeps: the pass watches the node registrations. A node that comes back with a new
 * data-dir identity (`volume`), after a restart or an absence, or that reports 0 blobs, gets a
 * sweep of its own at once and unbudgeted: only its blobs are listed and judged, and every
 * manifest placing something on it is queued for repair.
 *
 * Manifests modified after a sweep's listings started (mod_revision above the revision read just
 * before them) are skipped: their blobs may postdate the listing; the next sweep sees them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "healer/repair_int.h"
#include "hs/clock.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define AUDIT_LIST_PAGE   2000  /* blobs per listing request: one unit of work */
#define AUDIT_META_PAGE   500   /* manifests per unit of work */
#define AUDIT_SLICE_MS    5000  /* repair work per pass before yielding to WAL/GC */
#define AUDIT_CHUNK_PER_T 4     /* candidates per worker thread between time checks */
#define TARGET_SLICE_MS   3000  /* targeted sweep work per pass (not budgeted) */
#define PROGRESS_LOG_MS   60000 /* evt=audit_progress at most this often */

struct sweep {
    bool targeted;
    struct hs_healer_set only;    /* targeted: the node ids whose blobs are judged */
    struct hs_healer_node *nodes; /* listed, sorted by id (snapshot at the start) */
    size_t n_nodes;
    bool *unlisted;            /* per node: its listing failed, its blobs unknown this sweep */
    size_t list_i;             /* node being listed (== n_nodes: listings done) */
    char *list_after;          /* listing cursor of that node, heap or NULL */
    struct hs_healer_set have; /* (blob id, "node:crc:len") of every listed blob */
    int64_t rev0;              /* etcd revision read before the listings */
    char *cursor;              /* full etcd key of the last manifest walked; NULL = none yet */
    struct hs_etcd_pace pace;  /* the pager's, kept across units */
    bool walked_all;
    long long objects, missing, found;
    int64_t started_mono_ms;
};

/* What the last pass saw of a node's registration. */
struct watched {
    char *id;
    char *volume; /* heap or NULL */
    int64_t started_ms;
    int64_t blobs;
    bool seen;   /* in the current pass */
    bool absent; /* missing from nodes/ in some pass since it was last seen */
};

struct hs_healer_audit {
    int64_t leader_rev;          /* leadership the state belongs to: reset on a new one */
    struct sweep *regular;       /* NULL = none running */
    struct sweep *targeted;      /* NULL = none running */
    struct hs_healer_set wanted; /* nodes waiting for a targeted sweep */
    struct watched *watch;
    size_t n_watch, cap_watch;
    int64_t last_start_mono_ms; /* start of the last regular sweep; 0 = never */
    double credit_ms;           /* regular sweep work allowed now (negative: debt) */
    int64_t credit_at_mono_ms;  /* last refill */
    int64_t progress_log_mono_ms;
    struct hs_etcd_pace pace; /* the pager's pace over meta/, carried from sweep to sweep */
    bool progressed;          /* the last pass repaired candidates or advanced a targeted sweep
                                 without an error (hs_healer_audit_busy) */
};

/* ---- sweeps ---- */

static void sweep_free(struct sweep *sw)
{
    if (!sw)
        return;
    hs_healer_set_release(&sw->only);
    hs_healer_set_release(&sw->have);
    hs_healer_nodes_free(sw->nodes, sw->n_nodes);
    free(sw->unlisted);
    free(sw->list_after);
    free(sw->cursor);
    free(sw);
}

/* A sweep over the live nodes (all, or those in only, which it takes). NULL when etcd did not
 * answer the revision read. */
static struct sweep *sweep_new(struct hs_healer *h, const struct hs_healer_live *live,
                               struct hs_healer_set *only, const struct hs_etcd_pace *pace)
{
    /* the revision before the listings: one single-key read (a count over meta/ would walk
     * every key) */
    struct hs_etcd_kvs kvs = {0};
    if (hs_etcd_get(h->etcd, HS_META_PREFIX_META, &kvs) != HS_OK)
        return NULL;
    struct sweep *sw = hs_xcalloc(1, sizeof *sw);
    sw->rev0 = kvs.revision;
    hs_etcd_kvs_release(&kvs);
    hs_healer_set_init(&sw->have);
    hs_healer_set_init(&sw->only);
    sw->targeted = only != NULL;
    if (only) {
        sw->only = *only; /* taken */
        hs_healer_set_init(only);
    }
    sw->nodes = hs_xcalloc(live->n ? live->n : 1, sizeof *sw->nodes);
    for (size_t i = 0; i < live->n; i++) {
        if (sw->targeted && !hs_healer_set_has(&sw->only, live->v[i].id, NULL))
            continue;
        sw->nodes[sw->n_nodes++] = (struct hs_healer_node){
            .id = hs_xstrdup(live->v[i].id), .url = hs_xstrdup(live->v[i].url), .blobs = -1};
    }
    sw->unlisted = hs_xcalloc(sw->n_nodes ? sw->n_nodes : 1, sizeof *sw->unlisted);
    sw->pace = *pace;
    sw->started_mono_ms = hs_clock_mono_ms();
    return sw;
}

struct list_ctx {
    struct sweep *sw;
    const char *node_id;
};

static void listed(void *ctx, const char *id, int64_t len, uint32_t crc)
{
    struct list_ctx *lc = ctx;
    char b[HS_NODE_ID_MAX + 48];
    snprintf(b, sizeof b, "%s:%08x:%" PRId64, lc->node_id, crc, len);
    hs_healer_set_add(&lc->sw->have, id, b);
}

/* One listing page of the node being listed. */
static void list_unit(struct hs_healer *h, struct sweep *sw)
{
    const struct hs_healer_node *node = &sw->nodes[sw->list_i];
    struct list_ctx lc = {.sw = sw, .node_id = node->id};
    char *next = NULL;
    enum hs_err err = hs_http_client_list(hs_healer_blob_client(h), node->url, sw->list_after,
                                          AUDIT_LIST_PAGE, listed, &lc, &next);
    free(sw->list_after);
    sw->list_after = NULL;
    if (err != HS_OK) {
        sw->unlisted[sw->list_i] = true;
        HS_LOG_WARN("audit_list_failed", "node=%s err=%s", node->id, hs_err_name(err));
        free(next);
        next = NULL;
    }
    if (next)
        sw->list_after = next;
    else
        sw->list_i++;
}

/* ---- manifests against the listings ---- */

struct judge {
    struct hs_healer *h;
    struct sweep *sw;
    const struct hs_healer_live *live;
    bool fixable; /* some blob is missing from a listed node or sits on a gone node */
    long long missing;
    const char *lost_on; /* targeted: the node blobs are missing on; NULL = none or several */
    bool several;
};

static void judge_lost(struct judge *j, const char *node_id)
{
    j->fixable = true;
    j->missing++;
    if (j->lost_on && strcmp(j->lost_on, node_id) != 0)
        j->several = true;
    j->lost_on = node_id;
}

static bool blob_ok(void *ctx, const struct hs_meta_blob_ref *b)
{
    struct judge *j = ctx;
    struct sweep *sw = j->sw;
    if (sw->targeted && !hs_healer_set_has(&sw->only, b->node_id, NULL))
        return true; /* not this sweep's business */
    size_t lo = 0, hi = sw->n_nodes;
    while (lo < hi) { /* sorted by id */
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(sw->nodes[mid].id, b->node_id);
        if (c == 0) {
            if (sw->unlisted[mid])
                return true; /* unknown this time: do not guess */
            char want[HS_NODE_ID_MAX + 48];
            snprintf(want, sizeof want, "%s:%08x:%" PRId64, b->node_id, b->crc32c, b->len_bytes);
            if (hs_healer_set_has(&sw->have, b->blob_id, want))
                return true;
            judge_lost(j, b->node_id);
            return false;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (hs_healer_live_url(j->live, b->node_id))
        return true; /* joined after the listings: unknown this sweep */
    if (hs_healer_node_gone(j->h, b->node_id)) {
        judge_lost(j, b->node_id);
        j->several = true; /* a move: let the primitive check everything */
    }
    return false; /* absent node: not healthy, movable only once gone */
}

static bool candidate_add(struct hs_healer_repair *st, const char *key, int redundancy,
                          const char *suspect)
{
    if (st->next_cand == st->n_cands) { /* all done: reuse the array, forget the keys */
        st->next_cand = st->n_cands = 0;
        hs_healer_set_release(&st->cand_keys);
    }
    /* queued already (by the other sweep) since the queue was last empty */
    if (!hs_healer_set_add(&st->cand_keys, key, NULL))
        return false;
    if (st->n_cands == st->cap_cands) {
        st->cap_cands = st->cap_cands ? st->cap_cands * 2 : 64;
        st->cands = hs_xrealloc(st->cands, st->cap_cands * sizeof *st->cands);
    }
    st->cands[st->n_cands++] =
        (struct hs_healer_candidate){.key = hs_xstrdup(key),
                                     .redundancy = redundancy,
                                     .suspect = suspect ? hs_xstrdup(suspect) : NULL};
    st->unsorted = true;
    return true;
}

struct walk {
    struct judge j;
    struct hs_healer_repair *st;
    size_t seen;
};

static bool walk_one(void *ctx, const struct hs_etcd_kv *kv)
{
    struct walk *w = ctx;
    struct sweep *sw = w->j.sw;
    w->seen++;
    free(sw->cursor);
    sw->cursor = hs_xstrdup(kv->key);
    const char *key = hs_meta_key_strip(kv->key, HS_META_PREFIX_META);
    bool go_on = w->seen < AUDIT_META_PAGE && hs_healer_leading(w->j.h);
    if (!key || kv->mod_revision > sw->rev0)
        return go_on; /* newer than the listings: the next sweep */
    sw->objects++;
    atomic_fetch_add(&w->j.h->stats.audit_checked, 1);
    struct hs_manifest m;
    hs_manifest_init(&m);
    char why[160] = "";
    if (hs_manifest_decode(kv->value, kv->value_len, &m, why, sizeof why) != HS_OK) {
        hs_healer_unreadable(w->j.h, HS_HEALER_PASS_AUDIT, key, why);
        return go_on;
    }
    w->j.fixable = w->j.several = false;
    w->j.missing = 0;
    w->j.lost_on = NULL;
    struct hs_healer_redundancy red;
    hs_healer_redundancy_of(&m, blob_ok, &w->j, &red);
    /* a targeted sweep knows where the loss is: the repair HEADs only that node (lost_on
     * points into m, so the copy is made before m goes) */
    const char *suspect = sw->targeted && !w->j.several ? w->j.lost_on : NULL;
    if (w->j.fixable && candidate_add(w->st, key, red.spare, suspect))
        sw->found++;
    hs_manifest_release(&m);
    sw->missing += w->j.missing;
    return go_on;
}

/* One page of manifests after the cursor (at the latest revision: the rev0 filter keeps the
 * check consistent with the listings). */
static enum hs_err walk_unit(struct hs_healer *h, struct sweep *sw,
                             const struct hs_healer_live *live, struct hs_healer_repair *st)
{
    struct walk w = {.j = {.h = h, .sw = sw, .live = live}, .st = st};
    struct hs_etcd_scan scan = {.prefix = HS_META_PREFIX_META,
                                .after = sw->cursor,
                                .page_size = AUDIT_META_PAGE,
                                .pace = &sw->pace};
    enum hs_err err = hs_etcd_range_scan(h->etcd, &scan, walk_one, &w, NULL);
    if (err == HS_OK && w.seen < AUDIT_META_PAGE && hs_healer_leading(h))
        sw->walked_all = true;
    return err;
}

/* Works on sw until until_mono_ms (at least one unit). true when the sweep is complete;
 * *err set when a manifest page failed (the sweep is then dropped). */
static bool sweep_work(struct hs_healer *h, struct sweep *sw, const struct hs_healer_live *live,
                       struct hs_healer_repair *st, int64_t until_mono_ms, enum hs_err *err)
{
    do {
        if (!hs_healer_leading(h))
            return false;
        if (sw->list_i < sw->n_nodes) {
            list_unit(h, sw);
            continue;
        }
        if (sw->walked_all)
            return true;
        if ((*err = walk_unit(h, sw, live, st)) != HS_OK)
            return false;
    } while (hs_clock_mono_ms() < until_mono_ms);
    return sw->list_i >= sw->n_nodes && sw->walked_all;
}

/* ---- the node watch ---- */

static struct watched *watched_get(struct hs_healer_audit *a, const char *id, bool *is_new)
{
    for (size_t i = 0; i < a->n_watch; i++)
        if (strcmp(a->watch[i].id, id) == 0) {
            *is_new = false;
            return &a->watch[i];
        }
    if (a->n_watch == a->cap_watch) {
        a->cap_watch = a->cap_watch ? a->cap_watch * 2 : 16;
        a->watch = hs_xrealloc(a->watch, a->cap_watch * sizeof *a->watch);
    }
    struct watched *w = &a->watch[a->n_watch++];
    *w = (struct watched){.id = hs_xstrdup(id)};
    *is_new = true;
    return w;
}

/* Why node n needs a targeted sweep now, or NULL. */
static const char *watch_reason(const struct watched *w, bool is_new,
                                const struct hs_healer_node *n)
{
    if (is_new)
        return n->blobs == 0 ? "empty" : NULL;
    if (w->volume && n->volume && strcmp(w->volume, n->volume) != 0)
        return "volume_changed";
    if (w->started_ms != 0 && n->started_ms != 0 && w->started_ms != n->started_ms)
        return "restarted";
    if (w->absent)
        return "back";
    if (w->blobs > 0 && n->blobs == 0)
        return "emptied";
    return NULL;
}

static void watch_nodes(struct hs_healer_audit *a, const struct hs_healer_live *live)
{
    for (size_t i = 0; i < a->n_watch; i++)
        a->watch[i].seen = false;
    for (size_t i = 0; i < live->n; i++) {
        const struct hs_healer_node *n = &live->v[i];
        bool is_new;
        struct watched *w = watched_get(a, n->id, &is_new);
        const char *why = watch_reason(w, is_new, n);
        if (why) {
            hs_healer_set_add(&a->wanted, n->id, NULL);
            HS_LOG_INFO("node_refill_wanted",
                        "node=%s reason=%s volume=%s was_volume=%s blobs=%" PRId64, n->id, why,
                        n->volume ? n->volume : "-", w->volume ? w->volume : "-", n->blobs);
        }
        free(w->volume);
        w->volume = n->volume ? hs_xstrdup(n->volume) : NULL;
        w->started_ms = n->started_ms;
        w->blobs = n->blobs;
        w->seen = true;
        w->absent = false;
    }
    for (size_t i = 0; i < a->n_watch; i++)
        if (!a->watch[i].seen)
            a->watch[i].absent = true;
}

/* ---- state ---- */

static struct hs_healer_audit *audit_state(struct hs_healer *h, struct hs_healer_repair *st)
{
    if (st->audit && st->audit->leader_rev != h->leader.rev) {
        /* a new leadership: what a sweep listed before may be stale; the node watch stays */
        sweep_free(st->audit->regular);
        sweep_free(st->audit->targeted);
        st->audit->regular = st->audit->targeted = NULL;
        st->audit->leader_rev = h->leader.rev;
    }
    if (!st->audit) {
        st->audit = hs_xcalloc(1, sizeof *st->audit);
        st->audit->leader_rev = h->leader.rev;
        hs_healer_set_init(&st->audit->wanted);
    }
    return st->audit;
}

void hs_healer_audit_free(struct hs_healer_audit *a)
{
    if (!a)
        return;
    sweep_free(a->regular);
    sweep_free(a->targeted);
    hs_healer_set_release(&a->wanted);
    for (size_t i = 0; i < a->n_watch; i++) {
        free(a->watch[i].id);
        free(a->watch[i].volume);
    }
    free(a->watch);
    free(a);
}

/* ---- repairing the candidates, a slice per pass ---- */

struct slice {
    struct hs_healer *h;
    const struct hs_healer_live *live;
    const struct hs_healer_candidate *cands;
};

static void job_repair(void *ctx, size_t i)
{
    struct slice *sl = ctx;
    struct hs_healer_obj_result res;
    if (!hs_healer_leading(sl->h))
        return;
    enum hs_err err =
        hs_healer_repair_object(sl->h, sl->live, sl->cands[i].key, 0, sl->cands[i].suspect, &res);
    if (err != HS_OK && err != HS_ECONFLICT)
        HS_LOG_WARN("audit_repair_failed", "obj='%s' err=%s", sl->cands[i].key, hs_err_name(err));
}

static int by_redundancy(const void *a, const void *b)
{
    const struct hs_healer_candidate *x = a, *y = b;
    return hs_healer_repair_order(x->redundancy, x->key, y->redundancy, y->key);
}

static void repair_slice(struct hs_healer *h, const struct hs_healer_live *live,
                         struct hs_healer_repair *st)
{
    if (st->unsorted && st->n_cands - st->next_cand > 1)
        qsort(st->cands + st->next_cand, st->n_cands - st->next_cand, sizeof *st->cands,
              by_redundancy);
    st->unsorted = false;
    struct slice sl = {.h = h, .live = live};
    uint32_t threads = h->opts.repair_concurrency ? h->opts.repair_concurrency : 1;
    size_t chunk = (size_t)threads * AUDIT_CHUNK_PER_T;
    int64_t start = hs_clock_mono_ms();
    while (st->next_cand < st->n_cands && hs_healer_leading(h) &&
           hs_clock_mono_ms() - start < AUDIT_SLICE_MS) {
        size_t n = HS_MIN(chunk, st->n_cands - st->next_cand);
        sl.cands = st->cands + st->next_cand;
        hs_healer_pool_run(threads, n, job_repair, &sl);
        for (size_t i = 0; i < n; i++) {
            free(st->cands[st->next_cand + i].key);
            free(st->cands[st->next_cand + i].suspect);
        }
        st->next_cand += n;
    }
}

/* ---- the pass ---- */

/* true when a targeted sweep ran without an error */
static bool targeted_step(struct hs_healer *h, struct hs_healer_audit *a,
                          const struct hs_healer_live *live, struct hs_healer_repair *st)
{
    if (!a->targeted && a->wanted.n > 0) {
        size_t n_wanted = a->wanted.n;
        a->targeted = sweep_new(h, live, &a->wanted, &a->pace);
        if (a->targeted)
            HS_LOG_INFO("targeted_sweep_started", "nodes=%zu listed=%zu", n_wanted,
                        a->targeted->n_nodes);
    }
    struct sweep *sw = a->targeted;
    if (!sw)
        return false;
    enum hs_err err = HS_OK;
    bool done = sweep_work(h, sw, live, st, hs_clock_mono_ms() + TARGET_SLICE_MS, &err);
    if (err != HS_OK) {
        /* the nodes go back on the wish list: a later pass starts over */
        for (size_t i = 0; i < sw->n_nodes; i++)
            hs_healer_set_add(&a->wanted, sw->nodes[i].id, NULL);
        HS_LOG_WARN("targeted_sweep_failed", "err=%s", hs_err_name(err));
    }
    if (done) {
        atomic_fetch_add(&h->stats.targeted_sweeps, 1);
        HS_LOG_INFO("targeted_sweep_done",
                    "nodes=%zu objects=%lld missing_blobs=%lld candidates=%lld ms=%" PRId64,
                    sw->n_nodes, sw->objects, sw->missing, sw->found,
                    hs_clock_mono_ms() - sw->started_mono_ms);
    }
    if (done || err != HS_OK) {
        sweep_free(sw);
        a->targeted = NULL;
    }
    return err == HS_OK;
}

static void regular_step(struct hs_healer *h, struct hs_healer_audit *a,
                         const struct hs_healer_live *live, struct hs_healer_repair *st)
{
    int64_t now = hs_clock_mono_ms();
    double budget = (double)h->opts.audit_budget_ms;
    if (a->credit_at_mono_ms != 0)
        a->credit_ms += (double)(now - a->credit_at_mono_ms) * budget / 1000.0;
    a->credit_at_mono_ms = now;
    if (a->credit_ms > budget)
        a->credit_ms = budget; /* at most one second's worth saved up */
    if (a->credit_ms <= 0)
        return;
    if (!a->regular) {
        if (a->last_start_mono_ms != 0 && now - a->last_start_mono_ms < h->opts.audit_interval_ms)
            return;
        if (!(a->regular = sweep_new(h, live, NULL, &a->pace)))
            return;
        a->last_start_mono_ms = now;
    }
    struct sweep *sw = a->regular;
    enum hs_err err = HS_OK;
    bool done = sweep_work(h, sw, live, st, now + (int64_t)a->credit_ms, &err);
    int64_t spent = hs_clock_mono_ms() - now;
    a->credit_ms -= (double)(spent > 0 ? spent : 1);
    atomic_fetch_add(&h->stats.audit_work_ms, spent);
    atomic_store(&h->stats.audit_sweep_objects, sw->objects);
    atomic_store(&h->stats.audit_sweep_phase, sw->list_i < sw->n_nodes ? 1 : 2);
    if (now - a->progress_log_mono_ms >= PROGRESS_LOG_MS && !done) {
        a->progress_log_mono_ms = now;
        HS_LOG_INFO("audit_progress",
                    "phase=%s nodes_listed=%zu/%zu objects=%lld candidates=%lld cursor='%s'",
                    sw->list_i < sw->n_nodes ? "listing" : "manifests", sw->list_i, sw->n_nodes,
                    sw->objects, sw->found, sw->cursor ? sw->cursor : "");
    }
    if (err != HS_OK)
        HS_LOG_WARN("audit_sweep_failed", "err=%s objects=%lld", hs_err_name(err), sw->objects);
    if (done) {
        a->pace = sw->pace;
        atomic_store(&h->stats.audit_objects, sw->objects);
        atomic_store(&h->stats.audit_candidates, sw->found);
        atomic_store(&h->stats.audit_missing_blobs, sw->missing);
        atomic_fetch_add(&h->stats.audits_completed, 1);
        HS_LOG_INFO("audit_sweep_done",
                    "objects=%lld blobs_listed=%zu missing_blobs=%lld candidates=%lld "
                    "ms=%" PRId64,
                    sw->objects, sw->have.n, sw->missing, sw->found,
                    hs_clock_mono_ms() - sw->started_mono_ms);
    }
    if (done || err != HS_OK) {
        sweep_free(sw);
        a->regular = NULL;
        atomic_store(&h->stats.audit_sweep_phase, 0);
    }
}

enum hs_err hs_healer_audit_pass(struct hs_healer *h)
{
    struct hs_healer_repair *st = hs_healer_repair_state(h);
    struct hs_healer_audit *a = audit_state(h, st);
    struct hs_healer_live live = {0};
    hs_healer_nodes_get(h, &live.v, &live.n);
    hs_healer_absent_refresh(h, &live);
    watch_nodes(a, &live);
    size_t cand0 = st->next_cand;
    a->progressed = false;
    if (hs_healer_leading(h))
        a->progressed = targeted_step(h, a, &live, st);
    if (hs_healer_leading(h))
        repair_slice(h, &live, st);
    a->progressed = a->progressed || st->next_cand != cand0;
    /* The regular sweep waits while repairs are pending: they come first, and a sweep would
     * only find the same objects again. Its credit keeps (up to one second's worth). */
    if (hs_healer_leading(h) && st->next_cand == st->n_cands)
        regular_step(h, a, &live, st);
    atomic_store(&h->stats.audit_pending, (long long)(st->n_cands - st->next_cand));
    atomic_store(&h->stats.targeted_pending,
                 (long long)(a->wanted.n + (a->targeted ? a->targeted->n_nodes : 0)));
    hs_healer_nodes_free(live.v, live.n);
    return HS_OK;
}

bool hs_healer_audit_busy(struct hs_healer *h)
{
    const struct hs_healer_repair *st = h->repair;
    return st && st->audit && st->audit->progressed &&
           (st->next_cand < st->n_cands || st->audit->targeted);
}
