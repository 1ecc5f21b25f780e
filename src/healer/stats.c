/* stats.c - the healer's counters as Prometheus text (version 0.0.4): one table names every
 * field of struct hs_healer_stats as hybridstore_healer_<field>, with its type and help, so
 * /metrics and docs/healer.md stay in step with the struct. Also the leader's poll of the
 * nodes' scrub counters (GET /v1/stats of all at once, hs_http_node_stats_fetch), summed into
 * scrub_verified_blobs/scrub_quarantined. */
#include <stddef.h>
#include <stdlib.h>

#include "healer/healer.h"
#include "healer/stats.h"
#include "hs/clock.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define SCRUB_POLL_MS         10000 /* the nodes' counters move slowly: a scrub cycle takes hours */
#define NODE_STATS_TIMEOUT_MS 2000  /* all nodes at once: a stalled one must not hold the pass */

struct stat_row {
    const char *name;
    size_t offset;
    const char *type; /* "counter" or "gauge" */
    const char *help;
};

#define ROW(f, t, h)                                                                               \
    {                                                                                              \
#f, offsetof(struct hs_healer_stats, f), t, h                                              \
    }
static const struct stat_row rows[] = {
    ROW(is_leader, "gauge", "1 while this healer leads"),
    ROW(leader_changes, "counter", "times this healer became leader"),
    ROW(wal_backlog, "gauge", "txn/ records seen in the last WAL pass"),
    ROW(wal_rollbacks, "counter", "WAL records rolled back"),
    ROW(wal_blobs_deleted, "counter", "blobs of rolled-back records deleted on nodes"),
    ROW(wal_passes, "counter", "WAL recovery passes completed"),
    ROW(repair_backlog, "gauge", "repair/ marks seen in the last pass"),
    ROW(repaired_objects, "counter", "objects brought back to full redundancy"),
    ROW(repaired_blobs, "counter", "blobs rewritten by repair"),
    ROW(repaired_bytes, "counter", "bytes written by repair"),
    ROW(repair_failures, "counter", "repair attempts that failed"),
    ROW(moved_blobs, "counter", "blobs moved off nodes gone past the grace period"),
    ROW(audits_completed, "counter", "audit sweeps over every manifest completed"),
    ROW(audit_objects, "gauge", "manifests checked by the last completed audit sweep"),
    ROW(gc_deleted_blobs, "counter", "orphan blobs deleted by GC"),
    ROW(gc_deleted_bytes, "counter", "bytes of orphan blobs deleted by GC"),
    ROW(gc_passes, "counter", "GC passes completed"),
    ROW(gc_orphans_young, "gauge", "orphans kept in the last GC pass (younger than the grace)"),
    ROW(scrub_verified_blobs, "gauge", "blobs verified by the nodes' scrub (sum over nodes)"),
    ROW(scrub_quarantined, "gauge", "blobs quarantined by the nodes (sum over nodes)"),
    ROW(fence_failures, "counter", "destructive txns refused because this healer no longer leads"),
    ROW(layout_rounds, "counter", "adaptive layout decision rounds"),
    ROW(layout_changes, "counter", "layout records whose hot set this healer changed"),
    ROW(layout_gateways_skipped, "gauge", "gateways without statistics in the last layout round"),
    ROW(relayout_objects, "counter", "objects re-laid out to their collection's layout"),
    ROW(relayout_lost, "counter", "re-layouts a concurrent client write won"),
    ROW(audit_candidates, "gauge", "objects short of redundancy found by the last audit scan"),
    ROW(audit_pending, "gauge", "of those, still waiting for repair"),
    ROW(audit_missing_blobs, "gauge", "blobs the last audit found missing or on gone nodes"),
    ROW(nodes_absent, "gauge", "nodes referenced by manifests but absent from nodes/"),
    ROW(nodes_gone, "gauge", "of those, absent longer than node_grace (blobs moved)"),
    ROW(repair_marks_removed, "counter", "repair/ marks deleted once the object was redundant"),
    ROW(repair_throttle_ms, "counter", "time repair workers slept for the bandwidth limit"),
    ROW(unreadable_records, "counter", "records skipped by a pass because they cannot be decoded"),
    ROW(gc_unreadable_manifests, "gauge", "manifests the last GC pass could not decode"),
    ROW(audit_checked, "counter", "manifests checked by audit sweeps"),
    ROW(audit_sweep_objects, "gauge", "manifests checked so far in the current audit sweep"),
    ROW(audit_sweep_phase, "gauge", "audit sweep phase: 0 idle, 1 listing nodes, 2 manifests"),
    ROW(audit_work_ms, "counter", "time spent on regular audit sweep work"),
    ROW(targeted_sweeps, "counter", "targeted sweeps for nodes back with a new or empty disk"),
    ROW(targeted_pending, "gauge", "nodes waiting for or in a targeted sweep"),
    ROW(retire_passes, "counter", "retire sweeps completed"),
    ROW(retire_records_swept, "counter", "retire records deleted once their blobs were"),
    ROW(retire_blobs_deleted, "counter", "retired blobs gone from their nodes"),
    ROW(retire_blobs_left, "counter", "retired blobs on unregistered nodes, left to GC"),
    ROW(retire_failures, "counter", "retired blob deletes a node did not do (retried)"),
    ROW(retire_unreadable_manifests, "counter",
        "retire records kept because the key's manifest cannot be decoded"),
    ROW(retire_pending_records, "gauge", "retire records past the grace not swept yet"),
    ROW(retire_pending_blobs, "gauge", "blobs of those records not handled yet"),
    ROW(retire_manifest_reads, "counter",
        "etcd requests of the sweeper reading current manifests (one per group of records)"),
    ROW(retire_drop_txns, "counter",
        "fenced etcd txns of the sweeper deleting swept records (one per group of records)"),
    ROW(uploads_abandoned, "counter", "multipart uploads aborted for their age (upload-max-age)"),
    ROW(uploads_ended, "counter", "multipart upload records removed after abort or complete"),
    ROW(upload_parts_retired, "counter", "multipart part records turned into retire records"),
};
_Static_assert(
    sizeof rows / sizeof rows[0] == sizeof(struct hs_healer_stats) / sizeof(atomic_llong),
    "add a row to rows[] in src/healer/stats.c for every field of struct hs_healer_stats");

