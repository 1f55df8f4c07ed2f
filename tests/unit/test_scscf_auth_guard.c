/* The S-CSCF's Cx budget for authentication (core/auth_guard.c), on a clock the test turns:
 * the back-off doubles up to its cap and a right answer ends it; one MAR in flight per IMPI;
 * unanswered challenges per IMPI, MARs per second and MARs awaiting the HSS for all IMPIs are
 * bounded; challenges that follow an answer always pass; the table never holds more IMPIs than
 * its size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cscf/scscf/core/auth_guard.h"

#define A "alice@ims.test"
#define B "bob@ims.test"

static const auth_guard_policy_t policy = {
    .backoff_base_ms = 1000,
    .backoff_max_ms = 8000,
    .free_failures = 1,
    .impi_burst = 3,
    .impi_interval_ms = 1000,
    .mar_rate = 0,
};

/* admit + done: a MAR that went and came back. The verdict. */
static auth_guard_verdict_t mar(auth_guard_t *g, const auth_guard_policy_t *p, const char *impi,
                                int64_t now, long *retry)
{
    auth_guard_verdict_t v = auth_guard_admit(g, p, impi, 1, now, retry);
    if (v == AUTH_GUARD_OK)
        auth_guard_mar_done(g, impi);
    return v;
}

static void backoff_doubles_to_the_cap(void **state)
{
    assert_int_equal(auth_guard_backoff_ms(&policy, 0), 0);
    assert_int_equal(auth_guard_backoff_ms(&policy, 1), 0); /* free_failures */
    assert_int_equal(auth_guard_backoff_ms(&policy, 2), 1000);
    assert_int_equal(auth_guard_backoff_ms(&policy, 3), 2000);
    assert_int_equal(auth_guard_backoff_ms(&policy, 4), 4000);
    assert_int_equal(auth_guard_backoff_ms(&policy, 5), 8000);
    assert_int_equal(auth_guard_backoff_ms(&policy, 6), 8000);
    assert_int_equal(auth_guard_backoff_ms(&policy, 1000000), 8000); /* no overflow */
    auth_guard_policy_t off = policy;
    off.backoff_base_ms = 0;
    assert_int_equal(auth_guard_backoff_ms(&off, 50), 0);
}

/* The guesser of the issue: each wrong answer makes the next challenge wait longer; REGISTERs
 * in between are refused without a MAR; after the wait one challenge goes again. */
static void failures_back_off_and_a_right_answer_ends_it(void **state)
{
    auth_guard_t *g = auth_guard_new(16);
    long retry;
    int64_t now = 1000;
    assert_int_equal(mar(g, &policy, A, now, &retry), AUTH_GUARD_OK);
    auth_guard_answered(g, &policy, A);
    assert_int_equal(auth_guard_failed(g, &policy, A, now), 0); /* the free one */
    assert_int_equal(mar(g, &policy, A, now, &retry), AUTH_GUARD_OK);
    auth_guard_answered(g, &policy, A);
    assert_int_equal(auth_guard_failed(g, &policy, A, now), 1000);
    assert_int_equal(mar(g, &policy, A, now + 10, &retry), AUTH_GUARD_BACKOFF);
    assert_int_equal(retry, 1);
    assert_int_equal(mar(g, &policy, B, now + 10, &retry), AUTH_GUARD_OK); /* others are not */
    assert_int_equal(mar(g, &policy, A, now + 1000, &retry), AUTH_GUARD_OK);
    auth_guard_answered(g, &policy, A);
    now += 1000;
    assert_int_equal(auth_guard_failed(g, &policy, A, now), 2000);
    assert_int_equal(mar(g, &policy, A, now + 1, &retry), AUTH_GUARD_BACKOFF);
    assert_int_equal(retry, 2);
    /* a follow-up challenge (resynchronisation of a challenge already held) still goes */
    assert_int_equal(auth_guard_admit(g, &policy, A, 0, now + 1, &retry), AUTH_GUARD_OK);
    auth_guard_mar_done(g, A);
    /* the real UE answers a challenge it held: the back-off ends at once */
    auth_guard_succeeded(g, A);
    assert_int_equal(mar(g, &policy, A, now + 2, &retry), AUTH_GUARD_OK);
    auth_guard_answered(g, &policy, A);
    /* ... and its failures are forgotten: the next one is free again */
    assert_int_equal(auth_guard_failed(g, &policy, A, now + 3), 0);
    auth_guard_free(g);
}

