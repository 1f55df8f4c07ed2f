#include "common/sip/sip_proxy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/tport_tag.h>

#include "common/ops/limits.h"
#include "common/sip/dialogs.h"
#include "common/util/clock.h"
#include "common/util/kept.h"
#include "common/util/log.h"
#include "common/util/strmap.h"
#include "common/sip/sip_answered.h"
#include "common/sip/sip_core_internal.h"
#include "common/sip/sip_guard.h"
#include "common/sip/sip_trace.h"

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

int sip_proxy_set_request_uri(msg_t *msg, sip_t *sip, const url_t *uri)
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
        if (sip_proxy_set_request_uri(msg, sip, last->r_url) == 0)
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
    return sip_proxy_set_request_uri(msg, sip, next);
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

/* A deep copy (msg_dup), not msg_copy(): a shallow copy keeps the received message alive for as
 * long as the copy lives, and nta keeps the forwarded request of an INVITE client transaction
 * over UDP for Timer D (32 s) after its final response. Measured at 500 calls/s: 26 KiB held per
 * such transaction with msg_copy, 18 KiB with msg_dup, no more CPU per call. The copy is
 * encoded again when sent, so header fields of different names may come out in sofia's order
 * (RFC 3261 7.3.1: their relative order is not significant). */
msg_t *sip_proxy_copy_request(nta_incoming_t *irq)
{
    msg_t *orig = nta_incoming_getrequest(irq);
    if (!orig)
        return NULL;
    msg_t *copy = msg_dup(orig);
    msg_destroy(orig); /* getrequest returned a reference */
    return copy;
}

/* ---- loop detection (RFC 3261 16.3 step 4, 16.6 step 8) ---- */

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL; /* field separator */
}

static uint64_t fnv_url(uint64_t h, const url_t *u)
{
    char buf[1024];
    isize_t n = u ? url_e(buf, sizeof buf, u) : 0;
    if (n < 0 || (size_t)n >= sizeof buf)
        n = 0;
    buf[n] = '\0';
    return fnv(h, buf);
}

/* The fields RFC 3261 16.6 step 8 names, minus the topmost Via: a looped request comes back
 * with another element's Via on top, so a hash over it could never match. */
static uint64_t loop_hash(sip_t const *sip)
{
    uint64_t h = 14695981039346656037ULL;
    char cseq[16];
    h = fnv_url(h, sip->sip_request->rq_url);
    for (sip_route_t const *r = sip->sip_route; r; r = r->r_next)
        h = fnv_url(h, r->r_url);
    h = fnv(h, sip->sip_from ? sip->sip_from->a_tag : NULL);
    h = fnv(h, sip->sip_to ? sip->sip_to->a_tag : NULL);
    h = fnv(h, sip->sip_call_id ? sip->sip_call_id->i_id : NULL);
    snprintf(cseq, sizeof cseq, "%u", sip->sip_cseq ? sip->sip_cseq->cs_seq : 0);
    h = fnv(h, cseq);
    for (sip_proxy_require_t const *pr = sip->sip_proxy_require; pr; pr = pr->k_next)
        for (size_t i = 0; pr->k_items && pr->k_items[i]; i++)
            h = fnv(h, pr->k_items[i]);
    return h;
}

#define LOOP_PREFIX "z9hG4bK"

/* Was this Via put by this node (its sent-by is one of our addresses)? */
static int via_is_ours(sip_core_t *core, sip_via_t const *v)
{
    url_t u;
    memset(&u, 0, sizeof u);
    u.url_type = url_sip;
    u.url_host = v->v_host;
    u.url_port = v->v_port;
    return sip_core_is_node(core, &u);
}

int sip_proxy_check_loop(sip_core_t *core, sip_t const *sip)
{
    char mine[40];
    snprintf(mine, sizeof mine, LOOP_PREFIX "%016llx.", (unsigned long long)loop_hash(sip));
    for (sip_via_t const *v = sip->sip_via; v; v = v->v_next)
        if (v->v_branch && strncmp(v->v_branch, mine, strlen(mine)) == 0 && via_is_ours(core, v))
            return 482;
    return 0;
}

/* ---- the forwarding transaction, one or several branches (RFC 3261 16.6-16.10) ---- */

typedef struct sip_branch {
    struct sip_fwd *f;
    nta_outgoing_t *orq; /* NULL once detached, or when the branch has ended */
    int status;          /* final status received (or nta's verdict); 0 while pending */
    /* A branch taken over from nta (detach_branch()): what its CANCEL and ACK are made of. */
    msg_t *req;          /* the request as it went out, with our Via (a reference) */
    const char *ident;   /* the listener it left from (in req's home) */
    const url_t *route;  /* where nta sent it (in req's home); NULL: its Route/Request-URI */
    int64_t deadline_ms; /* Timer C, then the wait for the callee to answer our CANCEL */
    int timer_c_fired;
} sip_branch_t;

