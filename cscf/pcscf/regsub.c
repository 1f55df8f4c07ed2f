#include "cscf/pcscf/regsub.h"
#include "cscf/pcscf/pcscf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#include "common/ops/limits.h"
#include "common/util/log.h"
#include "common/sip/reginfo.h"
#include "common/sip/sip_dialog.h"

#define RETRY_SECONDS 30 /* after a refused or lost subscription, while the UE is registered */
/* After the 200 to an un-SUBSCRIBE, how long the dialog waits for the notifier's last NOTIFY */
#define ENDING_SECONDS 32

typedef enum { SUB_IDLE, SUB_PENDING, SUB_ACTIVE, SUB_ENDING } sub_state_t;

static const char *const state_names[] = {"idle", "pending", "active", "ending"};

/* One subscription per IMPU; it stays while bindings refer to it (refs) or an un-SUBSCRIBE is
 * in flight. */
typedef struct sub {
    struct regsub_ctx *rs;
    char impu[256];
    int refs;
    sub_state_t state;
    sip_dialog_t *dlg;
    sip_out_t *out; /* the SUBSCRIBE in flight */
    int64_t expires_at, refresh_at, retry_at;
    long version;  /* of the last reginfo document, -1 before the first */
    int in_notify; /* do not free: its NOTIFY is being handled */
} sub_t;

struct regsub_ctx {
    pcscf_t *pc;
    strmap_t *subs; /* impu -> sub */
    char from[300], contact[300];
    su_timer_t *tick;
    metric_t *m_subs;
};

static void sub_free(sub_t *u)
{
    sip_out_cancel(u->out);
    sip_dialog_destroy(u->dlg);
    free(u);
}

static void publish(struct regsub_ctx *rs)
{
    metric_set(rs->m_subs, NULL, (double)strmap_size(rs->subs));
    cap_update(rs->pc->cap_regsubs, strmap_size(rs->subs));
}

/* Forget the dialog; free the subscription when nothing holds it. */
static void sub_reset(sub_t *u, int64_t retry_at)
{
    sip_out_cancel(u->out);
    sip_dialog_destroy(u->dlg);
    u->out = NULL;
    u->dlg = NULL;
    u->state = SUB_IDLE;
    u->version = -1;
    u->retry_at = retry_at;
    if (u->refs == 0 && !u->in_notify) {
        struct regsub_ctx *rs = u->rs;
        strmap_take(rs->subs, u->impu);
        sub_free(u);
        publish(rs);
    }
}

static void on_answer(void *arg, int status, sip_t const *sip);
static int on_notify(void *arg, sip_dialog_t *d, sip_incoming_t *irq, sip_t const *sip);

/* A new dialog: From and Contact us, To the IMPU, sent to the registrar (RFC 3680 3.1). */
static int new_dialog(sub_t *u)
{
    struct regsub_ctx *rs = u->rs;
    char to[300];
    snprintf(to, sizeof to, "<%s>", u->impu);
    u->dlg = sip_dialog_uac(rs->pc->p->sip, rs->from, to, u->impu, rs->pc->registrar, on_notify, u);
    return u->dlg ? 0 : -1;
}

/* Initial (no dialog yet: to the registrar, Request-URI the IMPU), refresh or un-SUBSCRIBE
 * (within the dialog: its route set and target). */
static int send_subscribe(sub_t *u, long expires)
{
    struct regsub_ctx *rs = u->rs;
    char exp[24];
    if (!u->dlg && new_dialog(u) < 0)
        return -1;
    snprintf(exp, sizeof exp, "%ld", expires);
    sip_dialog_headers_t h = {
        .event = "reg", .accept = REGINFO_CONTENT_TYPE, .expires = exp, .contact = rs->contact};
    u->out = sip_dialog_send(u->dlg, "SUBSCRIBE", &h, on_answer, u);
    if (!u->out) {
        log_warn("regsub: %s: cannot send SUBSCRIBE", u->impu);
        return -1;
    }
    if (u->state == SUB_IDLE)
        u->state = SUB_PENDING;
    return 0;
}

static void start(sub_t *u)
{
    if (send_subscribe(u, REGSUB_EXPIRES) < 0)
        sub_reset(u, time(NULL) + RETRY_SECONDS);
}

