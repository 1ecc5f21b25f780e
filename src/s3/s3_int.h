/* s3_int.h - declarations private to the s3 module (src/s3), shared by its files and its unit
 * tests: the CRC primitives, the vector-state cleanup after ISA-L, and the SigV4 canonical
 * forms (exposed so that tests can check each step). */
#ifndef HS_S3_INT_H
#define HS_S3_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/buf.h"
#include "hs/s3_checksum.h"
#include "hs/s3_sigv4.h"

/* Clears the upper vector state after an ISA-L call (ISA-L 2.30 never runs vzeroupper). */
void hs_s3_vector_cleanup(void);
/* CRC-32/ISO-HDLC with zlib-style chaining: hs_s3_crc32(0, "123456789", 9) == 0xCBF43926. */
uint32_t hs_s3_crc32(uint32_t crc, const void *data, size_t len);
/* CRC-64/NVME with the same chaining: check 0xAE8B14860A799888. */
uint64_t hs_s3_crc64nvme(uint64_t crc, const void *data, size_t len);

/* MD5, SHA-1 or SHA-256 as an explicitly fetched OpenSSL digest (crypto.c); NULL for others. */
const struct evp_md_st *hs_s3_md(enum hs_s3_cksum_algo a);
/* SHA-256 and HMAC-SHA-256 (OpenSSL, without per-call fetches). Thread-safe. */
void hs_s3_sha256(const void *data, size_t len, uint8_t out[32]);
void hs_s3_hmac_sha256(const uint8_t *key, size_t key_len, const void *msg, size_t len,
                       uint8_t out[32]);

/* Appends the canonical URI of a raw path ("/b/k%20x"): decoded once, re-encoded with '/' kept.
 * HS_ETOOBIG past out's cap. */
enum hs_err hs_s3_sigv4_canonical_uri(struct hs_buf *out, const char *path, size_t len);
/* Appends the canonical query string of a raw query (no '?'), every parameter decoded and
 * re-encoded, sorted by name then value; skip (may be NULL) names one parameter left out
 * (X-Amz-Signature). HS_ETOOBIG past the cap; HS_EINVAL for more than 1024 parameters. */
enum hs_err hs_s3_sigv4_canonical_query(struct hs_buf *out, const char *query, size_t len,
                                        const char *skip);
/* A header value as SigV4 canonicalises it: leading/trailing spaces and tabs trimmed, inner
 * runs collapsed to one space. Appends to out. */
enum hs_err hs_s3_sigv4_canonical_value(struct hs_buf *out, const char *v, size_t len);

#endif
