/* chunked.c - incremental aws-chunked decoder (STREAMING-* payloads): a byte-at-a-time state
 * machine for the framing lines, bulk copies for chunk data. Lines are gathered in a fixed
 * buffer of HS_S3_CHUNKED_LINE_MAX bytes, so a frame that never ends fails as soon as the
 * buffer is full, whatever the body size; chunk data is never buffered (it goes straight to the
 * callback and, for the signed modes, into a running SHA-256). Signature comparisons are
 * constant time. What is not done here: the checksum of the payload itself (the caller hashes
 * the bytes it receives and compares with the trailer value reported at the end). */
#include "hs/s3_chunked.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "s3_int.h"
#include "hs/log.h"
#include "hs/csv.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define EMPTY_SHA256_HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

enum state {
    ST_HEADER,   /* gathering "<hex>[;chunk-signature=<sig>]\r\n" */
    ST_DATA,     /* chunk data, `remaining` bytes left */
    ST_DATA_CR,  /* expecting the CR (or LF) that ends chunk data */
    ST_DATA_LF,  /* expecting the LF after that CR */
    ST_FINAL,    /* after the last chunk (no trailers): expecting the closing CRLF */
    ST_FINAL_LF, /* expecting the LF of that CRLF */
    ST_TRAILER,  /* gathering trailer lines until an empty line */
    ST_DONE,     /* everything received */
    ST_FAILED,
};

struct hs_s3_chunked {
    enum state st;
    enum hs_s3_payload_mode mode;
    bool signed_chunks; /* chunk signatures present and verified */
    bool trailers_on;   /* a trailer section follows the last chunk */
    int64_t decoded_length;
    hs_s3_chunk_data_fn on_data;
    void *arg;
    /* signing material (signed modes) */
    uint8_t key[32];
    char prev_sig[HS_S3_SIG_HEX_LEN + 1];
    char chunk_sig[HS_S3_SIG_HEX_LEN + 1]; /* claimed signature of the current chunk */
    char scope[HS_S3_SCOPE_MAX];
    char amz_date[HS_S3_AMZ_DATE_LEN + 1];
    EVP_MD_CTX *sha;         /* over the current chunk's data (signed modes) */
    EVP_MD_CTX *trailer_sha; /* over "name:value\n" lines (signed trailer mode) */
    /* framing */
    uint64_t remaining; /* data bytes left in the current chunk */
    bool last_chunk;    /* the current header was the 0-size chunk */
    uint64_t delivered;
    size_t line_len;
    char line[HS_S3_CHUNKED_LINE_MAX];
    /* trailers */
    size_t n_declared;
    char declared[HS_S3_CHUNKED_TRAILERS_MAX][HS_S3_TRAILER_NAME_MAX + 1];
    size_t n_trailers;
    struct hs_s3_trailer trailers[HS_S3_CHUNKED_TRAILERS_MAX];
    bool trailer_sig_seen;
    /* outcome */
    enum hs_err err;
    enum hs_s3_err s3err;
    const char *detail;
};

static enum hs_err fail(struct hs_s3_chunked *c, enum hs_err err, enum hs_s3_err s3,
                        const char *detail)
{
    c->st = ST_FAILED;
    c->err = err;
    c->s3err = s3;
    c->detail = detail;
    return err;
}

