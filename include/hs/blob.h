/* blob.h - blobs on local disk: one file per blob, a small versioned header, CRC32C of the
 * payload, written to a temp file, fdatasynced, renamed into place, directory fsynced (one fsync
 * per directory for the commits waiting at the same time). Blobs are immutable. Knows nothing
 * of HTTP or etcd.
 *
 * Thread-safety: a store may be used from many threads at once; each writer object is used by
 * one thread at a time. Counters are atomic. One process per data directory (flock on LOCK).
 *
 * Data directory layout:
 *   <dir>/LOCK                      flock'ed while a store is open
 *   <dir>/objects/<d1>/<d2>/<id>    committed blobs
 *   <dir>/tmp/<h>/<id>.<pid>.<seq>.tmp  writes in progress, h = hex of a hash of the id mod 64
 *                                   (64 slot directories, ext4 "top directories" so that
 *                                   their inodes spread over block groups: see write.c); every
 *                                   file under tmp/ is removed at open (a crash left it), also
 *                                   files in tmp/ itself, where older versions put them
 *   <dir>/quarantine/<id>.<ms>.<seq>  corrupt blobs moved aside (kept for inspection)
 * Fan-out: d1 = id[0..2) and d2 = id[2..4), each padded with '+' when the id is shorter.
 * We fan out on the FIRST characters rather than on a hash so that walking the directories in
 * sorted order yields the ids in sorted order ('+' sorts before every id character), which lets
 * hs_blob_list page through ids with memory bounded by the page size. Ids start with hex txn
 * ids, whose first 12 digits are a millisecond clock: d1/d2 change only every ~50 days, so in
 * practice one leaf directory holds the blobs of weeks (ext4's hashed directories cope; the
 * per-directory lock is shared by all creates and deletes of that period).
 *
 * Blob file format v1 (all integers little-endian; H = header length = 44 + id_len):
 *   | offset    | size   | meaning                                                  |
 *   |-----------|--------|----------------------------------------------------------|
 *   | 0         | 8      | magic "HSBLOB\r\n" (48 53 42 4c 4f 42 0d 0a)             |
 *   | 8         | 2      | format version, 1                                        |
 *   | 10        | 2      | header length H in bytes; the payload starts at offset H |
 *   | 12        | 4      | flags; 0 in v1 (readers reject any other value)          |
 *   | 16        | 8      | payload length in bytes (H + length <= INT64_MAX)        |
 *   | 24        | 4      | CRC32C of the payload                                    |
 *   | 28        | 2      | id_len, 1..HS_BLOB_ID_MAX                                |
 *   | 30        | 2      | reserved, 0                                              |
 *   | 32        | 8      | creation time, Unix ms, signed (informational)           |
 *   | 40        | id_len | blob id, no NUL; equals the file name under objects/     |
 *   | 40+id_len | 4      | CRC32C of header bytes [0, 40 + id_len)                  |
 *   | H         | length | payload                                                  |
 * The file size must be exactly H + payload length.
 *
 * Volume store for small blobs (volume.c, opts.small_volume): blobs whose declared length is at
 * most HS_BLOB_VOLUME_MAX_PAYLOAD are appended as needles to <dir>/volumes/<n>.vol (n = 8
 * decimal digits from 00000001; a new volume starts when the current one would pass
 * opts.volume_max_bytes). A group commit writes every needle queued before it started with
 * one pwritev2(RWF_DSYNC) and acknowledges them together. An in-memory index (id -> volume,
 * offset, length, CRC) is rebuilt at open by scanning every volume; a tail that holds no valid
 * needle (a write torn by a crash) is truncated. A delete appends a tombstone needle. Volumes
 * are read whenever the directory exists, whatever opts.small_volume says; blobs in objects/
 * stay where they are. Deleted space is reclaimed by compaction (hs_blob_compact), which copies
 * the needles that must survive into the current volume and removes the old file; the rebuild
 * reads volumes in ascending number and needles in offset order, a later needle of an id
 * replacing an earlier one, so a copy always wins over the needle it was copied from.
 * Needle format v1 (little-endian; N = 28 + id_len, needles start at multiples of 8):
 *   | offset | size   | meaning                                                       |
 *   |--------|--------|---------------------------------------------------------------|
 *   | 0      | 4      | magic "HSN1"                                                  |
 *   | 4      | 2      | flags: 1 = tombstone (payload length and CRC 0), else 0       |
 *   | 6      | 2      | id_len, 1..HS_BLOB_ID_MAX                                     |
 *   | 8      | 4      | payload length, <= HS_BLOB_VOLUME_MAX_PAYLOAD                 |
 *   | 12     | 4      | CRC32C of the payload                                         |
 *   | 16     | 8      | creation time, Unix ms (informational)                        |
 *   | 24     | id_len | blob id, no NUL                                               |
 *   | 24+id_len | 4   | CRC32C of bytes [0, 24 + id_len)                              |
 *   | N      | length | payload, then zeros up to the next multiple of 8               | */
