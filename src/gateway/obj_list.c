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

/* ---- delimited listings ---- */

struct dir_walk {
    const struct hs_obj_list_req *req;
    size_t prefix_len, delim_len;
    hs_obj_list_dir_fn *fn;
    void *ctx;
    size_t emitted;
    bool truncated;
    char *jump; /* heap: the scan stopped to resume strictly after this object key */
};

/* Counts one row; false (truncated) when the limit was already reached. */
static bool dir_room(struct dir_walk *w)
{
    if (w->emitted == w->req->limit) {
        w->truncated = true;
        return false;
    }
    w->emitted++;
    return true;
}

static void dir_emit_entry(void *ctx, const struct hs_obj_list_entry *e)
{
    struct dir_walk *w = ctx;
    w->fn(w->ctx, e, NULL);
}

static bool dir_one(void *ctx, const struct hs_etcd_kv *kv)
{
    struct dir_walk *w = ctx;
    const char *key = hs_meta_key_strip(kv->key, HS_META_PREFIX_META);
    if (!key)
        return true;
    const char *d = w->delim_len ? strstr(key + w->prefix_len, w->req->delimiter) : NULL;
    if (!d) {
        if (!dir_room(w))
            return false;
        if (!emit(kv, key, dir_emit_entry, w))
            w->emitted--; /* not a manifest: skipped */
        return true;
    }
    size_t cp_len = (size_t)(d - key) + w->delim_len;
    char *cp = hs_xstrndup(key, cp_len);
    const char *after = w->req->start_after;
    bool report = !after || strcmp(cp, after) > 0;
    if (report && !dir_room(w)) {
        free(cp);
        return false;
    }
    if (report)
        w->fn(w->ctx, NULL, cp);
    /* 0xff never occurs in UTF-8, so "<cp>\xff" sorts after every key under cp */
    w->jump = hs_xasprintf("%s\xff", cp);
    free(cp);
    return false;
}

enum hs_err hs_obj_list_dir(struct hs_gw *gw, const struct hs_obj_list_req *req,
                            hs_obj_list_dir_fn *fn, void *ctx, bool *truncated_out)
{
    struct hs_obj_list_req r = *req;
    if (!r.prefix)
        r.prefix = "";
    if (r.start_after && !*r.start_after)
        r.start_after = NULL;
    if (r.delimiter && !*r.delimiter)
        r.delimiter = NULL;
    if (r.limit == 0 || r.limit > LIST_MAX)
        r.limit = LIST_MAX;
    struct dir_walk w = {.req = &r,
                         .prefix_len = strlen(r.prefix),
                         .delim_len = r.delimiter ? strlen(r.delimiter) : 0,
                         .fn = fn,
                         .ctx = ctx};
    char *from = hs_xasprintf("%s%s", HS_META_PREFIX_META, r.prefix);
    char *after = r.start_after ? hs_xasprintf("%s%s", HS_META_PREFIX_META, r.start_after) : NULL;
    struct hs_etcd_pace pace = {0}; /* kept across the restarts: same prefix */
    enum hs_err err = HS_OK;
    for (;;) {
        /* with a delimiter a page may end at its first key (a common prefix): keep pages small */
        size_t want = r.limit - w.emitted + 1;
        int64_t page = (int64_t)HS_MIN(want, (size_t)(w.delim_len ? 64 : 1000));
        struct hs_etcd_scan scan = {
            .prefix = from, .after = after, .page_size = page, .pace = &pace};
        err = hs_etcd_range_scan(hs_gw_etcd(gw), &scan, dir_one, &w, NULL);
        if (err != HS_OK || !w.jump || w.truncated)
            break;
        free(after);
        after = hs_xasprintf("%s%s", HS_META_PREFIX_META, w.jump);
        free(w.jump);
        w.jump = NULL;
    }
    if (err == HS_OK)
        *truncated_out = w.truncated;
    free(w.jump);
    free(after);
    free(from);
    return err;
}
