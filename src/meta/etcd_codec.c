/* etcd_codec.c - pure decoding for the etcd client: one gRPC reply message (protobuf bytes, see
 * etcd.proto) in, plain C values out. proto3 leaves zero values off the wire, so a missing
 * field reads as 0/false/empty; only bytes that do not decode are a protocol error. Also the
 * mapping of gRPC statuses to our errors. No I/O: the fuzz target drives these directly. */
#include "meta/etcd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/mem.h"
#include "hs/banned.h"

void hs_etcd_prefix_end(const char *prefix, size_t len, uint8_t **end, size_t *end_len)
{
    uint8_t *out = hs_xmalloc(len + 1);
    memcpy(out, prefix, len);
    size_t n = len;
    while (n > 0 && out[n - 1] == 0xff)
        n--;
    if (n == 0) {
        /* "\0" as range_end means "every key >= key" in etcd */
        out[0] = 0;
        *end = out;
        *end_len = 1;
        return;
    }
    out[n - 1]++;
    *end = out;
    *end_len = n;
}

/* A heap copy of bytes with a NUL after them (keys are text to our callers). */
static uint8_t *dup_bytes(const ProtobufCBinaryData *b)
{
    uint8_t *p = hs_xmalloc(b->len + 1);
    if (b->len)
        memcpy(p, b->data, b->len);
    p[b->len] = 0;
    return p;
}

static int64_t header_rev(const Hsetcd__Header *h)
{
    return h ? h->revision : 0;
}

enum hs_err hs_etcd_kv_from_pb(const Hsetcd__KeyValue *pb, struct hs_etcd_kv *out)
{
    if (!pb)
        return HS_EPROTO;
    *out = (struct hs_etcd_kv){.key = (char *)dup_bytes(&pb->key),
                               .value = dup_bytes(&pb->value),
                               .value_len = pb->value.len,
                               .create_revision = pb->create_revision,
                               .mod_revision = pb->mod_revision,
                               .version = pb->version,
                               .lease = pb->lease};
    return HS_OK;
}

void hs_etcd_kv_release(struct hs_etcd_kv *kv)
{
    if (!kv)
        return;
    free(kv->key);
    free(kv->value);
    kv->key = NULL;
    kv->value = NULL;
    kv->value_len = 0;
}

void hs_etcd_kvs_release(struct hs_etcd_kvs *kvs)
{
    if (!kvs)
        return;
    for (size_t i = 0; i < kvs->n; i++)
        hs_etcd_kv_release(&kvs->kvs[i]);
    free(kvs->kvs);
    kvs->kvs = NULL;
    kvs->n = 0;
}

static enum hs_err range_from_pb(const Hsetcd__RangeResponse *pb, struct hs_etcd_kvs *out)
{
    struct hs_etcd_kvs r = {
        .revision = header_rev(pb->header), .count = pb->count, .more = pb->more};
    r.kvs = hs_xcalloc(pb->n_kvs ? pb->n_kvs : 1, sizeof *r.kvs);
    for (size_t i = 0; i < pb->n_kvs; i++) {
        enum hs_err err = hs_etcd_kv_from_pb(pb->kvs[i], &r.kvs[i]);
        if (err != HS_OK) {
            hs_etcd_kvs_release(&r);
            return err;
        }
        r.n++;
    }
    *out = r;
    return HS_OK;
}

enum hs_err hs_etcd_decode_range(const uint8_t *msg, size_t len, struct hs_etcd_kvs *out)
{
    Hsetcd__RangeResponse *pb = hsetcd__range_response__unpack(NULL, len, msg);
    if (!pb)
        return HS_EPROTO;
    enum hs_err err = range_from_pb(pb, out);
    hsetcd__range_response__free_unpacked(pb, NULL);
    return err;
}

void hs_etcd_txn_result_release(struct hs_etcd_txn_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_ranges; i++)
        hs_etcd_kvs_release(&r->ranges[i]);
    free(r->ranges);
    r->ranges = NULL;
    r->n_ranges = 0;
}

/* Fills res->ranges from the responses of the branch that ran (ops says which are ranges). */
static enum hs_err txn_ranges(const Hsetcd__TxnResponse *pb, const struct hs_etcd_op *ops,
                              size_t n_ops, struct hs_etcd_txn_result *res)
{
    size_t n_ranges = 0;
    for (size_t i = 0; i < n_ops; i++)
        n_ranges += ops[i].type == HS_ETCD_OP_RANGE;
    if (n_ranges == 0)
        return HS_OK;
    res->ranges = hs_xcalloc(n_ranges, sizeof *res->ranges);
    for (size_t i = 0; i < n_ops; i++) {
        if (ops[i].type != HS_ETCD_OP_RANGE)
            continue;
        const Hsetcd__ResponseOp *item = i < pb->n_responses ? pb->responses[i] : NULL;
        struct hs_etcd_kvs *dst = &res->ranges[res->n_ranges];
        if (item && item->response_case == HSETCD__RESPONSE_OP__RESPONSE_RESPONSE_RANGE) {
            enum hs_err err = range_from_pb(item->response_range, dst);
            if (err != HS_OK)
                return err;
        } else if (item && item->response_case != HSETCD__RESPONSE_OP__RESPONSE__NOT_SET) {
            return HS_EPROTO; /* another op's response where our range should be */
        } else {
            *dst = (struct hs_etcd_kvs){.revision = res->revision};
        }
        res->n_ranges++;
    }
    return HS_OK;
}

