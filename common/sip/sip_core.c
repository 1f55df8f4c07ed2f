#include "common/sip/sip_hdr.h"
#include "common/sip/sip_core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_strlst.h>
#include <sofia-sip/su_tagarg.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/url.h>

#include "common/ops/config.h"
#include "common/ops/limits.h"
#include "common/sip/dialogs.h"
#include "common/sip/sip_answered.h"
#include "common/sip/sip_guard.h"
#include "common/util/clock.h"
#include "common/util/heap.h"
#include "common/util/kept.h"
#include "common/util/log.h"
#include "common/util/strmap.h"
#include "common/sip/sip_core_internal.h"
#include "common/sip/sip_trace.h"

/* Methods counted by name; anything else is "other" so hostile methods cannot add series. */
static const char *const known_methods[] = {"INVITE",   "ACK",       "CANCEL", "BYE",     "OPTIONS",
                                            "REGISTER", "PRACK",     "UPDATE", "INFO",    "MESSAGE",
                                            "REFER",    "SUBSCRIBE", "NOTIFY", "PUBLISH", NULL};

static const char *method_label(const char *name)
{
    for (size_t i = 0; known_methods[i]; i++)
        if (strcmp(known_methods[i], name) == 0)
            return known_methods[i];
    return "other";
}

int sip_tag_in_list(const char *list, const char *tag)
{
    size_t n = strlen(tag);
    for (const char *p = list ? list : ""; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn(p, ", ");
        if (len == n && len && strncasecmp(p, tag, n) == 0)
            return 1;
        p += len;
    }
    return 0;
}

/* A request tport delivered over TLS is marked so (sip_core_flow_of() says "tls:"), so that what
 * goes back to its flow takes the same connection. nta keeps no such mark, and which tport
 * delivered a message is known only while it is delivered (on_stray_message()): its addrinfo has a
 * spare field, its canonical name, which tport leaves unset on what it receives (and
 * msg_addr_copy() clears on copies). */
static const char tls_mark[] = "tls";

static void mark_tls(sip_core_t *core, msg_t *msg)
{
    if (!core->tls_self)
        return;
    tport_t *tp = nta_incoming_transport(core->agent, NULL, msg);
    if (tp && tport_has_tls(tp))
        msg_addrinfo(msg)->ai_canonname = (char *)tls_mark;
    tport_unref(tp);
}

int sip_core_msg_over_tls(msg_t *msg)
{
    su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;
    return ai && ai->ai_canonname == tls_mark;
}

msg_t *sip_incoming_request(nta_incoming_t *irq)
{
    return nta_incoming_getrequest(irq);
}

msg_t *sip_incoming_response(nta_incoming_t *irq)
{
    return nta_incoming_getresponse(irq);
}

int sip_incoming_status(nta_incoming_t *irq)
{
    return nta_incoming_status(irq);
}

/* The transaction dispatch_request() is handing to the program right now, and whether the
 * program released it meanwhile: nta's own leg callback defers such a destroy until the
 * callback returned (irq_in_callback), which our dispatch must do itself. Loop thread only. */
static nta_incoming_t *in_dispatch;
static int in_dispatch_released;

void sip_incoming_release(nta_incoming_t *irq, msg_t *msg)
{
    if (irq && irq == in_dispatch)
        in_dispatch_released = 1; /* dispatch_request() destroys it when the handler returned */
    else
        nta_incoming_destroy(irq);
    if (msg)
        msg_destroy(msg);
}

void sip_core_count_response(sip_core_t *core, int status)
{
    char code[8];
    snprintf(code, sizeof code, "%d", status >= 100 && status <= 699 ? status : 0);
    metric_inc(core->m_responses, code);
}

static void trace_irq(sip_core_t *core, nta_incoming_t *irq, int response)
{
    if (!core->trace)
        return;
    msg_t *m = response ? nta_incoming_getresponse(irq) : nta_incoming_getrequest(irq);
    sip_trace_msg(core->trace, m, response ? "sent" : "received");
    if (m)
        msg_destroy(m); /* get* returned a reference */
}

void sip_core_count_final(sip_core_t *core, nta_incoming_t *irq, int status)
{
    /* RFC 4320 section 4.1: nta ends a non-INVITE transaction with 408 but sends nothing. */
    if (!(status == 408 && irq && nta_incoming_method(irq) != sip_method_invite))
        sip_core_count_response(core, status);
    su_nanotime_t received = 0;
    if (status < 200 || !irq || !nta_incoming_received(irq, &received))
        return;
    /* nta keeps the arrival as an su_time_t; ours is taken and converted the same way. */
    su_time_t now = su_now();
    su_nanotime_t now_ns =
        (su_nanotime_t)now.tv_sec * 1000000000 + (su_nanotime_t)now.tv_usec * 1000;
    double took = (double)(now_ns - received) / 1e9;
    if (took >= 0 && took < 3600)
        metric_observe(core->m_duration, method_label(nta_incoming_method_name(irq)), took);
}

int sip_core_reply(sip_core_t *core, nta_incoming_t *irq, int status, const char *phrase,
                   tag_type_t tag, tag_value_t value, ...)
{
    ta_list ta;
    ta_start(ta, tag, value);
    int rc = nta_incoming_treply(irq, status, phrase ? phrase : sip_status_phrase(status),
                                 SIPTAG_SERVER_STR(core->cfg.server), ta_tags(ta));
    ta_end(ta);
    if (rc == 0) {
        sip_core_count_final(core, irq, status);
        trace_irq(core, irq, 1);
        if (status >= 200)
            sip_answered_keep(core->answered, irq);
    }
    log_debug("sent %d for %s (CSeq %u)", status, nta_incoming_method_name(irq),
              nta_incoming_cseq(irq));
    return rc;
}

static int unsupported_tags(const sip_core_t *core, const msg_list_t *h, char *out, size_t outlen);

int sip_core_check_require(sip_core_t *core, nta_incoming_t *irq, sip_t const *sip)
{
    char tags[256];
    if (!sip->sip_require ||
        !unsupported_tags(core, (const msg_list_t *)sip->sip_require, tags, sizeof tags))
        return 0;
    log_debug("unsupported Require: %s", tags);
    sip_core_reply(core, irq, SIP_420_BAD_EXTENSION, SIPTAG_UNSUPPORTED_STR(tags), TAG_END());
    return 420;
}

