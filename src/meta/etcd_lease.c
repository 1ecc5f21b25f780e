/* etcd_lease.c - leases over gRPC: grant, keepalive, revoke, and the keeper thread that
 * renews a lease at ttl/3. The keeper keeps one LeaseKeepAlive stream open and sends a request
 * on it each time (one answer per request); after a failure it drops the stream and opens the
 * next one on the next endpoint. hs_etcd_lease_keepalive is the same stream used once: one
 * request and a half-close, etcd answers and ends it. An unknown or expired lease answers TTL 0,
 * which is our HS_ENOENT. */
#include "meta/etcd_int.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

static enum hs_err lease_call(struct hs_etcd *e, const char *path, const ProtobufCMessage *req,
                              int64_t timeout_ms, const struct hs_stop *cancel,
                              struct hs_buf *reply)
{
    hs_buf_init(reply, HS_ETCD_REPLY_MAX_BYTES);
    struct hs_etcd_call c = {.path = path,
                             .req = req,
                             .retry = HS_ETCD_IDEMPOTENT,
                             .timeout_ms = timeout_ms,
                             .endpoint = -1,
                             .cancel = cancel};
    return hs_etcd_request(e, &c, reply);
}

enum hs_err hs_etcd_lease_grant(struct hs_etcd *e, int64_t ttl_s, int64_t *lease_out)
{
    if (ttl_s <= 0)
        return HS_EINVAL;
    Hsetcd__LeaseGrantRequest r;
    hsetcd__lease_grant_request__init(&r);
    r.ttl = ttl_s;
    struct hs_buf reply;
    int64_t id = 0, ttl = 0;
    enum hs_err err = lease_call(e, HS_ETCD_GRANT, &r.base, 0, NULL, &reply);
    if (err == HS_OK)
        err = hs_etcd_decode_grant(reply.data, reply.len, &id, &ttl);
    hs_buf_release(&reply);
    if (err == HS_OK)
        *lease_out = id;
    return err;
}

static enum hs_err keepalive_timed(struct hs_etcd *e, int64_t lease, int64_t timeout_ms,
                                   const struct hs_stop *cancel, int64_t *ttl_out)
{
    if (lease == 0)
        return HS_EINVAL;
    Hsetcd__LeaseKeepAliveRequest r;
    hsetcd__lease_keep_alive_request__init(&r);
    r.id = lease;
    struct hs_buf reply;
    int64_t ttl = 0;
    enum hs_err err = lease_call(e, HS_ETCD_KEEPALIVE, &r.base, timeout_ms, cancel, &reply);
    if (err == HS_OK)
        err = hs_etcd_decode_keepalive(reply.data, reply.len, &ttl);
    hs_buf_release(&reply);
    if (err == HS_OK && ttl_out)
        *ttl_out = ttl;
    return err;
}

enum hs_err hs_etcd_lease_keepalive(struct hs_etcd *e, int64_t lease, int64_t *ttl_out)
{
    return keepalive_timed(e, lease, 0, NULL, ttl_out);
}

enum hs_err hs_etcd_lease_revoke(struct hs_etcd *e, int64_t lease)
{
    if (lease == 0)
        return HS_EINVAL;
    Hsetcd__LeaseRevokeRequest r;
    hsetcd__lease_revoke_request__init(&r);
    r.id = lease;
    struct hs_buf reply;
    enum hs_err err = lease_call(e, HS_ETCD_REVOKE, &r.base, 0, NULL, &reply);
    hs_buf_release(&reply);
    return err;
}

struct hs_etcd_keeper {
    struct hs_etcd *e;
    int64_t lease;
    int64_t ttl_ms;
    hs_etcd_lease_lost_fn *on_lost;
    void *ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* CLOCK_MONOTONIC; signalled by stop */
    bool stop;             /* (mu) */
    struct hs_stop cancel; /* set with stop: aborts a keepalive in flight */
    atomic_bool alive;
    /* keeper thread only: */
    struct hs_grpc_stream *stream; /* the open LeaseKeepAlive stream, NULL = none */
    size_t idx;                    /* its endpoint */
    struct hs_buf msg;             /* the last reply */
};

/* Waits until mono time deadline_ms or stop; returns false when stopping. */
static bool keeper_wait(struct hs_etcd_keeper *k, int64_t deadline_ms)
{
    struct timespec ts = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000};
    pthread_mutex_lock(&k->mu);
    while (!k->stop && hs_clock_mono_ms() < deadline_ms) {
        int rc = pthread_cond_timedwait(&k->cv, &k->mu, &ts);
        if (rc == ETIMEDOUT)
            break;
    }
    bool go_on = !k->stop;
    pthread_mutex_unlock(&k->mu);
    return go_on;
}

/* Waits for the reply to the request just sent, until deadline_ms or stop. */
static enum hs_err keeper_reply(struct hs_etcd_keeper *k, int64_t deadline_ms, int64_t *ttl)
{
    for (;;) {
        if (hs_stop_is_set(&k->cancel))
            return HS_ETIMEDOUT;
        int64_t left = deadline_ms - hs_clock_mono_ms();
        if (left <= 0)
            return HS_ETIMEDOUT;
        bool ended = false;
        int status = -1;
        char text[128] = "";
        enum hs_err err = hs_grpc_stream_next(k->stream, HS_MIN(left, 100), &k->msg, &ended,
                                              &status, text, sizeof text);
        if (ended) {
            bool retry;
            if (err == HS_OK)
                err = status == 0 ? HS_EUNAVAIL : hs_etcd_map_grpc(status, text, &retry);
            if (err == HS_ENOENT)
                err = HS_EUNAVAIL; /* only a TTL of 0 says the lease is gone */
            hs_etcd_log_failure(k->e, k->e->endpoints[k->idx], HS_ETCD_KEEPALIVE, err, status,
                                text);
            return err;
        }
        if (err == HS_OK)
            return hs_etcd_decode_keepalive(k->msg.data, k->msg.len, ttl);
        if (err != HS_ETIMEDOUT)
            return err;
    }
}

