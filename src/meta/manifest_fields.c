/* manifest_fields.c - the manifest's optional "fdig" member (format version 2, table in
 * manifest.h): one XXH3-64 digest per top-level field of a field_hybrid object, in the order
 * record's order, packed as 8 big-endian bytes each and written as unpadded base64url (about 11
 * characters a field). With it a gateway finds the fields a full PUT changed without reading the
 * cold part. Also the list of an object's fields (name, hot flag, digest) built from the order
 * record and fdig, which the gateway uses for change detection and projection reads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hs/manifest.h"
#include "hs/mem.h"
#include "meta/manifest_int.h"
#include "hs/banned.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Characters of n digests: ceil(8n * 4 / 3) without padding. */
static size_t fdig_chars(size_t n)
{
    return (8 * n * 4 + 2) / 3;
}

char *hs_manifest_fdig_encode(const uint64_t *digests, size_t n)
{
    size_t nbytes = 8 * n;
    uint8_t *raw = hs_xmalloc(nbytes ? nbytes : 1);
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 8; b++)
            raw[8 * i + (size_t)b] = (uint8_t)(digests[i] >> (56 - 8 * b));
    char *out = hs_xmalloc(fdig_chars(n) + 1);
    size_t o = 0;
    for (size_t i = 0; i < nbytes; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16;
        if (i + 1 < nbytes)
            v |= (uint32_t)raw[i + 1] << 8;
        if (i + 2 < nbytes)
            v |= raw[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        if (i + 1 < nbytes)
            out[o++] = b64[(v >> 6) & 63];
        if (i + 2 < nbytes)
            out[o++] = b64[v & 63];
    }
    out[o] = '\0';
    free(raw);
    return out;
}

enum hs_err hs_manifest_fdig_decode(const char *text, uint64_t **out, size_t *n_out)
{
    size_t len = strlen(text);
    /* 8n bytes take 11, 22, 32, ... chars: len must be exactly fdig_chars(n) for some n */
    size_t n = len * 3 / 32;
    if (fdig_chars(n) != len || n > HS_MANIFEST_FDIG_MAX)
        return HS_EINVAL;
    uint8_t *raw = hs_xmalloc(8 * n + 3);
    size_t r = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        size_t k = 0;
        for (; k < 4 && i + k < len; k++) {
            int x = b64_val(text[i + k]);
            if (x < 0) {
                free(raw);
                return HS_EINVAL;
            }
            v |= (uint32_t)x << (18 - 6 * k);
        }
        /* k chars carry k - 1 whole bytes (k = 4: three) */
        for (size_t b = 0; b + 1 < k; b++)
            raw[r++] = (uint8_t)(v >> (16 - 8 * b));
        /* the bits past the last whole byte must be zero (one text per value) */
        if (k < 4 && (v & ((1u << (24 - 8 * (k - 1))) - 1)) != 0) {
            free(raw);
            return HS_EINVAL;
        }
    }
    uint64_t *d = hs_xmalloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) {
        uint64_t x = 0;
        for (int b = 0; b < 8; b++)
            x = x << 8 | raw[8 * i + (size_t)b];
        d[i] = x;
    }
    free(raw);
    *out = d;
    *n_out = n;
    return HS_OK;
}

enum hs_err hs_manifest_fdig_check(const struct hs_manifest *m, size_t n_order, char *why,
                                   size_t why_len)
{
    if (!m->field_digests)
        return HS_OK;
    if (m->strategy != HS_STRATEGY_FIELD_HYBRID) {
        hs_meta_why(why, why_len, "fdig: only for field_hybrid");
        return HS_EINVAL;
    }
    uint64_t *d = NULL;
    size_t n = 0;
    if (hs_manifest_fdig_decode(m->field_digests, &d, &n) != HS_OK) {
        hs_meta_why(why, why_len,
                    "fdig: want unpadded base64url of 8 bytes per field, at most "
                    "%d fields",
                    HS_MANIFEST_FDIG_MAX);
        return HS_EINVAL;
    }
    free(d);
    if (n != n_order) {
        hs_meta_why(why, why_len, "fdig: %zu digests for %zu fields in order", n, n_order);
        return HS_EINVAL;
    }
    return HS_OK;
}

int hs_manifest_format_version(const struct hs_manifest *m)
{
    bool v2 = m->field_digests || !hs_manifest_attrs_empty(m->attrs) || m->data.packed ||
              m->hot.packed || m->cold.packed;
    return v2 ? HS_MANIFEST_VERSION_2 : HS_MANIFEST_VERSION;
}

