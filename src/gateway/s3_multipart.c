/* s3_multipart.c - the S3 multipart operations that touch only records (docs/s3.md
 * "Multipart"): CreateMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads,
 * and the upload record helpers the part and Complete handlers share (s3_multipart_int.h).
 * Upload records live at upload/<native key>\x01<id>, parts at upart/<id>/<nnnnn>
 * (include/hs/upload.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_int.h"
#include "gateway/s3_multipart_int.h"
#include "gateway/s3_object_int.h"
#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/s3_checksum.h"
#include "hs/s3_util.h"
#include "hs/banned.h"

#define LIST_MAX      1000 /* max-parts / max-uploads cap */
#define CTYPE_DEFAULT "binary/octet-stream"

/* ---- shared helpers ---- */

void hs_mpu_upload_release(struct hs_mpu_upload *u)
{
    if (!u)
        return;
    free(u->etcd_key);
    hs_upload_record_release(&u->rec);
    memset(u, 0, sizeof *u);
}

enum hs_err hs_mpu_load(struct hs_gw *gw, const char *native_key, const char *upload_id,
                        struct hs_mpu_upload *out)
{
    memset(out, 0, sizeof *out);
    hs_upload_record_init(&out->rec);
    if (!upload_id || hs_meta_key_upload(native_key, upload_id, &out->etcd_key) != HS_OK)
        return HS_ENOENT;
    struct hs_etcd_kvs kvs = {0};
    enum hs_err err = hs_etcd_get(gw->etcd, out->etcd_key, &kvs);
    if (err != HS_OK)
        return HS_EUNAVAIL;
    if (kvs.n == 0) {
        err = HS_ENOENT;
    } else {
        out->rev = kvs.kvs[0].mod_revision;
        char why[160] = "";
        if (hs_upload_record_decode(kvs.kvs[0].value, kvs.kvs[0].value_len, &out->rec, why,
                                    sizeof why) != HS_OK) {
            HS_LOG_WARN("s3_upload_unreadable", "key='%s' why='%s'", out->etcd_key, why);
            err = HS_ECORRUPT;
        }
    }
    hs_etcd_kvs_release(&kvs);
    return err;
}

bool hs_mpu_load_open(struct hs_http_req *r, struct hs_mpu_upload *u)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    enum hs_err err = hs_mpu_load(s->gw, s->native_key, hs_http_req_query(r, "uploadId"), u);
    if (err == HS_OK && u->rec.state == HS_UPLOAD_OPEN)
        return true;
    if (err == HS_EUNAVAIL)
        hs_s3_error_hs(r, HS_EUNAVAIL, "cannot read the upload from etcd");
    else
        hs_s3_error(r, "NoSuchUpload", NULL);
    return false;
}

void hs_mpu_cleanup(struct hs_gw *gw, const struct hs_mpu_upload *u, const char *req_id)
{
    size_t parts = 0;
    enum hs_err err =
        hs_upload_retire_parts(gw->etcd, u->etcd_key, u->rev, &u->rec, NULL, 0, &parts);
    HS_LOG(err == HS_OK ? HS_LOG_DEBUG : HS_LOG_WARN, "s3_upload_cleanup",
           "req=%s upload=%s state=%s parts=%zu err=%s", req_id, u->rec.id,
           hs_upload_state_name(u->rec.state), parts, hs_err_name(err));
}

void hs_mpu_respond_xml(struct hs_http_req *r, struct hs_buf *b)
{
    hs_s3_add_request_id(r);
    size_t len = 0;
    uint8_t *data = hs_buf_detach(b, &len);
    hs_http_respond_take(r, 200, "application/xml", data, len);
}

void hs_mpu_xml_text_n(struct hs_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *e = s[i] == '&'    ? "&amp;"
                        : s[i] == '<'  ? "&lt;"
                        : s[i] == '>'  ? "&gt;"
                        : s[i] == '"'  ? "&quot;"
                        : s[i] == '\'' ? "&apos;"
                                       : NULL;
        if (e)
            (void)hs_buf_append(b, e, strlen(e));
        else
            (void)hs_buf_append(b, s + i, 1);
    }
}

