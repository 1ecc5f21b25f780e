/* volume_int.h - private to volume.c and compact.c: the volume store's state (index, volume
 * files, group commit) and the helpers compaction shares with the write and read paths. */
#ifndef HS_BLOB_VOLUME_INT_H
#define HS_BLOB_VOLUME_INT_H

#include "blob_int.h"

#define HS_BLOB_VOL_DIR "volumes"

struct vol_entry {
    struct vol_entry *next; /* hash chain */
    uint32_t vol;           /* volume number */
    uint64_t off;           /* needle start in the volume */
    uint32_t len, crc;      /* payload */
    uint32_t header_bytes;  /* N */
    uint64_t batch;         /* batch that writes it: visible once done_seq >= batch */
    char id[];
};

struct vol_batch {
    uint8_t *data;
    size_t len, cap;
    uint32_t vol; /* target volume and offset, fixed when the first needle joins */
    uint64_t base;
};

/* One volume file. fd -1: absent (never made, or removed by compaction). */
struct vol_file {
    int fd;
    uint64_t bytes;   /* end of the last needle in it (assigned, for the current volume) */
    uint64_t live;    /* needle bytes of the index entries that name it */
    uint64_t tomb;    /* needle bytes of the tombstones in it */
    uint32_t readers; /* reads between their index lookup and their last pread of it */
};

struct hs_blob_volumes {
    int dir_fd;
    bool fsync;
    bool writable;     /* opts.small_volume */
    int64_t max_bytes; /* start a new volume past this */
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* batch written */
    pthread_cond_t ref_cv; /* a volume's readers dropped to 0 */
    /* One compaction at a time (compact.c); taken before mu, never while holding it. */
    pthread_mutex_t compact_mu;
    /* Everything below is guarded by mu. */
    struct vol_entry **buckets;
    size_t nbuckets, nentries;
    struct vol_file *files; /* files[n] for volume n; nfiles slots */
    uint32_t nfiles;
    uint32_t cur;     /* volume being appended to (0: none yet) */
    uint64_t cur_end; /* end of the last needle assigned in it */
    struct vol_batch open, spare;
    uint64_t open_seq;         /* seq of the open batch; batches are numbered from 1 */
    uint64_t done_seq;         /* every batch up to this one is written (or failed) */
    uint64_t failed_seq;       /* first batch whose write failed (0: none); no writes after it */
    bool writing;              /* a leader is writing a batch */
    int64_t compacted_volumes; /* volumes removed by compaction since open */
    int64_t compacted_moved_bytes;   /* needle bytes they copied forward */
    int64_t compacted_removed_bytes; /* file bytes of the volumes they removed */
    /* Listing snapshot: the visible ids, sorted, guarded by snap_mu (not mu). */
    pthread_mutex_t snap_mu;
    char **snap;
    size_t snap_n;
    char *snap_mem;
    int64_t snap_ms; /* monotonic */
    /* Ids put since the snapshot (guarded by mu), so that a page never misses a blob written
     * before it was asked for; only kept while a snapshot exists. */
    bool tracking;
    char **recent;
    size_t recent_n, recent_cap;
};

/* Bytes the needle of an index entry takes in its volume. */
static inline uint64_t hs_blob_vol_entry_bytes(const struct vol_entry *e)
{
    return ((uint64_t)e->header_bytes + e->len + 7) & ~(uint64_t)7;
}

/* Sequential reader of one volume file (the rebuild and compaction). */
struct hs_blob_vol_scan {
    int fd;
    uint64_t size;
    uint8_t *buf; /* HS_BLOB_VOL_SCAN_BUF bytes */
    uint64_t buf_off;
    size_t buf_len;
};
#define HS_BLOB_VOL_SCAN_BUF ((size_t)(1u << 20) + HS_BLOB_NEEDLE_MAX_BYTES)

/* "NNNNNNNN.vol" into name. */
void hs_blob_vol_name(uint32_t n, char name[32]);
/* The slot that holds (or would hold) the entry of id. mu held. */
struct vol_entry **hs_blob_vol_slot(struct hs_blob_volumes *v, const char *id);
/* files[n], grown (fd -1, zeros) when n is past the end. mu held (or single-threaded open). */
struct vol_file *hs_blob_vol_file(struct hs_blob_volumes *v, uint32_t n);
/* Appends a needle (payload may be NULL for a tombstone) to the open batch; *vol_out and
 * *off_out say where it will be. mu held. HS_ENOSPC (volume numbers exhausted), HS_EIO. */
enum hs_err hs_blob_vol_append(struct hs_blob_volumes *v, struct hs_blob_needle *nd,
                               const void *payload, uint32_t *vol_out, uint64_t *off_out);
/* Waits until batch seq is written, leading the write when nobody does. mu held on entry and
 * exit (dropped while waiting or writing). HS_EIO when that batch or an earlier one failed. */
enum hs_err hs_blob_vol_wait(struct hs_blob_volumes *v, uint64_t seq);
/* A complete needle at off whose header CRC and payload CRC hold: *nd set, *payload_out (may
 * be NULL) points at its payload in the scan buffer until the next call. */
bool hs_blob_vol_needle_at(struct hs_blob_vol_scan *sc, uint64_t off, struct hs_blob_needle *nd,
                           const uint8_t **payload_out, const char **problem);
/* Drops id from the index if it still names the needle at vol/off, copies the needle's bytes
 * to quarantine/ and logs evt=blob_quarantined. Takes mu. */
void hs_blob_vol_quarantine(struct hs_blob_store *s, const char *id, uint32_t vol, uint64_t off,
                            const char *problem);

#endif
