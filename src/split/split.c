/* split.c - validation, the hot/cold split and the canonical cold hash. The split sizes all three
 * outputs first and then copies each member once (key and value bytes as sent); the hash streams
 * the cold members in key order through a small staging buffer, so no canonical copy is built. */
#include "split_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
#include <xxh_x86dispatch.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

static const struct {
    const char *name;
    const char *text;
} error_info[HS_SPLIT_ERROR_COUNT_] = {
    [HS_SPLIT_OK] = {"ok", "no error"},
    [HS_SPLIT_EMPTY] = {"empty", "empty document"},
    [HS_SPLIT_NOT_OBJECT] = {"not_object", "top-level value is not an object"},
    [HS_SPLIT_SYNTAX] = {"syntax", "unexpected byte"},
    [HS_SPLIT_TRUNCATED] = {"truncated", "unexpected end of document"},
    [HS_SPLIT_BAD_ESCAPE] = {"bad_escape", "invalid escape in string"},
    [HS_SPLIT_BAD_SURROGATE] = {"bad_surrogate", "unpaired UTF-16 surrogate escape"},
    [HS_SPLIT_BAD_UTF8] = {"bad_utf8", "invalid UTF-8"},
    [HS_SPLIT_CONTROL_CHAR] = {"control_char", "unescaped control character in string"},
    [HS_SPLIT_LEADING_ZERO] = {"leading_zero", "number with a leading zero"},
    [HS_SPLIT_BAD_NUMBER] = {"bad_number", "digit expected in number"},
    [HS_SPLIT_DUPLICATE_KEY] = {"duplicate_key", "duplicate key"},
    [HS_SPLIT_TOO_DEEP] = {"too_deep", "nesting too deep"},
    [HS_SPLIT_TRAILING] = {"trailing", "trailing data after the object"},
    [HS_SPLIT_TOO_BIG] = {"too_big", "document of 4 GiB or more"},
};

const char *hs_split_error_name(enum hs_split_error_code code)
{
    return (unsigned)code < HS_SPLIT_ERROR_COUNT_ ? error_info[code].name : "unknown";
}

const char *hs_split_error_text(enum hs_split_error_code code)
{
    return (unsigned)code < HS_SPLIT_ERROR_COUNT_ ? error_info[code].text : "unknown error";
}

void hs_split_error_format(const struct hs_split_error *e, char *out, size_t cap)
{
    if (cap > 0)
        snprintf(out, cap, "%s at byte %zu", hs_split_error_text(e->code), e->offset);
}

enum hs_err hs_split_opts_depth(const struct hs_split_opts *opts, unsigned *max_depth)
{
    unsigned d = opts && opts->max_depth ? opts->max_depth : HS_SPLIT_DEFAULT_MAX_DEPTH;
    if (d > HS_SPLIT_MAX_MAX_DEPTH)
        return HS_EINVAL;
    *max_depth = d;
    return HS_OK;
}

/* Parses a whole document into o; HS_EINVAL with *err on failure. */
static enum hs_err parse_doc(const struct hs_split_opts *opts, struct hs_jobj *o,
                             const uint8_t *doc, size_t len, struct hs_split_error *err)
{
    unsigned max_depth;
    size_t off = 0;
    if (hs_split_opts_depth(opts, &max_depth) != HS_OK) {
        hs_split_set_error(err, HS_SPLIT_OK, 0);
        return HS_EINVAL;
    }
    enum hs_split_error_code c =
        hs_json_parse_object(o, doc, len, 0, max_depth, HS_JPARSE_WHOLE, &off);
    if (c != HS_SPLIT_OK) {
        hs_split_set_error(err, c, off);
        return HS_EINVAL;
    }
    return HS_OK;
}

enum hs_err hs_split_validate(const struct hs_split_opts *opts, const uint8_t *body, size_t len,
                              struct hs_split_error *err)
{
    struct hs_jobj o;
    hs_jobj_init(&o, body);
    enum hs_err rc = parse_doc(opts, &o, body, len, err);
    hs_jobj_release(&o);
    return rc;
}

