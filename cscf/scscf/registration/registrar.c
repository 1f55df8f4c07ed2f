#include "cscf/scscf/registration/registrar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#include "common/ops/limits.h"
#include "common/sip/sip_dialog.h"
#include "common/util/clock.h"
#include "common/sip/sip_ids.h"
#include "common/sip/trust.h"
#include "common/util/log.h"
#include "cscf/scscf/core/auth.h"
#include "cscf/scscf/core/auth_guard.h"
#include "cscf/scscf/registration/bindings.h"
#include "cscf/scscf/registration/reg_config.h"
#include "cscf/scscf/registration/reg_req.h"

static void count_auth(scscf_t *s, auth_scheme_t scheme, const char *outcome)
{
    const char *labels[] = {auth_scheme_name(scheme), outcome};
    metric_addv(s->m_auth, labels, 1);
}

/* ---- the Cx budget (core/auth_guard.h) ---- */

/* A failed authentication of impi (reason: the metric label): counted, and the IMPI's back-off
 * grows. Logged when a back-off starts: at most once per back-off, so a guesser cannot flood
 * the log either. */
static void auth_failed(scscf_t *s, const char *impi, const char *reason)
{
    metric_inc(s->m_auth_failures, reason);
    long ms = auth_guard_failed(s->guard, &s->rc->guard, impi, clock_mono_ms());
    if (ms)
        log_info("registrar: %s: authentication failed (%s): no new challenge for %ld ms", impi,
                 reason, ms);
}

/* A REGISTER that would need a MAR the budget refuses: 503 with Retry-After, no MAR. 503 and
 * not 403: it carries no wrong answer (the 403 of TS 24.229 5.4.1.2.3 went to the one that
 * did), and a UE takes a 403 to its initial REGISTER as a verdict on its identity, which would
 * let anyone guessing for an IMPI make the real UE give up. RFC 3261 21.5.4: 503 with
 * Retry-After is "come back in N seconds". (429 is not "too many requests" in SIP: RFC 3892
 * made it "Provide Referrer Identity".) */
static void refuse(reg_req_t *req, auth_guard_verdict_t v, long retry_after)
{
    static const char *const phrases[AUTH_GUARD_VERDICTS] = {"",
                                                             "Authentication Back-Off",
                                                             "Challenge Pending",
                                                             "Too Many Challenges",
                                                             "Too Many Challenges",
                                                             "Too Many Challenges"};
    if (v == AUTH_GUARD_BUDGET || v == AUTH_GUARD_HSS_BUSY)
        retry_after += rand() % 3; /* jitter: those refused together do not come back together */
    metric_inc(req->s->m_auth_refused, auth_guard_verdict_name(v));
    log_debug("registrar: %s: no MAR (%s), 503 Retry-After %ld", req->impi,
              auth_guard_verdict_name(v), retry_after);
    char hdr[48];
    snprintf(hdr, sizeof hdr, "Retry-After: %ld", retry_after);
    reg_req_reply(req, 503, phrases[v < AUTH_GUARD_VERDICTS ? v : 0], hdr);
}

/* ---- challenge (MAR -> 401) ---- */

