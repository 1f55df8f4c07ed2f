#include "cscf/scscf/registration/regevent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#include "common/util/log.h"
#include "common/sip/reginfo.h"
#include "common/sip/sip_dialog.h"
#include "common/util/strmap.h"
#include "cscf/scscf/core/context.h"

#define LOOP_MS 1000

/* One subscription (a dialog). It leaves the maps when it ends but lives on until the NOTIFYs
 * it sent are answered, so their callbacks never see freed memory. */
typedef struct sub {
    struct sub *next_all, **prev_all; /* every sub, ended ones too (for teardown) */
    struct sub *next_reg;             /* live subs of the same registration */
    regevent_t *re;
    sip_dialog_t *dlg;
    char key[600]; /* Call-ID, local tag, remote tag */
    char call_id[256], local_tag[64], remote_tag[128];
    char impi[256], impu[256], subscriber[256];
    uint32_t version; /* of the next reginfo document */
    int64_t expires_at;
    int inflight; /* NOTIFYs not answered yet */
    int ended;
} sub_t;

/* A NOTIFY in flight. */
typedef struct notify {
    struct notify *next, **prev;
    sub_t *sub;
    sip_out_t *out;
} notify_t;

struct regevent {
    scscf_t *s;
    strmap_t *by_dialog, *by_impi; /* key -> sub; impi -> first live sub */
    sub_t *all;
    notify_t *notifies;
    size_t max_total;
    char contact[300];
    su_timer_t *tick;
    metric_t *m_subs, *m_notify;
};

/* ---- bookkeeping ---- */

static void publish(regevent_t *re)
{
    metric_set(re->m_subs, NULL, (double)strmap_size(re->by_dialog));
}

static void sub_free(sub_t *u)
{
    *u->prev_all = u->next_all;
    if (u->next_all)
        u->next_all->prev_all = u->prev_all;
    sip_dialog_destroy(u->dlg);
    free(u);
}

static size_t reg_count(regevent_t *re, const char *impi)
{
    size_t n = 0;
    for (sub_t *u = strmap_get(re->by_impi, impi); u; u = u->next_reg)
        n++;
    return n;
}

static void unlink_reg(regevent_t *re, sub_t *u)
{
    sub_t *head = strmap_get(re->by_impi, u->impi);
    if (head == u) {
        if (u->next_reg)
            strmap_put(re->by_impi, u->impi, u->next_reg, NULL);
        else
            strmap_take(re->by_impi, u->impi);
        return;
    }
    for (sub_t *p = head; p; p = p->next_reg)
        if (p->next_reg == u) {
            p->next_reg = u->next_reg;
            return;
        }
}

/* Out of the maps; the dialog goes too (nothing more is sent in it). */
static void sub_forget(sub_t *u)
{
    if (u->ended)
        return;
    u->ended = 1;
    strmap_take(u->re->by_dialog, u->key);
    unlink_reg(u->re, u);
    sip_dialog_destroy(u->dlg);
    u->dlg = NULL;
    publish(u->re);
    if (!u->inflight)
        sub_free(u);
}

/* ---- NOTIFY ---- */

static const char *outcome(int status, const sip_t *sip)
{
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "6xx"};
    if (!sip)
        return "timeout"; /* nta's own 408: no answer */
    return status >= 100 && status < 700 ? classes[status / 100 - 1] : "other";
}

/* The NOTIFY was answered (the wrapper drops the request) or cancelled. */
static void notify_done(notify_t *n)
{
    *n->prev = n->next;
    if (n->next)
        n->next->prev = n->prev;
    sub_t *u = n->sub;
    free(n);
    if (--u->inflight == 0 && u->ended)
        sub_free(u);
}

static void on_notify_answer(void *arg, int status, sip_t const *sip)
{
    notify_t *n = arg;
    sub_t *u = n->sub;
    metric_inc(u->re->m_notify, outcome(status, sip));
    /* RFC 6665 4.2.2: the subscriber no longer knows the dialog (481) or cannot be reached. */
    if (!u->ended && (!sip || status == 408 || status == 481)) {
        log_info("regevent: %s: NOTIFY to %s got %d; subscription dropped", u->impu, u->subscriber,
                 status);
        sub_forget(u);
    }
    notify_done(n);
}

