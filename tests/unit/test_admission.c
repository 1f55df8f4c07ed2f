/* admission.c: the shedding curve per class, the lag smoothing, token buckets per flow and per
 * IMPI, the bounded tables, Retry-After jitter, the counters and the REST view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/sip/admission.h"

static adm_config_t config(void)
{
    adm_config_t c = {.enabled = 1,
                      .target = 0.2,
                      .retry_after = 2,
                      .flow_burst = 1,
                      .impi_burst = 1,
                      .table_size = 100};
    return c;
}

/* Drives the lag to `lag` (many samples, far longer than the window). */
static double settle(adm_t *a, double now, double lag)
{
    for (int i = 0; i < 200; i++, now += 0.01)
        adm_lag_sample(a, now, lag);
    return now;
}

/* Share of n decisions of class c that were shed for lag. */
static double shed_share(adm_t *a, double now, adm_class_t c, int n)
{
    int shed = 0;
    for (int i = 0; i < n; i++)
        shed += adm_decide(a, now, c, NULL, NULL) == ADM_SHED_LAG;
    return (double)shed / n;
}

static void curve_per_class(void **state)
{
    adm_config_t c = config();
    adm_t *a = adm_new(&c, 42);
    /* below the target: nothing is shed */
    settle(a, 0, 0.1);
    for (int k = 0; k < ADM_NCLASSES; k++)
        assert_true(adm_shed_probability(a, (adm_class_t)k) == 0);
    /* 1.5 x target for 2 s: every new initial request (the integral part), no one else */
    settle(a, 10, 0.3);
    assert_true(adm_shed_probability(a, ADM_INITIAL) == 1);
    assert_true(adm_shed_probability(a, ADM_INITIAL_REGISTER) == 1);
    assert_true(adm_shed_probability(a, ADM_KNOWN) == 0);
    assert_true(adm_shed_probability(a, ADM_IN_DIALOG) == 0);
    assert_true(shed_share(a, 20, ADM_INITIAL, 1000) == 1);
    assert_true(shed_share(a, 20, ADM_KNOWN, 1000) == 0);
    /* 2.5 x target: still no known UE */
    settle(a, 25, 0.5);
    assert_true(adm_shed_probability(a, ADM_KNOWN) == 0);
    /* 3.5 x target: half the known UEs */
    settle(a, 30, 0.7);
    assert_true(fabs(adm_shed_probability(a, ADM_KNOWN) - 0.5) < 0.01);
    double s = shed_share(a, 35, ADM_KNOWN, 10000);
    assert_true(s > 0.45 && s < 0.55);
    /* any lag: admitted work (in-dialog requests, ACK, CANCEL), emergency and OPTIONS to this
     * node are never refused */
    settle(a, 50, 100);
    adm_class_t never[] = {ADM_EMERGENCY, ADM_OPTIONS, ADM_ACK_CANCEL, ADM_IN_DIALOG, ADM_ADMITTED};
    for (size_t k = 0; k < 5; k++) {
        assert_true(adm_shed_probability(a, never[k]) == 0);
        assert_true(shed_share(a, 60, never[k], 1000) == 0);
    }
    adm_free(a);
}

/* The share of new initial requests refused follows the lag gradually, both ways: it grows
 * while the lag stays a little over the target and shrinks once it is under, step by step. */
static void integral_follows_lag(void **state)
{
    adm_config_t c = config();
    adm_t *a = adm_new(&c, 1);
    double now = settle(a, 0, 0), prev = 0, p = 0;
    int steps = 0;
    for (; p < 1 && steps < 1000; steps++, now += 0.01) { /* 1.1 x target */
        adm_lag_sample(a, now, 0.22);
        p = adm_shed_probability(a, ADM_INITIAL);
        assert_true(p >= prev && p - prev < 0.15); /* the proportional part: 0.1 at 1.1 x */
        prev = p;
    }
    assert_true(p == 1);
    assert_true(steps > 50); /* not on/off: it took more than half a second */
    for (steps = 0; p > 0 && steps < 1000; steps++, now += 0.01) { /* 0.5 x target */
        adm_lag_sample(a, now, 0.1);
        p = adm_shed_probability(a, ADM_INITIAL);
        assert_true(p <= prev && prev - p < 0.02);
        prev = p;
    }
    assert_true(p == 0);
    assert_true(steps > 50);
    /* at the target exactly it holds its share */
    for (int i = 0; i < 30; i++, now += 0.01)
        adm_lag_sample(a, now, 0.24);
    double held = adm_shed_probability(a, ADM_INITIAL);
    assert_true(held > 0 && held < 1);
    for (int i = 0; i < 300; i++, now += 0.01)
        adm_lag_sample(a, now, 0.2 + 0.0001 * (i % 2 ? 1 : -1));
    assert_true(fabs(adm_shed_probability(a, ADM_INITIAL) - held) < 0.2);
    adm_free(a);
}

