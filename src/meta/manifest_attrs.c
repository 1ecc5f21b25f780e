/* manifest_attrs.c - the manifest's optional "attrs" member (format version 2, table in
 * include/hs/manifest.h): the headers an S3 client stores with an object (Content-Encoding,
 * Cache-Control, Content-Disposition, Content-Language, Expires), its user metadata and the
 * flexible checksum the write verified. Struct helpers, rules, and the JSON hooks that
 * manifest_json.c calls. It knows nothing of HTTP: front ends map headers onto it. */
#include "hs/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "hs/utf8.h"
#include "manifest_int.h"
#include "hs/banned.h"

#define WHY(...) hs_meta_why(why, why_len, __VA_ARGS__)

const struct hs_manifest_attr_str hs_manifest_attr_strs[HS_MANIFEST_ATTR_STRS] = {
    {"Content-Encoding", "cenc", offsetof(struct hs_manifest_attrs, content_encoding)},
    {"Cache-Control", "cctl", offsetof(struct hs_manifest_attrs, cache_control)},
    {"Content-Disposition", "cdisp", offsetof(struct hs_manifest_attrs, content_disposition)},
    {"Content-Language", "clang", offsetof(struct hs_manifest_attrs, content_language)},
    {"Expires", "expires", offsetof(struct hs_manifest_attrs, expires)},
};

char **hs_manifest_attrs_str(struct hs_manifest_attrs *a, size_t i)
{
    return (char **)((char *)a + hs_manifest_attr_strs[i].off);
}

const char *hs_manifest_attrs_str_get(const struct hs_manifest_attrs *a, size_t i)
{
    return *(char *const *)((const char *)a + hs_manifest_attr_strs[i].off);
}

static const struct ck_row {
    const char *alg;
    size_t b64_len;
} ck_rows[] = {
    {"crc32", 8}, {"crc32c", 8}, {"crc64nvme", 12}, {"sha1", 28}, {"sha256", 44},
};

size_t hs_manifest_checksum_b64_len(const char *alg)
{
    for (size_t i = 0; alg && i < HS_ARRAY_LEN(ck_rows); i++)
        if (strcmp(alg, ck_rows[i].alg) == 0)
            return ck_rows[i].b64_len;
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? hs_xstrdup(s) : NULL;
}

bool hs_manifest_attrs_empty(const struct hs_manifest_attrs *a)
{
    if (!a)
        return true;
    for (size_t i = 0; i < HS_MANIFEST_ATTR_STRS; i++)
        if (hs_manifest_attrs_str_get(a, i))
            return false;
    return a->n_meta == 0 && !a->checksum_alg && !a->checksum && !a->checksum_type;
}

struct hs_manifest_attrs *hs_manifest_attrs_dup(const struct hs_manifest_attrs *a)
{
    if (hs_manifest_attrs_empty(a))
        return NULL;
    struct hs_manifest_attrs *d = hs_xcalloc(1, sizeof *d);
    for (size_t i = 0; i < HS_MANIFEST_ATTR_STRS; i++)
        *hs_manifest_attrs_str(d, i) = dup_or_null(hs_manifest_attrs_str_get(a, i));
    d->meta = hs_xcalloc(a->n_meta ? a->n_meta : 1, sizeof *d->meta);
    for (size_t i = 0; i < a->n_meta; i++) {
        d->meta[i].name = hs_xstrdup(a->meta[i].name);
        d->meta[i].value = hs_xstrdup(a->meta[i].value);
    }
    d->n_meta = a->n_meta;
    d->checksum_alg = dup_or_null(a->checksum_alg);
    d->checksum = dup_or_null(a->checksum);
    d->checksum_type = dup_or_null(a->checksum_type);
    return d;
}

void hs_manifest_attrs_release(struct hs_manifest_attrs *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < HS_MANIFEST_ATTR_STRS; i++)
        free(*hs_manifest_attrs_str(a, i));
    for (size_t i = 0; i < a->n_meta; i++) {
        free(a->meta[i].name);
        free(a->meta[i].value);
    }
    free(a->meta);
    free(a->checksum_alg);
    free(a->checksum);
    free(a->checksum_type);
    memset(a, 0, sizeof *a);
}

void hs_manifest_attrs_free(struct hs_manifest_attrs *a)
{
    hs_manifest_attrs_release(a);
    free(a);
}

/* ---- rules ---- */

/* UTF-8 without control characters (tab allowed: header values may hold it), at most
 * HS_ATTR_VALUE_MAX bytes; empty only when allow_empty. */
static bool value_ok(const char *s, bool allow_empty)
{
    if (!s)
        return false;
    size_t len = strlen(s);
    if ((len == 0 && !allow_empty) || len > HS_ATTR_VALUE_MAX)
        return false;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t step = hs_utf8_decode(u + i, len - i, &cp);
        if (step == 0 || (cp < 0x20 && cp != '\t') || (cp >= 0x7f && cp <= 0x9f))
            return false;
        i += step;
    }
    return true;
}