void hs_mpu_xml_text(struct hs_buf *b, const char *s)
{
    hs_mpu_xml_text_n(b, s, strlen(s));
}

/* ---- CreateMultipartUpload ---- */

static bool printable(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

void hs_s3_create_multipart_done(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    enum hs_strategy strategy = 0;
    if (hs_s3_strategy_resolve(hs_http_req_header(r, "x-amz-storage-class"),
                               s->has_bucket ? &s->bucket_rec : NULL, &strategy) != HS_OK) {
        hs_s3_error(r, "InvalidStorageClass", NULL);
        return;
    }
    /* parts are one data part each: auto and field_hybrid store them erasure coded */
    if (strategy != HS_STRATEGY_REPLICATION)
        strategy = HS_STRATEGY_EC;
    const char *ctype = hs_http_req_header(r, "Content-Type");
    if (ctype && !printable(ctype, HS_CONTENT_TYPE_MAX)) {
        hs_s3_error(r, "InvalidArgument", "invalid Content-Type");
        return;
    }
    const char *alg_name = hs_http_req_header(r, "x-amz-checksum-algorithm");
    enum hs_s3_cksum_algo alg = HS_S3_CKSUM_NONE;
    if (alg_name && *alg_name && !hs_s3_cksum_parse_name(alg_name, &alg)) {
        hs_s3_error(r, "InvalidRequest", "Checksum algorithm provided is unsupported.");
        return;
    }
    struct hs_mpu_upload u = {0};
    hs_upload_record_init(&u.rec);
    struct hs_upload_record *rec = &u.rec;
    if (hs_upload_id_new(rec->id) != HS_OK) {
        hs_s3_error_hs(r, HS_EIO, "cannot mint an upload id");
        return;
    }
    rec->key = hs_xstrdup(s->native_key);
    rec->bucket = hs_xstrdup(s->bucket);
    rec->s3key = hs_xstrndup(s->key, s->key_len);
    rec->state = HS_UPLOAD_OPEN;
    rec->strategy = strategy;
    rec->content_type = hs_xstrdup(ctype && *ctype ? ctype : CTYPE_DEFAULT);
    struct hs_manifest_attrs attrs = {0};
    if (!hs_s3_attrs_from_request(r, &attrs)) { /* answered (MetadataTooLarge, ...) */
        hs_s3_attrs_release(&attrs);
        hs_mpu_upload_release(&u);
        return;
    }
    enum hs_err aerr = hs_upload_attrs_set(rec, &attrs);
    hs_s3_attrs_release(&attrs);
    if (aerr != HS_OK) {
        hs_mpu_upload_release(&u);
        hs_s3_error(r, "InvalidArgument", "invalid object attributes");
        return;
    }
    snprintf(rec->ck_alg, sizeof rec->ck_alg, "%s", hs_s3_cksum_name(alg));
    rec->created_ms = rec->state_ms = hs_clock_wall_ms();
    char *json = NULL, why[160] = "";
    size_t len = 0;
    enum hs_err err = hs_meta_key_upload(rec->key, rec->id, &u.etcd_key);
    if (err == HS_OK)
        err = hs_upload_record_encode(rec, &json, &len, why, sizeof why);
    if (err != HS_OK) {
        hs_mpu_upload_release(&u);
        hs_s3_error(r, "InvalidArgument", "cannot start an upload for this key: %s", why);
        return;
    }
    struct hs_etcd_cmp cmp = {
        .target = HS_ETCD_CMP_CREATE, .result = HS_ETCD_EQUAL, .key = u.etcd_key, .number = 0};
    struct hs_etcd_op put = {
        .type = HS_ETCD_OP_PUT, .key = u.etcd_key, .value = json, .value_len = len};
    struct hs_etcd_txn t = {.cmps = &cmp, .n_cmps = 1, .success = &put, .n_success = 1};
    struct hs_etcd_txn_result res = {0};
    err = hs_etcd_txn(s->gw->etcd, &t, &res);
    bool ok = err == HS_OK && res.succeeded;
    hs_etcd_txn_result_release(&res);
    free(json);
    if (!ok) {
        hs_mpu_upload_release(&u);
        hs_s3_error_hs(r, HS_EUNAVAIL, "cannot store the upload in etcd");
        return;
    }
    HS_LOG_INFO("s3_upload_created", "req=%s upload=%s key='%s' strategy=%s ck=%s", s->request_id,
                rec->id, rec->key, hs_strategy_name(strategy), rec->ck_alg[0] ? rec->ck_alg : "-");
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_printf(&b, HS_MPU_XML_HEAD "<InitiateMultipartUploadResult xmlns=\"" HS_MPU_S3_NS
                                            "\"><Bucket>");
    hs_mpu_xml_text(&b, rec->bucket);
    (void)hs_buf_printf(&b, "</Bucket><Key>");
    hs_mpu_xml_text(&b, rec->s3key);
    (void)hs_buf_printf(&b, "</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>",
                        rec->id);
    if (rec->ck_alg[0])
        hs_http_add_header(r, "x-amz-checksum-algorithm", rec->ck_alg);
    hs_mpu_upload_release(&u);
    hs_mpu_respond_xml(r, &b);
}

/* ---- AbortMultipartUpload ---- */

void hs_s3_abort_multipart_done(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    struct hs_mpu_upload u;
    if (!hs_mpu_load_open(r, &u)) {
        hs_mpu_upload_release(&u);
        return;
    }
    u.rec.state = HS_UPLOAD_ABORTED;
    u.rec.state_ms = HS_MAX(hs_clock_wall_ms(), u.rec.created_ms);
    char *json = NULL, why[160] = "";
    size_t len = 0;
    if (hs_upload_record_encode(&u.rec, &json, &len, why, sizeof why) != HS_OK)
        HS_BUG("upload record %s: %s", u.rec.id, why);
    /* OPEN -> ABORTED compared on the revision read: no part or Complete commits after it */
    struct hs_etcd_cmp cmp = {
        .target = HS_ETCD_CMP_MOD, .result = HS_ETCD_EQUAL, .key = u.etcd_key, .number = u.rev};
    struct hs_etcd_op put = {
        .type = HS_ETCD_OP_PUT, .key = u.etcd_key, .value = json, .value_len = len};
    struct hs_etcd_txn t = {.cmps = &cmp, .n_cmps = 1, .success = &put, .n_success = 1};
    struct hs_etcd_txn_result res = {0};
    enum hs_err err = hs_etcd_txn(s->gw->etcd, &t, &res);
    bool ok = err == HS_OK && res.succeeded;
    if (ok)
        u.rev = res.revision;
    hs_etcd_txn_result_release(&res);
    free(json);
    if (!ok) {
        hs_mpu_upload_release(&u);
        if (err == HS_OK)
            hs_s3_error(r, "NoSuchUpload", "The upload was completed or aborted meanwhile.");
        else
            hs_s3_error_hs(r, HS_EUNAVAIL, "cannot abort the upload in etcd");
        return;
    }
    HS_LOG_INFO("s3_upload_aborted", "req=%s upload=%s key='%s'", s->request_id, u.rec.id,
                u.rec.key);
    hs_mpu_cleanup(s->gw, &u, s->request_id);
    hs_mpu_upload_release(&u);
    hs_s3_add_request_id(r);
    hs_http_respond_buf(r, 204, NULL, NULL, 0);
}

/* ---- ListParts ---- */

/* A non-negative decimal query parameter, def when absent; false when malformed. */
static bool query_uint(struct hs_http_req *r, const char *name, int64_t def, int64_t max,
                       int64_t *out)
{
    const char *v = hs_http_req_query(r, name);
    if (!v || !*v) {
        *out = def;
        return true;
    }
    int64_t n = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9' || n > INT64_MAX / 10 - 10)
            return false;
        n = n * 10 + (*p - '0');
    }
    *out = HS_MIN(n, max);
    return true;
}

