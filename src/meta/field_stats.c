/* field_stats.c - the per-collection field sketch of field_stats.h: Space-Saving over
 * collections, fields and field sets, halving, merge. The snapshot JSON codec lives in
 * field_stats_json.c. Lookups are linear scans over 64-bit name hashes: the tables are small
 * (256 collections, 64 fields, 32 sets by default) and a scan over one hash array is a few
 * hundred nanoseconds, cheaper than keeping a hash index consistent through eviction and sort. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "hs/field_stats.h"
#include "hs/mem.h"
#include "meta/field_stats_int.h"
#include "hs/banned.h"

uint64_t hs_fstat_hash(const void *p, size_t len, uint64_t h)
{
    /* FNV-1a 64: names are short, and the hash only picks candidates for a memcmp. */
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#define HASH_SEED 0xcbf29ce484222325ull

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    uint64_t r = a + b;
    return (r < a || r > HS_FSTAT_COUNT_MAX) ? HS_FSTAT_COUNT_MAX : r;
}

size_t hs_fstat_collection_len(const struct hs_fstat_rule *rule, const char *key, size_t key_len)
{
    const char *seps = (rule && rule->seps[0]) ? rule->seps : HS_FSTAT_DEFAULT_SEPS;
    unsigned depth = (rule && rule->depth) ? rule->depth : 1;
    size_t n = 0;
    for (size_t i = 0; i < key_len; i++) {
        if (key[i] != '\0' && strchr(seps, key[i]) && ++n == depth) {
            n = i + 1;
            goto cut;
        }
    }
    return 0;
cut:
    if (n > HS_FSTAT_COLL_MAX) {
        n = HS_FSTAT_COLL_MAX;
        /* never cut a UTF-8 sequence: back off to the start of the character at n */
        while (n > 0 && ((unsigned char)key[n] & 0xc0) == 0x80)
            n--;
    }
    return n;
}