/* An RFC 9110 token in lower case (what is left of an x-amz-meta-* header name). */
static bool meta_name_ok(const char *s)
{
    static const char extra[] = "!#$%&'*+.^_`|~-";
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len > HS_ATTRS_META_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr(extra, c)))
            return false;
    }
    return true;
}

static bool b64_ok(const char *s, size_t want)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!s || strlen(s) != want)
        return false;
    size_t pad = 0;
    for (size_t i = 0; i < want; i++) {
        if (s[i] == '=' && i + 2 >= want)
            pad++;
        else if (pad || !strchr(alphabet, s[i]) || s[i] == '\0')
            return false;
    }
    return true;
}

static size_t meta_bytes(const struct hs_manifest_attrs *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n_meta; i++)
        n += strlen(a->meta[i].name) + strlen(a->meta[i].value);
    return n;
}

static enum hs_err checksum_check(const struct hs_manifest_attrs *a, char *why, size_t why_len)
{
    if (!a->checksum_alg && !a->checksum && !a->checksum_type)
        return HS_OK;
    size_t want = hs_manifest_checksum_b64_len(a->checksum_alg);
    if (!want || !a->checksum) {
        WHY("attrs.ck_alg: want crc32, crc32c, crc64nvme, sha1 or sha256 together with ck");
        return HS_EINVAL;
    }
    bool composite = a->checksum_type && strcmp(a->checksum_type, "COMPOSITE") == 0;
    if (a->checksum_type && !composite && strcmp(a->checksum_type, "FULL_OBJECT") != 0) {
        WHY("attrs.ck_type: want FULL_OBJECT or COMPOSITE");
        return HS_EINVAL;
    }
    /* a composite checksum is "<base64>-<parts>" */
    const char *dash = composite ? strchr(a->checksum, '-') : NULL;
    char digest[64];
    snprintf(digest, sizeof digest, "%.*s", dash ? (int)(dash - a->checksum) : 63, a->checksum);
    bool parts_ok =
        !dash || (dash[1] >= '1' && dash[1] <= '9' &&
                  strspn(dash + 1, "0123456789") == strlen(dash + 1) && strlen(dash + 1) <= 5);
    if (!b64_ok(digest, want) || !parts_ok || (composite && !dash)) {
        WHY("attrs.ck: want %zu chars of base64%s", want, composite ? " then -<parts>" : "");
        return HS_EINVAL;
    }
    return HS_OK;
}

enum hs_err hs_manifest_attrs_validate(const struct hs_manifest_attrs *a, char *why, size_t why_len)
{
    if (!a)
        return HS_OK;
    for (size_t i = 0; i < HS_MANIFEST_ATTR_STRS; i++) {
        const char *v = hs_manifest_attrs_str_get(a, i);
        if (v && !value_ok(v, false)) {
            WHY("attrs.%s: want 1..%d bytes of UTF-8 without control characters",
                hs_manifest_attr_strs[i].json, HS_ATTR_VALUE_MAX);
            return HS_EINVAL;
        }
    }
    if (a->n_meta && !a->meta) {
        WHY("attrs.meta: missing");
        return HS_EINVAL;
    }
    for (size_t i = 0; i < a->n_meta; i++) {
        if (!meta_name_ok(a->meta[i].name)) {
            WHY("attrs.meta[%zu]: name: want 1..%d lower-case token chars", i,
                HS_ATTRS_META_NAME_MAX);
            return HS_EINVAL;
        }
        if (i > 0 && strcmp(a->meta[i - 1].name, a->meta[i].name) >= 0) {
            WHY("attrs.meta[%zu]: names not sorted or not unique", i);
            return HS_EINVAL;
        }
        if (!value_ok(a->meta[i].value, true)) {
            WHY("attrs.meta[%zu]: value: want 0..%d bytes of UTF-8 without control characters", i,
                HS_ATTR_VALUE_MAX);
            return HS_EINVAL;
        }
    }
    if (meta_bytes(a) > HS_ATTRS_META_MAX) {
        WHY("attrs.meta: %zu bytes of names and values, over %d", meta_bytes(a), HS_ATTRS_META_MAX);
        return HS_EINVAL;
    }
    return checksum_check(a, why, why_len);
}

enum hs_err hs_manifest_attrs_meta_add(struct hs_manifest_attrs *a, const char *name,
                                       const char *value, char *why, size_t why_len)
{
    char lower[HS_ATTRS_META_NAME_MAX + 1];
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > HS_ATTRS_META_NAME_MAX) {
        WHY("metadata name: want 1..%d chars", HS_ATTRS_META_NAME_MAX);
        return HS_EINVAL;
    }
    for (size_t i = 0; i <= len; i++)
        lower[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
    if (!meta_name_ok(lower)) {
        WHY("metadata name '%.40s': not an HTTP token", name);
        return HS_EINVAL;
    }
    if (value && meta_bytes(a) + len + strlen(value) > HS_ATTRS_META_MAX) {
        WHY("user metadata over %d bytes", HS_ATTRS_META_MAX);
        return HS_ETOOBIG;
    }
    if (!value_ok(value, true)) {
        WHY("metadata '%s': value is not UTF-8 without control characters", lower);
        return HS_EINVAL;
    }
    size_t at = 0;
    for (; at < a->n_meta; at++) {
        int c = strcmp(a->meta[at].name, lower);
        if (c == 0) {
            WHY("metadata '%s' given twice", lower);
            return HS_EEXIST;
        }
        if (c > 0)
            break;
    }
    a->meta = hs_xrealloc(a->meta, (a->n_meta + 1) * sizeof *a->meta);
    memmove(&a->meta[at + 1], &a->meta[at], (a->n_meta - at) * sizeof *a->meta);
    a->meta[at].name = hs_xstrdup(lower);
    a->meta[at].value = hs_xstrdup(value);
    a->n_meta++;
    return HS_OK;
}

