/* fuzz_etcd_reply.c - arbitrary bytes into every etcd gateway reply parser: range, txn (both
 * branches with every op type), lease grant/keepalive, election, error bodies, base64, and the
 * watch stream state machine fed in two pieces cut at a data-chosen place. Must never crash,
 * leak or trip a sanitizer; the return codes themselves are not checked here. */
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

static void fuzz_unary(const char *text, size_t size)
{
    struct hs_etcd_kvs kvs;
    if (hs_etcd_parse_range_reply(text, size, &kvs) == HS_OK)
        hs_etcd_kvs_release(&kvs);
    static const struct hs_etcd_op ops[] = {
        {.type = HS_ETCD_OP_RANGE, .key = "a"},
        {.type = HS_ETCD_OP_PUT, .key = "b", .value = "v", .value_len = 1},
        {.type = HS_ETCD_OP_DELETE, .key = "c"},
        {.type = HS_ETCD_OP_RANGE, .key = "d", .prefix = true},
    };
    struct hs_etcd_txn txn = {NULL, 0, ops, 4, ops + 2, 2};
    struct hs_etcd_txn_result r;
    if (hs_etcd_parse_txn_reply(text, size, &txn, &r) == HS_OK)
        hs_etcd_txn_result_release(&r);
    int64_t a, b;
    (void)hs_etcd_parse_grant_reply(text, size, &a, &b);
    (void)hs_etcd_parse_keepalive_reply(text, size, &a);
    struct hs_etcd_leader l;
    if (hs_etcd_parse_campaign_reply(text, size, &l) == HS_OK)
        hs_etcd_leader_release(&l);
    struct hs_etcd_kv kv;
    if (hs_etcd_parse_leader_reply(text, size, &kv) == HS_OK)
        hs_etcd_kv_release(&kv);
    char msg[64];
    bool retry;
    (void)hs_etcd_map_error(size ? 400 + text[0] % 200 : 500, text, size, msg, sizeof msg, &retry);
    uint8_t *dec;
    size_t dec_len;
    if (hs_etcd_b64_decode(text, size, &dec, &dec_len) == HS_OK)
        free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    fuzz_unary(text, size);
    size_t sum = 0;
    struct hs_etcd_watch_state st;
    hs_etcd_watch_state_init(&st, (int64_t)(size % 3), touch_events, &sum);
    size_t cut = size ? data[0] % (size + 1) : 0;
    if (hs_etcd_watch_state_feed(&st, data, cut) == HS_OK)
        (void)hs_etcd_watch_state_feed(&st, data + cut, size - cut);
    hs_etcd_watch_state_release(&st);
    return 0;
}
