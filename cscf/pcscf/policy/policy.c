/* The generic part of the policy interface (policy.h, DESIGN section 11): one session per dialog
 * and UE side, fed by the SDP offer/answer of the requests and responses the pcscf relays,
 * the failure policy (policy.on_failure), the deadline of each request, the end of a session
 * (BYE, a failed INVITE, the UE's deregistration, policy.session_seconds), "session lost" from
 * the network (policy_bye.c: the call ends with BYE both ways), metrics (the REST view:
 * policy_rest.c).
 *
 * A session's key is the dialog as the initial INVITE names it (Call-ID and the caller's tag,
 * RFC 3261 12) and the UE's side: "o" when the UE is the caller, "t" when it is the callee.
 * A call between two UEs of this pcscf passes it twice and has one session per UE; the From
 * user never names anything here. */
#include "cscf/pcscf/policy/policy_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/su_wait.h>

#include "common/ops/limits.h"
#include "common/ops/metrics.h"
#include "common/sip/charging.h"
#include "common/sip/sip_core.h"
#include "common/sip/sip_hdr.h"
#include "common/util/clock.h"
#include "common/util/log.h"
#include "common/util/strmap.h"
#include "cscf/pcscf/policy/policy_sdp.h"
static void sweep_tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg);

/* ---- small helpers ---- */

const char *policy_side_of(const policy_session_t *s)
{
    return s->desc.originating ? "originating" : "terminating";
}

static void id_key(uint64_t id, char *out, size_t len)
{
    snprintf(out, len, "%" PRIu64, id);
}

static void set_sdp(char **slot, const char *body, size_t len)
{
    free(*slot);
    *slot = NULL;
    if (body && len && (*slot = malloc(len + 1))) {
        memcpy(*slot, body, len);
        (*slot)[len] = '\0';
    }
}

static const sip_payload_t *sdp_of(sip_t const *sip)
{
    const sip_payload_t *pl = sip ? sip->sip_payload : NULL;
    if (!pl || !pl->pl_len)
        return NULL;
    const sip_content_type_t *ct = sip->sip_content_type;
    if (ct && ct->c_type && strcasecmp(ct->c_type, "application/sdp") != 0)
        return NULL; /* multipart bodies: not handled (issue 20 notes) */
    return pl;
}

static void header_text(sip_header_t const *h, char *out, size_t len)
{
    su_home_t home[1] = {SU_HOME_INIT(home)};
    char *t = h ? sip_header_as_string(home, h) : NULL;
    snprintf(out, len, "%s", t ? t : "");
    su_home_deinit(home);
}

static void count(policy_t *pol, const char *op, const char *result)
{
    const char *labels[] = {op, result};
    metric_addv(pol->m_requests, labels, 1);
}

static void publish(policy_t *pol)
{
    size_t n = strmap_size(pol->by_key);
    metric_set(pol->m_sessions, NULL, (double)n);
    cap_update(pol->cap, n);
}

/* ---- start and stop ---- */

static int metrics_start(policy_t *pol)
{
    static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
    metrics_t *m = pol->p->metrics;
    pol->m_requests =
        metrics_counter(m, "cscf_policy_requests_total",
                        "policy requests to the PCRF/PCF by operation and result", "op,result");
    pol->m_latency = metrics_histogram(m, "cscf_policy_latency_seconds",
                                       "time from a policy request to its answer", "op", bounds,
                                       sizeof bounds / sizeof bounds[0]);
    pol->m_sessions =
        metrics_gauge(m, "cscf_policy_sessions", "policy sessions (dialog and UE side) held", NULL);
    pol->m_notifications =
        metrics_counter(m, "cscf_policy_notifications_total",
                        "notifications from the PCRF/PCF (RAR, ASR, N5 notify) by kind", "kind");
    pol->m_failopen = metrics_counter(
        m, "cscf_policy_failopen_total",
        "calls let through without a granted policy (policy.on_failure open)", NULL);
    return pol->m_requests && pol->m_latency && pol->m_sessions && pol->m_notifications &&
                   pol->m_failopen
               ? 0
               : -1;
}

