/* server.c - libmicrohttpd glue: daemon start/stop, routing, the per-request life cycle
 * (arena, request id, guard, streaming body, done), request hygiene every daemon gets (no NUL
 * in the request target, one Content-Length, a deadline for the request headers) and graceful
 * drain. Responses are built in response.c; this file only queues them. No storage and no
 * authentication logic here. */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <microhttpd.h>

#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "http/http_int.h"
#include "hs/banned.h"

#define DEFAULT_CONN_LIMIT   1024u
#define DEFAULT_CONN_TIMEOUT 60u
#define DEFAULT_CONN_MEMORY  (256u * 1024u)
#define DEFAULT_HDR_TIMEOUT  10u
#define WATCH_PERIOD_MS      500
#define LISTEN_BACKLOG       1024
#define DRAIN_BODY_MAX       ((int64_t)64 * 1024) /* bodies read and dropped after an early answer */

/* One open connection, for the header deadline (see header_watch). */
struct conn_watch {
    struct conn_watch *prev, *next; /* hs_http_server.watch_head list; watch_lock */
    int fd;                         /* the connection's socket, MHD's to close */
    int64_t deadline_ms;            /* monotonic; INT64_MAX while a request is being served */
    bool kept_alive;                /* a request was served: waiting for the next one */
    bool shut;                      /* shutdown(2) already called */
    char *target;                   /* raw target of the current request (malloc); only the
                                       connection's own thread touches it */
};

struct hs_http_server {
    struct MHD_Daemon *daemon;
    uint16_t port;
    struct hs_http_server_opts opts;
    atomic_int_fast64_t in_flight; /* requests between first access call and completion */
    int64_t header_timeout_ms;     /* connect (or previous request) to complete request headers */
    int64_t keepalive_ms;          /* previous request's end to the next one's headers */
    pthread_mutex_t watch_lock;    /* guards the watch list, watch_stop */
    pthread_cond_t watch_cond;     /* wakes the watcher for stop */
    struct conn_watch *watch_head; /* open connections; watch_lock */
    bool watch_stop;               /* watch_lock */
    bool watch_running;            /* the watcher thread was started */
    unsigned watch_cut;            /* slow-header connections cut since the last log; watch_lock */
    int64_t watch_logged_ms;       /* monotonic time of that log line; watch_lock */
    pthread_t watch_thread;
};

/* The URI log callback's verdict on a request target carrying an encoded NUL, handed to the
 * access handler as its initial *con_cls (a real request pointer never equals it). */
static char target_has_nul;

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    HS_LOG_WARN("http_mhd", "msg='%s'", msg);
}

static bool route_path_matches(const struct hs_http_route *rt, const char *path)
{
    if (rt->match == HS_HTTP_PREFIX)
        return strncmp(path, rt->path, strlen(rt->path)) == 0;
    return strcmp(path, rt->path) == 0;
}

static bool route_method_matches(const struct hs_http_route *rt, const char *method)
{
    if (strcmp(rt->method, method) == 0)
        return true;
    /* HEAD is served by the GET route; libmicrohttpd drops the body on the wire. */
    return strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0;
}

/* First matching route in table order; *path_seen tells a 405 from a 404. */
static const struct hs_http_route *route_find(const struct hs_http_server *s, const char *method,
                                              const char *path, bool *path_seen)
{
    *path_seen = false;
    for (size_t i = 0; i < s->opts.n_routes; i++) {
        const struct hs_http_route *rt = &s->opts.routes[i];
        if (!route_path_matches(rt, path))
            continue;
        *path_seen = true;
        if (route_method_matches(rt, method))
            return rt;
    }
    return NULL;
}

static struct conn_watch *conn_watch_of(struct MHD_Connection *conn);

/* libmicrohttpd percent-decodes the path and every query key and value in place, and hands them
 * on as C strings: "%00" would end them early, so "/v1/objects/victim%00other" would reach the
 * handlers as "victim" and address another object. The raw target is only visible here, before
 * the decoding (MHD calls this once per request, right after the request line): "%00" is the
 * only spelling MHD decodes to a NUL, so finding it here covers the path and every query
 * argument of every route at once, and the access handler rejects the request with 400. This
 * beats checking decoded lengths afterwards, which only query values expose (MHD keeps no
 * decoded length for the path). Not covered: a raw NUL byte in the request line, which MHD
 * 0.9.75 accepts and which truncates this string too; no MHD 0.9 API shows the line's length.
 * nginx, in front in every deployment, rejects such a request line itself. */
