/* live_etcd.c - the etcd client against a REAL etcd (endpoints from HS_TEST_ETCD_ENDPOINTS):
 * kv, paging at one snapshot, txn patterns, leases and the keeper, watch with resume, election
 * and endpoint failover. Run by tests/integration/test_etcd_live.py, not by the unit suite.
 * Every key lives under a per-run prefix, so runs against one etcd never collide. */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/mem.h"
#include "meta/etcd_int.h" /* preferred: start a watch on the hung endpoint */
#include "hs/banned.h"

static const char *endpoints;
static char run_prefix[64];
static struct hs_etcd *etcd;
static struct hs_etcd *etcd_for_campaign; /* set by a test to campaign through another client */

/* A key under this run's prefix: run_prefix + printf(fmt, ...) (heap). */
#define key_of(...) key_join(hs_xasprintf(__VA_ARGS__))
static char *key_join(char *rest)
{
    char *k = hs_xasprintf("%s%s", run_prefix, rest);
    free(rest);
    return k;
}

static void put_text(const char *key, const char *value, int64_t lease)
{
    assert_int_equal(hs_etcd_put(etcd, key, value, strlen(value), lease, NULL), HS_OK);
}

static bool key_exists(const char *key)
{
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(etcd, key, &kvs), HS_OK);
    bool found = kvs.n == 1;
    hs_etcd_kvs_release(&kvs);
    return found;
}

static void put_get_delete_roundtrip(void **state)
{
    (void)state;
    char *k = key_of("kv/a");
    int64_t rev = 0, deleted = -1;
    assert_int_equal(hs_etcd_put(etcd, k, "v1\0x", 4, 0, &rev), HS_OK);
    assert_true(rev > 0);
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(etcd, k, &kvs), HS_OK);
    assert_int_equal(kvs.n, 1);
    assert_string_equal(kvs.kvs[0].key, k);
    assert_int_equal(kvs.kvs[0].value_len, 4);
    assert_memory_equal(kvs.kvs[0].value, "v1\0x", 4);
    assert_int_equal(kvs.kvs[0].mod_revision, rev);
    assert_int_equal(kvs.kvs[0].version, 1);
    hs_etcd_kvs_release(&kvs);
    assert_int_equal(hs_etcd_delete(etcd, k, false, &deleted), HS_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(hs_etcd_delete(etcd, k, false, &deleted), HS_OK);
    assert_int_equal(deleted, 0);
    assert_false(key_exists(k));
    free(k);
}

struct page_walk {
    int seen;
    char last[128];
    bool ordered;
    const char *extra_key; /* written during the walk: must not be seen (snapshot) */
};

static bool page_walk_fn(void *ctx, const struct hs_etcd_kv *kv)
{
    struct page_walk *p = ctx;
    if (p->seen > 0 && strcmp(p->last, kv->key) >= 0)
        p->ordered = false;
    snprintf(p->last, sizeof p->last, "%s", kv->key);
    if (p->seen++ == 0)
        put_text(p->extra_key, "late", 0);
    return true;
}

static void prefix_paging_reads_250_keys_at_one_revision(void **state)
{
    (void)state;
    char *prefix = key_of("page/");
    for (int i = 0; i < 250; i++) {
        char *k = key_of("page/k%03d", i);
        put_text(k, "x", 0);
        free(k);
    }
    char *extra = key_of("page/k999-late");
    struct page_walk walk = {.ordered = true, .extra_key = extra};
    int64_t rev = 0;
    assert_int_equal(hs_etcd_range_prefix_each(etcd, prefix, 100, true, page_walk_fn, &walk, &rev),
                     HS_OK);
    assert_int_equal(walk.seen, 250);
    assert_true(walk.ordered);
    assert_true(rev > 0);
    struct hs_etcd_range_req req = {.key = prefix, .prefix = true, .count_only = true};
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_range(etcd, &req, &kvs), HS_OK);
    assert_int_equal(kvs.count, 251);
    assert_int_equal(kvs.n, 0);
    hs_etcd_kvs_release(&kvs);
    req = (struct hs_etcd_range_req){.key = prefix, .prefix = true, .limit = 10};
    assert_int_equal(hs_etcd_range(etcd, &req, &kvs), HS_OK);
    assert_int_equal(kvs.n, 10);
    assert_true(kvs.more);
    assert_int_equal(kvs.count, 251);
    hs_etcd_kvs_release(&kvs);
    int64_t deleted = 0;
    assert_int_equal(hs_etcd_delete(etcd, prefix, true, &deleted), HS_OK);
    assert_int_equal(deleted, 251);
    free(extra);
    free(prefix);
}

