/* The reg event notifier with its subscriptions in the registration's stored record
 * (store_reg_t.subs). Every decision is taken from the stored record and every change to a
 * subscription is a conditional write of that record (its rev): a new or refreshed
 * subscription is written before the 200, and each NOTIFY's CSeq and reginfo version are
 * reserved by a write before it is sent, so two replicas (or a restarted process) never send
 * the same CSeq or version in a dialog. On STORE_CONFLICT the record is read again and the change
 * applied again, at most MAX_ATTEMPTS times. Nothing of a subscription is kept in memory but
 * the work in flight: NOTIFYs go out through a sip_dialog restored from the stored state. */
#include "cscf/scscf/registration/regevent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#include "common/ops/limits.h"
#include "common/sip/reginfo.h"
#include "common/sip/sip_dialog.h"
#include "common/sip/sip_hdr.h"
#include "common/sip/trust.h"
#include "common/util/log.h"
#include "cscf/scscf/core/context.h"
#include "cscf/scscf/registration/reg_config.h"
#include "cscf/scscf/registration/reg_req.h"

#define REST_WAIT_MS 2000 /* what GET /api/v1/subscriptions waits for the store */
#define MAX_ATTEMPTS 5    /* conditional writes tried on conflicts before giving up */

/* Work waiting for the store (a SUBSCRIBE, a reservation, a removal). All of them are on the
 * module's list so regevent_fini() can orphan them: a callback that comes later (an
 * asynchronous store) then only frees its task. */
typedef struct task {
    struct task *next, **prev;
    regevent_t *re;                 /* NULL: orphaned */
    void (*orphan)(struct task *t); /* what fini must release at once (a transaction), or NULL */
} task_t;

/* Subscriptions removed by regevent_drop_expired(), told once their record is stored. */
typedef struct stash {
    struct stash *next;
    store_reg_t *reg; /* a copy of the record holding only the removed subscriptions */
} stash_t;

/* A NOTIFY whose CSeq and version are reserved, held until the one before it in the same dialog
 * is answered (a change sent in two steps, see change_put()): sent at once, the two could arrive
 * in either order over UDP, and the subscriber would refuse the lower CSeq. */
typedef struct followup {
    store_reg_t *one; /* the registration with only this subscription (its reserved counters) */
    char *body;
} followup_t;

/* A NOTIFY in flight. */
typedef struct notify {
    struct notify *next, **prev;
    regevent_t *re;
    sip_out_t *out;
    int watch;        /* the subscription lives on: a 481 or no answer removes it from the record */
    followup_t *then; /* the NOTIFY to send once this one is answered, or NULL */
    char impi[256], call_id[256], local_tag[64], remote_tag[128], impu[256], subscriber[256];
} notify_t;

struct regevent {
    scscf_t *s;
    task_t *tasks;
    notify_t *notifies;
    stash_t *stash;
    size_t count; /* subscriptions, as this process counts them (the gauge, the total bound) */
    size_t max_total;
    cap_t *cap; /* max_total, for the cscf_table_* metrics and the log line */
    char contact[300];
    char tls_contact[300]; /* our TLS listener's, "" without one */
    char tcp_contact[300]; /* ;transport=tcp */
    metric_t *m_subs, *m_notify;
};

/* ---- bookkeeping ---- */

static void task_add(regevent_t *re, task_t *t, void (*orphan)(task_t *))
{
    t->re = re;
    t->orphan = orphan;
    t->next = re->tasks;
    if (t->next)
        t->next->prev = &t->next;
    t->prev = &re->tasks;
    re->tasks = t;
}

static void task_remove(task_t *t)
{
    if (!t->prev)
        return;
    *t->prev = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = NULL;
}

static void count_add(regevent_t *re, long delta)
{
    if (delta < 0 && (size_t)-delta > re->count)
        re->count = 0; /* another replica made them */
    else
        re->count += delta;
    metric_set(re->m_subs, NULL, (double)re->count);
    cap_update(re->cap, re->count);
}

static int sub_index(const store_reg_t *r, const char *call_id, const char *local_tag,
                     const char *remote_tag)
{
    const store_sub_t *u = store_reg_find_sub((store_reg_t *)r, call_id, local_tag, remote_tag);
    return u ? (int)(u - r->subs) : -1;
}

/* Each subscription's CSeq and version move on by steps: what the NOTIFYs about to go take. */
static void reserve_all(store_reg_t *r, unsigned steps)
{
    for (size_t i = 0; i < r->nsubs; i++) {
        r->subs[i].cseq += steps;
        r->subs[i].version += steps;
    }
}

static void followup_free(followup_t *fu)
{
    if (!fu)
        return;
    store_reg_free(fu->one);
    free(fu->body);
    free(fu);
}

/* ---- NOTIFY ---- */

static const char *outcome(int status, const sip_t *sip)
{
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "6xx"};
    if (!sip)
        return "timeout"; /* nta's own 408: no answer */
    return status >= 100 && status < 700 ? classes[status / 100 - 1] : "other";
}

static void notify_unlink(notify_t *n)
{
    *n->prev = n->next;
    if (n->next)
        n->next->prev = n->prev;
}

static void forget_sub(regevent_t *re, const char *impi, const char *call_id, const char *local_tag,
                       const char *remote_tag);
static void followup_send(regevent_t *re, followup_t *fu);

static void on_notify_answer(void *arg, int status, sip_t const *sip)
{
    notify_t *n = arg;
    regevent_t *re = n->re;
    followup_t *then = n->then;
    notify_unlink(n);
    metric_inc(re->m_notify, outcome(status, sip));
    /* RFC 6665 4.2.2: the subscriber no longer knows the dialog (481) or cannot be reached. */
    int dropped = n->watch && (!sip || status == 408 || status == 481);
    if (dropped) {
        log_info("regevent: %s: NOTIFY to %s got %d; subscription dropped", n->impu, n->subscriber,
                 status);
        forget_sub(re, n->impi, n->call_id, n->local_tag, n->remote_tag);
    }
    free(n);
    if (then && !dropped)
        followup_send(re, then);
    else
        followup_free(then);
}

