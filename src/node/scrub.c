/* scrub.c - the node's background scrub: a thread that walks every blob in id order and checks
 * its CRC32C (hs_blob_open_verified), paced to a byte rate, one full cycle per interval. It does
 * not repair anything: the blob store quarantines a corrupt blob on the failed verify, the blob
 * then no longer appears in the listing, and the healer's audit rewrites it from other copies. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "node/node_int.h"
#include "hs/banned.h"

/* A node with no state file waits SCRUB_START_DELAY_MS before its first cycle. */
#define SCRUB_PAGE           256  /* ids per listing page: memory stays O(page) */
#define SCRUB_MIN_COST       4096 /* bytes charged per blob, so tiny blobs are paced too */
#define SCRUB_STATE_FILE     "scrub-last"
#define SCRUB_STATE_MAX      32   /* bytes of the state file read */
#define SCRUB_START_DELAY_MS 1000 /* ms */

struct hs_node_scrub {
    struct hs_node *node;
    char *state_path; /* <data_dir>/scrub-last */
    int64_t interval_ms;
    int64_t rate_bytes_s;
    pthread_t thread;
    pthread_mutex_t mu; /* guards stop; cv signals it */
    pthread_cond_t cv;
    bool stop;
};

static void add(atomic_int_fast64_t *c, int64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void set(atomic_int_fast64_t *c, int64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

/* Sleeps ms unless stopped; true when the scrub must stop. A condition variable on the
 * monotonic clock, so a stop is seen at once and wall clock jumps do not matter. */
static bool scrub_wait(struct hs_node_scrub *s, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    if (ms > 0) {
        until.tv_sec += ms / 1000;
        until.tv_nsec += (ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&s->mu);
    while (!s->stop && ms > 0) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT)
            break;
    }
    bool stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* Wall clock ms at which the last cycle ended, from the state file; 0 when unknown. */
static int64_t state_load(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[SCRUB_STATE_MAX + 1];
    ssize_t n = read(fd, buf, SCRUB_STATE_MAX);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end = NULL;
    long long v = strtoll(buf, &end, 10);
    return end != buf && v > 0 ? (int64_t)v : 0;
}

/* Best effort: losing it only means one extra cycle after a restart, so no fsync. */
static void state_save(const char *path, int64_t end_ms)
{
    char *tmp = hs_xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && dprintf(fd, "%" PRId64 "\n", end_ms) > 0;
    if (fd >= 0)
        close(fd);
    if (!ok || rename(tmp, path) != 0) {
        char eb[128];
        HS_LOG_WARN("scrub_state_write_failed", "path='%s' errno=%d err='%s'", path, errno,
                    hs_errno_text(errno, eb, sizeof eb));
        unlink(tmp);
    }
    free(tmp);
}

struct page {
    char *ids[SCRUB_PAGE];
    size_t n;
};

static void page_add(void *ctx, const char *id, int64_t len, uint32_t crc)
{
    (void)len, (void)crc;
    struct page *p = ctx;
    if (p->n < SCRUB_PAGE)
        p->ids[p->n++] = hs_xstrdup(id);
}

/* Verifies one blob; returns the bytes to charge to the rate budget. */
static int64_t verify_one(struct hs_node_scrub *s, const char *id)
{
    struct hs_node *n = s->node;
    int fd = -1;
    int64_t len = 0;
    enum hs_err err = hs_blob_open_verified(n->store, id, &fd, NULL, &len, NULL);
    if (err == HS_OK) {
        close(fd);
        add(&n->scrub.verified_blobs, 1);
        add(&n->scrub.verified_bytes, len);
        add(&n->scrub.cycle_blobs, 1);
    } else if (err == HS_ECORRUPT) {
        add(&n->scrub.quarantined, 1);
        HS_LOG_WARN("scrub_corrupt_blob", "node=%s blob=%s action=quarantined", n->node_id, id);
    } else if (err != HS_ENOENT) { /* ENOENT: deleted since the listing */
        HS_LOG_WARN("scrub_verify_failed", "node=%s blob=%s err=%s", n->node_id, id,
                    hs_err_name(err));
    }
    return HS_MAX(len, (int64_t)SCRUB_MIN_COST);
}

/* One full pass over the store. Pacing: after each blob, sleep until the bytes charged so far
 * would have taken that long at rate_bytes_s. true when the scrub must stop. */
static bool scrub_cycle(struct hs_node_scrub *s)
{
    struct hs_node *n = s->node;
    int64_t start_ms = hs_clock_mono_ms();
    int64_t charged = 0;
    char *after = NULL;
    bool stopped = false;
    set(&n->scrub.cycle_blobs, 0);
    HS_LOG_DEBUG("scrub_cycle_started", "node=%s rate_bytes_s=%" PRId64, n->node_id,
                 s->rate_bytes_s);
    for (;;) {
        struct page p = {.n = 0};
        char *next = NULL;
        enum hs_err err = hs_blob_list(n->store, after, SCRUB_PAGE, page_add, &p, &next);
        for (size_t i = 0; i < p.n; i++) {
            if (!stopped) {
                charged += verify_one(s, p.ids[i]);
                int64_t due_ms = (int64_t)((double)charged * 1000.0 / (double)s->rate_bytes_s);
                stopped = scrub_wait(s, due_ms - (hs_clock_mono_ms() - start_ms));
            }
            free(p.ids[i]);
        }
        free(after);
        after = next;
        if (err != HS_OK) {
            /* not a completed cycle: the next one starts at the next interval */
            HS_LOG_WARN("scrub_list_failed", "node=%s err=%s", n->node_id, hs_err_name(err));
            free(after);
            return false;
        }
        if (stopped || !after)
            break;
    }
    free(after);
    if (stopped)
        return true;
    int64_t end_wall = hs_clock_wall_ms();
    set(&n->scrub.last_cycle_ms, hs_clock_mono_ms() - start_ms);
    set(&n->scrub.last_cycle_end_ms, end_wall);
    add(&n->scrub.cycles_completed, 1);
    state_save(s->state_path, end_wall);
    HS_LOG_INFO("scrub_cycle_done", "node=%s blobs=%" PRId64 " ms=%" PRId64, n->node_id,
                (int64_t)atomic_load(&n->scrub.cycle_blobs), hs_clock_mono_ms() - start_ms);
    return false;
}

static void *scrub_main(void *arg)
{
    struct hs_node_scrub *s = arg;
    int64_t last_end = state_load(s->state_path);
    /* The first cycle is due one interval after the last recorded one (at once if that is
     * past); a store that was never scrubbed waits only a moment, to let startup finish. */
    int64_t first_wait = last_end > 0 ? last_end + s->interval_ms - hs_clock_wall_ms()
                                      : HS_MIN(s->interval_ms, (int64_t)SCRUB_START_DELAY_MS);
    if (scrub_wait(s, first_wait))
        return NULL;
    for (;;) {
        int64_t started = hs_clock_mono_ms();
        if (scrub_cycle(s))
            return NULL;
        if (scrub_wait(s, started + s->interval_ms - hs_clock_mono_ms()))
            return NULL;
    }
}

enum hs_err hs_node_scrub_start(const struct hs_node_scrub_opts *opts, struct hs_node_scrub **out)
{
    if (!opts->node || !opts->data_dir || opts->interval_ms <= 0 || opts->rate_bytes_s <= 0)
        return HS_EINVAL;
    struct hs_node_scrub *s = hs_xcalloc(1, sizeof *s);
    s->node = opts->node;
    s->state_path = hs_xasprintf("%s/%s", opts->data_dir, SCRUB_STATE_FILE);
    s->interval_ms = opts->interval_ms;
    s->rate_bytes_s = opts->rate_bytes_s;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->mu, NULL);
    int rc = pthread_create(&s->thread, NULL, scrub_main, s);
    if (rc != 0) {
        char eb[128];
        HS_LOG_ERROR("scrub_start_failed", "errno=%d err='%s'", rc,
                     hs_errno_text(rc, eb, sizeof eb));
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s->state_path);
        free(s);
        return HS_EIO;
    }
    *out = s;
    return HS_OK;
}

void hs_node_scrub_stop(struct hs_node_scrub *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->state_path);
    free(s);
}
