/* retire_etcd.c - the retire sweeper's etcd requests, batched (retire_int.h): the current
 * manifests of a group of records in one read-only transaction, and the group's records
 * deleted in one fenced transaction that compares every record's mod_revision. Knows nothing
 * of the healer beyond the fence compare it is given; tested against a real etcd
 * (tests/unit/live_retire.c).
 *
 * etcd applies a transaction all or nothing: one record changed since the sweeper read it
 * fails the whole delete. The failure branch then reads the leader key and every record, so
 * one answer tells a lost fence (nothing deleted, the caller steps down) from changed or gone
 * records, which are left out of the next round; the others go in that round. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "healer/retire_int.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define DROP_ROUNDS 3 /* a record changing again in every round is left for the next pass */

enum hs_err hs_retire_read_many(struct hs_etcd *e, const char *const *keys, size_t n,
                                struct hs_etcd_kvs *out)
{
    assert(n <= HS_RETIRE_TXN_RECORDS);
    if (n == 0)
        return HS_OK;
    /* the same key twice would make etcd (and our client) refuse the transaction */
    struct hs_etcd_op *ops = hs_xcalloc(n, sizeof *ops);
    size_t *slot = hs_xcalloc(n, sizeof *slot); /* keys[i] is read by ops[slot[i]] */
    size_t n_ops = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < n_ops && strcmp(ops[j].key, keys[i]) != 0)
            j++;
        if (j == n_ops)
            ops[n_ops++] = (struct hs_etcd_op){.type = HS_ETCD_OP_RANGE, .key = keys[i]};
        slot[i] = j;
    }
    struct hs_etcd_txn txn = {.success = ops, .n_success = n_ops};
    struct hs_etcd_txn_result res = {0};
    enum hs_err err = hs_etcd_txn(e, &txn, &res);
    if (err == HS_OK && (!res.succeeded || res.n_ranges != n_ops))
        err = HS_EPROTO;
    if (err == HS_OK) {
        for (size_t i = 0; i < n; i++) {
            const struct hs_etcd_kvs *src = &res.ranges[slot[i]];
            out[i] = (struct hs_etcd_kvs){.revision = res.revision};
            if (src->n == 0)
                continue;
            out[i].n = out[i].count = 1;
            out[i].kvs = hs_xcalloc(1, sizeof *out[i].kvs);
            const struct hs_etcd_kv *kv = &src->kvs[0];
            out[i].kvs[0] = *kv;
            out[i].kvs[0].key = hs_xstrdup(kv->key);
            out[i].kvs[0].value = hs_xmalloc(kv->value_len + 1);
            memcpy(out[i].kvs[0].value, kv->value, kv->value_len);
            out[i].kvs[0].value[kv->value_len] = 0;
        }
    }
    hs_etcd_txn_result_release(&res);
    free(slot);
    free(ops);
    return err;
}

/* One round: deletes every record in d[] still marked as a candidate. */
static enum hs_err drop_round(struct hs_etcd *e, const struct hs_etcd_cmp *fence,
                              struct hs_retire_drop *d, size_t n, bool *cand, bool *again,
                              int64_t *txns)
{
    struct hs_etcd_cmp *cmps = hs_xcalloc(n + 1, sizeof *cmps);
    struct hs_etcd_op *del = hs_xcalloc(n, sizeof *del);
    struct hs_etcd_op *rd = hs_xcalloc(n + 1, sizeof *rd);
    size_t *at = hs_xcalloc(n, sizeof *at); /* candidate k is d[at[k]] */
    size_t m = 0;
    cmps[0] = *fence;
    rd[0] = (struct hs_etcd_op){.type = HS_ETCD_OP_RANGE, .key = fence->key};
    for (size_t i = 0; i < n; i++) {
        if (!cand[i])
            continue;
        cmps[m + 1] = (struct hs_etcd_cmp){.target = HS_ETCD_CMP_MOD,
                                           .result = HS_ETCD_EQUAL,
                                           .key = d[i].key,
                                           .number = d[i].mod_rev};
        del[m] = (struct hs_etcd_op){.type = HS_ETCD_OP_DELETE, .key = d[i].key};
        rd[m + 1] = (struct hs_etcd_op){.type = HS_ETCD_OP_RANGE, .key = d[i].key};
        at[m++] = i;
    }
    struct hs_etcd_txn txn = {.cmps = cmps,
                              .n_cmps = m + 1,
                              .success = del,
                              .n_success = m,
                              .failure = rd,
                              .n_failure = m + 1};
    struct hs_etcd_txn_result res = {0};
    *again = false;
    enum hs_err err = hs_etcd_txn(e, &txn, &res);
    (*txns)++;
    if (err != HS_OK)
        goto out;
    if (res.succeeded) {
        for (size_t k = 0; k < m; k++) {
            d[at[k]].dropped = true;
            cand[at[k]] = false;
        }
        goto out;
    }
    if (res.n_ranges != m + 1) {
        err = HS_EPROTO;
        goto out;
    }
    const struct hs_etcd_kvs *leader = &res.ranges[0];
    if (leader->n == 0 || leader->kvs[0].create_revision != fence->number) {
        err = HS_ECONFLICT; /* the fence failed: not ours to delete anything */
        goto out;
    }
    /* some records changed or went since they were read: leave those, try the rest again */
    for (size_t k = 0; k < m; k++) {
        const struct hs_etcd_kvs *r = &res.ranges[k + 1];
        if (r->n == 0 || r->kvs[0].mod_revision != d[at[k]].mod_rev)
            cand[at[k]] = false;
        else
            *again = true;
    }
out:
    hs_etcd_txn_result_release(&res);
    free(at);
    free(rd);
    free(del);
    free(cmps);
    return err;
}

enum hs_err hs_retire_drop_many(struct hs_etcd *e, const struct hs_etcd_cmp *fence,
                                struct hs_retire_drop *d, size_t n, int64_t *txns_out)
{
    assert(fence && fence->target == HS_ETCD_CMP_CREATE && n <= HS_RETIRE_TXN_RECORDS);
    int64_t txns = 0;
    enum hs_err err = HS_OK;
    bool *cand = hs_xcalloc(n ? n : 1, sizeof *cand);
    bool again = n > 0;
    for (size_t i = 0; i < n; i++) {
        d[i].dropped = false;
        cand[i] = true;
    }
    for (int round = 0; round < DROP_ROUNDS && again && err == HS_OK; round++)
        err = drop_round(e, fence, d, n, cand, &again, &txns);
    free(cand);
    if (txns_out)
        *txns_out += txns;
    return err;
}
