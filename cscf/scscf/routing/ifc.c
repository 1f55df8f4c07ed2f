/* Element names follow the TS 29.228 Annex E schema (tInitialFilterCriteria, tTrigger, tSePoTri,
 * tHeader, tSessionDescription, tApplicationServer). The HSS (diameter/hss/user_data.c) puts
 * IncludeRegisterRequest/Response in the ApplicationServer's <Extension>; other HSSs put them
 * in the ApplicationServer itself, so both are read. */
#include "cscf/scscf/routing/ifc.h"

#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/msg_mclass.h>
#include <sofia-sip/url.h>

typedef enum { ON_METHOD, ON_SESSION_CASE, ON_HEADER, ON_REQUEST_URI, ON_SDP } spt_on_t;

typedef struct spt {
    spt_on_t on;
    int negated;
    int groups[IFC_MAX_GROUPS];
    size_t ngroups;
    char *name; /* method, header name or SDP line type */
    int session_case;
    regex_t re; /* header content, request-URI or SDP line content */
    int has_re;
} spt_t;

struct ifc {
    ifc_as_t as;
    char *server_name, *service_info; /* owned; as points at them */
    int cnf;
    int part; /* ProfilePartIndicator: -1 absent, 0 registered, 1 unregistered */
    spt_t *spts;
    size_t nspts; /* 0: unconditional */
};

struct ifc_list {
    ifc_t *ifcs;
    size_t n;
};

/* ---- reading the XML ---- */

typedef struct {
    char *err;
    size_t errlen;
    int ifc_no, spt_no; /* where we are, for messages; -1 outside */
} parse_t;

__attribute__((format(printf, 2, 3))) static int fail(parse_t *p, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!p->err || !p->errlen)
        return -1;
    if (p->spt_no >= 0)
        snprintf(p->err, p->errlen, "InitialFilterCriteria[%d] SPT[%d]: %s", p->ifc_no, p->spt_no,
                 msg);
    else if (p->ifc_no >= 0)
        snprintf(p->err, p->errlen, "InitialFilterCriteria[%d]: %s", p->ifc_no, msg);
    else
        snprintf(p->err, p->errlen, "%s", msg);
    return -1;
}

static int named(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (named(c, name))
            return c;
    return NULL;
}

static size_t count_children(const xmlNode *n, const char *name)
{
    size_t k = 0;
    for (const xmlNode *c = n->children; c; c = c->next)
        k += named(c, name);
    return k;
}

static int is_text(const xmlNode *n)
{
    return (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) && n->content;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The element's own text, trimmed (pretty-printed XML is common). Entity references are not
 * followed: only the text the parser produced counts. NULL when out of memory. */
static char *text_of(const xmlNode *n)
{
    size_t len = 0;
    for (const xmlNode *c = n->children; c; c = c->next)
        if (is_text(c))
            len += strlen((const char *)c->content);
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    size_t at = 0;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (!is_text(c))
            continue;
        size_t k = strlen((const char *)c->content);
        memcpy(s + at, c->content, k);
        at += k;
    }
    s[len] = '\0';
    size_t start = 0;
    while (s[start] && is_space(s[start]))
        start++;
    while (len > start && is_space(s[len - 1]))
        len--;
    memmove(s, s + start, len - start);
    s[len - start] = '\0';
    return s;
}

static int to_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < INT_MIN || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

/* xs:boolean */
static int to_bool(const char *s, int *out)
{
    if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0)
        *out = 1;
    else if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

typedef int (*convert_fn)(const char *, int *);

/* Child name of n converted into [min, max]; when absent, an error if required, else *out is
 * left as it is. */
static int number_child(parse_t *p, const xmlNode *n, const char *name, convert_fn convert, int min,
                        int max, int required, int *out)
{
    const xmlNode *c = child(n, name);
    if (!c)
        return required ? fail(p, "%s: missing", name) : 0;
    char *s = text_of(c);
    int v = 0;
    int ok = s && convert(s, &v) == 0 && v >= min && v <= max;
    free(s);
    if (!ok)
        return fail(p, "%s: expected a value from %d to %d", name, min, max);
    *out = v;
    return 0;
}

