/* test_blob.c - the blob store on a real file system in a temp dir: round trips, streaming,
 * integrity checks and quarantine, immutability, crash clean-up, space limits, listing order,
 * delete, counters, concurrent writers and the file format helpers. */
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
#include "hs/clock.h"
#include "hs/codec.h"
#include "hs/banned.h"

struct fixture {
    char dir[64];
    struct hs_blob_store *s;
    bool fsync;
};

static enum hs_err open_store(struct fixture *f, int64_t reserve, int64_t max)
{
    struct hs_blob_store_opts o = {
        .dir = f->dir, .fsync = f->fsync, .reserve_bytes = reserve, .max_blob_bytes = max};
    return hs_blob_store_open(&o, &f->s);
}

static int setup_with(void **state, bool fsync)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hs_test_blob_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->fsync = fsync;
    if (open_store(f, 0, 0) != HS_OK)
        return -1;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, false);
}

static int setup_fsync(void **state)
{
    return setup_with(state, true);
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

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static enum hs_err put_blob(struct hs_blob_store *s, const char *id, const void *data, size_t n)
{
    struct hs_blob_writer *w;
    enum hs_err err = hs_blob_write_begin(s, id, (int64_t)n, &w);
    if (err != HS_OK)
        return err;
    err = hs_blob_write_append(w, data, n);
    if (err != HS_OK) {
        hs_blob_write_abort(w);
        return err;
    }
    return hs_blob_write_commit(w, true, hs_crc32c(0, data, n));
}

/* Reads through the returned fd with read(2), so the fd must be positioned at the payload. */
static enum hs_err get_blob(struct hs_blob_store *s, const char *id, uint8_t **out, int64_t *len)
{
    int fd = -1;
    int64_t off = -1;
    uint32_t crc = 0;
    enum hs_err err = hs_blob_open_verified(s, id, &fd, &off, len, &crc);
    if (err != HS_OK)
        return err;
    assert_int_equal(off, 44 + (int64_t)strlen(id));
    uint8_t *buf = malloc((size_t)*len + 1);
    int64_t got = 0;
    ssize_t n;
    while ((n = read(fd, buf + got, (size_t)(*len + 1 - got))) > 0)
        got += n;
    close(fd);
    assert_int_equal(got, *len);
    assert_int_equal(crc, hs_crc32c(0, buf, (size_t)got));
    *out = buf;
    return HS_OK;
}

static void blob_path(const struct fixture *f, const char *id, char *path, size_t n)
{
    /* The documented layout: objects/<id[0..2)>/<id[2..4)>/<id> for ids of 4+ chars. */
    snprintf(path, n, "%s/objects/%.2s/%.2s/%s", f->dir, id, id + 2, id);
}

static int count_files(const struct fixture *f, const char *sub)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", f->dir, sub);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): one DIR stream per thread */
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Temp files of writes in progress: every file under tmp/, in its slot directories or (older
 * layouts) in tmp/ itself. */
static int temps_seen;

static int count_temp_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path, (void)st, (void)ftw;
    temps_seen += flag == FTW_F;
    return 0;
}

static int count_temp_files(const struct fixture *f)
{
    char path[128];
    snprintf(path, sizeof path, "%s/tmp", f->dir);
    temps_seen = 0;
    return nftw(path, count_temp_entry, 16, FTW_PHYS) == 0 ? temps_seen : -1;
}

static struct hs_blob_stats stats(const struct fixture *f)
{
    struct hs_blob_stats st;
    hs_blob_store_stats(f->s, &st);
    return st;
}

static void round_trip_sizes(struct fixture *f)
{
    const size_t sizes[] = {0, 1, (1u << 20) + 3};
    int64_t total = 0;
    for (size_t i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "00ff%zu.0.%zu", i, i);
        uint8_t *data = malloc(sizes[i] + 1);
        fill_pattern(data, sizes[i], (uint32_t)i);
        assert_int_equal(put_blob(f->s, id, data, sizes[i]), HS_OK);
        uint8_t *back = NULL;
        int64_t len;
        assert_int_equal(get_blob(f->s, id, &back, &len), HS_OK);
        assert_int_equal(len, (int64_t)sizes[i]);
        assert_memory_equal(back, data, sizes[i]);
        int64_t slen;
        uint32_t scrc;
        assert_int_equal(hs_blob_stat(f->s, id, &slen, &scrc), HS_OK);
        assert_int_equal(slen, (int64_t)sizes[i]);
        assert_int_equal(scrc, hs_crc32c(0, data, sizes[i]));
        total += (int64_t)sizes[i];
        free(back);
        free(data);
    }
    struct hs_blob_stats st = stats(f);
    assert_int_equal(st.blobs, 3);
    assert_int_equal(st.payload_bytes, total);
    assert_true(st.total_bytes > 0 && st.free_bytes > 0);
    assert_int_equal(count_temp_files(f), 0);
}

static void round_trip_of_empty_one_byte_and_large_blobs_without_fsync(void **state)
{
    round_trip_sizes(*state);
}

static void round_trip_of_empty_one_byte_and_large_blobs_with_fsync(void **state)
{
    round_trip_sizes(*state);
}

