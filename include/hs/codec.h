/* codec.h - Reed-Solomon RS(k, m) erasure coding on Intel ISA-L, the stripe layout of erasure-coded
 * objects, and CRC32C. Pure computation: no I/O, no logging on the data path, no knowledge of
 * nodes, HTTP or etcd. Every function wraps ISA-L so that the upper vector state is clean when it
 * returns (ISA-L 2.30 never executes vzeroupper; legacy-SSE code after it would run slowly).
 *
 * Thread-safety: a struct hs_codec is immutable after hs_codec_new except for its decode-table
 * cache, which is lock-free; one codec may be used by any number of threads at once. A struct
 * hs_codec_scratch belongs to one thread at a time. Nothing here blocks. */
#ifndef HS_CODEC_H
#define HS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"

#define HS_CODEC_MAX_K                16
#define HS_CODEC_MAX_M                4
#define HS_CODEC_MAX_SHARDS           (HS_CODEC_MAX_K + HS_CODEC_MAX_M)
#define HS_CODEC_DEFAULT_K            4
#define HS_CODEC_DEFAULT_M            2
#define HS_CODEC_STRIPE_BYTES_DEFAULT ((size_t)1 << 20) /* object bytes per stripe */
#define HS_CODEC_STRIPE_BYTES_MAX     ((size_t)1 << 30) /* keeps every ISA-L length an int */
#define HS_CODEC_SHARD_BYTES_MAX      HS_CODEC_STRIPE_BYTES_MAX
#define HS_CODEC_DECODE_CACHE_MAX     512 /* loss patterns whose decode tables are kept */

/* ---- CRC32C ---------------------------------------------------------------------------------
 * CRC-32C (Castagnoli, reflected, init and final xor 0xFFFFFFFF): hs_crc32c(0, "123456789", 9)
 * == 0xE3069283. Chains: hs_crc32c(hs_crc32c(0, a, na), b, nb) == hs_crc32c(0, a||b, na + nb).
 * Start with crc = 0. data may be NULL when len == 0. Any len. Thread-safe. */
uint32_t hs_crc32c(uint32_t crc, const void *data, size_t len);

/* ---- The codec ------------------------------------------------------------------------------
 * Shards 0..k-1 are data (the code is systematic: data shards are the data), k..k+m-1 parity.
 * The generator is ISA-L's Cauchy matrix gf_gen_cauchy1_matrix(k + m, k), so any k of the k+m
 * shards reconstruct the rest. It is part of the stored format: never change it for a given
 * (k, m). Every byte position is coded independently (parity[j] depends only on data[.][j]), so
 * any aligned byte span of the shards can be encoded or reconstructed on its own, whatever the
 * stripe boundaries: the healer may rebuild a whole shard blob in chunks of any size.
 *
 * Shard bitmasks (present, want) use bit i for shard i. */
struct hs_codec;

/* Creates a codec for RS(k, m), 1 <= k <= HS_CODEC_MAX_K, 1 <= m <= HS_CODEC_MAX_M; precomputes
 * the encode tables. HS_EINVAL for other k or m (*out untouched). Free with hs_codec_free. */
enum hs_err hs_codec_new(unsigned k, unsigned m, struct hs_codec **out);
/* Frees the codec and its cached decode tables. c may be NULL. No thread may still use it. */
void hs_codec_free(struct hs_codec *c);
unsigned hs_codec_k(const struct hs_codec *c);
unsigned hs_codec_m(const struct hs_codec *c);

/* Computes the m parity shards of k data shards of shard_bytes bytes each. data[0..k-1] are
 * read only; parity[0..m-1] are written; no buffer may overlap another. Any alignment works;
 * 64-byte aligned buffers are fastest. shard_bytes may be 0 (nothing happens). HS_EINVAL when
 * shard_bytes > HS_CODEC_SHARD_BYTES_MAX. No allocation, no copy. */
enum hs_err hs_codec_encode(const struct hs_codec *c, size_t shard_bytes,
                            const uint8_t *const data[], uint8_t *const parity[]);