/* Text of child name of n, non-empty; NULL (with err set) otherwise. */
static char *string_child(parse_t *p, const xmlNode *n, const char *name)
{
    const xmlNode *c = child(n, name);
    char *s = c ? text_of(c) : NULL;
    if (s && *s)
        return s;
    free(s);
    fail(p, "%s: missing or empty", name);
    return NULL;
}

/* RFC 3261 token: what a method or header name must be. */
static int is_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("-.!%*_+`'~", *s)))
            return 0;
    return 1;
}

/* ---- the size of a regular expression once compiled ----
 * glibc's regcomp copies the subtree under a repetition: x{m,n} becomes max(m,n) copies of x,
 * x+ two (x x*), and nested repetitions multiply, so a short pattern such as "((a{99}){99}){99}"
 * or "a++++++++++++++++++++++++++++++" takes gigabytes (found by tests/fuzz/fuzz_ifc.c). The
 * estimate below follows that expansion closely enough to refuse such patterns up front. */

static size_t capped(size_t v)
{
    return v > IFC_MAX_REGEX_ATOMS ? IFC_MAX_REGEX_ATOMS + 1 : v;
}

/* s just after '['; the character after the closing ']', or NULL (regcomp will say why). */
static const char *skip_bracket(const char *s)
{
    if (*s == '^')
        s++;
    if (*s == ']')
        s++;
    for (; *s && *s != ']'; s++) {
        if (*s != '[' || (s[1] != ':' && s[1] != '.' && s[1] != '='))
            continue;
        const char close[3] = {s[1], ']', '\0'}; /* [:class:], [.coll.], [=equiv=] */
        const char *end = strstr(s + 2, close);
        if (!end)
            return NULL;
        s = end + 1;
    }
    return *s ? s + 1 : NULL;
}

static size_t digits(const char **s)
{
    size_t v = 0;
    for (; **s >= '0' && **s <= '9'; (*s)++)
        v = capped(v * 10 + (size_t)(**s - '0'));
    return v;
}

/* *s at '{': when an interval {m}, {m,}, {,n} or {m,n} follows, the copies it makes, with *s
 * after it; else 0. */
static size_t interval_copies(const char **s)
{
    const char *t = *s + 1;
    size_t m = digits(&t), n = m;
    if (*t == ',') {
        t++;
        n = *t >= '0' && *t <= '9' ? digits(&t) : m + 1;
    }
    if (*t != '}' || t == *s + 1)
        return 0;
    *s = t + 1;
    return m > n ? m : n > 1 ? n : 1;
}

/* Atoms of pattern after expansion, capped just above IFC_MAX_REGEX_ATOMS; one stack entry per
 * open group, so depth is bounded by the pattern's length (IFC_MAX_REGEX). */
static size_t regex_atoms(const char *s)
{
    size_t size[IFC_MAX_REGEX + 2] = {0}, last = 0, copies;
    size_t d = 0;
    while (*s) {
        if (*s == '(' && d <= IFC_MAX_REGEX) {
            size[++d] = 0, last = 0, s++;
        } else if (*s == ')' && d > 0) {
            last = size[d--], size[d] = capped(size[d] + last), s++;
        } else if (*s == '{' && (copies = interval_copies(&s)) > 0) {
            size[d] = capped(size[d] + last * (copies - 1)), last = capped(last * copies);
        } else if (*s == '+') {
            size[d] = capped(size[d] + last), last = capped(last * 2), s++;
        } else if (*s == '[') {
            if (!(s = skip_bracket(s + 1)))
                return 0;
            size[d] = capped(size[d] + 1), last = 1;
        } else {
            s += *s == '\\' && s[1] ? 2 : 1;
            size[d] = capped(size[d] + 1), last = 1;
        }
        if (size[d] > IFC_MAX_REGEX_ATOMS)
            return size[d];
    }
    for (; d > 0; d--) /* groups left open: regcomp refuses them, but count them anyway */
        size[d - 1] = capped(size[d - 1] + size[d]);
    return size[0];
}

