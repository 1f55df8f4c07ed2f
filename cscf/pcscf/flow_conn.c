/* The UEs' connections, keep-alives and the UDP size rule (flow_conn.h). */
#include "cscf/pcscf/flow_conn.h"
#include "cscf/pcscf/profiles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/tport_tag.h>

#include "common/sip/sip_hdr.h"
#include "common/sip/trust.h"
#include "common/util/hex.h"
#include "common/util/log.h"

/* What is added to a request after it is measured: our Record-Route entry, and nta's Via
 * (transport, our address, branch, rport). */
#define VIA_ALLOWANCE 200
/* A connection whose REGISTER never led to a binding is let go after this. */
#define UNBOUND_GRACE_S 64

typedef struct conn {
    tport_t *tp;    /* referenced */
    int64_t seen;   /* its last REGISTER */
    char token[20]; /* names it in our Record-Route: sip:flow.<token>@pcscf;lr (RFC 5626 5.3) */
    char flow[96];
} conn_t;

struct pc_flows {
    strmap_t *conns;    /* flow ("tcp:192.0.2.1:40001") -> conn_t */
    strmap_t *reach;    /* "<ip> <impi>" -> flow of that IMPI's TCP/TLS binding from that ip */
    strmap_t *by_token; /* conn_t.token -> conn_t (the conns map owns it) */
    metric_t *m_dead, *m_size;
    int keepalive_s, ping_s, pong_ms, max_udp;
};

static int reliable(const char *flow)
{
    return strncmp(flow, "tcp:", 4) == 0 || strncmp(flow, "tls:", 4) == 0;
}

/* The address of a flow "udp:192.0.2.1:5060" (v6: "udp:2001:db8::1:5060"). */
static void flow_ip(const char *flow, char *out, size_t len)
{
    const char *a = strchr(flow, ':'), *p = strrchr(flow, ':');
    if (!a || p <= a)
        snprintf(out, len, "%s", "");
    else
        snprintf(out, len, "%.*s", (int)(p - a - 1), a + 1);
}

static void reach_key(const char *flow, const char *impi, char *out, size_t len)
{
    char ip[64];
    flow_ip(flow, ip, sizeof ip);
    snprintf(out, len, "%s %s", ip, impi);
}

static void conn_free(void *v)
{
    conn_t *c = v;
    tport_unref(c->tp);
    free(c);
}

/* Out of the conns map already (taken, or being swept): out of by_token, then freed. */
static void conn_drop(struct pc_flows *f, conn_t *c)
{
    if (strmap_get(f->by_token, c->token) == c)
        strmap_take(f->by_token, c->token);
    conn_free(c);
}

void pc_flows_hint(const pcscf_t *pc, const pc_binding_t *b, flows_profile_hint_t *out)
{
    const struct pc_flows *f = pc->flows;
    out->keepalive_seconds = f ? f->keepalive_s : 120;
    out->force_transport = 0;
    out->max_udp_size = f ? f->max_udp : 1300;
    /* the handset profile's non-zero switches win over the flows.* keys */
    const pcscf_profile_t *pr = b ? pcscf_profile_of(pc, b) : NULL;
    if (pr && pr->keepalive_seconds > 0)
        out->keepalive_seconds = pr->keepalive_seconds;
    if (pr && pr->force_transport)
        out->force_transport = pr->force_transport;
    if (pr && pr->max_udp_size > 0)
        out->max_udp_size = pr->max_udp_size;
}

static void read_config(struct pc_flows *f, const cfg_t *cfg)
{
    f->keepalive_s = (int)cfg_int(cfg, "flows.keepalive_seconds");
    f->ping_s = (int)cfg_int(cfg, "flows.ping_seconds");
    f->pong_ms = (int)cfg_int(cfg, "flows.pong_timeout_ms");
    f->max_udp = (int)cfg_int(cfg, "flows.max_udp_size");
}

int pc_flows_conn_init(pcscf_t *pc)
{
    struct pc_flows *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    pc->flows = f;
    read_config(f, pc->p->cfg);
    f->conns = strmap_new();
    f->reach = strmap_new();
    f->by_token = strmap_new();
    f->m_dead = metrics_counter(pc->p->metrics, "cscf_flows_dead_total",
                                "UE flows (TCP/TLS connections of bindings) found dead: closed or "
                                "reset by the UE, or no pong to our ping",
                                NULL);
    f->m_size = metrics_counter(pc->p->metrics, "cscf_udp_oversize_total",
                                "requests to UEs reached over UDP above flows.max_udp_size, by "
                                "the transport they went over (RFC 3261 18.1.1)",
                                "sent_over");
    if (!f->conns || !f->reach || !f->by_token || !f->m_dead || !f->m_size)
        return -1;
    pc_flows_listeners_ready(pc);
    return 0;
}

