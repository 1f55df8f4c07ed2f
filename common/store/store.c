/* The store handle: a backend chosen by name, and store.h's calls passed to its table; with
 * store_set_metrics(), each call measured from the call to its callback, whatever the backend.
 *
 * Measuring wraps the callback: a timed_t holds the caller's callback and argument and the
 * start. For a synchronous backend it lives on the caller's stack (the callback runs before
 * the call returns; no allocation); for an asynchronous one it is allocated and kept in
 * s->pending until its answer, so store_free() frees those that never get one. */
#include "common/store/store.h"

#include <stdlib.h>
#include <string.h>

#include "common/ops/metrics.h"
#include "common/store/store_internal.h"
#include "common/util/clock.h"
#include "common/util/log.h"

static const store_ops_t *const backends[] = {&store_mem_ops, &store_redis_ops};
#define NBACKENDS (sizeof backends / sizeof backends[0])

const char *store_backend_name(size_t i)
{
    return i < NBACKENDS ? backends[i]->name : NULL;
}

store_t *store_open(const char *backend, const store_limits_t *limits, const char *options)
{
    return store_open_on(backend, limits, options, NULL);
}

store_t *store_open_on(const char *backend, const store_limits_t *limits, const char *options,
                       struct su_root_s *root)
{
    const store_ops_t *ops = NULL;
    for (size_t i = 0; backend && i < NBACKENDS; i++)
        if (strcmp(backends[i]->name, backend) == 0)
            ops = backends[i];
    if (!ops) {
        log_error("store: no backend called \"%s\"", backend ? backend : "");
        return NULL;
    }
    store_t *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    *s = (store_t){.ops = ops};
    if (!(s->be = ops->open(limits, options, root))) {
        free(s);
        return NULL;
    }
    return s;
}

store_t *store_mem_new(size_t max_regs, size_t max_contacts_per_reg)
{
    store_limits_t limits = {max_regs, max_contacts_per_reg};
    return store_open("memory", &limits, NULL);
}

/* ---- measured calls ---- */

typedef struct store_timed {
    store_t *s;
    const char *op;
    double start;
    store_cb_t cb;
    void *arg;
    int allocated;                   /* 1: in s->pending, freed at its answer */
    struct store_timed *prev, *next; /* s->pending */
} timed_t;

static const double op_bounds[] = {0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                   0.025,   0.05,    0.1,    0.25,   0.5,   1,      2.5};

void store_set_metrics(store_t *s, metrics_t *m)
{
    s->op_seconds = metrics_histogram(m, "cscf_store_op_seconds",
                                      "Registration store calls, from the call to its answer", "op",
                                      op_bounds, sizeof op_bounds / sizeof op_bounds[0]);
    s->errors = metrics_counter(m, "cscf_store_errors_total",
                                "Registration store calls answered with an error, a timeout or "
                                "a conflict (the record changed since it was read)",
                                "op,kind");
    if (m && (!s->op_seconds || !s->errors))
        log_error("store: cannot register its metrics");
}

/* A timer for op: in *local for a synchronous backend, else allocated; NULL when not measuring
 * or out of memory (the call then goes unmeasured). */
static timed_t *timed_begin(store_t *s, const char *op, timed_t *local, void *arg)
{
    if (!s->op_seconds)
        return NULL;
    timed_t *t = s->ops->synchronous ? local : calloc(1, sizeof *t);
    if (!t)
        return NULL;
    *t = (timed_t){.s = s, .op = op, .start = clock_mono_s(), .arg = arg};
    if (!s->ops->synchronous) {
        t->allocated = 1;
        t->next = s->pending;
        if (s->pending)
            s->pending->prev = t;
        s->pending = t;
    }
    return t;
}

/* The answer came: observed, counted when rc is an error (rc as store_done_f has it), t freed
 * when allocated; *arg is the caller's argument. */
static void timed_end(timed_t *t, int rc, void **arg)
{
    store_t *s = t->s;
    metric_observe(s->op_seconds, t->op, clock_mono_s() - t->start);
    const char *kind = rc == STORE_CONFLICT  ? "conflict"
                       : rc == STORE_TIMEOUT ? "timeout"
                       : rc < 0              ? "error"
                                             : NULL;
    if (kind)
        metric_addv(s->errors, (const char *const[]){t->op, kind}, 1);
    *arg = t->arg;
    if (!t->allocated)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        s->pending = t->next;
    if (t->next)
        t->next->prev = t->prev;
    free(t);
}

