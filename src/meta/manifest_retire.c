/* manifest_retire.c - retire records (value of retire/<id>, format table in
 * include/hs/manifest.h): the blobs a commit or a delete stopped referencing, kept until the
 * healer's sweeper has deleted them after the grace. Blob ids are grouped by the txn id that
 * starts them, so a record of a large object stays small (~25 bytes a blob). Decoding is as
 * strict as for manifests: a record that does not validate names nothing to delete. */
#include "hs/manifest.h"

#include <stdlib.h>
#include <string.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "manifest_int.h"
#include "hs/banned.h"

#define WHY(...) hs_meta_why(why, why_len, __VA_ARGS__)

void hs_retire_record_init(struct hs_retire_record *r)
{
    memset(r, 0, sizeof(*r));
}

void hs_retire_record_release(struct hs_retire_record *r)
{
    if (!r)
        return;
    free(r->key);
    for (size_t i = 0; i < r->n_blobs; i++) {
        free(r->blobs[i].blob_id);
        free(r->blobs[i].node_id);
    }
    free(r->blobs);
    memset(r, 0, sizeof(*r));
}

void hs_retire_record_add(struct hs_retire_record *r, const struct hs_meta_blob_loc *locs, size_t n)
{
    r->blobs = hs_xrealloc(r->blobs, (r->n_blobs + n + 1) * sizeof(*r->blobs));
    for (size_t i = 0; i < n; i++) {
        r->blobs[r->n_blobs].blob_id = hs_xstrdup(locs[i].blob_id);
        r->blobs[r->n_blobs].node_id = hs_xstrdup(locs[i].node_id);
        r->n_blobs++;
    }
}

enum hs_err hs_retire_record_validate(const struct hs_retire_record *r, char *why, size_t why_len)
{
    if (!r->key || !hs_meta_object_key_valid(r->key, strlen(r->key))) {
        WHY("key: not a valid object key");
        return HS_EINVAL;
    }
    if (r->retired_ms < 0) {
        WHY("ms: negative");
        return HS_EINVAL;
    }
    for (size_t i = 0; i < r->n_blobs; i++) {
        if (!hs_meta_blob_id_valid(r->blobs[i].blob_id)) {
            WHY("blobs[%zu]: not a valid blob id", i);
            return HS_EINVAL;
        }
        if (!hs_meta_node_id_valid(r->blobs[i].node_id)) {
            WHY("blobs[%zu]: not a valid node id", i);
            return HS_EINVAL;
        }
    }
    struct hs_meta_blob_loc *locs = hs_xcalloc(r->n_blobs + 1, sizeof(*locs));
    for (size_t i = 0; i < r->n_blobs; i++)
        locs[i] = (struct hs_meta_blob_loc){r->blobs[i].blob_id, r->blobs[i].node_id};
    struct hs_meta_blob_loc dup;
    enum hs_err err = HS_OK;
    if (!hs_meta_locs_unique(locs, r->n_blobs, &dup)) {
        WHY("blobs: blob '%s' on node '%s' is listed twice", dup.blob_id, dup.node_id);
        err = HS_EINVAL;
    }
    free(locs);
    return err;
}

/* The txn id a blob id starts with ("" when it is not a minted id) and the rest after it. */
static void split_id(const char *id, char txn[HS_TXN_ID_BUF], const char **rest)
{
    if (hs_meta_blob_id_parse(id, txn, NULL, NULL, NULL) == HS_OK) {
        *rest = id + strlen(txn) + 1;
    } else {
        txn[0] = '\0';
        *rest = id;
    }
}

/* The set of sets whose "txn" is txn, added when missing. */
static json_t *set_for(json_t *sets, const char *txn)
{
    for (size_t i = json_array_size(sets); i-- > 0;) {
        json_t *s = json_array_get(sets, i);
        if (strcmp(json_string_value(json_object_get(s, "txn")), txn) == 0)
            return json_object_get(s, "blobs");
    }
    json_t *s = json_object();
    hs_mj_set(s, "txn", hs_mj_string(txn));
    hs_mj_set(s, "blobs", json_array());
    if (json_array_append_new(sets, s) != 0)
        HS_BUG("cannot append to a JSON array");
    return json_object_get(s, "blobs");
}