/* The proportional curve of the higher classes rises with the lag, with no jump. */
static void curve_is_gradual(void **state)
{
    adm_config_t c = config();
    adm_t *a = adm_new(&c, 1);
    double prev = 0;
    for (double lag = 0.6; lag <= 0.8; lag += 0.01) {
        settle(a, lag * 1000, lag);
        double p = adm_shed_probability(a, ADM_KNOWN);
        assert_true(p >= prev);
        assert_true(p - prev < 0.1);
        prev = p;
    }
    assert_true(prev > 0.95);
    adm_free(a);
}

/* One late tick (or a burst that drains at once) does not count; a standing queue does. */
static void smoothing(void **state)
{
    adm_config_t c = config();
    adm_t *a = adm_new(&c, 1);
    settle(a, 0, 0);
    adm_lag_sample(a, 2.01, 0.5); /* one 500 ms hiccup, 10 ms after the last sample */
    assert_true(adm_lag(a) < 0.1);
    for (int i = 1; i <= 5; i++) /* a queue that drains within 50 ms */
        adm_lag_sample(a, 2.01 + i * 0.01, 0.5 - i * 0.1);
    assert_true(adm_lag(a) < 0.1);
    assert_true(adm_shed_probability(a, ADM_INITIAL) == 0);
    settle(a, 3, 0.5);
    assert_true(fabs(adm_lag(a) - 0.5) < 0.01);
    adm_free(a);
}

/* A gap in the samples (the loop held off the CPU for 400 ms) followed by datagrams that waited
 * that long: a backlog that drains within the window does not count; one that stays does. */
static void gap(void **state)
{
    adm_config_t c = config();
    adm_t *a = adm_new(&c, 1);
    double now = settle(a, 0, 0.005) + 0.4;
    for (int i = 0; i < 8; i++, now += 0.01) { /* 350 ms waited, drained in 80 ms */
        adm_lag_sample(a, now, 0.35 - i * 0.045);
        assert_true(adm_lag(a) < c.target);
        assert_true(adm_shed_probability(a, ADM_INITIAL) == 0);
    }
    settle(a, now, 0.005);
    now += 2.4;
    for (int i = 0; i < 15; i++, now += 0.01) { /* 300 ms waited, and it stays */
        adm_lag_sample(a, now, 0.3);
        if (i < 9) /* the window still reaches back to before the gap */
            assert_true(adm_shed_probability(a, ADM_INITIAL) == 0);
    }
    assert_true(fabs(adm_lag(a) - 0.3) < 0.01);
    assert_true(adm_shed_probability(a, ADM_INITIAL) > 0.45); /* 1.5 targets: half */
    /* Overloaded before a gap and draining after it: the share refused stays where it was. */
    now = settle(a, now, 0.3) + 0.3;
    double before = adm_shed_probability(a, ADM_INITIAL);
    adm_lag_sample(a, now, 0.15);
    assert_true(before > 0.99);
    assert_true(adm_shed_probability(a, ADM_INITIAL) > 0.95);
    adm_free(a);
}

static void disabled_only_counts(void **state)
{
    adm_config_t c = config();
    c.enabled = 0;
    c.flow_rate = 1;
    adm_t *a = adm_new(&c, 1);
    settle(a, 0, 10);
    for (int i = 0; i < 100; i++)
        assert_int_equal(adm_decide(a, 5, ADM_INITIAL, "udp:1.2.3.4:5", "x"), ADM_ADMIT);
    assert_int_equal(adm_admitted(a, ADM_INITIAL), 100);
    assert_int_equal(adm_table_count(a, 0), 0);
    adm_free(a);
}