/* ---- canonical hash ------------------------------------------------------------------------ */

/* XXH3 streaming has a per-call cost, and canonical output comes in small pieces (keys, ':',
 * ','), so pieces are gathered here; large runs go straight to the hash. */
struct hasher {
    XXH3_state_t *st;
    size_t len;
    uint8_t buf[16384];
};

static void h_flush(struct hasher *h)
{
    if (h->len) {
        XXH3_128bits_update_dispatch(h->st, h->buf, h->len);
        h->len = 0;
    }
}

static void h_feed(struct hasher *h, const void *p, size_t n)
{
    if (n >= 512) { /* big enough to amortise a streaming call */
        h_flush(h);
        XXH3_128bits_update_dispatch(h->st, p, n);
        return;
    }
    if (h->len + n > sizeof h->buf)
        h_flush(h);
    memcpy(h->buf + h->len, p, n);
    h->len += n;
}

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Feeds a validated value without the whitespace between its tokens. Strings are copied whole:
 * whitespace inside them is content. */
static void feed_stripped(struct hasher *h, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && !is_ws(p[i]))
            i = p[i] == '"' ? hs_json_string_end(p, n, i) : i + 1;
        h_feed(h, p + start, i - start);
        while (i < n && is_ws(p[i]))
            i++;
    }
}

/* Keys compare as memcmp over their raw bytes, shorter first on a tie. The first 8 bytes are
 * kept big-endian in the sort key itself: most comparisons end there without touching the
 * document. */
struct sort_key {
    uint64_t prefix;    /* first 8 key bytes, big-endian, zero-padded */
    const uint8_t *key; /* raw key bytes between the quotes */
    uint32_t len;
    uint32_t idx;
};

static uint64_t load_be64(const uint8_t *p, size_t len)
{
    uint8_t b[8] = {0};
    memcpy(b, p, HS_MIN(len, sizeof b));
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v = v << 8 | b[k];
    return v;
}

static int sort_key_cmp(const void *a, const void *b)
{
    const struct sort_key *x = a, *y = b;
    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1;
    uint32_t common = HS_MIN(x->len, y->len);
    if (common > 8) {
        int c = memcmp(x->key + 8, y->key + 8, common - 8);
        if (c)
            return c;
    }
    return x->len < y->len ? -1 : x->len > y->len;
}

void hs_split_canonical_hash(const struct hs_jobj *o, const uint32_t *idx, size_t n,
                             uint8_t out[HS_SPLIT_HASH_BYTES])
{
    struct sort_key *keys = hs_xmalloc((n ? n : 1) * sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        const struct hs_jmember *m = &o->m[idx[i]];
        const uint8_t *key = o->doc + m->key_off + 1;
        keys[i] = (struct sort_key){load_be64(key, m->key_len - 2), key, m->key_len - 2, idx[i]};
    }
    qsort(keys, n, sizeof *keys, sort_key_cmp);
    struct hasher *h = hs_xmalloc(sizeof *h);
    h->st = XXH3_createState();
    if (!h->st)
        HS_BUG("XXH3_createState failed");
    XXH3_128bits_reset(h->st);
    h->len = 0;
    h_feed(h, "{", 1);
    for (size_t i = 0; i < n; i++) {
        const struct hs_jmember *m = &o->m[keys[i].idx];
        if (i)
            h_feed(h, ",", 1);
        h_feed(h, o->doc + m->key_off, m->key_len);
        h_feed(h, ":", 1);
        if (m->flags & HS_JM_VALUE_WS)
            feed_stripped(h, o->doc + m->val_off, m->val_len);
        else
            h_feed(h, o->doc + m->val_off, m->val_len);
    }
    h_feed(h, "}", 1);
    h_flush(h);
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(h->st));
    memcpy(out, canon.digest, HS_SPLIT_HASH_BYTES);
    XXH3_freeState(h->st);
    free(h);
    free(keys);
}

