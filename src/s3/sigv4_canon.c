/* sigv4_canon.c - the canonical forms of SigV4 for S3: URI, query string, header values, the
 * canonical request and the string to sign, and the signing-key derivation. Shared by the
 * verifier (sigv4.c) and the client-side signer.
 *
 * S3 differs from the other AWS services in one point: the path is not normalised and not
 * double-encoded. It is decoded once and re-encoded with only A-Z a-z 0-9 - _ . ~ and '/'
 * kept, so "%2B" and a literal '+' in a path both sign as "%2B" (a plus). Query values are
 * decoded as forms are ('+' is a space) and re-encoded with space as %20 and '/' as %2F. */
#include "sigv4_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "hs/s3_util.h"
#include "hs/banned.h"

void hs_s3_sigv4_signing_key(const char *secret, const char *date8, const char *region,
                             uint8_t out[32])
{
    uint8_t k0[4 + HS_S3_SECRET_MAX]; /* "AWS4" + secret: a key, not a string */
    size_t slen = strnlen(secret, HS_S3_SECRET_MAX);
    uint8_t k[32];
    static const uint8_t prefix[4] = {'A', 'W', 'S', '4'};
    memcpy(k0, prefix, sizeof prefix);
    memcpy(k0 + 4, secret, slen);
    hs_s3_hmac_sha256(k0, 4 + slen, date8, strlen(date8), k);
    hs_s3_hmac_sha256(k, 32, region, strlen(region), k);
    hs_s3_hmac_sha256(k, 32, "s3", 2, k);
    hs_s3_hmac_sha256(k, 32, "aws4_request", 12, out);
    OPENSSL_cleanse(k0, sizeof k0);
    OPENSSL_cleanse(k, sizeof k);
}

enum hs_err hs_s3_sigv4_canonical_uri(struct hs_buf *out, const char *path, size_t len)
{
    if (len == 0)
        return hs_buf_append(out, "/", 1);
    char *dec = hs_xmalloc(len);
    size_t n = hs_s3_url_decode(path, len, false, dec);
    enum hs_err err = hs_s3_url_encode_sigv4(out, dec, n, true);
    free(dec);
    return err;
}

struct qparam {
    char *name; /* encoded, NUL-terminated, in the scratch arena */
    char *value;
};

static int qparam_cmp(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->value, y->value);
}

/* Decodes then re-encodes s[0..len) into a NUL-terminated string at the end of scratch. */
static enum hs_err reencode(struct hs_buf *scratch, const char *s, size_t len, size_t *off)
{
    char *dec = hs_xmalloc(len + 1);
    size_t n = hs_s3_url_decode(s, len, true, dec);
    *off = scratch->len;
    enum hs_err err = hs_s3_url_encode_sigv4(scratch, dec, n, false);
    if (err == HS_OK)
        err = hs_buf_append(scratch, "", 1);
    free(dec);
    return err;
}

