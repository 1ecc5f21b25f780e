/* members.c - the live storage nodes: every change of the nodes/ view is parsed once into an
 * immutable, reference-counted snapshot (sorted by id, with an id array for hs_place_*), so a
 * request takes one consistent membership for its whole life at the cost of an atomic. A node
 * whose registration does not parse is left out (logged once per change), never guessed at. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway/gw_int.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/view.h"
#include "hs/banned.h"

/* pub must stay first: hs_gw_members_put casts back from it. */
struct hs_gw_members_snap {
    struct hs_gw_members pub;
    atomic_int refs;
    struct hs_gw_node *nodes; /* heap, strings heap */
    const char **ids;         /* heap, borrowed from nodes */
};

static void snap_free(struct hs_gw_members_snap *s)
{
    for (size_t i = 0; i < s->pub.n; i++) {
        free((char *)s->nodes[i].id);
        free((char *)s->nodes[i].url);
        free((char *)s->nodes[i].zone);
    }
    free(s->nodes);
    free(s->ids);
    free(s);
}

static void snap_unref(struct hs_gw_members_snap *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        snap_free(s);
}

static int64_t json_int(const json_t *o, const char *name)
{
    const json_t *v = json_object_get(o, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* Parses one registration; false when it is not usable (no id matching the key, no URL). */
static bool parse_node(const struct hs_view_entry *e, struct hs_gw_node *out)
{
    json_error_t jerr;
    json_t *o = json_loadb((const char *)e->value, e->value_len, 0, &jerr);
    bool ok = false;
    if (!json_is_object(o))
        goto out;
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *url = json_string_value(json_object_get(o, "url"));
    const char *zone = json_string_value(json_object_get(o, "zone"));
    if (!id || strcmp(id, e->name) != 0 || !hs_meta_node_id_valid(id) || !url || !*url)
        goto out;
    size_t ulen = strlen(url);
    while (ulen > 0 && url[ulen - 1] == '/') /* blob URLs are url + "/v1/blobs/..." */
        ulen--;
    out->id = hs_xstrdup(id);
    out->url = hs_xstrndup(url, ulen);
    out->zone = hs_xstrdup(zone ? zone : "");
    out->capacity_bytes = json_int(o, "capacity_bytes");
    out->free_bytes = json_int(o, "free_bytes");
    ok = true;
out:
    json_decref(o);
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
    size_t lo = 0, hi = m->n;
    while (lo < hi) { /* nodes are sorted by id (the view's byte order) */
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->nodes[mid].id, node_id);
        if (c == 0)
            return m->nodes[mid].url;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void hs_gw_members_release_all(struct hs_gw *gw)
{
    pthread_mutex_lock(&gw->lock);
    struct hs_gw_members_snap *s = gw->members;
    gw->members = NULL;
    pthread_mutex_unlock(&gw->lock);
    snap_unref(s);
}
