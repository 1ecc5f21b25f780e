/* json_scan.c - the strict RFC 8259 scanner behind the splitter: one left-to-right pass, no tree,
 * no recursion (an explicit container stack bounded by max_depth), no allocation except for the
 * direct members of the one object being parsed. Strings are skipped 16 bytes at a time with
 * SSE2, because they are where large documents spend their bytes. */
#include "split_int.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <xxhash.h>

#include "hs/mem.h"
#include "hs/banned.h"

static const uint8_t ws_tab[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

void hs_split_set_error(struct hs_split_error *err, enum hs_split_error_code code, size_t off)
{
    if (err) {
        err->code = code;
        err->offset = off;
    }
}

/* Inlined in the scanner: most token boundaries have no whitespace at all. */
static inline size_t skip_ws(const uint8_t *p, size_t n, size_t i)
{
    while (i < n && ws_tab[p[i]])
        i++;
    return i;
}

size_t hs_json_skip_ws(const uint8_t *p, size_t n, size_t i)
{
    return skip_ws(p, n, i);
}

static int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Reads the 4 hex digits after "\u" at p[i] (i = the backslash). */
static enum hs_split_error_code read_u_escape(const uint8_t *p, size_t n, size_t i, unsigned *cp,
                                              size_t *err_off)
{
    unsigned v = 0;
    for (size_t k = 2; k < 6; k++) {
        if (i + k >= n) {
            *err_off = n;
            return HS_SPLIT_TRUNCATED;
        }
        int h = hex_val(p[i + k]);
        if (h < 0) {
            *err_off = i;
            return HS_SPLIT_BAD_ESCAPE;
        }
        v = v << 4 | (unsigned)h;
    }
    *cp = v;
    return HS_SPLIT_OK;
}

/* The escape whose backslash is at *pos; advances *pos past it (and past a low surrogate).
 * RFC 8259 §7: a high surrogate escape must be followed at once by a low one. */
static enum hs_split_error_code scan_escape(const uint8_t *p, size_t n, size_t *pos,
                                            size_t *err_off)
{
    size_t bs = *pos;
    if (bs + 1 >= n) {
        *err_off = n;
        return HS_SPLIT_TRUNCATED;
    }
    switch (p[bs + 1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        *pos = bs + 2;
        return HS_SPLIT_OK;
    case 'u':
        break;
    default:
        *err_off = bs;
        return HS_SPLIT_BAD_ESCAPE;
    }
    unsigned cp, lo;
    enum hs_split_error_code c = read_u_escape(p, n, bs, &cp, err_off);
    if (c != HS_SPLIT_OK)
        return c;
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
        *err_off = bs;
        return HS_SPLIT_BAD_SURROGATE;
    }
    if (cp < 0xD800 || cp > 0xDBFF) {
        *pos = bs + 6;
        return HS_SPLIT_OK;
    }
    size_t i = bs + 6;
    if (i + 1 >= n) {
        *err_off = n;
        return HS_SPLIT_TRUNCATED;
    }
    if (p[i] != '\\' || p[i + 1] != 'u') {
        *err_off = bs;
        return HS_SPLIT_BAD_SURROGATE;
    }
    c = read_u_escape(p, n, i, &lo, err_off);
    if (c != HS_SPLIT_OK)
        return c;
    if (lo < 0xDC00 || lo > 0xDFFF) {
        *err_off = bs;
        return HS_SPLIT_BAD_SURROGATE;
    }
    *pos = i + 6;
    return HS_SPLIT_OK;
}

/* One multi-byte UTF-8 sequence at p[i] (p[i] >= 0x80), per Unicode Table 3-7: the second byte's
 * range excludes overlongs (E0, F0), surrogates (ED) and code points past U+10FFFF (F4). */
static enum hs_split_error_code scan_utf8(const uint8_t *p, size_t n, size_t *pos, size_t *err_off)
{
    size_t i = *pos;
    uint8_t c = p[i], lo = 0x80, hi = 0xBF;
    size_t need;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        *err_off = i;
        return HS_SPLIT_BAD_UTF8;
    }
    for (size_t k = 1; k <= need; k++) {
        if (i + k >= n) {
            *err_off = n;
            return HS_SPLIT_TRUNCATED;
        }
        uint8_t b = p[i + k];
        uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (b < l || b > h) {
            *err_off = i;
            return HS_SPLIT_BAD_UTF8;
        }
    }
    *pos = i + need + 1;
    return HS_SPLIT_OK;
}

