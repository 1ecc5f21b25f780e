/* etcd_grpc.c - gRPC over HTTP/2 for the etcd client (nghttp2, cleartext h2 with prior
 * knowledge). Per endpoint, two kinds of long-lived connection, each carrying many calls of
 * many threads as HTTP/2 streams:
 *   - unary calls (Range, Txn, ...) share one connection with no thread of its own: a caller
 *     submits its stream and sends under the endpoint's mutex (the frames nghttp2 has queued go
 *     out in one send), then the waiting callers take turns reading the socket (unary_wait):
 *     one call at a time reads its own reply, and nothing is handed over between threads;
 *   - streams (Watch, LeaseKeepAlive) share one connection read by a thread of its own (poll on
 *     the socket and an eventfd), which wakes their callers. It reads the socket without the
 *     endpoint's mutex (under the connection's read mutex) and takes the mutex only to hand the
 *     bytes to nghttp2, waking the callers at the end of the parse.
 * Messages are gRPC length-prefixed (1 flag byte, 4-byte big-endian length); we never ask for
 * compression, so a compressed message is a protocol error. The status comes in trailers
 * (grpc-status, grpc-message) or, for a Trailers-Only reply, in the headers.
 *
 * A connection is retired (no new calls; closed once its calls are gone) after GOAWAY, after a
 * call on it timed out (a stopped member keeps accepting TCP and says nothing), or when the
 * socket fails; the next call opens a new one. Not here: protobuf (etcd_pb.c), failover. */
#include "meta/etcd_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define STREAM_WINDOW  (16 << 20) /* per-stream receive window: a big range page in one go */
#define CONN_WINDOW    (64 << 20) /* connection receive window */
#define WAIT_SLICE_MS  100        /* how often a waiting call looks at its cancel flag */
#define GRPC_PREFIX    5          /* compressed flag + 4-byte length */
#define MSG_TEXT_BYTES 160
#define READ_CHUNK     (64 << 10) /* socket bytes read per wake-up before nghttp2 sees them */

/* One call: an HTTP/2 stream. Fields (ep->mu) unless said otherwise. */
struct hs_grpc_call {
    struct hs_grpc_ep *ep;  /* immutable */
    struct grpc_conn *conn; /* NULL once detached (finished, failed or cancelled) */
    int32_t stream_id;
    pthread_cond_t cv; /* signalled on data and on close */
    struct hs_buf out; /* framed request message(s) */
    size_t out_off;    /* bytes of out handed to nghttp2 */
    bool out_eof;      /* half-close after out (unary); false keeps a stream open */
    bool sent;         /* some request bytes reached the socket */
    struct hs_buf in;  /* DATA not yet taken as messages */
    int http_status;
    int grpc_status; /* -1 until the trailers (or Trailers-Only headers) came */
    char grpc_msg[MSG_TEXT_BYTES];
    bool closed;     /* the stream is over: in holds everything that will come */
    enum hs_err err; /* closed without a status: HS_EUNAVAIL unsent, else ETIMEDOUT/EPROTO */
    struct hs_grpc_call *prev, *next; /* the connection's calls */
    struct hs_grpc_call *wake_next;   /* grpc_conn.wake list */
    bool wake_queued;                 /* on that list */
};

struct grpc_conn {
    struct hs_grpc_ep *ep;
    int fd;
    int wake_fd;
    pthread_mutex_t rd_mu;      /* held while reading the socket until nghttp2 has the bytes;
                                   taken before ep->mu, or tried with ep->mu held */
    uint8_t *rbuf;              /* READ_CHUNK bytes (rd_mu) */
    struct hs_buf wbuf;         /* (ep->mu) frames made but not yet taken by the socket */
    bool threadless;            /* unary calls only: their callers read it (see unary_wait) */
    bool reading;               /* (ep->mu) threadless: a caller is reading the socket now */
    bool feeding;               /* (ep->mu) nghttp2 is parsing what was read: wake-ups wait */
    struct hs_grpc_call *wake;  /* (ep->mu) calls to wake once the parse is over */
    nghttp2_session *h2;        /* (ep->mu) */
    bool retired;               /* (ep->mu) no new calls; close when calls is empty */
    bool dead;                  /* (ep->mu) the socket failed: fail every call */
    struct hs_grpc_call *calls; /* (ep->mu) */
    struct grpc_conn *next;     /* (ep->mu) the endpoint's connections */
};

struct hs_grpc_ep {
    pthread_mutex_t mu;
    pthread_cond_t threads_cv; /* signalled when a connection thread ends */
    char *host;
    char *port;
    char *authority;
    int64_t connect_timeout_ms;
    struct grpc_conn *cur;   /* (mu) where new streams go; NULL = connect on demand */
    struct grpc_conn *ucur;  /* (mu) where new unary calls go (threadless); NULL = on demand */
    struct grpc_conn *conns; /* (mu) every open connection */
    size_t n_threads;        /* (mu) */
    bool closing;            /* (mu) */
};

