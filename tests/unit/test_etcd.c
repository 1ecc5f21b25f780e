/* test_etcd.c - the etcd client against an in-process fake gRPC server (fake_grpc.c) on
 * 127.0.0.1: request encoding, reply decoding with omitted zero values, gRPC framing (a
 * message split across DATA frames, several in one frame, a compressed flag), status codes in
 * trailers and Trailers-Only replies, deadlines (a silent server), GOAWAY, a connection closed
 * mid-reply, failover and its retry rules, a large reply past the flow-control windows, one
 * connection shared by many threads, watch resumption and compaction. Each test scripts the
 * server with a handler; waits poll with generous deadlines. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_grpc.h"
#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "meta/etcd_int.h"
#include "hs/banned.h"

#define MAX_SEEN 64

/* What the servers saw, and the script of the running test. */
struct seen {
    pthread_mutex_t mu;
    int n;
    char path[MAX_SEEN][64];
    int endpoint[MAX_SEEN];
    int64_t timeout_ms[MAX_SEEN];
    bool has_leader[MAX_SEEN];
    struct hs_buf req[MAX_SEEN];
};

static struct seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER};
static fake_grpc_fn *script;         /* the running test's handler */
static struct fake_grpc *servers[2]; /* two endpoints */
static struct hs_etcd *etcd;         /* endpoints = both servers */

static void record_and_play(void *ctx, struct fake_grpc_call *call)
{
    (void)ctx;
    pthread_mutex_lock(&seen.mu);
    int i = seen.n++;
    if (i < MAX_SEEN) {
        snprintf(seen.path[i], sizeof seen.path[i], "%s", call->path);
        seen.endpoint[i] = call->endpoint;
        seen.timeout_ms[i] = call->timeout_ms;
        seen.has_leader[i] = call->has_leader;
        hs_buf_init(&seen.req[i], 0);
        hs_buf_append(&seen.req[i], call->req, call->req_len);
    }
    pthread_mutex_unlock(&seen.mu);
    script(NULL, call);
}

static int n_seen(void)
{
    pthread_mutex_lock(&seen.mu);
    int n = seen.n;
    pthread_mutex_unlock(&seen.mu);
    return n;
}

static void seen_reset(void)
{
    pthread_mutex_lock(&seen.mu);
    for (int i = 0; i < seen.n && i < MAX_SEEN; i++)
        hs_buf_release(&seen.req[i]);
    seen.n = 0;
    pthread_mutex_unlock(&seen.mu);
}

static struct hs_etcd *client_for(const char *endpoints, int64_t timeout_ms)
{
    struct hs_etcd *e = NULL;
    struct hs_etcd_opts o = {.endpoints = endpoints, .timeout_ms = timeout_ms};
    assert_int_equal(hs_etcd_new(&o, &e), HS_OK);
    return e;
}

static int setup(void **state)
{
    (void)state;
    seen_reset();
    for (int i = 0; i < 2; i++)
        servers[i] = fake_grpc_start(i, record_and_play, NULL);
    char eps[128];
    snprintf(eps, sizeof eps, "http://127.0.0.1:%d, 127.0.0.1:%d/", fake_grpc_port(servers[0]),
             fake_grpc_port(servers[1]));
    etcd = client_for(eps, 1000);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hs_etcd_free(etcd);
    etcd = NULL;
    for (int i = 0; i < 2; i++) {
        fake_grpc_stop(servers[i]);
        servers[i] = NULL;
    }
    seen_reset();
    return 0;
}

static ProtobufCBinaryData bytes(const char *s)
{
    return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)(uintptr_t)s};
}

/* A RangeResponse at revision 12 with keys k (value "v-" + key) and the given count/more. */
static void add_range(struct fake_grpc_call *call, const char *const *keys, size_t n, int64_t count,
                      bool more)
{
    Hsetcd__Header h;
    hsetcd__header__init(&h);
    h.revision = 12;
    Hsetcd__KeyValue kv[8], *ptrs[8];
    char values[8][64];
    for (size_t i = 0; i < n; i++) {
        hsetcd__key_value__init(&kv[i]);
        kv[i].key = bytes(keys[i]);
        snprintf(values[i], sizeof values[i], "v-%s", keys[i]);
        kv[i].value = bytes(values[i]);
        kv[i].create_revision = 3;
        kv[i].mod_revision = 10 + (int64_t)i;
        kv[i].version = 2;
        ptrs[i] = &kv[i];
    }
    Hsetcd__RangeResponse r;
    hsetcd__range_response__init(&r);
    r.header = &h;
    r.n_kvs = n;
    r.kvs = ptrs;
    r.count = count;
    r.more = more;
    fake_grpc_add(call, &r.base);
}

/* ---- requests and replies ------------------------------------------------------------------ */

static void one_key(void *ctx, struct fake_grpc_call *call)
{
    (void)ctx;
    static const char *const k[] = {"foo"};
    add_range(call, k, 1, 1, false);
}

