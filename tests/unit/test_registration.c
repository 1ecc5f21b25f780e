/* test_registration.c - the membership key module (hs/registration.h) against the fake gRPC
 * server (fake_grpc.c), which answers lease grants, puts, keepalives and revokes (or fails them
 * all, as an unreachable etcd does) and records what was asked. Checks the value put under the
 * lease, the periodic rewrite, the revoke on stop, the back-off while etcd is down, and the
 * option validation. Waits poll for at most a second. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
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
#include "hs/registration.h"
#include "hs/banned.h"

#define LEASE 7587869000000001
#define KEY   "/hybridstore/v1/gateways/gw-a"

struct fake {
    pthread_mutex_t mu;
    bool down; /* every request fails as "never sent" */
    int grants, puts, keepalives, revokes;
    char put_key[128], put_value[256];
    int64_t put_lease;
    int values; /* calls of the value callback */
};

static struct fake fake = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void copy_bytes(const ProtobufCBinaryData *b, char *out, size_t cap)
{
    snprintf(out, cap, "%.*s", (int)b->len, (const char *)b->data);
}

static void fake_handler(void *ctx, struct fake_grpc_call *call)
{
    struct fake *f = ctx;
    pthread_mutex_lock(&f->mu);
    if (f->down) {
        /* an unreachable etcd, as far as the client can tell: no answer in time */
        pthread_mutex_unlock(&f->mu);
        call->status = 14;
        return;
    }
    const char *p = call->path;
    if (strcmp(p, "/etcdserverpb.Lease/LeaseGrant") == 0) {
        f->grants++;
        Hsetcd__LeaseGrantResponse r;
        hsetcd__lease_grant_response__init(&r);
        r.id = LEASE;
        r.ttl = 5;
        fake_grpc_add(call, &r.base);
    } else if (strcmp(p, "/etcdserverpb.KV/Put") == 0) {
        f->puts++;
        Hsetcd__PutRequest *q = hsetcd__put_request__unpack(NULL, call->req_len, call->req);
        copy_bytes(&q->key, f->put_key, sizeof f->put_key);
        copy_bytes(&q->value, f->put_value, sizeof f->put_value);
        f->put_lease = q->lease;
        hsetcd__put_request__free_unpacked(q, NULL);
        Hsetcd__PutResponse r;
        hsetcd__put_response__init(&r);
        fake_grpc_add(call, &r.base);
    } else if (strcmp(p, "/etcdserverpb.Lease/LeaseKeepAlive") == 0) {
        f->keepalives++;
        Hsetcd__LeaseKeepAliveResponse r;
        hsetcd__lease_keep_alive_response__init(&r);
        r.id = LEASE;
        r.ttl = 5;
        fake_grpc_add(call, &r.base);
    } else if (strcmp(p, "/etcdserverpb.Lease/LeaseRevoke") == 0) {
        f->revokes++;
        Hsetcd__LeaseRevokeResponse r;
        hsetcd__lease_revoke_response__init(&r);
        fake_grpc_add(call, &r.base);
    }
    pthread_mutex_unlock(&f->mu);
}

static char *value_fn(void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&fake.mu);
    int n = ++fake.values;
    pthread_mutex_unlock(&fake.mu);
    char *v = malloc(64);
    snprintf(v, 64, "{\"id\":\"gw-a\",\"n\":%d}", n);
    return v;
}

static struct hs_etcd *etcd;
static struct fake_grpc *server;

static int setup(void **state)
{
    (void)state;
    pthread_mutex_lock(&fake.mu);
    fake.down = false;
    fake.grants = fake.puts = fake.keepalives = fake.revokes = fake.values = 0;
    fake.put_key[0] = fake.put_value[0] = '\0';
    fake.put_lease = 0;
    pthread_mutex_unlock(&fake.mu);
    server = fake_grpc_start(0, fake_handler, &fake);
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", fake_grpc_port(server));
    struct hs_etcd_opts o = {.endpoints = ep, .timeout_ms = 200};
    return hs_etcd_new(&o, &etcd) == HS_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hs_etcd_free(etcd);
    etcd = NULL;
    fake_grpc_stop(server);
    server = NULL;
    return 0;
}

static int count(const int *field)
{
    pthread_mutex_lock(&fake.mu);
    int n = *field;
    pthread_mutex_unlock(&fake.mu);
    return n;
}

/* Polls until *field >= want, at most 1 s. */
static bool wait_count(const int *field, int want)
{
    int64_t end = hs_clock_mono_ms() + 1000;
    while (count(field) < want && hs_clock_mono_ms() < end)
        hs_clock_sleep_ms(5, NULL);
    return count(field) >= want;
}

static struct hs_registration_opts opts(int64_t refresh_ms)
{
    return (struct hs_registration_opts){.etcd = etcd,
                                         .key = KEY,
                                         .ttl_s = 5,
                                         .refresh_ms = refresh_ms,
                                         .value = value_fn,
                                         .label = "gateway",
                                         .id = "gw-a"};
}