#ifndef HS_BLOB_H
#define HS_BLOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"

#define HS_BLOB_ID_MAX 200 /* bytes; ids are [0-9a-f.-], 1..200 chars, not starting with '.' */

#define HS_BLOB_MAGIC              "HSBLOB\r\n"
#define HS_BLOB_MAGIC_BYTES        8
#define HS_BLOB_FORMAT_VERSION     1
#define HS_BLOB_HEADER_FIXED_BYTES 44 /* header without the id: 40 bytes before it, CRC after */
#define HS_BLOB_HEADER_MAX_BYTES   (HS_BLOB_HEADER_FIXED_BYTES + HS_BLOB_ID_MAX)
#define HS_BLOB_LIST_MAX           10000 /* hs_blob_list clamps larger limits to this */

#define HS_BLOB_NEEDLE_MAGIC       "HSN1"
#define HS_BLOB_NEEDLE_FIXED_BYTES 28 /* needle header without the id */
#define HS_BLOB_NEEDLE_TOMBSTONE   1u /* flags bit */
#define HS_BLOB_VOLUME_MAX_PAYLOAD (64 << 10)
#define HS_BLOB_NEEDLE_MAX_BYTES                                                                   \
    (HS_BLOB_NEEDLE_FIXED_BYTES + HS_BLOB_ID_MAX + HS_BLOB_VOLUME_MAX_PAYLOAD + 8)
#define HS_BLOB_VOLUME_BYTES_DEFAULT ((int64_t)1 << 30)

_Static_assert(sizeof(HS_BLOB_MAGIC) - 1 == HS_BLOB_MAGIC_BYTES, "magic is 8 bytes");
_Static_assert(HS_BLOB_HEADER_FIXED_BYTES == 8 + 2 + 2 + 4 + 8 + 4 + 2 + 2 + 8 + 4,
               "v1 header fields add up to the fixed size");
_Static_assert(HS_BLOB_HEADER_MAX_BYTES <= UINT16_MAX, "header length fits its u16 field");

/* True when id is 1..HS_BLOB_ID_MAX chars of lower-case hex, '.', '-', and does not start
 * with '.' nor contain "..". Checked before any path is built. */
bool hs_blob_id_valid(const char *id);

/* A decoded v1 header. */
struct hs_blob_header {
    uint16_t version;            /* HS_BLOB_FORMAT_VERSION */
    uint16_t header_bytes;       /* H: payload offset in the file */
    uint32_t flags;              /* 0 */
    int64_t payload_bytes;       /* payload length */
    uint32_t payload_crc;        /* CRC32C of the payload */
    int64_t created_ms;          /* Unix ms */
    char id[HS_BLOB_ID_MAX + 1]; /* NUL-terminated */
};

/* Header length for an id of id_len bytes. */
static inline size_t hs_blob_header_bytes(size_t id_len)
{
    return HS_BLOB_HEADER_FIXED_BYTES + id_len;
}

/* Encodes h into buf (room for HS_BLOB_HEADER_MAX_BYTES); returns the bytes written (H).
 * h->id must be valid and h->payload_bytes >= 0 (else HS_BUG); version, header_bytes and flags
 * are written as v1 requires, not read from h. Pure, thread-safe. */
