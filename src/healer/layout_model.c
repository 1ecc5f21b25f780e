/* layout_model.c - the cost model of a candidate hot set and the candidate search
 * (layout_decide.h; the model is documented in docs/design.md "Adaptive hot fields"). Pure.
 *
 * The statistics name at most a few hundred fields and a few dozen change and read sets, so a
 * candidate is a bool per field and one evaluation walks the fields and the sets once. The
 * probability that a write changes only hot fields comes from the change-set heavy hitters
 * where they reach (exact, co-changes included) and from independent per-field rates for the
 * writes they miss (the residual): a set of fields that always change together is promoted
 * together, and rare combinations still count. */
#include "healer/layout_decide.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hs/mem.h"
#include "hs/banned.h"

struct mset {
    uint16_t *idx; /* field indexes (only fields in the model) */
    size_t n;
    bool more; /* names outside the model or dropped: never a subset */
    double w;
};

struct model {
    const struct hs_layout_config *cfg;
    size_t nf;
    const char **names;
    double *p;          /* presence rate */
    double *size;       /* mean bytes when present */
    double *resid;      /* change rate among the writes no change set covers */
    double *change;     /* change rate among known writes */
    bool *has_evidence; /* changes, or read in a projection: worth trying hot */
    double doc;         /* D */
    double known;       /* base of the change rates */
    double resid_w;     /* writes no change set covers */
    double proj;        /* projection reads */
    double reads_per_write;
    struct mset *cs, *rs;
    size_t ncs, nrs;
    /* per field, the sets holding it (for incremental evaluation): adj[i][0..n_adj[i]) are set
     * indexes, change sets first (< ncs), then read sets (ncs + r) */
    uint32_t **adj;
    size_t *n_adj;
};

void hs_layout_config_defaults(struct hs_layout_config *cfg)
{
    *cfg = (struct hs_layout_config){
        .blob_cost_bytes = 4096,
        .read_weight = 0.5,
        .storage_weight = 0.1,
        .min_writes = 1000,
        .min_gain = 0.05,
        .z = 2.576,
        .confirm_rounds = 2,
        .min_interval_ms = (int64_t)10 * 60 * 1000,
        .hot_max_bytes = 64 * 1024,
        .hot_max_fields = 32,
    };
}

void hs_layout_wilson(double k, double n, double z, double *lo, double *hi)
{
    if (!(n > 0)) {
        *lo = 0;
        *hi = 1;
        return;
    }
    double p = k / n;
    if (p < 0)
        p = 0;
    if (p > 1)
        p = 1;
    double z2 = z * z;
    double den = 1 + z2 / n;
    double centre = (p + z2 / (2 * n)) / den;
    double half = z / den * sqrt(p * (1 - p) / n + z2 / (4 * n * n));
    *lo = fmax(0, centre - half);
    *hi = fmin(1, centre + half);
}

struct name_ix {
    const char *name;
    size_t ix;
};

static int cmp_name_ix(const void *a, const void *b)
{
    return strcmp(((const struct name_ix *)a)->name, ((const struct name_ix *)b)->name);
}

static long find_field(const struct name_ix *sorted, size_t n, const char *name)
{
    if (n == 0)
        return -1;
    struct name_ix key = {.name = name};
    const struct name_ix *hit = bsearch(&key, sorted, n, sizeof *sorted, cmp_name_ix);
    return hit ? (long)hit->ix : -1;
}

static double nonneg(double x)
{
    return x > 0 && isfinite(x) ? x : 0;
}

