/* s3_list.c - ListObjectsV2, ListObjects (v1) and ListObjectVersions over the object layer's
 * delimited listing (hs_obj_list_dir: bounded etcd pages, a common prefix skipped with one
 * range instead of walking its keys). Objects of bucket b are the native keys "b/<key>"
 * (s3_api.h); rows come back in key order, objects and common prefixes sharing max-keys.
 * encoding-type=url is honoured in full (Key, Prefix, Delimiter, StartAfter, Marker,
 * NextMarker, KeyMarker, NextKeyMarker, CommonPrefixes) or, when absent, nothing is encoded
 * and EncodingType is not echoed; text is always XML-escaped. Continuation tokens are the hex
 * of the last key or common prefix returned (opaque to clients). Versions: buckets are not
 * versioned, so every object is its one version "null", IsLatest. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/s3_object_int.h"
#include "hs/arena.h"
#include "hs/buf.h"
#include "hs/mem.h"
#include "hs/s3_util.h"
#include "hs/s3_xml.h"
#include "hs/banned.h"

#define MAX_KEYS 1000

enum list_kind { LIST_V1, LIST_V2, LIST_VERSIONS };

struct row {
    char *key; /* S3 key or common prefix (heap) */
    bool cp;
    int64_t size_bytes, created_ms;
    char *etag; /* heap */
    enum hs_strategy strategy;
};

struct list {
    const char *bucket;
    size_t strip; /* strlen(bucket) + 1: "b/" */
    struct row *rows;
    size_t n;
};

static void list_row(void *ctx, const struct hs_obj_list_entry *e, const char *cp)
{
    struct list *l = ctx;
    const char *native = e ? e->key : cp;
    if (strlen(native) < l->strip)
        return;
    l->rows = hs_xrealloc(l->rows, (l->n + 1) * sizeof *l->rows);
    struct row *r = &l->rows[l->n++];
    memset(r, 0, sizeof *r);
    r->key = hs_xstrdup(native + l->strip);
    r->cp = cp != NULL;
    if (e) {
        r->size_bytes = e->size_bytes;
        r->created_ms = e->created_ms;
        r->etag = hs_xstrdup(e->etag ? e->etag : "");
        r->strategy = e->strategy;
    }
}

static void list_release(struct list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->rows[i].key);
        free(l->rows[i].etag);
    }
    free(l->rows);
}

/* The request's parameters. */
struct params {
    const char *prefix, *delimiter, *start; /* start: decoded resume point, NULL = none */
    size_t max_keys;
    bool url;
};

/* max-keys: digits, capped at 1000. false after answering. */
static bool parse_max_keys(struct hs_http_req *r, size_t *out)
{
    const char *v = hs_http_req_query(r, "max-keys");
    *out = MAX_KEYS;
    if (!v)
        return true;
    size_t n = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9' || n > 100000000) {
            hs_s3_error(r, "InvalidArgument",
                        "Provided max-keys not an integer or within "
                        "integer range");
            return false;
        }
        n = n * 10 + (size_t)(*p - '0');
    }
    if (!*v) {
        hs_s3_error(r, "InvalidArgument", "max-keys is empty");
        return false;
    }
    *out = n < MAX_KEYS ? n : MAX_KEYS;
    return true;
}

static bool parse_common(struct hs_http_req *r, struct params *p)
{
    p->prefix = hs_http_req_query(r, "prefix");
    p->delimiter = hs_http_req_query(r, "delimiter");
    if (p->prefix && !*p->prefix)
        p->prefix = NULL;
    if (p->delimiter && !*p->delimiter)
        p->delimiter = NULL;
    const char *enc = hs_http_req_query(r, "encoding-type");
    if (enc && *enc && strcmp(enc, "url") != 0) {
        hs_s3_error(r, "InvalidArgument", "Invalid Encoding Method specified in Request");
        return false;
    }
    p->url = enc && strcmp(enc, "url") == 0;
    return parse_max_keys(r, &p->max_keys);
}

