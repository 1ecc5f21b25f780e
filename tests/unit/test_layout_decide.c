/* test_layout_decide.c - the adaptive hot-field decision (src/healer/layout_decide.h) against a
 * simulated collection: writes drawn from true per-field change probabilities, counted the way
 * the gateways count them (per-field counters, the heaviest change sets, projection read sets,
 * everything halved every 8192 writes), one decision round every 500 writes 30 s apart, and the
 * record passed through its JSON codec between rounds (what a new leader would read). The
 * offline best hot set is found by trying every subset under the same cost model with the true
 * probabilities. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "healer/layout_decide.h"
#include "hs/layout.h"
#include "hs/banned.h"

#define MAXF        10
#define ROUND       500 /* writes per decision round */
#define ROUND_MS    30000
#define HALVE_EVERY 8192
#define TOP_SETS    32
#define DEFAULT_HOT "like_count,view_count,inventory_count,update_count"

struct fdef {
    const char *name;
    double bytes;
    double p; /* change probability per write */
};

struct sim {
    size_t nf;
    struct fdef f[MAXF];
    uint64_t rng;
    /* counters (halved) */
    double writes, puts, known, proj;
    double present[MAXF], changed[MAXF], bytes[MAXF];
    double cset[1 << MAXF];
    double rset_vc; /* projection reads of {view_count} */
    uint64_t total;
    double objects;
    /* state */
    struct hs_layout_record rec;
    bool has_rec;
    struct hs_layout_config cfg;
    struct hs_layout_fields deflt;
    int64_t now_ms;
    int changes;                    /* epochs published */
    enum hs_layout_verdict verdict; /* of the last round */
    struct hs_layout_fields pin_hot, pin_cold;
};

static double rnd(struct sim *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return (double)(s->rng >> 11) / 9007199254740992.0;
}

static void sim_init(struct sim *s, const struct fdef *f, size_t nf)
{
    memset(s, 0, sizeof *s);
    s->nf = nf;
    memcpy(s->f, f, nf * sizeof *f);
    s->rng = 0x9e3779b97f4a7c15ull;
    hs_layout_config_defaults(&s->cfg);
    assert_int_equal(hs_layout_fields_parse_csv(&s->deflt, DEFAULT_HOT), HS_OK);
    s->now_ms = 1800000000000;
    s->objects = 200;
}

static void sim_release(struct sim *s)
{
    if (s->has_rec)
        hs_layout_record_release(&s->rec);
    hs_layout_fields_release(&s->deflt);
    hs_layout_fields_release(&s->pin_hot);
    hs_layout_fields_release(&s->pin_cold);
}

static void halve(struct sim *s)
{
    s->writes /= 2, s->puts /= 2, s->known /= 2, s->proj /= 2, s->rset_vc /= 2;
    for (size_t i = 0; i < s->nf; i++)
        s->present[i] /= 2, s->changed[i] /= 2, s->bytes[i] /= 2;
    for (size_t m = 0; m < ((size_t)1 << s->nf); m++)
        s->cset[m] /= 2;
}

static void one_write(struct sim *s)
{
    unsigned mask = 0;
    for (size_t i = 0; i < s->nf; i++)
        if (rnd(s) < s->f[i].p)
            mask |= 1u << i;
    bool put = rnd(s) < 0.8;
    s->writes++, s->known++, s->total++;
    if (put) {
        s->puts++;
        for (size_t i = 0; i < s->nf; i++)
            s->present[i]++, s->bytes[i] += s->f[i].bytes;
    }
    for (size_t i = 0; i < s->nf; i++)
        if (mask & (1u << i))
            s->changed[i]++;
    s->cset[mask]++;
    if (rnd(s) < 0.25)
        s->proj++, s->rset_vc++;
    if (s->total % HALVE_EVERY == 0)
        halve(s);
}

/* The heaviest TOP_SETS change sets as the engine sees them. */
struct view {
    struct hs_layout_field_in fields[MAXF];
    struct hs_layout_set_in csets[TOP_SETS];
    const char *names[TOP_SETS][MAXF];
    struct hs_layout_set_in rset;
    const char *rnames[1];
    struct hs_layout_input in;
};

