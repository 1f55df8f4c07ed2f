/* The I-CSCF role (TS 24.229 5.3): which S-CSCF serves a user is the HSS's to say (UAR for a
 * REGISTER, LIR for a terminating request), and the request goes there: to our own registrar or
 * routing when that S-CSCF is this node, else forwarded to it. */
#include "cscf/scscf/routing/icscf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>

#include "common/util/log.h"
#include "common/sip/sip_hdr.h"
#include "common/sip/sip_ids.h"
#include "common/sip/sip_dialog.h"
#include "common/sip/sip_proxy.h"
#include "cscf/scscf/routing/icscf_select.h"
#include "cscf/scscf/core/context.h"
#include "cscf/scscf/registration/reg_config.h"
#include "cscf/scscf/registration/registrar.h"

/* User-Authorization-Type (TS 29.229 6.3.24) */
#define UAT_REGISTRATION    0
#define UAT_DE_REGISTRATION 1

/* A REGISTER (UAR) or a routed request (LIR) waiting for the HSS. Linked in icscf.pending so
 * that those whose answer never comes (shutdown) are still released. */
typedef struct query {
    struct query *prev, *next;
    icscf_t *ic;
    sip_incoming_t *irq; /* UAR: the REGISTER */
    route_req_t *rt;     /* LIR */
    char impu[256], impi[256];
    int dereg; /* UAR: User-Authorization-Type DE_REGISTRATION */
} query_t;

struct icscf {
    scscf_t *s;
    icscf_scscf_t *list;
    size_t nlist;
    query_t *pending;
    metric_t *m_requests;
};

/* What to do with a request after the HSS answered: a status of ours, or on to target. */
typedef struct verdict {
    int status; /* 0: go to target */
    const char *phrase;
    const char *result; /* metric label */
    const char *target;
} verdict_t;

static void count(icscf_t *ic, const char *cmd, const char *result)
{
    const char *labels[] = {cmd, result};
    metric_addv(ic->m_requests, labels, 1);
}

static int is_node(const void *ctx, const url_t *url)
{
    return sip_core_is_node(ctx, url);
}

static int is_us(const icscf_t *ic, const char *name)
{
    if (strcasecmp(name, ic->s->server_name) == 0)
        return 1;
    url_t *u = url_hdup(NULL, URL_STRING_MAKE(name)->us_url);
    int us = u && u->url_host && sip_core_is_node(ic->s->p->sip, u);
    su_free(NULL, u);
    return us;
}

/* ---- queries ---- */

static void query_link(query_t *q)
{
    q->next = q->ic->pending;
    if (q->next)
        q->next->prev = q;
    q->ic->pending = q;
}

static void query_unlink(query_t *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        q->ic->pending = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->prev = q->next = NULL;
}

/* 0 with q linked until cb runs, or -1 (not sent, q not linked). */
static int query_send(query_t *q, const cx_msg_t *m, cx_answer_f cb)
{
    if (!cx_client_send(q->ic->s->cx.client, m, cb, q))
        return -1;
    query_link(q);
    return 0;
}

/* The Cx outcomes both answers share. No answer, or one from a Diameter agent that could not
 * reach the HSS (3xxx): 504, as the registrar answers a failed MAR/SAR (ARCHITECTURE.md section 11;
 * RFC 3261 21.5.5: no timely response from a server it accessed). 480 would tell the UE or the
 * caller that the user is unavailable, which nobody knows yet. */
static int hss_down(cx_status_t st, const cx_msg_t *a)
{
    return st != CX_ANSWERED || (a->result_code >= 3000 && a->result_code < 4000);
}

static verdict_t chosen(const icscf_t *ic, const cx_msg_t *a, int none_status, const char *none)
{
    const char *t = icscf_choose(ic->list, ic->nlist, a);
    if (!t)
        return (verdict_t){none_status, none, "no_scscf", NULL};
    return (verdict_t){0, NULL, is_us(ic, t) ? "local" : "forwarded", t};
}

/* ---- REGISTER (UAR) ---- */

