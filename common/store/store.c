/* store.h's helpers: registrations as plain values, whatever backend keeps them; and the
 * contact matching rules (RFC 3261 19.1.4 URI equality, RFC 5626 instance and reg-id). */
#include "common/store/store.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* ---- contact matching ---- */

typedef struct span {
    const char *p;
    size_t n;
} span_t;

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The character at s.p[*i], a %XX escape decoded; advances *i. */
static int next_decoded(span_t s, size_t *i)
{
    unsigned char c = (unsigned char)s.p[*i];
    if (c == '%' && *i + 2 < s.n) {
        int hi = hex_value((unsigned char)s.p[*i + 1]), lo = hex_value((unsigned char)s.p[*i + 2]);
        if (hi >= 0 && lo >= 0) {
            *i += 3;
            return hi * 16 + lo;
        }
    }
    (*i)++;
    return c;
}

/* Equal once escapes are decoded; fold: ignoring case. */
static int span_equal(span_t a, span_t b, int fold)
{
    size_t i = 0, j = 0;
    while (i < a.n && j < b.n) {
        int x = next_decoded(a, &i), y = next_decoded(b, &j);
        if (fold ? tolower(x) != tolower(y) : x != y)
            return 0;
    }
    return i == a.n && j == b.n;
}

static int span_is(span_t s, const char *word)
{
    return s.n == strlen(word) && strncasecmp(s.p, word, s.n) == 0;
}

typedef struct uri {
    span_t scheme, user, host, port, params, headers;
    int has_user;
} uri_t;

/* sip:user@host:port;params?headers; 0, or -1 without a scheme. */
static int uri_split(const char *s, uri_t *u)
{
    memset(u, 0, sizeof *u);
    const char *colon = strchr(s, ':');
    if (!colon)
        return -1;
    u->scheme = (span_t){s, (size_t)(colon - s)};
    const char *rest = colon + 1;
    size_t before_headers = strcspn(rest, "?"); /* a user part may hold ';' but not '?' */
    const char *at = memchr(rest, '@', before_headers);
    if (at) {
        u->user = (span_t){rest, (size_t)(at - rest)};
        u->has_user = 1;
        rest = at + 1;
    }
    size_t hostport = strcspn(rest, ";?");
    const char *port = NULL;
    if (rest[0] == '[') { /* IPv6 reference */
        const char *close = memchr(rest, ']', hostport);
        port = close && close + 1 < rest + hostport && close[1] == ':' ? close + 1 : NULL;
    } else {
        port = memchr(rest, ':', hostport);
    }
    u->host = (span_t){rest, port ? (size_t)(port - rest) : hostport};
    if (port)
        u->port = (span_t){port + 1, (size_t)(rest + hostport - port - 1)};
    rest += hostport;
    if (*rest == ';') {
        size_t n = strcspn(rest + 1, "?");
        u->params = (span_t){rest + 1, n};
        rest += 1 + n;
    }
    if (*rest == '?')
        u->headers = (span_t){rest + 1, strlen(rest + 1)};
    return 0;
}

/* The next item of a sep-separated list (name and value, value empty without '='); 0 at the end. */
static int next_item(span_t *list, char sep, span_t *name, span_t *value)
{
    while (list->n && list->p[0] == sep) {
        list->p++;
        list->n--;
    }
    if (!list->n)
        return 0;
    const char *end = memchr(list->p, sep, list->n);
    size_t n = end ? (size_t)(end - list->p) : list->n;
    const char *eq = memchr(list->p, '=', n);
    *name = (span_t){list->p, eq ? (size_t)(eq - list->p) : n};
    *value = eq ? (span_t){eq + 1, (size_t)(list->p + n - eq - 1)} : (span_t){eq, 0};
    list->p += n;
    list->n -= n;
    return 1;
}

static int find_item(span_t list, char sep, span_t name, span_t *value)
{
    span_t n, v;
    while (next_item(&list, sep, &n, &v)) {
        if (span_equal(n, name, 1)) {
            *value = v;
            return 1;
        }
    }
    return 0;
}

/* RFC 3261 19.1.4: user, ttl, method, maddr and transport must appear in both; any other
 * parameter only has to agree when both have it. */
static int must_be_in_both(span_t name)
{
    return span_is(name, "user") || span_is(name, "ttl") || span_is(name, "method") ||
           span_is(name, "maddr") || span_is(name, "transport");
}

/* Every item of a agrees with b; headers (all_required) must all be in b too. */
static int items_agree(span_t a, span_t b, char sep, int all_required)
{
    span_t name, value, other;
    while (next_item(&a, sep, &name, &value)) {
        if (!find_item(b, sep, name, &other)) {
            if (all_required || must_be_in_both(name))
                return 0;
            continue;
        }
        if (!span_equal(value, other, !all_required))
            return 0;
    }
    return 1;
}

/* SIP and SIPS URIs by RFC 3261 19.1.4 (user and password case-sensitive, the rest not, escapes
 * decoded, parameters in any order, a default port not implied); other schemes byte by byte. */
static int uri_equal(const char *a, const char *b)
{
    uri_t x, y;
    if (uri_split(a, &x) < 0 || uri_split(b, &y) < 0 || !span_equal(x.scheme, y.scheme, 1))
        return strcmp(a, b) == 0;
    if (!span_is(x.scheme, "sip") && !span_is(x.scheme, "sips"))
        return strcmp(a, b) == 0;
    return x.has_user == y.has_user && span_equal(x.user, y.user, 0) &&
           span_equal(x.host, y.host, 1) && span_equal(x.port, y.port, 0) &&
           items_agree(x.params, y.params, ';', 0) && items_agree(y.params, x.params, ';', 0) &&
           items_agree(x.headers, y.headers, '&', 1) && items_agree(y.headers, x.headers, '&', 1);
}

static span_t unquoted(const char *s)
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
        return (span_t){s + 1, n - 2};
    return (span_t){s, n};
}

store_contact_t *store_reg_find_contact(store_reg_t *r, const char *uri, const char *instance,
                                        int reg_id)
{
    for (size_t i = 0; r && i < r->ncontacts; i++) {
        store_contact_t *c = &r->contacts[i];
        if (instance ? c->instance && span_equal(unquoted(c->instance), unquoted(instance), 1) &&
                           (!reg_id || c->reg_id == reg_id)
                     : uri && c->uri && uri_equal(c->uri, uri))
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

/* ---- REST ---- */

static json_t *strings(char *const *list, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(list[i]));
    return a;
}

static json_t *contact_json(const store_contact_t *c, int64_t now)
{
    return json_pack(
        "{s:s?,s:s?,s:s?,s:i,s:s?,s:s?,s:s?,s:I,s:s?,s:I,s:I}", "uri", c->uri, "params", c->params,
        "instance", c->instance, "reg_id", c->reg_id, "path", c->path, "received", c->received,
        "call_id", c->call_id, "cseq", (json_int_t)c->cseq, "user_agent", c->user_agent, "expires",
        (json_int_t)(c->expires_at - now), "registered_at", (json_int_t)c->registered_at);
}

json_t *store_reg_to_json(const store_reg_t *r, int64_t now)
{
    json_t *contacts = json_array();
    for (size_t i = 0; contacts && i < r->ncontacts; i++)
        json_array_append_new(contacts, contact_json(&r->contacts[i], now));
    return json_pack("{s:s,s:o,s:o,s:s?,s:o}", "impi", r->impi, "impus",
                     strings(r->impus, r->nimpus), "barred", strings(r->barred, r->nbarred),
                     "scheme", r->scheme, "contacts", contacts);
}
