/* etcd_watch.c - the network half of the watch: one thread per watch and one gRPC Watch stream
 * on the endpoint's shared HTTP/2 connection, reopened from the last delivered revision + 1
 * after errors and failing over between endpoints. etcd ends a watch when the client resets
 * the stream, so stop does that. A stopped member accepts TCP and then says nothing, so a
 * stream that has not confirmed the watch within timeout_ms, or that has been silent for
 * PROBE_IDLE_MS and fails a quorum read on the same endpoint, is dropped. */
#include "meta/etcd_int.h"

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
};

/* A linearizable read on endpoint idx: does that member still have a leader? */
static bool probe_ok(struct hs_etcd_watch *w, size_t idx)
{
    size_t len = strlen(w->key);
    Hsetcd__RangeRequest r;
    hsetcd__range_request__init(&r);
    r.key = (ProtobufCBinaryData){.len = len ? len : 1, .data = (uint8_t *)(len ? w->key : "")};
    r.count_only = true;
    struct hs_buf reply;
    hs_buf_init(&reply, HS_ETCD_REPLY_MAX_BYTES);
    struct hs_etcd_call c = {.path = HS_ETCD_RANGE,
                             .req = &r.base,
                             .retry = HS_ETCD_IDEMPOTENT,
                             .endpoint = (int)idx,
                             .cancel = &w->stop};
    enum hs_err err = hs_etcd_request(w->e, &c, &reply);
    hs_buf_release(&reply);
    return err == HS_OK;
}

/* Reads the stream until it ends, stop, a server-side end of the watch, or a dead member. */
static enum hs_err run_stream(struct hs_etcd_watch *w, struct hs_grpc_stream *s, size_t idx)
{
    int64_t started = hs_clock_mono_ms();
    int64_t last_data = started;
    struct hs_buf msg;
    hs_buf_init(&msg, HS_ETCD_REPLY_MAX_BYTES);
    enum hs_err err;
    for (;;) {
        if (hs_stop_is_set(&w->stop)) {
            err = HS_OK;
            break;
        }
        bool ended = false;
        int status = -1;
        char text[128] = "";
        err = hs_grpc_stream_next(s, POLL_MS, &msg, &ended, &status, text, sizeof text);
        int64_t now = hs_clock_mono_ms();
        if (ended) {
            bool retry;
            /* any end of a watch stream is a reason to reopen it; say why */
            if (err == HS_OK)
                err = status == 0 ? HS_EUNAVAIL : hs_etcd_map_grpc(status, text, &retry);
            hs_etcd_log_failure(w->e, w->e->endpoints[idx], HS_ETCD_WATCH, err, status, text);
            break;
        }
        if (err == HS_OK) {
            last_data = now;
            err = hs_etcd_watch_state_feed(&w->st, msg.data, msg.len);
            if (err != HS_OK)
                break;
            if (w->st.must_reconnect) {
                err = w->st.last_err;
                break;
            }
            continue;
        }
        if (err != HS_ETIMEDOUT)
            break; /* bad framing */
        if (!w->st.created && now - started > w->e->timeout_ms)
            break; /* connected but never confirmed: a stopped member */
        if (w->st.created && now - last_data > PROBE_IDLE_MS) {
            if (!probe_ok(w, idx)) {
                err = HS_EUNAVAIL;
                break;
            }
            last_data = hs_clock_mono_ms();
        }
    }
    hs_buf_release(&msg);
    return err;
}

/* One stream on endpoint idx. HS_OK: stopped or a clean server-side end (compaction). */
static enum hs_err watch_once(struct hs_etcd_watch *w, size_t idx, bool *was_created)
{
    size_t len = strlen(w->key);
    Hsetcd__WatchCreateRequest cr;
    hsetcd__watch_create_request__init(&cr);
    uint8_t *end = NULL;
    if (w->prefix) {
        size_t end_len;
        hs_etcd_prefix_end(w->key, len, &end, &end_len);
        cr.key =
            (ProtobufCBinaryData){.len = len ? len : 1, .data = (uint8_t *)(len ? w->key : "")};
        cr.range_end = (ProtobufCBinaryData){.len = end_len, .data = end};
    } else {
        cr.key = (ProtobufCBinaryData){.len = len, .data = (uint8_t *)w->key};
    }
    cr.start_revision = w->st.next_rev > 0 ? w->st.next_rev : 0;
    cr.progress_notify = true;
    Hsetcd__WatchRequest req;
    hsetcd__watch_request__init(&req);
    req.request_union_case = HSETCD__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
    req.create_request = &cr;
    hs_etcd_watch_state_reset_conn(&w->st);
    struct hs_grpc_stream *s = NULL;
    /* require-leader: a member cut off from quorum ends the stream instead of going silent */
    enum hs_err err = hs_grpc_stream_open(w->e->eps[idx], HS_ETCD_WATCH, &req.base, true, &s);
    free(end);
    if (err != HS_OK) {
        hs_etcd_log_failure(w->e, w->e->endpoints[idx], HS_ETCD_WATCH, err, -1, "");
        *was_created = false;
        return err;
    }
    err = run_stream(w, s, idx);
    *was_created = w->st.created;
    if (err != HS_OK && !hs_stop_is_set(&w->stop) && err != w->st.last_err)
        HS_LOG_DEBUG("etcd_watch_reopen", "endpoint=%s key='%s' err=%s", w->e->endpoints[idx],
                     w->key, hs_err_name(err));
    /* resetting the stream is how etcd learns the watch is over */
    hs_grpc_stream_close(s);
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
    struct hs_etcd_watch *w = hs_xcalloc(1, sizeof *w);
    w->e = e;
    w->key = hs_xstrdup(key);
    w->prefix = prefix;
    hs_etcd_watch_state_init(&w->st, start_revision, fn, ctx);
    int rc = pthread_create(&w->thread, NULL, watch_main, w);
    if (rc != 0) {
        char text[64];
        HS_LOG_ERROR("etcd_watch_start_failed", "key='%s' errno=%d err='%s'", key, rc,
                     hs_errno_text(rc, text, sizeof text));
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
    pthread_join(w->thread, NULL);
    free(w->key);
    free(w);
}
