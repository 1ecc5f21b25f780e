/* test_layout.c - the per-collection layout record (include/hs/layout.h): field sets, a round
 * trip of every member, each rule refused by validate and decode, corrupt and truncated input
 * refused with the output untouched, an unknown version told apart, and the effective hot set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs/layout.h"
#include "hs/manifest.h"
#include "hs/banned.h"

static void set_csv(struct hs_layout_fields *f, const char *csv)
{
    assert_int_equal(hs_layout_fields_parse_csv(f, csv), HS_OK);
}

/* A record using every member. */
static void full_record(struct hs_layout_record *r)
{
    hs_layout_record_init(r);
    r->collection = strdup("user:");
    r->epoch = 7;
    r->mode = HS_LAYOUT_ADAPTIVE;
    set_csv(&r->hot, "view_count,like_count,\xc3\xa9t\xc3\xa9");
    set_csv(&r->pin_hot, "like_count");
    set_csv(&r->pin_cold, "avatar");
    r->decided_ms = 1700000000123;
    free(r->reason);
    r->reason = strdup("view_count HOT: changed in 93% \"quoted\"\n");
    set_csv(&r->pending, "view_count");
    r->pending_n = 1;
    r->pending_ms = 1700000000999;
    r->pending_gain_bytes = 123456789;
    r->round_ms = 1700000001000;
    r->round_writes = 41210;
}