/* Reconstructs the shards in `want` from the shards in `present`. shards[0..k+m-1]: entries in
 * present are inputs (read only, shard_bytes each); entries in want are outputs (written);
 * others are ignored and may be NULL. want and present must be disjoint. The first k present
 * shards (lowest indices: data preferred) are the sources. Decode tables are cached per (sources,
 * want) pattern, so repeated patterns cost no matrix inversion; past HS_CODEC_DECODE_CACHE_MAX
 * patterns, new ones are built per call (nothing is evicted, so cached pointers stay valid).
 * HS_EUNAVAIL: fewer than k shards present. HS_EINVAL: bits beyond k+m, overlapping masks, a
 * NULL buffer in either mask, shard_bytes > HS_CODEC_SHARD_BYTES_MAX. want == 0 is a no-op. */
enum hs_err hs_codec_reconstruct(const struct hs_codec *c, size_t shard_bytes,
                                 uint8_t *const shards[], uint32_t present, uint32_t want);

struct hs_codec_stats {
    uint64_t decode_cache_hits;    /* reconstructs that found their decode tables cached */
    uint64_t decode_cache_misses;  /* reconstructs that inverted a matrix */
    uint64_t decode_cache_entries; /* patterns cached, at most HS_CODEC_DECODE_CACHE_MAX */
};
/* Snapshot of the counters (relaxed atomics: exact once threads are quiet). */
void hs_codec_get_stats(const struct hs_codec *c, struct hs_codec_stats *out);

/* ---- Stripe layout of an object -------------------------------------------------------------
 * An object of N bytes is cut into stripes of S object bytes (the last one shorter); S must be
 * a multiple of k (HS_EINVAL otherwise) and at most HS_CODEC_STRIPE_BYTES_MAX; a multiple of
 * 64*k keeps full-stripe pieces 64-byte aligned (hs_codec_stripe_bytes_for picks one).
 * A stripe of b object bytes becomes k+m pieces of p = ceil(b / k) bytes each: data piece i is
 * object bytes [i*p, (i+1)*p) of the stripe, zero-padded past b; k*p - b < k pad bytes, all in
 * the last stripe (full stripes need none since k divides S). Shard blob i is the concatenation
 * of piece i of every stripe, so every blob of an object has the same length:
 *     (stripes - 1) * S/k + ceil(last_stripe_bytes / k), and 0 for an empty object.
 * An empty object has no stripes and k+m empty shard blobs. The manifest must record N and S.
 *
 *   N = 10, k = 4, S = 8:  stripe 0 = bytes 0..7  -> pieces of 2: [0,1] [2,3] [4,5] [6,7]
 *                          stripe 1 = bytes 8..9  -> pieces of 1: [8]   [9]   [pad] [pad]
 *                          every shard blob is 3 bytes, pad_bytes = 2 */

/* Largest multiple of 64*k that is <= hint (hint 0: HS_CODEC_STRIPE_BYTES_DEFAULT), at least
 * 64*k. k = 4 gives 1 MiB exactly. k must be 1..HS_CODEC_MAX_K. */
size_t hs_codec_stripe_bytes_for(unsigned k, size_t hint);

struct hs_codec_layout {
    uint64_t object_bytes;     /* N */
    uint64_t stripes;          /* ceil(N / S); 0 when N == 0 */
    uint64_t shard_blob_bytes; /* length of every shard blob, data and parity alike */
    size_t stripe_bytes;       /* S */
    size_t last_stripe_bytes;  /* object bytes in the last stripe, 1..S; 0 when N == 0 */
    size_t pad_bytes;          /* zero bytes padding the last stripe, < k */
    unsigned k;
};

/* Fills *out for an object of object_bytes with stripes of stripe_bytes (0: the default for k).
 * HS_EINVAL: k out of range, stripe_bytes not a multiple of k or too large. */
enum hs_err hs_codec_layout_init(struct hs_codec_layout *out, unsigned k, uint64_t object_bytes,
                                 size_t stripe_bytes);

