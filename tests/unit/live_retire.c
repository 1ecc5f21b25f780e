/* live_retire.c - the retire sweeper's batched etcd requests (src/healer/retire_etcd.c) against
 * a REAL etcd (endpoints from HS_TEST_ETCD_ENDPOINTS): a group's manifests in one read-only
 * transaction, a group's records deleted in one fenced transaction, a record rewritten or gone
 * since it was read never deleted, a lost fence deleting nothing. Run by
 * tests/integration/test_retire_live.py, not by the unit suite. Every key lives under a
 * per-run prefix. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "healer/retire_int.h"
#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/mem.h"
#include "hs/banned.h"

static const char *endpoints;
static char run_prefix[64];
static struct hs_etcd *etcd;

/* A key under this run's prefix: run_prefix + printf(fmt, ...) (heap). */
#define key_of(...) key_join(hs_xasprintf(__VA_ARGS__))
static char *key_join(char *rest)
{
    char *k = hs_xasprintf("%s%s", run_prefix, rest);
    free(rest);
    return k;
}

/* Puts key = value; returns the put's revision (the key's mod_revision). */
static int64_t put_text(const char *key, const char *value)
{
    int64_t rev = 0;
    assert_int_equal(hs_etcd_put(etcd, key, value, strlen(value), 0, &rev), HS_OK);
    assert_true(rev > 0);
    return rev;
}

static bool key_exists(const char *key)
{
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(etcd, key, &kvs), HS_OK);
    bool found = kvs.n == 1;
    hs_etcd_kvs_release(&kvs);
    return found;
}

/* A leader key of our own and the fence that holds while it stays as put. */
static char *make_fence(const char *name, struct hs_etcd_cmp *fence)
{
    char *leader = key_of("%s/leader", name);
    int64_t rev = put_text(leader, "me");
    *fence = (struct hs_etcd_cmp){
        .target = HS_ETCD_CMP_CREATE, .result = HS_ETCD_EQUAL, .key = leader, .number = rev};
    return leader;
}

static void read_many_reads_a_group_in_one_txn(void **state)
{
    (void)state;
    char *keys[HS_RETIRE_TXN_RECORDS];
    for (size_t i = 0; i < HS_RETIRE_TXN_RECORDS; i++) {
        keys[i] = key_of("read/%02zu", i);
        if (i % 10 != 7) { /* 7, 17, ...: absent */
            char v[32];
            snprintf(v, sizeof v, "value-%zu", i);
            put_text(keys[i], v);
        }
    }
    free(keys[63]); /* the same key twice in one group: read once, answered twice */
    keys[63] = hs_xstrdup(keys[5]);
    struct hs_etcd_kvs out[HS_RETIRE_TXN_RECORDS];
    assert_int_equal(
        hs_retire_read_many(etcd, (const char *const *)keys, HS_RETIRE_TXN_RECORDS, out), HS_OK);
    for (size_t i = 0; i < HS_RETIRE_TXN_RECORDS; i++) {
        size_t want = i == 63 ? 5 : i;
        if (want % 10 == 7) {
            assert_int_equal(out[i].n, 0);
        } else {
            char v[32];
            snprintf(v, sizeof v, "value-%zu", want);
            assert_int_equal(out[i].n, 1);
            assert_string_equal(out[i].kvs[0].key, keys[i]);
            assert_int_equal(out[i].kvs[0].value_len, strlen(v));
            assert_memory_equal(out[i].kvs[0].value, v, strlen(v));
            assert_true(out[i].kvs[0].mod_revision > 0);
        }
        hs_etcd_kvs_release(&out[i]);
        free(keys[i]);
    }
}

static void drop_many_deletes_a_group_in_one_fenced_txn(void **state)
{
    (void)state;
    struct hs_etcd_cmp fence;
    char *leader = make_fence("drop", &fence);
    char *keys[HS_RETIRE_TXN_RECORDS];
    struct hs_retire_drop d[HS_RETIRE_TXN_RECORDS];
    for (size_t i = 0; i < HS_RETIRE_TXN_RECORDS; i++) {
        keys[i] = key_of("drop/%02zu", i);
        d[i] = (struct hs_retire_drop){.key = keys[i], .mod_rev = put_text(keys[i], "r")};
    }
    int64_t txns = 0;
    assert_int_equal(hs_retire_drop_many(etcd, &fence, d, HS_RETIRE_TXN_RECORDS, &txns), HS_OK);
    assert_int_equal(txns, 1);
    for (size_t i = 0; i < HS_RETIRE_TXN_RECORDS; i++) {
        assert_true(d[i].dropped);
        assert_false(key_exists(keys[i]));
        free(keys[i]);
    }
    free(leader);
}