static int compile(parse_t *p, spt_t *s, const char *what, const char *pattern)
{
    if (strlen(pattern) > IFC_MAX_REGEX)
        return fail(p, "%s: regular expression longer than %d characters", what, IFC_MAX_REGEX);
    if (regex_atoms(pattern) > IFC_MAX_REGEX_ATOMS)
        return fail(p, "%s: regular expression '%.80s' repeats too much (over %d atoms)", what,
                    pattern, IFC_MAX_REGEX_ATOMS);
    int rc = regcomp(&s->re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char why[128];
        regerror(rc, &s->re, why, sizeof why);
        return fail(p, "%s: bad regular expression '%.80s': %s", what, pattern, why);
    }
    s->has_re = 1;
    return 0;
}

/* Optional <Content> of a SIPHeader or SessionDescription. */
static int content_child(parse_t *p, const xmlNode *n, spt_t *s)
{
    const xmlNode *c = child(n, "Content");
    if (!c)
        return 0;
    char *pattern = text_of(c);
    int rc = pattern ? compile(p, s, "Content", pattern) : fail(p, "out of memory");
    free(pattern);
    return rc;
}

static int spt_method(parse_t *p, const xmlNode *n, spt_t *s)
{
    s->name = text_of(n);
    if (!s->name || !is_token(s->name))
        return fail(p, "Method: expected a SIP method token");
    return 0;
}

static int spt_session_case(parse_t *p, const xmlNode *n, spt_t *s)
{
    char *t = text_of(n);
    int ok = t && to_int(t, &s->session_case) == 0 && s->session_case >= IFC_ORIG &&
             s->session_case <= IFC_ORIG_CDIV;
    free(t);
    return ok ? 0 : fail(p, "SessionCase: expected a value from 0 to 4");
}

static int spt_header(parse_t *p, const xmlNode *n, spt_t *s)
{
    s->name = string_child(p, n, "Header");
    if (!s->name)
        return -1;
    if (!is_token(s->name))
        return fail(p, "Header: expected a SIP header name");
    return content_child(p, n, s);
}

static int spt_request_uri(parse_t *p, const xmlNode *n, spt_t *s)
{
    char *pattern = text_of(n);
    int rc = pattern && *pattern ? compile(p, s, "RequestURI", pattern)
                                 : fail(p, "RequestURI: missing or empty");
    free(pattern);
    return rc;
}

static int spt_sdp(parse_t *p, const xmlNode *n, spt_t *s)
{
    s->name = string_child(p, n, "Line");
    return s->name ? content_child(p, n, s) : -1;
}

static const struct {
    const char *element;
    spt_on_t on;
    int (*parse)(parse_t *, const xmlNode *, spt_t *);
} conditions[] = {
    {"Method", ON_METHOD, spt_method},       {"SessionCase", ON_SESSION_CASE, spt_session_case},
    {"SIPHeader", ON_HEADER, spt_header},    {"RequestURI", ON_REQUEST_URI, spt_request_uri},
    {"SessionDescription", ON_SDP, spt_sdp},
};

#define NCONDITIONS (sizeof conditions / sizeof conditions[0])

/* Exactly one condition element per SPT: the schema's choice. */
static int spt_condition(parse_t *p, const xmlNode *n, spt_t *s)
{
    const xmlNode *found = NULL;
    size_t which = 0;
    for (const xmlNode *c = n->children; c; c = c->next)
        for (size_t i = 0; i < NCONDITIONS; i++) {
            if (!named(c, conditions[i].element))
                continue;
            if (found)
                return fail(p, "more than one condition");
            found = c;
            which = i;
        }
    if (!found)
        return fail(p, "no condition (Method, SessionCase, SIPHeader, RequestURI or "
                       "SessionDescription)");
    s->on = conditions[which].on;
    return conditions[which].parse(p, found, s);
}

