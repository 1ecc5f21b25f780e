/* s3_chunked.h - incremental decoder of the aws-chunked body framing used by the STREAMING-*
 * payload modes (the HTTP layer has already removed any Transfer-Encoding: chunked):
 *
 *   <hex size>[;chunk-signature=<64 hex>]\r\n <size bytes> \r\n   ... repeated ...
 *   0[;chunk-signature=<64 hex>]\r\n
 *   [<trailer name>:<value>\r\n ...] [x-amz-trailer-signature:<64 hex>\r\n]   (trailer modes)
 *   \r\n
 *
 * Signed modes verify every chunk signature, chained from the seed signature:
 *   AWS4-HMAC-SHA256-PAYLOAD\n<amz date>\n<scope>\n<previous sig>\n<sha256("")>\n<sha256(data)>
 * and, in STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, the trailer signature:
 *   AWS4-HMAC-SHA256-TRAILER\n<amz date>\n<scope>\n<last chunk sig>\n<sha256(trailer lines)>
 * where the trailer lines are "name:value\n" each. Trailer lines may end in "\r\n" or "\n"
 * (minio-go). Every header and line is bounded (HS_S3_CHUNKED_LINE_MAX): a malicious frame fails
 * at once instead of being buffered.
 *
 * Payload bytes are delivered through the data callback as they arrive, BEFORE the signature of
 * their chunk has been checked: the caller must not commit anything until
 * hs_s3_chunked_finish returns HS_OK. Not thread-safe (one request, one thread). */
#ifndef HS_S3_CHUNKED_H
#define HS_S3_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"
#include "hs/s3_err.h"
#include "hs/s3_sigv4.h"

#define HS_S3_CHUNKED_LINE_MAX     4096 /* bytes of a chunk header or trailer line, CRLF included */
#define HS_S3_CHUNKED_TRAILERS_MAX 8    /* trailer lines (the signature line not counted) */
#define HS_S3_TRAILER_NAME_MAX     64
#define HS_S3_TRAILER_VALUE_MAX    256

/* Receives decoded payload bytes (not yet verified: see above). Return HS_OK to go on; any
 * other value stops decoding and is returned by hs_s3_chunked_feed (error InternalError unless
 * the callback's code maps better, e.g. HS_ETOOBIG -> EntityTooLarge). */
typedef enum hs_err (*hs_s3_chunk_data_fn)(void *arg, const uint8_t *data, size_t len);

struct hs_s3_chunked_opts {
    /* The verified request: its payload mode (must be streaming) and, for the signed modes, the
     * seed signature, signing key, scope and date. Copied by hs_s3_chunked_new. */
    const struct hs_s3_sigv4_result *auth;
    /* x-amz-decoded-content-length: the payload must have exactly this many bytes (else
     * IncompleteBody); -1 when absent (not enforced). */
    int64_t decoded_length;
    /* x-amz-trailer header value (e.g. "x-amz-checksum-crc32"; comma-separated names), NULL or
     * "" when absent. Trailer lines must be among these names (InvalidRequest otherwise), and each
     * declared name must be present at the end (MalformedTrailerError otherwise). */
    const char *declared_trailers;
    hs_s3_chunk_data_fn on_data; /* required */
    void *arg;
};

struct hs_s3_trailer {
    char name[HS_S3_TRAILER_NAME_MAX + 1];   /* lower-case: "x-amz-checksum-crc32" */
    char value[HS_S3_TRAILER_VALUE_MAX + 1]; /* trimmed value as sent */
};

struct hs_s3_chunked;

/* Creates a decoder. HS_EINVAL when opts are inconsistent (no callback, non-streaming payload,
 * decoded_length < -1, more than HS_S3_CHUNKED_TRAILERS_MAX declared trailers, a declared
 * trailer name too long); *out untouched. Free with hs_s3_chunked_free. */
enum hs_err hs_s3_chunked_new(const struct hs_s3_chunked_opts *o, struct hs_s3_chunked **out);
void hs_s3_chunked_free(struct hs_s3_chunked *c);

/* Feeds the next len bytes of the body (any split: a frame header may be cut anywhere).
 * HS_OK: consumed, go on. HS_EAUTH: a chunk or trailer signature does not match
 * (SignatureDoesNotMatch). HS_EINVAL: malformed framing or trailer (hs_s3_chunked_error says
 * which S3 error). The error is sticky: later feeds return it again. Bytes after the final
 * frame are an error (InvalidRequest). */
enum hs_err hs_s3_chunked_feed(struct hs_s3_chunked *c, const void *data, size_t len);
/* The body has ended. HS_OK when the final chunk (and trailer section) was complete and every
 * check passed; otherwise the error (IncompleteBody for a truncated body). */
enum hs_err hs_s3_chunked_finish(struct hs_s3_chunked *c);

/* The S3 error of the last failure (HS_S3_OK while none), and its message (static). */
enum hs_s3_err hs_s3_chunked_error(const struct hs_s3_chunked *c);
const char *hs_s3_chunked_error_detail(const struct hs_s3_chunked *c);
/* Payload bytes delivered so far. */
uint64_t hs_s3_chunked_payload_bytes(const struct hs_s3_chunked *c);
/* The trailers received (valid after a successful finish, until free); *n their count. The
 * x-amz-trailer-signature line is verified, not reported. */
const struct hs_s3_trailer *hs_s3_chunked_trailers(const struct hs_s3_chunked *c, size_t *n);

#endif
