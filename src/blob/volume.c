/* volume.c - the volume store for small blobs (format and rules in hs/blob.h): needles appended
 * to a few large files, an in-memory index rebuilt at open, group commit, tombstones.
 *
 * Group commit: a PUT encodes its needle into the open batch (an in-memory buffer that will be
 * written at the current end of the current volume) and waits. One waiter at a time, the
 * leader, takes the open batch, writes it with one pwritev2(RWF_DSYNC) (write and fdatasync of
 * the range in one call) and wakes every waiter of that batch; PUTs that arrive meanwhile form
 * the next batch. Batches are written one after the other, so a crash can tear only the last
 * one, and nothing of a batch was acknowledged before its write returned. A needle that is in
 * the index but whose batch is not done yet is invisible to readers.
 *
 * Index: a chained hash table of id -> volume, offset, length, CRC, guarded by the one mutex
 * that also guards the batches (critical sections are a few hundred ns; the sync runs
 * unlocked). Listing pages through a sorted snapshot of the ids (hs_blob_vol_offer). */
#include "volume_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hs/clock.h"
#include "hs/codec.h"
#include "hs/fault.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define VOL_SUFFIX          ".vol"
#define VOL_MAX_NUMBER      99999999u
#define VOL_SNAP_MAX_AGE_MS 60000 /* listing snapshot reused by later pages for up to this */
#define VOL_RECENT_MIN      4096  /* ids put since the snapshot before it is taken again */

/* ---- index ---- */

struct vol_entry **hs_blob_vol_slot(struct hs_blob_volumes *v, const char *id)
{
    struct vol_entry **e = &v->buckets[hs_blob_id_hash(id) & (v->nbuckets - 1)];
    while (*e && strcmp((*e)->id, id) != 0)
        e = &(*e)->next;
    return e;
}

static void index_grow(struct hs_blob_volumes *v)
{
    size_t n = v->nbuckets * 2;
    struct vol_entry **b = hs_xcalloc(n, sizeof(struct vol_entry *));
    for (size_t i = 0; i < v->nbuckets; i++) {
        for (struct vol_entry *e = v->buckets[i], *next; e; e = next) {
            next = e->next;
            size_t h = hs_blob_id_hash(e->id) & (n - 1);
            e->next = b[h];
            b[h] = e;
        }
    }
    free(v->buckets);
    v->buckets = b;
    v->nbuckets = n;
}

/* Adds or replaces the entry of id; returns it. */
static struct vol_entry *index_put(struct hs_blob_volumes *v, const char *id)
{
    struct vol_entry **slot = hs_blob_vol_slot(v, id);
    if (*slot)
        return *slot;
    if (v->nentries >= v->nbuckets) {
        index_grow(v);
        slot = hs_blob_vol_slot(v, id);
    }
    size_t n = strlen(id) + 1;
    struct vol_entry *e = hs_xcalloc(1, sizeof *e + n);
    memcpy(e->id, id, n);
    *slot = e;
    v->nentries++;
    return e;
}

static void index_remove(struct hs_blob_volumes *v, struct vol_entry **slot)
{
    struct vol_entry *e = *slot;
    *slot = e->next;
    free(e);
    v->nentries--;
}

/* The visible entry of id (batch written), or NULL. */
static struct vol_entry *index_get(struct hs_blob_volumes *v, const char *id)
{
    struct vol_entry *e = *hs_blob_vol_slot(v, id);
    return e && e->batch <= v->done_seq && (v->failed_seq == 0 || e->batch < v->failed_seq) ? e
                                                                                            : NULL;
}

/* ---- volume files ---- */

void hs_blob_vol_name(uint32_t n, char name[32])
{
    snprintf(name, 32, "%08u" VOL_SUFFIX, n);
}

struct vol_file *hs_blob_vol_file(struct hs_blob_volumes *v, uint32_t n)
{
    if (n >= v->nfiles) {
        uint32_t grow = n + 16;
        v->files = hs_xrealloc(v->files, grow * sizeof *v->files);
        for (uint32_t i = v->nfiles; i < grow; i++)
            v->files[i] = (struct vol_file){.fd = -1};
        v->nfiles = grow;
    }
    return &v->files[n];
}

static int fd_of(struct hs_blob_volumes *v, uint32_t n)
{
    return n < v->nfiles ? v->files[n].fd : -1;
}