static void registration_puts_value_under_lease_and_revokes_on_stop(void **state)
{
    (void)state;
    struct hs_registration_opts o = opts(60000);
    struct hs_registration *r = NULL;
    assert_int_equal(hs_registration_start(&o, &r), HS_OK);
    assert_true(wait_count(&fake.puts, 1));
    int64_t end = hs_clock_mono_ms() + 1000;
    while (!hs_registration_active(r) && hs_clock_mono_ms() < end)
        hs_clock_sleep_ms(5, NULL);
    assert_true(hs_registration_active(r));
    pthread_mutex_lock(&fake.mu);
    assert_string_equal(fake.put_key, KEY);
    assert_string_equal(fake.put_value, "{\"id\":\"gw-a\",\"n\":1}");
    assert_int_equal(fake.put_lease, LEASE);
    assert_int_equal(fake.grants, 1);
    pthread_mutex_unlock(&fake.mu);
    hs_registration_stop(r);
    assert_int_equal(count(&fake.revokes), 1); /* the key vanishes at once, not after the TTL */
}

static void registration_rewrites_the_value_every_refresh_interval(void **state)
{
    (void)state;
    struct hs_registration_opts o = opts(20);
    struct hs_registration *r = NULL;
    assert_int_equal(hs_registration_start(&o, &r), HS_OK);
    assert_true(wait_count(&fake.puts, 4));
    hs_registration_stop(r);
    assert_int_equal(count(&fake.grants), 1); /* one lease for all the rewrites */
    assert_true(count(&fake.values) >= 4);
    assert_int_equal(count(&fake.revokes), 1);
}

static void registration_backs_off_while_etcd_is_down_and_stops_promptly(void **state)
{
    (void)state;
    pthread_mutex_lock(&fake.mu);
    fake.down = true;
    pthread_mutex_unlock(&fake.mu);
    struct hs_registration_opts o = opts(60000);
    struct hs_registration *r = NULL;
    assert_int_equal(hs_registration_start(&o, &r), HS_OK);
    hs_clock_sleep_ms(400, NULL); /* first try, then 250 ms (+-20 %) back-off, then more */
    assert_false(hs_registration_active(r));
    int64_t t0 = hs_clock_mono_ms();
    hs_registration_stop(r);
    assert_true(hs_clock_mono_ms() - t0 < 500);
    assert_int_equal(count(&fake.puts), 0);
    assert_int_equal(count(&fake.revokes), 0); /* no lease was ever granted */
}

static void registration_refuses_bad_options(void **state)
{
    (void)state;
    struct hs_registration *r = NULL;
    struct hs_registration_opts o = opts(0);
    o.value = NULL;
    assert_int_equal(hs_registration_start(&o, &r), HS_EINVAL);
    o = opts(0);
    o.ttl_s = 1;
    assert_int_equal(hs_registration_start(&o, &r), HS_EINVAL);
    o = opts(0);
    o.key = NULL;
    assert_int_equal(hs_registration_start(&o, &r), HS_EINVAL);
    o = opts(0);
    o.etcd = NULL; /* and no endpoints */
    assert_int_equal(hs_registration_start(&o, &r), HS_EINVAL);
    o.endpoints = "";
    assert_int_equal(hs_registration_start(&o, &r), HS_EINVAL);
    assert_null(r);
    hs_registration_stop(NULL);
}

static void node_value_round_trips_and_old_values_without_volume_stay_readable(void **state)
{
    (void)state;
    struct hs_node_registration r = {.id = "n1",
                                     .url = "http://127.0.0.1:9100",
                                     .zone = "z\"1",
                                     .volume = "0123abcd",
                                     .capacity_bytes = 1000,
                                     .free_bytes = 10,
                                     .started_ms = 1765000000000,
                                     .blobs = 0};
    char *text = hs_node_registration_encode(&r);
    struct hs_node_registration d;
    assert_int_equal(hs_node_registration_decode(text, strlen(text), &d), HS_OK);
    assert_string_equal(d.id, "n1");
    assert_string_equal(d.url, "http://127.0.0.1:9100");
    assert_string_equal(d.zone, "z\"1");
    assert_string_equal(d.volume, "0123abcd");
    assert_int_equal(d.started_ms, 1765000000000);
    assert_int_equal(d.blobs, 0);
    hs_node_registration_release(&d);
    free(text);
    /* a value written before "volume" and "blobs" existed */
    const char *old = "{\"id\":\"n2\",\"url\":\"http://h:1\",\"zone\":\"\",\"capacity_bytes\":5,"
                      "\"free_bytes\":4,\"started_ms\":7,\"later\":{\"x\":1}}";
    assert_int_equal(hs_node_registration_decode(old, strlen(old), &d), HS_OK);
    assert_null(d.volume);
    assert_int_equal(d.blobs, -1);
    assert_string_equal(d.url, "http://h:1");
    hs_node_registration_release(&d);
    /* not an object, or a member of the wrong type */
    struct hs_node_registration keep = {.blobs = 42};
    assert_int_equal(hs_node_registration_decode("[1]", 3, &keep), HS_EPROTO);
    assert_int_equal(hs_node_registration_decode("{\"blobs\":\"x\"}", 12, &keep), HS_EPROTO);
    assert_int_equal(keep.blobs, 42);
    hs_node_registration_release(NULL);
}

int main(void)
{
    hs_log_init("test", HS_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(registration_puts_value_under_lease_and_revokes_on_stop,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(registration_rewrites_the_value_every_refresh_interval,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            registration_backs_off_while_etcd_is_down_and_stops_promptly, setup, teardown),
        cmocka_unit_test_setup_teardown(registration_refuses_bad_options, setup, teardown),
        cmocka_unit_test(node_value_round_trips_and_old_values_without_volume_stay_readable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
