/* obj_delete.c - deleting an object: a compare-and-delete transaction removes meta/<key> and
 * repair/<key> only if the manifest is still the one read (a concurrent writer's new version
 * is never removed by a delete of the old one) and, in the same transaction, retires the blobs
 * that manifest named (retire/<id>); then the blobs are deleted in parallel before the answer,
 * so storage is given back at once (the reference API's /storage_usage drops to 0). Whatever
 * cannot be deleted now (a node down, the gateway killed) is still named by the retire record,
 * which the healer's sweeper finishes after its grace. A manifest that cannot be decoded is
 * deleted the same way (compare on its mod_revision), but its blobs cannot be named: they are
 * left to GC. The transaction itself is txn.c's (hs_gw_txn_delete_object). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/txn.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define DELETE_ATTEMPTS_MAX 16 /* concurrent writers before giving up (409) */

/* Counts what was deleted per part of m; deleted[] follows hs_manifest_blob_locs order. */
static void count_deleted(const struct hs_manifest *m, const bool *deleted,
                          struct hs_obj_delete_result *res)
{
    size_t i = 0;
    const struct hs_part *parts[3] = {&m->data, &m->hot, &m->cold};
    for (size_t p = 0; p < 3; p++) {
        for (size_t s = 0; s < parts[p]->n_segments; s++) {
            for (size_t b = 0; b < parts[p]->segments[s].n_blobs; b++, i++) {
                if (!deleted[i])
                    continue;
                if (p == 1)
                    res->hot_deleted++;
                else if (p == 2)
                    res->cold_deleted++;
                else if (parts[p]->kind == HS_PART_EC)
                    res->chunks_deleted++;
                else
                    res->replicas_deleted++;
            }
        }
    }
}

/* Reads meta/<key>. A manifest that cannot be decoded (a bad number, a newer format) is not
 * an error here: *unreadable is set and *rev is still its mod_revision, so that it can be
 * deleted (its blobs cannot be named; the healer's GC collects them once the key is gone). */
static enum hs_err read_manifest(struct hs_gw *gw, const char *meta_key, struct hs_manifest *m,
                                 int64_t *rev, bool *unreadable, char *msg, size_t msg_len)
{
    struct hs_etcd_kvs kvs = {0};
    enum hs_err err = hs_etcd_get(gw->etcd, meta_key, &kvs);
    if (err != HS_OK) {
        snprintf(msg, msg_len, "etcd is not available: %s", hs_err_name(err));
        return HS_EUNAVAIL;
    }
    if (kvs.n == 0) {
        hs_etcd_kvs_release(&kvs);
        snprintf(msg, msg_len, "no such object");
        return HS_ENOENT;
    }
    char why[160] = "";
    err = hs_manifest_decode(kvs.kvs[0].value, kvs.kvs[0].value_len, m, why, sizeof why);
    *unreadable = err != HS_OK;
    if (*unreadable) {
        hs_manifest_release(m);
        HS_LOG_WARN("manifest_unreadable", "key='%s' op=delete why='%s'", meta_key, why);
        snprintf(msg, msg_len, "the stored manifest cannot be read: %s", why);
    }
    *rev = kvs.kvs[0].mod_revision;
    hs_etcd_kvs_release(&kvs);
    return HS_OK;
}

enum hs_err hs_obj_delete(struct hs_gw *gw, const char *key, size_t key_len, const char *if_match,
                          struct hs_obj_delete_result *res, char *msg, size_t msg_len)
{
    if (!hs_meta_object_key_valid(key, key_len)) {
        snprintf(msg, msg_len, "invalid key: want 1..%d bytes of UTF-8 without control characters",
                 HS_OBJECT_KEY_MAX);
        return HS_EINVAL;
    }
    char *k = hs_xstrndup(key, key_len), *meta_key = NULL;
    if (hs_meta_key_meta(k, &meta_key) != HS_OK)
        HS_BUG("etcd keys for a validated key");
    struct hs_manifest m;
    hs_manifest_init(&m);
    enum hs_err err = HS_OK;
    bool done = false, unreadable = false;
    for (int attempt = 0; !done; attempt++) {
        int64_t rev = 0;
        hs_manifest_release(&m);
        if (attempt == DELETE_ATTEMPTS_MAX) {
            snprintf(msg, msg_len, "too many concurrent writers to this key");
            err = HS_ECONFLICT;
            break;
        }
        if ((err = read_manifest(gw, meta_key, &m, &rev, &unreadable, msg, msg_len)) != HS_OK)
            break;
        if (if_match && unreadable) {
            /* its ETag cannot be read, so it cannot match: delete it without If-Match */
            err = HS_EPRECONDITION;
            break;
        }
        if (if_match && strcmp(m.etag, if_match) != 0) {
            snprintf(msg, msg_len, "the current version does not have ETag \"%s\"", if_match);
            err = HS_EPRECONDITION;
            break;
        }
        if ((err = hs_gw_txn_delete_object(gw, k, rev, unreadable ? NULL : &m, &done)) != HS_OK) {
            snprintf(msg, msg_len, "etcd did not confirm the delete: %s", hs_err_name(err));
            err = HS_EUNAVAIL;
            break;
        }
    }
    if (err == HS_OK && unreadable) {
        HS_LOG_WARN("unreadable_manifest_deleted", "key='%s' blobs=left_for_gc", k);
        *res = (struct hs_obj_delete_result){.strategy = m.strategy};
    } else if (err == HS_OK) {
        struct hs_obj_delete_result r = {.strategy = m.strategy};
        struct hs_meta_blob_loc *locs = NULL;
        size_t n = 0;
        hs_manifest_blob_locs(&m, &locs, &n);
        bool *deleted = hs_xcalloc(n + 1, sizeof *deleted);
        size_t failures = hs_gw_delete_blobs(gw, locs, n, deleted);
        if (failures)
            HS_LOG_WARN("deleted_blobs_left", "key='%s' version=%" PRId64 " failures=%zu", k,
                        m.version, failures); /* the retire record still names them */
        count_deleted(&m, deleted, &r);
        *res = r;
        free(deleted);
        free(locs);
    }
    hs_manifest_release(&m);
    free(k);
    free(meta_key);
    return err;
}
