/* test_etcd.c - the etcd gateway client without a network: a fake transport plays canned etcd
 * 3.4 replies (every quirk from the stack notes: omitted zero values, int64 as strings, no
 * "succeeded" on a failed txn, keepalive without TTL, error bodies per gRPC code) and records
 * the requests; the watch stream parser gets lines cut at every byte boundary. */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "meta/etcd_int.h"
#include "hs/banned.h"

#define HDR       "\"header\":{\"cluster_id\":\"14443903163313418560\",\"revision\":\"12\"}"
#define MAX_CALLS 16

struct canned {
    enum hs_err transport_err; /* != HS_OK: no HTTP reply */
    long status;
    const char *body;
};

struct fake {
    pthread_mutex_t mu;
    const struct canned *script;
    size_t n_script;
    size_t calls;
    char endpoint[MAX_CALLS][64];
    char path[MAX_CALLS][64];
    json_t *body[MAX_CALLS];
};

static struct fake fake = {.mu = PTHREAD_MUTEX_INITIALIZER};
static struct hs_etcd *etcd;

/* Replays the script in order; the last entry repeats when the script runs out. */
static enum hs_err fake_transport(void *ctx, const char *endpoint, const char *path,
                                  const char *body, size_t body_len, int64_t timeout_ms,
                                  struct hs_buf *reply, long *status)
{
    struct fake *f = ctx;
    (void)timeout_ms;
    pthread_mutex_lock(&f->mu);
    size_t i = f->calls++;
    if (i < MAX_CALLS) {
        snprintf(f->endpoint[i], sizeof f->endpoint[i], "%s", endpoint);
        snprintf(f->path[i], sizeof f->path[i], "%s", path);
        f->body[i] = json_loadb(body, body_len, 0, NULL);
    }
    const struct canned *c = &f->script[i < f->n_script ? i : f->n_script - 1];
    pthread_mutex_unlock(&f->mu);
    if (c->transport_err != HS_OK)
        return c->transport_err;
    *status = c->status;
    return hs_buf_append(reply, c->body, strlen(c->body));
}

#define PLAY(...)                                                                                  \
    do {                                                                                           \
        static const struct canned script_[] = {__VA_ARGS__};                                      \
        fake.script = script_;                                                                     \
        fake.n_script = HS_ARRAY_LEN(script_);                                                     \
    } while (0)

static void fake_reset(void)
{
    for (size_t i = 0; i < MAX_CALLS; i++) {
        json_decref(fake.body[i]);
        fake.body[i] = NULL;
    }
    fake.calls = 0;
    fake.script = NULL;
    fake.n_script = 0;
}

static int client_setup(void **state)
{
    (void)state;
    fake_reset();
    struct hs_etcd_opts o = {
        .endpoints = "http://a:1, b:2/", .transport = fake_transport, .transport_ctx = &fake};
    return hs_etcd_new(&o, &etcd) == HS_OK ? 0 : -1;
}

static int client_teardown(void **state)
{
    (void)state;
    hs_etcd_free(etcd);
    etcd = NULL;
    fake_reset();
    return 0;
}

/* The string member name of recorded request i ("" when absent). */
static const char *req_str(size_t i, const char *name)
{
    const json_t *v = json_object_get(fake.body[i], name);
    return json_is_string(v) ? json_string_value(v) : "";
}

static void get_of_missing_key_has_no_kvs_and_no_count(void **state)
{
    (void)state;
    PLAY({HS_OK, 200, "{" HDR "}"});
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(etcd, "foo", &kvs), HS_OK);
    assert_int_equal(kvs.n, 0);
    assert_int_equal(kvs.count, 0);
    assert_false(kvs.more);
    assert_int_equal(kvs.revision, 12);
    hs_etcd_kvs_release(&kvs);
    assert_string_equal(fake.path[0], "/v3/kv/range");
    assert_string_equal(fake.endpoint[0], "http://a:1");
    assert_string_equal(req_str(0, "key"), "Zm9v");
    assert_null(json_object_get(fake.body[0], "range_end"));
}

static void get_decodes_base64_and_int64_strings_and_numbers(void **state)
{
    (void)state;
    PLAY({HS_OK, 200,
          "{" HDR ",\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":3,"
          "\"version\":\"2\",\"value\":\"YmFyMg==\",\"lease\":\"7587869000000001\"}],"
          "\"count\":\"1\"}"});
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(etcd, "foo", &kvs), HS_OK);
    assert_int_equal(kvs.n, 1);
    assert_int_equal(kvs.count, 1);
    assert_string_equal(kvs.kvs[0].key, "foo");
    assert_int_equal(kvs.kvs[0].value_len, 4);
    assert_string_equal((char *)kvs.kvs[0].value, "bar2");
    assert_int_equal(kvs.kvs[0].create_revision, 2);
    assert_int_equal(kvs.kvs[0].mod_revision, 3);
    assert_int_equal(kvs.kvs[0].version, 2);
    assert_int_equal(kvs.kvs[0].lease, 7587869000000001LL);
    hs_etcd_kvs_release(&kvs);
}

static void kv_with_omitted_fields_reads_as_zero_and_empty_value(void **state)
{
    (void)state;
    /* keys_only reply and an empty value: "value" and zero fields are omitted */
    PLAY({HS_OK, 200,
          "{" HDR ",\"kvs\":[{\"key\":\"YQ==\",\"mod_revision\":\"4\"}],\"count\":\"1\"}"});
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(etcd, "a", &kvs), HS_OK);
    assert_int_equal(kvs.n, 1);
    assert_non_null(kvs.kvs[0].value);
    assert_int_equal(kvs.kvs[0].value_len, 0);
    assert_int_equal(kvs.kvs[0].version, 0);
    assert_int_equal(kvs.kvs[0].lease, 0);
    assert_int_equal(kvs.kvs[0].create_revision, 0);
    hs_etcd_kvs_release(&kvs);
}

