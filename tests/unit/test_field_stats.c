/* test_field_stats.c - the per-collection field sketch (field_stats.h): collection rule, bounded
 * tables with Space-Saving bounds, change and read sets, halving, merge, and the snapshot JSON
 * (round trip, every limit refused, corrupt input, unknown version). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs/field_stats.h"
#include "hs/banned.h"

static void put(struct hs_field_stats *s, const char *coll, const char *const *names, size_t n,
                const bool *changed, bool known)
{
    struct hs_fstat_obs obs[32];
    for (size_t i = 0; i < n; i++)
        obs[i] = (struct hs_fstat_obs){.name = names[i],
                                       .name_len = strlen(names[i]),
                                       .bytes = 10,
                                       .present = true,
                                       .changed = changed ? changed[i] : false};
    struct hs_fstat_write w = {.coll = coll,
                               .coll_len = strlen(coll),
                               .fields = obs,
                               .n_fields = n,
                               .changes_known = known};
    hs_field_stats_record_write(s, &w);
}

static void patch(struct hs_field_stats *s, const char *coll, const char *const *names, size_t n)
{
    struct hs_fstat_obs obs[32];
    for (size_t i = 0; i < n; i++)
        obs[i] = (struct hs_fstat_obs){.name = names[i], .name_len = strlen(names[i]), .bytes = 1};
    struct hs_fstat_write w = {
        .coll = coll, .coll_len = strlen(coll), .fields = obs, .n_fields = n, .patch = true};
    hs_field_stats_record_write(s, &w);
}

static void collection_is_prefix_through_first_separator(void **state)
{
    (void)state;
    assert_int_equal(hs_fstat_collection_len(NULL, "user:42", 7), 5);
    assert_int_equal(hs_fstat_collection_len(NULL, "img/a/b", 7), 4);
    assert_int_equal(hs_fstat_collection_len(NULL, "plain", 5), 0);
    struct hs_fstat_rule r = {0};
    assert_int_equal(hs_fstat_rule_set(&r, "/", 2), HS_OK);
    assert_int_equal(hs_fstat_collection_len(&r, "img/a/b", 7), 6);
    assert_int_equal(hs_fstat_collection_len(&r, "img/a", 5), 0);
    assert_int_equal(hs_fstat_rule_set(&r, "", 1), HS_EINVAL);
    assert_int_equal(hs_fstat_rule_set(&r, " ", 1), HS_EINVAL);
    assert_int_equal(hs_fstat_rule_set(&r, ":", HS_FSTAT_DEPTH_MAX + 1), HS_EINVAL);
    /* a long prefix is cut at HS_FSTAT_COLL_MAX, never inside a UTF-8 character */
    char key[400];
    memset(key, 'a', sizeof key);
    memcpy(&key[HS_FSTAT_COLL_MAX - 1], "\xc3\xa9", 2);
    key[350] = ':';
    assert_int_equal(hs_fstat_collection_len(NULL, key, sizeof key), HS_FSTAT_COLL_MAX - 1);
}

static void limits_out_of_range_refused(void **state)
{
    (void)state;
    struct hs_field_stats s;
    struct hs_fstat_limits l = {.collections = HS_FSTAT_COLLS_MAX + 1};
    assert_int_equal(hs_field_stats_init(&s, &l), HS_EINVAL);
    l = (struct hs_fstat_limits){.halve_every = 1};
    assert_int_equal(hs_field_stats_init(&s, &l), HS_EINVAL);
    assert_int_equal(hs_field_stats_init(&s, NULL), HS_OK);
    assert_int_equal(s.limits.collections, HS_FSTAT_DEFAULT_COLLS);
    assert_int_equal(s.limits.fields, HS_FSTAT_DEFAULT_FIELDS);
    hs_field_stats_release(&s);
    hs_field_stats_release(NULL);
}

