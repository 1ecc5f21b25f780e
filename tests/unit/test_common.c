/* test_common.c - the small pieces of src/common: hs_buf (growth, cap, alignment, detach),
 * hs_arena (many and large allocations, deferred cleanups in reverse order), the hs_err table,
 * log level names, UTC formatting and the allocation wrappers. Config has its own test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs/arena.h"
#include "hs/buf.h"
#include "hs/clock.h"
#include "hs/csv.h"
#include "hs/err.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/utf8.h"
#include "hs/banned.h"

static bool aligned64(const void *p)
{
    return ((uintptr_t)p & 63) == 0;
}

/* ---- hs_buf ---- */

static void buf_append_grows_and_keeps_every_byte(void **state)
{
    (void)state;
    struct hs_buf b;
    hs_buf_init(&b, 0);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    uint8_t chunk[1000];
    for (int round = 0; round < 100; round++) {
        memset(chunk, round, sizeof chunk);
        assert_int_equal(hs_buf_append(&b, chunk, sizeof chunk), HS_OK);
        assert_true(aligned64(b.data));
        assert_true(b.cap > b.len);
    }
    assert_int_equal(b.len, 100 * sizeof chunk);
    for (size_t i = 0; i < b.len; i++)
        if (b.data[i] != (uint8_t)(i / sizeof chunk))
            fail_msg("byte %zu is %u", i, b.data[i]);
    assert_int_equal(hs_buf_append(&b, NULL, 0), HS_OK);
    assert_int_equal(b.len, 100 * sizeof chunk);
    hs_buf_release(&b);
    assert_null(b.data);
    hs_buf_release(NULL);
}

static void buf_printf_appends_and_leaves_a_nul_after_len(void **state)
{
    (void)state;
    struct hs_buf b;
    hs_buf_init(&b, 0);
    assert_int_equal(hs_buf_printf(&b, "k=%d", 42), HS_OK);
    assert_int_equal(hs_buf_printf(&b, " s='%s'", "x y"), HS_OK);
    assert_int_equal(b.len, strlen("k=42 s='x y'"));
    assert_string_equal((const char *)b.data, "k=42 s='x y'");
    assert_int_equal(hs_buf_printf(&b, "%s", ""), HS_OK);
    assert_int_equal(b.len, strlen("k=42 s='x y'"));
    /* longer than the first block: the second vsnprintf must see the grown buffer */
    char big[700];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(hs_buf_printf(&b, "%s", big), HS_OK);
    assert_int_equal(b.len, strlen("k=42 s='x y'") + sizeof big - 1);
    assert_int_equal(b.data[b.len], '\0');
    hs_buf_release(&b);
}

static void buf_reserve_past_cap_returns_etoobig_and_leaves_buffer_unchanged(void **state)
{
    (void)state;
    struct hs_buf b;
    hs_buf_init(&b, 100);
    uint8_t data[100];
    memset(data, 7, sizeof data);
    assert_int_equal(hs_buf_append(&b, data, 60), HS_OK);
    uint8_t *before = b.data;
    size_t cap = b.cap;
    assert_int_equal(hs_buf_reserve(&b, 41), HS_ETOOBIG);
    assert_int_equal(hs_buf_append(&b, data, 41), HS_ETOOBIG);
    assert_int_equal(hs_buf_printf(&b, "%041d", 1), HS_ETOOBIG);
    assert_int_equal(hs_buf_reserve(&b, SIZE_MAX), HS_ETOOBIG);
    assert_ptr_equal(b.data, before);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.len, 60);
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(b.data[i], 7);
    /* exactly up to the cap is fine */
    assert_int_equal(hs_buf_append(&b, data, 40), HS_OK);
    assert_int_equal(b.len, 100);
    assert_int_equal(hs_buf_append(&b, data, 1), HS_ETOOBIG);
    assert_int_equal(b.len, 100);
    hs_buf_release(&b);
}

static void buf_reserve_without_cap_refuses_overflowing_sizes(void **state)
{
    (void)state;
    struct hs_buf b;
    hs_buf_init(&b, SIZE_MAX); /* "no real cap": must not wrap max_bytes + 1 to 0 */
    assert_int_equal(hs_buf_append(&b, "abc", 3), HS_OK);
    assert_true(b.cap >= 4);
    assert_memory_equal(b.data, "abc", 3);
    assert_int_equal(hs_buf_reserve(&b, SIZE_MAX - 2), HS_ETOOBIG);
    hs_buf_release(&b);
}

