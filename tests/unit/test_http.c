/* test_http.c - the http module against itself on 127.0.0.1: a server on a free port with a
 * tiny route table (an in-memory blob store speaking the node API, a streaming upload sink, fd
 * and callback responses, a suspended route) exercised through the blob client and raw curl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>

#include "hs/clock.h"
#include "hs/codec.h"
#include "hs/http_client.h"
#include "hs/http_server.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "http/http_int.h"

#define SECRET    "s3cret"
#define MAX_BLOBS 64

/* ---- an in-memory blob store behind the node API (what the client expects of a node) ---- */
struct mem_blob {
    char id[64];
    uint8_t *data;
    size_t len;
    uint32_t crc;
};

#define MAX_RECS 64

/* One call of the completion hook, as the test saw it. */
struct done_rec {
    char method[16];
    char route[32]; /* "" when NULL */
    unsigned status;
    int64_t duration_us, bytes_in, bytes_out;
};

struct fixture {
    struct hs_http_server *srv;
    struct hs_http_server *srv2; /* a second "node" for fan-out */
    char url[64];
    char url2[64];
    pthread_mutex_t lock; /* guards blobs, n_blobs */
    struct mem_blob blobs[MAX_BLOBS];
    size_t n_blobs;
    struct done_rec recs[MAX_RECS]; /* on_complete calls, guarded by lock */
    size_t n_recs;
    unsigned peer_ports[MAX_RECS]; /* client ports of blob GETs: one per connection; lock */
    size_t n_peer_ports;
};

/* Notes the client port of r's connection (once per connection). Caller holds f->lock. */
static void note_peer(struct fixture *f, struct hs_http_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || ci->client_addr->sa_family != AF_INET)
        return;
    unsigned port = ntohs(((const struct sockaddr_in *)ci->client_addr)->sin_port);
    for (size_t i = 0; i < f->n_peer_ports; i++)
        if (f->peer_ports[i] == port)
            return;
    if (f->n_peer_ports < MAX_RECS)
        f->peer_ports[f->n_peer_ports++] = port;
}

static struct mem_blob *find_blob(struct fixture *f, const char *id)
{
    for (size_t i = 0; i < f->n_blobs; i++)
        if (strcmp(f->blobs[i].id, id) == 0)
            return &f->blobs[i];
    return NULL;
}

struct upload {
    struct hs_buf data;
    size_t chunks;
};

static void upload_release(void *p)
{
    struct upload *u = p;
    hs_buf_release(&u->data);
}

static void upload_start(struct hs_http_req *r)
{
    struct upload *u = hs_arena_alloc(hs_http_req_arena(r), sizeof *u);
    hs_buf_init(&u->data, 64u << 20);
    hs_arena_defer(hs_http_req_arena(r), upload_release, u);
    hs_http_req_set_ctx(r, u);
}

static enum hs_err upload_body(struct hs_http_req *r, const void *data, size_t n)
{
    struct upload *u = hs_http_req_ctx(r);
    u->chunks++;
    return hs_buf_append(&u->data, data, n);
}

static void blob_put_done(struct hs_http_req *r)
{
    struct fixture *f = hs_http_req_server_ctx(r);
    struct upload *u = hs_http_req_ctx(r);
    uint32_t want = 0;
    if (!hs_http_crc32c_parse(hs_http_req_header(r, "X-HS-CRC32C"), &want) ||
        want != hs_crc32c(0, u->data.data, u->data.len)) {
        hs_http_respond_error_status(r, 400, HS_ECORRUPT, "crc mismatch");
        return;
    }
    pthread_mutex_lock(&f->lock);
    struct mem_blob *b = find_blob(f, hs_http_req_rest(r));
    if (!b && f->n_blobs < MAX_BLOBS) {
        b = &f->blobs[f->n_blobs++];
        snprintf(b->id, sizeof b->id, "%s", hs_http_req_rest(r));
    }
    free(b->data);
    b->len = u->data.len;
    b->data = hs_buf_detach(&u->data, &b->len);
    b->crc = want;
    pthread_mutex_unlock(&f->lock);
    hs_http_respond_buf(r, 201, NULL, "", 0);
}

static void blob_get_done(struct hs_http_req *r)
{
    struct fixture *f = hs_http_req_server_ctx(r);
    pthread_mutex_lock(&f->lock);
    note_peer(f, r);
    struct mem_blob *b = find_blob(f, hs_http_req_rest(r));
    if (!b) {
        pthread_mutex_unlock(&f->lock);
        hs_http_respond_error(r, HS_ENOENT, "no blob '%s'", hs_http_req_rest(r));
        return;
    }
    char crc[16];
    /* "bad.*" ids advertise a wrong CRC: the client must notice */
    snprintf(crc, sizeof crc, "%08x", strncmp(b->id, "bad", 3) == 0 ? b->crc ^ 1u : b->crc);
    hs_http_add_header(r, "X-HS-CRC32C", crc);
    hs_http_respond_buf(r, 200, "application/octet-stream", b->data, b->len);
    pthread_mutex_unlock(&f->lock);
}

static void blob_delete_done(struct hs_http_req *r)
{
    struct fixture *f = hs_http_req_server_ctx(r);
    pthread_mutex_lock(&f->lock);
    struct mem_blob *b = find_blob(f, hs_http_req_rest(r));
    if (b) {
        free(b->data);
        *b = f->blobs[--f->n_blobs];
    }
    pthread_mutex_unlock(&f->lock);
    if (b)
        hs_http_respond_buf(r, 204, NULL, "", 0);
    else
        hs_http_respond_error(r, HS_ENOENT, "no blob");
}

static int cmp_blob(const void *a, const void *b)
{
    return strcmp(((const struct mem_blob *)a)->id, ((const struct mem_blob *)b)->id);
}

