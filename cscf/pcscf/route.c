/* Requests after registration through the P-CSCF (TS 24.229 5.2.6 and 5.2.7, ARCHITECTURE.md
 * section 5): originating requests from a registered UE's flow get the asserted identity, the
 * stored Service-Route and a charging vector; terminating ones arrive on the Path token we put
 * in the REGISTER and go to the UE's flow or Contact (target.c); in-dialog requests follow their
 * Route set. */
#include "cscf/pcscf/flow_conn.h"
#include "cscf/pcscf/pcscf.h"
#include "cscf/pcscf/emergency.h"
#include "cscf/pcscf/profiles.h"
#include "cscf/pcscf/reg_ipsec.h"
#include "cscf/pcscf/policy/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_util.h>

#include "common/sip/charging.h"
#include "common/sip/sip_dialog.h"
#include "common/util/log.h"
#include "common/sip/sip_hdr.h"
#include "common/sip/sip_proxy.h"
#include "common/sip/trust.h"

static int is_node(const void *ctx, const url_t *url)
{
    return sip_core_is_node(ctx, url);
}

typedef struct pick_ctx {
    const char *wanted; /* aor of P-Preferred-Identity, or NULL */
    char chosen[512];   /* the associated URI, as received */
} pick_ctx_t;

static int pick_identity(void *ctx, const char *uri)
{
    pick_ctx_t *p = ctx;
    char aor[300];
    if (!p->chosen[0])
        snprintf(p->chosen, sizeof p->chosen, "%s", uri); /* the default IMPU comes first */
    if (p->wanted && sip_uri_aor_str(uri, aor, sizeof aor) == 0 && strcmp(aor, p->wanted) == 0) {
        snprintf(p->chosen, sizeof p->chosen, "%s", uri);
        return 1;
    }
    return 0;
}

/* RFC 3325 / TS 24.229 5.2.6.3.1 (requests) and 5.2.6.4.4 (responses from the terminating UE):
 * a P-Preferred-Identity the UE may use (one of its associated URIs, the default IMPU first) is
 * asserted, otherwise its default IMPU; whatever identity headers it sent go. */
static int assert_among(msg_t *msg, sip_t *sip, const char *associated)
{
    char wanted[300];
    const char *ppi = sip_hdr_get(sip, "P-Preferred-Identity");
    pick_ctx_t p = {.wanted =
                        ppi && sip_uri_aor_str(ppi, wanted, sizeof wanted) == 0 ? wanted : NULL};
    sip_uri_list_each(associated, pick_identity, &p);
    sip_hdr_remove(msg, sip, "P-Preferred-Identity");
    sip_hdr_remove(msg, sip, "P-Asserted-Identity");
    if (!p.chosen[0])
        return -1;
    /* Only the URI: display names and parameters of P-Associated-URI are not PAI's. */
    char uri[520];
    const char *lt = strchr(p.chosen, '<');
    if (lt)
        snprintf(uri, sizeof uri, "<%.*s>", (int)strcspn(lt + 1, ">"), lt + 1);
    else
        snprintf(uri, sizeof uri, "<%.*s>", (int)strcspn(p.chosen, ";"), p.chosen);
    return sip_hdr_add(msg, sip, "P-Asserted-Identity", uri);
}

int pcscf_assert_identity(msg_t *msg, sip_t *sip, const pc_binding_t *b)
{
    return assert_among(msg, sip, b->associated);
}

/* rewrite_tel_from: a tel: From (some phones send their MSISDN there) becomes the identity
 * just asserted, so the far end's From names the same user as the P-Asserted-Identity. The
 * tag stays: RFC 3261 12 identifies dialogs by Call-ID and tags, never the From URI. */
static int rewrite_tel_from(msg_t *msg, sip_t *sip, url_t **ue_from)
{
    sip_from_t *from = sip->sip_from;
    const char *pai = sip_hdr_get(sip, "P-Asserted-Identity");
    if (!from || from->a_url->url_type != url_tel || !pai || *pai != '<')
        return 0;
    char *uri = su_strndup(msg_home(msg), pai + 1, strcspn(pai + 1, ">"));
    url_t *u = uri ? url_make(msg_home(msg), uri) : NULL;
    *ue_from = url_hdup(msg_home(msg), from->a_url);
    if (!u || !*ue_from)
        return -1;
    from->a_url[0] = *u;
    msg_fragment_clear(from->a_common);
    return 0;
}