static void missing_key(void *ctx, struct fake_grpc_call *call)
{
    (void)ctx;
    Hsetcd__RangeResponse r;
    hsetcd__range_response__init(&r); /* no header, no kvs, no count: all zero */
    fake_grpc_add(call, &r.base);
}

static void get_decodes_kv_and_missing_key_reads_as_zero(void **state)
{
    (void)state;
    script = one_key;
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(etcd, "foo", &kvs), HS_OK);
    assert_int_equal(kvs.n, 1);
    assert_string_equal(kvs.kvs[0].key, "foo");
    assert_int_equal(kvs.kvs[0].value_len, 5);
    assert_memory_equal(kvs.kvs[0].value, "v-foo", 6); /* NUL-terminated */
    assert_int_equal(kvs.kvs[0].mod_revision, 10);
    assert_int_equal(kvs.kvs[0].create_revision, 3);
    assert_int_equal(kvs.kvs[0].lease, 0);
    assert_int_equal(kvs.revision, 12);
    hs_etcd_kvs_release(&kvs);
    assert_string_equal(seen.path[0], "/etcdserverpb.KV/Range");
    /* the deadline travels as grpc-timeout */
    assert_true(seen.timeout_ms[0] > 0 && seen.timeout_ms[0] <= 1000);

    script = missing_key;
    assert_int_equal(hs_etcd_get(etcd, "nope", &kvs), HS_OK);
    assert_int_equal(kvs.n, 0);
    assert_int_equal(kvs.count, 0);
    assert_int_equal(kvs.revision, 0);
    assert_false(kvs.more);
    hs_etcd_kvs_release(&kvs);
}

static void range_request_carries_every_option(void **state)
{
    (void)state;
    script = missing_key;
    struct hs_etcd_range_req req = {.key = "meta/",
                                    .prefix = true,
                                    .limit = 7,
                                    .revision = 99,
                                    .keys_only = true,
                                    .serializable = true};
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_range(etcd, &req, &kvs), HS_OK);
    hs_etcd_kvs_release(&kvs);
    Hsetcd__RangeRequest *r =
        hsetcd__range_request__unpack(NULL, seen.req[0].len, seen.req[0].data);
    assert_non_null(r);
    assert_int_equal(r->key.len, 5);
    assert_memory_equal(r->key.data, "meta/", 5);
    assert_int_equal(r->range_end.len, 5);
    assert_memory_equal(r->range_end.data, "meta0", 5);
    assert_int_equal(r->limit, 7);
    assert_int_equal(r->revision, 99);
    assert_true(r->keys_only && r->serializable && !r->count_only);
    hsetcd__range_request__free_unpacked(r, NULL);
}

static void txn_reply(void *ctx, struct fake_grpc_call *call)
{
    (void)ctx;
    /* the failure branch ran (succeeded omitted = false): [range, put] */
    static const char *const k[] = {"obj/1"};
    struct fake_grpc_call tmp = {0};
    hs_buf_init(&tmp.out, 0);
    add_range(&tmp, k, 1, 1, false);
    Hsetcd__RangeResponse *rr =
        hsetcd__range_response__unpack(NULL, tmp.out.len - 5, tmp.out.data + 5);
    Hsetcd__ResponseOp ops[2], *ptrs[2] = {&ops[0], &ops[1]};
    hsetcd__response_op__init(&ops[0]);
    ops[0].response_case = HSETCD__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
    ops[0].response_range = rr;
    Hsetcd__PutResponse put;
    hsetcd__put_response__init(&put);
    hsetcd__response_op__init(&ops[1]);
    ops[1].response_case = HSETCD__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
    ops[1].response_put = &put;
    Hsetcd__TxnResponse t;
    hsetcd__txn_response__init(&t);
    t.n_responses = 2;
    t.responses = ptrs;
    fake_grpc_add(call, &t.base);
    hsetcd__range_response__free_unpacked(rr, NULL);
    hs_buf_release(&tmp.out);
}

