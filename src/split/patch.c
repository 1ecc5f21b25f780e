/* patch.c - RFC 7396 JSON merge patch applied to a stored hot part, without the cold part.
 * The top level decides whether the patch stays within hot members (else the gateway does a full
 * read-modify-write); the recursive merge below rewrites only the objects the patch walks into,
 * copying every untouched member's bytes as stored. */
#include "split_int.h"

#include <stdlib.h>
#include <string.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

struct patch_ctx {
    const uint8_t *tdoc; /* target: the stored hot part */
    size_t tlen;
    const uint8_t *pdoc; /* the patch document */
    size_t plen;
    const uint8_t *order; /* the stored order record */
    size_t order_len;
    unsigned max_depth;
    struct hs_split_error *err;
    struct hs_buf *out; /* unlimited scratch buffer: appends cannot fail */
};

static void put(struct patch_ctx *c, const void *p, size_t n)
{
    if (hs_buf_append(c->out, p, n) != HS_OK)
        HS_BUG("append to an unlimited buffer failed");
}

static bool is_null(const uint8_t *doc, const struct hs_jmember *m)
{
    return m->val_len == 4 && doc[m->val_off] == 'n';
}

static enum hs_err merge_object(struct patch_ctx *c, size_t toff, size_t poff);

/* Writes MergePatch(target member value or absent, patch member value). RFC 7396 §2: a non-object
 * patch replaces the target; an object patch merges into the target if that is an object, else
 * into {} (which drops the patch's nulls). */
static enum hs_err emit_value(struct patch_ctx *c, const struct hs_jmember *tm,
                              const struct hs_jmember *pm)
{
    if (c->pdoc[pm->val_off] != '{') {
        put(c, c->pdoc + pm->val_off, pm->val_len);
        return HS_OK;
    }
    size_t toff = tm && c->tdoc[tm->val_off] == '{' ? tm->val_off : SIZE_MAX;
    return merge_object(c, toff, pm->val_off);
}

/* Target members in their order (patched ones replaced, nulled ones dropped), then the patch's new
 * members in patch order. toff = SIZE_MAX: no target object. */
static enum hs_err merge_object(struct patch_ctx *c, size_t toff, size_t poff)
{
    struct hs_jobj t, p;
    size_t off = 0;
    enum hs_err rc = HS_OK;
    enum hs_split_error_code code;
    hs_jobj_init(&t, c->tdoc);
    hs_jobj_init(&p, c->pdoc);
    code = hs_json_parse_object(&p, c->pdoc, c->plen, poff, c->max_depth, 0, &off);
    if (code != HS_SPLIT_OK) {
        hs_split_set_error(c->err, code, off);
        rc = HS_EINVAL;
        goto out;
    }
    /* the target is only walked, never searched: no index, so nested duplicate keys (accepted
     * in documents) are kept, each patched alike */
    if (toff != SIZE_MAX && hs_json_parse_object(&t, c->tdoc, c->tlen, toff, c->max_depth,
                                                 HS_JPARSE_NO_INDEX, &off) != HS_SPLIT_OK) {
        rc = HS_ECORRUPT; /* validated before: cannot happen unless memory changed under us */
        goto out;
    }
    bool first = true;
    put(c, "{", 1);
    for (size_t i = 0; i < t.n && rc == HS_OK; i++) {
        const struct hs_jmember *tm = &t.m[i];
        size_t k = hs_jobj_find(&p, hs_jobj_ukey(&t, i), tm->ukey_len);
        if (k != SIZE_MAX) {
            p.m[k].flags |= HS_JM_USED;
            if (is_null(c->pdoc, &p.m[k]))
                continue;
        }
        if (!first)
            put(c, ",", 1);
        first = false;
        put(c, c->tdoc + tm->key_off, tm->key_len);
        put(c, ":", 1);
        if (k == SIZE_MAX)
            put(c, c->tdoc + tm->val_off, tm->val_len);
        else
            rc = emit_value(c, tm, &p.m[k]);
    }
    for (size_t k = 0; k < p.n && rc == HS_OK; k++) {
        const struct hs_jmember *pm = &p.m[k];
        if ((pm->flags & HS_JM_USED) || is_null(c->pdoc, pm))
            continue;
        if (!first)
            put(c, ",", 1);
        first = false;
        put(c, c->pdoc + pm->key_off, pm->key_len);
        put(c, ":", 1);
        rc = emit_value(c, NULL, pm);
    }
    put(c, "}", 1);
out:
    hs_jobj_release(&t);
    hs_jobj_release(&p);
    return rc;
}

/* Does a top-level patch member reach the cold part? (see hs_split_patch) */
static bool touches_cold_part(const struct hs_jobj *ord, const uint8_t *flags,
                              const struct hs_split_hotset *hot_set, const struct hs_jobj *p)
{
    for (size_t i = 0; i < p->n; i++) {
        size_t e = hs_jobj_find(ord, hs_jobj_ukey(p, i), p->m[i].ukey_len);
        if (e != SIZE_MAX
                ? flags[e] == 'c'
                : !is_null(p->doc, &p->m[i]) &&
                      !hs_split_hotset_contains(hot_set, hs_jobj_ukey(p, i), p->m[i].ukey_len))
            return true;
    }
    return false;
}

/* The new record: old entries minus the hot keys the patch nulls, then new keys as "h", then
 * the old shadows sh (the cold part is kept as it is, so they stay). */
