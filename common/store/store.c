/* The store handle: a backend chosen by name, and store.h's calls passed to its table. */
#include "common/store/store.h"

#include <stdlib.h>
#include <string.h>

#include "common/store/store_internal.h"
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
    s->ops = ops;
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

void store_free(store_t *s)
{
    if (!s)
        return;
    s->ops->close(s->be);
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

void store_get(store_t *s, const char *impu, store_get_f cb, void *arg)
{
    s->ops->get(s->be, impu, cb, arg);
}

void store_get_impi(store_t *s, const char *impi, store_get_f cb, void *arg)
{
    s->ops->get_impi(s->be, impi, cb, arg);
}

void store_put(store_t *s, const store_reg_t *reg, store_done_f cb, void *arg)
{
    s->ops->put(s->be, reg, cb, arg);
}

void store_del(store_t *s, const char *impi, store_done_f cb, void *arg)
{
    s->ops->del(s->be, impi, 0, cb, arg);
}

void store_del_if(store_t *s, const char *impi, uint64_t rev, store_done_f cb, void *arg)
{
    s->ops->del(s->be, impi, rev, cb, arg);
}

void store_list(store_t *s, const char *prefix, size_t offset, size_t limit, store_list_f cb,
                void *arg)
{
    s->ops->list(s->be, prefix, offset, limit, cb, arg);
}

void store_expired(store_t *s, int64_t now, store_list_f cb, void *arg)
{
    s->ops->expired(s->be, now, cb, arg);
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
