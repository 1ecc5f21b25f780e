/* s3_cache.c - the S3 front end's view of access keys and buckets: two etcd prefix mirrors
 * (hs_view: a range, then a watch), so a lookup costs no etcd round trip. A miss falls back to
 * one etcd read, so a key or bucket created a moment ago on another gateway (or by the CLI)
 * works at once; a removed key or bucket vanishes from the mirror as soon as the watch event
 * arrives (milliseconds; if the watch is broken, the view re-lists within its retry period).
 * A bucket this gateway itself created or deleted is read from etcd for a couple of seconds
 * after (read-your-writes on one gateway: the watch event may not be in yet). ListBuckets
 * always reads etcd. Records are decoded per lookup (small JSON) into the caller's copy. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway.h"
#include "gateway/s3_int.h"
#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/view.h"
#include "hs/banned.h"

#define DIRTY_SLOTS 32
#define DIRTY_MS    3000 /* well over a watch event's delay */

struct hs_s3_cache {
    struct hs_etcd *etcd;
    struct hs_view *keys;
    struct hs_view *buckets;
    pthread_mutex_t lock; /* guards dirty[] */
    struct {
        char name[HS_S3_BUCKET_MAX + 1];
        int64_t until_ms; /* monotonic; 0 = free slot */
    } dirty[DIRTY_SLOTS]; /* buckets changed here lately: read from etcd */
};

void hs_s3_cache_bucket_changed(struct hs_s3_cache *c, const char *name)
{
    int64_t now = hs_clock_mono_ms();
    pthread_mutex_lock(&c->lock);
    size_t pick = 0;
    for (size_t i = 0; i < DIRTY_SLOTS; i++) {
        if (strcmp(c->dirty[i].name, name) == 0) {
            pick = i;
            break;
        }
        if (c->dirty[i].until_ms < c->dirty[pick].until_ms)
            pick = i; /* the oldest (or a free one) */
    }
    snprintf(c->dirty[pick].name, sizeof c->dirty[pick].name, "%s", name);
    c->dirty[pick].until_ms = now + DIRTY_MS;
    pthread_mutex_unlock(&c->lock);
}

static bool bucket_dirty(struct hs_s3_cache *c, const char *name)
{
    int64_t now = hs_clock_mono_ms();
    bool dirty = false;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < DIRTY_SLOTS && !dirty; i++)
        dirty = c->dirty[i].until_ms > now && strcmp(c->dirty[i].name, name) == 0;
    pthread_mutex_unlock(&c->lock);
    return dirty;
}

enum hs_err hs_s3_cache_new(struct hs_etcd *etcd, struct hs_s3_cache **out)
{
    struct hs_s3_cache *c = hs_xcalloc(1, sizeof *c);
    c->etcd = etcd;
    pthread_mutex_init(&c->lock, NULL);
    enum hs_err err = hs_view_start(etcd, HS_META_PREFIX_S3KEYS, NULL, NULL, &c->keys);
    if (err == HS_OK)
        err = hs_view_start(etcd, HS_META_PREFIX_S3BUCKETS, NULL, NULL, &c->buckets);
    if (err != HS_OK) {
        hs_s3_cache_free(c);
        return err;
    }
    *out = c;
    return HS_OK;
}

void hs_s3_cache_free(struct hs_s3_cache *c)
{
    if (!c)
        return;
    hs_view_stop(c->keys);
    hs_view_stop(c->buckets);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

enum hs_err hs_s3_cache_key(struct hs_s3_cache *c, const char *id, struct hs_s3_key_record *out)
{
    if (!hs_meta_s3_key_id_valid(id))
        return HS_ENOENT;
    enum hs_err err = HS_ENOENT;
    const struct hs_view_snapshot *s = hs_view_get(c->keys);
    const struct hs_view_entry *e = hs_view_find(s, id);
    if (e)
        err = hs_s3_key_record_decode(e->value, e->value_len, out);
    hs_view_put(c->keys, s);
    if (e && err != HS_OK)
        HS_LOG_WARN("s3_key_record_bad", "key=%s", id);
    if (e)
        return err == HS_OK ? HS_OK : HS_ENOENT;
    return hs_s3_key_get(c->etcd, id, out); /* created a moment ago, or the view lags */
}

enum hs_err hs_s3_cache_bucket(struct hs_s3_cache *c, const char *name,
                               struct hs_s3_bucket_record *out)
{
    if (!hs_meta_s3_bucket_name_valid(name))
        return HS_ENOENT;
    if (bucket_dirty(c, name))
        return hs_s3_bucket_get(c->etcd, name, out, NULL);
    enum hs_err err = HS_ENOENT;
    const struct hs_view_snapshot *s = hs_view_get(c->buckets);
    const struct hs_view_entry *e = hs_view_find(s, name);
    if (e)
        err = hs_s3_bucket_record_decode(e->value, e->value_len, out);
    hs_view_put(c->buckets, s);
    if (e && err != HS_OK)
        HS_LOG_WARN("s3_bucket_record_bad", "bucket=%s", name);
    if (e)
        return err == HS_OK ? HS_OK : HS_ENOENT;
    return hs_s3_bucket_get(c->etcd, name, out, NULL);
}

struct each_ctx {
    hs_s3_bucket_fn *fn;
    void *ctx;
};

static bool each_kv(void *ctx, const struct hs_etcd_kv *kv)
{
    struct each_ctx *ec = ctx;
    struct hs_s3_bucket_record b = {0};
    if (hs_s3_bucket_record_decode(kv->value, kv->value_len, &b) != HS_OK)
        return true;
    ec->fn(ec->ctx, &b);
    hs_s3_bucket_record_release(&b);
    return true;
}

enum hs_err hs_s3_cache_buckets_each(struct hs_s3_cache *c, hs_s3_bucket_fn *fn, void *ctx)
{
    struct each_ctx ec = {fn, ctx};
    return hs_etcd_range_prefix_each(c->etcd, HS_META_PREFIX_S3BUCKETS, 0, false, each_kv, &ec,
                                     NULL);
}

struct hs_etcd *hs_s3_cache_etcd(struct hs_s3_cache *c)
{
    return c->etcd;
}
