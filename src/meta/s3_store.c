/* s3_store.c - the etcd operations on S3 key and bucket records (s3_records.h): create-if-absent
 * transactions, reads, and the bucket delete that refuses a non-empty bucket with one range
 * limited to a single key. Encoding is s3_records.c's. */
#include <stdlib.h>
#include <string.h>

#include "hs/etcd.h"
#include "hs/mem.h"
#include "hs/s3_records.h"
#include "hs/banned.h"

/* Puts value at key only if key does not exist; HS_EEXIST otherwise (the failure branch reads
 * the stored value into *stored when it is not NULL: heap kvs, caller releases). */
static enum hs_err create_if_absent(struct hs_etcd *e, const char *key, const char *value,
                                    struct hs_etcd_kvs *stored)
{
    struct hs_etcd_cmp cmp = {.target = HS_ETCD_CMP_CREATE, .result = HS_ETCD_EQUAL, .key = key};
    struct hs_etcd_op put = {
        .type = HS_ETCD_OP_PUT, .key = key, .value = value, .value_len = strlen(value)};
    struct hs_etcd_op get = {.type = HS_ETCD_OP_RANGE, .key = key};
    struct hs_etcd_txn txn = {.cmps = &cmp,
                              .n_cmps = 1,
                              .success = &put,
                              .n_success = 1,
                              .failure = &get,
                              .n_failure = 1};
    struct hs_etcd_txn_result res = {0};
    enum hs_err err = hs_etcd_txn(e, &txn, &res);
    if (err != HS_OK)
        return err;
    if (!res.succeeded) {
        err = HS_EEXIST;
        if (stored && res.n_ranges == 1) {
            *stored = res.ranges[0];
            res.ranges[0] = (struct hs_etcd_kvs){0};
        }
    }
    hs_etcd_txn_result_release(&res);
    return err;
}

enum hs_err hs_s3_bucket_create(struct hs_etcd *e, const struct hs_s3_bucket_record *b,
                                struct hs_s3_bucket_record *existing)
{
    char *key = NULL;
    enum hs_err err = hs_meta_key_s3bucket(b->name, &key);
    if (err != HS_OK)
        return err;
    char *value = hs_s3_bucket_record_encode(b);
    struct hs_etcd_kvs stored = {0};
    err = create_if_absent(e, key, value, &stored);
    if (err == HS_EEXIST && existing && stored.n == 1 &&
        hs_s3_bucket_record_decode(stored.kvs[0].value, stored.kvs[0].value_len, existing) != HS_OK)
        *existing = (struct hs_s3_bucket_record){0};
    hs_etcd_kvs_release(&stored);
    free(value);
    free(key);
    return err;
}

enum hs_err hs_s3_bucket_get(struct hs_etcd *e, const char *name, struct hs_s3_bucket_record *out,
                             int64_t *mod_revision_out)
{
    char *key = NULL;
    enum hs_err err = hs_meta_key_s3bucket(name, &key);
    if (err != HS_OK)
        return HS_ENOENT; /* no record can exist under a name that breaks the rule */
    struct hs_etcd_kvs kvs = {0};
    err = hs_etcd_get(e, key, &kvs);
    free(key);
    if (err != HS_OK)
        return err;
    if (kvs.n == 0)
        err = HS_ENOENT;
    else
        err = hs_s3_bucket_record_decode(kvs.kvs[0].value, kvs.kvs[0].value_len, out);
    if (err == HS_OK && mod_revision_out)
        *mod_revision_out = kvs.kvs[0].mod_revision;
    hs_etcd_kvs_release(&kvs);
    return err;
}

/* True when at least one manifest exists under meta/<bucket>/ (one key read at most). */
static enum hs_err bucket_has_objects(struct hs_etcd *e, const char *name, bool *out)
{
    char *prefix = hs_xasprintf("%s%s/", HS_META_PREFIX_META, name);
    struct hs_etcd_range_req rq = {.key = prefix, .prefix = true, .limit = 1, .keys_only = true};
    struct hs_etcd_kvs kvs = {0};
    enum hs_err err = hs_etcd_range(e, &rq, &kvs);
    free(prefix);
    if (err != HS_OK)
        return err;
    *out = kvs.n > 0;
    hs_etcd_kvs_release(&kvs);
    return HS_OK;
}

enum hs_err hs_s3_bucket_delete(struct hs_etcd *e, const char *name)
{
    struct hs_s3_bucket_record b = {0};
    int64_t mod = 0;
    enum hs_err err = hs_s3_bucket_get(e, name, &b, &mod);
    hs_s3_bucket_record_release(&b);
    if (err != HS_OK)
        return err;
    bool busy = false;
    err = bucket_has_objects(e, name, &busy);
    if (err != HS_OK)
        return err;
    if (busy)
        return HS_ECONFLICT;
    char *key = NULL;
    err = hs_meta_key_s3bucket(name, &key);
    if (err != HS_OK)
        return err;
    struct hs_etcd_cmp cmp = {
        .target = HS_ETCD_CMP_MOD, .result = HS_ETCD_EQUAL, .key = key, .number = mod};
    struct hs_etcd_op del = {.type = HS_ETCD_OP_DELETE, .key = key};
    struct hs_etcd_txn txn = {.cmps = &cmp, .n_cmps = 1, .success = &del, .n_success = 1};
    struct hs_etcd_txn_result res = {0};
    err = hs_etcd_txn(e, &txn, &res);
    if (err == HS_OK && !res.succeeded)
        err = HS_ECONFLICT;
    hs_etcd_txn_result_release(&res);
    free(key);
    return err;
}

enum hs_err hs_s3_key_create(struct hs_etcd *e, const struct hs_s3_key_record *k)
{
    char *key = NULL;
    enum hs_err err = hs_meta_key_s3key(k->id, &key);
    if (err != HS_OK)
        return err;
    char *value = hs_s3_key_record_encode(k);
    err = create_if_absent(e, key, value, NULL);
    free(value);
    free(key);
    return err;
}

enum hs_err hs_s3_key_delete(struct hs_etcd *e, const char *id)
{
    char *key = NULL;
    if (hs_meta_key_s3key(id, &key) != HS_OK)
        return HS_ENOENT;
    int64_t deleted = 0;
    enum hs_err err = hs_etcd_delete(e, key, false, &deleted);
    free(key);
    if (err == HS_OK && deleted == 0)
        err = HS_ENOENT;
    return err;
}

enum hs_err hs_s3_key_get(struct hs_etcd *e, const char *id, struct hs_s3_key_record *out)
{
    char *key = NULL;
    if (hs_meta_key_s3key(id, &key) != HS_OK)
        return HS_ENOENT;
    struct hs_etcd_kvs kvs = {0};
    enum hs_err err = hs_etcd_get(e, key, &kvs);
    free(key);
    if (err != HS_OK)
        return err;
    err = kvs.n == 0 ? HS_ENOENT
                     : hs_s3_key_record_decode(kvs.kvs[0].value, kvs.kvs[0].value_len, out);
    hs_etcd_kvs_release(&kvs);
    return err;
}
