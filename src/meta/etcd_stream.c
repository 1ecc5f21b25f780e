/* etcd_stream.c - the pure half of the watch: decoding one WatchResponse message and the state
 * machine that delivers events and tracks the revision to resume from. No I/O, so unit tests
 * and the fuzz target feed it messages directly. */
#include "meta/etcd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/mem.h"
#include "hs/banned.h"

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

static enum hs_err decode_events(const Hsetcd__WatchResponse *pb, struct hs_etcd_watch_msg *m)
{
    m->events = hs_xcalloc(pb->n_events ? pb->n_events : 1, sizeof *m->events);
    for (size_t i = 0; i < pb->n_events; i++) {
        const Hsetcd__Event *ev = pb->events[i];
        /* an event without a kv cannot be applied: treat the stream as broken */
        if (!ev->kv)
            return HS_EPROTO;
        enum hs_err err = hs_etcd_kv_from_pb(ev->kv, &m->events[i].kv);
        if (err != HS_OK)
            return err;
        m->events[i].is_delete = ev->type == HSETCD__EVENT__EVENT_TYPE__DELETE;
        m->n_events++;
    }
    return HS_OK;
}

enum hs_err hs_etcd_decode_watch(const uint8_t *msg, size_t len, struct hs_etcd_watch_msg *out)
{
    Hsetcd__WatchResponse *pb = hsetcd__watch_response__unpack(NULL, len, msg);
    if (!pb)
        return HS_EPROTO;
    struct hs_etcd_watch_msg m = {.revision = pb->header ? pb->header->revision : 0,
                                  .compact_revision = pb->compact_revision};
    enum hs_err err = decode_events(pb, &m);
    if (err == HS_OK) {
        if (pb->canceled) {
            snprintf(m.message, sizeof m.message, "%s",
                     pb->cancel_reason && pb->cancel_reason[0] ? pb->cancel_reason : "canceled");
            m.kind = m.compact_revision > 0 ? HS_ETCD_WMSG_COMPACTED : HS_ETCD_WMSG_CANCELED;
        } else if (pb->created) {
            m.kind = HS_ETCD_WMSG_CREATED;
        } else {
            m.kind = m.n_events > 0 ? HS_ETCD_WMSG_EVENTS : HS_ETCD_WMSG_PROGRESS;
        }
        *out = m;
        m = (struct hs_etcd_watch_msg){0};
    }
    hs_etcd_watch_msg_release(&m);
    hsetcd__watch_response__free_unpacked(pb, NULL);
    return err;
}

void hs_etcd_watch_state_init(struct hs_etcd_watch_state *s, int64_t start_rev,
                              hs_etcd_watch_fn *fn, void *ctx)
{
    *s = (struct hs_etcd_watch_state){
        .next_rev = start_rev > 0 ? start_rev : 0, .fn = fn, .ctx = ctx};
}

void hs_etcd_watch_state_reset_conn(struct hs_etcd_watch_state *s)
{
    s->created = false;
    s->must_reconnect = false;
    s->last_err = HS_OK;
}

/* Applies one decoded reply to the state; events go to the user's callback. */
static void watch_apply(struct hs_etcd_watch_state *s, const struct hs_etcd_watch_msg *m)
{
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
    }
}

enum hs_err hs_etcd_watch_state_feed(struct hs_etcd_watch_state *s, const uint8_t *msg, size_t len)
{
    if (s->must_reconnect)
        return HS_OK; /* the server ended this watch: ignore the rest of the stream */
    struct hs_etcd_watch_msg m;
    enum hs_err err = hs_etcd_decode_watch(msg, len, &m);
    if (err != HS_OK)
        return err;
    watch_apply(s, &m);
    hs_etcd_watch_msg_release(&m);
    return HS_OK;
}