/* The fields the model keeps: all, or the HS_LAYOUT_MODEL_FIELDS_MAX most observed. */
static int cmp_observed(const void *a, const void *b)
{
    const struct hs_layout_field_in *x = *(const struct hs_layout_field_in *const *)a;
    const struct hs_layout_field_in *y = *(const struct hs_layout_field_in *const *)b;
    double ox = nonneg(x->present) + nonneg(x->changed),
           oy = nonneg(y->present) + nonneg(y->changed);
    if (ox != oy)
        return ox > oy ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void sets_build(struct mset **out, size_t *n_out, const struct hs_layout_set_in *sets,
                       size_t n, const struct name_ix *sorted, size_t nf)
{
    *out = n ? hs_xcalloc(n, sizeof **out) : NULL;
    *n_out = n;
    for (size_t s = 0; s < n; s++) {
        struct mset *m = &(*out)[s];
        m->w = nonneg(sets[s].count);
        m->more = sets[s].more;
        m->idx = sets[s].n ? hs_xcalloc(sets[s].n, sizeof *m->idx) : NULL;
        for (size_t j = 0; j < sets[s].n; j++) {
            long ix = find_field(sorted, nf, sets[s].names[j]);
            if (ix < 0)
                m->more = true;
            else
                m->idx[m->n++] = (uint16_t)ix;
        }
    }
}

static void model_build(struct model *m, const struct hs_layout_input *in,
                        const struct hs_layout_config *cfg)
{
    memset(m, 0, sizeof *m);
    m->cfg = cfg;
    size_t nf = in->n_fields;
    const struct hs_layout_field_in **order = nf ? hs_xcalloc(nf, sizeof *order) : NULL;
    for (size_t i = 0; i < nf; i++)
        order[i] = &in->fields[i];
    if (nf > HS_LAYOUT_MODEL_FIELDS_MAX) {
        qsort(order, nf, sizeof *order, cmp_observed);
        nf = HS_LAYOUT_MODEL_FIELDS_MAX;
    }
    m->nf = nf;
    m->names = nf ? hs_xcalloc(nf, sizeof *m->names) : NULL;
    m->p = hs_xcalloc(nf + 1, sizeof *m->p);
    m->size = hs_xcalloc(nf + 1, sizeof *m->size);
    m->resid = hs_xcalloc(nf + 1, sizeof *m->resid);
    m->change = hs_xcalloc(nf + 1, sizeof *m->change);
    m->has_evidence = hs_xcalloc(nf + 1, sizeof *m->has_evidence);
    m->known = nonneg(in->known);
    double puts = nonneg(in->puts);
    struct name_ix *sorted = nf ? hs_xcalloc(nf, sizeof *sorted) : NULL;
    for (size_t i = 0; i < nf; i++) {
        const struct hs_layout_field_in *f = order[i];
        m->names[i] = f->name;
        double present = nonneg(f->present);
        m->p[i] = puts > 0 ? fmin(1, present / puts) : 1;
        m->size[i] = present > 0 ? nonneg(f->bytes) / present : 0;
        m->change[i] = m->known > 0 ? fmin(1, nonneg(f->changed) / m->known) : 0;
        m->has_evidence[i] = nonneg(f->changed) > 0;
        m->doc += m->p[i] * m->size[i];
        sorted[i] = (struct name_ix){.name = f->name, .ix = i};
    }
    free(order);
    if (nf > 1)
        qsort(sorted, nf, sizeof *sorted, cmp_name_ix);
    sets_build(&m->cs, &m->ncs, in->csets, in->n_csets, sorted, nf);
    sets_build(&m->rs, &m->nrs, in->rsets, in->n_rsets, sorted, nf);
    free(sorted);
    /* residual: the known writes the change sets do not account for, and per field the changes
     * left over once the sets' share is taken out */
    double covered = 0;
    double *left = hs_xcalloc(nf + 1, sizeof *left);
    for (size_t i = 0; i < nf; i++)
        left[i] = m->change[i] * m->known;
    for (size_t s = 0; s < m->ncs; s++) {
        covered += m->cs[s].w;
        for (size_t j = 0; j < m->cs[s].n; j++)
            left[m->cs[s].idx[j]] -= m->cs[s].w;
    }
    m->resid_w = fmax(0, m->known - covered);
    for (size_t i = 0; i < nf; i++)
        m->resid[i] = m->resid_w > 0 ? fmin(1, fmax(0, left[i]) / m->resid_w) : 0;
    free(left);
    for (size_t s = 0; s < m->nrs; s++) {
        m->proj += m->rs[s].w;
        for (size_t j = 0; j < m->rs[s].n; j++)
            m->has_evidence[m->rs[s].idx[j]] = true;
    }
    m->proj = fmax(m->proj, nonneg(in->proj_reads));
    m->adj = hs_xcalloc(nf + 1, sizeof *m->adj);
    m->n_adj = hs_xcalloc(nf + 1, sizeof *m->n_adj);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t t = 0; t < m->ncs + m->nrs; t++) {
            const struct mset *ms = t < m->ncs ? &m->cs[t] : &m->rs[t - m->ncs];
            for (size_t j = 0; j < ms->n; j++) {
                size_t i = ms->idx[j];
                if (pass == 1)
                    m->adj[i][m->n_adj[i]] = (uint32_t)t;
                m->n_adj[i]++;
            }
        }
        for (size_t i = 0; pass == 0 && i < nf; i++) {
            m->adj[i] = m->n_adj[i] ? hs_xcalloc(m->n_adj[i], sizeof **m->adj) : NULL;
            m->n_adj[i] = 0;
        }
    }
    double writes = nonneg(in->writes);
    m->reads_per_write = writes > 0 ? m->proj / writes : 0;
}

