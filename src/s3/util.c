/* util.c - bucket names, dates, URL encodings and key generation for the S3 front end.
 * Dates are converted with gmtime_r/timegm and parsed by hand (strptime's %a/%b depend on the
 * locale); years outside 1970..9999 are refused. */
#include "hs/s3_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "hs/log.h"
#include "hs/banned.h"

/* ---- Bucket names ---------------------------------------------------------------------------- */

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Four dot-separated groups of 1-3 digits: "192.168.5.4" (S3 refuses these as bucket names). */
static bool looks_like_ipv4(const char *s)
{
    for (int group = 0; group < 4; group++) {
        int digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 4) {
            s++;
            digits++;
        }
        if (digits == 0 || digits > 3)
            return false;
        if (group < 3 && *s++ != '.')
            return false;
    }
    return *s == '\0';
}

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static bool has_suffix(const char *s, size_t n, const char *suf)
{
    size_t m = strlen(suf);
    return n >= m && memcmp(s + n - m, suf, m) == 0;
}

bool hs_s3_bucket_name_valid(const char *name)
{
    if (name == NULL)
        return false;
    size_t n = strlen(name);
    if (n < 3 || n > 63 || !is_lower_alnum(name[0]) || !is_lower_alnum(name[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!is_lower_alnum(c) && c != '.' && c != '-')
            return false;
        if (i > 0 && (c == '.' || c == '-') && name[i - 1] == '.')
            return false; /* "..", ".-" */
        if (i > 0 && c == '.' && name[i - 1] == '-')
            return false; /* "-." */
    }
    if (looks_like_ipv4(name))
        return false;
    if (has_prefix(name, "xn--") || has_prefix(name, "sthree-") ||
        has_prefix(name, "amzn-s3-demo-"))
        return false;
    if (has_suffix(name, n, "-s3alias") || has_suffix(name, n, "--ol-s3") ||
        has_suffix(name, n, "--x-s3"))
        return false;
    return true;
}

/* ---- Dates ----------------------------------------------------------------------------------- */

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void utc_tm(int64_t t, struct tm *tm)
{
    time_t tt = (time_t)t;
    if (gmtime_r(&tt, tm) == NULL)
        memset(tm, 0, sizeof *tm);
}

void hs_s3_time_http(int64_t t, char out[HS_S3_HTTP_DATE_LEN + 1])
{
    struct tm tm;
    utc_tm(t, &tm);
    char tmp[128]; /* wide enough for any int, so the compiler sees no truncation */
    snprintf(tmp, sizeof tmp, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday % 7],
             tm.tm_mday, months[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
    memcpy(out, tmp, HS_S3_HTTP_DATE_LEN);
    out[HS_S3_HTTP_DATE_LEN] = '\0';
}

void hs_s3_time_iso8601(int64_t t_ms, char out[HS_S3_ISO_DATE_LEN + 1])
{
    int64_t s = t_ms >= 0 ? t_ms / 1000 : (t_ms - 999) / 1000;
    int ms = (int)(t_ms - s * 1000);
    struct tm tm;
    utc_tm(s, &tm);
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    memcpy(out, tmp, HS_S3_ISO_DATE_LEN);
    out[HS_S3_ISO_DATE_LEN] = '\0';
}

/* Reads exactly n decimal digits. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool lit(const char **p, const char *s)
{
    size_t n = strlen(s);
    if (strncmp(*p, s, n) != 0)
        return false;
    *p += n;
    return true;
}

static bool month(const char **p, int *out)
{
    for (int i = 0; i < 12; i++) {
        if (strncmp(*p, months[i], 3) == 0) {
            *p += 3;
            *out = i;
            return true;
        }
    }
    return false;
}

static bool hms(const char **p, struct tm *tm)
{
    return digits(p, 2, &tm->tm_hour) && lit(p, ":") && digits(p, 2, &tm->tm_min) && lit(p, ":") &&
           digits(p, 2, &tm->tm_sec);
}

static bool tm_to_unix(struct tm *tm, int64_t *out)
{
    if (tm->tm_mon < 0 || tm->tm_mon > 11 || tm->tm_mday < 1 || tm->tm_mday > 31 ||
        tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60 || tm->tm_year < 70)
        return false;
    int mday = tm->tm_mday, mon = tm->tm_mon;
    time_t t = timegm(tm);
    if (t == (time_t)-1 || tm->tm_mday != mday || tm->tm_mon != mon)
        return false; /* timegm normalised an impossible date (Feb 30) */
    *out = (int64_t)t;
    return true;
}

bool hs_s3_time_parse_http(const char *s, int64_t *out)
{
    struct tm tm;
    const char *p;
    int year = 0;
    if (s == NULL)
        return false;
    /* RFC 1123: "Sun, 06 Nov 1994 08:49:37 GMT" */
    memset(&tm, 0, sizeof tm);
    p = s;
    if (strlen(p) >= 4 && p[3] == ',' && (p += 4, lit(&p, " ")) && digits(&p, 2, &tm.tm_mday) &&
        lit(&p, " ") && month(&p, &tm.tm_mon) && lit(&p, " ") && digits(&p, 4, &year) &&
        lit(&p, " ") && hms(&p, &tm) && lit(&p, " GMT") && *p == '\0') {
        tm.tm_year = year - 1900;
        return tm_to_unix(&tm, out);
    }
    /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" (two-digit years: 70..99 -> 19xx) */
    memset(&tm, 0, sizeof tm);
    p = strchr(s, ',');
    if (p != NULL && (p++, lit(&p, " ")) && digits(&p, 2, &tm.tm_mday) && lit(&p, "-") &&
        month(&p, &tm.tm_mon) && lit(&p, "-") && digits(&p, 2, &year) && lit(&p, " ") &&
        hms(&p, &tm) && lit(&p, " GMT") && *p == '\0') {
        tm.tm_year = year < 70 ? year + 100 : year;
        return tm_to_unix(&tm, out);
    }
    /* asctime: "Sun Nov  6 08:49:37 1994" */
    memset(&tm, 0, sizeof tm);
    p = s;
    if (strlen(p) >= 4 && p[3] == ' ' && (p += 4, month(&p, &tm.tm_mon)) && lit(&p, " ")) {
        if (*p == ' ')
            p++;
        int d1 = 0;
        if (*p >= '0' && *p <= '9' && p[1] >= '0' && p[1] <= '9')
            digits(&p, 2, &d1);
        else if (!digits(&p, 1, &d1))
            return false;
        tm.tm_mday = d1;
        if (lit(&p, " ") && hms(&p, &tm) && lit(&p, " ") && digits(&p, 4, &year) && *p == '\0') {
            tm.tm_year = year - 1900;
            return tm_to_unix(&tm, out);
        }
    }
    return false;
}

bool hs_s3_time_parse_amz(const char *s, int64_t *out)
{
    struct tm tm;
    int year = 0, mon = 0;
    const char *p = s;
    memset(&tm, 0, sizeof tm);
    if (s == NULL || !digits(&p, 4, &year) || !digits(&p, 2, &mon) || !digits(&p, 2, &tm.tm_mday) ||
        !lit(&p, "T") || !digits(&p, 2, &tm.tm_hour) || !digits(&p, 2, &tm.tm_min) ||
        !digits(&p, 2, &tm.tm_sec) || !lit(&p, "Z") || *p != '\0')
        return false;
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    return tm_to_unix(&tm, out);
}

/* ---- URL encodings --------------------------------------------------------------------------- */

int hs_s3_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t hs_s3_url_decode(const char *s, size_t len, bool plus_is_space, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int hi, lo;
        if (c == '%' && i + 2 < len && (hi = hs_s3_hexval(s[i + 1])) >= 0 &&
            (lo = hs_s3_hexval(s[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    return o;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static enum hs_err encode(struct hs_buf *out, const char *s, size_t len, bool keep_slash,
                          bool space_plus)
{
    static const char hex[] = "0123456789ABCDEF";
    enum hs_err err = hs_buf_reserve(out, len);
    size_t run = 0;
    for (size_t i = 0; i < len && err == HS_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (c == '/' && keep_slash))
            continue;
        if (i > run)
            err = hs_buf_append(out, s + run, i - run);
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        if (err == HS_OK)
            err = c == ' ' && space_plus ? hs_buf_append(out, "+", 1) : hs_buf_append(out, esc, 3);
        run = i + 1;
    }
    if (err == HS_OK && len > run)
        err = hs_buf_append(out, s + run, len - run);
    return err;
}

enum hs_err hs_s3_url_encode_listing(struct hs_buf *out, const char *s, size_t len)
{
    return encode(out, s, len, true, true);
}

enum hs_err hs_s3_url_encode_sigv4(struct hs_buf *out, const char *s, size_t len, bool keep_slash)
{
    return encode(out, s, len, keep_slash, false);
}

bool hs_s3_query_find(const char *query, const char *name, const char **value, size_t *value_len)
{
    size_t nlen = strlen(name);
    const char *p = query;
    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, '&');
        size_t plen = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq != NULL ? (size_t)(eq - p) : plen;
        if (klen == nlen && memcmp(p, name, nlen) == 0) {
            *value = eq != NULL ? eq + 1 : p + plen;
            *value_len = eq != NULL ? plen - klen - 1 : 0;
            return true;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return false;
}

void hs_s3_content_encoding_strip(const char *value, char *out)
{
    size_t o = 0;
    const char *p = value;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p != '\0' && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t n = (size_t)(end - start);
        if (n == 0 || (n == 11 && strncasecmp(start, "aws-chunked", 11) == 0))
            continue;
        if (o > 0)
            out[o++] = ',';
        memmove(out + o, start, n); /* out may alias value: o never passes start */
        o += n;
    }
    out[o] = '\0';
}

/* ---- Keys ------------------------------------------------------------------------------------ */

static enum hs_err random_chars(char *out, size_t n, const char *alphabet, size_t alen)
{
    /* Rejection sampling keeps every character uniform: bytes >= limit are redrawn. */
    unsigned limit = 256 - 256 % (unsigned)alen;
    size_t got = 0;
    while (got < n) {
        unsigned char rnd[64];
        ssize_t r = getrandom(rnd, sizeof rnd, 0);
        if (r < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            HS_LOG(HS_LOG_ERROR, "s3_keygen_failed", "errno=%d", e);
            return HS_EIO;
        }
        for (ssize_t i = 0; i < r && got < n; i++) {
            if (rnd[i] < limit)
                out[got++] = alphabet[rnd[i] % alen];
        }
    }
    out[n] = '\0';
    return HS_OK;
}

enum hs_err hs_s3_keys_generate(char akid[HS_S3_ACCESS_KEY_LEN + 1],
                                char secret[HS_S3_SECRET_LEN + 1])
{
    static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static const char mixed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char a[HS_S3_ACCESS_KEY_LEN + 1], s[HS_S3_SECRET_LEN + 1];
    a[0] = 'H';
    a[1] = 'S';
    enum hs_err err = random_chars(a + 2, HS_S3_ACCESS_KEY_LEN - 2, upper, sizeof upper - 1);
    if (err == HS_OK)
        err = random_chars(s, HS_S3_SECRET_LEN, mixed, sizeof mixed - 1);
    if (err != HS_OK)
        return err;
    memcpy(akid, a, sizeof a);
    memcpy(secret, s, sizeof s);
    return HS_OK;
}
