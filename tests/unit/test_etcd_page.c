/* test_etcd_page.c - bounded paging of hs_etcd_range_scan against a simulated etcd 3.4: the fake
 * gRPC server (fake_grpc.c) serves ranges from a sorted key array with etcd's semantics (limit,
 * count of the whole range, more, one revision) and adds up what etcd 3.4 would walk per request
 * (every key of the range, whatever the limit). Every scan must visit each key once, in order, and
 * walk O(keys) in total, for uniform, clustered, long-prefix and binary key sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_grpc.h"
#include "hs/etcd.h"
#include "hs/mem.h"
#include "meta/etcd_int.h"
#include "hs/banned.h"

struct sim {
    char **keys; /* sorted (byte order), heap */
    size_t n;
    int64_t requests;
    int64_t walked; /* keys etcd 3.4 visits: every key of every range asked */
    int64_t max_walked;
};

static struct sim sim;

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b); /* keys hold no NUL: byte order */
}

/* First index whose key is >= k (k: len bytes, may hold NULs). */
static size_t lower_bound(const uint8_t *k, size_t len)
{
    size_t lo = 0, hi = sim.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        size_t ml = strlen(sim.keys[mid]);
        int c = memcmp(sim.keys[mid], k, ml < len ? ml : len);
        if (c == 0)
            c = ml < len ? -1 : ml > len;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void sim_handler(void *ctx, struct fake_grpc_call *call)
{
    (void)ctx;
    assert_string_equal(call->path, "/etcdserverpb.KV/Range");
    Hsetcd__RangeRequest *q = hsetcd__range_request__unpack(NULL, call->req_len, call->req);
    assert_non_null(q);
    size_t limit = (size_t)q->limit;
    size_t lo = lower_bound(q->key.data, q->key.len);
    size_t hi = q->range_end.len == 1 && q->range_end.data[0] == 0
                    ? sim.n
                    : lower_bound(q->range_end.data, q->range_end.len);
    if (hi < lo)
        hi = lo;
    size_t count = hi - lo, n = limit && limit < count ? limit : count;
    sim.requests++;
    sim.walked += (int64_t)count;
    if ((int64_t)count > sim.max_walked)
        sim.max_walked = (int64_t)count;
    Hsetcd__Header h;
    hsetcd__header__init(&h);
    h.revision = 7;
    Hsetcd__KeyValue *kv = hs_xcalloc(n ? n : 1, sizeof *kv);
    Hsetcd__KeyValue **ptrs = hs_xcalloc(n ? n : 1, sizeof *ptrs);
    for (size_t i = 0; i < n; i++) {
        hsetcd__key_value__init(&kv[i]);
        kv[i].key = (ProtobufCBinaryData){strlen(sim.keys[lo + i]), (uint8_t *)sim.keys[lo + i]};
        kv[i].value = (ProtobufCBinaryData){1, (uint8_t *)"v"};
        ptrs[i] = &kv[i];
    }
    Hsetcd__RangeResponse r;
    hsetcd__range_response__init(&r);
    r.header = &h;
    r.kvs = ptrs;
    r.n_kvs = n;
    r.count = (int64_t)count;
    r.more = n < count;
    fake_grpc_add(call, &r.base);
    free(kv);
    free(ptrs);
    hsetcd__range_request__free_unpacked(q, NULL);
}

static struct fake_grpc *server;

static void sim_load(char **keys, size_t n)
{
    qsort(keys, n, sizeof *keys, key_cmp);
    size_t w = 0; /* drop duplicates */
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && strcmp(keys[w - 1], keys[i]) == 0)
            free(keys[i]);
        else
            keys[w++] = keys[i];
    }
    sim = (struct sim){.keys = keys, .n = w};
}

static void sim_free(void)
{
    for (size_t i = 0; i < sim.n; i++)
        free(sim.keys[i]);
    free(sim.keys);
    memset(&sim, 0, sizeof sim);
}

static void sim_reset_counters(void)
{
    sim.requests = sim.walked = sim.max_walked = 0;
}

struct visit {
    size_t next; /* index in sim.keys of the key expected next */
    size_t seen;
    size_t stop_at; /* 0 = never stop */
    char *last;
};

