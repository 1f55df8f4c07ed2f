/* Emergency requests at the P-CSCF (emergency.h). */
#include "cscf/pcscf/emergency.h"
#include "cscf/pcscf/reg_ipsec.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_util.h>

#include "common/sip/charging.h"
#include "common/sip/sip_dialog.h"
#include "common/sip/sip_hdr.h"
#include "common/sip/sip_proxy.h"
#include "common/util/log.h"

enum { MAX_NUMBERS = 32, NUMBER_LEN = 32, SUB_LEN = 32 };

typedef struct emergency_number {
    char digits[NUMBER_LEN]; /* "112" */
    char sub[SUB_LEN];       /* "police" for urn:service:sos.police, "" for urn:service:sos */
} emergency_number_t;

typedef struct pc_emergency {
    char ecscf[512]; /* "" none */
    char resource_priority[64];
    int allow_unregistered;
    emergency_number_t numbers[MAX_NUMBERS];
    size_t n;
    metric_t *m_requests;
} pc_emergency_t;

/* ---- recognition ---- */

static bool is_sos_urn(const url_t *u)
{
    return sip_url_is_sos(u);
}

/* The number a tel: or sip: URI dials, visual separators (RFC 3966) removed, parameters left
 * out; "" when there is none. */
static void dialled(const url_t *u, char *out, size_t len)
{
    out[0] = '\0';
    if (!u || !u->url_scheme)
        return;
    const char *s = NULL;
    if (strcasecmp(u->url_scheme, "tel") == 0)
        s = u->url_user ? u->url_user : u->url_host; /* sofia keeps the number as the host */
    else if (strcasecmp(u->url_scheme, "sip") == 0 || strcasecmp(u->url_scheme, "sips") == 0)
        s = u->url_user;
    size_t n = 0;
    for (; s && *s && *s != ';' && n + 1 < len; s++)
        if (!strchr("-.()", *s))
            out[n++] = *s;
    out[n] = '\0';
}

static const emergency_number_t *number_of(const pc_emergency_t *e, const url_t *u)
{
    char d[NUMBER_LEN];
    dialled(u, d, sizeof d);
    for (size_t i = 0; d[0] && i < e->n; i++)
        if (strcmp(e->numbers[i].digits, d) == 0)
            return &e->numbers[i];
    return NULL;
}

static bool sos_contact(const sip_t *sip)
{
    for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next)
        if (url_has_param(m->m_url, "sos") || msg_params_find(m->m_params, "sos"))
            return true;
    return false;
}

bool emergency_request(const sip_t *sip, const pcscf_t *pc)
{
    if (!sip || !sip->sip_request || (sip->sip_to && sip->sip_to->a_tag))
        return false;
    if (sip->sip_request->rq_method == sip_method_register)
        return sos_contact(sip);
    const url_t *ruri = sip->sip_request->rq_url;
    return is_sos_urn(ruri) || (pc && pc->emergency && number_of(pc->emergency, ruri));
}

/* ---- configuration ---- */

/* "112" or "110=police": digits (and * #), an optional sub-service token. */
static int parse_number(const char *text, emergency_number_t *out)
{
    const char *eq = strchr(text, '=');
    size_t dl = eq ? (size_t)(eq - text) : strlen(text);
    if (!dl || dl >= sizeof out->digits || strspn(text, "0123456789*#+") < dl)
        return -1;
    memcpy(out->digits, text, dl);
    out->digits[dl] = '\0';
    out->sub[0] = '\0';
    if (!eq)
        return 0;
    const char *sub = eq + 1;
    size_t sl = strlen(sub);
    if (!sl || sl >= sizeof out->sub)
        return -1;
    for (size_t i = 0; i < sl; i++)
        if (!isalnum((unsigned char)sub[i]) && !strchr("-.", sub[i]))
            return -1;
    memcpy(out->sub, sub, sl + 1);
    return 0;
}

