/* test_blob_volume.c - the volume store for small blobs (hs/blob.h): the needle format, round
 * trips through both stores, index rebuild, tombstones, torn tails, CRC failures, rollover,
 * group commit under concurrency, reading volumes with the option off, and compaction (space
 * reclaimed, tombstones kept where needed, a crash before the old volume is gone, deletes and
 * reads racing it, damage). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hs/blob.h"
#include "hs/codec.h"
#include "hs/banned.h"

struct fixture {
    char dir[64];
    struct hs_blob_store *s;
};

static enum hs_err reopen(struct fixture *f, bool small_volume, int64_t volume_max)
{
    hs_blob_store_close(f->s);
    f->s = NULL;
    struct hs_blob_store_opts o = {
        .dir = f->dir, .fsync = true, .small_volume = small_volume, .volume_max_bytes = volume_max};
    return hs_blob_store_open(&o, &f->s);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hs_test_blobvol_XXXXXX");
    if (!mkdtemp(f->dir) || reopen(f, true, 0) != HS_OK)
        return -1;
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    hs_blob_store_close(f->s);
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): single-threaded test teardown */
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static enum hs_err put(struct hs_blob_store *s, const char *id, size_t n, uint32_t seed)
{
    uint8_t *data = malloc(n + 1);
    fill(data, n, seed);
    struct hs_blob_writer *w;
    enum hs_err err = hs_blob_write_begin(s, id, (int64_t)n, &w);
    if (err == HS_OK) {
        err = hs_blob_write_append(w, data, n);
        if (err == HS_OK)
            err = hs_blob_write_commit(w, true, hs_crc32c(0, data, n));
        else
            hs_blob_write_abort(w);
    }
    free(data);
    return err;
}

/* HS_OK when id reads back (both read paths) as the pattern of seed and n bytes. */
static enum hs_err check(struct hs_blob_store *s, const char *id, size_t n, uint32_t seed)
{
    uint8_t *want = malloc(n + 1), *got = NULL;
    fill(want, n, seed);
    int64_t len = -1;
    uint32_t crc = 0;
    enum hs_err err = hs_blob_read_small(s, id, 1 << 20, &got, &len, &crc);
    if (err == HS_OK) {
        assert_int_equal(len, (int64_t)n);
        assert_memory_equal(got, want, n);
        assert_int_equal(crc, hs_crc32c(0, want, n));
        free(got);
        int fd = -1;
        int64_t off = 0;
        assert_int_equal(hs_blob_open_verified(s, id, &fd, &off, &len, NULL), HS_OK);
        uint8_t *buf = malloc(n + 1);
        assert_int_equal(read(fd, buf, n), (ssize_t)n); /* positioned at the payload */
        assert_memory_equal(buf, want, n);
        assert_int_equal(pread(fd, buf, n, off), (ssize_t)n);
        assert_memory_equal(buf, want, n);
        free(buf);
        close(fd);
    }
    free(want);
    return err;
}

