/* compact.c - the node's background compaction of the volume store: one thread that calls
 * hs_blob_compact every interval with the configured dead-space threshold and byte rate. The
 * work and its safety are the blob store's (src/blob/compact.c); this file only schedules it
 * and stops it at shutdown. POST /v1/compact (routes.c) runs one pass on demand. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "node/node_int.h"
#include "hs/banned.h"

struct hs_node_compact {
    struct hs_node *node;
    int64_t interval_ms;
    struct hs_blob_compact_opts opts;
    atomic_bool stop; /* also read by hs_blob_compact between needles */
    pthread_t thread;
    pthread_mutex_t mu; /* cv signals stop */
    pthread_cond_t cv;
};

/* Sleeps ms unless stopped; true when stopped. */
static bool compact_wait(struct hs_node_compact *c, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    while (!atomic_load(&c->stop))
        if (pthread_cond_timedwait(&c->cv, &c->mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&c->mu);
    return atomic_load(&c->stop);
}

static void *compact_main(void *arg)
{
    struct hs_node_compact *c = arg;
    while (!compact_wait(c, c->interval_ms)) {
        struct hs_blob_compact_result res;
        enum hs_err err = hs_blob_compact(c->node->store, &c->opts, &res);
        if (err != HS_OK && err != HS_ETIMEDOUT)
            HS_LOG_WARN("compact_failed", "node=%s err=%s", c->node->node_id, hs_err_name(err));
        else if (res.volumes > 0)
            HS_LOG_INFO("compact_done", "node=%s volumes=%lld moved_bytes=%lld", c->node->node_id,
                        (long long)res.volumes, (long long)res.moved_bytes);
    }
    return NULL;
}

enum hs_err hs_node_compact_start(const struct hs_node_compact_opts *opts,
                                  struct hs_node_compact **out)
{
    if (!opts->node || opts->interval_ms <= 0 || opts->min_dead_percent < 0 ||
        opts->min_dead_percent > 100 || opts->rate_bytes_s < 0)
        return HS_EINVAL;
    struct hs_node_compact *c = hs_xcalloc(1, sizeof *c);
    c->node = opts->node;
    c->interval_ms = opts->interval_ms;
    atomic_init(&c->stop, false);
    c->opts = (struct hs_blob_compact_opts){.min_dead_percent = opts->min_dead_percent,
                                            .rate_bytes_s = opts->rate_bytes_s,
                                            .stop = &c->stop};
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->mu, NULL);
    int rc = pthread_create(&c->thread, NULL, compact_main, c);
    if (rc != 0) {
        char eb[128];
        HS_LOG_ERROR("compact_start_failed", "errno=%d err='%s'", rc,
                     hs_errno_text(rc, eb, sizeof eb));
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return HS_EIO;
    }
    *out = c;
    return HS_OK;
}

void hs_node_compact_stop(struct hs_node_compact *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    atomic_store(&c->stop, true);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
