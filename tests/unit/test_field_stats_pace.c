/* test_field_stats_pace.c - fading paced by the cluster's writes (field_stats.h "Pacing"): the
 * healer's hs_field_stats_pace, the gateways' hs_field_stats_set_epoch, epoch alignment in the
 * merge, the snapshot members that carry them, and a simulated cluster of 1, 2, 3 and 5
 * gateways in which old evidence fades at the same pace whatever the number of gateways and
 * within the bound docs/design.md section 10 states. */
#include <math.h>
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

/* One PUT of collection coll whose change set is {changed} (known). */
static void write_one(struct hs_field_stats *s, const char *coll, const char *changed)
{
    struct hs_fstat_obs obs[2] = {
        {.name = "old", .name_len = 3, .bytes = 8, .present = true},
        {.name = "new", .name_len = 3, .bytes = 8, .present = true},
    };
    for (size_t i = 0; i < 2; i++)
        obs[i].changed = strcmp(obs[i].name, changed) == 0;
    struct hs_fstat_write w = {.coll = coll,
                               .coll_len = strlen(coll),
                               .fields = obs,
                               .n_fields = 2,
                               .changes_known = true};
    hs_field_stats_record_write(s, &w);
}

static void writes(struct hs_field_stats *s, const char *coll, const char *changed, int n)
{
    for (int i = 0; i < n; i++)
        write_one(s, coll, changed);
}

static const struct hs_fstat_coll *coll_of(const struct hs_field_stats *s, const char *name)
{
    const struct hs_fstat_coll *c = hs_field_stats_find(s, name, strlen(name));
    assert_non_null(c);
    return c;
}

static uint64_t changed_of(const struct hs_field_stats *s, const char *coll, const char *field)
{
    const struct hs_fstat_field *f = hs_fstat_coll_field(coll_of(s, coll), field, strlen(field));
    return f ? f->changed : 0;
}

static void pace_halves_once_per_halve_writes_summed_over_gateways(void **state)
{
    (void)state;
    struct hs_field_stats g1, g2, m;
    assert_int_equal(hs_field_stats_init(&g1, NULL), HS_OK);
    assert_int_equal(hs_field_stats_init(&g2, NULL), HS_OK);
    assert_int_equal(hs_field_stats_init(&m, NULL), HS_OK);
    writes(&g1, "u:", "old", 600);
    writes(&g2, "u:", "old", 700);
    /* neither gateway reached 1000 writes of its own, the cluster did */
    hs_field_stats_merge(&m, &g1);
    hs_field_stats_merge(&m, &g2);
    assert_int_equal(coll_of(&m, "u:")->since_writes, 1300);
    assert_int_equal(hs_field_stats_pace(&m, 1000), 1);
    const struct hs_fstat_coll *c = coll_of(&m, "u:");
    assert_true(c->paced);
    assert_int_equal(c->epoch, 1);
    assert_int_equal(c->since_writes, 300); /* the remainder is kept */
    assert_int_equal(c->writes, 650);
    assert_int_equal(changed_of(&m, "u:", "old"), 650);
    /* several periods at once: 3 more halvings */
    hs_field_stats_reset(&m);
    writes(&g1, "u:", "old", 2400);
    hs_field_stats_merge(&m, &g1);
    hs_field_stats_merge(&m, &g2);
    assert_int_equal(hs_field_stats_pace(&m, 1000), 1);
    assert_int_equal(coll_of(&m, "u:")->epoch, 3);
    assert_int_equal(coll_of(&m, "u:")->since_writes, 700);
    /* below the period nothing is halved, but the collection becomes paced at epoch 0 */
    struct hs_field_stats s;
    assert_int_equal(hs_field_stats_init(&s, NULL), HS_OK);
    writes(&s, "v:", "new", 10);
    assert_int_equal(hs_field_stats_pace(&s, 1000), 0);
    assert_true(coll_of(&s, "v:")->paced);
    assert_int_equal(coll_of(&s, "v:")->epoch, 0);
    assert_int_equal(changed_of(&s, "v:", "new"), 10);
    hs_field_stats_release(&s);
    hs_field_stats_release(&g1);
    hs_field_stats_release(&g2);
    hs_field_stats_release(&m);
}

