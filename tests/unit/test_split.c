/* test_split.c - unit tests of the split module: every error class with its byte offset, exact
 * bytes of hot/cold parts and order records, the cold hash's invariance (whitespace, top-level
 * order) and sensitivity (values, escapes), merge round trips and corruption checks, RFC 7396
 * patches, and generated documents (fixed seed) checked against jansson as an oracle.
 * Deliberate differences from jansson (documented in split.h): we accept numbers jansson cannot
 * represent and nested duplicate keys; the oracle is called with JSON_ALLOW_NUL for "\u0000";
 * jansson 2.14 accepts a raw NUL byte outside strings in some places ({"a":false<NUL>}), we never
 * do (RFC 8259 has no such token). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "hs/split.h"
#include "hs/banned.h"

#define JFLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL)

static struct hs_split_hotset *default_hot(void)
{
    struct hs_split_hotset *hs = NULL;
    assert_int_equal(hs_split_hotset_new_csv(HS_SPLIT_DEFAULT_HOT_FIELDS, &hs), HS_OK);
    return hs;
}

/* Splits a NUL-terminated document that must be valid. */
static void split_ok(const struct hs_split_hotset *hs, const char *doc, struct hs_split_result *r)
{
    struct hs_split_error e = {0};
    hs_split_result_init(r, 0);
    enum hs_err rc = hs_split_document(NULL, hs, (const uint8_t *)doc, strlen(doc), r, &e);
    if (rc != HS_OK)
        fail_msg("split of '%s' failed: %s at %zu", doc, hs_split_error_name(e.code), e.offset);
}

static void assert_buf_eq(const struct hs_buf *b, const char *want)
{
    if (b->len != strlen(want) || memcmp(b->data, want, b->len) != 0)
        fail_msg("got '%.*s', want '%s'", (int)b->len, (const char *)b->data, want);
}

/* The merge of r's parts must be exactly `want`. */
static void assert_merges_to(const struct hs_split_result *r, const char *want)
{
    struct hs_buf out;
    hs_buf_init(&out, 0);
    assert_int_equal(hs_split_merge(NULL, r->hot.data, r->hot.len, r->cold.data, r->cold.len,
                                    r->order.data, r->order.len, &out, NULL),
                     HS_OK);
    assert_buf_eq(&out, want);
    hs_buf_release(&out);
}

/* ---- validation errors ---------------------------------------------------------------------- */

struct bad_doc {
    const char *doc;
    size_t len; /* 0 = strlen(doc) */
    enum hs_split_error_code code;
    size_t offset;
};

static const struct bad_doc bad_docs[] = {
    {"", 0, HS_SPLIT_EMPTY, 0},
    {" \n\t\r", 0, HS_SPLIT_EMPTY, 4},
    {"[1]", 0, HS_SPLIT_NOT_OBJECT, 0},
    {"  \"s\"", 0, HS_SPLIT_NOT_OBJECT, 2},
    {"12", 0, HS_SPLIT_NOT_OBJECT, 0},
    {"\xEF\xBB\xBF{}", 0, HS_SPLIT_NOT_OBJECT, 0}, /* a BOM is not whitespace */
    {"{\"a\":1,}", 0, HS_SPLIT_SYNTAX, 7},
    {"{\"a\" 1}", 0, HS_SPLIT_SYNTAX, 5},
    {"{a:1}", 0, HS_SPLIT_SYNTAX, 1},
    {"{\"a\":[1,]}", 0, HS_SPLIT_SYNTAX, 8},
    {"{\"a\":[1 2]}", 0, HS_SPLIT_SYNTAX, 8},
    {"{\"a\":{\"b\":1]}", 0, HS_SPLIT_SYNTAX, 11},
    {"{\"a\":tru}", 0, HS_SPLIT_SYNTAX, 8},
    {"{\"a\":.5}", 0, HS_SPLIT_SYNTAX, 5},
    {"{\"a\":+1}", 0, HS_SPLIT_SYNTAX, 5},
    {"{\"a\":1.5.3}", 0, HS_SPLIT_SYNTAX, 8},
    {"{\"a\":'x'}", 0, HS_SPLIT_SYNTAX, 5},
    {"{\"a\":1", 0, HS_SPLIT_TRUNCATED, 6},
    {"{\"a\":\"xy", 0, HS_SPLIT_TRUNCATED, 8},
    {"{\"a\":nul", 0, HS_SPLIT_TRUNCATED, 8},
    {"{\"a\":[", 0, HS_SPLIT_TRUNCATED, 6},
    {"{\"a\":\"\\u12", 0, HS_SPLIT_TRUNCATED, 10},
    {"{\"a\":\"x\\q\"}", 0, HS_SPLIT_BAD_ESCAPE, 7},
    {"{\"a\":\"\\u12G4\"}", 0, HS_SPLIT_BAD_ESCAPE, 6},
    {"{\"a\":\"\\U0041\"}", 0, HS_SPLIT_BAD_ESCAPE, 6},
    {"{\"a\":\"\\uD800\"}", 0, HS_SPLIT_BAD_SURROGATE, 6},
    {"{\"a\":\"\\uDC00\"}", 0, HS_SPLIT_BAD_SURROGATE, 6},
    {"{\"a\":\"\\uD800\\u0041\"}", 0, HS_SPLIT_BAD_SURROGATE, 6},
    {"{\"a\":\"x\\uDBFF\\n\"}", 0, HS_SPLIT_BAD_SURROGATE, 7},
    {"{\"a\":\"\xC0\xAF\"}", 0, HS_SPLIT_BAD_UTF8, 6},         /* overlong '/' */
    {"{\"a\":\"\xE0\x80\xAF\"}", 0, HS_SPLIT_BAD_UTF8, 6},     /* overlong, 3 bytes */
    {"{\"a\":\"\xF0\x80\x80\xAF\"}", 0, HS_SPLIT_BAD_UTF8, 6}, /* overlong, 4 bytes */
    {"{\"a\":\"x\xED\xA0\x80\"}", 0, HS_SPLIT_BAD_UTF8, 7},    /* U+D800 encoded */
    {"{\"a\":\"\xF4\x90\x80\x80\"}", 0, HS_SPLIT_BAD_UTF8, 6}, /* U+110000 */
    {"{\"a\":\"\xF5\x80\x80\x80\"}", 0, HS_SPLIT_BAD_UTF8, 6},
    {"{\"a\":\"\x80\"}", 0, HS_SPLIT_BAD_UTF8, 6}, /* stray continuation byte */
    {"{\"a\":\"\xE2\x82\"}", 0, HS_SPLIT_BAD_UTF8, 6},
    {"{\"\xFF\":1}", 0, HS_SPLIT_BAD_UTF8, 2},
    {"{\"a\":\"x\ny\"}", 0, HS_SPLIT_CONTROL_CHAR, 7},
    {"{\"a\":\"\t\"}", 0, HS_SPLIT_CONTROL_CHAR, 6},
    {"{\"a\":\"\0\"}", 9, HS_SPLIT_CONTROL_CHAR, 6},
    {"{\"a\":01}", 0, HS_SPLIT_LEADING_ZERO, 5},
    {"{\"a\":-00}", 0, HS_SPLIT_LEADING_ZERO, 6},
    {"{\"a\":[1,007]}", 0, HS_SPLIT_LEADING_ZERO, 8},
    {"{\"a\":-}", 0, HS_SPLIT_BAD_NUMBER, 6},
    {"{\"a\":-x}", 0, HS_SPLIT_BAD_NUMBER, 6},
    {"{\"a\":1.}", 0, HS_SPLIT_BAD_NUMBER, 7},
    {"{\"a\":1.e5}", 0, HS_SPLIT_BAD_NUMBER, 7},
    {"{\"a\":1e}", 0, HS_SPLIT_BAD_NUMBER, 7},
    {"{\"a\":1e+}", 0, HS_SPLIT_BAD_NUMBER, 8},
    {"{\"a\":1,\"b\":2,\"a\":3}", 0, HS_SPLIT_DUPLICATE_KEY, 13},
    {"{\"a\":1,\"\\u0061\":2}", 0, HS_SPLIT_DUPLICATE_KEY, 7},
    {"{\"\\u00e9\":1,\"\xC3\xA9\":2}", 0, HS_SPLIT_DUPLICATE_KEY, 12},
    {"{} x", 0, HS_SPLIT_TRAILING, 3},
    {"{}{}", 0, HS_SPLIT_TRAILING, 2},
    {"{\"a\":1}}", 0, HS_SPLIT_TRAILING, 7},
    {"{}\0", 3, HS_SPLIT_TRAILING, 2},
};