/* Offset of the first byte at or after i that is '"', '\', < 0x20 or >= 0x80, or n. */
static size_t skip_plain(const uint8_t *p, size_t n, size_t i)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (i + 16 <= n) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        /* signed compare: bytes >= 0x80 are negative, so one test catches them and controls */
        __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                         _mm_cmplt_epi8(x, space));
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
#endif
    /* plain: printable ASCII except '"' and '\' (0x7F is allowed unescaped by RFC 8259) */
    while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
        i++;
    return i;
}

size_t hs_json_string_end(const uint8_t *p, size_t n, size_t i)
{
    i++;
    for (;;) {
#if defined(__SSE2__)
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
        while (i + 16 <= n) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            unsigned mask = (unsigned)_mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)));
            if (mask) {
                i += (size_t)__builtin_ctz(mask);
                break;
            }
            i += 16;
        }
#endif
        while (p[i] != '"' && p[i] != '\\')
            i++;
        if (p[i] == '"')
            return i + 1;
        i += 2; /* an escape: the byte after the backslash is never the closing quote */
    }
}

enum hs_split_error_code hs_json_scan_string(const uint8_t *p, size_t n, size_t *pos, bool *escaped,
                                             size_t *err_off)
{
    size_t i = *pos + 1;
    bool esc = false;
    for (;;) {
        i = skip_plain(p, n, i);
        if (i >= n) {
            *err_off = n;
            return HS_SPLIT_TRUNCATED;
        }
        uint8_t c = p[i];
        enum hs_split_error_code code = HS_SPLIT_OK;
        if (c == '"') {
            *pos = i + 1;
            *escaped = esc;
            return HS_SPLIT_OK;
        } else if (c == '\\') {
            esc = true;
            code = scan_escape(p, n, &i, err_off);
        } else if (c < 0x20) {
            *err_off = i;
            return HS_SPLIT_CONTROL_CHAR;
        } else {
            code = scan_utf8(p, n, &i, err_off);
        }
        if (code != HS_SPLIT_OK)
            return code;
    }
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* RFC 8259 §6: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? ; no value limits. */
static enum hs_split_error_code scan_number(const uint8_t *p, size_t n, size_t *pos,
                                            size_t *err_off)
{
    size_t i = *pos;
    if (p[i] == '-')
        i++;
    if (i >= n)
        goto truncated;
    if (p[i] == '0') {
        if (i + 1 < n && is_digit(p[i + 1])) {
            *err_off = i;
            return HS_SPLIT_LEADING_ZERO;
        }
        i++;
    } else if (is_digit(p[i])) {
        while (i < n && is_digit(p[i]))
            i++;
    } else {
        goto bad;
    }
    if (i < n && p[i] == '.') {
        if (++i >= n)
            goto truncated;
        if (!is_digit(p[i]))
            goto bad;
        while (i < n && is_digit(p[i]))
            i++;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        if (++i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        if (i >= n)
            goto truncated;
        if (!is_digit(p[i]))
            goto bad;
        while (i < n && is_digit(p[i]))
            i++;
    }
    *pos = i;
    return HS_SPLIT_OK;
truncated:
    *err_off = n;
    return HS_SPLIT_TRUNCATED;
bad:
    *err_off = i;
    return HS_SPLIT_BAD_NUMBER;
}

static enum hs_split_error_code scan_literal(const uint8_t *p, size_t n, size_t *pos,
                                             size_t *err_off)
{
    const char *lit = p[*pos] == 't' ? "true" : p[*pos] == 'f' ? "false" : "null";
    size_t i = *pos;
    for (size_t k = 0; lit[k]; k++) {
        if (i + k >= n) {
            *err_off = n;
            return HS_SPLIT_TRUNCATED;
        }
        if (p[i + k] != (uint8_t)lit[k]) {
            *err_off = i + k;
            return HS_SPLIT_SYNTAX;
        }
    }
    *pos = i + strlen(lit);
    return HS_SPLIT_OK;
}

/* Scans one value starting at *pos (no leading whitespace) that sits inside a container at depth
 * base; *pos becomes the offset after it. Iterative: stack[d] is '{' or '[' for depth d.
 * *ws tells whether whitespace occurred between the value's tokens. */
static enum hs_split_error_code scan_value(const uint8_t *p, size_t n, size_t *pos, unsigned base,
                                           unsigned max_depth, bool *ws, size_t *err_off)
{
    uint8_t stack[HS_SPLIT_MAX_MAX_DEPTH + 2];
    unsigned depth = base;
    size_t i = *pos, j;
    bool saw_ws = false, esc;
    enum hs_split_error_code c = HS_SPLIT_OK;

#define SKIP_WS()                                                                                  \
    do {                                                                                           \
        j = skip_ws(p, n, i);                                                                      \
        saw_ws |= j != i;                                                                          \
        i = j;                                                                                     \
        if (i >= n)                                                                                \
            goto truncated;                                                                        \
    } while (0)

value:
    if (i >= n)
        goto truncated;
    switch (p[i]) {
    case '{':
    case '[':
        if (depth + 1 > max_depth) {
            *err_off = i;
            return HS_SPLIT_TOO_DEEP;
        }
        stack[++depth] = p[i++];
        SKIP_WS();
        if (p[i] == (stack[depth] == '{' ? '}' : ']')) {
            i++;
            depth--;
            goto after;
        }
        if (stack[depth] == '{')
            goto key;
        goto value;
    case '"':
        c = hs_json_scan_string(p, n, &i, &esc, err_off);
        break;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        c = scan_number(p, n, &i, err_off);
        break;
    case 't':
    case 'f':
    case 'n':
        c = scan_literal(p, n, &i, err_off);
        break;
    default:
        goto syntax;
    }
    if (c != HS_SPLIT_OK)
        return c;
after:
    if (depth == base) {
        *pos = i;
        *ws = saw_ws;
        return HS_SPLIT_OK;
    }
    SKIP_WS();
    if (p[i] == ',') {
        i++;
        SKIP_WS();
        if (stack[depth] == '{')
            goto key;
        goto value;
    }
    if (p[i] == (stack[depth] == '{' ? '}' : ']')) {
        i++;
        depth--;
        goto after;
    }
    goto syntax;
key:
    if (p[i] != '"')
        goto syntax;
    c = hs_json_scan_string(p, n, &i, &esc, err_off);
    if (c != HS_SPLIT_OK)
        return c;
    SKIP_WS();
    if (p[i] != ':')
        goto syntax;
    i++;
    SKIP_WS();
    goto value;
#undef SKIP_WS
truncated:
    *err_off = n;
    return HS_SPLIT_TRUNCATED;
syntax:
    *err_off = i;
    return HS_SPLIT_SYNTAX;
}

/* ---- member list ------------------------------------------------------------------------- */

void hs_jobj_init(struct hs_jobj *o, const uint8_t *doc)
{
    memset(o, 0, sizeof *o);
    o->doc = doc;
}

void hs_jobj_release(struct hs_jobj *o)
{
    if (!o)
        return;
    free(o->m);
    free(o->keys);
    free(o->table);
    hs_jobj_init(o, NULL);
}

const uint8_t *hs_jobj_ukey(const struct hs_jobj *o, size_t i)
{
    const struct hs_jmember *m = &o->m[i];
    return (m->flags & HS_JM_ESCAPED) ? o->keys + m->ukey_off : o->doc + m->ukey_off;
}

static uint64_t key_hash(const uint8_t *key, size_t len)
{
    return XXH3_64bits(key, len);
}

/* A table entry is tag << 32 | (index + 1), tag = the hash's high 32 bits, which also pick the
 * home slot. Comparing tags first avoids touching the member and the key bytes (two cache misses
 * on large documents) for every probe that is not a match, and lets the table grow without
 * rehashing keys. */
static size_t table_slot(const struct hs_jobj *o, const uint8_t *key, size_t len, uint64_t h)
{
    size_t mask = o->table_size - 1;
    uint64_t tag = h >> 32;
    for (size_t s = (size_t)tag & mask;; s = (s + 1) & mask) {
        uint64_t e = o->table[s];
        if (e == 0)
            return s;
        if (e >> 32 != tag)
            continue;
        size_t i = (uint32_t)e - 1;
        if (o->m[i].ukey_len == len && memcmp(hs_jobj_ukey(o, i), key, len) == 0)
            return s;
    }
}

size_t hs_jobj_find(const struct hs_jobj *o, const uint8_t *key, size_t len)
{
    if (o->table_size == 0)
        return SIZE_MAX;
    uint64_t e = o->table[table_slot(o, key, len, key_hash(key, len))];
    return e ? (size_t)(uint32_t)e - 1 : SIZE_MAX;
}

void hs_jobj_push(struct hs_jobj *o, const struct hs_jmember *mem, bool escaped, bool skip_flag)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->m = hs_xrealloc(o->m, o->cap * sizeof *o->m);
    }
    struct hs_jmember *m = &o->m[o->n++];
    *m = *mem;
    m->flags &= ~HS_JM_ESCAPED;
    m->ukey_off = m->key_off + 1;
    m->ukey_len = m->key_len - 2;
    if (!escaped && !skip_flag)
        return;
    if (o->keys_cap - o->keys_len < m->key_len) {
        o->keys_cap = HS_MAX(o->keys_cap * 2, o->keys_len + m->key_len);
        o->keys = hs_xrealloc(o->keys, o->keys_cap);
    }
    size_t len = hs_json_unescape(o->doc + m->key_off, m->key_len, o->keys + o->keys_len);
    m->flags |= HS_JM_ESCAPED;
    m->ukey_off = (uint32_t)o->keys_len;
    m->ukey_len = (uint32_t)len;
    if (skip_flag && len > 0) {
        m->ukey_off++;
        m->ukey_len--;
    }
    o->keys_len += len;
}

