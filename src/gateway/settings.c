/* settings.c - cluster-wide settings from etcd config/ (a watched view), shared by every
 * gateway: hot-fields (comma-separated names, default HS_GW_DEFAULT_HOT_FIELDS), replicas,
 * ec-k and ec-m (decimal; the gateway's flags when absent or invalid). The hot set is handed
 * out as a reference-counted snapshot, so a write splits its document with one set even when
 * an admin changes it meanwhile. */
#include <ctype.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/adaptive.h"
#include "gateway/gw_int.h"
#include "hs/csv.h"
#include "hs/buf.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/split.h"
#include "hs/view.h"
#include "hs/banned.h"

#define HOT_FIELDS_MAX_BYTES 65536 /* config/hot-fields value */

struct hs_gw_hotset_snap {
    struct hs_split_hotset *set;
    char *csv; /* normalised list: names trimmed, empties dropped, joined by ',' */
    int refs;  /* guarded by gw->lock */
    struct hs_gw_hotset_snap *next; /* gw->hot_retired list */
};

/* Normalises a comma-separated list into out (names trimmed, empty ones dropped). */
static void csv_normalise(const char *csv, struct hs_buf *out)
{
    const char *p = csv, *a;
    size_t n;
    while (hs_csv_next(&p, &a, &n)) {
        if (out->len)
            (void)hs_buf_append(out, ",", 1);
        (void)hs_buf_append(out, a, n);
    }
    (void)hs_buf_append(out, "", 1);
    out->len--;
}

static enum hs_err hotset_make(const char *csv, struct hs_gw_hotset_snap **out)
{
    struct hs_buf norm;
    hs_buf_init(&norm, 0);
    csv_normalise(csv, &norm);
    struct hs_split_hotset *set = NULL;
    enum hs_err err = hs_split_hotset_new_csv((const char *)norm.data, &set);
    if (err != HS_OK) {
        hs_buf_release(&norm);
        return err;
    }
    struct hs_gw_hotset_snap *h = hs_xcalloc(1, sizeof *h);
    h->set = set;
    size_t len = 0;
    h->csv = (char *)hs_buf_detach(&norm, &len);
    h->refs = 1;
    *out = h;
    return HS_OK;
}

static void hotset_free(struct hs_gw_hotset_snap *h)
{
    hs_split_hotset_free(h->set);
    free(h->csv);
    free(h);
}

/* Makes h current. Called with gw->lock held. */
static void hotset_install_locked(struct hs_gw *gw, struct hs_gw_hotset_snap *h)
{
    struct hs_gw_hotset_snap *old = gw->hotset;
    gw->hotset = h;
    if (old && --old->refs == 0) {
        hotset_free(old);
    } else if (old) {
        old->next = gw->hot_retired;
        gw->hot_retired = old;
    }
}

static bool parse_u32(const struct hs_view_entry *e, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char buf[32];
    if (!e || e->value_len == 0 || e->value_len >= sizeof buf)
        return false;
    memcpy(buf, e->value, e->value_len);
    buf[e->value_len] = '\0';
    char *end = NULL;
    unsigned long v = strtoul(buf, &end, 10);
    while (end && isspace((unsigned char)*end))
        end++;
    if (!isdigit((unsigned char)buf[0]) || *end || v < lo || v > hi)
        return false;
    *out = (uint32_t)v;
    return true;
}

void hs_gw_settings_init(struct hs_gw *gw)
{
    gw->settings.replicas = gw->opts.replicas;
    gw->settings.ec_k = gw->opts.ec_k;
    gw->settings.ec_m = gw->opts.ec_m;
    struct hs_gw_hotset_snap *h = NULL;
    if (hotset_make(HS_GW_DEFAULT_HOT_FIELDS, &h) != HS_OK)
        HS_BUG("default hot set does not parse");
    gw->hotset = h;
}

