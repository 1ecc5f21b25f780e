/* layout_record.c - the per-collection layout record (table in include/hs/layout.h): field
 * sets, validation, a strict JSON codec (jansson) and the effective hot set rule. No I/O.
 * Field sets are kept sorted so that equality, membership and the encoded text are canonical:
 * two healers deciding the same set write the same bytes. */
#include "hs/layout.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hs/csv.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/utf8.h"
#include "meta/manifest_int.h"
#include "hs/banned.h"

#define WHY(...) hs_meta_why(why, why_len, __VA_ARGS__)

static const char *const mode_names[] = {
    [HS_LAYOUT_ADAPTIVE] = "adaptive",
    [HS_LAYOUT_STATIC] = "static",
};

const char *hs_layout_mode_name(enum hs_layout_mode m)
{
    if ((size_t)m >= HS_ARRAY_LEN(mode_names))
        return NULL;
    return mode_names[m];
}

bool hs_layout_mode_parse(const char *text, enum hs_layout_mode *out)
{
    for (size_t i = 0; text && i < HS_ARRAY_LEN(mode_names); i++) {
        if (mode_names[i] && strcmp(mode_names[i], text) == 0) {
            *out = (enum hs_layout_mode)i;
            return true;
        }
    }
    return false;
}

static bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t step = hs_utf8_decode(p + i, n - i, &cp);
        if (step == 0 || cp == 0)
            return false;
        i += step;
    }
    return true;
}

bool hs_layout_field_name_valid(const char *name)
{
    if (!name)
        return false;
    size_t n = strnlen(name, HS_LAYOUT_FIELD_MAX + 1);
    return n >= 1 && n <= HS_LAYOUT_FIELD_MAX && utf8_valid(name, n);
}

bool hs_layout_collection_valid(const char *collection)
{
    if (!collection)
        return false;
    size_t n = strnlen(collection, HS_LAYOUT_COLLECTION_MAX + 1);
    return n >= 1 && n <= HS_LAYOUT_COLLECTION_MAX && hs_meta_object_key_valid(collection, n);
}

enum hs_err hs_meta_key_layout(const char *collection, char **out)
{
    if (!hs_layout_collection_valid(collection))
        return HS_EINVAL;
    *out = hs_xasprintf("%s%s", HS_META_PREFIX_LAYOUT, collection);
    return HS_OK;
}

/* ---- field sets ---- */

void hs_layout_fields_release(struct hs_layout_fields *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->names[i]);
    free(f->names);
    f->names = NULL;
    f->n = 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Takes ownership of names[0..n) (heap strings in a heap array): sorts, drops duplicates. */
static void fields_adopt(struct hs_layout_fields *f, char **names, size_t n)
{
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && strcmp(names[w - 1], names[i]) == 0) {
            free(names[i]);
            continue;
        }
        names[w++] = names[i];
    }
    hs_layout_fields_release(f);
    if (w == 0) {
        free(names);
        names = NULL;
    }
    f->names = names;
    f->n = w;
}

static size_t count_distinct(const char *const *names, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(names[i], names[j]) == 0;
        d += !seen;
    }
    return d;
}

enum hs_err hs_layout_fields_set(struct hs_layout_fields *f, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!hs_layout_field_name_valid(names[i]))
            return HS_EINVAL;
    if (n > HS_LAYOUT_FIELDS_MAX && count_distinct(names, n) > HS_LAYOUT_FIELDS_MAX)
        return HS_EINVAL;
    char **copy = n ? hs_xcalloc(n, sizeof *copy) : NULL;
    for (size_t i = 0; i < n; i++)
        copy[i] = hs_xstrdup(names[i]);
    fields_adopt(f, copy, n);
    return HS_OK;
}

enum hs_err hs_layout_fields_parse_csv(struct hs_layout_fields *f, const char *csv)
{
    size_t max = 1;
    for (const char *c = csv; *c; c++)
        max += *c == ',';
    char **names = hs_xcalloc(max, sizeof *names);
    size_t n = 0;
    const char *p = csv, *a;
    size_t len;
    while (hs_csv_next(&p, &a, &len))
        names[n++] = hs_xstrndup(a, len);
    enum hs_err err = hs_layout_fields_set(f, (const char *const *)names, n);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return err;
}