static void malformed_range_replies_are_eproto_and_leave_out_untouched(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "not json",
        "[1,2]",
        "{" HDR ",\"kvs\":{}}",
        "{\"header\":{\"revision\":\"12x\"}}",
        "{\"header\":{\"revision\":true}}",
        "{" HDR ",\"kvs\":[{\"key\":\"!!!!\"}]}",
        "{" HDR ",\"kvs\":[{\"key\":\"YQ=\"}]}",
        "{" HDR ",\"kvs\":[{\"key\":\"YQ==\",\"version\":\"99999999999999999999999\"}]}",
        "{" HDR ",\"more\":\"yes\"}",
        "{" HDR ",\"kvs\":[7]}",
    };
    for (size_t i = 0; i < HS_ARRAY_LEN(bad); i++) {
        struct hs_etcd_kvs kvs = {.n = 77};
        assert_int_equal(hs_etcd_parse_range_reply(bad[i], strlen(bad[i]), &kvs), HS_EPROTO);
        assert_int_equal(kvs.n, 77);
    }
    PLAY({HS_OK, 200, "{\"header\":"});
    struct hs_etcd_kvs kvs = {.n = 5};
    assert_int_equal(hs_etcd_get(etcd, "a", &kvs), HS_EPROTO);
    assert_int_equal(kvs.n, 5);
    assert_int_equal(fake.calls, 1); /* a malformed reply is not retried elsewhere */
}

static void range_request_carries_every_option_with_int64_as_strings(void **state)
{
    (void)state;
    PLAY({HS_OK, 200, "{" HDR ",\"count\":\"3\"}"}, {HS_OK, 200, "{" HDR "}"});
    struct hs_etcd_range_req req = {.key = "meta/",
                                    .prefix = true,
                                    .limit = 2,
                                    .revision = 9,
                                    .count_only = true,
                                    .serializable = true};
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_range(etcd, &req, &kvs), HS_OK);
    assert_int_equal(kvs.count, 3);
    assert_int_equal(kvs.n, 0);
    hs_etcd_kvs_release(&kvs);
    assert_string_equal(req_str(0, "key"), "bWV0YS8=");
    assert_string_equal(req_str(0, "range_end"), "bWV0YTA=");
    assert_string_equal(req_str(0, "limit"), "2");
    assert_string_equal(req_str(0, "revision"), "9");
    assert_true(json_is_true(json_object_get(fake.body[0], "count_only")));
    assert_true(json_is_true(json_object_get(fake.body[0], "serializable")));
    assert_null(json_object_get(fake.body[0], "keys_only"));
    /* whole keyspace: key = range_end = "\0" (an empty key is refused by etcd) */
    req = (struct hs_etcd_range_req){.key = "", .prefix = true};
    assert_int_equal(hs_etcd_range(etcd, &req, &kvs), HS_OK);
    hs_etcd_kvs_release(&kvs);
    assert_string_equal(req_str(1, "key"), "AA==");
    assert_string_equal(req_str(1, "range_end"), "AA==");
}

struct walk {
    char keys[8][16];
    int n;
    int stop_after;
};

static bool walk_fn(void *ctx, const struct hs_etcd_kv *kv)
{
    struct walk *w = ctx;
    assert_true(w->n < 8);
    snprintf(w->keys[w->n++], sizeof w->keys[0], "%s", kv->key);
    return w->n != w->stop_after;
}

static void prefix_paging_continues_after_last_key_at_first_revision(void **state)
{
    (void)state;
    /* meta/a meta/b | meta/c meta/d | meta/e */
    PLAY({HS_OK, 200,
          "{\"header\":{\"revision\":\"40\"},\"kvs\":[{\"key\":\"bWV0YS9h\"},{\"key\":\"bWV0YS9i\"}"
          "],"
          "\"more\":true,\"count\":\"5\"}"},
         {HS_OK, 200,
          "{\"header\":{\"revision\":\"41\"},\"kvs\":[{\"key\":\"bWV0YS9j\"},{\"key\":\"bWV0YS9k\"}"
          "],"
          "\"more\":true,\"count\":\"3\"}"},
         {HS_OK, 200,
          "{\"header\":{\"revision\":\"41\"},\"kvs\":[{\"key\":\"bWV0YS9l\"}],\"count\":\"1\"}"},
         /* bounded pages: a short page ends the scan only at the prefix end; the empty
          * replies that follow widen the range until it gets there */
         {HS_OK, 200, "{\"header\":{\"revision\":\"41\"}}"});
    struct walk w = {0};
    int64_t rev = 0;
    assert_int_equal(hs_etcd_range_prefix_each(etcd, "meta/", 2, true, walk_fn, &w, &rev), HS_OK);
    assert_int_equal(w.n, 5);
    assert_string_equal(w.keys[0], "meta/a");
    assert_string_equal(w.keys[4], "meta/e");
    assert_int_equal(rev, 40);
    assert_string_equal(req_str(0, "key"), "bWV0YS8=");       /* "meta/" */
    assert_string_equal(req_str(0, "range_end"), "bWV0YTA="); /* "meta0" */
    assert_string_equal(req_str(0, "limit"), "2");
    assert_null(json_object_get(fake.body[0], "revision"));
    assert_true(json_is_true(json_object_get(fake.body[0], "keys_only")));
    assert_string_equal(req_str(1, "key"), "bWV0YS9iAA=="); /* "meta/b\0" */
    assert_string_equal(req_str(1, "revision"), "40");
    /* the second page is bounded: it ends before the prefix end "meta0" */
    assert_string_not_equal(req_str(1, "range_end"), "bWV0YTA=");
    assert_string_equal(req_str(2, "key"), "bWV0YS9kAA==");
    assert_string_equal(req_str(2, "revision"), "40");
    assert_true(fake.calls >= 3 && fake.calls <= 40);
}

static void prefix_paging_stops_when_callback_says_so(void **state)
{
    (void)state;
    PLAY({HS_OK, 200,
          "{\"header\":{\"revision\":\"40\"},\"kvs\":[{\"key\":\"bWV0YS9h\"},{\"key\":\"bWV0YS9i\"}"
          "],"
          "\"more\":true}"});
    struct walk w = {.stop_after = 1};
    assert_int_equal(hs_etcd_range_prefix_each(etcd, "meta/", 2, false, walk_fn, &w, NULL), HS_OK);
    assert_int_equal(w.n, 1);
    assert_int_equal(fake.calls, 1);
}

static void prefix_paging_that_does_not_advance_is_eproto(void **state)
{
    (void)state;
    /* a hostile server answering "more" with a key before the start would loop forever */
    PLAY({HS_OK, 200,
          "{\"header\":{\"revision\":\"9\"},\"kvs\":[{\"key\":\"YQ==\"}],\"more\":true}"});
    struct walk w = {0};
    assert_int_equal(hs_etcd_range_prefix_each(etcd, "b", 1, false, walk_fn, &w, NULL), HS_EPROTO);
}

