/* test_healer_rules.c - the healer's pure decisions (src/healer/rules.h), without etcd or
 * nodes: how redundant an object is (full, degraded, lost) from which blobs are healthy, the
 * repair order (least spare redundancy first, ties by key), when a WAL record is stalled
 * (aborted at once, no progress for wal_timeout, owner gone and quiet for the owner grace) and
 * when a listed blob is an orphan GC may delete. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "healer/rules.h"

/* ---- redundancy ---- */

/* ok() answers from a string of '1'/'0', one per blob in walk order, and counts the calls. */
struct answers {
    const char *pattern;
    size_t calls;
};

static bool answer(void *ctx, const struct hs_meta_blob_ref *b)
{
    (void)b;
    struct answers *a = ctx;
    assert_true(a->pattern[a->calls] != '\0'); /* never more calls than blobs */
    return a->pattern[a->calls++] == '1';
}

static void judge(const struct hs_manifest *m, const char *pattern,
                  struct hs_healer_redundancy *out)
{
    struct answers a = {.pattern = pattern};
    hs_healer_redundancy_of(m, answer, &a, out);
    assert_int_equal(a.calls, strlen(pattern)); /* one call per blob */
}

static void replicated(struct hs_manifest *m, uint32_t replicas, size_t segments)
{
    hs_manifest_init(m);
    m->key = strdup("k");
    m->strategy = HS_STRATEGY_REPLICATION;
    hs_part_init_replicated(&m->data, replicas, segments);
}

static void coded(struct hs_manifest *m, uint32_t k, uint32_t parity, size_t segments)
{
    hs_manifest_init(m);
    m->key = strdup("k");
    m->strategy = HS_STRATEGY_EC;
    hs_part_init_ec(&m->data, k, parity, 4096, segments);
}

static void replicas_present_give_spare_and_health(void **state)
{
    (void)state;
    struct hs_manifest m;
    replicated(&m, 3, 1);
    struct hs_healer_redundancy r;
    judge(&m, "111", &r);
    assert_int_equal(r.spare, 2);
    assert_int_equal(r.blobs, 3);
    assert_int_equal(r.healthy, 3);
    assert_int_equal(r.health, HS_HEALER_FULL);
    judge(&m, "101", &r);
    assert_int_equal(r.spare, 1);
    assert_int_equal(r.healthy, 2);
    assert_int_equal(r.health, HS_HEALER_DEGRADED);
    judge(&m, "001", &r); /* one replica left: readable, one more loss loses it */
    assert_int_equal(r.spare, 0);
    assert_int_equal(r.health, HS_HEALER_DEGRADED);
    judge(&m, "000", &r);
    assert_int_equal(r.spare, -1);
    assert_int_equal(r.healthy, 0);
    assert_int_equal(r.health, HS_HEALER_LOST);
    hs_manifest_release(&m);
}

static void shards_present_against_k(void **state)
{
    (void)state;
    struct hs_manifest m;
    coded(&m, 4, 2, 1);
    assert_int_equal(hs_healer_needed(&m.data), 4);
    struct hs_healer_redundancy r;
    judge(&m, "111111", &r);
    assert_int_equal(r.spare, 2);
    assert_int_equal(r.health, HS_HEALER_FULL);
    judge(&m, "011110", &r); /* a data and a parity shard missing: exactly k left */
    assert_int_equal(r.spare, 0);
    assert_int_equal(r.health, HS_HEALER_DEGRADED);
    judge(&m, "010110", &r); /* k - 1 shards: cannot be decoded now */
    assert_int_equal(r.spare, -1);
    assert_int_equal(r.healthy, 3);
    assert_int_equal(r.health, HS_HEALER_LOST);
    hs_manifest_release(&m);
}

static void worst_segment_decides(void **state)
{
    (void)state;
    struct hs_manifest m;
    coded(&m, 4, 2, 3);
    struct hs_healer_redundancy r;
    judge(&m,
          "111111"
          "111110"
          "111111",
          &r);
    assert_int_equal(r.spare, 1);
    assert_int_equal(r.blobs, 18);
    assert_int_equal(r.healthy, 17);
    assert_int_equal(r.health, HS_HEALER_DEGRADED);
    /* one unreadable segment makes the object lost, however healthy the others are */
    judge(&m,
          "111111"
          "111111"
          "100100",
          &r);
    assert_int_equal(r.spare, -2);
    assert_int_equal(r.health, HS_HEALER_LOST);
    hs_manifest_release(&m);
}

