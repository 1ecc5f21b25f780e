/* repair.c - the repair primitive and the repair/ queue. hs_healer_repair_object brings one
 * object back to full redundancy: it reads the manifest, asks every blob's node about it (HEAD,
 * in parallel: length and CRC must match the manifest), then per segment copies a missing
 * replica from a healthy one or reconstructs missing shards from any k (ISA-L), always under
 * the SAME blob id, onto the node the manifest names when it is live, or onto a new node chosen
 * by placement when that node is gone past node_grace (then the manifest is updated by a fenced
 * compare-and-swap, move.c). Blobs are immutable and a PUT of an identical blob is a no-op, so
 * a healer killed at any point leaves nothing worse: at most an unreferenced copy (GC's).
 *
 * hs_healer_repair_pass takes a batch of repair/ marks, checks them all, repairs the ones with
 * the least remaining redundancy first (repair_concurrency at a time), and deletes a mark only
 * when its object is fully redundant, comparing the mark's mod_revision (a writer may have
 * marked it again meanwhile) and the leader fence. */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "healer/repair_int.h"
#include "hs/buf.h"
#include "hs/clock.h"
#include "hs/codec.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define LOG_EVERY_MS 1000 /* per call site: repeated failures would flood the log */
#define MARK_BATCH   512  /* marks checked per pass; the rest wait for the next pass */
#define HEAD_FANOUT  64   /* HEADs in flight per object */

enum bstate {
    B_OK = 0,  /* present, length and CRC as the manifest says */
    B_MISSING, /* node live, blob absent (or quarantined): rewrite it there */
    B_BAD,     /* node live, a blob with this id but other length/CRC: delete, rewrite */
    B_GONE,    /* node absent past node_grace: write it on a new node */
    B_WAIT,    /* node absent within grace, or unreachable: cannot tell now */
};

/* One object as checked. */
struct obj {
    char *key;           /* heap */
    const char *suspect; /* only blobs on this node are HEADed (borrowed); NULL = all */
    int64_t mark_rev;    /* mod_revision of repair/<key>; 0 = none */
    bool absent;         /* no manifest */
    struct hs_manifest man;
    int64_t meta_rev;
    uint8_t *st; /* enum bstate per blob, flat in part/segment/blob order (heap) */
    size_t n_blobs;
    int redundancy;
    bool all_ok;
    enum hs_err load_err;
};

/* Logs a warning or error from inside the repair loops at most once per LOG_EVERY_MS per call
 * site, with the number of lines dropped since the last one. */
#define LOG_LIMITED(lvl, evt, fmt, ...)                                                            \
    do {                                                                                           \
        static atomic_llong last_ms_, dropped_;                                                    \
        long long now_ = hs_clock_mono_ms(), prev_ = atomic_load(&last_ms_);                       \
        if (now_ - prev_ >= LOG_EVERY_MS &&                                                        \
            atomic_compare_exchange_strong(&last_ms_, &prev_, now_))                               \
            HS_LOG(lvl, evt, fmt " suppressed=%lld", __VA_ARGS__, atomic_exchange(&dropped_, 0));  \
        else                                                                                       \
            atomic_fetch_add(&dropped_, 1);                                                        \
    } while (0)

/* ---- state ---- */

struct hs_healer_repair *hs_healer_repair_state(struct hs_healer *h)
{
    if (!h->repair) {
        struct hs_healer_repair *st = hs_xcalloc(1, sizeof *st);
        hs_healer_throttle_init(&st->throttle, h->opts.repair_bytes_per_s);
        st->throttle.slept_ms = &h->stats.repair_throttle_ms;
        pthread_mutex_init(&st->mu, NULL);
        h->repair = st;
    }
    return h->repair;
}

void hs_healer_repair_free(struct hs_healer *h)
{
    struct hs_healer_repair *st = h->repair;
    if (!st)
        return;
    for (size_t i = 0; i < st->n_absent; i++)
        free(st->absent[i].node_id);
    free(st->absent);
    for (size_t i = st->next_cand; i < st->n_cands; i++) { /* the ones before are freed */
        free(st->cands[i].key);
        free(st->cands[i].suspect);
    }
    free(st->cands);
    hs_healer_set_release(&st->cand_keys);
    hs_healer_audit_free(st->audit);
    free(st->mark_cursor);
    hs_healer_throttle_release(&st->throttle);
    pthread_mutex_destroy(&st->mu);
    free(st);
    h->repair = NULL;
}

