/* checksum.c - streaming MD5 / SHA-256 / flexible checksums of S3 uploads and their text forms.
 * MD5, SHA-1 and SHA-256 are OpenSSL EVP digests; CRC32 is ISA-L's crc32_gzip_refl and CRC32C
 * ISA-L's crc32_iscsi through hs_crc32c. CRC-64/NVME is ISA-L's crc64_rocksoft_refl when the
 * installed ISA-L has it (2.31+); Debian 12's 2.30 does not, so crc64nvme.c supplies it.
 * Every ISA-L call here is followed by a vzeroupper (s3_int.h). */
#include "s3_int.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <isa-l/crc.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "hs/codec.h"
#include "hs/s3_util.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

struct algo_row {
    const char *name;   /* x-amz-checksum-algorithm value */
    const char *header; /* header / trailer name */
    const char *xml;    /* CompleteMultipartUpload element */
    size_t size;        /* raw bytes */
};

static const struct algo_row algos[HS_S3_CKSUM_COUNT_] = {
    [HS_S3_CKSUM_NONE] = {"", NULL, NULL, 0},
    [HS_S3_CKSUM_CRC32] = {"CRC32", "x-amz-checksum-crc32", "ChecksumCRC32", 4},
    [HS_S3_CKSUM_CRC32C] = {"CRC32C", "x-amz-checksum-crc32c", "ChecksumCRC32C", 4},
    [HS_S3_CKSUM_CRC64NVME] = {"CRC64NVME", "x-amz-checksum-crc64nvme", "ChecksumCRC64NVME", 8},
    [HS_S3_CKSUM_SHA1] = {"SHA1", "x-amz-checksum-sha1", "ChecksumSHA1", 20},
    [HS_S3_CKSUM_SHA256] = {"SHA256", "x-amz-checksum-sha256", "ChecksumSHA256", 32},
    [HS_S3_CKSUM_MD5] = {"MD5", NULL, NULL, 16},
};

static bool algo_ok(enum hs_s3_cksum_algo a)
{
    return (unsigned)a < HS_S3_CKSUM_COUNT_;
}

const char *hs_s3_cksum_name(enum hs_s3_cksum_algo a)
{
    return algo_ok(a) ? algos[a].name : "";
}

const char *hs_s3_cksum_header(enum hs_s3_cksum_algo a)
{
    return algo_ok(a) ? algos[a].header : NULL;
}

const char *hs_s3_cksum_xml_name(enum hs_s3_cksum_algo a)
{
    return algo_ok(a) ? algos[a].xml : NULL;
}

size_t hs_s3_cksum_size(enum hs_s3_cksum_algo a)
{
    return algo_ok(a) ? algos[a].size : 0;
}

bool hs_s3_cksum_parse_name(const char *s, enum hs_s3_cksum_algo *out)
{
    if (s == NULL)
        return false;
    for (unsigned i = HS_S3_CKSUM_CRC32; i <= HS_S3_CKSUM_SHA256; i++) {
        if (strcasecmp(s, algos[i].name) == 0) {
            *out = (enum hs_s3_cksum_algo)i;
            return true;
        }
    }
    return false;
}

bool hs_s3_cksum_parse_header(const char *name, enum hs_s3_cksum_algo *out)
{
    if (name == NULL)
        return false;
    for (unsigned i = HS_S3_CKSUM_CRC32; i <= HS_S3_CKSUM_SHA256; i++) {
        if (strcasecmp(name, algos[i].header) == 0) {
            *out = (enum hs_s3_cksum_algo)i;
            return true;
        }
    }
    return false;
}

/* ---- One running digest ---------------------------------------------------------------------- */

struct one {
    enum hs_s3_cksum_algo a;
    uint32_t crc32;
    uint64_t crc64;
    EVP_MD_CTX *md; /* MD5 / SHA-1 / SHA-256 */
};

static const EVP_MD *evp_of(enum hs_s3_cksum_algo a)
{
    return hs_s3_md(a); /* fetched once (crypto.c) */
}

static void one_init(struct one *o, enum hs_s3_cksum_algo a)
{
    memset(o, 0, sizeof *o);
    o->a = a;
    const EVP_MD *md = evp_of(a);
    if (md != NULL) {
        o->md = EVP_MD_CTX_new();
        if (o->md == NULL || EVP_DigestInit_ex(o->md, md, NULL) != 1)
            HS_BUG("cannot initialise the %s digest", algos[a].name);
    }
}

uint32_t hs_s3_crc32(uint32_t crc, const void *data, size_t len)
{
    if (len == 0)
        return crc;
    crc = crc32_gzip_refl(crc, data, len);
    hs_s3_vector_cleanup();
    return crc;
}