char *hs_layout_fields_csv(const struct hs_layout_fields *f)
{
    size_t len = 1;
    for (size_t i = 0; i < f->n; i++)
        len += strlen(f->names[i]) + 1;
    char *s = hs_xmalloc(len);
    size_t at = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (i)
            s[at++] = ',';
        size_t l = strlen(f->names[i]);
        memcpy(s + at, f->names[i], l);
        at += l;
    }
    s[at] = '\0';
    return s;
}

void hs_layout_fields_copy(struct hs_layout_fields *dst, const struct hs_layout_fields *src)
{
    if (dst == src)
        return;
    char **names = src->n ? hs_xcalloc(src->n, sizeof *names) : NULL;
    for (size_t i = 0; i < src->n; i++)
        names[i] = hs_xstrdup(src->names[i]);
    hs_layout_fields_release(dst);
    dst->names = names;
    dst->n = src->n;
}

bool hs_layout_fields_contains(const struct hs_layout_fields *f, const char *name)
{
    if (!f || f->n == 0)
        return false;
    return bsearch(&name, f->names, f->n, sizeof *f->names, cmp_names) != NULL;
}

bool hs_layout_fields_equal(const struct hs_layout_fields *a, const struct hs_layout_fields *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->names[i], b->names[i]) != 0)
            return false;
    return true;
}

void hs_layout_fields_combine(const struct hs_layout_fields *a, const struct hs_layout_fields *b,
                              const struct hs_layout_fields *minus, struct hs_layout_fields *out)
{
    size_t cap = a->n + (b ? b->n : 0);
    char **names = cap ? hs_xcalloc(cap, sizeof *names) : NULL;
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++)
        if (!hs_layout_fields_contains(minus, a->names[i]))
            names[n++] = hs_xstrdup(a->names[i]);
    for (size_t i = 0; b && i < b->n; i++)
        if (!hs_layout_fields_contains(minus, b->names[i]))
            names[n++] = hs_xstrdup(b->names[i]);
    fields_adopt(out, names, n);
}

/* ---- records ---- */

void hs_layout_record_init(struct hs_layout_record *r)
{
    memset(r, 0, sizeof *r);
    r->mode = HS_LAYOUT_ADAPTIVE;
    r->reason = hs_xstrdup("");
}

void hs_layout_record_release(struct hs_layout_record *r)
{
    if (!r)
        return;
    free(r->collection);
    free(r->reason);
    hs_layout_fields_release(&r->hot);
    hs_layout_fields_release(&r->pin_hot);
    hs_layout_fields_release(&r->pin_cold);
    hs_layout_fields_release(&r->pending);
    memset(r, 0, sizeof *r);
}

void hs_layout_record_copy(struct hs_layout_record *dst, const struct hs_layout_record *src)
{
    if (dst == src)
        return;
    struct hs_layout_record c = *src;
    c.collection = src->collection ? hs_xstrdup(src->collection) : NULL;
    c.reason = src->reason ? hs_xstrdup(src->reason) : NULL;
    memset(&c.hot, 0, sizeof c.hot);
    memset(&c.pin_hot, 0, sizeof c.pin_hot);
    memset(&c.pin_cold, 0, sizeof c.pin_cold);
    memset(&c.pending, 0, sizeof c.pending);
    hs_layout_fields_copy(&c.hot, &src->hot);
    hs_layout_fields_copy(&c.pin_hot, &src->pin_hot);
    hs_layout_fields_copy(&c.pin_cold, &src->pin_cold);
    hs_layout_fields_copy(&c.pending, &src->pending);
    hs_layout_record_release(dst);
    *dst = c;
}

static bool fields_valid(const struct hs_layout_fields *f, const char *what, char *why,
                         size_t why_len)
{
    if (f->n > HS_LAYOUT_FIELDS_MAX) {
        WHY("%s: %zu names, at most %d", what, f->n, HS_LAYOUT_FIELDS_MAX);
        return false;
    }
    for (size_t i = 0; i < f->n; i++) {
        if (!hs_layout_field_name_valid(f->names[i])) {
            WHY("%s[%zu]: want 1..%d bytes of UTF-8 without U+0000", what, i, HS_LAYOUT_FIELD_MAX);
            return false;
        }
        if (i > 0 && strcmp(f->names[i - 1], f->names[i]) >= 0) {
            WHY("%s[%zu]: names must be distinct and in ascending byte order", what, i);
            return false;
        }
    }
    return true;
}