enum hs_err hs_fstat_rule_set(struct hs_fstat_rule *out, const char *seps, unsigned depth)
{
    size_t n = seps ? strlen(seps) : 0;
    if (n == 0 || n >= sizeof out->seps || depth > HS_FSTAT_DEPTH_MAX)
        return HS_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (seps[i] < 0x21 || seps[i] > 0x7e)
            return HS_EINVAL;
    memcpy(out->seps, seps, n + 1);
    out->depth = depth ? depth : 1;
    return HS_OK;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

enum hs_err hs_fstat_limits_fill(const struct hs_fstat_limits *in, struct hs_fstat_limits *out)
{
    struct hs_fstat_limits l = in ? *in : (struct hs_fstat_limits){0};
    if (!l.collections)
        l.collections = HS_FSTAT_DEFAULT_COLLS;
    if (!l.fields)
        l.fields = HS_FSTAT_DEFAULT_FIELDS;
    if (!l.sets)
        l.sets = HS_FSTAT_DEFAULT_SETS;
    if (!l.halve_every)
        l.halve_every = HS_FSTAT_DEFAULT_HALVE;
    if (l.collections > HS_FSTAT_COLLS_MAX || l.fields > HS_FSTAT_FIELDS_MAX ||
        l.sets > HS_FSTAT_SETS_MAX || l.halve_every < HS_FSTAT_HALVE_MIN ||
        l.halve_every > HS_FSTAT_HALVE_MAX)
        return HS_EINVAL;
    *out = l;
    return HS_OK;
}

enum hs_err hs_field_stats_init(struct hs_field_stats *s, const struct hs_fstat_limits *limits)
{
    struct hs_fstat_limits l;
    if (hs_fstat_limits_fill(limits, &l) != HS_OK)
        return HS_EINVAL;
    memset(s, 0, sizeof *s);
    s->limits = l;
    s->colls = hs_xcalloc(l.collections, sizeof *s->colls);
    return HS_OK;
}

void hs_fstat_set_release(struct hs_fstat_set *t)
{
    for (uint32_t i = 0; i < t->n_names; i++)
        free(t->names[i]);
    free(t->names);
    memset(t, 0, sizeof *t);
}

void hs_fstat_coll_release(struct hs_fstat_coll *c)
{
    free(c->name);
    for (uint32_t i = 0; i < c->n_fields; i++)
        free(c->fields[i].name);
    free(c->fields);
    for (uint32_t i = 0; i < c->n_csets; i++)
        hs_fstat_set_release(&c->csets[i]);
    free(c->csets);
    for (uint32_t i = 0; i < c->n_rsets; i++)
        hs_fstat_set_release(&c->rsets[i]);
    free(c->rsets);
    memset(c, 0, sizeof *c);
}

void hs_field_stats_reset(struct hs_field_stats *s)
{
    for (uint32_t i = 0; i < s->n_colls; i++)
        hs_fstat_coll_release(&s->colls[i]);
    s->n_colls = 0;
}

void hs_field_stats_release(struct hs_field_stats *s)
{
    if (!s)
        return;
    hs_field_stats_reset(s);
    free(s->colls);
    memset(s, 0, sizeof *s);
}

/* A new collection slot's arrays, sized by the sketch's limits. */
void hs_fstat_coll_alloc(const struct hs_fstat_limits *l, struct hs_fstat_coll *c, const char *name,
                         size_t len)
{
    memset(c, 0, sizeof *c);
    c->name = hs_xmalloc(len + 1);
    memcpy(c->name, name, len);
    c->name[len] = '\0';
    c->hash_ = hs_fstat_hash(name, len, HASH_SEED);
    c->fields = hs_xcalloc(l->fields, sizeof *c->fields);
    c->csets = hs_xcalloc(l->sets, sizeof *c->csets);
    c->rsets = hs_xcalloc(l->sets, sizeof *c->rsets);
}

/* ---- lookups ------------------------------------------------------------------------------ */

static struct hs_fstat_coll *coll_find(const struct hs_field_stats *s, const char *name, size_t len,
                                       uint64_t h)
{
    for (uint32_t i = 0; i < s->n_colls; i++) {
        struct hs_fstat_coll *c = &s->colls[i];
        if (c->hash_ == h && strlen(c->name) == len && memcmp(c->name, name, len) == 0)
            return c;
    }
    return NULL;
}

const struct hs_fstat_coll *hs_field_stats_find(const struct hs_field_stats *s, const char *coll,
                                                size_t coll_len)
{
    return coll_find(s, coll, coll_len, hs_fstat_hash(coll, coll_len, HASH_SEED));
}

static struct hs_fstat_field *field_find(const struct hs_fstat_coll *c, const char *name,
                                         size_t len, uint64_t h)
{
    for (uint32_t i = 0; i < c->n_fields; i++) {
        struct hs_fstat_field *f = &c->fields[i];
        if (f->hash_ == h && memcmp(f->name, name, len) == 0 && f->name[len] == '\0')
            return f;
    }
    return NULL;
}

const struct hs_fstat_field *hs_fstat_coll_field(const struct hs_fstat_coll *c, const char *name,
                                                 size_t name_len)
{
    return field_find(c, name, name_len, hs_fstat_hash(name, name_len, HASH_SEED));
}

uint64_t hs_fstat_name_hash(const char *name, size_t len)
{
    return hs_fstat_hash(name, len, HASH_SEED);
}

/* ---- Space-Saving steps ----------------------------------------------------------------------
 */

/* The collection for name: found, added in a free slot, or taking the least active one's slot
 * (Space-Saving: count = min + 1 follows at the caller's increment, err = min). */
static struct hs_fstat_coll *coll_get(struct hs_field_stats *s, const char *name, size_t len)
{
    uint64_t h = hs_fstat_hash(name, len, HASH_SEED);
    struct hs_fstat_coll *c = coll_find(s, name, len, h);
    if (c)
        return c;
    if (s->n_colls < s->limits.collections) {
        c = &s->colls[s->n_colls++];
        hs_fstat_coll_alloc(&s->limits, c, name, len);
        return c;
    }
    struct hs_fstat_coll *min = &s->colls[0];
    for (uint32_t i = 1; i < s->n_colls; i++)
        if (s->colls[i].count < min->count)
            min = &s->colls[i];
    uint64_t m = min->count;
    hs_fstat_coll_release(min);
    hs_fstat_coll_alloc(&s->limits, min, name, len);
    min->count = m;
    min->err = m;
    return min;
}

static struct hs_fstat_field *field_get(const struct hs_fstat_limits *l, struct hs_fstat_coll *c,
                                        const char *name, size_t len)
{
    uint64_t h = hs_fstat_hash(name, len, HASH_SEED);
    struct hs_fstat_field *f = field_find(c, name, len, h);
    if (f)
        return f;
    uint64_t m = 0;
    if (c->n_fields < l->fields) {
        f = &c->fields[c->n_fields++];
    } else {
        f = &c->fields[0];
        for (uint32_t i = 1; i < c->n_fields; i++)
            if (c->fields[i].count < f->count)
                f = &c->fields[i];
        m = f->count;
        free(f->name);
    }
    memset(f, 0, sizeof *f);
    f->name = hs_xmalloc(len + 1);
    memcpy(f->name, name, len);
    f->name[len] = '\0';
    f->hash_ = h;
    f->count = m;
    f->err = m;
    return f;
}

bool hs_fstat_set_equal(const struct hs_fstat_set *a, const struct hs_fstat_set *b)
{
    if (a->hash_ != b->hash_ || a->n_names != b->n_names || a->more != b->more)
        return false;
    for (uint32_t i = 0; i < a->n_names; i++)
        if (strcmp(a->names[i], b->names[i]) != 0)
            return false;
    return true;
}

void hs_fstat_set_copy(struct hs_fstat_set *dst, const struct hs_fstat_set *src)
{
    *dst = *src;
    dst->names = hs_xcalloc(src->n_names ? src->n_names : 1, sizeof *dst->names);
    for (uint32_t i = 0; i < src->n_names; i++)
        dst->names[i] = hs_xstrdup(src->names[i]);
}

uint64_t hs_fstat_set_hash(const struct hs_fstat_set *t)
{
    uint64_t h = HASH_SEED;
    for (uint32_t i = 0; i < t->n_names; i++)
        h = hs_fstat_hash(t->names[i], strlen(t->names[i]) + 1, h);
    return hs_fstat_hash(t->more ? "+" : "-", 1, h);
}

/* Counts one occurrence of the borrowed set key (names not owned) in sets[0..*n). */
static void set_add(struct hs_fstat_set *sets, uint32_t *n, uint32_t cap,
                    const struct hs_fstat_set *key)
{
    for (uint32_t i = 0; i < *n; i++) {
        if (hs_fstat_set_equal(&sets[i], key)) {
            sets[i].count = sat_add(sets[i].count, 1);
            return;
        }
    }
    struct hs_fstat_set *t;
    uint64_t m = 0;
    if (*n < cap) {
        t = &sets[(*n)++];
    } else {
        t = &sets[0];
        for (uint32_t i = 1; i < *n; i++)
            if (sets[i].count < t->count)
                t = &sets[i];
        m = t->count;
        hs_fstat_set_release(t);
    }
    hs_fstat_set_copy(t, key);
    t->count = sat_add(m, 1);
    t->err = m;
}

/* ---- building a set key from observations ---------------------------------------------------
 */

struct set_builder {
    const char *names[HS_FSTAT_SET_NAMES_MAX]; /* borrowed, sorted, distinct */
    size_t lens[HS_FSTAT_SET_NAMES_MAX];
    uint32_t n;
    bool more;
};

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int r = memcmp(a, b, alen < blen ? alen : blen);
    if (r)
        return r;
    return alen < blen ? -1 : alen > blen;
}

