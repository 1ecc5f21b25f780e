/* bench_etcd_ops.c - CPU per request of the etcd client and of etcd itself, for the two calls
 * every object operation makes: a range of one key, and a txn with one compare, one put
 * (300-byte value) and one delete. Not a test: run by hand against a scratch single-member
 * etcd whose pid you pass, e.g.
 *   bench_etcd_ops http://127.0.0.1:23791 <etcd pid> [threads=8] [ops per thread=2000] [runs=3]
 * Uses only the public client API (hs/etcd.h), so the same file builds against any version of
 * the client. Prints, per run and as medians: ops/s, etcd CPU per op (utime+stime of the pid
 * from /proc) and our process's CPU per op (getrusage), in milliseconds. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/log.h"

#define MAX_RUNS 9

struct bench {
    struct hs_etcd *e;
    bool txn;
    int ops;
    int thread;
    int failures;
};

/* utime + stime of pid in clock ticks. */
static long long proc_ticks(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* after the command name */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

static double self_cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

static void *worker(void *arg)
{
    struct bench *b = arg;
    char key[64], intent[64], value[300];
    memset(value, 'v', sizeof value);
    for (int i = 0; i < b->ops; i++) {
        if (!b->txn) {
            snprintf(key, sizeof key, "/bench/meta/%d/%d", b->thread, i % 100);
            struct hs_etcd_kvs kvs;
            if (hs_etcd_get(b->e, key, &kvs) == HS_OK)
                hs_etcd_kvs_release(&kvs);
            else
                b->failures++;
            continue;
        }
        /* the write commit: [version(intent) >= 0] -> [put meta, delete intent] */
        snprintf(key, sizeof key, "/bench/meta/%d/%d", b->thread, i % 100);
        snprintf(intent, sizeof intent, "/bench/txn/%d/%d", b->thread, i % 100);
        struct hs_etcd_cmp cmp = {
            .target = HS_ETCD_CMP_VERSION, .result = HS_ETCD_GREATER, .key = intent, .number = -1};
        struct hs_etcd_op ops[2] = {
            {.type = HS_ETCD_OP_PUT, .key = key, .value = value, .value_len = sizeof value},
            {.type = HS_ETCD_OP_DELETE, .key = intent}};
        struct hs_etcd_txn txn = {&cmp, 1, ops, 2, NULL, 0};
        struct hs_etcd_txn_result r;
        if (hs_etcd_txn(b->e, &txn, &r) == HS_OK)
            hs_etcd_txn_result_release(&r);
        else
            b->failures++;
    }
    return NULL;
}

struct result {
    double ops_s, etcd_ms, self_ms;
};

static int run(struct hs_etcd *e, long pid, bool txn, int threads, int ops, struct result *out)
{
    struct bench b[64];
    pthread_t t[64];
    long long t0 = proc_ticks(pid);
    double c0 = self_cpu_ms();
    int64_t w0 = hs_clock_mono_ns();
    for (int i = 0; i < threads; i++) {
        b[i] = (struct bench){.e = e, .txn = txn, .ops = ops, .thread = i};
        pthread_create(&t[i], NULL, worker, &b[i]);
    }
    int failures = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        failures += b[i].failures;
    }
    double wall_s = (double)(hs_clock_mono_ns() - w0) / 1e9;
    double self = self_cpu_ms() - c0;
    long long ticks = proc_ticks(pid) - t0;
    double total = (double)threads * ops;
    out->ops_s = total / wall_s;
    out->etcd_ms = (double)ticks * 1000.0 / (double)sysconf(_SC_CLK_TCK) / total;
    out->self_ms = self / total;
    return failures;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s ENDPOINT ETCD_PID [THREADS] [OPS] [RUNS]\n", argv[0]);
        return 2;
    }
    long pid = strtol(argv[2], NULL, 10);
    int threads = argc > 3 ? atoi(argv[3]) : 8;
    int ops = argc > 4 ? atoi(argv[4]) : 2000;
    int runs = argc > 5 ? atoi(argv[5]) : 3;
    if (threads < 1 || threads > 64 || ops < 1 || runs < 1 || runs > MAX_RUNS ||
        proc_ticks(pid) < 0) {
        fprintf(stderr, "bad arguments (threads 1-64, runs 1-%d, a live etcd pid)\n", MAX_RUNS);
        return 2;
    }
    hs_log_init("bench_etcd_ops", HS_LOG_WARN);
    struct hs_etcd *e = NULL;
    struct hs_etcd_opts o = {.endpoints = argv[1], .timeout_ms = 5000};
    if (hs_etcd_new(&o, &e) != HS_OK)
        return 1;
    /* keys exist for the ranges; one warm-up round opens the connections */
    for (int t = 0; t < threads; t++)
        for (int i = 0; i < 100; i++) {
            char key[64];
            snprintf(key, sizeof key, "/bench/meta/%d/%d", t, i);
            hs_etcd_put(e, key, "x", 1, 0, NULL);
        }
    for (int kind = 0; kind < 2; kind++) {
        double ops_s[MAX_RUNS], etcd_ms[MAX_RUNS], self_ms[MAX_RUNS];
        const char *name = kind ? "txn" : "range";
        for (int r = 0; r < runs; r++) {
            struct result res;
            int failures = run(e, pid, kind == 1, threads, ops, &res);
            printf("%s run=%d threads=%d ops=%d ops_s=%.0f etcd_cpu_ms=%.4f client_cpu_ms=%.4f "
                   "failures=%d\n",
                   name, r + 1, threads, threads * ops, res.ops_s, res.etcd_ms, res.self_ms,
                   failures);
            ops_s[r] = res.ops_s;
            etcd_ms[r] = res.etcd_ms;
            self_ms[r] = res.self_ms;
        }
        printf("%s median ops_s=%.0f etcd_cpu_ms=%.4f client_cpu_ms=%.4f\n", name,
               median(ops_s, runs), median(etcd_ms, runs), median(self_ms, runs));
    }
    hs_etcd_free(e);
    return 0;
}
