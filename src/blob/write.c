/* write.c - streaming blob writes: temp file in a slot directory tmp/<h> (O_EXCL), zeroed
 * header placeholder, payload appended while its CRC32C is computed, then the final header,
 * fdatasync, rename without replace into objects/, fsync of the destination directory shared
 * with the commits waiting at the same time (dirsync.c). Large payloads are never buffered in
 * memory; a small one (declared length up to HS_BLOB_SMALL_BYTES) is collected in memory and
 * written with its header in one pwrite at commit, so a 1 KiB PUT costs create, pwrite,
 * fdatasync, close, rename and its share of one directory fsync. The fan-out directories are
 * made only when the rename finds them missing.
 *
 * Why slots (tmp/0 .. tmp/3f, h = hash(id) % 64, made as ext4 "top directories"): a file's inode
 * is allocated in its directory's block group, and on a journal-less ext4 the allocator skips
 * every inode deleted in the last 60-300 s, reading its inode-table block to find out. With one
 * tmp/ directory every create scanned past all recent deletes of one group (overwrites delete
 * as many blobs as they create): ~1 ms of kernel CPU per PUT on a node with some history. The
 * slots sit in different block groups, which divides that scan (64 measured ~20% less kernel
 * CPU per PUT than 16); the rename keeps the inode.
 * Temp files in the blob's own fan-out directory would not spread anything: ids start with the
 * txn id's millisecond clock, so the blobs of weeks share one fan-out directory. Measured in
 * docs/benchmarks.md ("Profile findings"). */
#include "blob_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "hs/clock.h"
#include "hs/codec.h"
#include "hs/fault.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

struct hs_blob_writer {
    struct hs_blob_store *s;
    int fd; /* temp file, -1 once closed (and before commit for a small blob) */
    char id[HS_BLOB_ID_MAX + 1];
    char tmp_name[HS_BLOB_ID_MAX + 64]; /* in tmp/; "" while no temp file exists */
    uint8_t *small;                     /* small blob: header room + declared bytes, else NULL */
    bool published;                     /* renamed into objects/: nothing to remove */
    int64_t declared;                   /* bytes announced by begin, -1 = unknown */
    int64_t received;                   /* payload bytes written so far */
    uint32_t crc;                       /* CRC32C of those bytes */
    size_t header_bytes;                /* H: where the payload starts */
    enum hs_err failed;                 /* sticky error of a failed append, HS_OK if none */
    int64_t deadline_ms;                /* wall clock; 0 = none (set_deadline) */
};

/* pwrite of all n bytes, restarting after signals and short writes. errno set on failure. */
static bool pwrite_all(int fd, const void *data, size_t n, off_t off)
{
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return false;
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return true;
}

static enum hs_err check_reserve(struct hs_blob_store *s, const char *id, int64_t declared)
{
    struct statvfs vfs;
    if (fstatvfs(s->root_fd, &vfs) != 0)
        return hs_blob_io_error("statvfs", s->dir, errno);
    int64_t free_bytes = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    int64_t need = declared > 0 ? declared : 0;
    if (free_bytes - need < s->reserve_bytes) {
        HS_LOG_WARN("blob_reserve_reached",
                    "id='%s' free_bytes=%lld declared_bytes=%lld reserve_bytes=%lld", id,
                    (long long)free_bytes, (long long)declared, (long long)s->reserve_bytes);
        return HS_ENOSPC;
    }
    return HS_OK;
}

static enum hs_err create_temp(struct hs_blob_writer *w)
{
    /* pid + a per-store sequence makes names unique within and across processes; O_EXCL
     * makes sure, and a collision (a stale file from a reused pid) just takes the next one. */
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(w->tmp_name, sizeof w->tmp_name, "%x/%s.%ld.%llu.tmp",
                 (unsigned)(hs_blob_id_hash(w->id) % HS_BLOB_TMP_SLOTS), w->id, w->s->pid,
                 (unsigned long long)atomic_fetch_add(&w->s->seq, 1));
        w->fd = openat(w->s->tmp_fd, w->tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (w->fd >= 0)
            return HS_OK;
        if (errno != EEXIST)
            break;
    }
    enum hs_err err = hs_blob_io_error("create", w->tmp_name, errno);
    w->tmp_name[0] = '\0';
    return err;
}

