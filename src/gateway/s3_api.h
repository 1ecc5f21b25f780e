/* s3_api.h - the gateway's S3 front end: its own listener (--s3-port) and dispatcher, the ONE
 * table of S3 operations (s3_ops.c), the per-request S3 context every handler gets, the bucket
 * and key caches, the bucket <-> native key mapping and strategy resolution, and S3 error
 * answers. Handlers are in s3_bucket.c (buckets), s3_object*.c and s3_list.c (objects), and
 * s3_multipart*.c (multipart).
 *
 * Request life cycle (s3_front.c): the HTTP glue calls the dispatcher's start once the headers
 * are in. It parses the bucket and key from the raw target (path style /bucket/key, or
 * virtual-host style bucket.<root-domain>), picks the operation (method + subresource query +
 * x-amz-copy-source), verifies SigV4 (header or presigned) against the key cache, looks up the
 * bucket record, checks the caller's permissions, and only then runs the operation's start.
 * Body chunks and done go to the operation's callbacks. A handler finds everything in
 * hs_s3_req_of(r); the server context (hs_http_req_server_ctx) is the same struct hs_gw_server
 * as the native API's, with .s3 set. */
#ifndef HS_GATEWAY_S3_API_H
#define HS_GATEWAY_S3_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"
#include "hs/http_server.h"
#include "hs/manifest.h"
#include "hs/s3_err.h"
#include "hs/s3_records.h"
#include "hs/s3_sigv4.h"

struct hs_gw;

/* ---- the front end (s3_front.c) ---- */

struct hs_s3_front_opts {
    const char *root_domain; /* virtual-host style: <bucket>.<root_domain>; NULL = path only */
    const char *region;      /* signed scope region; NULL = "us-east-1" */
};
struct hs_s3_front;
/* Starts the key and bucket caches (etcd watches on s3keys/ and s3buckets/). *out owned by the
 * caller. Starts when etcd is down (requests then get 503 until the first load). */
enum hs_err hs_s3_front_new(struct hs_gw *gw, const struct hs_s3_front_opts *opts,
                            struct hs_s3_front **out);
void hs_s3_front_free(struct hs_s3_front *f);
const char *hs_s3_front_region(const struct hs_s3_front *f);

/* The S3 listener's routes (every method, every path, to the dispatcher). */
extern const struct hs_http_route hs_s3_routes[];
extern const size_t hs_s3_n_routes;
/* Metrics hook of the S3 listener: the route label is "s3:<operation>" ("s3" when none). */
void hs_s3_on_complete(void *ctx, const char *method, const char *route, unsigned status,
                       int64_t duration_us, int64_t bytes_in, int64_t bytes_out);

/* ---- the operation table (s3_ops.c) ---- */

enum {
    HS_S3_OP_SERVICE = 1u << 0,     /* no bucket in the request (GET /) */
    HS_S3_OP_BUCKET = 1u << 1,      /* a bucket and no key */
    HS_S3_OP_OBJECT = 1u << 2,      /* a bucket and a key */
    HS_S3_OP_WRITE = 1u << 3,       /* changes something: read-only keys get AccessDenied */
    HS_S3_OP_NEW_BUCKET = 1u << 4,  /* the bucket need not exist (CreateBucket) */
    HS_S3_OP_COPY_SOURCE = 1u << 5, /* only with an x-amz-copy-source header */
};

struct hs_s3_op {
    const char *name;          /* S3 API name, "PutObject": logs, error messages */
    const char *method;        /* "GET", "HEAD", "PUT", "POST", "DELETE" */
    unsigned flags;            /* HS_S3_OP_* */
    const char *sub;           /* query parameter that must be present, NULL = none */
    const char *sub_value;     /* its required value (list-type=2), NULL = any */
    const char *sub2;          /* a second required parameter, NULL = none */
    hs_http_handler_fn *start; /* may be NULL; as struct hs_http_route */
    hs_http_body_fn *body;     /* may be NULL: the body is discarded; one that fails answers
                                  with hs_s3_error itself, then returns the error */
    hs_http_handler_fn *done;  /* required */
};
extern const struct hs_s3_op hs_s3_ops[];
extern const size_t hs_s3_n_ops;

