/* test_s3_util.c - S3 helpers: bucket-name rules, HTTP / ISO-8601 / x-amz-date dates, the
 * listing and SigV4 URL encodings, percent-decoding, raw query lookup and key generation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hs/s3_util.h"
#include "hs/banned.h"

static void bucket_names_follow_s3_rules(void **state)
{
    (void)state;
    static const char *const good[] = {
        "abc",   "my-bucket", "my.bucket.name",
        "a1b",   "123",       "docexamplebucket1",
        "xn-ok", "a-b-c",     "012345678901234567890123456789012345678901234567890123456789012",
    };
    static const char *const bad[] = {
        "",
        "ab",
        "ABC",
        "my_bucket",
        "-abc",
        "abc-",
        ".abc",
        "abc.",
        "a..b",
        "a.-b",
        "a-.b",
        "192.168.5.4",
        "xn--abc",
        "sthree-abc",
        "amzn-s3-demo-x",
        "abc-s3alias",
        "abc--ol-s3",
        "abc--x-s3",
        "a b",
        "bucket/",
        "0123456789012345678901234567890123456789012345678901234567890123",
        "caf\xc3\xa9",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (!hs_s3_bucket_name_valid(good[i]))
            fail_msg("'%s' refused", good[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (hs_s3_bucket_name_valid(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
    }
    assert_false(hs_s3_bucket_name_valid(NULL));
}

static void http_dates_format_and_parse(void **state)
{
    (void)state;
    char out[HS_S3_HTTP_DATE_LEN + 1];
    hs_s3_time_http(784111777, out);
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    hs_s3_time_http(0, out);
    assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    int64_t t = 0;
    assert_true(hs_s3_time_parse_http("Sun, 06 Nov 1994 08:49:37 GMT", &t));
    assert_int_equal(t, 784111777);
    assert_true(hs_s3_time_parse_http("Sunday, 06-Nov-94 08:49:37 GMT", &t));
    assert_int_equal(t, 784111777);
    assert_true(hs_s3_time_parse_http("Sun Nov  6 08:49:37 1994", &t));
    assert_int_equal(t, 784111777);
    assert_true(hs_s3_time_parse_http("Mon, 07 Dec 2026 05:19:48 GMT", &t));
    hs_s3_time_http(t, out);
    assert_string_equal(out, "Mon, 07 Dec 2026 05:19:48 GMT");
    static const char *const bad[] = {
        "",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMTx",
        "1994-11-06T08:49:37Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t = 42;
        if (hs_s3_time_parse_http(bad[i], &t))
            fail_msg("'%s' parsed", bad[i]);
        assert_int_equal(t, 42);
    }
    assert_false(hs_s3_time_parse_http(NULL, &t));
}

static void iso_and_amz_dates(void **state)
{
    (void)state;
    char out[HS_S3_ISO_DATE_LEN + 1];
    hs_s3_time_iso8601(INT64_C(1735689600000), out);
    assert_string_equal(out, "2025-01-01T00:00:00.000Z");
    hs_s3_time_iso8601(INT64_C(1796620788123), out);
    assert_string_equal(out, "2026-12-07T05:19:48.123Z");
    int64_t t;
    assert_true(hs_s3_time_parse_amz("20250101T000000Z", &t));
    assert_int_equal(t, 1735689600);
    assert_false(hs_s3_time_parse_amz("20250101T000000", &t));
    assert_false(hs_s3_time_parse_amz("2025-01-01T00:00:00Z", &t));
    assert_false(hs_s3_time_parse_amz("20251301T000000Z", &t));
    assert_false(hs_s3_time_parse_amz("20250101T000000Zx", &t));
}

static const char *encode_listing(struct hs_buf *b, const char *s)
{
    hs_buf_reset(b);
    assert_int_equal(hs_s3_url_encode_listing(b, s, strlen(s)), HS_OK);
    assert_int_equal(hs_buf_append(b, "", 1), HS_OK);
    return (const char *)b->data;
}

static void listing_and_sigv4_encodings(void **state)
{
    (void)state;
    struct hs_buf b;
    hs_buf_init(&b, 0);
    assert_string_equal(encode_listing(&b, "dir/a b+c~_.-&=\xc3\xa9"),
                        "dir/a+b%2Bc~_.-%26%3D%C3%A9");
    assert_string_equal(encode_listing(&b, ""), "");
    hs_buf_reset(&b);
    const char *s = "a b/c+d~";
    assert_int_equal(hs_s3_url_encode_sigv4(&b, s, strlen(s), false), HS_OK);
    assert_int_equal(hs_s3_url_encode_sigv4(&b, s, strlen(s), true), HS_OK);
    assert_int_equal(hs_buf_append(&b, "", 1), HS_OK);
    assert_string_equal((const char *)b.data, "a%20b%2Fc%2Bd~a%20b/c%2Bd~");
    hs_buf_release(&b);
    /* a capped buffer */
    hs_buf_init(&b, 4);
    assert_int_equal(hs_s3_url_encode_listing(&b, "a b c", 5), HS_ETOOBIG);
    hs_buf_release(&b);
}

