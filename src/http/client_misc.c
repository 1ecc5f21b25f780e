/* client_misc.c - the blob client's listing and plain requests (one transfer through the same
 * multi handle, so they reuse its kept-alive connections), and the X-HS-CRC32C text form. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hs/codec.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "http/client_int.h"
#include "hs/banned.h"

bool hs_http_crc32c_parse(const char *text, uint32_t *out)
{
    if (!text || strlen(text) != 8)
        return false;
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        char ch = text[i];
        int d = (ch >= '0' && ch <= '9') ? ch - '0' : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = (v << 4) | (uint32_t)d;
    }
    *out = v;
    return true;
}

struct plain {
    struct hs_buf *reply;
    bool overflow;
};

static size_t plain_write(char *data, size_t size, size_t nmemb, void *ud)
{
    struct plain *p = ud;
    if (hs_buf_append(p->reply, data, size * nmemb) != HS_OK) {
        p->overflow = true;
        return 0;
    }
    return size * nmemb;
}

static CURLcode run_one(struct hs_http_client *c, CURL *e)
{
    curl_multi_add_handle(c->multi, e);
    int running = 1;
    CURLcode rc = CURLE_OK;
    while (running > 0)
        hs_http_client_drive(c, 1000, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)))
        if (m->msg == CURLMSG_DONE)
            rc = m->data.result;
    curl_multi_remove_handle(c->multi, e);
    return rc;
}

/* A request with an optional body (body NULL: none). */
static enum hs_err request(struct hs_http_client *c, const char *method, const char *base_url,
                           const char *path, const void *body, size_t body_len,
                           struct hs_buf *reply, long *status_out)
{
    assert(!c->running);
    CURL *e = hs_http_client_easy(c, 0);
    char *url = hs_xasprintf("%s%s", base_url, path);
    struct curl_slist *h = hs_http_client_headers(c);
    size_t len0 = reply->len;
    struct plain p = {.reply = reply};
    hs_http_client_common_opts(c, e, url);
    if (body) {
        h = curl_slist_append(h, "Content-Type: text/plain");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, plain_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &p);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = run_one(c, e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    free(url);
    enum hs_err err = p.overflow ? HS_ETOOBIG : hs_http_map_curl(rc);
    if (err != HS_OK) {
        reply->len = len0;
        return err;
    }
    *status_out = status;
    return HS_OK;
}

enum hs_err hs_http_client_request(struct hs_http_client *c, const char *method,
                                   const char *base_url, const char *path, struct hs_buf *reply,
                                   long *status_out)
{
    return request(c, method, base_url, path, NULL, 0, reply, status_out);
}

/* {"deleted":n,"missing":n,"failed":[{"id":..,"error":"EIO"}...]}; errs may be NULL. */
static enum hs_err parse_delete_many(const struct hs_buf *body, const char *const *ids, size_t n,
                                     struct hs_http_delete_many *out, enum hs_err *errs)
{
    json_t *root = json_loadb((const char *)body->data, body->len, 0, NULL);
    json_t *deleted = json_object_get(root, "deleted"), *missing = json_object_get(root, "missing");
    json_t *failed = json_object_get(root, "failed");
    enum hs_err err = HS_EPROTO;
    if (!json_is_integer(deleted) || !json_is_integer(missing) || !json_is_array(failed))
        goto out;
    *out = (struct hs_http_delete_many){.deleted = (int64_t)json_integer_value(deleted),
                                        .missing = (int64_t)json_integer_value(missing),
                                        .failed = (int64_t)json_array_size(failed)};
    for (size_t i = 0; errs && i < n; i++)
        errs[i] = HS_OK;
    size_t k;
    json_t *f;
    json_array_foreach(failed, k, f)
    {
        const char *id = json_string_value(json_object_get(f, "id"));
        enum hs_err e = hs_http_map_status(500, json_string_value(json_object_get(f, "error")));
        if (k == 0)
            out->first_err = e;
        for (size_t i = 0; errs && id && i < n; i++)
            if (strcmp(ids[i], id) == 0)
                errs[i] = e;
    }
    err = HS_OK;
out:
    json_decref(root);
    return err;
}

enum hs_err hs_http_client_delete_many(struct hs_http_client *c, const char *base_url,
                                       const char *const *ids, size_t n,
                                       struct hs_http_delete_many *out, enum hs_err *errs)
{
    if (n > HS_BLOB_DELETE_MANY_MAX)
        return HS_EINVAL;
    struct hs_buf body, reply;
    hs_buf_init(&body, 0);
    hs_buf_init(&reply, 4u << 20);
    enum hs_err err = HS_OK;
    for (size_t i = 0; i < n && err == HS_OK; i++) {
        if (!ids[i][0] || strchr(ids[i], '\n'))
            err = HS_EINVAL; /* would not be one line of the body */
        else
            err = hs_buf_printf(&body, "%s\n", ids[i]);
    }
    if (err == HS_OK && body.len > HS_BLOB_DELETE_MANY_BYTES_MAX)
        err = HS_EINVAL;
    long status = 0;
    if (err == HS_OK)
        err = request(c, "POST", base_url, "/v1/blobs/delete", body.data ? (void *)body.data : "",
                      body.len, &reply, &status);
    if (err == HS_OK && status != 200) {
        json_t *j = json_loadb((const char *)reply.data, reply.len, 0, NULL);
        err = hs_http_map_status(status, json_string_value(json_object_get(j, "error")));
        json_decref(j);
        if (err == HS_OK)
            err = HS_EPROTO;
    }
    if (err == HS_OK)
        err = parse_delete_many(&reply, ids, n, out, errs);
    hs_buf_release(&body);
    hs_buf_release(&reply);
    return err;
}

/* {"blobs":[{"id":..,"size":..,"crc32c":"8hex"}...],"next_after":"..."|null} */
static enum hs_err parse_list(const struct hs_buf *body, hs_http_client_list_fn *fn, void *ctx,
                              char **next_after_out)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)body->data, body->len, 0, &jerr);
    json_t *blobs = root ? json_object_get(root, "blobs") : NULL;
    json_t *next = root ? json_object_get(root, "next_after") : NULL;
    enum hs_err err = HS_EPROTO;
    if (!json_is_array(blobs) || (next && !json_is_null(next) && !json_is_string(next)))
        goto out;
    /* validate every entry before the first callback: all or nothing */
    size_t i;
    json_t *b;
    json_array_foreach(blobs, i, b)
    {
        uint32_t crc;
        if (!json_is_string(json_object_get(b, "id")) ||
            !json_is_integer(json_object_get(b, "size")) ||
            !hs_http_crc32c_parse(json_string_value(json_object_get(b, "crc32c")), &crc))
            goto out;
    }
    json_array_foreach(blobs, i, b)
    {
        uint32_t crc = 0;
        hs_http_crc32c_parse(json_string_value(json_object_get(b, "crc32c")), &crc);
        fn(ctx, json_string_value(json_object_get(b, "id")),
           (int64_t)json_integer_value(json_object_get(b, "size")), crc);
    }
    *next_after_out = json_is_string(next) ? hs_xstrdup(json_string_value(next)) : NULL;
    err = HS_OK;
out:
    json_decref(root);
    return err;
}

enum hs_err hs_http_client_list(struct hs_http_client *c, const char *base_url, const char *after,
                                size_t limit, hs_http_client_list_fn *fn, void *ctx,
                                char **next_after_out)
{
    CURL *e = hs_http_client_easy(c, 0);
    char *esc = curl_easy_escape(e, after ? after : "", 0);
    char *path = hs_xasprintf("/v1/blobs?after=%s&limit=%zu", esc ? esc : "", limit);
    curl_free(esc);
    struct hs_buf body;
    hs_buf_init(&body, 64u << 20);
    long status = 0;
    enum hs_err err = hs_http_client_request(c, "GET", base_url, path, &body, &status);
    free(path);
    if (err == HS_OK && status != 200)
        err = hs_http_map_status(status, NULL);
    if (err == HS_OK)
        err = parse_list(&body, fn, ctx, next_after_out);
    hs_buf_release(&body);
    return err;
}
