/* upload.c - the multipart upload pass (docs/healer.md "Multipart uploads"): ends every upload
 * that is no longer OPEN and abandons those older than upload_max_age_ms.
 *
 * For each upload record (upload/, upload.h), oldest-first within each key:
 *   - OPEN and created more than upload_max_age_ms ago: marked ABORTED by a fenced transaction
 *     compared on its mod_revision (from then on no UploadPart or Complete can commit: both
 *     compare that revision), then handled as ABORTED;
 *   - ABORTED or COMPLETED (a gateway that aborted or completed it died before its own
 *     clean-up, or is still doing it): hs_upload_retire_parts, fenced: the part records become
 *     retire records (the sweeper deletes the blobs no manifest references after the retire
 *     grace), then the upload record is deleted.
 * A compare that fails (a gateway cleaning up the same upload, a new leader) leaves the rest
 * for the next pass. UPLOAD_PASS_MAX uploads per pass, so the other passes get their turn; the
 * records are read at most every min(upload_max_age_ms / 10, 10 s), not on every pass. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "healer/healer.h"
#include "healer/leadership.h"
#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/upload.h"
#include "hs/banned.h"

#define UPLOAD_PAGE        200
#define UPLOAD_PASS_MAX    64    /* uploads ended per pass */
#define UPLOAD_INTERVAL_MS 10000 /* longest pause between two reads of every upload record */

struct due {
    char *key;
    int64_t rev;
    struct hs_upload_record rec;
};

struct scan {
    struct hs_healer *h;
    int64_t now_ms;
    struct due *v;
    size_t n, cap;
};

static bool on_upload(void *ctx, const struct hs_etcd_kv *kv)
{
    struct scan *s = ctx;
    struct hs_upload_record rec;
    hs_upload_record_init(&rec);
    char why[160] = "";
    if (hs_upload_record_decode(kv->value, kv->value_len, &rec, why, sizeof why) != HS_OK) {
        hs_healer_unreadable(s->h, HS_HEALER_PASS_GC, kv->key, why);
        return true;
    }
    if (rec.state == HS_UPLOAD_OPEN && s->now_ms - rec.created_ms < s->h->opts.upload_max_age_ms) {
        hs_upload_record_release(&rec);
        return true;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = hs_xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = (struct due){.key = hs_xstrdup(kv->key), .rev = kv->mod_revision, .rec = rec};
    return s->n < UPLOAD_PASS_MAX;
}

/* Fenced OPEN -> ABORTED; true when done (d->rev is the new revision). */
static bool abandon(struct hs_healer *h, struct due *d)
{
    struct hs_upload_record r = d->rec;
    r.state = HS_UPLOAD_ABORTED;
    r.state_ms = HS_MAX(hs_clock_wall_ms(), r.created_ms);
    char *json = NULL, why[160] = "";
    size_t len = 0;
    if (hs_upload_record_encode(&r, &json, &len, why, sizeof why) != HS_OK)
        HS_BUG("upload record %s: %s", r.id, why);
    struct hs_etcd_cmp cmps[2] = {
        {.target = HS_ETCD_CMP_MOD, .result = HS_ETCD_EQUAL, .key = d->key, .number = d->rev}};
    hs_healer_fence(h, &cmps[1]);
    struct hs_etcd_op put = {
        .type = HS_ETCD_OP_PUT, .key = d->key, .value = json, .value_len = len};
    struct hs_etcd_op fail = {.type = HS_ETCD_OP_RANGE, .key = h->leader.key};
    struct hs_etcd_txn t = {cmps, 2, &put, 1, &fail, 1};
    struct hs_etcd_txn_result res = {0};
    bool ok = false;
    if (hs_etcd_txn(h->etcd, &t, &res) == HS_OK) {
        ok = res.succeeded;
        if (ok) {
            d->rev = res.revision;
            d->rec.state = HS_UPLOAD_ABORTED;
            d->rec.state_ms = r.state_ms;
            atomic_fetch_add(&h->stats.uploads_abandoned, 1);
            HS_LOG_INFO("upload_abandoned", "upload=%s key='%s' age_ms=%" PRId64, r.id, r.key,
                        r.state_ms - r.created_ms);
        } else if (hs_healer_fence_failed(h, &res)) {
            hs_healer_fenced_out(h);
            HS_LOG_WARN("fenced_out", "healer=%s op=upload_abandon key='%s'", h->opts.healer_id,
                        r.key);
        }
    }
    hs_etcd_txn_result_release(&res);
    free(json);
    return ok;
}

static void end_upload(struct hs_healer *h, struct due *d)
{
    if (d->rec.state == HS_UPLOAD_OPEN && !abandon(h, d))
        return;
    if (!hs_healer_still_leader(h))
        return;
    struct hs_etcd_cmp fence;
    hs_healer_fence(h, &fence);
    size_t parts = 0;
    enum hs_err err = hs_upload_retire_parts(h->etcd, d->key, d->rev, &d->rec, &fence, 1, &parts);
    atomic_fetch_add(&h->stats.upload_parts_retired, (long long)parts);
    if (err == HS_OK) {
        atomic_fetch_add(&h->stats.uploads_ended, 1);
        HS_LOG_INFO("upload_ended", "upload=%s key='%s' state=%s parts=%zu", d->rec.id, d->rec.key,
                    hs_upload_state_name(d->rec.state), parts);
    } else {
        HS_LOG_WARN("upload_end_failed", "upload=%s key='%s' parts=%zu err=%s", d->rec.id,
                    d->rec.key, parts, hs_err_name(err));
    }
}

/* Every upload record is read: not on every pass (a busy cluster has many open uploads), but
 * at least every UPLOAD_INTERVAL_MS and every upload_max_age_ms / 10. */
static bool upload_due(struct hs_healer *h)
{
    int64_t interval = HS_MIN(h->opts.upload_max_age_ms / 10, (int64_t)UPLOAD_INTERVAL_MS);
    int64_t now = hs_clock_mono_ms();
    if (h->last_upload_mono_ms != 0 && now - h->last_upload_mono_ms < interval)
        return false;
    h->last_upload_mono_ms = now;
    return true;
}

enum hs_err hs_healer_upload_pass(struct hs_healer *h)
{
    if (!upload_due(h))
        return HS_OK;
    struct scan s = {.h = h, .now_ms = hs_clock_wall_ms()};
    enum hs_err err =
        hs_healer_range_at(h, HS_META_PREFIX_UPLOAD, 0, UPLOAD_PAGE, false, on_upload, &s, NULL);
    for (size_t i = 0; err == HS_OK && i < s.n && hs_healer_leading(h); i++)
        end_upload(h, &s.v[i]);
    for (size_t i = 0; i < s.n; i++) {
        free(s.v[i].key);
        hs_upload_record_release(&s.v[i].rec);
    }
    free(s.v);
    if (err != HS_OK)
        HS_LOG_WARN("upload_pass_failed", "err=%s", hs_err_name(err));
    return err;
}