int sip_core_reply_options(sip_core_t *core, nta_incoming_t *irq, sip_t const *sip)
{
    int status = sip_core_check_require(core, irq, sip);
    if (status)
        return status;
    sip_core_reply(core, irq, SIP_200_OK, SIPTAG_ALLOW_STR(core->cfg.allow),
                   SIPTAG_SUPPORTED_STR(core->supported), SIPTAG_ACCEPT_STR(core->cfg.accept),
                   TAG_END());
    return 200;
}

/* Option tags in `h` (Require or Proxy-Require) that we do not support, comma-joined. */
static int unsupported_tags(const sip_core_t *core, const msg_list_t *h, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (; h; h = h->k_next) {
        for (size_t i = 0; h->k_items && h->k_items[i]; i++) {
            if (sip_tag_in_list(core->supported, h->k_items[i]))
                continue;
            int w = snprintf(out + n, outlen - n, "%s%s", n ? ", " : "", h->k_items[i]);
            if (w < 0 || (size_t)w >= outlen - n)
                return 1;
            n += (size_t)w;
        }
    }
    return n > 0;
}

/* sip:, sips:, tel:, and the service URNs of RFC 5031 (urn:service:sos, which a handset calls
 * for an emergency, TS 24.229 5.1.6): a proxy routes those on a Route or its own policy. */
static int is_sip_scheme(const url_t *u)
{
    return u->url_type == url_sip || u->url_type == url_sips || u->url_type == url_tel ||
           sip_url_urn_service(u);
}

/* sip.max_message_size is ours to enforce since nta's own limit leaves room for a TCP backlog
 * (sip_core_new); the body is what makes a message large. */
static int body_too_large(const sip_core_t *core, sip_t const *sip)
{
    return sip->sip_content_length &&
           sip->sip_content_length->l_length > core->cfg.max_message_size;
}

/* A request refused for its own form: what to answer. */
typedef struct refusal {
    int status; /* 0: none */
    const char *phrase;
    char unsupported[256]; /* for a 420: the Proxy-Require tags we lack */
} refusal_t;

/* The checks every element makes before it acts on a request (RFC 3261 8.2.2, 16.3). They need
 * nothing but the message, so they run once, before the stateless/stateful choice
 * (answer_stateless()), and a refused request never gets a transaction. 1 when refused. */
static int refuse_request(const sip_core_t *core, sip_t const *sip, refusal_t *out)
{
    if (sip_guard_duplicate_single(sip)) {
        log_debug("a header that may appear once appears twice");
        *out = (refusal_t){.status = 400, .phrase = "Duplicate Header"};
    } else if (body_too_large(core, sip)) {
        log_debug("request body of %lu bytes over sip.max_message_size",
                  (unsigned long)sip->sip_content_length->l_length);
        *out = (refusal_t){.status = 413, .phrase = sip_413_Request_too_large};
    } else if (!is_sip_scheme(sip->sip_request->rq_url)) {
        log_debug("unsupported Request-URI scheme");
        *out = (refusal_t){.status = 416, .phrase = sip_416_Unsupported_uri};
    } else if (sip->sip_proxy_require &&
               unsupported_tags(core, (const msg_list_t *)sip->sip_proxy_require, out->unsupported,
                                sizeof out->unsupported)) {
        log_debug("unsupported Proxy-Require: %s", out->unsupported);
        out->status = 420;
        out->phrase = sip_420_Bad_extension;
    }
    return out->status != 0;
}

static int handle_request(sip_core_t *core, nta_incoming_t *irq, sip_t const *sip)
{
    const char *method = sip->sip_request->rq_method_name;
    metric_inc(core->m_requests, method_label(method));
    trace_irq(core, irq, 0);
    log_debug("recv %s %s", method,
              sip->sip_request->rq_url->url_host ? sip->sip_request->rq_url->url_host : "");

    if (sip->sip_request->rq_method == sip_method_ack) {
        /* nta never answers an ACK; any status just lets it free the transaction. A malformed
         * one goes no further (sip_guard.h). */
        if (!sip_guard_duplicate_single(sip)) {
            dialogs_ack(core->dialogs, sip); /* a call confirmed */
            core->handler(core->app, core, irq, sip);
        }
        return 200;
    }

    if (core->draining) {
        sip_core_reply(core, irq, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("5"),
                       TAG_END());
        return 503;
    }
    /* refuse_request() already ran (answer_stateless()). */
    int status = core->handler(core->app, core, irq, sip);
    /* Count only what nta will still send for us; sip_core_reply() counted the rest. */
    if (status >= 100 && nta_incoming_status(irq) < 200)
        sip_core_count_final(core, irq, status);
    return status;
}

/* ---- requests without a transaction yet ----
 *
 * The agent runs stateless (NTATAG_STATELESS): nta matches retransmissions, ACKs and CANCELs
 * to the transactions it holds, and hands every other request to on_stray_message(). Requests
 * answered at once without any state (OPTIONS to this node; 503 at a cap) get their answer
 * there without a server transaction: nta would otherwise keep the request and the response
 * (about 10 KiB) for Timer J, 32 s over UDP, and a flood of them would grow the heap past any
 * cap. RFC 3261 8.2.7 lets a UAS answer statelessly; a retransmission is simply answered again.
 * Everything else gets its server transaction here (nta_incoming_create()) and goes on as
 * nta's default leg would take it (leg_recv() in nta.c, which this mirrors). */

/* RFC 3261 8.2.7: a stateless UAS gives the same To tag to every retransmission of a request.
 * One tag per process does that, and lets the ACK to a non-2xx answer be recognised: it comes
 * in a new transaction of its own and must go no further (absorb_ack()). */
static void reply_stateless(sip_core_t *core, msg_t *msg, int status, const char *phrase,
                            tag_type_t tag, tag_value_t value, ...)
{
    sip_t const *req = sip_object(msg);
    sip_to_t *to = NULL;
    if (req && req->sip_to && !req->sip_to->a_tag && core->sl_tag &&
        (to = sip_to_dup(msg_home(msg), req->sip_to)) &&
        sip_to_tag(msg_home(msg), to, core->sl_tag) < 0)
        to = NULL;
    ta_list ta;
    ta_start(ta, tag, value);
    /* nta_msg_treply() takes the request message in all cases. */
    if (nta_msg_treply(core->agent, msg, status, phrase ? phrase : sip_status_phrase(status),
                       SIPTAG_SERVER_STR(core->cfg.server), TAG_IF(to, SIPTAG_TO(to)),
                       ta_tags(ta)) == 0)
        sip_core_count_response(core, status);
    ta_end(ta);
    log_debug("sent %d statelessly", status);
}

/* An ACK to one of our stateless non-2xx answers ends there (nta's server transaction would have
 * absorbed it); relayed along its Route it would reach the callee, or a DNS lookup. */