const char *hs_healer_live_url(const struct hs_healer_live *live, const char *node_id)
{
    size_t lo = 0, hi = live->n; /* sorted by id */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(live->v[mid].id, node_id);
        if (c == 0)
            return live->v[mid].url;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- walking a manifest's blobs (the rule itself: rules.c) ---- */

static bool state_ok(void *ctx, const struct hs_meta_blob_ref *b)
{
    (void)b;
    const uint8_t **cursor = ctx; /* walks the flat state array in the same order */
    return *(*cursor)++ == B_OK;
}

static void obj_score(struct obj *o)
{
    const uint8_t *cursor = o->st;
    struct hs_healer_redundancy r;
    hs_healer_redundancy_of(&o->man, state_ok, &cursor, &r);
    o->redundancy = r.spare;
    o->all_ok = r.health == HS_HEALER_FULL;
}

static void obj_release(struct obj *o)
{
    free(o->key);
    hs_manifest_release(&o->man);
    free(o->st);
}

/* ---- checking an object ---- */

static void head_results(struct hs_http_call *calls, struct hs_meta_blob_ref **refs, size_t n,
                         uint8_t **sts)
{
    for (size_t i = 0; i < n; i++) {
        const struct hs_http_call *c = &calls[i];
        const struct hs_meta_blob_ref *b = refs[i];
        if (c->err == HS_OK)
            *sts[i] = c->blob_len == b->len_bytes && c->blob_crc == b->crc32c ? B_OK : B_BAD;
        else if (c->err == HS_ENOENT || c->err == HS_ECORRUPT)
            *sts[i] = B_MISSING; /* ECORRUPT: the node has just quarantined it */
        else
            *sts[i] = B_WAIT;
    }
}

/* Classifies every blob: not live → gone or wait; live → HEAD (batched fan-out). */
static void obj_check(struct hs_healer *h, const struct hs_healer_live *live, struct obj *o)
{
    struct hs_part *parts[HS_HEALER_MAX_PARTS];
    size_t np = hs_healer_parts(&o->man, parts);
    o->n_blobs = 0;
    for (size_t p = 0; p < np; p++)
        for (size_t s = 0; s < parts[p]->n_segments; s++)
            o->n_blobs += parts[p]->segments[s].n_blobs;
    o->st = hs_xcalloc(o->n_blobs ? o->n_blobs : 1, 1);
    struct hs_http_call calls[HEAD_FANOUT];
    struct hs_meta_blob_ref *refs[HEAD_FANOUT];
    uint8_t *sts[HEAD_FANOUT];
    size_t n = 0, flat = 0;
    struct hs_http_client *client = hs_healer_blob_client(h);
    for (size_t p = 0; p < np; p++) {
        for (size_t s = 0; s < parts[p]->n_segments; s++) {
            struct hs_segment *seg = &parts[p]->segments[s];
            for (size_t b = 0; b < seg->n_blobs; b++, flat++) {
                struct hs_meta_blob_ref *r = &seg->blobs[b];
                const char *url = hs_healer_live_url(live, r->node_id);
                if (!url) {
                    o->st[flat] = hs_healer_node_gone(h, r->node_id) ? B_GONE : B_WAIT;
                    continue;
                }
                if (o->suspect && strcmp(r->node_id, o->suspect) != 0) {
                    /* presumed healthy: a source is verified end to end when fetched, and
                     * one that fails is marked missing and the next one tried */
                    o->st[flat] = B_OK;
                    continue;
                }
                calls[n] =
                    (struct hs_http_call){.op = HS_HTTP_OP_HEAD, .base_url = url, .id = r->blob_id};
                refs[n] = r;
                sts[n] = &o->st[flat];
                if (++n == HEAD_FANOUT) {
                    hs_http_client_run(client, calls, n);
                    head_results(calls, refs, n, sts);
                    n = 0;
                }
            }
        }
    }
    if (n > 0) {
        hs_http_client_run(client, calls, n);
        head_results(calls, refs, n, sts);
    }
    obj_score(o);
}

/* Reads meta/<key> and checks its blobs. o->key and o->mark_rev are set by the caller. */
static enum hs_err obj_load(struct hs_healer *h, const struct hs_healer_live *live, struct obj *o)
{
    char *mkey = NULL;
    enum hs_err err = hs_meta_key_meta(o->key, &mkey);
    if (err != HS_OK)
        return err;
    struct hs_etcd_kvs kvs = {0};
    err = hs_etcd_get(h->etcd, mkey, &kvs);
    free(mkey);
    if (err != HS_OK)
        return err;
    if (kvs.n == 0) {
        o->absent = true; /* deleted: nothing left to repair */
        o->all_ok = true;
        o->redundancy = INT_MAX;
        goto out;
    }
    char why[160];
    err = hs_manifest_decode(kvs.kvs[0].value, kvs.kvs[0].value_len, &o->man, why, sizeof why);
    if (err != HS_OK) {
        hs_healer_unreadable(h, HS_HEALER_PASS_REPAIR, o->key, why);
        goto out;
    }
    o->meta_rev = kvs.kvs[0].mod_revision;
    obj_check(h, live, o);
out:
    hs_etcd_kvs_release(&kvs);
    return err;
}

/* ---- rewriting a segment ---- */

struct seg_ctx {
    struct hs_healer *h;
    const struct hs_healer_live *live;
    const char *key;
    struct hs_part *part;
    struct hs_segment *seg;
    uint8_t *st; /* this segment's states */
    struct hs_healer_obj_result *res;
};

static bool wants_rewrite(uint8_t s)
{
    return s == B_MISSING || s == B_BAD || s == B_GONE;
}

/* Where blob i goes: its own node when live (missing/bad), a new node when gone. NULL: skip. */
static const char *target_url(struct seg_ctx *c, size_t i, const char **taken, const char **node)
{
    struct hs_meta_blob_ref *b = &c->seg->blobs[i];
    if (c->st[i] == B_MISSING || c->st[i] == B_BAD) {
        *node = b->node_id;
        return hs_healer_live_url(c->live, b->node_id);
    }
    if (c->st[i] != B_GONE)
        return NULL;
    const char *to = NULL;
    if (hs_healer_move_target(c->live, c->key, taken, c->seg->n_blobs, &to) != HS_OK) {
        LOG_LIMITED(HS_LOG_WARN, "repair_no_target", "obj='%s' blob=%s from=%s", c->key, b->blob_id,
                    b->node_id);
        return NULL;
    }
    taken[i] = to; /* the next gone blob of this segment must go elsewhere */
    *node = to;
    return hs_healer_live_url(c->live, to);
}

/* PUTs payloads[i] (for every blob with a target) in parallel; updates states and the
 * manifest (moved blobs). payloads[i] NULL = not rewritten. false when something failed. */
static bool put_blobs(struct seg_ctx *c, uint8_t *const *payloads)
{
    size_t nb = c->seg->n_blobs;
    const char **taken = hs_xcalloc(nb, sizeof *taken);
    const char **node = hs_xcalloc(nb, sizeof *node);
    struct hs_http_call *calls = hs_xcalloc(nb, sizeof *calls);
    size_t *idx = hs_xcalloc(nb, sizeof *idx);
    size_t n = 0;
    bool ok = true;
    for (size_t i = 0; i < nb; i++)
        taken[i] = c->seg->blobs[i].node_id;
    struct hs_http_client *client = hs_healer_blob_client(c->h);
    for (size_t i = 0; i < nb; i++) {
        if (!wants_rewrite(c->st[i]) || (!payloads[i] && c->seg->blobs[i].len_bytes > 0))
            continue;
        const char *url = target_url(c, i, taken, &node[i]);
        if (!url) {
            ok = false;
            continue;
        }
        struct hs_meta_blob_ref *b = &c->seg->blobs[i];
        if (c->st[i] == B_BAD) /* same id, other bytes: never referenced content, replace it */
            hs_http_client_delete(client, url, b->blob_id);
        calls[n] = (struct hs_http_call){.op = HS_HTTP_OP_PUT,
                                         .base_url = url,
                                         .id = b->blob_id,
                                         .data = payloads[i],
                                         .len = (size_t)b->len_bytes,
                                         .have_crc = true,
                                         .crc = b->crc32c};
        idx[n++] = i;
    }
    if (n > 0)
        hs_http_client_run(client, calls, n);
    for (size_t j = 0; j < n; j++) {
        size_t i = idx[j];
        struct hs_meta_blob_ref *b = &c->seg->blobs[i];
        if (calls[j].err != HS_OK) {
            LOG_LIMITED(HS_LOG_WARN, "repair_put_failed", "obj='%s' blob=%s node=%s err=%s", c->key,
                        b->blob_id, node[i], hs_err_name(calls[j].err));
            ok = false;
            continue;
        }
        c->res->blobs++;
        c->res->bytes += b->len_bytes;
        if (c->st[i] == B_GONE) {
            HS_LOG_INFO("blob_moved", "obj='%s' blob=%s from=%s to=%s", c->key, b->blob_id,
                        b->node_id, node[i]);
            hs_meta_blob_ref_set(b, b->blob_id, node[i], b->len_bytes, b->crc32c);
            c->res->moved++;
        }
        c->st[i] = B_OK;
    }
    free(idx);
    free(calls);
    free(node);
    free(taken);
    return ok;
}

/* GETs blob i into out (sized by the manifest); a failure marks the source missing. */
static bool fetch(struct seg_ctx *c, size_t i, struct hs_buf *out)
{
    struct hs_meta_blob_ref *b = &c->seg->blobs[i];
    const char *url = hs_healer_live_url(c->live, b->node_id);
    uint32_t crc = 0;
    enum hs_err err =
        url ? hs_http_client_get(hs_healer_blob_client(c->h), url, b->blob_id, out, &crc)
            : HS_EUNAVAIL;
    if (err == HS_OK && (crc != b->crc32c || (int64_t)out->len != b->len_bytes))
        err = HS_ECORRUPT; /* intact on the node, but not what the manifest recorded */
    if (err != HS_OK) {
        LOG_LIMITED(HS_LOG_WARN, "repair_source_failed", "obj='%s' blob=%s node=%s err=%s", c->key,
                    b->blob_id, b->node_id, hs_err_name(err));
        c->st[i] = err == HS_ENOENT || err == HS_ECORRUPT ? B_MISSING : B_WAIT;
        hs_buf_reset(out);
        return false;
    }
    return true;
}

static bool repair_replicated(struct seg_ctx *c)
{
    struct hs_segment *seg = c->seg;
    struct hs_buf data;
    hs_buf_init(&data, (size_t)HS_MAX(seg->blobs[0].len_bytes, 1));
    bool have = seg->blobs[0].len_bytes == 0;
    for (size_t i = 0; i < seg->n_blobs && !have; i++)
        if (c->st[i] == B_OK)
            have = fetch(c, i, &data);
    bool ok = false;
    if (!have) {
        LOG_LIMITED(HS_LOG_ERROR, "repair_no_source", "obj='%s' segment_crc=%08x", c->key,
                    seg->crc32c);
    } else {
        uint8_t **payloads = hs_xcalloc(seg->n_blobs, sizeof *payloads);
        size_t writes = 0;
        for (size_t i = 0; i < seg->n_blobs; i++)
            if (wants_rewrite(c->st[i])) {
                payloads[i] = data.data;
                writes++;
            }
        hs_healer_throttle_take(&hs_healer_repair_state(c->h)->throttle,
                                (int64_t)(data.len * (writes + 1)), &c->h->stop);
        ok = put_blobs(c, payloads);
        free(payloads);
    }
    hs_buf_release(&data);
    return ok;
}

/* Fetches k healthy shards (lowest indices first, replacing any that fail). Returns the mask
 * of shards fetched; fewer than k bits set means the segment cannot be rebuilt now. */
static uint32_t fetch_k(struct seg_ctx *c, struct hs_buf *bufs, uint32_t k)
{
    uint32_t have = 0, got = 0;
    for (size_t i = 0; i < c->seg->n_blobs && got < k; i++) {
        if (c->st[i] != B_OK)
            continue;
        if (fetch(c, i, &bufs[i])) {
            have |= 1u << i;
            got++;
        }
    }
    return have;
}

static bool repair_ec(struct seg_ctx *c)
{
    struct hs_segment *seg = c->seg;
    uint32_t k = c->part->k, m = c->part->m, n = k + m;
    size_t shard_len = (size_t)seg->blobs[0].len_bytes;
    struct hs_buf bufs[HS_CODEC_MAX_SHARDS];
    uint8_t *shards[HS_CODEC_MAX_SHARDS] = {0};
    uint8_t *payloads[HS_CODEC_MAX_SHARDS] = {0};
    for (uint32_t i = 0; i < n; i++)
        hs_buf_init(&bufs[i], HS_MAX(shard_len, 1));
    bool ok = false;
    struct hs_codec *codec = NULL;
    uint32_t present = fetch_k(c, bufs, k), want = 0;
    if ((uint32_t)__builtin_popcount(present) < k) {
        LOG_LIMITED(HS_LOG_ERROR, "repair_too_few_shards", "obj='%s' k=%u present=%d", c->key, k,
                    __builtin_popcount(present));
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (present & (1u << i)) {
            shards[i] = bufs[i].data;
        } else if (wants_rewrite(c->st[i])) {
            want |= 1u << i;
            if (hs_buf_reserve(&bufs[i], shard_len) != HS_OK)
                goto out;
            bufs[i].len = shard_len;
            shards[i] = bufs[i].data;
        }
    }
    if (shard_len > 0 && want) {
        if (hs_codec_new(k, m, &codec) != HS_OK ||
            hs_codec_reconstruct(codec, shard_len, shards, present, want) != HS_OK)
            goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!(want & (1u << i)))
            continue;
        uint32_t crc = hs_crc32c(0, shards[i], shard_len);
        if (crc != seg->blobs[i].crc32c) {
            /* the sources agree with their own CRCs but not with each other: never write a
             * shard we cannot vouch for */
            LOG_LIMITED(HS_LOG_ERROR, "repair_rebuilt_crc_mismatch",
                        "obj='%s' blob=%s want=%08x got=%08x", c->key, seg->blobs[i].blob_id,
                        seg->blobs[i].crc32c, crc);
            goto out;
        }
        payloads[i] = shards[i];
    }
    hs_healer_throttle_take(&hs_healer_repair_state(c->h)->throttle,
                            (int64_t)(shard_len * ((size_t)k + (size_t)__builtin_popcount(want))),
                            &c->h->stop);
    ok = put_blobs(c, payloads);
out:
    hs_codec_free(codec);
    for (uint32_t i = 0; i < n; i++)
        hs_buf_release(&bufs[i]);
    return ok;
}

