/* etcd_codec.c - pure encoding and parsing for the etcd gateway client: base64, int64 fields
 * sent as JSON strings, and every unary reply shape. proto3 JSON omits zero values, so every
 * reader here treats a missing member as 0/false/empty and only a member of the wrong type as
 * a protocol error. No I/O: the fuzz target drives these functions directly. */
#include "meta/etcd_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/mem.h"
#include "hs/banned.h"

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *hs_etcd_b64_encode(const void *data, size_t len)
{
    const uint8_t *p = data;
    char *out = hs_xmalloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64_chars[v >> 18];
        out[o++] = b64_chars[(v >> 12) & 63];
        out[o++] = b64_chars[(v >> 6) & 63];
        out[o++] = b64_chars[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = b64_chars[v >> 18];
        out[o++] = b64_chars[(v >> 12) & 63];
        out[o++] = b64_chars[(v >> 6) & 63];
        if (i + 1 == len)
            out[o - 1] = '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

enum hs_err hs_etcd_b64_decode(const char *text, size_t text_len, uint8_t **out, size_t *out_len)
{
    /* up to two '=' of padding, which etcd always sends; accept their absence too */
    size_t n = text_len;
    if (n >= 1 && text[n - 1] == '=')
        n--;
    if (n >= 1 && text[n - 1] == '=')
        n--;
    if (n % 4 == 1 || (n != text_len && text_len % 4 != 0))
        return HS_EPROTO;
    uint8_t *buf = hs_xmalloc(n / 4 * 3 + 3 + 1);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(text[i]);
        if (v < 0) {
            free(buf);
            return HS_EPROTO;
        }
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    buf[o] = 0;
    *out = buf;
    *out_len = o;
    return HS_OK;
}

enum hs_err hs_etcd_json_i64(const json_t *obj, const char *name, int64_t *out)
{
    const json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) {
        *out = 0;
        return HS_OK;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return HS_OK;
    }
    if (!json_is_string(v))
        return HS_EPROTO;
    const char *s = json_string_value(v);
    if (json_string_length(v) == 0 || json_string_length(v) > 20)
        return HS_EPROTO;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s)
        return HS_EPROTO;
    *out = n;
    return HS_OK;
}

enum hs_err hs_etcd_json_bool(const json_t *obj, const char *name, bool *out)
{
    const json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) {
        *out = false;
        return HS_OK;
    }
    if (!json_is_boolean(v))
        return HS_EPROTO;
    *out = json_is_true(v);
    return HS_OK;
}

json_t *hs_etcd_json_i64str(int64_t v)
{
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, v);
    return json_string(text);
}

json_t *hs_etcd_json_b64(const void *data, size_t len)
{
    char *text = hs_etcd_b64_encode(data, len);
    json_t *j = json_string(text);
    free(text);
    return j;
}

void hs_etcd_prefix_end(const char *prefix, size_t len, uint8_t **end, size_t *end_len)
{
    uint8_t *out = hs_xmalloc(len + 1);
    memcpy(out, prefix, len);
    size_t n = len;
    while (n > 0 && out[n - 1] == 0xff)
        n--;
    if (n == 0) {
        /* "\0" as range_end means "every key >= key" in etcd */
        out[0] = 0;
        *end = out;
        *end_len = 1;
        return;
    }
    out[n - 1]++;
    *end = out;
    *end_len = n;
}

/* Decodes the base64 member name of j into a heap buffer (empty when missing). */
static enum hs_err json_b64_member(const json_t *j, const char *name, uint8_t **out, size_t *len)
{
    const json_t *v = json_object_get(j, name);
    if (!v || json_is_null(v)) {
        *out = hs_xcalloc(1, 1);
        *len = 0;
        return HS_OK;
    }
    if (!json_is_string(v))
        return HS_EPROTO;
    return hs_etcd_b64_decode(json_string_value(v), json_string_length(v), out, len);
}

