/* manifest.c - manifest structs: lifecycle, builders for writers, strategy names, and the
 * (blob, node) listings that deletes and garbage collection work from. Encoding lives in
 * manifest_json.c, the rules in manifest_validate.c. */
#include "hs/manifest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/mem.h"
#include "manifest_int.h"
#include "hs/banned.h"

static const char *const strategy_names[] = {
    [HS_STRATEGY_REPLICATION] = "replication",
    [HS_STRATEGY_EC] = "ec",
    [HS_STRATEGY_FIELD_HYBRID] = "field_hybrid",
};

const char *hs_strategy_name(enum hs_strategy s)
{
    if ((unsigned)s >= HS_ARRAY_LEN(strategy_names))
        return NULL;
    return strategy_names[s];
}

bool hs_strategy_parse(const char *text, enum hs_strategy *out)
{
    for (size_t i = 1; text && i < HS_ARRAY_LEN(strategy_names); i++) {
        if (strcmp(text, strategy_names[i]) == 0) {
            *out = (enum hs_strategy)i;
            return true;
        }
    }
    return false;
}

void hs_meta_why(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    if (!why || why_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

void hs_manifest_init(struct hs_manifest *m)
{
    memset(m, 0, sizeof(*m));
}

static void segment_release(struct hs_segment *s)
{
    for (size_t i = 0; i < s->n_blobs; i++) {
        free(s->blobs[i].blob_id);
        free(s->blobs[i].node_id);
    }
    free(s->blobs);
    memset(s, 0, sizeof(*s));
}

void hs_part_release(struct hs_part *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_segments; i++)
        segment_release(&p->segments[i]);
    free(p->segments);
    memset(p, 0, sizeof(*p));
}

void hs_manifest_release(struct hs_manifest *m)
{
    if (!m)
        return;
    free(m->key);
    free(m->content_type);
    free(m->etag);
    free(m->txn_id);
    hs_part_release(&m->data);
    hs_part_release(&m->hot);
    hs_part_release(&m->cold);
    free(m->cold_hash);
    free(m->field_order_json);
    hs_manifest_attrs_free(m->attrs);
    free(m->field_digests);
    memset(m, 0, sizeof(*m));
}

static void part_alloc(struct hs_part *p, size_t n_segments, size_t blobs_per_segment)
{
    p->n_segments = n_segments;
    p->segments = hs_xcalloc(n_segments, sizeof(*p->segments));
    for (size_t i = 0; i < n_segments; i++) {
        p->segments[i].n_blobs = blobs_per_segment;
        p->segments[i].blobs = hs_xcalloc(blobs_per_segment, sizeof(struct hs_meta_blob_ref));
    }
}

void hs_part_init_replicated(struct hs_part *p, uint32_t replicas, size_t n_segments)
{
    hs_part_release(p);
    p->kind = HS_PART_REPLICATED;
    p->replicas = replicas;
    part_alloc(p, n_segments, replicas);
}

void hs_part_init_ec(struct hs_part *p, uint32_t k, uint32_t m, int64_t stripe_bytes,
                     size_t n_segments)
{
    hs_part_release(p);
    p->kind = HS_PART_EC;
    p->k = k;
    p->m = m;
    p->stripe_bytes = stripe_bytes;
    part_alloc(p, n_segments, (size_t)k + m);
}

void hs_part_copy(struct hs_part *dst, const struct hs_part *src)
{
    if (dst == src)
        return;
    hs_part_release(dst);
    *dst = *src;
    dst->segments = hs_xcalloc(src->n_segments, sizeof(*dst->segments));
    for (size_t i = 0; i < src->n_segments; i++) {
        const struct hs_segment *s = &src->segments[i];
        struct hs_segment *d = &dst->segments[i];
        *d = *s;
        d->blobs = hs_xcalloc(s->n_blobs, sizeof(*d->blobs));
        for (size_t j = 0; j < s->n_blobs; j++)
            hs_meta_blob_ref_set(&d->blobs[j], s->blobs[j].blob_id, s->blobs[j].node_id,
                                 s->blobs[j].len_bytes, s->blobs[j].crc32c);
    }
}

void hs_part_fix_offsets(struct hs_part *p)
{
    int64_t off = 0;
    for (size_t i = 0; i < p->n_segments; i++) {
        p->segments[i].offset_bytes = off;
        off += p->segments[i].len_bytes;
    }
}

void hs_meta_blob_ref_set(struct hs_meta_blob_ref *r, const char *blob_id, const char *node_id,
                          int64_t len_bytes, uint32_t crc32c)
{
    /* copy first: blob_id may point into r's own strings */
    char *b = blob_id ? hs_xstrdup(blob_id) : NULL;
    char *n = node_id ? hs_xstrdup(node_id) : NULL;
    free(r->blob_id);
    free(r->node_id);
    r->blob_id = b;
    r->node_id = n;
    r->len_bytes = len_bytes;
    r->crc32c = crc32c;
}

static size_t part_blob_count(const struct hs_part *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_segments; i++)
        n += p->segments[i].n_blobs;
    return n;
}

