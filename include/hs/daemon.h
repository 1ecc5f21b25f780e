/* daemon.h - start-up plumbing every daemon (node, gateway, healer) shares: the cluster secret
 * from --secret or --secret-file, "host:port" listen addresses, ids, and SIGTERM/SIGINT taken
 * synchronously with sigwait (no async signal handlers anywhere). */
#ifndef HS_DAEMON_H
#define HS_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/* Blocks SIGTERM and SIGINT in the calling thread (call before starting any thread: they
 * inherit the mask) and ignores SIGPIPE; set receives the blocked signals. */
void hs_daemon_signals_block(sigset_t *set);
/* Waits for one of the signals in set (blocked by hs_daemon_signals_block) and returns it. */
int hs_daemon_signals_wait(const sigset_t *set);

#endif