/* 2xx (the dialog took its route set and remote tag, RFC 6665 4.1.2.1): when to refresh. */
static void subscribed(sub_t *u, sip_t const *sip)
{
    int64_t now = time(NULL);
    long exp = sip->sip_expires ? (long)sip->sip_expires->ex_delta : REGSUB_EXPIRES;
    if (exp <= 0) {
        sub_reset(u, now + RETRY_SECONDS);
        return;
    }
    u->state = SUB_ACTIVE;
    u->expires_at = now + exp;
    u->refresh_at = now + (exp > 1200 ? exp - 600 : exp / 2);
}

static void on_answer(void *arg, int status, sip_t const *sip)
{
    sub_t *u = arg;
    u->out = NULL; /* the wrapper destroys it after this */
    if (u->state == SUB_ENDING) {
        int again = u->refs > 0; /* the UE registered again meanwhile */
        if (!again && status < 300 && u->dlg) {
            /* RFC 6665 4.1.2.3: the notifier's last NOTIFY (terminated) follows the 200; the
             * dialog waits for it, so it gets a 200 rather than a 481 (due() ends the wait). */
            u->expires_at = time(NULL) + ENDING_SECONDS;
            return;
        }
        sub_reset(u, 0); /* frees u when nothing holds it: read refs before */
        if (again)
            start(u);
    } else if (status < 300) {
        subscribed(u, sip);
    } else {
        log_info("regsub: %s: SUBSCRIBE got %d", u->impu, status);
        sub_reset(u, time(NULL) + RETRY_SECONDS);
    }
}

/* ---- NOTIFY ---- */

static void apply(struct regsub_ctx *rs, const reginfo_t *ri)
{
    for (size_t i = 0; i < ri->nregs; i++) {
        const reginfo_reg_t *r = &ri->regs[i];
        if (strcmp(r->state, "terminated") == 0)
            pcscf_bindings_drop(rs->pc, r->aor, NULL);
        for (size_t j = 0; j < r->ncontacts; j++)
            if (strcmp(r->contacts[j].state, "terminated") == 0)
                pcscf_bindings_drop(rs->pc, NULL, r->contacts[j].uri);
    }
}

/* ended: the NOTIFY ends the subscription. Its document is then taken whatever its version: it
 * is the dialog's last (no later document can be overtaken by it), and a notifier that lost its
 * counter (a store restored from an old copy) must still be able to take the bindings away. */
static void take_body(sub_t *u, sip_t const *sip, int ended)
{
    reginfo_t ri;
    if (!sip->sip_payload || !sip->sip_content_type || !sip->sip_content_type->c_type ||
        strcasecmp(sip->sip_content_type->c_type, REGINFO_CONTENT_TYPE) != 0)
        return;
    if (reginfo_parse(sip->sip_payload->pl_data, sip->sip_payload->pl_len, &ri) < 0) {
        log_warn("regsub: %s: unreadable reginfo in NOTIFY", u->impu);
        return;
    }
    /* RFC 3680 4.4: a version older than one seen is a reordered or replayed document. */
    if ((long)ri.version > u->version || ri.full || ended) {
        u->version = ri.version;
        apply(u->rs, &ri);
    }
    reginfo_clear(&ri);
}

/* RFC 6665 4.1.3: after these the subscription may be tried again. */
static int may_retry(const sip_subscription_state_t *ss)
{
    const char *r = ss->ss_reason;
    return !r || strcasecmp(r, "deactivated") == 0 || strcasecmp(r, "timeout") == 0 ||
           strcasecmp(r, "probation") == 0 || strcasecmp(r, "giveup") == 0;
}

