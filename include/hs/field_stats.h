/* field_stats.h - access statistics per collection and top-level field, the evidence the healer
 * uses to choose a collection's hot set: a bounded sketch (Space-Saving over collections, over
 * the fields of each collection and over the sets of fields that change or are read together,
 * with periodic halving so old evidence fades), the merge of two sketches, and the JSON snapshot
 * gateways serve on GET /v1/admin/field-stats. Pure: no I/O, no locks, no clock, no config
 * reading; the gateway stripes sketches per thread and merges them on read.
 *
 * Collections: a collection is a prefix of the object key (hs_fstat_collection_len): up to and
 * including the depth-th separator byte (default: the first ':' or '/'); a key with fewer
 * separators belongs to the collection "" (the empty prefix). A sketch tracks at most
 * limits.collections collections (Space-Saving over their events): the rest fall back to the
 * cluster's default hot set.
 *
 * Counting rules (per collection; "halved" counters are divided by two, rounding down, when the
 * collection is halved: see "Pacing" below; a write or a read is one event):
 *
 * | counter          | halved | meaning                                                        |
 * |------------------|--------|----------------------------------------------------------------|
 * | count, err       | yes    | Space-Saving over collections: events (upper bound), overcount  |
 * | writes           | yes    | PUTs + PATCHes seen                                            |
 * | puts             | yes    | PUTs seen (the documents whose fields are "present")           |
 * | known            | yes    | writes whose change set is known (PATCH, or PUT over a version |
 * |                  |        | with field digests; see manifest.h "fields")                   |
 * | full_reads       | yes    | GETs of the whole object                                       |
 * | proj_reads       | yes    | projection reads (GET ?fields=)                                |
 * | untracked        | yes    | field observations dropped: name over HS_FSTAT_NAME_MAX bytes   |
 * |                  |        | or holding a NUL byte                                          |
 * | fields[]         |        | Space-Saving over fields by presence (PUT) or change (PATCH):   |
 * |   count, err     | yes    |   observations (upper bound) and overcount                     |
 * |   present        | yes    |   PUTs that held the field (while tracked)                      |
 * |   changed        | yes    |   known writes that changed it (while tracked)                 |
 * |   bytes          | yes    |   sum of its value bytes over the PUTs that held it            |
 * | csets[]          | yes    | Space-Saving over change sets (known writes; the empty set of   |
 * |                  |        | a write that changed nothing is counted too)                   |
 * | rsets[]          | yes    | Space-Saving over projection read sets                         |
 * | tot_*            | no     | cumulative totals for /metrics (see struct hs_fstat_totals)    |
 *
 * A set (change or read set) is the sorted (memcmp order), distinct names; at most
 * HS_FSTAT_SET_NAMES_MAX names and HS_FSTAT_SET_BYTES_MAX bytes of names are kept: a larger set
 * keeps its first names in that order and has `more` set (it must be read as "these and others";
 * a set holding an untracked name has `more` set too).
 *
 * Space-Saving (Metwally et al. 2005): m counters; an item not tracked takes the counter with
 * the smallest count c (ties: any of them) and starts at count c + weight, err c. For every
 * tracked item count - err <= true count <= count; an untracked item occurred at most min count
 * times. The side counters of a field (present, changed, bytes) start from zero when it takes a
 * slot: they are lower bounds. A collection's fields are counted from when the collection took
 * its slot, so a field's true count is at most its count plus the collection's err.
 *
 * Pacing: who halves a collection, and when. Unpaced (a gateway no healer has paced yet, or a
 * sketch of its own): every limits.halve_every events of that collection in that sketch. That is
 * per sketch, so with G gateways (and stripes within each) the cluster's evidence would fade G
 * times slower than intended; so the elected healer paces the halving by the cluster's writes:
 * after merging every gateway's snapshot, hs_field_stats_pace halves a collection once for every
 * halve_writes writes with known changes since its last halving (summed over the gateways:
 * since_writes; a create or a PUT over a version without digests is no evidence and does not
 * count), counts the halvings in the collection's epoch, and the healer sends the epoch to every
 * gateway
 * (hs_field_stats_set_epoch: a paced collection at a lower epoch is halved the difference, an
 * unpaced one just takes the epoch, its counts being its own). A paced collection no longer
 * halves itself, except as a fallback every HS_FSTAT_PACED_STALE x halve_every events (a healer
 * gone for good). Merge aligns epochs: of two paced sides, the one at the lower epoch is halved
 * up to the other's first (a gateway that missed an epoch message weighs what the others weigh);
 * an unpaced side is taken as it is (its counts are recent: it started counting, or restarted,
 * since the last message). So the merged window's old evidence halves every halve_writes of the
 * cluster's writes to the collection (plus at most one decision round's writes), whatever the
 * number of gateways and stripes; docs/design.md section 10 states the bound this gives.
 *
 * Merge (hs_field_stats_merge): sums two sketches (another stripe, another gateway), after
 * aligning each collection's epoch (above). Items in both: counts and errs add. An item missing
 * from a FULL side gets that side's smallest count added to count and err (it may have occurred
 * that often there), so the bounds above still hold; then the largest m by count are kept. Totals
 * add.
 *
 * Gateway snapshots and how the healer merges them: each gateway's sketch is cumulative (halved,
 * never drained), so a snapshot is the gateway's current state and replaces that gateway's
 * previous one; the healer keeps the latest snapshot per (gateway id, boot id) and merges those.
 * Pulling twice never counts twice; a gateway that restarts has a new boot id and starts again
 * from zero; seq grows with every snapshot of one boot.
 *
 * Snapshot JSON, format version 2 (compact, one object; members in this order; decode refuses
 * members it does not know, HS_EPROTO for a "v" other than 1 or 2; version 1, written before
 * pacing, is version 2 without "sw" and "h"):
 *
 * | member | type   | meaning                                                               |
 * |--------|--------|-----------------------------------------------------------------------|
 * | v      | int    | 2                                                                     |
 * | gw     | string | gateway id (manifest.h identifier rules), "" when merged               |
 * | boot   | string | 1..64 chars [0-9a-zA-Z._-], the gateway process's boot id              |
 * | seq    | int    | snapshot number within one boot, >= 0                                 |
 * | ms     | int    | wall clock ms when taken, >= 0                                        |
 * | limits | array  | [collections, fields, sets, halve_every] of the sketch                 |
 * | colls  | array  | collections, by count descending: objects below                       |
 *
 * A collection: {"c": prefix (string, <= HS_FSTAT_COLL_MAX bytes), "n": count, "e": err,
 * "w": writes, "p": puts, "k": known, "fr": full_reads, "pr": proj_reads, "u": untracked,
 * "f": [[name, count, err, present, changed, bytes], ...],
 * "cs": [[[name, ...], count, err, more(0|1)], ...], "rs": same as cs for read sets,
 * "t": [writes, pure_hot, cold, hot_bytes, cold_bytes, proj_hot, proj_full, predicted_bytes,
 *       measured_bytes, layout_epoch]} (struct hs_fstat_totals in that order),
 * "sw": since_writes (version 2), "h": epoch (version 2, only when paced; absent: unpaced).
 * Every count is a JSON integer 0..2^53-1 and err <= count. Limits on decode: at most
 * HS_FSTAT_COLLS_MAX collections, HS_FSTAT_FIELDS_MAX fields and HS_FSTAT_SETS_MAX sets each,
 * the set rules above, distinct collections / fields / sets, at most HS_FSTAT_JSON_MAX bytes.
 *
 * Errors: HS_EINVAL (bad limits or arguments), HS_ECORRUPT (a snapshot that breaks the rules:
 * bad JSON, wrong type, out of range, duplicate, unknown member, too large), HS_EPROTO (unknown
 * "v"), HS_ETOOBIG (encode over HS_FSTAT_JSON_MAX). `why` gets a one-line reason when not NULL.
 * Memory: a sketch owns everything it points to (heap); _release frees it. Thread-safety: none;
 * callers lock (functions are reentrant on distinct sketches). Nothing blocks. */