static void every_error_class_reports_code_and_offset(void **state)
{
    (void)state;
    struct hs_split_hotset *hs = default_hot();
    for (size_t i = 0; i < sizeof bad_docs / sizeof bad_docs[0]; i++) {
        const struct bad_doc *b = &bad_docs[i];
        size_t len = b->len ? b->len : strlen(b->doc);
        struct hs_split_error e = {HS_SPLIT_OK, 999};
        enum hs_err rc = hs_split_validate(NULL, (const uint8_t *)b->doc, len, &e);
        if (rc != HS_EINVAL || e.code != b->code || e.offset != b->offset)
            fail_msg("case %zu '%s': got rc=%d %s at %zu, want %s at %zu", i, b->doc, rc,
                     hs_split_error_name(e.code), e.offset, hs_split_error_name(b->code),
                     b->offset);
        /* the split must agree with the validator and leave its outputs empty */
        struct hs_split_result r;
        struct hs_split_error e2 = {0};
        hs_split_result_init(&r, 0);
        assert_int_equal(hs_split_document(NULL, hs, (const uint8_t *)b->doc, len, &r, &e2),
                         HS_EINVAL);
        assert_int_equal(e2.code, b->code);
        assert_int_equal(e2.offset, b->offset);
        assert_int_equal(r.hot.len + r.cold.len + r.order.len, 0);
        hs_split_result_release(&r);
    }
    hs_split_hotset_free(hs);
}

static void error_format_names_text_and_offset(void **state)
{
    (void)state;
    struct hs_split_error e = {HS_SPLIT_DUPLICATE_KEY, 13};
    char msg[80];
    hs_split_error_format(&e, msg, sizeof msg);
    assert_string_equal(msg, "duplicate key at byte 13");
    assert_string_equal(hs_split_error_name(HS_SPLIT_BAD_UTF8), "bad_utf8");
    assert_string_equal(hs_split_error_name((enum hs_split_error_code)999), "unknown");
    for (int c = 0; c < HS_SPLIT_ERROR_COUNT_; c++)
        assert_string_not_equal(hs_split_error_name((enum hs_split_error_code)c), "unknown");
}

/* Builds '{"a":' + depth-1 '[' + ']'s + '}': depth containers in all. */
static char *nested_doc(unsigned depth)
{
    char *d = malloc(2 * depth + 8);
    size_t n = 0;
    n += (size_t)snprintf(d, 8, "{\"a\":");
    for (unsigned i = 1; i < depth; i++)
        d[n++] = '[';
    for (unsigned i = 1; i < depth; i++)
        d[n++] = ']';
    d[n++] = '}';
    d[n] = '\0';
    return d;
}

static void nesting_past_max_depth_is_rejected_at_the_bracket(void **state)
{
    (void)state;
    struct hs_split_error e = {0};
    char *ok = nested_doc(64), *deep = nested_doc(65);
    assert_int_equal(hs_split_validate(NULL, (uint8_t *)ok, strlen(ok), &e), HS_OK);
    assert_int_equal(hs_split_validate(NULL, (uint8_t *)deep, strlen(deep), &e), HS_EINVAL);
    assert_int_equal(e.code, HS_SPLIT_TOO_DEEP);
    assert_int_equal(e.offset, 5 + 63); /* the 64th '[' is the 65th container */
    struct hs_split_opts o = {.max_depth = 3};
    const char *d3 = "{\"a\":[{\"b\":1}]}", *d4 = "{\"a\":[{\"b\":[]}]}";
    assert_int_equal(hs_split_validate(&o, (const uint8_t *)d3, strlen(d3), &e), HS_OK);
    assert_int_equal(hs_split_validate(&o, (const uint8_t *)d4, strlen(d4), &e), HS_EINVAL);
    assert_int_equal(e.code, HS_SPLIT_TOO_DEEP);
    assert_int_equal(e.offset, 11);
    o.max_depth = HS_SPLIT_MAX_MAX_DEPTH + 1;
    assert_int_equal(hs_split_validate(&o, (const uint8_t *)d3, strlen(d3), &e), HS_EINVAL);
    assert_int_equal(e.code, HS_SPLIT_OK);
    free(ok);
    free(deep);
}

static void rfc_edge_cases_are_accepted(void **state)
{
    (void)state;
    static const char *good[] = {
        "{}",
        " \t\r\n{ } \n",
        "{\"\":0}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\uD83D\\uDE00\"}",
        "{\"a\":\"\xF4\x8F\xBF\xBF\xEF\xBF\xBF\x7F\"}",
        "{\"a\":-0.0e-0}",
        "{\"a\":1E+2}",
        "{\"a\":[[],{},\"\",0,true,false,null]}",
        "{\"a\":{\"b\":1,\"b\":2}}", /* nested dup */
        "{\"a\":\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct hs_split_error e = {0};
        if (hs_split_validate(NULL, (const uint8_t *)good[i], strlen(good[i]), &e) != HS_OK)
            fail_msg("'%s' rejected: %s at %zu", good[i], hs_split_error_name(e.code), e.offset);
    }
}

/* Every lead byte >= 0x80 with every second byte, in sequences of 2, 3 and 4 bytes: accepted
 * exactly when jansson (which validates UTF-8 per RFC 3629) accepts. */
