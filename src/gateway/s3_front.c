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
#include "hs/log.h"
#include "hs/mem.h"
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
    (void)route;
    hs_gw_metric_request(method, "s3", status, duration_us, bytes_in, bytes_out);
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

void hs_s3_xml_escape(struct hs_buf *b, const char *s, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        const char *esc = NULL;
        switch (s[i]) {
        case '&':
            esc = "&amp;";
            break;
        case '<':
            esc = "&lt;";
            break;
        case '>':
            esc = "&gt;";
            break;
        case '"':
            esc = "&quot;";
            break;
        case '\'':
            esc = "&apos;";
            break;
        default:
            run++;
            continue;
        }
        (void)hs_buf_append(b, s + i - run, run);
        (void)hs_buf_append(b, esc, strlen(esc));
        run = 0;
    }
    (void)hs_buf_append(b, s + len - run, run);
}

/* TEMPORARY until the S3 library's error table is merged: status and default message per code. */
struct err_row {
    const char *code;
    unsigned status;
    const char *message;
};
static const struct err_row err_rows[] = {
    {"AccessDenied", 403, "Access Denied"},
    {"InvalidAccessKeyId", 403,
     "The AWS Access Key Id you provided does not exist in our records."},
    {"SignatureDoesNotMatch", 403,
     "The request signature we calculated does not match the "
     "signature you provided."},
    {"RequestTimeTooSkewed", 403,
     "The difference between the request time and the server's time "
     "is too large."},
    {"NoSuchBucket", 404, "The specified bucket does not exist"},
    {"NoSuchKey", 404, "The specified key does not exist."},
    {"NoSuchUpload", 404, "The specified upload does not exist."},
    {"BucketNotEmpty", 409, "The bucket you tried to delete is not empty"},
    {"BucketAlreadyOwnedByYou", 409,
     "Your previous request to create the named bucket succeeded "
     "and you already own it."},
    {"BucketAlreadyExists", 409, "The requested bucket name is not available."},
    {"OperationAborted", 409,
     "A conflicting conditional operation is currently in progress "
     "against this resource. Please try again."},
    {"InvalidBucketName", 400, "The specified bucket is not valid."},
    {"InvalidArgument", 400, "Invalid Argument"},
    {"InvalidRequest", 400, "Invalid Request"},
    {"InvalidURI", 400, "Couldn't parse the specified URI."},
    {"KeyTooLongError", 400, "Your key is too long"},
    {"InvalidStorageClass", 400, "The storage class you specified is not valid"},
    {"MalformedXML", 400,
     "The XML you provided was not well-formed or did not validate against "
     "our published schema"},
    {"InvalidLocationConstraint", 400, "The specified location-constraint is not valid"},
    {"EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size."},
    {"PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold"},
    {"InvalidRange", 416, "The requested range is not satisfiable"},
    {"MethodNotAllowed", 405, "The specified method is not allowed against this resource."},
    {"NotImplemented", 501,
     "A header you provided implies functionality that is not "
     "implemented"},
    {"InternalError", 500, "We encountered an internal error. Please try again."},
    /* multipart and payload verification (s3_multipart*.c) */
    {"InvalidPart", 400, "One or more of the specified parts could not be found."},
    {"InvalidPartOrder", 400, "The list of parts was not in ascending order."},
    {"EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed size"},
    {"BadDigest", 400, "The Content-MD5 or checksum you specified did not match what we received."},
    {"InvalidDigest", 400, "The Content-MD5 you specified is not valid."},
    {"XAmzContentSHA256Mismatch", 400,
     "The provided 'x-amz-content-sha256' header does not "
     "match what was computed."},
    {"IncompleteBody", 400,
     "You did not provide the number of bytes specified by the "
     "Content-Length HTTP header."},
    {"ServiceUnavailable", 503, "Please reduce your request rate."},
    {"SlowDown", 503, "Please reduce your request rate."},
};

static const struct err_row *err_find(const char *code)
{
    for (size_t i = 0; i < sizeof err_rows / sizeof err_rows[0]; i++)
        if (strcmp(err_rows[i].code, code) == 0)
            return &err_rows[i];
    return NULL;
}

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

void hs_s3_error(struct hs_http_req *r, const char *code, const char *fmt, ...)
{
    const struct err_row *row = err_find(code);
    unsigned status = row ? row->status : 500;
    char msg[512];
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    } else {
        snprintf(msg, sizeof msg, "%s", row ? row->message : code);
    }
    const char *target = hs_http_req_target(r);
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_printf(&b,
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                        "<Message>",
                        code);
    hs_s3_xml_escape(&b, msg, strlen(msg));
    (void)hs_buf_printf(&b, "</Message><Resource>");
    hs_s3_xml_escape(&b, target, target_path_len(target));
    (void)hs_buf_printf(&b, "</Resource><RequestId>%s</RequestId></Error>", hs_http_req_id(r));
    HS_LOG_DEBUG("s3_error", "req=%s code=%s status=%u", hs_http_req_id(r), code, status);
    hs_s3_add_request_id(r);
    if (hs_http_req_is_head(r)) {
        hs_http_respond_buf(r, status, "application/xml", NULL, 0);
        hs_buf_release(&b);
        return;
    }
    size_t len = 0;
    uint8_t *data = hs_buf_detach(&b, &len);
    hs_http_respond_take(r, status, "application/xml", data, len);
}

