/* bench_s3.c - where an S3 request's CPU time goes in the hs_s3 library: SigV4 verification
 * (with and without the signing-key cache), the upload digests per algorithm, aws-chunked
 * decoding with chunk signatures, and XML. Built with the unit tests, never run by them:
 *     build/tests/unit/bench_s3
 * Single thread; prints one line per measurement (median of 5 runs). Times are the thread's CPU
 * time (CLOCK_THREAD_CPUTIME_ID), so that a loaded machine inflates them less. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hs/s3_checksum.h"
#include "hs/s3_chunked.h"
#include "hs/s3_err.h"
#include "hs/s3_sigv4.h"
#include "hs/s3_xml.h"
#include "s3/s3_int.h"
#include "s3_vectors.h"
#include "hs/banned.h"

static enum hs_err lookup(void *arg, const char *akid, char secret[HS_S3_SECRET_MAX + 1],
                          void **key_info)
{
    (void)arg;
    (void)akid;
    (void)key_info;
    snprintf(secret, HS_S3_SECRET_MAX + 1, "%s", S3V_SECRET);
    return HS_OK;
}

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef void (*bench_fn)(void *arg, int iters);

/* Median ns per iteration over 5 runs. */
static double measure(bench_fn fn, void *arg, int iters)
{
    int64_t ns[5];
    fn(arg, iters / 10 + 1); /* warm up */
    for (int r = 0; r < 5; r++) {
        int64_t t0 = cpu_ns();
        fn(arg, iters);
        ns[r] = cpu_ns() - t0;
    }
    qsort(ns, 5, sizeof ns[0], cmp_i64);
    return (double)ns[2] / iters;
}

struct verify_arg {
    const struct s3v_case *c;
    struct hs_s3_sigv4_cache *cache;
};

static void bench_verify(void *p, int iters)
{
    struct verify_arg *a = p;
    struct hs_s3_header h[S3V_HEADERS_MAX];
    for (size_t i = 0; i < a->c->n_headers; i++) {
        h[i].name = a->c->headers[i].name;
        h[i].value = a->c->headers[i].value;
    }
    struct hs_s3_sigv4_request r = {.method = a->c->method,
                                    .target = a->c->target,
                                    .headers = h,
                                    .n_headers = a->c->n_headers,
                                    .now_s = a->c->now};
    struct hs_s3_sigv4_opts o = {.region = S3V_REGION, .lookup = lookup, .cache = a->cache};
    for (int i = 0; i < iters; i++) {
        struct hs_s3_sigv4_result res;
        if (hs_s3_sigv4_verify(&o, &r, &res) != HS_OK)
            abort();
    }
}

struct hash_arg {
    struct hs_s3_hasher_opts opts;
    const uint8_t *data;
    size_t len;
};

static void bench_hash(void *p, int iters)
{
    struct hash_arg *a = p;
    for (int i = 0; i < iters; i++) {
        struct hs_s3_hasher h;
        struct hs_s3_digests d;
        if (hs_s3_hasher_init(&h, &a->opts) != HS_OK)
            abort();
        hs_s3_hasher_update(&h, a->data, a->len);
        hs_s3_hasher_final(&h, &d);
        hs_s3_hasher_release(&h);
    }
}

static void bench_error_xml(void *p, int iters)
{
    (void)p;
    struct hs_buf b;
    hs_buf_init(&b, 0);
    for (int i = 0; i < iters; i++) {
        hs_buf_reset(&b);
        if (hs_s3_err_render(&b, HS_S3_NO_SUCH_KEY, NULL, "/bucket/some/key.txt",
                             "0123456789abcdef") != HS_OK)
            abort();
    }
    hs_buf_release(&b);
}

static void bench_complete_xml(void *p, int iters)
{
    struct hs_buf *doc = p;
    for (int i = 0; i < iters; i++) {
        struct hs_s3_complete_upload cu;
        if (hs_s3_xml_parse_complete(doc->data, doc->len, &cu) != HS_S3_OK)
            abort();
        hs_s3_complete_upload_release(&cu);
    }
}

struct chunked_arg {
    struct hs_s3_sigv4_result auth;
    struct hs_buf body;
    size_t payload;
};

static enum hs_err discard(void *arg, const uint8_t *data, size_t len)
{
    (void)arg;
    (void)data;
    (void)len;
    return HS_OK;
}

static void bench_chunked(void *p, int iters)
{
    struct chunked_arg *a = p;
    for (int i = 0; i < iters; i++) {
        struct hs_s3_chunked *c;
        struct hs_s3_chunked_opts o = {
            .auth = &a->auth, .decoded_length = (int64_t)a->payload, .on_data = discard};
        if (hs_s3_chunked_new(&o, &c) != HS_OK)
            abort();
        if (hs_s3_chunked_feed(c, a->body.data, a->body.len) != HS_OK ||
            hs_s3_chunked_finish(c) != HS_OK)
            abort();
        hs_s3_chunked_free(c);
    }
}

/* Frames payload in signed chunks of chunk bytes, as a client would. */
static void build_signed_body(struct chunked_arg *a, const uint8_t *payload, size_t len,
                              size_t chunk)
{
    char prev[65];
    memcpy(prev, a->auth.seed_signature, 65);
    hs_buf_init(&a->body, 0);
    for (size_t off = 0;; off += chunk) {
        size_t n = off < len ? (len - off < chunk ? len - off : chunk) : 0;
        uint8_t h[32], sig[32];
        char hex[65], sts[512];
        hs_s3_sha256(payload + off, n, h);
        hs_s3_hex(h, 32, hex);
        int sl = snprintf(sts, sizeof sts,
                          "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n"
                          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n%s",
                          a->auth.amz_date, a->auth.scope, prev, hex);
        hs_s3_hmac_sha256(a->auth.signing_key, 32, sts, (size_t)sl, sig);
        hs_s3_hex(sig, 32, prev);
        hs_buf_printf(&a->body, "%zx;chunk-signature=%s\r\n", n, prev);
        if (n == 0)
            break;
        hs_buf_append(&a->body, payload + off, n);
        hs_buf_append(&a->body, "\r\n", 2);
    }
    hs_buf_append(&a->body, "\r\n", 2);
    a->payload = len;
}

