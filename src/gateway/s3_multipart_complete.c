/* s3_multipart_complete.c - CompleteMultipartUpload (docs/s3.md "Multipart"). The object's
 * manifest is built from the parts' blobs as they are (no data copy: each part contributes its
 * segments, the segment list packed when long: manifest format version 2), then ONE etcd
 * transaction, compared on the upload record's and the key's manifest's revisions, puts the
 * manifest, marks the upload record COMPLETED with the commit's txn id and puts the retire
 * record of the replaced version's blobs. A gateway killed before it leaves the old object and
 * an OPEN upload (Complete again, or Abort); killed after it, the new object and a COMPLETED
 * upload that the healer's upload pass ends (a repeated Complete answers the same object).
 * After the commit the part records become retire records (hs_upload_retire_parts): the
 * sweeper keeps every blob the manifest references and deletes those of unlisted parts.
 *
 * The body is parsed by the S3 library's expat parser (hs_s3_xml_parse_complete). Checks, in
 * S3's order: parts in ascending order (InvalidPartOrder), every listed part known
 * with its ETag, quoted or not, and its checksum when the client sent one (InvalidPart), then
 * every part but the last at least --s3-min-part-size (EntityTooSmall); If-Match /
 * If-None-Match: * against the current version (PreconditionFailed). The ETag is the MD5 of the
 * parts' binary MD5s and "-N"; with a checksum algorithm the COMPOSITE checksum of the parts'
 * checksums is returned. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway.h"
#include "gateway/gw_int.h"
#include "gateway/s3_multipart_int.h"
#include "gateway/s3_object_int.h"
#include "gateway/txn.h"
#include "gateway/txn_plan.h"
#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/fault.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/s3_checksum.h"
#include "hs/s3_xml.h"
#include "hs/banned.h"

#define COMPLETE_TRIES 8
#define PACK_SEGMENTS  32 /* manifests of more segments are packed */
#define ONE_TXN_MAX    ((size_t)1200 * 1024)
#define PARTS_PAGE     500

struct complete_body {
    struct hs_buf body;
    bool failed;
};

static void complete_body_free(void *p)
{
    hs_buf_release(&((struct complete_body *)p)->body);
}

void hs_s3_complete_multipart_start(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    struct complete_body *cb = hs_arena_alloc(hs_http_req_arena(r), sizeof *cb);
    memset(cb, 0, sizeof *cb);
    hs_buf_init(&cb->body, (size_t)HS_S3_XML_COMPLETE_MAX);
    hs_arena_defer(hs_http_req_arena(r), complete_body_free, cb);
    s->op_ctx = cb;
}

enum hs_err hs_s3_complete_multipart_body(struct hs_http_req *r, const void *data, size_t n)
{
    struct complete_body *cb = hs_s3_req_of(r)->op_ctx;
    if (cb->failed)
        return HS_OK;
    if (hs_buf_append(&cb->body, data, n) != HS_OK) {
        cb->failed = true;
        hs_s3_error(r, "MalformedXML", "the CompleteMultipartUpload body is too large");
        return HS_ETOOBIG;
    }
    return HS_OK;
}

/* ---- the parts ---- */

struct parts {
    struct hs_upart_record *by_number[HS_UPLOAD_PARTS_MAX + 1]; /* heap records or NULL */
};

static bool on_part(void *ctx, const struct hs_etcd_kv *kv)
{
    struct parts *ps = ctx;
    struct hs_upart_record *p = hs_xcalloc(1, sizeof *p);
    hs_upart_record_init(p);
    if (hs_upart_record_decode(kv->value, kv->value_len, p, NULL, 0) != HS_OK ||
        ps->by_number[p->number]) {
        HS_LOG_WARN("s3_part_unreadable", "key='%s'", kv->key);
        hs_upart_record_release(p);
        free(p);
        return true;
    }
    ps->by_number[p->number] = p;
    return true;
}

static void parts_free(struct parts *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i <= HS_UPLOAD_PARTS_MAX; i++) {
        hs_upart_record_release(ps->by_number[i]);
        free(ps->by_number[i]);
    }
    free(ps);
}

