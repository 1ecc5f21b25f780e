/* test_manifest_packed.c - the packed segment list of manifest format version 2
 * (manifest_packed.c): 10 000 one-segment parts of separate writes fit the encoded limit
 * (replicated and RS 4+2), round trips are exact (ids, nodes, lengths, CRCs, offsets),
 * multi-segment writes, segment number gaps and non-derivable ids, an unpacked manifest is
 * still version 1, and malformed packed text is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/manifest.h"

/* txn id of write w: 12 hex digits of time + 20 of "random" */
static void txn_of(size_t w, char out[HS_TXN_ID_BUF])
{
    snprintf(out, HS_TXN_ID_BUF, "%012zx%020zx", (size_t)0x18c0000000 + w, w * 2654435761u);
}

static void node_of(size_t i, char out[16])
{
    snprintf(out, 16, "node-%zu", i % 6);
}

/* n_writes writes of segs_per_write segments each (segments of one write numbered 0..). */
static void fill(struct hs_manifest *m, bool ec, size_t n_writes, size_t segs_per_write)
{
    hs_manifest_init(m);
    m->key = strdup("bucket/big-object");
    m->strategy = ec ? HS_STRATEGY_EC : HS_STRATEGY_REPLICATION;
    m->content_type = strdup("application/octet-stream");
    m->etag = strdup("0123456789abcdef0123456789abcdef-10000");
    m->version = 1;
    m->created_ms = 1795000000123;
    m->txn_id = strdup("0123456789abcdef0123456789abcdef");
    size_t n = n_writes * segs_per_write;
    if (ec)
        hs_part_init_ec(&m->data, 4, 2, 4096, n);
    else
        hs_part_init_replicated(&m->data, 3, n);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        struct hs_segment *s = &m->data.segments[i];
        char txn[HS_TXN_ID_BUF];
        txn_of(i / segs_per_write, txn);
        s->len_bytes = 5 + (int64_t)(i % 7);
        s->crc32c = 0x9e3779b9u * (uint32_t)(i + 1);
        total += s->len_bytes;
        for (size_t j = 0; j < s->n_blobs; j++) {
            char id[HS_META_BLOB_ID_BUF], node[16];
            assert_int_equal(hs_meta_blob_id_make(txn, HS_META_PART_DATA,
                                                  (uint32_t)(i % segs_per_write), (uint32_t)j, id),
                             HS_OK);
            node_of(i + j, node);
            hs_meta_blob_ref_set(&s->blobs[j], id, node, ec ? 4096 : s->len_bytes,
                                 ec ? 0x1000u * (uint32_t)j + (uint32_t)i : s->crc32c);
        }
    }
    m->data.len_bytes = total;
    m->size_bytes = total;
    hs_part_fix_offsets(&m->data);
    m->data.packed = true;
}

static void assert_same_part(const struct hs_part *a, const struct hs_part *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->len_bytes, b->len_bytes);
    assert_int_equal(a->n_segments, b->n_segments);
    for (size_t i = 0; i < a->n_segments; i++) {
        const struct hs_segment *x = &a->segments[i], *y = &b->segments[i];
        assert_int_equal(x->len_bytes, y->len_bytes);
        assert_int_equal(x->offset_bytes, y->offset_bytes);
        assert_int_equal(x->crc32c, y->crc32c);
        assert_int_equal(x->n_blobs, y->n_blobs);
        for (size_t j = 0; j < x->n_blobs; j++) {
            assert_string_equal(x->blobs[j].blob_id, y->blobs[j].blob_id);
            assert_string_equal(x->blobs[j].node_id, y->blobs[j].node_id);
            assert_int_equal(x->blobs[j].len_bytes, y->blobs[j].len_bytes);
            assert_int_equal(x->blobs[j].crc32c, y->blobs[j].crc32c);
        }
    }
}

