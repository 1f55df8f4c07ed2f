/* Unit tests for common/ops/metrics.c: exact exposition text, limits and concurrent updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ops/metrics.h"

static int setup(void **state)
{
    *state = metrics_new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    metrics_free(*state);
    return 0;
}

static void assert_render(metrics_t *m, const char *expected)
{
    char *text = metrics_render(m);
    assert_non_null(text);
    assert_string_equal(text, expected);
    free(text);
}

static void test_counter_without_labels(void **state)
{
    metrics_t *m = *state;
    metric_t *c = metrics_counter(m, "cscf_starts_total", "times started", NULL);
    assert_non_null(c);
    assert_render(m, "# HELP cscf_starts_total times started\n"
                     "# TYPE cscf_starts_total counter\n"
                     "cscf_starts_total 0\n");
    metric_inc(c, NULL);
    metric_inc(c, NULL);
    metric_addv(c, NULL, 1);
    assert_render(m, "# HELP cscf_starts_total times started\n"
                     "# TYPE cscf_starts_total counter\n"
                     "cscf_starts_total 3\n");
    metric_addv(c, NULL, 0.25);
    metric_addv(c, NULL, -1); /* counters never go down */
    assert_render(m, "# HELP cscf_starts_total times started\n"
                     "# TYPE cscf_starts_total counter\n"
                     "cscf_starts_total 3.25\n");
}

static void test_counter_with_label(void **state)
{
    metrics_t *m = *state;
    metric_t *c = metrics_counter(m, "sip_requests_total", "SIP requests", "method");
    assert_non_null(c);
    assert_render(m, "# HELP sip_requests_total SIP requests\n"
                     "# TYPE sip_requests_total counter\n");
    metric_inc(c, "REGISTER");
    metric_inc(c, "INVITE");
    metric_inc(c, "REGISTER");
    assert_render(m, "# HELP sip_requests_total SIP requests\n"
                     "# TYPE sip_requests_total counter\n"
                     "sip_requests_total{method=\"REGISTER\"} 2\n"
                     "sip_requests_total{method=\"INVITE\"} 1\n");
}

static void test_counter_two_labels(void **state)
{
    metrics_t *m = *state;
    metric_t *c = metrics_counter(m, "cx_requests_total", "Cx requests", "command, result");
    assert_non_null(c);
    metric_addv(c, (const char *[]){"UAR", "2001"}, 1);
    metric_addv(c, (const char *[]){"UAR", "5001"}, 2);
    metric_addv(c, (const char *[]){"UAR", "2001"}, 1);
    assert_render(m, "# HELP cx_requests_total Cx requests\n"
                     "# TYPE cx_requests_total counter\n"
                     "cx_requests_total{command=\"UAR\",result=\"2001\"} 2\n"
                     "cx_requests_total{command=\"UAR\",result=\"5001\"} 2\n");
}

static void test_gauge(void **state)
{
    metrics_t *m = *state;
    metric_t *g = metrics_gauge(m, "queue_depth", "items waiting", NULL);
    metric_t *t = metrics_gauge(m, "temp", "a temperature", "room");
    assert_non_null(g);
    assert_non_null(t);
    metric_set(g, NULL, 42);
    metric_set(t, "lab", 0.1);
    metric_set(t, "hall", -2.5);
    metric_addv(t, (const char *[]){"hall"}, -1); /* gauges may go down */
    metric_set(t, "cold", -1e300);
    assert_render(m, "# HELP queue_depth items waiting\n"
                     "# TYPE queue_depth gauge\n"
                     "queue_depth 42\n"
                     "# HELP temp a temperature\n"
                     "# TYPE temp gauge\n"
                     "temp{room=\"lab\"} 0.1\n"
                     "temp{room=\"hall\"} -3.5\n"
                     "temp{room=\"cold\"} -1e+300\n");
    metric_set(g, NULL, 7);
    char *text = metrics_render(m);
    assert_non_null(strstr(text, "\nqueue_depth 7\n"));
    free(text);
}

static void test_histogram(void **state)
{
    metrics_t *m = *state;
    const double bounds[] = {0.005, 0.5, 1, 2.5};
    metric_t *h = metrics_histogram(m, "latency_seconds", "request latency", NULL, bounds, 4);
    assert_non_null(h);
    metric_observe(h, NULL, 0.00390625); /* binary fractions keep the sum exact */
    metric_observe(h, NULL, 0.5);        /* on a bound: le is inclusive */
    metric_observe(h, NULL, 0.75);
    metric_observe(h, NULL, 3);
    metric_observe(h, NULL, 10);
    assert_render(m, "# HELP latency_seconds request latency\n"
                     "# TYPE latency_seconds histogram\n"
                     "latency_seconds_bucket{le=\"0.005\"} 1\n"
                     "latency_seconds_bucket{le=\"0.5\"} 2\n"
                     "latency_seconds_bucket{le=\"1\"} 3\n"
                     "latency_seconds_bucket{le=\"2.5\"} 3\n"
                     "latency_seconds_bucket{le=\"+Inf\"} 5\n"
                     "latency_seconds_sum 14.25390625\n"
                     "latency_seconds_count 5\n");
}

