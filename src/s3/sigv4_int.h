/* sigv4_int.h - private to the SigV4 files of src/s3: the canonical request and string to sign
 * (sigv4_canon.c), used by the verifier (sigv4.c) and the signer. */
#ifndef HS_S3_SIGV4_INT_H
#define HS_S3_SIGV4_INT_H

#include "s3_int.h"

#define HS_S3_SIGV4_CANONICAL_MAX ((size_t)256 * 1024) /* bytes of a canonical request */

/* First value of a header (case-insensitive name), NULL when absent. */
const char *hs_s3_sigv4_header(const struct hs_s3_sigv4_request *req, const char *name);

/* Appends the string to sign of req to sts:
 *   AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(canonical request)>
 * signed_headers is the ';'-separated lower-case list; skip_param a query parameter left out
 * (presigned: "X-Amz-Signature"), or NULL. HS_ENOENT when a signed header is absent
 * (*missing_header then points at its name in signed_headers), HS_ETOOBIG when the canonical
 * request passes HS_S3_SIGV4_CANONICAL_MAX, HS_EINVAL for too many query parameters. */
enum hs_err hs_s3_sigv4_string_to_sign(const struct hs_s3_sigv4_request *req,
                                       const char *signed_headers, const char *skip_param,
                                       const char *payload_hash, const char *amz_date,
                                       const char *scope, struct hs_buf *sts,
                                       const char **missing_header);

#endif
