/* test_gw_txn.c - the pure rules of the gateway's write transaction (src/gateway/txn_plan.h):
 * write quorum per part kind, how a length is cut into segments and what the WAL record names
 * up front, the If-Match rules, what a failed commit means, and which blobs a commit or a
 * delete retires. No etcd, no nodes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/txn_plan.h"

#define TXN_OLD "0123456789abcdef0123456789abcdef"
#define TXN_NEW "fedcba9876543210fedcba9876543210"

static struct hs_part replicated(uint32_t replicas)
{
    struct hs_part p = {0};
    hs_part_init_replicated(&p, replicas, 0);
    return p;
}

static struct hs_part ec(uint32_t k, uint32_t m)
{
    struct hs_part p = {0};
    hs_part_init_ec(&p, k, m, 4096, 0);
    return p;
}

static void quorum_is_a_majority_of_replicas(void **state)
{
    (void)state;
    const uint32_t replicas[] = {1, 2, 3, 4, 5};
    const size_t want[] = {1, 2, 2, 3, 3};
    for (size_t i = 0; i < 5; i++) {
        struct hs_part p = replicated(replicas[i]);
        assert_int_equal(hs_txn_part_width(&p), replicas[i]);
        assert_int_equal(hs_txn_part_quorum(&p), want[i]);
        hs_part_release(&p);
    }
}

static void quorum_of_ec_is_k_plus_one_shards(void **state)
{
    (void)state;
    struct hs_part p = ec(4, 2);
    assert_int_equal(hs_txn_part_width(&p), 6);
    assert_int_equal(hs_txn_part_quorum(&p), 5);
    hs_part_release(&p);
    p = ec(3, 0); /* no parity: every shard is needed */
    assert_int_equal(hs_txn_part_quorum(&p), 3);
    hs_part_release(&p);
    p = ec(10, 4);
    assert_int_equal(hs_txn_part_width(&p), 14);
    assert_int_equal(hs_txn_part_quorum(&p), 11);
    hs_part_release(&p);
}

static void segments_round_up_and_empty_has_none(void **state)
{
    (void)state;
    const int64_t seg = 1 << 20;
    assert_int_equal(hs_txn_segs_for(0, seg), 0);
    assert_int_equal(hs_txn_segs_for(-1, seg), 0);
    assert_int_equal(hs_txn_segs_for(1, seg), 1);
    assert_int_equal(hs_txn_segs_for(seg, seg), 1);
    assert_int_equal(hs_txn_segs_for(seg + 1, seg), 2);
    assert_int_equal(hs_txn_segs_for(10 * seg, seg), 10);
}

static void stream_plan_names_one_data_segment(void **state)
{
    (void)state;
    struct hs_part p = ec(4, 2);
    struct hs_txn_plan plan = {0};
    hs_txn_plan_part(&plan, HS_META_PART_DATA, &p, 1);
    assert_int_equal(plan.width, 6);
    assert_int_equal(plan.segs[HS_META_PART_DATA], 1);
    assert_int_equal(plan.blobs[HS_META_PART_DATA], 6);
    assert_int_equal(plan.segs[HS_META_PART_HOT], 0);
    assert_int_equal(plan.segs[HS_META_PART_COLD], 0);
    hs_part_release(&p);
}

static void hybrid_plan_is_as_wide_as_the_cold_part_even_unnamed(void **state)
{
    (void)state;
    struct hs_part hot = replicated(3), cold = ec(4, 2);
    const int64_t seg = 1 << 20;
    /* a document without cold fields: hot segments named, cold none, but six nodes listed so
     * that a cold part written after a lost race is still on listed nodes */
    struct hs_txn_plan plan = {0};
    hs_txn_plan_part(&plan, HS_META_PART_HOT, &hot, hs_txn_segs_for(700, seg));
    hs_txn_plan_part(&plan, HS_META_PART_COLD, &cold, 0);
    assert_int_equal(plan.width, 6);
    assert_int_equal(plan.segs[HS_META_PART_HOT], 1);
    assert_int_equal(plan.blobs[HS_META_PART_HOT], 3);
    assert_int_equal(plan.segs[HS_META_PART_COLD], 0);
    assert_int_equal(plan.blobs[HS_META_PART_COLD], 0);
    /* with cold fields over two segments */
    hs_txn_plan_part(&plan, HS_META_PART_COLD, &cold, hs_txn_segs_for(seg + 5, seg));
    assert_int_equal(plan.segs[HS_META_PART_COLD], 2);
    assert_int_equal(plan.blobs[HS_META_PART_COLD], 6);
    hs_part_release(&hot);
    hs_part_release(&cold);
}

static void plan_names_at_most_the_live_nodes(void **state)
{
    (void)state;
    struct hs_part p = ec(16, 8);
    struct hs_txn_plan plan = {0};
    hs_txn_plan_part(&plan, HS_META_PART_DATA, &p, 1);
    assert_int_equal(hs_txn_plan_nodes(&plan, 4), 4);
    assert_int_equal(hs_txn_plan_nodes(&plan, 100), HS_TXN_NODES_MAX);
    hs_part_release(&p);
    p = replicated(3);
    struct hs_txn_plan small = {0};
    hs_txn_plan_part(&small, HS_META_PART_DATA, &p, 1);
    assert_int_equal(hs_txn_plan_nodes(&small, 6), 3);
    hs_part_release(&p);
}

