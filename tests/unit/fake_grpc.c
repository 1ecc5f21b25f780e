/* fake_grpc.c - see fake_grpc.h. One thread polls the listening socket, every accepted
 * connection (each with an nghttp2 server session) and an eventfd used by stop; replies with a
 * delay wait in their stream until due. Test code: simple over fast. */
#include "fake_grpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define MAX_CONNS 16

struct fstream {
    int32_t id;
    struct hs_buf in;
    bool dispatched;
    int64_t due_ms; /* > 0: reply pending until then */
    struct fake_grpc_call call;
    size_t out_off;
    char path[128];
    struct fconn *conn;
    struct fstream *next;
};

struct fconn {
    int fd;
    nghttp2_session *h2;
    bool close_after_flush;
    int64_t close_at_ms; /* FAKE_REPLY_CLOSE: close then (monotonic), once all is sent */
    struct fstream *streams;
    struct fake_grpc *g;
};

struct fake_grpc {
    int endpoint;
    int listen_fd;
    int port;
    int wake_fd;
    fake_grpc_fn *fn;
    void *ctx;
    pthread_t thread;
    atomic_bool stop;
    atomic_int accepted;
    atomic_int closed;
    struct fconn *conns[MAX_CONNS];
};

void fake_grpc_add(struct fake_grpc_call *call, const ProtobufCMessage *msg)
{
    hs_grpc_frame(&call->out, msg);
}

static ssize_t s_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)s, (void)flags;
    struct fconn *c = ud;
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? NGHTTP2_ERR_WOULDBLOCK
                                                       : NGHTTP2_ERR_CALLBACK_FAILURE;
    return n;
}

static ssize_t s_recv(nghttp2_session *s, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)s, (void)flags;
    struct fconn *c = ud;
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n == 0)
        return NGHTTP2_ERR_EOF;
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? NGHTTP2_ERR_WOULDBLOCK
                                                       : NGHTTP2_ERR_CALLBACK_FAILURE;
    return n;
}

static int s_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    struct fconn *c = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct fstream *st = hs_xcalloc(1, sizeof *st);
    st->id = frame->hd.stream_id;
    st->conn = c;
    st->call.timeout_ms = -1;
    st->call.endpoint = c->g->endpoint;
    hs_buf_init(&st->in, 0);
    hs_buf_init(&st->call.out, 0);
    st->next = c->streams;
    c->streams = st;
    nghttp2_session_set_stream_user_data(s, st->id, st);
    return 0;
}

static int s_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                    size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)flags, (void)ud;
    struct fstream *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!st)
        return 0;
    if (namelen == 5 && memcmp(name, ":path", 5) == 0)
        snprintf(st->path, sizeof st->path, "%.*s", (int)valuelen, (const char *)value);
    else if (namelen == 12 && memcmp(name, "grpc-timeout", 12) == 0)
        st->call.timeout_ms = strtoll((const char *)value, NULL, 10); /* we send "<n>m" */
    else if (namelen == 9 && memcmp(name, "hasleader", 9) == 0)
        st->call.has_leader = valuelen == 4 && memcmp(value, "true", 4) == 0;
    return 0;
}

static ssize_t s_read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)ud;
    struct fstream *st = src->ptr;
    struct fake_grpc_call *call = &st->call;
    size_t left = call->out.len - st->out_off;
    size_t n = left < len ? left : len;
    if (call->frame_bytes && n > call->frame_bytes)
        n = call->frame_bytes;
    if (n)
        memcpy(buf, call->out.data + st->out_off, n);
    st->out_off += n;
    if (st->out_off < call->out.len)
        return (ssize_t)n;
    if (call->action == FAKE_KEEP_OPEN || call->action == FAKE_CLOSE) {
        if (n == 0)
            return NGHTTP2_ERR_DEFERRED;
        return (ssize_t)n;
    }
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    char status[16];
    snprintf(status, sizeof status, "%d", call->status);
    nghttp2_nv trailers[] = {
        {(uint8_t *)"grpc-status", (uint8_t *)status, 11, strlen(status), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-message", (uint8_t *)call->message, 12, strlen(call->message),
         NGHTTP2_NV_FLAG_NONE}};
    nghttp2_submit_trailer(s, stream_id, trailers, call->message[0] ? 2 : 1);
    return (ssize_t)n;
}

