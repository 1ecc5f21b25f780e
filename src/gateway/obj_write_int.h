/* obj_write_int.h - private to the write path: the streaming writer's state shared by
 * obj_write.c (begin/write/finish, strategy choice, field_hybrid), obj_segment.c (placement of
 * blobs, EC encoding and the parallel PUTs of one segment, clean-up) and obj_commit.c (the WAL
 * record + manifest read, the commit transaction with retries, deletion of replaced blobs). */
#ifndef HS_GATEWAY_OBJ_WRITE_INT_H
#define HS_GATEWAY_OBJ_WRITE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/gw_int.h"
#include "hs/buf.h"
#include "hs/codec.h"
#include "hs/manifest.h"
#include "hs/split.h"

#define HS_WR_SEGMENTS_MAX 1500 /* per part: keeps the manifest under HS_MANIFEST_ENCODED_MAX */
#define HS_WR_UNPLACED     HS_META_NODE_UNPLACED_PREFIX /* see manifest.h */

/* A blob this write stored on a node (deleted again when the write fails). */
struct hs_wr_stored {
    char id[HS_META_BLOB_ID_BUF];
    char *url; /* heap: node base URL */
};

struct hs_obj_writer {
    struct hs_gw *gw;
    char *key; /* heap, NUL-terminated (valid object keys hold no NUL) */
    size_t key_len;
    char *content_type;
    char *if_match; /* NULL = none */
    bool if_match_any;
    bool if_none_match_any;
    bool hot_only;
    char *req_id;
    int64_t declared_len; /* -1 unknown */
    bool json_body;       /* Content-Type is application/json (auto may pick field_hybrid) */

    enum hs_strategy strategy; /* 0 until decided (auto) */
    bool buffer_all;           /* field_hybrid or auto still deciding: body kept in buf */
    bool started;              /* placed, WAL record put, current manifest read */
    bool wal_put;              /* txn/<id> may exist: clean-up deletes it */
    int64_t wal_rev;           /* mod_revision of our last put of txn/<id>: every re-put and
                                  the commit compare it, so a record the healer rolled back
                                  (deleted or marked) can never commit */
    int64_t wal_alive_ms;      /* monotonic ms of that put (liveness refresh) */
    struct hs_gw_settings set;
    int64_t stripe;                  /* EC parts: bytes of one shard per stripe */
    const struct hs_gw_members *mem; /* taken at start */
    size_t *rank;                    /* every live node, best first (indices into mem) */
    char txn[HS_TXN_ID_BUF];
    char *meta_key, *txn_key, *repair_key, *retire_key; /* heap */
    struct hs_txn_record wal;
    size_t wal_segs[3]; /* per enum hs_blob_part: segments named in the WAL record */

    struct hs_manifest cur; /* the version this write replaces (when have_cur) */
    bool have_cur;
    int64_t cur_rev; /* mod_revision of meta/<key>, 0 when absent */
    struct hs_manifest next;

    struct hs_buf buf;  /* the current segment, or the whole document while buffer_all */
    int64_t received;   /* body bytes so far */
    uint32_t seg_index; /* next segment of the data part */

    struct hs_wr_stored *stored; /* heap array */
    size_t n_stored, cap_stored;
    bool degraded; /* some blob missing: repair/<key> goes with the commit */
    char **urls;   /* distinct node URLs that stored a replica (replication, hot part) */
    size_t n_urls;
    char **bad_urls; /* distinct node URLs that timed out or were unreachable */
    size_t n_bad_urls;
    uint32_t chunks_written, total_chunks;
    bool pure_hot;

    const struct hs_codec *codec;
    struct hs_codec_scratch scratch;
    struct hs_buf shards[HS_CODEC_MAX_SHARDS]; /* one EC segment's shard blobs, reused */

    struct hs_split_result split; /* field_hybrid */
    char cold_hash[2 * HS_SPLIT_HASH_BYTES + 1];

    struct hs_gw_budget_hold body_budget; /* body-buffer-budget held for buf while buffer_all */
    bool write_slot;                      /* holds a max-open-writes slot (hs_wr_start) */
};

/* obj_segment.c */
/* Writes one segment of part (kind and geometry already set) as blobs <txn>.<which>.<seg>.<i>:
 * replicated: the same bytes to each of the part's replicas; EC: encoded into k+m shards. The
 * segment is appended to part->segments. Blob i goes to the i-th node of w->rank (a pseudo
 * node "unplaced-<i>" when fewer nodes are live). Extends the WAL record first when the segment
 * is not named in it yet. HS_EUNAVAIL below quorum (msg says how many blobs were stored and how
 * many are needed); w->degraded when some blob is missing. */
