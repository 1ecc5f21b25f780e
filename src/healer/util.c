/* util.c - small helpers every healer pass needs: the live node list (from the nodes/ view),
 * one node client per thread, paged etcd reads pinned to one revision and the rate-limited
 * report of unreadable records. No policy lives here: what to delete or repair is decided by
 * the passes (and their rules, rules.c); the string set is set.c, leadership leadership.c. */
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
    hs_http_client_free(p);
}

static void client_key_make(void)
{
    if (pthread_key_create(&client_key, client_destroy) != 0)
        HS_BUG("pthread_key_create failed");
}

struct hs_http_client *hs_healer_blob_client(struct hs_healer *h)
{
    pthread_once(&client_once, client_key_make);
    struct hs_http_client *c = pthread_getspecific(client_key);
    if (c)
        return c;
    struct hs_http_client_opts o = {.secret = h->opts.secret,
                                    .timeout_ms = h->opts.node_timeout_ms,
                                    .connect_timeout_ms = 1000};
    if (hs_http_client_new(&o, &c) != HS_OK)
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
