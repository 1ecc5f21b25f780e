/* s3_checksum.h - the digests of an S3 upload, computed while it streams: MD5 (the ETag),
 * optionally SHA-256 (to verify a declared x-amz-content-sha256) and one flexible checksum
 * (x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256}); their S3 text forms (hex ETag,
 * base64 of the big-endian value), Content-MD5 and checksum header verification, and the
 * multipart combinations (ETag of ETags "hex-N", COMPOSITE checksum of checksums "base64-N",
 * FULL_OBJECT CRC combination). MD5/SHA come from OpenSSL's libcrypto, CRC32/CRC32C from ISA-L;
 * every ISA-L call leaves the upper vector state clean. No I/O, no allocation on the data path
 * after init. A hasher belongs to one thread at a time; the free functions are thread-safe.
 *
 * CRC parameters (RevEng names; check = value over "123456789"):
 *   CRC32      CRC-32/ISO-HDLC  poly 0x04C11DB7 reflected  check 0xCBF43926
 *   CRC32C     CRC-32/ISCSI     poly 0x1EDC6F41 reflected  check 0xE3069283
 *   CRC64NVME  CRC-64/NVME      poly 0xAD93D23594C93659 refl. check 0xAE8B14860A799888
 * S3 sends a checksum as the base64 of its big-endian bytes: CRC32 of "123456789" is
 * "y/Q5Jg==". */
#ifndef HS_S3_CHECKSUM_H
#define HS_S3_CHECKSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"
#include "hs/s3_err.h"

/* Digest algorithms. The flexible checksums are CRC32..SHA256; MD5 is here for the ETag and
 * Content-MD5 only (the name parsers never return it). Values are internal, never stored:
 * store hs_s3_cksum_name(). */
enum hs_s3_cksum_algo {
    HS_S3_CKSUM_NONE = 0,
    HS_S3_CKSUM_CRC32,
    HS_S3_CKSUM_CRC32C,
    HS_S3_CKSUM_CRC64NVME,
    HS_S3_CKSUM_SHA1,
    HS_S3_CKSUM_SHA256,
    HS_S3_CKSUM_MD5,
    HS_S3_CKSUM_COUNT_ /* keep last */
};

#define HS_S3_CKSUM_RAW_MAX 32 /* bytes of the largest digest (SHA-256) */
#define HS_S3_CKSUM_B64_MAX 45 /* base64 of HS_S3_CKSUM_RAW_MAX bytes + NUL */
/* "base64-10000" of the largest digest, + NUL */
#define HS_S3_CKSUM_COMPOSITE_MAX (HS_S3_CKSUM_B64_MAX + 6)
#define HS_S3_ETAG_MAX            48 /* "\"" + 32 hex + "-10000" + "\"" + NUL, rounded up */

/* Upper-case S3 name: "CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "MD5"; "" for NONE. */
const char *hs_s3_cksum_name(enum hs_s3_cksum_algo a);
/* Header / trailer name: "x-amz-checksum-crc32"...; NULL for NONE and MD5. */
const char *hs_s3_cksum_header(enum hs_s3_cksum_algo a);
/* XML element of CompleteMultipartUpload / responses: "ChecksumCRC32"...; NULL for NONE, MD5. */
const char *hs_s3_cksum_xml_name(enum hs_s3_cksum_algo a);
/* Raw digest size in bytes (4, 4, 8, 20, 32, 16); 0 for NONE. */
size_t hs_s3_cksum_size(enum hs_s3_cksum_algo a);
/* x-amz-checksum-algorithm / x-amz-sdk-checksum-algorithm value ("CRC32", case-insensitive)
 * -> a flexible algorithm. false for anything else (MD5 included). */
bool hs_s3_cksum_parse_name(const char *s, enum hs_s3_cksum_algo *out);
/* Header or trailer name ("x-amz-checksum-crc64nvme", case-insensitive) -> algorithm. false
 * for other names (x-amz-checksum-type, x-amz-checksum-mode and x-amz-checksum-algorithm
 * included). */
bool hs_s3_cksum_parse_header(const char *name, enum hs_s3_cksum_algo *out);

/* ---- Streaming ------------------------------------------------------------------------------ */

/* What to compute besides MD5 (always on). Zero value: MD5 only. */
struct hs_s3_hasher_opts {
    bool sha256;                /* also SHA-256 of the payload (declared hex payload hash) */
    enum hs_s3_cksum_algo flex; /* a flexible checksum, or NONE; SHA256 here shares the
                                   SHA-256 state with `sha256` */
};

struct hs_s3_hasher_state; /* private (src/s3/checksum.c) */

/* Init with hs_s3_hasher_init, update any number of times, then hs_s3_hasher_final; release
 * always. One thread at a time. */
struct hs_s3_hasher {
    struct hs_s3_hasher_state *st; /* owned */
};

/* All digests of one payload, raw big-endian bytes. */
struct hs_s3_digests {
    uint8_t md5[16];
    bool has_sha256;
    uint8_t sha256[32];
    enum hs_s3_cksum_algo flex; /* NONE when none was asked for */
    size_t flex_len;            /* hs_s3_cksum_size(flex) */
    uint8_t flex_raw[HS_S3_CKSUM_RAW_MAX];
    uint64_t bytes; /* payload bytes hashed */
};

/* HS_EINVAL when o->flex is MD5 or out of range. Allocates the state (released by
 * hs_s3_hasher_release, also after a failed init). o may be NULL (MD5 only). */