/* The listed part's ETag equals the stored MD5 (quotes and case aside). */
static bool etag_matches(const char *sent, const char *md5_hex)
{
    size_t n = strlen(sent);
    if (n >= 2 && sent[0] == '"' && sent[n - 1] == '"') {
        sent++;
        n -= 2;
    }
    if (n != 32)
        return false;
    for (size_t i = 0; i < 32; i++)
        if (tolower((unsigned char)sent[i]) != md5_hex[i])
            return false;
    return true;
}

/* Checks the list: NULL, or the S3 error code with msg set. */
static const char *check_list(const struct hs_s3_complete_upload *cu, const struct parts *ps,
                              const struct hs_upload_record *rec, int64_t min_part, char *msg,
                              size_t msg_len)
{
    for (size_t i = 1; i < cu->n_parts; i++) {
        if (cu->parts[i].part_number <= cu->parts[i - 1].part_number) {
            snprintf(msg, msg_len, "The list of parts was not in ascending order.");
            return "InvalidPartOrder";
        }
    }
    for (size_t i = 0; i < cu->n_parts; i++) {
        const struct hs_s3_complete_part *cp = &cu->parts[i];
        const struct hs_upart_record *p = ps->by_number[cp->part_number];
        if (!p || !etag_matches(cp->etag, p->md5_hex)) {
            snprintf(msg, msg_len,
                     "Part %" PRIu32 " could not be found or its ETag does not match.",
                     cp->part_number);
            return "InvalidPart";
        }
        if (cp->cksum != HS_S3_CKSUM_NONE &&
            (strcmp(hs_s3_cksum_name(cp->cksum), rec->ck_alg) != 0 ||
             strcmp(cp->cksum_b64, p->checksum) != 0)) {
            snprintf(msg, msg_len, "The checksum of part %" PRIu32 " does not match.",
                     cp->part_number);
            return "InvalidPart";
        }
    }
    for (size_t i = 0; i + 1 < cu->n_parts; i++) {
        const struct hs_s3_complete_part *cp = &cu->parts[i];
        const struct hs_upart_record *p = ps->by_number[cp->part_number];
        if (p->size_bytes < min_part) {
            snprintf(msg, msg_len,
                     "Part %" PRIu32 " has %" PRId64 " bytes; every part but the last needs at "
                     "least %" PRId64 ".",
                     cp->part_number, p->size_bytes, min_part);
            return "EntityTooSmall";
        }
    }
    return NULL;
}

/* The manifest of the listed parts (no header fields but strategy, size, ctype, etag). HS_EINVAL
 * (msg set) when the parts were written with different geometries. */
