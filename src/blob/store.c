/* store.c - opening a blob store (directories, LOCK, crash clean-up, the counting scan),
 * counters, quarantine and the small file-system helpers the other blob files share.
 * Writing, reading and listing live in write.c, read.c and list.c. */
#include "blob_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

enum hs_err hs_blob_io_error(const char *op, const char *path, int errnum)
{
    char text[128];
    HS_LOG_ERROR("blob_io_failed", "op=%s path='%s' errno=%d error='%s'", op, path, errnum,
                 hs_errno_text(errnum, text, sizeof text));
    return (errnum == ENOSPC || errnum == EDQUOT) ? HS_ENOSPC : HS_EIO;
}

uint32_t hs_blob_id_hash(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a: cheap and good enough to spread ids */
    for (const char *p = id; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

pthread_mutex_t *hs_blob_stripe(struct hs_blob_store *s, const char *id)
{
    return &s->stripes[hs_blob_id_hash(id) % HS_BLOB_STRIPES];
}

enum hs_err hs_blob_fsync_dir(int dirfd, const char *rel)
{
    int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return hs_blob_io_error("open_dir", rel, errno);
    enum hs_err err = HS_OK;
    if (fsync(fd) != 0)
        err = hs_blob_io_error("fsync_dir", rel, errno);
    close(fd);
    return err;
}

DIR *hs_blob_opendir(int dirfd, const char *rel)
{
    /* A fresh open file description each time: a dup() would share the directory offset with
     * every other thread reading the same directory. */
    int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return d;
}

enum hs_err hs_blob_open_id(struct hs_blob_store *s, const char *id, int *fd_out)
{
    char rel[HS_BLOB_REL_MAX];
    hs_blob_rel_path(id, rel);
    int fd = openat(s->objects_fd, rel, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? HS_ENOENT : hs_blob_io_error("open", rel, errno);
    *fd_out = fd;
    return HS_OK;
}

int64_t hs_blob_counted_bytes(int fd, const char *id)
{
    /* A valid header names the length the file was counted with, even when the file has been
     * truncated since: decode it without the size check. */
    uint8_t buf[HS_BLOB_HEADER_MAX_BYTES];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    struct hs_blob_header h;
    if (n > 0 && hs_blob_header_decode(buf, (size_t)n, &h, NULL) == HS_OK)
        return h.payload_bytes;
    struct stat st;
    int64_t file_bytes = fstat(fd, &st) == 0 ? (int64_t)st.st_size : 0;
    /* The header is unreadable: a flipped bit leaves the size intact, so this is what the
     * file was counted with; only a file both truncated and damaged makes it inexact. */
    int64_t guess = file_bytes - (int64_t)hs_blob_header_bytes(strlen(id));
    return guess > 0 ? guess : 0;
}

void hs_blob_quarantine_locked(struct hs_blob_store *s, const char *id, int fd, const char *problem)
{
    char rel[HS_BLOB_REL_MAX];
    hs_blob_rel_path(id, rel);
    struct stat now, seen;
    if (fstatat(s->objects_fd, rel, &now, 0) != 0)
        return; /* another thread quarantined or deleted it already */
    /* The file we found corrupt may have been quarantined and replaced by a good blob since;
     * only move the very file (inode) we checked. */
    if (fd >= 0 &&
        (fstat(fd, &seen) != 0 || seen.st_dev != now.st_dev || seen.st_ino != now.st_ino))
        return;
    int cfd = fd >= 0 ? fd : openat(s->objects_fd, rel, O_RDONLY | O_CLOEXEC);
    int64_t bytes = cfd >= 0 ? hs_blob_counted_bytes(cfd, id) : 0;
    if (cfd >= 0 && cfd != fd)
        close(cfd);
    char name[HS_BLOB_ID_MAX + 64];
    uint64_t seq = atomic_fetch_add(&s->seq, 1);
    snprintf(name, sizeof name, "%s.%lld.%llu", id, (long long)hs_clock_wall_ms(),
             (unsigned long long)seq);
    if (renameat(s->objects_fd, rel, s->quarantine_fd, name) != 0) {
        char text[128];
        int e = errno;
        HS_LOG_ERROR("blob_quarantine_failed", "id='%s' problem='%s' errno=%d error='%s'", id,
                     problem, e, hs_errno_text(e, text, sizeof text));
        return;
    }
    atomic_fetch_sub(&s->blobs, 1);
    atomic_fetch_sub(&s->payload_bytes, bytes);
    atomic_fetch_add(&s->quarantined, 1);
    HS_LOG_ERROR("blob_quarantined", "id='%s' problem='%s' moved_to='%s/%s/%s'", id, problem,
                 s->dir, HS_BLOB_QUAR_DIR, name);
}

void hs_blob_quarantine(struct hs_blob_store *s, const char *id, int fd, const char *problem)
{
    pthread_mutex_t *m = hs_blob_stripe(s, id);
    pthread_mutex_lock(m);
    hs_blob_quarantine_locked(s, id, fd, problem);
    pthread_mutex_unlock(m);
}

/* mkdir -p for the data directory itself (the operator may point us at a fresh path). */
static enum hs_err make_dirs(const char *path)
{
    char *p = hs_xstrdup(path);
    enum hs_err err = HS_OK;
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0')
            continue;
        char saved = *c;
        *c = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            err = hs_blob_io_error("mkdir", p, errno);
            break;
        }
        *c = saved;
        if (saved == '\0')
            break;
    }
    free(p);
    return err;
}

static enum hs_err open_subdir(int root_fd, const char *name, int *fd_out)
{
    if (mkdirat(root_fd, name, 0700) != 0 && errno != EEXIST)
        return hs_blob_io_error("mkdir", name, errno);
    int fd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return hs_blob_io_error("open_dir", name, errno);
    *fd_out = fd;
    return HS_OK;
}

static enum hs_err lock_dir(struct hs_blob_store *s)
{
    s->lock_fd = openat(s->root_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0)
        return hs_blob_io_error("open", "LOCK", errno);
    /* Two stores on one directory would delete each other's temp files at open and count
     * wrong: refuse the second one. */
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        HS_LOG_ERROR("blob_dir_locked", "dir='%s' errno=%d", s->dir, errno);
        return HS_EIO;
    }
    return HS_OK;
}

