/* passes.c - what a leader does: one pass is every pass in the order of the table below, and
 * the pass loop (hs_healer_run) runs one pass per step of the election (leadership.c), pausing
 * pass_interval_ms between passes (BUSY_PAUSE_MS while an audit refill is making progress).
 * Each pass returns early once leadership is lost or stop is set, and the loop checks
 * hs_healer_leading between passes, so a deposed leader stops within one pass's current step.
 * Adding a pass is adding a row. */
#include <stddef.h>

#include "healer/healer.h"
#include "healer/leadership.h"
#include "healer/stats.h"
#include "hs/clock.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define BUSY_PAUSE_MS 10 /* between passes while audit repairs are pending */

static enum hs_err scrub_poll(struct hs_healer *h)
{
    hs_healer_scrub_poll(h);
    return HS_OK;
}

/* The pass order: stalled writes first (their blobs must not be taken for lost or orphaned
 * ones), then repairs (marks, then the audit's slice), then deletions (retired blobs, then
 * orphans: GC never sees a half-done repair of its own leader), then the adaptive layout
 * (decisions, re-layouts through a gateway), then the metrics poll. */
static enum hs_err (*const passes[])(struct hs_healer *h) = {
    hs_healer_wal_pass,    /* wal.c */
    hs_healer_repair_pass, /* repair.c */
    hs_healer_audit_pass,  /* audit.c (+ move.c) */
    hs_healer_upload_pass, /* upload.c: before the sweeper, which deletes what it retires */
    hs_healer_retire_pass, /* retire.c */
    hs_healer_gc_pass,     /* gc.c */
    hs_healer_layout_pass, /* layout.c, relayout.c */
    scrub_poll,            /* stats.c */
};

bool hs_healer_leader_pass(struct hs_healer *h)
{
    /* A pass starts only if etcd still names us: a healer that was SIGSTOPped past its TTL
     * finds out here, before its keeper thread has had a chance to notice. */
    if (!hs_healer_still_leader(h))
        return false;
    for (size_t i = 0; i < HS_ARRAY_LEN(passes) && (i == 0 || hs_healer_leading(h)); i++)
        passes[i](h);
    return true;
}

/* One step of the election while leading: a pass and the pause after it. */
static void leader_step(struct hs_healer *h)
{
    bool ran = hs_healer_leader_pass(h);
    /* a refill that is making progress goes on at once: its slices already leave WAL and GC
     * their turn in every pass */
    int64_t pause = ran && hs_healer_audit_busy(h) ? BUSY_PAUSE_MS : h->opts.pass_interval_ms;
    hs_clock_sleep_ms(pause, &h->cancel);
}

void hs_healer_run(struct hs_healer *h)
{
    hs_healer_elect(h, leader_step);
}
