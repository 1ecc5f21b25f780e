/* s3_body.c - the verified body of an S3 request (s3_body.h): payload mode, aws-chunked
 * decoding with chunk and trailer signatures (s3_chunked.h), digests while streaming, and the
 * last checks once the body has ended. Which checks run depends only on the headers the client
 * signed: a declared hex SHA-256, Content-MD5, one flexible checksum (header or trailer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/s3_body.h"
#include "hs/mem.h"
#include "hs/s3_chunked.h"
#include "hs/s3_sigv4.h"
#include "hs/banned.h"

struct hs_s3_body {
    hs_s3_sink_fn *sink;
    void *sink_ctx;
    struct hs_s3_hasher hasher;
    bool hasher_live;
    struct hs_s3_chunked *chunked; /* STREAMING-* modes */
    bool has_sha256;               /* a hex payload hash was declared */
    uint8_t sha256[32];
    enum hs_s3_cksum_algo flex; /* the flexible checksum to verify, NONE = none */
    const char *flex_value;     /* its header value; NULL when it comes as a trailer */
    const char *content_md5;    /* header, NULL = none */
    int64_t decoded_len;        /* payload bytes announced, -1 unknown */
    enum hs_err sink_err;       /* the sink's failure, HS_OK while none */
    char sink_msg[256];
    struct hs_s3_digests digests; /* after finish */
    char flex_b64[HS_S3_CKSUM_B64_MAX];
    bool failed; /* sticky */
};

static const enum hs_s3_cksum_algo flex_algos[] = {
    HS_S3_CKSUM_CRC32, HS_S3_CKSUM_CRC32C, HS_S3_CKSUM_CRC64NVME,
    HS_S3_CKSUM_SHA1,  HS_S3_CKSUM_SHA256,
};

const char *hs_s3_cksum_lower(enum hs_s3_cksum_algo a)
{
    switch (a) {
    case HS_S3_CKSUM_CRC32:
        return "crc32";
    case HS_S3_CKSUM_CRC32C:
        return "crc32c";
    case HS_S3_CKSUM_CRC64NVME:
        return "crc64nvme";
    case HS_S3_CKSUM_SHA1:
        return "sha1";
    case HS_S3_CKSUM_SHA256:
        return "sha256";
    default:
        return NULL;
    }
}

static bool fail(struct hs_s3_body_error *e, enum hs_s3_err code, const char *detail)
{
    e->code = code;
    e->err = HS_OK;
    snprintf(e->msg, sizeof e->msg, "%s", detail && *detail ? detail : hs_s3_err_message(code));
    return false;
}

/* x-amz-content-sha256 -> payload mode (the signature covered it). */
static bool payload_mode(struct hs_http_req *r, struct hs_s3_body *b, enum hs_s3_payload_mode *m,
                         struct hs_s3_body_error *e)
{
    const char *v = hs_http_req_header(r, "x-amz-content-sha256");
    *m = HS_S3_PAYLOAD_UNSIGNED; /* presigned URLs need not send it */
    if (!v)
        return true;
    if (hs_s3_payload_mode_parse(v, m, b->sha256)) {
        b->has_sha256 = *m == HS_S3_PAYLOAD_SHA256;
        return true;
    }
    if (strncmp(v, "STREAMING-", 10) == 0)
        return fail(e, HS_S3_NOT_IMPLEMENTED, "this STREAMING-* payload mode is not supported");
    return fail(e, HS_S3_INVALID_ARGUMENT, "x-amz-content-sha256 must be a hex SHA-256 or a mode");
}

/* The flexible checksum: an x-amz-checksum-* header, or the one x-amz-trailer announces. */
static bool flex_choice(struct hs_http_req *r, struct hs_s3_body *b, bool streaming,
                        struct hs_s3_body_error *e)
{
    static const char two[] = "Expecting a single x-amz-checksum- header";
    for (size_t i = 0; i < HS_ARRAY_LEN(flex_algos); i++) {
        const char *v = hs_http_req_header(r, hs_s3_cksum_header(flex_algos[i]));
        if (!v)
            continue;
        if (b->flex != HS_S3_CKSUM_NONE)
            return fail(e, HS_S3_INVALID_REQUEST, two);
        b->flex = flex_algos[i];
        b->flex_value = v;
    }
    const char *t = hs_http_req_header(r, "x-amz-trailer");
    if (!t || !*t)
        return true;
    if (!streaming)
        return fail(e, HS_S3_INVALID_REQUEST, "x-amz-trailer needs an aws-chunked payload");
    enum hs_s3_cksum_algo a;
    /* a trailer other than a checksum is the decoder's business (it must arrive) */
    if (!strchr(t, ',') && hs_s3_cksum_parse_header(t, &a)) {
        if (b->flex != HS_S3_CKSUM_NONE)
            return fail(e, HS_S3_INVALID_REQUEST, two);
        b->flex = a;
        b->flex_value = NULL;
    }
    return true;
}