static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    /* The raw target, as sent, for hs_http_req_target (SigV4 signs it undecoded): kept on the
     * connection (requests on one connection never overlap) and copied into the request's arena. */
    struct conn_watch *w = conn_watch_of(conn);
    if (w) {
        free(w->target);
        w->target = hs_xstrdup(uri);
    }
    return strstr(uri, "%00") ? &target_has_nul : NULL;
}

struct cl_scan {
    const char *first; /* first Content-Length value seen */
    bool conflict;     /* another one differs */
};

static enum MHD_Result cl_scan_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    struct cl_scan *sc = cls;
    if (strcasecmp(key, "Content-Length") != 0)
        return MHD_YES;
    const char *v = value ? value : "";
    if (!sc->first)
        sc->first = v;
    else if (strcmp(sc->first, v) != 0)
        sc->conflict = true;
    return MHD_YES;
}

/* RFC 9112 §6.3: Content-Length values that disagree make the message framing unknowable, and a
 * server must reject it (libmicrohttpd would frame the body by the first one and read the rest
 * as the next request). Identical repeats are the same length and pass (RFC 9110 §8.6). */
static bool content_length_conflicts(struct MHD_Connection *conn)
{
    struct cl_scan sc = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, cl_scan_cb, &sc);
    return sc.conflict;
}

/* ---- header deadline ----
 * libmicrohttpd has only an idle timeout, which each received byte restarts: a client sending a
 * header byte every few seconds (slowloris) holds its connection, and a few thousand such
 * clients hold every connection slot. So every connection also gets an absolute deadline for
 * its request headers: header_timeout from its accept, and for each further request on a kept-
 * alive connection, keepalive (the idle timeout) from the end of the previous one. The access
 * handler's first call (headers complete) lifts the deadline for the request's life, so a slow
 * but moving body upload and a slow response are governed by the idle timeout alone. A watcher
 * thread shuts down (shutdown(2), never close) the socket of a connection past its deadline;
 * libmicrohttpd then sees end-of-file and closes the connection itself. The entry leaves the
 * list in the CLOSED notification, which libmicrohttpd makes before it closes the fd, and the
 * watcher calls shutdown under the same lock: it can never hit a reused fd number. */
static struct conn_watch *conn_watch_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void conn_watch_set(struct hs_http_server *s, struct MHD_Connection *conn,
                           int64_t deadline_ms, bool kept_alive)
{
    struct conn_watch *w = conn_watch_of(conn);
    if (!w)
        return;
    pthread_mutex_lock(&s->watch_lock);
    w->deadline_ms = deadline_ms;
    w->kept_alive = kept_alive;
    pthread_mutex_unlock(&s->watch_lock);
}

static void notify_conn_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode code)
{
    struct hs_http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
            return;
        struct conn_watch *w = hs_xcalloc(1, sizeof *w);
        w->fd = ci->connect_fd;
        w->deadline_ms = hs_clock_mono_ms() + s->header_timeout_ms;
        pthread_mutex_lock(&s->watch_lock);
        w->next = s->watch_head;
        if (w->next)
            w->next->prev = w;
        s->watch_head = w;
        pthread_mutex_unlock(&s->watch_lock);
        *socket_context = w;
        return;
    }
    struct conn_watch *w = *socket_context;
    if (code != MHD_CONNECTION_NOTIFY_CLOSED || !w)
        return;
    *socket_context = NULL;
    pthread_mutex_lock(&s->watch_lock);
    if (w->prev)
        w->prev->next = w->next;
    else
        s->watch_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&s->watch_lock);
    free(w->target);
    free(w);
}

static void *header_watch(void *arg)
{
    struct hs_http_server *s = arg;
    pthread_mutex_lock(&s->watch_lock);
    while (!s->watch_stop) {
        int64_t now = hs_clock_mono_ms();
        for (struct conn_watch *w = s->watch_head; w; w = w->next) {
            if (w->shut || now < w->deadline_ms)
                continue;
            shutdown(w->fd, SHUT_RDWR);
            w->shut = true;
            if (!w->kept_alive) /* an idle kept-alive connection is nothing to report */
                s->watch_cut++;
        }
        /* at most one line per 10 s, however many slow clients there are */
        if (s->watch_cut > 0 && now - s->watch_logged_ms >= 10000) {
            HS_LOG_INFO("http_header_timeout", "connections=%u timeout_ms=%lld", s->watch_cut,
                        (long long)s->header_timeout_ms);
            s->watch_cut = 0;
            s->watch_logged_ms = now;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += WATCH_PERIOD_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->watch_cond, &s->watch_lock, &until);
    }
    pthread_mutex_unlock(&s->watch_lock);
    return NULL;
}

