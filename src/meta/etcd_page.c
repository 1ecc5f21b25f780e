/* etcd_page.c - where the next page of a paged range should end. etcd 3.4 answers a range with a
 * limit only after walking every key between its start and its end (it counts them all), so a
 * scan that pages with open-ended ranges costs the square of the key count. A bounded page asks
 * for [start, end) with an end chosen to hold about one page of keys; etcd's count of the range
 * tells how well we guessed, and the next end follows from it.
 *
 * A key's position: below a base (its first depth bytes), the next 8 bytes read as a big-endian
 * number (shorter keys padded with zero bytes). The pace is that depth and a width in those
 * units. A full page teaches the local density (the span of its first and last key); a short
 * page, which held every key of its range, widens the next one (by up to 16x, 256x when it was
 * empty: an empty range says little). Pure code, no I/O: the scan loop is in etcd_kv.c. */
#include "meta/etcd_int.h"

#include <stdlib.h>
#include <string.h>

#include "hs/mem.h"
#include "hs/banned.h"

#define WIDEN_MAX       16.0
#define WIDEN_EMPTY     256.0
#define TOP_BYTE_UNIT   ((uint64_t)1 << 56)
#define WIDTH_SATURATED UINT64_MAX

/* Bytes [depth, depth + 8) of key as a big-endian number, zero-padded. */
static uint64_t position(const uint8_t *key, size_t len, size_t depth)
{
    uint64_t x = 0;
    for (size_t i = 0; i < 8; i++)
        x = (x << 8) | (depth + i < len ? key[depth + i] : 0);
    return x;
}

static size_t common_prefix(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    size_t n = 0;
    while (n < a_len && n < b_len && a[n] == b[n])
        n++;
    return n;
}

/* memcmp order, a shorter prefix first (etcd's key order). */
static int bytes_cmp(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    int c = memcmp(a, b, a_len < b_len ? a_len : b_len);
    if (c != 0)
        return c;
    return a_len < b_len ? -1 : a_len > b_len;
}

static uint64_t scale(uint64_t w, double f)
{
    double x = (double)w * f;
    if (x >= 18446744073709551615.0)
        return WIDTH_SATURATED;
    return x < 1.0 ? 1 : (uint64_t)x;
}

void hs_etcd_page_end(struct hs_etcd_pace *pace, const uint8_t *start, size_t start_len,
                      const uint8_t *final_end, size_t final_len, uint8_t **end, size_t *end_len)
{
    bool to_infinity = final_len == 1 && final_end[0] == 0; /* "\0": every key >= start */
    if (pace->width == 0) {
        /* unknown: the smallest step at the start key's last byte; widening finds the rest */
        pace->depth = start_len;
        pace->width = TOP_BYTE_UNIT;
    }
    if (pace->depth > start_len) { /* the base must be a prefix of start */
        size_t up = pace->depth - start_len;
        pace->width = up >= 8 ? 1 : (pace->width >> (8 * up)) + 1;
        pace->depth = start_len;
    }
    /* Move up a level while the span does not fit below the base: the same width, coarser. */
    uint64_t pos = position(start, start_len, pace->depth);
    while (pace->depth > 0 && pos > UINT64_MAX - pace->width) {
        pace->depth--;
        pace->width = (pace->width >> 8) + 1;
        pos = position(start, start_len, pace->depth);
    }
    uint8_t *out = NULL;
    size_t n = 0;
    if (pos > UINT64_MAX - pace->width) {
        out = NULL; /* depth 0 and still too wide: the rest of the range */
    } else {
        uint64_t x = pos + pace->width;
        out = hs_xmalloc(pace->depth + 8);
        memcpy(out, start, pace->depth);
        n = pace->depth;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)(x >> (8 * i));
        while (n > pace->depth && out[n - 1] == 0)
            n--; /* x > pos, so a nonzero byte past start's end (or above it) stays */
    }
    if (!out || (!to_infinity && bytes_cmp(out, n, final_end, final_len) >= 0)) {
        free(out);
        out = hs_xmalloc(final_len);
        memcpy(out, final_end, final_len);
        n = final_len;
    }
    *end = out;
    *end_len = n;
}

void hs_etcd_pace_full(struct hs_etcd_pace *pace, const uint8_t *start, size_t start_len,
                       const uint8_t *first, size_t first_len, const uint8_t *last, size_t last_len,
                       size_t n)
{
    /* n keys spanned [first, last]: n - 1 gaps; one page from last+1 wants about n more */
    const uint8_t *lo = n >= 2 ? first : start;
    size_t lo_len = n >= 2 ? first_len : start_len;
    size_t depth = common_prefix(lo, lo_len, last, last_len);
    uint64_t a = position(lo, lo_len, depth), b = position(last, last_len, depth);
    uint64_t span = b > a ? b - a : 1;
    pace->depth = depth;
    pace->width = n >= 2 ? scale(span, (double)n / (double)(n - 1)) : span;
}

void hs_etcd_pace_short(struct hs_etcd_pace *pace, size_t n, size_t limit)
{
    double f = WIDEN_EMPTY;
    if (n > 0) {
        f = (double)limit / (double)n;
        f = f < 1.0 ? 1.0 : (f > WIDEN_MAX ? WIDEN_MAX : f);
    }
    pace->width = scale(pace->width ? pace->width : TOP_BYTE_UNIT, f);
}
