/* blob_int.h - private to src/blob: the store struct, path building and the helpers shared by
 * the store, write, read and list files. */
#ifndef HS_BLOB_INT_H
#define HS_BLOB_INT_H

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hs/blob.h"

#define HS_BLOB_STRIPES     64          /* id-striped locks; see struct hs_blob_store */
#define HS_BLOB_CRC_CHUNK   (128 << 10) /* pread chunk when verifying a payload */
#define HS_BLOB_FANOUT_PAD  '+'         /* sorts before '-', '.', digits and letters */
#define HS_BLOB_REL_MAX     (6 + HS_BLOB_ID_MAX + 1) /* "d1/d2/" + id + NUL */
#define HS_BLOB_OBJECTS_DIR "objects"
#define HS_BLOB_TMP_DIR     "tmp"
#define HS_BLOB_TMP_SLOTS   64 /* tmp/0 .. tmp/3f: see write.c for why temp files are spread */
#define HS_BLOB_QUAR_DIR    "quarantine"
#define HS_BLOB_SMALL_BYTES (64 << 10) /* declared lengths up to this are written in one pwrite */

struct hs_blob_dirsync_waiter;
struct hs_blob_volumes;

struct hs_blob_store {
    char *dir;   /* data directory, as given */
    int root_fd; /* O_DIRECTORY fds, opened once; immutable after open */
    int objects_fd;
    int tmp_fd;
    int quarantine_fd;
    int lock_fd; /* holds flock(LOCK_EX) on <dir>/LOCK */
    bool fsync;  /* immutable options */
    int64_t reserve_bytes;
    int64_t max_blob_bytes;
    _Atomic int64_t blobs;         /* blobs in objects/ that are counted */
    _Atomic int64_t payload_bytes; /* sum of their payload lengths */
    _Atomic int64_t quarantined;   /* moved to quarantine since open */
    _Atomic uint64_t seq;          /* unique suffixes for temp and quarantine names */
    /* stripes[hash(id) % N] serialises the operations that change which file an id names
     * (commit's rename, delete, quarantine) so that counters stay exact and a quarantine never
     * moves a blob that replaced the corrupt one. Readers and appends take no lock. */
    pthread_mutex_t stripes[HS_BLOB_STRIPES];
    long pid; /* getpid() at open: part of temp file names */
    /* Directory fsync group commit (dirsync.c): dsync_mu guards the queue of commits waiting
     * for their directory to be fsynced and the flag that one of them is fsyncing. */
    pthread_mutex_t dsync_mu;
    pthread_cond_t dsync_cv;
    struct hs_blob_dirsync_waiter *dsync_queue; /* guarded by dsync_mu */
    bool dsync_running;                         /* guarded by dsync_mu */
    struct hs_blob_volumes *vols;               /* volume store (volume.c); NULL when never used */
};

/* d1 and d2 (3 bytes each, NUL-terminated) for a valid id. */
void hs_blob_fanout(const char *id, char d1[3], char d2[3]);
/* True for a fan-out directory name: 2 chars of [0-9a-f.+-], not "..". */
bool hs_blob_fanout_name_valid(const char *name);
/* "d1/d2/id" into rel (HS_BLOB_REL_MAX bytes) for a valid id. */
void hs_blob_rel_path(const char *id, char rel[HS_BLOB_REL_MAX]);
/* "d1/d2" into rel (6 bytes). */
void hs_blob_rel_dir(const char *id, char rel[6]);
pthread_mutex_t *hs_blob_stripe(struct hs_blob_store *s, const char *id);
/* FNV-1a of the id: picks the stripe lock and the temp-file slot. */
uint32_t hs_blob_id_hash(const char *id);

/* Reads and checks the header of an open blob file: decode, id equals expect_id (when not
 * NULL), file size equals H + payload length. HS_ECORRUPT (*problem_out set), HS_EIO.
 * *file_bytes_out (may be NULL) is set whenever fstat succeeded, even on HS_ECORRUPT. */
enum hs_err hs_blob_read_header(int fd, const char *expect_id, struct hs_blob_header *hdr_out,
                                int64_t *file_bytes_out, const char **problem_out);
/* The checks of hs_blob_read_header on the first len bytes of a file of file_bytes bytes. */
enum hs_err hs_blob_check_header(const uint8_t *buf, size_t len, int64_t file_bytes,
                                 const char *expect_id, struct hs_blob_header *hdr_out,
                                 const char **problem_out);
/* The whole file of blob id (one fstat, one pread) when its payload is at most
 * max_payload_bytes, checked like hs_blob_read_header plus the payload CRC. *file_out (heap,
 * caller frees) holds header and payload. HS_ETOOBIG (bigger: nothing read), HS_ECORRUPT
 * (*problem_out set), HS_EIO. */
enum hs_err hs_blob_read_file(int fd, const char *id, int64_t max_payload_bytes,
                              struct hs_blob_header *hdr_out, uint8_t **file_out,
                              const char **problem_out);