static void hot_and_cold_parts_count_with_their_own_needs(void **state)
{
    (void)state;
    struct hs_manifest m;
    hs_manifest_init(&m);
    m.key = strdup("k");
    m.strategy = HS_STRATEGY_FIELD_HYBRID;
    hs_part_init_replicated(&m.hot, 3, 1);
    m.has_cold = true;
    hs_part_init_ec(&m.cold, 4, 2, 4096, 1);
    struct hs_part *parts[HS_HEALER_MAX_PARTS];
    assert_int_equal(hs_healer_parts(&m, parts), 2);
    assert_ptr_equal(parts[0], &m.hot);
    assert_ptr_equal(parts[1], &m.cold);
    struct hs_healer_redundancy r;
    /* hot: one replica of 3 (spare 0); cold: 5 of 6 (spare 1) */
    judge(&m,
          "100"
          "111110",
          &r);
    assert_int_equal(r.spare, 0);
    assert_int_equal(r.blobs, 9);
    assert_int_equal(r.health, HS_HEALER_DEGRADED);
    /* a cold part that is not there is not walked */
    m.has_cold = false;
    judge(&m, "111", &r);
    assert_int_equal(r.spare, 2);
    assert_int_equal(r.health, HS_HEALER_FULL);
    m.has_cold = true;
    hs_manifest_release(&m);
}

static void object_without_segments_is_full(void **state)
{
    (void)state;
    struct hs_manifest m;
    replicated(&m, 3, 0);
    struct hs_healer_redundancy r;
    judge(&m, "", &r);
    assert_int_equal(r.spare, INT_MAX);
    assert_int_equal(r.blobs, 0);
    assert_int_equal(r.health, HS_HEALER_FULL);
    assert_string_equal(hs_healer_health_name(r.health), "full");
    assert_string_equal(hs_healer_health_name(HS_HEALER_DEGRADED), "degraded");
    assert_string_equal(hs_healer_health_name(HS_HEALER_LOST), "lost");
    hs_manifest_release(&m);
}

/* ---- repair order ---- */

struct cand {
    int spare;
    const char *key;
};

static int by_order(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return hs_healer_repair_order(x->spare, x->key, y->spare, y->key);
}

static void least_redundancy_is_repaired_first_ties_by_key(void **state)
{
    (void)state;
    struct cand c[] = {{2, "a"}, {0, "m"}, {INT_MAX, "0"}, {-1, "z"}, {0, "b"}, {1, "a"}};
    qsort(c, sizeof c / sizeof c[0], sizeof c[0], by_order);
    const struct cand want[] = {{-1, "z"}, {0, "b"}, {0, "m"}, {1, "a"}, {2, "a"}, {INT_MAX, "0"}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        assert_int_equal(c[i].spare, want[i].spare);
        assert_string_equal(c[i].key, want[i].key);
    }
    assert_int_equal(hs_healer_repair_order(0, "k", 0, "k"), 0);
    assert_true(hs_healer_repair_order(INT_MIN, "z", INT_MAX, "a") < 0);
}

/* ---- WAL stall ---- */

#define NOW     1800000000000LL
#define TIMEOUT 60000
#define GRACE   10000

static struct hs_txn_record record(enum hs_txn_state state, int64_t start_ms, int64_t alive_ms)
{
    struct hs_txn_record r;
    hs_txn_record_init(&r);
    r.state = state;
    r.start_ms = start_ms;
    r.alive_ms = alive_ms;
    return r;
}

static enum hs_healer_stall stall(const struct hs_txn_record *r, bool owner_live)
{
    return hs_healer_wal_stall(r, owner_live, NOW, TIMEOUT, GRACE);
}