static void compacted_snapshot_between_pages_is_econflict(void **state)
{
    (void)state;
    PLAY({HS_OK, 200,
          "{\"header\":{\"revision\":\"40\"},\"kvs\":[{\"key\":\"bWV0YS9h\"}],\"more\":true}"},
         {HS_OK, 400,
          "{\"error\":\"etcdserver: mvcc: required revision has been compacted\",\"code\":11}"});
    struct walk w = {0};
    assert_int_equal(hs_etcd_range_prefix_each(etcd, "meta/", 1, false, walk_fn, &w, NULL),
                     HS_ECONFLICT);
}

static void put_sends_base64_and_lease_string_and_returns_revision(void **state)
{
    (void)state;
    PLAY({HS_OK, 200, "{\"header\":{\"revision\":\"77\"}}"});
    int64_t rev = 0;
    assert_int_equal(hs_etcd_put(etcd, "nodes/n1", "alive", 5, 2228897083168960818LL, &rev), HS_OK);
    assert_int_equal(rev, 77);
    assert_string_equal(fake.path[0], "/v3/kv/put");
    assert_string_equal(req_str(0, "key"), "bm9kZXMvbjE=");
    assert_string_equal(req_str(0, "value"), "YWxpdmU=");
    assert_string_equal(req_str(0, "lease"), "2228897083168960818");
}

static void put_with_missing_lease_is_enoent_without_retry(void **state)
{
    (void)state;
    PLAY({HS_OK, 404,
          "{\"error\":\"etcdserver: requested lease not found\",\"message\":\"etcdserver: "
          "requested lease not found\",\"code\":5}"});
    int64_t rev = 99;
    assert_int_equal(hs_etcd_put(etcd, "k", "v", 1, 5, &rev), HS_ENOENT);
    assert_int_equal(rev, 99);
    assert_int_equal(fake.calls, 1);
}

static void delete_prefix_sends_range_end_and_omitted_deleted_is_zero(void **state)
{
    (void)state;
    PLAY({HS_OK, 200, "{" HDR ",\"deleted\":\"2\"}"}, {HS_OK, 200, "{" HDR "}"});
    int64_t deleted = -1;
    assert_int_equal(hs_etcd_delete(etcd, "meta/", true, &deleted), HS_OK);
    assert_int_equal(deleted, 2);
    assert_string_equal(fake.path[0], "/v3/kv/deleterange");
    assert_string_equal(req_str(0, "range_end"), "bWV0YTA=");
    assert_int_equal(hs_etcd_delete(etcd, "nosuch", false, &deleted), HS_OK);
    assert_int_equal(deleted, 0);
    assert_null(json_object_get(fake.body[1], "range_end"));
}

static void txn_failed_compare_without_succeeded_runs_failure_ranges(void **state)
{
    (void)state;
    PLAY({HS_OK, 200,
          "{" HDR ",\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"12\"},"
          "\"kvs\":[{\"key\":\"b2JqLzE=\",\"create_revision\":\"12\",\"mod_revision\":\"12\","
          "\"version\":\"1\",\"value\":\"djE=\"}],\"count\":\"1\"}}]}"});
    struct hs_etcd_cmp cmp = {
        .target = HS_ETCD_CMP_CREATE, .result = HS_ETCD_EQUAL, .key = "obj/1"};
    struct hs_etcd_op put = {.type = HS_ETCD_OP_PUT, .key = "obj/1", .value = "v2", .value_len = 2};
    struct hs_etcd_op get = {.type = HS_ETCD_OP_RANGE, .key = "obj/1"};
    struct hs_etcd_txn txn = {&cmp, 1, &put, 1, &get, 1};
    struct hs_etcd_txn_result r;
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_OK);
    assert_false(r.succeeded);
    assert_int_equal(r.revision, 12);
    assert_int_equal(r.n_ranges, 1);
    assert_int_equal(r.ranges[0].n, 1);
    assert_string_equal((char *)r.ranges[0].kvs[0].value, "v1");
    hs_etcd_txn_result_release(&r);
    /* the request: names for enums, create_revision as a string, ops wrapped by kind */
    const json_t *c0 = json_array_get(json_object_get(fake.body[0], "compare"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "target")), "CREATE");
    assert_string_equal(json_string_value(json_object_get(c0, "result")), "EQUAL");
    assert_string_equal(json_string_value(json_object_get(c0, "create_revision")), "0");
    assert_string_equal(json_string_value(json_object_get(c0, "key")), "b2JqLzE=");
    const json_t *s0 = json_array_get(json_object_get(fake.body[0], "success"), 0);
    assert_non_null(json_object_get(s0, "request_put"));
    const json_t *f0 = json_array_get(json_object_get(fake.body[0], "failure"), 0);
    assert_non_null(json_object_get(f0, "request_range"));
}

static void txn_success_collects_range_results_in_op_order(void **state)
{
    (void)state;
    /* put, range (found), delete, range (nothing: only a header), range (response omitted) */
    PLAY(
        {HS_OK, 200,
         "{" HDR ",\"succeeded\":true,\"responses\":[{\"response_put\":{\"header\":{}}},"
         "{\"response_range\":{\"kvs\":[{\"key\":\"YQ==\",\"value\":\"MQ==\"}],\"count\":\"1\"}},"
         "{\"response_delete_range\":{\"deleted\":\"1\"}},{\"response_range\":{\"header\":{}}}]}"});
    struct hs_etcd_op ops[5] = {
        {.type = HS_ETCD_OP_PUT, .key = "p", .value = "x", .value_len = 1},
        {.type = HS_ETCD_OP_RANGE, .key = "a"},
        {.type = HS_ETCD_OP_DELETE, .key = "d", .prefix = true},
        {.type = HS_ETCD_OP_RANGE, .key = "b"},
        {.type = HS_ETCD_OP_RANGE, .key = "c", .prefix = true},
    };
    struct hs_etcd_cmp cmps[3] = {
        {.target = HS_ETCD_CMP_MOD, .result = HS_ETCD_LESS, .key = "m", .number = 12},
        {.target = HS_ETCD_CMP_VALUE,
         .result = HS_ETCD_NOT_EQUAL,
         .key = "v",
         .value = "ab",
         .value_len = 2},
        {.target = HS_ETCD_CMP_LEASE, .result = HS_ETCD_GREATER, .key = "l", .number = 7}};
    struct hs_etcd_txn txn = {cmps, 3, ops, 5, NULL, 0};
    struct hs_etcd_txn_result r;
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_OK);
    assert_true(r.succeeded);
    assert_int_equal(r.n_ranges, 3);
    assert_int_equal(r.ranges[0].n, 1);
    assert_string_equal(r.ranges[0].kvs[0].key, "a");
    assert_int_equal(r.ranges[1].n, 0);
    assert_int_equal(r.ranges[2].n, 0);
    hs_etcd_txn_result_release(&r);
    const json_t *cmp = json_object_get(fake.body[0], "compare");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cmp, 0), "mod_revision")),
                        "12");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cmp, 1), "value")),
                        "YWI=");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cmp, 1), "result")),
                        "NOT_EQUAL");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cmp, 2), "lease")), "7");
    const json_t *del = json_object_get(json_array_get(json_object_get(fake.body[0], "success"), 2),
                                        "request_delete_range");
    assert_string_equal(json_string_value(json_object_get(del, "range_end")), "ZQ==");
}

