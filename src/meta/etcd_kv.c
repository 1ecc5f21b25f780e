/* etcd_kv.c - kv calls of the etcd client: get, range (single, range_end, prefix), paged
 * prefix iteration at one snapshot revision, put, delete and txn, as protobuf requests whose
 * bytes fields point at the caller's keys and values (nothing is copied before packing). */
#include "meta/etcd_int.h"

#include <stdlib.h>
#include <string.h>

#include "hs/mem.h"
#include "hs/banned.h"

#define DEFAULT_PAGE_SIZE 1000

static ProtobufCBinaryData bytes_of(const void *p, size_t len)
{
    return (ProtobufCBinaryData){.len = len, .data = (uint8_t *)(uintptr_t)p};
}

/* key (and range_end for a prefix) of a request. An empty prefix covers every key, which etcd
 * spells key = range_end = "\0" (an empty key is rejected). *end_heap is freed by the caller. */
static void key_range(const char *key, bool prefix, ProtobufCBinaryData *k,
                      ProtobufCBinaryData *end, uint8_t **end_heap)
{
    size_t len = strlen(key);
    *end_heap = NULL;
    if (!prefix) {
        *k = bytes_of(key, len);
        *end = bytes_of(NULL, 0);
        return;
    }
    size_t end_len;
    hs_etcd_prefix_end(key, len, end_heap, &end_len);
    *k = len ? bytes_of(key, len) : bytes_of("", 1);
    *end = bytes_of(*end_heap, end_len);
}

struct range_args {
    const void *key;
    size_t key_len;
    const void *end; /* NULL = single key */
    size_t end_len;
    int64_t limit;
    int64_t revision;
    bool keys_only;
    bool count_only;
    bool serializable;
};

static void range_pb(const struct range_args *a, Hsetcd__RangeRequest *r)
{
    hsetcd__range_request__init(r);
    r->key = bytes_of(a->key, a->key_len);
    if (a->end)
        r->range_end = bytes_of(a->end, a->end_len);
    r->limit = a->limit > 0 ? a->limit : 0;
    r->revision = a->revision > 0 ? a->revision : 0;
    r->keys_only = a->keys_only;
    r->count_only = a->count_only;
    r->serializable = a->serializable;
}

static enum hs_err range_call(struct hs_etcd *e, const struct range_args *a,
                              struct hs_etcd_kvs *out)
{
    Hsetcd__RangeRequest r;
    range_pb(a, &r);
    struct hs_buf reply;
    hs_buf_init(&reply, HS_ETCD_REPLY_MAX_BYTES);
    struct hs_etcd_call c = {
        .path = HS_ETCD_RANGE, .req = &r.base, .retry = HS_ETCD_IDEMPOTENT, .endpoint = -1};
    enum hs_err err = hs_etcd_request(e, &c, &reply);
    if (err == HS_OK)
        err = hs_etcd_decode_range(reply.data, reply.len, out);
    hs_buf_release(&reply);
    return err;
}

enum hs_err hs_etcd_get(struct hs_etcd *e, const char *key, struct hs_etcd_kvs *out)
{
    if (!key || !*key)
        return HS_EINVAL;
    struct range_args a = {.key = key, .key_len = strlen(key)};
    return range_call(e, &a, out);
}

enum hs_err hs_etcd_range(struct hs_etcd *e, const struct hs_etcd_range_req *req,
                          struct hs_etcd_kvs *out)
{
    if (!req || !req->key || (!*req->key && !req->prefix && !req->range_end))
        return HS_EINVAL;
    struct range_args a = {.key = req->key,
                           .key_len = strlen(req->key),
                           .limit = req->limit,
                           .revision = req->revision,
                           .keys_only = req->keys_only,
                           .count_only = req->count_only,
                           .serializable = req->serializable};
    uint8_t *end = NULL;
    if (req->range_end) {
        a.end = req->range_end;
        a.end_len = strlen(req->range_end);
        if (a.end_len == 0) {
            a.end = ""; /* "\0": to the end of the keyspace */
            a.end_len = 1;
        }
    } else if (req->prefix) {
        hs_etcd_prefix_end(req->key, a.key_len, &end, &a.end_len);
        a.end = end;
    }
    if (a.key_len == 0) {
        a.key = "";
        a.key_len = 1;
    }
    enum hs_err err = range_call(e, &a, out);
    free(end);
    return err;
}

/* memcmp order of two byte strings (a shorter prefix sorts first), as etcd orders keys. */
static int bytes_cmp(const void *a, size_t a_len, const void *b, size_t b_len)
{
    int c = memcmp(a, b, HS_MIN(a_len, b_len));
    if (c != 0)
        return c;
    return a_len < b_len ? -1 : a_len > b_len;
}

