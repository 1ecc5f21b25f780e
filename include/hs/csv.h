/* csv.h - comma-separated lists of names ("a, b,,c"): the one place that decides how such a
 * list splits (field lists of options, layout pins, hot sets). Pure; thread-safe. */
#ifndef HS_CSV_H
#define HS_CSV_H

#include <stdbool.h>
#include <stddef.h>

/* The next non-empty item of the list at *p, with spaces and tabs trimmed from both ends:
 * *item points into the list and *len is its length; *p moves past it (NULL once the list is
 * used up). false when no item is left. Start with *p = the whole list:
 *     const char *p = csv, *a; size_t n; while (hs_csv_next(&p, &a, &n)) use(a, n); */
bool hs_csv_next(const char **p, const char **item, size_t *len);

#endif
