/* store.h's record helpers: registrations and their contacts as plain values (new, copy, free,
 * edit), whatever backend keeps them. Contact matching is in store_uri.c, JSON in store_json.c. */
#include "common/store/store.h"

#include <stdlib.h>
#include <string.h>

int store_contact_set(char **field, const char *value)
{
    char *copy = value ? strdup(value) : NULL;
    if (value && !copy)
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

static void contact_clear(store_contact_t *c)
{
    free(c->uri);
    free(c->params);
    free(c->instance);
    free(c->path);
    free(c->received);
    free(c->call_id);
    free(c->user_agent);
    memset(c, 0, sizeof *c);
}

static void sub_clear(store_sub_t *u)
{
    free(u->call_id);
    free(u->local_tag);
    free(u->remote_tag);
    free(u->local_uri);
    free(u->remote_uri);
    free(u->target);
    free(u->route_set);
    free(u->impu);
    free(u->subscriber);
    memset(u, 0, sizeof *u);
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i]);
    free(list);
}

void store_reg_free(store_reg_t *r)
{
    if (!r)
        return;
    free(r->impi);
    free_list(r->impus, r->nimpus);
    free_list(r->barred, r->nbarred);
    free(r->profile);
    free(r->scheme);
    for (size_t i = 0; i < r->ncontacts; i++)
        contact_clear(&r->contacts[i]);
    free(r->contacts);
    free(r->server_name);
    free(r->hss);
    for (size_t i = 0; i < r->nsubs; i++)
        sub_clear(&r->subs[i]);
    free(r->subs);
    free(r);
}

void store_regs_free(store_reg_t **regs, size_t n)
{
    for (size_t i = 0; regs && i < n; i++)
        store_reg_free(regs[i]);
    free(regs);
}

store_reg_t *store_reg_new(const char *impi)
{
    store_reg_t *r = impi ? calloc(1, sizeof *r) : NULL;
    if (r && !(r->impi = strdup(impi))) {
        free(r);
        return NULL;
    }
    return r;
}

/* A copy of n strings (NULL for none); NULL with *ok = 0 when out of memory. */
static char **dup_list(const char *const *list, size_t n, int *ok)
{
    if (!n)
        return NULL;
    char **out = calloc(n, sizeof *out);
    if (!out) {
        *ok = 0;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(out[i] = strdup(list[i]))) {
            free_list(out, i);
            *ok = 0;
            return NULL;
        }
    }
    return out;
}

static int contact_copy(store_contact_t *d, const store_contact_t *c)
{
    *d = *c;
    d->uri = d->params = d->instance = d->path = d->received = d->call_id = d->user_agent = NULL;
    return store_contact_set(&d->uri, c->uri) | store_contact_set(&d->params, c->params) |
           store_contact_set(&d->instance, c->instance) | store_contact_set(&d->path, c->path) |
           store_contact_set(&d->received, c->received) |
           store_contact_set(&d->call_id, c->call_id) |
           store_contact_set(&d->user_agent, c->user_agent);
}

static int sub_copy(store_sub_t *d, const store_sub_t *u)
{
    *d = *u;
    d->call_id = d->local_tag = d->remote_tag = d->local_uri = d->remote_uri = d->target =
        d->route_set = d->impu = d->subscriber = NULL;
    return store_contact_set(&d->call_id, u->call_id) |
           store_contact_set(&d->local_tag, u->local_tag) |
           store_contact_set(&d->remote_tag, u->remote_tag) |
           store_contact_set(&d->local_uri, u->local_uri) |
           store_contact_set(&d->remote_uri, u->remote_uri) |
           store_contact_set(&d->target, u->target) |
           store_contact_set(&d->route_set, u->route_set) | store_contact_set(&d->impu, u->impu) |
           store_contact_set(&d->subscriber, u->subscriber);
}