static void blob_list_done(struct hs_http_req *r)
{
    struct fixture *f = hs_http_req_server_ctx(r);
    const char *after = hs_http_req_query(r, "after");
    const char *lim = hs_http_req_query(r, "limit");
    size_t limit = lim ? strtoul(lim, NULL, 10) : 1000;
    struct hs_buf out;
    hs_buf_init(&out, 0);
    hs_buf_printf(&out, "{\"blobs\":[");
    pthread_mutex_lock(&f->lock);
    qsort(f->blobs, f->n_blobs, sizeof f->blobs[0], cmp_blob);
    size_t emitted = 0;
    const char *last = NULL;
    bool more = false;
    for (size_t i = 0; i < f->n_blobs; i++) {
        if (after && *after && strcmp(f->blobs[i].id, after) <= 0)
            continue;
        if (emitted == limit) {
            more = true;
            break;
        }
        hs_buf_printf(&out, "%s{\"id\":\"%s\",\"size\":%zu,\"crc32c\":\"%08x\"}",
                      emitted ? "," : "", f->blobs[i].id, f->blobs[i].len, f->blobs[i].crc);
        last = f->blobs[i].id;
        emitted++;
    }
    if (more)
        hs_buf_printf(&out, "],\"next_after\":\"%s\"}", last);
    else
        hs_buf_printf(&out, "],\"next_after\":null}");
    pthread_mutex_unlock(&f->lock);
    hs_http_respond_buf(r, 200, "application/json", out.data, out.len);
    hs_buf_release(&out);
}

static void health_done(struct hs_http_req *r)
{
    hs_http_respond_buf(r, 200, "application/json", "{\"status\":\"ok\"}", 15);
}

static void stats_done(struct hs_http_req *r)
{
    static const char body[] = "{\"blobs\":3,\"scrub\":{\"verified_blobs\":7,\"quarantined\":1}}";
    hs_http_respond_buf(r, 200, "application/json", body, sizeof body - 1);
}

static void upload_sink_done(struct hs_http_req *r)
{
    struct upload *u = hs_http_req_ctx(r);
    char text[128];
    int n = snprintf(text, sizeof text, "{\"bytes\":%zu,\"chunks\":%zu,\"crc\":\"%08x\"}",
                     u->data.len, u->chunks, hs_crc32c(0, u->data.data, u->data.len));
    hs_http_respond_buf(r, 200, "application/json", text, (size_t)n);
}

static void file_done(struct hs_http_req *r)
{
    char path[] = "/tmp/hs_test_http_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, "0123456789abcdef", 16), 16);
    hs_http_respond_fd(r, 200, "text/plain", fd, 4, 8); /* "456789ab" */
}

static ssize_t count_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    (void)ctx;
    const uint64_t total = 100000;
    if (pos >= total)
        return HS_HTTP_READ_END;
    size_t n = (size_t)HS_MIN((uint64_t)max, total - pos);
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + (pos + i) % 26);
    return (ssize_t)n;
}

static void stream_done(struct hs_http_req *r)
{
    hs_http_respond_callback(r, 200, "text/plain", -1, count_read, NULL, NULL);
}

static void conflict_done(struct hs_http_req *r)
{
    hs_http_respond_error(r, HS_EEXIST, "blob '%s' exists with different content", "x\x01y");
}

static void *answer_later(void *p)
{
    struct hs_http_req *r = p;
    hs_clock_sleep_ms(150, NULL);
    hs_http_respond_buf(r, 200, "text/plain", "late", 4);
    hs_http_resume(r);
    return NULL;
}

/* Answers from another thread after 150 ms: the pool thread is free meanwhile. */
static void slow_done(struct hs_http_req *r)
{
    pthread_t t;
    hs_http_suspend(r);
    assert_int_equal(pthread_create(&t, NULL, answer_later, r), 0);
    pthread_detach(t);
}

static bool guard(struct hs_http_req *r)
{
    return hs_http_req_bearer_matches(r, SECRET);
}

static const struct hs_http_route routes[] = {
    {"PUT", "/v1/blobs/", HS_HTTP_PREFIX, 0, upload_start, upload_body, blob_put_done},
    {"GET", "/v1/blobs/", HS_HTTP_PREFIX, 0, NULL, NULL, blob_get_done},
    {"DELETE", "/v1/blobs/", HS_HTTP_PREFIX, 0, NULL, NULL, blob_delete_done},
    {"GET", "/v1/blobs", HS_HTTP_EXACT, 0, NULL, NULL, blob_list_done},
    {"GET", "/v1/health", HS_HTTP_EXACT, HS_HTTP_ROUTE_PUBLIC, NULL, NULL, health_done},
    {"GET", "/v1/stats", HS_HTTP_EXACT, 0, NULL, NULL, stats_done},
    {"POST", "/sink", HS_HTTP_EXACT, 0, upload_start, upload_body, upload_sink_done},
    {"GET", "/file", HS_HTTP_EXACT, 0, NULL, NULL, file_done},
    {"GET", "/stream", HS_HTTP_EXACT, 0, NULL, NULL, stream_done},
    {"GET", "/conflict", HS_HTTP_EXACT, 0, NULL, NULL, conflict_done},
    {"GET", "/slow", HS_HTTP_EXACT, 0, NULL, NULL, slow_done},
};

static void on_complete(void *ctx, const char *method, const char *route, unsigned status,
                        int64_t duration_us, int64_t bytes_in, int64_t bytes_out)
{
    struct fixture *f = ctx;
    pthread_mutex_lock(&f->lock);
    if (f->n_recs < MAX_RECS) {
        struct done_rec *d = &f->recs[f->n_recs++];
        snprintf(d->method, sizeof d->method, "%s", method);
        snprintf(d->route, sizeof d->route, "%s", route ? route : "");
        d->status = status;
        d->duration_us = duration_us;
        d->bytes_in = bytes_in;
        d->bytes_out = bytes_out;
    }
    pthread_mutex_unlock(&f->lock);
}

static struct hs_http_server *start_server(struct fixture *f, char *url, size_t urllen)
{
    struct hs_http_server_opts o = {.host = "127.0.0.1",
                                    .threads = 2,
                                    .connection_timeout_s = 10,
                                    .connection_memory_bytes = 64 * 1024,
                                    .routes = routes,
                                    .n_routes = HS_ARRAY_LEN(routes),
                                    .guard = guard,
                                    .ctx = f,
                                    .on_complete = on_complete};
    struct hs_http_server *s = NULL;
    assert_int_equal(hs_http_server_start(&o, &s), HS_OK);
    snprintf(url, urllen, "http://127.0.0.1:%u", hs_http_server_port(s));
    return s;
}

