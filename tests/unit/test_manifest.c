/* test_manifest.c - manifests and write-ahead records: round trips of every strategy, the
 * pinned JSON layout, every validation rule (on the struct and on the JSON), truncated input at
 * every offset, the etcd key layout, txn and blob ids, and the blob listings GC works from. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/manifest.h"

static const char *const TXN = "0123456789abcdef0123456789abcdef";

/* ---- builders of valid manifests ---- */

static void fill_blob(struct hs_meta_blob_ref *b, enum hs_meta_blob_part part, size_t seg,
                      size_t idx, int node, int64_t len, uint32_t crc)
{
    char id[HS_META_BLOB_ID_BUF], node_id[16];
    assert_int_equal(hs_meta_blob_id_make(TXN, part, (uint32_t)seg, (uint32_t)idx, id), HS_OK);
    snprintf(node_id, sizeof node_id, "node-%d", node % 10);
    hs_meta_blob_ref_set(b, id, node_id, len, crc);
}

static int64_t seg_len(int64_t len, size_t nseg, size_t i)
{
    int64_t base = len / (int64_t)nseg;
    return i + 1 == nseg ? len - base * (int64_t)(nseg - 1) : base;
}

static void fill_repl(struct hs_part *p, enum hs_meta_blob_part part, uint32_t r, int64_t len,
                      size_t nseg, int node_base)
{
    hs_part_init_replicated(p, r, nseg);
    p->len_bytes = len;
    for (size_t i = 0; i < nseg; i++) {
        struct hs_segment *s = &p->segments[i];
        s->len_bytes = seg_len(len, nseg, i);
        s->crc32c = 0xc0ffee00u + (uint32_t)i;
        for (size_t j = 0; j < r; j++)
            fill_blob(&s->blobs[j], part, i, j, node_base + (int)(i + j), s->len_bytes, s->crc32c);
    }
}

static void fill_ec(struct hs_part *p, enum hs_meta_blob_part part, uint32_t k, uint32_t m,
                    int64_t stripe, int64_t len, size_t nseg, int node_base)
{
    hs_part_init_ec(p, k, m, stripe, nseg);
    p->len_bytes = len;
    for (size_t i = 0; i < nseg; i++) {
        struct hs_segment *s = &p->segments[i];
        s->len_bytes = seg_len(len, nseg, i);
        s->crc32c = 0x0badf00du ^ (uint32_t)i;
        int64_t per_stripe = (int64_t)k * stripe;
        int64_t shard = (s->len_bytes + per_stripe - 1) / per_stripe * stripe;
        for (size_t j = 0; j < (size_t)k + m; j++)
            fill_blob(&s->blobs[j], part, i, j, node_base + (int)j, shard,
                      0xabc00000u + (uint32_t)j);
    }
}

static void fill_header(struct hs_manifest *m, const char *key, enum hs_strategy s, int64_t size)
{
    hs_manifest_init(m);
    m->key = strdup(key);
    m->strategy = s;
    m->size_bytes = size;
    m->content_type = strdup("application/octet-stream");
    m->etag = strdup("3-0123abcd");
    m->version = 3;
    m->created_ms = 1795000000123;
    m->txn_id = strdup(TXN);
}

static void make_replication(struct hs_manifest *m)
{
    fill_header(m, "photos/cat.jpg", HS_STRATEGY_REPLICATION, 1000);
    fill_repl(&m->data, HS_META_PART_DATA, 3, 1000, 1, 0);
}

static void make_ec(struct hs_manifest *m)
{
    fill_header(m, "videos/big.bin", HS_STRATEGY_EC, 300000);
    fill_ec(&m->data, HS_META_PART_DATA, 4, 2, 65536, 300000, 3, 0);
}

static void make_hybrid(struct hs_manifest *m, bool with_cold)
{
    fill_header(m, "users/42", HS_STRATEGY_FIELD_HYBRID, 500);
    free(m->content_type);
    m->content_type = strdup("application/json");
    fill_repl(&m->hot, HS_META_PART_HOT, 3, 40, 1, 2);
    if (with_cold) {
        m->has_cold = true;
        fill_ec(&m->cold, HS_META_PART_COLD, 4, 2, 4096, 400, 1, 4);
    }
    m->cold_hash = strdup("00112233445566778899aabbccddeeff");
    m->field_order_version = 1;
    /* split.h's order record: flag char + key; a key may hold \u0000 */
    m->field_order_json = strdup("[\"hid\", \"cname\", \"hlike_count\", \"cnul\\u0000key\"]");
}

static char *encode_ok(const struct hs_manifest *m, size_t *len)
{
    char *text = NULL, why[200] = "";
    enum hs_err err = hs_manifest_encode(m, &text, len, why, sizeof why);
    if (err != HS_OK)
        fail_msg("encode failed: %s: %s", hs_err_name(err), why);
    return text;
}

/* encode -> decode -> encode gives the same bytes, and the decoded struct holds the values */
static void check_round_trip(const struct hs_manifest *m)
{
    size_t len1, len2;
    char *t1 = encode_ok(m, &len1);
    struct hs_manifest d;
    char why[200] = "";
    enum hs_err err = hs_manifest_decode(t1, len1, &d, why, sizeof why);
    if (err != HS_OK)
        fail_msg("decode failed: %s: %s\n%s", hs_err_name(err), why, t1);
    char *t2 = encode_ok(&d, &len2);
    assert_int_equal(len1, len2);
    assert_string_equal(t1, t2);
    assert_string_equal(d.key, m->key);
    assert_int_equal(d.strategy, m->strategy);
    assert_int_equal(d.size_bytes, m->size_bytes);
    assert_int_equal(d.version, m->version);
    assert_int_equal(d.created_ms, m->created_ms);
    assert_int_equal(d.has_cold, m->has_cold);
    const struct hs_part *pa[] = {&m->data, &m->hot, &m->cold};
    const struct hs_part *pb[] = {&d.data, &d.hot, &d.cold};
    for (size_t p = 0; p < 3; p++) {
        assert_int_equal(pa[p]->kind, pb[p]->kind);
        assert_int_equal(pa[p]->n_segments, pb[p]->n_segments);
        int64_t off = 0;
        for (size_t s = 0; s < pa[p]->n_segments; s++) {
            const struct hs_segment *x = &pa[p]->segments[s], *y = &pb[p]->segments[s];
            assert_int_equal(y->offset_bytes, off);
            off += y->len_bytes;
            assert_int_equal(x->crc32c, y->crc32c);
            assert_int_equal(x->n_blobs, y->n_blobs);
            for (size_t b = 0; b < x->n_blobs; b++) {
                assert_string_equal(x->blobs[b].blob_id, y->blobs[b].blob_id);
                assert_string_equal(x->blobs[b].node_id, y->blobs[b].node_id);
                assert_int_equal(x->blobs[b].len_bytes, y->blobs[b].len_bytes);
                assert_int_equal(x->blobs[b].crc32c, y->blobs[b].crc32c);
            }
        }
    }
    free(t1);
    free(t2);
    hs_manifest_release(&d);
}

/* ---- round trips and the pinned layout ---- */

