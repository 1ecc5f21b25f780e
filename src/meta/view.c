/* view.c - mirror of a small etcd prefix: range, then watch from the next revision. The working
 * copy is a sorted array owned by the view; every change publishes a fresh immutable snapshot
 * (reference counted) so readers never hold the lock while they use it.
 *
 * Ordering rule (etcd.h: after a compaction the watch may replay events older than a re-list):
 * an event is applied only if it is newer than what the working copy already reflects for that
 * key, judged by mod_revision, and a PUT of an absent key is ignored when it is not newer than
 * the last full load (the key was deleted after it). */
#include "hs/view.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define VIEW_RETRY_MIN_MS 200
#define VIEW_RETRY_MAX_MS 5000

struct work_entry {
    char *name;
    uint8_t *value;
    size_t value_len;
    int64_t mod_revision;
};

/* A published snapshot: the public part first so a pointer to it is a pointer to this. */
struct snap {
    struct hs_view_snapshot pub;
    atomic_int refs;
    struct hs_view_entry *entries;
    char *blob; /* names and values of every entry, one allocation */
};

struct hs_view {
    struct hs_etcd *etcd;
    char *prefix;
    size_t prefix_len;
    hs_view_changed_fn *fn;
    void *ctx;

    pthread_mutex_t lock; /* guards work, n_work, cap_work, current, list_revision */
    struct work_entry *work;
    size_t n_work, cap_work;
    int64_t list_revision; /* revision of the last full load */
    struct snap *current;  /* one reference held by the view */
    atomic_bool ready;

    struct hs_etcd_watch *watch;
    pthread_t loader; /* retries the first load while etcd is unreachable */
    bool loader_running;
    struct hs_stop stop;
};

static void snap_unref(struct snap *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        free(s->entries);
        free(s->blob);
        free(s);
    }
}

/* Builds a snapshot of the working copy. Caller holds v->lock. */
static struct snap *snap_build(const struct hs_view *v, int64_t revision)
{
    struct snap *s = hs_xcalloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    size_t bytes = 0;
    for (size_t i = 0; i < v->n_work; i++)
        bytes += strlen(v->work[i].name) + 1 + v->work[i].value_len + 1;
    s->blob = hs_xmalloc(bytes ? bytes : 1);
    s->entries = hs_xcalloc(v->n_work ? v->n_work : 1, sizeof *s->entries);
    char *p = s->blob;
    for (size_t i = 0; i < v->n_work; i++) {
        const struct work_entry *w = &v->work[i];
        size_t nl = strlen(w->name) + 1;
        memcpy(p, w->name, nl);
        s->entries[i].name = p;
        p += nl;
        memcpy(p, w->value, w->value_len);
        p[w->value_len] = '\0';
        s->entries[i].value = (const uint8_t *)p;
        s->entries[i].value_len = w->value_len;
        s->entries[i].mod_revision = w->mod_revision;
        p += w->value_len + 1;
    }
    s->pub.entries = s->entries;
    s->pub.n = v->n_work;
    s->pub.revision = revision;
    return s;
}

/* Publishes a new snapshot and runs the callback outside the lock. */
static void publish(struct hs_view *v, int64_t revision)
{
    pthread_mutex_lock(&v->lock);
    struct snap *s = snap_build(v, revision);
    struct snap *old = v->current;
    v->current = s;
    atomic_fetch_add(&s->refs, 1); /* for the callback below */
    pthread_mutex_unlock(&v->lock);
    snap_unref(old);
    if (v->fn)
        v->fn(v->ctx, &s->pub);
    snap_unref(s);
}

static void work_free_entry(struct work_entry *w)
{
    free(w->name);
    free(w->value);
}

static void work_clear(struct hs_view *v)
{
    for (size_t i = 0; i < v->n_work; i++)
        work_free_entry(&v->work[i]);
    v->n_work = 0;
}

