/* relayout.c - the background re-layout of the adaptive-layout pass: walks the manifests of
 * every collection with a layout record (a cursor per collection, kept across passes and
 * restarted when the record's hot set changes) and asks a gateway to rewrite the objects whose
 * layout has become costly: those holding a field hot that the collection's layout has cold (a
 * demotion: the field's bytes go from 3x replication to 1.5x erasure coding) first, then, in a
 * second scan, those holding cold a field the layout has hot (a missed promotion: projections of
 * that field would read the cold part until the object's next write, which for a rarely written
 * object may never come). Both share the budget, so promotions cost at most what it allows.
 * The rewrite is POST /v1/admin/relayout/<key>?rev=<mod_revision>&promote=<fields> on a gateway
 * (the healer has no object-layer code): the gateway re-splits the document through the normal
 * write transaction, only if the manifest still has that revision, keeping content and ETag; a
 * client write always wins. It makes every demotion but only the promotions of fields that
 * projections read: the others would cost storage before the object's next write moves them.
 * Budget: relayout_per_s objects per second on average (each manifest examined costs 1/200 of one;
 * up to BURST_S seconds' worth saved up between passes). While config/manifest-shadows is on, a
 * promotion rewrite writes only the object's hot part (the gateway keeps the cold part, shadowing
 * the promoted fields), so promotion scans draw on a budget of their own that fills at
 * relayout_promote_per_s. Slices start with each collection in turn. Up to
 * HS_RELAYOUT_PARALLEL requests are in flight at once, spread over the gateways. A new
 * epoch that only adds hot fields after a finished demotion scan goes straight to the
 * promotion scan, and keeps that scan's cursor when it adds none that projections read. */
#include <pthread.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "healer/layout_int.h"
#include "hs/buf.h"
#include "healer/leadership.h"
#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/field_stats.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define PAGE_KEYS      100   /* manifests read per etcd page */
#define EXAMINE_COST   0.005 /* budget one examined manifest costs (a re-layout costs 1) */
#define SLICE_MAX_MS   500   /* wall time of one slice (before its last batch) */
#define CANDIDATES_MAX 64    /* re-layouts collected per page */
#define BURST_S        10    /* budget saved up while passes are long: this many seconds' worth */

void hs_relayout_targets_free(struct hs_healer_layout *st)
{
    for (size_t i = 0; i < st->n_targets; i++) {
        free(st->targets[i].collection);
        free(st->targets[i].after);
        hs_layout_fields_release(&st->targets[i].hot);
        hs_layout_fields_release(&st->targets[i].read);
        free(st->targets[i].promote_query);
    }
    free(st->targets);
    st->targets = NULL;
    st->n_targets = 0;
    st->next_target = 0;
}

static bool fields_subset(const struct hs_layout_fields *a, const struct hs_layout_fields *b)
{
    for (size_t i = 0; i < a->n; i++)
        if (!hs_layout_fields_contains(b, a->names[i]))
            return false;
    return true;
}

/* The fields coll's projections read: the union of its read sets. *all when that is unknown:
 * the collection is not tracked, or a set holds names it could not keep. */
static void projected_fields(const struct hs_field_stats *merged, const char *coll,
                             struct hs_layout_fields *out, bool *all)
{
    const struct hs_fstat_coll *c = merged ? hs_field_stats_find(merged, coll, strlen(coll)) : NULL;
    *all = c == NULL;
    size_t n = 0, cap = 0;
    for (uint32_t i = 0; c && i < c->n_rsets && !*all; i++) {
        *all = c->rsets[i].more;
        cap += c->rsets[i].n_names;
    }
    if (*all)
        return;
    const char **names = hs_xcalloc(cap ? cap : 1, sizeof *names);
    for (uint32_t i = 0; i < c->n_rsets; i++)
        for (uint32_t j = 0; j < c->rsets[i].n_names; j++)
            names[n++] = c->rsets[i].names[j];
    *all = hs_layout_fields_set(out, names, n) != HS_OK; /* too many or odd names: any */
    free(names);
}

