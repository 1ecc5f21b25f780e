/* daemon.c - start-up plumbing shared by the daemons (see daemon.h). Nothing here runs after
 * start-up except hs_daemon_signals_wait, which the main thread parks in until shutdown. */
#include "hs/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

bool hs_daemon_write_id_file(const char *path, const char *text)
{
    char *tmp = hs_xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && dprintf(fd, "%s\n", text) > 0 && fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        saved = errno;
    }
    if (!ok)
        unlink(tmp);
    free(tmp);
    errno = saved;
    return ok;
}

char *hs_daemon_read_trimmed(const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = hs_xcalloc(1, max + 1);
    ssize_t n = read(fd, buf, max);
    int saved = errno;
    close(fd);
    if (n < 0) {
        free(buf);
        errno = saved;
        return NULL;
    }
    size_t end = (size_t)n, start = 0;
    while (end > 0 && strchr(" \t\r\n", buf[end - 1]))
        end--;
    while (start < end && strchr(" \t\r\n", buf[start]))
        start++;
    char *out = hs_xstrndup(buf + start, end - start);
    free(buf);
    return out;
}

/* The value of the example secret file that deploy/ once shipped (and compose fell back to). It
 * is public, in every clone and in the repository's history: a cluster running with it has no
 * secret at all, so no daemon accepts it. */
static const char example_secret[] =
    "hybridstore-example-cluster-secret-REPLACE-ME-see-docs-deploy-md";

char *hs_daemon_secret(const char *command, const char *secret, const char *secret_file)
{
    if (secret && secret_file) {
        fprintf(stderr, "hybridstore %s: give --secret or --secret-file, not both\n", command);
        return NULL;
    }
    char *s = secret ? hs_xstrdup(secret) : NULL;
    if (secret_file) {
        s = hs_daemon_read_trimmed(secret_file, HS_DAEMON_SECRET_MAX);
        if (!s) {
            char eb[128];
            fprintf(stderr, "hybridstore %s: cannot read --secret-file '%s': %s\n", command,
                    secret_file, hs_errno_text(errno, eb, sizeof eb));
            return NULL;
        }
    }
    if (!s || !*s) {
        fprintf(stderr,
                "hybridstore %s: a cluster secret is required (--secret or --secret-file); "
                "refusing to start without one\n",
                command);
        free(s);
        return NULL;
    }
    if (strcmp(s, example_secret) == 0) {
        fprintf(stderr,
                "hybridstore %s: the cluster secret is the public example value from the "
                "repository; refusing to start with it: generate a secret of your own "
                "(docs/deploy.md, \"The cluster secret\")\n",
                command);
        free(s);
        return NULL;
    }
    return s;
}

bool hs_daemon_split_listen(const char *listen, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= hostlen)
        return false;
    char *end = NULL;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || p == 0 || p > 65535)
        return false;
    snprintf(host, hostlen, "%.*s", (int)(colon - listen), listen);
    *port = (uint16_t)p;
    return true;
}

char *hs_daemon_random_id(void)
{
    uint8_t raw[8];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        HS_BUG("getrandom failed");
    char *id = hs_xmalloc(2 * sizeof raw + 1);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
    return id;
}

void hs_daemon_signals_block(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    /* a peer closing a connection must be an error return, not the end of the process */
    signal(SIGPIPE, SIG_IGN);
}

int hs_daemon_signals_wait(const sigset_t *set)
{
    int sig = 0;
    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}

/* ---- the shared option rows and start-up ---- */

/* In enum hs_log_level order: the option stores the index. */
const char *const hs_daemon_log_levels[] = {"error", "warn", "info", "debug", NULL};

const char *hs_daemon_check_listen(const void *value)
{
    const char *v = *(const char *const *)value;
    char host[64];
    uint16_t port = 0;
    return v && hs_daemon_split_listen(v, host, sizeof host, &port) ? NULL : "must be host:port";
}

int hs_daemon_begin(const struct hs_config_spec *spec, void *cfg, const struct hs_daemon_opts *d,
                    int argc, char **argv, struct hs_daemon_start *out)
{
    memset(out, 0, sizeof *out);
    enum hs_config_outcome oc = hs_config_load(spec, cfg, argc, argv, NULL, 0, NULL);
    if (oc != HS_CONFIG_RUN)
        return oc == HS_CONFIG_EXIT_OK ? 0 : 2;
    hs_log_init(spec->command, (enum hs_log_level)d->log_level);
    if (!hs_daemon_split_listen(d->listen, out->host, sizeof out->host, &out->port)) {
        fprintf(stderr, "hybridstore %s: --listen must be host:port, got '%s'\n", spec->command,
                d->listen);
        return 2;
    }
    if (!(out->secret = hs_daemon_secret(spec->command, d->secret, d->secret_file)))
        return 2;
    hs_daemon_signals_block(&out->signals); /* before any thread starts: they inherit the mask */
    hs_config_log(spec, cfg);
    return -1;
}