static bool parse_declared(struct hs_s3_chunked *c, const char *list)
{
    const char *rest = list, *p;
    size_t n;
    while (hs_csv_next(&rest, &p, &n)) {
        if (n > HS_S3_TRAILER_NAME_MAX || c->n_declared == HS_S3_CHUNKED_TRAILERS_MAX)
            return false;
        char *d = c->declared[c->n_declared++];
        for (size_t i = 0; i < n; i++)
            d[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
        d[n] = '\0';
    }
    return true;
}

enum hs_err hs_s3_chunked_new(const struct hs_s3_chunked_opts *o, struct hs_s3_chunked **out)
{
    if (o == NULL || o->auth == NULL || o->on_data == NULL ||
        !hs_s3_payload_is_streaming(o->auth->payload) || o->decoded_length < -1)
        return HS_EINVAL;
    struct hs_s3_chunked *c = hs_xcalloc(1, sizeof *c);
    c->mode = o->auth->payload;
    c->signed_chunks = c->mode != HS_S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    c->trailers_on = c->mode != HS_S3_PAYLOAD_STREAMING_SIGNED;
    c->decoded_length = o->decoded_length;
    c->on_data = o->on_data;
    c->arg = o->arg;
    if (!parse_declared(c, o->declared_trailers)) {
        free(c);
        return HS_EINVAL;
    }
    if (c->signed_chunks) {
        if (strlen(o->auth->seed_signature) != HS_S3_SIG_HEX_LEN) {
            free(c);
            return HS_EINVAL;
        }
        memcpy(c->key, o->auth->signing_key, 32);
        memcpy(c->prev_sig, o->auth->seed_signature, sizeof c->prev_sig);
        snprintf(c->scope, sizeof c->scope, "%s", o->auth->scope);
        snprintf(c->amz_date, sizeof c->amz_date, "%s", o->auth->amz_date);
        c->sha = EVP_MD_CTX_new();
        c->trailer_sha = EVP_MD_CTX_new();
        if (c->sha == NULL || c->trailer_sha == NULL ||
            EVP_DigestInit_ex(c->trailer_sha, hs_s3_md(HS_S3_CKSUM_SHA256), NULL) != 1)
            HS_BUG("cannot initialise SHA-256");
    }
    c->st = ST_HEADER;
    *out = c;
    return HS_OK;
}

void hs_s3_chunked_free(struct hs_s3_chunked *c)
{
    if (c == NULL)
        return;
    EVP_MD_CTX_free(c->sha);
    EVP_MD_CTX_free(c->trailer_sha);
    OPENSSL_cleanse(c->key, sizeof c->key);
    free(c);
}

/* hex(HMAC(key, sts)) == claimed, in constant time; on success claimed becomes prev_sig. */
static bool check_sig(struct hs_s3_chunked *c, const char *sts, size_t sts_len, const char *claimed)
{
    uint8_t mac[32];
    char hex[HS_S3_SIG_HEX_LEN + 1];
    hs_s3_hmac_sha256(c->key, 32, sts, sts_len, mac);
    hs_s3_hex(mac, 32, hex);
    if (CRYPTO_memcmp(hex, claimed, HS_S3_SIG_HEX_LEN) != 0)
        return false;
    memcpy(c->prev_sig, hex, sizeof c->prev_sig);
    return true;
}

static enum hs_err verify_chunk(struct hs_s3_chunked *c)
{
    uint8_t h[32];
    unsigned n = 0;
    char hex[65], sts[512];
    if (EVP_DigestFinal_ex(c->sha, h, &n) != 1)
        HS_BUG("SHA-256 final failed");
    hs_s3_hex(h, 32, hex);
    int len = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s", c->amz_date,
                       c->scope, c->prev_sig, EMPTY_SHA256_HEX, hex);
    if (!check_sig(c, sts, (size_t)len, c->chunk_sig))
        return fail(c, HS_EAUTH, HS_S3_SIGNATURE_DOES_NOT_MATCH,
                    "The chunk signature we calculated does not match the signature you "
                    "provided.");
    return HS_OK;
}

