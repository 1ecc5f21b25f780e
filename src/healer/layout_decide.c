/* layout_decide.c - one decision round for one collection (layout_decide.h): the hysteresis
 * that turns the cost model's cheapest candidate into a new layout record only when it is
 * backed by enough evidence, wins at the confidence bounds by the minimum gain, wins
 * confirm_rounds rounds in a row, the last change is min_interval_ms old and its savings since
 * it first won have paid for its migration (ski-rental). Everything the hysteresis counts lives
 * in the record, so a new leader continues where the old one stopped. Also the view of a
 * field_stats collection as engine input. Pure. */
#include "healer/layout_decide.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/field_stats.h"
#include "hs/mem.h"
#include "hs/banned.h"

const char *hs_layout_verdict_name(enum hs_layout_verdict v)
{
    static const char *const names[] = {
        [HS_LAYOUT_V_STATIC] = "static",
        [HS_LAYOUT_V_EVIDENCE] = "evidence",
        [HS_LAYOUT_V_BEST] = "best",
        [HS_LAYOUT_V_SMALL_GAIN] = "small_gain",
        [HS_LAYOUT_V_CONFIRMING] = "confirming",
        [HS_LAYOUT_V_SPACING] = "spacing",
        [HS_LAYOUT_V_MIGRATION] = "migration",
        [HS_LAYOUT_V_CHANGED] = "changed",
    };
    return (size_t)v < HS_ARRAY_LEN(names) && names[v] ? names[v] : "none";
}

void hs_layout_decision_init(struct hs_layout_decision *d)
{
    memset(d, 0, sizeof *d);
    hs_layout_record_init(&d->next);
}

void hs_layout_decision_release(struct hs_layout_decision *d)
{
    if (!d)
        return;
    hs_layout_record_release(&d->next);
    hs_layout_fields_release(&d->best);
}

static bool config_valid(const struct hs_layout_config *c)
{
    return c->blob_cost_bytes >= 0 && c->read_weight >= 0 && c->storage_weight >= 0 &&
           c->min_writes >= 0 && c->min_gain >= 0 && c->z >= 0 && c->confirm_rounds >= 1 &&
           c->confirm_rounds <= HS_LAYOUT_PENDING_N_MAX && c->min_interval_ms >= 0 &&
           c->hot_max_bytes >= 0 && c->hot_max_fields >= 1 &&
           c->hot_max_fields <= HS_LAYOUT_FIELDS_MAX;
}

/* "a,b,c" shortened to fit a reason line. */
static void set_text(const struct hs_layout_fields *f, char *out, size_t out_len)
{
    char *csv = hs_layout_fields_csv(f);
    if (strlen(csv) + 3 > out_len && out_len > 8)
        snprintf(out, out_len, "{%.*s...}", (int)(out_len - 6), csv);
    else
        snprintf(out, out_len, "{%s}", csv);
    free(csv);
}

static void clear_pending(struct hs_layout_record *r)
{
    hs_layout_fields_release(&r->pending);
    r->pending_n = 0;
    r->pending_ms = 0;
    r->pending_gain_bytes = 0;
}

/* Bytes the change from `from` to `to` costs up front: a demoted field makes every object's
 * next write re-encode its cold part once (objects x (1.5 (D - h) + 6 beta)); a promotion costs
 * nothing (the next write that changes the field re-encodes anyway, and later writes are
 * cheaper). Without an object count the known writes of the window stand in for it. */
static double migration_cost(const struct hs_layout_input *in, const struct hs_layout_config *cfg,
                             const struct hs_layout_fields *from, const struct hs_layout_fields *to,
                             const struct hs_layout_cost *to_cost)
{
    bool demotes = false;
    for (size_t i = 0; i < from->n && !demotes; i++) {
        if (hs_layout_fields_contains(to, from->names[i]))
            continue;
        for (size_t f = 0; f < in->n_fields && !demotes; f++)
            demotes = strcmp(in->fields[f].name, from->names[i]) == 0 && in->fields[f].present > 0;
    }
    if (!demotes)
        return 0;
    double objects = in->objects > 0 ? in->objects : fmax(0, in->known);
    double per = 1.5 * fmax(0, to_cost->doc_bytes - to_cost->hot_bytes) + 6 * cfg->blob_cost_bytes;
    return objects * per;
}

static void keep(struct hs_layout_decision *d, const struct hs_layout_record *base,
                 bool drop_pending, const char *why)
{
    if (drop_pending && base->pending_n != 0) {
        clear_pending(&d->next);
        d->write = true;
    }
    snprintf(d->reason, sizeof d->reason, "%s", why);
}

