/* What happens to registrations without a REGISTER: expiry (SAR TIMEOUT_DEREGISTRATION when the
 * last contact goes), RTR from the HSS, and the REST view and admin deregistration.
 *
 * Replicas may share the store, so every write here is conditional on the revision read
 * (store_put with reg->rev, store_del_if) and its effects (SAR, reg event NOTIFYs, metrics,
 * logs) follow only a write that succeeded: when two replicas sweep the same expired
 * registration, one deletes it and tells the HSS and the subscribers, the other gets a conflict
 * (or finds nothing) and does nothing. */
#include "cscf/scscf/registration/reg_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ops/limits.h"
#include "common/util/clock.h"
#include "common/util/log.h"
#include "cscf/scscf/core/auth.h"
#include "cscf/scscf/registration/reg_config.h"
#include "cscf/scscf/registration/reg_req.h"
#include "cscf/scscf/registration/regevent.h"
#include "diameter/fd_setup.h"

#define REST_WAIT_MS                                                                               \
    3000              /* a REST call waits this long for the store (its own timeout is less)       \
                       */
#define DEREG_TRIES 3 /* a deregistration re-reads the record this often after a conflict */

static const char *first_impu(const store_reg_t *r, const char *dflt)
{
    return r->nimpus ? r->impus[0] : dflt;
}

/* Store failures outside a SIP request: logged once per outage, as for requests. */
static void store_failed(scscf_t *s, int rc, const char *what)
{
    const char *phrase;
    char hdr[64];
    reg_store_failure(s, rc, what, &phrase, hdr, sizeof hdr);
}

/* ---- expiry ---- */

/* One expired registration being written back. */
typedef struct swept {
    scscf_t *s;
    store_reg_t *reg;    /* as it is written: without its expired contacts */
    store_reg_t *before; /* a copy as it was, when someone subscribes to it */
    size_t gone;         /* contacts dropped */
    size_t subs;         /* expired reg event subscriptions regevent took out */
} swept_t;

static void swept_free(swept_t *w)
{
    store_reg_free(w->reg);
    store_reg_free(w->before);
    free(w);
}

/* The write went through: now the effects, once, by the replica whose write it was. */
static void on_swept(void *arg, int rc)
{
    swept_t *w = arg;
    scscf_t *s = w->s;
    store_reg_t *r = w->reg;
    if (w->subs) /* rc 0 sends their terminated NOTIFYs; else regevent forgets them */
        regevent_expired_stored(s, r->impi, rc);
    if (rc != 0) {
        /* Changed or gone meanwhile (a REGISTER, another replica's sweep): the next sweep
         * looks at what is stored then. */
        if (rc == STORE_CONFLICT || rc == STORE_ERROR)
            log_debug("registrar: %s changed while it expired; looked at again later", r->impi);
        else
            store_failed(s, rc, "expiry");
        swept_free(w);
        return;
    }
    reg_store_ok(s);
    log_ctx_user(first_impu(r, NULL), r->impi);
    metric_addv(s->m_events, (const char *[]){"expired"}, (double)w->gone);
    if (r->ncontacts == 0) {
        log_info("registrar: %s (%s) expired", first_impu(r, "?"), r->impi);
        reg_req_sar_detached(s, r->impi, first_impu(r, r->impi), CX_SAT_TIMEOUT_DEREGISTRATION,
                             r->hss);
        if (w->before)
            regevent_changed(s, w->before, NULL, REGEVENT_EXPIRY);
    } else if (w->before && w->gone) {
        r->rev = (r->rev == STORE_REV_NEW ? 0 : r->rev) + 1; /* what the put left */
        regevent_changed(s, w->before, r, REGEVENT_EXPIRY);
    }
    log_ctx_clear();
    swept_free(w);
}

/* r (the caller's, taken) lost what expired by now: write it back if that changed anything. */
static void sweep_one(scscf_t *s, store_reg_t *r, int64_t now)
{
    swept_t *w = calloc(1, sizeof *w);
    if (!w) {
        store_reg_free(r);
        return;
    }
    *w = (swept_t){.s = s, .reg = r};
    /* Before the copy for regevent_changed(), so no expired subscription is told twice. */
    w->subs = regevent_drop_expired(s, r, now);
    if (regevent_watched(r))
        w->before = store_reg_dup(r);
    w->gone = store_reg_drop_expired(r, now);
    if (r->ncontacts == 0)
        store_del_if(s->store, r->impi, r->rev, on_swept, w);
    else if (w->gone || w->subs)
        store_put(s->store, r, on_swept, w);
    else
        swept_free(w);
}