static int absorb_ack(sip_core_t *core, msg_t *msg, sip_t const *sip)
{
    if (!sip->sip_to || !sip->sip_to->a_tag || !core->sl_tag ||
        strcmp(sip->sip_to->a_tag, core->sl_tag) != 0)
        return 0;
    log_debug("ACK to a stateless answer absorbed");
    msg_destroy(msg);
    return 1;
}

/* OPTIONS to this node (sip_core_reply_options() without a transaction). */
static void options_stateless(sip_core_t *core, msg_t *msg, sip_t const *sip)
{
    char tags[256];
    if (core->draining) {
        reply_stateless(core, msg, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("5"),
                        TAG_END());
    } else if (sip->sip_require &&
               unsupported_tags(core, (const msg_list_t *)sip->sip_require, tags, sizeof tags)) {
        reply_stateless(core, msg, SIP_420_BAD_EXTENSION, SIPTAG_UNSUPPORTED_STR(tags), TAG_END());
    } else {
        reply_stateless(core, msg, SIP_200_OK, SIPTAG_ALLOW_STR(core->cfg.allow),
                        SIPTAG_SUPPORTED_STR(core->supported), SIPTAG_ACCEPT_STR(core->cfg.accept),
                        TAG_END());
    }
}

/* The transactions limits.transactions counts: nta's, server and client, 10-20 KiB each (an
 * answered INVITE's, or a request sent over UDP, stays T4 after its answer; an INVITE branch
 * over UDP is the proxy's after its first provisional, sip_proxy.c). Not the answers kept as
 * bytes (sip_answered.h, under 1 KiB each, a table of their own): counted here they refused
 * sustained load the memory could hold (5,000 MESSAGE/s keep 160,000 of them). */
static size_t nta_held(sip_core_t *core)
{
    usize_t irqs = 0, orqs = 0;
    nta_agent_get_stats(core->agent, NTATAG_S_IRQ_HASH_USED_REF(irqs),
                        NTATAG_S_ORQ_HASH_USED_REF(orqs), TAG_END());
    return irqs + orqs;
}

/* Would a server transaction for this request take the agent past a cap? Then it is refused
 * with 503 without one. Work admitted already (ongoing) may use the cap's reserve. */
static cap_t *over_cap(sip_core_t *core, sip_t const *sip, int ongoing)
{
    size_t held = nta_held(core);
    if (!(ongoing ? cap_admit_reserved : cap_admit)(core->cap_transactions, held))
        return core->cap_transactions;
    if (sip->sip_request->rq_method == sip_method_invite &&
        !(ongoing ? cap_admit_reserved : cap_admit)(core->cap_invites, core->inflight_invites))
        return core->cap_invites;
    return NULL;
}

/* 1 when the request was answered here without a transaction (the message is gone). */
static int answer_stateless(sip_core_t *core, msg_t *msg, sip_t const *sip)
{
    sip_method_t method = sip->sip_request->rq_method;
    const char *phrase = NULL;
    char retry[16];
    /* Admission first: a refused request should cost as little as possible (no transaction). */
    int ongoing = sip->sip_to && sip->sip_to->a_tag; /* without admission control: a dialog's */
    int refused =
        core->adm && sip_adm_check(core->adm, msg, sip, &phrase, retry, sizeof retry, &ongoing);
    if (method == sip_method_ack)
        return absorb_ack(core, msg, sip); /* never refused; the program relays ACKs for 2xx */
    refusal_t bad = {0};
    int malformed = !refused && refuse_request(core, sip, &bad);
    int options = !refused && !malformed && method == sip_method_options &&
                  sip_core_request_is_for_us(core, sip);
    cap_t *full = refused || malformed || options ? NULL : over_cap(core, sip, ongoing);
    if (!refused && !malformed && !options && !full)
        return 0;
    metric_inc(core->m_requests, method_label(sip->sip_request->rq_method_name));
    sip_trace_msg(core->trace, msg, "received");
    if (refused)
        reply_stateless(core, msg, 503, phrase, SIPTAG_RETRY_AFTER_STR(retry), TAG_END());
    else if (malformed)
        reply_stateless(core, msg, bad.status, bad.phrase,
                        TAG_IF(bad.unsupported[0], SIPTAG_UNSUPPORTED_STR(bad.unsupported)),
                        TAG_END());
    else if (options)
        options_stateless(core, msg, sip);
    else
        reply_stateless(core, msg, SIP_503_SERVICE_UNAVAILABLE,
                        SIPTAG_RETRY_AFTER_STR(cap_retry_after(full)), TAG_END());
    return 1;
}

/* After the handler: what nta's leg_recv() does with the status a leg callback returns. */
static void finish_dispatch(sip_core_t *core, nta_incoming_t *irq, sip_t const *sip, int status,
                            int released)
{
    if (released && status < 200)
        status = 500; /* released unanswered: nta would answer 500 too */
    if (status == 0)
        return; /* the program keeps the transaction */
    if (status < 100 || status > 699 ||
        (sip->sip_request->rq_method == sip_method_invite && status < 300 && status >= 200))
        status = 500;
    if (nta_incoming_status(irq) < 200 && nta_incoming_treply(irq, status, NULL, TAG_END()) == 0 &&
        status >= 200)
        sip_answered_keep(core->answered, irq);
    if (status >= 200)
        nta_incoming_destroy(irq);
}

static void dispatch_request(sip_core_t *core, msg_t *msg, sip_t *sip)
{
    /* A retransmission of a request answered already (sip_answered.h) is answered again, also
     * under overload: it costs less than anything else here. */
    if (sip_answered_absorb(core->answered, core->agent, msg, sip) ||
        answer_stateless(core, msg, sip))
        return;
    /* nta takes the message, also when it fails (then the client's retransmission tries again). */
    nta_incoming_t *irq = sip_answered_incoming_create(core->agent, msg, sip);
    if (!irq) {
        log_warn("sip: cannot create a server transaction (out of memory?)");
        return;
    }
    nta_incoming_t *outer = in_dispatch;
    int outer_released = in_dispatch_released;
    in_dispatch = irq;
    in_dispatch_released = 0;
    int status = handle_request(core, irq, sip);
    int released = in_dispatch_released;
    in_dispatch = outer;
    in_dispatch_released = outer_released;
    finish_dispatch(core, irq, sip, status, released);
}

