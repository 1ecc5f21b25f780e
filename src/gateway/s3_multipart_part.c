/* s3_multipart_part.c - UploadPart and UploadPartCopy (docs/s3.md "Multipart"). A part is
 * written like the data part of an object: a write transaction (txn.h: WAL record first, so a
 * gateway killed mid-part leaves nothing the healer cannot roll back) and a part writer
 * (part_writer.h) of the upload's strategy; its commit deletes the WAL record and puts the part
 * record upart/<id>/<n> in one etcd transaction compared on the upload record's revision (an
 * Abort or Complete that happened meanwhile makes it fail) and on the part record's (a
 * concurrent upload of the same number: read again, then retry). A part uploaded again replaces
 * the earlier one, whose blobs go to a retire record in that same transaction.
 *
 * The body is verified while it streams by the object PUT's verified body (s3_body.h: every
 * payload mode, aws-chunked included; MD5 = the part's ETag, Content-MD5, SHA-256, flexible
 * checksum in a header or a trailer), and nothing commits before its last check passed. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway.h"
#include "gateway/gw_int.h"
#include "gateway/obj_write_int.h"
#include "gateway/s3_multipart_int.h"
#include "gateway/s3_object_int.h"
#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/s3_checksum.h"
#include "hs/s3_util.h"
#include "hs/banned.h"

#define PART_BYTES_MAX     ((int64_t)5 << 30) /* S3: a part is at most 5 GiB */
#define PART_PACK_SEGMENTS 16                 /* part records of more segments are packed */
#define COMMIT_TRIES       8
#define COPY_BUF_BYTES     ((size_t)1 << 20)

/* ---- one part on its way out (shared by UploadPart and UploadPartCopy) ---- */

struct part_up {
    struct hs_gw *gw;
    const char *req_id;
    struct hs_mpu_upload u;
    uint32_t number;
    struct hs_wr_common c;
    struct hs_part_writer pw;
    struct hs_gw_budget_hold budget;
    int64_t declared_len;
    int64_t received;
};

static const struct hs_part_writer_ops *ops_of(enum hs_strategy s)
{
    return s == HS_STRATEGY_REPLICATION ? &hs_part_replicated : &hs_part_ec;
}

static void part_release(void *p_)
{
    struct part_up *p = p_;
    if (!p)
        return;
    hs_part_writer_release(&p->pw);
    hs_wr_common_release(&p->c); /* cleans up a write that did not commit */
    hs_mpu_upload_release(&p->u);
    hs_gw_body_release(p->gw, &p->budget);
}

/* Begins the part's write transaction (its WAL record names its first segment). */
static enum hs_err part_begin(struct part_up *p, const char *native_key, char *msg, size_t msg_len)
{
    hs_wr_common_init(&p->c, p->gw);
    p->c.key = native_key;
    p->c.req_id = p->req_id;
    p->c.content_type = p->u.rec.content_type;
    const struct hs_part_writer_ops *ops = ops_of(p->u.rec.strategy);
    ops->init(&p->c.next.data, &p->c.geom);
    int64_t data = p->gw->opts.segment_bytes;
    if (p->declared_len >= 0 && p->declared_len < data)
        data = p->declared_len;
    int64_t held = ops->held_bytes(&p->c.geom, data);
    enum hs_err err = hs_gw_body_grow(p->gw, &p->budget, held, held, msg, msg_len);
    if (err != HS_OK)
        return err;
    struct hs_txn_plan plan = {.no_current = true}; /* a part never replaces the object */
    hs_txn_plan_part(&plan, HS_META_PART_DATA, &p->c.next.data, 1);
    err = hs_wr_begin(&p->c, &p->c.next.data, p->u.rec.strategy, &plan, msg, msg_len);
    if (err == HS_OK)
        hs_part_writer_init(&p->pw, ops, p->c.txn, &p->c.next.data, HS_META_PART_DATA, &p->c.geom,
                            &p->c.tally);
    return err;
}

static enum hs_err part_write(struct part_up *p, const void *data, size_t n, char *msg,
                              size_t msg_len)
{
    p->received += (int64_t)n;
    if (p->received > PART_BYTES_MAX || (p->declared_len >= 0 && p->received > p->declared_len)) {
        snprintf(msg, msg_len, "a part is at most %" PRId64 " bytes and its declared length",
                 PART_BYTES_MAX);
        return HS_ETOOBIG;
    }
    enum hs_err err = hs_gw_txn_keep_alive(p->c.txn, msg, msg_len);
    return err == HS_OK ? hs_part_writer_write(&p->pw, data, n, msg, msg_len) : err;
}