static void part_xml(struct hs_buf *b, const struct hs_upart_record *p, const char *ck_alg)
{
    char when[HS_S3_ISO_DATE_LEN + 1];
    hs_s3_time_iso8601(p->written_ms, when);
    (void)hs_buf_printf(b,
                        "<Part><PartNumber>%" PRIu32 "</PartNumber><LastModified>%s"
                        "</LastModified><ETag>\"%s\"</ETag><Size>%" PRId64 "</Size>",
                        p->number, when, p->md5_hex, p->size_bytes);
    enum hs_s3_cksum_algo a;
    if (p->checksum[0] && hs_s3_cksum_parse_name(ck_alg, &a))
        (void)hs_buf_printf(b, "<%s>%s</%s>", hs_s3_cksum_xml_name(a), p->checksum,
                            hs_s3_cksum_xml_name(a));
    (void)hs_buf_printf(b, "</Part>");
}

void hs_s3_list_parts_done(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    int64_t max = 0, marker = 0;
    if (!query_uint(r, "max-parts", LIST_MAX, LIST_MAX, &max) ||
        !query_uint(r, "part-number-marker", 0, HS_UPLOAD_PARTS_MAX, &marker)) {
        hs_s3_error(r, "InvalidArgument", "max-parts and part-number-marker are integers");
        return;
    }
    struct hs_mpu_upload u;
    if (!hs_mpu_load_open(r, &u)) {
        hs_mpu_upload_release(&u);
        return;
    }
    char *prefix = NULL, *first = NULL;
    if (hs_meta_key_upart_prefix(u.rec.id, &prefix) != HS_OK)
        HS_BUG("part prefix of a valid upload id");
    first = hs_xasprintf("%s%05" PRId64, prefix, marker + 1);
    char *end = hs_xstrdup(prefix);
    end[strlen(end) - 1]++; /* "upart/<id>/" -> "upart/<id>0": the end of the prefix */
    struct hs_etcd_range_req req = {.key = first, .range_end = end, .limit = max + 1};
    struct hs_etcd_kvs kvs = {0};
    enum hs_err err = max > 0 ? hs_etcd_range(s->gw->etcd, &req, &kvs) : HS_OK;
    if (err != HS_OK) {
        hs_s3_error_hs(r, HS_EUNAVAIL, "cannot read the parts from etcd");
        goto out;
    }
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_printf(&b, HS_MPU_XML_HEAD "<ListPartsResult xmlns=\"" HS_MPU_S3_NS "\"><Bucket>");
    hs_mpu_xml_text(&b, u.rec.bucket);
    (void)hs_buf_printf(&b, "</Bucket><Key>");
    hs_mpu_xml_text(&b, u.rec.s3key);
    (void)hs_buf_printf(
        &b, "</Key><UploadId>%s</UploadId><PartNumberMarker>%" PRId64 "</PartNumberMarker>",
        u.rec.id, marker);
    size_t shown = HS_MIN(kvs.n, (size_t)max);
    uint32_t last = (uint32_t)marker;
    struct hs_buf parts;
    hs_buf_init(&parts, 0);
    for (size_t i = 0; i < shown; i++) {
        struct hs_upart_record p;
        hs_upart_record_init(&p);
        if (hs_upart_record_decode(kvs.kvs[i].value, kvs.kvs[i].value_len, &p, NULL, 0) == HS_OK) {
            part_xml(&parts, &p, u.rec.ck_alg);
            last = p.number;
        }
        hs_upart_record_release(&p);
    }
    bool truncated = kvs.n > shown;
    (void)hs_buf_printf(&b,
                        "<NextPartNumberMarker>%" PRIu32 "</NextPartNumberMarker><MaxParts>%" PRId64
                        "</MaxParts><IsTruncated>%s</IsTruncated>",
                        last, max, truncated ? "true" : "false");
    if (parts.len)
        (void)hs_buf_append(&b, parts.data, parts.len);
    hs_buf_release(&parts);
    (void)hs_buf_printf(&b, "<Initiator><ID>hybridstore</ID><DisplayName>hybridstore"
                            "</DisplayName></Initiator><Owner><ID>hybridstore</ID><DisplayName>"
                            "hybridstore</DisplayName></Owner><StorageClass>STANDARD"
                            "</StorageClass>");
    if (u.rec.ck_alg[0])
        (void)hs_buf_printf(&b, "<ChecksumAlgorithm>%s</ChecksumAlgorithm>", u.rec.ck_alg);
    (void)hs_buf_printf(&b, "</ListPartsResult>");
    hs_mpu_respond_xml(r, &b);
out:
    hs_etcd_kvs_release(&kvs);
    free(prefix);
    free(first);
    free(end);
    hs_mpu_upload_release(&u);
}

