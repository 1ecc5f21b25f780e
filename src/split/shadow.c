/* shadow.c - keeping a stored cold part under a document that moved some of its members out of
 * it (order record version 2, see split.h): the check that the cold values the new document
 * still keeps cold are the stored ones, and the record that names the rest as shadows. */
#include "split_int.h"

#include <stdlib.h>
#include <string.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

static void append(struct hs_buf *out, const void *p, size_t n)
{
    if (hs_buf_append(out, p, n) != HS_OK)
        HS_BUG("append to an unlimited buffer failed");
}

/* Appends record minus its closing ']' to out; *empty tells whether it had no entry. */
static bool open_record(const uint8_t *rec, size_t len, struct hs_buf *out, bool *empty)
{
    size_t end = len;
    while (end > 0 && rec[end - 1] != ']')
        end--;
    if (end == 0)
        return false;
    size_t last = end - 1; /* the ']' */
    size_t prev = last;
    while (prev > 0 && (rec[prev - 1] == ' ' || rec[prev - 1] == '\t' || rec[prev - 1] == '\n' ||
                        rec[prev - 1] == '\r'))
        prev--;
    *empty = prev > 0 && rec[prev - 1] == '[';
    append(out, rec, last);
    return true;
}

/* Appends one record entry: a comma unless it is the first, then head and n bytes at p. */
static void append_entry(struct hs_buf *out, bool *first, const char *head, const void *p, size_t n)
{
    if (!*first)
        append(out, ",", 1);
    *first = false;
    append(out, head, strlen(head));
    append(out, p, n);
}

/* Appends the entry "s<key>" for member i of o (o->doc's key token, escapes as stored). */
static void append_shadow(struct hs_buf *out, const struct hs_jobj *o, size_t i, bool *first)
{
    append_entry(out, first, "\"s", o->doc + o->m[i].key_off + 1, o->m[i].key_len - 1);
}

/* Appends the shadow entries of a parsed record (their tokens as they stand). */
static void append_shadows_of(struct hs_buf *out, const struct hs_jobj *sh, bool *first)
{
    for (size_t i = 0; i < sh->n; i++)
        append_entry(out, first, "", sh->doc + sh->m[i].key_off, sh->m[i].key_len);
}

/* A stored order record, parsed: entries in ord (flags[i] 'h' or 'c'), shadows in sh. */
struct record {
    struct hs_jobj ord, sh;
    uint8_t *flags;
};

static bool record_parse(struct record *r, const uint8_t *rec, size_t len)
{
    hs_jobj_init(&r->ord, rec);
    hs_jobj_init(&r->sh, rec);
    r->flags = NULL;
    return hs_order_parse(&r->ord, &r->sh, rec, len, &r->flags, NULL);
}

static void record_release(struct record *r)
{
    free(r->flags);
    hs_jobj_release(&r->ord);
    hs_jobj_release(&r->sh);
}

/* Ends the record being built in rec with the shadows sh and ']', and appends it to out. */
static enum hs_err close_record(struct hs_buf *rec, const struct hs_jobj *sh, bool *first,
                                struct hs_buf *out)
{
    append_shadows_of(rec, sh, first);
    append(rec, "]", 1);
    return hs_buf_append(out, rec->data, rec->len);
}

enum hs_err hs_split_shadow(const struct hs_split_opts *opts, const uint8_t *cold, size_t cold_len,
                            const struct hs_split_result *split, struct hs_buf *order_out,
                            size_t *live_len, bool *same)
{
    struct hs_jobj stored, want;
    unsigned max_depth;
    size_t off = 0;
    uint32_t *idx = NULL;
    enum hs_err rc = hs_split_opts_depth(opts, &max_depth);
    *same = false;
    hs_jobj_init(&stored, cold);
    hs_jobj_init(&want, split->cold.data);
    if (rc != HS_OK)
        goto out;
    if (hs_json_parse_object(&stored, cold, cold_len, 0, max_depth, HS_JPARSE_WHOLE, &off) !=
        HS_SPLIT_OK) {
        rc = HS_ECORRUPT;
        goto out;
    }
    if (hs_json_parse_object(&want, split->cold.data, split->cold.len, 0, max_depth,
                             HS_JPARSE_WHOLE | HS_JPARSE_NO_INDEX, &off) != HS_SPLIT_OK) {
        rc = HS_EINVAL;
        goto out;
    }
    idx = hs_xmalloc((want.n ? want.n : 1) * sizeof *idx);
    size_t live = 2 + (want.n ? want.n - 1 : 0);
    for (size_t i = 0; i < want.n; i++) {
        size_t k = hs_jobj_find(&stored, hs_jobj_ukey(&want, i), want.m[i].ukey_len);
        if (k == SIZE_MAX)
            goto out; /* a cold member the stored part does not have */
        stored.m[k].flags |= HS_JM_USED;
        idx[i] = (uint32_t)k;
        live += (size_t)stored.m[k].key_len + 1 + stored.m[k].val_len;
    }
    uint8_t hash[HS_SPLIT_HASH_BYTES];
    hs_split_canonical_hash(&stored, idx, want.n, hash);
    if (memcmp(hash, split->cold_hash, sizeof hash) != 0)
        goto out; /* a value differs (or a key's escapes do) */
    struct hs_buf rec;
    hs_buf_init(&rec, 0);
    bool first = true;
    if (!open_record(split->order.data, split->order.len, &rec, &first))
        HS_BUG("a split's order record has no ']'");
    for (size_t k = 0; k < stored.n; k++)
        if (!(stored.m[k].flags & HS_JM_USED))
            append_shadow(&rec, &stored, k, &first);
    append(&rec, "]", 1);
    rc = hs_buf_append(order_out, rec.data, rec.len);
    hs_buf_release(&rec);
    if (rc == HS_OK) {
        *live_len = live;
        *same = true;
    }
out:
    free(idx);
    hs_jobj_release(&stored);
    hs_jobj_release(&want);
    return rc;
}