static void streaming_appends_of_unknown_length_store_the_concatenation(void **state)
{
    struct fixture *f = *state;
    size_t total = 300000;
    uint8_t *data = malloc(total);
    fill_pattern(data, total, 7);
    struct hs_blob_writer *w;
    assert_int_equal(hs_blob_write_begin(f->s, "abcd.1.2", -1, &w), HS_OK);
    size_t off = 0, step = 1;
    while (off < total) {
        size_t n = step < total - off ? step : total - off;
        assert_int_equal(hs_blob_write_append(w, data + off, n), HS_OK);
        off += n;
        step = step * 3 + 1;
    }
    assert_int_equal(hs_blob_write_append(w, data, 0), HS_OK);
    assert_int_equal(hs_blob_write_commit(w, false, 0), HS_OK);
    uint8_t *back = NULL;
    int64_t len;
    assert_int_equal(get_blob(f->s, "abcd.1.2", &back, &len), HS_OK);
    assert_int_equal(len, (int64_t)total);
    assert_memory_equal(back, data, total);
    free(back);
    free(data);
}

static void declared_length_mismatch_stores_nothing(void **state)
{
    struct fixture *f = *state;
    struct hs_blob_writer *w;
    /* fewer bytes than declared: commit refuses */
    assert_int_equal(hs_blob_write_begin(f->s, "aaaa", 10, &w), HS_OK);
    assert_int_equal(hs_blob_write_append(w, "12345", 5), HS_OK);
    assert_int_equal(hs_blob_write_commit(w, false, 0), HS_EINVAL);
    /* more bytes than declared: the append refuses and the error sticks */
    assert_int_equal(hs_blob_write_begin(f->s, "aaaa", 4, &w), HS_OK);
    assert_int_equal(hs_blob_write_append(w, "12345", 5), HS_ETOOBIG);
    assert_int_equal(hs_blob_write_append(w, "1", 1), HS_ETOOBIG);
    assert_int_equal(hs_blob_write_commit(w, false, 0), HS_ETOOBIG);
    assert_int_equal(hs_blob_stat(f->s, "aaaa", NULL, NULL), HS_ENOENT);
    assert_int_equal(count_temp_files(f), 0);
    assert_int_equal(stats(f).blobs, 0);
}

static void temp_files_of_concurrent_writes_spread_over_the_slot_directories(void **state)
{
    struct fixture *f = *state;
    enum { WRITERS = 32 };
    struct hs_blob_writer *w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        char id[32];
        snprintf(id, sizeof id, "0123.%d", i); /* one fan-out directory, like one txn's blobs */
        assert_int_equal(hs_blob_write_begin(f->s, id, -1, &w[i]), HS_OK);
    }
    assert_int_equal(count_temp_files(f), WRITERS);
    int used = 0, in_slots = 0;
    for (int slot = 0; slot < 64; slot++) {
        char sub[16];
        snprintf(sub, sizeof sub, "tmp/%x", slot);
        int n = count_files(f, sub);
        used += n > 0;
        in_slots += n;
    }
    assert_int_equal(in_slots, WRITERS); /* none in tmp/ itself */
    assert_true(used >= 8); /* 32 ids over 64 slots by hash: all in a few would be a bug */
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal(hs_blob_write_commit(w[i], false, 0), HS_OK);
    assert_int_equal(count_temp_files(f), 0);
    assert_int_equal(stats(f).blobs, WRITERS);
}

static void crc_mismatch_on_commit_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    struct hs_blob_writer *w;
    assert_int_equal(hs_blob_write_begin(f->s, "bbbb.0", 5, &w), HS_OK);
    assert_int_equal(hs_blob_write_append(w, "hello", 5), HS_OK);
    assert_int_equal(hs_blob_write_commit(w, true, hs_crc32c(0, "hellO", 5)), HS_ECORRUPT);
    assert_int_equal(hs_blob_stat(f->s, "bbbb.0", NULL, NULL), HS_ENOENT);
    assert_int_equal(count_temp_files(f), 0);
    assert_int_equal(count_files(f, "objects/bb/bb"), -1);
    struct hs_blob_stats st = stats(f);
    assert_int_equal(st.blobs, 0);
    assert_int_equal(st.payload_bytes, 0);
}

static void commit_past_the_deadline_publishes_nothing(void **state)
{
    struct fixture *f = *state;
    struct hs_blob_writer *w;
    assert_int_equal(hs_blob_write_begin(f->s, "dddd.0", 5, &w), HS_OK);
    assert_int_equal(hs_blob_write_append(w, "hello", 5), HS_OK);
    hs_blob_write_set_deadline(w, hs_clock_wall_ms() - 1);
    assert_int_equal(hs_blob_write_commit(w, false, 0), HS_ETIMEDOUT);
    assert_int_equal(hs_blob_stat(f->s, "dddd.0", NULL, NULL), HS_ENOENT);
    assert_int_equal(count_temp_files(f), 0);
    assert_int_equal(stats(f).blobs, 0);
    /* a deadline still ahead (or none) changes nothing */
    assert_int_equal(hs_blob_write_begin(f->s, "dddd.0", 5, &w), HS_OK);
    assert_int_equal(hs_blob_write_append(w, "hello", 5), HS_OK);
    hs_blob_write_set_deadline(w, hs_clock_wall_ms() + 60000);
    assert_int_equal(hs_blob_write_commit(w, false, 0), HS_OK);
    assert_int_equal(stats(f).blobs, 1);
}