/* ---- endpoints -------------------------------------------------------------------------- */

enum hs_err hs_grpc_ep_new(const char *url, int64_t connect_timeout_ms, struct hs_grpc_ep **out)
{
    const char *p = strstr(url, "://");
    if (p && strncmp(url, "http://", 7) != 0)
        return HS_EINVAL; /* https would need TLS: not supported */
    p = p ? p + 3 : url;
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    const char *colon = memrchr(p, ':', len);
    if (!colon || colon == p || (size_t)(colon - p) + 1 >= len)
        return HS_EINVAL;
    struct hs_grpc_ep *ep = hs_xcalloc(1, sizeof *ep);
    ep->host = hs_xstrndup(p, (size_t)(colon - p));
    ep->port = hs_xstrndup(colon + 1, len - (size_t)(colon - p) - 1);
    ep->authority = hs_xstrndup(p, len);
    ep->connect_timeout_ms = connect_timeout_ms;
    pthread_mutex_init(&ep->mu, NULL);
    pthread_cond_init(&ep->threads_cv, NULL);
    *out = ep;
    return HS_OK;
}

static void wake(struct grpc_conn *c)
{
    uint64_t one = 1;
    ssize_t rc = write(c->wake_fd, &one, sizeof one);
    (void)rc; /* a full counter already means "wake up" */
}

static void conn_fail_all(struct grpc_conn *c);
static void conn_destroy(struct grpc_conn *c);

void hs_grpc_ep_free(struct hs_grpc_ep *ep)
{
    if (!ep)
        return;
    pthread_mutex_lock(&ep->mu);
    ep->closing = true;
    for (struct grpc_conn *c = ep->conns; c; c = c->next) {
        c->retired = true;
        wake(c);
    }
    while (ep->n_threads > 0)
        pthread_cond_wait(&ep->threads_cv, &ep->mu);
    while (ep->conns) { /* threadless ones: their callers are gone */
        struct grpc_conn *c = ep->conns;
        ep->conns = c->next;
        conn_fail_all(c);
        conn_destroy(c);
    }
    pthread_mutex_unlock(&ep->mu);
    pthread_cond_destroy(&ep->threads_cv);
    pthread_mutex_destroy(&ep->mu);
    free(ep->host);
    free(ep->port);
    free(ep->authority);
    free(ep);
}

/* ---- calls and the connection they are on ---------------------------------------------- */

/* Wakes call's waiter. While nghttp2 parses a read, the wake-up waits for the end of the
 * parse (conn_wake_all, still under ep->mu): a waiter woken in the middle would only block
 * again on ep->mu, which the parse holds. Caller holds ep->mu. */
static void call_wake(struct grpc_conn *c, struct hs_grpc_call *call)
{
    if (!c || !c->feeding) {
        pthread_cond_broadcast(&call->cv);
        return;
    }
    if (call->wake_queued)
        return;
    call->wake_queued = true;
    call->wake_next = c->wake;
    c->wake = call;
}

static void conn_wake_all(struct grpc_conn *c)
{
    while (c->wake) {
        struct hs_grpc_call *call = c->wake;
        c->wake = call->wake_next;
        call->wake_next = NULL;
        call->wake_queued = false;
        pthread_cond_broadcast(&call->cv);
    }
}

static void call_detach(struct hs_grpc_call *call)
{
    struct grpc_conn *c = call->conn;
    if (!c)
        return;
    if (call->stream_id > 0)
        nghttp2_session_set_stream_user_data(c->h2, call->stream_id, NULL);
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
    call->conn = NULL;
    if (c->retired && !c->calls)
        wake(c); /* its thread closes it */
}

/* Ends the call with a transport error (if it has no status yet) and wakes its waiter. */
static void call_fail(struct hs_grpc_call *call, enum hs_err err)
{
    struct grpc_conn *c = call->conn;
    if (!call->closed) {
        call->closed = true;
        call->err = err;
    }
    call_detach(call);
    call_wake(c, call);
}

static void conn_retire(struct grpc_conn *c)
{
    c->retired = true;
    if (c->ep->cur == c)
        c->ep->cur = NULL;
    if (c->ep->ucur == c)
        c->ep->ucur = NULL;
    wake(c);
}

/* ---- nghttp2 callbacks (all run with ep->mu held) --------------------------------------- */

