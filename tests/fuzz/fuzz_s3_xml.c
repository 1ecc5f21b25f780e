/* fuzz_s3_xml.c - arbitrary bytes through the three S3 request-body parsers (CreateBucket
 * configuration, CompleteMultipartUpload, Delete). Beyond "no crash, no leak": an accepted
 * document respects every documented limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hs/s3_xml.h"
#include "hs/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hs_s3_create_bucket_conf cb;
    if (hs_s3_xml_parse_create_bucket(data, size, &cb) == HS_S3_OK &&
        strlen(cb.location) >= sizeof cb.location)
        abort();
    struct hs_s3_complete_upload cu;
    if (hs_s3_xml_parse_complete(data, size, &cu) == HS_S3_OK) {
        if (cu.n_parts == 0 || cu.n_parts > HS_S3_PARTS_MAX)
            abort();
        for (size_t i = 0; i < cu.n_parts; i++) {
            if (cu.parts[i].part_number < 1 || cu.parts[i].part_number > HS_S3_PARTS_MAX ||
                cu.parts[i].etag[0] == '\0')
                abort();
        }
        hs_s3_complete_upload_release(&cu);
    }
    struct hs_s3_delete_request dr;
    if (hs_s3_xml_parse_delete(data, size, &dr) == HS_S3_OK) {
        if (dr.n_objects == 0 || dr.n_objects > HS_S3_DELETE_OBJECTS_MAX)
            abort();
        for (size_t i = 0; i < dr.n_objects; i++) {
            if (dr.objects[i].key == NULL || dr.objects[i].key_len == 0 ||
                dr.objects[i].key_len > HS_S3_KEY_MAX ||
                strlen(dr.objects[i].key) != dr.objects[i].key_len)
                abort();
        }
        hs_s3_delete_request_release(&dr);
    }
    return 0;
}