static policy_t *policy_new(program_t *p)
{
    policy_t *pol = calloc(1, sizeof *pol);
    if (!pol)
        return NULL;
    pol->p = p;
    pol->closed = strcmp(cfg_str(p->cfg, "policy.on_failure"), "closed") == 0;
    pol->timeout_ms = (int)cfg_int(p->cfg, "policy.timeout_ms");
    pol->session_ms = cfg_int(p->cfg, "policy.session_seconds") * 1000;
    pol->by_key = strmap_new();
    pol->by_id = strmap_new();
    pol->cap = cap_new(p->metrics, "policy_sessions", "limits.policy_sessions",
                       (size_t)cfg_int(p->cfg, "limits.policy_sessions"),
                       (unsigned)cfg_int(p->cfg, "limits.retry_after_seconds"));
    pol->sweep = su_timer_create(su_root_task(p->root), SWEEP_MS);
    if (!pol->by_key || !pol->by_id || !pol->cap || !pol->sweep || metrics_start(pol) < 0 ||
        su_timer_set_for_ever(pol->sweep, sweep_tick, (su_timer_arg_t *)pol) < 0) {
        policy_stop(pol);
        return NULL;
    }
    return pol;
}

int policy_start(program_t *p, const policy_backend_entry_t *backends, size_t n, policy_t **out,
                 char *err, size_t errlen)
{
    *out = NULL;
    const char *name = cfg_str(p->cfg, "policy.backend");
    name = name ? name : "none";
    for (size_t i = 0; i < n; i++) {
        if (strcmp(backends[i].name, name) != 0)
            continue;
        if (!backends[i].make)
            return policy_rest_none(p);
        policy_t *pol = policy_new(p);
        if (!pol) {
            snprintf(err, errlen, "policy: out of memory");
            return -1;
        }
        if (backends[i].make(p, pol, &pol->be, err, errlen) < 0 || policy_rest_start(pol) < 0) {
            if (!*err)
                snprintf(err, errlen, "policy: the %s back end did not start", name);
            policy_stop(pol);
            return -1;
        }
        log_info("policy: back end %s, on failure %s, timeout %d ms", name,
                 pol->closed ? "closed" : "open", pol->timeout_ms);
        *out = pol;
        return 0;
    }
    snprintf(err, errlen, "policy.backend: %s is not built into this pcscf", name);
    return -1;
}

static int release_all(void *ctx, const char *key, void *val)
{
    (void)ctx;
    (void)key;
    policy_release(val, "shutdown");
    return 1;
}

void policy_stop(policy_t *pol)
{
    if (!pol)
        return;
    if (pol->by_id && pol->by_key) {
        pol->in_sweep = 1;
        strmap_sweep(pol->by_id, release_all, NULL);
        pol->in_sweep = 0;
    }
    if (pol->be.free)
        pol->be.free(pol->be.be);
    if (pol->sweep)
        su_timer_destroy(pol->sweep);
    strmap_free(pol->by_key, NULL);
    strmap_free(pol->by_id, NULL);
    cap_free(pol->cap);
    free(pol);
}

/* ---- sessions ---- */

static policy_session_t *session_new(policy_t *pol, const char *key)
{
    if (!cap_admit(pol->cap, strmap_size(pol->by_key)))
        return NULL;
    policy_session_t *s = calloc(1, sizeof *s);
    char id[24];
    if (!s)
        return NULL;
    s->pol = pol;
    s->id = ++pol->next_id;
    snprintf(s->key, sizeof s->key, "%s", key);
    s->touched_ms = clock_mono_ms();
    id_key(s->id, id, sizeof id);
    if (strmap_put(pol->by_key, s->key, s, NULL) < 0 || strmap_put(pol->by_id, id, s, NULL) < 0) {
        strmap_take(pol->by_key, s->key);
        free(s);
        return NULL;
    }
    publish(pol);
    return s;
}

static void session_free(policy_session_t *s)
{
    free(s->ue_sdp);
    free(s->peer_sdp);
    free(s);
}

/* Out of by_key already (or about to be): tells the back end, answers a held INVITE. */
void policy_release(policy_session_t *s, const char *why)
{
    policy_t *pol = s->pol;
    char id[24];
    id_key(s->id, id, sizeof id);
    if (strmap_get(pol->by_key, s->key) == s)
        strmap_take(pol->by_key, s->key);
    if (!pol->in_sweep && strmap_get(pol->by_id, id) == s)
        strmap_take(pol->by_id, id);
    log_info("policy: %s session of %s released (%s)", policy_side_of(s), s->desc.call_id, why);
    if (s->cont) { /* a held INVITE whose session went first (shutdown) */
        policy_cont_f cont = s->cont;
        s->cont = NULL;
        cont(s->cont_ctx, 503);
    }
    if (pol->be.release)
        pol->be.release(pol->be.be, s);
    session_free(s);
    publish(pol);
}