static void model_release(struct model *m)
{
    for (size_t i = 0; i < m->nf; i++)
        free(m->adj[i]);
    free(m->adj);
    free(m->n_adj);
    for (size_t s = 0; s < m->ncs; s++)
        free(m->cs[s].idx);
    for (size_t s = 0; s < m->nrs; s++)
        free(m->rs[s].idx);
    free(m->cs);
    free(m->rs);
    free(m->names);
    free(m->p);
    free(m->size);
    free(m->resid);
    free(m->change);
    free(m->has_evidence);
}

static bool subset(const struct mset *s, const bool *hot)
{
    if (s->more)
        return false;
    for (size_t j = 0; j < s->n; j++)
        if (!hot[s->idx[j]])
            return false;
    return true;
}

static void eval(const struct model *m, const bool *hot, int lo_hi, struct hs_layout_cost *c)
{
    const struct hs_layout_config *cfg = m->cfg;
    double beta = cfg->blob_cost_bytes;
    double h = 0, none_cold = 1;
    for (size_t i = 0; i < m->nf; i++) {
        if (hot[i])
            h += m->p[i] * m->size[i];
        else
            none_cold *= 1 - m->resid[i];
    }
    double pure = m->resid_w * none_cold;
    for (size_t s = 0; s < m->ncs; s++)
        if (subset(&m->cs[s], hot))
            pure += m->cs[s].w;
    double p = m->known > 0 ? fmin(1, pure / m->known) : 1;
    double q_k = 0;
    for (size_t s = 0; s < m->nrs; s++)
        if (subset(&m->rs[s], hot))
            q_k += m->rs[s].w;
    double q = m->proj > 0 ? fmin(1, q_k / m->proj) : 0;
    if (lo_hi != 0) {
        double lo, hi;
        hs_layout_wilson(p * m->known, m->known, cfg->z, &lo, &hi);
        p = lo_hi < 0 ? lo : hi;
        if (m->proj > 0) {
            hs_layout_wilson(q * m->proj, m->proj, cfg->z, &lo, &hi);
            q = lo_hi < 0 ? lo : hi;
        }
    }
    double d = m->doc, cold = fmax(0, d - h);
    c->hot_bytes = h;
    c->doc_bytes = d;
    c->p_pure = p;
    c->q_hot = q;
    c->write_bytes = p * (3 * h + 3 * beta) + (1 - p) * (3 * h + 1.5 * cold + 9 * beta);
    c->read_bytes = q * (h + beta) + (1 - q) * (d + 5 * beta);
    c->store_bytes = 3 * h + 1.5 * cold;
    c->total = c->write_bytes + cfg->read_weight * m->reads_per_write * c->read_bytes +
               cfg->storage_weight * c->store_bytes;
}

static bool *hot_of(const struct model *m, const struct hs_layout_fields *f)
{
    bool *hot = hs_xcalloc(m->nf + 1, sizeof *hot);
    for (size_t i = 0; f && i < m->nf; i++)
        hot[i] = hs_layout_fields_contains(f, m->names[i]);
    return hot;
}

void hs_layout_evaluate(const struct hs_layout_input *in, const struct hs_layout_config *cfg,
                        const struct hs_layout_fields *hot, int lo_hi, struct hs_layout_cost *out)
{
    struct model m;
    model_build(&m, in, cfg);
    bool *h = hot_of(&m, hot);
    eval(&m, h, lo_hi, out);
    free(h);
    model_release(&m);
}

/* ---- search ---- */

struct search {
    const struct model *m;
    const bool *allowed; /* may be hot (not pinned cold, a valid record name) */
    const bool *forced;  /* pinned hot */
    size_t extra_names;  /* pinned hot names outside the model (count against the cap) */
};

