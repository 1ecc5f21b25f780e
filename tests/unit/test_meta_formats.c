/* test_meta_formats.c - the small etcd values src/meta owns besides manifests: the node and
 * gateway registration values (registration.h) and the repair mark (manifest.h). For each: a
 * round trip, odd strings escaped, every rule refused, members a reader does not know
 * ignored, and every truncation of a valid value refused with the output left untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/registration.h"
#include "hs/banned.h"

#define TXN "0123456789abcdef0123456789abcdef"

static enum hs_err node_decode(const char *text, struct hs_node_registration *out)
{
    return hs_node_registration_decode(text, strlen(text), out);
}

static enum hs_err gw_decode(const char *text, struct hs_gateway_registration *out)
{
    return hs_gateway_registration_decode(text, strlen(text), out);
}

static enum hs_err mark_decode(const char *text, struct hs_repair_mark *out)
{
    return hs_repair_mark_decode(text, strlen(text), out, NULL, 0);
}

/* ---- nodes/<id> ---- */

static void node_value_round_trips_odd_strings_escaped(void **state)
{
    (void)state;
    const char *odd = "z\"\\/\n\t\x01 \xc3\xa9\xf0\x9f\x98\x80}{,:";
    struct hs_node_registration r = {.id = "n-1.a_b",
                                     .url = "http://127.0.0.1:9100/\"x",
                                     .zone = (char *)odd,
                                     .volume = (char *)odd,
                                     .capacity_bytes = INT64_MAX,
                                     .free_bytes = 0,
                                     .started_ms = 1765000000000,
                                     .blobs = 7};
    char *text = hs_node_registration_encode(&r);
    struct hs_node_registration d;
    assert_int_equal(node_decode(text, &d), HS_OK);
    assert_string_equal(d.id, "n-1.a_b");
    assert_string_equal(d.url, "http://127.0.0.1:9100/\"x");
    assert_string_equal(d.zone, odd);
    assert_string_equal(d.volume, odd);
    assert_true(d.capacity_bytes == INT64_MAX);
    assert_int_equal(d.free_bytes, 0);
    assert_int_equal(d.started_ms, 1765000000000);
    assert_int_equal(d.blobs, 7);
    char *again = hs_node_registration_encode(&d);
    assert_string_equal(again, text);
    hs_node_registration_release(&d);
    free(again);
    free(text);
}

static void node_value_tolerates_unknown_and_missing_members(void **state)
{
    (void)state;
    struct hs_node_registration d;
    assert_int_equal(
        node_decode("{\"id\":\"n2\",\"later\":{\"x\":[1]},\"url\":\"http://h:1//\"}", &d), HS_OK);
    assert_string_equal(d.url, "http://h:1"); /* trailing '/' dropped */
    assert_string_equal(d.zone, "");
    assert_null(d.volume);
    assert_int_equal(d.blobs, -1);
    assert_int_equal(d.capacity_bytes, 0);
    hs_node_registration_release(&d);
    assert_int_equal(node_decode("{\"id\":\"n3\",\"url\":\"\",\"zone\":null}", &d), HS_OK);
    assert_null(d.url); /* "" is no URL */
    assert_string_equal(d.zone, "");
    hs_node_registration_release(&d);
}

static void node_value_refuses_every_rule(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[1]",
        "\"n1\"",
        "{}",               /* no id */
        "{\"id\":\"\"}",    /* empty id */
        "{\"id\":\".n\"}",  /* id breaks the id rule */
        "{\"id\":\"a/b\"}", /* id breaks the id rule */
        "{\"id\":1}",       /* wrong types, member by member */
        "{\"id\":\"n\",\"url\":1}",
        "{\"id\":\"n\",\"zone\":[]}",
        "{\"id\":\"n\",\"volume\":{}}",
        "{\"id\":\"n\",\"capacity_bytes\":\"1\"}",
        "{\"id\":\"n\",\"free_bytes\":1.5}",
        "{\"id\":\"n\",\"started_ms\":true}",
        "{\"id\":\"n\",\"blobs\":\"x\"}",
        "{\"id\":\"n\",\"capacity_bytes\":-1}", /* negative */
        "{\"id\":\"n\",\"free_bytes\":-1}",
        "{\"id\":\"n\",\"started_ms\":-5}",
        "{\"id\":\"n\",\"blobs\":-1}",
        "{\"id\":\"n\",\"url\":\"http://a\\u0000b\"}", /* U+0000 inside a string */
        "{\"id\":\"n\",\"zone\":\"z\\u0000\"}",
        "{\"id\":\"n\"} x", /* trailing bytes */
    };
    struct hs_node_registration keep = {.blobs = 42};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (node_decode(bad[i], &keep) != HS_EPROTO)
            fail_msg("accepted: %s", bad[i]);
        assert_int_equal(keep.blobs, 42);
        assert_null(keep.id);
    }
    hs_node_registration_release(NULL);
}

