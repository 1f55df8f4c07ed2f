/* store_set_metrics() (common/store/store.c): every call measured from the call to its callback,
 * cscf_store_op_seconds{op} and cscf_store_errors_total{op,kind}, for the memory backend
 * (synchronous) and for a fake asynchronous backend built here on store_internal.h (answers come
 * later; those still owed at store_free() are freed: make SAN=1 unit finds a leak). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/ops/metrics.h"
#include "common/store/store.h"
#include "common/store/store_internal.h"
#include "tests/unit/store_result.h"

/* The value of the series line that starts with prefix (e.g.
 * cscf_store_op_seconds_count{op="put"}), -1 when there is none. */
static double value_of(metrics_t *m, const char *prefix)
{
    char *text = metrics_render(m);
    assert_non_null(text);
    double v = -1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, prefix, strlen(prefix)) == 0 && line[strlen(prefix)] == ' ')
            v = strtod(line + strlen(prefix) + 1, NULL);
    free(text);
    return v;
}

static double count_of(metrics_t *m, const char *op)
{
    char prefix[80];
    snprintf(prefix, sizeof prefix, "cscf_store_op_seconds_count{op=\"%s\"}", op);
    return value_of(m, prefix);
}

static double errors_of(metrics_t *m, const char *op, const char *kind)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "cscf_store_errors_total{op=\"%s\",kind=\"%s\"}", op, kind);
    return value_of(m, prefix);
}

static void memory_backend_measured(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    assert_non_null(m);
    store_t *s = store_mem_new(10, 4);
    assert_non_null(s);
    const char *impus[] = {"sip:a@ims"};
    store_reg_t *a = make_reg("a@ims", impus, 1);
    result_t r = {0};
    store_put(s, a, on_done, &r); /* before: not measured */
    assert_int_equal(r.rc, 0);
    store_set_metrics(s, m);
    assert_true(count_of(m, "put") <= 0);

    r = (result_t){0};
    store_put(s, a, on_done, &r);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.rc, 0);
    assert_true(count_of(m, "put") == 1);
    assert_true(value_of(m, "cscf_store_op_seconds_sum{op=\"put\"}") >= 0);

    r = (result_t){0};
    store_get(s, "sip:a@ims", on_get, &r);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.rc, 0); /* the caller's callback and argument got through */
    assert_non_null(r.reg);
    assert_same_reg(r.reg, a);
    store_reg_free(r.reg);
    assert_true(count_of(m, "get") == 1);
    r = (result_t){0};
    store_get(s, "sip:nobody@ims", on_get, &r); /* not found: no error */
    assert_int_equal(r.rc, 1);
    assert_true(count_of(m, "get") == 2);
    assert_true(errors_of(m, "get", "conflict") <= 0);
    assert_true(errors_of(m, "get", "error") <= 0);

    /* A conflict: a put with a revision the record no longer has. */
    a->rev = 1;
    r = (result_t){0};
    store_put(s, a, on_done, &r);
    assert_int_equal(r.rc, STORE_CONFLICT);
    assert_true(errors_of(m, "put", "conflict") == 1);
    assert_true(count_of(m, "put") == 2);
    /* An error: a del of an IMPI not held; a del_if that conflicts. */
    r = (result_t){0};
    store_del(s, "nobody@ims", on_done, &r);
    assert_int_equal(r.rc, -1);
    assert_true(errors_of(m, "del", "error") == 1);
    r = (result_t){0};
    store_del_if(s, "a@ims", 1, on_done, &r);
    assert_int_equal(r.rc, STORE_CONFLICT);
    assert_true(errors_of(m, "del", "conflict") == 1);
    assert_true(count_of(m, "del") == 2);

    r = (result_t){0};
    store_get_impi(s, "a@ims", on_get, &r);
    store_reg_free(r.reg);
    r = (result_t){0};
    store_list(s, NULL, 0, 10, on_list, &r);
    assert_int_equal(r.n, 1);
    store_regs_free(r.regs, r.n);
    r = (result_t){0};
    store_expired(s, 0, on_list, &r);
    store_regs_free(r.regs, r.n);
    assert_true(count_of(m, "get_impi") == 1);
    assert_true(count_of(m, "list") == 1);
    assert_true(count_of(m, "expired") == 1);

    store_set_metrics(s, NULL); /* no longer */
    r = (result_t){0};
    store_put(s, a, on_done, &r);
    assert_true(count_of(m, "put") == 2);
    store_reg_free(a);
    store_free(s);
    metrics_free(m);
}

