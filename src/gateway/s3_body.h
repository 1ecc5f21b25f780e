/* s3_body.h - the verified body of an S3 request (s3_body.c), shared by PutObject and
 * DeleteObjects (and open to UploadPart): decodes aws-chunked when the payload mode
 * (x-amz-content-sha256) is STREAMING-*, checking every chunk and trailer signature; hashes
 * MD5 (the ETag), the SHA-256 a hex payload hash declared, and the flexible checksum sent as
 * an x-amz-checksum-* header or announced as a trailer; hands the payload to a sink as it
 * arrives; and at the end checks the declared SHA-256 (XAmzContentSHA256Mismatch), Content-MD5
 * (BadDigest / InvalidDigest), the flexible checksum (BadDigest), the final chunk and the
 * decoded length (IncompleteBody). Nothing is verified before hs_s3_body_finish: a sink must
 * not make anything visible before it succeeded.
 *
 * Kept apart from s3_api.h on purpose: it sees only the request's headers and the few
 * verified SigV4 values it needs, so its rules do not depend on the front end's context.
 * One request, one thread. */
#ifndef HS_GATEWAY_S3_BODY_H
#define HS_GATEWAY_S3_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"
#include "hs/http_server.h"
#include "hs/s3_checksum.h"
#include "hs/s3_err.h"

/* Receives payload bytes (not verified yet). An error stops the body; msg says why. */
typedef enum hs_err hs_s3_sink_fn(void *ctx, const uint8_t *data, size_t len, char *msg,
                                  size_t msg_len);

/* What the front end verified: the chunk signatures chain from the seed signature. */
struct hs_s3_body_auth {
    bool presigned;
    const char *seed_signature; /* lower-case hex */
    const uint8_t *signing_key; /* 32 bytes */
    const char *scope;          /* "20250101/us-east-1/s3/aws4_request" */
    const char *amz_date;       /* "20250101T000000Z" */
};

/* Why a body failed: an S3 error (code != HS_S3_OK) or the sink's error (err). */
struct hs_s3_body_error {
    enum hs_s3_err code;
    enum hs_err err;
    char msg[256];
};

struct hs_s3_body;

/* Reads the payload mode and checksum headers of r. false (e set; *out NULL) for a bad or
 * unsupported mode, two checksum headers, a checksum trailer without aws-chunked, a missing
 * or bad x-amz-decoded-content-length. */
bool hs_s3_body_new(struct hs_http_req *r, const struct hs_s3_body_auth *auth, hs_s3_sink_fn *sink,
                    void *ctx, struct hs_s3_body **out, struct hs_s3_body_error *e);
void hs_s3_body_free(struct hs_s3_body *b);
/* aws-chunked framing (Content-Length then counts the framing, not the payload). */
bool hs_s3_body_streaming(const struct hs_s3_body *b);
/* x-amz-decoded-content-length, -1 when absent. */
int64_t hs_s3_body_decoded_len(const struct hs_s3_body *b);
/* Feeds body bytes as received. false (e set) on a framing, signature or sink failure; the
 * failure is sticky. */
bool hs_s3_body_feed(struct hs_s3_body *b, const void *data, size_t n, struct hs_s3_body_error *e);
/* The body ended: every last check. false (e set) when one fails. */
bool hs_s3_body_finish(struct hs_s3_body *b, struct hs_s3_body_error *e);
/* After a successful finish: the MD5, and the flexible checksum (NONE when none was sent;
 * b64 its base64, HS_S3_CKSUM_B64_MAX bytes). */
void hs_s3_body_md5(const struct hs_s3_body *b, uint8_t out[16]);
enum hs_s3_cksum_algo hs_s3_body_checksum(const struct hs_s3_body *b, char *b64);
/* Lower-case name of a flexible algorithm as the manifest stores it ("crc32"), NULL for
 * NONE. */
const char *hs_s3_cksum_lower(enum hs_s3_cksum_algo a);

#endif
