/* s3_front.c - the S3 listener's dispatcher: bucket and key from the raw request target (path
 * style, or virtual-host style under --s3-root-domain), the operation from the table in
 * s3_ops.c, authentication, the bucket record, permissions, then the operation's callbacks.
 * Also S3 error answers and the front end's life cycle. The S3 semantics of each operation are
 * in its handler file; nothing here touches objects. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/api.h"
#include "gateway/gateway.h"
#include "gateway/metrics.h"
#include "gateway/s3_int.h"
#include "hs/buf.h"
#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/s3_util.h"
#include "hs/banned.h"

#define DEFAULT_REGION "us-east-1"

/* Every method and path goes to the dispatcher (HEAD matches the GET row). */
static void s3_start(struct hs_http_req *r);
static enum hs_err s3_body(struct hs_http_req *r, const void *data, size_t n);
static void s3_done(struct hs_http_req *r);

const struct hs_http_route hs_s3_routes[] = {
    {"GET", "/", HS_HTTP_PREFIX, 0, s3_start, s3_body, s3_done},
    {"PUT", "/", HS_HTTP_PREFIX, 0, s3_start, s3_body, s3_done},
    {"POST", "/", HS_HTTP_PREFIX, 0, s3_start, s3_body, s3_done},
    {"DELETE", "/", HS_HTTP_PREFIX, 0, s3_start, s3_body, s3_done},
};
const size_t hs_s3_n_routes = sizeof hs_s3_routes / sizeof hs_s3_routes[0];

void hs_s3_on_complete(void *ctx, const char *method, const char *route, unsigned status,
                       int64_t duration_us, int64_t bytes_in, int64_t bytes_out)
{
    (void)ctx;
    /* the dispatcher labels each request with its operation's name: the metrics route is
     * "s3:PutObject"; "s3" when no operation was picked (501, a broken target: route "/") */
    char label[48] = "s3";
    if (route && route[0] != '/')
        snprintf(label, sizeof label, "s3:%s", route);
    hs_gw_metric_request(method, label, status, duration_us, bytes_in, bytes_out);
}

/* ---- life cycle ---- */

enum hs_err hs_s3_front_new(struct hs_gw *gw, const struct hs_s3_front_opts *opts,
                            struct hs_s3_front **out)
{
    struct hs_s3_front *f = hs_xcalloc(1, sizeof *f);
    f->gw = gw;
    if (opts->root_domain && *opts->root_domain) {
        f->root_domain = hs_xstrdup(opts->root_domain);
        f->root_len = strlen(f->root_domain);
    }
    f->region = hs_xstrdup(opts->region && *opts->region ? opts->region : DEFAULT_REGION);
    f->sigv4_cache = hs_s3_sigv4_cache_new();
    enum hs_err err = hs_s3_cache_new(hs_gw_etcd(gw), &f->cache);
    if (err != HS_OK) {
        hs_s3_front_free(f);
        return err;
    }
    *out = f;
    return HS_OK;
}

void hs_s3_front_free(struct hs_s3_front *f)
{
    if (!f)
        return;
    hs_s3_cache_free(f->cache);
    hs_s3_sigv4_cache_free(f->sigv4_cache);
    free(f->root_domain);
    free(f->region);
    free(f);
}

const char *hs_s3_front_region(const struct hs_s3_front *f)
{
    return f->region;
}

struct hs_s3_req *hs_s3_req_of(struct hs_http_req *r)
{
    return hs_http_req_ctx(r);
}

/* ---- answers ---- */

void hs_s3_add_request_id(struct hs_http_req *r)
{
    hs_http_add_header(r, "x-amz-request-id", hs_http_req_id(r));
}

void hs_s3_respond_xml(struct hs_http_req *r, unsigned status, const char *xml, size_t len)
{
    hs_s3_add_request_id(r);
    hs_http_respond_buf(r, status, "application/xml", xml, len);
}

/* The path of the raw target (no query), for <Resource>. */
static size_t target_path_len(const char *target)
{
    const char *q = strchr(target, '?');
    return q ? (size_t)(q - target) : strlen(target);
}

