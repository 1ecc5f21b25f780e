/* keys.c - identifiers and the etcd key layout (tables in include/hs/manifest.h): validity of
 * object keys and ids, key builders, txn id minting (getrandom) and blob id minting/parsing.
 * Nothing here talks to etcd. */
#include "hs/manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/utf8.h"
#include "manifest_int.h"
#include "hs/banned.h"

bool hs_meta_object_key_valid(const char *key, size_t len)
{
    if (!key || len == 0 || len > HS_OBJECT_KEY_MAX)
        return false;
    const unsigned char *s = (const unsigned char *)key;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t step = hs_utf8_decode(s + i, len - i, &cp);
        /* C0 (includes NUL), DEL and C1 controls: keys end up in logs, URLs and listings */
        if (step == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return false;
        i += step;
    }
    return true;
}

static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool hs_meta_node_id_valid(const char *id)
{
    if (!id || !is_alnum(id[0]))
        return false;
    size_t i = 0;
    for (; id[i]; i++) {
        if (i >= HS_NODE_ID_MAX)
            return false;
        if (!is_alnum(id[i]) && id[i] != '.' && id[i] != '_' && id[i] != '-')
            return false;
    }
    return true;
}

bool hs_meta_config_name_valid(const char *name)
{
    if (!name || !is_alnum(name[0]))
        return false;
    for (size_t i = 0; name[i]; i++) {
        char c = name[i];
        if (i >= HS_CONFIG_NAME_MAX)
            return false;
        if ((c >= 'A' && c <= 'Z') || (!is_alnum(c) && c != '.' && c != '_' && c != '-'))
            return false;
    }
    return true;
}

bool hs_meta_is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

bool hs_meta_txn_id_valid(const char *id)
{
    if (!id)
        return false;
    size_t n = strnlen(id, HS_TXN_ID_MAX + 1);
    return n >= HS_TXN_ID_MIN && n <= HS_TXN_ID_MAX && hs_meta_is_lower_hex(id, n);
}

bool hs_meta_blob_id_valid(const char *id)
{
    if (!id || id[0] == '\0' || id[0] == '.')
        return false;
    size_t i = 0;
    for (; id[i]; i++) {
        char c = id[i];
        if (i >= HS_META_BLOB_ID_MAX)
            return false;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '.' || c == '-'))
            return false;
        if (c == '.' && id[i + 1] == '.')
            return false;
    }
    return true;
}

static enum hs_err key_build(const char *prefix, const char *name, bool ok, char **out)
{
    if (!ok)
        return HS_EINVAL;
    *out = hs_xasprintf("%s%s", prefix, name);
    return HS_OK;
}

enum hs_err hs_meta_key_meta(const char *object_key, char **out)
{
    bool ok = object_key && hs_meta_object_key_valid(object_key, strlen(object_key));
    return key_build(HS_META_PREFIX_META, object_key, ok, out);
}

enum hs_err hs_meta_key_repair(const char *object_key, char **out)
{
    bool ok = object_key && hs_meta_object_key_valid(object_key, strlen(object_key));
    return key_build(HS_META_PREFIX_REPAIR, object_key, ok, out);
}

enum hs_err hs_meta_key_txn(const char *txn_id, char **out)
{
    return key_build(HS_META_PREFIX_TXN, txn_id, hs_meta_txn_id_valid(txn_id), out);
}

enum hs_err hs_meta_key_retire(const char *txn_id, char **out)
{
    return key_build(HS_META_PREFIX_RETIRE, txn_id, hs_meta_txn_id_valid(txn_id), out);
}

enum hs_err hs_meta_key_node(const char *node_id, char **out)
{
    return key_build(HS_META_PREFIX_NODES, node_id, hs_meta_node_id_valid(node_id), out);
}

enum hs_err hs_meta_key_gateway(const char *gateway_id, char **out)
{
    return key_build(HS_META_PREFIX_GATEWAYS, gateway_id, hs_meta_node_id_valid(gateway_id), out);
}

enum hs_err hs_meta_key_config(const char *name, char **out)
{
    return key_build(HS_META_PREFIX_CONFIG, name, hs_meta_config_name_valid(name), out);
}

const char *hs_meta_key_strip(const char *etcd_key, const char *prefix)
{
    if (!etcd_key || !prefix)
        return NULL;
    size_t n = strlen(prefix);
    if (strncmp(etcd_key, prefix, n) != 0 || etcd_key[n] == '\0')
        return NULL;
    return etcd_key + n;
}

