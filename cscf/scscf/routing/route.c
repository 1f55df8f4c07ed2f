/* Requests after registration through the S-CSCF (TS 24.229 5.4.3, ARCHITECTURE.md section 5):
 * originating ones arrive on the Service-Route we gave (<sip:orig@scscf;lr>) and must come from
 * a registered served user; terminating ones name one of our registered IMPUs and fork to every
 * contact through its stored Path; other domains go to the configured next hop. In-dialog
 * requests follow their Route set. Every step that waits on the store continues in a callback. */
#include "cscf/scscf/routing/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/sip_util.h>

#include "common/util/log.h"
#include "common/sip/charging.h"
#include "common/sip/sip_dialog.h"
#include "common/sip/sip_hdr.h"
#include "common/sip/sip_proxy.h"
#include "common/sip/trust.h"
#include "cscf/scscf/core/context.h"
#include "cscf/scscf/registration/reg_req.h"
#include "cscf/scscf/routing/icscf.h"
#include "cscf/scscf/routing/ifc.h"
#include "cscf/scscf/routing/isc.h"
#include "cscf/scscf/routing/route_req.h"
#include "cscf/scscf/routing/unreg.h"

#define MAX_BRANCHES 16

static void route_terminating(route_req_t *rt);
static void route_after_ifc(route_req_t *rt, const store_reg_t *reg);
static void route_unregistered(route_req_t *rt);
static void route_resume(route_req_t *rt);

/* How isc.c and icscf.c hand a request back. */
static const route_req_next_t next_steps = {route_after_ifc, route_resume, route_unregistered};

/* The store failed a lookup (rc < 0): 500, or 504 when it timed out, with Retry-After
 * (store.retry_after), at once. Logged once per outage (reg_store_failure), not per request. */
static void store_failed(route_req_t *rt, int rc)
{
    const char *phrase;
    char hdr[64];
    int status = reg_store_failure(rt->s, rc, "lookup", &phrase, hdr, sizeof hdr);
    sip_request_answer(rt->s->p->sip, rt->irq, status, phrase,
                       &(sip_dialog_headers_t){.extra = hdr});
    sip_incoming_release(rt->irq, NULL);
    route_req_free(rt);
}

static int is_node(const void *ctx, const url_t *url)
{
    return sip_core_is_node(ctx, url);
}

/* Hands the request to sip_fork (which owns irq from then on). */
static void fork_to(route_req_t *rt, const sip_target_t *t, size_t n)
{
    /* RFC 7315: the charging and access headers stay inside the trust domain (charging.h). */
    for (size_t i = 0; i < n; i++)
        charging_screen_hop(rt->s->trust, t[i].msg, sip_object(t[i].msg), t[i].next_hop);
    int st = sip_fork(rt->s->p->sip, rt->irq, t, n, NULL, NULL);
    if (st) {
        rt->msg = NULL; /* sip_fork took the copies; ours stays below */
        route_req_fail(rt, st, NULL);
        return;
    }
    route_req_free(rt);
}

/* One branch per registered contact: Request-URI = contact, Route = its stored Path. */
static size_t make_branches(route_req_t *rt, const store_reg_t *reg, sip_target_t *t)
{
    int64_t now = time(NULL);
    size_t n = 0;
    for (size_t i = 0; i < reg->ncontacts && n < MAX_BRANCHES; i++) {
        const store_contact_t *c = &reg->contacts[i];
        if (c->expires_at <= now)
            continue;
        msg_t *m = msg_copy(rt->msg);
        sip_t *ms = m ? sip_object(m) : NULL;
        url_t *uri = m ? url_hdup(msg_home(m), URL_STRING_MAKE(c->uri)->us_url) : NULL;
        sip_route_t *path = m && c->path ? sip_route_make(msg_home(m), c->path) : NULL;
        if (!uri || sip_proxy_set_request_uri(m, ms, uri) < 0 ||
            (path && msg_header_insert(m, (msg_pub_t *)ms, (msg_header_t *)path) < 0)) {
            if (m)
                msg_destroy(m);
            continue;
        }
        t[n].msg = m;
        t[n].next_hop = NULL;
        t[n].mtu = 0;
        n++;
    }
    return n;
}

