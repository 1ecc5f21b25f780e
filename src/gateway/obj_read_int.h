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

/* Hedging (obj_read_race.c): a call whose node has not started answering after
 * hs_http_latency_hedge_us of it (clamped to these bounds) gets a backup. */
#define HS_RD_HEDGE_MIN_US     5000    /* never sooner: below this a backup is mostly waste */
#define HS_RD_HEDGE_MAX_US     1000000 /* never later (also at most a quarter of the timeout) */
#define HS_RD_HEDGE_DEFAULT_US 20000   /* before any latency was measured */

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
    bool ok;                    /* replication: the race put the bytes into out */
    struct hs_rd_ec *ec;        /* ec: heap state, freed by hs_rd_seg_release */
};

#define HS_RD_CALLS_MAX (2 * HS_CODEC_MAX_SHARDS) /* one fan-out: two segments' first calls */

/* Fetches every segment of segs (their first attempts in one parallel fan-out, then each
 * one's fallbacks). HS_OK when all succeeded; else the first error: HS_EUNAVAIL (too few
 * healthy copies or shards; msg says which), HS_ECORRUPT (the manifest disagrees with itself).
 * Each out holds exactly b - a bytes on success. Blocks on the calling thread's node client. */
enum hs_err hs_rd_fetch(struct hs_rd *rd, struct hs_rd_seg *segs, size_t n, char *msg,
                        size_t msg_len);

/* obj_read_race.c: runs calls[0, *n_calls) (the segments' first calls, from the prepare
 * functions) and races them: a call that fails, or whose node has not answered within its
 * hedge delay, gets a backup appended to calls (another replica; for EC, enough other shards to
 * decode from); the first complete answer of a segment wins and its other calls are cancelled.
 * Every call has ended on return; the finish functions then only run the fallbacks. bases[i]:
 * segs[i].out->len before the round. */
void hs_rd_race(struct hs_rd *rd, struct hs_rd_seg *segs, size_t n, struct hs_http_call *calls,
                size_t *n_calls, const size_t *bases);

/* obj_read.c: replication hooks of the race. repl_call sets up c to fetch replica i into
 * s->out (false, noted, when its node is not live); repl_done checks replica i's finished
 * call whose bytes are in src from src_base (s->out from base, or a backup's own buffer) and
 * leaves exactly [a, b) at s->out from base; false (noted, out back at base) on failure. */
bool hs_rd_repl_call(struct hs_rd *rd, struct hs_rd_seg *s, unsigned i, struct hs_http_call *c);
bool hs_rd_repl_done(struct hs_rd *rd, struct hs_rd_seg *s, unsigned i,
                     const struct hs_http_call *c, size_t base, const struct hs_buf *src);

/* obj_read_ec.c */
void hs_rd_ec_prepare(struct hs_rd *rd, struct hs_rd_seg *s, struct hs_http_call *calls,
                      size_t *n_calls);
/* The shard of the segment's j-th first call. */
unsigned hs_rd_ec_call_shard(const struct hs_rd_seg *s, size_t j);
/* Books shard i's finished call. */
void hs_rd_ec_done(struct hs_rd *rd, struct hs_rd_seg *s, unsigned i, const struct hs_http_call *c);
/* True when what is held decodes the range: every needed data span, or k shards covering the
 * span a decode needs. */
bool hs_rd_ec_satisfied(const struct hs_rd_seg *s);
/* Sets up calls (at most max) to shards that hold nothing yet and are not running (running
 * mask), enough that, with what is held and the running calls in alive (answering), k shards
 * will cover the decode span; *shards gets their indexes. Returns how many. */
size_t hs_rd_ec_backups(struct hs_rd *rd, struct hs_rd_seg *s, uint32_t running, uint32_t alive,
                        struct hs_http_call *calls, unsigned *shards, size_t max);
/* Shard i's call was cancelled: the finish treats it as missing (decodes around it) without
 * counting it as failed. */
void hs_rd_ec_abandon(struct hs_rd_seg *s, unsigned i);
enum hs_err hs_rd_ec_finish(struct hs_rd *rd, struct hs_rd_seg *s, char *msg, size_t msg_len);
void hs_rd_ec_release(struct hs_rd_seg *s);

/* URL of node_id in rd->mem, NULL when the node is not live. */
const char *hs_rd_url(const struct hs_rd *rd, const char *node_id);
/* Records a failed blob call in rd (lost / vanished) and logs it (rate: once per call). */
void hs_rd_note_failure(struct hs_rd *rd, const struct hs_meta_blob_ref *b, enum hs_err err);

#endif