static enum hs_err chunk_data(void *arg, const uint8_t *data, size_t len)
{
    struct hs_s3_body *b = arg;
    hs_s3_hasher_update(&b->hasher, data, len);
    b->sink_err = b->sink(b->sink_ctx, data, len, b->sink_msg, sizeof b->sink_msg);
    return b->sink_err;
}

static bool decoded_length(struct hs_http_req *r, struct hs_s3_body *b,
                           enum hs_s3_payload_mode mode, struct hs_s3_body_error *e)
{
    const char *dl = hs_http_req_header(r, "x-amz-decoded-content-length");
    if (!dl) {
        if (mode == HS_S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER)
            return fail(e, HS_S3_MISSING_CONTENT_LENGTH,
                        "x-amz-decoded-content-length is required");
        return true;
    }
    char *end = NULL;
    long long v = strtoll(dl, &end, 10);
    if (!*dl || *end || v < 0)
        return fail(e, HS_S3_INVALID_ARGUMENT, "x-amz-decoded-content-length is not a number");
    b->decoded_len = v;
    return true;
}

static bool chunked_start(struct hs_http_req *r, struct hs_s3_body *b,
                          const struct hs_s3_body_auth *auth, enum hs_s3_payload_mode mode,
                          struct hs_s3_body_error *e)
{
    struct hs_s3_sigv4_result v;
    memset(&v, 0, sizeof v);
    v.error = HS_S3_OK;
    v.kind = auth->presigned ? HS_S3_AUTH_PRESIGNED : HS_S3_AUTH_HEADER;
    v.payload = mode;
    v.decoded_content_length = b->decoded_len;
    snprintf(v.seed_signature, sizeof v.seed_signature, "%s",
             auth->seed_signature ? auth->seed_signature : "");
    if (auth->signing_key)
        memcpy(v.signing_key, auth->signing_key, sizeof v.signing_key);
    snprintf(v.scope, sizeof v.scope, "%s", auth->scope ? auth->scope : "");
    snprintf(v.amz_date, sizeof v.amz_date, "%s", auth->amz_date ? auth->amz_date : "");
    struct hs_s3_chunked_opts co = {.auth = &v,
                                    .decoded_length = b->decoded_len,
                                    .declared_trailers = hs_http_req_header(r, "x-amz-trailer"),
                                    .on_data = chunk_data,
                                    .arg = b};
    if (hs_s3_chunked_new(&co, &b->chunked) != HS_OK)
        return fail(e, HS_S3_INVALID_REQUEST, "cannot decode this aws-chunked request");
    return true;
}

bool hs_s3_body_new(struct hs_http_req *r, const struct hs_s3_body_auth *auth, hs_s3_sink_fn *sink,
                    void *ctx, struct hs_s3_body **out, struct hs_s3_body_error *e)
{
    struct hs_s3_body *b = hs_xcalloc(1, sizeof *b);
    b->sink = sink;
    b->sink_ctx = ctx;
    b->decoded_len = -1;
    b->content_md5 = hs_http_req_header(r, "Content-MD5");
    enum hs_s3_payload_mode mode;
    bool ok = payload_mode(r, b, &mode, e);
    bool streaming = ok && hs_s3_payload_is_streaming(mode);
    ok = ok && flex_choice(r, b, streaming, e);
    if (ok) {
        struct hs_s3_hasher_opts ho = {.sha256 = b->has_sha256, .flex = b->flex};
        b->hasher_live = true;
        if (hs_s3_hasher_init(&b->hasher, &ho) != HS_OK)
            ok = fail(e, HS_S3_INTERNAL_ERROR, "cannot start the digests");
    }
    if (ok && streaming)
        ok = decoded_length(r, b, mode, e) && chunked_start(r, b, auth, mode, e);
    if (!ok) {
        hs_s3_body_free(b);
        *out = NULL;
        return false;
    }
    *out = b;
    return true;
}

