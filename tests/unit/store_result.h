/* For the store's unit and contract tests: callbacks that record what they were given, and
 * registrations built for them. Header only, after cmocka.h: each test binary includes it once. */
#ifndef CSCF_TESTS_STORE_RESULT_H
#define CSCF_TESTS_STORE_RESULT_H

#include "common/store/store.h"

typedef struct result {
    int calls, rc;
    store_reg_t *reg;   /* store_get */
    store_reg_t **regs; /* store_list, store_expired */
    size_t n, total;
} result_t;

static inline void on_get(void *arg, int rc, store_reg_t *reg)
{
    result_t *r = arg;
    r->calls++;
    r->rc = rc;
    r->reg = reg;
}

static inline void on_done(void *arg, int rc)
{
    result_t *r = arg;
    r->calls++;
    r->rc = rc;
}

static inline void on_list(void *arg, int rc, store_reg_t **regs, size_t n, size_t total)
{
    result_t *r = arg;
    r->calls++;
    r->rc = rc;
    r->regs = regs;
    r->n = n;
    r->total = total;
}

static inline store_reg_t *make_reg(const char *impi, const char *const *impus, size_t n)
{
    store_reg_t *r = store_reg_new(impi);
    assert_non_null(r);
    assert_int_equal(store_reg_set_impus(r, impus, n, NULL, 0), 0);
    return r;
}

static inline store_contact_t *add_contact(store_reg_t *r, const char *uri, int64_t expires_at)
{
    store_contact_t *c = store_reg_add_contact(r);
    assert_non_null(c);
    assert_int_equal(store_contact_set(&c->uri, uri), 0);
    c->expires_at = expires_at;
    return c;
}

#endif
