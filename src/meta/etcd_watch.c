/* etcd_watch.c - the network half of the watch: one thread and one HTTP connection per watch,
 * reconnecting from the last delivered revision + 1 and failing over between endpoints. The
 * gateway ends a watch only when the connection closes, so stop closes it: the transfer runs
 * on a private multi handle polled every 100 ms (and woken by stop). A stopped member accepts
 * TCP and then says nothing, so a connection that has not confirmed the watch within
 * timeout_ms, or that has been silent for PROBE_IDLE_MS and fails a quorum read, is dropped. */
#include "meta/etcd_int.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define POLL_MS        100
#define PROBE_IDLE_MS  5000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

struct hs_etcd_watch {
    struct hs_etcd *e;
    char *key;
    bool prefix;
    struct hs_etcd_watch_state st; /* watch thread only */
    pthread_t thread;
    struct hs_stop stop; /* set once by hs_etcd_watch_stop */
    pthread_mutex_t mu;  /* guards multi for the wakeup from stop */
    CURLM *multi;        /* (mu) the current connection's multi, NULL between connections */
    /* per connection, watch thread only: */
    long status;            /* HTTP status of the current reply, 0 until known */
    struct hs_buf err_body; /* body of a non-200 reply */
    int64_t last_data_ms;   /* mono time of the last byte received */
    enum hs_err feed_err;   /* a malformed stream line */
};

static size_t watch_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct hs_etcd_watch *w = ud;
    size_t n = size * nmemb;
    w->last_data_ms = hs_clock_mono_ms();
    if (hs_stop_is_set(&w->stop))
        return 0;
    if (w->status != 200) {
        /* an error before the stream started: a unary-style error body */
        return hs_buf_append(&w->err_body, p, n) == HS_OK ? n : 0;
    }
    enum hs_err err = hs_etcd_watch_state_feed(&w->st, p, n);
    if (err != HS_OK) {
        w->feed_err = err;
        return 0;
    }
    return w->st.must_reconnect ? 0 : n;
}

static size_t watch_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct hs_etcd_watch *w = ud;
    /* the status line of the final response ("HTTP/1.1 200 OK") */
    if (nmemb * size > 12 && strncmp(p, "HTTP/", 5) == 0) {
        const char *sp = memchr(p, ' ', nmemb * size);
        w->status = sp ? strtol(sp + 1, NULL, 10) : 0;
    }
    return size * nmemb;
}

static json_t *watch_body(const struct hs_etcd_watch *w)
{
    json_t *cr = json_object();
    size_t len = strlen(w->key);
    if (w->prefix) {
        uint8_t *end;
        size_t end_len;
        hs_etcd_prefix_end(w->key, len, &end, &end_len);
        json_object_set_new(cr, "key", hs_etcd_json_b64(len ? w->key : "", len ? len : 1));
        json_object_set_new(cr, "range_end", hs_etcd_json_b64(end, end_len));
        free(end);
    } else {
        json_object_set_new(cr, "key", hs_etcd_json_b64(w->key, len));
    }
    if (w->st.next_rev > 0)
        json_object_set_new(cr, "start_revision", hs_etcd_json_i64str(w->st.next_rev));
    json_object_set_new(cr, "progress_notify", json_true());
    json_t *b = json_object();
    json_object_set_new(b, "create_request", cr);
    return b;
}

/* A linearizable read on endpoint idx: does that member still have a leader? */
static bool probe_ok(struct hs_etcd_watch *w, size_t idx)
{
    json_t *b = json_object();
    json_object_set_new(b, "key", hs_etcd_json_b64(w->key, strlen(w->key) ? strlen(w->key) : 1));
    json_object_set_new(b, "count_only", json_true());
    struct hs_buf reply;
    hs_buf_init(&reply, HS_ETCD_REPLY_MAX_BYTES);
    struct hs_etcd_call c = {.path = "/v3/kv/range",
                             .body = b,
                             .retry = HS_ETCD_IDEMPOTENT,
                             .endpoint = (int)idx,
                             .cancel = &w->stop};
    enum hs_err err = hs_etcd_request(w->e, &c, &reply);
    hs_buf_release(&reply);
    json_decref(b);
    return err == HS_OK;
}

static void set_multi(struct hs_etcd_watch *w, CURLM *m)
{
    pthread_mutex_lock(&w->mu);
    w->multi = m;
    pthread_mutex_unlock(&w->mu);
}