static void watch_init(struct hs_http_server *s)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->watch_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->watch_lock, NULL);
}

/* After MHD_stop_daemon: every connection is closed, so the list is empty. */
static void watch_release(struct hs_http_server *s)
{
    if (s->watch_running) {
        pthread_mutex_lock(&s->watch_lock);
        s->watch_stop = true;
        pthread_cond_signal(&s->watch_cond);
        pthread_mutex_unlock(&s->watch_lock);
        pthread_join(s->watch_thread, NULL);
    }
    while (s->watch_head) {
        struct conn_watch *w = s->watch_head;
        s->watch_head = w->next;
        free(w);
    }
    pthread_cond_destroy(&s->watch_cond);
    pthread_mutex_destroy(&s->watch_lock);
}

static bool request_id_sane(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > HS_HTTP_REQ_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok)
            return false;
    }
    return true;
}

static struct hs_http_req *req_new(struct hs_http_server *s, struct MHD_Connection *conn,
                                   const char *url, const char *method)
{
    struct hs_arena *a = hs_arena_new();
    struct hs_http_req *r = hs_arena_alloc(a, sizeof *r);
    r->srv_ctx = s->opts.ctx;
    r->conn = conn;
    r->arena = a;
    r->path = hs_arena_strdup(a, url);
    r->is_head = strcmp(method, "HEAD") == 0;
    r->method = r->is_head ? "GET" : hs_arena_strdup(a, method);
    r->rest = "";
    const struct conn_watch *w = conn_watch_of(conn);
    r->target = hs_arena_strdup(a, w && w->target ? w->target : url);
    r->start_ns = hs_clock_mono_ns();
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (rid && request_id_sane(rid))
        snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    else
        hs_http_mint_request_id(r->request_id, sizeof r->request_id);
    return r;
}

static enum MHD_Result queue_pending(struct hs_http_req *r)
{
    struct MHD_Response *resp = r->resp;
    r->resp = NULL;
    r->queued = true;
    enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    if (ret != MHD_YES)
        HS_LOG_WARN("http_queue_failed", "req=%s status=%u", r->request_id, r->status);
    return ret;
}

/* An early answer makes MHD close the connection without reading the body, and a client still
 * sending then sees a reset instead of the answer. A small body is cheaper to read and drop: the
 * answer is queued once it is in (phase_done), and the connection stays usable. So is a request
 * with no body at all (no Content-Length, or 0, and no Transfer-Encoding): queued before MHD saw
 * the (empty) body complete, its answer would close the connection too (S3 clients and probes
 * that hear 401/403/404 keep their connection). */
static enum MHD_Result answer_early(struct hs_http_req *r)
{
    int64_t len = 0;
    bool declared = hs_http_req_content_length(r, &len);
    if (declared && len <= DRAIN_BODY_MAX)
        return MHD_YES;
    if (!declared && !hs_http_req_header(r, "Transfer-Encoding"))
        return MHD_YES;
    return queue_pending(r);
}

/* Headers are in: route, guard, start. Returns MHD_YES to go on (maybe with a queued reply). */
static enum MHD_Result phase_start(struct hs_http_server *s, struct hs_http_req *r, bool nul)
{
    if (nul) {
        hs_http_respond_error_status(r, 400, HS_EINVAL,
                                     "request target contains an encoded NUL (%%00)");
        return answer_early(r);
    }
    if (content_length_conflicts(r->conn)) {
        /* The body's end is unknown: answer without reading it, and close the connection. */
        hs_http_add_header(r, "Connection", "close");
        hs_http_respond_error_status(r, 400, HS_EINVAL, "conflicting Content-Length headers");
        return queue_pending(r);
    }
    bool path_seen = false;
    const char *method = r->is_head ? "HEAD" : r->method;
    r->route = route_find(s, method, r->path, &path_seen);
    if (!r->route) {
        if (path_seen)
            hs_http_respond_error_status(r, 405, HS_EINVAL, "method %s not allowed on '%s'", method,
                                         r->path);
        else
            hs_http_respond_error(r, HS_ENOENT, "no route for '%s'", r->path);
        return answer_early(r);
    }
    if (r->route->match == HS_HTTP_PREFIX)
        r->rest = r->path + strlen(r->route->path);
    if (s->opts.guard && !(r->route->flags & HS_HTTP_ROUTE_PUBLIC) && !s->opts.guard(r)) {
        if (!r->responded)
            hs_http_respond_error(r, HS_EAUTH, "request not authorised");
        return answer_early(r);
    }
    if (r->route->start)
        r->route->start(r);
    /* Once suspended, another thread may be answering right now: touch nothing more. */
    if (r->suspended || !r->responded)
        return MHD_YES;
    return answer_early(r);
}