struct sip_fwd {
    struct sip_fwd *next, **prev; /* in core->fwds */
    sip_core_t *core;
    nta_incoming_t *irq;
    sip_fwd_response_f cb;
    void *ctx;
    sip_method_t method;
    int initial;   /* no To tag, first pass here: an INVITE of this kind is a call attempt */
    int final;     /* a final response went upstream */
    int cancelled; /* CANCEL passed downstream */
    size_t n, pending;
    msg_t *best; /* the best final response so far (16.7 step 6), when it came with a message */
    int best_status;
    log_ctx_t log; /* of the request, for what its responses log */
    sip_branch_t br[];
};

static int branch_stray(sip_core_t *core, msg_t *msg, sip_t *sip);
static void branches_sweep(sip_core_t *core, int64_t now_ms);

static void fwd_link(sip_fwd_t *f)
{
    f->next = f->core->fwds;
    if (f->next)
        f->next->prev = &f->next;
    f->prev = &f->core->fwds;
    f->core->fwds = f;
    f->core->release_fwds = sip_proxy_release_all;
    f->core->fwd_stray = branch_stray;
    f->core->fwd_sweep = branches_sweep;
    f->core->inflight++;
    f->core->inflight_invites += f->method == sip_method_invite;
}

static void fwd_unlink(sip_fwd_t *f)
{
    *f->prev = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->core->inflight--;
    f->core->inflight_invites -= f->method == sip_method_invite;
}

static void forget_detached(sip_core_t *core, sip_branch_t *b)
{
    if (!b->req)
        return;
    sip_via_t const *v = sip_object(b->req)->sip_via;
    if (strmap_get(core->detached, v->v_branch) == b)
        strmap_take(core->detached, v->v_branch);
    msg_destroy(b->req);
    b->req = NULL;
}

static void fwd_finish(sip_fwd_t *f)
{
    for (size_t i = 0; i < f->n; i++) {
        if (f->br[i].orq)
            nta_outgoing_destroy(f->br[i].orq);
        forget_detached(f->core, &f->br[i]);
    }
    if (f->irq) /* through sip_core, which defers it while the request is being dispatched */
        sip_incoming_release(f->irq, NULL);
    if (f->best)
        msg_destroy(f->best);
    if (f->cb)
        f->cb(f->ctx, f, 0, NULL, NULL);
    fwd_unlink(f);
    free(f);
}

void sip_proxy_release_all(sip_core_t *core)
{
    while (core->fwds) {
        sip_fwd_t *f = core->fwds;
        for (size_t i = 0; i < f->n; i++)
            forget_detached(core, &f->br[i]);
        if (f->best)
            msg_destroy(f->best);
        if (f->cb)
            f->cb(f->ctx, f, 0, NULL, NULL);
        fwd_unlink(f);
        free(f);
    }
}

static void account(sip_fwd_t *f, int status, sip_t const *sip)
{
    if (status < 200 || !f->core->dialogs)
        return;
    if (f->method == sip_method_invite && f->initial) {
        dialogs_final(f->core->dialogs, status, sip);
    } else if (f->method == sip_method_bye) {
        /* No answer from the far end (our own 408 or 500): the BYE's tags name the dialog, and
         * it is over all the same (RFC 3261 15.1.1). */
        msg_t *req = !sip && f->irq ? nta_incoming_getrequest(f->irq) : NULL;
        dialogs_bye(f->core->dialogs, status, sip ? sip : req ? sip_object(req) : NULL);
        if (req)
            msg_destroy(req); /* getrequest returned a reference */
    } else if ((f->method == sip_method_invite || f->method == sip_method_update) && sip &&
               status < 300) {
        dialogs_refresh(f->core->dialogs, sip);
    }
}

/* nta keeps the final response of a non-INVITE server transaction over UDP for Timer J
 * (64*T1 = 32 s) to answer retransmissions. The response as received is costly to keep: its
 * stream receive buffer with slack, one allocation per parsed header and parameter list, the
 * re-encoded edited headers and the 127-slot allocation table its home grew to. Its text parsed
 * again into a fresh message takes one allocation for buffer and headers (measured: 1.7 KiB less
 * per retained transaction at the pcscf). Over TCP, and for INVITE, nta frees it at once. */