static void round_trip(struct hs_manifest *m, size_t *len_out)
{
    char *text = NULL;
    size_t len = 0;
    char why[200] = "";
    assert_int_equal(hs_manifest_encode(m, &text, &len, why, sizeof why), HS_OK);
    assert_non_null(strstr(text, "\"v\":2"));
    assert_non_null(strstr(text, "\"segz\""));
    assert_null(strstr(text, "\"segs\""));
    struct hs_manifest back;
    assert_int_equal(hs_manifest_decode(text, len, &back, why, sizeof why), HS_OK);
    assert_true(back.data.packed);
    assert_same_part(&m->data, &back.data);
    /* decode -> encode gives the same text (a healer CAS keeps the packed form) */
    char *again = NULL;
    size_t again_len = 0;
    assert_int_equal(hs_manifest_encode(&back, &again, &again_len, why, sizeof why), HS_OK);
    assert_int_equal(again_len, len);
    assert_memory_equal(again, text, len);
    free(again);
    hs_manifest_release(&back);
    free(text);
    *len_out = len;
}

static void test_ten_thousand_replicated(void **state)
{
    (void)state;
    struct hs_manifest m;
    fill(&m, false, 10000, 1);
    size_t len = 0;
    round_trip(&m, &len);
    print_message("10000 replicated parts: %zu bytes packed\n", len);
    assert_true(len < 512 * 1024);
    hs_manifest_release(&m);
}

static void test_ten_thousand_ec(void **state)
{
    (void)state;
    struct hs_manifest m;
    fill(&m, true, 10000, 1);
    size_t len = 0;
    round_trip(&m, &len);
    print_message("10000 RS 4+2 parts: %zu bytes packed\n", len);
    assert_true(len < HS_MANIFEST_ENCODED_MAX);
    hs_manifest_release(&m);
}

static void test_multi_segment_writes_and_gaps(void **state)
{
    (void)state;
    struct hs_manifest m;
    fill(&m, false, 5, 4);
    /* a segment number gap: segment 2 of the third write renamed to segment 9 */
    struct hs_segment *s = &m.data.segments[2 * 4 + 2];
    for (size_t j = 0; j < s->n_blobs; j++) {
        char id[HS_META_BLOB_ID_BUF], txn[HS_TXN_ID_BUF];
        txn_of(2, txn);
        hs_meta_blob_id_make(txn, HS_META_PART_DATA, 9, (uint32_t)j, id);
        hs_meta_blob_ref_set(&s->blobs[j], id, s->blobs[j].node_id, s->len_bytes, s->crc32c);
    }
    /* a blob re-placed under an id that is not derivable (explicit segment) */
    s = &m.data.segments[7];
    hs_meta_blob_ref_set(&s->blobs[1], "abc.def", s->blobs[1].node_id, s->len_bytes, s->crc32c);
    /* a blob id of another write inside a segment (explicit too) */
    s = &m.data.segments[12];
    char id[HS_META_BLOB_ID_BUF], txn[HS_TXN_ID_BUF];
    txn_of(99, txn);
    hs_meta_blob_id_make(txn, HS_META_PART_DATA, 0, 2, id);
    hs_meta_blob_ref_set(&s->blobs[2], id, s->blobs[2].node_id, s->len_bytes, s->crc32c);
    size_t len = 0;
    round_trip(&m, &len);
    hs_manifest_release(&m);
}

static void test_unpacked_stays_v1(void **state)
{
    (void)state;
    struct hs_manifest m;
    fill(&m, false, 3, 1);
    m.data.packed = false;
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(hs_manifest_encode(&m, &text, &len, NULL, 0), HS_OK);
    assert_non_null(strstr(text, "\"v\":1"));
    assert_null(strstr(text, "segz"));
    struct hs_manifest back;
    assert_int_equal(hs_manifest_decode(text, len, &back, NULL, 0), HS_OK);
    assert_false(back.data.packed);
    hs_manifest_release(&back);
    free(text);
    hs_manifest_release(&m);
}

static void expect_corrupt(const char *text)
{
    struct hs_manifest back;
    char why[200] = "";
    assert_int_equal(hs_manifest_decode(text, strlen(text), &back, why, sizeof why), HS_ECORRUPT);
}

static char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    assert_non_null(at);
    size_t n = strlen(text) - strlen(from) + strlen(to);
    char *out = calloc(1, n + 1);
    memcpy(out, text, (size_t)(at - text));
    strcat(out, to);
    strcat(out, at + strlen(from));
    return out;
}

