/* register.c - the node's membership in etcd: /hybridstore/v1/nodes/<node-id> = JSON
 * {"id","url","zone","capacity_bytes","free_bytes","started_ms"} bound to a lease that a keeper
 * thread keeps alive. A background thread (re)registers with exponential back-off, rewrites the
 * value every refresh interval (free bytes change), and logs once per state change
 * (evt=registered, evt=registration_lost, evt=etcd_unreachable). On stop the lease is revoked,
 * so the key vanishes at once instead of after its TTL. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "node/node_int.h"
#include "hs/banned.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 10000

enum reg_state {
    REG_NONE,        /* not registered yet, nothing logged */
    REG_REGISTERED,  /* key present under a live lease */
    REG_LOST,        /* the lease expired or vanished */
    REG_UNREACHABLE, /* etcd did not answer */
};

struct hs_node_reg {
    struct hs_node_reg_opts opts;
    struct hs_etcd *etcd;
    char *key; /* heap: HS_ETCD_ROOT "nodes/<id>" */
    pthread_t thread;
    pthread_mutex_t lock; /* guards stop, lost */
    pthread_cond_t wake;  /* signalled on stop and on lease loss */
    bool stop;
    bool lost; /* set by the keeper's on_lost */
    /* owned by the registration thread */
    enum reg_state state;
    int64_t lease; /* 0 = none */
    struct hs_etcd_keeper *keeper;
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

static void on_lease_lost(void *ctx, int64_t lease)
{
    (void)lease;
    struct hs_node_reg *reg = ctx;
    pthread_mutex_lock(&reg->lock);
    reg->lost = true;
    pthread_cond_signal(&reg->wake);
    pthread_mutex_unlock(&reg->lock);
}

/* Waits up to ms or until stop/lost; returns true when stopping. */
static bool wait_ms(struct hs_node_reg *reg, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&reg->lock);
    while (!reg->stop && !reg->lost)
        if (pthread_cond_timedwait(&reg->wake, &reg->lock, &ts) == ETIMEDOUT)
            break;
    bool stop = reg->stop;
    pthread_mutex_unlock(&reg->lock);
    return stop;
}

static void set_state(struct hs_node_reg *reg, enum reg_state st, enum hs_err err)
{
    if (st == reg->state)
        return;
    reg->state = st;
    const char *id = reg->opts.node->node_id;
    if (st == REG_REGISTERED)
        HS_LOG_INFO("registered", "node=%s key='%s' lease=%" PRId64 " url=%s", id, reg->key,
                    reg->lease, reg->opts.node->url);
    else if (st == REG_LOST)
        HS_LOG_WARN("registration_lost", "node=%s key='%s'", id, reg->key);
    else if (st == REG_UNREACHABLE)
        HS_LOG_WARN("etcd_unreachable", "node=%s endpoints='%s' err=%s", id, reg->opts.endpoints,
                    hs_err_name(err));
}

static void drop_lease(struct hs_node_reg *reg, bool revoke)
{
    hs_etcd_keeper_stop(reg->keeper);
    reg->keeper = NULL;
    if (revoke && reg->lease) {
        enum hs_err err = hs_etcd_lease_revoke(reg->etcd, reg->lease);
        if (err != HS_OK && err != HS_ENOENT)
            HS_LOG_WARN("lease_revoke_failed", "node=%s lease=%" PRId64 " err=%s",
                        reg->opts.node->node_id, reg->lease, hs_err_name(err));
    }
    reg->lease = 0;
    pthread_mutex_lock(&reg->lock);
    reg->lost = false;
    pthread_mutex_unlock(&reg->lock);
}

static enum hs_err put_value(struct hs_node_reg *reg)
{
    char *value = hs_node_reg_value(reg->opts.node);
    enum hs_err err = hs_etcd_put(reg->etcd, reg->key, value, strlen(value), reg->lease, NULL);
    free(value);
    return err;
}