/* One keepalive on the keeper's stream, opened on demand. After a failure other than "the
 * lease is gone" the stream is dropped and the next one goes to the next endpoint. */
static enum hs_err keeper_once(struct hs_etcd_keeper *k, int64_t attempt_ms, int64_t *ttl)
{
    Hsetcd__LeaseKeepAliveRequest r;
    hsetcd__lease_keep_alive_request__init(&r);
    r.id = k->lease;
    int64_t deadline = hs_clock_mono_ms() + attempt_ms;
    enum hs_err err = HS_OK;
    if (k->stream)
        err = hs_grpc_stream_send(k->stream, &r.base);
    if (!k->stream || err != HS_OK) {
        hs_grpc_stream_close(k->stream);
        k->stream = NULL;
        err = hs_grpc_stream_open(k->e->eps[k->idx], HS_ETCD_KEEPALIVE, &r.base, false, &k->stream);
    }
    if (err == HS_OK)
        err = keeper_reply(k, deadline, ttl);
    if (err != HS_OK && err != HS_ENOENT && !hs_stop_is_set(&k->cancel)) {
        if (err != HS_EUNAVAIL)
            hs_etcd_log_failure(k->e, k->e->endpoints[k->idx], HS_ETCD_KEEPALIVE, err, -1, "");
        hs_grpc_stream_close(k->stream);
        k->stream = NULL;
        k->idx = (k->idx + 1) % k->e->n_endpoints;
    }
    return err;
}

static void *keeper_main(void *arg)
{
    struct hs_etcd_keeper *k = arg;
    int64_t last_ok = hs_clock_mono_ms();
    int64_t next = last_ok + k->ttl_ms / 3;
    /* each attempt must leave room for retries before the lease can expire */
    int64_t attempt_ms = HS_MIN(k->e->timeout_ms, HS_MAX(k->ttl_ms / 4, 200));
    int64_t retry_ms = HS_MAX(k->ttl_ms / 10, 100);
    while (keeper_wait(k, next)) {
        int64_t ttl = 0;
        enum hs_err err = keeper_once(k, attempt_ms, &ttl);
        if (hs_stop_is_set(&k->cancel))
            break; /* stopping: a cut-short keepalive says nothing about the lease */
        int64_t now = hs_clock_mono_ms();
        if (err == HS_OK) {
            last_ok = now;
            next = now + k->ttl_ms / 3;
            continue;
        }
        if (err != HS_ENOENT && now - last_ok < k->ttl_ms) {
            next = now + retry_ms;
            continue;
        }
        HS_LOG_WARN("etcd_lease_lost", "lease=%llx err=%s since_ok_ms=%lld", (long long)k->lease,
                    hs_err_name(err), (long long)(now - last_ok));
        atomic_store(&k->alive, false);
        k->on_lost(k->ctx, k->lease);
        return NULL;
    }
    atomic_store(&k->alive, false);
    return NULL;
}

enum hs_err hs_etcd_keeper_start(struct hs_etcd *e, int64_t lease, int64_t ttl_s,
                                 hs_etcd_lease_lost_fn *on_lost, void *ctx,
                                 struct hs_etcd_keeper **out)
{
    if (!e || lease == 0 || ttl_s <= 0 || !on_lost || !out)
        return HS_EINVAL;
    struct hs_etcd_keeper *k = hs_xcalloc(1, sizeof *k);
    k->e = e;
    k->lease = lease;
    k->ttl_ms = ttl_s * 1000;
    k->on_lost = on_lost;
    k->ctx = ctx;
    atomic_init(&k->alive, true);
    k->idx = atomic_load(&e->preferred) % e->n_endpoints;
    hs_buf_init(&k->msg, HS_ETCD_REPLY_MAX_BYTES);
    pthread_mutex_init(&k->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&k->cv, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&k->thread, NULL, keeper_main, k);
    if (rc != 0) {
        char text[64];
        HS_LOG_ERROR("etcd_keeper_start_failed", "lease=%llx errno=%d err='%s'", (long long)lease,
                     rc, hs_errno_text(rc, text, sizeof text));
        pthread_cond_destroy(&k->cv);
        pthread_mutex_destroy(&k->mu);
        hs_buf_release(&k->msg);
        free(k);
        return HS_EUNAVAIL;
    }
    *out = k;
    return HS_OK;
}

void hs_etcd_keeper_stop(struct hs_etcd_keeper *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    hs_stop_set(&k->cancel);
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
    hs_grpc_stream_close(k->stream); /* resetting it is all etcd needs: it does not revoke */
    hs_buf_release(&k->msg);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

bool hs_etcd_keeper_alive(const struct hs_etcd_keeper *k)
{
    return k && atomic_load(&((struct hs_etcd_keeper *)k)->alive);
}