static enum hs_err build(const struct hs_s3_complete_upload *cu, const struct parts *ps,
                         const struct hs_upload_record *rec, struct hs_manifest *m, char *msg,
                         size_t msg_len)
{
    m->strategy = rec->strategy;
    m->content_type = hs_xstrdup(rec->content_type);
    struct hs_part *d = &m->data;
    size_t n_segs = 0;
    for (size_t i = 0; i < cu->n_parts; i++)
        n_segs += ps->by_number[cu->parts[i].part_number]->data.n_segments;
    const struct hs_part *first = &ps->by_number[cu->parts[0].part_number]->data;
    d->kind = first->kind;
    d->replicas = first->replicas;
    d->k = first->k;
    d->m = first->m;
    d->stripe_bytes = first->stripe_bytes;
    d->segments = hs_xcalloc(n_segs ? n_segs : 1, sizeof *d->segments);
    for (size_t i = 0; i < cu->n_parts; i++) {
        const struct hs_part *p = &ps->by_number[cu->parts[i].part_number]->data;
        if (p->kind != d->kind || p->replicas != d->replicas || p->k != d->k || p->m != d->m ||
            p->stripe_bytes != d->stripe_bytes) {
            snprintf(msg, msg_len,
                     "part %" PRIu32 " was stored with another redundancy than "
                     "part %" PRIu32 " (the cluster settings changed)",
                     cu->parts[i].part_number, cu->parts[0].part_number);
            return HS_EINVAL;
        }
        for (size_t j = 0; j < p->n_segments; j++) {
            const struct hs_segment *s = &p->segments[j];
            if (s->len_bytes == 0)
                continue; /* an empty part adds nothing; its blobs are retired with the rest */
            struct hs_segment *t = &d->segments[d->n_segments++];
            *t = *s;
            t->blobs = hs_xcalloc(s->n_blobs, sizeof *t->blobs);
            for (size_t b = 0; b < s->n_blobs; b++)
                hs_meta_blob_ref_set(&t->blobs[b], s->blobs[b].blob_id, s->blobs[b].node_id,
                                     s->blobs[b].len_bytes, s->blobs[b].crc32c);
            d->len_bytes += s->len_bytes;
        }
    }
    hs_part_fix_offsets(d);
    d->packed = d->n_segments > PACK_SEGMENTS;
    m->size_bytes = d->len_bytes;
    /* ETag: MD5 of the binary part MD5s, "-N" */
    struct hs_s3_composite c;
    if (hs_s3_composite_init(&c, HS_S3_CKSUM_MD5) != HS_OK)
        HS_BUG("MD5 composite");
    for (size_t i = 0; i < cu->n_parts; i++) {
        uint8_t md5[16];
        if (!hs_s3_hex_decode(ps->by_number[cu->parts[i].part_number]->md5_hex, 32, md5, 16))
            HS_BUG("stored part MD5");
        hs_s3_composite_add(&c, md5);
    }
    char quoted[HS_S3_ETAG_MAX];
    hs_s3_composite_final(&c, quoted, NULL);
    hs_s3_composite_release(&c);
    size_t qn = strlen(quoted);
    m->etag = hs_xstrndup(quoted + 1, qn - 2); /* manifests store it unquoted */
    return HS_OK;
}

/* The COMPOSITE checksum of the listed parts ("base64-N") into out, "" when the upload has no
 * algorithm or a part has no stored checksum. */
static void composite_checksum(const struct hs_s3_complete_upload *cu, const struct parts *ps,
                               const struct hs_upload_record *rec, enum hs_s3_cksum_algo *alg,
                               char out[HS_S3_CKSUM_COMPOSITE_MAX])
{
    out[0] = '\0';
    if (!rec->ck_alg[0] || !hs_s3_cksum_parse_name(rec->ck_alg, alg))
        return;
    struct hs_s3_composite c;
    if (hs_s3_composite_init(&c, *alg) != HS_OK)
        return;
    for (size_t i = 0; i < cu->n_parts; i++) {
        const char *b64 = ps->by_number[cu->parts[i].part_number]->checksum;
        uint8_t raw[HS_S3_CKSUM_RAW_MAX];
        size_t n = 0;
        if (!b64[0] || !hs_s3_base64_decode(b64, strlen(b64), raw, sizeof raw, &n) ||
            n != hs_s3_cksum_size(*alg)) {
            hs_s3_composite_release(&c);
            return;
        }
        hs_s3_composite_add(&c, raw);
    }
    hs_s3_composite_final(&c, out, NULL);
    hs_s3_composite_release(&c);
}

/* ---- the commit ---- */

struct commit {
    bool degraded; /* a listed part is missing a blob: repair/<key> goes with the commit */
    struct hs_gw *gw;
    const char *req_id;
    struct hs_mpu_upload *u;
    struct hs_manifest *next;
    struct hs_txn_conds conds;
    char txn_id[HS_TXN_ID_BUF];
    int64_t committed_rev; /* the upload record's revision after the commit */
};

/* What one commit attempt sends. */
struct texts {
    char *manifest, *upload, *retire, *meta_key, *retire_key, *repair_key; /* heap */
    size_t m_len, u_len, r_len, repair_len;
    char repair[HS_REPAIR_MARK_BUF];
    int64_t cur_rev; /* meta/<key>'s mod_revision read, 0 when absent */
};

