/* The target of a terminating request (target.h). */
#include "cscf/pcscf/target.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

int pc_delivery_parse(const char *s, pc_delivery_t *out)
{
    static const char *const names[] = {"auto", "contact", "flow"};
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (pc_delivery_t)i;
            return 0;
        }
    return -1;
}

/* The address part of a host, brackets of an IPv6 reference gone. */
static void bare_host(const char *host, char *out, size_t len)
{
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
        snprintf(out, len, "%.*s", (int)(n - 2), host + 1);
    else
        snprintf(out, len, "%s", host);
}

/* Same IP address, whatever the spelling ("::1" and "0::1"); a DNS name is never the same. */
static int same_address(const char *a, const char *b)
{
    unsigned char x[16], y[16];
    int fam = strchr(a, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(fam, a, x) != 1 || inet_pton(fam, b, y) != 1)
        return 0;
    return memcmp(x, y, fam == AF_INET6 ? 16 : 4) == 0;
}

static int format_url(pc_target_t *out, const char *scheme, const char *host, const char *port,
                      const char *transport, const char *why)
{
    int v6 = strchr(host, ':') != NULL;
    int n = snprintf(out->url, sizeof out->url, "%s:%s%s%s:%s%s%s", scheme, v6 ? "[" : "", host,
                     v6 ? "]" : "", port, *transport ? ";transport=" : "", transport);
    out->why = why;
    out->flow = 0;
    return n > 0 && (size_t)n < sizeof out->url ? 0 : -1;
}

/* The flow "udp:192.0.2.1:5060" split into transport, host and port. */
typedef struct flow_addr {
    char transport[8], host[64], port[8];
} flow_addr_t;

static int parse_flow(const char *flow, flow_addr_t *f)
{
    const char *colon = flow ? strchr(flow, ':') : NULL, *port = flow ? strrchr(flow, ':') : NULL;
    if (!colon || port == colon || (size_t)(colon - flow) >= sizeof f->transport ||
        (size_t)(port - colon - 1) >= sizeof f->host || strlen(port + 1) >= sizeof f->port ||
        !port[1])
        return -1;
    snprintf(f->transport, sizeof f->transport, "%.*s", (int)(colon - flow), flow);
    snprintf(f->host, sizeof f->host, "%.*s", (int)(port - colon - 1), colon + 1);
    snprintf(f->port, sizeof f->port, "%s", port + 1);
    return 0;
}

/* The Contact's own address: scheme, host, port (5060, or 5061 for sips and TLS) and the
 * transport it names (none: the sender's choice, RFC 3263). -1 when it has no host. */
typedef struct contact_addr {
    char scheme[5], host[256], port[8], transport[8];
} contact_addr_t;

static int parse_contact(const char *contact, contact_addr_t *c)
{
    su_home_t home[1] = {SU_HOME_INIT(home)};
    url_t *u = contact ? url_make(home, contact) : NULL;
    int ok = u && (u->url_type == url_sip || u->url_type == url_sips) && u->url_host &&
             *u->url_host && strlen(u->url_host) < sizeof c->host;
    if (ok) {
        int sips = u->url_type == url_sips;
        c->transport[0] = '\0';
        if (u->url_params &&
            url_param(u->url_params, "transport", c->transport, sizeof c->transport) <= 0)
            c->transport[0] = '\0';
        for (char *t = c->transport; *t; t++)
            *t = (char)(*t >= 'A' && *t <= 'Z' ? *t - 'A' + 'a' : *t);
        int tls = sips || strcmp(c->transport, "tls") == 0;
        snprintf(c->scheme, sizeof c->scheme, "%s", sips ? "sips" : "sip");
        bare_host(u->url_host, c->host, sizeof c->host);
        snprintf(c->port, sizeof c->port, "%s",
                 u->url_port && *u->url_port ? u->url_port
                 : tls                       ? "5061"
                                             : "5060");
    }
    su_home_deinit(home);
    return ok ? 0 : -1;
}

static int to_flow(const flow_addr_t *f, pc_target_t *out, const char *why)
{
    int rc = format_url(out, "sip", f->host, f->port, f->transport, why);
    out->flow = 1;
    return rc;
}

int pc_binding_target(const pc_reach_t *r, pc_delivery_t mode, pc_target_t *out)
{
    flow_addr_t f;
    contact_addr_t c;
    int have_flow = parse_flow(r->flow, &f) == 0;
    int have_contact = parse_contact(r->contact, &c) == 0;
    if (mode == PC_DELIVER_FLOW || (mode == PC_DELIVER_AUTO && r->outbound))
        return have_flow
                   ? to_flow(&f, out, mode == PC_DELIVER_FLOW ? "flow (config)" : "outbound flow")
                   : -1;
    if (!have_contact)
        return have_flow ? to_flow(&f, out, "flow (no usable Contact)") : -1;
    /* No transport named: the one the UE registered on (it listens there), not the one the
     * request came to us on nor RFC 3263's guess (an INVITE from the core over TCP would go on
     * over TCP to a UE that registered over UDP and never arrive). */
    if (!c.transport[0] && have_flow && strcmp(c.scheme, "sips") != 0)
        snprintf(c.transport, sizeof c.transport, "%s", f.transport);
    if (mode == PC_DELIVER_CONTACT)
        return format_url(out, c.scheme, c.host, c.port, c.transport, "contact (config)");
    if (!have_flow)
        return format_url(out, c.scheme, c.host, c.port, c.transport, "contact");
    /* A UE behind NAT names an address the REGISTER did not come from: only its NAT binding
     * (the source address and port) reaches it (RFC 3261 18.2.2's received/rport idea). */
    if (!same_address(c.host, f.host))
        return to_flow(&f, out, "flow (NAT)");
    /* The Contact is the source itself: the flow, over the same connection when it is one. */
    if (strcmp(c.port, f.port) == 0)
        return to_flow(&f, out, "flow (the Contact)");
    return format_url(out, c.scheme, c.host, c.port, c.transport, "contact");
}

static int has_param(const msg_param_t *params, const char *name)
{
    size_t n = strlen(name);
    for (const msg_param_t *p = params; p && *p; p++)
        if (strncasecmp(*p, name, n) == 0 && ((*p)[n] == '\0' || (*p)[n] == '='))
            return 1;
    return 0;
}

int pc_register_outbound(sip_t const *sip)
{
    const sip_contact_t *m = sip ? sip->sip_contact : NULL;
    if (!m || !has_param(m->m_params, "reg-id") || !has_param(m->m_params, "+sip.instance"))
        return 0;
    return sip_has_supported(sip->sip_supported, "outbound") || url_has_param(m->m_url, "ob");
}

pc_size_choice_t pc_udp_size_choice(size_t size, size_t limit, int force, int have_tcp_flow)
{
    if (force == 1)
        return PC_SEND_UDP;
    if (size <= limit && force != 2)
        return PC_SEND_UDP;
    if (have_tcp_flow)
        return PC_SEND_TCP_FLOW;
    /* Nothing says the UE takes TCP: a connection attempt towards a UE behind NAT or a
     * firewall hangs until the transaction times out, so UDP it is unless the profile knows. */
    return force == 2 ? PC_SEND_TCP_NEW : PC_SEND_UDP;
}
