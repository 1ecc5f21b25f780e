/* test_gw_budget.c - the gateway's admission counters (src/gateway/budget.c) on their own:
 * geometric growth of a hold and its fall-back to the exact need, refusals (busy vs never fits),
 * early admission, release, open-write slots, and concurrent holders never passing the limit.
 * Built from src/gateway/budget.c directly (the gateway has no library of its own). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include <cmocka.h>

#include "gateway/budget.h"

#define KiB ((int64_t)1024)
#define MiB ((int64_t)1024 * 1024)

static struct hs_gw_budget_stats stats_of(const struct hs_gw_budget *b)
{
    struct hs_gw_budget_stats s;
    hs_gw_budget_stats(b, &s);
    return s;
}

static void first_reservation_is_the_need_rounded_to_the_grain(void **state)
{
    (void)state;
    struct hs_gw_budget b;
    hs_gw_budget_init(&b, 8 * MiB, 4);
    struct hs_gw_budget_hold h = {0};
    assert_int_equal(hs_gw_budget_grow(&b, &h, 100, 4 * MiB), HS_OK);
    assert_int_equal(h.bytes, HS_GW_BUDGET_GRAIN);
    assert_int_equal(stats_of(&b).body_reserved_bytes, HS_GW_BUDGET_GRAIN);
    /* still covered: nothing changes */
    assert_int_equal(hs_gw_budget_grow(&b, &h, HS_GW_BUDGET_GRAIN, 4 * MiB), HS_OK);
    assert_int_equal(h.bytes, HS_GW_BUDGET_GRAIN);
    assert_int_equal(hs_gw_budget_release(&b, &h), HS_GW_BUDGET_GRAIN);
    assert_int_equal(h.bytes, 0);
    assert_int_equal(stats_of(&b).body_reserved_bytes, 0);
}

static void growth_doubles_up_to_the_cap(void **state)
{
    (void)state;
    struct hs_gw_budget b;
    hs_gw_budget_init(&b, 64 * MiB, 4);
    struct hs_gw_budget_hold h = {0};
    int64_t need = 0, updates = 0, last = 0;
    while (need < 3 * MiB) { /* a 3 MiB body arriving in 16 KiB chunks */
        need += 16 * KiB;
        assert_int_equal(hs_gw_budget_grow(&b, &h, need, 3 * MiB), HS_OK);
        assert_true(h.bytes >= need);
        if (h.bytes != last)
            updates++;
        last = h.bytes;
    }
    assert_int_equal(h.bytes, 3 * MiB); /* capped at the declared length, not 4 MiB */
    assert_true(updates <= 10);         /* O(log size), not one per chunk (192 chunks) */
    assert_int_equal(stats_of(&b).body_reserved_bytes, 3 * MiB);
    hs_gw_budget_release(&b, &h);
}

static void near_the_limit_growth_falls_back_to_the_exact_need(void **state)
{
    (void)state;
    struct hs_gw_budget b;
    hs_gw_budget_init(&b, 8 * MiB, 4);
    struct hs_gw_budget_hold other = {0}, h = {0};
    assert_int_equal(hs_gw_budget_grow(&b, &other, 5 * MiB, 0), HS_OK);
    assert_int_equal(hs_gw_budget_grow(&b, &h, 1 * MiB, 0), HS_OK);
    /* doubling 1 -> 2 MiB fits beside 5 MiB (7 MiB in all); doubling again to 4 MiB would not */
    assert_int_equal(hs_gw_budget_grow(&b, &h, 2 * MiB, 0), HS_OK);
    assert_int_equal(h.bytes, 2 * MiB);
    assert_int_equal(hs_gw_budget_grow(&b, &h, 2 * MiB + 1, 0), HS_OK);
    assert_int_equal(h.bytes, 2 * MiB + HS_GW_BUDGET_GRAIN); /* 4 MiB would pass 8 MiB */
    assert_int_equal(stats_of(&b).body_reserved_bytes, 7 * MiB + HS_GW_BUDGET_GRAIN);
    assert_int_equal(stats_of(&b).body_refusals, 0);
    hs_gw_budget_release(&b, &h);
    hs_gw_budget_release(&b, &other);
}

static void a_hold_past_the_limit_is_refused_busy_and_left_unchanged(void **state)
{
    (void)state;
    struct hs_gw_budget b;
    hs_gw_budget_init(&b, 8 * MiB, 4);
    struct hs_gw_budget_hold a = {0}, h = {0};
    assert_int_equal(hs_gw_budget_grow(&b, &a, 6 * MiB, 0), HS_OK);
    assert_int_equal(hs_gw_budget_grow(&b, &h, 1 * MiB, 0), HS_OK);
    assert_int_equal(hs_gw_budget_grow(&b, &h, 3 * MiB, 0), HS_EBUSY);
    assert_int_equal(h.bytes, 1 * MiB);
    struct hs_gw_budget_stats s = stats_of(&b);
    assert_int_equal(s.body_reserved_bytes, 7 * MiB);
    assert_int_equal(s.body_refusals, 1);
    assert_int_equal(s.body_peak_reserved_bytes, 7 * MiB);
    /* once a is given back, the same growth fits */
    hs_gw_budget_release(&b, &a);
    assert_int_equal(hs_gw_budget_grow(&b, &h, 3 * MiB, 0), HS_OK);
    hs_gw_budget_release(&b, &h);
    assert_int_equal(stats_of(&b).body_reserved_bytes, 0);
}

