/* repair_mark.c - the value of repair/<object-key> (table in manifest.h): encoded with jansson
 * into a caller's fixed buffer (the gateway writes it inside its commit, with nothing to free),
 * decoded strictly except that members a reader does not know are ignored. No I/O. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "hs/log.h"
#include "hs/manifest.h"
#include "meta/manifest_int.h"
#include "hs/banned.h"

static const char *const reason_names[] = {
    [HS_REPAIR_DEGRADED_WRITE] = "degraded",
    [HS_REPAIR_DEGRADED_READ] = "degraded_read",
};
#define N_REASONS (sizeof reason_names / sizeof reason_names[0])

/* The longest value: every member, the longest reason, a 19-digit ms and the longest txn id. */
_Static_assert(sizeof "{\"txn\":\"\",\"ms\":9223372036854775807,\"reason\":\"degraded_read\"}" +
                       HS_TXN_ID_MAX <=
                   HS_REPAIR_MARK_BUF,
               "a repair mark fits HS_REPAIR_MARK_BUF");

static bool reason_known(enum hs_repair_reason r)
{
    return (size_t)r < N_REASONS && reason_names[r];
}

size_t hs_repair_mark_encode(const struct hs_repair_mark *m, char out[HS_REPAIR_MARK_BUF])
{
    if (!reason_known(m->reason) || m->marked_ms < 0 ||
        (m->txn_id[0] && !hs_meta_txn_id_valid(m->txn_id)))
        HS_BUG("repair mark breaks its rules (reason %d, ms %lld)", (int)m->reason,
               (long long)m->marked_ms);
    json_t *o = json_object();
    if (m->txn_id[0])
        json_object_set_new(o, "txn", json_string(m->txn_id));
    json_object_set_new(o, "ms", json_integer(m->marked_ms));
    json_object_set_new(o, "reason", json_string(reason_names[m->reason]));
    size_t n = json_dumpb(o, out, HS_REPAIR_MARK_BUF - 1, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (n == 0 || n >= HS_REPAIR_MARK_BUF)
        HS_BUG("cannot encode a repair mark (%zu bytes)", n);
    out[n] = '\0';
    return n;
}

enum hs_err hs_repair_mark_decode(const void *data, size_t len, struct hs_repair_mark *out,
                                  char *why, size_t why_len)
{
    json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    struct hs_repair_mark m = {0};
    enum hs_err err = HS_ECORRUPT;
    if (!json_is_object(o)) {
        hs_meta_why(why, why_len, "not one JSON object (U+0000 and duplicate members refused)");
        goto out;
    }
    json_t *ms = json_object_get(o, "ms");
    if (!json_is_integer(ms) || json_integer_value(ms) < 0) {
        hs_meta_why(why, why_len, "ms: want an integer >= 0");
        goto out;
    }
    m.marked_ms = (int64_t)json_integer_value(ms);
    json_t *txn = json_object_get(o, "txn");
    if (txn) {
        const char *t = json_string_value(txn);
        if (!t || !hs_meta_txn_id_valid(t)) {
            hs_meta_why(why, why_len, "txn: want a txn id");
            goto out;
        }
        memcpy(m.txn_id, t, strlen(t) + 1); /* valid: at most HS_TXN_ID_MAX chars */
    }
    const char *r = json_string_value(json_object_get(o, "reason"));
    if (!r) {
        hs_meta_why(why, why_len, "reason: want a string");
        goto out;
    }
    for (size_t i = 0; i < N_REASONS; i++)
        if (reason_names[i] && strcmp(reason_names[i], r) == 0)
            m.reason = (enum hs_repair_reason)i;
    if (!m.reason) {
        hs_meta_why(why, why_len, "reason: '%.32s' is not known", r);
        err = HS_EPROTO;
        goto out;
    }
    *out = m;
    err = HS_OK;
out:
    json_decref(o);
    return err;
}
