/* test_retire_plan.c - the retire sweeper's plan (src/healer/retire_int.h): what the current
 * manifest references is kept, the rest is grouped per node into batches of at most batch_max,
 * every deletable pair is planned exactly once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "healer/retire_int.h"

#define TXN_OLD "0123456789abcdef0123456789abcdef"
#define TXN_NEW "0123456789abcdef0123456789abcd00"

/* One record alone (current: NULL or its key's manifest). */
static void plan_one(const struct hs_retire_record *r, const struct hs_manifest *current,
                     size_t batch_max, struct hs_retire_plan *p)
{
    struct hs_retire_input in = {.r = r, .current = current};
    hs_retire_plan_make(&in, 1, batch_max, p);
}

/* A record of segs segments x 6 blobs of TXN_OLD, blob i of each segment on node-i. */
static void make_record_of(struct hs_retire_record *r, const char *txn, uint32_t segs)
{
    hs_retire_record_init(r);
    r->key = strdup("users/42");
    r->retired_ms = 1795000000000;
    for (uint32_t seg = 0; seg < segs; seg++) {
        for (uint32_t i = 0; i < 6; i++) {
            char id[HS_META_BLOB_ID_BUF], node[16];
            assert_int_equal(hs_meta_blob_id_make(txn, HS_META_PART_DATA, seg, i, id), HS_OK);
            snprintf(node, sizeof node, "node-%u", i);
            struct hs_meta_blob_loc loc = {id, node};
            hs_retire_record_add(r, &loc, 1);
        }
    }
}

static void make_record(struct hs_retire_record *r, uint32_t segs)
{
    make_record_of(r, TXN_OLD, segs);
}

/* A replicated manifest of one segment whose 3 blobs are the given (id, node) pairs. */
static void make_manifest(struct hs_manifest *m, const struct hs_meta_blob_loc refs[3])
{
    hs_manifest_init(m);
    m->key = strdup("users/42");
    m->strategy = HS_STRATEGY_REPLICATION;
    hs_part_init_replicated(&m->data, 3, 1);
    for (size_t j = 0; j < 3; j++)
        hs_meta_blob_ref_set(&m->data.segments[0].blobs[j], refs[j].blob_id, refs[j].node_id, 1, 0);
}

static void check_batches(const struct hs_retire_plan *p, size_t batch_max)
{
    size_t sum = 0;
    for (size_t b = 0; b < p->n_batches; b++) {
        assert_true(p->batches[b].n >= 1 && p->batches[b].n <= batch_max);
        if (b > 0) /* nodes in order, each node's batches together */
            assert_true(strcmp(p->batches[b - 1].node_id, p->batches[b].node_id) <= 0);
        sum += p->batches[b].n;
    }
    assert_int_equal(sum, p->n_delete);
}

static void without_a_manifest_every_blob_goes_in_batches_per_node(void **state)
{
    (void)state;
    struct hs_retire_record r;
    make_record(&r, 5); /* 30 blobs, 5 on each of 6 nodes */
    struct hs_retire_plan p;
    plan_one(&r, NULL, 2, &p);
    assert_int_equal(p.kept, 0);
    assert_int_equal(p.n_delete, 30);
    assert_int_equal(p.n_batches, 6 * 3); /* 2 + 2 + 1 per node */
    check_batches(&p, 2);
    assert_string_equal(p.batches[0].node_id, "node-0");
    assert_string_equal(p.batches[0].ids[0], TXN_OLD ".0.0.0");
    assert_string_equal(p.batches[0].ids[1], TXN_OLD ".0.1.0");
    assert_int_equal(p.batches[2].n, 1);
    assert_string_equal(p.batches[17].node_id, "node-5");
    hs_retire_plan_release(&p);
    plan_one(&r, NULL, 4096, &p); /* one request per node */
    assert_int_equal(p.n_batches, 6);
    check_batches(&p, 4096);
    hs_retire_plan_release(&p);
    hs_retire_record_release(&r);
}

