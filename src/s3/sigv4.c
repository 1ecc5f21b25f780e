/* sigv4.c - verification of SigV4-signed S3 requests (Authorization header and presigned
 * query), and the signing-key cache. The canonical forms are in sigv4_canon.c.
 *
 * Order of checks, cheapest and least revealing first: form of the credentials, scope, time,
 * then the secret lookup, then the signature. Signatures are compared with CRYPTO_memcmp. The
 * error codes follow what S3 answers for the same faults, so clients show familiar messages. */
#include "sigv4_int.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "hs/csv.h"
#include "hs/mem.h"
#include "hs/s3_util.h"
#include "hs/banned.h"

/* ---- Signing-key cache ----------------------------------------------------------------------- */

#define CACHE_ENTRIES 64

struct cache_entry {
    bool used;
    char akid[HS_S3_ACCESS_KEY_MAX + 1];
    char date8[9];
    char region[HS_S3_REGION_MAX + 1];
    char secret[HS_S3_SECRET_MAX + 1];
    uint8_t key[32];
};

struct hs_s3_sigv4_cache {
    pthread_mutex_t lock;
    unsigned next;                             /* round-robin victim (lock) */
    struct cache_entry entries[CACHE_ENTRIES]; /* (lock) */
};

struct hs_s3_sigv4_cache *hs_s3_sigv4_cache_new(void)
{
    struct hs_s3_sigv4_cache *c = hs_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void hs_s3_sigv4_cache_free(struct hs_s3_sigv4_cache *c)
{
    if (c == NULL)
        return;
    pthread_mutex_destroy(&c->lock);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
}

void hs_s3_sigv4_cache_forget(struct hs_s3_sigv4_cache *c, const char *access_key_id)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < CACHE_ENTRIES; i++) {
        if (c->entries[i].used && strcmp(c->entries[i].akid, access_key_id) == 0)
            OPENSSL_cleanse(&c->entries[i], sizeof c->entries[i]);
    }
    pthread_mutex_unlock(&c->lock);
}

static void signing_key(struct hs_s3_sigv4_cache *c, const char *akid, const char *secret,
                        const char *date8, const char *region, uint8_t out[32])
{
    if (c != NULL) {
        bool hit = false;
        pthread_mutex_lock(&c->lock);
        for (unsigned i = 0; i < CACHE_ENTRIES && !hit; i++) {
            struct cache_entry *e = &c->entries[i];
            if (e->used && strcmp(e->akid, akid) == 0 && strcmp(e->date8, date8) == 0 &&
                strcmp(e->region, region) == 0 && strcmp(e->secret, secret) == 0) {
                memcpy(out, e->key, 32);
                hit = true;
            }
        }
        pthread_mutex_unlock(&c->lock);
        if (hit)
            return;
    }
    hs_s3_sigv4_signing_key(secret, date8, region, out);
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    struct cache_entry *e = &c->entries[c->next];
    c->next = (c->next + 1) % CACHE_ENTRIES;
    e->used = true;
    snprintf(e->akid, sizeof e->akid, "%s", akid);
    snprintf(e->date8, sizeof e->date8, "%s", date8);
    snprintf(e->region, sizeof e->region, "%s", region);
    snprintf(e->secret, sizeof e->secret, "%s", secret);
    memcpy(e->key, out, 32);
    pthread_mutex_unlock(&c->lock);
}

/* ---- Parsed credentials ---------------------------------------------------------------------- */

struct creds {
    char akid[HS_S3_ACCESS_KEY_MAX + 1];
    char date8[9];
    char region[HS_S3_REGION_MAX + 1];
    char signed_headers[1024];
    char signature[HS_S3_SIG_HEX_LEN + 1];
    char amz_date[HS_S3_AMZ_DATE_LEN + 1];
};

static enum hs_err fail(struct hs_s3_sigv4_result *out, enum hs_s3_err e, const char *detail)
{
    out->error = e;
    out->error_detail = detail;
    return HS_EAUTH;
}

