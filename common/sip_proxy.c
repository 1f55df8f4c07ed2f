#include "common/sip_proxy.h"

#include <stdio.h>
#include <stdlib.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su_alloc.h>

#include "common/log.h"
#include "common/sip_core_internal.h"

int sip_proxy_check_max_forwards(sip_t const *sip)
{
    return sip->sip_max_forwards && sip->sip_max_forwards->mf_count == 0 ? 483 : 0;
}

static sip_route_t *last_route(sip_route_t *r)
{
    while (r && r->r_next)
        r = r->r_next;
    return r;
}

static int replace_request_uri(msg_t *msg, sip_t *sip, const url_t *uri)
{
    su_home_t *home = msg_home(msg);
    sip_request_t *rq =
        sip_request_create(home, sip->sip_request->rq_method, sip->sip_request->rq_method_name,
                           (url_string_t const *)uri, sip->sip_request->rq_version);
    if (!rq)
        return -1;
    return msg_header_replace(msg, (msg_pub_t *)sip, (msg_header_t *)sip->sip_request,
                              (msg_header_t *)rq);
}

void sip_proxy_preprocess_route(msg_t *msg, sip_t *sip, sip_is_self_f is_self, const void *ctx)
{
    /* A strict router before us put our Record-Route URI in the Request-URI and the real target
     * at the end of the Route set. */
    if (sip->sip_route && is_self(ctx, sip->sip_request->rq_url)) {
        sip_route_t *last = last_route(sip->sip_route);
        if (replace_request_uri(msg, sip, last->r_url) == 0)
            msg_header_remove(msg, (msg_pub_t *)sip, (msg_header_t *)last);
    }
    if (sip->sip_route && is_self(ctx, sip->sip_route->r_url))
        sip_route_remove(msg, sip);
}

static int decrement_max_forwards(msg_t *msg, sip_t *sip)
{
    unsigned long count = SIP_PROXY_DEFAULT_MAX_FORWARDS;
    if (sip->sip_max_forwards)
        count = sip->sip_max_forwards->mf_count ? sip->sip_max_forwards->mf_count - 1 : 0;
    char text[24];
    snprintf(text, sizeof text, "%lu", count);
    sip_max_forwards_t *mf = sip_max_forwards_make(msg_home(msg), text);
    if (!mf)
        return -1;
    if (sip->sip_max_forwards)
        return msg_header_replace(msg, (msg_pub_t *)sip, (msg_header_t *)sip->sip_max_forwards,
                                  (msg_header_t *)mf);
    return msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)mf);
}

/* RFC 3261 16.6 step 7: the next hop is a strict router, so it gets the request with its URI
 * as Request-URI and the old Request-URI appended to the Route set. */
static int strict_route(msg_t *msg, sip_t *sip)
{
    su_home_t *home = msg_home(msg);
    sip_route_t *tail = sip_route_create(home, sip->sip_request->rq_url, NULL);
    url_t *next = url_hdup(home, sip->sip_route->r_url);
    if (!tail || !next)
        return -1;
    last_route(sip->sip_route)->r_next = tail;
    msg_header_remove(msg, (msg_pub_t *)sip, (msg_header_t *)sip->sip_route);
    /* The Route chain was edited in place: make sure it is encoded again. */
    if (sip->sip_route)
        msg_fragment_clear(sip->sip_route->r_common);
    return replace_request_uri(msg, sip, next);
}

int sip_proxy_prepare(msg_t *msg, sip_t *sip, const url_t *rr)
{
    if (decrement_max_forwards(msg, sip) < 0)
        return -1;
    if (rr) {
        sip_record_route_t *h = sip_record_route_create(msg_home(msg), rr, NULL);
        if (!h || msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)h) < 0)
            return -1;
    }
    if (sip->sip_route && !sip_route_is_loose(sip->sip_route))
        return strict_route(msg, sip);
    return 0;
}

const url_t *sip_proxy_next_hop(sip_t const *sip)
{
    return sip->sip_route ? sip->sip_route->r_url : sip->sip_request->rq_url;
}

msg_t *sip_proxy_copy_request(nta_incoming_t *irq)
{
    msg_t *orig = nta_incoming_getrequest(irq);
    if (!orig)
        return NULL;
    msg_t *copy = msg_copy(orig);
    msg_destroy(orig); /* getrequest returned a reference */
    return copy;
}

/* ---- the forwarding transaction ---- */

struct sip_fwd {
    struct sip_fwd *next, **prev; /* in core->fwds */
    sip_core_t *core;
    nta_incoming_t *irq;
    nta_outgoing_t *orq;
    sip_fwd_response_f cb;
    void *ctx;
    int final;     /* a final response went upstream */
    int cancelled; /* CANCEL passed downstream */
};

static void fwd_link(sip_fwd_t *f)
{
    f->next = f->core->fwds;
    if (f->next)
        f->next->prev = &f->next;
    f->prev = &f->core->fwds;
    f->core->fwds = f;
    f->core->inflight++;
}

static void fwd_unlink(sip_fwd_t *f)
{
    *f->prev = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->core->inflight--;
}

static void fwd_finish(sip_fwd_t *f)
{
    if (f->orq)
        nta_outgoing_destroy(f->orq);
    if (f->irq)
        nta_incoming_destroy(f->irq);
    fwd_unlink(f);
    free(f);
}

void sip_proxy_release_all(sip_core_t *core)
{
    while (core->fwds) {
        sip_fwd_t *f = core->fwds;
        fwd_unlink(f);
        free(f);
    }
}

