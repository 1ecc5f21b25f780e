/* test_manifest_fields.c - the manifest's format version 2 member "fdig" (per-field digests of
 * field_hybrid objects, manifest_fields.c): its text codec, the version rules (v1 still read and
 * still written without the member, v2 only with it, an unknown "v" is HS_EPROTO, a v2 member
 * in a v1 record is HS_ECORRUPT, and what version-1 code does with a v2 record), and the field
 * list built from the order record and the digests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "hs/manifest.h"
#include "meta/manifest_int.h"
#include "hs/banned.h"

static const char *const TXN = "0123456789abcdef0123456789abcdef";

static void make_hybrid(struct hs_manifest *m)
{
    hs_manifest_init(m);
    m->key = strdup("user:42");
    m->strategy = HS_STRATEGY_FIELD_HYBRID;
    m->size_bytes = 40;
    m->content_type = strdup("application/json");
    m->etag = strdup("1-abc");
    m->version = 1;
    m->created_ms = 1;
    m->txn_id = strdup(TXN);
    hs_part_init_replicated(&m->hot, 3, 1);
    m->hot.len_bytes = 40;
    m->hot.segments[0].len_bytes = 40;
    for (uint32_t j = 0; j < 3; j++) {
        char id[HS_META_BLOB_ID_BUF], node[16];
        assert_int_equal(hs_meta_blob_id_make(TXN, HS_META_PART_HOT, 0, j, id), HS_OK);
        snprintf(node, sizeof node, "node-%u", j);
        hs_meta_blob_ref_set(&m->hot.segments[0].blobs[j], id, node, 40, 0);
    }
    m->cold_hash = strdup("00112233445566778899aabbccddeeff");
    m->field_order_version = 1;
    m->field_order_json = strdup("[\"hviews\",\"ctitle\",\"cnul\\u0000key\"]");
}

static char *encode(const struct hs_manifest *m, enum hs_err want)
{
    char *text = NULL, why[200] = "";
    size_t len = 0;
    enum hs_err err = hs_manifest_encode(m, &text, &len, why, sizeof why);
    if (err != want)
        fail_msg("encode: %s (%s), want %s", hs_err_name(err), why, hs_err_name(want));
    return text;
}

static enum hs_err decode(const char *text, struct hs_manifest *out)
{
    char why[200] = "";
    return hs_manifest_decode(text, strlen(text), out, why, sizeof why);
}

static void fdig_text_round_trips_for_every_count(void **state)
{
    (void)state;
    uint64_t d[40];
    for (size_t i = 0; i < 40; i++)
        d[i] = 0x0123456789abcdefull * (i + 1) ^ (i << 60);
    for (size_t n = 0; n <= 40; n++) {
        char *t = hs_manifest_fdig_encode(d, n);
        assert_int_equal(strlen(t), (32 * n + 2) / 3);
        uint64_t *back = NULL;
        size_t nb = 99;
        assert_int_equal(hs_manifest_fdig_decode(t, &back, &nb), HS_OK);
        assert_int_equal(nb, n);
        for (size_t i = 0; i < n; i++)
            assert_true(back[i] == d[i]);
        free(back);
        free(t);
    }
    uint64_t *x = NULL;
    size_t n = 0;
    assert_int_equal(hs_manifest_fdig_decode("AAAAAAAAAA", &x, &n), HS_EINVAL);  /* 10 chars */
    assert_int_equal(hs_manifest_fdig_decode("AAAAAAAAAA=", &x, &n), HS_EINVAL); /* padding */
    assert_int_equal(hs_manifest_fdig_decode("AAAAAAAAAA+", &x, &n), HS_EINVAL); /* not url */
    assert_int_equal(hs_manifest_fdig_decode("AAAAAAAAAAB", &x, &n), HS_EINVAL); /* spare bits */
    assert_int_equal(hs_manifest_fdig_decode("AAAAAAAAAAE", &x, &n), HS_OK);
    free(x);
    assert_null(NULL);
}