void hs_healer_stats_format(const struct hs_healer_stats *s, struct hs_buf *out)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const atomic_llong *v = (const atomic_llong *)((const char *)s + rows[i].offset);
        hs_buf_printf(out,
                      "# HELP hybridstore_healer_%s %s\n# TYPE hybridstore_healer_%s %s\n"
                      "hybridstore_healer_%s %lld\n",
                      rows[i].name, rows[i].help, rows[i].name, rows[i].type, rows[i].name,
                      atomic_load(v));
    }
}

void hs_healer_scrub_poll(struct hs_healer *h)
{
    static int64_t last_ms; /* leader thread only */
    int64_t now = hs_clock_mono_ms();
    if (last_ms != 0 && now - last_ms < SCRUB_POLL_MS)
        return;
    last_ms = now;
    struct hs_healer_node *nodes = NULL;
    size_t n = 0;
    hs_healer_nodes_get(h, &nodes, &n);
    struct hs_http_node_stats *st = hs_xcalloc(n ? n : 1, sizeof *st);
    for (size_t i = 0; i < n; i++)
        st[i].base_url = nodes[i].url;
    hs_http_node_stats_fetch(h->opts.secret, NODE_STATS_TIMEOUT_MS, st, n);
    long long verified = 0, quarantined = 0;
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t v = hs_http_node_stats_int(&st[i], "scrub", "verified_blobs", -1);
        int64_t q = hs_http_node_stats_int(&st[i], "scrub", "quarantined", -1);
        if (v < 0 || q < 0) {
            failed++;
            continue;
        }
        verified += v;
        quarantined += q;
    }
    hs_http_node_stats_release(st, n);
    free(st);
    atomic_store(&h->stats.scrub_verified_blobs, verified);
    atomic_store(&h->stats.scrub_quarantined, quarantined);
    if (failed)
        HS_LOG_DEBUG("scrub_poll_incomplete", "nodes=%zu failed=%zu", n, failed);
    hs_healer_nodes_free(nodes, n);
}