static int setup(void **state)
{
    hs_log_init("test", HS_LOG_ERROR);
    struct fixture *f = hs_xcalloc(1, sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
    f->srv = start_server(f, f->url, sizeof f->url);
    f->srv2 = start_server(f, f->url2, sizeof f->url2);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(hs_http_server_stop(f->srv, 2000), 0);
    assert_int_equal(hs_http_server_stop(f->srv2, 2000), 0);
    for (size_t i = 0; i < f->n_blobs; i++)
        free(f->blobs[i].data);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return 0;
}

static struct hs_http_client *client(const char *secret)
{
    struct hs_http_client_opts o = {.secret = secret, .timeout_ms = 5000};
    struct hs_http_client *c = NULL;
    assert_int_equal(hs_http_client_new(&o, &c), HS_OK);
    return c;
}

/* ---- raw requests with curl, to see headers and bodies as they are on the wire ---- */
struct raw_reply {
    long status;
    struct hs_buf body;
    char request_id[80];
    char hs_error[32];
};

static size_t raw_write(char *d, size_t s, size_t n, void *ud)
{
    struct raw_reply *rr = ud;
    assert_int_equal(hs_buf_append(&rr->body, d, s * n), HS_OK);
    return s * n;
}

static void grab_header(const char *line, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (n > nl && strncasecmp(line, name, nl) == 0) {
        size_t e = n;
        while (e > nl && (line[e - 1] == '\r' || line[e - 1] == '\n'))
            e--;
        snprintf(out, outlen, "%.*s", (int)(e - nl), line + nl);
    }
}

static size_t raw_header(char *line, size_t s, size_t n, void *ud)
{
    struct raw_reply *rr = ud;
    grab_header(line, s * n, "X-Request-Id: ", rr->request_id, sizeof rr->request_id);
    grab_header(line, s * n, "X-HS-Error: ", rr->hs_error, sizeof rr->hs_error);
    return s * n;
}

static void raw(const char *method, const char *url, const char *extra_header, const void *body,
                size_t len, struct raw_reply *rr)
{
    memset(rr, 0, sizeof *rr);
    hs_buf_init(&rr->body, 0);
    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (extra_header)
        h = curl_slist_append(h, extra_header);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, raw_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, rr);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, raw_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, rr);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    assert_int_equal(curl_easy_perform(e), CURLE_OK);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &rr->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    assert_int_equal(hs_buf_append(&rr->body, "", 1), HS_OK); /* NUL for string checks */
}

static void unknown_route_answers_404_with_json_error_and_request_id(void **state)
{
    struct fixture *f = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/nowhere", f->url);
    struct raw_reply rr;
    raw("GET", url, "Authorization: Bearer " SECRET, NULL, 0, &rr);
    assert_int_equal(rr.status, 404);
    assert_string_equal(rr.hs_error, "ENOENT");
    json_t *j = json_loads((const char *)rr.body.data, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "ENOENT");
    assert_non_null(json_string_value(json_object_get(j, "message")));
    assert_int_equal(strlen(rr.request_id), 16);
    assert_int_equal(strspn(rr.request_id, "0123456789abcdef"), 16);
    assert_string_equal(json_string_value(json_object_get(j, "request_id")), rr.request_id);
    json_decref(j);
    hs_buf_release(&rr.body);
    /* minted ids differ from request to request */
    char first[80];
    snprintf(first, sizeof first, "%s", rr.request_id);
    for (int i = 0; i < 3; i++) {
        raw("GET", url, "Authorization: Bearer " SECRET, NULL, 0, &rr);
        assert_int_equal(strspn(rr.request_id, "0123456789abcdef"), 16);
        assert_string_not_equal(rr.request_id, first);
        hs_buf_release(&rr.body);
    }
}

static void client_request_id_is_echoed_and_errors_keep_their_status(void **state)
{
    struct fixture *f = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/conflict", f->url);
    struct raw_reply rr;
    raw("GET", url, "X-Request-Id: abc-123", NULL, 0, &rr);
    assert_int_equal(rr.status, 401); /* the guard runs first */
    assert_string_equal(rr.request_id, "abc-123");
    hs_buf_release(&rr.body);
    /* with the secret the handler runs: its error keeps its own status and name */
    struct hs_http_client *c = client(SECRET);
    struct hs_buf body;
    hs_buf_init(&body, 0);
    long status = 0;
    assert_int_equal(hs_http_client_request(c, "GET", f->url, "/conflict", &body, &status), HS_OK);
    assert_int_equal(status, 409);
    json_t *j = json_loadb((const char *)body.data, body.len, 0, NULL);
    assert_non_null(j); /* the control byte in the message did not break the JSON */
    assert_string_equal(json_string_value(json_object_get(j, "error")), "EEXIST");
    json_decref(j);
    hs_buf_release(&body);
    hs_http_client_free(c);
}

static void wrong_method_on_known_path_answers_405(void **state)
{
    struct fixture *f = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/v1/health", f->url);
    struct raw_reply rr;
    raw("POST", url, NULL, "x", 1, &rr);
    assert_int_equal(rr.status, 405);
    assert_string_equal(rr.hs_error, "EINVAL");
    hs_buf_release(&rr.body);
}

static void guard_rejects_wrong_secret_but_public_route_is_open(void **state)
{
    struct fixture *f = *state;
    struct hs_http_client *bad = client("wrong");
    struct hs_buf out;
    hs_buf_init(&out, 0);
    assert_int_equal(hs_http_client_get(bad, f->url, "00ff", &out, NULL), HS_EAUTH);
    long status = 0;
    assert_int_equal(hs_http_client_request(bad, "GET", f->url, "/v1/health", &out, &status),
                     HS_OK);
    assert_int_equal(status, 200);
    hs_buf_release(&out);
    hs_http_client_free(bad);
}

