/* scscf: registrar and home proxy. See ARCHITECTURE.md section 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth/sip_digest.h"
#include "common/sip/sip_dialog.h"
#include "common/sip/charging.h"
#include "common/sip/sip_proxy.h"
#include "common/sip/trust.h"
#include "common/util/clock.h"
#include "common/util/log.h"
#include "cscf/scscf/registration/reg_admin.h"
#include "cscf/scscf/registration/reg_config.h"
#include "cscf/scscf/registration/reg_req.h"
#include "cscf/scscf/registration/regevent.h"
#include "cscf/scscf/registration/registrar.h"
#include "cscf/scscf/routing/icscf.h"
#include "cscf/scscf/routing/isc.h"
#include "cscf/scscf/routing/route.h"
#include "cscf/scscf/routing/thirdparty.h"
#include "cscf/scscf/routing/unreg.h"
#include "cscf/scscf/scscf.h"

static const cfg_key_t scscf_keys[] = {
    FD_SETUP_KEY_ROWS("scscf.ims.mnc001.mcc001.3gppnetwork.org", "127.0.0.1:3869",
                      "hss.ims.mnc001.mcc001.3gppnetwork.org@127.0.0.1:3868", "16"),
    {"scscf.server_name", CFG_SIP_URI, NULL,
     "this S-CSCF's SIP URI as the HSS stores it (Server-Name); default sip:<advertise or first "
     "listen address>. Replicas sharing a store (store.backend redis) set the same name, one "
     "that reaches any of them (a Service): Service-Route and Record-Route still name each "
     "replica's own address",
     0, 0, NULL},
    {"scscf.next_hop", CFG_SIP_URI, NULL,
     "where requests for users outside our domain go (a BGCF, I-CSCF or peer); none: 404", 0, 0,
     NULL},
    REG_CONFIG_KEY_ROWS,
    ICSCF_KEY_ROWS,
    CHARGING_KEY_ROWS,
    TRUST_KEY_ROW("the trust domain (RFC 3325, TS 24.229 4.4): addresses and networks (CIDR, IPv4 "
                  "or IPv6) of the P-CSCFs, I-CSCFs and application servers whose requests may "
                  "carry P-Asserted-Identity (and the other trust-domain headers) and use the "
                  "orig Route or an AS's odi Route. From any other source those headers are "
                  "removed and originating service is refused (403); a reload applies a new "
                  "list. The source is the address the request came from, never a header"),
    CFG_END,
};

static void set_server_name(scscf_t *s)
{
    const char *name = cfg_str(s->p->cfg, "scscf.server_name");
    const char *const *listen;
    const char *addr = cfg_str(s->p->cfg, "sip.advertise");
    if (!addr && cfg_list(s->p->cfg, "sip.listen", &listen) > 0)
        addr = listen[0];
    if (name)
        snprintf(s->server_name, sizeof s->server_name, "%s", name);
    else
        snprintf(s->server_name, sizeof s->server_name, "sip:%s", addr ? addr : "localhost");
}

/* Registration reports a 200 upward; routing's third-party registration acts on it. */
static void *tpr_before(scscf_t *s, const store_reg_t *reg, const char *impu, sip_t const *sip,
                        msg_t *msg)
{
    return thirdparty_prepare(s, reg, impu, sip, msg);
}

static void tpr_after(scscf_t *s, void *prepared, const char *response, long expires)
{
    thirdparty_send(s, prepared, response, expires);
}

static const reg_req_hooks_t reg_hooks = {tpr_before, tpr_after};

static void tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    reg_admin_tick((scscf_t *)arg);
}

/* The registration layer's timer, REST view and reg event, over what registrar_init made. */
static int registration_start(scscf_t *s)
{
    if (registrar_init(s) < 0 || regevent_init(s) < 0 || reg_admin_rest_routes(s) < 0)
        return -1;
    /* Registrations that expired while the process was down (a journal, a shared store) go
     * now with their usual effects when the HSS can be told already, else at the first tick
     * that finds a Cx peer open (reg_admin_can_sweep). */
    if (reg_admin_can_sweep(s))
        reg_admin_sweep(s);
    s->tick = su_timer_create(su_root_task(s->p->root), 1000);
    return s->tick && su_timer_run(s->tick, tick, (su_timer_arg_t *)s) == 0 ? 0 : -1;
}

/* trust.peers, checked already by scscf_check. */
static int trust_start(scscf_t *s)
{
    const char *const *peers;
    size_t n = cfg_list(s->p->cfg, "trust.peers", &peers);
    char err[200];
    s->trust = trust_guard_new("scscf", s->p->metrics, peers, n, err, sizeof err);
    if (!s->trust)
        log_error("scscf: %s", err);
    return s->trust ? 0 : -1;
}

static unsigned admission_class(void *ctx, sip_core_t *core, msg_t *msg, sip_t const *sip,
                                char *flow, size_t flow_len);

