/* client.c - the CLI's libcurl plumbing: one kept-alive easy handle per command, request bodies
 * read from a FILE as curl asks for them and response bodies written out as they arrive (so a
 * 5 GiB object never sits in memory), error bodies captured for the message, a progress bar,
 * exit codes. No knowledge of what the commands mean. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/client.h"
#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define ERROR_BODY_MAX ((size_t)1 << 20)
#define MEM_BODY_MAX   ((size_t)256 << 20) /* listings, manifests, status: far below this */

struct hs_cli {
    CURL *curl;
    char *base; /* no trailing '/' */
    char *auth; /* "Authorization: Bearer ..." or NULL */
    int64_t timeout_ms;
    bool tty; /* stderr is a terminal: progress bars allowed */
};

struct transfer {
    struct hs_cli *c;
    const struct hs_cli_req *req;
    struct hs_cli_resp *resp;
    int out_errno;        /* writing req->out failed with this errno (-1: short write) */
    int64_t last_draw_ms; /* progress bar throttle */
    int64_t start_ms;
    bool drew; /* a progress line is on screen */
};

struct hs_cli *hs_cli_new(const char *base_url, const char *secret, int64_t timeout_ms)
{
    struct hs_cli *c = hs_xcalloc(1, sizeof *c);
    c->curl = curl_easy_init();
    if (!c->curl)
        HS_BUG("curl_easy_init failed");
    size_t n = strlen(base_url);
    while (n > 0 && base_url[n - 1] == '/')
        n--;
    c->base = hs_xstrndup(base_url, n);
    c->auth = secret ? hs_xasprintf("Authorization: Bearer %s", secret) : NULL;
    c->timeout_ms = timeout_ms;
    c->tty = isatty(STDERR_FILENO) == 1;
    return c;
}

void hs_cli_free(struct hs_cli *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c->base);
    free(c->auth);
    free(c);
}

void hs_cli_resp_init(struct hs_cli_resp *r)
{
    memset(r, 0, sizeof *r);
    hs_buf_init(&r->body, MEM_BODY_MAX);
}

void hs_cli_resp_release(struct hs_cli_resp *r)
{
    if (r)
        hs_buf_release(&r->body);
}

/* read(2), not fread: fread on a pipe blocks until it has filled curl's whole buffer (64 KiB)
 * or met the end, so a slow producer's first bytes would wait unsent while the gateway's idle
 * timeout ran out (it then closed the connection: "Broken pipe"). read returns whatever the
 * pipe holds, curl sends it at once as a chunk, and the upload never stalls while bytes come.
 * Nothing reads body_file through stdio before, so its FILE buffer holds nothing to lose. */
static size_t read_body(char *buf, size_t size, size_t n, void *ud)
{
    struct transfer *t = ud;
    int fd = fileno(t->req->body_file);
    for (;;) {
        ssize_t got = read(fd, buf, size * n);
        if (got >= 0)
            return (size_t)got;
        if (errno != EINTR)
            return CURL_READFUNC_ABORT;
    }
}

static size_t write_body(char *data, size_t size, size_t n, void *ud)
{
    struct transfer *t = ud;
    size_t len = size * n;
    if (t->resp->status == 0)
        curl_easy_getinfo(t->c->curl, CURLINFO_RESPONSE_CODE, &t->resp->status);
    t->resp->body_bytes += (int64_t)len;
    bool ok = t->resp->status >= 200 && t->resp->status < 300;
    if (ok && t->req->out) {
        if (fwrite(data, 1, len, t->req->out) != len) {
            t->out_errno = errno ? errno : -1;
            return 0; /* curl aborts the transfer */
        }
        return len;
    }
    /* an error body (or an in-memory answer): keep it, bounded */
    size_t room =
        ok ? len : HS_MIN(len, ERROR_BODY_MAX - HS_MIN(ERROR_BODY_MAX, t->resp->body.len));
    if (hs_buf_append(&t->resp->body, data, room) != HS_OK)
        return 0;
    return len;
}