static void fields_are_sorted_unique_and_trimmed(void **state)
{
    (void)state;
    struct hs_layout_fields f = {0};
    set_csv(&f, " b, a ,,b,\tc ");
    assert_int_equal(f.n, 3);
    assert_string_equal(f.names[0], "a");
    assert_string_equal(f.names[2], "c");
    char *csv = hs_layout_fields_csv(&f);
    assert_string_equal(csv, "a,b,c");
    free(csv);
    assert_true(hs_layout_fields_contains(&f, "b"));
    assert_false(hs_layout_fields_contains(&f, "d"));
    set_csv(&f, "");
    assert_int_equal(f.n, 0);
    csv = hs_layout_fields_csv(&f);
    assert_string_equal(csv, "");
    free(csv);
    /* 65 distinct names are refused, f untouched; 65 names with a duplicate are fine */
    char buf[65 * 8] = "";
    for (int i = 0; i < 65; i++) {
        char one[8];
        snprintf(one, sizeof one, "f%d,", i);
        strncat(buf, one, sizeof buf - strlen(buf) - 1);
    }
    set_csv(&f, "x");
    assert_int_equal(hs_layout_fields_parse_csv(&f, buf), HS_EINVAL);
    assert_int_equal(f.n, 1);
    buf[strlen(buf) - 4] = '\0'; /* drop "f64," */
    strncat(buf, ",f0", sizeof buf - strlen(buf) - 1);
    set_csv(&f, buf);
    assert_int_equal(f.n, 64);
    /* invalid UTF-8 and over-long names */
    assert_int_equal(hs_layout_fields_parse_csv(&f, "a,\xff"), HS_EINVAL);
    char longname[HS_LAYOUT_FIELD_MAX + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(hs_layout_fields_parse_csv(&f, longname), HS_EINVAL);
    longname[HS_LAYOUT_FIELD_MAX] = '\0';
    set_csv(&f, longname);
    hs_layout_fields_release(&f);
    hs_layout_fields_release(&f); /* twice is fine */
}

static void record_round_trips_every_member(void **state)
{
    (void)state;
    struct hs_layout_record r, d;
    full_record(&r);
    char *text = NULL;
    size_t len = 0;
    char why[200] = "";
    assert_int_equal(hs_layout_record_encode(&r, &text, &len, why, sizeof why), HS_OK);
    assert_int_equal(hs_layout_record_decode(text, len, &d, why, sizeof why), HS_OK);
    assert_string_equal(d.collection, "user:");
    assert_int_equal(d.epoch, 7);
    assert_int_equal(d.mode, HS_LAYOUT_ADAPTIVE);
    assert_true(hs_layout_fields_equal(&d.hot, &r.hot));
    assert_true(hs_layout_fields_equal(&d.pin_hot, &r.pin_hot));
    assert_true(hs_layout_fields_equal(&d.pin_cold, &r.pin_cold));
    assert_true(hs_layout_fields_equal(&d.pending, &r.pending));
    assert_string_equal(d.reason, r.reason);
    assert_int_equal(d.decided_ms, r.decided_ms);
    assert_int_equal(d.pending_n, 1);
    assert_int_equal(d.pending_ms, r.pending_ms);
    assert_int_equal(d.pending_gain_bytes, r.pending_gain_bytes);
    assert_int_equal(d.round_ms, r.round_ms);
    assert_int_equal(d.round_writes, r.round_writes);
    /* canonical: encoding the decoded record gives the same bytes; a copy too */
    char *again = NULL;
    size_t again_len = 0;
    struct hs_layout_record c = {0};
    hs_layout_record_copy(&c, &d);
    assert_int_equal(hs_layout_record_encode(&c, &again, &again_len, NULL, 0), HS_OK);
    assert_int_equal(again_len, len);
    assert_memory_equal(again, text, len);
    free(again);
    free(text);
    hs_layout_record_release(&c);
    hs_layout_record_release(&d);
    hs_layout_record_release(&r);
    hs_layout_record_release(NULL);
}

static void validate_refuses_every_rule(void **state)
{
    (void)state;
    struct hs_layout_record r;
    char why[200];
    for (int rule = 0; rule < 12; rule++) {
        full_record(&r);
        switch (rule) {
        case 0:
            free(r.collection);
            r.collection = strdup("");
            break;
        case 1:
            r.mode = (enum hs_layout_mode)9;
            break;
        case 2:
            r.epoch = -1;
            break;
        case 3:
            set_csv(&r.pin_cold, "like_count");
            break; /* pinned both ways */
        case 4:
            set_csv(&r.hot, "view_count,avatar,like_count");
            break; /* hot holds a cold pin */
        case 5:
            set_csv(&r.hot, "view_count");
            break; /* misses the hot pin */
        case 6:
            r.epoch = 0;
            break; /* undecided with a hot set */
        case 7:
            r.pending_n = 0;
            break; /* pending without rounds */
        case 8:
            r.pending_n = HS_LAYOUT_PENDING_N_MAX + 1;
            break;
        case 9: {
            char *t = r.hot.names[0];
            r.hot.names[0] = r.hot.names[1];
            r.hot.names[1] = t;
        } break;
        case 10:
            free(r.reason);
            r.reason = NULL;
            break;
        case 11:
            r.round_writes = -5;
            break;
        }
        why[0] = '\0';
        assert_int_equal(hs_layout_record_validate(&r, why, sizeof why), HS_EINVAL);
        assert_true(why[0] != '\0');
        char *text = (char *)"untouched";
        size_t len = 0;
        assert_int_equal(hs_layout_record_encode(&r, &text, &len, NULL, 0), HS_EINVAL);
        assert_string_equal(text, "untouched");
        hs_layout_record_release(&r);
    }
}

static enum hs_err decode_text(const char *text, struct hs_layout_record *out)
{
    char why[200];
    return hs_layout_record_decode(text, strlen(text), out, why, sizeof why);
}

#define VALID                                                                                      \
    "{\"v\":1,\"coll\":\"user:\",\"epoch\":1,\"mode\":\"static\",\"hot\":[\"a\"],\"pin_hot\":[],"  \
    "\"pin_cold\":[],\"decided_ms\":5,\"reason\":\"r\",\"pending\":[],\"pending_n\":0,"            \
    "\"pending_ms\":0,\"pending_gain\":0,\"round_ms\":0,\"round_writes\":0}"

static void decode_refuses_corrupt_input_untouched(void **state)
{
    (void)state;
    struct hs_layout_record r;
    assert_int_equal(decode_text(VALID, &r), HS_OK);
    assert_int_equal(r.mode, HS_LAYOUT_STATIC);
    hs_layout_record_release(&r);
    static const char *const bad[] = {
        "",
        "[]",
        "{\"v\":1}",
        "not json",
        /* a member of the wrong type, an unknown one, a duplicate, NUL in a name */
        "{\"v\":1,\"coll\":\"user:\",\"epoch\":\"1\",\"mode\":\"static\",\"hot\":[],\"pin_hot\":[],"
        "\"pin_cold\":[],\"decided_ms\":5,\"reason\":\"r\",\"pending\":[],\"pending_n\":0,"
        "\"pending_ms\":0,\"pending_gain\":0,\"round_ms\":0,\"round_writes\":0}",
        "{\"v\":1,\"x\":1,\"coll\":\"user:\",\"epoch\":1,\"mode\":\"static\",\"hot\":[\"a\"],"
        "\"pin_hot\":[],\"pin_cold\":[],\"decided_ms\":5,\"reason\":\"r\",\"pending\":[],"
        "\"pending_n\":0,\"pending_ms\":0,\"pending_gain\":0,\"round_ms\":0,\"round_writes\":0}",
        "{\"v\":1,\"v\":1,\"coll\":\"user:\",\"epoch\":1,\"mode\":\"static\",\"hot\":[\"a\"],"
        "\"pin_hot\":[],\"pin_cold\":[],\"decided_ms\":5,\"reason\":\"r\",\"pending\":[],"
        "\"pending_n\":0,\"pending_ms\":0,\"pending_gain\":0,\"round_ms\":0,\"round_writes\":0}",
        "{\"v\":1,\"coll\":\"user:\",\"epoch\":1,\"mode\":\"static\",\"hot\":[\"a\\u0000b\"],"
        "\"pin_hot\":[],\"pin_cold\":[],\"decided_ms\":5,\"reason\":\"r\",\"pending\":[],"
        "\"pending_n\":0,\"pending_ms\":0,\"pending_gain\":0,\"round_ms\":0,\"round_writes\":0}",
        /* unsorted hot, a bad mode, a real number */
        "{\"v\":1,\"coll\":\"user:\",\"epoch\":1,\"mode\":\"static\",\"hot\":[\"b\",\"a\"],"
        "\"pin_hot\":[],\"pin_cold\":[],\"decided_ms\":5,\"reason\":\"r\",\"pending\":[],"
        "\"pending_n\":0,\"pending_ms\":0,\"pending_gain\":0,\"round_ms\":0,\"round_writes\":0}",
        "{\"v\":1,\"coll\":\"user:\",\"epoch\":1,\"mode\":\"auto\",\"hot\":[\"a\"],"
        "\"pin_hot\":[],\"pin_cold\":[],\"decided_ms\":5,\"reason\":\"r\",\"pending\":[],"
        "\"pending_n\":0,\"pending_ms\":0,\"pending_gain\":0,\"round_ms\":0,\"round_writes\":0}",
        "{\"v\":1,\"coll\":\"user:\",\"epoch\":1.5,\"mode\":\"static\",\"hot\":[\"a\"],"
        "\"pin_hot\":[],\"pin_cold\":[],\"decided_ms\":5,\"reason\":\"r\",\"pending\":[],"
        "\"pending_n\":0,\"pending_ms\":0,\"pending_gain\":0,\"round_ms\":0,\"round_writes\":0}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&r, 0x5a, sizeof r);
        assert_int_equal(decode_text(bad[i], &r), HS_ECORRUPT);
        assert_int_equal(r.epoch, 0x5a5a5a5a5a5a5a5a);
    }
    /* every truncation of a valid record */
    for (size_t n = 0; n < strlen(VALID); n++) {
        memset(&r, 0x5a, sizeof r);
        assert_int_equal(hs_layout_record_decode(VALID, n, &r, NULL, 0), HS_ECORRUPT);
        assert_int_equal(r.epoch, 0x5a5a5a5a5a5a5a5a);
    }
    /* a newer writer's record is told apart */
    assert_int_equal(decode_text("{\"v\":2,\"coll\":\"user:\"}", &r), HS_EPROTO);
}

static void effective_hot_applies_default_and_pins(void **state)
{
    (void)state;
    struct hs_layout_fields deflt = {0}, out = {0};
    set_csv(&deflt, "score,view_count");
    hs_layout_effective_hot(NULL, &deflt, &out);
    assert_true(hs_layout_fields_equal(&out, &deflt));
    struct hs_layout_record r;
    hs_layout_record_init(&r);
    r.collection = strdup("user:");
    set_csv(&r.pin_hot, "a");
    set_csv(&r.pin_cold, "score");
    hs_layout_effective_hot(&r, &deflt, &out); /* epoch 0: the default with the pins */
    char *csv = hs_layout_fields_csv(&out);
    assert_string_equal(csv, "a,view_count");
    free(csv);
    r.epoch = 1;
    set_csv(&r.hot, "a,like_count");
    hs_layout_effective_hot(&r, &deflt, &out);
    csv = hs_layout_fields_csv(&out);
    assert_string_equal(csv, "a,like_count");
    free(csv);
    char *key = NULL;
    assert_int_equal(hs_meta_key_layout("user:", &key), HS_OK);
    assert_string_equal(key, HS_META_ROOT "layout/user:");
    free(key);
    assert_int_equal(hs_meta_key_layout("", &key), HS_EINVAL);
    hs_layout_record_release(&r);
    hs_layout_fields_release(&deflt);
    hs_layout_fields_release(&out);
}

static void object_fields_come_from_the_order_record(void **state)
{
    (void)state;
    struct hs_layout_fields hot = {0}, cold = {0};
    assert_int_equal(hs_layout_object_fields("[\"ctitle\",\"hlike_count\",\"h\\u00e9t\\u00e9\","
                                             "\"cbio\",\"ca\\u0000b\"]",
                                             &hot, &cold),
                     HS_OK);
    char *h = hs_layout_fields_csv(&hot), *c = hs_layout_fields_csv(&cold);
    assert_string_equal(h, "like_count,\xc3\xa9t\xc3\xa9");
    assert_string_equal(c, "bio,title"); /* "a\u0000b" cannot be a layout name */
    free(h);
    free(c);
    /* shadows (order record version 2) are not fields: the promoted bio is hot only */
    struct hs_layout_fields h2 = {0}, c2 = {0};
    assert_int_equal(hs_layout_object_fields("[\"ctitle\",\"hbio\",\"sbio\",\"sgone\"]", &h2, &c2),
                     HS_OK);
    h = hs_layout_fields_csv(&h2);
    c = hs_layout_fields_csv(&c2);
    assert_string_equal(h, "bio");
    assert_string_equal(c, "title");
    free(h);
    free(c);
    hs_layout_fields_release(&h2);
    hs_layout_fields_release(&c2);
    assert_int_equal(hs_layout_object_fields("[\"xtitle\"]", &hot, &cold), HS_ECORRUPT);
    assert_int_equal(hs_layout_object_fields("{}", &hot, &cold), HS_ECORRUPT);
    assert_int_equal(hs_layout_object_fields("[1]", &hot, &cold), HS_ECORRUPT);
    assert_int_equal(hot.n, 2); /* untouched */
    assert_int_equal(hs_layout_object_fields("[]", &hot, &cold), HS_OK);
    assert_int_equal(hot.n + cold.n, 0);
    hs_layout_fields_release(&hot);
    hs_layout_fields_release(&cold);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fields_are_sorted_unique_and_trimmed),
        cmocka_unit_test(record_round_trips_every_member),
        cmocka_unit_test(validate_refuses_every_rule),
        cmocka_unit_test(decode_refuses_corrupt_input_untouched),
        cmocka_unit_test(effective_hot_applies_default_and_pins),
        cmocka_unit_test(object_fields_come_from_the_order_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
