/* fwdproxy: a test-only program that forwards every request to fwd.next_hop with the common
 * proxy helpers (Route preprocessing, Max-Forwards, Record-Route, relay, CANCEL, stateless
 * ACK), so end-to-end tests exercise them with real SIPp peers before the CSCFs route. */
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/url.h>

#include "common/util/log.h"
#include "common/program/program.h"
#include "common/sip/sip_proxy.h"

static const cfg_key_t fwd_keys[] = {
    {"fwd.next_hop", CFG_SIP_URI, NULL, "where requests without a Route go", 0, 0, NULL},
    CFG_END,
};

/* This node only: a Request-URI in the served domain is a user's, not a strict router's
 * Record-Route (so the proxy can play an application server that routes back). */
static int is_self(const void *ctx, const url_t *url)
{
    return sip_core_is_node(ctx, url);
}

static int forward(void *app, sip_core_t *core, nta_incoming_t *irq, sip_t const *in)
{
    program_t *p = app;
    msg_t *msg = sip_proxy_copy_request(irq);
    if (!msg)
        return 500;
    sip_t *sip = sip_object(msg);
    sip_proxy_preprocess_route(msg, sip, is_self, core);
    int is_ack = sip->sip_request->rq_method == sip_method_ack;
    if (sip_proxy_check_max_forwards(sip)) {
        msg_destroy(msg);
        return is_ack ? 0 : 483;
    }
    url_t *target = NULL;
    if (!sip->sip_route)
        target = url_hdup(msg_home(msg), URL_STRING_MAKE(cfg_str(p->cfg, "fwd.next_hop"))->us_url);
    /* Record-Route only what may create a dialog: the route set of a dialog is fixed. */
    const url_t *rr = sip->sip_to && sip->sip_to->a_tag ? NULL : sip_core_self_url(core);
    if (sip_proxy_prepare(msg, sip, rr) < 0) {
        msg_destroy(msg);
        return is_ack ? 0 : 500;
    }
    if (is_ack) {
        sip_forward_stateless(core, msg, target);
        return 0;
    }
    return sip_forward(core, irq, msg, target, NULL, NULL);
}

static const program_def_t fwdproxy = {
    .name = "fwdproxy",
    .env_prefix = "FWD",
    .summary = "test-only forwarding proxy on the common SIP core",
    .has_sip = 1,
    .default_sip_listen = "127.0.0.1:7060",
    .default_api_listen = "127.0.0.1:8089",
    .keys = fwd_keys,
    .allow = "INVITE, ACK, CANCEL, BYE, OPTIONS",
    .supported = "",
    .accept = "application/sdp",
    .on_request = forward,
};

int main(int argc, char **argv)
{
    return program_main(&fwdproxy, argc, argv);
}
