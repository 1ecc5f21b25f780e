/* fuzz_etcd_reply.c - arbitrary bytes into every etcd reply decoder (one gRPC reply message of
 * protobuf): range, txn (both branches with every op type), put, delete, lease grant and
 * keepalive, election, and the watch state machine fed the bytes as one message and again cut
 * in two at a data-chosen place. Must never crash, leak or trip a sanitizer; the return codes
 * themselves are not checked here. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "meta/etcd_int.h"
#include "hs/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch_events(void *ctx, const struct hs_etcd_event *ev, size_t n, int64_t revision,
                         bool compacted)
{
    size_t *sum = ctx;
    *sum += (size_t)revision + compacted;
    for (size_t i = 0; i < n; i++)
        *sum += ev[i].kv.value_len + (ev[i].kv.key[0] != '\0') + ev[i].is_delete;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hs_etcd_kvs kvs;
    if (hs_etcd_decode_range(data, size, &kvs) == HS_OK)
        hs_etcd_kvs_release(&kvs);
    static const struct hs_etcd_op ops[] = {
        {.type = HS_ETCD_OP_RANGE, .key = "a"},
        {.type = HS_ETCD_OP_PUT, .key = "b", .value = "v", .value_len = 1},
        {.type = HS_ETCD_OP_DELETE, .key = "c"},
        {.type = HS_ETCD_OP_RANGE, .key = "d", .prefix = true},
    };
    struct hs_etcd_txn txn = {NULL, 0, ops, 4, ops + 2, 2};
    struct hs_etcd_txn_result r;
    if (hs_etcd_decode_txn(data, size, &txn, &r) == HS_OK)
        hs_etcd_txn_result_release(&r);
    int64_t a, b;
    (void)hs_etcd_decode_put(data, size, &a);
    (void)hs_etcd_decode_delete(data, size, &a);
    (void)hs_etcd_decode_grant(data, size, &a, &b);
    (void)hs_etcd_decode_keepalive(data, size, &a);
    struct hs_etcd_leader l;
    if (hs_etcd_decode_campaign(data, size, &l) == HS_OK)
        hs_etcd_leader_release(&l);
    struct hs_etcd_kv kv;
    if (hs_etcd_decode_leader(data, size, &kv) == HS_OK)
        hs_etcd_kv_release(&kv);
    size_t sum = 0;
    struct hs_etcd_watch_state st;
    hs_etcd_watch_state_init(&st, (int64_t)(size % 3), touch_events, &sum);
    (void)hs_etcd_watch_state_feed(&st, data, size);
    size_t cut = size ? data[0] % (size + 1) : 0;
    hs_etcd_watch_state_reset_conn(&st);
    if (hs_etcd_watch_state_feed(&st, data, cut) == HS_OK)
        (void)hs_etcd_watch_state_feed(&st, data + cut, size - cut);
    return 0;
}
