/* field_stats_int.h - helpers shared by field_stats.c and field_stats_json.c (not a contract:
 * see include/hs/field_stats.h). */
#ifndef HS_FIELD_STATS_INT_H
#define HS_FIELD_STATS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/field_stats.h"

/* FNV-1a 64 of len bytes, continuing from h. */
uint64_t hs_fstat_hash(const void *p, size_t len, uint64_t h);
/* The hash a field or collection name of len bytes is stored under. */
uint64_t hs_fstat_name_hash(const char *name, size_t len);
/* The hash a set is stored under (names and more). */
uint64_t hs_fstat_set_hash(const struct hs_fstat_set *t);
/* limits with defaults filled in; HS_EINVAL out of range (out untouched). */
enum hs_err hs_fstat_limits_fill(const struct hs_fstat_limits *in, struct hs_fstat_limits *out);
/* A collection slot with empty arrays sized by l, named (copied) name. */
void hs_fstat_coll_alloc(const struct hs_fstat_limits *l, struct hs_fstat_coll *c, const char *name,
                         size_t len);
void hs_fstat_coll_release(struct hs_fstat_coll *c);
void hs_fstat_set_release(struct hs_fstat_set *t);
bool hs_fstat_set_equal(const struct hs_fstat_set *a, const struct hs_fstat_set *b);
/* Deep copy (names duplicated). */
void hs_fstat_set_copy(struct hs_fstat_set *dst, const struct hs_fstat_set *src);
/* Total order on sets by names then more. */
int hs_fstat_set_cmp(const struct hs_fstat_set *a, const struct hs_fstat_set *b);
/* Sorts one collection's fields and sets (descending count). */
void hs_fstat_coll_sort(struct hs_fstat_coll *c);

#endif