static void replication_manifest_round_trips(void **state)
{
    (void)state;
    struct hs_manifest m;
    make_replication(&m);
    check_round_trip(&m);
    hs_manifest_release(&m);
    fill_header(&m, "multi", HS_STRATEGY_REPLICATION, 200000001);
    fill_repl(&m.data, HS_META_PART_DATA, 2, 200000001, 3, 5);
    check_round_trip(&m);
    hs_manifest_release(&m);
}

static void ec_manifest_round_trips_for_every_k_and_m(void **state)
{
    (void)state;
    struct hs_manifest m;
    make_ec(&m);
    check_round_trip(&m);
    hs_manifest_release(&m);
    for (uint32_t k = 1; k <= 8; k++) {
        for (uint32_t par = 1; par <= 2; par++) {
            fill_header(&m, "ec/k-m", HS_STRATEGY_EC, 12345);
            fill_ec(&m.data, HS_META_PART_DATA, k, par, 512, 12345, 2, 0);
            check_round_trip(&m);
            hs_manifest_release(&m);
        }
    }
}

static void hybrid_manifest_round_trips_with_and_without_cold(void **state)
{
    (void)state;
    struct hs_manifest m;
    make_hybrid(&m, true);
    check_round_trip(&m);
    hs_manifest_release(&m);
    make_hybrid(&m, false);
    check_round_trip(&m);
    hs_manifest_release(&m);
}

static void empty_object_has_no_segment_or_one_empty_segment(void **state)
{
    (void)state;
    struct hs_manifest m;
    fill_header(&m, "empty", HS_STRATEGY_REPLICATION, 0);
    hs_part_init_replicated(&m.data, 3, 0);
    check_round_trip(&m);
    fill_repl(&m.data, HS_META_PART_DATA, 3, 0, 1, 0);
    check_round_trip(&m);
    hs_manifest_release(&m);
    fill_header(&m, "empty-ec", HS_STRATEGY_EC, 0);
    fill_ec(&m.data, HS_META_PART_DATA, 4, 2, 4096, 0, 1, 0);
    check_round_trip(&m);
    hs_manifest_release(&m);
}

static void encoding_matches_the_documented_layout(void **state)
{
    (void)state;
    struct hs_manifest m;
    fill_header(&m, "a/b é", HS_STRATEGY_REPLICATION, 5);
    fill_repl(&m.data, HS_META_PART_DATA, 2, 5, 1, 0);
    m.data.segments[0].crc32c = 0xab;
    m.data.segments[0].blobs[0].crc32c = 0xab;
    m.data.segments[0].blobs[1].crc32c = 0xab;
    size_t len;
    char *text = encode_ok(&m, &len);
    const char *want =
        "{\"v\":1,\"key\":\"a/b é\",\"strategy\":\"replication\",\"size\":5,"
        "\"ctype\":\"application/octet-stream\",\"etag\":\"3-0123abcd\",\"ver\":3,"
        "\"ctime_ms\":1795000000123,\"txn\":\"0123456789abcdef0123456789abcdef\","
        "\"data\":{\"len\":5,\"replicas\":2,\"segs\":[{\"len\":5,\"crc\":\"000000ab\",\"blobs\":["
        "{\"id\":\"0123456789abcdef0123456789abcdef.0.0.0\",\"node\":\"node-0\",\"len\":5,"
        "\"crc\":\"000000ab\"},"
        "{\"id\":\"0123456789abcdef0123456789abcdef.0.0.1\",\"node\":\"node-1\",\"len\":5,"
        "\"crc\":\"000000ab\"}]}]}}";
    assert_string_equal(text, want);
    assert_int_equal(len, strlen(want));
    free(text);
    hs_manifest_release(&m);

    make_hybrid(&m, false);
    text = encode_ok(&m, &len);
    /* the field order comes back compact, as a JSON array, and no "cold" member is written */
    assert_non_null(strstr(
        text, ",\"order_v\":1,\"order\":[\"hid\",\"cname\",\"hlike_count\",\"cnul\\u0000key\"]}"));
    assert_null(strstr(text, "\"cold\""));
    struct hs_manifest d;
    assert_int_equal(hs_manifest_decode(text, len, &d, NULL, 0), HS_OK);
    assert_string_equal(d.field_order_json,
                        "[\"hid\",\"cname\",\"hlike_count\",\"cnul\\u0000key\"]");
    assert_int_equal(d.field_order_version, 1);
    assert_false(d.has_cold);
    free(text);
    hs_manifest_release(&d);
    hs_manifest_release(&m);
}

/* ---- validation of structs: each rule once ---- */

typedef void mutate_fn(struct hs_manifest *m);

struct struct_case {
    const char *name;
    int base; /* 0 replication, 1 ec, 2 hybrid */
    mutate_fn *mutate;
    const char *why; /* expected substring of the reason */
};

static void set_str(char **field, const char *value)
{
    free(*field);
    *field = value ? strdup(value) : NULL;
}
#define SET_STR(field, value) set_str(&(field), (value))

static void m_key_long(struct hs_manifest *m)
{
    char big[1026];
    memset(big, 'k', 1025);
    big[1025] = '\0';
    SET_STR(m->key, big);
}
static void m_strategy(struct hs_manifest *m)
{
    m->strategy = (enum hs_strategy)7;
}
static void m_size_neg(struct hs_manifest *m)
{
    m->size_bytes = -1;
}
static void m_etag_null(struct hs_manifest *m)
{
    SET_STR(m->etag, NULL);
}
static void m_version_zero(struct hs_manifest *m)
{
    m->version = 0;
}
static void m_replicas_zero(struct hs_manifest *m)
{
    m->data.replicas = 0;
}
static void m_blob_long(struct hs_manifest *m)
{
    char big[202];
    memset(big, 'a', 201);
    big[201] = '\0';
    SET_STR(m->data.segments[0].blobs[0].blob_id, big);
}
static void m_k_zero(struct hs_manifest *m)
{
    m->data.k = 0;
}
static void m_m_big(struct hs_manifest *m)
{
    m->data.m = 5;
}
static void m_stripe_zero(struct hs_manifest *m)
{
    m->data.stripe_bytes = 0;
}
static void m_shard_short(struct hs_manifest *m)
{
    for (size_t i = 0; i < 6; i++)
        m->data.segments[0].blobs[i].len_bytes = 100000 / 4 - 1; /* < ceil(100000/4) */
}
static void m_shard_long(struct hs_manifest *m)
{
    for (size_t i = 0; i < 6; i++)
        m->data.segments[0].blobs[i].len_bytes = 25000 + 65536; /* a whole stripe too much */
}
static void m_seg_overflow(struct hs_manifest *m)
{
    m->data.segments[0].len_bytes = INT64_MAX;
}
static void m_wrong_kind(struct hs_manifest *m)
{
    m->data.kind = HS_PART_EC;
}
static void m_repl_with_hot(struct hs_manifest *m)
{
    fill_repl(&m->hot, HS_META_PART_HOT, 3, 1, 1, 0);
}
static void m_hybrid_with_data(struct hs_manifest *m)
{
    fill_repl(&m->data, HS_META_PART_DATA, 3, 1, 1, 0);
}
static void m_order_number(struct hs_manifest *m)
{
    SET_STR(m->field_order_json, "[\"a\",1]");
}
static void m_order_garbage(struct hs_manifest *m)
{
    SET_STR(m->field_order_json, "[\"a\"");
}
static void m_cold_empty(struct hs_manifest *m)
{
    fill_ec(&m->cold, HS_META_PART_COLD, 4, 2, 4096, 0, 0, 4);
}
static void m_cold_flag(struct hs_manifest *m)
{
    m->has_cold = false;
}
static void m_hot_is_ec(struct hs_manifest *m)
{
    fill_ec(&m->hot, HS_META_PART_HOT, 2, 1, 64, 40, 1, 2);
}
static void m_dup_pair(struct hs_manifest *m)
{
    /* the cold part's shard 0 claims to be the hot part's replica 0 */
    struct hs_meta_blob_ref *h = &m->hot.segments[0].blobs[0];
    struct hs_meta_blob_ref *c = &m->cold.segments[0].blobs[0];
    hs_meta_blob_ref_set(c, h->blob_id, h->node_id, c->len_bytes, c->crc32c);
    for (size_t i = 1; i < 6; i++) /* keep cold nodes distinct */
        if (strcmp(m->cold.segments[0].blobs[i].node_id, h->node_id) == 0)
            SET_STR(m->cold.segments[0].blobs[i].node_id, "node-x");
}

