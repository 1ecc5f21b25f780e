/* bench_cpu.c - per-role CPU time of a local cluster for `hybridstore bench --cluster-dir`.
 * The launcher records role and pid of every process in cluster.json (docs/cluster.md); nginx's
 * workers are not there, they are the master's children, found in /proc/<pid>/task/<pid>/children
 * (or, when the kernel lacks that file, by scanning /proc for the master as parent). CPU is
 * utime + stime of /proc/<pid>/stat: all threads of the process, at clock-tick resolution (10 ms),
 * which is why the bench measures seconds, not single requests. */
#include "cli/bench_cpu.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

const char *const hs_bench_cpu_role_names[HS_BENCH_CPU_ROLES] = {"etcd", "node", "gateway",
                                                                 "healer", "nginx"};

static int role_index(const char *name)
{
    for (int i = 0; i < HS_BENCH_CPU_ROLES; i++) {
        if (strcmp(name, hs_bench_cpu_role_names[i]) == 0)
            return i;
    }
    return -1;
}

static void add_proc(struct hs_bench_cpu *c, pid_t pid, int role)
{
    for (size_t i = 0; i < c->n_procs; i++) {
        if (c->procs[i].pid == pid)
            return;
    }
    c->procs = hs_xrealloc(c->procs, (c->n_procs + 1) * sizeof *c->procs);
    c->procs[c->n_procs++] = (struct hs_bench_cpu_proc){.pid = pid, .role = role};
}

/* Reads the whole of a small /proc file into buf (NUL-terminated); false when it cannot. */
static bool read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n > 0;
}

/* Parent pid, utime + stime (ticks) from /proc/<pid>/stat; false when the process is gone. The
 * command name (field 2) may hold spaces and parentheses: parse after the last ')'. */
static bool read_stat(pid_t pid, pid_t *ppid_out, int64_t *ticks_out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (!read_small(path, buf, sizeof buf))
        return false;
    const char *p = strrchr(buf, ')');
    if (!p)
        return false;
    /* fields from 3 on: state, then ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
     * cmajflt utime stime */
    const char *q = p + 1;
    while (*q == ' ')
        q++;
    if (!*q)
        return false;
    q++; /* the state letter */
    long long v[12];
    for (size_t i = 0; i < 12; i++) {
        char *end;
        v[i] = strtoll(q, &end, 10);
        if (end == q)
            return false;
        q = end;
    }
    long ppid = (long)v[0];
    long long utime = v[10], stime = v[11];
    if (ppid_out)
        *ppid_out = (pid_t)ppid;
    if (ticks_out)
        *ticks_out = (int64_t)(utime + stime);
    return true;
}

static void add_children(struct hs_bench_cpu *c, pid_t parent, int role)
{
    char path[80], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)parent, (int)parent);
    if (read_small(path, buf, sizeof buf)) {
        char *end = buf;
        for (;;) {
            char *p = end;
            long pid = strtol(p, &end, 10);
            if (end == p)
                break;
            add_proc(c, (pid_t)pid, role);
        }
        return;
    }
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): one DIR stream, one thread */
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)strtol(e->d_name, NULL, 10), ppid = 0;
        if (read_stat(pid, &ppid, NULL) && ppid == parent)
            add_proc(c, pid, role);
    }
    closedir(d);
}

enum hs_err hs_bench_cpu_load(const char *dir, struct hs_bench_cpu *out)
{
    char *path = hs_xasprintf("%s/cluster.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    enum hs_err err = HS_OK;
    struct hs_bench_cpu c = {0};
    if (!root) {
        err = access(path, F_OK) == 0 ? HS_EPROTO : HS_ENOENT;
        HS_LOG_ERROR("cluster_json_unreadable", "path='%s' err='%s'", path, jerr.text);
        goto out;
    }
    const char *url = json_string_value(json_object_get(root, "url"));
    json_t *procs = json_object_get(root, "processes");
    size_t i;
    json_t *p;
    json_array_foreach(procs, i, p)
    {
        const char *rname = json_string_value(json_object_get(p, "role"));
        int role = rname ? role_index(rname) : -1;
        json_int_t pid = json_integer_value(json_object_get(p, "pid"));
        if (role < 0 || pid <= 0 || !read_stat((pid_t)pid, NULL, NULL))
            continue;
        add_proc(&c, (pid_t)pid, role);
        if (strcmp(hs_bench_cpu_role_names[role], "nginx") == 0)
            add_children(&c, (pid_t)pid, role);
    }
    if (!url || c.n_procs == 0) {
        HS_LOG_ERROR("cluster_json_no_processes", "path='%s'", path);
        err = HS_EPROTO;
        goto out;
    }
    c.url = hs_xstrdup(url);
    *out = c;
    c = (struct hs_bench_cpu){0};
out:
    hs_bench_cpu_release(&c);
    json_decref(root);
    free(path);
    return err;
}

void hs_bench_cpu_release(struct hs_bench_cpu *c)
{
    if (!c)
        return;
    free(c->url);
    free(c->procs);
    *c = (struct hs_bench_cpu){0};
}

void hs_bench_cpu_sample(const struct hs_bench_cpu *c, int64_t *ticks)
{
    for (size_t i = 0; i < c->n_procs; i++) {
        if (!read_stat(c->procs[i].pid, NULL, &ticks[i]))
            ticks[i] = -1;
    }
}

void hs_bench_cpu_diff(const struct hs_bench_cpu *c, const int64_t *before, const int64_t *after,
                       double ns_out[HS_BENCH_CPU_ROLES])
{
    double ns_per_tick = 1e9 / (double)sysconf(_SC_CLK_TCK);
    for (int r = 0; r < HS_BENCH_CPU_ROLES; r++)
        ns_out[r] = 0;
    for (size_t i = 0; i < c->n_procs; i++) {
        if (before[i] < 0 || after[i] < before[i])
            continue;
        ns_out[c->procs[i].role] += (double)(after[i] - before[i]) * ns_per_tick;
    }
}