void pc_flows_conn_fini(pcscf_t *pc)
{
    if (!pc->flows)
        return;
    strmap_free(pc->flows->by_token, NULL);
    strmap_free(pc->flows->conns, conn_free);
    strmap_free(pc->flows->reach, free);
    free(pc->flows);
    pc->flows = NULL;
}

int pc_flows_reload(pcscf_t *pc, const cfg_t *cfg, const char *key)
{
    if (!pc->flows)
        return 0;
    read_config(pc->flows, cfg);
    log_info("pcscf: %s reloaded", key);
    return 1;
}

void pc_flows_listeners_ready(pcscf_t *pc)
{
    tport_t *master = nta_agent_tports(sip_core_agent(pc->p->sip));
    for (tport_t *tp = master ? tport_primaries(master) : NULL; tp; tp = tport_next(tp))
        if (tport_is_reliable(tp) && tport_set_params(tp, TPTAG_PONG2PING(1), TAG_END()) < 0)
            log_warn("pcscf: CRLF pong not set on %s:%s", tport_name(tp)->tpn_proto,
                     tport_name(tp)->tpn_port);
}

/* Pings on this registered UE's connection only (its own copy of the parameters): the core's
 * connections from the same listener, and connections that never registered, are not pinged. */
static void set_pings(const struct pc_flows *f, tport_t *tp)
{
    if (f->ping_s > 0)
        tport_set_params(tp, TPTAG_KEEPALIVE((unsigned)f->ping_s * 1000u),
                         TPTAG_PINGPONG((unsigned)f->pong_ms), TAG_END());
}

void pc_flow_seen(pcscf_t *pc, sip_incoming_t *irq, const char *flow)
{
    struct pc_flows *f = pc->flows;
    if (!f || !reliable(flow))
        return;
    tport_t *tp = nta_incoming_transport(sip_core_agent(pc->p->sip), irq, NULL);
    if (!tp || !tport_is_secondary(tp) || tport_is_shutdown(tp)) {
        tport_unref(tp);
        return;
    }
    conn_t *c = strmap_get(f->conns, flow);
    if (c && c->tp == tp) {
        tport_unref(tp); /* held already */
    } else if (c) {      /* the same address and port on a new connection */
        tport_unref(c->tp);
        c->tp = tp;
    } else if (strmap_size(f->conns) >= strmap_size(pc->by_flow) + 10000 ||
               !(c = calloc(1, sizeof *c))) {
        tport_unref(tp); /* more unbound connections than bindings: not kept (unknown = dead) */
        return;
    } else {
        c->tp = tp;
        snprintf(c->flow, sizeof c->flow, "%s", flow);
        if (hex_random(c->token, 8) < 0 || strmap_put(f->conns, flow, c, NULL) < 0) {
            conn_free(c);
            return;
        }
        if (strmap_put(f->by_token, c->token, c, NULL) < 0)
            c->token[0] = '\0'; /* no Record-Route token for it: dialogs use the Contact */
    }
    c->seen = time(NULL);
}

void pc_flow_bound(pcscf_t *pc, const pc_binding_t *b)
{
    struct pc_flows *f = pc->flows;
    if (!f || !reliable(b->flow) || !b->impi[0])
        return;
    conn_t *c = strmap_get(f->conns, b->flow);
    if (c) /* registered now: pinged from now on (when configured) */
        set_pings(f, c->tp);
    char key[400];
    reach_key(b->flow, b->impi, key, sizeof key);
    char *flow = strdup(b->flow);
    void *old = NULL;
    if (flow && strmap_put(f->reach, key, flow, &old) < 0)
        free(flow);
    free(old);
}

void pc_flow_unbound(pcscf_t *pc, const pc_binding_t *b)
{
    struct pc_flows *f = pc->flows;
    if (!f || !reliable(b->flow))
        return;
    char key[400];
    reach_key(b->flow, b->impi, key, sizeof key);
    char *flow = strmap_get(f->reach, key);
    if (flow && strcmp(flow, b->flow) == 0)
        free(strmap_take(f->reach, key));
    conn_t *c = strmap_take(f->conns, b->flow);
    if (c)
        conn_drop(f, c);
}