/* ---- one object ---- */

/* Rewrites what is missing; updates the manifest when blobs moved. */
static enum hs_err obj_fix(struct hs_healer *h, const struct hs_healer_live *live, struct obj *o,
                           struct hs_healer_obj_result *res)
{
    struct hs_part *parts[HS_HEALER_MAX_PARTS];
    size_t np = hs_healer_parts(&o->man, parts), flat = 0;
    bool ok = true;
    for (size_t p = 0; p < np; p++) {
        for (size_t s = 0; s < parts[p]->n_segments; s++) {
            struct hs_segment *seg = &parts[p]->segments[s];
            struct seg_ctx c = {.h = h,
                                .live = live,
                                .key = o->key,
                                .part = parts[p],
                                .seg = seg,
                                .st = &o->st[flat],
                                .res = res};
            flat += seg->n_blobs;
            bool needs = false;
            for (size_t b = 0; b < seg->n_blobs; b++)
                needs = needs || wants_rewrite(c.st[b]);
            if (!needs)
                continue;
            if (!hs_healer_leading(h))
                return HS_EUNAVAIL;
            bool seg_ok = parts[p]->kind == HS_PART_EC ? repair_ec(&c) : repair_replicated(&c);
            ok = ok && seg_ok;
        }
    }
    enum hs_err err = HS_OK;
    if (res->moved > 0) {
        err = hs_healer_manifest_cas(h, &o->man, o->meta_rev);
        if (err != HS_OK)
            res->moved = 0; /* not recorded: the copies are orphans */
    }
    obj_score(o);
    res->failed = !ok || err != HS_OK;
    return err;
}