store_reg_t *store_reg_dup(const store_reg_t *r)
{
    store_reg_t *d = r ? store_reg_new(r->impi) : NULL;
    if (!d)
        return NULL;
    int ok = store_reg_set_impus(d, (const char *const *)r->impus, r->nimpus,
                                 (const char *const *)r->barred, r->nbarred) == 0;
    ok &= store_contact_set(&d->profile, r->profile) == 0;
    ok &= store_contact_set(&d->scheme, r->scheme) == 0;
    if (ok && r->ncontacts && !(d->contacts = calloc(r->ncontacts, sizeof *d->contacts)))
        ok = 0;
    for (size_t i = 0; ok && i < r->ncontacts; i++, d->ncontacts++)
        ok &= contact_copy(&d->contacts[i], &r->contacts[i]) == 0;
    ok &= store_contact_set(&d->server_name, r->server_name) == 0;
    ok &= store_contact_set(&d->hss, r->hss) == 0;
    if (ok && r->nsubs && !(d->subs = calloc(r->nsubs, sizeof *d->subs)))
        ok = 0;
    for (size_t i = 0; ok && i < r->nsubs; i++, d->nsubs++)
        ok &= sub_copy(&d->subs[i], &r->subs[i]) == 0;
    d->rev = r->rev;
    if (!ok) {
        store_reg_free(d);
        return NULL;
    }
    return d;
}

int store_reg_set_impus(store_reg_t *r, const char *const *impus, size_t n,
                        const char *const *barred, size_t nbarred)
{
    int ok = 1;
    char **ni = dup_list(impus, n, &ok);
    char **nb = ok ? dup_list(barred, nbarred, &ok) : NULL;
    if (!ok) {
        free_list(ni, n);
        return -1;
    }
    free_list(r->impus, r->nimpus);
    free_list(r->barred, r->nbarred);
    r->impus = ni;
    r->nimpus = n;
    r->barred = nb;
    r->nbarred = nbarred;
    return 0;
}

store_contact_t *store_reg_add_contact(store_reg_t *r)
{
    store_contact_t *c = realloc(r->contacts, (r->ncontacts + 1) * sizeof *c);
    if (!c)
        return NULL;
    r->contacts = c;
    memset(&c[r->ncontacts], 0, sizeof *c);
    return &c[r->ncontacts++];
}

void store_reg_remove_contact(store_reg_t *r, size_t index)
{
    if (index >= r->ncontacts)
        return;
    contact_clear(&r->contacts[index]);
    memmove(&r->contacts[index], &r->contacts[index + 1],
            (r->ncontacts - index - 1) * sizeof *r->contacts);
    r->ncontacts--;
}

size_t store_reg_drop_expired(store_reg_t *r, int64_t now)
{
    size_t gone = 0;
    for (size_t i = r->ncontacts; i-- > 0;) {
        if (r->contacts[i].expires_at <= now) {
            store_reg_remove_contact(r, i);
            gone++;
        }
    }
    return gone;
}

store_sub_t *store_reg_add_sub(store_reg_t *r)
{
    store_sub_t *u = realloc(r->subs, (r->nsubs + 1) * sizeof *u);
    if (!u)
        return NULL;
    r->subs = u;
    memset(&u[r->nsubs], 0, sizeof *u);
    return &u[r->nsubs++];
}

void store_reg_remove_sub(store_reg_t *r, size_t index)
{
    if (index >= r->nsubs)
        return;
    sub_clear(&r->subs[index]);
    memmove(&r->subs[index], &r->subs[index + 1], (r->nsubs - index - 1) * sizeof *r->subs);
    r->nsubs--;
}

static int same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

store_sub_t *store_reg_find_sub(store_reg_t *r, const char *call_id, const char *local_tag,
                                const char *remote_tag)
{
    for (size_t i = 0; i < r->nsubs; i++) {
        store_sub_t *u = &r->subs[i];
        if (same(u->call_id, call_id) && same(u->local_tag, local_tag) &&
            same(u->remote_tag, remote_tag))
            return u;
    }
    return NULL;
}