static void on_maa(void *arg, cx_status_t st, const cx_msg_t *a)
{
    reg_req_t *req = arg;
    scscf_t *s = req->s;
    const char *phrase = "";
    int code = reg_req_cx_to_sip(st, a, &phrase);
    auth_guard_mar_done(s->guard, req->impi);
    /* Unknown user, identities that do not match (Cx's Experimental-Result): guessing costs a
     * back-off. A base-protocol 5xxx (5012 UNABLE_TO_COMPLY: the HSS's own trouble, e.g. its
     * database locked) says nothing about the client and must not lock the UE out. */
    if (code == 403 && a && a->experimental_result >= 5000)
        auth_failed(s, req->impi, "hss_rejected");
    auth_challenge_t *c = NULL;
    if (code == 200 && a->nitems)
        c = auth_challenge_add(&s->auth, &a->items[0], req->impi, req->impu,
                               sip_core_config(s->p->sip)->domain, req->failures, clock_mono_ms());
    if (c && a->origin_host)
        snprintf(c->hss, sizeof c->hss, "%s", a->origin_host);
    if (!c) {
        log_info("registrar: %s: MAR %s (%s)", req->impi,
                 a ? cx_result_name(a->result_code, a->experimental_result) : "timed out",
                 code == 200 ? "no usable vector" : phrase);
        count_auth(s, req->scheme, code == 504 ? "hss_unavailable" : "rejected");
        if (code == 200)
            code = 500, phrase = "No Usable Vector";
        reg_req_reply(req, code, phrase, NULL);
        return;
    }
    char hdr[600];
    snprintf(hdr, sizeof hdr, "WWW-Authenticate: ");
    auth_www_authenticate(c, 0, hdr + strlen(hdr), sizeof hdr - strlen(hdr));
    count_auth(s, c->scheme, "challenged");
    metric_inc(s->m_events, "challenge");
    reg_req_reply(req, SIP_401_UNAUTHORIZED, hdr);
}

/* MAR for one vector; with rand_auts (30 bytes) a resynchronisation. fresh: a new challenge
 * (no credentials, an unknown nonce), which the Cx budget may refuse; 0: one that follows an
 * answer (re-challenge, resynchronisation). */
static void challenge(reg_req_t *req, const uint8_t *rand_auts, int fresh)
{
    scscf_t *s = req->s;
    long retry_after;
    auth_guard_verdict_t v =
        auth_guard_admit(s->guard, &s->rc->guard, req->impi, fresh, clock_mono_ms(), &retry_after);
    if (v != AUTH_GUARD_OK) {
        refuse(req, v, retry_after);
        return;
    }
    cx_msg_t m;
    cx_msg_init(&m, CX_CMD_MAR);
    cx_msg_set(&m.user_name, req->impi);
    cx_msg_add_public(&m, req->impu);
    cx_msg_set(&m.server_name, s->server_name);
    m.auth_items = 1;
    cx_auth_item_t *it = cx_msg_add_item(&m);
    cx_msg_set(&it->scheme,
               req->has_creds && *req->cr.algorithm ? auth_scheme_cx(req->scheme) : "Unknown");
    if (rand_auts) {
        memcpy(it->authorization, rand_auts, 30);
        it->authorization_len = 30;
    }
    req->cx_id = cx_client_send(s->cx.client, &m, on_maa, req);
    cx_msg_clear(&m);
    if (!req->cx_id) {
        auth_guard_mar_done(s->guard, req->impi);
        reg_req_reply(req, 500, "Cannot Reach HSS", NULL);
    }
}

/* auts= (RFC 3310 3.4): base64 of the 14-byte AUTS; the RAND is the challenge's. */
static void resync(reg_req_t *req, const auth_challenge_t *c)
{
    uint8_t rand_auts[30], buf[24];
    int n = strlen(req->cr.auts) == 20
                ? EVP_DecodeBlock(buf, (const unsigned char *)req->cr.auts, 20)
                : -1;
    if (n < 14) {
        auth_failed(req->s, req->impi, "bad_auts");
        reg_req_reply(req, 400, "Bad auts", NULL);
        return;
    }
    memcpy(rand_auts, c->rand, 16);
    memcpy(rand_auts + 16, buf, 14);
    metric_inc(req->s->m_events, "resync");
    log_info("registrar: %s: resynchronisation requested", req->impi);
    challenge(req, rand_auts, 0);
}

/* ---- SAR ---- */

/* ---- authentication ---- */

static void authenticated(reg_req_t *req)
{
    auth_guard_succeeded(req->s->guard, req->impi); /* a right answer ends any back-off */
    count_auth(req->s, req->scheme, "success");
    bindings_apply(req);
}

