/* manifest_validate.c - every rule of the manifest format (include/hs/manifest.h) checked on a
 * struct: run before encoding, so a buggy writer cannot store a bad manifest, and after
 * decoding, so a reader never acts on one. Type checks of JSON are in manifest_json.c. */
#include "hs/manifest.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "hs/mem.h"
#include "manifest_int.h"
#include "hs/banned.h"

#define WHY(...) hs_meta_why(why, why_len, __VA_ARGS__)

bool hs_meta_etag_valid(const char *etag)
{
    if (!etag || etag[0] == '\0')
        return false;
    for (size_t i = 0; etag[i]; i++) {
        unsigned char c = (unsigned char)etag[i];
        /* RFC 9110 section 8.8.3 etagc without obs-text: the gateway can quote it as is */
        if (i >= HS_ETAG_MAX || c < 0x21 || c == '"' || c > 0x7e)
            return false;
    }
    return true;
}

bool hs_meta_content_type_valid(const char *ct)
{
    if (!ct || ct[0] == '\0')
        return false;
    for (size_t i = 0; ct[i]; i++) {
        unsigned char c = (unsigned char)ct[i];
        if (i >= HS_CONTENT_TYPE_MAX || c < 0x20 || c > 0x7e)
            return false;
    }
    return true;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return a / b + (a % b != 0);
}

static enum hs_err blob_ref_check(const struct hs_meta_blob_ref *b, const char *path, char *why,
                                  size_t why_len)
{
    if (!hs_meta_blob_id_valid(b->blob_id)) {
        WHY("%s.id: not a valid blob id", path);
        return HS_EINVAL;
    }
    if (!hs_meta_node_id_valid(b->node_id)) {
        WHY("%s.node: not a valid node id", path);
        return HS_EINVAL;
    }
    if (b->len_bytes < 0) {
        WHY("%s.len: negative", path);
        return HS_EINVAL;
    }
    return HS_OK;
}

/* Rules that depend on the part kind, for one segment. */
static enum hs_err segment_kind_check(const struct hs_part *p, const struct hs_segment *s,
                                      const char *path, char *why, size_t why_len)
{
    if (p->kind == HS_PART_REPLICATED) {
        if (s->n_blobs != p->replicas) {
            WHY("%s.blobs: %zu replicas, want %" PRIu32, path, s->n_blobs, p->replicas);
            return HS_EINVAL;
        }
        for (size_t i = 0; i < s->n_blobs; i++) {
            if (s->blobs[i].len_bytes != s->len_bytes || s->blobs[i].crc32c != s->crc32c) {
                WHY("%s.blobs[%zu]: a replica's len/crc differ from the segment's", path, i);
                return HS_EINVAL;
            }
        }
        return HS_OK;
    }
    if (s->n_blobs != (size_t)p->k + p->m) {
        WHY("%s.blobs: %zu shards, want k+m = %" PRIu32, path, s->n_blobs, p->k + p->m);
        return HS_EINVAL;
    }
    int64_t min = ceil_div(s->len_bytes, p->k);
    for (size_t i = 0; i < s->n_blobs; i++) {
        int64_t l = s->blobs[i].len_bytes;
        if (l != s->blobs[0].len_bytes || l < min || l - min >= p->stripe_bytes) {
            WHY("%s.blobs[%zu].len: %" PRId64 " does not fit a segment of %" PRId64
                " bytes (shards equal, ceil(len/k) <= shard < ceil(len/k) + stripe)",
                path, i, l, s->len_bytes);
            return HS_EINVAL;
        }
    }
    return HS_OK;
}

static enum hs_err segment_check(const struct hs_part *p, size_t idx, const char *ppath, char *why,
                                 size_t why_len)
{
    const struct hs_segment *s = &p->segments[idx];
    char path[64];
    snprintf(path, sizeof path, "%s.segs[%zu]", ppath, idx);
    if (s->len_bytes < 0 || (s->len_bytes == 0 && p->n_segments > 1)) {
        WHY("%s.len: must be > 0 (only an empty part's single segment may be empty)", path);
        return HS_EINVAL;
    }
    if (s->n_blobs > 0 && !s->blobs) {
        WHY("%s.blobs: missing", path);
        return HS_EINVAL;
    }
    for (size_t i = 0; i < s->n_blobs; i++) {
        char bpath[96];
        snprintf(bpath, sizeof bpath, "%s.blobs[%zu]", path, i);
        enum hs_err err = blob_ref_check(&s->blobs[i], bpath, why, why_len);
        if (err != HS_OK)
            return err;
        /* distinct nodes: two copies on one node die together (n <= 20: quadratic is fine) */
        for (size_t j = 0; j < i; j++) {
            if (strcmp(s->blobs[i].node_id, s->blobs[j].node_id) == 0) {
                WHY("%s.node: node '%s' holds two blobs of this segment", bpath,
                    s->blobs[i].node_id);
                return HS_EINVAL;
            }
        }
    }
    return segment_kind_check(p, s, path, why, why_len);
}

