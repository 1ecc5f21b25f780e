/* s3_rules.c - the pure rules of the S3 object handlers (s3_rules.h). */
#include "gateway/s3_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hs/mem.h"
#include "hs/s3_checksum.h"
#include "hs/s3_util.h"
#include "hs/banned.h"

#define KEY_MAX 1024 /* bytes of an S3 key */

bool hs_s3_etag_listed(const char *header, const char *etag)
{
    size_t elen = strlen(etag);
    for (const char *p = header; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        const char *start = p, *end;
        if (*p == '"') {
            start = p + 1;
            end = strchr(start, '"');
            if (!end)
                return false;
            p = end + 1;
        } else {
            end = p;
            while (*end && *end != ',' && *end != ' ' && *end != '\t')
                end++;
            p = end;
        }
        size_t n = (size_t)(end - start);
        if ((n == 1 && *start == '*') || (n == elen && memcmp(start, etag, n) == 0))
            return true;
    }
    return false;
}

static const char *cond_header(hs_s3_header_get_fn *get, void *ctx, const char *prefix,
                               const char *name)
{
    char full[64];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return get(ctx, full);
}

enum hs_s3_cond hs_s3_cond_eval(hs_s3_header_get_fn *get, void *ctx, const char *prefix,
                                const char *etag, int64_t mtime_s)
{
    const char *im = cond_header(get, ctx, prefix, "If-Match");
    const char *ius = cond_header(get, ctx, prefix, "If-Unmodified-Since");
    const char *inm = cond_header(get, ctx, prefix, "If-None-Match");
    const char *ims = cond_header(get, ctx, prefix, "If-Modified-Since");
    int64_t t = 0;
    if (im) {
        if (!hs_s3_etag_listed(im, etag))
            return HS_S3_COND_FAILED;
    } else if (ius && hs_s3_time_parse_http(ius, &t) && mtime_s > t) {
        return HS_S3_COND_FAILED;
    }
    if (inm) {
        if (hs_s3_etag_listed(inm, etag))
            return HS_S3_COND_NOT_MODIFIED;
    } else if (ims && hs_s3_time_parse_http(ims, &t) && mtime_s <= t) {
        return HS_S3_COND_NOT_MODIFIED;
    }
    return HS_S3_COND_OK;
}

char *hs_s3_content_encoding_dup(const char *v)
{
    char *out = hs_xcalloc(1, strlen(v) + 1);
    hs_s3_content_encoding_strip(v, out); /* the S3 library's rule */
    if (out[0] == '\0') {
        free(out);
        return NULL;
    }
    return out;
}

bool hs_s3_copy_source_parse(const char *value, char **bucket, char **key, size_t *key_len,
                             const char **why)
{
    if (!value || !*value) {
        *why = "x-amz-copy-source is empty";
        return false;
    }
    const char *q = strchr(value, '?'); /* a literal '?' in a key arrives as %3F */
    if (q && strcmp(q, "?versionId=null") != 0) {
        *why = "the copy source's versionId must be null (buckets are not versioned)";
        return false;
    }
    size_t n = q ? (size_t)(q - value) : strlen(value);
    char *dec = hs_xmalloc(n + 1);
    size_t len = hs_s3_url_decode(value, n, false, dec);
    dec[len] = '\0';
    const char *p = dec;
    if (*p == '/') {
        p++;
        len--;
    }
    const char *slash = memchr(p, '/', len);
    if (!slash || slash == p || (size_t)(slash + 1 - p) == len || memchr(p, '\0', len)) {
        free(dec);
        *why = "Copy Source must mention the source bucket and key: sourcebucket/sourcekey";
        return false;
    }
    *bucket = hs_xstrndup(p, (size_t)(slash - p));
    *key_len = len - (size_t)(slash + 1 - p);
    *key = hs_xstrndup(slash + 1, *key_len);
    free(dec);
    return true;
}

char *hs_s3_list_token_encode(const char *key)
{
    size_t n = strlen(key);
    char *out = hs_xmalloc(2 * n + 1);
    hs_s3_hex((const uint8_t *)key, n, out);
    return out;
}

char *hs_s3_list_token_decode(const char *tok)
{
    size_t n = tok ? strlen(tok) : 0;
    if (n == 0 || n % 2 || n > (size_t)2 * KEY_MAX)
        return NULL;
    char *out = hs_xmalloc(n / 2 + 1);
    if (!hs_s3_hex_decode(tok, n, (uint8_t *)out, n / 2) || memchr(out, '\0', n / 2)) {
        free(out);
        return NULL;
    }
    out[n / 2] = '\0';
    return out;
}
