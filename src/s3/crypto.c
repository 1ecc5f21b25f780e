/* crypto.c - the OpenSSL objects of the s3 module, fetched once per process. OpenSSL 3 looks a
 * digest up by name at every EVP_DigestInit_ex(EVP_md5()) and HMAC() call (an "implicit fetch"
 * through a locked store); at S3 request rates that lookup costs more than hashing a small
 * object. Explicitly fetched EVP_MDs, and HMAC contexts duplicated from a keyless template, skip
 * it. The fetched objects live as long as the process (never freed, still reachable). */
#include "s3_int.h"

#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "hs/log.h"
#include "hs/banned.h"

static EVP_MD *md_md5, *md_sha1, *md_sha256;
static EVP_MAC_CTX *hmac_sha256_template;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void fetch_all(void)
{
    md_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (md_md5 == NULL || md_sha1 == NULL || md_sha256 == NULL || mac == NULL)
        HS_BUG("OpenSSL lacks MD5, SHA-1, SHA-256 or HMAC");
    hmac_sha256_template = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac); /* the context keeps its own reference */
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    if (hmac_sha256_template == NULL || EVP_MAC_CTX_set_params(hmac_sha256_template, params) != 1)
        HS_BUG("cannot set up HMAC-SHA256");
}

const EVP_MD *hs_s3_md(enum hs_s3_cksum_algo a)
{
    pthread_once(&once, fetch_all);
    switch (a) {
    case HS_S3_CKSUM_MD5:
        return md_md5;
    case HS_S3_CKSUM_SHA1:
        return md_sha1;
    case HS_S3_CKSUM_SHA256:
        return md_sha256;
    default:
        return NULL;
    }
}

void hs_s3_sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned n = 0;
    if (EVP_Digest(data, len, out, &n, hs_s3_md(HS_S3_CKSUM_SHA256), NULL) != 1)
        HS_BUG("SHA-256 failed");
}

void hs_s3_hmac_sha256(const uint8_t *key, size_t key_len, const void *msg, size_t len,
                       uint8_t out[32])
{
    size_t n = 0;
    pthread_once(&once, fetch_all);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(hmac_sha256_template);
    if (ctx == NULL || EVP_MAC_init(ctx, key, key_len, NULL) != 1 ||
        EVP_MAC_update(ctx, msg, len) != 1 || EVP_MAC_final(ctx, out, &n, 32) != 1 || n != 32)
        HS_BUG("HMAC-SHA256 failed");
    EVP_MAC_CTX_free(ctx);
}
