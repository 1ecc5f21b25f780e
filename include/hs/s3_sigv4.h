/* s3_sigv4.h - AWS Signature Version 4 verification for S3 requests: the Authorization header
 * form and the presigned query form, every payload mode, the 15-minute skew window, and a
 * cache of derived signing keys. Pure: no sockets, no etcd; secrets come from a callback.
 *
 * What is verified (and what the caller still has to do):
 *   - the signature over the canonical request built from the RAW request target (path decoded
 *     once and re-encoded per S3's rules, never normalised; every query parameter signed,
 *     sorted by encoded name then value, "?uploads" signed as "uploads="), the SignedHeaders
 *     (host must be one of them; values trimmed, inner space runs collapsed, repeated headers
 *     joined with ','), and x-amz-content-sha256 (or UNSIGNED-PAYLOAD for presigned URLs);
 *   - the credential scope: <date>/<region>/s3/aws4_request, date == the date of x-amz-date,
 *     region == the configured one (unless none is configured);
 *   - the time: |now - x-amz-date| <= 15 min (RequestTimeTooSkewed); presigned: X-Amz-Expires in
 *     1..604800 and now <= X-Amz-Date + X-Amz-Expires (AccessDenied "Request has expired").
 *   The caller verifies the payload itself: a hex SHA-256 while streaming (hs_s3_hasher), the
 *   chunk signatures with hs_s3_chunked (s3_chunked.h) using the seed, key and scope returned.
 *
 * Thread-safety: hs_s3_sigv4_verify is reentrant; the cache is internally locked and may be
 * shared by all threads. Nothing blocks except the secret callback (the caller's). */
#ifndef HS_S3_SIGV4_H
#define HS_S3_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"
#include "hs/s3_err.h"

#define HS_S3_SIGV4_SKEW_S        900    /* allowed |now - x-amz-date| */
#define HS_S3_SIGV4_PRESIGN_MAX_S 604800 /* longest X-Amz-Expires: 7 days */
#define HS_S3_ACCESS_KEY_MAX      128    /* bytes of an access key id */
#define HS_S3_SECRET_MAX          128    /* bytes of a secret key */
#define HS_S3_REGION_MAX          64     /* bytes of a region name */
#define HS_S3_SIG_HEX_LEN         64     /* hex characters of a signature */
#define HS_S3_AMZ_DATE_LEN        16     /* "20250101T000000Z" */
/* "<8 date>/<region>/s3/aws4_request" + NUL */
#define HS_S3_SCOPE_MAX         (8 + 1 + HS_S3_REGION_MAX + 1 + 2 + 1 + 12 + 1)
#define HS_S3_SIGV4_HEADERS_MAX 64    /* headers hs_s3_sigv4_sign accepts */
#define HS_S3_SIGV4_TARGET_MAX  16384 /* bytes of the raw request target */

/* A received header. name is matched case-insensitively; a name may appear several times (the
 * values are joined with ',' in array order, as HTTP allows). Both strings NUL-terminated. */
struct hs_s3_header {
    const char *name;
    const char *value;
};

/* How the payload is declared (x-amz-content-sha256). */
enum hs_s3_payload_mode {
    HS_S3_PAYLOAD_SHA256 = 0,                 /* hex SHA-256 of the body: verify it */
    HS_S3_PAYLOAD_UNSIGNED,                   /* UNSIGNED-PAYLOAD (presigned URLs too) */
    HS_S3_PAYLOAD_STREAMING_SIGNED,           /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
    HS_S3_PAYLOAD_STREAMING_SIGNED_TRAILER,   /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER */
    HS_S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER, /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
};

/* Parses an x-amz-content-sha256 value: one of the mode names above, or 64 hex digits (then
 * *mode = HS_S3_PAYLOAD_SHA256 and the digest goes to sha256). false (outputs untouched except
 * possibly sha256) for anything else. */
bool hs_s3_payload_mode_parse(const char *v, enum hs_s3_payload_mode *mode, uint8_t sha256[32]);
/* True for the three STREAMING-* modes: the body is aws-chunked framed (s3_chunked.h). */
bool hs_s3_payload_is_streaming(enum hs_s3_payload_mode m);

enum hs_s3_auth_kind {
    HS_S3_AUTH_ANONYMOUS = 0, /* no Authorization header and no X-Amz-Algorithm parameter */
    HS_S3_AUTH_HEADER,        /* Authorization: AWS4-HMAC-SHA256 Credential=... */
    HS_S3_AUTH_PRESIGNED,     /* ?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=... */
};

/* Looks up the secret of an access key id. On HS_OK: writes the NUL-terminated secret (at most
 * HS_S3_SECRET_MAX bytes) to secret and may set *key_info to anything (the verifier only copies
 * it into the result: the caller's per-key data, e.g. its permissions; borrowed, it must stay
 * valid as long as the caller uses the result). HS_ENOENT for an unknown key
 * (InvalidAccessKeyId); any other error gives InternalError. Called once per verification,
 * from the verifying thread. */
