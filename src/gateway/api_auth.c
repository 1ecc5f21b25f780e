/* api_auth.c - who may use the native /v1/ API and the reference API when the gateway is
 * started with --require-auth (docs/design.md "Trust model"): the cluster secret as a bearer
 * token (full access, what the CLI sends), or an S3 access key as
 * "Authorization: Bearer <access-key-id>:<secret>", with the key's permissions: a read-only key
 * may only GET/HEAD, a key limited to buckets may only touch objects named "<bucket>/..." of
 * those buckets (and list under such a prefix). Health checks stay open. Admin routes always
 * need the cluster secret (hs_gw_guard). */
#include <string.h>
#include <strings.h>

#include "gateway/api.h"
#include "gateway/api_common.h"
#include "gateway/s3_int.h"
#include "hs/banned.h"

/* Routes answered without credentials even when auth is required (load balancers, probes). */
static bool open_path(const char *path)
{
    return strcmp(path, "/health") == 0 || strcmp(path, "/v1/health") == 0 ||
           strcmp(path, "/metrics") == 0;
}

static bool const_time_eq(const char *a, const char *b)
{
    size_t n = strlen(b);
    if (strlen(a) != n || n == 0)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* The object key (or list prefix) a native request addresses, "" when none. */
static const char *addressed_key(struct hs_http_req *r)
{
    const char *path = hs_http_req_path(r);
    static const char *const prefixed[] = {"/v1/objects/", "/v1/manifests/", "/read/", "/delete/"};
    for (size_t i = 0; i < sizeof prefixed / sizeof prefixed[0]; i++)
        if (strncmp(path, prefixed[i], strlen(prefixed[i])) == 0)
            return path + strlen(prefixed[i]);
    if (strcmp(path, "/v1/objects") == 0) {
        const char *p = hs_http_req_query(r, "prefix");
        return p ? p : "";
    }
    if (strcmp(path, "/write") == 0) /* the key is in the body: buckets cannot be checked */
        return NULL;
    return "";
}

/* A key limited to buckets may address "<bucket>/..." of one of them only. */
static bool key_reaches(const struct hs_s3_key_record *k, const char *key)
{
    if (k->all_buckets)
        return true;
    if (!key)
        return false;
    const char *slash = strchr(key, '/');
    if (!slash)
        return false;
    for (size_t i = 0; i < k->n_buckets; i++) {
        size_t n = strlen(k->buckets[i]);
        if ((size_t)(slash - key) == n && strncmp(key, k->buckets[i], n) == 0)
            return true;
    }
    return false;
}

bool hs_gw_native_auth(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    const char *path = hs_http_req_path(r);
    bool v1 = strncmp(path, "/v1/", 4) == 0;
    unsigned need = v1 ? HS_GW_AUTH_V1 : HS_GW_AUTH_REF;
    if (!(srv->require_auth & need) || open_path(path))
        return true;
    if (srv->secret && hs_http_req_bearer_matches(r, srv->secret))
        return true;
    const char *authz = hs_http_req_header(r, "Authorization");
    const char *colon =
        authz && strncasecmp(authz, "Bearer ", 7) == 0 ? strchr(authz + 7, ':') : NULL;
    if (!colon || !srv->s3) {
        hs_gw_respond_err(r, HS_EAUTH,
                          "this gateway requires credentials: 'Authorization: "
                          "Bearer <access-key>:<secret>' (docs/s3.md)");
        return false;
    }
    char id[HS_S3_KEY_ID_MAX + 1];
    size_t n = (size_t)(colon - (authz + 7));
    if (n == 0 || n >= sizeof id) {
        hs_gw_respond_err(r, HS_EAUTH, "unknown access key or wrong secret");
        return false;
    }
    memcpy(id, authz + 7, n);
    id[n] = '\0';
    struct hs_s3_key_record k = {0};
    enum hs_err err = hs_s3_cache_key(srv->s3->cache, id, &k);
    if (err != HS_OK && err != HS_ENOENT) {
        hs_gw_respond_err(r, HS_EUNAVAIL, "cannot read access keys from etcd");
        return false;
    }
    bool ok = err == HS_OK && const_time_eq(colon + 1, k.secret);
    if (!ok) {
        hs_s3_key_record_release(&k);
        hs_gw_respond_err(r, HS_EAUTH, "unknown access key or wrong secret");
        return false;
    }
    bool read = strcmp(hs_http_req_method(r), "GET") == 0;
    ok = (read || k.mode == HS_S3_KEY_RW) && key_reaches(&k, addressed_key(r));
    hs_s3_key_record_release(&k);
    if (!ok)
        hs_http_respond_error_status(r, 403, HS_EAUTH,
                                     "access denied: the key is read-only or not allowed here");
    return ok;
}
