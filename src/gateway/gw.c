/* gw.c - the gateway context: options, the shared etcd client, one node client per calling
 * thread (pthread key: created on first use, freed when the thread exits), the shared codecs,
 * the watched views of nodes/ and config/ (members.c, settings.c) and the registration of
 * gateways/<id> under a lease (hs/registration.h). Starts whether or not etcd is up. */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_int.h"
#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/registration.h"
#include "hs/view.h"
#include "gateway/adaptive.h"
#include "hs/banned.h"

#define REG_REFRESH_MS      30000 /* the value never changes; a rare rewrite heals a lost put */
#define DEFAULT_OPEN_WRITES 256
#define DEFAULT_BODY_BUDGET ((int64_t)512 << 20)
#define TRIM_AFTER_BYTES    ((int64_t)1 << 20) /* a body this large was held: give memory back */
#define TRIM_EVERY_MS       1000               /* at most one malloc_trim per second */

struct hs_etcd *hs_gw_etcd(struct hs_gw *gw)
{
    return gw->etcd;
}

const struct hs_gw_opts *hs_gw_opts(const struct hs_gw *gw)
{
    return &gw->opts;
}

static void client_free(void *p)
{
    hs_http_client_free(p);
}

struct hs_http_client *hs_gw_blob_client(struct hs_gw *gw)
{
    struct hs_http_client *c = pthread_getspecific(gw->client_key);
    if (c)
        return c;
    struct hs_http_client_opts o = {.secret = gw->opts.secret,
                                    .timeout_ms = gw->opts.node_timeout_ms,
                                    .connect_timeout_ms = gw->opts.node_connect_timeout_ms};
    if (hs_http_client_new(&o, &c) != HS_OK)
        HS_BUG("cannot make a node client");
    if (pthread_setspecific(gw->client_key, c) != 0)
        HS_BUG("pthread_setspecific failed");
    return c;
}

enum hs_err hs_gw_codec(struct hs_gw *gw, unsigned k, unsigned m, const struct hs_codec **out)
{
    if (k < 1 || k > HS_CODEC_MAX_K || m < 1 || m > HS_CODEC_MAX_M)
        return HS_EINVAL;
    enum hs_err err = HS_OK;
    pthread_mutex_lock(&gw->codec_lock);
    if (!gw->codecs[k][m])
        err = hs_codec_new(k, m, &gw->codecs[k][m]);
    if (err == HS_OK)
        *out = gw->codecs[k][m];
    pthread_mutex_unlock(&gw->codec_lock);
    return err;
}

/* gateways/<id>: the format is registration.h's (the healer only needs the key). */
static char *reg_value(void *ctx)
{
    struct hs_gw *gw = ctx;
    struct hs_gateway_registration r = {.id = (char *)gw->opts.gateway_id,
                                        .url = (char *)gw->opts.advertise_url,
                                        .started_ms = gw->started_ms};
    return hs_gateway_registration_encode(&r);
}

static char *dup_or_null(const char *s)
{
    return s ? hs_xstrdup(s) : NULL;
}

static enum hs_err start_registration(struct hs_gw *gw)
{
    char *key = NULL;
    enum hs_err err = hs_meta_key_gateway(gw->opts.gateway_id, &key);
    if (err != HS_OK) {
        HS_LOG_ERROR("gateway_id_invalid", "gateway=%s", gw->opts.gateway_id);
        return err;
    }
    struct hs_registration_opts ro = {.etcd = gw->etcd,
                                      .endpoints = gw->opts.etcd_endpoints,
                                      .key = key,
                                      .ttl_s = gw->opts.lease_ttl_s,
                                      .refresh_ms = REG_REFRESH_MS,
                                      .value = reg_value,
                                      .value_ctx = gw,
                                      .label = "gateway",
                                      .id = gw->opts.gateway_id};
    err = hs_registration_start(&ro, &gw->reg);
    free(key);
    return err;
}

