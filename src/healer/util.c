/* util.c - small helpers every healer pass needs: the live node list (from the nodes/ view),
 * one node client per thread, a string set (blob/node pairs, txn ids) and paged etcd reads
 * pinned to one revision, plus the "do we still lead?" read used right before blob deletions.
 * No policy lives here: what to delete or repair is decided by the passes. */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "healer/healer.h"
#include "hs/clock.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/registration.h"
#include "hs/view.h"
#include "hs/banned.h"

#define RANGE_PAGE_DEFAULT 1000

/* ---- thread-local node client ---- */

static pthread_key_t client_key;
static pthread_once_t client_once = PTHREAD_ONCE_INIT;

static void client_destroy(void *p)
{
    hs_blob_client_free(p);
}

static void client_key_make(void)
{
    if (pthread_key_create(&client_key, client_destroy) != 0)
        HS_BUG("pthread_key_create failed");
}

struct hs_blob_client *hs_healer_blob_client(struct hs_healer *h)
{
    pthread_once(&client_once, client_key_make);
    struct hs_blob_client *c = pthread_getspecific(client_key);
    if (c)
        return c;
    struct hs_blob_client_opts o = {.secret = h->opts.secret,
                                    .timeout_ms = h->opts.node_timeout_ms,
                                    .connect_timeout_ms = 1000};
    if (hs_blob_client_new(&o, &c) != HS_OK)
        HS_BUG("cannot create a node client");
    pthread_setspecific(client_key, c);
    return c;
}

/* ---- live nodes ---- */

void hs_healer_nodes_get(struct hs_healer *h, struct hs_healer_node **out, size_t *n_out)
{
    const struct hs_view_snapshot *s = hs_view_get(h->nodes);
    struct hs_healer_node *nodes = hs_xcalloc(s->n ? s->n : 1, sizeof *nodes);
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct hs_node_registration r;
        if (hs_node_registration_decode(s->entries[i].value, s->entries[i].value_len, &r) !=
            HS_OK) {
            HS_LOG_WARN("node_registration_bad", "node=%s", s->entries[i].name);
            continue;
        }
        if (!r.url) {
            HS_LOG_WARN("node_registration_bad", "node=%s why='no url'", s->entries[i].name);
            hs_node_registration_release(&r);
            continue;
        }
        nodes[n] = (struct hs_healer_node){.id = hs_xstrdup(s->entries[i].name),
                                           .url = r.url,
                                           .volume = r.volume,
                                           .started_ms = r.started_ms,
                                           .blobs = r.blobs};
        r.url = r.volume = NULL; /* moved */
        hs_node_registration_release(&r);
        n++;
    }
    hs_view_put(h->nodes, s);
    *out = nodes;
    *n_out = n;
}

void hs_healer_nodes_free(struct hs_healer_node *nodes, size_t n)
{
    for (size_t i = 0; nodes && i < n; i++) {
        free(nodes[i].id);
        free(nodes[i].url);
        free(nodes[i].volume);
    }
    free(nodes);
}

char *hs_healer_node_url(struct hs_healer *h, const char *node_id)
{
    const struct hs_view_snapshot *s = hs_view_get(h->nodes);
    const struct hs_view_entry *e = hs_view_find(s, node_id);
    struct hs_node_registration r;
    char *url = NULL;
    if (e && hs_node_registration_decode(e->value, e->value_len, &r) == HS_OK) {
        url = r.url;
        r.url = NULL;
        hs_node_registration_release(&r);
    }
    hs_view_put(h->nodes, s);
    return url;
}

/* ---- string set ---- */

/* FNV-1a over a, then '\n', then b: cheap and good enough for ids that are already random. */
static uint64_t set_hash(const char *a, const char *b)
{
    uint64_t x = 1469598103934665603ULL;
    for (const char *p = a; *p; p++)
        x = (x ^ (uint8_t)*p) * 1099511628211ULL;
    if (b) {
        x = (x ^ (uint8_t)'\n') * 1099511628211ULL;
        for (const char *p = b; *p; p++)
            x = (x ^ (uint8_t)*p) * 1099511628211ULL;
    }
    return x ^ (x >> 29);
}

static bool set_equal(const char *slot, const char *a, const char *b)
{
    size_t la = strlen(a);
    if (strncmp(slot, a, la) != 0)
        return false;
    if (!b)
        return slot[la] == '\0';
    return slot[la] == '\n' && strcmp(slot + la + 1, b) == 0;
}

