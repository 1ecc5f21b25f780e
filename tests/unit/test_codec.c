/* test_codec.c - unit tests of the codec module: CRC32C vectors and chaining, RS(k, m) round trips
 * for every loss pattern up to m, the stripe layout (edge sizes, several stripes, byte ranges),
 * argument checks and the decode-table cache. Random data comes from a fixed seed. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs/codec.h"
#include "hs/mem.h"
#include "hs/banned.h"

struct km {
    unsigned k, m;
};

static const struct km all_km[] = {{4, 2}, {1, 1}, {2, 1}, {6, 3}, {10, 4}, {16, 4}, {3, 4}};

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
    rng_state = seed;
}

static uint64_t rng_next(void)
{
    /* xorshift64*: deterministic, good enough for test data. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(rng_next() >> 56);
}

static struct hs_codec *codec_new_ok(unsigned k, unsigned m)
{
    struct hs_codec *c = NULL;
    assert_int_equal(hs_codec_new(k, m, &c), HS_OK);
    assert_non_null(c);
    return c;
}

/* ---- CRC32C ------------------------------------------------------------------------------- */

static void crc32c_matches_castagnoli_check_values(void **state)
{
    (void)state;
    uint8_t zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    assert_int_equal(hs_crc32c(0, "123456789", 9), 0xE3069283u);
    /* RFC 3720 B.4 (iSCSI) vectors. */
    assert_int_equal(hs_crc32c(0, zeros, sizeof zeros), 0x8A9136AAu);
    assert_int_equal(hs_crc32c(0, ones, sizeof ones), 0x62A8AB43u);
    assert_int_equal(hs_crc32c(0, NULL, 0), 0u);
    assert_int_equal(hs_crc32c(0x12345678u, NULL, 0), 0x12345678u);
}

static void crc32c_chains_over_any_split(void **state)
{
    (void)state;
    uint8_t buf[1000];
    rng_seed(1);
    fill_random(buf, sizeof buf);
    uint32_t whole = hs_crc32c(0, buf, sizeof buf);
    for (size_t cut = 0; cut <= sizeof buf; cut++)
        assert_int_equal(hs_crc32c(hs_crc32c(0, buf, cut), buf + cut, sizeof buf - cut), whole);
}

static void crc32c_detects_a_flipped_shard_byte(void **state)
{
    (void)state;
    struct hs_codec *c = codec_new_ok(4, 2);
    struct hs_codec_scratch s;
    hs_codec_scratch_init(&s);
    uint8_t *obj = hs_xaligned_alloc(4096);
    rng_seed(2);
    fill_random(obj, 4096);
    const uint8_t *pieces[HS_CODEC_MAX_SHARDS];
    size_t pb = 0;
    assert_int_equal(hs_codec_stripe_encode(c, obj, 4096, &s, pieces, &pb), HS_OK);
    for (unsigned i = 0; i < 6; i++) {
        uint8_t *copy = hs_xmalloc(pb);
        memcpy(copy, pieces[i], pb);
        uint32_t good = hs_crc32c(0, copy, pb);
        for (size_t at = 0; at < pb; at += 97) {
            copy[at] ^= 0x01;
            assert_int_not_equal(hs_crc32c(0, copy, pb), good);
            copy[at] ^= 0x01;
        }
        assert_int_equal(hs_crc32c(0, copy, pb), good);
        free(copy);
    }
    free(obj);
    hs_codec_scratch_release(&s);
    hs_codec_free(c);
}

/* ---- Codec object ------------------------------------------------------------------------- */

static void codec_new_rejects_k_and_m_out_of_range(void **state)
{
    (void)state;
    static const struct km bad[] = {{0, 2}, {17, 2}, {4, 0}, {4, 5}, {0, 0}, {100, 100}};
    for (size_t i = 0; i < HS_ARRAY_LEN(bad); i++) {
        struct hs_codec *c = (struct hs_codec *)&rng_state; /* sentinel: must stay untouched */
        assert_int_equal(hs_codec_new(bad[i].k, bad[i].m, &c), HS_EINVAL);
        assert_ptr_equal(c, (struct hs_codec *)&rng_state);
    }
    struct hs_codec *c = codec_new_ok(16, 4);
    assert_int_equal(hs_codec_k(c), 16);
    assert_int_equal(hs_codec_m(c), 4);
    hs_codec_free(c);
    hs_codec_free(NULL);
}