enum hs_err hs_etcd_parse_kv(const json_t *j, struct hs_etcd_kv *out)
{
    if (!json_is_object(j))
        return HS_EPROTO;
    struct hs_etcd_kv kv = {0};
    size_t key_len = 0;
    enum hs_err err = HS_OK;
    if ((err = hs_etcd_json_i64(j, "create_revision", &kv.create_revision)) != HS_OK ||
        (err = hs_etcd_json_i64(j, "mod_revision", &kv.mod_revision)) != HS_OK ||
        (err = hs_etcd_json_i64(j, "version", &kv.version)) != HS_OK ||
        (err = hs_etcd_json_i64(j, "lease", &kv.lease)) != HS_OK)
        return err;
    uint8_t *key = NULL;
    if ((err = json_b64_member(j, "key", &key, &key_len)) != HS_OK)
        return err;
    if ((err = json_b64_member(j, "value", &kv.value, &kv.value_len)) != HS_OK) {
        free(key);
        return err;
    }
    kv.key = (char *)key;
    *out = kv;
    return HS_OK;
}

void hs_etcd_kv_release(struct hs_etcd_kv *kv)
{
    if (!kv)
        return;
    free(kv->key);
    free(kv->value);
    kv->key = NULL;
    kv->value = NULL;
    kv->value_len = 0;
}

void hs_etcd_kvs_release(struct hs_etcd_kvs *kvs)
{
    if (!kvs)
        return;
    for (size_t i = 0; i < kvs->n; i++)
        hs_etcd_kv_release(&kvs->kvs[i]);
    free(kvs->kvs);
    kvs->kvs = NULL;
    kvs->n = 0;
}

enum hs_err hs_etcd_parse_header_rev(const json_t *j, int64_t *rev)
{
    const json_t *h = json_object_get(j, "header");
    if (!h || json_is_null(h)) {
        *rev = 0;
        return HS_OK;
    }
    if (!json_is_object(h))
        return HS_EPROTO;
    return hs_etcd_json_i64(h, "revision", rev);
}

enum hs_err hs_etcd_parse_range_json(const json_t *j, struct hs_etcd_kvs *out)
{
    if (!json_is_object(j))
        return HS_EPROTO;
    struct hs_etcd_kvs r = {0};
    enum hs_err err;
    if ((err = hs_etcd_parse_header_rev(j, &r.revision)) != HS_OK ||
        (err = hs_etcd_json_i64(j, "count", &r.count)) != HS_OK ||
        (err = hs_etcd_json_bool(j, "more", &r.more)) != HS_OK)
        return err;
    const json_t *kvs = json_object_get(j, "kvs");
    if (kvs && !json_is_null(kvs)) {
        if (!json_is_array(kvs))
            return HS_EPROTO;
        size_t n = json_array_size(kvs);
        r.kvs = hs_xcalloc(n ? n : 1, sizeof *r.kvs);
        for (size_t i = 0; i < n; i++) {
            if ((err = hs_etcd_parse_kv(json_array_get(kvs, i), &r.kvs[i])) != HS_OK) {
                hs_etcd_kvs_release(&r);
                return err;
            }
            r.n++;
        }
    }
    *out = r;
    return HS_OK;
}

/* json_loadb with a hard "must be an object" check. NULL on anything else. */
static json_t *load_object(const char *body, size_t len)
{
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

enum hs_err hs_etcd_parse_range_reply(const char *body, size_t len, struct hs_etcd_kvs *out)
{
    json_t *j = load_object(body, len);
    if (!j)
        return HS_EPROTO;
    enum hs_err err = hs_etcd_parse_range_json(j, out);
    json_decref(j);
    return err;
}

void hs_etcd_txn_result_release(struct hs_etcd_txn_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_ranges; i++)
        hs_etcd_kvs_release(&r->ranges[i]);
    free(r->ranges);
    r->ranges = NULL;
    r->n_ranges = 0;
}

/* Fills res->ranges from the responses of the branch that ran (ops says which are ranges). */
static enum hs_err txn_ranges(const json_t *responses, const struct hs_etcd_op *ops, size_t n_ops,
                              struct hs_etcd_txn_result *res)
{
    size_t n_ranges = 0;
    for (size_t i = 0; i < n_ops; i++)
        n_ranges += ops[i].type == HS_ETCD_OP_RANGE;
    if (n_ranges == 0)
        return HS_OK;
    res->ranges = hs_xcalloc(n_ranges, sizeof *res->ranges);
    for (size_t i = 0; i < n_ops; i++) {
        if (ops[i].type != HS_ETCD_OP_RANGE)
            continue;
        const json_t *item = json_array_get(responses, i);
        const json_t *rr = item ? json_object_get(item, "response_range") : NULL;
        struct hs_etcd_kvs *dst = &res->ranges[res->n_ranges];
        if (rr) {
            enum hs_err err = hs_etcd_parse_range_json(rr, dst);
            if (err != HS_OK)
                return err;
        } else if (item && !json_is_object(item)) {
            return HS_EPROTO;
        } else {
            /* an empty RangeResponse may be omitted entirely: no keys */
            *dst = (struct hs_etcd_kvs){.revision = res->revision};
        }
        res->n_ranges++;
    }
    return HS_OK;
}