static void respond(struct fstream *st)
{
    struct fconn *c = st->conn;
    struct fake_grpc_call *call = &st->call;
    nghttp2_session *s = c->h2;
    st->due_ms = 0;
    if (call->action == FAKE_HOLD)
        return;
    if (call->action == FAKE_GOAWAY) {
        nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, st->id > 2 ? st->id - 2 : 0, NGHTTP2_NO_ERROR,
                              NULL, 0);
        return;
    }
    char status[16];
    snprintf(status, sizeof status, "%d", call->status);
    nghttp2_nv hdrs[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-status", (uint8_t *)status, 11, strlen(status), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-message", (uint8_t *)call->message, 12, strlen(call->message),
         NGHTTP2_NV_FLAG_NONE}};
    if (call->action == FAKE_REPLY_CLOSE)
        c->close_at_ms = hs_clock_mono_ms() + 300; /* the client has read the reply by then */
    if (call->trailers_only) {
        nghttp2_submit_response(s, st->id, hdrs, call->message[0] ? 4 : 3, NULL);
        return;
    }
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = s_read_body};
    nghttp2_submit_response(s, st->id, hdrs, 2, &dp);
    if (call->action == FAKE_CLOSE)
        c->close_after_flush = true;
}

static void dispatch(struct fake_grpc *g, struct fstream *st)
{
    st->dispatched = true;
    size_t len = 0;
    const uint8_t *msg = NULL;
    if (st->in.len >= 5) {
        len = (size_t)st->in.data[1] << 24 | (size_t)st->in.data[2] << 16 |
              (size_t)st->in.data[3] << 8 | st->in.data[4];
        msg = st->in.data + 5;
    }
    st->call.path = st->path;
    st->call.req = msg;
    st->call.req_len = len;
    g->fn(g->ctx, &st->call);
    if (st->call.delay_ms > 0)
        st->due_ms = hs_clock_mono_ms() + st->call.delay_ms;
    else
        respond(st);
}

static bool have_message(const struct fstream *st)
{
    if (st->in.len < 5)
        return false;
    size_t len = (size_t)st->in.data[1] << 24 | (size_t)st->in.data[2] << 16 |
                 (size_t)st->in.data[3] << 8 | st->in.data[4];
    return st->in.len >= 5 + len;
}

/* Later request messages on a stream kept open (a keepalive stream): each goes to the handler
 * with a fresh reply whose messages are appended to the stream's. */
static void more_requests(struct fake_grpc *g, struct fstream *st)
{
    for (;;) {
        size_t first = 5 + ((size_t)st->in.data[1] << 24 | (size_t)st->in.data[2] << 16 |
                            (size_t)st->in.data[3] << 8 | st->in.data[4]);
        if (st->in.len < first + 5)
            return;
        const uint8_t *p = st->in.data + first;
        size_t len = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        if (st->in.len < first + 5 + len)
            return;
        struct fake_grpc_call next = {.path = st->path,
                                      .req = p + 5,
                                      .req_len = len,
                                      .timeout_ms = st->call.timeout_ms,
                                      .endpoint = st->call.endpoint,
                                      .follow_up = true};
        hs_buf_init(&next.out, 0);
        g->fn(g->ctx, &next);
        hs_buf_append(&st->call.out, next.out.data, next.out.len);
        hs_buf_release(&next.out);
        /* drop the first message: the one just handled becomes the first */
        memmove(st->in.data, st->in.data + first, st->in.len - first);
        st->in.len -= first;
        nghttp2_session_resume_data(st->conn->h2, st->id);
    }
}

static int s_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                  size_t len, void *ud)
{
    (void)flags;
    struct fconn *c = ud;
    struct fstream *st = nghttp2_session_get_stream_user_data(s, stream_id);
    if (!st)
        return 0;
    hs_buf_append(&st->in, data, len);
    if (!st->dispatched && have_message(st))
        dispatch(c->g, st);
    else if (st->dispatched && st->call.action == FAKE_KEEP_OPEN)
        more_requests(c->g, st);
    return 0;
}

static int s_frame(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    struct fconn *c = ud;
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct fstream *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (st && !st->dispatched)
        dispatch(c->g, st);
    return 0;
}

static void stream_free(struct fstream *st)
{
    hs_buf_release(&st->in);
    hs_buf_release(&st->call.out);
    free(st);
}

static int s_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud)
{
    (void)error_code;
    struct fconn *c = ud;
    struct fstream *st = nghttp2_session_get_stream_user_data(s, stream_id);
    if (!st)
        return 0;
    for (struct fstream **pp = &c->streams; *pp; pp = &(*pp)->next) {
        if (*pp == st) {
            *pp = st->next;
            break;
        }
    }
    stream_free(st);
    return 0;
}

static void conn_close(struct fake_grpc *g, int i)
{
    struct fconn *c = g->conns[i];
    nghttp2_session_del(c->h2);
    while (c->streams) {
        struct fstream *st = c->streams;
        c->streams = st->next;
        stream_free(st);
    }
    close(c->fd);
    free(c);
    g->conns[i] = NULL;
    atomic_fetch_add(&g->closed, 1);
}