static void txn_create_if_absent_succeeds_once(void **state)
{
    (void)state;
    char *k = key_of("txn/obj1");
    struct hs_etcd_cmp cmp = {.target = HS_ETCD_CMP_CREATE, .result = HS_ETCD_EQUAL, .key = k};
    struct hs_etcd_op put1 = {.type = HS_ETCD_OP_PUT, .key = k, .value = "v1", .value_len = 2};
    struct hs_etcd_op get = {.type = HS_ETCD_OP_RANGE, .key = k};
    struct hs_etcd_txn txn = {&cmp, 1, &put1, 1, &get, 1};
    struct hs_etcd_txn_result r;
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_OK);
    assert_true(r.succeeded);
    assert_int_equal(r.n_ranges, 0);
    int64_t first_rev = r.revision;
    hs_etcd_txn_result_release(&r);
    struct hs_etcd_op put2 = {.type = HS_ETCD_OP_PUT, .key = k, .value = "v2", .value_len = 2};
    txn.success = &put2;
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_OK);
    assert_false(r.succeeded);
    assert_int_equal(r.n_ranges, 1);
    assert_int_equal(r.ranges[0].n, 1);
    assert_memory_equal(r.ranges[0].kvs[0].value, "v1", 2);
    assert_int_equal(r.ranges[0].kvs[0].create_revision, first_rev);
    hs_etcd_txn_result_release(&r);
    free(k);
}

static void txn_mod_revision_cas_rejects_stale_writer(void **state)
{
    (void)state;
    char *k = key_of("txn/cas");
    int64_t rev = 0;
    assert_int_equal(hs_etcd_put(etcd, k, "a", 1, 0, &rev), HS_OK);
    struct hs_etcd_cmp cmp = {
        .target = HS_ETCD_CMP_MOD, .result = HS_ETCD_EQUAL, .key = k, .number = rev};
    struct hs_etcd_op put = {.type = HS_ETCD_OP_PUT, .key = k, .value = "b", .value_len = 1};
    struct hs_etcd_op get = {.type = HS_ETCD_OP_RANGE, .key = k};
    struct hs_etcd_txn txn = {&cmp, 1, &put, 1, &get, 1};
    struct hs_etcd_txn_result r;
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_OK);
    assert_true(r.succeeded);
    int64_t new_rev = r.revision;
    hs_etcd_txn_result_release(&r);
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_OK); /* same expected rev: stale now */
    assert_false(r.succeeded);
    assert_int_equal(r.n_ranges, 1);
    assert_int_equal(r.ranges[0].kvs[0].mod_revision, new_rev);
    assert_memory_equal(r.ranges[0].kvs[0].value, "b", 1);
    hs_etcd_txn_result_release(&r);
    /* VALUE and VERSION compares */
    struct hs_etcd_cmp cmps[2] = {
        {.target = HS_ETCD_CMP_VALUE,
         .result = HS_ETCD_EQUAL,
         .key = k,
         .value = "b",
         .value_len = 1},
        {.target = HS_ETCD_CMP_VERSION, .result = HS_ETCD_EQUAL, .key = k, .number = 2}};
    txn = (struct hs_etcd_txn){cmps, 2, NULL, 0, NULL, 0};
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_OK);
    assert_true(r.succeeded);
    hs_etcd_txn_result_release(&r);
    free(k);
}

