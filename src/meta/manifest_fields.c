/* manifest_fields.c - the manifest's optional "fdig" member (format version 2, table in
 * manifest.h): one XXH3-64 digest per top-level field of a field_hybrid object, in the order
 * record's order, packed as 8 big-endian bytes each and written as unpadded base64url (about 11
 * characters a field). With it a gateway finds the fields a full PUT changed without reading the
 * cold part. Also the list of an object's fields (name, hot flag, digest) built from the order
 * record and fdig, which the gateway uses for change detection and projection reads. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

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
    return m->field_digests ? 2 : HS_MANIFEST_VERSION;
}

void hs_manifest_fields_free(struct hs_manifest_field *f, size_t n)
{
    for (size_t i = 0; f && i < n; i++)
        free(f[i].name);
    free(f);
}

enum hs_err hs_manifest_fields_list(const struct hs_manifest *m, struct hs_manifest_field **out,
                                    size_t *n_out)
{
    if (m->strategy != HS_STRATEGY_FIELD_HYBRID || !m->field_order_json)
        return HS_EINVAL;
    json_t *a = json_loads(m->field_order_json, JSON_ALLOW_NUL, NULL);
    enum hs_err err = HS_ECORRUPT;
    uint64_t *d = NULL;
    size_t nd = 0;
    struct hs_manifest_field *f = NULL;
    size_t n = 0;
    if (!json_is_array(a))
        goto out;
    if (m->field_digests &&
        (hs_manifest_fdig_decode(m->field_digests, &d, &nd) != HS_OK || nd != json_array_size(a)))
        goto out;
    f = hs_xcalloc(json_array_size(a) + 1, sizeof *f);
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *e = json_array_get(a, i);
        const char *s = json_string_value(e);
        size_t len = json_string_length(e);
        if (!s || len < 1 || (s[0] != 'h' && s[0] != 'c'))
            goto out;
        struct hs_manifest_field *x = &f[n++];
        x->name = hs_xmalloc(len);
        memcpy(x->name, s + 1, len - 1);
        x->name[len - 1] = '\0';
        x->name_len = len - 1;
        x->hot = s[0] == 'h';
        x->has_digest = d != NULL;
        x->digest = d ? d[i] : 0;
    }
    err = HS_OK;
    *out = f;
    *n_out = n;
    f = NULL;
out:
    hs_manifest_fields_free(f, n);
    free(d);
    json_decref(a);
    return err;
}