uint64_t policy_session_id(const policy_session_t *s)
{
    return s->id;
}

policy_session_t *policy_session_by_id(policy_t *pol, uint64_t id)
{
    char k[24];
    id_key(id, k, sizeof k);
    return strmap_get(pol->by_id, k);
}

void *policy_session_data(const policy_session_t *s)
{
    return s->data;
}

void policy_session_set_data(policy_session_t *s, void *data)
{
    s->data = data;
}

const policy_desc_t *policy_session_desc(const policy_session_t *s)
{
    return &s->desc;
}

program_t *policy_program(const policy_t *pol)
{
    return pol->p;
}

int policy_timeout_ms(const policy_t *pol)
{
    return pol->timeout_ms;
}

size_t policy_session_count(const policy_t *pol)
{
    return pol ? strmap_size(pol->by_key) : 0;
}

void policy_count_notification(policy_t *pol, const char *kind)
{
    metric_inc(pol->m_notifications, kind);
}

void policy_count_request(policy_t *pol, const char *op, const char *result)
{
    count(pol, op, result);
}

/* ---- the failure policy ---- */

/* With on_failure closed the UE's INVITE is refused with 580 Precondition Failure. TS 24.229
 * 5.2.7.2 (UE-originating INVITE; the PCRF says the resources cannot be granted, TS 29.214
 * 4.4.1: an AAA other than DIAMETER_SUCCESS): 503 Service Unavailable is for a P-CSCF that is
 * itself overloaded (it tells the UE to retry, elsewhere or later), so a refused or unanswered
 * authorization must not answer 503; 580 (RFC 3312 8) says the session's QoS preconditions
 * cannot be met, which is what happened. (A timeout is treated as a refusal.) */
#define REFUSE_STATUS 580

/* Returns 1 when s was released (a held INVITE refused, or the call ended). */
static int failed(policy_session_t *s, const char *result)
{
    policy_t *pol = s->pol;
    s->state = S_FAILED;
    if (!pol->closed) {
        metric_inc(pol->m_failopen, NULL);
        log_warn("policy: %s for the %s session of %s: the call goes on without it (fail-open)",
                 result, policy_side_of(s), s->desc.call_id);
        return 0;
    }
    log_warn("policy: %s for the %s session of %s: the call is refused (fail-closed)", result,
             policy_side_of(s), s->desc.call_id);
    if (s->cont) {
        policy_cont_f cont = s->cont;
        void *ctx = s->cont_ctx;
        s->cont = NULL;
        policy_release(s, "refused before the INVITE went on");
        cont(ctx, REFUSE_STATUS);
        return 1;
    }
    /* The INVITE went on already (a terminating one, or an update): a 2xx cannot be refused,
     * so the call ends once it is established (and ACKed: the sweep). */
    s->doom_ms = clock_mono_ms() + DOOM_DELAY_MS;
    return 0;
}

void policy_done(policy_session_t *s, int ok)
{
    if (!s || !s->deadline_ms)
        return; /* late: counted as a timeout already */
    policy_t *pol = s->pol;
    double took = (double)(clock_mono_ms() - s->sent_ms) / 1000.0;
    metric_observe(pol->m_latency, s->op, took);
    count(pol, s->op, ok ? "ok" : "refused");
    s->deadline_ms = 0;
    if (!ok) {
        failed(s, "refused");
        return;
    }
    s->state = S_GRANTED;
    if (s->cont) {
        policy_cont_f cont = s->cont;
        s->cont = NULL;
        cont(s->cont_ctx, 0);
    }
}

/* The description of s from its two SDPs, sent to the back end (open the first time). */
static int send_desc(policy_session_t *s)
{
    policy_t *pol = s->pol;
    policy_desc_t d = s->desc;
    if (policy_sdp_fill(&d, s->ue_sdp, s->ue_sdp ? strlen(s->ue_sdp) : 0, s->peer_sdp,
                        s->peer_sdp ? strlen(s->peer_sdp) : 0, s->ue_offered) < 0) {
        log_info("policy: the SDP of %s does not parse: nothing asked", s->desc.call_id);
        return -1;
    }
    s->desc = d;
    s->op = s->sent ? "update" : "open";
    s->sent_ms = clock_mono_ms();
    s->deadline_ms = s->sent_ms + pol->timeout_ms;
    s->state = S_PENDING;
    s->touched_ms = s->sent_ms;
    int rc =
        s->sent ? pol->be.update(pol->be.be, s, &s->desc) : pol->be.open(pol->be.be, s, &s->desc);
    s->sent = 1;
    if (rc < 0 && s->deadline_ms) {
        s->deadline_ms = 0;
        count(pol, s->op, "error");
        return failed(s, "could not be sent") ? -2 : -1; /* -2: s is gone */
    }
    return 0;
}

