/* codec_int.h - declarations private to src/codec: the vector-state cleanup every ISA-L call
 * is followed by, and scratch growth. */
#ifndef HS_CODEC_INT_H
#define HS_CODEC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "hs/codec.h"

/* Clears the upper halves of the vector registers after ISA-L, which leaves them dirty (no
 * vzeroupper in 2.30): legacy-SSE code that follows in this thread would otherwise pay a state
 * transition penalty (measured 4x on XXH3). A no-op on CPUs without AVX, so the binary stays
 * portable. */
void hs_codec_vector_cleanup(void);

/* Makes s->cap >= bytes (contents not kept) and returns s->mem. */
uint8_t *hs_codec_scratch_reserve(struct hs_codec_scratch *s, size_t bytes);

#endif