void hs_manifest_fields_free(struct hs_manifest_field *f, size_t n)
{
    for (size_t i = 0; f && i < n; i++)
        free(f[i].name);
    free(f);
}

/* Appends the UTF-8 of code point cp to out; returns the bytes written. */
static size_t put_utf8(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int x = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (x < 0)
            return -1;
        v = v << 4 | (uint32_t)x;
    }
    *out = v;
    return 0;
}

/* Parses the JSON string whose opening quote is at *pos into a heap copy, unescaped (*len
 * bytes; it may hold NUL). false on a defect. Written by hand because this runs on every
 * field_hybrid write with statistics on, where jansson's parse of the whole array costs more
 * than the rest of the bookkeeping together. */
static bool scan_string(const char *s, size_t n, size_t *pos, char **out, size_t *len)
{
    size_t i = *pos + 1, start = i;
    while (i < n && s[i] != '"')
        i += s[i] == '\\' ? 2 : 1;
    if (i >= n)
        return false;
    char *buf = hs_xmalloc(i - start + 1), *w = buf;
    for (size_t j = start; j < i;) {
        if (s[j] != '\\') {
            *w++ = s[j++];
            continue;
        }
        char e = s[j + 1];
        j += 2;
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *k = e ? strchr(from, e) : NULL;
        if (k) {
            *w++ = to[k - from];
            continue;
        }
        uint32_t cp = 0, lo = 0;
        if (e != 'u' || j + 4 > i || hex4(s + j, &cp) != 0)
            goto bad;
        j += 4;
        if (cp >= 0xd800 && cp < 0xdc00) {
            if (j + 6 > i || s[j] != '\\' || s[j + 1] != 'u' || hex4(s + j + 2, &lo) != 0 ||
                lo < 0xdc00 || lo > 0xdfff)
                goto bad;
            j += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp < 0xe000) {
            goto bad;
        }
        w += put_utf8(cp, w); /* never longer than the 6 escape bytes it replaces */
    }
    *w = '\0';
    *out = buf;
    *len = (size_t)(w - buf);
    *pos = i + 1;
    return true;
bad:
    free(buf);
    return false;
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

enum hs_err hs_manifest_fields_list(const struct hs_manifest *m, struct hs_manifest_field **out,
                                    size_t *n_out)
{
    if (m->strategy != HS_STRATEGY_FIELD_HYBRID || !m->field_order_json)
        return HS_EINVAL;
    const char *s = m->field_order_json;
    size_t len = strlen(s), i = skip_ws(s, len, 0), cap = 8, n = 0, entries = 0;
    uint64_t *d = NULL;
    size_t nd = 0;
    if (m->field_digests && hs_manifest_fdig_decode(m->field_digests, &d, &nd) != HS_OK)
        return HS_ECORRUPT;
    struct hs_manifest_field *f = hs_xcalloc(cap, sizeof *f);
    enum hs_err err = HS_ECORRUPT;
    if (i >= len || s[i] != '[')
        goto out;
    i = skip_ws(s, len, i + 1);
    while (i < len && s[i] != ']') {
        if (entries++ > 0) {
            if (s[i] != ',')
                goto out;
            i = skip_ws(s, len, i + 1);
        }
        char *str = NULL;
        size_t slen = 0;
        if (i >= len || s[i] != '"' || !scan_string(s, len, &i, &str, &slen))
            goto out;
        if (slen >= 1 && str[0] == 's') { /* a shadow (split.h): not a field of the document */
            free(str);
            i = skip_ws(s, len, i);
            continue;
        }
        if (slen < 1 || (str[0] != 'h' && str[0] != 'c') || (d && n >= nd)) {
            free(str);
            goto out;
        }
        if (n == cap)
            f = hs_xrealloc(f, (cap *= 2) * sizeof *f);
        struct hs_manifest_field *x = &f[n++];
        x->hot = str[0] == 'h';
        memmove(str, str + 1, slen); /* drop the flag, keep the NUL */
        x->name = str;
        x->name_len = slen - 1;
        x->has_digest = d != NULL;
        x->digest = d ? d[n - 1] : 0;
        i = skip_ws(s, len, i);
    }
    if (i >= len || (d && n != nd) || skip_ws(s, len, i + 1) != len)
        goto out;
    err = HS_OK;
    *out = f;
    *n_out = n;
    f = NULL;
out:
    hs_manifest_fields_free(f, n);
    free(d);
    return err;
}

const struct hs_manifest_field *hs_manifest_field_find(const struct hs_manifest_field *f, size_t n,
                                                       const void *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].name_len == len && memcmp(f[i].name, name, len) == 0)
            return &f[i];
    return NULL;
}