/* A 2xx to an INVITE that comes after the branch ended is a retransmission from a callee whose
 * ACK was lost (or a second answering branch): RFC 3261 16.7 step 10 (and RFC 6026) has a proxy
 * pass it on, or the caller never ACKs and the callee gives up. It is sent on statelessly, only
 * when the top Via is ours with a branch we make, so a forged response cannot be bounced off us. */
static int relay_late_2xx(sip_core_t *core, msg_t *msg, sip_t *sip)
{
    sip_via_t const *v = sip->sip_via;
    if (!sip->sip_cseq || sip->sip_cseq->cs_method != sip_method_invite ||
        sip_guard_duplicate_single(sip) || sip->sip_status->st_status >= 300 || !v || !v->v_next ||
        !v->v_branch || strncmp(v->v_branch, "z9hG4bK", 7) != 0)
        return -1;
    url_t u;
    memset(&u, 0, sizeof u);
    u.url_type = url_sip;
    u.url_host = v->v_host;
    u.url_port = v->v_port;
    if (!sip_core_is_node(core, &u))
        return -1;
    int status = sip->sip_status->st_status; /* msg is nta's (and soon gone) once sent */
    if (core->screen_response) /* as for any relayed response (sip_proxy_set_response_screen) */
        core->screen_response(core->screen_ctx, msg, sip);
    /* nta_msg_tsend() takes our Via off itself and sends to the next one. */
    if (nta_msg_tsend(core->agent, msg, NULL, TAG_END()) < 0)
        return 0; /* nta freed it */
    log_debug("relayed a late %d to INVITE upstream", status);
    return 0;
}

/* Other responses nta cannot match to a client transaction: a stateful proxy has nowhere to send
 * them (RFC 3261 16.7 allows stateless forwarding; we never forward unknown responses so a
 * forged one cannot be bounced off us). */
static int on_stray_message(nta_agent_magic_t *magic, nta_agent_t *agent, msg_t *msg, sip_t *sip)
{
    sip_core_t *core = (sip_core_t *)magic;
    log_ctx_begin(sip && sip->sip_call_id ? sip->sip_call_id->i_id : NULL);
    if (sip && sip->sip_request && core) {
        mark_tls(core, msg);
        dispatch_request(core, msg, sip);
        log_ctx_clear();
        return 0;
    }
    if (sip && sip->sip_status && core && core->fwd_stray && core->fwd_stray(core, msg, sip) == 0) {
        log_ctx_clear();
        return 0;
    }
    if (sip && sip->sip_status && core && relay_late_2xx(core, msg, sip) == 0) {
        log_ctx_clear();
        return 0;
    }
    if (sip && sip->sip_status)
        log_debug("dropping a response that matches no transaction (%d)",
                  sip->sip_status->st_status);
    msg_destroy(msg);
    log_ctx_clear();
    return 0;
}

/* One UDP socket carries every handset and every peer. The kernel's default receive buffer
 * (208 KiB, about 90 datagrams of 1 KiB with their overhead) overflows in a few milliseconds of
 * a busy loop at a few thousand messages/s. Admission control holds the queue near its target
 * (100 ms), but its lag swings past that in a flood; the buffer is what absorbs the swing, and
 * a datagram it cannot hold is a lost request. 4 MiB held 3,640 datagrams of 800 bytes (about
 * 0.24 s of t_flood.sh's 15,000 a second at the pcscf: 16,000 dropped in its flood); 16 MiB
 * holds 14,500, about a second, and none were dropped. The memory is the kernel's and only
 * while datagrams wait. tport sets it with SO_RCVBUFFORCE (root or CAP_NET_ADMIN, which the
 * pcscf has for IPsec); without, the kernel caps it at net.core.rmem_max. */
enum { UDP_RMEM = 16 << 20 };

/* What tport holds for a connection whose socket will take no more: 64 messages by default
 * (TPORT_QUEUESIZE), after which a send fails with ENOBUFS. A request with a transaction then
 * gets nta's error answer, but an ACK for a 2xx, sent without one, is simply gone, and the
 * callee ends the call when its 200's retransmissions go unacknowledged (its BYE then goes
 * unanswered). Between the CSCFs 64 is a twentieth of a second of calls at 1,300/s, and a
 * flood's backlog on the core leg is longer (t_flood.sh in CI: 476 calls lost at the BYE with
 * no datagram dropped). 1,000 is the most tport allows. */
enum { TCP_QUEUE = 1000 };

/* Every listener has an ident: tport's lookup by ident compares it with strcmp(). */
static int bind_one(sip_core_t *core, const char *hostport, const char *ident)
{
    for (size_t t = 0; t < core->cfg.ntransports; t++) {
        char url[300];
        snprintf(url, sizeof url, "sip:%s;transport=%s", hostport, core->cfg.transports[t]);
        if (nta_agent_add_tport(core->agent, URL_STRING_MAKE(url), TPTAG_UDP_RMEM(UDP_RMEM),
                                TPTAG_QUEUESIZE(TCP_QUEUE), TPTAG_IDENT(ident), TAG_END()) < 0) {
            log_error("sip: cannot listen on %s (%s)", url, strerror(errno));
            return -1;
        }
        log_info("sip: listening on %s", url);
    }
    return 0;
}

static const char *verify_name(unsigned verify)
{
    static const char *const names[] = {"none", "incoming", "outgoing", "both"};
    return names[verify & 3];
}

/* Which names bind_tls() has sofia check (sip_tls_policy()). */
static const char *names_checked(const sip_tls_config_t *tc)
{
    unsigned p = sip_tls_policy(tc);
    int out = (p & TPTLS_VERIFY_SUBJECTS_OUT) == TPTLS_VERIFY_SUBJECTS_OUT;
    int in = (p & TPTLS_VERIFY_SUBJECTS_IN) == TPTLS_VERIFY_SUBJECTS_IN;
    return out && in ? "servers dialled, clients"
           : out     ? "servers dialled"
           : in      ? "clients"
                     : "none";
}

/* sip.tls.allowed_subjects as sofia takes them; NULL for none (or out of memory, logged). */
static su_strlst_t *tls_subjects(sip_core_t *core)
{
    const sip_tls_config_t *tc = &core->cfg.tls;
    if (!tc->nsubjects)
        return NULL;
    su_strlst_t *l = su_strlst_create(NULL);
    for (size_t i = 0; l && i < tc->nsubjects; i++)
        if (!su_strlst_dup_append(l, tc->subjects[i])) {
            su_strlst_destroy(l);
            l = NULL;
        }
    if (!l)
        log_error("sip.tls.allowed_subjects: out of memory");
    return l;
}

