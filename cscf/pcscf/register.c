/* REGISTER through the P-CSCF (TS 24.229 5.2.2, ARCHITECTURE.md section 4 steps 2, 4 and 7): Path
 * with a token naming the UE's flow, Require: path, P-Visited-Network-ID, P-Charging-Vector,
 * integrity-protected, forwarded to the registrar; on the way back ck/ik leave the 401 and the
 * 200 becomes this P-CSCF's binding for the flow. Security agreement and the SAs are
 * reg_ipsec.c's: it is called on the request, the 401 and the 200. */
#include "cscf/pcscf/challenged.h"
#include "cscf/pcscf/flow_conn.h"
#include "cscf/pcscf/pcscf.h"
#include "cscf/pcscf/profiles.h"
#include "cscf/pcscf/reg_ipsec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/sip_util.h>

#include "common/auth/sip_digest.h"
#include "common/ops/limits.h"
#include "common/sip/charging.h"
#include "common/sip/sip_dialog.h"
#include "common/util/clock.h"
#include "common/util/hex.h"
#include "common/util/log.h"
#include "common/sip/sip_ids.h"
#include "common/sip/sip_hdr.h"
#include "common/sip/sip_proxy.h"

typedef struct reg_fwd {
    pcscf_t *pc;
    pc_binding_t b;
    pc_reg_sa_t sa;
} reg_fwd_t;

/* The profile's supported_add tags join the UE's own Supported tags (kept as they are: some
 * phones break when a proxy replaces them), each at most once. */
static int extend_supported(msg_t *msg, sip_t *sip, const char *tags)
{
    char tag[64];
    for (const char *p = tags; *p;) {
        size_t n = strcspn(p, " ");
        if (n && n < sizeof tag) {
            snprintf(tag, sizeof tag, "%.*s", (int)n, p);
            if (!sip_has_supported(sip->sip_supported, tag) &&
                sip_add_tl(msg, sip, SIPTAG_SUPPORTED_STR(tag), TAG_END()) < 0)
                return -1;
        }
        p += n;
        p += strspn(p, " ");
    }
    return 0;
}

/* An Authorization whose parameters are run together (a fold or spaces in place of a comma,
 * `nonce="x"nc=1`) or spaced around '=': what tolerate_auth_spacing takes (the parameters are
 * split and cleaned on the way, reg_ipsec.c: set_integrity()) and refuses without it. A fold
 * around a comma is plain RFC 3261 line folding, taken either way. */
static int auth_odd(sip_t const *sip)
{
    for (sip_authorization_t const *au = sip->sip_authorization; au; au = au->au_next)
        if (digest_params_odd(au->au_params) != 0)
            return 1;
    return 0;
}

/* expires_min / expires_max: what the UE asks (Expires, the Contacts' expires) brought into
 * the profile's range before the registrar sees it; 0 (a de-registration) is left alone. */
static long clamp(const pcscf_profile_t *pr, long e)
{
    if (e <= 0)
        return e;
    if (pr->expires_min && e < pr->expires_min)
        e = pr->expires_min;
    if (pr->expires_max && e > pr->expires_max)
        e = pr->expires_max;
    return e;
}

static int clamp_expires(msg_t *msg, sip_t *sip, const pcscf_profile_t *pr)
{
    su_home_t *home = msg_home(msg);
    char v[48];
    if (!pr->expires_min && !pr->expires_max)
        return 0;
    if (sip->sip_expires) {
        long e = clamp(pr, (long)sip->sip_expires->ex_delta);
        sip->sip_expires->ex_delta = (unsigned long)e;
        msg_fragment_clear(sip->sip_expires->ex_common);
    }
    for (sip_contact_t *m = sip->sip_contact; m; m = m->m_next) {
        if (!m->m_expires)
            continue;
        snprintf(v, sizeof v, "expires=%ld", clamp(pr, strtol(m->m_expires, NULL, 10)));
        if (msg_header_replace_param(home, m->m_common, su_strdup(home, v)) < 0)
            return -1;
        msg_fragment_clear(m->m_common);
    }
    return 0;
}

/* The profile's changes to the REGISTER on its way to the registrar. */
static int apply_profile(msg_t *msg, sip_t *sip, const pcscf_profile_t *pr)
{
    if (clamp_expires(msg, sip, pr) < 0)
        return -1;
    return extend_supported(msg, sip, pr->supported_add);
}

