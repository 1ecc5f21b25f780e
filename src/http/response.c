/* response.c - request accessors and response builders for the server glue: buffer, fd
 * (zero-copy sendfile), callback and JSON error responses. Responses are only built here;
 * server.c queues them from inside the access handler, as libmicrohttpd requires. */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "http/http_int.h"
#include "hs/banned.h"

/* Request ids only tell log lines apart: a per-thread xorshift64* seeded once from getrandom
 * is as good as a getrandom call per request, and costs no system call. */
static _Thread_local uint64_t rid_state;

void hs_http_mint_request_id(char *buf, size_t buflen)
{
    while (rid_state == 0) {
        if (getrandom(&rid_state, sizeof rid_state, 0) != (ssize_t)sizeof rid_state)
            HS_BUG("getrandom failed"); /* never on Linux >= 3.17 after boot */
    }
    rid_state ^= rid_state >> 12;
    rid_state ^= rid_state << 25;
    rid_state ^= rid_state >> 27;
    uint64_t v = rid_state * 2685821657736338717ull;
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 60; i >= 0 && o + 1 < buflen; i -= 4)
        buf[o++] = hex[(v >> i) & 15];
    buf[o] = '\0';
}

struct hs_arena *hs_http_req_arena(struct hs_http_req *r)
{
    return r->arena;
}

void *hs_http_req_server_ctx(const struct hs_http_req *r)
{
    return r->srv_ctx;
}

void *hs_http_req_ctx(const struct hs_http_req *r)
{
    return r->ctx;
}

void hs_http_req_set_ctx(struct hs_http_req *r, void *ctx)
{
    r->ctx = ctx;
}

const char *hs_http_req_method(const struct hs_http_req *r)
{
    return r->method;
}

bool hs_http_req_is_head(const struct hs_http_req *r)
{
    return r->is_head;
}

const char *hs_http_req_path(const struct hs_http_req *r)
{
    return r->path;
}

const char *hs_http_req_rest(const struct hs_http_req *r)
{
    return r->rest;
}

const char *hs_http_req_id(const struct hs_http_req *r)
{
    return r->request_id;
}

const char *hs_http_req_header(const struct hs_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *hs_http_req_query(const struct hs_http_req *r, const char *name)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    /* MHD reports "?a" as a present key with a NULL value; tell it apart from absent. */
    if (!v && MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name),
                                            NULL, NULL) == MHD_YES)
        return "";
    return v;
}

bool hs_http_req_content_length(const struct hs_http_req *r, int64_t *len_out)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
    if (!v || *v < '0' || *v > '9')
        return false;
    char *end = NULL;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end != '\0' || n > (unsigned long long)INT64_MAX)
        return false;
    *len_out = (int64_t)n;
    return true;
}

bool hs_http_req_bearer_matches(const struct hs_http_req *r, const char *secret)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    if (!v || strncasecmp(v, "Bearer ", 7) != 0)
        return false;
    v += 7;
    size_t n = strlen(secret);
    if (strlen(v) != n || n == 0)
        return false;
    /* No early exit: the time taken does not depend on where the first difference is. */
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(v[i] ^ secret[i]);
    return diff == 0;
}

void hs_http_add_header(struct hs_http_req *r, const char *name, const char *value)
{
    struct http_hdr *h = hs_arena_alloc(r->arena, sizeof *h);
    h->name = hs_arena_strdup(r->arena, name);
    h->value = hs_arena_strdup(r->arena, value);
    h->next = r->headers;
    r->headers = h;
}

bool hs_http_responded(const struct hs_http_req *r)
{
    return r->responded;
}

/* Adds the common and the handler's headers, then parks resp for server.c to queue. */
static void set_response(struct hs_http_req *r, unsigned status, const char *content_type,
                         struct MHD_Response *resp)
{
    if (!resp)
        HS_BUG("cannot create a response (status %u)", status);
    if (r->responded)
        HS_BUG("second response for request %s", r->request_id);
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (struct http_hdr *h = r->headers; h; h = h->next)
        MHD_add_response_header(resp, h->name, h->value);
    r->resp = resp;
    r->status = status;
    r->responded = true;
}

void hs_http_respond_buf(struct hs_http_req *r, unsigned status, const char *content_type,
                         const void *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    set_response(r, status, content_type, resp);
    r->bytes_out = (int64_t)len;
}

void hs_http_respond_take(struct hs_http_req *r, unsigned status, const char *content_type,
                          void *data, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    set_response(r, status, content_type, resp);
    r->bytes_out = (int64_t)len;
}

void hs_http_respond_fd(struct hs_http_req *r, unsigned status, const char *content_type, int fd,
                        int64_t offset, int64_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_fd_at_offset64((uint64_t)len, fd, (uint64_t)offset);
    if (!resp)
        close(fd);
    set_response(r, status, content_type, resp);
    r->bytes_out = len;
}

/* Wraps a streaming response's callback to count the bytes it produces (for the completion
 * hook). Heap, not arena: MHD may free the response after the request's arena is gone. The
 * counter is only touched from read, which MHD never calls after the request completed. */