static void sim_view(struct sim *s, struct view *v)
{
    memset(v, 0, sizeof *v);
    for (size_t i = 0; i < s->nf; i++)
        v->fields[i] =
            (struct hs_layout_field_in){s->f[i].name, s->present[i], s->changed[i], s->bytes[i]};
    bool used[1 << MAXF] = {false};
    size_t n = 0;
    for (; n < TOP_SETS; n++) {
        long best = -1;
        for (size_t m = 0; m < ((size_t)1 << s->nf); m++)
            if (!used[m] && s->cset[m] > 0 && (best < 0 || s->cset[m] > s->cset[best]))
                best = (long)m;
        if (best < 0)
            break;
        used[best] = true;
        size_t k = 0;
        for (size_t i = 0; i < s->nf; i++)
            if (best & (1l << i))
                v->names[n][k++] = s->f[i].name;
        v->csets[n] = (struct hs_layout_set_in){v->names[n], k, false, s->cset[best]};
    }
    v->rnames[0] = "view_count";
    v->rset = (struct hs_layout_set_in){v->rnames, 1, false, s->rset_vc};
    v->in = (struct hs_layout_input){
        .writes = s->writes,
        .puts = s->puts,
        .known = s->known,
        .proj_reads = s->proj,
        .fields = v->fields,
        .n_fields = s->nf,
        .csets = v->csets,
        .n_csets = n,
        .rsets = &v->rset,
        .n_rsets = 1,
        .writes_total = s->total,
        .objects = s->objects,
    };
}

/* The true model: the same cost model fed the true probabilities (independent fields). */
static void truth_view(const struct sim *s, struct view *v)
{
    memset(v, 0, sizeof *v);
    double n = 1e6;
    for (size_t i = 0; i < s->nf; i++)
        v->fields[i] =
            (struct hs_layout_field_in){s->f[i].name, n, s->f[i].p * n, s->f[i].bytes * n};
    v->rnames[0] = "view_count";
    v->rset = (struct hs_layout_set_in){v->rnames, 1, false, 0.25 * n};
    v->in = (struct hs_layout_input){.writes = n,
                                     .puts = n,
                                     .known = n,
                                     .proj_reads = 0.25 * n,
                                     .fields = v->fields,
                                     .n_fields = s->nf,
                                     .rsets = &v->rset,
                                     .n_rsets = 1};
}

static double true_cost(const struct sim *s, const struct hs_layout_fields *hot)
{
    struct view v;
    truth_view(s, &v);
    struct hs_layout_cost c;
    hs_layout_evaluate(&v.in, &s->cfg, hot, 0, &c);
    return c.total;
}

/* Every subset within the caps and pins: the offline best. */
static void offline_best(const struct sim *s, struct hs_layout_fields *out)
{
    double best = INFINITY;
    for (unsigned m = 0; m < (1u << s->nf); m++) {
        const char *names[MAXF + HS_LAYOUT_FIELDS_MAX];
        size_t k = 0;
        double h = 0;
        bool ok = true;
        for (size_t i = 0; i < s->nf; i++) {
            bool pinned = hs_layout_fields_contains(&s->pin_hot, s->f[i].name);
            if (m & (1u << i)) {
                if (hs_layout_fields_contains(&s->pin_cold, s->f[i].name))
                    ok = false;
                names[k++] = s->f[i].name;
                h += pinned ? 0 : s->f[i].bytes;
            } else if (pinned) {
                ok = false;
            }
        }
        if (!ok || h > s->cfg.hot_max_bytes || k > s->cfg.hot_max_fields)
            continue;
        struct hs_layout_fields f = {0};
        assert_int_equal(hs_layout_fields_set(&f, names, k), HS_OK);
        double c = true_cost(s, &f);
        if (c < best - 1e-9) {
            best = c;
            hs_layout_fields_copy(out, &f);
        }
        hs_layout_fields_release(&f);
    }
}

/* The hot set in force (the record's, or the default with pins). */
static void published(const struct sim *s, struct hs_layout_fields *out)
{
    hs_layout_effective_hot(s->has_rec ? &s->rec : NULL, &s->deflt, out);
}

