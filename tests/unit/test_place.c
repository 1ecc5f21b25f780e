/* test_place.c - rendezvous placement: pinned scores (the format), determinism, balance over
 * 100 000 keys, minimal movement when nodes leave or join, weights, and the error contract. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/place.h"

#define KEYS     100000
#define MAX_NODE 128

static char node_names[MAX_NODE][32];
static const char *node_ids[MAX_NODE];

static void make_nodes(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(node_names[i], sizeof node_names[i], "node-%zu", i);
        node_ids[i] = node_names[i];
    }
}

static size_t key_of(char *buf, size_t cap, int i)
{
    return (size_t)snprintf(buf, cap, "obj-%d", i);
}

/* The scores are the placement format: if these change, every stored object moves. The values
 * were computed by a separate program with the header-only (XXH_INLINE_ALL) xxHash build. */
static void score_matches_pinned_format_vectors(void **state)
{
    (void)state;
    assert_int_equal(hs_place_score("obj-0", 5, "node-0"), 0x1628504dc3a35840ULL);
    assert_int_equal(hs_place_score("obj-1", 5, "node-1"), 0x0b81b2c1e38ab0a9ULL);
    assert_int_equal(hs_place_score("a/b.jpg", 7, "n1"), 0x724ef21590babcedULL);
    assert_int_equal(hs_place_score("", 0, "node-0"), 0x9c7a4fb3745db800ULL);
}

static void order_does_not_depend_on_node_array_order(void **state)
{
    (void)state;
    make_nodes(20);
    const char *reversed[20];
    for (size_t i = 0; i < 20; i++)
        reversed[i] = node_ids[19 - i];
    char key[32];
    for (int k = 0; k < 2000; k++) {
        size_t len = key_of(key, sizeof key, k);
        size_t a[20], b[20];
        assert_int_equal(hs_place_rank(key, len, node_ids, 20, a), HS_OK);
        assert_int_equal(hs_place_rank(key, len, reversed, 20, b), HS_OK);
        for (size_t i = 0; i < 20; i++)
            assert_string_equal(node_ids[a[i]], reversed[b[i]]);
    }
}

static void top_n_is_distinct_prefix_of_full_rank(void **state)
{
    (void)state;
    make_nodes(100); /* more than the on-stack candidate array */
    char key[32];
    for (int k = 0; k < 1000; k++) {
        size_t len = key_of(key, sizeof key, k);
        size_t rank[100], top[6];
        bool seen[100] = {false};
        assert_int_equal(hs_place_rank(key, len, node_ids, 100, rank), HS_OK);
        assert_int_equal(hs_place_nodes(key, len, node_ids, 100, 6, top), HS_OK);
        for (size_t i = 0; i < 100; i++) {
            assert_true(rank[i] < 100);
            assert_false(seen[rank[i]]);
            seen[rank[i]] = true;
        }
        assert_memory_equal(top, rank, sizeof top);
        /* scores are really descending */
        for (size_t i = 1; i < 100; i++)
            assert_true(hs_place_score(key, len, node_ids[rank[i - 1]]) >=
                        hs_place_score(key, len, node_ids[rank[i]]));
    }
}

/* Counts how often each node appears in the top `want` over KEYS keys and checks every count
 * against its expectation KEYS * want / n within +-10%. */
static void check_balance(size_t n, size_t want)
{
    static size_t counts[MAX_NODE];
    memset(counts, 0, sizeof counts);
    make_nodes(n);
    char key[32];
    for (int k = 0; k < KEYS; k++) {
        size_t len = key_of(key, sizeof key, k);
        size_t top[8];
        assert_int_equal(hs_place_nodes(key, len, node_ids, n, want, top), HS_OK);
        for (size_t i = 0; i < want; i++)
            counts[top[i]]++;
    }
    double expect = (double)KEYS * (double)want / (double)n;
    for (size_t i = 0; i < n; i++) {
        if (counts[i] < expect * 0.9 || counts[i] > expect * 1.1)
            fail_msg("n=%zu want=%zu node %zu got %zu, expected %.0f +-10%%", n, want, i, counts[i],
                     expect);
    }
}