static bool name_trackable(const char *name, size_t len)
{
    return len <= HS_FSTAT_NAME_MAX && !memchr(name, '\0', len);
}

/* Keeps the HS_FSTAT_SET_NAMES_MAX smallest distinct names: O(n * 16) without a full sort. */
static void builder_add(struct set_builder *b, const char *name, size_t len)
{
    if (!name_trackable(name, len)) {
        b->more = true;
        return;
    }
    uint32_t pos = 0;
    while (pos < b->n) {
        int r = name_cmp(b->names[pos], b->lens[pos], name, len);
        if (r == 0)
            return;
        if (r > 0)
            break;
        pos++;
    }
    if (pos == HS_FSTAT_SET_NAMES_MAX) {
        b->more = true;
        return;
    }
    if (b->n == HS_FSTAT_SET_NAMES_MAX) {
        b->more = true;
        b->n--;
    }
    memmove(&b->names[pos + 1], &b->names[pos], (b->n - pos) * sizeof b->names[0]);
    memmove(&b->lens[pos + 1], &b->lens[pos], (b->n - pos) * sizeof b->lens[0]);
    b->names[pos] = name;
    b->lens[pos] = len;
    b->n++;
}

/* Runs fn with the builder's set as a borrowed hs_fstat_set (names copied to one stack block,
 * cut at HS_FSTAT_SET_BYTES_MAX). */