static int spt_groups(parse_t *p, const xmlNode *n, spt_t *s)
{
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (!named(c, "Group"))
            continue;
        if (s->ngroups == IFC_MAX_GROUPS)
            return fail(p, "more than %d Group elements", IFC_MAX_GROUPS);
        char *t = text_of(c);
        int g = 0, ok = t && to_int(t, &g) == 0 && g >= 0;
        free(t);
        if (!ok)
            return fail(p, "Group: expected an integer >= 0");
        s->groups[s->ngroups++] = g;
    }
    if (s->ngroups == 0) /* the schema requires one; group 0 is what a lone SPT means */
        s->ngroups = 1;
    return 0;
}

static int parse_spt(parse_t *p, const xmlNode *n, spt_t *s)
{
    if (number_child(p, n, "ConditionNegated", to_bool, 0, 1, 0, &s->negated) < 0 ||
        spt_groups(p, n, s) < 0)
        return -1;
    return spt_condition(p, n, s);
}

static int parse_trigger(parse_t *p, const xmlNode *tp, ifc_t *f)
{
    if (number_child(p, tp, "ConditionTypeCNF", to_bool, 0, 1, 1, &f->cnf) < 0)
        return -1;
    size_t n = count_children(tp, "SPT");
    if (n > IFC_MAX_SPTS)
        return fail(p, "more than %d SPTs", IFC_MAX_SPTS);
    f->spts = calloc(n ? n : 1, sizeof *f->spts);
    if (!f->spts)
        return fail(p, "out of memory");
    for (const xmlNode *c = tp->children; c; c = c->next) {
        if (!named(c, "SPT"))
            continue;
        p->spt_no = (int)f->nspts;
        if (parse_spt(p, c, &f->spts[f->nspts++]) < 0)
            return -1;
    }
    p->spt_no = -1;
    return 0;
}

/* Presence means yes (the schema's empty element); "0"/"false" is taken as no. */
static int flag_child(const xmlNode *as, const char *name)
{
    const xmlNode *ext = child(as, "Extension");
    const xmlNode *c = child(as, name);
    if (!c && ext)
        c = child(ext, name);
    if (!c)
        return 0;
    char *t = text_of(c);
    int off = 0;
    int no = t && to_bool(t, &off) == 0 && off == 0;
    free(t);
    return !no;
}

static int parse_as(parse_t *p, const xmlNode *as, ifc_t *f)
{
    f->server_name = string_child(p, as, "ServerName");
    if (!f->server_name)
        return -1;
    if (number_child(p, as, "DefaultHandling", to_int, 0, 1, 0, &f->as.default_handling) < 0)
        return -1;
    const xmlNode *info = child(as, "ServiceInfo");
    if (info && !(f->service_info = text_of(info)))
        return fail(p, "out of memory");
    f->as.include_register_request = flag_child(as, "IncludeRegisterRequest");
    f->as.include_register_response = flag_child(as, "IncludeRegisterResponse");
    return 0;
}

static int parse_ifc(parse_t *p, const xmlNode *n, ifc_t *f)
{
    f->part = -1;
    if (number_child(p, n, "Priority", to_int, 0, INT_MAX, 1, &f->as.priority) < 0 ||
        number_child(p, n, "ProfilePartIndicator", to_int, 0, 1, 0, &f->part) < 0)
        return -1;
    const xmlNode *tp = child(n, "TriggerPoint");
    if (tp && parse_trigger(p, tp, f) < 0)
        return -1;
    const xmlNode *as = child(n, "ApplicationServer");
    if (!as)
        return fail(p, "ApplicationServer: missing");
    return parse_as(p, as, f);
}