static int on_dialog_request(void *arg, sip_dialog_t *d, sip_incoming_t *irq, sip_t const *sip)
{
    regevent_t *re = arg;
    /* Only SUBSCRIBE (a refresh) belongs in this dialog; see regevent.h for how it arrives. */
    if (sip->sip_request->rq_method != sip_method_subscribe || !sip->sip_event ||
        !sip->sip_event->o_type || strcmp(sip->sip_event->o_type, "reg") != 0)
        return 405;
    return regevent_on_subscribe(re->s, irq, sip);
}

/* Does this URI (the first of a list) carry ;transport=NAME? */
static int uri_names_transport(const char *u, size_t n, const char *name)
{
    size_t k = strlen(name);
    for (const char *p = u; (p = strchr(p, ';')) && p < u + n; p++)
        if (strncasecmp(p, ";transport=", 11) == 0 && strncasecmp(p + 11, name, k) == 0 &&
            (p + 11 + k == u + n || strchr(";>?", p[11 + k])))
            return 1;
    return 0;
}

/* The transport a URI (the first of a list) is reached over: 's' for TLS (sips: or
 * ;transport=tls), 't' for TCP, 0 for UDP (RFC 3261 18.1.1: the default). */
static int uri_transport(const char *u)
{
    if (!u)
        return 0;
    u += strspn(u, " \t<");
    size_t n = strcspn(u, ">,");
    if ((n >= 5 && strncasecmp(u, "sips:", 5) == 0) || uri_names_transport(u, n, "tls"))
        return 's';
    return uri_names_transport(u, n, "tcp") ? 't' : 0;
}

/* Our Contact in a subscription's messages names the transport of the dialog's next hop (its
 * first route, else the subscriber's Contact): a subscriber on TLS or TCP (a pcscf whose
 * registrar names it) sends its refreshes and un-SUBSCRIBE back the same way, not over UDP,
 * where each would be held 32 s for retransmissions. */
static const char *contact_for(const regevent_t *re, const char *route_set, const char *target)
{
    switch (uri_transport(route_set && *route_set ? route_set : target)) {
    case 's':
        return re->tls_contact[0] ? re->tls_contact : re->contact;
    case 't':
        return re->tcp_contact;
    default:
        return re->contact;
    }
}

/* A NOTIFY in u's dialog with CSeq cseq and its CSeq and version already reserved (or u gone
 * from the record: terminated). The dialog is taken up from the stored state for this one
 * request: From is the SUBSCRIBE's To URI with our tag, To the SUBSCRIBE's From with the
 * subscriber's tag (RFC 6665 4.1.2.1, RFC 3261 12.1.1), the same in every NOTIFY and after a
 * restart. substate: "active;expires=N" or "terminated[;reason=R]"; body may be NULL. then (taken,
 * may be NULL): the NOTIFY to send once this one is answered. */
static int send_notify(regevent_t *re, const char *impi, const store_sub_t *u, uint32_t cseq,
                       const char *substate, const char *body, followup_t *then)
{
    sip_dialog_state_t st = {.call_id = u->call_id,
                             .local_uri = u->local_uri,
                             .local_tag = u->local_tag,
                             .remote_uri = u->remote_uri,
                             .remote_tag = u->remote_tag,
                             .target = u->target,
                             .route_set = u->route_set,
                             .cseq = cseq - 1};
    notify_t *n = calloc(1, sizeof *n);
    sip_dialog_t *d = n ? sip_dialog_restore(re->s->p->sip, &st, on_dialog_request, re) : NULL;
    if (!d) {
        free(n);
        followup_free(then);
        log_warn("regevent: %s: cannot take up the dialog of %s", u->impu ? u->impu : "?",
                 u->subscriber ? u->subscriber : "?");
        return -1;
    }
    n->re = re;
    n->then = then;
    n->watch = strncmp(substate, "terminated", 10) != 0;
    snprintf(n->impi, sizeof n->impi, "%s", impi);
    snprintf(n->call_id, sizeof n->call_id, "%s", u->call_id);
    snprintf(n->local_tag, sizeof n->local_tag, "%s", u->local_tag);
    snprintf(n->remote_tag, sizeof n->remote_tag, "%s", u->remote_tag);
    snprintf(n->impu, sizeof n->impu, "%s", u->impu ? u->impu : "");
    snprintf(n->subscriber, sizeof n->subscriber, "%s", u->subscriber ? u->subscriber : "");
    sip_dialog_headers_t h = {.event = "reg",
                              .subscription_state = substate,
                              .contact = contact_for(re, u->route_set, u->target),
                              .content_type = body ? REGINFO_CONTENT_TYPE : NULL,
                              .body = body};
    n->out = sip_dialog_send(d, "NOTIFY", &h, on_notify_answer, n);
    sip_dialog_destroy(d); /* the request stays in flight on its own */
    if (!n->out) {
        log_warn("regevent: %s: cannot send NOTIFY to %s", n->impu, n->subscriber);
        followup_free(n->then);
        free(n);
        return -1;
    }
    n->next = re->notifies;
    if (n->next)
        n->next->prev = &n->next;
    n->prev = &re->notifies;
    re->notifies = n;
    return 0;
}

static void active_state(char *st, size_t len, const store_sub_t *u, int64_t now)
{
    long left = (long)(u->expires_at - now);
    snprintf(st, len, "active;expires=%ld", left > 0 ? left : 0);
}

/* The NOTIFY a reservation paid for: u is the subscription as written (cseq, version moved
 * on), reg the registration to describe. */
