/* client.c - blob client of the node API over one curl multi handle: every call (even a
 * single one) is a fan-out of n transfers, so all of them share the multi handle's connection
 * cache and keep-alive. Listing and plain requests are in client_misc.c. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "hs/clock.h"
#include "hs/codec.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "http/client_int.h"
#include "hs/banned.h"

#define DEFAULT_TIMEOUT_MS         30000
#define DEFAULT_CONNECT_TIMEOUT_MS 2000
#define ERR_BODY_MAX               4096
#define DEADLINE_MARGIN_MAX_MS     250
/* Idle connections the multi handle keeps. libcurl's default is 4 per transfer added, i.e. 4 for
 * a lone GET: a client reading from 6 nodes then closed its least recently used connection and
 * opened a new one for about one node request in three. One per node of any cluster we run. */
#define MAX_CACHED_CONNS 64L

/* One running call: the call plus the state of its libcurl callbacks. */
struct hs_http_xfer {
    struct hs_http_call *call;
    struct hs_http_xfer *next; /* c->running */
    size_t slot;               /* its easy handle in the pool */
    CURL *easy;
    char *url;               /* heap */
    struct curl_slist *hdrs; /* per call (auth, Expect, CRC) */
    size_t upload_pos;       /* PUT: bytes handed to curl */
    size_t out_len0;         /* GET: out->len before the call, restored on failure */
    bool have_crc_hdr;       /* X-HS-CRC32C seen */
    uint32_t crc_hdr;
    char err_name[24];      /* X-HS-Error */
    int64_t content_len;    /* -1 = not seen */
    int64_t cr_first;       /* Content-Range of a 206: first byte, -1 = not seen */
    int64_t cr_total;       /* Content-Range: whole blob length, -1 = not seen */
    enum hs_err write_err;  /* why the write callback stopped the transfer */
    struct hs_buf err_body; /* non-2xx body (for the log) */
};

static void global_init_once(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    /* curl_global_init is not thread-safe; it runs once per process, before any handle. */
    pthread_once(&once, hs_http_curl_global_init);
}

void hs_http_curl_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* libcurl says which events of socket s its transfers wait for (or that none does any more). */
static int socket_cb(CURL *e, curl_socket_t s, int what, void *ud, void *socketp)
{
    (void)e;
    (void)socketp;
    struct hs_http_client *c = ud;
    size_t i = 0;
    while (i < c->n_pfd && c->pfd[i].fd != s)
        i++;
    if (what == CURL_POLL_REMOVE) {
        if (i < c->n_pfd)
            c->pfd[i] = c->pfd[--c->n_pfd];
        return 0;
    }
    if (i == c->n_pfd) {
        if (c->n_pfd == c->cap_pfd) {
            c->cap_pfd = c->cap_pfd ? 2 * c->cap_pfd : 8;
            c->pfd = hs_xrealloc(c->pfd, c->cap_pfd * sizeof *c->pfd);
        }
        c->pfd[c->n_pfd++] = (struct pollfd){.fd = s};
    }
    c->pfd[i].events =
        (short)(((what & CURL_POLL_IN) ? POLLIN : 0) | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
    c->pfd[i].revents = 0;
    return 0;
}

/* libcurl wants hs_http_client_drive to run its timeouts in timeout_ms (-1: no timer). */
static int timer_cb(CURLM *m, long timeout_ms, void *ud)
{
    (void)m;
    struct hs_http_client *c = ud;
    c->timer_due_ns =
        timeout_ms < 0 ? INT64_MAX : hs_clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    return 0;
}

static void socket_action(struct hs_http_client *c, curl_socket_t s, int ev, int *running)
{
    CURLMcode rc = curl_multi_socket_action(c->multi, s, ev, running);
    /* BAD_SOCKET: an earlier action of the same poll round closed it */
    if (rc != CURLM_OK && rc != CURLM_BAD_SOCKET)
        HS_BUG("curl_multi_socket_action failed");
}

void hs_http_client_drive(struct hs_http_client *c, int wait_ms, int *running)
{
    int64_t now = hs_clock_mono_ns();
    if (c->timer_due_ns <= now) {
        c->timer_due_ns = INT64_MAX; /* libcurl sets it again if it still needs one */
        socket_action(c, CURL_SOCKET_TIMEOUT, 0, running);
        return;
    }
    int64_t timer_ms =
        c->timer_due_ns == INT64_MAX ? INT64_MAX : (c->timer_due_ns - now + 999999) / 1000000;
    int ms = (int)HS_MIN((int64_t)wait_ms, timer_ms);
    int rc = poll(c->pfd, (nfds_t)c->n_pfd, ms);
    if (rc <= 0) {
        if (hs_clock_mono_ns() >= c->timer_due_ns) {
            c->timer_due_ns = INT64_MAX;
            socket_action(c, CURL_SOCKET_TIMEOUT, 0, running);
        }
        return; /* *running unchanged: nothing happened */
    }
    /* libcurl's callbacks change c->pfd: take the ready sockets out first */
    struct {
        curl_socket_t fd;
        int ev;
    } ready[16];
    size_t n = 0;
    for (size_t i = 0; i < c->n_pfd && n < HS_ARRAY_LEN(ready); i++) {
        short re = c->pfd[i].revents;
        if (!re)
            continue;
        int ev = ((re & (POLLIN | POLLHUP)) ? CURL_CSELECT_IN : 0) |
                 ((re & POLLOUT) ? CURL_CSELECT_OUT : 0) | ((re & POLLERR) ? CURL_CSELECT_ERR : 0);
        ready[n].fd = c->pfd[i].fd;
        ready[n++].ev = ev;
    }
    for (size_t i = 0; i < n; i++)
        socket_action(c, ready[i].fd, ready[i].ev, running);
}

enum hs_err hs_http_client_new(const struct hs_http_client_opts *opts, struct hs_http_client **out)
{
    global_init_once();
    struct hs_http_client *c = hs_xcalloc(1, sizeof *c);
    c->secret = opts->secret ? hs_xstrdup(opts->secret) : NULL;
    c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    c->connect_timeout_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    c->multi = curl_multi_init();
    if (!c->multi)
        HS_BUG("curl_multi_init failed");
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, MAX_CACHED_CONNS);
    c->timer_due_ns = INT64_MAX;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    *out = c;
    return HS_OK;
}