/* Encodes random shards, then for every set of present shards with at least k members,
 * reconstructs all missing shards into fresh buffers and compares. */
static void check_every_loss_pattern(unsigned k, unsigned m, size_t len)
{
    const unsigned n = k + m;
    struct hs_codec *c = codec_new_ok(k, m);
    uint8_t *orig[HS_CODEC_MAX_SHARDS], *work[HS_CODEC_MAX_SHARDS];
    for (unsigned i = 0; i < n; i++) {
        orig[i] = hs_xaligned_alloc(len);
        work[i] = hs_xaligned_alloc(len);
        if (i < k)
            fill_random(orig[i], len);
    }
    assert_int_equal(hs_codec_encode(c, len, (const uint8_t *const *)orig, orig + k), HS_OK);
    unsigned patterns = 0;
    for (uint32_t present = 0; present < (1u << n); present++) {
        if ((unsigned)__builtin_popcount(present) < k)
            continue;
        uint32_t want = ~present & ((1u << n) - 1);
        uint8_t *shards[HS_CODEC_MAX_SHARDS];
        for (unsigned i = 0; i < n; i++) {
            shards[i] = (present & (1u << i)) ? orig[i] : work[i];
            if (!(present & (1u << i)))
                memset(work[i], 0xA5, len);
        }
        assert_int_equal(hs_codec_reconstruct(c, len, shards, present, want), HS_OK);
        for (unsigned i = 0; i < n; i++) {
            if (want & (1u << i))
                assert_memory_equal(work[i], orig[i], len);
        }
        patterns++;
    }
    assert_true(patterns > n); /* sanity: the loop really ran over the patterns */
    /* Every pattern but "all present" needed its own tables; past the cache's capacity
     * (RS(16, 4) has 6195 patterns) they are built per call and nothing is evicted. */
    struct hs_codec_stats st;
    hs_codec_get_stats(c, &st);
    assert_int_equal(st.decode_cache_hits, 0);
    assert_int_equal(st.decode_cache_misses, patterns - 1);
    assert_int_equal(st.decode_cache_entries, HS_MIN(patterns - 1, HS_CODEC_DECODE_CACHE_MAX));
    for (unsigned i = 0; i < n; i++) {
        free(orig[i]);
        free(work[i]);
    }
    hs_codec_free(c);
}

static void decode_with_up_to_m_shards_lost_restores_every_shard(void **state)
{
    (void)state;
    rng_seed(3);
    for (size_t i = 0; i < HS_ARRAY_LEN(all_km); i++) {
        check_every_loss_pattern(all_km[i].k, all_km[i].m, 200);
        check_every_loss_pattern(all_km[i].k, all_km[i].m, 1);
    }
    /* Lengths around ISA-L's vector widths take its tail paths. */
    static const size_t lens[] = {15, 16, 17, 31, 63, 64, 65, 127, 4097};
    for (size_t i = 0; i < HS_ARRAY_LEN(lens); i++)
        check_every_loss_pattern(4, 2, lens[i]);
}

static void reconstruct_with_fewer_than_k_shards_is_unavailable(void **state)
{
    (void)state;
    struct hs_codec *c = codec_new_ok(4, 2);
    uint8_t bufs[6][64] = {{0}};
    uint8_t *shards[6];
    for (unsigned i = 0; i < 6; i++)
        shards[i] = bufs[i];
    /* 3 of 6 present: one more loss than m. */
    assert_int_equal(hs_codec_reconstruct(c, 64, shards, 0x07, 0x38), HS_EUNAVAIL);
    assert_int_equal(hs_codec_reconstruct(c, 64, shards, 0x00, 0x01), HS_EUNAVAIL);
    const uint8_t *pieces[6] = {bufs[0], bufs[1], NULL, NULL, NULL, bufs[5]};
    struct hs_codec_scratch s;
    hs_codec_scratch_init(&s);
    uint8_t out[256];
    assert_int_equal(hs_codec_stripe_decode(c, pieces, 0x23, 256, &s, out), HS_EUNAVAIL);
    hs_codec_scratch_release(&s);
    hs_codec_free(c);
}