static void utf8_acceptance_matches_jansson_for_every_lead_and_second_byte(void **state)
{
    (void)state;
    unsigned accepted = 0;
    for (unsigned b0 = 0x80; b0 <= 0xFF; b0++) {
        for (unsigned b1 = 0; b1 <= 0xFF; b1++) {
            for (size_t len = 2; len <= 4; len++) {
                uint8_t doc[16] = {'{', '"',         'a',         '"',  ':',
                                   '"', (uint8_t)b0, (uint8_t)b1, 0x80, 0x80};
                doc[6 + len] = '"';
                doc[7 + len] = '}';
                size_t n = 8 + len;
                json_error_t je;
                json_t *j = json_loadb((const char *)doc, n, JFLAGS, &je);
                bool ours = hs_split_validate(NULL, doc, n, NULL) == HS_OK;
                if (ours != (j != NULL))
                    fail_msg("%02x %02x (len %zu): we %d, jansson %d", b0, b1, len, ours,
                             j != NULL);
                accepted += ours;
                json_decref(j);
            }
        }
    }
    /* 2-byte: 30 leads x 64; 3-byte: 16 leads x 64 (minus 32 for E0 and ED); 4-byte: 5 leads */
    assert_int_equal(accepted, 30 * 64 + 16 * 64 - 64 + 3 * 64 + 48 + 16);
}

/* ---- split and merge ------------------------------------------------------------------------ */

static void hot_only_document_has_empty_cold_part(void **state)
{
    (void)state;
    struct hs_split_hotset *hs = default_hot();
    struct hs_split_result r;
    split_ok(hs, "{ \"like_count\" : 5 ,\n\"view_count\":7}", &r);
    assert_buf_eq(&r.hot, "{\"like_count\":5,\"view_count\":7}");
    assert_buf_eq(&r.cold, "{}");
    assert_buf_eq(&r.order, "[\"hlike_count\",\"hview_count\"]");
    assert_int_equal(r.n_hot, 2);
    assert_int_equal(r.n_cold, 0);
    assert_merges_to(&r, "{\"like_count\":5,\"view_count\":7}");
    /* a result is reusable: the next split starts from empty buffers */
    assert_int_equal(hs_split_document(NULL, hs, (const uint8_t *)"{\"a\":1}", 7, &r, NULL), HS_OK);
    assert_buf_eq(&r.hot, "{}");
    assert_buf_eq(&r.cold, "{\"a\":1}");
    assert_buf_eq(&r.order, "[\"ca\"]");
    hs_split_result_release(&r);
    hs_split_hotset_free(hs);
}

static void cold_only_and_empty_documents_split(void **state)
{
    (void)state;
    struct hs_split_hotset *hs = default_hot();
    struct hs_split_result r, e;
    split_ok(hs, "{\"title\":\"x\",\"body\":[1,2]}", &r);
    assert_buf_eq(&r.hot, "{}");
    assert_buf_eq(&r.cold, "{\"title\":\"x\",\"body\":[1,2]}");
    assert_buf_eq(&r.order, "[\"ctitle\",\"cbody\"]");
    split_ok(hs, "{}", &e);
    assert_buf_eq(&e.hot, "{}");
    assert_buf_eq(&e.cold, "{}");
    assert_buf_eq(&e.order, "[]");
    assert_merges_to(&e, "{}");
    hs_split_result_release(&r);
    hs_split_result_release(&e);
    hs_split_hotset_free(hs);
}

static void nested_values_with_braces_and_quotes_are_copied_exactly(void **state)
{
    (void)state;
    struct hs_split_hotset *hs = default_hot();
    struct hs_split_result r;
    const char *doc = "{\"a\" : { \"x\":\"}{\\\"\" , \"y\":[1,{\"z\":\"]\"}] },\n"
                      "  \"like_count\":1,\"q\":\"\\\"}\"}";
    split_ok(hs, doc, &r);
    assert_buf_eq(&r.hot, "{\"like_count\":1}");
    assert_buf_eq(&r.cold,
                  "{\"a\":{ \"x\":\"}{\\\"\" , \"y\":[1,{\"z\":\"]\"}] },\"q\":\"\\\"}\"}");
    assert_buf_eq(&r.order, "[\"ca\",\"hlike_count\",\"cq\"]");
    assert_merges_to(&r, "{\"a\":{ \"x\":\"}{\\\"\" , \"y\":[1,{\"z\":\"]\"}] },\"like_count\":1,"
                         "\"q\":\"\\\"}\"}");
    hs_split_result_release(&r);
    hs_split_hotset_free(hs);
}

static void huge_numbers_and_unicode_are_preserved_byte_for_byte(void **state)
{
    (void)state;
    struct hs_split_hotset *hs = default_hot();
    struct hs_split_result r;
    const char *doc = "{\"n\":123456789012345678901234567890,\"f\":1.0e+400,\"like\\u005fcount\":"
                      "-0.0E-0,\"s\":\"caf\\u00e9 \\ud83d\\ude00 caf\xC3\xA9 \xF0\x9F\x98\x80\","
                      "\"\\u00e9\":\"\\/\"}";
    split_ok(hs, doc, &r);
    /* the hot key matched after unescaping, and kept its escape */
    assert_buf_eq(&r.hot, "{\"like\\u005fcount\":-0.0E-0}");
    assert_buf_eq(&r.cold,
                  "{\"n\":123456789012345678901234567890,\"f\":1.0e+400,\"s\":\"caf\\u00e9 "
                  "\\ud83d\\ude00 caf\xC3\xA9 \xF0\x9F\x98\x80\",\"\\u00e9\":\"\\/\"}");
    assert_buf_eq(&r.order, "[\"cn\",\"cf\",\"hlike\\u005fcount\",\"cs\",\"c\\u00e9\"]");
    assert_merges_to(&r, doc);
    hs_split_result_release(&r);
    hs_split_hotset_free(hs);
}

static void cold_hash_of(const char *doc, uint8_t out[HS_SPLIT_HASH_BYTES])
{
    struct hs_split_hotset *hs = default_hot();
    struct hs_split_result r;
    split_ok(hs, doc, &r);
    memcpy(out, r.cold_hash, HS_SPLIT_HASH_BYTES);
    /* hashing the stored cold part gives the same hash */
    uint8_t again[HS_SPLIT_HASH_BYTES];
    assert_int_equal(hs_split_cold_hash(NULL, r.cold.data, r.cold.len, again, NULL), HS_OK);
    assert_memory_equal(again, out, HS_SPLIT_HASH_BYTES);
    hs_split_result_release(&r);
    hs_split_hotset_free(hs);
}

static void cold_hash_ignores_whitespace_order_and_hot_fields(void **state)
{
    (void)state;
    uint8_t a[16], b[16], c[16], d[16];
    cold_hash_of("{\"a\":[1,2],\"b\":{\"c\":\"x y\",\"d\":[]},\"like_count\":1}", a);
    cold_hash_of("{ \"b\" :\t{ \"c\" : \"x y\" ,\r\n \"d\" : [ ] } ,\n \"a\" : [ 1 , 2 ] }", b);
    cold_hash_of("{\"view_count\":9,\"a\":[1,2],\"like_count\":2,\"b\":{\"c\":\"x y\",\"d\":[]}}",
                 c);
    assert_memory_equal(a, b, 16);
    assert_memory_equal(a, c, 16);
    /* the documented canonical form, hashed directly */
    const char *canon = "{\"a\":[1,2],\"b\":{\"c\":\"x y\",\"d\":[]}}";
    cold_hash_of(canon, d);
    assert_memory_equal(a, d, 16);
}