static void texts_release(struct texts *x)
{
    free(x->manifest);
    free(x->upload);
    free(x->retire);
    free(x->meta_key);
    free(x->retire_key);
    free(x->repair_key);
}

/* The retire record(s) of cur's blobs that n does not use: the first in x (put at once when
 * too big to travel with the manifest), the others put now (hs_gw_retire_prepare). */
static enum hs_err prepare_retire(struct commit *c, const struct hs_manifest *cur,
                                  const struct hs_manifest *n, struct texts *x)
{
    struct hs_meta_blob_loc *gone = NULL;
    size_t n_gone = 0;
    hs_txn_retire_set(cur, n, &gone, &n_gone);
    enum hs_err err =
        hs_gw_retire_prepare(c->gw, c->u->rec.key, gone, n_gone, &x->retire, &x->r_len);
    free(gone);
    if (err == HS_OK && x->retire && x->m_len + x->u_len + x->r_len > ONE_TXN_MAX) {
        /* too big beside the manifest: put first (harmless if the commit fails: the sweeper
         * never deletes what the current manifest references) */
        err = hs_etcd_put(c->gw->etcd, x->retire_key, x->retire, x->r_len, 0, NULL);
        free(x->retire);
        x->retire = NULL;
    }
    return err == HS_OK ? HS_OK : HS_EUNAVAIL;
}

/* Reads the current version, checks the conditions against it and builds what the commit
 * sends. HS_EPRECONDITION, HS_EUNAVAIL, HS_ETOOBIG (manifest too large), HS_EIO. */
static enum hs_err prepare(struct commit *c, struct texts *x, char *msg, size_t msg_len)
{
    const char *key = c->u->rec.key;
    struct hs_manifest cur;
    hs_manifest_init(&cur);
    enum hs_err err = hs_obj_manifest_get(c->gw, key, strlen(key), &cur, &x->cur_rev);
    bool have = err == HS_OK;
    if (err != HS_OK && err != HS_ENOENT) {
        snprintf(msg, msg_len, "cannot read the current version: %s", hs_err_name(err));
        return HS_EUNAVAIL;
    }
    if (!have)
        x->cur_rev = 0;
    if ((err = hs_txn_conds_check(&c->conds, have ? &cur : NULL, msg, msg_len)) != HS_OK) {
        hs_manifest_release(&cur);
        return err;
    }
    struct hs_manifest *n = c->next;
    free(n->key);
    free(n->txn_id);
    n->key = hs_xstrdup(key);
    n->txn_id = hs_xstrdup(c->txn_id);
    n->version = have ? cur.version + 1 : 1;
    n->created_ms = hs_clock_wall_ms();
    char why[160] = "";
    if ((err = hs_manifest_encode(n, &x->manifest, &x->m_len, why, sizeof why)) != HS_OK) {
        snprintf(msg, msg_len, "the object's manifest: %s", why);
        hs_manifest_release(&cur);
        return err == HS_ETOOBIG ? HS_ETOOBIG : HS_EIO;
    }
    struct hs_upload_record done = c->u->rec;
    done.state = HS_UPLOAD_COMPLETED;
    done.state_ms = HS_MAX(n->created_ms, done.created_ms);
    memcpy(done.txn_id, c->txn_id, sizeof done.txn_id);
    if (hs_upload_record_encode(&done, &x->upload, &x->u_len, why, sizeof why) != HS_OK)
        HS_BUG("upload record %s: %s", done.id, why);
    if (hs_meta_key_meta(key, &x->meta_key) != HS_OK ||
        hs_meta_key_retire(c->txn_id, &x->retire_key) != HS_OK ||
        hs_meta_key_repair(key, &x->repair_key) != HS_OK)
        HS_BUG("keys of '%s'", key);
    struct hs_repair_mark rm = {.reason = HS_REPAIR_DEGRADED_WRITE, .marked_ms = n->created_ms};
    memcpy(rm.txn_id, c->txn_id, sizeof rm.txn_id);
    x->repair_len = hs_repair_mark_encode(&rm, x->repair);
    err = have ? prepare_retire(c, &cur, n, x) : HS_OK;
    hs_manifest_release(&cur);
    if (err != HS_OK)
        snprintf(msg, msg_len, "etcd did not take the retire records");
    return err;
}

