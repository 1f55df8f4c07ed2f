/* Security agreement and the SA lifecycle at the P-CSCF (reg_ipsec.h). Loop thread only.
 *
 * Where the sets live: a TEMPORARY set (installed when the 401 went out) in the pending table,
 * keyed by the UE's address, its port_uc and IMPI, until the 200 to the REGISTER that came
 * over it; then in the binding (slot 0 ACTIVE, slot 1 OLD for ipsec.grace). Removals that must
 * wait (an OLD set's grace, a de-registered UE's 200 still to go out through its set) sit in a
 * queue a 1 s timer works through. */
#include "cscf/pcscf/reg_ipsec.h"
#include "cscf/pcscf/state.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/url.h>

#include "common/auth/sip_digest.h"
#include "common/sip/sip_dialog.h"
#include "common/util/log.h"

typedef struct pc_ipsec pc_ipsec_t;

/* An unused TEMPORARY set goes after 64*T1 (RFC 3261 Timer F: the UE's protected REGISTER
 * transaction would have given up by then). */
/* The sets of a UE that is gone wait GONE_DELAY_MS for the final response to have left through
 * them: the userspace datapath sends on a later turn of the loop, the kernel at once. */
enum { PENDING_MS = 64 * 500, GONE_DELAY_MS = 200, TICK_MS = 1000 };

/* A removal that waits. flow: the binding whose slot 1 holds the set (OLD), "" otherwise. */
typedef struct pc_removal {
    pc_sa_t sa;
    char flow[96];
    int64_t at_ms;
} pc_removal_t;

