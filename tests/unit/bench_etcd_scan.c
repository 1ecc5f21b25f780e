/* bench_etcd_scan.c - cost of a full paged scan of a big etcd prefix: open-ended pages (every
 * range runs to the prefix end, what the healer and listings did) against bounded pages
 * (hs_etcd_range_scan). Not a test: run by hand against a scratch etcd filled beforehand, e.g.
 *   bench_etcd_scan http://127.0.0.1:23791 /hybridstore/v1/meta/ 500
 * Prints requests, keys etcd walked (sum of range counts) and time for each, plus the time of
 * one page at the start and in the middle of the prefix. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/mem.h"
#include "meta/etcd_int.h"
#include "hs/banned.h"

struct count {
    int64_t n;
    char *last;
};

static bool count_fn(void *ctx, const struct hs_etcd_kv *kv)
{
    struct count *c = ctx;
    c->n++;
    free(c->last);
    c->last = hs_xstrdup(kv->key);
    return true;
}

struct stop_at {
    struct count *c;
    int64_t at;
};

static bool stop_fn(void *ctx, const struct hs_etcd_kv *kv)
{
    struct stop_at *s = ctx;
    count_fn(s->c, kv);
    return s->c->n < s->at;
}

/* The old way: every page [last key, prefix end) with a limit. */
static enum hs_err open_ended(struct hs_etcd *e, const char *prefix, int64_t page, int64_t *keys,
                              int64_t *reqs, int64_t *walked)
{
    uint8_t *end;
    size_t end_len;
    hs_etcd_prefix_end(prefix, strlen(prefix), &end, &end_len);
    char *endz = hs_xstrndup((const char *)end, end_len);
    char *start = hs_xstrdup(prefix);
    int64_t rev = 0;
    bool first = true;
    enum hs_err err = HS_OK;
    for (;;) {
        struct hs_etcd_range_req r = {.key = start,
                                      .range_end = endz,
                                      .limit = page + (first ? 0 : 1),
                                      .revision = rev,
                                      .keys_only = false};
        struct hs_etcd_kvs kvs = {0};
        if ((err = hs_etcd_range(e, &r, &kvs)) != HS_OK)
            break;
        (*reqs)++;
        *walked += kvs.count;
        rev = kvs.revision;
        *keys += (int64_t)kvs.n - (first ? 0 : 1);
        bool more = kvs.more && kvs.n > 0;
        if (more) {
            free(start);
            start = hs_xstrdup(kvs.kvs[kvs.n - 1].key);
        }
        hs_etcd_kvs_release(&kvs);
        first = false;
        if (!more)
            break;
    }
    free(start);
    free(endz);
    free(end);
    return err;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s ENDPOINT PREFIX PAGE\n", argv[0]);
        return 2;
    }
    struct hs_etcd *e = NULL;
    struct hs_etcd_opts o = {.endpoints = argv[1], .timeout_ms = 60000};
    if (hs_etcd_new(&o, &e) != HS_OK)
        return 1;
    const char *prefix = argv[2];
    int64_t page = strtoll(argv[3], NULL, 10);

    int64_t t0 = hs_clock_mono_ms(), keys = 0, reqs = 0, walked = 0;
    enum hs_err err = open_ended(e, prefix, page, &keys, &reqs, &walked);
    printf("open-ended: err=%d keys=%" PRId64 " requests=%" PRId64 " walked=%" PRId64 " ms=%" PRId64
           "\n",
           err, keys, reqs, walked, hs_clock_mono_ms() - t0);

    struct count c = {0};
    reqs = walked = 0;
    t0 = hs_clock_mono_ms();
    struct hs_etcd_scan s = {
        .prefix = prefix, .page_size = page, .requests_out = &reqs, .keys_counted_out = &walked};
    err = hs_etcd_range_scan(e, &s, count_fn, &c, NULL);
    printf("bounded:    err=%d keys=%" PRId64 " requests=%" PRId64 " walked=%" PRId64 " ms=%" PRId64
           "\n",
           err, c.n, reqs, walked, hs_clock_mono_ms() - t0);

    /* one page of 500 resumed in the middle of the prefix (a cursor, no pace known) */
    char *mid = NULL;
    int64_t half = c.n / 2;
    struct count h = {0};
    struct stop_at sa = {.c = &h, .at = half};
    struct hs_etcd_scan ks = {.prefix = prefix, .page_size = 1000, .keys_only = true};
    hs_etcd_range_scan(e, &ks, stop_fn, &sa, NULL);
    mid = h.last;
    uint8_t *end;
    size_t end_len;
    hs_etcd_prefix_end(prefix, strlen(prefix), &end, &end_len);
    char *endz = hs_xstrndup((const char *)end, end_len);
    t0 = hs_clock_mono_ms();
    struct hs_etcd_range_req r = {.key = mid, .range_end = endz, .limit = page};
    struct hs_etcd_kvs kvs = {0};
    err = hs_etcd_range(e, &r, &kvs);
    printf("one page from the middle, open-ended: err=%d walked=%" PRId64 " ms=%" PRId64 "\n", err,
           kvs.count, hs_clock_mono_ms() - t0);
    hs_etcd_kvs_release(&kvs);
    struct count one = {0};
    struct stop_at sb = {.c = &one, .at = page};
    reqs = walked = 0;
    t0 = hs_clock_mono_ms();
    struct hs_etcd_scan rs = {.prefix = prefix,
                              .after = mid,
                              .page_size = page,
                              .requests_out = &reqs,
                              .keys_counted_out = &walked};
    err = hs_etcd_range_scan(e, &rs, stop_fn, &sb, NULL);
    printf("one page from the middle, bounded (cold): err=%d requests=%" PRId64 " walked=%" PRId64
           " ms=%" PRId64 "\n",
           err, reqs, walked, hs_clock_mono_ms() - t0);
    free(one.last);
    free(endz);
    free(end);
    free(mid);
    free(c.last);
    hs_etcd_free(e);
    return 0;
}
