/* s3_int.h - private to the S3 front end's own files (s3_front.c, s3_cache.c, s3_bucket.c):
 * the front end's state and the key/bucket cache. Object and multipart handlers use s3_api.h
 * only. */
#ifndef HS_GATEWAY_S3_INT_H
#define HS_GATEWAY_S3_INT_H

#include "gateway/s3_api.h"

struct hs_etcd;
struct hs_s3_cache;

struct hs_s3_front {
    struct hs_gw *gw;
    struct hs_s3_cache *cache;
    char *root_domain; /* NULL = path style only */
    size_t root_len;
    char *region;
    struct hs_s3_sigv4_cache *sigv4_cache; /* signing keys per key/date/region */
};

/* s3_cache.c: etcd mirrors of s3keys/ and s3buckets/ (a miss reads etcd). HS_ENOENT absent;
 * out owned by the caller on success. Thread-safe. */
enum hs_err hs_s3_cache_new(struct hs_etcd *etcd, struct hs_s3_cache **out);
void hs_s3_cache_free(struct hs_s3_cache *c);
enum hs_err hs_s3_cache_key(struct hs_s3_cache *c, const char *id, struct hs_s3_key_record *out);
enum hs_err hs_s3_cache_bucket(struct hs_s3_cache *c, const char *name,
                               struct hs_s3_bucket_record *out);
/* This gateway created or deleted bucket name: read it from etcd for a few seconds. */
void hs_s3_cache_bucket_changed(struct hs_s3_cache *c, const char *name);
/* Every bucket in name order, read from etcd (borrowed records, valid during fn). */
typedef void hs_s3_bucket_fn(void *ctx, const struct hs_s3_bucket_record *b);
enum hs_err hs_s3_cache_buckets_each(struct hs_s3_cache *c, hs_s3_bucket_fn *fn, void *ctx);
struct hs_etcd *hs_s3_cache_etcd(struct hs_s3_cache *c);

#endif
