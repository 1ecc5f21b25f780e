/* bench_lat.c - request latencies of the bench commands (bench_lat.h). */
#include "cli/bench_lat.h"

#include <stdlib.h>
#include <string.h>

#include "hs/mem.h"
#include "hs/banned.h"

void hs_bench_lat_add(struct hs_bench_lat *l, int64_t us)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->us = hs_xrealloc(l->us, l->cap * sizeof *l->us);
    }
    l->us[l->n++] = us;
}

void hs_bench_lat_release(struct hs_bench_lat *l)
{
    if (!l)
        return;
    free(l->us);
    *l = (struct hs_bench_lat){0};
}

static const struct hs_bench_lat *nth(const struct hs_bench_lat *first, size_t stride, size_t i)
{
    return (const struct hs_bench_lat *)((const char *)first + i * stride);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t *hs_bench_lat_sorted(const struct hs_bench_lat *first, size_t n, size_t stride,
                             size_t *total)
{
    size_t all_n = 0;
    for (size_t i = 0; i < n; i++)
        all_n += nth(first, stride, i)->n;
    int64_t *all = hs_xmalloc((all_n ? all_n : 1) * sizeof *all);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct hs_bench_lat *l = nth(first, stride, i);
        if (l->n)
            memcpy(all + k, l->us, l->n * sizeof *all);
        k += l->n;
    }
    qsort(all, all_n, sizeof *all, cmp_i64);
    *total = all_n;
    return all;
}

double hs_bench_lat_pct_ms(const int64_t *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(q * (double)n);
    return (double)sorted[i < n ? i : n - 1] / 1000.0;
}