static void node_value_refuses_every_truncation(void **state)
{
    (void)state;
    struct hs_node_registration r = {
        .id = "n1", .url = "http://h:1", .zone = "z", .volume = "v", .blobs = 3};
    char *text = hs_node_registration_encode(&r);
    struct hs_node_registration keep = {.blobs = 42};
    for (size_t n = 0; n < strlen(text); n++) {
        assert_int_equal(hs_node_registration_decode(text, n, &keep), HS_EPROTO);
        assert_int_equal(keep.blobs, 42);
    }
    free(text);
}

/* ---- gateways/<id> ---- */

static void gateway_value_round_trips_odd_strings_escaped(void **state)
{
    (void)state;
    const char *url = "http://h:1/a\"b\\c\n";
    struct hs_gateway_registration r = {.id = "gw_2.local", .url = (char *)url, .started_ms = 9};
    char *text = hs_gateway_registration_encode(&r);
    struct hs_gateway_registration d;
    assert_int_equal(gw_decode(text, &d), HS_OK);
    assert_string_equal(d.id, "gw_2.local");
    assert_string_equal(d.url, url);
    assert_int_equal(d.started_ms, 9);
    char *again = hs_gateway_registration_encode(&d);
    assert_string_equal(again, text);
    free(again);
    hs_gateway_registration_release(&d);
    free(text);
    /* no URL is written as "" and read back as none */
    r.url = NULL;
    text = hs_gateway_registration_encode(&r);
    assert_string_equal(text, "{\"id\":\"gw_2.local\",\"url\":\"\",\"started_ms\":9}");
    assert_int_equal(gw_decode(text, &d), HS_OK);
    assert_null(d.url);
    hs_gateway_registration_release(&d);
    free(text);
    /* members it does not know are ignored */
    assert_int_equal(gw_decode("{\"zone\":\"z\",\"id\":\"g\",\"x\":[{}]}", &d), HS_OK);
    assert_string_equal(d.id, "g");
    assert_int_equal(d.started_ms, 0);
    hs_gateway_registration_release(&d);
    hs_gateway_registration_release(NULL);
}

static void gateway_value_refuses_every_rule_and_truncation(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "{}",
        "{\"id\":\"-g\"}",
        "{\"id\":7}",
        "{\"id\":\"g\",\"url\":false}",
        "{\"id\":\"g\",\"started_ms\":\"1\"}",
        "{\"id\":\"g\",\"started_ms\":-1}",
        "{\"id\":\"g\",\"url\":\"\\u0000\"}",
    };
    struct hs_gateway_registration keep = {.started_ms = 42};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (gw_decode(bad[i], &keep) != HS_EPROTO)
            fail_msg("accepted: %s", bad[i]);
        assert_int_equal(keep.started_ms, 42);
    }
    struct hs_gateway_registration r = {.id = "g", .url = "http://h:2", .started_ms = 5};
    char *text = hs_gateway_registration_encode(&r);
    for (size_t n = 0; n < strlen(text); n++)
        assert_int_equal(hs_gateway_registration_decode(text, n, &keep), HS_EPROTO);
    assert_int_equal(keep.started_ms, 42);
    free(text);
}

/* ---- repair/<key> ---- */