void hs_s3_error_hs(struct hs_http_req *r, enum hs_err err, const char *msg)
{
    const struct hs_s3_req *s = hs_s3_req_of(r);
    const char *code = "InternalError";
    switch (err) {
    case HS_ENOENT:
        code = s && s->key ? "NoSuchKey" : "NoSuchBucket";
        break;
    case HS_EPRECONDITION:
        code = "PreconditionFailed";
        break;
    case HS_ERANGE:
        code = "InvalidRange";
        break;
    case HS_EINVAL:
        code = "InvalidArgument";
        break;
    case HS_ETOOBIG:
        code = "EntityTooLarge";
        break;
    case HS_EAUTH:
        code = "AccessDenied";
        break;
    case HS_ECONFLICT:
        code = "OperationAborted";
        break;
    case HS_EUNSUPPORTED:
        code = "NotImplemented";
        break;
    case HS_EBUSY:
        code = "SlowDown";
        break;
    case HS_EUNAVAIL:
    case HS_ETIMEDOUT:
        code = "ServiceUnavailable";
        break;
    default:
        break;
    }
    if (err == HS_EBUSY || err == HS_EUNAVAIL)
        hs_http_add_header(r, "Retry-After", "1");
    if (msg && *msg)
        hs_s3_error(r, code, "%s", msg);
    else
        hs_s3_error(r, code, NULL);
}

/* ---- request target ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

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
        int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
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

static bool op_matches(const struct hs_s3_op *op, struct hs_http_req *r, const char *method,
                       unsigned level, bool copy)
{
    if (strcmp(op->method, method) != 0 || !(op->flags & level))
        return false;
    if ((op->flags & HS_S3_OP_COPY_SOURCE) && !copy)
        return false;
    if (op->sub) {
        const char *v = hs_http_req_query(r, op->sub);
        if (!v || (op->sub_value && strcmp(v, op->sub_value) != 0))
            return false;
    }
    if (op->sub2 && !hs_http_req_query(r, op->sub2))
        return false;
    for (size_t i = 0; i < sizeof reserved_subs / sizeof reserved_subs[0]; i++) {
        const char *name = reserved_subs[i];
        if (!hs_http_req_query(r, name))
            continue;
        if (!(op->sub && strcmp(op->sub, name) == 0) && !(op->sub2 && strcmp(op->sub2, name) == 0))
            return false;
    }
    return true;
}

static const struct hs_s3_op *op_select(struct hs_http_req *r, const struct hs_s3_req *s)
{
    const char *method = hs_http_req_is_head(r) ? "HEAD" : hs_http_req_method(r);
    unsigned level = !*s->bucket ? HS_S3_OP_SERVICE : s->key ? HS_S3_OP_OBJECT : HS_S3_OP_BUCKET;
    bool copy = hs_http_req_header(r, "x-amz-copy-source") != NULL;
    for (size_t i = 0; i < hs_s3_n_ops; i++)
        if (op_matches(&hs_s3_ops[i], r, method, level, copy))
            return &hs_s3_ops[i];
    return NULL;
}

/* ---- authentication ---- */

/* TEMPORARY, until the S3 library (SigV4) is merged: the access key id is read from the
 * Authorization header's Credential= (or X-Amz-Credential) and looked up, but the signature is
 * not verified yet. */
static bool access_key_of(struct hs_http_req *r, char *out, size_t cap, bool *presigned)
{
    const char *cred = NULL;
    const char *authz = hs_http_req_header(r, "Authorization");
    if (authz) {
        cred = strstr(authz, "Credential=");
        if (cred)
            cred += strlen("Credential=");
    } else {
        cred = hs_http_req_query(r, "X-Amz-Credential");
        *presigned = cred != NULL;
    }
    if (!cred)
        return false;
    size_t n = strcspn(cred, "/, ");
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, cred, n);
    out[n] = '\0';
    return true;
}

static void release_req(void *p)
{
    struct hs_s3_req *s = p;
    hs_s3_bucket_record_release(&s->bucket_rec);
    hs_s3_key_record_release(&s->caller);
}

/* Who is calling: anonymous, or a known key (s->caller). false (answered) otherwise. */
static bool authenticate(struct hs_http_req *r, struct hs_s3_req *s)
{
    bool signed_req = hs_http_req_header(r, "Authorization") ||
                      hs_http_req_query(r, "X-Amz-Signature") ||
                      hs_http_req_query(r, "X-Amz-Credential");
    if (!signed_req) {
        s->auth.anonymous = true;
        return true;
    }
    char id[HS_S3_KEY_ID_MAX + 1];
    if (!access_key_of(r, id, sizeof id, &s->auth.presigned)) {
        hs_s3_error(r, "AccessDenied", "unsupported or malformed Authorization (SigV4 only)");
        return false;
    }
    enum hs_err err = hs_s3_cache_key(s->front->cache, id, &s->caller);
    if (err == HS_ENOENT) {
        hs_s3_error(r, "InvalidAccessKeyId", NULL);
        return false;
    }
    if (err != HS_OK) {
        hs_s3_error_hs(r, HS_EUNAVAIL, "cannot read access keys from etcd");
        return false;
    }
    s->has_caller = true;
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
    if (!s->op) {
        hs_s3_error(r, "NotImplemented", "this operation is not implemented");
        return;
    }
    const char *acl = hs_http_req_header(r, "x-amz-acl");
    if (acl && strcmp(acl, "private") != 0) {
        hs_s3_error(r, "NotImplemented", "only the canned ACL 'private' is supported");
        return;
    }
    if (!authenticate(r, s))
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
        hs_s3_error(r, s->key_len > 1024 ? "KeyTooLongError" : "InvalidArgument",
                    "the object key is not valid here (at most %zu bytes of UTF-8 without "
                    "control characters in this bucket)",
                    (size_t)1024 - strlen(s->bucket) - 1);
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
