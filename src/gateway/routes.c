/* routes.c - every HTTP route of the gateway in one table: the reference API first (served as
 * the reference serves it), then the native /v1/ API. Handlers are in api_*.c. */
#include <string.h>

#include "gateway/api.h"
#include "hs/banned.h"

const struct hs_http_route hs_gw_routes[] = {
    /* reference API */
    {"POST", "/write", HS_HTTP_EXACT, 0, hs_gw_ref_write_start, hs_gw_ref_write_body,
     hs_gw_ref_write_done},
    {"GET", "/read/", HS_HTTP_PREFIX, 0, NULL, NULL, hs_gw_ref_read_done},
    {"DELETE", "/delete/", HS_HTTP_PREFIX, 0, NULL, NULL, hs_gw_ref_delete_done},
    {"GET", "/health", HS_HTTP_EXACT, 0, NULL, NULL, hs_gw_ref_health_done},
    {"GET", "/node_status", HS_HTTP_EXACT, 0, NULL, NULL, hs_gw_ref_node_status_done},
    {"GET", "/storage_usage", HS_HTTP_EXACT, 0, NULL, NULL, hs_gw_ref_storage_usage_done},
    /* native API */
    {"PUT", "/v1/objects/", HS_HTTP_PREFIX, 0, hs_gw_v1_put_start, hs_gw_v1_put_body,
     hs_gw_v1_put_done},
    {"GET", "/v1/objects/", HS_HTTP_PREFIX, 0, NULL, NULL, hs_gw_v1_get_done},
    {"DELETE", "/v1/objects/", HS_HTTP_PREFIX, 0, NULL, NULL, hs_gw_v1_delete_done},
    {"PATCH", "/v1/objects/", HS_HTTP_PREFIX, 0, hs_gw_v1_patch_start, hs_gw_v1_patch_body,
     hs_gw_v1_patch_done},
    {"GET", "/v1/objects", HS_HTTP_EXACT, 0, NULL, NULL, hs_gw_v1_list_done},
    {"GET", "/v1/manifests/", HS_HTTP_PREFIX, 0, NULL, NULL, hs_gw_v1_manifest_done},
    {"GET", "/v1/status", HS_HTTP_EXACT, 0, NULL, NULL, hs_gw_v1_status_done},
    {"GET", "/v1/health", HS_HTTP_EXACT, 0, NULL, NULL, hs_gw_ref_health_done},
    {"PUT", "/v1/admin/config/", HS_HTTP_PREFIX, 0, hs_gw_v1_admin_config_start,
     hs_gw_v1_admin_config_body, hs_gw_v1_admin_config_done},
    {"POST", "/v1/admin/relayout/", HS_HTTP_PREFIX, 0, NULL, NULL, hs_gw_v1_admin_relayout_done},
    {"GET", "/v1/admin/field-stats", HS_HTTP_EXACT, 0, NULL, NULL, hs_gw_v1_admin_field_stats_done},
    {"POST", "/v1/admin/field-stats/", HS_HTTP_PREFIX, 0, NULL, NULL,
     hs_gw_v1_admin_field_stats_epoch_done},
    {"GET", "/metrics", HS_HTTP_EXACT, 0, NULL, NULL, hs_gw_metrics_done},
    /* S3 access keys and buckets (api_s3_admin.c) */
    {"POST", "/v1/admin/s3/keys", HS_HTTP_EXACT, 0, hs_gw_s3_admin_start, hs_gw_s3_admin_body,
     hs_gw_s3_admin_key_create_done},
    {"GET", "/v1/admin/s3/keys", HS_HTTP_EXACT, 0, NULL, NULL, hs_gw_s3_admin_key_list_done},
    {"DELETE", "/v1/admin/s3/keys/", HS_HTTP_PREFIX, 0, NULL, NULL, hs_gw_s3_admin_key_delete_done},
    {"POST", "/v1/admin/s3/buckets", HS_HTTP_EXACT, 0, hs_gw_s3_admin_start, hs_gw_s3_admin_body,
     hs_gw_s3_admin_bucket_create_done},
    {"GET", "/v1/admin/s3/buckets", HS_HTTP_EXACT, 0, NULL, NULL, hs_gw_s3_admin_bucket_list_done},
    {"DELETE", "/v1/admin/s3/buckets/", HS_HTTP_PREFIX, 0, NULL, NULL,
     hs_gw_s3_admin_bucket_delete_done},
};

const size_t hs_gw_n_routes = sizeof hs_gw_routes / sizeof hs_gw_routes[0];

bool hs_gw_guard(struct hs_http_req *r)
{
    static const char admin[] = "/v1/admin/";
    if (strncmp(hs_http_req_path(r), admin, sizeof admin - 1) != 0)
        return hs_gw_native_auth(r);
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    if (hs_http_req_bearer_matches(r, srv->secret))
        return true;
    hs_http_respond_error(r, HS_EAUTH,
                          "admin routes need 'Authorization: Bearer <cluster secret>'");
    return false;
}
