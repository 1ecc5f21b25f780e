/* test_s3_chunked.c - the aws-chunked decoder on the streaming vectors of s3_vectors.h (signed,
 * signed without Content-Encoding, signed trailer with CRLF and LF-only lines, botocore's
 * unsigned trailers): every split of the body, byte-at-a-time feeding, tampered chunk and trailer
 * signatures, truncation, oversized frame headers, length mismatches and trailer errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hs/s3_checksum.h"
#include "hs/s3_chunked.h"
#include "hs/s3_sigv4.h"
#include "s3_vectors.h"
#include "hs/banned.h"

static enum hs_err lookup(void *arg, const char *akid, char secret[HS_S3_SECRET_MAX + 1],
                          void **key_info)
{
    (void)arg;
    (void)key_info;
    if (strcmp(akid, S3V_AKID) != 0)
        return HS_ENOENT;
    snprintf(secret, HS_S3_SECRET_MAX + 1, "%s", S3V_SECRET);
    return HS_OK;
}

struct sink {
    uint8_t buf[8192];
    size_t len;
    bool refuse; /* the callback fails */
};

static enum hs_err on_data(void *arg, const uint8_t *data, size_t len)
{
    struct sink *s = arg;
    if (s->refuse)
        return HS_ETOOBIG;
    assert_true(s->len + len <= sizeof s->buf);
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return HS_OK;
}

static const struct s3v_case *find_case(const char *name)
{
    for (size_t i = 0; i < S3V_N_CASES; i++) {
        if (strcmp(s3v_cases[i].name, name) == 0)
            return &s3v_cases[i];
    }
    fail_msg("no vector '%s'", name);
    return NULL;
}

static const char *header(const struct s3v_case *c, const char *name)
{
    for (size_t i = 0; i < c->n_headers; i++) {
        if (strcasecmp(c->headers[i].name, name) == 0)
            return c->headers[i].value;
    }
    return NULL;
}

static void auth_of(const struct s3v_case *c, struct hs_s3_sigv4_result *res)
{
    struct hs_s3_header h[S3V_HEADERS_MAX];
    for (size_t i = 0; i < c->n_headers; i++) {
        h[i].name = c->headers[i].name;
        h[i].value = c->headers[i].value;
    }
    struct hs_s3_sigv4_request r = {.method = c->method,
                                    .target = c->target,
                                    .headers = h,
                                    .n_headers = c->n_headers,
                                    .now_s = c->now};
    struct hs_s3_sigv4_opts o = {.region = S3V_REGION, .lookup = lookup};
    assert_int_equal(hs_s3_sigv4_verify(&o, &r, res), HS_OK);
    assert_true(hs_s3_payload_is_streaming(res->payload));
}

static struct hs_s3_chunked *decoder(const struct s3v_case *c, struct hs_s3_sigv4_result *res,
                                     struct sink *s)
{
    struct hs_s3_chunked *d = NULL;
    struct hs_s3_chunked_opts o = {.auth = res,
                                   .decoded_length = res->decoded_content_length,
                                   .declared_trailers = header(c, "x-amz-trailer"),
                                   .on_data = on_data,
                                   .arg = s};
    memset(s, 0, sizeof *s);
    assert_int_equal(hs_s3_chunked_new(&o, &d), HS_OK);
    return d;
}

static bool is_streaming(const struct s3v_case *c)
{
    const char *v = header(c, "x-amz-content-sha256");
    return v != NULL && strncmp(v, "STREAMING-", 10) == 0;
}

/* Feeds body in two pieces split at `split`; returns finish's result. */
static enum hs_err run_split(const struct s3v_case *c, const uint8_t *body, size_t len,
                             size_t split, struct sink *s, struct hs_s3_chunked **out)
{
    struct hs_s3_sigv4_result res;
    auth_of(c, &res);
    struct hs_s3_chunked *d = decoder(c, &res, s);
    enum hs_err err = hs_s3_chunked_feed(d, body, split);
    if (err == HS_OK)
        err = hs_s3_chunked_feed(d, body + split, len - split);
    if (err == HS_OK)
        err = hs_s3_chunked_finish(d);
    *out = d;
    return err;
}