static uint32_t member_tag(const struct hs_jobj *o, size_t i)
{
    return (uint32_t)(key_hash(hs_jobj_ukey(o, i), o->m[i].ukey_len) >> 32);
}

/* Built once all members are known, so the table is sized once and never grows, and each
 * insertion prefetches the slot of the member INDEX_AHEAD places later: on documents with many
 * members the table does not fit in cache, and overlapping those misses is what makes duplicate
 * detection cheap. Insertion in document order makes the first duplicate found the earliest. */
size_t hs_jobj_index(struct hs_jobj *o)
{
    enum { INDEX_AHEAD = 16 };
    uint32_t ring[INDEX_AHEAD];
    size_t size = 16, n = o->n;
    while (size < 2 * n)
        size *= 2;
    free(o->table);
    o->table = hs_xcalloc(size, sizeof *o->table);
    o->table_size = size;
    size_t mask = size - 1;
    for (size_t i = 0; i < n && i < INDEX_AHEAD; i++)
        ring[i] = member_tag(o, i);
    for (size_t i = 0; i < n; i++) {
        uint32_t tag = ring[i % INDEX_AHEAD];
        if (i + INDEX_AHEAD < n) {
            uint32_t next = member_tag(o, i + INDEX_AHEAD);
            ring[i % INDEX_AHEAD] = next;
            __builtin_prefetch(&o->table[next & mask], 1);
        }
        size_t s = table_slot(o, hs_jobj_ukey(o, i), o->m[i].ukey_len, (uint64_t)tag << 32);
        if (o->table[s] != 0)
            return i;
        o->table[s] = (uint64_t)tag << 32 | (uint64_t)(i + 1);
    }
    return SIZE_MAX;
}