/* Copies s[0..n) into dst (cap bytes with the NUL): false when it does not fit or is empty. */
static bool copy_field(char *dst, size_t cap, const char *s, size_t n)
{
    if (n == 0 || n >= cap)
        return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

/* "AKID/20250101/us-east-1/s3/aws4_request" (decoded). */
static bool parse_credential(struct creds *c, const char *s, size_t n, const char **why)
{
    const char *parts[5];
    size_t lens[5];
    size_t k = 0;
    const char *p = s, *end = s + n;
    while (k < 5) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *e = slash != NULL && k < 4 ? slash : end;
        parts[k] = p;
        lens[k] = (size_t)(e - p);
        k++;
        if (e == end)
            break;
        p = e + 1;
    }
    *why = "credential must have the form <key id>/<date>/<region>/s3/aws4_request";
    if (k != 5)
        return false;
    if (!copy_field(c->akid, sizeof c->akid, parts[0], lens[0]) ||
        !copy_field(c->date8, sizeof c->date8, parts[1], lens[1]) || lens[1] != 8 ||
        !copy_field(c->region, sizeof c->region, parts[2], lens[2]))
        return false;
    for (int i = 0; i < 8; i++) {
        if (!isdigit((unsigned char)c->date8[i]))
            return false;
    }
    if (lens[3] != 2 || memcmp(parts[3], "s3", 2) != 0) {
        *why = "credential should be scoped to the correct service: 's3'";
        return false;
    }
    if (lens[4] != 12 || memcmp(parts[4], "aws4_request", 12) != 0) {
        *why = "credential should be scoped with a valid terminator: 'aws4_request'";
        return false;
    }
    return true;
}

static bool lower_hex64(const char *s, size_t n)
{
    if (n != HS_S3_SIG_HEX_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

/* Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=... */
static bool parse_authorization(struct creds *c, const char *v, const char **why)
{
    static const char algo[] = "AWS4-HMAC-SHA256";
    bool have_cred = false, have_sh = false, have_sig = false;
    *why = "the authorization header is malformed";
    if (strncmp(v, algo, sizeof algo - 1) != 0 || (v[sizeof algo - 1] != ' '))
        return false;
    const char *rest = v + sizeof algo, *p;
    size_t n;
    while (hs_csv_next(&rest, &p, &n)) {
        const char *eq = memchr(p, '=', n);
        if (eq == NULL)
            return false;
        size_t klen = (size_t)(eq - p), vlen = n - klen - 1;
        const char *val = eq + 1;
        if (klen == 10 && memcmp(p, "Credential", 10) == 0 && !have_cred) {
            if (!parse_credential(c, val, vlen, why))
                return false;
            have_cred = true;
        } else if (klen == 13 && memcmp(p, "SignedHeaders", 13) == 0 && !have_sh) {
            if (!copy_field(c->signed_headers, sizeof c->signed_headers, val, vlen))
                return false;
            have_sh = true;
        } else if (klen == 9 && memcmp(p, "Signature", 9) == 0 && !have_sig) {
            if (!lower_hex64(val, vlen))
                return false;
            memcpy(c->signature, val, vlen);
            c->signature[vlen] = '\0';
            have_sig = true;
        } else {
            return false;
        }
    }
    if (!have_cred || !have_sh || !have_sig)
        return false;
    return true;
}

/* Signed header names: lower-case, ';'-separated, host among them. */
static bool signed_headers_ok(const char *sh)
{
    bool host = false;
    const char *p = sh;
    while (*p != '\0') {
        const char *semi = strchr(p, ';');
        size_t n = semi != NULL ? (size_t)(semi - p) : strlen(p);
        if (n == 0)
            return false;
        for (size_t i = 0; i < n; i++) {
            if (p[i] >= 'A' && p[i] <= 'Z')
                return false;
        }
        if (n == 4 && memcmp(p, "host", 4) == 0)
            host = true;
        p += n + (semi != NULL ? 1 : 0);
    }
    return host;
}

/* A query parameter, decoded, into dst. false when absent or too long. */
static bool query_param(const char *query, const char *name, char *dst, size_t cap)
{
    const char *v;
    size_t n;
    if (query == NULL || !hs_s3_query_find(query, name, &v, &n) || n >= cap)
        return false;
    size_t m = hs_s3_url_decode(v, n, true, dst);
    dst[m] = '\0';
    return true;
}

bool hs_s3_payload_mode_parse(const char *v, enum hs_s3_payload_mode *mode, uint8_t sha256[32])
{
    static const struct {
        const char *text;
        enum hs_s3_payload_mode mode;
    } modes[] = {
        {"UNSIGNED-PAYLOAD", HS_S3_PAYLOAD_UNSIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", HS_S3_PAYLOAD_STREAMING_SIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", HS_S3_PAYLOAD_STREAMING_SIGNED_TRAILER},
        {"STREAMING-UNSIGNED-PAYLOAD-TRAILER", HS_S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER},
    };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(v, modes[i].text) == 0) {
            *mode = modes[i].mode;
            return true;
        }
    }
    if (hs_s3_hex_decode(v, strlen(v), sha256, 32)) {
        *mode = HS_S3_PAYLOAD_SHA256;
        return true;
    }
    return false;
}

