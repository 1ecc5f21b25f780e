/* retire.c - the retire sweeper: deletes the blobs that commits and deletes retired (retire/
 * records, format in include/hs/manifest.h) once the grace has passed, then the records.
 *
 * For each record whose `ms` is older than retire_grace_ms, oldest first, RETIRE_GROUP records
 * at a time (their blobs on one node share requests, their etcd reads and deletes share one
 * transaction each, retire_etcd.c):
 *   1. read the keys' CURRENT manifests (meta/<key>) in one read-only transaction (one GET per
 *      record if that fails while etcd answers, e.g. a reply too large); when one cannot be
 *      decoded, keep every blob of its record and the record (counted; the next pass looks
 *      again);
 *   2. delete the record's (blob, node) pairs that manifest does not reference, per node in
 *      batches of retire_batch ids (one POST /v1/blobs/delete each; missing counts as done),
 *      each batch only after etcd confirms we still lead;
 *   3. when every batch on a registered node succeeded, delete the record with a fenced txn
 *      that also compares its mod_revision (the group's records in one txn; a record changed
 *      since it was read is left, the others go). Blobs on nodes that are not registered are
 *      left to GC (counted); a node that did not answer keeps the record for the next pass,
 *      which deletes again (harmless: missing counts as done).
 *
 * Why checking only the current manifest is safe: a blob retired when version N was replaced
 * is never referenced by any later version. A new version only reuses blobs of the version it
 * replaces (an overwrite or PATCH keeps the untouched part, a repair copies the blobs it
 * restores under the same ids), and the blobs retired at N -> N+1 are exactly those N+1 does
 * not reference, so N+2 cannot reuse them, and so on by induction. Blob ids are never reused
 * (they start with their writer's unique txn id), so a re-created key holds new ids. The check
 * still matters for a record whose commit failed (a large record is put just before its
 * commit): its "retired" blobs are those of the version that stayed current, which references
 * them, so they are kept and only the record goes.
 *
 * Record keys sort by their txn id, which starts with its mint time (ms, fixed-width hex), and
 * a record's `ms` is never earlier than that time: the scan stops at the first key minted after
 * now - grace, so a pass reads only records that may be due, however many wait. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "healer/healer.h"
#include "healer/leadership.h"
#include "healer/retire_int.h"
#include "hs/clock.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define RETIRE_PAGE     200
#define RETIRE_PASS_MAX 1000 /* records handled per pass: WAL, repair and GC get their turn */
#define RETIRE_GROUP    HS_RETIRE_TXN_RECORDS /* planned together: shared node requests and txns */

/* What sweeping one record did with its blobs. */
struct tally {
    int64_t deleted; /* gone now (deleted, or missing already) */
    int64_t failed;  /* a registered node did not delete it: the record stays */
    int64_t left;    /* on a node that is not registered: left to GC */
};

struct due_rec {
    char *etcd_key;
    int64_t mod_rev;
    struct hs_retire_record r;
    /* sweep state */
    bool readable;              /* the current manifest was read (or the key has none) */
    bool have;                  /* current holds the key's manifest */
    struct hs_manifest current; /* when have */
    struct tally t;
    bool dropped; /* the record is gone */
};

struct scan {
    struct hs_healer *h;
    int64_t now_ms;
    struct due_rec *v;
    size_t n, cap;
    int64_t blobs; /* sum of the due records' blobs */
};

