/* node_stats.c - GET /v1/stats of many storage nodes at once (docs/node.md), for status pages
 * and counters: the gateway's /storage_usage, /node_status and /v1/status, the healer's scrub
 * totals. One fresh curl multi handle per call, so the kept-alive connections of a data-path
 * client stay out of it; short timeouts, so a stalled node cannot hold a status page. What the
 * stats mean is the caller's business: this file only fetches and parses the JSON object. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "http/client_int.h"
#include "hs/buf.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define STATS_REPLY_BYTES ((size_t)64 * 1024)

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

/* Fills s from a finished probe: stats only for a 200 whose body is a JSON object. */
static void read_probe(const struct probe *p, struct hs_http_node_stats *s)
{
    s->curl_code = (int)p->rc;
    curl_easy_getinfo(p->e, CURLINFO_RESPONSE_CODE, &s->status);
    if (!p->done || p->rc != CURLE_OK || s->status != 200)
        return;
    json_t *o = json_loadb((const char *)p->body.data, p->body.len, 0, NULL);
    if (json_is_object(o))
        s->stats = o;
    else
        json_decref(o);
}

void hs_http_node_stats_fetch(const char *secret, int64_t timeout_ms,
                              struct hs_http_node_stats *nodes, size_t n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, hs_http_curl_global_init); /* reference counted: fine beside client.c's */
    struct probe *ps = hs_xcalloc(n ? n : 1, sizeof *ps);
    CURLM *multi = curl_multi_init();
    if (!multi)
        HS_BUG("curl_multi_init failed");
    char *auth = secret ? hs_xasprintf("Authorization: Bearer %s", secret) : NULL;
    struct curl_slist *hdrs = auth ? curl_slist_append(NULL, auth) : NULL;
    for (size_t i = 0; i < n; i++) {
        nodes[i].stats = NULL;
        nodes[i].status = 0;
        nodes[i].curl_code = 0;
        hs_buf_init(&ps[i].body, STATS_REPLY_BYTES);
        CURL *e = ps[i].e = curl_easy_init();
        if (!e)
            HS_BUG("curl_easy_init failed");
        char *url = hs_xasprintf("%s/v1/stats", nodes[i].base_url);
        curl_easy_setopt(e, CURLOPT_URL, url);
        free(url); /* libcurl copies the URL */
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms / 2 ? timeout_ms / 2 : 1));
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &ps[i].body);
        curl_easy_setopt(e, CURLOPT_PRIVATE, &ps[i]);
        curl_multi_add_handle(multi, e);
    }
    run_all(multi);
    for (size_t i = 0; i < n; i++) {
        read_probe(&ps[i], &nodes[i]);
        curl_multi_remove_handle(multi, ps[i].e);
        curl_easy_cleanup(ps[i].e);
        hs_buf_release(&ps[i].body);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdrs);
    free(auth);
    free(ps);
}

void hs_http_node_stats_release(struct hs_http_node_stats *nodes, size_t n)
{
    for (size_t i = 0; nodes && i < n; i++) {
        json_decref(nodes[i].stats);
        nodes[i].stats = NULL;
    }
}

int64_t hs_http_node_stats_int(const struct hs_http_node_stats *s, const char *object,
                               const char *name, int64_t missing)
{
    const json_t *o = object ? json_object_get(s->stats, object) : s->stats;
    const json_t *v = json_object_get(o, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : missing;
}