static bool is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* "<hex size>[;chunk-signature=<64 hex>]" (line without its line end). */
static enum hs_err chunk_header(struct hs_s3_chunked *c, const char *l, size_t n)
{
    uint64_t size = 0;
    size_t i = 0;
    for (; i < n && is_hex(l[i]); i++) {
        if (i == 16)
            return fail(c, HS_EINVAL, HS_S3_INVALID_REQUEST, "chunk size too large");
        int v = l[i] <= '9' ? l[i] - '0' : (l[i] | 0x20) - 'a' + 10;
        size = size << 4 | (uint64_t)v;
    }
    if (i == 0)
        return fail(c, HS_EINVAL, HS_S3_INCOMPLETE_BODY, "malformed chunk header");
    static const char ext[] = ";chunk-signature=";
    if (c->signed_chunks) {
        if (n - i != sizeof ext - 1 + HS_S3_SIG_HEX_LEN || memcmp(l + i, ext, sizeof ext - 1) != 0)
            return fail(c, HS_EINVAL, HS_S3_SIGNATURE_DOES_NOT_MATCH,
                        "chunk header without a chunk-signature");
        memcpy(c->chunk_sig, l + i + sizeof ext - 1, HS_S3_SIG_HEX_LEN);
        c->chunk_sig[HS_S3_SIG_HEX_LEN] = '\0';
        if (EVP_DigestInit_ex(c->sha, hs_s3_md(HS_S3_CKSUM_SHA256), NULL) != 1)
            HS_BUG("SHA-256 init failed");
    } else if (i != n) {
        return fail(c, HS_EINVAL, HS_S3_INCOMPLETE_BODY, "malformed chunk header");
    }
    if (c->decoded_length >= 0 && size > (uint64_t)c->decoded_length - c->delivered)
        return fail(c, HS_EINVAL, HS_S3_INCOMPLETE_BODY,
                    "the chunks carry more bytes than x-amz-decoded-content-length");
    c->remaining = size;
    c->last_chunk = size == 0;
    if (!c->last_chunk) {
        c->st = ST_DATA;
        return HS_OK;
    }
    /* The final, empty chunk. */
    if (c->decoded_length >= 0 && c->delivered != (uint64_t)c->decoded_length)
        return fail(c, HS_EINVAL, HS_S3_INCOMPLETE_BODY,
                    "the chunks carry fewer bytes than x-amz-decoded-content-length");
    if (c->signed_chunks && verify_chunk(c) != HS_OK)
        return c->err;
    c->st = c->trailers_on ? ST_TRAILER : ST_FINAL;
    return HS_OK;
}

static bool declared(const struct hs_s3_chunked *c, const char *name)
{
    if (c->n_declared == 0)
        return true;
    for (size_t i = 0; i < c->n_declared; i++) {
        if (strcmp(c->declared[i], name) == 0)
            return true;
    }
    return false;
}

static enum hs_err trailers_end(struct hs_s3_chunked *c)
{
    if (c->mode == HS_S3_PAYLOAD_STREAMING_SIGNED_TRAILER && !c->trailer_sig_seen)
        return fail(c, HS_EINVAL, HS_S3_MALFORMED_TRAILER, "the trailer signature is missing");
    for (size_t i = 0; i < c->n_declared; i++) {
        bool found = false;
        for (size_t j = 0; j < c->n_trailers && !found; j++)
            found = strcmp(c->trailers[j].name, c->declared[i]) == 0;
        if (!found)
            return fail(c, HS_EINVAL, HS_S3_MALFORMED_TRAILER,
                        "a trailer declared in x-amz-trailer is missing");
    }
    c->st = ST_DONE;
    return HS_OK;
}

static enum hs_err trailer_signature(struct hs_s3_chunked *c, const char *v, size_t n)
{
    uint8_t h[32];
    unsigned hn = 0;
    char hex[65], sts[512], claimed[HS_S3_SIG_HEX_LEN + 1];
    if (c->mode != HS_S3_PAYLOAD_STREAMING_SIGNED_TRAILER || c->trailer_sig_seen ||
        n != HS_S3_SIG_HEX_LEN)
        return fail(c, HS_EINVAL, HS_S3_MALFORMED_TRAILER, "unexpected trailer signature");
    memcpy(claimed, v, n);
    claimed[n] = '\0';
    if (EVP_DigestFinal_ex(c->trailer_sha, h, &hn) != 1)
        HS_BUG("SHA-256 final failed");
    hs_s3_hex(h, 32, hex);
    int len = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s", c->amz_date,
                       c->scope, c->prev_sig, hex);
    if (!check_sig(c, sts, (size_t)len, claimed))
        return fail(c, HS_EAUTH, HS_S3_SIGNATURE_DOES_NOT_MATCH,
                    "The trailer signature we calculated does not match the signature you "
                    "provided.");
    c->trailer_sig_seen = true;
    return HS_OK;
}