static void flow_bucket(void **state)
{
    adm_config_t c = config();
    c.flow_rate = 10;
    c.flow_burst = 5;
    adm_t *a = adm_new(&c, 1);
    const char *dev = "udp:10.0.0.1:5060", *other = "udp:10.0.0.1:5062";
    int ok = 0;
    for (int i = 0; i < 20; i++) /* a burst at one instant: the bucket's size */
        ok += adm_decide(a, 1.0, ADM_INITIAL, dev, NULL) == ADM_ADMIT;
    assert_int_equal(ok, 5);
    assert_int_equal(adm_shed(a, ADM_INITIAL, ADM_SHED_FLOW), 15);
    /* another UE behind the same NAT (same address, other port) is not affected */
    assert_int_equal(adm_decide(a, 1.0, ADM_INITIAL, other, NULL), ADM_ADMIT);
    /* in-dialog requests and ACK/CANCEL of the limited flow still pass */
    assert_int_equal(adm_decide(a, 1.0, ADM_IN_DIALOG, dev, NULL), ADM_ADMIT);
    assert_int_equal(adm_decide(a, 1.0, ADM_ACK_CANCEL, dev, NULL), ADM_ADMIT);
    /* refill at the rate: 0.5 s later, 5 more */
    ok = 0;
    for (int i = 0; i < 20; i++)
        ok += adm_decide(a, 1.5, ADM_INITIAL, dev, NULL) == ADM_ADMIT;
    assert_int_equal(ok, 5);
    /* steady 100/s from the device over 2 s: about the rate gets through */
    ok = 0;
    for (int i = 0; i < 200; i++)
        ok += adm_decide(a, 2.0 + i * 0.01, ADM_INITIAL, dev, NULL) == ADM_ADMIT;
    assert_true(ok >= 19 && ok <= 26);
    adm_free(a);
}

static void impi_bucket(void **state)
{
    adm_config_t c = config();
    c.impi_rate = 1;
    c.impi_burst = 2;
    adm_t *a = adm_new(&c, 1);
    /* one IMPI from many flows (a device hopping ports) is held */
    int ok = 0;
    for (int i = 0; i < 10; i++) {
        char flow[32];
        snprintf(flow, sizeof flow, "udp:10.0.0.1:%d", 5000 + i);
        ok += adm_decide(a, 1.0, ADM_INITIAL_REGISTER, flow, "bad@ims") == ADM_ADMIT;
    }
    assert_int_equal(ok, 2);
    assert_int_equal(adm_shed(a, ADM_INITIAL_REGISTER, ADM_SHED_IMPI), 8);
    assert_int_equal(adm_decide(a, 1.0, ADM_INITIAL_REGISTER, NULL, "good@ims"), ADM_ADMIT);
    adm_free(a);
}

static void table_is_bounded(void **state)
{
    adm_config_t c = config();
    c.flow_rate = 1;
    c.flow_burst = 1;
    c.table_size = 50;
    adm_t *a = adm_new(&c, 1);
    char flow[32];
    /* a spoofing flood of 10,000 flows: the table never holds more than its size */
    for (int i = 0; i < 10000; i++) {
        snprintf(flow, sizeof flow, "udp:10.%d.%d.1:5060", i / 256, i % 256);
        assert_int_equal(adm_decide(a, 1.0, ADM_INITIAL, flow, NULL), ADM_ADMIT);
        assert_true(adm_table_count(a, 0) <= 50);
    }
    assert_int_equal(adm_table_count(a, 0), 50);
    /* the device seen most recently is still held (least recently used went first) */
    assert_int_equal(adm_decide(a, 1.0, ADM_INITIAL, flow, NULL), ADM_SHED_FLOW);
    /* a device kept busy stays in the table while others churn through it */
    const char *busy = "tcp:192.0.2.9:40000";
    adm_decide(a, 2.0, ADM_INITIAL, busy, NULL);
    for (int i = 0; i < 1000; i++) {
        snprintf(flow, sizeof flow, "udp:172.16.%d.%d:5060", i / 256, i % 256);
        adm_decide(a, 2.0, ADM_INITIAL, flow, NULL);
        if (i % 10 == 0)
            adm_decide(a, 2.0, ADM_INITIAL, busy, NULL);
    }
    json_t *j = adm_json(a, 2.0, 3);
    json_t *top = json_object_get(json_object_get(j, "flows"), "top_refused");
    assert_string_equal(json_string_value(json_object_get(json_array_get(top, 0), "key")), busy);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "flows"), "tracked")),
                     50);
    json_decref(j);
    /* a smaller table on reload drops the least recently used at once */
    c.table_size = 10;
    adm_set_config(a, &c);
    assert_int_equal(adm_table_count(a, 0), 10);
    adm_free(a);
}