static void reconstruct_rejects_bad_masks_and_buffers(void **state)
{
    (void)state;
    struct hs_codec *c = codec_new_ok(4, 2);
    uint8_t bufs[6][64] = {{0}};
    uint8_t *shards[6];
    for (unsigned i = 0; i < 6; i++)
        shards[i] = bufs[i];
    assert_int_equal(hs_codec_reconstruct(c, 64, shards, 0x3E, 0x03), HS_EINVAL); /* overlap */
    assert_int_equal(hs_codec_reconstruct(c, 64, shards, 0x7E, 0x01), HS_EINVAL); /* bit 6 */
    shards[0] = NULL;
    assert_int_equal(hs_codec_reconstruct(c, 64, shards, 0x3E, 0x01), HS_EINVAL); /* NULL out */
    assert_int_equal(hs_codec_reconstruct(c, 64, shards, 0x3E, 0x00), HS_OK);     /* nothing */
    assert_int_equal(hs_codec_reconstruct(c, HS_CODEC_SHARD_BYTES_MAX + 1, shards, 0x3E, 0x00),
                     HS_EINVAL);
    const uint8_t *const data[4] = {bufs[0], bufs[1], bufs[2], bufs[3]};
    assert_int_equal(hs_codec_encode(c, HS_CODEC_SHARD_BYTES_MAX + 1, data, shards + 4), HS_EINVAL);
    hs_codec_free(c);
}

static void decode_tables_are_cached_per_loss_pattern(void **state)
{
    (void)state;
    struct hs_codec *c = codec_new_ok(4, 2);
    uint8_t bufs[6][128] = {{0}};
    uint8_t *shards[6];
    struct hs_codec_stats st;
    for (unsigned i = 0; i < 6; i++)
        shards[i] = bufs[i];
    hs_codec_get_stats(c, &st);
    assert_int_equal(st.decode_cache_hits + st.decode_cache_misses + st.decode_cache_entries, 0);
    assert_int_equal(hs_codec_reconstruct(c, 128, shards, 0x3E, 0x01), HS_OK);
    assert_int_equal(hs_codec_reconstruct(c, 128, shards, 0x3E, 0x01), HS_OK);
    hs_codec_get_stats(c, &st);
    assert_int_equal(st.decode_cache_misses, 1);
    assert_int_equal(st.decode_cache_hits, 1);
    /* Same sources (the first four present: 1..4) and same want: the same tables. */
    assert_int_equal(hs_codec_reconstruct(c, 128, shards, 0x1E, 0x01), HS_OK);
    /* Another pattern: a new entry. */
    assert_int_equal(hs_codec_reconstruct(c, 128, shards, 0x3C, 0x03), HS_OK);
    assert_int_equal(hs_codec_reconstruct(c, 128, shards, 0x3C, 0x03), HS_OK);
    hs_codec_get_stats(c, &st);
    assert_int_equal(st.decode_cache_misses, 2);
    assert_int_equal(st.decode_cache_hits, 3);
    assert_int_equal(st.decode_cache_entries, 2);
    hs_codec_free(c);
}

struct thread_arg {
    struct hs_codec *c;
    uint8_t *orig[6];
    int failures;
};

static void *reconstruct_thread(void *p)
{
    struct thread_arg *a = p;
    uint8_t *out = hs_xaligned_alloc((size_t)512 * 2);
    for (int round = 0; round < 200; round++) {
        for (uint32_t lost = 0; lost < 6; lost++) {
            uint32_t want = (1u << lost) | (1u << ((lost + 1) % 6));
            uint8_t *shards[6];
            for (unsigned i = 0; i < 6; i++)
                shards[i] = a->orig[i];
            shards[lost] = out;
            shards[(lost + 1) % 6] = out + 512;
            if (hs_codec_reconstruct(a->c, 512, shards, 0x3F & ~want, want) != HS_OK ||
                memcmp(out, a->orig[lost], 512) != 0 ||
                memcmp(out + 512, a->orig[(lost + 1) % 6], 512) != 0)
                a->failures++;
        }
    }
    free(out);
    return NULL;
}