/* Creates volume n (empty) and makes its name durable. Called with mu held: rare. */
static enum hs_err create_volume(struct hs_blob_volumes *v, uint32_t n)
{
    char name[32];
    hs_blob_vol_name(n, name);
    int fd = openat(v->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return hs_blob_io_error("create", name, errno);
    if (v->fsync && fsync(v->dir_fd) != 0) {
        close(fd);
        return hs_blob_io_error("fsync_dir", HS_BLOB_VOL_DIR, errno);
    }
    *hs_blob_vol_file(v, n) = (struct vol_file){.fd = fd};
    v->cur = n;
    v->cur_end = 0;
    HS_LOG_INFO("blob_volume_created", "volume='%s'", name);
    return HS_OK;
}

/* 1: all n bytes read; 0: the file ends first; -1: error (errno set). */
static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -1 : 0;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 1;
}

/* Reads and checks the needle of e (the entry of id; a copy without its id) into *out (heap, header
 * and payload; caller frees). HS_ECORRUPT (*problem set) when the header, the id or the payload CRC
 * disagree; HS_EIO. */
static enum hs_err read_needle(int fd, const char *id, const struct vol_entry *e, uint8_t **out,
                               const char **problem)
{
    size_t n = e->header_bytes + e->len;
    uint8_t *buf = hs_xmalloc(n);
    struct hs_blob_needle nd;
    enum hs_err err = HS_OK;
    int got = pread_all(fd, buf, n, e->off);
    if (got < 0) {
        err = hs_blob_io_error("pread", id, errno);
    } else if (got == 0) {
        *problem = "needle past the end of its volume";
        err = HS_ECORRUPT;
    } else if (hs_blob_needle_decode(buf, n, &nd, problem) != HS_OK) {
        err = HS_ECORRUPT;
    } else if (strcmp(nd.id, id) != 0 || nd.tombstone || nd.payload_bytes != e->len ||
               nd.payload_crc != e->crc) {
        *problem = "needle does not match the index";
        err = HS_ECORRUPT;
    } else if (hs_crc32c(0, buf + nd.header_bytes, nd.payload_bytes) != nd.payload_crc) {
        *problem = "payload crc mismatch";
        err = HS_ECORRUPT;
    }
    if (err != HS_OK) {
        free(buf);
        return err;
    }
    *out = buf;
    return HS_OK;
}

/* ---- rebuild ---- */

/* Makes [off, off + n) available in the scan buffer when the file holds it; returns a pointer
 * to it and *avail (bytes from off in the buffer, may be less than n at the end of the file). */
static const uint8_t *scan_at(struct hs_blob_vol_scan *sc, uint64_t off, size_t n, size_t *avail)
{
    if (off < sc->buf_off || off + n > sc->buf_off + sc->buf_len) {
        size_t want = (size_t)HS_MIN((uint64_t)HS_BLOB_VOL_SCAN_BUF, sc->size - off);
        sc->buf_off = off;
        sc->buf_len = pread_all(sc->fd, sc->buf, want, off) == 1 ? want : 0;
    }
    *avail = (size_t)(sc->buf_off + sc->buf_len - off);
    return sc->buf + (off - sc->buf_off);
}

/* A complete, CRC-valid needle at off: *nd set. */
bool hs_blob_vol_needle_at(struct hs_blob_vol_scan *sc, uint64_t off, struct hs_blob_needle *nd,
                           const uint8_t **payload_out, const char **problem)
{
    size_t avail = 0;
    const uint8_t *p = scan_at(sc, off, HS_BLOB_NEEDLE_FIXED_BYTES + HS_BLOB_ID_MAX, &avail);
    if (hs_blob_needle_decode(p, avail, nd, problem) != HS_OK)
        return false;
    if (off + nd->header_bytes + nd->payload_bytes > sc->size) {
        *problem = "needle runs past the end of the volume";
        return false;
    }
    p = scan_at(sc, off, nd->header_bytes + nd->payload_bytes, &avail);
    if (avail < nd->header_bytes + nd->payload_bytes) {
        *problem = "needle unreadable";
        return false;
    }
    if (hs_crc32c(0, p + nd->header_bytes, nd->payload_bytes) != nd->payload_crc) {
        *problem = "payload crc mismatch";
        return false;
    }
    if (payload_out)
        *payload_out = p + nd->header_bytes;
    return true;
}

