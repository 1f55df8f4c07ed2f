#include "cscf/scscf/routing/isc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>

#include "common/ops/config.h"
#include "common/util/hex.h"
#include "common/util/log.h"
#include "common/ops/metrics.h"
#include "common/sip/charging.h"
#include "common/sip/sip_core.h"
#include "common/sip/sip_hdr.h"
#include "common/sip/sip_proxy.h"
#include "common/util/strmap.h"
#include "cscf/scscf/routing/ifc_cache.h"
#include "cscf/scscf/core/context.h"

/* An odi entry lives as long as the relay to its AS, so the table holds at most the requests
 * at application servers right now. */
#define ODI_MAX       100000
#define IFC_CACHE_MAX 100000
#define ODI_USER      "odi."

/* Where evaluation goes on when the request comes back on its token. */
typedef struct odi {
    char served[300], target[300];
    int orig, sc;
    size_t next;
} odi_t;

struct isc {
    scscf_t *s;
    strmap_t *odis;
    ifc_cache_t *cache;
    metric_t *m_isc;
};

isc_t *isc_new(scscf_t *s)
{
    isc_t *isc = calloc(1, sizeof *isc);
    if (!isc)
        return NULL;
    isc->s = s;
    isc->odis = strmap_new();
    isc->cache = ifc_cache_new(IFC_CACHE_MAX);
    isc->m_isc = metrics_counter(s->p->metrics, "cscf_isc_requests_total",
                                 "initial requests and application servers (ISC): to_as sent to "
                                 "an AS, continued/terminated by default handling when the AS "
                                 "failed, unknown_odi came back on a token we do not hold",
                                 "outcome");
    if (!isc->odis || !isc->cache) {
        isc_free(isc);
        return NULL;
    }
    return isc;
}

void isc_free(isc_t *isc)
{
    if (!isc)
        return;
    strmap_free(isc->odis, free);
    ifc_cache_free(isc->cache);
    free(isc);
}

static void odi_drop(isc_t *isc, const char *token)
{
    if (*token)
        free(strmap_take(isc->odis, token));
}

static int odi_new(isc_t *isc, const route_req_t *rt, char token[17])
{
    odi_t *o = strmap_size(isc->odis) < ODI_MAX ? calloc(1, sizeof *o) : NULL;
    if (!o || hex_random(token, 8) < 0) {
        free(o);
        return -1;
    }
    snprintf(o->served, sizeof o->served, "%s", rt->served);
    snprintf(o->target, sizeof o->target, "%s", rt->target);
    o->orig = rt->orig;
    o->sc = rt->sc;
    o->next = rt->ifc_from;
    if (strmap_put(isc->odis, token, o, NULL) < 0) {
        free(o);
        return -1;
    }
    return 0;
}

int isc_odi_take(isc_t *isc, sip_t const *sip, route_req_t *rt)
{
    const url_t *top = sip->sip_route ? sip->sip_route->r_url : NULL;
    if (!top || !top->url_user || strncmp(top->url_user, ODI_USER, strlen(ODI_USER)) != 0 ||
        !sip_core_is_node(isc->s->p->sip, top))
        return 0;
    odi_t *o = strmap_take(isc->odis, top->url_user + strlen(ODI_USER));
    if (!o) {
        metric_inc(isc->m_isc, "unknown_odi");
        return -1;
    }
    snprintf(rt->served, sizeof rt->served, "%s", o->served);
    snprintf(rt->target, sizeof rt->target, "%s", o->target);
    rt->orig = o->orig;
    rt->sc = o->sc;
    rt->ifc_from = o->next;
    free(o);
    return 1;
}

/* An AS named by a sips: URI or with ;transport=tls is an ISC trunk over TLS: the TLS
 * listener's URL (NULL: a plain AS, or we have no TLS listener). */
static const url_t *as_tls(isc_t *isc, const char *as)
{
    const url_t *tls = sip_core_tls_url(isc->s->p->sip);
    if (!tls)
        return NULL;
    return strncasecmp(as, "sips:", 5) == 0 || strcasestr(as, ";transport=tls") ? tls : NULL;
}

/* Our Record-Route entry (the top one, when it is ours) towards a TLS AS is the TLS listener's,
 * so that the AS's requests in the dialog come back over TLS (1: replaced). */