/* ---- the per-request context ---- */

/* What SigV4 verification found (filled by the dispatcher before the operation's start):
 * everything the body checks need (s3_chunked.h takes these as a struct hs_s3_sigv4_result;
 * the full result is in .result). */
struct hs_s3_auth_info {
    bool anonymous;                             /* no signature at all */
    bool presigned;                             /* signature in the query */
    enum hs_s3_payload_mode payload;            /* x-amz-content-sha256 mode */
    char seed_signature[HS_S3_SIG_HEX_LEN + 1]; /* the request's signature: first "previous" */
    uint8_t signing_key[32];                    /* kSigning for chunk/trailer signatures */
    char amz_date[HS_S3_AMZ_DATE_LEN + 1];      /* yyyymmddThhmmssZ */
    char scope[HS_S3_SCOPE_MAX];                /* date/region/s3/aws4_request */
    struct hs_s3_sigv4_result result;           /* the verifier's whole answer */
};

struct hs_s3_req {
    const struct hs_s3_op *op;
    struct hs_gw *gw;
    struct hs_s3_front *front;
    const char *request_id;
    const char *target; /* raw request target (path?query), as sent */
    const char *bucket; /* "" when none (service level) */
    const char *key;    /* decoded once from the target; NULL when none */
    size_t key_len;
    const char *native_key; /* "<bucket>/<key>" (hs_s3_native_key), NULL when no key */
    size_t native_key_len;
    bool virtual_host; /* the bucket came from the Host header */
    struct hs_s3_auth_info auth;
    bool has_bucket;                       /* bucket_rec holds the bucket's record */
    struct hs_s3_bucket_record bucket_rec; /* released with the request */
    bool has_caller;                /* caller holds the signing key's record (else anonymous) */
    struct hs_s3_key_record caller; /* released with the request */
    void *op_ctx;                   /* the operation's own state (arena or arena-deferred) */
};

/* The S3 context of a request served by the S3 listener (never NULL there). */
struct hs_s3_req *hs_s3_req_of(struct hs_http_req *r);

/* ---- mapping (s3_map.c): docs/s3.md "Mapping" ---- */

/* Native object key of (bucket, key): "<bucket>/<key>", arena-allocated. HS_EINVAL (S3:
 * KeyTooLongError when the key is valid but too long, else InvalidArgument) when the result
 * is not a valid native key (1..1024 bytes of UTF-8 without control characters). */
enum hs_err hs_s3_native_key(struct hs_arena *a, const char *bucket, const char *key,
                             size_t key_len, const char **out, size_t *out_len);
/* The S3 key of a native key under bucket (a pointer into native), or NULL when native is not
 * under "<bucket>/". */
const char *hs_s3_key_of_native(const char *bucket, const char *native);
/* Strategy of a new object: x-amz-storage-class (may be NULL) first, then the bucket's default.
 * HS_EINVAL for an unknown storage class (S3: InvalidStorageClass). *out 0 = auto. */
enum hs_err hs_s3_strategy_resolve(const char *storage_class,
                                   const struct hs_s3_bucket_record *bucket, enum hs_strategy *out);
/* The storage class reported for an object of strategy s (ListObjects, HEAD). */
const char *hs_s3_storage_class_of(enum hs_strategy s);

/* ---- answers (s3_front.c) ---- */

/* S3 error answer: <Error><Code/><Message/><Resource/><RequestId/></Error> as application/xml
 * with the status of code (the S3 error table, s3_err.h; an unknown code answers 500
 * InternalError), x-amz-request-id, no body on HEAD (nor on 304). fmt may be NULL (the table's
 * default message). */