typedef struct sweep {
    scscf_t *s;
    int64_t now;
} sweep_t;

static void on_expired(void *arg, int rc, store_reg_t **regs, size_t n, size_t total)
{
    sweep_t *t = arg;
    if (rc < 0)
        store_failed(t->s, rc, "expiry list");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sweep_one(t->s, regs[i], t->now);
        regs[i] = NULL; /* taken */
    }
    if (regs)
        store_regs_free(regs, n); /* the array: the records were taken */
    free(t);
}

void reg_admin_sweep(scscf_t *s)
{
    sweep_t *t = malloc(sizeof *t);
    if (!t)
        return;
    *t = (sweep_t){s, time(NULL)};
    store_expired(s->store, t->now, on_expired, t);
}

void reg_admin_publish(scscf_t *s)
{
    metric_set(s->m_regs, NULL, (double)store_count(s->store));
    metric_set(s->m_contacts, NULL, (double)store_contact_count(s->store));
    cap_update(s->cap_regs, store_count(s->store));
    cap_update(s->cap_challenges, strmap_size(s->auth.by_nonce));
    metric_set(s->m_mars_in_flight, NULL, (double)auth_guard_in_flight(s->guard));
}

/* An expiry tells the HSS (SAR), so it waits for an open Cx peer: without one freeDiameter
 * answers UNABLE_TO_DELIVER at once, and the registration would go while the HSS kept it
 * assigned. Right after a restart the peer is still connecting: what expired while the process
 * was down goes at the first tick that finds it open. It also waits while the store is not
 * "ok" (Redis connecting or down). A Cx client without freeDiameter (the unit tests' fake) is
 * always reachable. */
int reg_admin_can_sweep(scscf_t *s)
{
    char why[200];
    if (strcmp(store_status(s->store), "ok") != 0)
        return 0;
    return !s->cx.started || fd_setup_ready(why, sizeof why);
}

void reg_admin_tick(scscf_t *s)
{
    auth_table_expire(&s->auth, clock_mono_ms());
    auth_guard_expire(s->guard, &s->rc->guard, clock_mono_ms());
    if (reg_admin_can_sweep(s))
        reg_admin_sweep(s);
    reg_admin_publish(s);
}

/* ---- deregistration without a REGISTER: RTR, REST, an AS that failed ---- */

typedef enum dereg_kind { DEREG_RTR, DEREG_ADMIN } dereg_kind_t;

/* done(arg, rc): 0 deregistered here, 1 not registered (or gone meanwhile), DEREG_BUSY when it
 * kept changing, < 0 store error. */
#define DEREG_BUSY 2
typedef void (*dereg_done_f)(void *arg, int rc);

typedef struct dereg {
    scscf_t *s;
    char key[256]; /* the IMPU, or the IMPI when by_impi */
    int by_impi;
    dereg_kind_t kind;
    regevent_cause_t cause;
    const char *why; /* a string constant, for the log */
    int tries;
    store_reg_t *reg; /* as read */
    dereg_done_f done;
    void *arg;
} dereg_t;

static void dereg_lookup(dereg_t *d);

static void dereg_finish(dereg_t *d, int rc)
{
    if (d->done)
        d->done(d->arg, rc);
    store_reg_free(d->reg);
    free(d);
}

/* The record is gone from the store (our delete): the effects. */
static void dereg_effects(dereg_t *d)
{
    scscf_t *s = d->s;
    store_reg_t *r = d->reg;
    log_ctx_user(first_impu(r, d->key), r->impi);
    if (d->kind == DEREG_RTR) {
        log_info("registrar: RTR: %s (%zu contacts) deregistered by the HSS", r->impi,
                 r->ncontacts);
        metric_inc(s->m_events, "rtr");
    } else {
        log_info("registrar: %s deregistered (%s)", r->impi, d->why);
        reg_req_sar_detached(s, r->impi, first_impu(r, d->key),
                             CX_SAT_ADMINISTRATIVE_DEREGISTRATION, r->hss);
        metric_inc(s->m_events, "admin_deregister");
    }
    regevent_changed(s, r, NULL, d->cause);
    log_ctx_clear();
}

