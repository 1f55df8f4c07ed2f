/* TS 29.228 Annex E: element names and order follow the CxDataType schema (tIMSSubscription,
 * tServiceProfile, tPublicIdentity, tInitialFilterCriteria, tTrigger, tSePoTri, tHeader,
 * tApplicationServer). IncludeRegisterRequest/Response live in the ApplicationServer's
 * <Extension>, where the schema (and S-CSCFs such as Kamailio's) put them. */
#include "diameter/hss/user_data.h"

#include <stdio.h>
#include <stdlib.h>

static void put_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* <name>escaped text</name> */
static void put_elem(FILE *f, const char *name, const char *text)
{
    fprintf(f, "<%s>", name);
    put_text(f, text);
    fprintf(f, "</%s>", name);
}

static void put_public_identities(FILE *f, const hss_subscriber_t *s)
{
    for (size_t i = 0; i < s->nimpus; i++) {
        fputs("<PublicIdentity>", f);
        if (hss_subscriber_is_barred(s, s->impus[i]))
            fputs("<BarringIndication>1</BarringIndication>", f);
        put_elem(f, "Identity", s->impus[i]);
        fputs("</PublicIdentity>", f);
    }
}

static void put_spt(FILE *f, const hss_spt_t *spt)
{
    fprintf(f, "<SPT><ConditionNegated>%d</ConditionNegated><Group>%d</Group>",
            spt->negated ? 1 : 0, spt->group);
    switch (spt->kind) {
    case SPT_METHOD:
        put_elem(f, "Method", spt->value);
        break;
    case SPT_SESSION_CASE:
        fprintf(f, "<SessionCase>%d</SessionCase>", spt->session_case);
        break;
    case SPT_HEADER:
        fputs("<SIPHeader>", f);
        put_elem(f, "Header", spt->value);
        if (spt->content)
            put_elem(f, "Content", spt->content);
        fputs("</SIPHeader>", f);
        break;
    case SPT_REQUEST_URI:
        put_elem(f, "RequestURI", spt->value);
        break;
    }
    fputs("</SPT>", f);
}

static void put_ifc(FILE *f, const hss_ifc_t *ifc)
{
    fprintf(f, "<InitialFilterCriteria><Priority>%d</Priority>", ifc->priority);
    if (ifc->nspts) {
        fprintf(f, "<TriggerPoint><ConditionTypeCNF>%d</ConditionTypeCNF>", ifc->cnf ? 1 : 0);
        for (size_t i = 0; i < ifc->nspts; i++)
            put_spt(f, &ifc->spts[i]);
        fputs("</TriggerPoint>", f);
    }
    fputs("<ApplicationServer>", f);
    put_elem(f, "ServerName", ifc->as_uri);
    fprintf(f, "<DefaultHandling>%d</DefaultHandling>", ifc->default_handling ? 1 : 0);
    if (ifc->service_info)
        put_elem(f, "ServiceInfo", ifc->service_info);
    if (ifc->include_register_request || ifc->include_register_response) {
        fputs("<Extension>", f);
        if (ifc->include_register_request)
            fputs("<IncludeRegisterRequest/>", f);
        if (ifc->include_register_response)
            fputs("<IncludeRegisterResponse/>", f);
        fputs("</Extension>", f);
    }
    fputs("</ApplicationServer></InitialFilterCriteria>", f);
}

/* Indices of s->ifcs by ascending priority (priorities are unique). */
static size_t *priority_order(const hss_subscriber_t *s)
{
    size_t *order = malloc((s->nifcs ? s->nifcs : 1) * sizeof *order);
    if (!order)
        return NULL;
    for (size_t i = 0; i < s->nifcs; i++) {
        size_t j = i;
        for (; j > 0 && s->ifcs[order[j - 1]].priority > s->ifcs[i].priority; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    return order;
}

char *hss_user_data_xml(const hss_subscriber_t *s)
{
    char *buf = NULL;
    size_t len = 0;
    size_t *order = priority_order(s);
    FILE *f = order ? open_memstream(&buf, &len) : NULL;
    if (!f) {
        free(order);
        return NULL;
    }
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?><IMSSubscription>", f);
    put_elem(f, "PrivateID", s->impi);
    fputs("<ServiceProfile>", f);
    put_public_identities(f, s);
    for (size_t i = 0; i < s->nifcs; i++)
        put_ifc(f, &s->ifcs[order[i]]);
    fputs("</ServiceProfile></IMSSubscription>", f);
    free(order);
    if (ferror(f)) {
        fclose(f);
        free(buf);
        return NULL;
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