enum hs_err hs_split_cold_hash(const struct hs_split_opts *opts, const uint8_t *cold, size_t len,
                               uint8_t hash[HS_SPLIT_HASH_BYTES], struct hs_split_error *err)
{
    struct hs_jobj o;
    hs_jobj_init(&o, cold);
    enum hs_err rc = parse_doc(opts, &o, cold, len, err);
    if (rc == HS_OK) {
        uint32_t *idx = hs_xmalloc((o.n ? o.n : 1) * sizeof *idx);
        for (size_t i = 0; i < o.n; i++)
            idx[i] = (uint32_t)i;
        hs_split_canonical_hash(&o, idx, o.n, hash);
        free(idx);
    }
    hs_jobj_release(&o);
    return rc;
}

void hs_split_hash_hex(const uint8_t hash[HS_SPLIT_HASH_BYTES],
                       char out[2 * HS_SPLIT_HASH_BYTES + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < HS_SPLIT_HASH_BYTES; i++) {
        out[2 * i] = digits[hash[i] >> 4];
        out[2 * i + 1] = digits[hash[i] & 15];
    }
    out[(size_t)2 * HS_SPLIT_HASH_BYTES] = '\0';
}

/* ---- split --------------------------------------------------------------------------------- */

void hs_split_result_init(struct hs_split_result *r, size_t max_bytes)
{
    memset(r, 0, sizeof *r);
    hs_buf_init(&r->hot, max_bytes);
    hs_buf_init(&r->cold, max_bytes);
    hs_buf_init(&r->order, max_bytes);
    hs_buf_init(&r->names, 0);
}

void hs_split_result_release(struct hs_split_result *r)
{
    if (!r)
        return;
    hs_buf_release(&r->hot);
    hs_buf_release(&r->cold);
    hs_buf_release(&r->order);
    hs_buf_release(&r->names);
    free(r->fields);
    r->fields = NULL;
    r->n_fields = r->fields_cap = 0;
}

static uint8_t *put_member(uint8_t *w, const uint8_t *doc, const struct hs_jmember *m, bool comma)
{
    if (comma)
        *w++ = ',';
    memcpy(w, doc + m->key_off, m->key_len);
    w += m->key_len;
    *w++ = ':';
    memcpy(w, doc + m->val_off, m->val_len);
    return w + m->val_len;
}

/* Copies the members into the three outputs, whose sizes were reserved exactly. */
static void write_parts(const struct hs_jobj *o, struct hs_split_result *r)
{
    uint8_t *h = r->hot.data, *c = r->cold.data, *ord = r->order.data;
    *h++ = '{';
    *c++ = '{';
    *ord++ = '[';
    for (size_t i = 0; i < o->n; i++) {
        const struct hs_jmember *m = &o->m[i];
        bool hot = m->flags & HS_JM_HOT;
        if (hot)
            h = put_member(h, o->doc, m, h != r->hot.data + 1);
        else
            c = put_member(c, o->doc, m, c != r->cold.data + 1);
        if (i)
            *ord++ = ',';
        *ord++ = '"';
        *ord++ = hot ? 'h' : 'c';
        memcpy(ord, o->doc + m->key_off + 1, m->key_len - 1); /* key and closing quote */
        ord += m->key_len - 1;
    }
    *h++ = '}';
    *c++ = '}';
    *ord++ = ']';
    r->hot.len = (size_t)(h - r->hot.data);
    r->cold.len = (size_t)(c - r->cold.data);
    r->order.len = (size_t)(ord - r->order.data);
}