/* ---- the dialog: keys and what a BYE needs ---- */

/* The key of the session this message belongs to, for a request or response passing the leg.
 * caller_tag: the tag of the dialog's caller (From tag of the initial INVITE). */
static void make_key(char *out, size_t len, const char *call_id, const char *caller_tag,
                     int originating)
{
    snprintf(out, len, "%s;%s;%c", call_id, caller_tag ? caller_tag : "", originating ? 'o' : 't');
}

/* An in-dialog request: which session is it? From the UE: it is the caller when its From tag
 * is the caller's ("o" session keyed by it), else the callee ("t" session keyed by the To
 * tag). To the UE: the reverse. */
static policy_session_t *find_in_dialog(policy_t *pol, sip_t const *sip, int from_ue)
{
    char key[320];
    const char *ft = sip->sip_from ? sip->sip_from->a_tag : NULL;
    const char *tt = sip->sip_to ? sip->sip_to->a_tag : NULL;
    const char *cid = sip->sip_call_id ? sip->sip_call_id->i_id : "";
    make_key(key, sizeof key, cid, ft, from_ue);
    policy_session_t *s = strmap_get(pol->by_key, key);
    if (s)
        return s;
    make_key(key, sizeof key, cid, tt, !from_ue);
    return strmap_get(pol->by_key, key);
}

static void note_cseq(policy_session_t *s, sip_t const *sip)
{
    if (!sip->sip_cseq || !sip->sip_from)
        return;
    uint32_t n = sip->sip_cseq->cs_seq;
    int by_caller = sip->sip_from->a_tag && strcmp(sip->sip_from->a_tag, s->desc.from_tag) == 0;
    uint32_t *slot = by_caller ? &s->caller_cseq : &s->callee_cseq;
    if (n > *slot)
        *slot = n;
}

/* The route set beyond us from a Record-Route list: in order (towards the caller, seen in
 * the INVITE before we add ours), or reversed without its last entry (towards the callee, seen
 * in the 2xx, whose bottom entry is ours). */
static void route_beyond(const sip_record_route_t *rr, int reverse_drop_last, char *out, size_t len)
{
    const sip_record_route_t *items[32];
    size_t n = 0;
    for (; rr && n < 32; rr = rr->r_next)
        items[n++] = rr;
    out[0] = '\0';
    if (reverse_drop_last && n)
        n--;
    for (size_t i = 0; i < n; i++) {
        const sip_record_route_t *r = items[reverse_drop_last ? n - 1 - i : i];
        char one[512];
        su_home_t home[1] = {SU_HOME_INIT(home)};
        char *u = url_as_string(home, r->r_url);
        snprintf(one, sizeof one, "<%s>", u ? u : "");
        su_home_deinit(home);
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s", used ? ", " : "", one);
    }
}

static void contact_uri(sip_t const *sip, char *out, size_t len)
{
    out[0] = '\0';
    if (sip->sip_contact) {
        su_home_t home[1] = {SU_HOME_INIT(home)};
        char *u = url_as_string(home, sip->sip_contact->m_url);
        snprintf(out, len, "%s", u ? u : "");
        su_home_deinit(home);
    }
}

/* ---- requests ---- */