static void repair_marks_of_both_writers_round_trip(void **state)
{
    (void)state;
    char buf[HS_REPAIR_MARK_BUF];
    struct hs_repair_mark w = {.reason = HS_REPAIR_DEGRADED_WRITE, .marked_ms = INT64_MAX};
    memcpy(w.txn_id, TXN, sizeof TXN);
    size_t n = hs_repair_mark_encode(&w, buf);
    assert_int_equal(n, strlen(buf));
    assert_string_equal(buf,
                        "{\"txn\":\"" TXN "\",\"ms\":9223372036854775807,\"reason\":\"degraded\"}");
    struct hs_repair_mark d;
    assert_int_equal(hs_repair_mark_decode(buf, n, &d, NULL, 0), HS_OK);
    assert_int_equal(d.reason, HS_REPAIR_DEGRADED_WRITE);
    assert_true(d.marked_ms == INT64_MAX);
    assert_string_equal(d.txn_id, TXN);

    struct hs_repair_mark r = {.reason = HS_REPAIR_DEGRADED_READ, .marked_ms = 12};
    n = hs_repair_mark_encode(&r, buf);
    assert_string_equal(buf, "{\"ms\":12,\"reason\":\"degraded_read\"}");
    assert_int_equal(hs_repair_mark_decode(buf, n, &d, NULL, 0), HS_OK);
    assert_int_equal(d.reason, HS_REPAIR_DEGRADED_READ);
    assert_int_equal(d.marked_ms, 12);
    assert_string_equal(d.txn_id, "");

    /* the value gateways wrote before the codec existed, and members a reader does not know */
    assert_int_equal(mark_decode("{\"reason\":\"degraded_read\",\"ms\":1765000000000}", &d), HS_OK);
    assert_int_equal(d.marked_ms, 1765000000000);
    assert_int_equal(
        mark_decode("{\"txn\":\"" TXN "\",\"ms\":0,\"reason\":\"degraded\",\"by\":{}}", &d), HS_OK);
    assert_int_equal(d.reason, HS_REPAIR_DEGRADED_WRITE);
}

static void repair_mark_refuses_every_rule(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum hs_err err;
        const char *why;
    } bad[] = {
        {"", HS_ECORRUPT, "not one JSON object"},
        {"[]", HS_ECORRUPT, "not one JSON object"},
        {"{\"reason\":\"degraded\"}", HS_ECORRUPT, "ms:"},
        {"{\"ms\":\"1\",\"reason\":\"degraded\"}", HS_ECORRUPT, "ms:"},
        {"{\"ms\":1.0,\"reason\":\"degraded\"}", HS_ECORRUPT, "ms:"},
        {"{\"ms\":-1,\"reason\":\"degraded\"}", HS_ECORRUPT, "ms:"},
        {"{\"ms\":1}", HS_ECORRUPT, "reason:"},
        {"{\"ms\":1,\"reason\":2}", HS_ECORRUPT, "reason:"},
        {"{\"ms\":1,\"reason\":\"degraded\\u0000\"}", HS_ECORRUPT, "not one JSON object"},
        {"{\"ms\":1,\"reason\":\"later\"}", HS_EPROTO, "reason: 'later' is not known"},
        {"{\"ms\":1,\"reason\":\"degraded\",\"txn\":\"xyz\"}", HS_ECORRUPT, "txn:"},
        {"{\"ms\":1,\"reason\":\"degraded\",\"txn\":1}", HS_ECORRUPT, "txn:"},
        {"{\"ms\":1,\"reason\":\"degraded\",\"txn\":\"\"}", HS_ECORRUPT, "txn:"},
        {"{\"ms\":1,\"ms\":2,\"reason\":\"degraded\"}", HS_ECORRUPT, "not one JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hs_repair_mark keep = {.reason = HS_REPAIR_DEGRADED_READ, .marked_ms = 42};
        char why[128] = "";
        enum hs_err err =
            hs_repair_mark_decode(bad[i].text, strlen(bad[i].text), &keep, why, sizeof why);
        if (err != bad[i].err || strncmp(why, bad[i].why, strlen(bad[i].why)) != 0)
            fail_msg("%s: got %s '%s'", bad[i].text, hs_err_name(err), why);
        assert_int_equal(keep.marked_ms, 42);
    }
}

static void repair_mark_refuses_every_truncation(void **state)
{
    (void)state;
    char buf[HS_REPAIR_MARK_BUF];
    struct hs_repair_mark w = {.reason = HS_REPAIR_DEGRADED_WRITE, .marked_ms = 5};
    memcpy(w.txn_id, TXN, sizeof TXN);
    size_t len = hs_repair_mark_encode(&w, buf);
    struct hs_repair_mark keep = {.marked_ms = 42};
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(hs_repair_mark_decode(buf, n, &keep, NULL, 0), HS_ECORRUPT);
        assert_int_equal(keep.marked_ms, 42);
    }
}

int main(void)
{
    hs_log_init("test", HS_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(node_value_round_trips_odd_strings_escaped),
        cmocka_unit_test(node_value_tolerates_unknown_and_missing_members),
        cmocka_unit_test(node_value_refuses_every_rule),
        cmocka_unit_test(node_value_refuses_every_truncation),
        cmocka_unit_test(gateway_value_round_trips_odd_strings_escaped),
        cmocka_unit_test(gateway_value_refuses_every_rule_and_truncation),
        cmocka_unit_test(repair_marks_of_both_writers_round_trip),
        cmocka_unit_test(repair_mark_refuses_every_rule),
        cmocka_unit_test(repair_mark_refuses_every_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
