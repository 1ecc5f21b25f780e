/* place.h - placement: object key + node ids -> ordered list of distinct nodes, by rendezvous
 * (highest random weight) hashing. Pure: no I/O, no global state, no allocation visible to the
 * caller. Deliberately knows nothing of liveness, zones or etcd: callers pass the live nodes.
 *
 * Placement format, version 1 (changing any line below moves objects: bump the version):
 *
 * | step        | definition                                                             |
 * |-------------|------------------------------------------------------------------------|
 * | key hash    | hk = XXH3_64bits_withSeed(object key bytes, HS_PLACE_SEED)             |
 * | node score  | s(node) = XXH3_64bits_withSeed(node id bytes, no NUL, seed = hk)       |
 * | order       | descending s; equal s (p ~ 2^-64) broken by ascending strcmp of ids     |
 * | weighted    | score = -w / ln(u), u = ((s >> 11) + 0.5) * 2^-53 in (0, 1)           |
 *
 * Properties (tested in tests/unit/test_place.c): deterministic across processes and machines
 * (no pointers, no per-process seeds; XXH3 output is the same on every platform); independent
 * of the order of the node array; removing a node changes only the placements that used it
 * (every other node keeps its relative order); balanced within +-10% over 100 000 keys for 6 to
 * 60 equally weighted nodes. With all weights equal, the weighted form gives exactly the
 * unweighted order (integer comparison is used then, so no floating point is involved); with
 * unequal weights the order depends on libm's log(), identical for one build of the binary.
 *
 * Thread-safety: every function is reentrant. None blocks. */
#ifndef HS_PLACE_H
#define HS_PLACE_H

#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"

#define HS_PLACE_VERSION 1
/* Fixed seed of the key hash ("hsplace1" in ASCII): part of the placement format. */
#define HS_PLACE_SEED 0x6873706c61636531ULL
/* More nodes than this is refused (HS_EINVAL): the order array would be unreasonably large. */
#define HS_PLACE_NODES_MAX 65536

/* A node with a relative capacity. weight 0 means 1.0; negative, NaN or infinite: HS_EINVAL. */
struct hs_place_node {
    const char *id; /* NUL-terminated, borrowed for the call */
    double weight;  /* relative capacity (unitless); 0 = 1.0 */
};

/* The score of one (key, node) pair: s(node) in the table above. For tests and
 * `hybridstore debug place`. */
uint64_t hs_place_score(const void *key, size_t key_len, const char *node_id);

/* The `want` best nodes for key, best first: order_out[i] is an index into node_ids, and the
 * indices are distinct. node_ids must hold n_nodes distinct non-NULL strings.
 * Errors (order_out untouched): HS_EUNAVAIL when want > n_nodes (too few nodes: the gateway
 * answers 503 before writing anything; use hs_place_rank to get every node in order);
 * HS_EINVAL when a node id is NULL, two ids are equal, or n_nodes > HS_PLACE_NODES_MAX.
 * want = 0 returns HS_OK and writes nothing. */
enum hs_err hs_place_nodes(const void *key, size_t key_len, const char *const *node_ids,
                           size_t n_nodes, size_t want, size_t *order_out);

/* Every node, best first (order_out holds n_nodes indices): the healer walks this list to find
 * the next node for a shard whose node is gone. Errors as hs_place_nodes (never HS_EUNAVAIL). */
enum hs_err hs_place_rank(const void *key, size_t key_len, const char *const *node_ids,
                          size_t n_nodes, size_t *order_out);

/* Weighted rendezvous hashing: a node's expected share is weight / sum of weights. Same
 * contract and errors as hs_place_nodes, plus HS_EINVAL for a negative or non-finite weight. */
enum hs_err hs_place_nodes_weighted(const void *key, size_t key_len,
                                    const struct hs_place_node *nodes, size_t n_nodes, size_t want,
                                    size_t *order_out);

#endif