#ifndef HS_FIELD_STATS_H
#define HS_FIELD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"

#define HS_FSTAT_VERSION        2
#define HS_FSTAT_DEFAULT_COLLS  256  /* limits.collections when 0 */
#define HS_FSTAT_DEFAULT_FIELDS 64   /* limits.fields when 0 */
#define HS_FSTAT_DEFAULT_SETS   32   /* limits.sets when 0 (change sets and read sets each) */
#define HS_FSTAT_DEFAULT_HALVE  8192 /* limits.halve_every when 0: events per collection */
#define HS_FSTAT_COLLS_MAX      4096
#define HS_FSTAT_FIELDS_MAX     1024
#define HS_FSTAT_SETS_MAX       256
#define HS_FSTAT_HALVE_MIN      16
#define HS_FSTAT_HALVE_MAX      (1u << 30)
#define HS_FSTAT_NAME_MAX       128 /* bytes of a tracked field name */
#define HS_FSTAT_COLL_MAX       256 /* bytes of a collection prefix (longer: cut here) */
#define HS_FSTAT_SET_NAMES_MAX  16  /* names kept per set */
#define HS_FSTAT_SET_BYTES_MAX  512 /* bytes of names kept per set */
#define HS_FSTAT_BOOT_MAX       64  /* chars of a boot id */
#define HS_FSTAT_JSON_MAX       ((size_t)16 << 20)        /* bytes of an encoded snapshot */
#define HS_FSTAT_COUNT_MAX      (((uint64_t)1 << 53) - 1) /* counters saturate here */
#define HS_FSTAT_DEFAULT_SEPS   ":/"
#define HS_FSTAT_DEPTH_MAX      16
#define HS_FSTAT_PACED_STALE    16 /* a paced collection still halves itself after this x */
#define HS_FSTAT_HALVINGS_MAX   64 /* halvings applied at once at most (all counters are 0) */

