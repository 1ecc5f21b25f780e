/* buf.c - aligned, capped, growable byte buffers. Growth doubles (bounded by max_bytes) so
 * appends are amortised O(1); aligned realloc does not exist, so growth copies. */
#include "hs/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/mem.h"
#include "hs/banned.h"

void hs_buf_init(struct hs_buf *b, size_t max_bytes)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max_bytes = max_bytes;
}

void hs_buf_release(struct hs_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

enum hs_err hs_buf_reserve(struct hs_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return HS_ETOOBIG;
    size_t need = b->len + extra;
    if (b->max_bytes && need > b->max_bytes)
        return HS_ETOOBIG;
    /* +1 keeps room for the NUL that hs_buf_printf leaves after len */
    if (need + 1 <= b->cap)
        return HS_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need + 1)
        cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
    if (b->max_bytes && b->max_bytes < SIZE_MAX && cap > b->max_bytes + 1)
        cap = b->max_bytes + 1;
    uint8_t *d = hs_xaligned_alloc(cap);
    if (b->len)
        memcpy(d, b->data, b->len);
    free(b->data);
    b->data = d;
    b->cap = cap;
    return HS_OK;
}

enum hs_err hs_buf_append(struct hs_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return HS_OK;
    enum hs_err err = hs_buf_reserve(b, n);
    if (err != HS_OK)
        return err;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return HS_OK;
}

enum hs_err hs_buf_printf(struct hs_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return HS_EINVAL;
    enum hs_err err = hs_buf_reserve(b, (size_t)n);
    if (err != HS_OK)
        return err;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return HS_OK;
}

void hs_buf_reset(struct hs_buf *b)
{
    b->len = 0;
}

uint8_t *hs_buf_detach(struct hs_buf *b, size_t *len_out)
{
    uint8_t *d = b->data;
    if (len_out)
        *len_out = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return d;
}