static bool visit_fn(void *ctx, const struct hs_etcd_kv *kv)
{
    struct visit *v = ctx;
    assert_true(v->next < sim.n);
    assert_string_equal(kv->key, sim.keys[v->next]);
    v->next++;
    v->seen++;
    free(v->last);
    v->last = hs_xstrdup(kv->key);
    return v->stop_at == 0 || v->seen < v->stop_at;
}

static struct hs_etcd *client(void)
{
    struct hs_etcd *e = NULL;
    if (!server)
        server = fake_grpc_start(0, sim_handler, NULL);
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", fake_grpc_port(server));
    struct hs_etcd_opts o = {.endpoints = ep, .timeout_ms = 10000};
    assert_int_equal(hs_etcd_new(&o, &e), HS_OK);
    return e;
}

/* Scans prefix (keys of sim all under it) and checks: every key once, in order; etcd's total
 * walk within a few times the key count plus one full pass for the first, open-ended page. */
static void scan_all_and_check(const char *prefix, int64_t page)
{
    struct hs_etcd *e = client();
    struct visit v = {0};
    sim_reset_counters();
    struct hs_etcd_scan s = {.prefix = prefix, .page_size = page, .keys_only = true};
    int64_t rev = 0;
    assert_int_equal(hs_etcd_range_scan(e, &s, visit_fn, &v, &rev), HS_OK);
    assert_int_equal(v.seen, sim.n);
    assert_int_equal(rev, 7);
    int64_t n = (int64_t)sim.n;
    print_message("prefix='%s' keys=%zu page=%lld requests=%lld walked=%lld (%.2f per key) "
                  "max=%lld\n",
                  prefix, sim.n, (long long)page, (long long)sim.requests, (long long)sim.walked,
                  (double)sim.walked / (double)(n ? n : 1), (long long)sim.max_walked);
    /* open-ended paging would walk about n * n / (2 * page) */
    assert_true(sim.walked <= 6 * n + 64 * page);
    assert_true(sim.requests <= 8 * (n / page) + 64);
    free(v.last);
    hs_etcd_free(e);
}

static char **gen(size_t n, const char *fmt_prefix, unsigned mode, unsigned seed)
{
    char **keys = hs_xcalloc(n, sizeof *keys);
    srandom(seed);
    for (size_t i = 0; i < n; i++) {
        char tail[64];
        switch (mode) {
        case 0: /* counters */
            snprintf(tail, sizeof tail, "obj-%06zu", i);
            break;
        case 1: /* long shared structure: dates and counters */
            snprintf(tail, sizeof tail, "photos/2024/%02zu/%02zu/img_%06zu.jpg", i % 12 + 1,
                     i % 28 + 1, i);
            break;
        case 2: { /* random bytes 1..255, random length (keys are C strings) */
            size_t len = 1 + (size_t)random() % 20;
            for (size_t j = 0; j < len; j++)
                tail[j] = (char)(1 + random() % 255);
            tail[len] = '\0';
            break;
        }
        case 4: /* unpadded counters, as `hybridstore bench` names its keys */
            snprintf(tail, sizeof tail, "bench/c83853621e582cb3/%zu", i);
            break;
        default: /* three clusters of very different density */
            if (i % 3 == 0)
                snprintf(tail, sizeof tail, "a/%zu", i);
            else if (i % 3 == 1)
                snprintf(tail, sizeof tail, "user:%08lx", (unsigned long)random());
            else
                snprintf(tail, sizeof tail, "\xff\xfe/%zu", i * 7919 % 100003);
            break;
        }
        keys[i] = hs_xasprintf("%s%s", fmt_prefix, tail);
    }
    return keys;
}

static void scan_of_counter_keys_walks_each_key_a_few_times(void **state)
{
    (void)state;
    sim_load(gen(20000, "/hs/meta/", 0, 1), 20000);
    scan_all_and_check("/hs/meta/", 500);
    sim_free();
}

static void scan_of_keys_with_long_common_parts_walks_each_key_a_few_times(void **state)
{
    (void)state;
    sim_load(gen(20000, "/hs/meta/", 1, 2), 20000);
    scan_all_and_check("/hs/meta/", 500);
    sim_free();
}