int pcscf_add_charging_vector(pcscf_t *pc, msg_t *msg, sip_t *sip)
{
    /* A UE's own vector went with the trust-domain headers of an untrusted source (trust.h);
     * one from a trusted sender keeps its icid. Type 1 orig-ioi names our network (4.5.5). */
    if (charging_set_vector(msg, sip, sip_core_self_url(pc->p->sip)->url_host, pc->ioi, NULL) < 0)
        return -1;
    return charging_add_function_addresses(msg, sip, pc->ccf, pc->nccf, pc->ecf, pc->necf);
}

/* The stored Service-Route replaces whatever Route the UE put (TS 24.229 5.2.6.3.1: the
 * P-CSCF enforces it), so a UE cannot skip its S-CSCF. */
static int preload_service_route(pcscf_t *pc, msg_t *msg, sip_t *sip, const pc_binding_t *b)
{
    while (sip->sip_route)
        sip_route_remove(msg, sip);
    const char *sr = b->service_route[0] ? b->service_route : pc->registrar;
    sip_route_t *r = sip_route_make(msg_home(msg), sr);
    return r ? msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)r) : -1;
}

/* RFC 3325 9.3 (and RFC 3323 4.2): a message whose sender asks for Privacy: id keeps its
 * P-Asserted-Identity inside the trust domain; the UE it goes to is outside. */
static void privacy_strip(msg_t *msg, sip_t *sip)
{
    /* sofia parses Privacy (sip_privacy_t): one value per token, all headers merged. */
    for (msg_param_t const *v = sip->sip_privacy ? sip->sip_privacy->priv_values : NULL; v && *v;
         v++)
        if (strcasecmp(*v, "id") == 0) {
            sip_hdr_remove(msg, sip, "P-Asserted-Identity");
            return;
        }
}

/* A protected UE sees our Record-Route entry with its protected server port, the core with our
 * usual address (TS 24.229 5.2.6.3.3, 5.2.7.2): responses crossing over get the entry of the
 * side they go to. from/to are the two forms; last: only the bottom-most match (the entry of
 * the originating leg, the UE's first hop), else every match. */
typedef struct rr_swap {
    url_t *from, *to; /* NULL: no entry to swap */
    int last;
    int to_ue;      /* the responses go to the UE: the trust domain's charging headers leave them */
    url_t *ue_from; /* the From URI the UE sent, when rewrite_tel_from changed it; else NULL */
    char *associated; /* the terminating UE's P-Associated-URI: its responses get its PAI */
    su_home_t home[1];
} rr_swap_t;

static int same_hostport(const url_t *a, const url_t *b)
{
    const char *pa = a->url_port ? a->url_port : "5060", *pb = b->url_port ? b->url_port : "5060";
    return a->url_host && b->url_host && strcasecmp(a->url_host, b->url_host) == 0 &&
           strcmp(pa, pb) == 0;
}

static void replace_rr(msg_t *msg, sip_record_route_t *r, const url_t *to)
{
    url_t *u = url_hdup(msg_home(msg), to);
    if (!u)
        return;
    *r->r_url = *u;
    msg_fragment_clear(r->r_common);
}

/* Most relays back to a UE only screen the charging headers: they share this context, so the
 * hot path allocates none (rr_swap_free leaves it alone). */
static rr_swap_t screen_only = {.to_ue = 1};

static void rr_swap_free(rr_swap_t *w)
{
    if (!w || w == &screen_only)
        return;
    su_home_deinit(w->home);
    free(w);
}