struct counted_stream {
    hs_http_read_fn *read;
    void *ctx;
    void (*free_fn)(void *ctx);
    int64_t *counter; /* &req->streamed_out */
};

static ssize_t counted_read(void *p, uint64_t pos, char *buf, size_t max)
{
    struct counted_stream *cs = p;
    ssize_t n = cs->read(cs->ctx, pos, buf, max);
    if (n > 0)
        *cs->counter += n;
    return n;
}

static void counted_free(void *p)
{
    struct counted_stream *cs = p;
    if (cs->free_fn)
        cs->free_fn(cs->ctx);
    free(cs);
}

void hs_http_respond_callback(struct hs_http_req *r, unsigned status, const char *content_type,
                              int64_t total_len, hs_http_read_fn *read, void *ctx,
                              void (*free_fn)(void *ctx))
{
    uint64_t size = total_len < 0 ? MHD_SIZE_UNKNOWN : (uint64_t)total_len;
    struct counted_stream *cs = hs_xmalloc(sizeof *cs);
    *cs = (struct counted_stream){read, ctx, free_fn, &r->streamed_out};
    struct MHD_Response *resp =
        MHD_create_response_from_callback(size, (size_t)64 * 1024, counted_read, cs, counted_free);
    set_response(r, status, content_type, resp);
    r->streamed = true;
}

/* msg is modified: non-printable bytes become '?'. */
static void respond_error_msg(struct hs_http_req *r, unsigned status, enum hs_err err, char *msg)
{
    /* Messages quote client input (paths, ids): keep them printable ASCII so that the JSON
     * encoder never meets invalid UTF-8 and log scrapers never meet control bytes. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    json_t *o = json_pack("{s:s, s:s, s:s}", "error", hs_err_name(err), "message", msg,
                          "request_id", r->request_id);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        HS_BUG("cannot encode an error body");
    hs_http_add_header(r, "X-HS-Error", hs_err_name(err));
    /* jansson allocates with malloc, so MHD may free() it. */
    hs_http_respond_take(r, status, "application/json", text, strlen(text));
}

void hs_http_respond_error(struct hs_http_req *r, enum hs_err err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    respond_error_msg(r, (unsigned)hs_err_http_status(err), err, msg);
}

void hs_http_respond_error_status(struct hs_http_req *r, unsigned status, enum hs_err err,
                                  const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    respond_error_msg(r, status, err, msg);
}

void hs_http_suspend(struct hs_http_req *r)
{
    r->suspended = true;
    MHD_suspend_connection(r->conn);
}

void hs_http_resume(struct hs_http_req *r)
{
    MHD_resume_connection(r->conn);
}

/* ---- Range requests ---- */

/* Digits at *p as an int64 (no sign); advances *p past all of them. false on no digit. A
 * number beyond INT64_MAX saturates to INT64_MAX rather than failing: RFC 9110 §14.1.2 puts no
 * bound on the digits, and the saturated value keeps the right meaning everywhere (a first byte
 * past any size is unsatisfiable: 416; a last byte or suffix past it is clamped to the end).
 * Failing would make us ignore the header and answer 200 with the whole representation. */
static bool parse_pos(const char **p, int64_t *out)
{
    const char *s = *p;
    int64_t v = 0;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - (*s - '0')) / 10)
            v = INT64_MAX;
        else
            v = v * 10 + (*s - '0');
    }
    *p = s;
    *out = v;
    return true;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

bool hs_http_range_parse(const char *header, struct hs_http_range *out)
{
    if (!header)
        return false;
    const char *p = skip_ws(header);
    if (strncasecmp(p, "bytes=", 6) != 0)
        return false;
    p = skip_ws(p + 6);
    struct hs_http_range r = {.first = -1, .last = -1, .suffix = -1};
    if (*p == '-') {
        p = skip_ws(p + 1);
        if (!parse_pos(&p, &r.suffix))
            return false;
    } else {
        if (!parse_pos(&p, &r.first))
            return false;
        p = skip_ws(p);
        if (*p++ != '-')
            return false;
        p = skip_ws(p);
        if (*p >= '0' && *p <= '9' && (!parse_pos(&p, &r.last) || r.last < r.first))
            return false;
    }
    /* a comma here means several ranges: we serve the whole representation instead */
    if (*skip_ws(p) != '\0')
        return false;
    *out = r;
    return true;
}

bool hs_http_range_resolve(const struct hs_http_range *r, int64_t size, int64_t *off_out,
                           int64_t *len_out)
{
    if (size <= 0)
        return false;
    if (r->suffix >= 0) {
        if (r->suffix == 0)
            return false;
        int64_t n = HS_MIN(r->suffix, size);
        *off_out = size - n;
        *len_out = n;
        return true;
    }
    if (r->first >= size)
        return false;
    int64_t last = (r->last < 0 || r->last >= size) ? size - 1 : r->last;
    *off_out = r->first;
    *len_out = last - r->first + 1;
    return true;
}
