/* fuzz_layout.c - feeds arbitrary bytes to the layout record decoder (include/hs/layout.h) and,
 * as an order record, to hs_layout_object_fields. Whatever the decoder accepts must encode
 * again, and that text must decode and encode to the same bytes (a stable round trip); anything
 * else is a bug and aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_layout: %s: %s\n", what, why);
    abort();
}

static void check_record(const uint8_t *data, size_t size)
{
    struct hs_layout_record r, again;
    char why[256] = "";
    char *t1 = NULL, *t2 = NULL;
    size_t l1, l2;
    if (hs_layout_record_decode(data, size, &r, why, sizeof why) != HS_OK)
        return;
    enum hs_err err = hs_layout_record_encode(&r, &t1, &l1, why, sizeof why);
    hs_layout_record_release(&r);
    if (err == HS_ETOOBIG)
        return; /* escapes may grow the text past the limit: refused, not a bug */
    if (err != HS_OK)
        fuzz_fail("accepted record does not encode", why);
    if (hs_layout_record_decode(t1, l1, &again, why, sizeof why) != HS_OK)
        fuzz_fail("encoded record does not decode", why);
    if (hs_layout_record_encode(&again, &t2, &l2, why, sizeof why) != HS_OK)
        fuzz_fail("re-decoded record does not encode", why);
    if (l1 != l2 || memcmp(t1, t2, l1) != 0)
        fuzz_fail("record round trip is not stable", t1);
    hs_layout_record_release(&again);
    free(t1);
    free(t2);
}

static void check_order(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    struct hs_layout_fields hot = {0}, cold = {0};
    if (hs_layout_object_fields(text, &hot, &cold) == HS_OK) {
        for (size_t i = 0; i < hot.n; i++)
            if (!hs_layout_field_name_valid(hot.names[i]))
                fuzz_fail("object field not a valid name", hot.names[i]);
        for (size_t i = 1; i < cold.n; i++)
            if (strcmp(cold.names[i - 1], cold.names[i]) >= 0)
                fuzz_fail("object fields not sorted", cold.names[i]);
    }
    hs_layout_fields_release(&hot);
    hs_layout_fields_release(&cold);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_record(data, size);
    check_order(data, size);
    return 0;
}
