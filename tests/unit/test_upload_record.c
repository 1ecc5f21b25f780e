/* test_upload_record.c - multipart upload and part records (upload.h): ids are unguessable and
 * well formed, keys sort by object key then id ("a" before "a/b") and parse back, round trips of
 * both records (a packed part too), every rule refused on encode and on decode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/upload.h"

static const char *const TXN = "0123456789abcdef0123456789abcdef";

static void test_ids_and_keys(void **state)
{
    (void)state;
    char a[HS_UPLOAD_ID_BUF], b[HS_UPLOAD_ID_BUF];
    assert_int_equal(hs_upload_id_new(a), HS_OK);
    assert_int_equal(hs_upload_id_new(b), HS_OK);
    assert_true(hs_upload_id_valid(a));
    assert_int_equal(strlen(a), HS_UPLOAD_ID_CHARS);
    assert_string_not_equal(a, b);
    assert_false(hs_upload_id_valid("0123"));
    assert_false(hs_upload_id_valid(TXN));

    char *k1 = NULL, *k2 = NULL, *key = NULL;
    assert_int_equal(hs_meta_key_upload("bkt/a", a, &k1), HS_OK);
    assert_int_equal(hs_meta_key_upload("bkt/a/b", a, &k2), HS_OK);
    assert_true(strcmp(k1, k2) < 0); /* S3 lists "a" before "a/b" */
    char id[HS_UPLOAD_ID_BUF];
    assert_int_equal(hs_meta_key_upload_parse(k2, &key, id), HS_OK);
    assert_string_equal(key, "bkt/a/b");
    assert_string_equal(id, a);
    free(key);
    assert_int_equal(hs_meta_key_upload_parse(HS_META_PREFIX_UPLOAD "x", &key, id), HS_EINVAL);
    assert_int_equal(hs_meta_key_upload("bad\x01key", a, &key), HS_EINVAL);
    free(k1);
    free(k2);

    char *p = NULL, *prefix = NULL;
    uint32_t n = 0;
    assert_int_equal(hs_meta_key_upart(a, 42, &p), HS_OK);
    assert_int_equal(hs_meta_key_upart_prefix(a, &prefix), HS_OK);
    assert_int_equal(strncmp(p, prefix, strlen(prefix)), 0);
    assert_string_equal(p + strlen(prefix), "00042");
    assert_int_equal(hs_meta_key_upart_parse(p, id, &n), HS_OK);
    assert_int_equal(n, 42);
    assert_string_equal(id, a);
    free(p);
    assert_int_equal(hs_meta_key_upart(a, 0, &p), HS_EINVAL);
    assert_int_equal(hs_meta_key_upart(a, HS_UPLOAD_PARTS_MAX + 1, &p), HS_EINVAL);
    assert_int_equal(hs_meta_key_upart(a, HS_UPLOAD_PARTS_MAX, &p), HS_OK);
    assert_string_equal(p + strlen(prefix), "10000");
    free(p);
    free(prefix);
}

static void fill_upload(struct hs_upload_record *r)
{
    hs_upload_record_init(r);
    assert_int_equal(hs_upload_id_new(r->id), HS_OK);
    r->key = strdup("bkt/dir/obj");
    r->bucket = strdup("bkt");
    r->s3key = strdup("dir/obj");
    r->state = HS_UPLOAD_OPEN;
    r->strategy = HS_STRATEGY_EC;
    r->content_type = strdup("text/plain");
    r->attrs_json = strdup("{\"meta\":{\"a\":\"b\"}}");
    strcpy(r->ck_alg, "CRC32");
    r->created_ms = 1795000000000;
    r->state_ms = 1795000000000;
}