/* The continuation token decoded into the arena, NULL when it is not one of ours. */
static const char *token_decode(struct hs_arena *a, const char *tok)
{
    char *key = hs_s3_list_token_decode(tok);
    const char *out = key ? hs_arena_strdup(a, key) : NULL;
    free(key);
    return out;
}

/* <name>text</name>, URL-encoded first when the request asked for encoding-type=url. */
static void elem_enc(struct hs_s3_xml *x, const char *name, const char *text, bool url)
{
    if (!url || !text) {
        hs_s3_xml_elem(x, name, text);
        return;
    }
    struct hs_buf b;
    hs_buf_init(&b, 0);
    if (hs_s3_url_encode_listing(&b, text, strlen(text)) != HS_OK)
        x->err = HS_ETOOBIG;
    hs_s3_xml_elem_n(x, name, (const char *)b.data, b.len);
    hs_buf_release(&b);
}

/* Runs the listing of bucket for p; false after answering. */
static bool run(struct hs_http_req *r, const struct params *p, struct list *l, bool *truncated)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    struct hs_arena *a = hs_http_req_arena(r);
    l->bucket = s->bucket;
    l->strip = strlen(s->bucket) + 1;
    *truncated = false;
    if (p->max_keys == 0)
        return true;
    struct hs_obj_list_req req = {
        .prefix = hs_arena_printf(a, "%s/%s", s->bucket, p->prefix ? p->prefix : ""),
        .delimiter = p->delimiter,
        .start_after = p->start ? hs_arena_printf(a, "%s/%s", s->bucket, p->start) : NULL,
        .limit = p->max_keys};
    enum hs_err err = hs_obj_list_dir(s->gw, &req, list_row, l, truncated);
    if (err != HS_OK) {
        hs_s3_error_hs(r, err, "cannot list the bucket");
        return false;
    }
    return true;
}

static void write_contents(struct hs_s3_xml *x, const struct row *row, bool url, bool versions)
{
    char when[HS_S3_ISO_DATE_LEN + 1], etag[HS_ETAG_MAX + 3];
    hs_s3_time_iso8601(row->created_ms, when);
    snprintf(etag, sizeof etag, "\"%s\"", row->etag);
    hs_s3_xml_open(x, versions ? "Version" : "Contents", NULL);
    elem_enc(x, "Key", row->key, url);
    if (versions) {
        hs_s3_xml_elem(x, "VersionId", "null");
        hs_s3_xml_elem_bool(x, "IsLatest", true);
    }
    hs_s3_xml_elem(x, "LastModified", when);
    hs_s3_xml_elem(x, "ETag", etag);
    hs_s3_xml_elem_u64(x, "Size", (uint64_t)row->size_bytes);
    const char *sc = hs_s3_storage_class_of(row->strategy);
    hs_s3_xml_elem(x, "StorageClass", sc ? sc : "STANDARD");
    hs_s3_xml_close(x);
}

static void write_rows(struct hs_s3_xml *x, const struct list *l, bool url, bool versions)
{
    for (size_t i = 0; i < l->n; i++)
        if (!l->rows[i].cp)
            write_contents(x, &l->rows[i], url, versions);
    for (size_t i = 0; i < l->n; i++) {
        if (!l->rows[i].cp)
            continue;
        hs_s3_xml_open(x, "CommonPrefixes", NULL);
        elem_enc(x, "Prefix", l->rows[i].key, url);
        hs_s3_xml_close(x);
    }
}

static void respond(struct hs_http_req *r, struct hs_s3_xml *x, struct hs_buf *out)
{
    if (hs_s3_xml_end(x) != HS_OK)
        hs_s3_error(r, "InternalError", "cannot write the listing");
    else
        hs_s3_respond_xml(r, 200, (const char *)out->data, out->len);
}