/* One registration attempt: lease, key, keeper. On failure nothing is left behind. */
static enum hs_err try_register(struct hs_node_reg *reg)
{
    int64_t lease = 0;
    enum hs_err err = hs_etcd_lease_grant(reg->etcd, reg->opts.ttl_s, &lease);
    if (err != HS_OK)
        return err;
    reg->lease = lease;
    err = put_value(reg);
    if (err == HS_OK)
        err = hs_etcd_keeper_start(reg->etcd, lease, reg->opts.ttl_s, on_lease_lost, reg,
                                   &reg->keeper);
    if (err != HS_OK)
        drop_lease(reg, true);
    return err;
}

static int64_t jitter(int64_t ms)
{
    uint16_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = 0;
    /* +-20%: nodes restarted together do not retry in lock-step */
    return ms * 8 / 10 + (int64_t)(r % (ms * 4 / 10 + 1));
}

static bool lease_lost(struct hs_node_reg *reg)
{
    pthread_mutex_lock(&reg->lock);
    bool lost = reg->lost;
    pthread_mutex_unlock(&reg->lock);
    return lost;
}

static void *reg_thread(void *p)
{
    struct hs_node_reg *reg = p;
    /* Reset only after a registration survived a refresh interval, so that a lease lost right
     * after every registration still backs off instead of spinning. */
    int64_t backoff = BACKOFF_MIN_MS;
    for (;;) {
        if (!reg->lease) {
            enum hs_err err = try_register(reg);
            if (err != HS_OK) {
                set_state(reg, REG_UNREACHABLE, err);
                if (wait_ms(reg, jitter(backoff)))
                    break;
                backoff = HS_MIN(backoff * 2, BACKOFF_MAX_MS);
                continue;
            }
            set_state(reg, REG_REGISTERED, HS_OK);
        }
        if (wait_ms(reg, reg->opts.refresh_ms))
            break;
        enum hs_err err = lease_lost(reg) ? HS_ENOENT : put_value(reg);
        if (err == HS_ENOENT) {
            set_state(reg, REG_LOST, err);
            drop_lease(reg, false);
            if (wait_ms(reg, jitter(backoff)))
                break;
            backoff = HS_MIN(backoff * 2, BACKOFF_MAX_MS);
        } else if (err != HS_OK) {
            /* transient: the keeper decides whether the lease is gone */
            set_state(reg, REG_UNREACHABLE, err);
        } else {
            set_state(reg, REG_REGISTERED, err);
            backoff = BACKOFF_MIN_MS;
        }
    }
    drop_lease(reg, true);
    return NULL;
}

enum hs_err hs_node_reg_start(const struct hs_node_reg_opts *opts, struct hs_node_reg **out)
{
    struct hs_etcd_opts eo = {.endpoints = opts->endpoints, .timeout_ms = 2000};
    struct hs_etcd *etcd = NULL;
    enum hs_err err = hs_etcd_new(&eo, &etcd);
    if (err != HS_OK)
        return err;
    struct hs_node_reg *reg = hs_xcalloc(1, sizeof *reg);
    reg->opts = *opts;
    reg->etcd = etcd;
    reg->key = hs_xasprintf("%snodes/%s", HS_ETCD_ROOT, opts->node->node_id);
    pthread_mutex_init(&reg->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&reg->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&reg->thread, NULL, reg_thread, reg) != 0)
        HS_BUG("cannot start the registration thread");
    *out = reg;
    return HS_OK;
}

void hs_node_reg_stop(struct hs_node_reg *reg)
{
    if (!reg)
        return;
    pthread_mutex_lock(&reg->lock);
    reg->stop = true;
    pthread_cond_signal(&reg->wake);
    pthread_mutex_unlock(&reg->lock);
    pthread_join(reg->thread, NULL); /* revokes the lease on its way out */
    pthread_cond_destroy(&reg->wake);
    pthread_mutex_destroy(&reg->lock);
    hs_etcd_free(reg->etcd);
    free(reg->key);
    free(reg);
}