static void cold_hash_changes_with_any_cold_byte_that_is_kept(void **state)
{
    (void)state;
    static const char *variants[] = {
        "{\"a\":[1,2],\"b\":\"x y\"}",
        "{\"a\":[1,3],\"b\":\"x y\"}",
        "{\"a\":[1,2],\"b\":\"x  y\"}",
        "{\"a\":[1,2.0],\"b\":\"x y\"}",
        "{\"a\":[1,2],\"b\":\"x\\u0020y\"}",
        "{\"\\u0061\":[1,2],\"b\":\"x y\"}",
        "{\"a\":[2,1],\"b\":\"x y\"}",
        "{\"a\":[1,2]}",
        "{\"a\":[1,2],\"b\":\"x y\",\"c\":null}",
        "{\"a\":{\"p\":1,\"q\":2},\"b\":\"x y\"}",
        "{\"a\":{\"q\":2,\"p\":1},\"b\":\"x y\"}",
        "{}",
    };
    enum { N = sizeof variants / sizeof variants[0] };
    uint8_t h[N][16];
    for (size_t i = 0; i < N; i++)
        cold_hash_of(variants[i], h[i]);
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++)
            if (memcmp(h[i], h[j], 16) == 0)
                fail_msg("'%s' and '%s' hash alike", variants[i], variants[j]);
    char hex[33];
    hs_split_hash_hex(h[0], hex);
    assert_int_equal(strlen(hex), 32);
    assert_int_equal(strspn(hex, "0123456789abcdef"), 32);
}

static void merge_restores_original_order_for_reordered_cold_part(void **state)
{
    (void)state;
    /* a pure hot update: new hot part and record, cold part stored from an earlier order */
    struct hs_split_hotset *hs = default_hot();
    struct hs_split_result old, upd;
    split_ok(hs, "{\"a\":1,\"like_count\":1,\"b\":2}", &old);
    split_ok(hs, "{\"like_count\":2,\"b\":2,\"a\":1}", &upd);
    assert_memory_equal(old.cold_hash, upd.cold_hash, 16);
    struct hs_buf out;
    hs_buf_init(&out, 0);
    assert_int_equal(hs_split_merge(NULL, upd.hot.data, upd.hot.len, old.cold.data, old.cold.len,
                                    upd.order.data, upd.order.len, &out, NULL),
                     HS_OK);
    assert_buf_eq(&out, "{\"like_count\":2,\"b\":2,\"a\":1}");
    hs_buf_release(&out);
    hs_split_result_release(&old);
    hs_split_result_release(&upd);
    hs_split_hotset_free(hs);
}

static void merge_rejects_parts_that_disagree_with_the_record(void **state)
{
    (void)state;
    static const struct {
        const char *hot, *cold, *order;
    } cases[] = {
        {"{\"h\":1}", "{\"c\":2}", "[\"hh\"]"},                /* c not named */
        {"{\"h\":1}", "{\"c\":2}", "[\"hh\",\"cc\",\"cd\"]"},  /* d does not exist */
        {"{\"h\":1}", "{\"c\":2}", "[\"ch\",\"cc\"]"},         /* wrong part */
        {"{\"h\":1}", "{\"c\":2}", "[\"hh\",\"xc\"]"},         /* bad flag */
        {"{\"h\":1}", "{\"c\":2}", "[\"hh\",\"cc\",\"cc\"]"},  /* named twice */
        {"{\"h\":1}", "{\"c\":2}", "[\"hh\",\"\",\"cc\"]"},    /* no flag */
        {"{\"h\":1}", "{\"c\":2}", "[\"hh\",\"cc\""},          /* truncated record */
        {"{\"h\":1}", "{\"c\":2}", "{\"hh\":1}"},              /* not an array */
        {"{\"h\":1", "{\"c\":2}", "[\"hh\",\"cc\"]"},          /* truncated part */
        {"{\"h\":1}", "{\"c\":2,\"c\":3}", "[\"hh\",\"cc\"]"}, /* duplicate in a part */
        {"{\"h\":1}", "{\"c\":2}", "[\"hh\",\"cc\"] x"},       /* trailing */
    };
    struct hs_buf out;
    hs_buf_init(&out, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum hs_err rc =
            hs_split_merge(NULL, (const uint8_t *)cases[i].hot, strlen(cases[i].hot),
                           (const uint8_t *)cases[i].cold, strlen(cases[i].cold),
                           (const uint8_t *)cases[i].order, strlen(cases[i].order), &out, NULL);
        if (rc != HS_ECORRUPT)
            fail_msg("case %zu: rc %d", i, rc);
        assert_int_equal(out.len, 0);
    }
    /* escaped record entries are matched after unescaping */
    const char *ord = " [ \"\\u0068h\" , \"c\\u0063\" ] ";
    assert_int_equal(hs_split_merge(NULL, (const uint8_t *)"{\"h\":1}", 7,
                                    (const uint8_t *)"{\"c\":2}", 7, (const uint8_t *)ord,
                                    strlen(ord), &out, NULL),
                     HS_OK);
    assert_buf_eq(&out, "{\"h\":1,\"c\":2}");
    hs_buf_release(&out);
}

static void outputs_over_their_cap_fail_with_etoobig(void **state)
{
    (void)state;
    struct hs_split_result r;
    hs_split_result_init(&r, 16);
    const char *doc = "{\"title\":\"a long enough cold value\"}";
    assert_int_equal(hs_split_document(NULL, NULL, (const uint8_t *)doc, strlen(doc), &r, NULL),
                     HS_ETOOBIG);
    assert_int_equal(r.hot.len + r.cold.len + r.order.len, 0);
    hs_split_result_release(&r);
}

static void hotset_parses_lists_and_tests_membership(void **state)
{
    (void)state;
    struct hs_split_hotset *hs = NULL;
    assert_int_equal(hs_split_hotset_new_csv(" a , b,,\tc\t,a,", &hs), HS_OK);
    assert_int_equal(hs_split_hotset_count(hs), 3);
    assert_true(hs_split_hotset_contains(hs, "a", 1));
    assert_true(hs_split_hotset_contains(hs, "c", 1));
    assert_false(hs_split_hotset_contains(hs, " a", 2));
    assert_false(hs_split_hotset_contains(hs, "ab", 2));
    assert_false(hs_split_hotset_contains(NULL, "a", 1));
    hs_split_hotset_free(hs);
    const char *names[] = {"caf\xC3\xA9", "x,y"};
    assert_int_equal(hs_split_hotset_new(names, 2, &hs), HS_OK);
    assert_true(hs_split_hotset_contains(hs, "x,y", 3));
    assert_true(hs_split_hotset_contains(hs, "caf\xC3\xA9", 5));
    hs_split_hotset_free(hs);
    struct hs_split_hotset *untouched = NULL;
    const char *bad[] = {"ok", "\xC0\xAF"};
    assert_int_equal(hs_split_hotset_new(bad, 2, &untouched), HS_EINVAL);
    assert_null(untouched);
    hs_split_hotset_free(NULL);
}

