/* layout.h - the per-collection layout record (value of layout/<collection>): which top-level
 * fields of the collection's field_hybrid documents are hot, the operator's pins and mode, and
 * the healer's decision state (why, when, and the hysteresis it must keep across fail-over).
 * Pure data: JSON codec and validation, the etcd key, and the rule that gives a gateway the hot
 * set to split with (hs_layout_effective_hot). No etcd I/O here; the healer decides
 * (src/healer/layout_decide.c), gateways watch the records.
 *
 * A collection is a key prefix (the gateway's rule; by default up to and including the first
 * ':' or '/'). A collection without a record, or whose record has epoch 0, splits with the
 * cluster-wide hot-fields setting (config/hot-fields).
 *
 * Layout record JSON, format version 1 (compact, one object, members in this order; no other
 * member is accepted; integers are JSON integers):
 *
 * | field        | type   | meaning                                                         |
 * |--------------|--------|-----------------------------------------------------------------|
 * | v            | int    | format version, 1 (another value: HS_EPROTO on decode)          |
 * | coll         | string | the collection (equals the <collection> of the etcd key)        |
 * | epoch        | int    | 0 = no hot set decided (use config/hot-fields); else >= 1, +1   |
 * |              |        | every time `hot` changes                                        |
 * | mode         | string | "adaptive" (the healer decides) \| "static" (it never changes   |
 * |              |        | `hot`; only an operator does)                                   |
 * | hot          | fields | the decided hot set (epoch >= 1); [] with epoch 0                |
 * | pin_hot      | fields | always hot, whatever the decision                               |
 * | pin_cold     | fields | never hot; disjoint from pin_hot and from hot                   |
 * | decided_ms   | int    | wall clock ms when `hot` last changed (0 = never), >= 0         |
 * | reason       | string | one line, why `hot` is what it is (0..HS_LAYOUT_REASON_MAX bytes)|
 * | pending      | fields | hysteresis: the candidate that beat `hot` in the last rounds    |
 * | pending_n    | int    | rounds in a row `pending` has won, 0..1000 (0: none pending)    |
 * | pending_ms   | int    | wall clock ms of the first of those rounds, >= 0                |
 * | pending_gain | int    | bytes the candidate is estimated to have saved since pending_ms  |
 * |              |        | (ski-rental: a change is made once this pays its migration), >= 0|
 * | round_ms     | int    | wall clock ms of the healer's last decision round, >= 0         |
 * | round_writes | int    | the collection's write count in the merged statistics at that   |
 * |              |        | round (the next round counts the writes since), >= 0            |
 *
 * `fields` is an array of at most HS_LAYOUT_FIELDS_MAX distinct strings in ascending byte order,
 * each a top-level field name of 1..HS_LAYOUT_FIELD_MAX bytes of valid UTF-8 without U+0000.
 * Rules between members: pin_hot and pin_cold are disjoint; with epoch >= 1 hot holds every
 * pinned hot field and no pinned cold one; with epoch 0 hot is empty; pending_n 0 means pending
 * is empty.
 *
 * The hot set a gateway splits a collection's documents with (hs_layout_effective_hot):
 *   (epoch >= 1 ? hot : the cluster default) + pin_hot - pin_cold.
 *
 * Who writes: the elected healer (decision and hysteresis members, fenced, compare on the
 * record's mod_revision) and the operator's `hybridstore layout pin` (pins and mode, compare on
 * the mod_revision it read); each keeps the other's members. A record never holds object data:
 * losing it only means collections fall back to the default.
 *
 * Errors: decode gives HS_EPROTO for an unknown "v" (a newer writer: leave the record alone)
 * and HS_ECORRUPT for anything else that is not a valid record; validate and encode give
 * HS_EINVAL for a struct breaking a rule above, encode HS_ETOOBIG over HS_LAYOUT_ENCODED_MAX.
 * Functions taking `why` write a one-line reason there on failure (when not NULL).
 *
 * Memory: structs own every pointer (heap); _release frees them and leaves a zeroed struct.
 * Thread-safety: all functions are reentrant and never block. */
#ifndef HS_LAYOUT_H
#define HS_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"

#define HS_LAYOUT_RECORD_VERSION 1
#define HS_LAYOUT_FIELDS_MAX     64                   /* names in one fields list */
#define HS_LAYOUT_FIELD_MAX      200                  /* bytes of one field name */
#define HS_LAYOUT_COLLECTION_MAX 256                  /* bytes of a collection name */
#define HS_LAYOUT_REASON_MAX     1024                 /* bytes of reason */
#define HS_LAYOUT_PENDING_N_MAX  1000                 /* pending_n */
#define HS_LAYOUT_ENCODED_MAX    ((size_t)256 * 1024) /* bytes of encoded JSON */

enum hs_layout_mode {
    HS_LAYOUT_ADAPTIVE = 1, /* "adaptive" */
    HS_LAYOUT_STATIC = 2,   /* "static" */
};

/* A set of field names: sorted ascending by bytes (strcmp), no duplicates. */
struct hs_layout_fields {
    char **names; /* heap array of heap strings; NULL when n is 0 */
    size_t n;
};