static void aborted_record_is_stalled_at_once(void **state)
{
    (void)state;
    struct hs_txn_record r = record(HS_TXN_ABORTED, NOW, NOW);
    assert_int_equal(stall(&r, true), HS_HEALER_STALL_ABORTED);
    assert_int_equal(stall(&r, false), HS_HEALER_STALL_ABORTED);
    assert_string_equal(hs_healer_stall_name(HS_HEALER_STALL_ABORTED), "aborted");
}

static void pending_record_times_out_only_after_wal_timeout_without_progress(void **state)
{
    (void)state;
    struct hs_txn_record r = record(HS_TXN_PENDING, NOW - TIMEOUT, 0);
    assert_int_equal(stall(&r, true), HS_HEALER_STALL_NONE); /* exactly the limit: not yet */
    r.start_ms = NOW - TIMEOUT - 1;
    assert_int_equal(stall(&r, true), HS_HEALER_STALL_TIMEOUT);
    assert_string_equal(hs_healer_stall_name(HS_HEALER_STALL_TIMEOUT), "timeout");
    /* an old write that keeps showing progress is never stalled */
    r.start_ms = NOW - 100LL * TIMEOUT;
    r.alive_ms = NOW - 1000;
    assert_int_equal(stall(&r, true), HS_HEALER_STALL_NONE);
    /* a writer clock ahead of ours: quiet is negative, nothing to judge */
    r.alive_ms = NOW + 5000;
    assert_int_equal(stall(&r, false), HS_HEALER_STALL_NONE);
    assert_null(hs_healer_stall_name(HS_HEALER_STALL_NONE));
}

static void owner_gone_needs_the_owner_grace_of_quiet(void **state)
{
    (void)state;
    struct hs_txn_record r = record(HS_TXN_PENDING, NOW - 30000, NOW - GRACE);
    assert_int_equal(stall(&r, false), HS_HEALER_STALL_NONE); /* quiet == grace: not yet */
    r.alive_ms = NOW - GRACE - 1;
    assert_int_equal(stall(&r, false), HS_HEALER_STALL_OWNER_GONE);
    assert_string_equal(hs_healer_stall_name(HS_HEALER_STALL_OWNER_GONE), "owner_gone");
    /* the same quiet with the owner alive: the writer gets the full wal_timeout */
    assert_int_equal(stall(&r, true), HS_HEALER_STALL_NONE);
    /* past wal_timeout it is a timeout whether the owner lives or not */
    r.start_ms = r.alive_ms = NOW - TIMEOUT - 1;
    assert_int_equal(stall(&r, false), HS_HEALER_STALL_TIMEOUT);
}

/* ---- GC orphans ---- */

#define GC_GRACE 3600000

struct gc {
    struct hs_healer_gc_refs r;
    char txn[HS_TXN_ID_BUF]; /* minted GC_GRACE + 1 ms before NOW */
    char blob[HS_META_BLOB_ID_BUF];
};

static int gc_setup(void **state)
{
    struct gc *g = calloc(1, sizeof *g);
    hs_healer_set_init(&g->r.locs);
    hs_healer_set_init(&g->r.txns);
    hs_healer_set_init(&g->r.named);
    snprintf(g->txn, sizeof g->txn, "%012llx%s", (unsigned long long)(NOW - GC_GRACE - 1),
             "0123456789abcdef0123");
    assert_int_equal(hs_meta_blob_id_make(g->txn, HS_META_PART_DATA, 0, 1, g->blob), HS_OK);
    *state = g;
    return 0;
}

static int gc_teardown(void **state)
{
    struct gc *g = *state;
    hs_healer_set_release(&g->r.locs);
    hs_healer_set_release(&g->r.txns);
    hs_healer_set_release(&g->r.named);
    free(g);
    return 0;
}

static enum hs_healer_gc_fate fate(const struct gc *g, const char *blob, const char *node)
{
    return hs_healer_gc_judge(&g->r, blob, node, NOW, GC_GRACE);
}