static const struct struct_case struct_cases[] = {
    {"key 1025 bytes", 0, m_key_long, "key:"},
    {"strategy unknown", 0, m_strategy, "strategy"},
    {"size negative", 0, m_size_neg, "size"},
    {"etag missing", 0, m_etag_null, "etag"},
    {"version 0", 0, m_version_zero, "ver:"},
    {"replicas 0", 0, m_replicas_zero, "data.replicas"},
    {"blob id 201 chars", 0, m_blob_long, "blobs[0].id"},
    {"k 0", 1, m_k_zero, "data: k=0"},
    {"m 5", 1, m_m_big, "m=5"},
    {"stripe 0", 1, m_stripe_zero, "data.stripe"},
    {"shard too short", 1, m_shard_short, "data.segs[0].blobs[0].len"},
    {"shard too long", 1, m_shard_long, "data.segs[0].blobs[0].len"},
    {"segment length overflows", 1, m_seg_overflow, "data.segs[0]"},
    {"part of the wrong kind", 0, m_wrong_kind, "wrong kind"},
    {"replication with hot part", 0, m_repl_with_hot, "only for field_hybrid"},
    {"hybrid with data part", 2, m_hybrid_with_data, "data: not used"},
    {"order holds a number", 2, m_order_number, "order[1]"},
    {"order not JSON", 2, m_order_garbage, "order"},
    {"cold part empty", 2, m_cold_empty, "cold.len"},
    {"cold set, has_cold false", 2, m_cold_flag, "has_cold"},
    {"hot part is ec", 2, m_hot_is_ec, "hot: wrong kind"},
    {"same blob on same node twice", 2, m_dup_pair, "listed twice"},
};

static void every_struct_rule_is_checked_by_validate_and_encode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof struct_cases / sizeof struct_cases[0]; i++) {
        const struct struct_case *c = &struct_cases[i];
        struct hs_manifest m;
        if (c->base == 0)
            make_replication(&m);
        else if (c->base == 1)
            make_ec(&m);
        else
            make_hybrid(&m, true);
        assert_int_equal(hs_manifest_validate(&m, NULL, 0), HS_OK);
        c->mutate(&m);
        char why[256] = "", *out = (char *)0x1;
        size_t len = 77;
        enum hs_err v = hs_manifest_validate(&m, why, sizeof why);
        if (v != HS_EINVAL || !strstr(why, c->why))
            fail_msg("case '%s': got %s '%s', want EINVAL '%s'", c->name, hs_err_name(v), why,
                     c->why);
        assert_int_equal(hs_manifest_encode(&m, &out, &len, NULL, 0), HS_EINVAL);
        assert_ptr_equal(out, (char *)0x1);
        assert_int_equal(len, 77);
        hs_manifest_release(&m);
    }
}

/* ---- validation of JSON: decode refuses, with the right code ---- */

struct json_case {
    const char *name;
    int base;          /* 0 replication, 1 ec, 2 hybrid */
    const char *path;  /* dot path; numbers index arrays */
    const char *value; /* JSON text; NULL deletes the member */
    enum hs_err want;
    const char *why;
};

