/* obj_read_int.h - private to the read path (obj_read.c, obj_read_ec.c): fetching byte ranges
 * of one segment of a part from the nodes, with replica failover (obj_read.c) or EC degraded
 * decoding (obj_read_ec.c). Several segments' first attempts share one fan-out, so the hot and
 * cold parts of a field_hybrid object are read in parallel; fallbacks then run per segment. */
#ifndef HS_GATEWAY_OBJ_READ_INT_H
#define HS_GATEWAY_OBJ_READ_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/gateway.h"
#include "hs/buf.h"
#include "hs/codec.h"
#include "hs/http_client.h"
#include "hs/manifest.h"

/* One read round's context: the members snapshot the URLs come from, and what happened. */
struct hs_rd {
    struct hs_gw *gw;
    const struct hs_gw_members *mem;
    const char *key; /* for logs */
    bool lost;       /* a blob was missing or corrupt: repair/<key> should be marked */
    bool degraded;   /* parity or a second replica was needed */
    bool vanished;   /* some blob answered ENOENT (a newer version may have deleted it) */
    bool use_recent; /* also try nodes whose registration lapsed recently (second attempt) */
};

struct hs_rd_ec; /* obj_read_ec.c's per-segment state */

/* A fetch of segment bytes [a, b) (b > a) of one segment, appended to out. */
struct hs_rd_seg {
    const struct hs_part *part;
    const struct hs_segment *seg;
    int64_t a, b;
    struct hs_buf *out;
    size_t first_call, n_calls; /* its calls in the shared fan-out */
    uint32_t tried;             /* replication: replicas tried (bit i = blobs[i]) */
    unsigned replica;           /* replication: the replica of the first call */
    struct hs_rd_ec *ec;        /* ec: heap state, freed by hs_rd_seg_release */
};

#define HS_RD_CALLS_MAX (2 * HS_CODEC_MAX_SHARDS) /* one fan-out: two segments' first calls */

/* Fetches every segment of segs (their first attempts in one parallel fan-out, then each
 * one's fallbacks). HS_OK when all succeeded; else the first error: HS_EUNAVAIL (too few
 * healthy copies or shards; msg says which), HS_ECORRUPT (the manifest disagrees with itself).
 * Each out holds exactly b - a bytes on success. Blocks on the calling thread's node client. */
enum hs_err hs_rd_fetch(struct hs_rd *rd, struct hs_rd_seg *segs, size_t n, char *msg,
                        size_t msg_len);

/* obj_read_ec.c */
void hs_rd_ec_prepare(struct hs_rd *rd, struct hs_rd_seg *s, struct hs_blob_call *calls,
                      size_t *n_calls);
enum hs_err hs_rd_ec_finish(struct hs_rd *rd, struct hs_rd_seg *s, struct hs_blob_call *calls,
                            char *msg, size_t msg_len);
void hs_rd_ec_release(struct hs_rd_seg *s);

/* URL of node_id in rd->mem, NULL when the node is not live. */
const char *hs_rd_url(const struct hs_rd *rd, const char *node_id);
/* Records a failed blob call in rd (lost / vanished) and logs it (rate: once per call). */
void hs_rd_note_failure(struct hs_rd *rd, const struct hs_blob_ref *b, enum hs_err err);

#endif
