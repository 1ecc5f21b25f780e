/* register.c - the node's membership in etcd: /hybridstore/v1/nodes/<node-id> = JSON
 * {"id","url","zone","capacity_bytes","free_bytes","started_ms"}. The lease, keeper,
 * re-registration with back-off, value refresh and logging are the generic registration module
 * (include/hs/registration.h); this file only says what the value is. */
#include <inttypes.h>
#include <stdlib.h>

#include "hs/etcd.h"
#include "hs/mem.h"
#include "hs/registration.h"
#include "node/node_int.h"
#include "hs/banned.h"

struct hs_node_reg {
    struct hs_registration *reg;
};

char *hs_node_reg_value(const struct hs_node *node)
{
    struct hs_blob_stats bs;
    hs_blob_store_stats(node->store, &bs);
    return hs_xasprintf("{\"id\":\"%s\",\"url\":\"%s\",\"zone\":\"%s\",\"capacity_bytes\":%" PRId64
                        ",\"free_bytes\":%" PRId64 ",\"started_ms\":%" PRId64 "}",
                        node->node_id, node->url, node->zone, bs.total_bytes, bs.free_bytes,
                        node->started_ms);
}

static char *reg_value(void *ctx)
{
    return hs_node_reg_value(ctx);
}

enum hs_err hs_node_reg_start(const struct hs_node_reg_opts *opts, struct hs_node_reg **out)
{
    char *key = hs_xasprintf("%snodes/%s", HS_ETCD_ROOT, opts->node->node_id);
    struct hs_registration_opts ro = {
        .endpoints = opts->endpoints,
        .key = key,
        .ttl_s = opts->ttl_s,
        .refresh_ms = opts->refresh_ms,
        .value = reg_value,
        .value_ctx = (void *)opts->node,
        .label = "node",
        .id = opts->node->node_id,
    };
    struct hs_registration *reg = NULL;
    enum hs_err err = hs_registration_start(&ro, &reg);
    free(key);
    if (err != HS_OK)
        return err;
    struct hs_node_reg *nr = hs_xcalloc(1, sizeof *nr);
    nr->reg = reg;
    *out = nr;
    return HS_OK;
}

void hs_node_reg_stop(struct hs_node_reg *nr)
{
    if (!nr)
        return;
    hs_registration_stop(nr->reg);
    free(nr);
}