enum hs_err hs_etcd_parse_txn_reply(const char *body, size_t len, const struct hs_etcd_txn *txn,
                                    struct hs_etcd_txn_result *out)
{
    json_t *j = load_object(body, len);
    if (!j)
        return HS_EPROTO;
    struct hs_etcd_txn_result r = {0};
    enum hs_err err;
    /* a failed compare has no "succeeded" member at all (false is omitted) */
    if ((err = hs_etcd_json_bool(j, "succeeded", &r.succeeded)) != HS_OK ||
        (err = hs_etcd_parse_header_rev(j, &r.revision)) != HS_OK)
        goto out;
    const json_t *responses = json_object_get(j, "responses");
    if (responses && !json_is_array(responses) && !json_is_null(responses)) {
        err = HS_EPROTO;
        goto out;
    }
    if (r.succeeded)
        err = txn_ranges(responses, txn->success, txn->n_success, &r);
    else
        err = txn_ranges(responses, txn->failure, txn->n_failure, &r);
    if (err != HS_OK)
        goto out;
    *out = r;
    r = (struct hs_etcd_txn_result){0};
out:
    hs_etcd_txn_result_release(&r);
    json_decref(j);
    return err;
}

enum hs_err hs_etcd_parse_grant_reply(const char *body, size_t len, int64_t *id, int64_t *ttl)
{
    json_t *j = load_object(body, len);
    if (!j)
        return HS_EPROTO;
    int64_t i = 0, t = 0;
    enum hs_err err;
    const json_t *e = json_object_get(j, "error");
    if (json_is_string(e) && json_string_length(e) > 0)
        err = HS_EUNAVAIL;
    else if ((err = hs_etcd_json_i64(j, "ID", &i)) == HS_OK &&
             (err = hs_etcd_json_i64(j, "TTL", &t)) == HS_OK && (i == 0 || t <= 0))
        err = HS_EPROTO;
    json_decref(j);
    if (err == HS_OK) {
        *id = i;
        *ttl = t;
    }
    return err;
}

/* The first non-empty line of a stream body as an object. */
static json_t *first_line_object(const char *body, size_t len)
{
    size_t start = 0;
    while (start < len && (body[start] == '\n' || body[start] == '\r'))
        start++;
    const char *nl = memchr(body + start, '\n', len - start);
    size_t line_len = nl ? (size_t)(nl - body) - start : len - start;
    return load_object(body + start, line_len);
}

/* Maps an in-stream error object {"grpc_code":N,"message":".."}. */
static enum hs_err stream_error(const json_t *e, char *msg, size_t msg_len, bool *retry)
{
    const json_t *code = json_object_get(e, "grpc_code");
    const json_t *m = json_object_get(e, "message");
    const char *text = json_is_string(m) ? json_string_value(m) : "";
    if (msg && msg_len)
        snprintf(msg, msg_len, "%s", text);
    return hs_etcd_map_grpc(json_is_integer(code) ? (int)json_integer_value(code) : 2, text, retry);
}

enum hs_err hs_etcd_parse_keepalive_reply(const char *body, size_t len, int64_t *ttl)
{
    json_t *j = first_line_object(body, len);
    if (!j)
        return HS_EPROTO;
    enum hs_err err = HS_EPROTO;
    int64_t t = 0;
    const json_t *res = json_object_get(j, "result");
    const json_t *e = json_object_get(j, "error");
    bool retry;
    if (json_is_object(e))
        err = stream_error(e, NULL, 0, &retry);
    else if (json_is_object(res) && (err = hs_etcd_json_i64(res, "TTL", &t)) == HS_OK && t <= 0)
        err = HS_ENOENT; /* an expired lease answers 200 without TTL */
    json_decref(j);
    if (err == HS_OK)
        *ttl = t;
    return err;
}

/* A heap C string from a base64 member; "" when missing. */
static enum hs_err b64_string(const json_t *j, const char *name, char **out)
{
    uint8_t *p;
    size_t n;
    enum hs_err err = json_b64_member(j, name, &p, &n);
    if (err == HS_OK)
        *out = (char *)p;
    return err;
}