static void long_keys_are_cut(void **state)
{
    adm_config_t c = config();
    c.impi_rate = 1;
    adm_t *a = adm_new(&c, 1);
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(adm_decide(a, 1.0, ADM_INITIAL, NULL, big), ADM_ADMIT);
    big[1500] = 'y'; /* differs only past the cut: the same bucket */
    assert_int_equal(adm_decide(a, 1.0, ADM_INITIAL, NULL, big), ADM_SHED_IMPI);
    assert_int_equal(adm_table_count(a, 1), 1);
    adm_free(a);
}

static void retry_after_jitter(void **state)
{
    adm_config_t c = config();
    c.retry_after = 4;
    adm_t *a = adm_new(&c, 7);
    int seen[9] = {0};
    for (int i = 0; i < 1000; i++) {
        unsigned r = adm_retry_after(a);
        assert_true(r >= 4 && r <= 8);
        seen[r]++;
    }
    for (int r = 4; r <= 8; r++) /* spread, not one value */
        assert_true(seen[r] > 100);
    adm_free(a);
}

static void shed_ratio_window(void **state)
{
    adm_config_t c = config();
    adm_t *a = adm_new(&c, 3);
    settle(a, 0, 0.7); /* p = 0.5 for a known UE */
    for (int i = 0; i < 1000; i++)
        adm_decide(a, 2.0 + i * 0.001, ADM_KNOWN, NULL, NULL);
    double r = adm_shed_ratio(a, 3.0);
    assert_true(r > 0.4 && r < 0.6);
    /* long after: nothing recent */
    assert_true(adm_shed_ratio(a, 30.0) == 0);
    uint64_t shed = adm_shed(a, ADM_KNOWN, ADM_SHED_LAG);
    assert_int_equal(shed + adm_admitted(a, ADM_KNOWN), 1000);
    json_t *j = adm_json(a, 3.0, 5);
    json_t *cls = json_object_get(json_object_get(j, "classes"), "known");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(cls, "shed"), "lag")),
                     (json_int_t)shed);
    assert_non_null(json_object_get(j, "lag_seconds"));
    json_decref(j);
    adm_free(a);
}

static void names(void **state)
{
    assert_string_equal(adm_class_name(ADM_KNOWN), "known");
    assert_string_equal(adm_class_name(ADM_NCLASSES), "other");
    assert_string_equal(adm_reason_name(ADM_SHED_FLOW), "flow");
}

/* The classes whose requests finish admitted work: never shed for lag, and the caps' reserve. */
static void test_ongoing_classes(void **state)
{
    assert_true(adm_class_ongoing(ADM_EMERGENCY));
    assert_true(adm_class_ongoing(ADM_ACK_CANCEL));
    assert_true(adm_class_ongoing(ADM_IN_DIALOG));
    assert_true(adm_class_ongoing(ADM_ADMITTED));
    assert_false(adm_class_ongoing(ADM_OPTIONS));
    assert_false(adm_class_ongoing(ADM_KNOWN));
    assert_false(adm_class_ongoing(ADM_INITIAL_REGISTER));
    assert_false(adm_class_ongoing(ADM_INITIAL));
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ongoing_classes),
        cmocka_unit_test(curve_per_class),
        cmocka_unit_test(integral_follows_lag),
        cmocka_unit_test(curve_is_gradual),
        cmocka_unit_test(smoothing),
        cmocka_unit_test(disabled_only_counts),
        cmocka_unit_test(flow_bucket),
        cmocka_unit_test(impi_bucket),
        cmocka_unit_test(table_is_bounded),
        cmocka_unit_test(long_keys_are_cut),
        cmocka_unit_test(retry_after_jitter),
        cmocka_unit_test(shed_ratio_window),
        cmocka_unit_test(gap),
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
