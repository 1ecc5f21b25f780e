/* plan.c - everything the launcher checks and decides before the first process starts: the
 * data dir (created, locked, made absolute), the binaries, the secret and etcd token, the
 * process table built from the role rows (names, ports, URLs, data dirs, logs, argv) and that
 * every derived port is free. Failing here starts nothing. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

static int mkdir_p(const char *path)
{
    char *p = hs_xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; *s && rc == 0; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            rc = -1;
        *s = '/';
    }
    if (rc == 0 && mkdir(p, 0700) != 0 && errno != EEXIST)
        rc = -1;
    free(p);
    return rc;
}

/* A dir whose etcd was created with another member count cannot be restarted with this one:
 * the old members would keep their cluster and the new ones would form another. */
static int check_etcd_layout(const struct hs_cluster *c)
{
    int members = hs_cluster_etcd_members(c), existing = 0;
    for (int i = 0; i < 3; i++) {
        char *m = hs_xasprintf("%s/etcd%d/member", c->dir, i);
        struct stat st;
        existing += stat(m, &st) == 0;
        free(m);
    }
    if (existing == 0 || existing == members)
        return HS_CLUSTER_EXIT_OK;
    HS_LOG_ERROR("etcd_layout_mismatch",
                 "dir='%s' existing_members=%d wanted=%d "
                 "msg='this dir holds another etcd cluster: use --etcd %d or a new --dir'",
                 c->dir, existing, members, existing);
    return HS_CLUSTER_EXIT_USAGE;
}

int hs_cluster_setup(struct hs_cluster *c, int *lock_fd)
{
    const char *dir = c->cfg->dir && *c->cfg->dir ? c->cfg->dir : "./data";
    if (mkdir_p(dir) != 0 || !(c->dir = realpath(dir, NULL))) {
        char eb[128];
        int e = errno;
        HS_LOG_ERROR("dir_failed", "dir='%s' errno=%d err='%s'", dir, e,
                     hs_errno_text(e, eb, sizeof eb));
        return HS_CLUSTER_EXIT_USAGE;
    }
    char *logs = hs_xasprintf("%s/logs", c->dir);
    int rc = mkdir_p(logs);
    free(logs);
    if (rc != 0) {
        HS_LOG_ERROR("dir_failed", "dir='%s/logs' errno=%d", c->dir, errno);
        return HS_CLUSTER_EXIT_USAGE;
    }
    if (hs_cluster_lock_dir(c->dir, lock_fd) != HS_OK)
        return HS_CLUSTER_EXIT_USAGE;
    c->self = realpath("/proc/self/exe", NULL);
    if (!c->self) {
        HS_LOG_ERROR("self_not_found", "path=/proc/self/exe errno=%d", errno);
        return HS_CLUSTER_EXIT_USAGE;
    }
    c->etcd_bin = hs_cluster_which("etcd");
    if (!c->etcd_bin) {
        HS_LOG_ERROR("binary_not_found", "binary=etcd msg='install the Debian package "
                                         "etcd-server (make deps)'");
        return HS_CLUSTER_EXIT_USAGE;
    }
    c->secret_file = hs_xasprintf("%s/secret", c->dir);
    char *token_file = hs_xasprintf("%s/etcd-token", c->dir);
    enum hs_err err = hs_cluster_load_secret(c->secret_file);
    if (err == HS_OK)
        err = hs_cluster_load_token(token_file, &c->token);
    free(token_file);
    if (err != HS_OK)
        return HS_CLUSTER_EXIT_USAGE;
    c->url = hs_xasprintf("http://127.0.0.1:%d", (int)c->cfg->port);
    c->s3_port = c->cfg->s3_port ? (int)c->cfg->s3_port : (int)c->cfg->port + 1000;
    if (c->s3_port + 1 + (int)c->cfg->gateways > 65535) {
        HS_LOG_ERROR("s3_port_invalid",
                     "s3_port=%d msg='gateway S3 ports (s3-port+1+i) pass "
                     "65535: choose a lower --s3-port'",
                     c->s3_port);
        return HS_CLUSTER_EXIT_USAGE;
    }
    c->s3_url = hs_xasprintf("http://127.0.0.1:%d", c->s3_port);
    return check_etcd_layout(c);
}

/* Appends the instances of one role to c->procs (names, ports, paths; argv comes later, once
 * the etcd endpoints are known). */