static const struct json_case json_cases[] = {
    {"v as string", 0, "v", "\"1\"", HS_ECORRUPT, "v:"},
    {"v as real", 0, "v", "1.0", HS_ECORRUPT, "v:"},
    {"v missing", 0, "v", NULL, HS_ECORRUPT, "v:"},
    {"v 3 (newer writer)", 0, "v", "3", HS_EPROTO, "unknown format version 3"},
    {"v 0", 0, "v", "0", HS_EPROTO, "version"},
    {"unknown top field", 0, "extra", "1", HS_ECORRUPT, "unknown field 'extra'"},
    {"key a number", 0, "key", "5", HS_ECORRUPT, "key:"},
    {"key with control", 0, "key", "\"a\\u0001b\"", HS_ECORRUPT, "key:"},
    {"key with NUL", 0, "key", "\"a\\u0000b\"", HS_ECORRUPT, "key: holds NUL"},
    {"etag with NUL", 0, "etag", "\"a\\u0000b\"", HS_ECORRUPT, "etag: holds NUL"},
    {"order_v on replication", 0, "order_v", "1", HS_ECORRUPT, "only for field_hybrid"},
    {"hybrid order_v missing", 2, "order_v", NULL, HS_ECORRUPT, "order_v"},
    {"hybrid order_v 0", 2, "order_v", "0", HS_ECORRUPT, "order_v"},
    {"hybrid order_v string", 2, "order_v", "\"1\"", HS_ECORRUPT, "order_v"},
    {"strategy unknown", 0, "strategy", "\"raid5\"", HS_ECORRUPT, "unknown strategy"},
    {"strategy case", 0, "strategy", "\"EC\"", HS_ECORRUPT, "unknown strategy"},
    {"size negative", 0, "size", "-1", HS_ECORRUPT, "size:"},
    {"size real", 0, "size", "1000.0", HS_ECORRUPT, "size:"},
    {"size string", 0, "size", "\"1000\"", HS_ECORRUPT, "size:"},
    {"size 2^53", 0, "size", "9007199254740992", HS_ECORRUPT, "size:"},
    {"etag missing", 0, "etag", NULL, HS_ECORRUPT, "etag:"},
    {"ver 0", 0, "ver", "0", HS_ECORRUPT, "ver:"},
    {"ver huge negative", 0, "ver", "-9223372036854775808", HS_ECORRUPT, "ver:"},
    {"data missing", 0, "data", NULL, HS_ECORRUPT, "data: missing"},
    {"data an array", 0, "data", "[]", HS_ECORRUPT, "data: not an object"},
    {"crc upper case", 0, "data.segs.0.blobs.0.crc", "\"ABCDEF12\"", HS_ECORRUPT, "blobs[0].crc"},
    {"crc a number", 0, "data.segs.0.crc", "12345", HS_ECORRUPT, "segs[0].crc"},
    {"crc 7 digits", 0, "data.segs.0.crc", "\"abcdef1\"", HS_ECORRUPT, "segs[0].crc"},
    {"blob id path", 0, "data.segs.0.blobs.0.id", "\"../../etc/passwd\"", HS_ECORRUPT, ".id"},
    {"node id slash", 0, "data.segs.0.blobs.1.node", "\"a/b\"", HS_ECORRUPT, "blobs[1].node"},
    {"blob unknown field", 0, "data.segs.0.blobs.0.x", "1", HS_ECORRUPT, "unknown field 'x'"},
    {"blob not object", 0, "data.segs.0.blobs.0", "\"x\"", HS_ECORRUPT, "not an object"},
    {"blobs not array", 0, "data.segs.0.blobs", "{}", HS_ECORRUPT, "blobs: missing"},
    {"segs not array", 0, "data.segs", "\"x\"", HS_ECORRUPT, "segs: missing"},
    {"replicas 0", 0, "data.replicas", "0", HS_ECORRUPT, "replicas"},
    {"replicas mismatch", 0, "data.replicas", "4", HS_ECORRUPT, "3 replicas, want 4"},
    {"segment len changed", 0, "data.segs.0.len", "999", HS_ECORRUPT, "data.segs[0]"},
    {"replication part has k", 0, "data.k", "4", HS_ECORRUPT, "unknown field 'k'"},
    {"key empty", 0, "key", "\"\"", HS_ECORRUPT, "key:"},
    {"key tab", 0, "key", "\"a\\tb\"", HS_ECORRUPT, "key:"},
    {"key C1 control", 0, "key", "\"a\\u0085z\"", HS_ECORRUPT, "key:"},
    {"size differs from data.len", 0, "size", "999", HS_ECORRUPT, "differs from size"},
    {"ctype empty", 0, "ctype", "\"\"", HS_ECORRUPT, "ctype"},
    {"ctype newline", 0, "ctype", "\"text/plain\\n\"", HS_ECORRUPT, "ctype"},
    {"etag with quote", 0, "etag", "\"ab\\\"c\"", HS_ECORRUPT, "etag"},
    {"etag with space", 0, "etag", "\"a b\"", HS_ECORRUPT, "etag"},
    {"ctime negative", 0, "ctime_ms", "-5", HS_ECORRUPT, "ctime_ms"},
    {"txn short", 0, "txn", "\"0123abcd\"", HS_ECORRUPT, "txn:"},
    {"txn upper case", 0, "txn", "\"0123456789ABCDEF0123\"", HS_ECORRUPT, "txn:"},
    {"replica len", 0, "data.segs.0.blobs.1.len", "7", HS_ECORRUPT, "data.segs[0].blobs[1]"},
    {"replica crc", 0, "data.segs.0.blobs.2.crc", "\"c0ffee01\"", HS_ECORRUPT,
     "data.segs[0].blobs[2]"},
    {"two replicas on one node", 0, "data.segs.0.blobs.2.node", "\"node-0\"", HS_ECORRUPT,
     "holds two blobs"},
    {"blob id upper case", 0, "data.segs.0.blobs.0.id", "\"ABC\"", HS_ECORRUPT, "blobs[0].id"},
    {"blob id ..", 0, "data.segs.0.blobs.0.id", "\"ab..cd\"", HS_ECORRUPT, "blobs[0].id"},
    {"blob id leading dot", 0, "data.segs.0.blobs.0.id", "\".abc\"", HS_ECORRUPT, "blobs[0].id"},
    {"blob len negative", 0, "data.segs.0.blobs.0.len", "-1", HS_ECORRUPT, "blobs[0].len"},
    {"ec k 0", 1, "data.k", "0", HS_ECORRUPT, "data.k"},
    {"ec m 0", 1, "data.m", "0", HS_ECORRUPT, "data.m"},
    {"ec stripe over 64 MiB", 1, "data.stripe", "67108865", HS_ECORRUPT, "data.stripe"},
    {"ec shards unequal", 1, "data.segs.0.blobs.3.len", "65535", HS_ECORRUPT,
     "data.segs[0].blobs[3].len"},
    {"ec segments do not add up", 1, "data.segs.2.len", "100001", HS_ECORRUPT, "exceed"},
    {"ec empty middle segment", 1, "data.segs.1.len", "0", HS_ECORRUPT, "data.segs[1].len"},
    {"ec no segments", 1, "data.segs", "[]", HS_ECORRUPT, "no segment"},
    {"hybrid cold hash missing", 2, "cold_hash", NULL, HS_ECORRUPT, "cold_hash"},
    {"hybrid cold hash short", 2, "cold_hash", "\"00112233\"", HS_ECORRUPT, "cold_hash"},
    {"hybrid cold hash upper", 2, "cold_hash", "\"00112233445566778899AABBCCDDEEFF\"", HS_ECORRUPT,
     "cold_hash"},
    {"hybrid order missing", 2, "order", NULL, HS_ECORRUPT, "order"},
    {"ec k 17", 1, "data.k", "17", HS_ECORRUPT, "data.k"},
    {"ec m 5", 1, "data.m", "5", HS_ECORRUPT, "data.m"},
    {"ec stripe 0", 1, "data.stripe", "0", HS_ECORRUPT, "data.stripe"},
    {"ec shard missing", 1, "data.segs.1.blobs.5", NULL, HS_ECORRUPT, "5 shards"},
    {"ec len huge", 1, "data.segs.0.blobs.0.len", "9223372036854775807", HS_ECORRUPT, "len"},
    {"ec has replicas", 1, "data.replicas", "3", HS_ECORRUPT, "unknown field"},
    {"hybrid without hot", 2, "hot", NULL, HS_ECORRUPT, "hot: missing"},
    {"hybrid order object", 2, "order", "{\"a\":1}", HS_ECORRUPT, "order: not an array"},
    {"hybrid order numbers", 2, "order", "[1,2]", HS_ECORRUPT, "order[0]"},
    {"hybrid cold hash number", 2, "cold_hash", "7", HS_ECORRUPT, "cold_hash"},
    {"hybrid cold empty", 2, "cold.len", "0", HS_ECORRUPT, "cold"},
    {"replication with cold", 0, "cold", "{}", HS_ECORRUPT, "cold"},
    {"replication with order", 0, "order", "[]", HS_ECORRUPT, "only for field_hybrid"},
};

/* Sets (or deletes, value NULL) the member at a dot path of root. */
static void json_set_path(json_t *root, const char *path, const char *value)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = root;
    char *save = NULL;
    char *tok = strtok_r(buf, ".", &save);
    while (tok) {
        char *next = strtok_r(NULL, ".", &save);
        bool index = tok[0] >= '0' && tok[0] <= '9';
        size_t idx = (size_t)strtoul(tok, NULL, 10);
        if (!next) {
            json_t *v = value ? json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
            assert_true(!value || v);
            if (index && v)
                assert_int_equal(json_array_set_new(cur, idx, v), 0);
            else if (index)
                assert_int_equal(json_array_remove(cur, idx), 0);
            else if (v)
                assert_int_equal(json_object_set_new(cur, tok, v), 0);
            else
                assert_int_equal(json_object_del(cur, tok), 0);
            return;
        }
        cur = index ? json_array_get(cur, idx) : json_object_get(cur, tok);
        assert_non_null(cur);
        tok = next;
    }
}