static void scan_of_random_binary_keys_walks_each_key_a_few_times(void **state)
{
    (void)state;
    sim_load(gen(20000, "/hs/meta/", 2, 3), 20000);
    scan_all_and_check("/hs/meta/", 500);
    scan_all_and_check("/hs/meta/", 7);
    sim_free();
}

static void scan_of_clusters_of_different_density_walks_each_key_a_few_times(void **state)
{
    (void)state;
    sim_load(gen(30000, "/hs/meta/", 3, 4), 30000);
    scan_all_and_check("/hs/meta/", 500);
    sim_free();
}

static void small_prefix_is_read_in_one_request_and_other_prefixes_are_not_seen(void **state)
{
    (void)state;
    char **keys = hs_xcalloc(5, sizeof *keys);
    keys[0] = hs_xstrdup("/hs/meta/a");
    keys[1] = hs_xstrdup("/hs/meta/b");
    keys[2] = hs_xstrdup("/hs/nodes/n1");
    keys[3] = hs_xstrdup("/hs/nodes/n2");
    keys[4] = hs_xstrdup("/hs/txn/1");
    sim_load(keys, 5);
    struct hs_etcd *e = client();
    struct visit v = {.next = 2};
    sim_reset_counters();
    struct hs_etcd_scan s = {.prefix = "/hs/nodes/"};
    assert_int_equal(hs_etcd_range_scan(e, &s, visit_fn, &v, NULL), HS_OK);
    assert_int_equal(v.seen, 2);
    assert_int_equal(sim.requests, 1);
    /* the whole keyspace ("" prefix) */
    free(v.last); /* a new visit: the last one's key is not needed */

    v = (struct visit){0};
    s.prefix = "";
    s.page_size = 2;
    assert_int_equal(hs_etcd_range_scan(e, &s, visit_fn, &v, NULL), HS_OK);
    assert_int_equal(v.seen, 5);
    free(v.last);
    hs_etcd_free(e);
    sim_free();
}

/* Scans all of /hs/meta/ as a caller that reads `slice` keys per scan and resumes after its
 * cursor with the pace kept between scans (as the audit does). Returns the number of scans. */
static int scan_in_slices(struct hs_etcd *e, struct visit *v, size_t slice, int64_t page)
{
    struct hs_etcd_pace pace = {0};
    char *cursor = NULL;
    int rounds = 0;
    for (;;) {
        size_t before = v->seen;
        v->stop_at = v->seen + slice;
        struct hs_etcd_scan s = {
            .prefix = "/hs/meta/", .after = cursor, .page_size = page, .pace = &pace};
        assert_int_equal(hs_etcd_range_scan(e, &s, visit_fn, v, NULL), HS_OK);
        rounds++;
        if (v->seen == before)
            break;
        free(cursor);
        cursor = hs_xstrdup(v->last);
    }
    free(cursor);
    return rounds;
}

static void resumed_scans_continue_strictly_after_the_cursor_and_keep_their_pace(void **state)
{
    (void)state;
    sim_load(gen(20000, "/hs/meta/", 1, 5), 20000);
    struct hs_etcd *e = client();
    struct visit v = {0};
    sim_reset_counters();
    /* 20000 keys in slices of 300: the cursor and the pace survive between scans */
    int rounds = scan_in_slices(e, &v, 300, 100);
    assert_int_equal(v.seen, sim.n);
    print_message("slices=%d requests=%lld walked=%lld max=%lld\n", rounds, (long long)sim.requests,
                  (long long)sim.walked, (long long)sim.max_walked);
    assert_true(sim.walked <= 6 * (int64_t)sim.n + 100 * rounds);
    /* a cold resume (no pace) from the middle probes from narrow ranges: never the rest */
    free(v.last); /* a new visit: the last one's key is not needed */

    v = (struct visit){.next = sim.n / 2 + 1, .stop_at = 100};
    sim_reset_counters();
    struct hs_etcd_scan s = {.prefix = "/hs/meta/", .after = sim.keys[sim.n / 2], .page_size = 100};
    assert_int_equal(hs_etcd_range_scan(e, &s, visit_fn, &v, NULL), HS_OK);
    assert_int_equal(v.seen, 100);
    print_message("cold resume: requests=%lld walked=%lld\n", (long long)sim.requests,
                  (long long)sim.walked);
    assert_true(sim.walked < (int64_t)sim.n / 4);
    /* after the last key, and after every key of the prefix: nothing */
    free(v.last); /* a new visit: the last one's key is not needed */

    v = (struct visit){.next = sim.n};
    s.after = sim.keys[sim.n - 1];
    assert_int_equal(hs_etcd_range_scan(e, &s, visit_fn, &v, NULL), HS_OK);
    s.after = "/hs/meta0";
    assert_int_equal(hs_etcd_range_scan(e, &s, visit_fn, &v, NULL), HS_OK);
    assert_int_equal(v.seen, 0);
    free(v.last);
    hs_etcd_free(e);
    sim_free();
}