static void drop_many_keeps_a_record_rewritten_or_gone_since_it_was_read(void **state)
{
    (void)state;
    struct hs_etcd_cmp fence;
    char *leader = make_fence("race", &fence);
    enum { N = 10, REWRITTEN = 3, GONE = 7 };
    char *keys[N];
    struct hs_retire_drop d[N];
    for (size_t i = 0; i < N; i++) {
        keys[i] = key_of("race/%02zu", i);
        d[i] = (struct hs_retire_drop){.key = keys[i], .mod_rev = put_text(keys[i], "r")};
    }
    put_text(keys[REWRITTEN], "written again after the sweeper read it");
    assert_int_equal(hs_etcd_delete(etcd, keys[GONE], false, NULL), HS_OK);
    int64_t txns = 0;
    assert_int_equal(hs_retire_drop_many(etcd, &fence, d, N, &txns), HS_OK);
    assert_int_equal(txns, 2); /* the group, then the group less the two that changed */
    for (size_t i = 0; i < N; i++) {
        if (i == REWRITTEN) {
            assert_false(d[i].dropped);
            assert_true(key_exists(keys[i]));
        } else if (i == GONE) {
            assert_false(d[i].dropped);
            assert_false(key_exists(keys[i]));
        } else {
            assert_true(d[i].dropped);
            assert_false(key_exists(keys[i]));
        }
        free(keys[i]);
    }
    free(leader);
}

static void drop_many_with_a_lost_fence_deletes_nothing(void **state)
{
    (void)state;
    struct hs_etcd_cmp fence;
    char *leader = make_fence("fence", &fence);
    enum { N = 5 };
    char *keys[N];
    struct hs_retire_drop d[N];
    for (size_t i = 0; i < N; i++) {
        keys[i] = key_of("fence/%02zu", i);
        d[i] = (struct hs_retire_drop){.key = keys[i], .mod_rev = put_text(keys[i], "r")};
    }
    /* another leader now: the key was deleted and created again (a new create revision) */
    assert_int_equal(hs_etcd_delete(etcd, leader, false, NULL), HS_OK);
    put_text(leader, "someone else");
    put_text(keys[1], "and a record changed too: the fence still decides");
    int64_t txns = 0;
    assert_int_equal(hs_retire_drop_many(etcd, &fence, d, N, &txns), HS_ECONFLICT);
    assert_int_equal(txns, 1);
    for (size_t i = 0; i < N; i++) {
        assert_false(d[i].dropped);
        assert_true(key_exists(keys[i]));
        free(keys[i]);
    }
    /* no leader key at all: the same */
    assert_int_equal(hs_etcd_delete(etcd, leader, false, NULL), HS_OK);
    struct hs_retire_drop one = {.key = leader, .mod_rev = 1};
    assert_int_equal(hs_retire_drop_many(etcd, &fence, &one, 1, NULL), HS_ECONFLICT);
    assert_false(one.dropped);
    free(leader);
}

static int group_setup(void **state)
{
    (void)state;
    struct hs_etcd_opts o = {.endpoints = endpoints};
    return hs_etcd_new(&o, &etcd) == HS_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    hs_etcd_delete(etcd, run_prefix, true, NULL);
    hs_etcd_free(etcd);
    return 0;
}

int main(void)
{
    endpoints = getenv("HS_TEST_ETCD_ENDPOINTS");
    if (!endpoints || !*endpoints) {
        fprintf(stderr, "HS_TEST_ETCD_ENDPOINTS is not set\n");
        return 2;
    }
    snprintf(run_prefix, sizeof run_prefix, "/hybridstore/test/retire-%ld-%lld/", (long)getpid(),
             (long long)hs_clock_wall_ms());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_many_reads_a_group_in_one_txn),
        cmocka_unit_test(drop_many_deletes_a_group_in_one_fenced_txn),
        cmocka_unit_test(drop_many_keeps_a_record_rewritten_or_gone_since_it_was_read),
        cmocka_unit_test(drop_many_with_a_lost_fence_deletes_nothing),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
