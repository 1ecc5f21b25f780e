/* test_split_shadow.c - unit tests of shadows (order record version 2, split.h): a stored cold
 * part kept under a document that promoted or dropped some of its members, the merge that leaves
 * shadows out, the checks that refuse records and parts that disagree, the patch that carries
 * shadows over, and the version a record needs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs/split.h"
#include "hs/banned.h"

static struct hs_split_hotset *hot_of(const char *csv)
{
    struct hs_split_hotset *hs = NULL;
    assert_int_equal(hs_split_hotset_new_csv(csv, &hs), HS_OK);
    return hs;
}

/* Splits doc with the hot set csv (fields listed, as the gateway asks). */
static void split_with(const char *csv, const char *doc, struct hs_split_result *r)
{
    struct hs_split_hotset *hs = hot_of(csv);
    hs_split_result_init(r, 0);
    r->want_fields = true;
    assert_int_equal(hs_split_document(NULL, hs, (const uint8_t *)doc, strlen(doc), r, NULL),
                     HS_OK);
    hs_split_hotset_free(hs);
}

static void assert_buf_eq(const struct hs_buf *b, const char *want)
{
    if (b->len != strlen(want) || memcmp(b->data, want, b->len) != 0)
        fail_msg("got '%.*s', want '%s'", (int)b->len, (const char *)b->data, want);
}

/* hs_split_shadow of the new document doc (hot set csv) over the stored cold part. */
static bool shadow(const char *csv, const char *doc, const char *stored_cold, struct hs_buf *rec,
                   size_t *live, struct hs_split_result *r)
{
    split_with(csv, doc, r);
    bool same = true;
    hs_buf_init(rec, 0);
    assert_int_equal(hs_split_shadow(NULL, (const uint8_t *)stored_cold, strlen(stored_cold), r,
                                     rec, live, &same),
                     HS_OK);
    return same;
}

static enum hs_err merge_str(const char *hot, const char *cold, const char *rec, struct hs_buf *out)
{
    hs_buf_init(out, 0);
    return hs_split_merge(NULL, (const uint8_t *)hot, strlen(hot), (const uint8_t *)cold,
                          strlen(cold), (const uint8_t *)rec, strlen(rec), out, NULL);
}

/* The layout promoted p: the new document keeps big cold with the stored value, so the stored
 * cold part stays, p's stale copy in it becomes a shadow, and the merge gives the new document. */
static void promotion_keeps_the_cold_part_and_merges_to_the_new_document(void **state)
{
    (void)state;
    const char *stored_cold = "{\"big\":\"xxxx\",\"p\":\"old\"}";
    const char *doc = "{\"a\":2,\"big\":\"xxxx\",\"p\":\"new\"}";
    struct hs_split_result r;
    struct hs_buf rec, out;
    size_t live = 0;
    assert_true(shadow("a,p", doc, stored_cold, &rec, &live, &r));
    assert_buf_eq(&rec, "[\"ha\",\"cbig\",\"hp\",\"sp\"]");
    assert_int_equal(live, strlen("{\"big\":\"xxxx\"}"));
    assert_int_equal(hs_split_order_version(rec.data, rec.len), HS_SPLIT_ORDER_VERSION_SHADOWS);
    char *hot = strndup((const char *)r.hot.data, r.hot.len);
    char *rs = strndup((const char *)rec.data, rec.len);
    assert_int_equal(merge_str(hot, stored_cold, rs, &out), HS_OK);
    assert_buf_eq(&out, doc);
    free(hot);
    free(rs);
    hs_buf_release(&out);
    hs_buf_release(&rec);
    hs_split_result_release(&r);
}

/* Stored values keep their whitespace and the stored part may be in any order: the check is on
 * the canonical form, and live_len counts the bytes the merge will copy. */