/* The promote= argument of t's re-layouts: the hot fields its projections read, so that a
 * rewrite moves those and no other promotion ("" when any may be read: the gateway moves all). */
static char *promote_query(const struct hs_relayout_target *t)
{
    if (t->read_all)
        return hs_xstrdup("");
    struct hs_buf q;
    hs_buf_init(&q, 0);
    (void)hs_buf_append(&q, "&promote=", 9);
    bool first = true;
    for (size_t i = 0; i < t->hot.n; i++) {
        if (!hs_layout_fields_contains(&t->read, t->hot.names[i]))
            continue;
        char *esc = hs_relayout_escape_key(t->hot.names[i]);
        (void)hs_buf_printf(&q, "%s%s", first ? "" : ",", esc);
        first = false;
        free(esc);
    }
    char *out = hs_xstrndup((const char *)q.data, q.len);
    hs_buf_release(&q);
    return out;
}

/* t goes on with o's scan: its cursor, pace and whether it is done. */
static void take_scan(struct hs_relayout_target *t, struct hs_relayout_target *o)
{
    t->after = o->after;
    o->after = NULL;
    t->pace = o->pace;
    t->done = o->done;
}

void hs_relayout_set_targets(struct hs_healer_layout *st, const struct hs_layout_record *records,
                             size_t n, const struct hs_layout_fields *deflt,
                             const struct hs_field_stats *merged)
{
    struct hs_relayout_target *next = n ? hs_xcalloc(n, sizeof *next) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct hs_relayout_target *t = &next[i];
        t->collection = hs_xstrdup(records[i].collection);
        t->epoch = records[i].epoch;
        hs_layout_effective_hot(&records[i], deflt, &t->hot);
        projected_fields(merged, t->collection, &t->read, &t->read_all);
        t->promote_query = promote_query(t);
        bool carried = false;
        for (size_t j = 0; j < st->n_targets; j++) {
            struct hs_relayout_target *o = &st->targets[j];
            if (strcmp(o->collection, t->collection) != 0)
                continue;
            if (o->epoch == t->epoch && hs_layout_fields_equal(&o->hot, &t->hot)) {
                take_scan(t, o); /* same layout: go on where the scan was */
                t->promote = o->promote;
                carried = true;
            } else if ((o->promote || o->done) && fields_subset(&o->hot, &t->hot)) {
                /* only promotions since a finished demotion scan: every object holds hot at
                 * most the old set, so no demotion is left; straight to the promotion scan */
                t->promote = true;
                if (!o->read_all && !t->read_all &&
                    strcmp(o->promote_query, t->promote_query) == 0) {
                    /* and none that projections read: the objects the scan passed hold hot
                     * every field it would move now too, so it goes on where it was (a new
                     * scan would examine the whole collection again for nothing) */
                    take_scan(t, o);
                    char *hot = hs_layout_fields_csv(&t->hot);
                    HS_LOG_INFO("relayout_scan_kept",
                                "coll='%s' epoch=%" PRId64 " hot='%s' done=%d promote='%s'",
                                t->collection, t->epoch, hot, t->done,
                                t->promote_query + (t->promote_query[0] ? 9 : 0));
                    free(hot);
                    carried = true;
                }
            }
        }
        if (!carried) {
            char *hot = hs_layout_fields_csv(&t->hot);
            HS_LOG_INFO("relayout_scan_start",
                        "coll='%s' epoch=%" PRId64 " hot='%s' scan=%s promote='%s'", t->collection,
                        t->epoch, hot, t->promote ? "promotions" : "demotions",
                        t->read_all ? "(all)" : t->promote_query + (t->promote_query[0] ? 9 : 0));
            free(hot);
        }
    }
    size_t turn = st->next_target; /* the turns go on across rounds */
    hs_relayout_targets_free(st);
    st->targets = next;
    st->n_targets = n;
    st->next_target = turn;
}

/* True when the object holds hot a field its collection's layout has cold (a demotion) or, in
 * the promotion scan, holds cold a field the layout has hot that projections read (a missed
 * promotion: one that nothing reads is not worth a rewrite; the object's next write moves it,
 * and with shadows that write is cheap anyway). */
