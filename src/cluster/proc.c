/* proc.c - the launcher's children: fork+exec with the log file as stdout/stderr, reaping,
 * stopping by PID (SIGTERM, grace period, SIGKILL), and the probes used before and after
 * starting them (is a port free, does a health URL answer 200). No restarts: tests kill
 * processes on purpose and must see them stay dead. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

/* Runs in the child between fork and exec: only async-signal-safe calls. */
static _Noreturn void child_exec(const struct hs_cluster_proc *p, pid_t launcher)
{
    sigset_t none;
    sigemptyset(&none);
    /* The launcher blocks its signals and ignores SIGPIPE; both would survive exec. */
    signal(SIGPIPE, SIG_DFL);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    /* Own process group: Ctrl-C at the terminal reaches only the launcher, which then stops
     * the children in reverse start order. If the launcher dies, the kernel sends SIGTERM. */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != launcher)
        _exit(127);
    int log_fd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    int null_fd = open("/dev/null", O_RDONLY);
    if (log_fd < 0 || null_fd < 0)
        _exit(127);
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    close_range(3, ~0U, 0);
    execv(p->argv[0], p->argv);
    int e = errno;
    char eb[128];
    dprintf(STDERR_FILENO, "hybridstore cluster: cannot exec '%s': %s\n", p->argv[0],
            hs_errno_text(e, eb, sizeof eb));
    _exit(127);
}

enum hs_err hs_cluster_spawn(struct hs_cluster_proc *p)
{
    pid_t launcher = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        char eb[128];
        int e = errno;
        HS_LOG_ERROR("spawn_failed", "name=%s errno=%d err='%s'", p->name, e,
                     hs_errno_text(e, eb, sizeof eb));
        return HS_EIO;
    }
    if (pid == 0)
        child_exec(p, launcher);
    p->pid = pid;
    p->state = HS_PROC_STARTING;
    p->wait_status = 0;
    HS_LOG_INFO("proc_started", "role=%s name=%s pid=%d url=%s log='%s'", p->role->role, p->name,
                (int)pid, p->url, p->log_path);
    return HS_OK;
}

void hs_cluster_status_text(int wait_status, char *buf, size_t buflen)
{
    if (WIFSIGNALED(wait_status))
        snprintf(buf, buflen, "signal %d", WTERMSIG(wait_status));
    else
        snprintf(buf, buflen, "code %d", WEXITSTATUS(wait_status));
}

static struct hs_cluster_proc *find_pid(struct hs_cluster *c, pid_t pid)
{
    for (size_t i = 0; i < c->n_procs; i++) {
        if (c->procs[i].pid == pid)
            return &c->procs[i];
    }
    return NULL;
}

size_t hs_cluster_reap(struct hs_cluster *c)
{
    size_t n = 0;
    for (;;) {
        int st = 0;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0)
            break; /* 0: none exited; -1 ECHILD: no children left */
        struct hs_cluster_proc *p = find_pid(c, pid);
        if (!p)
            continue;
        n++;
        p->pid = 0;
        p->wait_status = st;
        char text[32];
        hs_cluster_status_text(st, text, sizeof text);
        if (p->state == HS_PROC_STOPPED) {
            HS_LOG_INFO("child_stopped", "role=%s name=%s pid=%d status='%s'", p->role->role,
                        p->name, (int)pid, text);
            continue;
        }
        p->state = HS_PROC_EXITED;
        HS_LOG_WARN("child_exited", "role=%s name=%s pid=%d status='%s' log='%s'", p->role->role,
                    p->name, (int)pid, text, p->log_path);
    }
    return n;
}

/* Does p belong to the set being stopped: one process, or (one == NULL) all of role? */
static bool in_set(const struct hs_cluster_proc *p, const struct hs_cluster_role *role,
                   const struct hs_cluster_proc *one)
{
    return one ? p == one : p->role == role;
}

static bool set_alive(const struct hs_cluster *c, const struct hs_cluster_role *role,
                      const struct hs_cluster_proc *one)
{
    for (size_t i = 0; i < c->n_procs; i++) {
        if (in_set(&c->procs[i], role, one) && c->procs[i].pid > 0)
            return true;
    }
    return false;
}

static void stop_set(struct hs_cluster *c, const struct hs_cluster_role *role,
                     const struct hs_cluster_proc *one, int64_t timeout_ms)
{
    for (size_t i = 0; i < c->n_procs; i++) {
        struct hs_cluster_proc *p = &c->procs[i];
        if (!in_set(p, role, one) || p->pid <= 0)
            continue;
        p->state = HS_PROC_STOPPED;
        kill(p->pid, SIGTERM);
        kill(p->pid, SIGCONT); /* a test may have SIGSTOPped it */
    }
    int64_t deadline = hs_clock_mono_ms() + timeout_ms;
    while (set_alive(c, role, one) && hs_clock_mono_ms() < deadline) {
        hs_cluster_reap(c);
        if (set_alive(c, role, one))
            hs_clock_sleep_ms(20, NULL);
    }
    for (size_t i = 0; i < c->n_procs; i++) {
        struct hs_cluster_proc *p = &c->procs[i];
        if (!in_set(p, role, one) || p->pid <= 0)
            continue;
        HS_LOG_WARN("child_killed", "role=%s name=%s pid=%d reason=stop_timeout timeout_ms=%lld",
                    role->role, p->name, (int)p->pid, (long long)timeout_ms);
        kill(p->pid, SIGKILL);
        int st = 0;
        while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
            ;
        p->wait_status = st;
        p->pid = 0;
    }
}

void hs_cluster_stop_role(struct hs_cluster *c, const struct hs_cluster_role *role,
                          int64_t timeout_ms)
{
    if (!role->stop_serially) {
        stop_set(c, role, NULL, timeout_ms);
        return;
    }
    for (size_t i = c->n_procs; i-- > 0;) {
        if (c->procs[i].role == role && c->procs[i].pid > 0)
            stop_set(c, role, &c->procs[i], timeout_ms);
    }
}

/* Binds and listens like the daemons will (SO_REUSEADDR, as etcd, nginx and libmicrohttpd
 * set it), so a port held only by TIME_WAIT connections counts as free. */
bool hs_cluster_port_busy(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return true;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool busy = bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 1) != 0;
    close(fd);
    return busy;
}

struct probe_body {
    char data[2048];
    size_t len;
};

static size_t probe_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct probe_body *b = userdata;
    size_t n = size * nmemb;
    size_t room = sizeof b->data - 1 - b->len;
    size_t take = n < room ? n : room;
    memcpy(b->data + b->len, ptr, take);
    b->len += take;
    b->data[b->len] = '\0';
    return n; /* keep reading; only the first 2 KiB matter */
}

bool hs_cluster_probe(const char *url, const char *path, const char *body_needle)
{
    CURL *h = curl_easy_init();
    if (!h)
        return false;
    char *full = hs_xasprintf("%s%s", url, path);
    struct probe_body body = {.len = 0};
    curl_easy_setopt(h, CURLOPT_URL, full);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 500L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, probe_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    long status = 0;
    bool ok = curl_easy_perform(h) == CURLE_OK &&
              curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200;
    if (ok && body_needle)
        ok = strstr(body.data, body_needle) != NULL;
    curl_easy_cleanup(h);
    free(full);
    return ok;
}
