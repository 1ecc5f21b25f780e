/* hasher_async.c - the S3 hasher (checksum.c) on a helper thread (s3_checksum.h): update copies
 * the bytes into a queue of chunks that the thread hashes in order, so a request thread can go
 * on receiving a body (and writing it to the nodes) while its MD5, SHA-256 and flexible
 * checksum are computed. The queue is bounded: update blocks while max_queued bytes wait. */
#include "s3_int.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define CHUNK_BYTES  (64 * 1024) /* queue granularity: small feeds share a chunk */
#define QUEUED_DEF   (1024 * 1024)
#define WAKE_BYTES   (128 * 1024)
#define THREAD_STACK (256 * 1024) /* the digests need little stack */

struct chunk {
    struct chunk *next;
    size_t len, cap;
    uint8_t data[];
};

struct hs_s3_hasher_async {
    struct hs_s3_hasher hasher; /* owned by the thread until it has been joined */
    pthread_t thread;
    bool running; /* thread started and not joined */
    bool final_done;
    pthread_mutex_t lock;      /* guards everything below */
    pthread_cond_t work;       /* a chunk was queued, or ending/stop set */
    pthread_cond_t room;       /* bytes were hashed */
    struct chunk *head, *tail; /* queued, not yet taken by the thread */
    struct chunk *spare;       /* hashed chunks kept for reuse (no malloc, no page faults) */
    size_t queued;             /* bytes queued or being hashed */
    size_t max_queued;
    size_t wake_bytes; /* the thread is woken once this much waits: few context switches */
    bool ending;       /* no more updates: drain the queue, then exit */
    bool stop;         /* exit without hashing what is left */
};

static void *hash_main(void *arg)
{
    struct hs_s3_hasher_async *h = arg;
    pthread_mutex_lock(&h->lock);
    for (;;) {
        while (!h->head && !h->ending && !h->stop)
            pthread_cond_wait(&h->work, &h->lock);
        if (h->stop || !h->head)
            break; /* stopped, or ending with nothing left */
        struct chunk *c = h->head;
        h->head = c->next;
        if (!h->head)
            h->tail = NULL;
        pthread_mutex_unlock(&h->lock);
        hs_s3_hasher_update(&h->hasher, c->data, c->len);
        pthread_mutex_lock(&h->lock);
        h->queued -= c->len;
        c->next = h->spare;
        h->spare = c; /* at most max_queued / CHUNK_BYTES + 1 of them */
        pthread_cond_signal(&h->room);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

enum hs_err hs_s3_hasher_async_new(const struct hs_s3_hasher_opts *o, size_t max_queued_bytes,
                                   struct hs_s3_hasher_async **out)
{
    struct hs_s3_hasher_async *h = hs_xcalloc(1, sizeof *h);
    enum hs_err err = hs_s3_hasher_init(&h->hasher, o);
    if (err != HS_OK) {
        hs_s3_hasher_release(&h->hasher);
        free(h);
        return err;
    }
    h->max_queued = max_queued_bytes ? max_queued_bytes : QUEUED_DEF;
    h->wake_bytes = HS_MIN(h->max_queued / 2, (size_t)WAKE_BYTES);
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->work, NULL);
    pthread_cond_init(&h->room, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    (void)pthread_attr_setstacksize(&attr, THREAD_STACK);
    int rc = pthread_create(&h->thread, &attr, hash_main, h);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        HS_LOG_WARN("s3_hasher_thread_failed", "errno=%d", rc);
        h->running = false;
        hs_s3_hasher_async_free(h);
        return HS_EUNAVAIL;
    }
    h->running = true;
    *out = h;
    return HS_OK;
}

/* A chunk with room for n more bytes at the tail of the queue (still queued, so the thread
 * does not read it yet). Called with the lock held. */
static struct chunk *tail_with_room(struct hs_s3_hasher_async *h, size_t n)
{
    if (h->tail && h->tail->cap - h->tail->len >= n)
        return h->tail;
    struct chunk *c = h->spare;
    if (c)
        h->spare = c->next;
    else {
        c = hs_xmalloc(sizeof *c + CHUNK_BYTES);
        c->cap = CHUNK_BYTES;
    }
    c->next = NULL;
    c->len = 0;
    if (h->tail)
        h->tail->next = c;
    else
        h->head = c;
    h->tail = c;
    return c;
}

void hs_s3_hasher_async_update(struct hs_s3_hasher_async *h, const void *data, size_t len)
{
    assert(h->running && !h->ending);
    const uint8_t *p = data;
    pthread_mutex_lock(&h->lock);
    while (len > 0) {
        size_t take = HS_MIN(len, (size_t)CHUNK_BYTES);
        while (h->queued > 0 && h->queued + take > h->max_queued) {
            pthread_cond_signal(&h->work);
            pthread_cond_wait(&h->room, &h->lock);
        }
        struct chunk *c = tail_with_room(h, take);
        memcpy(c->data + c->len, p, take);
        c->len += take;
        h->queued += take;
        p += take;
        len -= take;
    }
    if (h->queued >= h->wake_bytes)
        pthread_cond_signal(&h->work);
    pthread_mutex_unlock(&h->lock);
}

/* Tells the thread to drain (or drop) the queue and exit, and joins it. */
static void join(struct hs_s3_hasher_async *h, bool drop)
{
    if (!h->running)
        return;
    pthread_mutex_lock(&h->lock);
    h->ending = true;
    h->stop = drop;
    pthread_cond_signal(&h->work);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
    h->running = false;
}

void hs_s3_hasher_async_final(struct hs_s3_hasher_async *h, struct hs_s3_digests *out)
{
    assert(!h->final_done);
    join(h, false);
    hs_s3_hasher_final(&h->hasher, out);
    h->final_done = true;
}

void hs_s3_hasher_async_free(struct hs_s3_hasher_async *h)
{
    if (!h)
        return;
    join(h, true);
    for (struct chunk *c = h->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    for (struct chunk *c = h->spare, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    hs_s3_hasher_release(&h->hasher);
    pthread_cond_destroy(&h->room);
    pthread_cond_destroy(&h->work);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