/* The slot holding (a, b) or the empty slot where it would go. cap must be > 0. */
static size_t set_find(const struct hs_healer_set *s, const char *a, const char *b)
{
    size_t i = (size_t)set_hash(a, b) & (s->cap - 1);
    while (s->slots[i] && !set_equal(s->slots[i], a, b))
        i = (i + 1) & (s->cap - 1);
    return i;
}

static void set_grow(struct hs_healer_set *s)
{
    size_t old_cap = s->cap;
    char **old = s->slots;
    s->cap = old_cap ? old_cap * 2 : 64;
    s->slots = hs_xcalloc(s->cap, sizeof *s->slots);
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i])
            continue;
        /* rehash the stored text as a single string: it hashes like (a, b) did */
        char *nl = strchr(old[i], '\n');
        if (nl)
            *nl = '\0';
        size_t j = set_find(s, old[i], nl ? nl + 1 : NULL);
        if (nl)
            *nl = '\n';
        s->slots[j] = old[i];
    }
    free(old);
}

void hs_healer_set_init(struct hs_healer_set *s)
{
    memset(s, 0, sizeof *s);
}

void hs_healer_set_release(struct hs_healer_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i]);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

bool hs_healer_set_add(struct hs_healer_set *s, const char *a, const char *b)
{
    if ((s->n + 1) * 4 > s->cap * 3)
        set_grow(s);
    size_t i = set_find(s, a, b);
    if (s->slots[i])
        return false;
    s->slots[i] = b ? hs_xasprintf("%s\n%s", a, b) : hs_xstrdup(a);
    s->n++;
    return true;
}

bool hs_healer_set_has(const struct hs_healer_set *s, const char *a, const char *b)
{
    return s->cap && s->slots[set_find(s, a, b)] != NULL;
}

/* ---- paged reads at one revision ---- */

enum hs_err hs_healer_range_at(struct hs_healer *h, const char *prefix, int64_t rev,
                               int64_t page_size, bool keys_only, hs_etcd_kv_fn *fn, void *ctx,
                               int64_t *rev_out)
{
    if (!*prefix)
        return HS_EINVAL;
    struct hs_etcd_scan scan = {.prefix = prefix,
                                .revision = rev,
                                .page_size = page_size > 0 ? page_size : RANGE_PAGE_DEFAULT,
                                .keys_only = keys_only};
    return hs_etcd_range_scan(h->etcd, &scan, fn, ctx, rev_out);
}

/* ---- unreadable records ---- */

#define UNREADABLE_LOG_MS 60000

static const char *const pass_names[HS_HEALER_PASS_N] = {"wal", "gc", "audit", "repair", "retire"};

/* Per pass: when the last line was logged and how many were skipped since (guarded by mu). */
static pthread_mutex_t unreadable_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t unreadable_last_ms[HS_HEALER_PASS_N];
static long long unreadable_since[HS_HEALER_PASS_N];

void hs_healer_unreadable(struct hs_healer *h, enum hs_healer_pass_id pass, const char *key,
                          const char *why)
{
    assert(pass < HS_HEALER_PASS_N);
    atomic_fetch_add(&h->stats.unreadable_records, 1);
    int64_t now = hs_clock_mono_ms();
    pthread_mutex_lock(&unreadable_mu);
    long long n = ++unreadable_since[pass];
    bool log = unreadable_last_ms[pass] == 0 || now - unreadable_last_ms[pass] >= UNREADABLE_LOG_MS;
    if (log) {
        unreadable_last_ms[pass] = now;
        unreadable_since[pass] = 0;
    }
    pthread_mutex_unlock(&unreadable_mu);
    if (log)
        HS_LOG_WARN("records_unreadable", "pass=%s count=%lld last='%s' why='%s' every_ms=%d",
                    pass_names[pass], n, key, why ? why : "", UNREADABLE_LOG_MS);
}

/* ---- leadership check ---- */

bool hs_healer_still_leader(struct hs_healer *h)
{
    if (!hs_healer_leading(h))
        return false;
    struct hs_etcd_kv kv = {0};
    enum hs_err err = hs_etcd_leader_get(h->etcd, HS_META_KEY_HEALER_LEADER, &kv);
    if (err != HS_OK && err != HS_ENOENT)
        return false; /* unknown: do not act, but do not give up leadership either */
    bool ours =
        err == HS_OK && strcmp(kv.key, h->leader.key) == 0 && kv.create_revision == h->leader.rev;
    if (err == HS_OK)
        hs_etcd_kv_release(&kv);
    if (!ours) {
        atomic_store(&h->leading, false);
        atomic_store(&h->stats.is_leader, 0);
        hs_stop_set(&h->cancel);
        HS_LOG_WARN("leadership_lost", "healer=%s reason=leader_key_changed", h->opts.healer_id);
    }
    return ours;
}