/* Drives the transfer until it ends, stop, a server-side end of the watch, or a dead member. */
static enum hs_err run_transfer(struct hs_etcd_watch *w, CURLM *m, size_t idx)
{
    int64_t started = hs_clock_mono_ms();
    w->last_data_ms = started;
    for (;;) {
        int running = 0;
        if (curl_multi_perform(m, &running) != CURLM_OK)
            return HS_EUNAVAIL;
        if (!running) {
            int left;
            CURLMsg *msg = curl_multi_info_read(m, &left);
            CURLcode rc = msg && msg->msg == CURLMSG_DONE ? msg->data.result : CURLE_RECV_ERROR;
            if (w->feed_err != HS_OK)
                return w->feed_err;
            if (w->st.must_reconnect)
                return w->st.last_err;
            return rc == CURLE_OK ? HS_EUNAVAIL : HS_ETIMEDOUT; /* the stream ended */
        }
        if (hs_stop_is_set(&w->stop))
            return HS_OK;
        int64_t now = hs_clock_mono_ms();
        if (!w->st.created && now - started > w->e->timeout_ms)
            return HS_ETIMEDOUT; /* connected but never confirmed: a stopped member */
        if (w->st.created && now - w->last_data_ms > PROBE_IDLE_MS) {
            if (!probe_ok(w, idx))
                return HS_EUNAVAIL;
            w->last_data_ms = hs_clock_mono_ms();
        }
        curl_multi_poll(m, NULL, 0, POLL_MS, NULL);
    }
}

/* One connection to endpoint idx. HS_OK: stopped or a clean server-side end (compaction). */
static enum hs_err watch_once(struct hs_etcd_watch *w, size_t idx, bool *was_created)
{
    json_t *b = watch_body(w);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    char *url = hs_xasprintf("%s/v3/watch", w->e->endpoints[idx]);
    CURL *h = curl_easy_init();
    CURLM *m = curl_multi_init();
    if (!h || !m || !body)
        HS_BUG("cannot set up a watch transfer");
    hs_etcd_watch_state_reset_conn(&w->st);
    w->status = 0;
    w->feed_err = HS_OK;
    hs_buf_reset(&w->err_body);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, w->e->watch_headers);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, watch_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, watch_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, w);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)w->e->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_multi_add_handle(m, h);
    set_multi(w, m);
    enum hs_err err = run_transfer(w, m, idx);
    set_multi(w, NULL);
    *was_created = w->st.created;
    if (w->status != 0 && w->status != 200) {
        char msg[128];
        bool retry;
        err = hs_etcd_map_error(w->status, (const char *)w->err_body.data, w->err_body.len, msg,
                                sizeof msg, &retry);
        hs_etcd_log_failure(w->e, w->e->endpoints[idx], "/v3/watch", err, w->status, msg);
    } else if (err != HS_OK && !hs_stop_is_set(&w->stop)) {
        hs_etcd_log_failure(w->e, w->e->endpoints[idx], "/v3/watch", err, w->status, "");
    }
    /* removing the handle closes the connection: the only way to end a gateway watch */
    curl_multi_remove_handle(m, h);
    curl_multi_cleanup(m);
    curl_easy_cleanup(h);
    free(url);
    free(body);
    return err;
}

static void *watch_main(void *arg)
{
    struct hs_etcd_watch *w = arg;
    size_t idx = atomic_load(&w->e->preferred) % w->e->n_endpoints;
    int64_t backoff_ms = BACKOFF_MIN_MS;
    while (!hs_stop_is_set(&w->stop)) {
        bool created = false;
        enum hs_err err = watch_once(w, idx, &created);
        if (hs_stop_is_set(&w->stop))
            break;
        if (created)
            backoff_ms = BACKOFF_MIN_MS;
        if (err == HS_OK && created)
            continue; /* compaction: resume at once from the compact revision */
        idx = (idx + 1) % w->e->n_endpoints;
        hs_clock_sleep_ms(backoff_ms, &w->stop);
        backoff_ms = HS_MIN(backoff_ms * 2, BACKOFF_MAX_MS);
    }
    return NULL;
}

enum hs_err hs_etcd_watch_start(struct hs_etcd *e, const char *key, bool prefix,
                                int64_t start_revision, hs_etcd_watch_fn *fn, void *ctx,
                                struct hs_etcd_watch **out)
{
    if (!e || !key || (!*key && !prefix) || !fn || !out || start_revision < 0)
        return HS_EINVAL;
    if (e->transport)
        return HS_EINVAL; /* streams need the real transport */
    struct hs_etcd_watch *w = hs_xcalloc(1, sizeof *w);
    w->e = e;
    w->key = hs_xstrdup(key);
    w->prefix = prefix;
    hs_etcd_watch_state_init(&w->st, start_revision, fn, ctx);
    hs_buf_init(&w->err_body, 1 << 20);
    pthread_mutex_init(&w->mu, NULL);
    int rc = pthread_create(&w->thread, NULL, watch_main, w);
    if (rc != 0) {
        char text[64];
        HS_LOG_ERROR("etcd_watch_start_failed", "key='%s' errno=%d err='%s'", key, rc,
                     hs_errno_text(rc, text, sizeof text));
        pthread_mutex_destroy(&w->mu);
        hs_buf_release(&w->err_body);
        hs_etcd_watch_state_release(&w->st);
        free(w->key);
        free(w);
        return HS_EUNAVAIL;
    }
    *out = w;
    return HS_OK;
}

void hs_etcd_watch_stop(struct hs_etcd_watch *w)
{
    if (!w)
        return;
    hs_stop_set(&w->stop);
    pthread_mutex_lock(&w->mu);
    if (w->multi)
        curl_multi_wakeup(w->multi);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    hs_buf_release(&w->err_body);
    hs_etcd_watch_state_release(&w->st);
    free(w->key);
    free(w);
}
