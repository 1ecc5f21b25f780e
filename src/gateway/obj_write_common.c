/* obj_write_common.c - what every write strategy does around its parts (obj_write_int.h):
 * the geometry from the cluster settings, beginning the transaction with a quorum check and
 * the write's conditions, and the answer of a committed write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/obj_write_int.h"
#include "hs/mem.h"
#include "hs/banned.h"

void hs_wr_common_init(struct hs_wr_common *c, struct hs_gw *gw)
{
    memset(c, 0, sizeof *c);
    c->gw = gw;
    struct hs_gw_settings s;
    hs_gw_settings_get(gw, &s);
    size_t S = hs_codec_stripe_bytes_for(s.ec_k, (size_t)gw->opts.stripe_bytes);
    c->geom = (struct hs_part_geom){.replicas = s.replicas,
                                    .ec_k = s.ec_k,
                                    .ec_m = s.ec_m,
                                    .stripe_bytes = (int64_t)(S / s.ec_k), /* shard bytes */
                                    .segment_bytes = gw->opts.segment_bytes};
    hs_manifest_init(&c->next);
}

void hs_wr_common_release(struct hs_wr_common *c)
{
    hs_gw_txn_free(c->txn);
    c->txn = NULL;
    hs_manifest_release(&c->next);
    hs_part_tally_release(&c->tally);
}

enum hs_err hs_wr_begin(struct hs_wr_common *c, const struct hs_part *need, enum hs_strategy s,
                        const struct hs_txn_plan *plan, char *msg, size_t msg_len)
{
    struct hs_gw_txn *t = NULL;
    enum hs_err err = hs_gw_txn_new(c->gw, c->key, c->req_id, &t, msg, msg_len);
    if (err != HS_OK)
        return err;
    err = hs_gw_txn_need(t, need, hs_strategy_name(s), msg, msg_len);
    if (err == HS_OK)
        err = hs_gw_txn_open(t, plan, msg, msg_len);
    if (err == HS_OK)
        err = hs_txn_conds_check(&c->conds, hs_gw_txn_current(t), msg, msg_len);
    if (err != HS_OK) {
        hs_gw_txn_free(t); /* deletes the WAL record it may have put */
        return err;
    }
    if (c->keep_identity)
        hs_gw_txn_keep_identity(t);
    c->txn = t;
    return HS_OK;
}

struct hs_manifest_attrs *hs_wr_attrs_carry(const struct hs_manifest_attrs *a)
{
    struct hs_manifest_attrs *d = hs_manifest_attrs_dup(a);
    if (!d)
        return NULL;
    free(d->checksum_alg);
    free(d->checksum);
    free(d->checksum_type);
    d->checksum_alg = d->checksum = d->checksum_type = NULL;
    if (hs_manifest_attrs_empty(d)) {
        hs_manifest_attrs_free(d);
        return NULL;
    }
    return d;
}

enum hs_err hs_wr_commit(struct hs_wr_common *c, hs_gw_txn_retry_fn retry, void *ctx, char *msg,
                         size_t msg_len)
{
    hs_gw_txn_set_etag(c->txn, c->etag);
    return hs_gw_txn_commit(c->txn, &c->next, retry, ctx, msg, msg_len);
}

void hs_wr_result(struct hs_wr_common *c, enum hs_strategy s, bool pure_hot,
                  struct hs_obj_put_result *res)
{
    memset(res, 0, sizeof *res);
    res->strategy = s;
    res->size_bytes = c->next.size_bytes;
    res->version = c->next.version;
    snprintf(res->etag, sizeof res->etag, "%s", c->next.etag);
    res->created = hs_gw_txn_current(c->txn) == NULL;
    snprintf(res->trace_id, sizeof res->trace_id, "%s", hs_gw_txn_id(c->txn));
    res->nodes_written = c->tally.urls;
    res->n_nodes_written = c->tally.n_urls;
    c->tally.urls = NULL;
    c->tally.n_urls = 0;
    res->chunks_written = c->tally.chunks_written;
    res->total_chunks = c->tally.total_chunks;
    res->pure_hot_update = pure_hot;
    res->degraded = hs_gw_txn_degraded(c->txn);
}
