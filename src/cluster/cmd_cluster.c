/* cmd_cluster.c - `hybridstore cluster`: starts a whole cluster on loopback in the foreground
 * (etcd, storage nodes, healers, gateways, nginx; see roles.c), waits until each role is
 * healthy, records every process in <dir>/cluster.json and supervises them until SIGINT,
 * SIGTERM or SIGHUP, then stops them in reverse order. It never restarts a process: tests kill
 * processes on purpose. Used by `make run` and the cluster tests; see docs/cluster.md. */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "cluster/cluster_int.h"
#include "hs/clock.h"
#include "hs/config.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

static const char *const etcd_choices[] = {"1", "3", NULL};
static const char *const fsync_choices[] = {"always", "never", NULL};
static const char *const level_choices[] = {"error", "warn", "info", "debug", NULL};

#define OFF(f) offsetof(struct hs_cluster_config, f)
static const struct hs_opt cluster_opts[] = {
    {.name = "dir",
     .type = HS_OPT_STRING,
     .offset = OFF(dir),
     .def = "./data",
     .help = "data directory: etcd and node data, logs, secret, cluster.json"},
    {.name = "port",
     .type = HS_OPT_INT,
     .offset = OFF(port),
     .def = "8000",
     .help = "base port: nginx PORT, etcd PORT+100+2i (peer +1), nodes PORT+200+i, gateways "
             "PORT+300+i, healers PORT+400+i",
     .min = 1024,
     .max = 65535 - 500},
    {.name = "nodes",
     .type = HS_OPT_INT,
     .offset = OFF(nodes),
     .def = "6",
     .help = "storage nodes",
     .min = 0,
     .max = HS_CLUSTER_MAX_PER_ROLE},
    {.name = "gateways",
     .type = HS_OPT_INT,
     .offset = OFF(gateways),
     .def = "3",
     .help = "gateways behind nginx (started only if this build has the gateway subcommand)",
     .min = 0,
     .max = HS_CLUSTER_MAX_PER_ROLE},
    {.name = "healers",
     .type = HS_OPT_INT,
     .offset = OFF(healers),
     .def = "2",
     .help = "healers (started only if this build has the healer subcommand)",
     .min = 0,
     .max = HS_CLUSTER_MAX_PER_ROLE},
    {.name = "etcd",
     .type = HS_OPT_ENUM,
     .offset = OFF(etcd),
     .def = "1",
     .help = "etcd members: 1 or 3",
     .choices = etcd_choices},
    {.name = "fsync",
     .type = HS_OPT_ENUM,
     .offset = OFF(fsync),
     .def = "always",
     .help = "passed to every node: always or never",
     .choices = fsync_choices},
    {.name = "log-level",
     .type = HS_OPT_ENUM,
     .offset = OFF(log_level),
     .def = "info",
     .help = "the launcher's own log level",
     .choices = level_choices},
    {.name = "start-timeout",
     .type = HS_OPT_DURATION,
     .offset = OFF(start_timeout_ms),
     .def = "30s",
     .help = "per role: how long its processes may take to become healthy",
     .min = 1000,
     .max = 3600000},
    {.name = "stop-timeout",
     .type = HS_OPT_DURATION,
     .offset = OFF(stop_timeout_ms),
     .def = "10s",
     .help = "per role: SIGTERM to SIGKILL when stopping",
     .min = 100,
     .max = 600000},
    {.name = "etcd-quota",
     .type = HS_OPT_BYTES,
     .offset = OFF(etcd_quota_bytes),
     .def = "4GiB",
     .help = "etcd --quota-backend-bytes of every member",
     .min = (int64_t)16 << 20,
     .max = (int64_t)8 << 30},
    {.name = "s3-port",
     .type = HS_OPT_INT,
     .offset = OFF(s3_port),
     .def = "0",
     .help = "S3 endpoint on nginx (docs/s3.md); gateway<i> serves S3 on S3_PORT+1+i; 0 = "
             "PORT+1000",
     .min = 0,
     .max = 65535},
    {.name = "s3-root-domain",
     .type = HS_OPT_STRING,
     .offset = OFF(s3_root_domain),
     .help = "passed to gateways: S3 virtual-host style under this domain (unset: path style)"},
    {.name = "require-auth",
     .type = HS_OPT_STRING,
     .offset = OFF(require_auth),
     .help = "passed to gateways: v1, ref or v1,ref need credentials (docs/design.md)"},
};

