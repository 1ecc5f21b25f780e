/* api.h - the gateway's HTTP handlers, one group per file, all listed in routes.c. Handlers
 * translate requests into object-layer calls (gateway.h) and answers; they hold no storage
 * logic. The server context (hs_http_req_server_ctx) is the struct hs_gw_server below. */
#ifndef HS_GATEWAY_API_H
#define HS_GATEWAY_API_H

#include <stddef.h>

#include "hs/http_server.h"

struct hs_gw;
struct hs_gw_metrics;

struct hs_gw_server {
    struct hs_gw *gw;
    struct hs_gw_metrics *metrics;
    const char *secret;   /* admin routes */
    const char *hostname; /* for /health */
};

/* routes.c */
extern const struct hs_http_route hs_gw_routes[];
extern const size_t hs_gw_n_routes;
/* Lets every route through except /v1/admin/..., which needs the cluster secret. */
bool hs_gw_guard(struct hs_http_req *r);

/* api_ref_write.c: POST /write, DELETE /delete/<key> */
void hs_gw_ref_write_start(struct hs_http_req *r);
enum hs_err hs_gw_ref_write_body(struct hs_http_req *r, const void *data, size_t n);
void hs_gw_ref_write_done(struct hs_http_req *r);
void hs_gw_ref_delete_done(struct hs_http_req *r);

/* api_ref_read.c: GET /read/<key> */
void hs_gw_ref_read_done(struct hs_http_req *r);

/* api_ref_misc.c: GET /health, /node_status, /storage_usage */
void hs_gw_ref_health_done(struct hs_http_req *r);
void hs_gw_ref_node_status_done(struct hs_http_req *r);
void hs_gw_ref_storage_usage_done(struct hs_http_req *r);

/* api_v1_write.c: PUT and DELETE /v1/objects/<key> */
void hs_gw_v1_put_start(struct hs_http_req *r);
enum hs_err hs_gw_v1_put_body(struct hs_http_req *r, const void *data, size_t n);
void hs_gw_v1_put_done(struct hs_http_req *r);
void hs_gw_v1_delete_done(struct hs_http_req *r);

/* api_v1_read.c: GET/HEAD /v1/objects/<key>, GET /v1/objects (listing), GET /v1/manifests/<key> */
void hs_gw_v1_get_done(struct hs_http_req *r);
void hs_gw_v1_list_done(struct hs_http_req *r);
void hs_gw_v1_manifest_done(struct hs_http_req *r);

/* api_v1_misc.c: PATCH /v1/objects/<key>, GET /v1/status, PUT /v1/admin/config/<name>,
 * GET /metrics */
void hs_gw_v1_patch_start(struct hs_http_req *r);
enum hs_err hs_gw_v1_patch_body(struct hs_http_req *r, const void *data, size_t n);
void hs_gw_v1_patch_done(struct hs_http_req *r);
void hs_gw_v1_status_done(struct hs_http_req *r);
void hs_gw_v1_admin_config_start(struct hs_http_req *r);
enum hs_err hs_gw_v1_admin_config_body(struct hs_http_req *r, const void *data, size_t n);
void hs_gw_v1_admin_config_done(struct hs_http_req *r);
void hs_gw_metrics_done(struct hs_http_req *r);
/* api_v1_relayout.c: POST /v1/admin/relayout/<key>?rev=N (the healer's re-layout) */
void hs_gw_v1_admin_relayout_done(struct hs_http_req *r);
/* GET /v1/admin/field-stats: this gateway's field statistics (field_stats.h snapshot JSON). */
void hs_gw_v1_admin_field_stats_done(struct hs_http_req *r);

#endif