enum hs_err hs_blob_write_begin(struct hs_blob_store *s, const char *id, int64_t declared_len,
                                struct hs_blob_writer **out)
{
    if (!hs_blob_id_valid(id) || declared_len < -1)
        return HS_EINVAL;
    if (s->max_blob_bytes > 0 && declared_len > s->max_blob_bytes)
        return HS_ETOOBIG;
    enum hs_err err = check_reserve(s, id, declared_len);
    if (err != HS_OK)
        return err;
    struct hs_blob_writer *w = hs_xcalloc(1, sizeof *w);
    w->s = s;
    w->fd = -1;
    memcpy(w->id, id, strlen(id) + 1);
    w->declared = declared_len;
    w->header_bytes = hs_blob_header_bytes(strlen(id));
    if (declared_len >= 0 && declared_len <= HS_BLOB_SMALL_BYTES) {
        /* The file is made at commit: a PUT whose body never completes touches no disk. */
        w->small = hs_xmalloc(w->header_bytes + (size_t)declared_len);
        *out = w;
        return HS_OK;
    }
    if ((err = create_temp(w)) != HS_OK) {
        free(w);
        return err;
    }
    /* A zeroed placeholder: until commit writes the real header the file has no magic, so a
     * half-written temp file can never pass for a blob. */
    uint8_t zero[HS_BLOB_HEADER_MAX_BYTES] = {0};
    if (!pwrite_all(w->fd, zero, w->header_bytes, 0)) {
        err = hs_blob_io_error("write", w->tmp_name, errno);
        hs_blob_write_abort(w);
        return err;
    }
    *out = w;
    return HS_OK;
}

enum hs_err hs_blob_write_append(struct hs_blob_writer *w, const void *data, size_t n)
{
    if (w->failed != HS_OK)
        return w->failed;
    if (n == 0)
        return HS_OK;
    int64_t limit = w->declared >= 0 ? w->declared : INT64_MAX - (int64_t)w->header_bytes;
    if (w->s->max_blob_bytes > 0)
        limit = HS_MIN(limit, w->s->max_blob_bytes);
    if (n > (uint64_t)(limit - w->received)) {
        w->failed = HS_ETOOBIG;
        return w->failed;
    }
    if (w->small) {
        memcpy(w->small + w->header_bytes + w->received, data, n);
    } else if (!pwrite_all(w->fd, data, n, (off_t)((int64_t)w->header_bytes + w->received))) {
        w->failed = hs_blob_io_error("write", w->tmp_name, errno);
        return w->failed;
    }
    w->crc = hs_crc32c(w->crc, data, n);
    w->received += (int64_t)n;
    return HS_OK;
}

/* Creates objects/d1 and objects/d1/d2 (called when a rename found them missing); a new directory
 * is only durable once its parent is fsynced, so do that too when asked. Fan-out dirs are never
 * removed. */
static enum hs_err make_fanout(struct hs_blob_store *s, const char *id)
{
    char rel[6];
    hs_blob_rel_dir(id, rel);
    rel[2] = '\0'; /* "d1" */
    if (mkdirat(s->objects_fd, rel, 0700) == 0) {
        if (s->fsync && fsync(s->objects_fd) != 0)
            return hs_blob_io_error("fsync_dir", HS_BLOB_OBJECTS_DIR, errno);
    } else if (errno != EEXIST) {
        return hs_blob_io_error("mkdir", rel, errno);
    }
    rel[2] = '/'; /* "d1/d2" */
    if (mkdirat(s->objects_fd, rel, 0700) == 0) {
        char d1[3] = {rel[0], rel[1], '\0'};
        if (s->fsync)
            return hs_blob_fsync_dir(s->objects_fd, d1);
    } else if (errno != EEXIST) {
        return hs_blob_io_error("mkdir", rel, errno);
    }
    return HS_OK;
}

/* Moves the temp file to its final name unless one exists; rename(2) would silently replace
 * an existing blob, which immutability forbids. Falls back to link(2) on file systems without
 * RENAME_NOREPLACE. Caller holds the id's stripe lock. */