static ssize_t cb_read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)stream_id;
    (void)ud;
    struct hs_grpc_call *call = src->ptr;
    size_t left = call->out.len - call->out_off;
    size_t n = HS_MIN(left, len);
    if (n)
        memcpy(buf, call->out.data + call->out_off, n);
    call->out_off += n;
    call->sent = true;
    if (call->out_off == call->out.len) {
        if (call->out_eof)
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        else if (n == 0)
            return NGHTTP2_ERR_DEFERRED; /* an open request stream with nothing to send */
    }
    return (ssize_t)n;
}

static int cb_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)flags;
    (void)ud;
    struct hs_grpc_call *call = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!call || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        call->http_status = (int)strtol((const char *)value, NULL, 10);
    } else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        call->grpc_status = (int)strtol((const char *)value, NULL, 10);
    } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
        /* percent-encoded: decode %XX, keep the rest */
        size_t o = 0;
        for (size_t i = 0; i < valuelen && o + 1 < sizeof call->grpc_msg; i++) {
            char ch = (char)value[i];
            if (ch == '%' && i + 2 < valuelen) {
                char hex[3] = {(char)value[i + 1], (char)value[i + 2], 0};
                ch = (char)strtol(hex, NULL, 16);
                i += 2;
            }
            call->grpc_msg[o++] = ch;
        }
        call->grpc_msg[o] = '\0';
    }
    return 0;
}

static int cb_data_chunk(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *ud)
{
    (void)flags;
    struct hs_grpc_call *call = nghttp2_session_get_stream_user_data(s, stream_id);
    if (!call)
        return 0;
    if (hs_buf_append(&call->in, data, len) != HS_OK) {
        /* over HS_ETCD_REPLY_MAX_BYTES: give up on this stream */
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
        call_fail(call, HS_EPROTO);
        return 0;
    }
    call_wake(ud, call);
    return 0;
}

static int cb_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud)
{
    struct hs_grpc_call *call = nghttp2_session_get_stream_user_data(s, stream_id);
    if (!call)
        return 0;
    if (call->grpc_status < 0 && !call->closed) {
        /* REFUSED_STREAM (a GOAWAY past it, or too many streams): never processed */
        enum hs_err err = error_code == NGHTTP2_REFUSED_STREAM ? HS_EUNAVAIL
                          : error_code == NGHTTP2_NO_ERROR     ? HS_EPROTO
                                                               : HS_ETIMEDOUT;
        if (err == HS_EPROTO && call->http_status != 0 && call->http_status != 200)
            err = HS_OK; /* an HTTP error without gRPC status: mapped from :status */
        call->closed = true;
        call->err = err;
    }
    call->closed = true;
    call_detach(call);
    call_wake(ud, call);
    return 0;
}

static int cb_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    struct grpc_conn *c = ud;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        conn_retire(c); /* nghttp2 refuses the streams past last_stream_id itself */
        return 0;
    }
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
        (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA))
        return 0;
    struct hs_grpc_call *call = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!call || call->out_eof)
        return 0; /* a unary call closes normally: we half-closed already */
    /* the server ended a stream we keep open (a watch): the call is over; reset our half */
    call->closed = true;
    if (call->grpc_status < 0 && (call->http_status == 200 || call->http_status == 0))
        call->err = HS_EPROTO;
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    call_detach(call);
    call_wake(c, call);
    return 0;
}

/* ---- the connection ---------------------------------------------------------------------- */

/* Fails every call of a dead connection. */
static void conn_fail_all(struct grpc_conn *c)
{
    c->dead = true;
    conn_retire(c);
    while (c->calls) {
        struct hs_grpc_call *call = c->calls;
        call_fail(call, call->sent ? HS_ETIMEDOUT : HS_EUNAVAIL);
    }
}

/* Sends what nghttp2 has queued, gathered into one send (a call's HEADERS and DATA frames would
 * otherwise take a system call each); what the socket does not take now stays in wbuf for the
 * connection thread (POLLOUT). false when the socket failed. Caller holds ep->mu. */
static bool conn_flush(struct grpc_conn *c)
{
    if (c->dead)
        return false;
    for (;;) {
        const uint8_t *data = NULL;
        ssize_t n = nghttp2_session_mem_send(c->h2, &data);
        if (n < 0 || (n > 0 && hs_buf_append(&c->wbuf, data, (size_t)n) != HS_OK)) {
            conn_fail_all(c);
            return false;
        }
        if (n == 0)
            break;
    }
    size_t off = 0;
    while (off < c->wbuf.len) {
        ssize_t n = send(c->fd, c->wbuf.data + off, c->wbuf.len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            conn_fail_all(c);
            return false;
        }
        off += (size_t)n;
    }
    if (off == c->wbuf.len) {
        hs_buf_reset(&c->wbuf);
    } else if (off > 0) {
        memmove(c->wbuf.data, c->wbuf.data + off, c->wbuf.len - off);
        c->wbuf.len -= off;
    }
    return true;
}

