/* budget.h - a gateway's admission limits, as counters with no I/O: the bytes of request bodies
 * held in memory (whole for the reference API's /write, PATCH, a field_hybrid or auto-JSON PUT;
 * one segment plus shards for a streamed PUT) against body-buffer-budget, and the writes with a
 * WAL record open in etcd against max-open-writes. A
 * request that would pass a limit is refused with HS_EBUSY (503 + Retry-After) instead of
 * queueing: whatever anonymous clients send, a gateway holds at most the budget in bodies and the
 * cap in open WAL records. It knows nothing of HTTP or of struct hs_gw (gw.c wraps it).
 *
 * Threads: every function is lock-free (atomics) and may be called from any thread. A hold is
 * owned by one request and used by one thread at a time. */
#ifndef HS_GATEWAY_BUDGET_H
#define HS_GATEWAY_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hs/err.h"

#define HS_GW_BUDGET_GRAIN ((int64_t)4096) /* reservations are whole multiples of this */

struct hs_gw_budget {
    int64_t body_limit_bytes;               /* set once by init; > 0 */
    int64_t writes_limit;                   /* set once by init; > 0 */
    atomic_int_fast64_t body_reserved;      /* bytes held by every hold right now */
    atomic_int_fast64_t body_refusals;      /* reservations refused since start */
    atomic_int_fast64_t writes_open;        /* write slots taken right now */
    atomic_int_fast64_t writes_refusals;    /* slots refused since start */
    atomic_int_fast64_t body_peak_reserved; /* highest body_reserved seen */
};

/* One request's share of the body budget. Zero-initialised = nothing held. */
struct hs_gw_budget_hold {
    int64_t bytes; /* reserved for this request (a multiple of HS_GW_BUDGET_GRAIN) */
};

/* A consistent-enough copy of the counters (each read atomically, not all at one instant). */
struct hs_gw_budget_stats {
    int64_t body_limit_bytes;
    int64_t body_reserved_bytes;
    int64_t body_peak_reserved_bytes;
    int64_t body_refusals;
    int64_t writes_limit;
    int64_t writes_open;
    int64_t writes_refusals;
};

/* Both limits must be > 0 (asserted). Not thread-safe: call before sharing b. */
void hs_gw_budget_init(struct hs_gw_budget *b, int64_t body_limit_bytes, int64_t writes_limit);

/* Makes h hold at least need bytes, growing geometrically so that a body arriving in many small
 * chunks costs O(log size) atomic updates: the new hold is the larger of need (rounded up to the
 * grain) and twice the old hold, but never more than max(need, cap) (cap: the most this request
 * can ever buffer, e.g. its Content-Length or doc-max-size; <= 0 = no cap). When the geometric
 * step does not fit, exactly need (rounded) is tried. HS_OK (also when h already holds need);
 * HS_EBUSY when even need does not fit beside the other holds right now; HS_ETOOBIG when need is
 * over the whole limit (can never fit). On an error h is unchanged and the refusal is counted. */
enum hs_err hs_gw_budget_grow(struct hs_gw_budget *b, struct hs_gw_budget_hold *h, int64_t need,
                              int64_t cap);
/* Gives back everything h holds; h then holds nothing. NULL h or an empty one is fine. Returns
 * the bytes given back. */
int64_t hs_gw_budget_release(struct hs_gw_budget *b, struct hs_gw_budget_hold *h);
/* Early admission of a request that announced its size: HS_OK when len bytes would fit beside
 * the current holds (nothing is reserved: the body reserves as it arrives), HS_EBUSY when not,
 * HS_ETOOBIG when len is over the whole limit. Refusals are counted. len <= 0: HS_OK. */
enum hs_err hs_gw_budget_admit(struct hs_gw_budget *b, int64_t len);

/* Takes one open-write slot: true, or false (counted as a refusal) when writes_limit are taken. */
bool hs_gw_budget_write_take(struct hs_gw_budget *b);
/* Gives a slot back (one per successful take). */
void hs_gw_budget_write_put(struct hs_gw_budget *b);

void hs_gw_budget_stats(const struct hs_gw_budget *b, struct hs_gw_budget_stats *out);

#endif