static int swap_rr(void *ctx, sip_fwd_t *fwd, int status, msg_t *msg, sip_t *sip)
{
    rr_swap_t *w = ctx;
    (void)fwd;
    if (status == 0) {
        rr_swap_free(w);
        return 0;
    }
    /* TS 24.229 5.2.6.4.4: the called UE's response asserts the identity it prefers when that
     * is one of its own, else its default IMPU (the response screen removed any PAI it sent).
     * Responses of our own (no message) have nobody to assert. */
    if (w->associated && msg && sip && sip->sip_status && assert_among(msg, sip, w->associated) < 0)
        log_warn("pcscf: cannot assert the callee's identity in its %d", status);
    /* RFC 7315, TS 24.229 5.2.6.3: P-Charging-Vector, P-Charging-Function-Addresses and the
     * far end's P-Access-Network-Info are not the handset's to see. */
    if (w->to_ue && msg && sip) {
        charging_strip(msg, sip);
        privacy_strip(msg, sip);
    }
    /* A phone may match a response to its request by the whole From, URI included: it gets
     * back the From it sent (the tag was never changed). */
    if (w->ue_from && msg && sip && sip->sip_from) {
        url_t *u = url_hdup(msg_home(msg), w->ue_from);
        if (u) {
            sip->sip_from->a_url[0] = *u;
            msg_fragment_clear(sip->sip_from->a_common);
        }
    }
    sip_record_route_t *hit = NULL;
    for (sip_record_route_t *r = sip && w->to ? sip->sip_record_route : NULL; r; r = r->r_next) {
        if (!same_hostport(r->r_url, w->from))
            continue;
        hit = r;
        if (!w->last)
            replace_rr(msg, r, w->to);
    }
    if (hit && w->last)
        replace_rr(msg, hit, w->to);
    return 0;
}

/* from/to: the Record-Route entry to swap (both NULL: none). */
static rr_swap_t *rr_swap_new(const url_t *from, const url_t *to, int last, int to_ue)
{
    rr_swap_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    su_home_init(w->home);
    w->from = from ? url_hdup(w->home, from) : NULL;
    w->to = to ? url_hdup(w->home, to) : NULL;
    w->last = last;
    w->to_ue = to_ue;
    if ((from && !w->from) || (to && !w->to) || !w->from != !w->to) {
        su_home_deinit(w->home);
        free(w);
        return NULL;
    }
    return w;
}

/* Our Record-Route entry as the S-CSCF sees it: the TLS listener's when the core leg is TLS,
 * with transport=tcp when it is TCP (else the dialog's requests would cross it over UDP, and
 * each hop would keep their answers 64*T1 for retransmissions that TCP never sends). */
static const url_t *core_rr(const pcscf_t *pc)
{
    const url_t *tcp = pc->core_tcp ? sip_core_tcp_url(pc->p->sip) : NULL;
    return pc->core_tls ? sip_core_tls_url(pc->p->sip) : tcp ? tcp : sip_core_self_url(pc->p->sip);
}

/* Our entry as the UE sees it, when it differs from core_rr() (1; out filled): the protected
 * server port of its SAs (TS 24.229 5.2.6.3.3), or the listener of the transport the UE
 * registered over when that differs from the core leg's (TLS on one side only; TCP to the core
 * and UDP to the UE), so that each side comes back over its own transport (RFC 5658's double
 * Record-Route, done as the swap below). */
static int ue_rr(pcscf_t *pc, const pc_binding_t *b, char *out, size_t len)
{
    if (pc_ipsec_record_route(pc, b, out, len))
        return 1;
    /* A UE over TCP with the core leg TCP too shares core_rr() (and its flow token, which a
     * swap would lose); with the core leg UDP it keeps the plain entry, as before. */
    int ue_tls = strncmp(b->flow, "tls:", 4) == 0;
    int ue_tcp = strncmp(b->flow, "tcp:", 4) == 0 && pc->core_tcp && !pc->core_tls;
    const url_t *u = ue_tls   ? sip_core_tls_url(pc->p->sip)
                     : ue_tcp ? core_rr(pc)
                              : sip_core_self_url(pc->p->sip);
    if (!u || u == core_rr(pc))
        return 0;
    issize_t n = url_e(out, (isize_t)len, u);
    return n > 0 && (size_t)n < len;
}

/* Our Record-Route entry for a dialog of b's UE: with a flow token for an outbound UE on a
 * TCP/TLS connection (RFC 5626 5.3: the dialog's requests then go over that connection, not to
 * its Contact), else core_rr(). NULL when memory runs out. */