static void test_upload_round_trip_and_rules(void **state)
{
    (void)state;
    struct hs_upload_record r, back;
    fill_upload(&r);
    char *text = NULL;
    size_t len = 0;
    char why[160] = "";
    assert_int_equal(hs_upload_record_encode(&r, &text, &len, why, sizeof why), HS_OK);
    assert_int_equal(hs_upload_record_decode(text, len, &back, why, sizeof why), HS_OK);
    assert_string_equal(back.id, r.id);
    assert_string_equal(back.key, r.key);
    assert_string_equal(back.s3key, r.s3key);
    assert_int_equal(back.state, HS_UPLOAD_OPEN);
    assert_int_equal(back.strategy, HS_STRATEGY_EC);
    assert_string_equal(back.attrs_json, r.attrs_json);
    assert_string_equal(back.ck_alg, "CRC32");
    hs_upload_record_release(&back);
    free(text);

    /* COMPLETED needs the txn, and only COMPLETED has one */
    r.state = HS_UPLOAD_COMPLETED;
    assert_int_equal(hs_upload_record_validate(&r, why, sizeof why), HS_EINVAL);
    strcpy(r.txn_id, TXN);
    assert_int_equal(hs_upload_record_validate(&r, why, sizeof why), HS_OK);
    r.state = HS_UPLOAD_ABORTED;
    assert_int_equal(hs_upload_record_validate(&r, why, sizeof why), HS_EINVAL);
    r.txn_id[0] = '\0';
    strcpy(r.ck_alg, "MD5");
    assert_int_equal(hs_upload_record_validate(&r, why, sizeof why), HS_EINVAL);
    strcpy(r.ck_alg, "");
    r.strategy = HS_STRATEGY_FIELD_HYBRID;
    assert_int_equal(hs_upload_record_validate(&r, why, sizeof why), HS_EINVAL);
    r.strategy = HS_STRATEGY_REPLICATION;
    r.state_ms = r.created_ms - 1;
    assert_int_equal(hs_upload_record_validate(&r, why, sizeof why), HS_EINVAL);
    r.state_ms = r.created_ms;
    assert_int_equal(hs_upload_record_validate(&r, why, sizeof why), HS_OK);
    hs_upload_record_release(&r);

    static const char *const bad[] = {
        "{\"v\":1}",
        "{\"v\":1,\"id\":\"x\",\"key\":\"k\",\"bucket\":\"b\",\"s3key\":\"k\",\"state\":\"OPEN\","
        "\"strategy\":\"ec\",\"ctype\":\"a\",\"ms\":1,\"state_ms\":1}",
        "[1]",
        "not json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hs_upload_record_decode(bad[i], strlen(bad[i]), &back, NULL, 0),
                         HS_ECORRUPT);
    assert_int_equal(hs_upload_record_decode("{\"v\":2}", 7, &back, NULL, 0), HS_EPROTO);
}

static void test_attrs_round_trip(void **state)
{
    (void)state;
    struct hs_upload_record r, back;
    fill_upload(&r);
    struct hs_manifest_attrs a = {.cache_control = "max-age=60"};
    assert_int_equal(hs_manifest_attrs_meta_add(&a, "color", "blue", NULL, 0), HS_OK);
    assert_int_equal(hs_upload_attrs_set(&r, &a), HS_OK);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(hs_upload_record_encode(&r, &text, &len, NULL, 0), HS_OK);
    assert_int_equal(hs_upload_record_decode(text, len, &back, NULL, 0), HS_OK);
    struct hs_manifest_attrs *got = NULL;
    assert_int_equal(hs_upload_attrs_get(&back, &got), HS_OK);
    assert_non_null(got);
    assert_string_equal(got->cache_control, "max-age=60");
    assert_string_equal(hs_manifest_attrs_meta_get(got, "color"), "blue");
    hs_manifest_attrs_free(got);
    /* none: no member */
    assert_int_equal(hs_upload_attrs_set(&back, NULL), HS_OK);
    assert_null(back.attrs_json);
    assert_int_equal(hs_upload_attrs_get(&back, &got), HS_OK);
    assert_null(got);
    /* a stored member that is not valid attributes */
    back.attrs_json = strdup("{\"nope\":1}");
    assert_int_equal(hs_upload_attrs_get(&back, &got), HS_ECORRUPT);
    hs_upload_record_release(&back);
    free(text);
    free(a.meta[0].name);
    free(a.meta[0].value);
    free(a.meta);
    hs_upload_record_release(&r);
}

static void fill_part(struct hs_upart_record *p, bool packed)
{
    hs_upart_record_init(p);
    p->number = 7;
    p->size_bytes = 30;
    strcpy(p->md5_hex, "0123456789abcdef0123456789abcdef");
    strcpy(p->checksum, "AAAAAA==");
    p->written_ms = 1795000000001;
    strcpy(p->txn_id, TXN);
    hs_part_init_replicated(&p->data, 3, 2);
    p->data.len_bytes = 30;
    p->data.packed = packed;
    for (size_t s = 0; s < 2; s++) {
        struct hs_segment *seg = &p->data.segments[s];
        seg->len_bytes = 15;
        seg->crc32c = 0x1234u + (uint32_t)s;
        for (size_t i = 0; i < 3; i++) {
            char id[HS_META_BLOB_ID_BUF], node[16];
            hs_meta_blob_id_make(TXN, HS_META_PART_DATA, (uint32_t)s, (uint32_t)i, id);
            snprintf(node, sizeof node, "n%zu", i + s);
            hs_meta_blob_ref_set(&seg->blobs[i], id, node, 15, seg->crc32c);
        }
    }
    hs_part_fix_offsets(&p->data);
}

