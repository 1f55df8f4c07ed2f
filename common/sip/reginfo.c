#include "common/sip/reginfo.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define NS "urn:ietf:params:xml:ns:reginfo"

static const char *const active_events[] = {"registered", "created", "refreshed", "shortened",
                                            NULL};
static const char *const terminal_events[] = {"expired",      "deactivated", "probation",
                                              "unregistered", "rejected",    NULL};

static int in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; s && list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

int reginfo_event_valid(const char *event)
{
    return in_list(active_events, event) || in_list(terminal_events, event);
}

int reginfo_event_terminates(const char *event)
{
    return in_list(terminal_events, event);
}

/* ---- building ---- */

typedef struct buf {
    char *p;
    size_t n, cap;
    int failed; /* sticky: one check at the end */
} buf_t;

static void buf_grow(buf_t *b, size_t more)
{
    if (b->failed || b->n + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->n + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void buf_raw(buf_t *b, const char *s, size_t len)
{
    buf_grow(b, len);
    if (b->failed)
        return;
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void buf_str(buf_t *b, const char *s)
{
    buf_raw(b, s, strlen(s));
}

static void buf_printf(buf_t *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= sizeof tmp)
        b->failed = 1;
    else
        buf_raw(b, tmp, (size_t)w);
}

/* Text or attribute value. SIP URIs and instance ids are ASCII; a control or non-ASCII byte is
 * replaced, so whatever a peer put in a header, the document stays well-formed XML 1.0. */
static void buf_esc(buf_t *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '&':
            buf_str(b, "&amp;");
            break;
        case '<':
            buf_str(b, "&lt;");
            break;
        case '>':
            buf_str(b, "&gt;");
            break;
        case '"':
            buf_str(b, "&quot;");
            break;
        case '\'':
            buf_str(b, "&apos;");
            break;
        default:
            buf_raw(b, *p < 0x20 || *p >= 0x7f ? "?" : (const char *)p, 1);
        }
    }
}

/* Ids stay the same from one document to the next (RFC 3680 5.3: the subscriber matches
 * elements across partial notifications by id). */
static uint64_t fnv(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL; /* separator, so "a"+"bc" != "ab"+"c" */
}