static void abort_removes_the_temp_file(void **state)
{
    struct fixture *f = *state;
    struct hs_blob_writer *w;
    assert_int_equal(hs_blob_write_begin(f->s, "cccc", -1, &w), HS_OK);
    assert_int_equal(hs_blob_write_append(w, "xyz", 3), HS_OK);
    assert_int_equal(count_temp_files(f), 1);
    hs_blob_write_abort(w);
    hs_blob_write_abort(NULL);
    assert_int_equal(count_temp_files(f), 0);
    assert_int_equal(hs_blob_stat(f->s, "cccc", NULL, NULL), HS_ENOENT);
}

static void small_blob_touches_the_disk_only_at_commit(void **state)
{
    struct fixture *f = *state;
    struct hs_blob_writer *w;
    /* declared length within the small limit: collected in memory, no temp file yet */
    assert_int_equal(hs_blob_write_begin(f->s, "5a11.0", 5, &w), HS_OK);
    assert_int_equal(hs_blob_write_append(w, "hel", 3), HS_OK);
    assert_int_equal(hs_blob_write_append(w, "lo", 2), HS_OK);
    assert_int_equal(count_temp_files(f), 0);
    assert_int_equal(hs_blob_write_append(w, "!", 1), HS_ETOOBIG); /* past the declared 5 */
    hs_blob_write_abort(w);
    assert_int_equal(count_temp_files(f), 0);
    assert_int_equal(hs_blob_stat(f->s, "5a11.0", NULL, NULL), HS_ENOENT);
    /* the largest small blob and the smallest streamed one round-trip alike */
    size_t sizes[] = {64 << 10, (64 << 10) + 1};
    for (size_t i = 0; i < 2; i++) {
        uint8_t *data = malloc(sizes[i]);
        fill_pattern(data, sizes[i], (uint32_t)i);
        char id[16];
        snprintf(id, sizeof id, "5a11.%zu", i + 1);
        assert_int_equal(put_blob(f->s, id, data, sizes[i]), HS_OK);
        uint8_t *back = NULL;
        int64_t len = 0;
        assert_int_equal(get_blob(f->s, id, &back, &len), HS_OK);
        assert_int_equal(len, (int64_t)sizes[i]);
        assert_memory_equal(back, data, sizes[i]);
        free(back);
        free(data);
    }
    assert_int_equal(count_temp_files(f), 0);
    assert_int_equal(stats(f).blobs, 2);
}

struct committer {
    struct hs_blob_store *s;
    int index;
    int failures;
};

static void *commit_many(void *arg)
{
    struct committer *c = arg;
    for (int i = 0; i < 20; i++) {
        char id[32], data[64];
        /* two fan-out directories, both missing at first: the renames make them */
        snprintf(id, sizeof id, "%s.%d.%d", i % 2 ? "c0ffee" : "beef00", c->index, i);
        int n = snprintf(data, sizeof data, "blob %d of writer %d", i, c->index);
        c->failures += put_blob(c->s, id, data, (size_t)n) != HS_OK;
    }
    return NULL;
}