static bool disjoint(const struct hs_layout_fields *a, const struct hs_layout_fields *b,
                     const char *what, char *why, size_t why_len)
{
    for (size_t i = 0; i < a->n; i++) {
        if (hs_layout_fields_contains(b, a->names[i])) {
            WHY("%s: '%.40s' is in both", what, a->names[i]);
            return false;
        }
    }
    return true;
}

static bool numbers_valid(const struct hs_layout_record *r, char *why, size_t why_len)
{
    if (r->epoch < 0 || r->decided_ms < 0 || r->pending_ms < 0 || r->pending_gain_bytes < 0 ||
        r->round_ms < 0 || r->round_writes < 0) {
        WHY("epoch, decided_ms, pending_ms, pending_gain, round_ms, round_writes: want >= 0");
        return false;
    }
    if (r->pending_n < 0 || r->pending_n > HS_LAYOUT_PENDING_N_MAX) {
        WHY("pending_n: want 0..%d", HS_LAYOUT_PENDING_N_MAX);
        return false;
    }
    return true;
}

enum hs_err hs_layout_record_validate(const struct hs_layout_record *r, char *why, size_t why_len)
{
    if (!hs_layout_collection_valid(r->collection)) {
        WHY("coll: want 1..%d bytes following the object key rule", HS_LAYOUT_COLLECTION_MAX);
        return HS_EINVAL;
    }
    if (!hs_layout_mode_name(r->mode)) {
        WHY("mode: want adaptive or static");
        return HS_EINVAL;
    }
    if (!r->reason || strlen(r->reason) > HS_LAYOUT_REASON_MAX ||
        !utf8_valid(r->reason, strlen(r->reason))) {
        WHY("reason: want 0..%d bytes of UTF-8", HS_LAYOUT_REASON_MAX);
        return HS_EINVAL;
    }
    if (!numbers_valid(r, why, why_len) || !fields_valid(&r->hot, "hot", why, why_len) ||
        !fields_valid(&r->pin_hot, "pin_hot", why, why_len) ||
        !fields_valid(&r->pin_cold, "pin_cold", why, why_len) ||
        !fields_valid(&r->pending, "pending", why, why_len) ||
        !disjoint(&r->pin_hot, &r->pin_cold, "pin_hot and pin_cold", why, why_len) ||
        !disjoint(&r->hot, &r->pin_cold, "hot and pin_cold", why, why_len))
        return HS_EINVAL;
    if (r->epoch == 0 && r->hot.n != 0) {
        WHY("hot: want [] while epoch is 0");
        return HS_EINVAL;
    }
    for (size_t i = 0; r->epoch > 0 && i < r->pin_hot.n; i++) {
        if (!hs_layout_fields_contains(&r->hot, r->pin_hot.names[i])) {
            WHY("hot: misses pinned '%.40s'", r->pin_hot.names[i]);
            return HS_EINVAL;
        }
    }
    if (r->pending_n == 0 && r->pending.n != 0) {
        WHY("pending: want [] while pending_n is 0");
        return HS_EINVAL;
    }
    return HS_OK;
}

static json_t *fields_json(const struct hs_layout_fields *f)
{
    json_t *a = json_array();
    if (!a)
        HS_BUG("out of memory");
    for (size_t i = 0; i < f->n; i++)
        if (json_array_append_new(a, hs_mj_string(f->names[i])) != 0)
            HS_BUG("out of memory");
    return a;
}