/* The scan's moving start key (bytes, not a C string: "last key + \0" is the next start). */
struct scan_pos {
    uint8_t *key;
    size_t len;
};

static void pos_set(struct scan_pos *p, const void *key, size_t len, bool plus_nul)
{
    free(p->key);
    p->key = hs_xmalloc(len + 1);
    memcpy(p->key, key, len);
    p->key[len] = 0;
    p->len = len + (plus_nul ? 1 : 0);
}

/* One page [pos, end). *done when the scan is over (end of range, or fn said stop). */
static enum hs_err scan_page(struct hs_etcd *e, struct range_args *a, struct scan_pos *pos,
                             const uint8_t *final_end, size_t final_len, bool open_ended,
                             struct hs_etcd_pace *pace, const struct hs_etcd_scan *scan,
                             hs_etcd_kv_fn *fn, void *ctx, bool *done)
{
    uint8_t *end = NULL;
    size_t end_len = 0;
    if (open_ended) {
        end = hs_xmalloc(final_len);
        memcpy(end, final_end, final_len);
        end_len = final_len;
    } else {
        hs_etcd_page_end(pace, pos->key, pos->len, final_end, final_len, &end, &end_len);
    }
    a->key = pos->key;
    a->key_len = pos->len;
    a->end = end;
    a->end_len = end_len;
    struct hs_etcd_kvs page = {0};
    enum hs_err err = range_call(e, a, &page);
    if (err != HS_OK)
        goto out;
    if (scan->requests_out)
        (*scan->requests_out)++;
    if (scan->keys_counted_out)
        *scan->keys_counted_out += page.count;
    if (a->revision == 0)
        a->revision = page.revision; /* later pages read the same snapshot */
    bool full = page.more && page.n > 0;
    const char *last = full ? page.kvs[page.n - 1].key : NULL;
    if (full) {
        const char *first = page.kvs[0].key;
        size_t last_len = strlen(last);
        /* a reply that does not move forward would page forever */
        if (bytes_cmp(last, last_len + 1, pos->key, pos->len) <= 0) {
            err = HS_EPROTO;
            goto out;
        }
        /* Learn the density before fn runs: a caller that stops inside the page (the audit
         * reads one page per call) must still narrow the next range, or short pages would
         * only ever widen it until it is open-ended again. */
        hs_etcd_pace_full(pace, pos->key, pos->len, (const uint8_t *)first, strlen(first),
                          (const uint8_t *)last, last_len, page.n);
    } else if (page.more) {
        err = HS_EPROTO; /* "more" with nothing in it */
        goto out;
    }
    for (size_t i = 0; i < page.n && !*done; i++)
        *done = !fn(ctx, &page.kvs[i]);
    if (*done)
        goto out;
    if (full) {
        pos_set(pos, last, strlen(last), true);
    } else if (bytes_cmp(end, end_len, final_end, final_len) == 0) {
        *done = true; /* the last range held every key that was left */
    } else {
        hs_etcd_pace_short(pace, page.n, (size_t)a->limit);
        pos_set(pos, end, end_len, false);
    }
out:
    hs_etcd_kvs_release(&page);
    free(end);
    return err;
}

enum hs_err hs_etcd_range_scan(struct hs_etcd *e, const struct hs_etcd_scan *scan,
                               hs_etcd_kv_fn *fn, void *ctx, int64_t *revision_out)
{
    if (!scan || !scan->prefix || !fn || scan->page_size < 0 || scan->revision < 0)
        return HS_EINVAL;
    size_t plen = strlen(scan->prefix);
    const char *after = scan->after && *scan->after ? scan->after : NULL;
    struct range_args a = {.limit = scan->page_size ? scan->page_size : DEFAULT_PAGE_SIZE,
                           .revision = scan->revision,
                           .keys_only = scan->keys_only};
    uint8_t *final_end;
    size_t final_len;
    hs_etcd_prefix_end(scan->prefix, plen, &final_end, &final_len);
    struct hs_etcd_pace local = {0};
    struct hs_etcd_pace *pace = scan->pace ? scan->pace : &local;
    struct scan_pos pos = {0};
    if (!after || bytes_cmp(after, strlen(after), scan->prefix, plen) < 0)
        pos_set(&pos, plen ? scan->prefix : "", plen ? plen : 1, false); /* "" is "\0" */
    else
        pos_set(&pos, after, strlen(after), true);
    /* An unknown pace from the very start: one open-ended page reads a small prefix at once
     * and teaches the density of a big one (its cost, one pass, is paid once per scan). */
    bool open_ended = pace->width == 0 && !after;
    enum hs_err err = HS_OK;
    bool done = final_len != 1 || final_end[0] != 0
                    ? bytes_cmp(pos.key, pos.len, final_end, final_len) >= 0
                    : false;
    while (!done && err == HS_OK) {
        err = scan_page(e, &a, &pos, final_end, final_len, open_ended, pace, scan, fn, ctx, &done);
        open_ended = false;
    }
    if (err == HS_OK && revision_out)
        *revision_out = a.revision;
    free(pos.key);
    free(final_end);
    return err;
}

