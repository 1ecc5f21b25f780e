/* test_s3_map.c - the S3 <-> native mapping of the gateway (s3_map.c, docs/s3.md): bucket b and
 * key k are the native object "b/k" (and back), keys that would not make a valid native key are
 * refused, and the storage-class table resolves to the documented strategies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/s3_api.h"
#include "hs/arena.h"
#include "hs/banned.h"

static void native_key_is_bucket_slash_key_and_back(void **state)
{
    (void)state;
    struct hs_arena *a = hs_arena_new();
    const char *nk = NULL;
    size_t n = 0;
    assert_int_equal(hs_s3_native_key(a, "photos", "2025/01/cat.jpg", 15, &nk, &n), HS_OK);
    assert_string_equal(nk, "photos/2025/01/cat.jpg");
    assert_int_equal(n, strlen(nk));
    assert_string_equal(hs_s3_key_of_native("photos", nk), "2025/01/cat.jpg");
    assert_null(hs_s3_key_of_native("photo", nk));
    assert_null(hs_s3_key_of_native("photos", "photos/"));
    /* keys are taken as they are: a trailing slash, dots and spaces stay */
    assert_int_equal(hs_s3_native_key(a, "b1x", "dir/ ../x/", 10, &nk, &n), HS_OK);
    assert_string_equal(nk, "b1x/dir/ ../x/");
    hs_arena_free(a);
}

static void keys_that_make_no_valid_native_key_are_refused(void **state)
{
    (void)state;
    struct hs_arena *a = hs_arena_new();
    const char *nk = "untouched";
    size_t n = 7;
    char long_key[1100];
    memset(long_key, 'k', sizeof long_key);
    /* bucket "abc" + '/' + 1020 bytes = 1024: the longest key that fits */
    assert_int_equal(hs_s3_native_key(a, "abc", long_key, 1020, &nk, &n), HS_OK);
    nk = "untouched";
    assert_int_equal(hs_s3_native_key(a, "abc", long_key, 1021, &nk, &n), HS_EINVAL);
    assert_int_equal(hs_s3_native_key(a, "abc", "a\x01z", 3, &nk, &n), HS_EINVAL);
    assert_int_equal(hs_s3_native_key(a, "abc", "\xff\xfe", 2, &nk, &n), HS_EINVAL);
    assert_int_equal(hs_s3_native_key(a, "abc", "", 0, &nk, &n), HS_EINVAL);
    assert_string_equal(nk, "untouched");
    hs_arena_free(a);
}

static void storage_classes_resolve_to_the_documented_strategies(void **state)
{
    (void)state;
    struct hs_s3_bucket_record hybrid = {.name = "docs", .strategy = HS_STRATEGY_FIELD_HYBRID};
    enum hs_strategy s = HS_STRATEGY_EC;
    assert_int_equal(hs_s3_strategy_resolve(NULL, &hybrid, &s), HS_OK);
    assert_int_equal(s, HS_STRATEGY_FIELD_HYBRID);
    assert_int_equal(hs_s3_strategy_resolve("STANDARD", &hybrid, &s), HS_OK);
    assert_int_equal(s, HS_STRATEGY_FIELD_HYBRID);
    assert_int_equal(hs_s3_strategy_resolve(NULL, NULL, &s), HS_OK);
    assert_int_equal(s, 0);
    static const struct {
        const char *cls;
        enum hs_strategy want;
    } rows[] = {
        {"REDUCED_REDUNDANCY", HS_STRATEGY_REPLICATION},
        {"STANDARD_IA", HS_STRATEGY_EC},
        {"ONEZONE_IA", HS_STRATEGY_EC},
        {"GLACIER_IR", HS_STRATEGY_EC},
        {"GLACIER", HS_STRATEGY_EC},
        {"DEEP_ARCHIVE", HS_STRATEGY_EC},
        {"INTELLIGENT_TIERING", 0},
        {"AUTO", 0},
        {"REPLICATION", HS_STRATEGY_REPLICATION},
        {"EC", HS_STRATEGY_EC},
        {"FIELD_HYBRID", HS_STRATEGY_FIELD_HYBRID},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        assert_int_equal(hs_s3_strategy_resolve(rows[i].cls, &hybrid, &s), HS_OK);
        assert_int_equal(s, rows[i].want);
    }
    s = HS_STRATEGY_EC;
    assert_int_equal(hs_s3_strategy_resolve("OUTPOSTS", &hybrid, &s), HS_EINVAL);
    assert_int_equal(hs_s3_strategy_resolve("standard", &hybrid, &s), HS_EINVAL);
    assert_int_equal(s, HS_STRATEGY_EC);
    assert_string_equal(hs_s3_storage_class_of(HS_STRATEGY_EC), "STANDARD");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(native_key_is_bucket_slash_key_and_back),
        cmocka_unit_test(keys_that_make_no_valid_native_key_are_refused),
        cmocka_unit_test(storage_classes_resolve_to_the_documented_strategies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
