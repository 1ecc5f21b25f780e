/* roles.c - the launcher's process table: one row per role (etcd, node, healer, gateway, nginx)
 * giving how many, whether it exists in this build, its port, its argv, how to prepare its
 * files and how to tell it is healthy. Adding a role is adding a row here; the start, wait and
 * stop loops (cmd_cluster.c, proc.c) know no role by name. Start order is table order; stop
 * order the reverse. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "cluster/cluster_int.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

static const char *const fsync_names[] = {"always", "never"};

/* node, gateway and healer are subcommands of this very binary: always there. */
static bool subcommand_available(void)
{
    return true;
}

void hs_argv_push(struct hs_argv *a, const char *fmt, ...)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->v = hs_xrealloc(a->v, a->cap * sizeof a->v[0]);
    }
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        HS_BUG("vasprintf failed (out of memory)");
    va_end(ap);
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

char **hs_argv_take(struct hs_argv *a)
{
    char **v = a->v;
    a->v = NULL;
    a->n = a->cap = 0;
    return v;
}

void hs_argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

char *hs_cluster_which(const char *prog)
{
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0 ? realpath(prog, NULL) : NULL;
    const char *path = getenv("PATH"); /* NOLINT(concurrency-mt-unsafe): single-threaded */
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    /* Debian puts nginx in /usr/sbin, which a non-root PATH often lacks. */
    char *all = hs_xasprintf("%s:/usr/sbin:/sbin", path);
    char *found = NULL;
    for (char *dir = all, *end; dir && !found; dir = end ? end + 1 : NULL) {
        end = strchr(dir, ':');
        if (end)
            *end = '\0';
        char *cand = hs_xasprintf("%s/%s", *dir ? dir : ".", prog);
        if (access(cand, X_OK) == 0)
            found = realpath(cand, NULL);
        free(cand);
    }
    free(all);
    return found;
}

int hs_cluster_etcd_members(const struct hs_cluster *c)
{
    return c->cfg->etcd == 1 ? 3 : 1;
}

/* ---- etcd ---------------------------------------------------------------------------------- */

static int etcd_count(const struct hs_cluster *c)
{
    return hs_cluster_etcd_members(c);
}

static bool etcd_available(void)
{
    char *p = hs_cluster_which("etcd");
    free(p);
    return p != NULL;
}

static int etcd_port(const struct hs_cluster *c, int i)
{
    return (int)c->cfg->port + HS_CLUSTER_OFF_ETCD + 2 * i;
}

/* --initial-cluster* only matter the first time: when <data-dir>/member exists, etcd restarts
 * the member from its WAL and ignores them (verified with 3.4.23: a changed token on restart
 * keeps the cluster id and the data). So the same argv serves first start and restart. */
static char **etcd_argv(const struct hs_cluster *c, const struct hs_cluster_proc *p)
{
    struct hs_argv a = {0};
    hs_argv_push(&a, "%s", c->etcd_bin);
    hs_argv_push(&a, "--name=%s", p->name);
    hs_argv_push(&a, "--data-dir=%s", p->data_dir);
    hs_argv_push(&a, "--listen-client-urls=%s", p->url);
    hs_argv_push(&a, "--advertise-client-urls=%s", p->url);
    hs_argv_push(&a, "--listen-peer-urls=http://127.0.0.1:%d", p->peer_port);
    hs_argv_push(&a, "--initial-advertise-peer-urls=http://127.0.0.1:%d", p->peer_port);
    hs_argv_push(&a, "--initial-cluster=%s", c->etcd_initial);
    hs_argv_push(&a, "--initial-cluster-token=%s", c->token);
    hs_argv_push(&a, "--initial-cluster-state=new");
    hs_argv_push(&a, "--logger=zap");
    hs_argv_push(&a, "--log-outputs=stderr");
    hs_argv_push(&a, "--log-level=%s", c->cfg->log_level >= HS_LOG_INFO ? "info" : "warn");
    hs_argv_push(&a, "--auto-compaction-mode=revision");
    hs_argv_push(&a, "--auto-compaction-retention=1000");
    hs_argv_push(&a, "--pre-vote=true");
    hs_argv_push(&a, "--quota-backend-bytes=%lld", (long long)c->cfg->etcd_quota_bytes);
    return hs_argv_take(&a);
}

