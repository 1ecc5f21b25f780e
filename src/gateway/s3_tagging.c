/* s3_tagging.c - GetObjectTagging for a store without object tags: an existing object answers
 * an empty TagSet (true: it has no tags), a missing one NoSuchKey. aws-cli asks for the source's
 * tags before every multipart copy (`aws s3 cp s3://a/k s3://b/k` above 8 MB) and gives up on an
 * error. Putting tags (PutObjectTagging, x-amz-tagging) stays 501 NotImplemented. */
#include "gateway/s3_api.h"
#include "gateway/s3_object_int.h"
#include "hs/buf.h"
#include "hs/s3_xml.h"
#include "hs/banned.h"

void hs_s3_get_object_tagging_done(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    if (!hs_s3_version_null(r))
        return;
    struct hs_manifest m;
    hs_manifest_init(&m);
    int64_t rev = 0;
    enum hs_err err = hs_obj_manifest_get(s->gw, s->native_key, s->native_key_len, &m, &rev);
    hs_manifest_release(&m);
    if (err != HS_OK) {
        hs_s3_error_hs(r, err, err == HS_ENOENT ? "" : "cannot read the object's manifest");
        return;
    }
    struct hs_buf b;
    hs_buf_init(&b, 0);
    struct hs_s3_xml x;
    hs_s3_xml_begin(&x, &b);
    hs_s3_xml_open(&x, "Tagging", HS_S3_XMLNS);
    hs_s3_xml_open(&x, "TagSet", NULL);
    hs_s3_xml_close(&x);
    hs_s3_xml_close(&x);
    if (hs_s3_xml_end(&x) != HS_OK) {
        hs_buf_release(&b);
        hs_s3_error_e(r, HS_S3_INTERNAL_ERROR, "cannot build the answer");
        return;
    }
    hs_s3_respond_xml(r, 200, (const char *)b.data, b.len);
    hs_buf_release(&b);
}