static void txn_encodes_compares_and_ops_and_failed_compare_runs_failure(void **state)
{
    (void)state;
    script = txn_reply;
    struct hs_etcd_cmp cmp = {
        .target = HS_ETCD_CMP_CREATE, .result = HS_ETCD_EQUAL, .key = "obj/1", .number = 0};
    struct hs_etcd_op succ = {
        .type = HS_ETCD_OP_PUT, .key = "obj/1", .value = "v1", .value_len = 2, .lease = 77};
    struct hs_etcd_op fail[2] = {
        {.type = HS_ETCD_OP_RANGE, .key = "obj/1"},
        {.type = HS_ETCD_OP_PUT, .key = "other", .value = "x", .value_len = 1}};
    struct hs_etcd_txn txn = {&cmp, 1, &succ, 1, fail, 2};
    struct hs_etcd_txn_result r;
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_OK);
    assert_false(r.succeeded);
    assert_int_equal(r.n_ranges, 1);
    assert_int_equal(r.ranges[0].n, 1);
    assert_string_equal(r.ranges[0].kvs[0].key, "obj/1");
    hs_etcd_txn_result_release(&r);
    Hsetcd__TxnRequest *t = hsetcd__txn_request__unpack(NULL, seen.req[0].len, seen.req[0].data);
    assert_non_null(t);
    assert_int_equal(t->n_compare, 1);
    assert_int_equal(t->compare[0]->target, HSETCD__COMPARE__COMPARE_TARGET__CREATE);
    /* create_revision 0 is sent (the oneof is set), not dropped as a zero value */
    assert_int_equal(t->compare[0]->target_union_case,
                     HSETCD__COMPARE__TARGET_UNION_CREATE_REVISION);
    assert_int_equal(t->n_success, 1);
    assert_int_equal(t->success[0]->request_put->lease, 77);
    assert_int_equal(t->n_failure, 2);
    assert_int_equal(t->failure[0]->request_case, HSETCD__REQUEST_OP__REQUEST_REQUEST_RANGE);
    hsetcd__txn_request__free_unpacked(t, NULL);
}

/* ---- framing ----------------------------------------------------------------------------------
 */

static void one_key_in_3_byte_frames(void *ctx, struct fake_grpc_call *call)
{
    one_key(ctx, call);
    call->frame_bytes = 3; /* the 5-byte prefix itself is split */
}

static void compressed_reply(void *ctx, struct fake_grpc_call *call)
{
    one_key(ctx, call);
    call->out.data[0] = 1; /* compressed flag */
}

static void two_messages_for_unary(void *ctx, struct fake_grpc_call *call)
{
    one_key(ctx, call);
    one_key(ctx, call);
}

static void truncated_message(void *ctx, struct fake_grpc_call *call)
{
    one_key(ctx, call);
    call->out.len -= 2;
}

static void garbage_protobuf(void *ctx, struct fake_grpc_call *call)
{
    (void)ctx;
    static const uint8_t bad[] = {0, 0, 0, 0, 3, 0x12, 0x7f, 0x01}; /* kvs of length 127 */
    hs_buf_append(&call->out, bad, sizeof bad);
}

static void framing_split_frames_decode_and_bad_framing_is_eproto(void **state)
{
    (void)state;
    struct hs_etcd_kvs kvs;
    script = one_key_in_3_byte_frames;
    assert_int_equal(hs_etcd_get(etcd, "foo", &kvs), HS_OK);
    assert_string_equal(kvs.kvs[0].key, "foo");
    hs_etcd_kvs_release(&kvs);
    static fake_grpc_fn *const bad[] = {compressed_reply, two_messages_for_unary, truncated_message,
                                        garbage_protobuf};
    for (size_t i = 0; i < HS_ARRAY_LEN(bad); i++) {
        seen_reset();
        script = bad[i];
        kvs.n = 4242;
        assert_int_equal(hs_etcd_get(etcd, "foo", &kvs), HS_EPROTO);
        assert_int_equal(kvs.n, 4242); /* untouched */
        assert_int_equal(n_seen(), 1); /* a bad reply is not retried elsewhere */
    }
}

static void big_value(void *ctx, struct fake_grpc_call *call)
{
    (void)ctx;
    size_t n = 3u << 20; /* past the 64 KiB default windows and nghttp2's frame size */
    char *v = hs_xmalloc(n);
    memset(v, 'x', n);
    Hsetcd__KeyValue kv;
    hsetcd__key_value__init(&kv);
    kv.key = bytes("big");
    kv.value = (ProtobufCBinaryData){.len = n, .data = (uint8_t *)v};
    Hsetcd__KeyValue *p = &kv;
    Hsetcd__RangeResponse r;
    hsetcd__range_response__init(&r);
    r.n_kvs = 1;
    r.kvs = &p;
    fake_grpc_add(call, &r.base);
    free(v);
}

static void large_reply_passes_flow_control(void **state)
{
    (void)state;
    script = big_value;
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(etcd, "big", &kvs), HS_OK);
    assert_int_equal(kvs.kvs[0].value_len, 3u << 20);
    assert_int_equal(kvs.kvs[0].value[(3u << 20) - 1], 'x');
    hs_etcd_kvs_release(&kvs);
}

/* ---- status codes ------------------------------------------------------------------------------
 */

static int next_status;
static const char *next_message;
static bool next_trailers_only;

static void status_reply(void *ctx, struct fake_grpc_call *call)
{
    (void)ctx;
    call->status = next_status;
    snprintf(call->message, sizeof call->message, "%s", next_message);
    call->trailers_only = next_trailers_only;
}