static int keeps_response(sip_fwd_t *f, int status)
{
    if (status < 200 || nta_incoming_method(f->irq) == sip_method_invite)
        return 0;
    tport_t *tp = nta_incoming_transport(f->core->agent, f->irq, NULL);
    int unreliable = tp && !tport_is_reliable(tp);
    tport_unref(tp);
    return unreliable;
}

static msg_t *compact_response(msg_t *response)
{
    size_t len = 0;
    char *text = msg_as_string(NULL, response, NULL, 0, &len);
    msg_t *copy = text ? msg_make(msg_mclass(response), 0, text, (ssize_t)len) : NULL;
    free(text);
    if (!copy || (sip_object(copy)->sip_flags & MSG_FLG_ERROR)) {
        msg_destroy(copy);
        return response; /* relay what we have rather than nothing */
    }
    msg_destroy(response);
    return copy;
}

void sip_proxy_set_response_screen(sip_core_t *core, sip_response_screen_f fn, void *ctx)
{
    core->screen_response = fn;
    core->screen_ctx = ctx;
}

void sip_proxy_set_response_observer(sip_core_t *core, sip_response_observe_f fn, void *ctx)
{
    core->observe_response = fn;
    core->observe_ctx = ctx;
}

static void observe(sip_fwd_t *f, int status, msg_t *response)
{
    if (!f->core->observe_response || !f->irq)
        return;
    msg_t *req = nta_incoming_getrequest(f->irq);
    if (req) {
        f->core->observe_response(f->core->observe_ctx, req, status, response);
        msg_destroy(req); /* getrequest returned a reference */
    }
}

static void relay(sip_fwd_t *f, int status, msg_t *response, sip_t *sip)
{
    if (f->core->screen_response && response)
        f->core->screen_response(f->core->screen_ctx, response, sip);
    if ((f->cb && f->cb(f->ctx, f, status, response, sip)) || !f->irq) {
        msg_destroy(response);
        return;
    }
    if (nta_incoming_status(f->irq) >= 200 &&
        (f->method != sip_method_invite || status >= 300 || nta_incoming_status(f->irq) >= 300)) {
        /* The transaction upstream already ended; nta would refuse it (and sofia leaves such
         * a message in a state that trips an assertion at shutdown). */
        msg_destroy(response);
        return;
    }
    observe(f, status, response);
    account(f, status, sip);
    sip_via_remove(response, sip); /* our own Via */
    if (keeps_response(f, status))
        response = compact_response(response);
    nta_incoming_t *irq = f->irq;
    sip_trace_msg(f->core->trace, response, "sent");
    if (nta_incoming_mreply(irq, response) == 0) {
        sip_core_count_final(f->core, irq, status);
        if (status >= 200)
            sip_answered_keep(f->core->answered, irq);
    } else
        log_warn("fwd: could not relay %d upstream (malformed, or the transaction is over)",
                 status);
}

/* A final status of our own (nta's verdict, or no branch left). A 503 from the next hop goes on
 * as 500 (RFC 3261 16.7 step 6: a 503 would say this proxy is overloaded), but its Retry-After
 * goes with it (RFC 3261 20.33 allows it in a 500): an overloaded S-CSCF's back-off must reach
 * the UE, or the UE retries at once and the overload feeds itself. */
static void reply_own(sip_fwd_t *f, int status, const sip_retry_after_t *ra)
{
    if (status == 503 || status < 300 || status > 699)
        status = 500;
    if ((f->cb && f->cb(f->ctx, f, status, NULL, NULL)) || !f->irq)
        return;
    observe(f, status, NULL);
    account(f, status, NULL);
    sip_core_reply(f->core, f->irq, status, NULL, TAG_IF(ra, SIPTAG_RETRY_AFTER(ra)), TAG_END());
}

/* RFC 3261 16.7 step 6: any 6xx wins, else the lowest class; first come within a class. */
static int better(int status, int best)
{
    if (!best)
        return 1;
    if (best >= 600)
        return 0;
    if (status >= 600)
        return 1;
    return status / 100 < best / 100;
}

static void keep_best(sip_fwd_t *f, int status, msg_t *response)
{
    if (!better(status, f->best_status)) {
        if (response)
            msg_destroy(response);
        return;
    }
    if (f->best)
        msg_destroy(f->best);
    f->best = response;
    f->best_status = status;
}

static void send_best(sip_fwd_t *f)
{
    f->final = 1;
    if (f->best && f->best_status != 503) {
        msg_t *m = f->best;
        f->best = NULL;
        relay(f, f->best_status, m, sip_object(m));
    } else {
        const sip_t *bsip = f->best ? sip_object(f->best) : NULL;
        reply_own(f, f->best_status ? f->best_status : 408, bsip ? bsip->sip_retry_after : NULL);
    }
}