static int tls_record_route(isc_t *isc, msg_t *m, sip_t *ms, const url_t *tls)
{
    sip_record_route_t *r = ms->sip_record_route;
    if (!r || !sip_core_is_node(isc->s->p->sip, r->r_url) || url_cmp(r->r_url, (url_t *)tls) == 0)
        return 0;
    url_t *u = url_hdup(msg_home(m), tls);
    if (!u)
        return 0;
    *r->r_url = *u;
    msg_fragment_clear(r->r_common);
    return 1;
}

/* The caller's side keeps the entry it was given: the responses get it back. */
static void plain_record_route(isc_t *isc, msg_t *m, sip_t *ms)
{
    const url_t *tls = sip_core_tls_url(isc->s->p->sip);
    for (sip_record_route_t *r = ms->sip_record_route; r && tls; r = r->r_next) {
        if (url_cmp(r->r_url, (url_t *)tls) != 0)
            continue;
        url_t *u = url_hdup(msg_home(m), sip_core_self_url(isc->s->p->sip));
        if (u) {
            *r->r_url = *u;
            msg_fragment_clear(r->r_common);
        }
        return;
    }
}

/* Route: <AS;lr>, <sip:odi.token@us;lr>. A Server-Name that is not a plain SIP URI is refused
 * rather than spliced into a header. */
static sip_route_t *as_route(isc_t *isc, su_home_t *home, const char *as, const char *token)
{
    if (strpbrk(as, "<>,\"\r\n \t?"))
        return NULL;
    const url_t *tls = as_tls(isc, as);
    const url_t *self = tls ? tls : sip_core_self_url(isc->s->p->sip);
    char text[700];
    int lr = strstr(as, ";lr") != NULL;
    int n = snprintf(text, sizeof text, "<%s%s>, <sip:" ODI_USER "%s@%s%s%s%s;lr>", as,
                     lr ? "" : ";lr", token, self->url_host, self->url_port ? ":" : "",
                     self->url_port ? self->url_port : "", tls ? ";transport=tls" : "");
    if (n < 0 || (size_t)n >= sizeof text)
        return NULL;
    sip_route_t *r = sip_route_make(home, text);
    if (!r || !r->r_next || (r->r_url->url_type != url_sip && r->r_url->url_type != url_sips) ||
        !r->r_url->url_host)
        return NULL;
    return r;
}

static int served_user_header(msg_t *m, sip_t *ms, const route_req_t *rt)
{
    char value[400];
    snprintf(value, sizeof value, "<%s>;sescase=%s;regstate=%s", rt->served,
             rt->orig ? "orig" : "term",
             rt->sc == IFC_TERM_UNREG || rt->sc == IFC_ORIG_UNREG ? "unreg" : "reg");
    sip_hdr_remove(m, ms, "P-Served-User");
    return sip_hdr_add(m, ms, "P-Served-User", value);
}

/* TS 24.229 5.4.3.2, 5.4.3.3 and TS 32.260: towards an AS the P-Charging-Vector carries a type 3
 * orig-ioi naming this network (charging.ioi, else sip.domain) and no term-ioi; the icid-value
 * stays the session's. */
static int type3_vector(isc_t *isc, msg_t *m, sip_t *ms)
{
    const char *ioi = cfg_str(isc->s->p->cfg, "charging.ioi");
    if (!ioi || !*ioi)
        ioi = cfg_str(isc->s->p->cfg, "sip.domain");
    const url_t *self = sip_core_self_url(isc->s->p->sip);
    return charging_set_vector(m, ms, self ? self->url_host : NULL, ioi, NULL);
}

/* The AS's type 3 IOIs (its term-ioi, our orig-ioi echoed) are between it and us: a response
 * goes on with the vector's icid only. */
static void drop_type3(msg_t *msg, sip_t *sip)
{
    if (msg && sip && sip_hdr_get(sip, "P-Charging-Vector") &&
        charging_set_vector(msg, sip, NULL, NULL, NULL) < 0)
        sip_hdr_remove(msg, sip, "P-Charging-Vector");
}