struct hs_codec_stripe_span {
    uint64_t object_off; /* first object byte of the stripe */
    uint64_t blob_off;   /* where the stripe's piece starts in every shard blob */
    size_t object_bytes; /* object bytes in the stripe */
    size_t piece_bytes;  /* bytes of the stripe's piece in every shard blob: ceil(object_bytes/k) */
};
/* Where stripe `index` lies. HS_EINVAL when index >= l->stripes. */
enum hs_err hs_codec_layout_stripe(const struct hs_codec_layout *l, uint64_t index,
                                   struct hs_codec_stripe_span *out);

/* What a read of object bytes [off, off + len) needs. Healthy read: fetch, from each data shard
 * blob i with data_bytes[i] > 0, blob bytes [data_off[i], data_off[i] + data_bytes[i]) and pass
 * them to hs_codec_range_gather. Degraded read: fetch blob bytes [need_off, need_off +
 * need_bytes) from any k shards, hs_codec_reconstruct the missing data shards over that span
 * (positions are coded independently; chunk spans above HS_CODEC_SHARD_BYTES_MAX), then gather. */
struct hs_codec_range {
    uint64_t first_stripe;               /* first stripe touched */
    uint64_t stripes;                    /* stripes touched; 0 when len == 0 */
    uint64_t data_off[HS_CODEC_MAX_K];   /* blob offset of data shard i's needed bytes */
    uint64_t data_bytes[HS_CODEC_MAX_K]; /* 0 when shard i holds none of the range */
    uint64_t need_off;                   /* union of the data spans above */
    uint64_t need_bytes;
};
/* HS_EINVAL when off + len > l->object_bytes (or overflows). */
enum hs_err hs_codec_layout_range(const struct hs_codec_layout *l, uint64_t off, uint64_t len,
                                  struct hs_codec_range *out);
/* Copies object bytes [off, off + len) (the range given to hs_codec_layout_range) into out.
 * spans[i] holds r->data_bytes[i] bytes of data shard blob i starting at blob offset
 * r->data_off[i] (may be NULL when data_bytes[i] == 0). */
void hs_codec_range_gather(const struct hs_codec_layout *l, const struct hs_codec_range *r,
                           uint64_t off, uint64_t len, const uint8_t *const spans[], void *out);

/* ---- Stripes of an object -------------------------------------------------------------------
 * Scratch memory for the stripe functions: 64-byte aligned, grown on demand, reused across
 * calls (a few stripes' worth at most). One thread at a time. */
struct hs_codec_scratch {
    uint8_t *mem; /* owned; NULL until first use */
    size_t cap;   /* bytes */
};
void hs_codec_scratch_init(struct hs_codec_scratch *s);
/* Frees the memory; s may be NULL. */
void hs_codec_scratch_release(struct hs_codec_scratch *s);

/* Encodes one stripe of data_bytes object bytes (<= the layout's S; the last stripe may be
 * shorter; 0 gives k+m empty pieces). Fills pieces[0..k+m-1] and *piece_bytes = ceil(data_bytes /
 * k). Data pieces that lie entirely inside `data` point into it (no copy); only those reaching
 * past data_bytes (the last stripe's) are copied into scratch and zero-padded. Parity pieces
 * live in scratch. The pieces stay valid until the next use or release of scratch, and while
 * `data` is unchanged. HS_EINVAL when data_bytes > HS_CODEC_STRIPE_BYTES_MAX. */
enum hs_err hs_codec_stripe_encode(const struct hs_codec *c, const void *data, size_t data_bytes,
                                   struct hs_codec_scratch *scratch, const uint8_t *pieces[],
                                   size_t *piece_bytes);

/* Inverse of hs_codec_stripe_encode: from the pieces in `present` (ceil(object_bytes / k) bytes
 * each) writes the stripe's object_bytes bytes to out. Missing data pieces are reconstructed
 * straight into out where they fit and via scratch otherwise; parity is never rebuilt. Present
 * data pieces are copied into out (one copy of the stripe: a healthy read that can send the
 * data pieces as they are needs no decode at all). out must not overlap the pieces.
 * HS_EUNAVAIL: fewer than k present. HS_EINVAL: as hs_codec_reconstruct. */
enum hs_err hs_codec_stripe_decode(const struct hs_codec *c, const uint8_t *const pieces[],
                                   uint32_t present, size_t object_bytes,
                                   struct hs_codec_scratch *scratch, void *out);

#endif