static void test_part_round_trip_and_rules(void **state)
{
    (void)state;
    for (int packed = 0; packed < 2; packed++) {
        struct hs_upart_record p, back;
        fill_part(&p, packed);
        char *text = NULL;
        size_t len = 0;
        char why[160] = "";
        assert_int_equal(hs_upart_record_encode(&p, &text, &len, why, sizeof why), HS_OK);
        assert_int_equal(hs_upart_record_decode(text, len, &back, why, sizeof why), HS_OK);
        assert_int_equal(back.number, 7);
        assert_int_equal(back.size_bytes, 30);
        assert_string_equal(back.md5_hex, p.md5_hex);
        assert_string_equal(back.checksum, "AAAAAA==");
        assert_int_equal(back.data.n_segments, 2);
        assert_int_equal(back.data.packed, packed);
        assert_int_equal(back.data.segments[1].offset_bytes, 15);
        struct hs_meta_blob_loc *locs = NULL;
        size_t n = 0;
        hs_part_blob_locs(&back.data, &locs, &n);
        assert_int_equal(n, 6);
        assert_string_equal(locs[5].blob_id, p.data.segments[1].blobs[2].blob_id);
        assert_string_equal(locs[5].node_id, "n3");
        free(locs);
        hs_upart_record_release(&back);
        free(text);

        /* a degraded part says so ("dgr"), and only true is written */
        p.degraded = true;
        assert_int_equal(hs_upart_record_encode(&p, &text, &len, why, sizeof why), HS_OK);
        assert_non_null(strstr(text, "\"dgr\":true"));
        assert_int_equal(hs_upart_record_decode(text, len, &back, why, sizeof why), HS_OK);
        assert_true(back.degraded);
        hs_upart_record_release(&back);
        char *bad = strstr(text, "\"dgr\":true");
        memcpy(bad, "\"dgr\":1   ", 10);
        assert_int_equal(hs_upart_record_decode(text, len, &back, NULL, 0), HS_ECORRUPT);
        free(text);
        p.degraded = false;

        p.number = 0;
        assert_int_equal(hs_upart_record_validate(&p, why, sizeof why), HS_EINVAL);
        p.number = 10001;
        assert_int_equal(hs_upart_record_validate(&p, why, sizeof why), HS_EINVAL);
        p.number = 1;
        p.size_bytes = 31;
        assert_int_equal(hs_upart_record_validate(&p, why, sizeof why), HS_EINVAL);
        p.size_bytes = 30;
        strcpy(p.md5_hex, "0123456789ABCDEF0123456789ABCDEF");
        assert_int_equal(hs_upart_record_validate(&p, why, sizeof why), HS_EINVAL);
        strcpy(p.md5_hex, "0123456789abcdef0123456789abcdef");
        strcpy(p.checksum, "not base64!");
        assert_int_equal(hs_upart_record_validate(&p, why, sizeof why), HS_EINVAL);
        p.checksum[0] = '\0';
        assert_int_equal(hs_upart_record_validate(&p, why, sizeof why), HS_OK);
        p.data.segments[0].blobs[1].len_bytes = 14;
        assert_int_equal(hs_upart_record_validate(&p, why, sizeof why), HS_EINVAL);
        hs_upart_record_release(&p);
    }
}

/* Retiring the 60 000 blobs of a 10 000-part RS 4+2 object: records of at most
 * HS_RETIRE_BLOBS_MAX blobs, each under the encoded limit, that name every blob once. */
static void test_retire_records_split(void **state)
{
    (void)state;
    size_t n = 60000;
    struct hs_meta_blob_loc *locs = calloc(n, sizeof *locs);
    char(*ids)[HS_META_BLOB_ID_BUF] = calloc(n, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        char txn[HS_TXN_ID_BUF];
        snprintf(txn, sizeof txn, "%012zx%020zx", (size_t)0x18c0000000 + i / 6, i / 6);
        hs_meta_blob_id_make(txn, HS_META_PART_DATA, 0, (uint32_t)(i % 6), ids[i]);
        locs[i] = (struct hs_meta_blob_loc){ids[i], i % 2 ? "node-a" : "node-b"};
    }
    char **texts = NULL;
    size_t *lens = NULL, k = 0;
    hs_retire_records_split("bkt/big", 1795000000000, locs, n, &texts, &lens, &k);
    assert_int_equal(k, (n + HS_RETIRE_BLOBS_MAX - 1) / HS_RETIRE_BLOBS_MAX);
    size_t total = 0;
    for (size_t i = 0; i < k; i++) {
        assert_true(lens[i] < HS_MANIFEST_ENCODED_MAX);
        struct hs_retire_record r;
        assert_int_equal(hs_retire_record_decode(texts[i], lens[i], &r, NULL, 0), HS_OK);
        assert_string_equal(r.key, "bkt/big");
        assert_string_equal(r.blobs[0].blob_id, ids[total]);
        total += r.n_blobs;
        hs_retire_record_release(&r);
    }
    assert_int_equal(total, n);
    hs_retire_records_free(texts, lens, k);
    hs_retire_records_split("bkt/big", 0, locs, 0, &texts, &lens, &k);
    assert_int_equal(k, 0);
    hs_retire_records_free(texts, lens, k);
    free(ids);
    free(locs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_and_keys),
        cmocka_unit_test(test_upload_round_trip_and_rules),
        cmocka_unit_test(test_part_round_trip_and_rules),
        cmocka_unit_test(test_attrs_round_trip),
        cmocka_unit_test(test_retire_records_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