static void set_epoch_halves_the_difference_once(void **state)
{
    (void)state;
    struct hs_field_stats g;
    assert_int_equal(hs_field_stats_init(&g, NULL), HS_OK);
    writes(&g, "u:", "old", 800);
    /* unpaced: takes the epoch without halving (its counts are its own) */
    assert_true(hs_field_stats_set_epoch(&g, "u:", 2, 5));
    assert_true(coll_of(&g, "u:")->paced);
    assert_int_equal(coll_of(&g, "u:")->epoch, 5);
    assert_int_equal(changed_of(&g, "u:", "old"), 800);
    /* paced at 5, told 7: halved twice; told 7 again (a retry) or 6 (a stale message): nothing */
    assert_true(hs_field_stats_set_epoch(&g, "u:", 2, 7));
    assert_int_equal(changed_of(&g, "u:", "old"), 200);
    assert_int_equal(coll_of(&g, "u:")->since_writes, 0);
    assert_true(hs_field_stats_set_epoch(&g, "u:", 2, 7));
    assert_true(hs_field_stats_set_epoch(&g, "u:", 2, 6));
    assert_int_equal(changed_of(&g, "u:", "old"), 200);
    assert_int_equal(coll_of(&g, "u:")->epoch, 7);
    /* a jump beyond HS_FSTAT_HALVINGS_MAX empties it without looping for ever */
    assert_true(hs_field_stats_set_epoch(&g, "u:", 2, UINT64_MAX));
    assert_int_equal(changed_of(&g, "u:", "old"), 0);
    assert_int_equal(coll_of(&g, "u:")->writes, 0);
    /* a collection it does not track */
    assert_false(hs_field_stats_set_epoch(&g, "x:", 2, 3));
    assert_null(hs_field_stats_find(&g, "x:", 2));
    hs_field_stats_release(&g);
}

static void paced_collection_halves_itself_only_as_a_fallback(void **state)
{
    (void)state;
    struct hs_fstat_limits l = {.halve_every = 100};
    struct hs_field_stats g;
    assert_int_equal(hs_field_stats_init(&g, &l), HS_OK);
    writes(&g, "u:", "old", 99);
    assert_true(hs_field_stats_set_epoch(&g, "u:", 2, 0));
    writes(&g, "u:", "old", 1);
    /* unpaced it would have halved at its 100th event; paced it waits for the healer */
    assert_int_equal(changed_of(&g, "u:", "old"), 100);
    writes(&g, "u:", "old", 100 * HS_FSTAT_PACED_STALE - 101);
    assert_int_equal(changed_of(&g, "u:", "old"), 100 * HS_FSTAT_PACED_STALE - 1);
    writes(&g, "u:", "old", 1); /* no epoch for HS_FSTAT_PACED_STALE periods: halves itself */
    assert_int_equal(changed_of(&g, "u:", "old"), 100 * HS_FSTAT_PACED_STALE / 2);
    /* an unpaced collection keeps halving at its own pace */
    writes(&g, "v:", "new", 100);
    assert_int_equal(changed_of(&g, "v:", "new"), 50);
    hs_field_stats_release(&g);
}

/* Merging a at epoch ea with b at eb, in both orders, gives the same counts. */
static void merged_both_ways(uint64_t ea, bool pa, uint64_t eb, bool pb, uint64_t *changed,
                             uint64_t *epoch)
{
    struct hs_field_stats a, b, m1, m2;
    assert_int_equal(hs_field_stats_init(&a, NULL), HS_OK);
    assert_int_equal(hs_field_stats_init(&b, NULL), HS_OK);
    assert_int_equal(hs_field_stats_init(&m1, NULL), HS_OK);
    assert_int_equal(hs_field_stats_init(&m2, NULL), HS_OK);
    writes(&a, "u:", "old", 400);
    writes(&b, "u:", "old", 400);
    if (pa)
        assert_true(hs_field_stats_set_epoch(&a, "u:", 2, ea));
    if (pb)
        assert_true(hs_field_stats_set_epoch(&b, "u:", 2, eb));
    hs_field_stats_merge(&m1, &a);
    hs_field_stats_merge(&m1, &b);
    hs_field_stats_merge(&m2, &b);
    hs_field_stats_merge(&m2, &a);
    assert_int_equal(changed_of(&m1, "u:", "old"), changed_of(&m2, "u:", "old"));
    assert_int_equal(coll_of(&m1, "u:")->epoch, coll_of(&m2, "u:")->epoch);
    assert_int_equal(coll_of(&m1, "u:")->writes, coll_of(&m2, "u:")->writes);
    assert_true(coll_of(&m1, "u:")->paced == (pa || pb));
    *changed = changed_of(&m1, "u:", "old");
    *epoch = coll_of(&m1, "u:")->epoch;
    /* the sources are unchanged */
    assert_int_equal(changed_of(&a, "u:", "old"), 400);
    assert_int_equal(changed_of(&b, "u:", "old"), 400);
    hs_field_stats_release(&a);
    hs_field_stats_release(&b);
    hs_field_stats_release(&m1);
    hs_field_stats_release(&m2);
}