int main(void)
{
    const size_t mib = (size_t)1 << 20;
    uint8_t *data = malloc(mib);
    for (size_t i = 0; i < mib; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 24);

    const struct s3v_case *put = NULL;
    for (size_t i = 0; i < S3V_N_CASES; i++) {
        if (strcmp(s3v_cases[i].name, "put_sha256_odd_key") == 0)
            put = &s3v_cases[i];
    }
    struct verify_arg va = {.c = put, .cache = NULL};
    printf("sigv4 verify (header, 7 signed headers), no cache: %8.2f us/request\n",
           measure(bench_verify, &va, 20000) / 1000);
    va.cache = hs_s3_sigv4_cache_new();
    printf("sigv4 verify (header, 7 signed headers), cached:   %8.2f us/request\n",
           measure(bench_verify, &va, 20000) / 1000);
    hs_s3_sigv4_cache_free(va.cache);

    static const struct {
        const char *name;
        struct hs_s3_hasher_opts o;
    } hashes[] = {
        {"MD5 (ETag)", {false, HS_S3_CKSUM_NONE}},
        {"MD5 + SHA-256 (signed payload)", {true, HS_S3_CKSUM_NONE}},
        {"MD5 + CRC32", {false, HS_S3_CKSUM_CRC32}},
        {"MD5 + CRC32C", {false, HS_S3_CKSUM_CRC32C}},
        {"MD5 + CRC64NVME", {false, HS_S3_CKSUM_CRC64NVME}},
        {"MD5 + SHA1", {false, HS_S3_CKSUM_SHA1}},
        {"MD5 + SHA-256 + CRC32 (botocore over http)", {true, HS_S3_CKSUM_CRC32}},
    };
    for (size_t i = 0; i < sizeof hashes / sizeof hashes[0]; i++) {
        struct hash_arg ha = {hashes[i].o, data, mib};
        double ns = measure(bench_hash, &ha, 100);
        struct hash_arg small = {hashes[i].o, data, 1024};
        double ns_small = measure(bench_hash, &small, 20000);
        printf("digests %-42s 1 MiB: %6.2f GB/s   1 KiB: %6.2f us\n", hashes[i].name,
               (double)mib / ns, ns_small / 1000);
    }
    static const struct {
        const char *name;
        enum hs_s3_cksum_algo a;
    } alone[] = {{"CRC32 (ISA-L)", HS_S3_CKSUM_CRC32},
                 {"CRC32C (ISA-L)", HS_S3_CKSUM_CRC32C},
                 {"CRC64NVME", HS_S3_CKSUM_CRC64NVME},
                 {"MD5", HS_S3_CKSUM_MD5},
                 {"SHA-256", HS_S3_CKSUM_SHA256}};
    for (size_t i = 0; i < sizeof alone / sizeof alone[0]; i++) {
        int64_t best = INT64_MAX;
        uint8_t out[HS_S3_CKSUM_RAW_MAX];
        for (int r = 0; r < 20; r++) {
            int64_t t0 = cpu_ns();
            hs_s3_cksum_compute(alone[i].a, data, mib, out);
            int64_t dt = cpu_ns() - t0;
            best = dt < best ? dt : best;
        }
        printf("alone   %-42s 1 MiB: %6.2f GB/s\n", alone[i].name, (double)mib / (double)best);
    }

    struct chunked_arg ca;
    memset(&ca, 0, sizeof ca);
    ca.auth.payload = HS_S3_PAYLOAD_STREAMING_SIGNED;
    memset(ca.auth.seed_signature, 'a', 64);
    snprintf(ca.auth.scope, sizeof ca.auth.scope, "20261207/us-east-1/s3/aws4_request");
    snprintf(ca.auth.amz_date, sizeof ca.auth.amz_date, "20261207T050000Z");
    hs_s3_sigv4_signing_key(S3V_SECRET, "20261207", "us-east-1", ca.auth.signing_key);
    build_signed_body(&ca, data, mib, 64 * 1024);
    printf("aws-chunked signed decode, 1 MiB in 64 KiB chunks:  %6.2f GB/s\n",
           (double)mib / measure(bench_chunked, &ca, 50));
    hs_buf_release(&ca.body);

    printf("error document render:                            %8.2f us\n",
           measure(bench_error_xml, NULL, 100000) / 1000);
    struct hs_buf doc;
    hs_buf_init(&doc, 0);
    hs_buf_printf(&doc, "<CompleteMultipartUpload>");
    for (int i = 1; i <= 10000; i++)
        hs_buf_printf(&doc, "<Part><PartNumber>%d</PartNumber><ETag>\"%032x\"</ETag></Part>", i, i);
    hs_buf_printf(&doc, "</CompleteMultipartUpload>");
    printf("CompleteMultipartUpload parse, 10000 parts (%zu KiB): %6.2f ms\n", doc.len / 1024,
           measure(bench_complete_xml, &doc, 20) / 1e6);
    hs_buf_release(&doc);
    free(data);
    return 0;
}