static void part_locs(const struct hs_part *p, struct hs_meta_blob_loc *out, size_t *at)
{
    for (size_t i = 0; i < p->n_segments; i++) {
        for (size_t j = 0; j < p->segments[i].n_blobs; j++) {
            out[*at].blob_id = p->segments[i].blobs[j].blob_id;
            out[*at].node_id = p->segments[i].blobs[j].node_id;
            (*at)++;
        }
    }
}

void hs_manifest_blob_locs(const struct hs_manifest *m, struct hs_meta_blob_loc **out,
                           size_t *n_out)
{
    const struct hs_part *parts[] = {&m->data, &m->hot, &m->cold};
    size_t n = 0, at = 0;
    for (size_t i = 0; i < HS_ARRAY_LEN(parts); i++)
        n += part_blob_count(parts[i]);
    struct hs_meta_blob_loc *locs = hs_xcalloc(n, sizeof(*locs));
    for (size_t i = 0; i < HS_ARRAY_LEN(parts); i++)
        part_locs(parts[i], locs, &at);
    *out = locs;
    *n_out = n;
}

void hs_part_blob_locs(const struct hs_part *p, struct hs_meta_blob_loc **out, size_t *n_out)
{
    size_t at = 0;
    *n_out = part_blob_count(p);
    *out = hs_xcalloc(*n_out ? *n_out : 1, sizeof(**out));
    part_locs(p, *out, &at);
}

static bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

bool hs_manifest_references(const struct hs_manifest *m, const char *blob_id, const char *node_id)
{
    const struct hs_part *parts[] = {&m->data, &m->hot, &m->cold};
    for (size_t i = 0; i < HS_ARRAY_LEN(parts); i++) {
        for (size_t s = 0; s < parts[i]->n_segments; s++) {
            const struct hs_segment *seg = &parts[i]->segments[s];
            for (size_t j = 0; j < seg->n_blobs; j++) {
                if (str_eq(seg->blobs[j].blob_id, blob_id) &&
                    str_eq(seg->blobs[j].node_id, node_id))
                    return true;
            }
        }
    }
    return false;
}

/* NULL strings sort first so that a half-built struct never crashes a comparison. */
static int cmp_str(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int cmp_loc(const void *pa, const void *pb)
{
    const struct hs_meta_blob_loc *a = pa, *b = pb;
    int c = cmp_str(a->blob_id, b->blob_id);
    return c ? c : cmp_str(a->node_id, b->node_id);
}

bool hs_meta_locs_unique(const struct hs_meta_blob_loc *locs, size_t n,
                         struct hs_meta_blob_loc *dup_out)
{
    if (n < 2)
        return true;
    struct hs_meta_blob_loc *sorted = hs_xmalloc(n * sizeof(*sorted));
    memcpy(sorted, locs, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), cmp_loc);
    bool unique = true;
    for (size_t i = 1; i < n && unique; i++) {
        if (cmp_loc(&sorted[i - 1], &sorted[i]) == 0) {
            unique = false;
            if (dup_out)
                *dup_out = sorted[i];
        }
    }
    free(sorted);
    return unique;
}

void hs_meta_blob_locs_subtract(const struct hs_meta_blob_loc *a, size_t n_a,
                                const struct hs_meta_blob_loc *b, size_t n_b,
                                struct hs_meta_blob_loc **out, size_t *n_out)
{
    /* sort b once and binary-search it: a manifest of thousands of segments stays cheap */
    struct hs_meta_blob_loc *sorted = hs_xmalloc((n_b ? n_b : 1) * sizeof(*sorted));
    if (n_b)
        memcpy(sorted, b, n_b * sizeof(*sorted));
    qsort(sorted, n_b, sizeof(*sorted), cmp_loc);
    struct hs_meta_blob_loc *res = hs_xcalloc(n_a, sizeof(*res));
    size_t n = 0;
    for (size_t i = 0; i < n_a; i++) {
        if (!bsearch(&a[i], sorted, n_b, sizeof(*sorted), cmp_loc))
            res[n++] = a[i];
    }
    free(sorted);
    *out = res;
    *n_out = n;
}