static void xfer_drop(struct hs_http_client *c, struct hs_http_xfer *x);

void hs_http_client_free(struct hs_http_client *c)
{
    if (!c)
        return;
    while (c->running) /* started calls nobody collected: their callers are gone */
        xfer_drop(c, c->running);
    for (size_t i = 0; i < c->n_easy; i++)
        curl_easy_cleanup(c->easy[i]);
    free(c->easy);
    free(c->busy);
    curl_multi_cleanup(c->multi);
    free(c->pfd);
    free(c->secret);
    free(c);
}

CURL *hs_http_client_easy(struct hs_http_client *c, size_t i)
{
    while (c->n_easy <= i) {
        c->easy = hs_xrealloc(c->easy, (c->n_easy + 1) * sizeof *c->easy);
        c->busy = hs_xrealloc(c->busy, (c->n_easy + 1) * sizeof *c->busy);
        c->easy[c->n_easy] = curl_easy_init();
        if (!c->easy[c->n_easy])
            HS_BUG("curl_easy_init failed");
        c->busy[c->n_easy] = false;
        c->n_easy++;
    }
    /* reset drops options, not the connections cached in the multi handle */
    curl_easy_reset(c->easy[i]);
    return c->easy[i];
}

struct curl_slist *hs_http_client_headers(const struct hs_http_client *c)
{
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (c->secret) {
        char *auth = hs_xasprintf("Authorization: Bearer %s", c->secret);
        h = curl_slist_append(h, auth);
        free(auth);
    }
    return h;
}

void hs_http_client_common_opts(const struct hs_http_client *c, CURL *e, const char *url)
{
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    /* Never reuse a connection idle for longer than servers keep one (nodes drop idle
     * connections after --request-timeout, 30 s by default): a PUT sent on a connection the
     * server just closed fails instead of being retried, since an upload cannot be rewound. */
    curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, 20L);
}

enum hs_err hs_http_map_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return HS_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return HS_ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return HS_EUNAVAIL;
    default:
        return HS_EPROTO;
    }
}

enum hs_err hs_http_map_status(long status, const char *err_name)
{
    if (err_name && *err_name) {
        for (int e = 1; e < HS_ERR_COUNT_; e++)
            if (strcmp(err_name, hs_err_name((enum hs_err)e)) == 0)
                return (enum hs_err)e;
    }
    if (status >= 200 && status < 300)
        return HS_OK;
    switch (status) {
    case 400:
    case 411:
        return HS_EINVAL;
    case 401:
    case 403:
        return HS_EAUTH;
    case 404:
        return HS_ENOENT;
    case 409:
        return HS_EEXIST;
    case 413:
        return HS_ETOOBIG;
    case 503:
        return HS_EUNAVAIL;
    case 504:
        return HS_ETIMEDOUT;
    case 507:
        return HS_ENOSPC;
    default:
        return status >= 500 ? HS_EIO : HS_EPROTO;
    }
}