static void wrong_answer(reg_req_t *req, auth_challenge_t *c)
{
    scscf_t *s = req->s;
    count_auth(s, c->scheme, "failure");
    metric_inc(s->m_events, "auth_failure");
    log_info("registrar: %s: wrong digest response (%d so far)", req->impi, c->failures + 1);
    if (c->failures < s->rc->max_auth_failures) {
        metric_inc(s->m_auth_failures, "wrong_response");
        req->failures = c->failures + 1;
        challenge(req, NULL, 0);
        return;
    }
    auth_failed(s, req->impi, "wrong_response");
    reg_req_sar_detached(s, req->impi, req->impu, CX_SAT_AUTHENTICATION_FAILURE, c->hss);
    reg_req_reply(req, SIP_403_FORBIDDEN, NULL);
}

/* RFC 2617 3.2.2.5: the digest-uri names the Request-URI. */
static int uri_matches(reg_req_t *req)
{
    url_t *d = url_make(msg_home(req->msg), req->cr.uri);
    return d && url_cmp(d, req->sip->sip_request->rq_url) == 0;
}

static void check_answer(reg_req_t *req)
{
    auth_challenge_t *c = auth_challenge_take(&req->s->auth, req->cr.nonce, clock_mono_ms());
    if (!c) { /* unknown, used or expired nonce: a fresh challenge (stale) */
        metric_inc(req->s->m_events, "stale_nonce");
        challenge(req, NULL, 1);
        return;
    }
    auth_guard_answered(req->s->guard, &req->s->rc->guard, c->impi);
    if (strcmp(c->impi, req->impi) != 0 || strcmp(c->impu, req->impu) != 0) {
        auth_failed(req->s, req->impi, "identity_mismatch");
        free(c);
        reg_req_reply(req, SIP_403_FORBIDDEN, NULL);
        return;
    }
    req->scheme = c->scheme;
    snprintf(req->hss, sizeof req->hss, "%s", c->hss);
    if (!uri_matches(req)) {
        auth_failed(req->s, req->impi, "uri_mismatch");
        free(c);
        reg_req_reply(req, 400, "Digest URI Mismatch", NULL);
        return;
    }
    if (*req->cr.auts && c->scheme != AUTH_MD5)
        resync(req, c);
    else if (auth_verify(c, &req->cr, "REGISTER") == 0)
        authenticated(req);
    else
        wrong_answer(req, c);
    free(c);
}

/* A new challenge would take the challenge table or (for an IMPI not registered yet) the
 * registrations past its cap: 503 before the MAR, so a flood costs the HSS nothing. 1 when
 * answered. */
static int at_cap(reg_req_t *req)
{
    scscf_t *s = req->s;
    cap_t *full = NULL;
    if (!cap_admit(s->cap_challenges, strmap_size(s->auth.by_nonce)))
        full = s->cap_challenges;
    else if (!req->reg && !cap_admit(s->cap_regs, store_count(s->store)))
        full = s->cap_regs;
    if (!full)
        return 0;
    char hdr[48];
    snprintf(hdr, sizeof hdr, "Retry-After: %s", cap_retry_after(full));
    reg_req_reply(req, SIP_503_SERVICE_UNAVAILABLE, hdr);
    return 1;
}