static void status_codes_map_like_the_documented_table(void **state)
{
    (void)state;
    static const struct {
        int code;
        const char *msg;
        enum hs_err want;
        int attempts; /* 1 = not retried; 3 = every endpoint + 1 */
    } cases[] = {
        {5, "etcdserver: requested lease not found", HS_ENOENT, 1},
        {8, "etcdserver: mvcc: database space exceeded", HS_ENOSPC, 1},
        {3, "etcdserver: too many operations in txn request", HS_EINVAL, 1},
        {3, "etcdserver: request is too large", HS_EINVAL, 1},
        {11, "etcdserver: mvcc: required revision has been compacted", HS_ECONFLICT, 1},
        {9, "etcdserver: lease already exists", HS_EEXIST, 1},
        {14, "etcdserver: no leader", HS_EUNAVAIL, 3},
        {4, "context deadline exceeded", HS_ETIMEDOUT, 3},
        {2, "election: no leader", HS_ENOENT, 1},
        {13, "internal", HS_EUNAVAIL, 3},
    };
    script = status_reply;
    for (int only = 0; only < 2; only++) {
        for (size_t i = 0; i < HS_ARRAY_LEN(cases); i++) {
            seen_reset();
            next_status = cases[i].code;
            next_message = cases[i].msg;
            next_trailers_only = only;
            assert_int_equal(hs_etcd_put(etcd, "k", "v", 1, 0, NULL), cases[i].want);
            assert_int_equal(n_seen(), cases[i].attempts);
        }
    }
}

/* ---- deadlines, failover, GOAWAY, closed connections -------------------------------------- */

static void hold_first(void *ctx, struct fake_grpc_call *call)
{
    (void)ctx;
    if (call->endpoint == 0)
        call->action = FAKE_HOLD;
    else
        one_key(ctx, call);
}

static void slow_server_times_out_within_the_bound(void **state)
{
    (void)state;
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", fake_grpc_port(servers[0]));
    struct hs_etcd *one = client_for(ep, 300);
    script = hold_first;
    int64_t t0 = hs_clock_mono_ms();
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(one, "foo", &kvs), HS_ETIMEDOUT);
    /* two attempts (1 endpoint + 1) of 300 ms; generous for a loaded box */
    assert_true(hs_clock_mono_ms() - t0 < 5000);
    assert_true(seen.timeout_ms[0] > 0 && seen.timeout_ms[0] <= 300);
    hs_etcd_free(one);
}

static void silent_first_endpoint_retries_idempotent_calls_but_not_txn(void **state)
{
    (void)state;
    hs_etcd_free(etcd);
    char eps[128];
    snprintf(eps, sizeof eps, "127.0.0.1:%d,127.0.0.1:%d", fake_grpc_port(servers[0]),
             fake_grpc_port(servers[1]));
    etcd = client_for(eps, 300);
    script = hold_first;
    struct hs_etcd_op op = {.type = HS_ETCD_OP_PUT, .key = "k", .value = "v", .value_len = 1};
    struct hs_etcd_txn txn = {NULL, 0, &op, 1, NULL, 0};
    struct hs_etcd_txn_result r;
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_ETIMEDOUT);
    assert_int_equal(n_seen(), 1); /* it may have been applied: not replayed */
    /* the next call starts at the other endpoint (the silent one is skipped) */
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(etcd, "foo", &kvs), HS_OK);
    hs_etcd_kvs_release(&kvs);
    assert_int_equal(seen.endpoint[n_seen() - 1], 1);
}

static void goaway_first(void *ctx, struct fake_grpc_call *call)
{
    (void)ctx;
    if (call->endpoint == 0)
        call->action = FAKE_GOAWAY;
    else if (strcmp(call->path, "/etcdserverpb.KV/Range") == 0)
        one_key(ctx, call);
    else
        txn_reply(ctx, call);
}

static void goaway_refused_txn_is_retried_on_the_next_endpoint(void **state)
{
    (void)state;
    script = goaway_first;
    struct hs_etcd_kvs warm;
    /* stream 1 on endpoint 0 is refused (GOAWAY with last stream 0): read from endpoint 1 */
    assert_int_equal(hs_etcd_get(etcd, "warm", &warm), HS_OK);
    hs_etcd_kvs_release(&warm);
    seen_reset();
    atomic_store(&etcd->preferred, 0);
    struct hs_etcd_op op = {.type = HS_ETCD_OP_PUT, .key = "k", .value = "v", .value_len = 1};
    struct hs_etcd_txn txn = {NULL, 0, &op, 1, NULL, 0};
    struct hs_etcd_txn_result r;
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_OK);
    hs_etcd_txn_result_release(&r);
    assert_int_equal(seen.endpoint[n_seen() - 1], 1);
}

static void close_mid_reply_first(void *ctx, struct fake_grpc_call *call)
{
    one_key(ctx, call);
    if (call->endpoint == 0) {
        call->action = FAKE_CLOSE;
        call->out.len = 4; /* part of the prefix only */
    }
}