/* One trailer line without its line end; an empty line ends the section. */
static enum hs_err trailer_line(struct hs_s3_chunked *c, const char *l, size_t n)
{
    if (n == 0)
        return trailers_end(c);
    if (c->trailer_sig_seen)
        return fail(c, HS_EINVAL, HS_S3_MALFORMED_TRAILER, "trailer after the trailer signature");
    const char *colon = memchr(l, ':', n);
    if (colon == NULL || colon == l || (size_t)(colon - l) > HS_S3_TRAILER_NAME_MAX)
        return fail(c, HS_EINVAL, HS_S3_MALFORMED_TRAILER, "malformed trailer line");
    size_t nlen = (size_t)(colon - l);
    char name[HS_S3_TRAILER_NAME_MAX + 1];
    for (size_t i = 0; i < nlen; i++)
        name[i] = (char)(l[i] >= 'A' && l[i] <= 'Z' ? l[i] + 32 : l[i]);
    name[nlen] = '\0';
    const char *v = colon + 1, *end = l + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    if (strcmp(name, "x-amz-trailer-signature") == 0)
        return trailer_signature(c, v, vlen);
    if (!declared(c, name))
        return fail(c, HS_EINVAL, HS_S3_INVALID_REQUEST, "trailer not declared in x-amz-trailer");
    if (vlen > HS_S3_TRAILER_VALUE_MAX || c->n_trailers == HS_S3_CHUNKED_TRAILERS_MAX)
        return fail(c, HS_EINVAL, HS_S3_MALFORMED_TRAILER, "trailer too long or too many");
    for (size_t i = 0; i < c->n_trailers; i++) {
        if (strcmp(c->trailers[i].name, name) == 0)
            return fail(c, HS_EINVAL, HS_S3_MALFORMED_TRAILER, "repeated trailer");
    }
    struct hs_s3_trailer *t = &c->trailers[c->n_trailers++];
    memcpy(t->name, name, nlen + 1);
    memcpy(t->value, v, vlen);
    t->value[vlen] = '\0';
    if (c->mode == HS_S3_PAYLOAD_STREAMING_SIGNED_TRAILER) {
        /* The trailer signature covers "name:value\n" for each line, whatever the line ends. */
        if (EVP_DigestUpdate(c->trailer_sha, name, nlen) != 1 ||
            EVP_DigestUpdate(c->trailer_sha, ":", 1) != 1 ||
            EVP_DigestUpdate(c->trailer_sha, v, vlen) != 1 ||
            EVP_DigestUpdate(c->trailer_sha, "\n", 1) != 1)
            HS_BUG("SHA-256 update failed");
    }
    return HS_OK;
}

/* Gathers a line; on its LF, hands it (without CR LF) to the state's handler. */
static enum hs_err line_byte(struct hs_s3_chunked *c, char ch)
{
    if (ch != '\n') {
        if (c->line_len == sizeof c->line - 1)
            return fail(c, HS_EINVAL,
                        c->st == ST_TRAILER ? HS_S3_MALFORMED_TRAILER : HS_S3_INCOMPLETE_BODY,
                        c->st == ST_TRAILER ? "trailer line too long" : "chunk header too long");
        c->line[c->line_len++] = ch;
        return HS_OK;
    }
    size_t n = c->line_len;
    if (n > 0 && c->line[n - 1] == '\r')
        n--;
    c->line_len = 0;
    return c->st == ST_HEADER ? chunk_header(c, c->line, n) : trailer_line(c, c->line, n);
}