enum hs_err hs_wr_put_segment(struct hs_obj_writer *w, struct hs_part *part,
                              enum hs_blob_part which, const uint8_t *data, size_t len, char *msg,
                              size_t msg_len);
/* field_hybrid with a one-segment hot part and a one-segment cold part: both segments go out
 * in ONE parallel fan-out (3 + k+m PUTs), saving a round trip. Errors as hs_wr_put_segment. */
enum hs_err hs_wr_put_pair(struct hs_obj_writer *w, const uint8_t *hot, size_t hot_len,
                           const uint8_t *cold, size_t cold_len, char *msg, size_t msg_len);
/* Cuts data into segments of segment_bytes and writes each (hs_wr_put_segment). */
enum hs_err hs_wr_put_part(struct hs_obj_writer *w, struct hs_part *part, enum hs_blob_part which,
                           const uint8_t *data, size_t len, char *msg, size_t msg_len);
/* Names segments [0, to) of part `which` in the WAL record (not sent). */
void hs_wr_wal_add(struct hs_obj_writer *w, enum hs_blob_part which, size_t to);
/* Live nodes needed: replicated (quorum of replicas) / EC (k+1 of k+m). */
size_t hs_wr_quorum(const struct hs_part *part);
/* Deletes every blob this write stored, in parallel, best effort. Returns the failures. */
size_t hs_wr_delete_stored(struct hs_obj_writer *w);

/* Deletes blobs in parallel on the nodes of mem (best effort; a node that is not live counts as
 * a failure); deleted_out[i] says whether locs[i] was deleted now. Returns the failures. A
 * DELETE uses it after its transaction retired the same blobs, so what fails here is still
 * swept by the healer. */
size_t hs_gw_delete_blobs(struct hs_gw *gw, const struct hs_gw_members *mem,
                          const struct hs_blob_loc *locs, size_t n, bool *deleted_out);
/* A retire record (manifest.h) of n blobs of key, as JSON (heap, *len bytes); HS_BUG on a
 * record that does not encode (the blobs come from validated manifests). */
char *hs_gw_retire_json(const char *key, const struct hs_blob_loc *blobs, size_t n, size_t *len);
/* The largest etcd transaction a commit sends with its retire record inside (etcd refuses
 * requests over 1.5 MiB by default): a larger retire record is put on its own first. */
#define HS_GW_COMMIT_BYTES_MAX ((size_t)1200 * 1024)

/* obj_commit.c */
/* Places (checks there are enough live nodes), mints the txn id and in one etcd transaction
 * puts the WAL record and reads the current manifest; checks If-Match / If-None-Match. On an
 * error nothing is left behind. */
enum hs_err hs_wr_start(struct hs_obj_writer *w, char *msg, size_t msg_len);
/* Puts the WAL record again (after hs_wr_wal_add, or to show the writer is alive), comparing
 * its mod_revision with our last put. HS_EUNAVAIL with w->wal_put cleared (msg says so) when
 * the healer rolled the write back: the write must fail. */
enum hs_err hs_wr_wal_put(struct hs_obj_writer *w, char *msg, size_t msg_len);
/* A streamed write that is still receiving bytes re-puts its record every opts.wal_alive_ms
 * (3 s by default: well under the healer's wal-owner-grace, 10 s, and wal-timeout, 60 s) so the
 * healer never takes a slow, progressing upload for a stalled one. Errors as hs_wr_wal_put; a
 * transient etcd failure is not an error here. */
enum hs_err hs_wr_wal_keep_alive(struct hs_obj_writer *w, char *msg, size_t msg_len);
/* Commits w->next (retries on a concurrent writer), then deletes the replaced blobs. On an
 * error the stored blobs and the WAL record are removed. */
enum hs_err hs_wr_commit(struct hs_obj_writer *w, char *msg, size_t msg_len);
/* Clean-up of a failed write: stored blobs, then the WAL record (when it was put). */
void hs_wr_fail_cleanup(struct hs_obj_writer *w);
/* field_hybrid (obj_write.c): writes the cold part of w->split into w->next. */
enum hs_err hs_wr_write_cold(struct hs_obj_writer *w, char *msg, size_t msg_len);
/* field_hybrid: the size of the merged document (manifest size). */
int64_t hs_wr_hybrid_size(const struct hs_obj_writer *w);
/* Is cur's cold part reusable for a document whose cold hash is w->cold_hash? */
bool hs_wr_cold_reusable(const struct hs_obj_writer *w, const struct hs_manifest *cur);

#endif