static void vol_path(struct fixture *f, unsigned n, char *out, size_t cap)
{
    snprintf(out, cap, "%s/volumes/%08u.vol", f->dir, n);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static size_t count_files(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): single-threaded test */
    while (d && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

struct listed {
    size_t n;
    char ids[512][16];
    int64_t lens[512];
};

static void list_one(void *ctx, const char *id, int64_t len, uint32_t crc)
{
    (void)crc;
    struct listed *l = ctx;
    assert_true(l->n < 512);
    assert_true(strlen(id) < 16);
    snprintf(l->ids[l->n], sizeof l->ids[0], "%s", id);
    l->lens[l->n++] = len;
}

/* Every id, paging `page` at a time; checks the order. */
static void list_all(struct hs_blob_store *s, size_t page, struct listed *out)
{
    char *after = NULL;
    do {
        char *next = NULL;
        assert_int_equal(hs_blob_list(s, after, page, list_one, out, &next), HS_OK);
        free(after);
        after = next;
    } while (after);
    for (size_t i = 1; i < out->n; i++)
        assert_true(strcmp(out->ids[i - 1], out->ids[i]) < 0);
}

static void needle_round_trip_and_damage_is_rejected(void **state)
{
    (void)state;
    uint8_t buf[HS_BLOB_NEEDLE_FIXED_BYTES + HS_BLOB_ID_MAX];
    struct hs_blob_needle n = {
        .payload_bytes = 1024, .payload_crc = 0xdeadbeef, .created_ms = 1234567};
    snprintf(n.id, sizeof n.id, "0a1b-c2.3");
    size_t h = hs_blob_needle_encode(&n, buf);
    assert_int_equal(h, 28 + 9);
    assert_int_equal(n.needle_bytes, (28 + 9 + 1024 + 7) & ~7u);
    assert_int_equal(n.needle_bytes % 8, 0);
    struct hs_blob_needle d;
    assert_int_equal(hs_blob_needle_decode(buf, h, &d, NULL), HS_OK);
    assert_string_equal(d.id, "0a1b-c2.3");
    assert_int_equal(d.payload_bytes, 1024);
    assert_int_equal(d.payload_crc, 0xdeadbeef);
    assert_int_equal(d.created_ms, 1234567);
    assert_false(d.tombstone);
    assert_int_equal(d.header_bytes, h);
    for (size_t i = 0; i < h; i++) { /* every header byte is covered by a check */
        buf[i] ^= 0x10;
        const char *problem = NULL;
        assert_int_equal(hs_blob_needle_decode(buf, h, &d, &problem), HS_ECORRUPT);
        assert_non_null(problem);
        buf[i] ^= 0x10;
    }
    assert_int_equal(hs_blob_needle_decode(buf, h - 1, &d, NULL), HS_ECORRUPT);
    assert_int_equal(hs_blob_needle_decode(buf, 10, &d, NULL), HS_ECORRUPT);
    struct hs_blob_needle t = {.tombstone = true};
    snprintf(t.id, sizeof t.id, "ff");
    h = hs_blob_needle_encode(&t, buf);
    assert_int_equal(t.needle_bytes, 32);
    assert_int_equal(hs_blob_needle_decode(buf, h, &d, NULL), HS_OK);
    assert_true(d.tombstone);
    assert_int_equal(d.payload_bytes, 0);
}

static void small_blobs_go_to_volumes_large_ones_to_files_and_both_list(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(put(f->s, "0001", 1024, 1), HS_OK);
    assert_int_equal(put(f->s, "0003", 0, 3), HS_OK);
    assert_int_equal(put(f->s, "0002", 100 << 10, 2), HS_OK); /* over 64 KiB: a file */
    assert_int_equal(put(f->s, "0004", 64 << 10, 4), HS_OK);  /* exactly 64 KiB: volume */
    assert_int_equal(check(f->s, "0001", 1024, 1), HS_OK);
    assert_int_equal(check(f->s, "0002", 100 << 10, 2), HS_OK);
    assert_int_equal(check(f->s, "0003", 0, 3), HS_OK);
    assert_int_equal(check(f->s, "0004", 64 << 10, 4), HS_OK);
    char path[128];
    snprintf(path, sizeof path, "%s/objects/00/02/0002", f->dir);
    assert_true(file_size(path) > 0);
    snprintf(path, sizeof path, "%s/objects/00/01/0001", f->dir);
    assert_int_equal(file_size(path), -1);
    int64_t len = 0;
    uint32_t crc = 0;
    assert_int_equal(hs_blob_stat(f->s, "0001", &len, &crc), HS_OK);
    assert_int_equal(len, 1024);
    struct hs_blob_stats st;
    hs_blob_store_stats(f->s, &st);
    assert_int_equal(st.blobs, 4);
    assert_int_equal(st.payload_bytes, 1024 + (100 << 10) + (64 << 10));
    /* Listing: both stores merged in id order, paged. */
    struct listed all = {0};
    list_all(f->s, 2, &all);
    assert_int_equal(all.n, 4);
    assert_string_equal(all.ids[0], "0001");
    assert_string_equal(all.ids[1], "0002");
    assert_string_equal(all.ids[2], "0003");
    assert_string_equal(all.ids[3], "0004");
    assert_int_equal(all.lens[1], 100 << 10);
    assert_int_equal(all.lens[3], 64 << 10);
}

static void id_of(char *out, size_t cap, int i)
{
    snprintf(out, cap, "%04x", i);
}

static void index_is_rebuilt_at_open_with_tombstones_applied(void **state)
{
    struct fixture *f = *state;
    char id[16];
    for (int i = 0; i < 40; i++) {
        id_of(id, sizeof id, i);
        assert_int_equal(put(f->s, id, (size_t)(100 + i), (uint32_t)i), HS_OK);
    }
    /* Deletes: one group commit for many tombstones; a missing id and a bad one alone fail. */
    const char *ids[] = {"0000", "0005", "0027", "beef", "../x"};
    enum hs_err errs[5];
    hs_blob_delete_many(f->s, ids, 5, errs);
    assert_int_equal(errs[0], HS_OK);
    assert_int_equal(errs[1], HS_OK);
    assert_int_equal(errs[2], HS_OK);
    assert_int_equal(errs[3], HS_ENOENT);
    assert_int_equal(errs[4], HS_EINVAL);
    assert_int_equal(hs_blob_delete(f->s, "0001"), HS_OK);
    assert_int_equal(hs_blob_delete(f->s, "0001"), HS_ENOENT);
    assert_int_equal(check(f->s, "0005", 105, 5), HS_ENOENT);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(reopen(f, round == 0, 0), HS_OK);
        struct hs_blob_stats st;
        hs_blob_store_stats(f->s, &st);
        assert_int_equal(st.blobs, 36);
        for (int i = 0; i < 40; i++) {
            id_of(id, sizeof id, i);
            bool gone = i == 0 || i == 1 || i == 5 || i == 0x27;
            assert_int_equal(check(f->s, id, (size_t)(100 + i), (uint32_t)i),
                             gone ? HS_ENOENT : HS_OK);
        }
        struct listed *all = calloc(1, sizeof *all);
        list_all(f->s, 7, all);
        assert_int_equal(all->n, 36);
        free(all);
    }
    /* Deleted and put again (ids are not reused in practice, but the later needle wins). */
    assert_int_equal(reopen(f, true, 0), HS_OK);
    assert_int_equal(put(f->s, "0005", 50, 99), HS_OK);
    assert_int_equal(reopen(f, true, 0), HS_OK);
    assert_int_equal(check(f->s, "0005", 50, 99), HS_OK);
}

static void torn_tail_is_truncated_and_every_acknowledged_blob_survives(void **state)
{
    struct fixture *f = *state;
    char id[16], path[128];
    for (int i = 0; i < 10; i++) {
        id_of(id, sizeof id, i);
        assert_int_equal(put(f->s, id, 1000, (uint32_t)i), HS_OK);
    }
    hs_blob_store_close(f->s);
    f->s = NULL;
    vol_path(f, 1, path, sizeof path);
    off_t good = file_size(path);
    assert_true(good > 0);
    /* A crash mid-write: the first half of a valid needle, then the zeros an extended file
     * reads as. */
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t needle[600] = {0};
    assert_int_equal(pread(fd, needle, 300, 0), 300);
    assert_int_equal(pwrite(fd, needle, sizeof needle, good), (ssize_t)sizeof needle);
    close(fd);
    assert_int_equal(reopen(f, true, 0), HS_OK);
    assert_int_equal(file_size(path), good);
    for (int i = 0; i < 10; i++) {
        id_of(id, sizeof id, i);
        assert_int_equal(check(f->s, id, 1000, (uint32_t)i), HS_OK);
    }
    /* Writes go on after the cut, and survive another restart. */
    assert_int_equal(put(f->s, "00ff", 77, 7), HS_OK);
    assert_int_equal(reopen(f, true, 0), HS_OK);
    assert_int_equal(check(f->s, "00ff", 77, 7), HS_OK);
    assert_int_equal(check(f->s, "0009", 1000, 9), HS_OK);
    /* A tail of only garbage bytes (no needle at all) is cut too. */
    hs_blob_store_close(f->s);
    f->s = NULL;
    good = file_size(path);
    fd = open(path, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, "HSN1garbage", 11), 11);
    close(fd);
    assert_int_equal(reopen(f, true, 0), HS_OK);
    assert_int_equal(file_size(path), good);
    struct hs_blob_stats st;
    hs_blob_store_stats(f->s, &st);
    assert_int_equal(st.blobs, 11);
    assert_int_equal(st.quarantined, 0);
}

