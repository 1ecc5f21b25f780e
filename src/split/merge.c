/* merge.c - the order record (parse) and the merge of a hot and a cold part back into one
 * document. Both parts and the record are validated as they are scanned: they come from disk
 * and etcd, and a disagreement between them must surface as HS_ECORRUPT, never as a wrong body. */
#include "split_int.h"

#include <stdlib.h>
#include <string.h>

#include "hs/mem.h"
#include "hs/banned.h"

/* One entry "<flag><key>" at rec[*pos]; adds it to o, or to sh for an 's' entry (rejected when
 * sh is NULL). */
static enum hs_split_error_code order_entry(struct hs_jobj *o, struct hs_jobj *sh,
                                            const uint8_t *rec, size_t n, size_t *pos,
                                            size_t *err_off)
{
    size_t i = *pos;
    bool esc;
    if (rec[i] != '"') {
        *err_off = i;
        return HS_SPLIT_SYNTAX;
    }
    struct hs_jmember m = {.key_off = (uint32_t)i};
    enum hs_split_error_code c = hs_json_scan_string(rec, n, &i, &esc, err_off);
    if (c != HS_SPLIT_OK)
        return c;
    m.key_len = (uint32_t)(i - m.key_off);
    if (m.key_len == 2) { /* "" has no flag */
        *err_off = m.key_off;
        return HS_SPLIT_SYNTAX;
    }
    size_t keys_len = o->keys_len;
    hs_jobj_push(o, &m, esc, true);
    uint8_t flag = o->keys[o->m[o->n - 1].ukey_off - 1];
    if (flag == 's' && sh) { /* moved: a shadow may share its key with a hot member */
        o->n--;
        o->keys_len = keys_len;
        hs_jobj_push(sh, &m, esc, true);
    } else if (flag != 'h' && flag != 'c') {
        *err_off = m.key_off + 1;
        return HS_SPLIT_SYNTAX;
    }
    *pos = i;
    return HS_SPLIT_OK;
}

static enum hs_split_error_code order_entries(struct hs_jobj *o, struct hs_jobj *sh,
                                              const uint8_t *rec, size_t n, size_t *err_off)
{
    if (n >= UINT32_MAX) {
        *err_off = 0;
        return HS_SPLIT_TOO_BIG;
    }
    size_t i = hs_json_skip_ws(rec, n, 0);
    if (i >= n) {
        *err_off = n;
        return HS_SPLIT_EMPTY;
    }
    if (rec[i] != '[') {
        *err_off = i;
        return HS_SPLIT_SYNTAX;
    }
    i = hs_json_skip_ws(rec, n, i + 1);
    if (i < n && rec[i] == ']') {
        i++;
    } else {
        for (;;) {
            enum hs_split_error_code c;
            if (i >= n)
                goto truncated;
            if ((c = order_entry(o, sh, rec, n, &i, err_off)) != HS_SPLIT_OK)
                return c;
            i = hs_json_skip_ws(rec, n, i);
            if (i >= n)
                goto truncated;
            if (rec[i] == ']') {
                i++;
                break;
            }
            if (rec[i] != ',') {
                *err_off = i;
                return HS_SPLIT_SYNTAX;
            }
            i = hs_json_skip_ws(rec, n, i + 1);
        }
    }
    i = hs_json_skip_ws(rec, n, i);
    if (i < n) {
        *err_off = i;
        return HS_SPLIT_TRAILING;
    }
    return HS_SPLIT_OK;
truncated:
    *err_off = n;
    return HS_SPLIT_TRUNCATED;
}

bool hs_order_parse(struct hs_jobj *o, struct hs_jobj *sh, const uint8_t *rec, size_t len,
                    uint8_t **flags_out, struct hs_split_error *err)
{
    size_t off = 0;
    enum hs_split_error_code c = order_entries(o, sh, rec, len, &off);
    size_t dup = c == HS_SPLIT_OK ? hs_jobj_index(o) : SIZE_MAX;
    if (dup != SIZE_MAX) {
        c = HS_SPLIT_DUPLICATE_KEY;
        off = o->m[dup].key_off;
    } else if (c == HS_SPLIT_OK && sh && (dup = hs_jobj_index(sh)) != SIZE_MAX) {
        c = HS_SPLIT_DUPLICATE_KEY;
        off = sh->m[dup].key_off;
    }
    if (c != HS_SPLIT_OK) {
        hs_split_set_error(err, c, off);
        return false;
    }
    uint8_t *flags = hs_xmalloc(o->n ? o->n : 1);
    for (size_t i = 0; i < o->n; i++)
        flags[i] = o->keys[o->m[i].ukey_off - 1];
    *flags_out = flags;
    return true;
}

/* Parses a stored part; HS_ECORRUPT with *err when it is not a valid object. */
static enum hs_err parse_part(struct hs_jobj *o, const uint8_t *doc, size_t len, unsigned max_depth,
                              struct hs_split_error *err)
{
    size_t off = 0;
    /* no index: resolve_order proves the keys unique and builds one only if it must */
    enum hs_split_error_code c =
        hs_json_parse_object(o, doc, len, 0, max_depth, HS_JPARSE_WHOLE | HS_JPARSE_NO_INDEX, &off);
    if (c != HS_SPLIT_OK) {
        hs_split_set_error(err, c, off);
        return HS_ECORRUPT;
    }
    return HS_OK;
}