enum hs_err hs_layout_record_encode(const struct hs_layout_record *r, char **out, size_t *len_out,
                                    char *why, size_t why_len)
{
    if (hs_layout_record_validate(r, why, why_len) != HS_OK)
        return HS_EINVAL;
    json_t *o = json_object();
    if (!o)
        HS_BUG("out of memory");
    hs_mj_set(o, "v", json_integer(HS_LAYOUT_RECORD_VERSION));
    hs_mj_set(o, "coll", hs_mj_string(r->collection));
    hs_mj_set(o, "epoch", json_integer(r->epoch));
    hs_mj_set(o, "mode", hs_mj_string(hs_layout_mode_name(r->mode)));
    hs_mj_set(o, "hot", fields_json(&r->hot));
    hs_mj_set(o, "pin_hot", fields_json(&r->pin_hot));
    hs_mj_set(o, "pin_cold", fields_json(&r->pin_cold));
    hs_mj_set(o, "decided_ms", json_integer(r->decided_ms));
    hs_mj_set(o, "reason", hs_mj_string(r->reason));
    hs_mj_set(o, "pending", fields_json(&r->pending));
    hs_mj_set(o, "pending_n", json_integer(r->pending_n));
    hs_mj_set(o, "pending_ms", json_integer(r->pending_ms));
    hs_mj_set(o, "pending_gain", json_integer(r->pending_gain_bytes));
    hs_mj_set(o, "round_ms", json_integer(r->round_ms));
    hs_mj_set(o, "round_writes", json_integer(r->round_writes));
    char *text = NULL;
    size_t len = 0;
    enum hs_err err = hs_mj_dump(o, &text, &len, why, why_len); /* consumes o */
    if (err != HS_OK)
        return err;
    if (len > HS_LAYOUT_ENCODED_MAX) {
        WHY("record of %zu bytes is over the %zu byte limit", len, HS_LAYOUT_ENCODED_MAX);
        free(text);
        return HS_ETOOBIG;
    }
    *out = text;
    *len_out = len;
    return HS_OK;
}

static bool fields_from_json(const json_t *root, const char *name, struct hs_layout_fields *f,
                             char *why, size_t why_len)
{
    const json_t *a = json_object_get(root, name);
    if (!json_is_array(a) || json_array_size(a) > HS_LAYOUT_FIELDS_MAX) {
        WHY("%s: want an array of at most %d strings", name, HS_LAYOUT_FIELDS_MAX);
        return false;
    }
    size_t n = json_array_size(a);
    f->names = n ? hs_xcalloc(n, sizeof *f->names) : NULL;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(a, i);
        if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s)) {
            WHY("%s[%zu]: want a string without U+0000", name, i);
            return false;
        }
        f->names[f->n++] = hs_xstrdup(json_string_value(s));
    }
    return true; /* order, uniqueness and names: validate */
}

static bool int_member(const json_t *root, const char *name, int64_t max, int64_t *out, char *why,
                       size_t why_len)
{
    return hs_mj_int(root, name, "layout", 0, max, out, why, why_len);
}

static bool record_from_json(const json_t *root, struct hs_layout_record *r, char *why,
                             size_t why_len)
{
    static const char *const keys[] = {
        "v",         "coll",       "epoch",        "mode",     "hot",
        "pin_hot",   "pin_cold",   "decided_ms",   "reason",   "pending",
        "pending_n", "pending_ms", "pending_gain", "round_ms", "round_writes",
    };
    if (!hs_mj_check_keys(root, keys, HS_ARRAY_LEN(keys), "layout", why, why_len))
        return false;
    free(r->reason);
    r->reason = NULL;
    char *mode = NULL;
    int64_t pending_n = 0;
    bool ok = hs_mj_str(root, "coll", "layout", &r->collection, why, why_len) &&
              int_member(root, "epoch", INT64_MAX, &r->epoch, why, why_len) &&
              hs_mj_str(root, "mode", "layout", &mode, why, why_len) &&
              fields_from_json(root, "hot", &r->hot, why, why_len) &&
              fields_from_json(root, "pin_hot", &r->pin_hot, why, why_len) &&
              fields_from_json(root, "pin_cold", &r->pin_cold, why, why_len) &&
              int_member(root, "decided_ms", INT64_MAX, &r->decided_ms, why, why_len) &&
              hs_mj_str(root, "reason", "layout", &r->reason, why, why_len) &&
              fields_from_json(root, "pending", &r->pending, why, why_len) &&
              int_member(root, "pending_n", HS_LAYOUT_PENDING_N_MAX, &pending_n, why, why_len) &&
              int_member(root, "pending_ms", INT64_MAX, &r->pending_ms, why, why_len) &&
              int_member(root, "pending_gain", INT64_MAX, &r->pending_gain_bytes, why, why_len) &&
              int_member(root, "round_ms", INT64_MAX, &r->round_ms, why, why_len) &&
              int_member(root, "round_writes", INT64_MAX, &r->round_writes, why, why_len);
    if (ok && !hs_layout_mode_parse(mode, &r->mode)) {
        WHY("mode: '%.20s' is not adaptive or static", mode);
        ok = false;
    }
    r->pending_n = (int32_t)pending_n;
    free(mode);
    return ok;
}

