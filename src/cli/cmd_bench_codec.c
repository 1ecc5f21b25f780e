/* cmd_bench_codec.c - `hybridstore bench codec`: RS(k, m) stripe encode and reconstruction
 * throughput next to memcpy of the same size, measured in the same run, single thread, hot cache.
 * One JSON object per line; GB/s counts 10^9 bytes of object data per second. It measures the
 * codec alone: no I/O, no network. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "hs/clock.h"
#include "hs/codec.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define ROUNDS 9 /* timed rounds per measurement; the median is reported */

static const size_t bench_sizes[] = {4096, 65536, 1 << 20};

struct bench {
    struct hs_codec *codec;
    size_t stripe_bytes; /* object bytes per call */
    size_t piece_bytes;  /* stripe_bytes / k */
    uint8_t *data;       /* stripe_bytes, 64-byte aligned */
    uint8_t *copy;       /* memcpy destination */
    uint8_t *shards[HS_CODEC_MAX_SHARDS];
    uint8_t *rebuilt; /* reconstruction outputs, m pieces */
    struct hs_codec_scratch scratch;
    uint32_t present, want; /* reconstruction pattern */
};

typedef void bench_op_fn(struct bench *b);

static void op_memcpy(struct bench *b)
{
    memcpy(b->copy, b->data, b->stripe_bytes);
    /* Keep the compiler from proving the copy dead. */
    __asm__ volatile("" : : "r"(b->copy) : "memory");
}

static void op_encode(struct bench *b)
{
    const uint8_t *pieces[HS_CODEC_MAX_SHARDS];
    size_t pb;
    if (hs_codec_stripe_encode(b->codec, b->data, b->stripe_bytes, &b->scratch, pieces, &pb) !=
        HS_OK)
        abort();
    __asm__ volatile("" : : "r"(pieces[0]) : "memory");
}

static void op_decode(struct bench *b)
{
    if (hs_codec_reconstruct(b->codec, b->piece_bytes, b->shards, b->present, b->want) != HS_OK)
        abort();
    __asm__ volatile("" : : "r"(b->rebuilt) : "memory");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* GB/s of one timed round of about round_ns. */
static double run_round(struct bench *b, bench_op_fn *op, int64_t round_ns)
{
    const unsigned batch = (unsigned)HS_MAX((size_t)1, ((size_t)1 << 20) / b->stripe_bytes);
    uint64_t calls = 0;
    int64_t start = hs_clock_mono_ns(), now;
    do {
        for (unsigned i = 0; i < batch; i++)
            op(b);
        calls += batch;
        now = hs_clock_mono_ns();
    } while (now - start < round_ns);
    return (double)calls * (double)b->stripe_bytes / (double)(now - start);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof v[0], cmp_double);
    return v[n / 2];
}

static void bench_init(struct bench *b, struct hs_codec *c, size_t stripe_bytes)
{
    const unsigned k = hs_codec_k(c), m = hs_codec_m(c);
    memset(b, 0, sizeof *b);
    b->codec = c;
    b->stripe_bytes = stripe_bytes;
    b->piece_bytes = stripe_bytes / k;
    b->data = hs_xaligned_alloc(stripe_bytes);
    b->copy = hs_xaligned_alloc(stripe_bytes);
    b->rebuilt = hs_xaligned_alloc(b->piece_bytes * m);
    hs_codec_scratch_init(&b->scratch);
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < stripe_bytes; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b->data[i] = (uint8_t)x;
    }
    /* Shards for reconstruction: the data pieces and their parity, encoded once. */
    for (unsigned i = 0; i < k; i++)
        b->shards[i] = b->data + (size_t)i * b->piece_bytes;
    for (unsigned j = 0; j < m; j++)
        b->shards[k + j] = hs_xaligned_alloc(b->piece_bytes);
    if (hs_codec_encode(c, b->piece_bytes, (const uint8_t *const *)b->shards, b->shards + k) !=
        HS_OK)
        abort();
}

/* Loses data shards 0..lost-1: their buffers become outputs in b->rebuilt. */
static void bench_lose(struct bench *b, unsigned lost)
{
    const unsigned k = hs_codec_k(b->codec), n = k + hs_codec_m(b->codec);
    for (unsigned i = 0; i < k; i++)
        b->shards[i] = i < lost ? b->rebuilt + (size_t)i * b->piece_bytes
                                : b->data + (size_t)i * b->piece_bytes;
    b->want = (1u << lost) - 1;
    b->present = ((1u << n) - 1) & ~b->want;
}

