/* err.c - the S3 error table (code, HTTP status, default message) and the XML error body.
 * Adding an error is adding a row; the designated initialisers keep rows and enum in step. */
#include "hs/s3_err.h"

#include <string.h>

#include "hs/s3_xml.h"
#include "hs/banned.h"

struct s3_err_row {
    const char *code;
    int status;
    const char *message;
};

static const struct s3_err_row rows[HS_S3_ERR_COUNT_] = {
    [HS_S3_OK] = {"OK", 200, "OK"},
    [HS_S3_NO_SUCH_BUCKET] = {"NoSuchBucket", 404, "The specified bucket does not exist"},
    [HS_S3_NO_SUCH_KEY] = {"NoSuchKey", 404, "The specified key does not exist."},
    [HS_S3_NO_SUCH_UPLOAD] = {"NoSuchUpload", 404,
                              "The specified multipart upload does not exist. The upload ID may "
                              "be invalid, or the upload may have been aborted or completed."},
    [HS_S3_BUCKET_NOT_EMPTY] = {"BucketNotEmpty", 409,
                                "The bucket you tried to delete is not empty"},
    [HS_S3_BUCKET_ALREADY_OWNED_BY_YOU] = {"BucketAlreadyOwnedByYou", 409,
                                           "Your previous request to create the named bucket "
                                           "succeeded and you already own it."},
    [HS_S3_BUCKET_ALREADY_EXISTS] = {"BucketAlreadyExists", 409,
                                     "The requested bucket name is not available."},
    [HS_S3_INVALID_BUCKET_NAME] = {"InvalidBucketName", 400, "The specified bucket is not valid."},
    [HS_S3_ACCESS_DENIED] = {"AccessDenied", 403, "Access Denied"},
    [HS_S3_INVALID_ACCESS_KEY_ID] = {"InvalidAccessKeyId", 403,
                                     "The AWS Access Key Id you provided does not exist in our "
                                     "records."},
    [HS_S3_SIGNATURE_DOES_NOT_MATCH] = {"SignatureDoesNotMatch", 403,
                                        "The request signature we calculated does not match the "
                                        "signature you provided. Check your key and signing "
                                        "method."},
    [HS_S3_REQUEST_TIME_TOO_SKEWED] = {"RequestTimeTooSkewed", 403,
                                       "The difference between the request time and the current "
                                       "time is too large."},
    [HS_S3_BAD_DIGEST] = {"BadDigest", 400,
                          "The Content-MD5 or checksum you specified did not match what we "
                          "received."},
    [HS_S3_INVALID_DIGEST] = {"InvalidDigest", 400, "The Content-MD5 you specified was invalid."},
    [HS_S3_CONTENT_SHA256_MISMATCH] = {"XAmzContentSHA256Mismatch", 400,
                                       "The provided 'x-amz-content-sha256' header does not "
                                       "match what was computed."},
    [HS_S3_INVALID_RANGE] = {"InvalidRange", 416, "The requested range is not satisfiable"},
    [HS_S3_PRECONDITION_FAILED] = {"PreconditionFailed", 412,
                                   "At least one of the pre-conditions you specified did not "
                                   "hold"},
    [HS_S3_NOT_MODIFIED] = {"NotModified", 304, "Not Modified"},
    [HS_S3_INVALID_PART] = {"InvalidPart", 400,
                            "One or more of the specified parts could not be found. The part may "
                            "not have been uploaded, or the specified entity tag may not match "
                            "the part's entity tag."},
    [HS_S3_INVALID_PART_ORDER] = {"InvalidPartOrder", 400,
                                  "The list of parts was not in ascending order. Parts must be "
                                  "ordered by part number."},
    [HS_S3_ENTITY_TOO_SMALL] = {"EntityTooSmall", 400,
                                "Your proposed upload is smaller than the minimum allowed object "
                                "size."},
    [HS_S3_ENTITY_TOO_LARGE] = {"EntityTooLarge", 400,
                                "Your proposed upload exceeds the maximum allowed object size."},
    [HS_S3_MALFORMED_XML] = {"MalformedXML", 400,
                             "The XML you provided was not well-formed or did not validate "
                             "against our published schema."},
    [HS_S3_INVALID_ARGUMENT] = {"InvalidArgument", 400, "Invalid Argument"},
    [HS_S3_INVALID_REQUEST] = {"InvalidRequest", 400, "Invalid Request"},
    [HS_S3_MISSING_CONTENT_LENGTH] = {"MissingContentLength", 411,
                                      "You must provide the Content-Length HTTP header."},
    [HS_S3_INCOMPLETE_BODY] = {"IncompleteBody", 400,
                               "You did not provide the number of bytes specified by the "
                               "Content-Length HTTP header."},
    [HS_S3_NOT_IMPLEMENTED] = {"NotImplemented", 501,
                               "A header you provided implies functionality that is not "
                               "implemented."},
    [HS_S3_INTERNAL_ERROR] = {"InternalError", 500,
                              "We encountered an internal error. Please try again."},
    [HS_S3_SERVICE_UNAVAILABLE] = {"ServiceUnavailable", 503,
                                   "Service is unable to handle request."},
    [HS_S3_SLOW_DOWN] = {"SlowDown", 503, "Please reduce your request rate."},
    [HS_S3_METHOD_NOT_ALLOWED] = {"MethodNotAllowed", 405,
                                  "The specified method is not allowed against this resource."},
    [HS_S3_KEY_TOO_LONG] = {"KeyTooLongError", 400, "Your key is too long"},
    [HS_S3_AUTHORIZATION_HEADER_MALFORMED] = {"AuthorizationHeaderMalformed", 400,
                                              "The authorization header is malformed."},
    [HS_S3_AUTHORIZATION_QUERY_PARAMS_ERROR] = {"AuthorizationQueryParametersError", 400,
                                                "Error parsing the X-Amz-Credential parameter."},
    [HS_S3_MALFORMED_TRAILER] = {"MalformedTrailerError", 400,
                                 "The request contained trailing data that was not well-formed "
                                 "or did not conform to our published schema."},
    [HS_S3_MISSING_SECURITY_HEADER] = {"MissingSecurityHeader", 400,
                                       "Your request was missing a required header."},
    [HS_S3_INVALID_STORAGE_CLASS] = {"InvalidStorageClass", 400,
                                     "The storage class you specified is not valid."},
    [HS_S3_NO_SUCH_VERSION] = {"NoSuchVersion", 404, "The specified version does not exist."},
};

