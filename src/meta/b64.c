/* b64.c - standard padded base64 (RFC 4648 section 4) for values meta stores inside JSON (the
 * packed segment list of a manifest part), on OpenSSL's block coder. Decoding is strict: only
 * the alphabet, a length that is a multiple of 4 and at most two '=' at the end. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "hs/mem.h"
#include "manifest_int.h"
#include "hs/banned.h"

char *hs_meta_b64_encode(const void *data, size_t len)
{
    char *out = hs_xmalloc((len + 2) / 3 * 4 + 1);
    int n = len ? EVP_EncodeBlock((unsigned char *)out, data, (int)len) : 0;
    out[n] = '\0';
    return out;
}

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

enum hs_err hs_meta_b64_decode(const char *text, size_t text_len, uint8_t **out, size_t *out_len)
{
    if (text_len % 4 != 0 || text_len > INT32_MAX)
        return HS_EPROTO;
    size_t pad = 0;
    while (pad < 2 && pad < text_len && text[text_len - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < text_len - pad; i++)
        if (!b64_char(text[i]))
            return HS_EPROTO;
    uint8_t *buf = hs_xmalloc(text_len / 4 * 3 + 1);
    int n = text_len ? EVP_DecodeBlock(buf, (const unsigned char *)text, (int)text_len) : 0;
    if (n < 0 || (size_t)n < pad) {
        free(buf);
        return HS_EPROTO;
    }
    *out_len = (size_t)n - pad; /* EVP_DecodeBlock counts the padding as zero bytes */
    buf[*out_len] = 0;
    *out = buf;
    return HS_OK;
}