/* Flips one byte of the volume at the payload of id (found by its bytes). */
static void flip_payload_byte(struct fixture *f, const char *id)
{
    char path[128];
    vol_path(f, 1, path, sizeof path);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    off_t size = file_size(path);
    uint8_t *buf = malloc((size_t)size);
    assert_int_equal(pread(fd, buf, (size_t)size, 0), size);
    size_t id_len = strlen(id);
    for (off_t at = 0; at + 24 + (off_t)id_len <= size; at += 8) {
        if (memcmp(buf + at, "HSN1", 4) == 0 && buf[at + 6] == id_len &&
            memcmp(buf + at + 24, id, id_len) == 0) {
            off_t p = at + 28 + (off_t)id_len + 3;
            buf[p] ^= 0x01;
            assert_int_equal(pwrite(fd, buf + p, 1, p), 1);
            break;
        }
    }
    free(buf);
    close(fd);
}

static void crc_failure_is_corrupt_quarantined_and_skipped_at_rebuild(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(put(f->s, "000a", 500, 1), HS_OK);
    assert_int_equal(put(f->s, "000b", 500, 2), HS_OK);
    assert_int_equal(put(f->s, "000c", 500, 3), HS_OK);
    flip_payload_byte(f, "000b");
    uint8_t *data = NULL;
    int64_t len = 0;
    assert_int_equal(hs_blob_read_small(f->s, "000b", 1 << 20, &data, &len, NULL), HS_ECORRUPT);
    /* Quarantined: gone from reads, listing and counters; a copy kept for inspection. */
    assert_int_equal(hs_blob_read_small(f->s, "000b", 1 << 20, &data, &len, NULL), HS_ENOENT);
    struct hs_blob_stats st;
    hs_blob_store_stats(f->s, &st);
    assert_int_equal(st.blobs, 2);
    assert_int_equal(st.quarantined, 1);
    char qdir[128];
    snprintf(qdir, sizeof qdir, "%s/quarantine", f->dir);
    assert_int_equal(count_files(qdir), 1);
    struct listed *all = calloc(1, sizeof *all);
    list_all(f->s, 10, all);
    assert_int_equal(all->n, 2);
    free(all);
    /* The scrub's path (open_verified) finds damage the same way. */
    flip_payload_byte(f, "000c");
    int fd = -1;
    assert_int_equal(hs_blob_open_verified(f->s, "000c", &fd, NULL, NULL, NULL), HS_ECORRUPT);
    /* At restart the damaged needles are skipped, not taken for a torn tail: 000a survives
     * and so would anything after them. */
    assert_int_equal(put(f->s, "000d", 500, 4), HS_OK);
    assert_int_equal(reopen(f, true, 0), HS_OK);
    assert_int_equal(check(f->s, "000a", 500, 1), HS_OK);
    assert_int_equal(check(f->s, "000b", 500, 2), HS_ENOENT);
    assert_int_equal(check(f->s, "000c", 500, 3), HS_ENOENT);
    assert_int_equal(check(f->s, "000d", 500, 4), HS_OK);
    hs_blob_store_stats(f->s, &st);
    assert_int_equal(st.blobs, 2);
    /* Counted again by the scan: once per damaged stretch (the two needles are adjacent). */
    assert_int_equal(st.quarantined, 1);
}