static void write_order(struct hs_buf *out, const struct hs_jobj *ord, const struct hs_jobj *sh,
                        const struct hs_jobj *p)
{
    bool first = true;
    if (hs_buf_append(out, "[", 1) != HS_OK)
        HS_BUG("append to an unlimited buffer failed");
    for (size_t i = 0; i < ord->n; i++) {
        size_t k = hs_jobj_find(p, hs_jobj_ukey(ord, i), ord->m[i].ukey_len);
        if (k != SIZE_MAX && is_null(p->doc, &p->m[k]))
            continue;
        if ((!first && hs_buf_append(out, ",", 1) != HS_OK) ||
            hs_buf_append(out, ord->doc + ord->m[i].key_off, ord->m[i].key_len) != HS_OK)
            HS_BUG("append to an unlimited buffer failed");
        first = false;
    }
    for (size_t k = 0; k < p->n; k++) {
        const struct hs_jmember *pm = &p->m[k];
        if (is_null(p->doc, pm) || hs_jobj_find(ord, hs_jobj_ukey(p, k), pm->ukey_len) != SIZE_MAX)
            continue;
        if ((!first && hs_buf_append(out, ",", 1) != HS_OK) ||
            hs_buf_append(out, "\"h", 2) != HS_OK ||
            hs_buf_append(out, p->doc + pm->key_off + 1, pm->key_len - 1) != HS_OK)
            HS_BUG("append to an unlimited buffer failed");
        first = false;
    }
    for (size_t i = 0; i < sh->n; i++) {
        if ((!first && hs_buf_append(out, ",", 1) != HS_OK) ||
            hs_buf_append(out, sh->doc + sh->m[i].key_off, sh->m[i].key_len) != HS_OK)
            HS_BUG("append to an unlimited buffer failed");
        first = false;
    }
    if (hs_buf_append(out, "]", 1) != HS_OK)
        HS_BUG("append to an unlimited buffer failed");
}

/* Parses the three inputs; HS_EINVAL for the patch, HS_ECORRUPT for stored data. */
static enum hs_err parse_inputs(struct patch_ctx *c, struct hs_jobj *h, struct hs_jobj *ord,
                                struct hs_jobj *sh, uint8_t **flags, struct hs_jobj *p)
{
    size_t off = 0, nh = 0;
    enum hs_split_error_code code =
        hs_json_parse_object(p, c->pdoc, c->plen, 0, c->max_depth, HS_JPARSE_WHOLE, &off);
    if (code != HS_SPLIT_OK) {
        hs_split_set_error(c->err, code, off);
        return HS_EINVAL;
    }
    if (hs_json_parse_object(h, c->tdoc, c->tlen, 0, c->max_depth, HS_JPARSE_WHOLE, &off) !=
            HS_SPLIT_OK ||
        !hs_order_parse(ord, sh, c->order, c->order_len, flags, NULL))
        return HS_ECORRUPT;
    for (size_t i = 0; i < ord->n; i++) {
        if ((*flags)[i] != 'h')
            continue;
        nh++;
        if (hs_jobj_find(h, hs_jobj_ukey(ord, i), ord->m[i].ukey_len) == SIZE_MAX)
            return HS_ECORRUPT;
    }
    return nh == h->n ? HS_OK : HS_ECORRUPT;
}

enum hs_err hs_split_patch(const struct hs_split_opts *opts, const struct hs_split_hotset *hot_set,
                           const uint8_t *hot, size_t hot_len, const uint8_t *order,
                           size_t order_len, const uint8_t *patch, size_t patch_len,
                           struct hs_buf *hot_out, struct hs_buf *order_out, bool *touches_cold,
                           struct hs_split_error *err)
{
    struct hs_buf new_hot, new_order;
    struct hs_jobj h, ord, sh, p;
    uint8_t *flags = NULL;
    struct patch_ctx c = {.tdoc = hot,
                          .tlen = hot_len,
                          .pdoc = patch,
                          .plen = patch_len,
                          .order = order,
                          .order_len = order_len,
                          .err = err,
                          .out = &new_hot};
    hs_buf_init(&new_hot, 0);
    hs_buf_init(&new_order, 0);
    hs_jobj_init(&h, hot);
    hs_jobj_init(&ord, order);
    hs_jobj_init(&sh, order);
    hs_jobj_init(&p, patch);
    hs_split_set_error(err, HS_SPLIT_OK, 0);
    enum hs_err rc = hs_split_opts_depth(opts, &c.max_depth);
    if (rc != HS_OK || (rc = parse_inputs(&c, &h, &ord, &sh, &flags, &p)) != HS_OK)
        goto out;
    if (touches_cold_part(&ord, flags, hot_set, &p)) {
        *touches_cold = true;
        goto out;
    }
    /* both parts were validated: their first non-blank byte is the '{' */
    rc = merge_object(&c, hs_json_skip_ws(hot, hot_len, 0), hs_json_skip_ws(patch, patch_len, 0));
    if (rc != HS_OK)
        goto out;
    write_order(&new_order, &ord, &sh, &p);
    if ((rc = hs_buf_reserve(hot_out, new_hot.len)) != HS_OK ||
        (rc = hs_buf_reserve(order_out, new_order.len)) != HS_OK)
        goto out;
    /* reserved: these cannot fail, so both outputs change or neither does */
    if (hs_buf_append(hot_out, new_hot.data, new_hot.len) != HS_OK ||
        hs_buf_append(order_out, new_order.data, new_order.len) != HS_OK)
        HS_BUG("append after reserve failed");
    *touches_cold = false;
out:
    free(flags);
    hs_jobj_release(&h);
    hs_jobj_release(&ord);
    hs_jobj_release(&sh);
    hs_jobj_release(&p);
    hs_buf_release(&new_hot);
    hs_buf_release(&new_order);
    return rc;
}