static void connection_closed_mid_reply_fails_over_or_is_ambiguous(void **state)
{
    (void)state;
    script = close_mid_reply_first;
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(etcd, "foo", &kvs), HS_OK); /* idempotent: endpoint 1 */
    hs_etcd_kvs_release(&kvs);
    assert_int_equal(seen.endpoint[n_seen() - 1], 1);
    seen_reset();
    atomic_store(&etcd->preferred, 0);
    struct hs_etcd_op op = {.type = HS_ETCD_OP_PUT, .key = "k", .value = "v", .value_len = 1};
    struct hs_etcd_txn txn = {NULL, 0, &op, 1, NULL, 0};
    struct hs_etcd_txn_result r;
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_ETIMEDOUT); /* may have been applied */
    assert_int_equal(n_seen(), 1);
    /* the connection is reopened for the next call */
    atomic_store(&etcd->preferred, 0);
    script = one_key;
    assert_int_equal(hs_etcd_get(etcd, "foo", &kvs), HS_OK);
    hs_etcd_kvs_release(&kvs);
    assert_true(fake_grpc_connections(servers[0]) >= 2);
}

static void one_key_then_close(void *ctx, struct fake_grpc_call *call)
{
    one_key(ctx, call);
    call->action = FAKE_REPLY_CLOSE;
}

/* Unary calls share a connection with no thread of its own (their callers read it): one the
 * server closed while it was idle must be noticed before the next call goes out on it, or a
 * txn would be sent into a dead connection and come back ambiguous (ETIMEDOUT). */
static void connection_closed_while_idle_is_replaced_before_a_txn(void **state)
{
    (void)state;
    script = one_key_then_close;
    struct hs_etcd_kvs kvs;
    assert_int_equal(hs_etcd_get(etcd, "foo", &kvs), HS_OK);
    hs_etcd_kvs_release(&kvs);
    int64_t deadline = hs_clock_mono_ms() + 10000;
    while (fake_grpc_closed(servers[0]) < 1 && hs_clock_mono_ms() < deadline)
        hs_clock_sleep_ms(5, NULL);
    assert_int_equal(fake_grpc_closed(servers[0]), 1);
    script = one_key;
    seen_reset();
    atomic_store(&etcd->preferred, 0);
    struct hs_etcd_op op = {.type = HS_ETCD_OP_PUT, .key = "k", .value = "v", .value_len = 1};
    struct hs_etcd_txn txn = {NULL, 0, &op, 1, NULL, 0};
    struct hs_etcd_txn_result r;
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_OK);
    hs_etcd_txn_result_release(&r);
    assert_int_equal(seen.endpoint[n_seen() - 1], 0); /* on a new connection to the same one */
    assert_int_equal(fake_grpc_connections(servers[0]), 2);
}

static void refused_first_endpoint_fails_over_and_is_remembered(void **state)
{
    (void)state;
    /* a port nobody listens on: stop server 0 and reuse its port */
    int dead_port = fake_grpc_port(servers[0]);
    fake_grpc_stop(servers[0]);
    servers[0] = NULL;
    hs_etcd_free(etcd);
    char eps[128];
    snprintf(eps, sizeof eps, "127.0.0.1:%d,127.0.0.1:%d", dead_port, fake_grpc_port(servers[1]));
    etcd = client_for(eps, 1000);
    script = txn_reply;
    struct hs_etcd_op op = {.type = HS_ETCD_OP_PUT, .key = "k", .value = "v", .value_len = 1};
    struct hs_etcd_txn txn = {NULL, 0, &op, 1, NULL, 0};
    struct hs_etcd_txn_result r;
    /* never sent (connect refused): even a txn moves on */
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_OK);
    hs_etcd_txn_result_release(&r);
    assert_int_equal(atomic_load(&etcd->preferred), 1);
    assert_int_equal(hs_etcd_txn(etcd, &txn, &r), HS_OK);
    hs_etcd_txn_result_release(&r);
    assert_int_equal(n_seen(), 2);
}

struct hammer {
    int calls;
    atomic_int ok;
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < h->calls; i++) {
        struct hs_etcd_kvs kvs;
        if (hs_etcd_get(etcd, "foo", &kvs) == HS_OK) {
            atomic_fetch_add(&h->ok, 1);
            hs_etcd_kvs_release(&kvs);
        }
    }
    return NULL;
}

static void many_threads_share_one_connection(void **state)
{
    (void)state;
    script = one_key;
    /* The first call opens the endpoint's connection. Threads that find none at the same
     * moment each connect and all but one close theirs at once (connect runs outside the
     * lock), so sharing is counted from a connection that exists. */
    struct hs_etcd_kvs first;
    assert_int_equal(hs_etcd_get(etcd, "foo", &first), HS_OK);
    hs_etcd_kvs_release(&first);
    struct hammer h = {.calls = 50};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer_main, &h);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&h.ok), 200);
    assert_int_equal(fake_grpc_connections(servers[0]), 1);
}

