/* What happens to registrations without a REGISTER: expiry (SAR TIMEOUT_DEREGISTRATION when the
 * last contact goes), RTR from the HSS, and the REST view and admin deregistration. */
#include "cscf/scscf/registration/reg_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util/clock.h"
#include "common/util/log.h"
#include "cscf/scscf/core/auth.h"
#include "cscf/scscf/registration/reg_req.h"
#include "cscf/scscf/registration/regevent.h"

#define LOOP_MS 1000

/* ---- expiry ---- */

typedef struct tick_ctx {
    scscf_t *s;
    int64_t now;
} tick_ctx_t;

static void ignore(void *arg, int rc)
{
    (void)arg;
    (void)rc;
}

/* The put or delete of a record whose expired reg event subscriptions regevent took out. */
typedef struct subs_expired {
    scscf_t *s;
    char impi[256];
} subs_expired_t;

static void subs_stored(void *arg, int rc)
{
    subs_expired_t *e = arg;
    regevent_expired_stored(e->s, e->impi, rc);
    free(e);
}

static void on_expired(void *arg, int rc, store_reg_t **regs, size_t n, size_t total)
{
    tick_ctx_t *t = arg;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        store_reg_t *r = regs[i];
        log_ctx_user(r->nimpus ? r->impus[0] : NULL, r->impi);
        subs_expired_t *e = regevent_drop_expired(t->s, r, t->now) ? calloc(1, sizeof *e) : NULL;
        if (e) {
            e->s = t->s;
            snprintf(e->impi, sizeof e->impi, "%s", r->impi);
        }
        store_reg_t *before = regevent_watched(r) ? store_reg_dup(r) : NULL;
        size_t gone = store_reg_drop_expired(r, t->now);
        metric_addv(t->s->m_events, (const char *[]){"expired"}, (double)gone);
        if (r->ncontacts == 0) {
            log_info("registrar: %s (%s) expired", r->nimpus ? r->impus[0] : "?", r->impi);
            reg_req_sar_detached(t->s, r->impi, r->nimpus ? r->impus[0] : r->impi,
                                 CX_SAT_TIMEOUT_DEREGISTRATION);
            store_del(t->s->store, r->impi, e ? subs_stored : ignore, e);
        } else {
            store_put(t->s->store, r, e ? subs_stored : ignore, e);
        }
        if (before)
            regevent_changed(t->s, before, r->ncontacts ? r : NULL, REGEVENT_EXPIRY);
        store_reg_free(before);
    }
    if (regs)
        store_regs_free(regs, n);
    log_ctx_clear();
}

void reg_admin_publish(scscf_t *s)
{
    metric_set(s->m_regs, NULL, (double)store_count(s->store));
    metric_set(s->m_contacts, NULL, (double)store_contact_count(s->store));
}

void reg_admin_tick(scscf_t *s)
{
    tick_ctx_t t = {s, time(NULL)};
    auth_table_expire(&s->auth, clock_mono_ms());
    store_expired(s->store, t.now, on_expired, &t);
    reg_admin_publish(s);
}

/* ---- RTR ---- */

typedef struct rtr_ctx {
    scscf_t *s;
    int reason; /* Deregistration-Reason Reason-Code (TS 29.228 6.3.17) */
} rtr_ctx_t;

static void rtr_found(void *arg, int rc, store_reg_t *reg)
{
    rtr_ctx_t *c = arg;
    scscf_t *s = c->s;
    /* PERMANENT_TERMINATION: the UE should not register again (RFC 3680 "rejected"). */
    regevent_cause_t cause = c->reason == 0 ? REGEVENT_RTR_PERMANENT : REGEVENT_RTR;
    free(c);
    if (rc != 0)
        return;
    log_ctx_user(reg->nimpus ? reg->impus[0] : NULL, reg->impi);
    log_info("registrar: RTR: %s (%zu contacts) deregistered by the HSS", reg->impi,
             reg->ncontacts);
    metric_inc(s->m_events, "rtr");
    store_del(s->store, reg->impi, ignore, NULL);
    regevent_changed(s, reg, NULL, cause);
    store_reg_free(reg);
}

static void rtr_lookup(scscf_t *s, const char *impi, const char *impu, int reason)
{
    rtr_ctx_t *c = malloc(sizeof *c);
    if (!c)
        return;
    *c = (rtr_ctx_t){s, reason};
    if (impi)
        store_get_impi(s->store, impi, rtr_found, c);
    else
        store_get(s->store, impu, rtr_found, c);
}

void reg_admin_rtr(scscf_t *s, const char *impi, char *const *impus, size_t nimpus, int reason)
{
    if (impi)
        rtr_lookup(s, impi, NULL, reason);
    for (size_t i = 0; i < nimpus; i++)
        rtr_lookup(s, NULL, impus[i], reason);
}

/* ---- REST ---- */