/* One decision round; the record goes through its codec as a new leader would read it. */
static void round_once(struct sim *s)
{
    struct view v;
    sim_view(s, &v);
    struct hs_layout_decision d;
    hs_layout_decision_init(&d);
    assert_int_equal(hs_layout_decide(&v.in, s->has_rec ? &s->rec : NULL, "user:", &s->deflt,
                                      &s->cfg, s->now_ms, &d),
                     HS_OK);
    if (d.write) {
        char *text = NULL;
        size_t len = 0;
        char why[200] = "";
        assert_int_equal(hs_layout_record_encode(&d.next, &text, &len, why, sizeof why), HS_OK);
        if (s->has_rec)
            hs_layout_record_release(&s->rec);
        assert_int_equal(hs_layout_record_decode(text, len, &s->rec, why, sizeof why), HS_OK);
        s->has_rec = true;
        free(text);
    }
    s->changes += d.changed;
    s->verdict = d.verdict;
    assert_true(d.changed == (d.verdict == HS_LAYOUT_V_CHANGED));
    if (getenv("HS_TEST_VERBOSE"))
        print_message("round %llu: %s\n", (unsigned long long)s->total, d.reason);
    hs_layout_decision_release(&d);
    s->now_ms += ROUND_MS;
}

/* Runs writes in rounds; returns the writes until the published set first equals target
 * (-1 if never within max_writes). */
static long run_until(struct sim *s, const struct hs_layout_fields *target, long max_writes)
{
    for (long w = 0; w < max_writes; w += ROUND) {
        for (int i = 0; i < ROUND; i++)
            one_write(s);
        round_once(s);
        struct hs_layout_fields pub = {0};
        published(s, &pub);
        bool eq = hs_layout_fields_equal(&pub, target);
        hs_layout_fields_release(&pub);
        if (eq)
            return w + ROUND;
    }
    return -1;
}

static void run(struct sim *s, long writes)
{
    for (long w = 0; w < writes; w += ROUND) {
        for (int i = 0; i < ROUND; i++)
            one_write(s);
        round_once(s);
    }
}

static const struct fdef user_fields[] = {
    {"view_count", 8, 0.95},  {"like_count", 8, 0.50}, {"last_login", 24, 0.30},
    {"status", 12, 0.05},     {"profile", 2048, 0.02}, {"history", 16384, 0.01},
    {"avatar", 65536, 0.002},
};
#define N_USER (sizeof user_fields / sizeof user_fields[0])

static void wilson_interval_brackets_the_rate(void **state)
{
    (void)state;
    double lo, hi;
    hs_layout_wilson(93, 100, 1.96, &lo, &hi);
    assert_true(lo < 0.93 && hi > 0.93 && lo > 0.85 && hi < 0.97);
    hs_layout_wilson(0, 1000, 2.576, &lo, &hi);
    assert_true(lo < 1e-12 && hi > 0 && hi < 0.01);
    hs_layout_wilson(0, 0, 2.576, &lo, &hi);
    assert_true(lo == 0 && hi == 1);
}

/* Convergence bound, from the start: min_writes of evidence (1000) plus confirm_rounds (2)
 * winning rounds, i.e. at most 2000 writes at 500 writes per round, when the change only
 * promotes fields (no migration to earn back). Asserted with margin: 3000. */
static void converges_to_offline_best_from_the_default(void **state)
{
    (void)state;
    struct sim s;
    sim_init(&s, user_fields, N_USER);
    struct hs_layout_fields best = {0};
    offline_best(&s, &best);
    char *csv = hs_layout_fields_csv(&best);
    assert_string_equal(csv, "last_login,like_count,status,view_count");
    free(csv);
    long w = run_until(&s, &best, 3000);
    assert_true(w > 0 && w <= 3000);
    assert_int_equal(s.changes, 1);
    assert_int_equal(s.rec.epoch, 1);
    assert_true(strstr(s.rec.reason, "replaces") != NULL);
    /* after the shift a cold field becomes hot (profile: 2 % -> 60 %): a promotion, so the same
     * bound holds (the window's old evidence fades by halving: allow one halving period) */
    s.f[4].p = 0.60;
    offline_best(&s, &best);
    assert_true(hs_layout_fields_contains(&best, "profile"));
    w = run_until(&s, &best, 3000 + HALVE_EVERY);
    assert_true(w > 0);
    assert_int_equal(s.rec.epoch, 2);
    hs_layout_fields_release(&best);
    sim_release(&s);
}

