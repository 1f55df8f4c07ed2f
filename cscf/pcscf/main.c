/* pcscf: the handset's first hop (outbound proxy). See ARCHITECTURE.md section 1. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/random.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/url.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include "common/auth/sip_digest.h"
#include "common/sip/charging.h"
#include "common/sip/sip_proxy.h"
#include "common/sip/trust.h"
#include "common/util/clock.h"
#include "common/util/log.h"
#include "cscf/pcscf/challenged.h"
#include "cscf/pcscf/emergency.h"
#include "cscf/pcscf/flow_conn.h"
#include "cscf/pcscf/pcscf.h"
#include "cscf/pcscf/policy/policy.h"
#include "cscf/pcscf/policy/policy_n5.h"
#include "cscf/pcscf/policy/policy_rx.h"
#include "cscf/pcscf/profiles.h"
#include "cscf/pcscf/reg_ipsec.h"
#include "cscf/pcscf/regsub.h"
#include "common/ops/limits.h"
#include "cscf/pcscf/state.h"

static const cfg_key_t pcscf_keys[] = {
    {"pcscf.registrar", CFG_SIP_URI, "sip:127.0.0.1:6060;transport=tcp;lr",
     "where REGISTER goes: the S-CSCF (or an I-CSCF); TCP keeps no transaction state for Timer "
     "J/K, which over UDP costs memory per transaction for 32 s",
     0, 0, NULL},
    {"pcscf.visited_network", CFG_STRING, "ims.mnc001.mcc001.3gppnetwork.org",
     "P-Visited-Network-ID this P-CSCF adds to REGISTER (RFC 7315 4.3) unless one is there "
     "already (from a trusted sender: a UE's own is removed, trust.peers)",
     0, 0, NULL},
    {"pcscf.terminating_delivery", CFG_ENUM, "auto",
     "where requests to a registered UE go: auto = over its flow (the REGISTER's connection, "
     "source address and port) when it registered with RFC 5626 outbound (reg-id, "
     "+sip.instance) or is behind NAT (Contact host is not the source address), else to its "
     "Contact; contact = always the Contact; flow = always the flow (a reload applies it)",
     0, 0, "auto|contact|flow"},
    {"pcscf.state_file", CFG_STRING, "",
     "where the bindings and their IPsec SA sets (keys included: mode 0600) are kept across a "
     "restart, so registered and protected UEs stay reachable without registering again; written "
     "after each change, read at start; \"\": nothing kept",
     0, 0, NULL},
    PCSCF_PROFILES_KEY,
    PC_IPSEC_KEYS,
    PC_FLOWS_KEYS,
    PC_EMERGENCY_KEYS,
    CHARGING_KEY_ROWS,
    POLICY_KEY_ROWS,
    POLICY_N5_KEY_ROWS,
    POLICY_RX_KEY_ROWS,
    TRUST_KEY_ROW("the trust domain (RFC 3325, TS 24.229 4.4): addresses and networks (CIDR, IPv4 "
                  "or IPv6) of the S-CSCFs (and other core nodes) whose requests may reach a UE "
                  "on our Path tokens and carry P-Asserted-Identity (and the other trust-domain "
                  "headers). A terminating request on a Path token from any other source gets "
                  "403, and any other request from one has those headers removed; a reload "
                  "applies a new list. The source is the address the request came from, never a "
                  "header"),
    {"limits.bindings", CFG_INT, "100000",
     "UE bindings (registered flows) held; a REGISTER from a new flow at the cap gets 503", 1,
     10000000, NULL},
    {"limits.reg_subscriptions", CFG_INT, "100000",
     "reg event subscriptions (one per registered IMPU) held; at the cap a new IMPU registers "
     "without one (logged, counted)",
     1, 10000000, NULL},
    CFG_END,
};

/* policy.backend: the back ends built in (cscf/pcscf/policy/). */
static const policy_backend_entry_t policy_backends[] = {
    {"none", NULL},
    {"rx", policy_rx_new},
    {"n5", policy_n5_new},
};

