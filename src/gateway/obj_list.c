/* obj_list.c - listing objects: one paged range over meta/<prefix> in etcd, in byte order,
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

/* etcd's range_end for a prefix: the prefix with its last byte incremented (trailing 0xff bytes
 * dropped first). Heap. p always starts with HS_META_PREFIX_META, so it never runs empty. */
static char *prefix_end(const char *p)
{
    char *e = hs_xstrdup(p);
    size_t n = strlen(e);
    while (n > 0 && (unsigned char)e[n - 1] == 0xff)
        n--;
    e[n - 1] = (char)((unsigned char)e[n - 1] + 1);
    e[n] = '\0';
    return e;
}

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
    char *end = prefix_end(from);
    /* strictly after start_after: start there and skip it (etcd keys here are C strings, so
     * "start_after + NUL" cannot be asked for) */
    bool skip_first = start_after && strcmp(start_after, prefix) >= 0;
    if (skip_first && strncmp(start_after, prefix, strlen(prefix)) != 0) {
        /* past every key with the prefix (the keys >= prefix without it sort after them) */
        free(from);
        free(end);
        *truncated_out = false;
        return HS_OK;
    }
    if (skip_first) {
        free(from);
        from = hs_xasprintf("%s%s", HS_META_PREFIX_META, start_after);
    }
    struct hs_etcd_range_req req = {
        .key = from, .range_end = end, .limit = (int64_t)limit + (skip_first ? 2 : 1)};
    struct hs_etcd_kvs kvs = {0};
    enum hs_err err = hs_etcd_range(hs_gw_etcd(gw), &req, &kvs);
    if (err != HS_OK)
        goto out;
    size_t emitted = 0;
    bool truncated = false;
    for (size_t i = 0; i < kvs.n; i++) {
        const char *key = hs_meta_key_strip(kvs.kvs[i].key, HS_META_PREFIX_META);
        if (!key || (skip_first && strcmp(key, start_after) == 0))
            continue;
        if (emitted == limit) {
            truncated = true;
            break;
        }
        if (emit(&kvs.kvs[i], key, fn, ctx))
            emitted++;
    }
    /* etcd stopped at our limit: keys follow (also when invalid manifests were skipped) */
    if (kvs.more)
        truncated = true;
    *truncated_out = truncated;
out:
    hs_etcd_kvs_release(&kvs);
    free(from);
    free(end);
    return err;
}