static const url_t *record_route_for(pcscf_t *pc, msg_t *msg, const pc_binding_t *b)
{
    const url_t *self = core_rr(pc);
    const char *token = pc_flow_rr_token(pc, b);
    if (!token)
        return self;
    url_t *u = url_hdup(msg_home(msg), self);
    if (u)
        u->url_user = su_sprintf(msg_home(msg), "flow.%s", token);
    return u && u->url_user ? u : NULL;
}

/* ue_from: the From URI the UE sent, to restore in the responses (NULL: unchanged). */
static int forward_from_ue(pcscf_t *pc, sip_incoming_t *irq, msg_t *msg, const pc_binding_t *b,
                           const url_t *ue_from)
{
    sip_t *sip = sip_object(msg);
    const url_t *our_rr = b ? record_route_for(pc, msg, b) : core_rr(pc);
    if (!our_rr || sip_proxy_prepare(msg, sip, our_rr) < 0) {
        msg_destroy(msg);
        return 500;
    }
    char rr[300];
    url_t *ue_url = b && ue_rr(pc, b, rr, sizeof rr)
                        ? url_hdup(msg_home(msg), URL_STRING_MAKE(rr)->us_url)
                        : NULL;
    rr_swap_t *w =
        ue_url || ue_from ? rr_swap_new(ue_url ? core_rr(pc) : NULL, ue_url, 1, 1) : &screen_only;
    if (w && ue_from && !(w->ue_from = url_hdup(w->home, ue_from))) {
        rr_swap_free(w);
        w = NULL;
    }
    if (!w) {
        msg_destroy(msg);
        return 500;
    }
    int st = sip_forward(pc->p->sip, irq, msg, NULL, swap_rr, w);
    if (st) /* the relay never started: its callback will not free w */
        rr_swap_free(w);
    return st;
}

int pcscf_forward_from_ue(pcscf_t *pc, sip_incoming_t *irq, msg_t *msg, const pc_binding_t *b)
{
    return forward_from_ue(pc, irq, msg, b, NULL);
}

/* ---- the policy interface (policy/policy.h; nothing here when policy.backend is none) ---- */

/* "udp:192.0.2.1:5060" / "tcp:[2001:db8::1]:5060" -> the address alone. */
static void flow_host(const char *flow, char *out, size_t len)
{
    const char *h = strchr(flow, ':');
    h = h ? h + 1 : flow;
    const char *end = *h == '[' ? strchr(h, ']') : strrchr(h, ':');
    if (*h == '[')
        h++;
    snprintf(out, len, "%.*s", end ? (int)(end - h) : (int)strlen(h), h);
}

/* The leg of b's UE (NULL b: a request from the core to a UE in a dialog, none known). ip and
 * t: storage for the UE's address and next hop. */
static policy_leg_t ue_leg(const pcscf_t *pc, const pc_binding_t *b, int from_ue, char *ip,
                           size_t iplen, pc_target_t *t)
{
    if (b)
        flow_host(b->flow, ip, iplen);
    int target = b && pcscf_binding_target(pc, b, t) == 0;
    return (policy_leg_t){.from_ue = from_ue,
                          .impu = b ? b->impu : NULL,
                          .ue_ip = b ? ip : NULL,
                          .ue_flow = b ? b->flow : NULL,
                          .ue_contact = b ? b->contact : NULL,
                          .ue_target = target ? t->url : NULL};
}

/* A UE's INVITE held while the network decides (policy.on_failure closed). */
typedef struct held {
    pcscf_t *pc;
    sip_incoming_t *irq;
    msg_t *msg;
    char flow[96];
    url_t *ue_from; /* in msg's home */
} held_t;

static int forward_from_ue(pcscf_t *pc, sip_incoming_t *irq, msg_t *msg, const pc_binding_t *b,
                           const url_t *ue_from);

