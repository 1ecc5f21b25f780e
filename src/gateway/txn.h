/* txn.h - one write transaction of the gateway, whatever produced its parts (docs/gateway.md
 * "The write path"): the open-write slot, the members snapshot and the key's rendezvous
 * ranking (blob i of every segment goes to the i-th ranked node), the WAL record (version 2:
 * nodes + segments named before their blobs exist, re-put with a compare on its
 * mod_revision, kept alive while a slow body streams in), the blobs stored and where, the
 * quorum bookkeeping (degraded, unreachable nodes), the commit (compare-and-swap on the
 * manifest revision with the repair mark and the retire record of the replaced blobs, retried
 * on a concurrent writer as the caller decides, an unanswered commit resolved) and the
 * clean-up of a failed write. It knows nothing of JSON, of strategies or of how a part's bytes
 * were produced (part_writer.h does that on top of it).
 *
 * Also the delete transaction (compare-and-delete + retire record, obj_delete.c).
 *
 * Threads: a txn is used by one thread at a time (the request's). Every call may block on etcd
 * or the nodes except the accessors. */
#ifndef HS_GATEWAY_TXN_H
#define HS_GATEWAY_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/gw_int.h"
#include "gateway/txn_plan.h"
#include "hs/http_client.h"
#include "hs/manifest.h"

struct hs_gw_txn; /* opaque: txn.c */

/* Takes an open-write slot (HS_EBUSY, msg set, when max-open-writes are taken), the members
 * snapshot and ranks the live nodes for key (NUL-terminated, validated). Nothing is written.
 * req_id is copied. *out is freed by hs_gw_txn_free. */
enum hs_err hs_gw_txn_new(struct hs_gw *gw, const char *key, const char *req_id,
                          struct hs_gw_txn **out, char *msg, size_t msg_len);
/* HS_OK when enough nodes are live for part's quorum; else HS_EUNAVAIL (msg says "what needs
 * how many", counted as a quorum failure). */
enum hs_err hs_gw_txn_need(struct hs_gw_txn *t, const struct hs_part *part, const char *what,
                           char *msg, size_t msg_len);
/* Mints the txn id, then in ONE etcd transaction puts the WAL record named by plan and reads
 * the current manifest (hs_gw_txn_current; not with plan->no_current: then NULL). HS_EUNAVAIL
 * etcd down, HS_EIO / HS_EPROTO a stored manifest that cannot be read. On an error
 * hs_gw_txn_free cleans up. */
enum hs_err hs_gw_txn_open(struct hs_gw_txn *t, const struct hs_txn_plan *plan, char *msg,
                           size_t msg_len);

/* Accessors (valid until hs_gw_txn_free). */
struct hs_gw *hs_gw_txn_gw(const struct hs_gw_txn *t);
const char *hs_gw_txn_req(const struct hs_gw_txn *t);
const char *hs_gw_txn_id(const struct hs_gw_txn *t); /* "" before open */
const struct hs_gw_members *hs_gw_txn_members(const struct hs_gw_txn *t);
size_t hs_gw_txn_live(const struct hs_gw_txn *t);
/* The version this write replaces, NULL when the key has none (updated on every commit retry). */
const struct hs_manifest *hs_gw_txn_current(const struct hs_gw_txn *t);
/* The node of blob i of a segment: the i-th ranked node (*url its base URL), or a pseudo node
 * "unplaced-<i>" written to unplaced (*url NULL: the blob is not sent) when fewer are live. */
const char *hs_gw_txn_blob_node(const struct hs_gw_txn *t, size_t i, char unplaced[32],
                                const char **url);
bool hs_gw_txn_degraded(const struct hs_gw_txn *t);

/* Names segment seg of part `which` (width blobs each) in the WAL record, re-putting it when it
 * was not named yet: blobs are named before they may exist. HS_EUNAVAIL when the healer rolled
 * the write back (the write must fail) or etcd cannot confirm. */
enum hs_err hs_gw_txn_name_segment(struct hs_gw_txn *t, enum hs_meta_blob_part which, size_t seg,
                                   size_t width, char *msg, size_t msg_len);
/* A streamed write that is still receiving bytes re-puts its record every opts.wal_alive_ms so
 * the healer never takes a slow, progressing upload for a stalled one. Errors as
 * hs_gw_txn_name_segment; a transient etcd failure is not an error here. */
enum hs_err hs_gw_txn_keep_alive(struct hs_gw_txn *t, char *msg, size_t msg_len);

/* Runs blob PUTs on the calling thread's node client, in parallel, then once more those that
 * lost their connection (a kept-alive connection the node closed while idle). */
