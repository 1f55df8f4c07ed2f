/* For the store's unit and contract tests: callbacks that record what they were given,
 * registrations built for them, and a field-by-field comparison of two. Header only, after
 * cmocka.h: each test binary includes it once. */
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

/* For a synchronous backend (memory): it answers before returning, exactly once. */
static inline int sync_put(store_t *s, const store_reg_t *reg)
{
    result_t r = {0};
    store_put(s, reg, on_done, &r);
    assert_int_equal(r.calls, 1);
    return r.rc;
}

static inline int sync_del(store_t *s, const char *impi)
{
    result_t r = {0};
    store_del(s, impi, on_done, &r);
    assert_int_equal(r.calls, 1);
    return r.rc;
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

static inline void assert_str_or_null(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

/* a and b hold the same values (field by field). */
static inline void assert_same_reg(const store_reg_t *a, const store_reg_t *b)
{
    assert_string_equal(a->impi, b->impi);
    assert_int_equal(a->nimpus, b->nimpus);
    for (size_t i = 0; i < a->nimpus; i++)
        assert_string_equal(a->impus[i], b->impus[i]);
    assert_int_equal(a->nbarred, b->nbarred);
    for (size_t i = 0; i < a->nbarred; i++)
        assert_string_equal(a->barred[i], b->barred[i]);
    assert_str_or_null(a->profile, b->profile);
    assert_str_or_null(a->scheme, b->scheme);
    assert_int_equal(a->ncontacts, b->ncontacts);
    for (size_t i = 0; i < a->ncontacts; i++) {
        const store_contact_t *x = &a->contacts[i], *y = &b->contacts[i];
        assert_str_or_null(x->uri, y->uri);
        assert_str_or_null(x->params, y->params);
        assert_str_or_null(x->instance, y->instance);
        assert_int_equal(x->reg_id, y->reg_id);
        assert_str_or_null(x->path, y->path);
        assert_str_or_null(x->received, y->received);
        assert_str_or_null(x->call_id, y->call_id);
        assert_int_equal(x->cseq, y->cseq);
        assert_str_or_null(x->user_agent, y->user_agent);
        assert_int_equal(x->expires_at, y->expires_at);
        assert_int_equal(x->registered_at, y->registered_at);
    }
    assert_str_or_null(a->server_name, b->server_name);
    assert_str_or_null(a->hss, b->hss);
    assert_int_equal(a->nsubs, b->nsubs);
    for (size_t i = 0; i < a->nsubs; i++) {
        const store_sub_t *x = &a->subs[i], *y = &b->subs[i];
        assert_str_or_null(x->call_id, y->call_id);
        assert_str_or_null(x->local_tag, y->local_tag);
        assert_str_or_null(x->remote_tag, y->remote_tag);
        assert_str_or_null(x->local_uri, y->local_uri);
        assert_str_or_null(x->remote_uri, y->remote_uri);
        assert_str_or_null(x->target, y->target);
        assert_str_or_null(x->route_set, y->route_set);
        assert_str_or_null(x->impu, y->impu);
        assert_str_or_null(x->subscriber, y->subscriber);
        assert_int_equal(x->cseq, y->cseq);
        assert_int_equal(x->version, y->version);
        assert_int_equal(x->expires_at, y->expires_at);
    }
}

#endif