static void encoded_nul_in_path_or_query_is_400_before_any_handler(void **state)
{
    struct fixture *f = *state;
    static const char *const targets[] = {"/v1/blobs/ab%00cd", "/v1/blobs/ab?x=%00",
                                          "/v1/blobs/ab?x%00y=1", "/nowhere%00"};
    for (size_t i = 0; i < HS_ARRAY_LEN(targets); i++) {
        char url[128];
        snprintf(url, sizeof url, "%s%s", f->url, targets[i]);
        struct raw_reply rr;
        raw("PUT", url, "X-HS-CRC32C: 352441c2", "abc", 3, &rr); /* guard not even asked */
        assert_int_equal(rr.status, 400);
        assert_string_equal(rr.hs_error, "EINVAL");
        hs_buf_release(&rr.body);
    }
    pthread_mutex_lock(&f->lock);
    assert_int_equal(f->n_blobs, 0); /* no handler ran: "ab" was never stored */
    pthread_mutex_unlock(&f->lock);
}

/* A raw request on a fresh socket; the reply (NUL-terminated, truncated to cap) once the server
 * closes or 5 s pass. */
static void raw_socket(const char *url, const char *req, char *reply, size_t cap)
{
    unsigned port = 0;
    assert_int_equal(sscanf(url, "http://127.0.0.1:%u", &port), 1);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, reply + got, cap - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    reply[got] = '\0';
    close(fd);
}

static void conflicting_content_lengths_are_400_and_close(void **state)
{
    struct fixture *f = *state;
    char reply[2048];
    raw_socket(f->url,
               "POST /sink HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " SECRET
               "\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
               reply, sizeof reply);
    assert_non_null(strstr(reply, "HTTP/1.1 400"));
    assert_non_null(strstr(reply, "EINVAL"));
    assert_null(strstr(reply, "HTTP/1.1 200")); /* nothing answered the sink */
    /* the same length twice is one length */
    raw_socket(f->url,
               "POST /sink HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " SECRET
               "\r\nContent-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
               reply, sizeof reply);
    assert_null(strstr(reply, "conflicting"));
}

static void headers_trickled_past_the_deadline_are_cut(void **state)
{
    struct fixture *f = *state;
    struct hs_http_server_opts o = {.host = "127.0.0.1",
                                    .threads = 2,
                                    .connection_timeout_s = 60,
                                    .header_timeout_s = 1,
                                    .routes = routes,
                                    .n_routes = HS_ARRAY_LEN(routes),
                                    .ctx = f};
    struct hs_http_server *s = NULL;
    assert_int_equal(hs_http_server_start(&o, &s), HS_OK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(hs_http_server_port(s))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {.tv_usec = 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const char *head = "GET /v1/health HTTP/1.1\r\nHost: x\r\n";
    assert_true(send(fd, head, strlen(head), MSG_NOSIGNAL) > 0);
    /* one header byte every 200 ms keeps the idle timeout (60 s) from ever firing; only the
     * header deadline (1 s) can end this. Bounded at 30 s for a loaded machine. */
    bool cut = false;
    int64_t give_up = hs_clock_mono_ms() + 30000;
    while (!cut && hs_clock_mono_ms() < give_up) {
        char c;
        if (send(fd, "X", 1, MSG_NOSIGNAL) != 1 || recv(fd, &c, 1, 0) == 0)
            cut = true;
    }
    close(fd);
    assert_true(cut);
    /* a normal request on a new connection is served */
    char url[64], reply[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", hs_http_server_port(s));
    raw_socket(url, "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", reply,
               sizeof reply);
    assert_non_null(strstr(reply, "HTTP/1.1 200"));
    assert_int_equal(hs_http_server_stop(s, 2000), 0);
}

static void early_rejection_of_a_small_body_keeps_the_connection(void **state)
{
    struct fixture *f = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/sink", f->url);
    char body[2000];
    memset(body, 'q', sizeof body);
    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    struct raw_reply rr;
    memset(&rr, 0, sizeof rr);
    hs_buf_init(&rr.body, 0);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)sizeof body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, raw_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &rr);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(curl_easy_perform(e), CURLE_OK); /* no secret: 401 */
        long status = 0, connects = -1;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
        assert_int_equal(status, 401);
        assert_int_equal(connects, i == 0 ? 1 : 0); /* the same connection is reused */
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    hs_buf_release(&rr.body);
}

static void early_rejection_of_a_bodyless_request_keeps_the_connection(void **state)
{
    struct fixture *f = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/sink", f->url);
    CURL *e = curl_easy_init();
    struct raw_reply rr;
    memset(&rr, 0, sizeof rr);
    hs_buf_init(&rr.body, 0);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "POST"); /* no body, no Content-Length */
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, raw_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &rr);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(curl_easy_perform(e), CURLE_OK); /* no secret: 401 */
        long status = 0, connects = -1;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
        assert_int_equal(status, 401);
        assert_int_equal(connects, i == 0 ? 1 : 0); /* the same connection is reused */
    }
    curl_easy_cleanup(e);
    hs_buf_release(&rr.body);
}

static void streaming_upload_arrives_in_many_chunks_intact(void **state)
{
    struct fixture *f = *state;
    size_t len = 3u << 20;
    uint8_t *data = hs_xmalloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    char url[128];
    snprintf(url, sizeof url, "%s/sink", f->url);
    struct raw_reply rr;
    raw("POST", url, "Authorization: Bearer " SECRET, data, len, &rr);
    assert_int_equal(rr.status, 200);
    json_t *j = json_loads((const char *)rr.body.data, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "bytes")), (json_int_t)len);
    /* a 64 KiB connection memory limit means the body cannot arrive in one piece */
    assert_true(json_integer_value(json_object_get(j, "chunks")) > 8);
    char crc[16];
    snprintf(crc, sizeof crc, "%08x", hs_crc32c(0, data, len));
    assert_string_equal(json_string_value(json_object_get(j, "crc")), crc);
    json_decref(j);
    hs_buf_release(&rr.body);
    free(data);
}