static void stored_whitespace_and_order_do_not_matter(void **state)
{
    (void)state;
    const char *stored_cold = "{\"p\":1,\"z\": [1, 2],\"big\":{\"k\" : true}}";
    const char *doc = "{\"big\":{\"k\":true},\"p\":7,\"z\":[1,2]}";
    struct hs_split_result r;
    struct hs_buf rec, out;
    size_t live = 0;
    assert_true(shadow("p", doc, stored_cold, &rec, &live, &r));
    assert_buf_eq(&rec, "[\"cbig\",\"hp\",\"cz\",\"sp\"]");
    const char *merged = "{\"big\":{\"k\" : true},\"p\":7,\"z\":[1, 2]}";
    assert_int_equal(live, strlen("{\"big\":{\"k\" : true},\"z\":[1, 2]}"));
    char *hot = strndup((const char *)r.hot.data, r.hot.len);
    char *rs = strndup((const char *)rec.data, rec.len);
    assert_int_equal(merge_str(hot, stored_cold, rs, &out), HS_OK);
    assert_buf_eq(&out, merged);
    free(hot);
    free(rs);
    hs_buf_release(&out);
    hs_buf_release(&rec);
    hs_split_result_release(&r);
}

/* A removed field becomes a shadow too (no hot member of that key: it is gone). */
static void a_removed_field_becomes_a_shadow(void **state)
{
    (void)state;
    const char *stored_cold = "{\"big\":\"x\",\"gone\":[1]}";
    struct hs_split_result r;
    struct hs_buf rec, out;
    size_t live = 0;
    assert_true(shadow("a", "{\"a\":1,\"big\":\"x\"}", stored_cold, &rec, &live, &r));
    assert_buf_eq(&rec, "[\"ha\",\"cbig\",\"sgone\"]");
    assert_int_equal(merge_str("{\"a\":1}", stored_cold, "[\"ha\",\"cbig\",\"sgone\"]", &out),
                     HS_OK);
    assert_buf_eq(&out, "{\"a\":1,\"big\":\"x\"}");
    hs_buf_release(&out);
    hs_buf_release(&rec);
    hs_split_result_release(&r);
}

/* Anything the stored part cannot give back refuses, and leaves the record alone. */
static void changed_new_or_differently_escaped_cold_values_refuse(void **state)
{
    (void)state;
    const char *stored_cold = "{\"big\":\"x\",\"p\":1}";
    const char *docs[] = {
        "{\"big\":\"y\",\"p\":2}",            /* big changed */
        "{\"big\":\"x\",\"p\":2,\"new\":0}",  /* a new cold member */
        "{\"\\u0062ig\":\"x\",\"p\":2}",      /* the same key, escaped otherwise */
        "{\"big\":\"x\",\"p\":2,\"q\":null}", /* q cold and not stored */
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        struct hs_split_result r;
        struct hs_buf rec;
        size_t live = 12345;
        assert_false(shadow("p", docs[i], stored_cold, &rec, &live, &r));
        assert_int_equal(rec.len, 0);
        assert_int_equal(live, 12345);
        hs_buf_release(&rec);
        hs_split_result_release(&r);
    }
    /* a stored part that is not an object is corrupt */
    struct hs_split_result r;
    split_with("p", "{\"big\":\"x\",\"p\":2}", &r);
    struct hs_buf rec;
    hs_buf_init(&rec, 0);
    size_t live = 0;
    bool same = true;
    assert_int_equal(hs_split_shadow(NULL, (const uint8_t *)"{\"big\":", 7, &r, &rec, &live, &same),
                     HS_ECORRUPT);
    assert_false(same);
    hs_buf_release(&rec);
    hs_split_result_release(&r);
}

/* A shadow stays a shadow while the cold part is kept: the next write's record gets the old
 * record's shadows appended (also to an empty record). */