/* ---- merge patch ---------------------------------------------------------------------------- */

struct patch_out {
    enum hs_err rc;
    bool touches_cold;
    struct hs_buf hot, order;
    struct hs_split_error err;
};

static void patch_str(const struct hs_split_hotset *hs, const struct hs_split_result *r,
                      const char *patch, struct patch_out *po)
{
    hs_buf_init(&po->hot, 0);
    hs_buf_init(&po->order, 0);
    po->touches_cold = false;
    po->err = (struct hs_split_error){0};
    po->rc = hs_split_patch(NULL, hs, r->hot.data, r->hot.len, r->order.data, r->order.len,
                            (const uint8_t *)patch, strlen(patch), &po->hot, &po->order,
                            &po->touches_cold, &po->err);
}

static void patch_out_release(struct patch_out *po)
{
    hs_buf_release(&po->hot);
    hs_buf_release(&po->order);
}

/* Patches doc and checks the new hot part, record and merged document. */
static void check_patch(const char *doc, const char *patch, const char *want_hot,
                        const char *want_order, const char *want_doc)
{
    struct hs_split_hotset *hs = default_hot();
    struct hs_split_result r;
    struct patch_out po;
    split_ok(hs, doc, &r);
    patch_str(hs, &r, patch, &po);
    assert_int_equal(po.rc, HS_OK);
    assert_false(po.touches_cold);
    assert_buf_eq(&po.hot, want_hot);
    assert_buf_eq(&po.order, want_order);
    struct hs_split_result merged = r;
    merged.hot = po.hot;
    merged.order = po.order;
    assert_merges_to(&merged, want_doc);
    patch_out_release(&po);
    hs_split_result_release(&r);
    hs_split_hotset_free(hs);
}

static const char patch_doc[] =
    "{\"title\":\"t\",\"like_count\":1,\"view_count\":{\"a\":1, \"b\":[2]},\"x\":0}";

static void patch_replaces_hot_values_and_merges_nested_objects(void **state)
{
    (void)state;
    check_patch(patch_doc, "{\"like_count\":2e3,\"view_count\":{\"b\":null,\"c\":{\"d\":null}}}",
                "{\"like_count\":2e3,\"view_count\":{\"a\":1,\"c\":{}}}",
                "[\"ctitle\",\"hlike_count\",\"hview_count\",\"cx\"]",
                "{\"title\":\"t\",\"like_count\":2e3,\"view_count\":{\"a\":1,\"c\":{}},\"x\":0}");
    /* a stored value with nested duplicate keys (accepted) has both copies patched alike */
    check_patch("{\"like_count\":{\"y\":1,\"y\":2,\"z\":0}}", "{\"like_count\":{\"y\":3}}",
                "{\"like_count\":{\"y\":3,\"y\":3,\"z\":0}}", "[\"hlike_count\"]",
                "{\"like_count\":{\"y\":3,\"y\":3,\"z\":0}}");
    /* an untouched hot value keeps its bytes, whitespace included */
    check_patch(patch_doc, "{}", "{\"like_count\":1,\"view_count\":{\"a\":1, \"b\":[2]}}",
                "[\"ctitle\",\"hlike_count\",\"hview_count\",\"cx\"]",
                "{\"title\":\"t\",\"like_count\":1,\"view_count\":{\"a\":1, \"b\":[2]},\"x\":0}");
}

static void patch_null_deletes_and_new_hot_keys_append(void **state)
{
    (void)state;
    check_patch(patch_doc, "{\"like_count\":null,\"update_count\":{\"n\":null,\"m\":[null]}}",
                "{\"view_count\":{\"a\":1, \"b\":[2]},\"update_count\":{\"m\":[null]}}",
                "[\"ctitle\",\"hview_count\",\"cx\",\"hupdate_count\"]",
                "{\"title\":\"t\",\"view_count\":{\"a\":1, \"b\":[2]},\"x\":0,"
                "\"update_count\":{\"m\":[null]}}");
    /* deleting an absent key is a no-op, even for a non-hot name */
    check_patch(patch_doc, "{\"nope\":null,\"inventory_count\":null}",
                "{\"like_count\":1,\"view_count\":{\"a\":1, \"b\":[2]}}",
                "[\"ctitle\",\"hlike_count\",\"hview_count\",\"cx\"]",
                "{\"title\":\"t\",\"like_count\":1,\"view_count\":{\"a\":1, \"b\":[2]},\"x\":0}");
    /* an escaped patch key matches the stored key, which keeps its spelling */
    check_patch(patch_doc, "{\"like\\u005fcount\":7}",
                "{\"like_count\":7,\"view_count\":{\"a\":1, \"b\":[2]}}",
                "[\"ctitle\",\"hlike_count\",\"hview_count\",\"cx\"]",
                "{\"title\":\"t\",\"like_count\":7,\"view_count\":{\"a\":1, \"b\":[2]},\"x\":0}");
}

static void patch_touching_cold_fields_asks_for_full_update(void **state)
{
    (void)state;
    static const char *touching[] = {"{\"like_count\":2,\"title\":\"u\"}", "{\"x\":null}",
                                     "{\"brand_new\":1}"};
    struct hs_split_hotset *hs = default_hot();
    struct hs_split_result r;
    struct patch_out po;
    split_ok(hs, patch_doc, &r);
    for (size_t i = 0; i < sizeof touching / sizeof touching[0]; i++) {
        patch_str(hs, &r, touching[i], &po);
        assert_int_equal(po.rc, HS_OK);
        assert_true(po.touches_cold);
        assert_int_equal(po.hot.len + po.order.len, 0);
        patch_out_release(&po);
    }
    /* a stored cold field that the hot set now names is still cold for this object */
    struct hs_split_result old;
    split_ok(NULL, "{\"like_count\":1}", &old);
    patch_str(hs, &old, "{\"like_count\":2}", &po);
    assert_int_equal(po.rc, HS_OK);
    assert_true(po.touches_cold);
    patch_out_release(&po);
    hs_split_result_release(&old);
    hs_split_result_release(&r);
    hs_split_hotset_free(hs);
}

static void invalid_patches_and_corrupt_records_are_refused(void **state)
{
    (void)state;
    static const struct bad_doc bad_patches[] = {
        {"{\"like_count\":1,}", 0, HS_SPLIT_SYNTAX, 16},
        {"[1]", 0, HS_SPLIT_NOT_OBJECT, 0},
        {"{\"view_count\":{\"a\":1,\"a\":2}}", 0, HS_SPLIT_DUPLICATE_KEY, 21},
        {"{\"like_count\":1,\"like_count\":2}", 0, HS_SPLIT_DUPLICATE_KEY, 16},
    };
    struct hs_split_hotset *hs = default_hot();
    struct hs_split_result r;
    struct patch_out po;
    split_ok(hs, patch_doc, &r);
    for (size_t i = 0; i < sizeof bad_patches / sizeof bad_patches[0]; i++) {
        patch_str(hs, &r, bad_patches[i].doc, &po);
        assert_int_equal(po.rc, HS_EINVAL);
        assert_int_equal(po.err.code, bad_patches[i].code);
        assert_int_equal(po.err.offset, bad_patches[i].offset);
        assert_int_equal(po.hot.len + po.order.len, 0);
        patch_out_release(&po);
    }
    /* the record names a hot key the hot part lacks */
    hs_buf_reset(&r.order);
    assert_int_equal(hs_buf_append(&r.order, "[\"hlike_count\",\"hzz\"]", 21), HS_OK);
    patch_str(hs, &r, "{\"like_count\":3}", &po);
    assert_int_equal(po.rc, HS_ECORRUPT);
    patch_out_release(&po);
    hs_split_result_release(&r);
    hs_split_hotset_free(hs);
}