static void every_json_rule_is_checked_by_decode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof json_cases / sizeof json_cases[0]; i++) {
        const struct json_case *c = &json_cases[i];
        struct hs_manifest m;
        if (c->base == 0)
            make_replication(&m);
        else if (c->base == 1)
            make_ec(&m);
        else
            make_hybrid(&m, true);
        size_t len;
        char *text = encode_ok(&m, &len);
        hs_manifest_release(&m);
        json_t *root = json_loads(text, JSON_ALLOW_NUL, NULL);
        free(text);
        json_set_path(root, c->path, c->value);
        text = json_dumps(root, JSON_COMPACT);
        json_decref(root);

        struct hs_manifest out;
        memset(&out, 0xa5, sizeof out);
        char why[256] = "";
        enum hs_err err = hs_manifest_decode(text, strlen(text), &out, why, sizeof why);
        if (err != c->want || !strstr(why, c->why))
            fail_msg("case '%s': got %s '%s', want %s '%s'", c->name, hs_err_name(err), why,
                     hs_err_name(c->want), c->why);
        /* out untouched on failure */
        unsigned char *p = (unsigned char *)&out;
        for (size_t b = 0; b < sizeof out; b++)
            assert_int_equal(p[b], 0xa5);
        free(text);
    }
}

static void hostile_texts_are_ecorrupt(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "",
        "null",
        "[]",
        "\"v\"",
        "{\"v\":1}",
        "{\"v\":1,\"v\":1}",
        "{\"v\":99999999999999999999999}",
        "{\"v\":1} trailing",
        "{\"v\":1,\"key\":\"\xff\xfe\"}",
        "\xef\xbb\xbf{\"v\":1}",
        "{\"v\":1,\"k\\u0000ey\":\"x\"}",
        "{\"v\":1,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef\",\"key\":\"k\",\"owner\":"
        "\"g\",\"start_ms\":1,\"blobs\":[],\"v\\u0000\":1}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct hs_manifest m;
        struct hs_txn_record r;
        char why[200] = "";
        assert_int_equal(hs_manifest_decode(texts[i], strlen(texts[i]), &m, why, sizeof why),
                         HS_ECORRUPT);
        assert_true(why[0] != '\0');
        assert_int_equal(hs_txn_record_decode(texts[i], strlen(texts[i]), &r, NULL, 0),
                         HS_ECORRUPT);
    }
    /* deep nesting stops at jansson's depth limit, without recursion trouble */
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 16);
    size_t n = (size_t)snprintf(deep, 16, "{\"v\":1,\"x\":");
    memset(deep + n, '[', depth);
    memset(deep + n + depth, ']', depth);
    deep[n + 2 * depth] = '}';
    struct hs_manifest m;
    assert_int_equal(hs_manifest_decode(deep, n + 2 * depth + 1, &m, NULL, 0), HS_ECORRUPT);
    free(deep);
    /* over the size limit, whatever it holds */
    char *big = calloc(1, HS_MANIFEST_ENCODED_MAX + 2);
    memset(big, ' ', HS_MANIFEST_ENCODED_MAX + 1);
    big[0] = '{';
    assert_int_equal(hs_manifest_decode(big, HS_MANIFEST_ENCODED_MAX + 1, &m, NULL, 0),
                     HS_ECORRUPT);
    free(big);
    assert_int_equal(hs_manifest_decode(NULL, 0, &m, NULL, 0), HS_ECORRUPT);
}

static void truncated_manifest_at_every_offset_is_refused(void **state)
{
    (void)state;
    for (int kind = 0; kind < 4; kind++) {
        struct hs_manifest m;
        if (kind == 0)
            make_replication(&m);
        else if (kind == 1)
            make_ec(&m);
        else
            make_hybrid(&m, kind == 2);
        size_t len;
        char *text = encode_ok(&m, &len);
        hs_manifest_release(&m);
        for (size_t cut = 0; cut < len; cut++) {
            /* a heap copy of exactly cut bytes, so ASan sees any read past the end */
            char *part = malloc(cut ? cut : 1);
            memcpy(part, text, cut);
            struct hs_manifest d;
            assert_int_equal(hs_manifest_decode(part, cut, &d, NULL, 0), HS_ECORRUPT);
            free(part);
        }
        free(text);
    }
}

static void oversized_manifest_is_etoobig(void **state)
{
    (void)state;
    struct hs_manifest m;
    fill_header(&m, "huge", HS_STRATEGY_EC, 4000LL * 64 << 20);
    fill_ec(&m.data, HS_META_PART_DATA, 4, 2, 1 << 20, 4000LL * 64 << 20, 4000, 0);
    char *out = NULL, why[200] = "";
    size_t len = 0;
    assert_int_equal(hs_manifest_encode(&m, &out, &len, why, sizeof why), HS_ETOOBIG);
    assert_null(out);
    assert_non_null(strstr(why, "limit"));
    hs_manifest_release(&m);
}

/* ---- write-ahead records ---- */

static void make_record(struct hs_txn_record *r)
{
    hs_txn_record_init(r);
    r->state = HS_TXN_PENDING;
    r->txn_id = strdup(TXN);
    r->key = strdup("users/42");
    r->owner_id = strdup("gw-1");
    r->start_ms = 1795000000000;
    r->alive_ms = 1795000004000;
    const char *nodes[] = {"node-0", "node-1", "node-2", "node-3", "node-4", "node-5"};
    hs_txn_record_set_nodes(r, nodes, 6);
    hs_txn_record_set_segs(r, HS_META_PART_COLD, 1, 6);
}

static void txn_record_round_trips_and_matches_layout(void **state)
{
    (void)state;
    struct hs_txn_record r, d;
    make_record(&r);
    char *t1, *t2, why[200] = "";
    size_t l1, l2;
    assert_int_equal(hs_txn_record_encode(&r, &t1, &l1, why, sizeof why), HS_OK);
    assert_string_equal(t1, "{\"v\":2,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef0123456789"
                            "abcdef\",\"key\":\"users/42\",\"owner\":\"gw-1\",\"start_ms\":"
                            "1795000000000,\"alive_ms\":1795000004000,\"nodes\":[\"node-0\","
                            "\"node-1\",\"node-2\",\"node-3\",\"node-4\",\"node-5\"],\"parts\":"
                            "[{\"part\":2,\"segs\":1,\"width\":6}]}");
    assert_int_equal(hs_txn_record_decode(t1, l1, &d, why, sizeof why), HS_OK);
    assert_int_equal(d.version, 2);
    assert_int_equal(d.n_blobs, 6); /* derived from the txn id, nodes and parts */
    assert_string_equal(d.blobs[5].node_id, "node-5");
    assert_string_equal(d.blobs[5].blob_id, "0123456789abcdef0123456789abcdef.2.0.5");
    assert_int_equal(d.start_ms, r.start_ms);
    assert_int_equal(d.alive_ms, r.alive_ms);
    assert_int_equal(hs_txn_record_encode(&d, &t2, &l2, NULL, 0), HS_OK);
    assert_string_equal(t1, t2);
    for (size_t cut = 0; cut < l1; cut++) {
        char *part = malloc(cut ? cut : 1);
        memcpy(part, t1, cut);
        struct hs_txn_record x;
        assert_int_equal(hs_txn_record_decode(part, cut, &x, NULL, 0), HS_ECORRUPT);
        free(part);
    }
    free(t1);
    free(t2);
    hs_txn_record_release(&d);
    hs_txn_record_release(&r);
}

