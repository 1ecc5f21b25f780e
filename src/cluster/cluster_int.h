/* cluster_int.h - private declarations of the local-cluster launcher (hybridstore cluster):
 * its config, the process table (one row per role), the processes it started, and the helpers
 * for spawning, probing and recording them. Nothing here is used outside src/cluster. */
#ifndef HS_CLUSTER_INT_H
#define HS_CLUSTER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hs/err.h"

/* Exit codes of `hybridstore cluster` (docs/cluster.md). */
enum {
    HS_CLUSTER_EXIT_OK = 0,       /* stopped by SIGINT/SIGTERM/SIGHUP, or --help */
    HS_CLUSTER_EXIT_FAIL = 1,     /* a process failed to start or become healthy */
    HS_CLUSTER_EXIT_USAGE = 2,    /* bad option, missing binary or subcommand, dir in use */
    HS_CLUSTER_EXIT_PORT = 3,     /* a derived port is in use: pick another --port */
    HS_CLUSTER_MAX_PER_ROLE = 99, /* keeps every role inside its block of 100 ports */
};

/* Port map: every port is --port plus an offset (docs/cluster.md). */
enum {
    HS_CLUSTER_OFF_ETCD = 100,    /* etcd<i>: client PORT+100+2i, peer PORT+101+2i */
    HS_CLUSTER_OFF_NODE = 200,    /* node<i>: PORT+200+i */
    HS_CLUSTER_OFF_GATEWAY = 300, /* gateway<i>: PORT+300+i */
    HS_CLUSTER_OFF_HEALER = 400,  /* healer<i> (metrics/health): PORT+400+i */
};

enum hs_cluster_fsync { HS_CLUSTER_FSYNC_ALWAYS = 0, HS_CLUSTER_FSYNC_NEVER };

/* Filled by hs_config_load from the table in cmd_cluster.c. */
struct hs_cluster_config {
    char *dir;                /* data directory (relative paths are made absolute) */
    int64_t port;             /* base port: nginx listens here */
    int64_t nodes;            /* storage nodes */
    int64_t gateways;         /* gateways (only if the subcommand is in this build) */
    int64_t healers;          /* healers (only if the subcommand is in this build) */
    int etcd;                 /* index into {"1", "3"}: members */
    int fsync;                /* enum hs_cluster_fsync, passed to nodes */
    int log_level;            /* enum hs_log_level of the launcher itself */
    int64_t start_timeout_ms; /* per role: time to become healthy */
    int64_t stop_timeout_ms;  /* per role: SIGTERM to SIGKILL */
    int64_t etcd_quota_bytes; /* --quota-backend-bytes of every etcd member */
    int64_t s3_port;          /* nginx's S3 port (gateway<i>: +1+i); 0 = PORT+1000 */
    char *s3_root_domain;     /* passed to gateways: virtual-host style; NULL = none */
    char *require_auth;       /* passed to gateways (--require-auth); NULL = none */
};

struct hs_cluster;
struct hs_cluster_proc;

/* One row of the process table: adding a role is adding a row (roles.c). */
struct hs_cluster_role {
    const char *role;   /* cluster.json "role"; names are "<role><i>" ("nginx" alone) */
    const char *plural; /* for the summary line: "nodes" */
    int (*count)(const struct hs_cluster *c);          /* instances wanted (before availability) */
    bool (*available)(void);                           /* binary/subcommand present in this build */
    int (*port)(const struct hs_cluster *c, int i);    /* listen port of instance i */
    int (*s3_port)(const struct hs_cluster *c, int i); /* its S3 port; NULL = none */
    /* Heap NULL-terminated argv; argv[0] is an absolute path. */
    char **(*argv)(const struct hs_cluster *c, const struct hs_cluster_proc *p);
    /* Optional: files to write before the process starts (mkdir, nginx.conf). */
    enum hs_err (*prepare)(const struct hs_cluster *c, const struct hs_cluster_proc *p);
    const char *health_path; /* GET this; 200 means ready */
    const char *health_body; /* if non-NULL, the body must also contain this */
    int peer_offset;         /* second port at port + peer_offset (etcd peer), 0 = none */
    bool required;           /* unavailable + count > 0: error, not skip */
    bool single;             /* at most one, named "<role>" */
    bool stop_serially;      /* stop one at a time, last first (etcd: see roles.c) */
    bool has_data_dir;       /* <dir>/<name>/ is the process's data */
};

enum hs_cluster_pstate {
    HS_PROC_PLANNED = 0, /* in the table, not started */
    HS_PROC_STARTING,    /* spawned, not yet healthy */
    HS_PROC_RUNNING,     /* healthy once */
    HS_PROC_EXITED,      /* died without being asked to */
    HS_PROC_STOPPED,     /* stopped by the launcher */
};