enum hs_err hs_s3_chunked_feed(struct hs_s3_chunked *c, const void *data, size_t len)
{
    const uint8_t *p = data, *end = p + len;
    if (c->st == ST_FAILED)
        return c->err;
    while (p < end) {
        switch (c->st) {
        case ST_HEADER:
        case ST_TRAILER:
            if (line_byte(c, (char)*p++) != HS_OK)
                return c->err;
            break;
        case ST_DATA: {
            size_t n = (size_t)(end - p) < c->remaining ? (size_t)(end - p) : c->remaining;
            if (c->signed_chunks && EVP_DigestUpdate(c->sha, p, n) != 1)
                HS_BUG("SHA-256 update failed");
            enum hs_err err = c->on_data(c->arg, p, n);
            if (err != HS_OK)
                return fail(c, err,
                            err == HS_ETOOBIG ? HS_S3_ENTITY_TOO_LARGE : HS_S3_INTERNAL_ERROR,
                            "the payload could not be stored");
            c->delivered += n;
            c->remaining -= n;
            p += n;
            if (c->remaining == 0) {
                if (c->signed_chunks && verify_chunk(c) != HS_OK)
                    return c->err;
                c->st = ST_DATA_CR;
            }
            break;
        }
        case ST_DATA_CR:
        case ST_FINAL:
            /* CR LF, or a bare LF as some clients send */
            if (*p != '\r' && *p != '\n')
                return fail(c, HS_EINVAL, HS_S3_INCOMPLETE_BODY,
                            c->st == ST_DATA_CR ? "chunk data longer than its declared size"
                                                : "data after the final chunk");
            if (*p == '\r')
                c->st = c->st == ST_DATA_CR ? ST_DATA_LF : ST_FINAL_LF;
            else
                c->st = c->st == ST_DATA_CR ? ST_HEADER : ST_DONE;
            p++;
            break;
        case ST_DATA_LF:
        case ST_FINAL_LF:
            if (*p != '\n')
                return fail(c, HS_EINVAL, HS_S3_INCOMPLETE_BODY, "malformed chunk end");
            c->st = c->st == ST_DATA_LF ? ST_HEADER : ST_DONE;
            p++;
            break;
        case ST_DONE:
            return fail(c, HS_EINVAL, HS_S3_INVALID_REQUEST, "data after the final chunk");
        case ST_FAILED:
            return c->err;
        }
    }
    return HS_OK;
}

enum hs_err hs_s3_chunked_finish(struct hs_s3_chunked *c)
{
    switch (c->st) {
    case ST_DONE:
        return HS_OK;
    case ST_FAILED:
        return c->err;
    case ST_FINAL:
        /* Some clients end the body right after the final chunk's header. */
        c->st = ST_DONE;
        return HS_OK;
    case ST_TRAILER:
        /* Tolerated: the body ends after the last trailer line, without the empty line. */
        if (c->line_len == 0 && (c->n_trailers > 0 || c->trailer_sig_seen))
            return trailers_end(c);
        break;
    default:
        break;
    }
    return fail(c, HS_EINVAL, HS_S3_INCOMPLETE_BODY, "the body ended before the final chunk");
}

enum hs_s3_err hs_s3_chunked_error(const struct hs_s3_chunked *c)
{
    return c->s3err;
}

const char *hs_s3_chunked_error_detail(const struct hs_s3_chunked *c)
{
    return c->detail != NULL ? c->detail : "";
}

uint64_t hs_s3_chunked_payload_bytes(const struct hs_s3_chunked *c)
{
    return c->delivered;
}

const struct hs_s3_trailer *hs_s3_chunked_trailers(const struct hs_s3_chunked *c, size_t *n)
{
    *n = c->n_trailers;
    return c->trailers;
}