const char *hs_manifest_attrs_meta_get(const struct hs_manifest_attrs *a, const char *name)
{
    for (size_t i = 0; a && name && i < a->n_meta; i++)
        if (strcmp(a->meta[i].name, name) == 0)
            return a->meta[i].value;
    return NULL;
}

/* ---- JSON hooks (manifest_int.h) ---- */

json_t *hs_mj_attrs_to_json(const struct hs_manifest_attrs *a)
{
    json_t *j = json_object();
    for (size_t i = 0; i < HS_MANIFEST_ATTR_STRS; i++)
        if (hs_manifest_attrs_str_get(a, i))
            hs_mj_set(j, hs_manifest_attr_strs[i].json,
                      hs_mj_string(hs_manifest_attrs_str_get(a, i)));
    if (a->n_meta) {
        json_t *meta = json_array();
        for (size_t i = 0; i < a->n_meta; i++) {
            json_t *pair = json_array();
            if (json_array_append_new(pair, hs_mj_string(a->meta[i].name)) != 0 ||
                json_array_append_new(pair, hs_mj_string(a->meta[i].value)) != 0 ||
                json_array_append_new(meta, pair) != 0)
                HS_BUG("cannot append to a JSON array");
        }
        hs_mj_set(j, "meta", meta);
    }
    if (a->checksum_alg) {
        hs_mj_set(j, "ck_alg", hs_mj_string(a->checksum_alg));
        hs_mj_set(j, "ck", hs_mj_string(a->checksum));
        if (a->checksum_type)
            hs_mj_set(j, "ck_type", hs_mj_string(a->checksum_type));
    }
    return j;
}

static bool opt_str(const json_t *obj, const char *name, char **out, char *why, size_t why_len)
{
    return !json_object_get(obj, name) || hs_mj_str(obj, name, "attrs", out, why, why_len);
}

static bool meta_from_json(const json_t *meta, struct hs_manifest_attrs *a, char *why,
                           size_t why_len)
{
    if (!json_is_array(meta)) {
        WHY("attrs.meta: not an array");
        return false;
    }
    a->meta = hs_xcalloc(json_array_size(meta) + 1, sizeof *a->meta);
    for (size_t i = 0; i < json_array_size(meta); i++) {
        json_t *pair = json_array_get(meta, i);
        json_t *n = json_array_get(pair, 0), *v = json_array_get(pair, 1);
        if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_string(n) ||
            !json_is_string(v) || strlen(json_string_value(n)) != json_string_length(n) ||
            strlen(json_string_value(v)) != json_string_length(v)) {
            WHY("attrs.meta[%zu]: want [name, value] strings without NUL", i);
            return false;
        }
        a->meta[i].name = hs_xstrdup(json_string_value(n));
        a->meta[i].value = hs_xstrdup(json_string_value(v));
        a->n_meta++;
    }
    return true;
}

bool hs_mj_attrs_from_json(const json_t *root, int64_t version, struct hs_manifest *m, char *why,
                           size_t why_len)
{
    static const char *const keys[] = {"cenc", "cctl",   "cdisp", "clang",  "expires",
                                       "meta", "ck_alg", "ck",    "ck_type"};
    json_t *j = json_object_get(root, "attrs");
    if (!j)
        return true;
    if (version < HS_MANIFEST_VERSION_2) {
        WHY("attrs: not in a version 1 manifest");
        return false;
    }
    if (!hs_mj_check_keys(j, keys, HS_ARRAY_LEN(keys), "attrs", why, why_len))
        return false;
    struct hs_manifest_attrs *a = hs_xcalloc(1, sizeof *a);
    m->attrs = a; /* released with m on any failure */
    for (size_t i = 0; i < HS_MANIFEST_ATTR_STRS; i++)
        if (!opt_str(j, hs_manifest_attr_strs[i].json, hs_manifest_attrs_str(a, i), why, why_len))
            return false;
    if (json_object_get(j, "meta") && !meta_from_json(json_object_get(j, "meta"), a, why, why_len))
        return false;
    if (!opt_str(j, "ck_alg", &a->checksum_alg, why, why_len) ||
        !opt_str(j, "ck", &a->checksum, why, why_len) ||
        !opt_str(j, "ck_type", &a->checksum_type, why, why_len))
        return false;
    if (hs_manifest_attrs_empty(a)) {
        WHY("attrs: empty (write no member rather than an empty one)");
        return false;
    }
    return true;
}