/* XXH3-64 of a validated value without the whitespace between its tokens (split.h). */
static uint64_t value_digest(const struct hs_jobj *o, const struct hs_jmember *m)
{
    const uint8_t *p = o->doc + m->val_off;
    size_t n = m->val_len;
    if (!(m->flags & HS_JM_VALUE_WS))
        return XXH3_64bits_dispatch(p, n);
    uint8_t *tmp = hs_xmalloc(n ? n : 1);
    size_t len = 0, i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && !is_ws(p[i]))
            i = p[i] == '"' ? hs_json_string_end(p, n, i) : i + 1;
        memcpy(tmp + len, p + start, i - start);
        len += i - start;
        while (i < n && is_ws(p[i]))
            i++;
    }
    uint64_t d = XXH3_64bits_dispatch(tmp, len);
    free(tmp);
    return d;
}

/* Fills r->fields and r->names from the parsed document (r->want_fields). */
static enum hs_err fill_fields(const struct hs_jobj *o, struct hs_split_result *r)
{
    hs_buf_reset(&r->names);
    r->n_fields = 0;
    if (o->n > r->fields_cap) {
        r->fields = hs_xrealloc(r->fields, o->n * sizeof *r->fields);
        r->fields_cap = o->n;
    }
    for (size_t i = 0; i < o->n; i++) {
        const struct hs_jmember *m = &o->m[i];
        struct hs_split_field *f = &r->fields[r->n_fields++];
        f->digest = value_digest(o, m);
        f->name_off = (uint32_t)r->names.len;
        f->name_len = m->ukey_len;
        f->value_len = m->val_len;
        f->hot = (m->flags & HS_JM_HOT) != 0;
        enum hs_err err = hs_buf_append(&r->names, hs_jobj_ukey(o, i), m->ukey_len);
        if (err != HS_OK)
            return err;
    }
    return HS_OK;
}

enum hs_err hs_split_document(const struct hs_split_opts *opts, const struct hs_split_hotset *hot,
                              const uint8_t *body, size_t len, struct hs_split_result *r,
                              struct hs_split_error *err)
{
    struct hs_jobj o;
    uint32_t *cold_idx = NULL;
    hs_jobj_init(&o, body);
    hs_buf_reset(&r->hot);
    hs_buf_reset(&r->cold);
    hs_buf_reset(&r->order);
    r->n_fields = 0;
    enum hs_err rc = parse_doc(opts, &o, body, len, err);
    if (rc != HS_OK)
        goto out;
    /* sizes: "{" members joined by "," "}" and "[" entries "]"; an entry is its key + flag */
    size_t hot_bytes = 2, cold_bytes = 2, order_bytes = 2 + (o.n ? o.n - 1 : 0), nh = 0, nc = 0;
    cold_idx = hs_xmalloc((o.n ? o.n : 1) * sizeof *cold_idx);
    for (size_t i = 0; i < o.n; i++) {
        struct hs_jmember *m = &o.m[i];
        size_t bytes = (size_t)m->key_len + 1 + m->val_len;
        order_bytes += m->key_len + 1;
        if (hs_split_hotset_contains(hot, hs_jobj_ukey(&o, i), m->ukey_len)) {
            m->flags |= HS_JM_HOT;
            hot_bytes += bytes + (nh++ ? 1 : 0);
        } else {
            cold_bytes += bytes + (nc ? 1 : 0);
            cold_idx[nc++] = (uint32_t)i;
        }
    }
    if ((rc = hs_buf_reserve(&r->hot, hot_bytes)) != HS_OK ||
        (rc = hs_buf_reserve(&r->cold, cold_bytes)) != HS_OK ||
        (rc = hs_buf_reserve(&r->order, order_bytes)) != HS_OK)
        goto out;
    write_parts(&o, r);
    hs_split_canonical_hash(&o, cold_idx, nc, r->cold_hash);
    r->n_hot = nh;
    r->n_cold = nc;
    if (r->want_fields)
        rc = fill_fields(&o, r);
out:
    free(cold_idx);
    hs_jobj_release(&o);
    return rc;
}
