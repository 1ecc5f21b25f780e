/* obj_write_int.h - private to the write path's strategy layer: what obj_write.c (the
 * streaming writer, strategy choice, buffering) hands to obj_hybrid.c (field_hybrid's hot/cold
 * split) and obj_patch.c (the hot-only merge patch). Below them are the part writers
 * (part_writer.h) and the transaction (txn.h); nothing here reaches into either. */
#ifndef HS_GATEWAY_OBJ_WRITE_INT_H
#define HS_GATEWAY_OBJ_WRITE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/adaptive.h"
#include "gateway/gw_int.h"
#include "gateway/part_writer.h"
#include "gateway/txn.h"
#include "hs/manifest.h"
#include "hs/split.h"

/* One write as a strategy sees it. */
struct hs_wr_common {
    struct hs_gw *gw;
    const char *key;          /* borrowed, NUL-terminated, validated */
    const char *req_id;       /* borrowed */
    const char *content_type; /* borrowed */
    struct hs_txn_conds conds;
    struct hs_part_geom geom;   /* settings taken when the write began */
    struct hs_gw_txn *txn;      /* NULL until begun; the owner of c frees it */
    struct hs_manifest next;    /* the version being written */
    struct hs_part_tally tally; /* for the answer */
    const char *etag;           /* borrowed: the version's ETag fixed by the caller, or NULL */
    bool byte_exact;            /* never reuse a stored cold part (gateway.h byte_exact) */
    const struct hs_gw_layout *layout; /* field_hybrid: the hot set's layout (borrowed) */
    const uint8_t *patch;              /* a merge patch being written back, or NULL */
    size_t patch_len;
    bool keep_identity; /* a re-layout (obj_relayout.c): hs_gw_txn_keep_identity */
    /* the document was read from the version conds.if_match pins: its cold values are the
     * stored bytes (a re-layout), so keeping the cold part needs no second read of it */
    bool cold_values_stored;
};
/* Sets c up (geometry from the gateway's settings and options); c->key etc. stay to fill. */
void hs_wr_common_init(struct hs_wr_common *c, struct hs_gw *gw);
/* Frees c->txn (cleaning up a write that did not commit), next and tally. */
void hs_wr_common_release(struct hs_wr_common *c);
/* Begins c->txn: open-write slot, placement, HS_EUNAVAIL when fewer live nodes than need's
 * quorum ("<strategy> needs n"), the WAL record of plan with the current manifest read, and
 * c->conds against it. On an error nothing is left behind and c->txn stays NULL. */
enum hs_err hs_wr_begin(struct hs_wr_common *c, const struct hs_part *need, enum hs_strategy s,
                        const struct hs_txn_plan *plan, char *msg, size_t msg_len);
/* A copy of a without its checksum (a new body has not proved it), NULL when nothing is left:
 * what a rewrite of an object (PATCH) or a new write carries over. */
struct hs_manifest_attrs *hs_wr_attrs_carry(const struct hs_manifest_attrs *a);
/* Commits c->next through c->txn with c->etag (hs_gw_txn_commit). */
enum hs_err hs_wr_commit(struct hs_wr_common *c, hs_gw_txn_retry_fn retry, void *ctx, char *msg,
                         size_t msg_len);
/* Fills res from a committed write (takes the tally's URLs). */
struct hs_obj_put_result;
void hs_wr_result(struct hs_wr_common *c, enum hs_strategy s, bool pure_hot,
                  struct hs_obj_put_result *res);

/* ---- field_hybrid (obj_hybrid.c) ---- */

/* Splits a buffered document with the hot set hot into split (cold_hash filled).
 * HS_EUNSUPPORTED when it is not one JSON object, HS_ETOOBIG / others (msg set). */
enum hs_err hs_hybrid_split(const struct hs_split_hotset *hot, const uint8_t *doc, size_t len,
                            struct hs_split_result *split, char *cold_hash, char *msg,
                            size_t msg_len);
/* Writes a split document as field_hybrid: begins c->txn, writes the hot part and (unless the
 * current cold part is reused: *pure_hot) the cold part, commits. HS_ECONFLICT hot_only with
 * a changed cold part. */
/* The size of a merged field_hybrid document ({hot members,cold members}, no whitespace
 * between them) from its hot part's length and what its cold part adds ({live members}: 2 when
 * none). */
int64_t hs_hybrid_merged_size(int64_t hot_len, int64_t live_cold);
/* What cur's cold part adds to its merged document, from cur's size: the live members only
 * (a cold part with shadows is longer than that). */
int64_t hs_hybrid_live_cold(const struct hs_manifest *cur);
/* True when field_hybrid gives back exactly doc's bytes from split (its merge equals doc). */
bool hs_hybrid_round_trips(const struct hs_split_result *split, const uint8_t *doc, size_t len);
enum hs_err hs_hybrid_write(struct hs_wr_common *c, const struct hs_split_result *split,
                            const char *cold_hash, bool hot_only, bool *pure_hot, char *msg,
                            size_t msg_len);

#endif
