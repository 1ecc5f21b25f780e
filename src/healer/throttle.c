/* throttle.c - the limits on repair work: a token bucket over bytes (repair_bytes_per_s) and a
 * small worker pool that repairs repair_concurrency objects at once. Both are deliberately
 * simple: repair traffic is bulk transfers of whole blobs, so a per-blob charge is precise
 * enough, and a pool that lives for one batch needs no queue, no shutdown protocol and no
 * state between passes. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "healer/repair_int.h"
#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

void hs_healer_throttle_init(struct hs_healer_throttle *t, int64_t rate_bytes_s)
{
    pthread_mutex_init(&t->mu, NULL);
    t->rate_bytes_s = rate_bytes_s > 0 ? rate_bytes_s : 0;
    t->tokens = (double)t->rate_bytes_s; /* start full: one second of burst */
    t->last_ns = hs_clock_mono_ns();
    t->slept_ms = NULL;
}

void hs_healer_throttle_release(struct hs_healer_throttle *t)
{
    if (t)
        pthread_mutex_destroy(&t->mu);
}

void hs_healer_throttle_take(struct hs_healer_throttle *t, int64_t bytes,
                             const struct hs_stop *stop)
{
    if (t->rate_bytes_s == 0 || bytes <= 0)
        return;
    double rate = (double)t->rate_bytes_s;
    pthread_mutex_lock(&t->mu);
    int64_t now = hs_clock_mono_ns();
    t->tokens += (double)(now - t->last_ns) * rate / 1e9;
    if (t->tokens > rate)
        t->tokens = rate; /* burst: at most one second's worth */
    t->last_ns = now;
    t->tokens -= (double)bytes;
    /* In debt: this taker waits until the debt (its own bytes plus those queued before it)
     * is paid back at the refill rate. */
    int64_t wait_ms = t->tokens < 0 ? (int64_t)(-t->tokens * 1000.0 / rate) : 0;
    pthread_mutex_unlock(&t->mu);
    if (wait_ms > 0) {
        hs_clock_sleep_ms(wait_ms, stop);
        if (t->slept_ms)
            atomic_fetch_add(t->slept_ms, (long long)wait_ms);
    }
}

struct pool {
    hs_healer_job_fn *fn;
    void *ctx;
    size_t n_jobs;
    atomic_size_t next; /* next job index to hand out */
};

static void *pool_worker(void *arg)
{
    struct pool *p = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n_jobs)
            return NULL;
        p->fn(p->ctx, i);
    }
}

void hs_healer_pool_run(uint32_t threads, size_t n_jobs, hs_healer_job_fn *fn, void *ctx)
{
    struct pool p = {.fn = fn, .ctx = ctx, .n_jobs = n_jobs};
    atomic_init(&p.next, 0);
    size_t n_threads = threads ? threads : 1;
    if (n_threads > n_jobs)
        n_threads = n_jobs;
    if (n_threads <= 1) {
        pool_worker(&p);
        return;
    }
    /* The calling thread works too: n_threads - 1 extra threads. */
    pthread_t *tids = hs_xcalloc(n_threads - 1, sizeof *tids);
    size_t started = 0;
    for (; started < n_threads - 1; started++) {
        if (pthread_create(&tids[started], NULL, pool_worker, &p) != 0) {
            HS_LOG_WARN("repair_worker_start_failed", "started=%zu wanted=%zu", started,
                        n_threads - 1);
            break; /* fewer workers: slower, still correct */
        }
    }
    pool_worker(&p);
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
}