void hs_s3_error(struct hs_http_req *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same with the table's enum; detail NULL or "" = the default message. */
void hs_s3_error_e(struct hs_http_req *r, enum hs_s3_err e, const char *detail);
/* The S3 error for an object-layer error (HS_ENOENT with a key: NoSuchKey; HS_EPRECONDITION:
 * PreconditionFailed; HS_EBUSY/HS_EUNAVAIL: ServiceUnavailable/SlowDown; ...), msg as the
 * message (may be empty). */
void hs_s3_error_hs(struct hs_http_req *r, enum hs_err err, const char *msg);
/* Sends xml (NUL-terminated, copied) as application/xml with x-amz-request-id. */
void hs_s3_respond_xml(struct hs_http_req *r, unsigned status, const char *xml, size_t len);
/* Adds x-amz-request-id (every S3 answer carries it; hs_s3_error and hs_s3_respond_xml add it
 * themselves): call before other hs_http_respond_* calls. */
void hs_s3_add_request_id(struct hs_http_req *r);

/* Whether the caller's key may read (write = false) or write bucket: true, or false after
 * answering AccessDenied. For operations that touch a second bucket (CopyObject's source). */
bool hs_s3_check_access(struct hs_http_req *r, const char *bucket, bool write);

/* ---- bucket operations (s3_bucket.c) ---- */
void hs_s3_list_buckets_done(struct hs_http_req *r);
void hs_s3_create_bucket_start(struct hs_http_req *r);
enum hs_err hs_s3_create_bucket_body(struct hs_http_req *r, const void *data, size_t n);
void hs_s3_create_bucket_done(struct hs_http_req *r);
void hs_s3_head_bucket_done(struct hs_http_req *r);
void hs_s3_delete_bucket_done(struct hs_http_req *r);
void hs_s3_get_bucket_location_done(struct hs_http_req *r);
void hs_s3_get_bucket_versioning_done(struct hs_http_req *r);

/* ---- object operations (s3_object*.c, s3_list.c) ---- */
void hs_s3_put_object_start(struct hs_http_req *r);
enum hs_err hs_s3_put_object_body(struct hs_http_req *r, const void *data, size_t n);
void hs_s3_put_object_done(struct hs_http_req *r);
void hs_s3_copy_object_done(struct hs_http_req *r);
void hs_s3_get_object_done(struct hs_http_req *r);
void hs_s3_head_object_done(struct hs_http_req *r);
void hs_s3_delete_object_done(struct hs_http_req *r);
void hs_s3_delete_objects_start(struct hs_http_req *r);
enum hs_err hs_s3_delete_objects_body(struct hs_http_req *r, const void *data, size_t n);
void hs_s3_delete_objects_done(struct hs_http_req *r);
void hs_s3_list_objects_done(struct hs_http_req *r);
void hs_s3_list_objects_v2_done(struct hs_http_req *r);
void hs_s3_list_object_versions_done(struct hs_http_req *r);
/* GetObjectTagging: an empty TagSet (s3_tagging.c) */
void hs_s3_get_object_tagging_done(struct hs_http_req *r);

/* ---- multipart operations (s3_multipart*.c) ---- */
void hs_s3_create_multipart_done(struct hs_http_req *r);
void hs_s3_upload_part_start(struct hs_http_req *r);
enum hs_err hs_s3_upload_part_body(struct hs_http_req *r, const void *data, size_t n);
void hs_s3_upload_part_done(struct hs_http_req *r);
void hs_s3_upload_part_copy_done(struct hs_http_req *r);
void hs_s3_complete_multipart_start(struct hs_http_req *r);
enum hs_err hs_s3_complete_multipart_body(struct hs_http_req *r, const void *data, size_t n);
void hs_s3_complete_multipart_done(struct hs_http_req *r);
void hs_s3_abort_multipart_done(struct hs_http_req *r);
void hs_s3_list_parts_done(struct hs_http_req *r);
void hs_s3_list_multipart_uploads_done(struct hs_http_req *r);

#endif