static void percent_decoding(void **state)
{
    (void)state;
    char out[64];
    const char *in = "a%20b+c%2Bd%zz%4";
    size_t n = hs_s3_url_decode(in, strlen(in), false, out);
    out[n] = '\0';
    assert_string_equal(out, "a b+c+d%zz%4");
    n = hs_s3_url_decode(in, strlen(in), true, out);
    out[n] = '\0';
    assert_string_equal(out, "a b c+d%zz%4");
    char inplace[] = "x%41%42";
    n = hs_s3_url_decode(inplace, strlen(inplace), false, inplace);
    assert_int_equal(n, 3);
    assert_memory_equal(inplace, "xAB", 3);
}

static void query_parameters_are_found_raw(void **state)
{
    (void)state;
    const char *q = "list-type=2&uploads&prefix=a%20b&empty=&x=1";
    const char *v;
    size_t n;
    assert_true(hs_s3_query_find(q, "prefix", &v, &n));
    assert_int_equal(n, 5);
    assert_memory_equal(v, "a%20b", 5);
    assert_true(hs_s3_query_find(q, "uploads", &v, &n));
    assert_int_equal(n, 0);
    assert_true(hs_s3_query_find(q, "empty", &v, &n));
    assert_int_equal(n, 0);
    assert_true(hs_s3_query_find(q, "x", &v, &n));
    assert_int_equal(n, 1);
    assert_false(hs_s3_query_find(q, "list", &v, &n));
    assert_false(hs_s3_query_find(q, "type", &v, &n));
    assert_false(hs_s3_query_find("", "x", &v, &n));
}

static void content_encoding_loses_aws_chunked(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"aws-chunked", ""},
        {"aws-chunked,gzip", "gzip"},
        {"gzip, AWS-Chunked", "gzip"},
        {" gzip , br ", "gzip,br"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        hs_s3_content_encoding_strip(cases[i][0], out);
        assert_string_equal(out, cases[i][1]);
        char inplace[64];
        snprintf(inplace, sizeof inplace, "%s", cases[i][0]);
        hs_s3_content_encoding_strip(inplace, inplace);
        assert_string_equal(inplace, cases[i][1]);
    }
}

static void generated_keys_have_the_documented_alphabet(void **state)
{
    (void)state;
    char a1[HS_S3_ACCESS_KEY_LEN + 1], s1[HS_S3_SECRET_LEN + 1];
    char a2[HS_S3_ACCESS_KEY_LEN + 1], s2[HS_S3_SECRET_LEN + 1];
    assert_int_equal(hs_s3_keys_generate(a1, s1), HS_OK);
    assert_int_equal(hs_s3_keys_generate(a2, s2), HS_OK);
    assert_int_equal(strlen(a1), HS_S3_ACCESS_KEY_LEN);
    assert_int_equal(strlen(s1), HS_S3_SECRET_LEN);
    assert_memory_equal(a1, "HS", 2);
    for (size_t i = 2; i < HS_S3_ACCESS_KEY_LEN; i++)
        assert_true((a1[i] >= 'A' && a1[i] <= 'Z') || (a1[i] >= '0' && a1[i] <= '9'));
    for (size_t i = 0; i < HS_S3_SECRET_LEN; i++)
        assert_true((s1[i] >= 'A' && s1[i] <= 'Z') || (s1[i] >= 'a' && s1[i] <= 'z') ||
                    (s1[i] >= '0' && s1[i] <= '9'));
    assert_string_not_equal(a1, a2);
    assert_string_not_equal(s1, s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_names_follow_s3_rules),
        cmocka_unit_test(http_dates_format_and_parse),
        cmocka_unit_test(iso_and_amz_dates),
        cmocka_unit_test(listing_and_sigv4_encodings),
        cmocka_unit_test(percent_decoding),
        cmocka_unit_test(query_parameters_are_found_raw),
        cmocka_unit_test(content_encoding_loses_aws_chunked),
        cmocka_unit_test(generated_keys_have_the_documented_alphabet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