enum hs_err hs_s3_sigv4_canonical_query(struct hs_buf *out, const char *query, size_t len,
                                        const char *skip)
{
    enum { PARAMS_MAX = 1024 };
    struct hs_buf scratch;
    size_t offs[2 * PARAMS_MAX];
    size_t n = 0;
    enum hs_err err = HS_OK;
    hs_buf_init(&scratch, 6 * len + (size_t)2 * PARAMS_MAX + 64);
    const char *p = query, *end = query + len;
    while (p < end && err == HS_OK) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *seg_end = amp != NULL ? amp : end;
        size_t seg = (size_t)(seg_end - p);
        if (seg > 0) {
            const char *eq = memchr(p, '=', seg);
            size_t klen = eq != NULL ? (size_t)(eq - p) : seg;
            if (skip != NULL && klen == strlen(skip) && memcmp(p, skip, klen) == 0) {
                p = seg_end + 1;
                continue;
            }
            if (n == PARAMS_MAX) {
                err = HS_EINVAL;
                break;
            }
            err = reencode(&scratch, p, klen, &offs[2 * n]);
            if (err == HS_OK)
                err = eq != NULL ? reencode(&scratch, eq + 1, seg - klen - 1, &offs[2 * n + 1])
                                 : reencode(&scratch, "", 0, &offs[2 * n + 1]);
            n++;
        }
        p = seg_end + 1;
    }
    struct qparam *params = n > 0 ? hs_xcalloc(n, sizeof *params) : NULL;
    if (err == HS_OK) {
        /* Pointers only now: the scratch buffer may have moved while it grew. */
        for (size_t i = 0; i < n; i++) {
            params[i].name = (char *)scratch.data + offs[2 * i];
            params[i].value = (char *)scratch.data + offs[2 * i + 1];
        }
        if (n > 1)
            qsort(params, n, sizeof *params, qparam_cmp);
        for (size_t i = 0; i < n && err == HS_OK; i++) {
            if (i > 0)
                err = hs_buf_append(out, "&", 1);
            if (err == HS_OK)
                err = hs_buf_append(out, params[i].name, strlen(params[i].name));
            if (err == HS_OK)
                err = hs_buf_append(out, "=", 1);
            if (err == HS_OK)
                err = hs_buf_append(out, params[i].value, strlen(params[i].value));
        }
    }
    free(params);
    hs_buf_release(&scratch);
    return err;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

enum hs_err hs_s3_sigv4_canonical_value(struct hs_buf *out, const char *v, size_t len)
{
    size_t i = 0, end = len;
    while (i < end && is_space(v[i]))
        i++;
    while (end > i && is_space(v[end - 1]))
        end--;
    enum hs_err err = HS_OK;
    bool in_space = false;
    size_t run = i;
    for (size_t j = i; j < end && err == HS_OK; j++) {
        if (is_space(v[j])) {
            if (!in_space) {
                err = hs_buf_append(out, v + run, j - run);
                if (err == HS_OK)
                    err = hs_buf_append(out, " ", 1);
                in_space = true;
            }
            run = j + 1;
        } else {
            in_space = false;
        }
    }
    if (err == HS_OK && end > run)
        err = hs_buf_append(out, v + run, end - run);
    return err;
}

const char *hs_s3_sigv4_header(const struct hs_s3_sigv4_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        if (req->headers[i].name != NULL && strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value != NULL ? req->headers[i].value : "";
    }
    return NULL;
}

/* Appends "name:canonical values\n" for the header name (n bytes, lower-case). HS_ENOENT when
 * the request has no such header. */
static enum hs_err canonical_header(struct hs_buf *out, const struct hs_s3_sigv4_request *req,
                                    const char *name, size_t n)
{
    enum hs_err err = hs_buf_append(out, name, n);
    bool found = false;
    if (err == HS_OK)
        err = hs_buf_append(out, ":", 1);
    for (size_t i = 0; i < req->n_headers && err == HS_OK; i++) {
        const struct hs_s3_header *h = &req->headers[i];
        if (h->name == NULL || strlen(h->name) != n || strncasecmp(h->name, name, n) != 0)
            continue;
        if (found)
            err = hs_buf_append(out, ",", 1);
        found = true;
        if (err == HS_OK && h->value != NULL)
            err = hs_s3_sigv4_canonical_value(out, h->value, strlen(h->value));
    }
    if (err == HS_OK && !found)
        return HS_ENOENT;
    return err == HS_OK ? hs_buf_append(out, "\n", 1) : err;
}