static void same_id_is_idempotent_and_immutable_across_both_stores(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(put(f->s, "00aa", 300, 1), HS_OK);
    assert_int_equal(put(f->s, "00aa", 300, 1), HS_OK);     /* a retry */
    assert_int_equal(put(f->s, "00aa", 300, 2), HS_EEXIST); /* other content */
    assert_int_equal(put(f->s, "00aa", 70000, 1), HS_EEXIST);
    assert_int_equal(put(f->s, "00bb", 70000, 1), HS_OK); /* a file */
    assert_int_equal(reopen(f, true, 0), HS_OK);
    assert_int_equal(put(f->s, "00aa", 300, 1), HS_OK);
    struct hs_blob_stats st;
    hs_blob_store_stats(f->s, &st);
    assert_int_equal(st.blobs, 2);
    /* An id that is a file blob: a small PUT of it compares against the file. */
    assert_int_equal(reopen(f, false, 0), HS_OK);
    assert_int_equal(put(f->s, "00cc", 300, 5), HS_OK); /* option off: a file */
    assert_int_equal(reopen(f, true, 0), HS_OK);
    assert_int_equal(put(f->s, "00cc", 300, 5), HS_OK);
    assert_int_equal(put(f->s, "00cc", 300, 6), HS_EEXIST);
    hs_blob_store_stats(f->s, &st);
    assert_int_equal(st.blobs, 3);
}

static void volumes_roll_over_and_stay_readable_with_the_option_off(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(reopen(f, true, 8192), HS_OK);
    char id[16], path[128];
    for (int i = 0; i < 30; i++) {
        id_of(id, sizeof id, i);
        assert_int_equal(put(f->s, id, 1000, (uint32_t)i), HS_OK);
    }
    snprintf(path, sizeof path, "%s/volumes", f->dir);
    assert_true(count_files(path) >= 4);
    vol_path(f, 1, path, sizeof path);
    assert_true(file_size(path) <= 8192);
    assert_int_equal(reopen(f, false, 0), HS_OK);
    for (int i = 0; i < 30; i++) {
        id_of(id, sizeof id, i);
        assert_int_equal(check(f->s, id, 1000, (uint32_t)i), HS_OK);
    }
    /* Off: new small blobs are files again, deletes of volume blobs still work. */
    assert_int_equal(put(f->s, "0100", 10, 1), HS_OK);
    snprintf(path, sizeof path, "%s/objects/01/00/0100", f->dir);
    assert_true(file_size(path) > 0);
    assert_int_equal(hs_blob_delete(f->s, "0003"), HS_OK);
    assert_int_equal(reopen(f, false, 0), HS_OK);
    assert_int_equal(check(f->s, "0003", 1000, 3), HS_ENOENT);
    struct hs_blob_stats st;
    hs_blob_store_stats(f->s, &st);
    assert_int_equal(st.blobs, 30);
}

