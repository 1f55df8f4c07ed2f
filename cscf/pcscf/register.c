/* REGISTER through the P-CSCF (TS 24.229 5.2.2, ARCHITECTURE.md section 4 steps 2, 4 and 7): Path
 * with a token naming the UE's flow, Require: path, P-Visited-Network-ID, P-Charging-Vector,
 * integrity-protected, forwarded to the registrar; on the way back ck/ik leave the 401 and the
 * 200 becomes this P-CSCF's binding for the flow. Security agreement and the SAs are
 * reg_ipsec.c's: it is called on the request, the 401 and the 200. */
#include "cscf/pcscf/pcscf.h"
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

#include "common/ops/limits.h"
#include "common/sip/charging.h"
#include "common/sip/sip_dialog.h"
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

static int add_headers(pcscf_t *pc, msg_t *msg, sip_t *sip, const pc_binding_t *b)
{
    su_home_t *home = msg_home(msg);
    const url_t *self = sip_core_self_url(pc->p->sip);
    char path[300], pvni[300];
    /* ;ob (RFC 5626 5.1): this first hop keeps the UE's flow and delivers over it. */
    snprintf(path, sizeof path, "<sip:term.%s@%s%s%s;lr%s%s>", b->token, self->url_host,
             self->url_port ? ":" : "", self->url_port ? self->url_port : "",
             pc->core_tcp ? ";transport=tcp" : "", b->outbound ? ";ob" : "");
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

/* ck and ik are for the P-CSCF's IPsec SAs (TS 33.203); the UE computes its own. */
static void strip_keys(sip_t *sip)
{
    for (sip_www_authenticate_t *w = sip->sip_www_authenticate; w; w = w->au_next) {
        msg_header_remove_param(w->au_common, "ck");
        msg_header_remove_param(w->au_common, "ik");
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
        /* ck/ik are read for the SAs before they go. */
        int st = pc_ipsec_on_401(f->pc, &f->sa, f->b.impi, f->b.flow, msg, sip);
        strip_keys(sip);
        if (st < 0)
            return refuse_401(f, fwd);
    }
    if (sip && status >= 200 && status < 300)
        remember(f, msg, sip);
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
    log_ctx_user(f->b.impu, f->b.impi);
    int answered = 0;
    int st = pc_ipsec_on_register(pc, irq, in, msg, sip, f->b.flow, f->b.impi, &f->sa, &answered);
    if (st) {
        msg_destroy(msg);
        return st; /* when answered, nta keeps the answer sent (as for 400 above) */
    }
    if (hex_random(f->b.token, 8) < 0 || add_headers(pc, msg, sip, &f->b) < 0 ||
        sip_proxy_prepare(msg, sip, NULL) < 0) {
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