static size_t upload_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct hs_http_xfer *x = ud;
    size_t left = x->call->len - x->upload_pos;
    size_t n = HS_MIN(left, size * nitems);
    memcpy(buf, (const char *)x->call->data + x->upload_pos, n);
    x->upload_pos += n;
    return n;
}

static bool is_2xx(CURL *e)
{
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    return status >= 200 && status < 300;
}

static size_t download_cb(char *data, size_t size, size_t nmemb, void *ud)
{
    struct hs_http_xfer *x = ud;
    size_t n = size * nmemb;
    /* Error bodies go aside, never into the caller's payload buffer. */
    struct hs_buf *dst = (x->call->out && is_2xx(x->easy)) ? x->call->out : &x->err_body;
    if (dst == x->call->out && dst->len == x->out_len0 && x->content_len > 0 &&
        hs_buf_reserve(dst, (size_t)x->content_len) != HS_OK) {
        x->write_err = HS_ETOOBIG;
        return 0;
    }
    if (hs_buf_append(dst, data, n) != HS_OK) {
        if (dst == &x->err_body)
            return n; /* a long error body is just cut */
        x->write_err = HS_ETOOBIG;
        return 0;
    }
    return n;
}

static void header_value(const char *line, size_t n, char *out, size_t outlen)
{
    const char *colon = memchr(line, ':', n);
    size_t i = colon ? (size_t)(colon - line) + 1 : n;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    size_t j = n;
    while (j > i && (line[j - 1] == '\r' || line[j - 1] == '\n' || line[j - 1] == ' '))
        j--;
    snprintf(out, outlen, "%.*s", (int)(j - i), line + i);
}

/* "bytes <first>-<last>/<total>" of a 206 into x->cr_first and x->cr_total (left -1 else). */
static void parse_content_range(const char *v, struct hs_http_xfer *x)
{
    if (strncmp(v, "bytes ", 6) != 0)
        return;
    char *end = NULL;
    long long first = strtoll(v + 6, &end, 10);
    if (end == v + 6 || *end != '-')
        return;
    const char *p = end + 1;
    long long last = strtoll(p, &end, 10);
    if (end == p || *end != '/')
        return;
    p = end + 1;
    long long total = strtoll(p, &end, 10);
    if (end == p || *end != '\0' || first < 0 || last < first || total <= last)
        return;
    x->cr_first = first;
    x->cr_total = total;
}

static size_t header_cb(char *line, size_t size, size_t nitems, void *ud)
{
    struct hs_http_xfer *x = ud;
    size_t n = size * nitems;
    char val[64];
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* a new response (after an interim 1xx): forget what the previous one said */
        x->call->replied = true;
        x->have_crc_hdr = false;
        x->err_name[0] = '\0';
        x->content_len = -1;
        x->cr_first = x->cr_total = -1;
    } else if (n > 14 && strncasecmp(line, "Content-Range:", 14) == 0) {
        header_value(line, n, val, sizeof val);
        parse_content_range(val, x);
    } else if (n > 12 && strncasecmp(line, "X-HS-CRC32C:", 12) == 0) {
        header_value(line, n, val, sizeof val);
        x->have_crc_hdr = hs_http_crc32c_parse(val, &x->crc_hdr);
    } else if (n > 11 && strncasecmp(line, "X-HS-Error:", 11) == 0) {
        header_value(line, n, x->err_name, sizeof x->err_name);
    } else if (n > 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
        header_value(line, n, val, sizeof val);
        char *end = NULL;
        long long v = strtoll(val, &end, 10);
        x->content_len = (end && *end == '\0' && v >= 0) ? v : -1;
    }
    return n;
}

