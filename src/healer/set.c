/* set.c - the healer's string set (healer.h: struct hs_healer_set): strings or (a, b) pairs
 * such as (blob id, node id) and txn ids, in one open-addressing table of heap strings. Pure
 * and not thread-safe: each pass owns its sets. */
#include <stdlib.h>
#include <string.h>

#include "healer/healer.h"
#include "hs/mem.h"
#include "hs/banned.h"

/* FNV-1a over a, then '\n', then b: cheap and good enough for ids that are already random. */
static uint64_t set_hash(const char *a, const char *b)
{
    uint64_t x = 1469598103934665603ULL;
    for (const char *p = a; *p; p++)
        x = (x ^ (uint8_t)*p) * 1099511628211ULL;
    if (b) {
        x = (x ^ (uint8_t)'\n') * 1099511628211ULL;
        for (const char *p = b; *p; p++)
            x = (x ^ (uint8_t)*p) * 1099511628211ULL;
    }
    return x ^ (x >> 29);
}

static bool set_equal(const char *slot, const char *a, const char *b)
{
    size_t la = strlen(a);
    if (strncmp(slot, a, la) != 0)
        return false;
    if (!b)
        return slot[la] == '\0';
    return slot[la] == '\n' && strcmp(slot + la + 1, b) == 0;
}

/* The slot holding (a, b) or the empty slot where it would go. cap must be > 0. */
static size_t set_find(const struct hs_healer_set *s, const char *a, const char *b)
{
    size_t i = (size_t)set_hash(a, b) & (s->cap - 1);
    while (s->slots[i] && !set_equal(s->slots[i], a, b))
        i = (i + 1) & (s->cap - 1);
    return i;
}

static void set_grow(struct hs_healer_set *s)
{
    size_t old_cap = s->cap;
    char **old = s->slots;
    s->cap = old_cap ? old_cap * 2 : 64;
    s->slots = hs_xcalloc(s->cap, sizeof *s->slots);
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i])
            continue;
        /* rehash the stored text as a single string: it hashes like (a, b) did */
        char *nl = strchr(old[i], '\n');
        if (nl)
            *nl = '\0';
        size_t j = set_find(s, old[i], nl ? nl + 1 : NULL);
        if (nl)
            *nl = '\n';
        s->slots[j] = old[i];
    }
    free(old);
}

void hs_healer_set_init(struct hs_healer_set *s)
{
    memset(s, 0, sizeof *s);
}

void hs_healer_set_release(struct hs_healer_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i]);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

bool hs_healer_set_add(struct hs_healer_set *s, const char *a, const char *b)
{
    if ((s->n + 1) * 4 > s->cap * 3)
        set_grow(s);
    size_t i = set_find(s, a, b);
    if (s->slots[i])
        return false;
    s->slots[i] = b ? hs_xasprintf("%s\n%s", a, b) : hs_xstrdup(a);
    s->n++;
    return true;
}

bool hs_healer_set_has(const struct hs_healer_set *s, const char *a, const char *b)
{
    return s->cap && s->slots[set_find(s, a, b)] != NULL;
}