static void copy_header(const char *line, size_t n, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0)
        return;
    size_t s = nl, e = n;
    while (s < e && (line[s] == ' ' || line[s] == '\t'))
        s++;
    while (e > s && (line[e - 1] == '\r' || line[e - 1] == '\n' || line[e - 1] == ' '))
        e--;
    snprintf(out, cap, "%.*s", (int)(e - s), line + s);
}

static size_t header_line(char *line, size_t size, size_t n, void *ud)
{
    struct transfer *t = ud;
    size_t len = size * n;
    copy_header(line, len, "ETag:", t->resp->etag, sizeof t->resp->etag);
    copy_header(line, len, "X-Request-Id:", t->resp->request_id, sizeof t->resp->request_id);
    return len;
}

static void human_bytes(double v, char *out, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < HS_ARRAY_LEN(units)) {
        v /= 1024.0;
        u++;
    }
    snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* One line on stderr, redrawn in place at most 10 times a second: a bar when the total is
 * known, the byte count otherwise. Only for transfers over HS_CLI_PROGRESS_BYTES. */
static int progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
    struct transfer *t = ud;
    bool up = ulnow > 0 || ultotal > 0;
    int64_t now_b = up ? ulnow : dlnow, total = up ? ultotal : dltotal;
    if ((total > 0 ? total : now_b) < HS_CLI_PROGRESS_BYTES)
        return 0;
    int64_t now = hs_clock_mono_ms();
    if (now - t->last_draw_ms < 100 && !(total > 0 && now_b == total))
        return 0;
    t->last_draw_ms = now;
    double secs = (double)(now - t->start_ms) / 1000.0;
    char done[32], all[32], rate[32];
    human_bytes((double)now_b, done, sizeof done);
    human_bytes(secs > 0 ? (double)now_b / secs : 0, rate, sizeof rate);
    if (total > 0) {
        char bar[31];
        int fill = (int)(30 * now_b / total);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        human_bytes((double)total, all, sizeof all);
        fprintf(stderr, "\r[%s] %3d%% %s / %s  %s/s ", bar, (int)(100 * now_b / total), done, all,
                rate);
    } else {
        fprintf(stderr, "\r%s  %s/s ", done, rate);
    }
    t->drew = true;
    return 0;
}

static struct curl_slist *build_headers(struct hs_cli *c, const struct hs_cli_req *req)
{
    /* no "Expect: 100-continue": the gateway answers early refusals anyway, and the extra
     * round trip costs a small PUT a whole RTT */
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (c->auth)
        h = curl_slist_append(h, c->auth);
    for (size_t i = 0; req->headers && req->headers[i]; i++)
        h = curl_slist_append(h, req->headers[i]);
    return h;
}

static void setup_body(CURL *e, const struct hs_cli_req *req, struct transfer *t)
{
    if (req->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else if (req->body_file) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, read_body);
        curl_easy_setopt(e, CURLOPT_READDATA, t);
        /* -1 makes curl send Transfer-Encoding: chunked */
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_file_len);
    }
}

enum hs_err hs_cli_do(struct hs_cli *c, const struct hs_cli_req *req, struct hs_cli_resp *resp)
{
    CURL *e = c->curl;
    curl_easy_reset(e); /* keeps the connection cache: the next request reuses the socket */
    struct transfer t = {.c = c, .req = req, .resp = resp, .start_ms = hs_clock_mono_ms()};
    resp->status = 0;
    char *url = hs_xasprintf("%s%s", c->base, req->path);
    struct curl_slist *h = build_headers(c, req);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    if (req->body_file && c->timeout_ms > 0) {
        /* A streamed upload lasts as long as its producer: a total deadline would cut a slow
         * pipe that still delivers. --timeout then bounds a stall instead (under 1 byte/s
         * either way for that long, also while waiting for the answer). */
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)((c->timeout_ms + 999) / 1000));
    } else {
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    }
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, resp->curl_error);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_line);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
    setup_body(e, req, &t);
    if (req->head)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(req->method, "GET") != 0 || req->body || req->body_file)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    if (c->tty) {
        curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, progress);
        curl_easy_setopt(e, CURLOPT_XFERINFODATA, &t);
    }
    CURLcode rc = curl_easy_perform(e);
    if (t.drew)
        fputc('\n', stderr);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(h);
    free(url);
    if (t.out_errno) {
        char eb[128];
        snprintf(resp->curl_error, sizeof resp->curl_error, "cannot write the output: %s",
                 t.out_errno > 0 ? hs_errno_text(t.out_errno, eb, sizeof eb) : "short write");
        return HS_EIO;
    }
    if (rc != CURLE_OK) {
        if (!resp->curl_error[0])
            snprintf(resp->curl_error, sizeof resp->curl_error, "%s", curl_easy_strerror(rc));
        if (rc == CURLE_READ_ERROR || rc == CURLE_ABORTED_BY_CALLBACK)
            return HS_EIO;
        return rc == CURLE_OPERATION_TIMEDOUT ? HS_ETIMEDOUT : HS_EUNAVAIL;
    }
    return HS_OK;
}