static void test_histogram_with_label(void **state)
{
    metrics_t *m = *state;
    const double bounds[] = {1, 2};
    metric_t *h = metrics_histogram(m, "size", NULL, "kind", bounds, 2);
    assert_non_null(h);
    metric_observe(h, "a", 2);
    metric_observe(h, "a", 2);
    assert_render(m, "# TYPE size histogram\n"
                     "size_bucket{kind=\"a\",le=\"1\"} 0\n"
                     "size_bucket{kind=\"a\",le=\"2\"} 2\n"
                     "size_bucket{kind=\"a\",le=\"+Inf\"} 2\n"
                     "size_sum{kind=\"a\"} 4\n"
                     "size_count{kind=\"a\"} 2\n");
}

static void test_escaping(void **state)
{
    metrics_t *m = *state;
    metric_t *c = metrics_counter(m, "esc_total", "back\\slash \"quoted\"\nsecond line", "v");
    assert_non_null(c);
    metric_inc(c, "a\\b\"c\nd");
    assert_render(m, "# HELP esc_total back\\\\slash \"quoted\"\\nsecond line\n"
                     "# TYPE esc_total counter\n"
                     "esc_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

static void test_overflow_to_other(void **state)
{
    metrics_t *m = *state;
    metric_t *c = metrics_counter(m, "by_user_total", "per user", "user,realm");
    assert_non_null(c);
    char name[32];
    for (int i = 0; i < METRICS_MAX_SERIES; i++) {
        snprintf(name, sizeof name, "u%d", i);
        metric_addv(c, (const char *[]){name, "r"}, 1);
    }
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "extra%d", i);
        metric_addv(c, (const char *[]){name, "r"}, 1);
    }
    metric_addv(c, (const char *[]){"u0", "r"}, 1); /* existing series still update */

    char *text = metrics_render(m);
    assert_non_null(text);
    size_t lines = 0;
    for (const char *p = text; (p = strchr(p, '\n')); p++)
        lines++;
    assert_int_equal(lines, 2 + METRICS_MAX_SERIES + 1);
    assert_non_null(strstr(text, "by_user_total{user=\"u0\",realm=\"r\"} 2\n"));
    snprintf(name, sizeof name, "user=\"u%d\"", METRICS_MAX_SERIES - 1);
    assert_non_null(strstr(text, name));
    assert_null(strstr(text, "extra"));
    assert_non_null(strstr(text, "by_user_total{user=\"other\",realm=\"other\"} 10\n"));
    free(text);
}

static void test_bad_names(void **state)
{
    metrics_t *m = *state;
    const double bounds[] = {1, 2};
    const double unsorted[] = {2, 1};
    assert_null(metrics_counter(m, "", "h", NULL));
    assert_null(metrics_counter(m, NULL, "h", NULL));
    assert_null(metrics_counter(m, "9lives", "h", NULL));
    assert_null(metrics_counter(m, "has-dash", "h", NULL));
    assert_null(metrics_counter(m, "has space", "h", NULL));
    assert_null(metrics_counter(m, "ok_name", "h", "bad:label"));
    assert_null(metrics_counter(m, "ok_name", "h", "1abc"));
    assert_null(metrics_counter(m, "ok_name", "h", "a,,b"));
    assert_null(metrics_counter(m, "ok_name", "h", "a,"));
    assert_null(metrics_counter(m, "ok_name", "h", "a,a"));
    assert_null(metrics_counter(m, "ok_name", "h", "__reserved"));
    assert_null(metrics_counter(m, "ok_name", "h", "a,b,c,d,e"));
    assert_null(metrics_histogram(m, "ok_hist", "h", "le", bounds, 2));
    assert_null(metrics_histogram(m, "ok_hist", "h", NULL, unsorted, 2));
    assert_null(metrics_counter(NULL, "ok_name", "h", NULL));

    /* Nothing was registered by the failures. */
    char *text = metrics_render(m);
    assert_string_equal(text, "");
    free(text);

    assert_non_null(metrics_counter(m, "ns:sub_total", "colons are fine", "_a,b1"));
    assert_non_null(metrics_counter(m, "_x", NULL, NULL));
    /* Same family again: same handle; another type: refused. */
    metric_t *a = metrics_counter(m, "dup_total", "h", "x");
    assert_non_null(a);
    assert_ptr_equal(metrics_counter(m, "dup_total", "h", "x"), a);
    assert_null(metrics_gauge(m, "dup_total", "h", "x"));
    assert_null(metrics_counter(m, "dup_total", "h", "y"));

    /* Updates through a NULL handle (a failed registration) are ignored. */
    metric_inc(NULL, "x");
    metric_set(NULL, NULL, 1);
    metric_observe(NULL, NULL, 1);
}