static int load(pc_emergency_t *e, const cfg_t *cfg, char *err, size_t len)
{
    const char *const *items;
    size_t n = cfg_list(cfg, "emergency.numbers", &items);
    if (n > MAX_NUMBERS) {
        snprintf(err, len, "emergency.numbers: at most %d entries", MAX_NUMBERS);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (parse_number(items[i], &e->numbers[i]) < 0) {
            snprintf(err, len,
                     "emergency.numbers: \"%s\" is not a number (digits, * # +) with an optional "
                     "=sub-service (110=police)",
                     items[i]);
            return -1;
        }
    e->n = n;
    const char *uri = cfg_str(cfg, "emergency.ecscf_uri");
    su_home_t home[1] = {SU_HOME_INIT(home)};
    url_t *u = uri && *uri ? url_make(home, uri) : NULL;
    int bad = uri && *uri &&
              (!u || !u->url_host || (u->url_type != url_sip && u->url_type != url_sips) ||
               strlen(uri) >= sizeof e->ecscf);
    su_home_deinit(home);
    if (bad) {
        snprintf(err, len, "emergency.ecscf_uri: \"%s\" is not a sip: or sips: URI", uri);
        return -1;
    }
    snprintf(e->ecscf, sizeof e->ecscf, "%s", uri ? uri : "");
    const char *rp = cfg_str(cfg, "emergency.resource_priority");
    if (rp && (strlen(rp) >= sizeof e->resource_priority || strpbrk(rp, "\r\n"))) {
        snprintf(err, len, "emergency.resource_priority: not a Resource-Priority value");
        return -1;
    }
    snprintf(e->resource_priority, sizeof e->resource_priority, "%s", rp ? rp : "");
    e->allow_unregistered = cfg_bool(cfg, "emergency.allow_unregistered");
    return 0;
}

int pc_emergency_check(const cfg_t *cfg, char *err, size_t len)
{
    pc_emergency_t e;
    memset(&e, 0, sizeof e);
    return load(&e, cfg, err, len);
}

int pc_emergency_init(pcscf_t *pc)
{
    pc_emergency_t *e = calloc(1, sizeof *e);
    char err[256];
    if (!e)
        return -1;
    if (load(e, pc->p->cfg, err, sizeof err) < 0) {
        log_error("pcscf: %s", err);
        free(e);
        return -1;
    }
    e->m_requests = !pc->p->metrics
                        ? NULL /* unit tests */
                        : metrics_counter(pc->p->metrics, "cscf_emergency_requests_total",
                                          "emergency requests (TS 24.229 5.2.10: urn:service:sos, "
                                          "emergency.numbers, REGISTER with "
                                          "sos): routed_registered and routed_unregistered went to "
                                          "the E-CSCF (from a UE registered "
                                          "here or not), alternative_service answered 380, "
                                          "register forwarded to the registrar, "
                                          "failed could not be forwarded",
                                          "result");
    pc->emergency = e;
    return 0;
}

void pc_emergency_fini(pcscf_t *pc)
{
    free(pc->emergency);
    pc->emergency = NULL;
}

int pc_emergency_reload(pcscf_t *pc, const cfg_t *cfg, const char *key)
{
    if (!pc->emergency || strncmp(key, "emergency.", 10) != 0)
        return 0;
    pc_emergency_t next = *pc->emergency;
    char err[256];
    if (load(&next, cfg, err, sizeof err) < 0) {
        log_warn("pcscf: reload: %s", err);
        return 0;
    }
    *pc->emergency = next;
    return 1;
}

void pc_emergency_count(pcscf_t *pc, const char *result)
{
    if (pc->emergency && pc->emergency->m_requests)
        metric_inc(pc->emergency->m_requests, result);
}

/* ---- routing ---- */

/* 380 Alternative Service with the 3GPP IM CN subsystem XML body (TS 24.229 7.6): type
 * emergency; action emergency-registration asks the UE to register for emergency first, no
 * action sends it to another domain (CS). */
static int alternative_service(pcscf_t *pc, sip_incoming_t *irq, const char *reason,
                               const char *action)
{
    char body[600];
    snprintf(body, sizeof body,
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<ims-3gpp version=\"1\">\n"
             "  <alternative-service>\n"
             "    <type>emergency</type>\n"
             "    <reason>%s</reason>\n"
             "%s%s%s"
             "  </alternative-service>\n"
             "</ims-3gpp>\n",
             reason, action ? "    <action>" : "", action ? action : "",
             action ? "</action>\n" : "");
    sip_dialog_headers_t h = {.content_type = "application/3gpp-ims+xml", .body = body};
    sip_request_answer(pc->p->sip, irq, 380, "Alternative Service", &h);
    pc_emergency_count(pc, "alternative_service");
    return 380;
}

/* A dialled emergency number becomes the service URN the E-CSCF routes on. */
static int set_service_urn(msg_t *msg, sip_t *sip, const emergency_number_t *num)
{
    char urn[64];
    snprintf(urn, sizeof urn, "urn:service:sos%s%s", num->sub[0] ? "." : "", num->sub);
    url_t *u = url_make(msg_home(msg), urn);
    return u ? sip_proxy_set_request_uri(msg, sip, u) : -1;
}

static int to_ecscf(pcscf_t *pc, msg_t *msg, sip_t *sip, const pc_binding_t *b)
{
    pc_emergency_t *e = pc->emergency;
    const emergency_number_t *num = number_of(e, sip->sip_request->rq_url);
    if (num && !is_sos_urn(sip->sip_request->rq_url) && set_service_urn(msg, sip, num) < 0)
        return -1;
    if (pc_ipsec_strip(msg, sip) < 0)
        return -1;
    /* A registered UE is asserted as for any request; for an unregistered one nobody vouches
     * (TS 24.229 5.2.10.3): whatever identity it claims goes, also from an address that
     * trust.peers covers (a lab's UEs on 127.0.0.1). */
    if (b && pcscf_assert_identity(msg, sip, b) < 0)
        return -1;
    if (!b) {
        sip_hdr_remove(msg, sip, "P-Preferred-Identity");
        sip_hdr_remove(msg, sip, "P-Asserted-Identity");
    }
    /* The E-CSCF, whatever Route the UE put (TS 23.167 6.2.1): loose, so the Request-URI stays
     * the service URN. */
    while (sip->sip_route)
        sip_route_remove(msg, sip);
    su_home_t *home = msg_home(msg);
    url_t *u = url_hdup(home, URL_STRING_MAKE(e->ecscf)->us_url);
    if (!u || (!url_has_param(u, "lr") && url_param_add(home, u, "lr") < 0))
        return -1;
    sip_route_t *r = sip_route_create(home, u, NULL);
    if (!r || msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)r) < 0)
        return -1;
    if (e->resource_priority[0] && !sip_hdr_get(sip, "Resource-Priority") &&
        sip_hdr_add(msg, sip, "Resource-Priority", e->resource_priority) < 0)
        return -1;
    return pcscf_add_charging_vector(pc, msg, sip);
}

