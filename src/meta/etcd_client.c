/* etcd_client.c - the request layer of the etcd client: endpoint list, one gRPC call per
 * attempt with a short deadline, failover to the next endpoint, error mapping and rate-limited
 * failure logging. The kv/lease/watch/election files build protobuf requests and call
 * hs_etcd_request; the HTTP/2 connections live in etcd_grpc.c. */
#include "meta/etcd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define DEFAULT_TIMEOUT_MS         2000
#define DEFAULT_CONNECT_TIMEOUT_MS 500
#define LOG_INTERVAL_MS            200 /* at most ~5 failure warnings a second per client */

/* One list entry, trimmed: "http://" added when there is no scheme, trailing '/' dropped.
 * NULL when the host part is empty or contains blanks. */
static char *normalise_endpoint(const char *p, size_t len)
{
    while (len && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    const char *scheme = memmem(p, len, "://", 3);
    size_t host_off = scheme ? (size_t)(scheme - p) + 3 : 0;
    while (len > host_off && p[len - 1] == '/')
        len--;
    if (len <= host_off || memchr(p, ' ', len) || memchr(p, '\t', len))
        return NULL;
    return scheme ? hs_xstrndup(p, len) : hs_xasprintf("http://%.*s", (int)len, p);
}

/* Splits "a,b" into normalised endpoints. false on an empty list or an empty entry. */
static bool parse_endpoints(struct hs_etcd *e, const char *list)
{
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char *ep = normalise_endpoint(p, len);
        if (!ep)
            return false;
        e->endpoints = hs_xrealloc(e->endpoints, (e->n_endpoints + 1) * sizeof *e->endpoints);
        e->endpoints[e->n_endpoints++] = ep;
        if (!comma)
            return true;
        p = comma + 1;
    }
}

enum hs_err hs_etcd_new(const struct hs_etcd_opts *opts, struct hs_etcd **out)
{
    if (!opts || !opts->endpoints)
        return HS_EINVAL;
    struct hs_etcd *e = hs_xcalloc(1, sizeof *e);
    if (!parse_endpoints(e, opts->endpoints)) {
        HS_LOG_ERROR("etcd_bad_endpoints", "endpoints='%s'", opts->endpoints);
        hs_etcd_free(e);
        return HS_EINVAL;
    }
    e->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    e->connect_timeout_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    if (e->connect_timeout_ms > e->timeout_ms)
        e->connect_timeout_ms = e->timeout_ms;
    e->eps = hs_xcalloc(e->n_endpoints, sizeof *e->eps);
    for (size_t i = 0; i < e->n_endpoints; i++) {
        if (hs_grpc_ep_new(e->endpoints[i], e->connect_timeout_ms, &e->eps[i]) != HS_OK) {
            HS_LOG_ERROR("etcd_bad_endpoints", "endpoints='%s' bad='%s'", opts->endpoints,
                         e->endpoints[i]);
            hs_etcd_free(e);
            return HS_EINVAL;
        }
    }
    atomic_init(&e->preferred, 0);
    atomic_init(&e->log_last_ms, -1000000);
    atomic_init(&e->log_suppressed, 0);
    *out = e;
    return HS_OK;
}

void hs_etcd_free(struct hs_etcd *e)
{
    if (!e)
        return;
    for (size_t i = 0; e->eps && i < e->n_endpoints; i++)
        hs_grpc_ep_free(e->eps[i]);
    free(e->eps);
    for (size_t i = 0; i < e->n_endpoints; i++)
        free(e->endpoints[i]);
    free(e->endpoints);
    free(e);
}

void hs_etcd_log_failure(struct hs_etcd *e, const char *endpoint, const char *path, enum hs_err err,
                         int status, const char *msg)
{
    long long now = hs_clock_mono_ms();
    long long last = atomic_load(&e->log_last_ms);
    if (now - last < LOG_INTERVAL_MS ||
        !atomic_compare_exchange_strong(&e->log_last_ms, &last, now)) {
        atomic_fetch_add(&e->log_suppressed, 1);
        return;
    }
    long long suppressed = atomic_exchange(&e->log_suppressed, 0);
    HS_LOG_WARN("etcd_request_failed",
                "endpoint=%s path=%s err=%s grpc_status=%d msg='%s' suppressed=%lld", endpoint,
                path, hs_err_name(err), status, msg ? msg : "", suppressed);
}

/* One attempt against endpoint idx. *retry: another endpoint may succeed. */
static enum hs_err attempt(struct hs_etcd *e, const struct hs_etcd_call *c, size_t idx,
                           struct hs_buf *reply, bool *retry)
{
    const char *ep = e->endpoints[idx];
    int64_t timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : e->timeout_ms;
    int status = -1;
    char msg[160] = "";
    enum hs_err err = hs_grpc_unary(e->eps[idx], c->path, c->req, timeout_ms, c->cancel, reply,
                                    &status, msg, sizeof msg);
    if (err == HS_OK && status == 0) {
        atomic_store(&e->preferred, idx);
        return HS_OK;
    }
    if (hs_stop_is_set(c->cancel)) {
        *retry = false;
        return HS_ETIMEDOUT;
    }
    bool endpoint_trouble;
    if (err == HS_OK) {
        err = hs_etcd_map_grpc(status, msg, retry);
        /* unavailable without a definite answer ("no leader" for an election is one) */
        endpoint_trouble = *retry;
        /* it may have been applied (etcd's own timeout): only idempotent calls go on */
        *retry = *retry && c->retry == HS_ETCD_IDEMPOTENT;
    } else {
        endpoint_trouble = true;
        *retry = err == HS_EUNAVAIL || c->retry == HS_ETCD_IDEMPOTENT;
        if (err == HS_EPROTO)
            *retry = false;
    }
    if (endpoint_trouble) {
        /* make the next call start elsewhere (unless another thread moved on already) */
        size_t expect = idx;
        atomic_compare_exchange_strong(&e->preferred, &expect, (idx + 1) % e->n_endpoints);
    }
    /* our deadline, or the server's ("context deadline exceeded", code 2 or 4): moves on,
     * quietly */
    bool expected =
        c->long_poll && (err == HS_ETIMEDOUT || strstr(msg, "context deadline exceeded"));
    if (!expected && (endpoint_trouble || err == HS_EINVAL || err == HS_ENOSPC ||
                      err == HS_EPROTO || err == HS_EAUTH))
        hs_etcd_log_failure(e, ep, c->path, err, status, msg);
    else
        HS_LOG_DEBUG("etcd_request_refused", "endpoint=%s path=%s err=%s grpc_status=%d msg='%s'",
                     ep, c->path, hs_err_name(err), status, msg);
    return err;
}

enum hs_err hs_etcd_request(struct hs_etcd *e, const struct hs_etcd_call *c, struct hs_buf *reply)
{
    bool pinned = c->endpoint >= 0 && (size_t)c->endpoint < e->n_endpoints;
    size_t start = pinned ? (size_t)c->endpoint : atomic_load(&e->preferred) % e->n_endpoints;
    /* every endpoint once, then the first again: a cluster mid-election may answer by then */
    size_t attempts = pinned ? 1 : e->n_endpoints + 1;
    enum hs_err err = HS_EUNAVAIL;
    for (size_t a = 0; a < attempts; a++) {
        if (hs_stop_is_set(c->cancel)) {
            err = HS_ETIMEDOUT;
            break;
        }
        bool retry = false;
        err = attempt(e, c, (start + a) % e->n_endpoints, reply, &retry);
        if (err == HS_OK || !retry)
            break;
    }
    return err;
}