static void held_go(void *ctx, int refuse)
{
    held_t *h = ctx;
    pc_binding_t *b = refuse ? NULL : pcscf_binding(h->pc, h->flow);
    int st = refuse;
    if (!refuse && !b)
        st = 480; /* deregistered meanwhile */
    if (!st) {
        st = forward_from_ue(h->pc, h->irq, h->msg, b, h->ue_from); /* takes msg */
        h->msg = NULL;
    }
    if (h->msg)
        msg_destroy(h->msg);
    if (st) {
        sip_request_answer(h->pc->p->sip, h->irq, st, st == 580 ? "Precondition Failure" : NULL,
                           NULL);
        sip_incoming_release(h->irq, NULL);
    }
    free(h);
}

/* Tells the policy about a UE's request; 1 when it holds it (the INVITE is forwarded or
 * answered later by held_go), else 0: forward now. */
static int policy_from_ue(pcscf_t *pc, sip_incoming_t *irq, msg_t *msg, const pc_binding_t *b,
                          url_t *ue_from)
{
    char ip[64];
    pc_target_t t;
    policy_leg_t leg = ue_leg(pc, b, 1, ip, sizeof ip, &t);
    held_t *h = calloc(1, sizeof *h);
    if (!h) {
        policy_request(pc->policy, &leg, msg, NULL, NULL);
        return 0;
    }
    *h = (held_t){.pc = pc, .irq = irq, .msg = msg, .ue_from = ue_from};
    snprintf(h->flow, sizeof h->flow, "%s", b->flow);
    if (policy_request(pc->policy, &leg, msg, held_go, h) == POLICY_WAIT)
        return 1;
    free(h);
    return 0;
}

void pcscf_policy_observe(void *ctx, msg_t *request, int status, msg_t *response)
{
    pcscf_t *pc = ctx;
    sip_t const *req = sip_object(request);
    if (!pc->policy || !req || !req->sip_request ||
        (req->sip_request->rq_method != sip_method_invite &&
         req->sip_request->rq_method != sip_method_update))
        return;
    char flow[96], ip[64];
    pc_target_t t;
    sip_core_flow_of(request, flow, sizeof flow);
    pc_binding_t *b = pcscf_binding(pc, flow);
    policy_leg_t leg = ue_leg(pc, b, b != NULL, ip, sizeof ip, &t);
    policy_response(pc->policy, &leg, request, status, response);
}

static int originating(pcscf_t *pc, sip_incoming_t *irq, sip_t const *in, const pc_binding_t *b)
{
    log_ctx_user(b->impu, b->impi);
    msg_t *msg = sip_proxy_copy_request(irq);
    if (!msg)
        return 500;
    sip_t *sip = sip_object(msg);
    url_t *ue_from = NULL; /* kept in msg's home: the relay copies it before msg goes */
    if (pc_ipsec_strip(msg, sip) < 0 || pcscf_assert_identity(msg, sip, b) < 0 ||
        (pcscf_profile_of(pc, b)->rewrite_tel_from && rewrite_tel_from(msg, sip, &ue_from) < 0) ||
        preload_service_route(pc, msg, sip, b) < 0 || pcscf_add_charging_vector(pc, msg, sip) < 0) {
        msg_destroy(msg);
        return 500;
    }
    log_debug("pcscf: %s from %s (%s) to its S-CSCF", in->sip_request->rq_method_name, b->flow,
              b->impi);
    if (pc->policy && policy_from_ue(pc, irq, msg, b, ue_from))
        return 0; /* held: forwarded or answered later */
    return forward_from_ue(pc, irq, msg, b, ue_from);
}

/* Our Path entry is <sip:term.<token>@pcscf;lr>: the token names the UE's binding. */
static pc_binding_t *path_binding(pcscf_t *pc, sip_t const *sip)
{
    const url_t *top = sip->sip_route ? sip->sip_route->r_url : NULL;
    if (!top || !top->url_user || strncmp(top->url_user, "term.", 5) != 0 ||
        !sip_core_is_node(pc->p->sip, top))
        return NULL;
    return pcscf_binding_by_token(pc, top->url_user + 5);
}

static int is_path_route(pcscf_t *pc, sip_t const *sip)
{
    const url_t *top = sip->sip_route ? sip->sip_route->r_url : NULL;
    return top && top->url_user && strncmp(top->url_user, "term.", 5) == 0 &&
           sip_core_is_node(pc->p->sip, top);
}