static verdict_t uaa_verdict(const icscf_t *ic, cx_status_t st, const cx_msg_t *a)
{
    if (hss_down(st, a))
        return (verdict_t){504, "HSS Unreachable", "hss_unavailable", NULL};
    uint32_t e = a->experimental_result;
    /* TS 24.229 5.3.1.3: no S-CSCF with the capabilities asked for: 600 (Busy Everywhere). */
    if (a->result_code == DIAMETER_SUCCESS || e == DIAMETER_FIRST_REGISTRATION ||
        e == DIAMETER_SUBSEQUENT_REGISTRATION || e == DIAMETER_SERVER_SELECTION)
        return chosen(ic, a, 600, "No S-CSCF Available");
    /* TS 24.229 5.3.1.2: a negative answer to the user registration status query (user unknown,
     * identities that do not match, roaming not allowed, a barred identity, deregistering an
     * identity that is not registered) ends the REGISTER with 403. */
    if (e == DIAMETER_ERROR_USER_UNKNOWN || e == DIAMETER_ERROR_IDENTITIES_DONT_MATCH)
        return (verdict_t){403, "Forbidden", "user_unknown", NULL};
    if (e >= 5000 || (a->result_code >= 5000 && a->result_code < 6000))
        return (verdict_t){403, "Forbidden", "forbidden", NULL};
    return (verdict_t){500, "HSS Error", "hss_error", NULL};
}

static void end_irq(scscf_t *s, sip_incoming_t *irq, int status, const char *phrase)
{
    if (sip_incoming_status(irq) < 200)
        sip_request_answer(s->p->sip, irq, status, phrase, NULL);
    sip_incoming_release(irq, NULL);
}

/* The registrar takes the REGISTER as if it had arrived now; it keeps its own reference to the
 * message, and the transaction when it returns 0. */
static void register_here(scscf_t *s, sip_incoming_t *irq)
{
    msg_t *msg = sip_incoming_request(irq);
    int st = msg ? registrar_on_register(s, irq, sip_object(msg)) : 500;
    if (msg)
        msg_destroy(msg);
    if (st)
        end_irq(s, irq, st, NULL);
}

/* TS 24.229 5.3.1.2: on to the S-CSCF with only our Via and Max-Forwards changed. The
 * Request-URI stays (the S-CSCF checks the digest uri against it) and the S-CSCF is the next
 * hop, not a Route its registrar would have to step over. */
static int register_forward(scscf_t *s, sip_incoming_t *irq, const char *target)
{
    msg_t *msg = sip_proxy_copy_request(irq);
    if (!msg)
        return 500;
    sip_t *sip = sip_object(msg);
    sip_proxy_preprocess_route(msg, sip, is_node, s->p->sip);
    url_t *next = url_make(msg_home(msg), target);
    if (!next || (next->url_type != url_sip && next->url_type != url_sips) || !next->url_host ||
        sip_proxy_prepare(msg, sip, NULL) < 0) {
        msg_destroy(msg);
        return 500;
    }
    return sip_forward(s->p->sip, irq, msg, next, NULL, NULL);
}

static void on_uaa(void *arg, cx_status_t st, const cx_msg_t *a)
{
    query_t *q = arg;
    icscf_t *ic = q->ic;
    scscf_t *s = ic->s;
    query_unlink(q);
    verdict_t v = uaa_verdict(ic, st, a);
    log_info("icscf: UAR %s (%s, %s): %s -> %s", q->impu, q->impi,
             q->dereg ? "DE_REGISTRATION" : "REGISTRATION",
             a ? cx_result_name(a->result_code, a->experimental_result) : "no answer",
             v.status ? v.result : v.target);
    if (v.status == 0 && strcmp(v.result, "local") == 0) {
        register_here(s, q->irq);
    } else if (v.status == 0) {
        v.status = register_forward(s, q->irq, v.target);
        v.result = v.status ? "forward_failed" : v.result;
    }
    count(ic, "UAR", v.result);
    if (v.status)
        end_irq(s, q->irq, v.status, v.phrase);
    free(q);
}

/* The P-CSCF's P-Visited-Network-ID (RFC 7315 4.3: a token or a quoted string), else our own
 * domain: the HSS needs the AVP (TS 29.228 6.1.1), and without the header the UE is at home. */
static void visited_network(const scscf_t *s, sip_t const *sip, char *out, size_t len)
{
    const char *v = sip_hdr_get(sip, "P-Visited-Network-ID");
    size_t n = 0;
    if (v) {
        v += strspn(v, " \t");
        int quoted = *v == '"';
        v += quoted;
        n = strcspn(v, quoted ? "\"" : ",; \t");
    }
    if (!v || n == 0 || n >= len) {
        snprintf(out, len, "%s", sip_core_config(s->p->sip)->domain);
        return;
    }
    memcpy(out, v, n);
    out[n] = '\0';
}

/* DE_REGISTRATION when the REGISTER removes every contact it names (Expires 0, or `*`). */
static int deregistering(const scscf_t *s, sip_t const *sip)
{
    long dflt = sip->sip_expires ? (long)sip->sip_expires->ex_delta : s->rc->default_expires;
    if (!sip->sip_contact)
        return 0; /* a query of the bindings */
    for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next)
        if (m->m_url->url_type != url_any && sip_core_contact_expires(m, dflt) != 0)
            return 0;
    return 1;
}