int hs_cli_exit_for_status(long status)
{
    if (status >= 200 && status < 300)
        return HS_CLI_EXIT_OK;
    if (status == 404)
        return HS_CLI_EXIT_NOT_FOUND;
    if (status == 409 || status == 412)
        return HS_CLI_EXIT_CONFLICT;
    return HS_CLI_EXIT_ERROR;
}

int hs_cli_fail(const char *cmd, const char *what, enum hs_err err, const struct hs_cli_resp *r)
{
    if (err != HS_OK) {
        fprintf(stderr, "hybridstore %s: %s: %s\n", cmd, what,
                r->curl_error[0] ? r->curl_error : hs_strerror(err));
        return HS_CLI_EXIT_ERROR;
    }
    /* native API errors: {"error":"ENOENT","message":"..."}; the reference API: {"detail":..} */
    json_t *j = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
    const char *code = json_string_value(json_object_get(j, "error"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    if (!msg)
        msg = json_string_value(json_object_get(j, "detail"));
    if (msg)
        fprintf(stderr, "hybridstore %s: %s: %s (HTTP %ld%s%s)\n", cmd, what, msg, r->status,
                code ? " " : "", code ? code : "");
    else
        fprintf(stderr, "hybridstore %s: %s: HTTP %ld\n", cmd, what, r->status);
    json_decref(j);
    return hs_cli_exit_for_status(r->status);
}

void hs_cli_escape(struct hs_buf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char ch = *p;
        bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~' ||
                     (keep_slash && ch == '/');
        if (plain) {
            (void)hs_buf_append(b, p, 1);
        } else {
            char enc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            (void)hs_buf_append(b, enc, 3);
        }
    }
}

const char *hs_cli_url(const char *flag)
{
    if (flag && *flag)
        return flag;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread starts, never set */
    const char *env = getenv("HYBRIDSTORE_URL");
    return env && *env ? env : HS_CLI_DEFAULT_URL;
}

char *hs_cli_read_secret(const char *cmd, const char *path)
{
    if (!path || !*path) /* NOLINTNEXTLINE(concurrency-mt-unsafe): single-threaded CLI */
        path = getenv("HS_SECRET_FILE");
    if (!path || !*path)
        path = "./data/secret";
    FILE *f = fopen(path, "re");
    if (!f) {
        fprintf(stderr,
                "hybridstore %s: cannot read the cluster secret '%s' (--secret-file or "
                "HS_SECRET_FILE)\n",
                cmd, path);
        return NULL;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
        buf[--n] = '\0';
    const char *s = buf + strspn(buf, " \t\r\n");
    if (!*s) {
        fprintf(stderr, "hybridstore %s: the secret file '%s' is empty\n", cmd, path);
        return NULL;
    }
    return hs_xstrdup(s);
}

void hs_cli_say(const char *group, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hybridstore %s %s: ", group, cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

struct hs_etcd *hs_cli_open_etcd(const char *group, const char *cmd, const char *endpoints)
{
    struct hs_etcd_opts o = {.endpoints = endpoints};
    struct hs_etcd *e = NULL;
    if (!endpoints || hs_etcd_new(&o, &e) != HS_OK) {
        hs_cli_say(group, cmd, "bad --etcd '%s'", endpoints ? endpoints : "");
        return NULL;
    }
    return e;
}