enum hs_err hs_layout_record_decode(const void *data, size_t len, struct hs_layout_record *out,
                                    char *why, size_t why_len)
{
    if (len > HS_LAYOUT_ENCODED_MAX) {
        WHY("record of %zu bytes is over the %zu byte limit", len, HS_LAYOUT_ENCODED_MAX);
        return HS_ECORRUPT;
    }
    json_t *root = NULL;
    enum hs_err err = hs_mj_load(data, len, HS_LAYOUT_RECORD_VERSION, &root, why, why_len);
    if (err != HS_OK)
        return err;
    struct hs_layout_record r;
    hs_layout_record_init(&r);
    err = HS_ECORRUPT;
    if (record_from_json(root, &r, why, why_len) &&
        hs_layout_record_validate(&r, why, why_len) == HS_OK)
        err = HS_OK;
    json_decref(root);
    if (err != HS_OK) {
        hs_layout_record_release(&r);
        return err;
    }
    *out = r;
    return HS_OK;
}

void hs_layout_effective_hot(const struct hs_layout_record *r, const struct hs_layout_fields *deflt,
                             struct hs_layout_fields *out)
{
    const struct hs_layout_fields *base = r && r->epoch >= 1 ? &r->hot : deflt;
    struct hs_layout_fields tmp = {0};
    hs_layout_fields_combine(base, r ? &r->pin_hot : NULL, r ? &r->pin_cold : NULL, &tmp);
    hs_layout_fields_release(out);
    *out = tmp;
}

/* One order element, as jansson decoded it: flag byte + the key (the record holds the key as
 * the client escaped it inside a JSON string, so decoding the array unescapes it). NULL when
 * the flag is unknown; "" for a key holding U+0000 (the caller skips it). */
static char *order_name(const json_t *e, char *flag)
{
    const char *s = json_string_value(e);
    size_t n = json_string_length(e);
    if (!s || n < 1 || (s[0] != 'h' && s[0] != 'c' && s[0] != 's'))
        return NULL;
    *flag = s[0];
    return strlen(s) == n ? hs_xstrdup(s + 1) : hs_xstrdup("");
}

enum hs_err hs_layout_object_fields(const char *order_json, struct hs_layout_fields *hot,
                                    struct hs_layout_fields *cold)
{
    json_t *a = order_json ? json_loads(order_json, JSON_ALLOW_NUL, NULL) : NULL;
    if (!json_is_array(a)) {
        json_decref(a);
        return HS_ECORRUPT;
    }
    size_t n = json_array_size(a), nh = 0, nc = 0;
    char **h = n ? hs_xcalloc(n, sizeof *h) : NULL, **c = n ? hs_xcalloc(n, sizeof *c) : NULL;
    enum hs_err err = HS_OK;
    for (size_t i = 0; i < n && err == HS_OK; i++) {
        const json_t *e = json_array_get(a, i);
        char flag = 0;
        char *name = order_name(e, &flag);
        if (!name) {
            err = HS_ECORRUPT;
        } else if (flag == 's' || !hs_layout_field_name_valid(name)) {
            free(name); /* a shadow is no field of the document (split.h) */
        } else if (flag == 'h') {
            h[nh++] = name;
        } else {
            c[nc++] = name;
        }
    }
    json_decref(a);
    if (err != HS_OK) {
        for (size_t i = 0; i < nh; i++)
            free(h[i]);
        for (size_t i = 0; i < nc; i++)
            free(c[i]);
        free(h);
        free(c);
        return err;
    }
    fields_adopt(hot, h, nh);
    fields_adopt(cold, c, nc);
    return HS_OK;
}