static void put_counts_presence_changes_and_change_sets(void **state)
{
    (void)state;
    struct hs_field_stats s;
    assert_int_equal(hs_field_stats_init(&s, NULL), HS_OK);
    const char *f[] = {"views", "title", "likes"};
    const bool ch1[] = {true, false, true};
    const bool ch2[] = {true, false, false};
    for (int i = 0; i < 10; i++)
        put(&s, "user:", f, 3, i < 6 ? ch1 : ch2, true);
    put(&s, "user:", f, 3, NULL, false); /* changes unknown: no change set */
    const struct hs_fstat_coll *c = hs_field_stats_find(&s, "user:", 5);
    assert_non_null(c);
    assert_int_equal(c->writes, 11);
    assert_int_equal(c->puts, 11);
    assert_int_equal(c->known, 10);
    const struct hs_fstat_field *v = hs_fstat_coll_field(c, "views", 5);
    assert_int_equal(v->present, 11);
    assert_int_equal(v->changed, 10);
    assert_int_equal(v->bytes, 110);
    assert_int_equal(hs_fstat_coll_field(c, "likes", 5)->changed, 6);
    assert_int_equal(hs_fstat_coll_field(c, "title", 5)->changed, 0);
    hs_field_stats_sort(&s);
    c = hs_field_stats_find(&s, "user:", 5);
    assert_int_equal(c->n_csets, 2);
    assert_int_equal(c->csets[0].count, 6);
    assert_int_equal(c->csets[0].n_names, 2);
    assert_string_equal(c->csets[0].names[0], "likes"); /* sorted */
    assert_string_equal(c->csets[0].names[1], "views");
    assert_int_equal(c->csets[1].count, 4);
    assert_int_equal(c->csets[1].n_names, 1);
    hs_field_stats_release(&s);
}

static void patch_change_set_is_its_keys_deduplicated(void **state)
{
    (void)state;
    struct hs_field_stats s;
    assert_int_equal(hs_field_stats_init(&s, NULL), HS_OK);
    const char *k[] = {"b", "a", "b"};
    patch(&s, "p/", k, 3);
    const struct hs_fstat_coll *c = hs_field_stats_find(&s, "p/", 2);
    assert_int_equal(c->puts, 0);
    assert_int_equal(c->known, 1);
    assert_int_equal(c->n_csets, 1);
    assert_int_equal(c->csets[0].n_names, 2);
    assert_string_equal(c->csets[0].names[0], "a");
    assert_false(c->csets[0].more);
    assert_int_equal(hs_fstat_coll_field(c, "a", 1)->present, 0);
    assert_int_equal(hs_fstat_coll_field(c, "a", 1)->changed, 1);
    hs_field_stats_release(&s);
}

