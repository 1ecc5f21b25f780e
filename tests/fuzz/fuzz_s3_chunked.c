/* fuzz_s3_chunked.c - arbitrary bodies through the aws-chunked decoder, in the unsigned-trailer
 * mode (where framing and trailers are reachable without a signature) and the signed mode with a
 * fixed key. The first input byte picks the mode and where the body is split between two feeds.
 * Beyond "no crash": never more payload bytes than body bytes, a successful finish only in
 * state "done", and trailers within their bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hs/s3_chunked.h"
#include "hs/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum hs_err sink(void *arg, const uint8_t *data, size_t len)
{
    (void)data;
    *(size_t *)arg += len;
    return HS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    struct hs_s3_sigv4_result auth;
    memset(&auth, 0, sizeof auth);
    auth.payload = (sel & 1) != 0 ? HS_S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER
                                  : HS_S3_PAYLOAD_STREAMING_SIGNED_TRAILER;
    memset(auth.seed_signature, 'a', HS_S3_SIG_HEX_LEN);
    memcpy(auth.scope, "20261207/us-east-1/s3/aws4_request", 35);
    memcpy(auth.amz_date, "20261207T050000Z", 17);
    size_t delivered = 0;
    struct hs_s3_chunked_opts o = {.auth = &auth,
                                   .decoded_length = (sel & 2) != 0 ? 11 : -1,
                                   .declared_trailers =
                                       (sel & 4) != 0 ? "x-amz-checksum-crc32" : NULL,
                                   .on_data = sink,
                                   .arg = &delivered};
    struct hs_s3_chunked *c = NULL;
    if (hs_s3_chunked_new(&o, &c) != HS_OK)
        abort();
    size_t split = size > 0 ? (size_t)(sel >> 3) % (size + 1) : 0;
    enum hs_err err = hs_s3_chunked_feed(c, data, split);
    if (err == HS_OK)
        err = hs_s3_chunked_feed(c, data + split, size - split);
    if (err == HS_OK)
        err = hs_s3_chunked_finish(c);
    if (delivered > size || delivered != hs_s3_chunked_payload_bytes(c))
        abort();
    if ((err == HS_OK) != (hs_s3_chunked_error(c) == HS_S3_OK))
        abort();
    size_t n = 0;
    const struct hs_s3_trailer *t = hs_s3_chunked_trailers(c, &n);
    if (n > HS_S3_CHUNKED_TRAILERS_MAX)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (strlen(t[i].name) > HS_S3_TRAILER_NAME_MAX ||
            strlen(t[i].value) > HS_S3_TRAILER_VALUE_MAX)
            abort();
    }
    hs_s3_chunked_free(c);
    return 0;
}
