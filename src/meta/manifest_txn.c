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

void hs_txn_record_blob_locs(const struct hs_txn_record *r, struct hs_blob_loc **out, size_t *n_out)
{
    struct hs_blob_loc *locs = hs_xcalloc(r->n_blobs, sizeof(*locs));
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
    json_t *root = json_object();
    json_t *blobs = json_array();
    hs_mj_set(root, "v", json_integer(HS_TXN_RECORD_VERSION));
    hs_mj_set(root, "state", hs_mj_string("PENDING"));
    hs_mj_set(root, "txn", hs_mj_string(r->txn_id));
    hs_mj_set(root, "key", hs_mj_string(r->key));
    hs_mj_set(root, "owner", hs_mj_string(r->owner_id));
    hs_mj_set(root, "start_ms", json_integer(r->start_ms));
    for (size_t i = 0; i < r->n_blobs; i++) {
        json_t *b = json_object();
        hs_mj_set(b, "id", hs_mj_string(r->blobs[i].blob_id));
        hs_mj_set(b, "node", hs_mj_string(r->blobs[i].node_id));
        if (json_array_append_new(blobs, b) != 0)
            HS_BUG("cannot append to a JSON array");
    }
    hs_mj_set(root, "blobs", blobs);
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

static bool record_from_json(const json_t *root, struct hs_txn_record *r, char *why, size_t why_len)
{
    static const char *const keys[] = {"v", "state", "txn", "key", "owner", "start_ms", "blobs"};
    char *state = NULL;
    bool ok = hs_mj_check_keys(root, keys, HS_ARRAY_LEN(keys), "record", why, why_len) &&
              hs_mj_str(root, "state", "", &state, why, why_len);
    if (ok && strcmp(state, "PENDING") != 0) {
        WHY("state: unknown state '%.40s'", state);
        ok = false;
    }
    free(state);
    r->state = HS_TXN_PENDING;
    return ok && hs_mj_str(root, "txn", "", &r->txn_id, why, why_len) &&
           hs_mj_str(root, "key", "", &r->key, why, why_len) &&
           hs_mj_str(root, "owner", "", &r->owner_id, why, why_len) &&
           hs_mj_int(root, "start_ms", "", 0, INT64_MAX, &r->start_ms, why, why_len) &&
           blobs_from_json(root, r, why, why_len);
}

enum hs_err hs_txn_record_decode(const void *data, size_t len, struct hs_txn_record *out, char *why,
                                 size_t why_len)
{
    json_t *root = NULL;
    enum hs_err err = hs_mj_load(data, len, HS_TXN_RECORD_VERSION, &root, why, why_len);
    if (err != HS_OK)
        return err;
    struct hs_txn_record r;
    hs_txn_record_init(&r);
    err = HS_ECORRUPT;
    if (record_from_json(root, &r, why, why_len) &&
        hs_txn_record_validate(&r, why, why_len) == HS_OK)
        err = HS_OK;
    json_decref(root);
    if (err != HS_OK) {
        hs_txn_record_release(&r);
        return err;
    }
    *out = r;
    return HS_OK;
}