static void keep_shadows_appends_the_old_records_shadows(void **state)
{
    (void)state;
    const char *old = "[\"ha\",\"cbig\",\"hp\",\"sp\",\"sgone\"]";
    struct hs_buf out;
    hs_buf_init(&out, 0);
    const char *rec = "[\"ha\",\"cbig\",\"hp\"]";
    assert_int_equal(hs_split_order_keep_shadows((const uint8_t *)rec, strlen(rec),
                                                 (const uint8_t *)old, strlen(old), &out),
                     HS_OK);
    assert_buf_eq(&out, "[\"ha\",\"cbig\",\"hp\",\"sp\",\"sgone\"]");
    hs_buf_reset(&out);
    assert_int_equal(hs_split_order_keep_shadows((const uint8_t *)"[]", 2, (const uint8_t *)old,
                                                 strlen(old), &out),
                     HS_OK);
    assert_buf_eq(&out, "[\"sp\",\"sgone\"]");
    hs_buf_reset(&out);
    assert_int_equal(hs_split_order_keep_shadows((const uint8_t *)rec, strlen(rec),
                                                 (const uint8_t *)"[\"xp\"]", 6, &out),
                     HS_ECORRUPT);
    assert_int_equal(out.len, 0);
    hs_buf_release(&out);
}

/* The merge checks shadows like every entry: each names a distinct member of the cold part that
 * no "c" entry names; a hot member may share the key. */
static void merge_refuses_shadows_that_disagree_with_the_cold_part(void **state)
{
    (void)state;
    const char *hot = "{\"p\":2}", *cold = "{\"big\":1,\"p\":1}";
    struct hs_buf out;
    assert_int_equal(merge_str(hot, cold, "[\"cbig\",\"hp\",\"sp\"]", &out), HS_OK);
    assert_buf_eq(&out, "{\"big\":1,\"p\":2}");
    hs_buf_release(&out);
    const char *bad[] = {
        "[\"cbig\",\"hp\"]",                 /* cold p named by nothing */
        "[\"cbig\",\"hp\",\"sp\",\"sp\"]",   /* a shadow twice */
        "[\"cbig\",\"hp\",\"sbig\"]",        /* big both live and shadow */
        "[\"cbig\",\"hp\",\"sq\"]",          /* a shadow the cold part lacks */
        "[\"cbig\",\"hp\",\"sp\",\"x\"]",    /* an unknown flag */
        "[\"cbig\",\"hp\",\"sp\",\"sbig\"]", /* more entries than members */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(merge_str(hot, cold, bad[i], &out), HS_ECORRUPT);
        assert_int_equal(out.len, 0);
        hs_buf_release(&out);
    }
}

struct patch_run {
    struct hs_buf hot, rec;
    bool touches_cold;
    enum hs_err rc;
};

static void run_patch(const char *csv, const char *hot, const char *rec, const char *patch,
                      struct patch_run *p)
{
    struct hs_split_hotset *hs = hot_of(csv);
    hs_buf_init(&p->hot, 0);
    hs_buf_init(&p->rec, 0);
    p->touches_cold = false;
    p->rc = hs_split_patch(NULL, hs, (const uint8_t *)hot, strlen(hot), (const uint8_t *)rec,
                           strlen(rec), (const uint8_t *)patch, strlen(patch), &p->hot, &p->rec,
                           &p->touches_cold, NULL);
    hs_split_hotset_free(hs);
}

/* A hot patch keeps the cold part, so the record keeps its shadows; a shadowed key is absent
 * from the document (a patch setting it adds a hot member, or reaches the cold part). */
static void patch_carries_shadows_over(void **state)
{
    (void)state;
    const char *hot = "{\"a\":1,\"p\":\"new\"}", *rec = "[\"ha\",\"cbig\",\"hp\",\"sp\",\"sg\"]";
    struct patch_run p;
    run_patch("a,p,g", hot, rec, "{\"a\":5}", &p);
    assert_int_equal(p.rc, HS_OK);
    assert_false(p.touches_cold);
    assert_buf_eq(&p.hot, "{\"a\":5,\"p\":\"new\"}");
    assert_buf_eq(&p.rec, "[\"ha\",\"cbig\",\"hp\",\"sp\",\"sg\"]");
    hs_buf_release(&p.hot);
    hs_buf_release(&p.rec);
    run_patch("a,p,g", hot, rec, "{\"p\":null,\"g\":3}", &p);
    assert_int_equal(p.rc, HS_OK);
    assert_false(p.touches_cold);
    assert_buf_eq(&p.hot, "{\"a\":1,\"g\":3}");
    assert_buf_eq(&p.rec, "[\"ha\",\"cbig\",\"hg\",\"sp\",\"sg\"]");
    hs_buf_release(&p.hot);
    hs_buf_release(&p.rec);
    run_patch("a,p", hot, rec, "{\"g\":3}", &p); /* g not hot: a new cold member */
    assert_int_equal(p.rc, HS_OK);
    assert_true(p.touches_cold);
    hs_buf_release(&p.hot);
    hs_buf_release(&p.rec);
}