static void txn_record_size_does_not_grow_with_the_object(void **state)
{
    (void)state;
    struct hs_txn_record r, d;
    make_record(&r);
    char *small, *big;
    size_t l_small, l_big;
    assert_int_equal(hs_txn_record_encode(&r, &small, &l_small, NULL, 0), HS_OK);
    hs_txn_record_set_segs(&r, HS_META_PART_COLD, 1500, 6); /* 12 GB of 8 MiB segments */
    assert_int_equal(hs_txn_record_encode(&r, &big, &l_big, NULL, 0), HS_OK);
    assert_true(l_big <= l_small + 3);
    assert_int_equal(hs_txn_record_decode(big, l_big, &d, NULL, 0), HS_OK);
    assert_int_equal(d.n_blobs, 1500 * 6);
    assert_string_equal(d.blobs[1500 * 6 - 1].blob_id, "0123456789abcdef0123456789abcdef.2.5db.5");
    hs_txn_record_release(&d);
    /* fewer live nodes than the width: only placed blobs are named */
    const char *two[] = {"a", "b"};
    hs_txn_record_set_nodes(&r, two, 2);
    hs_txn_record_set_segs(&r, HS_META_PART_COLD, 2, 6);
    hs_txn_record_set_segs(&r, HS_META_PART_HOT, 1, 3);
    hs_txn_record_expand(&r);
    assert_int_equal(r.n_blobs, 2 * 2 + 2);
    /* every state round-trips; a record names at least one node */
    for (int st = HS_TXN_PENDING; st <= HS_TXN_ROLLED_BACK; st++) {
        r.state = (enum hs_txn_state)st;
        char *t;
        size_t l;
        assert_int_equal(hs_txn_record_encode(&r, &t, &l, NULL, 0), HS_OK);
        assert_int_equal(hs_txn_record_decode(t, l, &d, NULL, 0), HS_OK);
        assert_int_equal(d.state, st);
        hs_txn_record_release(&d);
        free(t);
    }
    hs_txn_record_set_nodes(&r, NULL, 0);
    char *t;
    size_t l;
    assert_int_equal(hs_txn_record_encode(&r, &t, &l, NULL, 0), HS_EINVAL);
    free(small);
    free(big);
    hs_txn_record_release(&r);
}

static void txn_record_rules_are_checked(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum hs_err want;
        const char *why;
    } cases[] = {
        {"{\"v\":3,\"state\":\"PENDING\"}", HS_EPROTO, "version"},
        {"{\"v\":1,\"state\":\"ABORTED\",\"txn\":\"0123456789abcdef\",\"key\":\"k\",\"owner\":"
         "\"g\",\"start_ms\":1,\"blobs\":[]}",
         HS_ECORRUPT, "state"},
        {"{\"v\":2,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef\",\"key\":\"k\",\"owner\":"
         "\"g\",\"start_ms\":1,\"alive_ms\":1,\"nodes\":[],\"parts\":[]}",
         HS_ECORRUPT, "nodes"},
        {"{\"v\":2,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef\",\"key\":\"k\",\"owner\":"
         "\"g\",\"start_ms\":1,\"alive_ms\":1,\"nodes\":[\"n\",\"n\"],\"parts\":[]}",
         HS_ECORRUPT, "listed twice"},
        {"{\"v\":2,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef\",\"key\":\"k\",\"owner\":"
         "\"g\",\"start_ms\":1,\"alive_ms\":1,\"nodes\":[\"n\"],\"parts\":[{\"part\":3,"
         "\"segs\":1,\"width\":1}]}",
         HS_ECORRUPT, "parts[0].part"},
        {"{\"v\":2,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef\",\"key\":\"k\",\"owner\":"
         "\"g\",\"start_ms\":1,\"alive_ms\":1,\"nodes\":[\"n\"],\"parts\":[{\"part\":0,"
         "\"segs\":16385,\"width\":1}]}",
         HS_ECORRUPT, "parts[0].segs"},
        {"{\"v\":2,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef\",\"key\":\"k\",\"owner\":"
         "\"g\",\"start_ms\":1,\"alive_ms\":1,\"nodes\":[\"n\"],\"parts\":[{\"part\":0,"
         "\"segs\":1,\"width\":1},{\"part\":0,\"segs\":1,\"width\":1}]}",
         HS_ECORRUPT, "listed twice"},
        {"{\"v\":2,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef\",\"key\":\"k\",\"owner\":"
         "\"g\",\"start_ms\":1,\"alive_ms\":-1,\"nodes\":[\"n\"],\"parts\":[]}",
         HS_ECORRUPT, "alive_ms"},
        {"{\"v\":1,\"state\":\"DONE\",\"txn\":\"0123456789abcdef\",\"key\":\"k\",\"owner\":\"g\","
         "\"start_ms\":1,\"blobs\":[]}",
         HS_ECORRUPT, "state"},
        {"{\"v\":1,\"state\":\"PENDING\",\"txn\":\"0123456789abcdeg\",\"key\":\"k\",\"owner\":"
         "\"g\","
         "\"start_ms\":1,\"blobs\":[]}",
         HS_ECORRUPT, "txn"},
        {"{\"v\":1,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef\",\"key\":\"\",\"owner\":\"g\","
         "\"start_ms\":1,\"blobs\":[]}",
         HS_ECORRUPT, "key"},
        {"{\"v\":1,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef\",\"key\":\"k\",\"owner\":\"-"
         "g\","
         "\"start_ms\":1,\"blobs\":[]}",
         HS_ECORRUPT, "owner"},
        {"{\"v\":1,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef\",\"key\":\"k\",\"owner\":"
         "\"g\","
         "\"start_ms\":-1,\"blobs\":[]}",
         HS_ECORRUPT, "start_ms"},
        {"{\"v\":1,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef\",\"key\":\"k\",\"owner\":"
         "\"g\","
         "\"start_ms\":1}",
         HS_ECORRUPT, "blobs"},
        {"{\"v\":1,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef\",\"key\":\"k\",\"owner\":"
         "\"g\","
         "\"start_ms\":1,\"blobs\":[{\"id\":\"A\",\"node\":\"n\"}]}",
         HS_ECORRUPT, "blobs[0].id"},
        {"{\"v\":1,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef\",\"key\":\"k\",\"owner\":"
         "\"g\","
         "\"start_ms\":1,\"blobs\":[{\"id\":\"a\",\"node\":\"n\"},{\"id\":\"a\",\"node\":\"n\"}]}",
         HS_ECORRUPT, "listed twice"},
        {"{\"v\":1,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef\",\"key\":\"k\",\"owner\":"
         "\"g\","
         "\"start_ms\":1,\"blobs\":[],\"more\":1}",
         HS_ECORRUPT, "unknown field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hs_txn_record r;
        char why[200] = "";
        enum hs_err err =
            hs_txn_record_decode(cases[i].text, strlen(cases[i].text), &r, why, sizeof why);
        if (err != cases[i].want || !strstr(why, cases[i].why))
            fail_msg("case %zu: got %s '%s', want %s '%s'", i, hs_err_name(err), why,
                     hs_err_name(cases[i].want), cases[i].why);
    }
    /* version 1 (older gateways) is still read: the same blob id on two nodes is fine */
    const char *ok = "{\"v\":1,\"state\":\"PENDING\",\"txn\":\"0123456789abcdef\",\"key\":\"k\","
                     "\"owner\":\"g\",\"start_ms\":1,\"blobs\":[{\"id\":\"a\",\"node\":\"n\"},"
                     "{\"id\":\"a\",\"node\":\"o\"}]}";
    struct hs_txn_record r;
    assert_int_equal(hs_txn_record_decode(ok, strlen(ok), &r, NULL, 0), HS_OK);
    hs_txn_record_release(&r);
}