/* The commit transaction: HS_OK committed, HS_ECONFLICT the key changed (retry), HS_ENOENT the
 * upload left OPEN, HS_EUNAVAIL unanswered and not found landed. */
static enum hs_err send_commit(struct commit *c, const struct texts *x, char *msg, size_t msg_len)
{
    struct hs_etcd_cmp cmps[2] = {
        {.target = HS_ETCD_CMP_MOD,
         .result = HS_ETCD_EQUAL,
         .key = c->u->etcd_key,
         .number = c->u->rev},
        {.target = HS_ETCD_CMP_MOD,
         .result = HS_ETCD_EQUAL,
         .key = x->meta_key,
         .number = x->cur_rev},
    };
    struct hs_etcd_op ops[4] = {
        {.type = HS_ETCD_OP_PUT, .key = x->meta_key, .value = x->manifest, .value_len = x->m_len},
        {.type = HS_ETCD_OP_PUT, .key = c->u->etcd_key, .value = x->upload, .value_len = x->u_len},
        c->degraded ? (struct hs_etcd_op){.type = HS_ETCD_OP_PUT,
                                          .key = x->repair_key,
                                          .value = x->repair,
                                          .value_len = x->repair_len}
                    : (struct hs_etcd_op){.type = HS_ETCD_OP_DELETE, .key = x->repair_key},
        {.type = HS_ETCD_OP_PUT, .key = x->retire_key, .value = x->retire, .value_len = x->r_len},
    };
    struct hs_etcd_op fail = {.type = HS_ETCD_OP_RANGE, .key = c->u->etcd_key};
    struct hs_etcd_txn t = {cmps, 2, ops, x->retire ? 4 : 3, &fail, 1};
    struct hs_etcd_txn_result res = {0};
    hs_fault("s3.complete.before_commit");
    enum hs_err err = hs_etcd_txn(c->gw->etcd, &t, &res);
    if (err == HS_OK && res.succeeded) {
        c->committed_rev = res.revision;
        hs_fault("s3.complete.after_commit");
    } else if (err == HS_OK) {
        /* which compare failed: the upload record's (gone or changed) or the key's */
        bool upload_same = res.n_ranges == 1 && res.ranges[0].n == 1 &&
                           res.ranges[0].kvs[0].mod_revision == c->u->rev;
        err = upload_same ? HS_ECONFLICT : HS_ENOENT;
        if (!upload_same)
            snprintf(msg, msg_len, "the upload was completed or aborted meanwhile");
    } else {
        /* no answer: did it land? (the upload record then names our txn) */
        struct hs_mpu_upload now;
        enum hs_err lerr = hs_mpu_load(c->gw, c->u->rec.key, c->u->rec.id, &now);
        if (lerr == HS_OK && now.rec.state == HS_UPLOAD_COMPLETED &&
            strcmp(now.rec.txn_id, c->txn_id) == 0) {
            c->committed_rev = now.rev;
            err = HS_OK;
        } else {
            snprintf(msg, msg_len, "etcd did not confirm the commit");
            err = HS_EUNAVAIL;
        }
        hs_mpu_upload_release(&now);
    }
    hs_etcd_txn_result_release(&res);
    return err;
}

/* One attempt: HS_OK committed, HS_ECONFLICT the key changed (retry), HS_ENOENT the upload
 * left OPEN, HS_EPRECONDITION, HS_EUNAVAIL, HS_ETOOBIG. */
static enum hs_err commit_once(struct commit *c, char *msg, size_t msg_len)
{
    struct texts x;
    memset(&x, 0, sizeof x);
    enum hs_err err = prepare(c, &x, msg, msg_len);
    if (err == HS_OK)
        err = send_commit(c, &x, msg, msg_len);
    texts_release(&x);
    return err;
}

/* ---- the handler ---- */