static void relay(sip_fwd_t *f, int status, msg_t *response, sip_t *sip)
{
    if (f->cb && f->cb(f->ctx, f, status, response, sip)) {
        msg_destroy(response);
        return;
    }
    sip_via_remove(response, sip); /* our own Via */
    if (nta_incoming_mreply(f->irq, response) == 0)
        sip_core_count_response(f->core, status);
    else
        log_warn("fwd: could not relay %d upstream (malformed, or the transaction is over)",
                 status);
}

static int on_response(nta_outgoing_magic_t *magic, nta_outgoing_t *orq, sip_t const *sip)
{
    sip_fwd_t *f = (sip_fwd_t *)magic;
    int status = sip ? sip->sip_status->st_status : nta_outgoing_status(orq);
    log_debug("fwd: %s %d for %s", sip ? "response" : "no response, nta says", status,
              nta_outgoing_method_name(orq));
    if (sip) {
        msg_t *response = nta_outgoing_getresponse(orq);
        if (status >= 200)
            f->final = 1;
        if (response)
            relay(f, status, response, sip_object(response));
    } else {
        /* nta's own verdict: timeout (408) or transport error (503). */
        if (status < 300 || status > 699)
            status = 500;
        if (f->cb)
            f->cb(f->ctx, f, status, NULL, NULL);
        sip_core_reply(f->core, f->irq, status, NULL, TAG_END());
        f->final = 1;
    }
    /* TODO(calls issue): an INVITE's 2xx retransmissions arrive after this; keep a late relay
     * for 64*T1 so they reach the caller instead of being dropped as strays. */
    if (f->final)
        fwd_finish(f);
    return 0;
}

/* The CANCEL for our forwarded INVITE (RFC 3261 9.1): same Request-URI, top Via (so the same
 * branch), From, To, Call-ID, CSeq number and Route, sent the same way. We build it ourselves
 * because nta_outgoing_tcancel() completes the INVITE client transaction, which over TCP ends it
 * at once and the callee's 487 could no longer be relayed (RFC 3261 16.10 wants it relayed). */
static int cancel_downstream(sip_fwd_t *f)
{
    msg_t *inv = nta_outgoing_getrequest(f->orq);
    msg_t *c = inv ? nta_msg_create(f->core->agent, 0) : NULL;
    int rc = -1;
    if (c) {
        sip_t *isip = sip_object(inv), *csip = sip_object(c);
        su_home_t *home = msg_home(c);
        sip_via_t top = *isip->sip_via;
        top.v_next = NULL;
        rc = sip_add_tl(
            c, csip,
            SIPTAG_REQUEST(sip_request_create(home, SIP_METHOD_CANCEL,
                                              (url_string_t *)isip->sip_request->rq_url, NULL)),
            SIPTAG_VIA(&top), SIPTAG_FROM(isip->sip_from), SIPTAG_TO(isip->sip_to),
            SIPTAG_CALL_ID(isip->sip_call_id),
            SIPTAG_CSEQ(sip_cseq_create(home, isip->sip_cseq->cs_seq, SIP_METHOD_CANCEL)),
            SIPTAG_ROUTE(isip->sip_route), SIPTAG_MAX_FORWARDS_STR("70"), TAG_END());
        if (rc >= 0 && !nta_outgoing_mcreate(f->core->agent, NULL, NULL,
                                             (url_string_t const *)nta_outgoing_route_uri(f->orq),
                                             c, NTATAG_USER_VIA(1), TAG_END()))
            rc = -1;
        else if (rc < 0)
            msg_destroy(c);
    }
    if (inv)
        msg_destroy(inv); /* getrequest returned a reference */
    return rc;
}

/* CANCEL of the incoming INVITE: nta answered it with 200; pass it downstream. */
static int on_cancel(nta_incoming_magic_t *magic, nta_incoming_t *irq, sip_t const *sip)
{
    sip_fwd_t *f = (sip_fwd_t *)magic;
    if (!sip || sip->sip_request->rq_method != sip_method_cancel || f->final || f->cancelled)
        return 0;
    f->cancelled = 1;
    if (cancel_downstream(f) < 0) {
        /* We cannot reach the callee: end the caller's INVITE ourselves. */
        log_warn("fwd: could not send CANCEL downstream; answering 487 upstream");
        sip_core_reply(f->core, f->irq, SIP_487_REQUEST_CANCELLED, TAG_END());
        f->final = 1;
    }
    return 0;
}

int sip_forward(sip_core_t *core, nta_incoming_t *irq, msg_t *msg, const url_t *next_hop,
                sip_fwd_response_f cb, void *ctx)
{
    sip_fwd_t *f = calloc(1, sizeof *f);
    if (!f) {
        msg_destroy(msg);
        return 500;
    }
    f->core = core;
    f->irq = irq;
    f->cb = cb;
    f->ctx = ctx;
    f->orq = nta_outgoing_mcreate(core->agent, on_response, (nta_outgoing_magic_t *)f,
                                  (url_string_t const *)next_hop, msg, TAG_END());
    if (!f->orq) {
        /* nta frees msg itself on failure */
        free(f);
        log_warn("sip: cannot create the client transaction to forward a request");
        return 500;
    }
    fwd_link(f);
    nta_incoming_bind(irq, on_cancel, (nta_incoming_magic_t *)f);
    return 0;
}

int sip_forward_stateless(sip_core_t *core, msg_t *msg, const url_t *next_hop)
{
    nta_outgoing_t *orq =
        nta_outgoing_mcreate(core->agent, NULL, NULL, (url_string_t const *)next_hop, msg,
                             NTATAG_STATELESS(1), TAG_END());
    return orq ? 0 : -1;
}