void hs_gw_txn_run(struct hs_gw_txn *t, struct hs_http_call *calls, size_t n);
/* Books a finished PUT: stored (a failed write deletes it again), or failed (logged; the node
 * is noted as unreachable on a timeout or lost connection, so the clean-up leaves the WAL
 * record to the healer). Returns whether it was stored. */
bool hs_gw_txn_note_put(struct hs_gw_txn *t, const struct hs_http_call *c);
/* Some blob is missing: the commit marks repair/<key>. */
void hs_gw_txn_mark_degraded(struct hs_gw_txn *t);

/* The ETag the commit gives the version (copied; etagc chars, at most HS_ETAG_MAX), instead of
 * the txn id; NULL = the txn id. */
void hs_gw_txn_set_etag(struct hs_gw_txn *t, const char *etag);

/* Called when a commit lost the race to a concurrent writer, with the version now current
 * (NULL: deleted meanwhile): HS_OK to commit next (which the callback may adjust) on top of
 * it, an error (msg set) to give up. */
typedef enum hs_err (*hs_gw_txn_retry_fn)(void *ctx, const struct hs_manifest *cur,
                                          struct hs_manifest *next, char *msg, size_t msg_len);
/* Commits next: the caller set its strategy, content type, size and parts; the txn sets key,
 * etag, version, created_ms, txn_id and segment offsets. In one etcd transaction, compared on
 * the WAL record's and the manifest's mod_revision: put meta/<key>, delete txn/<id>, put
 * repair/<key> when degraded (else delete it), put retire/<id> of the replaced blobs. Retries
 * through retry on a concurrent writer (HS_ECONFLICT after 32); HS_EUNAVAIL when rolled back
 * by the healer or etcd never confirmed it. On an error the write is cleaned up before this
 * returns. */
enum hs_err hs_gw_txn_commit(struct hs_gw_txn *t, struct hs_manifest *next,
                             hs_gw_txn_retry_fn retry, void *ctx, char *msg, size_t msg_len);
/* Commits a write whose result is not a manifest (a multipart part record, s3_multipart*.c):
 * ONE etcd transaction compared on the WAL record's mod_revision and the caller's n_cmps (<= 6)
 * compares deletes txn/<id> and runs the caller's n_ops (<= 6) ops. HS_ECONFLICT (msg set) when
 * a caller's compare failed: nothing changed, the caller re-reads and calls again or frees.
 * HS_EUNAVAIL when rolled back by the healer or unconfirmed (cleaned up before this returns).
 * An unanswered commit is resolved by deleting the WAL record (a commit in flight then fails)
 * and reading landed_key: committed when its value holds the txn id. */
struct hs_etcd_cmp;
struct hs_etcd_op;
enum hs_err hs_gw_txn_commit_ops(struct hs_gw_txn *t, const struct hs_etcd_cmp *cmps, size_t n_cmps,
                                 const struct hs_etcd_op *ops, size_t n_ops, const char *landed_key,
                                 char *msg, size_t msg_len);
/* Frees t (NULL is fine). A txn that did not commit is cleaned up first: its stored blobs are
 * deleted, then its WAL record (or, when a blob could not be deleted or a node did not answer,
 * the record is marked ABORTED for the healer). The write slot goes back. */
void hs_gw_txn_free(struct hs_gw_txn *t);

/* The delete transaction: removes meta/<key> and repair/<key> if meta/<key> still has
 * mod_revision rev and, in the same transaction, puts a retire record of m's blobs (m NULL:
 * unreadable, nothing retired). *done when it was removed. Errors: etcd's. */
enum hs_err hs_gw_txn_delete_object(struct hs_gw *gw, const char *key, int64_t rev,
                                    const struct hs_manifest *m, bool *done);
/* The retire record of n blobs of key to put in a transaction (*json_out heap, NULL when n is
 * 0), after putting the blobs past the first HS_RETIRE_BLOBS_MAX as records of their own
 * (hs_retire_records_split: any number of blobs can be retired; such a record is harmless if
 * the transaction then fails). HS_EUNAVAIL (nothing to put) when etcd did not take one. */
enum hs_err hs_gw_retire_prepare(struct hs_gw *gw, const char *key,
                                 const struct hs_meta_blob_loc *locs, size_t n, char **json_out,
                                 size_t *len_out);
/* After a delete transaction: deletes the retired blobs now, in parallel, best effort, so that
 * storage is given back at once (what fails stays named by the retire record for the healer's
 * sweeper). deleted_out[i] says whether locs[i] was deleted now. Returns the failures. */
size_t hs_gw_delete_blobs(struct hs_gw *gw, const struct hs_meta_blob_loc *locs, size_t n,
                          bool *deleted_out);

#endif
