/* leadership.c - the election and fencing (leadership.h). A healer grants its own lease (TTL
 * lease_ttl_s, kept alive at TTL/3 by a keeper), campaigns on healer/leader, and while it leads
 * calls the step function it was given (the pass loop, passes.c) again and again. Leadership
 * ends when the keeper loses the lease, when etcd says the leader key is no longer ours, or on
 * stop; then the passes stop at their next check and the healer campaigns again with a new
 * lease. On stop it resigns and revokes its lease, so a standby takes over at once rather than
 * after the TTL. Two leaders never act at once: every destructive etcd txn carries
 * hs_healer_fence. This file knows nothing of the passes.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "healer/leadership.h"
#include "hs/clock.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000

static void set_cancel(struct hs_healer *h, int v)
{
    if (v)
        hs_stop_set(&h->cancel);
    else
        hs_stop_clear(&h->cancel);
}

/* h->stop is set by the signal thread (main.c): read it atomically. */
static bool stopping(const struct hs_healer *h)
{
    return hs_stop_is_set(&h->stop);
}

void hs_healer_fence(const struct hs_healer *h, struct hs_etcd_cmp *out)
{
    *out = (struct hs_etcd_cmp){.target = HS_ETCD_CMP_CREATE,
                                .result = HS_ETCD_EQUAL,
                                .key = h->leader.key,
                                .number = h->leader.rev};
}

bool hs_healer_leading(const struct hs_healer *h)
{
    return atomic_load(&h->leading) && !stopping(h);
}

void hs_healer_fenced_out(struct hs_healer *h)
{
    atomic_fetch_add(&h->stats.fence_failures, 1);
    atomic_store(&h->leading, false);
    atomic_store(&h->stats.is_leader, 0);
}

bool hs_healer_fence_failed(const struct hs_healer *h, const struct hs_etcd_txn_result *res)
{
    if (res->n_ranges < 1)
        return false;
    const struct hs_etcd_kvs *k = &res->ranges[0];
    return k->n == 0 || k->kvs[0].create_revision != h->leader.rev;
}

bool hs_healer_fenced_delete(struct hs_healer *h, const char *key, int64_t mod_rev, const char *op)
{
    struct hs_etcd_cmp cmps[2] = {
        {.target = HS_ETCD_CMP_MOD, .result = HS_ETCD_EQUAL, .key = key, .number = mod_rev}};
    hs_healer_fence(h, &cmps[1]);
    struct hs_etcd_op del = {.type = HS_ETCD_OP_DELETE, .key = key};
    struct hs_etcd_op fail = {.type = HS_ETCD_OP_RANGE, .key = h->leader.key};
    struct hs_etcd_txn txn = {.cmps = cmps,
                              .n_cmps = 2,
                              .success = &del,
                              .n_success = 1,
                              .failure = &fail,
                              .n_failure = 1};
    struct hs_etcd_txn_result res = {0};
    bool deleted = false;
    if (hs_etcd_txn(h->etcd, &txn, &res) == HS_OK) {
        deleted = res.succeeded;
        if (!deleted && hs_healer_fence_failed(h, &res)) {
            hs_healer_fenced_out(h);
            HS_LOG_WARN("fenced_out", "healer=%s op=%s key='%s'", h->opts.healer_id, op, key);
        }
    }
    hs_etcd_txn_result_release(&res);
    return deleted;
}

bool hs_healer_still_leader(struct hs_healer *h)
{
    if (!hs_healer_leading(h))
        return false;
    struct hs_etcd_kv kv = {0};
    enum hs_err err = hs_etcd_leader_get(h->etcd, HS_META_KEY_HEALER_LEADER, &kv);
    if (err != HS_OK && err != HS_ENOENT)
        return false; /* unknown: do not act, but do not give up leadership either */
    bool ours =
        err == HS_OK && strcmp(kv.key, h->leader.key) == 0 && kv.create_revision == h->leader.rev;
    if (err == HS_OK)
        hs_etcd_kv_release(&kv);
    if (!ours) {
        atomic_store(&h->leading, false);
        atomic_store(&h->stats.is_leader, 0);
        hs_stop_set(&h->cancel);
        HS_LOG_WARN("leadership_lost", "healer=%s reason=leader_key_changed", h->opts.healer_id);
    }
    return ours;
}