static int scscf_init(program_t *p)
{
    scscf_t *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->p = p;
    s->reg_hooks = &reg_hooks;
    p->app = s;
    if (trust_start(s) < 0)
        return -1;
    set_server_name(s);
    const char *hop = cfg_str(p->cfg, "scscf.next_hop");
    if (hop && !(s->next_hop = url_hdup(NULL, URL_STRING_MAKE(hop)->us_url)))
        return -1;
    const url_t *self = sip_core_self_url(p->sip);
    /* Closed with ">" (or ";transport=tcp>") per REGISTER, by bindings.c. */
    snprintf(s->service_route, sizeof s->service_route, "<sip:orig@%s%s%s;lr", self->url_host,
             self->url_port ? ":" : "", self->url_port ? self->url_port : "");
    const url_t *tls = sip_core_tls_url(p->sip);
    if (tls)
        snprintf(s->service_route_tls, sizeof s->service_route_tls, "<sip:orig@%s:%s;lr",
                 tls->url_host, tls->url_port);
    if (cx_node_start(&s->cx, p, scscf_cx_handlers, scscf_cx_nhandlers, s) < 0 ||
        scscf_cx_debug_routes(s) < 0 || registration_start(s) < 0 || !(s->isc = isc_new(s)) ||
        !(s->unreg = unreg_new(s)) || !(s->thirdparty = thirdparty_new(s)))
        return -1;
    int failed;
    s->icscf = icscf_new(s, &failed);
    if (failed)
        return -1;
    sip_core_set_classify(p->sip, admission_class, p);
    sip_proxy_set_response_screen(p->sip, trust_screen_response, s->trust);
    log_info("scscf: Server-Name %s", s->server_name);
    return 0;
}

static void scscf_fini(program_t *p)
{
    scscf_t *s = p->app;
    if (!s)
        return;
    cx_node_stop(&s->cx, p); /* Cx callbacks still queued run first: they answer REGISTERs */
    icscf_free(s->icscf);
    if (s->tick)
        su_timer_destroy(s->tick);
    regevent_fini(s); /* its subscriptions hang off registrations */
    registrar_fini(s);
    isc_free(s->isc);
    unreg_free(s->unreg);
    thirdparty_free(s->thirdparty);
    su_free(NULL, s->next_hop);
    sip_proxy_set_response_screen(p->sip, NULL, NULL);
    trust_guard_free(s->trust);
    free(s);
    p->app = NULL;
}

/* RFC 6665 8.4: an event type is a token (sofia keeps "reg, presence" as one type). */
static int event_type_ok(const sip_event_t *ev)
{
    const char *t = ev ? ev->o_type : NULL;
    return t && *t &&
           strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~") ==
               strlen(t);
}

/* Admission classes (sip_core.h): everything reaches the S-CSCF from core nodes (P-CSCFs,
 * I-CSCFs, ASs), whose flows carry many UEs: no per-flow limit. A request on our orig route
 * (the Service-Route a P-CSCF preloads) was admitted by that P-CSCF already, and so was the
 * registration a P-CSCF's reg-event SUBSCRIBE follows: not refused for lag here (the P-CSCF
 * does the same with what we send it). The answer to a challenge of ours is admitted work too
 * (its MAR is spent). A REGISTER of an IMPI the store holds is a known UE's re-REGISTER (asked
 * only of a synchronous store: one lookup in memory). */
static void found_impi(void *arg, int rc, store_reg_t *reg)
{
    *(int *)arg = rc == 0;
    store_reg_free(reg);
}

static unsigned admission_class(void *ctx, sip_core_t *core, msg_t *msg, sip_t const *sip,
                                char *flow, size_t flow_len)
{
    (void)flow, (void)flow_len; /* the scscf limits no flow (SIP_ADM_PEER) */
    scscf_t *s = ((program_t *)ctx)->app;
    unsigned flags = SIP_ADM_PEER;
    const url_t *top = sip->sip_route ? sip->sip_route->r_url : NULL;
    if (top && top->url_user && strcmp(top->url_user, "orig") == 0 && sip_core_is_node(core, top))
        return flags | SIP_ADM_ADMITTED;
    if (sip->sip_request->rq_method == sip_method_subscribe && sip->sip_event &&
        sip->sip_event->o_type && strcmp(sip->sip_event->o_type, "reg") == 0)
        return flags | SIP_ADM_ADMITTED; /* follows a registration admitted already */
    digest_creds_t creds;
    if (!s || sip->sip_request->rq_method != sip_method_register ||
        digest_creds_parse(sip->sip_authorization, NULL, &creds) < 0)
        return flags;
    if (*creds.response && auth_challenge_pending(&s->auth, creds.nonce, clock_mono_ms()))
        return flags | SIP_ADM_ADMITTED; /* the answer to our challenge: its MAR is spent */
    int known = 0;
    if (s->store && store_synchronous(s->store))
        store_get_impi(s->store, creds.username, found_impi, &known);
    return known ? flags | SIP_ADM_KNOWN : flags;
}

