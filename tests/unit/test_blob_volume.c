/* test_blob_volume.c - the volume store for small blobs (hs/blob.h): the needle format, round
 * trips through both stores, index rebuild, tombstones, torn tails, CRC failures, rollover,
 * group commit under concurrency, and reading volumes with the option off. */
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