/* 512 MiB, or room for 4 whole documents, or for 2 EC segments with their shards if more. */
static int64_t default_body_budget(const struct hs_gw_opts *o)
{
    int64_t seg = o->segment_bytes;
    int64_t ec_seg = seg + (seg + o->ec_k - 1) / o->ec_k * (o->ec_k + o->ec_m);
    return HS_MAX(DEFAULT_BODY_BUDGET, HS_MAX(4 * o->doc_max_bytes, 2 * ec_seg));
}

enum hs_err hs_gw_new(const struct hs_gw_opts *opts, struct hs_gw **out)
{
    if (!opts->etcd_endpoints || !opts->gateway_id || opts->segment_bytes <= 0 ||
        opts->doc_max_bytes <= 0 || opts->replicas < 1 || opts->ec_k < 1 || opts->ec_m < 1)
        return HS_EINVAL;
    struct hs_gw *gw = hs_xcalloc(1, sizeof *gw);
    gw->opts = *opts;
    gw->s_endpoints = hs_xstrdup(opts->etcd_endpoints);
    gw->s_secret = dup_or_null(opts->secret);
    gw->s_gateway_id = hs_xstrdup(opts->gateway_id);
    gw->s_advertise_url = dup_or_null(opts->advertise_url);
    gw->opts.etcd_endpoints = gw->s_endpoints;
    gw->opts.secret = gw->s_secret;
    gw->opts.gateway_id = gw->s_gateway_id;
    gw->opts.advertise_url = gw->s_advertise_url;
    if (gw->opts.lease_ttl_s < 2)
        gw->opts.lease_ttl_s = 2;
    gw->started_ms = hs_clock_wall_ms();
    if (gw->opts.body_budget_bytes <= 0)
        gw->opts.body_budget_bytes = default_body_budget(&gw->opts);
    if (gw->opts.max_open_writes <= 0)
        gw->opts.max_open_writes = DEFAULT_OPEN_WRITES;
    hs_gw_budget_init(&gw->budget, gw->opts.body_budget_bytes, gw->opts.max_open_writes);
    atomic_init(&gw->trimmed_ms, 0);
    pthread_mutex_init(&gw->lock, NULL);
    pthread_mutex_init(&gw->codec_lock, NULL);
    if (pthread_key_create(&gw->client_key, client_free) != 0)
        HS_BUG("pthread_key_create failed");
    hs_gw_settings_init(gw);
    hs_gw_layouts_init(gw);
    gw->fstats = hs_gw_fstats_new(!opts->no_field_stats);
    struct hs_etcd_opts eo = {.endpoints = gw->s_endpoints, .timeout_ms = opts->etcd_timeout_ms};
    enum hs_err err = hs_etcd_new(&eo, &gw->etcd);
    if (err == HS_OK)
        err = hs_view_start(gw->etcd, HS_META_PREFIX_CONFIG, hs_gw_settings_on_change, gw,
                            &gw->config_view);
    if (err == HS_OK)
        err = hs_view_start(gw->etcd, HS_META_PREFIX_NODES, hs_gw_members_on_change, gw,
                            &gw->nodes_view);
    if (err == HS_OK)
        err = hs_view_start(gw->etcd, HS_META_PREFIX_LAYOUT, hs_gw_layouts_on_change, gw,
                            &gw->layout_view);
    if (err == HS_OK)
        err = start_registration(gw);
    if (err != HS_OK) {
        hs_gw_free(gw);
        return err;
    }
    *out = gw;
    return HS_OK;
}

