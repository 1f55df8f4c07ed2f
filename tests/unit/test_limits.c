/* Unit tests for common/ops/limits.c: admission at the cap, the metrics, one log line per
 * episode (the episode's state), the resume mark. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/ops/limits.h"

static char *render(metrics_t *m)
{
    char *text = metrics_render(m);
    assert_non_null(text);
    return text;
}

static void assert_has(metrics_t *m, const char *line)
{
    char *text = render(m);
    if (!strstr(text, line))
        fail_msg("no line \"%s\" in:\n%s", line, text);
    free(text);
}

static void test_admits_below_cap_refuses_at_it(void **state)
{
    metrics_t *m = metrics_new();
    cap_t *c = cap_new(m, "registrations", "limits.registrations", 5, 7);
    assert_non_null(c);
    for (size_t n = 0; n < 5; n++)
        assert_int_equal(cap_admit(c, n), 1);
    assert_int_equal(cap_refusing(c), 0);
    assert_int_equal(cap_admit(c, 5), 0);
    assert_int_equal(cap_admit(c, 6), 0); /* past the cap (grown elsewhere): still refused */
    assert_int_equal(cap_refused(c), 2);
    assert_int_equal(cap_refusing(c), 1);
    assert_string_equal(cap_retry_after(c), "7");
    assert_has(m, "cscf_table_capacity{table=\"registrations\"} 5\n");
    assert_has(m, "cscf_table_entries{table=\"registrations\"} 6\n");
    assert_has(m, "cscf_table_refused_total{table=\"registrations\"} 2\n");
    cap_free(c);
    metrics_free(m);
}

static void test_episode_ends_under_resume_mark(void **state)
{
    cap_t *c = cap_new(NULL, "dialogs", "limits.dialogs", 100, 5);
    assert_int_equal(cap_admit(c, 100), 0);
    assert_int_equal(cap_refusing(c), 1);
    cap_update(c, 99); /* one freed: still inside the episode (no log line per request) */
    assert_int_equal(cap_refusing(c), 1);
    assert_int_equal(cap_admit(c, 99), 1);
    cap_update(c, 90); /* the mark itself: not under it */
    assert_int_equal(cap_refusing(c), 1);
    cap_update(c, 89);
    assert_int_equal(cap_refusing(c), 0);
    assert_int_equal(cap_admit(c, 100), 0); /* a new episode */
    assert_int_equal(cap_refusing(c), 1);
    assert_int_equal(cap_refused(c), 2);
    cap_free(c);
}

static void test_cap_of_one_resumes_when_empty(void **state)
{
    cap_t *c = cap_new(NULL, "relays", "limits.relays", 1, 5);
    assert_int_equal(cap_admit(c, 0), 1);
    assert_int_equal(cap_admit(c, 1), 0);
    cap_update(c, 0);
    assert_int_equal(cap_refusing(c), 0);
    cap_free(c);
}

static void test_shared_families_and_new_capacity(void **state)
{
    metrics_t *m = metrics_new();
    cap_t *a = cap_new(m, "bindings", "limits.bindings", 10, 5);
    cap_t *b = cap_new(m, "challenges", "limits.challenges", 20, 5);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(cap_admit(b, 20), 0);
    cap_set_capacity(b, 30);
    assert_int_equal(cap_admit(b, 20), 1);
    assert_has(m, "cscf_table_capacity{table=\"bindings\"} 10\n");
    assert_has(m, "cscf_table_capacity{table=\"challenges\"} 30\n");
    assert_has(m, "cscf_table_refused_total{table=\"challenges\"} 1\n");
    cap_free(a);
    cap_free(b);
    metrics_free(m);
}

/* Work admitted already goes on past the cap, into a reserve of CAP_RESERVE_PERCENT, while new
 * work is refused at the cap; past the reserve everything is refused. */
static void test_admitted_work_uses_the_reserve(void **state)
{
    metrics_t *m = metrics_new();
    cap_t *c = cap_new(m, "transactions", "limits.transactions", 100, 5);
    assert_non_null(c);
    size_t hard = 100 + 100 * CAP_RESERVE_PERCENT / 100 + 1;
    assert_int_equal(cap_admit(c, 100), 0);
    for (size_t n = 100; n < hard; n++)
        assert_int_equal(cap_admit_reserved(c, n), 1);
    assert_int_equal(cap_admit_reserved(c, hard), 0);
    assert_int_equal(cap_refused(c), 2);
    assert_has(m, "cscf_table_refused_total{table=\"transactions\"} 2");
    /* a cap of one still has room for one more ongoing entry */
    cap_t *one = cap_new(NULL, "dialogs", "limits.dialogs", 1, 1);
    assert_int_equal(cap_admit(one, 1), 0);
    assert_int_equal(cap_admit_reserved(one, 1), 1);
    assert_int_equal(cap_admit_reserved(one, 2), 0);
    assert_int_equal(cap_admit_reserved(NULL, 1000000), 1);
    cap_free(one);
    cap_free(c);
    metrics_free(m);
    (void)state;
}

static void test_null_cap_admits(void **state)
{
    assert_int_equal(cap_admit(NULL, 1000000), 1);
    cap_update(NULL, 3);
    assert_int_equal(cap_capacity(NULL), 0);
    assert_string_equal(cap_retry_after(NULL), "5");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admits_below_cap_refuses_at_it),
        cmocka_unit_test(test_episode_ends_under_resume_mark),
        cmocka_unit_test(test_cap_of_one_resumes_when_empty),
        cmocka_unit_test(test_shared_families_and_new_capacity),
        cmocka_unit_test(test_admitted_work_uses_the_reserve),
        cmocka_unit_test(test_null_cap_admits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