/* The winner of this round becomes (or stays) pending; returns the bytes the change must earn. */
static void note_winner(struct hs_layout_record *r, const struct hs_layout_fields *best,
                        double gain_per_write, const struct hs_layout_input *in, int64_t now_ms)
{
    if (r->pending_n > 0 && hs_layout_fields_equal(&r->pending, best)) {
        int64_t total = (int64_t)(in->writes_total > INT64_MAX ? INT64_MAX : in->writes_total);
        /* statistics restart with a gateway: then count from zero */
        int64_t since = total >= r->round_writes ? total - r->round_writes : total;
        double gain = (double)r->pending_gain_bytes + gain_per_write * (double)since;
        r->pending_gain_bytes = gain >= 9e18 ? INT64_MAX : (int64_t)gain;
        if (r->pending_n < HS_LAYOUT_PENDING_N_MAX)
            r->pending_n++;
    } else {
        hs_layout_fields_copy(&r->pending, best);
        r->pending_n = 1;
        r->pending_ms = now_ms;
        r->pending_gain_bytes = 0;
    }
    r->round_ms = now_ms;
    r->round_writes = (int64_t)(in->writes_total > INT64_MAX ? INT64_MAX : in->writes_total);
}

static void adopt(struct hs_layout_decision *d, const struct hs_layout_fields *cur_hot,
                  int64_t now_ms, const char *best_txt, double gain_low)
{
    struct hs_layout_record *r = &d->next;
    hs_layout_fields_copy(&r->hot, &d->best);
    r->epoch++;
    r->decided_ms = now_ms;
    clear_pending(r);
    free(r->reason);
    char from[160];
    set_text(cur_hot, from, sizeof from);
    r->reason = hs_xasprintf("hot %s replaces %s: %.0f instead of %.0f B/update (at least %.1f%% "
                             "less at the confidence bounds)",
                             best_txt, from, d->cost_best, d->cost_current, 100 * gain_low);
    d->changed = true;
    d->write = true;
    snprintf(d->reason, sizeof d->reason, "%s", r->reason);
}