static int terminating(pcscf_t *pc, sip_incoming_t *irq, sip_t const *in)
{
    pc_binding_t *b = path_binding(pc, in);
    if (!b) {
        log_info("pcscf: %s for a UE no longer registered here", in->sip_request->rq_method_name);
        return 480;
    }
    log_ctx_user(b->impu, b->impi);
    msg_t *msg = sip_proxy_copy_request(irq);
    if (!msg)
        return 500;
    sip_t *sip = sip_object(msg);
    sip_proxy_preprocess_route(msg, sip, is_node, pc->p->sip);
    /* The charging headers and the access network of the caller are the network's, not the
     * handset's: the UE is outside the trust domain (TS 24.229 5.2.7.4, RFC 7315 4.4). */
    charging_strip(msg, sip);
    privacy_strip(msg, sip);
    /* TS 24.229 5.2.6.4 / RFC 5626: over the UE's flow or to its Contact (target.h). */
    pc_target_t t;
    if (pcscf_binding_target(pc, b, &t) < 0) {
        log_warn("pcscf: no address to reach %s (flow %s, contact %s)", b->impi, b->flow,
                 b->contact);
        msg_destroy(msg);
        return 500;
    }
    /* RFC 5626 5.3: a dead flow is answered now; RFC 3261 18.1.1 over UDP (flow_conn.h). */
    unsigned mtu = 0;
    int refused = pc_flow_deliver(pc, b, msg, &t, &mtu);
    if (refused) {
        msg_destroy(msg);
        if (refused == 430)
            return sip_request_answer(pc->p->sip, irq, 430, "Flow Failed", NULL), 430;
        return refused;
    }
    if (pc->policy) { /* the offer to the UE: never held (fail-closed ends the call later) */
        char ip[64];
        pc_target_t pt;
        policy_leg_t leg = ue_leg(pc, b, 0, ip, sizeof ip, &pt);
        policy_request(pc->policy, &leg, msg, NULL, NULL);
    }
    url_t *hop = url_hdup(msg_home(msg), URL_STRING_MAKE(t.url)->us_url);
    char rr[300];
    int protected = ue_rr(pc, b, rr, sizeof rr);      /* IPsec, or TLS on one side only */
    const url_t *self = record_route_for(pc, msg, b); /* as the core sees us */
    url_t *rr_url = protected ? url_hdup(msg_home(msg), URL_STRING_MAKE(rr)->us_url) : NULL;
    const url_t *ours = protected ? rr_url : self;
    if (!hop || !self || !ours || sip_proxy_prepare(msg, sip, ours) < 0) {
        msg_destroy(msg);
        return 500;
    }
    log_debug("pcscf: %s to %s, %s of %s (%s)", in->sip_request->rq_method_name, t.url, t.why,
              b->flow, b->impi);
    /* The UE's responses go to the core with our usual Record-Route entry and bob's asserted
     * identity (swap_rr); b may be gone by then, so they carry a copy of his identities. */
    rr_swap_t *w = rr_swap_new(protected ? rr_url : NULL, protected ? self : NULL, 0, 0);
    if (w && b->associated[0] && !(w->associated = su_strdup(w->home, b->associated))) {
        rr_swap_free(w);
        w = NULL;
    }
    if (!w) {
        msg_destroy(msg);
        return 500;
    }
    sip_target_t branch = {msg, hop, mtu};
    int st = sip_fork(pc->p->sip, irq, &branch, 1, swap_rr, w);
    if (st)
        rr_swap_free(w);
    return st;
}

/* In-dialog requests (and ACKs to 2xx) follow the Route set we are part of; one for an outbound
 * UE whose flow token is our Route entry goes over that flow (RFC 5626 5.3). b: the sender's
 * binding, when a registered UE sent it (its responses then come back to a UE). */
