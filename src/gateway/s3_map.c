/* s3_map.c - how S3 names map onto native objects (docs/s3.md "Mapping"): bucket b, key k is
 * the native object "b/k", so the CLI and /v1 reach S3 objects and the other way round; and
 * which strategy a new S3 object gets (x-amz-storage-class, else the bucket's default). */
#include <string.h>

#include "gateway/s3_api.h"
#include "hs/arena.h"
#include "hs/manifest.h"
#include "hs/banned.h"

enum hs_err hs_s3_native_key(struct hs_arena *a, const char *bucket, const char *key,
                             size_t key_len, const char **out, size_t *out_len)
{
    size_t blen = strlen(bucket);
    if (blen == 0 || key_len == 0)
        return HS_EINVAL;
    size_t n = blen + 1 + key_len;
    char *k = hs_arena_alloc(a, n + 1);
    memcpy(k, bucket, blen);
    k[blen] = '/';
    memcpy(k + blen + 1, key, key_len);
    k[n] = '\0';
    if (!hs_meta_object_key_valid(k, n))
        return HS_EINVAL;
    *out = k;
    *out_len = n;
    return HS_OK;
}

const char *hs_s3_key_of_native(const char *bucket, const char *native)
{
    size_t blen = strlen(bucket);
    if (strncmp(native, bucket, blen) != 0 || native[blen] != '/' || native[blen + 1] == '\0')
        return NULL;
    return native + blen + 1;
}

/* x-amz-storage-class -> strategy; "bucket" = the bucket's default. */
static const struct {
    const char *storage_class;
    int strategy; /* -1 = the bucket's default, 0 = auto */
} classes[] = {
    {"STANDARD", -1},
    {"REDUCED_REDUNDANCY", HS_STRATEGY_REPLICATION},
    {"STANDARD_IA", HS_STRATEGY_EC},
    {"ONEZONE_IA", HS_STRATEGY_EC},
    {"INTELLIGENT_TIERING", 0},
    {"GLACIER_IR", HS_STRATEGY_EC},
    {"GLACIER", HS_STRATEGY_EC},
    {"DEEP_ARCHIVE", HS_STRATEGY_EC},
    /* hybridstore's own names: ask for a strategy directly */
    {"AUTO", 0},
    {"REPLICATION", HS_STRATEGY_REPLICATION},
    {"EC", HS_STRATEGY_EC},
    {"FIELD_HYBRID", HS_STRATEGY_FIELD_HYBRID},
};

enum hs_err hs_s3_strategy_resolve(const char *storage_class,
                                   const struct hs_s3_bucket_record *bucket, enum hs_strategy *out)
{
    int s = -1;
    if (storage_class && *storage_class) {
        size_t i = 0;
        while (i < sizeof classes / sizeof classes[0] &&
               strcmp(classes[i].storage_class, storage_class) != 0)
            i++;
        if (i == sizeof classes / sizeof classes[0])
            return HS_EINVAL;
        s = classes[i].strategy;
    }
    *out = s >= 0 ? (enum hs_strategy)s : bucket ? bucket->strategy : (enum hs_strategy)0;
    return HS_OK;
}

const char *hs_s3_storage_class_of(enum hs_strategy s)
{
    (void)s; /* every strategy is stored durably and read at once: S3's STANDARD */
    return "STANDARD";
}