static void check_trailers(const struct s3v_case *c, struct hs_s3_chunked *d)
{
    size_t n;
    const struct hs_s3_trailer *t = hs_s3_chunked_trailers(d, &n);
    const char *declared = header(c, "x-amz-trailer");
    if (declared == NULL) {
        assert_int_equal(n, 0);
        return;
    }
    assert_int_equal(n, 1);
    assert_string_equal(t[0].name, declared);
    enum hs_s3_cksum_algo a;
    assert_true(hs_s3_cksum_parse_header(t[0].name, &a));
    uint8_t raw[HS_S3_CKSUM_RAW_MAX];
    assert_int_equal(hs_s3_cksum_compute(a, c->payload, c->payload_len, raw), HS_OK);
    assert_int_equal(hs_s3_cksum_check(a, t[0].value, raw), HS_S3_OK);
}

static void every_split_of_every_stream_decodes(void **state)
{
    (void)state;
    size_t streams = 0;
    for (size_t i = 0; i < S3V_N_CASES; i++) {
        const struct s3v_case *c = &s3v_cases[i];
        if (!is_streaming(c))
            continue;
        streams++;
        for (size_t split = 0; split <= c->body_len; split++) {
            struct sink s;
            struct hs_s3_chunked *d;
            enum hs_err err = run_split(c, (const uint8_t *)c->body, c->body_len, split, &s, &d);
            if (err != HS_OK)
                fail_msg("%s split %zu: %s", c->name, split, hs_s3_chunked_error_detail(d));
            assert_int_equal(s.len, c->payload_len);
            assert_memory_equal(s.buf, c->payload, c->payload_len);
            assert_int_equal(hs_s3_chunked_payload_bytes(d), c->payload_len);
            check_trailers(c, d);
            hs_s3_chunked_free(d);
        }
    }
    assert_true(streams >= 8);
}

static void byte_at_a_time_decodes(void **state)
{
    (void)state;
    const struct s3v_case *c = find_case("streaming_signed_trailer_lf");
    struct hs_s3_sigv4_result res;
    struct sink s;
    auth_of(c, &res);
    struct hs_s3_chunked *d = decoder(c, &res, &s);
    for (size_t i = 0; i < c->body_len; i++)
        assert_int_equal(hs_s3_chunked_feed(d, c->body + i, 1), HS_OK);
    assert_int_equal(hs_s3_chunked_finish(d), HS_OK);
    assert_memory_equal(s.buf, c->payload, c->payload_len);
    hs_s3_chunked_free(d);
}

/* Runs a modified body and expects the given failure. */
static void expect_failure(const struct s3v_case *c, const uint8_t *body, size_t len,
                           enum hs_err want_err, enum hs_s3_err want)
{
    struct sink s;
    struct hs_s3_chunked *d;
    enum hs_err err = run_split(c, body, len, len / 2, &s, &d);
    if (hs_s3_chunked_error(d) != want)
        fail_msg("%s: want %s, got %s (%s)", c->name, hs_s3_err_code(want),
                 hs_s3_err_code(hs_s3_chunked_error(d)), hs_s3_chunked_error_detail(d));
    assert_int_equal(err, want_err);
    /* sticky */
    assert_int_equal(hs_s3_chunked_feed(d, "x", 1), want_err);
    assert_int_equal(hs_s3_chunked_finish(d), want_err);
    hs_s3_chunked_free(d);
}

/* Bodies contain NUL bytes: search with memmem. */
static char *find(const void *hay, size_t len, const char *needle)
{
    char *p = memmem(hay, len, needle, strlen(needle));
    assert_non_null(p);
    return p;
}

static uint8_t *copy_body(const struct s3v_case *c)
{
    uint8_t *b = malloc(c->body_len + 64);
    memcpy(b, c->body, c->body_len);
    return b;
}