/* substate: "active;expires=N" or "terminated;reason=R". */
static int send_notify(sub_t *u, const char *substate, const char *body)
{
    regevent_t *re = u->re;
    notify_t *n = calloc(1, sizeof *n);
    if (!n || !u->dlg) {
        free(n);
        return -1;
    }
    n->sub = u;
    sip_dialog_headers_t h = {.event = "reg",
                              .subscription_state = substate,
                              .contact = re->contact,
                              .content_type = REGINFO_CONTENT_TYPE,
                              .body = body};
    n->out = sip_dialog_send(u->dlg, "NOTIFY", &h, on_notify_answer, n);
    if (!n->out) {
        free(n);
        log_warn("regevent: %s: cannot send NOTIFY to %s", u->impu, u->subscriber);
        return -1;
    }
    n->next = re->notifies;
    if (n->next)
        n->next->prev = &n->next;
    n->prev = &re->notifies;
    re->notifies = n;
    u->inflight++;
    return 0;
}

static void notify_active(sub_t *u, const char *body)
{
    char st[64];
    long left = (long)(u->expires_at - time(NULL));
    snprintf(st, sizeof st, "active;expires=%ld", left > 0 ? left : 0);
    if (send_notify(u, st, body) < 0)
        sub_forget(u);
}

/* The last NOTIFY (RFC 6665 4.2.2), then the subscription goes. reason NULL: none given. */
static void sub_end(sub_t *u, const char *reason, const char *body)
{
    char st[64];
    snprintf(st, sizeof st, "terminated%s%s", reason ? ";reason=" : "", reason ? reason : "");
    send_notify(u, st, body);
    sub_forget(u);
}

static char *full_state(sub_t *u, const store_reg_t *reg)
{
    return reginfo_build(reg, u->version++, 1, NULL, 0, time(NULL));
}

/* ---- SUBSCRIBE ---- */

/* One SUBSCRIBE waiting for the store. */
typedef struct pending {
    regevent_t *re;
    sip_incoming_t *irq;
    msg_t *msg; /* keeps sip valid */
    sip_t const *sip;
    char impu[256];
    char key[600]; /* in-dialog: the subscription's key */
    long asked;
} pending_t;

/* We kept the transaction: ours to release once answered. */
static void pending_done(pending_t *pd)
{
    sip_incoming_release(pd->irq, pd->msg);
    free(pd);
}

/* h: headers besides the usual ones, or NULL. */
static void pending_reply(pending_t *pd, int status, const char *phrase,
                          const sip_dialog_headers_t *h)
{
    sip_request_answer(pd->re->s->p->sip, pd->irq, status, phrase, h);
    pending_done(pd);
}

static void dialog_key(char *out, size_t len, const char *call_id, const char *local,
                       const char *remote)
{
    snprintf(out, len, "%s\n%s\n%s", call_id, local ? local : "", remote ? remote : "");
}

static long longest_contact(const store_reg_t *reg, int64_t now)
{
    long best = 0;
    for (size_t i = 0; i < reg->ncontacts; i++)
        if (reg->contacts[i].expires_at - now > best)
            best = (long)(reg->contacts[i].expires_at - now);
    return best;
}

static int is_impu_of(const store_reg_t *reg, const char *id)
{
    for (size_t i = 0; i < reg->nimpus; i++)
        if (strcmp(reg->impus[i], id) == 0)
            return 1;
    return 0;
}

static int same_hostport(const url_t *a, const url_t *b)
{
    return a->url_host && b->url_host && strcasecmp(a->url_host, b->url_host) == 0 &&
           strcmp(url_port(a), url_port(b)) == 0;
}

/* The P-CSCF that registered the UE: its host[:port] is on a Path the REGISTER carried. */
static int is_registering_proxy(su_home_t *home, const store_reg_t *reg, const url_t *who)
{
    for (size_t i = 0; i < reg->ncontacts; i++) {
        if (!reg->contacts[i].path)
            continue;
        for (sip_path_t *p = sip_path_make(home, reg->contacts[i].path); p; p = p->r_next)
            if (same_hostport(p->r_url, who))
                return 1;
    }
    return 0;
}

static const char *unknown_header(sip_t const *sip, const char *name)
{
    for (sip_unknown_t *u = sip->sip_unknown; u; u = u->un_next)
        if (u->un_name && strcasecmp(u->un_name, name) == 0)
            return u->un_value;
    return NULL;
}

