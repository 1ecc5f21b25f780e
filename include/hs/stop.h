/* stop.h - the one stop/cancel flag type of every thread loop (daemons, etcd calls, sleeps):
 * set by one thread, polled by others. Sequentially consistent atomics, so a flag set before
 * another store is seen before it (the healer sets stop before cancel and relies on it). A
 * zeroed struct is a clear flag (calloc and = {0} are fine). No waiting here: pollers that
 * sleep use hs_clock_sleep_ms, which wakes to check the flag. */
#ifndef HS_STOP_H
#define HS_STOP_H

#include <stdatomic.h>
#include <stdbool.h>

struct hs_stop {
    atomic_int v; /* 0 = go on, 1 = stop */
};

static inline void hs_stop_set(struct hs_stop *s)
{
    atomic_store(&s->v, 1);
}

/* For flags that are re-armed (the healer's per-term cancel). */
static inline void hs_stop_clear(struct hs_stop *s)
{
    atomic_store(&s->v, 0);
}

/* False for NULL (a flag that never stops). */
static inline bool hs_stop_is_set(const struct hs_stop *s)
{
    return s && atomic_load(&s->v) != 0;
}

#endif