#define THREADS    4
#define INCREMENTS 100000

typedef struct worker {
    metric_t *plain;
    metric_t *labelled;
    metric_t *hist;
    int id;
} worker_t;

static void *hammer(void *arg)
{
    worker_t *w = arg;
    char label[8];
    for (int i = 0; i < INCREMENTS; i++) {
        metric_inc(w->plain, NULL);
        /* New label values appear while other threads update: exercises publication. */
        snprintf(label, sizeof label, "v%d", i % 50);
        metric_inc(w->labelled, label);
        metric_observe(w->hist, NULL, 1);
    }
    return NULL;
}

static void test_concurrent_increments(void **state)
{
    metrics_t *m = *state;
    const double bounds[] = {0.5};
    worker_t w = {
        .plain = metrics_counter(m, "hits_total", "hits", NULL),
        .labelled = metrics_counter(m, "by_value_total", "by value", "v"),
        .hist = metrics_histogram(m, "obs", "observations", NULL, bounds, 1),
    };
    pthread_t t[THREADS];
    worker_t ws[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ws[i] = w;
        ws[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &ws[i]), 0);
    }
    /* Render while the workers run; it must not crash or tear. */
    for (int i = 0; i < 20; i++)
        free(metrics_render(m));
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);

    char *text = metrics_render(m);
    char expect[64];
    snprintf(expect, sizeof expect, "\nhits_total %d\n", THREADS * INCREMENTS);
    assert_non_null(strstr(text, expect));
    snprintf(expect, sizeof expect, "by_value_total{v=\"v0\"} %d\n", THREADS * INCREMENTS / 50);
    assert_non_null(strstr(text, expect));
    snprintf(expect, sizeof expect, "obs_count %d\n", THREADS * INCREMENTS);
    assert_non_null(strstr(text, expect));
    snprintf(expect, sizeof expect, "obs_sum %d\n", THREADS * INCREMENTS);
    assert_non_null(strstr(text, expect));
    free(text);
}

/* The program label on every series: first, before the family's labels and le. */
static void test_constant_label(void **state)
{
    metrics_t *m = *state;
    metric_t *plain = metrics_gauge(m, "cscf_up", NULL, NULL);
    metric_t *c = metrics_counter(m, "cscf_req_total", NULL, "method");
    static const double b[] = {0.5};
    metric_t *h = metrics_histogram(m, "cscf_lat_seconds", NULL, NULL, b, 1);
    assert_int_equal(metrics_set_constant_label(m, "program", "sc\"scf"), 0);
    metric_set(plain, NULL, 1);
    metric_inc(c, "INVITE");
    metric_observe(h, NULL, 0.25);
    assert_render(m, "# TYPE cscf_up gauge\n"
                     "cscf_up{program=\"sc\\\"scf\"} 1\n"
                     "# TYPE cscf_req_total counter\n"
                     "cscf_req_total{program=\"sc\\\"scf\",method=\"INVITE\"} 1\n"
                     "# TYPE cscf_lat_seconds histogram\n"
                     "cscf_lat_seconds_bucket{program=\"sc\\\"scf\",le=\"0.5\"} 1\n"
                     "cscf_lat_seconds_bucket{program=\"sc\\\"scf\",le=\"+Inf\"} 1\n"
                     "cscf_lat_seconds_sum{program=\"sc\\\"scf\"} 0.25\n"
                     "cscf_lat_seconds_count{program=\"sc\\\"scf\"} 1\n");
}

/* A family using the name, before or after, would render the label twice: refused. */
static void test_constant_label_clash(void **state)
{
    metrics_t *m = *state;
    assert_non_null(metrics_gauge(m, "cscf_info", NULL, "version,program"));
    assert_int_equal(metrics_set_constant_label(m, "program", "pcscf"), -1);
    assert_int_equal(metrics_set_constant_label(m, "le", "x"), -1);
    assert_int_equal(metrics_set_constant_label(m, "bad name", "x"), -1);
    assert_int_equal(metrics_set_constant_label(m, "node", "a"), 0);
    assert_null(metrics_counter(m, "cscf_other_total", NULL, "method,node"));
    assert_non_null(metrics_counter(m, "cscf_other_total", NULL, "method"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counter_without_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counter_with_label, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counter_two_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gauge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_histogram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_histogram_with_label, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow_to_other, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_increments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_constant_label, setup, teardown),
        cmocka_unit_test_setup_teardown(test_constant_label_clash, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