static void to_contacts(route_req_t *rt, const store_reg_t *reg)
{
    sip_hdr_remove(rt->msg, rt->sip, "P-Served-User"); /* for application servers only */
    sip_target_t t[MAX_BRANCHES];
    size_t n = make_branches(rt, reg, t);
    if (!n) {
        route_req_fail(rt, 480, NULL);
        return;
    }
    log_debug("scscf: %s to %s, %zu contact(s)", rt->sip->sip_request->rq_method_name, rt->target,
              n);
    fork_to(rt, t, n);
}

static void on_unreg(void *arg, int status, const store_reg_t *reg)
{
    route_req_t *rt = arg;
    if (status != 200)
        route_req_fail(rt, status, NULL);
    else
        isc_next(rt, reg);
}

/* Our user, registered nowhere: the terminating-unregistered iFCs of the profile, else 480. */
static void unregistered(route_req_t *rt, const store_reg_t *reg)
{
    snprintf(rt->served, sizeof rt->served, "%s", rt->target);
    rt->sc = IFC_TERM_UNREG;
    rt->ifc_from = 0;
    if (reg)
        isc_next(rt, reg);
    else
        unreg_get(rt->s->unreg, rt->target, on_unreg, rt);
}

static void route_unregistered(route_req_t *rt)
{
    unregistered(rt, NULL);
}

/* Not one of our registered IMPUs. */
static void elsewhere(route_req_t *rt)
{
    if (icscf_locate(rt)) /* the I-CSCF role: the HSS says where the user is served */
        return;
    const url_t *ruri = rt->sip->sip_request->rq_url;
    int ours = ruri->url_type != url_tel && sip_core_is_self(rt->s->p->sip, ruri);
    if (ours && rt->target[0]) {
        unregistered(rt, NULL);
        return;
    }
    if (ours) {
        route_req_fail(rt, 404, NULL); /* no user part: no IMPU of ours */
        return;
    }
    if (!rt->s->next_hop) {
        route_req_fail(rt, 404, NULL);
        return;
    }
    sip_target_t t = {rt->msg, rt->s->next_hop, 0};
    rt->msg = NULL;
    rt->sip = NULL; /* in the message sip_fork takes (and frees if it cannot send it) */
    fork_to(rt, &t, 1);
}

static void on_target(void *arg, int rc, store_reg_t *reg)
{
    route_req_t *rt = arg;
    if (rc >= 0)
        reg_store_ok(rt->s);
    if (rc == 0 && reg->ncontacts) {
        snprintf(rt->served, sizeof rt->served, "%s", rt->target);
        rt->sc = IFC_TERM_REG;
        rt->ifc_from = 0;
        isc_next(rt, reg);
    } else if (rc == 0)
        unregistered(rt, reg); /* every contact has expired; the profile is still here */
    else if (rc == 1)
        elsewhere(rt);
    else
        store_failed(rt, rc);
    store_reg_free(reg);
}

static void route_terminating(route_req_t *rt)
{
    rt->orig = 0;
    if (rt->sip->sip_route) {
        /* Someone put a further Route (an AS, a preloaded peer): it is not ours to change. */
        sip_target_t t = {rt->msg, NULL, 0};
        rt->msg = NULL;
        rt->sip = NULL; /* as above */
        fork_to(rt, &t, 1);
        return;
    }
    if (sip_uri_aor(rt->sip->sip_request->rq_url, rt->target, sizeof rt->target) < 0) {
        rt->target[0] = '\0';
        elsewhere(rt);
        return;
    }
    log_ctx_user(rt->target, NULL);
    store_get(rt->s->store, rt->target, on_target, rt);
}

static void on_served(void *arg, int rc, store_reg_t *reg)
{
    route_req_t *rt = arg;
    if (rc >= 0)
        reg_store_ok(rt->s);
    if (rc < 0)
        store_failed(rt, rc);
    else if (rc == 1)
        route_req_fail(rt, 403, "Not Registered");
    else
        isc_next(rt, reg);
    store_reg_free(reg);
}