static void one_update(struct one *o, const void *data, size_t len)
{
    switch (o->a) {
    case HS_S3_CKSUM_CRC32:
        o->crc32 = hs_s3_crc32(o->crc32, data, len);
        break;
    case HS_S3_CKSUM_CRC32C:
        o->crc32 = hs_crc32c(o->crc32, data, len);
        break;
    case HS_S3_CKSUM_CRC64NVME:
        o->crc64 = hs_s3_crc64nvme(o->crc64, data, len);
        break;
    case HS_S3_CKSUM_MD5:
    case HS_S3_CKSUM_SHA1:
    case HS_S3_CKSUM_SHA256:
        if (len > 0 && EVP_DigestUpdate(o->md, data, len) != 1)
            HS_BUG("digest update failed");
        break;
    default:
        break;
    }
}

static void put_be(uint8_t *out, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void one_final(struct one *o, uint8_t *out)
{
    unsigned n = 0;
    switch (o->a) {
    case HS_S3_CKSUM_CRC32:
    case HS_S3_CKSUM_CRC32C:
        put_be(out, o->crc32, 4);
        break;
    case HS_S3_CKSUM_CRC64NVME:
        put_be(out, o->crc64, 8);
        break;
    case HS_S3_CKSUM_MD5:
    case HS_S3_CKSUM_SHA1:
    case HS_S3_CKSUM_SHA256:
        if (EVP_DigestFinal_ex(o->md, out, &n) != 1)
            HS_BUG("digest final failed");
        break;
    default:
        break;
    }
}

static void one_release(struct one *o)
{
    EVP_MD_CTX_free(o->md);
    o->md = NULL;
}

/* ---- The hasher ------------------------------------------------------------------------------ */

struct hs_s3_hasher_state {
    struct one md5;
    struct one sha256; /* a == NONE when not asked for */
    struct one flex;   /* a == NONE when none, or when flex is SHA256 (shares sha256) */
    enum hs_s3_cksum_algo flex_algo;
    uint64_t bytes;
};

enum hs_err hs_s3_hasher_init(struct hs_s3_hasher *h, const struct hs_s3_hasher_opts *o)
{
    struct hs_s3_hasher_opts none = {0};
    if (o == NULL)
        o = &none;
    h->st = NULL;
    if (!algo_ok(o->flex) || o->flex == HS_S3_CKSUM_MD5)
        return HS_EINVAL;
    struct hs_s3_hasher_state *st = hs_xcalloc(1, sizeof *st);
    one_init(&st->md5, HS_S3_CKSUM_MD5);
    bool sha = o->sha256 || o->flex == HS_S3_CKSUM_SHA256;
    one_init(&st->sha256, sha ? HS_S3_CKSUM_SHA256 : HS_S3_CKSUM_NONE);
    one_init(&st->flex, o->flex == HS_S3_CKSUM_SHA256 ? HS_S3_CKSUM_NONE : o->flex);
    st->flex_algo = o->flex;
    h->st = st;
    return HS_OK;
}

void hs_s3_hasher_update(struct hs_s3_hasher *h, const void *data, size_t len)
{
    struct hs_s3_hasher_state *st = h->st;
    assert(st != NULL);
    one_update(&st->md5, data, len);
    one_update(&st->sha256, data, len);
    one_update(&st->flex, data, len);
    st->bytes += len;
}

void hs_s3_hasher_final(struct hs_s3_hasher *h, struct hs_s3_digests *out)
{
    struct hs_s3_hasher_state *st = h->st;
    assert(st != NULL);
    memset(out, 0, sizeof *out);
    one_final(&st->md5, out->md5);
    if (st->sha256.a == HS_S3_CKSUM_SHA256) {
        one_final(&st->sha256, out->sha256);
        out->has_sha256 = true;
    }
    out->flex = st->flex_algo;
    out->flex_len = hs_s3_cksum_size(st->flex_algo);
    if (st->flex_algo == HS_S3_CKSUM_SHA256)
        memcpy(out->flex_raw, out->sha256, 32);
    else if (st->flex_algo != HS_S3_CKSUM_NONE)
        one_final(&st->flex, out->flex_raw);
    out->bytes = st->bytes;
}

void hs_s3_hasher_release(struct hs_s3_hasher *h)
{
    if (h == NULL || h->st == NULL)
        return;
    one_release(&h->st->md5);
    one_release(&h->st->sha256);
    one_release(&h->st->flex);
    free(h->st);
    h->st = NULL;
}

enum hs_err hs_s3_cksum_compute(enum hs_s3_cksum_algo a, const void *data, size_t len, uint8_t *out)
{
    if (!algo_ok(a) || a == HS_S3_CKSUM_NONE)
        return HS_EINVAL;
    struct one o;
    one_init(&o, a);
    one_update(&o, data, len);
    one_final(&o, out);
    one_release(&o);
    return HS_OK;
}

/* ---- Text forms ------------------------------------------------------------------------------ */

size_t hs_s3_base64(const uint8_t *raw, size_t n, char *out)
{
    if (n == 0) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
}

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

bool hs_s3_base64_decode(const char *s, size_t len, uint8_t *out, size_t cap, size_t *n_out)
{
    if (len % 4 != 0 || len > 4096)
        return false;
    size_t pad = 0;
    if (len > 0 && s[len - 1] == '=')
        pad++;
    if (len > 1 && s[len - 2] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++) {
        if (!b64_char(s[i]))
            return false;
    }
    size_t n = len / 4 * 3 - pad;
    if (n > cap)
        return false;
    if (len == 0) {
        *n_out = 0;
        return true;
    }
    uint8_t tmp[3072];
    if (EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)len) < 0)
        return false;
    memcpy(out, tmp, n);
    *n_out = n;
    return true;
}

