/* members.c - the live storage nodes: every change of the nodes/ view is parsed once into an
 * immutable, reference-counted snapshot (sorted by id, with an id array for hs_place_*), so a
 * request takes one consistent membership for its whole life at the cost of an atomic. A node
 * whose registration does not parse is left out (logged once per change), never guessed at.
 * Nodes whose registration vanished stay listed as "recent" (with their last URL) for
 * RECENT_KEEP_MS, because a lease lapses whenever etcd stalls for longer than its TTL while the
 * node itself keeps serving: reads and deletes may still reach it, placement never uses it. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_int.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/registration.h"
#include "hs/view.h"
#include "hs/clock.h"
#include "hs/banned.h"

#define RECENT_KEEP_MS (15 * 60 * 1000)
#define RECENT_MAX     1024

/* pub must stay first: hs_gw_members_put casts back from it. */
struct hs_gw_members_snap {
    struct hs_gw_members pub;
    atomic_int refs;
    struct hs_gw_node *nodes;  /* heap, strings heap */
    const char **ids;          /* heap, borrowed from nodes */
    struct hs_gw_node *recent; /* heap, strings heap; departed nodes, sorted by id */
    int64_t *recent_since_ms;  /* heap: when each left (monotonic) */
};

static void node_release(struct hs_gw_node *n)
{
    free((char *)n->id);
    free((char *)n->url);
    free((char *)n->zone);
}

static void snap_free(struct hs_gw_members_snap *s)
{
    for (size_t i = 0; i < s->pub.n; i++)
        node_release(&s->nodes[i]);
    for (size_t i = 0; i < s->pub.n_recent; i++)
        node_release(&s->recent[i]);
    free(s->nodes);
    free(s->ids);
    free(s->recent);
    free(s->recent_since_ms);
    free(s);
}