/* Reads what the socket holds now (up to READ_CHUNK) into rbuf, with rd_mu held and ep->mu
 * either way. *eof when the peer closed or the socket failed. */
static size_t conn_read(struct grpc_conn *c, bool *eof)
{
    size_t got = 0;
    *eof = false;
    while (got < READ_CHUNK) {
        ssize_t n = recv(c->fd, c->rbuf + got, READ_CHUNK - got, 0);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            *eof = true;
        break;
    }
    return got;
}

/* Hands n bytes of rbuf to nghttp2 (its callbacks wake the callers), then sends what that
 * made (acknowledgements, window updates). false when the connection failed. Caller holds
 * ep->mu and rd_mu. */
static bool conn_feed(struct grpc_conn *c, size_t n, bool eof)
{
    if (c->dead)
        return false;
    c->feeding = true;
    bool ok = false;
    if (n > 0 && nghttp2_session_mem_recv(c->h2, c->rbuf, n) != (ssize_t)n)
        conn_fail_all(c);
    else if (eof)
        conn_fail_all(c);
    else
        ok = conn_flush(c);
    c->feeding = false;
    conn_wake_all(c); /* ep->mu is held from the parse to here: every queued call still waits */
    return ok;
}

static void conn_destroy(struct grpc_conn *c)
{
    nghttp2_session_del(c->h2);
    close(c->fd);
    close(c->wake_fd);
    pthread_mutex_destroy(&c->rd_mu);
    hs_buf_release(&c->wbuf);
    free(c->rbuf);
    free(c);
}