static void answer(struct hs_http_req *r, const struct hs_mpu_upload *u, const char *etag,
                   enum hs_s3_cksum_algo alg, const char *checksum)
{
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_printf(&b, HS_MPU_XML_HEAD "<CompleteMultipartUploadResult xmlns=\"" HS_MPU_S3_NS
                                            "\"><Location>/");
    hs_mpu_xml_text(&b, u->rec.bucket);
    (void)hs_buf_printf(&b, "/");
    hs_mpu_xml_text(&b, u->rec.s3key);
    (void)hs_buf_printf(&b, "</Location><Bucket>");
    hs_mpu_xml_text(&b, u->rec.bucket);
    (void)hs_buf_printf(&b, "</Bucket><Key>");
    hs_mpu_xml_text(&b, u->rec.s3key);
    (void)hs_buf_printf(&b, "</Key><ETag>&quot;%s&quot;</ETag>", etag);
    if (checksum && checksum[0]) {
        (void)hs_buf_printf(&b, "<%s>%s</%s>", hs_s3_cksum_xml_name(alg), checksum,
                            hs_s3_cksum_xml_name(alg));
        hs_http_add_header(r, hs_s3_cksum_header(alg), checksum);
    }
    (void)hs_buf_printf(&b, "</CompleteMultipartUploadResult>");
    hs_mpu_respond_xml(r, &b);
}

/* A Complete repeated after it succeeded (the client lost the answer): the same object. */
static bool answer_repeated(struct hs_http_req *r, const struct hs_mpu_upload *u)
{
    struct hs_manifest m;
    hs_manifest_init(&m);
    bool same = hs_obj_manifest_get(hs_s3_req_of(r)->gw, u->rec.key, strlen(u->rec.key), &m,
                                    NULL) == HS_OK &&
                strcmp(m.txn_id, u->rec.txn_id) == 0;
    if (same)
        answer(r, u, m.etag, HS_S3_CKSUM_NONE, NULL);
    hs_manifest_release(&m);
    return same;
}

static void if_match_of(struct hs_http_req *r, struct hs_txn_conds *c, char *buf, size_t cap)
{
    const char *im = hs_http_req_header(r, "If-Match");
    const char *inm = hs_http_req_header(r, "If-None-Match");
    if (inm && strcmp(inm, "*") == 0)
        c->if_none_match_any = true;
    if (im && strcmp(im, "*") == 0) {
        c->if_match_any = true;
    } else if (im && *im) {
        size_t n = strlen(im);
        if (n >= 2 && im[0] == '"' && im[n - 1] == '"')
            snprintf(buf, cap, "%.*s", (int)(n - 2), im + 1);
        else
            snprintf(buf, cap, "%s", im);
        c->if_match = buf;
    }
}