void hs_s3_error_e(struct hs_http_req *r, enum hs_s3_err e, const char *detail)
{
    const char *target = hs_http_req_target(r);
    char *resource = hs_arena_strndup(hs_http_req_arena(r), target, target_path_len(target));
    unsigned status = (unsigned)hs_s3_err_status(e);
    HS_LOG_DEBUG("s3_error", "req=%s code=%s status=%u", hs_http_req_id(r), hs_s3_err_code(e),
                 status);
    hs_s3_add_request_id(r);
    if (hs_http_req_is_head(r) || e == HS_S3_NOT_MODIFIED) {
        hs_http_respond_buf(r, status, "application/xml", NULL, 0);
        return;
    }
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_s3_err_render(&b, e, detail && *detail ? detail : NULL, resource, hs_http_req_id(r));
    size_t len = 0;
    uint8_t *data = hs_buf_detach(&b, &len);
    hs_http_respond_take(r, status, "application/xml", data, len);
}

void hs_s3_error(struct hs_http_req *r, const char *code, const char *fmt, ...)
{
    enum hs_s3_err e = HS_S3_INTERNAL_ERROR;
    if (!hs_s3_err_from_code(code, &e))
        HS_LOG_WARN("s3_error_unknown", "req=%s code=%s", hs_http_req_id(r), code);
    char msg[512] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    hs_s3_error_e(r, e, msg);
}

void hs_s3_error_hs(struct hs_http_req *r, enum hs_err err, const char *msg)
{
    const struct hs_s3_req *s = hs_s3_req_of(r);
    enum hs_s3_err e = hs_s3_err_from_hs(err);
    if (err == HS_ENOENT && !(s && s->key))
        e = HS_S3_NO_SUCH_BUCKET;
    else if (err == HS_ETIMEDOUT || err == HS_ECONFLICT) /* a concurrent writer won: retry */
        e = HS_S3_SERVICE_UNAVAILABLE;
    if (err == HS_EBUSY || err == HS_EUNAVAIL || err == HS_ETIMEDOUT)
        hs_http_add_header(r, "Retry-After", "1");
    hs_s3_error_e(r, e, msg);
}

/* ---- request target ---- */

/* Percent-decodes s[0..n) once into an arena string ('+' stays '+': S3 paths are not forms).
 * NULL on a broken escape. */