static void dereg_deleted(void *arg, int rc)
{
    dereg_t *d = arg;
    /* -1 is also what a record deleted meanwhile gets: reading it again tells which. */
    if ((rc == STORE_CONFLICT || rc == STORE_ERROR) && ++d->tries < DEREG_TRIES) {
        store_reg_free(d->reg);
        d->reg = NULL;
        dereg_lookup(d);
        return;
    }
    if (rc == 0) {
        reg_store_ok(d->s);
        dereg_effects(d);
    } else if (rc != STORE_CONFLICT) {
        store_failed(d->s, rc, "deregistration");
    } else {
        log_warn("registrar: %s kept changing while it was deregistered (%s)", d->key, d->why);
    }
    dereg_finish(d, rc == STORE_CONFLICT ? DEREG_BUSY : rc);
}

static void dereg_found(void *arg, int rc, store_reg_t *reg)
{
    dereg_t *d = arg;
    if (rc != 0) {
        store_reg_free(reg);
        if (rc < 0)
            store_failed(d->s, rc, "deregistration");
        else
            reg_store_ok(d->s);
        dereg_finish(d, rc);
        return;
    }
    d->reg = reg;
    store_del_if(d->s->store, reg->impi, reg->rev, dereg_deleted, d);
}

static void dereg_lookup(dereg_t *d)
{
    if (d->by_impi)
        store_get_impi(d->s->store, d->key, dereg_found, d);
    else
        store_get(d->s->store, d->key, dereg_found, d);
}

static void dereg_start(scscf_t *s, const char *key, int by_impi, dereg_kind_t kind,
                        regevent_cause_t cause, const char *why, dereg_done_f done, void *arg)
{
    dereg_t *d = calloc(1, sizeof *d);
    if (!d) {
        if (done)
            done(arg, STORE_ERROR);
        return;
    }
    *d = (dereg_t){.s = s,
                   .by_impi = by_impi,
                   .kind = kind,
                   .cause = cause,
                   .why = why,
                   .done = done,
                   .arg = arg};
    snprintf(d->key, sizeof d->key, "%s", key);
    dereg_lookup(d);
}

void reg_admin_rtr(scscf_t *s, const char *impi, char *const *impus, size_t nimpus, int reason)
{
    /* PERMANENT_TERMINATION: the UE should not register again (RFC 3680 "rejected"). */
    regevent_cause_t cause = reason == 0 ? REGEVENT_RTR_PERMANENT : REGEVENT_RTR;
    if (impi)
        dereg_start(s, impi, 1, DEREG_RTR, cause, "RTR", NULL, NULL);
    for (size_t i = 0; i < nimpus; i++)
        dereg_start(s, impus[i], 0, DEREG_RTR, cause, "RTR", NULL, NULL);
}

void reg_admin_deregister(scscf_t *s, const char *impu, const char *why)
{
    dereg_start(s, impu, 0, DEREG_ADMIN, REGEVENT_ADMIN, why, NULL, NULL);
}

/* ---- REST ----
 *
 * A handler runs on the HTTP thread and waits for the loop, which waits for the store: with an
 * asynchronous backend the answer comes after the loop function has returned, so the handler
 * waits with loopq_call_async() and the store's callback ends the wait (op_done()). When the
 * wait gives up, the op belongs to the wait, which frees it (op_free()) after the store answered.
 */

typedef struct op {
    program_t *p; /* outlives the module: p->app tells whether it is still there */
    loopq_wait_t *w;
    char key[300];
    size_t offset, limit;
    char prefix[300];
    int has_prefix;
    /* the outcome, set on the loop */
    int rc; /* 0 found/done, 1 not found, DEREG_BUSY, < 0 the store failed */
    json_t *out;
} op_t;

static op_t *op_new(scscf_t *s)
{
    op_t *o = calloc(1, sizeof *o);
    if (o)
        o->p = s->p;
    return o;
}

static void op_free(void *arg)
{
    op_t *o = arg;
    json_decref(o->out);
    free(o);
}

/* Loop thread: the store answered. o may be freed on return (the wait gave up). */
static void op_done(op_t *o, int rc, json_t *out)
{
    o->rc = rc;
    o->out = out;
    loopq_wait_done(o->w);
}

/* Loop thread: the module, or NULL when fn runs from loopq_free() after it went. */
static scscf_t *op_start(op_t *o, loopq_wait_t *w)
{
    o->w = w;
    scscf_t *s = o->p->app;
    if (!s)
        op_done(o, STORE_ERROR, NULL);
    return s;
}