static void builder_count(struct set_builder *b, struct hs_fstat_set *sets, uint32_t *n,
                          uint32_t cap)
{
    char block[HS_FSTAT_SET_BYTES_MAX + HS_FSTAT_SET_NAMES_MAX];
    char *ptrs[HS_FSTAT_SET_NAMES_MAX];
    size_t used = 0, bytes = 0;
    struct hs_fstat_set key = {.names = ptrs, .more = b->more};
    for (uint32_t i = 0; i < b->n; i++) {
        if (bytes + b->lens[i] > HS_FSTAT_SET_BYTES_MAX) {
            key.more = true;
            break;
        }
        ptrs[i] = &block[used];
        memcpy(&block[used], b->names[i], b->lens[i]);
        block[used + b->lens[i]] = '\0';
        used += b->lens[i] + 1;
        bytes += b->lens[i];
        key.n_names++;
    }
    key.hash_ = hs_fstat_set_hash(&key);
    set_add(sets, n, cap, &key);
}

/* ---- halving -------------------------------------------------------------------------------- */

static void halve_sets(struct hs_fstat_set *sets, uint32_t *n)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < *n; i++) {
        sets[i].count /= 2;
        sets[i].err /= 2;
        if (sets[i].count == 0) {
            hs_fstat_set_release(&sets[i]);
            continue;
        }
        if (k != i)
            sets[k] = sets[i];
        k++;
    }
    *n = k;
}

static void halve_coll(struct hs_fstat_coll *c)
{
    c->count /= 2;
    c->err /= 2;
    c->writes /= 2;
    c->puts /= 2;
    c->known /= 2;
    c->full_reads /= 2;
    c->proj_reads /= 2;
    c->untracked /= 2;
    c->since_halve = 0;
    c->since_writes = 0;
    uint32_t k = 0;
    for (uint32_t i = 0; i < c->n_fields; i++) {
        struct hs_fstat_field *f = &c->fields[i];
        f->count /= 2;
        f->err /= 2;
        f->present /= 2;
        f->changed /= 2;
        f->bytes /= 2;
        if (f->count == 0) {
            free(f->name);
            continue;
        }
        if (k != i)
            c->fields[k] = *f;
        k++;
    }
    c->n_fields = k;
    halve_sets(c->csets, &c->n_csets);
    halve_sets(c->rsets, &c->n_rsets);
}

void hs_field_stats_halve(struct hs_field_stats *s)
{
    for (uint32_t i = 0; i < s->n_colls; i++)
        halve_coll(&s->colls[i]);
}

/* n halvings; past HS_FSTAT_HALVINGS_MAX every counter is 0 anyway (counts < 2^53). */
static void halve_n(struct hs_fstat_coll *c, uint64_t n)
{
    for (uint64_t i = 0; i < n && i < HS_FSTAT_HALVINGS_MAX; i++)
        halve_coll(c);
}

static void event_done(const struct hs_field_stats *s, struct hs_fstat_coll *c)
{
    /* a paced collection is halved by the healer's epochs; halving itself as well would fade
     * its evidence twice over, so it does only when no epoch came for a long time */
    uint64_t every = (uint64_t)s->limits.halve_every * (c->paced ? HS_FSTAT_PACED_STALE : 1);
    if (++c->since_halve >= every)
        halve_coll(c);
}