static void crc32c_matches_the_castagnoli_check_value(void **state)
{
    (void)state;
    assert_int_equal(hs_crc32c(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(hs_crc32c(0, "", 0), 0);
    uint32_t v = 0;
    assert_true(hs_http_crc32c_parse("e3069283", &v));
    assert_int_equal(v, 0xe3069283u);
    assert_false(hs_http_crc32c_parse("E3069283", &v));
    assert_false(hs_http_crc32c_parse("e306928", &v));
}

static void blob_client_put_get_head_delete_round_trip(void **state)
{
    struct fixture *f = *state;
    struct hs_http_client *c = client(SECRET);
    const char payload[] = "hello, blob";
    assert_int_equal(hs_http_client_put(c, f->url, "0a.1.2", payload, sizeof payload), HS_OK);
    struct hs_buf out;
    hs_buf_init(&out, 0);
    hs_buf_append(&out, "pre", 3);
    uint32_t crc = 0;
    assert_int_equal(hs_http_client_get(c, f->url, "0a.1.2", &out, &crc), HS_OK);
    assert_int_equal(out.len, 3 + sizeof payload);
    assert_memory_equal(out.data + 3, payload, sizeof payload);
    assert_int_equal(crc, hs_crc32c(0, payload, sizeof payload));
    int64_t len = 0;
    uint32_t hcrc = 0;
    assert_int_equal(hs_http_client_head(c, f->url, "0a.1.2", &len, &hcrc), HS_OK);
    assert_int_equal(len, sizeof payload);
    assert_int_equal(hcrc, crc);
    assert_int_equal(hs_http_client_delete(c, f->url, "0a.1.2"), HS_OK);
    assert_int_equal(hs_http_client_delete(c, f->url, "0a.1.2"), HS_ENOENT);
    assert_int_equal(hs_http_client_get(c, f->url, "0a.1.2", &out, NULL), HS_ENOENT);
    assert_int_equal(out.len, 3 + sizeof payload); /* untouched on failure */
    hs_buf_release(&out);
    hs_http_client_free(c);
}

/* One client reading in turn from six nodes (a gateway thread's replicated reads) keeps one
 * connection to each: libcurl's default cache of 4 connections for a lone transfer closed the
 * least recently used one and reconnected for every GET of this round robin. */
static void blob_client_keeps_a_connection_to_each_of_six_nodes(void **state)
{
    struct fixture *f = *state;
    enum { NODES = 6, ROUNDS = 4 };
    struct hs_http_server *srv[NODES];
    char url[NODES][64];
    for (size_t i = 0; i < NODES; i++)
        srv[i] = start_server(f, url[i], sizeof url[i]);
    struct hs_http_client *c = client(SECRET);
    const char payload[] = "replica";
    assert_int_equal(hs_http_client_put(c, url[0], "0b.1.2", payload, sizeof payload), HS_OK);
    pthread_mutex_lock(&f->lock);
    f->n_peer_ports = 0;
    pthread_mutex_unlock(&f->lock);
    struct hs_buf out;
    hs_buf_init(&out, 0);
    for (size_t round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < NODES; i++) {
            hs_buf_reset(&out);
            assert_int_equal(hs_http_client_get(c, url[i], "0b.1.2", &out, NULL), HS_OK);
        }
    }
    pthread_mutex_lock(&f->lock);
    size_t conns = f->n_peer_ports;
    pthread_mutex_unlock(&f->lock);
    assert_int_equal(conns, NODES); /* not NODES * ROUNDS */
    hs_buf_release(&out);
    hs_http_client_free(c);
    for (size_t i = 0; i < NODES; i++)
        assert_int_equal(hs_http_server_stop(srv[i], 2000), 0);
}

/* A listening socket nobody accepts on: the kernel completes the handshake and takes the
 * request, and no answer ever comes (a stopped node). *port_out gets its port. */
static int silent_listener(unsigned *port_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port_out = ntohs(a.sin_port);
    return fd;
}

static void started_calls_end_one_at_a_time_and_a_silent_one_can_be_cancelled(void **state)
{
    struct fixture *f = *state;
    struct hs_http_client *c = client(SECRET);
    const char payload[] = "first answer wins";
    assert_int_equal(hs_http_client_put(c, f->url, "0c.1", payload, sizeof payload), HS_OK);
    unsigned port = 0;
    int lfd = silent_listener(&port);
    char silent[64];
    snprintf(silent, sizeof silent, "http://127.0.0.1:%u", port);
    struct hs_buf out_a, out_b;
    hs_buf_init(&out_a, 0);
    hs_buf_init(&out_b, 0);
    hs_buf_append(&out_a, "pre", 3);
    struct hs_http_call a = {.op = HS_HTTP_OP_GET, .base_url = silent, .id = "0c.1", .out = &out_a};
    struct hs_http_call b = {.op = HS_HTTP_OP_GET, .base_url = f->url, .id = "0c.1", .out = &out_b};
    hs_http_client_start(c, &a);
    hs_http_client_start(c, &b);
    struct hs_http_call *done = NULL;
    assert_int_equal(hs_http_client_wait(c, -1, &done), HS_OK);
    assert_ptr_equal(done, &b);
    assert_int_equal(b.err, HS_OK);
    assert_true(b.replied);
    assert_memory_equal(out_b.data, payload, sizeof payload);
    /* the silent one neither ends nor answers within a bounded wait */
    assert_int_equal(hs_http_client_wait(c, 50000, &done), HS_OK);
    assert_null(done);
    assert_false(a.replied);
    hs_http_client_cancel(c, &a);
    assert_int_equal(a.err, HS_ETIMEDOUT);
    assert_int_equal(out_a.len, 3);
    assert_int_equal(hs_http_client_wait(c, -1, &done), HS_ENOENT);
    assert_null(done);
    /* the pool's handles are free again for the blocking calls */
    hs_buf_reset(&out_b);
    assert_int_equal(hs_http_client_get(c, f->url, "0c.1", &out_b, NULL), HS_OK);
    assert_int_equal(out_b.len, sizeof payload);
    /* the successful GETs fed the latency estimate of that node */
    int64_t us = hs_http_latency_hedge_us(f->url, 999999999, 0, INT64_MAX);
    assert_true(us > 0 && us < 999999999);
    close(lfd);
    hs_buf_release(&out_a);
    hs_buf_release(&out_b);
    hs_http_client_free(c);
}

static void hedge_delay_follows_a_node_latency_and_is_clamped(void **state)
{
    (void)state;
    const char *n1 = "http://lat-test-1:1", *n2 = "http://lat-test-2:1";
    for (int i = 0; i < 50; i++)
        hs_http_latency_note(n1, 1000);
    int64_t steady = hs_http_latency_hedge_us(n1, 0, 0, INT64_MAX);
    assert_true(steady >= 1000 && steady < 1500);
    for (int i = 0; i < 5; i++)
        hs_http_latency_note(n1, 20000);
    assert_true(hs_http_latency_hedge_us(n1, 0, 0, INT64_MAX) > 10000); /* jitter widens it */
    assert_int_equal(hs_http_latency_hedge_us(n1, 0, 0, 3000), 3000);
    assert_int_equal(hs_http_latency_hedge_us(n1, 0, 90000000, INT64_MAX), 90000000);
    /* a node never measured gets the estimate over all nodes, not the default */
    assert_true(hs_http_latency_hedge_us(n2, -7, 0, INT64_MAX) >= 0);
}

static void blob_client_get_reports_crc_mismatch_as_corrupt(void **state)
{
    struct fixture *f = *state;
    struct hs_http_client *c = client(SECRET);
    assert_int_equal(hs_http_client_put(c, f->url, "bad.1", "payload", 7), HS_OK);
    struct hs_buf out;
    hs_buf_init(&out, 0);
    assert_int_equal(hs_http_client_get(c, f->url, "bad.1", &out, NULL), HS_ECORRUPT);
    assert_int_equal(out.len, 0);
    /* a PUT whose CRC header is wrong is refused by the server */
    struct hs_http_call call = {.op = HS_HTTP_OP_PUT,
                                .base_url = f->url,
                                .id = "0b",
                                .data = "abc",
                                .len = 3,
                                .have_crc = true,
                                .crc = 1234};
    assert_int_equal(hs_http_client_run(c, &call, 1), HS_ECORRUPT);
    assert_int_equal(call.http_status, 400);
    hs_buf_release(&out);
    hs_http_client_free(c);
}

static void blob_client_get_larger_than_buffer_cap_is_too_big(void **state)
{
    struct fixture *f = *state;
    struct hs_http_client *c = client(SECRET);
    char big[1000];
    memset(big, 'z', sizeof big);
    assert_int_equal(hs_http_client_put(c, f->url, "0c", big, sizeof big), HS_OK);
    struct hs_buf out;
    hs_buf_init(&out, 100);
    assert_int_equal(hs_http_client_get(c, f->url, "0c", &out, NULL), HS_ETOOBIG);
    assert_int_equal(out.len, 0);
    hs_buf_release(&out);
    hs_http_client_free(c);
}

static void count_cb(void *ctx, const char *id, int64_t len, uint32_t crc)
{
    (void)id;
    (void)crc;
    int64_t *acc = ctx;
    acc[0]++;
    acc[1] += len;
}

static void blob_client_list_pages_cover_every_blob_once(void **state)
{
    struct fixture *f = *state;
    struct hs_http_client *c = client(SECRET);
    for (int i = 0; i < 7; i++) {
        char id[16];
        snprintf(id, sizeof id, "1%02d", i);
        assert_int_equal(hs_http_client_put(c, f->url, id, id, 3), HS_OK);
    }
    int64_t acc[2] = {0, 0};
    char *after = NULL;
    int pages = 0;
    do {
        char *next = NULL;
        assert_int_equal(hs_http_client_list(c, f->url, after, 3, count_cb, acc, &next), HS_OK);
        free(after);
        after = next;
        pages++;
    } while (after);
    assert_int_equal(acc[0], 7);
    assert_int_equal(acc[1], 21);
    assert_int_equal(pages, 3);
    hs_http_client_free(c);
}

static void fanout_runs_calls_to_several_nodes_in_parallel_with_own_results(void **state)
{
    struct fixture *f = *state;
    struct hs_http_client *c = client(SECRET);
    char data[6][100];
    char ids[6][16];
    struct hs_http_call calls[6];
    memset(calls, 0, sizeof calls);
    for (int i = 0; i < 6; i++) {
        memset(data[i], 'a' + i, sizeof data[i]);
        snprintf(ids[i], sizeof ids[i], "2%d", i);
        calls[i] = (struct hs_http_call){.op = HS_HTTP_OP_PUT,
                                         .base_url = i % 2 ? f->url2 : f->url,
                                         .id = ids[i],
                                         .data = data[i],
                                         .len = sizeof data[i]};
    }
    assert_int_equal(hs_http_client_run(c, calls, 6), HS_OK);
    for (int i = 0; i < 6; i++)
        assert_int_equal(calls[i].http_status, 201);
    /* read them back in one fan-out, one of them missing */
    struct hs_buf outs[6];
    for (int i = 0; i < 6; i++) {
        hs_buf_init(&outs[i], 0);
        calls[i] = (struct hs_http_call){
            .op = HS_HTTP_OP_GET, .base_url = f->url, .id = ids[i], .out = &outs[i]};
    }
    calls[3].id = "ffff";
    assert_int_equal(hs_http_client_run(c, calls, 6), HS_ENOENT);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(calls[i].err, i == 3 ? HS_ENOENT : HS_OK);
        if (i != 3) {
            assert_int_equal(outs[i].len, 100);
            assert_int_equal(outs[i].data[0], 'a' + i);
        }
        hs_buf_release(&outs[i]);
    }
    hs_http_client_free(c);
}