static const struct hs_gw_node *find_node(const struct hs_gw_node *nodes, size_t n,
                                          const char *node_id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* sorted by id (the view's byte order) */
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(nodes[mid].id, node_id);
        if (c == 0)
            return &nodes[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int node_cmp(const void *a, const void *b)
{
    return strcmp(((const struct hs_gw_node *)a)->id, ((const struct hs_gw_node *)b)->id);
}

static void recent_add(struct hs_gw_members_snap *s, const struct hs_gw_node *n, int64_t since)
{
    struct hs_gw_node *r = &s->recent[s->pub.n_recent];
    r->id = hs_xstrdup(n->id);
    r->url = hs_xstrdup(n->url);
    r->zone = hs_xstrdup(n->zone);
    s->recent_since_ms[s->pub.n_recent++] = since;
}

/* The departed nodes of s: the old snapshot's live nodes missing from s, plus its recent ones
 * that are still missing and not too old. Old snapshot read under gw->lock by the caller. */
static void recent_carry(struct hs_gw_members_snap *s, const struct hs_gw_members_snap *old)
{
    size_t cap = old ? old->pub.n + old->pub.n_recent : 0;
    if (cap > RECENT_MAX)
        cap = RECENT_MAX;
    s->recent = hs_xcalloc(cap + 1, sizeof *s->recent);
    s->recent_since_ms = hs_xcalloc(cap + 1, sizeof *s->recent_since_ms);
    if (!old)
        return;
    int64_t now = hs_clock_mono_ms();
    for (size_t i = 0; i < old->pub.n && s->pub.n_recent < cap; i++)
        if (!find_node(s->nodes, s->pub.n, old->nodes[i].id))
            recent_add(s, &old->nodes[i], now);
    for (size_t i = 0; i < old->pub.n_recent && s->pub.n_recent < cap; i++)
        if (now - old->recent_since_ms[i] < RECENT_KEEP_MS &&
            !find_node(s->nodes, s->pub.n, old->recent[i].id))
            recent_add(s, &old->recent[i], old->recent_since_ms[i]);
    /* sort both arrays together: ids are unique, so sort an index by id */
    size_t n = s->pub.n_recent;
    struct hs_gw_node *tmp = hs_xcalloc(n + 1, sizeof *tmp);
    int64_t *since = hs_xcalloc(n + 1, sizeof *since);
    memcpy(tmp, s->recent, n * sizeof *tmp);
    qsort(tmp, n, sizeof *tmp, node_cmp);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (tmp[i].id == s->recent[j].id)
                since[i] = s->recent_since_ms[j];
    free(s->recent);
    free(s->recent_since_ms);
    s->recent = tmp;
    s->recent_since_ms = since;
}

static void snap_unref(struct hs_gw_members_snap *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        snap_free(s);
}

/* Decodes one registration (registration.h); false when it is not usable (an id not matching
 * the key, no URL). */
static bool parse_node(const struct hs_view_entry *e, struct hs_gw_node *out)
{
    struct hs_node_registration r;
    if (hs_node_registration_decode(e->value, e->value_len, &r) != HS_OK)
        return false;
    bool ok = strcmp(r.id, e->name) == 0 && r.url;
    if (ok) {
        *out = (struct hs_gw_node){.id = r.id,
                                   .url = r.url,
                                   .zone = r.zone,
                                   .capacity_bytes = r.capacity_bytes,
                                   .free_bytes = r.free_bytes};
        r.id = r.url = r.zone = NULL; /* moved */
    }
    hs_node_registration_release(&r);
    return ok;
}

void hs_gw_members_on_change(void *ctx, const struct hs_view_snapshot *snap)
{
    struct hs_gw *gw = ctx;
    struct hs_gw_members_snap *s = hs_xcalloc(1, sizeof *s);
    s->nodes = hs_xcalloc(snap->n + 1, sizeof *s->nodes);
    s->ids = hs_xcalloc(snap->n + 1, sizeof *s->ids);
    size_t n = 0, bad = 0;
    for (size_t i = 0; i < snap->n; i++) {
        if (parse_node(&snap->entries[i], &s->nodes[n])) {
            s->ids[n] = s->nodes[n].id;
            n++;
        } else {
            bad++;
        }
    }
    s->pub.nodes = s->nodes;
    s->pub.ids = s->ids;
    s->pub.n = n;
    s->pub.revision = snap->revision;
    atomic_init(&s->refs, 1);
    if (bad)
        HS_LOG_WARN("node_registration_invalid", "count=%zu revision=%" PRId64, bad,
                    snap->revision);
    pthread_mutex_lock(&gw->lock);
    struct hs_gw_members_snap *old = gw->members;
    recent_carry(s, old);
    s->pub.recent = s->recent;
    gw->members = s;
    pthread_mutex_unlock(&gw->lock);
    size_t old_n = old ? old->pub.n : 0;
    if (old_n != n)
        HS_LOG_INFO("members_changed", "nodes=%zu was=%zu revision=%" PRId64, n, old_n,
                    snap->revision);
    snap_unref(old);
}

const struct hs_gw_members *hs_gw_members_get(struct hs_gw *gw)
{
    pthread_mutex_lock(&gw->lock);
    struct hs_gw_members_snap *s = gw->members;
    if (!s) {
        /* before the first load: an empty snapshot, so callers never see NULL */
        s = hs_xcalloc(1, sizeof *s);
        atomic_init(&s->refs, 1);
        gw->members = s;
    }
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&gw->lock);
    return &s->pub;
}

void hs_gw_members_put(struct hs_gw *gw, const struct hs_gw_members *m)
{
    (void)gw;
    snap_unref((struct hs_gw_members_snap *)m);
}

const char *hs_gw_members_url(const struct hs_gw_members *m, const char *node_id)
{
    const struct hs_gw_node *n = find_node(m->nodes, m->n, node_id);
    return n ? n->url : NULL;
}

const char *hs_gw_members_url_any(const struct hs_gw_members *m, const char *node_id)
{
    const struct hs_gw_node *n = find_node(m->nodes, m->n, node_id);
    if (!n && m->recent)
        n = find_node(m->recent, m->n_recent, node_id);
    return n ? n->url : NULL;
}

void hs_gw_members_release_all(struct hs_gw *gw)
{
    pthread_mutex_lock(&gw->lock);
    struct hs_gw_members_snap *s = gw->members;
    gw->members = NULL;
    pthread_mutex_unlock(&gw->lock);
    snap_unref(s);
}
