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

static CURLcode run_one(struct hs_blob_client *c, CURL *e)
{
    curl_multi_add_handle(c->multi, e);
    int running = 1;
    CURLcode rc = CURLE_OK;
    while (running > 0) {
        if (curl_multi_perform(c->multi, &running) != CURLM_OK)
            HS_BUG("curl_multi_perform failed");
        if (running > 0)
            curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
    }
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)))
        if (m->msg == CURLMSG_DONE)
            rc = m->data.result;
    curl_multi_remove_handle(c->multi, e);
    return rc;
}

enum hs_err hs_blob_client_request(struct hs_blob_client *c, const char *method,
                                   const char *base_url, const char *path, struct hs_buf *reply,
                                   long *status_out)
{
    assert(!c->running);
    CURL *e = hs_http_client_easy(c, 0);
    char *url = hs_xasprintf("%s%s", base_url, path);
    struct curl_slist *h = hs_http_client_headers(c);
    size_t len0 = reply->len;
    struct plain p = {.reply = reply};
    hs_http_client_common_opts(c, e, url);
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

/* {"blobs":[{"id":..,"size":..,"crc32c":"8hex"}...],"next_after":"..."|null} */
static enum hs_err parse_list(const struct hs_buf *body, hs_blob_client_list_fn *fn, void *ctx,
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

enum hs_err hs_blob_client_list(struct hs_blob_client *c, const char *base_url, const char *after,
                                size_t limit, hs_blob_client_list_fn *fn, void *ctx,
                                char **next_after_out)
{
    CURL *e = hs_http_client_easy(c, 0);
    char *esc = curl_easy_escape(e, after ? after : "", 0);
    char *path = hs_xasprintf("/v1/blobs?after=%s&limit=%zu", esc ? esc : "", limit);
    curl_free(esc);
    struct hs_buf body;
    hs_buf_init(&body, 64u << 20);
    long status = 0;
    enum hs_err err = hs_blob_client_request(c, "GET", base_url, path, &body, &status);
    free(path);
    if (err == HS_OK && status != 200)
        err = hs_http_map_status(status, NULL);
    if (err == HS_OK)
        err = parse_list(&body, fn, ctx, next_after_out);
    hs_buf_release(&body);
    return err;
}