/* The retire record of the part this one replaces (NULL when there is none or it is
 * unreadable: its blobs are then left to GC once its record is gone). */
static enum hs_err replaced_retire_json(const struct part_up *p, const struct hs_etcd_kv *old,
                                        char **json, size_t *len)
{
    *json = NULL;
    struct hs_upart_record rec;
    hs_upart_record_init(&rec);
    if (hs_upart_record_decode(old->value, old->value_len, &rec, NULL, 0) != HS_OK)
        return HS_OK;
    struct hs_meta_blob_loc *locs = NULL;
    size_t n = 0;
    hs_part_blob_locs(&rec.data, &locs, &n);
    enum hs_err err = hs_gw_retire_prepare(p->gw, p->u.rec.key, locs, n, json, len);
    free(locs);
    hs_upart_record_release(&rec);
    return err;
}

/* Finishes the part and commits its record. HS_ENOENT: the upload left OPEN meanwhile. */
static enum hs_err part_commit(struct part_up *p, const uint8_t md5[16], const char *ck_b64,
                               char *msg, size_t msg_len)
{
    enum hs_err err = hs_part_writer_finish(&p->pw, msg, msg_len);
    if (err != HS_OK)
        return err;
    struct hs_upart_record rec;
    hs_upart_record_init(&rec);
    rec.number = p->number;
    rec.size_bytes = p->c.next.data.len_bytes;
    hs_s3_hex(md5, 16, rec.md5_hex);
    snprintf(rec.checksum, sizeof rec.checksum, "%s", ck_b64 ? ck_b64 : "");
    rec.written_ms = hs_clock_wall_ms();
    snprintf(rec.txn_id, sizeof rec.txn_id, "%s", hs_gw_txn_id(p->c.txn));
    hs_part_copy(&rec.data, &p->c.next.data);
    hs_part_fix_offsets(&rec.data);
    rec.data.packed = rec.data.n_segments > PART_PACK_SEGMENTS;
    rec.degraded = hs_gw_txn_degraded(p->c.txn);
    char *json = NULL, *part_key = NULL, *retire_key = NULL, why[160] = "";
    size_t len = 0;
    if (hs_upart_record_encode(&rec, &json, &len, why, sizeof why) != HS_OK)
        HS_BUG("part record %" PRIu32 ": %s", p->number, why);
    if (hs_meta_key_upart(p->u.rec.id, p->number, &part_key) != HS_OK ||
        hs_meta_key_retire(rec.txn_id, &retire_key) != HS_OK)
        HS_BUG("part keys of upload %s", p->u.rec.id);
    err = HS_ECONFLICT;
    for (int attempt = 0; attempt < COMMIT_TRIES && err == HS_ECONFLICT; attempt++) {
        struct hs_etcd_kvs old = {0};
        if ((err = hs_etcd_get(p->gw->etcd, part_key, &old)) != HS_OK) {
            snprintf(msg, msg_len, "cannot read the part record: %s", hs_err_name(err));
            err = HS_EUNAVAIL;
            break;
        }
        size_t retire_len = 0;
        char *retire = NULL;
        if (old.n && replaced_retire_json(p, &old.kvs[0], &retire, &retire_len) != HS_OK) {
            hs_etcd_kvs_release(&old);
            snprintf(msg, msg_len, "etcd did not take the retire records");
            err = HS_EUNAVAIL;
            break;
        }
        struct hs_etcd_cmp cmps[2] = {
            {.target = HS_ETCD_CMP_MOD,
             .result = HS_ETCD_EQUAL,
             .key = p->u.etcd_key,
             .number = p->u.rev},
            {.target = HS_ETCD_CMP_MOD,
             .result = HS_ETCD_EQUAL,
             .key = part_key,
             .number = old.n ? old.kvs[0].mod_revision : 0},
        };
        struct hs_etcd_op ops[2] = {
            {.type = HS_ETCD_OP_PUT, .key = part_key, .value = json, .value_len = len},
            {.type = HS_ETCD_OP_PUT, .key = retire_key, .value = retire, .value_len = retire_len},
        };
        hs_etcd_kvs_release(&old);
        err = hs_gw_txn_commit_ops(p->c.txn, cmps, 2, ops, retire ? 2 : 1, part_key, msg, msg_len);
        free(retire);
        if (err == HS_ECONFLICT) {
            /* the upload record changed (aborted or completed) or the part was replaced */
            struct hs_mpu_upload now;
            enum hs_err lerr = hs_mpu_load(p->gw, p->u.rec.key, p->u.rec.id, &now);
            bool open = lerr == HS_OK && now.rec.state == HS_UPLOAD_OPEN && now.rev == p->u.rev;
            hs_mpu_upload_release(&now);
            if (!open) {
                snprintf(msg, msg_len, "the upload was completed or aborted meanwhile");
                err = lerr == HS_EUNAVAIL ? HS_EUNAVAIL : HS_ENOENT;
            }
        }
    }
    if (err == HS_ECONFLICT)
        snprintf(msg, msg_len, "too many concurrent uploads of this part number");
    free(json);
    free(part_key);
    free(retire_key);
    hs_upart_record_release(&rec);
    return err;
}