typedef struct op {
    scscf_t *s;
    const char *key;
    size_t offset, limit;
    const char *prefix;
    json_t *out;
    int found;
} op_t;

static void list_done(void *arg, int rc, store_reg_t **regs, size_t n, size_t total)
{
    op_t *o = arg;
    json_t *a = json_array();
    int64_t now = time(NULL);
    for (size_t i = 0; rc == 0 && i < n; i++)
        json_array_append_new(a, store_reg_to_json(regs[i], now));
    o->out = json_pack("{s:I,s:I,s:o}", "total", (json_int_t)total, "offset", (json_int_t)o->offset,
                       "registrations", a);
    if (regs)
        store_regs_free(regs, n);
}

static void list_on_loop(void *arg)
{
    op_t *o = arg;
    store_list(o->s->store, o->prefix, o->offset, o->limit, list_done, o);
}

static void get_done(void *arg, int rc, store_reg_t *reg)
{
    op_t *o = arg;
    o->found = rc == 0;
    if (reg) {
        o->out = store_reg_to_json(reg, time(NULL));
        store_reg_free(reg);
    }
}

static void get_on_loop(void *arg)
{
    op_t *o = arg;
    store_get(o->s->store, o->key, get_done, o);
}

/* Network-initiated deregistration (TS 24.229 5.4.1.5): the HSS is told, the store forgets,
 * the reg event tells the UE and the P-CSCF. */
static void deregister_now(scscf_t *s, store_reg_t *reg, const char *impu, const char *why)
{
    log_ctx_user(reg->nimpus ? reg->impus[0] : impu, reg->impi);
    log_info("registrar: %s deregistered (%s)", reg->impi, why);
    reg_req_sar_detached(s, reg->impi, reg->nimpus ? reg->impus[0] : impu,
                         CX_SAT_ADMINISTRATIVE_DEREGISTRATION);
    store_del(s->store, reg->impi, ignore, NULL);
    regevent_changed(s, reg, NULL, REGEVENT_ADMIN);
    metric_inc(s->m_events, "admin_deregister");
}

typedef struct dereg_ctx {
    scscf_t *s;
    char impu[256];
    const char *why;
} dereg_ctx_t;

static void dereg_found(void *arg, int rc, store_reg_t *reg)
{
    dereg_ctx_t *c = arg;
    if (rc == 0)
        deregister_now(c->s, reg, c->impu, c->why);
    store_reg_free(reg);
    free(c);
}

void reg_admin_deregister(scscf_t *s, const char *impu, const char *why)
{
    dereg_ctx_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->s = s;
    c->why = why;
    snprintf(c->impu, sizeof c->impu, "%s", impu);
    store_get(s->store, c->impu, dereg_found, c);
}

static void del_done(void *arg, int rc, store_reg_t *reg)
{
    op_t *o = arg;
    o->found = rc == 0;
    if (reg)
        deregister_now(o->s, reg, o->key, "over REST");
    store_reg_free(reg);
}

static void del_on_loop(void *arg)
{
    op_t *o = arg;
    store_get(o->s->store, o->key, del_done, o);
}

static void list_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    op_t o = {.s = ctx, .prefix = api_query(req, "prefix")};
    o.offset = api_query_size(req, "offset", 0, (size_t)-1);
    o.limit = api_query_size(req, "limit", 100, 1000);
    if (loopq_call(o.s->p->queue, list_on_loop, &o, LOOP_MS) < 0 || !o.out) {
        json_decref(o.out);
        api_problem(resp, 503, "Service Unavailable", "the loop did not answer within 1 s");
        return;
    }
    api_json(resp, 200, o.out);
}

static void one_route(void *ctx, const api_request_t *req, api_response_t *resp, loopq_fn fn)
{
    op_t o = {.s = ctx, .key = req->params[0]};
    if (loopq_call(o.s->p->queue, fn, &o, LOOP_MS) < 0) {
        json_decref(o.out);
        api_problem(resp, 503, "Service Unavailable", "the loop did not answer within 1 s");
    } else if (!o.found) {
        api_problem(resp, 404, "Not Found", "no registration for this IMPU");
    } else if (fn == del_on_loop) {
        api_json(resp, 200, json_pack("{s:s,s:b}", "impu", o.key, "deregistered", 1));
    } else {
        api_json(resp, 200, o.out);
    }
}

static void get_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    one_route(ctx, req, resp, get_on_loop);
}

static void del_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    one_route(ctx, req, resp, del_on_loop);
}

int reg_admin_rest_routes(scscf_t *s)
{
    int rc = 0;
    rc |= api_route(s->p->api, "GET", "/api/v1/registrations", 0, list_route, s);
    rc |= api_route(s->p->api, "GET", "/api/v1/registrations/{impu}", 0, get_route, s);
    rc |=
        api_route(s->p->api, "DELETE", "/api/v1/registrations/{impu}", API_MUTATING, del_route, s);
    return rc ? -1 : 0;
}
