/* csv.c - comma-separated lists of names (csv.h). */
#include "hs/csv.h"

#include <string.h>

#include "hs/banned.h"

bool hs_csv_next(const char **p, const char **item, size_t *len)
{
    const char *s = *p;
    while (s) {
        const char *end = strchr(s, ',');
        if (!end)
            end = s + strlen(s);
        const char *a = s, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        s = *end ? end + 1 : NULL;
        if (b > a) {
            *item = a;
            *len = (size_t)(b - a);
            *p = s;
            return true;
        }
    }
    *p = NULL;
    return false;
}