static int barred(const store_reg_t *r, const char *impu)
{
    for (size_t i = 0; i < r->nbarred; i++)
        if (strcmp(r->barred[i], impu) == 0)
            return 1;
    return 0;
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int same_contact(const store_contact_t *a, const store_contact_t *b)
{
    return same_str(a->uri, b->uri) && same_str(a->instance, b->instance);
}

/* The +sip.instance value without the quotes the Contact parameter carries. */
static void instance_param(buf_t *b, const char *inst)
{
    size_t len = strlen(inst);
    if (len >= 2 && inst[0] == '"' && inst[len - 1] == '"') {
        inst++;
        len -= 2;
    }
    char *v = strndup(inst, len);
    if (!v) {
        b->failed = 1;
        return;
    }
    buf_str(b, "<unknown-param name=\"+sip.instance\">");
    buf_esc(b, v);
    buf_str(b, "</unknown-param>");
    free(v);
}

static void contact_xml(buf_t *b, const char *aor, const store_contact_t *c, const char *event,
                        int64_t now)
{
    int term = reginfo_event_terminates(event);
    int64_t left = term ? 0 : c->expires_at - now;
    buf_printf(
        b, "<contact id=\"c%016llx\"",
        (unsigned long long)fnv(fnv(fnv(14695981039346656037ULL, aor), c->uri), c->instance));
    buf_printf(b, " state=\"%s\" event=\"", term ? "terminated" : "active");
    buf_str(b, event);
    buf_printf(b, "\" expires=\"%lld\"><uri>", (long long)(left > 0 ? left : 0));
    buf_esc(b, c->uri);
    buf_str(b, "</uri>");
    if (c->instance)
        instance_param(b, c->instance);
    buf_str(b, "</contact>");
}

static const char *change_for(const reginfo_change_t *ch, size_t n, const store_contact_t *c)
{
    for (size_t i = 0; i < n; i++)
        if (same_contact(ch[i].contact, c))
            return ch[i].event;
    return NULL;
}

static int listed(const store_reg_t *reg, const store_contact_t *c)
{
    for (size_t i = 0; i < reg->ncontacts; i++)
        if (same_contact(&reg->contacts[i], c))
            return 1;
    return 0;
}

static void registration_xml(buf_t *b, const store_reg_t *reg, const char *aor, int full,
                             const reginfo_change_t *ch, size_t nch, int64_t now)
{
    buf_printf(b, "<registration id=\"r%016llx\" aor=\"",
               (unsigned long long)fnv(14695981039346656037ULL, aor));
    buf_esc(b, aor);
    buf_printf(b, "\" state=\"%s\">", reg->ncontacts ? "active" : "terminated");
    for (size_t i = 0; full && i < reg->ncontacts; i++) {
        const char *ev = change_for(ch, nch, &reg->contacts[i]);
        contact_xml(b, aor, &reg->contacts[i], ev ? ev : "registered", now);
    }
    for (size_t i = 0; i < nch; i++)
        if (!full || !listed(reg, ch[i].contact))
            contact_xml(b, aor, ch[i].contact, ch[i].event, now);
    buf_str(b, "</registration>");
}

char *reginfo_build(const store_reg_t *reg, uint32_t version, int full,
                    const reginfo_change_t *changes, size_t nchanges, int64_t now)
{
    for (size_t i = 0; i < nchanges; i++)
        if (!changes[i].contact || !reginfo_event_valid(changes[i].event))
            return NULL;
    buf_t b = {0};
    buf_str(&b, "<?xml version=\"1.0\"?>\n<reginfo xmlns=\"" NS "\"");
    buf_printf(&b, " version=\"%u\" state=\"%s\">", (unsigned)version, full ? "full" : "partial");
    for (size_t i = 0; i < reg->nimpus; i++)
        if (!barred(reg, reg->impus[i]))
            registration_xml(&b, reg, reg->impus[i], full, changes, nchanges, now);
    buf_str(&b, "</reginfo>\n");
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- parsing ---- */

static int named(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, NS) == 0 && strcmp((const char *)n->name, name) == 0;
}

static char *attr(const xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    char *s = v ? strdup((const char *)v) : NULL;
    xmlFree(v);
    return s;
}

static char *text_of(const xmlNode *n)
{
    xmlChar *t = xmlNodeGetContent(n);
    char *s = t ? strdup((const char *)t) : NULL;
    xmlFree(t);
    return s;
}

static int one_of(const char *v, const char *a, const char *b, const char *c)
{
    return v && ((a && strcmp(v, a) == 0) || (b && strcmp(v, b) == 0) || (c && strcmp(v, c) == 0));
}

/* Decimal digits only, at most max. */
static int parse_uint(const char *v, unsigned long long max, unsigned long long *out)
{
    if (!v || !*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 19)
        return -1;
    *out = strtoull(v, NULL, 10);
    return *out <= max ? 0 : -1;
}

static int parse_contact_children(const xmlNode *n, reginfo_contact_t *c)
{
    for (const xmlNode *k = n->children; k; k = k->next) {
        if (named(k, "uri")) {
            if (c->uri)
                return -1; /* exactly one <uri> */
            c->uri = text_of(k);
            if (!c->uri)
                return -1;
        } else if (named(k, "unknown-param") && !c->instance) {
            char *name = attr(k, "name");
            if (name && strcmp(name, "+sip.instance") == 0)
                c->instance = text_of(k);
            free(name);
        }
    }
    return c->uri && *c->uri ? 0 : -1;
}

static int parse_contact(const xmlNode *n, reginfo_contact_t *c)
{
    c->expires = -1;
    c->id = attr(n, "id");
    c->state = attr(n, "state");
    c->event = attr(n, "event");
    char *exp = attr(n, "expires");
    unsigned long long x;
    int rc = 0;
    if (exp && parse_uint(exp, 2147483647ULL, &x) < 0)
        rc = -1;
    else if (exp)
        c->expires = (long)x;
    free(exp);
    if (rc < 0 || !c->id || !*c->id || !one_of(c->state, "active", "terminated", NULL) ||
        !reginfo_event_valid(c->event))
        return -1;
    return parse_contact_children(n, c);
}

static int parse_registration(const xmlNode *n, reginfo_reg_t *r)
{
    r->aor = attr(n, "aor");
    r->id = attr(n, "id");
    r->state = attr(n, "state");
    if (!r->aor || !*r->aor || !r->id || !*r->id ||
        !one_of(r->state, "init", "active", "terminated"))
        return -1;
    for (const xmlNode *k = n->children; k; k = k->next) {
        if (!named(k, "contact"))
            continue;
        if (r->ncontacts == REGINFO_MAX_CONTACTS)
            return -1;
        if (!r->contacts && !(r->contacts = calloc(REGINFO_MAX_CONTACTS, sizeof *r->contacts)))
            return -1;
        if (parse_contact(k, &r->contacts[r->ncontacts++]) < 0)
            return -1;
    }
    return 0;
}

static int parse_root(const xmlNode *root, reginfo_t *out)
{
    char *version = attr(root, "version"), *state = attr(root, "state");
    unsigned long long v;
    int rc =
        parse_uint(version, UINT32_MAX, &v) == 0 && one_of(state, "full", "partial", NULL) ? 0 : -1;
    if (rc == 0) {
        out->version = (uint32_t)v;
        out->full = strcmp(state, "full") == 0;
    }
    free(version);
    free(state);
    for (const xmlNode *k = root->children; rc == 0 && k; k = k->next) {
        if (!named(k, "registration"))
            continue; /* other namespaces: extensions we ignore (RFC 3680 5.3) */
        if (out->nregs == REGINFO_MAX_REGS)
            return -1;
        if (!out->regs && !(out->regs = calloc(REGINFO_MAX_REGS, sizeof *out->regs)))
            return -1;
        rc = parse_registration(k, &out->regs[out->nregs++]);
    }
    return rc;
}

int reginfo_parse(const char *xml, size_t len, reginfo_t *out)
{
    memset(out, 0, sizeof *out);
    if (!xml || len == 0 || len > REGINFO_MAX_DOC)
        return -1;
    /* From the network: no network access, no entity substitution, no DTD loading, and a
     * document that declares a DTD at all is refused (entity tricks need one). */
    xmlDoc *doc = xmlReadMemory(xml, (int)len, "reginfo.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                    XML_PARSE_NOCDATA);
    const xmlNode *root = doc && !doc->intSubset ? xmlDocGetRootElement(doc) : NULL;
    int rc = root && named(root, "reginfo") ? parse_root(root, out) : -1;
    xmlFreeDoc(doc);
    if (rc < 0)
        reginfo_clear(out);
    return rc;
}

void reginfo_clear(reginfo_t *ri)
{
    for (size_t i = 0; ri->regs && i < ri->nregs; i++) {
        reginfo_reg_t *r = &ri->regs[i];
        for (size_t j = 0; r->contacts && j < r->ncontacts; j++) {
            reginfo_contact_t *c = &r->contacts[j];
            free(c->id);
            free(c->uri);
            free(c->state);
            free(c->event);
            free(c->instance);
        }
        free(r->contacts);
        free(r->aor);
        free(r->id);
        free(r->state);
    }
    free(ri->regs);
    memset(ri, 0, sizeof *ri);
}
