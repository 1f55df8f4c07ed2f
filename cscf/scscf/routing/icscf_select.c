#include "cscf/scscf/routing/icscf_select.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

/* A URI we can put in a Route or hand to nta: sip/sips with a host, no headers, no characters
 * that would break a name-addr. */
static int usable_uri(const char *text)
{
    if (strpbrk(text, "<>\"?"))
        return 0;
    url_t *u = url_hdup(NULL, URL_STRING_MAKE(text)->us_url);
    int ok =
        u && (u->url_type == url_sip || u->url_type == url_sips) && u->url_host && *u->url_host;
    su_free(NULL, u);
    return ok;
}

static int parse_cap(const char *tok, uint32_t *out)
{
    char *end;
    if (!isdigit((unsigned char)*tok))
        return -1;
    errno = 0;
    unsigned long v = strtoul(tok, &end, 10);
    if (errno || *end || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int icscf_scscf_parse(const char *text, icscf_scscf_t *out, char *err, size_t errlen)
{
    char buf[ICSCF_URI_MAX + ICSCF_MAX_CAPS * 11 + 16];
    memset(out, 0, sizeof *out);
    if (!text || strlen(text) >= sizeof buf)
        return snprintf(err, errlen, "too long"), -1;
    snprintf(buf, sizeof buf, "%s", text);
    char *save = NULL, *tok = strtok_r(buf, " \t", &save);
    if (!tok || strlen(tok) >= sizeof out->uri || !usable_uri(tok))
        return snprintf(err, errlen, "expected a sip: URI first"), -1;
    snprintf(out->uri, sizeof out->uri, "%s", tok);
    while ((tok = strtok_r(NULL, " \t", &save))) {
        if (out->ncaps == ICSCF_MAX_CAPS)
            return snprintf(err, errlen, "more than %d capabilities", ICSCF_MAX_CAPS), -1;
        if (parse_cap(tok, &out->caps[out->ncaps++]) < 0)
            return snprintf(err, errlen, "capability '%s' is not a number", tok), -1;
    }
    return 0;
}

static int has_cap(const icscf_scscf_t *e, uint32_t cap)
{
    for (size_t i = 0; i < e->ncaps; i++)
        if (e->caps[i] == cap)
            return 1;
    return 0;
}

/* -1 when a mandatory capability is missing, else how many optional ones it has. */
static int score(const icscf_scscf_t *e, const cx_msg_t *a)
{
    int n = 0;
    for (size_t i = 0; i < a->nmandatory; i++)
        if (!has_cap(e, a->mandatory_caps[i]))
            return -1;
    for (size_t i = 0; i < a->noptional; i++)
        n += has_cap(e, a->optional_caps[i]);
    return n;
}

static const icscf_scscf_t *find(const icscf_scscf_t *list, size_t n, const char *uri)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(list[i].uri, uri) == 0)
            return &list[i];
    return NULL;
}

static const char *best_named(const icscf_scscf_t *list, size_t n, const cx_msg_t *a)
{
    const char *best = NULL;
    int best_score = -1;
    for (size_t i = 0; i < a->ncap_servers; i++) {
        const char *name = a->cap_servers[i];
        if (!name || strlen(name) >= ICSCF_URI_MAX || !usable_uri(name))
            continue;
        const icscf_scscf_t *e = find(list, n, name);
        int sc = e ? score(e, a) : 0;
        if (sc > best_score)
            best = name, best_score = sc;
    }
    return best;
}

const char *icscf_choose(const icscf_scscf_t *list, size_t n, const cx_msg_t *a)
{
    if (a->server_name && *a->server_name)
        return a->server_name;
    const char *best = best_named(list, n, a);
    if (best)
        return best;
    int best_score = -1;
    for (size_t i = 0; i < n; i++) {
        int sc = score(&list[i], a);
        if (sc > best_score)
            best = list[i].uri, best_score = sc;
    }
    return best;
}