enum hs_err hs_etcd_range_prefix_each(struct hs_etcd *e, const char *prefix, int64_t page_size,
                                      bool keys_only, hs_etcd_kv_fn *fn, void *ctx,
                                      int64_t *revision_out)
{
    struct hs_etcd_scan scan = {.prefix = prefix, .page_size = page_size, .keys_only = keys_only};
    return hs_etcd_range_scan(e, &scan, fn, ctx, revision_out);
}

/* A unary call with the given retry policy; the reply message goes to reply. */
static enum hs_err simple_call(struct hs_etcd *e, const char *path, const ProtobufCMessage *req,
                               enum hs_etcd_retry retry, struct hs_buf *reply)
{
    hs_buf_init(reply, HS_ETCD_REPLY_MAX_BYTES);
    struct hs_etcd_call c = {.path = path, .req = req, .retry = retry, .endpoint = -1};
    return hs_etcd_request(e, &c, reply);
}

enum hs_err hs_etcd_put(struct hs_etcd *e, const char *key, const void *value, size_t value_len,
                        int64_t lease, int64_t *revision_out)
{
    if (!key || !*key || (!value && value_len))
        return HS_EINVAL;
    Hsetcd__PutRequest r;
    hsetcd__put_request__init(&r);
    r.key = bytes_of(key, strlen(key));
    r.value = bytes_of(value, value_len);
    r.lease = lease;
    struct hs_buf reply;
    enum hs_err err = simple_call(e, HS_ETCD_PUT, &r.base, HS_ETCD_IDEMPOTENT, &reply);
    if (err == HS_OK)
        err = hs_etcd_decode_put(reply.data, reply.len, revision_out);
    hs_buf_release(&reply);
    return err;
}

enum hs_err hs_etcd_delete(struct hs_etcd *e, const char *key, bool prefix, int64_t *deleted_out)
{
    if (!key || (!*key && !prefix))
        return HS_EINVAL;
    Hsetcd__DeleteRangeRequest r;
    hsetcd__delete_range_request__init(&r);
    uint8_t *end;
    key_range(key, prefix, &r.key, &r.range_end, &end);
    struct hs_buf reply;
    enum hs_err err = simple_call(e, HS_ETCD_DELETE, &r.base, HS_ETCD_IDEMPOTENT, &reply);
    if (err == HS_OK)
        err = hs_etcd_decode_delete(reply.data, reply.len, deleted_out);
    hs_buf_release(&reply);
    free(end);
    return err;
}

static void cmp_pb(const struct hs_etcd_cmp *c, Hsetcd__Compare *pb)
{
    /* our enums are declared in etcd's order */
    hsetcd__compare__init(pb);
    pb->target = (Hsetcd__Compare__CompareTarget)c->target;
    pb->result = (Hsetcd__Compare__CompareResult)c->result;
    pb->key = bytes_of(c->key, strlen(c->key));
    switch (c->target) {
    case HS_ETCD_CMP_VERSION:
        pb->target_union_case = HSETCD__COMPARE__TARGET_UNION_VERSION;
        pb->version = c->number;
        break;
    case HS_ETCD_CMP_CREATE:
        pb->target_union_case = HSETCD__COMPARE__TARGET_UNION_CREATE_REVISION;
        pb->create_revision = c->number;
        break;
    case HS_ETCD_CMP_MOD:
        pb->target_union_case = HSETCD__COMPARE__TARGET_UNION_MOD_REVISION;
        pb->mod_revision = c->number;
        break;
    case HS_ETCD_CMP_VALUE:
        pb->target_union_case = HSETCD__COMPARE__TARGET_UNION_VALUE;
        pb->value = bytes_of(c->value, c->value_len);
        break;
    case HS_ETCD_CMP_LEASE:
        pb->target_union_case = HSETCD__COMPARE__TARGET_UNION_LEASE;
        pb->lease = c->number;
        break;
    }
}

/* The protobuf of one txn op; its sub-request lives in *slot, a prefix end in *end_heap. */
union op_slot {
    Hsetcd__RangeRequest range;
    Hsetcd__PutRequest put;
    Hsetcd__DeleteRangeRequest del;
};

