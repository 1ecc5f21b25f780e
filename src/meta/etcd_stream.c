/* etcd_stream.c - the pure half of the watch: splitting the gateway's newline-delimited JSON
 * stream into lines (a large event arrives in dozens of write callbacks), parsing one watch
 * reply line, and the state machine that delivers events and tracks the revision to resume
 * from. No I/O, so unit tests and the fuzz target feed it bytes cut at arbitrary places. */
#include "meta/etcd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/mem.h"
#include "hs/banned.h"

void hs_etcd_lines_init(struct hs_etcd_lines *l)
{
    hs_buf_init(&l->buf, HS_ETCD_REPLY_MAX_BYTES);
}

void hs_etcd_lines_release(struct hs_etcd_lines *l)
{
    if (l)
        hs_buf_release(&l->buf);
}

static enum hs_err emit_line(const char *line, size_t len, hs_etcd_line_fn *fn, void *ctx)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    return len > 0 ? fn(ctx, line, len) : HS_OK;
}

enum hs_err hs_etcd_lines_feed(struct hs_etcd_lines *l, const void *data, size_t len,
                               hs_etcd_line_fn *fn, void *ctx)
{
    const char *p = data;
    while (len > 0) {
        const char *nl = memchr(p, '\n', len);
        size_t seg = nl ? (size_t)(nl - p) : len;
        if (!nl || l->buf.len > 0) {
            /* an unfinished line, or the end of one begun in an earlier feed */
            if (hs_buf_append(&l->buf, p, seg) != HS_OK) {
                hs_buf_reset(&l->buf);
                return HS_EPROTO;
            }
            if (!nl)
                return HS_OK;
        }
        enum hs_err err;
        if (l->buf.len > 0) {
            err = emit_line((const char *)l->buf.data, l->buf.len, fn, ctx);
            hs_buf_reset(&l->buf);
        } else {
            err = emit_line(p, seg, fn, ctx);
        }
        if (err != HS_OK)
            return err;
        p = nl + 1;
        len -= seg + 1;
    }
    return HS_OK;
}

void hs_etcd_watch_msg_release(struct hs_etcd_watch_msg *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_events; i++)
        hs_etcd_kv_release(&m->events[i].kv);
    free(m->events);
    m->events = NULL;
    m->n_events = 0;
}

static enum hs_err parse_event(const json_t *j, struct hs_etcd_event *ev)
{
    if (!json_is_object(j))
        return HS_EPROTO;
    /* type PUT is enum 0, so it is omitted; accept names and numbers */
    const json_t *type = json_object_get(j, "type");
    bool is_delete = false;
    if (json_is_string(type))
        is_delete = strcmp(json_string_value(type), "DELETE") == 0;
    else if (json_is_integer(type))
        is_delete = json_integer_value(type) == 1;
    else if (type && !json_is_null(type))
        return HS_EPROTO;
    const json_t *kv = json_object_get(j, "kv");
    if (!json_is_object(kv))
        return HS_EPROTO;
    enum hs_err err = hs_etcd_parse_kv(kv, &ev->kv);
    if (err == HS_OK)
        ev->is_delete = is_delete;
    return err;
}

static enum hs_err parse_events(const json_t *evs, struct hs_etcd_watch_msg *m)
{
    if (!json_is_array(evs))
        return HS_EPROTO;
    size_t n = json_array_size(evs);
    m->events = hs_xcalloc(n ? n : 1, sizeof *m->events);
    for (size_t i = 0; i < n; i++) {
        enum hs_err err = parse_event(json_array_get(evs, i), &m->events[i]);
        if (err != HS_OK)
            return err;
        m->n_events++;
    }
    return HS_OK;
}

static enum hs_err parse_result(const json_t *res, struct hs_etcd_watch_msg *m)
{
    bool created, canceled;
    enum hs_err err;
    if ((err = hs_etcd_parse_header_rev(res, &m->revision)) != HS_OK ||
        (err = hs_etcd_json_bool(res, "created", &created)) != HS_OK ||
        (err = hs_etcd_json_bool(res, "canceled", &canceled)) != HS_OK ||
        (err = hs_etcd_json_i64(res, "compact_revision", &m->compact_revision)) != HS_OK)
        return err;
    const json_t *evs = json_object_get(res, "events");
    if (evs && !json_is_null(evs) && (err = parse_events(evs, m)) != HS_OK)
        return err;
    if (canceled) {
        const json_t *reason = json_object_get(res, "cancel_reason");
        snprintf(m->message, sizeof m->message, "%s",
                 json_is_string(reason) ? json_string_value(reason) : "canceled");
        m->kind = m->compact_revision > 0 ? HS_ETCD_WMSG_COMPACTED : HS_ETCD_WMSG_CANCELED;
    } else if (created) {
        m->kind = HS_ETCD_WMSG_CREATED;
    } else {
        m->kind = m->n_events > 0 ? HS_ETCD_WMSG_EVENTS : HS_ETCD_WMSG_PROGRESS;
    }
    return HS_OK;
}