static int on_request(void *app, sip_core_t *core, sip_incoming_t *irq, sip_t const *sip)
{
    program_t *p = app;
    scscf_t *s = p->app;
    sip_method_t method = sip->sip_request->rq_method;
    if (!s)
        return program_default_request(app, core, irq, sip);
    int refused = route_screen(s, irq, sip); /* the trust domain, before anything reads PAI */
    if (refused)
        return refused < 0 ? 0 : refused;
    /* RFC 6665 8.2.1: a SUBSCRIBE has exactly one Event header field naming one package;
     * without one there is nothing to serve or route (routed on to the UE it used to come
     * back as its transport's failure, 500). */
    if (method == sip_method_subscribe && !event_type_ok(sip->sip_event)) {
        sip_request_answer(core, irq, 400, "Missing or Bad Event Header", NULL);
        return 400;
    }
    if (method == sip_method_subscribe && strcmp(sip->sip_event->o_type, "reg") == 0)
        return regevent_on_subscribe(s, irq, sip);
    if (method == sip_method_register)
        return s->icscf ? icscf_on_register(s, irq, sip) : registrar_on_register(s, irq, sip);
    if (method == sip_method_options && sip_core_request_is_for_us(core, sip))
        return program_default_request(app, core, irq, sip);
    return route_request(s, irq, sip);
}

static int scscf_check(const cfg_t *cfg, char *err, size_t len)
{
    if (reg_config_check(cfg, err, len) < 0)
        return -1;
    const char *const *peers;
    size_t n = cfg_list(cfg, "trust.peers", &peers);
    if (trust_peers_check(peers, n, err, len) < 0)
        return -1;
    return icscf_check_config(cfg, err, len);
}

/* Config reload: the registrar's limits and policies and the next hop take effect for the next
 * request; everything else (addresses, Diameter, identities) needs a restart. */
static int scscf_reload(program_t *p, const cfg_t *cfg, const char *key)
{
    scscf_t *s = p->app;
    if (s && reg_config_reloads(key)) {
        reg_config_read(cfg, s->rc);
        return 1;
    }
    if (s && strcmp(key, "trust.peers") == 0) {
        const char *const *peers;
        size_t n = cfg_list(cfg, key, &peers);
        char err[200];
        return trust_guard_set(s->trust, peers, n, err, sizeof err) == 0;
    }
    if (s && strcmp(key, "scscf.next_hop") == 0) {
        const char *hop = cfg_str(cfg, key);
        url_t *u = hop ? url_hdup(NULL, URL_STRING_MAKE(hop)->us_url) : NULL;
        if (hop && !u)
            return 0;
        su_free(NULL, s->next_hop);
        s->next_hop = u;
        return 1;
    }
    return 0;
}

/* Ready when a Diameter peer is open and the store answers (a Redis that is down or still
 * connecting takes the replica out of its Service: its requests would only get 500/504). */
static int scscf_ready(program_t *p, char *reason, size_t len)
{
    scscf_t *s = p->app;
    const char *store = s && s->store ? store_status(s->store) : "ok";
    char diameter[200] = "";
    int cx = fd_setup_ready(diameter, sizeof diameter);
    int stored = strcmp(store, "ok") == 0;
    if (cx && stored)
        return 1;
    char why[120] = "";
    if (!stored)
        snprintf(why, sizeof why, "the %s store is %s", store_backend(s->store), store);
    snprintf(reason, len, "%s%s%s", why, !stored && !cx ? "; " : "", cx ? "" : diameter);
    return 0;
}

/* GET /api/v1/status: "store": {backend, status, registrations}. */
static void scscf_status(program_t *p, json_t *status)
{
    scscf_t *s = p->app;
    if (!s->store)
        return;
    json_object_set_new(status, "store",
                        json_pack("{s:s,s:s,s:I}", "backend", store_backend(s->store), "status",
                                  store_status(s->store), "registrations",
                                  (json_int_t)store_count(s->store)));
}

static void scscf_publish(program_t *p)
{
    scscf_t *s = p->app;
    if (!s)
        return;
    cx_node_publish(&s->cx);
    reg_admin_publish(s);
}

static const program_def_t scscf = {
    .name = "scscf",
    .env_prefix = "SCSCF",
    .summary = "IMS Serving-CSCF",
    .has_sip = 1,
    .default_sip_listen = "127.0.0.1:6060",
    .default_api_listen = "127.0.0.1:8082",
    .keys = scscf_keys,
    .allow = "REGISTER, INVITE, ACK, CANCEL, BYE, PRACK, UPDATE, INFO, MESSAGE, REFER, OPTIONS, "
             "SUBSCRIBE, NOTIFY, PUBLISH",
    .on_request = on_request,
    .supported = "path, 100rel, timer, replaces, norefersub",
    .accept = "application/sdp",
    .init = scscf_init,
    .fini = scscf_fini,
    .ready = scscf_ready,
    .status = scscf_status,
    .check = scscf_check,
    .reload = scscf_reload,
    .publish = scscf_publish,
};

int main(int argc, char **argv)
{
    return program_main(&scscf, argc, argv);
}
