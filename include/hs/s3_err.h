/* s3_err.h - the S3 error codes the S3 front end answers with: code string, HTTP status and
 * default message per code, and the XML error body. Pure tables and formatting: no I/O.
 * Everything here is thread-safe. The enum values are internal (never stored or sent); the
 * code strings are the wire names and never change. */
#ifndef HS_S3_ERR_H
#define HS_S3_ERR_H

#include <stdbool.h>

#include "hs/buf.h"
#include "hs/err.h"

/* One row per S3 error code; HS_S3_OK means "no error". Append new codes before
 * HS_S3_ERR_COUNT_ and add their row to the table in src/s3/err.c. */
enum hs_s3_err {
    HS_S3_OK = 0,
    HS_S3_NO_SUCH_BUCKET,                   /* 404 NoSuchBucket */
    HS_S3_NO_SUCH_KEY,                      /* 404 NoSuchKey */
    HS_S3_NO_SUCH_UPLOAD,                   /* 404 NoSuchUpload */
    HS_S3_BUCKET_NOT_EMPTY,                 /* 409 BucketNotEmpty */
    HS_S3_BUCKET_ALREADY_OWNED_BY_YOU,      /* 409 BucketAlreadyOwnedByYou */
    HS_S3_BUCKET_ALREADY_EXISTS,            /* 409 BucketAlreadyExists */
    HS_S3_INVALID_BUCKET_NAME,              /* 400 InvalidBucketName */
    HS_S3_ACCESS_DENIED,                    /* 403 AccessDenied */
    HS_S3_INVALID_ACCESS_KEY_ID,            /* 403 InvalidAccessKeyId */
    HS_S3_SIGNATURE_DOES_NOT_MATCH,         /* 403 SignatureDoesNotMatch */
    HS_S3_REQUEST_TIME_TOO_SKEWED,          /* 403 RequestTimeTooSkewed */
    HS_S3_BAD_DIGEST,                       /* 400 BadDigest */
    HS_S3_INVALID_DIGEST,                   /* 400 InvalidDigest */
    HS_S3_CONTENT_SHA256_MISMATCH,          /* 400 XAmzContentSHA256Mismatch */
    HS_S3_INVALID_RANGE,                    /* 416 InvalidRange */
    HS_S3_PRECONDITION_FAILED,              /* 412 PreconditionFailed */
    HS_S3_NOT_MODIFIED,                     /* 304 NotModified (never has a body) */
    HS_S3_INVALID_PART,                     /* 400 InvalidPart */
    HS_S3_INVALID_PART_ORDER,               /* 400 InvalidPartOrder */
    HS_S3_ENTITY_TOO_SMALL,                 /* 400 EntityTooSmall */
    HS_S3_ENTITY_TOO_LARGE,                 /* 400 EntityTooLarge */
    HS_S3_MALFORMED_XML,                    /* 400 MalformedXML */
    HS_S3_INVALID_ARGUMENT,                 /* 400 InvalidArgument */
    HS_S3_INVALID_REQUEST,                  /* 400 InvalidRequest */
    HS_S3_MISSING_CONTENT_LENGTH,           /* 411 MissingContentLength */
    HS_S3_INCOMPLETE_BODY,                  /* 400 IncompleteBody */
    HS_S3_NOT_IMPLEMENTED,                  /* 501 NotImplemented */
    HS_S3_INTERNAL_ERROR,                   /* 500 InternalError */
    HS_S3_SERVICE_UNAVAILABLE,              /* 503 ServiceUnavailable */
    HS_S3_SLOW_DOWN,                        /* 503 SlowDown */
    HS_S3_METHOD_NOT_ALLOWED,               /* 405 MethodNotAllowed */
    HS_S3_KEY_TOO_LONG,                     /* 400 KeyTooLongError */
    HS_S3_AUTHORIZATION_HEADER_MALFORMED,   /* 400 AuthorizationHeaderMalformed */
    HS_S3_AUTHORIZATION_QUERY_PARAMS_ERROR, /* 400 AuthorizationQueryParametersError */
    HS_S3_MALFORMED_TRAILER,                /* 400 MalformedTrailerError */
    HS_S3_MISSING_SECURITY_HEADER,          /* 400 MissingSecurityHeader */
    HS_S3_INVALID_STORAGE_CLASS,            /* 400 InvalidStorageClass */
    HS_S3_NO_SUCH_VERSION,                  /* 404 NoSuchVersion */
    HS_S3_ERR_COUNT_                        /* keep last */
};

/* Wire name, "NoSuchBucket". HS_S3_OK and out-of-range values give "InternalError". Never NULL. */
const char *hs_s3_err_code(enum hs_s3_err e);
/* HTTP status: 404 for HS_S3_NO_SUCH_BUCKET... HS_S3_OK gives 200, out-of-range 500. */
int hs_s3_err_status(enum hs_s3_err e);
/* Default human message (AWS's wording where it is well known). Never NULL. */
const char *hs_s3_err_message(enum hs_s3_err e);
/* Wire name -> enum (exact, case-sensitive). false (and *out untouched) for unknown names. */
bool hs_s3_err_from_code(const char *code, enum hs_s3_err *out);
/* The S3 error that best answers an internal error: HS_ENOENT -> NoSuchKey, HS_EAUTH ->
 * AccessDenied, HS_ETOOBIG -> EntityTooLarge, HS_EPRECONDITION -> PreconditionFailed,
 * HS_ERANGE -> InvalidRange, HS_EBUSY -> SlowDown, HS_EUNAVAIL -> ServiceUnavailable,
 * HS_EINVAL -> InvalidArgument, HS_EUNSUPPORTED -> NotImplemented, else InternalError. */
enum hs_s3_err hs_s3_err_from_hs(enum hs_err e);

/* Appends the S3 error document to out (no namespace, as S3 sends it):
 *   <?xml version="1.0" encoding="UTF-8"?>
 *   <Error><Code>NoSuchKey</Code><Message>...</Message><Resource>/b/k</Resource>
 *   <RequestId>...</RequestId></Error>
 * message NULL uses hs_s3_err_message(e); resource and request_id may be NULL (element
 * omitted). Text is XML-escaped. Content-Type is application/xml; HEAD answers and 304 carry
 * no body (the caller decides). HS_ETOOBIG when out's cap is reached (out then holds a prefix). */
enum hs_err hs_s3_err_render(struct hs_buf *out, enum hs_s3_err e, const char *message,
                             const char *resource, const char *request_id);

#endif