static void bench_release(struct bench *b)
{
    const unsigned k = hs_codec_k(b->codec), m = hs_codec_m(b->codec);
    for (unsigned j = 0; j < m; j++)
        free(b->shards[k + j]);
    free(b->data);
    free(b->copy);
    free(b->rebuilt);
    hs_codec_scratch_release(&b->scratch);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: hybridstore bench codec [--k N] [--m N] [--seconds S]\n\n"
            "Measures RS(k, m) stripe encode and reconstruction (1 and 2 data shards lost)\n"
            "against memcpy at 4 KiB, 64 KiB and 1 MiB stripes; prints one JSON object per\n"
            "line with GB/s = 10^9 object bytes per second (median of %d rounds).\n\n"
            "  --k N        data shards, 1..%d (default %d)\n"
            "  --m N        parity shards, 1..%d (default %d)\n"
            "  --seconds S  approximate total run time (default 6)\n"
            "  --help       this text\n",
            ROUNDS, HS_CODEC_MAX_K, HS_CODEC_DEFAULT_K, HS_CODEC_MAX_M, HS_CODEC_DEFAULT_M);
}

static bool parse_uint(const char *text, unsigned long max, unsigned *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v > max || text[0] == '-')
        return false;
    *out = (unsigned)v;
    return true;
}

/* Parses options into *k, *m, *seconds. Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, unsigned *k, unsigned *m, double *seconds)
{
    static const struct option opts[] = {{"k", required_argument, NULL, 'k'},
                                         {"m", required_argument, NULL, 'm'},
                                         {"seconds", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    optind = 1;
    /* getopt is not thread-safe; the CLI parses its arguments before starting any thread. */
    /* NOLINTNEXTLINE(concurrency-mt-unsafe) */
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'k':
            if (!parse_uint(optarg, HS_CODEC_MAX_K, k))
                goto bad;
            break;
        case 'm':
            if (!parse_uint(optarg, HS_CODEC_MAX_M, m))
                goto bad;
            break;
        case 's':
            *seconds = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(*seconds > 0 && *seconds <= 3600))
                goto bad;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "hybridstore bench codec: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return -1;
bad:
    fprintf(stderr, "hybridstore bench codec: bad value '%s' for --%s\n", optarg,
            ch == 's'   ? "seconds"
            : ch == 'k' ? "k"
                        : "m");
    return 2;
}

int hs_cmd_bench_codec(int argc, char **argv)
{
    unsigned k = HS_CODEC_DEFAULT_K, m = HS_CODEC_DEFAULT_M;
    double seconds = 6.0;
    struct hs_codec *c = NULL;
    int rc = parse_args(argc, argv, &k, &m, &seconds);
    if (rc >= 0)
        return rc;
    if (hs_codec_new(k, m, &c) != HS_OK) {
        fprintf(stderr, "hybridstore bench codec: RS(%u, %u) is not supported (k 1..%d, m 1..%d)\n",
                k, m, HS_CODEC_MAX_K, HS_CODEC_MAX_M);
        return 2;
    }
    const unsigned max_lost = HS_MIN(HS_MIN(m, k), 2u);
    const size_t n_sizes = HS_ARRAY_LEN(bench_sizes);
    const int64_t round_ns =
        (int64_t)(seconds * 1e9 / (double)(n_sizes * (2 + max_lost) * (ROUNDS + 1)));
    for (size_t s = 0; s < n_sizes; s++) {
        struct bench b;
        double gbps[2 + 2][ROUNDS]; /* memcpy, encode, decode with 1 and 2 lost */
        /* Stripes must be a multiple of k (of 64*k for aligned pieces): round the size down. */
        bench_init(&b, c, hs_codec_stripe_bytes_for(k, bench_sizes[s]));
        /* Rounds of all operations interleave, so that a noisy neighbour or a clock change
         * hits memcpy and the codec alike; round -1 warms caches and tables up. */
        for (int r = -1; r < ROUNDS; r++) {
            double g = run_round(&b, op_memcpy, round_ns);
            if (r >= 0)
                gbps[0][r] = g;
            g = run_round(&b, op_encode, round_ns);
            if (r >= 0)
                gbps[1][r] = g;
            for (unsigned lost = 1; lost <= max_lost; lost++) {
                bench_lose(&b, lost);
                g = run_round(&b, op_decode, round_ns);
                if (r >= 0)
                    gbps[1 + lost][r] = g;
            }
        }
        double copy_gbps = median(gbps[0], ROUNDS);
        printf("{\"op\":\"encode\",\"k\":%u,\"m\":%u,\"stripe_bytes\":%zu,\"gbps\":%.2f,"
               "\"memcpy_gbps\":%.2f}\n",
               k, m, b.stripe_bytes, median(gbps[1], ROUNDS), copy_gbps);
        for (unsigned lost = 1; lost <= max_lost; lost++) {
            printf("{\"op\":\"decode\",\"k\":%u,\"m\":%u,\"lost\":%u,\"stripe_bytes\":%zu,"
                   "\"gbps\":%.2f,\"memcpy_gbps\":%.2f}\n",
                   k, m, lost, b.stripe_bytes, median(gbps[1 + lost], ROUNDS), copy_gbps);
        }
        fflush(stdout);
        bench_release(&b);
    }
    hs_codec_free(c);
    return 0;
}