/* Deletes repair/<key> if it is still the mark we saw (mod_revision) and we still lead. */
static enum hs_err mark_delete(struct hs_healer *h, const char *key, int64_t mark_rev)
{
    char *rkey = NULL;
    enum hs_err err = hs_meta_key_repair(key, &rkey);
    if (err != HS_OK)
        return err;
    struct hs_etcd_cmp cmps[2] = {
        {.target = HS_ETCD_CMP_MOD, .result = HS_ETCD_EQUAL, .key = rkey, .number = mark_rev}};
    hs_healer_fence(h, &cmps[1]);
    struct hs_etcd_op del = {.type = HS_ETCD_OP_DELETE, .key = rkey};
    struct hs_etcd_txn txn = {.cmps = cmps, .n_cmps = 2, .success = &del, .n_success = 1};
    struct hs_etcd_txn_result res = {0};
    err = hs_etcd_txn(h->etcd, &txn, &res);
    if (err == HS_OK && !res.succeeded)
        err = HS_ECONFLICT; /* marked again meanwhile, or no longer leader: keep it */
    if (err == HS_OK) {
        atomic_fetch_add(&h->stats.repair_marks_removed, 1);
        HS_LOG_INFO("repair_mark_removed", "obj='%s'", key);
    }
    hs_etcd_txn_result_release(&res);
    free(rkey);
    return err;
}

