/* The in-memory store backend: one registration object per IMPI, indexed by IMPI and by each
 * IMPU of its set. Callbacks run before the calls return. */
#include "common/store.h"

#include <stdlib.h>
#include <string.h>

#include "common/strmap.h"

#define EXPIRED_BATCH 1000

struct store {
    strmap_t *by_impi, *by_impu;
    size_t max_regs, max_contacts, contacts;
};

store_t *store_mem_new(size_t max_regs, size_t max_contacts_per_reg)
{
    store_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->max_regs = max_regs;
    s->max_contacts = max_contacts_per_reg;
    s->by_impi = strmap_new();
    s->by_impu = strmap_new();
    if (!s->by_impi || !s->by_impu) {
        store_free(s);
        return NULL;
    }
    return s;
}

static void free_reg(void *r)
{
    store_reg_free(r);
}

void store_free(store_t *s)
{
    if (!s)
        return;
    strmap_free(s->by_impu, NULL);
    strmap_free(s->by_impi, free_reg);
    free(s);
}

static void answer_copy(store_reg_t *r, store_get_f cb, void *arg)
{
    if (!r) {
        cb(arg, 1, NULL);
        return;
    }
    store_reg_t *copy = store_reg_dup(r);
    cb(arg, copy ? 0 : -1, copy);
}

void store_get(store_t *s, const char *impu, store_get_f cb, void *arg)
{
    answer_copy(strmap_get(s->by_impu, impu), cb, arg);
}

void store_get_impi(store_t *s, const char *impi, store_get_f cb, void *arg)
{
    answer_copy(strmap_get(s->by_impi, impi), cb, arg);
}

static void unindex(store_t *s, store_reg_t *r)
{
    for (size_t i = 0; i < r->nimpus; i++)
        if (strmap_get(s->by_impu, r->impus[i]) == r)
            strmap_take(s->by_impu, r->impus[i]);
    s->contacts -= r->ncontacts;
}

static int refuse(const store_t *s, const store_reg_t *reg, const store_reg_t *old)
{
    if (reg->ncontacts > s->max_contacts || (!old && strmap_size(s->by_impi) >= s->max_regs))
        return 1;
    for (size_t i = 0; i < reg->nimpus; i++) {
        const store_reg_t *holder = strmap_get(s->by_impu, reg->impus[i]);
        if (holder && holder != old)
            return 1; /* another IMPI holds this IMPU */
    }
    return 0;
}

void store_put(store_t *s, const store_reg_t *reg, store_done_f cb, void *arg)
{
    store_reg_t *old = strmap_get(s->by_impi, reg->impi);
    store_reg_t *copy = refuse(s, reg, old) ? NULL : store_reg_dup(reg);
    if (!copy) {
        cb(arg, -1);
        return;
    }
    if (old)
        unindex(s, old);
    int ok = strmap_put(s->by_impi, copy->impi, copy, NULL) == 0;
    for (size_t i = 0; ok && i < copy->nimpus; i++)
        ok = strmap_put(s->by_impu, copy->impus[i], copy, NULL) == 0;
    s->contacts += copy->ncontacts;
    store_reg_free(old);
    if (!ok) { /* out of memory half way: take it out again */
        unindex(s, copy);
        strmap_take(s->by_impi, copy->impi);
        store_reg_free(copy);
    }
    cb(arg, ok ? 0 : -1);
}

void store_del(store_t *s, const char *impi, store_done_f cb, void *arg)
{
    store_reg_t *r = strmap_take(s->by_impi, impi);
    if (r) {
        unindex(s, r);
        store_reg_free(r);
    }
    cb(arg, r ? 0 : -1);
}

typedef struct collect {
    const char *prefix;
    int64_t now;
    store_reg_t **items;
    size_t n, cap, limit;
    int failed;
} collect_t;

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int matches(const store_reg_t *r, const char *prefix)
{
    if (!prefix || !*prefix || starts(r->impi, prefix))
        return 1;
    for (size_t i = 0; i < r->nimpus; i++)
        if (starts(r->impus[i], prefix))
            return 1;
    return 0;
}

static void keep(collect_t *c, store_reg_t *r)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        store_reg_t **p = realloc(c->items, cap * sizeof *p);
        if (!p) {
            c->failed = 1;
            return;
        }
        c->items = p;
        c->cap = cap;
    }
    c->items[c->n++] = r;
}

static int collect_prefix(void *ctx, const char *key, void *val)
{
    collect_t *c = ctx;
    if (matches(val, c->prefix))
        keep(c, val);
    return 0;
}

static int by_impi(const void *a, const void *b)
{
    return strcmp((*(store_reg_t *const *)a)->impi, (*(store_reg_t *const *)b)->impi);
}

/* Replaces the borrowed pointers [from, from+n) with copies the caller owns. */
static store_reg_t **copies(store_reg_t **items, size_t from, size_t n)
{
    store_reg_t **out = calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++) {
        if (!(out[i] = store_reg_dup(items[from + i]))) {
            store_regs_free(out, i);
            return NULL;
        }
    }
    return out;
}

void store_list(store_t *s, const char *prefix, size_t offset, size_t limit, store_list_f cb,
                void *arg)
{
    collect_t c = {.prefix = prefix};
    strmap_sweep(s->by_impi, collect_prefix, &c);
    if (c.n)
        qsort(c.items, c.n, sizeof *c.items, by_impi);
    size_t from = offset < c.n ? offset : c.n;
    size_t n = c.n - from < limit ? c.n - from : limit;
    store_reg_t **out = c.failed ? NULL : copies(c.items, from, n);
    free(c.items);
    if (!out) {
        cb(arg, -1, NULL, 0, 0);
        return;
    }
    cb(arg, 0, out, n, c.n);
}

static int collect_expired(void *ctx, const char *key, void *val)
{
    collect_t *c = ctx;
    const store_reg_t *r = val;
    for (size_t i = 0; i < r->ncontacts && c->n < EXPIRED_BATCH; i++) {
        if (r->contacts[i].expires_at <= c->now) {
            keep(c, val);
            break;
        }
    }
    return 0;
}

void store_expired(store_t *s, int64_t now, store_list_f cb, void *arg)
{
    collect_t c = {.now = now};
    strmap_sweep(s->by_impi, collect_expired, &c);
    store_reg_t **out = c.failed ? NULL : copies(c.items, 0, c.n);
    size_t n = c.n;
    free(c.items);
    if (!out) {
        cb(arg, -1, NULL, 0, 0);
        return;
    }
    cb(arg, 0, out, n, n);
}

size_t store_count(const store_t *s)
{
    return strmap_size(s->by_impi);
}

size_t store_contact_count(const store_t *s)
{
    return s->contacts;
}