/* Index of name in the working copy, or where it would go (*found false). */
static size_t work_search(const struct hs_view *v, const char *name, bool *found)
{
    size_t lo = 0, hi = v->n_work;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v->work[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void work_upsert(struct hs_view *v, const char *name, const uint8_t *value, size_t len,
                        int64_t mod_revision)
{
    bool found;
    size_t i = work_search(v, name, &found);
    if (found) {
        if (v->work[i].mod_revision >= mod_revision)
            return;
        free(v->work[i].value);
    } else {
        if (mod_revision <= v->list_revision)
            return; /* deleted after the last full load */
        if (v->n_work == v->cap_work) {
            v->cap_work = v->cap_work ? v->cap_work * 2 : 16;
            v->work = hs_xrealloc(v->work, v->cap_work * sizeof *v->work);
        }
        memmove(&v->work[i + 1], &v->work[i], (v->n_work - i) * sizeof *v->work);
        v->n_work++;
        v->work[i].name = hs_xstrdup(name);
    }
    v->work[i].value = hs_xmalloc(len + 1);
    if (len)
        memcpy(v->work[i].value, value, len);
    v->work[i].value[len] = 0;
    v->work[i].value_len = len;
    v->work[i].mod_revision = mod_revision;
}

static void work_remove(struct hs_view *v, const char *name, int64_t mod_revision)
{
    bool found;
    size_t i = work_search(v, name, &found);
    if (!found || v->work[i].mod_revision > mod_revision)
        return;
    work_free_entry(&v->work[i]);
    memmove(&v->work[i], &v->work[i + 1], (v->n_work - i - 1) * sizeof *v->work);
    v->n_work--;
}

/* Entries of a full load, collected without holding the view's lock (etcd may be slow). */
struct load_acc {
    size_t prefix_len;
    struct work_entry *work;
    size_t n, cap;
};

static bool load_one(void *ctx, const struct hs_etcd_kv *kv)
{
    struct load_acc *acc = ctx;
    /* entries arrive in key order, so appending keeps the array sorted */
    if (acc->n == acc->cap) {
        acc->cap = acc->cap ? acc->cap * 2 : 16;
        acc->work = hs_xrealloc(acc->work, acc->cap * sizeof *acc->work);
    }
    struct work_entry *w = &acc->work[acc->n++];
    w->name = hs_xstrdup(kv->key + acc->prefix_len);
    w->value = hs_xmalloc(kv->value_len + 1);
    if (kv->value_len)
        memcpy(w->value, kv->value, kv->value_len);
    w->value[kv->value_len] = 0;
    w->value_len = kv->value_len;
    w->mod_revision = kv->mod_revision;
    return true;
}

/* Full load of the prefix replacing the working copy; publishes on success. */
static enum hs_err load_all(struct hs_view *v, int64_t *revision_out)
{
    int64_t rev = 0;
    struct load_acc acc = {.prefix_len = v->prefix_len};
    enum hs_err err =
        hs_etcd_range_prefix_each(v->etcd, v->prefix, 500, false, load_one, &acc, &rev);
    if (err != HS_OK) {
        for (size_t i = 0; i < acc.n; i++)
            work_free_entry(&acc.work[i]);
        free(acc.work);
        return err;
    }
    pthread_mutex_lock(&v->lock);
    work_clear(v);
    free(v->work);
    v->work = acc.work;
    v->n_work = acc.n;
    v->cap_work = acc.cap;
    v->list_revision = rev;
    pthread_mutex_unlock(&v->lock);
    atomic_store(&v->ready, true);
    publish(v, rev);
    *revision_out = rev;
    return HS_OK;
}

static void on_watch(void *ctx, const struct hs_etcd_event *events, size_t n, int64_t revision,
                     bool compacted)
{
    struct hs_view *v = ctx;
    if (compacted) {
        int64_t rev;
        HS_LOG_WARN("view_compacted", "prefix='%s' revision=%" PRId64 " action=reload", v->prefix,
                    revision);
        if (load_all(v, &rev) != HS_OK)
            HS_LOG_WARN("view_reload_failed", "prefix='%s'", v->prefix);
        return;
    }
    pthread_mutex_lock(&v->lock);
    for (size_t i = 0; i < n; i++) {
        const struct hs_etcd_kv *kv = &events[i].kv;
        if (strncmp(kv->key, v->prefix, v->prefix_len) != 0)
            continue;
        const char *name = kv->key + v->prefix_len;
        if (events[i].is_delete)
            work_remove(v, name, kv->mod_revision);
        else
            work_upsert(v, name, kv->value, kv->value_len, kv->mod_revision);
    }
    pthread_mutex_unlock(&v->lock);
    publish(v, revision);
}

static enum hs_err load_and_watch(struct hs_view *v)
{
    int64_t rev = 0;
    enum hs_err err = load_all(v, &rev);
    if (err != HS_OK)
        return err;
    return hs_etcd_watch_start(v->etcd, v->prefix, true, rev + 1, on_watch, v, &v->watch);
}

static void *loader_main(void *arg)
{
    struct hs_view *v = arg;
    int64_t backoff = VIEW_RETRY_MIN_MS;
    while (!hs_stop_is_set(&v->stop)) {
        hs_clock_sleep_ms(backoff, &v->stop);
        if (hs_stop_is_set(&v->stop))
            break;
        if (load_and_watch(v) == HS_OK) {
            HS_LOG_INFO("view_loaded", "prefix='%s'", v->prefix);
            break;
        }
        backoff = backoff * 2 > VIEW_RETRY_MAX_MS ? VIEW_RETRY_MAX_MS : backoff * 2;
    }
    return NULL;
}

enum hs_err hs_view_start(struct hs_etcd *e, const char *prefix, hs_view_changed_fn *fn, void *ctx,
                          struct hs_view **out)
{
    if (!prefix || !*prefix)
        return HS_EINVAL;
    struct hs_view *v = hs_xcalloc(1, sizeof *v);
    v->etcd = e;
    v->prefix = hs_xstrdup(prefix);
    v->prefix_len = strlen(prefix);
    v->fn = fn;
    v->ctx = ctx;
    pthread_mutex_init(&v->lock, NULL);
    atomic_init(&v->ready, false);
    v->current = snap_build(v, 0);
    if (load_and_watch(v) != HS_OK) {
        HS_LOG_WARN("view_load_failed", "prefix='%s' action=retry_in_background", prefix);
        if (pthread_create(&v->loader, NULL, loader_main, v) != 0)
            HS_BUG("cannot start view loader thread");
        v->loader_running = true;
    }
    *out = v;
    return HS_OK;
}

void hs_view_stop(struct hs_view *v)
{
    if (!v)
        return;
    hs_stop_set(&v->stop);
    if (v->loader_running)
        pthread_join(v->loader, NULL);
    hs_etcd_watch_stop(v->watch);
    work_clear(v);
    free(v->work);
    snap_unref(v->current);
    pthread_mutex_destroy(&v->lock);
    free(v->prefix);
    free(v);
}

bool hs_view_ready(struct hs_view *v)
{
    return atomic_load(&v->ready);
}

const struct hs_view_snapshot *hs_view_get(struct hs_view *v)
{
    pthread_mutex_lock(&v->lock);
    struct snap *s = v->current;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&v->lock);
    return &s->pub;
}

void hs_view_put(struct hs_view *v, const struct hs_view_snapshot *s)
{
    (void)v;
    /* pub is the first member of struct snap */
    snap_unref((struct snap *)(void *)s);
}

const struct hs_view_entry *hs_view_find(const struct hs_view_snapshot *s, const char *name)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->entries[mid].name, name);
        if (c == 0)
            return &s->entries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