static void txn_wal_commit_moves_intent_once(void **state)
{
    (void)state;
    char *intent = key_of("txn/x"), *meta = key_of("meta/x");
    put_text(intent, "intent", 0);
    struct hs_etcd_cmp cmp = {
        .target = HS_ETCD_CMP_VERSION, .result = HS_ETCD_GREATER, .key = intent, .number = 0};
    struct hs_etcd_op ops[2] = {
        {.type = HS_ETCD_OP_PUT, .key = meta, .value = "committed", .value_len = 9},
        {.type = HS_ETCD_OP_DELETE, .key = intent}};
    struct hs_etcd_txn txn = {&cmp, 1, ops, 2, NULL, 0};
    struct hs_etcd_txn_result r;
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_OK);
    assert_true(r.succeeded);
    hs_etcd_txn_result_release(&r);
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_OK);
    assert_false(r.succeeded);
    assert_int_equal(r.n_ranges, 0);
    hs_etcd_txn_result_release(&r);
    assert_true(key_exists(meta));
    assert_false(key_exists(intent));
    /* the same key twice in one txn is refused by etcd: HS_EINVAL */
    struct hs_etcd_op dup[2] = {
        {.type = HS_ETCD_OP_PUT, .key = meta, .value = "a", .value_len = 1},
        {.type = HS_ETCD_OP_PUT, .key = meta, .value = "b", .value_len = 1}};
    txn = (struct hs_etcd_txn){NULL, 0, dup, 2, NULL, 0};
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_EINVAL);
    free(intent);
    free(meta);
}

static void lease_revoke_removes_key_and_keepalive_is_enoent(void **state)
{
    (void)state;
    char *k = key_of("lease/a");
    int64_t lease = 0, ttl = 0;
    assert_int_equal(hs_etcd_lease_grant(etcd, 30, &lease), HS_OK);
    assert_int_not_equal(lease, 0);
    put_text(k, "alive", lease);
    assert_int_equal(hs_etcd_lease_keepalive(etcd, lease, &ttl), HS_OK);
    assert_true(ttl > 0 && ttl <= 30);
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(etcd, k, &kvs), HS_OK);
    assert_int_equal(kvs.kvs[0].lease, lease);
    hs_etcd_kvs_release(&kvs);
    assert_int_equal(hs_etcd_lease_revoke(etcd, lease), HS_OK);
    assert_false(key_exists(k));
    assert_int_equal(hs_etcd_lease_keepalive(etcd, lease, &ttl), HS_ENOENT);
    assert_int_equal(hs_etcd_lease_revoke(etcd, lease), HS_ENOENT);
    assert_int_equal(hs_etcd_put(etcd, k, "x", 1, lease, NULL), HS_ENOENT);
    free(k);
}

struct lost_flag {
    atomic_int calls;
};

static void on_lost(void *ctx, int64_t lease)
{
    (void)lease;
    atomic_fetch_add(&((struct lost_flag *)ctx)->calls, 1);
}

static void keeper_keeps_2s_lease_for_5s_while_unkept_lease_expires(void **state)
{
    (void)state;
    char *kept = key_of("lease/kept"), *loose = key_of("lease/loose");
    int64_t l1 = 0, l2 = 0, ttl = 0;
    assert_int_equal(hs_etcd_lease_grant(etcd, 2, &l1), HS_OK);
    assert_int_equal(hs_etcd_lease_grant(etcd, 2, &l2), HS_OK);
    put_text(kept, "k", l1);
    put_text(loose, "l", l2);
    struct lost_flag lost;
    atomic_init(&lost.calls, 0);
    struct hs_etcd_keeper *k = NULL;
    assert_int_equal(hs_etcd_keeper_start(etcd, l1, 2, on_lost, &lost, &k), HS_OK);
    hs_clock_sleep_ms(5000, NULL);
    assert_true(hs_etcd_keeper_alive(k));
    assert_int_equal(atomic_load(&lost.calls), 0);
    assert_true(key_exists(kept));
    assert_false(key_exists(loose));
    assert_int_equal(hs_etcd_lease_keepalive(etcd, l2, &ttl), HS_ENOENT);
    /* revoking under the keeper: it notices and calls on_lost exactly once */
    assert_int_equal(hs_etcd_lease_revoke(etcd, l1), HS_OK);
    for (int i = 0; i < 40 && hs_etcd_keeper_alive(k); i++)
        hs_clock_sleep_ms(100, NULL);
    assert_false(hs_etcd_keeper_alive(k));
    assert_int_equal(atomic_load(&lost.calls), 1);
    hs_etcd_keeper_stop(k);
    free(kept);
    free(loose);
}

#define MAX_SEEN 64
struct collector {
    pthread_mutex_t mu;
    int n;
    bool is_delete[MAX_SEEN];
    char key[MAX_SEEN][96];
    int64_t mod_rev[MAX_SEEN];
};

