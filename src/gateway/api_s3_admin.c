/* api_s3_admin.c - the native API's admin routes for S3 access keys and buckets (cluster
 * secret, like /v1/admin/config): what `hybridstore key ...` and `hybridstore bucket ...` call.
 *   POST   /v1/admin/s3/keys           {"buckets":[..],"read_only":bool,"comment":".."} -> 201
 *                                      the new key WITH its secret (the only time it is shown)
 *   GET    /v1/admin/s3/keys           {"keys":[{access_key, buckets, mode, created_ms,
 *                                      comment}]} (no secrets)
 *   DELETE /v1/admin/s3/keys/<id>      204; 404 unknown
 *   POST   /v1/admin/s3/buckets        {"name":..,"strategy":..,"public_read":bool} -> 201;
 *                                      409 EEXIST when it exists; 400 bad name or strategy
 *   GET    /v1/admin/s3/buckets        {"buckets":[{name, created_ms, strategy, public_read}]}
 *   DELETE /v1/admin/s3/buckets/<name> 204; 404 unknown; 409 ECONFLICT when not empty
 * The records and their etcd operations are meta's (s3_records.h). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway/api.h"
#include "gateway/api_common.h"
#include "gateway/gateway.h"
#include "gateway/s3_int.h"
#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/s3_util.h"
#include "hs/banned.h"

#define ADMIN_BODY_MAX ((size_t)64 * 1024)

struct admin_body {
    struct hs_buf buf;
};

static void admin_body_release(void *p)
{
    hs_buf_release(&((struct admin_body *)p)->buf);
}

void hs_gw_s3_admin_start(struct hs_http_req *r)
{
    struct hs_arena *a = hs_http_req_arena(r);
    struct admin_body *b = hs_arena_alloc(a, sizeof *b);
    hs_buf_init(&b->buf, ADMIN_BODY_MAX);
    hs_arena_defer(a, admin_body_release, b);
    hs_http_req_set_ctx(r, b);
}

enum hs_err hs_gw_s3_admin_body(struct hs_http_req *r, const void *data, size_t n)
{
    struct admin_body *b = hs_http_req_ctx(r);
    return hs_buf_append(&b->buf, data, n);
}

/* The request's JSON object ({} for an empty body), or NULL after answering 400. */
static json_t *admin_json(struct hs_http_req *r)
{
    struct admin_body *b = hs_http_req_ctx(r);
    json_t *j =
        b->buf.len ? json_loadb((const char *)b->buf.data, b->buf.len, 0, NULL) : json_object();
    if (!json_is_object(j)) {
        json_decref(j);
        hs_gw_respond_err(r, HS_EINVAL, "the body must be a JSON object");
        return NULL;
    }
    return j;
}

static void respond_json_obj(struct hs_http_req *r, unsigned status, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_append(&b, text, strlen(text));
    free(text);
    hs_gw_respond_json(r, status, &b);
}

static struct hs_etcd *etcd_of(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    return hs_gw_etcd(srv->gw);
}

static struct hs_s3_front *front_of(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    return srv->s3;
}

/* ---- keys ---- */

static json_t *key_json(const struct hs_s3_key_record *k, bool with_secret)
{
    json_t *o = json_object();
    json_object_set_new(o, "access_key", json_string(k->id));
    if (with_secret)
        json_object_set_new(o, "secret_key", json_string(k->secret));
    if (!k->all_buckets) {
        json_t *a = json_array();
        for (size_t i = 0; i < k->n_buckets; i++)
            json_array_append_new(a, json_string(k->buckets[i]));
        json_object_set_new(o, "buckets", a);
    }
    json_object_set_new(o, "mode",
                        json_string(k->mode == HS_S3_KEY_RO ? "read-only" : "read-write"));
    json_object_set_new(o, "created_ms", json_integer(k->created_ms));
    if (k->comment)
        json_object_set_new(o, "comment", json_string(k->comment));
    return o;
}