static void op_pb(const struct hs_etcd_op *op, Hsetcd__RequestOp *pb, union op_slot *slot,
                  uint8_t **end_heap)
{
    hsetcd__request_op__init(pb);
    *end_heap = NULL;
    switch (op->type) {
    case HS_ETCD_OP_PUT:
        hsetcd__put_request__init(&slot->put);
        slot->put.key = bytes_of(op->key, strlen(op->key));
        slot->put.value = bytes_of(op->value, op->value_len);
        slot->put.lease = op->lease;
        pb->request_case = HSETCD__REQUEST_OP__REQUEST_REQUEST_PUT;
        pb->request_put = &slot->put;
        break;
    case HS_ETCD_OP_DELETE:
        hsetcd__delete_range_request__init(&slot->del);
        key_range(op->key, op->prefix, &slot->del.key, &slot->del.range_end, end_heap);
        pb->request_case = HSETCD__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
        pb->request_delete_range = &slot->del;
        break;
    case HS_ETCD_OP_RANGE:
        hsetcd__range_request__init(&slot->range);
        key_range(op->key, op->prefix, &slot->range.key, &slot->range.range_end, end_heap);
        pb->request_case = HSETCD__REQUEST_OP__REQUEST_REQUEST_RANGE;
        pb->request_range = &slot->range;
        break;
    }
}

/* The request ops of one branch: arrays of n (heap), freed by ops_free. */
struct pb_ops {
    Hsetcd__RequestOp **ptrs;
    Hsetcd__RequestOp *ops;
    union op_slot *slots;
    uint8_t **ends;
    size_t n;
};

static void ops_build(const struct hs_etcd_op *ops, size_t n, struct pb_ops *out)
{
    out->n = n;
    out->ptrs = hs_xcalloc(n ? n : 1, sizeof *out->ptrs);
    out->ops = hs_xcalloc(n ? n : 1, sizeof *out->ops);
    out->slots = hs_xcalloc(n ? n : 1, sizeof *out->slots);
    out->ends = hs_xcalloc(n ? n : 1, sizeof *out->ends);
    for (size_t i = 0; i < n; i++) {
        op_pb(&ops[i], &out->ops[i], &out->slots[i], &out->ends[i]);
        out->ptrs[i] = &out->ops[i];
    }
}

static void ops_free(struct pb_ops *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->ends[i]);
    free(o->ptrs);
    free(o->ops);
    free(o->slots);
    free(o->ends);
}

static bool ops_valid(const struct hs_etcd_op *ops, size_t n)
{
    if (n && !ops)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!ops[i].key || (!*ops[i].key && !ops[i].prefix) || (unsigned)ops[i].type > 2 ||
            (ops[i].type == HS_ETCD_OP_PUT &&
             (!*ops[i].key || (!ops[i].value && ops[i].value_len))))
            return false;
    }
    return true;
}

static bool txn_valid(const struct hs_etcd_txn *t)
{
    if (!t || (t->n_cmps && !t->cmps))
        return false;
    for (size_t i = 0; i < t->n_cmps; i++) {
        const struct hs_etcd_cmp *c = &t->cmps[i];
        if (!c->key || !*c->key || (unsigned)c->target > 4 || (unsigned)c->result > 3 ||
            (c->target == HS_ETCD_CMP_VALUE && !c->value && c->value_len))
            return false;
    }
    return ops_valid(t->success, t->n_success) && ops_valid(t->failure, t->n_failure);
}

enum hs_err hs_etcd_txn(struct hs_etcd *e, const struct hs_etcd_txn *txn,
                        struct hs_etcd_txn_result *out)
{
    if (!txn_valid(txn))
        return HS_EINVAL;
    Hsetcd__TxnRequest r;
    hsetcd__txn_request__init(&r);
    size_t nc = txn->n_cmps;
    Hsetcd__Compare *cmps = hs_xcalloc(nc ? nc : 1, sizeof *cmps);
    Hsetcd__Compare **cmp_ptrs = hs_xcalloc(nc ? nc : 1, sizeof *cmp_ptrs);
    for (size_t i = 0; i < nc; i++) {
        cmp_pb(&txn->cmps[i], &cmps[i]);
        cmp_ptrs[i] = &cmps[i];
    }
    struct pb_ops succ, fail;
    ops_build(txn->success, txn->n_success, &succ);
    ops_build(txn->failure, txn->n_failure, &fail);
    r.n_compare = nc;
    r.compare = cmp_ptrs;
    r.n_success = succ.n;
    r.success = succ.ptrs;
    r.n_failure = fail.n;
    r.failure = fail.ptrs;
    struct hs_buf reply;
    /* not retried once sent: a replayed CAS would report "failed" for our own success */
    enum hs_err err = simple_call(e, HS_ETCD_TXN, &r.base, HS_ETCD_ONCE, &reply);
    if (err == HS_OK)
        err = hs_etcd_decode_txn(reply.data, reply.len, txn, out);
    hs_buf_release(&reply);
    ops_free(&succ);
    ops_free(&fail);
    free(cmps);
    free(cmp_ptrs);
    return err;
}
