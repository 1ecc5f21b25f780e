/* arena.c - bump allocator in chained blocks plus a cleanup stack. Big requests get a block
 * of their own so a single large allocation does not waste a standard block. */
#include "hs/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define ARENA_BLOCK_BYTES 4096

struct arena_block {
    struct arena_block *next;
    size_t used; /* bytes used in data */
    size_t cap;  /* bytes in data */
    _Alignas(16) unsigned char data[];
};

struct arena_cleanup {
    struct arena_cleanup *next;
    hs_cleanup_fn *fn;
    void *p;
};

struct hs_arena {
    struct arena_block *blocks;     /* newest first */
    struct arena_cleanup *cleanups; /* newest first: run in that order */
};

struct hs_arena *hs_arena_new(void)
{
    return hs_xcalloc(1, sizeof(struct hs_arena));
}

void hs_arena_free(struct hs_arena *a)
{
    if (!a)
        return;
    /* cleanups live in the arena's own blocks, so run them all before freeing blocks */
    for (struct arena_cleanup *c = a->cleanups; c; c = c->next)
        c->fn(c->p);
    struct arena_block *b = a->blocks;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void *hs_arena_alloc(struct hs_arena *a, size_t n)
{
    if (n > SIZE_MAX / 2)
        HS_BUG("arena allocation of %zu bytes", n); /* (n + 15) and the block header would wrap */
    size_t need = (n + 15) & ~(size_t)15;
    if (need == 0)
        need = 16;
    struct arena_block *b = a->blocks;
    if (!b || b->cap - b->used < need) {
        size_t cap = need > ARENA_BLOCK_BYTES / 4 ? need : ARENA_BLOCK_BYTES;
        struct arena_block *nb = hs_xmalloc(sizeof *nb + cap);
        nb->used = 0;
        nb->cap = cap;
        if (cap == need && b) {
            /* dedicated block: keep the current one first so small allocations continue there */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->blocks = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    memset(p, 0, n);
    return p;
}

char *hs_arena_strndup(struct hs_arena *a, const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = hs_arena_alloc(a, len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *hs_arena_strdup(struct hs_arena *a, const char *s)
{
    return hs_arena_strndup(a, s, strlen(s));
}

char *hs_arena_printf(struct hs_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *s = hs_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void hs_arena_defer(struct hs_arena *a, hs_cleanup_fn *fn, void *p)
{
    struct arena_cleanup *c = hs_arena_alloc(a, sizeof *c);
    c->fn = fn;
    c->p = p;
    c->next = a->cleanups;
    a->cleanups = c;
}