/* A peer's certificate refused for its names (sip_tls_watch()): counted every time, logged
 * when the host changes or after 60 s without one, so a peer retrying does not flood the log.
 * Its requests get nta's 503 as for any connection that fails (TPTAG_SDWN_ERROR below), which a
 * proxied request relays upstream as 500 (sip_proxy.c: reply_own()). */
static void on_tls_names(void *arg, const char *host)
{
    sip_core_t *core = arg;
    metric_inc(core->m_tls_names, *host ? "outgoing" : "incoming");
    time_t now = time(NULL);
    if (strcmp(core->tls_names_last, host) == 0 && now - core->tls_names_at < 60)
        return;
    snprintf(core->tls_names_last, sizeof core->tls_names_last, "%s", host);
    core->tls_names_at = now;
    if (*host)
        log_warn("sip: TLS connection to %s refused: its certificate does not name %s "
                 "(sip.tls.verify_peer_names); its requests fail at once (503, relayed as 500)",
                 host, host);
    else
        log_warn("sip: TLS connection from a client refused: its certificate names none of "
                 "sip.tls.allowed_subjects");
}

static void watch_tls_names(sip_core_t *core)
{
    core->m_tls_names =
        metrics_counter(core->metrics, "cscf_tls_name_mismatch_total",
                        "TLS connections refused because the peer's certificate does not name "
                        "the host dialled (outgoing) or none of sip.tls.allowed_subjects "
                        "(incoming)",
                        "direction");
    sip_tls_watch(on_tls_names, core);
}

/* The TLS listener (sip.tls.*, sip_tls.h). sofia reads the certificate directory while it binds
 * the transport, so the staged copy is removed as soon as that returned. Its ident is the
 * default one: requests to a transport=tls or sips: URI leave from it. */
static int bind_tls(sip_core_t *core)
{
    const sip_tls_config_t *tc = &core->cfg.tls;
    char dir[400], url[300];
    if (sip_tls_stage(tc, dir, sizeof dir) < 0)
        return -1;
    /* sips: (nta binds TLS only for a sips: URI; transport=tls keeps it to TLS alone). */
    snprintf(url, sizeof url, "sips:%s;transport=tls", tc->listen);
    su_strlst_t *subjects = tls_subjects(core);
    if (tc->nsubjects && !subjects) {
        sip_tls_unstage(dir);
        return -1;
    }
    watch_tls_names(core);
    /* TPTAG_TLS_VERSION(0): OpenSSL's negotiating method (1 would be TLS 1.0 alone). sofia
     * copies the subjects list into the primary transport. TPTAG_SDWN_ERROR(1): a connection
     * sofia closes (a certificate refused in the handshake, a peer that closed) reports to the
     * requests pending on it, which get nta's 503 at once instead of waiting for their timer
     * (nta turns it off for its other transports). */
    int rc = nta_agent_add_tport(core->agent, URL_STRING_MAKE(url), TPTAG_CERTIFICATE(dir),
                                 TPTAG_TLS_VERSION(0), TPTAG_TLS_VERIFY_POLICY(sip_tls_policy(tc)),
                                 TPTAG_TLS_VERIFY_SUBJECTS(subjects), TPTAG_TLS_VERIFY_DATE(1),
                                 TPTAG_SDWN_ERROR(1), TPTAG_QUEUESIZE(TCP_QUEUE),
                                 TPTAG_IDENT(SIP_CORE_IDENT_DEFAULT), TAG_END());
    int err = errno;
    sip_tls_unstage(dir);
    su_strlst_destroy(subjects);
    if (rc < 0) {
        log_error("sip: cannot listen on %s (%s)", url, strerror(err));
        return -1;
    }
    log_info("sip: listening on %s (certificate %s, peers verified: %s, names checked: %s, TLS "
             "%u.%u or later)",
             url, tc->certificate, verify_name(tc->verify), names_checked(tc), tc->min_version / 10,
             tc->min_version % 10);
    return 0;
}

static int bind_listeners(sip_core_t *core)
{
    for (size_t i = 0; i < core->cfg.nlisten; i++)
        if (bind_one(core, core->cfg.listen[i], SIP_CORE_IDENT_DEFAULT) < 0)
            return -1;
    return core->tls_self ? bind_tls(core) : 0;
}

int sip_core_add_listener(sip_core_t *core, const char *hostport, const char *ident)
{
    /* nta makes its Vias anew for every transport added and frees the old ones, which the
     * connections (secondary transports) made so far still point to: a request sent over one of
     * them later reads freed memory. So listeners are added before anything was sent. */
    if (nta_held(core)) {
        log_error("sip: listener %s added after SIP traffic began (a bug: add it at start-up)",
                  hostport);
        return -1;
    }
    char **grown =
        su_realloc(core->home, core->extra_listen, (core->nextra + 1) * sizeof *core->extra_listen);
    if (!grown)
        return -1;
    core->extra_listen = grown;
    if (!(grown[core->nextra] = su_strdup(core->home, hostport)))
        return -1;
    if (bind_one(core, hostport, ident) < 0)
        return -1;
    core->nextra++;
    core->nudp = sip_udp_listeners(core->agent, core->udp, SIP_UDP_LISTENERS_MAX);
    if (core->adm)
        sip_adm_find_listeners(core->adm);
    if (core->udp_turn)
        sip_udp_turn_refresh(core->udp_turn, core->udp, core->nudp);
    return 0;
}

int sip_core_add_supported(sip_core_t *core, const char *tag)
{
    if (sip_tag_in_list(core->supported, tag))
        return 0;
    char *s = core->supported && *core->supported
                  ? su_sprintf(core->home, "%s, %s", core->supported, tag)
                  : su_strdup(core->home, tag);
    if (!s)
        return -1;
    core->supported = s;
    return 0;
}

unsigned sip_incoming_local_port(sip_core_t *core, sip_incoming_t *irq)
{
    tport_t *tp = nta_incoming_transport(core->agent, irq, NULL);
    tport_t *pri = tp && !tport_is_primary(tp) ? tport_parent(tp) : tp;
    const tp_name_t *n = pri ? tport_name(pri) : NULL;
    unsigned port = n && n->tpn_port ? (unsigned)strtoul(n->tpn_port, NULL, 10) : 0;
    tport_unref(tp);
    return port;
}

void sip_core_set_source(sip_core_t *core, sip_core_source_f fn, void *ctx)
{
    core->source = fn;
    core->source_ctx = ctx;
}

const char *sip_core_source_ident(sip_core_t *core, const url_t *dest)
{
    return core->source && dest ? core->source(core->source_ctx, dest) : NULL;
}