typedef enum hs_err (*hs_s3_secret_fn)(void *arg, const char *access_key_id,
                                       char secret[HS_S3_SECRET_MAX + 1], void **key_info);

struct hs_s3_sigv4_cache;

/* Settings of a verifier; zero values are defaults (except lookup, required). */
struct hs_s3_sigv4_opts {
    const char *region;              /* expected scope region; NULL or "" accepts any region */
    hs_s3_secret_fn lookup;          /* required */
    void *lookup_arg;                /* passed to lookup */
    struct hs_s3_sigv4_cache *cache; /* signing-key cache; NULL derives the key every time */
    int64_t max_skew_s;              /* 0: HS_S3_SIGV4_SKEW_S */
};

/* One request, as received. Every pointer is borrowed for the call only. */
struct hs_s3_sigv4_request {
    const char *method;                 /* "PUT" */
    const char *target;                 /* raw request target exactly as sent: "/b/k%20x?uploads" */
    const struct hs_s3_header *headers; /* every received header */
    size_t n_headers;
    int64_t now_s; /* current Unix time, seconds */
};

/* Outcome of a verification. On success (HS_S3_OK) everything the body checks need. */
struct hs_s3_sigv4_result {
    enum hs_s3_err error;     /* HS_S3_OK, or the S3 error to answer */
    const char *error_detail; /* static text for the error Message (never NULL after verify) */
    enum hs_s3_auth_kind kind;
    char access_key_id[HS_S3_ACCESS_KEY_MAX + 1];
    void *key_info; /* from the lookup callback */
    enum hs_s3_payload_mode payload;
    bool has_content_sha256;                    /* payload == HS_S3_PAYLOAD_SHA256 */
    uint8_t content_sha256[32];                 /* declared body SHA-256, raw */
    int64_t decoded_content_length;             /* x-amz-decoded-content-length, -1 when absent */
    char seed_signature[HS_S3_SIG_HEX_LEN + 1]; /* the request's signature, lower-case hex */
    uint8_t signing_key[32];                    /* kSigning, for chunk and trailer signatures */
    char scope[HS_S3_SCOPE_MAX];                /* "20250101/us-east-1/s3/aws4_request" */
    char amz_date[HS_S3_AMZ_DATE_LEN + 1];      /* "20250101T000000Z" */
    int64_t request_time_s;                     /* x-amz-date as Unix time */
};

/* Verifies the request's authentication and fills *out (always, success or not).
 *   HS_OK:    out->error == HS_S3_OK; out->kind is ANONYMOUS (nothing to verify: the caller
 *             decides whether anonymous access is allowed, normally AccessDenied) or
 *             HEADER/PRESIGNED with a verified signature.
 *   HS_EAUTH: out->error is the S3 error (SignatureDoesNotMatch, InvalidAccessKeyId,
 *             RequestTimeTooSkewed, AccessDenied for an expired URL, AuthorizationHeaderMalformed,
 *             AuthorizationQueryParametersError, InvalidRequest, InvalidArgument...),
 *             out->error_detail the message. A request carrying both forms is InvalidArgument.
 *   HS_EINVAL: o or req incomplete (programming error; out->error InternalError).
 * Blocks only in o->lookup. Thread-safe. */
enum hs_err hs_s3_sigv4_verify(const struct hs_s3_sigv4_opts *o,
                               const struct hs_s3_sigv4_request *req,
                               struct hs_s3_sigv4_result *out);

/* Derives kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date8), region), "s3"),
 * "aws4_request"). date8 is "YYYYMMDD". Thread-safe. */
void hs_s3_sigv4_signing_key(const char *secret, const char *date8, const char *region,
                             uint8_t out[32]);

/* Signs a request as a client does (tools, benchmarks and tests): appends to out the
 * Authorization header value "AWS4-HMAC-SHA256 Credential=.../<date>/<region>/s3/aws4_request,
 * SignedHeaders=...,Signature=...". Every header in req is signed (names lower-cased and
 * sorted); req must contain host, x-amz-date ("YYYYMMDDTHHMMSSZ") and x-amz-content-sha256.
 * req->now_s is not used. HS_EINVAL when one of them is missing or malformed, HS_ETOOBIG past
 * out's cap. Thread-safe. */
enum hs_err hs_s3_sigv4_sign(const char *access_key_id, const char *secret, const char *region,
                             const struct hs_s3_sigv4_request *req, struct hs_buf *out);

/* A cache of signing keys per (access key id, date, region, secret): a small fixed table
 * (entries replaced round-robin), mutex-protected. Entries hold secrets: free it with care.
 * hs_s3_sigv4_cache_new never fails (aborts on OOM); free accepts NULL. */
struct hs_s3_sigv4_cache *hs_s3_sigv4_cache_new(void);
void hs_s3_sigv4_cache_free(struct hs_s3_sigv4_cache *c);
/* Forgets every entry of access_key_id (after a key was removed or its secret changed: the
 * secret is part of the entry, so a changed secret is never served from the cache anyway). */
void hs_s3_sigv4_cache_forget(struct hs_s3_sigv4_cache *c, const char *access_key_id);

#endif