static void merge_aligns_a_lagging_gateway(void **state)
{
    (void)state;
    uint64_t changed = 0, epoch = 0;
    /* set_epoch on an unpaced sketch does not halve: both hold 400, paced at 3 and 5; the
     * one at 3 missed two halvings, so it counts 100 */
    merged_both_ways(3, true, 5, true, &changed, &epoch);
    assert_int_equal(changed, 500);
    assert_int_equal(epoch, 5);
    /* same epoch: plain sum */
    merged_both_ways(4, true, 4, true, &changed, &epoch);
    assert_int_equal(changed, 800);
    assert_int_equal(epoch, 4);
    /* an unpaced side is recent: taken as it is, the result is paced */
    merged_both_ways(6, true, 0, false, &changed, &epoch);
    assert_int_equal(changed, 800);
    assert_int_equal(epoch, 6);
    merged_both_ways(0, false, 0, false, &changed, &epoch);
    assert_int_equal(changed, 800);
    assert_int_equal(epoch, 0);
}

static void snapshot_carries_epoch_and_since_writes(void **state)
{
    (void)state;
    struct hs_field_stats g, d;
    assert_int_equal(hs_field_stats_init(&g, NULL), HS_OK);
    assert_int_equal(hs_field_stats_init(&d, NULL), HS_OK);
    writes(&g, "u:", "old", 30);
    writes(&g, "v:", "new", 20);
    assert_true(hs_field_stats_set_epoch(&g, "u:", 2, 9));
    writes(&g, "u:", "old", 5);
    struct hs_fstat_info info = {.gw = "gw1", .boot = "b1", .seq = 1, .ms = 1};
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(hs_field_stats_encode(&g, &info, &text, &len), HS_OK);
    assert_non_null(strstr(text, "\"v\":2"));
    char why[200] = "";
    assert_int_equal(hs_field_stats_decode(text, len, &d, NULL, why, sizeof why), HS_OK);
    assert_true(coll_of(&d, "u:")->paced);
    assert_int_equal(coll_of(&d, "u:")->epoch, 9);
    assert_int_equal(coll_of(&d, "u:")->since_writes, 35);
    assert_false(coll_of(&d, "v:")->paced);
    assert_int_equal(coll_of(&d, "v:")->since_writes, 20);
    free(text);
    /* version 1 (no pacing members) is still read; version 1 with them is not */
#define SNAP(v, extra)                                                                             \
    "{\"v\":" v ",\"gw\":\"g\",\"boot\":\"b\",\"seq\":0,\"ms\":0,\"limits\":[2,2,2,16],"           \
    "\"colls\":[{\"c\":\"u:\",\"n\":2,\"e\":0,\"w\":2,\"p\":2,\"k\":2,\"fr\":0,\"pr\":0,\"u\":0,"  \
    "\"f\":[],\"cs\":[],\"rs\":[],\"t\":[0,0,0,0,0,0,0,0,0,0]" extra "}]}"
    static const struct {
        const char *text;
        enum hs_err err;
        bool paced;
    } cases[] = {
        {SNAP("1", ""), HS_OK, false},
        {SNAP("1", ",\"sw\":1"), HS_ECORRUPT, false},
        {SNAP("2", ",\"sw\":1"), HS_OK, false},
        {SNAP("2", ",\"sw\":1,\"h\":4"), HS_OK, true},
        {SNAP("2", ""), HS_ECORRUPT, false}, /* "sw" is required */
        {SNAP("2", ",\"sw\":1,\"h\":-1"), HS_ECORRUPT, false},
        {SNAP("3", ",\"sw\":1"), HS_EPROTO, false},
    };
#undef SNAP
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum hs_err err =
            hs_field_stats_decode(cases[i].text, strlen(cases[i].text), &d, NULL, why, sizeof why);
        if (err != cases[i].err)
            fail_msg("case %zu: %d, want %d (%s)", i, (int)err, (int)cases[i].err, why);
        if (err == HS_OK)
            assert_true(coll_of(&d, "u:")->paced == cases[i].paced);
    }
    hs_field_stats_release(&g);
    hs_field_stats_release(&d);
}

/* ---- a simulated cluster --------------------------------------------------------------------- */

#define SIM_HALVE  2048 /* the healer's halve_writes */
#define SIM_ROUND  300  /* cluster writes between two decision rounds (R) */
#define SIM_GW_MAX 5

struct sim {
    int n_gw;
    struct hs_field_stats gw[SIM_GW_MAX];
    struct hs_field_stats merged; /* the last round's */
    uint64_t rng;
};

static uint32_t sim_rand(struct sim *s)
{
    s->rng = s->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(s->rng >> 33);
}

/* One decision round of the healer: merge every snapshot (through the JSON, as in the cluster),
 * pace, send the epochs. */
