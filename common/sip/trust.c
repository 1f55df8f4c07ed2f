/* The trust domain (trust.h). */
#include "common/sip/trust.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su.h>

#include "common/sip/sip_hdr.h"
#include "common/util/clock.h"
#include "common/util/log.h"

const char *const trust_domain_headers[] = {
    "P-Asserted-Identity",
    "P-Asserted-Service",
    "P-Charging-Vector",
    "P-Charging-Function-Addresses",
    "P-Served-User",
    "P-Profile-Key",
    "P-Private-Network-Indication",
    "P-Visited-Network-ID", /* a P-CSCF's (RFC 7315 4.3), never a UE's */
    NULL,
};

int trust_net_parse(const char *text, trust_net_t *out)
{
    char addr[64];
    const char *slash = text ? strchr(text, '/') : NULL;
    size_t alen = slash ? (size_t)(slash - text) : (text ? strlen(text) : 0);
    if (!text || !alen || alen >= sizeof addr)
        return -1;
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    char *a = addr;
    if (a[0] == '[') { /* an IPv6 reference as in a URI: [2001:db8::1] */
        size_t n = strlen(a);
        if (n < 3 || a[n - 1] != ']')
            return -1;
        a[n - 1] = '\0';
        a++;
    }
    memset(out, 0, sizeof *out);
    out->family = strchr(a, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(out->family, a, out->addr) != 1)
        return -1;
    unsigned max = out->family == AF_INET6 ? 128 : 32;
    out->bits = max;
    if (slash) {
        const char *b = slash + 1;
        if (!*b || strspn(b, "0123456789") != strlen(b) || strlen(b) > 3)
            return -1;
        out->bits = (unsigned)atoi(b);
        if (out->bits > max)
            return -1;
    }
    return 0;
}

/* Do the first bits of a and b agree? */
static int prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return 0;
    if (!rest)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

int trust_nets_match(const trust_net_t *nets, size_t n, int family, const void *addr)
{
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const unsigned char *a = addr;
    if (family == AF_INET6 && memcmp(a, v4mapped, sizeof v4mapped) == 0) {
        family = AF_INET; /* an IPv4 peer seen through a dual-stack socket */
        a += 12;
    }
    if (family != AF_INET && family != AF_INET6)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (nets[i].family == family && prefix_equal(nets[i].addr, a, nets[i].bits))
            return 1;
    return 0;
}

int trust_strip_headers(msg_t *msg, sip_t *sip)
{
    int n = 0;
    for (size_t i = 0; msg && sip && trust_domain_headers[i]; i++)
        n += sip_hdr_remove(msg, sip, trust_domain_headers[i]);
    return n;
}

/* ---- the guard ---- */

struct trust_guard {
    char program[16];
    trust_net_t *nets;
    size_t n;
    metric_t *m_untrusted;
    int64_t last_ms; /* the last untrusted request logged or counted; 0: none yet */
};

/* The entries parsed into a new array (*out, malloc'd; NULL when n is 0). */
static int parse_all(const char *const *peers, size_t n, trust_net_t **out, char *err,
                     size_t errlen)
{
    trust_net_t *nets = n ? calloc(n, sizeof *nets) : NULL;
    if (n && !nets) {
        snprintf(err, errlen, "trust.peers: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (trust_net_parse(peers[i], &nets[i]) < 0) {
            snprintf(err, errlen,
                     "trust.peers: \"%s\" is not an IP address or network (192.0.2.1, "
                     "10.0.0.0/8, ::1, fd00::/8)",
                     peers[i]);
            free(nets);
            return -1;
        }
    *out = nets;
    return 0;
}

int trust_peers_check(const char *const *peers, size_t n, char *err, size_t errlen)
{
    trust_net_t *nets;
    if (parse_all(peers, n, &nets, err, errlen) < 0)
        return -1;
    free(nets);
    return 0;
}

trust_guard_t *trust_guard_new(const char *program, metrics_t *metrics, const char *const *peers,
                               size_t n, char *err, size_t errlen)
{
    trust_guard_t *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "trust.peers: out of memory");
        return NULL;
    }
    snprintf(g->program, sizeof g->program, "%s", program);
    if (trust_guard_set(g, peers, n, err, errlen) < 0) {
        free(g);
        return NULL;
    }
    if (metrics)
        g->m_untrusted = metrics_counter(
            metrics, "cscf_untrusted_requests_total",
            "requests from a peer outside trust.peers (RFC 3325 trust domain): pai_removed had "
            "its P-Asserted-Identity and other trust-domain headers removed, refused got 403 "
            "(originating service at the scscf, a Path token at the pcscf); "
            "response_pai_removed counts responses relayed with those headers removed",
            "action");
    return g;
}