static void *conn_main(void *arg)
{
    struct grpc_conn *c = arg;
    struct hs_grpc_ep *ep = c->ep;
    pthread_mutex_lock(&ep->mu);
    for (;;) {
        if (c->dead || ep->closing || (c->retired && !c->calls))
            break;
        bool want_write = nghttp2_session_want_write(c->h2) != 0 || c->wbuf.len > 0;
        if (!nghttp2_session_want_read(c->h2) && !want_write)
            break;
        pthread_mutex_unlock(&ep->mu);
        struct pollfd pf[2] = {{.fd = c->fd, .events = POLLIN | (want_write ? POLLOUT : 0)},
                               {.fd = c->wake_fd, .events = POLLIN}};
        int rc = poll(pf, 2, -1);
        int poll_errno = errno;
        if (pf[1].revents & POLLIN) {
            uint64_t n;
            ssize_t r = read(c->wake_fd, &n, sizeof n);
            (void)r;
        }
        bool readable = rc > 0 && (pf[0].revents & (POLLIN | POLLERR | POLLHUP));
        size_t got = 0;
        bool eof = false;
        if (readable) {
            pthread_mutex_lock(&c->rd_mu); /* read without ep->mu: callers go on meanwhile */
            got = conn_read(c, &eof);
        }
        pthread_mutex_lock(&ep->mu);
        bool ok = rc >= 0 || poll_errno == EINTR;
        if (!ok)
            conn_fail_all(c);
        else if (readable)
            ok = conn_feed(c, got, eof);
        else
            ok = conn_flush(c);
        if (readable)
            pthread_mutex_unlock(&c->rd_mu);
        if (!ok)
            break;
    }
    /* closing: whatever is still attached fails (the client is being freed) */
    conn_fail_all(c);
    for (struct grpc_conn **pp = &ep->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    conn_destroy(c);
    ep->n_threads--;
    pthread_cond_broadcast(&ep->threads_cv);
    pthread_mutex_unlock(&ep->mu);
    return NULL;
}

/* A connected non-blocking TCP socket to ep within its connect timeout, or -1. */
static int tcp_connect(struct hs_grpc_ep *ep)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(ep->host, ep->port, &hints, &ai) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int soerr = -1;
        socklen_t sl = sizeof soerr;
        if (errno != EINPROGRESS || poll(&pf, 1, (int)ep->connect_timeout_ms) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

static nghttp2_session_callbacks *g_cbs;
static pthread_once_t g_cbs_once = PTHREAD_ONCE_INIT;

static void cbs_init(void)
{
    if (nghttp2_session_callbacks_new(&g_cbs) != 0)
        HS_BUG("nghttp2_session_callbacks_new failed");
    nghttp2_session_callbacks_set_on_header_callback(g_cbs, cb_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(g_cbs, cb_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(g_cbs, cb_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(g_cbs, cb_frame_recv);
}

/* Opens a connection (socket, session, SETTINGS, thread). NULL when the connect failed. */
static struct grpc_conn *conn_open(struct hs_grpc_ep *ep)
{
    pthread_once(&g_cbs_once, cbs_init);
    int fd = tcp_connect(ep);
    if (fd < 0)
        return NULL;
    struct grpc_conn *c = hs_xcalloc(1, sizeof *c);
    c->ep = ep;
    c->fd = fd;
    c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&c->rd_mu, NULL);
    c->rbuf = hs_xmalloc(READ_CHUNK);
    hs_buf_init(&c->wbuf, 0);
    if (c->wake_fd < 0 || nghttp2_session_client_new(&c->h2, g_cbs, c) != 0)
        HS_BUG("cannot set up an HTTP/2 session");
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW}};
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, HS_ARRAY_LEN(iv));
    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    return c;
}

/* Destroys the endpoint's threadless connections that are retired (or dead) and idle. Caller
 * holds ep->mu. */
static void ep_reap(struct hs_grpc_ep *ep)
{
    for (struct grpc_conn **pp = &ep->conns; *pp;) {
        struct grpc_conn *c = *pp;
        if (c->threadless && (c->retired || c->dead) && !c->calls && !c->reading) {
            *pp = c->next;
            conn_destroy(c);
        } else {
            pp = &c->next;
        }
    }
}

/* A threadless connection nobody has read since its last call: what came meanwhile (a GOAWAY,
 * a PING, the server closing it) is taken in before a new call goes out on it, so that a call
 * is not sent into a connection the server already closed. Caller holds ep->mu. */
static void conn_catch_up(struct grpc_conn *c)
{
    if (c->reading || c->calls || c->dead)
        return;
    bool eof = false;
    size_t got = conn_read(c, &eof);
    if (got || eof)
        conn_feed(c, got, eof);
}

/* The endpoint's current connection for streams (threadless false: one with its own reading
 * thread) or for unary calls (threadless: read by its callers), opening one when there is
 * none; ep->mu held on return when the result is not NULL. NULL: the connect failed (nothing
 * was sent). */
static struct grpc_conn *conn_get(struct hs_grpc_ep *ep, bool threadless)
{
    pthread_mutex_lock(&ep->mu);
    struct grpc_conn **slot = threadless ? &ep->ucur : &ep->cur;
    if (*slot && threadless)
        conn_catch_up(*slot); /* may retire it */
    if (*slot)
        return *slot;
    pthread_mutex_unlock(&ep->mu);
    /* connect without the lock: other connections of this endpoint go on meanwhile */
    struct grpc_conn *fresh = conn_open(ep);
    if (!fresh)
        return NULL;
    pthread_mutex_lock(&ep->mu);
    if (*slot || ep->closing) {
        /* another thread won the race: use its connection */
        struct grpc_conn *cur = *slot;
        conn_destroy(fresh);
        if (!cur)
            pthread_mutex_unlock(&ep->mu);
        return cur;
    }
    if (threadless) {
        fresh->threadless = true;
        fresh->next = ep->conns;
        ep->conns = fresh;
        ep->ucur = fresh;
        return fresh;
    }
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, conn_main, fresh) != 0)
        HS_BUG("cannot start an HTTP/2 connection thread");
    pthread_attr_destroy(&attr);
    ep->n_threads++;
    fresh->next = ep->conns;
    ep->conns = fresh;
    ep->cur = fresh;
    return fresh;
}

/* ---- public to the client ---------------------------------------------------------------- */

/* Appends one gRPC message (uncompressed) holding msg's encoding to out. */
void hs_grpc_frame(struct hs_buf *out, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (hs_buf_reserve(out, GRPC_PREFIX + n) != HS_OK)
        HS_BUG("gRPC request too large");
    uint8_t *p = out->data + out->len;
    p[0] = 0;
    p[1] = (uint8_t)(n >> 24);
    p[2] = (uint8_t)(n >> 16);
    p[3] = (uint8_t)(n >> 8);
    p[4] = (uint8_t)n;
    protobuf_c_message_pack(msg, p + GRPC_PREFIX);
    out->len += GRPC_PREFIX + n;
}

/* Takes the first whole message off in: HS_OK with *msg and *len (valid until in changes),
 * HS_ETIMEDOUT when none is complete yet, HS_EPROTO on a compressed or oversized one. */
static enum hs_err take_message(struct hs_buf *in, size_t *consumed, const uint8_t **msg,
                                size_t *len)
{
    if (in->len - *consumed < GRPC_PREFIX)
        return HS_ETIMEDOUT;
    const uint8_t *p = in->data + *consumed;
    if (p[0] != 0)
        return HS_EPROTO; /* compressed: we never offered an encoding */
    size_t n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
    if (n > HS_ETCD_REPLY_MAX_BYTES)
        return HS_EPROTO;
    if (in->len - *consumed - GRPC_PREFIX < n)
        return HS_ETIMEDOUT;
    *msg = p + GRPC_PREFIX;
    *len = n;
    *consumed += GRPC_PREFIX + n;
    return HS_OK;
}

