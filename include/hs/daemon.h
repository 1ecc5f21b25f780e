/* daemon.h - start-up plumbing every daemon (node, gateway, healer) shares: the option rows
 * they all have (listen, etcd, secret, secret-file, log-level) and the start-up sequence that
 * uses them, the cluster secret from --secret or --secret-file, "host:port" listen addresses,
 * ids, and SIGTERM/SIGINT taken synchronously with sigwait (no async signal handlers anywhere). */
#ifndef HS_DAEMON_H
#define HS_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/config.h"

#define HS_DAEMON_SECRET_MAX 4096 /* bytes read from a secret file */

/* Reads at most max bytes of path, white space around them removed (heap, free()). NULL with
 * errno set when the file cannot be read. */
char *hs_daemon_read_trimmed(const char *path, size_t max);
/* The secret from exactly one of secret / secret_file (heap, free()). NULL after printing why
 * to stderr as "hybridstore <command>: ..." (both given, file unreadable, empty, none given, or
 * the public example secret that deploy/ once shipped). */
char *hs_daemon_secret(const char *command, const char *secret, const char *secret_file);
/* Splits "127.0.0.1:9100" into host (NUL-terminated in hostlen bytes) and port 1..65535. */
bool hs_daemon_split_listen(const char *listen, char *host, size_t hostlen, uint16_t *port);
/* 16 random lower-case hex digits (heap, free()): ids of daemons started without one. */
char *hs_daemon_random_id(void);
/* Writes "<text>\n" to path durably and privately (0600 temp file, fsync, rename over path):
 * the id files of a data dir. false with errno set (the temp file removed) on failure. */
bool hs_daemon_write_id_file(const char *path, const char *text);
/* Blocks SIGTERM and SIGINT in the calling thread (call before starting any thread: they
 * inherit the mask) and ignores SIGPIPE; set receives the blocked signals. */
void hs_daemon_signals_block(sigset_t *set);
/* Waits for one of the signals in set (blocked by hs_daemon_signals_block) and returns it. */
int hs_daemon_signals_wait(const sigset_t *set);

/* ---- the shared option rows and start-up ---- */

/* The options every daemon has. A daemon's config struct holds one as a member named `daemon`,
 * and its option table starts with HS_DAEMON_OPT_ROWS. */
struct hs_daemon_opts {
    char *listen; /* host:port */
    char *etcd;   /* endpoints, comma-separated */
    char *secret;
    char *secret_file;
    int log_level; /* enum hs_log_level (hs_daemon_log_levels order) */
};

extern const char *const hs_daemon_log_levels[]; /* "error" "warn" "info" "debug" NULL */
/* Option validator (hs_opt_check_fn) of "host:port". */
const char *hs_daemon_check_listen(const void *value);

/* The five shared rows of cfg_type's option table (cfg_type has `struct hs_daemon_opts daemon`);
 * listen_def, listen_help and secret_help are the daemon's own words. */
/* clang-format off */
#define HS_DAEMON_OPT_ROWS(cfg_type, listen_def, listen_help, secret_help)                         \
    {.name = "listen", .type = HS_OPT_STRING, .offset = offsetof(cfg_type, daemon.listen),         \
     .def = (listen_def), .help = (listen_help), .check = hs_daemon_check_listen},                 \
    {.name = "etcd", .type = HS_OPT_STRING, .offset = offsetof(cfg_type, daemon.etcd),             \
     .def = "http://127.0.0.1:2379", .help = "etcd endpoints, comma-separated"},                   \
    {.name = "secret", .type = HS_OPT_STRING, .offset = offsetof(cfg_type, daemon.secret),         \
     .secret = true, .help = (secret_help)},                                                       \
    {.name = "secret-file", .type = HS_OPT_STRING,                                                 \
     .offset = offsetof(cfg_type, daemon.secret_file),                                             \
     .help = "file holding the cluster secret (white space trimmed)"},                             \
    {.name = "log-level", .type = HS_OPT_ENUM, .offset = offsetof(cfg_type, daemon.log_level),     \
     .def = "info", .choices = hs_daemon_log_levels, .help = "lowest level logged"}
/* clang-format on */

/* What hs_daemon_begin hands on. */
struct hs_daemon_start {
    char host[64];    /* of --listen */
    uint16_t port;    /* of --listen */
    char *secret;     /* heap: the caller owns it */
    sigset_t signals; /* SIGTERM and SIGINT, blocked: hs_daemon_signals_wait(&signals) */
};

/* The start-up every daemon shares, in this order: loads spec into cfg (hs_config_load), starts
 * logging as spec->command at d->log_level, splits d->listen, reads the secret, blocks SIGTERM
 * and SIGINT (call it before any thread starts) and logs the effective config. d points into
 * cfg. Returns -1 to go on (out filled), or the exit code: 0 after --help, --print-config or
 * --version, 2 after printing why it cannot start (out->secret is then NULL). Either way the
 * caller releases cfg (hs_config_release). */
int hs_daemon_begin(const struct hs_config_spec *spec, void *cfg, const struct hs_daemon_opts *d,
                    int argc, char **argv, struct hs_daemon_start *out);

#endif
