/* s3_multipart_int.h - shared by the S3 multipart handlers (docs/s3.md "Multipart"):
 * s3_multipart.c (Create, Abort, ListParts, ListMultipartUploads, the upload record helpers),
 * s3_multipart_part.c (UploadPart, UploadPartCopy) and s3_multipart_complete.c (Complete).
 * Upload and part records are meta's (include/hs/upload.h). */
#ifndef HS_GATEWAY_S3_MULTIPART_INT_H
#define HS_GATEWAY_S3_MULTIPART_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/s3_api.h"
#include "hs/buf.h"
#include "hs/upload.h"

#define HS_MPU_XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define HS_MPU_S3_NS    "http://s3.amazonaws.com/doc/2006-03-01/"

/* An upload record as read from etcd. */
struct hs_mpu_upload {
    char *etcd_key; /* heap */
    int64_t rev;    /* mod_revision read */
    struct hs_upload_record rec;
};

/* Reads the upload id of the request (?uploadId=) for its native key. HS_ENOENT when the id is
 * malformed or the record is absent, HS_EUNAVAIL when etcd does not answer, HS_ECORRUPT for an
 * unreadable record. out released by hs_mpu_upload_release (also after an error). */
enum hs_err hs_mpu_load(struct hs_gw *gw, const char *native_key, const char *upload_id,
                        struct hs_mpu_upload *out);
void hs_mpu_upload_release(struct hs_mpu_upload *u);
/* Loads the request's upload and answers NoSuchUpload (or 503) unless it is OPEN: true when it
 * is (u filled). */
bool hs_mpu_load_open(struct hs_http_req *r, struct hs_mpu_upload *u);
/* Ends an upload that left OPEN right away (part records -> retire records, then the upload
 * record); what fails is left to the healer's upload pass. Best effort, logged. */
void hs_mpu_cleanup(struct hs_gw *gw, const struct hs_mpu_upload *u, const char *req_id);
/* Sends b (taken) as a 200 application/xml answer. */
void hs_mpu_respond_xml(struct hs_http_req *r, struct hs_buf *b);
/* Appends the XML-escaped text (of n bytes). */
void hs_mpu_xml_text(struct hs_buf *b, const char *s);
void hs_mpu_xml_text_n(struct hs_buf *b, const char *s, size_t n);

#endif