size_t hs_blob_header_encode(const struct hs_blob_header *h, uint8_t *buf);
/* A decoded needle header (volume store). */
struct hs_blob_needle {
    bool tombstone;
    uint32_t payload_bytes;
    uint32_t payload_crc;
    int64_t created_ms;
    size_t header_bytes;         /* N: the payload starts here */
    size_t needle_bytes;         /* N + payload, padded to a multiple of 8 */
    char id[HS_BLOB_ID_MAX + 1]; /* NUL-terminated */
};
/* Bytes a needle for an id of id_len bytes and len payload bytes takes, padding included. */
static inline size_t hs_blob_needle_bytes(size_t id_len, size_t len)
{
    return (HS_BLOB_NEEDLE_FIXED_BYTES + id_len + len + 7) & ~(size_t)7;
}
/* Encodes n's header into buf (room for N bytes) from id, payload_bytes, payload_crc,
 * created_ms and tombstone; sets n->header_bytes and n->needle_bytes; returns N. HS_BUG on an
 * invalid id or a tombstone with a payload. Pure. */
size_t hs_blob_needle_encode(struct hs_blob_needle *n, uint8_t *buf);
/* Decodes and checks the needle header at the start of buf (len bytes available): magic, flags,
 * lengths, header CRC, id. HS_ECORRUPT (*problem_out, may be NULL, names the check) when any
 * fails or len is too short for the header. The payload is not checked. Pure. */
enum hs_err hs_blob_needle_decode(const void *buf, size_t len, struct hs_blob_needle *out,
                                  const char **problem_out);

/* Decodes and checks a header from the first len bytes of a file (extra bytes are ignored).
 * HS_ECORRUPT when too short, bad magic, unknown version or flags, bad lengths, bad header CRC
 * or an invalid id; *problem_out (may be NULL) then names the first check that failed (static
 * text). *out is untouched on failure. Pure, thread-safe, never reads past len. */
enum hs_err hs_blob_header_decode(const void *buf, size_t len, struct hs_blob_header *out,
                                  const char **problem_out);

struct hs_blob_store_opts {
    const char *dir;          /* data directory (created if missing) */
    bool fsync;               /* sync file and directory before a write is acknowledged */
    int64_t reserve_bytes;    /* refuse writes (HS_ENOSPC) when free space would fall below */
    int64_t max_blob_bytes;   /* refuse larger blobs (HS_ETOOBIG); 0 = no limit */
    bool small_volume;        /* write blobs of known length <= HS_BLOB_VOLUME_MAX_PAYLOAD
                               * to the volume store instead of one file each */
    int64_t volume_max_bytes; /* start a new volume past this size; 0 = default (1 GiB) */
};

struct hs_blob_stats {
    int64_t blobs;         /* blobs stored (quarantined ones not counted) */
    int64_t payload_bytes; /* sum of payload lengths */
    int64_t free_bytes;    /* free space on the file system (statvfs, for unprivileged users) */
    int64_t total_bytes;   /* file system size */
    int64_t quarantined;   /* blobs moved to quarantine since start */
    /* Volume store (0 when it was never used): */
    int64_t volume_files;              /* volume files */
    int64_t volume_bytes;              /* their size */
    int64_t volume_live_bytes;         /* bytes of the needles the index names */
    int64_t volume_reclaimable_bytes;  /* what compacting every sealed volume would free */
    int64_t compacted_volumes;         /* volumes removed by compaction since open */
    int64_t compacted_reclaimed_bytes; /* their bytes minus the bytes they copied forward */
};

struct hs_blob_store;

/* Compaction of the volume store (compact.c). A volume other than the current one is due when
 * the bytes compacting it would free are at least min_dead_percent of its size (0: any byte);
 * freeable are its deleted and replaced needles and, in the oldest volume only, its
 * tombstones (elsewhere a tombstone may still hide an older needle of its id). */
