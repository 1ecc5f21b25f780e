/* etcd_election.c - v3election over gRPC: campaign (a call that blocks until we lead), resign
 * and leader. Always with the caller's lease: without one the server makes a 60 s lease nobody
 * keeps alive. Resetting a blocked campaign's stream makes the server delete our candidate
 * key, so renewing the call (every CAMPAIGN_ATTEMPT_MS, or on another endpoint) leaks
 * nothing; it only moves us to the back of the queue. */
#include "meta/etcd_int.h"

#include <string.h>

#include "hs/clock.h"
#include "hs/banned.h"

#define CAMPAIGN_ATTEMPT_MS 30000
#define CAMPAIGN_PAUSE_MS   200

static ProtobufCBinaryData bytes_of(const void *p, size_t len)
{
    return (ProtobufCBinaryData){.len = len, .data = (uint8_t *)(uintptr_t)p};
}

static enum hs_err election_call(struct hs_etcd *e, const char *path, const ProtobufCMessage *req,
                                 enum hs_etcd_retry retry, int64_t timeout_ms,
                                 const struct hs_stop *cancel, struct hs_buf *reply)
{
    hs_buf_init(reply, HS_ETCD_REPLY_MAX_BYTES);
    struct hs_etcd_call c = {.path = path,
                             .req = req,
                             .retry = retry,
                             .timeout_ms = timeout_ms,
                             .endpoint = -1,
                             .cancel = cancel,
                             .long_poll = strcmp(path, HS_ETCD_CAMPAIGN) == 0};
    return hs_etcd_request(e, &c, reply);
}

enum hs_err hs_etcd_campaign(struct hs_etcd *e, const char *name, int64_t lease, const void *value,
                             size_t value_len, const struct hs_stop *cancel,
                             struct hs_etcd_leader *out)
{
    if (!name || !*name || lease == 0 || (!value && value_len) || !out)
        return HS_EINVAL;
    Hsetcd__CampaignRequest r;
    hsetcd__campaign_request__init(&r);
    r.name = bytes_of(name, strlen(name));
    r.lease = lease;
    r.value = bytes_of(value, value_len);
    enum hs_err err;
    for (;;) {
        struct hs_buf reply;
        err = election_call(e, HS_ETCD_CAMPAIGN, &r.base, HS_ETCD_ONCE, CAMPAIGN_ATTEMPT_MS, cancel,
                            &reply);
        if (err == HS_OK)
            err = hs_etcd_decode_campaign(reply.data, reply.len, out);
        hs_buf_release(&reply);
        if (hs_stop_is_set(cancel)) {
            err = err == HS_OK ? HS_OK : HS_ETIMEDOUT;
            break;
        }
        if (err != HS_ETIMEDOUT && err != HS_EUNAVAIL)
            break;
        /* a hung or leaderless member: campaign again (hs_etcd_request moved on) */
        hs_clock_sleep_ms(CAMPAIGN_PAUSE_MS, cancel);
    }
    return err;
}

enum hs_err hs_etcd_resign(struct hs_etcd *e, const struct hs_etcd_leader *leader)
{
    if (!leader || !leader->name || !leader->key)
        return HS_EINVAL;
    Hsetcd__LeaderKey lk;
    hsetcd__leader_key__init(&lk);
    lk.name = bytes_of(leader->name, strlen(leader->name));
    lk.key = bytes_of(leader->key, strlen(leader->key));
    lk.rev = leader->rev;
    lk.lease = leader->lease;
    Hsetcd__ResignRequest r;
    hsetcd__resign_request__init(&r);
    r.leader = &lk;
    struct hs_buf reply;
    enum hs_err err =
        election_call(e, HS_ETCD_RESIGN, &r.base, HS_ETCD_IDEMPOTENT, 0, NULL, &reply);
    hs_buf_release(&reply);
    return err;
}

enum hs_err hs_etcd_leader_get(struct hs_etcd *e, const char *name, struct hs_etcd_kv *out)
{
    if (!name || !*name || !out)
        return HS_EINVAL;
    Hsetcd__LeaderRequest r;
    hsetcd__leader_request__init(&r);
    r.name = bytes_of(name, strlen(name));
    struct hs_buf reply;
    /* "election: no leader" (code Unknown) is mapped to HS_ENOENT by its message */
    enum hs_err err =
        election_call(e, HS_ETCD_LEADER, &r.base, HS_ETCD_IDEMPOTENT, 0, NULL, &reply);
    if (err == HS_OK)
        err = hs_etcd_decode_leader(reply.data, reply.len, out);
    hs_buf_release(&reply);
    return err;
}