/* ---- ListMultipartUploads ---- */

struct list_uploads {
    const char *bucket;
    size_t strip;          /* bytes of "upload/<bucket>/" */
    const char *delimiter; /* NULL or "" = none */
    size_t prefix_len;     /* of the S3 prefix */
    int64_t max;
    int64_t count; /* uploads + common prefixes shown */
    bool truncated;
    char *last_prefix; /* the last common prefix shown (heap) */
    char *next_key;    /* S3 key of the last shown entry (heap) */
    char next_id[HS_UPLOAD_ID_BUF];
    struct hs_buf uploads, prefixes;
};

static bool on_upload(void *ctx, const struct hs_etcd_kv *kv)
{
    struct list_uploads *l = ctx;
    char *native = NULL, id[HS_UPLOAD_ID_BUF];
    if (hs_meta_key_upload_parse(kv->key, &native, id) != HS_OK)
        return true;
    const char *key = hs_s3_key_of_native(l->bucket, native);
    struct hs_upload_record rec;
    hs_upload_record_init(&rec);
    bool keep = key && hs_upload_record_decode(kv->value, kv->value_len, &rec, NULL, 0) == HS_OK &&
                rec.state == HS_UPLOAD_OPEN;
    bool go_on = true;
    if (keep) {
        const char *d =
            l->delimiter && *l->delimiter ? strstr(key + l->prefix_len, l->delimiter) : NULL;
        size_t cp_len = d ? (size_t)(d - key) + strlen(l->delimiter) : 0;
        bool same_prefix = d && l->last_prefix && strlen(l->last_prefix) == cp_len &&
                           strncmp(l->last_prefix, key, cp_len) == 0;
        if (!same_prefix && l->count == l->max) {
            l->truncated = true;
            go_on = false;
        } else if (d && !same_prefix) {
            free(l->last_prefix);
            l->last_prefix = hs_xstrndup(key, cp_len);
            (void)hs_buf_printf(&l->prefixes, "<CommonPrefixes><Prefix>");
            hs_mpu_xml_text_n(&l->prefixes, key, cp_len);
            (void)hs_buf_printf(&l->prefixes, "</Prefix></CommonPrefixes>");
            l->count++;
            free(l->next_key);
            l->next_key = hs_xstrdup(key);
            memcpy(l->next_id, id, sizeof id);
        } else if (!d) {
            char when[HS_S3_ISO_DATE_LEN + 1];
            hs_s3_time_iso8601(rec.created_ms, when);
            (void)hs_buf_printf(&l->uploads, "<Upload><Key>");
            hs_mpu_xml_text(&l->uploads, key);
            (void)hs_buf_printf(&l->uploads,
                                "</Key><UploadId>%s</UploadId><Initiator><ID>hybridstore</ID>"
                                "<DisplayName>hybridstore</DisplayName></Initiator><Owner><ID>"
                                "hybridstore</ID><DisplayName>hybridstore</DisplayName></Owner>"
                                "<StorageClass>STANDARD</StorageClass><Initiated>%s</Initiated>",
                                id, when);
            if (rec.ck_alg[0])
                (void)hs_buf_printf(&l->uploads, "<ChecksumAlgorithm>%s</ChecksumAlgorithm>",
                                    rec.ck_alg);
            (void)hs_buf_printf(&l->uploads, "</Upload>");
            l->count++;
            free(l->next_key);
            l->next_key = hs_xstrdup(key);
            memcpy(l->next_id, id, sizeof id);
        }
    }
    hs_upload_record_release(&rec);
    free(native);
    return go_on;
}

