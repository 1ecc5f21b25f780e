/* api_ref_misc.c - the reference API's GET /health, /node_status and /storage_usage, with the
 * reference's bodies. Node health and usage come from one parallel /v1/stats probe of every
 * registered node (usage.c): a node that answers is healthy. */
#include <inttypes.h>
#include <stdio.h>

#include "gateway/api.h"
#include "gateway/api_common.h"
#include "gateway/gateway.h"
#include "hs/buf.h"
#include "hs/banned.h"

void hs_gw_ref_health_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_printf(&b, "{\"status\":\"healthy\",\"service\":\"api_gateway\",\"hostname\":");
    hs_gw_json_cstr(&b, srv->hostname ? srv->hostname : "");
    (void)hs_buf_printf(&b, "}");
    hs_gw_respond_json(r, 200, &b);
}

void hs_gw_ref_node_status_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    struct hs_gw_node_usage *u = NULL;
    size_t n = 0;
    enum hs_err err = hs_gw_usage(srv->gw, &u, &n);
    if (err != HS_OK) {
        hs_gw_respond_err(r, err, "cannot list the nodes");
        return;
    }
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_printf(&b, "{");
    for (size_t i = 0; i < n; i++) {
        (void)hs_buf_printf(&b, "%s", i ? "," : "");
        hs_gw_json_cstr(&b, u[i].url);
        (void)hs_buf_printf(&b, ":\"%s\"", u[i].healthy ? "healthy" : "unhealthy");
    }
    (void)hs_buf_printf(&b, "}");
    hs_gw_usage_free(u, n);
    hs_gw_respond_json(r, 200, &b);
}

void hs_gw_ref_storage_usage_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    struct hs_gw_node_usage *u = NULL;
    size_t n = 0;
    enum hs_err err = hs_gw_usage(srv->gw, &u, &n);
    if (err != HS_OK) {
        hs_gw_respond_err(r, err, "cannot list the nodes");
        return;
    }
    int64_t total = 0, with_data = 0;
    for (size_t i = 0; i < n; i++) {
        if (!u[i].healthy)
            continue;
        total += u[i].payload_bytes;
        with_data += u[i].blobs > 0;
    }
    hs_gw_usage_free(u, n);
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_printf(&b,
                        "{\"total_system_size\":%" PRId64 ",\"active_nodes_with_data\":%" PRId64
                        ",\"total_nodes_queried\":%zu}",
                        total, with_data, n);
    hs_gw_respond_json(r, 200, &b);
}
