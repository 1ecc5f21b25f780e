/* header.c - the blob file format: id rules, fan-out names, header encode/decode (field by
 * field, little-endian, see the table in hs/blob.h), payload CRC streaming, and
 * hs_blob_inspect_file for `hybridstore debug shard`. No store state lives here. */
#include "blob_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hs/codec.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

/* Field offsets of the v1 header (see the table in hs/blob.h). */
enum {
    OFF_MAGIC = 0,
    OFF_VERSION = 8,
    OFF_HEADER_LEN = 10,
    OFF_FLAGS = 12,
    OFF_PAYLOAD_LEN = 16,
    OFF_PAYLOAD_CRC = 24,
    OFF_ID_LEN = 28,
    OFF_RESERVED = 30,
    OFF_CREATED = 32,
    OFF_ID = 40,
};
_Static_assert(OFF_ID + 4 == HS_BLOB_HEADER_FIXED_BYTES, "id is followed only by the CRC");

bool hs_blob_id_valid(const char *id)
{
    if (!id || id[0] == '\0' || id[0] == '.')
        return false;
    size_t i = 0;
    for (; id[i] != '\0'; i++) {
        char c = id[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-' || c == '.';
        if (!ok || i >= HS_BLOB_ID_MAX)
            return false;
        if (c == '.' && id[i + 1] == '.')
            return false;
    }
    return true;
}

void hs_blob_fanout(const char *id, char d1[3], char d2[3])
{
    /* Pad with a character that sorts before every id character, so that the directory names
     * are a monotone function of the id: "a" < "a-x" and "a+" < "a-" agree. */
    char padded[5] = {HS_BLOB_FANOUT_PAD, HS_BLOB_FANOUT_PAD, HS_BLOB_FANOUT_PAD,
                      HS_BLOB_FANOUT_PAD, '\0'};
    memcpy(padded, id, strnlen(id, 4));
    memcpy(d1, padded, 2);
    memcpy(d2, padded + 2, 2);
    d1[2] = '\0';
    d2[2] = '\0';
}

bool hs_blob_fanout_name_valid(const char *n)
{
    for (int i = 0; i < 2; i++) {
        char c = n[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-' || c == '.' ||
              c == HS_BLOB_FANOUT_PAD))
            return false;
    }
    return n[2] == '\0' && strcmp(n, "..") != 0;
}

void hs_blob_rel_dir(const char *id, char rel[6])
{
    char d1[3], d2[3];
    hs_blob_fanout(id, d1, d2);
    memcpy(rel, d1, 2);
    rel[2] = '/';
    memcpy(rel + 3, d2, 2);
    rel[5] = '\0';
}

void hs_blob_rel_path(const char *id, char rel[HS_BLOB_REL_MAX])
{
    size_t n = strlen(id);
    hs_blob_rel_dir(id, rel);
    rel[5] = '/';
    memcpy(rel + 6, id, n + 1);
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

size_t hs_blob_header_encode(const struct hs_blob_header *h, uint8_t *buf)
{
    size_t id_len = strlen(h->id);
    if (id_len == 0 || id_len > HS_BLOB_ID_MAX || h->payload_bytes < 0)
        HS_BUG("blob header encode with id_len=%zu payload_bytes=%lld", id_len,
               (long long)h->payload_bytes);
    size_t hlen = hs_blob_header_bytes(id_len);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): no NUL after the magic on disk */
    memcpy(buf + OFF_MAGIC, HS_BLOB_MAGIC, HS_BLOB_MAGIC_BYTES);
    put_le16(buf + OFF_VERSION, HS_BLOB_FORMAT_VERSION);
    put_le16(buf + OFF_HEADER_LEN, (uint16_t)hlen);
    put_le32(buf + OFF_FLAGS, 0);
    put_le64(buf + OFF_PAYLOAD_LEN, (uint64_t)h->payload_bytes);
    put_le32(buf + OFF_PAYLOAD_CRC, h->payload_crc);
    put_le16(buf + OFF_ID_LEN, (uint16_t)id_len);
    put_le16(buf + OFF_RESERVED, 0);
    put_le64(buf + OFF_CREATED, (uint64_t)h->created_ms);
    memcpy(buf + OFF_ID, h->id, id_len);
    put_le32(buf + OFF_ID + id_len, hs_crc32c(0, buf, OFF_ID + id_len));
    return hlen;
}