static void txn_is_not_retried_after_a_timeout_but_is_after_unsent(void **state)
{
    (void)state;
    struct hs_etcd_op put = {.type = HS_ETCD_OP_PUT, .key = "k", .value = "v", .value_len = 1};
    struct hs_etcd_txn txn = {NULL, 0, &put, 1, NULL, 0};
    struct hs_etcd_txn_result r = {.revision = 5};
    PLAY({HS_ETIMEDOUT, 0, NULL}, {HS_OK, 200, "{" HDR ",\"succeeded\":true}"});
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_ETIMEDOUT);
    assert_int_equal(r.revision, 5);
    assert_int_equal(fake.calls, 1);
    /* the next call starts at the other endpoint */
    fake_reset();
    PLAY({HS_EUNAVAIL, 0, NULL}, {HS_OK, 200, "{" HDR ",\"succeeded\":true}"});
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_OK);
    assert_true(r.succeeded);
    assert_int_equal(fake.calls, 2);
    assert_string_equal(fake.endpoint[0], "http://b:2");
    assert_string_equal(fake.endpoint[1], "http://a:1");
    hs_etcd_txn_result_release(&r);
    /* 503 "request timed out" may still commit: a txn is not sent again */
    fake_reset();
    PLAY({HS_OK, 503, "{\"error\":\"etcdserver: request timed out\",\"code\":14}"});
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_EUNAVAIL);
    assert_int_equal(fake.calls, 1);
}

static void failover_to_second_endpoint_is_remembered(void **state)
{
    (void)state;
    PLAY({HS_EUNAVAIL, 0, NULL}, {HS_OK, 200, "{" HDR "}"});
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(etcd, "k", &kvs), HS_OK);
    hs_etcd_kvs_release(&kvs);
    assert_int_equal(fake.calls, 2);
    assert_string_equal(fake.endpoint[0], "http://a:1");
    assert_string_equal(fake.endpoint[1], "http://b:2"); /* "b:2/" normalised */
    assert_int_equal(hs_etcd_get(etcd, "k", &kvs), HS_OK);
    hs_etcd_kvs_release(&kvs);
    assert_int_equal(fake.calls, 3);
    assert_string_equal(fake.endpoint[2], "http://b:2");
}

static void idempotent_put_is_retried_after_timeout_and_503(void **state)
{
    (void)state;
    PLAY({HS_ETIMEDOUT, 0, NULL},
         {HS_OK, 503,
          "{\"error\":\"etcdserver: request timed out\","
          "\"message\":\"x\",\"code\":14}"},
         {HS_OK, 200, "{\"header\":{\"revision\":\"3\"}}"});
    int64_t rev = 0;
    assert_int_equal(hs_etcd_put(etcd, "k", "v", 1, 0, &rev), HS_OK);
    assert_int_equal(rev, 3);
    assert_int_equal(fake.calls, 3); /* a, b, then a again */
    assert_string_equal(fake.endpoint[2], "http://a:1");
}

static void every_endpoint_down_gives_eunavail_after_bounded_attempts(void **state)
{
    (void)state;
    PLAY({HS_EUNAVAIL, 0, NULL});
    struct hs_etcd_kvs kvs = {.n = 3};
    assert_int_equal(hs_etcd_get(etcd, "k", &kvs), HS_EUNAVAIL);
    assert_int_equal(kvs.n, 3);
    assert_int_equal(fake.calls, 3); /* two endpoints + one more round */
}

static void error_bodies_map_per_grpc_code(void **state)
{
    (void)state;
    static const struct {
        long status;
        const char *body;
        enum hs_err want;
        bool retry;
    } cases[] = {
        {404, "{\"error\":\"etcdserver: requested lease not found\",\"code\":5}", HS_ENOENT, false},
        {429, "{\"error\":\"etcdserver: mvcc: database space exceeded\",\"code\":8}", HS_ENOSPC,
         false},
        {400, "{\"error\":\"etcdserver: too many operations in txn request\",\"code\":3}",
         HS_EINVAL, false},
        {400, "{\"error\":\"etcdserver: request is too large\",\"code\":3}", HS_EINVAL, false},
        {400, "{\"error\":\"etcdserver: too large lease TTL\",\"code\":11}", HS_EINVAL, false},
        {412, "{\"error\":\"etcdserver: lease already exists\",\"code\":9}", HS_EEXIST, false},
        {503, "{\"error\":\"etcdserver: request timed out\",\"code\":14}", HS_EUNAVAIL, true},
        {500, "{\"error\":\"context deadline exceeded\",\"code\":2}", HS_EUNAVAIL, true},
        {500, "{\"error\":\"election: no leader\",\"code\":2}", HS_ENOENT, false},
        {500, "{\"error\":\"election: not leader\",\"code\":2}", HS_ECONFLICT, false},
        {500, "{\"error\":\"etcdserver: requested lease not found\",\"code\":2}", HS_ENOENT, false},
        {400, "{\"error\":\"mvcc: required revision has been compacted\",\"code\":11}",
         HS_ECONFLICT, false},
        {502, "<html>bad gateway</html>", HS_EUNAVAIL, true},
        {404, "", HS_ENOENT, false},
        {429, "nope", HS_ENOSPC, false},
        {405, "", HS_EINVAL, false},
        {301, "", HS_EPROTO, false},
        {200,
         "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no leader\"}}",
         HS_EUNAVAIL, true},
    };
    for (size_t i = 0; i < HS_ARRAY_LEN(cases); i++) {
        bool retry = !cases[i].retry;
        char msg[64];
        enum hs_err got = hs_etcd_map_error(cases[i].status, cases[i].body, strlen(cases[i].body),
                                            msg, sizeof msg, &retry);
        if (got != cases[i].want || retry != cases[i].retry)
            fail_msg("case %zu: status %ld got %s retry %d", i, cases[i].status, hs_err_name(got),
                     retry);
    }
}

