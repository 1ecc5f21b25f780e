/* usage.c - every live node's GET /v1/stats, all at once (hs_http_node_stats_fetch, short
 * timeouts), for /storage_usage, /node_status and /v1/status. A node that does not answer 200
 * with its stats in time is unhealthy. */
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define USAGE_TIMEOUT_MS 2000 /* a stalled node must not hold a status page for long */

enum hs_err hs_gw_usage(struct hs_gw *gw, struct hs_gw_node_usage **out, size_t *n_out)
{
    const struct hs_gw_members *mem = hs_gw_members_get(gw);
    size_t n = mem->n;
    struct hs_gw_node_usage *u = hs_xcalloc(n ? n : 1, sizeof *u);
    struct hs_http_node_stats *st = hs_xcalloc(n ? n : 1, sizeof *st);
    for (size_t i = 0; i < n; i++) {
        u[i].id = hs_xstrdup(mem->nodes[i].id);
        u[i].url = hs_xstrdup(mem->nodes[i].url);
        st[i].base_url = u[i].url;
    }
    hs_gw_members_put(gw, mem);
    hs_http_node_stats_fetch(hs_gw_opts(gw)->secret, USAGE_TIMEOUT_MS, st, n);
    for (size_t i = 0; i < n; i++) {
        u[i].healthy = st[i].stats != NULL;
        if (!u[i].healthy) {
            HS_LOG_DEBUG("node_probe_failed", "node='%s' url='%s' status=%ld curl=%d", u[i].id,
                         u[i].url, st[i].status, st[i].curl_code);
            continue;
        }
        u[i].blobs = hs_http_node_stats_int(&st[i], NULL, "blobs", 0);
        u[i].payload_bytes = hs_http_node_stats_int(&st[i], NULL, "payload_bytes", 0);
        u[i].free_bytes = hs_http_node_stats_int(&st[i], NULL, "free_bytes", 0);
        u[i].total_bytes = hs_http_node_stats_int(&st[i], NULL, "total_bytes", 0);
    }
    hs_http_node_stats_release(st, n);
    free(st);
    *out = u;
    *n_out = n;
    return HS_OK;
}

void hs_gw_usage_free(struct hs_gw_node_usage *u, size_t n)
{
    if (!u)
        return;
    for (size_t i = 0; i < n; i++) {
        free(u[i].id);
        free(u[i].url);
    }
    free(u);
}