enum hs_err hs_etcd_parse_campaign_reply(const char *body, size_t len, struct hs_etcd_leader *out)
{
    json_t *j = load_object(body, len);
    if (!j)
        return HS_EPROTO;
    struct hs_etcd_leader l = {0};
    enum hs_err err = HS_EPROTO;
    const json_t *ld = json_object_get(j, "leader");
    if (!json_is_object(ld))
        goto out;
    if ((err = hs_etcd_json_i64(ld, "rev", &l.rev)) != HS_OK ||
        (err = hs_etcd_json_i64(ld, "lease", &l.lease)) != HS_OK ||
        (err = b64_string(ld, "name", &l.name)) != HS_OK ||
        (err = b64_string(ld, "key", &l.key)) != HS_OK)
        goto out;
    if (l.key[0] == '\0' || l.rev <= 0) {
        err = HS_EPROTO;
        goto out;
    }
    *out = l;
    l = (struct hs_etcd_leader){0};
out:
    hs_etcd_leader_release(&l);
    json_decref(j);
    return err;
}

void hs_etcd_leader_release(struct hs_etcd_leader *l)
{
    if (!l)
        return;
    free(l->name);
    free(l->key);
    l->name = NULL;
    l->key = NULL;
}

enum hs_err hs_etcd_parse_leader_reply(const char *body, size_t len, struct hs_etcd_kv *out)
{
    json_t *j = load_object(body, len);
    if (!j)
        return HS_EPROTO;
    const json_t *kv = json_object_get(j, "kv");
    enum hs_err err = kv && !json_is_null(kv) ? hs_etcd_parse_kv(kv, out) : HS_ENOENT;
    json_decref(j);
    return err;
}

enum hs_err hs_etcd_map_grpc(int code, const char *msg, bool *retry)
{
    *retry = false;
    if (strstr(msg, "lease not found") || strstr(msg, "election: no leader"))
        return HS_ENOENT;
    if (strstr(msg, "election: not leader"))
        return HS_ECONFLICT;
    if (strstr(msg, "has been compacted"))
        return HS_ECONFLICT;
    switch (code) {
    case 3:  /* InvalidArgument */
    case 11: /* OutOfRange */
        return HS_EINVAL;
    case 5: /* NotFound */
        return HS_ENOENT;
    case 6: /* AlreadyExists */
    case 9: /* FailedPrecondition: lease already exists */
        return HS_EEXIST;
    case 8: /* ResourceExhausted: NOSPACE alarm */
        return HS_ENOSPC;
    case 7:  /* PermissionDenied */
    case 16: /* Unauthenticated */
        return HS_EAUTH;
    case 1: /* Canceled */
    case 4: /* DeadlineExceeded */
        *retry = true;
        return HS_ETIMEDOUT;
    default: /* 2 Unknown ("context deadline exceeded"), 14 Unavailable, 10, 13, ... */
        *retry = true;
        return HS_EUNAVAIL;
    }
}

enum hs_err hs_etcd_map_error(long http_status, const char *body, size_t len, char *msg,
                              size_t msg_len, bool *retry)
{
    if (msg && msg_len)
        msg[0] = '\0';
    json_t *j = first_line_object(body, len);
    const json_t *e = j ? json_object_get(j, "error") : NULL;
    enum hs_err err;
    if (json_is_object(e)) {
        err = stream_error(e, msg, msg_len, retry);
    } else if (json_is_string(e)) {
        const json_t *code = json_object_get(j, "code");
        if (msg && msg_len)
            snprintf(msg, msg_len, "%s", json_string_value(e));
        err = hs_etcd_map_grpc(json_is_integer(code) ? (int)json_integer_value(code) : 2,
                               json_string_value(e), retry);
    } else {
        /* no etcd error body (a proxy, a dying member): go by the status alone */
        *retry = http_status >= 500;
        err = http_status == 404   ? HS_ENOENT
              : http_status == 429 ? HS_ENOSPC
              : http_status >= 500 ? HS_EUNAVAIL
              : http_status >= 400 ? HS_EINVAL
                                   : HS_EPROTO;
    }
    json_decref(j);
    if (http_status == 404 || http_status == 429) {
        err = http_status == 404 ? HS_ENOENT : HS_ENOSPC;
        *retry = false;
    }
    return err;
}