static void suspended_requests_are_answered_in_parallel_from_other_threads(void **state)
{
    struct fixture *f = *state;
    CURLM *m = curl_multi_init();
    CURL *e[8];
    struct raw_reply rr[8];
    char url[128];
    snprintf(url, sizeof url, "%s/slow", f->url);
    struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " SECRET);
    for (int i = 0; i < 8; i++) {
        memset(&rr[i], 0, sizeof rr[i]);
        hs_buf_init(&rr[i].body, 0);
        e[i] = curl_easy_init();
        curl_easy_setopt(e[i], CURLOPT_URL, url);
        curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e[i], CURLOPT_WRITEFUNCTION, raw_write);
        curl_easy_setopt(e[i], CURLOPT_WRITEDATA, &rr[i]);
        curl_multi_add_handle(m, e[i]);
    }
    int64_t t0 = hs_clock_mono_ms();
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    int64_t ms = hs_clock_mono_ms() - t0;
    /* 8 x 150 ms on a 2-thread pool: holding a thread per request would take >= 600 ms */
    assert_true(ms < 450);
    for (int i = 0; i < 8; i++) {
        long st = 0;
        curl_easy_getinfo(e[i], CURLINFO_RESPONSE_CODE, &st);
        assert_int_equal(st, 200);
        assert_memory_equal(rr[i].body.data, "late", 4);
        curl_multi_remove_handle(m, e[i]);
        curl_easy_cleanup(e[i]);
        hs_buf_release(&rr[i].body);
    }
    curl_slist_free_all(h);
    curl_multi_cleanup(m);
}