/* ---- generated documents against jansson ----------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
    /* xorshift64*: deterministic across platforms */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

static unsigned below(uint64_t *s, unsigned n)
{
    return (unsigned)(rnd(s) >> 33) % n;
}

/* Content comes from c; inner whitespace from w; whitespace between top-level tokens from t
 * (so one tree can be written in several layouts). */
struct gen {
    uint64_t c, w, t;
    bool ws;     /* whitespace inside values */
    bool top_ws; /* whitespace between top-level tokens */
    struct hs_buf *out;
};

static void put(struct gen *g, const char *s)
{
    assert_int_equal(hs_buf_append(g->out, s, strlen(s)), HS_OK);
}

static void gen_ws(struct gen *g, uint64_t *rng, bool on)
{
    static const char *ws[] = {" ", "\n  ", "\t", "\r\n"};
    if (on && below(rng, 3) == 0)
        put(g, ws[below(rng, 4)]);
}

static void gen_string(struct gen *g)
{
    static const char *pieces[] = {"a",
                                   "Zq",
                                   "hello",
                                   " ",
                                   "{",
                                   "}",
                                   "[",
                                   "]",
                                   ":",
                                   ",",
                                   "\\\"",
                                   "\\\\",
                                   "\\/",
                                   "\\b",
                                   "\\f",
                                   "\\n",
                                   "\\r",
                                   "\\t",
                                   "\\u00e9",
                                   "\\u0000",
                                   "\\ud83d\\ude00",
                                   "\\u20AC",
                                   "\xC3\xA9",
                                   "\xE4\xB8\xAD",
                                   "\xF0\x9F\x98\x80",
                                   "\x7F",
                                   "0",
                                   "true"};
    put(g, "\"");
    for (unsigned i = below(&g->c, 6); i > 0; i--)
        put(g, pieces[below(&g->c, sizeof pieces / sizeof pieces[0])]);
    put(g, "\"");
}

static void gen_number(struct gen *g)
{
    static const char *forms[] = {
        "0",       "-0",   "7",        "-42",    "123456789012345",     "3.25",
        "-0.5e-3", "1E10", "6.02e+23", "1e-300", "12345678901234567890"};
    put(g, forms[below(&g->c, sizeof forms / sizeof forms[0])]);
}

static void gen_value(struct gen *g, unsigned depth)
{
    unsigned kind = below(&g->c, depth >= 6 ? 5 : 7);
    char key[32];
    switch (kind) {
    case 0:
        gen_string(g);
        break;
    case 1:
        gen_number(g);
        break;
    case 2:
        put(g, "true");
        break;
    case 3:
        put(g, "null");
        break;
    case 4:
        put(g, "false");
        break;
    case 5:
    case 6: {
        bool obj = kind == 5;
        unsigned n = below(&g->c, 5);
        put(g, obj ? "{" : "[");
        for (unsigned i = 0; i < n; i++) {
            gen_ws(g, &g->w, g->ws);
            if (i)
                put(g, ",");
            gen_ws(g, &g->w, g->ws);
            if (obj) {
                /* unique per object; sometimes with an escape that unescapes to 'k' */
                snprintf(key, sizeof key, "\"%sk%u\"", below(&g->c, 4) ? "" : "\\u006b", i);
                put(g, key);
                gen_ws(g, &g->w, g->ws);
                put(g, ":");
                gen_ws(g, &g->w, g->ws);
            }
            gen_value(g, depth + 1);
        }
        gen_ws(g, &g->w, g->ws);
        put(g, obj ? "}" : "]");
        break;
    }
    }
}

static const char *hot_names[] = {"like_count", "view_count", "inventory_count", "update_count"};

/* A document: members i with value seeds; hot[i] = 1 + index into hot_names, or 0. */
struct docspec {
    unsigned n;
    uint64_t seeds[24];
    unsigned hot[24];
};

static void make_spec(uint64_t *s, struct docspec *d)
{
    bool used[4] = {false};
    d->n = below(s, 24);
    for (unsigned i = 0; i < d->n; i++) {
        d->seeds[i] = rnd(s) | 1;
        unsigned h = below(s, 8);
        d->hot[i] = h < 4 && !used[h] ? h + 1 : 0;
        if (d->hot[i])
            used[h] = true;
    }
}

/* Writes the document with members in the order perm (NULL = natural). */
static void write_doc(const struct docspec *d, const unsigned *perm, uint64_t wseed, bool ws,
                      bool top_ws, struct hs_buf *out)
{
    struct gen g = {.w = wseed | 1, .t = wseed * 3 | 1, .ws = ws, .top_ws = top_ws, .out = out};
    char key[40];
    hs_buf_reset(out);
    gen_ws(&g, &g.t, top_ws);
    put(&g, "{");
    for (unsigned k = 0; k < d->n; k++) {
        unsigned i = perm ? perm[k] : k;
        gen_ws(&g, &g.t, top_ws);
        if (k)
            put(&g, ",");
        gen_ws(&g, &g.t, top_ws);
        if (d->hot[i])
            snprintf(key, sizeof key, "\"%s\"", hot_names[d->hot[i] - 1]);
        else
            snprintf(key, sizeof key, "\"f%u\"", i);
        put(&g, key);
        gen_ws(&g, &g.t, top_ws);
        put(&g, ":");
        gen_ws(&g, &g.t, top_ws);
        g.c = d->seeds[i];
        gen_value(&g, 1);
    }
    gen_ws(&g, &g.t, top_ws);
    put(&g, "}");
    gen_ws(&g, &g.t, top_ws);
}

static json_t *jload(const struct hs_buf *b)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)b->data, b->len, JFLAGS, &je);
    if (!j)
        fail_msg("jansson rejects '%.*s': %s at %d", (int)b->len, (const char *)b->data, je.text,
                 je.position);
    return j;
}

/* Same keys in the same order, equal values. */
static void assert_json_same(json_t *a, json_t *b)
{
    assert_true(json_equal(a, b));
    void *ia = json_object_iter(a), *ib = json_object_iter(b);
    for (; ia && ib; ia = json_object_iter_next(a, ia), ib = json_object_iter_next(b, ib))
        assert_string_equal(json_object_iter_key(ia), json_object_iter_key(ib));
    assert_true(ia == NULL && ib == NULL);
}