static void without_fdig_a_manifest_stays_version_1(void **state)
{
    (void)state;
    struct hs_manifest m;
    make_hybrid(&m);
    char *t = encode(&m, HS_OK);
    assert_non_null(strstr(t, "{\"v\":1,"));
    assert_null(strstr(t, "fdig"));
    struct hs_manifest d;
    assert_int_equal(decode(t, &d), HS_OK);
    assert_null(d.field_digests);
    hs_manifest_release(&d);
    free(t);
    hs_manifest_release(&m);
}

static void fdig_makes_version_2_and_round_trips(void **state)
{
    (void)state;
    struct hs_manifest m;
    make_hybrid(&m);
    const uint64_t d[3] = {1, 2, UINT64_MAX};
    m.field_digests = hs_manifest_fdig_encode(d, 3);
    char *t = encode(&m, HS_OK);
    assert_non_null(strstr(t, "{\"v\":2,"));
    assert_non_null(strstr(t, ",\"fdig\":\""));
    struct hs_manifest back;
    assert_int_equal(decode(t, &back), HS_OK);
    assert_string_equal(back.field_digests, m.field_digests);
    struct hs_manifest_field *f = NULL;
    size_t n = 0;
    assert_int_equal(hs_manifest_fields_list(&back, &f, &n), HS_OK);
    assert_int_equal(n, 3);
    assert_string_equal(f[0].name, "views");
    assert_true(f[0].hot);
    assert_true(f[0].has_digest);
    assert_true(f[0].digest == 1);
    assert_false(f[1].hot);
    assert_int_equal(f[2].name_len, 7); /* "nul\0key" */
    assert_memory_equal(f[2].name, "nul\0key", 7);
    assert_true(f[2].digest == UINT64_MAX);
    hs_manifest_fields_free(f, n);
    /* a v1 manifest lists its fields without digests */
    free(back.field_digests);
    back.field_digests = NULL;
    assert_int_equal(hs_manifest_fields_list(&back, &f, &n), HS_OK);
    assert_false(f[0].has_digest);
    hs_manifest_fields_free(f, n);
    hs_manifest_release(&back);
    free(t);
    hs_manifest_release(&m);
}

/* Shadows (split.h, order record version 2) are no fields: the list and fdig's count skip them,
 * wherever they stand in the record. */
static void shadows_are_not_fields(void **state)
{
    (void)state;
    struct hs_manifest m;
    make_hybrid(&m);
    free(m.field_order_json);
    m.field_order_json = strdup("[\"sviews\",\"hviews\",\"ctitle\",\"sold\"]");
    m.field_order_version = 2;
    const uint64_t d[2] = {7, 8};
    m.field_digests = hs_manifest_fdig_encode(d, 2);
    char *t = encode(&m, HS_OK);
    struct hs_manifest back;
    assert_int_equal(decode(t, &back), HS_OK);
    assert_int_equal(back.field_order_version, 2);
    struct hs_manifest_field *f = NULL;
    size_t n = 0;
    assert_int_equal(hs_manifest_fields_list(&back, &f, &n), HS_OK);
    assert_int_equal(n, 2);
    assert_string_equal(f[0].name, "views");
    assert_true(f[0].hot);
    assert_true(f[0].digest == 7);
    assert_string_equal(f[1].name, "title");
    assert_false(f[1].hot);
    assert_true(f[1].digest == 8);
    hs_manifest_fields_free(f, n);
    hs_manifest_release(&back);
    free(t);
    /* three digests for two fields: refused */
    const uint64_t d3[3] = {7, 8, 9};
    free(m.field_digests);
    m.field_digests = hs_manifest_fdig_encode(d3, 3);
    free(encode(&m, HS_EINVAL));
    hs_manifest_release(&m);
}