static void client_timeout_is_reported_as_timed_out(void **state)
{
    struct fixture *f = *state;
    struct hs_http_client_opts o = {.secret = SECRET, .timeout_ms = 50};
    struct hs_http_client *c = NULL;
    assert_int_equal(hs_http_client_new(&o, &c), HS_OK);
    struct hs_buf body;
    hs_buf_init(&body, 0);
    long status = -1;
    assert_int_equal(hs_http_client_request(c, "GET", f->url, "/slow", &body, &status),
                     HS_ETIMEDOUT);
    assert_int_equal(status, -1); /* untouched on failure */
    hs_buf_release(&body);
    hs_http_client_free(c);
}

static void fd_and_callback_responses_send_exact_bytes(void **state)
{
    struct fixture *f = *state;
    struct hs_http_client *c = client(SECRET);
    struct hs_buf body;
    hs_buf_init(&body, 0);
    long status = 0;
    assert_int_equal(hs_http_client_request(c, "GET", f->url, "/file", &body, &status), HS_OK);
    assert_int_equal(status, 200);
    assert_int_equal(body.len, 8);
    assert_memory_equal(body.data, "456789ab", 8);
    hs_buf_reset(&body);
    assert_int_equal(hs_http_client_request(c, "GET", f->url, "/stream", &body, &status), HS_OK);
    assert_int_equal(body.len, 100000);
    assert_int_equal(body.data[99999], 'a' + 99999 % 26);
    hs_buf_reset(&body);
    assert_int_equal(hs_http_client_request(c, "HEAD", f->url, "/file", &body, &status), HS_OK);
    assert_int_equal(status, 200);
    assert_int_equal(body.len, 0);
    hs_buf_release(&body);
    hs_http_client_free(c);
}

/* The hook runs after the response went out, so the client may see the answer first: wait
 * (bounded) for the n-th record. */
static struct done_rec wait_rec(struct fixture *f, size_t n)
{
    int64_t deadline = hs_clock_mono_ms() + 5000;
    for (;;) {
        pthread_mutex_lock(&f->lock);
        bool have = f->n_recs >= n;
        struct done_rec d = have ? f->recs[n - 1] : (struct done_rec){0};
        pthread_mutex_unlock(&f->lock);
        if (have)
            return d;
        assert_true(hs_clock_mono_ms() < deadline);
        hs_clock_sleep_ms(1, NULL);
    }
}

static void completion_hook_reports_route_status_duration_and_bytes(void **state)
{
    struct fixture *f = *state;
    char url[128];
    struct raw_reply rr;
    static char body[70000];
    memset(body, 'x', sizeof body);
    snprintf(url, sizeof url, "%s/sink", f->url);
    raw("POST", url, "Authorization: Bearer " SECRET, body, sizeof body, &rr);
    assert_int_equal(rr.status, 200);
    struct done_rec d = wait_rec(f, 1);
    assert_string_equal(d.method, "POST");
    assert_string_equal(d.route, "/sink");
    assert_int_equal(d.status, 200);
    assert_int_equal(d.bytes_in, (int64_t)sizeof body);
    assert_int_equal(d.bytes_out, (int64_t)rr.body.len - 1); /* raw() appended a NUL */
    assert_true(d.duration_us > 0);
    hs_buf_release(&rr.body);
    /* a streamed response counts what its callback produced */
    snprintf(url, sizeof url, "%s/stream", f->url);
    raw("GET", url, "Authorization: Bearer " SECRET, NULL, 0, &rr);
    d = wait_rec(f, 2);
    assert_string_equal(d.route, "/stream");
    assert_int_equal(d.bytes_in, 0);
    assert_int_equal(d.bytes_out, 100000);
    hs_buf_release(&rr.body);
    /* no route: route NULL, the 404 still counted */
    snprintf(url, sizeof url, "%s/nowhere", f->url);
    raw("GET", url, NULL, NULL, 0, &rr);
    d = wait_rec(f, 3);
    assert_string_equal(d.route, "");
    assert_int_equal(d.status, 404);
    assert_true(d.bytes_out > 0);
    hs_buf_release(&rr.body);
    /* HEAD keeps its name and sends no body bytes */
    struct hs_http_client *c = client(SECRET);
    struct hs_buf b;
    hs_buf_init(&b, 0);
    long status = 0;
    assert_int_equal(hs_http_client_request(c, "HEAD", f->url, "/file", &b, &status), HS_OK);
    d = wait_rec(f, 4);
    assert_string_equal(d.method, "HEAD");
    assert_string_equal(d.route, "/file");
    assert_int_equal(d.status, 200);
    assert_int_equal(d.bytes_out, 0);
    hs_buf_release(&b);
    hs_http_client_free(c);
    pthread_mutex_lock(&f->lock);
    assert_int_equal(f->n_recs, 4); /* exactly once per request */
    pthread_mutex_unlock(&f->lock);
}

static void *slow_get_thread(void *p)
{
    struct fixture *f = p;
    struct hs_http_client *c = client(SECRET);
    struct hs_buf body;
    hs_buf_init(&body, 0);
    long status = 0;
    enum hs_err err = hs_http_client_request(c, "GET", f->url, "/slow", &body, &status);
    hs_buf_release(&body);
    hs_http_client_free(c);
    return (void *)(intptr_t)(err == HS_OK && status == 200);
}

static void stop_waits_for_in_flight_requests_then_refuses_connections(void **state)
{
    struct fixture *f = *state;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_get_thread, f), 0);
    assert_true(hs_clock_mono_ms() > 0);
    while (hs_http_server_in_flight(f->srv) == 0)
        hs_clock_sleep_ms(1, NULL);
    assert_int_equal(hs_http_server_stop(f->srv, 3000), 0);
    f->srv = NULL;
    void *ok = NULL;
    pthread_join(t, &ok);
    assert_true(ok != NULL); /* the in-flight request got its answer */
    struct hs_http_client *c = client(SECRET);
    struct hs_buf body;
    hs_buf_init(&body, 0);
    assert_int_equal(hs_http_client_get(c, f->url, "00", &body, NULL), HS_EUNAVAIL);
    hs_buf_release(&body);
    hs_http_client_free(c);
}