/* However many guesses come, the back-off stays at its cap: a victim waits at most that. */
static void the_cap_bounds_a_victims_wait(void **state)
{
    auth_guard_t *g = auth_guard_new(16);
    long retry, ms = 0;
    for (int i = 0; i < 60; i++)
        ms = auth_guard_failed(g, &policy, A, 5000);
    assert_int_equal(ms, 8000);
    assert_int_equal(mar(g, &policy, A, 5001, &retry), AUTH_GUARD_BACKOFF);
    assert_int_equal(retry, 8);
    assert_int_equal(mar(g, &policy, A, 13000, &retry), AUTH_GUARD_OK);
    auth_guard_free(g);
}

static void one_mar_in_flight_per_impi(void **state)
{
    auth_guard_t *g = auth_guard_new(16);
    long retry;
    assert_int_equal(auth_guard_admit(g, &policy, A, 1, 0, &retry), AUTH_GUARD_OK);
    assert_int_equal(auth_guard_admit(g, &policy, A, 1, 0, &retry), AUTH_GUARD_IN_FLIGHT);
    assert_int_equal(retry, 1);
    assert_int_equal(auth_guard_admit(g, &policy, B, 1, 0, &retry), AUTH_GUARD_OK);
    auth_guard_mar_done(g, A);
    assert_int_equal(auth_guard_admit(g, &policy, A, 1, 1, &retry), AUTH_GUARD_OK);
    auth_guard_mar_done(g, A);
    auth_guard_mar_done(g, A); /* one done too many changes nothing */
    auth_guard_mar_done(g, "nobody@ims.test");
    assert_int_equal(mar(g, &policy, A, 2, &retry), AUTH_GUARD_OK);
    auth_guard_free(g);
}

/* REGISTERs that never answer: impi_burst at once, then one per interval. Challenges that get
 * answered give their share back, so a UE registering again and again never waits. */
static void unanswered_challenges_are_rationed(void **state)
{
    auth_guard_t *g = auth_guard_new(16);
    long retry;
    for (int i = 0; i < 3; i++)
        assert_int_equal(mar(g, &policy, A, 0, &retry), AUTH_GUARD_OK);
    assert_int_equal(mar(g, &policy, A, 0, &retry), AUTH_GUARD_IMPI_RATE);
    assert_int_equal(retry, 1);
    assert_int_equal(mar(g, &policy, A, 999, &retry), AUTH_GUARD_IMPI_RATE);
    assert_int_equal(mar(g, &policy, A, 1000, &retry), AUTH_GUARD_OK);
    assert_int_equal(mar(g, &policy, A, 1000, &retry), AUTH_GUARD_IMPI_RATE);
    /* over 10 s of flooding: at most burst + 10 challenges */
    int sent = 0;
    auth_guard_t *h = auth_guard_new(16);
    for (int64_t t = 0; t < 10000; t += 5)
        sent += mar(h, &policy, B, t, &retry) == AUTH_GUARD_OK;
    assert_int_equal(sent, 3 + 9);
    auth_guard_free(h);
    /* answered ones: 20 registrations in the same millisecond all get their challenge */
    h = auth_guard_new(16);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(mar(h, &policy, B, 50, &retry), AUTH_GUARD_OK);
        auth_guard_answered(h, &policy, B);
    }
    auth_guard_free(h);
    auth_guard_policy_t off = policy;
    off.impi_interval_ms = 0;
    for (int i = 0; i < 20; i++)
        assert_int_equal(mar(g, &off, A, 1000, &retry), AUTH_GUARD_OK);
    auth_guard_free(g);
}

