/* client_int.h - private to src/http: the blob client struct and helpers shared by client.c
 * (fan-out of blob calls) and client_misc.c (listing, plain requests, CRC32C). */
#ifndef HS_HTTP_CLIENT_INT_H
#define HS_HTTP_CLIENT_INT_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "hs/http_client.h"

struct hs_http_client {
    char *secret; /* heap, NULL = no Authorization header */
    int64_t timeout_ms;
    int64_t connect_timeout_ms;
    CURLM *multi; /* owns the connection cache: keep-alive across calls */
    CURL **easy;  /* pool, grown to the most calls running at once */
    bool *busy;   /* busy[i]: easy[i] belongs to a running call */
    size_t n_easy;
    struct hs_http_xfer *running; /* started calls not yet handed back (list) */
    /* libcurl's sockets and timer (CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION), polled by
     * hs_http_client_drive: only sockets of running transfers, never idle cached ones */
    struct pollfd *pfd;
    size_t n_pfd, cap_pfd;
    int64_t timer_due_ns; /* monotonic; INT64_MAX = no timer */
};

void hs_http_curl_global_init(void);
/* One step of the client's transfers: runs libcurl's timer when due, else polls the sockets of
 * the running transfers for up to wait_ms and hands libcurl those that are ready (libcurl is
 * told which socket is ready, so it does not poll each one again itself). *running: transfers
 * not finished. Finished ones are in curl_multi_info_read. */
void hs_http_client_drive(struct hs_http_client *c, int wait_ms, int *running);
/* Easy handle i of the pool, reset (created when missing). Only while no call runs. */
CURL *hs_http_client_easy(struct hs_http_client *c, size_t i);
/* "Expect:" (disables 100-continue) and the Authorization header; caller frees the list. */
struct curl_slist *hs_http_client_headers(const struct hs_http_client *c);
/* URL, timeouts, no signals, TCP_NODELAY, http(s) only. */
void hs_http_client_common_opts(const struct hs_http_client *c, CURL *e, const char *url);
enum hs_err hs_http_map_curl(CURLcode rc);
/* From X-HS-Error (err_name may be NULL or "") or else the HTTP status. */
enum hs_err hs_http_map_status(long status, const char *err_name);

#endif