static bool parse_payload(const char *v, struct hs_s3_sigv4_result *out)
{
    if (!hs_s3_payload_mode_parse(v, &out->payload, out->content_sha256))
        return false;
    out->has_content_sha256 = out->payload == HS_S3_PAYLOAD_SHA256;
    return true;
}

bool hs_s3_payload_is_streaming(enum hs_s3_payload_mode m)
{
    return m == HS_S3_PAYLOAD_STREAMING_SIGNED || m == HS_S3_PAYLOAD_STREAMING_SIGNED_TRAILER ||
           m == HS_S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
}

/* ---- Verification ---------------------------------------------------------------------------- */

static enum hs_err check_scope(const struct hs_s3_sigv4_opts *o, const struct creds *c,
                               enum hs_s3_err malformed, struct hs_s3_sigv4_result *out)
{
    if (memcmp(c->date8, c->amz_date, 8) != 0)
        return fail(out, malformed, "Invalid credential date. Date is not the same as X-Amz-Date.");
    if (o->region != NULL && o->region[0] != '\0' && strcmp(o->region, c->region) != 0)
        return fail(out, malformed, "the region in the credential is wrong for this endpoint");
    return HS_OK;
}

static enum hs_err finish(const struct hs_s3_sigv4_opts *o, const struct hs_s3_sigv4_request *req,
                          const struct creds *c, const char *skip, const char *payload_hash,
                          struct hs_s3_sigv4_result *out)
{
    char secret[HS_S3_SECRET_MAX + 1] = {0};
    void *info = NULL;
    enum hs_err err = o->lookup(o->lookup_arg, c->akid, secret, &info);
    if (err == HS_ENOENT)
        return fail(out, HS_S3_INVALID_ACCESS_KEY_ID,
                    hs_s3_err_message(HS_S3_INVALID_ACCESS_KEY_ID));
    if (err != HS_OK)
        return fail(out, HS_S3_INTERNAL_ERROR, "cannot look up the access key");
    secret[HS_S3_SECRET_MAX] = '\0';
    snprintf(out->access_key_id, sizeof out->access_key_id, "%s", c->akid);
    out->key_info = info;
    snprintf(out->scope, sizeof out->scope, "%s/%s/s3/aws4_request", c->date8, c->region);
    memcpy(out->amz_date, c->amz_date, sizeof out->amz_date);
    signing_key(o->cache, c->akid, secret, c->date8, c->region, out->signing_key);
    OPENSSL_cleanse(secret, sizeof secret);

    struct hs_buf sts;
    const char *missing = NULL;
    hs_buf_init(&sts, 0);
    err = hs_s3_sigv4_string_to_sign(req, c->signed_headers, skip, payload_hash, c->amz_date,
                                     out->scope, &sts, &missing);
    if (err == HS_OK) {
        uint8_t sig[32];
        hs_s3_hmac_sha256(out->signing_key, 32, sts.data, sts.len, sig);
        hs_s3_hex(sig, 32, out->seed_signature);
        if (CRYPTO_memcmp(out->seed_signature, c->signature, HS_S3_SIG_HEX_LEN) != 0)
            err = fail(out, HS_S3_SIGNATURE_DOES_NOT_MATCH,
                       hs_s3_err_message(HS_S3_SIGNATURE_DOES_NOT_MATCH));
    } else if (err == HS_ENOENT) {
        err = fail(out, HS_S3_SIGNATURE_DOES_NOT_MATCH, "a signed header is missing");
    } else {
        err = fail(out, HS_S3_INVALID_REQUEST, "the request is too large to be signed");
    }
    hs_buf_release(&sts);
    if (err != HS_OK)
        OPENSSL_cleanse(out->signing_key, sizeof out->signing_key);
    return err;
}