/* ---- leases and election ----------------------------------------------------------------- */

static void lease_replies(void *ctx, struct fake_grpc_call *call)
{
    (void)ctx;
    if (strcmp(call->path, "/etcdserverpb.Lease/LeaseGrant") == 0) {
        Hsetcd__LeaseGrantResponse r;
        hsetcd__lease_grant_response__init(&r);
        r.id = 7587869000000001;
        r.ttl = 5;
        fake_grpc_add(call, &r.base);
    } else if (strcmp(call->path, "/etcdserverpb.Lease/LeaseKeepAlive") == 0) {
        Hsetcd__LeaseKeepAliveRequest *q =
            hsetcd__lease_keep_alive_request__unpack(NULL, call->req_len, call->req);
        Hsetcd__LeaseKeepAliveResponse r;
        hsetcd__lease_keep_alive_response__init(&r);
        r.id = q->id;
        r.ttl = q->id == 1 ? 0 : 5; /* lease 1 has expired: TTL omitted */
        hsetcd__lease_keep_alive_request__free_unpacked(q, NULL);
        fake_grpc_add(call, &r.base);
    } else {
        call->status = 5;
        snprintf(call->message, sizeof call->message, "etcdserver: requested lease not found");
    }
}

static void leases_grant_keepalive_and_expired_is_enoent(void **state)
{
    (void)state;
    script = lease_replies;
    int64_t lease = 0, ttl = 0;
    assert_int_equal(hs_etcd_lease_grant(etcd, 5, &lease), HS_OK);
    assert_int_equal(lease, 7587869000000001);
    Hsetcd__LeaseGrantRequest *g =
        hsetcd__lease_grant_request__unpack(NULL, seen.req[0].len, seen.req[0].data);
    assert_int_equal(g->ttl, 5);
    hsetcd__lease_grant_request__free_unpacked(g, NULL);
    assert_int_equal(hs_etcd_lease_keepalive(etcd, lease, &ttl), HS_OK);
    assert_int_equal(ttl, 5);
    assert_int_equal(hs_etcd_lease_keepalive(etcd, 1, &ttl), HS_ENOENT);
    assert_int_equal(hs_etcd_lease_revoke(etcd, 99), HS_ENOENT);
}

static void election_replies(void *ctx, struct fake_grpc_call *call)
{
    (void)ctx;
    Hsetcd__LeaderKey lk;
    hsetcd__leader_key__init(&lk);
    lk.name = bytes("healer-leader");
    lk.key = bytes("healer-leader/694d7a");
    lk.rev = 34;
    lk.lease = 0x694d7a;
    if (strcmp(call->path, "/v3electionpb.Election/Campaign") == 0) {
        Hsetcd__CampaignResponse r;
        hsetcd__campaign_response__init(&r);
        r.leader = &lk;
        fake_grpc_add(call, &r.base);
    } else if (strcmp(call->path, "/v3electionpb.Election/Resign") == 0) {
        Hsetcd__ResignResponse r;
        hsetcd__resign_response__init(&r);
        fake_grpc_add(call, &r.base);
    } else {
        call->status = 2;
        snprintf(call->message, sizeof call->message, "election: no leader");
    }
}

static void campaign_resign_and_leader_without_leader(void **state)
{
    (void)state;
    script = election_replies;
    struct hs_etcd_leader l;
    assert_int_equal(hs_etcd_campaign(etcd, "healer-leader", 0x694d7a, "node-A", 6, NULL, &l),
                     HS_OK);
    assert_string_equal(l.key, "healer-leader/694d7a");
    assert_int_equal(l.rev, 34);
    assert_int_equal(hs_etcd_resign(etcd, &l), HS_OK);
    Hsetcd__ResignRequest *r =
        hsetcd__resign_request__unpack(NULL, seen.req[1].len, seen.req[1].data);
    assert_int_equal(r->leader->rev, 34);
    assert_int_equal(r->leader->key.len, strlen("healer-leader/694d7a"));
    hsetcd__resign_request__free_unpacked(r, NULL);
    hs_etcd_leader_release(&l);
    struct hs_etcd_kv kv;
    assert_int_equal(hs_etcd_leader_get(etcd, "healer-leader", &kv), HS_ENOENT);
}

static atomic_int ka_streams, ka_requests;
static atomic_bool ka_expired;

static void keepalive_stream(void *ctx, struct fake_grpc_call *call)
{
    (void)ctx;
    if (strcmp(call->path, "/etcdserverpb.Lease/LeaseKeepAlive") != 0)
        return;
    atomic_fetch_add(&ka_requests, 1);
    if (!call->follow_up)
        atomic_fetch_add(&ka_streams, 1);
    Hsetcd__LeaseKeepAliveResponse r;
    hsetcd__lease_keep_alive_response__init(&r);
    r.id = 42;
    r.ttl = atomic_load(&ka_expired) ? 0 : 1;
    fake_grpc_add(call, &r.base);
    call->action = FAKE_KEEP_OPEN;
}

