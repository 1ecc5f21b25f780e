/* test_gw_metrics.c - the gateway's metrics (src/gateway/metrics.c) on their own: the
 * Prometheus text they render (HELP/TYPE lines, labels, cumulative histogram buckets), bounded
 * label values, the table-full path and concurrent updates. The metrics are process-wide, so
 * each test uses its own route names. Built from src/gateway/metrics.c directly (the gateway
 * has no library of its own). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/metrics.h"
#include "hs/buf.h"

/* The rendered text, NUL-terminated (heap). */
static char *render(void)
{
    struct hs_buf b;
    hs_buf_init(&b, 0);
    hs_gw_metrics_render(&b);
    assert_int_equal(hs_buf_append(&b, "", 1), HS_OK);
    size_t len = 0;
    return (char *)hs_buf_detach(&b, &len);
}

/* Value of the sample line that starts with prefix (name and labels), or -1. */
static double sample(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static void request_is_counted_by_method_route_and_status(void **state)
{
    (void)state;
    hs_gw_metric_request("PUT", "/t1/", 201, 700, 1000, 50);
    hs_gw_metric_request("PUT", "/t1/", 201, 900, 24, 50);
    hs_gw_metric_request("PUT", "/t1/", 503, 2000, 0, 80);
    hs_gw_metrics_on_complete(NULL, "GET", "/t1/", 200, 100, 0, 4096);
    char *t = render();
    assert_true(sample(t, "hybridstore_gateway_requests_total{method=\"PUT\",route=\"/t1/\","
                          "status=\"201\"}") == 2);
    assert_true(sample(t, "hybridstore_gateway_requests_total{method=\"PUT\",route=\"/t1/\","
                          "status=\"503\"}") == 1);
    assert_true(sample(t, "hybridstore_gateway_request_body_bytes_total{method=\"PUT\","
                          "route=\"/t1/\"}") == 1024);
    assert_true(sample(t, "hybridstore_gateway_response_body_bytes_total{method=\"GET\","
                          "route=\"/t1/\"}") == 4096);
    assert_non_null(strstr(t, "# TYPE hybridstore_gateway_requests_total counter\n"));
    assert_non_null(strstr(t, "# HELP hybridstore_gateway_requests_total "));
    assert_non_null(strstr(t, "# TYPE hybridstore_gateway_request_duration_seconds histogram\n"));
    free(t);
}

static void histogram_buckets_are_cumulative_and_end_with_the_count(void **state)
{
    (void)state;
    hs_gw_metric_request("GET", "/t2/", 200, 200, 0, 0);      /* <= 250 us */
    hs_gw_metric_request("GET", "/t2/", 200, 1000, 0, 0);     /* exactly the 1 ms bound */
    hs_gw_metric_request("GET", "/t2/", 200, 60000000, 0, 0); /* past every bound */
    char *t = render();
    const char *pre = "hybridstore_gateway_request_duration_seconds_bucket{method=\"GET\","
                      "route=\"/t2/\",le=";
    char name[256];
    snprintf(name, sizeof name, "%s\"0.00025\"}", pre);
    assert_true(sample(t, name) == 1);
    snprintf(name, sizeof name, "%s\"0.0005\"}", pre);
    assert_true(sample(t, name) == 1);
    snprintf(name, sizeof name, "%s\"0.001\"}", pre);
    assert_true(sample(t, name) == 2);
    snprintf(name, sizeof name, "%s\"10\"}", pre);
    assert_true(sample(t, name) == 2);
    snprintf(name, sizeof name, "%s\"+Inf\"}", pre);
    assert_true(sample(t, name) == 3);
    assert_true(sample(t, "hybridstore_gateway_request_duration_seconds_count{method=\"GET\","
                          "route=\"/t2/\"}") == 3);
    double sum = sample(t, "hybridstore_gateway_request_duration_seconds_sum{method=\"GET\","
                           "route=\"/t2/\"}");
    assert_true(sum > 60.001 && sum < 60.002);
    free(t);
}

static void unknown_methods_and_missing_routes_get_bounded_labels(void **state)
{
    (void)state;
    hs_gw_metric_request("BREW", NULL, 404, 10, 0, 10);
    hs_gw_metric_request("X\"\n", "/t3/\"q\"\\", 200, 10, 0, 0);
    char *t = render();
    assert_true(sample(t, "hybridstore_gateway_requests_total{method=\"other\",route=\"none\","
                          "status=\"404\"}") >= 1);
    /* label values are escaped as the format requires */
    assert_true(sample(t, "hybridstore_gateway_requests_total{method=\"other\","
                          "route=\"/t3/\\\"q\\\"\\\\\",status=\"200\"}") == 1);
    free(t);
}

static void named_counters_add_up(void **state)
{
    (void)state;
    char *t = render();
    double before = sample(t, "hybridstore_gateway_pure_hot_updates_total");
    free(t);
    hs_gw_metric_add(HS_GW_M_PURE_HOT_UPDATES, 2);
    hs_gw_metric_add(HS_GW_M_PURE_HOT_UPDATES, 3);
    hs_gw_metric_add(HS_GW_M_COUNT_, 1); /* out of range: ignored */
    t = render();
    assert_true(sample(t, "hybridstore_gateway_pure_hot_updates_total") == before + 5);
    assert_non_null(strstr(t, "# TYPE hybridstore_gateway_quorum_failures_total counter\n"));
    free(t);
}

struct hammer {
    char route[32];
};

static void *hammer_main(void *p)
{
    const struct hammer *h = p;
    for (int i = 0; i < 20000; i++)
        hs_gw_metric_request(i % 2 ? "GET" : "PUT", h->route, 200 + (unsigned)(i % 3), i, 1, 2);
    return NULL;
}

static void concurrent_requests_are_all_counted(void **state)
{
    (void)state;
    pthread_t t[4];
    struct hammer h[4];
    for (int i = 0; i < 4; i++) {
        snprintf(h[i].route, sizeof h[i].route, "/t5/%d", i % 2); /* two threads per route */
        assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *text = render();
    double total = 0;
    for (int r = 0; r < 2; r++) {
        for (int m = 0; m < 2; m++) {
            char name[160];
            snprintf(name, sizeof name,
                     "hybridstore_gateway_request_duration_seconds_count{method=\"%s\","
                     "route=\"/t5/%d\"}",
                     m ? "GET" : "PUT", r);
            total += sample(text, name);
        }
    }
    assert_true(total == 4 * 20000);
    free(text);
}

static void full_tables_drop_samples_and_count_them(void **state)
{
    (void)state;
    char route[32];
    for (int i = 0; i < 300; i++) {
        snprintf(route, sizeof route, "/t6/%d", i);
        hs_gw_metric_request("GET", route, 200, 1, 0, 0);
    }
    char *t = render();
    assert_true(sample(t, "hybridstore_gateway_metrics_dropped_total") > 0);
    assert_true(sample(t, "hybridstore_gateway_requests_total{method=\"GET\",route=\"/t6/0\","
                          "status=\"200\"}") == 1);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_is_counted_by_method_route_and_status),
        cmocka_unit_test(histogram_buckets_are_cumulative_and_end_with_the_count),
        cmocka_unit_test(unknown_methods_and_missing_routes_get_bounded_labels),
        cmocka_unit_test(named_counters_add_up),
        cmocka_unit_test(concurrent_requests_are_all_counted),
        cmocka_unit_test(full_tables_drop_samples_and_count_them), /* last: fills the tables */
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
