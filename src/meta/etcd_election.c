/* etcd_election.c - v3election through the gateway: campaign (a POST that blocks until we
 * lead), resign and leader. Always with the caller's lease: without one the server makes a 60 s
 * lease nobody keeps alive. Aborting a blocked campaign request makes the server delete our
 * candidate key, so renewing the request (every CAMPAIGN_ATTEMPT_MS, or on another endpoint)
 * leaks nothing; it only moves us to the back of the queue. */
#include "meta/etcd_int.h"

#include <string.h>

#include "hs/clock.h"
#include "hs/banned.h"

#define CAMPAIGN_ATTEMPT_MS 30000
#define CAMPAIGN_PAUSE_MS   200

static enum hs_err election_call(struct hs_etcd *e, const char *path, json_t *body,
                                 enum hs_etcd_retry retry, int64_t timeout_ms,
                                 const struct hs_stop *cancel, struct hs_buf *reply)
{
    hs_buf_init(reply, HS_ETCD_REPLY_MAX_BYTES);
    struct hs_etcd_call c = {.path = path,
                             .body = body,
                             .retry = retry,
                             .timeout_ms = timeout_ms,
                             .endpoint = -1,
                             .cancel = cancel};
    return hs_etcd_request(e, &c, reply);
}

enum hs_err hs_etcd_campaign(struct hs_etcd *e, const char *name, int64_t lease, const void *value,
                             size_t value_len, const struct hs_stop *cancel,
                             struct hs_etcd_leader *out)
{
    if (!name || !*name || lease == 0 || (!value && value_len) || !out)
        return HS_EINVAL;
    json_t *b = json_object();
    json_object_set_new(b, "name", hs_etcd_json_b64(name, strlen(name)));
    json_object_set_new(b, "lease", hs_etcd_json_i64str(lease));
    json_object_set_new(b, "value", hs_etcd_json_b64(value ? value : "", value_len));
    enum hs_err err;
    for (;;) {
        struct hs_buf reply;
        err = election_call(e, "/v3/election/campaign", b, HS_ETCD_ONCE, CAMPAIGN_ATTEMPT_MS,
                            cancel, &reply);
        if (err == HS_OK)
            err = hs_etcd_parse_campaign_reply((const char *)reply.data, reply.len, out);
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
    json_decref(b);
    return err;
}

static json_t *leader_json(const struct hs_etcd_leader *l)
{
    json_t *j = json_object();
    json_object_set_new(j, "name", hs_etcd_json_b64(l->name, strlen(l->name)));
    json_object_set_new(j, "key", hs_etcd_json_b64(l->key, strlen(l->key)));
    json_object_set_new(j, "rev", hs_etcd_json_i64str(l->rev));
    json_object_set_new(j, "lease", hs_etcd_json_i64str(l->lease));
    return j;
}

enum hs_err hs_etcd_resign(struct hs_etcd *e, const struct hs_etcd_leader *leader)
{
    if (!leader || !leader->name || !leader->key)
        return HS_EINVAL;
    json_t *b = json_object();
    json_object_set_new(b, "leader", leader_json(leader));
    struct hs_buf reply;
    enum hs_err err =
        election_call(e, "/v3/election/resign", b, HS_ETCD_IDEMPOTENT, 0, NULL, &reply);
    hs_buf_release(&reply);
    json_decref(b);
    return err;
}

enum hs_err hs_etcd_leader_get(struct hs_etcd *e, const char *name, struct hs_etcd_kv *out)
{
    if (!name || !*name || !out)
        return HS_EINVAL;
    json_t *b = json_object();
    json_object_set_new(b, "name", hs_etcd_json_b64(name, strlen(name)));
    struct hs_buf reply;
    /* "no leader" is HTTP 500 code 2, mapped to HS_ENOENT by its message */
    enum hs_err err =
        election_call(e, "/v3/election/leader", b, HS_ETCD_IDEMPOTENT, 0, NULL, &reply);
    if (err == HS_OK)
        err = hs_etcd_parse_leader_reply((const char *)reply.data, reply.len, out);
    hs_buf_release(&reply);
    json_decref(b);
    return err;
}
