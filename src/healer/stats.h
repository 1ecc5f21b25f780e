/* stats.h - formatting of the healer's counters for GET /metrics (stats.c). */
#ifndef HS_HEALER_STATS_H
#define HS_HEALER_STATS_H

#include "healer/healer.h"
#include "hs/buf.h"

/* Appends every field of s as Prometheus text: "# HELP", "# TYPE" and
 * "hybridstore_healer_<field> <value>" (out's max_bytes must allow ~4 KiB). */
void hs_healer_stats_format(const struct hs_healer_stats *s, struct hs_buf *out);
/* Leader thread, once per pass: at most every 10 s, sums the live nodes' scrub counters
 * (GET /v1/stats: scrub.verified_blobs, scrub.quarantined, counted since each node started)
 * into stats.scrub_verified_blobs and stats.scrub_quarantined. */
void hs_healer_scrub_poll(struct hs_healer *h);

#endif
