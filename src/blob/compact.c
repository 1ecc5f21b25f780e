/* compact.c - compaction of the volume store (rules in hs/blob.h): the live needles of a sealed
 * volume, and the tombstones an older volume may still need, are copied forward through the
 * group commit; once the copies are durable their index entries switch to them; once no read
 * uses the old volume any more its file is removed. Paced to a byte rate; one at a time.
 *
 * Why a crash at any point leaves each acknowledged live blob readable from exactly one index
 * entry: the rebuild reads volumes in ascending number and each in offset order, and a later
 * needle of an id replaces an earlier one. Copies always land in the current volume, whose
 * number is above the source's, so before the unlink a restart finds two identical needles and
 * keeps the copy; after it only the copy. The old file is unlinked only after every copy's batch
 * returned from its synchronous write, and the unlink is made durable (directory fsync) before
 * the next volume is looked at, so a tombstone dropped later can never meet a resurrected put.
 * Concurrency: a copy is appended under mu only while the index still names the needle being
 * copied, so a DELETE either came first (no copy) or appends its tombstone after the copy (the
 * rebuild then deletes it too); the switch after the write again checks that the entry still
 * names the old place. Readers keep using the old place until the switch and hold a reference
 * to its volume until their last pread, which the removal waits for. */
#include "volume_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "hs/clock.h"
#include "hs/fault.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define COMPACT_CHUNK_BYTES (256u << 10) /* copies queued before waiting for their write */
#define COMPACT_SLEEP_MS    100          /* longest sleep between checks of opts->stop */
#define COMPACT_SPARE_BYTES (1u << 20)   /* free space wanted beyond the copies and reserve */

struct move {
    char *id;
    uint32_t vol; /* where the copy is */
    uint64_t off;
    uint64_t old_off; /* where the needle was in the source volume */
};

struct compaction {
    struct hs_blob_store *s;
    struct hs_blob_volumes *v;
    const struct hs_blob_compact_opts *o;
    uint32_t src;
    bool oldest; /* no volume numbered below src exists: its tombstones protect nothing */
    struct move *moves;
    size_t n, cap;
    uint64_t last_seq;      /* batch of the last copy appended (0: none pending) */
    uint64_t pending_bytes; /* copied since the last flush */
    uint64_t moved_bytes;   /* needle bytes copied from src */
    int64_t moved_needles;
    bool switched_any; /* some entry switched already (the fault point below) */
    int64_t start_ms;  /* monotonic, for pacing */
    uint64_t charged;  /* bytes read plus written, for pacing */
};

static bool stopped(const struct compaction *c)
{
    return c->o->stop && atomic_load(c->o->stop);
}

/* Sleeps until the bytes charged would have taken that long at the rate (in short slices, so
 * that a stop is seen soon). */