static atomic_int lost_calls;

static void on_lost(void *ctx, int64_t lease)
{
    (void)ctx;
    assert_int_equal(lease, 42);
    atomic_fetch_add(&lost_calls, 1);
}

static void keeper_renews_over_one_stream_and_reports_loss_once(void **state)
{
    (void)state;
    script = keepalive_stream;
    atomic_store(&ka_requests, 0);
    atomic_store(&ka_streams, 0);
    atomic_store(&ka_expired, false);
    atomic_store(&lost_calls, 0);
    struct hs_etcd_keeper *k;
    assert_int_equal(hs_etcd_keeper_start(etcd, 42, 1, on_lost, NULL, &k), HS_OK);
    int64_t end = hs_clock_mono_ms() + 10000;
    while (atomic_load(&ka_requests) < 4 && hs_clock_mono_ms() < end)
        hs_clock_sleep_ms(20, NULL);
    assert_true(atomic_load(&ka_requests) >= 4);
    assert_int_equal(atomic_load(&ka_streams), 1); /* one stream carried every keepalive */
    assert_true(hs_etcd_keeper_alive(k));
    atomic_store(&ka_expired, true);
    while (hs_etcd_keeper_alive(k) && hs_clock_mono_ms() < end)
        hs_clock_sleep_ms(20, NULL);
    assert_false(hs_etcd_keeper_alive(k));
    hs_etcd_keeper_stop(k);
    assert_int_equal(atomic_load(&lost_calls), 1);
}

/* ---- watch ----------------------------------------------------------------------------------- */

static void add_watch(struct fake_grpc_call *call, int64_t rev, bool created, int64_t compact,
                      const int64_t *event_revs, size_t n)
{
    Hsetcd__Header h;
    hsetcd__header__init(&h);
    h.revision = rev;
    Hsetcd__KeyValue kv[4];
    Hsetcd__Event ev[4], *ptrs[4];
    for (size_t i = 0; i < n; i++) {
        hsetcd__key_value__init(&kv[i]);
        kv[i].key = bytes("w/a");
        kv[i].mod_revision = event_revs[i];
        hsetcd__event__init(&ev[i]);
        ev[i].type = i == 1 ? HSETCD__EVENT__EVENT_TYPE__DELETE : HSETCD__EVENT__EVENT_TYPE__PUT;
        ev[i].kv = &kv[i];
        ptrs[i] = &ev[i];
    }
    Hsetcd__WatchResponse r;
    hsetcd__watch_response__init(&r);
    r.header = &h;
    r.created = created;
    r.canceled = compact > 0;
    r.compact_revision = compact;
    r.n_events = n;
    r.events = ptrs;
    fake_grpc_add(call, &r.base);
}

struct got {
    pthread_mutex_t mu;
    int64_t revs[32];
    bool deletes[32];
    size_t n;
    int compactions;
    int64_t compact_rev;
};

static struct got got = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void on_events(void *ctx, const struct hs_etcd_event *ev, size_t n, int64_t revision,
                      bool compacted)
{
    (void)ctx;
    (void)revision;
    pthread_mutex_lock(&got.mu);
    if (compacted) {
        got.compactions++;
        got.compact_rev = revision;
    }
    for (size_t i = 0; i < n && got.n < 32; i++) {
        got.revs[got.n] = ev[i].kv.mod_revision;
        got.deletes[got.n++] = ev[i].is_delete;
    }
    pthread_mutex_unlock(&got.mu);
}

static int64_t watch_start_rev(int i)
{
    Hsetcd__WatchRequest *w =
        hsetcd__watch_request__unpack(NULL, seen.req[i].len, seen.req[i].data);
    assert_non_null(w);
    assert_int_equal(w->request_union_case, HSETCD__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST);
    int64_t rev = w->create_request->start_revision;
    hsetcd__watch_request__free_unpacked(w, NULL);
    return rev;
}

static void watch_script(void *ctx, struct fake_grpc_call *call)
{
    (void)ctx;
    static const int64_t first[] = {11, 12};
    static const int64_t second[] = {13};
    static const int64_t later[] = {25};
    int n = n_seen(); /* this call is number n (1-based) */
    if (n == 1) {
        /* created at 10 and two events in ONE frame, then the server ends the stream */
        add_watch(call, 10, true, 0, NULL, 0);
        add_watch(call, 12, false, 0, first, 2);
        call->status = 14;
        snprintf(call->message, sizeof call->message, "etcdserver: no leader");
    } else if (n == 2) {
        /* one event, then the connection dies in the middle of the next message */
        add_watch(call, 12, true, 0, NULL, 0);
        add_watch(call, 13, false, 0, second, 1);
        add_watch(call, 14, false, 0, later, 1);
        call->out.len -= 4;
        call->action = FAKE_CLOSE;
    } else if (n == 3) {
        /* the resumed stream: compacted past its start */
        add_watch(call, 30, false, 20, NULL, 0);
        call->action = FAKE_KEEP_OPEN;
        call->frame_bytes = 2; /* one message split across many DATA frames */
    } else {
        add_watch(call, 24, true, 0, NULL, 0);
        add_watch(call, 25, false, 0, later, 1);
        call->action = FAKE_KEEP_OPEN;
    }
}