/* ---- identifiers and keys ---- */

static void etcd_keys_follow_the_layout(void **state)
{
    (void)state;
    char *k = NULL;
    assert_string_equal(HS_META_ROOT, HS_ETCD_ROOT);
    assert_int_equal(hs_meta_key_meta("photos/cat é.jpg", &k), HS_OK);
    assert_string_equal(k, "/hybridstore/v1/meta/photos/cat é.jpg");
    assert_string_equal(hs_meta_key_strip(k, HS_META_PREFIX_META), "photos/cat é.jpg");
    assert_null(hs_meta_key_strip(k, HS_META_PREFIX_REPAIR));
    free(k);
    assert_int_equal(hs_meta_key_repair("a", &k), HS_OK);
    assert_string_equal(k, "/hybridstore/v1/repair/a");
    free(k);
    assert_int_equal(hs_meta_key_txn(TXN, &k), HS_OK);
    assert_string_equal(k, "/hybridstore/v1/txn/0123456789abcdef0123456789abcdef");
    free(k);
    assert_int_equal(hs_meta_key_node("node-1", &k), HS_OK);
    assert_string_equal(k, "/hybridstore/v1/nodes/node-1");
    free(k);
    assert_int_equal(hs_meta_key_gateway("gw_2.local", &k), HS_OK);
    assert_string_equal(k, "/hybridstore/v1/gateways/gw_2.local");
    free(k);
    assert_int_equal(hs_meta_key_config("hot_fields", &k), HS_OK);
    assert_string_equal(k, "/hybridstore/v1/config/hot_fields");
    free(k);
    assert_string_equal(HS_META_KEY_HEALER_LEADER, "/hybridstore/v1/healer/leader");
    assert_null(hs_meta_key_strip(HS_META_PREFIX_META, HS_META_PREFIX_META));

    char *untouched = (char *)0x1;
    assert_int_equal(hs_meta_key_meta("", &untouched), HS_EINVAL);
    assert_int_equal(hs_meta_key_meta("a\nb", &untouched), HS_EINVAL);
    assert_int_equal(hs_meta_key_repair(NULL, &untouched), HS_EINVAL);
    assert_int_equal(hs_meta_key_txn("xyz", &untouched), HS_EINVAL);
    assert_int_equal(hs_meta_key_node("a/b", &untouched), HS_EINVAL);
    assert_int_equal(hs_meta_key_gateway("", &untouched), HS_EINVAL);
    assert_int_equal(hs_meta_key_config("Hot", &untouched), HS_EINVAL);
    assert_ptr_equal(untouched, (char *)0x1);
}

static void object_keys_are_utf8_without_controls(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        bool ok;
    } cases[] = {
        {"a", true},
        {"dir/sub dir/file.txt", true},
        {"caf\xc3\xa9", true},      /* é */
        {"\xe2\x82\xac", true},     /* € */
        {"\xf0\x9f\x98\x80", true}, /* emoji */
        {"\xef\xbf\xbf", true},     /* U+FFFF is a valid scalar */
        {"a\x7f", false},           /* DEL */
        {"a\x1f", false},
        {"\xc2\x9f", false},         /* C1 */
        {"\xc0\xaf", false},         /* overlong '/' */
        {"\xe0\x80\xaf", false},     /* overlong */
        {"\xed\xa0\x80", false},     /* surrogate */
        {"\xf4\x90\x80\x80", false}, /* above U+10FFFF */
        {"\xe2\x82", false},         /* truncated */
        {"\x80", false},             /* lone continuation */
        {"\xff", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (hs_meta_object_key_valid(cases[i].key, strlen(cases[i].key)) != cases[i].ok)
            fail_msg("key case %zu", i);
    }
    assert_false(hs_meta_object_key_valid("a\0b", 3));
    assert_false(hs_meta_object_key_valid("", 0));
    char big[1025];
    memset(big, 'x', sizeof big);
    assert_true(hs_meta_object_key_valid(big, 1024));
    assert_false(hs_meta_object_key_valid(big, 1025));
    assert_true(hs_meta_node_id_valid("Node_1.a-b"));
    assert_false(hs_meta_node_id_valid(".hidden"));
    assert_false(hs_meta_node_id_valid(""));
    char id[HS_NODE_ID_MAX + 2];
    memset(id, 'n', sizeof id);
    id[HS_NODE_ID_MAX] = '\0';
    assert_true(hs_meta_node_id_valid(id));
    id[HS_NODE_ID_MAX] = 'n';
    id[HS_NODE_ID_MAX + 1] = '\0';
    assert_false(hs_meta_node_id_valid(id));
}

static void txn_ids_are_unique_hex_and_carry_the_time(void **state)
{
    (void)state;
    static char ids[2000][HS_TXN_ID_BUF];
    int64_t before = hs_clock_wall_ms();
    for (size_t i = 0; i < 2000; i++) {
        assert_int_equal(hs_meta_txn_id_new(ids[i]), HS_OK);
        assert_int_equal(strlen(ids[i]), HS_TXN_ID_MAX);
        assert_true(hs_meta_txn_id_valid(ids[i]));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(ids[i], ids[j]);
    }
    int64_t after = hs_clock_wall_ms(), t;
    assert_true(hs_meta_txn_id_time_ms(ids[1999], &t));
    assert_true(t >= before && t <= after);
    assert_false(hs_meta_txn_id_time_ms("0123456789abcdef", &t));
    assert_true(hs_meta_txn_id_valid("0123456789abcdef"));
    assert_false(hs_meta_txn_id_valid("0123456789abcde"));
    assert_false(hs_meta_txn_id_valid("0123456789abcdef0123456789abcdef0"));
}