/* The AS failed before it took the request on (it never came back on its token, and no
 * provisional came): TS 24.229 5.4.3.2 lets the iFC's default handling decide. */
static int on_as_response(void *ctx, sip_fwd_t *fwd, int status, msg_t *msg, sip_t *sip)
{
    route_req_t *rt = ctx;
    isc_t *isc = rt->s->isc;
    if (status == 0) {
        odi_drop(isc, rt->odi);
        if (rt->resume)
            rt->next->resume(rt);
        else
            route_req_free(rt);
        return 0;
    }
    if (rt->as_tls_rr && msg && sip)
        plain_record_route(isc, msg, sip);
    drop_type3(msg, sip);
    if (status > 100 && status < 200)
        rt->as_answered = 1;
    if (status < 300 || (status != 408 && status < 500) || rt->as_answered ||
        sip_fwd_cancelled(fwd) || !strmap_get(isc->odis, rt->odi))
        return 0;
    int cont = rt->default_handling == 0;
    metric_inc(isc->m_isc, cont ? "continued" : "terminated");
    log_warn("scscf: application server failed (%d) for %s; default handling %s", status,
             rt->served, cont ? "SESSION_CONTINUED" : "SESSION_TERMINATED");
    if (!cont)
        return 0;
    rt->irq = sip_fwd_take(fwd);
    rt->resume = 1;
    return 1;
}

/* 0: the request is on its way to the AS (the relay owns irq and rt); -1: it could not go. */
static int to_as(isc_t *isc, route_req_t *rt, const char *server_name)
{
    msg_t *m = odi_new(isc, rt, rt->odi) == 0 ? msg_copy(rt->msg) : NULL;
    sip_t *ms = m ? sip_object(m) : NULL;
    sip_route_t *r = m ? as_route(isc, msg_home(m), server_name, rt->odi) : NULL;
    if (!r || msg_header_insert(m, (msg_pub_t *)ms, (msg_header_t *)r) < 0 ||
        served_user_header(m, ms, rt) < 0 || type3_vector(isc, m, ms) < 0) {
        log_warn("scscf: cannot route to application server '%s'", server_name);
        if (m)
            msg_destroy(m);
        odi_drop(isc, rt->odi);
        rt->odi[0] = '\0';
        return -1;
    }
    log_debug("scscf: %s for %s (%s) to AS %s", rt->sip->sip_request->rq_method_name, rt->served,
              rt->orig ? "originating" : "terminating", server_name);
    rt->as_answered = 0;
    rt->resume = 0;
    const url_t *tls = as_tls(isc, server_name);
    rt->as_tls_rr = tls ? tls_record_route(isc, m, ms, tls) : 0;
    charging_screen_hop(isc->s->trust, m, ms, NULL); /* an AS outside trust.peers (RFC 7315) */
    if (sip_forward(isc->s->p->sip, rt->irq, m, NULL, on_as_response, rt) != 0) {
        odi_drop(isc, rt->odi);
        rt->odi[0] = '\0';
        return -1;
    }
    metric_inc(isc->m_isc, "to_as");
    return 0;
}

const ifc_list_t *isc_ifcs(isc_t *isc, const store_reg_t *reg)
{
    return ifc_cache_get(isc->cache, reg->impi, reg->profile);
}

void isc_next(route_req_t *rt, const store_reg_t *reg)
{
    isc_t *isc = rt->s->isc;
    log_ctx_user(rt->served, reg ? reg->impi : NULL);
    const ifc_list_t *l = isc_ifcs(isc, reg);
    for (;;) {
        int i = l ? ifc_next_match(l, rt->ifc_from, (ifc_case_t)rt->sc, rt->sip) : -1;
        if (i < 0) {
            rt->next->after_ifc(rt, reg);
            return;
        }
        const ifc_as_t *as = ifc_get_as(l, (size_t)i);
        rt->ifc_from = (size_t)i + 1;
        rt->default_handling = as->default_handling;
        if (to_as(isc, rt, as->server_name) == 0)
            return;
        if (as->default_handling != 0) {
            metric_inc(isc->m_isc, "terminated");
            route_req_fail(rt, 500, "Application Server Unreachable");
            return;
        }
        metric_inc(isc->m_isc, "continued");
    }
}