/* TS 24.229 5.4.2.1.1: the UE itself (an IMPU of the set, asserted by its P-CSCF, else in
 * From) or the P-CSCF on its Path. Fills who with the identity checked. */
static int authorised(pending_t *pd, const store_reg_t *reg, char *who, size_t len)
{
    su_home_t *home = msg_home(pd->msg);
    const char *pai = unknown_header(pd->sip, "P-Asserted-Identity");
    sip_from_t *id = pai ? sip_from_make(home, pai) : NULL;
    const url_t *u = id ? id->a_url : pd->sip->sip_from->a_url;
    if (sip_impu_of(u, who, len) == 0 && is_impu_of(reg, who))
        return 1;
    if (!is_registering_proxy(home, reg, u))
        return 0;
    snprintf(who, len, "%s%s%s", u->url_host, u->url_port ? ":" : "",
             u->url_port ? u->url_port : "");
    return 1;
}

static int on_dialog_request(void *arg, sip_dialog_t *d, sip_incoming_t *irq, sip_t const *sip)
{
    sub_t *u = arg;
    /* Only SUBSCRIBE (a refresh) belongs in this dialog; see regevent.h for how it arrives. */
    if (sip->sip_request->rq_method != sip_method_subscribe || !sip->sip_event ||
        !sip->sip_event->o_type || strcmp(sip->sip_event->o_type, "reg") != 0)
        return 405;
    return regevent_on_subscribe(u->re->s, irq, sip);
}

static sub_t *sub_new(pending_t *pd, const store_reg_t *reg, const char *who)
{
    regevent_t *re = pd->re;
    sip_t const *sip = pd->sip;
    sub_t *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->re = re;
    u->dlg = sip_dialog_uas(re->s->p->sip, sip, on_dialog_request, u);
    if (!u->dlg) {
        free(u);
        return NULL;
    }
    const char *tag = sip_dialog_local_tag(u->dlg);
    snprintf(u->call_id, sizeof u->call_id, "%s", sip->sip_call_id->i_id);
    snprintf(u->local_tag, sizeof u->local_tag, "%s", tag);
    snprintf(u->remote_tag, sizeof u->remote_tag, "%s", sip->sip_from->a_tag);
    dialog_key(u->key, sizeof u->key, u->call_id, u->local_tag, u->remote_tag);
    snprintf(u->impi, sizeof u->impi, "%s", reg->impi);
    snprintf(u->impu, sizeof u->impu, "%s", pd->impu);
    snprintf(u->subscriber, sizeof u->subscriber, "%s", who);
    u->next_reg = strmap_get(re->by_impi, reg->impi);
    if (strmap_put(re->by_dialog, u->key, u, NULL) < 0 ||
        strmap_put(re->by_impi, u->impi, u, NULL) < 0) {
        strmap_take(re->by_dialog, u->key);
        sip_dialog_destroy(u->dlg);
        free(u);
        return NULL;
    }
    u->next_all = re->all;
    if (u->next_all)
        u->next_all->prev_all = &u->next_all;
    u->prev_all = &re->all;
    re->all = u;
    publish(re);
    return u;
}

/* 200 with Expires and Contact, then the full state (RFC 6665 4.2.1.1, 4.2.1.2). */
static void accept_sub(pending_t *pd, sub_t *u, const store_reg_t *reg)
{
    int64_t now = time(NULL);
    long granted = pd->asked < longest_contact(reg, now) ? pd->asked : longest_contact(reg, now);
    char exp[24];
    snprintf(exp, sizeof exp, "%ld", granted);
    u->expires_at = now + granted;
    long pd_asked = pd->asked;
    sip_dialog_headers_t h = {.expires = exp, .contact = pd->re->contact};
    sip_dialog_answer(u->dlg, pd->irq, SIP_200_OK, &h);
    pending_done(pd);
    char *body = full_state(u, reg);
    if (granted == 0) /* unsubscribe (no reason to give), or nothing left to watch */
        sub_end(u, pd_asked == 0 ? NULL : "timeout", body);
    else
        notify_active(u, body);
    free(body);
}

