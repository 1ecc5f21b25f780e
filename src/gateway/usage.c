/* usage.c - asks every live node for GET /v1/stats, all at once (one curl multi handle per
 * call, short timeouts), for /storage_usage, /node_status and /v1/status. A node that does not
 * answer 200 with its stats in time is unhealthy. Not on the data path: a fresh multi handle
 * per call keeps the thread's node client (and its kept-alive connections) out of it. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "gateway/gateway.h"
#include "hs/buf.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define USAGE_TIMEOUT_MS  2000 /* a stalled node must not hold a status page for long */
#define USAGE_REPLY_BYTES ((size_t)64 * 1024)

struct probe {
    CURL *e;
    struct hs_buf body;
    CURLcode rc;
    bool done;
};

static size_t sink(char *data, size_t size, size_t nmemb, void *ud)
{
    struct hs_buf *b = ud;
    return hs_buf_append(b, data, size * nmemb) == HS_OK ? size * nmemb : 0;
}

static int64_t int_field(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* Fills u from a finished probe: healthy when the node answered 200 with a stats object. */
static void read_probe(struct probe *p, struct hs_gw_node_usage *u)
{
    long status = 0;
    curl_easy_getinfo(p->e, CURLINFO_RESPONSE_CODE, &status);
    if (!p->done || p->rc != CURLE_OK || status != 200)
        return;
    json_t *o = json_loadb((const char *)p->body.data, p->body.len, 0, NULL);
    if (json_is_object(o)) {
        u->healthy = true;
        u->blobs = int_field(o, "blobs");
        u->payload_bytes = int_field(o, "payload_bytes");
        u->free_bytes = int_field(o, "free_bytes");
        u->total_bytes = int_field(o, "total_bytes");
    }
    json_decref(o);
}

static void run_all(CURLM *multi)
{
    int running = 1;
    while (running > 0) {
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            break;
        if (running > 0)
            curl_multi_poll(multi, NULL, 0, 200, NULL);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct probe *p = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&p);
            p->rc = m->data.result;
            p->done = true;
        }
    }
}

enum hs_err hs_gw_usage(struct hs_gw *gw, struct hs_gw_node_usage **out, size_t *n_out)
{
    (void)hs_gw_blob_client(gw); /* makes sure libcurl is initialised (once per process) */
    const struct hs_gw_members *mem = hs_gw_members_get(gw);
    size_t n = mem->n;
    struct hs_gw_node_usage *u = hs_xcalloc(n ? n : 1, sizeof *u);
    struct probe *ps = hs_xcalloc(n ? n : 1, sizeof *ps);
    CURLM *multi = curl_multi_init();
    if (!multi)
        HS_BUG("curl_multi_init failed");
    char *auth = hs_xasprintf("Authorization: Bearer %s", hs_gw_opts(gw)->secret);
    struct curl_slist *hdrs = curl_slist_append(NULL, auth);
    for (size_t i = 0; i < n; i++) {
        u[i].id = hs_xstrdup(mem->nodes[i].id);
        u[i].url = hs_xstrdup(mem->nodes[i].url);
        hs_buf_init(&ps[i].body, USAGE_REPLY_BYTES);
        CURL *e = ps[i].e = curl_easy_init();
        if (!e)
            HS_BUG("curl_easy_init failed");
        char *url = hs_xasprintf("%s/v1/stats", u[i].url);
        curl_easy_setopt(e, CURLOPT_URL, url);
        free(url); /* libcurl copies the URL */
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)USAGE_TIMEOUT_MS);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)USAGE_TIMEOUT_MS / 2);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &ps[i].body);
        curl_easy_setopt(e, CURLOPT_PRIVATE, &ps[i]);
        curl_multi_add_handle(multi, e);
    }
    run_all(multi);
    for (size_t i = 0; i < n; i++) {
        read_probe(&ps[i], &u[i]);
        if (!u[i].healthy)
            HS_LOG_DEBUG("node_probe_failed", "node='%s' url='%s' curl=%d", u[i].id, u[i].url,
                         (int)ps[i].rc);
        curl_multi_remove_handle(multi, ps[i].e);
        curl_easy_cleanup(ps[i].e);
        hs_buf_release(&ps[i].body);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdrs);
    free(auth);
    free(ps);
    hs_gw_members_put(gw, mem);
    *out = u;
    *n_out = n;
    return HS_OK;
}

void hs_gw_usage_free(struct hs_gw_node_usage *u, size_t n)
{
    if (!u)
        return;
    for (size_t i = 0; i < n; i++) {
        free(u[i].id);
        free(u[i].url);
    }
    free(u);
}
