/* Bindings after a successful authentication (RFC 3261 10.3, TS 24.229 5.4.1.2): the
 * REGISTER's contacts applied to the registration, SAR, the store, and the 200 OK with every
 * contact, P-Associated-URI, Service-Route and Path. Also expiry, RTR and the REST view. */
#include "cscf/scscf/registration/bindings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_string.h>

#include "common/sip/charging.h"
#include "common/util/log.h"
#include "cscf/scscf/core/context.h"
#include "cscf/scscf/registration/profile.h"
#include "cscf/scscf/registration/reg_config.h"
#include "cscf/scscf/registration/regevent.h"

#define HDR_MAX        8192
#define BINDINGS_TRIES 3 /* writes of one REGISTER before it gives up (500) */

/* ---- the REGISTER's contacts ---- */

static const char *param(msg_param_t const *params, const char *name)
{
    const char *v = msg_params_find(params, name);
    return v;
}

static void params_text(msg_param_t const *params, char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; params && params[i]; i++) {
        if (strncasecmp(params[i], "expires=", 8) == 0)
            continue;
        int w = snprintf(out + n, len - n, "%s%s", n ? ";" : "", params[i]);
        if (w < 0 || (size_t)w >= len - n)
            break;
        n += (size_t)w;
    }
}

static long contact_expires(const registrar_config_t *rc, const sip_contact_t *m, const sip_t *sip)
{
    return sip_core_contact_expires(m, sip->sip_expires ? (long)sip->sip_expires->ex_delta
                                                        : rc->default_expires);
}

static void path_text(su_home_t *home, const sip_path_t *p, char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (; p; p = p->r_next) {
        char *s = sip_header_as_string(home, (const sip_header_t *)p);
        int w = s ? snprintf(out + n, len - n, "%s%s", n ? ", " : "", s) : 0;
        su_free(home, s);
        if (w < 0 || (size_t)w >= len - n)
            break;
        n += (size_t)w;
    }
}

/* Applies one Contact; 0, or the SIP status to answer with (423, 403). */
static int apply_contact(reg_req_t *req, const sip_contact_t *m, int64_t now, long *min_bad)
{
    const registrar_config_t *rc = req->s->rc;
    long exp = contact_expires(rc, m, req->sip);
    if (exp > 0 && exp < rc->min_expires) {
        *min_bad = rc->min_expires;
        return 423;
    }
    if (exp > rc->max_expires)
        exp = rc->max_expires;
    su_home_t *home = msg_home(req->msg);
    char *uri = url_as_string(home, m->m_url);
    char instance[300] = "", params[1024], path[1024], received[96];
    const char *inst = param(m->m_params, "+sip.instance");
    const char *regid = param(m->m_params, "reg-id");
    if (inst)
        snprintf(instance, sizeof instance, "%s", inst);
    store_contact_t *c =
        store_reg_find_contact(req->reg, uri, inst ? instance : NULL, regid ? atoi(regid) : 0);
    if (exp <= 0) {
        if (c)
            store_reg_remove_contact(req->reg, (size_t)(c - req->reg->contacts));
        return 0;
    }
    /* The configured cap, read at each REGISTER so a reload applies it (the store only holds
     * the hard limit, REGISTRAR_CONTACTS_LIMIT). A contact already bound is refreshed even
     * when a lowered cap is below the count. */
    if (!c && (long)req->reg->ncontacts >= rc->max_contacts)
        return 403;
    if (!c && !(c = store_reg_add_contact(req->reg)))
        return 500;
    params_text(m->m_params, params, sizeof params);
    path_text(home, req->sip->sip_path, path, sizeof path);
    sip_core_flow_of(req->msg, received, sizeof received);
    store_contact_set(&c->uri, uri);
    store_contact_set(&c->params, *params ? params : NULL);
    store_contact_set(&c->instance, inst ? instance : NULL);
    c->reg_id = regid ? atoi(regid) : 0;
    store_contact_set(&c->path, *path ? path : NULL);
    store_contact_set(&c->received, received);
    store_contact_set(&c->call_id, req->sip->sip_call_id ? req->sip->sip_call_id->i_id : NULL);
    c->cseq = req->sip->sip_cseq ? req->sip->sip_cseq->cs_seq : 0;
    store_contact_set(&c->user_agent,
                      req->sip->sip_user_agent ? req->sip->sip_user_agent->g_string : NULL);
    if (!c->registered_at)
        c->registered_at = now;
    c->expires_at = now + exp;
    return 0;
}

/* ---- the 200 OK ---- */