static bool within_caps(const struct search *s, const bool *hot)
{
    double h = 0;
    size_t n = s->extra_names;
    for (size_t i = 0; i < s->m->nf; i++) {
        if (hot[i] && !s->forced[i]) {
            h += s->m->p[i] * s->m->size[i];
            n++;
        } else if (hot[i]) {
            n++;
        }
    }
    return h <= s->m->cfg->hot_max_bytes && n <= s->m->cfg->hot_max_fields;
}

/* Incremental evaluation for the search: flipping one field changes h by its bytes, the residual
 * product by its factor, and only the sets that hold it. A trial flip is undone exactly (saved
 * scalars, counters walked back), so trials leave no rounding behind. */
struct inc {
    double h;          /* expected hot bytes */
    double h_free;     /* of those, the unpinned fields' (what the cap limits) */
    size_t n_hot;      /* hot fields in the model */
    double prod;       /* product of (1 - r_f) over cold fields whose r_f < 1 */
    size_t zeros;      /* cold fields with r_f >= 1 (the product is 0 while any) */
    double pure;       /* weight of the change sets wholly hot */
    double hit;        /* weight of the read sets wholly hot */
    uint32_t *missing; /* per set (change sets, then read sets): names not hot, +1 when `more` */
};

static void inc_init(const struct search *s, const bool *hot, struct inc *st)
{
    const struct model *m = s->m;
    st->h = 0;
    st->h_free = 0;
    st->n_hot = 0;
    st->prod = 1;
    st->zeros = 0;
    st->pure = 0;
    st->hit = 0;
    st->missing = hs_xcalloc(m->ncs + m->nrs + 1, sizeof *st->missing);
    for (size_t i = 0; i < m->nf; i++) {
        if (hot[i]) {
            st->h += m->p[i] * m->size[i];
            st->h_free += s->forced[i] ? 0 : m->p[i] * m->size[i];
            st->n_hot++;
        } else if (m->resid[i] >= 1)
            st->zeros++;
        else
            st->prod *= 1 - m->resid[i];
    }
    for (size_t t = 0; t < m->ncs + m->nrs; t++) {
        const struct mset *ms = t < m->ncs ? &m->cs[t] : &m->rs[t - m->ncs];
        uint32_t miss = ms->more;
        for (size_t j = 0; j < ms->n; j++)
            miss += !hot[ms->idx[j]];
        st->missing[t] = miss;
        if (miss == 0 && t < m->ncs)
            st->pure += ms->w;
        else if (miss == 0)
            st->hit += ms->w;
    }
}

/* Flips field i in hot and st (the scalars are restored by the caller when undoing). */
static void inc_flip(const struct search *s, bool *hot, struct inc *st, size_t i)
{
    const struct model *m = s->m;
    bool now_hot = !hot[i];
    hot[i] = now_hot;
    double bytes = m->p[i] * m->size[i];
    st->h += now_hot ? bytes : -bytes;
    if (!s->forced[i])
        st->h_free += now_hot ? bytes : -bytes;
    st->n_hot += now_hot ? 1 : (size_t)-1;
    if (m->resid[i] >= 1)
        st->zeros += now_hot ? (size_t)-1 : 1;
    else if (now_hot)
        st->prod /= 1 - m->resid[i];
    else
        st->prod *= 1 - m->resid[i];
    for (size_t k = 0; k < m->n_adj[i]; k++) {
        uint32_t t = m->adj[i][k];
        const struct mset *ms = t < m->ncs ? &m->cs[t] : &m->rs[t - m->ncs];
        double *sum = t < m->ncs ? &st->pure : &st->hit;
        if (now_hot && --st->missing[t] == 0)
            *sum += ms->w;
        else if (!now_hot && st->missing[t]++ == 0)
            *sum -= ms->w;
    }
}

/* J at the point estimates from the incremental state (as eval with lo_hi 0). */
static double inc_total(const struct model *m, const struct inc *st)
{
    const struct hs_layout_config *cfg = m->cfg;
    double beta = cfg->blob_cost_bytes;
    double pure = st->pure + (st->zeros ? 0 : m->resid_w * st->prod);
    double p = m->known > 0 ? fmin(1, pure / m->known) : 1;
    double q = m->proj > 0 ? fmin(1, st->hit / m->proj) : 0;
    double h = st->h, d = m->doc, cold = fmax(0, d - h);
    double w = p * (3 * h + 3 * beta) + (1 - p) * (3 * h + 1.5 * cold + 9 * beta);
    double r = q * (h + beta) + (1 - q) * (d + 5 * beta);
    return w + cfg->read_weight * m->reads_per_write * r +
           cfg->storage_weight * (3 * h + 1.5 * cold);
}