static void conditions_follow_if_match_rules(void **state)
{
    (void)state;
    struct hs_manifest cur;
    hs_manifest_init(&cur);
    cur.etag = strdup("abc");
    char msg[128];
    struct hs_txn_conds none = {0}, exists = {.if_match_any = true},
                        absent = {.if_none_match_any = true}, tag = {.if_match = "abc"},
                        other = {.if_match = "xyz"};
    assert_int_equal(hs_txn_conds_check(&none, NULL, msg, sizeof msg), HS_OK);
    assert_int_equal(hs_txn_conds_check(&none, &cur, msg, sizeof msg), HS_OK);
    assert_int_equal(hs_txn_conds_check(&exists, NULL, msg, sizeof msg), HS_EPRECONDITION);
    assert_int_equal(hs_txn_conds_check(&exists, &cur, msg, sizeof msg), HS_OK);
    assert_int_equal(hs_txn_conds_check(&absent, &cur, msg, sizeof msg), HS_EPRECONDITION);
    assert_int_equal(hs_txn_conds_check(&absent, NULL, msg, sizeof msg), HS_OK);
    assert_int_equal(hs_txn_conds_check(&tag, &cur, msg, sizeof msg), HS_OK);
    assert_int_equal(hs_txn_conds_check(&tag, NULL, msg, sizeof msg), HS_EPRECONDITION);
    assert_int_equal(hs_txn_conds_check(&other, &cur, msg, sizeof msg), HS_EPRECONDITION);
    assert_non_null(strstr(msg, "xyz"));
    hs_manifest_release(&cur);
}

static void commit_outcome_tells_race_from_rollback_and_silence(void **state)
{
    (void)state;
    const int64_t ours = 42;
    struct hs_commit_reply silent = {.answered = false};
    struct hs_commit_reply ok = {.answered = true, .succeeded = true};
    struct hs_commit_reply raced = {.answered = true, .wal_read = true, .wal_mod_rev = ours};
    struct hs_commit_reply wal_gone = {.answered = true, .wal_read = false};
    struct hs_commit_reply wal_changed = {.answered = true, .wal_read = true, .wal_mod_rev = 43};
    assert_int_equal(hs_txn_commit_outcome(&silent, ours), HS_COMMIT_AMBIGUOUS);
    assert_int_equal(hs_txn_commit_outcome(&ok, ours), HS_COMMIT_DONE);
    assert_int_equal(hs_txn_commit_outcome(&raced, ours), HS_COMMIT_RETRY);
    assert_int_equal(hs_txn_commit_outcome(&wal_gone, ours), HS_COMMIT_ROLLED_BACK);
    assert_int_equal(hs_txn_commit_outcome(&wal_changed, ours), HS_COMMIT_ROLLED_BACK);
}

/* A replicated data part of one segment whose blob i is on nodes[i]. */
static void one_segment(struct hs_manifest *m, const char *txn, const char *const nodes[], size_t n)
{
    hs_part_init_replicated(&m->data, (uint32_t)n, 1);
    for (size_t i = 0; i < n; i++) {
        char id[HS_META_BLOB_ID_BUF];
        assert_int_equal(hs_meta_blob_id_make(txn, HS_META_PART_DATA, 0, (uint32_t)i, id), HS_OK);
        hs_meta_blob_ref_set(&m->data.segments[0].blobs[i], id, nodes[i], 10, 0);
    }
}

static void retire_set_is_old_minus_new_without_unplaced(void **state)
{
    (void)state;
    struct hs_manifest old, now;
    hs_manifest_init(&old);
    hs_manifest_init(&now);
    const char *old_nodes[] = {"node-a", "node-b", HS_META_NODE_UNPLACED_PREFIX "2"};
    const char *new_nodes[] = {"node-a", "node-b", "node-c"};
    one_segment(&old, TXN_OLD, old_nodes, 3);
    one_segment(&now, TXN_NEW, new_nodes, 3);
    struct hs_meta_blob_loc *gone = NULL;
    size_t n = 0;
    hs_txn_retire_set(&old, &now, &gone, &n);
    assert_int_equal(n, 2); /* the pseudo node's blob was never stored */
    assert_string_equal(gone[0].blob_id, TXN_OLD ".0.0.0");
    assert_string_equal(gone[0].node_id, "node-a");
    assert_string_equal(gone[1].node_id, "node-b");
    free(gone);
    /* a version that keeps every blob (a reused part) retires nothing */
    hs_txn_retire_set(&old, &old, &gone, &n);
    assert_int_equal(n, 0);
    assert_null(gone);
    /* a delete retires every stored blob */
    hs_txn_retire_set(&now, NULL, &gone, &n);
    assert_int_equal(n, 3);
    free(gone);
    hs_manifest_release(&old);
    hs_manifest_release(&now);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quorum_is_a_majority_of_replicas),
        cmocka_unit_test(quorum_of_ec_is_k_plus_one_shards),
        cmocka_unit_test(segments_round_up_and_empty_has_none),
        cmocka_unit_test(stream_plan_names_one_data_segment),
        cmocka_unit_test(hybrid_plan_is_as_wide_as_the_cold_part_even_unnamed),
        cmocka_unit_test(plan_names_at_most_the_live_nodes),
        cmocka_unit_test(conditions_follow_if_match_rules),
        cmocka_unit_test(commit_outcome_tells_race_from_rollback_and_silence),
        cmocka_unit_test(retire_set_is_old_minus_new_without_unplaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