static void phase_body(struct hs_http_req *r, const char *data, size_t n)
{
    if (r->body_err != HS_OK || r->responded || !r->route->body)
        return; /* discard: the request already failed or nobody wants the body */
    enum hs_err err = r->route->body(r, data, n);
    if (err != HS_OK)
        r->body_err = err;
}

static enum MHD_Result phase_done(struct hs_http_req *r)
{
    if (!r->done_called) {
        r->done_called = true;
        if (!r->responded && r->body_err != HS_OK)
            hs_http_respond_error(r, r->body_err, "request body rejected");
        else if (!r->responded)
            r->route->done(r);
        if (r->suspended)
            return MHD_YES; /* the resume calls us again, then the response is queued */
    }
    if (!r->responded) {
        /* resumed without a response, or a handler that forgot to answer */
        HS_LOG_ERROR("http_no_response", "req=%s path='%s'", r->request_id, r->path);
        hs_http_respond_error(r, HS_EIO, "handler gave no response");
    }
    return queue_pending(r);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    struct hs_http_server *s = cls;
    struct hs_http_req *r = *con_cls;
    if (!r || *con_cls == &target_has_nul) {
        bool nul = *con_cls == &target_has_nul;
        conn_watch_set(s, conn, INT64_MAX, false); /* headers are in */
        r = req_new(s, conn, url, method);
        *con_cls = r;
        atomic_fetch_add(&s->in_flight, 1);
        return phase_start(s, r, nul);
    }
    /* A suspended request is called again only after hs_http_resume. */
    r->suspended = false;
    if (r->queued)
        return MHD_YES;
    if (*upload_size > 0) {
        r->bytes_in += (int64_t)*upload_size;
        phase_body(r, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    return phase_done(r);
}

/* One call of opts.on_complete per request. A buffer or fd response counts its length only when
 * it was sent completely; a streamed one counts what its callback produced (MHD never calls the
 * callback for HEAD). */
static void report_complete(struct hs_http_server *s, struct hs_http_req *r, bool ok,
                            int64_t duration_us)
{
    int64_t out = 0;
    if (r->streamed)
        out = r->streamed_out;
    else if (ok && !r->is_head)
        out = r->bytes_out;
    const char *route = r->route_label ? r->route_label : r->route ? r->route->path : NULL;
    s->opts.on_complete(s->opts.ctx, r->is_head ? "HEAD" : r->method, route,
                        r->queued ? r->status : 0u, duration_us, r->bytes_in, out);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct hs_http_server *s = cls;
    struct hs_http_req *r = *con_cls;
    *con_cls = NULL;
    if (!r || r == (void *)&target_has_nul)
        return; /* the connection died before the headers were complete */
    conn_watch_set(s, conn, hs_clock_mono_ms() + s->keepalive_ms, true);
    int64_t ns = hs_clock_mono_ns() - r->start_ns;
    int64_t ms = ns / 1000000;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        HS_LOG_INFO("http_request_aborted", "req=%s method=%s path='%s' reason=%d ms=%lld",
                    r->request_id, r->method, r->path, (int)toe, (long long)ms);
    else
        HS_LOG_DEBUG("http_request", "req=%s method=%s path='%s' status=%u ms=%lld", r->request_id,
                     r->method, r->path, r->status, (long long)ms);
    if (s->opts.on_complete)
        report_complete(s, r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK, ns / 1000);
    if (r->resp)
        MHD_destroy_response(r->resp); /* built but never queued (connection died) */
    hs_arena_free(r->arena);           /* runs the handlers' deferred cleanups */
    atomic_fetch_sub(&s->in_flight, 1);
}

static enum hs_err listen_open(const char *host, uint16_t port, int *fd_out, uint16_t *port_out)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        HS_LOG_ERROR("http_bad_host", "host='%s'", host);
        return HS_EINVAL;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        goto fail;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, LISTEN_BACKLOG) != 0)
        goto fail;
    socklen_t sl = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        goto fail;
    *fd_out = fd;
    *port_out = ntohs(sa.sin_port);
    return HS_OK;
