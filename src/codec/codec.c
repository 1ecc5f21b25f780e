/* codec.c - the RS(k, m) codec object: Cauchy generator and encode tables built once, encode,
 * and reconstruction from any k shards with decode tables cached per loss pattern.
 *
 * The decode-table cache is a fixed open-addressing table of atomic pointers. Entries are
 * immutable once published and live until hs_codec_free, so readers never lock: a lookup is a
 * few acquire loads, an insert one compare-and-swap. When the table is full, decode tables are
 * built on the stack per call (correct, just slower) instead of evicting. */
#include "codec_int.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/erasure_code.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define CACHE_SLOTS 1024 /* power of two, twice HS_CODEC_DECODE_CACHE_MAX: short probe chains */
#define TABLE_BYTES ((size_t)32 * HS_CODEC_MAX_K * HS_CODEC_MAX_M) /* ec_init_tables: 32*k*rows */

_Static_assert(CACHE_SLOTS >= 2 * HS_CODEC_DECODE_CACHE_MAX, "cache load factor above 1/2");
_Static_assert(HS_CODEC_MAX_SHARDS <= 32, "shard masks are uint32_t");

struct decode_entry {
    uint64_t key;           /* sources mask | want mask << 32 */
    unsigned char tables[]; /* 32 * k * popcount(want) bytes */
};

struct decode_cache {
    _Atomic(struct decode_entry *) slot[CACHE_SLOTS]; /* NULL = empty; set once by CAS */
    atomic_uint entries; /* published entries plus reservations in flight */
    atomic_uint_least64_t hits;
    atomic_uint_least64_t misses;
};

struct hs_codec {
    unsigned k, m;
    unsigned char gen[HS_CODEC_MAX_SHARDS * HS_CODEC_MAX_K]; /* (k+m) x k, top k rows = I */
    unsigned char enc_tables[TABLE_BYTES];                   /* tables for the m parity rows */
    struct decode_cache *cache; /* separate so that const codec users can still fill it */
};

enum hs_err hs_codec_new(unsigned k, unsigned m, struct hs_codec **out)
{
    if (k < 1 || k > HS_CODEC_MAX_K || m < 1 || m > HS_CODEC_MAX_M)
        return HS_EINVAL;
    struct hs_codec *c = hs_xcalloc(1, sizeof *c);
    c->k = k;
    c->m = m;
    gf_gen_cauchy1_matrix(c->gen, (int)(k + m), (int)k);
    ec_init_tables((int)k, (int)m, &c->gen[(size_t)k * k], c->enc_tables);
    c->cache = hs_xcalloc(1, sizeof *c->cache);
    *out = c;
    return HS_OK;
}

void hs_codec_free(struct hs_codec *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        free(atomic_load_explicit(&c->cache->slot[i], memory_order_relaxed));
    free(c->cache);
    free(c);
}

unsigned hs_codec_k(const struct hs_codec *c)
{
    return c->k;
}

unsigned hs_codec_m(const struct hs_codec *c)
{
    return c->m;
}

enum hs_err hs_codec_encode(const struct hs_codec *c, size_t shard_bytes,
                            const uint8_t *const data[], uint8_t *const parity[])
{
    unsigned char *src[HS_CODEC_MAX_K];
    unsigned char *dst[HS_CODEC_MAX_M];
    if (shard_bytes > HS_CODEC_SHARD_BYTES_MAX)
        return HS_EINVAL;
    if (shard_bytes == 0)
        return HS_OK;
    /* ISA-L's prototypes are not const-correct; it only reads the sources. */
    for (unsigned i = 0; i < c->k; i++)
        src[i] = (unsigned char *)data[i];
    for (unsigned i = 0; i < c->m; i++)
        dst[i] = parity[i];
    ec_encode_data((int)shard_bytes, (int)c->k, (int)c->m, (unsigned char *)c->enc_tables, src,
                   dst);
    hs_codec_vector_cleanup();
    return HS_OK;
}

/* Builds the decode tables for reconstructing `want` from `sources` (exactly k shards). Row w of
 * the output matrix: for a data shard, row w of inv(B); for parity shard w, gen[w] * inv(B), where
 * B is the generator restricted to the source rows. */
static void build_decode_tables(const struct hs_codec *c, uint32_t sources, uint32_t want,
                                unsigned char *tables)
{
    const size_t k = c->k; /* size_t: it scales every matrix index below */
    unsigned char b[HS_CODEC_MAX_K * HS_CODEC_MAX_K];
    unsigned char inv[HS_CODEC_MAX_K * HS_CODEC_MAX_K];
    unsigned char dec[HS_CODEC_MAX_M * HS_CODEC_MAX_K];
    size_t r = 0;
    for (unsigned i = 0; i < k + c->m; i++) {
        if (sources & (1u << i))
            memcpy(&b[k * r++], &c->gen[k * i], k);
    }
    assert(r == k);
    /* Every square submatrix of a Cauchy generator is invertible; failure is a bug. */
    if (gf_invert_matrix(b, inv, (int)k) != 0)
        HS_BUG("singular decode matrix k=%zu m=%u sources=%#x", k, c->m, sources);
    size_t rows = 0;
    for (unsigned w = 0; w < k + c->m; w++) {
        if (!(want & (1u << w)))
            continue;
        unsigned char *row = &dec[k * rows++];
        if (w < k) {
            memcpy(row, &inv[k * w], k);
            continue;
        }
        for (size_t j = 0; j < k; j++) {
            unsigned char s = 0;
            for (size_t t = 0; t < k; t++)
                s ^= gf_mul(c->gen[k * w + t], inv[k * t + j]);
            row[j] = s;
        }
    }
    ec_init_tables((int)k, (int)rows, dec, tables);
}

