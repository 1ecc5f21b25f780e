/* needle.c - the needle format of the volume store (hs/blob.h): encode and check a needle
 * header. Pure: no I/O. */
#include <string.h>

#include "hs/blob.h"
#include "hs/codec.h"
#include "hs/log.h"
#include "hs/banned.h"

#define OFF_FLAGS   4
#define OFF_ID_LEN  6
#define OFF_LEN     8
#define OFF_CRC     12
#define OFF_CREATED 16
#define OFF_ID      24

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

size_t hs_blob_needle_encode(struct hs_blob_needle *n, uint8_t *buf)
{
    size_t id_len = strlen(n->id);
    if (!hs_blob_id_valid(n->id) || n->payload_bytes > HS_BLOB_VOLUME_MAX_PAYLOAD ||
        (n->tombstone && (n->payload_bytes != 0 || n->payload_crc != 0)))
        HS_BUG("needle encode with id_len=%zu payload_bytes=%u tombstone=%d", id_len,
               n->payload_bytes, n->tombstone);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): no NUL after the magic on disk */
    memcpy(buf, HS_BLOB_NEEDLE_MAGIC, 4);
    put_le(buf + OFF_FLAGS, n->tombstone ? HS_BLOB_NEEDLE_TOMBSTONE : 0, 2);
    put_le(buf + OFF_ID_LEN, id_len, 2);
    put_le(buf + OFF_LEN, n->payload_bytes, 4);
    put_le(buf + OFF_CRC, n->payload_crc, 4);
    put_le(buf + OFF_CREATED, (uint64_t)n->created_ms, 8);
    memcpy(buf + OFF_ID, n->id, id_len);
    put_le(buf + OFF_ID + id_len, hs_crc32c(0, buf, OFF_ID + id_len), 4);
    n->header_bytes = HS_BLOB_NEEDLE_FIXED_BYTES + id_len;
    n->needle_bytes = hs_blob_needle_bytes(id_len, n->payload_bytes);
    return n->header_bytes;
}

static enum hs_err bad(const char **problem_out, const char *problem)
{
    if (problem_out)
        *problem_out = problem;
    return HS_ECORRUPT;
}

enum hs_err hs_blob_needle_decode(const void *buf, size_t len, struct hs_blob_needle *out,
                                  const char **problem_out)
{
    const uint8_t *p = buf;
    if (len < HS_BLOB_NEEDLE_FIXED_BYTES)
        return bad(problem_out, "needle shorter than its header");
    if (memcmp(p, HS_BLOB_NEEDLE_MAGIC, 4) != 0)
        return bad(problem_out, "bad needle magic");
    size_t id_len = (size_t)get_le(p + OFF_ID_LEN, 2);
    if (id_len == 0 || id_len > HS_BLOB_ID_MAX)
        return bad(problem_out, "bad needle id length");
    if (len < HS_BLOB_NEEDLE_FIXED_BYTES + id_len)
        return bad(problem_out, "needle shorter than its header");
    if (get_le(p + OFF_ID + id_len, 4) != hs_crc32c(0, p, OFF_ID + id_len))
        return bad(problem_out, "needle header crc mismatch");
    uint64_t flags = get_le(p + OFF_FLAGS, 2);
    uint64_t plen = get_le(p + OFF_LEN, 4);
    uint64_t pcrc = get_le(p + OFF_CRC, 4);
    if ((flags & ~(uint64_t)HS_BLOB_NEEDLE_TOMBSTONE) != 0)
        return bad(problem_out, "unknown needle flags");
    if (plen > HS_BLOB_VOLUME_MAX_PAYLOAD)
        return bad(problem_out, "needle payload too long");
    if ((flags & HS_BLOB_NEEDLE_TOMBSTONE) && (plen != 0 || pcrc != 0))
        return bad(problem_out, "tombstone with a payload");
    struct hs_blob_needle n = {
        .tombstone = (flags & HS_BLOB_NEEDLE_TOMBSTONE) != 0,
        .payload_bytes = (uint32_t)plen,
        .payload_crc = (uint32_t)pcrc,
        .created_ms = (int64_t)get_le(p + OFF_CREATED, 8),
        .header_bytes = HS_BLOB_NEEDLE_FIXED_BYTES + id_len,
        .needle_bytes = hs_blob_needle_bytes(id_len, (size_t)plen),
    };
    memcpy(n.id, p + OFF_ID, id_len);
    n.id[id_len] = '\0';
    if (!hs_blob_id_valid(n.id))
        return bad(problem_out, "invalid needle id");
    *out = n;
    return HS_OK;
}