/* The part number of the request: 1..10000, else InvalidArgument answered. */
static bool part_number(struct hs_http_req *r, uint32_t *out)
{
    const char *v = hs_http_req_query(r, "partNumber");
    uint32_t n = 0;
    for (const char *p = v; p && *p && n <= HS_UPLOAD_PARTS_MAX; p++)
        n = *p >= '0' && *p <= '9' ? n * 10 + (uint32_t)(*p - '0') : HS_UPLOAD_PARTS_MAX + 1;
    if (!v || !*v || n < 1 || n > HS_UPLOAD_PARTS_MAX) {
        hs_s3_error(r, "InvalidArgument",
                    "Part number must be an integer between 1 and 10000, "
                    "inclusive");
        return false;
    }
    *out = n;
    return true;
}

static void answer_err(struct hs_http_req *r, enum hs_err err, const char *msg)
{
    if (err == HS_ENOENT)
        hs_s3_error(r, "NoSuchUpload", "%s", msg);
    else if (err == HS_ETOOBIG)
        hs_s3_error(r, "EntityTooLarge", "%s", msg);
    else
        hs_s3_error_hs(r, err, msg);
}

/* ---- UploadPart ---- */

/* The body is s3_body.c's verified body (every payload mode, aws-chunked included): it hashes
 * MD5, the declared SHA-256 and the flexible checksum sent (header or trailer) and checks them
 * all at the end. When the upload has a checksum algorithm and the part sends none, the sink
 * computes it too (stored, echoed and used for the COMPOSITE checksum at Complete). */
struct upload_part {
    struct part_up p;
    struct hs_s3_body *body;
    enum hs_s3_cksum_algo upload_alg; /* the upload's algorithm, NONE when none */
    struct hs_s3_hasher own;          /* upload_alg computed here (has_own) */
    bool has_own;
    bool failed; /* an error was answered */
};

static void upload_part_free(void *up_)
{
    struct upload_part *up = up_;
    hs_s3_body_free(up->body);
    if (up->has_own)
        hs_s3_hasher_release(&up->own);
    part_release(&up->p);
}

static enum hs_err upload_part_sink(void *ctx, const uint8_t *data, size_t len, char *msg,
                                    size_t msg_len)
{
    struct upload_part *up = ctx;
    if (up->has_own)
        hs_s3_hasher_update(&up->own, data, len);
    return part_write(&up->p, data, len, msg, msg_len);
}

void hs_s3_upload_part_start(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    uint32_t number = 0;
    if (!part_number(r, &number))
        return;
    struct upload_part *up = hs_arena_alloc(hs_http_req_arena(r), sizeof *up);
    memset(up, 0, sizeof *up);
    up->p.gw = s->gw;
    up->p.req_id = s->request_id;
    up->p.number = number;
    up->p.declared_len = -1;
    up->failed = true; /* until begun */
    hs_arena_defer(hs_http_req_arena(r), upload_part_free, up);
    s->op_ctx = up;
    if (!hs_mpu_load_open(r, &up->p.u) || !hs_s3_body_open(r, upload_part_sink, up, &up->body))
        return;
    if (hs_s3_body_streaming(up->body))
        up->p.declared_len = hs_s3_body_decoded_len(up->body);
    else if (!hs_http_req_content_length(r, &up->p.declared_len))
        up->p.declared_len = -1;
    if (up->p.declared_len < 0) {
        hs_s3_error(r, "MissingContentLength", "You must provide the Content-Length HTTP header.");
        return;
    }
    if (up->p.declared_len > PART_BYTES_MAX) {
        hs_s3_error(r, "EntityTooLarge", "a part is at most 5 GiB");
        return;
    }
    if (up->p.u.rec.ck_alg[0] && hs_s3_cksum_parse_name(up->p.u.rec.ck_alg, &up->upload_alg)) {
        struct hs_s3_hasher_opts ho = {.flex = up->upload_alg};
        up->has_own = true;
        if (hs_s3_hasher_init(&up->own, &ho) != HS_OK)
            HS_BUG("hasher for %s", up->p.u.rec.ck_alg);
    }
    char msg[256] = "";
    enum hs_err err = part_begin(&up->p, s->native_key, msg, sizeof msg);
    if (err != HS_OK) {
        answer_err(r, err, msg);
        return;
    }
    up->failed = false;
}