/* Fix a loaded object, count it, and drop its mark when it is whole. */
static enum hs_err obj_finish(struct hs_healer *h, const struct hs_healer_live *live, struct obj *o,
                              struct hs_healer_obj_result *res)
{
    memset(res, 0, sizeof *res);
    enum hs_err err = HS_OK;
    /* Work only when some blob can be rewritten now; blobs on nodes within their grace period
     * just wait (neither work nor failure). */
    bool had_work = false;
    for (size_t i = 0; !o->absent && i < o->n_blobs; i++)
        had_work = had_work || wants_rewrite(o->st[i]);
    if (had_work)
        err = obj_fix(h, live, o, res);
    res->absent = o->absent;
    res->redundant = o->all_ok;
    atomic_fetch_add(&h->stats.repaired_blobs, res->blobs);
    atomic_fetch_add(&h->stats.repaired_bytes, res->bytes);
    atomic_fetch_add(&h->stats.moved_blobs, res->moved);
    if (had_work && res->redundant) {
        atomic_fetch_add(&h->stats.repaired_objects, 1);
        HS_LOG_INFO("object_repaired",
                    "obj='%s' blobs=%" PRId64 " bytes=%" PRId64 " moved=%" PRId64, o->key,
                    res->blobs, res->bytes, res->moved);
    } else if (had_work && res->failed) {
        atomic_fetch_add(&h->stats.repair_failures, 1);
    }
    if (res->redundant && o->mark_rev > 0 && hs_healer_leading(h)) {
        enum hs_err merr = mark_delete(h, o->key, o->mark_rev);
        if (err == HS_OK && merr != HS_OK)
            err = merr;
    }
    return err;
}