static void buf_detach_hands_over_memory_and_empties_buffer(void **state)
{
    (void)state;
    struct hs_buf b;
    hs_buf_init(&b, 0);
    assert_int_equal(hs_buf_append(&b, "hello", 5), HS_OK);
    size_t len = 0;
    uint8_t *d = hs_buf_detach(&b, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(d, "hello", 5);
    assert_true(aligned64(d));
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    free(d);
    /* the buffer is usable again */
    assert_int_equal(hs_buf_append(&b, "x", 1), HS_OK);
    assert_null(hs_buf_detach(&(struct hs_buf){0}, NULL));
    hs_buf_release(&b);
}

static void buf_reset_keeps_memory(void **state)
{
    (void)state;
    struct hs_buf b;
    hs_buf_init(&b, 0);
    assert_int_equal(hs_buf_reserve(&b, 5000), HS_OK);
    assert_true(aligned64(b.data));
    uint8_t *d = b.data;
    assert_int_equal(hs_buf_append(&b, "abc", 3), HS_OK);
    hs_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, d);
    assert_int_equal(hs_buf_append(&b, "xy", 2), HS_OK);
    assert_ptr_equal(b.data, d);
    hs_buf_release(&b);
}

/* ---- hs_arena ---- */

static void arena_many_allocations_are_zeroed_aligned_and_disjoint(void **state)
{
    (void)state;
    struct hs_arena *a = hs_arena_new();
    enum { N = 5000 };
    unsigned char **ptrs = calloc(N, sizeof *ptrs);
    assert_non_null(ptrs);
    for (size_t i = 0; i < N; i++) {
        size_t n = 1 + i % 97;
        ptrs[i] = hs_arena_alloc(a, n);
        assert_true(((uintptr_t)ptrs[i] & 15) == 0);
        for (size_t k = 0; k < n; k++)
            assert_int_equal(ptrs[i][k], 0);
        memset(ptrs[i], (int)(i & 0xff), n);
    }
    /* nothing overlapped: every allocation still holds its own pattern */
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; k < 1 + i % 97; k++)
            if (ptrs[i][k] != (unsigned char)(i & 0xff))
                fail_msg("allocation %zu byte %zu overwritten", i, k);
    assert_non_null(hs_arena_alloc(a, 0));
    free(ptrs);
    hs_arena_free(a);
    hs_arena_free(NULL);
}

static void arena_large_allocation_gets_its_own_block(void **state)
{
    (void)state;
    struct hs_arena *a = hs_arena_new();
    char *small1 = hs_arena_alloc(a, 16);
    unsigned char *big = hs_arena_alloc(a, 1 << 20);
    for (size_t i = 0; i < 1 << 20; i++)
        if (big[i] != 0)
            fail_msg("big byte %zu not zero", i);
    memset(big, 0xab, 1 << 20);
    char *small2 = hs_arena_alloc(a, 16);
    /* small allocations continue in the standard block, right after the first one */
    assert_ptr_equal(small2, small1 + 16);
    assert_true(small2 + 16 <= (char *)big || small2 >= (char *)big + (1 << 20));
    unsigned char *big2 = hs_arena_alloc(a, 5000);
    memset(big2, 0xcd, 5000);
    assert_int_equal(big[(1 << 20) - 1], 0xab);
    hs_arena_free(a);
}

static int cleanup_order[8];
static int cleanup_count;

static void record_cleanup(void *p)
{
    cleanup_order[cleanup_count++] = *(int *)p;
}

static void arena_defer_runs_cleanups_in_reverse_order(void **state)
{
    (void)state;
    static int ids[] = {1, 2, 3, 4};
    cleanup_count = 0;
    struct hs_arena *a = hs_arena_new();
    for (size_t i = 0; i < 4; i++) {
        hs_arena_defer(a, record_cleanup, &ids[i]);
        (void)hs_arena_alloc(a, 3000); /* cleanups spread over several blocks */
    }
    assert_int_equal(cleanup_count, 0);
    hs_arena_free(a);
    assert_int_equal(cleanup_count, 4);
    assert_int_equal(cleanup_order[0], 4);
    assert_int_equal(cleanup_order[1], 3);
    assert_int_equal(cleanup_order[2], 2);
    assert_int_equal(cleanup_order[3], 1);
}