static void listing_pages_see_puts_and_deletes_made_since_its_snapshot(void **state)
{
    struct fixture *f = *state;
    char id[16];
    for (int i = 0; i < 10; i++) {
        id_of(id, sizeof id, 0x100 + i);
        assert_int_equal(put(f->s, id, 10, (uint32_t)i), HS_OK);
    }
    struct listed *l = calloc(1, sizeof *l);
    char *next = NULL;
    assert_int_equal(hs_blob_list(f->s, NULL, 3, list_one, l, &next), HS_OK);
    assert_int_equal(l->n, 3);
    assert_string_equal(next, "0102");
    /* Between pages: one put after the cursor, one delete after it. */
    assert_int_equal(put(f->s, "0fff", 10, 1), HS_OK);
    assert_int_equal(hs_blob_delete(f->s, "0105"), HS_OK);
    char *after = next;
    while (after) {
        next = NULL;
        assert_int_equal(hs_blob_list(f->s, after, 3, list_one, l, &next), HS_OK);
        free(after);
        after = next;
    }
    assert_int_equal(l->n, 10); /* 10 + 0fff - 0105 */
    assert_string_equal(l->ids[9], "0fff");
    for (size_t i = 0; i < l->n; i++)
        assert_string_not_equal(l->ids[i], "0105");
    /* A later listing that does not start from the beginning (a prefix, a saved cursor)
     * sees what was put before it, even with the snapshot reused. */
    assert_int_equal(put(f->s, "0eee", 10, 2), HS_OK);
    memset(l, 0, sizeof *l);
    assert_int_equal(hs_blob_list(f->s, "0108", 100, list_one, l, &next), HS_OK);
    assert_null(next);
    assert_int_equal(l->n, 3);
    assert_string_equal(l->ids[0], "0109");
    assert_string_equal(l->ids[1], "0eee");
    assert_string_equal(l->ids[2], "0fff");
    free(l);
}

#define THREADS         8
#define PUTS_PER_THREAD 40

struct worker {
    struct hs_blob_store *s;
    int t;
    int failures;
};

static void *put_many(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < PUTS_PER_THREAD; i++) {
        char id[16];
        snprintf(id, sizeof id, "%02x%04x", w->t, i);
        if (put(w->s, id, 1024, (uint32_t)(w->t * 1000 + i)) != HS_OK)
            w->failures++;
    }
    return NULL;
}

static void concurrent_puts_all_land_through_group_commits(void **state)
{
    struct fixture *f = *state;
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (struct worker){.s = f->s, .t = t};
        assert_int_equal(pthread_create(&th[t], NULL, put_many, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(w[t].failures, 0);
    }
    assert_int_equal(reopen(f, true, 0), HS_OK);
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PUTS_PER_THREAD; i++) {
            char id[16];
            snprintf(id, sizeof id, "%02x%04x", t, i);
            assert_int_equal(check(f->s, id, 1024, (uint32_t)(t * 1000 + i)), HS_OK);
        }
    struct hs_blob_stats st;
    hs_blob_store_stats(f->s, &st);
    assert_int_equal(st.blobs, THREADS * PUTS_PER_THREAD);
}

/* ---- compaction ---- */

static struct hs_blob_compact_result compact(struct hs_blob_store *s, int min_dead_percent)
{
    struct hs_blob_compact_opts o = {.min_dead_percent = min_dead_percent};
    struct hs_blob_compact_result r = {0};
    assert_int_equal(hs_blob_compact(s, &o, &r), HS_OK);
    return r;
}

static bool vol_exists(struct fixture *f, unsigned n)
{
    char path[128];
    vol_path(f, n, path, sizeof path);
    return file_size(path) >= 0;
}

/* Blobs i = 0..n-1 of 500 bytes (seed i); every one for which gone(i) is deleted. */
static void put_and_delete(struct fixture *f, int n, bool (*gone)(int))
{
    char id[16];
    for (int i = 0; i < n; i++) {
        id_of(id, sizeof id, i);
        assert_int_equal(put(f->s, id, 500, (uint32_t)i), HS_OK);
    }
    char(*ids)[16] = calloc((size_t)n, sizeof *ids);
    const char **del = calloc((size_t)n, sizeof *del);
    enum hs_err *errs = calloc((size_t)n, sizeof *errs);
    size_t k = 0;
    for (int i = 0; i < n; i++)
        if (gone(i)) {
            id_of(ids[k], sizeof ids[k], i);
            del[k] = ids[k];
            k++;
        }
    hs_blob_delete_many(f->s, del, k, errs);
    for (size_t i = 0; i < k; i++)
        assert_int_equal(errs[i], HS_OK);
    free(ids);
    free(del);
    free(errs);
}