static int reply_now(scscf_t *s, sip_incoming_t *irq, int status, const char *phrase)
{
    sip_request_answer(s->p->sip, irq, status, phrase, NULL);
    return status;
}

int icscf_on_register(scscf_t *s, sip_incoming_t *irq, sip_t const *sip)
{
    icscf_t *ic = s->icscf;
    if (sip_proxy_check_max_forwards(sip))
        return 483;
    if (sip_proxy_check_loop(s->p->sip, sip))
        return 482;
    query_t *q = calloc(1, sizeof *q);
    if (!q)
        return 500;
    *q = (query_t){.ic = ic, .irq = irq};
    sip_ids_t ids;
    sip_ids_error_t bad =
        sip_register_identities(sip, sip_core_config(s->p->sip)->domain, &ids, NULL);
    if (bad) {
        free(q);
        return reply_now(s, irq, 400, sip_ids_phrase(bad));
    }
    snprintf(q->impu, sizeof q->impu, "%s", ids.impu);
    snprintf(q->impi, sizeof q->impi, "%s", ids.impi);
    char vn[256];
    visited_network(s, sip, vn, sizeof vn);
    cx_msg_t m;
    cx_msg_init(&m, CX_CMD_UAR);
    cx_msg_set(&m.user_name, q->impi);
    cx_msg_add_public(&m, q->impu);
    cx_msg_set(&m.visited_network, vn);
    q->dereg = deregistering(s, sip);
    m.user_authorization_type = q->dereg ? UAT_DE_REGISTRATION : UAT_REGISTRATION;
    int rc = query_send(q, &m, on_uaa);
    cx_msg_clear(&m);
    if (rc < 0) {
        free(q);
        count(ic, "UAR", "hss_unavailable");
        return reply_now(s, irq, 504, "HSS Unreachable");
    }
    return 0;
}

/* ---- terminating requests (LIR) ---- */

static verdict_t lia_verdict(const icscf_t *ic, cx_status_t st, const cx_msg_t *a)
{
    if (hss_down(st, a))
        return (verdict_t){504, "HSS Unreachable", "hss_unavailable", NULL};
    uint32_t e = a->experimental_result;
    /* Not registered but with services for unregistered users: an S-CSCF assigned, or one to
     * choose from the capabilities so that it can run them (TS 29.228 6.1.4.1); none: 480. */
    if (a->result_code == DIAMETER_SUCCESS || e == DIAMETER_UNREGISTERED_SERVICE)
        return chosen(ic, a, 480, NULL);
    /* TS 24.229 5.3.2.2 (TS 23.228 5.15.1): an unknown user is 404. */
    if (e == DIAMETER_ERROR_USER_UNKNOWN)
        return (verdict_t){404, "Not Found", "user_unknown", NULL};
    /* TS 24.229 5.3.2.1: not registered, no services for unregistered users: 480. */
    if (e == DIAMETER_ERROR_IDENTITY_NOT_REGISTERED)
        return (verdict_t){480, NULL, "not_registered", NULL};
    return (verdict_t){500, "HSS Error", "hss_error", NULL};
}

/* TS 24.229 5.3.2.1: the S-CSCF as the topmost Route (loose), the Request-URI kept. route.c
 * has already taken the Route entries naming us off, so the S-CSCF's is the only one. */
static int request_forward(route_req_t *rt, const char *target)
{
    su_home_t *home = msg_home(rt->msg);
    url_t *u = url_hdup(home, URL_STRING_MAKE(target)->us_url);
    if (!u || (u->url_type != url_sip && u->url_type != url_sips) || !u->url_host ||
        u->url_headers || (!url_has_param(u, "lr") && url_param_add(home, u, "lr") < 0))
        return 500;
    sip_route_t *r = sip_route_create(home, u, NULL);
    if (!r || msg_header_insert(rt->msg, (msg_pub_t *)rt->sip, (msg_header_t *)r) < 0)
        return 500;
    msg_t *msg = rt->msg;
    rt->msg = NULL; /* sip_forward takes it (and frees it if it cannot send it) */
    rt->sip = NULL;
    return sip_forward(rt->s->p->sip, rt->irq, msg, NULL, NULL, NULL);
}

