/* field_stats_json.c - the snapshot JSON of field_stats.h (table there): encode with jansson,
 * decode strictly (every limit checked, duplicates and unknown members refused) because the
 * healer reads snapshots from every gateway and must not trust one blindly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hs/field_stats.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "meta/field_stats_int.h"
#include "meta/manifest_int.h"
#include "hs/banned.h"

static bool boot_valid(const char *b)
{
    size_t n = strlen(b);
    if (n == 0 || n > HS_FSTAT_BOOT_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static json_t *jint(uint64_t v)
{
    return json_integer((json_int_t)(v > HS_FSTAT_COUNT_MAX ? HS_FSTAT_COUNT_MAX : v));
}

static json_t *set_json(const struct hs_fstat_set *t)
{
    json_t *names = json_array();
    for (uint32_t i = 0; i < t->n_names; i++)
        json_array_append_new(names, hs_mj_string(t->names[i]));
    json_t *a = json_array();
    json_array_append_new(a, names);
    json_array_append_new(a, jint(t->count));
    json_array_append_new(a, jint(t->err));
    json_array_append_new(a, json_integer(t->more ? 1 : 0));
    return a;
}

static json_t *sets_json(const struct hs_fstat_set *sets, uint32_t n)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < n; i++)
        json_array_append_new(a, set_json(&sets[i]));
    return a;
}

static json_t *coll_json(const struct hs_fstat_coll *c)
{
    json_t *o = json_object();
    hs_mj_set(o, "c", hs_mj_string(c->name));
    hs_mj_set(o, "n", jint(c->count));
    hs_mj_set(o, "e", jint(c->err));
    hs_mj_set(o, "w", jint(c->writes));
    hs_mj_set(o, "p", jint(c->puts));
    hs_mj_set(o, "k", jint(c->known));
    hs_mj_set(o, "fr", jint(c->full_reads));
    hs_mj_set(o, "pr", jint(c->proj_reads));
    hs_mj_set(o, "u", jint(c->untracked));
    json_t *f = json_array();
    for (uint32_t i = 0; i < c->n_fields; i++) {
        const struct hs_fstat_field *x = &c->fields[i];
        json_t *a = json_array();
        json_array_append_new(a, hs_mj_string(x->name));
        json_array_append_new(a, jint(x->count));
        json_array_append_new(a, jint(x->err));
        json_array_append_new(a, jint(x->present));
        json_array_append_new(a, jint(x->changed));
        json_array_append_new(a, jint(x->bytes));
        json_array_append_new(f, a);
    }
    hs_mj_set(o, "f", f);
    hs_mj_set(o, "cs", sets_json(c->csets, c->n_csets));
    hs_mj_set(o, "rs", sets_json(c->rsets, c->n_rsets));
    const struct hs_fstat_totals *t = &c->tot;
    const uint64_t tv[] = {t->writes,         t->pure_hot,    t->cold,      t->hot_bytes,
                           t->cold_bytes,     t->proj_hot,    t->proj_full, t->predicted_bytes,
                           t->measured_bytes, t->layout_epoch};
    json_t *ta = json_array();
    for (size_t i = 0; i < sizeof tv / sizeof tv[0]; i++)
        json_array_append_new(ta, jint(tv[i]));
    hs_mj_set(o, "t", ta);
    hs_mj_set(o, "sw", jint(c->since_writes));
    if (c->paced)
        hs_mj_set(o, "h", jint(c->epoch));
    return o;
}

enum hs_err hs_field_stats_encode(struct hs_field_stats *s, const struct hs_fstat_info *info,
                                  char **out, size_t *out_len)
{
    if (memchr(info->gw, '\0', sizeof info->gw) == NULL ||
        (info->gw[0] && !hs_meta_node_id_valid(info->gw)) ||
        memchr(info->boot, '\0', sizeof info->boot) == NULL || !boot_valid(info->boot) ||
        info->ms < 0 || info->seq > HS_FSTAT_COUNT_MAX)
        return HS_EINVAL;
    hs_field_stats_sort(s);
    json_t *root = json_object();
    hs_mj_set(root, "v", json_integer(HS_FSTAT_VERSION));
    hs_mj_set(root, "gw", hs_mj_string(info->gw));
    hs_mj_set(root, "boot", hs_mj_string(info->boot));
    hs_mj_set(root, "seq", jint(info->seq));
    hs_mj_set(root, "ms", json_integer(info->ms));
    json_t *lim = json_array();
    json_array_append_new(lim, json_integer(s->limits.collections));
    json_array_append_new(lim, json_integer(s->limits.fields));
    json_array_append_new(lim, json_integer(s->limits.sets));
    json_array_append_new(lim, json_integer(s->limits.halve_every));
    hs_mj_set(root, "limits", lim);
    json_t *colls = json_array();
    for (uint32_t i = 0; i < s->n_colls; i++)
        json_array_append_new(colls, coll_json(&s->colls[i]));
    hs_mj_set(root, "colls", colls);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        HS_BUG("cannot encode a field-stats snapshot");
    size_t n = strlen(text);
    if (n > HS_FSTAT_JSON_MAX) {
        free(text);
        return HS_ETOOBIG;
    }
    *out = text;
    *out_len = n;
    return HS_OK;
}

/* ---- decode --------------------------------------------------------------------------------- */

