/* The P-CSCF's registration view: one binding per UE flow, from the 200s to REGISTERs it
 * relayed; expired by a timer; shown over REST. Loop thread only (REST through loopq_call). */
#include "cscf/pcscf/flow_conn.h"
#include "cscf/pcscf/pcscf.h"
#include "cscf/pcscf/policy/policy.h"
#include "cscf/pcscf/reg_ipsec.h"
#include "cscf/pcscf/regsub.h"
#include "cscf/pcscf/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

#include "common/ops/limits.h"
#include "common/util/log.h"

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

int pcscf_binding_target(const pcscf_t *pc, const pc_binding_t *b, pc_target_t *out)
{
    /* A protected UE is reached only through its SA (TS 33.203 7, TS 24.229 5.2.2). */
    if (pc_ipsec_target(b, out))
        return 0;
    pc_reach_t r = {.flow = b->flow, .contact = b->contact, .outbound = b->outbound};
    return pc_binding_target(&r, pc->delivery, out);
}

/* Every removal of a binding ends here (Expires 0, a failed store, expiry, a reg event NOTIFY),
 * once b is out of by_flow (taken, or about to be by the sweep that calls this): its token
 * goes, its reg event subscription loses a holder, the log says why. */
static void binding_remove(pcscf_t *pc, pc_binding_t *b, const char *why)
{
    log_ctx_user(b->impu, b->impi);
    log_info("pcscf: %s (%s) %s", b->flow, b->impi, why);
    if (pc->policy) /* its calls' policy sessions end with it (TS 29.214 4.4.4) */
        policy_ue_gone(pc->policy, b->flow);
    if (strmap_get(pc->by_token, b->token) == b)
        strmap_take(pc->by_token, b->token);
    pc_flow_unbound(pc, b);
    regsub_unref(pc, b->impu);
    pc_ipsec_binding_gone(pc, b);
    free(b);
    pcscf_state_changed(pc);
}

void pcscf_binding_update(pcscf_t *pc, const pc_binding_t *nb, long expires)
{
    if (expires <= 0) {
        pc_binding_t *gone = strmap_take(pc->by_flow, nb->flow);
        if (gone)
            binding_remove(pc, gone, "deregistered");
        else
            log_info("pcscf: %s (%s) deregistered", nb->flow, nb->impi);
        return;
    }
    pc_binding_t *b = strmap_get(pc->by_flow, nb->flow);
    int64_t since = b ? b->registered_at : time(NULL);
    char old_impu[sizeof b->impu] = "";
    if (b) {
        strmap_take(pc->by_token, b->token);
        memcpy(old_impu, b->impu, sizeof old_impu);
    } else if (!cap_admit(pc->cap_bindings, strmap_size(pc->by_flow)) || !(b = malloc(sizeof *b))) {
        /* at the cap (REGISTERs from new flows crossed): the UE is told 200 by the registrar
         * but this P-CSCF keeps nothing; its next REGISTER is refused or taken */
        log_info("pcscf: %s (%s) not kept: limits.bindings reached", nb->flow, nb->impi);
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
        if (strmap_get(pc->by_flow, b->flow) == b)
            strmap_take(pc->by_flow, b->flow);
        binding_remove(pc, b, "not stored (out of memory)");
        return;
    }
    pc_flow_bound(pc, b);
    log_info("pcscf: %s registered %s for %ld s (profile %s)", b->flow, b->impi, expires,
             b->profile[0] ? b->profile : "default");
    pcscf_state_changed(pc);
}

int pcscf_binding_restore(pcscf_t *pc, pc_binding_t *b)
{
    if (strmap_get(pc->by_flow, b->flow) || strmap_get(pc->by_token, b->token) ||
        strmap_put(pc->by_flow, b->flow, b, NULL) < 0) {
        free(b);
        return -1;
    }
    if (strmap_put(pc->by_token, b->token, b, NULL) < 0) {
        strmap_take(pc->by_flow, b->flow);
        free(b);
        return -1;
    }
    regsub_ref(pc, b->impu); /* a new subscription: the old dialog went with the process */
    metric_set(pc->m_regs, NULL, (double)strmap_size(pc->by_flow));
    cap_update(pc->cap_bindings, strmap_size(pc->by_flow));
    log_ctx_user(b->impu, b->impi);
    log_info("pcscf: %s (%s) restored, %lld s left", b->flow, b->impi,
             (long long)(b->expires_at - time(NULL)));
    log_ctx_clear();
    return 0;
}

void pcscf_binding_drop(pcscf_t *pc, const char *flow, const char *why)
{
    pc_binding_t *gone = strmap_take(pc->by_flow, flow);
    if (gone)
        binding_remove(pc, gone, why);
}

static int expired(void *ctx, const char *key, void *val)
{
    pcscf_t *pc = ctx;
    pc_binding_t *b = val;
    if (b->expires_at > time(NULL))
        return 0;
    binding_remove(pc, b, "expired");
    return 1;
}

