/* manifest_txn.c - write-ahead records (value of txn/<id>): lifecycle and JSON encoding (format
 * table in include/hs/manifest.h). The healer rolls back from these, so decoding is as strict
 * as for manifests: a record that does not validate names nothing to delete. */
#include "hs/manifest.h"

#include <stdlib.h>
#include <string.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "manifest_int.h"
#include "hs/banned.h"

#define WHY(...) hs_meta_why(why, why_len, __VA_ARGS__)

void hs_txn_record_init(struct hs_txn_record *r)
{
    memset(r, 0, sizeof(*r));
}

void hs_txn_record_release(struct hs_txn_record *r)
{
    if (!r)
        return;
    free(r->txn_id);
    free(r->key);
    free(r->owner_id);
    for (size_t i = 0; i < r->n_nodes; i++)
        free(r->nodes[i]);
    for (size_t i = 0; i < r->n_blobs; i++) {
        free(r->blobs[i].blob_id);
        free(r->blobs[i].node_id);
    }
    free(r->blobs);
    memset(r, 0, sizeof(*r));
}

void hs_txn_record_add_blob(struct hs_txn_record *r, const char *blob_id, const char *node_id)
{
    r->blobs = hs_xrealloc(r->blobs, (r->n_blobs + 1) * sizeof(*r->blobs));
    r->blobs[r->n_blobs].blob_id = hs_xstrdup(blob_id);
    r->blobs[r->n_blobs].node_id = hs_xstrdup(node_id);
    r->n_blobs++;
}

void hs_txn_record_set_nodes(struct hs_txn_record *r, const char *const *node_ids, size_t n)
{
    if (n > HS_TXN_NODES_MAX)
        HS_BUG("%zu nodes in a write-ahead record", n);
    for (size_t i = 0; i < r->n_nodes; i++)
        free(r->nodes[i]);
    for (size_t i = 0; i < n; i++)
        r->nodes[i] = hs_xstrdup(node_ids[i]);
    r->n_nodes = n;
}

void hs_txn_record_set_segs(struct hs_txn_record *r, enum hs_meta_blob_part part, uint32_t segs,
                            uint32_t width)
{
    for (size_t i = 0; i < r->n_parts; i++) {
        if (r->parts[i].part == part) {
            r->parts[i].segs = segs;
            r->parts[i].width = width;
            return;
        }
    }
    if (r->n_parts == HS_ARRAY_LEN(r->parts))
        HS_BUG("more than %zu parts in a write-ahead record", HS_ARRAY_LEN(r->parts));
    r->parts[r->n_parts++] = (struct hs_txn_part){.part = part, .segs = segs, .width = width};
}

void hs_txn_record_expand(struct hs_txn_record *r)
{
    for (size_t i = 0; i < r->n_blobs; i++) {
        free(r->blobs[i].blob_id);
        free(r->blobs[i].node_id);
    }
    free(r->blobs);
    r->blobs = NULL;
    r->n_blobs = 0;
    for (size_t p = 0; p < r->n_parts; p++) {
        const struct hs_txn_part *tp = &r->parts[p];
        size_t placed = HS_MIN((size_t)tp->width, r->n_nodes);
        for (uint32_t seg = 0; seg < tp->segs; seg++) {
            for (size_t i = 0; i < placed; i++) {
                char id[HS_META_BLOB_ID_BUF];
                if (hs_meta_blob_id_make(r->txn_id, tp->part, seg, (uint32_t)i, id) != HS_OK)
                    HS_BUG("blob id of a validated record");
                hs_txn_record_add_blob(r, id, r->nodes[i]);
            }
        }
    }
}

const char *hs_txn_state_name(enum hs_txn_state s)
{
    switch (s) {
    case HS_TXN_PENDING:
        return "PENDING";
    case HS_TXN_ABORTED:
        return "ABORTED";
    case HS_TXN_ROLLED_BACK:
        return "ROLLED_BACK";
    }
    return NULL;
}

static bool state_parse(const char *text, enum hs_txn_state *out)
{
    for (int s = HS_TXN_PENDING; s <= HS_TXN_ROLLED_BACK; s++) {
        if (strcmp(text, hs_txn_state_name((enum hs_txn_state)s)) == 0) {
            *out = (enum hs_txn_state)s;
            return true;
        }
    }
    return false;
}

