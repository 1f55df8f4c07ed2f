/* The trust domain's charging and access headers (charging.h). */
#include "common/sip/charging.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/sip/sip_hdr.h"
#include "common/sip/sip_proxy.h"
#include "common/util/hex.h"

const char *const charging_domain_headers[] = {
    "P-Access-Network-Info",
    "P-Charging-Vector",
    "P-Charging-Function-Addresses",
    NULL,
};

int charging_new_icid(char *out, size_t len)
{
    return len < 33 ? -1 : hex_random(out, 16);
}

int charging_vector_param(const char *pcv, const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *p = pcv; p && *p;) {
        p += strspn(p, " \t;");
        if (strncasecmp(p, name, n) == 0 && (p[n] == '=' || p[n] == ' ' || p[n] == '\t')) {
            const char *v = p + n;
            v += strspn(v, " \t");
            if (*v++ != '=')
                return -1;
            v += strspn(v, " \t");
            size_t vl = strcspn(v, ";");
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (vl >= len)
                return -1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 0;
        }
        p = strchr(p, ';');
    }
    return -1;
}

int charging_set_vector(msg_t *msg, sip_t *sip, const char *host, const char *orig_ioi,
                        const char *term_ioi)
{
    const char *old = sip_hdr_get(sip, "P-Charging-Vector");
    char icid[128], at[128], value[600];
    if (!old || charging_vector_param(old, "icid-value", icid, sizeof icid) < 0 || !icid[0]) {
        if (charging_new_icid(icid, sizeof icid) < 0)
            return -1;
        snprintf(at, sizeof at, "%s", host ? host : "");
    } else if (charging_vector_param(old, "icid-generated-at", at, sizeof at) < 0) {
        at[0] = '\0';
    }
    int n = snprintf(
        value, sizeof value, "icid-value=%s%s%s%s%s%s%s", icid, at[0] ? ";icid-generated-at=" : "",
        at, orig_ioi && *orig_ioi ? ";orig-ioi=" : "", orig_ioi && *orig_ioi ? orig_ioi : "",
        term_ioi && *term_ioi ? ";term-ioi=" : "", term_ioi && *term_ioi ? term_ioi : "");
    if (n < 0 || (size_t)n >= sizeof value)
        return -1;
    sip_hdr_remove(msg, sip, "P-Charging-Vector");
    return sip_hdr_add(msg, sip, "P-Charging-Vector", value);
}

/* A token as RFC 3261 25.1 has it: written as is, anything else quoted. */
static int is_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-.!%*_+`'~", *s))
            return 0;
    return 1;
}

static size_t append(char *out, size_t len, size_t n, const char *name, const char *const *v,
                     size_t nv)
{
    for (size_t i = 0; i < nv && n < len; i++) {
        int q = !is_token(v[i]);
        int w = snprintf(out + n, len - n, "%s%s=%s%s%s", n ? ";" : "", name, q ? "\"" : "", v[i],
                         q ? "\"" : "");
        n = w < 0 ? len : n + (size_t)w;
    }
    return n;
}

int charging_function_addresses(const char *const *ccf, size_t nccf, const char *const *ecf,
                                size_t necf, char *out, size_t len)
{
    if (!nccf && !necf)
        return -1;
    size_t n = append(out, len, 0, "ccf", ccf, nccf);
    n = append(out, len, n, "ecf", ecf, necf);
    return n < len ? 0 : -1;
}

int charging_add_function_addresses(msg_t *msg, sip_t *sip, const char *const *ccf, size_t nccf,
                                    const char *const *ecf, size_t necf)
{
    if ((!nccf && !necf) || sip_hdr_get(sip, "P-Charging-Function-Addresses"))
        return 0;
    char value[600];
    if (charging_function_addresses(ccf, nccf, ecf, necf, value, sizeof value) < 0)
        return -1;
    return sip_hdr_add(msg, sip, "P-Charging-Function-Addresses", value);
}

int charging_register_vector(sip_t const *request, const char *term_ioi, char *out, size_t len)
{
    const char *old = sip_hdr_get(request, "P-Charging-Vector");
    char icid[128], orig[128];
    if ((!old || charging_vector_param(old, "icid-value", icid, sizeof icid) < 0 || !icid[0]) &&
        charging_new_icid(icid, sizeof icid) < 0)
        return -1;
    if (!old || charging_vector_param(old, "orig-ioi", orig, sizeof orig) < 0)
        orig[0] = '\0';
    int n = snprintf(out, len, "icid-value=%s%s%s%s%s", icid, orig[0] ? ";orig-ioi=" : "", orig,
                     term_ioi && *term_ioi ? ";term-ioi=" : "", term_ioi ? term_ioi : "");
    return n > 0 && (size_t)n < len ? 0 : -1;
}

int charging_strip(msg_t *msg, sip_t *sip)
{
    int n = 0;
    for (size_t i = 0; charging_domain_headers[i]; i++)
        n += sip_hdr_remove(msg, sip, charging_domain_headers[i]);
    return n;
}

int charging_screen_hop(const trust_guard_t *g, msg_t *msg, sip_t *sip, const url_t *next)
{
    const url_t *hop = next ? next : sip_proxy_next_hop(sip);
    return hop && trust_guard_url_trusted(g, hop) ? 0 : charging_strip(msg, sip);
}