/* The binding of this flow lost its connection: said once, counted once. */
static void mark_dead(pcscf_t *pc, pc_binding_t *b, const char *why)
{
    if (b->flow_dead)
        return;
    b->flow_dead = 1;
    metric_inc(pc->flows->m_dead, NULL);
    log_ctx_user(b->impu, b->impi);
    log_info("pcscf: flow %s (%s) dead: %s", b->flow, b->impi, why);
}

static int alive(const conn_t *c)
{
    return c && !tport_is_shutdown(c->tp);
}

typedef struct sweep_ctx {
    pcscf_t *pc;
    int64_t now;
} sweep_ctx_t;

static int sweep_conn(void *ctx, const char *flow, void *val)
{
    sweep_ctx_t *s = ctx;
    conn_t *c = val;
    pc_binding_t *b = strmap_get(s->pc->by_flow, flow);
    if (alive(c)) {
        if (b || s->now - c->seen < UNBOUND_GRACE_S)
            return 0;
        conn_drop(s->pc->flows, c); /* its REGISTER never became a binding */
        return 1;
    }
    if (b)
        mark_dead(s->pc, b, "the connection is closed (by the UE, a reset, or no pong)");
    conn_drop(s->pc->flows, c);
    return 1;
}

void pc_flows_tick(pcscf_t *pc)
{
    if (!pc->flows)
        return;
    sweep_ctx_t s = {pc, time(NULL)};
    strmap_sweep(pc->flows->conns, sweep_conn, &s);
}