void hs_txn_record_blob_locs(const struct hs_txn_record *r, struct hs_meta_blob_loc **out,
                             size_t *n_out)
{
    struct hs_meta_blob_loc *locs = hs_xcalloc(r->n_blobs, sizeof(*locs));
    for (size_t i = 0; i < r->n_blobs; i++) {
        locs[i].blob_id = r->blobs[i].blob_id;
        locs[i].node_id = r->blobs[i].node_id;
    }
    *out = locs;
    *n_out = r->n_blobs;
}

enum hs_err hs_txn_record_encode(const struct hs_txn_record *r, char **out, size_t *len_out,
                                 char *why, size_t why_len)
{
    enum hs_err err = hs_txn_record_validate(r, why, why_len);
    if (err != HS_OK)
        return err;
    if (r->n_nodes == 0) {
        WHY("nodes: a record needs at least one node (version 1 is no longer written)");
        return HS_EINVAL;
    }
    json_t *root = json_object();
    json_t *nodes = json_array();
    json_t *parts = json_array();
    hs_mj_set(root, "v", json_integer(HS_TXN_RECORD_VERSION));
    hs_mj_set(root, "state", hs_mj_string(hs_txn_state_name(r->state)));
    hs_mj_set(root, "txn", hs_mj_string(r->txn_id));
    hs_mj_set(root, "key", hs_mj_string(r->key));
    hs_mj_set(root, "owner", hs_mj_string(r->owner_id));
    hs_mj_set(root, "start_ms", json_integer(r->start_ms));
    hs_mj_set(root, "alive_ms", json_integer(HS_MAX(r->alive_ms, r->start_ms)));
    for (size_t i = 0; i < r->n_nodes; i++)
        if (json_array_append_new(nodes, hs_mj_string(r->nodes[i])) != 0)
            HS_BUG("cannot append to a JSON array");
    for (size_t i = 0; i < r->n_parts; i++) {
        json_t *p = json_object();
        hs_mj_set(p, "part", json_integer(r->parts[i].part));
        hs_mj_set(p, "segs", json_integer(r->parts[i].segs));
        hs_mj_set(p, "width", json_integer(r->parts[i].width));
        if (json_array_append_new(parts, p) != 0)
            HS_BUG("cannot append to a JSON array");
    }
    hs_mj_set(root, "nodes", nodes);
    hs_mj_set(root, "parts", parts);
    return hs_mj_dump(root, out, len_out, why, why_len);
}

static bool blobs_from_json(const json_t *root, struct hs_txn_record *r, char *why, size_t why_len)
{
    static const char *const keys[] = {"id", "node"};
    json_t *blobs = json_object_get(root, "blobs");
    if (!json_is_array(blobs)) {
        WHY("blobs: missing or not an array");
        return false;
    }
    r->blobs = hs_xcalloc(json_array_size(blobs), sizeof(*r->blobs));
    for (size_t i = 0; i < json_array_size(blobs); i++) {
        json_t *b = json_array_get(blobs, i);
        char path[48];
        snprintf(path, sizeof path, "blobs[%zu]", i);
        r->n_blobs++;
        if (!hs_mj_check_keys(b, keys, HS_ARRAY_LEN(keys), path, why, why_len) ||
            !hs_mj_str(b, "id", path, &r->blobs[i].blob_id, why, why_len) ||
            !hs_mj_str(b, "node", path, &r->blobs[i].node_id, why, why_len))
            return false;
    }
    return true;
}

static bool nodes_from_json(const json_t *root, struct hs_txn_record *r, char *why, size_t why_len)
{
    json_t *nodes = json_object_get(root, "nodes");
    if (!json_is_array(nodes) || json_array_size(nodes) == 0 ||
        json_array_size(nodes) > HS_TXN_NODES_MAX) {
        WHY("nodes: want an array of 1..%d node ids", HS_TXN_NODES_MAX);
        return false;
    }
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        const char *id = json_string_value(json_array_get(nodes, i));
        if (!id || strlen(id) != json_string_length(json_array_get(nodes, i))) {
            WHY("nodes[%zu]: not a string", i);
            return false;
        }
        r->nodes[r->n_nodes++] = hs_xstrdup(id);
    }
    return true;
}