enum hs_err hs_split_shadow_by_record(const uint8_t *old, size_t old_len,
                                      const struct hs_split_result *split, struct hs_buf *order_out,
                                      bool *same)
{
    struct record r;
    struct hs_jobj want;
    size_t off = 0;
    enum hs_err rc = HS_ECORRUPT;
    *same = false;
    hs_jobj_init(&want, split->cold.data);
    struct hs_buf rec;
    hs_buf_init(&rec, 0);
    if (!record_parse(&r, old, old_len))
        goto out;
    rc = HS_EINVAL;
    if (hs_json_parse_object(&want, split->cold.data, split->cold.len, 0, HS_SPLIT_MAX_MAX_DEPTH,
                             HS_JPARSE_WHOLE, &off) != HS_SPLIT_OK)
        goto out;
    rc = HS_OK;
    for (size_t i = 0; i < want.n; i++) {
        size_t e = hs_jobj_find(&r.ord, hs_jobj_ukey(&want, i), want.m[i].ukey_len);
        if (e == SIZE_MAX || r.flags[e] != 'c')
            goto out; /* not a live cold member of the stored part */
    }
    for (size_t i = 0; i < r.ord.n; i++)
        if (r.flags[i] == 'c' && r.ord.doc[r.ord.m[i].key_off + 1] != 'c')
            goto out; /* an escaped flag: not worth rewriting the token (writers never do) */
    bool first = true;
    if (!open_record(split->order.data, split->order.len, &rec, &first))
        HS_BUG("a split's order record has no ']'");
    for (size_t i = 0; i < r.ord.n; i++) {
        const struct hs_jmember *m = &r.ord.m[i];
        if (r.flags[i] != 'c' ||
            hs_jobj_find(&want, hs_jobj_ukey(&r.ord, i), m->ukey_len) != SIZE_MAX)
            continue;
        /* "c<key>" -> "s<key>": the member stays in the cold part, no longer the document's */
        append_entry(&rec, &first, "\"s", r.ord.doc + m->key_off + 2, m->key_len - 2);
    }
    rc = close_record(&rec, &r.sh, &first, order_out);
    *same = rc == HS_OK;
out:
    record_release(&r);
    hs_buf_release(&rec);
    hs_jobj_release(&want);
    return rc;
}

enum hs_err hs_split_order_keep_shadows(const uint8_t *order, size_t order_len, const uint8_t *old,
                                        size_t old_len, struct hs_buf *out)
{
    struct record r;
    enum hs_err rc = HS_ECORRUPT;
    struct hs_buf rec;
    hs_buf_init(&rec, 0);
    bool empty = true;
    if (record_parse(&r, old, old_len))
        rc = open_record(order, order_len, &rec, &empty) ? close_record(&rec, &r.sh, &empty, out)
                                                         : HS_EINVAL;
    record_release(&r);
    hs_buf_release(&rec);
    return rc;
}

long hs_split_order_shadows(const uint8_t *order, size_t len)
{
    struct record r;
    long n = record_parse(&r, order, len) ? (long)r.sh.n : -1;
    record_release(&r);
    return n;
}

int hs_split_order_version(const uint8_t *order, size_t len)
{
    long n = hs_split_order_shadows(order, len);
    return n < 0 ? 0 : n > 0 ? HS_SPLIT_ORDER_VERSION_SHADOWS : HS_SPLIT_ORDER_VERSION;
}