enum hs_err hs_meta_time_id_new(char *out, size_t rnd_bytes, const char *event)
{
    uint8_t rnd[32];
    size_t got = 0;
    if (rnd_bytes > sizeof rnd)
        return HS_EINVAL;
    while (got < rnd_bytes) {
        ssize_t r = getrandom(rnd + got, rnd_bytes - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            char buf[128];
            HS_LOG_ERROR(event, "errno=%d err='%s'", e, hs_errno_text(e, buf, sizeof buf));
            return HS_EIO;
        }
        got += (size_t)r;
    }
    /* 48 bits of ms reach the year 10889; a clock before 1970 counts as 0. */
    int64_t now = hs_clock_wall_ms();
    uint64_t ms = now < 0 ? 0 : (uint64_t)now & 0xffffffffffffULL;
    size_t cap = 12 + 2 * rnd_bytes + 1;
    int off = snprintf(out, cap, "%012" PRIx64, ms);
    for (size_t i = 0; i < rnd_bytes; i++)
        off += snprintf(out + off, cap - (size_t)off, "%02x", rnd[i]);
    return HS_OK;
}

enum hs_err hs_meta_txn_id_new(char out[HS_TXN_ID_BUF])
{
    return hs_meta_time_id_new(out, (HS_TXN_ID_MAX - 12) / 2, "txn_id_random_failed");
}

bool hs_meta_txn_id_time_ms(const char *txn_id, int64_t *ms_out)
{
    if (!txn_id || strnlen(txn_id, HS_TXN_ID_BUF) != HS_TXN_ID_MAX ||
        !hs_meta_is_lower_hex(txn_id, HS_TXN_ID_MAX))
        return false;
    int64_t ms = 0;
    for (size_t i = 0; i < 12; i++) {
        char c = txn_id[i];
        ms = ms * 16 + (c <= '9' ? c - '0' : c - 'a' + 10);
    }
    *ms_out = ms;
    return true;
}

enum hs_err hs_meta_blob_id_make(const char *txn_id, enum hs_meta_blob_part part, uint32_t segment,
                                 uint32_t index, char out[HS_META_BLOB_ID_BUF])
{
    if (!hs_meta_txn_id_valid(txn_id) || (unsigned)part > HS_META_PART_COLD)
        return HS_EINVAL;
    snprintf(out, HS_META_BLOB_ID_BUF, "%s.%x.%" PRIx32 ".%" PRIx32, txn_id, (unsigned)part,
             segment, index);
    return HS_OK;
}

/* Parses 1..8 lower hex digits (no leading zero unless the number is 0: the minted form is
 * canonical, so parse(make(x)) == x and make(parse(id)) == id). */
static bool parse_hex_u32(const char *s, size_t n, uint32_t *out)
{
    if (n == 0 || n > 8 || (n > 1 && s[0] == '0') || !hs_meta_is_lower_hex(s, n))
        return false;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 16 + (uint32_t)(s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
    *out = v;
    return true;
}

enum hs_err hs_meta_blob_id_parse(const char *blob_id, char txn_out[HS_TXN_ID_BUF],
                                  enum hs_meta_blob_part *part_out, uint32_t *segment_out,
                                  uint32_t *index_out)
{
    if (!hs_meta_blob_id_valid(blob_id))
        return HS_EINVAL;
    const char *dot[3];
    const char *p = blob_id;
    for (int i = 0; i < 3; i++) {
        dot[i] = strchr(p, '.');
        if (!dot[i])
            return HS_EINVAL;
        p = dot[i] + 1;
    }
    if (strchr(p, '.'))
        return HS_EINVAL;
    size_t txn_len = (size_t)(dot[0] - blob_id);
    uint32_t part, seg, idx;
    if (txn_len < HS_TXN_ID_MIN || txn_len > HS_TXN_ID_MAX ||
        !hs_meta_is_lower_hex(blob_id, txn_len) ||
        !parse_hex_u32(dot[0] + 1, (size_t)(dot[1] - dot[0] - 1), &part) ||
        part > HS_META_PART_COLD ||
        !parse_hex_u32(dot[1] + 1, (size_t)(dot[2] - dot[1] - 1), &seg) ||
        !parse_hex_u32(dot[2] + 1, strlen(dot[2] + 1), &idx))
        return HS_EINVAL;
    if (txn_out) {
        memcpy(txn_out, blob_id, txn_len);
        txn_out[txn_len] = '\0';
    }
    if (part_out)
        *part_out = (enum hs_meta_blob_part)part;
    if (segment_out)
        *segment_out = seg;
    if (index_out)
        *index_out = idx;
    return HS_OK;
}