static void sim_round(struct sim *s)
{
    hs_field_stats_reset(&s->merged);
    for (int g = 0; g < s->n_gw; g++) {
        struct hs_fstat_info info = {.gw = "gw", .boot = "b", .seq = 1, .ms = 1};
        char *text = NULL, why[200] = "";
        size_t len = 0;
        assert_int_equal(hs_field_stats_encode(&s->gw[g], &info, &text, &len), HS_OK);
        assert_int_equal(
            hs_field_stats_decode_merge(text, len, &s->merged, g == 0, why, sizeof why), HS_OK);
        free(text);
    }
    (void)hs_field_stats_pace(&s->merged, SIM_HALVE);
    const struct hs_fstat_coll *m = coll_of(&s->merged, "u:");
    for (int g = 0; g < s->n_gw; g++)
        (void)hs_field_stats_set_epoch(&s->gw[g], "u:", 2, m->epoch);
}

/* n writes spread at random over the gateways (each also serving a read now and then: events
 * that do not pace anything), a round every SIM_ROUND writes. */
static void sim_writes(struct sim *s, const char *changed, int n, int *since_round)
{
    for (int i = 0; i < n; i++) {
        struct hs_field_stats *g = &s->gw[sim_rand(s) % (uint32_t)s->n_gw];
        write_one(g, "u:", changed);
        if (sim_rand(s) % 2) {
            struct hs_fstat_read r = {.coll = "u:", .coll_len = 2};
            hs_field_stats_record_read(g, &r);
        }
        if (++*since_round == SIM_ROUND) {
            *since_round = 0;
            sim_round(s);
        }
    }
}

/* The share of the merged window's evidence from before the shift (field "old" changed in every
 * write before it and never after), k (H + R) + R writes past the shift, k = 1..7. */
static void sim_run(int n_gw, double share[8])
{
    struct sim s = {.n_gw = n_gw, .rng = 42};
    assert_int_equal(hs_field_stats_init(&s.merged, NULL), HS_OK);
    for (int g = 0; g < n_gw; g++)
        assert_int_equal(hs_field_stats_init(&s.gw[g], NULL), HS_OK);
    int since_round = 0;
    sim_writes(&s, "old", 10 * SIM_HALVE + 1000, &since_round); /* a long first phase */
    sim_writes(&s, "new", SIM_ROUND, &since_round); /* the merged window lags by a round */
    for (int k = 1; k < 8; k++) {
        sim_writes(&s, "new", SIM_HALVE + SIM_ROUND, &since_round);
        const struct hs_fstat_coll *c = coll_of(&s.merged, "u:");
        share[k] = (double)changed_of(&s.merged, "u:", "old") / (double)c->known;
    }
    for (int g = 0; g < n_gw; g++)
        hs_field_stats_release(&s.gw[g]);
    hs_field_stats_release(&s.merged);
}

static void old_evidence_fades_by_cluster_writes_whatever_the_gateway_count(void **state)
{
    (void)state;
    static const int counts[] = {1, 2, 3, 5};
    double share[4][8];
    for (int i = 0; i < 4; i++) {
        sim_run(counts[i], share[i]);
        if (getenv("HS_TEST_VERBOSE"))
            for (int k = 1; k < 8; k++)
                printf("gateways=%d k=%d old_share=%.4f\n", counts[i], k, share[i][k]);
        for (int k = 1; k < 8; k++) {
            /* the bound (design.md section 10): k (H + R) + R writes past the shift, the
             * pre-shift writes are at most (1 + R / H) 2^(1 - k) of the merged window */
            double bound = (1.0 + (double)SIM_ROUND / SIM_HALVE) * pow(2.0, 1 - k);
            if (share[i][k] > bound)
                fail_msg("%d gateways: old share %.3f after %d periods, bound %.3f", counts[i],
                         share[i][k], k, bound);
        }
    }
    /* the same pace with 1, 2, 3 or 5 gateways (only the random spread of writes differs) */
    for (int k = 1; k < 8; k++)
        for (int i = 1; i < 4; i++)
            if (fabs(share[i][k] - share[0][k]) > 0.02 + 0.05 * share[0][k])
                fail_msg("after %d periods: %.3f with %d gateways, %.3f with 1", k, share[i][k],
                         counts[i], share[0][k]);
    /* and it does fade: at most 2 % after 7 periods */
    assert_true(share[0][7] < 0.02);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pace_halves_once_per_halve_writes_summed_over_gateways),
        cmocka_unit_test(set_epoch_halves_the_difference_once),
        cmocka_unit_test(paced_collection_halves_itself_only_as_a_fallback),
        cmocka_unit_test(merge_aligns_a_lagging_gateway),
        cmocka_unit_test(snapshot_carries_epoch_and_since_writes),
        cmocka_unit_test(old_evidence_fades_by_cluster_writes_whatever_the_gateway_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