static void one_codec_serves_many_threads(void **state)
{
    (void)state;
    struct thread_arg args[4];
    pthread_t tid[4];
    struct hs_codec *c = codec_new_ok(4, 2);
    uint8_t *orig[6];
    rng_seed(4);
    for (unsigned i = 0; i < 6; i++) {
        orig[i] = hs_xaligned_alloc(512);
        if (i < 4)
            fill_random(orig[i], 512);
    }
    assert_int_equal(hs_codec_encode(c, 512, (const uint8_t *const *)orig, orig + 4), HS_OK);
    for (int t = 0; t < 4; t++) {
        args[t] = (struct thread_arg){.c = c};
        memcpy(args[t].orig, orig, sizeof orig);
        assert_int_equal(pthread_create(&tid[t], NULL, reconstruct_thread, &args[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        assert_int_equal(pthread_join(tid[t], NULL), 0);
        assert_int_equal(args[t].failures, 0);
    }
    struct hs_codec_stats st;
    hs_codec_get_stats(c, &st);
    assert_int_equal(st.decode_cache_entries, 6);
    assert_int_equal(st.decode_cache_hits + st.decode_cache_misses, 4 * 200 * 6);
    for (unsigned i = 0; i < 6; i++)
        free(orig[i]);
    hs_codec_free(c);
}

/* ---- Layout ------------------------------------------------------------------------------- */

static void layout_follows_the_documented_example(void **state)
{
    (void)state;
    struct hs_codec_layout l;
    struct hs_codec_stripe_span sp;
    assert_int_equal(hs_codec_layout_init(&l, 4, 10, 8), HS_OK);
    assert_int_equal(l.stripes, 2);
    assert_int_equal(l.shard_blob_bytes, 3);
    assert_int_equal(l.last_stripe_bytes, 2);
    assert_int_equal(l.pad_bytes, 2);
    assert_int_equal(hs_codec_layout_stripe(&l, 1, &sp), HS_OK);
    assert_int_equal(sp.object_off, 8);
    assert_int_equal(sp.blob_off, 2);
    assert_int_equal(sp.object_bytes, 2);
    assert_int_equal(sp.piece_bytes, 1);
    assert_int_equal(hs_codec_layout_stripe(&l, 2, &sp), HS_EINVAL);

    assert_int_equal(hs_codec_layout_init(&l, 4, 0, 0), HS_OK);
    assert_int_equal(l.stripes, 0);
    assert_int_equal(l.shard_blob_bytes, 0);
    assert_int_equal(l.stripe_bytes, 1u << 20);
    assert_int_equal(hs_codec_layout_init(&l, 4, (uint64_t)3 << 20, 0), HS_OK);
    assert_int_equal(l.stripes, 3);
    assert_int_equal(l.shard_blob_bytes, 3u << 18);
    assert_int_equal(l.pad_bytes, 0);

    assert_int_equal(hs_codec_layout_init(&l, 4, 10, 6), HS_EINVAL); /* 6 % 4 != 0 */
    assert_int_equal(hs_codec_layout_init(&l, 0, 10, 8), HS_EINVAL);
    assert_int_equal(hs_codec_layout_init(&l, 17, 10, 0), HS_EINVAL);
    assert_int_equal(hs_codec_layout_init(&l, 1, 10, HS_CODEC_STRIPE_BYTES_MAX + 1), HS_EINVAL);
    assert_int_equal(hs_codec_stripe_bytes_for(4, 0), 1u << 20);
    assert_int_equal(hs_codec_stripe_bytes_for(6, 0), (1u << 20) - (1u << 20) % 384);
    assert_int_equal(hs_codec_stripe_bytes_for(16, 1), 1024);
}

/* Streams obj through stripe encode into k+m blobs, checks their length, then rebuilds the
 * object stripe by stripe with the shards in `lost` missing. Returns the blobs (caller frees). */
static void object_roundtrip(const struct hs_codec *c, const uint8_t *obj, uint64_t size,
                             size_t stripe_bytes, uint32_t lost, uint8_t **blobs)
{
    const unsigned k = hs_codec_k(c), n = k + hs_codec_m(c);
    struct hs_codec_layout l;
    struct hs_codec_scratch s;
    hs_codec_scratch_init(&s);
    assert_int_equal(hs_codec_layout_init(&l, k, size, stripe_bytes), HS_OK);
    for (unsigned i = 0; i < n; i++)
        blobs[i] = hs_xmalloc(l.shard_blob_bytes);
    for (uint64_t st = 0; st < l.stripes; st++) {
        struct hs_codec_stripe_span sp;
        const uint8_t *pieces[HS_CODEC_MAX_SHARDS];
        size_t pb = 0;
        assert_int_equal(hs_codec_layout_stripe(&l, st, &sp), HS_OK);
        assert_int_equal(
            hs_codec_stripe_encode(c, obj + sp.object_off, sp.object_bytes, &s, pieces, &pb),
            HS_OK);
        assert_int_equal(pb, sp.piece_bytes);
        for (unsigned i = 0; i < n; i++)
            memcpy(blobs[i] + sp.blob_off, pieces[i], pb);
    }
    uint8_t *back = hs_xmalloc(size);
    for (uint64_t st = 0; st < l.stripes; st++) {
        struct hs_codec_stripe_span sp;
        const uint8_t *pieces[HS_CODEC_MAX_SHARDS];
        assert_int_equal(hs_codec_layout_stripe(&l, st, &sp), HS_OK);
        for (unsigned i = 0; i < n; i++)
            pieces[i] = (lost & (1u << i)) ? NULL : blobs[i] + sp.blob_off;
        assert_int_equal(hs_codec_stripe_decode(c, pieces, ~lost & ((1u << n) - 1), sp.object_bytes,
                                                &s, back + sp.object_off),
                         HS_OK);
    }
    if (size > 0)
        assert_memory_equal(back, obj, size);
    free(back);
    hs_codec_scratch_release(&s);
}

static void free_blobs(uint8_t **blobs, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        free(blobs[i]);
}

static void stripe_roundtrip_handles_tiny_objects(void **state)
{
    (void)state;
    uint8_t obj[64];
    uint8_t *blobs[HS_CODEC_MAX_SHARDS] = {0};
    rng_seed(5);
    fill_random(obj, sizeof obj);
    for (size_t i = 0; i < HS_ARRAY_LEN(all_km); i++) {
        const unsigned k = all_km[i].k, m = all_km[i].m;
        struct hs_codec *c = codec_new_ok(k, m);
        const uint64_t sizes[] = {0, 1, k - 1, k, k + 1};
        for (size_t j = 0; j < HS_ARRAY_LEN(sizes); j++) {
            struct hs_codec_layout l;
            assert_int_equal(hs_codec_layout_init(&l, k, sizes[j], 0), HS_OK);
            assert_int_equal(l.stripes, sizes[j] > 0);
            assert_int_equal(l.shard_blob_bytes, (sizes[j] + k - 1) / k);
            assert_int_equal(l.pad_bytes, l.shard_blob_bytes * k - sizes[j]);
            /* No loss, m data shards lost (parity needed), m last shards lost. */
            const uint32_t data_lost = ((1u << m) - 1) << (k > m ? k - m : 0);
            const uint32_t tail_lost = ((1u << m) - 1) << k;
            const uint32_t losses[] = {0, data_lost & ((1u << (k + m)) - 1), tail_lost};
            for (size_t x = 0; x < HS_ARRAY_LEN(losses); x++) {
                object_roundtrip(c, obj, sizes[j], 0, losses[x], blobs);
                free_blobs(blobs, k + m);
            }
        }
        hs_codec_free(c);
    }
}

static void stripe_encode_uses_caller_bytes_for_full_pieces(void **state)
{
    (void)state;
    struct hs_codec *c = codec_new_ok(4, 2);
    struct hs_codec_scratch s;
    hs_codec_scratch_init(&s);
    uint8_t *obj = hs_xaligned_alloc(4096);
    memset(obj, 7, 4096);
    const uint8_t *pieces[HS_CODEC_MAX_SHARDS];
    size_t pb = 0;
    assert_int_equal(hs_codec_stripe_encode(c, obj, 4096, &s, pieces, &pb), HS_OK);
    assert_int_equal(pb, 1024);
    for (unsigned i = 0; i < 4; i++)
        assert_ptr_equal(pieces[i], obj + (size_t)1024 * i);
    /* 4093 bytes: pieces of 1024, the last one holds 1021 bytes and 3 of padding. */
    assert_int_equal(hs_codec_stripe_encode(c, obj, 4093, &s, pieces, &pb), HS_OK);
    assert_ptr_equal(pieces[2], obj + 2048);
    assert_true(pieces[3] < obj || pieces[3] >= obj + 4096);
    assert_int_equal(pieces[3][1020], 7);
    assert_int_equal(pieces[3][1021] | pieces[3][1022] | pieces[3][1023], 0);
    free(obj);
    hs_codec_scratch_release(&s);
    hs_codec_free(c);
}

static void object_of_several_stripes_survives_m_lost_shards(void **state)
{
    (void)state;
    const uint64_t size = (1u << 20) + 3;
    uint8_t *obj = hs_xmalloc(size);
    uint8_t *blobs[HS_CODEC_MAX_SHARDS] = {0};
    rng_seed(6);
    fill_random(obj, size);
    static const struct km kms[] = {{4, 2}, {6, 3}, {10, 4}};
    for (size_t i = 0; i < HS_ARRAY_LEN(kms); i++) {
        const unsigned k = kms[i].k, m = kms[i].m, n = k + m;
        struct hs_codec *c = codec_new_ok(k, m);
        /* Default stripes (one full + a 3-byte tail for k = 4), then small ones: many stripes. */
        const size_t stripe_sizes[] = {0, (size_t)64 * k * 5};
        for (size_t j = 0; j < HS_ARRAY_LEN(stripe_sizes); j++) {
            const uint32_t lost = (1u << m) - 1; /* the first m data shards */
            object_roundtrip(c, obj, size, stripe_sizes[j], lost, blobs);
            /* Position independence: rebuild whole lost blobs ignoring stripes (the healer). */
            struct hs_codec_layout l;
            assert_int_equal(hs_codec_layout_init(&l, k, size, stripe_sizes[j]), HS_OK);
            uint8_t *shards[HS_CODEC_MAX_SHARDS];
            uint8_t *rebuilt = hs_xmalloc(l.shard_blob_bytes * m);
            for (unsigned x = 0; x < n; x++)
                shards[x] = (lost & (1u << x)) ? rebuilt + l.shard_blob_bytes * x : blobs[x];
            assert_int_equal(
                hs_codec_reconstruct(c, l.shard_blob_bytes, shards, ~lost & ((1u << n) - 1), lost),
                HS_OK);
            for (unsigned x = 0; x < m; x++)
                assert_memory_equal(shards[x], blobs[x], l.shard_blob_bytes);
            free(rebuilt);
            free_blobs(blobs, n);
        }
        hs_codec_free(c);
    }
    free(obj);
}

/* Gathers [off, off+len) from blob spans, healthy and with data shard `lost_shard` rebuilt
 * from parity over the range's need span. */
static void check_range(const struct hs_codec *c, const struct hs_codec_layout *l, uint8_t **blobs,
                        const uint8_t *obj, uint64_t off, uint64_t len, unsigned lost_shard)
{
    const unsigned k = l->k, n = k + hs_codec_m(c);
    struct hs_codec_range r = {0};
    const uint8_t *spans[HS_CODEC_MAX_K];
    uint8_t out[4096];
    assert_int_equal(hs_codec_layout_range(l, off, len, &r), HS_OK);
    uint64_t total = 0;
    for (unsigned i = 0; i < k; i++) {
        assert_true(r.data_off[i] + r.data_bytes[i] <= l->shard_blob_bytes);
        spans[i] = r.data_bytes[i] ? blobs[i] + r.data_off[i] : NULL;
        total += r.data_bytes[i];
    }
    assert_int_equal(total, len); /* no byte fetched in vain */
    memset(out, 0xEE, len);
    hs_codec_range_gather(l, &r, off, len, spans, out);
    assert_memory_equal(out, obj + off, len);
    if (len == 0)
        return;
    uint8_t *shards[HS_CODEC_MAX_SHARDS];
    uint8_t *rebuilt = hs_xmalloc(r.need_bytes);
    for (unsigned i = 0; i < n; i++)
        shards[i] = i == lost_shard ? rebuilt : blobs[i] + r.need_off;
    uint32_t present = ((1u << n) - 1) & ~(1u << lost_shard);
    assert_int_equal(hs_codec_reconstruct(c, r.need_bytes, shards, present, 1u << lost_shard),
                     HS_OK);
    for (unsigned i = 0; i < k; i++)
        spans[i] = r.data_bytes[i] ? shards[i] + (r.data_off[i] - r.need_off) : NULL;
    memset(out, 0xEE, len);
    hs_codec_range_gather(l, &r, off, len, spans, out);
    assert_memory_equal(out, obj + off, len);
    free(rebuilt);
}

static void range_read_maps_to_exact_shard_spans(void **state)
{
    (void)state;
    const uint64_t size = 3000;
    uint8_t *obj = hs_xmalloc(size);
    uint8_t *blobs[HS_CODEC_MAX_SHARDS] = {0};
    rng_seed(7);
    fill_random(obj, size);
    struct hs_codec *c = codec_new_ok(4, 2);
    struct hs_codec_layout l;
    struct hs_codec_range r;
    assert_int_equal(hs_codec_layout_init(&l, 4, size, 256), HS_OK);
    object_roundtrip(c, obj, size, 256, 0, blobs);
    for (uint64_t off = 0; off <= size; off += 37) {
        for (uint64_t len = 0; off + len <= size && len <= 1100; len += 53)
            check_range(c, &l, blobs, obj, off, len, (unsigned)(off % 4));
    }
    check_range(c, &l, blobs, obj, 0, size, 1);
    check_range(c, &l, blobs, obj, size - 1, 1, 3);
    assert_int_equal(hs_codec_layout_range(&l, 0, 6, &r), HS_OK);
    assert_int_equal(r.first_stripe, 0);
    assert_int_equal(r.stripes, 1);
    assert_int_equal(hs_codec_layout_range(&l, 250, 10, &r), HS_OK);
    assert_int_equal(r.first_stripe, 0);
    assert_int_equal(r.stripes, 2);
    assert_int_equal(hs_codec_layout_range(&l, size, 1, &r), HS_EINVAL);
    assert_int_equal(hs_codec_layout_range(&l, 1, UINT64_MAX, &r), HS_EINVAL);
    assert_int_equal(hs_codec_layout_range(&l, size, 0, &r), HS_OK);
    assert_int_equal(r.stripes, 0);
    free_blobs(blobs, 6);
    hs_codec_free(c);
    free(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32c_matches_castagnoli_check_values),
        cmocka_unit_test(crc32c_chains_over_any_split),
        cmocka_unit_test(crc32c_detects_a_flipped_shard_byte),
        cmocka_unit_test(codec_new_rejects_k_and_m_out_of_range),
        cmocka_unit_test(decode_with_up_to_m_shards_lost_restores_every_shard),
        cmocka_unit_test(reconstruct_with_fewer_than_k_shards_is_unavailable),
        cmocka_unit_test(reconstruct_rejects_bad_masks_and_buffers),
        cmocka_unit_test(decode_tables_are_cached_per_loss_pattern),
        cmocka_unit_test(one_codec_serves_many_threads),
        cmocka_unit_test(layout_follows_the_documented_example),
        cmocka_unit_test(stripe_roundtrip_handles_tiny_objects),
        cmocka_unit_test(stripe_encode_uses_caller_bytes_for_full_pieces),
        cmocka_unit_test(object_of_several_stripes_survives_m_lost_shards),
        cmocka_unit_test(range_read_maps_to_exact_shard_spans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
