/* bench_cpu.h - CPU time per role of a cluster started by `hybridstore cluster`, for `hybridstore
 * bench --cluster-dir`: reads <dir>/cluster.json (role and pid of every process), adds nginx's
 * workers (the master's children), and samples utime + stime from /proc/<pid>/stat. Linux only;
 * knows nothing of HTTP. Not thread-safe: one sampler per thread. */
#ifndef HS_CLI_BENCH_CPU_H
#define HS_CLI_BENCH_CPU_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hs/err.h"

/* The roles reported, in this order (cluster.json "role" names; "nginx" counts the workers and
 * the master). */
enum { HS_BENCH_CPU_ROLES = 5 };
extern const char *const hs_bench_cpu_role_names[HS_BENCH_CPU_ROLES];

struct hs_bench_cpu_proc {
    pid_t pid;
    int role; /* index into hs_bench_cpu_role_names */
};

struct hs_bench_cpu {
    char *url;                       /* cluster.json "url" (nginx), heap */
    struct hs_bench_cpu_proc *procs; /* heap */
    size_t n_procs;
};

/* Reads <dir>/cluster.json and finds nginx's workers. HS_ENOENT no such file, HS_EPROTO not a
 * cluster.json or no running process in it, HS_EIO. *out is released by hs_bench_cpu_release. */
enum hs_err hs_bench_cpu_load(const char *dir, struct hs_bench_cpu *out);
void hs_bench_cpu_release(struct hs_bench_cpu *c);
/* utime + stime of every process now, in clock ticks, into ticks[c->n_procs] (-1: the process
 * is gone). */
void hs_bench_cpu_sample(const struct hs_bench_cpu *c, int64_t *ticks);
/* CPU nanoseconds per role between two samples; processes missing from either are skipped. */
void hs_bench_cpu_diff(const struct hs_bench_cpu *c, const int64_t *before, const int64_t *after,
                       double ns_out[HS_BENCH_CPU_ROLES]);

#endif