/* A re-layout knows the cold values are the stored ones: the record alone decides. */
static void shadow_by_record_needs_no_cold_part(void **state)
{
    (void)state;
    struct hs_split_result r;
    split_with("a,p", "{\"a\":1,\"big\":\"x\",\"p\":2}", &r);
    struct hs_buf rec;
    hs_buf_init(&rec, 0);
    bool same = false;
    const char *old = "[\"ha\",\"cbig\",\"cp\",\"sq\"]";
    assert_int_equal(hs_split_shadow_by_record((const uint8_t *)old, strlen(old), &r, &rec, &same),
                     HS_OK);
    assert_true(same);
    assert_buf_eq(&rec, "[\"ha\",\"cbig\",\"hp\",\"sp\",\"sq\"]");
    /* big hot in the stored version: not a live cold member, nothing to keep */
    const char *hot_big = "[\"ha\",\"hbig\",\"cp\"]";
    hs_buf_reset(&rec);
    assert_int_equal(
        hs_split_shadow_by_record((const uint8_t *)hot_big, strlen(hot_big), &r, &rec, &same),
        HS_OK);
    assert_false(same);
    assert_int_equal(rec.len, 0);
    /* big a shadow there: no live value to keep either */
    const char *sh_big = "[\"ha\",\"hbig\",\"sbig\",\"cp\"]";
    assert_int_equal(
        hs_split_shadow_by_record((const uint8_t *)sh_big, strlen(sh_big), &r, &rec, &same), HS_OK);
    assert_false(same);
    assert_int_equal(hs_split_shadow_by_record((const uint8_t *)"[\"", 2, &r, &rec, &same),
                     HS_ECORRUPT);
    hs_buf_release(&rec);
    hs_split_result_release(&r);
}

static void order_version_tells_records_with_shadows(void **state)
{
    (void)state;
    const char *plain = "[\"ha\",\"cb\"]", *sh = "[\"ha\",\"cb\",\"sa\"]", *junk = "[\"ha\",";
    assert_int_equal(hs_split_order_version((const uint8_t *)plain, strlen(plain)),
                     HS_SPLIT_ORDER_VERSION);
    assert_int_equal(hs_split_order_version((const uint8_t *)sh, strlen(sh)),
                     HS_SPLIT_ORDER_VERSION_SHADOWS);
    assert_int_equal(hs_split_order_version((const uint8_t *)junk, strlen(junk)), 0);
    assert_int_equal(hs_split_order_version((const uint8_t *)"[]", 2), HS_SPLIT_ORDER_VERSION);
    assert_int_equal(hs_split_order_shadows((const uint8_t *)sh, strlen(sh)), 1);
    assert_int_equal(hs_split_order_shadows((const uint8_t *)plain, strlen(plain)), 0);
    assert_int_equal(hs_split_order_shadows((const uint8_t *)junk, strlen(junk)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(promotion_keeps_the_cold_part_and_merges_to_the_new_document),
        cmocka_unit_test(stored_whitespace_and_order_do_not_matter),
        cmocka_unit_test(a_removed_field_becomes_a_shadow),
        cmocka_unit_test(changed_new_or_differently_escaped_cold_values_refuse),
        cmocka_unit_test(keep_shadows_appends_the_old_records_shadows),
        cmocka_unit_test(merge_refuses_shadows_that_disagree_with_the_cold_part),
        cmocka_unit_test(patch_carries_shadows_over),
        cmocka_unit_test(shadow_by_record_needs_no_cold_part),
        cmocka_unit_test(order_version_tells_records_with_shadows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