static void route_after_ifc(route_req_t *rt, const store_reg_t *reg)
{
    if (rt->orig)
        route_terminating(rt);
    else
        to_contacts(rt, reg);
}

/* Back from an AS (or past a failed one): the served user's registration again, since it may
 * have changed meanwhile. A terminating request the AS sent to another target (call
 * forwarding) starts a terminating pass of its own. */
static void on_resumed(void *arg, int rc, store_reg_t *reg)
{
    route_req_t *rt = arg;
    char now[300];
    if (rc >= 0)
        reg_store_ok(rt->s);
    if (rc < 0) {
        store_failed(rt, rc);
    } else if (rc == 1 && rt->sc == IFC_TERM_UNREG) {
        unreg_get(rt->s->unreg, rt->served, on_unreg, rt);
    } else if (rc != 0) {
        route_req_fail(rt, rt->orig ? 403 : 480, NULL);
    } else if (!rt->orig && (sip_uri_aor(rt->sip->sip_request->rq_url, now, sizeof now) < 0 ||
                             strcmp(now, rt->target) != 0)) {
        route_terminating(rt);
    } else {
        isc_next(rt, reg);
    }
    store_reg_free(reg);
}

static void route_resume(route_req_t *rt)
{
    store_get(rt->s->store, rt->served, on_resumed, rt);
}

/* The served user of an originating request: the identity the P-CSCF asserted (RFC 3325),
 * else From (a UE registered here directly). */
static int served_user(sip_t const *sip, char *out, size_t len)
{
    const char *pai = sip_hdr_get(sip, "P-Asserted-Identity");
    if (pai)
        return sip_uri_aor_str(pai, out, len);
    return sip->sip_from ? sip_uri_aor(sip->sip_from->a_url, out, len) : -1;
}

static int is_orig_route(scscf_t *s, sip_t const *sip)
{
    const url_t *top = sip->sip_route ? sip->sip_route->r_url : NULL;
    return top && top->url_user && strcmp(top->url_user, "orig") == 0 &&
           sip_core_is_node(s->p->sip, top);
}

static int loose_route(scscf_t *s, sip_incoming_t *irq, sip_t const *in)
{
    int ack = in->sip_request->rq_method == sip_method_ack;
    msg_t *msg = sip_proxy_copy_request(irq);
    if (!msg)
        return ack ? 0 : 500;
    sip_t *sip = sip_object(msg);
    sip_proxy_preprocess_route(msg, sip, is_node, s->p->sip);
    charging_screen_hop(s->trust, msg, sip, NULL);
    if (sip_proxy_prepare(msg, sip, NULL) < 0) {
        msg_destroy(msg);
        return ack ? 0 : 500;
    }
    if (ack) {
        sip_forward_stateless(s->p->sip, msg, NULL);
        return 0;
    }
    return sip_forward(s->p->sip, irq, msg, NULL, NULL, NULL);
}

/* Our Record-Route entry: the TLS listener's for a request that came over TLS, with
 * transport=tcp for one that came over TCP, so that the dialog's requests come back the same
 * way (a P-CSCF whose core leg is TCP would otherwise send them over UDP). One entry serves
 * both sides: a peer reached over UDP may then come back over TCP, which we listen on. */
static const url_t *record_route(scscf_t *s, sip_incoming_t *irq)
{
    const url_t *tls = sip_core_tls_url(s->p->sip), *tcp = sip_core_tcp_url(s->p->sip);
    msg_t *m = tls || tcp ? sip_incoming_request(irq) : NULL;
    const su_addrinfo_t *ai = m ? msg_addrinfo(m) : NULL;
    int over_tls = m && sip_core_msg_over_tls(m), stream = ai && ai->ai_socktype == SOCK_STREAM;
    if (m)
        msg_destroy(m);
    return over_tls && tls ? tls : stream && tcp && !over_tls ? tcp : sip_core_self_url(s->p->sip);
}

