/* dirsync.c - group commit of the directory fsyncs that make renamed blobs durable. A commit
 * that has renamed its blob into objects/<d1>/<d2> queues itself and waits; one waiter at a time
 * (the leader) takes the whole queue, fsyncs each distinct directory in it once and wakes the
 * batch. Every blob in a batch was renamed before its fsync started, so the fsync covers its
 * directory entry; concurrent PUTs, whose ids share the fan-out directory of the current
 * millisecond clock prefix, pay for one directory fsync instead of one each. Waiters that arrive
 * during a sync form the next batch. Nothing here knows which blobs are in a directory. */
#include "blob_int.h"

#include <string.h>

#include "hs/banned.h"

/* One waiting commit; lives on its thread's stack until done. */
struct hs_blob_dirsync_waiter {
    char rel[6];                         /* "d1/d2" */
    enum hs_err err;                     /* the fsync's outcome, once done */
    bool done;                           /* guarded by the store's dsync_mu */
    struct hs_blob_dirsync_waiter *next; /* queue link, guarded by dsync_mu */
};

void hs_blob_dirsync_init(struct hs_blob_store *s)
{
    pthread_mutex_init(&s->dsync_mu, NULL);
    pthread_cond_init(&s->dsync_cv, NULL);
    s->dsync_queue = NULL;
    s->dsync_running = false;
}

void hs_blob_dirsync_release(struct hs_blob_store *s)
{
    pthread_cond_destroy(&s->dsync_cv);
    pthread_mutex_destroy(&s->dsync_mu);
}

/* Leader: fsyncs each distinct directory of batch once and records the outcome in every
 * waiter. Runs without the lock; the batch is private to the leader until done is set. */
static void sync_batch(struct hs_blob_store *s, struct hs_blob_dirsync_waiter *batch)
{
    for (struct hs_blob_dirsync_waiter *w = batch; w; w = w->next) {
        bool seen = false;
        for (struct hs_blob_dirsync_waiter *p = batch; p != w; p = p->next) {
            if (strcmp(p->rel, w->rel) == 0) {
                w->err = p->err;
                seen = true;
                break;
            }
        }
        if (!seen)
            w->err = hs_blob_fsync_dir(s->objects_fd, w->rel);
    }
}

enum hs_err hs_blob_dirsync(struct hs_blob_store *s, const char *rel)
{
    struct hs_blob_dirsync_waiter me = {.err = HS_OK};
    memcpy(me.rel, rel, sizeof me.rel);
    pthread_mutex_lock(&s->dsync_mu);
    me.next = s->dsync_queue;
    s->dsync_queue = &me;
    while (!me.done) {
        if (s->dsync_running) {
            pthread_cond_wait(&s->dsync_cv, &s->dsync_mu);
            continue;
        }
        /* Lead: the queue (with us in it) becomes one batch. */
        struct hs_blob_dirsync_waiter *batch = s->dsync_queue;
        s->dsync_queue = NULL;
        s->dsync_running = true;
        pthread_mutex_unlock(&s->dsync_mu);
        sync_batch(s, batch);
        pthread_mutex_lock(&s->dsync_mu);
        for (struct hs_blob_dirsync_waiter *w = batch, *next; w; w = next) {
            next = w->next; /* w may return and go away as soon as done is seen */
            w->done = true;
        }
        s->dsync_running = false;
        pthread_cond_broadcast(&s->dsync_cv);
    }
    pthread_mutex_unlock(&s->dsync_mu);
    return me.err;
}
