/* etcd_client.c - the request layer of the etcd gateway client: endpoint list, a pool of
 * kept-alive curl easy handles, one POST per attempt with short timeouts, failover to the next
 * endpoint, error mapping and rate-limited failure logging. The kv/lease/watch/election files
 * build JSON bodies and call hs_etcd_request; nothing else here knows etcd's API. */
#include "meta/etcd_int.h"

#include <curl/curl.h>
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
#define CANCEL_POLL_MS             100

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    /* curl_global_init is not thread-safe in every libcurl: run it exactly once */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        HS_BUG("curl_global_init failed");
}

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
    pthread_once(&curl_once, curl_init_once);
    struct hs_etcd *e = hs_xcalloc(1, sizeof *e);
    pthread_mutex_init(&e->pool_mu, NULL);
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
    e->transport = opts->transport;
    e->transport_ctx = opts->transport_ctx;
    /* libcurl sends "Expect: 100-continue" on large POSTs: one wasted round trip each */
    e->headers = curl_slist_append(NULL, "Content-Type: application/json");
    e->headers = curl_slist_append(e->headers, "Expect:");
    e->watch_headers = curl_slist_append(NULL, "Content-Type: application/json");
    e->watch_headers = curl_slist_append(e->watch_headers, "Expect:");
    /* require-leader: a member cut off from quorum ends the stream instead of going silent */
    e->watch_headers = curl_slist_append(e->watch_headers, "Grpc-Metadata-hasleader: true");
    if (!e->headers || !e->watch_headers)
        HS_BUG("curl_slist_append failed");
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
    for (size_t i = 0; i < e->n_pool; i++)
        curl_easy_cleanup(e->pool[i]);
    pthread_mutex_destroy(&e->pool_mu);
    curl_slist_free_all(e->headers);
    curl_slist_free_all(e->watch_headers);
    for (size_t i = 0; i < e->n_endpoints; i++)
        free(e->endpoints[i]);
    free(e->endpoints);
    free(e);
}

static CURL *pool_get(struct hs_etcd *e)
{
    CURL *h = NULL;
    pthread_mutex_lock(&e->pool_mu);
    if (e->n_pool > 0)
        h = e->pool[--e->n_pool];
    pthread_mutex_unlock(&e->pool_mu);
    if (!h && !(h = curl_easy_init()))
        HS_BUG("curl_easy_init failed");
    /* reset keeps the handle's live connections, so keep-alive survives */
    curl_easy_reset(h);
    return h;
}

static void pool_put(struct hs_etcd *e, CURL *h)
{
    pthread_mutex_lock(&e->pool_mu);
    if (e->n_pool < HS_ETCD_POOL_MAX) {
        e->pool[e->n_pool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&e->pool_mu);
    if (h)
        curl_easy_cleanup(h);
}

struct post_ctx {
    struct hs_buf *reply;
    const struct hs_stop *cancel;
    bool too_big;
};

static int post_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                         curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    const struct post_ctx *ctx = ud;
    return hs_stop_is_set(ctx->cancel) ? 1 : 0; /* nonzero aborts the transfer */
}

static size_t post_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct post_ctx *ctx = ud;
    if (hs_buf_append(ctx->reply, p, size * nmemb) != HS_OK) {
        ctx->too_big = true;
        return 0;
    }
    return size * nmemb;
}

/* Runs h to completion on a private multi handle, polling *cancel every CANCEL_POLL_MS. The
 * multi (and with it the connection) is closed afterwards: that is how etcd learns that a
 * blocked campaign was abandoned. */
static CURLcode perform_cancellable(CURL *h, const struct hs_stop *cancel)
{
    CURLM *m = curl_multi_init();
    if (!m)
        HS_BUG("curl_multi_init failed");
    curl_multi_add_handle(m, h);
    CURLcode rc = CURLE_ABORTED_BY_CALLBACK;
    for (;;) {
        int running = 0;
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (!running) {
            int left;
            CURLMsg *msg = curl_multi_info_read(m, &left);
            rc = msg && msg->msg == CURLMSG_DONE ? msg->data.result : CURLE_RECV_ERROR;
            break;
        }
        if (hs_stop_is_set(cancel))
            break;
        curl_multi_poll(m, NULL, 0, CANCEL_POLL_MS, NULL);
    }
    curl_multi_remove_handle(m, h);
    curl_multi_cleanup(m);
    return rc;
}