enum hs_err hs_healer_repair_object(struct hs_healer *h, const struct hs_healer_live *live,
                                    const char *key, int64_t mark_rev, const char *suspect,
                                    struct hs_healer_obj_result *res)
{
    struct obj o = {.key = hs_xstrdup(key), .mark_rev = mark_rev, .suspect = suspect};
    hs_manifest_init(&o.man);
    enum hs_err err = obj_load(h, live, &o);
    if (err == HS_OK)
        err = obj_finish(h, live, &o, res);
    obj_release(&o);
    return err;
}

/* ---- the repair/ queue ---- */

struct marks {
    struct obj *v;
    size_t n, cap;
    size_t skip;        /* marks at or before the cursor, skipped this pass */
    const char *cursor; /* resume after this object key (NULL: from the start) */
    size_t total;
};

static bool collect_mark(void *ctx, const struct hs_etcd_kv *kv)
{
    struct marks *ms = ctx;
    const char *key = hs_meta_key_strip(kv->key, HS_META_PREFIX_REPAIR);
    if (!key)
        return true;
    ms->total++;
    if (ms->cursor && strcmp(key, ms->cursor) <= 0) {
        ms->skip++;
        return true;
    }
    if (ms->n == MARK_BATCH)
        return true; /* count the rest for the backlog, take them next pass */
    if (ms->n == ms->cap) {
        ms->cap = ms->cap ? ms->cap * 2 : 32;
        ms->v = hs_xrealloc(ms->v, ms->cap * sizeof *ms->v);
    }
    struct obj *o = &ms->v[ms->n++];
    memset(o, 0, sizeof *o);
    o->key = hs_xstrdup(key);
    o->mark_rev = kv->mod_revision;
    hs_manifest_init(&o->man);
    return true;
}

