/* state.c - the launcher's files in <dir>: the lock that keeps two launchers off one dir, the
 * cluster secret and etcd cluster token (generated once, then reused so a restart keeps the
 * same cluster), and cluster.json, rewritten atomically (temp + rename) on every change so a
 * reader never sees half a file. Formats are documented in docs/cluster.md. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define SECRET_BYTES     ((size_t)32)
#define SECRET_HEX_CHARS (2 * SECRET_BYTES)

static void log_errno(const char *evt, const char *path, int e)
{
    char eb[128];
    HS_LOG_ERROR(evt, "path='%s' errno=%d err='%s'", path, e, hs_errno_text(e, eb, sizeof eb));
}

enum hs_err hs_cluster_lock_dir(const char *dir, int *fd_out)
{
    char *path = hs_xasprintf("%s/.lock", dir);
    enum hs_err err = HS_OK;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_errno("lock_open_failed", path, errno);
        err = HS_EIO;
        goto out;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) {
            HS_LOG_ERROR("dir_in_use",
                         "dir='%s' msg='another hybridstore cluster runs on this dir'", dir);
            err = HS_EEXIST;
        } else {
            log_errno("lock_failed", path, e);
            err = HS_EIO;
        }
        goto out;
    }
    *fd_out = fd;
out:
    free(path);
    return err;
}

enum hs_err hs_cluster_write_file(const char *path, const char *text, unsigned mode)
{
    char *tmp = hs_xasprintf("%s.tmp.%d", path, (int)getpid());
    enum hs_err err = HS_EIO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) {
        log_errno("write_failed", tmp, errno);
        goto out;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            log_errno("write_failed", tmp, errno);
            close(fd);
            unlink(tmp);
            goto out;
        }
        off += (size_t)w;
    }
    /* fchmod: the umask must not widen or narrow the secret's 0600. */
    if (fchmod(fd, (mode_t)mode) != 0 || fsync(fd) != 0 || close(fd) != 0) {
        log_errno("write_failed", tmp, errno);
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        log_errno("rename_failed", path, errno);
        unlink(tmp);
        goto out;
    }
    err = HS_OK;
out:
    free(tmp);
    return err;
}

/* Reads a small text file, trailing whitespace removed. HS_ENOENT if it does not exist. */
static enum hs_err read_small(const char *path, char *buf, size_t buflen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return HS_ENOENT;
        log_errno("read_failed", path, errno);
        return HS_EIO;
    }
    size_t n = fread(buf, 1, buflen - 1, f);
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) {
        HS_LOG_ERROR("read_failed", "path='%s'", path);
        return HS_EIO;
    }
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return HS_OK;
}

static enum hs_err random_hex(size_t bytes, char *out)
{
    unsigned char raw[64];
    if (bytes > sizeof raw || getrandom(raw, bytes, 0) != (ssize_t)bytes) {
        HS_LOG_ERROR("getrandom_failed", "errno=%d", errno);
        return HS_EIO;
    }
    for (size_t i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return HS_OK;
}

static bool is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
            return false;
    }
    return true;
}

/* The secret file holds 64 hex characters and no newline: every daemon reads it verbatim. */
enum hs_err hs_cluster_load_secret(const char *path)
{
    char buf[256];
    enum hs_err err = read_small(path, buf, sizeof buf);
    if (err == HS_OK) {
        if (is_hex(buf, SECRET_HEX_CHARS))
            return HS_OK;
        HS_LOG_ERROR("secret_invalid", "path='%s' msg='expected %zu hex characters'", path,
                     SECRET_HEX_CHARS);
        return HS_EINVAL;
    }
    if (err != HS_ENOENT)
        return err;
    char hex[SECRET_HEX_CHARS + 1];
    err = random_hex(SECRET_BYTES, hex);
    if (err == HS_OK)
        err = hs_cluster_write_file(path, hex, 0600);
    if (err == HS_OK)
        HS_LOG_INFO("secret_created", "path='%s'", path);
    return err;
}

/* etcd gives two fresh clusters with the same peer URLs and token the same cluster id, so each data
 * dir gets its own token, kept for restarts. */