/* Sketch sizes; a zero member takes its default. */
struct hs_fstat_limits {
    uint32_t collections; /* 1..HS_FSTAT_COLLS_MAX */
    uint32_t fields;      /* per collection, 1..HS_FSTAT_FIELDS_MAX */
    uint32_t sets;        /* change sets and read sets per collection, each 1..HS_FSTAT_SETS_MAX */
    uint32_t halve_every; /* events per collection, HS_FSTAT_HALVE_MIN..HS_FSTAT_HALVE_MAX */
};

/* How a key maps to its collection; a zeroed struct means HS_FSTAT_DEFAULT_SEPS, depth 1. */
struct hs_fstat_rule {
    char seps[16];  /* separator bytes, NUL-terminated; "" = the defaults */
    unsigned depth; /* the prefix ends after this many separators, 0 = 1; <= HS_FSTAT_DEPTH_MAX */
};

/* Cumulative per-collection totals for /metrics (never halved; lost when the collection is
 * evicted, which Prometheus reads as a counter reset). */
struct hs_fstat_totals {
    uint64_t writes;          /* writes counted */
    uint64_t pure_hot;        /* field_hybrid writes that wrote no cold part */
    uint64_t cold;            /* field_hybrid writes that wrote a cold part */
    uint64_t hot_bytes;       /* bytes sent to nodes for hot parts (every copy) */
    uint64_t cold_bytes;      /* bytes sent to nodes for cold parts (every shard) */
    uint64_t proj_hot;        /* projection reads served from one hot replica */
    uint64_t proj_full;       /* projection reads served by a full read */
    uint64_t predicted_bytes; /* cost-model bytes of the counted field_hybrid writes */
    uint64_t measured_bytes;  /* bytes those writes sent to nodes */
    uint64_t layout_epoch;    /* layout epoch of the latest write (gauge; merge keeps the max) */
};

struct hs_fstat_field {
    char *name;       /* heap, NUL-terminated, <= HS_FSTAT_NAME_MAX bytes */
    uint64_t count;   /* Space-Saving count */
    uint64_t err;     /* overcount, <= count */
    uint64_t present; /* PUTs holding it */
    uint64_t changed; /* known writes that changed it */
    uint64_t bytes;   /* value bytes summed over the PUTs holding it */
    uint64_t hash_;   /* private: hash of name */
};

struct hs_fstat_set {
    char **names;     /* heap array of n_names heap strings, sorted, distinct */
    uint32_t n_names; /* <= HS_FSTAT_SET_NAMES_MAX */
    bool more;        /* the set held more names than kept, or an untracked one */
    uint64_t count;   /* Space-Saving count */
    uint64_t err;     /* overcount, <= count */
    uint64_t hash_;   /* private: hash of the names and more */
};