enum hs_err hs_s3_sigv4_string_to_sign(const struct hs_s3_sigv4_request *req,
                                       const char *signed_headers, const char *skip_param,
                                       const char *payload_hash, const char *amz_date,
                                       const char *scope, struct hs_buf *sts,
                                       const char **missing_header)
{
    struct hs_buf cr;
    enum hs_err err;
    const char *target = req->target;
    const char *q = strchr(target, '?');
    size_t path_len = q != NULL ? (size_t)(q - target) : strlen(target);
    hs_buf_init(&cr, HS_S3_SIGV4_CANONICAL_MAX);
    err = hs_buf_append(&cr, req->method, strlen(req->method));
    if (err == HS_OK)
        err = hs_buf_append(&cr, "\n", 1);
    if (err == HS_OK)
        err = hs_s3_sigv4_canonical_uri(&cr, target, path_len);
    if (err == HS_OK)
        err = hs_buf_append(&cr, "\n", 1);
    if (err == HS_OK && q != NULL)
        err = hs_s3_sigv4_canonical_query(&cr, q + 1, strlen(q + 1), skip_param);
    if (err == HS_OK)
        err = hs_buf_append(&cr, "\n", 1);
    /* Canonical headers, in the order of SignedHeaders (which clients send sorted). */
    const char *p = signed_headers;
    while (err == HS_OK && *p != '\0') {
        const char *semi = strchr(p, ';');
        size_t n = semi != NULL ? (size_t)(semi - p) : strlen(p);
        err = canonical_header(&cr, req, p, n);
        if (err == HS_ENOENT && missing_header != NULL)
            *missing_header = p;
        p += n + (semi != NULL ? 1 : 0);
    }
    if (err == HS_OK)
        err = hs_buf_printf(&cr, "\n%s\n%s", signed_headers, payload_hash);
    if (err == HS_OK) {
        uint8_t h[32];
        char hex[65];
        hs_s3_sha256(cr.data, cr.len, h);
        hs_s3_hex(h, 32, hex);
        err = hs_buf_printf(sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, hex);
    }
    hs_buf_release(&cr);
    return err;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

enum hs_err hs_s3_sigv4_sign(const char *access_key_id, const char *secret, const char *region,
                             const struct hs_s3_sigv4_request *req, struct hs_buf *out)
{
    const char *amz_date = hs_s3_sigv4_header(req, "x-amz-date");
    int64_t t;
    if (req->n_headers == 0 || req->n_headers > HS_S3_SIGV4_HEADERS_MAX || amz_date == NULL ||
        !hs_s3_time_parse_amz(amz_date, &t) || hs_s3_sigv4_header(req, "host") == NULL ||
        hs_s3_sigv4_header(req, "x-amz-content-sha256") == NULL)
        return HS_EINVAL;
    /* SignedHeaders: every distinct header name, lower-cased and sorted. */
    char *names[HS_S3_SIGV4_HEADERS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        char *low = hs_xstrdup(req->headers[i].name);
        for (char *c = low; *c != '\0'; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        bool dup = false;
        for (size_t j = 0; j < n && !dup; j++)
            dup = strcmp(names[j], low) == 0;
        if (dup)
            free(low);
        else
            names[n++] = low;
    }
    qsort(names, n, sizeof names[0], name_cmp);
    struct hs_buf sh, sts;
    hs_buf_init(&sh, 0);
    hs_buf_init(&sts, 0);
    enum hs_err err = HS_OK;
    for (size_t i = 0; i < n && err == HS_OK; i++)
        err = hs_buf_printf(&sh, "%s%s", i > 0 ? ";" : "", names[i]);
    char scope[HS_S3_SCOPE_MAX], date8[9];
    memcpy(date8, amz_date, 8);
    date8[8] = '\0';
    if (strlen(region) > HS_S3_REGION_MAX)
        err = HS_EINVAL;
    else
        snprintf(scope, sizeof scope, "%s/%s/s3/aws4_request", date8, region);
    if (err == HS_OK)
        err = hs_s3_sigv4_string_to_sign(req, (const char *)sh.data, NULL,
                                         hs_s3_sigv4_header(req, "x-amz-content-sha256"), amz_date,
                                         scope, &sts, NULL);
    if (err == HS_OK) {
        uint8_t key[32], sig[32];
        char hex[65];
        hs_s3_sigv4_signing_key(secret, date8, region, key);
        hs_s3_hmac_sha256(key, 32, sts.data, sts.len, sig);
        hs_s3_hex(sig, 32, hex);
        err =
            hs_buf_printf(out, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                          access_key_id, scope, (const char *)sh.data, hex);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    hs_buf_release(&sh);
    hs_buf_release(&sts);
    return err;
}