static void append(char *buf, size_t *n, const char *fmt, const char *a, const char *b, long x)
{
    int w = snprintf(buf + *n, HDR_MAX - *n, fmt, a, b, x);
    if (w > 0 && (size_t)w < HDR_MAX - *n)
        *n += (size_t)w;
}

/* The P-CSCF sent the REGISTER over TCP: the Service-Route has it come back that way, so the
 * calls between the two keep no completed transactions for retransmissions (RFC 3261 17). */
static int came_over_tcp(sip_t const *sip)
{
    const char *proto = sip->sip_via ? sip->sip_via->v_protocol : NULL;
    return proto && strcasecmp(proto, "SIP/2.0/TCP") == 0;
}

/* TS 24.229 5.4.1.2.2: the vector with our term-ioi next to the P-CSCF's orig-ioi, and the
 * charging functions (charging.*), for the P-CSCF of the trust domain. */
static void charging_headers(reg_req_t *req, char *h, size_t *n)
{
    const cfg_t *cfg = req->s->p->cfg;
    const char *ioi = cfg_str(cfg, "charging.ioi");
    const char *const *ccf, *const *ecf;
    size_t nccf = cfg_list(cfg, "charging.ccf", &ccf), necf = cfg_list(cfg, "charging.ecf", &ecf);
    char v[600];
    /* No charging.ioi: the home network the REGISTER names (its Request-URI's domain). */
    if (!ioi || !*ioi)
        ioi = req->sip->sip_request->rq_url->url_host;
    if (charging_register_vector(req->sip, ioi, v, sizeof v) == 0)
        append(h, n, "P-Charging-Vector: %s\r\n%s", v, "", 0);
    if (charging_function_addresses(ccf, nccf, ecf, necf, v, sizeof v) == 0)
        append(h, n, "P-Charging-Function-Addresses: %s\r\n%s", v, "", 0);
}

static void reply_ok(reg_req_t *req)
{
    store_reg_t *r = req->reg;
    char *h = malloc(HDR_MAX);
    size_t n = 0;
    int64_t now = time(NULL);
    if (!h) {
        reg_req_reply(req, 500, "Out of Memory", NULL);
        return;
    }
    h[0] = '\0';
    for (size_t i = 0; r && i < r->ncontacts; i++) {
        append(h, &n, "Contact: <%s>%s", r->contacts[i].uri, "", 0);
        if (r->contacts[i].params)
            append(h, &n, ";%s%s", r->contacts[i].params, "", 0);
        append(h, &n, "%s%s;expires=%ld\r\n", "", "", (long)(r->contacts[i].expires_at - now));
    }
    if (r && r->nimpus) {
        append(h, &n, "P-Associated-URI: %s%s", "", "", 0);
        int first = 1;
        for (size_t i = 0; i < r->nimpus; i++) {
            int barred = 0;
            for (size_t j = 0; j < r->nbarred; j++)
                barred |= strcmp(r->barred[j], r->impus[i]) == 0;
            if (!barred) {
                append(h, &n, "%s<%s>", first ? "" : ", ", r->impus[i], 0);
                first = 0;
            }
        }
        /* The P-CSCF comes back the way it came: over TLS to our TLS listener. */
        int tls = req->s->service_route_tls[0] && sip_core_msg_over_tls(req->msg);
        append(h, &n, "\r\nService-Route: %s%s\r\n",
               tls ? req->s->service_route_tls : req->s->service_route,
               tls                       ? ";transport=tls>"
               : came_over_tcp(req->sip) ? ";transport=tcp>"
                                         : ">",
               0);
    }
    char path[1024];
    path_text(msg_home(req->msg), req->sip->sip_path, path, sizeof path);
    if (*path)
        append(h, &n, "Path: %s\r\n%s", path, "", 0);
    charging_headers(req, h, &n);
    if (n >= 2 && h[n - 2] == '\r')
        h[n - 2] = '\0'; /* the headers' extra field gets its last CRLF from nta */
    reg_req_reply(req, SIP_200_OK, h);
    free(h);
}

/* ---- store and SAR ---- */

/* The Expires a third-party REGISTER carries: what the 200 granted (the longest contact). */
static long granted(const store_reg_t *r, int ended)
{
    int64_t now = time(NULL), most = 0;
    for (size_t i = 0; !ended && i < r->ncontacts; i++)
        if (r->contacts[i].expires_at - now > most)
            most = r->contacts[i].expires_at - now;
    return (long)most;
}