struct hs_blob_compact_opts {
    int min_dead_percent;    /* 0..100 */
    int64_t rate_bytes_s;    /* volume bytes read plus written per second; 0 = unpaced */
    const atomic_bool *stop; /* checked between needles; NULL = never stop */
};
struct hs_blob_compact_result {
    int64_t volumes;       /* volumes compacted and removed */
    int64_t moved_needles; /* live needles and tombstones copied forward */
    int64_t moved_bytes;   /* their bytes */
};
/* Compacts every due volume in ascending order: copies its live needles (and the tombstones an
 * older volume may need) to the current volume through the group commit, switches the index
 * once the copies are durable, waits until no read uses the old volume, unlinks it and fsyncs
 * the directory. Safe against a crash at any point and against concurrent reads, writes and
 * deletes (compact.c says why). A volume is skipped (logged) when free space minus the reserve
 * cannot hold its copies, or when the index names a needle in it that cannot be read. Blocks
 * for as long as it takes; one call at a time per store (a second waits). HS_OK (also when
 * nothing was due or the store has no volumes), HS_EINVAL bad opts, HS_ETIMEDOUT *stop was set,
 * HS_EIO a volume write failed. out (may be NULL) counts what was done, also on error. */
enum hs_err hs_blob_compact(struct hs_blob_store *s, const struct hs_blob_compact_opts *opts,
                            struct hs_blob_compact_result *out);

/* Opens (creating dirs), removes temp files left by a crash, counts blobs and bytes.
 * The count is a scan: one open + pread + fstat per blob (about 5-10 us per blob with warm
 * caches, one random read per blob when cold); blobs whose header is corrupt or whose size
 * disagrees with it are quarantined by the scan. HS_EINVAL bad opts, HS_EIO cannot create or
 * open the directories or another store holds the directory's LOCK.
 * *out owned by the caller (hs_blob_store_close). Blocks; call once at startup. */
enum hs_err hs_blob_store_open(const struct hs_blob_store_opts *opts, struct hs_blob_store **out);
/* No call on s may be running or follow. Writers must be committed or aborted first. NULL ok. */
void hs_blob_store_close(struct hs_blob_store *s);
/* Counters plus a statvfs. Thread-safe. */
void hs_blob_store_stats(struct hs_blob_store *s, struct hs_blob_stats *out);

/* Streaming write. begin: HS_EINVAL bad id or declared_len < -1 (-1 = unknown length),
 * HS_ETOOBIG declared length over the max, HS_ENOSPC free space minus the declared length
 * under the reserve (unknown length: free space under the reserve), HS_EIO.
 * append: HS_ETOOBIG past the declared length or max, HS_EIO, HS_ENOSPC (the disk filled up);
 * after a failed append the writer only remembers the error (commit returns it): abort it.
 * commit: HS_EINVAL when the bytes received differ from the declared length; HS_ECORRUPT when
 * have_crc and the payload's CRC32C differs from expected_crc (nothing is stored); HS_EEXIST
 * when a blob with that id already exists with different content (same length and CRC: HS_OK,
 * an idempotent retry); HS_EIO, HS_ENOSPC. HS_OK only once the blob is durable (when
 * opts.fsync: file fdatasynced and directory fsynced). Concurrent writers of one id: exactly one
 * file wins (rename without replace); the others get HS_OK or HS_EEXIST as above. The writer is
 * freed by commit and abort in every case; abort removes the temp file. set_deadline: commit makes
 * the blob visible only while the wall clock (hs_clock_wall_ms) is at or before deadline_ms,
 * checked under the id's lock right before the rename; later it returns HS_ETIMEDOUT and removes
 * the temp file (the writer that asked has given up: a blob published now would be an orphan). 0 =
 * no deadline (the default). */
struct hs_blob_writer;
enum hs_err hs_blob_write_begin(struct hs_blob_store *s, const char *id, int64_t declared_len,
                                struct hs_blob_writer **out);
enum hs_err hs_blob_write_append(struct hs_blob_writer *w, const void *data, size_t n);
enum hs_err hs_blob_write_commit(struct hs_blob_writer *w, bool have_crc, uint32_t expected_crc);
void hs_blob_write_set_deadline(struct hs_blob_writer *w, int64_t deadline_ms);
void hs_blob_write_abort(struct hs_blob_writer *w);

