/* list.c - paging through blob ids in order. The fan-out directories are prefixes of the ids
 * (see hs/blob.h), so walking them in sorted order visits ids in sorted order; only a leaf
 * directory's entries come unsorted, and of those we keep just the smallest limit + 1 above
 * the cursor. Memory is O(limit) and never O(blobs). */
#include "blob_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

/* 19 characters may appear in a fan-out name ([0-9a-f.+-]), so at most 19 * 19 names. */
#define FANOUT_NAMES_MAX ((size_t)19 * 19)

struct fanout_names {
    size_t n;
    char names[FANOUT_NAMES_MAX][3];
};

/* The smallest `cap` ids seen so far, sorted ascending; each a heap string. */
struct page {
    char **ids;
    size_t n, cap;
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Sorted fan-out subdirectory names of dirfd/rel. HS_EIO (logged) when unreadable. */
static enum hs_err read_fanout(int dirfd, const char *rel, struct fanout_names *out)
{
    DIR *d = hs_blob_opendir(dirfd, rel);
    if (!d)
        return errno == ENOENT ? HS_ENOENT : hs_blob_io_error("opendir", rel, errno);
    out->n = 0;
    struct dirent *e;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): one DIR stream per thread */
    while ((e = readdir(d)) != NULL && out->n < FANOUT_NAMES_MAX) {
        if (hs_blob_fanout_name_valid(e->d_name))
            memcpy(out->names[out->n++], e->d_name, 3);
    }
    closedir(d);
    qsort(out->names, out->n, sizeof out->names[0], cmp_name);
    return HS_OK;
}

static void page_offer(struct page *p, const char *id)
{
    if (p->cap == 0)
        return;
    if (p->n == p->cap && strcmp(id, p->ids[p->n - 1]) >= 0)
        return;
    size_t lo = 0, hi = p->n; /* first index whose id is greater than id */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(p->ids[mid], id) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (p->n == p->cap)
        free(p->ids[--p->n]);
    memmove(p->ids + lo + 1, p->ids + lo, (p->n - lo) * sizeof p->ids[0]);
    p->ids[lo] = hs_xstrdup(id);
    p->n++;
}

/* Offers every blob id of leaf d1/d2 that sorts after `after` (NULL: all). */
static void scan_leaf(struct hs_blob_store *s, const char *d1, const char *d2, const char *after,
                      struct page *p)
{
    char rel[6] = {d1[0], d1[1], '/', d2[0], d2[1], '\0'};
    DIR *d = hs_blob_opendir(s->objects_fd, rel);
    if (!d) {
        if (errno != ENOENT)
            hs_blob_io_error("opendir", rel, errno);
        return;
    }
    struct dirent *e;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): one DIR stream per thread */
    while ((e = readdir(d)) != NULL) {
        char f1[3], f2[3];
        if (!hs_blob_id_valid(e->d_name) || (after && strcmp(e->d_name, after) <= 0))
            continue;
        /* A file in the wrong directory would break the order; lookups never find it anyway. */
        hs_blob_fanout(e->d_name, f1, f2);
        if (strcmp(f1, d1) == 0 && strcmp(f2, d2) == 0)
            page_offer(p, e->d_name);
    }
    closedir(d);
}

/* Fills p with the smallest p->cap ids after `after`, walking the fan-out in order. */
static enum hs_err collect(struct hs_blob_store *s, const char *after, struct page *p)
{
    char a1[3] = "", a2[3] = "";
    if (after)
        hs_blob_fanout(after, a1, a2);
    struct fanout_names *top = hs_xmalloc(sizeof *top), *sub = hs_xmalloc(sizeof *sub);
    enum hs_err err = read_fanout(s->objects_fd, ".", top);
    for (size_t i = 0; err == HS_OK && i < top->n && p->n < p->cap; i++) {
        const char *d1 = top->names[i];
        int c1 = strcmp(d1, a1);
        if (c1 < 0)
            continue; /* every id in there sorts before the cursor */
        if (read_fanout(s->objects_fd, d1, sub) != HS_OK)
            continue;
        /* Ids in later directories sort after all ids in earlier ones, so once the page is
         * full no later directory can contribute. */
        for (size_t j = 0; j < sub->n && p->n < p->cap; j++) {
            if (c1 == 0 && strcmp(sub->names[j], a2) < 0)
                continue;
            scan_leaf(s, d1, sub->names[j], after, p);
        }
    }
    free(top);
    free(sub);
    return err;
}

static void offer_vol(void *ctx, const char *id)
{
    page_offer(ctx, id);
}

/* Reads the header of a listed id and reports it; gone or corrupt blobs are skipped. A blob in
 * the volume store is reported from the index (its needle was checked when written or when
 * the index was rebuilt; reads and the scrub check it again). */
static void report(struct hs_blob_store *s, const char *id, hs_blob_list_fn *fn, void *ctx)
{
    int64_t len = 0;
    uint32_t crc = 0;
    if (hs_blob_vol_stat(s, id, &len, &crc) == HS_OK) {
        fn(ctx, id, len, crc);
        return;
    }
    int fd;
    if (hs_blob_open_id(s, id, &fd) != HS_OK)
        return; /* deleted since the directory was read, or an I/O error (logged) */
    struct hs_blob_header h;
    const char *problem = NULL;
    enum hs_err err = hs_blob_read_header(fd, id, &h, NULL, &problem);
    if (err == HS_ECORRUPT)
        hs_blob_quarantine(s, id, fd, problem);
    close(fd);
    if (err == HS_OK)
        fn(ctx, id, h.payload_bytes, h.payload_crc);
}

enum hs_err hs_blob_list(struct hs_blob_store *s, const char *after, size_t limit,
                         hs_blob_list_fn *fn, void *ctx, char **next_after_out)
{
    if (after && after[0] == '\0')
        after = NULL;
    if (limit == 0 || (after && !hs_blob_id_valid(after)))
        return HS_EINVAL;
    limit = HS_MIN(limit, (size_t)HS_BLOB_LIST_MAX);
    /* One more than asked for tells whether another page follows without a second walk. */
    struct page p = {.cap = limit + 1};
    p.ids = hs_xcalloc(p.cap, sizeof p.ids[0]);
    enum hs_err err = collect(s, after, &p);
    if (err != HS_OK)
        goto out;
    /* The walk stopped with the smallest file ids; the volume ids join them: the page keeps
     * the smallest of both, since every file id left out is larger than every one kept. */
    hs_blob_vol_offer(s, after, p.cap, offer_vol, &p);
    for (size_t i = 0; i < p.n && i < limit; i++)
        report(s, p.ids[i], fn, ctx);
    *next_after_out = p.n > limit ? hs_xstrdup(p.ids[limit - 1]) : NULL;
out:
    for (size_t i = 0; i < p.n; i++)
        free(p.ids[i]);
    free(p.ids);
    return err;
}