/* The 200 first, then the reg event NOTIFYs (TS 24.229 5.4.2.1.2) and the third-party
 * REGISTERs (5.4.1.7). reply_ok() frees req, so what they need is taken out of it before. */
static void reply_and_notify(reg_req_t *req, int ended)
{
    scscf_t *s = req->s;
    store_reg_t *before = req->before;
    store_reg_t *after = before && !ended ? store_reg_dup(req->reg) : NULL;
    const reg_req_hooks_t *h = s->reg_hooks;
    void *tpr = h ? h->before_reply(s, req->reg, req->impu, req->sip, req->msg) : NULL;
    long expires = granted(req->reg, ended);
    if (ended)
        log_info("registrar: deregistered by the UE");
    else
        log_info("registrar: %s, %zu contact(s), %ld s",
                 req->existed ? "registration refreshed" : "registered", req->reg->ncontacts,
                 expires);
    char *response = NULL;
    req->before = NULL;
    if (tpr)
        req->response_out = &response;
    reply_ok(req);
    if (before && (ended || after))
        regevent_changed(s, before, after, REGEVENT_REGISTER);
    if (tpr)
        h->after_reply(s, tpr, response, expires);
    free(response);
    store_reg_free(before);
    store_reg_free(after);
}

static void store_step(reg_req_t *req);
static int apply_all(reg_req_t *req);

/* The revision a successful write leaves (store.h): the one put with, plus one. */
static uint64_t rev_after(uint64_t put)
{
    return (put == STORE_REV_NEW ? 0 : put) + 1;
}

/* The record changed since it was read (another replica, an expiry sweep, a REST call): read
 * it again and apply this REGISTER's contacts to what is stored now. The SAR is not sent again
 * (the HSS already holds the assignment); its profile is applied again from req->profile. */
static void on_reread(void *arg, int rc, store_reg_t *reg)
{
    reg_req_t *req = arg;
    if (rc < 0) {
        reg_req_store_failed(req, rc, "read");
        return;
    }
    reg_store_ok(req->s);
    store_reg_free(req->reg);
    store_reg_free(req->before);
    req->before = NULL;
    req->reg = rc == 0 ? reg : NULL;
    if (apply_all(req) == 0)
        store_step(req);
}

static void conflict(reg_req_t *req)
{
    if (++req->tries >= BINDINGS_TRIES) {
        log_warn("registrar: %s changed in the store %d times while this REGISTER was applied",
                 req->impi, req->tries);
        char hdr[64];
        snprintf(hdr, sizeof hdr, "Retry-After: %ld", req->s->rc->retry_after);
        reg_req_reply(req, 500, "Registration Busy", hdr);
        return;
    }
    log_info("registrar: %s changed in the store meanwhile; applying the REGISTER again",
             req->impi);
    store_get_impi(req->s->store, req->impi, on_reread, req);
}

static void after_put(void *arg, int rc)
{
    reg_req_t *req = arg;
    if (rc == STORE_CONFLICT) {
        conflict(req);
        return;
    }
    if (rc < 0) {
        reg_req_store_failed(req, rc, "write");
        return;
    }
    reg_store_ok(req->s);
    req->reg->rev = rev_after(req->reg->rev);
    metric_inc(req->s->m_events, req->existed ? "refresh" : "new");
    reply_and_notify(req, 0);
}

static void after_del(void *arg, int rc)
{
    reg_req_t *req = arg;
    /* -1 is also what a record that went meanwhile gets: the re-read tells which it was. */
    if (rc == STORE_CONFLICT || rc == STORE_ERROR) {
        conflict(req);
        return;
    }
    if (rc < 0) {
        reg_req_store_failed(req, rc, "delete");
        return;
    }
    reg_store_ok(req->s);
    metric_inc(req->s->m_events, "deregister");
    reply_and_notify(req, 1);
}

int bindings_set_profile(store_reg_t *reg, const char *xml, const char *registered)
{
    profile_ids_t ids;
    if (!xml || profile_parse_ids(xml, strlen(xml), &ids) < 0)
        return -1;
    const char *impus[PROFILE_MAX_IDS + 1], *barred[PROFILE_MAX_IDS];
    size_t nb = 0, nu = 0;
    impus[nu++] = registered; /* the registered IMPU first, then the rest of the set */
    for (size_t i = 0; i < ids.n; i++) {
        if (strcmp(ids.impus[i], registered) != 0)
            impus[nu++] = ids.impus[i];
        if (ids.barred[i])
            barred[nb++] = ids.impus[i];
    }
    char *copy = strdup(xml);
    int rc = copy ? store_reg_set_impus(reg, impus, nu, barred, nb) : -1;
    if (rc == 0) {
        free(reg->profile);
        reg->profile = copy;
    } else {
        free(copy);
    }
    profile_ids_clear(&ids);
    return rc;
}

