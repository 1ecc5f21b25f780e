/* s3_util.h - small pure helpers of the S3 front end: bucket-name rules, HTTP and ISO-8601
 * dates, the URL encodings S3 uses, and access/secret key generation. No I/O except
 * getrandom(2) for keys. Everything is thread-safe. */
#ifndef HS_S3_UTIL_H
#define HS_S3_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/buf.h"
#include "hs/err.h"

/* S3 bucket naming rules: 3..63 characters of a-z 0-9 . -; starts and ends with a letter or
 * digit; no ".." , ".-" or "-."; not an IPv4 address (192.168.5.4); not prefixed "xn--",
 * "sthree-" or "amzn-s3-demo-"; not suffixed "-s3alias" or "--ol-s3" or "--x-s3". */
bool hs_s3_bucket_name_valid(const char *name);

#define HS_S3_HTTP_DATE_LEN 29 /* "Mon, 07 Dec 2026 05:19:48 GMT" */
#define HS_S3_ISO_DATE_LEN  24 /* "2026-12-07T05:19:48.123Z" */

/* RFC 1123 date (Last-Modified, Date) of Unix time t into out (HS_S3_HTTP_DATE_LEN + 1). */
void hs_s3_time_http(int64_t t, char out[HS_S3_HTTP_DATE_LEN + 1]);
/* Parses an HTTP date (RFC 1123; RFC 850 and asctime forms too, as RFC 9110 asks of
 * recipients) into Unix time. false (and *out untouched) when it is none of them. */
bool hs_s3_time_parse_http(const char *s, int64_t *out);
/* ISO 8601 with milliseconds, UTC ("2026-12-07T05:19:48.123Z"), of t_ms milliseconds since the
 * epoch, into out (HS_S3_ISO_DATE_LEN + 1). Used in listings. */
void hs_s3_time_iso8601(int64_t t_ms, char out[HS_S3_ISO_DATE_LEN + 1]);
/* Parses "YYYYMMDDTHHMMSSZ" (x-amz-date) into Unix time. */
bool hs_s3_time_parse_amz(const char *s, int64_t *out);

/* The value 0..15 of one hex digit (either case); -1 when c is not one. */
int hs_s3_hexval(char c);
/* Percent-decodes s[0..len) into out (at most len bytes; out may be s itself). '+' stays '+'
 * unless plus_is_space (form-style query strings). A '%' not followed by two hex digits is
 * kept literally. Returns the decoded length. */
size_t hs_s3_url_decode(const char *s, size_t len, bool plus_is_space, char *out);
/* Appends s[0..len) encoded as S3 listings do with encoding-type=url (what boto3 decodes with
 * unquote_plus): A-Z a-z 0-9 - _ . ~ and '/' kept, space as '+', every other byte %XX
 * (upper-case hex; '+' becomes %2B). HS_ETOOBIG past out's cap. */
enum hs_err hs_s3_url_encode_listing(struct hs_buf *out, const char *s, size_t len);
/* Appends s[0..len) encoded as SigV4 does: A-Z a-z 0-9 - _ . ~ kept, '/' kept only when
 * keep_slash, every other byte %XX (upper-case hex). HS_ETOOBIG past out's cap. */
enum hs_err hs_s3_url_encode_sigv4(struct hs_buf *out, const char *s, size_t len, bool keep_slash);

/* Looks up a query parameter in a raw query string ("a=1&uploads&b=x%20y", no '?'): true when
 * present; then *value points into query at the raw (still encoded) value and *value_len is its
 * length (0 for "uploads" and "uploads="). name is compared with the raw (encoded) names. */
bool hs_s3_query_find(const char *query, const char *name, const char **value, size_t *value_len);

/* Content-Encoding without its "aws-chunked" token (the framing is not part of the stored
 * object): "aws-chunked" -> "", "aws-chunked,gzip" -> "gzip", "gzip" -> "gzip". Tokens are
 * compared case-insensitively and rejoined with ','; surrounding spaces are dropped. Writes at
 * most strlen(value) + 1 bytes to out (out may be value itself). */
void hs_s3_content_encoding_strip(const char *value, char *out);

#define HS_S3_ACCESS_KEY_LEN 20 /* generated access key ids: "HS" + 18 of [A-Z0-9] */
#define HS_S3_SECRET_LEN     40 /* generated secrets: 40 of [A-Za-z0-9] */

/* Fresh random credentials from getrandom(2) into akid (HS_S3_ACCESS_KEY_LEN + 1) and secret
 * (HS_S3_SECRET_LEN + 1), NUL-terminated. HS_EIO when the kernel's generator fails (logged). */
enum hs_err hs_s3_keys_generate(char akid[HS_S3_ACCESS_KEY_LEN + 1],
                                char secret[HS_S3_SECRET_LEN + 1]);

#endif