/* After the store said what it holds for the IMPU. */
static void on_stored(void *arg, int rc, store_reg_t *reg)
{
    reg_req_t *req = arg;
    req->reg = rc == 0 ? reg : NULL;
    if (rc < 0) {
        reg_req_store_failed(req, rc, "read");
        return;
    }
    reg_store_ok(req->s);
    if (req->reg && strcmp(req->reg->impi, req->impi) != 0) {
        reg_req_reply(req, SIP_403_FORBIDDEN, NULL); /* IMPU registered by another IMPI */
        return;
    }
    /* Only a P-CSCF may say the REGISTER came integrity protected: one without a Path did
     * not pass any, whatever its Authorization claims, nor did one from outside trust.peers. */
    int protected_rereg = req->reg && req->s->rc->trust_integrity_protected && req->sip->sip_path &&
                          strcmp(req->cr.integrity_protected, "yes") == 0 &&
                          trust_guard_trusted(req->s->trust, req->irq);
    if (protected_rereg) {
        auth_scheme_from_algorithm(req->reg->scheme, &req->scheme);
        if (req->reg->hss) /* no MAR: the HSS of its last SAR */
            snprintf(req->hss, sizeof req->hss, "%s", req->reg->hss);
        authenticated(req);
    } else if (!req->has_creds || !*req->cr.nonce || (!*req->cr.response && !*req->cr.auts)) {
        if (!at_cap(req))
            challenge(req, NULL, 1);
    } else {
        check_answer(req);
    }
}

/* ---- entry ---- */

/* The IMPU and IMPI (sip_register_identities()), and the scheme the credentials ask for (none:
 * AKAv1, the first REGISTER of TS 33.203). 0, or the error. */
static sip_ids_error_t identities(reg_req_t *req, sip_t const *sip)
{
    sip_ids_t ids;
    const char *domain = sip_core_config(req->s->p->sip)->domain;
    sip_ids_error_t bad = sip_register_identities(sip, domain, &ids, &req->cr);
    if (bad)
        return bad;
    snprintf(req->impu, sizeof req->impu, "%s", ids.impu);
    snprintf(req->impi, sizeof req->impi, "%s", ids.impi);
    req->has_creds = ids.from_auth;
    if (!req->has_creds)
        req->scheme = AUTH_AKAV1;
    else if (auth_scheme_from_algorithm(req->cr.algorithm, &req->scheme) < 0)
        req->scheme = *req->cr.algorithm ? AUTH_MD5 : AUTH_AKAV1;
    return SIP_IDS_OK;
}

/* RFC 3261 10.3 step 7, checked before authentication so a REGISTER that cannot succeed does
 * not cost the HSS a vector. 0, or the minimum. */
static long too_brief(const scscf_t *s, sip_t const *sip)
{
    for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next) {
        long exp = sip_core_contact_expires(m, sip->sip_expires ? (long)sip->sip_expires->ex_delta
                                                                : s->rc->default_expires);
        if (m->m_url->url_type != url_any && exp > 0 && exp < s->rc->min_expires)
            return s->rc->min_expires;
    }
    return 0;
}

int registrar_on_register(scscf_t *s, sip_incoming_t *irq, sip_t const *sip)
{
    long min = too_brief(s, sip);
    if (min) {
        char h[48];
        snprintf(h, sizeof h, "%ld", min);
        sip_request_answer(s->p->sip, irq, 423, "Interval Too Brief",
                           &(sip_dialog_headers_t){.min_expires = h});
        return 423;
    }
    if (!sip->sip_path && !s->rc->allow_direct)
        return sip_request_answer(s->p->sip, irq, 403, "Register Through the P-CSCF", NULL), 403;
    reg_req_t *req = calloc(1, sizeof *req);
    if (!req)
        return 500;
    req->s = s;
    req->irq = irq;
    req->msg = sip_incoming_request(irq);
    req->sip = sip;
    sip_ids_error_t bad = identities(req, sip);
    if (bad) {
        reg_req_reply(req, 400, sip_ids_phrase(bad), NULL);
        return 0;
    }
    log_ctx_user(req->impu, req->impi);
    metric_inc(s->m_events, "register");
    store_get(s->store, req->impu, on_stored, req);
    return 0;
}

/* ---- set-up ---- */

