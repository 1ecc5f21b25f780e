/* gw_int.h - private to src/gateway: the gateway context (struct hs_gw) shared by gw.c
 * (etcd client, thread-local node clients, registration, codecs), members.c (live nodes from
 * nodes/), settings.c (config/: hot fields, replicas, k, m) and the object layer (obj_*.c). */
#ifndef HS_GATEWAY_GW_INT_H
#define HS_GATEWAY_GW_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "gateway/gateway.h"
#include "hs/codec.h"

struct hs_view;
struct hs_view_snapshot;
struct hs_registration;
struct hs_gw_members_snap;
struct hs_gw_hotset_snap;
struct hs_gw_layouts;
struct hs_gw_fstats;

/* Effective cluster-wide settings: config/replicas, config/ec-k, config/ec-m in etcd when
 * present and valid, else the gateway's flags. */
struct hs_gw_settings {
    uint32_t replicas;
    uint32_t ec_k, ec_m;
};

struct hs_gw {
    struct hs_gw_opts opts; /* strings point at the copies below; immutable */
    char *s_endpoints, *s_secret, *s_gateway_id, *s_advertise_url;
    int64_t started_ms;
    struct hs_etcd *etcd;
    pthread_key_t client_key; /* the calling thread's struct hs_http_client */
    struct hs_view *nodes_view;
    struct hs_view *config_view;
    pthread_mutex_t lock;                  /* guards the four fields below */
    struct hs_gw_members_snap *members;    /* current snapshot (one reference held) */
    struct hs_gw_hotset_snap *hotset;      /* current hot set (one reference held) */
    struct hs_gw_hotset_snap *hot_retired; /* older hot sets still referenced (list) */
    struct hs_gw_settings settings;
    pthread_mutex_t codec_lock;                                      /* guards codecs */
    struct hs_codec *codecs[HS_CODEC_MAX_K + 1][HS_CODEC_MAX_M + 1]; /* made on first use */
    struct hs_registration *reg;
    struct hs_gw_budget budget;     /* bodies held whole, open writes (lock-free) */
    atomic_int_fast64_t trimmed_ms; /* last malloc_trim (monotonic ms), see hs_gw_body_release */
    struct hs_view *layout_view;    /* layout/ records (adaptive.h, layouts.c) */
    struct hs_gw_layouts *layouts;  /* per-collection hot sets (layouts.c) */
    struct hs_gw_fstats *fstats;    /* field statistics (fstats.c) */
};

/* members.c: the nodes/ view's change callback, and freeing the last snapshot. */
void hs_gw_members_on_change(void *ctx, const struct hs_view_snapshot *snap);
void hs_gw_members_release_all(struct hs_gw *gw);

/* settings.c: the config/ view's change callback, defaults before the first load, and
 * freeing every hot set. */
void hs_gw_settings_on_change(void *ctx, const struct hs_view_snapshot *snap);
void hs_gw_settings_init(struct hs_gw *gw);
void hs_gw_settings_release_all(struct hs_gw *gw);
/* Current effective settings (copied out under the lock). */
void hs_gw_settings_get(struct hs_gw *gw, struct hs_gw_settings *out);

/* The shared RS(k, m) codec (made on first use, lives as long as gw). HS_EINVAL for k or m
 * out of range. Thread-safe. */
enum hs_err hs_gw_codec(struct hs_gw *gw, unsigned k, unsigned m, const struct hs_codec **out);

#endif