static void leader_without_leader_is_enoent_and_not_retried(void **state)
{
    (void)state;
    PLAY({HS_OK, 500,
          "{\"error\":\"election: no leader\",\"message\":\"election: no leader\","
          "\"code\":2}"});
    struct hs_etcd_kv kv = {.key = NULL};
    assert_int_equal(hs_etcd_leader_get(etcd, "healer", &kv), HS_ENOENT);
    assert_null(kv.key);
    assert_int_equal(fake.calls, 1);
    assert_string_equal(fake.path[0], "/v3/election/leader");
    assert_string_equal(req_str(0, "name"), "aGVhbGVy");
}

static void campaign_returns_leader_and_resign_echoes_it(void **state)
{
    (void)state;
    PLAY({HS_OK, 200,
          "{\"header\":{\"revision\":\"34\"},\"leader\":{\"name\":\"aGVhbGVy\",\"key\":"
          "\"aGVhbGVyLzFlZWU=\",\"rev\":\"34\",\"lease\":\"2228897083168960857\"}}"},
         {HS_OK, 200, "{" HDR "}"});
    struct hs_etcd_leader l;
    assert_int_equal(hs_etcd_campaign(etcd, "healer", 2228897083168960857LL, "node-A", 6, NULL, &l),
                     HS_OK);
    assert_string_equal(l.name, "healer");
    assert_string_equal(l.key, "healer/1eee");
    assert_int_equal(l.rev, 34);
    assert_int_equal(l.lease, 2228897083168960857LL);
    assert_string_equal(req_str(0, "lease"), "2228897083168960857");
    assert_string_equal(req_str(0, "value"), "bm9kZS1B");
    assert_int_equal(hs_etcd_resign(etcd, &l), HS_OK);
    const json_t *ld = json_object_get(fake.body[1], "leader");
    assert_string_equal(json_string_value(json_object_get(ld, "key")), "aGVhbGVyLzFlZWU=");
    assert_string_equal(json_string_value(json_object_get(ld, "rev")), "34");
    hs_etcd_leader_release(&l);
}

static void campaign_with_unknown_lease_is_enoent(void **state)
{
    (void)state;
    PLAY({HS_OK, 500, "{\"error\":\"etcdserver: requested lease not found\",\"code\":2}"});
    struct hs_etcd_leader l = {.key = NULL};
    assert_int_equal(hs_etcd_campaign(etcd, "healer", 42, "x", 1, NULL, &l), HS_ENOENT);
    assert_null(l.key);
}

static void lease_grant_sends_upper_case_ttl_and_parses_id(void **state)
{
    (void)state;
    PLAY({HS_OK, 200, "{" HDR ",\"ID\":\"2228897083168960812\",\"TTL\":\"5\"}"},
         {HS_OK, 200, "{" HDR ",\"ID\":\"1\",\"TTL\":\"5\",\"error\":\"lessor busy\"}"});
    int64_t lease = 0;
    assert_int_equal(hs_etcd_lease_grant(etcd, 5, &lease), HS_OK);
    assert_int_equal(lease, 2228897083168960812LL);
    assert_string_equal(fake.path[0], "/v3/lease/grant");
    assert_string_equal(req_str(0, "TTL"), "5");
    assert_null(json_object_get(fake.body[0], "ttl"));
    lease = 0;
    assert_int_equal(hs_etcd_lease_grant(etcd, 5, &lease), HS_EUNAVAIL);
    assert_int_equal(lease, 0);
}

static void keepalive_of_expired_lease_answers_200_without_ttl_as_enoent(void **state)
{
    (void)state;
    PLAY({HS_OK, 200, "{\"result\":{" HDR ",\"ID\":\"77\",\"TTL\":\"4\"}}\n"},
         {HS_OK, 200, "{\"result\":{" HDR ",\"ID\":\"77\"}}\n"},
         {HS_OK, 200,
          "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"no leader\"}}\n"},
         {HS_OK, 200, "{\"result\":{" HDR ",\"ID\":\"77\",\"TTL\":\"4\"}}\n"});
    int64_t ttl = 0;
    assert_int_equal(hs_etcd_lease_keepalive(etcd, 77, &ttl), HS_OK);
    assert_int_equal(ttl, 4);
    assert_string_equal(req_str(0, "ID"), "77");
    assert_string_equal(fake.path[0], "/v3/lease/keepalive");
    ttl = -5;
    assert_int_equal(hs_etcd_lease_keepalive(etcd, 77, &ttl), HS_ENOENT);
    assert_int_equal(ttl, -5);
    /* an in-stream error body comes with status 200 */
    assert_int_equal(hs_etcd_lease_keepalive(etcd, 77, &ttl), HS_EUNAVAIL);
    assert_int_equal(hs_etcd_lease_revoke(etcd, 77), HS_OK);
}

static void revoke_of_unknown_lease_is_enoent(void **state)
{
    (void)state;
    PLAY({HS_OK, 404, "{\"error\":\"etcdserver: requested lease not found\",\"code\":5}"});
    assert_int_equal(hs_etcd_lease_revoke(etcd, 77), HS_ENOENT);
    assert_string_equal(fake.path[0], "/v3/lease/revoke");
}

static atomic_int lost_calls;
static void count_lost(void *ctx, int64_t lease)
{
    (void)ctx;
    assert_int_equal(lease, 77);
    atomic_fetch_add(&lost_calls, 1);
}

static void keeper_calls_on_lost_once_when_lease_is_gone(void **state)
{
    (void)state;
    /* two good keepalives, then the lease is gone */
    PLAY({HS_OK, 200, "{\"result\":{\"ID\":\"77\",\"TTL\":\"1\"}}\n"},
         {HS_OK, 200, "{\"result\":{\"ID\":\"77\",\"TTL\":\"1\"}}\n"},
         {HS_OK, 200, "{\"result\":{\"ID\":\"77\"}}\n"});
    atomic_store(&lost_calls, 0);
    struct hs_etcd_keeper *k = NULL;
    assert_int_equal(hs_etcd_keeper_start(etcd, 77, 1, count_lost, NULL, &k), HS_OK);
    assert_true(hs_etcd_keeper_alive(k));
    for (int i = 0; i < 60 && hs_etcd_keeper_alive(k); i++)
        hs_clock_sleep_ms(50, NULL);
    assert_false(hs_etcd_keeper_alive(k));
    assert_int_equal(atomic_load(&lost_calls), 1);
    pthread_mutex_lock(&fake.mu);
    assert_int_equal(fake.calls, 3);
    pthread_mutex_unlock(&fake.mu);
    hs_etcd_keeper_stop(k);
    assert_int_equal(atomic_load(&lost_calls), 1);
}