enum hs_err hs_s3_upload_part_body(struct hs_http_req *r, const void *data, size_t n)
{
    struct upload_part *up = hs_s3_req_of(r)->op_ctx;
    if (!up || up->failed)
        return HS_OK; /* answered already: the rest is discarded */
    struct hs_s3_body_error e = {0};
    if (hs_s3_body_feed(up->body, data, n, &e))
        return HS_OK;
    up->failed = true;
    if (e.code == HS_S3_OK && (e.err == HS_ENOENT || e.err == HS_ETOOBIG))
        answer_err(r, e.err, e.msg);
    else
        hs_s3_body_answer(r, &e);
    return HS_EINVAL; /* the part's blobs go with the write's clean-up */
}

void hs_s3_upload_part_done(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    struct upload_part *up = s->op_ctx;
    if (!up || up->failed || hs_http_responded(r))
        return;
    struct hs_s3_body_error e = {0};
    if (!hs_s3_body_finish(up->body, &e)) {
        hs_s3_body_answer(r, &e); /* the part's blobs go with the write's clean-up */
        return;
    }
    if (up->p.received != up->p.declared_len) {
        hs_s3_error(r, "IncompleteBody", NULL);
        return;
    }
    uint8_t md5[16];
    hs_s3_body_md5(up->body, md5);
    char ck[HS_S3_CKSUM_B64_MAX] = "";
    enum hs_s3_cksum_algo sent = hs_s3_body_checksum(up->body, ck);
    if (sent != HS_S3_CKSUM_NONE && up->upload_alg != HS_S3_CKSUM_NONE && sent != up->upload_alg) {
        hs_s3_error(r, "InvalidRequest",
                    "Checksum Type mismatch occurred, expected checksum "
                    "Type: %s",
                    up->p.u.rec.ck_alg);
        return;
    }
    enum hs_s3_cksum_algo alg = sent;
    if (sent == HS_S3_CKSUM_NONE && up->has_own) {
        struct hs_s3_digests d;
        hs_s3_hasher_final(&up->own, &d);
        hs_s3_base64(d.flex_raw, d.flex_len, ck);
        alg = up->upload_alg;
    }
    char msg[256] = "";
    enum hs_err err = part_commit(&up->p, md5, ck, msg, sizeof msg);
    if (err != HS_OK) {
        answer_err(r, err, msg);
        return;
    }
    char etag[HS_S3_ETAG_MAX];
    hs_s3_etag(md5, etag);
    HS_LOG_DEBUG("s3_part_written", "req=%s upload=%s part=%" PRIu32 " size=%" PRId64,
                 s->request_id, up->p.u.rec.id, up->p.number, up->p.received);
    hs_http_add_header(r, "ETag", etag);
    if (ck[0])
        hs_http_add_header(r, hs_s3_cksum_header(alg), ck);
    hs_s3_add_request_id(r);
    hs_http_respond_buf(r, 200, NULL, NULL, 0);
}

/* ---- UploadPartCopy ---- */

/* "bytes=first-last" (both required, S3's rule for x-amz-copy-source-range). */
static bool copy_range(const char *v, int64_t *first, int64_t *last)
{
    if (strncmp(v, "bytes=", 6) != 0)
        return false;
    char *end = NULL;
    errno = 0;
    long long a = strtoll(v + 6, &end, 10);
    if (errno || end == v + 6 || *end != '-' || a < 0)
        return false;
    const char *bstart = end + 1;
    long long b = strtoll(bstart, &end, 10);
    if (errno || end == bstart || *end || b < a)
        return false;
    *first = a;
    *last = b;
    return true;
}

/* x-amz-copy-source (s3_rules.c's parser): bucket and key in r's arena; false after answering. */
static bool copy_source(struct hs_http_req *r, char **bucket, char **key, size_t *key_len)
{
    char *b = NULL, *k = NULL;
    const char *why = NULL;
    const char *v = hs_http_req_header(r, "x-amz-copy-source");
    if (!v || !hs_s3_copy_source_parse(v, &b, &k, key_len, &why)) {
        hs_s3_error(r, "InvalidArgument", "%s", why ? why : "x-amz-copy-source is missing");
        return false;
    }
    struct hs_arena *a = hs_http_req_arena(r);
    *key = hs_arena_alloc(a, *key_len + 1);
    memcpy(*key, k, *key_len + 1);
    *bucket = hs_arena_strdup(a, b);
    free(b);
    free(k);
    return true;
}