static void expect_blobs(struct fixture *f, int n, bool (*gone)(int))
{
    char id[16];
    int64_t live = 0;
    for (int i = 0; i < n; i++) {
        id_of(id, sizeof id, i);
        assert_int_equal(check(f->s, id, 500, (uint32_t)i), gone(i) ? HS_ENOENT : HS_OK);
        live += !gone(i);
    }
    struct hs_blob_stats st;
    hs_blob_store_stats(f->s, &st);
    assert_int_equal(st.blobs, live);
    assert_int_equal(st.payload_bytes, live * 500);
    struct listed *all = calloc(1, sizeof *all);
    list_all(f->s, 50, all);
    assert_int_equal((int64_t)all->n, live);
    free(all);
}

static bool two_of_three(int i)
{
    return i % 3 != 0;
}

static void compaction_reclaims_deleted_space_and_keeps_every_live_blob(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(reopen(f, true, 16384), HS_OK);
    put_and_delete(f, 120, two_of_three);
    struct hs_blob_stats before, after;
    hs_blob_store_stats(f->s, &before);
    assert_true(before.volume_files >= 4);
    assert_true(before.volume_reclaimable_bytes > before.volume_bytes / 3);
    assert_int_equal(before.compacted_volumes, 0);
    struct hs_blob_compact_result r = compact(f->s, 50);
    assert_int_equal(r.volumes, before.volume_files - 1); /* every sealed one; not the current */
    assert_false(vol_exists(f, 1));
    hs_blob_store_stats(f->s, &after);
    assert_int_equal(after.compacted_volumes, r.volumes);
    assert_true(after.compacted_reclaimed_bytes > 0);
    assert_true(after.volume_bytes < before.volume_bytes);
    assert_int_equal(after.volume_bytes, before.volume_bytes - after.compacted_reclaimed_bytes);
    assert_int_equal(after.volume_live_bytes, before.volume_live_bytes);
    expect_blobs(f, 120, two_of_three);
    /* The volume that was current at the start is sealed now and due; then nothing is. A
     * restart reads the same. */
    assert_int_equal(compact(f->s, 50).volumes, 1);
    assert_int_equal(compact(f->s, 50).volumes, 0);
    expect_blobs(f, 120, two_of_three);
    assert_int_equal(reopen(f, true, 16384), HS_OK);
    expect_blobs(f, 120, two_of_three);
    /* Blobs written after compaction land and survive too. */
    assert_int_equal(put(f->s, "f000", 500, 7), HS_OK);
    assert_int_equal(reopen(f, false, 0), HS_OK);
    assert_int_equal(check(f->s, "f000", 500, 7), HS_OK);
}

static bool two_of_three_or_3(int i)
{
    return two_of_three(i) || i == 3;
}

static bool only_first(int i)
{
    return i == 0;
}

static void tombstones_that_hide_an_older_volume_survive_compaction(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(reopen(f, true, 16384), HS_OK);
    /* Volume 1: 0000 .. 001f, almost all live (only 0000 will be deleted). */
    put_and_delete(f, 0x20, only_first);
    assert_int_equal(hs_blob_delete(f->s, "0000"), HS_ENOENT);
    /* Volume 2 and on: blobs that are all deleted again, after 0000's tombstone. */
    char id[16];
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "e%03x", i);
        assert_int_equal(put(f->s, id, 500, (uint32_t)i), HS_OK);
        assert_int_equal(hs_blob_delete(f->s, id), HS_OK);
    }
    struct hs_blob_compact_result r = compact(f->s, 50);
    assert_true(r.volumes >= 1);
    assert_true(vol_exists(f, 1));     /* 1/32 dead: not due */
    assert_true(r.moved_needles >= 1); /* 0000's tombstone went forward */
    for (int round = 0; round < 2; round++) {
        assert_int_equal(reopen(f, true, 16384), HS_OK);
        expect_blobs(f, 0x20, only_first);
        assert_int_equal(check(f->s, "e001", 500, 1), HS_ENOENT);
    }
    /* Once volume 1 is compacted too, the oldest volume's tombstones go. */
    assert_true(compact(f->s, 0).volumes >= 1);
    assert_false(vol_exists(f, 1));
    assert_int_equal(reopen(f, true, 16384), HS_OK);
    expect_blobs(f, 0x20, only_first);
}

static void an_id_put_again_after_its_delete_survives_compaction(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(reopen(f, true, 16384), HS_OK);
    put_and_delete(f, 0x20, only_first); /* 0000's tombstone lands after volume 1 */
    char id[16];
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "e%03x", i);
        assert_int_equal(put(f->s, id, 500, (uint32_t)i), HS_OK);
        assert_int_equal(hs_blob_delete(f->s, id), HS_OK);
    }
    assert_int_equal(put(f->s, "0000", 300, 77), HS_OK); /* the same id, other content */
    assert_true(compact(f->s, 50).volumes >= 1);         /* the tombstone's volume: dropped */
    assert_int_equal(check(f->s, "0000", 300, 77), HS_OK);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(reopen(f, true, 16384), HS_OK);
        assert_int_equal(check(f->s, "0000", 300, 77), HS_OK);
        compact(f->s, 0);
    }
}

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char buf[4096];
    ssize_t n;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            break;
    int rc = in >= 0 && out >= 0 ? 0 : -1;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