static void concurrent_commits_share_directory_fsyncs_and_all_land(void **state)
{
    struct fixture *f = *state; /* fsync on: every commit waits for its directory's fsync */
    enum { N = 12 };
    struct committer c[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        c[i] = (struct committer){.s = f->s, .index = i};
        assert_int_equal(pthread_create(&t[i], NULL, commit_many, &c[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(c[i].failures, 0);
    }
    assert_int_equal(stats(f).blobs, N * 20);
    assert_int_equal(count_files(f, "objects/be/ef"), N * 10);
    assert_int_equal(count_files(f, "objects/c0/ff"), N * 10);
    assert_int_equal(count_temp_files(f), 0);
    uint8_t *back = NULL;
    int64_t len = 0;
    assert_int_equal(get_blob(f->s, "c0ffee.7.19", &back, &len), HS_OK);
    assert_memory_equal(back, "blob 19 of writer 7", (size_t)len);
    free(back);
}

static void rewrite_with_same_content_is_ok_and_different_content_is_eexist(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(put_blob(f->s, "dddd.1", "same", 4), HS_OK);
    assert_int_equal(put_blob(f->s, "dddd.1", "same", 4), HS_OK);
    assert_int_equal(put_blob(f->s, "dddd.1", "diff", 4), HS_EEXIST);
    assert_int_equal(put_blob(f->s, "dddd.1", "longer", 6), HS_EEXIST);
    uint8_t *back = NULL;
    int64_t len;
    assert_int_equal(get_blob(f->s, "dddd.1", &back, &len), HS_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(back, "same", 4);
    free(back);
    struct hs_blob_stats st = stats(f);
    assert_int_equal(st.blobs, 1);
    assert_int_equal(st.payload_bytes, 4);
    assert_int_equal(count_temp_files(f), 0);
}

static void invalid_ids_are_rejected_before_any_path_is_built(void **state)
{
    struct fixture *f = *state;
    char too_long[HS_BLOB_ID_MAX + 2], longest[HS_BLOB_ID_MAX + 1];
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    memset(longest, 'b', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    const char *bad[] = {"../x", "a/b",    "ABCD", "abcG", "",     ".",      "..",
                         ".abc", "ab..cd", "a b",  "/etc", "a\\b", "ab\ncd", too_long};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hs_blob_writer *w = NULL;
        int fd = -1;
        char *next = NULL;
        assert_false(hs_blob_id_valid(bad[i]));
        assert_int_equal(hs_blob_write_begin(f->s, bad[i], 1, &w), HS_EINVAL);
        assert_null(w);
        assert_int_equal(hs_blob_open_verified(f->s, bad[i], &fd, NULL, NULL, NULL), HS_EINVAL);
        assert_int_equal(fd, -1);
        assert_int_equal(hs_blob_stat(f->s, bad[i], NULL, NULL), HS_EINVAL);
        assert_int_equal(hs_blob_delete(f->s, bad[i]), HS_EINVAL);
        if (bad[i][0])
            assert_int_equal(hs_blob_list(f->s, bad[i], 1, NULL, NULL, &next), HS_EINVAL);
    }
    assert_false(hs_blob_id_valid(NULL));
    assert_int_equal(count_files(f, "objects"), 0);
    assert_int_equal(count_temp_files(f), 0);
    const char *good[] = {"a", "0", "-", "a.b", "a-b", "0123456789abcdef.0.1", longest};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_true(hs_blob_id_valid(good[i]));
        assert_int_equal(put_blob(f->s, good[i], "v", 1), HS_OK);
        assert_int_equal(hs_blob_stat(f->s, good[i], NULL, NULL), HS_OK);
    }
}

/* Corrupts one file with fn, then expects every access to report and quarantine it once. */
static void expect_quarantine(struct fixture *f, const char *id, bool header_only_detects)
{
    struct hs_blob_stats before = stats(f);
    int fd = -1;
    enum hs_err err = header_only_detects ? hs_blob_stat(f->s, id, NULL, NULL)
                                          : hs_blob_open_verified(f->s, id, &fd, NULL, NULL, NULL);
    assert_int_equal(err, HS_ECORRUPT);
    assert_int_equal(fd, -1);
    struct hs_blob_stats after = stats(f);
    assert_int_equal(after.blobs, before.blobs - 1);
    assert_int_equal(after.payload_bytes, before.payload_bytes - 1000);
    assert_int_equal(after.quarantined, before.quarantined + 1);
    assert_int_equal(hs_blob_open_verified(f->s, id, &fd, NULL, NULL, NULL), HS_ENOENT);
    assert_int_equal(hs_blob_stat(f->s, id, NULL, NULL), HS_ENOENT);
    assert_int_equal(stats(f).quarantined, before.quarantined + 1);
}

static void put_thousand(struct fixture *f, const char *id)
{
    uint8_t data[1000];
    fill_pattern(data, sizeof data, 3);
    assert_int_equal(put_blob(f->s, id, data, sizeof data), HS_OK);
}

static void flip_byte(struct fixture *f, const char *id, off_t off)
{
    char path[512];
    blob_path(f, id, path, sizeof path);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, off), 1);
    b ^= 0x10;
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static void flipped_payload_byte_is_corrupt_and_quarantined(void **state)
{
    struct fixture *f = *state;
    put_thousand(f, "eeee.0");
    put_thousand(f, "eeee.1");
    flip_byte(f, "eeee.0", 44 + 6 + 500);
    /* The header is intact, so stat (HEAD) cannot see it; a read must. */
    assert_int_equal(hs_blob_stat(f->s, "eeee.0", NULL, NULL), HS_OK);
    expect_quarantine(f, "eeee.0", false);
    assert_int_equal(count_files(f, "quarantine"), 1);
    uint8_t *back = NULL;
    int64_t len;
    assert_int_equal(get_blob(f->s, "eeee.1", &back, &len), HS_OK);
    free(back);
}

static void flipped_header_byte_is_corrupt_and_quarantined(void **state)
{
    struct fixture *f = *state;
    const off_t offsets[] = {0, 9, 17, 25, 33, 41, 47};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        char id[16];
        snprintf(id, sizeof id, "ffff.%zu", i);
        put_thousand(f, id);
        flip_byte(f, id, offsets[i]);
        expect_quarantine(f, id, true);
    }
    assert_int_equal(count_files(f, "quarantine"), 7);
}

static void read_small_returns_verified_payload_or_etoobig_and_quarantines_damage(void **state)
{
    struct fixture *f = *state;
    put_thousand(f, "5e11.0");
    uint8_t *data = NULL;
    int64_t len = -1;
    uint32_t crc = 0;
    assert_int_equal(hs_blob_read_small(f->s, "5e11.0", 1000, &data, &len, &crc), HS_OK);
    assert_int_equal(len, 1000);
    assert_int_equal(crc, hs_crc32c(0, data, 1000));
    free(data);
    data = NULL;
    /* one byte over the limit: nothing read, the caller streams it instead */
    assert_int_equal(hs_blob_read_small(f->s, "5e11.0", 999, &data, &len, NULL), HS_ETOOBIG);
    assert_null(data);
    assert_int_equal(hs_blob_read_small(f->s, "5e11.1", 1000, &data, &len, NULL), HS_ENOENT);
    assert_int_equal(hs_blob_read_small(f->s, "../x", 1000, &data, &len, NULL), HS_EINVAL);
    /* empty blob */
    assert_int_equal(put_blob(f->s, "5e11.2", "", 0), HS_OK);
    assert_int_equal(hs_blob_read_small(f->s, "5e11.2", 1000, &data, &len, NULL), HS_OK);
    assert_int_equal(len, 0);
    free(data);
    data = NULL;
    /* a flipped payload byte is caught by the CRC and the blob moved to quarantine */
    flip_byte(f, "5e11.0", 44 + 6 + 500);
    assert_int_equal(hs_blob_read_small(f->s, "5e11.0", 1000, &data, &len, NULL), HS_ECORRUPT);
    assert_null(data);
    assert_int_equal(hs_blob_stat(f->s, "5e11.0", NULL, NULL), HS_ENOENT);
    assert_int_equal(count_files(f, "quarantine"), 1);
    assert_int_equal(stats(f).quarantined, 1);
}

static void truncated_file_is_corrupt_and_quarantined(void **state)
{
    struct fixture *f = *state;
    put_thousand(f, "0a0b.9");
    char path[512];
    blob_path(f, "0a0b.9", path, sizeof path);
    assert_int_equal(truncate(path, 44 + 6 + 999), 0);
    expect_quarantine(f, "0a0b.9", true);
}

static void repeated_quarantine_of_one_id_keeps_both_copies(void **state)
{
    struct fixture *f = *state;
    for (int round = 0; round < 2; round++) {
        put_thousand(f, "1234.5");
        flip_byte(f, "1234.5", 100);
        expect_quarantine(f, "1234.5", false);
    }
    assert_int_equal(count_files(f, "quarantine"), 2);
    assert_int_equal(stats(f).blobs, 0);
}

static void rewrite_over_a_corrupt_header_quarantines_it_and_stores_the_new_blob(void **state)
{
    struct fixture *f = *state;
    put_thousand(f, "2345.6");
    flip_byte(f, "2345.6", 3);
    put_thousand(f, "2345.6");
    assert_int_equal(count_files(f, "quarantine"), 1);
    struct hs_blob_stats st = stats(f);
    assert_int_equal(st.blobs, 1);
    assert_int_equal(st.payload_bytes, 1000);
    uint8_t *back = NULL;
    int64_t len;
    assert_int_equal(get_blob(f->s, "2345.6", &back, &len), HS_OK);
    free(back);
}

static void open_removes_temp_files_and_counts_and_checks_existing_blobs(void **state)
{
    struct fixture *f = *state;
    put_thousand(f, "3456.0");
    put_thousand(f, "3456.1");
    put_thousand(f, "3456.2");
    assert_int_equal(put_blob(f->s, "a", "xy", 2), HS_OK);
    struct hs_blob_writer *w;
    assert_int_equal(hs_blob_write_begin(f->s, "4567", -1, &w), HS_OK);
    assert_int_equal(hs_blob_write_append(w, "pending", 7), HS_OK);
    /* a second store on the same directory is refused while the first is open */
    struct hs_blob_store *other;
    struct hs_blob_store_opts o = {.dir = f->dir};
    assert_int_equal(hs_blob_store_open(&o, &other), HS_EIO);
    hs_blob_write_abort(w);
    hs_blob_store_close(f->s);
    f->s = NULL;
    /* what a crash leaves behind: a half-written temp file; plus a header flipped at rest */
    /* ...in a slot directory, and in tmp/ itself where older layouts kept them */
    const char *stale[] = {"tmp/3/4567.99.1.tmp", "tmp/4567.99.2.tmp"};
    for (size_t i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", f->dir, stale[i]);
        int fd = open(path, O_CREAT | O_WRONLY, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "junk", 4), 4);
        close(fd);
    }
    assert_int_equal(count_temp_files(f), 2);
    flip_byte(f, "3456.2", 20);
    assert_int_equal(open_store(f, 0, 0), HS_OK);
    assert_int_equal(count_temp_files(f), 0);
    struct hs_blob_stats st = stats(f);
    assert_int_equal(st.blobs, 3);
    assert_int_equal(st.payload_bytes, 2002);
    assert_int_equal(st.quarantined, 1);
    assert_int_equal(hs_blob_stat(f->s, "3456.2", NULL, NULL), HS_ENOENT);
    assert_int_equal(hs_blob_stat(f->s, "a", NULL, NULL), HS_OK);
}