/* mar_rate per second for all IMPIs (a second's worth at once); the refused leave no record,
 * and only new challenges count. */
static void the_mar_budget_holds_for_all_impis(void **state)
{
    auth_guard_policy_t p = policy;
    p.mar_rate = 10;
    auth_guard_t *g = auth_guard_new(1000);
    long retry;
    char impi[64];
    int ok = 0, refused = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(impi, sizeof impi, "u%d@ims.test", i);
        auth_guard_verdict_t v = mar(g, &p, impi, 0, &retry);
        ok += v == AUTH_GUARD_OK;
        if (v == AUTH_GUARD_BUDGET) {
            refused++;
            assert_true(retry >= 1);
        }
    }
    assert_int_equal(ok, 10);
    assert_int_equal(refused, 90);
    assert_int_equal(auth_guard_size(g), 10);
    assert_int_equal(auth_guard_admit(g, &p, "u0@ims.test", 0, 0, &retry), AUTH_GUARD_OK);
    auth_guard_mar_done(g, "u0@ims.test");
    assert_int_equal(mar(g, &p, "u50@ims.test", 100, &retry), AUTH_GUARD_OK); /* 1 per 100 ms */
    assert_int_equal(mar(g, &p, "u51@ims.test", 100, &retry), AUTH_GUARD_BUDGET);
    /* over 5 s of flooding: the second's worth plus rate per second */
    ok = 0;
    for (int64_t t = 101; t < 5100; t++) {
        snprintf(impi, sizeof impi, "v%lld@ims.test", (long long)t);
        ok += mar(g, &p, impi, t, &retry) == AUTH_GUARD_OK;
    }
    assert_true(ok <= 10 * 5 + 1);
    assert_true(ok >= 10 * 5 - 1);
    auth_guard_free(g);
}

/* max_in_flight MARs awaiting the HSS at once, all IMPIs: beyond them a new challenge is refused
 * at once (no budget token spent), a challenge that follows an answer still goes, and each answer
 * makes room again, a forgotten record's too. */
static void mars_awaiting_the_hss_are_bounded(void **state)
{
    auth_guard_policy_t p = policy;
    p.max_in_flight = 2;
    p.mar_rate = 1000;
    auth_guard_t *g = auth_guard_new(1); /* one record: B's admission forgets A's */
    long retry;
    assert_int_equal(auth_guard_admit(g, &p, A, 1, 0, &retry), AUTH_GUARD_OK);
    assert_int_equal(auth_guard_admit(g, &p, B, 1, 0, &retry), AUTH_GUARD_OK);
    assert_int_equal(auth_guard_in_flight(g), 2);
    assert_int_equal(auth_guard_admit(g, &p, "c@ims.test", 1, 0, &retry), AUTH_GUARD_HSS_BUSY);
    assert_int_equal(retry, 1);
    assert_string_equal(auth_guard_verdict_name(AUTH_GUARD_HSS_BUSY), "hss_busy");
    assert_int_equal(auth_guard_admit(g, &p, "c@ims.test", 0, 0, &retry), AUTH_GUARD_OK);
    assert_int_equal(auth_guard_in_flight(g), 3);
    auth_guard_mar_done(g, A); /* A's record is gone; its MAR still counted */
    auth_guard_mar_done(g, "c@ims.test");
    assert_int_equal(auth_guard_in_flight(g), 1);
    assert_int_equal(auth_guard_admit(g, &p, "d@ims.test", 1, 0, &retry), AUTH_GUARD_OK);
    assert_int_equal(auth_guard_admit(g, &p, "e@ims.test", 1, 0, &retry), AUTH_GUARD_HSS_BUSY);
    auth_guard_mar_done(g, B);
    auth_guard_mar_done(g, "d@ims.test");
    auth_guard_mar_done(g, "d@ims.test"); /* one too many: the count stays at 0 */
    assert_int_equal(auth_guard_in_flight(g), 0);
    /* refusals took no budget: 1,000 a second less the 3 new challenges admitted remain */
    int ok = 0;
    char impi[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(impi, sizeof impi, "f%d@ims.test", i);
        ok += mar(g, &p, impi, 0, &retry) == AUTH_GUARD_OK;
    }
    assert_int_equal(ok, 1000 - 3);
    p.max_in_flight = 0; /* no limit */
    for (int i = 0; i < 10; i++) {
        snprintf(impi, sizeof impi, "g%d@ims.test", i);
        assert_int_equal(auth_guard_admit(g, &p, impi, 1, 1000 + i, &retry), AUTH_GUARD_OK);
    }
    assert_int_equal(auth_guard_in_flight(g), 10);
    auth_guard_free(g);
}

