/* part_replicated.c - the replicated row of part_writer.h: every blob of a segment is the
 * segment's bytes themselves (no copy), one per replica. */
#include "gateway/part_writer.h"
#include "hs/banned.h"

static void init(struct hs_part *part, const struct hs_part_geom *g)
{
    hs_part_init_replicated(part, g->replicas, 0);
}

static int64_t held_bytes(const struct hs_part_geom *g, int64_t data)
{
    (void)g;
    return data;
}

static enum hs_err encode(struct hs_part_writer *pw, const uint8_t *data, size_t len,
                          const uint8_t *payload[], size_t plen[], char *msg, size_t msg_len)
{
    (void)msg;
    (void)msg_len;
    for (size_t i = 0; i < pw->part->replicas; i++) {
        payload[i] = data;
        plen[i] = len;
    }
    return HS_OK;
}

const struct hs_part_writer_ops hs_part_replicated = {
    .name = "replicated",
    .init = init,
    .held_bytes = held_bytes,
    .encode = encode,
    .tally_urls = true,
};
