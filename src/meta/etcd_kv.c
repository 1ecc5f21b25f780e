/* etcd_kv.c - kv calls of the etcd gateway client: get, range (single, range_end, prefix),
 * paged prefix iteration at one snapshot revision, put, delete and txn. Keys and values are
 * base64 and int64 fields are sent as strings (etcd's own JSON encoding). */
#include "meta/etcd_int.h"

#include <stdlib.h>
#include <string.h>

#include "hs/mem.h"
#include "hs/banned.h"

#define DEFAULT_PAGE_SIZE 1000

/* Sets name to the base64 of data (a new reference; jansson steals it). */
static void set_b64(json_t *obj, const char *name, const void *data, size_t len)
{
    json_object_set_new(obj, name, hs_etcd_json_b64(data, len));
}

/* Adds key (and range_end for a prefix) to a request object. An empty prefix covers every key,
 * which etcd spells key = range_end = "\0" (an empty key is rejected). */
static void set_key_range(json_t *obj, const char *key, bool prefix)
{
    size_t len = strlen(key);
    if (!prefix) {
        set_b64(obj, "key", key, len);
        return;
    }
    uint8_t *end;
    size_t end_len;
    hs_etcd_prefix_end(key, len, &end, &end_len);
    set_b64(obj, "key", len ? key : "", len ? len : 1);
    set_b64(obj, "range_end", end, end_len);
    free(end);
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

static json_t *range_body(const struct range_args *a)
{
    json_t *b = json_object();
    set_b64(b, "key", a->key, a->key_len);
    if (a->end)
        set_b64(b, "range_end", a->end, a->end_len);
    if (a->limit > 0)
        json_object_set_new(b, "limit", hs_etcd_json_i64str(a->limit));
    if (a->revision > 0)
        json_object_set_new(b, "revision", hs_etcd_json_i64str(a->revision));
    if (a->keys_only)
        json_object_set_new(b, "keys_only", json_true());
    if (a->count_only)
        json_object_set_new(b, "count_only", json_true());
    if (a->serializable)
        json_object_set_new(b, "serializable", json_true());
    return b;
}

static enum hs_err range_call(struct hs_etcd *e, const struct range_args *a,
                              struct hs_etcd_kvs *out)
{
    json_t *body = range_body(a);
    struct hs_buf reply;
    hs_buf_init(&reply, HS_ETCD_REPLY_MAX_BYTES);
    struct hs_etcd_call c = {
        .path = "/v3/kv/range", .body = body, .retry = HS_ETCD_IDEMPOTENT, .endpoint = -1};
    enum hs_err err = hs_etcd_request(e, &c, &reply);
    if (err == HS_OK)
        err = hs_etcd_parse_range_reply((const char *)reply.data, reply.len, out);
    hs_buf_release(&reply);
    json_decref(body);
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
    for (size_t i = 0; i < page.n && !*done; i++)
        *done = !fn(ctx, &page.kvs[i]);
    if (*done)
        goto out;
    if (page.more && page.n > 0) {
        const char *first = page.kvs[0].key, *last = page.kvs[page.n - 1].key;
        size_t last_len = strlen(last);
        /* a reply that does not move forward would page forever */
        if (bytes_cmp(last, last_len + 1, pos->key, pos->len) <= 0) {
            err = HS_EPROTO;
            goto out;
        }
        hs_etcd_pace_full(pace, pos->key, pos->len, (const uint8_t *)first, strlen(first),
                          (const uint8_t *)last, last_len, page.n);
        pos_set(pos, last, last_len, true);
    } else if (page.more) {
        err = HS_EPROTO; /* "more" with nothing in it */
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

/* POSTs body to path with the idempotent policy and hands the 200 body to the caller. */
static enum hs_err simple_call(struct hs_etcd *e, const char *path, json_t *body,
                               enum hs_etcd_retry retry, struct hs_buf *reply)
{
    hs_buf_init(reply, HS_ETCD_REPLY_MAX_BYTES);
    struct hs_etcd_call c = {.path = path, .body = body, .retry = retry, .endpoint = -1};
    enum hs_err err = hs_etcd_request(e, &c, reply);
    json_decref(body);
    return err;
}

/* Reads one int64 member (and the header revision) of a unary reply. */
static enum hs_err reply_i64(const struct hs_buf *reply, const char *name, int64_t *value,
                             int64_t *rev)
{
    json_t *j = json_loadb((const char *)reply->data, reply->len, 0, NULL);
    enum hs_err err = HS_EPROTO;
    int64_t v = 0, r = 0;
    if (json_is_object(j) && (err = hs_etcd_parse_header_rev(j, &r)) == HS_OK && name)
        err = hs_etcd_json_i64(j, name, &v);
    json_decref(j);
    if (err == HS_OK) {
        if (value)
            *value = v;
        if (rev)
            *rev = r;
    }
    return err;
}

enum hs_err hs_etcd_put(struct hs_etcd *e, const char *key, const void *value, size_t value_len,
                        int64_t lease, int64_t *revision_out)
{
    if (!key || !*key || (!value && value_len))
        return HS_EINVAL;
    json_t *b = json_object();
    set_b64(b, "key", key, strlen(key));
    set_b64(b, "value", value ? value : "", value_len);
    if (lease)
        json_object_set_new(b, "lease", hs_etcd_json_i64str(lease));
    struct hs_buf reply;
    enum hs_err err = simple_call(e, "/v3/kv/put", b, HS_ETCD_IDEMPOTENT, &reply);
    if (err == HS_OK)
        err = reply_i64(&reply, NULL, NULL, revision_out);
    hs_buf_release(&reply);
    return err;
}

enum hs_err hs_etcd_delete(struct hs_etcd *e, const char *key, bool prefix, int64_t *deleted_out)
{
    if (!key || (!*key && !prefix))
        return HS_EINVAL;
    json_t *b = json_object();
    set_key_range(b, key, prefix);
    struct hs_buf reply;
    enum hs_err err = simple_call(e, "/v3/kv/deleterange", b, HS_ETCD_IDEMPOTENT, &reply);
    if (err == HS_OK)
        err = reply_i64(&reply, "deleted", deleted_out, NULL);
    hs_buf_release(&reply);
    return err;
}

static json_t *cmp_json(const struct hs_etcd_cmp *c)
{
    static const char *const targets[] = {"VERSION", "CREATE", "MOD", "VALUE", "LEASE"};
    static const char *const fields[] = {"version", "create_revision", "mod_revision", "value",
                                         "lease"};
    static const char *const results[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};
    json_t *j = json_object();
    json_object_set_new(j, "target", json_string(targets[c->target]));
    json_object_set_new(j, "result", json_string(results[c->result]));
    set_b64(j, "key", c->key, strlen(c->key));
    if (c->target == HS_ETCD_CMP_VALUE)
        set_b64(j, "value", c->value ? c->value : "", c->value_len);
    else
        json_object_set_new(j, fields[c->target], hs_etcd_json_i64str(c->number));
    return j;
}

static json_t *op_json(const struct hs_etcd_op *op)
{
    json_t *req = json_object();
    json_t *j = json_object();
    switch (op->type) {
    case HS_ETCD_OP_PUT:
        set_b64(req, "key", op->key, strlen(op->key));
        set_b64(req, "value", op->value ? op->value : "", op->value_len);
        if (op->lease)
            json_object_set_new(req, "lease", hs_etcd_json_i64str(op->lease));
        json_object_set_new(j, "request_put", req);
        break;
    case HS_ETCD_OP_DELETE:
        set_key_range(req, op->key, op->prefix);
        json_object_set_new(j, "request_delete_range", req);
        break;
    case HS_ETCD_OP_RANGE:
        set_key_range(req, op->key, op->prefix);
        json_object_set_new(j, "request_range", req);
        break;
    }
    return j;
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
    json_t *b = json_object();
    json_t *cmps = json_array(), *succ = json_array(), *fail = json_array();
    for (size_t i = 0; i < txn->n_cmps; i++)
        json_array_append_new(cmps, cmp_json(&txn->cmps[i]));
    for (size_t i = 0; i < txn->n_success; i++)
        json_array_append_new(succ, op_json(&txn->success[i]));
    for (size_t i = 0; i < txn->n_failure; i++)
        json_array_append_new(fail, op_json(&txn->failure[i]));
    json_object_set_new(b, "compare", cmps);
    json_object_set_new(b, "success", succ);
    json_object_set_new(b, "failure", fail);
    struct hs_buf reply;
    /* not retried once sent: a replayed CAS would report "failed" for our own success */
    enum hs_err err = simple_call(e, "/v3/kv/txn", b, HS_ETCD_ONCE, &reply);
    if (err == HS_OK)
        err = hs_etcd_parse_txn_reply((const char *)reply.data, reply.len, txn, out);
    hs_buf_release(&reply);
    return err;
}
