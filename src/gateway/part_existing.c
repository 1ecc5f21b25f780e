/* part_existing.c - the "existing blobs" row of part_writer.h: a part whose blobs are already
 * stored (a field_hybrid pure hot update reuses the current cold part as it is). Setting it up
 * copies the blob references of geom.existing; nothing is encoded or sent. */
#include <stdio.h>

#include "gateway/part_writer.h"
#include "hs/banned.h"

static void init(struct hs_part *part, const struct hs_part_geom *g)
{
    if (g->existing)
        hs_part_copy(part, g->existing);
    else
        hs_part_release(part);
}

static int64_t held_bytes(const struct hs_part_geom *g, int64_t data)
{
    (void)g;
    (void)data;
    return 0;
}

static enum hs_err encode(struct hs_part_writer *pw, const uint8_t *data, size_t len,
                          const uint8_t *payload[], size_t plen[], char *msg, size_t msg_len)
{
    (void)pw;
    (void)data;
    (void)len;
    (void)payload;
    (void)plen;
    snprintf(msg, msg_len, "a reused part takes no bytes");
    return HS_EINVAL;
}

const struct hs_part_writer_ops hs_part_existing = {
    .name = "existing",
    .init = init,
    .held_bytes = held_bytes,
    .encode = encode,
};
