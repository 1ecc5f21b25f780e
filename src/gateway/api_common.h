/* api_common.h - small helpers shared by the gateway's HTTP handlers (api_*.c): JSON answer
 * building (escaped strings into an hs_buf), sending a built answer, the object key of a
 * request path, ETag quoting and parsing, and Content-Type matching. No object-layer logic. */
#ifndef HS_GATEWAY_API_COMMON_H
#define HS_GATEWAY_API_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/buf.h"
#include "hs/err.h"
#include "hs/http_server.h"

/* Appends s (len bytes) to b as a quoted JSON string: '"' and '\\' escaped, control characters
 * as \n, \t, ... or \u00XX, and every byte that is not part of valid UTF-8 as \ufffd, so the
 * result is always valid JSON whatever the input. Never fails (b must be unbounded or large
 * enough; a bounded b that overflows is truncated silently). */
void hs_gw_json_str(struct hs_buf *b, const char *s, size_t len);
/* Same for a NUL-terminated string; NULL appends null. */
void hs_gw_json_cstr(struct hs_buf *b, const char *s);

/* Sends b's bytes (it is emptied: the memory goes to the response) as application/json. */
void hs_gw_respond_json(struct hs_http_req *r, unsigned status, struct hs_buf *b);
/* Native API error: hs_http_respond_error with msg (or hs_strerror(err) when msg is empty),
 * plus Retry-After for HS_EBUSY. */
void hs_gw_respond_err(struct hs_http_req *r, enum hs_err err, const char *msg);
/* Seconds a client refused with HS_EBUSY (503) is told to wait: bodies and writes in flight
 * usually end within that. */
#define HS_GW_RETRY_AFTER_S "1"
/* Adds Retry-After: HS_GW_RETRY_AFTER_S when err is HS_EBUSY (call before responding). */
void hs_gw_retry_after(struct hs_http_req *r, enum hs_err err);

/* The object key of a PREFIX route: hs_http_req_rest (already percent-decoded once). Sets
 * the key and its length (borrowed until the request completes) and returns true when it is a valid
 * object key (1..1024 bytes of UTF-8 without control characters); false otherwise (outs untouched).
 */
bool hs_gw_req_key(struct hs_http_req *r, const char **key, size_t *len);

/* hs_gw_req_key for the /v1 routes: an invalid key is answered 400 with the rule it breaks
 * (the caller just returns on false). */
bool hs_gw_v1_req_key(struct hs_http_req *r, const char **key, size_t *len);

/* "\"<etag>\"" into out (cap bytes, NUL-terminated, truncated). */
void hs_gw_etag_quote(const char *etag, char *out, size_t cap);
/* Parses an If-Match / If-None-Match value holding one entity tag: "\"abc\"" (or bare abc,
 * which some clients send) gives abc in out. A weak tag (W/"..") never matches If-Match, so it
 * gives false, as do a list of several tags, an empty value and one longer than cap - 1. "*" is
 * reported through *any (out then empty). */
bool hs_gw_etag_parse(const char *value, char *out, size_t cap, bool *any);

/* True when the Content-Type header value ct names media type want ("application/json"),
 * case-insensitively, with or without parameters ("; charset=utf-8"). ct NULL: false. */
bool hs_gw_ctype_is(const char *ct, const char *want);

/* Milliseconds since mono_start_ns (hs_clock_mono_ns) with 3 decimals, for latency_ms. */
double hs_gw_elapsed_ms(int64_t mono_start_ns);

#endif