static void apply_needle(struct hs_blob_store *s, uint32_t vol, uint64_t off,
                         const struct hs_blob_needle *nd)
{
    struct hs_blob_volumes *v = s->vols;
    struct vol_entry **slot = hs_blob_vol_slot(v, nd->id);
    if (*slot) { /* a later needle of the id replaces or deletes the earlier one */
        atomic_fetch_sub(&s->blobs, 1);
        atomic_fetch_sub(&s->payload_bytes, (*slot)->len);
        hs_blob_vol_file(v, (*slot)->vol)->live -= hs_blob_vol_entry_bytes(*slot);
        if (nd->tombstone)
            index_remove(v, slot);
    }
    if (nd->tombstone) {
        hs_blob_vol_file(v, vol)->tomb += nd->needle_bytes;
        return;
    }
    struct vol_entry *e = index_put(v, nd->id);
    e->vol = vol;
    e->off = off;
    e->len = nd->payload_bytes;
    e->crc = nd->payload_crc;
    e->header_bytes = (uint32_t)nd->header_bytes;
    e->batch = 0;
    hs_blob_vol_file(v, vol)->live += hs_blob_vol_entry_bytes(e);
    atomic_fetch_add(&s->blobs, 1);
    atomic_fetch_add(&s->payload_bytes, nd->payload_bytes);
}

/* Indexes every valid needle of volume n. A needle that fails its checks is skipped when a
 * valid needle follows (damage inside the volume: counted as quarantined, logged); when none
 * follows the rest of the file is a torn tail and is cut off. Returns the valid end. */
static uint64_t scan_volume(struct hs_blob_store *s, uint32_t n, int fd)
{
    struct stat st;
    char name[32];
    hs_blob_vol_name(n, name);
    if (fstat(fd, &st) != 0) {
        hs_blob_io_error("fstat", name, errno);
        return 0;
    }
    struct hs_blob_vol_scan sc = {.fd = fd, .size = (uint64_t)st.st_size};
    sc.buf = hs_xmalloc(HS_BLOB_VOL_SCAN_BUF);
    uint64_t off = 0;
    while (off < sc.size) {
        struct hs_blob_needle nd;
        const char *problem = NULL;
        if (hs_blob_vol_needle_at(&sc, off, &nd, NULL, &problem)) {
            apply_needle(s, n, off, &nd);
            off += nd.needle_bytes;
            continue;
        }
        uint64_t next = off + 8;
        struct hs_blob_needle nd2;
        const char *p2 = NULL;
        while (next < sc.size && !hs_blob_vol_needle_at(&sc, next, &nd2, NULL, &p2))
            next += 8;
        if (next >= sc.size) {
            HS_LOG_WARN("blob_volume_tail_truncated",
                        "volume='%s' at=%llu dropped_bytes=%llu problem='%s'", name,
                        (unsigned long long)off, (unsigned long long)(sc.size - off), problem);
            if (ftruncate(fd, (off_t)off) != 0 || (s->fsync && fdatasync(fd) != 0))
                hs_blob_io_error("truncate", name, errno);
            sc.size = off;
            break;
        }
        atomic_fetch_add(&s->quarantined, 1);
        HS_LOG_ERROR("blob_quarantined", "volume='%s' at=%llu skipped_bytes=%llu problem='%s'",
                     name, (unsigned long long)off, (unsigned long long)(next - off), problem);
        off = next;
    }
    free(sc.buf);
    return sc.size;
}

/* Numbers of the volume files in the directory, ascending. */
static uint32_t *list_volumes(int dir_fd, size_t *n_out)
{
    size_t n = 0, cap = 16;
    uint32_t *nums = hs_xmalloc(cap * sizeof *nums);
    DIR *d = hs_blob_opendir(dir_fd, ".");
    struct dirent *e;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): one DIR stream per thread */
    while (d && (e = readdir(d)) != NULL) {
        char *end = NULL;
        if (strlen(e->d_name) != 8 + strlen(VOL_SUFFIX) || e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        unsigned long num = strtoul(e->d_name, &end, 10);
        if (end != e->d_name + 8 || strcmp(end, VOL_SUFFIX) != 0 || num == 0)
            continue;
        if (n == cap)
            nums = hs_xrealloc(nums, (cap *= 2) * sizeof *nums);
        nums[n++] = (uint32_t)num;
    }
    if (d)
        closedir(d);
    for (size_t i = 1; i < n; i++) /* insertion sort: a handful of volumes */
        for (size_t j = i; j > 0 && nums[j - 1] > nums[j]; j--) {
            uint32_t t = nums[j];
            nums[j] = nums[j - 1];
            nums[j - 1] = t;
        }
    *n_out = n;
    return nums;
}