static int add_headers(pcscf_t *pc, msg_t *msg, sip_t *sip, const pc_binding_t *b)
{
    su_home_t *home = msg_home(msg);
    /* Over TLS to the S-CSCF, it comes back to our TLS listener (sip_core_tls_url()). */
    const url_t *self = pc->core_tls ? sip_core_tls_url(pc->p->sip) : sip_core_self_url(pc->p->sip);
    char path[300], pvni[300];
    /* ;ob (RFC 5626 5.1): this first hop keeps the UE's flow and delivers over it. */
    snprintf(path, sizeof path, "<sip:term.%s@%s%s%s;lr%s%s>", b->token, self->url_host,
             self->url_port ? ":" : "", self->url_port ? self->url_port : "",
             pc->core_tls   ? ";transport=tls"
             : pc->core_tcp ? ";transport=tcp"
                            : "",
             b->outbound ? ";ob" : "");
    sip_path_t *p = sip_path_make(home, path);
    if (!p || msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)p) < 0)
        return -1;
    snprintf(pvni, sizeof pvni, "\"%s\"", pc->visited_network);
    /* One a trusted P-CSCF before us added stays (RFC 7315 4.3); a UE's went (trust.h). */
    if ((!sip_hdr_get(sip, "P-Visited-Network-ID") &&
         sip_hdr_add(msg, sip, "P-Visited-Network-ID", pvni) < 0) ||
        pcscf_add_charging_vector(pc, msg, sip) < 0 ||
        (sip_has_supported(sip->sip_supported, "path") &&
         sip_add_tl(msg, sip, SIPTAG_REQUIRE_STR("path"), TAG_END()) < 0))
        return -1;
    return 0;
}

/* ck and ik are for the P-CSCF's IPsec SAs (TS 33.203); the UE computes its own (strip_ck_ik,
 * on but for lab UEs that read them). strip_qop: for phones that refuse a 401 with a qop they
 * do not expect; they answer RFC 2069-style, which the S-CSCF takes. */
static void strip_keys(sip_t *sip, const pcscf_profile_t *pr)
{
    for (sip_www_authenticate_t *w = sip->sip_www_authenticate; w; w = w->au_next) {
        if (pr->strip_ck_ik) {
            msg_header_remove_param(w->au_common, "ck");
            msg_header_remove_param(w->au_common, "ik");
        }
        if (pr->strip_qop)
            msg_header_remove_param(w->au_common, "qop");
        msg_fragment_clear(w->au_common);
    }
}

/* The expiry the registrar granted to our UE's contact (0: gone). */
static long granted(msg_t *msg, sip_t const *sip, const char *contact)
{
    url_t *mine = url_make(msg_home(msg), contact);
    for (sip_contact_t const *m = sip->sip_contact; mine && m; m = m->m_next) {
        if (url_cmp(m->m_url, mine) != 0)
            continue;
        return sip_core_contact_expires(m, sip->sip_expires ? (long)sip->sip_expires->ex_delta : 0);
    }
    return 0;
}

static void remember(reg_fwd_t *f, msg_t *msg, sip_t const *sip)
{
    pc_binding_t *b = &f->b;
    const char *pau = sip_hdr_get(sip, "P-Associated-URI");
    snprintf(b->associated, sizeof b->associated, "%s", pau ? pau : "");
    /* The default IMPU (TS 24.229 5.2.3): the first P-Associated-URI, else To. */
    const char *lt = pau ? strchr(pau, '<') : NULL, *gt = lt ? strchr(lt, '>') : NULL;
    if (gt && gt - lt - 1 < (long)sizeof b->impu)
        snprintf(b->impu, sizeof b->impu, "%.*s", (int)(gt - lt - 1), lt + 1);
    size_t n = 0;
    b->service_route[0] = '\0';
    for (sip_service_route_t const *r = sip->sip_service_route; r; r = r->r_next) {
        char *s = sip_header_as_string(msg_home(msg), (sip_header_t const *)r);
        int w = s ? snprintf(b->service_route + n, sizeof b->service_route - n, "%s%s",
                             n ? ", " : "", s)
                  : 0;
        if (w > 0 && (size_t)w < sizeof b->service_route - n)
            n += (size_t)w;
    }
    long expires = granted(msg, sip, b->contact);
    if (expires > 0)
        pc_ipsec_on_registered(f->pc, &f->sa, b);
    else
        pc_ipsec_on_deregistered(f->pc, &f->sa, b->impi);
    pcscf_binding_update(f->pc, b, expires);
    if (expires > 0 && f->sa.replaces[0])
        pcscf_binding_drop(f->pc, f->sa.replaces,
                           "replaced: the UE re-registered through its SA from a new port");
}

/* The SAs for the 401 could not be made: the UE is told so rather than sent a 401 it cannot
 * answer through an SA. */
static int refuse_401(reg_fwd_t *f, sip_fwd_t *fwd)
{
    sip_incoming_t *irq = sip_fwd_take(fwd);
    if (irq) {
        sip_request_answer(f->pc->p->sip, irq, 500, "Security Association Setup Failed", NULL);
        sip_incoming_release(irq, NULL);
    }
    return 1;
}