static void notify_reserved(regevent_t *re, const store_reg_t *reg, const store_sub_t *u, int full,
                            const reginfo_change_t *ch, size_t n)
{
    int64_t now = time(NULL);
    char st[64], *body = reginfo_build(reg, u->version - 1, full, ch, n, now);
    active_state(st, sizeof st, u, now);
    send_notify(re, reg->impi, u, u->cseq, st, body, NULL);
    free(body);
}

static void followup_send(regevent_t *re, followup_t *fu)
{
    const store_sub_t *u = &fu->one->subs[0];
    char st[64];
    active_state(st, sizeof st, u, time(NULL));
    send_notify(re, fu->one->impi, u, u->cseq, st, fu->body, NULL);
    followup_free(fu);
}

/* w's copy with only its subscription i. */
static store_reg_t *only_sub(const store_reg_t *w, size_t i)
{
    store_reg_t *one = store_reg_dup(w);
    for (size_t k = one ? one->nsubs : 0; k-- > 0;)
        if (k != i)
            store_reg_remove_sub(one, k);
    return one;
}

/* A change paid for with two reservations (reserve_all(w, 2)): subscription i of w first hears
 * of the contacts that ended (ch[0..nended)), with the first reserved CSeq and version, and once
 * that NOTIFY is answered of the others (ch[nended..n)), with the second. */
static void notify_in_two(regevent_t *re, const store_reg_t *w, size_t i, const store_reg_t *reg,
                          const reginfo_change_t *ch, size_t nended, size_t n)
{
    const store_sub_t *u = &w->subs[i];
    int64_t now = time(NULL);
    followup_t *fu = calloc(1, sizeof *fu);
    if (fu) {
        fu->one = only_sub(w, i);
        fu->body = reginfo_build(reg, u->version - 1, 0, ch + nended, n - nended, now);
    }
    if (!fu || !fu->one || !fu->body) {
        /* the subscriber sees a gap in the versions and asks for the full state (RFC 3680) */
        log_warn("regevent: %s: out of memory: only the ended contacts are told", reg->impi);
        followup_free(fu);
        fu = NULL;
    }
    char st[64], *body = reginfo_build(reg, u->version - 2, 0, ch, nended, now);
    active_state(st, sizeof st, u, now);
    send_notify(re, reg->impi, u, u->cseq - 1, st, body, fu);
    free(body);
}

/* The last NOTIFY of a subscription gone from the record: its counters + 1. reason NULL: none. */
static void notify_ended(regevent_t *re, const char *impi, const store_sub_t *u, const char *reason,
                         const char *body)
{
    char st[64];
    snprintf(st, sizeof st, "terminated%s%s", reason ? ";reason=" : "", reason ? reason : "");
    send_notify(re, impi, u, u->cseq + 1, st, body, NULL);
}

/* ---- a subscription the subscriber no longer knows: out of the record ---- */

typedef struct forget {
    task_t t;
    int attempts;
    char impi[256], call_id[256], local_tag[64], remote_tag[128];
} forget_t;

static void forget_read(void *arg, int rc, store_reg_t *reg);

static void forget_put(void *arg, int rc)
{
    forget_t *f = arg;
    if (f->t.re && rc == 0)
        count_add(f->t.re, -1);
    if (f->t.re && rc == STORE_CONFLICT && ++f->attempts < MAX_ATTEMPTS) {
        store_get_impi(f->t.re->s->store, f->impi, forget_read, f);
        return;
    }
    if (rc != 0)
        log_warn("regevent: %s: subscription %s not removed (store: %d)", f->impi, f->call_id, rc);
    task_remove(&f->t);
    free(f);
}

static void forget_read(void *arg, int rc, store_reg_t *reg)
{
    forget_t *f = arg;
    int i = rc == 0 && f->t.re ? sub_index(reg, f->call_id, f->local_tag, f->remote_tag) : -1;
    if (i < 0) { /* gone already, or the store failed (then expiry removes it) */
        task_remove(&f->t);
        free(f);
    } else {
        store_reg_remove_sub(reg, (size_t)i);
        store_put(f->t.re->s->store, reg, forget_put, f);
    }
    store_reg_free(reg);
}

static void forget_sub(regevent_t *re, const char *impi, const char *call_id, const char *local_tag,
                       const char *remote_tag)
{
    forget_t *f = calloc(1, sizeof *f);
    if (!f)
        return;
    task_add(re, &f->t, NULL);
    snprintf(f->impi, sizeof f->impi, "%s", impi);
    snprintf(f->call_id, sizeof f->call_id, "%s", call_id);
    snprintf(f->local_tag, sizeof f->local_tag, "%s", local_tag);
    snprintf(f->remote_tag, sizeof f->remote_tag, "%s", remote_tag);
    store_get_impi(re->s->store, impi, forget_read, f);
}

/* ---- SUBSCRIBE ---- */

typedef enum { SUB_NEW, SUB_FETCH, SUB_REFRESH, SUB_END } sub_kind_t;

/* One SUBSCRIBE waiting for the store. */
typedef struct pending {
    task_t t;
    sip_incoming_t *irq;
    msg_t *msg; /* keeps sip valid */
    sip_t const *sip;
    char impu[256];
    const char *to_tag; /* in-dialog: our tag (in msg) */
    long asked;
    int attempts;
    sub_kind_t kind;
    long granted;
    sip_dialog_t *dlg; /* new: the dialog the 200 makes, kept across retries */
    store_reg_t *reg;  /* as read */
    store_reg_t *w;    /* as written */
    char who[256];     /* the subscriber */
} pending_t;

static void pending_free(pending_t *pd)
{
    task_remove(&pd->t);
    sip_dialog_destroy(pd->dlg);
    store_reg_free(pd->reg);
    store_reg_free(pd->w);
    free(pd);
}