/* The TLS listener's URI: its port, with the host of sip.advertise when that is set. */
static int make_tls_url(sip_core_t *core)
{
    const char *listen = core->cfg.tls.listen;
    char host[256], adv_host[256], buf[300];
    int port, adv_port;
    if (!listen || !*listen)
        return 0;
    if (cfg_split_addr(listen, host, sizeof host, &port) < 0)
        return -1;
    if (core->cfg.advertise &&
        cfg_split_addr(core->cfg.advertise, adv_host, sizeof adv_host, &adv_port) == 0)
        snprintf(host, sizeof host, "%s", adv_host);
    int v6 = strchr(host, ':') != NULL;
    snprintf(buf, sizeof buf, "sip:%s%s%s:%d;transport=tls;lr", v6 ? "[" : "", host, v6 ? "]" : "",
             port);
    core->tls_self = url_hdup(core->home, URL_STRING_MAKE(buf)->us_url);
    core->tls_hostport = su_strdup(core->home, buf + 4);
    if (core->tls_hostport)
        core->tls_hostport[strcspn(core->tls_hostport, ";")] = '\0';
    return core->tls_self && core->tls_hostport ? 0 : -1;
}

static int make_self_url(sip_core_t *core)
{
    const char *adv = core->cfg.advertise ? core->cfg.advertise : core->cfg.listen[0];
    char buf[300];
    snprintf(buf, sizeof buf, "sip:%s;lr", adv);
    core->self = url_hdup(core->home, URL_STRING_MAKE(buf)->us_url);
    int tcp = 0;
    for (size_t i = 0; i < core->cfg.ntransports; i++)
        tcp |= strcasecmp(core->cfg.transports[i], "tcp") == 0;
    if (tcp) {
        snprintf(buf, sizeof buf, "sip:%s;transport=tcp;lr", adv);
        if (!(core->tcp_self = url_hdup(core->home, URL_STRING_MAKE(buf)->us_url)))
            return -1;
    }
    return core->self && make_tls_url(core) == 0 ? 0 : -1;
}

const url_t *sip_core_tcp_url(const sip_core_t *core)
{
    return core->tcp_self;
}

const url_t *sip_core_tls_url(const sip_core_t *core)
{
    return core->tls_self;
}

void sip_core_publish_stats(sip_core_t *core)
{
    usize_t bad_req = 0, bad_resp = 0, irqs = 0, orqs = 0;
    nta_agent_get_stats(core->agent, NTATAG_S_BAD_REQUEST_REF(bad_req),
                        NTATAG_S_BAD_RESPONSE_REF(bad_resp), NTATAG_S_IRQ_HASH_USED_REF(irqs),
                        NTATAG_S_ORQ_HASH_USED_REF(orqs), TAG_END());
    /* nta keeps totals; our counter gets what is new since the last look. */
    metric_addv(core->m_bad, (const char *[]){"request"}, (double)(bad_req - core->bad_seen[0]));
    metric_addv(core->m_bad, (const char *[]){"response"}, (double)(bad_resp - core->bad_seen[1]));
    core->bad_seen[0] = bad_req;
    core->bad_seen[1] = bad_resp;
    cap_update(core->cap_transactions, irqs + orqs);
    /* The answers kept for retransmissions are what nta's completed transactions were. */
    irqs += sip_answered_count(core->answered);
    metric_set(core->m_transactions, "server", (double)irqs);
    metric_set(core->m_transactions, "client", (double)orqs);
    uint64_t absorbed = sip_answered_absorbed(core->answered);
    metric_addv(core->m_absorbed, NULL, (double)(absorbed - core->absorbed_seen));
    core->absorbed_seen = absorbed;
    uint64_t turn = sip_udp_turn_reads(core->udp_turn);
    metric_addv(core->m_turn_reads, NULL, (double)(turn - core->turn_reads_seen));
    core->turn_reads_seen = turn;
    cap_update(core->cap_relays, core->inflight);
    cap_update(core->cap_invites, core->inflight_invites);
    if (core->adm)
        sip_adm_publish(core->adm);
}

/* After a burst, nta frees the transactions it kept for Timer J, but the allocator keeps the
 * freed pages (RSS stays at the peak: 1 GiB after 10,000 registrations). Once the transactions held
 * fall to half their peak, give the free pages back. Looked at every second (nta's counters
 * are cheap) so a short burst's peak is seen; a trim needs a drop of TRIM_MIN_DROP (about
 * 5 MiB of transactions), so heap_release(), which walks the heap, runs at most a few times
 * while a burst drains. Halving stops short of the end (the last halving leaves 500-1,000
 * transactions, which go without a trim: t_flood.sh's pcscf stayed at 100 MiB), so a last trim
 * runs once no more than TRIM_IDLE are left. */
enum { TRIM_CHECK_MS = 1000, TRIM_MIN_DROP = 500, TRIM_IDLE = 100 };

static void trim_check(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    sip_core_t *core = (sip_core_t *)arg;
    sip_answered_expire(core->answered, clock_mono_ms());
    kept_expire(core->acked, clock_mono_ms());
    usize_t held = nta_held(core) + sip_answered_count(core->answered);
    if (held > core->held_peak)
        core->held_peak = held;
    int halved = core->held_peak - held >= TRIM_MIN_DROP && held < core->held_peak / 2;
    int drained = held <= TRIM_IDLE && core->held_peak > 2 * TRIM_IDLE;
    if (halved || drained) {
        heap_release();
        metric_inc(core->m_trims, NULL);
        core->held_peak = held;
    }
}

static void register_metrics(sip_core_t *core)
{
    core->m_requests = metrics_counter(core->metrics, "cscf_sip_requests_total",
                                       "SIP requests received, by method", "method");
    core->m_responses = metrics_counter(core->metrics, "cscf_sip_responses_total",
                                        "SIP responses sent or relayed, by status code", "code");
    static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.25,  0.5,    1,     2.5,  5,     10,   32};
    core->m_duration = metrics_histogram(
        core->metrics, "cscf_sip_transaction_duration_seconds",
        "from a request's arrival to the final response this node sent or relayed for it, by "
        "method",
        "method", bounds, sizeof bounds / sizeof bounds[0]);
    core->m_bad =
        metrics_counter(core->metrics, "cscf_sip_bad_messages_total",
                        "malformed SIP messages rejected or dropped by the stack, by kind", "kind");
    core->m_trims = metrics_counter(core->metrics, "cscf_heap_trims_total",
                                    "times the heap's free pages went back to the system "
                                    "(common/util/heap.c) after the transactions held fell",
                                    NULL);
    core->m_transactions =
        metrics_gauge(core->metrics, "cscf_sip_transactions",
                      "SIP transactions the stack holds, including completed ones it keeps "
                      "for retransmissions, by side",
                      "side");
    core->m_absorbed = metrics_counter(
        core->metrics, "cscf_sip_retransmissions_answered_total",
        "retransmitted non-INVITE requests over UDP answered again from the kept final "
        "responses (common/sip/sip_answered.h)",
        NULL);
    core->m_turn_reads = metrics_counter(
        core->metrics, "cscf_sip_udp_turn_reads_total",
        "datagrams read from the UDP listeners before a turn of the loop, beyond the one read "
        "per readiness event (common/sip/sip_udp_turn.c)",
        NULL);
}