static size_t slot_of(uint64_t key)
{
    /* Fibonacci hashing: multiply by 2^64 / phi and keep the top bits. */
    return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 54) & (CACHE_SLOTS - 1);
}

/* Returns the cached tables for key, building and publishing them on a miss. NULL when the
 * cache is full and the key is not in it. */
static const unsigned char *cached_tables(const struct hs_codec *c, uint32_t sources, uint32_t want)
{
    struct decode_cache *dc = c->cache;
    const uint64_t key = sources | (uint64_t)want << 32;
    struct decode_entry *mine = NULL;
    size_t i = slot_of(key);
    for (size_t probe = 0; probe < CACHE_SLOTS; probe++, i = (i + 1) & (CACHE_SLOTS - 1)) {
        struct decode_entry *e = atomic_load_explicit(&dc->slot[i], memory_order_acquire);
        if (!e) {
            if (!mine) {
                /* Reserve room before building, so the cache never exceeds its maximum even
                 * when threads race; a reservation that is not published is given back. */
                if (atomic_fetch_add_explicit(&dc->entries, 1, memory_order_relaxed) >=
                    HS_CODEC_DECODE_CACHE_MAX) {
                    atomic_fetch_sub_explicit(&dc->entries, 1, memory_order_relaxed);
                    return NULL;
                }
                atomic_fetch_add_explicit(&dc->misses, 1, memory_order_relaxed);
                mine = hs_xmalloc(sizeof *mine + TABLE_BYTES);
                mine->key = key;
                build_decode_tables(c, sources, want, mine->tables);
            }
            if (atomic_compare_exchange_strong_explicit(&dc->slot[i], &e, mine,
                                                        memory_order_acq_rel, memory_order_acquire))
                return mine->tables;
            /* Lost the race for this slot: e is now the winner's entry; check it. */
        }
        if (e->key == key) {
            if (mine) {
                free(mine); /* another thread published the same pattern first */
                atomic_fetch_sub_explicit(&dc->entries, 1, memory_order_relaxed);
            } else {
                atomic_fetch_add_explicit(&dc->hits, 1, memory_order_relaxed);
            }
            return e->tables;
        }
    }
    /* Unreachable while the load factor stays at most 1/2: some slot is always empty. */
    HS_BUG("decode cache of %d slots has no free slot", CACHE_SLOTS);
}

static unsigned popcount32(uint32_t x)
{
    return (unsigned)__builtin_popcount(x);
}

/* The first k present shards: data shards first, so a healthy-data read decodes nothing and a
 * degraded one uses as few parity rows as possible. */
static uint32_t pick_sources(uint32_t present, unsigned k)
{
    uint32_t sources = 0;
    for (unsigned n = 0; n < k; n++) {
        uint32_t low = present & -present;
        sources |= low;
        present &= ~low;
    }
    return sources;
}

enum hs_err hs_codec_reconstruct(const struct hs_codec *c, size_t shard_bytes,
                                 uint8_t *const shards[], uint32_t present, uint32_t want)
{
    const unsigned n = c->k + c->m;
    const uint32_t all = (uint32_t)((1ull << n) - 1);
    unsigned char *src[HS_CODEC_MAX_K];
    unsigned char *dst[HS_CODEC_MAX_M];
    unsigned char local[TABLE_BYTES];
    if ((present | want) & ~all || present & want || shard_bytes > HS_CODEC_SHARD_BYTES_MAX)
        return HS_EINVAL;
    for (unsigned i = 0; i < n; i++) {
        if ((present | want) & (1u << i) && !shards[i])
            return HS_EINVAL;
    }
    if (popcount32(present) < c->k)
        return HS_EUNAVAIL;
    if (want == 0 || shard_bytes == 0)
        return HS_OK;
    uint32_t sources = pick_sources(present, c->k);
    unsigned ns = 0, nd = 0;
    for (unsigned i = 0; i < n; i++) {
        if (sources & (1u << i))
            src[ns++] = shards[i];
        if (want & (1u << i))
            dst[nd++] = shards[i];
    }
    const unsigned char *tables = cached_tables(c, sources, want);
    if (!tables) {
        atomic_fetch_add_explicit(&c->cache->misses, 1, memory_order_relaxed);
        build_decode_tables(c, sources, want, local);
        tables = local;
    }
    ec_encode_data((int)shard_bytes, (int)c->k, (int)nd, (unsigned char *)tables, src, dst);
    hs_codec_vector_cleanup();
    return HS_OK;
}

void hs_codec_get_stats(const struct hs_codec *c, struct hs_codec_stats *out)
{
    out->decode_cache_hits = atomic_load_explicit(&c->cache->hits, memory_order_relaxed);
    out->decode_cache_misses = atomic_load_explicit(&c->cache->misses, memory_order_relaxed);
    out->decode_cache_entries = atomic_load_explicit(&c->cache->entries, memory_order_relaxed);
}