static void unnamed_old_blob_is_an_orphan(void **state)
{
    struct gc *g = *state;
    int64_t t = 0;
    assert_true(hs_meta_txn_id_time_ms(g->txn, &t));
    assert_int_equal(t, NOW - GC_GRACE - 1);
    assert_int_equal(fate(g, g->blob, "node-1"), HS_HEALER_GC_ORPHAN);
    /* exactly as old as the grace: no longer young */
    assert_int_equal(hs_healer_gc_judge(&g->r, g->blob, "node-1", NOW - 1, GC_GRACE),
                     HS_HEALER_GC_ORPHAN);
    assert_int_equal(hs_healer_gc_judge(&g->r, g->blob, "node-1", NOW - 2, GC_GRACE),
                     HS_HEALER_GC_YOUNG);
}

static void manifest_reference_keeps_the_blob_on_that_node_only(void **state)
{
    struct gc *g = *state;
    hs_healer_set_add(&g->r.locs, g->blob, "node-1");
    assert_int_equal(fate(g, g->blob, "node-1"), HS_HEALER_GC_REFERENCED);
    /* a stray copy on another node is not what the manifest references */
    assert_int_equal(fate(g, g->blob, "node-2"), HS_HEALER_GC_ORPHAN);
}

static void named_by_a_wal_or_retire_record_keeps_it_everywhere(void **state)
{
    struct gc *g = *state;
    hs_healer_set_add(&g->r.named, g->blob, NULL);
    assert_int_equal(fate(g, g->blob, "node-1"), HS_HEALER_GC_REFERENCED);
    assert_int_equal(fate(g, g->blob, "node-7"), HS_HEALER_GC_REFERENCED);
}

static void live_wal_record_of_its_txn_keeps_it(void **state)
{
    struct gc *g = *state;
    hs_healer_set_add(&g->r.txns, g->txn, NULL);
    assert_int_equal(fate(g, g->blob, "node-1"), HS_HEALER_GC_IN_WAL);
}

static void young_orphan_is_kept_and_counted_as_young(void **state)
{
    struct gc *g = *state;
    assert_int_equal(hs_healer_gc_judge(&g->r, g->blob, "node-1", NOW, GC_GRACE + 2),
                     HS_HEALER_GC_YOUNG);
    /* referenced beats young: it is not counted as a young orphan */
    hs_healer_set_add(&g->r.named, g->blob, NULL);
    assert_int_equal(hs_healer_gc_judge(&g->r, g->blob, "node-1", NOW, GC_GRACE + 2),
                     HS_HEALER_GC_REFERENCED);
}

static void ids_that_were_not_minted_are_never_deleted(void **state)
{
    struct gc *g = *state;
    assert_int_equal(fate(g, "not-a-blob-id", "node-1"), HS_HEALER_GC_FOREIGN);
    assert_int_equal(fate(g, "", "node-1"), HS_HEALER_GC_FOREIGN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replicas_present_give_spare_and_health),
        cmocka_unit_test(shards_present_against_k),
        cmocka_unit_test(worst_segment_decides),
        cmocka_unit_test(hot_and_cold_parts_count_with_their_own_needs),
        cmocka_unit_test(object_without_segments_is_full),
        cmocka_unit_test(least_redundancy_is_repaired_first_ties_by_key),
        cmocka_unit_test(aborted_record_is_stalled_at_once),
        cmocka_unit_test(pending_record_times_out_only_after_wal_timeout_without_progress),
        cmocka_unit_test(owner_gone_needs_the_owner_grace_of_quiet),
        cmocka_unit_test_setup_teardown(unnamed_old_blob_is_an_orphan, gc_setup, gc_teardown),
        cmocka_unit_test_setup_teardown(manifest_reference_keeps_the_blob_on_that_node_only,
                                        gc_setup, gc_teardown),
        cmocka_unit_test_setup_teardown(named_by_a_wal_or_retire_record_keeps_it_everywhere,
                                        gc_setup, gc_teardown),
        cmocka_unit_test_setup_teardown(live_wal_record_of_its_txn_keeps_it, gc_setup, gc_teardown),
        cmocka_unit_test_setup_teardown(young_orphan_is_kept_and_counted_as_young, gc_setup,
                                        gc_teardown),
        cmocka_unit_test_setup_teardown(ids_that_were_not_minted_are_never_deleted, gc_setup,
                                        gc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