static void arena_strdup_and_printf_copy_into_the_arena(void **state)
{
    (void)state;
    struct hs_arena *a = hs_arena_new();
    char src[] = "object/key";
    char *d = hs_arena_strdup(a, src);
    src[0] = 'X';
    assert_string_equal(d, "object/key");
    assert_string_equal(hs_arena_strndup(a, "abcdef", 3), "abc");
    assert_string_equal(hs_arena_strndup(a, "ab", 10), "ab");
    assert_string_equal(hs_arena_printf(a, "%s=%d", "shard", 3), "shard=3");
    assert_string_equal(hs_arena_printf(a, "%s", ""), "");
    char long_text[3000];
    memset(long_text, 'q', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    assert_string_equal(hs_arena_printf(a, "%s", long_text), long_text);
    hs_arena_free(a);
}

/* ---- hs_err, log, clock, mem ---- */

static void err_every_value_has_unique_name_text_and_status(void **state)
{
    (void)state;
    for (int e = 0; e < HS_ERR_COUNT_; e++) {
        const char *name = hs_err_name((enum hs_err)e);
        assert_non_null(name);
        assert_string_not_equal(name, "EUNKNOWN");
        assert_true(strlen(hs_strerror((enum hs_err)e)) > 0);
        assert_string_not_equal(hs_strerror((enum hs_err)e), "unknown error");
        int st = hs_err_http_status((enum hs_err)e);
        assert_true(st >= 200 && st <= 599);
        for (int f = 0; f < e; f++)
            if (strcmp(name, hs_err_name((enum hs_err)f)) == 0)
                fail_msg("errors %d and %d are both named %s", f, e, name);
    }
    assert_string_equal(hs_err_name(HS_OK), "OK");
    assert_int_equal(hs_err_http_status(HS_OK), 200);
    assert_string_equal(hs_err_name(HS_ENOENT), "ENOENT");
    assert_int_equal(hs_err_http_status(HS_ENOENT), 404);
    assert_int_equal(hs_err_http_status(HS_ETOOBIG), 413);
    assert_int_equal(hs_err_http_status(HS_EUNAVAIL), 503);
    assert_int_equal(hs_err_http_status(HS_ENOSPC), 507);
    assert_int_equal(hs_err_http_status(HS_ECONFLICT), 409);
    assert_string_equal(hs_err_name(HS_ERR_COUNT_), "EUNKNOWN");
    /* HS_ERR_COUNT_ + 1 still fits the enum's bits (clang's -fsanitize=enum checks that) */
    enum hs_err unknown = (enum hs_err)(HS_ERR_COUNT_ + 1);
    assert_string_equal(hs_err_name(unknown), "EUNKNOWN");
    assert_string_equal(hs_strerror(unknown), "unknown error");
    assert_int_equal(hs_err_http_status(unknown), 500);
}

static void log_level_parse_knows_the_four_names(void **state)
{
    (void)state;
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        enum hs_log_level lvl = HS_LOG_ERROR;
        assert_true(hs_log_level_parse(names[i], &lvl));
        assert_int_equal(lvl, i);
    }
    enum hs_log_level lvl = HS_LOG_WARN;
    assert_false(hs_log_level_parse("warning", &lvl));
    assert_false(hs_log_level_parse("", &lvl));
    assert_false(hs_log_level_parse("INFO ", &lvl));
    assert_int_equal(lvl, HS_LOG_WARN);
    hs_log_init("test", HS_LOG_WARN);
    assert_true(hs_log_enabled(HS_LOG_ERROR));
    assert_true(hs_log_enabled(HS_LOG_WARN));
    assert_false(hs_log_enabled(HS_LOG_INFO));
    assert_false(hs_log_enabled(HS_LOG_DEBUG));
}

/* A set flag ends a sleep at once (a ten-minute sleep would time the test out otherwise). */
static void stop_flag_ends_a_sleep_and_can_be_rearmed(void **state)
{
    (void)state;
    struct hs_stop s = {0};
    assert_false(hs_stop_is_set(&s));
    assert_false(hs_stop_is_set(NULL));
    hs_clock_sleep_ms(1, &s);
    hs_stop_set(&s);
    assert_true(hs_stop_is_set(&s));
    hs_clock_sleep_ms(600000, &s);
    hs_stop_clear(&s);
    assert_false(hs_stop_is_set(&s));
}

