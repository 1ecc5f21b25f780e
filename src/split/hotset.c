/* hotset.c - the set of hot top-level field names: an open-addressing table of copied names,
 * built once from configuration and then only read (so threads may share it). */
#include "split_int.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "hs/csv.h"
#include "hs/mem.h"
#include "hs/banned.h"

struct hs_split_hotset {
    char **names;      /* copies, NUL-terminated (names may hold NUL: len is authoritative) */
    size_t *lens;      /* byte length of each name */
    size_t n;          /* names stored */
    uint32_t *table;   /* name index + 1; 0 = empty */
    size_t table_size; /* power of two, >= 2 * n */
};

/* Plain UTF-8 check (the scanner's own routine expects JSON string context). */
static bool utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            return false;
        }
        if (i + need >= n) /* the continuation bytes are p[i + 1 .. i + need] */
            return false;
        for (size_t k = 1; k <= need; k++) {
            uint8_t b = p[i + k];
            if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF))
                return false;
        }
        i += need + 1;
    }
    return true;
}

static size_t slot_of(const struct hs_split_hotset *hs, const void *key, size_t len)
{
    size_t mask = hs->table_size - 1;
    for (size_t s = (size_t)XXH3_64bits(key, len) & mask;; s = (s + 1) & mask) {
        uint32_t e = hs->table[s];
        if (e == 0 || (hs->lens[e - 1] == len && memcmp(hs->names[e - 1], key, len) == 0))
            return s;
    }
}

static void add_name(struct hs_split_hotset *hs, const char *name, size_t len)
{
    size_t s = slot_of(hs, name, len);
    if (hs->table[s] != 0)
        return; /* repeated name */
    hs->names[hs->n] = hs_xstrndup(name, len);
    hs->lens[hs->n] = len;
    hs->table[s] = (uint32_t)++hs->n;
}

/* An empty set with room for up to max names. */
static struct hs_split_hotset *hotset_alloc(size_t max)
{
    struct hs_split_hotset *hs = hs_xcalloc(1, sizeof *hs);
    hs->names = hs_xcalloc(max ? max : 1, sizeof *hs->names);
    hs->lens = hs_xcalloc(max ? max : 1, sizeof *hs->lens);
    hs->table_size = 8;
    while (hs->table_size < 2 * max)
        hs->table_size *= 2;
    hs->table = hs_xcalloc(hs->table_size, sizeof *hs->table);
    return hs;
}

enum hs_err hs_split_hotset_new(const char *const *names, size_t n, struct hs_split_hotset **out)
{
    for (size_t i = 0; i < n; i++)
        if (!utf8_valid((const uint8_t *)names[i], strlen(names[i])))
            return HS_EINVAL;
    struct hs_split_hotset *hs = hotset_alloc(n);
    for (size_t i = 0; i < n; i++)
        add_name(hs, names[i], strlen(names[i]));
    *out = hs;
    return HS_OK;
}

enum hs_err hs_split_hotset_new_csv(const char *list, struct hs_split_hotset **out)
{
    if (!utf8_valid((const uint8_t *)list, strlen(list)))
        return HS_EINVAL;
    size_t max = 1;
    for (const char *c = list; *c; c++)
        max += *c == ',';
    struct hs_split_hotset *hs = hotset_alloc(max);
    const char *p = list, *a;
    size_t n;
    while (hs_csv_next(&p, &a, &n))
        add_name(hs, a, n);
    *out = hs;
    return HS_OK;
}

void hs_split_hotset_free(struct hs_split_hotset *hs)
{
    if (!hs)
        return;
    for (size_t i = 0; i < hs->n; i++)
        free(hs->names[i]);
    free(hs->names);
    free(hs->lens);
    free(hs->table);
    free(hs);
}

bool hs_split_hotset_contains(const struct hs_split_hotset *hs, const void *key, size_t len)
{
    if (!hs || hs->n == 0)
        return false;
    return hs->table[slot_of(hs, key, len)] != 0;
}

size_t hs_split_hotset_count(const struct hs_split_hotset *hs)
{
    return hs ? hs->n : 0;
}
