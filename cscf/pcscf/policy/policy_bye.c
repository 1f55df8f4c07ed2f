/* The network ended a policy session (Rx ASR, an N5 termination notification): the pcscf,
 * on the Record-Route path, ends the call itself with a BYE to each end (RFC 3261 15.1.1),
 * from what policy.c kept of the dialog: both ends' From/To, CSeq and targets, the route set
 * beyond us, and the UE's flow. */
#include "cscf/pcscf/policy/policy_internal.h"

#include <stdio.h>
#include <string.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/tport_tag.h>

#include "common/sip/sip_core.h"
#include "common/util/log.h"

static int on_bye_answer(nta_outgoing_magic_t *magic, nta_outgoing_t *orq, sip_t const *sip)
{
    (void)magic;
    int status = sip ? sip->sip_status->st_status : nta_outgoing_status(orq);
    if (status >= 200) {
        log_debug("policy: our BYE got %d", status);
        nta_outgoing_destroy(orq);
    }
    return 0;
}

/* One BYE of ours (RFC 3261 15.1.1) in the dialog: to_caller says which end gets it. */
static int send_bye(policy_session_t *s, int to_caller, const char *target, const char *route,
                    const char *next_hop)
{
    sip_core_t *core = s->pol->p->sip;
    nta_agent_t *agent = sip_core_agent(core);
    uint32_t cseq = (to_caller ? s->callee_cseq : s->caller_cseq) + 1;
    if (to_caller)
        s->callee_cseq = cseq;
    else
        s->caller_cseq = cseq;
    msg_t *msg = nta_msg_create(agent, 0);
    sip_t *sip = msg ? sip_object(msg) : NULL;
    su_home_t *home = msg ? msg_home(msg) : NULL;
    url_t *hop = home && next_hop && *next_hop ? url_make(home, next_hop) : NULL;
    nta_outgoing_t *orq = NULL;
    if (sip &&
        sip_add_tl(
            msg, sip,
            SIPTAG_REQUEST(sip_request_create(home, SIP_METHOD_BYE, URL_STRING_MAKE(target), NULL)),
            SIPTAG_FROM_STR(to_caller ? s->callee : s->caller),
            SIPTAG_TO_STR(to_caller ? s->caller : s->callee), SIPTAG_CALL_ID_STR(s->desc.call_id),
            SIPTAG_CSEQ(sip_cseq_create(home, cseq, SIP_METHOD_BYE)),
            TAG_IF(route && *route, SIPTAG_ROUTE_STR(route)), SIPTAG_MAX_FORWARDS_STR("70"),
            SIPTAG_REASON_STR("SIP;cause=503;text=\"QoS resources lost\""), TAG_END()) == 0 &&
        sip->sip_request) {
        /* From the listener the pcscf uses towards that address (a protected UE's SA port). */
        const url_t *dest = hop              ? hop
                            : sip->sip_route ? sip->sip_route->r_url
                                             : sip->sip_request->rq_url;
        const char *ident = sip_core_source_ident(core, dest);
        orq = nta_outgoing_mcreate(agent, on_bye_answer, NULL, (url_string_t const *)hop, msg,
                                   TAG_IF(ident, TPTAG_IDENT(ident)), TAG_END());
    }
    if (!orq && msg)
        msg_destroy(msg); /* nta did not take it */
    if (!orq)
        log_warn("policy: could not send BYE to the %s of %s", to_caller ? "caller" : "callee",
                 s->desc.call_id);
    return orq ? 0 : -1;
}

/* "udp:192.0.2.1:5060" -> "sip:192.0.2.1:5060;transport=udp": the UE's flow as a next hop. */
static void flow_url(const char *flow, char *out, size_t len)
{
    const char *colon = strchr(flow, ':');
    if (!colon) {
        out[0] = '\0';
        return;
    }
    snprintf(out, len, "sip:%s;transport=%.*s", colon + 1, (int)(colon - flow), flow);
}

void policy_end_call(policy_session_t *s, const char *why)
{
    log_info("policy: ending the call %s (%s): BYE to both sides", s->desc.call_id, why);
    if (s->established && s->ue_contact[0] && s->far_target[0]) {
        char hop[300];
        if (*s->ue_target)
            snprintf(hop, sizeof hop, "%s", s->ue_target); /* the pcscf's way to the UE */
        else
            flow_url(s->ue_flow, hop, sizeof hop);
        int ue_is_caller = s->desc.originating;
        send_bye(s, ue_is_caller, s->ue_contact, NULL, hop);
        send_bye(s, !ue_is_caller, s->far_target, s->far_route, NULL);
    } else {
        log_warn("policy: the call %s is not established: no BYE (it ends with its INVITE)",
                 s->desc.call_id);
    }
    policy_release(s, why);
}

void policy_session_lost(policy_session_t *s)
{
    if (s)
        policy_end_call(s, "the network ended the session");
}