static policy_session_t *open_for_invite(policy_t *pol, const policy_leg_t *leg, sip_t const *sip)
{
    char key[320];
    const char *cid = sip->sip_call_id ? sip->sip_call_id->i_id : NULL;
    const char *ftag = sip->sip_from ? sip->sip_from->a_tag : NULL;
    if (!cid || !ftag)
        return NULL;
    make_key(key, sizeof key, cid, ftag, leg->from_ue);
    policy_session_t *s = strmap_get(pol->by_key, key);
    if (s)
        return s; /* a retransmission or the INVITE again after a 401/407 with a new CSeq */
    if (!(s = session_new(pol, key)))
        return NULL;
    policy_desc_t *d = &s->desc;
    snprintf(d->call_id, sizeof d->call_id, "%s", cid);
    snprintf(d->from_tag, sizeof d->from_tag, "%s", ftag);
    snprintf(d->impu, sizeof d->impu, "%s", leg->impu ? leg->impu : "");
    snprintf(d->ue_ip, sizeof d->ue_ip, "%s", leg->ue_ip ? leg->ue_ip : "");
    const char *pcv = sip_hdr_get(sip, "P-Charging-Vector");
    if (!pcv || charging_vector_param(pcv, "icid-value", d->icid, sizeof d->icid) < 0)
        snprintf(d->icid, sizeof d->icid, "%s", cid);
    d->originating = leg->from_ue;
    snprintf(s->ue_flow, sizeof s->ue_flow, "%s", leg->ue_flow ? leg->ue_flow : "");
    snprintf(s->ue_target, sizeof s->ue_target, "%s", leg->ue_target ? leg->ue_target : "");
    header_text((sip_header_t const *)sip->sip_from, s->caller, sizeof s->caller);
    header_text((sip_header_t const *)sip->sip_to, s->callee, sizeof s->callee);
    if (leg->from_ue) {
        contact_uri(sip, s->ue_contact, sizeof s->ue_contact);
    } else {
        contact_uri(sip, s->far_target, sizeof s->far_target);
        route_beyond(sip->sip_record_route, 0, s->far_route, sizeof s->far_route);
    }
    log_info("policy: %s session of %s for %s opened", policy_side_of(s), cid, d->impu);
    return s;
}

policy_verdict_t policy_request(policy_t *pol, const policy_leg_t *leg, msg_t *msg,
                                policy_cont_f cont, void *ctx)
{
    sip_t const *sip = sip_object(msg);
    if (!pol || !sip || !sip->sip_request)
        return POLICY_GO;
    sip_method_t method = sip->sip_request->rq_method;
    int initial = sip->sip_to && !sip->sip_to->a_tag;
    if (method == sip_method_invite && initial) {
        const sip_payload_t *pl = sdp_of(sip);
        if (!pl)
            return POLICY_GO; /* no offer: a late offer is not handled (notes) */
        policy_session_t *s = open_for_invite(pol, leg, sip);
        if (!s) {
            count(pol, "open", "error"); /* at limits.policy_sessions, or out of memory */
            if (pol->closed && leg->from_ue && cont)
                return cont(ctx, REFUSE_STATUS), POLICY_WAIT;
            if (!pol->closed)
                metric_inc(pol->m_failopen, NULL);
            return POLICY_GO;
        }
        note_cseq(s, sip);
        if (s->sent)
            return POLICY_GO; /* the same INVITE again (authentication retried) */
        s->ue_offered = 1;
        if (leg->from_ue) {
            set_sdp(&s->ue_sdp, pl->pl_data, pl->pl_len);
        } else {
            s->ue_offered = 0;
            set_sdp(&s->peer_sdp, pl->pl_data, pl->pl_len);
        }
        /* Fail-closed holds the UE's INVITE until the network has answered. */
        int hold = pol->closed && leg->from_ue && cont;
        if (hold) {
            s->cont = cont;
            s->cont_ctx = ctx;
        }
        if (send_desc(s) < 0 && !hold)
            return POLICY_GO;
        /* failed() may have answered the INVITE already (cont called, session gone) */
        return hold ? POLICY_WAIT : POLICY_GO;
    }
    if (initial)
        return POLICY_GO;
    policy_session_t *s = find_in_dialog(pol, sip, leg->from_ue);
    if (!s)
        return POLICY_GO;
    note_cseq(s, sip);
    if (method == sip_method_bye) {
        policy_release(s, "BYE");
        return POLICY_GO;
    }
    const sip_payload_t *pl = sdp_of(sip);
    if ((method == sip_method_invite || method == sip_method_update) && pl) {
        /* a new offer: it is sent once its answer is known (policy_response) */
        s->ue_offered = leg->from_ue;
        set_sdp(leg->from_ue ? &s->ue_sdp : &s->peer_sdp, pl->pl_data, pl->pl_len);
        s->touched_ms = clock_mono_ms();
    }
    return POLICY_GO;
}

/* ---- responses ---- */

