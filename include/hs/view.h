/* view.h - an in-memory mirror of every key under a small etcd prefix (nodes/, gateways/,
 * config/), loaded with a range and kept current by a watch. Readers take immutable,
 * reference-counted snapshots, so a request sees one consistent view however long it runs.
 *
 * Meant for prefixes of at most a few thousand keys: every change rebuilds the snapshot (O(n)).
 * If etcd is unreachable at start the view starts empty and a background thread keeps trying;
 * hs_view_ready says whether the first load happened.
 *
 * Thread-safety: hs_view_get/put from any thread; the change callback runs on the view's own
 * threads (never concurrently with itself). */
#ifndef HS_VIEW_H
#define HS_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"

struct hs_etcd;

struct hs_view_entry {
    const char *name;     /* the key after the prefix, NUL-terminated */
    const uint8_t *value; /* NUL-terminated for convenience */
    size_t value_len;
    int64_t mod_revision;
};

struct hs_view_snapshot {
    const struct hs_view_entry *entries; /* sorted by name (byte order) */
    size_t n;
    int64_t revision; /* etcd revision the snapshot reflects (0 before the first load) */
};

/* Runs after every change with the new snapshot (borrowed for the call; take your own
 * reference with hs_view_get if you need it longer). May be NULL. */
typedef void hs_view_changed_fn(void *ctx, const struct hs_view_snapshot *snap);

struct hs_view;

/* Starts mirroring prefix (copied). Tries a first load for up to about one etcd timeout, then
 * returns HS_OK either way (see hs_view_ready). HS_EINVAL on an empty prefix. */
enum hs_err hs_view_start(struct hs_etcd *e, const char *prefix, hs_view_changed_fn *fn, void *ctx,
                          struct hs_view **out);
/* Stops the watch and the retry thread, frees the view (outstanding snapshots must have been
 * put back first). NULL is fine. */
void hs_view_stop(struct hs_view *v);
bool hs_view_ready(struct hs_view *v);
/* Current snapshot, never NULL; give it back with hs_view_put. */
const struct hs_view_snapshot *hs_view_get(struct hs_view *v);
void hs_view_put(struct hs_view *v, const struct hs_view_snapshot *s);
/* Entry named name in s, or NULL. */
const struct hs_view_entry *hs_view_find(const struct hs_view_snapshot *s, const char *name);

#endif
