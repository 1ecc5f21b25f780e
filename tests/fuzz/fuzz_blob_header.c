/* fuzz_blob_header.c - arbitrary bytes as a blob header and as a whole blob file. The decoder
 * must never read past the input nor crash; whatever it accepts must re-encode to the same
 * bytes; hs_blob_inspect_file must agree with the decoder on the same bytes as a file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hs/blob.h"
#include "hs/codec.h"
#include "hs/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes the input to an anonymous in-memory file and inspects it through its /proc path, so
 * the file-reading code (pread loops, size check, chunked CRC) sees the same bytes. */
static void inspect_as_file(const uint8_t *data, size_t size, enum hs_err header_err,
                            const struct hs_blob_header *h)
{
    int fd = memfd_create("fuzz_blob", MFD_CLOEXEC);
    if (fd < 0)
        return;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct hs_blob_inspection in;
    if (off == size && hs_blob_inspect_file(path, &in) == HS_OK) {
        bool whole = header_err == HS_OK && size - h->header_bytes == (uint64_t)h->payload_bytes;
        bool intact =
            whole && hs_crc32c(0, data + h->header_bytes, size - h->header_bytes) == h->payload_crc;
        if (in.header_ok != (header_err == HS_OK) || (in.verdict == HS_OK) != intact ||
            in.payload_checked != whole || (in.verdict != HS_OK && !in.problem))
            abort();
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hs_blob_header h;
    const char *problem = NULL;
    enum hs_err err = hs_blob_header_decode(data, size, &h, &problem);
    if (err == HS_OK) {
        uint8_t buf[HS_BLOB_HEADER_MAX_BYTES];
        if (h.header_bytes > size || !hs_blob_id_valid(h.id) ||
            hs_blob_header_bytes(strlen(h.id)) != h.header_bytes || h.payload_bytes < 0)
            abort();
        size_t n = hs_blob_header_encode(&h, buf);
        if (n != h.header_bytes || memcmp(buf, data, n) != 0)
            abort();
    } else if (err != HS_ECORRUPT || !problem) {
        abort();
    }
    inspect_as_file(data, size, err, &h);
    return 0;
}