static void fdig_rules_are_enforced(void **state)
{
    (void)state;
    struct hs_manifest m;
    make_hybrid(&m);
    const uint64_t d[3] = {1, 2, 3};
    m.field_digests = hs_manifest_fdig_encode(d, 2); /* 2 digests for 3 fields */
    free(encode(&m, HS_EINVAL));
    free(m.field_digests);
    m.field_digests = strdup("not base64!");
    free(encode(&m, HS_EINVAL));
    hs_manifest_release(&m);

    /* on the wire: a v1 record with fdig, a v2 record with a bad one, an unknown version */
    make_hybrid(&m);
    m.field_digests = hs_manifest_fdig_encode(d, 3);
    char *t = encode(&m, HS_OK);
    json_t *root = json_loads(t, JSON_ALLOW_NUL, NULL);
    struct hs_manifest out;
    json_object_set_new(root, "v", json_integer(1));
    char *v1 = json_dumps(root, JSON_COMPACT);
    assert_int_equal(decode(v1, &out), HS_ECORRUPT);
    json_object_set_new(root, "v", json_integer(3));
    char *v3 = json_dumps(root, JSON_COMPACT);
    assert_int_equal(decode(v3, &out), HS_EPROTO);
    json_object_set_new(root, "v", json_integer(2));
    json_object_set_new(root, "fdig", json_integer(5));
    char *bad = json_dumps(root, JSON_COMPACT);
    assert_int_equal(decode(bad, &out), HS_ECORRUPT);
    json_object_set_new(root, "fdig", json_string("AAAAAAAAAAE"));
    char *few = json_dumps(root, JSON_COMPACT);
    assert_int_equal(decode(few, &out), HS_ECORRUPT);
    /* what a version-1 reader (one that loads only "v": 1) does with a version-2 record */
    json_t *r1 = NULL;
    char why[200] = "";
    assert_int_equal(hs_mj_load(t, strlen(t), 1, &r1, why, sizeof why), HS_EPROTO);
    assert_null(r1);
    free(v1);
    free(v3);
    free(bad);
    free(few);
    json_decref(root);
    free(t);
    hs_manifest_release(&m);

    /* fdig on a replication manifest */
    hs_manifest_init(&m);
    m.key = strdup("a");
    m.strategy = HS_STRATEGY_REPLICATION;
    m.content_type = strdup("x/y");
    m.etag = strdup("e");
    m.version = 1;
    m.txn_id = strdup(TXN);
    hs_part_init_replicated(&m.data, 1, 0);
    m.field_digests = strdup("");
    free(encode(&m, HS_EINVAL));
    hs_manifest_release(&m);
}

static void field_list_unescapes_names_like_the_splitter(void **state)
{
    (void)state;
    struct hs_manifest m;
    make_hybrid(&m);
    free(m.field_order_json);
    m.field_order_json =
        strdup("[ \"hq\\\"x\" , \"ce\\u00e9\",\"cs\\ud83d\\ude00\",\"c\\\\b\\/\\t\"]");
    struct hs_manifest_field *f = NULL;
    size_t n = 0;
    assert_int_equal(hs_manifest_fields_list(&m, &f, &n), HS_OK);
    assert_int_equal(n, 4);
    assert_string_equal(f[0].name, "q\"x");
    assert_true(f[0].hot);
    assert_string_equal(f[1].name, "e\xc3\xa9");
    assert_string_equal(f[2].name, "s\xf0\x9f\x98\x80");
    assert_string_equal(f[3].name, "\\b/\t");
    assert_false(f[0].has_digest);
    hs_manifest_fields_free(f, n);
    const char *bad[] = {"",
                         "[",
                         "[\"x\"]",
                         "[\"hx\",]",
                         "[\"hx\"] x",
                         "[\"h\\ud800\"]",
                         "[\"h\\u12\"]",
                         "{}",
                         "[\"hx\" \"hy\"]",
                         "[1]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        free(m.field_order_json);
        m.field_order_json = strdup(bad[i]);
        assert_int_equal(hs_manifest_fields_list(&m, &f, &n), HS_ECORRUPT);
    }
    free(m.field_order_json);
    m.field_order_json = strdup("[]");
    assert_int_equal(hs_manifest_fields_list(&m, &f, &n), HS_OK);
    assert_int_equal(n, 0);
    hs_manifest_fields_free(f, n);
    hs_manifest_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fdig_text_round_trips_for_every_count),
        cmocka_unit_test(without_fdig_a_manifest_stays_version_1),
        cmocka_unit_test(fdig_makes_version_2_and_round_trips),
        cmocka_unit_test(fdig_rules_are_enforced),
        cmocka_unit_test(shadows_are_not_fields),
        cmocka_unit_test(field_list_unescapes_names_like_the_splitter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
