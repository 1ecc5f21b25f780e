/* api_common.c - helpers shared by the gateway's HTTP handlers: JSON string escaping, JSON
 * answers, the object key of a request, ETags and Content-Type matching. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/api_common.h"
#include "hs/clock.h"
#include "hs/manifest.h"
#include "hs/utf8.h"
#include "hs/banned.h"

void hs_gw_json_str(struct hs_buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    (void)hs_buf_append(b, "\"", 1);
    size_t run = 0; /* bytes of p copied as they are, flushed before each escape */
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        const char *esc = NULL;
        char tmp[8];
        size_t step = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            esc = tmp;
        } else if (c >= 0x80) {
            step = hs_utf8_decode(p + i, len - i, NULL);
            if (step == 0) {
                esc = "\\ufffd";
                step = 1;
            }
        }
        if (esc) {
            (void)hs_buf_append(b, p + i - run, run);
            (void)hs_buf_append(b, esc, strlen(esc));
            run = 0;
        } else {
            run += step;
        }
        i += step;
    }
    (void)hs_buf_append(b, p + i - run, run);
    (void)hs_buf_append(b, "\"", 1);
}

void hs_gw_json_cstr(struct hs_buf *b, const char *s)
{
    if (!s)
        (void)hs_buf_append(b, "null", 4);
    else
        hs_gw_json_str(b, s, strlen(s));
}

void hs_gw_respond_json(struct hs_http_req *r, unsigned status, struct hs_buf *b)
{
    size_t len = 0;
    uint8_t *data = hs_buf_detach(b, &len);
    if (!data) {
        hs_http_respond_buf(r, status, "application/json", "{}", 2);
        return;
    }
    hs_http_respond_take(r, status, "application/json", data, len);
}

void hs_gw_retry_after(struct hs_http_req *r, enum hs_err err)
{
    if (err == HS_EBUSY)
        hs_http_add_header(r, "Retry-After", HS_GW_RETRY_AFTER_S);
}

void hs_gw_respond_err(struct hs_http_req *r, enum hs_err err, const char *msg)
{
    hs_gw_retry_after(r, err);
    hs_http_respond_error(r, err, "%s", msg && *msg ? msg : hs_strerror(err));
}

bool hs_gw_req_key(struct hs_http_req *r, const char **key, size_t *len)
{
    const char *k = hs_http_req_rest(r);
    if (!k)
        return false;
    size_t n = strlen(k);
    if (!hs_meta_object_key_valid(k, n))
        return false;
    *key = k;
    *len = n;
    return true;
}

bool hs_gw_v1_req_key(struct hs_http_req *r, const char **key, size_t *len)
{
    if (hs_gw_req_key(r, key, len))
        return true;
    hs_http_respond_error(r, HS_EINVAL,
                          "invalid key: want 1..%d bytes of UTF-8 without control characters",
                          HS_OBJECT_KEY_MAX);
    return false;
}

void hs_gw_etag_quote(const char *etag, char *out, size_t cap)
{
    snprintf(out, cap, "\"%s\"", etag);
}

bool hs_gw_etag_parse(const char *value, char *out, size_t cap, bool *any)
{
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen(value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    *any = false;
    if (n == 1 && value[0] == '*') {
        *any = true;
        if (cap)
            out[0] = '\0';
        return true;
    }
    if (n >= 2 && value[0] == 'W' && value[1] == '/')
        return false;
    if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
        value++;
        n -= 2;
    }
    if (n == 0 || n >= cap || memchr(value, '"', n) || memchr(value, ',', n))
        return false;
    memcpy(out, value, n);
    out[n] = '\0';
    return true;
}

bool hs_gw_ctype_is(const char *ct, const char *want)
{
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strlen(want);
    if (strncasecmp(ct, want, n) != 0)
        return false;
    const char *rest = ct + n;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    return *rest == '\0' || *rest == ';';
}

double hs_gw_elapsed_ms(int64_t mono_start_ns)
{
    return (double)(hs_clock_mono_ns() - mono_start_ns) / 1e6;
}