static void collect_fn(void *ctx, const struct hs_etcd_event *ev, size_t n, int64_t revision,
                       bool compacted)
{
    (void)revision;
    struct collector *c = ctx;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n && !compacted && c->n < MAX_SEEN; i++) {
        c->is_delete[c->n] = ev[i].is_delete;
        snprintf(c->key[c->n], sizeof c->key[0], "%s", ev[i].kv.key);
        c->mod_rev[c->n] = ev[i].kv.mod_revision;
        c->n++;
    }
    pthread_mutex_unlock(&c->mu);
}

static int collected(struct collector *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static bool wait_collected(struct collector *c, int n)
{
    for (int i = 0; i < 100 && collected(c) < n; i++)
        hs_clock_sleep_ms(50, NULL);
    return collected(c) >= n;
}

static void watch_sees_changes_in_order_and_resumes_without_gaps(void **state)
{
    (void)state;
    char *prefix = key_of("watch/");
    char *a = key_of("watch/a"), *b = key_of("watch/b"), *c = key_of("watch/c"),
         *d = key_of("watch/d");
    struct collector col = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct hs_etcd_watch *w = NULL;
    assert_int_equal(hs_etcd_watch_start(etcd, prefix, true, 0, collect_fn, &col, &w), HS_OK);
    hs_clock_sleep_ms(300, NULL); /* "from now": let the watch be created first */
    put_text(a, "1", 0);
    put_text(b, "2", 0);
    assert_int_equal(hs_etcd_delete(etcd, a, false, NULL), HS_OK);
    assert_true(wait_collected(&col, 3));
    int64_t t0 = hs_clock_mono_ms();
    hs_etcd_watch_stop(w);
    assert_true(hs_clock_mono_ms() - t0 < 1000);
    assert_string_equal(col.key[0], a);
    assert_false(col.is_delete[0]);
    assert_string_equal(col.key[1], b);
    assert_string_equal(col.key[2], a);
    assert_true(col.is_delete[2]);
    assert_true(col.mod_rev[0] < col.mod_rev[1] && col.mod_rev[1] < col.mod_rev[2]);
    /* changes while nobody watches arrive after a restart from the last revision + 1 */
    put_text(c, "3", 0);
    put_text(d, "4", 0);
    assert_int_equal(
        hs_etcd_watch_start(etcd, prefix, true, col.mod_rev[2] + 1, collect_fn, &col, &w), HS_OK);
    assert_true(wait_collected(&col, 5));
    hs_clock_sleep_ms(200, NULL);
    hs_etcd_watch_stop(w);
    assert_int_equal(collected(&col), 5);
    assert_string_equal(col.key[3], c);
    assert_string_equal(col.key[4], d);
    assert_true(col.mod_rev[3] == col.mod_rev[2] + 1 || col.mod_rev[3] > col.mod_rev[2]);
    assert_int_equal(hs_etcd_delete(etcd, prefix, true, NULL), HS_OK);
    free(prefix);
    free(a);
    free(b);
    free(c);
    free(d);
}

struct campaigner {
    const char *name;
    int64_t lease;
    const char *value;
    struct hs_stop cancel;
    volatile int done;
    enum hs_err err;
    struct hs_etcd_leader leader;
    int64_t returned_ms;
};

static void *campaign_thread(void *arg)
{
    struct campaigner *c = arg;
    c->err = hs_etcd_campaign(etcd_for_campaign ? etcd_for_campaign : etcd, c->name, c->lease,
                              c->value, strlen(c->value), &c->cancel, &c->leader);
    c->returned_ms = hs_clock_mono_ms();
    __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void campaign_second_waits_until_first_resigns_and_cancel_aborts(void **state)
{
    (void)state;
    char *name = key_of("election/healer");
    int64_t la = 0, lb = 0, lc = 0;
    assert_int_equal(hs_etcd_lease_grant(etcd, 30, &la), HS_OK);
    assert_int_equal(hs_etcd_lease_grant(etcd, 30, &lb), HS_OK);
    assert_int_equal(hs_etcd_lease_grant(etcd, 30, &lc), HS_OK);
    struct hs_etcd_kv kv;
    assert_int_equal(hs_etcd_leader_get(etcd, name, &kv), HS_ENOENT);
    struct hs_etcd_leader lead_a;
    assert_int_equal(hs_etcd_campaign(etcd, name, la, "node-A", 6, NULL, &lead_a), HS_OK);
    assert_int_equal(lead_a.lease, la);
    assert_true(lead_a.rev > 0);
    assert_int_equal(strncmp(lead_a.key, name, strlen(name)), 0);
    struct campaigner b = {.name = name, .lease = lb, .value = "node-B"};
    struct campaigner c = {.name = name, .lease = lc, .value = "node-C"};
    pthread_t tb, tc;
    assert_int_equal(pthread_create(&tb, NULL, campaign_thread, &b), 0);
    hs_clock_sleep_ms(300, NULL);
    assert_int_equal(pthread_create(&tc, NULL, campaign_thread, &c), 0);
    hs_clock_sleep_ms(1000, NULL);
    assert_false(__atomic_load_n(&b.done, __ATOMIC_ACQUIRE));
    assert_false(__atomic_load_n(&c.done, __ATOMIC_ACQUIRE));
    /* cancel C: it returns within about a second */
    int64_t t0 = hs_clock_mono_ms();
    hs_stop_set(&c.cancel);
    pthread_join(tc, NULL);
    assert_int_equal(c.err, HS_ETIMEDOUT);
    assert_true(c.returned_ms - t0 < 1200);
    assert_int_equal(hs_etcd_leader_get(etcd, name, &kv), HS_OK);
    assert_memory_equal(kv.value, "node-A", 6);
    hs_etcd_kv_release(&kv);
    assert_int_equal(hs_etcd_resign(etcd, &lead_a), HS_OK);
    pthread_join(tb, NULL);
    assert_int_equal(b.err, HS_OK);
    assert_int_equal(b.leader.lease, lb);
    assert_true(b.leader.rev > lead_a.rev);
    assert_int_equal(hs_etcd_leader_get(etcd, name, &kv), HS_OK);
    assert_memory_equal(kv.value, "node-B", 6);
    assert_string_equal(kv.key, b.leader.key);
    hs_etcd_kv_release(&kv);
    assert_int_equal(hs_etcd_resign(etcd, &b.leader), HS_OK);
    assert_int_equal(hs_etcd_resign(etcd, &b.leader), HS_OK); /* idempotent */
    assert_int_equal(hs_etcd_leader_get(etcd, name, &kv), HS_ENOENT);
    hs_etcd_leader_release(&lead_a);
    hs_etcd_leader_release(&b.leader);
    assert_int_equal(hs_etcd_campaign(etcd, name, 12345, "x", 1, NULL, &lead_a), HS_ENOENT);
    for (int64_t *l = (int64_t[]){la, lb, lc}, i = 0; i < 3; i++)
        assert_int_equal(hs_etcd_lease_revoke(etcd, l[i]), HS_OK);
    free(name);
}

static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void failover_skips_a_dead_first_endpoint(void **state)
{
    (void)state;
    char *list = hs_xasprintf("http://127.0.0.1:%d,%s", closed_port(), endpoints);
    struct hs_etcd_opts o = {.endpoints = list, .timeout_ms = 1000};
    struct hs_etcd *e2 = NULL;
    assert_int_equal(hs_etcd_new(&o, &e2), HS_OK);
    char *k = key_of("failover/k");
    for (int i = 0; i < 3; i++)
        assert_int_equal(hs_etcd_put(e2, k, "v", 1, 0, NULL), HS_OK);
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(e2, k, &kvs), HS_OK);
    assert_int_equal(kvs.n, 1);
    hs_etcd_kvs_release(&kvs);
    /* a txn was never sent to the dead endpoint, so it is retried too */
    struct hs_etcd_op del = {.type = HS_ETCD_OP_DELETE, .key = k};
    struct hs_etcd_txn txn = {NULL, 0, &del, 1, NULL, 0};
    struct hs_etcd_txn_result r;
    assert_int_equal(hs_etcd_txn(e2, &txn, &r), HS_OK);
    assert_true(r.succeeded);
    hs_etcd_txn_result_release(&r);
    hs_etcd_free(e2);
    /* only dead endpoints: a clear error, quickly */
    free(list);
    list = hs_xasprintf("http://127.0.0.1:%d", closed_port());
    o.endpoints = list;
    assert_int_equal(hs_etcd_new(&o, &e2), HS_OK);
    assert_int_equal(hs_etcd_get(e2, k, &kvs), HS_EUNAVAIL);
    hs_etcd_free(e2);
    free(k);
    free(list);
}

/* ---- "put-loop SECONDS": puts through every endpoint while the harness stops the leader ----
 * Prints "ok t_ms=<CLOCK_MONOTONIC ms> i=<n> rev=<r>" per acknowledged put (the pytest compares
 * those times with the moment it sent SIGSTOP), then checks that a watch over the same keys,
 * started before the loop, saw every acknowledged put exactly once and in revision order. */
struct loop_watch {
    pthread_mutex_t mu;
    int64_t *revs; /* mod_revision of every event seen, in arrival order */
    size_t n, cap;
};

static void loop_watch_fn(void *ctx, const struct hs_etcd_event *ev, size_t n, int64_t revision,
                          bool compacted)
{
    (void)revision;
    (void)compacted;
    struct loop_watch *lw = ctx;
    pthread_mutex_lock(&lw->mu);
    for (size_t i = 0; i < n; i++) {
        if (lw->n == lw->cap) {
            lw->cap = lw->cap ? lw->cap * 2 : 1024;
            lw->revs = hs_xrealloc(lw->revs, lw->cap * sizeof *lw->revs);
        }
        lw->revs[lw->n++] = ev[i].kv.mod_revision;
    }
    pthread_mutex_unlock(&lw->mu);
}

/* true when every acked revision is in the watch's (strictly increasing) list */
static bool loop_watch_covers(struct loop_watch *lw, const int64_t *acked, size_t n_acked,
                              bool *ordered)
{
    pthread_mutex_lock(&lw->mu);
    *ordered = true;
    for (size_t i = 1; i < lw->n; i++)
        *ordered = *ordered && lw->revs[i] > lw->revs[i - 1];
    size_t j = 0;
    for (size_t i = 0; i < lw->n && j < n_acked; i++)
        if (lw->revs[i] == acked[j])
            j++;
    pthread_mutex_unlock(&lw->mu);
    return j == n_acked;
}

static int put_loop(int64_t seconds)
{
    struct hs_etcd_opts o = {.endpoints = endpoints, .timeout_ms = 1000, .connect_timeout_ms = 300};
    struct hs_etcd *e = NULL;
    if (hs_etcd_new(&o, &e) != HS_OK)
        return 2;
    char *prefix = key_of("loop/");
    struct loop_watch lw = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct hs_etcd_watch *w = NULL;
    int64_t start_rev = 0;
    if (hs_etcd_put(e, prefix, "start", 5, 0, &start_rev) != HS_OK ||
        hs_etcd_watch_start(e, prefix, true, start_rev + 1, loop_watch_fn, &lw, &w) != HS_OK)
        return 2;
    int64_t *acked = hs_xcalloc(1, sizeof *acked);
    size_t n_acked = 0;
    int64_t end = hs_clock_mono_ms() + seconds * 1000;
    for (int i = 0; hs_clock_mono_ms() < end; i++) {
        char *k = key_of("loop/%06d", i);
        int64_t rev = 0;
        enum hs_err err = hs_etcd_put(e, k, "v", 1, 0, &rev);
        if (err == HS_OK) {
            acked = hs_xrealloc(acked, (n_acked + 1) * sizeof *acked);
            acked[n_acked++] = rev;
            printf("ok t_ms=%lld i=%d rev=%lld\n", (long long)hs_clock_mono_ms(), i,
                   (long long)rev);
        } else {
            printf("fail t_ms=%lld i=%d err=%s\n", (long long)hs_clock_mono_ms(), i,
                   hs_err_name(err));
        }
        fflush(stdout);
        free(k);
        hs_clock_sleep_ms(10, NULL);
    }
    printf("loop_done acked=%zu\n", n_acked);
    bool ordered = false, covered = false;
    for (int i = 0; i < 300 && !covered; i++) {
        covered = loop_watch_covers(&lw, acked, n_acked, &ordered);
        if (!covered)
            hs_clock_sleep_ms(100, NULL);
    }
    hs_etcd_watch_stop(w);
    printf("watch covered=%d ordered=%d events=%zu\n", covered, ordered, lw.n);
    hs_etcd_delete(e, prefix, true, NULL);
    hs_etcd_free(e);
    free(lw.revs);
    free(acked);
    free(prefix);
    return covered && ordered && n_acked > 0 ? 0 : 1;
}

/* A port whose kernel accepts connections that nobody ever serves: what a SIGSTOPped etcd
 * member looks like to a client. *fd_out must be closed by the caller. */
static int hung_port(int *fd_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *fd_out = fd;
    return ntohs(sa.sin_port);
}

static void hung_first_endpoint_is_skipped_by_calls_and_watch(void **state)
{
    (void)state;
    int fd1, fd2;
    char *list = hs_xasprintf("http://127.0.0.1:%d,%s", hung_port(&fd1), endpoints);
    struct hs_etcd_opts o = {.endpoints = list, .timeout_ms = 500};
    struct hs_etcd *e2 = NULL;
    assert_int_equal(hs_etcd_new(&o, &e2), HS_OK);
    char *prefix = key_of("hung/"), *k = key_of("hung/k");
    int64_t t0 = hs_clock_mono_ms();
    assert_int_equal(hs_etcd_put(e2, k, "v", 1, 0, NULL), HS_OK); /* one timeout, then failover */
    int64_t first_ms = hs_clock_mono_ms() - t0;
    assert_true(first_ms >= 400 && first_ms < 3000);
    t0 = hs_clock_mono_ms();
    assert_int_equal(hs_etcd_put(e2, k, "w", 1, 0, NULL), HS_OK); /* remembered: no timeout */
    assert_true(hs_clock_mono_ms() - t0 < 300);
    /* a watch that starts on the hung endpoint moves on once creation is not confirmed */
    struct collector col = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct hs_etcd_watch *w = NULL;
    atomic_store(&e2->preferred, 0);
    int64_t rev = 0;
    assert_int_equal(hs_etcd_put(etcd, k, "x", 1, 0, &rev), HS_OK);
    assert_int_equal(hs_etcd_watch_start(e2, prefix, true, rev, collect_fn, &col, &w), HS_OK);
    assert_true(wait_collected(&col, 1));
    assert_int_equal(col.mod_rev[0], rev);
    hs_etcd_watch_stop(w);
    hs_etcd_free(e2);
    free(list);
    /* only the hung endpoint: a blocked campaign still ends promptly when cancelled */
    list = hs_xasprintf("http://127.0.0.1:%d", hung_port(&fd2));
    o = (struct hs_etcd_opts){.endpoints = list};
    assert_int_equal(hs_etcd_new(&o, &e2), HS_OK);
    struct campaigner c = {.name = prefix, .lease = 1, .value = "x"};
    etcd_for_campaign = e2;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, campaign_thread, &c), 0);
    hs_clock_sleep_ms(500, NULL);
    assert_false(__atomic_load_n(&c.done, __ATOMIC_ACQUIRE));
    t0 = hs_clock_mono_ms();
    hs_stop_set(&c.cancel);
    pthread_join(t, NULL);
    etcd_for_campaign = NULL;
    assert_int_equal(c.err, HS_ETIMEDOUT);
    assert_true(c.returned_ms - t0 < 500);
    hs_etcd_free(e2);
    close(fd1);
    close(fd2);
    free(list);
    free(prefix);
    free(k);
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

