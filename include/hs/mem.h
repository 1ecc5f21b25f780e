/* mem.h - allocation that never returns NULL: on out-of-memory it logs and aborts (the
 * supervisor restarts the daemon and the healer repairs what was lost). */
#ifndef HS_MEM_H
#define HS_MEM_H

#include <stddef.h>

void *hs_xmalloc(size_t n);
void *hs_xcalloc(size_t count, size_t size);
void *hs_xrealloc(void *p, size_t n);
char *hs_xstrdup(const char *s);
char *hs_xstrndup(const char *s, size_t n);
/* 64-byte aligned (ISA-L, cache lines); free with free(). n may be 0. */
void *hs_xaligned_alloc(size_t n);
/* printf into a new heap string. */
char *hs_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define HS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define HS_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define HS_MAX(a, b)    ((a) > (b) ? (a) : (b))

#endif
