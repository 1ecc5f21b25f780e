/* test_s3_rules.c - the pure rules of the S3 object handlers (src/gateway/s3_rules.c):
 * conditional requests in RFC 9110 order, entity-tag lists, Content-Encoding without
 * aws-chunked, x-amz-copy-source parsing and the listing continuation token. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/s3_rules.h"

struct hdrs {
    const char *names[4];
    const char *values[4];
};

static const char *get(void *ctx, const char *name)
{
    const struct hdrs *h = ctx;
    for (size_t i = 0; i < 4 && h->names[i]; i++)
        if (strcasecmp(h->names[i], name) == 0)
            return h->values[i];
    return NULL;
}

#define ETAG  "5d41402abc4b2a76b9719d911017c592"
#define MTIME 1765085400 /* Sun, 07 Dec 2025 05:30:00 GMT */
#define AT    "Sun, 07 Dec 2025 05:30:00 GMT"
#define PAST  "Sat, 01 Jan 2000 00:00:00 GMT"
#define LATER "Sun, 07 Dec 2025 06:30:00 GMT"

static void conditions_follow_rfc_9110_order(void **state)
{
    (void)state;
    static const struct {
        struct hdrs h;
        enum hs_s3_cond want;
    } cases[] = {
        {{{NULL}, {NULL}}, HS_S3_COND_OK},
        {{{"If-Match"}, {"\"" ETAG "\""}}, HS_S3_COND_OK},
        {{{"If-Match"}, {ETAG}}, HS_S3_COND_OK}, /* unquoted, as some clients send it */
        {{{"If-Match"}, {"\"x\", \"" ETAG "\""}}, HS_S3_COND_OK},
        {{{"If-Match"}, {"*"}}, HS_S3_COND_OK},
        {{{"If-Match"}, {"\"x\""}}, HS_S3_COND_FAILED},
        {{{"If-Unmodified-Since"}, {PAST}}, HS_S3_COND_FAILED},
        {{{"If-Unmodified-Since"}, {AT}}, HS_S3_COND_OK},
        {{{"If-Unmodified-Since"}, {"not a date"}}, HS_S3_COND_OK},
        {{{"If-None-Match"}, {"W/\"" ETAG "\""}}, HS_S3_COND_NOT_MODIFIED},
        {{{"If-None-Match"}, {"*"}}, HS_S3_COND_NOT_MODIFIED},
        {{{"If-None-Match"}, {"\"x\""}}, HS_S3_COND_OK},
        {{{"If-Modified-Since"}, {AT}}, HS_S3_COND_NOT_MODIFIED},
        {{{"If-Modified-Since"}, {LATER}}, HS_S3_COND_NOT_MODIFIED},
        {{{"If-Modified-Since"}, {PAST}}, HS_S3_COND_OK},
        /* If-Match present: If-Unmodified-Since is not evaluated */
        {{{"If-Match", "If-Unmodified-Since"}, {"\"" ETAG "\"", PAST}}, HS_S3_COND_OK},
        /* If-None-Match present: If-Modified-Since is not evaluated */
        {{{"If-None-Match", "If-Modified-Since"}, {"\"x\"", AT}}, HS_S3_COND_OK},
        /* 412 before 304 */
        {{{"If-Match", "If-None-Match"}, {"\"x\"", "\"" ETAG "\""}}, HS_S3_COND_FAILED},
        {{{"If-Unmodified-Since", "If-None-Match"}, {PAST, "*"}}, HS_S3_COND_FAILED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum hs_s3_cond got = hs_s3_cond_eval(get, (void *)&cases[i].h, "", ETAG, MTIME);
        if (got != cases[i].want)
            fail_msg("case %zu: got %d, want %d", i, (int)got, (int)cases[i].want);
    }
    /* the copy-source form reads the prefixed names only */
    struct hdrs copy = {{"x-amz-copy-source-if-match", "If-Match"}, {"\"x\"", "\"" ETAG "\""}};
    assert_int_equal(hs_s3_cond_eval(get, &copy, "x-amz-copy-source-", ETAG, MTIME),
                     HS_S3_COND_FAILED);
    assert_int_equal(hs_s3_cond_eval(get, &copy, "", ETAG, MTIME), HS_S3_COND_OK);
}

static void etag_lists_are_compared_as_strings(void **state)
{
    (void)state;
    assert_true(hs_s3_etag_listed("\"a\",\"b\"", "b"));
    assert_true(hs_s3_etag_listed(" W/\"b\" ", "b"));
    assert_true(hs_s3_etag_listed("a, b", "b"));
    assert_false(hs_s3_etag_listed("\"ab\"", "b"));
    assert_false(hs_s3_etag_listed("\"b", "b"));
    assert_false(hs_s3_etag_listed("", "b"));
    assert_true(hs_s3_etag_listed("\"a\", *", "b"));
}

static void content_encoding_loses_only_aws_chunked(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"aws-chunked", NULL},
        {"AWS-Chunked , ", NULL},
        {"gzip", "gzip"},
        {"aws-chunked,gzip", "gzip"},
        {"gzip, aws-chunked", "gzip"},
        {"br, gzip", "br,gzip"},
        {"aws-chunkedx", "aws-chunkedx"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = hs_s3_content_encoding_dup(cases[i].in);
        if (cases[i].out)
            assert_string_equal(got, cases[i].out);
        else
            assert_null(got);
        free(got);
    }
}

