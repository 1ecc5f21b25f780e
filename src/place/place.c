/* place.c - rendezvous (highest random weight) hashing; the format is the table in
 * include/hs/place.h. Every node gets a 64-bit score per key and the nodes are sorted by it, so
 * a node's removal only promotes the nodes ranked below it. No I/O and no global state. */
#include "hs/place.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "hs/mem.h"
#include "hs/banned.h"

/* Candidates up to this many nodes live on the stack: the common cluster is far smaller, and
 * the gateway places once per write. */
#define PLACE_STACK_NODES 64

struct cand {
    uint64_t score; /* s(node), the unweighted score */
    double wscore;  /* -w / ln(u); only meaningful in weighted mode */
    const char *id; /* borrowed from the caller */
    size_t idx;     /* position in the caller's array */
};

uint64_t hs_place_score(const void *key, size_t key_len, const char *node_id)
{
    /* The key hash seeds the node hash rather than being xor-ed with a per-node hash: the
     * score is then a full XXH3 of the node id under a key-specific seed, with no structure
     * shared between keys. */
    XXH64_hash_t hk = XXH3_64bits_withSeed(key, key_len, HS_PLACE_SEED);
    return XXH3_64bits_withSeed(node_id, strlen(node_id), hk);
}

/* Descending score, then ascending id: a total order, so qsort's instability cannot show. */
static int cmp_unweighted(const void *pa, const void *pb)
{
    const struct cand *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return strcmp(a->id, b->id);
}

static int cmp_weighted(const void *pa, const void *pb)
{
    const struct cand *a = pa, *b = pb;
    if (a->wscore != b->wscore)
        return a->wscore > b->wscore ? -1 : 1;
    return cmp_unweighted(pa, pb);
}

/* Weighted score: u is the top 53 bits of s mapped into the open interval (0, 1) (the + 0.5
 * keeps it away from 0 and 1, where ln would give -inf or 0), so -w / ln(u) is finite and
 * positive, and for equal weights it is monotone in s: the unweighted order. */
static double weighted_score(uint64_t s, double w)
{
    double u = ((double)(s >> 11) + 0.5) * 0x1p-53;
    return -w / log(u);
}

static bool weights_valid(const struct hs_place_node *nodes, size_t n, bool *all_equal)
{
    double first = 0;
    *all_equal = true;
    for (size_t i = 0; i < n; i++) {
        double w = nodes[i].weight == 0 ? 1.0 : nodes[i].weight;
        if (!isfinite(w) || w < 0)
            return false;
        if (i == 0)
            first = w;
        else if (w != first)
            *all_equal = false;
    }
    return true;
}

/* Scores every node, sorts, rejects duplicates, copies the first `want` indices out.
 * nodes may be NULL (unweighted: ids come from ids); otherwise weighted. */
static enum hs_err place_order(const void *key, size_t key_len, const char *const *ids,
                               const struct hs_place_node *nodes, size_t n, size_t want,
                               size_t *order_out)
{
    struct cand stack_cands[PLACE_STACK_NODES];
    struct cand *c = stack_cands;
    enum hs_err err = HS_OK;
    bool weighted = false;

    if (n > HS_PLACE_NODES_MAX || (n > 0 && !ids && !nodes))
        return HS_EINVAL;
    if (want > n)
        return HS_EUNAVAIL;
    if (nodes) {
        bool all_equal;
        if (!weights_valid(nodes, n, &all_equal))
            return HS_EINVAL;
        weighted = !all_equal;
    }
    if (n > PLACE_STACK_NODES)
        c = hs_xmalloc(n * sizeof(*c));

    XXH64_hash_t hk = XXH3_64bits_withSeed(key, key_len, HS_PLACE_SEED);
    for (size_t i = 0; i < n; i++) {
        const char *id = nodes ? nodes[i].id : ids[i];
        if (!id) {
            err = HS_EINVAL;
            goto out;
        }
        c[i].id = id;
        c[i].idx = i;
        c[i].score = XXH3_64bits_withSeed(id, strlen(id), hk);
        c[i].wscore = 0;
    }
    qsort(c, n, sizeof(*c), cmp_unweighted);
    /* Equal ids have equal scores, so after this sort duplicates are neighbours. */
    for (size_t i = 1; i < n; i++) {
        if (c[i].score == c[i - 1].score && strcmp(c[i].id, c[i - 1].id) == 0) {
            err = HS_EINVAL;
            goto out;
        }
    }
    if (weighted) {
        for (size_t i = 0; i < n; i++) {
            double w = nodes[c[i].idx].weight == 0 ? 1.0 : nodes[c[i].idx].weight;
            c[i].wscore = weighted_score(c[i].score, w);
        }
        qsort(c, n, sizeof(*c), cmp_weighted);
    }
    for (size_t i = 0; i < want; i++)
        order_out[i] = c[i].idx;
out:
    if (c != stack_cands)
        free(c);
    return err;
}

enum hs_err hs_place_nodes(const void *key, size_t key_len, const char *const *node_ids,
                           size_t n_nodes, size_t want, size_t *order_out)
{
    return place_order(key, key_len, node_ids, NULL, n_nodes, want, order_out);
}

enum hs_err hs_place_rank(const void *key, size_t key_len, const char *const *node_ids,
                          size_t n_nodes, size_t *order_out)
{
    return place_order(key, key_len, node_ids, NULL, n_nodes, n_nodes, order_out);
}

enum hs_err hs_place_nodes_weighted(const void *key, size_t key_len,
                                    const struct hs_place_node *nodes, size_t n_nodes, size_t want,
                                    size_t *order_out)
{
    return place_order(key, key_len, NULL, nodes, n_nodes, want, order_out);
}