enum hs_err hs_retire_record_encode(const struct hs_retire_record *r, char **out, size_t *len_out,
                                    char *why, size_t why_len)
{
    enum hs_err err = hs_retire_record_validate(r, why, why_len);
    if (err != HS_OK)
        return err;
    json_t *root = json_object();
    json_t *sets = json_array();
    hs_mj_set(root, "v", json_integer(HS_RETIRE_RECORD_VERSION));
    hs_mj_set(root, "key", hs_mj_string(r->key));
    hs_mj_set(root, "ms", json_integer(r->retired_ms));
    for (size_t i = 0; i < r->n_blobs; i++) {
        char txn[HS_TXN_ID_BUF];
        const char *rest;
        split_id(r->blobs[i].blob_id, txn, &rest);
        json_t *pair = json_array();
        if (json_array_append_new(pair, hs_mj_string(rest)) != 0 ||
            json_array_append_new(pair, hs_mj_string(r->blobs[i].node_id)) != 0 ||
            json_array_append_new(set_for(sets, txn), pair) != 0)
            HS_BUG("cannot append to a JSON array");
    }
    hs_mj_set(root, "sets", sets);
    return hs_mj_dump(root, out, len_out, why, why_len);
}

/* One [rest, node] pair of set `txn` into r->blobs. */
static bool pair_from_json(const json_t *pair, const char *txn, const char *path,
                           struct hs_retire_record *r, char *why, size_t why_len)
{
    const char *rest = json_string_value(json_array_get(pair, 0));
    const char *node = json_string_value(json_array_get(pair, 1));
    if (!json_is_array(pair) || json_array_size(pair) != 2 || !rest || !node ||
        strlen(rest) != json_string_length(json_array_get(pair, 0)) ||
        strlen(node) != json_string_length(json_array_get(pair, 1))) {
        WHY("%s: want [id, node] strings", path);
        return false;
    }
    char *id = *txn ? hs_xasprintf("%s.%s", txn, rest) : hs_xstrdup(rest);
    r->blobs[r->n_blobs].blob_id = id;
    r->blobs[r->n_blobs].node_id = hs_xstrdup(node);
    r->n_blobs++;
    return true;
}

static bool sets_from_json(const json_t *root, struct hs_retire_record *r, char *why,
                           size_t why_len)
{
    static const char *const keys[] = {"txn", "blobs"};
    json_t *sets = json_object_get(root, "sets");
    if (!json_is_array(sets)) {
        WHY("sets: missing or not an array");
        return false;
    }
    size_t total = 0;
    for (size_t i = 0; i < json_array_size(sets); i++)
        total += json_array_size(json_object_get(json_array_get(sets, i), "blobs"));
    r->blobs = hs_xcalloc(total + 1, sizeof(*r->blobs));
    for (size_t i = 0; i < json_array_size(sets); i++) {
        json_t *set = json_array_get(sets, i);
        char path[48];
        snprintf(path, sizeof path, "sets[%zu]", i);
        char *txn = NULL;
        if (!hs_mj_check_keys(set, keys, HS_ARRAY_LEN(keys), path, why, why_len) ||
            !hs_mj_str(set, "txn", path, &txn, why, why_len))
            return false;
        bool ok = *txn == '\0' || hs_meta_txn_id_valid(txn);
        if (!ok)
            WHY("%s.txn: not a txn id", path);
        json_t *blobs = json_object_get(set, "blobs");
        if (ok && !json_is_array(blobs)) {
            WHY("%s.blobs: missing or not an array", path);
            ok = false;
        }
        for (size_t j = 0; ok && j < json_array_size(blobs); j++) {
            char ppath[96];
            snprintf(ppath, sizeof ppath, "%s.blobs[%zu]", path, j);
            ok = pair_from_json(json_array_get(blobs, j), txn, ppath, r, why, why_len);
        }
        free(txn);
        if (!ok)
            return false;
    }
    return true;
}

enum hs_err hs_retire_record_decode(const void *data, size_t len, struct hs_retire_record *out,
                                    char *why, size_t why_len)
{
    static const char *const keys[] = {"v", "key", "ms", "sets"};
    json_t *root = NULL;
    enum hs_err err = hs_mj_load(data, len, HS_RETIRE_RECORD_VERSION, &root, why, why_len);
    if (err != HS_OK)
        return err;
    struct hs_retire_record r;
    hs_retire_record_init(&r);
    err = HS_ECORRUPT;
    if (hs_mj_check_keys(root, keys, HS_ARRAY_LEN(keys), "record", why, why_len) &&
        hs_mj_str(root, "key", "", &r.key, why, why_len) &&
        hs_mj_int(root, "ms", "", 0, INT64_MAX, &r.retired_ms, why, why_len) &&
        sets_from_json(root, &r, why, why_len) &&
        hs_retire_record_validate(&r, why, why_len) == HS_OK)
        err = HS_OK;
    json_decref(root);
    if (err != HS_OK) {
        hs_retire_record_release(&r);
        return err;
    }
    *out = r;
    return HS_OK;
}