static void pace(struct compaction *c)
{
    if (c->o->rate_bytes_s <= 0)
        return;
    for (;;) {
        int64_t due_ms = (int64_t)((double)c->charged * 1000.0 / (double)c->o->rate_bytes_s);
        int64_t wait_ms = due_ms - (hs_clock_mono_ms() - c->start_ms);
        if (wait_ms <= 0 || stopped(c))
            return;
        wait_ms = HS_MIN(wait_ms, (int64_t)COMPACT_SLEEP_MS);
        struct timespec ts = {.tv_sec = 0, .tv_nsec = wait_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Waits for the batches holding the pending copies, then points each entry that still names
 * its old place at its copy. HS_EIO when a batch failed (nothing switched). */
static enum hs_err flush(struct compaction *c)
{
    struct hs_blob_volumes *v = c->v;
    enum hs_err err = HS_OK;
    pthread_mutex_lock(&v->mu);
    if (c->last_seq != 0)
        err = hs_blob_vol_wait(v, c->last_seq);
    for (size_t i = 0; i < c->n; i++) {
        struct move *m = &c->moves[i];
        struct vol_entry *e = *hs_blob_vol_slot(v, m->id);
        if (err == HS_OK && e && e->vol == c->src && e->off == m->old_off) {
            uint64_t b = hs_blob_vol_entry_bytes(e);
            v->files[c->src].live -= b;
            v->files[m->vol].live += b;
            e->vol = m->vol;
            e->off = m->off;
            e->batch = c->last_seq;
            c->switched_any = true;
        }
        free(m->id);
    }
    pthread_mutex_unlock(&v->mu);
    c->n = 0;
    c->last_seq = 0;
    c->pending_bytes = 0;
    return err;
}

/* Copies the needle nd (found valid at off of the source) forward when it must survive. */
static enum hs_err copy_needle(struct compaction *c, uint64_t off, struct hs_blob_needle *nd,
                               const uint8_t *payload)
{
    struct hs_blob_volumes *v = c->v;
    enum hs_err err = HS_OK;
    pthread_mutex_lock(&v->mu);
    struct vol_entry *e = *hs_blob_vol_slot(v, nd->id);
    bool keep = nd->tombstone ? !c->oldest && !e
                              : e && e->vol == c->src && e->off == off &&
                                    e->len == nd->payload_bytes && e->crc == nd->payload_crc;
    /* A tombstone dropped because its id was put again must not go before that put is
     * durable: the source is unlinked only after this batch, too, has been written. */
    if (nd->tombstone && e && e->batch > c->last_seq)
        c->last_seq = e->batch;
    uint32_t vol = 0;
    uint64_t at = 0;
    if (keep && v->failed_seq != 0)
        err = HS_EIO;
    else if (keep)
        err = hs_blob_vol_append(v, nd, nd->tombstone ? NULL : payload, &vol, &at);
    if (keep && err == HS_OK) {
        c->last_seq = v->open_seq;
        c->pending_bytes += nd->needle_bytes;
        c->moved_bytes += nd->needle_bytes;
        c->moved_needles++;
        c->charged += nd->needle_bytes;
        if (!nd->tombstone) {
            if (c->n == c->cap) {
                c->cap = HS_MAX((size_t)64, c->cap * 2);
                c->moves = hs_xrealloc(c->moves, c->cap * sizeof *c->moves);
            }
            c->moves[c->n++] =
                (struct move){.id = hs_xstrdup(nd->id), .vol = vol, .off = at, .old_off = off};
        }
    }
    pthread_mutex_unlock(&v->mu);
    return err;
}

/* Copies what must survive of the source volume. HS_ETIMEDOUT when stopped. */
static enum hs_err copy_all(struct compaction *c, int fd, uint64_t size)
{
    struct hs_blob_vol_scan sc = {.fd = fd, .size = size, .buf = hs_xmalloc(HS_BLOB_VOL_SCAN_BUF)};
    enum hs_err err = HS_OK;
    uint64_t off = 0;
    while (off < size && err == HS_OK) {
        if (stopped(c)) {
            err = HS_ETIMEDOUT;
            break;
        }
        struct hs_blob_needle nd;
        const uint8_t *payload = NULL;
        const char *problem = NULL;
        if (!hs_blob_vol_needle_at(&sc, off, &nd, &payload, &problem)) {
            /* Damage: whatever the index still names in it is found below (live bytes left)
             * and keeps the volume; a read of it quarantines it as usual. */
            off += 8;
            c->charged += 8;
            continue;
        }
        err = copy_needle(c, off, &nd, payload);
        off += nd.needle_bytes;
        c->charged += nd.needle_bytes;
        if (err == HS_OK && c->pending_bytes >= COMPACT_CHUNK_BYTES) {
            err = flush(c);
            if (err == HS_OK && c->switched_any)
                hs_fault("blob.compact_copying"); /* some switched, some not copied yet */
        }
        pace(c);
    }
    enum hs_err ferr = flush(c);
    free(sc.buf);
    return err != HS_OK ? err : ferr;
}

/* Removes the source once no entry names it and no read uses it. */
static enum hs_err remove_source(struct compaction *c)
{
    struct hs_blob_volumes *v = c->v;
    char name[32];
    hs_blob_vol_name(c->src, name);
    pthread_mutex_lock(&v->mu);
    if (v->files[c->src].live != 0) {
        uint64_t live = v->files[c->src].live;
        pthread_mutex_unlock(&v->mu);
        HS_LOG_ERROR("blob_compact_incomplete",
                     "volume='%s' live_bytes=%llu: needles the index names could not be read "
                     "there; the volume is kept",
                     name, (unsigned long long)live);
        return HS_ECORRUPT;
    }
    while (v->files[c->src].readers > 0)
        pthread_cond_wait(&v->ref_cv, &v->mu);
    int fd = v->files[c->src].fd;
    uint64_t bytes = v->files[c->src].bytes;
    v->files[c->src] = (struct vol_file){.fd = -1};
    v->compacted_volumes++;
    v->compacted_moved_bytes += (int64_t)c->moved_bytes;
    v->compacted_removed_bytes += (int64_t)bytes;
    pthread_mutex_unlock(&v->mu);
    hs_fault("blob.compact_before_unlink"); /* every copy durable and switched */
    enum hs_err err = HS_OK;
    if (unlinkat(v->dir_fd, name, 0) != 0)
        err = hs_blob_io_error("unlink", name, errno);
    else if (v->fsync && fsync(v->dir_fd) != 0)
        err = hs_blob_io_error("fsync_dir", HS_BLOB_VOL_DIR, errno);
    hs_fault("blob.compact_after_unlink");
    close(fd);
    HS_LOG_INFO("blob_volume_compacted",
                "volume='%s' bytes=%llu moved_needles=%lld moved_bytes=%llu ms=%lld", name,
                (unsigned long long)bytes, (long long)c->moved_needles,
                (unsigned long long)c->moved_bytes, (long long)(hs_clock_mono_ms() - c->start_ms));
    return err;
}

static bool enough_space(struct compaction *c)
{
    struct statvfs vfs;
    if (fstatvfs(c->v->dir_fd, &vfs) != 0)
        return false;
    int64_t avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    pthread_mutex_lock(&c->v->mu);
    int64_t need = (int64_t)(c->v->files[c->src].live + c->v->files[c->src].tomb);
    pthread_mutex_unlock(&c->v->mu);
    return avail - c->s->reserve_bytes >= need + (int64_t)COMPACT_SPARE_BYTES;
}

static enum hs_err compact_one(struct compaction *c)
{
    struct hs_blob_volumes *v = c->v;
    if (!enough_space(c)) {
        HS_LOG_WARN("blob_compact_no_space", "volume=%u: too little free space for the copies",
                    c->src);
        return HS_ENOSPC;
    }
    pthread_mutex_lock(&v->mu);
    int fd = v->files[c->src].fd;
    uint64_t size = v->files[c->src].bytes;
    c->oldest = true;
    for (uint32_t i = 1; i < c->src && c->oldest; i++)
        c->oldest = v->files[i].fd < 0;
    pthread_mutex_unlock(&v->mu);
    enum hs_err err = copy_all(c, fd, size);
    return err == HS_OK ? remove_source(c) : err;
}

/* Bytes compaction of volume n would free (mu held): everything but its live needles and, unless
 * it is the oldest volume, its tombstones. */
static uint64_t reclaimable(const struct hs_blob_volumes *v, uint32_t n, bool oldest)
{
    const struct vol_file *f = &v->files[n];
    uint64_t keep = f->live + (oldest ? 0 : f->tomb);
    return f->bytes > keep ? f->bytes - keep : 0;
}

/* The lowest sealed volume above after and below limit that is due (mu held); 0: none. */
static uint32_t next_due(const struct hs_blob_volumes *v, uint32_t after, uint32_t limit,
                         int min_dead_percent)
{
    bool oldest = true;
    for (uint32_t n = 1; n < limit && n < v->nfiles; n++) {
        const struct vol_file *f = &v->files[n];
        if (f->fd < 0)
            continue;
        uint64_t r = reclaimable(v, n, oldest);
        oldest = false;
        if (n <= after)
            continue;
        if (f->bytes == 0 || (r > 0 && r * 100 >= (uint64_t)min_dead_percent * f->bytes))
            return n;
    }
    return 0;
}

enum hs_err hs_blob_compact(struct hs_blob_store *s, const struct hs_blob_compact_opts *opts,
                            struct hs_blob_compact_result *out)
{
    struct hs_blob_compact_result res = {0};
    struct hs_blob_volumes *v = s->vols;
    if (!opts || opts->min_dead_percent < 0 || opts->min_dead_percent > 100 ||
        opts->rate_bytes_s < 0)
        return HS_EINVAL;
    if (!v) {
        if (out)
            *out = res;
        return HS_OK;
    }
    enum hs_err err = HS_OK;
    pthread_mutex_lock(&v->compact_mu);
    pthread_mutex_lock(&v->mu);
    uint32_t limit = v->cur; /* copies may start new volumes: leave those alone */
    pthread_mutex_unlock(&v->mu);
    for (uint32_t after = 0;;) {
        pthread_mutex_lock(&v->mu);
        uint32_t n = next_due(v, after, limit, opts->min_dead_percent);
        pthread_mutex_unlock(&v->mu);
        if (n == 0)
            break;
        after = n;
        struct compaction c = {.s = s, .v = v, .o = opts, .src = n, .start_ms = hs_clock_mono_ms()};
        err = compact_one(&c);
        free(c.moves);
        if (err == HS_OK) {
            res.volumes++;
            res.moved_needles += c.moved_needles;
            res.moved_bytes += (int64_t)c.moved_bytes;
        }
        if (err == HS_ENOSPC || err == HS_ECORRUPT) {
            err = HS_OK; /* this volume stays; try the others */
            continue;
        }
        if (err != HS_OK)
            break;
    }
    pthread_mutex_unlock(&v->compact_mu);
    if (out)
        *out = res;
    return err;
}

void hs_blob_vol_stats(struct hs_blob_store *s, struct hs_blob_stats *out)
{
    struct hs_blob_volumes *v = s->vols;
    if (!v)
        return;
    pthread_mutex_lock(&v->mu);
    bool oldest = true;
    for (uint32_t n = 1; n < v->nfiles; n++) {
        const struct vol_file *f = &v->files[n];
        if (f->fd < 0)
            continue;
        out->volume_files++;
        out->volume_bytes += (int64_t)f->bytes;
        out->volume_live_bytes += (int64_t)f->live;
        if (n != v->cur)
            out->volume_reclaimable_bytes += (int64_t)reclaimable(v, n, oldest);
        oldest = false;
    }
    out->compacted_volumes = v->compacted_volumes;
    out->compacted_reclaimed_bytes = v->compacted_removed_bytes - v->compacted_moved_bytes;
    pthread_mutex_unlock(&v->mu);
}