static int initial(scscf_t *s, sip_incoming_t *irq, sip_t const *in)
{
    route_req_t *rt = calloc(1, sizeof *rt);
    if (!rt)
        return 500;
    rt->s = s;
    rt->irq = irq;
    rt->next = &next_steps;
    int back = isc_odi_take(s->isc, in, rt); /* from an application server */
    if (back < 0) {
        free(rt);
        return 403;
    }
    if (!back)
        rt->orig = is_orig_route(s, in);
    rt->msg = sip_proxy_copy_request(irq);
    rt->sip = rt->msg ? sip_object(rt->msg) : NULL;
    if (!rt->msg) {
        free(rt);
        return 500;
    }
    sip_proxy_preprocess_route(rt->msg, rt->sip, is_node, s->p->sip);
    sip_hdr_remove(rt->msg, rt->sip, "P-Served-User"); /* ours to assert, towards an AS */
    /* Record-Route once: the request back from an AS already carries ours. */
    if (sip_proxy_prepare(rt->msg, rt->sip, back ? NULL : record_route(s, irq)) < 0) {
        route_req_free(rt);
        return 500;
    }
    if (back) {
        route_resume(rt);
        return 0;
    }
    if (!rt->orig) {
        route_terminating(rt);
        return 0;
    }
    if (served_user(in, rt->served, sizeof rt->served) < 0) {
        route_req_fail(rt, 403, "No Served User");
        return 0;
    }
    log_ctx_user(rt->served, NULL);
    log_debug("scscf: %s originating", in->sip_request->rq_method_name);
    rt->sc = IFC_ORIG;
    store_get(s->store, rt->served, on_served, rt);
    return 0;
}

/* Back from an AS on its odi token (isc.c names it <sip:odi.TOKEN@us;lr>). */
static int is_odi_route(scscf_t *s, sip_t const *sip)
{
    const url_t *top = sip->sip_route ? sip->sip_route->r_url : NULL;
    return top && top->url_user && strncmp(top->url_user, "odi.", 4) == 0 &&
           sip_core_is_node(s->p->sip, top);
}

/* A Route entry past this node: we would relay the request there as it is (route_terminating),
 * e.g. straight to a P-CSCF's Path token. */
static int routes_elsewhere(scscf_t *s, sip_t const *sip)
{
    for (const sip_route_t *r = sip->sip_route; r; r = r->r_next)
        if (!sip_core_is_node(s->p->sip, r->r_url))
            return 1;
    return 0;
}

int route_screen(scscf_t *s, sip_incoming_t *irq, sip_t const *sip)
{
    if (trust_guard_trusted(s->trust, irq))
        return 0;
    sip_method_t m = sip->sip_request->rq_method;
    int initial = !(sip->sip_to && sip->sip_to->a_tag) && m != sip_method_ack;
    const char *asks = is_orig_route(s, sip)  ? "originating service (orig Route)"
                       : is_odi_route(s, sip) ? "an application server's odi Route"
                       : initial && m != sip_method_register && routes_elsewhere(s, sip)
                           ? "a relay (Route past this node)"
                           : NULL;
    if (!asks) {
        /* Terminating requests may come from outside the trust domain (another network): they
         * are served, with nothing of theirs asserted (RFC 3325 5). */
        trust_guard_strip(s->trust, irq);
        return 0;
    }
    trust_guard_refused(s->trust, irq, asks);
    if (m == sip_method_ack)
        return -1;
    sip_request_answer(s->p->sip, irq, 403, "Not Trusted", NULL);
    return 403;
}

int route_request(scscf_t *s, sip_incoming_t *irq, sip_t const *sip)
{
    int ack = sip->sip_request->rq_method == sip_method_ack;
    if (sip_proxy_check_max_forwards(sip))
        return ack ? 0 : 483;
    if (sip_proxy_check_loop(s->p->sip, sip))
        return ack ? 0 : 482;
    int in_dialog = sip->sip_to && sip->sip_to->a_tag;
    if (in_dialog || ack) {
        if (!sip->sip_route || !sip_core_is_node(s->p->sip, sip->sip_route->r_url))
            return ack ? 0 : 481;
        return loose_route(s, irq, sip);
    }
    return initial(s, irq, sip);
}