/* Opens a blob for reading after verifying its header and the CRC32C of its whole payload
 * (streamed with pread in chunks; blocks for one read of the blob). HS_EINVAL bad id,
 * HS_ENOENT missing, HS_ECORRUPT bad header, size or CRC (the file is then moved to
 * quarantine/ and no longer counted), HS_EIO. On success *fd_out is an open read-only fd whose
 * offset is at the payload, which starts at *payload_offset_out and is *len_out bytes long
 * (give it to sendfile or MHD_create_response_from_fd_at_offset64); the caller closes fd.
 * Any out pointer except fd_out may be NULL. A blob of the volume store shares its file with
 * others: read exactly *len_out bytes from the payload offset, never to the end of the file. */
enum hs_err hs_blob_open_verified(struct hs_blob_store *s, const char *id, int *fd_out,
                                  int64_t *payload_offset_out, int64_t *len_out, uint32_t *crc_out);
/* The same checks for a blob whose payload is at most max_bytes, read whole into memory: one
 * open, fstat, pread and close instead of a header read, a CRC pass and a later sendfile; for
 * small GETs. *data_out (heap, caller frees; at least 1 byte allocated) holds the *len_out
 * payload bytes. HS_ETOOBIG when the blob file is bigger (nothing read: use
 * hs_blob_open_verified); other errors as hs_blob_open_verified. crc_out may be NULL. */
enum hs_err hs_blob_read_small(struct hs_blob_store *s, const char *id, int64_t max_bytes,
                               uint8_t **data_out, int64_t *len_out, uint32_t *crc_out);
/* Header only (no payload CRC check): HEAD. HS_EINVAL, HS_ENOENT, HS_ECORRUPT (bad header or
 * file size: quarantined), HS_EIO. Out pointers may be NULL. */
enum hs_err hs_blob_stat(struct hs_blob_store *s, const char *id, int64_t *len_out,
                         uint32_t *crc_out);
/* HS_EINVAL bad id, HS_ENOENT when absent, HS_EIO. The directory is NOT fsynced, even with
 * opts.fsync: a power loss may bring a deleted blob back, which is harmless because deleted
 * blobs are unreferenced and the healer's orphan GC removes them (docs/node.md). */
enum hs_err hs_blob_delete(struct hs_blob_store *s, const char *id);
/* hs_blob_delete of n ids, errs[i] its result. The tombstones of blobs in the volume store
 * are written by one group commit (waited for); files are unlinked one by one. */
void hs_blob_delete_many(struct hs_blob_store *s, const char *const *ids, size_t n,
                         enum hs_err *errs);

/* Listing in id order (strcmp), starting strictly after `after` (NULL or "" = from the start;
 * otherwise it must be a valid id, HS_EINVAL if not), at most limit entries (limit 0: HS_EINVAL;
 * over HS_BLOB_LIST_MAX: clamped). fn is called per blob, with no lock held, on the calling
 * thread; blobs with a corrupt header are quarantined and skipped. *next_after_out (heap,
 * caller frees) is the cursor to pass as `after` for the next page when more blobs follow, else
 * NULL. Memory is O(limit), never O(blobs); each call reads the headers of the listed blobs.
 * Blobs written or deleted during paging may or may not appear; the others appear exactly once. */
typedef void hs_blob_list_fn(void *ctx, const char *id, int64_t len, uint32_t crc);
enum hs_err hs_blob_list(struct hs_blob_store *s, const char *after, size_t limit,
                         hs_blob_list_fn *fn, void *ctx, char **next_after_out);

/* What `hybridstore debug shard FILE` shows. */
struct hs_blob_inspection {
    int64_t file_bytes;           /* size of the file */
    bool header_ok;               /* header decoded and its CRC matched; header valid */
    struct hs_blob_header header; /* meaningful when header_ok */
    bool payload_checked;         /* header_ok and the file size matched: payload CRC computed */
    uint32_t payload_crc_actual;  /* CRC32C of the payload as stored, when payload_checked */
    enum hs_err verdict;          /* HS_OK: the blob is intact; HS_ECORRUPT: see problem */
    const char *problem;          /* static text naming the first failed check, or NULL */
};
/* Decodes and verifies the blob file at path (any path: no store needed). HS_OK means the
 * file could be read and *out describes it, including out->verdict; HS_ENOENT, HS_EIO (out
 * untouched). Streams the payload; blocks; thread-safe. */
enum hs_err hs_blob_inspect_file(const char *path, struct hs_blob_inspection *out);

#endif