struct copy_job {
    struct part_up p;
    struct hs_obj_reader *rd;
};

static void copy_job_free(void *j_)
{
    struct copy_job *j = j_;
    hs_obj_reader_close(j->rd);
    part_release(&j->p);
}

void hs_s3_upload_part_copy_done(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    uint32_t number = 0;
    if (!part_number(r, &number))
        return;
    char *src_bucket = NULL, *src_key = NULL;
    size_t src_key_len = 0;
    if (!copy_source(r, &src_bucket, &src_key, &src_key_len))
        return;
    if (!hs_s3_check_access(r, src_bucket, false))
        return;
    const char *range = hs_http_req_header(r, "x-amz-copy-source-range");
    int64_t first = 0, last = -1;
    if (range && !copy_range(range, &first, &last)) {
        hs_s3_error(r, "InvalidArgument",
                    "The x-amz-copy-source-range value must be of the form "
                    "bytes=first-last");
        return;
    }
    const char *native = NULL;
    size_t native_len = 0;
    if (hs_s3_native_key(hs_http_req_arena(r), src_bucket, src_key, src_key_len, &native,
                         &native_len) != HS_OK) {
        hs_s3_error(r, "InvalidArgument", "invalid copy source key");
        return;
    }
    struct copy_job *j = hs_arena_alloc(hs_http_req_arena(r), sizeof *j);
    memset(j, 0, sizeof *j);
    j->p.gw = s->gw;
    j->p.req_id = s->request_id;
    j->p.number = number;
    hs_arena_defer(hs_http_req_arena(r), copy_job_free, j);
    if (!hs_mpu_load_open(r, &j->p.u))
        return;
    char msg[256] = "";
    struct hs_obj_info info;
    enum hs_err err =
        hs_obj_reader_open(s->gw, native, native_len, first, range ? last - first + 1 : -1, &j->rd,
                           &info, msg, sizeof msg);
    if (err == HS_ENOENT) {
        hs_s3_error(r, "NoSuchKey", NULL);
        return;
    }
    if (err == HS_ERANGE || (range && last >= info.size_bytes)) {
        hs_s3_error(r, "InvalidRange", NULL);
        return;
    }
    if (err != HS_OK) {
        hs_s3_error_hs(r, err, msg);
        return;
    }
    j->p.declared_len = hs_obj_reader_length(j->rd);
    if (j->p.declared_len > PART_BYTES_MAX) {
        hs_s3_error(r, "InvalidRequest", "a copied part is at most 5 GiB");
        return;
    }
    struct hs_s3_hasher h;
    err = hs_s3_hasher_init(&h, NULL);
    if (err == HS_OK)
        err = part_begin(&j->p, s->native_key, msg, sizeof msg);
    uint8_t *buf = err == HS_OK ? hs_xmalloc(COPY_BUF_BYTES) : NULL;
    while (err == HS_OK) {
        size_t got = 0;
        if ((err = hs_obj_reader_read(j->rd, buf, COPY_BUF_BYTES, &got)) != HS_OK || got == 0)
            break;
        hs_s3_hasher_update(&h, buf, got);
        err = part_write(&j->p, buf, got, msg, sizeof msg);
    }
    free(buf);
    struct hs_s3_digests d;
    hs_s3_hasher_final(&h, &d);
    hs_s3_hasher_release(&h);
    if (err == HS_OK && j->p.received != j->p.declared_len) {
        snprintf(msg, sizeof msg, "the source changed while it was copied");
        err = HS_EUNAVAIL;
    }
    if (err == HS_OK)
        err = part_commit(&j->p, d.md5, NULL, msg, sizeof msg);
    if (err != HS_OK) {
        answer_err(r, err, msg);
        return;
    }
    char etag[HS_S3_ETAG_MAX], when[HS_S3_ISO_DATE_LEN + 1];
    hs_s3_etag(d.md5, etag);
    hs_s3_time_iso8601(hs_clock_wall_ms(), when);
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_printf(&b,
                        HS_MPU_XML_HEAD "<CopyPartResult xmlns=\"" HS_MPU_S3_NS "\">"
                                        "<LastModified>%s</LastModified><ETag>",
                        when);
    hs_mpu_xml_text(&b, etag);
    (void)hs_buf_printf(&b, "</ETag></CopyPartResult>");
    hs_mpu_respond_xml(r, &b);
}