static int on_response(void *ctx, sip_fwd_t *fwd, int status, msg_t *msg, sip_t *sip)
{
    reg_fwd_t *f = ctx;
    if (sip && status == 401) {
        char nonce[256]; /* its answer will be work admitted already (challenged.h) */
        if (digest_param(sip->sip_www_authenticate, "nonce", nonce, sizeof nonce) == 0 && *nonce)
            pc_challenged_note(f->pc->challenged, nonce, clock_mono_ms());
        /* ck/ik are read for the SAs before they go. */
        int st = pc_ipsec_on_401(f->pc, &f->sa, f->b.impi, f->b.flow, msg, sip);
        strip_keys(sip, pcscf_profiles_named(f->pc->profiles, f->b.profile));
        if (st < 0)
            return refuse_401(f, fwd);
    }
    if (sip && status >= 200 && status < 300) {
        remember(f, msg, sip);
        pc_flows_on_register_ok(f->pc, &f->b, msg, sip);
    }
    /* The S-CSCF's P-Charging-Vector (its term-ioi) and P-Charging-Function-Addresses are the
     * trust domain's, not the UE's (RFC 7315). */
    if (sip)
        charging_strip(msg, sip);
    if (status == 0)
        free(f); /* the relay has ended */
    return 0;
}

static int prepare(pcscf_t *pc, sip_incoming_t *irq, sip_t const *in, reg_fwd_t *f, msg_t **out)
{
    msg_t *msg = sip_proxy_copy_request(irq);
    if (!msg)
        return 500;
    sip_t *sip = sip_object(msg);
    if (sip_proxy_check_max_forwards(sip)) {
        msg_destroy(msg);
        return 483;
    }
    sip_ids_t ids; /* the realm is the home network's, which a P-CSCF may not know */
    sip_ids_error_t bad = sip_register_identities(sip, NULL, &ids, NULL);
    if (bad) { /* refused here as the I-CSCF and registrar would, with the same phrase */
        msg_destroy(msg);
        sip_request_answer(pc->p->sip, irq, 400, sip_ids_phrase(bad), NULL);
        return 400;
    }
    msg_t *orig = sip_incoming_request(irq); /* the copy has no source address */
    sip_core_flow_of(orig, f->b.flow, sizeof f->b.flow);
    msg_destroy(orig);
    pc_flow_seen(pc, irq, f->b.flow); /* its connection, when it is one (flow_conn.h) */
    if (!strmap_get(pc->by_flow, f->b.flow) &&
        !cap_admit(pc->cap_bindings, strmap_size(pc->by_flow))) {
        msg_destroy(msg); /* limits.bindings: a new flow would not be kept */
        sip_request_answer(
            pc->p->sip, irq, 503, NULL,
            &(sip_dialog_headers_t){.retry_after = cap_retry_after(pc->cap_bindings)});
        return 503;
    }
    snprintf(f->b.impu, sizeof f->b.impu, "%s", ids.impu);
    snprintf(f->b.impi, sizeof f->b.impi, "%s", ids.impi);
    char *c = sip->sip_contact ? url_as_string(msg_home(msg), sip->sip_contact->m_url) : NULL;
    snprintf(f->b.contact, sizeof f->b.contact, "%s", c ? c : "");
    f->b.outbound = pc_register_outbound(sip);
    const pcscf_profile_t *pr = pcscf_profile_for(pc, in);
    snprintf(f->b.profile, sizeof f->b.profile, "%s", pr->name);
    log_ctx_user(f->b.impu, f->b.impi);
    if (!pr->tolerate_auth_spacing && auth_odd(in)) {
        log_info("pcscf: REGISTER from %s (profile %s): Authorization parameters run together",
                 f->b.flow, pr->name);
        msg_destroy(msg);
        sip_request_answer(pc->p->sip, irq, 400, "Malformed Authorization", NULL);
        return 400;
    }
    int answered = 0;
    int st = pc_ipsec_on_register(pc, irq, in, msg, sip, f->b.flow, f->b.impi, &f->sa, &answered);
    if (st) {
        msg_destroy(msg);
        return st; /* when answered, nta keeps the answer sent (as for 400 above) */
    }
    /* add_headers first: its Require: path follows what the UE itself said it supports. */
    if (hex_random(f->b.token, 8) < 0 || add_headers(pc, msg, sip, &f->b) < 0 ||
        apply_profile(msg, sip, pr) < 0 || sip_proxy_prepare(msg, sip, NULL) < 0) {
        msg_destroy(msg);
        return 500;
    }
    *out = msg;
    return 0;
}

int pcscf_on_register(pcscf_t *pc, sip_incoming_t *irq, sip_t const *in)
{
    reg_fwd_t *f = calloc(1, sizeof *f);
    msg_t *msg = NULL;
    if (!f)
        return 500;
    f->pc = pc;
    int st = prepare(pc, irq, in, f, &msg);
    if (st) {
        free(f);
        return st;
    }
    url_t *next = url_make(msg_home(msg), pc->registrar);
    if (!next)
        msg_destroy(msg);
    st = next ? sip_forward(pc->p->sip, irq, msg, next, on_response, f) : 500;
    if (st)
        free(f);
    return st;
}