struct pc_ipsec {
    pcscf_t *pc;
    sec_agree_mode_t mode;
    sec_agree_pref_t prefs[PC_SA_MAX_PREFS];
    sec_agree_policy_t policy;
    char addr[64];
    uint16_t port_pc, port_ps;
    int64_t grace_ms;
    ipsec_dp_t *dp;
    pc_pending_table_t pending;
    /* Where requests to protected UEs go -> how many installed sets lead there: "addr:port_us"
     * (they leave from port_pc) and "tcp:addr:port_uc" (over the UE's connection to port_ps). */
    strmap_t *dests;
    pc_removal_t *rmq;
    size_t nrm, caprm;
    su_timer_t *timer; /* every TICK_MS: expiries */
    su_timer_t *soon;  /* once, GONE_DELAY_MS after a UE went: its removals */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "udp:192.0.2.1:5080" into address and port. */
static int split_flow(const char *flow, char *addr, size_t len, uint16_t *port)
{
    const char *a = strchr(flow, ':'), *p = strrchr(flow, ':');
    if (!a || p == a || (size_t)(p - a - 1) >= len)
        return -1;
    snprintf(addr, len, "%.*s", (int)(p - a - 1), a + 1);
    long v = strtol(p + 1, NULL, 10);
    *port = v > 0 && v < 65536 ? (uint16_t)v : 0;
    return *port ? 0 : -1;
}

/* ---- config ---- */

int pc_ipsec_check(const cfg_t *cfg, char *err, size_t len)
{
    ipsec_dp_kind_t kind;
    if (ipsec_dp_kind_parse(cfg_str(cfg, "ipsec.datapath"), &kind) < 0) {
        snprintf(err, len, "ipsec.datapath: userspace or xfrm");
        return -1;
    }
    return pc_sa_check_config(cfg, err, len);
}

/* ---- the datapath, with our bookkeeping ---- */

static void dest_key(const char *addr, unsigned port, char *out, size_t len)
{
    snprintf(out, len, "%s:%u", addr, port);
}

static void count(strmap_t *m, const char *key, int delta)
{
    intptr_t n = (intptr_t)strmap_get(m, key) + delta;
    if (n > 0)
        strmap_put(m, key, (void *)n, NULL);
    else
        strmap_take(m, key);
}

static void dest_ref(pc_ipsec_t *x, const ipsec_sa_set_t *s, int delta)
{
    char key[80], tcp[84];
    dest_key(s->ue_addr, s->port_us, key, sizeof key);
    count(x->dests, key, delta);
    dest_key(s->ue_addr, s->port_uc, key, sizeof key);
    snprintf(tcp, sizeof tcp, "tcp:%s", key);
    count(x->dests, tcp, delta);
}

/* A datapath refusal: logged by the caller, counted in ipsec_sa_failures_total{op}. */
static void sa_failure(pc_ipsec_t *x, const char *op)
{
    pcscf_sa_failure(x->pc, op);
}

static void sa_remove(pc_ipsec_t *x, const pc_sa_t *sa, const char *why)
{
    if (sa->state == PC_SA_NONE)
        return;
    if (ipsec_dp_remove(x->dp, sa->set.spi_pc, sa->set.spi_ps) < 0) {
        sa_failure(x, "delete");
        log_warn("ipsec: removing SAs %u/%u of %s failed", sa->set.spi_pc, sa->set.spi_ps,
                 sa->set.ue_addr);
    } else {
        log_info("ipsec: SAs %u/%u of %s:%u removed (%s)", sa->set.spi_pc, sa->set.spi_ps,
                 sa->set.ue_addr, sa->set.port_uc, why);
    }
    dest_ref(x, &sa->set, -1);
}

static void schedule(pc_ipsec_t *x, const pc_sa_t *sa, const char *flow, int64_t at)
{
    if (sa->state == PC_SA_NONE)
        return;
    if (x->nrm == x->caprm) {
        size_t cap = x->caprm ? 2 * x->caprm : 16;
        pc_removal_t *grown = realloc(x->rmq, cap * sizeof *grown);
        if (!grown) { /* better early than never */
            sa_remove(x, sa, "out of memory");
            return;
        }
        x->rmq = grown;
        x->caprm = cap;
    }
    pc_removal_t *r = &x->rmq[x->nrm++];
    r->sa = *sa;
    snprintf(r->flow, sizeof r->flow, "%s", flow ? flow : "");
    r->at_ms = at;
}

/* A due removal. An OLD set's (flow set) goes only while its binding still holds it as OLD:
 * the UE may have gone back to it (ACTIVE again), or the binding ended and its removal was
 * queued already (never remove a set twice: the count of dests would go wrong). */
static void run_removal(pc_ipsec_t *x, const pc_removal_t *r)
{
    if (*r->flow) {
        pc_binding_t *b = strmap_get(x->pc->by_flow, r->flow);
        if (!b || !pc_sa_same(&b->sa[1], &r->sa))
            return;
        memset(&b->sa[1], 0, sizeof b->sa[1]);
        pcscf_state_changed(x->pc);
    }
    sa_remove(x, &r->sa, *r->flow ? "grace over" : "UE gone");
}

static void run_due(pc_ipsec_t *x, int64_t now)
{
    for (size_t i = 0; i < x->nrm;) {
        if (x->rmq[i].at_ms > now) {
            i++;
            continue;
        }
        pc_removal_t r = x->rmq[i];
        x->rmq[i] = x->rmq[--x->nrm];
        run_removal(x, &r);
    }
}

static void tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    pc_ipsec_t *x = (pc_ipsec_t *)arg;
    int64_t now = now_ms();
    pc_pending_t p;
    while (pc_pending_expire(&x->pending, now, &p))
        sa_remove(x, &p.sa, "temporary, unused");
    run_due(x, now);
}

static void soon(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    run_due((pc_ipsec_t *)arg, now_ms());
}

/* The removal of a gone UE's set, GONE_DELAY_MS from now (not on the next tick: a UE that
 * de-registered must not find its SAs still there a second later). */
static void schedule_gone(pc_ipsec_t *x, const pc_sa_t *sa)
{
    schedule(x, sa, NULL, now_ms() + GONE_DELAY_MS);
    if (su_timer_set(x->soon, soon, (su_timer_arg_t *)x) < 0)
        log_warn("ipsec: no timer: the removal waits for the next tick");
}