static size_t count_ifcs(const xmlNode *root)
{
    size_t n = 0;
    for (const xmlNode *sp = root->children; sp; sp = sp->next)
        if (named(sp, "ServiceProfile"))
            n += count_children(sp, "InitialFilterCriteria");
    return n;
}

static int parse_profiles(parse_t *p, const xmlNode *root, ifc_list_t *l)
{
    for (const xmlNode *sp = root->children; sp; sp = sp->next) {
        if (!named(sp, "ServiceProfile"))
            continue;
        for (const xmlNode *c = sp->children; c; c = c->next) {
            if (!named(c, "InitialFilterCriteria"))
                continue;
            p->ifc_no = (int)l->n;
            if (parse_ifc(p, c, &l->ifcs[l->n++]) < 0)
                return -1;
        }
    }
    p->ifc_no = -1;
    return 0;
}

/* Stable, so equal priorities keep document order; n is small. */
static void sort_by_priority(ifc_list_t *l)
{
    for (size_t i = 1; i < l->n; i++) {
        ifc_t f = l->ifcs[i];
        size_t j = i;
        for (; j > 0 && l->ifcs[j - 1].as.priority > f.as.priority; j--)
            l->ifcs[j] = l->ifcs[j - 1];
        l->ifcs[j] = f;
    }
    for (size_t i = 0; i < l->n; i++) {
        l->ifcs[i].as.server_name = l->ifcs[i].server_name;
        l->ifcs[i].as.service_info = l->ifcs[i].service_info;
    }
}

static int parse_subscription(parse_t *p, const xmlDoc *doc, ifc_list_t *l)
{
    /* User-Data never has a DTD; refusing one rules out entity tricks (billion laughs). */
    if (doc->intSubset || doc->extSubset)
        return fail(p, "a DTD is not allowed in User-Data");
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (!root || !named(root, "IMSSubscription"))
        return fail(p, "the root element is not IMSSubscription");
    size_t n = count_ifcs(root);
    if (n > IFC_MAX_IFCS)
        return fail(p, "more than %d InitialFilterCriteria", IFC_MAX_IFCS);
    l->ifcs = calloc(n ? n : 1, sizeof *l->ifcs);
    if (!l->ifcs)
        return fail(p, "out of memory");
    if (parse_profiles(p, root, l) < 0)
        return -1;
    sort_by_priority(l);
    return 0;
}

static void discard_error(void *ctx, xmlErrorPtr e) {}

/* libxml2 reports some errors (a bad input encoding) outside the parser context, on stderr,
 * whatever XML_PARSE_NOERROR says; err carries what we need. The handler is per thread, so it
 * is swapped only around this parse. */
static xmlDoc *read_quietly(xmlParserCtxt *ctxt, const char *xml, size_t len)
{
    xmlStructuredErrorFunc saved = xmlStructuredError;
    void *saved_ctx = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(NULL, discard_error);
    /* No XML_PARSE_NOENT or XML_PARSE_DTDLOAD: entities stay unexpanded, nothing is fetched. */
    xmlDoc *doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "user-data.xml", NULL,
                                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlSetStructuredErrorFunc(saved_ctx, saved);
    return doc;
}

static xmlDoc *read_xml(parse_t *p, const char *xml, size_t len)
{
    if (!xml || len > INT_MAX) {
        fail(p, "no XML or XML too large");
        return NULL;
    }
    xmlParserCtxt *ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        fail(p, "out of memory");
        return NULL;
    }
    xmlDoc *doc = read_quietly(ctxt, xml, len);
    if (!doc) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        const char *msg = e && e->message ? e->message : "not well-formed";
        int mlen = (int)strcspn(msg, "\n");
        fail(p, "malformed XML (line %d): %.*s", e ? e->line : 0, mlen, msg);
    }
    xmlFreeParserCtxt(ctxt);
    return doc;
}