static const struct s3_err_row *row(enum hs_s3_err e)
{
    if ((unsigned)e >= HS_S3_ERR_COUNT_ || rows[e].code == NULL)
        return &rows[HS_S3_INTERNAL_ERROR];
    return &rows[e];
}

const char *hs_s3_err_code(enum hs_s3_err e)
{
    return e == HS_S3_OK ? rows[HS_S3_INTERNAL_ERROR].code : row(e)->code;
}

int hs_s3_err_status(enum hs_s3_err e)
{
    return row(e)->status;
}

const char *hs_s3_err_message(enum hs_s3_err e)
{
    return row(e)->message;
}

bool hs_s3_err_from_code(const char *code, enum hs_s3_err *out)
{
    if (code == NULL)
        return false;
    for (unsigned i = 1; i < HS_S3_ERR_COUNT_; i++) {
        if (rows[i].code != NULL && strcmp(rows[i].code, code) == 0) {
            *out = (enum hs_s3_err)i;
            return true;
        }
    }
    return false;
}

enum hs_s3_err hs_s3_err_from_hs(enum hs_err e)
{
    switch (e) {
    case HS_OK:
        return HS_S3_OK;
    case HS_ENOENT:
        return HS_S3_NO_SUCH_KEY;
    case HS_EAUTH:
        return HS_S3_ACCESS_DENIED;
    case HS_ETOOBIG:
        return HS_S3_ENTITY_TOO_LARGE;
    case HS_EPRECONDITION:
        return HS_S3_PRECONDITION_FAILED;
    case HS_ERANGE:
        return HS_S3_INVALID_RANGE;
    case HS_EBUSY:
        return HS_S3_SLOW_DOWN;
    case HS_EUNAVAIL:
    case HS_ETIMEDOUT:
        return HS_S3_SERVICE_UNAVAILABLE;
    case HS_EINVAL:
        return HS_S3_INVALID_ARGUMENT;
    case HS_EUNSUPPORTED:
        return HS_S3_NOT_IMPLEMENTED;
    default:
        return HS_S3_INTERNAL_ERROR;
    }
}

enum hs_err hs_s3_err_render(struct hs_buf *out, enum hs_s3_err e, const char *message,
                             const char *resource, const char *request_id)
{
    struct hs_s3_xml x;
    hs_s3_xml_begin(&x, out);
    hs_s3_xml_open(&x, "Error", NULL);
    hs_s3_xml_elem(&x, "Code", hs_s3_err_code(e));
    hs_s3_xml_elem(&x, "Message", message != NULL ? message : hs_s3_err_message(e));
    if (resource != NULL)
        hs_s3_xml_elem(&x, "Resource", resource);
    if (request_id != NULL)
        hs_s3_xml_elem(&x, "RequestId", request_id);
    hs_s3_xml_close(&x);
    return hs_s3_xml_end(&x);
}
