/* test_s3_records.c - the S3 records src/meta owns (s3_records.h): access keys and buckets. A
 * round trip of each, the identifier rules, every rule of the decoder refused with the output
 * untouched, unknown members ignored, every truncation refused, and the bucket permission
 * check of a key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs/s3_records.h"
#include "hs/banned.h"

#define KEY_ID "HSAKIA0123456789ABCD"
#define SECRET "s3cr3t/With+Odd=Chars0123456789"

static enum hs_err key_decode(const char *text, struct hs_s3_key_record *out)
{
    return hs_s3_key_record_decode(text, strlen(text), out);
}

static enum hs_err bucket_decode(const char *text, struct hs_s3_bucket_record *out)
{
    return hs_s3_bucket_record_decode(text, strlen(text), out);
}

static void key_record_round_trips_with_bucket_list(void **state)
{
    (void)state;
    char *buckets[] = {"photos", "logs.2025"};
    struct hs_s3_key_record k = {.id = KEY_ID,
                                 .secret = SECRET,
                                 .buckets = buckets,
                                 .n_buckets = 2,
                                 .mode = HS_S3_KEY_RO,
                                 .created_ms = 1700000000123,
                                 .comment = "ci \"robot\"\n"};
    char *text = hs_s3_key_record_encode(&k);
    struct hs_s3_key_record out = {0};
    assert_int_equal(key_decode(text, &out), HS_OK);
    assert_string_equal(out.id, KEY_ID);
    assert_string_equal(out.secret, SECRET);
    assert_false(out.all_buckets);
    assert_int_equal(out.n_buckets, 2);
    assert_string_equal(out.buckets[1], "logs.2025");
    assert_int_equal(out.mode, HS_S3_KEY_RO);
    assert_int_equal(out.created_ms, 1700000000123);
    assert_string_equal(out.comment, "ci \"robot\"\n");
    assert_true(hs_s3_key_allows_bucket(&out, "photos"));
    assert_false(hs_s3_key_allows_bucket(&out, "photo"));
    hs_s3_key_record_release(&out);
    free(text);
}

static void key_record_without_buckets_allows_every_bucket(void **state)
{
    (void)state;
    struct hs_s3_key_record k = {.id = KEY_ID, .secret = SECRET, .all_buckets = true};
    char *text = hs_s3_key_record_encode(&k);
    assert_null(strstr(text, "buckets"));
    struct hs_s3_key_record out = {0};
    assert_int_equal(key_decode(text, &out), HS_OK);
    assert_true(out.all_buckets);
    assert_int_equal(out.mode, HS_S3_KEY_RW);
    assert_true(hs_s3_key_allows_bucket(&out, "anything"));
    assert_null(out.comment);
    hs_s3_key_record_release(&out);
    free(text);
}

static void key_record_rules_are_refused_output_untouched(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "{\"v\":2,\"id\":\"" KEY_ID "\",\"secret\":\"" SECRET
        "\",\"mode\":\"rw\",\"created_ms\":1}",
        "{\"v\":1,\"id\":\"short\",\"secret\":\"" SECRET "\",\"mode\":\"rw\",\"created_ms\":1}",
        "{\"v\":1,\"id\":\"hsakia0123456789abcd\",\"secret\":\"" SECRET
        "\",\"mode\":\"rw\",\"created_ms\":1}",
        "{\"v\":1,\"id\":\"" KEY_ID "\",\"secret\":\"short\",\"mode\":\"rw\",\"created_ms\":1}",
        "{\"v\":1,\"id\":\"" KEY_ID "\",\"secret\":\"with space in it 0123\",\"mode\":\"rw\","
        "\"created_ms\":1}",
        "{\"v\":1,\"id\":\"" KEY_ID "\",\"secret\":\"" SECRET
        "\",\"mode\":\"wo\",\"created_ms\":1}",
        "{\"v\":1,\"id\":\"" KEY_ID "\",\"secret\":\"" SECRET
        "\",\"mode\":\"rw\",\"created_ms\":-1}",
        "{\"v\":1,\"id\":\"" KEY_ID "\",\"secret\":\"" SECRET "\",\"mode\":\"rw\",\"created_ms\":1,"
        "\"buckets\":[\"Bad/Name\"]}",
        "{\"v\":1,\"id\":\"" KEY_ID "\",\"secret\":\"" SECRET "\",\"mode\":\"rw\",\"created_ms\":1,"
        "\"buckets\":\"all\"}",
        "{\"v\":1,\"id\":\"" KEY_ID "\",\"secret\":\"" SECRET "\",\"mode\":\"rw\",\"created_ms\":1,"
        "\"comment\":7}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hs_s3_key_record out = {.id = (char *)"untouched"};
        assert_int_equal(key_decode(bad[i], &out), HS_EPROTO);
        assert_string_equal(out.id, "untouched");
    }
}

static void bucket_record_round_trips_and_ignores_unknown_members(void **state)
{
    (void)state;
    struct hs_s3_bucket_record b = {.name = "my-bucket.x",
                                    .created_ms = 42,
                                    .strategy = HS_STRATEGY_FIELD_HYBRID,
                                    .public_read = true,
                                    .owner = KEY_ID};
    char *text = hs_s3_bucket_record_encode(&b);
    struct hs_s3_bucket_record out = {0};
    assert_int_equal(bucket_decode(text, &out), HS_OK);
    assert_string_equal(out.name, "my-bucket.x");
    assert_int_equal(out.created_ms, 42);
    assert_int_equal(out.strategy, HS_STRATEGY_FIELD_HYBRID);
    assert_true(out.public_read);
    assert_string_equal(out.owner, KEY_ID);
    hs_s3_bucket_record_release(&out);
    free(text);

    const char *newer = "{\"v\":1,\"name\":\"b1\",\"created_ms\":5,\"strategy\":\"auto\","
                        "\"future\":{\"x\":1}}";
    assert_int_equal(bucket_decode(newer, &out), HS_OK);
    assert_int_equal(out.strategy, 0);
    assert_false(out.public_read);
    assert_null(out.owner);
    hs_s3_bucket_record_release(&out);
}

static void bucket_record_rules_and_truncations_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"v\":1,\"name\":\"UPPER\",\"created_ms\":5,\"strategy\":\"auto\"}",
        "{\"v\":1,\"name\":\"a/b\",\"created_ms\":5,\"strategy\":\"auto\"}",
        "{\"v\":1,\"name\":\"b\",\"created_ms\":5,\"strategy\":\"raid5\"}",
        "{\"v\":1,\"name\":\"b\",\"created_ms\":5,\"strategy\":\"ec\",\"public_read\":1}",
        "{\"v\":1,\"name\":\"b\",\"strategy\":\"ec\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hs_s3_bucket_record out = {.created_ms = 77};
        assert_int_equal(bucket_decode(bad[i], &out), HS_EPROTO);
        assert_int_equal(out.created_ms, 77);
    }
    struct hs_s3_bucket_record b = {.name = "bkt", .created_ms = 1, .strategy = HS_STRATEGY_EC};
    char *text = hs_s3_bucket_record_encode(&b);
    for (size_t n = 0; n < strlen(text); n++) {
        struct hs_s3_bucket_record out = {0};
        assert_int_equal(hs_s3_bucket_record_decode(text, n, &out), HS_EPROTO);
    }
    free(text);
}

static void etcd_keys_follow_the_identifier_rules(void **state)
{
    (void)state;
    char *key = NULL;
    assert_int_equal(hs_meta_key_s3key(KEY_ID, &key), HS_OK);
    assert_string_equal(key, "/hybridstore/v1/s3keys/" KEY_ID);
    free(key);
    assert_int_equal(hs_meta_key_s3bucket("photos", &key), HS_OK);
    assert_string_equal(key, "/hybridstore/v1/s3buckets/photos");
    free(key);
    key = NULL;
    assert_int_equal(hs_meta_key_s3bucket("../x", &key), HS_EINVAL);
    assert_int_equal(hs_meta_key_s3key("AB", &key), HS_EINVAL);
    assert_null(key);
    enum hs_strategy s = HS_STRATEGY_EC;
    assert_true(hs_s3_strategy_parse("auto", &s));
    assert_int_equal(s, 0);
    assert_true(hs_s3_strategy_parse("replication", &s));
    assert_int_equal(s, HS_STRATEGY_REPLICATION);
    assert_false(hs_s3_strategy_parse("AUTO", &s));
    assert_string_equal(hs_s3_strategy_name(0), "auto");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_record_round_trips_with_bucket_list),
        cmocka_unit_test(key_record_without_buckets_allows_every_bucket),
        cmocka_unit_test(key_record_rules_are_refused_output_untouched),
        cmocka_unit_test(bucket_record_round_trips_and_ignores_unknown_members),
        cmocka_unit_test(bucket_record_rules_and_truncations_are_refused),
        cmocka_unit_test(etcd_keys_follow_the_identifier_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