static const struct hs_config_spec cluster_spec = {
    .command = "cluster",
    .summary = "Starts a local cluster on 127.0.0.1 in the foreground: etcd, storage nodes, "
               "healers, gateways and nginx on PORT. Writes <dir>/cluster.json (role, pid, url, "
               "data dir, log of every process) and stops everything on Ctrl-C or SIGTERM. "
               "Exit codes: 0 stopped by a signal, 1 a process failed to start, 2 bad usage, "
               "3 a port is in use.",
    .env_prefix = "HS_CLUSTER_",
    .opts = cluster_opts,
    .n_opts = HS_ARRAY_LEN(cluster_opts),
};

/* Waits up to timeout_ms for a signal; reaps children on SIGCHLD. True once a stop signal came.
 * The signals stay blocked all along, so none is lost between two waits. */
static bool wait_signal(struct hs_cluster *c, int64_t timeout_ms, bool *stop)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    struct timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000};
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig < 0)
            break; /* EAGAIN: timeout (or EINTR); nothing more pending */
        if (sig == SIGCHLD) {
            hs_cluster_reap(c);
        } else if (!*stop) {
            HS_LOG_INFO("stop_requested", "signal=%d", sig);
            *stop = true;
        }
        ts.tv_sec = 0; /* drain what else is pending, then return */
        ts.tv_nsec = 0;
    }
    hs_cluster_reap(c); /* SIGCHLD coalesces: reap anyway */
    return *stop;
}

static size_t role_planned(const struct hs_cluster *c, const struct hs_cluster_role *r)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_procs; i++)
        n += c->procs[i].role == r;
    return n;
}

static size_t role_alive(const struct hs_cluster *c, const struct hs_cluster_role *r)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_procs; i++)
        n += c->procs[i].role == r && c->procs[i].pid > 0;
    return n;
}

static const struct hs_cluster_role *role_named(const char *name)
{
    for (size_t i = 0; i < hs_cluster_n_roles; i++) {
        if (strcmp(hs_cluster_roles[i].role, name) == 0)
            return &hs_cluster_roles[i];
    }
    return NULL;
}

/* "etcd 1/1, nodes 6/6, gateways 0/0, healers 0/0" (+ nginx when planned): live / planned. */
static char *health_summary(const struct hs_cluster *c, bool kv)
{
    static const char *const order[] = {"etcd", "node", "gateway", "healer", "nginx"};
    char *s = hs_xstrdup("");
    for (size_t i = 0; i < HS_ARRAY_LEN(order); i++) {
        const struct hs_cluster_role *r = role_named(order[i]);
        if (!r || (r->single && role_planned(c, r) == 0))
            continue;
        char *more =
            hs_xasprintf(kv ? "%s%s%s=%zu/%zu" : "%s%s%s %zu/%zu", s, *s ? (kv ? " " : ", ") : "",
                         r->plural, role_alive(c, r), role_planned(c, r));
        free(s);
        s = more;
    }
    return s;
}

static void write_json(struct hs_cluster *c, const char *state)
{
    c->state = state;
    if (hs_cluster_write_json(c) != HS_OK)
        HS_LOG_WARN("cluster_json_failed", "dir='%s'", c->dir);
}

/* Starts every process of one role, then waits until each answers its health URL. */
static enum hs_err start_role(struct hs_cluster *c, const struct hs_cluster_role *r, bool *stop)
{
    enum hs_err err = HS_OK;
    for (size_t i = 0; i < c->n_procs && err == HS_OK; i++) {
        struct hs_cluster_proc *p = &c->procs[i];
        if (p->role != r)
            continue;
        if (r->prepare)
            err = r->prepare(c, p);
        if (err == HS_OK)
            err = hs_cluster_spawn(p);
    }
    write_json(c, "starting");
    if (err != HS_OK)
        return err;
    int64_t deadline = hs_clock_mono_ms() + c->cfg->start_timeout_ms;
    for (;;) {
        size_t pending = 0;
        for (size_t i = 0; i < c->n_procs; i++) {
            struct hs_cluster_proc *p = &c->procs[i];
            if (p->role != r || p->state == HS_PROC_RUNNING)
                continue;
            if (p->state != HS_PROC_STARTING) {
                char text[32];
                hs_cluster_status_text(p->wait_status, text, sizeof text);
                HS_LOG_ERROR("start_failed",
                             "role=%s name=%s status='%s' msg='exited during startup' log='%s'",
                             r->role, p->name, text, p->log_path);
                return HS_EUNAVAIL;
            }
            if (hs_cluster_probe(p->url, r->health_path, r->health_body)) {
                p->state = HS_PROC_RUNNING;
                HS_LOG_INFO("proc_healthy", "role=%s name=%s pid=%d url=%s", r->role, p->name,
                            (int)p->pid, p->url);
            } else {
                pending++;
            }
        }
        if (pending == 0)
            return HS_OK;
        if (hs_clock_mono_ms() > deadline) {
            for (size_t i = 0; i < c->n_procs; i++) {
                const struct hs_cluster_proc *p = &c->procs[i];
                if (p->role == r && p->state == HS_PROC_STARTING)
                    HS_LOG_ERROR("start_timeout",
                                 "role=%s name=%s url=%s%s timeout_ms=%lld log='%s'", r->role,
                                 p->name, p->url, r->health_path,
                                 (long long)c->cfg->start_timeout_ms, p->log_path);
            }
            return HS_ETIMEDOUT;
        }
        if (wait_signal(c, 100, stop))
            return HS_OK;
    }
}