/* A demotion waits until the savings since the candidate first won pay for re-encoding every
 * object's cold part once: objects x (1.5 (D - h) + 6 beta) / saving per write writes. Here
 * 200 x ~150 KB / ~6 KB per write = ~5000 writes, plus a halving period for the evidence. */
static void demotion_waits_for_its_migration_cost(void **state)
{
    (void)state;
    struct sim s;
    sim_init(&s, user_fields, N_USER);
    s.f[4].p = 0.60;
    struct hs_layout_fields best = {0};
    offline_best(&s, &best);
    assert_true(run_until(&s, &best, 4000) > 0);
    s.f[4].p = 0.0; /* profile goes quiet */
    offline_best(&s, &best);
    assert_false(hs_layout_fields_contains(&best, "profile"));
    long w = run_until(&s, &best, 30000);
    assert_true(w > 0);
    assert_true(w >= 2000); /* not at once: the migration had to be earned */
    assert_int_equal(s.rec.pending_n, 0);
    hs_layout_fields_release(&best);
    sim_release(&s);
}

/* A long steady run with sampling noise never changes the layout after converging. */
static void steady_noisy_run_never_flaps(void **state)
{
    (void)state;
    struct sim s;
    sim_init(&s, user_fields, N_USER);
    /* a borderline field: being hot is worth about the threshold */
    s.f[3].p = 0.05;
    run(&s, 5000);
    int after = s.changes;
    int64_t epoch = s.rec.epoch;
    run(&s, 200000);
    assert_int_equal(s.changes, after);
    assert_true(s.verdict == HS_LAYOUT_V_BEST || s.verdict == HS_LAYOUT_V_SMALL_GAIN);
    assert_int_equal(s.rec.epoch, epoch);
    sim_release(&s);
}

/* Flipping every 3000 writes between two workloads: the adaptive total stays within 2x the best
 * static hot set's total. */
static void flipping_workload_within_twice_best_static(void **state)
{
    (void)state;
    static const struct fdef flip_fields[] = {
        {"view_count", 8, 0.9}, {"a", 1024, 0.5}, {"b", 1024, 0.01}, {"big", 32768, 0.005}};
    struct sim s;
    sim_init(&s, flip_fields, 4);
    s.cfg.min_interval_ms = 60000;
    double adaptive = 0;
    double statics[16] = {0};
    for (int phase = 0; phase < 40; phase++) {
        s.f[1].p = phase % 2 ? 0.01 : 0.5;
        s.f[2].p = phase % 2 ? 0.5 : 0.01;
        for (int r = 0; r < 3000 / ROUND; r++) {
            struct hs_layout_fields pub = {0};
            published(&s, &pub);
            adaptive += ROUND * true_cost(&s, &pub);
            hs_layout_fields_release(&pub);
            for (unsigned m = 0; m < 16; m++) {
                const char *names[4];
                size_t k = 0;
                for (size_t i = 0; i < 4; i++)
                    if (m & (1u << i))
                        names[k++] = flip_fields[i].name;
                struct hs_layout_fields f = {0};
                assert_int_equal(hs_layout_fields_set(&f, names, k), HS_OK);
                statics[m] += ROUND * true_cost(&s, &f);
                hs_layout_fields_release(&f);
            }
            for (int i = 0; i < ROUND; i++)
                one_write(&s);
            round_once(&s);
        }
    }
    double best_static = INFINITY;
    for (unsigned m = 0; m < 16; m++)
        best_static = fmin(best_static, statics[m]);
    print_message("flip: adaptive %.0f, best static %.0f (%.2fx), %d changes\n", adaptive,
                  best_static, adaptive / best_static, s.changes);
    assert_true(adaptive <= 2 * best_static);
    sim_release(&s);
}