/* Often enough that a call nobody ended (its 2xx never ACKed) leaves the count of
 * limits.dialogs soon after 64*T1; a pass over 100,000 dialogs takes about a millisecond. */
enum { DIALOG_SWEEP_MS = 5000 };

static void sweep_dialogs(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    sip_core_t *core = (sip_core_t *)arg;
    dialogs_sweep(core->dialogs, time(NULL));
    if (core->fwd_sweep)
        core->fwd_sweep(core, clock_mono_ms());
}

unsigned sip_core_retry_after(const sip_core_t *core)
{
    return core->cfg.retry_after ? core->cfg.retry_after : 5;
}

struct dialogs *sip_core_dialogs(const sip_core_t *core)
{
    return core->dialogs;
}

/* nta applies its message size limit (NTATAG_MAXSIZE) to each read from a connection, and a
 * read that goes past it makes tport drop the connection with every message on it. Our
 * su_getmsgsize() (sip_stream_read.c) keeps each read to sip_stream_read_max(), however far the
 * peer got ahead of us, so nta's limit needs room for one message of sip.max_message_size being
 * received plus one read; refuse_request() enforces sip.max_message_size itself (413). */
static usize_t nta_maxsize(const sip_core_config_t *cfg)
{
    return (usize_t)cfg->max_message_size + sip_stream_read_max();
}

sip_core_t *sip_core_new(su_root_t *root, const sip_core_config_t *cfg, metrics_t *metrics,
                         sip_request_f handler, void *app)
{
    sip_core_t *core = su_home_new(sizeof *core);
    if (!core)
        return NULL;
    core->root = root;
    core->cfg = *cfg;
    core->metrics = metrics;
    core->handler = handler;
    core->app = app;
    core->supported = su_strdup(core->home, cfg->supported ? cfg->supported : "");
    register_metrics(core);
    sip_send_errors_watch(core);
    if (!cfg->nlisten || make_self_url(core) < 0)
        goto fail;

    if (!core->cfg.max_pending)
        core->cfg.max_pending = 10000;
    unsigned retry = cfg->retry_after ? cfg->retry_after : 5;
    core->cap_transactions = cap_new(metrics, "transactions", "limits.transactions",
                                     cfg->max_transactions ? cfg->max_transactions : 100000, retry);
    core->cap_relays = cap_new(metrics, "relays", "limits.relays",
                               cfg->max_relays ? cfg->max_relays : 20000, retry);
    core->cap_invites = cap_new(metrics, "pending_invites", "sip.max_pending_invites",
                                core->cfg.max_pending, retry);
    /* As long as nta would have kept their transactions (Timer J); at most limits.transactions
     * of them, the oldest dropped first (they are not counted in the transactions cap). */
    core->answered = sip_answered_new(cfg->t1x64_ms ? cfg->t1x64_ms : 32000,
                                      cfg->max_transactions ? cfg->max_transactions : 100000);
    core->acked = kept_new(cfg->t1x64_ms ? cfg->t1x64_ms : 32000,
                           cfg->max_transactions ? cfg->max_transactions : 100000);
    core->detached = strmap_new();
    if (!core->cap_transactions || !core->cap_relays || !core->cap_invites || !core->answered ||
        !core->acked || !core->detached)
        goto fail;
    /* Stateless: requests that match no transaction come to on_stray_message(), which makes
     * server transactions only for what needs one (dispatch_request()). */
    core->agent = nta_agent_create(
        root, (url_string_t *)-1, on_stray_message, (nta_agent_magic_t *)core, NTATAG_UA(0),
        NTATAG_STATELESS(1), NTATAG_CANCEL_487(0), NTATAG_SERVER_RPORT(2), NTATAG_CLIENT_RPORT(1),
        NTATAG_MAXSIZE(nta_maxsize(cfg)),
        NTATAG_MAX_PROCEEDING(core->cfg.max_pending + core->cfg.max_pending / 10 + 1),
        TAG_IF(cfg->t1x64_ms, NTATAG_SIP_T1X64(cfg->t1x64_ms)),
        TAG_IF(cfg->t4_ms, NTATAG_SIP_T4(cfg->t4_ms)), TAG_END());
    if (!sip_stun_off() || !sip_timer_wait_rounded() || !core->agent || bind_listeners(core) < 0)
        goto fail;
    core->sl_tag = nta_agent_newtag(core->home, "sl-%s", core->agent);
    if (nta_agent_set_params(core->agent, NTATAG_MCLASS(sip_guard_mclass()), TAG_END()) < 0)
        goto fail; /* the stream-read guard (sip_guard.c) */
    /* A 2xx is retransmitted for 64*T1 waiting for its ACK (RFC 3261 13.3.1.4). */
    int64_t ack_wait = ((cfg->t1x64_ms ? cfg->t1x64_ms : 32000) + 999) / 1000;
    core->dialogs = dialogs_new(metrics, cfg->max_dialogs ? cfg->max_dialogs : 100000, 12 * 3600,
                                ack_wait, retry);
    core->trace = sip_trace_new();
    core->sweep = su_timer_create(su_root_task(root), DIALOG_SWEEP_MS);
    if (!core->dialogs || !core->trace || !core->sweep ||
        su_timer_run(core->sweep, sweep_dialogs, (su_timer_arg_t *)core) < 0)
        goto fail;
    core->nudp = sip_udp_listeners(core->agent, core->udp, SIP_UDP_LISTENERS_MAX);
    if (!(core->adm = sip_adm_new(core, cfg->admission)))
        goto fail;
    /* without it: once a turn, as tport */
    core->udp_turn = sip_udp_turn_new(root, core->udp, core->nudp);
    core->trim_timer = su_timer_create(su_root_task(root), TRIM_CHECK_MS);
    if (!core->trim_timer || su_timer_run(core->trim_timer, trim_check, (su_timer_arg_t *)core) < 0)
        goto fail;
    return core;
fail:
    sip_core_free(core);
    return NULL;
}