struct dec {
    char *why;
    size_t why_len;
};

static bool count_of(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v))
        return false;
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x > HS_FSTAT_COUNT_MAX)
        return false;
    *out = (uint64_t)x;
    return true;
}

static bool member_count(struct dec *d, const json_t *o, const char *name, const char *path,
                         uint64_t *out)
{
    if (!count_of(json_object_get(o, name), out)) {
        hs_meta_why(d->why, d->why_len, "%s.%s: want an integer 0..2^53-1", path, name);
        return false;
    }
    return true;
}

/* A string without NUL of 0..max bytes; NULL otherwise. */
static const char *str_of(const json_t *v, size_t max)
{
    const char *s = json_string_value(v);
    if (!s || strlen(s) != json_string_length(v) || json_string_length(v) > max)
        return NULL;
    return s;
}

static bool decode_set(struct dec *d, const json_t *a, const char *path, struct hs_fstat_set *t)
{
    const json_t *names = json_array_get(a, 0);
    uint64_t more = 0;
    if (!json_is_array(a) || json_array_size(a) != 4 || !json_is_array(names) ||
        !count_of(json_array_get(a, 1), &t->count) || !count_of(json_array_get(a, 2), &t->err) ||
        !count_of(json_array_get(a, 3), &more) || more > 1 || t->err > t->count || t->count == 0) {
        hs_meta_why(d->why, d->why_len, "%s: want [[names], count >= 1, err <= count, more 0|1]",
                    path);
        return false;
    }
    size_t n = json_array_size(names), bytes = 0;
    if (n > HS_FSTAT_SET_NAMES_MAX) {
        hs_meta_why(d->why, d->why_len, "%s: more than %d names", path, HS_FSTAT_SET_NAMES_MAX);
        return false;
    }
    t->more = more == 1;
    t->names = hs_xcalloc(n ? n : 1, sizeof *t->names);
    for (size_t i = 0; i < n; i++) {
        const char *s = str_of(json_array_get(names, i), HS_FSTAT_NAME_MAX);
        if (!s || (i > 0 && strcmp(t->names[i - 1], s) >= 0)) {
            hs_meta_why(d->why, d->why_len,
                        "%s[0][%zu]: want a name of <= %d bytes without NUL, sorted, distinct",
                        path, i, HS_FSTAT_NAME_MAX);
            return false;
        }
        bytes += strlen(s);
        t->names[i] = hs_xstrdup(s);
        t->n_names++;
    }
    if (bytes > HS_FSTAT_SET_BYTES_MAX) {
        hs_meta_why(d->why, d->why_len, "%s: names over %d bytes", path, HS_FSTAT_SET_BYTES_MAX);
        return false;
    }
    t->hash_ = hs_fstat_set_hash(t);
    return true;
}

static bool decode_sets(struct dec *d, const json_t *a, const char *path, uint32_t cap,
                        struct hs_fstat_set *sets, uint32_t *n)
{
    if (!json_is_array(a) || json_array_size(a) > cap) {
        hs_meta_why(d->why, d->why_len, "%s: want an array of at most %u sets", path, cap);
        return false;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        char p[64];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        struct hs_fstat_set *t = &sets[*n];
        (*n)++; /* owned by the collection from here, released with it on failure */
        if (!decode_set(d, json_array_get(a, i), p, t))
            return false;
        for (uint32_t j = 0; j + 1 < *n; j++) {
            if (hs_fstat_set_equal(&sets[j], t)) {
                hs_meta_why(d->why, d->why_len, "%s: duplicate set", p);
                return false;
            }
        }
    }
    return true;
}