/* The SAA's User-Data, kept for a retried put; without one (a re-registration, User-Data
 * already available) the profile the record had, in case a retry finds the record gone. */
static void take_profile(reg_req_t *req, const cx_msg_t *a)
{
    req->profile_kept = !(a && a->user_data);
    const char *xml = req->profile_kept ? req->reg->profile : a->user_data;
    if (xml && !req->profile)
        req->profile = strdup(xml);
}

/* After the SAR (or after a re-read): the registration as this REGISTER leaves it goes into
 * the store, conditional on the revision read (a new one only if nobody created it meanwhile). */
static void store_step(reg_req_t *req)
{
    scscf_t *s = req->s;
    if (req->reg->ncontacts == 0) {
        if (req->reg->rev == STORE_REV_NEW) /* nothing stored: nothing to delete */
            reply_and_notify(req, 1);
        else
            store_del_if(s->store, req->impi, req->reg->rev, after_del, req);
        return;
    }
    if (req->profile && (!req->profile_kept || !req->reg->profile))
        bindings_set_profile(req->reg, req->profile, req->impu);
    if (req->reg->nimpus == 0) {
        const char *one[] = {req->impu};
        store_reg_set_impus(req->reg, one, 1, NULL, 0);
    }
    store_contact_set(&req->reg->scheme, auth_scheme_name(req->scheme));
    /* The name the HSS now holds for this registration (every replica may present the same,
     * scscf.server_name): another replica's name is simply replaced, the SAR just made ours. */
    store_contact_set(&req->reg->server_name, s->server_name);
    if (*req->hss)
        store_contact_set(&req->reg->hss, req->hss);
    store_put(s->store, req->reg, after_put, req);
}

static void after_sar(reg_req_t *req, int status, const cx_msg_t *a)
{
    if (status != 200) {
        reg_req_reply(req, status, status == 504 ? "HSS Unreachable" : "Forbidden", NULL);
        return;
    }
    take_profile(req, a);
    store_step(req);
}

/* This REGISTER's contacts applied to req->reg (the stored record, or a new one): 0, or
 * answered (an error: req is gone). */
static int apply_all(reg_req_t *req)
{
    const sip_t *sip = req->sip;
    int64_t now = time(NULL);
    int existed = req->reg != NULL;
    if (!req->reg && !(req->reg = store_reg_new(req->impi))) {
        reg_req_reply(req, 500, "Out of Memory", NULL);
        return -1;
    }
    if (!existed)
        req->reg->rev = STORE_REV_NEW; /* the put creates it, or finds another was first */
    req->existed = existed;
    if (existed && regevent_watched(req->reg))
        req->before = store_reg_dup(req->reg);
    const sip_contact_t *m = sip->sip_contact;
    if (m && m->m_url->url_type == url_any) {
        if (m->m_next || !sip->sip_expires || sip->sip_expires->ex_delta != 0) {
            reg_req_reply(req, 400, "Contact * Needs Expires 0", NULL);
            return -1;
        }
        while (req->reg->ncontacts)
            store_reg_remove_contact(req->reg, 0);
        m = NULL;
    }
    long min_bad = 0;
    for (; m; m = m->m_next) {
        int st = apply_contact(req, m, now, &min_bad);
        if (st == 423) {
            char h[64];
            snprintf(h, sizeof h, "Min-Expires: %ld", min_bad);
            reg_req_reply(req, 423, "Interval Too Brief", h);
            return -1;
        }
        if (st) {
            reg_req_reply(req, st, st == 403 ? "Too Many Contacts" : "Server Error", NULL);
            return -1;
        }
    }
    store_reg_drop_expired(req->reg, now);
    return 0;
}

void bindings_apply(reg_req_t *req)
{
    if (apply_all(req) < 0)
        return;
    if (!req->sip->sip_contact) {
        reply_ok(req); /* a query (RFC 3261 10.3 step 8), with or without anything registered */
        return;
    }
    int sat = req->reg->ncontacts == 0 ? CX_SAT_USER_DEREGISTRATION
              : req->reg->profile      ? CX_SAT_RE_REGISTRATION
                                       : CX_SAT_REGISTRATION;
    if (reg_req_sar(req, sat, sat == CX_SAT_RE_REGISTRATION, after_sar) < 0)
        reg_req_reply(req, 500, "Cannot Reach HSS", NULL);
}