struct hs_fstat_coll {
    char *name;      /* heap, NUL-terminated collection prefix */
    uint64_t count;  /* Space-Saving count (events) */
    uint64_t err;    /* overcount, <= count */
    uint64_t writes; /* halved counters: see the table at the top */
    uint64_t puts;
    uint64_t known;
    uint64_t full_reads;
    uint64_t proj_reads;
    uint64_t untracked;
    uint64_t since_halve;          /* events since the last halving (not encoded) */
    uint64_t since_writes;         /* known writes since the last halving ("sw") */
    uint64_t epoch;                /* halvings the cluster's pacing applied ("h"; when paced) */
    bool paced;                    /* the healer paces this collection's halving */
    struct hs_fstat_field *fields; /* n_fields of them (capacity limits.fields) */
    uint32_t n_fields;
    struct hs_fstat_set *csets; /* change sets, n_csets (capacity limits.sets) */
    uint32_t n_csets;
    struct hs_fstat_set *rsets; /* projection read sets, n_rsets (capacity limits.sets) */
    uint32_t n_rsets;
    struct hs_fstat_totals tot;
    uint64_t hash_; /* private: hash of name */
};

/* A sketch. Members are read-only to callers (change them only through the functions below);
 * colls[0..n_colls) is in no particular order until hs_field_stats_sort. */
struct hs_field_stats {
    struct hs_fstat_limits limits; /* effective (defaults filled in) */
    struct hs_fstat_coll *colls;   /* n_colls of them, capacity limits.collections */
    uint32_t n_colls;
    void *index_; /* private lookup state */
};

/* Identity of a snapshot (the gateway that took it). */
struct hs_fstat_info {
    char gw[65];                      /* gateway id, "" when merged */
    char boot[HS_FSTAT_BOOT_MAX + 1]; /* boot id of the gateway process */
    uint64_t seq;                     /* snapshot number within the boot */
    int64_t ms;                       /* wall clock ms when taken */
};

/* One top-level field of a written document (PUT) or one key of a merge patch (PATCH). */
struct hs_fstat_obs {
    const char *name; /* unescaped key, name_len bytes (need not be NUL-terminated) */
    size_t name_len;
    uint64_t bytes; /* bytes of its value as sent (0 for a deleted field) */
    bool present;   /* PUT: the new document holds it (false: the write removed it) */
    bool changed;   /* the write changed it (only read when the write's changes are known) */
};

/* One write. For a PUT, fields lists every member of the new document plus (present = false,
 * changed = true) every member of the previous version the new one dropped; for a PATCH, the
 * patch's keys, all changed. */
struct hs_fstat_write {
    const char *coll; /* collection prefix (hs_fstat_collection_len of the key) */
    size_t coll_len;
    const struct hs_fstat_obs *fields;
    size_t n_fields;
    bool patch;               /* a PATCH (changes known by definition) */
    bool changes_known;       /* PUT: the previous version had field digests (or there was none) */
    bool hybrid;              /* written as field_hybrid: the part/bytes members below count */
    bool wrote_cold;          /* a cold part was written */
    uint64_t hot_bytes;       /* bytes sent to nodes for the hot part */
    uint64_t cold_bytes;      /* bytes sent to nodes for the cold part */
    uint64_t predicted_bytes; /* cost-model prediction */
    uint64_t layout_epoch;    /* epoch of the layout the write used (0: default hot set) */
};

/* One read. */
struct hs_fstat_read {
    const char *coll;
    size_t coll_len;
    bool projection;          /* GET ?fields= (else a full read) */
    bool served_hot;          /* projection served from one hot replica */
    const char *const *names; /* projection fields (NUL-terminated), n_names of them */
    size_t n_names;
};

/* Length of key's collection prefix under rule (NULL = defaults): up to and including the
 * depth-th separator, 0 when the key has fewer; capped at HS_FSTAT_COLL_MAX. */
size_t hs_fstat_collection_len(const struct hs_fstat_rule *rule, const char *key, size_t key_len);

/* Parses a rule's config text: separators as given, e.g. ":/" (1..15 bytes, printable ASCII).
 * HS_EINVAL for anything else or depth out of range (out untouched). */
