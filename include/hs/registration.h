/* registration.h - a daemon's membership key in etcd (nodes/<id>, gateways/<id>): the key is
 * bound to a lease that a keeper thread keeps alive; a background thread (re)registers with
 * exponential back-off (250 ms doubling to 10 s, +-20 % jitter), rewrites the value every
 * refresh interval, and logs once per state change: evt=registered, evt=registration_lost,
 * evt=etcd_unreachable (each with "<label>=<id>" and the key). On stop the lease is revoked,
 * so the key vanishes at once instead of after its TTL. Never blocks start-up: the daemon runs
 * whether etcd is up or not.
 *
 * Thread-safety: start/stop from one owner thread; the value callback runs on the registration
 * thread. */
#ifndef HS_REGISTRATION_H
#define HS_REGISTRATION_H

#include <stdbool.h>
#include <stdint.h>

#include "hs/err.h"

struct hs_etcd;

/* The value to store (heap string, freed by the caller with free()). Called at every
 * (re)registration and refresh, on the registration thread. */
typedef char *hs_registration_value_fn(void *ctx);

struct hs_registration_opts {
    struct hs_etcd *etcd;            /* shared client (must outlive the registration), or NULL: */
    const char *endpoints;           /* then a client of its own is made for these (also logged) */
    const char *key;                 /* full etcd key, e.g. HS_META_PREFIX_NODES "<id>" (copied) */
    int64_t ttl_s;                   /* lease TTL, >= 2 */
    int64_t refresh_ms;              /* value rewrite interval; 0 = 10000 */
    hs_registration_value_fn *value; /* required */
    void *value_ctx;
    const char *label; /* log key naming the owner: "node", "gateway" (copied) */
    const char *id;    /* its value in logs: label=id (copied) */
};

struct hs_registration;

/* Starts the thread. HS_EINVAL on a bad option or a malformed endpoint list (out untouched).
 * *out owned by the caller (hs_registration_stop). */
enum hs_err hs_registration_start(const struct hs_registration_opts *opts,
                                  struct hs_registration **out);
/* True while the key is registered under a live lease (as last seen by the thread). */
bool hs_registration_active(const struct hs_registration *r);
/* Stops the thread, revokes the lease (so the key disappears at once), frees. NULL is fine. */
void hs_registration_stop(struct hs_registration *r);

#endif