/* HTTP thread: run fn on the loop and wait. 1 when the store answered (o->rc, o->out); 0 when
 * not, and o is then the wait's (freed by it): the caller must not touch it again. */
static int op_run(op_t *o, loopq_async_fn fn)
{
    return loopq_call_async(o->p->queue, fn, o, op_free, REST_WAIT_MS) == 0;
}

/* Answers for a call that got no result; 1 when it did so. */
static int op_failed(op_t *o, int answered, api_response_t *resp)
{
    if (!answered) {
        api_problem(resp, 503, "Service Unavailable", "the loop or the store did not answer");
        return 1;
    }
    if (o->rc < 0 || o->rc == DEREG_BUSY) {
        api_problem(resp, 503, "Service Unavailable",
                    o->rc == STORE_TIMEOUT ? "the store did not answer in time"
                    : o->rc == DEREG_BUSY  ? "the registration kept changing; try again"
                                           : "the store failed");
        return 1;
    }
    return 0;
}

static void list_done(void *arg, int rc, store_reg_t **regs, size_t n, size_t total)
{
    op_t *o = arg;
    json_t *out = NULL;
    if (rc == 0) {
        json_t *a = json_array();
        int64_t now = time(NULL);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, store_reg_to_json(regs[i], now));
        out = json_pack("{s:I,s:I,s:o}", "total", (json_int_t)total, "offset",
                        (json_int_t)o->offset, "registrations", a);
    }
    if (regs)
        store_regs_free(regs, n);
    op_done(o, rc, out);
}

static void list_on_loop(loopq_wait_t *w, void *arg)
{
    op_t *o = arg;
    scscf_t *s = op_start(o, w);
    if (s)
        store_list(s->store, o->has_prefix ? o->prefix : NULL, o->offset, o->limit, list_done, o);
}

static void get_done(void *arg, int rc, store_reg_t *reg)
{
    op_t *o = arg;
    json_t *out = rc == 0 && reg ? store_reg_to_json(reg, time(NULL)) : NULL;
    store_reg_free(reg);
    op_done(o, rc, out);
}

static void get_on_loop(loopq_wait_t *w, void *arg)
{
    op_t *o = arg;
    scscf_t *s = op_start(o, w);
    if (s)
        store_get(s->store, o->key, get_done, o);
}

static void del_done(void *arg, int rc)
{
    op_done(arg, rc, NULL);
}

static void del_on_loop(loopq_wait_t *w, void *arg)
{
    op_t *o = arg;
    scscf_t *s = op_start(o, w);
    if (s)
        dereg_start(s, o->key, 0, DEREG_ADMIN, REGEVENT_ADMIN, "over REST", del_done, o);
}

static void list_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    op_t *o = op_new(ctx);
    if (!o) {
        api_problem(resp, 500, "Internal Server Error", "out of memory");
        return;
    }
    const char *prefix = api_query(req, "prefix");
    o->has_prefix = prefix != NULL;
    snprintf(o->prefix, sizeof o->prefix, "%s", prefix ? prefix : "");
    if (api_query_size(req, "offset", 0, API_MAX_OFFSET, &o->offset, resp) < 0 ||
        api_query_size(req, "limit", 100, 1000, &o->limit, resp) < 0) {
        op_free(o);
        return;
    }
    int answered = op_run(o, list_on_loop);
    if (!op_failed(o, answered, resp)) {
        api_json(resp, 200, o->out);
        o->out = NULL;
    }
    if (answered)
        op_free(o); /* else the wait's */
}

static void one_route(void *ctx, const api_request_t *req, api_response_t *resp, loopq_async_fn fn)
{
    op_t *o = op_new(ctx);
    if (!o) {
        api_problem(resp, 500, "Internal Server Error", "out of memory");
        return;
    }
    snprintf(o->key, sizeof o->key, "%s", req->params[0]);
    int answered = op_run(o, fn);
    if (op_failed(o, answered, resp)) {
        /* answered */
    } else if (o->rc == 1) {
        api_problem(resp, 404, "Not Found", "no registration for this IMPU");
    } else if (fn == del_on_loop) {
        api_json(resp, 200, json_pack("{s:s,s:b}", "impu", o->key, "deregistered", 1));
    } else {
        api_json(resp, 200, o->out);
        o->out = NULL;
    }
    if (answered)
        op_free(o); /* else the wait's */
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
