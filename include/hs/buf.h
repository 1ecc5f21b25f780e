/* buf.h - a growable byte buffer, 64-byte aligned for ISA-L, with a hard cap so that a
 * request can never grow one past its budget. Object and shard data live here, never in arenas.
 * Not thread-safe; the owner frees it. */
#ifndef HS_BUF_H
#define HS_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"

struct hs_buf {
    uint8_t *data;    /* 64-byte aligned, NULL until the first reservation */
    size_t len;       /* bytes in use */
    size_t cap;       /* bytes allocated */
    size_t max_bytes; /* growth limit; 0 = unlimited */
};

/* Empty buffer that may grow up to max_bytes (0 = unlimited). Allocates nothing. */
void hs_buf_init(struct hs_buf *b, size_t max_bytes);
/* Frees the memory; b may be NULL. */
void hs_buf_release(struct hs_buf *b);
/* Ensures cap >= len + extra. HS_ETOOBIG when that would pass max_bytes. */
enum hs_err hs_buf_reserve(struct hs_buf *b, size_t extra);
/* Appends n bytes. HS_ETOOBIG past max_bytes (b unchanged). */
enum hs_err hs_buf_append(struct hs_buf *b, const void *p, size_t n);
/* Appends a printf-formatted string (no NUL counted in len, but data[len] is NUL). */
enum hs_err hs_buf_printf(struct hs_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* len = 0, memory kept. */
void hs_buf_reset(struct hs_buf *b);
/* Hands the memory to the caller (free() it); b becomes empty. */
uint8_t *hs_buf_detach(struct hs_buf *b, size_t *len_out);

#endif