static void put_utf8(uint8_t **w, unsigned cp)
{
    uint8_t *o = *w;
    if (cp < 0x80) {
        *o++ = (uint8_t)cp;
    } else if (cp < 0x800) {
        *o++ = (uint8_t)(0xC0 | cp >> 6);
        *o++ = (uint8_t)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (uint8_t)(0xE0 | cp >> 12);
        *o++ = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (uint8_t)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (uint8_t)(0xF0 | cp >> 18);
        *o++ = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
        *o++ = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (uint8_t)(0x80 | (cp & 0x3F));
    }
    *w = o;
}

static unsigned hex4(const uint8_t *p)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++)
        v = v << 4 | (unsigned)hex_val(p[k]);
    return v;
}

/* Unescaping never grows: "\n" (2 bytes) -> 1 byte; "\uXXXX" (6) -> at most 3; a surrogate
 * pair (12) -> 4. The input is a validated token, so no checks here. */
size_t hs_json_unescape(const uint8_t *tok, size_t tok_len, uint8_t *out)
{
    uint8_t *w = out;
    const uint8_t *p = tok + 1, *end = tok + tok_len - 1;
    while (p < end) {
        if (*p != '\\') {
            *w++ = *p++;
            continue;
        }
        uint8_t e = p[1];
        p += 2;
        switch (e) {
        case 'b':
            *w++ = '\b';
            break;
        case 'f':
            *w++ = '\f';
            break;
        case 'n':
            *w++ = '\n';
            break;
        case 'r':
            *w++ = '\r';
            break;
        case 't':
            *w++ = '\t';
            break;
        case 'u': {
            unsigned cp = hex4(p);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(p + 2) - 0xDC00);
                p += 6;
            }
            put_utf8(&w, cp);
            break;
        }
        default:
            *w++ = e;
            break; /* '"', '\', '/' */
        }
    }
    return (size_t)(w - out);
}

