/* s3_xml.h - S3's XML: a small writer over hs_buf for every response body, and strict parsers
 * (expat) for the three request bodies S3 clients send: CreateBucketConfiguration,
 * CompleteMultipartUpload and Delete. Parsers take the whole body (size-capped), accept the
 * S3 namespace or none, reject DTDs, unknown structure, oversized fields and too many items
 * with MalformedXML, and return plain heap structs. Not thread-safe per object; the functions
 * share no state. */
#ifndef HS_S3_XML_H
#define HS_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/buf.h"
#include "hs/err.h"
#include "hs/s3_checksum.h"
#include "hs/s3_err.h"

#define HS_S3_XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"

/* ---- Writer ---------------------------------------------------------------------------------
 *   struct hs_s3_xml x;
 *   hs_s3_xml_begin(&x, buf);                       // <?xml version="1.0" encoding="UTF-8"?>
 *   hs_s3_xml_open(&x, "ListBucketResult", HS_S3_XMLNS);
 *   hs_s3_xml_elem(&x, "Name", bucket);             // <Name>escaped</Name>
 *   hs_s3_xml_close(&x);                            // </ListBucketResult>
 *   err = hs_s3_xml_end(&x);                        // first error, or unbalanced elements
 * Errors are sticky (calls after one do nothing), so a caller checks once at the end. Text and
 * attribute values are escaped: & < > " ' as entities, control characters (tab, CR and LF
 * included, so that they survive attribute and line-end normalisation) as &#xN;. */
#define HS_S3_XML_DEPTH_MAX 16

struct hs_s3_xml {
    struct hs_buf *out;                     /* borrowed */
    enum hs_err err;                        /* first error, sticky */
    unsigned depth;                         /* open elements */
    const char *stack[HS_S3_XML_DEPTH_MAX]; /* their names (borrowed: string literals) */
};

/* Starts a document: writes the XML declaration. */
void hs_s3_xml_begin(struct hs_s3_xml *x, struct hs_buf *out);
/* Opens <name> or <name xmlns="...">; name must outlive the matching close (use literals). */
void hs_s3_xml_open(struct hs_s3_xml *x, const char *name, const char *xmlns);
/* Closes the innermost open element. */
void hs_s3_xml_close(struct hs_s3_xml *x);
/* <name>text</name>, text escaped (NUL-terminated; NULL writes an empty element). */
void hs_s3_xml_elem(struct hs_s3_xml *x, const char *name, const char *text);
/* Same with a length; NUL bytes are dropped (XML cannot carry them). */
void hs_s3_xml_elem_n(struct hs_s3_xml *x, const char *name, const char *text, size_t len);
void hs_s3_xml_elem_u64(struct hs_s3_xml *x, const char *name, uint64_t v);
void hs_s3_xml_elem_bool(struct hs_s3_xml *x, const char *name, bool v); /* true / false */
/* HS_OK, the first error (HS_ETOOBIG when the buffer's cap was reached), or HS_EINVAL when
 * elements are still open or were over-closed. */
enum hs_err hs_s3_xml_end(struct hs_s3_xml *x);
/* Appends text escaped as above. HS_ETOOBIG past the buffer's cap. */
enum hs_err hs_s3_xml_escape(struct hs_buf *out, const char *text, size_t len);

/* ---- Request bodies --------------------------------------------------------------------------
 * Every parser: HS_S3_OK and *out filled, or an error with *out untouched (nothing to release):
 * HS_S3_MALFORMED_XML for anything not well-formed or not of the expected shape (wrong root,
 * unknown or repeated elements, empty required fields, bad numbers, a DOCTYPE, too many items,
 * a body over the parser's cap). */
#define HS_S3_XML_CREATE_BUCKET_MAX ((size_t)64 * 1024) /* body bytes */
#define HS_S3_XML_COMPLETE_MAX      ((size_t)8 * 1024 * 1024)
#define HS_S3_XML_DELETE_MAX        ((size_t)2 * 1024 * 1024)
#define HS_S3_PARTS_MAX             10000 /* parts per upload (and part numbers 1..10000) */
#define HS_S3_DELETE_OBJECTS_MAX    1000
#define HS_S3_KEY_MAX               1024 /* bytes of an object key */

/* <CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint>
 * </CreateBucketConfiguration>; an empty body is the caller's business (no configuration). */
struct hs_s3_create_bucket_conf {
    bool has_location;
    char location[64]; /* LocationConstraint, "" when empty */
};
enum hs_s3_err hs_s3_xml_parse_create_bucket(const void *body, size_t len,
                                             struct hs_s3_create_bucket_conf *out);

/* <CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"..."</ETag>
 * [<ChecksumCRC32>...</ChecksumCRC32>]</Part>...</CompleteMultipartUpload>
 * Parts come in document order (ordering and duplicates are the caller's check:
 * InvalidPartOrder); 1..HS_S3_PARTS_MAX parts; PartNumber in 1..10000. */
struct hs_s3_complete_part {
    uint32_t part_number;
    char etag[HS_S3_ETAG_MAX];           /* without quotes: "d41d8cd98f00b204e9800998ecf8427e" */
    enum hs_s3_cksum_algo cksum;         /* the checksum element present, or NONE */
    char cksum_b64[HS_S3_CKSUM_B64_MAX]; /* its value as sent */
};
struct hs_s3_complete_upload {
    struct hs_s3_complete_part *parts; /* owned, n_parts entries */
    size_t n_parts;
};
enum hs_s3_err hs_s3_xml_parse_complete(const void *body, size_t len,
                                        struct hs_s3_complete_upload *out);
/* Frees the parts; c may be NULL. */
void hs_s3_complete_upload_release(struct hs_s3_complete_upload *c);

/* <Delete><Quiet>true</Quiet><Object><Key>k</Key><VersionId>null</VersionId></Object>...
 * </Delete>: 1..HS_S3_DELETE_OBJECTS_MAX objects, keys 1..HS_S3_KEY_MAX bytes. */
struct hs_s3_delete_object {
    char *key; /* owned, NUL-terminated (a key containing NUL is MalformedXML) */
    size_t key_len;
    char *version_id; /* owned, NULL when absent */
};
struct hs_s3_delete_request {
    bool quiet;
    struct hs_s3_delete_object *objects; /* owned, n_objects entries */
    size_t n_objects;
};
enum hs_s3_err hs_s3_xml_parse_delete(const void *body, size_t len,
                                      struct hs_s3_delete_request *out);
/* Frees the objects and their strings; d may be NULL. */
void hs_s3_delete_request_release(struct hs_s3_delete_request *d);

#endif
