/* registration.c - a daemon's membership key in etcd (nodes/<id>, gateways/<id>) bound to a
 * lease that a keeper thread keeps alive. A background thread (re)registers with exponential
 * back-off, rewrites the value every refresh interval (it may change: a node's free bytes), and
 * logs once per state change (evt=registered, evt=registration_lost, evt=etcd_unreachable). On
 * stop the lease is revoked, so the key vanishes at once instead of after its TTL. What the
 * value holds is the owner's business (a callback); its format (node and gateway values) is
 * encoded and decoded in registration_format.c, so it has one owner. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/registration.h"
#include "hs/banned.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 10000

enum reg_state {
    REG_NONE,        /* not registered yet, nothing logged */
    REG_REGISTERED,  /* key present under a live lease */
    REG_LOST,        /* the lease expired or vanished */
    REG_UNREACHABLE, /* etcd did not answer */
};

struct hs_registration {
    struct hs_etcd *etcd; /* shared or own (own_etcd) */
    bool own_etcd;
    char *key;       /* heap: full etcd key */
    char *label;     /* heap: log key ("node") */
    char *id;        /* heap: log value */
    char *endpoints; /* heap, for logs ("" with a shared client) */
    int64_t ttl_s;
    int64_t refresh_ms;
    hs_registration_value_fn *value;
    void *value_ctx;
    pthread_t thread;
    pthread_mutex_t lock; /* guards stop, lost */
    pthread_cond_t wake;  /* signalled on stop and on lease loss */
    bool stop;
    bool lost;          /* set by the keeper's on_lost */
    atomic_bool active; /* state == REG_REGISTERED, for hs_registration_active */
    /* owned by the registration thread */
    enum reg_state state;
    int64_t lease; /* 0 = none */
    struct hs_etcd_keeper *keeper;
};

static void on_lease_lost(void *ctx, int64_t lease)
{
    (void)lease;
    struct hs_registration *reg = ctx;
    pthread_mutex_lock(&reg->lock);
    reg->lost = true;
    pthread_cond_signal(&reg->wake);
    pthread_mutex_unlock(&reg->lock);
}

/* Waits up to ms or until stop/lost; returns true when stopping. */
static bool wait_ms(struct hs_registration *reg, int64_t ms)
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

static void set_state(struct hs_registration *reg, enum reg_state st, enum hs_err err)
{
    if (st == reg->state)
        return;
    reg->state = st;
    atomic_store(&reg->active, st == REG_REGISTERED);
    if (st == REG_REGISTERED)
        HS_LOG_INFO("registered", "%s=%s key='%s' lease=%" PRId64, reg->label, reg->id, reg->key,
                    reg->lease);
    else if (st == REG_LOST)
        HS_LOG_WARN("registration_lost", "%s=%s key='%s'", reg->label, reg->id, reg->key);
    else if (st == REG_UNREACHABLE)
        HS_LOG_WARN("etcd_unreachable", "%s=%s endpoints='%s' err=%s", reg->label, reg->id,
                    reg->endpoints, hs_err_name(err));
}

static void drop_lease(struct hs_registration *reg, bool revoke)
{
    hs_etcd_keeper_stop(reg->keeper);
    reg->keeper = NULL;
    if (revoke && reg->lease) {
        enum hs_err err = hs_etcd_lease_revoke(reg->etcd, reg->lease);
        if (err != HS_OK && err != HS_ENOENT)
            HS_LOG_WARN("lease_revoke_failed", "%s=%s lease=%" PRId64 " err=%s", reg->label,
                        reg->id, reg->lease, hs_err_name(err));
    }
    reg->lease = 0;
    pthread_mutex_lock(&reg->lock);
    reg->lost = false;
    pthread_mutex_unlock(&reg->lock);
}

static enum hs_err put_value(struct hs_registration *reg)
{
    char *value = reg->value(reg->value_ctx);
    if (!value)
        return HS_EINVAL;
    enum hs_err err = hs_etcd_put(reg->etcd, reg->key, value, strlen(value), reg->lease, NULL);
    free(value);
    return err;
}

/* One registration attempt: lease, key, keeper. On failure nothing is left behind. */
static enum hs_err try_register(struct hs_registration *reg)
{
    int64_t lease = 0;
    enum hs_err err = hs_etcd_lease_grant(reg->etcd, reg->ttl_s, &lease);
    if (err != HS_OK)
        return err;
    reg->lease = lease;
    err = put_value(reg);
    if (err == HS_OK)
        err = hs_etcd_keeper_start(reg->etcd, lease, reg->ttl_s, on_lease_lost, reg, &reg->keeper);
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

static bool lease_lost(struct hs_registration *reg)
{
    pthread_mutex_lock(&reg->lock);
    bool lost = reg->lost;
    pthread_mutex_unlock(&reg->lock);
    return lost;
}

static void *reg_thread(void *p)
{
    struct hs_registration *reg = p;
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
        if (wait_ms(reg, reg->refresh_ms))
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

enum hs_err hs_registration_start(const struct hs_registration_opts *opts,
                                  struct hs_registration **out)
{
    if (!opts->key || !opts->value || opts->ttl_s < 2 || (!opts->etcd && !opts->endpoints))
        return HS_EINVAL;
    struct hs_etcd *etcd = opts->etcd;
    if (!etcd) {
        struct hs_etcd_opts eo = {.endpoints = opts->endpoints, .timeout_ms = 2000};
        enum hs_err err = hs_etcd_new(&eo, &etcd);
        if (err != HS_OK)
            return err;
    }
    struct hs_registration *reg = hs_xcalloc(1, sizeof *reg);
    reg->etcd = etcd;
    reg->own_etcd = !opts->etcd;
    reg->key = hs_xstrdup(opts->key);
    reg->label = hs_xstrdup(opts->label ? opts->label : "owner");
    reg->id = hs_xstrdup(opts->id ? opts->id : "");
    reg->endpoints = hs_xstrdup(opts->endpoints ? opts->endpoints : "");
    reg->ttl_s = opts->ttl_s;
    reg->refresh_ms = opts->refresh_ms > 0 ? opts->refresh_ms : 10000;
    reg->value = opts->value;
    reg->value_ctx = opts->value_ctx;
    atomic_init(&reg->active, false);
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

bool hs_registration_active(const struct hs_registration *r)
{
    return r && atomic_load(&((struct hs_registration *)r)->active);
}

void hs_registration_stop(struct hs_registration *reg)
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
    if (reg->own_etcd)
        hs_etcd_free(reg->etcd);
    free(reg->key);
    free(reg->label);
    free(reg->id);
    free(reg->endpoints);
    free(reg);
}