static void copy_sources_are_decoded_once(void **state)
{
    (void)state;
    static const struct {
        const char *in, *bucket, *key;
    } ok[] = {
        {"/bkt/a/b", "bkt", "a/b"},
        {"bkt/a%20b%2Bc+d", "bkt", "a b+c+d"}, /* a literal '+' is a plus */
        {"/bkt/k%3Fx?versionId=null", "bkt", "k?x"},
        {"bkt/%C3%BC", "bkt", "\xc3\xbc"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *b = NULL, *k = NULL;
        size_t klen = 0;
        const char *why = NULL;
        assert_true(hs_s3_copy_source_parse(ok[i].in, &b, &k, &klen, &why));
        assert_string_equal(b, ok[i].bucket);
        assert_string_equal(k, ok[i].key);
        assert_int_equal(klen, strlen(ok[i].key));
        free(b);
        free(k);
    }
    static const char *const bad[] = {"", "bkt", "/bkt/", "//k", "bkt/k?versionId=3", "bkt/a%00b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *b = NULL, *k = NULL;
        size_t klen = 0;
        const char *why = NULL;
        if (hs_s3_copy_source_parse(bad[i], &b, &k, &klen, &why))
            fail_msg("'%s' was accepted", bad[i]);
        assert_non_null(why);
    }
}

static void list_tokens_round_trip_and_refuse_garbage(void **state)
{
    (void)state;
    const char *keys[] = {"a", "dir/sub/", "\xc3\xbc +&<"};
    for (size_t i = 0; i < 3; i++) {
        char *t = hs_s3_list_token_encode(keys[i]);
        char *k = hs_s3_list_token_decode(t);
        assert_string_equal(k, keys[i]);
        free(t);
        free(k);
    }
    assert_null(hs_s3_list_token_decode(""));
    assert_null(hs_s3_list_token_decode("abc"));
    assert_null(hs_s3_list_token_decode("zz"));
    assert_null(hs_s3_list_token_decode("6100")); /* a NUL inside */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conditions_follow_rfc_9110_order),
        cmocka_unit_test(etag_lists_are_compared_as_strings),
        cmocka_unit_test(content_encoding_loses_only_aws_chunked),
        cmocka_unit_test(copy_sources_are_decoded_once),
        cmocka_unit_test(list_tokens_round_trip_and_refuse_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