static void reserve_refuses_writes_with_enospc(void **state)
{
    struct fixture *f = *state;
    hs_blob_store_close(f->s);
    assert_int_equal(open_store(f, INT64_MAX / 2, 0), HS_OK);
    struct hs_blob_writer *w = NULL;
    assert_int_equal(hs_blob_write_begin(f->s, "5678", 1, &w), HS_ENOSPC);
    assert_int_equal(hs_blob_write_begin(f->s, "5678", -1, &w), HS_ENOSPC);
    assert_null(w);
    hs_blob_store_close(f->s);
    /* no reserve, but the declared length alone exceeds the free space */
    assert_int_equal(open_store(f, 0, 0), HS_OK);
    assert_int_equal(hs_blob_write_begin(f->s, "5678", INT64_MAX / 2, &w), HS_ENOSPC);
    assert_int_equal(count_temp_files(f), 0);
    assert_int_equal(put_blob(f->s, "5678", "ok", 2), HS_OK);
}

static void max_blob_bytes_refuses_bigger_blobs_with_etoobig(void **state)
{
    struct fixture *f = *state;
    hs_blob_store_close(f->s);
    assert_int_equal(open_store(f, 0, 8), HS_OK);
    struct hs_blob_writer *w = NULL;
    assert_int_equal(hs_blob_write_begin(f->s, "6789", 9, &w), HS_ETOOBIG);
    assert_int_equal(hs_blob_write_begin(f->s, "6789", -1, &w), HS_OK);
    assert_int_equal(hs_blob_write_append(w, "12345", 5), HS_OK);
    assert_int_equal(hs_blob_write_append(w, "6789", 4), HS_ETOOBIG);
    hs_blob_write_abort(w);
    assert_int_equal(put_blob(f->s, "6789", "12345678", 8), HS_OK);
    assert_int_equal(count_temp_files(f), 0);
    assert_int_equal(hs_blob_write_begin(f->s, "6789", -2, &w), HS_EINVAL);
}

