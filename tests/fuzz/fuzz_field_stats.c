/* fuzz_field_stats.c - feeds arbitrary bytes to the field statistics snapshot decoder
 * (field_stats.h) and to the manifest's field-digest parsers (manifest_fields.c: the fdig text
 * and the order record scan). A snapshot the decoder accepts must encode, decode again and
 * encode to the same bytes, and must merge into another sketch; anything else aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/field_stats.h"
#include "hs/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_field_stats: %s: %s\n", what, why);
    abort();
}

static void check_snapshot(const uint8_t *data, size_t size)
{
    struct hs_field_stats s, again, sum;
    struct hs_fstat_info info;
    char why[256] = "";
    char *t1 = NULL, *t2 = NULL;
    size_t l1 = 0, l2 = 0;
    if (hs_field_stats_init(&s, NULL) != HS_OK || hs_field_stats_init(&again, NULL) != HS_OK ||
        hs_field_stats_init(&sum, NULL) != HS_OK)
        fuzz_fail("init", "default limits refused");
    if (hs_field_stats_decode(data, size, &s, &info, why, sizeof why) == HS_OK) {
        if (hs_field_stats_encode(&s, &info, &t1, &l1) != HS_OK)
            fuzz_fail("accepted snapshot does not encode", "");
        if (hs_field_stats_decode(t1, l1, &again, &info, why, sizeof why) != HS_OK)
            fuzz_fail("encoded snapshot does not decode", why);
        if (hs_field_stats_encode(&again, &info, &t2, &l2) != HS_OK)
            fuzz_fail("re-decoded snapshot does not encode", "");
        if (l1 != l2 || memcmp(t1, t2, l1) != 0)
            fuzz_fail("round trip is not stable", t1);
        hs_field_stats_merge(&sum, &s);
        hs_field_stats_merge(&sum, &again);
        hs_field_stats_halve(&sum);
    }
    free(t1);
    free(t2);
    hs_field_stats_release(&s);
    hs_field_stats_release(&again);
    hs_field_stats_release(&sum);
}

static void check_manifest_fields(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    uint64_t *d = NULL;
    size_t n = 0;
    if (hs_manifest_fdig_decode(text, &d, &n) == HS_OK) {
        char *back = hs_manifest_fdig_encode(d, n);
        if (strcmp(back, text) != 0)
            fuzz_fail("fdig text does not round trip", text);
        free(back);
        free(d);
    }
    struct hs_manifest m = {.strategy = HS_STRATEGY_FIELD_HYBRID, .field_order_json = text};
    struct hs_manifest_field *f = NULL;
    if (hs_manifest_fields_list(&m, &f, &n) == HS_OK)
        hs_manifest_fields_free(f, n);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_snapshot(data, size);
    check_manifest_fields(data, size);
    return 0;
}