/* gRPC's mapping of an HTTP status that came without grpc-status. */
static int http_to_grpc(int http_status)
{
    switch (http_status) {
    case 400:
        return 13; /* INTERNAL */
    case 401:
        return 16;
    case 403:
        return 7;
    case 404:
        return 12; /* UNIMPLEMENTED */
    case 429:
    case 502:
    case 503:
    case 504:
        return 14; /* UNAVAILABLE */
    default:
        return 2; /* UNKNOWN */
    }
}

/* Starts a call on endpoint ep: submits HEADERS + the request. On HS_OK with keep_locked,
 * ep->mu is still held (a unary caller goes straight to its wait). */
static enum hs_err call_start(struct hs_grpc_ep *ep, const char *path, int64_t timeout_ms,
                              bool require_leader, struct hs_grpc_call *call, bool keep_locked)
{
    struct grpc_conn *c = conn_get(ep, keep_locked); /* unary calls (keep_locked) threadless */
    if (!c)
        return HS_EUNAVAIL;
    /* with ep->mu held */
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%lldm", (long long)(timeout_ms > 0 ? timeout_ms : 0));
#define NV(n, v)                                                                                   \
    {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NO_COPY_NAME}
    nghttp2_nv hdrs[] = {NV(":method", "POST"),
                         NV(":scheme", "http"),
                         NV(":path", path),
                         NV(":authority", ep->authority),
                         NV("content-type", "application/grpc"),
                         NV("te", "trailers"),
                         NV("grpc-timeout", timeout),
                         NV("hasleader", "true")};
#undef NV
    size_t n_hdrs = HS_ARRAY_LEN(hdrs) - (require_leader ? 0 : 1) - (timeout_ms > 0 ? 0 : 1);
    if (timeout_ms <= 0)
        hdrs[6] = hdrs[7]; /* drop grpc-timeout (keep hasleader when asked) */
    nghttp2_data_provider dp = {.source.ptr = call, .read_callback = cb_read_body};
    call->conn = c;
    call->grpc_status = -1;
    int32_t id = nghttp2_submit_request(c->h2, NULL, hdrs, n_hdrs, &dp, call);
    if (id < 0) {
        call->conn = NULL;
        pthread_mutex_unlock(&ep->mu);
        return HS_EUNAVAIL;
    }
    call->stream_id = id;
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    conn_flush(c);
    if (!keep_locked)
        pthread_mutex_unlock(&ep->mu);
    return HS_OK;
}

static void call_init(struct hs_grpc_call *call, struct hs_grpc_ep *ep)
{
    *call = (struct hs_grpc_call){.ep = ep, .grpc_status = -1};
    pthread_cond_init(&call->cv, NULL);
    hs_buf_init(&call->out, 0);
    hs_buf_init(&call->in, HS_ETCD_REPLY_MAX_BYTES + GRPC_PREFIX);
}

/* Cancels the stream if still open (RST_STREAM CANCEL), with ep->mu held. */
static void call_cancel_locked(struct hs_grpc_call *call)
{
    struct grpc_conn *c = call->conn;
    if (!c)
        return;
    nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_CANCEL);
    call_detach(call);
    wake(c);
}

/* Frees a call already detached from its connection (or never attached). */
static void call_free(struct hs_grpc_call *call)
{
    pthread_cond_destroy(&call->cv);
    hs_buf_release(&call->out);
    hs_buf_release(&call->in);
}

static void call_release(struct hs_grpc_call *call)
{
    pthread_mutex_lock(&call->ep->mu);
    call_cancel_locked(call);
    pthread_mutex_unlock(&call->ep->mu);
    call_free(call);
}

/* Reads what the socket holds for call's connection now, with ep->mu held. When the process
 * was stopped or descheduled past a deadline, the reply can have arrived in time and still be
 * unread: the waiter wakes before the connection thread does. When the connection thread is
 * reading right now, it is given a moment to hand over what it read instead. */
static void drain(struct hs_grpc_call *call)
{
    struct grpc_conn *c = call->conn;
    if (!c || c->dead)
        return;
    if (c->threadless) {
        if (!c->reading) {
            bool eof = false;
            size_t got = conn_read(c, &eof);
            conn_feed(c, got, eof);
        }
        return;
    }
    if (pthread_mutex_trylock(&c->rd_mu) != 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += WAIT_SLICE_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&call->cv, &call->ep->mu, &ts);
        return;
    }
    bool eof = false;
    size_t got = conn_read(c, &eof);
    conn_feed(c, got, eof);
    pthread_mutex_unlock(&c->rd_mu);
}

