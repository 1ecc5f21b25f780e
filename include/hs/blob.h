/* blob.h - blobs on local disk: one file per blob, a small versioned header, CRC32C of the
 * payload, written to a temp file, fsynced, renamed into place, directory fsynced. Blobs are
 * immutable. Knows nothing of HTTP or etcd.
 *
 * The on-disk header layout is documented (table) and pinned in this header by the blob module
 * owner; see HS_BLOB_HEADER_* below.
 *
 * Thread-safety: a store may be used from many threads at once; each writer/reader object is
 * used by one thread at a time. Counters are atomic. */
#ifndef HS_BLOB_H
#define HS_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"

#define HS_BLOB_ID_MAX 200 /* bytes; ids are [0-9a-f.-], 1..200 chars, not starting with '.' */

/* True when id is 1..HS_BLOB_ID_MAX chars of lower-case hex, '.', '-', and does not start
 * with '.' nor contain "..". Checked before any path is built. */
bool hs_blob_id_valid(const char *id);

struct hs_blob_store_opts {
    const char *dir;          /* data directory (created if missing) */
    bool fsync;               /* fsync file and directory before a write is acknowledged */
    int64_t reserve_bytes;    /* refuse writes (HS_ENOSPC) when free space would fall below */
    int64_t max_blob_bytes;   /* refuse larger blobs (HS_ETOOBIG); 0 = no limit */
};

struct hs_blob_stats {
    int64_t blobs;            /* blobs stored (quarantined ones not counted) */
    int64_t payload_bytes;    /* sum of payload lengths */
    int64_t free_bytes;       /* free space on the file system (statvfs) */
    int64_t total_bytes;      /* file system size */
    int64_t quarantined;      /* blobs moved to quarantine since start */
};

struct hs_blob_store;

/* Opens (creating dirs), removes temp files left by a crash, counts blobs and bytes.
 * *out owned by the caller (hs_blob_store_close). */
enum hs_err hs_blob_store_open(const struct hs_blob_store_opts *opts, struct hs_blob_store **out);
void hs_blob_store_close(struct hs_blob_store *s);
void hs_blob_store_stats(struct hs_blob_store *s, struct hs_blob_stats *out);

/* Streaming write. begin: HS_EINVAL bad id, HS_ETOOBIG declared length over the max,
 * HS_ENOSPC free space under the reserve. append: HS_ETOOBIG past the declared length or max,
 * HS_EIO, HS_ENOSPC. commit: HS_EINVAL when the bytes received differ from the declared
 * length; HS_ECORRUPT when have_crc and the payload's CRC32C differs from expected_crc (nothing
 * is stored); HS_EEXIST when a blob with that id already exists with different content (same
 * length and CRC: HS_OK, an idempotent retry). The writer is freed by commit and abort in
 * every case; abort removes the temp file. */
struct hs_blob_writer;
enum hs_err hs_blob_write_begin(struct hs_blob_store *s, const char *id, int64_t declared_len,
                                struct hs_blob_writer **out);
enum hs_err hs_blob_write_append(struct hs_blob_writer *w, const void *data, size_t n);
enum hs_err hs_blob_write_commit(struct hs_blob_writer *w, bool have_crc, uint32_t expected_crc);
void hs_blob_write_abort(struct hs_blob_writer *w);

/* Opens a blob for reading after verifying its header and the CRC32C of its whole payload.
 * HS_ENOENT missing; HS_ECORRUPT bad header or CRC (the file is then moved to quarantine/ and
 * no longer counted). On success fd_out is an open read-only fd positioned anywhere, the
 * payload starts at *payload_offset_out and is *len_out bytes long; the caller closes fd. */
enum hs_err hs_blob_open_verified(struct hs_blob_store *s, const char *id, int *fd_out,
                                  int64_t *payload_offset_out, int64_t *len_out,
                                  uint32_t *crc_out);
/* Header only (no payload CRC check): HEAD. HS_ENOENT, HS_ECORRUPT (bad header: quarantined). */
enum hs_err hs_blob_stat(struct hs_blob_store *s, const char *id, int64_t *len_out,
                         uint32_t *crc_out);
/* HS_ENOENT when absent. */
enum hs_err hs_blob_delete(struct hs_blob_store *s, const char *id);

/* Listing in id order, starting strictly after `after` (NULL or "" = from the start), at most
 * limit entries. fn is called per blob; *next_after_out (heap, may be NULL) is the last id
 * returned when more may follow, else NULL. */
typedef void hs_blob_list_fn(void *ctx, const char *id, int64_t len, uint32_t crc);
enum hs_err hs_blob_list(struct hs_blob_store *s, const char *after, size_t limit,
                         hs_blob_list_fn *fn, void *ctx, char **next_after_out);

#endif
