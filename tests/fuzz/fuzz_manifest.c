/* fuzz_manifest.c - feeds arbitrary bytes to the manifest, write-ahead and retire record decoders
 * and to the other etcd values meta owns (node and gateway registrations, repair marks).
 * Whatever a decoder accepts must encode again, and that text must decode and encode to the
 * same bytes (a stable round trip); anything else is a bug and aborts. The same bytes also go
 * through the object key and blob id checks (parse(make(x)) must give back the id). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/manifest.h"
#include "hs/registration.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_manifest: %s: %s\n", what, why);
    abort();
}

static void check_manifest(const uint8_t *data, size_t size)
{
    struct hs_manifest m, again;
    char why[256] = "";
    char *t1 = NULL, *t2 = NULL;
    size_t l1, l2;
    if (hs_manifest_decode(data, size, &m, why, sizeof why) != HS_OK)
        return;
    enum hs_err err = hs_manifest_encode(&m, &t1, &l1, why, sizeof why);
    hs_manifest_release(&m);
    if (err == HS_ETOOBIG)
        return; /* re-encoding is never longer in practice; if it is, that is not a bug */
    if (err != HS_OK)
        fuzz_fail("accepted manifest does not encode", why);
    if (hs_manifest_decode(t1, l1, &again, why, sizeof why) != HS_OK)
        fuzz_fail("encoded manifest does not decode", why);
    if (hs_manifest_encode(&again, &t2, &l2, why, sizeof why) != HS_OK)
        fuzz_fail("re-decoded manifest does not encode", why);
    if (l1 != l2 || memcmp(t1, t2, l1) != 0)
        fuzz_fail("manifest round trip is not stable", t1);
    hs_manifest_release(&again);
    free(t1);
    free(t2);
}

static void check_txn_record(const uint8_t *data, size_t size)
{
    struct hs_txn_record r, again;
    char why[256] = "";
    char *t1 = NULL, *t2 = NULL;
    size_t l1, l2;
    if (hs_txn_record_decode(data, size, &r, why, sizeof why) != HS_OK)
        return;
    if (r.version == 1) { /* still read (older gateways), never written again */
        hs_txn_record_release(&r);
        return;
    }
    enum hs_err err = hs_txn_record_encode(&r, &t1, &l1, why, sizeof why);
    hs_txn_record_release(&r);
    if (err == HS_ETOOBIG)
        return;
    if (err != HS_OK)
        fuzz_fail("accepted record does not encode", why);
    if (hs_txn_record_decode(t1, l1, &again, why, sizeof why) != HS_OK)
        fuzz_fail("encoded record does not decode", why);
    if (hs_txn_record_encode(&again, &t2, &l2, why, sizeof why) != HS_OK)
        fuzz_fail("re-decoded record does not encode", why);
    if (l1 != l2 || memcmp(t1, t2, l1) != 0)
        fuzz_fail("record round trip is not stable", t1);
    hs_txn_record_release(&again);
    free(t1);
    free(t2);
}

static void check_retire_record(const uint8_t *data, size_t size)
{
    struct hs_retire_record r, again;
    char why[256] = "";
    char *t1 = NULL, *t2 = NULL;
    size_t l1, l2;
    if (hs_retire_record_decode(data, size, &r, why, sizeof why) != HS_OK)
        return;
    enum hs_err err = hs_retire_record_encode(&r, &t1, &l1, why, sizeof why);
    hs_retire_record_release(&r);
    if (err == HS_ETOOBIG)
        return;
    if (err != HS_OK)
        fuzz_fail("accepted retire record does not encode", why);
    if (hs_retire_record_decode(t1, l1, &again, why, sizeof why) != HS_OK)
        fuzz_fail("encoded retire record does not decode", why);
    if (hs_retire_record_encode(&again, &t2, &l2, why, sizeof why) != HS_OK)
        fuzz_fail("re-decoded retire record does not encode", why);
    /* sets are regrouped by txn id on encode: compare after one normalising round */
    if (l1 != l2 || memcmp(t1, t2, l1) != 0)
        fuzz_fail("retire record round trip is not stable", t1);
    hs_retire_record_release(&again);
    free(t1);
    free(t2);
}

static void check_ids(const uint8_t *data, size_t size)
{
    (void)hs_meta_object_key_valid((const char *)data, size);
    if (size > HS_META_BLOB_ID_MAX + 8)
        return;
    char text[HS_META_BLOB_ID_MAX + 9];
    memcpy(text, data, size);
    text[size] = '\0';
    char txn[HS_TXN_ID_BUF], made[HS_META_BLOB_ID_BUF];
    enum hs_meta_blob_part part;
    uint32_t seg, idx;
    if (hs_meta_blob_id_parse(text, txn, &part, &seg, &idx) != HS_OK)
        return;
    if (hs_meta_blob_id_make(txn, part, seg, idx, made) != HS_OK || strcmp(made, text) != 0)
        fuzz_fail("blob id does not survive parse/make", text);
}

/* Registrations: what decodes encodes, and that text decodes and encodes to the same bytes. */
static void check_registrations(const uint8_t *data, size_t size)
{
    struct hs_node_registration n, n2;
    if (hs_node_registration_decode(data, size, &n) == HS_OK) {
        char *t1 = hs_node_registration_encode(&n);
        if (hs_node_registration_decode(t1, strlen(t1), &n2) != HS_OK)
            fuzz_fail("encoded node registration does not decode", t1);
        char *t2 = hs_node_registration_encode(&n2);
        if (strcmp(t1, t2) != 0)
            fuzz_fail("node registration round trip is not stable", t1);
        hs_node_registration_release(&n);
        hs_node_registration_release(&n2);
        free(t1);
        free(t2);
    }
    struct hs_gateway_registration g, g2;
    if (hs_gateway_registration_decode(data, size, &g) == HS_OK) {
        char *t1 = hs_gateway_registration_encode(&g);
        if (hs_gateway_registration_decode(t1, strlen(t1), &g2) != HS_OK)
            fuzz_fail("encoded gateway registration does not decode", t1);
        char *t2 = hs_gateway_registration_encode(&g2);
        if (strcmp(t1, t2) != 0)
            fuzz_fail("gateway registration round trip is not stable", t1);
        hs_gateway_registration_release(&g);
        hs_gateway_registration_release(&g2);
        free(t1);
        free(t2);
    }
}

static void check_repair_mark(const uint8_t *data, size_t size)
{
    struct hs_repair_mark m, again;
    char t1[HS_REPAIR_MARK_BUF], t2[HS_REPAIR_MARK_BUF], why[128] = "";
    if (hs_repair_mark_decode(data, size, &m, why, sizeof why) != HS_OK)
        return;
    size_t l1 = hs_repair_mark_encode(&m, t1);
    if (hs_repair_mark_decode(t1, l1, &again, why, sizeof why) != HS_OK)
        fuzz_fail("encoded repair mark does not decode", why);
    size_t l2 = hs_repair_mark_encode(&again, t2);
    if (l1 != l2 || memcmp(t1, t2, l1) != 0)
        fuzz_fail("repair mark round trip is not stable", t1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_manifest(data, size);
    check_txn_record(data, size);
    check_retire_record(data, size);
    check_registrations(data, size);
    check_repair_mark(data, size);
    check_ids(data, size);
    return 0;
}