static enum hs_err part_params_check(const struct hs_part *p, enum hs_part_kind kind,
                                     const char *path, char *why, size_t why_len)
{
    if (p->kind != kind) {
        WHY("%s: wrong kind of part (%d, want %d)", path, (int)p->kind, (int)kind);
        return HS_EINVAL;
    }
    if (kind == HS_PART_REPLICATED && (p->replicas < 1 || p->replicas > HS_MANIFEST_REPLICAS_MAX)) {
        WHY("%s.replicas: %" PRIu32 " not in 1..%d", path, p->replicas, HS_MANIFEST_REPLICAS_MAX);
        return HS_EINVAL;
    }
    if (kind == HS_PART_EC) {
        if (p->k < 1 || p->k > HS_MANIFEST_K_MAX || p->m < 1 || p->m > HS_MANIFEST_M_MAX) {
            WHY("%s: k=%" PRIu32 " m=%" PRIu32 " outside 1..%d, 1..%d", path, p->k, p->m,
                HS_MANIFEST_K_MAX, HS_MANIFEST_M_MAX);
            return HS_EINVAL;
        }
        if (p->stripe_bytes < 1 || p->stripe_bytes > HS_MANIFEST_STRIPE_MAX) {
            WHY("%s.stripe: %" PRId64 " not in 1..%" PRId64, path, p->stripe_bytes,
                HS_MANIFEST_STRIPE_MAX);
            return HS_EINVAL;
        }
    }
    if (p->len_bytes < 0 || p->len_bytes > HS_MANIFEST_SIZE_MAX) {
        WHY("%s.len: %" PRId64 " out of range", path, p->len_bytes);
        return HS_EINVAL;
    }
    return HS_OK;
}

static enum hs_err part_check(const struct hs_part *p, enum hs_part_kind kind, const char *path,
                              char *why, size_t why_len)
{
    enum hs_err err = part_params_check(p, kind, path, why, why_len);
    if (err != HS_OK)
        return err;
    if (p->n_segments > 0 && !p->segments) {
        WHY("%s.segs: missing", path);
        return HS_EINVAL;
    }
    if (p->n_segments == 0 && p->len_bytes > 0) {
        WHY("%s.segs: no segment for %" PRId64 " bytes", path, p->len_bytes);
        return HS_EINVAL;
    }
    int64_t sum = 0;
    for (size_t i = 0; i < p->n_segments; i++) {
        err = segment_check(p, i, path, why, why_len);
        if (err != HS_OK)
            return err;
        /* compared before adding: sum <= len <= 2^53 stays far from overflow */
        if (p->segments[i].len_bytes > p->len_bytes - sum) {
            WHY("%s.segs: segment lengths exceed the part's len %" PRId64, path, p->len_bytes);
            return HS_EINVAL;
        }
        sum += p->segments[i].len_bytes;
    }
    if (sum != p->len_bytes) {
        WHY("%s.segs: segment lengths add up to %" PRId64 ", part len is %" PRId64, path, sum,
            p->len_bytes);
        return HS_EINVAL;
    }
    return HS_OK;
}

enum hs_err hs_meta_part_check(const struct hs_part *p, enum hs_part_kind kind, const char *path,
                               char *why, size_t why_len)
{
    return part_check(p, kind, path, why, why_len);
}

static bool part_unused(const struct hs_part *p)
{
    return p->kind == HS_PART_NONE && p->n_segments == 0;
}