static bool on_record(void *ctx, const struct hs_etcd_kv *kv)
{
    struct scan *s = ctx;
    const char *id = hs_meta_key_strip(kv->key, HS_META_PREFIX_RETIRE);
    int64_t minted_ms = 0;
    if (id && hs_meta_txn_id_time_ms(id, &minted_ms) &&
        minted_ms > s->now_ms - s->h->opts.retire_grace_ms)
        return false; /* this key and every later one was retired after now - grace */
    struct hs_retire_record r;
    hs_retire_record_init(&r);
    char why[160] = "";
    if (hs_retire_record_decode(kv->value, kv->value_len, &r, why, sizeof why) != HS_OK) {
        /* HS_EPROTO: a newer writer's format, not ours to judge */
        hs_healer_unreadable(s->h, HS_HEALER_PASS_RETIRE, kv->key, why);
        return true;
    }
    if (s->now_ms - r.retired_ms < s->h->opts.retire_grace_ms) {
        hs_retire_record_release(&r); /* a long write committed lately: not due yet */
        return true;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = hs_xrealloc(s->v, s->cap * sizeof *s->v);
    }
    struct due_rec *d = &s->v[s->n++];
    *d = (struct due_rec){.etcd_key = hs_xstrdup(kv->key), .mod_rev = kv->mod_revision, .r = r};
    hs_manifest_init(&d->current);
    s->blobs += (int64_t)r.n_blobs;
    return s->n < RETIRE_PASS_MAX;
}

static void scan_release(struct scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].etcd_key);
        hs_retire_record_release(&s->v[i].r);
        hs_manifest_release(&s->v[i].current);
    }
    free(s->v);
}

/* Step 3: the records of g[0..n) whose blobs all went, in one fenced txn that compares each
 * record's mod_revision (a record changed since we read it stays). Returns the records
 * deleted. */
static size_t drop_records(struct hs_healer *h, struct due_rec *g, size_t n)
{
    struct hs_retire_drop *d = hs_xcalloc(n ? n : 1, sizeof *d);
    size_t *at = hs_xcalloc(n ? n : 1, sizeof *at); /* d[k] is g[at[k]] */
    size_t m = 0, dropped = 0;
    for (size_t i = 0; i < n; i++) {
        if (!g[i].readable)
            continue;
        HS_LOG_DEBUG("retire_record",
                     "key='%s' record='%s' blobs=%zu deleted=%" PRId64 " retry=%" PRId64
                     " left_for_gc=%" PRId64,
                     g[i].r.key, g[i].etcd_key, g[i].r.n_blobs, g[i].t.deleted, g[i].t.failed,
                     g[i].t.left);
        if (g[i].t.failed > 0)
            continue;
        d[m] = (struct hs_retire_drop){.key = g[i].etcd_key, .mod_rev = g[i].mod_rev};
        at[m++] = i;
    }
    struct hs_etcd_cmp fence;
    hs_healer_fence(h, &fence);
    int64_t txns = 0;
    enum hs_err err = m > 0 ? hs_retire_drop_many(h->etcd, &fence, d, m, &txns) : HS_OK;
    atomic_fetch_add(&h->stats.retire_drop_txns, txns);
    if (err == HS_ECONFLICT) {
        hs_healer_fenced_out(h);
        HS_LOG_WARN("fenced_out", "healer=%s op=retire_drop key='%s' records=%zu",
                    h->opts.healer_id, d[0].key, m);
    } else if (err != HS_OK) {
        HS_LOG_WARN("retire_drop_failed", "records=%zu err=%s", m, hs_err_name(err));
    }
    /* etcd refused the transaction itself (a --max-txn-ops below the group's 65 compares):
     * one fenced delete per record, as the sweeper did before it batched */
    for (size_t k = 0; err == HS_EINVAL && k < m && hs_healer_leading(h); k++) {
        atomic_fetch_add(&h->stats.retire_drop_txns, 1);
        if (!d[k].dropped)
            d[k].dropped = hs_healer_fenced_delete(h, d[k].key, d[k].mod_rev, "retire_drop");
    }
    for (size_t k = 0; k < m; k++) {
        if (!d[k].dropped)
            continue;
        g[at[k]].dropped = true;
        dropped++;
    }
    atomic_fetch_add(&h->stats.retire_records_swept, (long long)dropped);
    atomic_fetch_sub(&h->stats.retire_pending_records, (long long)dropped);
    free(at);
    free(d);
    return dropped;
}