static void on_lia(void *arg, cx_status_t st, const cx_msg_t *a)
{
    query_t *q = arg;
    icscf_t *ic = q->ic;
    route_req_t *rt = q->rt;
    query_unlink(q);
    verdict_t v = lia_verdict(ic, st, a);
    log_info("icscf: LIR %s: %s -> %s", q->impu,
             a ? cx_result_name(a->result_code, a->experimental_result) : "no answer",
             v.status ? v.result : v.target);
    free(q);
    if (sip_incoming_status(rt->irq) >= 200) { /* the caller gave up (CANCEL) meanwhile */
        count(ic, "LIR", "cancelled");
        sip_incoming_release(rt->irq, NULL);
        route_req_free(rt);
        return;
    }
    /* Served here but not registered here (route.c looked first): its unregistered services
     * (SAR UNREGISTERED_USER, terminating-unregistered iFCs), else 480. */
    if (v.status == 0 && strcmp(v.result, "local") == 0) {
        count(ic, "LIR", v.result);
        rt->next->unregistered(rt);
        return;
    }
    if (v.status == 0 && (v.status = request_forward(rt, v.target)) != 0)
        v.result = "forward_failed";
    count(ic, "LIR", v.result);
    if (v.status)
        route_req_fail(rt, v.status, v.phrase);
    else
        route_req_free(rt);
}

/* Only home-domain users: another network's (and tel: numbers the HSS may not know) keep going
 * to scscf.next_hop. */
int icscf_locate(route_req_t *rt)
{
    icscf_t *ic = rt->s->icscf;
    if (!ic)
        return 0;
    const url_t *ruri = rt->sip->sip_request->rq_url;
    const char *domain = sip_core_config(rt->s->p->sip)->domain;
    query_t q0 = {.ic = ic, .rt = rt};
    if ((ruri->url_type != url_sip && ruri->url_type != url_sips) || !ruri->url_user ||
        !ruri->url_host || strcasecmp(ruri->url_host, domain) != 0 ||
        sip_uri_aor(ruri, q0.impu, sizeof q0.impu) < 0)
        return 0;
    query_t *q = malloc(sizeof *q);
    if (!q) {
        route_req_fail(rt, 500, NULL);
        return 1;
    }
    *q = q0;
    cx_msg_t m;
    cx_msg_init(&m, CX_CMD_LIR);
    cx_msg_add_public(&m, q->impu);
    int rc = query_send(q, &m, on_lia);
    cx_msg_clear(&m);
    if (rc < 0) {
        free(q);
        count(ic, "LIR", "hss_unavailable");
        route_req_fail(rt, 504, "HSS Unreachable");
    }
    return 1;
}

/* ---- set-up ---- */

static int load_list(const cfg_t *cfg, icscf_scscf_t *list, char *err, size_t len)
{
    const char *const *items;
    size_t n = cfg_list(cfg, "icscf.scscfs", &items);
    icscf_scscf_t tmp;
    for (size_t i = 0; i < n; i++) {
        char why[128];
        if (icscf_scscf_parse(items[i], list ? &list[i] : &tmp, why, sizeof why) < 0) {
            snprintf(err, len, "icscf.scscfs: entry %zu (%s): %s", i + 1, items[i], why);
            return -1;
        }
    }
    return 0;
}

int icscf_check_config(const cfg_t *cfg, char *err, size_t len)
{
    return load_list(cfg, NULL, err, len);
}

icscf_t *icscf_new(scscf_t *s, int *failed)
{
    *failed = 0;
    if (!cfg_bool(s->p->cfg, "icscf.enabled"))
        return NULL;
    const char *const *items;
    size_t n = cfg_list(s->p->cfg, "icscf.scscfs", &items);
    icscf_t *ic = calloc(1, sizeof *ic);
    char err[512];
    if (!ic || !(ic->list = calloc(n ? n : 1, sizeof *ic->list)) ||
        load_list(s->p->cfg, ic->list, err, sizeof err) < 0) {
        if (ic && ic->list)
            log_error("config: %s", err);
        icscf_free(ic);
        *failed = 1;
        return NULL;
    }
    ic->s = s;
    ic->nlist = n;
    ic->m_requests = metrics_counter(s->p->metrics, "cscf_icscf_requests_total",
                                     "I-CSCF queries (UAR, LIR) by outcome: local, forwarded, "
                                     "user_unknown, forbidden, not_registered, no_scscf, "
                                     "hss_unavailable, hss_error, forward_failed, cancelled",
                                     "command,result");
    log_info("icscf: I-CSCF role on, %zu S-CSCF(s) configured besides those the HSS names", n);
    return ic;
}

void icscf_free(icscf_t *ic)
{
    if (!ic)
        return;
    while (ic->pending) {
        query_t *q = ic->pending;
        query_unlink(q);
        sip_incoming_release(q->irq ? q->irq : q->rt->irq, NULL);
        route_req_free(q->rt);
        free(q);
    }
    free(ic->list);
    free(ic);
}