void hs_gw_settings_on_change(void *ctx, const struct hs_view_snapshot *snap)
{
    struct hs_gw *gw = ctx;
    struct hs_gw_settings s = {gw->opts.replicas, gw->opts.ec_k, gw->opts.ec_m};
    (void)parse_u32(hs_view_find(snap, "replicas"), 1, HS_MANIFEST_REPLICAS_MAX, &s.replicas);
    (void)parse_u32(hs_view_find(snap, "ec-k"), 1, HS_CODEC_MAX_K, &s.ec_k);
    (void)parse_u32(hs_view_find(snap, "ec-m"), 1, HS_CODEC_MAX_M, &s.ec_m);
    const struct hs_view_entry *hf = hs_view_find(snap, "hot-fields");
    const char *csv = hf ? (const char *)hf->value : HS_GW_DEFAULT_HOT_FIELDS;
    struct hs_gw_hotset_snap *h = NULL;
    if (hotset_make(csv, &h) != HS_OK) {
        HS_LOG_WARN("config_invalid", "name=hot-fields revision=%" PRId64, snap->revision);
        h = NULL;
    }
    pthread_mutex_lock(&gw->lock);
    bool changed =
        memcmp(&s, &gw->settings, sizeof s) != 0 || (h && strcmp(h->csv, gw->hotset->csv) != 0);
    gw->settings = s;
    if (h && strcmp(h->csv, gw->hotset->csv) != 0)
        hotset_install_locked(gw, h);
    else if (h)
        hotset_free(h);
    pthread_mutex_unlock(&gw->lock);
    if (changed)
        HS_LOG_INFO("settings_changed", "replicas=%u ec_k=%u ec_m=%u revision=%" PRId64, s.replicas,
                    s.ec_k, s.ec_m, snap->revision);
    hs_gw_layouts_on_config(gw, snap); /* hot-fields, collections, manifest-fields */
}

void hs_gw_settings_get(struct hs_gw *gw, struct hs_gw_settings *out)
{
    pthread_mutex_lock(&gw->lock);
    *out = gw->settings;
    pthread_mutex_unlock(&gw->lock);
}

const struct hs_split_hotset *hs_gw_hotset_get(struct hs_gw *gw)
{
    pthread_mutex_lock(&gw->lock);
    struct hs_gw_hotset_snap *h = gw->hotset;
    h->refs++;
    pthread_mutex_unlock(&gw->lock);
    return h->set;
}

void hs_gw_hotset_put(struct hs_gw *gw, const struct hs_split_hotset *set)
{
    if (!set)
        return;
    pthread_mutex_lock(&gw->lock);
    if (gw->hotset && gw->hotset->set == set) {
        gw->hotset->refs--; /* the current one keeps the reference gw holds */
    } else {
        for (struct hs_gw_hotset_snap **pp = &gw->hot_retired; *pp; pp = &(*pp)->next) {
            struct hs_gw_hotset_snap *h = *pp;
            if (h->set != set)
                continue;
            if (--h->refs == 0) {
                *pp = h->next;
                hotset_free(h);
            }
            break;
        }
    }
    pthread_mutex_unlock(&gw->lock);
}

char *hs_gw_hotset_csv(struct hs_gw *gw)
{
    pthread_mutex_lock(&gw->lock);
    char *csv = hs_xstrdup(gw->hotset->csv);
    pthread_mutex_unlock(&gw->lock);
    return csv;
}

enum hs_err hs_gw_set_hot_fields(struct hs_gw *gw, const char *csv, char *msg, size_t msg_len)
{
    if (strlen(csv) > HOT_FIELDS_MAX_BYTES) {
        snprintf(msg, msg_len, "hot-fields is longer than %d bytes", HOT_FIELDS_MAX_BYTES);
        return HS_ETOOBIG;
    }
    struct hs_gw_hotset_snap *h = NULL;
    enum hs_err err = hotset_make(csv, &h);
    if (err != HS_OK) {
        snprintf(msg, msg_len, "hot-fields must be comma-separated names of valid UTF-8");
        return err;
    }
    char *key = NULL;
    if ((err = hs_meta_key_config("hot-fields", &key)) != HS_OK)
        HS_BUG("config key");
    err = hs_etcd_put(gw->etcd, key, h->csv, strlen(h->csv), 0, NULL);
    free(key);
    if (err != HS_OK) {
        snprintf(msg, msg_len, "cannot store config/hot-fields in etcd: %s", hs_err_name(err));
        hotset_free(h);
        return err;
    }
    HS_LOG_INFO("hot_fields_set", "hot_fields='%s'", h->csv);
    /* Install now for read-your-writes on this gateway; the watch brings the same value. */
    hs_gw_layouts_set_default(gw, h->csv);
    pthread_mutex_lock(&gw->lock);
    if (strcmp(h->csv, gw->hotset->csv) != 0)
        hotset_install_locked(gw, h);
    else
        hotset_free(h);
    pthread_mutex_unlock(&gw->lock);
    return HS_OK;
}

void hs_gw_settings_release_all(struct hs_gw *gw)
{
    pthread_mutex_lock(&gw->lock);
    if (gw->hotset)
        hotset_free(gw->hotset);
    gw->hotset = NULL;
    while (gw->hot_retired) {
        struct hs_gw_hotset_snap *h = gw->hot_retired;
        gw->hot_retired = h->next;
        hotset_free(h);
    }
    pthread_mutex_unlock(&gw->lock);
}