static enum hs_err field_order_check(const char *order, size_t *n_out, char *why, size_t why_len)
{
    json_error_t jerr;
    json_t *j = order ? json_loads(order, JSON_ALLOW_NUL, &jerr) : NULL;
    enum hs_err err = HS_OK;
    if (!json_is_array(j)) {
        WHY("order: not a JSON array of strings");
        err = HS_EINVAL;
        goto out;
    }
    size_t fields = 0;
    for (size_t i = 0; i < json_array_size(j); i++) {
        json_t *e = json_array_get(j, i);
        if (!json_is_string(e)) {
            WHY("order[%zu]: not a string", i);
            err = HS_EINVAL;
            goto out;
        }
        fields += json_string_value(e)[0] != 's'; /* shadows are not fields (split.h) */
    }
    *n_out = fields;
out:
    json_decref(j);
    return err;
}

static enum hs_err strategy_check(const struct hs_manifest *m, char *why, size_t why_len)
{
    enum hs_err err;
    if (m->strategy != HS_STRATEGY_FIELD_HYBRID) {
        enum hs_part_kind kind = m->strategy == HS_STRATEGY_EC ? HS_PART_EC : HS_PART_REPLICATED;
        if (!part_unused(&m->hot) || !part_unused(&m->cold) || m->has_cold || m->cold_hash ||
            m->field_order_json || m->field_order_version != 0 || m->field_digests) {
            WHY("hot/cold/cold_hash/order_v/order/fdig: only for field_hybrid");
            return HS_EINVAL;
        }
        err = part_check(&m->data, kind, "data", why, why_len);
        if (err == HS_OK && m->data.len_bytes != m->size_bytes) {
            WHY("data.len: %" PRId64 " differs from size %" PRId64, m->data.len_bytes,
                m->size_bytes);
            err = HS_EINVAL;
        }
        return err;
    }
    if (!part_unused(&m->data)) {
        WHY("data: not used by field_hybrid");
        return HS_EINVAL;
    }
    err = part_check(&m->hot, HS_PART_REPLICATED, "hot", why, why_len);
    if (err != HS_OK)
        return err;
    if (m->has_cold) {
        err = part_check(&m->cold, HS_PART_EC, "cold", why, why_len);
        if (err != HS_OK)
            return err;
        if (m->cold.len_bytes == 0) {
            WHY("cold.len: an empty cold part is left out, not stored");
            return HS_EINVAL;
        }
    } else if (!part_unused(&m->cold)) {
        WHY("cold: set but has_cold is false");
        return HS_EINVAL;
    }
    if (!m->cold_hash || strlen(m->cold_hash) != HS_COLD_HASH_CHARS ||
        !hs_meta_is_lower_hex(m->cold_hash, HS_COLD_HASH_CHARS)) {
        WHY("cold_hash: want %d lower-case hex digits", HS_COLD_HASH_CHARS);
        return HS_EINVAL;
    }
    if (m->field_order_version < 1 || m->field_order_version > HS_MANIFEST_ORDER_VERSION_MAX) {
        WHY("order_v: %" PRId32 " not in 1..%d", m->field_order_version,
            HS_MANIFEST_ORDER_VERSION_MAX);
        return HS_EINVAL;
    }
    size_t n_order = 0;
    err = field_order_check(m->field_order_json, &n_order, why, why_len);
    return err == HS_OK ? hs_manifest_fdig_check(m, n_order, why, why_len) : err;
}

static enum hs_err header_check(const struct hs_manifest *m, char *why, size_t why_len)
{
    if (!m->key || !hs_meta_object_key_valid(m->key, strlen(m->key))) {
        WHY("key: not a valid object key (1..%d bytes of UTF-8, no control characters)",
            HS_OBJECT_KEY_MAX);
        return HS_EINVAL;
    }
    if (!hs_strategy_name(m->strategy)) {
        WHY("strategy: unknown value %d", (int)m->strategy);
        return HS_EINVAL;
    }
    if (m->size_bytes < 0 || m->size_bytes > HS_MANIFEST_SIZE_MAX) {
        WHY("size: %" PRId64 " not in 0..2^53-1", m->size_bytes);
        return HS_EINVAL;
    }
    if (!hs_meta_content_type_valid(m->content_type)) {
        WHY("ctype: want 1..%d printable ASCII chars", HS_CONTENT_TYPE_MAX);
        return HS_EINVAL;
    }
    if (!hs_meta_etag_valid(m->etag)) {
        WHY("etag: want 1..%d chars of %%x21 / %%x23-7E", HS_ETAG_MAX);
        return HS_EINVAL;
    }
    if (m->version < 1) {
        WHY("ver: %" PRId64 ", want >= 1", m->version);
        return HS_EINVAL;
    }
    if (m->created_ms < 0) {
        WHY("ctime_ms: negative");
        return HS_EINVAL;
    }
    if (!hs_meta_txn_id_valid(m->txn_id)) {
        WHY("txn: want %d..%d lower-case hex digits", HS_TXN_ID_MIN, HS_TXN_ID_MAX);
        return HS_EINVAL;
    }
    return HS_OK;
}