void hs_s3_complete_multipart_done(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    struct complete_body *cb = s->op_ctx;
    if (cb->failed)
        return;
    struct hs_s3_complete_upload cu = {0};
    struct hs_mpu_upload u;
    struct parts *ps = NULL;
    struct hs_manifest next;
    hs_manifest_init(&next);
    char msg[256] = "", if_match[HS_ETAG_MAX + 3] = "";
    if (hs_s3_xml_parse_complete(cb->body.data, cb->body.len, &cu) != HS_S3_OK || cu.n_parts == 0) {
        hs_s3_error(r, "MalformedXML", NULL);
        return;
    }
    enum hs_err err = hs_mpu_load(s->gw, s->native_key, hs_http_req_query(r, "uploadId"), &u);
    if (err == HS_OK && u.rec.state == HS_UPLOAD_COMPLETED && answer_repeated(r, &u))
        goto out;
    if (err != HS_OK || u.rec.state != HS_UPLOAD_OPEN) {
        if (err == HS_EUNAVAIL)
            hs_s3_error_hs(r, err, "cannot read the upload from etcd");
        else
            hs_s3_error(r, "NoSuchUpload", NULL);
        goto out;
    }
    int64_t t0 = hs_clock_mono_ms();
    ps = hs_xcalloc(1, sizeof *ps);
    char *prefix = NULL;
    if (hs_meta_key_upart_prefix(u.rec.id, &prefix) != HS_OK)
        HS_BUG("part prefix");
    err = hs_etcd_range_prefix_each(s->gw->etcd, prefix, PARTS_PAGE, false, on_part, ps, NULL);
    free(prefix);
    if (err != HS_OK) {
        hs_s3_error_hs(r, HS_EUNAVAIL, "cannot read the parts from etcd");
        goto out;
    }
    const char *bad = check_list(&cu, ps, &u.rec, s->gw->opts.s3_min_part_bytes, msg, sizeof msg);
    if (bad) {
        hs_s3_error(r, bad, "%s", msg);
        goto out;
    }
    if (build(&cu, ps, &u.rec, &next, msg, sizeof msg) != HS_OK) {
        hs_s3_error(r, "InvalidPart", "%s", msg);
        goto out;
    }
    /* the attributes given at Create, and the COMPOSITE checksum of the parts' checksums */
    enum hs_s3_cksum_algo alg = HS_S3_CKSUM_NONE;
    char checksum[HS_S3_CKSUM_COMPOSITE_MAX];
    composite_checksum(&cu, ps, &u.rec, &alg, checksum);
    if (hs_upload_attrs_get(&u.rec, &next.attrs) != HS_OK) {
        hs_s3_error_hs(r, HS_EIO, "the upload's stored attributes cannot be read");
        goto out;
    }
    if (checksum[0]) {
        if (!next.attrs)
            next.attrs = hs_xcalloc(1, sizeof *next.attrs);
        next.attrs->checksum_alg = hs_xstrdup(hs_s3_cksum_lower(alg));
        next.attrs->checksum = hs_xstrdup(checksum);
        next.attrs->checksum_type = hs_xstrdup("COMPOSITE");
    }
    struct commit c = {.gw = s->gw, .req_id = s->request_id, .u = &u, .next = &next};
    if_match_of(r, &c.conds, if_match, sizeof if_match);
    for (size_t i = 0; i < cu.n_parts; i++)
        c.degraded |= ps->by_number[cu.parts[i].part_number]->degraded;
    if (hs_meta_txn_id_new(c.txn_id) != HS_OK) {
        hs_s3_error_hs(r, HS_EIO, "cannot mint a txn id");
        goto out;
    }
    int64_t t1 = hs_clock_mono_ms();
    err = HS_ECONFLICT;
    for (int i = 0; i < COMPLETE_TRIES && err == HS_ECONFLICT; i++)
        err = commit_once(&c, msg, sizeof msg);
    int64_t t2 = hs_clock_mono_ms();
    if (err != HS_OK) {
        if (err == HS_ENOENT)
            hs_s3_error(r, "NoSuchUpload", "%s", msg);
        else if (err == HS_ETOOBIG)
            hs_s3_error(r, "EntityTooLarge", "%s", msg);
        else
            hs_s3_error_hs(r, err == HS_ECONFLICT ? HS_EBUSY : err, msg);
        goto out;
    }
    /* the parts' records become retire records now (what fails, the healer finishes) */
    u.rec.state = HS_UPLOAD_COMPLETED;
    memcpy(u.rec.txn_id, c.txn_id, sizeof u.rec.txn_id);
    u.rec.state_ms = HS_MAX(next.created_ms, u.rec.created_ms);
    u.rev = c.committed_rev;
    hs_mpu_cleanup(s->gw, &u, s->request_id);
    HS_LOG_INFO("s3_upload_completed",
                "req=%s upload=%s key='%s' parts=%zu size=%" PRId64 " segments=%zu txn=%s "
                "ms_parts=%" PRId64 " ms_commit=%" PRId64 " ms_cleanup=%" PRId64,
                s->request_id, u.rec.id, u.rec.key, cu.n_parts, next.size_bytes,
                next.data.n_segments, c.txn_id, t1 - t0, t2 - t1, hs_clock_mono_ms() - t2);
    answer(r, &u, next.etag, alg, checksum);
out:
    hs_manifest_release(&next);
    parts_free(ps);
    hs_mpu_upload_release(&u);
    hs_s3_complete_upload_release(&cu);
}