enum hs_err hs_etcd_parse_watch_msg(const char *line, size_t len, struct hs_etcd_watch_msg *out)
{
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    struct hs_etcd_watch_msg m = {0};
    enum hs_err err = HS_EPROTO;
    if (!json_is_object(j))
        goto out;
    const json_t *res = json_object_get(j, "result");
    const json_t *e = json_object_get(j, "error");
    if (json_is_object(res)) {
        err = parse_result(res, &m);
    } else if (json_is_object(e)) {
        /* mid-stream errors: {"error":{"grpc_code":14,"http_code":503,"message":..}} */
        const json_t *code = json_object_get(e, "grpc_code");
        const json_t *msg = json_object_get(e, "message");
        m.kind = HS_ETCD_WMSG_ERROR;
        m.grpc_code = json_is_integer(code) ? (int)json_integer_value(code) : 2;
        snprintf(m.message, sizeof m.message, "%s",
                 json_is_string(msg) ? json_string_value(msg) : "");
        err = HS_OK;
    }
    if (err == HS_OK) {
        *out = m;
        m = (struct hs_etcd_watch_msg){0};
    }
out:
    hs_etcd_watch_msg_release(&m);
    json_decref(j);
    return err;
}

void hs_etcd_watch_state_init(struct hs_etcd_watch_state *s, int64_t start_rev,
                              hs_etcd_watch_fn *fn, void *ctx)
{
    *s = (struct hs_etcd_watch_state){
        .next_rev = start_rev > 0 ? start_rev : 0, .fn = fn, .ctx = ctx};
    hs_etcd_lines_init(&s->lines);
}

void hs_etcd_watch_state_release(struct hs_etcd_watch_state *s)
{
    if (s)
        hs_etcd_lines_release(&s->lines);
}

void hs_etcd_watch_state_reset_conn(struct hs_etcd_watch_state *s)
{
    hs_buf_reset(&s->lines.buf);
    s->created = false;
    s->must_reconnect = false;
    s->last_err = HS_OK;
}

/* Applies one parsed reply to the state; events go to the user's callback. */
static void watch_apply(struct hs_etcd_watch_state *s, const struct hs_etcd_watch_msg *m)
{
    bool retry;
    switch (m->kind) {
    case HS_ETCD_WMSG_CREATED:
        s->created = true;
        /* a watch "from now" gets every event after the creation revision */
        if (s->next_rev == 0)
            s->next_rev = m->revision + 1;
        break;
    case HS_ETCD_WMSG_EVENTS: {
        int64_t max_rev = 0;
        for (size_t i = 0; i < m->n_events; i++)
            max_rev = HS_MAX(max_rev, m->events[i].kv.mod_revision);
        s->fn(s->ctx, m->events, m->n_events, m->revision, false);
        /* only event revisions are safe: a batch header may run ahead of the events sent */
        s->next_rev = HS_MAX(s->next_rev, max_rev + 1);
        break;
    }
    case HS_ETCD_WMSG_PROGRESS:
        /* progress is only sent to a synced watcher: nothing older is still to come */
        if (s->created)
            s->next_rev = HS_MAX(s->next_rev, m->revision + 1);
        break;
    case HS_ETCD_WMSG_COMPACTED:
        s->fn(s->ctx, NULL, 0, m->compact_revision, true);
        s->next_rev = m->compact_revision;
        s->must_reconnect = true;
        s->last_err = HS_OK;
        break;
    case HS_ETCD_WMSG_CANCELED:
        s->must_reconnect = true;
        s->last_err = HS_EUNAVAIL;
        break;
    case HS_ETCD_WMSG_ERROR:
        s->must_reconnect = true;
        s->last_err = hs_etcd_map_grpc(m->grpc_code, m->message, &retry);
        break;
    }
}

static enum hs_err watch_line(void *ctx, const char *line, size_t len)
{
    struct hs_etcd_watch_state *s = ctx;
    if (s->must_reconnect)
        return HS_OK; /* the server ended this watch: ignore the rest of the connection */
    struct hs_etcd_watch_msg m;
    enum hs_err err = hs_etcd_parse_watch_msg(line, len, &m);
    if (err != HS_OK)
        return err;
    watch_apply(s, &m);
    hs_etcd_watch_msg_release(&m);
    return HS_OK;
}

enum hs_err hs_etcd_watch_state_feed(struct hs_etcd_watch_state *s, const void *data, size_t len)
{
    return hs_etcd_lines_feed(&s->lines, data, len, watch_line, s);
}
