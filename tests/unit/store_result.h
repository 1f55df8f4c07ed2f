/* Store callbacks that record what they were given, for the store's unit and contract tests.
 * Header only: each test binary includes it once. */
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

#endif