enum hs_err hs_layout_decide(const struct hs_layout_input *in, const struct hs_layout_record *cur,
                             const char *collection, const struct hs_layout_fields *deflt,
                             const struct hs_layout_config *cfg, int64_t now_ms,
                             struct hs_layout_decision *d)
{
    if (!hs_layout_collection_valid(collection) || !config_valid(cfg))
        return HS_EINVAL;
    struct hs_layout_record *r = &d->next;
    if (cur) {
        hs_layout_record_copy(r, cur);
    } else {
        hs_layout_record_release(r);
        hs_layout_record_init(r);
        r->collection = hs_xstrdup(collection);
    }
    struct hs_layout_fields cur_hot = {0};
    hs_layout_effective_hot(cur, deflt, &cur_hot);
    struct hs_layout_cost cc, cb, cc_hi, cb_lo;
    hs_layout_evaluate(in, cfg, &cur_hot, 0, &cc);
    d->cost_current = cc.total;
    d->cost_best = cc.total;
    hs_layout_fields_copy(&d->best, &cur_hot);
    char msg[400];
    if (r->mode == HS_LAYOUT_STATIC) {
        d->verdict = HS_LAYOUT_V_STATIC;
        keep(d, r, true, "static mode: the operator's hot set is kept");
        goto out;
    }
    if (in->known < cfg->min_writes) {
        snprintf(msg, sizeof msg,
                 "not enough evidence: %.0f writes with known changes, %.0f needed", in->known,
                 cfg->min_writes);
        d->verdict = HS_LAYOUT_V_EVIDENCE;
        keep(d, r, false, msg);
        goto out;
    }
    hs_layout_search(in, cfg, &r->pin_hot, &r->pin_cold, &cur_hot, &d->best);
    hs_layout_evaluate(in, cfg, &d->best, 0, &cb);
    d->cost_best = cb.total;
    char best_txt[160];
    set_text(&d->best, best_txt, sizeof best_txt);
    if (hs_layout_fields_equal(&d->best, &cur_hot)) {
        d->verdict = HS_LAYOUT_V_BEST;
        snprintf(msg, sizeof msg, "current hot set %s is the cheapest: %.0f B/update", best_txt,
                 cc.total);
        keep(d, r, true, msg);
        goto out;
    }
    /* the saving must hold with the current set at its best and the candidate at its worst */
    hs_layout_evaluate(in, cfg, &cur_hot, +1, &cc_hi);
    hs_layout_evaluate(in, cfg, &d->best, -1, &cb_lo);
    double gain_pw = cc_hi.total - cb_lo.total;
    d->gain_low = cc_hi.total > 0 ? gain_pw / cc_hi.total : 0;
    if (d->gain_low < cfg->min_gain) {
        snprintf(msg, sizeof msg,
                 "keep: %s would cost %.0f instead of %.0f B/update, %.1f%% less at the "
                 "confidence bounds, below the %.1f%% threshold",
                 best_txt, cb.total, cc.total, 100 * d->gain_low, 100 * cfg->min_gain);
        d->verdict = HS_LAYOUT_V_SMALL_GAIN;
        keep(d, r, true, msg);
        goto out;
    }
    note_winner(r, &d->best, gain_pw, in, now_ms);
    d->write = true;
    double migrate = migration_cost(in, cfg, &cur_hot, &d->best, &cb);
    if (r->pending_n < cfg->confirm_rounds) {
        d->verdict = HS_LAYOUT_V_CONFIRMING;
        snprintf(msg, sizeof msg, "candidate %s (%.1f%% cheaper at the bounds) won %d of %d rounds",
                 best_txt, 100 * d->gain_low, r->pending_n, cfg->confirm_rounds);
    } else if (r->decided_ms > 0 && now_ms - r->decided_ms < cfg->min_interval_ms) {
        d->verdict = HS_LAYOUT_V_SPACING;
        snprintf(msg, sizeof msg,
                 "candidate %s confirmed; waiting: last change %" PRId64 " s ago, %" PRId64
                 " s needed",
                 best_txt, (now_ms - r->decided_ms) / 1000, cfg->min_interval_ms / 1000);
    } else if ((double)r->pending_gain_bytes < migrate) {
        d->verdict = HS_LAYOUT_V_MIGRATION;
        snprintf(msg, sizeof msg,
                 "candidate %s confirmed; waiting: earned %" PRId64 " of %.0f bytes of migration",
                 best_txt, r->pending_gain_bytes, migrate);
    } else {
        d->verdict = HS_LAYOUT_V_CHANGED;
        adopt(d, &cur_hot, now_ms, best_txt, d->gain_low);
        goto out;
    }
    snprintf(d->reason, sizeof d->reason, "%s", msg);
out:
    hs_layout_fields_release(&cur_hot);
    return HS_OK;
}

/* ---- field_stats view ---- */

static void sets_from(const struct hs_fstat_set *s, uint32_t n, struct hs_layout_set_in **out,
                      size_t *n_out)
{
    *out = n ? hs_xcalloc(n, sizeof **out) : NULL;
    *n_out = n;
    for (uint32_t i = 0; i < n; i++) {
        (*out)[i] = (struct hs_layout_set_in){
            .names = (const char *const *)s[i].names,
            .n = s[i].n_names,
            .more = s[i].more,
            /* Space-Saving: count - err is a lower bound of the true count */
            .count = (double)(s[i].count - (s[i].err <= s[i].count ? s[i].err : s[i].count)),
        };
    }
}

void hs_layout_input_from_fstat(const struct hs_fstat_coll *c, double objects,
                                struct hs_layout_input *in)
{
    memset(in, 0, sizeof *in);
    in->writes = (double)c->writes;
    in->puts = (double)c->puts;
    in->known = (double)c->known;
    in->proj_reads = (double)c->proj_reads;
    in->writes_total = c->tot.writes;
    in->objects = objects;
    struct hs_layout_field_in *f = c->n_fields ? hs_xcalloc(c->n_fields, sizeof *f) : NULL;
    for (uint32_t i = 0; i < c->n_fields; i++)
        f[i] = (struct hs_layout_field_in){
            .name = c->fields[i].name,
            .present = (double)c->fields[i].present,
            .changed = (double)c->fields[i].changed,
            .bytes = (double)c->fields[i].bytes,
        };
    in->fields = f;
    in->n_fields = c->n_fields;
    struct hs_layout_set_in *cs = NULL, *rs = NULL;
    sets_from(c->csets, c->n_csets, &cs, &in->n_csets);
    sets_from(c->rsets, c->n_rsets, &rs, &in->n_rsets);
    in->csets = cs;
    in->rsets = rs;
}

void hs_layout_input_release(struct hs_layout_input *in)
{
    if (!in)
        return;
    free((void *)in->fields);
    free((void *)in->csets);
    free((void *)in->rsets);
    memset(in, 0, sizeof *in);
}