uint32_t hs_field_stats_pace(struct hs_field_stats *s, uint64_t halve_writes)
{
    assert(halve_writes >= 1);
    uint32_t halved = 0;
    for (uint32_t i = 0; i < s->n_colls; i++) {
        struct hs_fstat_coll *c = &s->colls[i];
        if (!c->paced) {
            c->paced = true;
            c->epoch = 0;
        }
        uint64_t n = c->since_writes / halve_writes;
        if (n == 0)
            continue;
        uint64_t rest = c->since_writes - n * halve_writes;
        halve_n(c, n);
        c->since_writes = rest;
        c->epoch = sat_add(c->epoch, n);
        halved++;
    }
    return halved;
}

bool hs_field_stats_set_epoch(struct hs_field_stats *s, const char *coll, size_t coll_len,
                              uint64_t epoch)
{
    struct hs_fstat_coll *c =
        coll_find(s, coll, coll_len, hs_fstat_hash(coll, coll_len, HASH_SEED));
    if (!c)
        return false;
    if (!c->paced) {
        c->paced = true;
        c->epoch = epoch;
    } else if (c->epoch < epoch) {
        halve_n(c, epoch - c->epoch);
        c->epoch = epoch;
    }
    return true;
}

/* ---- recording ------------------------------------------------------------------------------ */

static void record_field(const struct hs_fstat_limits *l, struct hs_fstat_coll *c,
                         const struct hs_fstat_obs *o, bool known, bool patch)
{
    bool present = !patch && o->present;
    bool changed = known && (patch || o->changed);
    if (!present && !changed)
        return;
    if (!name_trackable(o->name, o->name_len)) {
        c->untracked = sat_add(c->untracked, 1);
        return;
    }
    struct hs_fstat_field *f = field_get(l, c, o->name, o->name_len);
    f->count = sat_add(f->count, 1);
    if (present) {
        f->present = sat_add(f->present, 1);
        f->bytes = sat_add(f->bytes, o->bytes);
    }
    if (changed)
        f->changed = sat_add(f->changed, 1);
}

void hs_field_stats_record_write(struct hs_field_stats *s, const struct hs_fstat_write *w)
{
    struct hs_fstat_coll *c = coll_get(s, w->coll, w->coll_len);
    bool known = w->patch || w->changes_known;
    c->count = sat_add(c->count, 1);
    c->writes = sat_add(c->writes, 1);
    if (!w->patch)
        c->puts = sat_add(c->puts, 1);
    if (known) {
        /* only writes that are evidence pace the fading: a burst of creates (no change set)
         * must not halve a young window below the evidence a decision needs */
        c->known = sat_add(c->known, 1);
        c->since_writes = sat_add(c->since_writes, 1);
    }
    struct set_builder b = {.n = 0};
    for (size_t i = 0; i < w->n_fields; i++) {
        const struct hs_fstat_obs *o = &w->fields[i];
        record_field(&s->limits, c, o, known, w->patch);
        if (known && (w->patch || o->changed))
            builder_add(&b, o->name, o->name_len);
    }
    if (known)
        builder_count(&b, c->csets, &c->n_csets, s->limits.sets);
    struct hs_fstat_totals *t = &c->tot;
    t->writes = sat_add(t->writes, 1);
    if (w->hybrid) {
        if (w->wrote_cold)
            t->cold = sat_add(t->cold, 1);
        else
            t->pure_hot = sat_add(t->pure_hot, 1);
        t->hot_bytes = sat_add(t->hot_bytes, w->hot_bytes);
        t->cold_bytes = sat_add(t->cold_bytes, w->cold_bytes);
        t->predicted_bytes = sat_add(t->predicted_bytes, w->predicted_bytes);
        t->measured_bytes = sat_add(t->measured_bytes, sat_add(w->hot_bytes, w->cold_bytes));
        t->layout_epoch = w->layout_epoch;
    }
    event_done(s, c);
}

void hs_field_stats_record_read(struct hs_field_stats *s, const struct hs_fstat_read *r)
{
    struct hs_fstat_coll *c = coll_get(s, r->coll, r->coll_len);
    c->count = sat_add(c->count, 1);
    if (r->projection) {
        c->proj_reads = sat_add(c->proj_reads, 1);
        struct set_builder b = {.n = 0};
        for (size_t i = 0; i < r->n_names; i++)
            builder_add(&b, r->names[i], strlen(r->names[i]));
        builder_count(&b, c->rsets, &c->n_rsets, s->limits.sets);
        if (r->served_hot)
            c->tot.proj_hot = sat_add(c->tot.proj_hot, 1);
        else
            c->tot.proj_full = sat_add(c->tot.proj_full, 1);
    } else {
        c->full_reads = sat_add(c->full_reads, 1);
    }
    event_done(s, c);
}