static void a_crash_before_the_old_volume_is_gone_keeps_one_copy_of_each_blob(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(reopen(f, true, 16384), HS_OK);
    put_and_delete(f, 120, two_of_three);
    /* The sealed volumes as they were: put back after compaction, as if the unlinks never
     * reached the disk. */
    char from[128], to[160];
    unsigned sealed = 0;
    for (unsigned n = 1; vol_exists(f, n + 1); n++) {
        vol_path(f, n, from, sizeof from);
        snprintf(to, sizeof to, "%s.saved", from);
        assert_int_equal(copy_file(from, to), 0);
        sealed = n;
    }
    assert_true(sealed >= 3);
    compact(f->s, 50);
    /* A blob deleted after its copy: the tombstone follows the copy. */
    assert_int_equal(hs_blob_delete(f->s, "0003"), HS_OK);
    hs_blob_store_close(f->s);
    f->s = NULL;
    for (unsigned n = 1; n <= sealed; n++) {
        vol_path(f, n, from, sizeof from);
        snprintf(to, sizeof to, "%s.saved", from);
        assert_int_equal(rename(to, from), 0);
    }
    for (int round = 0; round < 2; round++) {
        assert_int_equal(reopen(f, true, 16384), HS_OK);
        expect_blobs(f, 120, two_of_three_or_3);
        /* The resurrected volumes are all dead now: the next compaction removes them. */
        compact(f->s, 50);
        assert_false(vol_exists(f, 1));
    }
}

struct churn {
    struct hs_blob_store *s;
    int n;
    int failures; /* mismatches seen by the thread (cmocka asserts are for the main thread) */
};

/* Deletes every fourth live blob (i % 3 == 0 and i % 4 == 0), one at a time. */
static void *delete_some(void *arg)
{
    struct churn *c = arg;
    for (int i = 0; i < c->n; i += 12) {
        char id[16];
        id_of(id, sizeof id, i);
        if (hs_blob_delete(c->s, id) != HS_OK)
            c->failures++;
    }
    return NULL;
}

/* Reads every blob that stays (i % 3 == 0, i % 12 != 0) over and over: never missing. */
static void *read_stayers(void *arg)
{
    struct churn *c = arg;
    for (int round = 0; round < 5; round++)
        for (int i = 3; i < c->n; i += 3) {
            if (i % 12 == 0)
                continue;
            char id[16];
            id_of(id, sizeof id, i);
            uint8_t *data = NULL;
            int64_t len = 0;
            uint32_t crc = 0;
            uint8_t want[500];
            fill(want, sizeof want, (uint32_t)i);
            if (hs_blob_read_small(c->s, id, 1 << 20, &data, &len, &crc) != HS_OK || len != 500 ||
                memcmp(data, want, 500) != 0)
                c->failures++;
            free(data);
            int fd = -1;
            if (hs_blob_open_verified(c->s, id, &fd, NULL, NULL, NULL) != HS_OK)
                c->failures++;
            else
                close(fd);
        }
    return NULL;
}

enum { NEW_PUTS = 200 };

/* Puts new blobs bb000.. (500 bytes, seed 5000 + i) while compaction runs. */
static void *put_new(void *arg)
{
    struct churn *c = arg;
    for (int i = 0; i < NEW_PUTS; i++) {
        char id[16];
        snprintf(id, sizeof id, "bb%03x", i);
        if (put(c->s, id, 500, (uint32_t)(5000 + i)) != HS_OK)
            c->failures++;
    }
    return NULL;
}

/* Every blob put_new wrote reads back; with drop, they are deleted afterwards. */
static void check_new(struct fixture *f, bool drop)
{
    for (int i = 0; i < NEW_PUTS; i++) {
        char id[16];
        snprintf(id, sizeof id, "bb%03x", i);
        assert_int_equal(check(f->s, id, 500, (uint32_t)(5000 + i)), HS_OK);
        if (drop)
            assert_int_equal(hs_blob_delete(f->s, id), HS_OK);
    }
}

static bool churned(int i)
{
    return i % 3 != 0 || i % 12 == 0;
}