/* The ACK of a final response >= 300 on a detached branch, kept 64*T1 under the branch as its
 * next hop, listener and text: the callee sends that response again until an ACK reaches it
 * (RFC 3261 17.1.1.2), and nta, which would have answered each with the ACK again, no longer
 * knows the branch (acked_again()). */
static void acked_keep(sip_core_t *core, const char *branch, msg_t *ack, const url_t *route,
                       const char *ident)
{
    size_t tlen = 0;
    char *text = msg_as_string(NULL, ack, NULL, 0, &tlen);
    char *r = route ? url_as_string(NULL, route) : NULL;
    size_t rlen = r ? strlen(r) : 0, ilen = ident ? strlen(ident) : 0;
    char *out = text && (!route || r)
                    ? kept_put(core->acked, branch, rlen + ilen + 2 + tlen, clock_mono_ms())
                    : NULL;
    if (out) {
        memcpy(out, r ? r : "", rlen + 1);
        memcpy(out + rlen + 1, ident ? ident : "", ilen + 1);
        memcpy(out + rlen + ilen + 2, text, tlen);
    }
    free(r);
    free(text);
}

static int acked_again(sip_core_t *core, msg_t *msg, sip_t const *sip)
{
    size_t len = 0;
    const char *kept = sip->sip_status->st_status >= 300
                           ? kept_get(core->acked, sip->sip_via->v_branch, &len)
                           : NULL;
    if (!kept)
        return -1;
    const char *route = kept, *ident = route + strlen(route) + 1;
    const char *text = ident + strlen(ident) + 1;
    msg_t *ack = msg_make(sip_default_mclass(), 0, text, (isize_t)(len - (size_t)(text - kept)));
    if (ack &&
        !nta_outgoing_mcreate(core->agent, NULL, NULL, *route ? URL_STRING_MAKE(route) : NULL, ack,
                              NTATAG_USER_VIA(1), NTATAG_STATELESS(1),
                              TAG_IF(*ident, TPTAG_IDENT(ident)), TAG_END()))
        msg_destroy(ack);
    log_debug("fwd: ACKed a %d again", sip->sip_status->st_status);
    msg_destroy(msg);
    return 0;
}

/* A request hop by hop on one branch of our forwarded INVITE: its CANCEL (RFC 3261 9.1), or,
 * once the branch is ours (detach_branch()), the ACK of a final response >= 300 (17.1.1.3). Same
 * Request-URI, top Via (so the same branch), From, Call-ID, CSeq number and Route as the INVITE,
 * sent the same way; an ACK takes the response's To. We build the CANCEL ourselves because
 * nta_outgoing_tcancel() completes the INVITE client transaction, which over TCP ends it at once
 * and the callee's 487 could no longer be relayed (RFC 3261 16.10). */
static int hop_request(sip_fwd_t *f, sip_branch_t *b, sip_method_t m, const char *mname,
                       sip_to_t const *to, const char *reason)
{
    msg_t *inv = b->orq ? nta_outgoing_getrequest(b->orq) : msg_ref_create(b->req);
    msg_t *c = inv ? nta_msg_create(f->core->agent, 0) : NULL;
    int rc = -1;
    if (c) {
        sip_t *isip = sip_object(inv), *csip = sip_object(c);
        su_home_t *home = msg_home(c);
        sip_via_t top = *isip->sip_via;
        top.v_next = NULL;
        rc = sip_add_tl(c, csip,
                        SIPTAG_REQUEST(sip_request_create(
                            home, m, mname, (url_string_t *)isip->sip_request->rq_url, NULL)),
                        SIPTAG_VIA(&top), SIPTAG_FROM(isip->sip_from),
                        SIPTAG_TO(to ? to : isip->sip_to), SIPTAG_CALL_ID(isip->sip_call_id),
                        SIPTAG_CSEQ(sip_cseq_create(home, isip->sip_cseq->cs_seq, m, mname)),
                        SIPTAG_ROUTE(isip->sip_route), SIPTAG_MAX_FORWARDS_STR("70"),
                        TAG_IF(reason, SIPTAG_REASON_STR(reason)), TAG_END());
        /* From the listener the INVITE left from (a protected port stays protected). */
        tport_t *tp = b->orq ? nta_outgoing_transport(b->orq) : NULL;
        const char *ident = tp ? tport_ident(tp) : b->ident;
        const url_t *route = b->orq ? nta_outgoing_route_uri(b->orq) : b->route;
        if (rc >= 0 && m == sip_method_ack)
            acked_keep(f->core, top.v_branch, c, route, ident);
        if (rc >= 0 && !nta_outgoing_mcreate(f->core->agent, NULL, NULL,
                                             (url_string_t const *)route, c, NTATAG_USER_VIA(1),
                                             TAG_IF(m == sip_method_ack, NTATAG_STATELESS(1)),
                                             TAG_IF(ident, TPTAG_IDENT(ident)), TAG_END()))
            rc = -1;
        if (rc < 0) /* a request nta refused is still ours (see sip_fork) */
            msg_destroy(c);
        tport_unref(tp);
    }
    if (inv)
        msg_destroy(inv); /* a reference */
    return rc;
}

