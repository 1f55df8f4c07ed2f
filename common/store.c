/* store.h's helpers: registrations as values, whatever backend keeps them. */
#include "common/store.h"

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

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
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
    store_reg_t *r = calloc(1, sizeof *r);
    if (r && !(r->impi = strdup(impi))) {
        free(r);
        return NULL;
    }
    return r;
}

static char **dup_list(char *const *list, size_t n, int *ok)
{
    if (!n)
        return NULL;
    char **out = calloc(n, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = strdup(list[i])))
            *ok = 0;
    if (!out)
        *ok = 0;
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

store_reg_t *store_reg_dup(const store_reg_t *r)
{
    store_reg_t *d = store_reg_new(r->impi);
    int ok = d != NULL;
    if (!d)
        return NULL;
    d->impus = dup_list(r->impus, r->nimpus, &ok);
    d->nimpus = d->impus ? r->nimpus : 0;
    d->barred = dup_list(r->barred, r->nbarred, &ok);
    d->nbarred = d->barred ? r->nbarred : 0;
    ok &= store_contact_set(&d->profile, r->profile) == 0;
    ok &= store_contact_set(&d->scheme, r->scheme) == 0;
    if (r->ncontacts && !(d->contacts = calloc(r->ncontacts, sizeof *d->contacts)))
        ok = 0;
    for (size_t i = 0; d->contacts && i < r->ncontacts; i++, d->ncontacts++)
        ok &= contact_copy(&d->contacts[i], &r->contacts[i]) == 0;
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
    char **ni = dup_list((char *const *)impus, n, &ok);
    char **nb = dup_list((char *const *)barred, nbarred, &ok);
    if (!ok) {
        free_list(ni, ni ? n : 0);
        free_list(nb, nb ? nbarred : 0);
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

store_contact_t *store_reg_find_contact(store_reg_t *r, const char *uri, const char *instance,
                                        int reg_id)
{
    for (size_t i = 0; i < r->ncontacts; i++) {
        store_contact_t *c = &r->contacts[i];
        if (instance ? c->instance && strcmp(c->instance, instance) == 0 &&
                           (!reg_id || c->reg_id == reg_id)
                     : !c->instance && c->uri && strcmp(c->uri, uri) == 0)
            return c;
    }
    return NULL;
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

static json_t *strings(char *const *list, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(list[i]));
    return a;
}

json_t *store_reg_to_json(const store_reg_t *r, int64_t now)
{
    json_t *contacts = json_array();
    for (size_t i = 0; i < r->ncontacts; i++) {
        const store_contact_t *c = &r->contacts[i];
        json_array_append_new(
            contacts, json_pack("{s:s?,s:s?,s:s?,s:i,s:s?,s:s?,s:s?,s:I,s:s?,s:I,s:I}", "uri",
                                c->uri, "params", c->params, "instance", c->instance, "reg_id",
                                c->reg_id, "path", c->path, "received", c->received, "call_id",
                                c->call_id, "cseq", (json_int_t)c->cseq, "user_agent",
                                c->user_agent, "expires", (json_int_t)(c->expires_at - now),
                                "registered_at", (json_int_t)c->registered_at));
    }
    return json_pack("{s:s,s:o,s:o,s:s?,s:o}", "impi", r->impi, "impus",
                     strings(r->impus, r->nimpus), "barred", strings(r->barred, r->nbarred),
                     "scheme", r->scheme, "contacts", contacts);
}