static int on_request(void *app, sip_core_t *core, sip_incoming_t *irq, sip_t const *sip)
{
    program_t *p = app;
    pcscf_t *pc = p->app;
    sip_method_t method = sip->sip_request->rq_method;
    if (!pc)
        return program_default_request(app, core, irq, sip);
    /* Before anything reads them: what the trust domain alone may say (route.c refuses the
     * Path tokens to untrusted sources). */
    if (!trust_guard_trusted(pc->trust, irq))
        trust_guard_strip(pc->trust, irq);
    if (method == sip_method_register) {
        if (emergency_request(sip, pc))
            pc_emergency_count(pc, "register"); /* to the registrar as any (5.2.10.2) */
        return pcscf_on_register(pc, irq, sip);
    }
    if (method == sip_method_notify && regsub_stray_notify(pc, irq, sip))
        return 481;
    if (method == sip_method_options && sip_core_request_is_for_us(core, sip))
        return program_default_request(app, core, irq, sip);
    return pcscf_route(pc, irq, sip);
}

/* A REGISTER: the answer to a challenge we relayed is work admitted already (challenged.h); a
 * known UE's re-REGISTER is one from a flow with a binding for the same IMPI (or, without
 * credentials, the same IMPU): many UEs behind one address and port (a NAT, SIPp) share a flow,
 * and the flow alone would make every new registration on it "known", shed only at 3 x the
 * target. Anything else is an initial REGISTER. */
static unsigned register_class(pcscf_t *pc, msg_t *msg, sip_t const *sip, char *flow,
                               size_t flow_len)
{
    digest_creds_t cr;
    int creds = digest_creds_parse(sip->sip_authorization, NULL, &cr) == 0;
    if (creds && *cr.response && pc_challenged_take(pc->challenged, cr.nonce, clock_mono_ms()))
        return SIP_ADM_ADMITTED;
    if (!*flow) /* built here once; the per-flow limit takes it from there */
        sip_core_flow_of(msg, flow, flow_len);
    const pc_binding_t *b = pcscf_binding(pc, flow);
    if (!b)
        return 0;
    if (creds)
        return strcasecmp(b->impi, cr.username) == 0 ? SIP_ADM_KNOWN : 0;
    char impu[256];
    return sip->sip_to && sip_impu_of(sip->sip_to->a_url, impu, sizeof impu) == 0 &&
                   strcasecmp(b->impu, impu) == 0
               ? SIP_ADM_KNOWN
               : 0;
}

/* Admission classes (sip_core.h): a REGISTER as register_class() says; a request on one of our
 * Path tokens comes from the S-CSCF, which admitted it already and whose flow carries many UEs.
 * A table lookup or two each. */
static unsigned admission_class(void *ctx, sip_core_t *core, msg_t *msg, sip_t const *sip,
                                char *flow, size_t flow_len)
{
    pcscf_t *pc = ((program_t *)ctx)->app;
    if (!pc)
        return 0;
    /* TS 24.229 5.2.1: emergency before anything else, never shed (emergency.h). */
    if (emergency_request(sip, pc))
        return SIP_ADM_EMERGENCY;
    if (sip->sip_request->rq_method == sip_method_register)
        return register_class(pc, msg, sip, flow, flow_len);
    const url_t *top = sip->sip_route ? sip->sip_route->r_url : NULL;
    if (top && top->url_user && strncmp(top->url_user, "term.", 5) == 0 &&
        sip_core_is_node(core, top))
        return SIP_ADM_ADMITTED | SIP_ADM_PEER;
    return 0;
}

/* pcscf.registrar with transport=tcp: the core leg is TCP both ways, which keeps no completed
 * transaction around for retransmissions (RFC 3261 17: timers D, J and K are 0 on TCP).
 * "tls" for a sips: URI too. */
static int registrar_is(const char *uri, const char *transport)
{
    su_home_t home[1] = {SU_HOME_INIT(home)};
    url_t *u = uri ? url_make(home, uri) : NULL;
    char t[8] = "";
    int is = u && ((url_param(u->url_params, "transport", t, sizeof t) > 0 &&
                    strcasecmp(t, transport) == 0) ||
                   (u->url_type == url_sips && strcmp(transport, "tls") == 0));
    su_home_deinit(home);
    return is;
}