static bool parts_from_json(const json_t *root, struct hs_txn_record *r, char *why, size_t why_len)
{
    static const char *const keys[] = {"part", "segs", "width"};
    json_t *parts = json_object_get(root, "parts");
    if (!json_is_array(parts) || json_array_size(parts) > HS_ARRAY_LEN(r->parts)) {
        WHY("parts: want an array of at most %zu parts", HS_ARRAY_LEN(r->parts));
        return false;
    }
    for (size_t i = 0; i < json_array_size(parts); i++) {
        json_t *p = json_array_get(parts, i);
        char path[32];
        snprintf(path, sizeof path, "parts[%zu]", i);
        int64_t part = 0, segs = 0, width = 0;
        if (!hs_mj_check_keys(p, keys, HS_ARRAY_LEN(keys), path, why, why_len) ||
            !hs_mj_int(p, "part", path, HS_META_PART_DATA, HS_META_PART_COLD, &part, why,
                       why_len) ||
            !hs_mj_int(p, "segs", path, 0, HS_TXN_SEGS_MAX, &segs, why, why_len) ||
            !hs_mj_int(p, "width", path, 1, HS_TXN_NODES_MAX, &width, why, why_len))
            return false;
        r->parts[r->n_parts++] = (struct hs_txn_part){
            .part = (enum hs_meta_blob_part)part, .segs = (uint32_t)segs, .width = (uint32_t)width};
    }
    return true;
}

static bool record_from_json(const json_t *root, int64_t version, struct hs_txn_record *r,
                             char *why, size_t why_len)
{
    static const char *const keys_v1[] = {"v", "state", "txn", "key", "owner", "start_ms", "blobs"};
    static const char *const keys_v2[] = {"v",        "state",    "txn",   "key",  "owner",
                                          "start_ms", "alive_ms", "nodes", "parts"};
    char *state = NULL;
    bool ok = version == 1
                  ? hs_mj_check_keys(root, keys_v1, HS_ARRAY_LEN(keys_v1), "record", why, why_len)
                  : hs_mj_check_keys(root, keys_v2, HS_ARRAY_LEN(keys_v2), "record", why, why_len);
    ok = ok && hs_mj_str(root, "state", "", &state, why, why_len);
    if (ok && (!state_parse(state, &r->state) || (version == 1 && r->state != HS_TXN_PENDING))) {
        WHY("state: unknown state '%.40s'", state);
        ok = false;
    }
    free(state);
    r->version = version;
    ok = ok && hs_mj_str(root, "txn", "", &r->txn_id, why, why_len) &&
         hs_mj_str(root, "key", "", &r->key, why, why_len) &&
         hs_mj_str(root, "owner", "", &r->owner_id, why, why_len) &&
         hs_mj_int(root, "start_ms", "", 0, INT64_MAX, &r->start_ms, why, why_len);
    if (!ok)
        return false;
    if (version == 1) {
        r->alive_ms = r->start_ms;
        return blobs_from_json(root, r, why, why_len);
    }
    return hs_mj_int(root, "alive_ms", "", 0, INT64_MAX, &r->alive_ms, why, why_len) &&
           nodes_from_json(root, r, why, why_len) && parts_from_json(root, r, why, why_len);
}

enum hs_err hs_txn_record_decode(const void *data, size_t len, struct hs_txn_record *out, char *why,
                                 size_t why_len)
{
    json_t *root = NULL;
    int64_t version = 0;
    enum hs_err err =
        hs_mj_load_versions(data, len, 1, HS_TXN_RECORD_VERSION, &root, &version, why, why_len);
    if (err != HS_OK)
        return err;
    struct hs_txn_record r;
    hs_txn_record_init(&r);
    err = HS_ECORRUPT;
    if (record_from_json(root, version, &r, why, why_len) &&
        hs_txn_record_validate(&r, why, why_len) == HS_OK) {
        err = HS_OK;
        if (version >= 2)
            hs_txn_record_expand(&r);
    }
    json_decref(root);
    if (err != HS_OK) {
        hs_txn_record_release(&r);
        return err;
    }
    *out = r;
    return HS_OK;
}