enum hs_err hs_blob_vol_open(struct hs_blob_store *s, bool writable, int64_t max_bytes)
{
    struct stat st;
    if (!writable && fstatat(s->root_fd, HS_BLOB_VOL_DIR, &st, 0) != 0 && errno == ENOENT)
        return HS_OK; /* never used here: nothing to read */
    if (mkdirat(s->root_fd, HS_BLOB_VOL_DIR, 0700) == 0) {
        if (s->fsync && fsync(s->root_fd) != 0)
            return hs_blob_io_error("fsync_dir", s->dir, errno);
    } else if (errno != EEXIST) {
        return hs_blob_io_error("mkdir", HS_BLOB_VOL_DIR, errno);
    }
    int dir_fd = openat(s->root_fd, HS_BLOB_VOL_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return hs_blob_io_error("open_dir", HS_BLOB_VOL_DIR, errno);
    struct hs_blob_volumes *v = hs_xcalloc(1, sizeof *v);
    v->dir_fd = dir_fd;
    v->fsync = s->fsync;
    v->writable = writable;
    v->max_bytes = max_bytes > 0 ? max_bytes : HS_BLOB_VOLUME_BYTES_DEFAULT;
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->cv, NULL);
    pthread_cond_init(&v->ref_cv, NULL);
    pthread_mutex_init(&v->compact_mu, NULL);
    pthread_mutex_init(&v->snap_mu, NULL);
    v->nbuckets = 1024;
    v->buckets = hs_xcalloc(v->nbuckets, sizeof(struct vol_entry *));
    v->open_seq = 1;
    s->vols = v;
    size_t n = 0;
    uint32_t *nums = list_volumes(dir_fd, &n);
    enum hs_err err = HS_OK;
    for (size_t i = 0; i < n; i++) {
        char name[32];
        hs_blob_vol_name(nums[i], name);
        int fd = openat(dir_fd, name, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            err = hs_blob_io_error("open", name, errno);
            break;
        }
        *hs_blob_vol_file(v, nums[i]) = (struct vol_file){.fd = fd};
        v->cur = nums[i];
        v->cur_end = scan_volume(s, nums[i], fd);
        v->files[nums[i]].bytes = v->cur_end;
    }
    free(nums);
    return err;
}