static void timed_get(void *arg, int rc, store_reg_t *reg)
{
    timed_t *t = arg;
    store_get_f cb = t->cb.get;
    timed_end(t, rc < 0 ? rc : 0, &arg); /* 1 is "not found" here, no conflict */
    cb(arg, rc, reg);
}

static void timed_done(void *arg, int rc)
{
    timed_t *t = arg;
    store_done_f cb = t->cb.done;
    timed_end(t, rc, &arg);
    cb(arg, rc);
}

static void timed_list(void *arg, int rc, store_reg_t **regs, size_t n, size_t total)
{
    timed_t *t = arg;
    store_list_f cb = t->cb.list;
    timed_end(t, rc < 0 ? rc : 0, &arg);
    cb(arg, rc, regs, n, total);
}

void store_free(store_t *s)
{
    if (!s)
        return;
    s->ops->close(s->be);
    while (s->pending) { /* answers that will not come */
        timed_t *t = s->pending;
        s->pending = t->next;
        free(t);
    }
    free(s);
}

const char *store_backend(const store_t *s)
{
    return s->ops->name;
}

int store_synchronous(const store_t *s)
{
    return s->ops->synchronous;
}

int store_set_limits(store_t *s, const store_limits_t *limits)
{
    return s->ops->set_limits(s->be, limits);
}

/* Each call goes straight to the backend when not measured (or out of memory), else through
 * the timed_* callback with a timer. */

void store_get(store_t *s, const char *impu, store_get_f cb, void *arg)
{
    timed_t local, *t = timed_begin(s, "get", &local, arg);
    if (!t) {
        s->ops->get(s->be, impu, cb, arg);
        return;
    }
    t->cb.get = cb;
    s->ops->get(s->be, impu, timed_get, t);
}

void store_get_impi(store_t *s, const char *impi, store_get_f cb, void *arg)
{
    timed_t local, *t = timed_begin(s, "get_impi", &local, arg);
    if (!t) {
        s->ops->get_impi(s->be, impi, cb, arg);
        return;
    }
    t->cb.get = cb;
    s->ops->get_impi(s->be, impi, timed_get, t);
}

void store_put(store_t *s, const store_reg_t *reg, store_done_f cb, void *arg)
{
    timed_t local, *t = timed_begin(s, "put", &local, arg);
    if (!t) {
        s->ops->put(s->be, reg, cb, arg);
        return;
    }
    t->cb.done = cb;
    s->ops->put(s->be, reg, timed_done, t);
}

static void del(store_t *s, const char *impi, uint64_t rev, store_done_f cb, void *arg)
{
    timed_t local, *t = timed_begin(s, "del", &local, arg);
    if (!t) {
        s->ops->del(s->be, impi, rev, cb, arg);
        return;
    }
    t->cb.done = cb;
    s->ops->del(s->be, impi, rev, timed_done, t);
}

void store_del(store_t *s, const char *impi, store_done_f cb, void *arg)
{
    del(s, impi, 0, cb, arg);
}

void store_del_if(store_t *s, const char *impi, uint64_t rev, store_done_f cb, void *arg)
{
    del(s, impi, rev, cb, arg);
}

void store_list(store_t *s, const char *prefix, size_t offset, size_t limit, store_list_f cb,
                void *arg)
{
    timed_t local, *t = timed_begin(s, "list", &local, arg);
    if (!t) {
        s->ops->list(s->be, prefix, offset, limit, cb, arg);
        return;
    }
    t->cb.list = cb;
    s->ops->list(s->be, prefix, offset, limit, timed_list, t);
}

void store_expired(store_t *s, int64_t now, store_list_f cb, void *arg)
{
    timed_t local, *t = timed_begin(s, "expired", &local, arg);
    if (!t) {
        s->ops->expired(s->be, now, cb, arg);
        return;
    }
    t->cb.list = cb;
    s->ops->expired(s->be, now, timed_list, t);
}

size_t store_count(const store_t *s)
{
    return s->ops->count(s->be);
}

size_t store_contact_count(const store_t *s)
{
    return s->ops->contact_count(s->be);
}

const char *store_status(const store_t *s)
{
    return s->ops->status ? s->ops->status(s->be) : "ok";
}