/* ---- daemons of this binary ---------------------------------------------------------------- */

static int node_count(const struct hs_cluster *c)
{
    return (int)c->cfg->nodes;
}

static int node_port(const struct hs_cluster *c, int i)
{
    return (int)c->cfg->port + HS_CLUSTER_OFF_NODE + i;
}

static char **node_argv(const struct hs_cluster *c, const struct hs_cluster_proc *p)
{
    struct hs_argv a = {0};
    hs_argv_push(&a, "%s", c->self);
    hs_argv_push(&a, "node");
    hs_argv_push(&a, "--listen");
    hs_argv_push(&a, "127.0.0.1:%d", p->port);
    hs_argv_push(&a, "--data-dir");
    hs_argv_push(&a, "%s", p->data_dir);
    hs_argv_push(&a, "--etcd");
    hs_argv_push(&a, "%s", c->etcd_endpoints);
    hs_argv_push(&a, "--secret-file");
    hs_argv_push(&a, "%s", c->secret_file);
    hs_argv_push(&a, "--fsync");
    hs_argv_push(&a, "%s", fsync_names[c->cfg->fsync]);
    return hs_argv_take(&a);
}

static enum hs_err make_data_dir(const struct hs_cluster *c, const struct hs_cluster_proc *p)
{
    (void)c;
    if (mkdir(p->data_dir, 0700) != 0 && errno != EEXIST) {
        char eb[128];
        int e = errno;
        HS_LOG_ERROR("mkdir_failed", "path='%s' errno=%d err='%s'", p->data_dir, e,
                     hs_errno_text(e, eb, sizeof eb));
        return HS_EIO;
    }
    return HS_OK;
}

static int healer_count(const struct hs_cluster *c)
{
    return (int)c->cfg->healers;
}

static int healer_port(const struct hs_cluster *c, int i)
{
    return (int)c->cfg->port + HS_CLUSTER_OFF_HEALER + i;
}

/* Gateway and healer share a flag set: where to listen, etcd, the cluster secret. */
static char **daemon_argv(const struct hs_cluster *c, const struct hs_cluster_proc *p)
{
    struct hs_argv a = {0};
    hs_argv_push(&a, "%s", c->self);
    hs_argv_push(&a, "%s", p->role->role);
    hs_argv_push(&a, "--listen");
    hs_argv_push(&a, "127.0.0.1:%d", p->port);
    hs_argv_push(&a, "--etcd");
    hs_argv_push(&a, "%s", c->etcd_endpoints);
    hs_argv_push(&a, "--secret-file");
    hs_argv_push(&a, "%s", c->secret_file);
    return hs_argv_take(&a);
}

static int gateway_count(const struct hs_cluster *c)
{
    return (int)c->cfg->gateways;
}

static int gateway_port(const struct hs_cluster *c, int i)
{
    return (int)c->cfg->port + HS_CLUSTER_OFF_GATEWAY + i;
}

/* Each gateway serves S3 on its own port, right above nginx's S3 port. */
static int gateway_s3_port(const struct hs_cluster *c, int i)
{
    return c->s3_port + 1 + i;
}

static char **gateway_argv(const struct hs_cluster *c, const struct hs_cluster_proc *p)
{
    char **base = daemon_argv(c, p);
    struct hs_argv a = {0};
    for (char **s = base; *s; s++)
        hs_argv_push(&a, "%s", *s);
    hs_argv_free(base);
    hs_argv_push(&a, "--s3-port");
    hs_argv_push(&a, "%d", p->s3_port);
    if (c->cfg->s3_root_domain && *c->cfg->s3_root_domain) {
        hs_argv_push(&a, "--s3-root-domain");
        hs_argv_push(&a, "%s", c->cfg->s3_root_domain);
    }
    if (c->cfg->require_auth && *c->cfg->require_auth) {
        hs_argv_push(&a, "--require-auth");
        hs_argv_push(&a, "%s", c->cfg->require_auth);
    }
    return hs_argv_take(&a);
}

/* ---- nginx in front of the gateways --------------------------------------------------------- */