static void deletes_puts_and_reads_during_compaction_stay_correct(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(reopen(f, true, 65536), HS_OK);
    enum { N = 1200 };
    put_and_delete(f, N, two_of_three);
    struct churn del = {.s = f->s, .n = N}, rd = {.s = f->s, .n = N}, wr = {.s = f->s};
    pthread_t td, tr, tw;
    assert_int_equal(pthread_create(&td, NULL, delete_some, &del), 0);
    assert_int_equal(pthread_create(&tr, NULL, read_stayers, &rd), 0);
    assert_int_equal(pthread_create(&tw, NULL, put_new, &wr), 0);
    struct hs_blob_compact_opts o = {.min_dead_percent = 0};
    struct hs_blob_compact_result r = {0};
    assert_int_equal(hs_blob_compact(f->s, &o, &r), HS_OK);
    pthread_join(td, NULL);
    pthread_join(tr, NULL);
    pthread_join(tw, NULL);
    assert_int_equal(del.failures, 0);
    assert_int_equal(rd.failures, 0);
    assert_int_equal(wr.failures, 0);
    assert_true(r.volumes >= 1);
    check_new(f, false);
    assert_int_equal(reopen(f, true, 65536), HS_OK);
    check_new(f, true);
    expect_blobs(f, N, churned);
    /* Deleted while being moved or not: deleted after a restart too, and after another
     * compaction (of the volumes the copies went to, once sealed). */
    assert_int_equal(reopen(f, true, 65536), HS_OK);
    expect_blobs(f, N, churned);
    assert_int_equal(put(f->s, "f000", 60000, 1), HS_OK); /* seal the current volume */
    assert_int_equal(put(f->s, "f001", 60000, 2), HS_OK);
    compact(f->s, 0);
    assert_int_equal(hs_blob_delete(f->s, "f000"), HS_OK);
    assert_int_equal(hs_blob_delete(f->s, "f001"), HS_OK);
    assert_int_equal(reopen(f, true, 65536), HS_OK);
    expect_blobs(f, N, churned);
}

static void a_corrupt_needle_keeps_its_volume_until_a_read_quarantines_it(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(reopen(f, true, 16384), HS_OK);
    put_and_delete(f, 90, two_of_three); /* volumes 1 and 2 sealed */
    flip_payload_byte(f, "0003");        /* live, in volume 1 */
    struct hs_blob_compact_result r = compact(f->s, 50);
    assert_true(vol_exists(f, 1)); /* the index names a needle there it could not copy */
    assert_true(r.volumes >= 1);   /* the others went */
    assert_int_equal(check(f->s, "0003", 500, 3), HS_ECORRUPT);
    assert_int_equal(check(f->s, "0006", 500, 6), HS_OK);
    compact(f->s, 50);
    assert_false(vol_exists(f, 1));
    assert_int_equal(reopen(f, true, 16384), HS_OK);
    assert_int_equal(check(f->s, "0003", 500, 3), HS_ENOENT);
    for (int i = 6; i < 90; i += 3) {
        char id[16];
        id_of(id, sizeof id, i);
        assert_int_equal(check(f->s, id, 500, (uint32_t)i), HS_OK);
    }
}

static void compaction_checks_its_options_and_stops_when_asked(void **state)
{
    struct fixture *f = *state;
    struct hs_blob_compact_opts bad = {.min_dead_percent = 101};
    assert_int_equal(hs_blob_compact(f->s, &bad, NULL), HS_EINVAL);
    bad = (struct hs_blob_compact_opts){.rate_bytes_s = -1};
    assert_int_equal(hs_blob_compact(f->s, &bad, NULL), HS_EINVAL);
    atomic_bool stop = true;
    assert_int_equal(reopen(f, true, 16384), HS_OK);
    put_and_delete(f, 60, two_of_three);
    struct hs_blob_compact_opts o = {.min_dead_percent = 0, .stop = &stop};
    assert_int_equal(hs_blob_compact(f->s, &o, NULL), HS_ETIMEDOUT);
    expect_blobs(f, 60, two_of_three);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(needle_round_trip_and_damage_is_rejected),
        cmocka_unit_test_setup_teardown(small_blobs_go_to_volumes_large_ones_to_files_and_both_list,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(index_is_rebuilt_at_open_with_tombstones_applied, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(torn_tail_is_truncated_and_every_acknowledged_blob_survives,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(crc_failure_is_corrupt_quarantined_and_skipped_at_rebuild,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(same_id_is_idempotent_and_immutable_across_both_stores,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(volumes_roll_over_and_stay_readable_with_the_option_off,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_puts_all_land_through_group_commits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(listing_pages_see_puts_and_deletes_made_since_its_snapshot,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(compaction_reclaims_deleted_space_and_keeps_every_live_blob,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(tombstones_that_hide_an_older_volume_survive_compaction,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(an_id_put_again_after_its_delete_survives_compaction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            a_crash_before_the_old_volume_is_gone_keeps_one_copy_of_each_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(deletes_puts_and_reads_during_compaction_stay_correct,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_corrupt_needle_keeps_its_volume_until_a_read_quarantines_it, setup, teardown),
        cmocka_unit_test_setup_teardown(compaction_checks_its_options_and_stops_when_asked, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
