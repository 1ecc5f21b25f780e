/* client_latency.c - per-node latency estimates of the blob client (hedged reads): a fixed
 * table of EWMAs keyed by a hash of the node's base URL, updated with relaxed atomics. Readers
 * and writers race benignly: a torn mean/deviation pair is still a plausible estimate. */
#include <stdatomic.h>
#include <stdint.h>

#include "hs/http_client.h"
#include "hs/banned.h"

#define LAT_SLOTS 64

struct lat_slot {
    _Atomic uint64_t key;    /* hash of the base URL, 0 = empty */
    _Atomic int64_t mean_us; /* EWMA of the time to first byte, gain 1/8 */
    _Atomic int64_t dev_us;  /* EWMA of |sample - mean|, gain 1/4 */
};

static struct lat_slot slots[LAT_SLOTS];
static struct lat_slot all_nodes; /* every sample, whatever the node */

static uint64_t url_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h | 1; /* never 0 */
}

static void slot_note(struct lat_slot *sl, uint64_t key, int64_t us)
{
    if (atomic_load_explicit(&sl->key, memory_order_relaxed) != key) {
        /* empty, or another node's: start over from this sample */
        atomic_store_explicit(&sl->mean_us, us, memory_order_relaxed);
        atomic_store_explicit(&sl->dev_us, us / 2, memory_order_relaxed);
        atomic_store_explicit(&sl->key, key, memory_order_relaxed);
        return;
    }
    int64_t mean = atomic_load_explicit(&sl->mean_us, memory_order_relaxed);
    int64_t dev = atomic_load_explicit(&sl->dev_us, memory_order_relaxed);
    int64_t diff = us - mean;
    dev += ((diff < 0 ? -diff : diff) - dev) / 4;
    mean += diff / 8;
    atomic_store_explicit(&sl->mean_us, mean, memory_order_relaxed);
    atomic_store_explicit(&sl->dev_us, dev, memory_order_relaxed);
}

void hs_http_latency_note(const char *base_url, int64_t us)
{
    if (us < 0 || !base_url)
        return;
    uint64_t key = url_hash(base_url);
    slot_note(&slots[key % LAT_SLOTS], key, us);
    slot_note(&all_nodes, 1, us);
}

static int64_t estimate(struct lat_slot *sl, uint64_t key)
{
    if (atomic_load_explicit(&sl->key, memory_order_relaxed) != key)
        return -1;
    return atomic_load_explicit(&sl->mean_us, memory_order_relaxed) +
           3 * atomic_load_explicit(&sl->dev_us, memory_order_relaxed);
}

int64_t hs_http_latency_hedge_us(const char *base_url, int64_t default_us, int64_t min_us,
                                 int64_t max_us)
{
    uint64_t key = url_hash(base_url);
    int64_t us = estimate(&slots[key % LAT_SLOTS], key);
    if (us < 0)
        us = estimate(&all_nodes, 1);
    if (us < 0)
        us = default_us;
    if (us > max_us)
        us = max_us;
    return us < min_us ? min_us : us;
}