static int loose_route(pcscf_t *pc, sip_incoming_t *irq, sip_t const *in, const char *from,
                       const pc_binding_t *b)
{
    int ack = in->sip_request->rq_method == sip_method_ack;
    pc_target_t t = {.why = NULL};
    int by_token = pc_flow_in_dialog(pc, irq, in, from, &t);
    if (by_token == 430)
        return ack ? 0 : (sip_request_answer(pc->p->sip, irq, 430, "Flow Failed", NULL), 430);
    msg_t *msg = sip_proxy_copy_request(irq);
    if (!msg)
        return ack ? 0 : 500;
    sip_t *sip = sip_object(msg);
    sip_proxy_preprocess_route(msg, sip, is_node, pc->p->sip);
    /* Not from a registered UE's flow and no Route left past us: it goes to the UE, outside
     * the trust domain. */
    if (!b && !sip->sip_route)
        charging_strip(msg, sip);
    if (sip_proxy_prepare(msg, sip, NULL) < 0) {
        msg_destroy(msg);
        return ack ? 0 : 500;
    }
    if (pc->policy && !ack) { /* re-INVITE/UPDATE offers, BYE */
        char ip[64];
        pc_target_t pt;
        policy_leg_t leg = ue_leg(pc, b, b != NULL, ip, sizeof ip, &pt);
        policy_request(pc->policy, &leg, msg, NULL, NULL);
    }
    url_t *hop = by_token == 1 ? url_hdup(msg_home(msg), URL_STRING_MAKE(t.url)->us_url) : NULL;
    if (by_token == 1)
        log_debug("pcscf: %s in a dialog to %s, %s", in->sip_request->rq_method_name, t.url, t.why);
    if (ack) {
        sip_forward_stateless(pc->p->sip, msg, hop);
        return 0;
    }
    /* A registered UE's request: its responses come back to the UE (swap_rr screens them). */
    rr_swap_t *w = b ? &screen_only : NULL;
    int st = sip_forward(pc->p->sip, irq, msg, hop, w ? swap_rr : NULL, w);
    if (st)
        rr_swap_free(w);
    return st;
}

static int routes_via_us(pcscf_t *pc, sip_t const *sip)
{
    return sip->sip_route && sip_core_is_node(pc->p->sip, sip->sip_route->r_url);
}

int pcscf_route(pcscf_t *pc, sip_incoming_t *irq, sip_t const *sip)
{
    int ack = sip->sip_request->rq_method == sip_method_ack;
    if (sip_proxy_check_max_forwards(sip))
        return ack ? 0 : 483;
    if (sip_proxy_check_loop(pc->p->sip, sip))
        return ack ? 0 : 482;
    char flow[96];
    msg_t *orig = sip_incoming_request(irq);
    sip_core_flow_of(orig, flow, sizeof flow);
    msg_destroy(orig);
    pc_binding_t *b = pcscf_binding(pc, flow);
    int refused = pc_ipsec_check_request(pc, irq, b);
    if (refused)
        return ack ? 0 : refused;
    int in_dialog = sip->sip_to && sip->sip_to->a_tag;
    if (in_dialog || ack) {
        /* Whoever knows the dialog's Route set may use it; a request without it is no dialog
         * of ours. */
        if (!routes_via_us(pc, sip))
            return ack ? 0 : 403;
        return loose_route(pc, irq, sip, flow, b);
    }
    /* A registered UE's request is originating whatever Route it carries: one naming a Path
     * entry (its own or another UE's) would otherwise reach that UE without its S-CSCF. */
    if (!b && is_path_route(pc, sip)) {
        /* Only an S-CSCF of the trust domain may reach a UE on its Path token: anyone else
         * would skip the UE's S-CSCF (its terminating services, barring, identity). */
        if (!trust_guard_trusted(pc->trust, irq)) {
            trust_guard_refused(pc->trust, irq, "a UE on a Path token");
            return sip_request_answer(pc->p->sip, irq, 403, "Not Trusted", NULL), 403;
        }
        return terminating(pc, irq, sip);
    }
    /* TS 24.229 5.2.10: emergency first, from registered UEs and (emergency.allow_unregistered)
     * from the others. */
    if (emergency_request(sip, pc))
        return pc_emergency_route(pc, irq, sip, b);
    if (!b) {
        log_info("pcscf: %s from %s, which is not registered", sip->sip_request->rq_method_name,
                 flow);
        return sip_request_answer(pc->p->sip, irq, 403, "Not Registered", NULL), 403;
    }
    return originating(pc, irq, sip, b);
}
