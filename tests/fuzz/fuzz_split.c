/* fuzz_split.c - fuzz target for the JSON splitter. The input is a document, optionally followed
 * by 0xFF (never valid in JSON) and a merge patch. Checked properties: nothing crashes; split and
 * validate agree (same error code and offset); an accepted document merges back to itself with
 * only the whitespace between top-level tokens removed; the stored cold part hashes to the
 * split's cold hash; an applied patch yields a hot part and record that merge with the cold part.
 * A violated property aborts, which libFuzzer reports and the corpus replay turns into a failure.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/split.h"
#include "hs/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_split: check failed: %s (line %d)\n", #cond, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The document with whitespace between top-level tokens removed: what merge must give back.
 * Tracks strings and nesting so that whitespace inside values is kept. */
static size_t compact_top_level(const uint8_t *p, size_t n, uint8_t *out)
{
    size_t w = 0, depth = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '"') {
            size_t j = i + 1;
            while (p[j] != '"')
                j += p[j] == '\\' ? 2 : 1;
            memcpy(out + w, p + i, j + 1 - i);
            w += j + 1 - i;
            i = j;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        /* depth <= 1: around the object or between its members' tokens, never inside a value */
        if (is_ws(c) && depth <= 1)
            continue;
        out[w++] = c;
    }
    return w;
}

static void check_patch(const struct hs_split_hotset *hs, const struct hs_split_result *r,
                        const uint8_t *patch, size_t patch_len)
{
    struct hs_buf hot, order, merged;
    struct hs_split_error e;
    bool touches = false;
    hs_buf_init(&hot, 0);
    hs_buf_init(&order, 0);
    hs_buf_init(&merged, 0);
    enum hs_err rc = hs_split_patch(NULL, hs, r->hot.data, r->hot.len, r->order.data, r->order.len,
                                    patch, patch_len, &hot, &order, &touches, &e);
    CHECK(rc == HS_OK || rc == HS_EINVAL);
    if (rc == HS_OK && !touches) {
        CHECK(hs_split_validate(NULL, hot.data, hot.len, NULL) == HS_OK);
        CHECK(hs_split_merge(NULL, hot.data, hot.len, r->cold.data, r->cold.len, order.data,
                             order.len, &merged, NULL) == HS_OK);
    } else {
        CHECK(hot.len == 0 && order.len == 0);
    }
    hs_buf_release(&hot);
    hs_buf_release(&order);
    hs_buf_release(&merged);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *names[] = {"a", "b", "like_count", "h", "\xC3\xA9", ""};
    struct hs_split_hotset *hs = NULL;
    struct hs_split_result r;
    struct hs_split_error e1 = {0}, e2 = {0};
    struct hs_buf merged;
    CHECK(hs_split_hotset_new(names, sizeof names / sizeof names[0], &hs) == HS_OK);
    const uint8_t *sep = memchr(data, 0xFF, size);
    size_t doc_len = sep ? (size_t)(sep - data) : size;
    hs_split_result_init(&r, 0);
    hs_buf_init(&merged, 0);
    enum hs_err rc = hs_split_document(NULL, hs, data, doc_len, &r, &e1);
    enum hs_err rv = hs_split_validate(NULL, data, doc_len, &e2);
    CHECK(rc == rv);
    if (rc != HS_OK) {
        CHECK(rc == HS_EINVAL && e1.code == e2.code && e1.offset == e2.offset);
        CHECK(e1.code != HS_SPLIT_OK && e1.offset <= doc_len);
        goto out;
    }
    CHECK(hs_split_merge(NULL, r.hot.data, r.hot.len, r.cold.data, r.cold.len, r.order.data,
                         r.order.len, &merged, NULL) == HS_OK);
    uint8_t *want = malloc(doc_len ? doc_len : 1);
    CHECK(want != NULL);
    size_t want_len = compact_top_level(data, doc_len, want);
    CHECK(merged.len == want_len && memcmp(merged.data, want, want_len) == 0);
    free(want);
    uint8_t hash[HS_SPLIT_HASH_BYTES];
    CHECK(hs_split_cold_hash(NULL, r.cold.data, r.cold.len, hash, NULL) == HS_OK);
    CHECK(memcmp(hash, r.cold_hash, sizeof hash) == 0);
    if (sep)
        check_patch(hs, &r, sep + 1, size - doc_len - 1);
out:
    hs_buf_release(&merged);
    hs_split_result_release(&r);
    hs_split_hotset_free(hs);
    return 0;
}