int main(int argc, char **argv)
{
    endpoints = getenv("HS_TEST_ETCD_ENDPOINTS");
    if (!endpoints || !*endpoints) {
        fprintf(stderr, "HS_TEST_ETCD_ENDPOINTS is not set\n");
        return 2;
    }
    snprintf(run_prefix, sizeof run_prefix, "/hybridstore/test/live-%ld-%lld/", (long)getpid(),
             (long long)hs_clock_wall_ms());
    if (argc == 3 && strcmp(argv[1], "put-loop") == 0)
        return put_loop(strtoll(argv[2], NULL, 10));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_get_delete_roundtrip),
        cmocka_unit_test(prefix_paging_reads_250_keys_at_one_revision),
        cmocka_unit_test(txn_create_if_absent_succeeds_once),
        cmocka_unit_test(txn_mod_revision_cas_rejects_stale_writer),
        cmocka_unit_test(txn_wal_commit_moves_intent_once),
        cmocka_unit_test(lease_revoke_removes_key_and_keepalive_is_enoent),
        cmocka_unit_test(keeper_keeps_2s_lease_for_5s_while_unkept_lease_expires),
        cmocka_unit_test(watch_sees_changes_in_order_and_resumes_without_gaps),
        cmocka_unit_test(campaign_second_waits_until_first_resigns_and_cancel_aborts),
        cmocka_unit_test(failover_skips_a_dead_first_endpoint),
        cmocka_unit_test(hung_first_endpoint_is_skipped_by_calls_and_watch),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