static void blobs_the_current_manifest_references_on_that_node_are_kept(void **state)
{
    (void)state;
    struct hs_retire_record r;
    make_record(&r, 1);
    /* the current version reuses blob 0 on node-0 and blob 1 (but on another node) */
    struct hs_meta_blob_loc refs[3] = {
        {TXN_OLD ".0.0.0", "node-0"}, {TXN_OLD ".0.0.1", "node-7"}, {TXN_NEW ".0.0.0", "node-2"}};
    struct hs_manifest m;
    make_manifest(&m, refs);
    struct hs_retire_plan p;
    plan_one(&r, &m, 256, &p);
    assert_int_equal(p.kept, 1);
    assert_int_equal(p.n_delete, 5);
    check_batches(&p, 256);
    for (size_t i = 0; i < p.n_delete; i++)
        assert_string_not_equal(p.ids[i], TXN_OLD ".0.0.0");
    assert_string_equal(p.batches[0].node_id, "node-1"); /* node-0's only blob is kept */
    assert_string_equal(p.batches[0].ids[0], TXN_OLD ".0.0.1");
    hs_retire_plan_release(&p);
    hs_manifest_release(&m);
    hs_retire_record_release(&r);
}

static void a_pair_named_twice_is_planned_once_and_empty_records_plan_nothing(void **state)
{
    (void)state;
    struct hs_retire_record r;
    make_record(&r, 1);
    struct hs_meta_blob_loc again = {TXN_OLD ".0.0.3", "node-3"};
    hs_retire_record_add(&r, &again, 1);
    struct hs_retire_plan p;
    plan_one(&r, NULL, 1, &p);
    assert_int_equal(p.n_delete, 6);
    assert_int_equal(p.n_batches, 6);
    check_batches(&p, 1);
    hs_retire_plan_release(&p);
    hs_retire_record_release(&r);
    hs_retire_record_init(&r);
    plan_one(&r, NULL, 8, &p);
    assert_int_equal(p.n_delete, 0);
    assert_int_equal(p.n_batches, 0);
    hs_retire_plan_release(&p);
    hs_retire_plan_release(NULL);
}

static void records_of_one_group_share_the_requests_to_each_node(void **state)
{
    (void)state;
    struct hs_retire_record a, b;
    make_record_of(&a, TXN_OLD, 1);
    make_record_of(&b, TXN_NEW, 1);
    struct hs_meta_blob_loc refs[3] = {
        {TXN_NEW ".0.0.0", "node-0"}, {TXN_NEW ".0.0.1", "node-1"}, {TXN_NEW ".0.0.2", "node-2"}};
    struct hs_manifest m; /* b's key still references 3 of its blobs */
    make_manifest(&m, refs);
    struct hs_retire_input in[2] = {{.r = &a, .current = NULL}, {.r = &b, .current = &m}};
    struct hs_retire_plan p;
    hs_retire_plan_make(in, 2, 256, &p);
    assert_int_equal(p.kept, 3);
    assert_int_equal(p.n_delete, 9);
    assert_int_equal(p.n_batches, 6); /* one request per node for both records */
    check_batches(&p, 256);
    assert_int_equal(p.batches[3].n, 2); /* node-3: a's and b's blob */
    assert_string_equal(p.batches[3].ids[0], TXN_NEW ".0.0.3");
    assert_int_equal(p.batches[3].recs[0], 1);
    assert_string_equal(p.batches[3].ids[1], TXN_OLD ".0.0.3");
    assert_int_equal(p.batches[3].recs[1], 0);
    assert_int_equal(p.batches[0].n, 1); /* node-0: only a's, b's is referenced */
    assert_int_equal(p.batches[0].recs[0], 0);
    hs_retire_plan_release(&p);
    hs_manifest_release(&m);
    hs_retire_record_release(&a);
    hs_retire_record_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(without_a_manifest_every_blob_goes_in_batches_per_node),
        cmocka_unit_test(blobs_the_current_manifest_references_on_that_node_are_kept),
        cmocka_unit_test(a_pair_named_twice_is_planned_once_and_empty_records_plan_nothing),
        cmocka_unit_test(records_of_one_group_share_the_requests_to_each_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
