/* manifest_json.c - manifest <-> compact JSON (format table in include/hs/manifest.h), and the
 * JSON helpers the write-ahead record shares. Decoding checks shape and types here, then runs
 * hs_manifest_validate for the rules, so a struct that decodes is one that would encode. */
#include "hs/manifest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "manifest_int.h"
#include "hs/banned.h"

#define WHY(...) hs_meta_why(why, why_len, __VA_ARGS__)

/* ---- shared helpers ---- */

enum hs_err hs_mj_load(const void *data, size_t len, int64_t version, json_t **root_out, char *why,
                       size_t why_len)
{
    return hs_mj_load_versions(data, len, version, version, root_out, NULL, why, why_len);
}

enum hs_err hs_mj_load_versions(const void *data, size_t len, int64_t min_version,
                                int64_t max_version, json_t **root_out, int64_t *version_out,
                                char *why, size_t why_len)
{
    if (len > HS_MANIFEST_ENCODED_MAX) {
        WHY("record of %zu bytes is over the %zu byte limit", len, HS_MANIFEST_ENCODED_MAX);
        return HS_ECORRUPT;
    }
    json_error_t jerr;
    /* jansson checks UTF-8, caps nesting depth and integer range, and with the EOF check
     * refuses trailing bytes. \u0000 is allowed only because the split module's field order
     * may hold it (split.h); every other string and member name is checked for NUL. */
    json_t *root =
        json_loadb(data ? data : "", len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        WHY("json: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
        return HS_ECORRUPT;
    }
    enum hs_err err = HS_ECORRUPT;
    json_t *v = json_object_get(root, "v");
    if (!json_is_object(root)) {
        WHY("json: top level is not an object");
    } else if (!json_is_integer(v)) {
        WHY("v: missing or not an integer");
    } else if (json_integer_value(v) < min_version || json_integer_value(v) > max_version) {
        WHY("v: unknown format version %" JSON_INTEGER_FORMAT ", this build reads %" PRId64
            "..%" PRId64,
            json_integer_value(v), min_version, max_version);
        err = HS_EPROTO;
    } else {
        if (version_out)
            *version_out = json_integer_value(v);
        *root_out = root;
        return HS_OK;
    }
    json_decref(root);
    return err;
}

bool hs_mj_check_keys(const json_t *obj, const char *const *allowed, size_t n_allowed,
                      const char *path, char *why, size_t why_len)
{
    const char *name;
    size_t name_len;
    json_t *val;
    if (!json_is_object(obj)) {
        WHY("%s: not an object", path);
        return false;
    }
    /* the foreach macro wants a non-const object; it does not modify it */
    json_object_keylen_foreach((json_t *)obj, name, name_len, val)
    {
        bool known = false;
        if (strlen(name) != name_len) {
            WHY("%s: a member name holds NUL", path);
            return false;
        }
        for (size_t i = 0; i < n_allowed && !known; i++)
            known = strcmp(name, allowed[i]) == 0;
        if (!known) {
            WHY("%s: unknown field '%.40s'", path, name);
            return false;
        }
    }
    return true;
}

bool hs_mj_str(const json_t *obj, const char *name, const char *path, char **out, char *why,
               size_t why_len)
{
    json_t *j = json_object_get(obj, name);
    const char *dot = *path ? "." : "";
    if (!json_is_string(j)) {
        WHY("%s%s%s: missing or not a string", path, dot, name);
        return false;
    }
    if (strlen(json_string_value(j)) != json_string_length(j)) {
        WHY("%s%s%s: holds NUL", path, dot, name);
        return false;
    }
    *out = hs_xstrndup(json_string_value(j), json_string_length(j));
    return true;
}

bool hs_mj_int(const json_t *obj, const char *name, const char *path, int64_t min, int64_t max,
               int64_t *out, char *why, size_t why_len)
{
    json_t *j = json_object_get(obj, name);
    const char *dot = *path ? "." : "";
    if (!json_is_integer(j)) {
        WHY("%s%s%s: missing or not an integer", path, dot, name);
        return false;
    }
    json_int_t v = json_integer_value(j);
    if (v < min || v > max) {
        WHY("%s%s%s: %" JSON_INTEGER_FORMAT " not in %" PRId64 "..%" PRId64, path, dot, name, v,
            min, max);
        return false;
    }
    *out = v;
    return true;
}

bool hs_mj_crc(const json_t *obj, const char *name, const char *path, uint32_t *out, char *why,
               size_t why_len)
{
    json_t *j = json_object_get(obj, name);
    const char *s = json_string_value(j);
    if (!s || json_string_length(j) != 8 || !hs_meta_is_lower_hex(s, 8)) {
        WHY("%s.%s: want 8 lower-case hex digits", path, name);
        return false;
    }
    uint32_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v * 16 + (uint32_t)(s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
    *out = v;
    return true;
}

void hs_mj_set(json_t *obj, const char *name, json_t *value)
{
    if (!value || json_object_set_new(obj, name, value) != 0)
        HS_BUG("cannot set JSON member '%s'", name);
}

json_t *hs_mj_string(const char *s)
{
    json_t *j = json_string(s);
    if (!j)
        HS_BUG("cannot make a JSON string (invalid UTF-8 after validation?)");
    return j;
}

json_t *hs_mj_crc_new(uint32_t crc)
{
    char hex[9];
    snprintf(hex, sizeof hex, "%08" PRIx32, crc);
    return hs_mj_string(hex);
}

enum hs_err hs_mj_dump(json_t *root, char **out, size_t *len_out, char *why, size_t why_len)
{
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        HS_BUG("json_dumps failed (out of memory)");
    size_t len = strlen(text);
    if (len > HS_MANIFEST_ENCODED_MAX) {
        WHY("encoded record is %zu bytes, over the %zu byte limit", len, HS_MANIFEST_ENCODED_MAX);
        free(text);
        return HS_ETOOBIG;
    }
    *out = text;
    *len_out = len;
    return HS_OK;
}

/* ---- encode ---- */

static json_t *blob_to_json(const struct hs_meta_blob_ref *b)
{
    json_t *j = json_object();
    hs_mj_set(j, "id", hs_mj_string(b->blob_id));
    hs_mj_set(j, "node", hs_mj_string(b->node_id));
    hs_mj_set(j, "len", json_integer(b->len_bytes));
    hs_mj_set(j, "crc", hs_mj_crc_new(b->crc32c));
    return j;
}

json_t *hs_mj_part_to_json(const struct hs_part *p)
{
    json_t *j = json_object();
    json_t *segs = json_array();
    hs_mj_set(j, "len", json_integer(p->len_bytes));
    if (p->kind == HS_PART_REPLICATED) {
        hs_mj_set(j, "replicas", json_integer(p->replicas));
    } else {
        hs_mj_set(j, "k", json_integer(p->k));
        hs_mj_set(j, "m", json_integer(p->m));
        hs_mj_set(j, "stripe", json_integer(p->stripe_bytes));
    }
    if (p->packed) {
        json_decref(segs);
        hs_mj_packed_set(j, p);
        return j;
    }
    for (size_t i = 0; i < p->n_segments; i++) {
        const struct hs_segment *s = &p->segments[i];
        json_t *seg = json_object();
        json_t *blobs = json_array();
        hs_mj_set(seg, "len", json_integer(s->len_bytes));
        hs_mj_set(seg, "crc", hs_mj_crc_new(s->crc32c));
        for (size_t b = 0; b < s->n_blobs; b++) {
            if (json_array_append_new(blobs, blob_to_json(&s->blobs[b])) != 0)
                HS_BUG("cannot append to a JSON array");
        }
        hs_mj_set(seg, "blobs", blobs);
        if (json_array_append_new(segs, seg) != 0)
            HS_BUG("cannot append to a JSON array");
    }
    hs_mj_set(j, "segs", segs);
    return j;
}

enum hs_err hs_manifest_encode(const struct hs_manifest *m, char **out, size_t *len_out, char *why,
                               size_t why_len)
{
    enum hs_err err = hs_manifest_validate(m, why, why_len);
    if (err != HS_OK)
        return err;
    json_t *root = json_object();
    hs_mj_set(root, "v", json_integer(hs_manifest_format_version(m)));
    hs_mj_set(root, "key", hs_mj_string(m->key));
    hs_mj_set(root, "strategy", hs_mj_string(hs_strategy_name(m->strategy)));
    hs_mj_set(root, "size", json_integer(m->size_bytes));
    hs_mj_set(root, "ctype", hs_mj_string(m->content_type));
    hs_mj_set(root, "etag", hs_mj_string(m->etag));
    hs_mj_set(root, "ver", json_integer(m->version));
    hs_mj_set(root, "ctime_ms", json_integer(m->created_ms));
    hs_mj_set(root, "txn", hs_mj_string(m->txn_id));
    if (m->strategy != HS_STRATEGY_FIELD_HYBRID) {
        hs_mj_set(root, "data", hs_mj_part_to_json(&m->data));
    } else {
        hs_mj_set(root, "hot", hs_mj_part_to_json(&m->hot));
        if (m->has_cold)
            hs_mj_set(root, "cold", hs_mj_part_to_json(&m->cold));
        hs_mj_set(root, "cold_hash", hs_mj_string(m->cold_hash));
        /* validated as an array of strings above, so this parse succeeds */
        hs_mj_set(root, "order_v", json_integer(m->field_order_version));
        hs_mj_set(root, "order", json_loads(m->field_order_json, JSON_ALLOW_NUL, NULL));
    }
    if (!hs_manifest_attrs_empty(m->attrs))
        hs_mj_set(root, "attrs", hs_mj_attrs_to_json(m->attrs));
    if (m->field_digests) /* version 2 (manifest_fields.c) */
        hs_mj_set(root, "fdig", hs_mj_string(m->field_digests));
    return hs_mj_dump(root, out, len_out, why, why_len);
}

/* ---- decode ---- */

static bool blob_from_json(const json_t *j, const char *path, struct hs_meta_blob_ref *b, char *why,
                           size_t why_len)
{
    static const char *const keys[] = {"id", "node", "len", "crc"};
    return hs_mj_check_keys(j, keys, HS_ARRAY_LEN(keys), path, why, why_len) &&
           hs_mj_str(j, "id", path, &b->blob_id, why, why_len) &&
           hs_mj_str(j, "node", path, &b->node_id, why, why_len) &&
           hs_mj_int(j, "len", path, 0, HS_MANIFEST_SIZE_MAX, &b->len_bytes, why, why_len) &&
           hs_mj_crc(j, "crc", path, &b->crc32c, why, why_len);
}

static bool segment_from_json(const json_t *j, const char *path, struct hs_segment *s, char *why,
                              size_t why_len)
{
    static const char *const keys[] = {"len", "crc", "blobs"};
    if (!hs_mj_check_keys(j, keys, HS_ARRAY_LEN(keys), path, why, why_len) ||
        !hs_mj_int(j, "len", path, 0, HS_MANIFEST_SIZE_MAX, &s->len_bytes, why, why_len) ||
        !hs_mj_crc(j, "crc", path, &s->crc32c, why, why_len))
        return false;
    json_t *blobs = json_object_get(j, "blobs");
    if (!json_is_array(blobs)) {
        WHY("%s.blobs: missing or not an array", path);
        return false;
    }
    /* n_blobs grows with each decoded blob, so a failure leaves only initialised entries for
     * the release path */
    s->blobs = hs_xcalloc(json_array_size(blobs), sizeof(*s->blobs));
    for (size_t i = 0; i < json_array_size(blobs); i++) {
        char bpath[96];
        snprintf(bpath, sizeof bpath, "%s.blobs[%zu]", path, i);
        s->n_blobs++;
        if (!blob_from_json(json_array_get(blobs, i), bpath, &s->blobs[i], why, why_len))
            return false;
    }
    return true;
}

bool hs_mj_part_from_json(const json_t *j, enum hs_part_kind kind, const char *path,
                          struct hs_part *p, char *why, size_t why_len)
{
    static const char *const repl_keys[] = {"len", "replicas", "segs", "nodes", "segz"};
    static const char *const ec_keys[] = {"len", "k", "m", "stripe", "segs", "nodes", "segz"};
    int64_t a = 0, b = 0, c = 0;
    p->kind = kind;
    if (kind == HS_PART_REPLICATED) {
        if (!hs_mj_check_keys(j, repl_keys, HS_ARRAY_LEN(repl_keys), path, why, why_len) ||
            !hs_mj_int(j, "replicas", path, 1, HS_MANIFEST_REPLICAS_MAX, &a, why, why_len))
            return false;
        p->replicas = (uint32_t)a;
    } else {
        if (!hs_mj_check_keys(j, ec_keys, HS_ARRAY_LEN(ec_keys), path, why, why_len) ||
            !hs_mj_int(j, "k", path, 1, HS_MANIFEST_K_MAX, &a, why, why_len) ||
            !hs_mj_int(j, "m", path, 1, HS_MANIFEST_M_MAX, &b, why, why_len) ||
            !hs_mj_int(j, "stripe", path, 1, HS_MANIFEST_STRIPE_MAX, &c, why, why_len))
            return false;
        p->k = (uint32_t)a;
        p->m = (uint32_t)b;
        p->stripe_bytes = c;
    }
    if (!hs_mj_int(j, "len", path, 0, HS_MANIFEST_SIZE_MAX, &p->len_bytes, why, why_len))
        return false;
    json_t *segs = json_object_get(j, "segs");
    if (!segs && json_object_get(j, "segz")) {
        if (!hs_mj_packed_from_json(j, path, p, why, why_len))
            return false;
        hs_part_fix_offsets(p);
        return true;
    }
    if (json_object_get(j, "segz") || json_object_get(j, "nodes")) {
        WHY("%s: \"segs\" and a packed list (\"nodes\", \"segz\") exclude each other", path);
        return false;
    }
    if (!json_is_array(segs)) {
        WHY("%s.segs: missing or not an array", path);
        return false;
    }
    p->segments = hs_xcalloc(json_array_size(segs), sizeof(*p->segments));
    for (size_t i = 0; i < json_array_size(segs); i++) {
        char spath[64];
        snprintf(spath, sizeof spath, "%s.segs[%zu]", path, i);
        p->n_segments++;
        if (!segment_from_json(json_array_get(segs, i), spath, &p->segments[i], why, why_len))
            return false;
    }
    hs_part_fix_offsets(p);
    return true;
}

static bool header_from_json(const json_t *root, struct hs_manifest *m, char *why, size_t why_len)
{
    static const char *const keys[] = {
        "v",    "key", "strategy", "size",      "ctype",   "etag",  "ver",   "ctime_ms", "txn",
        "data", "hot", "cold",     "cold_hash", "order_v", "order", "attrs", "fdig"};
    char *strategy = NULL;
    bool ok = hs_mj_check_keys(root, keys, HS_ARRAY_LEN(keys), "manifest", why, why_len) &&
              hs_mj_str(root, "key", "", &m->key, why, why_len) &&
              hs_mj_str(root, "strategy", "", &strategy, why, why_len);
    if (ok && !hs_strategy_parse(strategy, &m->strategy)) {
        WHY("strategy: unknown strategy '%.40s'", strategy);
        ok = false;
    }
    free(strategy);
    return ok &&
           hs_mj_int(root, "size", "", 0, HS_MANIFEST_SIZE_MAX, &m->size_bytes, why, why_len) &&
           hs_mj_str(root, "ctype", "", &m->content_type, why, why_len) &&
           hs_mj_str(root, "etag", "", &m->etag, why, why_len) &&
           hs_mj_int(root, "ver", "", 1, INT64_MAX, &m->version, why, why_len) &&
           hs_mj_int(root, "ctime_ms", "", 0, INT64_MAX, &m->created_ms, why, why_len) &&
           hs_mj_str(root, "txn", "", &m->txn_id, why, why_len);
}

/* Every part present is decoded with the kind its name implies; whether the strategy allows
 * it is hs_manifest_validate's question, so the two never disagree. */
static bool parts_from_json(const json_t *root, struct hs_manifest *m, char *why, size_t why_len)
{
    json_t *data = json_object_get(root, "data");
    json_t *hot = json_object_get(root, "hot");
    json_t *cold = json_object_get(root, "cold");
    json_t *hash = json_object_get(root, "cold_hash");
    json_t *order = json_object_get(root, "order");
    enum hs_part_kind data_kind = m->strategy == HS_STRATEGY_EC ? HS_PART_EC : HS_PART_REPLICATED;
    if (data && !hs_mj_part_from_json(data, data_kind, "data", &m->data, why, why_len))
        return false;
    if (hot && !hs_mj_part_from_json(hot, HS_PART_REPLICATED, "hot", &m->hot, why, why_len))
        return false;
    if (cold) {
        m->has_cold = true;
        if (!hs_mj_part_from_json(cold, HS_PART_EC, "cold", &m->cold, why, why_len))
            return false;
    }
    if (m->strategy == HS_STRATEGY_FIELD_HYBRID && !hot) {
        WHY("hot: missing");
        return false;
    }
    if (m->strategy != HS_STRATEGY_FIELD_HYBRID && !data) {
        WHY("data: missing");
        return false;
    }
    if (hash && !hs_mj_str(root, "cold_hash", "", &m->cold_hash, why, why_len))
        return false;
    if (order) {
        if (!json_is_array(order)) {
            WHY("order: not an array");
            return false;
        }
        m->field_order_json = json_dumps(order, JSON_COMPACT);
        if (!m->field_order_json)
            HS_BUG("json_dumps failed (out of memory)");
    }
    if (json_object_get(root, "order_v")) {
        int64_t v;
        if (!hs_mj_int(root, "order_v", "", 1, HS_MANIFEST_ORDER_VERSION_MAX, &v, why, why_len))
            return false;
        m->field_order_version = (int32_t)v;
    }
    return true;
}

enum hs_err hs_manifest_decode(const void *data, size_t len, struct hs_manifest *out, char *why,
                               size_t why_len)
{
    json_t *root = NULL;
    int64_t version = 0;
    enum hs_err err = hs_mj_load_versions(data, len, HS_MANIFEST_VERSION, HS_MANIFEST_VERSION_MAX,
                                          &root, &version, why, why_len);
    if (err != HS_OK)
        return err;
    struct hs_manifest m;
    hs_manifest_init(&m);
    err = HS_ECORRUPT;
    json_t *fdig = json_object_get(root, "fdig"); /* version 2 (manifest_fields.c) */
    if (fdig && version < 2)
        WHY("fdig: a version 2 member in a version %" PRId64 " record", version);
    else if (header_from_json(root, &m, why, why_len) && parts_from_json(root, &m, why, why_len) &&
             hs_mj_attrs_from_json(root, version, &m, why, why_len) &&
             (!fdig || hs_mj_str(root, "fdig", "", &m.field_digests, why, why_len)) &&
             hs_manifest_validate(&m, why, why_len) == HS_OK)
        err = HS_OK;
    /* version 2 members (optional; a version 1 manifest must not carry them) */
    if (err == HS_OK && version == HS_MANIFEST_VERSION &&
        (m.data.packed || m.hot.packed || m.cold.packed)) {
        WHY("v: a packed part needs format version %d", HS_MANIFEST_VERSION_2);
        err = HS_ECORRUPT;
    }
    json_decref(root);
    if (err != HS_OK) {
        hs_manifest_release(&m);
        return err;
    }
    *out = m;
    return HS_OK;
}