/* ---- a fake asynchronous backend: answers wait in a queue until answer_one() ---- */

typedef struct pending_call {
    store_done_f done;
    store_get_f get;
    void *arg;
    int rc;
} pending_call_t;

typedef struct fake {
    pending_call_t q[8];
    size_t n;
} fake_t;

static void *fake_open(const store_limits_t *l, const char *o, struct su_root_s *root)
{
    (void)l, (void)o, (void)root;
    return calloc(1, sizeof(fake_t));
}

static void fake_close(void *be)
{
    free(be); /* answers owed are not made */
}

static void fake_get(void *be, const char *impu, store_get_f cb, void *arg)
{
    fake_t *f = be;
    assert_true(f->n < 8);
    f->q[f->n++] = (pending_call_t){.get = cb, .arg = arg, .rc = STORE_TIMEOUT};
    (void)impu;
}

static void fake_put(void *be, const store_reg_t *reg, store_done_f cb, void *arg)
{
    fake_t *f = be;
    assert_true(f->n < 8);
    f->q[f->n++] = (pending_call_t){.done = cb, .arg = arg, .rc = reg->rev ? STORE_CONFLICT : 0};
}

static void answer_one(fake_t *f)
{
    assert_true(f->n > 0);
    pending_call_t c = f->q[0];
    memmove(f->q, f->q + 1, --f->n * sizeof *f->q);
    if (c.get)
        c.get(c.arg, c.rc, NULL);
    else
        c.done(c.arg, c.rc);
}

static const store_ops_t fake_ops = {
    .name = "fake",
    .synchronous = 0,
    .open = fake_open,
    .close = fake_close,
    .get = fake_get,
    .put = fake_put,
};

static void asynchronous_backend_measured(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    store_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->ops = &fake_ops;
    s->be = fake_ops.open(NULL, NULL, NULL);
    store_set_metrics(s, m);
    const char *impus[] = {"sip:a@ims"};
    store_reg_t *a = make_reg("a@ims", impus, 1);
    result_t put1 = {0}, put2 = {0}, got = {0}, owed = {0};
    store_put(s, a, on_done, &put1);
    a->rev = 5;
    store_put(s, a, on_done, &put2);
    store_get(s, "sip:a@ims", on_get, &got);
    store_put(s, a, on_done, &owed); /* never answered */
    assert_int_equal(put1.calls + put2.calls + got.calls, 0);
    assert_true(count_of(m, "put") <= 0); /* measured at the answer, not at the call */
    fake_t *f = s->be;
    answer_one(f);
    answer_one(f);
    answer_one(f);
    assert_int_equal(put1.calls, 1);
    assert_int_equal(put1.rc, 0);
    assert_int_equal(put2.rc, STORE_CONFLICT);
    assert_int_equal(got.calls, 1);
    assert_int_equal(got.rc, STORE_TIMEOUT);
    assert_true(count_of(m, "put") == 2);
    assert_true(count_of(m, "get") == 1);
    assert_true(errors_of(m, "put", "conflict") == 1);
    assert_true(errors_of(m, "get", "timeout") == 1);
    assert_non_null(s->pending); /* the one still owed */
    store_free(s);               /* frees its timer (ASan: no leak) */
    assert_int_equal(owed.calls, 0);
    store_reg_free(a);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(memory_backend_measured),
        cmocka_unit_test(asynchronous_backend_measured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