enum hs_err hs_s3_hasher_init(struct hs_s3_hasher *h, const struct hs_s3_hasher_opts *o);
/* Feeds len bytes (data may be NULL when len is 0). Any length. */
void hs_s3_hasher_update(struct hs_s3_hasher *h, const void *data, size_t len);
/* Finishes every digest into *out. The hasher must then be released (or re-inited). */
void hs_s3_hasher_final(struct hs_s3_hasher *h, struct hs_s3_digests *out);
/* Frees the state; h may be NULL or released already. */
void hs_s3_hasher_release(struct hs_s3_hasher *h);

/* One-shot digest of a buffer: writes hs_s3_cksum_size(a) bytes to out (a buffer of
 * HS_S3_CKSUM_RAW_MAX always fits). HS_EINVAL for NONE. */
enum hs_err hs_s3_cksum_compute(enum hs_s3_cksum_algo a, const void *data, size_t len,
                                uint8_t *out);

/* ---- Text forms and verification ------------------------------------------------------------ */

/* Standard base64 (with padding) of n raw bytes into out (4 * ceil(n / 3) chars + NUL). Returns
 * the length written. n <= HS_S3_CKSUM_RAW_MAX when out is HS_S3_CKSUM_B64_MAX bytes. */
size_t hs_s3_base64(const uint8_t *raw, size_t n, char *out);
/* Strict base64 decoding (padding required, no whitespace): true and *n_out when s decodes to
 * at most cap bytes. */
bool hs_s3_base64_decode(const char *s, size_t len, uint8_t *out, size_t cap, size_t *n_out);
/* Lower-case hex of n bytes into out (2n chars + NUL). */
void hs_s3_hex(const uint8_t *raw, size_t n, char *out);
/* Parses exactly 2*n hex digits (either case) into out. */
bool hs_s3_hex_decode(const char *s, size_t len, uint8_t *out, size_t n);
/* ETag of a single PUT or of a part: "\"<32 hex>\"" (quotes included). */
void hs_s3_etag(const uint8_t md5[16], char out[HS_S3_ETAG_MAX]);

/* Content-MD5 header value vs the computed MD5: HS_S3_OK when it matches, HS_S3_INVALID_DIGEST
 * when the header is not base64 of 16 bytes, HS_S3_BAD_DIGEST when it differs. */
enum hs_s3_err hs_s3_content_md5_check(const char *header, const uint8_t md5[16]);
/* A received checksum (base64, from a header or a trailer) vs the computed digest: HS_S3_OK,
 * HS_S3_INVALID_REQUEST when the value is not base64 of hs_s3_cksum_size(a) bytes (S3 answers
 * "Value for x-amz-checksum-... header is invalid."), HS_S3_BAD_DIGEST on mismatch. Constant
 * time. */
enum hs_s3_err hs_s3_cksum_check(enum hs_s3_cksum_algo a, const char *b64, const uint8_t *raw);
/* A declared x-amz-content-sha256 (raw) vs the computed SHA-256: HS_S3_OK or
 * HS_S3_CONTENT_SHA256_MISMATCH. Constant time. */
enum hs_s3_err hs_s3_sha256_check(const uint8_t declared[32], const uint8_t computed[32]);

/* ---- Multipart -----------------------------------------------------------------------------
 * COMPOSITE checksum (and the multipart ETag): the digest, with the same algorithm, of the
 * concatenated raw part digests in part order, rendered with "-N" (N = number of parts):
 *   ETag      "\"" hex(MD5(md5_1 || ... || md5_N)) "-N\""
 *   checksum  base64(ALG(c_1 || ... || c_N)) "-N"           (S3's x-amz-checksum-type COMPOSITE)
 * Usage: init with the part algorithm (MD5 for the ETag), add each part's raw digest in order,
 * then final. One thread at a time; release always. */
struct hs_s3_composite {
    struct hs_s3_hasher h; /* hashes the part digests */
    enum hs_s3_cksum_algo algo;
    uint32_t parts;
};
/* HS_EINVAL for NONE. Allocates (release with hs_s3_composite_release). */
enum hs_err hs_s3_composite_init(struct hs_s3_composite *c, enum hs_s3_cksum_algo a);
/* Adds one part's raw digest (hs_s3_cksum_size(algo) bytes). */
void hs_s3_composite_add(struct hs_s3_composite *c, const uint8_t *part_raw);
/* For MD5: the quoted multipart ETag into out (HS_S3_ETAG_MAX). Otherwise "base64-N" into out
 * (HS_S3_CKSUM_COMPOSITE_MAX). raw_out (may be NULL) receives the raw digest of the digests. */
void hs_s3_composite_final(struct hs_s3_composite *c, char *out, uint8_t *raw_out);
void hs_s3_composite_release(struct hs_s3_composite *c);

/* FULL_OBJECT checksum of a multipart upload for the CRC algorithms: the CRC of A||B from
 * crc(A) and crc(B) (raw big-endian, hs_s3_cksum_size(a) bytes each) and len(B). Lets Complete
 * compute the whole-object CRC (what CRC64NVME uploads and aws-cli >= 2.23 expect) without
 * reading the data again. HS_EINVAL for non-CRC algorithms. */
enum hs_err hs_s3_cksum_crc_combine(enum hs_s3_cksum_algo a, const uint8_t *crc_a,
                                    const uint8_t *crc_b, uint64_t len_b, uint8_t *out);

#endif