void hs_blob_vol_close(struct hs_blob_store *s)
{
    struct hs_blob_volumes *v = s->vols;
    if (!v)
        return;
    for (size_t i = 0; i < v->nbuckets; i++)
        for (struct vol_entry *e = v->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    for (uint32_t i = 0; i < v->nfiles; i++)
        if (v->files[i].fd >= 0)
            close(v->files[i].fd);
    close(v->dir_fd);
    free(v->files);
    free(v->buckets);
    free(v->open.data);
    free(v->spare.data);
    free(v->snap);
    free(v->snap_mem);
    for (size_t i = 0; i < v->recent_n; i++)
        free(v->recent[i]);
    free(v->recent);
    pthread_mutex_destroy(&v->snap_mu);
    pthread_cond_destroy(&v->cv);
    pthread_cond_destroy(&v->ref_cv);
    pthread_mutex_destroy(&v->compact_mu);
    pthread_mutex_destroy(&v->mu);
    free(v);
    s->vols = NULL;
}

bool hs_blob_vol_takes(const struct hs_blob_store *s, int64_t declared)
{
    return s->vols && s->vols->writable && declared >= 0 && declared <= HS_BLOB_VOLUME_MAX_PAYLOAD;
}

/* ---- group commit ---- */

/* Appends a needle to the open batch (mu held); *batch_out is its batch, *off_out its offset.
 * Starts a new volume when the batch is empty and the current one is full. */
enum hs_err hs_blob_vol_append(struct hs_blob_volumes *v, struct hs_blob_needle *nd,
                               const void *payload, uint32_t *vol_out, uint64_t *off_out)
{
    size_t need = hs_blob_needle_bytes(strlen(nd->id), nd->payload_bytes);
    if (v->open.len == 0) {
        if (v->cur == 0 || v->cur_end + need > (uint64_t)v->max_bytes) {
            if (v->cur >= VOL_MAX_NUMBER)
                return HS_ENOSPC;
            enum hs_err err = create_volume(v, v->cur + 1);
            if (err != HS_OK)
                return err;
        }
        v->open.vol = v->cur;
        v->open.base = v->cur_end;
    }
    if (v->open.len + need > v->open.cap) {
        v->open.cap = HS_MAX(v->open.cap * 2, v->open.len + need);
        v->open.data = hs_xrealloc(v->open.data, v->open.cap);
    }
    uint8_t *p = v->open.data + v->open.len;
    size_t h = hs_blob_needle_encode(nd, p);
    if (payload && nd->payload_bytes) /* tombstones have none */
        memcpy(p + h, payload, nd->payload_bytes);
    memset(p + h + nd->payload_bytes, 0, need - h - nd->payload_bytes);
    *vol_out = v->open.vol;
    *off_out = v->open.base + v->open.len;
    v->open.len += need;
    v->cur_end += need;
    struct vol_file *f = &v->files[v->open.vol];
    f->bytes = v->cur_end;
    if (nd->tombstone)
        f->tomb += need;
    return HS_OK;
}

/* Writes (and with fsync makes durable) one batch. Runs unlocked. */
static enum hs_err write_batch(struct hs_blob_volumes *v, int fd, const struct vol_batch *b)
{
    const uint8_t *p = b->data;
    size_t n = b->len;
    uint64_t off = b->base;
    bool dsync = v->fsync; /* RWF_DSYNC: the write syncs its range; else fdatasync after */
    while (n > 0) {
        struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
        ssize_t w = pwritev2(fd, &iov, 1, (off_t)off, dsync ? RWF_DSYNC : 0);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && dsync && (errno == EOPNOTSUPP || errno == EINVAL)) {
            dsync = false; /* a kernel or file system without RWF_DSYNC */
            continue;
        }
        if (w < 0)
            return hs_blob_io_error("write_volume", "volume", errno);
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    if (v->fsync && !dsync && fdatasync(fd) != 0)
        return hs_blob_io_error("fsync_volume", "volume", errno);
    return HS_OK;
}

/* Waits until batch seq is written, writing it (and what joined it) when nobody else does.
 * mu held on entry and exit. HS_EIO when that batch or an earlier one failed. */
enum hs_err hs_blob_vol_wait(struct hs_blob_volumes *v, uint64_t seq)
{
    while (v->done_seq < seq) {
        if (v->writing) {
            pthread_cond_wait(&v->cv, &v->mu);
            continue;
        }
        /* Lead: the open batch becomes ours; later arrivals start the next one. */
        struct vol_batch b = v->open;
        uint64_t bseq = v->open_seq++;
        v->open = v->spare;
        v->open.len = 0;
        v->writing = true;
        int fd = fd_of(v, b.vol);
        bool skip = v->failed_seq != 0;
        pthread_mutex_unlock(&v->mu);
        enum hs_err err = skip ? HS_EIO : b.len ? write_batch(v, fd, &b) : HS_OK;
        pthread_mutex_lock(&v->mu);
        if (err != HS_OK && v->failed_seq == 0) {
            v->failed_seq = bseq;
            HS_LOG_ERROR("blob_volume_failed",
                         "batch=%llu volume=%u: no more volume writes "
                         "until restart",
                         (unsigned long long)bseq, b.vol);
        }
        v->spare = b;
        v->done_seq = bseq;
        v->writing = false;
        pthread_cond_broadcast(&v->cv);
    }
    return v->failed_seq != 0 && seq >= v->failed_seq ? HS_EIO : HS_OK;
}

enum hs_err hs_blob_vol_put(struct hs_blob_store *s, const char *id, const void *payload,
                            uint32_t len, uint32_t crc, int64_t deadline_ms)
{
    struct hs_blob_volumes *v = s->vols;
    struct hs_blob_needle nd = {
        .payload_bytes = len, .payload_crc = crc, .created_ms = hs_clock_wall_ms()};
    memcpy(nd.id, id, strlen(id) + 1);
    pthread_mutex_lock(&v->mu);
    enum hs_err err = HS_OK;
    struct vol_entry *e = *hs_blob_vol_slot(v, id);
    if (e) {
        /* Same id again: a retry when the content matches (wait until that copy is
         * durable), else immutability forbids it. */
        uint64_t seq = e->batch;
        err = e->len != len || e->crc != crc ? HS_EEXIST : hs_blob_vol_wait(v, seq);
        pthread_mutex_unlock(&v->mu);
        return err;
    }
    int64_t now_ms = hs_clock_wall_ms();
    if (v->failed_seq != 0) {
        err = HS_EIO;
    } else if (deadline_ms > 0 && now_ms > deadline_ms) {
        HS_LOG_WARN("blob_write_late", "id='%s' late_ms=%lld", id,
                    (long long)(now_ms - deadline_ms));
        err = HS_ETIMEDOUT;
    }
    uint32_t vol = 0;
    uint64_t off = 0;
    if (err == HS_OK)
        err = hs_blob_vol_append(v, &nd, payload, &vol, &off);
    if (err != HS_OK) {
        pthread_mutex_unlock(&v->mu);
        return err;
    }
    uint64_t seq = v->open_seq;
    e = index_put(v, id);
    *e = (struct vol_entry){.next = e->next,
                            .vol = vol,
                            .off = off,
                            .len = len,
                            .crc = crc,
                            .header_bytes = (uint32_t)nd.header_bytes,
                            .batch = seq};
    v->files[vol].live += hs_blob_vol_entry_bytes(e);
    atomic_fetch_add(&s->blobs, 1);
    atomic_fetch_add(&s->payload_bytes, len);
    if (v->tracking) {
        if (v->recent_n == v->recent_cap) {
            v->recent_cap = HS_MAX((size_t)64, v->recent_cap * 2);
            v->recent = hs_xrealloc(v->recent, v->recent_cap * sizeof(char *));
        }
        v->recent[v->recent_n++] = hs_xstrdup(id);
    }
    pthread_mutex_unlock(&v->mu);
    /* In the batch, not yet written: a crash here loses the needle, which nobody was told
     * about. */
    hs_fault("blob.volume_before_sync");
    pthread_mutex_lock(&v->mu);
    err = hs_blob_vol_wait(v, seq);
    if (err != HS_OK) {
        struct vol_entry **slot = hs_blob_vol_slot(v, id);
        if (*slot && (*slot)->batch == seq) {
            v->files[(*slot)->vol].live -= hs_blob_vol_entry_bytes(*slot);
            atomic_fetch_sub(&s->blobs, 1);
            atomic_fetch_sub(&s->payload_bytes, len);
            index_remove(v, slot);
        }
    }
    pthread_mutex_unlock(&v->mu);
    return err;
}

void hs_blob_vol_delete(struct hs_blob_store *s, const char *const *ids, size_t n,
                        enum hs_err *errs)
{
    struct hs_blob_volumes *v = s->vols;
    uint64_t seq = 0;
    pthread_mutex_lock(&v->mu);
    for (size_t i = 0; i < n; i++) {
        struct vol_entry **slot = hs_blob_id_valid(ids[i]) ? hs_blob_vol_slot(v, ids[i]) : NULL;
        if (!slot || !*slot) {
            errs[i] = slot ? HS_ENOENT : HS_EINVAL;
            continue;
        }
        struct hs_blob_needle nd = {.tombstone = true, .created_ms = hs_clock_wall_ms()};
        memcpy(nd.id, ids[i], strlen(ids[i]) + 1);
        uint32_t vol = 0;
        uint64_t off = 0;
        errs[i] = v->failed_seq != 0 ? HS_EIO : hs_blob_vol_append(v, &nd, NULL, &vol, &off);
        if (errs[i] != HS_OK)
            continue;
        seq = v->open_seq;
        v->files[(*slot)->vol].live -= hs_blob_vol_entry_bytes(*slot);
        atomic_fetch_sub(&s->blobs, 1);
        atomic_fetch_sub(&s->payload_bytes, (*slot)->len);
        index_remove(v, slot);
    }
    /* Like the file store's unlink, a delete is not promised durable; we still wait for the
     * write so that a tombstone never sits in memory with nobody to write it. */
    if (seq != 0 && hs_blob_vol_wait(v, seq) != HS_OK)
        HS_LOG_WARN("blob_volume_delete_unwritten", "ids=%zu", n);
    pthread_mutex_unlock(&v->mu);
}

/* ---- reads ---- */

enum hs_err hs_blob_vol_stat(struct hs_blob_store *s, const char *id, int64_t *len_out,
                             uint32_t *crc_out)
{
    struct hs_blob_volumes *v = s->vols;
    if (!v)
        return HS_ENOENT;
    pthread_mutex_lock(&v->mu);
    struct vol_entry *e = index_get(v, id);
    if (e) {
        if (len_out)
            *len_out = e->len;
        if (crc_out)
            *crc_out = e->crc;
    }
    pthread_mutex_unlock(&v->mu);
    return e ? HS_OK : HS_ENOENT;
}

/* Drops id from the index (if it still names the needle at vol/off), keeps a copy of the bytes
 * in quarantine/ for inspection and logs it, like the file store's quarantine. */
void hs_blob_vol_quarantine(struct hs_blob_store *s, const char *id, uint32_t vol, uint64_t off,
                            const char *problem)
{
    struct hs_blob_volumes *v = s->vols;
    pthread_mutex_lock(&v->mu);
    struct vol_entry **slot = hs_blob_vol_slot(v, id);
    if (!*slot || (*slot)->vol != vol || (*slot)->off != off) {
        pthread_mutex_unlock(&v->mu);
        return;
    }
    size_t n = (*slot)->header_bytes + (*slot)->len;
    atomic_fetch_sub(&s->blobs, 1);
    atomic_fetch_sub(&s->payload_bytes, (*slot)->len);
    atomic_fetch_add(&s->quarantined, 1);
    v->files[vol].live -= hs_blob_vol_entry_bytes(*slot);
    index_remove(v, slot);
    int fd = fd_of(v, vol);
    pthread_mutex_unlock(&v->mu);
    char name[HS_BLOB_ID_MAX + 64];
    snprintf(name, sizeof name, "%s.%lld.%llu.needle", id, (long long)hs_clock_wall_ms(),
             (unsigned long long)atomic_fetch_add(&s->seq, 1));
    uint8_t *copy = hs_xmalloc(n ? n : 1);
    ssize_t got = pread(fd, copy, n, (off_t)off);
    int qfd = openat(s->quarantine_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (qfd >= 0) {
        if (got > 0 && write(qfd, copy, (size_t)got) != got)
            hs_blob_io_error("write", name, errno);
        close(qfd);
    }
    free(copy);
    HS_LOG_ERROR("blob_quarantined", "id='%s' problem='%s' volume=%u at=%llu copied_to='%s/%s/%s'",
                 id, problem, vol, (unsigned long long)off, s->dir, HS_BLOB_QUAR_DIR, name);
}

/* Ends a read of volume n that find_and_read began. */
static void unref(struct hs_blob_volumes *v, uint32_t n)
{
    pthread_mutex_lock(&v->mu);
    if (--v->files[n].readers == 0)
        pthread_cond_broadcast(&v->ref_cv);
    pthread_mutex_unlock(&v->mu);
}

/* Finds id and reads its needle, checked. HS_ENOENT when not in the volumes. On HS_OK with
 * keep_ref the caller still holds a reference to volume copy_out->vol (unref when done).
 * Compaction removes a volume only once its readers are gone, so the fd stays valid (and is
 * not reused for another file) from the lookup to the last pread. */
static enum hs_err find_and_read(struct hs_blob_store *s, const char *id, uint8_t **needle_out,
                                 struct vol_entry *copy_out, bool keep_ref)
{
    struct hs_blob_volumes *v = s->vols;
    if (!v)
        return HS_ENOENT;
    int fd = -1;
    pthread_mutex_lock(&v->mu);
    struct vol_entry *e = index_get(v, id);
    if (e) {
        *copy_out = *e;
        fd = fd_of(v, e->vol);
        v->files[e->vol].readers++;
    }
    pthread_mutex_unlock(&v->mu);
    if (!e)
        return HS_ENOENT;
    const char *problem = NULL;
    copy_out->next = NULL;
    enum hs_err err = read_needle(fd, id, copy_out, needle_out, &problem);
    if (err == HS_ECORRUPT)
        hs_blob_vol_quarantine(s, id, copy_out->vol, copy_out->off, problem);
    if (err != HS_OK || !keep_ref)
        unref(v, copy_out->vol);
    return err;
}

enum hs_err hs_blob_vol_read(struct hs_blob_store *s, const char *id, uint8_t **data_out,
                             int64_t *len_out, uint32_t *crc_out)
{
    struct vol_entry e;
    uint8_t *needle = NULL;
    enum hs_err err = find_and_read(s, id, &needle, &e, false);
    if (err != HS_OK)
        return err;
    memmove(needle, needle + e.header_bytes, e.len);
    *data_out = needle;
    *len_out = e.len;
    if (crc_out)
        *crc_out = e.crc;
    return HS_OK;
}

enum hs_err hs_blob_vol_open_payload(struct hs_blob_store *s, const char *id, int *fd_out,
                                     int64_t *off_out, int64_t *len_out, uint32_t *crc_out)
{
    struct vol_entry e;
    uint8_t *needle = NULL;
    enum hs_err err = find_and_read(s, id, &needle, &e, true);
    if (err != HS_OK)
        return err;
    free(needle);
    /* A file description of its own: the caller seeks and sends from it (it stays valid
     * after compaction removes the volume's name). Opened before the reference goes, so the
     * name still exists. */
    char name[32];
    hs_blob_vol_name(e.vol, name);
    int fd = openat(s->vols->dir_fd, name, O_RDONLY | O_CLOEXEC);
    int saved = errno;
    unref(s->vols, e.vol);
    if (fd < 0)
        return hs_blob_io_error("open", name, saved);
    int64_t off = (int64_t)(e.off + e.header_bytes);
    if (lseek(fd, off, SEEK_SET) < 0) {
        err = hs_blob_io_error("lseek", name, errno);
        close(fd);
        return err;
    }
    *fd_out = fd;
    *off_out = off;
    *len_out = e.len;
    if (crc_out)
        *crc_out = e.crc;
    return HS_OK;
}

static int cmp_id_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A sorted copy of the visible ids (snap_mu held). The copy is made under mu (a memcpy per
 * id), the sort outside it. */
static void snap_build(struct hs_blob_volumes *v)
{
    pthread_mutex_lock(&v->mu);
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < v->nbuckets; i++)
        for (struct vol_entry *e = v->buckets[i]; e; e = e->next) {
            n++;
            bytes += strlen(e->id) + 1;
        }
    char *mem = hs_xmalloc(bytes ? bytes : 1), *at = mem;
    char **ids = hs_xmalloc((n ? n : 1) * sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < v->nbuckets; i++)
        for (struct vol_entry *e = v->buckets[i]; e; e = e->next) {
            size_t len = strlen(e->id) + 1;
            memcpy(at, e->id, len);
            ids[k++] = at;
            at += len;
        }
    for (size_t i = 0; i < v->recent_n; i++)
        free(v->recent[i]);
    v->recent_n = 0;
    v->tracking = true;
    pthread_mutex_unlock(&v->mu);
    qsort(ids, k, sizeof ids[0], cmp_id_ptr);
    free(v->snap);
    free(v->snap_mem);
    v->snap = ids;
    v->snap_n = k;
    v->snap_mem = mem;
    v->snap_ms = hs_clock_mono_ms();
}

void hs_blob_vol_offer(struct hs_blob_store *s, const char *after, size_t max,
                       void (*offer)(void *ctx, const char *id), void *ctx)
{
    struct hs_blob_volumes *v = s->vols;
    if (!v)
        return;
    pthread_mutex_lock(&v->snap_mu);
    /* The snapshot is reused (binary search for the cursor) while it is young and few ids were
     * put since; those few are offered from the recent list. Deleted ids may be offered: the
     * caller's lookup skips them. */
    pthread_mutex_lock(&v->mu);
    bool stale = v->recent_n > HS_MAX((size_t)VOL_RECENT_MIN, v->snap_n / 16);
    pthread_mutex_unlock(&v->mu);
    if (!v->snap || stale || hs_clock_mono_ms() - v->snap_ms > VOL_SNAP_MAX_AGE_MS)
        snap_build(v);
    pthread_mutex_lock(&v->mu);
    for (size_t i = 0; i < v->recent_n; i++)
        if (!after || strcmp(v->recent[i], after) > 0)
            offer(ctx, v->recent[i]);
    pthread_mutex_unlock(&v->mu);
    size_t lo = 0, hi = v->snap_n;
    while (after && lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(v->snap[mid], after) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < v->snap_n && i - lo < max; i++)
        offer(ctx, v->snap[i]);
    pthread_mutex_unlock(&v->snap_mu);
}
