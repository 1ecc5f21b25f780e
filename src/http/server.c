/* server.c - libmicrohttpd glue: daemon start/stop, routing, the per-request life cycle
 * (arena, request id, guard, streaming body, done) and graceful drain. Responses are built in
 * response.c; this file only queues them. No storage and no authentication logic here. */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#define LISTEN_BACKLOG       1024
#define DRAIN_BODY_MAX       ((int64_t)64 * 1024) /* bodies read and dropped after an early answer */

struct hs_http_server {
    struct MHD_Daemon *daemon;
    uint16_t port;
    struct hs_http_server_opts opts;
    atomic_int_fast64_t in_flight; /* requests between first access call and completion */
};

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
 * answer is queued once it is in (phase_done), and the connection stays usable. */
static enum MHD_Result answer_early(struct hs_http_req *r)
{
    int64_t len = 0;
    if (hs_http_req_content_length(r, &len) && len > 0 && len <= DRAIN_BODY_MAX)
        return MHD_YES;
    return queue_pending(r);
}

/* Headers are in: route, guard, start. Returns MHD_YES to go on (maybe with a queued reply). */
static enum MHD_Result phase_start(struct hs_http_server *s, struct hs_http_req *r)
{
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
    if (!r) {
        r = req_new(s, conn, url, method);
        *con_cls = r;
        atomic_fetch_add(&s->in_flight, 1);
        return phase_start(s, r);
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
    s->opts.on_complete(s->opts.ctx, r->is_head ? "HEAD" : r->method,
                        r->route ? r->route->path : NULL, r->queued ? r->status : 0u, duration_us,
                        r->bytes_in, out);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    struct hs_http_server *s = cls;
    struct hs_http_req *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
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
        MHD_OPTION_CONNECTION_TIMEOUT,
        opts->connection_timeout_s ? opts->connection_timeout_s : DEFAULT_CONN_TIMEOUT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        opts->connection_memory_bytes ? opts->connection_memory_bytes : (size_t)DEFAULT_CONN_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, s, MHD_OPTION_END);
    if (!s->daemon) {
        HS_LOG_ERROR("http_start_failed", "host='%s' port=%u", host, port);
        close(fd);
        free(s);
        return HS_EIO;
    }
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
    free(s);
    return left;
}