static int cancel_branch(sip_fwd_t *f, sip_branch_t *b, const char *reason)
{
    return hop_request(f, b, SIP_METHOD_CANCEL, NULL, reason);
}

static void cancel_pending(sip_fwd_t *f, const char *reason)
{
    if (f->method != sip_method_invite)
        return;
    for (size_t i = 0; i < f->n; i++)
        if ((f->br[i].orq || f->br[i].req) && !f->br[i].status &&
            cancel_branch(f, &f->br[i], reason) < 0)
            log_warn("fwd: could not send CANCEL to branch %zu", i);
}

static void on_final(sip_fwd_t *f, sip_branch_t *b, int status, msg_t *response)
{
    b->status = status;
    f->pending--;
    if (status < 300 && response && !f->final) {
        f->final = 1;
        relay(f, status, response, sip_object(response));
        cancel_pending(f, "SIP;cause=200;text=\"Call completed elsewhere\"");
    } else if (status < 300 && response && f->method == sip_method_invite) {
        /* Another branch answered too: every 2xx to an INVITE goes upstream (16.7 step 5),
         * each one a dialog the caller must ACK and end. */
        relay(f, status, response, sip_object(response));
    } else if (status < 300 && response) {
        msg_destroy(response); /* a non-INVITE transaction takes one final response */
    } else {
        keep_best(f, status, response);
        if (status >= 600 && !f->final)
            cancel_pending(f, NULL);
    }
    if (f->pending == 0) {
        if (!f->final)
            send_best(f);
        fwd_finish(f);
    }
}

static int handle_response(sip_fwd_t *f, sip_branch_t *b, nta_outgoing_t *orq, sip_t const *sip);
static void detach_branch(sip_fwd_t *f, sip_branch_t *b);

static int on_response(nta_outgoing_magic_t *magic, nta_outgoing_t *orq, sip_t const *sip)
{
    sip_branch_t *b = (sip_branch_t *)magic;
    log_ctx_restore(&b->f->log);
    int rc = handle_response(b->f, b, orq, sip);
    log_ctx_clear();
    return rc;
}

/* 1 when a response repeats a single header: relaying it would abort (sip_guard.h), so it is
 * dropped, and a final one ends its branch as a bad answer would (*status 502). */
static int guard_single(sip_t const *sip, int *status)
{
    if (!sip_guard_duplicate_single(sip))
        return 0;
    log_debug("fwd: dropping a %d that repeats a single header", *status);
    if (*status >= 200)
        *status = 502;
    return 1;
}

/* 100 is hop by hop; other provisionals go up while no final did (16.7 step 5). */
static void relay_provisional(sip_fwd_t *f, int status, msg_t *response)
{
    if (status > 100 && !f->final && response)
        relay(f, status, response, sip_object(response));
    else if (response)
        msg_destroy(response);
}

static int handle_response(sip_fwd_t *f, sip_branch_t *b, nta_outgoing_t *orq, sip_t const *sip)
{
    int status = sip ? sip->sip_status->st_status : nta_outgoing_status(orq);
    if (sip && guard_single(sip, &status)) {
        if (status < 200)
            return 0;
        sip = NULL;
    }
    log_debug("fwd: %s %d for %s", sip ? "response" : "no response, nta says", status,
              nta_outgoing_method_name(orq));
    if (b->status) {
        /* A 2xx retransmission while other branches are still open (once the relay has ended,
         * sip_core relays them statelessly as strays). */
        msg_t *again = sip && status < 300 ? nta_outgoing_getresponse(orq) : NULL;
        if (again)
            relay(f, status, again, sip_object(again));
        return 0;
    }
    msg_t *response = sip ? nta_outgoing_getresponse(orq) : NULL;
    sip_trace_msg(f->core->trace, response, "received");
    if (sip && status < 200) {
        relay_provisional(f, status, response);
        if (f->method == sip_method_invite)
            detach_branch(f, b);
        return 0;
    }
    if (!sip && (status < 300 || status > 699))
        status = 500;
    on_final(f, b, status, response);
    return 0;
}

