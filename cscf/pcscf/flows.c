/* The P-CSCF's registration view: one binding per UE flow, from the 200s to REGISTERs it
 * relayed; expired by a timer; shown over REST. Loop thread only (REST through loopq_call). */
#include "cscf/pcscf/pcscf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

#include "common/log.h"

pc_binding_t *pcscf_binding(pcscf_t *pc, const char *flow)
{
    pc_binding_t *b = strmap_get(pc->by_flow, flow);
    return b && b->expires_at > time(NULL) ? b : NULL;
}

pc_binding_t *pcscf_binding_by_token(pcscf_t *pc, const char *token)
{
    pc_binding_t *b = strmap_get(pc->by_token, token);
    return b && b->expires_at > time(NULL) ? b : NULL;
}

static void drop(pcscf_t *pc, const char *flow)
{
    pc_binding_t *b = strmap_take(pc->by_flow, flow);
    if (b) {
        strmap_take(pc->by_token, b->token);
        regsub_unref(pc, b->impu);
        free(b);
    }
}

void pcscf_binding_update(pcscf_t *pc, const pc_binding_t *nb, long expires)
{
    if (expires <= 0) {
        log_info("pcscf: %s (%s) deregistered", nb->flow, nb->impi);
        drop(pc, nb->flow);
        return;
    }
    pc_binding_t *b = strmap_get(pc->by_flow, nb->flow);
    int64_t since = b ? b->registered_at : time(NULL);
    char old_impu[sizeof b->impu] = "";
    if (b) {
        strmap_take(pc->by_token, b->token);
        memcpy(old_impu, b->impu, sizeof old_impu);
    } else if (!(b = malloc(sizeof *b))) {
        return;
    }
    *b = *nb;
    /* The new IMPU first, so a refresh never drops the subscription it keeps. */
    regsub_ref(pc, b->impu);
    if (*old_impu)
        regsub_unref(pc, old_impu);
    b->registered_at = since;
    b->expires_at = time(NULL) + expires;
    if (strmap_put(pc->by_flow, b->flow, b, NULL) < 0 ||
        strmap_put(pc->by_token, b->token, b, NULL) < 0) {
        drop(pc, b->flow);
        return;
    }
    log_info("pcscf: %s registered %s for %ld s", b->flow, b->impi, expires);
}

static int expired(void *ctx, const char *key, void *val)
{
    pcscf_t *pc = ctx;
    pc_binding_t *b = val;
    if (b->expires_at > time(NULL))
        return 0;
    log_info("pcscf: %s (%s) expired", b->flow, b->impi);
    strmap_take(pc->by_token, b->token);
    regsub_unref(pc, b->impu);
    free(b);
    return 1;
}

typedef struct drop_ctx {
    pcscf_t *pc;
    const char *aor;
    url_t *contact;
} drop_ctx_t;

/* Is aor the binding's IMPU or one of its P-Associated-URIs? */
static int has_identity(const pc_binding_t *b, const char *aor)
{
    char bracketed[300];
    snprintf(bracketed, sizeof bracketed, "<%s>", aor);
    return strcmp(b->impu, aor) == 0 || strstr(b->associated, bracketed) != NULL;
}

static int drop_matching(void *ctx, const char *key, void *val)
{
    drop_ctx_t *d = ctx;
    pc_binding_t *b = val;
    su_home_t home[1] = {SU_HOME_INIT(home)};
    url_t *mine = d->contact ? url_make(home, b->contact) : NULL;
    int match = (d->aor && has_identity(b, d->aor)) || (mine && url_cmp(mine, d->contact) == 0);
    su_home_deinit(home);
    if (!match)
        return 0;
    log_info("pcscf: %s (%s) removed by a reg event NOTIFY", b->flow, b->impi);
    strmap_take(d->pc->by_token, b->token);
    regsub_unref(d->pc, b->impu);
    free(b);
    return 1;
}

void pcscf_bindings_drop(pcscf_t *pc, const char *aor, const char *contact)
{
    su_home_t home[1] = {SU_HOME_INIT(home)};
    drop_ctx_t d = {pc, aor, contact ? url_make(home, contact) : NULL};
    if (aor || d.contact)
        strmap_sweep(pc->by_flow, drop_matching, &d);
    su_home_deinit(home);
    metric_set(pc->m_regs, NULL, (double)strmap_size(pc->by_flow));
}

static void tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    pcscf_t *pc = (pcscf_t *)arg;
    strmap_sweep(pc->by_flow, expired, pc);
    metric_set(pc->m_regs, NULL, (double)strmap_size(pc->by_flow));
}

/* ---- REST ---- */

typedef struct list_ctx {
    json_t *arr;
    int64_t now;
} list_ctx_t;

static int add_json(void *ctx, const char *key, void *val)
{
    list_ctx_t *l = ctx;
    pc_binding_t *b = val;
    json_array_append_new(
        l->arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "flow", b->flow, "impi", b->impi,
                          "contact", b->contact, "associated_uris", b->associated, "service_route",
                          b->service_route, "expires", (json_int_t)(b->expires_at - l->now),
                          "registered_at", (json_int_t)b->registered_at));
    return 0;
}

typedef struct op {
    pcscf_t *pc;
    json_t *out;
} op_t;

static void list_on_loop(void *arg)
{
    op_t *o = arg;
    list_ctx_t l = {json_array(), time(NULL)};
    strmap_sweep(o->pc->by_flow, add_json, &l);
    o->out =
        json_pack("{s:I,s:o}", "total", (json_int_t)json_array_size(l.arr), "registrations", l.arr);
}

static void list_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    op_t o = {.pc = ctx};
    if (loopq_call(o.pc->p->queue, list_on_loop, &o, 1000) < 0 || !o.out) {
        json_decref(o.out);
        api_problem(resp, 503, "Service Unavailable", "the loop did not answer within 1 s");
        return;
    }
    api_json(resp, 200, o.out);
}

int pcscf_flows_init(pcscf_t *pc)
{
    pc->by_flow = strmap_new();
    pc->by_token = strmap_new();
    pc->tick = su_timer_create(su_root_task(pc->p->root), 1000);
    pc->m_regs = metrics_gauge(pc->p->metrics, "cscf_registrations_active",
                               "UE flows registered through this P-CSCF", NULL);
    if (!pc->by_flow || !pc->by_token || !pc->tick ||
        su_timer_run(pc->tick, tick, (su_timer_arg_t *)pc) < 0)
        return -1;
    return api_route(pc->p->api, "GET", "/api/v1/registrations", 0, list_route, pc);
}

void pcscf_flows_fini(pcscf_t *pc)
{
    if (pc->tick)
        su_timer_destroy(pc->tick);
    strmap_free(pc->by_token, NULL);
    strmap_free(pc->by_flow, free);
}