/* Step 1 for one record from its key's range (kvs->n 0: the key has no manifest). false when
 * the manifest cannot be decoded: nothing of the record may be deleted now. */
static bool take_current(struct hs_healer *h, struct due_rec *d, const char *meta_key,
                         const struct hs_etcd_kvs *kvs)
{
    d->have = false;
    if (kvs->n == 0)
        return true;
    char why[160] = "";
    if (hs_manifest_decode(kvs->kvs[0].value, kvs->kvs[0].value_len, &d->current, why,
                           sizeof why) != HS_OK) {
        atomic_fetch_add(&h->stats.retire_unreadable_manifests, 1);
        hs_healer_unreadable(h, HS_HEALER_PASS_RETIRE, meta_key, why);
        return false;
    }
    d->have = true;
    return true;
}

/* Step 1 for g[0..n): sets each record's readable, have and current. One read-only txn for
 * the group; one GET per record when that fails (a record that cannot be read stays). */
static void read_currents(struct hs_healer *h, struct due_rec *g, size_t n)
{
    char **keys = hs_xcalloc(n ? n : 1, sizeof *keys);
    for (size_t i = 0; i < n; i++)
        if (hs_meta_key_meta(g[i].r.key, &keys[i]) != HS_OK)
            keys[i] = NULL;
    /* a key that cannot be named (never written so) is not read: its record stays */
    const char **named = hs_xcalloc(n ? n : 1, sizeof *named);
    size_t *at = hs_xcalloc(n ? n : 1, sizeof *at);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (keys[i]) {
            named[m] = keys[i];
            at[m++] = i;
        }
    struct hs_etcd_kvs *got = hs_xcalloc(m ? m : 1, sizeof *got);
    enum hs_err err = hs_retire_read_many(h->etcd, named, m, got);
    if (m > 0)
        atomic_fetch_add(&h->stats.retire_manifest_reads, 1);
    /* etcd unreachable: every GET would fail the same way; anything else (a reply over the
     * client's limit, a refused request) may pass one key at a time */
    bool one_by_one = err != HS_OK && err != HS_EUNAVAIL && err != HS_ETIMEDOUT;
    for (size_t k = 0; k < m; k++) {
        struct due_rec *d = &g[at[k]];
        if (err == HS_OK) {
            d->readable = take_current(h, d, named[k], &got[k]);
            hs_etcd_kvs_release(&got[k]);
            continue;
        }
        if (!one_by_one)
            continue; /* not readable: the record stays for the next pass */
        struct hs_etcd_kvs one = {0};
        atomic_fetch_add(&h->stats.retire_manifest_reads, 1);
        d->readable =
            hs_etcd_get(h->etcd, named[k], &one) == HS_OK && take_current(h, d, named[k], &one);
        hs_etcd_kvs_release(&one);
    }
    free(got);
    free(at);
    free(named);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

/* Step 2 for one batch (blobs of several records on one node); g[map[k]] is input k. */
static void delete_batch(struct hs_healer *h, struct due_rec *g, const size_t *map,
                         const struct hs_retire_batch *b)
{
    char *url = hs_healer_node_url(h, b->node_id);
    atomic_fetch_sub(&h->stats.retire_pending_blobs, (long long)b->n);
    if (!url) { /* not registered: its copies become orphans for GC */
        for (size_t i = 0; i < b->n; i++)
            g[map[b->recs[i]]].t.left++;
        atomic_fetch_add(&h->stats.retire_blobs_left, (long long)b->n);
        return;
    }
    enum hs_err *errs = hs_xcalloc(b->n, sizeof *errs);
    struct hs_http_delete_many res = {0};
    enum hs_err err =
        hs_http_client_delete_many(hs_healer_blob_client(h), url, b->ids, b->n, &res, errs);
    int64_t failed = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct tally *t = &g[map[b->recs[i]]].t;
        if (err == HS_OK && errs[i] == HS_OK) {
            t->deleted++;
        } else {
            t->failed++;
            failed++;
        }
    }
    if (failed > 0) {
        atomic_fetch_add(&h->stats.retire_failures, failed);
        HS_LOG_WARN("retire_delete_failed", "node=%s url=%s blobs=%zu failed=%" PRId64 " err=%s",
                    b->node_id, url, b->n, failed, hs_err_name(err != HS_OK ? err : res.first_err));
    }
    atomic_fetch_add(&h->stats.retire_blobs_deleted, (long long)b->n - failed);
    free(errs);
    free(url);
}

