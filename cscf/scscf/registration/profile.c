#include "cscf/scscf/registration/profile.h"

#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

static int named(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (named(c, name))
            return c;
    return NULL;
}

static char *text_of(const xmlNode *n)
{
    xmlChar *t = n ? xmlNodeGetContent(n) : NULL;
    char *s = t ? strdup((const char *)t) : NULL;
    xmlFree(t);
    return s;
}

static void add_identity(const xmlNode *pi, profile_ids_t *out)
{
    char *id = text_of(child(pi, "Identity"));
    char *bar = text_of(child(pi, "BarringIndication"));
    if (id && *id && out->n < PROFILE_MAX_IDS) {
        out->barred[out->n] = bar && strcmp(bar, "1") == 0;
        out->impus[out->n++] = id;
        id = NULL;
    }
    free(id);
    free(bar);
}

int profile_parse_ids(const char *xml, size_t len, profile_ids_t *out)
{
    memset(out, 0, sizeof *out);
    /* No network, no entity expansion, no DTD loading: the document comes from a peer. */
    xmlDoc *doc = xmlReadMemory(xml, (int)len, "user-data.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    const xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (root && named(root, "IMSSubscription")) {
        out->impi = text_of(child(root, "PrivateID"));
        for (const xmlNode *sp = root->children; sp; sp = sp->next)
            if (named(sp, "ServiceProfile"))
                for (const xmlNode *pi = sp->children; pi; pi = pi->next)
                    if (named(pi, "PublicIdentity"))
                        add_identity(pi, out);
    }
    xmlFreeDoc(doc);
    if (out->n == 0) {
        profile_ids_clear(out);
        return -1;
    }
    return 0;
}

void profile_ids_clear(profile_ids_t *ids)
{
    free(ids->impi);
    for (size_t i = 0; i < ids->n; i++)
        free(ids->impus[i]);
    memset(ids, 0, sizeof *ids);
}