enum hs_err hs_manifest_validate(const struct hs_manifest *m, char *why, size_t why_len)
{
    enum hs_err err = header_check(m, why, why_len);
    if (err == HS_OK)
        err = strategy_check(m, why, why_len);
    if (err == HS_OK)
        err = hs_manifest_attrs_validate(m->attrs, why, why_len);
    if (err != HS_OK)
        return err;
    struct hs_meta_blob_loc *locs, dup;
    size_t n;
    hs_manifest_blob_locs(m, &locs, &n);
    if (!hs_meta_locs_unique(locs, n, &dup)) {
        WHY("blobs: blob '%s' on node '%s' is listed twice", dup.blob_id, dup.node_id);
        err = HS_EINVAL;
    }
    free(locs);
    return err;
}

enum hs_err hs_txn_record_validate(const struct hs_txn_record *r, char *why, size_t why_len)
{
    if (!hs_txn_state_name(r->state)) {
        WHY("state: unknown value %d", (int)r->state);
        return HS_EINVAL;
    }
    if (!hs_meta_txn_id_valid(r->txn_id)) {
        WHY("txn: want %d..%d lower-case hex digits", HS_TXN_ID_MIN, HS_TXN_ID_MAX);
        return HS_EINVAL;
    }
    if (!r->key || !hs_meta_object_key_valid(r->key, strlen(r->key))) {
        WHY("key: not a valid object key");
        return HS_EINVAL;
    }
    if (!hs_meta_node_id_valid(r->owner_id)) {
        WHY("owner: not a valid gateway id");
        return HS_EINVAL;
    }
    if (r->start_ms < 0) {
        WHY("start_ms: negative");
        return HS_EINVAL;
    }
    if (r->alive_ms < 0) {
        WHY("alive_ms: negative");
        return HS_EINVAL;
    }
    if (r->n_nodes > HS_TXN_NODES_MAX) {
        WHY("nodes: more than %d", HS_TXN_NODES_MAX);
        return HS_EINVAL;
    }
    for (size_t i = 0; i < r->n_nodes; i++) {
        if (!hs_meta_node_id_valid(r->nodes[i])) {
            WHY("nodes[%zu]: not a valid node id", i);
            return HS_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(r->nodes[i], r->nodes[j]) == 0) {
                WHY("nodes[%zu]: '%s' is listed twice", i, r->nodes[i]);
                return HS_EINVAL;
            }
        }
    }
    for (size_t i = 0; i < r->n_parts; i++) {
        const struct hs_txn_part *p = &r->parts[i];
        if ((unsigned)p->part > HS_META_PART_COLD || p->segs > HS_TXN_SEGS_MAX || p->width == 0 ||
            p->width > HS_TXN_NODES_MAX) {
            WHY("parts[%zu]: part, segs or width out of range", i);
            return HS_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (r->parts[j].part == p->part) {
                WHY("parts[%zu]: part %d is listed twice", i, (int)p->part);
                return HS_EINVAL;
            }
        }
    }
    if (r->n_blobs > 0 && !r->blobs) {
        WHY("blobs: missing");
        return HS_EINVAL;
    }
    for (size_t i = 0; i < r->n_blobs; i++) {
        if (!hs_meta_blob_id_valid(r->blobs[i].blob_id)) {
            WHY("blobs[%zu].id: not a valid blob id", i);
            return HS_EINVAL;
        }
        if (!hs_meta_node_id_valid(r->blobs[i].node_id)) {
            WHY("blobs[%zu].node: not a valid node id", i);
            return HS_EINVAL;
        }
    }
    struct hs_meta_blob_loc *locs, dup;
    size_t n;
    enum hs_err err = HS_OK;
    hs_txn_record_blob_locs(r, &locs, &n);
    if (!hs_meta_locs_unique(locs, n, &dup)) {
        WHY("blobs: blob '%s' on node '%s' is listed twice", dup.blob_id, dup.node_id);
        err = HS_EINVAL;
    }
    free(locs);
    return err;
}