/* CRC32C of len bytes at off, pread in chunks. HS_ECORRUPT when the file ends early, HS_EIO. */
enum hs_err hs_blob_crc_file(int fd, int64_t off, int64_t len, uint32_t *crc_out);

/* opendir of dirfd/rel with its own file offset; NULL with errno set. */
DIR *hs_blob_opendir(int dirfd, const char *rel);
/* Opens objects/<rel of id> read-only. HS_ENOENT, HS_EIO (logged). */
enum hs_err hs_blob_open_id(struct hs_blob_store *s, const char *id, int *fd_out);
/* Moves the blob file of id to quarantine/ if it still is the file open as fd (fd -1: whatever
 * file it is), uncounts it and logs evt=blob_quarantined. Takes the id's stripe lock; the
 * _locked form expects the caller to hold it. problem: why (static text). */
void hs_blob_quarantine(struct hs_blob_store *s, const char *id, int fd, const char *problem);
void hs_blob_quarantine_locked(struct hs_blob_store *s, const char *id, int fd,
                               const char *problem);
/* Payload bytes a file was counted with: its header's length when the header is valid, else
 * the file size minus the header size its id implies (never negative). */
int64_t hs_blob_counted_bytes(int fd, const char *id);
/* Opens dirfd/rel as a directory and fsyncs it. HS_EIO (logged). */
enum hs_err hs_blob_fsync_dir(int dirfd, const char *rel);
/* dirsync.c: makes the renames already done into objects/<rel> durable, sharing one fsync of
 * each directory with the commits waiting at the same time. Blocks. HS_EIO (logged). */
enum hs_err hs_blob_dirsync(struct hs_blob_store *s, const char *rel);
void hs_blob_dirsync_init(struct hs_blob_store *s);
void hs_blob_dirsync_release(struct hs_blob_store *s);
/* Logs evt=blob_io_failed with the operation, the path and errno; returns the hs_err for it
 * (ENOSPC and EDQUOT: HS_ENOSPC, else HS_EIO). */
enum hs_err hs_blob_io_error(const char *op, const char *path, int errnum);

/* volume.c: the volume store for small blobs (hs/blob.h). vol_open reads <dir>/volumes (made
 * when writable; when not writable and absent, s->vols stays NULL), rebuilding the index and
 * truncating torn tails; counts the blobs into s. The others return HS_ENOENT when id is not
 * in the volumes (also when s->vols is NULL), so that callers try objects/ next. */
enum hs_err hs_blob_vol_open(struct hs_blob_store *s, bool writable, int64_t max_bytes);
void hs_blob_vol_close(struct hs_blob_store *s);
/* True when a blob of this declared length is written to the volumes. */
bool hs_blob_vol_takes(const struct hs_blob_store *s, int64_t declared);
/* Appends a needle and waits for its group commit. HS_OK once durable (or when the same
 * content is already there); HS_EEXIST other content under id; HS_ETIMEDOUT past deadline_ms
 * (0 = none) before the append; HS_EIO (a failed volume write refuses every later one). */
enum hs_err hs_blob_vol_put(struct hs_blob_store *s, const char *id, const void *payload,
                            uint32_t len, uint32_t crc, int64_t deadline_ms);
/* errs[i]: HS_OK tombstone written, HS_ENOENT not in the volumes, HS_EINVAL, HS_EIO. */
void hs_blob_vol_delete(struct hs_blob_store *s, const char *const *ids, size_t n,
                        enum hs_err *errs);
/* From the index, no disk read. */
enum hs_err hs_blob_vol_stat(struct hs_blob_store *s, const char *id, int64_t *len_out,
                             uint32_t *crc_out);
/* Reads the needle and checks header and payload CRC; HS_ECORRUPT quarantines it. */
enum hs_err hs_blob_vol_read(struct hs_blob_store *s, const char *id, uint8_t **data_out,
                             int64_t *len_out, uint32_t *crc_out);
/* As vol_read, then a fresh read-only fd of the volume positioned at the payload. */
enum hs_err hs_blob_vol_open_payload(struct hs_blob_store *s, const char *id, int *fd_out,
                                     int64_t *off_out, int64_t *len_out, uint32_t *crc_out);
/* compact.c: adds the volume counters (files, bytes, live, reclaimable, compacted) to *out. */
void hs_blob_vol_stats(struct hs_blob_store *s, struct hs_blob_stats *out);
/* Offers the first max ids after `after` (NULL: from the start) of a sorted snapshot of the
 * index, plus every id put since the snapshot that sorts after `after` (the caller keeps the
 * smallest): every id visible before the call is offered. The snapshot is taken again when
 * over a minute old or when more than max(4096, n / 16) ids were put since, so a page costs
 * O(log n + max + ids put since) and the sort is amortised over n / 16 puts. Deleted ids may be
 * offered: look each up. */
void hs_blob_vol_offer(struct hs_blob_store *s, const char *after, size_t max,
                       void (*offer)(void *ctx, const char *id), void *ctx);

#endif