void sip_core_free(sip_core_t *core)
{
    if (!core)
        return;
    sip_send_errors_unwatch(core);
    su_timer_destroy(core->trim_timer);
    sip_adm_free(core->adm);
    sip_udp_turn_free(core->udp_turn, core->root);
    if (core->agent)
        nta_agent_destroy(core->agent);
    if (core->release_fwds)
        core->release_fwds(core);
    if (core->sweep)
        su_timer_destroy(core->sweep);
    dialogs_free(core->dialogs);
    cap_free(core->cap_transactions);
    cap_free(core->cap_relays);
    cap_free(core->cap_invites);
    sip_answered_free(core->answered);
    kept_free(core->acked);
    strmap_free(core->detached, NULL); /* emptied by release_fwds */
    sip_trace_free(core->trace);
    su_home_unref(core->home);
}

sip_trace_t *sip_core_trace(const sip_core_t *core)
{
    return core->trace;
}

nta_agent_t *sip_core_agent(const sip_core_t *core)
{
    return core->agent;
}

su_root_t *sip_core_root(const sip_core_t *core)
{
    return core->root;
}

const sip_core_config_t *sip_core_config(const sip_core_t *core)
{
    return &core->cfg;
}

metrics_t *sip_core_metrics(const sip_core_t *core)
{
    return core->metrics;
}

const url_t *sip_core_self_url(const sip_core_t *core)
{
    return core->self;
}

/* Does host[:port] of `u` equal the "host:port" entry (port 5060 when the URI has none, 5061
 * for sips: and transport=tls)? */
static int url_matches_hostport(const url_t *u, const char *entry)
{
    char host[256];
    int port;
    if (cfg_split_addr(entry, host, sizeof host, &port) < 0) {
        /* alias without a port: any port */
        return u->url_host && strcasecmp(u->url_host, entry) == 0;
    }
    const char *uh = u->url_host;
    size_t ul = strlen(uh);
    if (uh[0] == '[' && ul > 2) { /* URI IPv6 references are bracketed */
        uh++;
        ul -= 2;
    }
    if (strlen(host) != ul || strncasecmp(uh, host, ul) != 0)
        return 0;
    char t[8] = "";
    int tls = u->url_type == url_sips ||
              (u->url_params && url_param(u->url_params, "transport", t, sizeof t) > 0 &&
               strcasecmp(t, "tls") == 0);
    int uport = u->url_port ? atoi(u->url_port) : (tls ? 5061 : 5060);
    return uport == port;
}

int sip_core_is_self(const sip_core_t *core, const url_t *url)
{
    if (!url || !url->url_host)
        return 0;
    if (core->cfg.domain && strcasecmp(url->url_host, core->cfg.domain) == 0)
        return 1;
    return sip_core_is_node(core, url);
}

int sip_core_request_is_for_us(const sip_core_t *core, sip_t const *sip)
{
    const url_t *ruri = sip && sip->sip_request ? sip->sip_request->rq_url : NULL;
    const sip_route_t *r = sip ? sip->sip_route : NULL;
    int routed_on = r && (r->r_next || !sip_core_is_node(core, r->r_url));
    return ruri && !routed_on && sip_core_is_self(core, ruri) &&
           (!ruri->url_user || !*ruri->url_user);
}

int sip_core_is_node(const sip_core_t *core, const url_t *url)
{
    if (!url || !url->url_host)
        return 0;
    if (core->cfg.advertise && url_matches_hostport(url, core->cfg.advertise))
        return 1;
    for (size_t i = 0; i < core->cfg.nlisten; i++)
        if (url_matches_hostport(url, core->cfg.listen[i]))
            return 1;
    for (size_t i = 0; i < core->cfg.naliases; i++)
        if (url_matches_hostport(url, core->cfg.aliases[i]))
            return 1;
    for (size_t i = 0; i < core->nextra; i++)
        if (url_matches_hostport(url, core->extra_listen[i]))
            return 1;
    return core->tls_self && (url_matches_hostport(url, core->cfg.tls.listen) ||
                              url_matches_hostport(url, core->tls_hostport));
}

void sip_core_set_classify(sip_core_t *core, sip_adm_classify_f fn, void *ctx)
{
    sip_adm_set_classify(core->adm, fn, ctx);
}

void sip_core_set_admission(sip_core_t *core, const struct adm_config *cfg)
{
    sip_adm_set_config(core->adm, cfg);
}

json_t *sip_core_admission_json(sip_core_t *core, size_t top)
{
    return sip_adm_json(core->adm, top);
}

void sip_core_drain(sip_core_t *core)
{
    core->draining = 1;
}

int sip_core_draining(const sip_core_t *core)
{
    return core->draining;
}

size_t sip_core_pending(sip_core_t *core)
{
    return core->inflight;
}

void sip_core_flow_of(msg_t *msg, char *out, size_t len)
{
    su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;
    su_sockaddr_t *su = msg ? msg_addr(msg) : NULL;
    char host[64] = "?";
    if (su)
        su_inet_ntop(su->su_family, SU_ADDR(su), host, sizeof host);
    const char *proto = sip_core_msg_over_tls(msg)             ? "tls"
                        : ai && ai->ai_protocol == IPPROTO_TCP ? "tcp"
                                                               : "udp";
    snprintf(out, len, "%s:%s:%u", proto, host, su ? ntohs(su->su_port) : 0);
}

long sip_core_contact_expires(const sip_contact_t *m, long dflt)
{
    const char *v = m ? m->m_expires : NULL;
    if (!v || !*v || strspn(v, "0123456789") != strlen(v))
        return dflt;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    return x > 2147483647ULL ? 2147483647L : (long)x;
}

int sip_impu_of(const url_t *u, char *out, size_t len)
{
    int n;
    if (u->url_type == url_tel)
        /* sofia keeps a tel: URI's number in url_user (checked on 1.12: "tel:+1555" has
         * url_user "+1555", url_path NULL). */
        n = snprintf(out, len, "tel:%s", u->url_user ? u->url_user : "");
    else if (u->url_type == url_sip || u->url_type == url_sips)
        n = snprintf(out, len, "%s:%s%s%s", u->url_type == url_sips ? "sips" : "sip",
                     u->url_user ? u->url_user : "", u->url_user ? "@" : "",
                     u->url_host ? u->url_host : "");
    else
        return -1;
    return n > 4 && (size_t)n < len && (u->url_type == url_tel || u->url_host) ? 0 : -1;
}