ifc_list_t *ifc_list_parse(const char *xml, size_t len, char *err, size_t errlen)
{
    parse_t p = {err, errlen, -1, -1};
    if (err && errlen)
        err[0] = '\0';
    xmlDoc *doc = read_xml(&p, xml, len);
    if (!doc)
        return NULL;
    ifc_list_t *l = calloc(1, sizeof *l);
    int rc = l ? parse_subscription(&p, doc, l) : fail(&p, "out of memory");
    xmlFreeDoc(doc);
    if (rc < 0) {
        ifc_list_free(l);
        return NULL;
    }
    return l;
}

static void spt_clear(spt_t *s)
{
    free(s->name);
    if (s->has_re)
        regfree(&s->re);
}

void ifc_list_free(ifc_list_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        ifc_t *f = &l->ifcs[i];
        for (size_t j = 0; j < f->nspts; j++)
            spt_clear(&f->spts[j]);
        free(f->spts);
        free(f->server_name);
        free(f->service_info);
    }
    free(l->ifcs);
    free(l);
}

size_t ifc_list_count(const ifc_list_t *l)
{
    return l ? l->n : 0;
}

const ifc_as_t *ifc_get_as(const ifc_list_t *l, size_t index)
{
    return l && index < l->n ? &l->ifcs[index].as : NULL;
}

/* ---- matching a request ---- */

typedef issize_t (*encode_fn)(char *, isize_t, const void *);

static issize_t encode_header(char *b, isize_t size, const void *h)
{
    return msg_header_field_e(b, size, h, 0);
}

static issize_t encode_url(char *b, isize_t size, const void *url)
{
    return url_e(b, size, url);
}

/* Whether re finds a match in the text sofia encodes for obj (a header value or a URL). */
static int regex_on_encoded(const regex_t *re, encode_fn encode, const void *obj)
{
    char buf[512];
    char *heap = NULL, *s = buf;
    issize_t n = encode(buf, sizeof buf, obj);
    if (n < 0)
        return 0;
    if ((size_t)n >= sizeof buf) {
        if (!(heap = s = malloc((size_t)n + 1)) || encode(heap, n + 1, obj) != n) {
            free(heap);
            return 0;
        }
    }
    s[n] = '\0';
    int m = regexec(re, s, 0, NULL, 0) == 0;
    free(heap);
    return m;
}

static int regex_on_bytes(const regex_t *re, const char *b, size_t len)
{
    char *s = strndup(b, len);
    int m = s && regexec(re, s, 0, NULL, 0) == 0;
    free(s);
    return m;
}

static int unknown_header_matches(const spt_t *s, const sip_t *sip)
{
    for (const sip_unknown_t *u = sip->sip_unknown; u; u = u->un_next) {
        if (!u->un_name || strcasecmp(u->un_name, s->name) != 0)
            continue;
        if (!s->has_re)
            return 1;
        if (regexec(&s->re, u->un_value ? u->un_value : "", 0, NULL, 0) == 0)
            return 1;
    }
    return 0;
}

/* Headers sofia knows have their own slot in sip_t (and may be named by their compact form);
 * the rest are in sip_unknown. The message class is the one the request was parsed with. */
static int header_matches(const spt_t *s, const sip_t *sip)
{
    const msg_mclass_t *mc = (const msg_mclass_t *)sip->sip_common->h_class;
    const msg_href_t *hr = mc ? msg_find_hclass(mc, s->name, NULL) : NULL;
    if (!hr || hr == mc->mc_error)
        return 0;
    if (hr == mc->mc_unknown)
        return unknown_header_matches(s, sip);
    for (const msg_header_t *h = msg_header_access((msg_pub_t *)sip, hr->hr_class); h;
         h = h->sh_next) {
        if (!s->has_re || regex_on_encoded(&s->re, encode_header, h))
            return 1;
    }
    return 0;
}