static void first_choice_balanced_within_10_percent_for_6_to_60_nodes(void **state)
{
    (void)state;
    const size_t sizes[] = {6, 7, 12, 24, 45, 60};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        check_balance(sizes[i], 1);
}

static void replica_and_shard_sets_balanced_within_10_percent(void **state)
{
    (void)state;
    check_balance(6, 3);
    check_balance(60, 3);
    check_balance(8, 6);
    check_balance(60, 6);
}

/* Removing node r: every key's full rank is the old rank with r taken out, so a top-n that did
 * not include r is unchanged, and one that did gains exactly the next node. */
static void removing_a_node_moves_only_placements_that_used_it(void **state)
{
    (void)state;
    enum { N = 12, WANT = 3 };
    make_nodes(N);
    const size_t removed = 5;
    const char *fewer[N - 1];
    for (size_t i = 0, j = 0; i < N; i++)
        if (i != removed)
            fewer[j++] = node_ids[i];
    char key[32];
    size_t moved = 0;
    for (int k = 0; k < KEYS; k++) {
        size_t len = key_of(key, sizeof key, k);
        size_t before[N], after[N - 1];
        assert_int_equal(hs_place_rank(key, len, node_ids, N, before), HS_OK);
        assert_int_equal(hs_place_rank(key, len, fewer, N - 1, after), HS_OK);
        size_t j = 0;
        bool used = false;
        for (size_t i = 0; i < N; i++) {
            if (before[i] == removed) {
                used = used || i < WANT;
                continue;
            }
            assert_string_equal(node_ids[before[i]], fewer[after[j]]);
            j++;
        }
        if (!used) {
            for (size_t i = 0; i < WANT; i++)
                assert_string_equal(node_ids[before[i]], fewer[after[i]]);
        }
        moved += used;
    }
    /* about WANT/N of the keys used the removed node */
    double expect = (double)KEYS * WANT / N;
    assert_true(moved > expect * 0.9 && moved < expect * 1.1);
}

static void adding_a_node_moves_keys_only_onto_it(void **state)
{
    (void)state;
    enum { N = 10 };
    make_nodes(N + 1);
    char key[32];
    size_t moved = 0;
    for (int k = 0; k < KEYS; k++) {
        size_t len = key_of(key, sizeof key, k);
        size_t before, after;
        assert_int_equal(hs_place_nodes(key, len, node_ids, N, 1, &before), HS_OK);
        assert_int_equal(hs_place_nodes(key, len, node_ids, N + 1, 1, &after), HS_OK);
        if (before != after) {
            assert_int_equal(after, N);
            moved++;
        }
    }
    double expect = (double)KEYS / (N + 1);
    assert_true(moved > expect * 0.9 && moved < expect * 1.1);
}

static void want_more_than_nodes_is_eunavail_and_output_untouched(void **state)
{
    (void)state;
    make_nodes(4);
    size_t out[6] = {77, 77, 77, 77, 77, 77};
    assert_int_equal(hs_place_nodes("k", 1, node_ids, 4, 6, out), HS_EUNAVAIL);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(out[i], 77);
    assert_int_equal(hs_place_nodes("k", 1, node_ids, 0, 1, out), HS_EUNAVAIL);
    assert_int_equal(out[0], 77);
    /* want == 0 asks for nothing and gets nothing */
    assert_int_equal(hs_place_nodes("k", 1, node_ids, 0, 0, out), HS_OK);
    assert_int_equal(hs_place_nodes("k", 1, node_ids, 4, 0, out), HS_OK);
    assert_int_equal(out[0], 77);
    /* exactly as many as there are */
    assert_int_equal(hs_place_nodes("k", 1, node_ids, 4, 4, out), HS_OK);
}

static void duplicate_or_null_node_ids_are_einval(void **state)
{
    (void)state;
    const char *dup[] = {"a", "b", "c", "b"};
    size_t out[4] = {9, 9, 9, 9};
    assert_int_equal(hs_place_nodes("k", 1, dup, 4, 2, out), HS_EINVAL);
    assert_int_equal(hs_place_rank("k", 1, dup, 4, out), HS_EINVAL);
    const char *with_null[] = {"a", NULL, "c"};
    assert_int_equal(hs_place_nodes("k", 1, with_null, 3, 1, out), HS_EINVAL);
    assert_int_equal(out[0], 9);
    char many_names[70][8];
    const char *many[70];
    for (size_t i = 0; i < 70; i++) {
        snprintf(many_names[i], sizeof many_names[i], "n%zu", i % 69); /* n0 twice */
        many[i] = many_names[i];
    }
    assert_int_equal(hs_place_nodes("k", 1, many, 70, 3, out), HS_EINVAL);
}