/* Splits one generated document and checks parts, merge and hash against the oracle. */
static void check_generated(const struct hs_split_hotset *hs, const struct docspec *d,
                            uint64_t wseed)
{
    struct hs_buf doc, compact, merged;
    struct hs_split_result r, r2;
    hs_buf_init(&doc, 0);
    hs_buf_init(&compact, 0);
    hs_buf_init(&merged, 0);
    write_doc(d, NULL, wseed, true, true, &doc);
    write_doc(d, NULL, wseed, true, false, &compact);
    hs_split_result_init(&r, 0);
    struct hs_split_error e = {0};
    if (hs_split_document(NULL, hs, doc.data, doc.len, &r, &e) != HS_OK)
        fail_msg("rejected '%.*s': %s at %zu", (int)doc.len, (char *)doc.data,
                 hs_split_error_name(e.code), e.offset);
    assert_int_equal(hs_split_merge(NULL, r.hot.data, r.hot.len, r.cold.data, r.cold.len,
                                    r.order.data, r.order.len, &merged, NULL),
                     HS_OK);
    /* byte-exact: only whitespace between top-level tokens may differ */
    assert_int_equal(merged.len, compact.len);
    assert_memory_equal(merged.data, compact.data, merged.len);
    json_t *j0 = jload(&doc), *jm = jload(&merged), *jh = jload(&r.hot), *jc = jload(&r.cold);
    assert_json_same(j0, jm);
    const char *k;
    json_t *v;
    json_object_foreach(j0, k, v)
    {
        bool hot = hs_split_hotset_contains(hs, k, strlen(k));
        assert_true(json_equal(v, json_object_get(hot ? jh : jc, k)));
        assert_null(json_object_get(hot ? jc : jh, k));
    }
    assert_int_equal(json_object_size(jh) + json_object_size(jc), json_object_size(j0));
    /* another layout and member order of the same tree: same cold hash */
    unsigned perm[24];
    for (unsigned i = 0; i < d->n; i++)
        perm[i] = d->n - 1 - i;
    write_doc(d, perm, wseed ^ 0x5555, true, true, &doc);
    hs_split_result_init(&r2, 0);
    assert_int_equal(hs_split_document(NULL, hs, doc.data, doc.len, &r2, NULL), HS_OK);
    assert_memory_equal(r.cold_hash, r2.cold_hash, HS_SPLIT_HASH_BYTES);
    json_decref(j0);
    json_decref(jm);
    json_decref(jh);
    json_decref(jc);
    hs_split_result_release(&r);
    hs_split_result_release(&r2);
    hs_buf_release(&doc);
    hs_buf_release(&compact);
    hs_buf_release(&merged);
}

static void generated_documents_round_trip_and_agree_with_jansson(void **state)
{
    (void)state;
    struct hs_split_hotset *hs = default_hot();
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int n = 0; n < 400; n++) {
        struct docspec d;
        make_spec(&s, &d);
        check_generated(hs, &d, rnd(&s));
    }
    hs_split_hotset_free(hs);
}

/* Known, documented differences: jansson cannot hold huge numbers, rejects nested duplicate keys
 * (we check only the top level) and NUL in keys. */
static bool allowed_difference(const json_error_t *je)
{
    enum json_error_code c = json_error_code(je);
    return c == json_error_numeric_overflow || c == json_error_duplicate_key ||
           c == json_error_null_byte_in_key;
}

static void mutated_documents_are_accepted_exactly_when_jansson_accepts(void **state)
{
    (void)state;
    static const uint8_t bytes[] = {'"',  '\\', '{',  '}', '[', ']',  ',', ':',  '0',  '1',
                                    '-',  '.',  'e',  'a', ' ', '\n', 0,   0x1F, 0x80, 0xC0,
                                    0xED, 0xF4, 0xFF, 'u', 't', 'D',  '8', '+'};
    struct hs_buf doc;
    hs_buf_init(&doc, 0);
    uint64_t s = 42;
    unsigned accepted = 0, rejected = 0, differences = 0;
    for (int n = 0; n < 300; n++) {
        struct docspec d;
        make_spec(&s, &d);
        uint64_t wseed = rnd(&s);
        for (int m = 0; m < 30; m++) {
            write_doc(&d, NULL, wseed, true, true, &doc);
            size_t pos = doc.len ? below(&s, (unsigned)doc.len) : 0;
            uint8_t b = bytes[below(&s, sizeof bytes)];
            switch (below(&s, 4)) {
            case 0:
                doc.data[pos] = b;
                break;
            case 1:
                memmove(doc.data + pos, doc.data + pos + 1, doc.len - pos - 1);
                doc.len--;
                break;
            case 2:
                assert_int_equal(hs_buf_append(&doc, "", 1), HS_OK); /* room for one more */
                memmove(doc.data + pos + 1, doc.data + pos, doc.len - pos - 1);
                doc.data[pos] = b;
                break;
            default:
                doc.len = pos;
                break;
            }
            json_error_t je;
            json_t *j = json_loadb((const char *)doc.data, doc.len, JFLAGS, &je);
            bool theirs = j && json_typeof(j) == JSON_OBJECT;
            struct hs_split_error e = {0};
            bool ours = hs_split_validate(NULL, doc.data, doc.len, &e) == HS_OK;
            json_decref(j);
            /* jansson also takes a raw NUL outside strings for the end of its input */
            bool nul = !ours && theirs && e.offset < doc.len && doc.data[e.offset] == 0;
            if (ours != theirs && !(ours && !j && allowed_difference(&je)) && !nul)
                fail_msg("we %s, jansson %s (%s): '%.*s'", ours ? "accept" : "reject",
                         theirs ? "accepts" : "rejects", j ? "" : je.text, (int)doc.len,
                         (const char *)doc.data);
            differences += ours != theirs;
            accepted += ours;
            rejected += !ours;
        }
    }
    print_message("mutations: %u accepted, %u rejected, %u documented differences\n", accepted,
                  rejected, differences);
    assert_true(accepted > 100 && rejected > 1000);
    hs_buf_release(&doc);
}

/* RFC 7396 on jansson values: the oracle for hs_split_patch. Returns a new reference. */
static json_t *oracle_merge_patch(json_t *target, json_t *patch)
{
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *t = json_is_object(target) ? json_deep_copy(target) : json_object();
    const char *k;
    json_t *v;
    json_object_foreach(patch, k, v)
    {
        if (json_is_null(v))
            json_object_del(t, k);
        else
            json_object_set_new(t, k, oracle_merge_patch(json_object_get(t, k), v));
    }
    return t;
}

/* A random patch: hot keys (present or not), sometimes a cold key; values null, scalars or
 * objects holding nulls. Sets *cold when it must touch the cold part. */