static enum hs_err curl_result(CURL *h, CURLcode rc, const struct post_ctx *ctx, long *status)
{
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        return HS_OK;
    }
    if (ctx->too_big)
        return HS_EPROTO;
    /* no pretransfer time: the request never left (refused, unresolvable, connect timeout) */
    curl_off_t pre = 0;
    curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pre);
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || pre == 0)
        return HS_EUNAVAIL;
    return HS_ETIMEDOUT;
}

enum hs_err hs_etcd_curl_post(struct hs_etcd *e, const char *endpoint, const char *path,
                              const char *body, size_t body_len, int64_t timeout_ms,
                              const struct hs_stop *cancel, bool keep_conn, struct hs_buf *reply,
                              long *status)
{
    char *url = hs_xasprintf("%s%s", endpoint, path);
    /* a promptly cancellable call gets a fresh handle whose connection dies with it */
    bool fresh = cancel && !keep_conn;
    CURL *h = fresh ? curl_easy_init() : pool_get(e);
    if (!h)
        HS_BUG("curl_easy_init failed");
    struct post_ctx ctx = {.reply = reply, .cancel = cancel};
    if (cancel && keep_conn) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, post_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &ctx);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, e->headers);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, post_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &ctx);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)HS_MIN(e->connect_timeout_ms, timeout_ms));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    CURLcode rc = fresh ? perform_cancellable(h, cancel) : curl_easy_perform(h);
    enum hs_err err = curl_result(h, rc, &ctx, status);
    if (fresh)
        curl_easy_cleanup(h);
    else
        pool_put(e, h);
    free(url);
    return err;
}

void hs_etcd_log_failure(struct hs_etcd *e, const char *endpoint, const char *path, enum hs_err err,
                         long status, const char *msg)
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
                "endpoint=%s path=%s err=%s status=%ld msg='%s' suppressed=%lld", endpoint, path,
                hs_err_name(err), status, msg ? msg : "", suppressed);
}

/* One attempt against endpoint idx. *retry: another endpoint may succeed. */
static enum hs_err attempt(struct hs_etcd *e, const struct hs_etcd_call *c, size_t idx,
                           const char *body, size_t body_len, struct hs_buf *reply, bool *retry)
{
    const char *ep = e->endpoints[idx];
    int64_t timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : e->timeout_ms;
    long status = 0;
    char msg[160] = "";
    hs_buf_reset(reply);
    enum hs_err err = e->transport ? e->transport(e->transport_ctx, ep, c->path, body, body_len,
                                                  timeout_ms, reply, &status)
                                   : hs_etcd_curl_post(e, ep, c->path, body, body_len, timeout_ms,
                                                       c->cancel, c->keep_conn, reply, &status);
    if (err == HS_OK && status == 200) {
        atomic_store(&e->preferred, idx);
        return HS_OK;
    }
    if (hs_stop_is_set(c->cancel)) {
        *retry = false;
        return HS_ETIMEDOUT;
    }
    bool endpoint_trouble;
    if (err == HS_OK) {
        err = hs_etcd_map_error(status, (const char *)reply->data, reply->len, msg, sizeof msg,
                                retry);
        /* 5xx without a definite answer ("no leader" for an election is one) */
        endpoint_trouble = *retry;
        /* a 5xx may have been applied (etcd's own timeout): only idempotent calls go on */
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
    if (endpoint_trouble || err == HS_EINVAL || err == HS_ENOSPC || err == HS_EPROTO ||
        err == HS_EAUTH)
        hs_etcd_log_failure(e, ep, c->path, err, status, msg);
    else
        HS_LOG_DEBUG("etcd_request_refused", "endpoint=%s path=%s err=%s status=%ld msg='%s'", ep,
                     c->path, hs_err_name(err), status, msg);
    return err;
}

enum hs_err hs_etcd_request(struct hs_etcd *e, const struct hs_etcd_call *c, struct hs_buf *reply)
{
    char *body = json_dumps(c->body, JSON_COMPACT);
    if (!body)
        HS_BUG("json_dumps failed");
    size_t body_len = strlen(body);
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
        err = attempt(e, c, (start + a) % e->n_endpoints, body, body_len, reply, &retry);
        if (err == HS_OK || !retry)
            break;
    }
    free(body);
    return err;
}
