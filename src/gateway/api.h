/* api.h - the gateway's HTTP handlers, one group per file, all listed in routes.c. Handlers
 * translate requests into object-layer calls (gateway.h) and answers; they hold no storage
 * logic. The server context (hs_http_req_server_ctx) is the struct hs_gw_server below. */
#ifndef HS_GATEWAY_API_H
#define HS_GATEWAY_API_H

#include <stddef.h>

#include "hs/http_server.h"

struct hs_gw;
struct hs_gw_metrics;
struct hs_s3_front;

struct hs_gw_server {
    struct hs_gw *gw;
    struct hs_gw_metrics *metrics;
    const char *secret;     /* admin routes */
    const char *hostname;   /* for /health */
    struct hs_s3_front *s3; /* S3 front end (s3_api.h): keys and buckets, on both listeners */
    unsigned require_auth;  /* HS_GW_AUTH_*: APIs that need credentials (--require-auth) */
};

enum {
    HS_GW_AUTH_V1 = 1u << 0,  /* the native /v1/ API */
    HS_GW_AUTH_REF = 1u << 1, /* the reference API (/write, /read/, /delete/, ...) */
};

/* api_auth.c: with require_auth, a request to that API needs the cluster secret or an S3 key
 * ("Bearer <access-key>:<secret>") allowed for it; health checks stay open. true to go on,
 * false after answering 401/403. */
bool hs_gw_native_auth(struct hs_http_req *r);

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
void hs_gw_v1_admin_field_stats_epoch_done(struct hs_http_req *r);

/* api_s3_admin.c: /v1/admin/s3/keys[/<id>] and /v1/admin/s3/buckets[/<name>] (S3 access keys
 * and buckets; POST bodies are small JSON objects) */
void hs_gw_s3_admin_start(struct hs_http_req *r);
enum hs_err hs_gw_s3_admin_body(struct hs_http_req *r, const void *data, size_t n);
void hs_gw_s3_admin_key_create_done(struct hs_http_req *r);
void hs_gw_s3_admin_key_list_done(struct hs_http_req *r);
void hs_gw_s3_admin_key_delete_done(struct hs_http_req *r);
void hs_gw_s3_admin_bucket_create_done(struct hs_http_req *r);
void hs_gw_s3_admin_bucket_list_done(struct hs_http_req *r);
void hs_gw_s3_admin_bucket_delete_done(struct hs_http_req *r);

#endif