/* Sets *problem (when wanted) and returns HS_ECORRUPT, so checks read as one line each. */
static enum hs_err corrupt(const char **problem_out, const char *problem)
{
    if (problem_out)
        *problem_out = problem;
    return HS_ECORRUPT;
}

enum hs_err hs_blob_header_decode(const void *buf, size_t len, struct hs_blob_header *out,
                                  const char **problem_out)
{
    const uint8_t *p = buf;
    /* Order matters only for the message: lengths first so that nothing reads past len, then
     * the header CRC, so that a flipped bit reports as such rather than as a bad field. */
    if (len < HS_BLOB_HEADER_FIXED_BYTES)
        return corrupt(problem_out, "file shorter than a header");
    if (memcmp(p + OFF_MAGIC, HS_BLOB_MAGIC, HS_BLOB_MAGIC_BYTES) != 0)
        return corrupt(problem_out, "bad magic");
    if (get_le16(p + OFF_VERSION) != HS_BLOB_FORMAT_VERSION)
        return corrupt(problem_out, "unsupported format version");
    size_t id_len = get_le16(p + OFF_ID_LEN);
    size_t hlen = get_le16(p + OFF_HEADER_LEN);
    if (id_len == 0 || id_len > HS_BLOB_ID_MAX || hlen != hs_blob_header_bytes(id_len))
        return corrupt(problem_out, "bad header or id length");
    if (len < hlen)
        return corrupt(problem_out, "file shorter than its header");
    if (get_le32(p + OFF_ID + id_len) != hs_crc32c(0, p, OFF_ID + id_len))
        return corrupt(problem_out, "header crc mismatch");
    if (get_le32(p + OFF_FLAGS) != 0 || get_le16(p + OFF_RESERVED) != 0)
        return corrupt(problem_out, "unknown flags or reserved bits set");
    uint64_t plen = get_le64(p + OFF_PAYLOAD_LEN);
    if (plen > (uint64_t)INT64_MAX - hlen)
        return corrupt(problem_out, "payload length out of range");
    char id[HS_BLOB_ID_MAX + 1];
    memcpy(id, p + OFF_ID, id_len);
    id[id_len] = '\0';
    if (strlen(id) != id_len || !hs_blob_id_valid(id))
        return corrupt(problem_out, "invalid id in header");

    out->version = HS_BLOB_FORMAT_VERSION;
    out->header_bytes = (uint16_t)hlen;
    out->flags = 0;
    out->payload_bytes = (int64_t)plen;
    out->payload_crc = get_le32(p + OFF_PAYLOAD_CRC);
    out->created_ms = (int64_t)get_le64(p + OFF_CREATED);
    memcpy(out->id, id, id_len + 1);
    return HS_OK;
}

enum hs_err hs_blob_check_header(const uint8_t *buf, size_t len, int64_t file_bytes,
                                 const char *expect_id, struct hs_blob_header *hdr_out,
                                 const char **problem_out)
{
    struct hs_blob_header h;
    enum hs_err err = hs_blob_header_decode(buf, len, &h, problem_out);
    if (err != HS_OK)
        return err;
    if (expect_id && strcmp(h.id, expect_id) != 0)
        return corrupt(problem_out, "id in header differs from file name");
    if (file_bytes != (int64_t)h.header_bytes + h.payload_bytes)
        return corrupt(problem_out, "file size differs from header length + payload length");
    *hdr_out = h;
    return HS_OK;
}

/* pread of up to n bytes at 0, restarting after signals and short reads; stops at the end of
 * the file. The bytes read, or -1 with errno set. */
static ssize_t pread_upto(int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

enum hs_err hs_blob_read_header(int fd, const char *expect_id, struct hs_blob_header *hdr_out,
                                int64_t *file_bytes_out, const char **problem_out)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return hs_blob_io_error("fstat", expect_id ? expect_id : "", errno);
    if (file_bytes_out)
        *file_bytes_out = (int64_t)st.st_size;
    uint8_t buf[HS_BLOB_HEADER_MAX_BYTES];
    ssize_t got = pread_upto(fd, buf, sizeof buf);
    if (got < 0)
        return hs_blob_io_error("pread", expect_id ? expect_id : "", errno);
    return hs_blob_check_header(buf, (size_t)got, (int64_t)st.st_size, expect_id, hdr_out,
                                problem_out);
}