static enum hs_err verify_header(const struct hs_s3_sigv4_opts *o,
                                 const struct hs_s3_sigv4_request *req, const char *auth,
                                 struct hs_s3_sigv4_result *out)
{
    struct creds c;
    const char *why = NULL;
    memset(&c, 0, sizeof c);
    out->kind = HS_S3_AUTH_HEADER;
    if (strncmp(auth, "AWS ", 4) == 0)
        return fail(out, HS_S3_INVALID_REQUEST,
                    "Signature Version 2 is not supported: please use AWS4-HMAC-SHA256");
    if (!parse_authorization(&c, auth, &why))
        return fail(out, HS_S3_AUTHORIZATION_HEADER_MALFORMED, why);
    if (!signed_headers_ok(c.signed_headers))
        return fail(out, HS_S3_AUTHORIZATION_HEADER_MALFORMED,
                    "SignedHeaders must be lower-case and include host");
    const char *date = hs_s3_sigv4_header(req, "x-amz-date");
    int64_t t;
    if (date == NULL || !hs_s3_time_parse_amz(date, &t))
        return fail(out, HS_S3_ACCESS_DENIED,
                    "AWS authentication requires a valid Date or x-amz-date header");
    memcpy(c.amz_date, date, HS_S3_AMZ_DATE_LEN);
    enum hs_err err = check_scope(o, &c, HS_S3_AUTHORIZATION_HEADER_MALFORMED, out);
    if (err != HS_OK)
        return err;
    int64_t skew = o->max_skew_s > 0 ? o->max_skew_s : HS_S3_SIGV4_SKEW_S;
    out->request_time_s = t;
    if (t > req->now_s + skew || t < req->now_s - skew)
        return fail(out, HS_S3_REQUEST_TIME_TOO_SKEWED,
                    hs_s3_err_message(HS_S3_REQUEST_TIME_TOO_SKEWED));
    const char *payload = hs_s3_sigv4_header(req, "x-amz-content-sha256");
    if (payload == NULL)
        return fail(out, HS_S3_INVALID_REQUEST,
                    "Missing required header for this request: x-amz-content-sha256");
    if (!parse_payload(payload, out))
        return fail(out, HS_S3_INVALID_ARGUMENT,
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-... or a valid "
                    "sha256 value.");
    return finish(o, req, &c, NULL, payload, out);
}