void hs_s3_body_free(struct hs_s3_body *b)
{
    if (!b)
        return;
    hs_s3_chunked_free(b->chunked);
    if (b->hasher_live)
        hs_s3_hasher_release(&b->hasher);
    free(b);
}

bool hs_s3_body_streaming(const struct hs_s3_body *b)
{
    return b->chunked != NULL;
}

int64_t hs_s3_body_decoded_len(const struct hs_s3_body *b)
{
    return b->decoded_len;
}

/* The failure of a feed or finish: the sink's, or the decoder's. */
static bool feed_failed(struct hs_s3_body *b, enum hs_err err, struct hs_s3_body_error *e)
{
    b->failed = true;
    if (b->sink_err != HS_OK) {
        e->code = HS_S3_OK;
        e->err = b->sink_err;
        snprintf(e->msg, sizeof e->msg, "%s", b->sink_msg);
        return false;
    }
    if (b->chunked && hs_s3_chunked_error(b->chunked) != HS_S3_OK)
        return fail(e, hs_s3_chunked_error(b->chunked), hs_s3_chunked_error_detail(b->chunked));
    return fail(e, err == HS_EAUTH ? HS_S3_SIGNATURE_DOES_NOT_MATCH : HS_S3_INVALID_REQUEST, NULL);
}

bool hs_s3_body_feed(struct hs_s3_body *b, const void *data, size_t n, struct hs_s3_body_error *e)
{
    if (b->failed)
        return fail(e, HS_S3_INTERNAL_ERROR, "the body already failed");
    enum hs_err err;
    if (b->chunked) {
        err = hs_s3_chunked_feed(b->chunked, data, n);
    } else {
        hs_s3_hasher_update(&b->hasher, data, n);
        err = b->sink_err = b->sink(b->sink_ctx, data, n, b->sink_msg, sizeof b->sink_msg);
    }
    return err == HS_OK || feed_failed(b, err, e);
}

/* The flexible checksum's value: its header, or the trailer of that name. */
static const char *flex_received(const struct hs_s3_body *b)
{
    if (b->flex_value || !b->chunked)
        return b->flex_value;
    size_t n = 0;
    const struct hs_s3_trailer *t = hs_s3_chunked_trailers(b->chunked, &n);
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(t[i].name, hs_s3_cksum_header(b->flex)) == 0)
            return t[i].value;
    return NULL;
}

bool hs_s3_body_finish(struct hs_s3_body *b, struct hs_s3_body_error *e)
{
    if (b->failed)
        return fail(e, HS_S3_INTERNAL_ERROR, "the body already failed");
    enum hs_err err = b->chunked ? hs_s3_chunked_finish(b->chunked) : HS_OK;
    if (err != HS_OK)
        return feed_failed(b, err, e);
    b->failed = true; /* the digests are final: one finish only */
    hs_s3_hasher_final(&b->hasher, &b->digests);
    enum hs_s3_err code = HS_S3_OK;
    if (b->has_sha256)
        code = hs_s3_sha256_check(b->sha256, b->digests.sha256);
    if (code == HS_S3_OK && b->content_md5)
        code = hs_s3_content_md5_check(b->content_md5, b->digests.md5);
    if (code == HS_S3_OK && b->flex != HS_S3_CKSUM_NONE) {
        const char *v = flex_received(b);
        if (!v)
            return fail(e, HS_S3_MALFORMED_TRAILER, "the announced checksum trailer is missing");
        code = hs_s3_cksum_check(b->flex, v, b->digests.flex_raw);
        hs_s3_base64(b->digests.flex_raw, b->digests.flex_len, b->flex_b64);
    }
    if (code != HS_S3_OK)
        return fail(e, code, NULL);
    return true;
}

void hs_s3_body_md5(const struct hs_s3_body *b, uint8_t out[16])
{
    memcpy(out, b->digests.md5, 16);
}

enum hs_s3_cksum_algo hs_s3_body_checksum(const struct hs_s3_body *b, char *b64)
{
    if (b->flex != HS_S3_CKSUM_NONE)
        memcpy(b64, b->flex_b64, sizeof b->flex_b64);
    return b->flex;
}