/* Removes every file in dirfd/rel (a write that never committed: its writer died with the
 * process) and counts them; a slot directory met at the top level is emptied too. */
static void clean_tmp_dir(int parent_fd, const char *rel, bool top, long *removed)
{
    DIR *d = hs_blob_opendir(parent_fd, rel);
    if (!d) {
        hs_blob_io_error("opendir", rel, errno);
        return;
    }
    struct dirent *e;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): one DIR stream per thread */
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            (*removed)++;
        else if (top && (errno == EISDIR || errno == EPERM))
            clean_tmp_dir(dirfd(d), e->d_name, false, removed);
        else
            hs_blob_io_error("unlink", e->d_name, errno);
    }
    closedir(d);
}

/* Every file under tmp/ is a write that never committed. Older layouts kept temp files in
 * tmp/ itself; now they live in the slot directories tmp/0 .. tmp/3f (made here). */
static enum hs_err clean_tmp(struct hs_blob_store *s)
{
    long removed = 0;
    clean_tmp_dir(s->tmp_fd, ".", true, &removed);
    if (removed > 0)
        HS_LOG_INFO("blob_tmp_cleaned", "dir='%s' removed=%ld", s->dir, removed);
    /* ext4 places a subdirectory of a "top directory" in a lightly used block group instead
     * of next to its parent (the Orlov allocator), and a file's inode next to its directory:
     * so the slots spread new inodes over block groups. Best effort: other file systems may
     * not know the flag, and nothing but speed depends on it. */
    int flags = 0;
    if (ioctl(s->tmp_fd, FS_IOC_GETFLAGS, &flags) == 0 && !(flags & FS_TOPDIR_FL)) {
        flags |= FS_TOPDIR_FL;
        if (ioctl(s->tmp_fd, FS_IOC_SETFLAGS, &flags) != 0)
            HS_LOG_DEBUG("blob_tmp_topdir_unsupported", "dir='%s' errno=%d", s->dir, errno);
    }
    for (unsigned i = 0; i < HS_BLOB_TMP_SLOTS; i++) {
        char name[8];
        snprintf(name, sizeof name, "%x", i);
        if (mkdirat(s->tmp_fd, name, 0700) != 0 && errno != EEXIST)
            return hs_blob_io_error("mkdir", name, errno);
    }
    return HS_OK;
}

static void count_leaf(struct hs_blob_store *s, int leaf_fd, const char *d1, const char *d2)
{
    DIR *d = hs_blob_opendir(leaf_fd, ".");
    if (!d) {
        hs_blob_io_error("opendir", d2, errno);
        return;
    }
    struct dirent *e;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): one DIR stream per thread */
    while ((e = readdir(d)) != NULL) {
        char f1[3], f2[3];
        if (e->d_name[0] == '.')
            continue;
        if (!hs_blob_id_valid(e->d_name) ||
            (hs_blob_fanout(e->d_name, f1, f2), strcmp(f1, d1) != 0 || strcmp(f2, d2) != 0)) {
            HS_LOG_WARN("blob_stray_file", "dir='%s' path='%s/%s/%s'", s->dir, d1, d2, e->d_name);
            continue;
        }
        int bfd = openat(leaf_fd, e->d_name, O_RDONLY | O_CLOEXEC);
        if (bfd < 0) {
            hs_blob_io_error("open", e->d_name, errno);
            continue;
        }
        struct hs_blob_header h;
        const char *problem = NULL;
        enum hs_err err = hs_blob_read_header(bfd, e->d_name, &h, NULL, &problem);
        /* Count first, so that quarantine uncounts it like any other corrupt blob. */
        atomic_fetch_add(&s->blobs, 1);
        atomic_fetch_add(&s->payload_bytes,
                         err == HS_OK ? h.payload_bytes : hs_blob_counted_bytes(bfd, e->d_name));
        if (err == HS_ECORRUPT)
            hs_blob_quarantine(s, e->d_name, bfd, problem);
        close(bfd);
    }
    closedir(d);
}