static void tampered_chunk_signature_or_data_fails(void **state)
{
    (void)state;
    const struct s3v_case *c = find_case("streaming_signed");
    uint8_t *b = copy_body(c);
    char *sig = find(b, c->body_len, "chunk-signature=") + 16;
    sig[5] = sig[5] == '0' ? '1' : '0';
    expect_failure(c, b, c->body_len, HS_EAUTH, HS_S3_SIGNATURE_DOES_NOT_MATCH);
    free(b);
    b = copy_body(c);
    char *data = find(b, c->body_len, "\r\n") + 2;
    data[7] ^= 1;
    expect_failure(c, b, c->body_len, HS_EAUTH, HS_S3_SIGNATURE_DOES_NOT_MATCH);
    free(b);
    /* the final chunk's signature */
    b = copy_body(c);
    char *last = find(b, c->body_len, "\r\n0;chunk-signature=") + 20;
    last[0] = last[0] == '0' ? '1' : '0';
    expect_failure(c, b, c->body_len, HS_EAUTH, HS_S3_SIGNATURE_DOES_NOT_MATCH);
    free(b);
    /* a chunk header without its chunk-signature extension */
    b = copy_body(c);
    find(b, c->body_len, ";chunk-signature")[15] = 'X';
    expect_failure(c, b, c->body_len, HS_EINVAL, HS_S3_SIGNATURE_DOES_NOT_MATCH);
    free(b);
}

static void dropped_chunk_breaks_the_signature_chain(void **state)
{
    (void)state;
    /* streaming_signed carries chunks of 200, 200 and 116 bytes: cut the second one out. The
     * third chunk's signature was chained from the second's, so it no longer matches. */
    const struct s3v_case *c = find_case("streaming_signed");
    uint8_t *b = copy_body(c);
    char *second = find(b, c->body_len, "\r\nc8;chunk-signature=") + 2;
    char *third = find(b, c->body_len, "\r\n74;chunk-signature=") + 2;
    size_t cut = (size_t)(third - second);
    memmove(second, third, c->body_len - (size_t)(third - (char *)b));
    struct hs_s3_sigv4_result res;
    struct sink s;
    auth_of(c, &res);
    res.decoded_content_length = -1;
    struct hs_s3_chunked *d = decoder(c, &res, &s);
    assert_int_equal(hs_s3_chunked_feed(d, b, c->body_len - cut), HS_EAUTH);
    assert_int_equal(hs_s3_chunked_error(d), HS_S3_SIGNATURE_DOES_NOT_MATCH);
    hs_s3_chunked_free(d);
    free(b);
}

static void tampered_trailer_fails(void **state)
{
    (void)state;
    const struct s3v_case *c = find_case("streaming_signed_trailer");
    uint8_t *b = copy_body(c);
    char *sig = find(b, c->body_len, "x-amz-trailer-signature:") + 24;
    sig[3] = sig[3] == 'a' ? 'b' : 'a';
    expect_failure(c, b, c->body_len, HS_EAUTH, HS_S3_SIGNATURE_DOES_NOT_MATCH);
    free(b);
    b = copy_body(c);
    char *val = find(b, c->body_len, "x-amz-checksum-crc32:") + 21;
    val[1] = val[1] == 'A' ? 'B' : 'A';
    expect_failure(c, b, c->body_len, HS_EAUTH, HS_S3_SIGNATURE_DOES_NOT_MATCH);
    free(b);
    /* no trailer signature at all */
    b = copy_body(c);
    char *line = find(b, c->body_len, "x-amz-trailer-signature:");
    size_t len = (size_t)(line - (char *)b);
    line[0] = '\r';
    line[1] = '\n';
    expect_failure(c, b, len + 2, HS_EINVAL, HS_S3_MALFORMED_TRAILER);
    free(b);
}

static void unsigned_trailer_mismatch_is_bad_digest(void **state)
{
    (void)state;
    const struct s3v_case *c = find_case("put_trailer_unsigned_crc32");
    uint8_t *b = copy_body(c);
    char *val = find(b, c->body_len, "x-amz-checksum-crc32:") + 21;
    val[0] = val[0] == 'A' ? 'B' : 'A';
    struct sink s;
    struct hs_s3_chunked *d;
    assert_int_equal(run_split(c, b, c->body_len, 3, &s, &d), HS_OK);
    size_t n;
    const struct hs_s3_trailer *t = hs_s3_chunked_trailers(d, &n);
    assert_int_equal(n, 1);
    uint8_t raw[HS_S3_CKSUM_RAW_MAX];
    hs_s3_cksum_compute(HS_S3_CKSUM_CRC32, c->payload, c->payload_len, raw);
    assert_int_equal(hs_s3_cksum_check(HS_S3_CKSUM_CRC32, t[0].value, raw), HS_S3_BAD_DIGEST);
    hs_s3_chunked_free(d);
    free(b);
}