void trust_guard_free(trust_guard_t *g)
{
    if (!g)
        return;
    free(g->nets);
    free(g);
}

int trust_guard_set(trust_guard_t *g, const char *const *peers, size_t n, char *err, size_t errlen)
{
    trust_net_t *nets;
    if (parse_all(peers, n, &nets, err, errlen) < 0)
        return -1;
    free(g->nets);
    g->nets = nets;
    g->n = n;
    return 0;
}

int trust_guard_msg_trusted(const trust_guard_t *g, msg_t *msg)
{
    su_sockaddr_t *su = msg ? msg_addr(msg) : NULL;
    if (!g || !su)
        return 0;
    if (su->su_family == AF_INET)
        return trust_nets_match(g->nets, g->n, AF_INET, &su->su_sin.sin_addr);
#if SU_HAVE_IN6
    if (su->su_family == AF_INET6)
        return trust_nets_match(g->nets, g->n, AF_INET6, &su->su_sin6.sin6_addr);
#endif
    return 0;
}

int trust_guard_url_trusted(const trust_guard_t *g, const url_t *u)
{
    trust_net_t host;
    char text[64];
    if (!g || !u || !u->url_host || strlen(u->url_host) >= sizeof text)
        return 0;
    snprintf(text, sizeof text, "%s", u->url_host);
    if (strchr(text, '/') || trust_net_parse(text, &host) < 0)
        return 0; /* a DNS name */
    return trust_nets_match(g->nets, g->n, host.family, host.addr);
}

int trust_guard_trusted(const trust_guard_t *g, sip_incoming_t *irq)
{
    msg_t *msg = sip_incoming_request(irq);
    int ok = trust_guard_msg_trusted(g, msg);
    msg_destroy(msg);
    return ok;
}

/* Counts the action; the first untrusted request of an episode (none for TRUST_EPISODE_GAP_MS
 * before it) is logged with its source, so a flood of them costs one line. */
static void note(trust_guard_t *g, msg_t *msg, const char *action, const char *what)
{
    if (g->m_untrusted)
        metric_inc(g->m_untrusted, action);
    int64_t now = clock_mono_ms();
    int quiet = !g->last_ms || now - g->last_ms >= TRUST_EPISODE_GAP_MS;
    g->last_ms = now ? now : 1;
    if (!quiet)
        return;
    char from[96];
    sip_t const *sip = msg ? sip_object(msg) : NULL;
    sip_core_flow_of(msg, from, sizeof from);
    log_warn("%s: untrusted peer %s (not in trust.peers): %s %s; further untrusted requests are "
             "only counted (cscf_untrusted_requests_total) until %d s pass without one",
             g->program, from,
             sip && sip->sip_request  ? sip->sip_request->rq_method_name
             : sip && sip->sip_status ? "response"
                                      : "request",
             what, TRUST_EPISODE_GAP_MS / 1000);
}

int trust_guard_strip(trust_guard_t *g, sip_incoming_t *irq)
{
    msg_t *msg = sip_incoming_request(irq);
    sip_t *sip = msg ? sip_object(msg) : NULL;
    int n = trust_strip_headers(msg, sip);
    if (n > 0)
        note(g, msg, "pai_removed",
             "with trust-domain headers (P-Asserted-Identity, ...): removed");
    msg_destroy(msg);
    return n;
}

int trust_guard_screen_response(trust_guard_t *g, msg_t *msg, sip_t *sip)
{
    if (!g || !msg || !sip || trust_guard_msg_trusted(g, msg))
        return 0;
    int n = trust_strip_headers(msg, sip);
    if (n > 0)
        note(g, msg, "response_pai_removed",
             "with trust-domain headers (P-Asserted-Identity, ...): removed");
    return n;
}

void trust_screen_response(void *guard, msg_t *msg, sip_t *sip)
{
    trust_guard_screen_response(guard, msg, sip);
}

void trust_guard_refused(trust_guard_t *g, sip_incoming_t *irq, const char *what)
{
    msg_t *msg = sip_incoming_request(irq);
    char text[96];
    snprintf(text, sizeof text, "asking for %s: refused (403)", what);
    note(g, msg, "refused", text);
    msg_destroy(msg);
}