/* The audit's pattern: every scan reads exactly one page and stops on its last key, resuming
 * with the cursor and the pace. A full page must still teach the pace, or short pages only
 * ever widen it until the ranges are open-ended and each page walks the rest of the prefix. */
static void one_page_per_scan_keeps_learning_the_pace(void **state)
{
    (void)state;
    for (unsigned mode = 0; mode <= 4; mode++) {
        sim_load(gen(20000, "/hs/meta/", mode, 10 + mode), 20000);
        struct hs_etcd *e = client();
        struct visit v = {0};
        sim_reset_counters();
        int rounds = scan_in_slices(e, &v, 100, 100);
        assert_int_equal(v.seen, sim.n);
        print_message("mode %u: scans=%d requests=%lld walked=%lld (%.2f per key) max=%lld\n", mode,
                      rounds, (long long)sim.requests, (long long)sim.walked,
                      (double)sim.walked / (double)sim.n, (long long)sim.max_walked);
        /* open-ended paging walks about n * n / (2 * page) = 2 000 000 keys here */
        assert_true(sim.walked <= 6 * (int64_t)sim.n + 100 * rounds);
        free(v.last);
        hs_etcd_free(e);
        sim_free();
    }
}

static void page_end_is_after_start_and_never_past_the_final_end(void **state)
{
    (void)state;
    const uint8_t fin[] = "/p0";
    const char *starts[] = {"/p/", "/p/\xff\xff\xff", "/p/a\xff", "/p/abcdefghijklmnopq", "/p/z"};
    uint64_t widths[] = {0, 1, 255, (uint64_t)1 << 56, UINT64_MAX};
    for (size_t i = 0; i < HS_ARRAY_LEN(starts); i++) {
        for (size_t j = 0; j < HS_ARRAY_LEN(widths); j++) {
            for (size_t d = 0; d < 24; d += 3) {
                struct hs_etcd_pace p = {.depth = d, .width = widths[j]};
                uint8_t *end = NULL;
                size_t len = 0, sl = strlen(starts[i]);
                hs_etcd_page_end(&p, (const uint8_t *)starts[i], sl, fin, 3, &end, &len);
                int c = memcmp(end, starts[i], len < sl ? len : sl);
                assert_true(c > 0 || (c == 0 && len > sl));
                c = memcmp(end, fin, len < 3 ? len : 3);
                assert_true(c < 0 || (c == 0 && len <= 3));
                free(end);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scan_of_counter_keys_walks_each_key_a_few_times),
        cmocka_unit_test(scan_of_keys_with_long_common_parts_walks_each_key_a_few_times),
        cmocka_unit_test(scan_of_random_binary_keys_walks_each_key_a_few_times),
        cmocka_unit_test(scan_of_clusters_of_different_density_walks_each_key_a_few_times),
        cmocka_unit_test(small_prefix_is_read_in_one_request_and_other_prefixes_are_not_seen),
        cmocka_unit_test(resumed_scans_continue_strictly_after_the_cursor_and_keep_their_pace),
        cmocka_unit_test(one_page_per_scan_keeps_learning_the_pace),
        cmocka_unit_test(page_end_is_after_start_and_never_past_the_final_end),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fake_grpc_stop(server);
    return rc;
}