/* We kept the transaction: ours to release once answered. */
static void pending_done(pending_t *pd)
{
    sip_incoming_release(pd->irq, pd->msg);
    pending_free(pd);
}

static void pending_orphan(task_t *t)
{
    pending_t *pd = (pending_t *)t;
    sip_incoming_release(pd->irq, pd->msg);
    pd->irq = NULL;
    pd->msg = NULL;
    sip_dialog_destroy(pd->dlg); /* while nta is still there */
    pd->dlg = NULL;
}

/* h: headers besides the usual ones, or NULL. */
static void pending_reply(pending_t *pd, int status, const char *phrase,
                          const sip_dialog_headers_t *h)
{
    sip_request_answer(pd->t.re->s->p->sip, pd->irq, status, phrase, h);
    pending_done(pd);
}

/* 500 / 504 with Retry-After: the store failed or timed out (the registrar's mapping and its
 * once-per-outage log), or kept conflicting. */
static void store_failed(pending_t *pd, int rc)
{
    scscf_t *s = pd->t.re->s;
    char hdr[64];
    const char *phrase = "Store Busy";
    int status = 500;
    if (rc == STORE_CONFLICT) {
        log_warn("regevent: %s: SUBSCRIBE refused, the record kept changing", pd->impu);
        snprintf(hdr, sizeof hdr, "Retry-After: %ld", s->rc->retry_after);
    } else {
        status = reg_store_failure(s, rc, "subscribe", &phrase, hdr, sizeof hdr);
    }
    pending_reply(pd, status, phrase, &(sip_dialog_headers_t){.extra = hdr});
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

typedef struct asserted {
    su_home_t *home;
    const store_reg_t *reg;
    char *who;
    size_t len;
    const url_t *first; /* the first asserted URI, for the P-CSCF check */
} asserted_t;

static int asserted_impu(void *arg, const char *uri)
{
    asserted_t *a = arg;
    sip_from_t *id = sip_from_make(a->home, uri);
    if (!id)
        return 0;
    if (!a->first)
        a->first = id->a_url;
    return sip_impu_of(id->a_url, a->who, a->len) == 0 && is_impu_of(a->reg, a->who);
}

/* TS 24.229 5.4.2.1.1: the UE itself (an IMPU of the set, asserted by its P-CSCF, else in
 * From) or the P-CSCF on its Path. Fills who with the identity checked. RFC 3325 allows
 * several asserted identities (a sip: and a tel: one), in one header or in two, in any order:
 * any of them may be the subscribed set's. From stands in for a missing P-Asserted-Identity
 * only when a trusted peer sent the request: from anyone else route_screen() removed any PAI,
 * and From is whatever the sender wrote (RFC 3325), so such a SUBSCRIBE is refused whoever it
 * names. */
static int authorised(pending_t *pd, const store_reg_t *reg, char *who, size_t len)
{
    asserted_t a = {msg_home(pd->msg), reg, who, len, NULL};
    for (sip_unknown_t const *h = pd->sip->sip_unknown; h; h = h->un_next)
        if (h->un_name && h->un_value && strcasecmp(h->un_name, "P-Asserted-Identity") == 0 &&
            sip_uri_list_each(h->un_value, asserted_impu, &a))
            return 1;
    su_home_t *home = a.home;
    if (!a.first && !trust_guard_msg_trusted(pd->t.re->s->trust, pd->msg)) {
        snprintf(who, len, "an untrusted sender (no P-Asserted-Identity)");
        return 0;
    }
    const url_t *u = a.first ? a.first : pd->sip->sip_from->a_url;
    if (!a.first && sip_impu_of(u, who, len) == 0 && is_impu_of(reg, who))
        return 1;
    if (!is_registering_proxy(home, reg, u))
        return 0;
    snprintf(who, len, "%s%s%s", u->url_host, u->url_port ? ":" : "",
             u->url_port ? u->url_port : "");
    return 1;
}

/* The subscription a new SUBSCRIBE makes, from the dialog its 200 makes. */
static int fill_sub(store_sub_t *u, const sip_dialog_state_t *st, const char *impu, const char *who,
                    int64_t expires_at)
{
    int rc =
        store_contact_set(&u->call_id, st->call_id) |
        store_contact_set(&u->local_tag, st->local_tag) |
        store_contact_set(&u->remote_tag, st->remote_tag) |
        store_contact_set(&u->local_uri, st->local_uri) |
        store_contact_set(&u->remote_uri, st->remote_uri) |
        store_contact_set(&u->target, st->target) |
        store_contact_set(&u->route_set, st->route_set && *st->route_set ? st->route_set : NULL) |
        store_contact_set(&u->impu, impu) | store_contact_set(&u->subscriber, who);
    u->cseq = 1;    /* reserved for the first NOTIFY, */
    u->version = 1; /* which carries version 0 */
    u->expires_at = expires_at;
    return rc;
}

static void on_put(void *arg, int rc);

/* A new SUBSCRIBE for reg (pd->reg): checks, then the subscription goes into the record. */
static void new_sub(pending_t *pd)
{
    regevent_t *re = pd->t.re;
    const store_reg_t *reg = pd->reg;
    if (!authorised(pd, reg, pd->who, sizeof pd->who)) {
        log_info("regevent: %s: SUBSCRIBE from %s refused (neither the UE nor its P-CSCF)",
                 pd->impu, pd->who);
        pending_reply(pd, SIP_403_FORBIDDEN, NULL);
        return;
    }
    if (!cap_admit(re->cap, re->count)) {
        pending_reply(pd, SIP_503_SERVICE_UNAVAILABLE,
                      &(sip_dialog_headers_t){.retry_after = "60"});
        return;
    }
    if (reg->nsubs >= REGEVENT_MAX_PER_REG) {
        pending_reply(pd, 403, "Too Many Subscriptions", NULL);
        return;
    }
    if (!pd->dlg)
        pd->dlg = sip_dialog_uas(re->s->p->sip, pd->sip, on_dialog_request, re);
    sip_dialog_state_t st;
    int64_t now = time(NULL);
    long most = longest_contact(reg, now);
    pd->granted = pd->asked < most ? pd->asked : most;
    store_sub_t *u;
    if (!pd->dlg || sip_dialog_get_state(pd->dlg, &st) < 0 || !(pd->w = store_reg_dup(reg)) ||
        !(u = store_reg_add_sub(pd->w)) ||
        fill_sub(u, &st, pd->impu, pd->who, now + pd->granted) < 0) {
        pending_reply(pd, SIP_500_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    if (pd->granted == 0) {
        /* A fetch (Expires 0) or nothing left to watch: the state once, nothing kept. */
        pd->kind = SUB_FETCH;
        on_put(pd, 0);
        return;
    }
    pd->kind = SUB_NEW;
    store_put(re->s->store, pd->w, on_put, pd);
}

/* A SUBSCRIBE in an existing dialog: refresh (new expiry, full state) or unsubscribe. */
static void in_dialog(pending_t *pd)
{
    regevent_t *re = pd->t.re;
    sip_t const *sip = pd->sip;
    int i = sub_index(pd->reg, sip->sip_call_id->i_id, pd->to_tag, sip->sip_from->a_tag);
    if (i < 0) {
        pending_reply(pd, SIP_481_NO_TRANSACTION, NULL);
        return;
    }
    int64_t now = time(NULL);
    long most = longest_contact(pd->reg, now);
    pd->granted = pd->asked < most ? pd->asked : most;
    if (!(pd->w = store_reg_dup(pd->reg))) {
        pending_reply(pd, SIP_500_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    store_sub_t *u = &pd->w->subs[i];
    if (pd->granted == 0) {
        pd->kind = SUB_END;
        store_reg_remove_sub(pd->w, (size_t)i);
    } else {
        pd->kind = SUB_REFRESH;
        u->expires_at = now + pd->granted;
        u->cseq++; /* the full-state NOTIFY's */
        u->version++;
        /* RFC 6665 4.1.2.1: a SUBSCRIBE refreshes the remote target. */
        char *t =
            sip->sip_contact ? url_as_string(msg_home(pd->msg), sip->sip_contact->m_url) : NULL;
        if (t && store_contact_set(&u->target, t) < 0) {
            pending_reply(pd, SIP_500_INTERNAL_SERVER_ERROR, NULL);
            return;
        }
    }
    store_put(re->s->store, pd->w, on_put, pd);
}

static void on_found(void *arg, int rc, store_reg_t *reg);

/* Written (or nothing to write: a fetch): 200 with Expires and Contact, then the NOTIFY
 * (RFC 6665 4.2.1.1, 4.2.1.2). */
static void accepted(pending_t *pd)
{
    regevent_t *re = pd->t.re;
    sip_t const *sip = pd->sip;
    char exp[24];
    snprintf(exp, sizeof exp, "%ld", pd->granted);
    /* The next hop of the NOTIFYs to come: the SUBSCRIBE's first Record-Route, else its
     * Contact; or the SUBSCRIBE came over TLS. */
    char hop[300] = "";
    const url_t *hu = sip->sip_record_route ? sip->sip_record_route->r_url
                      : sip->sip_contact    ? sip->sip_contact->m_url
                                            : NULL;
    if (hu)
        url_e(hop, sizeof hop, hu);
    const char *contact = sip_core_msg_over_tls(pd->msg) && re->tls_contact[0]
                              ? re->tls_contact
                              : contact_for(re, NULL, hop);
    sip_dialog_headers_t h = {.expires = exp, .contact = contact};
    const char *call_id = sip->sip_call_id->i_id, *remote = sip->sip_from->a_tag;
    char local[64];
    snprintf(local, sizeof local, "%s", pd->dlg ? sip_dialog_local_tag(pd->dlg) : pd->to_tag);
    if (pd->dlg)
        sip_dialog_answer(pd->dlg, pd->irq, SIP_200_OK, &h);
    else
        sip_request_answer(re->s->p->sip, pd->irq, SIP_200_OK, &h);
    const store_reg_t *src = pd->kind == SUB_END ? pd->reg : pd->w;
    const store_sub_t *u = store_reg_find_sub((store_reg_t *)src, call_id, local, remote);
    if (!u) {
        pending_done(pd);
        return;
    }
    if (pd->kind == SUB_NEW) {
        count_add(re, 1);
        log_info("regevent: %s: %s subscribed", pd->impu, pd->who);
    }
    if (pd->kind == SUB_END)
        count_add(re, -1);
    if (pd->kind == SUB_NEW || pd->kind == SUB_REFRESH) {
        notify_reserved(re, pd->w, u, 1, NULL, 0);
    } else {
        /* unsubscribe (no reason to give), or nothing left to watch (RFC 6665 4.2.1.4) */
        char *body =
            reginfo_build(src, pd->kind == SUB_FETCH ? 0 : u->version, 1, NULL, 0, time(NULL));
        store_sub_t once = *u;
        if (pd->kind == SUB_FETCH)
            once.cseq = 0; /* nothing sent in the dialog before */
        notify_ended(re, pd->reg->impi, &once, pd->asked == 0 ? NULL : "timeout", body);
        free(body);
    }
    pending_done(pd);
}

static void on_put(void *arg, int rc)
{
    pending_t *pd = arg;
    if (!pd->t.re) {
        pending_free(pd);
        return;
    }
    if (rc == 0) {
        accepted(pd);
    } else if (rc == STORE_CONFLICT && ++pd->attempts < MAX_ATTEMPTS) {
        /* someone wrote the record since we read it: read it again and decide again */
        store_reg_free(pd->reg);
        store_reg_free(pd->w);
        pd->reg = pd->w = NULL;
        store_get(pd->t.re->s->store, pd->impu, on_found, pd);
    } else {
        store_failed(pd, rc);
    }
}

static void on_found(void *arg, int rc, store_reg_t *reg)
{
    pending_t *pd = arg;
    if (!pd->t.re) {
        store_reg_free(reg);
        pending_free(pd);
        return;
    }
    pd->reg = rc == 0 ? reg : NULL;
    if (rc != 0)
        store_reg_free(reg);
    if (rc < 0)
        store_failed(pd, rc);
    else if (pd->to_tag && rc != 0)
        pending_reply(pd, SIP_481_NO_TRANSACTION, NULL);
    else if (pd->to_tag)
        in_dialog(pd);
    else if (rc != 0)
        /* The S-CSCF knows only registered identities: one of our domain may exist but be
         * unregistered (480); any other is not ours (404). */
        pending_reply(pd,
                      strchr(pd->impu, '@') &&
                              strcasecmp(strchr(pd->impu, '@') + 1,
                                         sip_core_config(pd->t.re->s->p->sip)->domain) != 0
                          ? 404
                          : 480,
                      NULL, NULL);
    else
        new_sub(pd);
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

/* RFC 3261 8.1.1.8 and RFC 6665 4.1.2: the Contact of a dialog-creating request is one SIP
 * or SIPS URI, the target our NOTIFYs go to ("*", tel: or several would leave none). */
static int good_contact(const sip_contact_t *m)
{
    return m && !m->m_next && (m->m_url->url_type == url_sip || m->m_url->url_type == url_sips) &&
           m->m_url->url_host;
}

static int check_subscribe(scscf_t *s, sip_incoming_t *irq, sip_t const *sip)
{
    sip_core_t *core = s->p->sip;
    if (!good_contact(sip->sip_contact))
        return sip_request_answer(core, irq, 400, "Bad Contact", NULL), 400;
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
    pd->irq = irq;
    pd->msg = sip_incoming_request(irq);
    pd->sip = sip;
    task_add(re, &pd->t, pending_orphan);
    pd->asked = sip->sip_expires ? (long)sip->sip_expires->ex_delta : REGEVENT_DEFAULT_EXPIRES;
    pd->to_tag = sip->sip_to->a_tag;
    /* In a dialog the Request-URI is our Contact: the record is found by the To URI, the
     * identity subscribed to (the dialog's local URI), then the dialog in it. */
    const url_t *id = pd->to_tag ? sip->sip_to->a_url : sip->sip_request->rq_url;
    if (sip_impu_of(id, pd->impu, sizeof pd->impu) < 0) {
        if (pd->to_tag)
            pending_reply(pd, SIP_481_NO_TRANSACTION, NULL);
        else
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

/* RFC 6665 4.1.3 for the Subscription-State of the NOTIFY that ends a registration:
 * noresource when the UE's own REGISTER or the expiry of its contacts ended it (the resource is
 * gone, nothing to subscribe to again; "timeout" is for a subscription that was not refreshed);
 * rejected for an HSS permanent termination (do not try again); deactivated when the network
 * took the registration away (REST, admin, other RTRs): the UE registers again and subscribes
 * again, as TS 24.229 5.1.1.7 has it for contacts "deactivated". */
static const char *end_reason(regevent_cause_t cause)
{
    switch (cause) {
    case REGEVENT_REGISTER:
    case REGEVENT_EXPIRY:
        return "noresource";
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

int regevent_watched(const store_reg_t *reg)
{
    return reg && reg->nsubs > 0;
}

/* A change to tell: the NOTIFYs wait for the write that reserves their CSeq and version. */
typedef struct change {
    task_t t;
    store_reg_t *before, *after; /* the change (copies) */
    store_reg_t *w;              /* the record as written */
    regevent_cause_t cause;
    int full;       /* only the identities changed: full state */
    unsigned steps; /* NOTIFYs per subscription: 2 when contacts ended and others live on */
    int attempts;
} change_t;

/* Ended contacts first, the others after, each group in its order; how many ended. */
static size_t ended_first(reginfo_change_t *ch, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (reginfo_event_terminates(ch[i].event)) {
            reginfo_change_t x = ch[i];
            memmove(&ch[k + 1], &ch[k], (i - k) * sizeof *ch);
            ch[k++] = x;
        }
    return k;
}

static void change_free(change_t *c)
{
    task_remove(&c->t);
    store_reg_free(c->before);
    store_reg_free(c->after);
    store_reg_free(c->w);
    free(c);
}

static void change_read(void *arg, int rc, store_reg_t *reg);

static void change_put(void *arg, int rc)
{
    change_t *c = arg;
    regevent_t *re = c->t.re;
    if (re && rc == STORE_CONFLICT && ++c->attempts < MAX_ATTEMPTS) {
        store_get_impi(re->s->store, c->w->impi, change_read, c);
        return;
    }
    if (re && rc == 0) {
        size_t max = (c->before ? c->before->ncontacts : 0) + c->after->ncontacts;
        reginfo_change_t *ch = calloc(max ? max : 1, sizeof *ch);
        size_t n = ch && !c->full ? diff(c->before, c->after, c->cause, ch) : 0;
        size_t nended = c->steps == 2 ? ended_first(ch, n) : 0;
        /* RFC 3680 has no contact event for an IMPU that joins the set or is barred, so
         * subscribers get the full state again (barred IMPUs left out, as in every document). */
        for (size_t i = 0; ch && i < c->w->nsubs; i++)
            if (c->steps == 2)
                notify_in_two(re, c->w, i, c->after, ch, nended, n);
            else
                notify_reserved(re, c->full ? c->w : c->after, &c->w->subs[i], c->full, ch, n);
        free(ch);
    } else if (re) {
        log_warn("regevent: %s: no NOTIFY sent: the store %s", c->w->impi,
                 rc == STORE_CONFLICT ? "kept conflicting" : "failed");
    }
    change_free(c);
}

/* Reserve a NOTIFY for each subscription of the record as stored now. */
static void change_reserve(change_t *c)
{
    reserve_all(c->w, c->steps);
    store_put(c->t.re->s->store, c->w, change_put, c);
}

static void change_read(void *arg, int rc, store_reg_t *reg)
{
    change_t *c = arg;
    if (!c->t.re || rc != 0 || !reg->nsubs) { /* gone, or nobody left to tell */
        if (c->t.re && rc < 0)
            log_warn("regevent: %s: no NOTIFY sent: the store failed", c->w->impi);
        store_reg_free(reg);
        change_free(c);
        return;
    }
    store_reg_free(c->w);
    c->w = reg;
    change_reserve(c);
}

/* The registration ended (its record is deleted): the subscriptions of before hear it last,
 * with their counters + 1; nothing is written. */
static void tell_ended(regevent_t *re, const store_reg_t *before, const store_reg_t *after,
                       regevent_cause_t cause)
{
    reginfo_change_t *ch = calloc(before->ncontacts ? before->ncontacts : 1, sizeof *ch);
    if (!ch)
        return;
    size_t n = diff(before, after, cause, ch);
    store_reg_t view = *before; /* the identities to report, with no contacts */
    view.contacts = NULL;
    view.ncontacts = 0;
    for (size_t i = 0; i < before->nsubs; i++) {
        const store_sub_t *u = &before->subs[i];
        char *body = reginfo_build(&view, u->version, 0, ch, n, time(NULL));
        notify_ended(re, before->impi, u, end_reason(cause), body);
        free(body);
    }
    count_add(re, -(long)before->nsubs);
    free(ch);
}

void regevent_changed(scscf_t *s, const store_reg_t *before, const store_reg_t *after,
                      regevent_cause_t cause)
{
    regevent_t *re = s->regevent;
    if (!re)
        return;
    if (!after || after->ncontacts == 0) {
        if (regevent_watched(before))
            tell_ended(re, before, after, cause);
        return;
    }
    if (!regevent_watched(after))
        return;
    size_t max = (before ? before->ncontacts : 0) + after->ncontacts;
    reginfo_change_t *ch = calloc(max ? max : 1, sizeof *ch);
    size_t n = ch ? diff(before, after, cause, ch) : 0;
    size_t nended = ended_first(ch, n);
    free(ch);
    int full = !n && identities_changed(before, after);
    if (!n && !full)
        return; /* nothing a subscriber would see */
    change_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    task_add(re, &c->t, NULL);
    c->cause = cause;
    c->full = full;
    /* A REGISTER that replaced a contact (the same +sip.instance and reg-id from a new Contact
     * URI) or removed one and added another: one NOTIFY with the old contact terminated beside
     * the new one active is read by some handsets as two bindings of theirs and they register
     * again at the shorter expiry. So the ended contacts go first and the live ones in a
     * second NOTIFY: each document has one state per contact of the UE, and the last says
     * active. */
    c->steps = nended > 0 && nended < n ? 2 : 1;
    c->after = store_reg_dup(after);
    c->before = before ? store_reg_dup(before) : NULL;
    c->w = store_reg_dup(after); /* after->rev is the stored revision */
    if (!c->after || !c->w || (before && !c->before)) {
        change_free(c);
        return;
    }
    change_reserve(c);
}

/* ---- expiry ---- */

size_t regevent_drop_expired(scscf_t *s, store_reg_t *reg, int64_t now)
{
    regevent_t *re = s->regevent;
    size_t n = 0;
    for (size_t i = 0; i < reg->nsubs; i++)
        n += reg->subs[i].expires_at <= now;
    if (!re || n == 0)
        return 0;
    /* The copy keeps the expired ones, reg the others. */
    store_reg_t *gone = store_reg_dup(reg);
    stash_t *st = gone ? calloc(1, sizeof *st) : NULL;
    if (!st) {
        store_reg_free(gone);
        return 0;
    }
    for (size_t i = reg->nsubs; i-- > 0;) {
        int expired = reg->subs[i].expires_at <= now;
        store_reg_remove_sub(expired ? reg : gone, i);
    }
    regevent_expired_stored(s, reg->impi, STORE_CONFLICT); /* an earlier, unreported try */
    st->reg = gone;
    st->next = re->stash;
    re->stash = st;
    return n;
}

void regevent_expired_stored(scscf_t *s, const char *impi, int rc)
{
    regevent_t *re = s->regevent;
    for (stash_t **p = re ? &re->stash : NULL; p && *p; p = &(*p)->next) {
        stash_t *st = *p;
        if (strcmp(st->reg->impi, impi) != 0)
            continue;
        *p = st->next;
        for (size_t i = 0; rc == 0 && i < st->reg->nsubs; i++) {
            const store_sub_t *u = &st->reg->subs[i];
            log_info("regevent: %s: subscription of %s expired", u->impu, u->subscriber);
            notify_ended(re, impi, u, "timeout", NULL);
        }
        if (rc == 0)
            count_add(re, -(long)st->reg->nsubs);
        store_reg_free(st->reg);
        free(st);
        return;
    }
}

/* ---- REST ---- */

/* GET /api/v1/subscriptions waits on the HTTP thread (loopq_call_async()) for a listing the
 * loop makes from the store; when the wait gives up first, it frees the listing after the store
 * answered. */
typedef struct listing {
    loopq_wait_t *w;
    program_t *p; /* outlives the module: p->app and its regevent tell whether it is there */
    size_t limit;
    json_t *out;
} listing_t;

static void listing_free(void *arg)
{
    listing_t *l = arg;
    json_decref(l->out);
    free(l);
}

static regevent_t *live(program_t *p)
{
    scscf_t *s = p->app;
    return s ? s->regevent : NULL;
}

static json_t *sub_json(const store_reg_t *r, const store_sub_t *u, int64_t now)
{
    /* s?: a field a hostile stored record lacks is null, not a lost entry */
    return json_pack("{s:s,s:s,s:s,s:I,s:I,s:{s:s?,s:s?,s:s?}}", "impu", u->impu ? u->impu : "",
                     "impi", r->impi, "subscriber", u->subscriber ? u->subscriber : "", "expires",
                     (json_int_t)(u->expires_at - now), "version", (json_int_t)u->version, "dialog",
                     "call_id", u->call_id, "local_tag", u->local_tag, "remote_tag", u->remote_tag);
}

static void list_done(void *arg, int rc, store_reg_t **regs, size_t n, size_t total)
{
    listing_t *l = arg;
    json_t *a = json_array(), *out = NULL;
    int64_t now = time(NULL);
    size_t all = 0;
    for (size_t i = 0; rc == 0 && a && i < n; i++)
        for (size_t j = 0; j < regs[i]->nsubs; j++, all++)
            if (all < l->limit)
                json_array_append_new(a, sub_json(regs[i], &regs[i]->subs[j], now));
    if (rc == 0 && a)
        out = json_pack("{s:I,s:o}", "total", (json_int_t)all, "subscriptions", a);
    else
        json_decref(a);
    if (regs)
        store_regs_free(regs, n);
    regevent_t *re = live(l->p);
    if (re && rc == 0) { /* the gauge from the store, now and then */
        re->count = all;
        count_add(re, 0);
    }
    l->out = out;
    loopq_wait_done(l->w); /* l may be freed now */
}

static void list_on_loop(loopq_wait_t *w, void *arg)
{
    listing_t *l = arg;
    l->w = w;
    regevent_t *re = live(l->p);
    if (!re) { /* run by loopq_free() after the module went */
        list_done(l, STORE_ERROR, NULL, 0, 0);
        return;
    }
    store_list(re->s->store, NULL, 0, store_count(re->s->store) + 1000, list_done, l);
}

static void list_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    regevent_t *re = ctx;
    size_t limit;
    if (api_query_size(req, "limit", 1000, 10000, &limit, resp) < 0)
        return;
    listing_t *l = calloc(1, sizeof *l);
    if (!l) {
        api_problem(resp, 500, "Internal Server Error", "out of memory");
        return;
    }
    l->p = re->s->p;
    l->limit = limit;
    json_t *out = NULL;
    if (loopq_call_async(re->s->p->queue, list_on_loop, l, listing_free, REST_WAIT_MS) == 0) {
        out = l->out;
        l->out = NULL;
        listing_free(l);
    } /* else l is the wait's */
    if (!out) {
        api_problem(resp, 503, "Service Unavailable",
                    "the store did not list the subscriptions within 2 s");
        return;
    }
    api_json(resp, 200, out);
}

/* The gauge starts from what the store holds (a restart, or a replica joining). */
static void count_done(void *arg, int rc, store_reg_t **regs, size_t n, size_t total)
{
    regevent_t *re = arg;
    size_t all = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        all += regs[i]->nsubs;
    if (regs)
        store_regs_free(regs, n);
    if (rc == 0 && re->s->regevent == re) {
        re->count = all;
        count_add(re, 0);
    }
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
    /* Retry-After 60: a subscriber retries its SUBSCRIBE on its own schedule anyway */
    re->cap = cap_new(s->p->metrics, "subscriptions", "twice registrar.max_registrations",
                      re->max_total, 60);
    if (!re->cap)
        return -1;
    const url_t *self = sip_core_self_url(s->p->sip);
    snprintf(re->contact, sizeof re->contact, "<sip:%s%s%s>", self->url_host,
             self->url_port ? ":" : "", self->url_port ? self->url_port : "");
    snprintf(re->tcp_contact, sizeof re->tcp_contact, "<sip:%s%s%s;transport=tcp>", self->url_host,
             self->url_port ? ":" : "", self->url_port ? self->url_port : "");
    const url_t *tls = sip_core_tls_url(s->p->sip);
    if (tls)
        snprintf(re->tls_contact, sizeof re->tls_contact, "<sip:%s:%s;transport=tls>",
                 tls->url_host, tls->url_port ? tls->url_port : "5061");
    re->m_subs = metrics_gauge(s->p->metrics, "cscf_regevent_subscriptions",
                               "reg event subscriptions held (RFC 3680)", NULL);
    re->m_notify = metrics_counter(s->p->metrics, "cscf_regevent_notify_total",
                                   "reg event NOTIFYs sent, by outcome (response class, or "
                                   "timeout)",
                                   "outcome");
    if (store_synchronous(s->store))
        store_list(s->store, NULL, 0, store_count(s->store) + 1000, count_done, re);
    return api_route(s->p->api, "GET", "/api/v1/subscriptions", 0, list_route, re);
}

void regevent_fini(scscf_t *s)
{
    regevent_t *re = s->regevent;
    if (!re)
        return;
    while (re->notifies) {
        notify_t *n = re->notifies;
        notify_unlink(n);
        sip_out_cancel(n->out);
        followup_free(n->then);
        free(n);
    }
    /* Store callbacks still owed find their task orphaned and only free it. */
    while (re->tasks) {
        task_t *t = re->tasks;
        task_remove(t);
        if (t->orphan)
            t->orphan(t);
        t->re = NULL;
    }
    while (re->stash) {
        stash_t *st = re->stash;
        re->stash = st->next;
        store_reg_free(st->reg);
        free(st);
    }
    cap_free(re->cap);
    free(re);
    s->regevent = NULL;
}