struct pass_ctx {
    struct hs_healer *h;
    const struct hs_healer_live *live;
    struct obj *objs;
};

static void job_load(void *ctx, size_t i)
{
    struct pass_ctx *pc = ctx;
    if (hs_healer_leading(pc->h))
        pc->objs[i].load_err = obj_load(pc->h, pc->live, &pc->objs[i]);
    else
        pc->objs[i].load_err = HS_EUNAVAIL;
}

static void job_fix(void *ctx, size_t i)
{
    struct pass_ctx *pc = ctx;
    struct hs_healer_obj_result res;
    if (pc->objs[i].load_err == HS_OK && hs_healer_leading(pc->h))
        obj_finish(pc->h, pc->live, &pc->objs[i], &res);
}

static int by_redundancy(const void *a, const void *b)
{
    const struct obj *x = a, *y = b;
    return hs_healer_repair_order(x->redundancy, x->key, y->redundancy, y->key);
}

enum hs_err hs_healer_repair_pass(struct hs_healer *h)
{
    struct hs_healer_repair *st = hs_healer_repair_state(h);
    struct marks ms = {.cursor = st->mark_cursor};
    enum hs_err err =
        hs_healer_range_at(h, HS_META_PREFIX_REPAIR, 0, 1000, true, collect_mark, &ms, NULL);
    if (err == HS_OK && ms.n == 0 && ms.skip > 0) {
        /* wrapped around: start again from the first mark */
        free(st->mark_cursor);
        st->mark_cursor = NULL;
        ms = (struct marks){.cursor = NULL};
        err = hs_healer_range_at(h, HS_META_PREFIX_REPAIR, 0, 1000, true, collect_mark, &ms, NULL);
    }
    if (err != HS_OK)
        goto out;
    atomic_store(&h->stats.repair_backlog, (long long)ms.total);
    if (ms.n == 0)
        goto out;
    struct hs_healer_live live = {0};
    hs_healer_nodes_get(h, &live.v, &live.n);
    hs_healer_absent_refresh(h, &live);
    struct pass_ctx pc = {.h = h, .live = &live, .objs = ms.v};
    /* Check every marked object first (HEADs only), then repair the most endangered first. */
    hs_healer_pool_run(h->opts.repair_concurrency, ms.n, job_load, &pc);
    qsort(ms.v, ms.n, sizeof *ms.v, by_redundancy);
    hs_healer_pool_run(h->opts.repair_concurrency, ms.n, job_fix, &pc);
    /* the batch was in key order before sorting: the cursor is its largest key */
    const char *last = ms.v[0].key;
    for (size_t i = 1; i < ms.n; i++)
        if (strcmp(ms.v[i].key, last) > 0)
            last = ms.v[i].key;
    free(st->mark_cursor);
    st->mark_cursor = ms.total > MARK_BATCH ? hs_xstrdup(last) : NULL;
    hs_healer_nodes_free(live.v, live.n);
out:
    for (size_t i = 0; i < ms.n; i++)
        obj_release(&ms.v[i]);
    free(ms.v);
    return err;
}
