/* mem.c - allocation wrappers that abort on out-of-memory (see mem.h for why). */
#include "hs/mem.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/log.h"
#include "hs/banned.h"

static void *check(void *p, size_t n)
{
    if (!p && n)
        HS_BUG("out of memory allocating %zu bytes", n);
    return p;
}

void *hs_xmalloc(size_t n)
{
    return check(malloc(n ? n : 1), n ? n : 1);
}

void *hs_xcalloc(size_t count, size_t size)
{
    if (count == 0 || size == 0)
        return check(calloc(1, 1), 1);
    /* calloc refuses an overflowing product; report it as a failed allocation (a wrapped
     * product of 0 would otherwise slip through check() and return NULL) */
    if (count > SIZE_MAX / size)
        HS_BUG("out of memory allocating %zu x %zu bytes", count, size);
    return check(calloc(count, size), count * size);
}

void *hs_xrealloc(void *p, size_t n)
{
    return check(realloc(p, n ? n : 1), n ? n : 1);
}

char *hs_xstrdup(const char *s)
{
    return hs_xstrndup(s, strlen(s));
}

char *hs_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = hs_xmalloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void *hs_xaligned_alloc(size_t n)
{
    void *p = NULL;
    if (n > SIZE_MAX - 63)
        HS_BUG("out of memory allocating %zu aligned bytes", n);
    size_t rounded = (n + 63) & ~(size_t)63;
    if (rounded == 0)
        rounded = 64;
    if (posix_memalign(&p, 64, rounded) != 0)
        HS_BUG("out of memory allocating %zu aligned bytes", rounded);
    return p;
}

char *hs_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        HS_BUG("out of memory formatting '%s'", fmt);
    return s;
}
