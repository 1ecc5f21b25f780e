/* obj_read_race.c - hedged reads: the first calls of one or two segments run on the thread's
 * node client one at a time (hs_http_client_start/wait), and a segment whose call failed, or
 * whose node has not started answering within a short delay, gets a backup: the next replica,
 * or for EC enough other shards to decode from. The first complete answer wins; the losers are
 * cancelled. A stopped node (SIGSTOP, a stall) then costs a read one hedge delay instead of the
 * whole node timeout until its lease runs out.
 *
 * The delay adapts per node: a high percentile of its recent time to first byte
 * (hs_http_latency_hedge_us), clamped to [HS_RD_HEDGE_MIN_US, min(HS_RD_HEDGE_MAX_US, timeout
 * / 4)]. Hedging waits for the status line only: a node that answers but streams slowly is
 * left alone, so a large segment is never fetched twice because it is large. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_int.h"
#include "gateway/metrics.h"
#include "gateway/obj_read_int.h"
#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

/* One call of the race. */
struct slot {
    size_t seg;          /* index into segs */
    unsigned idx;        /* replica or shard index in the segment's blobs */
    bool running;        /* started, not yet ended */
    bool backup;         /* started by the race, not by prepare */
    bool fired;          /* its hedge delay passed (it triggered a backup once) */
    int64_t hedge_at_ns; /* monotonic */
    struct hs_buf own;   /* replicated backups: their bytes (the first call writes into out) */
};

struct race {
    struct hs_rd *rd;
    struct hs_http_client *c;
    struct hs_rd_seg *segs;
    size_t n_segs;
    const size_t *bases;
    struct hs_http_call *calls;
    size_t n;
    struct slot slots[HS_RD_CALLS_MAX];
    bool force[2];    /* a call of the segment failed: back it up now */
    bool failed[2];   /* some call of the segment failed (a backup's win is degraded) */
    bool finished[2]; /* the segment's race is over */
    bool hedged[2];   /* ec: backups were started (once) */
};

static int64_t hedge_delay_ns(const struct race *r, const char *url)
{
    int64_t max_us =
        HS_MIN((int64_t)HS_RD_HEDGE_MAX_US, hs_gw_opts(r->rd->gw)->node_timeout_ms * 1000 / 4);
    return hs_http_latency_hedge_us(url, HS_RD_HEDGE_DEFAULT_US, HS_RD_HEDGE_MIN_US,
                                    HS_MAX(max_us, (int64_t)HS_RD_HEDGE_MIN_US)) *
           1000;
}

static void start(struct race *r, size_t i, size_t seg, unsigned idx, bool backup)
{
    struct slot *sl = &r->slots[i];
    sl->seg = seg;
    sl->idx = idx;
    sl->running = true;
    sl->backup = backup;
    sl->fired = false;
    sl->hedge_at_ns = hs_clock_mono_ns() + hedge_delay_ns(r, r->calls[i].base_url);
    hs_http_client_start(r->c, &r->calls[i]);
}

static bool is_ec(const struct race *r, size_t seg)
{
    return r->segs[seg].part->kind == HS_PART_EC;
}

/* Replication: the next replica not tried yet, started into its own buffer. */
static void repl_backup(struct race *r, size_t seg)
{
    struct hs_rd_seg *s = &r->segs[seg];
    for (unsigned i = 0; i < s->seg->n_blobs && r->n < (size_t)HS_RD_CALLS_MAX; i++) {
        if ((s->tried & (1u << i)) || !hs_rd_repl_call(r->rd, s, i, &r->calls[r->n]))
            continue;
        struct slot *sl = &r->slots[r->n];
        hs_buf_init(&sl->own, (size_t)s->seg->len_bytes);
        r->calls[r->n].out = &sl->own;
        start(r, r->n++, seg, i, true);
        return;
    }
}

static void ec_backups(struct race *r, size_t seg, int64_t now_ns)
{
    struct hs_rd_seg *s = &r->segs[seg];
    uint32_t running = 0, alive = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct slot *sl = &r->slots[i];
        if (sl->seg != seg || !sl->running)
            continue;
        running |= 1u << sl->idx;
        /* answering, or not late yet: expected to deliver */
        if (r->calls[i].replied || now_ns < sl->hedge_at_ns)
            alive |= 1u << sl->idx;
    }
    unsigned shards[HS_CODEC_MAX_SHARDS];
    size_t max = HS_MIN((size_t)HS_RD_CALLS_MAX - r->n, (size_t)HS_CODEC_MAX_SHARDS);
    size_t nb = hs_rd_ec_backups(r->rd, s, running, alive, &r->calls[r->n], shards, max);
    for (size_t j = 0; j < nb; j++) {
        r->slots[r->n].own = (struct hs_buf){0};
        start(r, r->n++, seg, shards[j], true);
    }
}

static void on_done(struct race *r, size_t i)
{
    struct slot *sl = &r->slots[i];
    struct hs_rd_seg *s = &r->segs[sl->seg];
    sl->running = false;
    if (is_ec(r, sl->seg)) {
        hs_rd_ec_done(r->rd, s, sl->idx, &r->calls[i]);
        if (r->calls[i].err != HS_OK)
            r->force[sl->seg] = r->failed[sl->seg] = true;
        return;
    }
    if (s->ok)
        return;
    /* a backup's bytes replace whatever a cancelled first call left: it is cancelled first */
    if (sl->backup)
        for (size_t j = 0; j < r->n; j++)
            if (r->slots[j].seg == sl->seg && r->slots[j].running && !r->slots[j].backup) {
                hs_http_client_cancel(r->c, &r->calls[j]);
                r->slots[j].running = false;
            }
    const struct hs_buf *src = sl->backup ? &sl->own : s->out;
    if (hs_rd_repl_done(r->rd, s, sl->idx, &r->calls[i], r->bases[sl->seg], src)) {
        s->ok = true;
        if (r->failed[sl->seg])
            r->rd->degraded = true; /* another replica failed: as the fallback would have */
        if (sl->backup)
            HS_LOG_DEBUG("read_hedge_won", "obj='%s' blob='%s'", r->rd->key,
                         s->seg->blobs[sl->idx].blob_id);
    } else {
        r->force[sl->seg] = r->failed[sl->seg] = true;
    }
}