static void conn_accept(struct fake_grpc *g)
{
    int fd = accept4(g->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    int slot = -1;
    for (int i = 0; i < MAX_CONNS && slot < 0; i++)
        if (!g->conns[i])
            slot = i;
    if (slot < 0) {
        close(fd);
        return;
    }
    atomic_fetch_add(&g->accepted, 1);
    int one = 1; /* as etcd (Go) does: no Nagle delay between a reply's frames */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct fconn *c = hs_xcalloc(1, sizeof *c);
    c->fd = fd;
    c->g = g;
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, s_send);
    nghttp2_session_callbacks_set_recv_callback(cbs, s_recv);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, s_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, s_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, s_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, s_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, s_close);
    nghttp2_session_server_new(&c->h2, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, NULL, 0);
    g->conns[slot] = c;
}

static void *server_main(void *arg)
{
    struct fake_grpc *g = arg;
    while (!atomic_load(&g->stop)) {
        struct pollfd pf[MAX_CONNS + 2];
        int idx[MAX_CONNS + 2];
        int n = 0;
        pf[n] = (struct pollfd){.fd = g->listen_fd, .events = POLLIN};
        idx[n++] = -1;
        pf[n] = (struct pollfd){.fd = g->wake_fd, .events = POLLIN};
        idx[n++] = -2;
        int64_t now = hs_clock_mono_ms(), next_due = -1;
        for (int i = 0; i < MAX_CONNS; i++) {
            struct fconn *c = g->conns[i];
            if (!c)
                continue;
            for (struct fstream *st = c->streams; st; st = st->next) {
                if (st->due_ms > 0 && st->due_ms <= now)
                    respond(st);
                else if (st->due_ms > 0 && (next_due < 0 || st->due_ms < next_due))
                    next_due = st->due_ms;
            }
            nghttp2_session_send(c->h2);
            bool close_due = c->close_at_ms > 0 && now >= c->close_at_ms;
            if ((c->close_after_flush || close_due) && !nghttp2_session_want_write(c->h2)) {
                conn_close(g, i);
                continue;
            }
            short ev = POLLIN | (nghttp2_session_want_write(c->h2) ? POLLOUT : 0);
            pf[n] = (struct pollfd){.fd = c->fd, .events = ev};
            idx[n++] = i;
        }
        int timeout = next_due < 0 ? 50 : (int)(next_due - now);
        if (poll(pf, (nfds_t)n, timeout < 50 ? timeout : 50) < 0)
            continue;
        for (int k = 0; k < n; k++) {
            if (!pf[k].revents)
                continue;
            if (idx[k] == -1) {
                conn_accept(g);
            } else if (idx[k] >= 0 && g->conns[idx[k]]) {
                struct fconn *c = g->conns[idx[k]];
                if (nghttp2_session_recv(c->h2) != 0 || nghttp2_session_send(c->h2) != 0 ||
                    (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2)))
                    conn_close(g, idx[k]);
            }
        }
    }
    for (int i = 0; i < MAX_CONNS; i++)
        if (g->conns[i])
            conn_close(g, i);
    return NULL;
}

struct fake_grpc *fake_grpc_start(int endpoint, fake_grpc_fn *fn, void *ctx)
{
    struct fake_grpc *g = hs_xcalloc(1, sizeof *g);
    g->endpoint = endpoint;
    g->fn = fn;
    g->ctx = ctx;
    g->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (g->listen_fd < 0 || bind(g->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(g->listen_fd, 16) != 0 || getsockname(g->listen_fd, (struct sockaddr *)&a, &al))
        HS_BUG("fake gRPC server: cannot listen");
    g->port = ntohs(a.sin_port);
    g->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (pthread_create(&g->thread, NULL, server_main, g) != 0)
        HS_BUG("fake gRPC server: cannot start");
    return g;
}

int fake_grpc_port(const struct fake_grpc *g)
{
    return g->port;
}

int fake_grpc_connections(struct fake_grpc *g)
{
    return atomic_load(&g->accepted);
}

int fake_grpc_closed(struct fake_grpc *g)
{
    return atomic_load(&g->closed);
}

void fake_grpc_stop(struct fake_grpc *g)
{
    if (!g)
        return;
    atomic_store(&g->stop, true);
    uint64_t one = 1;
    ssize_t rc = write(g->wake_fd, &one, sizeof one);
    (void)rc;
    pthread_join(g->thread, NULL);
    close(g->listen_fd);
    close(g->wake_fd);
    free(g);
}