static void a_need_over_the_whole_limit_is_too_big(void **state)
{
    (void)state;
    struct hs_gw_budget b;
    hs_gw_budget_init(&b, 8 * MiB, 4);
    struct hs_gw_budget_hold h = {0};
    assert_int_equal(hs_gw_budget_grow(&b, &h, 8 * MiB + 1, 0), HS_ETOOBIG);
    assert_int_equal(h.bytes, 0);
    assert_int_equal(hs_gw_budget_grow(&b, &h, 8 * MiB, 0), HS_OK); /* exactly the limit fits */
    hs_gw_budget_release(&b, &h);
    assert_int_equal(hs_gw_budget_release(&b, &h), 0); /* twice is harmless */
    assert_int_equal(hs_gw_budget_release(&b, NULL), 0);
}

static void admission_checks_the_declared_length_without_reserving(void **state)
{
    (void)state;
    struct hs_gw_budget b;
    hs_gw_budget_init(&b, 8 * MiB, 4);
    struct hs_gw_budget_hold h = {0};
    assert_int_equal(hs_gw_budget_admit(&b, -1), HS_OK); /* unknown length: the body decides */
    assert_int_equal(hs_gw_budget_admit(&b, 4 * MiB), HS_OK);
    assert_int_equal(stats_of(&b).body_reserved_bytes, 0);
    assert_int_equal(hs_gw_budget_grow(&b, &h, 5 * MiB, 0), HS_OK);
    assert_int_equal(hs_gw_budget_admit(&b, 3 * MiB), HS_OK);
    assert_int_equal(hs_gw_budget_admit(&b, 3 * MiB + 1), HS_EBUSY);
    assert_int_equal(hs_gw_budget_admit(&b, 9 * MiB), HS_ETOOBIG);
    assert_int_equal(stats_of(&b).body_refusals, 2);
    hs_gw_budget_release(&b, &h);
}

static void write_slots_are_bounded_and_given_back(void **state)
{
    (void)state;
    struct hs_gw_budget b;
    hs_gw_budget_init(&b, 8 * MiB, 2);
    assert_true(hs_gw_budget_write_take(&b));
    assert_true(hs_gw_budget_write_take(&b));
    assert_false(hs_gw_budget_write_take(&b));
    struct hs_gw_budget_stats s = stats_of(&b);
    assert_int_equal(s.writes_open, 2);
    assert_int_equal(s.writes_limit, 2);
    assert_int_equal(s.writes_refusals, 1);
    hs_gw_budget_write_put(&b);
    assert_true(hs_gw_budget_write_take(&b));
    hs_gw_budget_write_put(&b);
    hs_gw_budget_write_put(&b);
    assert_int_equal(stats_of(&b).writes_open, 0);
}

#define THREADS 8
#define ROUNDS  20000

static void *hammer(void *p)
{
    struct hs_gw_budget *b = p;
    for (int i = 0; i < ROUNDS; i++) {
        struct hs_gw_budget_hold h = {0};
        for (int64_t need = 64 * KiB; need <= MiB; need *= 2)
            if (hs_gw_budget_grow(b, &h, need, MiB) != HS_OK)
                break;
        hs_gw_budget_release(b, &h);
        if (hs_gw_budget_write_take(b))
            hs_gw_budget_write_put(b);
    }
    return NULL;
}

static void concurrent_holders_never_pass_the_limits(void **state)
{
    (void)state;
    struct hs_gw_budget b;
    hs_gw_budget_init(&b, 3 * MiB, 3);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &b), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    struct hs_gw_budget_stats s = stats_of(&b);
    assert_int_equal(s.body_reserved_bytes, 0);
    assert_int_equal(s.writes_open, 0);
    assert_true(s.body_peak_reserved_bytes <= 3 * MiB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_reservation_is_the_need_rounded_to_the_grain),
        cmocka_unit_test(growth_doubles_up_to_the_cap),
        cmocka_unit_test(near_the_limit_growth_falls_back_to_the_exact_need),
        cmocka_unit_test(a_hold_past_the_limit_is_refused_busy_and_left_unchanged),
        cmocka_unit_test(a_need_over_the_whole_limit_is_too_big),
        cmocka_unit_test(admission_checks_the_declared_length_without_reserving),
        cmocka_unit_test(write_slots_are_bounded_and_given_back),
        cmocka_unit_test(concurrent_holders_never_pass_the_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
