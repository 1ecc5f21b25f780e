/* s3_records.c - the values of s3keys/<id> and s3buckets/<name> (tables in s3_records.h):
 * encoded with jansson, decoded strictly (wrong types, broken ids or names, a bad mode or
 * strategy are refused) while unknown members are ignored so newer writers stay readable. No
 * I/O here (s3_store.c does the etcd operations). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "hs/s3_records.h"
#include "hs/banned.h"

#define FORMAT_V 1

static bool chars_in(const char *s, size_t lo, size_t hi, bool (*ok)(char))
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n < lo || n > hi)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!ok(s[i]))
            return false;
    return true;
}

static bool id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool secret_char(char c)
{
    return c > 0x20 && c < 0x7f;
}

static bool bucket_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

bool hs_meta_s3_key_id_valid(const char *id)
{
    return chars_in(id, HS_S3_KEY_ID_MIN, HS_S3_KEY_ID_MAX, id_char);
}

bool hs_meta_s3_secret_valid(const char *secret)
{
    return chars_in(secret, HS_S3_KEY_SECRET_MIN, HS_S3_KEY_SECRET_MAX, secret_char);
}

bool hs_meta_s3_bucket_name_valid(const char *name)
{
    return chars_in(name, 1, HS_S3_BUCKET_MAX, bucket_char);
}

enum hs_err hs_meta_key_s3key(const char *id, char **out)
{
    if (!hs_meta_s3_key_id_valid(id))
        return HS_EINVAL;
    *out = hs_xasprintf("%s%s", HS_META_PREFIX_S3KEYS, id);
    return HS_OK;
}

enum hs_err hs_meta_key_s3bucket(const char *name, char **out)
{
    if (!hs_meta_s3_bucket_name_valid(name))
        return HS_EINVAL;
    *out = hs_xasprintf("%s%s", HS_META_PREFIX_S3BUCKETS, name);
    return HS_OK;
}

const char *hs_s3_strategy_name(enum hs_strategy s)
{
    return s == 0 ? "auto" : hs_strategy_name(s);
}

bool hs_s3_strategy_parse(const char *name, enum hs_strategy *out)
{
    if (name && strcmp(name, "auto") == 0) {
        *out = 0;
        return true;
    }
    return hs_strategy_parse(name, out);
}

static char *dump(json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text)
        HS_BUG("cannot encode an s3 record");
    char *out = hs_xstrdup(text);
    free(text);
    return out;
}

char *hs_s3_key_record_encode(const struct hs_s3_key_record *k)
{
    json_t *o = json_object();
    json_object_set_new(o, "v", json_integer(FORMAT_V));
    json_object_set_new(o, "id", json_string(k->id));
    json_object_set_new(o, "secret", json_string(k->secret));
    if (!k->all_buckets) {
        json_t *a = json_array();
        for (size_t i = 0; i < k->n_buckets; i++)
            json_array_append_new(a, json_string(k->buckets[i]));
        json_object_set_new(o, "buckets", a);
    }
    json_object_set_new(o, "mode", json_string(k->mode == HS_S3_KEY_RO ? "ro" : "rw"));
    json_object_set_new(o, "created_ms", json_integer(k->created_ms));
    if (k->comment)
        json_object_set_new(o, "comment", json_string(k->comment));
    return dump(o);
}

char *hs_s3_bucket_record_encode(const struct hs_s3_bucket_record *b)
{
    json_t *o = json_object();
    json_object_set_new(o, "v", json_integer(FORMAT_V));
    json_object_set_new(o, "name", json_string(b->name));
    json_object_set_new(o, "created_ms", json_integer(b->created_ms));
    json_object_set_new(o, "strategy", json_string(hs_s3_strategy_name(b->strategy)));
    json_object_set_new(o, "public_read", json_boolean(b->public_read));
    if (b->owner)
        json_object_set_new(o, "owner", json_string(b->owner));
    return dump(o);
}

/* Parses value as one JSON object of format version FORMAT_V; NULL otherwise. */
static json_t *load(const void *value, size_t len)
{
    json_t *o = json_loadb(value, len, JSON_REJECT_DUPLICATES, NULL);
    if (!o)
        return NULL;
    json_t *v = json_object_get(o, "v");
    if (!json_is_object(o) || !json_is_integer(v) || json_integer_value(v) != FORMAT_V) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static const char *str_member(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool time_member(json_t *o, const char *name, int64_t *out)
{
    json_t *v = json_object_get(o, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

static bool key_buckets(json_t *o, struct hs_s3_key_record *k)
{
    json_t *a = json_object_get(o, "buckets");
    if (!a) {
        k->all_buckets = true;
        return true;
    }
    if (!json_is_array(a) || json_array_size(a) > HS_S3_KEY_BUCKETS_MAX)
        return false;
    k->n_buckets = json_array_size(a);
    k->buckets = hs_xcalloc(k->n_buckets + 1, sizeof *k->buckets);
    for (size_t i = 0; i < k->n_buckets; i++) {
        json_t *b = json_array_get(a, i);
        if (!json_is_string(b) || !hs_meta_s3_bucket_name_valid(json_string_value(b)))
            return false;
        k->buckets[i] = hs_xstrdup(json_string_value(b));
    }
    return true;
}

enum hs_err hs_s3_key_record_decode(const void *value, size_t len, struct hs_s3_key_record *out)
{
    json_t *o = load(value, len);
    if (!o)
        return HS_EPROTO;
    struct hs_s3_key_record k = {0};
    const char *id = str_member(o, "id"), *secret = str_member(o, "secret");
    const char *mode = str_member(o, "mode");
    json_t *comment = json_object_get(o, "comment");
    bool ok = hs_meta_s3_key_id_valid(id) && hs_meta_s3_secret_valid(secret) && mode &&
              (strcmp(mode, "rw") == 0 || strcmp(mode, "ro") == 0) &&
              time_member(o, "created_ms", &k.created_ms) &&
              (!comment || (json_is_string(comment) &&
                            strlen(json_string_value(comment)) <= HS_S3_COMMENT_MAX)) &&
              key_buckets(o, &k);
    if (ok) {
        k.id = hs_xstrdup(id);
        k.secret = hs_xstrdup(secret);
        k.mode = strcmp(mode, "ro") == 0 ? HS_S3_KEY_RO : HS_S3_KEY_RW;
        k.comment = comment ? hs_xstrdup(json_string_value(comment)) : NULL;
    }
    json_decref(o);
    if (!ok) {
        hs_s3_key_record_release(&k);
        return HS_EPROTO;
    }
    *out = k;
    return HS_OK;
}

enum hs_err hs_s3_bucket_record_decode(const void *value, size_t len,
                                       struct hs_s3_bucket_record *out)
{
    json_t *o = load(value, len);
    if (!o)
        return HS_EPROTO;
    struct hs_s3_bucket_record b = {0};
    const char *name = str_member(o, "name"), *strategy = str_member(o, "strategy");
    json_t *pub = json_object_get(o, "public_read");
    json_t *owner = json_object_get(o, "owner");
    bool ok = hs_meta_s3_bucket_name_valid(name) && time_member(o, "created_ms", &b.created_ms) &&
              hs_s3_strategy_parse(strategy, &b.strategy) && (!pub || json_is_boolean(pub)) &&
              (!owner || json_is_string(owner));
    if (ok) {
        b.name = hs_xstrdup(name);
        b.public_read = pub && json_is_true(pub);
        b.owner = owner ? hs_xstrdup(json_string_value(owner)) : NULL;
        *out = b;
    }
    json_decref(o);
    return ok ? HS_OK : HS_EPROTO;
}

void hs_s3_key_record_release(struct hs_s3_key_record *k)
{
    if (!k)
        return;
    for (size_t i = 0; k->buckets && i < k->n_buckets; i++)
        free(k->buckets[i]);
    free(k->buckets);
    free(k->id);
    free(k->secret);
    free(k->comment);
    *k = (struct hs_s3_key_record){0};
}

void hs_s3_bucket_record_release(struct hs_s3_bucket_record *b)
{
    if (!b)
        return;
    free(b->name);
    free(b->owner);
    *b = (struct hs_s3_bucket_record){0};
}

bool hs_s3_key_allows_bucket(const struct hs_s3_key_record *k, const char *bucket)
{
    if (k->all_buckets)
        return true;
    for (size_t i = 0; i < k->n_buckets; i++)
        if (strcmp(k->buckets[i], bucket) == 0)
            return true;
    return false;
}

static char *dup_or_null(const char *s)
{
    return s ? hs_xstrdup(s) : NULL;
}

void hs_s3_key_record_copy(const struct hs_s3_key_record *in, struct hs_s3_key_record *out)
{
    *out = *in;
    out->id = dup_or_null(in->id);
    out->secret = dup_or_null(in->secret);
    out->comment = dup_or_null(in->comment);
    out->buckets = NULL;
    if (in->buckets) {
        out->buckets = hs_xcalloc(in->n_buckets + 1, sizeof *out->buckets);
        for (size_t i = 0; i < in->n_buckets; i++)
            out->buckets[i] = hs_xstrdup(in->buckets[i]);
    }
}

void hs_s3_bucket_record_copy(const struct hs_s3_bucket_record *in, struct hs_s3_bucket_record *out)
{
    *out = *in;
    out->name = dup_or_null(in->name);
    out->owner = dup_or_null(in->owner);
}