/* Keeper thread: the lease is gone, so is leadership. Only flags: the loop cleans up. */
static void lease_lost(void *ctx, int64_t lease)
{
    struct hs_healer *h = ctx;
    bool was = atomic_exchange(&h->leading, false);
    atomic_store(&h->stats.is_leader, 0);
    set_cancel(h, 1);
    HS_LOG_WARN("lease_lost", "healer=%s lease=%" PRIx64 " was_leader=%d", h->opts.healer_id,
                (uint64_t)lease, was ? 1 : 0);
}

/* Leads until the lease is lost, etcd names someone else, or stop. */
static void lead(struct hs_healer *h, struct hs_etcd_keeper *keeper, hs_healer_step_fn *step)
{
    atomic_store(&h->leading, true);
    atomic_store(&h->stats.is_leader, 1);
    atomic_fetch_add(&h->stats.leader_changes, 1);
    HS_LOG_INFO("leader_elected", "healer=%s key='%s' rev=%" PRId64, h->opts.healer_id,
                h->leader.key, h->leader.rev);
    while (hs_healer_leading(h) && hs_etcd_keeper_alive(keeper))
        step(h);
    bool was = atomic_exchange(&h->leading, false);
    atomic_store(&h->stats.is_leader, 0);
    /* Resign even when the lease looks lost: it is a no-op for a stale key, and when we stop
     * it lets the standby take over at once. */
    hs_etcd_resign(h->etcd, &h->leader);
    HS_LOG_INFO("leader_stepped_down", "healer=%s reason=%s", h->opts.healer_id,
                stopping(h) ? "stop" : (was ? "lease_or_key_lost" : "lease_lost"));
}

/* One round: lease, keeper, campaign, lead. false when the next round should back off. */
static bool election_round(struct hs_healer *h, hs_healer_step_fn *step)
{
    int64_t lease = 0;
    if (hs_etcd_lease_grant(h->etcd, h->opts.lease_ttl_s, &lease) != HS_OK)
        return false;
    struct hs_etcd_keeper *keeper = NULL;
    bool ok = false;
    set_cancel(h, 0);
    if (stopping(h)) /* stop is set before cancel: re-check after clearing cancel (see main.c) */
        goto out;
    if (hs_etcd_keeper_start(h->etcd, lease, h->opts.lease_ttl_s, lease_lost, h, &keeper) != HS_OK)
        goto out;
    HS_LOG_INFO("campaign_started", "healer=%s lease=%" PRIx64, h->opts.healer_id, (uint64_t)lease);
    const char *id = h->opts.healer_id;
    struct hs_etcd_leader won = {0};
    enum hs_err err = hs_etcd_campaign(h->etcd, HS_META_KEY_HEALER_LEADER, lease, id, strlen(id),
                                       &h->cancel, &won);
    if (err == HS_OK) {
        h->leader = won;
        /* A campaign can return after our candidate key died with the lease: lead only if
         * the keeper still holds it (the pass re-checks the key itself). */
        if (!stopping(h) && hs_etcd_keeper_alive(keeper))
            lead(h, keeper, step);
        else
            hs_etcd_resign(h->etcd, &h->leader);
        hs_etcd_leader_release(&h->leader);
        memset(&h->leader, 0, sizeof h->leader);
        ok = true;
    } else {
        ok = err == HS_ETIMEDOUT; /* cancelled: lease lost or stop */
    }
out:
    hs_etcd_keeper_stop(keeper);
    /* Revoke: the leader key (and our candidate key) vanish now, not after the TTL. */
    hs_etcd_lease_revoke(h->etcd, lease);
    return ok;
}

void hs_healer_elect(struct hs_healer *h, hs_healer_step_fn *step)
{
    int64_t backoff_ms = BACKOFF_MIN_MS;
    while (!stopping(h)) {
        /* Even after a good round pause a little: a round that wins and at once loses again
         * (etcd trouble) must not spin on lease grants. */
        bool ok = election_round(h, step);
        backoff_ms = ok ? BACKOFF_MIN_MS : HS_MIN(backoff_ms * 2, BACKOFF_MAX_MS);
        hs_clock_sleep_ms(backoff_ms, &h->stop);
    }
}