static bool is_closed(const struct hs_grpc_call *call)
{
    return call->closed;
}

/* Hands the reading of threadless connection c on when the caller of call self (NULL: none
 * on c any more) stops waiting: wakes another caller still waiting on c, which becomes the
 * reader. Caller holds ep->mu. */
static void reader_hand_off(struct grpc_conn *c, const struct hs_grpc_call *self)
{
    if (!c || c->reading)
        return;
    for (struct hs_grpc_call *o = c->calls; o; o = o->next) {
        if (o != self) {
            pthread_cond_broadcast(&o->cv);
            return;
        }
    }
}

/* Waits with ep->mu held until the unary call is closed, the deadline (mono ms) or cancel;
 * false on timeout. Its connection has no thread of its own: the callers take turns reading
 * it. One of them (the reader) polls the socket and hands what came to nghttp2, which wakes
 * the callers whose replies are complete; the others wait on their condition variable. A
 * reader whose call is over wakes one still waiting, which reads next. One call at a time
 * (the common case) thus reads its own reply, and no other thread wakes up for it. */
static bool unary_wait(struct hs_grpc_call *call, int64_t deadline_ms, const struct hs_stop *cancel)
{
    struct hs_grpc_ep *ep = call->ep;
    while (!call->closed) {
        int64_t now = hs_clock_mono_ms();
        if (now >= deadline_ms || hs_stop_is_set(cancel)) {
            reader_hand_off(call->conn, call); /* the others read on without this caller */
            return false;
        }
        int64_t slice = HS_MIN(deadline_ms - now, (int64_t)WAIT_SLICE_MS);
        struct grpc_conn *c = call->conn; /* attached as long as the call is not closed */
        if (c->reading) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += slice / 1000;
            ts.tv_nsec += (slice % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&call->cv, &ep->mu, &ts);
            continue;
        }
        c->reading = true; /* c stays (ep_reap skips it) until reading is false again */
        bool want_write = c->wbuf.len > 0 || nghttp2_session_want_write(c->h2) != 0;
        pthread_mutex_unlock(&ep->mu);
        struct pollfd pf = {.fd = c->fd, .events = POLLIN | (want_write ? POLLOUT : 0)};
        int rc = poll(&pf, 1, (int)slice);
        bool readable = rc > 0 && (pf.revents & (POLLIN | POLLERR | POLLHUP));
        size_t got = 0;
        bool eof = false;
        if (readable)
            got = conn_read(c, &eof);
        pthread_mutex_lock(&ep->mu);
        c->reading = false;
        if (readable)
            conn_feed(c, got, eof);
        else if (rc > 0)
            conn_flush(c);
        if (call->closed)
            reader_hand_off(c, NULL);
    }
    return true;
}

/* The final status of a closed call: HS_OK with *status (and msg), or a transport error. */
static enum hs_err call_status(const struct hs_grpc_call *call, int *status, char *msg,
                               size_t msg_len)
{
    if (call->err != HS_OK)
        return call->err;
    if (call->grpc_status >= 0) {
        *status = call->grpc_status;
    } else if (call->http_status != 0 && call->http_status != 200) {
        *status = http_to_grpc(call->http_status);
    } else {
        return HS_EPROTO; /* ended without a status */
    }
    if (msg && msg_len)
        snprintf(msg, msg_len, "%s", call->grpc_msg);
    return HS_OK;
}

