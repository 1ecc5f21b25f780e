/* layout_int.h - private to the adaptive-layout pass (layout.c: decision rounds; relayout.c:
 * re-layouts through a gateway). Leader thread only: no locks. */
#ifndef HS_HEALER_LAYOUT_INT_H
#define HS_HEALER_LAYOUT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "healer/healer.h"
#include "hs/field_stats.h"
#include "hs/layout.h"

#define HS_LAYOUT_GW_TIMEOUT_MS 3000 /* one gateway request (statistics or a re-layout) */
#define HS_RELAYOUT_PARALLEL    4 /* re-layout requests in flight at once (spread over gateways) */

/* A collection whose objects may still have an older layout than its record's. */
struct hs_relayout_target {
    char *collection;             /* heap */
    int64_t epoch;                /* of the record the scan works for */
    struct hs_layout_fields hot;  /* its effective hot set */
    char *after;                  /* heap etcd key: the scan resumes after it; NULL = start */
    struct hs_etcd_pace pace;     /* the pager's density of the collection, kept with after */
    bool promote;                 /* second scan: missed promotions (demotions scanned) */
    bool done;                    /* both scans at the end for this epoch */
    struct hs_layout_fields read; /* fields the collection's projections read (last round) */
    bool read_all;                /* unknown (untracked, or a set with names not kept): any */
    char *promote_query;          /* "&promote=a,b" (hot fields read; escaped) or "" (read_all) */
};

/* The last decision logged at info for a collection (a round that concludes the same is logged
 * at debug). */
struct hs_layout_logged {
    char *collection; /* heap */
    int verdict;      /* enum hs_layout_verdict */
    char *best;       /* heap csv */
};
#define HS_LAYOUT_LOGGED_MAX 1024

struct hs_healer_layout {
    struct hs_http_client *gw_client; /* secret, HS_LAYOUT_GW_TIMEOUT_MS */
    int64_t next_round_mono_ms;
    long long leadership; /* stats.leader_changes when the rounds were last scheduled */
    char **gw_urls;       /* gateways that answered the last round (heap) */
    size_t n_gw_urls;
    size_t next_gw; /* round-robin for re-layouts */
    struct hs_relayout_target *targets;
    size_t n_targets;
    size_t next_target;
    struct hs_layout_logged *logged;
    size_t n_logged;
    double tokens;         /* re-layout budget: objects that may be sent now */
    double promote_tokens; /* the same for promotion scans while shadows are on */
    int64_t tokens_mono_ms;
    bool shadows; /* config/manifest-shadows was on at the last round: promotions are cheap */
    struct hs_http_client *par_clients[HS_RELAYOUT_PARALLEL]; /* one per concurrent call */
};

/* h->layout, created on first use. */
struct hs_healer_layout *hs_healer_layout_state(struct hs_healer *h);
/* Replaces the targets by the records' collections (a target whose epoch and hot set did not
 * change keeps its cursor). records[i] are decoded records; merged (NULL: unknown) gives each
 * collection's projected fields, which are all a missed promotion is about. */
void hs_relayout_set_targets(struct hs_healer_layout *st, const struct hs_layout_record *records,
                             size_t n, const struct hs_layout_fields *deflt,
                             const struct hs_field_stats *merged);
/* One budgeted slice of re-layouts (relayout.c). */
void hs_relayout_slice(struct hs_healer *h, struct hs_healer_layout *st);
void hs_relayout_targets_free(struct hs_healer_layout *st);
/* key percent-escaped for a URL path (unreserved bytes kept); heap. */
char *hs_relayout_escape_key(const char *key);

#endif