enum hs_err hs_fstat_rule_set(struct hs_fstat_rule *out, const char *seps, unsigned depth);

/* Empty sketch with limits (NULL or zero members: defaults). HS_EINVAL for limits out of range
 * (s untouched). Release with hs_field_stats_release. */
enum hs_err hs_field_stats_init(struct hs_field_stats *s, const struct hs_fstat_limits *limits);
/* Frees everything; s may be NULL. */
void hs_field_stats_release(struct hs_field_stats *s);
/* Drops every collection, keeps the limits and memory. */
void hs_field_stats_reset(struct hs_field_stats *s);

/* Counts one write / one read (see the table at the top). May evict the least active
 * collection, field or set. Halves the collection when its events reach halve_every. */
void hs_field_stats_record_write(struct hs_field_stats *s, const struct hs_fstat_write *w);
void hs_field_stats_record_read(struct hs_field_stats *s, const struct hs_fstat_read *r);

/* Halves every halved counter of every collection (what record_* does per collection). */
void hs_field_stats_halve(struct hs_field_stats *s);

/* Healer, after merging the gateways' snapshots (see "Pacing" above): every collection becomes
 * paced (an unpaced one at epoch 0); one whose since_writes reached halve_writes (>= 1) is halved
 * n = since_writes / halve_writes times (at most HS_FSTAT_HALVINGS_MAX), its epoch grows by n and
 * since_writes keeps the remainder. Returns how many collections were halved. */
uint32_t hs_field_stats_pace(struct hs_field_stats *s, uint64_t halve_writes);

/* Gateway: the cluster's epoch for collection coll (coll_len bytes). A paced collection below
 * epoch is halved epoch minus its epoch times (at most HS_FSTAT_HALVINGS_MAX) and takes it; an
 * unpaced one takes it without halving; at or above epoch, or not tracked: nothing. Returns
 * whether the collection was tracked. */
bool hs_field_stats_set_epoch(struct hs_field_stats *s, const char *coll, size_t coll_len,
                              uint64_t epoch);

/* Adds src into dst (see "Merge" above); dst keeps its limits. src is unchanged. */
void hs_field_stats_merge(struct hs_field_stats *dst, const struct hs_field_stats *src);

/* The tracked collection named coll (coll_len bytes), or NULL. Valid until s changes. */
const struct hs_fstat_coll *hs_field_stats_find(const struct hs_field_stats *s, const char *coll,
                                                size_t coll_len);
/* A collection's tracked field, or NULL. Valid until s changes. */
const struct hs_fstat_field *hs_fstat_coll_field(const struct hs_fstat_coll *c, const char *name,
                                                 size_t name_len);

/* Orders collections by count, fields by count, sets by count (descending; ties by name) so
 * encodings are deterministic. */
void hs_field_stats_sort(struct hs_field_stats *s);

/* Encodes s (sorted first: s is not const) with info as snapshot JSON: *out is a heap string
 * (free()), *out_len its length. HS_EINVAL (bad info), HS_ETOOBIG (over HS_FSTAT_JSON_MAX). */
enum hs_err hs_field_stats_encode(struct hs_field_stats *s, const struct hs_fstat_info *info,
                                  char **out, size_t *out_len);

/* Decodes a snapshot into out (an initialised sketch: reset first, its limits replaced by the
 * snapshot's) and *info (may be NULL). HS_EPROTO / HS_ECORRUPT as above; on error out is left
 * reset (empty) and info untouched. */
enum hs_err hs_field_stats_decode(const void *data, size_t len, struct hs_field_stats *out,
                                  struct hs_fstat_info *info, char *why, size_t why_len);
/* Adds a snapshot to *merged (an initialised sketch), as the healer and `layout show` merge the
 * gateways' statistics: the first snapshot (first = true) is decoded into merged and sets its
 * limits; later ones are decoded into a scratch sketch and merged. Errors as
 * hs_field_stats_decode (a failed first snapshot leaves merged reset); merged is untouched by
 * a failed later one. */
enum hs_err hs_field_stats_decode_merge(const void *data, size_t len, struct hs_field_stats *merged,
                                        bool first, char *why, size_t why_len);

#endif