static void xfer_setup(struct hs_http_client *c, struct hs_http_xfer *x)
{
    struct hs_http_call *call = x->call;
    size_t i = 0;
    while (i < c->n_easy && c->busy[i])
        i++;
    CURL *e = x->easy = hs_http_client_easy(c, i);
    c->busy[i] = true;
    x->slot = i;
    char *esc = curl_easy_escape(e, call->id, 0);
    const char *base = call->base_url;
    size_t bl = strlen(base);
    x->url = hs_xasprintf("%.*s/v1/blobs/%s", (int)(bl > 0 && base[bl - 1] == '/' ? bl - 1 : bl),
                          base, esc ? esc : "");
    curl_free(esc);
    x->content_len = -1;
    x->cr_first = x->cr_total = -1;
    x->out_len0 = call->out ? call->out->len : 0;
    hs_buf_init(&x->err_body, ERR_BODY_MAX);
    x->hdrs = hs_http_client_headers(c);
    hs_http_client_common_opts(c, e, x->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, download_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    switch (call->op) {
    case HS_HTTP_OP_PUT: {
        uint32_t crc = call->have_crc ? call->crc : hs_crc32c(0, call->data, call->len);
        char h[40];
        snprintf(h, sizeof h, "X-HS-CRC32C: %08x", crc);
        x->hdrs = curl_slist_append(x->hdrs, h);
        x->hdrs = curl_slist_append(x->hdrs, "Content-Type: application/octet-stream");
        /* The node publishes the blob only up to this instant: past it we have stopped
         * waiting, and a blob published then would be an orphan nobody references. The
         * margin leaves room for the reply's trip and a little clock skew. */
        int64_t margin_ms = HS_MIN(c->timeout_ms / 10, (int64_t)DEADLINE_MARGIN_MAX_MS);
        char dl[48];
        snprintf(dl, sizeof dl, "X-HS-Deadline-Ms: %lld",
                 (long long)(hs_clock_wall_ms() + c->timeout_ms - margin_ms));
        x->hdrs = curl_slist_append(x->hdrs, dl);
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)call->len);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, upload_cb);
        curl_easy_setopt(e, CURLOPT_READDATA, x);
        break;
    }
    case HS_HTTP_OP_HEAD:
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        break;
    case HS_HTTP_OP_DELETE:
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
        break;
    case HS_HTTP_OP_GET:
        if (call->range_len > 0) {
            char range[48];
            snprintf(range, sizeof range, "%lld-%lld", (long long)call->range_off,
                     (long long)(call->range_off + call->range_len - 1));
            curl_easy_setopt(e, CURLOPT_RANGE, range);
        }
        break;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
}

/* Turns a finished transfer into the call's err/status/len/crc. */
static void xfer_finish(struct hs_http_xfer *x, CURLcode rc)
{
    struct hs_http_call *call = x->call;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &call->http_status);
    curl_off_t us = 0;
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &us);
    call->elapsed_us = (int64_t)us;
    enum hs_err err = x->write_err != HS_OK ? x->write_err : hs_http_map_curl(rc);
    if (err == HS_OK)
        err = hs_http_map_status(call->http_status, x->err_name);
    if (err == HS_OK && (call->op == HS_HTTP_OP_GET || call->op == HS_HTTP_OP_HEAD)) {
        if (!x->have_crc_hdr) {
            err = HS_EPROTO;
        } else {
            call->blob_crc = x->crc_hdr;
            call->blob_len = call->op == HS_HTTP_OP_GET ? (int64_t)(call->out->len - x->out_len0)
                                                        : x->content_len;
        }
    }
    bool ranged = call->op == HS_HTTP_OP_GET && call->range_len > 0;
    if (err == HS_OK && ranged) {
        /* Only the node could check the CRC (of the whole blob); we check we got the range. */
        if (call->http_status != 206 || x->cr_first != call->range_off ||
            call->blob_len != call->range_len) {
            HS_LOG_WARN("blob_get_range_mismatch", "url='%s' status=%ld got=%lld want=%lld", x->url,
                        call->http_status, (long long)call->blob_len, (long long)call->range_len);
            err = HS_EPROTO;
        } else {
            call->blob_len = x->cr_total;
        }
    } else if (err == HS_OK && call->op == HS_HTTP_OP_GET &&
               hs_crc32c(0, call->out->data + x->out_len0, call->out->len - x->out_len0) !=
                   x->crc_hdr) {
        HS_LOG_WARN("blob_get_crc_mismatch", "url='%s' len=%lld", x->url,
                    (long long)call->blob_len);
        err = HS_ECORRUPT;
    }
    if (err == HS_OK && (call->op == HS_HTTP_OP_GET || call->op == HS_HTTP_OP_HEAD)) {
        curl_off_t ttfb_us = 0;
        curl_easy_getinfo(x->easy, CURLINFO_STARTTRANSFER_TIME_T, &ttfb_us);
        hs_http_latency_note(call->base_url, (int64_t)ttfb_us);
    }
    if (err != HS_OK && call->out)
        call->out->len = x->out_len0;
    if (err != HS_OK)
        HS_LOG_DEBUG("blob_call_failed", "url='%s' status=%ld err=%s curl=%d", x->url,
                     call->http_status, hs_err_name(err), (int)rc);
    call->err = err;
}

