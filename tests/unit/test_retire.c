/* test_retire.c - retire records (include/hs/manifest.h): round trip, compact grouping by txn id,
 * every rule checked on decode, truncation never accepted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs/manifest.h"

#define TXN_A "0123456789abcdef0123456789abcdef"
#define TXN_B "00000000000000000000000000000001"

static void make(struct hs_retire_record *r, size_t segs)
{
    hs_retire_record_init(r);
    r->key = strdup("users/42");
    r->retired_ms = 1795000000000;
    for (size_t seg = 0; seg < segs; seg++) {
        for (uint32_t i = 0; i < 6; i++) {
            char id[HS_META_BLOB_ID_BUF], node[16];
            assert_int_equal(hs_meta_blob_id_make(TXN_A, HS_META_PART_COLD, (uint32_t)seg, i, id),
                             HS_OK);
            snprintf(node, sizeof node, "node-%u", i);
            struct hs_meta_blob_loc loc = {id, node};
            hs_retire_record_add(r, &loc, 1);
        }
    }
    struct hs_meta_blob_loc more[] = {{TXN_B ".1.0.0", "node-9"}, {"f00d", "node-1"}};
    hs_retire_record_add(r, more, 2);
}

static void round_trip_groups_ids_by_txn(void **state)
{
    (void)state;
    struct hs_retire_record r, d;
    make(&r, 1);
    char *t1, *t2, why[200] = "";
    size_t l1, l2;
    assert_int_equal(hs_retire_record_encode(&r, &t1, &l1, why, sizeof why), HS_OK);
    assert_non_null(strstr(t1,
                           "{\"v\":1,\"key\":\"users/42\",\"ms\":1795000000000,\"sets\":[{\"txn\":"
                           "\"" TXN_A "\",\"blobs\":[[\"2.0.0\",\"node-0\"],"));
    assert_non_null(strstr(t1, "{\"txn\":\"\",\"blobs\":[[\"f00d\",\"node-1\"]]}"));
    assert_int_equal(hs_retire_record_decode(t1, l1, &d, why, sizeof why), HS_OK);
    assert_int_equal(d.n_blobs, 8);
    assert_string_equal(d.blobs[5].blob_id, TXN_A ".2.0.5");
    assert_string_equal(d.blobs[6].blob_id, TXN_B ".1.0.0");
    assert_string_equal(d.blobs[7].blob_id, "f00d");
    assert_int_equal(hs_retire_record_encode(&d, &t2, &l2, NULL, 0), HS_OK);
    assert_string_equal(t1, t2);
    for (size_t cut = 0; cut < l1; cut++) {
        struct hs_retire_record x;
        assert_int_equal(hs_retire_record_decode(t1, cut, &x, NULL, 0), HS_ECORRUPT);
    }
    free(t1);
    free(t2);
    hs_retire_record_release(&d);
    hs_retire_record_release(&r);
}

static void a_large_object_stays_compact(void **state)
{
    (void)state;
    struct hs_retire_record r;
    make(&r, 1500); /* 9 000 blobs: 12 GB of RS(4,2) in 8 MiB segments */
    char *t;
    size_t l;
    assert_int_equal(hs_retire_record_encode(&r, &t, &l, NULL, 0), HS_OK);
    assert_true(l < 30 * r.n_blobs);
    free(t);
    hs_retire_record_release(&r);
}

static void rules_are_checked(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum hs_err want;
        const char *why;
    } cases[] = {
        {"{\"v\":2,\"key\":\"k\",\"ms\":1,\"sets\":[]}", HS_EPROTO, "version"},
        {"{\"v\":1,\"key\":\"\",\"ms\":1,\"sets\":[]}", HS_ECORRUPT, "key"},
        {"{\"v\":1,\"key\":\"k\",\"ms\":-1,\"sets\":[]}", HS_ECORRUPT, "ms"},
        {"{\"v\":1,\"key\":\"k\",\"ms\":1}", HS_ECORRUPT, "sets"},
        {"{\"v\":1,\"key\":\"k\",\"ms\":1,\"sets\":[{\"txn\":\"xyz\",\"blobs\":[]}]}", HS_ECORRUPT,
         "txn"},
        {"{\"v\":1,\"key\":\"k\",\"ms\":1,\"sets\":[{\"txn\":\"\",\"blobs\":[[\"A\",\"n\"]]}]}",
         HS_ECORRUPT, "blob id"},
        {"{\"v\":1,\"key\":\"k\",\"ms\":1,\"sets\":[{\"txn\":\"\",\"blobs\":[[\"a\"]]}]}",
         HS_ECORRUPT, "[id, node]"},
        {"{\"v\":1,\"key\":\"k\",\"ms\":1,\"sets\":[{\"txn\":\"\",\"blobs\":[[\"a\",\"-n\"]]}]}",
         HS_ECORRUPT, "node id"},
        {"{\"v\":1,\"key\":\"k\",\"ms\":1,\"sets\":[{\"txn\":\"\",\"blobs\":[[\"a\",\"n\"],[\"a\","
         "\"n\"]]}]}",
         HS_ECORRUPT, "listed twice"},
        {"{\"v\":1,\"key\":\"k\",\"ms\":1,\"sets\":[],\"x\":1}", HS_ECORRUPT, "unknown field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hs_retire_record r;
        char why[200] = "";
        enum hs_err err =
            hs_retire_record_decode(cases[i].text, strlen(cases[i].text), &r, why, sizeof why);
        if (err != cases[i].want || !strstr(why, cases[i].why))
            fail_msg("case %zu: got %s '%s', want %s '%s'", i, hs_err_name(err), why,
                     hs_err_name(cases[i].want), cases[i].why);
    }
    char *k = NULL;
    assert_int_equal(hs_meta_key_retire(TXN_A, &k), HS_OK);
    assert_string_equal(k, "/hybridstore/v1/retire/" TXN_A);
    free(k);
    assert_int_equal(hs_meta_key_retire("nope", &k), HS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_groups_ids_by_txn),
        cmocka_unit_test(a_large_object_stays_compact),
        cmocka_unit_test(rules_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