/* trust.peers, checked already by pcscf_check. */
static int trust_start(pcscf_t *pc)
{
    const char *const *peers;
    size_t n = cfg_list(pc->p->cfg, "trust.peers", &peers);
    char err[200];
    pc->trust = trust_guard_new("pcscf", pc->p->metrics, peers, n, err, sizeof err);
    if (!pc->trust)
        log_error("pcscf: %s", err);
    return pc->trust ? 0 : -1;
}

static int pcscf_check(const cfg_t *cfg, char *err, size_t len)
{
    const char *const *peers;
    size_t n = cfg_list(cfg, "trust.peers", &peers);
    if (trust_peers_check(peers, n, err, len) < 0 || pcscf_profiles_check(cfg, err, len) < 0 ||
        pc_emergency_check(cfg, err, len) < 0)
        return -1;
    if (strcmp(cfg_str(cfg, "policy.backend"), "n5") == 0 && policy_n5_check(cfg, err, len) < 0)
        return -1;
    return pc_ipsec_check(cfg, err, len);
}

static int pcscf_init(program_t *p)
{
    pcscf_t *pc = calloc(1, sizeof *pc);
    if (!pc)
        return -1;
    pc->p = p;
    p->app = pc;
    if (trust_start(pc) < 0)
        return -1;
    pc->visited_network = cfg_str(p->cfg, "pcscf.visited_network");
    pc->registrar = cfg_str(p->cfg, "pcscf.registrar");
    pc->core_tcp = registrar_is(pc->registrar, "tcp");
    pc->core_tls = registrar_is(pc->registrar, "tls") && sip_core_tls_url(p->sip);
    if (registrar_is(pc->registrar, "tls") && !pc->core_tls)
        log_warn("pcscf: pcscf.registrar %s asks for TLS but sip.tls.listen is not set: the "
                 "S-CSCF is reached over TLS, our Path asks it to come back without",
                 pc->registrar);
    const char *ioi = cfg_str(p->cfg, "charging.ioi");
    pc->ioi = ioi && *ioi ? ioi : cfg_str(p->cfg, "sip.domain");
    pc->nccf = cfg_list(p->cfg, "charging.ccf", &pc->ccf);
    pc->necf = cfg_list(p->cfg, "charging.ecf", &pc->ecf);
    if (pc_emergency_init(pc) < 0)
        return -1;
    unsigned retry = (unsigned)cfg_int(p->cfg, "limits.retry_after_seconds");
    pc->cap_bindings = cap_new(p->metrics, "bindings", "limits.bindings",
                               (size_t)cfg_int(p->cfg, "limits.bindings"), retry);
    pc->cap_regsubs = cap_new(p->metrics, "reg_subscriptions", "limits.reg_subscriptions",
                              (size_t)cfg_int(p->cfg, "limits.reg_subscriptions"), retry);
    /* A UE answers a 401 within seconds: 30 s, and room for 65,536 challenges in flight. The
     * seed keeps the slots a flood of chosen nonces would fill unpredictable. */
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (uint64_t)clock_mono_ms() ^ (uint64_t)getpid();
    pc->challenged = pc_challenged_new(65536, 30000, seed);
    if (!pc->cap_bindings || !pc->cap_regsubs || !pc->challenged)
        return -1;
    if (pc_delivery_parse(cfg_str(p->cfg, "pcscf.terminating_delivery"), &pc->delivery) < 0)
        return -1; /* the schema's choices let nothing else through */
    /* IPsec first after the bindings: its listeners must be there before anything is sent
     * (sip_core_add_listener()), and its datapath attached before the state file is read, so
     * the restored SA sets are installed as they are read (pcscf_state_attach_dp). */
    if (pcscf_profiles_init(pc) < 0 || pcscf_flows_init(pc) < 0 || pc_ipsec_init(pc) < 0 ||
        regsub_init(pc) < 0 || pcscf_state_init(pc) < 0)
        return -1;
    pcscf_state_ready(pc);
    char err[256] = "";
    if (policy_start(p, policy_backends, sizeof policy_backends / sizeof policy_backends[0],
                     &pc->policy, err, sizeof err) < 0) {
        log_error("pcscf: %s", *err ? err : "policy: could not start");
        return -1;
    }
    if (pc->policy)
        sip_proxy_set_response_observer(p->sip, pcscf_policy_observe, pc);
    pc_flows_listeners_ready(pc); /* IPsec's protected TCP ports answer CRLF pings too */
    sip_core_set_classify(p->sip, admission_class, p);
    /* A handset is outside the trust domain too (its address is not in trust.peers): what it
     * asserts in a response is not passed on. */
    sip_proxy_set_response_screen(p->sip, trust_screen_response, pc->trust);
    return 0;
}