/* Best single add or remove until none lowers J. hot is updated in place; returns its J. */
static double local_search(const struct search *s, bool *hot)
{
    const struct model *m = s->m;
    const struct hs_layout_config *cfg = m->cfg;
    struct inc st;
    inc_init(s, hot, &st);
    double best = inc_total(m, &st);
    for (size_t iter = 0; iter < 4 * m->nf + 4; iter++) {
        long pick = -1;
        double pick_j = best;
        for (size_t i = 0; i < m->nf; i++) {
            if (s->forced[i] || (!hot[i] && (!s->allowed[i] || !m->has_evidence[i])))
                continue;
            struct inc saved = st;
            inc_flip(s, hot, &st, i);
            /* the caps (as within_caps; a small slack for the running sum's rounding) */
            if (st.h_free <= cfg->hot_max_bytes * (1 + 1e-12) &&
                st.n_hot + s->extra_names <= cfg->hot_max_fields) {
                double j = inc_total(m, &st);
                /* strictly better by a margin: no churn between equal sets */
                if (j < pick_j - 1e-9 * (1 + pick_j)) {
                    pick_j = j;
                    pick = (long)i;
                }
            }
            inc_flip(s, hot, &st, i); /* counters back */
            st = saved;               /* scalars back, bit for bit */
        }
        if (pick < 0)
            break;
        inc_flip(s, hot, &st, (size_t)pick);
        free(st.missing);
        inc_init(s, hot, &st); /* a fresh state per accepted move: no drift */
        best = inc_total(m, &st);
    }
    free(st.missing);
    return best;
}

static int cmp_weight_desc(const void *a, const void *b)
{
    double x = (*(const struct mset *const *)a)->w, y = (*(const struct mset *const *)b)->w;
    return x > y ? -1 : x < y ? 1 : 0;
}

/* Starting points: the pins alone, `start`, and the unions of the k most frequent change sets
 * for k = 1..8. Each is made legal (pins, caps) and improved by local search. */
static void search_all(const struct search *s, const struct hs_layout_fields *start, bool *out)
{
    const struct model *m = s->m;
    size_t nf = m->nf;
    bool *cand = hs_xcalloc(nf + 1, sizeof *cand);
    double best_j = INFINITY;
    const struct mset **by_w = m->ncs ? hs_xcalloc(m->ncs, sizeof *by_w) : NULL;
    for (size_t i = 0; i < m->ncs; i++)
        by_w[i] = &m->cs[i];
    if (m->ncs > 1)
        qsort(by_w, m->ncs, sizeof *by_w, cmp_weight_desc);
    size_t n_unions = m->ncs < 8 ? m->ncs : 8;
    for (size_t k = 0; k < n_unions + 2; k++) {
        for (size_t i = 0; i < nf; i++)
            cand[i] = s->forced[i];
        if (k == 1) {
            for (size_t i = 0; start && i < nf; i++)
                cand[i] =
                    cand[i] || (s->allowed[i] && hs_layout_fields_contains(start, m->names[i]));
        } else if (k >= 2) {
            for (size_t u = 0; u < k - 1; u++)
                for (size_t j = 0; j < by_w[u]->n; j++)
                    cand[by_w[u]->idx[j]] = s->allowed[by_w[u]->idx[j]];
            for (size_t i = 0; i < nf; i++)
                cand[i] = cand[i] || s->forced[i];
        }
        /* over a cap: drop the largest unpinned fields until within */
        while (!within_caps(s, cand)) {
            long big = -1;
            for (size_t i = 0; i < nf; i++)
                if (cand[i] && !s->forced[i] &&
                    (big < 0 || m->p[i] * m->size[i] > m->p[big] * m->size[big]))
                    big = (long)i;
            if (big < 0)
                break;
            cand[big] = false;
        }
        double j = local_search(s, cand);
        if (k == 0 || j < best_j - 1e-9 * (1 + fabs(best_j))) {
            best_j = j;
            memcpy(out, cand, nf * sizeof *out);
        }
    }
    free(by_w);
    free(cand);
}