void hs_gw_free(struct hs_gw *gw)
{
    if (!gw)
        return;
    hs_registration_stop(gw->reg); /* revokes the lease: gateways/<id> vanishes at once */
    hs_view_stop(gw->nodes_view);
    hs_view_stop(gw->config_view);
    hs_gw_layouts_release(gw); /* stops the layout/ view */
    hs_gw_fstats_free(gw->fstats);
    hs_gw_members_release_all(gw);
    hs_gw_settings_release_all(gw);
    hs_etcd_free(gw->etcd);
    /* the destructor runs only for threads that exit: free the calling thread's client here */
    hs_http_client_free(pthread_getspecific(gw->client_key));
    pthread_setspecific(gw->client_key, NULL);
    pthread_key_delete(gw->client_key);
    for (size_t k = 0; k <= HS_CODEC_MAX_K; k++)
        for (size_t m = 0; m <= HS_CODEC_MAX_M; m++)
            hs_codec_free(gw->codecs[k][m]);
    pthread_mutex_destroy(&gw->lock);
    pthread_mutex_destroy(&gw->codec_lock);
    free(gw->s_endpoints);
    free(gw->s_secret);
    free(gw->s_gateway_id);
    free(gw->s_advertise_url);
    free(gw);
}

static void body_refused(struct hs_gw *gw, enum hs_err err, int64_t bytes, char *msg,
                         size_t msg_len)
{
    if (err == HS_ETOOBIG)
        snprintf(msg, msg_len,
                 "a body of %" PRId64 " bytes is over this gateway's body-buffer-budget (%" PRId64
                 " bytes)",
                 bytes, gw->budget.body_limit_bytes);
    else
        snprintf(msg, msg_len,
                 "gateway busy: request bodies held in memory would pass body-buffer-budget "
                 "(%" PRId64 " bytes); retry later",
                 gw->budget.body_limit_bytes);
}

enum hs_err hs_gw_body_admit(struct hs_gw *gw, int64_t len, char *msg, size_t msg_len)
{
    enum hs_err err = hs_gw_budget_admit(&gw->budget, len);
    if (err != HS_OK)
        body_refused(gw, err, len, msg, msg_len);
    return err;
}

enum hs_err hs_gw_body_grow(struct hs_gw *gw, struct hs_gw_budget_hold *h, int64_t need,
                            int64_t len_cap, char *msg, size_t msg_len)
{
    int64_t cap = len_cap > 0 ? len_cap : gw->opts.doc_max_bytes;
    enum hs_err err = hs_gw_budget_grow(&gw->budget, h, need, cap);
    if (err != HS_OK)
        body_refused(gw, err, need, msg, msg_len);
    return err;
}

/* glibc keeps memory a request freed: large buffers are mmapped (main.c fixes the threshold), but
 * the small blocks of a parsed document (jansson) fragment the arenas, which only malloc_trim
 * hands back to the kernel (it also releases free pages in the middle of a heap). It walks every
 * arena under its lock, so it runs only after large bodies and at most once per TRIM_EVERY_MS. */
static void trim_maybe(struct hs_gw *gw)
{
    int_fast64_t now = hs_clock_mono_ms();
    int_fast64_t last = atomic_load_explicit(&gw->trimmed_ms, memory_order_relaxed);
    if (now - last < TRIM_EVERY_MS ||
        !atomic_compare_exchange_strong_explicit(&gw->trimmed_ms, &last, now, memory_order_relaxed,
                                                 memory_order_relaxed))
        return;
    (void)malloc_trim(0);
}

void hs_gw_body_release(struct hs_gw *gw, struct hs_gw_budget_hold *h)
{
    if (hs_gw_budget_release(&gw->budget, h) >= TRIM_AFTER_BYTES)
        trim_maybe(gw);
}

enum hs_err hs_gw_write_slot_take(struct hs_gw *gw, char *msg, size_t msg_len)
{
    if (hs_gw_budget_write_take(&gw->budget))
        return HS_OK;
    snprintf(msg, msg_len,
             "gateway busy: %" PRId64 " writes already open (max-open-writes); "
             "retry later",
             gw->budget.writes_limit);
    return HS_EBUSY;
}

void hs_gw_write_slot_put(struct hs_gw *gw)
{
    hs_gw_budget_write_put(&gw->budget);
}

void hs_gw_budget_snapshot(struct hs_gw *gw, struct hs_gw_budget_stats *out)
{
    hs_gw_budget_stats(&gw->budget, out);
}