static void stop_all(struct hs_cluster *c)
{
    write_json(c, "stopping");
    for (size_t i = hs_cluster_n_roles; i-- > 0;)
        hs_cluster_stop_role(c, &hs_cluster_roles[i], c->cfg->stop_timeout_ms);
    for (size_t i = 0; i < c->n_procs; i++) {
        if (c->procs[i].state == HS_PROC_STARTING || c->procs[i].state == HS_PROC_RUNNING)
            c->procs[i].state = HS_PROC_STOPPED;
    }
    write_json(c, "stopped");
    HS_LOG_INFO("cluster_stopped", "dir='%s'", c->dir);
}

/* Supervises until a stop signal: logs each unexpected exit and keeps cluster.json current. */
static void supervise(struct hs_cluster *c, bool *stop)
{
    size_t alive = 0;
    for (size_t i = 0; i < c->n_procs; i++)
        alive += c->procs[i].pid > 0;
    while (!wait_signal(c, 1000, stop)) {
        size_t now_alive = 0;
        for (size_t i = 0; i < c->n_procs; i++)
            now_alive += c->procs[i].pid > 0;
        if (now_alive == alive)
            continue;
        alive = now_alive;
        write_json(c, "up");
        char *sum = health_summary(c, true);
        HS_LOG_WARN("cluster_health", "%s", sum);
        free(sum);
    }
}

static int run_cluster(struct hs_cluster *c)
{
    bool stop = false;
    enum hs_err err = HS_OK;
    for (size_t i = 0; i < hs_cluster_n_roles && err == HS_OK && !stop; i++) {
        if (role_planned(c, &hs_cluster_roles[i]) > 0)
            err = start_role(c, &hs_cluster_roles[i], &stop);
        /* the root S3 key goes into etcd before any gateway serves */
        if (err == HS_OK && !stop && strcmp(hs_cluster_roles[i].role, "etcd") == 0)
            err = hs_cluster_s3_root_key(c);
    }
    if (err != HS_OK || stop) {
        stop_all(c);
        return err != HS_OK ? HS_CLUSTER_EXIT_FAIL : HS_CLUSTER_EXIT_OK;
    }
    write_json(c, "up");
    char *sum = health_summary(c, false);
    printf("hybridstore cluster up: %s \xe2\x80\x94 %s\n", c->url, sum);
    hs_cluster_s3_print(c);
    fflush(stdout);
    free(sum);
    sum = health_summary(c, true);
    HS_LOG_INFO("cluster_up", "url=%s dir='%s' %s", c->url, c->dir, sum);
    free(sum);
    supervise(c, &stop);
    stop_all(c);
    return HS_CLUSTER_EXIT_OK;
}

int hs_cmd_cluster(int argc, char **argv)
{
    struct hs_cluster_config cfg = {0};
    enum hs_config_outcome o = hs_config_load(&cluster_spec, &cfg, argc, argv, NULL, 0, NULL);
    if (o != HS_CONFIG_RUN) {
        hs_config_release(&cluster_spec, &cfg);
        return o == HS_CONFIG_EXIT_OK ? HS_CLUSTER_EXIT_OK : HS_CLUSTER_EXIT_USAGE;
    }
    hs_log_init("cluster", (enum hs_log_level)cfg.log_level);
    hs_config_log(&cluster_spec, &cfg);

    /* Block the signals we wait for before the first child exists; children unblock them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Everything in the cluster directory is private to this user (objects, the secret, logs),
     * also what the children create themselves with their own modes (etcd, nginx's logs). */
    umask(077);

    struct hs_cluster c = {.cfg = &cfg, .state = "starting"};
    int lock_fd = -1;
    int rc = hs_cluster_setup(&c, &lock_fd);
    if (rc == HS_CLUSTER_EXIT_OK)
        rc = hs_cluster_plan(&c);
    if (rc == HS_CLUSTER_EXIT_OK)
        rc = run_cluster(&c);
    hs_cluster_release(&c);
    if (lock_fd >= 0)
        close(lock_fd);
    curl_global_cleanup();
    hs_config_release(&cluster_spec, &cfg);
    return rc;
}