int registrar_init(scscf_t *s)
{
    const cfg_t *cfg = s->p->cfg;
    if (!(s->rc = calloc(1, sizeof *s->rc)))
        return -1;
    reg_config_read(cfg, s->rc); /* the program's check (reg_config_check) ran before */
    metrics_t *m = s->p->metrics;
    s->m_regs = metrics_gauge(m, "cscf_registrations_active", "registrations (IMPIs) held", NULL);
    s->m_contacts = metrics_gauge(m, "cscf_registered_contacts", "contacts bound", NULL);
    s->m_auth = metrics_counter(m, "cscf_auth_total",
                                "authentication steps by scheme and outcome (challenged, success, "
                                "failure, rejected, hss_unavailable)",
                                "scheme,outcome");
    s->m_events = metrics_counter(m, "cscf_registrar_events_total",
                                  "registrar events (register, challenge, new, refresh, "
                                  "deregister, expired, resync, stale_nonce, auth_failure, rtr, "
                                  "admin_deregister)",
                                  "event");
    s->m_auth_failures = metrics_counter(
        m, "cscf_auth_failures_total",
        "failed authentications by reason (wrong_response, hss_rejected, identity_mismatch, "
        "uri_mismatch, bad_auts); each but a re-challenged wrong_response grows the IMPI's "
        "back-off",
        "reason");
    s->m_auth_refused = metrics_counter(
        m, "cscf_auth_refused_total",
        "REGISTERs answered 503 with Retry-After instead of a MAR, by reason (backoff, "
        "mar_in_flight, impi_rate, mar_budget, hss_busy)",
        "reason");
    s->m_mars_in_flight = metrics_gauge(
        m, "cscf_auth_mars_in_flight",
        "MARs awaiting the HSS (registrar.max_mars_in_flight bounds them), at the last tick", NULL);
    for (int v = AUTH_GUARD_BACKOFF; v < AUTH_GUARD_VERDICTS; v++) /* every series from 0 */
        metric_addv(s->m_auth_refused, (const char *const[]){auth_guard_verdict_name(v)}, 0);
    metric_addv(s->m_auth_failures, (const char *const[]){"wrong_response"}, 0);
    store_limits_t limits = {reg_config_max_registrations(cfg), REGISTRAR_CONTACTS_LIMIT};
    const char *backend = cfg_str(cfg, "store.backend");
    char options[1200];
    if (reg_config_store_options(cfg, options, sizeof options) < 0) {
        log_error("registrar: store.* options too long");
        return -1;
    }
    s->store = store_open_on(backend, &limits, options, s->p->root);
    if (!s->store) {
        /* Without its registrations the S-CSCF would answer as if nobody were registered. */
        log_error("registrar: cannot open the %s store (%s): not starting", backend,
                  *options ? options : "no options");
        return -1;
    }
    store_set_metrics(s->store, s->p->metrics);
    log_info("registrar: registrations in the %s store%s%s (%zu held)", backend,
             *options ? ", " : "", options, store_count(s->store));
    unsigned retry = sip_core_retry_after(s->p->sip);
    s->cap_regs = cap_new(m, "registrations", "registrar.max_registrations",
                          reg_config_max_registrations(cfg), retry);
    s->cap_challenges =
        cap_new(m, "challenges", "limits.challenges", reg_config_max_challenges(cfg), retry);
    if (!s->cap_regs || !s->cap_challenges)
        return -1;
    if (auth_table_init(&s->auth, reg_config_max_challenges(cfg), reg_config_auth_timeout_ms(cfg)) <
            0 ||
        !(s->guard = auth_guard_new(reg_config_auth_guard_entries(cfg))))
        return -1;
    return 0;
}

void registrar_fini(scscf_t *s)
{
    auth_table_fini(&s->auth);
    auth_guard_free(s->guard);
    s->guard = NULL;
    cap_free(s->cap_regs);
    cap_free(s->cap_challenges);
    s->cap_regs = s->cap_challenges = NULL;
    store_free(s->store);
    s->store = NULL;
    free(s->rc);
    s->rc = NULL;
}