/* One nginx when there is a gateway to send requests to. Counting the procs already in the
 * table (rather than cfg->gateways) also covers gateways skipped as not in this build. */
static int nginx_count(const struct hs_cluster *c)
{
    for (size_t i = 0; i < c->n_procs; i++) {
        if (strcmp(c->procs[i].role->role, "gateway") == 0)
            return 1;
    }
    return 0;
}

static bool nginx_available(void)
{
    char *p = hs_cluster_which("nginx");
    free(p);
    return p != NULL;
}

static int nginx_port(const struct hs_cluster *c, int i)
{
    (void)i;
    return (int)c->cfg->port;
}

static int nginx_s3_port(const struct hs_cluster *c, int i)
{
    (void)i;
    return c->s3_port;
}

static char **nginx_argv(const struct hs_cluster *c, const struct hs_cluster_proc *p)
{
    (void)c;
    struct hs_argv a = {0};
    char *bin = hs_cluster_which("nginx"); /* available() checked it exists */
    hs_argv_push(&a, "%s", bin ? bin : "nginx");
    free(bin);
    hs_argv_push(&a, "-p");
    hs_argv_push(&a, "%s", p->data_dir);
    hs_argv_push(&a, "-c");
    hs_argv_push(&a, "nginx.conf");
    hs_argv_push(&a, "-g");
    hs_argv_push(&a, "daemon off;");
    return hs_argv_take(&a);
}

/* Streaming proxy: no body size limit, no request or response buffering, HTTP/1.1
 * keep-alive to the gateways, every path inside <dir>. As root the workers would run as nobody
 * and could not reach temp paths under a 0700 parent (pytest's tmp), hence `user root`.
 * Slow clients: request headers within 10 s (slowloris), the body and the response only need to
 * keep moving (the timeouts are between two reads or writes), and one client address holds at
 * most 256 connections (429 beyond; the tests and benchmarks all come from 127.0.0.1). */
/* What the native and the S3 server blocks of nginx.conf share: timeouts, per-client limits and
 * unbuffered keep-alive proxying. */
#define NGINX_SERVER_COMMON                                                                        \
    "        client_header_timeout 10s;\n"                                                         \
    "        keepalive_timeout 60s;\n"                                                             \
    "        client_body_timeout 60s;\n"                                                           \
    "        send_timeout 300s;\n"                                                                 \
    "        reset_timedout_connection on;\n"                                                      \
    "        limit_conn perclient 256;\n"                                                          \
    "        limit_conn_status 429;\n"                                                             \
    "        client_max_body_size 0;\n"                                                            \
    "        proxy_request_buffering off;\n"                                                       \
    "        proxy_buffering off;\n"                                                               \
    "        proxy_http_version 1.1;\n"                                                            \
    "        proxy_set_header Connection \"\";\n"

static enum hs_err nginx_prepare(const struct hs_cluster *c, const struct hs_cluster_proc *p)
{
    enum hs_err err = make_data_dir(c, p);
    if (err != HS_OK)
        return err;
    char *servers = hs_xstrdup(""), *s3_servers = hs_xstrdup("");
    for (size_t i = 0; i < c->n_procs; i++) {
        if (strcmp(c->procs[i].role->role, "gateway") != 0)
            continue;
        char *more = hs_xasprintf("%s        server 127.0.0.1:%d max_fails=2 fail_timeout=5s;\n",
                                  servers, c->procs[i].port);
        free(servers);
        servers = more;
        more = hs_xasprintf("%s        server 127.0.0.1:%d max_fails=2 fail_timeout=5s;\n",
                            s3_servers, c->procs[i].s3_port);
        free(s3_servers);
        s3_servers = more;
    }

