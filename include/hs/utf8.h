/* utf8.h - strict UTF-8 decoding (RFC 3629 §4): the one place that decides what a valid
 * sequence is, for object keys, JSON output and anything else that must reject overlongs,
 * surrogates and code points above U+10FFFF. */
#ifndef HS_UTF8_H
#define HS_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one sequence at s (n >= 1 bytes left): returns its length (1-4) and stores the code
 * point in *cp (may be NULL), or returns 0 when s does not start with the shortest encoding of
 * a Unicode scalar value. */
size_t hs_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

#endif