static void pins_are_respected(void **state)
{
    (void)state;
    struct sim s;
    sim_init(&s, user_fields, N_USER);
    hs_layout_record_init(&s.rec);
    s.rec.collection = strdup("user:");
    assert_int_equal(hs_layout_fields_parse_csv(&s.rec.pin_hot, "profile,nosuchfield"), HS_OK);
    assert_int_equal(hs_layout_fields_parse_csv(&s.rec.pin_cold, "status"), HS_OK);
    hs_layout_fields_copy(&s.pin_hot, &s.rec.pin_hot);
    hs_layout_fields_copy(&s.pin_cold, &s.rec.pin_cold);
    s.has_rec = true;
    run(&s, 5000);
    assert_int_equal(s.rec.epoch, 1);
    /* the cheapest set given the pins, and the offline best under the same pins */
    struct hs_layout_fields best = {0}, want_f = {0};
    offline_best(&s, &best);
    hs_layout_fields_combine(&best, &s.pin_hot, NULL, &want_f); /* + nosuchfield */
    char *want = hs_layout_fields_csv(&want_f), *got = hs_layout_fields_csv(&s.rec.hot);
    assert_string_equal(got, want);
    assert_string_equal(got, "last_login,like_count,nosuchfield,profile,view_count");
    free(want);
    free(got);
    hs_layout_fields_release(&want_f);
    hs_layout_fields_release(&best);
    assert_true(hs_layout_fields_contains(&s.rec.hot, "profile"));
    assert_true(hs_layout_fields_contains(&s.rec.hot, "nosuchfield"));
    assert_false(hs_layout_fields_contains(&s.rec.hot, "status"));
    assert_true(hs_layout_fields_contains(&s.rec.hot, "last_login"));
    sim_release(&s);
}

static void static_mode_never_changes(void **state)
{
    (void)state;
    struct sim s;
    sim_init(&s, user_fields, N_USER);
    hs_layout_record_init(&s.rec);
    s.rec.collection = strdup("user:");
    s.rec.mode = HS_LAYOUT_STATIC;
    s.rec.epoch = 3;
    assert_int_equal(hs_layout_fields_parse_csv(&s.rec.hot, "history"), HS_OK);
    s.has_rec = true;
    run(&s, 20000);
    assert_int_equal(s.changes, 0);
    assert_int_equal(s.verdict, HS_LAYOUT_V_STATIC);
    assert_string_equal(hs_layout_verdict_name(s.verdict), "static");
    assert_int_equal(s.rec.epoch, 3);
    char *csv = hs_layout_fields_csv(&s.rec.hot);
    assert_string_equal(csv, "history");
    free(csv);
    sim_release(&s);
}

static void size_and_name_caps_hold(void **state)
{
    (void)state;
    static const struct fdef f[] = {{"big_hot", 4096, 0.3}, {"a", 8, 0.6}, {"b", 8, 0.5},
                                    {"c", 8, 0.45},         {"d", 8, 0.2}, {"e", 8, 0.1}};
    struct sim s;
    sim_init(&s, f, 6);
    s.cfg.hot_max_bytes = 1000;
    s.cfg.hot_max_fields = 3;
    run(&s, 6000);
    assert_true(s.rec.epoch >= 1);
    assert_false(hs_layout_fields_contains(&s.rec.hot, "big_hot"));
    assert_true(s.rec.hot.n <= 3);
    /* the three most often changed small fields */
    char *csv = hs_layout_fields_csv(&s.rec.hot);
    assert_string_equal(csv, "a,b,c");
    free(csv);
    sim_release(&s);
}

static void too_little_evidence_keeps_the_default(void **state)
{
    (void)state;
    struct sim s;
    sim_init(&s, user_fields, N_USER);
    run(&s, 500);
    assert_int_equal(s.changes, 0);
    assert_int_equal(s.verdict, HS_LAYOUT_V_EVIDENCE);
    assert_false(s.has_rec);
    sim_release(&s);
}

static void report_explains_each_field(void **state)
{
    (void)state;
    struct sim s;
    sim_init(&s, user_fields, N_USER);
    run(&s, 4000);
    struct view v;
    sim_view(&s, &v);
    struct hs_layout_field_report r[MAXF];
    size_t n = hs_layout_report(&v.in, &s.cfg, &s.rec.hot, r, MAXF);
    assert_int_equal(n, N_USER);
    assert_string_equal(r[0].name, "view_count");
    assert_true(r[0].hot);
    assert_true(r[0].change_lo < r[0].change_rate && r[0].change_rate < r[0].change_hi);
    assert_true(fabs(r[0].change_rate - 0.95) < 0.03);
    assert_true(r[0].write_saving > 0);
    assert_true(r[6].storage_cost > 90000); /* avatar: 1.5 x 64 KiB */
    assert_false(r[6].hot);
    assert_true(r[6].write_saving < 0);
    assert_true(r[1].n_partners > 0);
    sim_release(&s);
}

