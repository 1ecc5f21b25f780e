/* s3_stubs.c - 501 NotImplemented for the S3 operations whose handlers are not written yet:
 * the object operations (s3_object*.c, s3_list.c).
 * Whoever writes a handler deletes its line here. A stub answers in start, so a body is never
 * read. */
#include "gateway/s3_api.h"
#include "hs/banned.h"

#define STUB_DONE(fn)                                                                              \
    void fn(struct hs_http_req *r)                                                                 \
    {                                                                                              \
        hs_s3_error(r, "NotImplemented", "%s is not implemented yet", hs_s3_req_of(r)->op->name);  \
    }
#define STUB_BODY(fn)                                                                              \
    enum hs_err fn(struct hs_http_req *r, const void *data, size_t n)                              \
    {                                                                                              \
        (void)r;                                                                                   \
        (void)data;                                                                                \
        (void)n;                                                                                   \
        return HS_OK;                                                                              \
    }

/* objects (s3obj) */
STUB_DONE(hs_s3_put_object_start)
STUB_BODY(hs_s3_put_object_body)
STUB_DONE(hs_s3_put_object_done)
STUB_DONE(hs_s3_copy_object_done)
STUB_DONE(hs_s3_get_object_done)
STUB_DONE(hs_s3_head_object_done)
STUB_DONE(hs_s3_delete_object_done)
STUB_DONE(hs_s3_delete_objects_start)
STUB_BODY(hs_s3_delete_objects_body)
STUB_DONE(hs_s3_delete_objects_done)
STUB_DONE(hs_s3_list_objects_done)
STUB_DONE(hs_s3_list_objects_v2_done)
STUB_DONE(hs_s3_list_object_versions_done)