static void answer_seen(policy_session_t *s, const policy_leg_t *leg, sip_t const *rsp)
{
    const sip_payload_t *pl = sdp_of(rsp);
    if (!pl)
        return;
    /* The response comes from the other side than the request: from the far side when the UE
     * sent the request. */
    char **slot = leg->from_ue ? &s->peer_sdp : &s->ue_sdp;
    if (*slot && strlen(*slot) == pl->pl_len && memcmp(*slot, pl->pl_data, pl->pl_len) == 0 &&
        s->desc.answered)
        return; /* the same answer again (18x then 2xx) */
    set_sdp(slot, pl->pl_data, pl->pl_len);
    send_desc(s);
}

static void established(policy_session_t *s, const policy_leg_t *leg, sip_t const *rsp)
{
    if (s->established)
        return;
    s->established = 1;
    if (rsp->sip_to && rsp->sip_to->a_tag)
        snprintf(s->desc.to_tag, sizeof s->desc.to_tag, "%s", rsp->sip_to->a_tag);
    header_text((sip_header_t const *)rsp->sip_to, s->callee, sizeof s->callee);
    if (leg->from_ue) { /* the callee answered from the far side */
        contact_uri(rsp, s->far_target, sizeof s->far_target);
        route_beyond(rsp->sip_record_route, 1, s->far_route, sizeof s->far_route);
    } else {
        contact_uri(rsp, s->ue_contact, sizeof s->ue_contact);
    }
}

void policy_response(policy_t *pol, const policy_leg_t *leg, msg_t *request, int status,
                     msg_t *response)
{
    sip_t const *req = request ? sip_object(request) : NULL;
    sip_t const *rsp = response ? sip_object(response) : NULL;
    if (!pol || !req || !req->sip_request || !req->sip_call_id)
        return;
    sip_method_t method = req->sip_request->rq_method;
    if (method != sip_method_invite && method != sip_method_update)
        return;
    int initial = req->sip_to && !req->sip_to->a_tag;
    policy_session_t *s;
    if (initial) {
        char key[320];
        make_key(key, sizeof key, req->sip_call_id->i_id,
                 req->sip_from ? req->sip_from->a_tag : NULL, leg->from_ue);
        s = strmap_get(pol->by_key, key);
    } else {
        s = find_in_dialog(pol, req, leg->from_ue);
    }
    if (!s)
        return;
    if (status >= 300) {
        if (initial && method == sip_method_invite)
            policy_release(s, "the INVITE failed");
        return;
    }
    if (status > 100 && rsp)
        answer_seen(s, leg, rsp);
    if (status >= 200 && status < 300 && initial && method == sip_method_invite && rsp) {
        established(s, leg, rsp);
        if (s->doom_ms) /* fail-closed after the INVITE went on: ended once ACKed */
            s->doom_ms = clock_mono_ms() + DOOM_DELAY_MS;
    }
}

static int gone_flow(void *ctx, const char *key, void *val)
{
    (void)key;
    policy_session_t *s = val;
    if (strcmp(s->ue_flow, ctx) != 0)
        return 0;
    policy_release(s, "the UE deregistered");
    return 1;
}

void policy_ue_gone(policy_t *pol, const char *flow)
{
    if (!pol || !flow || !*flow)
        return;
    pol->in_sweep = 1;
    strmap_sweep(pol->by_id, gone_flow, (void *)flow);
    pol->in_sweep = 0;
}

/* ---- the sweep: deadlines, doomed calls, old sessions ---- */

static int sweep_one(void *ctx, const char *key, void *val)
{
    (void)key;
    int64_t now = *(int64_t *)ctx;
    policy_session_t *s = val;
    if (s->deadline_ms && now >= s->deadline_ms) {
        s->deadline_ms = 0;
        count(s->pol, s->op, "timeout");
        metric_observe(s->pol->m_latency, s->op, (double)(now - s->sent_ms) / 1000.0);
        if (failed(s, "no answer in time"))
            return 1;
    }
    if (s->doom_ms && s->established && now >= s->doom_ms) {
        policy_end_call(s, "the policy failed (fail-closed)");
        return 1;
    }
    if (now - s->touched_ms > s->pol->session_ms) {
        policy_release(s, "policy.session_seconds passed");
        return 1;
    }
    return 0;
}

static void sweep_tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    (void)magic;
    (void)t;
    policy_t *pol = (policy_t *)arg;
    int64_t now = clock_mono_ms();
    pol->in_sweep = 1;
    strmap_sweep(pol->by_id, sweep_one, &now);
    pol->in_sweep = 0;
}