static void truncated_bodies_are_incomplete(void **state)
{
    (void)state;
    for (size_t i = 0; i < S3V_N_CASES; i++) {
        const struct s3v_case *c = &s3v_cases[i];
        if (!is_streaming(c))
            continue;
        /* every prefix that ends before the final chunk's header is complete */
        const char *final = find(c->body, c->body_len, "\n0");
        assert_non_null(final);
        size_t limit = (size_t)(final - c->body) + 1;
        for (size_t len = 0; len < limit; len++) {
            struct sink s;
            struct hs_s3_chunked *d;
            enum hs_err err = run_split(c, (const uint8_t *)c->body, len, len / 2, &s, &d);
            assert_int_not_equal(err, HS_OK);
            assert_int_equal(hs_s3_chunked_error(d), HS_S3_INCOMPLETE_BODY);
            hs_s3_chunked_free(d);
        }
    }
}

static void oversized_frame_header_fails_fast(void **state)
{
    (void)state;
    const struct s3v_case *c = find_case("put_trailer_unsigned_crc32");
    struct hs_s3_sigv4_result res;
    struct sink s;
    auth_of(c, &res);
    res.decoded_content_length = -1;
    struct hs_s3_chunked *d = decoder(c, &res, &s);
    char junk[1024];
    memset(junk, ' ', sizeof junk);
    junk[0] = '1';
    junk[1] = ';';
    enum hs_err err = HS_OK;
    size_t fed = 0;
    while (err == HS_OK && fed < (size_t)100 * 1024) {
        err = hs_s3_chunked_feed(d, junk, sizeof junk);
        fed += sizeof junk;
    }
    assert_int_equal(err, HS_EINVAL);
    assert_true(fed <= HS_S3_CHUNKED_LINE_MAX + sizeof junk);
    hs_s3_chunked_free(d);
    /* a chunk size of more than 16 hex digits */
    d = decoder(c, &res, &s);
    assert_int_equal(hs_s3_chunked_feed(d, "11111111111111111\r\n", 19), HS_EINVAL);
    hs_s3_chunked_free(d);
    /* a trailer line that never ends */
    d = decoder(c, &res, &s);
    assert_int_equal(hs_s3_chunked_feed(d, "0\r\nx-amz-checksum-crc32:", 24), HS_OK);
    err = HS_OK;
    fed = 0;
    while (err == HS_OK && fed < (size_t)100 * 1024) {
        err = hs_s3_chunked_feed(d, junk, sizeof junk);
        fed += sizeof junk;
    }
    assert_int_equal(err, HS_EINVAL);
    assert_int_equal(hs_s3_chunked_error(d), HS_S3_MALFORMED_TRAILER);
    hs_s3_chunked_free(d);
}

static void decoded_length_is_enforced(void **state)
{
    (void)state;
    const struct s3v_case *c = find_case("streaming_signed");
    for (int delta = -1; delta <= 1; delta += 2) {
        struct hs_s3_sigv4_result res;
        struct sink s;
        auth_of(c, &res);
        res.decoded_content_length += delta;
        struct hs_s3_chunked *d = decoder(c, &res, &s);
        enum hs_err err = hs_s3_chunked_feed(d, c->body, c->body_len);
        if (err == HS_OK)
            err = hs_s3_chunked_finish(d);
        assert_int_equal(err, HS_EINVAL);
        assert_int_equal(hs_s3_chunked_error(d), HS_S3_INCOMPLETE_BODY);
        hs_s3_chunked_free(d);
    }
}