/* Cancels the segment's running calls (only those late and not answering when late_only). */
static void cancel_seg(struct race *r, size_t seg, bool late_only, int64_t now_ns)
{
    for (size_t i = 0; i < r->n; i++) {
        struct slot *sl = &r->slots[i];
        if (sl->seg != seg || !sl->running ||
            (late_only && (r->calls[i].replied || now_ns < sl->hedge_at_ns)))
            continue;
        hs_http_client_cancel(r->c, &r->calls[i]);
        sl->running = false;
        if (is_ec(r, seg))
            hs_rd_ec_abandon(&r->segs[seg], sl->idx);
    }
}

/* Advances one segment: done when satisfied (losers cancelled) or nothing runs; else starts
 * backups for failed calls and for calls past their hedge delay. */
static void step(struct race *r, size_t seg, int64_t now_ns)
{
    if (r->finished[seg])
        return;
    struct hs_rd_seg *s = &r->segs[seg];
    bool ec = is_ec(r, seg);
    if (ec ? hs_rd_ec_satisfied(s) : s->ok) {
        cancel_seg(r, seg, false, now_ns);
        r->finished[seg] = true;
        return;
    }
    bool fire = r->force[seg], any = false, backups_running = false;
    r->force[seg] = false;
    for (size_t i = 0; i < r->n; i++) {
        struct slot *sl = &r->slots[i];
        if (sl->seg != seg || !sl->running)
            continue;
        any = true;
        backups_running |= sl->backup;
        if (!sl->fired && !r->calls[i].replied && now_ns >= sl->hedge_at_ns) {
            sl->fired = true;
            fire = true;
        }
    }
    if (fire && !ec) {
        hs_gw_metric_add(HS_GW_M_HEDGED_READS, 1);
        repl_backup(r, seg);
    } else if (fire && !r->hedged[seg]) {
        hs_gw_metric_add(HS_GW_M_HEDGED_READS, 1);
        r->hedged[seg] = true;
        ec_backups(r, seg, now_ns);
        HS_LOG_DEBUG("read_hedged", "obj='%s' shard0='%s'", r->rd->key, s->seg->blobs[0].blob_id);
    } else if (ec && r->hedged[seg] && !backups_running && any) {
        /* the backups ended and still no decode: stop waiting for the late quiet calls, the
         * finish decodes around them with the usual fallbacks */
        cancel_seg(r, seg, true, now_ns);
    }
    for (size_t i = 0; i < r->n && !any; i++)
        any = r->slots[i].seg == seg && r->slots[i].running;
    if (!any)
        r->finished[seg] = true;
}

/* The earliest hedge instant of a running call that can still trigger one; -1 if none. */
static int64_t next_hedge_ns(const struct race *r)
{
    int64_t next = -1;
    for (size_t i = 0; i < r->n; i++) {
        const struct slot *sl = &r->slots[i];
        if (!sl->running || sl->fired || r->calls[i].replied || r->finished[sl->seg])
            continue;
        if (next < 0 || sl->hedge_at_ns < next)
            next = sl->hedge_at_ns;
    }
    return next;
}

static size_t slot_of(const struct race *r, const struct hs_http_call *call)
{
    return (size_t)(call - r->calls);
}

void hs_rd_race(struct hs_rd *rd, struct hs_rd_seg *segs, size_t n, struct hs_http_call *calls,
                size_t *n_calls, const size_t *bases)
{
    struct race *r = hs_xcalloc(1, sizeof *r);
    *r = (struct race){.rd = rd,
                       .c = hs_gw_blob_client(rd->gw),
                       .segs = segs,
                       .n_segs = n,
                       .bases = bases,
                       .calls = calls,
                       .n = *n_calls};
    for (size_t seg = 0; seg < n; seg++) {
        struct hs_rd_seg *s = &segs[seg];
        for (size_t j = 0; j < s->n_calls; j++) {
            unsigned idx = is_ec(r, seg) ? hs_rd_ec_call_shard(s, j) : s->replica;
            start(r, s->first_call + j, seg, idx, false);
        }
    }
    for (;;) {
        int64_t now = hs_clock_mono_ns();
        for (size_t seg = 0; seg < n; seg++)
            step(r, seg, now);
        bool running = false;
        for (size_t i = 0; i < r->n; i++)
            running |= r->slots[i].running;
        if (!running)
            break;
        int64_t next = next_hedge_ns(r);
        int64_t wait_us = next < 0 ? -1 : HS_MAX((next - hs_clock_mono_ns()) / 1000, (int64_t)0);
        struct hs_http_call *done = NULL;
        if (hs_http_client_wait(r->c, wait_us, &done) != HS_OK)
            break; /* nothing running: cannot happen, the slots say otherwise */
        if (done)
            on_done(r, slot_of(r, done));
    }
    for (size_t i = 0; i < r->n; i++)
        hs_buf_release(&r->slots[i].own);
    *n_calls = r->n;
    free(r);
}