static void keeper_declares_loss_when_etcd_is_unreachable_for_ttl(void **state)
{
    (void)state;
    PLAY({HS_EUNAVAIL, 0, NULL});
    atomic_store(&lost_calls, 0);
    struct hs_etcd_keeper *k = NULL;
    int64_t t0 = hs_clock_mono_ms();
    assert_int_equal(hs_etcd_keeper_start(etcd, 77, 1, count_lost, NULL, &k), HS_OK);
    for (int i = 0; i < 60 && hs_etcd_keeper_alive(k); i++)
        hs_clock_sleep_ms(50, NULL);
    assert_false(hs_etcd_keeper_alive(k));
    assert_true(hs_clock_mono_ms() - t0 >= 1000);
    assert_int_equal(atomic_load(&lost_calls), 1);
    hs_etcd_keeper_stop(k);
}

static void keeper_stop_is_prompt_and_never_calls_on_lost(void **state)
{
    (void)state;
    PLAY({HS_OK, 200, "{\"result\":{\"ID\":\"77\",\"TTL\":\"60\"}}\n"});
    atomic_store(&lost_calls, 0);
    struct hs_etcd_keeper *k = NULL;
    assert_int_equal(hs_etcd_keeper_start(etcd, 77, 60, count_lost, NULL, &k), HS_OK);
    int64_t t0 = hs_clock_mono_ms();
    hs_etcd_keeper_stop(k);
    assert_true(hs_clock_mono_ms() - t0 < 500);
    assert_int_equal(atomic_load(&lost_calls), 0);
    hs_etcd_keeper_stop(NULL);
}

static void bad_endpoint_lists_are_einval(void **state)
{
    (void)state;
    static const char *const bad[] = {"",        ",", "http://a:1,", "a:1,,b:2",
                                      "http://", " ", "http:///",    "a b:1"};
    for (size_t i = 0; i < HS_ARRAY_LEN(bad); i++) {
        struct hs_etcd *e = (struct hs_etcd *)&fake;
        struct hs_etcd_opts o = {.endpoints = bad[i]};
        assert_int_equal(hs_etcd_new(&o, &e), HS_EINVAL);
        assert_ptr_equal(e, &fake);
    }
    struct hs_etcd_opts none = {0};
    struct hs_etcd *e = NULL;
    assert_int_equal(hs_etcd_new(&none, &e), HS_EINVAL);
}

static void bad_arguments_are_einval_without_a_request(void **state)
{
    (void)state;
    PLAY({HS_OK, 200, "{}"});
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(etcd, "", &kvs), HS_EINVAL);
    assert_int_equal(hs_etcd_put(etcd, "k", NULL, 3, 0, NULL), HS_EINVAL);
    assert_int_equal(hs_etcd_delete(etcd, "", false, NULL), HS_EINVAL);
    struct hs_etcd_op op = {.type = HS_ETCD_OP_PUT, .key = NULL};
    struct hs_etcd_txn txn = {NULL, 0, &op, 1, NULL, 0};
    struct hs_etcd_txn_result r;
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_EINVAL);
    int64_t lease;
    assert_int_equal(hs_etcd_lease_grant(etcd, 0, &lease), HS_EINVAL);
    struct hs_etcd_watch *w;
    assert_int_equal(hs_etcd_watch_start(etcd, "k", false, 0, NULL, NULL, &w), HS_EINVAL);
    assert_int_equal(fake.calls, 0);
}

/* ---- pure pieces: base64, prefix ends, the watch stream --------------------------------- */

static void base64_round_trips_every_length_and_rejects_garbage(void **state)
{
    (void)state;
    uint8_t data[70];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof data; len++) {
        char *text = hs_etcd_b64_encode(data, len);
        assert_int_equal(strlen(text), (len + 2) / 3 * 4);
        uint8_t *back;
        size_t back_len;
        assert_int_equal(hs_etcd_b64_decode(text, strlen(text), &back, &back_len), HS_OK);
        assert_int_equal(back_len, len);
        assert_memory_equal(back, data, len);
        assert_int_equal(back[len], 0);
        free(back);
        free(text);
    }
    char *t = hs_etcd_b64_encode("foo", 3);
    assert_string_equal(t, "Zm9v");
    free(t);
    static const char *const bad[] = {"Z", "Z===", "Zm9v!", "Zm=v", "Zg=", "Zm9vY", "Z\x80=="};
    for (size_t i = 0; i < HS_ARRAY_LEN(bad); i++) {
        uint8_t *out = NULL;
        size_t out_len = 0;
        if (hs_etcd_b64_decode(bad[i], strlen(bad[i]), &out, &out_len) != HS_EPROTO)
            fail_msg("'%s' decoded", bad[i]);
        assert_null(out);
    }
    uint8_t *out;
    size_t out_len;
    assert_int_equal(hs_etcd_b64_decode("Zg", 2, &out, &out_len), HS_OK); /* unpadded */
    assert_int_equal(out_len, 1);
    assert_int_equal(out[0], 'f');
    free(out);
}

static void prefix_end_increments_last_byte_and_drops_trailing_ff(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
        size_t out_len;
    } cases[] = {{"meta/", "meta0", 5},
                 {"a\xff", "b", 1},
                 {"\xff\xff", "\0", 1},
                 {"", "\0", 1},
                 {"z", "{", 1}};
    for (size_t i = 0; i < HS_ARRAY_LEN(cases); i++) {
        uint8_t *end;
        size_t end_len;
        hs_etcd_prefix_end(cases[i].in, strlen(cases[i].in), &end, &end_len);
        assert_int_equal(end_len, cases[i].out_len);
        assert_memory_equal(end, cases[i].out, end_len);
        free(end);
    }
}

struct seen {
    int batches;
    int n;
    bool is_delete[16];
    char key[16][16];
    size_t value_len[16];
    int64_t mod_rev[16];
    int compactions;
    int64_t compact_rev;
};