    const char *d = p->data_dir;
    char *conf =
        hs_xasprintf("# Generated by hybridstore cluster; rewritten at every start.\n"
                     "%s"
                     "worker_processes 2;\n"
                     "error_log stderr warn;\n"
                     "pid %s/nginx.pid;\n"
                     "events { worker_connections 1024; }\n"
                     "http {\n"
                     "    log_format up '$remote_addr \"$request\" $status $body_bytes_sent "
                     "up=$upstream_addr up_status=$upstream_status rt=$request_time';\n"
                     "    access_log %s/logs/nginx-access.log up;\n"
                     "    client_body_temp_path %s/tmp/body;\n"
                     "    proxy_temp_path %s/tmp/proxy;\n"
                     "    fastcgi_temp_path %s/tmp/fastcgi;\n"
                     "    uwsgi_temp_path %s/tmp/uwsgi;\n"
                     "    scgi_temp_path %s/tmp/scgi;\n"
                     "    upstream gateways {\n%s        keepalive 32;\n    }\n"
                     "    limit_conn_zone $binary_remote_addr zone=perclient:10m;\n"
                     "    server {\n"
                     "        listen 127.0.0.1:%d;\n" NGINX_SERVER_COMMON
                     "        proxy_set_header Host $host;\n"
                     "        proxy_read_timeout 300s;\n"
                     "        proxy_send_timeout 300s;\n"
                     "        proxy_next_upstream error timeout;\n"
                     "        location / { proxy_pass http://gateways; }\n"
                     "    }\n"
                     /* S3: SigV4 signs Host with its port ($http_host, never $host); bodies stream
                      * both ways and chunked uploads (aws-chunked) pass through unbuffered */
                     "    upstream gateways_s3 {\n%s        keepalive 32;\n    }\n"
                     "    server {\n"
                     "        listen 127.0.0.1:%d;\n" NGINX_SERVER_COMMON
                     "        proxy_set_header Host $http_host;\n"
                     "        proxy_read_timeout 300s;\n"
                     "        proxy_send_timeout 300s;\n"
                     "        proxy_next_upstream error timeout;\n"
                     "        location / { proxy_pass http://gateways_s3; }\n"
                     "    }\n"
                     "}\n",
                     geteuid() == 0 ? "user root root;\n" : "", d, c->dir, d, d, d, d, d, servers,
                     p->port, s3_servers, p->s3_port);
    free(servers);
    free(s3_servers);
    char *tmp = hs_xasprintf("%s/tmp", d);
    char *path = hs_xasprintf("%s/nginx.conf", d);
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
        HS_LOG_ERROR("mkdir_failed", "path='%s' errno=%d", tmp, errno);
        err = HS_EIO;
        goto out;
    }
    err = hs_cluster_write_file(path, conf, 0600);
out:
    free(tmp);
    free(path);
    free(conf);
    return err;
}

/* etcd stops serially: a leader that gets SIGTERM hands leadership to a peer it still sees as
 * connected; when all members stop at once that peer is already dying and the transfer hangs
 * ~7 s (seen with 3.4.23). One at a time, the transfer target is alive, and the last member
 * has no active peer, so it skips the transfer. */
const struct hs_cluster_role hs_cluster_roles[] = {
    {.role = "etcd",
     .plural = "etcd",
     .count = etcd_count,
     .available = etcd_available,
     .required = true,
     .stop_serially = true,
     .port = etcd_port,
     .peer_offset = 1,
     .argv = etcd_argv,
     .health_path = "/health",
     .health_body = "\"health\":\"true\"",
     .has_data_dir = true},
    {.role = "node",
     .plural = "nodes",
     .count = node_count,
     .available = subcommand_available,
     .required = true,
     .port = node_port,
     .argv = node_argv,
     .prepare = make_data_dir,
     .health_path = "/v1/health",
     .has_data_dir = true},
    {.role = "healer",
     .plural = "healers",
     .count = healer_count,
     .available = subcommand_available,
     .port = healer_port,
     .argv = daemon_argv,
     .health_path = "/metrics"},
    {.role = "gateway",
     .plural = "gateways",
     .count = gateway_count,
     .available = subcommand_available,
     .port = gateway_port,
     .s3_port = gateway_s3_port,
     .argv = gateway_argv,
     .health_path = "/health"},
    {.role = "nginx",
     .plural = "nginx",
     .count = nginx_count,
     .available = nginx_available,
     .required = true,
     .single = true,
     .port = nginx_port,
     .s3_port = nginx_s3_port,
     .argv = nginx_argv,
     .prepare = nginx_prepare,
     .health_path = "/health",
     .has_data_dir = true},
};
const size_t hs_cluster_n_roles = HS_ARRAY_LEN(hs_cluster_roles);