enum hs_err hs_blob_read_file(int fd, const char *id, int64_t max_payload_bytes,
                              struct hs_blob_header *hdr_out, uint8_t **file_out,
                              const char **problem_out)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return hs_blob_io_error("fstat", id, errno);
    if (st.st_size > (off_t)hs_blob_header_bytes(strlen(id)) + max_payload_bytes)
        return HS_ETOOBIG;
    size_t size = (size_t)st.st_size;
    uint8_t *buf = hs_xmalloc(size ? size : 1);
    ssize_t got = pread_upto(fd, buf, size);
    enum hs_err err = HS_OK;
    struct hs_blob_header h;
    if (got < 0)
        err = hs_blob_io_error("pread", id, errno);
    else if ((size_t)got != size)
        err = corrupt(problem_out, "file shorter than its size");
    else
        err = hs_blob_check_header(buf, size, (int64_t)size, id, &h, problem_out);
    if (err == HS_OK &&
        hs_crc32c(0, buf + h.header_bytes, (size_t)h.payload_bytes) != h.payload_crc)
        err = corrupt(problem_out, "payload crc mismatch");
    if (err != HS_OK) {
        free(buf);
        return err;
    }
    *hdr_out = h;
    *file_out = buf;
    return HS_OK;
}

enum hs_err hs_blob_crc_file(int fd, int64_t off, int64_t len, uint32_t *crc_out)
{
    /* Chunked pread keeps memory flat for any blob size; 128 KiB amortises the syscall to
     * well under the cost of reading the bytes. */
    size_t chunk = (size_t)HS_MIN(len, (int64_t)HS_BLOB_CRC_CHUNK);
    uint8_t *buf = hs_xmalloc(chunk ? chunk : 1);
    uint32_t crc = 0;
    enum hs_err err = HS_OK;
    int64_t done = 0;
    while (done < len) {
        size_t want = (size_t)HS_MIN(len - done, (int64_t)chunk);
        ssize_t n = pread(fd, buf, want, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = hs_blob_io_error("pread", "payload", errno);
            goto out;
        }
        if (n == 0) {
            err = HS_ECORRUPT; /* the file shrank under us */
            goto out;
        }
        crc = hs_crc32c(crc, buf, (size_t)n);
        done += n;
    }
    *crc_out = crc;
out:
    free(buf);
    return err;
}

enum hs_err hs_blob_inspect_file(const char *path, struct hs_blob_inspection *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? HS_ENOENT : hs_blob_io_error("open", path, errno);
    struct hs_blob_inspection r = {.verdict = HS_ECORRUPT};
    /* Decode without the file-name check: the debug tool may be given a quarantined copy. */
    enum hs_err err = hs_blob_read_header(fd, NULL, &r.header, &r.file_bytes, &r.problem);
    if (err == HS_EIO)
        goto out;
    if (err == HS_ECORRUPT) {
        /* Tell a valid header on a truncated file apart from a bad header. */
        uint8_t buf[HS_BLOB_HEADER_MAX_BYTES];
        ssize_t n = pread(fd, buf, sizeof buf, 0);
        r.header_ok = n > 0 && hs_blob_header_decode(buf, (size_t)n, &r.header, NULL) == HS_OK;
        if (!r.header_ok)
            memset(&r.header, 0, sizeof r.header);
        err = HS_OK;
        goto done;
    }
    r.header_ok = true;
    err =
        hs_blob_crc_file(fd, r.header.header_bytes, r.header.payload_bytes, &r.payload_crc_actual);
    if (err == HS_ECORRUPT) {
        r.problem = "file shrank while reading";
        err = HS_OK;
        goto done;
    }
    if (err != HS_OK)
        goto out;
    r.payload_checked = true;
    if (r.payload_crc_actual != r.header.payload_crc)
        r.problem = "payload crc mismatch";
    else
        r.verdict = HS_OK;
done:
    *out = r;
out:
    close(fd);
    return err;
}