static void pcscf_fini(program_t *p)
{
    pcscf_t *pc = p->app;
    if (!pc)
        return;
    sip_proxy_set_response_observer(p->sip, NULL, NULL);
    policy_stop(pc->policy); /* first: its sessions are released while the SIP core is up */
    pc->policy = NULL;
    pcscf_state_fini(pc); /* then a last write while the bindings and SAs are there */
    regsub_fini(pc);      /* bindings going at teardown send no un-SUBSCRIBE */
    pcscf_flows_fini(pc);
    pc_ipsec_fini(pc); /* after the bindings: their sets go with the datapath */
    sip_proxy_set_response_screen(p->sip, NULL, NULL);
    trust_guard_free(pc->trust);
    pc_emergency_fini(pc);
    pc_challenged_free(pc->challenged);
    cap_free(pc->cap_bindings);
    cap_free(pc->cap_regsubs);
    pcscf_profiles_fini(pc);
    free(pc);
    p->app = NULL;
}

/* Config reload: the delivery mode, the trusted peers, the handset profiles (a binding finds its
 * profile by name: one no longer listed is `default`) and the emergency keys apply to the next
 * request. */
static int pcscf_reload(program_t *p, const cfg_t *cfg, const char *key)
{
    pcscf_t *pc = p->app;
    if (pc && strcmp(key, "pcscf.profiles") == 0)
        return pcscf_profiles_reload(pc, cfg);
    if (pc && strcmp(key, "trust.peers") == 0) {
        const char *const *peers;
        size_t n = cfg_list(cfg, key, &peers);
        char err[200];
        return trust_guard_set(pc->trust, peers, n, err, sizeof err) == 0;
    }
    if (pc && strncmp(key, "flows.", 6) == 0)
        return pc_flows_reload(pc, cfg, key);
    if (pc && strncmp(key, "emergency.", 10) == 0)
        return pc_emergency_reload(pc, cfg, key);
    if (!pc || strcmp(key, "pcscf.terminating_delivery") != 0)
        return 0;
    return pc_delivery_parse(cfg_str(cfg, key), &pc->delivery) == 0;
}

/* Before each /metrics scrape, on the loop. */
static void pcscf_publish(program_t *p)
{
    if (p->app)
        pcscf_sa_publish(p->app);
}

static const program_def_t pcscf = {
    .name = "pcscf",
    .env_prefix = "PCSCF",
    .summary = "IMS Proxy-CSCF",
    .has_sip = 1,
    .default_sip_listen = "127.0.0.1:5060",
    .default_api_listen = "127.0.0.1:8081",
    .keys = pcscf_keys,
    .check = pcscf_check,
    /* What this build handles; grows as registration and call routing land. */
    .allow = "REGISTER, INVITE, ACK, CANCEL, BYE, PRACK, UPDATE, INFO, MESSAGE, REFER, OPTIONS, "
             "SUBSCRIBE, NOTIFY, PUBLISH",
    .supported = "path, 100rel, timer, replaces, norefersub",
    .accept = "application/sdp",
    .on_request = on_request,
    .init = pcscf_init,
    .fini = pcscf_fini,
    .reload = pcscf_reload,
    .publish = pcscf_publish,
};

int main(int argc, char **argv)
{
    return program_main(&pcscf, argc, argv);
}
