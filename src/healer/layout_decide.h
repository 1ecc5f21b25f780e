/* layout_decide.h - the adaptive hot-field decision for one collection, as pure functions
 * (layout_decide.c, layout_search.c): the cost model of a candidate hot set, the candidate
 * search, the hysteresis that turns a round's winner into a new layout record, and a per-field
 * report for `hybridstore layout show`. No I/O, no clock (the caller passes now_ms), no config
 * reading. The healer's layout pass (layout.c) feeds it merged gateway statistics
 * (field_stats.h, converted by hs_layout_input_from_fstat); the CLI runs the same functions on
 * the same statistics to explain a decision. The model and every constant: docs/design.md
 * "Adaptive hot fields". Thread-safety: reentrant. */
#ifndef HS_HEALER_LAYOUT_DECIDE_H
#define HS_HEALER_LAYOUT_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"
#include "hs/layout.h"

struct hs_fstat_coll;

#define HS_LAYOUT_MODEL_FIELDS_MAX 256 /* fields the model considers (most observed first) */
#define HS_LAYOUT_REPORT_PARTNERS  3   /* co-change partners in a field report */

/* Statistics of one collection over the statistics' window (halved counters: counts may be
 * any non-negative reals). Names are borrowed for the duration of a call. */
struct hs_layout_field_in {
    const char *name;
    double present; /* PUTs whose document held the field */
    double changed; /* writes with known changes that changed it */
    double bytes;   /* value bytes summed over those PUTs */
};

struct hs_layout_set_in {
    const char *const *names; /* n names, any order */
    size_t n;
    bool more;    /* the set held other names too (never a subset of a hot set) */
    double count; /* writes (change sets) or projection reads (read sets) with exactly it */
};

struct hs_layout_input {
    double writes;     /* PUTs + PATCHes */
    double puts;       /* PUTs (presence and size are per PUT) */
    double known;      /* writes whose change set is known (the change statistics' base) */
    double proj_reads; /* projection reads */
    const struct hs_layout_field_in *fields;
    size_t n_fields;
    const struct hs_layout_set_in *csets; /* change sets (heavy hitters of the known writes) */
    size_t n_csets;
    const struct hs_layout_set_in *rsets; /* projection read sets */
    size_t n_rsets;
    uint64_t writes_total; /* cumulative writes (never halved): the hysteresis' clock */
    double objects;        /* objects in the collection (estimate), 0 = unknown */
};

/* Tunables; hs_layout_config_defaults gives the documented defaults. */
struct hs_layout_config {
    double blob_cost_bytes;  /* beta: cost of one blob write or read, in bytes (4096) */
    double read_weight;      /* weight of projection-read bytes against written bytes (0.5) */
    double storage_weight;   /* weight of a stored byte per object against a written byte per
                                update (0.1) */
    double min_writes;       /* evidence: known writes before any decision (1000) */
    double min_gain;         /* relative saving that must hold at the confidence bounds (0.05) */
    double z;                /* confidence bound, in standard deviations (2.576: 99 %) */
    int32_t confirm_rounds;  /* rounds in a row the same winner must win (2) */
    int64_t min_interval_ms; /* least time between two changes of a collection (10 min) */
    double hot_max_bytes;    /* cap on the expected hot bytes per document (64 KiB) */
    size_t hot_max_fields;   /* cap on the hot set's names (32, <= HS_LAYOUT_FIELDS_MAX) */
};

void hs_layout_config_defaults(struct hs_layout_config *cfg);

/* The cost model (per update, bytes): see docs/design.md. */
struct hs_layout_cost {
    double hot_bytes;   /* h: expected hot bytes per document */
    double doc_bytes;   /* D: expected document bytes */
    double p_pure;      /* P(a write changes only hot fields) */
    double q_hot;       /* P(a projection read is served from the hot part) */
    double write_bytes; /* W */
    double read_bytes;  /* per projection read */
    double store_bytes; /* S per object */
    double total;       /* J = W + read_weight * reads/write * R + storage_weight * S */
};

/* Evaluates the hot set `hot` (names not in the statistics count as absent) on in.
 * p_pure and q_hot may be overridden by passing them shifted: lo_hi -1 takes the lower
 * confidence bounds, +1 the upper, 0 the point estimates. */
void hs_layout_evaluate(const struct hs_layout_input *in, const struct hs_layout_config *cfg,
                        const struct hs_layout_fields *hot, int lo_hi, struct hs_layout_cost *out);