/* The sketch's limits (64 fields, 32 change sets and 32 read sets of up to 16 names): one search
 * is still cheap (the time is printed, not asserted: the box may be loaded). */
static void a_full_sketch_is_searched_quickly(void **state)
{
    (void)state;
    enum { NF = 64, NS = 32, SET = 12 };
    static char names[NF][16];
    struct hs_layout_field_in f[NF];
    struct hs_layout_set_in cs[NS], rs[NS];
    const char *cs_names[NS][SET], *rs_names[NS][SET];
    uint64_t r = 7;
    for (int i = 0; i < NF; i++) {
        snprintf(names[i], sizeof names[i], "field%02d", i);
        f[i] = (struct hs_layout_field_in){names[i], 10000, 100.0 * (i % 17 + 1),
                                           10000.0 * (8 << (i % 9))};
    }
    for (int k = 0; k < NS; k++) {
        for (int j = 0; j < SET; j++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            cs_names[k][j] = names[(r >> 33) % NF];
            rs_names[k][j] = names[(r >> 40) % NF];
        }
        cs[k] = (struct hs_layout_set_in){cs_names[k], 1 + k % SET, false, 300.0 - k};
        rs[k] = (struct hs_layout_set_in){rs_names[k], 1 + k % 4, false, 50.0};
    }
    struct hs_layout_input in = {.writes = 10000,
                                 .puts = 10000,
                                 .known = 10000,
                                 .proj_reads = 1600,
                                 .fields = f,
                                 .n_fields = NF,
                                 .csets = cs,
                                 .n_csets = NS,
                                 .rsets = rs,
                                 .n_rsets = NS,
                                 .writes_total = 10000};
    struct hs_layout_config cfg;
    hs_layout_config_defaults(&cfg);
    struct hs_layout_fields best = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 10; i++)
        hs_layout_search(&in, &cfg, NULL, NULL, NULL, &best);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message(
        "full sketch: %.2f ms per search, %zu fields hot\n",
        ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) / 10,
        best.n);
    assert_true(best.n <= cfg.hot_max_fields);
    /* a local optimum under the full evaluation too: no single legal flip is cheaper (the
     * search evaluates flips incrementally) */
    struct hs_layout_cost c0, c1;
    hs_layout_evaluate(&in, &cfg, &best, 0, &c0);
    for (int i = 0; i < NF; i++) {
        struct hs_layout_fields one = {0}, flipped = {0};
        const char *nm = names[i];
        assert_int_equal(hs_layout_fields_set(&one, &nm, 1), HS_OK);
        if (hs_layout_fields_contains(&best, nm))
            hs_layout_fields_combine(&best, NULL, &one, &flipped);
        else
            hs_layout_fields_combine(&best, &one, NULL, &flipped);
        hs_layout_evaluate(&in, &cfg, &flipped, 0, &c1);
        if (c1.hot_bytes <= cfg.hot_max_bytes && flipped.n <= cfg.hot_max_fields)
            assert_true(c1.total >= c0.total * (1 - 1e-9));
        hs_layout_fields_release(&one);
        hs_layout_fields_release(&flipped);
    }
    hs_layout_fields_release(&best);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wilson_interval_brackets_the_rate),
        cmocka_unit_test(converges_to_offline_best_from_the_default),
        cmocka_unit_test(demotion_waits_for_its_migration_cost),
        cmocka_unit_test(steady_noisy_run_never_flaps),
        cmocka_unit_test(flipping_workload_within_twice_best_static),
        cmocka_unit_test(pins_are_respected),
        cmocka_unit_test(static_mode_never_changes),
        cmocka_unit_test(size_and_name_caps_hold),
        cmocka_unit_test(too_little_evidence_keeps_the_default),
        cmocka_unit_test(report_explains_each_field),
        cmocka_unit_test(a_full_sketch_is_searched_quickly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