/* sip_core's source choice: a request to a protected UE's port_us leaves from port_pc; over
 * TCP to its port_uc, it goes on the connection the UE opened to port_ps (sofia opens its own
 * connections from an ephemeral port, which no SA covers). */
static const char *source_ident(void *ctx, const url_t *dest)
{
    pc_ipsec_t *x = ctx;
    char key[80], tcp[84], t[8] = "";
    if (!dest->url_host)
        return NULL;
    dest_key(dest->url_host, dest->url_port ? (unsigned)atoi(dest->url_port) : 5060, key,
             sizeof key);
    snprintf(tcp, sizeof tcp, "tcp:%s", key);
    if (dest->url_params && url_param(dest->url_params, "transport", t, sizeof t) > 0 &&
        strcasecmp(t, "tcp") == 0 && strmap_get(x->dests, tcp))
        return "ps";
    return strmap_get(x->dests, key) ? "pc" : NULL;
}

static int open_datapath(pc_ipsec_t *x, const cfg_t *cfg)
{
    ipsec_dp_config_t dc = {
        .local_addr = x->addr,
        .port_pc = x->port_pc,
        .port_ps = x->port_ps,
        .tun_name = cfg_str(cfg, "ipsec.tun_name"),
        .route_table = (uint32_t)cfg_int(cfg, "ipsec.route_table"),
        .rule_pref = (uint32_t)cfg_int(cfg, "ipsec.rule_pref"),
        .xfrm_mark = (uint32_t)cfg_int(cfg, "ipsec.xfrm_mark"),
        .spi_min = (uint32_t)cfg_int(cfg, "ipsec.spi_min"),
        .spi_max = (uint32_t)cfg_int(cfg, "ipsec.spi_max"),
    };
    char err[256] = "";
    ipsec_dp_kind_parse(cfg_str(cfg, "ipsec.datapath"), &dc.kind);
    x->dp = ipsec_dp_open(&dc, x->pc->p->root, x->pc->p->metrics, err, sizeof err);
    if (!x->dp) {
        log_error("ipsec: cannot open the %s datapath: %s (ipsec.mode %s needs CAP_NET_ADMIN: "
                  "run as root or add NET_ADMIN; or set ipsec.mode off)",
                  ipsec_dp_kind_name(dc.kind), *err ? err : "no reason given",
                  cfg_str(cfg, "ipsec.mode"));
        return -1;
    }
    return 0;
}

static int add_listeners(pc_ipsec_t *x)
{
    char hp[96], err[256] = "";
    sip_core_t *core = x->pc->p->sip;
    snprintf(hp, sizeof hp, "%s:%u", x->addr, x->port_pc);
    if (sip_core_add_listener(core, hp, "pc") < 0)
        return -1;
    snprintf(hp, sizeof hp, "%s:%u", x->addr, x->port_ps);
    if (sip_core_add_listener(core, hp, "ps") < 0)
        return -1;
    if (ipsec_dp_guard_sockets(x->dp, err, sizeof err) < 0) {
        log_error("ipsec: cannot guard the protected ports: %s", err);
        return -1;
    }
    return sip_core_add_supported(core, "sec-agree");
}