static void clock_format_utc_of_known_timestamps(void **state)
{
    (void)state;
    char buf[40];
    hs_clock_format_utc(1795678800123, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-26T07:40:00.123Z");
    hs_clock_format_utc(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    hs_clock_format_utc(951868799999, buf, sizeof buf); /* leap day, last millisecond */
    assert_string_equal(buf, "2000-02-29T23:59:59.999Z");
    hs_clock_format_utc(-1, buf, sizeof buf); /* before the epoch: floor, not truncation */
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    assert_true(hs_clock_mono_ms() >= 0);
    assert_true(hs_clock_wall_ms() > 1700000000000);
}

static void mem_wrappers_copy_format_and_align(void **state)
{
    (void)state;
    char *s = hs_xstrndup("abcdef", 4);
    assert_string_equal(s, "abcd");
    free(s);
    s = hs_xasprintf("%s-%03d", "n", 7);
    assert_string_equal(s, "n-007");
    free(s);
    for (size_t n = 0; n < 300; n += 37) {
        void *p = hs_xaligned_alloc(n);
        assert_true(aligned64(p));
        memset(p, 1, n);
        free(p);
    }
    int *z = hs_xcalloc(10, sizeof *z);
    for (int i = 0; i < 10; i++)
        assert_int_equal(z[i], 0);
    free(z);
    free(hs_xcalloc(0, 8));
}

static void utf8_decode_accepts_scalars_and_rejects_the_rest(void **state)
{
    (void)state;
    uint32_t cp = 0;
    assert_int_equal(hs_utf8_decode((const unsigned char *)"A", 1, &cp), 1);
    assert_int_equal(cp, 0x41);
    assert_int_equal(hs_utf8_decode((const unsigned char *)"\xc3\xa9", 2, &cp), 2);
    assert_int_equal(cp, 0xe9);
    assert_int_equal(hs_utf8_decode((const unsigned char *)"\xe2\x82\xac", 3, &cp), 3);
    assert_int_equal(cp, 0x20ac);
    assert_int_equal(hs_utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1f600);
    assert_int_equal(hs_utf8_decode((const unsigned char *)"\xf4\x8f\xbf\xbf", 4, NULL), 4);
    /* overlong, surrogate, above U+10FFFF, stray continuation, truncated */
    assert_int_equal(hs_utf8_decode((const unsigned char *)"\xc0\xaf", 2, NULL), 0);
    assert_int_equal(hs_utf8_decode((const unsigned char *)"\xe0\x80\xaf", 3, NULL), 0);
    assert_int_equal(hs_utf8_decode((const unsigned char *)"\xed\xa0\x80", 3, NULL), 0);
    assert_int_equal(hs_utf8_decode((const unsigned char *)"\xf4\x90\x80\x80", 4, NULL), 0);
    assert_int_equal(hs_utf8_decode((const unsigned char *)"\x80", 1, NULL), 0);
    assert_int_equal(hs_utf8_decode((const unsigned char *)"\xe2\x82", 2, NULL), 0);
}

static void csv_next_trims_and_skips_empty_items(void **state)
{
    (void)state;
    const char *p = " a ,\tbc\t,, ,d,", *item;
    size_t n;
    const char *want[] = {"a", "bc", "d"};
    for (size_t i = 0; i < 3; i++) {
        assert_true(hs_csv_next(&p, &item, &n));
        assert_int_equal(n, strlen(want[i]));
        assert_memory_equal(item, want[i], n);
    }
    assert_false(hs_csv_next(&p, &item, &n));
    assert_null(p);
    assert_false(hs_csv_next(&p, &item, &n)); /* stays at the end */
    p = "";
    assert_false(hs_csv_next(&p, &item, &n));
    p = " , ";
    assert_false(hs_csv_next(&p, &item, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_append_grows_and_keeps_every_byte),
        cmocka_unit_test(buf_printf_appends_and_leaves_a_nul_after_len),
        cmocka_unit_test(buf_reserve_past_cap_returns_etoobig_and_leaves_buffer_unchanged),
        cmocka_unit_test(buf_reserve_without_cap_refuses_overflowing_sizes),
        cmocka_unit_test(buf_detach_hands_over_memory_and_empties_buffer),
        cmocka_unit_test(buf_reset_keeps_memory),
        cmocka_unit_test(arena_many_allocations_are_zeroed_aligned_and_disjoint),
        cmocka_unit_test(arena_large_allocation_gets_its_own_block),
        cmocka_unit_test(arena_defer_runs_cleanups_in_reverse_order),
        cmocka_unit_test(arena_strdup_and_printf_copy_into_the_arena),
        cmocka_unit_test(err_every_value_has_unique_name_text_and_status),
        cmocka_unit_test(log_level_parse_knows_the_four_names),
        cmocka_unit_test(clock_format_utc_of_known_timestamps),
        cmocka_unit_test(stop_flag_ends_a_sleep_and_can_be_rearmed),
        cmocka_unit_test(mem_wrappers_copy_format_and_align),
        cmocka_unit_test(utf8_decode_accepts_scalars_and_rejects_the_rest),
        cmocka_unit_test(csv_next_trims_and_skips_empty_items),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