static char *pct_decode(struct hs_arena *a, const char *s, size_t n, size_t *len_out)
{
    char *out = hs_arena_alloc(a, n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[j++] = s[i];
            continue;
        }
        if (i + 2 >= n)
            return NULL;
        int hi = hs_s3_hexval(s[i + 1]), lo = hs_s3_hexval(s[i + 2]);
        if (hi < 0 || lo < 0)
            return NULL;
        out[j++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[j] = '\0';
    *len_out = j;
    return out;
}

/* The bucket named by the Host header under the root domain ("b.s3.local:9000" with root
 * "s3.local"), arena copy; NULL when the host is not a subdomain of it. */
static const char *host_bucket(struct hs_http_req *r, const struct hs_s3_front *f)
{
    const char *host = hs_http_req_header(r, "Host");
    if (!f->root_domain || !host)
        return NULL;
    size_t n = strlen(host);
    const char *colon = strrchr(host, ':');
    if (colon)
        n = (size_t)(colon - host);
    if (n <= f->root_len + 1 || host[n - f->root_len - 1] != '.' ||
        strncasecmp(host + n - f->root_len, f->root_domain, f->root_len) != 0)
        return NULL;
    char *b = hs_arena_strndup(hs_http_req_arena(r), host, n - f->root_len - 1);
    for (char *p = b; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return b;
}

/* Fills s->bucket, s->key from the target. false (answered) on a broken path. */
static bool parse_target(struct hs_http_req *r, struct hs_s3_req *s)
{
    struct hs_arena *a = hs_http_req_arena(r);
    size_t raw_len = target_path_len(s->target);
    size_t len = 0;
    char *path = pct_decode(a, s->target, raw_len, &len);
    if (!path || len == 0 || path[0] != '/') {
        hs_s3_error(r, "InvalidURI", NULL);
        return false;
    }
    if (memchr(path, '\0', len)) {
        hs_s3_error(r, "InvalidURI", NULL);
        return false;
    }
    const char *vb = host_bucket(r, s->front);
    const char *rest = path + 1; /* after the leading '/' */
    if (vb) {
        s->virtual_host = true;
        s->bucket = vb;
    } else {
        const char *slash = strchr(rest, '/');
        size_t blen = slash ? (size_t)(slash - rest) : strlen(rest);
        s->bucket = hs_arena_strndup(a, rest, blen);
        rest = slash ? slash + 1 : rest + blen;
    }
    if (*s->bucket && *rest) {
        s->key = rest;
        s->key_len = len - (size_t)(rest - path);
    }
    return true;
}

/* ---- operation selection ---- */

/* Subresources: a request naming one of these is served only by a row that requires it. */
static const char *const reserved_subs[] = {
    "acl",
    "policy",
    "policyStatus",
    "cors",
    "lifecycle",
    "tagging",
    "website",
    "logging",
    "notification",
    "replication",
    "encryption",
    "object-lock",
    "retention",
    "legal-hold",
    "torrent",
    "restore",
    "select",
    "accelerate",
    "analytics",
    "inventory",
    "metrics",
    "intelligent-tiering",
    "ownershipControls",
    "publicAccessBlock",
    "requestPayment",
    "attributes",
    "location",
    "versioning",
    "versions",
    "uploads",
    "uploadId",
    "delete",
};

#define N_RESERVED (sizeof reserved_subs / sizeof reserved_subs[0])
_Static_assert(N_RESERVED <= 64, "reserved subresources fit a 64-bit mask");

/* The bit of a reserved subresource name, 0 for any other name (or NULL). */
static uint64_t sub_bit(const char *name)
{
    for (size_t i = 0; name && i < N_RESERVED; i++)
        if (strcmp(reserved_subs[i], name) == 0)
            return (uint64_t)1 << i;
    return 0;
}

/* present: the reserved subresources the request names (each must be claimed by the row). */
static bool op_matches(const struct hs_s3_op *op, struct hs_http_req *r, const char *method,
                       unsigned level, bool copy, uint64_t present)
{
    if (strcmp(op->method, method) != 0 || !(op->flags & level))
        return false;
    if ((op->flags & HS_S3_OP_COPY_SOURCE) && !copy)
        return false;
    if (present & ~(sub_bit(op->sub) | sub_bit(op->sub2)))
        return false;
    if (op->sub) {
        const char *v = hs_http_req_query(r, op->sub);
        if (!v || (op->sub_value && strcmp(v, op->sub_value) != 0))
            return false;
    }
    return !op->sub2 || hs_http_req_query(r, op->sub2);
}

static const struct hs_s3_op *op_select(struct hs_http_req *r, const struct hs_s3_req *s)
{
    const char *method = hs_http_req_is_head(r) ? "HEAD" : hs_http_req_method(r);
    unsigned level = !*s->bucket ? HS_S3_OP_SERVICE : s->key ? HS_S3_OP_OBJECT : HS_S3_OP_BUCKET;
    bool copy = hs_http_req_header(r, "x-amz-copy-source") != NULL;
    uint64_t present = 0;
    if (strchr(s->target, '?')) /* no query: no subresource to look for */
        for (size_t i = 0; i < N_RESERVED; i++)
            if (hs_http_req_query(r, reserved_subs[i]))
                present |= (uint64_t)1 << i;
    for (size_t i = 0; i < hs_s3_n_ops; i++)
        if (op_matches(&hs_s3_ops[i], r, method, level, copy, present))
            return &hs_s3_ops[i];
    return NULL;
}

/* ---- authentication ---- */

static void release_req(void *p)
{
    struct hs_s3_req *s = p;
    hs_s3_bucket_record_release(&s->bucket_rec);
    hs_s3_key_record_release(&s->caller);
}

/* The verifier's secret lookup: the key cache (a miss reads etcd). The record stays in the
 * request context: its permissions are checked next. */
static enum hs_err secret_lookup(void *arg, const char *id, char secret[HS_S3_SECRET_MAX + 1],
                                 void **key_info)
{
    struct hs_s3_req *s = arg;
    hs_s3_key_record_release(&s->caller);
    s->has_caller = false;
    enum hs_err err = hs_s3_cache_key(s->front->cache, id, &s->caller);
    if (err != HS_OK)
        return err == HS_ENOENT ? HS_ENOENT : HS_EUNAVAIL;
    s->has_caller = true;
    snprintf(secret, HS_S3_SECRET_MAX + 1, "%s", s->caller.secret);
    *key_info = &s->caller;
    return HS_OK;
}

#define HEADERS_MAX 128 /* headers a request may carry to be verified */

struct header_list {
    struct hs_s3_header *v;
    size_t n;
    bool overflow;
};

static bool header_add(void *ctx, const char *name, const char *value)
{
    struct header_list *l = ctx;
    if (l->n == HEADERS_MAX) {
        l->overflow = true;
        return false;
    }
    l->v[l->n++] = (struct hs_s3_header){name, value};
    return true;
}

/* SigV4 (header or presigned) over the raw target and every header; fills s->auth and
 * s->caller. false (answered) when the signature, the key or the time is wrong. */
static bool authenticate(struct hs_http_req *r, struct hs_s3_req *s)
{
    struct header_list hl = {
        .v = hs_arena_alloc(hs_http_req_arena(r), HEADERS_MAX * sizeof(struct hs_s3_header))};
    hs_http_req_headers_each(r, header_add, &hl);
    if (hl.overflow) {
        hs_s3_error(r, "InvalidRequest", "too many headers (at most %d)", HEADERS_MAX);
        return false;
    }
    const char *method = hs_http_req_is_head(r) ? "HEAD" : hs_http_req_method(r);
    /* Any scope region is accepted: the region is part of what is signed (so it is verified
     * either way), and s3cmd signs for "US" unless told otherwise (AWS would answer
     * AuthorizationHeaderMalformed with the right region, and s3cmd would retry with it). */
    struct hs_s3_sigv4_opts o = {
        .region = NULL, .lookup = secret_lookup, .lookup_arg = s, .cache = s->front->sigv4_cache};
    struct hs_s3_sigv4_request rq = {.method = method,
                                     .target = s->target,
                                     .headers = hl.v,
                                     .n_headers = hl.n,
                                     .now_s = hs_clock_wall_ms() / 1000};
    struct hs_s3_sigv4_result *res = &s->auth.result;
    enum hs_err err = hs_s3_sigv4_verify(&o, &rq, res);
    if (err != HS_OK) {
        if (res->error == HS_S3_INTERNAL_ERROR) { /* the key lookup failed: etcd trouble */
            hs_s3_error_hs(r, HS_EUNAVAIL, "cannot read access keys from etcd");
            return false;
        }
        HS_LOG_DEBUG("s3_auth_failed", "req=%s code=%s key=%s", s->request_id,
                     hs_s3_err_code(res->error), res->access_key_id);
        hs_s3_error_e(r, res->error, res->error_detail);
        return false;
    }
    s->auth.anonymous = res->kind == HS_S3_AUTH_ANONYMOUS;
    s->auth.presigned = res->kind == HS_S3_AUTH_PRESIGNED;
    s->auth.payload = res->payload;
    memcpy(s->auth.seed_signature, res->seed_signature, sizeof s->auth.seed_signature);
    memcpy(s->auth.signing_key, res->signing_key, sizeof s->auth.signing_key);
    memcpy(s->auth.amz_date, res->amz_date, sizeof s->auth.amz_date);
    memcpy(s->auth.scope, res->scope, sizeof s->auth.scope);
    if (s->auth.anonymous) {
        hs_s3_key_record_release(&s->caller);
        s->has_caller = false;
    }
    return true;
}

/* ---- permissions ---- */

static bool caller_may(const struct hs_s3_req *s, const char *bucket, bool write)
{
    if (!s->has_caller)
        return false;
    if (write && s->caller.mode == HS_S3_KEY_RO)
        return false;
    return !bucket || !*bucket || hs_s3_key_allows_bucket(&s->caller, bucket);
}

bool hs_s3_check_access(struct hs_http_req *r, const char *bucket, bool write)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    if (caller_may(s, bucket, write))
        return true;
    hs_s3_error(r, "AccessDenied", NULL);
    return false;
}

/* ---- the dispatcher ---- */

static bool bucket_load(struct hs_http_req *r, struct hs_s3_req *s)
{
    enum hs_err err = hs_s3_cache_bucket(s->front->cache, s->bucket, &s->bucket_rec);
    if (err == HS_OK) {
        s->has_bucket = true;
        return true;
    }
    if (err == HS_ENOENT && (s->op->flags & HS_S3_OP_NEW_BUCKET))
        return true;
    if (err == HS_ENOENT) {
        /* anonymous callers learn nothing about which buckets exist */
        hs_s3_error(r, s->has_caller ? "NoSuchBucket" : "AccessDenied", NULL);
        return false;
    }
    hs_s3_error_hs(r, HS_EUNAVAIL, "cannot read buckets from etcd");
    return false;
}

static bool authorise(struct hs_http_req *r, struct hs_s3_req *s)
{
    bool write = (s->op->flags & HS_S3_OP_WRITE) != 0;
    if (s->auth.anonymous) {
        bool ok = !write && s->has_bucket && s->bucket_rec.public_read &&
                  (strcmp(s->op->method, "GET") == 0 || strcmp(s->op->method, "HEAD") == 0);
        if (!ok)
            hs_s3_error(r, "AccessDenied", NULL);
        return ok;
    }
    return hs_s3_check_access(r, s->bucket, write);
}

/* Every bucket and object is private: x-amz-acl: private is accepted, any other canned ACL or
 * an explicit grant answers 501 (after authentication, like every other refusal). */
static bool grant_header(void *ctx, const char *name, const char *value)
{
    (void)value;
    bool *found = ctx;
    if (strncasecmp(name, "x-amz-grant-", strlen("x-amz-grant-")) == 0)
        *found = true;
    return !*found;
}

static bool acl_supported(struct hs_http_req *r)
{
    const char *acl = hs_http_req_header(r, "x-amz-acl");
    bool grant = false;
    hs_http_req_headers_each(r, grant_header, &grant);
    if ((acl && strcmp(acl, "private") != 0) || grant) {
        hs_s3_error(r, "NotImplemented", "only the canned ACL 'private' is supported");
        return false;
    }
    return true;
}

static void s3_start(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    struct hs_arena *a = hs_http_req_arena(r);
    struct hs_s3_req *s = hs_arena_alloc(a, sizeof *s);
    *s = (struct hs_s3_req){.gw = srv->gw,
                            .front = srv->s3,
                            .request_id = hs_http_req_id(r),
                            .target = hs_http_req_target(r),
                            .bucket = ""};
    hs_arena_defer(a, release_req, s);
    hs_http_req_set_ctx(r, s);
    if (!parse_target(r, s))
        return;
    s->op = op_select(r, s);
    if (s->op)
        hs_http_req_set_route_label(r, s->op->name);
    if (!s->op) {
        hs_s3_error(r, "NotImplemented", "this operation is not implemented");
        return;
    }
    if (!authenticate(r, s))
        return;
    if (!acl_supported(r))
        return;
    /* a key limited to buckets hears AccessDenied about any other bucket, existing or not */
    if (!s->auth.anonymous && !authorise(r, s))
        return;
    if (*s->bucket && !bucket_load(r, s))
        return;
    if (s->auth.anonymous && !authorise(r, s))
        return;
    if (s->key && hs_s3_native_key(a, s->bucket, s->key, s->key_len, &s->native_key,
                                   &s->native_key_len) != HS_OK) {
        size_t room = HS_OBJECT_KEY_MAX - strlen(s->bucket) - 1;
        hs_s3_error(r, s->key_len > room ? "KeyTooLongError" : "InvalidArgument",
                    "the object key is not valid here (at most %zu bytes of UTF-8 without "
                    "control characters in this bucket)",
                    room);
        return;
    }
    HS_LOG_DEBUG("s3_request", "req=%s op=%s bucket='%s'", s->request_id, s->op->name, s->bucket);
    if (s->op->start)
        s->op->start(r);
}

static enum hs_err s3_body(struct hs_http_req *r, const void *data, size_t n)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    if (!s || !s->op || !s->op->body)
        return HS_OK; /* discarded */
    return s->op->body(r, data, n);
}

static void s3_done(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    if (!s || !s->op) {
        hs_s3_error(r, "InternalError", NULL);
        return;
    }
    s->op->done(r);
}