static void make_patch(uint64_t *s, const struct docspec *d, struct hs_buf *out, bool *cold)
{
    struct gen g = {.c = rnd(s) | 1, .w = 1, .t = 1, .out = out};
    hs_buf_reset(out);
    put(&g, "{");
    *cold = false;
    unsigned n = below(s, 4), first = 1;
    for (unsigned i = 0; i < n + 1 && i < 4; i++) {
        char key[40];
        if (i == n) { /* at most one cold key, and rarely */
            if (d->n == 0 || below(s, 6) != 0 || d->hot[0])
                break;
            snprintf(key, sizeof key, "%s\"f0\":", first ? "" : ",");
            *cold = true;
        } else {
            snprintf(key, sizeof key, "%s\"%s\":", first ? "" : ",", hot_names[i]);
        }
        first = 0;
        put(&g, key);
        unsigned kind = below(s, 4);
        if (kind == 0) {
            put(&g, "null");
        } else if (kind == 1) {
            gen_value(&g, 1);
        } else {
            put(&g, "{\"k0\":null,\"k1\":");
            gen_value(&g, 4);
            put(&g, ",\"k2\":{\"z\":null,\"y\":1}}");
        }
    }
    put(&g, "}");
}

static void generated_patches_agree_with_rfc7396_oracle(void **state)
{
    (void)state;
    struct hs_split_hotset *hs = default_hot();
    struct hs_buf doc, patch, merged;
    hs_buf_init(&doc, 0);
    hs_buf_init(&patch, 0);
    hs_buf_init(&merged, 0);
    uint64_t s = 7;
    unsigned applied = 0;
    for (int n = 0; n < 300; n++) {
        struct docspec d;
        struct hs_split_result r;
        struct patch_out po;
        bool cold;
        make_spec(&s, &d);
        write_doc(&d, NULL, rnd(&s), true, true, &doc);
        make_patch(&s, &d, &patch, &cold);
        assert_int_equal(hs_buf_append(&patch, "", 1), HS_OK); /* NUL-terminate both */
        assert_int_equal(hs_buf_append(&doc, "", 1), HS_OK);
        doc.len--;
        split_ok(hs, (const char *)doc.data, &r);
        patch_str(hs, &r, (const char *)patch.data, &po);
        assert_int_equal(po.rc, HS_OK);
        if (po.touches_cold != cold)
            fail_msg("patch '%s' touches_cold=%d", (char *)patch.data, po.touches_cold);
        if (!cold) {
            hs_buf_reset(&merged);
            assert_int_equal(hs_split_merge(NULL, po.hot.data, po.hot.len, r.cold.data, r.cold.len,
                                            po.order.data, po.order.len, &merged, NULL),
                             HS_OK);
            patch.len--; /* drop the NUL */
            json_t *j0 = jload(&doc), *jp = jload(&patch), *jm = jload(&merged);
            json_t *want = oracle_merge_patch(j0, jp);
            assert_json_same(want, jm);
            json_decref(j0);
            json_decref(jp);
            json_decref(jm);
            json_decref(want);
            applied++;
        }
        patch_out_release(&po);
        hs_split_result_release(&r);
    }
    assert_true(applied > 200);
    hs_buf_release(&doc);
    hs_buf_release(&patch);
    hs_buf_release(&merged);
    hs_split_hotset_free(hs);
}

/* Per-member digests: what a full PUT compares to find the fields it changed. */
static void split_with_fields(const char *doc, struct hs_split_result *r)
{
    struct hs_split_hotset *hs = default_hot();
    hs_split_result_init(r, 0);
    r->want_fields = true;
    assert_int_equal(hs_split_document(NULL, hs, (const uint8_t *)doc, strlen(doc), r, NULL),
                     HS_OK);
    hs_split_hotset_free(hs);
}

static uint64_t digest_of(const struct hs_split_result *r, const char *name)
{
    for (size_t i = 0; i < r->n_fields; i++) {
        const struct hs_split_field *f = &r->fields[i];
        if (f->name_len == strlen(name) &&
            memcmp(r->names.data + f->name_off, name, f->name_len) == 0)
            return f->digest;
    }
    fail_msg("no field '%s'", name);
    return 0;
}

static void field_digests_ignore_order_and_whitespace_but_see_values(void **state)
{
    (void)state;
    struct hs_split_result a, b, c;
    split_with_fields("{\"like_count\":1,\"t\\u0069tle\":\"x y\",\"n\":{\"a\":[1, 2]}}", &a);
    split_with_fields("{ \"n\" : { \"a\" : [1,2] } , \"title\":\"x y\", \"like_count\":1}", &b);
    split_with_fields("{\"like_count\":2,\"title\":\"x  y\",\"n\":{\"a\":[1,2]}}", &c);
    assert_int_equal(a.n_fields, 3);
    assert_true(a.fields[0].hot);
    assert_false(a.fields[1].hot);
    assert_int_equal(a.fields[1].name_len, 5); /* unescaped: "title" */
    assert_int_equal(a.fields[1].value_len, 5);
    assert_true(digest_of(&a, "title") == digest_of(&b, "title"));
    assert_true(digest_of(&a, "n") == digest_of(&b, "n"));
    assert_true(digest_of(&a, "like_count") == digest_of(&b, "like_count"));
    assert_true(digest_of(&a, "like_count") != digest_of(&c, "like_count"));
    assert_true(digest_of(&a, "title") != digest_of(&c, "title")); /* whitespace in a string */
    assert_true(digest_of(&a, "n") == digest_of(&c, "n"));
    /* without want_fields nothing is filled */
    struct hs_split_result d;
    split_ok(NULL, "{\"a\":1}", &d);
    assert_int_equal(d.n_fields, 0);
    hs_split_result_release(&a);
    hs_split_result_release(&b);
    hs_split_result_release(&c);
    hs_split_result_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_error_class_reports_code_and_offset),
        cmocka_unit_test(error_format_names_text_and_offset),
        cmocka_unit_test(nesting_past_max_depth_is_rejected_at_the_bracket),
        cmocka_unit_test(rfc_edge_cases_are_accepted),
        cmocka_unit_test(utf8_acceptance_matches_jansson_for_every_lead_and_second_byte),
        cmocka_unit_test(hot_only_document_has_empty_cold_part),
        cmocka_unit_test(cold_only_and_empty_documents_split),
        cmocka_unit_test(nested_values_with_braces_and_quotes_are_copied_exactly),
        cmocka_unit_test(huge_numbers_and_unicode_are_preserved_byte_for_byte),
        cmocka_unit_test(cold_hash_ignores_whitespace_order_and_hot_fields),
        cmocka_unit_test(cold_hash_changes_with_any_cold_byte_that_is_kept),
        cmocka_unit_test(merge_restores_original_order_for_reordered_cold_part),
        cmocka_unit_test(merge_rejects_parts_that_disagree_with_the_record),
        cmocka_unit_test(outputs_over_their_cap_fail_with_etoobig),
        cmocka_unit_test(hotset_parses_lists_and_tests_membership),
        cmocka_unit_test(patch_replaces_hot_values_and_merges_nested_objects),
        cmocka_unit_test(patch_null_deletes_and_new_hot_keys_append),
        cmocka_unit_test(patch_touching_cold_fields_asks_for_full_update),
        cmocka_unit_test(invalid_patches_and_corrupt_records_are_refused),
        cmocka_unit_test(generated_documents_round_trip_and_agree_with_jansson),
        cmocka_unit_test(mutated_documents_are_accepted_exactly_when_jansson_accepts),
        cmocka_unit_test(generated_patches_agree_with_rfc7396_oracle),
        cmocka_unit_test(field_digests_ignore_order_and_whitespace_but_see_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