int pc_ipsec_init(pcscf_t *pc)
{
    const cfg_t *cfg = pc->p->cfg;
    sec_agree_mode_t mode;
    char err[256];
    if (pc_ipsec_check(cfg, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    sec_agree_mode_parse(cfg_str(cfg, "ipsec.mode"), &mode);
    if (mode == SEC_AGREE_MODE_OFF)
        return 0;
    pc_ipsec_t *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    pc->ipsec = x;
    x->pc = pc;
    x->mode = mode;
    const char *const *items;
    size_t n = cfg_list(cfg, "ipsec.algorithms", &items);
    int np = pc_sa_parse_algorithms(items, n, x->prefs, PC_SA_MAX_PREFS, err, sizeof err);
    x->policy =
        (sec_agree_policy_t){x->prefs, np > 0 ? (size_t)np : 0, cfg_bool(cfg, "ipsec.allow_null")};
    pc_sa_config_address(cfg, x->addr, sizeof x->addr);
    x->port_pc = (uint16_t)cfg_int(cfg, "ipsec.port_pc");
    x->port_ps = (uint16_t)cfg_int(cfg, "ipsec.port_ps");
    x->grace_ms = cfg_int(cfg, "ipsec.grace") * 1000;
    x->dests = strmap_new();
    x->timer = su_timer_create(su_root_task(pc->p->root), TICK_MS);
    x->soon = su_timer_create(su_root_task(pc->p->root), GONE_DELAY_MS + 10);
    if (!x->dests || !x->timer || !x->soon ||
        su_timer_run(x->timer, tick, (su_timer_arg_t *)x) < 0 || open_datapath(x, cfg) < 0 ||
        add_listeners(x) < 0 || pcscf_state_attach_dp(pc, x->dp, pc_ipsec_restored, x) < 0)
        return -1;
    sip_core_set_source(pc->p->sip, source_ident, x);
    log_info("ipsec: sec-agree %s, %s datapath, protected ports %s:%u (client) and :%u (server)",
             cfg_str(cfg, "ipsec.mode"), cfg_str(cfg, "ipsec.datapath"), x->addr, x->port_pc,
             x->port_ps);
    return 0;
}

void pc_ipsec_fini(pcscf_t *pc)
{
    pc_ipsec_t *x = pc->ipsec;
    if (!x)
        return;
    if (pc->p->sip)
        sip_core_set_source(pc->p->sip, NULL, NULL);
    if (x->timer)
        su_timer_destroy(x->timer);
    if (x->soon)
        su_timer_destroy(x->soon);
    /* The datapath removes every SA it made when it closes. */
    ipsec_dp_close(x->dp);
    pc_pending_free(&x->pending);
    strmap_free(x->dests, NULL);
    free(x->rmq);
    free(x);
    pc->ipsec = NULL;
}

void pc_ipsec_restored(void *arg, pc_binding_t *b, pc_sa_t *sa)
{
    pc_ipsec_t *x = arg;
    dest_ref(x, &sa->set, +1);
    if (sa->state == PC_SA_OLD)
        schedule(x, sa, b->flow, sa->until_ms);
}

/* ---- REGISTER ---- */

/* Takes the sec-agree option tag out of a Require or Proxy-Require list: the headers are made
 * anew from the other tags (none: no header), as the copy's lists share their items with the
 * request received. */
static int strip_tag(msg_t *msg, sip_t *sip, msg_hclass_t *hc, msg_header_t *first)
{
    char keep[512];
    size_t n = 0;
    int found = 0;
    keep[0] = '\0';
    for (msg_header_t *h = first; h; h = h->sh_next) {
        msg_list_t *l = (msg_list_t *)h;
        for (size_t i = 0; l->k_items && l->k_items[i]; i++) {
            if (strcasecmp(l->k_items[i], "sec-agree") == 0) {
                found = 1;
                continue;
            }
            int w = snprintf(keep + n, sizeof keep - n, "%s%s", n ? ", " : "", l->k_items[i]);
            if (w < 0 || (size_t)w >= sizeof keep - n)
                return -1;
            n += (size_t)w;
        }
    }
    if (!found)
        return 0;
    msg_header_remove_all(msg, (msg_pub_t *)sip, first);
    msg_header_t *nh = n ? msg_header_make(msg_home(msg), hc, keep) : NULL;
    if (n && (!nh || msg_header_insert(msg, (msg_pub_t *)sip, nh) < 0))
        return -1;
    return 0;
}

/* TS 24.229 5.2.2: what the S-CSCF gets has none of sec-agree's headers. */
int pc_ipsec_strip(msg_t *msg, sip_t *sip)
{
    if (sip->sip_security_client)
        msg_header_remove_all(msg, (msg_pub_t *)sip, (msg_header_t *)sip->sip_security_client);
    if (sip->sip_security_verify)
        msg_header_remove_all(msg, (msg_pub_t *)sip, (msg_header_t *)sip->sip_security_verify);
    if (sip->sip_require &&
        strip_tag(msg, sip, sip_require_class, (msg_header_t *)sip->sip_require) < 0)
        return -1;
    if (sip->sip_proxy_require &&
        strip_tag(msg, sip, sip_proxy_require_class, (msg_header_t *)sip->sip_proxy_require) < 0)
        return -1;
    return 0;
}

/* Ours is the only integrity-protected the registrar sees: the parameters are split first
 * where the UE glued them (a fold without a comma: the registrar's parser splits them too, and
 * would find a hidden one), then every one the UE sent goes (a second one would survive a
 * replace, and the registrar reads the last). */
static int set_integrity(msg_t *msg, sip_t *sip, int yes)
{
    const char *v = yes ? "integrity-protected=\"yes\"" : "integrity-protected=\"no\"";
    for (sip_authorization_t *au = sip->sip_authorization; au; au = au->au_next) {
        msg_param_t *params;
        if (digest_params_normalize(msg_home(msg), au->au_params, &params) < 0)
            return -1;
        au->au_params = params;
        msg_fragment_clear(au->au_common);
        while (msg_header_remove_param(au->au_common, "integrity-protected") > 0)
            ;
        if (msg_header_add_param(msg_home(msg), au->au_common, v) < 0)
            return -1;
    }
    return 0;
}

static int answer(pcscf_t *pc, sip_incoming_t *irq, int status, const char *phrase,
                  const char *extra, int *answered)
{
    sip_dialog_headers_t h = {.extra = extra};
    sip_request_answer(pc->p->sip, irq, status, phrase, &h);
    *answered = 1;
    return status;
}

/* The set a REGISTER on port_ps came over: the pending one of this address, port and IMPI, or
 * one of the binding's, whichever our Security-Server described as its Security-Verify says.
 * 0, 403 when no set has this source, 494 when none matches the Security-Verify. */
static int find_protected(pc_ipsec_t *x, sip_t const *in, const char *flow, const char *addr,
                          uint16_t port, const char *impi, pc_reg_sa_t *r)
{
    pc_pending_t *p = pc_pending_find(&x->pending, addr, port, impi);
    pc_binding_t *b = strmap_get(x->pc->by_flow, flow);
    int have = p != NULL;
    if (p) {
        pc_sa_t one[2] = {p->sa, {0}};
        if (pc_sa_match_verify(one, addr, port, in->sip_security_verify) == 0) {
            r->via = p->sa;
            return 0;
        }
    }
    if (b) {
        for (int i = 0; i < 2; i++)
            have |= b->sa[i].state != PC_SA_NONE && b->sa[i].set.port_uc == port &&
                    strcmp(b->sa[i].set.ue_addr, addr) == 0;
        int i = pc_sa_match_verify(b->sa, addr, port, in->sip_security_verify);
        if (i >= 0) {
            r->via = b->sa[i];
            return 0;
        }
    }
    return have ? 494 : 403;
}

int pc_ipsec_on_register(pcscf_t *pc, sip_incoming_t *irq, sip_t const *in, msg_t *msg, sip_t *sip,
                         const char *flow, const char *impi, pc_reg_sa_t *r, int *answered)
{
    pc_ipsec_t *x = pc->ipsec;
    int requires = sec_agree_required(in), supports = sec_agree_supported(in);
    memset(r, 0, sizeof *r);
    *answered = 0;
    /* A UE on a TLS connection (sip.tls.listen) is protected by it: no SAs for it, as with
     * ipsec.mode off (RFC 3329's "tls" mechanism is not offered). */
    int over_tls = strncmp(flow, "tls:", 4) == 0;
    if (!x || over_tls) {
        sec_agree_decision_t d =
            sec_agree_decide(SEC_AGREE_MODE_OFF, requires, supports, SEC_AGREE_ABSENT, -1);
        if (d.status) {
            log_info("pcscf: REGISTER from %s requires sec-agree, %s: %d", flow,
                     over_tls ? "not offered over TLS" : "ipsec.mode is off", d.status);
            return answer(pc, irq, d.status, NULL, "Unsupported: sec-agree", answered);
        }
        return set_integrity(msg, sip, 0) < 0 ? 500 : 0;
    }
    uint16_t port;
    if (split_flow(flow, r->ue_addr, sizeof r->ue_addr, &port) < 0)
        return 500;
    unsigned local = sip_incoming_local_port(pc->p->sip, irq);
    if (local == x->port_pc) {
        log_info("pcscf: REGISTER from %s to the protected client port: refused", flow);
        return answer(pc, irq, 403, "Forbidden", NULL, answered);
    }
    if (local == x->port_ps) {
        int st = find_protected(x, in, flow, r->ue_addr, port, impi, r);
        if (st) {
            log_info("pcscf: protected REGISTER from %s (%s): %s", flow, impi,
                     st == 403 ? "no SA set has this source" : "Security-Verify differs");
            return answer(pc, irq, st, NULL, NULL, answered);
        }
        r->arrived_protected = 1;
    }
    sec_agree_offers_t offers;
    sec_agree_result_t res = sec_agree_parse_client(in->sip_security_client, &offers);
    /* A re-REGISTER over the SA without new offers keeps its set: nothing to agree. */
    if (!(r->arrived_protected && res == SEC_AGREE_ABSENT)) {
        int chosen = res == SEC_AGREE_OK ? sec_agree_choose(&offers, &x->policy) : -1;
        sec_agree_decision_t d = sec_agree_decide(x->mode, requires, supports, res, chosen);
        if (d.status) {
            log_info("pcscf: REGISTER from %s (%s): %d, %s%s%s", flow, impi, d.status, d.why,
                     offers.reason[0] ? ": " : "", offers.reason);
            return answer(pc, irq, d.status, NULL, d.status == 421 ? "Require: sec-agree" : NULL,
                          answered);
        }
        if (d.protect) {
            r->negotiate = 1;
            r->offer = offers.offer[chosen];
        }
    }
    return pc_ipsec_strip(msg, sip) < 0 || set_integrity(msg, sip, r->arrived_protected) < 0 ? 500
                                                                                             : 0;
}

int pc_ipsec_on_401(pcscf_t *pc, pc_reg_sa_t *r, const char *impi, const char *flow, msg_t *msg,
                    sip_t *sip)
{
    pc_ipsec_t *x = pc->ipsec;
    uint8_t ck[IPSEC_AKA_KEY_LEN], ik[IPSEC_AKA_KEY_LEN];
    if (!x || !r->negotiate)
        return 0;
    if (pc_sa_ck_ik(sip->sip_www_authenticate, ck, ik) < 0) {
        log_warn("pcscf: the 401 for %s has no ck/ik (not AKA?): no SAs, no Security-Server", impi);
        return 0;
    }
    pc_pending_t p;
    memset(&p, 0, sizeof p);
    uint32_t spi_pc, spi_ps;
    if (ipsec_dp_alloc_spis(x->dp, r->ue_addr, &spi_pc, &spi_ps) < 0) {
        sa_failure(x, "create");
        log_warn("ipsec: no SPIs for %s", r->ue_addr);
        return -1;
    }
    int made = pc_sa_make_set(&r->offer, r->ue_addr, x->port_pc, x->port_ps, spi_pc, spi_ps, ck, ik,
                              &p.sa.set);
    memset(ck, 0, sizeof ck);
    memset(ik, 0, sizeof ik);
    if (made < 0 || ipsec_dp_install(x->dp, &p.sa.set) < 0) {
        sa_failure(x, "create");
        log_warn("ipsec: installing SAs %u/%u for %s failed", spi_pc, spi_ps, r->ue_addr);
        ipsec_dp_remove(x->dp, spi_pc, spi_ps); /* releases the allocation */
        return -1;
    }
    dest_ref(x, &p.sa.set, +1);
    p.sa.state = PC_SA_TEMPORARY;
    p.sa.until_ms = now_ms() + PENDING_MS;
    snprintf(p.impi, sizeof p.impi, "%s", impi);
    snprintf(p.flow, sizeof p.flow, "%s", flow);
    pc_pending_t old;
    int rc = pc_pending_add(&x->pending, &p, &old);
    if (rc == 1) /* a second 401 (resync, or a new REGISTER): never two pending */
        sa_remove(x, &old.sa, "replaced by a newer temporary set");
    sec_agree_server_t srv;
    char value[300];
    if (rc < 0 || pc_sa_server(&p.sa.set, &srv) < 0 ||
        sec_agree_server_value(&srv, value, sizeof value) < 0 ||
        sip_add_tl(msg, sip, SIPTAG_SECURITY_SERVER_STR(value), TAG_END()) < 0) {
        if (rc >= 0)
            pc_pending_take(&x->pending, spi_pc, spi_ps, NULL);
        sa_remove(x, &p.sa, "the 401 could not carry it");
        return -1;
    }
    log_info("ipsec: temporary SAs %u/%u for %s:%u/%u (%s, %s/%s)", spi_pc, spi_ps, r->ue_addr,
             p.sa.set.port_uc, p.sa.set.port_us, impi, ipsec_alg_name(p.sa.set.keys.alg),
             ipsec_ealg_name(p.sa.set.keys.ealg));
    return 0;
}

/* A protected re-registration came from a new port_uc: the sets of the flow it was made over
 * move to the new binding, and that binding goes (its flow is not the UE's any more). */
static void carry_over(pcscf_t *pc, const char *old_flow, pc_binding_t *nb, pc_sa_t slots[2],
                       pc_reg_sa_t *r)
{
    pc_binding_t *prev = strcmp(old_flow, nb->flow) ? strmap_get(pc->by_flow, old_flow) : NULL;
    if (!prev || slots[0].state != PC_SA_NONE || strcmp(prev->impi, nb->impi) != 0)
        return;
    memcpy(slots, prev->sa, sizeof prev->sa);
    memset(prev->sa, 0, sizeof prev->sa);
    snprintf(r->replaces, sizeof r->replaces, "%s", old_flow);
}

void pc_ipsec_on_registered(pcscf_t *pc, pc_reg_sa_t *r, pc_binding_t *nb)
{
    pc_ipsec_t *x = pc->ipsec;
    pc_binding_t *cur = strmap_get(pc->by_flow, nb->flow);
    pc_sa_t slots[2], rm[2];
    memset(slots, 0, sizeof slots);
    if (cur)
        memcpy(slots, cur->sa, sizeof slots);
    if (!x) {
        memset(nb->sa, 0, sizeof nb->sa);
        return;
    }
    int64_t now = now_ms();
    size_t n;
    if (!r->arrived_protected) {
        /* Registered without protection (a phone that lost its SAs starts over): the old
         * sets of this flow are not the UE's any more. */
        n = pc_sa_clear(slots, rm);
    } else {
        pc_sa_t used = r->via;
        pc_pending_t p;
        if (used.state == PC_SA_TEMPORARY) {
            if (pc_pending_take(&x->pending, used.set.spi_pc, used.set.spi_ps, &p) < 0) {
                /* It expired or was replaced meanwhile: it is gone from the datapath. */
                log_warn("ipsec: SAs %u/%u of %s are gone: the registration keeps its sets",
                         used.set.spi_pc, used.set.spi_ps, nb->flow);
                memcpy(nb->sa, slots, sizeof slots);
                return;
            }
            carry_over(pc, p.flow, nb, slots, r);
        }
        pc_sa_t old = slots[1];
        n = pc_sa_activate(slots, &used, now, x->grace_ms, rm);
        if (slots[1].state == PC_SA_OLD && !pc_sa_same(&old, &slots[1]))
            schedule(x, &slots[1], nb->flow, slots[1].until_ms);
        if (used.state == PC_SA_TEMPORARY)
            log_info("ipsec: SAs %u/%u of %s active", used.set.spi_pc, used.set.spi_ps, nb->flow);
    }
    for (size_t i = 0; i < n; i++)
        schedule_gone(x, &rm[i]);
    memcpy(nb->sa, slots, sizeof slots);
}

void pc_ipsec_on_deregistered(pcscf_t *pc, const pc_reg_sa_t *r, const char *impi)
{
    pc_ipsec_t *x = pc->ipsec;
    pc_pending_t p;
    /* A de-registration the registrar challenged went over a new, temporary set: its 200
     * goes out through it, then it goes like the rest. */
    if (x && *r->ue_addr && pc_pending_take_ue(&x->pending, r->ue_addr, impi, &p) == 0)
        schedule_gone(x, &p.sa);
}

void pc_ipsec_binding_gone(pcscf_t *pc, pc_binding_t *b)
{
    pc_ipsec_t *x = pc->ipsec;
    pc_sa_t rm[2];
    size_t n = pc_sa_clear(b->sa, rm);
    /* The final response (the 200 to a de-registration) still has to go out through them;
     * the userspace datapath sends on a later turn of the loop. */
    for (size_t i = 0; x && i < n; i++)
        schedule_gone(x, &rm[i]);
}

/* ---- other requests ---- */

/* Does the flow (the request's source) belong to one of the binding's sets as its port_uc? */
static int from_a_set(const pc_binding_t *b)
{
    char addr[64];
    uint16_t port;
    if (!b || split_flow(b->flow, addr, sizeof addr, &port) < 0)
        return 0;
    for (int i = 0; i < 2; i++)
        if (b->sa[i].state != PC_SA_NONE && b->sa[i].set.port_uc == port &&
            strcmp(b->sa[i].set.ue_addr, addr) == 0)
            return 1;
    return 0;
}

int pc_ipsec_check_request(pcscf_t *pc, sip_incoming_t *irq, const pc_binding_t *b)
{
    pc_ipsec_t *x = pc->ipsec;
    if (!x)
        return 0;
    unsigned local = sip_incoming_local_port(pc->p->sip, irq);
    if (local == x->port_ps) {
        /* The protected port takes the requests of protected UEs only. With the xfrm datapath
         * a plain packet from an address no set covers does reach it (the kernel's policies
         * name exactly the sets' flows), so the source is what tells. */
        if (from_a_set(b))
            return 0;
        log_info("pcscf: a request on the protected port from %s, which has no SA here: 403",
                 b ? b->flow : "an unregistered flow");
        return 403;
    }
    if (local == x->port_pc) {
        log_info("pcscf: a request to the protected client port: 403");
        return 403;
    }
    if (!b || b->sa[0].state == PC_SA_NONE)
        return 0;
    /* TS 24.229 5.2.2: a protected UE's requests come through its SA; one from its address and
     * port outside it is not the UE's to make. */
    log_info("pcscf: a request from %s outside its SA (on port %u): 403", b->flow, local);
    return 403;
}

int pc_ipsec_record_route(const pcscf_t *pc, const pc_binding_t *b, char *out, size_t len)
{
    const pc_ipsec_t *x = pc->ipsec;
    if (!x || b->sa[0].state != PC_SA_ACTIVE)
        return 0;
    int tcp = strncmp(b->flow, "tcp:", 4) == 0;
    int n = snprintf(out, len, "sip:%s:%u;lr%s", x->addr, x->port_ps, tcp ? ";transport=tcp" : "");
    return n > 0 && (size_t)n < len;
}

int pc_ipsec_target(const pc_binding_t *b, pc_target_t *out)
{
    const pc_sa_t *s = &b->sa[0];
    if (s->state != PC_SA_ACTIVE)
        return 0;
    if (strncmp(b->flow, "tcp:", 4) == 0) {
        snprintf(out->url, sizeof out->url, "sip:%s:%u;transport=tcp", s->set.ue_addr,
                 s->set.port_uc);
        out->why = "protected (its TCP connection to port_ps)";
    } else {
        snprintf(out->url, sizeof out->url, "sip:%s:%u;transport=udp", s->set.ue_addr,
                 s->set.port_us);
        out->why = "protected (port_us through its SA)";
    }
    return 1;
}
