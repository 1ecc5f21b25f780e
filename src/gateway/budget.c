/* budget.c - the gateway's admission counters (budget.h): compare-and-swap loops on two atomic
 * counters, so a reservation either fits entirely or changes nothing. No locks, no I/O; what a
 * refusal means for a client (503 + Retry-After) is the front ends' business. */
#include "gateway/budget.h"

#include <assert.h>
#include <stddef.h>

#include "hs/banned.h"

void hs_gw_budget_init(struct hs_gw_budget *b, int64_t body_limit_bytes, int64_t writes_limit)
{
    assert(body_limit_bytes > 0 && writes_limit > 0);
    b->body_limit_bytes = body_limit_bytes;
    b->writes_limit = writes_limit;
    atomic_init(&b->body_reserved, 0);
    atomic_init(&b->body_refusals, 0);
    atomic_init(&b->writes_open, 0);
    atomic_init(&b->writes_refusals, 0);
    atomic_init(&b->body_peak_reserved, 0);
}

static int64_t round_up(int64_t n)
{
    if (n > INT64_MAX - HS_GW_BUDGET_GRAIN)
        return INT64_MAX / HS_GW_BUDGET_GRAIN * HS_GW_BUDGET_GRAIN;
    return (n + HS_GW_BUDGET_GRAIN - 1) / HS_GW_BUDGET_GRAIN * HS_GW_BUDGET_GRAIN;
}

static void note_peak(struct hs_gw_budget *b, int64_t now)
{
    int_fast64_t peak = atomic_load_explicit(&b->body_peak_reserved, memory_order_relaxed);
    while (now > peak &&
           !atomic_compare_exchange_weak_explicit(&b->body_peak_reserved, &peak, now,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* Adds delta (> 0) to body_reserved unless that passes the limit. The limit is checked against
 * the value the swap replaces, so concurrent reservations can never overshoot it together. */
static bool try_add(struct hs_gw_budget *b, int64_t delta)
{
    int_fast64_t cur = atomic_load_explicit(&b->body_reserved, memory_order_relaxed);
    do {
        if (delta > b->body_limit_bytes - cur)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&b->body_reserved, &cur, cur + delta,
                                                    memory_order_relaxed, memory_order_relaxed));
    note_peak(b, cur + delta);
    return true;
}

enum hs_err hs_gw_budget_grow(struct hs_gw_budget *b, struct hs_gw_budget_hold *h, int64_t need,
                              int64_t cap)
{
    if (need <= h->bytes)
        return HS_OK;
    int64_t minimum = round_up(need);
    if (minimum > b->body_limit_bytes) {
        atomic_fetch_add_explicit(&b->body_refusals, 1, memory_order_relaxed);
        return HS_ETOOBIG;
    }
    int64_t target = h->bytes > INT64_MAX / 2 ? minimum : 2 * h->bytes;
    if (cap > 0 && target > round_up(cap))
        target = round_up(cap);
    if (target < minimum)
        target = minimum;
    if (target > minimum && try_add(b, target - h->bytes)) {
        h->bytes = target;
        return HS_OK;
    }
    if (try_add(b, minimum - h->bytes)) {
        h->bytes = minimum;
        return HS_OK;
    }
    atomic_fetch_add_explicit(&b->body_refusals, 1, memory_order_relaxed);
    return HS_EBUSY;
}

int64_t hs_gw_budget_release(struct hs_gw_budget *b, struct hs_gw_budget_hold *h)
{
    if (!h || h->bytes == 0)
        return 0;
    int64_t n = h->bytes;
    atomic_fetch_sub_explicit(&b->body_reserved, n, memory_order_relaxed);
    h->bytes = 0;
    return n;
}

enum hs_err hs_gw_budget_admit(struct hs_gw_budget *b, int64_t len)
{
    if (len <= 0)
        return HS_OK;
    enum hs_err err = HS_OK;
    if (round_up(len) > b->body_limit_bytes)
        err = HS_ETOOBIG;
    else if (round_up(len) >
             b->body_limit_bytes - atomic_load_explicit(&b->body_reserved, memory_order_relaxed))
        err = HS_EBUSY;
    if (err != HS_OK)
        atomic_fetch_add_explicit(&b->body_refusals, 1, memory_order_relaxed);
    return err;
}

bool hs_gw_budget_write_take(struct hs_gw_budget *b)
{
    int_fast64_t cur = atomic_load_explicit(&b->writes_open, memory_order_relaxed);
    do {
        if (cur >= b->writes_limit) {
            atomic_fetch_add_explicit(&b->writes_refusals, 1, memory_order_relaxed);
            return false;
        }
    } while (!atomic_compare_exchange_weak_explicit(&b->writes_open, &cur, cur + 1,
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

void hs_gw_budget_write_put(struct hs_gw_budget *b)
{
    int_fast64_t before = atomic_fetch_sub_explicit(&b->writes_open, 1, memory_order_relaxed);
    assert(before > 0);
    (void)before;
}

void hs_gw_budget_stats(const struct hs_gw_budget *b, struct hs_gw_budget_stats *out)
{
    struct hs_gw_budget *m = (struct hs_gw_budget *)b; /* C11 atomic loads take non-const */
    out->body_limit_bytes = b->body_limit_bytes;
    out->body_reserved_bytes = atomic_load_explicit(&m->body_reserved, memory_order_relaxed);
    out->body_peak_reserved_bytes =
        atomic_load_explicit(&m->body_peak_reserved, memory_order_relaxed);
    out->body_refusals = atomic_load_explicit(&m->body_refusals, memory_order_relaxed);
    out->writes_limit = b->writes_limit;
    out->writes_open = atomic_load_explicit(&m->writes_open, memory_order_relaxed);
    out->writes_refusals = atomic_load_explicit(&m->writes_refusals, memory_order_relaxed);
}