int pc_emergency_route(pcscf_t *pc, sip_incoming_t *irq, sip_t const *in, const pc_binding_t *b)
{
    pc_emergency_t *e = pc->emergency;
    if (!b && !e->allow_unregistered) {
        log_info("pcscf: emergency %s from an unregistered UE: 380 (emergency.allow_unregistered "
                 "is false)",
                 in->sip_request->rq_method_name);
        return alternative_service(pc, irq, "Emergency registration required",
                                   "emergency-registration");
    }
    if (!e->ecscf[0]) {
        log_warn("pcscf: emergency %s: no emergency.ecscf_uri, 380 (the UE tries another domain)",
                 in->sip_request->rq_method_name);
        return alternative_service(pc, irq, "No emergency service in this network", NULL);
    }
    if (b)
        log_ctx_user(b->impu, b->impi);
    msg_t *msg = sip_proxy_copy_request(irq);
    if (!msg || to_ecscf(pc, msg, sip_object(msg), b) < 0) {
        if (msg)
            msg_destroy(msg);
        pc_emergency_count(pc, "failed");
        return 500;
    }
    log_info("pcscf: emergency %s from %s to the E-CSCF %s", in->sip_request->rq_method_name,
             b ? b->impi : "an unregistered UE", e->ecscf);
    int st = pcscf_forward_from_ue(pc, irq, msg, b);
    pc_emergency_count(pc, st ? "failed" : b ? "routed_registered" : "routed_unregistered");
    return st;
}