static bool costly(const struct hs_manifest *m, const struct hs_relayout_target *t)
{
    const struct hs_layout_fields *hot = &t->hot;
    if (m->strategy != HS_STRATEGY_FIELD_HYBRID)
        return false;
    struct hs_layout_fields oh = {0}, oc = {0};
    bool off = false;
    if (hs_layout_object_fields(m->field_order_json, &oh, &oc) == HS_OK) {
        for (size_t i = 0; i < oh.n && !off; i++)
            off = !hs_layout_fields_contains(hot, oh.names[i]);
        for (size_t i = 0; i < oc.n && !off && t->promote; i++)
            off = hs_layout_fields_contains(hot, oc.names[i]) &&
                  (t->read_all || hs_layout_fields_contains(&t->read, oc.names[i]));
    }
    hs_layout_fields_release(&oh);
    hs_layout_fields_release(&oc);
    return off;
}

struct cand {
    char *key; /* object key (heap) */
    int64_t rev;
    char *before; /* the scan cursor before it (heap etcd key, NULL = the start) */
};

struct walk {
    struct hs_relayout_target *t;
    struct cand c[CANDIDATES_MAX];
    size_t n;
    double budget;    /* left */
    int64_t deadline; /* monotonic ms: the slice's time is up */
    bool stopped;     /* fn stopped early (budget, candidates or time): not at the end */
    size_t examined;  /* manifests */
};

static bool walk_one(void *ctx, const struct hs_etcd_kv *kv)
{
    struct walk *w = ctx;
    /* the time too: with nothing to rewrite, a budget saved up pays for a whole collection's
     * pages, and the leader's other work (rolling back stalled writes) waits for the slice.
     * A page's worth is examined whatever the time: an etcd slower than a slice must not
     * stop the scan for good. */
    bool time_up = w->examined >= PAGE_KEYS && hs_clock_mono_ms() >= w->deadline;
    if (w->budget < 1 || w->n == CANDIDATES_MAX || time_up) {
        w->stopped = true;
        return false;
    }
    char *before = w->t->after;
    w->t->after = hs_xstrdup(kv->key);
    w->budget -= EXAMINE_COST;
    w->examined++;
    struct hs_manifest m;
    hs_manifest_init(&m);
    if (hs_manifest_decode(kv->value, kv->value_len, &m, NULL, 0) == HS_OK && costly(&m, w->t)) {
        w->c[w->n].key = hs_xstrdup(m.key);
        w->c[w->n].before = before;
        before = NULL;
        w->c[w->n++].rev = kv->mod_revision;
        w->budget -= 1;
    }
    free(before);
    hs_manifest_release(&m);
    return true;
}

