/* obj_list.c - listing objects: a bounded paged scan over meta/<prefix> in etcd, in byte order,
 * strictly after a start key. Each manifest is parsed only for the few top-level fields a
 * listing shows (jansson, no validation of its parts: the reader validates what it reads). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway/gateway.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define LIST_MAX 10000 /* entries per call; front ends cap lower */

static int64_t int_field(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static const char *str_field(json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s ? s : "";
}

/* Calls fn for one listed manifest; false when the value is not a manifest (skipped). */
static bool emit(const struct hs_etcd_kv *kv, const char *key, hs_obj_list_fn *fn, void *ctx)
{
    json_error_t jerr;
    json_t *o = json_loadb((const char *)kv->value, kv->value_len, 0, &jerr);
    if (!json_is_object(o)) {
        HS_LOG_WARN("manifest_invalid", "obj='%s' why='%s'", key, jerr.text);
        json_decref(o);
        return false;
    }
    struct hs_obj_list_entry e = {.key = key,
                                  .size_bytes = int_field(o, "size"),
                                  .version = int_field(o, "ver"),
                                  .created_ms = int_field(o, "ctime_ms"),
                                  .etag = str_field(o, "etag"),
                                  .content_type = str_field(o, "ctype")};
    if (!hs_strategy_parse(str_field(o, "strategy"), &e.strategy))
        e.strategy = 0;
    fn(ctx, &e);
    json_decref(o);
    return true;
}

struct list_walk {
    hs_obj_list_fn *fn;
    void *ctx;
    size_t limit;
    size_t emitted;
    bool truncated;
};

static bool list_one(void *ctx, const struct hs_etcd_kv *kv)
{
    struct list_walk *w = ctx;
    const char *key = hs_meta_key_strip(kv->key, HS_META_PREFIX_META);
    if (!key)
        return true;
    if (w->emitted == w->limit) {
        w->truncated = true; /* one more key follows: stop here */
        return false;
    }
    if (emit(kv, key, w->fn, w->ctx))
        w->emitted++;
    return true;
}

enum hs_err hs_obj_list(struct hs_gw *gw, const char *prefix, const char *start_after, size_t limit,
                        hs_obj_list_fn *fn, void *ctx, bool *truncated_out)
{
    if (!prefix)
        prefix = "";
    if (start_after && !*start_after)
        start_after = NULL;
    if (limit == 0 || limit > LIST_MAX)
        limit = LIST_MAX;
    char *from = hs_xasprintf("%s%s", HS_META_PREFIX_META, prefix);
    char *after = start_after ? hs_xasprintf("%s%s", HS_META_PREFIX_META, start_after) : NULL;
    /* Bounded pages (hs_etcd_range_scan): etcd walks only about the keys it returns, not every
     * key up to the prefix end, so a listing page costs O(limit) however big the store. The
     * scan starts strictly after start_after and stops at the first key past the limit. */
    struct list_walk w = {.fn = fn, .ctx = ctx, .limit = limit};
    struct hs_etcd_scan scan = {
        .prefix = from, .after = after, .page_size = (int64_t)HS_MIN(limit + 1, (size_t)1000)};
    enum hs_err err = hs_etcd_range_scan(hs_gw_etcd(gw), &scan, list_one, &w, NULL);
    if (err == HS_OK)
        *truncated_out = w.truncated;
    free(after);
    free(from);
    return err;
}