/* Fills k's buckets from a JSON array of bucket names; false (answered) on a bad one. */
static bool key_buckets(struct hs_http_req *r, json_t *a, struct hs_s3_key_record *k, char **names)
{
    if (!a || json_is_null(a)) {
        k->all_buckets = true;
        return true;
    }
    if (!json_is_array(a) || json_array_size(a) == 0 ||
        json_array_size(a) > HS_S3_KEY_BUCKETS_MAX) {
        hs_gw_respond_err(r, HS_EINVAL, "buckets must be a list of 1..100 bucket names");
        return false;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *n = json_string_value(json_array_get(a, i));
        if (!n || !hs_s3_bucket_name_valid(n)) {
            hs_gw_respond_err(r, HS_EINVAL, "not a valid bucket name in buckets");
            return false;
        }
        names[i] = (char *)n;
    }
    k->buckets = names;
    k->n_buckets = json_array_size(a);
    return true;
}

void hs_gw_s3_admin_key_create_done(struct hs_http_req *r)
{
    json_t *j = admin_json(r);
    if (!j)
        return;
    char id[HS_S3_ACCESS_KEY_LEN + 1], secret[HS_S3_SECRET_LEN + 1];
    char *names[HS_S3_KEY_BUCKETS_MAX];
    json_t *ro = json_object_get(j, "read_only"), *comment = json_object_get(j, "comment");
    struct hs_s3_key_record k = {.id = id,
                                 .secret = secret,
                                 .mode = json_is_true(ro) ? HS_S3_KEY_RO : HS_S3_KEY_RW,
                                 .created_ms = hs_clock_wall_ms(),
                                 .comment = (char *)json_string_value(comment)};
    if ((ro && !json_is_boolean(ro)) || (comment && !json_is_string(comment)) ||
        (k.comment && strlen(k.comment) > HS_S3_COMMENT_MAX)) {
        hs_gw_respond_err(r, HS_EINVAL,
                          "read_only must be a boolean, comment a string of at "
                          "most 256 bytes");
        goto out;
    }
    if (!key_buckets(r, json_object_get(j, "buckets"), &k, names))
        goto out;
    enum hs_err err = hs_s3_keys_generate(id, secret);
    if (err == HS_OK)
        err = hs_s3_key_create(etcd_of(r), &k);
    if (err != HS_OK) {
        hs_gw_respond_err(r, err == HS_EEXIST ? HS_EUNAVAIL : err, "cannot store the key");
        goto out;
    }
    HS_LOG_INFO("s3_key_created", "req=%s key=%s mode=%s", hs_http_req_id(r), id,
                k.mode == HS_S3_KEY_RO ? "ro" : "rw");
    respond_json_obj(r, 201, key_json(&k, true));
out:
    json_decref(j);
}

static bool key_list_one(void *ctx, const struct hs_etcd_kv *kv)
{
    struct hs_s3_key_record k = {0};
    if (hs_s3_key_record_decode(kv->value, kv->value_len, &k) == HS_OK) {
        json_array_append_new(ctx, key_json(&k, false));
        hs_s3_key_record_release(&k);
    }
    return true;
}

void hs_gw_s3_admin_key_list_done(struct hs_http_req *r)
{
    json_t *a = json_array();
    enum hs_err err = hs_etcd_range_prefix_each(etcd_of(r), HS_META_PREFIX_S3KEYS, 0, false,
                                                key_list_one, a, NULL);
    if (err != HS_OK) {
        json_decref(a);
        hs_gw_respond_err(r, err, "cannot list keys");
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "keys", a);
    respond_json_obj(r, 200, o);
}

void hs_gw_s3_admin_key_delete_done(struct hs_http_req *r)
{
    const char *id = hs_http_req_rest(r);
    enum hs_err err = hs_s3_key_delete(etcd_of(r), id);
    if (err != HS_OK) {
        hs_gw_respond_err(r, err, err == HS_ENOENT ? "no such access key" : "");
        return;
    }
    if (front_of(r))
        hs_s3_sigv4_cache_forget(front_of(r)->sigv4_cache, id);
    HS_LOG_INFO("s3_key_deleted", "req=%s key=%s", hs_http_req_id(r), id);
    hs_http_respond_buf(r, 204, NULL, NULL, 0);
}