/* ---- Range header (RFC 9110 14.1.2) ---- */

static void range_header_forms_parse_and_resolve_against_the_size(void **state)
{
    (void)state;
    static const struct {
        const char *hdr;
        int64_t size, off, len;
    } ok[] = {
        {"bytes=0-0", 10, 0, 1},
        {"bytes=2-4", 10, 2, 3},
        {"bytes=7-", 10, 7, 3},
        {"bytes=-3", 10, 7, 3},
        {"bytes=-30", 10, 0, 10},
        {"bytes=5-99", 10, 5, 5},
        {"bytes= 1 - 2 ", 10, 1, 2},
        {"BYTES=9-9", 10, 9, 1},
        /* numbers beyond int64 saturate: a last byte or suffix past the end is clamped */
        {"bytes=0-99999999999999999999", 10, 0, 10},
        {"bytes=3-184467440737095516160", 10, 3, 7},
        {"bytes=-99999999999999999999", 10, 0, 10},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct hs_http_range r;
        int64_t off = -1, len = -1;
        assert_true(hs_http_range_parse(ok[i].hdr, &r));
        assert_true(hs_http_range_resolve(&r, ok[i].size, &off, &len));
        assert_int_equal(off, ok[i].off);
        assert_int_equal(len, ok[i].len);
    }
}

static void unsatisfiable_ranges_are_refused_and_bad_ones_ignored(void **state)
{
    (void)state;
    static const char *const unsat[] = {"bytes=10-", "bytes=10-20", "bytes=-0",
                                        "bytes=99999999999999999999-",
                                        "bytes=99999999999999999999-99999999999999999999"};
    for (size_t i = 0; i < sizeof unsat / sizeof unsat[0]; i++) {
        struct hs_http_range r;
        int64_t off = 77, len = 77;
        assert_true(hs_http_range_parse(unsat[i], &r));
        assert_false(hs_http_range_resolve(&r, 10, &off, &len));
        assert_int_equal(off, 77); /* outs untouched */
    }
    struct hs_http_range r;
    int64_t off = 0, len = 0;
    assert_true(hs_http_range_parse("bytes=0-", &r));
    assert_false(hs_http_range_resolve(&r, 0, &off, &len)); /* nothing to select in 0 bytes */
    static const char *const ignored[] = {
        NULL,         "",
        "bytes=",     "bytes=-",
        "bytes=5-2",  "bytes=0-1,3-4",
        "items=0-1",  "bytes=a-",
        "bytes=1-2x", "bytes=99999999999999999999-5",
    };
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        assert_false(hs_http_range_parse(ignored[i], &r));
}

static void node_stats_of_every_node_arrive_at_once_and_failures_are_null(void **state)
{
    struct fixture *f = *state;
    struct hs_http_node_stats st[3] = {
        {.base_url = f->url}, {.base_url = f->url2}, {.base_url = "http://127.0.0.1:1"}};
    hs_http_node_stats_fetch(SECRET, 2000, st, 3);
    for (int i = 0; i < 2; i++) {
        assert_non_null(st[i].stats);
        assert_int_equal(st[i].status, 200);
        assert_int_equal(hs_http_node_stats_int(&st[i], NULL, "blobs", -1), 3);
        assert_int_equal(hs_http_node_stats_int(&st[i], "scrub", "verified_blobs", -1), 7);
        assert_int_equal(hs_http_node_stats_int(&st[i], "scrub", "missing", -1), -1);
    }
    assert_null(st[2].stats); /* nothing listens there */
    assert_int_equal(st[2].status, 0);
    assert_int_equal(hs_http_node_stats_int(&st[2], NULL, "blobs", -5), -5);
    hs_http_node_stats_release(st, 3);
    /* a wrong secret: the node answers 401, which is no stats */
    hs_http_node_stats_fetch("wrong", 2000, st, 1);
    assert_null(st[0].stats);
    assert_int_equal(st[0].status, 401);
    hs_http_node_stats_release(st, 1);
    hs_http_node_stats_release(NULL, 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32c_matches_the_castagnoli_check_value),
        cmocka_unit_test(range_header_forms_parse_and_resolve_against_the_size),
        cmocka_unit_test(unsatisfiable_ranges_are_refused_and_bad_ones_ignored),
        cmocka_unit_test_setup_teardown(unknown_route_answers_404_with_json_error_and_request_id,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(client_request_id_is_echoed_and_errors_keep_their_status,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_method_on_known_path_answers_405, setup, teardown),
        cmocka_unit_test_setup_teardown(guard_rejects_wrong_secret_but_public_route_is_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(encoded_nul_in_path_or_query_is_400_before_any_handler,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(conflicting_content_lengths_are_400_and_close, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(headers_trickled_past_the_deadline_are_cut, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(early_rejection_of_a_bodyless_request_keeps_the_connection,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(early_rejection_of_a_small_body_keeps_the_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(streaming_upload_arrives_in_many_chunks_intact, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(blob_client_put_get_head_delete_round_trip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(blob_client_keeps_a_connection_to_each_of_six_nodes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(blob_client_get_reports_crc_mismatch_as_corrupt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(blob_client_get_larger_than_buffer_cap_is_too_big, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(blob_client_list_pages_cover_every_blob_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            fanout_runs_calls_to_several_nodes_in_parallel_with_own_results, setup, teardown),
        cmocka_unit_test_setup_teardown(
            suspended_requests_are_answered_in_parallel_from_other_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(client_timeout_is_reported_as_timed_out, setup, teardown),
        cmocka_unit_test_setup_teardown(fd_and_callback_responses_send_exact_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            started_calls_end_one_at_a_time_and_a_silent_one_can_be_cancelled, setup, teardown),
        cmocka_unit_test(hedge_delay_follows_a_node_latency_and_is_clamped),
        cmocka_unit_test_setup_teardown(completion_hook_reports_route_status_duration_and_bytes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(stop_waits_for_in_flight_requests_then_refuses_connections,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            node_stats_of_every_node_arrive_at_once_and_failures_are_null, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