static void equal_weights_give_the_unweighted_order(void **state)
{
    (void)state;
    enum { N = 9 };
    make_nodes(N);
    struct hs_place_node nodes[N];
    char key[32];
    for (double w = 0; w <= 3; w += 1.5) {
        for (size_t i = 0; i < N; i++)
            nodes[i] = (struct hs_place_node){.id = node_ids[i], .weight = w};
        for (int k = 0; k < 1000; k++) {
            size_t len = key_of(key, sizeof key, k);
            size_t a[N], b[N];
            assert_int_equal(hs_place_rank(key, len, node_ids, N, a), HS_OK);
            assert_int_equal(hs_place_nodes_weighted(key, len, nodes, N, N, b), HS_OK);
            assert_memory_equal(a, b, sizeof a);
        }
    }
}

static void weighted_nodes_get_shares_proportional_to_weight(void **state)
{
    (void)state;
    enum { N = 6 };
    make_nodes(N);
    const double weights[N] = {1, 1, 2, 2, 4, 0 /* = 1 */};
    struct hs_place_node nodes[N];
    double total = 0;
    for (size_t i = 0; i < N; i++) {
        nodes[i] = (struct hs_place_node){.id = node_ids[i], .weight = weights[i]};
        total += weights[i] == 0 ? 1 : weights[i];
    }
    size_t counts[N] = {0};
    char key[32];
    for (int k = 0; k < KEYS; k++) {
        size_t len = key_of(key, sizeof key, k);
        size_t top;
        assert_int_equal(hs_place_nodes_weighted(key, len, nodes, N, 1, &top), HS_OK);
        counts[top]++;
    }
    for (size_t i = 0; i < N; i++) {
        double expect = KEYS * (weights[i] == 0 ? 1 : weights[i]) / total;
        if (counts[i] < expect * 0.9 || counts[i] > expect * 1.1)
            fail_msg("node %zu weight %.0f got %zu expected %.0f", i, weights[i], counts[i],
                     expect);
    }
}

static void invalid_weights_or_duplicates_are_einval(void **state)
{
    (void)state;
    size_t out[3] = {5, 5, 5};
    struct hs_place_node neg[] = {{"a", 1}, {"b", -1}, {"c", 1}};
    assert_int_equal(hs_place_nodes_weighted("k", 1, neg, 3, 1, out), HS_EINVAL);
    struct hs_place_node inf[] = {{"a", 1}, {"b", 1.0 / 0.0}, {"c", 1}};
    assert_int_equal(hs_place_nodes_weighted("k", 1, inf, 3, 1, out), HS_EINVAL);
    /* duplicates are caught even when their weights differ */
    struct hs_place_node dup[] = {{"a", 1}, {"b", 3}, {"a", 2}};
    assert_int_equal(hs_place_nodes_weighted("k", 1, dup, 3, 1, out), HS_EINVAL);
    assert_int_equal(out[0], 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(score_matches_pinned_format_vectors),
        cmocka_unit_test(order_does_not_depend_on_node_array_order),
        cmocka_unit_test(top_n_is_distinct_prefix_of_full_rank),
        cmocka_unit_test(first_choice_balanced_within_10_percent_for_6_to_60_nodes),
        cmocka_unit_test(replica_and_shard_sets_balanced_within_10_percent),
        cmocka_unit_test(removing_a_node_moves_only_placements_that_used_it),
        cmocka_unit_test(adding_a_node_moves_keys_only_onto_it),
        cmocka_unit_test(want_more_than_nodes_is_eunavail_and_output_untouched),
        cmocka_unit_test(duplicate_or_null_node_ids_are_einval),
        cmocka_unit_test(equal_weights_give_the_unweighted_order),
        cmocka_unit_test(weighted_nodes_get_shares_proportional_to_weight),
        cmocka_unit_test(invalid_weights_or_duplicates_are_einval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