typedef struct drop_ctx {
    pcscf_t *pc;
    const char *aor;
    url_t *contact;
} drop_ctx_t;

int pcscf_binding_has_identity(const pc_binding_t *b, const char *aor)
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
    int match = (d->aor && pcscf_binding_has_identity(b, d->aor)) ||
                (mine && url_cmp(mine, d->contact) == 0);
    su_home_deinit(home);
    if (!match)
        return 0;
    binding_remove(d->pc, b, "removed by a reg event NOTIFY");
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
    cap_update(pc->cap_bindings, strmap_size(pc->by_flow));
}

static void tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    pcscf_t *pc = (pcscf_t *)arg;
    strmap_sweep(pc->by_flow, expired, pc);
    pc_flows_tick(pc);
    log_ctx_clear();
    metric_set(pc->m_regs, NULL, (double)strmap_size(pc->by_flow));
    cap_update(pc->cap_bindings, strmap_size(pc->by_flow));
}

/* ---- REST ---- */

typedef struct list_ctx {
    const pc_binding_t **items;
    size_t n, cap;
    const char *prefix; /* NULL: any */
    const char *impu;   /* NULL: any */
    int64_t now;
} list_ctx_t;

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int matches(const list_ctx_t *l, const pc_binding_t *b)
{
    /* Expired but not yet swept by tick(): already gone for SIP (pcscf_binding), so here too. */
    if (b->expires_at <= l->now)
        return 0;
    if (l->prefix && !starts_with(b->impi, l->prefix) && !starts_with(b->impu, l->prefix))
        return 0;
    return !l->impu || pcscf_binding_has_identity(b, l->impu);
}

static int collect(void *ctx, const char *key, void *val)
{
    list_ctx_t *l = ctx;
    const pc_binding_t *b = val;
    if (!matches(l, b))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        const pc_binding_t **grown = realloc(l->items, cap * sizeof *grown);
        if (!grown)
            return 0;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->n++] = b;
    return 0;
}

/* The map has no order of its own; sorting by flow keeps offset/limit pages stable. */
static int by_flow(const void *a, const void *b)
{
    return strcmp((*(const pc_binding_t *const *)a)->flow, (*(const pc_binding_t *const *)b)->flow);
}

json_t *pcscf_binding_json(const pcscf_t *pc, const pc_binding_t *b, int64_t now)
{
    pc_target_t t;
    int have = pcscf_binding_target(pc, b, &t) == 0;
    return json_pack("{s:s,s:b,s:s,s:s,s:s,s:b,s:s?,s:s,s:s,s:I,s:I,s:o,s:s}", "flow", b->flow,
                     "flow_dead", b->flow_dead, "impi", b->impi, "impu", b->impu, "contact",
                     b->contact, "outbound", b->outbound, "target", have ? t.url : NULL,
                     "associated_uris", b->associated, "service_route", b->service_route, "expires",
                     (json_int_t)(b->expires_at - now), "registered_at",
                     (json_int_t)b->registered_at, "sa", pcscf_sa_sets_json(pc, b), "profile",
                     b->profile[0] ? b->profile : "default");
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

typedef struct op {
    pcscf_t *pc;
    const char *prefix, *impu;
    size_t offset, limit;
    json_t *out;
} op_t;

static void list_on_loop(void *arg)
{
    op_t *o = arg;
    list_ctx_t l = {.prefix = nonempty(o->prefix), .impu = nonempty(o->impu), .now = time(NULL)};
    strmap_sweep(o->pc->by_flow, collect, &l);
    if (l.n)
        qsort(l.items, l.n, sizeof *l.items, by_flow);
    json_t *arr = json_array();
    for (size_t i = o->offset; i < l.n && i - o->offset < o->limit; i++)
        json_array_append_new(arr, pcscf_binding_json(o->pc, l.items[i], l.now));
    free(l.items);
    o->out = json_pack("{s:I,s:I,s:o}", "total", (json_int_t)l.n, "offset", (json_int_t)o->offset,
                       "registrations", arr);
}

/* GET /api/v1/registrations[?prefix=&impu=&offset=&limit=], paged as the scscf's list. */
static void list_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    op_t o = {.pc = ctx, .prefix = api_query(req, "prefix"), .impu = api_query(req, "impu")};
    if (api_query_size(req, "offset", 0, API_MAX_OFFSET, &o.offset, resp) < 0 ||
        api_query_size(req, "limit", 100, 1000, &o.limit, resp) < 0)
        return;
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
    if (!pc->by_flow || !pc->by_token || !pc->tick || pc_flows_conn_init(pc) < 0 ||
        su_timer_run(pc->tick, tick, (su_timer_arg_t *)pc) < 0)
        return -1;
    return api_route(pc->p->api, "GET", "/api/v1/registrations", 0, list_route, pc);
}

void pcscf_flows_fini(pcscf_t *pc)
{
    if (pc->tick)
        su_timer_destroy(pc->tick);
    pc_flows_conn_fini(pc);
    strmap_free(pc->by_token, NULL);
    strmap_free(pc->by_flow, free);
}