static int rename_noreplace(struct hs_blob_writer *w, const char *rel)
{
    if (renameat2(w->s->tmp_fd, w->tmp_name, w->s->objects_fd, rel, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    return linkat(w->s->tmp_fd, w->tmp_name, w->s->objects_fd, rel, 0);
}

/* An existing blob of the same id: same length and CRC is a retry (HS_OK), else HS_EEXIST.
 * A corrupt one is quarantined and *retry set, so the caller publishes ours instead. */
static enum hs_err compare_existing(struct hs_blob_writer *w, bool *retry)
{
    int fd;
    enum hs_err err = hs_blob_open_id(w->s, w->id, &fd);
    if (err == HS_ENOENT) {
        *retry = true; /* gone since rename failed: cannot happen under the lock, but is benign */
        return HS_OK;
    }
    if (err != HS_OK)
        return err;
    struct hs_blob_header h;
    const char *problem = NULL;
    err = hs_blob_read_header(fd, w->id, &h, NULL, &problem);
    if (err == HS_ECORRUPT) {
        hs_blob_quarantine_locked(w->s, w->id, fd, problem);
        *retry = true;
        err = HS_OK;
    } else if (err == HS_OK && (h.payload_bytes != w->received || h.payload_crc != w->crc)) {
        err = HS_EEXIST;
    }
    close(fd);
    return err;
}

static enum hs_err publish(struct hs_blob_writer *w)
{
    char rel[HS_BLOB_REL_MAX];
    hs_blob_rel_path(w->id, rel);
    enum hs_err err = HS_OK;
    pthread_mutex_t *m = hs_blob_stripe(w->s, w->id);
    pthread_mutex_lock(m);
    /* Last moment before the blob becomes visible: the fsync above may have taken long, or the
     * whole process may have been stopped since the request arrived. */
    int64_t now_ms = hs_clock_wall_ms();
    if (w->deadline_ms > 0 && now_ms > w->deadline_ms) {
        pthread_mutex_unlock(m);
        HS_LOG_WARN("blob_write_late", "id='%s' late_ms=%lld", w->id,
                    (long long)(now_ms - w->deadline_ms));
        return HS_ETIMEDOUT;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        if (rename_noreplace(w, rel) == 0) {
            w->published = true;
            atomic_fetch_add(&w->s->blobs, 1);
            atomic_fetch_add(&w->s->payload_bytes, w->received);
            err = HS_OK;
            break;
        }
        if (errno == ENOENT && attempt == 0) {
            /* The fan-out directory is missing (the temp file cannot be: it is ours). */
            if ((err = make_fanout(w->s, w->id)) != HS_OK)
                break;
            continue;
        }
        if (errno != EEXIST) {
            err = hs_blob_io_error("rename", rel, errno);
            break;
        }
        bool retry = false;
        err = compare_existing(w, &retry);
        if (!retry)
            break;
        err = HS_EIO; /* if the retry also finds a corrupt blob, give up */
    }
    pthread_mutex_unlock(m);
    if (err == HS_OK && w->s->fsync) {
        /* Also on an idempotent retry: the first writer may not have fsynced yet. */
        hs_blob_rel_dir(w->id, rel);
        err = hs_blob_dirsync(w->s, rel);
    }
    return err;
}

static enum hs_err finish_file(struct hs_blob_writer *w)
{
    struct hs_blob_header h = {
        .payload_bytes = w->received,
        .payload_crc = w->crc,
        .created_ms = hs_clock_wall_ms(),
    };
    memcpy(h.id, w->id, sizeof h.id);
    if (w->small) {
        enum hs_err err = create_temp(w);
        if (err != HS_OK)
            return err;
        hs_blob_header_encode(&h, w->small);
        if (!pwrite_all(w->fd, w->small, w->header_bytes + (size_t)w->received, 0))
            return hs_blob_io_error("write", w->tmp_name, errno);
    } else {
        uint8_t buf[HS_BLOB_HEADER_MAX_BYTES];
        size_t n = hs_blob_header_encode(&h, buf);
        if (!pwrite_all(w->fd, buf, n, 0))
            return hs_blob_io_error("write", w->tmp_name, errno);
    }
    /* Written, not yet durable: a crash here must leave nothing that reads as a blob (the temp
     * file is not under objects/ and open removes it). */
    hs_fault("blob.before_sync");
    /* fdatasync writes the data and the metadata needed to read it back (size, extents); the
     * inode's other changes (timestamps) need not be durable. */
    if (w->s->fsync && fdatasync(w->fd) != 0)
        return hs_blob_io_error("fsync", w->tmp_name, errno);
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0)
        return hs_blob_io_error("close", w->tmp_name, errno);
    return HS_OK;
}

enum hs_err hs_blob_write_commit(struct hs_blob_writer *w, bool have_crc, uint32_t expected_crc)
{
    enum hs_err err = w->failed;
    if (err != HS_OK)
        goto out;
    if (w->declared >= 0 && w->received != w->declared) {
        HS_LOG_WARN("blob_length_mismatch", "id='%s' declared_bytes=%lld received_bytes=%lld",
                    w->id, (long long)w->declared, (long long)w->received);
        err = HS_EINVAL;
        goto out;
    }
    if (have_crc && w->crc != expected_crc) {
        HS_LOG_WARN("blob_crc_mismatch_on_write", "id='%s' expected_crc=%08x actual_crc=%08x",
                    w->id, expected_crc, w->crc);
        err = HS_ECORRUPT;
        goto out;
    }
    if ((err = finish_file(w)) != HS_OK)
        goto out;
    err = publish(w);
out:
    /* Whatever happened, the temp name goes: renamed away, or never published. */
    hs_blob_write_abort(w);
    return err;
}

void hs_blob_write_set_deadline(struct hs_blob_writer *w, int64_t deadline_ms)
{
    w->deadline_ms = deadline_ms > 0 ? deadline_ms : 0;
}

void hs_blob_write_abort(struct hs_blob_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (!w->published && w->tmp_name[0] && unlinkat(w->s->tmp_fd, w->tmp_name, 0) != 0 &&
        errno != ENOENT)
        hs_blob_io_error("unlink", w->tmp_name, errno);
    free(w->small);
    free(w);
}