enum hs_err hs_cluster_load_token(const char *path, char **token_out)
{
    char buf[128];
    enum hs_err err = read_small(path, buf, sizeof buf);
    if (err == HS_OK && buf[0] != '\0') {
        *token_out = hs_xstrdup(buf);
        return HS_OK;
    }
    if (err != HS_OK && err != HS_ENOENT)
        return err;
    char hex[33];
    err = random_hex(16, hex);
    if (err != HS_OK)
        return err;
    char *token = hs_xasprintf("hs-%s", hex);
    char *text = hs_xasprintf("%s\n", token);
    err = hs_cluster_write_file(path, text, 0600);
    free(text);
    if (err != HS_OK) {
        free(token);
        return err;
    }
    *token_out = token;
    return HS_OK;
}

static const char *state_name(enum hs_cluster_pstate s)
{
    switch (s) {
    case HS_PROC_PLANNED:
        return "planned";
    case HS_PROC_STARTING:
        return "starting";
    case HS_PROC_RUNNING:
        return "running";
    case HS_PROC_EXITED:
        return "exited";
    case HS_PROC_STOPPED:
        return "stopped";
    }
    return "unknown";
}

/* Field order is the reading order of docs/cluster.md; argv last because it is long. */
static json_t *proc_json(const struct hs_cluster_proc *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "role", json_string(p->role->role));
    json_object_set_new(o, "name", json_string(p->name));
    json_object_set_new(o, "pid", p->pid > 0 ? json_integer(p->pid) : json_null());
    json_object_set_new(o, "status", json_string(state_name(p->state)));
    if (p->state == HS_PROC_EXITED || (p->state == HS_PROC_STOPPED && p->pid == 0)) {
        char text[32];
        hs_cluster_status_text(p->wait_status, text, sizeof text);
        json_object_set_new(o, "exit", json_string(text));
    }
    json_object_set_new(o, "url", json_string(p->url));
    json_object_set_new(o, "port", json_integer(p->port));
    if (p->peer_port)
        json_object_set_new(o, "peer_url", json_sprintf("http://127.0.0.1:%d", p->peer_port));
    if (p->s3_port)
        json_object_set_new(o, "s3_url", json_sprintf("http://127.0.0.1:%d", p->s3_port));
    json_object_set_new(o, "data_dir", p->data_dir ? json_string(p->data_dir) : json_null());
    json_object_set_new(o, "log", json_string(p->log_path));
    json_t *argv = json_array();
    for (char **a = p->argv; a && *a; a++)
        json_array_append_new(argv, json_string(*a));
    json_object_set_new(o, "argv", argv);
    return o;
}

enum hs_err hs_cluster_write_json(const struct hs_cluster *c)
{
    json_t *procs = json_array();
    for (size_t i = 0; i < c->n_procs; i++) {
        if (c->procs[i].state != HS_PROC_PLANNED)
            json_array_append_new(procs, proc_json(&c->procs[i]));
    }
    json_t *root = json_pack("{s:i, s:s, s:s, s:I, s:s, s:s, s:s, s:i, s:o}", "version", 1, "state",
                             c->state, "url", c->url, "port", (json_int_t)c->cfg->port, "etcd",
                             c->etcd_endpoints, "secret_file", c->secret_file, "dir", c->dir,
                             "launcher_pid", (int)getpid(), "processes", procs);
    if (!root)
        HS_BUG("json_pack failed for cluster.json");
    if (c->s3_access_key) /* the S3 endpoint and root key (the file is 0600) */
        json_object_set_new(root, "s3",
                            json_pack("{s:s, s:s, s:s, s:s}", "endpoint", c->s3_url, "region",
                                      "us-east-1", "access_key", c->s3_access_key, "secret_key",
                                      c->s3_secret_key));
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        HS_BUG("json_dumps failed for cluster.json");
    char *withnl = hs_xasprintf("%s\n", text);
    free(text);
    char *path = hs_xasprintf("%s/cluster.json", c->dir);
    enum hs_err err = hs_cluster_write_file(path, withnl, 0600);
    free(path);
    free(withnl);
    return err;
}