static int plan_role(struct hs_cluster *c, const struct hs_cluster_role *r, size_t *cap)
{
    int n = r->count(c);
    if (n <= 0)
        return HS_CLUSTER_EXIT_OK;
    if (!r->available()) {
        if (r->required) {
            HS_LOG_ERROR("role_unavailable",
                         "role=%s count=%d msg='not in this build or not installed'", r->role, n);
            return HS_CLUSTER_EXIT_USAGE;
        }
        HS_LOG_WARN("role_skipped", "role=%s count=%d reason=not_in_build", r->role, n);
        return HS_CLUSTER_EXIT_OK;
    }
    for (int i = 0; i < n; i++) {
        if (c->n_procs == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            c->procs = hs_xrealloc(c->procs, *cap * sizeof c->procs[0]);
        }
        struct hs_cluster_proc *p = &c->procs[c->n_procs++];
        memset(p, 0, sizeof *p);
        p->role = r;
        p->index = i;
        if (r->single)
            snprintf(p->name, sizeof p->name, "%s", r->role);
        else
            snprintf(p->name, sizeof p->name, "%s%d", r->role, i);
        p->port = r->port(c, i);
        p->peer_port = r->peer_offset ? p->port + r->peer_offset : 0;
        p->s3_port = r->s3_port ? r->s3_port(c, i) : 0;
        p->url = hs_xasprintf("http://127.0.0.1:%d", p->port);
        p->data_dir = r->has_data_dir ? hs_xasprintf("%s/%s", c->dir, p->name) : NULL;
        p->log_path = hs_xasprintf("%s/logs/%s.log", c->dir, p->name);
    }
    return HS_CLUSTER_EXIT_OK;
}

/* Joins "<prefix><part>" over the etcd members with commas. */
static char *etcd_join(const struct hs_cluster *c, bool initial)
{
    char *s = hs_xstrdup("");
    for (size_t i = 0; i < c->n_procs; i++) {
        const struct hs_cluster_proc *p = &c->procs[i];
        if (strcmp(p->role->role, "etcd") != 0)
            continue;
        char *more = initial ? hs_xasprintf("%s%s%s=http://127.0.0.1:%d", s, *s ? "," : "", p->name,
                                            p->peer_port)
                             : hs_xasprintf("%s%s%s", s, *s ? "," : "", p->url);
        free(s);
        s = more;
    }
    return s;
}

static int check_ports(const struct hs_cluster *c)
{
    for (size_t i = 0; i < c->n_procs; i++) {
        const struct hs_cluster_proc *p = &c->procs[i];
        int ports[3] = {p->port, p->peer_port, p->s3_port};
        static const char *const what[3] = {"", " (peer)", " (s3)"},
                                 *said[3] = {"", " peer", " s3"};
        for (int k = 0; k < 3; k++) {
            if (ports[k] == 0 || !hs_cluster_port_busy(ports[k]))
                continue;
            HS_LOG_ERROR(
                "port_in_use",
                "port=%d name=%s%s "
                "msg='127.0.0.1:%d is in use; choose another --port (all ports derive from it)'",
                ports[k], p->name, what[k], ports[k]);
            fprintf(stderr,
                    "hybridstore cluster: port %d (%s%s) is in use; choose another --port%s\n",
                    ports[k], p->name, said[k], k == 2 ? " or --s3-port" : "");
            return HS_CLUSTER_EXIT_PORT;
        }
    }
    return HS_CLUSTER_EXIT_OK;
}

int hs_cluster_plan(struct hs_cluster *c)
{
    size_t cap = 0;
    for (size_t i = 0; i < hs_cluster_n_roles; i++) {
        int rc = plan_role(c, &hs_cluster_roles[i], &cap);
        if (rc != HS_CLUSTER_EXIT_OK)
            return rc;
    }
    c->etcd_endpoints = etcd_join(c, false);
    c->etcd_initial = etcd_join(c, true);
    for (size_t i = 0; i < c->n_procs; i++)
        c->procs[i].argv = c->procs[i].role->argv(c, &c->procs[i]);
    return check_ports(c);
}

void hs_cluster_release(struct hs_cluster *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_procs; i++) {
        free(c->procs[i].url);
        free(c->procs[i].data_dir);
        free(c->procs[i].log_path);
        hs_argv_free(c->procs[i].argv);
    }
    free(c->procs);
    free(c->dir);
    free(c->self);
    free(c->etcd_bin);
    free(c->secret_file);
    free(c->token);
    free(c->etcd_endpoints);
    free(c->etcd_initial);
    free(c->url);
    free(c->s3_url);
    free(c->s3_access_key);
    free(c->s3_secret_key);
    memset(c, 0, sizeof *c);
}