static void blob_ids_are_minted_and_parsed_canonically(void **state)
{
    (void)state;
    char id[HS_META_BLOB_ID_BUF], txn[HS_TXN_ID_BUF];
    enum hs_meta_blob_part part;
    uint32_t seg, idx;
    assert_int_equal(hs_meta_blob_id_make(TXN, HS_META_PART_COLD, 300, 5, id), HS_OK);
    assert_string_equal(id, "0123456789abcdef0123456789abcdef.2.12c.5");
    assert_true(hs_meta_blob_id_valid(id));
    assert_int_equal(hs_meta_blob_id_parse(id, txn, &part, &seg, &idx), HS_OK);
    assert_string_equal(txn, TXN);
    assert_int_equal(part, HS_META_PART_COLD);
    assert_int_equal(seg, 300);
    assert_int_equal(idx, 5);
    assert_int_equal(hs_meta_blob_id_make(TXN, HS_META_PART_DATA, UINT32_MAX, UINT32_MAX, id),
                     HS_OK);
    assert_int_equal(hs_meta_blob_id_parse(id, NULL, NULL, &seg, NULL), HS_OK);
    assert_int_equal(seg, UINT32_MAX);
    assert_int_equal(hs_meta_blob_id_make("nothex", HS_META_PART_DATA, 0, 0, id), HS_EINVAL);
    assert_int_equal(hs_meta_blob_id_make(TXN, (enum hs_meta_blob_part)3, 0, 0, id), HS_EINVAL);
    static const char *const bad[] = {
        "0123456789abcdef.0.0",           "0123456789abcdef.0.0.0.0", "0123456789abcdef.3.0.0",
        "0123456789abcdef.0.01.0",        "0123456789abcdef.0..0",    "0123456789abcde.0.0.0",
        "0123456789abcdef.0.0.100000000", "0123456789abcdef.0.0.-1",  "ABCDEF0123456789.0.0.0",
    };
    seg = 42;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (hs_meta_blob_id_parse(bad[i], txn, &part, &seg, &idx) != HS_EINVAL)
            fail_msg("parsed '%s'", bad[i]);
    }
    assert_int_equal(seg, 42);
}

/* ---- listings for GC ---- */

static void blob_listing_and_subtract_find_what_a_new_version_dropped(void **state)
{
    (void)state;
    struct hs_manifest old, upd;
    make_hybrid(&old, true);
    /* a pure hot update: new hot blobs from a new txn, the cold part reused as is */
    fill_header(&upd, "users/42", HS_STRATEGY_FIELD_HYBRID, 501);
    SET_STR(upd.txn_id, "fedcba9876543210fedcba9876543210");
    hs_part_init_replicated(&upd.hot, 3, 1);
    upd.hot.len_bytes = 41;
    upd.hot.segments[0].len_bytes = 41;
    for (size_t j = 0; j < 3; j++) {
        char id[HS_META_BLOB_ID_BUF], node[16];
        hs_meta_blob_id_make(upd.txn_id, HS_META_PART_HOT, 0, (uint32_t)j, id);
        snprintf(node, sizeof node, "node-%zu", j + 7);
        hs_meta_blob_ref_set(&upd.hot.segments[0].blobs[j], id, node, 41, 0);
    }
    upd.has_cold = true;
    hs_part_copy(&upd.cold, &old.cold);
    upd.cold_hash = strdup(old.cold_hash);
    upd.field_order_version = old.field_order_version;
    upd.field_order_json = strdup(old.field_order_json);
    check_round_trip(&upd);

    struct hs_meta_blob_loc *a, *b, *gone;
    size_t na, nb, ngone;
    hs_manifest_blob_locs(&old, &a, &na);
    hs_manifest_blob_locs(&upd, &b, &nb);
    assert_int_equal(na, 3 + 6);
    assert_int_equal(nb, 3 + 6);
    assert_ptr_equal(a[0].blob_id, old.hot.segments[0].blobs[0].blob_id);
    assert_ptr_equal(a[3].node_id, old.cold.segments[0].blobs[0].node_id);
    hs_meta_blob_locs_subtract(a, na, b, nb, &gone, &ngone);
    assert_int_equal(ngone, 3); /* exactly the old hot replicas */
    for (size_t i = 0; i < ngone; i++) {
        assert_ptr_equal(gone[i].blob_id, old.hot.segments[0].blobs[i].blob_id);
        assert_true(hs_manifest_references(&old, gone[i].blob_id, gone[i].node_id));
        assert_false(hs_manifest_references(&upd, gone[i].blob_id, gone[i].node_id));
    }
    assert_true(hs_manifest_references(&upd, a[5].blob_id, a[5].node_id));
    assert_false(hs_manifest_references(&upd, a[5].blob_id, "node-9"));
    free(gone);
    /* the copy owns its strings: the old manifest can go first */
    hs_manifest_release(&old);
    hs_meta_blob_locs_subtract(b, nb, NULL, 0, &gone, &ngone);
    assert_int_equal(ngone, nb);
    free(gone);
    check_round_trip(&upd);
    free(a);
    free(b);
    hs_manifest_release(&upd);
    hs_manifest_release(NULL);
    hs_txn_record_release(NULL);
    hs_part_release(NULL);
}

static void strategy_names_parse_exactly(void **state)
{
    (void)state;
    enum hs_strategy s = HS_STRATEGY_EC;
    assert_true(hs_strategy_parse("field_hybrid", &s));
    assert_int_equal(s, HS_STRATEGY_FIELD_HYBRID);
    assert_false(hs_strategy_parse("Replication", &s));
    assert_false(hs_strategy_parse("", &s));
    assert_false(hs_strategy_parse(NULL, &s));
    assert_int_equal(s, HS_STRATEGY_FIELD_HYBRID);
    assert_string_equal(hs_strategy_name(HS_STRATEGY_REPLICATION), "replication");
    assert_null(hs_strategy_name((enum hs_strategy)0));
    assert_null(hs_strategy_name((enum hs_strategy)9));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replication_manifest_round_trips),
        cmocka_unit_test(ec_manifest_round_trips_for_every_k_and_m),
        cmocka_unit_test(hybrid_manifest_round_trips_with_and_without_cold),
        cmocka_unit_test(empty_object_has_no_segment_or_one_empty_segment),
        cmocka_unit_test(encoding_matches_the_documented_layout),
        cmocka_unit_test(every_struct_rule_is_checked_by_validate_and_encode),
        cmocka_unit_test(every_json_rule_is_checked_by_decode),
        cmocka_unit_test(hostile_texts_are_ecorrupt),
        cmocka_unit_test(truncated_manifest_at_every_offset_is_refused),
        cmocka_unit_test(oversized_manifest_is_etoobig),
        cmocka_unit_test(txn_record_round_trips_and_matches_layout),
        cmocka_unit_test(txn_record_size_does_not_grow_with_the_object),
        cmocka_unit_test(txn_record_rules_are_checked),
        cmocka_unit_test(etcd_keys_follow_the_layout),
        cmocka_unit_test(object_keys_are_utf8_without_controls),
        cmocka_unit_test(txn_ids_are_unique_hex_and_carry_the_time),
        cmocka_unit_test(blob_ids_are_minted_and_parsed_canonically),
        cmocka_unit_test(blob_listing_and_subtract_find_what_a_new_version_dropped),
        cmocka_unit_test(strategy_names_parse_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