static void seen_fn(void *ctx, const struct hs_etcd_event *ev, size_t n, int64_t revision,
                    bool compacted)
{
    struct seen *s = ctx;
    if (compacted) {
        assert_int_equal(n, 0);
        s->compactions++;
        s->compact_rev = revision;
        return;
    }
    assert_true(n > 0);
    s->batches++;
    for (size_t i = 0; i < n && s->n < 16; i++) {
        s->is_delete[s->n] = ev[i].is_delete;
        snprintf(s->key[s->n], sizeof s->key[0], "%s", ev[i].kv.key);
        s->value_len[s->n] = ev[i].kv.value_len;
        s->mod_rev[s->n] = ev[i].kv.mod_revision;
        s->n++;
    }
}

/* created (from now), two events, a txn with DELETE + PUT, a progress notify, then one big
 * event (5000-byte value) that arrives in many pieces */
static char *watch_stream_text(void)
{
    uint8_t big[5000];
    memset(big, 'v', sizeof big);
    char *big64 = hs_etcd_b64_encode(big, sizeof big);
    char *text = hs_xasprintf(
        "{\"result\":{\"header\":{\"revision\":\"20\"},\"created\":true}}\n"
        "{\"result\":{\"header\":{\"revision\":\"21\"},\"events\":[{\"kv\":{\"key\":\"d2FsLzE=\","
        "\"create_revision\":\"21\",\"mod_revision\":\"21\",\"version\":\"1\",\"value\":"
        "\"cmVjMQ==\"}}]}}\n"
        "{\"result\":{\"header\":{\"revision\":\"24\"},\"events\":[{\"kv\":{\"key\":\"d2FsLzE=\","
        "\"mod_revision\":\"24\",\"version\":\"2\",\"value\":\"cmVjMWI=\"},\"prev_kv\":{\"key\":"
        "\"d2FsLzE=\",\"value\":\"cmVjMQ==\"}}]}}\r\n"
        "\n"
        "{\"result\":{\"header\":{\"revision\":\"25\"},\"events\":[{\"type\":\"DELETE\",\"kv\":"
        "{\"key\":\"d2FsLzI=\",\"mod_revision\":\"25\"}},{\"kv\":{\"key\":\"d2FsLzk=\","
        "\"mod_revision\":\"25\",\"value\":\"eA==\"}}]}}\n"
        "{\"result\":{\"header\":{\"revision\":\"48\"}}}\n"
        "{\"result\":{\"header\":{\"revision\":\"49\"},\"events\":[{\"kv\":{\"key\":\"Ymln\","
        "\"mod_revision\":\"49\",\"value\":\"%s\"}}]}}\n",
        big64);
    free(big64);
    return text;
}

static void check_stream_result(const struct seen *s, const struct hs_etcd_watch_state *st)
{
    assert_int_equal(s->batches, 4);
    assert_int_equal(s->n, 5);
    assert_string_equal(s->key[0], "wal/1");
    assert_int_equal(s->mod_rev[0], 21);
    assert_int_equal(s->mod_rev[1], 24);
    assert_true(s->is_delete[2]);
    assert_string_equal(s->key[2], "wal/2");
    assert_false(s->is_delete[3]); /* type PUT is omitted */
    assert_string_equal(s->key[3], "wal/9");
    assert_string_equal(s->key[4], "big");
    assert_int_equal(s->value_len[4], 5000);
    assert_int_equal(st->next_rev, 50);
    assert_true(st->created);
    assert_false(st->must_reconnect);
}

static void watch_stream_split_at_every_byte_boundary_gives_the_same_events(void **state)
{
    (void)state;
    char *text = watch_stream_text();
    size_t len = strlen(text);
    for (size_t chunk = 1; chunk <= 64; chunk++) {
        struct seen s = {0};
        struct hs_etcd_watch_state st;
        hs_etcd_watch_state_init(&st, 0, seen_fn, &s);
        for (size_t off = 0; off < len; off += chunk)
            assert_int_equal(hs_etcd_watch_state_feed(&st, text + off, HS_MIN(chunk, len - off)),
                             HS_OK);
        check_stream_result(&s, &st);
        hs_etcd_watch_state_release(&st);
    }
    /* one cut at every position */
    for (size_t cut = 0; cut <= len; cut += 7) {
        struct seen s = {0};
        struct hs_etcd_watch_state st;
        hs_etcd_watch_state_init(&st, 0, seen_fn, &s);
        assert_int_equal(hs_etcd_watch_state_feed(&st, text, cut), HS_OK);
        assert_int_equal(hs_etcd_watch_state_feed(&st, text + cut, len - cut), HS_OK);
        check_stream_result(&s, &st);
        hs_etcd_watch_state_release(&st);
    }
    free(text);
}

static void watch_from_now_resumes_after_the_creation_revision(void **state)
{
    (void)state;
    struct seen s = {0};
    struct hs_etcd_watch_state st;
    hs_etcd_watch_state_init(&st, 0, seen_fn, &s);
    const char *created = "{\"result\":{\"header\":{\"revision\":\"20\"},\"created\":true}}\n";
    assert_int_equal(hs_etcd_watch_state_feed(&st, created, strlen(created)), HS_OK);
    assert_int_equal(st.next_rev, 21);
    /* a reconnect from 21 is created at a later header revision: next_rev stays */
    hs_etcd_watch_state_reset_conn(&st);
    assert_false(st.created);
    const char *again = "{\"result\":{\"header\":{\"revision\":\"30\"},\"created\":true}}\n";
    assert_int_equal(hs_etcd_watch_state_feed(&st, again, strlen(again)), HS_OK);
    assert_int_equal(st.next_rev, 21);
    /* a progress notify says everything up to 35 was sent */
    const char *progress = "{\"result\":{\"header\":{\"revision\":\"35\"}}}\n";
    assert_int_equal(hs_etcd_watch_state_feed(&st, progress, strlen(progress)), HS_OK);
    assert_int_equal(st.next_rev, 36);
    assert_int_equal(s.batches, 0);
    hs_etcd_watch_state_release(&st);
}

