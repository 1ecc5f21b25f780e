/* s3_ops.c - every S3 operation the gateway serves, in one table: the dispatcher (s3_front.c)
 * takes the first row whose method, level (service, bucket, object), required subresource query
 * parameters and copy-source condition match; a request that names a subresource no matching
 * row claims (?acl, ?policy, ?tagging, ...) or that no row matches gets 501 NotImplemented.
 * Adding an operation is adding a row (more specific rows first). Handlers: s3_bucket.c,
 * s3_object*.c, s3_list.c, s3_multipart*.c. */
#include "gateway/s3_api.h"
#include "hs/banned.h"

#define SVC  HS_S3_OP_SERVICE
#define BKT  HS_S3_OP_BUCKET
#define OBJ  HS_S3_OP_OBJECT
#define WR   HS_S3_OP_WRITE
#define NEWB HS_S3_OP_NEW_BUCKET
#define COPY HS_S3_OP_COPY_SOURCE

const struct hs_s3_op hs_s3_ops[] = {
    /* service */
    {"ListBuckets", "GET", SVC, NULL, NULL, NULL, NULL, NULL, hs_s3_list_buckets_done},
    /* buckets */
    {"GetBucketLocation", "GET", BKT, "location", NULL, NULL, NULL, NULL,
     hs_s3_get_bucket_location_done},
    {"GetBucketVersioning", "GET", BKT, "versioning", NULL, NULL, NULL, NULL,
     hs_s3_get_bucket_versioning_done},
    {"ListObjectVersions", "GET", BKT, "versions", NULL, NULL, NULL, NULL,
     hs_s3_list_object_versions_done},
    {"ListMultipartUploads", "GET", BKT, "uploads", NULL, NULL, NULL, NULL,
     hs_s3_list_multipart_uploads_done},
    {"ListObjectsV2", "GET", BKT, "list-type", "2", NULL, NULL, NULL, hs_s3_list_objects_v2_done},
    {"ListObjects", "GET", BKT, NULL, NULL, NULL, NULL, NULL, hs_s3_list_objects_done},
    {"HeadBucket", "HEAD", BKT, NULL, NULL, NULL, NULL, NULL, hs_s3_head_bucket_done},
    {"DeleteObjects", "POST", BKT | WR, "delete", NULL, NULL, hs_s3_delete_objects_start,
     hs_s3_delete_objects_body, hs_s3_delete_objects_done},
    {"CreateBucket", "PUT", BKT | WR | NEWB, NULL, NULL, NULL, hs_s3_create_bucket_start,
     hs_s3_create_bucket_body, hs_s3_create_bucket_done},
    {"DeleteBucket", "DELETE", BKT | WR, NULL, NULL, NULL, NULL, NULL, hs_s3_delete_bucket_done},
    /* multipart */
    {"CreateMultipartUpload", "POST", OBJ | WR, "uploads", NULL, NULL, NULL, NULL,
     hs_s3_create_multipart_done},
    {"CompleteMultipartUpload", "POST", OBJ | WR, "uploadId", NULL, NULL,
     hs_s3_complete_multipart_start, hs_s3_complete_multipart_body, hs_s3_complete_multipart_done},
    {"UploadPartCopy", "PUT", OBJ | WR | COPY, "uploadId", NULL, "partNumber", NULL, NULL,
     hs_s3_upload_part_copy_done},
    {"UploadPart", "PUT", OBJ | WR, "uploadId", NULL, "partNumber", hs_s3_upload_part_start,
     hs_s3_upload_part_body, hs_s3_upload_part_done},
    {"AbortMultipartUpload", "DELETE", OBJ | WR, "uploadId", NULL, NULL, NULL, NULL,
     hs_s3_abort_multipart_done},
    {"ListParts", "GET", OBJ, "uploadId", NULL, NULL, NULL, NULL, hs_s3_list_parts_done},
    /* objects */
    {"CopyObject", "PUT", OBJ | WR | COPY, NULL, NULL, NULL, NULL, NULL, hs_s3_copy_object_done},
    {"PutObject", "PUT", OBJ | WR, NULL, NULL, NULL, hs_s3_put_object_start, hs_s3_put_object_body,
     hs_s3_put_object_done},
    {"GetObjectTagging", "GET", OBJ, "tagging", NULL, NULL, NULL, NULL,
     hs_s3_get_object_tagging_done},
    {"GetObject", "GET", OBJ, NULL, NULL, NULL, NULL, NULL, hs_s3_get_object_done},
    {"HeadObject", "HEAD", OBJ, NULL, NULL, NULL, NULL, NULL, hs_s3_head_object_done},
    {"DeleteObject", "DELETE", OBJ | WR, NULL, NULL, NULL, NULL, NULL, hs_s3_delete_object_done},
};

const size_t hs_s3_n_ops = sizeof hs_s3_ops / sizeof hs_s3_ops[0];