struct collected {
    char **ids;
    size_t n;
    int64_t bytes;
};

static void collect_fn(void *ctx, const char *id, int64_t len, uint32_t crc)
{
    struct collected *c = ctx;
    c->ids[c->n++] = strdup(id);
    c->bytes += len;
    assert_int_equal(crc, hs_crc32c(0, id, strlen(id)));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

#define LIST_N 300

static void listing_pages_cover_every_blob_exactly_once_in_order(void **state)
{
    struct fixture *f = *state;
    char *ids[LIST_N];
    uint32_t seed = 42;
    for (int i = 0; i < LIST_N; i++) {
        /* few leading characters so that leaf directories hold many ids; varied lengths
         * (1..12) to exercise padded fan-out names */
        static const char alphabet[] = "0af.-";
        char id[16];
        do {
            seed = seed * 1103515245u + 12345u;
            size_t len = 1 + (seed >> 8) % 12;
            for (size_t j = 0; j < len; j++) {
                seed = seed * 1103515245u + 12345u;
                id[j] = alphabet[(seed >> 16) % (j == 0 ? 3 : 5)];
            }
            id[len] = '\0';
        } while (!hs_blob_id_valid(id) || hs_blob_stat(f->s, id, NULL, NULL) == HS_OK);
        ids[i] = strdup(id);
        assert_int_equal(put_blob(f->s, id, id, strlen(id)), HS_OK);
    }
    qsort(ids, LIST_N, sizeof ids[0], cmp_str);
    struct collected c = {.ids = calloc(LIST_N + 1, sizeof(char *))};
    char *after = NULL;
    int pages = 0;
    do {
        char *next = NULL;
        size_t before = c.n;
        assert_int_equal(hs_blob_list(f->s, after, 7, collect_fn, &c, &next), HS_OK);
        assert_true(c.n - before <= 7);
        if (next)
            assert_string_equal(next, c.ids[c.n - 1]);
        free(after);
        after = next;
        pages++;
    } while (after && pages < LIST_N);
    assert_int_equal(pages, (LIST_N + 6) / 7);
    assert_int_equal(c.n, LIST_N);
    for (int i = 0; i < LIST_N; i++)
        assert_string_equal(c.ids[i], ids[i]);
    /* a cursor that names no blob starts at the next id; a limit over the max is clamped */
    struct collected d = {.ids = calloc(LIST_N + 1, sizeof(char *))};
    char *next = (char *)"untouched";
    assert_int_equal(hs_blob_list(f->s, "0", 1000000, collect_fn, &d, &next), HS_OK);
    assert_null(next);
    size_t first = 0;
    while (first < LIST_N && strcmp(ids[first], "0") <= 0)
        first++;
    assert_int_equal(d.n, LIST_N - first);
    assert_string_equal(d.ids[0], ids[first]);
    assert_int_equal(hs_blob_list(f->s, NULL, 0, collect_fn, &d, &next), HS_EINVAL);
    for (int i = 0; i < LIST_N; i++) {
        free(ids[i]);
        free(c.ids[i]);
    }
    for (size_t i = 0; i < d.n; i++)
        free(d.ids[i]);
    free(c.ids);
    free(d.ids);
}

static void listing_an_empty_store_returns_nothing(void **state)
{
    struct fixture *f = *state;
    struct collected c = {.ids = calloc(1, sizeof(char *))};
    char *next = (char *)"untouched";
    assert_int_equal(hs_blob_list(f->s, "", 10, collect_fn, &c, &next), HS_OK);
    assert_null(next);
    assert_int_equal(c.n, 0);
    free(c.ids);
}

static void delete_removes_the_blob_and_uncounts_it(void **state)
{
    struct fixture *f = *state;
    put_thousand(f, "789a.0");
    put_thousand(f, "789a.1");
    assert_int_equal(hs_blob_delete(f->s, "789a.0"), HS_OK);
    assert_int_equal(hs_blob_delete(f->s, "789a.0"), HS_ENOENT);
    assert_int_equal(hs_blob_stat(f->s, "789a.0", NULL, NULL), HS_ENOENT);
    assert_int_equal(hs_blob_delete(f->s, "9999"), HS_ENOENT);
    struct hs_blob_stats st = stats(f);
    assert_int_equal(st.blobs, 1);
    assert_int_equal(st.payload_bytes, 1000);
    /* the id may be written again after a delete */
    assert_int_equal(put_blob(f->s, "789a.0", "new", 3), HS_OK);
    assert_int_equal(stats(f).payload_bytes, 1003);
}

struct racer {
    struct hs_blob_store *s;
    int variant;
    enum hs_err result;
};

static void *race_write(void *arg)
{
    struct racer *r = arg;
    uint8_t data[4096];
    fill_pattern(data, sizeof data, (uint32_t)r->variant);
    r->result = put_blob(r->s, "89ab.0.0", data, sizeof data);
    return NULL;
}

static void concurrent_writers_of_one_id_store_exactly_one_blob(void **state)
{
    struct fixture *f = *state;
    enum { N = 8 };
    struct racer r[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct racer){.s = f->s, .variant = i % 2};
        assert_int_equal(pthread_create(&t[i], NULL, race_write, &r[i]), 0);
    }
    int ok[2] = {0, 0}, exist = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        if (r[i].result == HS_OK)
            ok[r[i].variant]++;
        else if (r[i].result == HS_EEXIST)
            exist++;
    }
    /* all writers of the winning content succeed, all of the other content get EEXIST */
    assert_true((ok[0] == N / 2 && ok[1] == 0) || (ok[1] == N / 2 && ok[0] == 0));
    assert_int_equal(exist, N / 2);
    struct hs_blob_stats st = stats(f);
    assert_int_equal(st.blobs, 1);
    assert_int_equal(st.payload_bytes, 4096);
    assert_int_equal(count_temp_files(f), 0);
    uint8_t *back = NULL;
    int64_t len;
    assert_int_equal(get_blob(f->s, "89ab.0.0", &back, &len), HS_OK);
    free(back);
}