/* The cheapest hot set found (search in docs/design.md): always holds pin_hot, never pin_cold,
 * within the caps; `start` (may be NULL) is one of the search's starting points. *best is
 * replaced. */
void hs_layout_search(const struct hs_layout_input *in, const struct hs_layout_config *cfg,
                      const struct hs_layout_fields *pin_hot,
                      const struct hs_layout_fields *pin_cold, const struct hs_layout_fields *start,
                      struct hs_layout_fields *best);

/* What a round concluded (stable names for logs: hs_layout_verdict_name). */
enum hs_layout_verdict {
    HS_LAYOUT_V_STATIC = 1, /* "static": mode static, nothing decided */
    HS_LAYOUT_V_EVIDENCE,   /* "evidence": too few writes with known changes */
    HS_LAYOUT_V_BEST,       /* "best": the hot set in force is the cheapest */
    HS_LAYOUT_V_SMALL_GAIN, /* "small_gain": cheaper, but not by min_gain at the bounds */
    HS_LAYOUT_V_CONFIRMING, /* "confirming": the winner has not won confirm_rounds yet */
    HS_LAYOUT_V_SPACING,    /* "spacing": the last change is too recent */
    HS_LAYOUT_V_MIGRATION,  /* "migration": the winner has not earned its migration yet */
    HS_LAYOUT_V_CHANGED,    /* "changed": the hot set changed (epoch + 1) */
};
const char *hs_layout_verdict_name(enum hs_layout_verdict v);

struct hs_layout_decision {
    enum hs_layout_verdict verdict;
    bool write;                   /* `next` differs from the current record: write it */
    bool changed;                 /* the hot set changed (next.epoch is one more) */
    struct hs_layout_record next; /* the record to write (a copy of the current one if !write) */
    struct hs_layout_fields best; /* this round's cheapest candidate */
    double cost_current;          /* J of the current effective hot set (point estimate) */
    double cost_best;             /* J of best (point estimate) */
    double gain_low;              /* relative saving of best at the confidence bounds */
    char reason[512];             /* one line, for logs and the record */
};

void hs_layout_decision_init(struct hs_layout_decision *d);
void hs_layout_decision_release(struct hs_layout_decision *d);

/* One decision round for collection `collection` (valid per layout.h): cur is its record (NULL
 * = none), deflt the cluster default hot set. Fills d (initialised by the caller). HS_EINVAL
 * for an invalid collection or config (d untouched). */
enum hs_err hs_layout_decide(const struct hs_layout_input *in, const struct hs_layout_record *cur,
                             const char *collection, const struct hs_layout_fields *deflt,
                             const struct hs_layout_config *cfg, int64_t now_ms,
                             struct hs_layout_decision *d);

/* Wilson score interval of k successes in n trials at z: *lo, *hi in [0, 1] (0..1 for n 0). */
void hs_layout_wilson(double k, double n, double z, double *lo, double *hi);

/* What one field costs and saves under hot set `hot` (layout show). */
struct hs_layout_field_report {
    const char *name;            /* borrowed from the input */
    bool hot;                    /* in `hot` */
    double change_rate;          /* changed / known */
    double change_lo, change_hi; /* its confidence interval (z of the config) */
    double present_rate;         /* present / puts */
    double mean_bytes;           /* bytes / present */
    double write_saving;         /* W(hot without it) - W(hot with it): > 0 when being hot saves */
    double storage_cost;         /* S(with it) - S(without it), per object: 1.5 x its bytes */
    const char *partners[HS_LAYOUT_REPORT_PARTNERS]; /* most frequent co-changed fields */
    double partner_share[HS_LAYOUT_REPORT_PARTNERS]; /* share of its changes with each */
    size_t n_partners;
};

/* One report per input field (in input order) into out[0..max); returns how many. */
size_t hs_layout_report(const struct hs_layout_input *in, const struct hs_layout_config *cfg,
                        const struct hs_layout_fields *hot, struct hs_layout_field_report *out,
                        size_t max);

/* Borrowing view of a field_stats collection as engine input. The arrays are heap (free with
 * hs_layout_input_release); names stay borrowed from c, which must outlive *in. */
void hs_layout_input_from_fstat(const struct hs_fstat_coll *c, double objects,
                                struct hs_layout_input *in);
void hs_layout_input_release(struct hs_layout_input *in);

#endif