static bool decode_fields(struct dec *d, const json_t *a, const char *path, uint32_t cap,
                          struct hs_fstat_coll *c)
{
    if (!json_is_array(a) || json_array_size(a) > cap) {
        hs_meta_why(d->why, d->why_len, "%s: want an array of at most %u fields", path, cap);
        return false;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *x = json_array_get(a, i);
        const char *name = str_of(json_array_get(x, 0), HS_FSTAT_NAME_MAX);
        struct hs_fstat_field f = {0};
        if (!json_is_array(x) || json_array_size(x) != 6 || !name ||
            !count_of(json_array_get(x, 1), &f.count) || !count_of(json_array_get(x, 2), &f.err) ||
            !count_of(json_array_get(x, 3), &f.present) ||
            !count_of(json_array_get(x, 4), &f.changed) ||
            !count_of(json_array_get(x, 5), &f.bytes) || f.err > f.count || f.count == 0) {
            hs_meta_why(d->why, d->why_len,
                        "%s[%zu]: want [name, count >= 1, err <= count, present, changed, bytes]",
                        path, i);
            return false;
        }
        f.hash_ = hs_fstat_name_hash(name, strlen(name));
        if (hs_fstat_coll_field(c, name, strlen(name))) {
            hs_meta_why(d->why, d->why_len, "%s[%zu]: duplicate field", path, i);
            return false;
        }
        f.name = hs_xstrdup(name);
        c->fields[c->n_fields++] = f;
    }
    return true;
}

static const char *const coll_keys[] = {"c", "n", "e",  "w",  "p", "k",  "fr", "pr",
                                        "u", "f", "cs", "rs", "t", "sw", "h"};

/* Version 2's pacing members: "sw" required, "h" optional (absent: unpaced). */
static bool decode_pace(struct dec *d, const json_t *o, const char *path, struct hs_fstat_coll *c)
{
    if (!member_count(d, o, "sw", path, &c->since_writes))
        return false;
    if (!json_object_get(o, "h"))
        return true;
    c->paced = true;
    return member_count(d, o, "h", path, &c->epoch);
}

static bool decode_coll(struct dec *d, const json_t *o, size_t idx, struct hs_field_stats *s,
                        int version)
{
    char path[48];
    snprintf(path, sizeof path, "colls[%zu]", idx);
    size_t n_keys = sizeof coll_keys / sizeof coll_keys[0] - (version == 1 ? 2 : 0);
    if (!hs_mj_check_keys(o, coll_keys, n_keys, path, d->why, d->why_len))
        return false;
    const char *name = str_of(json_object_get(o, "c"), HS_FSTAT_COLL_MAX);
    if (!name) {
        hs_meta_why(d->why, d->why_len, "%s.c: want a string of <= %d bytes without NUL", path,
                    HS_FSTAT_COLL_MAX);
        return false;
    }
    if (hs_field_stats_find(s, name, strlen(name))) {
        hs_meta_why(d->why, d->why_len, "%s.c: duplicate collection", path);
        return false;
    }
    struct hs_fstat_coll *c = &s->colls[s->n_colls++];
    hs_fstat_coll_alloc(&s->limits, c, name, strlen(name));
    if (!member_count(d, o, "n", path, &c->count) || !member_count(d, o, "e", path, &c->err) ||
        !member_count(d, o, "w", path, &c->writes) || !member_count(d, o, "p", path, &c->puts) ||
        !member_count(d, o, "k", path, &c->known) ||
        !member_count(d, o, "fr", path, &c->full_reads) ||
        !member_count(d, o, "pr", path, &c->proj_reads) ||
        !member_count(d, o, "u", path, &c->untracked))
        return false;
    if (c->err > c->count) {
        hs_meta_why(d->why, d->why_len, "%s.e: more than n", path);
        return false;
    }
    char p[64];
    snprintf(p, sizeof p, "%s.f", path);
    if (!decode_fields(d, json_object_get(o, "f"), p, s->limits.fields, c))
        return false;
    snprintf(p, sizeof p, "%s.cs", path);
    if (!decode_sets(d, json_object_get(o, "cs"), p, s->limits.sets, c->csets, &c->n_csets))
        return false;
    snprintf(p, sizeof p, "%s.rs", path);
    if (!decode_sets(d, json_object_get(o, "rs"), p, s->limits.sets, c->rsets, &c->n_rsets))
        return false;
    const json_t *t = json_object_get(o, "t");
    uint64_t tv[10];
    bool ok = json_is_array(t) && json_array_size(t) == 10;
    for (size_t i = 0; ok && i < 10; i++)
        ok = count_of(json_array_get(t, i), &tv[i]);
    if (!ok) {
        hs_meta_why(d->why, d->why_len, "%s.t: want an array of 10 integers 0..2^53-1", path);
        return false;
    }
    c->tot = (struct hs_fstat_totals){tv[0], tv[1], tv[2], tv[3], tv[4],
                                      tv[5], tv[6], tv[7], tv[8], tv[9]};
    return version == 1 || decode_pace(d, o, path, c);
}

static const char *const root_keys[] = {"v", "gw", "boot", "seq", "ms", "limits", "colls"};