static enum hs_err verify_presigned(const struct hs_s3_sigv4_opts *o,
                                    const struct hs_s3_sigv4_request *req, const char *query,
                                    struct hs_s3_sigv4_result *out)
{
    const enum hs_s3_err bad = HS_S3_AUTHORIZATION_QUERY_PARAMS_ERROR;
    struct creds c;
    char algo[32], cred[HS_S3_ACCESS_KEY_MAX + HS_S3_SCOPE_MAX + 2], expires[16];
    const char *why = NULL;
    memset(&c, 0, sizeof c);
    out->kind = HS_S3_AUTH_PRESIGNED;
    if (!query_param(query, "X-Amz-Algorithm", algo, sizeof algo) ||
        strcmp(algo, "AWS4-HMAC-SHA256") != 0)
        return fail(out, bad, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
    if (!query_param(query, "X-Amz-Credential", cred, sizeof cred) ||
        !query_param(query, "X-Amz-Date", c.amz_date, sizeof c.amz_date) ||
        !query_param(query, "X-Amz-SignedHeaders", c.signed_headers, sizeof c.signed_headers) ||
        !query_param(query, "X-Amz-Signature", c.signature, sizeof c.signature) ||
        !query_param(query, "X-Amz-Expires", expires, sizeof expires))
        return fail(out, bad,
                    "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                    "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                    "X-Amz-Expires parameters.");
    if (!parse_credential(&c, cred, strlen(cred), &why))
        return fail(out, bad, why);
    if (!lower_hex64(c.signature, strlen(c.signature)))
        return fail(out, bad, "X-Amz-Signature must be 64 lower-case hex digits");
    if (!signed_headers_ok(c.signed_headers))
        return fail(out, bad, "X-Amz-SignedHeaders must be lower-case and include host");
    int64_t t;
    if (!hs_s3_time_parse_amz(c.amz_date, &t))
        return fail(out, bad,
                    "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
    char *end = NULL;
    long long exp = strtoll(expires, &end, 10);
    if (end == expires || *end != '\0' || expires[0] == '-' || expires[0] == '+')
        return fail(out, bad, "X-Amz-Expires should be a number");
    if (exp < 1 || exp > HS_S3_SIGV4_PRESIGN_MAX_S)
        return fail(out, bad,
                    "X-Amz-Expires must be less than a week (in seconds) that is; 604800");
    enum hs_err err = check_scope(o, &c, bad, out);
    if (err != HS_OK)
        return err;
    int64_t skew = o->max_skew_s > 0 ? o->max_skew_s : HS_S3_SIGV4_SKEW_S;
    out->request_time_s = t;
    if (t > req->now_s + skew)
        return fail(out, HS_S3_ACCESS_DENIED, "Request is not valid yet");
    if (req->now_s > t + exp)
        return fail(out, HS_S3_ACCESS_DENIED, "Request has expired");
    /* A presigned URL signs UNSIGNED-PAYLOAD unless the client sent a payload hash header. */
    const char *payload = hs_s3_sigv4_header(req, "x-amz-content-sha256");
    if (payload == NULL)
        payload = "UNSIGNED-PAYLOAD";
    if (!parse_payload(payload, out))
        return fail(out, HS_S3_INVALID_ARGUMENT,
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value.");
    if (hs_s3_payload_is_streaming(out->payload))
        return fail(out, HS_S3_INVALID_REQUEST, "presigned URLs do not support streaming payloads");
    return finish(o, req, &c, "X-Amz-Signature", payload, out);
}

static bool parse_decoded_length(const struct hs_s3_sigv4_request *req, int64_t *out)
{
    const char *v = hs_s3_sigv4_header(req, "x-amz-decoded-content-length");
    *out = -1;
    if (v == NULL)
        return true;
    int64_t n = 0;
    if (*v == '\0' || strlen(v) > 18)
        return false;
    for (const char *p = v; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        n = n * 10 + (*p - '0');
    }
    *out = n;
    return true;
}

enum hs_err hs_s3_sigv4_verify(const struct hs_s3_sigv4_opts *o,
                               const struct hs_s3_sigv4_request *req,
                               struct hs_s3_sigv4_result *out)
{
    memset(out, 0, sizeof *out);
    out->decoded_content_length = -1;
    out->error_detail = "";
    if (o == NULL || o->lookup == NULL || req == NULL || req->method == NULL ||
        req->target == NULL || (req->headers == NULL && req->n_headers > 0)) {
        fail(out, HS_S3_INTERNAL_ERROR, "verifier misconfigured");
        return HS_EINVAL;
    }
    if (strlen(req->target) > HS_S3_SIGV4_TARGET_MAX)
        return fail(out, HS_S3_INVALID_REQUEST, "the request target is too long");
    const char *auth = hs_s3_sigv4_header(req, "authorization");
    const char *q = strchr(req->target, '?');
    const char *v;
    size_t vlen;
    bool presigned = q != NULL && hs_s3_query_find(q + 1, "X-Amz-Algorithm", &v, &vlen);
    if (auth != NULL && presigned)
        return fail(out, HS_S3_INVALID_ARGUMENT,
                    "Only one auth mechanism allowed; only the "
                    "X-Amz-Algorithm query parameter or the "
                    "Authorization header should be specified");
    if (!parse_decoded_length(req, &out->decoded_content_length))
        return fail(out, HS_S3_INVALID_ARGUMENT, "x-amz-decoded-content-length is not a number");
    enum hs_err err;
    if (auth != NULL)
        err = verify_header(o, req, auth, out);
    else if (presigned)
        err = verify_presigned(o, req, q + 1, out);
    else
        err = HS_OK; /* anonymous: the caller decides */
    if (err != HS_OK) {
        out->has_content_sha256 = false;
        out->seed_signature[0] = '\0';
    }
    return err;
}