/* The dialog took the remote tag from the NOTIFY when it beat the 200. */
static int on_notify(void *arg, sip_dialog_t *d, sip_incoming_t *irq, sip_t const *sip)
{
    sub_t *u = arg;
    sip_core_t *core = u->rs->pc->p->sip;
    if (sip->sip_request->rq_method != sip_method_notify)
        return 405;
    if (!sip->sip_event || !sip->sip_event->o_type || strcmp(sip->sip_event->o_type, "reg") != 0)
        return sip_request_answer(core, irq, 489, "Bad Event", NULL), 489;
    const sip_subscription_state_t *ss = sip->sip_subscription_state;
    if (!ss || !ss->ss_substate)
        return sip_request_answer(core, irq, 400, "No Subscription-State", NULL), 400;
    sip_request_answer(core, irq, SIP_200_OK, NULL);
    int ended = strcasecmp(ss->ss_substate, "terminated") == 0;
    u->in_notify = 1;
    take_body(u, sip, ended);
    u->in_notify = 0;
    if (ended) {
        /* the last NOTIFY after our un-SUBSCRIBE, or the notifier ending it */
        int ending = u->state == SUB_ENDING, again = u->refs > 0;
        if (ending)
            log_debug("regsub: %s: subscription ended", u->impu);
        else
            log_info("regsub: %s: subscription terminated (%s)", u->impu,
                     ss->ss_reason ? ss->ss_reason : "no reason");
        sub_reset(u, ending          ? 0 /* frees u when nothing holds it */
                     : may_retry(ss) ? time(NULL) + RETRY_SECONDS
                                     : INT64_MAX);
        if (ending && again) /* the UE registered again while it ended: anew */
            start(u);
    } else if (u->refs == 0 && u->state == SUB_ACTIVE) {
        /* its last binding went while the NOTIFY was handled */
        u->state = SUB_ENDING;
        if (send_subscribe(u, 0) < 0)
            sub_reset(u, 0);
    } else if (u->refs == 0 && u->state != SUB_ENDING) {
        sub_reset(u, 0);
    }
    return 200;
}

int regsub_stray_notify(pcscf_t *pc, sip_incoming_t *irq, sip_t const *sip)
{
    const url_t *ru = sip->sip_request->rq_url;
    if (!sip->sip_event || !sip->sip_event->o_type || strcmp(sip->sip_event->o_type, "reg") ||
        !ru->url_user || strcmp(ru->url_user, "pcscf") != 0 || !sip_core_is_self(pc->p->sip, ru))
        return 0;
    sip_request_answer(pc->p->sip, irq, SIP_481_NO_TRANSACTION, NULL);
    return 481;
}

/* ---- bindings ---- */

void regsub_ref(pcscf_t *pc, const char *impu)
{
    struct regsub_ctx *rs = pc->regsub;
    if (!rs || !impu || !*impu)
        return;
    sub_t *u = strmap_get(rs->subs, impu);
    if (!u) {
        /* limits.reg_subscriptions: the binding stays, without a reg event subscription */
        if (!cap_admit(pc->cap_regsubs, strmap_size(rs->subs)) || !(u = calloc(1, sizeof *u)))
            return;
        u->rs = rs;
        u->version = -1;
        snprintf(u->impu, sizeof u->impu, "%s", impu);
        if (strmap_put(rs->subs, impu, u, NULL) < 0) {
            free(u);
            return;
        }
        publish(rs);
    }
    if (u->refs++ == 0 && u->state == SUB_IDLE)
        start(u);
}

void regsub_unref(pcscf_t *pc, const char *impu)
{
    struct regsub_ctx *rs = pc->regsub;
    sub_t *u = rs && impu ? strmap_get(rs->subs, impu) : NULL;
    if (!u || u->refs == 0 || --u->refs > 0 || u->in_notify)
        return;
    if (u->state == SUB_ACTIVE) {
        u->state = SUB_ENDING; /* RFC 6665 4.1.2.3: Expires 0 */
        if (send_subscribe(u, 0) < 0)
            sub_reset(u, 0);
    } else if (u->state == SUB_IDLE) {
        sub_reset(u, 0);
    } else if (u->state == SUB_PENDING) {
        sub_reset(u, 0); /* the S-CSCF's NOTIFY will find no dialog: 481 ends it there */
    }
}

/* ---- timer ---- */

/* Under strmap_sweep: a subscription nothing holds is removed by returning 1, never through
 * sub_reset(), which would change the map being swept. */
static int due(void *ctx, const char *key, void *val)
{
    sub_t *u = val;
    int64_t now = *(int64_t *)ctx;
    if (u->state == SUB_ACTIVE && now >= u->refresh_at && !u->out) {
        if (send_subscribe(u, REGSUB_EXPIRES) == 0 && now < u->expires_at)
            return 0;
        if (u->refs == 0) {
            sub_free(u);
            return 1;
        }
        sub_reset(u, now); /* gone or unrefreshable: a new one at the next tick */
    } else if (u->state == SUB_IDLE && u->refs > 0 && now >= u->retry_at) {
        start(u);
    } else if (u->state == SUB_ENDING && !u->out && now >= u->expires_at) {
        if (u->refs == 0) { /* the notifier's last NOTIFY never came */
            sub_free(u);
            return 1;
        }
        sub_reset(u, 0);
        start(u);
    }
    return 0;
}

