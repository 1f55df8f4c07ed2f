/* Which stored contact a REGISTER's Contact refers to: RFC 5626/5627 +sip.instance and reg-id,
 * else SIP URI equality by RFC 3261 19.1.4.
 *
 * Why not sofia-sip's url_cmp_all() or url_cmp() (checked against sofia-sip 1.12 with the
 * examples of RFC 3261 19.1.4): url_cmp_all() compares parameters and headers as text, so it
 * calls 5 of the RFC's equal pairs different (a %61 escape in the user, "Transport=tcp" against
 * "transport=TCP", parameters or headers in another order, a parameter only one side has);
 * url_cmp() ignores parameters and headers altogether, so it calls "sip:bob@biloxi.com" and
 * "sip:bob@biloxi.com;transport=udp" equal, which the RFC says are not. Neither fits, so the
 * rules are written out here (tests/unit/test_store.c holds the RFC's examples). */
#include "common/store/store.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

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
    if (strcmp(a, b) == 0) /* the same text: equal, even with a parameter given twice */
        return 1;
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