static void new_sub(pending_t *pd, const store_reg_t *reg)
{
    regevent_t *re = pd->re;
    char who[256] = "";
    if (!authorised(pd, reg, who, sizeof who)) {
        log_info("regevent: %s: SUBSCRIBE from %s refused (neither the UE nor its P-CSCF)",
                 pd->impu, who);
        pending_reply(pd, SIP_403_FORBIDDEN, NULL);
        return;
    }
    if (strmap_size(re->by_dialog) >= re->max_total) {
        pending_reply(pd, SIP_503_SERVICE_UNAVAILABLE,
                      &(sip_dialog_headers_t){.retry_after = "60"});
        return;
    }
    if (reg_count(re, reg->impi) >= REGEVENT_MAX_PER_REG) {
        pending_reply(pd, 403, "Too Many Subscriptions", NULL);
        return;
    }
    sub_t *u = sub_new(pd, reg, who);
    if (!u) {
        pending_reply(pd, SIP_500_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    log_info("regevent: %s: %s subscribed", u->impu, u->subscriber);
    accept_sub(pd, u, reg);
}

static void on_found(void *arg, int rc, store_reg_t *reg)
{
    pending_t *pd = arg;
    sub_t *u = *pd->key ? strmap_get(pd->re->by_dialog, pd->key) : NULL;
    if (rc < 0)
        pending_reply(pd, 500, "Store Unavailable", NULL);
    else if (*pd->key && (!u || rc != 0))
        pending_reply(pd, SIP_481_NO_TRANSACTION, NULL);
    else if (rc != 0)
        /* The S-CSCF knows only registered identities: one of our domain may exist but be
         * unregistered (480); any other is not ours (404). */
        pending_reply(pd,
                      strchr(pd->impu, '@') &&
                              strcasecmp(strchr(pd->impu, '@') + 1,
                                         sip_core_config(pd->re->s->p->sip)->domain) != 0
                          ? 404
                          : 480,
                      NULL, NULL);
    else if (u)
        accept_sub(pd, u, reg);
    else
        new_sub(pd, reg);
    store_reg_free(reg);
}

static int accepts_reginfo(sip_t const *sip)
{
    if (!sip->sip_accept)
        return 1;
    for (const sip_accept_t *a = sip->sip_accept; a; a = a->ac_next)
        if (a->ac_type &&
            (strcasecmp(a->ac_type, REGINFO_CONTENT_TYPE) == 0 ||
             strcasecmp(a->ac_type, "application/*") == 0 || strcasecmp(a->ac_type, "*/*") == 0))
            return 1;
    return 0;
}

static int check_subscribe(scscf_t *s, sip_incoming_t *irq, sip_t const *sip)
{
    sip_core_t *core = s->p->sip;
    if (!sip->sip_from || !sip->sip_from->a_tag || !sip->sip_to || !sip->sip_call_id ||
        !sip->sip_contact || strlen(sip->sip_call_id->i_id) >= 256 ||
        strlen(sip->sip_from->a_tag) >= 128 ||
        (sip->sip_to->a_tag && strlen(sip->sip_to->a_tag) >= 64))
        return sip_request_answer(core, irq, 400, "Bad SUBSCRIBE", NULL), 400;
    if (!accepts_reginfo(sip))
        return sip_request_answer(core, irq, SIP_406_NOT_ACCEPTABLE,
                                  &(sip_dialog_headers_t){.accept = REGINFO_CONTENT_TYPE}),
               406;
    return 0;
}

int regevent_on_subscribe(scscf_t *s, sip_incoming_t *irq, sip_t const *sip)
{
    regevent_t *re = s->regevent;
    int st = check_subscribe(s, irq, sip);
    if (st)
        return st;
    pending_t *pd = calloc(1, sizeof *pd);
    if (!pd)
        return 500;
    *pd = (pending_t){.re = re, .irq = irq, .msg = sip_incoming_request(irq), .sip = sip};
    pd->asked = sip->sip_expires ? (long)sip->sip_expires->ex_delta : REGEVENT_DEFAULT_EXPIRES;
    if (sip->sip_to->a_tag) {
        dialog_key(pd->key, sizeof pd->key, sip->sip_call_id->i_id, sip->sip_to->a_tag,
                   sip->sip_from->a_tag);
        sub_t *u = strmap_get(re->by_dialog, pd->key);
        if (!u) {
            pending_reply(pd, SIP_481_NO_TRANSACTION, NULL);
            return 0;
        }
        snprintf(pd->impu, sizeof pd->impu, "%s", u->impu);
    } else if (sip_impu_of(sip->sip_request->rq_url, pd->impu, sizeof pd->impu) < 0) {
        pending_reply(pd, SIP_404_NOT_FOUND, NULL);
        return 0;
    }
    store_get(s->store, pd->impu, on_found, pd);
    return 0;
}

/* ---- changes ---- */

static const store_contact_t *find(const store_reg_t *r, const store_contact_t *c)
{
    for (size_t i = 0; r && i < r->ncontacts; i++) {
        const store_contact_t *x = &r->contacts[i];
        if (strcmp(x->uri, c->uri) == 0 &&
            ((!x->instance && !c->instance) ||
             (x->instance && c->instance && strcmp(x->instance, c->instance) == 0)))
            return x;
    }
    return NULL;
}

static const char *gone_event(regevent_cause_t cause)
{
    switch (cause) {
    case REGEVENT_REGISTER:
        return "unregistered";
    case REGEVENT_EXPIRY:
        return "expired";
    case REGEVENT_RTR_PERMANENT:
        return "rejected";
    default:
        return "deactivated";
    }
}

static const char *end_reason(regevent_cause_t cause)
{
    switch (cause) {
    case REGEVENT_REGISTER:
        return "noresource";
    case REGEVENT_EXPIRY:
        return "timeout";
    case REGEVENT_RTR_PERMANENT:
        return "rejected";
    default:
        return "deactivated";
    }
}

/* A REGISTER renewed the contact within the same second: a new CSeq or Call-ID. */
static int refreshed(const store_contact_t *c, const store_contact_t *old)
{
    return c->cseq != old->cseq || !c->call_id != !old->call_id ||
           (c->call_id && strcmp(c->call_id, old->call_id) != 0);
}

/* What changed, contact by contact (RFC 3680 5.3 events). */
static size_t diff(const store_reg_t *before, const store_reg_t *after, regevent_cause_t cause,
                   reginfo_change_t *out)
{
    size_t n = 0;
    for (size_t i = 0; after && i < after->ncontacts; i++) {
        const store_contact_t *c = &after->contacts[i], *old = find(before, c);
        if (!old)
            out[n++] = (reginfo_change_t){c, "registered"};
        else if (c->expires_at < old->expires_at)
            out[n++] = (reginfo_change_t){c, "shortened"};
        else if (c->expires_at > old->expires_at || refreshed(c, old))
            out[n++] = (reginfo_change_t){c, "refreshed"};
    }
    for (size_t i = 0; before && i < before->ncontacts; i++)
        if (!find(after, &before->contacts[i]))
            out[n++] = (reginfo_change_t){&before->contacts[i], gone_event(cause)};
    return n;
}

static int same_list(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

/* A PPR (or a SAR answer) changed the implicit set or its barring while the contacts stayed. */
static int identities_changed(const store_reg_t *before, const store_reg_t *after)
{
    return before && after &&
           (!same_list(before->impus, before->nimpus, after->impus, after->nimpus) ||
            !same_list(before->barred, before->nbarred, after->barred, after->nbarred));
}

int regevent_watched(const scscf_t *s, const char *impi)
{
    return s->regevent && impi && strmap_get(s->regevent->by_impi, impi) != NULL;
}

void regevent_changed(scscf_t *s, const store_reg_t *before, const store_reg_t *after,
                      regevent_cause_t cause)
{
    const store_reg_t *any = after ? after : before;
    if (!any || !regevent_watched(s, any->impi))
        return;
    size_t max = (before ? before->ncontacts : 0) + (after ? after->ncontacts : 0);
    reginfo_change_t *ch = calloc(max ? max : 1, sizeof *ch);
    if (!ch)
        return;
    size_t n = diff(before, after, cause, ch);
    int ended = !after || after->ncontacts == 0;
    store_reg_t view = *any; /* the identities to report; no contacts when it ended */
    if (ended) {
        view.contacts = NULL;
        view.ncontacts = 0;
    }
    sub_t *u = strmap_get(s->regevent->by_impi, any->impi);
    if (!n && !ended && identities_changed(before, after)) {
        /* RFC 3680 has no contact event for an IMPU that joins the set or is barred, so
         * subscribers get the full state again (barred IMPUs left out, as in every document). */
        for (sub_t *next; u; u = next) {
            next = u->next_reg; /* notify_active() may forget u */
            char *body = full_state(u, after);
            notify_active(u, body);
            free(body);
        }
        free(ch);
        return;
    }
    while (u && (n || ended)) {
        sub_t *next = u->next_reg; /* sub_end() unlinks u */
        char *body = reginfo_build(&view, u->version++, 0, ch, n, time(NULL));
        if (ended)
            sub_end(u, end_reason(cause), body);
        else
            notify_active(u, body);
        free(body);
        u = next;
    }
    free(ch);
}

/* ---- expiry ---- */

static void tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    regevent_t *re = (regevent_t *)arg;
    int64_t now = time(NULL);
    for (sub_t *u = re->all, *next; u; u = next) {
        next = u->next_all;
        if (!u->ended && u->expires_at <= now) {
            log_info("regevent: %s: subscription of %s expired", u->impu, u->subscriber);
            sub_end(u, "timeout", NULL);
        }
    }
}

/* ---- REST ---- */

typedef struct op {
    regevent_t *re;
    size_t limit;
    json_t *out;
} op_t;

static json_t *sub_json(const sub_t *u, int64_t now)
{
    return json_pack("{s:s,s:s,s:s,s:I,s:I,s:{s:s,s:s,s:s}}", "impu", u->impu, "impi", u->impi,
                     "subscriber", u->subscriber, "expires", (json_int_t)(u->expires_at - now),
                     "version", (json_int_t)u->version, "dialog", "call_id", u->call_id,
                     "local_tag", u->local_tag, "remote_tag", u->remote_tag);
}

static void list_on_loop(void *arg)
{
    op_t *o = arg;
    json_t *a = json_array();
    int64_t now = time(NULL);
    size_t n = 0;
    for (const sub_t *u = o->re->all; u && n < o->limit; u = u->next_all)
        if (!u->ended && json_array_append_new(a, sub_json(u, now)) == 0)
            n++;
    o->out = json_pack("{s:I,s:o}", "total", (json_int_t)strmap_size(o->re->by_dialog),
                       "subscriptions", a);
}

static void list_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    const char *v = api_query(req, "limit");
    op_t o = {.re = ctx, .limit = v && atol(v) > 0 && atol(v) < 10000 ? (size_t)atol(v) : 1000};
    if (loopq_call(o.re->s->p->queue, list_on_loop, &o, LOOP_MS) < 0 || !o.out) {
        json_decref(o.out);
        api_problem(resp, 503, "Service Unavailable", "the loop did not answer within 1 s");
        return;
    }
    api_json(resp, 200, o.out);
}

/* ---- set-up ---- */

int regevent_init(scscf_t *s)
{
    regevent_t *re = calloc(1, sizeof *re);
    if (!re)
        return -1;
    s->regevent = re;
    re->s = s;
    re->max_total = 2 * (size_t)cfg_int(s->p->cfg, "registrar.max_registrations");
    const url_t *self = sip_core_self_url(s->p->sip);
    snprintf(re->contact, sizeof re->contact, "<sip:%s%s%s>", self->url_host,
             self->url_port ? ":" : "", self->url_port ? self->url_port : "");
    re->by_dialog = strmap_new();
    re->by_impi = strmap_new();
    re->m_subs = metrics_gauge(s->p->metrics, "cscf_regevent_subscriptions",
                               "reg event subscriptions held (RFC 3680)", NULL);
    re->m_notify = metrics_counter(s->p->metrics, "cscf_regevent_notify_total",
                                   "reg event NOTIFYs sent, by outcome (response class, or "
                                   "timeout)",
                                   "outcome");
    re->tick = su_timer_create(su_root_task(s->p->root), 1000);
    if (!re->by_dialog || !re->by_impi || !re->tick ||
        su_timer_run(re->tick, tick, (su_timer_arg_t *)re) < 0)
        return -1;
    return api_route(s->p->api, "GET", "/api/v1/subscriptions", 0, list_route, re);
}

void regevent_fini(scscf_t *s)
{
    regevent_t *re = s->regevent;
    if (!re)
        return;
    if (re->tick)
        su_timer_destroy(re->tick);
    while (re->notifies) {
        notify_t *n = re->notifies;
        n->sub->ended = 1; /* freed below, not by notify_done */
        sip_out_cancel(n->out);
        notify_done(n);
    }
    while (re->all)
        sub_free(re->all);
    strmap_free(re->by_dialog, NULL);
    strmap_free(re->by_impi, NULL);
    free(re);
    s->regevent = NULL;
}