/* ---- buckets ---- */

static json_t *bucket_json(const struct hs_s3_bucket_record *b)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(b->name));
    json_object_set_new(o, "created_ms", json_integer(b->created_ms));
    json_object_set_new(o, "strategy", json_string(hs_s3_strategy_name(b->strategy)));
    json_object_set_new(o, "public_read", json_boolean(b->public_read));
    return o;
}

void hs_gw_s3_admin_bucket_create_done(struct hs_http_req *r)
{
    json_t *j = admin_json(r);
    if (!j)
        return;
    const char *name = json_string_value(json_object_get(j, "name"));
    json_t *st = json_object_get(j, "strategy"), *pub = json_object_get(j, "public_read");
    struct hs_s3_bucket_record b = {
        .name = (char *)name, .created_ms = hs_clock_wall_ms(), .public_read = json_is_true(pub)};
    if (!name || !hs_s3_bucket_name_valid(name)) {
        hs_gw_respond_err(r, HS_EINVAL,
                          "name must be a valid S3 bucket name (3..63 chars of "
                          "a-z 0-9 . -)");
        goto out;
    }
    if ((st && !hs_s3_strategy_parse(json_string_value(st), &b.strategy)) ||
        (pub && !json_is_boolean(pub))) {
        hs_gw_respond_err(r, HS_EINVAL,
                          "strategy must be auto, replication, ec or "
                          "field_hybrid; public_read a boolean");
        goto out;
    }
    enum hs_err err = hs_s3_bucket_create(etcd_of(r), &b, NULL);
    if (err != HS_OK) {
        hs_gw_respond_err(r, err, err == HS_EEXIST ? "the bucket exists" : "");
        goto out;
    }
    if (front_of(r))
        hs_s3_cache_bucket_changed(front_of(r)->cache, name);
    HS_LOG_INFO("s3_bucket_created", "req=%s bucket=%s strategy=%s public_read=%d",
                hs_http_req_id(r), name, hs_s3_strategy_name(b.strategy), (int)b.public_read);
    respond_json_obj(r, 201, bucket_json(&b));
out:
    json_decref(j);
}

static bool bucket_list_one(void *ctx, const struct hs_etcd_kv *kv)
{
    struct hs_s3_bucket_record b = {0};
    if (hs_s3_bucket_record_decode(kv->value, kv->value_len, &b) == HS_OK) {
        json_array_append_new(ctx, bucket_json(&b));
        hs_s3_bucket_record_release(&b);
    }
    return true;
}

void hs_gw_s3_admin_bucket_list_done(struct hs_http_req *r)
{
    json_t *a = json_array();
    enum hs_err err = hs_etcd_range_prefix_each(etcd_of(r), HS_META_PREFIX_S3BUCKETS, 0, false,
                                                bucket_list_one, a, NULL);
    if (err != HS_OK) {
        json_decref(a);
        hs_gw_respond_err(r, err, "cannot list buckets");
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "buckets", a);
    respond_json_obj(r, 200, o);
}

void hs_gw_s3_admin_bucket_delete_done(struct hs_http_req *r)
{
    const char *name = hs_http_req_rest(r);
    enum hs_err err = hs_s3_bucket_delete(etcd_of(r), name);
    if (err != HS_OK) {
        hs_gw_respond_err(r, err,
                          err == HS_ENOENT      ? "no such bucket"
                          : err == HS_ECONFLICT ? "the bucket is not empty (BucketNotEmpty)"
                                                : "");
        return;
    }
    if (front_of(r))
        hs_s3_cache_bucket_changed(front_of(r)->cache, name);
    HS_LOG_INFO("s3_bucket_deleted", "req=%s bucket=%s", hs_http_req_id(r), name);
    hs_http_respond_buf(r, 204, NULL, NULL, 0);
}