/* ---- sort ----------------------------------------------------------------------------------- */

static int coll_order(const void *pa, const void *pb)
{
    const struct hs_fstat_coll *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return strcmp(a->name, b->name);
}

static int field_order(const void *pa, const void *pb)
{
    const struct hs_fstat_field *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return strcmp(a->name, b->name);
}

int hs_fstat_set_cmp(const struct hs_fstat_set *a, const struct hs_fstat_set *b)
{
    for (uint32_t i = 0; i < a->n_names && i < b->n_names; i++) {
        int r = strcmp(a->names[i], b->names[i]);
        if (r)
            return r;
    }
    if (a->n_names != b->n_names)
        return a->n_names < b->n_names ? -1 : 1;
    return (int)a->more - (int)b->more;
}

static int set_order(const void *pa, const void *pb)
{
    const struct hs_fstat_set *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return hs_fstat_set_cmp(a, b);
}

void hs_fstat_coll_sort(struct hs_fstat_coll *c)
{
    if (c->n_fields > 1)
        qsort(c->fields, c->n_fields, sizeof *c->fields, field_order);
    if (c->n_csets > 1)
        qsort(c->csets, c->n_csets, sizeof *c->csets, set_order);
    if (c->n_rsets > 1)
        qsort(c->rsets, c->n_rsets, sizeof *c->rsets, set_order);
}

void hs_field_stats_sort(struct hs_field_stats *s)
{
    if (s->n_colls > 1)
        qsort(s->colls, s->n_colls, sizeof *s->colls, coll_order);
    for (uint32_t i = 0; i < s->n_colls; i++)
        hs_fstat_coll_sort(&s->colls[i]);
}

/* ---- merge ---------------------------------------------------------------------------------- */

static uint64_t min_field(const struct hs_fstat_coll *c, uint32_t cap)
{
    if (c->n_fields < cap)
        return 0;
    uint64_t m = HS_FSTAT_COUNT_MAX;
    for (uint32_t i = 0; i < c->n_fields; i++)
        if (c->fields[i].count < m)
            m = c->fields[i].count;
    return m;
}

static uint64_t min_set(const struct hs_fstat_set *sets, uint32_t n, uint32_t cap)
{
    if (n < cap)
        return 0;
    uint64_t m = HS_FSTAT_COUNT_MAX;
    for (uint32_t i = 0; i < n; i++)
        if (sets[i].count < m)
            m = sets[i].count;
    return m;
}

static void merge_fields(const struct hs_fstat_limits *dl, struct hs_fstat_coll *d,
                         const struct hs_fstat_coll *s, uint32_t s_cap)
{
    uint64_t dmin = min_field(d, dl->fields), smin = min_field(s, s_cap);
    uint32_t n = d->n_fields;
    struct hs_fstat_field *all = hs_xcalloc((size_t)n + s->n_fields + 1, sizeof *all);
    memcpy(all, d->fields, n * sizeof *all);
    bool *seen = hs_xcalloc((size_t)s->n_fields + 1, sizeof *seen);
    for (uint32_t i = 0; i < n; i++) {
        struct hs_fstat_field *f = &all[i];
        const struct hs_fstat_field *o = NULL;
        for (uint32_t j = 0; j < s->n_fields && !o; j++)
            if (!seen[j] && s->fields[j].hash_ == f->hash_ &&
                strcmp(s->fields[j].name, f->name) == 0) {
                o = &s->fields[j];
                seen[j] = true;
            }
        if (o) {
            f->count = sat_add(f->count, o->count);
            f->err = sat_add(f->err, o->err);
            f->present = sat_add(f->present, o->present);
            f->changed = sat_add(f->changed, o->changed);
            f->bytes = sat_add(f->bytes, o->bytes);
        } else {
            f->count = sat_add(f->count, smin);
            f->err = sat_add(f->err, smin);
        }
    }
    for (uint32_t j = 0; j < s->n_fields; j++) {
        if (seen[j])
            continue;
        struct hs_fstat_field *f = &all[n++];
        *f = s->fields[j];
        f->name = hs_xstrdup(s->fields[j].name);
        f->count = sat_add(f->count, dmin);
        f->err = sat_add(f->err, dmin);
    }
    free(seen);
    if (n > dl->fields) {
        qsort(all, n, sizeof *all, field_order);
        for (uint32_t i = dl->fields; i < n; i++)
            free(all[i].name);
        n = dl->fields;
    }
    memcpy(d->fields, all, n * sizeof *all);
    d->n_fields = n;
    free(all);
}