static void large_sets_and_odd_names_keep_bounds_and_say_more(void **state)
{
    (void)state;
    struct hs_field_stats s;
    assert_int_equal(hs_field_stats_init(&s, NULL), HS_OK);
    char names[30][8];
    const char *ptrs[30];
    for (int i = 0; i < 30; i++) {
        snprintf(names[i], sizeof names[i], "f%02d", 29 - i);
        ptrs[i] = names[i];
    }
    patch(&s, "c:", ptrs, 30);
    const struct hs_fstat_coll *c = hs_field_stats_find(&s, "c:", 2);
    assert_int_equal(c->csets[0].n_names, HS_FSTAT_SET_NAMES_MAX);
    assert_true(c->csets[0].more);
    assert_string_equal(c->csets[0].names[0], "f00"); /* the smallest ones are kept */
    assert_string_equal(c->csets[0].names[15], "f15");
    /* a name with NUL or over the limit is not tracked, and makes the set "more" */
    char big[HS_FSTAT_NAME_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct hs_fstat_obs o[2] = {{.name = "a\0b", .name_len = 3},
                                {.name = big, .name_len = strlen(big)}};
    struct hs_fstat_write w = {
        .coll = "d:", .coll_len = 2, .fields = o, .n_fields = 2, .patch = true};
    hs_field_stats_record_write(&s, &w);
    c = hs_field_stats_find(&s, "d:", 2);
    assert_int_equal(c->untracked, 2);
    assert_int_equal(c->n_fields, 0);
    assert_int_equal(c->csets[0].n_names, 0);
    assert_true(c->csets[0].more);
    hs_field_stats_release(&s);
}

static void space_saving_keeps_bounds_and_heavy_hitters(void **state)
{
    (void)state;
    struct hs_fstat_limits l = {.collections = 4, .fields = 4, .sets = 4, .halve_every = 1 << 30};
    struct hs_field_stats s;
    assert_int_equal(hs_field_stats_init(&s, &l), HS_OK);
    /* collection "hot:" gets every other event; 100 others one event each */
    uint64_t hot_true = 0;
    for (int i = 0; i < 200; i++) {
        char coll[16];
        if (i % 2 == 0) {
            snprintf(coll, sizeof coll, "hot:");
            hot_true++;
        } else {
            snprintf(coll, sizeof coll, "c%d:", i);
        }
        char fname[16];
        snprintf(fname, sizeof fname, "x%d", i % 7);
        const char *f[] = {"views", fname};
        put(&s, coll, f, 2, NULL, false);
        assert_true(s.n_colls <= 4);
    }
    const struct hs_fstat_coll *c = hs_field_stats_find(&s, "hot:", 4);
    assert_non_null(c);
    assert_true(c->count >= hot_true);
    assert_true(c->count - c->err <= hot_true);
    assert_true(c->n_fields <= 4);
    const struct hs_fstat_field *v = hs_fstat_coll_field(c, "views", 5);
    assert_non_null(v);
    assert_true(v->count - v->err <= hot_true && v->count >= hot_true);
    for (uint32_t i = 0; i < s.n_colls; i++)
        assert_true(s.colls[i].err <= s.colls[i].count);
    hs_field_stats_release(&s);
}

static void halving_every_n_events_fades_old_evidence(void **state)
{
    (void)state;
    struct hs_fstat_limits l = {.halve_every = 16};
    struct hs_field_stats s;
    assert_int_equal(hs_field_stats_init(&s, &l), HS_OK);
    const char *a[] = {"old"};
    const char *b[] = {"new"};
    for (int i = 0; i < 15; i++)
        patch(&s, "h:", a, 1);
    const struct hs_fstat_coll *c = hs_field_stats_find(&s, "h:", 2);
    assert_int_equal(c->writes, 15);
    patch(&s, "h:", b, 1); /* 16th event: halved */
    assert_int_equal(c->writes, 8);
    assert_int_equal(hs_fstat_coll_field(c, "old", 3)->changed, 7);
    assert_null(hs_fstat_coll_field(c, "new", 3)); /* 1 halves to 0: dropped */
    for (int i = 0; i < 16 * 6; i++)
        patch(&s, "h:", b, 1);
    assert_null(hs_fstat_coll_field(c, "old", 3)); /* faded away */
    assert_true(hs_fstat_coll_field(c, "new", 3)->changed > 8);
    hs_field_stats_halve(&s);
    hs_field_stats_release(&s);
}

static void reads_count_full_and_projection_sets(void **state)
{
    (void)state;
    struct hs_field_stats s;
    assert_int_equal(hs_field_stats_init(&s, NULL), HS_OK);
    const char *n[] = {"b", "a"};
    struct hs_fstat_read r = {.coll = "u:",
                              .coll_len = 2,
                              .projection = true,
                              .served_hot = true,
                              .names = n,
                              .n_names = 2};
    hs_field_stats_record_read(&s, &r);
    r.served_hot = false;
    hs_field_stats_record_read(&s, &r);
    struct hs_fstat_read full = {.coll = "u:", .coll_len = 2};
    hs_field_stats_record_read(&s, &full);
    const struct hs_fstat_coll *c = hs_field_stats_find(&s, "u:", 2);
    assert_int_equal(c->proj_reads, 2);
    assert_int_equal(c->full_reads, 1);
    assert_int_equal(c->tot.proj_hot, 1);
    assert_int_equal(c->tot.proj_full, 1);
    assert_int_equal(c->n_rsets, 1);
    assert_int_equal(c->rsets[0].count, 2);
    assert_string_equal(c->rsets[0].names[0], "a");
    hs_field_stats_release(&s);
}

static void merge_adds_and_keeps_bounds(void **state)
{
    (void)state;
    struct hs_fstat_limits l = {.collections = 2, .fields = 2, .sets = 2, .halve_every = 1 << 30};
    struct hs_field_stats a, b;
    assert_int_equal(hs_field_stats_init(&a, &l), HS_OK);
    assert_int_equal(hs_field_stats_init(&b, &l), HS_OK);
    const char *f[] = {"x"};
    const bool ch[] = {true};
    for (int i = 0; i < 5; i++)
        put(&a, "u:", f, 1, ch, true);
    for (int i = 0; i < 3; i++)
        put(&b, "u:", f, 1, ch, true);
    put(&a, "only_a:", f, 1, NULL, false);
    put(&b, "only_b:", f, 1, NULL, false);
    struct hs_fstat_write w = {
        .coll = "u:", .coll_len = 2, .hybrid = true, .hot_bytes = 30, .layout_epoch = 7};
    hs_field_stats_record_write(&b, &w);
    hs_field_stats_merge(&a, &b);
    assert_int_equal(a.n_colls, 2);
    const struct hs_fstat_coll *c = hs_field_stats_find(&a, "u:", 2);
    assert_int_equal(c->writes, 9);
    assert_int_equal(hs_fstat_coll_field(c, "x", 1)->changed, 8);
    assert_int_equal(c->tot.hot_bytes, 30);
    assert_int_equal(c->tot.layout_epoch, 7);
    assert_int_equal(c->tot.pure_hot, 1);
    /* a collection missing from a full side got that side's minimum as possible count */
    for (uint32_t i = 0; i < a.n_colls; i++)
        assert_true(a.colls[i].err <= a.colls[i].count);
    hs_field_stats_release(&a);
    hs_field_stats_release(&b);
}

static void merge_into_empty_equals_source(void **state)
{
    (void)state;
    struct hs_field_stats a, b;
    assert_int_equal(hs_field_stats_init(&a, NULL), HS_OK);
    assert_int_equal(hs_field_stats_init(&b, NULL), HS_OK);
    const char *f[] = {"x", "y"};
    const bool ch[] = {true, false};
    for (int i = 0; i < 4; i++)
        put(&b, "u:", f, 2, ch, true);
    hs_field_stats_merge(&a, &b);
    struct hs_fstat_info info = {.gw = "gw1", .boot = "b1"};
    char *ta = NULL, *tb = NULL;
    size_t la = 0, lb = 0;
    assert_int_equal(hs_field_stats_encode(&a, &info, &ta, &la), HS_OK);
    assert_int_equal(hs_field_stats_encode(&b, &info, &tb, &lb), HS_OK);
    assert_string_equal(ta, tb);
    free(ta);
    free(tb);
    hs_field_stats_release(&a);
    hs_field_stats_release(&b);
}

static char *sample_json(struct hs_field_stats *s)
{
    const char *f[] = {"views", "t\"itle\xc3\xa9"};
    const bool ch[] = {true, false};
    for (int i = 0; i < 3; i++)
        put(s, "user:", f, 2, ch, true);
    const char *n[] = {"views"};
    struct hs_fstat_read r = {
        .coll = "user:", .coll_len = 5, .projection = true, .names = n, .n_names = 1};
    hs_field_stats_record_read(s, &r);
    struct hs_fstat_info info = {.gw = "gw-1", .boot = "boot.1", .seq = 3, .ms = 1700};
    char *t = NULL;
    size_t len = 0;
    assert_int_equal(hs_field_stats_encode(s, &info, &t, &len), HS_OK);
    assert_int_equal(strlen(t), len);
    return t;
}

static void snapshot_round_trips(void **state)
{
    (void)state;
    struct hs_field_stats s, d;
    assert_int_equal(hs_field_stats_init(&s, NULL), HS_OK);
    assert_int_equal(hs_field_stats_init(&d, NULL), HS_OK);
    char *t = sample_json(&s);
    struct hs_fstat_info info;
    char why[200] = "";
    assert_int_equal(hs_field_stats_decode(t, strlen(t), &d, &info, why, sizeof why), HS_OK);
    assert_string_equal(info.gw, "gw-1");
    assert_string_equal(info.boot, "boot.1");
    assert_int_equal(info.seq, 3);
    assert_int_equal(info.ms, 1700);
    struct hs_fstat_info info2 = info;
    char *t2 = NULL;
    size_t l2 = 0;
    assert_int_equal(hs_field_stats_encode(&d, &info2, &t2, &l2), HS_OK);
    assert_string_equal(t, t2);
    const struct hs_fstat_coll *c = hs_field_stats_find(&d, "user:", 5);
    assert_int_equal(hs_fstat_coll_field(c, "views", 5)->changed, 3);
    /* decoded sketches keep counting */
    const char *f[] = {"views"};
    put(&d, "user:", f, 1, NULL, false);
    assert_int_equal(hs_field_stats_find(&d, "user:", 5)->writes, 4);
    free(t);
    free(t2);
    hs_field_stats_release(&s);
    hs_field_stats_release(&d);
}

static enum hs_err dec(const char *text)
{
    struct hs_field_stats d;
    assert_int_equal(hs_field_stats_init(&d, NULL), HS_OK);
    char why[200] = "";
    enum hs_err err = hs_field_stats_decode(text, strlen(text), &d, NULL, why, sizeof why);
    if (err != HS_OK)
        assert_int_equal(d.n_colls, 0);
    hs_field_stats_release(&d);
    return err;
}

#define HEAD "{\"v\":1,\"gw\":\"g\",\"boot\":\"b\",\"seq\":0,\"ms\":0,\"limits\":[2,2,2,16],"
#define COLL(body)                                                                                 \
    HEAD "\"colls\":[{\"c\":\"u:\",\"n\":2,\"e\":0,\"w\":2,\"p\":2,\"k\":2,\"fr\":0,"              \
         "\"pr\":0,\"u\":0," body "}]}"
#define T "\"t\":[0,0,0,0,0,0,0,0,0,0]"

static void snapshot_rules_refused(void **state)
{
    (void)state;
    assert_int_equal(dec(HEAD "\"colls\":[]}"), HS_OK);
    assert_int_equal(dec(COLL("\"f\":[[\"a\",2,0,2,1,9]],\"cs\":[[[\"a\"],1,0,0]],\"rs\":[]," T)),
                     HS_OK);
    assert_int_equal(dec("{\"v\":3}"), HS_EPROTO);
    assert_int_equal(dec("{\"v\":\"1\"}"), HS_ECORRUPT);
    assert_int_equal(dec("[]"), HS_ECORRUPT);
    assert_int_equal(dec("{\"v\":1"), HS_ECORRUPT);
    assert_int_equal(dec(HEAD "\"colls\":[],\"x\":1}"), HS_ECORRUPT); /* unknown member */
    assert_int_equal(dec("{\"v\":1,\"gw\":\"g\",\"boot\":\"b b\",\"seq\":0,\"ms\":0,"
                         "\"limits\":[2,2,2,16],\"colls\":[]}"),
                     HS_ECORRUPT);
    assert_int_equal(dec("{\"v\":1,\"gw\":\"g\",\"boot\":\"b\",\"seq\":0,\"ms\":0,"
                         "\"limits\":[2,2,2,1],\"colls\":[]}"),
                     HS_ECORRUPT); /* halve_every out of range */
    /* more collections than the limit */
    assert_int_equal(dec(HEAD "\"colls\":[{},{},{}]}"), HS_ECORRUPT);
    /* err > count, negative, too big, wrong types */
    assert_int_equal(dec(COLL("\"f\":[[\"a\",2,3,2,1,9]],\"cs\":[],\"rs\":[]," T)), HS_ECORRUPT);
    assert_int_equal(dec(COLL("\"f\":[[\"a\",-1,0,2,1,9]],\"cs\":[],\"rs\":[]," T)), HS_ECORRUPT);
    assert_int_equal(dec(COLL("\"f\":[[\"a\",9007199254740992,0,2,1,9]],\"cs\":[],\"rs\":[]," T)),
                     HS_ECORRUPT);
    assert_int_equal(dec(COLL("\"f\":[[\"a\",2.0,0,2,1,9]],\"cs\":[],\"rs\":[]," T)), HS_ECORRUPT);
    /* duplicate field, too many fields, NUL in a name */
    assert_int_equal(
        dec(COLL("\"f\":[[\"a\",2,0,2,1,9],[\"a\",1,0,1,1,1]],\"cs\":[],\"rs\":[]," T)),
        HS_ECORRUPT);
    assert_int_equal(dec(COLL("\"f\":[[\"a\",2,0,2,1,9],[\"b\",1,0,1,1,1],[\"c\",1,0,1,1,1]],"
                              "\"cs\":[],\"rs\":[]," T)),
                     HS_ECORRUPT);
    assert_int_equal(dec(COLL("\"f\":[[\"a\\u0000\",2,0,2,1,9]],\"cs\":[],\"rs\":[]," T)),
                     HS_ECORRUPT);
    /* sets: unsorted, duplicate, more not 0|1 */
    assert_int_equal(dec(COLL("\"f\":[],\"cs\":[[[\"b\",\"a\"],1,0,0]],\"rs\":[]," T)),
                     HS_ECORRUPT);
    assert_int_equal(dec(COLL("\"f\":[],\"cs\":[[[\"a\"],1,0,0],[[\"a\"],1,0,0]],\"rs\":[]," T)),
                     HS_ECORRUPT);
    assert_int_equal(dec(COLL("\"f\":[],\"cs\":[[[\"a\"],1,0,2]],\"rs\":[]," T)), HS_ECORRUPT);
    /* totals: wrong length */
    assert_int_equal(dec(COLL("\"f\":[],\"cs\":[],\"rs\":[],\"t\":[0]")), HS_ECORRUPT);
    /* duplicate collection */
    assert_int_equal(dec(HEAD "\"colls\":[{\"c\":\"u:\",\"n\":2,\"e\":0,\"w\":2,\"p\":2,\"k\":2,"
                              "\"fr\":0,\"pr\":0,\"u\":0,\"f\":[],\"cs\":[],\"rs\":[]," T "},"
                              "{\"c\":\"u:\",\"n\":2,\"e\":0,\"w\":2,\"p\":2,\"k\":2,"
                              "\"fr\":0,\"pr\":0,\"u\":0,\"f\":[],\"cs\":[],\"rs\":[]," T "}]}"),
                     HS_ECORRUPT);
}

static void every_truncation_of_a_snapshot_is_refused(void **state)
{
    (void)state;
    struct hs_field_stats s, d;
    assert_int_equal(hs_field_stats_init(&s, NULL), HS_OK);
    assert_int_equal(hs_field_stats_init(&d, NULL), HS_OK);
    char *t = sample_json(&s);
    size_t n = strlen(t);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(hs_field_stats_decode(t, i, &d, NULL, NULL, 0), HS_OK);
    free(t);
    hs_field_stats_release(&s);
    hs_field_stats_release(&d);
}

static void encode_refuses_bad_info(void **state)
{
    (void)state;
    struct hs_field_stats s;
    assert_int_equal(hs_field_stats_init(&s, NULL), HS_OK);
    char *t = NULL;
    size_t n = 0;
    struct hs_fstat_info info = {.gw = "bad id!", .boot = "b"};
    assert_int_equal(hs_field_stats_encode(&s, &info, &t, &n), HS_EINVAL);
    info = (struct hs_fstat_info){.gw = "", .boot = ""};
    assert_int_equal(hs_field_stats_encode(&s, &info, &t, &n), HS_EINVAL);
    assert_null(t);
    hs_field_stats_release(&s);
}

/* Property: for random skewed streams into two small sketches, every tracked collection keeps
 * count - err <= true <= count, and every tracked field count - err <= true <= count + the
 * collection's err, alone and after merging (also into a third sketch with other limits). */
static uint32_t rnd(uint32_t *st)
{
    *st = *st * 1103515245u + 12345u;
    return *st >> 8;
}

#define N_COLLS  12
#define N_FIELDS 10

struct truth {
    uint64_t coll[N_COLLS];
    uint64_t field[N_COLLS][N_FIELDS]; /* field observations (PUT presence) */
};

static void check_bounds(const struct hs_field_stats *s, const struct truth *t)
{
    for (uint32_t i = 0; i < s->n_colls; i++) {
        const struct hs_fstat_coll *c = &s->colls[i];
        int ci = (int)strtol(c->name + 1, NULL, 10);
        assert_true(c->err <= c->count);
        assert_true(c->count - c->err <= t->coll[ci]);
        assert_true(t->coll[ci] <= c->count);
        for (uint32_t j = 0; j < c->n_fields; j++) {
            const struct hs_fstat_field *f = &c->fields[j];
            int fi = (int)strtol(f->name + 1, NULL, 10);
            assert_true(f->count - f->err <= t->field[ci][fi]);
            /* counted since the collection took its slot: before it, at most c->err times */
            assert_true(t->field[ci][fi] <= f->count + c->err);
            assert_true(f->present <= t->field[ci][fi]);
        }
    }
}

static void feed(struct hs_field_stats *s, struct truth *t, uint32_t *st, int n)
{
    for (int k = 0; k < n; k++) {
        uint32_t a = rnd(st) % N_COLLS, b = rnd(st) % N_COLLS;
        uint32_t ci = a < b ? a : b; /* skewed towards small ids */
        char coll[8], names[N_FIELDS][8];
        snprintf(coll, sizeof coll, "c%u", ci);
        struct hs_fstat_obs obs[N_FIELDS];
        size_t n_obs = 0;
        for (uint32_t fi = 0; fi < N_FIELDS; fi++) {
            if (rnd(st) % (fi + 1) != 0) /* field fi present with probability 1/(fi+1) */
                continue;
            snprintf(names[fi], sizeof names[fi], "f%u", fi);
            obs[n_obs++] = (struct hs_fstat_obs){
                .name = names[fi], .name_len = strlen(names[fi]), .bytes = 1, .present = true};
            t->field[ci][fi]++;
        }
        struct hs_fstat_write w = {
            .coll = coll, .coll_len = strlen(coll), .fields = obs, .n_fields = n_obs};
        hs_field_stats_record_write(s, &w);
        t->coll[ci]++;
    }
}

static void space_saving_bounds_hold_through_merges(void **state)
{
    (void)state;
    struct hs_fstat_limits l = {.collections = 4, .fields = 3, .sets = 2, .halve_every = 1 << 30};
    for (uint32_t seed = 1; seed <= 20; seed++) {
        struct hs_field_stats a, b, m;
        struct truth ta = {0}, tb = {0}, tm = {0};
        assert_int_equal(hs_field_stats_init(&a, &l), HS_OK);
        assert_int_equal(hs_field_stats_init(&b, &l), HS_OK);
        struct hs_fstat_limits lm = {
            .collections = 3, .fields = 5, .sets = 2, .halve_every = 1 << 30};
        assert_int_equal(hs_field_stats_init(&m, &lm), HS_OK);
        uint32_t st = seed;
        feed(&a, &ta, &st, 300);
        feed(&b, &tb, &st, 200 + (int)seed * 10);
        check_bounds(&a, &ta);
        check_bounds(&b, &tb);
        for (int i = 0; i < N_COLLS; i++) {
            tm.coll[i] = ta.coll[i] + tb.coll[i];
            for (int j = 0; j < N_FIELDS; j++)
                tm.field[i][j] = ta.field[i][j] + tb.field[i][j];
        }
        hs_field_stats_merge(&m, &a);
        hs_field_stats_merge(&m, &b);
        check_bounds(&m, &tm);
        hs_field_stats_merge(&a, &b);
        check_bounds(&a, &tm);
        hs_field_stats_release(&a);
        hs_field_stats_release(&b);
        hs_field_stats_release(&m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(collection_is_prefix_through_first_separator),
        cmocka_unit_test(limits_out_of_range_refused),
        cmocka_unit_test(put_counts_presence_changes_and_change_sets),
        cmocka_unit_test(patch_change_set_is_its_keys_deduplicated),
        cmocka_unit_test(large_sets_and_odd_names_keep_bounds_and_say_more),
        cmocka_unit_test(space_saving_keeps_bounds_and_heavy_hitters),
        cmocka_unit_test(halving_every_n_events_fades_old_evidence),
        cmocka_unit_test(reads_count_full_and_projection_sets),
        cmocka_unit_test(merge_adds_and_keeps_bounds),
        cmocka_unit_test(merge_into_empty_equals_source),
        cmocka_unit_test(space_saving_bounds_hold_through_merges),
        cmocka_unit_test(snapshot_round_trips),
        cmocka_unit_test(snapshot_rules_refused),
        cmocka_unit_test(every_truncation_of_a_snapshot_is_refused),
        cmocka_unit_test(encode_refuses_bad_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