/* Percent-escapes an object key for a URL path (unreserved bytes kept). */
char *hs_relayout_escape_key(const char *key)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(key);
    char *out = hs_xmalloc(3 * n + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

static void relayout_one(struct hs_healer *h, struct hs_http_client *client, const char *url,
                         const struct cand *c, const char *promote_query)
{
    char *esc = hs_relayout_escape_key(c->key);
    char *path =
        hs_xasprintf("/v1/admin/relayout/%s?rev=%" PRId64 "%s", esc, c->rev, promote_query);
    struct hs_buf reply;
    hs_buf_init(&reply, 4096);
    long status = 0;
    enum hs_err err = hs_http_client_request(client, "POST", url, path, &reply, &status);
    if (err == HS_OK && status == 200) {
        /* counted when something was written ("current": already split so) */
        if (hs_buf_append(&reply, "", 1) == HS_OK &&
            strstr((const char *)reply.data, "\"outcome\":\"rewritten\""))
            atomic_fetch_add(&h->stats.relayout_objects, 1);
        HS_LOG_INFO("relayout", "key='%s' rev=%" PRId64 " gw=%s reply=%.*s", c->key, c->rev, url,
                    (int)(reply.len > 200 ? 200 : reply.len), (const char *)reply.data);
    } else if (err == HS_OK && (status == 409 || status == 412 || status == 404)) {
        /* the object changed (a client wrote or deleted it): its writer's layout stands */
        atomic_fetch_add(&h->stats.relayout_lost, 1);
        HS_LOG_INFO("relayout_lost", "key='%s' rev=%" PRId64 " status=%ld", c->key, c->rev, status);
    } else {
        HS_LOG_WARN("relayout_failed", "key='%s' rev=%" PRId64 " gw=%s err=%s status=%ld", c->key,
                    c->rev, url, hs_err_name(err), status);
    }
    hs_buf_release(&reply);
    free(path);
    free(esc);
}

/* One slice's candidates, sent by up to HS_RELAYOUT_PARALLEL threads. Each takes the next
 * candidate while the leadership and the time allow; so candidates [0, taken) were sent and the
 * rest were not. */
struct batch {
    struct hs_healer *h;
    struct hs_healer_layout *st;
    const struct cand *c;
    size_t n;
    const char *promote_query; /* of the candidates' target */
    int64_t deadline;
    size_t first_gw;
    atomic_size_t next;
};

struct sender {
    struct batch *b;
    struct hs_http_client *client;
};

static void *send_some(void *arg)
{
    struct sender *s = arg;
    struct batch *b = s->b;
    for (;;) {
        if (!hs_healer_leading(b->h) || hs_clock_mono_ms() >= b->deadline)
            break;
        size_t i = atomic_fetch_add(&b->next, 1);
        if (i >= b->n)
            break;
        const char *url = b->st->gw_urls[(b->first_gw + i) % b->st->n_gw_urls];
        relayout_one(b->h, s->client, url, &b->c[i], b->promote_query);
    }
    return NULL;
}

/* Sends c[0, n) until the deadline; returns how many were sent (in order: c[taken] is the
 * first left). */
static size_t send_batch(struct hs_healer *h, struct hs_healer_layout *st,
                         const struct hs_relayout_target *t, const struct cand *c, size_t n,
                         int64_t deadline)
{
    struct batch b = {.h = h,
                      .st = st,
                      .c = c,
                      .n = n,
                      .promote_query = t->promote_query,
                      .deadline = deadline,
                      .first_gw = st->next_gw};
    atomic_init(&b.next, 0);
    size_t threads = n < HS_RELAYOUT_PARALLEL ? n : HS_RELAYOUT_PARALLEL;
    struct sender s[HS_RELAYOUT_PARALLEL];
    pthread_t tid[HS_RELAYOUT_PARALLEL];
    bool started[HS_RELAYOUT_PARALLEL] = {false};
    for (size_t i = 0; i < threads; i++) {
        s[i] = (struct sender){.b = &b, .client = st->par_clients[i]};
        /* the first sender runs on this thread; a thread that cannot start leaves its share
         * to the others */
        started[i] = i > 0 && pthread_create(&tid[i], NULL, send_some, &s[i]) == 0;
    }
    if (threads > 0)
        send_some(&s[0]);
    for (size_t i = 1; i < threads; i++)
        if (started[i])
            pthread_join(tid[i], NULL);
    size_t taken = atomic_load(&b.next);
    taken = taken < n ? taken : n;
    st->next_gw += taken;
    return taken;
}

void hs_relayout_slice(struct hs_healer *h, struct hs_healer_layout *st)
{
    double rate = (double)h->opts.relayout_per_s;
    int64_t now = hs_clock_mono_ms();
    if (rate <= 0 || st->n_targets == 0 || st->n_gw_urls == 0) {
        st->tokens_mono_ms = now;
        return;
    }
    if (st->tokens_mono_ms == 0)
        st->tokens_mono_ms = now;
    /* A slice runs once per leader pass, and a loaded healer's passes take seconds (the retire
     * sweeper, the audit): capping the budget at one second's worth would cap the re-layout at
     * relayout_per_s objects per pass. It saves up to BURST_S seconds' worth instead; the
     * average stays relayout_per_s, and a slice's wall time stays bounded (SLICE_MAX_MS plus
     * the re-layouts started before it ran out). */
    double secs = (double)(now - st->tokens_mono_ms) / 1000;
    double prate = st->shadows ? fmax(rate, (double)h->opts.relayout_promote_per_s) : rate;
    st->tokens = fmin(fmax(rate * BURST_S, 1), st->tokens + rate * secs);
    st->promote_tokens = fmin(fmax(prate * BURST_S, 1), st->promote_tokens + prate * secs);
    st->tokens_mono_ms = now;
    int64_t deadline = now + SLICE_MAX_MS;
    /* Round robin: each slice starts with the collection after the one the previous slice
     * started with. A collection whose re-layouts go slower than its budget (CPU-bound
     * rewrites) never runs out of it; while it started every slice until its scan's end,
     * another collection only got what was left of slices that ended at the deadline. */
    size_t k = st->next_target % st->n_targets;
    st->next_target = k + 1;
    for (size_t tried = 0; tried < st->n_targets;) {
        struct hs_relayout_target *t = &st->targets[k];
        /* promotion scans while shadows are on have a budget of their own: a demotion scan of
         * another collection (re-encodes, at relayout_per_s) must not hold them up */
        double *budget = t->promote && st->shadows ? &st->promote_tokens : &st->tokens;
        if (t->done || *budget < 1) {
            k = (k + 1) % st->n_targets; /* passed over: it keeps its turn for the next slice */
            tried++;
            continue;
        }
        char *prefix = hs_xasprintf("%s%s", HS_META_PREFIX_META, t->collection);
        struct walk w = {.t = t, .budget = *budget, .deadline = deadline};
        /* the pace carries across slices: a fresh one would probe up from narrow pages each time */
        struct hs_etcd_scan scan = {
            .prefix = prefix, .after = t->after, .page_size = PAGE_KEYS, .pace = &t->pace};
        enum hs_err err = hs_etcd_range_scan(h->etcd, &scan, walk_one, &w, NULL);
        free(prefix);
        *budget = w.budget;
        if (err != HS_OK) /* the cursor keeps what was examined; the next slice goes on */
            HS_LOG_WARN("relayout_scan_failed",
                        "coll='%s' epoch=%" PRId64 " scan=%s err=%s examined=%zu candidates=%zu",
                        t->collection, t->epoch, t->promote ? "promotions" : "demotions",
                        hs_err_name(err), w.examined, w.n);
        bool at_end = err == HS_OK && !w.stopped, skipped = false;
        size_t sent = send_batch(h, st, t, w.c, w.n, deadline + HS_LAYOUT_GW_TIMEOUT_MS);
        if (sent < w.n) {
            /* out of time: the scan resumes just before the first one not sent, next pass */
            skipped = true;
            free(t->after);
            t->after = w.c[sent].before;
            w.c[sent].before = NULL;
        }
        /* a page that filled the batch: the same collection again while the slice lasts */
        if (at_end || skipped || w.n < CANDIDATES_MAX || *budget < 1) {
            k = (k + 1) % st->n_targets;
            tried++;
        }
        for (size_t i = 0; i < w.n; i++) {
            free(w.c[i].key);
            free(w.c[i].before);
        }
        if (at_end && !skipped && !t->promote) {
            /* demotions done: the same walk again for missed promotions */
            t->promote = true;
            free(t->after);
            t->after = NULL;
            char *hot = hs_layout_fields_csv(&t->hot);
            HS_LOG_INFO("relayout_scan_done", "coll='%s' epoch=%" PRId64 " hot='%s' scan=demotions",
                        t->collection, t->epoch, hot);
            free(hot);
        } else if (at_end && !skipped) {
            t->done = true; /* at the end: nothing older left for this epoch */
            char *hot = hs_layout_fields_csv(&t->hot);
            HS_LOG_INFO("relayout_scan_done",
                        "coll='%s' epoch=%" PRId64 " hot='%s' scan=promotions", t->collection,
                        t->epoch, hot);
            free(hot);
        }
        if (err != HS_OK || hs_clock_mono_ms() >= deadline || !hs_healer_leading(h))
            break;
    }
}