static void merge_sets(uint32_t d_cap, struct hs_fstat_set *dsets, uint32_t *dn,
                       const struct hs_fstat_set *ssets, uint32_t sn, uint32_t s_cap)
{
    uint64_t dmin = min_set(dsets, *dn, d_cap), smin = min_set(ssets, sn, s_cap);
    uint32_t n = *dn;
    struct hs_fstat_set *all = hs_xcalloc((size_t)n + sn + 1, sizeof *all);
    memcpy(all, dsets, n * sizeof *all);
    bool *seen = hs_xcalloc((size_t)sn + 1, sizeof *seen);
    for (uint32_t i = 0; i < n; i++) {
        const struct hs_fstat_set *o = NULL;
        for (uint32_t j = 0; j < sn && !o; j++)
            if (!seen[j] && hs_fstat_set_equal(&ssets[j], &all[i])) {
                o = &ssets[j];
                seen[j] = true;
            }
        all[i].count = sat_add(all[i].count, o ? o->count : smin);
        all[i].err = sat_add(all[i].err, o ? o->err : smin);
    }
    for (uint32_t j = 0; j < sn; j++) {
        if (seen[j])
            continue;
        struct hs_fstat_set *t = &all[n++];
        hs_fstat_set_copy(t, &ssets[j]);
        t->count = sat_add(t->count, dmin);
        t->err = sat_add(t->err, dmin);
    }
    free(seen);
    if (n > d_cap) {
        qsort(all, n, sizeof *all, set_order);
        for (uint32_t i = d_cap; i < n; i++)
            hs_fstat_set_release(&all[i]);
        n = d_cap;
    }
    memcpy(dsets, all, n * sizeof *all);
    *dn = n;
    free(all);
}

static void totals_add(struct hs_fstat_totals *d, const struct hs_fstat_totals *s)
{
    d->writes = sat_add(d->writes, s->writes);
    d->pure_hot = sat_add(d->pure_hot, s->pure_hot);
    d->cold = sat_add(d->cold, s->cold);
    d->hot_bytes = sat_add(d->hot_bytes, s->hot_bytes);
    d->cold_bytes = sat_add(d->cold_bytes, s->cold_bytes);
    d->proj_hot = sat_add(d->proj_hot, s->proj_hot);
    d->proj_full = sat_add(d->proj_full, s->proj_full);
    d->predicted_bytes = sat_add(d->predicted_bytes, s->predicted_bytes);
    d->measured_bytes = sat_add(d->measured_bytes, s->measured_bytes);
    if (s->layout_epoch > d->layout_epoch)
        d->layout_epoch = s->layout_epoch;
}

/* Adds s's contents (a collection of a sketch with limits sl) into d (dl). */
static void merge_coll(const struct hs_fstat_limits *dl, struct hs_fstat_coll *d,
                       const struct hs_fstat_limits *sl, const struct hs_fstat_coll *s)
{
    d->writes = sat_add(d->writes, s->writes);
    d->puts = sat_add(d->puts, s->puts);
    d->known = sat_add(d->known, s->known);
    d->full_reads = sat_add(d->full_reads, s->full_reads);
    d->proj_reads = sat_add(d->proj_reads, s->proj_reads);
    d->untracked = sat_add(d->untracked, s->untracked);
    d->since_halve = sat_add(d->since_halve, s->since_halve);
    d->since_writes = sat_add(d->since_writes, s->since_writes);
    merge_fields(dl, d, s, sl->fields);
    merge_sets(dl->sets, d->csets, &d->n_csets, s->csets, s->n_csets, sl->sets);
    merge_sets(dl->sets, d->rsets, &d->n_rsets, s->rsets, s->n_rsets, sl->sets);
    totals_add(&d->tot, &s->tot);
}