static bool wait_for(size_t n_events, int compactions)
{
    int64_t end = hs_clock_mono_ms() + 10000;
    for (;;) {
        pthread_mutex_lock(&got.mu);
        bool done = got.n >= n_events && got.compactions >= compactions;
        pthread_mutex_unlock(&got.mu);
        if (done)
            return true;
        if (hs_clock_mono_ms() > end)
            return false;
        hs_clock_sleep_ms(10, NULL);
    }
}

static void watch_resumes_after_dropped_stream_or_connection_and_reports_compaction(void **state)
{
    (void)state;
    script = watch_script;
    memset(got.revs, 0, sizeof got.revs);
    got.n = 0;
    got.compactions = 0;
    struct hs_etcd_watch *w;
    assert_int_equal(hs_etcd_watch_start(etcd, "w/", true, 0, on_events, NULL, &w), HS_OK);
    bool ok = wait_for(4, 1);
    hs_etcd_watch_stop(w);
    assert_true(ok);
    assert_int_equal(got.revs[0], 11);
    assert_int_equal(got.revs[1], 12);
    assert_true(got.deletes[1]);
    assert_int_equal(got.revs[2], 13);
    assert_int_equal(got.revs[3], 25); /* nothing twice, nothing from the cut message */
    assert_int_equal(got.n, 4);
    assert_int_equal(got.compact_rev, 20);
    assert_true(seen.has_leader[0]); /* require-leader metadata */
    assert_string_equal(seen.path[0], "/etcdserverpb.Watch/Watch");
    assert_int_equal(watch_start_rev(0), 0);  /* from now */
    assert_int_equal(watch_start_rev(1), 13); /* after the last event delivered */
    assert_int_equal(watch_start_rev(2), 14); /* the same after a lost connection */
    assert_int_equal(watch_start_rev(3), 20); /* the compact revision */
}

/* ---- pure --------------------------------------------------------------------------------- */

static void bad_endpoint_lists_are_einval(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",         ",",     "http://a:1,", "a:1,,b:2", "http://",  " ",
        "http:///", "a b:1", "https://a:1", "a",        "http://a:"};
    static int sentinel;
    for (size_t i = 0; i < HS_ARRAY_LEN(bad); i++) {
        struct hs_etcd *e = (struct hs_etcd *)&sentinel;
        struct hs_etcd_opts o = {.endpoints = bad[i]};
        assert_int_equal(hs_etcd_new(&o, &e), HS_EINVAL);
        assert_ptr_equal(e, &sentinel);
    }
    struct hs_etcd_opts none = {0};
    struct hs_etcd *e = NULL;
    assert_int_equal(hs_etcd_new(&none, &e), HS_EINVAL);
}

static void bad_arguments_are_einval_without_a_request(void **state)
{
    (void)state;
    script = one_key;
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
    assert_int_equal(n_seen(), 0);
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

int main(void)
{
    hs_log_init("test_etcd", getenv("DBG") ? HS_LOG_DEBUG : HS_LOG_ERROR);
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(get_decodes_kv_and_missing_key_reads_as_zero),
        T(range_request_carries_every_option),
        T(txn_encodes_compares_and_ops_and_failed_compare_runs_failure),
        T(framing_split_frames_decode_and_bad_framing_is_eproto),
        T(large_reply_passes_flow_control),
        T(status_codes_map_like_the_documented_table),
        T(slow_server_times_out_within_the_bound),
        T(silent_first_endpoint_retries_idempotent_calls_but_not_txn),
        T(goaway_refused_txn_is_retried_on_the_next_endpoint),
        T(connection_closed_mid_reply_fails_over_or_is_ambiguous),
        T(connection_closed_while_idle_is_replaced_before_a_txn),
        T(refused_first_endpoint_fails_over_and_is_remembered),
        T(many_threads_share_one_connection),
        T(leases_grant_keepalive_and_expired_is_enoent),
        T(campaign_resign_and_leader_without_leader),
        T(keeper_renews_over_one_stream_and_reports_loss_once),
        T(watch_resumes_after_dropped_stream_or_connection_and_reports_compaction),
        T(bad_arguments_are_einval_without_a_request),
#undef T
        cmocka_unit_test(bad_endpoint_lists_are_einval),
        cmocka_unit_test(prefix_end_increments_last_byte_and_drops_trailing_ff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