/* ---- INVITE branches over UDP, taken over from nta at their first provisional ----
 *
 * nta keeps an INVITE client transaction over UDP for Timer D (32 s, not configurable below)
 * after its final response, 2xx included, with the request and the response as parsed messages:
 * 18 KiB a call at the pcscf's handset side, 32 s of calls/s of them (docs/BENCHMARKS.md: 1 GiB
 * at 1,500 calls/s). RFC 3261 17.1.1.2 ends the transaction at a 2xx, and after a provisional
 * it no longer retransmits; what is left of it is the ACK of a final response >= 300, Timer C
 * and the CANCEL. nta ends an INVITE client transaction at once when the application destroys
 * it before its final response (for a proxy that relays 2xx statelessly), so at the first
 * provisional (nta passes us the 100 too: NTATAG_PASS_100) the branch keeps the request, and its
 * responses, which then match no transaction, come from on_stray_message() to branch_stray(). */

static void detach_branch(sip_fwd_t *f, sip_branch_t *b)
{
    sip_core_t *core = f->core;
    tport_t *tp = b->orq && !b->status ? nta_outgoing_transport(b->orq) : NULL;
    if (!tp || tport_is_reliable(tp)) { /* over TCP/TLS nta ends it at the final response */
        tport_unref(tp);
        return;
    }
    msg_t *req = nta_outgoing_getrequest(b->orq);
    sip_t const *rs = req ? sip_object(req) : NULL;
    const url_t *route = nta_outgoing_route_uri(b->orq);
    su_home_t *home = req ? msg_home(req) : NULL;
    b->ident = home && tport_ident(tp) ? su_strdup(home, tport_ident(tp)) : NULL;
    b->route = home && route ? url_hdup(home, route) : NULL;
    tport_unref(tp);
    if (!rs || !rs->sip_via || !rs->sip_via->v_branch || (route && !b->route) ||
        strmap_put(core->detached, rs->sip_via->v_branch, b, NULL) < 0) {
        msg_destroy(req); /* out of memory: it stays nta's */
        return;
    }
    b->req = req;
    b->deadline_ms = clock_mono_ms() + (core->cfg.timer_c_ms ? core->cfg.timer_c_ms : 185000);
    nta_outgoing_destroy(b->orq); /* not completed: nta frees it now */
    b->orq = NULL;
}

/* A response to a detached branch, as on_response() would have had it from nta. */
static int branch_stray(sip_core_t *core, msg_t *msg, sip_t *sip)
{
    sip_via_t const *v = sip->sip_via;
    if (!v || !v->v_branch || !sip->sip_cseq || sip->sip_cseq->cs_method != sip_method_invite)
        return -1;
    sip_branch_t *b = strmap_get(core->detached, v->v_branch);
    if (!b)
        return acked_again(core, msg, sip);
    sip_fwd_t *f = b->f;
    log_ctx_restore(&f->log);
    int status = sip->sip_status->st_status;
    sip_trace_msg(core->trace, msg, "received");
    if (guard_single(sip, &status)) {
        msg_destroy(msg);
        msg = NULL;
        if (status < 200) {
            log_ctx_clear();
            return 0;
        }
    } else if (status < 200) {
        relay_provisional(f, status, msg);
        log_ctx_clear();
        return 0;
    } else if (status >= 300 && hop_request(f, b, SIP_METHOD_ACK, sip->sip_to, NULL) < 0)
        log_warn("fwd: could not ACK a %d", status);
    log_debug("fwd: response %d for a detached INVITE branch", status);
    forget_detached(core, b);
    on_final(f, b, status, msg);
    log_ctx_clear();
    return 0;
}

/* Timer C of the detached branches (RFC 3261 16.8): a CANCEL when it fires, then 64*T1 for the
 * callee's answer to it, after which the branch ends as timed out (what nta does: Timer D). */
static void branches_sweep(sip_core_t *core, int64_t now_ms)
{
    int64_t wait = core->cfg.t1x64_ms ? core->cfg.t1x64_ms : 32000;
    for (sip_fwd_t *f = core->fwds, *next; f; f = next) {
        next = f->next;
        for (size_t i = 0; i < f->n; i++) {
            sip_branch_t *b = &f->br[i];
            if (!b->req || b->status || now_ms < b->deadline_ms)
                continue;
            log_ctx_restore(&f->log);
            if (!b->timer_c_fired) {
                b->timer_c_fired = 1;
                b->deadline_ms = now_ms + wait;
                if (cancel_branch(f, b, NULL) < 0)
                    log_warn("fwd: could not send CANCEL at Timer C");
                log_ctx_clear();
                continue;
            }
            int last = f->pending == 1; /* on_final() frees f then */
            forget_detached(core, b);
            on_final(f, b, 408, NULL);
            log_ctx_clear();
            if (last)
                break;
        }
    }
}

