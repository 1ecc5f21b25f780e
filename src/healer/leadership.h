/* leadership.h - the healer's election and fencing (leadership.c). A healer grants its own
 * lease, keeps it alive, campaigns on healer/leader and, each time it wins, hands control to
 * the caller's step function until leadership ends. The passes depend on this module (they
 * ask whether they still lead and fence their transactions); it knows nothing of them. */
#ifndef HS_HEALER_LEADERSHIP_H
#define HS_HEALER_LEADERSHIP_H

#include <stdbool.h>

#include "healer/healer.h"
#include "hs/etcd.h"

/* One step while leading (a pass and the pause after it); called again and again while this
 * healer leads and its lease is alive. Should return within about a pass interval. */
typedef void hs_healer_step_fn(struct hs_healer *h);

/* The election loop, until h->stop: lease (lease_ttl_s, kept alive at TTL/3), campaign (blocks;
 * h->cancel aborts it), then while leading call step(h); on lease loss, a changed leader key or
 * stop: resign, revoke the lease and campaign again (backing off 250 ms .. 5 s after failed
 * rounds). Blocks; run it on its own thread. */
void hs_healer_elect(struct hs_healer *h, hs_healer_step_fn *step);

/* A compare that holds only while this healer still leads (the leader key's create revision is
 * the one we won with). Add it to every destructive etcd transaction. */
void hs_healer_fence(const struct hs_healer *h, struct hs_etcd_cmp *out);
/* True while this healer believes it leads and stop is not set (no etcd round trip). */
bool hs_healer_leading(const struct hs_healer *h);
/* True when etcd says the leader key is still ours (one linearizable read): what a pass checks
 * right before deletions that no etcd compare can guard (blob deletes on nodes). On a definite
 * "no" it also drops leadership (and cancels the pause between passes). An etcd error counts
 * as "no" but keeps leadership. */
bool hs_healer_still_leader(struct hs_healer *h);
/* A fenced transaction failed on the fence: counts fence_failures and drops leadership at
 * once (the caller logs evt=fenced_out with its own context). */
void hs_healer_fenced_out(struct hs_healer *h);
/* True when a fenced transaction's failure branch (a RANGE of h->leader.key) shows that the
 * fence failed: the leader key is gone or not ours. */
bool hs_healer_fence_failed(const struct hs_healer *h, const struct hs_etcd_txn_result *res);
/* Deletes key if its mod_revision is still mod_rev, fenced: true when deleted. A failed fence
 * drops leadership (hs_healer_fenced_out) and logs evt=fenced_out op=<op> key=<key>. */
bool hs_healer_fenced_delete(struct hs_healer *h, const char *key, int64_t mod_rev, const char *op);

#endif