static void test_malformed(void **state)
{
    (void)state;
    struct hs_manifest m;
    fill(&m, false, 2, 1);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(hs_manifest_encode(&m, &text, &len, NULL, 0), HS_OK);
    /* version 1 may not carry a packed part */
    char *v1 = replace(text, "\"v\":2", "\"v\":1");
    expect_corrupt(v1);
    /* truncated segz at every length */
    const char *z = strstr(text, "\"segz\":\"") + 8;
    size_t zlen = (size_t)(strchr(z, '"') - z);
    for (size_t cut = 0; cut < zlen; cut += 4) {
        char *t = strdup(text);
        char *tz = t + (z - text);
        memmove(tz + cut, tz + zlen, strlen(tz + zlen) + 1);
        expect_corrupt(t);
        free(t);
    }
    /* node table too short for the indexes used */
    char *nodes = replace(text, "\"nodes\":[\"node-0\",", "\"nodes\":[");
    expect_corrupt(nodes);
    /* both forms at once */
    char *both = replace(text, "\"nodes\":", "\"segs\":[],\"nodes\":");
    expect_corrupt(both);
    free(v1);
    free(nodes);
    free(both);
    free(text);
    hs_manifest_release(&m);
}

static void test_blob_locs_of_packed(void **state)
{
    (void)state;
    struct hs_manifest m;
    fill(&m, true, 100, 2);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(hs_manifest_encode(&m, &text, &len, NULL, 0), HS_OK);
    struct hs_manifest back;
    assert_int_equal(hs_manifest_decode(text, len, &back, NULL, 0), HS_OK);
    struct hs_meta_blob_loc *locs = NULL;
    size_t n = 0;
    hs_manifest_blob_locs(&back, &locs, &n);
    assert_int_equal(n, 200 * 6);
    assert_true(hs_manifest_references(&back, m.data.segments[151].blobs[4].blob_id,
                                       m.data.segments[151].blobs[4].node_id));
    free(locs);
    hs_manifest_release(&back);
    free(text);
    hs_manifest_release(&m);
}

struct seen {
    const struct hs_manifest *m;
    size_t n, matched;
};

static void on_blob(void *ctx, const char *blob_id, const char *node_id)
{
    struct seen *sn = ctx;
    sn->n++;
    sn->matched += hs_manifest_references(sn->m, blob_id, node_id);
}

/* GC protects the blobs of a manifest it cannot decode whole: a packed part is read on its
 * own, and as far as it decodes. */
static void test_packed_each_for_gc(void **state)
{
    (void)state;
    struct hs_manifest m;
    fill(&m, true, 50, 2);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(hs_manifest_encode(&m, &text, &len, NULL, 0), HS_OK);
    const char *data = strstr(text, "\"data\":") + 7;
    size_t data_len = strlen(data) - 1; /* the part object: up to the manifest's closing brace */
    struct seen sn = {.m = &m};
    hs_manifest_packed_each(data, data_len, on_blob, &sn);
    assert_int_equal(sn.n, 100 * 6);
    assert_int_equal(sn.matched, 100 * 6);
    /* cut inside segz: the segments before the cut are still named */
    char *cut = strdup(data);
    char *z = strstr(cut, "\"segz\":\"") + 8;
    z[400] = '\0';
    strcat(cut, "\"}");
    struct seen part = {.m = &m};
    hs_manifest_packed_each(cut, strlen(cut), on_blob, &part);
    assert_true(part.n > 0 && part.n < 600);
    assert_int_equal(part.matched, part.n);
    /* anything else: nothing */
    struct seen none = {.m = &m};
    hs_manifest_packed_each("{\"segs\":[]}", 11, on_blob, &none);
    hs_manifest_packed_each("not json", 8, on_blob, &none);
    assert_int_equal(none.n, 0);
    free(cut);
    free(text);
    hs_manifest_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ten_thousand_replicated),
        cmocka_unit_test(test_ten_thousand_ec),
        cmocka_unit_test(test_multi_segment_writes_and_gaps),
        cmocka_unit_test(test_unpacked_stays_v1),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_blob_locs_of_packed),
        cmocka_unit_test(test_packed_each_for_gc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