/* CANCEL of the incoming INVITE: nta answered it with 200; pass it down every branch. */
static int on_cancel(nta_incoming_magic_t *magic, nta_incoming_t *irq, sip_t const *sip)
{
    sip_fwd_t *f = (sip_fwd_t *)magic;
    if (!sip || sip->sip_request->rq_method != sip_method_cancel || f->final || f->cancelled)
        return 0;
    f->cancelled = 1;
    log_ctx_restore(&f->log);
    /* The caller's Reason (e.g. "call completed elsewhere" from a forking proxy upstream)
     * goes down with the CANCEL (RFC 3326). */
    char *reason = sip->sip_reason
                       ? sip_header_as_string(f->core->home, (sip_header_t const *)sip->sip_reason)
                       : NULL;
    cancel_pending(f, reason);
    su_free(f->core->home, reason);
    log_ctx_clear();
    return 0;
}

static int on_cancel_taken(nta_incoming_magic_t *magic, nta_incoming_t *irq, sip_t const *sip);

/* A request that passed this node before (a P-CSCF serving both ends of a call, an S-CSCF
 * getting it back from an application server) carries a Via of ours below the top: it is the
 * same call attempt spiralling, not a new one. */
static int spiralled(sip_core_t *core, sip_t const *sip)
{
    for (sip_via_t const *v = sip->sip_via ? sip->sip_via->v_next : NULL; v; v = v->v_next)
        if (via_is_ours(core, v))
            return 1;
    return 0;
}

/* A request from an extra listener (sip_core_set_source) stays on it whatever its size: nta
 * would move a UDP request above its MTU to TCP (RFC 3261 18.1.1) on a connection of its own
 * from an ephemeral port, which is not the listener the peer can be reached from (the pcscf's
 * protected UEs: only port_pc is covered by their SAs). */
#define EXTRA_MTU 65535

/* Where a request goes: the next hop given, else its topmost Route, else its Request-URI. */
static const url_t *dest_of(msg_t *msg, const url_t *next_hop)
{
    sip_t const *sip = sip_object(msg);
    return next_hop ? next_hop : sip && sip->sip_request ? sip_proxy_next_hop(sip) : NULL;
}

/* limits.relays, and limits.dialogs for a new call: at either cap the request is answered 503
 * here (with Retry-After) and not relayed. A request inside a dialog may use the relays cap's
 * reserve (limits.h): the call it ends or changes was admitted already. Returns 503 then, else 0.
 */
static int refuse_at_cap(sip_core_t *core, nta_incoming_t *irq)
{
    if (nta_incoming_magic(irq, on_cancel_taken))
        return 0; /* taken back from its relay and forked again: admitted already */
    const char *retry = NULL;
    msg_t *req = nta_incoming_getrequest(irq);
    sip_t const *in = req ? sip_object(req) : NULL;
    int in_dialog = in && in->sip_to && in->sip_to->a_tag;
    if (!(in_dialog ? cap_admit_reserved : cap_admit)(core->cap_relays, core->inflight))
        retry = cap_retry_after(core->cap_relays);
    else if (nta_incoming_method(irq) == sip_method_invite && in && in->sip_to && !in_dialog &&
             !dialogs_admit(core->dialogs))
        retry = dialogs_retry_after(core->dialogs);
    if (req)
        msg_destroy(req); /* getrequest returned a reference */
    if (!retry)
        return 0;
    sip_core_reply(core, irq, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR(retry),
                   TAG_END());
    return 503;
}

static int routable(const url_t *u)
{
    return u && (u->url_type == url_sip || u->url_type == url_sips) && u->url_host;
}