static bool decode_limits(struct dec *d, const json_t *a, struct hs_fstat_limits *out)
{
    uint64_t v[4];
    bool ok = json_is_array(a) && json_array_size(a) == 4;
    for (size_t i = 0; ok && i < 4; i++)
        ok = count_of(json_array_get(a, i), &v[i]) && v[i] >= 1 && v[i] <= HS_FSTAT_HALVE_MAX;
    struct hs_fstat_limits l = {0};
    if (ok) {
        l = (struct hs_fstat_limits){(uint32_t)v[0], (uint32_t)v[1], (uint32_t)v[2],
                                     (uint32_t)v[3]};
        ok = hs_fstat_limits_fill(&l, out) == HS_OK;
    }
    if (!ok)
        hs_meta_why(d->why, d->why_len,
                    "limits: want [collections, fields, sets, halve_every] "
                    "within the sketch bounds");
    return ok;
}

static enum hs_err decode_root(struct dec *d, const json_t *root, struct hs_field_stats *out,
                               struct hs_fstat_info *info, int version)
{
    if (!hs_mj_check_keys(root, root_keys, sizeof root_keys / sizeof root_keys[0], "", d->why,
                          d->why_len))
        return HS_ECORRUPT;
    const char *gw = str_of(json_object_get(root, "gw"), HS_NODE_ID_MAX);
    if (!gw || (gw[0] && !hs_meta_node_id_valid(gw))) {
        hs_meta_why(d->why, d->why_len, "gw: want \"\" or a gateway id");
        return HS_ECORRUPT;
    }
    const char *boot = str_of(json_object_get(root, "boot"), HS_FSTAT_BOOT_MAX);
    if (!boot || !boot_valid(boot)) {
        hs_meta_why(d->why, d->why_len, "boot: want 1..64 chars of [0-9a-zA-Z._-]");
        return HS_ECORRUPT;
    }
    uint64_t seq = 0, ms = 0;
    if (!member_count(d, root, "seq", "", &seq) || !member_count(d, root, "ms", "", &ms))
        return HS_ECORRUPT;
    struct hs_fstat_limits l;
    if (!decode_limits(d, json_object_get(root, "limits"), &l))
        return HS_ECORRUPT;
    const json_t *colls = json_object_get(root, "colls");
    if (!json_is_array(colls) || json_array_size(colls) > l.collections) {
        hs_meta_why(d->why, d->why_len, "colls: want an array of at most %u collections",
                    l.collections);
        return HS_ECORRUPT;
    }
    free(out->colls);
    out->colls = hs_xcalloc(l.collections, sizeof *out->colls);
    out->limits = l;
    for (size_t i = 0; i < json_array_size(colls); i++) {
        const json_t *c = json_array_get(colls, i);
        if (!json_is_object(c)) {
            hs_meta_why(d->why, d->why_len, "colls[%zu]: want an object", i);
            return HS_ECORRUPT;
        }
        if (!decode_coll(d, c, i, out, version))
            return HS_ECORRUPT;
    }
    if (info) {
        struct hs_fstat_info in = {.seq = seq, .ms = (int64_t)ms};
        memcpy(in.gw, gw, strlen(gw) + 1);
        memcpy(in.boot, boot, strlen(boot) + 1);
        *info = in;
    }
    return HS_OK;
}

enum hs_err hs_field_stats_decode(const void *data, size_t len, struct hs_field_stats *out,
                                  struct hs_fstat_info *info, char *why, size_t why_len)
{
    hs_field_stats_reset(out);
    struct dec d = {why, why_len};
    if (len > HS_FSTAT_JSON_MAX) {
        hs_meta_why(why, why_len, "snapshot over %zu bytes", HS_FSTAT_JSON_MAX);
        return HS_ECORRUPT;
    }
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    enum hs_err err = HS_ECORRUPT;
    if (!json_is_object(root)) {
        hs_meta_why(why, why_len, "not one JSON object (duplicate members refused)");
        goto out;
    }
    const json_t *v = json_object_get(root, "v");
    if (!json_is_integer(v)) {
        hs_meta_why(why, why_len, "v: want an integer");
        goto out;
    }
    json_int_t version = json_integer_value(v);
    if (version != 1 && version != HS_FSTAT_VERSION) {
        hs_meta_why(why, why_len, "v: unknown version %lld", (long long)version);
        err = HS_EPROTO;
        goto out;
    }
    err = decode_root(&d, root, out, info, (int)version);
out:
    json_decref(root);
    if (err != HS_OK)
        hs_field_stats_reset(out);
    return err;
}

enum hs_err hs_field_stats_decode_merge(const void *data, size_t len, struct hs_field_stats *merged,
                                        bool first, char *why, size_t why_len)
{
    if (first)
        return hs_field_stats_decode(data, len, merged, NULL, why, why_len);
    struct hs_field_stats one;
    enum hs_err err = hs_field_stats_init(&one, NULL);
    if (err != HS_OK)
        return err;
    err = hs_field_stats_decode(data, len, &one, NULL, why, why_len);
    if (err == HS_OK)
        hs_field_stats_merge(merged, &one);
    hs_field_stats_release(&one);
    return err;
}