static void trailer_errors(void **state)
{
    (void)state;
    const struct s3v_case *c = find_case("put_trailer_unsigned_crc32");
    struct hs_s3_sigv4_result res;
    struct sink s;
    auth_of(c, &res);
    res.decoded_content_length = -1;
    struct {
        const char *body;
        enum hs_s3_err want;
    } cases[] = {
        {"0\r\n\r\n", HS_S3_MALFORMED_TRAILER},                           /* declared, absent */
        {"0\r\nx-amz-checksum-sha1:AAAA\r\n\r\n", HS_S3_INVALID_REQUEST}, /* not declared */
        {"0\r\nno-colon\r\n\r\n", HS_S3_MALFORMED_TRAILER},
        {"0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
         HS_S3_MALFORMED_TRAILER},
        {"0\r\nx-amz-trailer-signature:00\r\n\r\n", HS_S3_MALFORMED_TRAILER},
        {"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\nextra", HS_S3_INVALID_REQUEST},
        {"3\r\nabcX\r\n0\r\n\r\n", HS_S3_INCOMPLETE_BODY},
        {"3;chunk-signature=00\r\nabc\r\n", HS_S3_INCOMPLETE_BODY},
        {"\r\n", HS_S3_INCOMPLETE_BODY},
        {"zz\r\n", HS_S3_INCOMPLETE_BODY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hs_s3_chunked *d = decoder(c, &res, &s);
        enum hs_err err = hs_s3_chunked_feed(d, cases[i].body, strlen(cases[i].body));
        if (err == HS_OK)
            err = hs_s3_chunked_finish(d);
        assert_int_not_equal(err, HS_OK);
        if (hs_s3_chunked_error(d) != cases[i].want)
            fail_msg("case %zu: got %s (%s)", i, hs_s3_err_code(hs_s3_chunked_error(d)),
                     hs_s3_chunked_error_detail(d));
        hs_s3_chunked_free(d);
    }
    /* the same trailer with a bare LF and no closing empty line is accepted */
    struct hs_s3_chunked *d = decoder(c, &res, &s);
    const char *ok = "0\nx-amz-checksum-crc32:AAAAAA==\n";
    assert_int_equal(hs_s3_chunked_feed(d, ok, strlen(ok)), HS_OK);
    assert_int_equal(hs_s3_chunked_finish(d), HS_OK);
    hs_s3_chunked_free(d);
}

static void callback_failure_stops_decoding(void **state)
{
    (void)state;
    const struct s3v_case *c = find_case("streaming_signed");
    struct hs_s3_sigv4_result res;
    struct sink s;
    auth_of(c, &res);
    struct hs_s3_chunked *d = decoder(c, &res, &s);
    s.refuse = true;
    assert_int_equal(hs_s3_chunked_feed(d, c->body, c->body_len), HS_ETOOBIG);
    assert_int_equal(hs_s3_chunked_error(d), HS_S3_ENTITY_TOO_LARGE);
    hs_s3_chunked_free(d);
}

static void bad_options_are_einval(void **state)
{
    (void)state;
    struct hs_s3_sigv4_result res;
    struct hs_s3_chunked *d = NULL;
    memset(&res, 0, sizeof res);
    res.payload = HS_S3_PAYLOAD_SHA256;
    struct hs_s3_chunked_opts o = {.auth = &res, .decoded_length = -1, .on_data = on_data};
    assert_int_equal(hs_s3_chunked_new(&o, &d), HS_EINVAL);
    res.payload = HS_S3_PAYLOAD_STREAMING_SIGNED; /* no seed signature */
    assert_int_equal(hs_s3_chunked_new(&o, &d), HS_EINVAL);
    res.payload = HS_S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    o.on_data = NULL;
    assert_int_equal(hs_s3_chunked_new(&o, &d), HS_EINVAL);
    assert_null(d);
    hs_s3_chunked_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_split_of_every_stream_decodes),
        cmocka_unit_test(byte_at_a_time_decodes),
        cmocka_unit_test(tampered_chunk_signature_or_data_fails),
        cmocka_unit_test(dropped_chunk_breaks_the_signature_chain),
        cmocka_unit_test(tampered_trailer_fails),
        cmocka_unit_test(unsigned_trailer_mismatch_is_bad_digest),
        cmocka_unit_test(truncated_bodies_are_incomplete),
        cmocka_unit_test(oversized_frame_header_fails_fast),
        cmocka_unit_test(decoded_length_is_enforced),
        cmocka_unit_test(trailer_errors),
        cmocka_unit_test(callback_failure_stops_decoding),
        cmocka_unit_test(bad_options_are_einval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
