/* metrics.h - the gateway's Prometheus metrics: process-wide counters and latency histograms,
 * cheap to bump from any thread (atomics), rendered in the text exposition format by
 * GET /metrics. */
#ifndef HS_GATEWAY_METRICS_H
#define HS_GATEWAY_METRICS_H

#include <stdint.h>

#include "hs/buf.h"

enum hs_gw_counter {
    HS_GW_M_QUORUM_FAILURES,      /* writes refused because too few blobs were stored */
    HS_GW_M_DEGRADED_READS,       /* reads that needed parity or a second replica */
    HS_GW_M_PURE_HOT_UPDATES,     /* field_hybrid writes that reused the cold part */
    HS_GW_M_COLD_UPDATES,         /* field_hybrid writes that wrote the cold part */
    HS_GW_M_SHADOW_KEEPS,         /* pure hot writes that kept a cold part by shadowing */
    HS_GW_M_SHADOW_MISSES,        /* cold parts read for that in vain (a value differed) */
    HS_GW_M_COMMIT_RETRIES,       /* commit transactions retried after a concurrent writer */
    HS_GW_M_REPAIR_MARKS,         /* repair/<key> marks written */
    HS_GW_M_BLOB_DELETE_FAILURES, /* replaced blobs left to the healer's GC */
    HS_GW_M_WAL_ROLLED_BACK,      /* writes refused because the healer rolled them back */
    HS_GW_M_HEDGED_READS,         /* reads that sent a backup request to another copy/shard */
    HS_GW_M_PROJECTIONS_HOT,      /* projection reads served from one hot replica */
    HS_GW_M_PROJECTIONS_FULL,     /* projection reads served by reading the whole object */
    HS_GW_M_READ_RELAYOUTS,       /* objects re-laid out after a projection missed a promotion */
    HS_GW_M_COUNT_
};

void hs_gw_metric_add(enum hs_gw_counter c, int64_t n);
/* One finished HTTP request: route is the route table's path ("/v1/objects/"), method its
 * method. */
void hs_gw_metric_request(const char *method, const char *route, unsigned status,
                          int64_t duration_us, int64_t bytes_in, int64_t bytes_out);
/* The same, shaped as hs_http_server_opts.on_complete (ctx unused): main.c passes this. */
void hs_gw_metrics_on_complete(void *ctx, const char *method, const char *route, unsigned status,
                               int64_t duration_us, int64_t bytes_in, int64_t bytes_out);
/* Appends the whole exposition text (format 0.0.4, names prefixed hybridstore_gateway_) to
 * out. Thread-safe; a scrape racing with requests may see a request in one series and not yet
 * in another. */
void hs_gw_metrics_render(struct hs_buf *out);
/* Appends the admission gauges and refusal counters of one gateway (budget.h): body bytes
 * reserved now, their limit and peak, refusals; open writes, their limit, refusals. */
struct hs_gw_budget_stats;
void hs_gw_metrics_render_budget(struct hs_buf *out, const struct hs_gw_budget_stats *s);

#endif
