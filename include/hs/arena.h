/* arena.h - one arena per request: many small allocations freed at once, plus deferred
 * cleanups (curl handles, fds, jansson values) run in reverse order when the arena is freed.
 * Not thread-safe. Large data (objects, shards) belongs in struct hs_buf, not here. */
#ifndef HS_ARENA_H
#define HS_ARENA_H

#include <stddef.h>

struct hs_arena;
typedef void hs_cleanup_fn(void *p);

struct hs_arena *hs_arena_new(void);
/* Runs the deferred cleanups (last registered first), then frees all memory. NULL is fine. */
void hs_arena_free(struct hs_arena *a);
/* Zeroed, 16-byte aligned memory valid until hs_arena_free. Never NULL (aborts on OOM). */
void *hs_arena_alloc(struct hs_arena *a, size_t n);
char *hs_arena_strdup(struct hs_arena *a, const char *s);
char *hs_arena_strndup(struct hs_arena *a, const char *s, size_t n);
char *hs_arena_printf(struct hs_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Registers fn(p) to run at hs_arena_free. */
void hs_arena_defer(struct hs_arena *a, hs_cleanup_fn *fn, void *p);

#endif
