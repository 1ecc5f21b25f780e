/* fuzz_range.c - arbitrary bytes through the Range header parser (hs_http_range_parse) and the
 * resolver. Beyond "no crash": a parsed range resolves, for any size, to a span inside the
 * representation, and a suffix or open range never selects an empty span. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hs/http_server.h"
#include "hs/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* headers are C strings: an embedded NUL ends the value */
    struct hs_http_range r;
    if (hs_http_range_parse(text, &r)) {
        static const int64_t sizes[] = {0, 1, 2, 10, 4096, INT64_MAX};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            int64_t off = -1, len = -1;
            if (!hs_http_range_resolve(&r, sizes[i], &off, &len))
                continue;
            if (off < 0 || len < 1 || off >= sizes[i] || len > sizes[i] - off)
                abort();
        }
    }
    free(text);
    return 0;
}