enum hs_err hs_etcd_decode_txn(const uint8_t *msg, size_t len, const struct hs_etcd_txn *txn,
                               struct hs_etcd_txn_result *out)
{
    Hsetcd__TxnResponse *pb = hsetcd__txn_response__unpack(NULL, len, msg);
    if (!pb)
        return HS_EPROTO;
    struct hs_etcd_txn_result r = {.succeeded = pb->succeeded, .revision = header_rev(pb->header)};
    enum hs_err err = r.succeeded ? txn_ranges(pb, txn->success, txn->n_success, &r)
                                  : txn_ranges(pb, txn->failure, txn->n_failure, &r);
    hsetcd__txn_response__free_unpacked(pb, NULL);
    if (err != HS_OK) {
        hs_etcd_txn_result_release(&r);
        return err;
    }
    *out = r;
    return HS_OK;
}

enum hs_err hs_etcd_decode_put(const uint8_t *msg, size_t len, int64_t *revision)
{
    Hsetcd__PutResponse *pb = hsetcd__put_response__unpack(NULL, len, msg);
    if (!pb)
        return HS_EPROTO;
    if (revision)
        *revision = header_rev(pb->header);
    hsetcd__put_response__free_unpacked(pb, NULL);
    return HS_OK;
}

enum hs_err hs_etcd_decode_delete(const uint8_t *msg, size_t len, int64_t *deleted)
{
    Hsetcd__DeleteRangeResponse *pb = hsetcd__delete_range_response__unpack(NULL, len, msg);
    if (!pb)
        return HS_EPROTO;
    if (deleted)
        *deleted = pb->deleted;
    hsetcd__delete_range_response__free_unpacked(pb, NULL);
    return HS_OK;
}

enum hs_err hs_etcd_decode_grant(const uint8_t *msg, size_t len, int64_t *id, int64_t *ttl)
{
    Hsetcd__LeaseGrantResponse *pb = hsetcd__lease_grant_response__unpack(NULL, len, msg);
    if (!pb)
        return HS_EPROTO;
    enum hs_err err = HS_OK;
    if (pb->error && pb->error[0])
        err = HS_EUNAVAIL;
    else if (pb->id == 0 || pb->ttl <= 0)
        err = HS_EPROTO;
    if (err == HS_OK) {
        *id = pb->id;
        *ttl = pb->ttl;
    }
    hsetcd__lease_grant_response__free_unpacked(pb, NULL);
    return err;
}

enum hs_err hs_etcd_decode_keepalive(const uint8_t *msg, size_t len, int64_t *ttl)
{
    Hsetcd__LeaseKeepAliveResponse *pb = hsetcd__lease_keep_alive_response__unpack(NULL, len, msg);
    if (!pb)
        return HS_EPROTO;
    /* etcd answers a keepalive of an unknown or expired lease with TTL 0, not an error */
    enum hs_err err = pb->ttl > 0 ? HS_OK : HS_ENOENT;
    if (err == HS_OK)
        *ttl = pb->ttl;
    hsetcd__lease_keep_alive_response__free_unpacked(pb, NULL);
    return err;
}

enum hs_err hs_etcd_decode_campaign(const uint8_t *msg, size_t len, struct hs_etcd_leader *out)
{
    Hsetcd__CampaignResponse *pb = hsetcd__campaign_response__unpack(NULL, len, msg);
    if (!pb)
        return HS_EPROTO;
    enum hs_err err = HS_EPROTO;
    const Hsetcd__LeaderKey *lk = pb->leader;
    if (lk && lk->key.len > 0 && lk->rev > 0) {
        *out = (struct hs_etcd_leader){.name = (char *)dup_bytes(&lk->name),
                                       .key = (char *)dup_bytes(&lk->key),
                                       .rev = lk->rev,
                                       .lease = lk->lease};
        err = HS_OK;
    }
    hsetcd__campaign_response__free_unpacked(pb, NULL);
    return err;
}

void hs_etcd_leader_release(struct hs_etcd_leader *l)
{
    if (!l)
        return;
    free(l->name);
    free(l->key);
    l->name = NULL;
    l->key = NULL;
}

enum hs_err hs_etcd_decode_leader(const uint8_t *msg, size_t len, struct hs_etcd_kv *out)
{
    Hsetcd__LeaderResponse *pb = hsetcd__leader_response__unpack(NULL, len, msg);
    if (!pb)
        return HS_EPROTO;
    enum hs_err err = pb->kv ? hs_etcd_kv_from_pb(pb->kv, out) : HS_ENOENT;
    hsetcd__leader_response__free_unpacked(pb, NULL);
    return err;
}

enum hs_err hs_etcd_map_grpc(int code, const char *msg, bool *retry)
{
    *retry = false;
    if (strstr(msg, "lease not found") || strstr(msg, "election: no leader"))
        return HS_ENOENT;
    if (strstr(msg, "election: not leader"))
        return HS_ECONFLICT;
    if (strstr(msg, "has been compacted"))
        return HS_ECONFLICT;
    switch (code) {
    case 3:  /* InvalidArgument */
    case 11: /* OutOfRange */
        return HS_EINVAL;
    case 5: /* NotFound */
        return HS_ENOENT;
    case 6: /* AlreadyExists */
    case 9: /* FailedPrecondition: lease already exists */
        return HS_EEXIST;
    case 8: /* ResourceExhausted: NOSPACE alarm */
        return HS_ENOSPC;
    case 7:  /* PermissionDenied */
    case 16: /* Unauthenticated */
        return HS_EAUTH;
    case 1: /* Canceled */
    case 4: /* DeadlineExceeded */
        *retry = true;
        return HS_ETIMEDOUT;
    default: /* 2 Unknown ("context deadline exceeded"), 14 Unavailable, 10, 13, ... */
        *retry = true;
        return HS_EUNAVAIL;
    }
}
