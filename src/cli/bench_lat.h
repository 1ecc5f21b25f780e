/* bench_lat.h - request latencies of the bench commands (bench, bench node, bench s3): one list
 * per worker thread, then every list merged and sorted for the percentiles. Not thread-safe:
 * one list per thread. */
#ifndef HS_CLI_BENCH_LAT_H
#define HS_CLI_BENCH_LAT_H

#include <stddef.h>
#include <stdint.h>

/* Latencies in microseconds; zero-initialised is empty. */
struct hs_bench_lat {
    int64_t *us; /* heap, n entries */
    size_t n, cap;
};

/* Appends one latency (grows the list; aborts when out of memory). */
void hs_bench_lat_add(struct hs_bench_lat *l, int64_t us);
/* Frees the list; l may be NULL. */
void hs_bench_lat_release(struct hs_bench_lat *l);
/* Every latency of n lists, sorted ascending, as a heap array (free(); never NULL) and its
 * length in *total. The lists are first, and first + stride bytes, ... (a member of an array of
 * worker structs: pass &ws[0].lat and sizeof ws[0]). */
int64_t *hs_bench_lat_sorted(const struct hs_bench_lat *first, size_t n, size_t stride,
                             size_t *total);
/* The q quantile (0..1) of sorted[0..n) in milliseconds; 0 when n is 0. */
double hs_bench_lat_pct_ms(const int64_t *sorted, size_t n, double q);

#endif