void hs_s3_list_multipart_uploads_done(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    int64_t max = 0;
    if (!query_uint(r, "max-uploads", LIST_MAX, LIST_MAX, &max)) {
        hs_s3_error(r, "InvalidArgument", "max-uploads is an integer");
        return;
    }
    const char *prefix = hs_http_req_query(r, "prefix");
    const char *delim = hs_http_req_query(r, "delimiter");
    const char *key_marker = hs_http_req_query(r, "key-marker");
    const char *id_marker = hs_http_req_query(r, "upload-id-marker");
    prefix = prefix ? prefix : "";
    char *scan_prefix = hs_xasprintf("%s%s/%s", HS_META_PREFIX_UPLOAD, s->bucket, prefix);
    char *after = NULL;
    if (key_marker && *key_marker) {
        /* strictly after the marker's uploads with an id after upload-id-marker, or after all
         * of the marker's uploads ('~' sorts after every hex digit) */
        after = hs_xasprintf("%s%s/%s%c%s", HS_META_PREFIX_UPLOAD, s->bucket, key_marker,
                             HS_UPLOAD_KEY_SEP,
                             id_marker && hs_upload_id_valid(id_marker) ? id_marker : "~");
        if (strcmp(after, scan_prefix) < 0) {
            free(after);
            after = NULL;
        }
    }
    struct list_uploads l = {
        .bucket = s->bucket, .delimiter = delim, .prefix_len = strlen(prefix), .max = max};
    hs_buf_init(&l.uploads, 0);
    hs_buf_init(&l.prefixes, 0);
    struct hs_etcd_scan scan = {.prefix = scan_prefix, .after = after, .page_size = 500};
    enum hs_err err = max > 0 ? hs_etcd_range_scan(s->gw->etcd, &scan, on_upload, &l, NULL) : HS_OK;
    if (err != HS_OK) {
        hs_s3_error_hs(r, HS_EUNAVAIL, "cannot list uploads in etcd");
        goto out;
    }
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_printf(&b, HS_MPU_XML_HEAD "<ListMultipartUploadsResult xmlns=\"" HS_MPU_S3_NS
                                            "\"><Bucket>");
    hs_mpu_xml_text(&b, s->bucket);
    (void)hs_buf_printf(&b, "</Bucket><KeyMarker>");
    hs_mpu_xml_text(&b, key_marker ? key_marker : "");
    (void)hs_buf_printf(&b, "</KeyMarker><UploadIdMarker>");
    hs_mpu_xml_text(&b, id_marker ? id_marker : "");
    (void)hs_buf_printf(&b, "</UploadIdMarker>");
    if (l.truncated && l.next_key) {
        (void)hs_buf_printf(&b, "<NextKeyMarker>");
        hs_mpu_xml_text(&b, l.next_key);
        (void)hs_buf_printf(&b, "</NextKeyMarker><NextUploadIdMarker>%s</NextUploadIdMarker>",
                            l.next_id);
    }
    (void)hs_buf_printf(&b, "<Prefix>");
    hs_mpu_xml_text(&b, prefix);
    (void)hs_buf_printf(&b, "</Prefix>");
    if (delim && *delim) {
        (void)hs_buf_printf(&b, "<Delimiter>");
        hs_mpu_xml_text(&b, delim);
        (void)hs_buf_printf(&b, "</Delimiter>");
    }
    (void)hs_buf_printf(&b, "<MaxUploads>%" PRId64 "</MaxUploads><IsTruncated>%s</IsTruncated>",
                        max, l.truncated ? "true" : "false");
    if (l.uploads.len)
        (void)hs_buf_append(&b, l.uploads.data, l.uploads.len);
    if (l.prefixes.len)
        (void)hs_buf_append(&b, l.prefixes.data, l.prefixes.len);
    (void)hs_buf_printf(&b, "</ListMultipartUploadsResult>");
    hs_mpu_respond_xml(r, &b);
out:
    hs_buf_release(&l.uploads);
    hs_buf_release(&l.prefixes);
    free(l.last_prefix);
    free(l.next_key);
    free(scan_prefix);
    free(after);
}