fail:;
    int saved = errno;
    char eb[128];
    HS_LOG_ERROR("http_listen_failed", "host='%s' port=%u errno=%d err='%s'", host, port, saved,
                 hs_errno_text(saved, eb, sizeof eb));
    if (fd >= 0)
        close(fd);
    return HS_EIO;
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1u;
}

enum hs_err hs_http_server_start(const struct hs_http_server_opts *opts,
                                 struct hs_http_server **out)
{
    const char *host = opts->host ? opts->host : "127.0.0.1";
    int fd = -1;
    uint16_t port = 0;
    enum hs_err err = listen_open(host, opts->port, &fd, &port);
    if (err != HS_OK)
        return err;
    struct hs_http_server *s = hs_xcalloc(1, sizeof *s);
    s->opts = *opts;
    s->port = port;
    atomic_init(&s->in_flight, 0);
    unsigned idle_s =
        opts->connection_timeout_s ? opts->connection_timeout_s : DEFAULT_CONN_TIMEOUT;
    s->header_timeout_ms =
        1000 * (int64_t)(opts->header_timeout_s ? opts->header_timeout_s : DEFAULT_HDR_TIMEOUT);
    s->keepalive_ms = 1000 * (int64_t)idle_s;
    watch_init(s);
    unsigned threads = opts->threads ? opts->threads : online_cpus();
    /* poll(2), not epoll: libmicrohttpd 0.9.75's edge-triggered epoll mode was seen (twice in the
     * cluster suite) to stop reading a streamed upload for good, every pool thread idle in
     * epoll_wait with body bytes unread in the socket. Level-triggered poll cannot lose a
     * readiness event; each pool thread watches only its own connections, so poll's O(n) scan
     * stays small. Suspend/resume works the same in both modes. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    /* The logger goes first so that MHD's own option parsing logs through it too. A pool of 1
     * makes MHD warn and fall back to its single internal thread: ask for none instead. */
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)(threads > 1 ? threads : 0), MHD_OPTION_CONNECTION_LIMIT,
        opts->connection_limit ? opts->connection_limit : DEFAULT_CONN_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        opts->connection_memory_bytes ? opts->connection_memory_bytes : (size_t)DEFAULT_CONN_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, s, MHD_OPTION_URI_LOG_CALLBACK, uri_cb, s,
        MHD_OPTION_NOTIFY_CONNECTION, notify_conn_cb, s, MHD_OPTION_END);
    if (!s->daemon) {
        HS_LOG_ERROR("http_start_failed", "host='%s' port=%u", host, port);
        close(fd);
        watch_release(s);
        free(s);
        return HS_EIO;
    }
    if (pthread_create(&s->watch_thread, NULL, header_watch, s) != 0)
        HS_BUG("cannot start the header deadline thread");
    s->watch_running = true;
    HS_LOG_INFO("http_listening", "host=%s port=%u threads=%u", host, port, threads);
    *out = s;
    return HS_OK;
}

uint16_t hs_http_server_port(const struct hs_http_server *s)
{
    return s->port;
}

int64_t hs_http_server_in_flight(const struct hs_http_server *s)
{
    return atomic_load(&((struct hs_http_server *)s)->in_flight);
}

int64_t hs_http_server_stop(struct hs_http_server *s, int64_t drain_timeout_ms)
{
    if (!s)
        return 0;
    /* Quiesce hands the listening socket back: closing it makes new connects fail at once
     * instead of queueing in the kernel backlog of a server that will never accept them. */
    MHD_socket lfd = MHD_quiesce_daemon(s->daemon);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    int64_t deadline = hs_clock_mono_ms() + drain_timeout_ms;
    int64_t left = hs_http_server_in_flight(s);
    while (left > 0 && hs_clock_mono_ms() < deadline) {
        hs_clock_sleep_ms(10, NULL);
        left = hs_http_server_in_flight(s);
    }
    if (left > 0)
        HS_LOG_WARN("http_drain_timeout", "in_flight=%lld", (long long)left);
    MHD_stop_daemon(s->daemon);
    watch_release(s);
    free(s);
    return left;
}