void hs_layout_search(const struct hs_layout_input *in, const struct hs_layout_config *cfg,
                      const struct hs_layout_fields *pin_hot,
                      const struct hs_layout_fields *pin_cold, const struct hs_layout_fields *start,
                      struct hs_layout_fields *best)
{
    struct model m;
    model_build(&m, in, cfg);
    bool *allowed = hs_xcalloc(m.nf + 1, sizeof *allowed);
    bool *forced = hs_xcalloc(m.nf + 1, sizeof *forced);
    bool *hot = hs_xcalloc(m.nf + 1, sizeof *hot);
    for (size_t i = 0; i < m.nf; i++) {
        forced[i] = hs_layout_fields_contains(pin_hot, m.names[i]);
        allowed[i] = !hs_layout_fields_contains(pin_cold, m.names[i]) &&
                     hs_layout_field_name_valid(m.names[i]);
    }
    struct search s = {.m = &m, .allowed = allowed, .forced = forced};
    for (size_t i = 0; pin_hot && i < pin_hot->n; i++) {
        bool inside = false;
        for (size_t j = 0; j < m.nf && !inside; j++)
            inside = strcmp(m.names[j], pin_hot->names[i]) == 0;
        s.extra_names += !inside;
    }
    search_all(&s, start, hot);
    const char **names = hs_xcalloc(m.nf + (pin_hot ? pin_hot->n : 0) + 1, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; i < m.nf; i++)
        if (hot[i])
            names[n++] = m.names[i];
    for (size_t i = 0; pin_hot && i < pin_hot->n; i++)
        names[n++] = pin_hot->names[i];
    struct hs_layout_fields tmp = {0};
    if (hs_layout_fields_set(&tmp, names, n) != HS_OK) /* only over the name cap: pins win */
        hs_layout_fields_copy(&tmp, pin_hot);
    hs_layout_fields_release(best);
    *best = tmp;
    free(names);
    free(hot);
    free(forced);
    free(allowed);
    model_release(&m);
}

/* ---- report ---- */

static void partners(const struct model *m, size_t i, struct hs_layout_field_report *r)
{
    double *with = hs_xcalloc(m->nf + 1, sizeof *with);
    for (size_t s = 0; s < m->ncs; s++) {
        bool has = false;
        for (size_t j = 0; j < m->cs[s].n && !has; j++)
            has = m->cs[s].idx[j] == i;
        for (size_t j = 0; has && j < m->cs[s].n; j++)
            if (m->cs[s].idx[j] != i)
                with[m->cs[s].idx[j]] += m->cs[s].w;
    }
    double base = m->change[i] * m->known;
    for (size_t k = 0; k < HS_LAYOUT_REPORT_PARTNERS; k++) {
        long top = -1;
        for (size_t j = 0; j < m->nf; j++)
            if (with[j] > 0 && (top < 0 || with[j] > with[top]))
                top = (long)j;
        if (top < 0)
            break;
        r->partners[r->n_partners] = m->names[top];
        r->partner_share[r->n_partners++] = base > 0 ? fmin(1, with[top] / base) : 0;
        with[top] = 0;
    }
    free(with);
}

size_t hs_layout_report(const struct hs_layout_input *in, const struct hs_layout_config *cfg,
                        const struct hs_layout_fields *hot, struct hs_layout_field_report *out,
                        size_t max)
{
    struct model m;
    model_build(&m, in, cfg);
    bool *h = hot_of(&m, hot);
    size_t n = 0;
    for (size_t i = 0; i < m.nf && n < max; i++) {
        struct hs_layout_field_report *r = &out[n++];
        memset(r, 0, sizeof *r);
        r->name = m.names[i];
        r->hot = h[i];
        r->change_rate = m.change[i];
        hs_layout_wilson(m.change[i] * m.known, m.known, cfg->z, &r->change_lo, &r->change_hi);
        r->present_rate = m.p[i];
        r->mean_bytes = m.size[i];
        struct hs_layout_cost with, without;
        bool was = h[i];
        h[i] = true;
        eval(&m, h, 0, &with);
        h[i] = false;
        eval(&m, h, 0, &without);
        h[i] = was;
        r->write_saving = without.write_bytes - with.write_bytes;
        r->storage_cost = with.store_bytes - without.store_bytes;
        partners(&m, i, r);
    }
    free(h);
    model_release(&m);
    return n;
}