enum hs_err hs_grpc_unary(struct hs_grpc_ep *ep, const char *path, const ProtobufCMessage *req,
                          int64_t timeout_ms, const struct hs_stop *cancel, struct hs_buf *reply,
                          int *status, char *msg, size_t msg_len)
{
    struct hs_grpc_call call;
    call_init(&call, ep);
    hs_grpc_frame(&call.out, req);
    call.out_eof = true;
    int64_t deadline = hs_clock_mono_ms() + timeout_ms;
    enum hs_err err = call_start(ep, path, timeout_ms, false, &call, true);
    if (err != HS_OK)
        goto out;
    /* ep->mu held since the start */
    if (!unary_wait(&call, deadline, cancel) && !hs_stop_is_set(cancel))
        drain(&call); /* the reply may be in the socket already, unread */
    if (!is_closed(&call)) {
        /* a silent member: stop sending new calls over this connection */
        struct grpc_conn *c = call.conn;
        if (c && !hs_stop_is_set(cancel))
            conn_retire(c);
        err = call.sent || c ? HS_ETIMEDOUT : HS_EUNAVAIL;
        call_cancel_locked(&call);
        if (c && !c->dead)
            conn_flush(c); /* the RST_STREAM: no thread of its own sends it later */
        reader_hand_off(c, NULL);
        ep_reap(ep);
        pthread_mutex_unlock(&ep->mu);
        goto out;
    }
    call_cancel_locked(&call); /* closed calls are detached already: a no-op kept for safety */
    ep_reap(ep);
    pthread_mutex_unlock(&ep->mu);
    /* detached: nobody else touches the call any more */
    int st = 0;
    err = call_status(&call, &st, msg, msg_len);
    if (err != HS_OK)
        goto out;
    *status = st;
    if (st != 0)
        goto out;
    size_t off = 0;
    const uint8_t *m;
    size_t n;
    err = take_message(&call.in, &off, &m, &n);
    if (err == HS_OK && off != call.in.len)
        err = HS_EPROTO; /* a unary reply is exactly one message */
    else if (err == HS_ETIMEDOUT)
        err = HS_EPROTO; /* status OK without a (whole) message */
    if (err == HS_OK) {
        hs_buf_reset(reply);
        err = hs_buf_append(reply, m, n) == HS_OK ? HS_OK : HS_EPROTO;
    }
out:
    call_free(&call);
    return err;
}

struct hs_grpc_stream {
    struct hs_grpc_call call;
    size_t consumed; /* bytes of call.in already handed out */
};

enum hs_err hs_grpc_stream_open(struct hs_grpc_ep *ep, const char *path,
                                const ProtobufCMessage *first, bool require_leader,
                                struct hs_grpc_stream **out)
{
    struct hs_grpc_stream *s = hs_xcalloc(1, sizeof *s);
    call_init(&s->call, ep);
    hs_grpc_frame(&s->call.out, first);
    s->call.out_eof = false;
    enum hs_err err = call_start(ep, path, 0, require_leader, &s->call, false);
    if (err != HS_OK) {
        call_release(&s->call);
        free(s);
        return err;
    }
    *out = s;
    return HS_OK;
}

enum hs_err hs_grpc_stream_next(struct hs_grpc_stream *s, int64_t wait_ms, struct hs_buf *msg,
                                bool *ended, int *status, char *text, size_t text_len)
{
    struct hs_grpc_call *call = &s->call;
    struct hs_grpc_ep *ep = call->ep;
    int64_t deadline = hs_clock_mono_ms() + wait_ms;
    *ended = false;
    pthread_mutex_lock(&ep->mu);
    enum hs_err err;
    for (;;) {
        const uint8_t *m;
        size_t n;
        err = take_message(&call->in, &s->consumed, &m, &n);
        if (err == HS_OK) {
            hs_buf_reset(msg);
            err = hs_buf_append(msg, m, n) == HS_OK ? HS_OK : HS_EPROTO;
            /* keep the buffer small: drop what was handed out */
            if (s->consumed == call->in.len) {
                hs_buf_reset(&call->in);
                s->consumed = 0;
            }
            break;
        }
        if (err == HS_EPROTO)
            break;
        if (call->closed) {
            *ended = true;
            err = call_status(call, status, text, text_len);
            break;
        }
        /* wait for more: new data moves in.len, so wait on "more than now" */
        size_t have = call->in.len;
        int64_t now = hs_clock_mono_ms();
        if (now >= deadline) {
            err = HS_ETIMEDOUT;
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t w = HS_MIN(deadline - now, WAIT_SLICE_MS);
        ts.tv_sec += w / 1000;
        ts.tv_nsec += (w % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        if (call->in.len == have)
            pthread_cond_timedwait(&call->cv, &ep->mu, &ts);
    }
    pthread_mutex_unlock(&ep->mu);
    return err;
}

enum hs_err hs_grpc_stream_send(struct hs_grpc_stream *s, const ProtobufCMessage *msg)
{
    struct hs_grpc_call *call = &s->call;
    struct hs_grpc_ep *ep = call->ep;
    pthread_mutex_lock(&ep->mu);
    struct grpc_conn *c = call->conn;
    if (!c || call->closed) {
        pthread_mutex_unlock(&ep->mu);
        return HS_EUNAVAIL; /* the stream is over: open a new one */
    }
    if (call->out_off == call->out.len) {
        hs_buf_reset(&call->out); /* everything was sent: start the buffer again */
        call->out_off = 0;
    }
    hs_grpc_frame(&call->out, msg);
    nghttp2_session_resume_data(c->h2, call->stream_id);
    conn_flush(c);
    pthread_mutex_unlock(&ep->mu);
    return HS_OK;
}

void hs_grpc_stream_close(struct hs_grpc_stream *s)
{
    if (!s)
        return;
    call_release(&s->call);
    free(s);
}