/* Counts every blob under objects/d1/d2/ (unordered: the scan only counts). */
static void count_all(struct hs_blob_store *s)
{
    DIR *top = hs_blob_opendir(s->objects_fd, ".");
    if (!top) {
        hs_blob_io_error("opendir", HS_BLOB_OBJECTS_DIR, errno);
        return;
    }
    struct dirent *e1;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): one DIR stream per thread */
    while ((e1 = readdir(top)) != NULL) {
        DIR *mid = hs_blob_fanout_name_valid(e1->d_name)
                       ? hs_blob_opendir(s->objects_fd, e1->d_name)
                       : NULL;
        if (!mid)
            continue; /* not a fan-out directory */
        struct dirent *e2;
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): one DIR stream per thread */
        while ((e2 = readdir(mid)) != NULL) {
            if (!hs_blob_fanout_name_valid(e2->d_name))
                continue;
            char rel[6] = {e1->d_name[0], e1->d_name[1], '/', e2->d_name[0], e2->d_name[1], '\0'};
            int leaf_fd = openat(s->objects_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (leaf_fd < 0)
                continue;
            count_leaf(s, leaf_fd, e1->d_name, e2->d_name);
            close(leaf_fd);
        }
        closedir(mid);
    }
    closedir(top);
}

void hs_blob_store_close(struct hs_blob_store *s)
{
    if (!s)
        return;
    hs_blob_vol_close(s); /* before LOCK goes */
    int fds[] = {s->objects_fd, s->tmp_fd, s->quarantine_fd, s->lock_fd, s->root_fd};
    for (size_t i = 0; i < HS_ARRAY_LEN(fds); i++)
        if (fds[i] >= 0)
            close(fds[i]); /* closing lock_fd drops the flock */
    for (int i = 0; i < HS_BLOB_STRIPES; i++)
        pthread_mutex_destroy(&s->stripes[i]);
    hs_blob_dirsync_release(s);
    free(s->dir);
    free(s);
}

enum hs_err hs_blob_store_open(const struct hs_blob_store_opts *opts, struct hs_blob_store **out)
{
    if (!opts || !opts->dir || !opts->dir[0] || opts->reserve_bytes < 0 ||
        opts->max_blob_bytes < 0 || opts->volume_max_bytes < 0)
        return HS_EINVAL;
    struct hs_blob_store *s = hs_xcalloc(1, sizeof *s);
    s->dir = hs_xstrdup(opts->dir);
    s->root_fd = s->objects_fd = s->tmp_fd = s->quarantine_fd = s->lock_fd = -1;
    s->fsync = opts->fsync;
    s->reserve_bytes = opts->reserve_bytes;
    s->max_blob_bytes = opts->max_blob_bytes;
    for (int i = 0; i < HS_BLOB_STRIPES; i++)
        pthread_mutex_init(&s->stripes[i], NULL);
    hs_blob_dirsync_init(s);
    s->pid = (long)getpid();
    int64_t t0 = hs_clock_mono_ms();
    enum hs_err err = make_dirs(s->dir);
    if (err != HS_OK)
        goto out;
    s->root_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->root_fd < 0) {
        err = hs_blob_io_error("open_dir", s->dir, errno);
        goto out;
    }
    if ((err = lock_dir(s)) != HS_OK ||
        (err = open_subdir(s->root_fd, HS_BLOB_OBJECTS_DIR, &s->objects_fd)) != HS_OK ||
        (err = open_subdir(s->root_fd, HS_BLOB_TMP_DIR, &s->tmp_fd)) != HS_OK ||
        (err = open_subdir(s->root_fd, HS_BLOB_QUAR_DIR, &s->quarantine_fd)) != HS_OK ||
        (err = clean_tmp(s)) != HS_OK)
        goto out;
    count_all(s);
    if ((err = hs_blob_vol_open(s, opts->small_volume, opts->volume_max_bytes)) != HS_OK)
        goto out;
    HS_LOG_INFO("blob_store_opened",
                "dir='%s' blobs=%lld payload_bytes=%lld fsync=%d small_volume=%d scan_ms=%lld",
                s->dir, (long long)atomic_load(&s->blobs),
                (long long)atomic_load(&s->payload_bytes), s->fsync, opts->small_volume,
                (long long)(hs_clock_mono_ms() - t0));
    *out = s;
    return HS_OK;
out:
    hs_blob_store_close(s);
    return err;
}

void hs_blob_store_stats(struct hs_blob_store *s, struct hs_blob_stats *out)
{
    struct hs_blob_stats st = {
        .blobs = atomic_load(&s->blobs),
        .payload_bytes = atomic_load(&s->payload_bytes),
        .quarantined = atomic_load(&s->quarantined),
    };
    hs_blob_vol_stats(s, &st);
    struct statvfs vfs;
    if (fstatvfs(s->root_fd, &vfs) == 0) {
        st.free_bytes = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
        st.total_bytes = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
    }
    *out = st;
}