/* Adds s (of a sketch with limits sl) into d (dl), counts included, after aligning their epochs
 * (field_stats.h "Pacing"). */
static void merge_paced(const struct hs_fstat_limits *dl, struct hs_fstat_coll *d,
                        const struct hs_fstat_limits *sl, const struct hs_fstat_coll *s)
{
    if (s->paced && d->paced && d->epoch < s->epoch) {
        halve_n(d, s->epoch - d->epoch);
        d->epoch = s->epoch;
    } else if (s->paced && !d->paced) {
        d->paced = true;
        d->epoch = s->epoch;
    }
    if (!(s->paced && d->paced && s->epoch < d->epoch)) {
        d->count = sat_add(d->count, s->count);
        d->err = sat_add(d->err, s->err);
        merge_coll(dl, d, sl, s);
        return;
    }
    /* s lags: add a copy of it halved up to d's epoch (s is const) */
    struct hs_fstat_coll t;
    hs_fstat_coll_alloc(sl, &t, s->name, strlen(s->name));
    t.count = s->count;
    t.err = s->err;
    merge_coll(sl, &t, sl, s);
    halve_n(&t, d->epoch - s->epoch);
    d->count = sat_add(d->count, t.count);
    d->err = sat_add(d->err, t.err);
    merge_coll(dl, d, sl, &t);
    hs_fstat_coll_release(&t);
}

static uint64_t min_coll(const struct hs_field_stats *s)
{
    if (s->n_colls < s->limits.collections)
        return 0;
    uint64_t m = HS_FSTAT_COUNT_MAX;
    for (uint32_t i = 0; i < s->n_colls; i++)
        if (s->colls[i].count < m)
            m = s->colls[i].count;
    return m;
}

void hs_field_stats_merge(struct hs_field_stats *dst, const struct hs_field_stats *src)
{
    assert(dst != src);
    uint64_t dmin = min_coll(dst), smin = min_coll(src);
    uint32_t n = dst->n_colls;
    struct hs_fstat_coll *all = hs_xcalloc((size_t)n + src->n_colls + 1, sizeof *all);
    memcpy(all, dst->colls, n * sizeof *all);
    bool *seen = hs_xcalloc((size_t)src->n_colls + 1, sizeof *seen);
    for (uint32_t i = 0; i < n; i++) {
        struct hs_fstat_coll *c = &all[i];
        const struct hs_fstat_coll *o = NULL;
        for (uint32_t j = 0; j < src->n_colls && !o; j++)
            if (!seen[j] && src->colls[j].hash_ == c->hash_ &&
                strcmp(src->colls[j].name, c->name) == 0) {
                o = &src->colls[j];
                seen[j] = true;
            }
        if (o) {
            merge_paced(&dst->limits, c, &src->limits, o);
        } else {
            c->count = sat_add(c->count, smin);
            c->err = sat_add(c->err, smin);
        }
    }
    for (uint32_t j = 0; j < src->n_colls; j++) {
        if (seen[j])
            continue;
        const struct hs_fstat_coll *o = &src->colls[j];
        struct hs_fstat_coll *c = &all[n++];
        hs_fstat_coll_alloc(&dst->limits, c, o->name, strlen(o->name));
        c->count = sat_add(o->count, dmin);
        c->err = sat_add(o->err, dmin);
        c->paced = o->paced;
        c->epoch = o->epoch;
        merge_coll(&dst->limits, c, &src->limits, o);
    }
    free(seen);
    if (n > dst->limits.collections) {
        qsort(all, n, sizeof *all, coll_order);
        for (uint32_t i = dst->limits.collections; i < n; i++)
            hs_fstat_coll_release(&all[i]);
        n = dst->limits.collections;
    }
    memcpy(dst->colls, all, n * sizeof *all);
    dst->n_colls = n;
    free(all);
}
