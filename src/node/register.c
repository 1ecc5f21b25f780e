/* register.c - the node's membership in etcd: /hybridstore/v1/nodes/<node-id> = the node
 * registration value (format and decoder: include/hs/registration.h), refreshed every refresh
 * interval: free space, blob count, and the data dir's identity (`volume`, kept in
 * <data-dir>/.hs-volume-id and made on the first start in a data dir, so a new or wiped disk
 * shows up as a new volume and the healer refills it at once). The lease, keeper,
 * re-registration with back-off and logging are the generic registration module. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "hs/daemon.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/registration.h"
#include "node/node_int.h"
#include "hs/banned.h"

#define VOLUME_ID_FILE ".hs-volume-id"

struct hs_node_reg {
    struct hs_registration *reg;
    const struct hs_node *node;
    char *volume; /* heap, or NULL when the file could not be made (the value leaves it out) */
};

/* <data-dir>/.hs-volume-id, created atomically (temp file, fsync, rename) when missing. */
static char *volume_id_load(const char *dir)
{
    char *path = hs_xasprintf("%s/" VOLUME_ID_FILE, dir);
    char *id = hs_daemon_read_trimmed(path, 64);
    if (id && *id) {
        free(path);
        return id;
    }
    free(id);
    id = hs_daemon_random_id();
    if (!hs_daemon_write_id_file(path, id)) {
        int saved = errno;
        char eb[128];
        HS_LOG_WARN("volume_id_write_failed", "path='%s' errno=%d err='%s'", path, saved,
                    hs_errno_text(saved, eb, sizeof eb));
        free(id);
        id = NULL;
    } else {
        HS_LOG_INFO("volume_id_created", "path='%s' volume=%s", path, id);
    }
    free(path);
    return id;
}

static char *value_of(const struct hs_node *node, const char *volume)
{
    struct hs_blob_stats bs;
    hs_blob_store_stats(node->store, &bs);
    struct hs_node_registration r = {.id = (char *)node->node_id,
                                     .url = (char *)node->url,
                                     .zone = (char *)node->zone,
                                     .volume = (char *)volume,
                                     .capacity_bytes = bs.total_bytes,
                                     .free_bytes = bs.free_bytes,
                                     .started_ms = node->started_ms,
                                     .blobs = bs.blobs};
    return hs_node_registration_encode(&r);
}

char *hs_node_reg_value(const struct hs_node *node)
{
    return value_of(node, NULL);
}

static char *reg_value(void *ctx)
{
    const struct hs_node_reg *nr = ctx;
    return value_of(nr->node, nr->volume);
}

enum hs_err hs_node_reg_start(const struct hs_node_reg_opts *opts, struct hs_node_reg **out)
{
    struct hs_node_reg *nr = hs_xcalloc(1, sizeof *nr);
    nr->node = opts->node;
    nr->volume = opts->data_dir ? volume_id_load(opts->data_dir) : NULL;
    char *key = NULL;
    if (hs_meta_key_node(opts->node->node_id, &key) != HS_OK) {
        free(nr->volume);
        free(nr);
        return HS_EINVAL;
    }
    struct hs_registration_opts ro = {
        .endpoints = opts->endpoints,
        .key = key,
        .ttl_s = opts->ttl_s,
        .refresh_ms = opts->refresh_ms,
        .value = reg_value,
        .value_ctx = nr,
        .label = "node",
        .id = opts->node->node_id,
    };
    enum hs_err err = hs_registration_start(&ro, &nr->reg);
    free(key);
    if (err != HS_OK) {
        free(nr->volume);
        free(nr);
        return err;
    }
    *out = nr;
    return HS_OK;
}

void hs_node_reg_stop(struct hs_node_reg *nr)
{
    if (!nr)
        return;
    hs_registration_stop(nr->reg);
    free(nr->volume);
    free(nr);
}