int sip_fork(sip_core_t *core, nta_incoming_t *irq, const sip_target_t *t, size_t n,
             sip_fwd_response_f cb, void *ctx)
{
    if (refuse_at_cap(core, irq)) {
        for (size_t i = 0; i < n; i++)
            msg_destroy(t[i].msg);
        return 503;
    }
    sip_fwd_t *f = n ? calloc(1, sizeof *f + n * sizeof f->br[0]) : NULL;
    if (!f) {
        for (size_t i = 0; i < n; i++)
            msg_destroy(t[i].msg);
        return 500;
    }
    msg_t *orig = nta_incoming_getrequest(irq);
    sip_t const *in = orig ? sip_object(orig) : NULL;
    unsigned long long loop = in ? (unsigned long long)loop_hash(in) : 0;
    f->core = core;
    f->irq = irq;
    log_ctx_save(&f->log);
    f->cb = cb;
    f->ctx = ctx;
    f->method = in ? in->sip_request->rq_method : sip_method_unknown;
    f->initial = in && in->sip_to && !in->sip_to->a_tag;
    int again = nta_incoming_magic(irq, on_cancel_taken) != NULL || (in && spiralled(core, in));
    f->initial = f->initial && !again;
    int malformed = in && in->sip_error; /* headers sofia could not parse */
    for (sip_route_t const *r = in ? in->sip_route : NULL; r; r = r->r_next)
        malformed |= !routable(r->r_url);
    if (orig)
        msg_destroy(orig); /* getrequest returned a reference */
    for (size_t i = 0; i < n; i++) {
        char branch[64];
        snprintf(branch, sizeof branch, LOOP_PREFIX "%016llx.%08lx%zu", loop,
                 (unsigned long)random(), i);
        f->br[f->n].f = f;
        sip_trace_msg(core->trace, t[i].msg, "sent");
        const url_t *dest = dest_of(t[i].msg, t[i].next_hop);
        malformed |= !routable(dest); /* a Route or Request-URI of garbage: nta refuses it */
        const char *ident = sip_core_source_ident(core, dest);
        unsigned mtu = t[i].mtu ? t[i].mtu : ident ? EXTRA_MTU : 0;
        f->br[f->n].orq = nta_outgoing_mcreate(
            core->agent, on_response, (nta_outgoing_magic_t *)&f->br[f->n],
            (url_string_t const *)t[i].next_hop, t[i].msg, NTATAG_BRANCH_KEY(branch),
            TAG_IF(f->method == sip_method_invite, NTATAG_PASS_100(1)),
            TAG_IF(ident, TPTAG_IDENT(ident)), TAG_IF(mtu, TPTAG_MTU(mtu)), TAG_END());
        if (f->br[f->n].orq)
            f->n++;
        else /* nta returns NULL before it takes the message: it stays ours (a leak found by
              * t_mutation.sh's ASan run, a Route of garbage each time) */
            msg_destroy(t[i].msg);
    }
    if (!f->n) {
        free(f);
        /* nta refuses to send a request whose headers do not parse, or to a next hop that is
         * not a SIP URI with a host (a Route of garbage): the sender's fault, not ours (RFC 3261
         * 16.3, reasonable syntax). */
        if (malformed) {
            log_debug("sip: a request with malformed headers cannot be forwarded");
            return 400;
        }
        log_warn("sip: cannot create a client transaction to forward a request");
        return 500;
    }
    f->pending = f->n;
    fwd_link(f);
    /* Taken back from an earlier relay (sip_fwd_take), or spiralled: the same call attempt. */
    if (f->method == sip_method_invite && f->initial && core->dialogs)
        dialogs_attempt(core->dialogs);
    nta_incoming_bind(irq, on_cancel, (nta_incoming_magic_t *)f);
    return 0;
}

/* Bound to a transaction taken back from its relay until it is forked again, so the old relay
 * (freed) is not its magic any more and sip_fork can tell it is the same attempt. */
static int on_cancel_taken(nta_incoming_magic_t *magic, nta_incoming_t *irq, sip_t const *sip)
{
    return 0;
}

nta_incoming_t *sip_fwd_take(sip_fwd_t *f)
{
    nta_incoming_t *irq = f->irq;
    f->irq = NULL;
    f->final = 1;
    if (irq)
        nta_incoming_bind(irq, on_cancel_taken, (nta_incoming_magic_t *)f->core);
    return irq;
}

int sip_fwd_cancelled(const sip_fwd_t *f)
{
    return f->cancelled;
}

int sip_forward(sip_core_t *core, nta_incoming_t *irq, msg_t *msg, const url_t *next_hop,
                sip_fwd_response_f cb, void *ctx)
{
    sip_target_t t = {msg, next_hop, 0};
    return sip_fork(core, irq, &t, 1, cb, ctx);
}

int sip_forward_stateless(sip_core_t *core, msg_t *msg, const url_t *next_hop)
{
    sip_trace_msg(core->trace, msg, "sent");
    const char *ident = sip_core_source_ident(core, dest_of(msg, next_hop));
    nta_outgoing_t *orq = nta_outgoing_mcreate(
        core->agent, NULL, NULL, (url_string_t const *)next_hop, msg, NTATAG_STATELESS(1),
        TAG_IF(ident, TPTAG_IDENT(ident)), TAG_IF(ident, TPTAG_MTU(EXTRA_MTU)), TAG_END());
    if (!orq) /* refused: still ours (see sip_fork) */
        msg_destroy(msg);
    return orq ? 0 : -1;
}