struct hs_layout_record {
    char *collection; /* heap */
    int64_t epoch;    /* 0 = undecided */
    enum hs_layout_mode mode;
    struct hs_layout_fields hot;
    struct hs_layout_fields pin_hot;
    struct hs_layout_fields pin_cold;
    int64_t decided_ms; /* wall clock ms, 0 = never */
    char *reason;       /* heap, never NULL in a valid record ("" is fine) */
    /* hysteresis, kept here so that a new leader continues where the old one stopped */
    struct hs_layout_fields pending;
    int32_t pending_n;          /* consecutive rounds pending won */
    int64_t pending_ms;         /* wall clock ms of the first of them */
    int64_t pending_gain_bytes; /* estimated bytes saved since pending_ms */
    int64_t round_ms;           /* wall clock ms of the last decision round */
    int64_t round_writes;       /* merged write count seen at that round */
};

/* "adaptive", "static"; NULL for any other value. */
const char *hs_layout_mode_name(enum hs_layout_mode m);
/* Exact names above; false (out untouched) otherwise. */
bool hs_layout_mode_parse(const char *text, enum hs_layout_mode *out);

/* 1..HS_LAYOUT_FIELD_MAX bytes of valid UTF-8 (NUL-terminated, so no U+0000). */
bool hs_layout_field_name_valid(const char *name);
/* 1..HS_LAYOUT_COLLECTION_MAX bytes following the object key rule (manifest.h). */
bool hs_layout_collection_valid(const char *collection);
/* Heap etcd key HS_META_PREFIX_LAYOUT<collection> (free()). HS_EINVAL (out untouched) for an
 * invalid collection. */
enum hs_err hs_meta_key_layout(const char *collection, char **out);

/* ---- field sets ---- */

void hs_layout_fields_release(struct hs_layout_fields *f);
/* Replaces f by a sorted, de-duplicated copy of names[0..n). HS_EINVAL (f untouched) when a
 * name is invalid or more than HS_LAYOUT_FIELDS_MAX distinct names remain. */
enum hs_err hs_layout_fields_set(struct hs_layout_fields *f, const char *const *names, size_t n);
/* Same from "a,b,c" (names trimmed of spaces and tabs, empty ones dropped; "" is the empty
 * set). Field names holding ',' cannot be written this way. */
enum hs_err hs_layout_fields_parse_csv(struct hs_layout_fields *f, const char *csv);
/* "a,b,c" (heap, free()); "" for the empty set. */
char *hs_layout_fields_csv(const struct hs_layout_fields *f);
/* Deep copy; dst's old contents released. */
void hs_layout_fields_copy(struct hs_layout_fields *dst, const struct hs_layout_fields *src);
bool hs_layout_fields_contains(const struct hs_layout_fields *f, const char *name);
bool hs_layout_fields_equal(const struct hs_layout_fields *a, const struct hs_layout_fields *b);
/* out = a + b - minus (b and minus may be NULL), sorted and unique; no HS_LAYOUT_FIELDS_MAX cap
 * (a record's lists are capped by validate). out may not alias a, b or minus; its old contents
 * are released. */
void hs_layout_fields_combine(const struct hs_layout_fields *a, const struct hs_layout_fields *b,
                              const struct hs_layout_fields *minus, struct hs_layout_fields *out);

/* ---- records ---- */

/* Zeroes r (mode adaptive, reason ""): what a collection without a record behaves like. */
void hs_layout_record_init(struct hs_layout_record *r);
void hs_layout_record_release(struct hs_layout_record *r);
/* Deep copy; dst's old contents released. */
void hs_layout_record_copy(struct hs_layout_record *dst, const struct hs_layout_record *src);
/* Checks every rule above. HS_EINVAL with a reason. */
enum hs_err hs_layout_record_validate(const struct hs_layout_record *r, char *why, size_t why_len);
/* Validates, then compact JSON into *out (heap, NUL-terminated, free()) and *len_out. */
enum hs_err hs_layout_record_encode(const struct hs_layout_record *r, char **out, size_t *len_out,
                                    char *why, size_t why_len);
/* Parses and validates len bytes (need not be NUL-terminated). out untouched on failure, owned
 * by the caller on success. Never crashes or leaks on any input. */
enum hs_err hs_layout_record_decode(const void *data, size_t len, struct hs_layout_record *out,
                                    char *why, size_t why_len);

/* The hot set to split the collection's documents with: (r && r->epoch >= 1 ? r->hot : deflt)
 * + pin_hot - pin_cold. r NULL = no record. out's old contents released. */
void hs_layout_effective_hot(const struct hs_layout_record *r, const struct hs_layout_fields *deflt,
                             struct hs_layout_fields *out);

/* The top-level fields of a field_hybrid object as its manifest's order record (manifest.h
 * "order", split.h "Order record") says: the names (unescaped) in its hot part and in its cold
 * part (its live members: shadows are not fields), sorted, without the HS_LAYOUT_FIELDS_MAX
 * cap. Names a layout cannot hold (over
 * HS_LAYOUT_FIELD_MAX bytes, or holding U+0000) are left out. hot and cold are replaced;
 * HS_ECORRUPT (both untouched) when order_json is not an array of flagged strings. */
enum hs_err hs_layout_object_fields(const char *order_json, struct hs_layout_fields *hot,
                                    struct hs_layout_fields *cold);

#endif