/* A process the launcher starts; all strings are heap and owned here. */
struct hs_cluster_proc {
    const struct hs_cluster_role *role;
    int index;      /* i in "<role><i>" */
    char name[24];  /* "node3" */
    int port;       /* main listen port */
    int peer_port;  /* etcd only, else 0 */
    int s3_port;    /* gateway and nginx: the S3 listener, else 0 */
    char *url;      /* http://127.0.0.1:<port> */
    char *data_dir; /* NULL when the role has none */
    char *log_path; /* <dir>/logs/<name>.log */
    char **argv;    /* NULL-terminated, heap */
    pid_t pid;      /* > 0 while the child exists (not yet reaped) */
    enum hs_cluster_pstate state;
    int wait_status; /* waitpid status once EXITED/STOPPED */
};

/* Run-time state of one launcher. */
struct hs_cluster {
    const struct hs_cluster_config *cfg;
    char *dir;            /* absolute */
    char *self;           /* absolute path of this binary (/proc/self/exe) */
    char *etcd_bin;       /* absolute path of etcd */
    char *secret_file;    /* <dir>/secret */
    char *token;          /* etcd --initial-cluster-token, persisted in <dir>/etcd-token */
    char *etcd_endpoints; /* "http://127.0.0.1:a,http://127.0.0.1:b" */
    char *etcd_initial;   /* "etcd0=http://127.0.0.1:p,..." */
    char *url;            /* http://127.0.0.1:<port> (nginx) */
    const char *state;    /* cluster.json "state": starting, up, stopping, stopped */
    int s3_port;          /* nginx's S3 port (--s3-port or PORT+1000) */
    char *s3_url;         /* http://127.0.0.1:<s3_port> */
    char *s3_access_key;  /* the root S3 key (<dir>/s3-root-key), NULL until loaded */
    char *s3_secret_key;
    struct hs_cluster_proc *procs; /* in start order */
    size_t n_procs;
};

/* plan.c: before anything starts. Both return a HS_CLUSTER_EXIT_* code (0 = go on). */
/* Creates <dir> and <dir>/logs, locks the dir, finds binaries, loads secret and token. */
int hs_cluster_setup(struct hs_cluster *c, int *lock_fd);
/* Fills c->procs from the role table and checks that every port is free. */
int hs_cluster_plan(struct hs_cluster *c);
/* Frees what setup and plan allocated. c may be NULL. */
void hs_cluster_release(struct hs_cluster *c);

/* roles.c: the table, in start order (stop order is the reverse). */
extern const struct hs_cluster_role hs_cluster_roles[];
extern const size_t hs_cluster_n_roles;
int hs_cluster_etcd_members(const struct hs_cluster *c);
/* Resolves a program name through PATH to an absolute path (heap), or NULL. */
char *hs_cluster_which(const char *prog);

/* argv.c: building NULL-terminated heap argv arrays. */
struct hs_argv {
    char **v;
    size_t n, cap;
};
void hs_argv_push(struct hs_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char **hs_argv_take(struct hs_argv *a);
void hs_argv_free(char **argv);

/* proc.c: children. */
enum hs_err hs_cluster_spawn(struct hs_cluster_proc *p);
/* Reaps every child that exited; returns how many it reaped. Logs evt=child_exited (warn) for
 * processes that were not being stopped. */
size_t hs_cluster_reap(struct hs_cluster *c);
/* SIGTERM (+SIGCONT) to every live process of role (all at once, or one at a time if the
 * role says so), waits up to timeout_ms, then SIGKILL. */
void hs_cluster_stop_role(struct hs_cluster *c, const struct hs_cluster_role *role,
                          int64_t timeout_ms);
/* Is something already listening on (or bound to) 127.0.0.1:port? */
bool hs_cluster_port_busy(int port);
/* One GET with a short timeout; true on 200 (and health_body found if set). */
bool hs_cluster_probe(const char *url, const char *path, const char *body_needle);
/* "code 0", "signal 9" into buf. */
void hs_cluster_status_text(int wait_status, char *buf, size_t buflen);

/* s3.c: the root S3 access key: made once per data dir (<dir>/s3-root-key, 0600), stored in
 * etcd (create-if-absent) once etcd is up, printed and written to cluster.json. */
enum hs_err hs_cluster_s3_root_key(struct hs_cluster *c);
void hs_cluster_s3_print(const struct hs_cluster *c);

/* state.c: files in <dir>. */
enum hs_err hs_cluster_lock_dir(const char *dir, int *fd_out);
enum hs_err hs_cluster_load_secret(const char *path);
enum hs_err hs_cluster_load_token(const char *path, char **token_out);
enum hs_err hs_cluster_write_json(const struct hs_cluster *c);
enum hs_err hs_cluster_write_file(const char *path, const char *text, unsigned mode);

#endif