/* A flood of invented IMPIs: the table stays at its size, the oldest record goes first. */
static void the_table_is_bounded(void **state)
{
    auth_guard_t *g = auth_guard_new(8);
    long retry;
    char impi[64];
    assert_int_equal(auth_guard_failed(g, &policy, A, 0), 0);
    assert_int_equal(auth_guard_failed(g, &policy, A, 0), 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(impi, sizeof impi, "x%d@ims.test", i);
        auth_guard_failed(g, &policy, impi, 0);
        assert_true(auth_guard_size(g) <= 8);
        if (i < 6) /* A, touched first, is still there */
            assert_int_equal(mar(g, &policy, A, 1, &retry), AUTH_GUARD_BACKOFF);
    }
    assert_int_equal(auth_guard_size(g), 8);
    assert_int_equal(mar(g, &policy, A, 1, &retry), AUTH_GUARD_OK); /* forgotten */
    /* a MAR in flight whose record was forgotten is released harmlessly */
    assert_int_equal(auth_guard_admit(g, &policy, B, 1, 2, &retry), AUTH_GUARD_OK);
    for (int i = 0; i < 20; i++) {
        snprintf(impi, sizeof impi, "y%d@ims.test", i);
        auth_guard_failed(g, &policy, impi, 2);
    }
    auth_guard_mar_done(g, B);
    assert_int_equal(auth_guard_size(g), 8);
    auth_guard_free(g);
}

/* Idle records go: after the back-off plus a quiet period of the longest back-off, with no
 * MAR in flight and the burst refilled. */
static void idle_records_expire(void **state)
{
    auth_guard_t *g = auth_guard_new(16);
    long retry;
    auth_guard_failed(g, &policy, A, 0);
    auth_guard_failed(g, &policy, A, 0); /* back-off until 1000 */
    assert_int_equal(auth_guard_admit(g, &policy, B, 1, 0, &retry), AUTH_GUARD_OK);
    assert_int_equal(auth_guard_expire(g, &policy, 8999), 0);
    assert_int_equal(auth_guard_expire(g, &policy, 9000), 1); /* A; B's MAR is in flight */
    assert_int_equal(auth_guard_size(g), 1);
    auth_guard_mar_done(g, B);
    assert_int_equal(auth_guard_expire(g, &policy, 9000), 1);
    assert_int_equal(auth_guard_size(g), 0);
    /* forgotten failures: the next one is free again */
    assert_int_equal(auth_guard_failed(g, &policy, A, 9001), 0);
    auth_guard_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backoff_doubles_to_the_cap),
        cmocka_unit_test(failures_back_off_and_a_right_answer_ends_it),
        cmocka_unit_test(the_cap_bounds_a_victims_wait),
        cmocka_unit_test(one_mar_in_flight_per_impi),
        cmocka_unit_test(unanswered_challenges_are_rationed),
        cmocka_unit_test(the_mar_budget_holds_for_all_impis),
        cmocka_unit_test(mars_awaiting_the_hss_are_bounded),
        cmocka_unit_test(the_table_is_bounded),
        cmocka_unit_test(idle_records_expire),
    };
    return cmocka_run_group_tests_name("scscf_auth_guard", tests, NULL, NULL);
}