/* ---- objects ------------------------------------------------------------------------------- */

static enum hs_split_error_code parse_members(struct hs_jobj *o, const uint8_t *p, size_t n,
                                              size_t *pos, unsigned max_depth, size_t *err_off)
{
    size_t i = skip_ws(p, n, *pos + 1);
    enum hs_split_error_code c;
    bool esc, ws;
    if (i < n && p[i] == '}') {
        *pos = i + 1;
        return HS_SPLIT_OK;
    }
    for (;;) {
        if (i >= n)
            goto truncated;
        if (p[i] != '"')
            goto syntax;
        struct hs_jmember m = {.key_off = (uint32_t)i};
        if ((c = hs_json_scan_string(p, n, &i, &esc, err_off)) != HS_SPLIT_OK)
            return c;
        m.key_len = (uint32_t)(i - m.key_off);
        i = skip_ws(p, n, i);
        if (i >= n)
            goto truncated;
        if (p[i] != ':')
            goto syntax;
        i = skip_ws(p, n, i + 1);
        hs_jobj_push(o, &m, esc, false); /* duplicates are found by hs_jobj_index */
        struct hs_jmember *pm = &o->m[o->n - 1];
        pm->val_off = (uint32_t)i;
        if ((c = scan_value(p, n, &i, 1, max_depth, &ws, err_off)) != HS_SPLIT_OK)
            return c;
        pm->val_len = (uint32_t)(i - pm->val_off);
        pm->flags |= ws ? HS_JM_VALUE_WS : 0;
        i = skip_ws(p, n, i);
        if (i >= n)
            goto truncated;
        if (p[i] == '}') {
            *pos = i + 1;
            return HS_SPLIT_OK;
        }
        if (p[i] != ',')
            goto syntax;
        i = skip_ws(p, n, i + 1);
    }
truncated:
    *err_off = n;
    return HS_SPLIT_TRUNCATED;
syntax:
    *err_off = i;
    return HS_SPLIT_SYNTAX;
}

enum hs_split_error_code hs_json_parse_object(struct hs_jobj *o, const uint8_t *doc, size_t len,
                                              size_t start, unsigned max_depth, unsigned flags,
                                              size_t *err_off)
{
    bool whole_doc = flags & HS_JPARSE_WHOLE;
    if (len >= UINT32_MAX) {
        *err_off = 0;
        return HS_SPLIT_TOO_BIG;
    }
    size_t i = start;
    if (whole_doc) {
        i = skip_ws(doc, len, 0);
        if (i >= len) {
            *err_off = len;
            return HS_SPLIT_EMPTY;
        }
    }
    if (doc[i] != '{') {
        *err_off = i;
        return HS_SPLIT_NOT_OBJECT;
    }
    enum hs_split_error_code c = parse_members(o, doc, len, &i, max_depth, err_off);
    /* a left-to-right parser would have stopped at a duplicate key before a later error */
    size_t dup = (flags & HS_JPARSE_NO_INDEX) ? SIZE_MAX : hs_jobj_index(o);
    if (dup != SIZE_MAX && (c == HS_SPLIT_OK || o->m[dup].key_off < *err_off)) {
        *err_off = o->m[dup].key_off;
        return HS_SPLIT_DUPLICATE_KEY;
    }
    if (c != HS_SPLIT_OK || !whole_doc)
        return c;
    i = skip_ws(doc, len, i);
    if (i < len) {
        *err_off = i;
        return HS_SPLIT_TRAILING;
    }
    return HS_SPLIT_OK;
}