struct reader {
    struct hs_blob_store *s;
    enum hs_err result;
};

static void *race_read(void *arg)
{
    struct reader *r = arg;
    int fd = -1;
    r->result = hs_blob_open_verified(r->s, "abab.0", &fd, NULL, NULL, NULL);
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void concurrent_readers_of_a_corrupt_blob_quarantine_and_log_it_once(void **state)
{
    struct fixture *f = *state;
    put_thousand(f, "abab.0");
    flip_byte(f, "abab.0", 700);
    /* capture stderr, where the log lines go */
    char log_path[128];
    snprintf(log_path, sizeof log_path, "%s/stderr.log", f->dir);
    int log_fd = open(log_path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    int saved = dup(STDERR_FILENO);
    assert_true(log_fd >= 0 && saved >= 0);
    dup2(log_fd, STDERR_FILENO);
    enum { N = 6 };
    struct reader r[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct reader){.s = f->s};
        assert_int_equal(pthread_create(&t[i], NULL, race_read, &r[i]), 0);
    }
    int corrupt = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_true(r[i].result == HS_ECORRUPT || r[i].result == HS_ENOENT);
        corrupt += r[i].result == HS_ECORRUPT;
    }
    dup2(saved, STDERR_FILENO);
    close(saved);
    char text[8192] = {0};
    assert_true(pread(log_fd, text, sizeof text - 1, 0) > 0);
    close(log_fd);
    int lines = 0;
    for (const char *p = text; (p = strstr(p, "evt=blob_quarantined")) != NULL; p++)
        lines++;
    assert_int_equal(lines, 1);
    assert_true(corrupt >= 1);
    struct hs_blob_stats st = stats(f);
    assert_int_equal(st.blobs, 0);
    assert_int_equal(st.payload_bytes, 0);
    assert_int_equal(st.quarantined, 1);
    assert_int_equal(count_files(f, "quarantine"), 1);
}