static void tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    struct regsub_ctx *rs = (struct regsub_ctx *)arg;
    int64_t now = time(NULL);
    strmap_sweep(rs->subs, due, &now);
}

/* ---- REST ---- */

typedef struct op {
    struct regsub_ctx *rs;
    json_t *out;
} op_t;

static int add_json(void *ctx, const char *key, void *val)
{
    json_t *arr = ctx;
    const sub_t *u = val;
    const char *ltag = u->dlg ? sip_dialog_local_tag(u->dlg) : NULL;
    const char *rtag = u->dlg ? sip_dialog_remote_tag(u->dlg) : NULL;
    int64_t left = u->state == SUB_ACTIVE ? u->expires_at - time(NULL) : 0;
    json_array_append_new(arr,
                          json_pack("{s:s,s:s,s:i,s:I,s:I,s:{s:s?,s:s?,s:s?}}", "impu", u->impu,
                                    "state", state_names[u->state], "bindings", u->refs, "expires",
                                    (json_int_t)left, "version", (json_int_t)u->version, "dialog",
                                    "call_id", u->dlg ? sip_dialog_call_id(u->dlg) : NULL,
                                    "local_tag", ltag, "remote_tag", rtag));
    return 0;
}

static void list_on_loop(void *arg)
{
    op_t *o = arg;
    json_t *a = json_array();
    strmap_sweep(o->rs->subs, add_json, a);
    o->out = json_pack("{s:I,s:o}", "total", (json_int_t)json_array_size(a), "subscriptions", a);
}

static void list_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    op_t o = {.rs = ctx};
    if (loopq_call(o.rs->pc->p->queue, list_on_loop, &o, 1000) < 0 || !o.out) {
        json_decref(o.out);
        api_problem(resp, 503, "Service Unavailable", "the loop did not answer within 1 s");
        return;
    }
    api_json(resp, 200, o.out);
}

/* ---- set-up ---- */

int regsub_init(pcscf_t *pc)
{
    struct regsub_ctx *rs = calloc(1, sizeof *rs);
    if (!rs)
        return -1;
    pc->regsub = rs;
    rs->pc = pc;
    const url_t *self = sip_core_self_url(pc->p->sip);
    /* The Contact names the core leg's transport as our Path does: without it the S-CSCF sends
     * every NOTIFY over UDP, each then held 32 s on both sides for retransmissions. */
    snprintf(rs->contact, sizeof rs->contact, "<sip:pcscf@%s%s%s%s>", self->url_host,
             self->url_port ? ":" : "", self->url_port ? self->url_port : "",
             pc->core_tcp ? ";transport=tcp" : "");
    snprintf(rs->from, sizeof rs->from, "%s", rs->contact);
    /* A registrar reached over TLS: our Path named the TLS listener, and From must name the same
     * host:port for the S-CSCF to take us for the UE's P-CSCF (TS 24.229 5.4.2.1.1); the
     * Contact, the dialog's target, brings its NOTIFYs back over TLS. */
    const url_t *tls = pc->core_tls ? sip_core_tls_url(pc->p->sip) : NULL;
    if (tls) {
        snprintf(rs->contact, sizeof rs->contact, "<sip:pcscf@%s:%s;transport=tls>", tls->url_host,
                 tls->url_port ? tls->url_port : "5061");
        snprintf(rs->from, sizeof rs->from, "%s", rs->contact);
    }
    rs->subs = strmap_new();
    rs->m_subs = metrics_gauge(pc->p->metrics, "cscf_regevent_subscriptions",
                               "reg event subscriptions held (RFC 3680)", NULL);
    rs->tick = su_timer_create(su_root_task(pc->p->root), 1000);
    if (!rs->subs || !rs->tick || su_timer_run(rs->tick, tick, (su_timer_arg_t *)rs) < 0)
        return -1;
    return api_route(pc->p->api, "GET", "/api/v1/subscriptions", 0, list_route, rs);
}

static void free_sub(void *val)
{
    sub_free(val);
}

void regsub_fini(pcscf_t *pc)
{
    struct regsub_ctx *rs = pc->regsub;
    if (!rs)
        return;
    if (rs->tick)
        su_timer_destroy(rs->tick);
    strmap_free(rs->subs, free_sub);
    free(rs);
    pc->regsub = NULL;
}