void hs_http_client_start(struct hs_http_client *c, struct hs_http_call *call)
{
    assert(call->base_url && call->id);
    assert(call->op != HS_HTTP_OP_GET || call->out);
    struct hs_http_xfer *x = hs_xcalloc(1, sizeof *x);
    x->call = call;
    call->err = HS_EPROTO; /* until its transfer finishes */
    call->http_status = 0;
    call->replied = false;
    xfer_setup(c, x);
    curl_multi_add_handle(c->multi, x->easy);
    x->next = c->running;
    c->running = x;
}

/* Detaches a started call's transfer from the multi handle and frees it. */
static void xfer_drop(struct hs_http_client *c, struct hs_http_xfer *x)
{
    for (struct hs_http_xfer **p = &c->running; *p; p = &(*p)->next) {
        if (*p == x) {
            *p = x->next;
            break;
        }
    }
    /* also drops a DONE message of this handle still queued in the multi handle */
    curl_multi_remove_handle(c->multi, x->easy);
    c->busy[x->slot] = false;
    curl_slist_free_all(x->hdrs);
    free(x->url);
    hs_buf_release(&x->err_body);
    free(x);
}

enum hs_err hs_http_client_wait(struct hs_http_client *c, int64_t wait_us,
                                struct hs_http_call **done)
{
    *done = NULL;
    if (!c->running)
        return HS_ENOENT;
    int64_t end_ns = wait_us >= 0 ? hs_clock_mono_ns() + wait_us * 1000 : INT64_MAX;
    int running = 1;
    for (;;) {
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct hs_http_xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            xfer_finish(x, m->data.result);
            *done = x->call;
            xfer_drop(c, x); /* other DONE messages stay queued for the next wait */
            return HS_OK;
        }
        int64_t left_ns = end_ns - hs_clock_mono_ns();
        if (left_ns <= 0)
            return HS_OK;
        int ms = (int)HS_MIN((left_ns + 999999) / 1000000, (int64_t)1000);
        hs_http_client_drive(c, ms, &running);
    }
}

void hs_http_client_cancel(struct hs_http_client *c, struct hs_http_call *call)
{
    struct hs_http_xfer *x = c->running;
    while (x && x->call != call)
        x = x->next;
    if (!x)
        return;
    if (call->out)
        call->out->len = x->out_len0;
    call->err = HS_ETIMEDOUT;
    call->http_status = 0;
    HS_LOG_DEBUG("blob_call_cancelled", "url='%s' replied=%d", x->url, (int)call->replied);
    xfer_drop(c, x);
}

enum hs_err hs_http_client_run(struct hs_http_client *c, struct hs_http_call *calls, size_t n)
{
    assert(!c->running); /* started calls would be handed back here, to nobody */
    for (size_t i = 0; i < n; i++)
        hs_http_client_start(c, &calls[i]);
    struct hs_http_call *done = NULL;
    while (hs_http_client_wait(c, -1, &done) == HS_OK)
        ;
    enum hs_err first = HS_OK;
    for (size_t i = 0; i < n && first == HS_OK; i++)
        first = calls[i].err;
    return first;
}

enum hs_err hs_http_client_put(struct hs_http_client *c, const char *base_url, const char *id,
                               const void *data, size_t len)
{
    struct hs_http_call call = {
        .op = HS_HTTP_OP_PUT, .base_url = base_url, .id = id, .data = data, .len = len};
    return hs_http_client_run(c, &call, 1);
}

enum hs_err hs_http_client_get(struct hs_http_client *c, const char *base_url, const char *id,
                               struct hs_buf *out, uint32_t *crc_out)
{
    struct hs_http_call call = {.op = HS_HTTP_OP_GET, .base_url = base_url, .id = id, .out = out};
    enum hs_err err = hs_http_client_run(c, &call, 1);
    if (err == HS_OK && crc_out)
        *crc_out = call.blob_crc;
    return err;
}

enum hs_err hs_http_client_head(struct hs_http_client *c, const char *base_url, const char *id,
                                int64_t *len_out, uint32_t *crc_out)
{
    struct hs_http_call call = {.op = HS_HTTP_OP_HEAD, .base_url = base_url, .id = id};
    enum hs_err err = hs_http_client_run(c, &call, 1);
    if (err == HS_OK) {
        *len_out = call.blob_len;
        *crc_out = call.blob_crc;
    }
    return err;
}

enum hs_err hs_http_client_delete(struct hs_http_client *c, const char *base_url, const char *id)
{
    struct hs_http_call call = {.op = HS_HTTP_OP_DELETE, .base_url = base_url, .id = id};
    return hs_http_client_run(c, &call, 1);
}