/* One "x=..." line of an SDP body: type x equal to the SPT's Line, content after '='. */
static int sdp_line_matches(const spt_t *s, const char *line, size_t len)
{
    const char *eq = memchr(line, '=', len);
    size_t tlen = strlen(s->name);
    if (!eq || (size_t)(eq - line) != tlen || memcmp(line, s->name, tlen) != 0)
        return 0;
    return !s->has_re || regex_on_bytes(&s->re, eq + 1, len - tlen - 1);
}

static int sdp_matches(const spt_t *s, const sip_t *sip)
{
    const sip_payload_t *pl = sip->sip_payload;
    const sip_content_type_t *ct = sip->sip_content_type;
    if (!pl || !pl->pl_data || !ct || !ct->c_type || strcasecmp(ct->c_type, "application/sdp"))
        return 0;
    const char *p = pl->pl_data, *end = p + pl->pl_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (eol > p && eol[-1] == '\r')
            eol--;
        if (sdp_line_matches(s, p, (size_t)(eol - p)))
            return 1;
        p = nl ? nl + 1 : end;
    }
    return 0;
}

static int spt_holds(const spt_t *s, ifc_case_t sc, const sip_t *sip)
{
    const sip_request_t *rq = sip ? sip->sip_request : NULL;
    int m = 0;
    switch (s->on) {
    case ON_SESSION_CASE:
        m = (int)sc == s->session_case;
        break;
    case ON_METHOD:
        m = rq && rq->rq_method_name && strcmp(rq->rq_method_name, s->name) == 0;
        break;
    case ON_HEADER:
        m = sip && header_matches(s, sip);
        break;
    case ON_REQUEST_URI:
        m = rq && regex_on_encoded(&s->re, encode_url, rq->rq_url);
        break;
    case ON_SDP:
        m = sip && sdp_matches(s, sip);
        break;
    }
    return s->negated ? !m : m;
}

static int in_group(const spt_t *s, int g)
{
    for (size_t i = 0; i < s->ngroups; i++)
        if (s->groups[i] == g)
            return 1;
    return 0;
}

/* CNF: a group holds when any of its SPTs does; DNF: when all of them do. */
static int group_holds(const ifc_t *f, int g, const int *held)
{
    for (size_t i = 0; i < f->nspts; i++) {
        if (!in_group(&f->spts[i], g))
            continue;
        if (f->cnf && held[i])
            return 1;
        if (!f->cnf && !held[i])
            return 0;
    }
    return !f->cnf;
}

/* CNF: every group must hold; DNF: one group is enough. */
static int trigger_holds(const ifc_t *f, ifc_case_t sc, const sip_t *sip)
{
    if (f->nspts == 0)
        return 1;
    int held[IFC_MAX_SPTS];
    for (size_t i = 0; i < f->nspts; i++)
        held[i] = spt_holds(&f->spts[i], sc, sip);
    for (size_t i = 0; i < f->nspts; i++)
        for (size_t k = 0; k < f->spts[i].ngroups; k++) {
            int gh = group_holds(f, f->spts[i].groups[k], held);
            if (f->cnf != gh)
                return gh;
        }
    return f->cnf;
}

/* ORIGINATING_CDIV is neither part: the diverting user may or may not be registered, so only
 * the trigger point decides there. */
static int part_applies(int part, ifc_case_t sc)
{
    if (part < 0 || sc == IFC_ORIG_CDIV)
        return 1;
    int unregistered = sc == IFC_TERM_UNREG || sc == IFC_ORIG_UNREG;
    return part == unregistered;
}

int ifc_matches(const ifc_list_t *l, size_t index, ifc_case_t sc, sip_t const *sip)
{
    if (!l || index >= l->n)
        return 0;
    const ifc_t *f = &l->ifcs[index];
    return part_applies(f->part, sc) && trigger_holds(f, sc, sip);
}

int ifc_next_match(const ifc_list_t *l, size_t from, ifc_case_t sc, sip_t const *sip)
{
    for (size_t i = from; l && i < l->n; i++)
        if (ifc_matches(l, i, sc, sip))
            return (int)i;
    return -1;
}