static bool same_key(const struct hs_jobj *a, size_t i, const struct hs_jobj *b, size_t k)
{
    return a->m[i].ukey_len == b->m[k].ukey_len &&
           memcmp(hs_jobj_ukey(a, i), hs_jobj_ukey(b, k), a->m[i].ukey_len) == 0;
}

/* The member of part for record entry i, marked used; SIZE_MAX when none is left. Parts written
 * by hs_split_document list their members in record order, so the next unused member (*cursor)
 * is tried first; only a part in another order (a cold part kept by a pure hot update) gets an
 * index. */
static size_t take_member(struct hs_jobj *part, size_t *cursor, const struct hs_jobj *ord, size_t i)
{
    while (*cursor < part->n && (part->m[*cursor].flags & HS_JM_USED))
        (*cursor)++;
    size_t k = *cursor;
    if (k >= part->n || !same_key(ord, i, part, k)) {
        if (part->table_size == 0 && hs_jobj_index(part) != SIZE_MAX)
            return SIZE_MAX; /* duplicate keys in a part */
        k = hs_jobj_find(part, hs_jobj_ukey(ord, i), ord->m[i].ukey_len);
        if (k == SIZE_MAX || (part->m[k].flags & HS_JM_USED))
            return SIZE_MAX;
    }
    part->m[k].flags |= HS_JM_USED;
    return k;
}

/* For each record entry, the member of its part; HS_ECORRUPT unless the record names every
 * member of both parts exactly once (the shadows sh naming cold members that are left out).
 * Record keys are unique, each entry takes a distinct member and the counts match, so the parts'
 * keys are unique too without indexing them. */
static enum hs_err resolve_order(const struct hs_jobj *ord, const uint8_t *flags,
                                 const struct hs_jobj *sh, struct hs_jobj *hot,
                                 struct hs_jobj *cold, uint32_t *sel, size_t *bytes)
{
    size_t nh = 0, ch = 0, cc = 0, total = 2 + (ord->n ? ord->n - 1 : 0);
    if (ord->n + sh->n != hot->n + cold->n)
        return HS_ECORRUPT;
    for (size_t i = 0; i < sh->n; i++)
        if (take_member(cold, &cc, sh, i) == SIZE_MAX)
            return HS_ECORRUPT;
    cc = 0;
    for (size_t i = 0; i < ord->n; i++) {
        bool is_hot = flags[i] == 'h';
        struct hs_jobj *part = is_hot ? hot : cold;
        nh += is_hot;
        size_t k = take_member(part, is_hot ? &ch : &cc, ord, i);
        if (k == SIZE_MAX)
            return HS_ECORRUPT;
        sel[i] = (uint32_t)k;
        total += (size_t)part->m[k].key_len + 1 + part->m[k].val_len;
    }
    if (nh != hot->n)
        return HS_ECORRUPT;
    *bytes = total;
    return HS_OK;
}

enum hs_err hs_split_merge(const struct hs_split_opts *opts, const uint8_t *hot, size_t hot_len,
                           const uint8_t *cold, size_t cold_len, const uint8_t *order,
                           size_t order_len, struct hs_buf *out, struct hs_split_error *err)
{
    struct hs_jobj h, c, ord, sh;
    uint8_t *flags = NULL;
    uint32_t *sel = NULL;
    unsigned max_depth;
    size_t bytes = 0;
    enum hs_err rc;
    hs_jobj_init(&h, hot);
    hs_jobj_init(&c, cold);
    hs_jobj_init(&ord, order);
    hs_jobj_init(&sh, order);
    hs_split_set_error(err, HS_SPLIT_OK, 0);
    if ((rc = hs_split_opts_depth(opts, &max_depth)) != HS_OK)
        goto out;
    if ((rc = parse_part(&h, hot, hot_len, max_depth, err)) != HS_OK ||
        (rc = parse_part(&c, cold, cold_len, max_depth, err)) != HS_OK)
        goto out;
    if (!hs_order_parse(&ord, &sh, order, order_len, &flags, err)) {
        rc = HS_ECORRUPT;
        goto out;
    }
    sel = hs_xmalloc((ord.n ? ord.n : 1) * sizeof *sel);
    if ((rc = resolve_order(&ord, flags, &sh, &h, &c, sel, &bytes)) != HS_OK)
        goto out;
    if ((rc = hs_buf_reserve(out, bytes)) != HS_OK)
        goto out;
    uint8_t *w = out->data + out->len;
    *w++ = '{';
    for (size_t i = 0; i < ord.n; i++) {
        const struct hs_jobj *part = flags[i] == 'h' ? &h : &c;
        const struct hs_jmember *m = &part->m[sel[i]];
        if (i)
            *w++ = ',';
        memcpy(w, part->doc + m->key_off, m->key_len);
        w += m->key_len;
        *w++ = ':';
        memcpy(w, part->doc + m->val_off, m->val_len);
        w += m->val_len;
    }
    *w++ = '}';
    out->len = (size_t)(w - out->data);
out:
    free(sel);
    free(flags);
    hs_jobj_release(&h);
    hs_jobj_release(&c);
    hs_jobj_release(&ord);
    hs_jobj_release(&sh);
    return rc;
}
