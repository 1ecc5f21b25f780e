/* adaptive.h - private to src/gateway: per-collection hot sets (layouts.c: the layout/ records
 * the healer publishes, watched, plus the collection rule and the manifest-fields flag from
 * config/) and the field statistics the healer decides from (fstats.c: striped sketches of
 * field_stats.h, recorded by the write and read paths, served on GET /v1/admin/field-stats and
 * as per-collection lines of /metrics). No etcd traffic per request: both are in memory. */
#ifndef HS_GATEWAY_ADAPTIVE_H
#define HS_GATEWAY_ADAPTIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/buf.h"
#include "hs/field_stats.h"
#include "hs/manifest.h"
#include "hs/split.h"

struct hs_gw;
struct hs_view_snapshot;
struct hs_gw_layout_snap;
struct hs_gw_fstats;

/* What one request uses for one key, taken once (hs_gw_layout_get) and given back
 * (hs_gw_layout_put): the layout may change meanwhile, this request keeps its own. */
struct hs_gw_layout {
    struct hs_gw_layout_snap *snap_;   /* reference held; NULL when not taken */
    const struct hs_split_hotset *hot; /* the collection's hot set (valid while taken) */
    int64_t epoch;                     /* layout epoch in use, 0 = the cluster default */
    size_t coll_len;                   /* bytes of the key's collection prefix */
    bool manifest_fields;              /* config/manifest-fields is on: write fdig */
    bool manifest_shadows; /* config/manifest-shadows is on: order records may keep shadows */
};

/* ---- layouts.c ---- */

/* Defaults (cluster hot-fields, default rule, manifest-fields off) before any load. */
void hs_gw_layouts_init(struct hs_gw *gw);
void hs_gw_layouts_release(struct hs_gw *gw);
/* config/ changed (settings.c calls it): hot-fields, collection-separators,
 * collection-depth, manifest-fields, manifest-shadows. */
void hs_gw_layouts_on_config(struct hs_gw *gw, const struct hs_view_snapshot *snap);
/* The default hot set changed through this gateway (read-your-writes before the watch). */
void hs_gw_layouts_set_default(struct hs_gw *gw, const char *csv);
/* The layout/ view's change callback (ctx is the gateway). */
void hs_gw_layouts_on_change(void *ctx, const struct hs_view_snapshot *snap);
/* Thread-safe; never fails. out must be given back with hs_gw_layout_put. */
void hs_gw_layout_get(struct hs_gw *gw, const char *key, size_t key_len, struct hs_gw_layout *out);
/* Accepts a zeroed (never taken) layout. */
void hs_gw_layout_put(struct hs_gw *gw, struct hs_gw_layout *l);
/* Layout epoch of each collection with a record (for /metrics): calls fn for each. */
typedef void hs_gw_layout_epoch_fn(void *ctx, const char *coll, int64_t epoch);
void hs_gw_layouts_each(struct hs_gw *gw, hs_gw_layout_epoch_fn *fn, void *ctx);

/* ---- fstats.c ---- */

/* on = false: nothing is counted (the gateway's --field-stats=off, for measuring). */
struct hs_gw_fstats *hs_gw_fstats_new(bool on);
void hs_gw_fstats_free(struct hs_gw_fstats *fs);
bool hs_gw_fstats_on(const struct hs_gw *gw);

/* A field_hybrid PUT committed: next replaced prev (NULL: a create), split was made with
 * want_fields. pure_hot: the cold part was reused. */
void hs_gw_fstats_put(struct hs_gw *gw, const char *key, const struct hs_gw_layout *lay,
                      const struct hs_split_result *split, const struct hs_manifest *prev,
                      const struct hs_manifest *next, bool pure_hot);
/* A merge patch committed as next (any path): its top-level keys are the change set. */
void hs_gw_fstats_patch(struct hs_gw *gw, const char *key, const struct hs_gw_layout *lay,
                        const uint8_t *patch, size_t patch_len, const struct hs_manifest *next,
                        bool pure_hot);
/* A read of key: full (names NULL) or a projection served from the hot part or not. */
void hs_gw_fstats_read(struct hs_gw *gw, const char *key, size_t key_len, const char *const *names,
                       size_t n_names, bool projection, bool served_hot);

/* The merged sketch of every stripe into out (an initialised sketch, reset first). */
void hs_gw_fstats_merged(struct hs_gw *gw, struct hs_field_stats *out);
/* The healer's epoch for collection coll (field_stats.h "Pacing"), applied to every stripe.
 * Returns whether any stripe tracks the collection. */
bool hs_gw_fstats_set_epoch(struct hs_gw *gw, const char *coll, size_t coll_len, uint64_t epoch);
/* The snapshot JSON (field_stats.h) of this gateway: *out heap (free()). */
enum hs_err hs_gw_fstats_json(struct hs_gw *gw, char **out, size_t *out_len);
/* Appends the per-collection lines of /metrics (tracked collections only). */
void hs_gw_fstats_metrics(struct hs_gw *gw, struct hs_buf *b);

/* The fdig text for a split document (HS_MANIFEST_FDIG_MAX fields at most: NULL beyond). */
char *hs_gw_fdig_of_split(const struct hs_split_result *split);

#endif