static void inspect_file_reports_header_and_verdict(void **state)
{
    struct fixture *f = *state;
    put_thousand(f, "9abc.1.2");
    char path[512];
    blob_path(f, "9abc.1.2", path, sizeof path);
    struct hs_blob_inspection in;
    assert_int_equal(hs_blob_inspect_file(path, &in), HS_OK);
    assert_int_equal(in.verdict, HS_OK);
    assert_null(in.problem);
    assert_true(in.header_ok && in.payload_checked);
    assert_string_equal(in.header.id, "9abc.1.2");
    assert_int_equal(in.header.payload_bytes, 1000);
    assert_int_equal(in.header.header_bytes, 44 + 8);
    assert_int_equal(in.file_bytes, 1052);
    assert_int_equal(in.payload_crc_actual, in.header.payload_crc);
    assert_true(in.header.created_ms > 0);
    flip_byte(f, "9abc.1.2", 900);
    assert_int_equal(hs_blob_inspect_file(path, &in), HS_OK);
    assert_int_equal(in.verdict, HS_ECORRUPT);
    assert_string_equal(in.problem, "payload crc mismatch");
    assert_true(in.header_ok && in.payload_checked);
    assert_true(in.payload_crc_actual != in.header.payload_crc);
    assert_int_equal(truncate(path, 1000), 0);
    assert_int_equal(hs_blob_inspect_file(path, &in), HS_OK);
    assert_int_equal(in.verdict, HS_ECORRUPT);
    assert_true(in.header_ok);
    assert_false(in.payload_checked);
    flip_byte(f, "9abc.1.2", 1);
    assert_int_equal(hs_blob_inspect_file(path, &in), HS_OK);
    assert_false(in.header_ok);
    assert_string_equal(in.problem, "bad magic");
    assert_int_equal(hs_blob_inspect_file("/nonexistent/blob", &in), HS_ENOENT);
}

static void header_encode_decode_round_trip_and_reject_damage(void **state)
{
    (void)state;
    struct hs_blob_header h = {
        .payload_bytes = 123456789012LL, .payload_crc = 0xdeadbeef, .created_ms = 1790000000000LL};
    snprintf(h.id, sizeof h.id, "%s", "0123abcd.4.5");
    uint8_t buf[HS_BLOB_HEADER_MAX_BYTES];
    size_t n = hs_blob_header_encode(&h, buf);
    assert_int_equal(n, 44 + 12);
    assert_memory_equal(buf, "HSBLOB\r\n\x01\x00\x38\x00", 12); /* magic, v1, H = 56 LE */
    assert_int_equal(buf[24], 0xef);                            /* CRC little-endian */
    struct hs_blob_header d;
    const char *problem = NULL;
    assert_int_equal(hs_blob_header_decode(buf, n, &d, &problem), HS_OK);
    assert_int_equal(d.version, 1);
    assert_int_equal(d.header_bytes, n);
    assert_int_equal(d.payload_bytes, h.payload_bytes);
    assert_int_equal(d.payload_crc, h.payload_crc);
    assert_int_equal(d.created_ms, h.created_ms);
    assert_string_equal(d.id, h.id);
    for (size_t len = 0; len < n; len++)
        assert_int_equal(hs_blob_header_decode(buf, len, &d, NULL), HS_ECORRUPT);
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (uint8_t)(1u << bit);
            assert_int_equal(hs_blob_header_decode(buf, n, &d, &problem), HS_ECORRUPT);
            assert_non_null(problem);
            buf[i] ^= (uint8_t)(1u << bit);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_of_empty_one_byte_and_large_blobs_without_fsync,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(round_trip_of_empty_one_byte_and_large_blobs_with_fsync,
                                        setup_fsync, teardown),
        cmocka_unit_test_setup_teardown(streaming_appends_of_unknown_length_store_the_concatenation,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(declared_length_mismatch_stores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(crc_mismatch_on_commit_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(commit_past_the_deadline_publishes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            temp_files_of_concurrent_writes_spread_over_the_slot_directories, setup, teardown),
        cmocka_unit_test_setup_teardown(abort_removes_the_temp_file, setup, teardown),
        cmocka_unit_test_setup_teardown(small_blob_touches_the_disk_only_at_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(concurrent_commits_share_directory_fsyncs_and_all_land,
                                        setup_fsync, teardown),
        cmocka_unit_test_setup_teardown(
            rewrite_with_same_content_is_ok_and_different_content_is_eexist, setup_fsync, teardown),
        cmocka_unit_test_setup_teardown(invalid_ids_are_rejected_before_any_path_is_built, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(flipped_payload_byte_is_corrupt_and_quarantined, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(flipped_header_byte_is_corrupt_and_quarantined, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(truncated_file_is_corrupt_and_quarantined, setup, teardown),
        cmocka_unit_test_setup_teardown(
            read_small_returns_verified_payload_or_etoobig_and_quarantines_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(repeated_quarantine_of_one_id_keeps_both_copies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            rewrite_over_a_corrupt_header_quarantines_it_and_stores_the_new_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(
            open_removes_temp_files_and_counts_and_checks_existing_blobs, setup, teardown),
        cmocka_unit_test_setup_teardown(reserve_refuses_writes_with_enospc, setup, teardown),
        cmocka_unit_test_setup_teardown(max_blob_bytes_refuses_bigger_blobs_with_etoobig, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(listing_pages_cover_every_blob_exactly_once_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(listing_an_empty_store_returns_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_removes_the_blob_and_uncounts_it, setup_fsync,
                                        teardown),
        cmocka_unit_test_setup_teardown(concurrent_writers_of_one_id_store_exactly_one_blob, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            concurrent_readers_of_a_corrupt_blob_quarantine_and_log_it_once, setup, teardown),
        cmocka_unit_test_setup_teardown(inspect_file_reports_header_and_verdict, setup, teardown),
        cmocka_unit_test(header_encode_decode_round_trip_and_reject_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