static void watch_compaction_reports_and_resumes_at_compact_revision(void **state)
{
    (void)state;
    struct seen s = {0};
    struct hs_etcd_watch_state st;
    hs_etcd_watch_state_init(&st, 5, seen_fn, &s);
    const char *text = "{\"result\":{\"header\":{\"revision\":\"40\"},\"created\":true}}\n"
                       "{\"result\":{\"header\":{\"revision\":\"40\"},\"canceled\":true,"
                       "\"compact_revision\":\"20\"}}\n"
                       "{\"result\":{\"header\":{\"revision\":\"41\"},\"events\":[{\"kv\":"
                       "{\"key\":\"YQ==\",\"mod_revision\":\"41\"}}]}}\n";
    assert_int_equal(hs_etcd_watch_state_feed(&st, text, strlen(text)), HS_OK);
    assert_int_equal(s.compactions, 1);
    assert_int_equal(s.compact_rev, 20);
    assert_int_equal(s.batches, 0); /* lines after the cancel are ignored */
    assert_true(st.must_reconnect);
    assert_int_equal(st.last_err, HS_OK);
    assert_int_equal(st.next_rev, 20);
    hs_etcd_watch_state_release(&st);
}

static void watch_in_stream_error_requires_reconnect(void **state)
{
    (void)state;
    struct seen s = {0};
    struct hs_etcd_watch_state st;
    hs_etcd_watch_state_init(&st, 7, seen_fn, &s);
    const char *text = "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: "
                       "no leader\",\"http_status\":\"Service Unavailable\"}}\n";
    assert_int_equal(hs_etcd_watch_state_feed(&st, text, strlen(text)), HS_OK);
    assert_true(st.must_reconnect);
    assert_int_equal(st.last_err, HS_EUNAVAIL);
    assert_int_equal(st.next_rev, 7);
    hs_etcd_watch_state_reset_conn(&st);
    const char *cancel = "{\"result\":{\"header\":{},\"canceled\":true}}\n";
    assert_int_equal(hs_etcd_watch_state_feed(&st, cancel, strlen(cancel)), HS_OK);
    assert_true(st.must_reconnect);
    assert_int_equal(st.last_err, HS_EUNAVAIL);
    assert_int_equal(s.compactions, 0);
    hs_etcd_watch_state_release(&st);
}

static void watch_malformed_lines_are_eproto(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"result\":{\"events\":{}}}\n",
        "{\"result\":{\"events\":[{\"type\":\"DELETE\"}]}}\n",
        "{\"result\":{\"events\":[{\"type\":[],\"kv\":{}}]}}\n",
        "{\"result\":{\"header\":{\"revision\":\"x\"}}}\n",
        "{\"result\":7}\n",
        "{\"result\":{\"header\n",
        "[]\n",
    };
    for (size_t i = 0; i < HS_ARRAY_LEN(bad); i++) {
        struct seen s = {0};
        struct hs_etcd_watch_state st;
        hs_etcd_watch_state_init(&st, 3, seen_fn, &s);
        if (hs_etcd_watch_state_feed(&st, bad[i], strlen(bad[i])) != HS_EPROTO)
            fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(s.batches, 0);
        assert_int_equal(st.next_rev, 3);
        hs_etcd_watch_state_release(&st);
    }
}

static enum hs_err count_line(void *ctx, const char *line, size_t len)
{
    int *n = ctx;
    assert_true(len > 0);
    assert_int_not_equal(line[len - 1], '\r');
    (*n)++;
    return HS_OK;
}

static void lines_skip_empty_and_strip_cr_and_keep_partial_tail(void **state)
{
    (void)state;
    struct hs_etcd_lines l;
    hs_etcd_lines_init(&l);
    int n = 0;
    assert_int_equal(hs_etcd_lines_feed(&l, "a\r\n\n\nbc", 7, count_line, &n), HS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(l.buf.len, 2);
    assert_int_equal(hs_etcd_lines_feed(&l, "d\n", 2, count_line, &n), HS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(l.buf.len, 0);
    hs_etcd_lines_release(&l);
}

#define STREAM_TESTS                                                                               \
    cmocka_unit_test(base64_round_trips_every_length_and_rejects_garbage),                         \
        cmocka_unit_test(prefix_end_increments_last_byte_and_drops_trailing_ff),                   \
        cmocka_unit_test(watch_stream_split_at_every_byte_boundary_gives_the_same_events),         \
        cmocka_unit_test(watch_from_now_resumes_after_the_creation_revision),                      \
        cmocka_unit_test(watch_compaction_reports_and_resumes_at_compact_revision),                \
        cmocka_unit_test(watch_in_stream_error_requires_reconnect),                                \
        cmocka_unit_test(watch_malformed_lines_are_eproto),                                        \
        cmocka_unit_test(lines_skip_empty_and_strip_cr_and_keep_partial_tail)

int main(void)
{
    hs_log_init("test_etcd", HS_LOG_ERROR);
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, client_setup, client_teardown)
        T(get_of_missing_key_has_no_kvs_and_no_count),
        T(get_decodes_base64_and_int64_strings_and_numbers),
        T(kv_with_omitted_fields_reads_as_zero_and_empty_value),
        T(malformed_range_replies_are_eproto_and_leave_out_untouched),
        T(range_request_carries_every_option_with_int64_as_strings),
        T(prefix_paging_continues_after_last_key_at_first_revision),
        T(prefix_paging_stops_when_callback_says_so),
        T(prefix_paging_that_does_not_advance_is_eproto),
        T(compacted_snapshot_between_pages_is_econflict),
        T(put_sends_base64_and_lease_string_and_returns_revision),
        T(put_with_missing_lease_is_enoent_without_retry),
        T(delete_prefix_sends_range_end_and_omitted_deleted_is_zero),
        T(txn_failed_compare_without_succeeded_runs_failure_ranges),
        T(txn_success_collects_range_results_in_op_order),
        T(txn_is_not_retried_after_a_timeout_but_is_after_unsent),
        T(failover_to_second_endpoint_is_remembered),
        T(idempotent_put_is_retried_after_timeout_and_503),
        T(every_endpoint_down_gives_eunavail_after_bounded_attempts),
        T(error_bodies_map_per_grpc_code),
        T(leader_without_leader_is_enoent_and_not_retried),
        T(campaign_returns_leader_and_resign_echoes_it),
        T(campaign_with_unknown_lease_is_enoent),
        T(lease_grant_sends_upper_case_ttl_and_parses_id),
        T(keepalive_of_expired_lease_answers_200_without_ttl_as_enoent),
        T(revoke_of_unknown_lease_is_enoent),
        T(keeper_calls_on_lost_once_when_lease_is_gone),
        T(keeper_declares_loss_when_etcd_is_unreachable_for_ttl),
        T(keeper_stop_is_prompt_and_never_calls_on_lost),
        T(bad_endpoint_lists_are_einval),
        T(bad_arguments_are_einval_without_a_request),
#undef T
        STREAM_TESTS,
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
