/* part_writer.h - how one part of an object (manifest.h: data, hot or cold) is produced and
 * stored through a write transaction (txn.h). The generic code (part_writer.c) cuts bytes into
 * segments, names each segment in the WAL record before its blobs may exist, sends the blobs
 * of a segment in one parallel fan-out and applies the part's quorum. What differs per way of
 * producing a part is one row of operations (struct hs_part_writer_ops), one file each:
 *
 * | row                | file            | part kind  | blobs of a segment                  |
 * |--------------------|-----------------|------------|-------------------------------------|
 * | hs_part_replicated | part_replicated.c | REPLICATED | the same bytes on each replica    |
 * | hs_part_ec         | part_ec.c       | EC         | k data + m parity shards (ISA-L)    |
 * | hs_part_existing   | part_existing.c | any        | none: the blobs of an existing part |
 *
 * A new way of storing a part is a new file with a new row; nothing else here changes. */
#ifndef HS_GATEWAY_PART_WRITER_H
#define HS_GATEWAY_PART_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/txn.h"
#include "hs/buf.h"
#include "hs/codec.h"
#include "hs/manifest.h"

/* The geometry a part is set up with (cluster settings and gateway options). */
struct hs_part_geom {
    uint32_t replicas;
    uint32_t ec_k, ec_m;
    int64_t stripe_bytes;           /* EC: bytes of one shard per stripe */
    int64_t segment_bytes;          /* > 0 */
    const struct hs_part *existing; /* hs_part_existing: the part whose blobs are reused */
};

/* What the writes of parts did, for the answer to the client. */
struct hs_part_tally {
    char **urls; /* heap: distinct node URLs that stored a replica (replicated rows) */
    size_t n_urls;
    uint32_t chunks_written, total_chunks; /* shards stored / sent (rows that count chunks) */
};
void hs_part_tally_release(struct hs_part_tally *t);

struct hs_part_writer;

/* One way of producing a part. */
struct hs_part_writer_ops {
    const char *name;
    /* Sets part's kind and geometry (no segments) from g. */
    void (*init)(struct hs_part *part, const struct hs_part_geom *g);
    /* Bytes held at most while streaming data bytes per segment (the segment itself plus
     * what encode keeps), for the gateway's body budget. */
    int64_t (*held_bytes)(const struct hs_part_geom *g, int64_t data);
    /* The payloads of the width blobs of one segment of len bytes (payload[i] valid until the
     * next encode or release). NULL for a row that stores nothing (HS_EINVAL if used). */
    enum hs_err (*encode)(struct hs_part_writer *pw, const uint8_t *data, size_t len,
                          const uint8_t *payload[], size_t plen[], char *msg, size_t msg_len);
    /* Frees pw->priv (NULL: nothing to free). */
    void (*release)(struct hs_part_writer *pw);
    bool tally_urls;   /* book the URLs that stored a blob (replicas) */
    bool tally_chunks; /* count blobs stored / sent (shards) */
};

extern const struct hs_part_writer_ops hs_part_replicated;
extern const struct hs_part_writer_ops hs_part_ec;
extern const struct hs_part_writer_ops hs_part_existing;

/* A part on its way out. Fields are the generic code's (part_writer.c) and its row's; callers
 * use the functions below only. */
struct hs_part_writer {
    const struct hs_part_writer_ops *ops;
    struct hs_gw_txn *txn;
    struct hs_part *part;         /* borrowed: in the caller's next manifest */
    enum hs_meta_blob_part which; /* the <part> number of its blob ids */
    struct hs_part_tally *tally;  /* borrowed */
    size_t segment_bytes;
    struct hs_buf seg; /* a streamed segment being filled */
    void *priv;        /* the row's state (EC: codec and shard buffers) */
};

/* Sets part up as ops says (released first) and pw to write it in txn. (Before a transaction
 * exists, ops->init alone gives the geometry its quorum check and plan need.) */
void hs_part_writer_init(struct hs_part_writer *pw, const struct hs_part_writer_ops *ops,
                         struct hs_gw_txn *txn, struct hs_part *part, enum hs_meta_blob_part which,
                         const struct hs_part_geom *g, struct hs_part_tally *tally);
/* Streams len bytes: every full segment goes out (from data when nothing is held, so a large
 * buffer is not copied), the rest is held until more comes or finish. Errors: HS_EUNAVAIL
 * below quorum or rolled back (msg says how many blobs were stored and how many are needed),
 * HS_ETOOBIG past HS_PART_SEGMENTS_MAX segments, the WAL record's errors. */
enum hs_err hs_part_writer_write(struct hs_part_writer *pw, const void *data, size_t len, char *msg,
                                 size_t msg_len);
/* Sends what write holds (the last, short segment). */
enum hs_err hs_part_writer_finish(struct hs_part_writer *pw, char *msg, size_t msg_len);
/* Writes a whole part held in memory (no copy): write + finish. */
enum hs_err hs_part_writer_put(struct hs_part_writer *pw, const void *data, size_t len, char *msg,
                               size_t msg_len);
/* One segment of each of n part writers in ONE parallel fan-out (e.g. a small document's hot
 * and cold part: one round trip instead of two). Errors as write (the first failing part's). */
enum hs_err hs_part_writers_put_segments(struct hs_part_writer *const pws[],
                                         const void *const data[], const size_t len[], size_t n,
                                         char *msg, size_t msg_len);
/* Frees what pw holds (not the part). NULL or a zeroed pw is fine. */
void hs_part_writer_release(struct hs_part_writer *pw);

#endif