static void list_objects(struct hs_http_req *r, enum list_kind kind)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    struct hs_arena *a = hs_http_req_arena(r);
    struct params p = {0};
    if (!parse_common(r, &p))
        return;
    const char *token = NULL, *start_after = NULL, *marker = NULL, *vmarker = NULL;
    if (kind == LIST_V2) {
        token = hs_http_req_query(r, "continuation-token");
        start_after = hs_http_req_query(r, "start-after");
        if (token && !(p.start = token_decode(a, token))) {
            hs_s3_error(r, "InvalidArgument", "The continuation token provided is incorrect");
            return;
        }
        if (!token && start_after && *start_after)
            p.start = start_after;
    } else {
        marker = hs_http_req_query(r, kind == LIST_V1 ? "marker" : "key-marker");
        if (kind == LIST_VERSIONS) {
            vmarker = hs_http_req_query(r, "version-id-marker");
            if (vmarker && *vmarker && (!marker || !*marker)) {
                hs_s3_error(r, "InvalidArgument",
                            "A version-id marker cannot be specified without a key marker.");
                return;
            }
            if (vmarker && *vmarker && strcmp(vmarker, "null") != 0) {
                hs_s3_error(r, "InvalidArgument", "Invalid version id specified");
                return;
            }
        }
        /* every key has one version ("null"): resume after the key, whatever the version */
        if (marker && *marker)
            p.start = marker;
    }
    struct list l = {0};
    bool truncated = false;
    if (!run(r, &p, &l, &truncated))
        return;
    const struct row *last = l.n ? &l.rows[l.n - 1] : NULL;
    struct hs_buf out;
    hs_buf_init(&out, 0);
    struct hs_s3_xml x;
    hs_s3_xml_begin(&x, &out);
    hs_s3_xml_open(&x, kind == LIST_VERSIONS ? "ListVersionsResult" : "ListBucketResult",
                   HS_S3_XMLNS);
    hs_s3_xml_elem(&x, "Name", s->bucket);
    elem_enc(&x, "Prefix", p.prefix ? p.prefix : "", p.url);
    if (kind == LIST_V2) {
        if (start_after && *start_after)
            elem_enc(&x, "StartAfter", start_after, p.url);
        if (token)
            hs_s3_xml_elem(&x, "ContinuationToken", token);
    } else if (kind == LIST_V1) {
        elem_enc(&x, "Marker", marker ? marker : "", p.url);
    } else {
        elem_enc(&x, "KeyMarker", marker ? marker : "", p.url);
        hs_s3_xml_elem(&x, "VersionIdMarker", vmarker ? vmarker : "");
    }
    if (p.delimiter)
        elem_enc(&x, "Delimiter", p.delimiter, p.url);
    hs_s3_xml_elem_u64(&x, "MaxKeys", p.max_keys);
    if (kind == LIST_V2)
        hs_s3_xml_elem_u64(&x, "KeyCount", l.n);
    hs_s3_xml_elem_bool(&x, "IsTruncated", truncated);
    if (truncated && last) {
        if (kind == LIST_V2) {
            char *t = hs_s3_list_token_encode(last->key);
            hs_s3_xml_elem(&x, "NextContinuationToken", t);
            free(t);
        } else if (kind == LIST_V1 && p.delimiter) {
            elem_enc(&x, "NextMarker", last->key, p.url);
        } else if (kind == LIST_VERSIONS) {
            elem_enc(&x, "NextKeyMarker", last->key, p.url);
            if (!last->cp)
                hs_s3_xml_elem(&x, "NextVersionIdMarker", "null");
        }
    }
    if (p.url)
        hs_s3_xml_elem(&x, "EncodingType", "url");
    write_rows(&x, &l, p.url, kind == LIST_VERSIONS);
    hs_s3_xml_close(&x);
    respond(r, &x, &out);
    hs_buf_release(&out);
    list_release(&l);
}

void hs_s3_list_objects_done(struct hs_http_req *r)
{
    list_objects(r, LIST_V1);
}

void hs_s3_list_objects_v2_done(struct hs_http_req *r)
{
    list_objects(r, LIST_V2);
}

void hs_s3_list_object_versions_done(struct hs_http_req *r)
{
    list_objects(r, LIST_VERSIONS);
}