/* Sweeps n records together: their blobs on one node share requests. Returns the number of
 * records deleted. */
static size_t sweep_group(struct hs_healer *h, struct due_rec *g, size_t n)
{
    struct hs_retire_input *in = hs_xcalloc(n, sizeof *in);
    size_t *map = hs_xcalloc(n, sizeof *map); /* input index -> g index */
    size_t n_in = 0, dropped = 0;
    read_currents(h, g, n);
    for (size_t i = 0; i < n; i++) {
        if (!g[i].readable) {
            atomic_fetch_sub(&h->stats.retire_pending_blobs, (long long)g[i].r.n_blobs);
            continue;
        }
        in[n_in] =
            (struct hs_retire_input){.r = &g[i].r, .current = g[i].have ? &g[i].current : NULL};
        map[n_in++] = i;
    }
    struct hs_retire_plan plan;
    hs_retire_plan_make(in, n_in, (size_t)h->opts.retire_batch, &plan);
    atomic_fetch_sub(&h->stats.retire_pending_blobs, (long long)plan.kept);
    for (size_t i = 0; i < plan.n_batches; i++) {
        /* node deletes cannot be fenced: each batch only while etcd still names us */
        if (!hs_healer_still_leader(h))
            goto out;
        delete_batch(h, g, map, &plan.batches[i]);
    }
    if (hs_healer_leading(h))
        dropped = drop_records(h, g, n);
out:
    hs_retire_plan_release(&plan);
    free(map);
    free(in);
    return dropped;
}

enum hs_err hs_healer_retire_pass(struct hs_healer *h)
{
    struct scan s = {.h = h, .now_ms = hs_clock_wall_ms()};
    enum hs_err err =
        hs_healer_range_at(h, HS_META_PREFIX_RETIRE, 0, RETIRE_PAGE, false, on_record, &s, NULL);
    if (err != HS_OK) {
        HS_LOG_WARN("retire_pass_failed", "err=%s", hs_err_name(err));
        goto out;
    }
    /* pending: the due records (and their blobs) not swept yet; it falls as batches go, and at
     * the end of the pass it is what is left for the next one */
    atomic_store(&h->stats.retire_pending_records, (long long)s.n);
    atomic_store(&h->stats.retire_pending_blobs, (long long)s.blobs);
    int64_t t0 = hs_clock_mono_ms(), deleted0 = atomic_load(&h->stats.retire_blobs_deleted);
    size_t swept = 0;
    for (size_t at = 0; at < s.n && hs_healer_leading(h); at += RETIRE_GROUP)
        swept += sweep_group(h, &s.v[at], HS_MIN((size_t)RETIRE_GROUP, s.n - at));
    int64_t left_blobs = 0;
    for (size_t i = 0; i < s.n; i++)
        if (!s.v[i].dropped)
            left_blobs += (int64_t)s.v[i].r.n_blobs;
    atomic_store(&h->stats.retire_pending_records, (long long)(s.n - swept));
    atomic_store(&h->stats.retire_pending_blobs, (long long)left_blobs);
    if (s.n > 0)
        HS_LOG_INFO("retire_pass", "due=%zu swept=%zu blobs_deleted=%lld ms=%" PRId64, s.n, swept,
                    (long long)atomic_load(&h->stats.retire_blobs_deleted) - deleted0,
                    hs_clock_mono_ms() - t0);
    atomic_fetch_add(&h->stats.retire_passes, 1);
out:
    scan_release(&s);
    return err;
}