/* The transport a target URL names ("" when none). */
static void target_transport(const char *url, char *out, size_t len)
{
    const char *t = strstr(url, ";transport=");
    snprintf(out, len, "%.*s", t ? (int)strcspn(t + 11, ";>") : 0, t ? t + 11 : "");
    for (char *p = out; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
}

/* The UE's own live TCP/TLS connection: a binding of the same IMPI from the same address. */
static const char *tcp_flow_of(pcscf_t *pc, const pc_binding_t *b)
{
    char key[400];
    reach_key(b->flow, b->impi, key, sizeof key);
    const char *flow = strmap_get(pc->flows->reach, key);
    pc_binding_t *tb = flow ? pcscf_binding(pc, flow) : NULL;
    return tb && !tb->flow_dead && alive(strmap_get(pc->flows->conns, flow)) ? flow : NULL;
}

static size_t request_size(msg_t *msg)
{
    size_t len = 0;
    char *text = msg_as_string(NULL, msg, NULL, 0, &len);
    free(text);
    return len + VIA_ALLOWANCE;
}

/* "tcp:192.0.2.1:40001" as a next hop. */
static void flow_url(const char *flow, char *out, size_t len)
{
    char ip[64];
    flow_ip(flow, ip, sizeof ip);
    const char *port = strrchr(flow, ':');
    int v6 = strchr(ip, ':') != NULL;
    snprintf(out, len, "sip:%s%s%s%s;transport=%.3s", v6 ? "[" : "", ip, v6 ? "]" : "", port, flow);
}

static void over_udp_or_tcp(pcscf_t *pc, pc_binding_t *b, msg_t *msg, pc_target_t *t, unsigned *mtu)
{
    flows_profile_hint_t h;
    pc_flows_hint(pc, b, &h);
    size_t size = request_size(msg);
    const char *tcp = tcp_flow_of(pc, b);
    switch (pc_udp_size_choice(size, (size_t)h.max_udp_size, h.force_transport, tcp != NULL)) {
    case PC_SEND_TCP_FLOW:
        flow_url(tcp, t->url, sizeof t->url);
        t->why = "its TCP flow (RFC 3261 18.1.1)";
        t->flow = 1;
        metric_inc(pc->flows->m_size, "tcp");
        return;
    case PC_SEND_TCP_NEW: {
        char *p = strstr(t->url, ";transport=");
        if (p && (size_t)(p - t->url) + 15 < sizeof t->url)
            snprintf(p, sizeof t->url - (size_t)(p - t->url), ";transport=tcp");
        t->why = "TCP (the handset profile)";
        if (size > (size_t)h.max_udp_size) /* the metric counts the size rule's requests only */
            metric_inc(pc->flows->m_size, "tcp");
        return;
    }
    case PC_SEND_UDP:
        /* nta would move it to a new TCP connection on its own (18.1.1): not to a UE. */
        *mtu = 65535;
        if (size > (size_t)h.max_udp_size) {
            t->why = "UDP (no TCP known to reach the UE)";
            metric_inc(pc->flows->m_size, "udp");
        }
        return;
    }
}

int pc_flow_deliver(pcscf_t *pc, pc_binding_t *b, msg_t *msg, pc_target_t *t, unsigned *mtu)
{
    *mtu = 0;
    if (!pc->flows || b->sa[0].state != PC_SA_NONE)
        return 0; /* a protected UE: its SA's ports and sizes (reg_ipsec.c) */
    char tr[8];
    target_transport(t->url, tr, sizeof tr);
    if (t->flow && reliable(b->flow)) {
        /* RFC 5626 5.3: over this connection or not at all; a new one towards the UE's
         * ephemeral port would hang until the transaction times out. */
        if (!b->flow_dead && !alive(strmap_get(pc->flows->conns, b->flow)))
            mark_dead(pc, b, "no connection when a request came for it");
        if (b->flow_dead) {
            const sip_t *sip = sip_object(msg);
            log_info("pcscf: %s for %s refused: its flow %s is dead",
                     sip && sip->sip_request ? sip->sip_request->rq_method_name : "request",
                     b->impi, b->flow);
            return b->outbound ? 430 : 480;
        }
        return 0;
    }
    if (strcmp(tr, "udp") == 0)
        over_udp_or_tcp(pc, b, msg, t, mtu);
    return 0;
}

void pc_flows_on_register_ok(pcscf_t *pc, const pc_binding_t *b, msg_t *msg, sip_t *sip)
{
    flows_profile_hint_t h;
    pc_flows_hint(pc, b, &h);
    if (h.keepalive_seconds > 0 && (reliable(b->flow) || b->outbound)) {
        char v[16];
        snprintf(v, sizeof v, "%d", h.keepalive_seconds);
        sip_hdr_remove(msg, sip, "Flow-Timer");
        if (sip_hdr_add(msg, sip, "Flow-Timer", v) < 0)
            log_warn("pcscf: no Flow-Timer in the 200 to %s", b->impi);
    }
    /* RFC 5626 6: the home registrar keeps the reg-id binding (the S-CSCF replaces a contact by
     * instance and reg-id) and we deliver over the flow: outbound is in use. */
    if (b->outbound && !sip_has_feature(sip->sip_require, "outbound"))
        sip_add_tl(msg, sip, SIPTAG_REQUIRE_STR("outbound"), TAG_END());
}

const char *pc_flow_rr_token(pcscf_t *pc, const pc_binding_t *b)
{
    if (!pc->flows || !b->outbound || !reliable(b->flow) || b->sa[0].state != PC_SA_NONE)
        return NULL;
    conn_t *c = strmap_get(pc->flows->conns, b->flow);
    return alive(c) && c->token[0] ? c->token : NULL;
}

int pc_flow_in_dialog(pcscf_t *pc, sip_incoming_t *irq, sip_t const *sip, const char *from,
                      pc_target_t *t)
{
    const url_t *top = sip->sip_route ? sip->sip_route->r_url : NULL;
    if (!pc->flows || !top || !top->url_user || strncmp(top->url_user, "flow.", 5) != 0 ||
        !sip_core_is_node(pc->p->sip, top))
        return 0;
    conn_t *c = strmap_get(pc->flows->by_token, top->url_user + 5);
    /* From the UE itself: on along its Route set. From anyone but the core: as any in-dialog
     * request (the token is visible to the remote party, who must not skip its S-CSCF). */
    if ((c && strcmp(c->flow, from) == 0) || !trust_guard_trusted(pc->trust, irq))
        return 0;
    if (!alive(c)) {
        pc_binding_t *b = c ? strmap_get(pc->by_flow, c->flow) : NULL;
        if (b)
            mark_dead(pc, b, "no connection when an in-dialog request came for it");
        log_info("pcscf: %s in a dialog of a dead flow (%s)", sip->sip_request->rq_method_name,
                 c ? c->flow : "token unknown");
        return 430;
    }
    flow_url(c->flow, t->url, sizeof t->url);
    t->why = "flow token (RFC 5626 5.3)";
    t->flow = 1;
    return 1;
}