void hs_s3_hex(const uint8_t *raw, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * n] = '\0';
}

bool hs_s3_hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    if (len != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hs_s3_hexval(s[2 * i]), lo = hs_s3_hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

void hs_s3_etag(const uint8_t md5[16], char out[HS_S3_ETAG_MAX])
{
    out[0] = '"';
    hs_s3_hex(md5, 16, out + 1);
    out[33] = '"';
    out[34] = '\0';
}

enum hs_s3_err hs_s3_content_md5_check(const char *header, const uint8_t md5[16])
{
    uint8_t got[16];
    size_t n = 0;
    if (header == NULL || !hs_s3_base64_decode(header, strlen(header), got, sizeof got, &n) ||
        n != 16)
        return HS_S3_INVALID_DIGEST;
    return CRYPTO_memcmp(got, md5, 16) == 0 ? HS_S3_OK : HS_S3_BAD_DIGEST;
}

enum hs_s3_err hs_s3_cksum_check(enum hs_s3_cksum_algo a, const char *b64, const uint8_t *raw)
{
    uint8_t got[HS_S3_CKSUM_RAW_MAX];
    size_t want = hs_s3_cksum_size(a), n = 0;
    if (want == 0 || b64 == NULL || !hs_s3_base64_decode(b64, strlen(b64), got, sizeof got, &n) ||
        n != want)
        return HS_S3_INVALID_REQUEST;
    return CRYPTO_memcmp(got, raw, want) == 0 ? HS_S3_OK : HS_S3_BAD_DIGEST;
}

enum hs_s3_err hs_s3_sha256_check(const uint8_t declared[32], const uint8_t computed[32])
{
    return CRYPTO_memcmp(declared, computed, 32) == 0 ? HS_S3_OK : HS_S3_CONTENT_SHA256_MISMATCH;
}

/* ---- Multipart ------------------------------------------------------------------------------- */

enum hs_err hs_s3_composite_init(struct hs_s3_composite *c, enum hs_s3_cksum_algo a)
{
    memset(c, 0, sizeof *c);
    if (!algo_ok(a) || a == HS_S3_CKSUM_NONE)
        return HS_EINVAL;
    struct hs_s3_hasher_state *st = hs_xcalloc(1, sizeof *st);
    /* The composite hashes with one algorithm only: use the flex slot for it. */
    one_init(&st->flex, a);
    st->flex_algo = a;
    c->h.st = st;
    c->algo = a;
    return HS_OK;
}

void hs_s3_composite_add(struct hs_s3_composite *c, const uint8_t *part_raw)
{
    one_update(&c->h.st->flex, part_raw, hs_s3_cksum_size(c->algo));
    c->parts++;
}

void hs_s3_composite_final(struct hs_s3_composite *c, char *out, uint8_t *raw_out)
{
    uint8_t raw[HS_S3_CKSUM_RAW_MAX] = {0};
    size_t n = hs_s3_cksum_size(c->algo);
    one_final(&c->h.st->flex, raw);
    if (c->algo == HS_S3_CKSUM_MD5) {
        char hex[33];
        hs_s3_hex(raw, 16, hex);
        snprintf(out, HS_S3_ETAG_MAX, "\"%s-%u\"", hex, (unsigned)c->parts);
    } else {
        char b64[HS_S3_CKSUM_B64_MAX];
        hs_s3_base64(raw, n, b64);
        snprintf(out, HS_S3_CKSUM_COMPOSITE_MAX, "%s-%u", b64, (unsigned)c->parts);
    }
    if (raw_out != NULL)
        memcpy(raw_out, raw, n);
}

void hs_s3_composite_release(struct hs_s3_composite *c)
{
    if (c == NULL)
        return;
    hs_s3_hasher_release(&c->h);
}
