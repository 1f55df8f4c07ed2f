#include "common/sip/sip_dialog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_tag.h>

#include "common/util/hex.h"
#include "common/util/log.h"

struct sip_dialog {
    sip_core_t *core;
    nta_leg_t *leg;
    sip_dialog_request_f on_request;
    void *arg;
    int uac;
    int routed;   /* a 2xx (UAC) or the initial request (UAS) gave the route set and target */
    int cseq_one; /* restored with no request sent yet: the first one carries CSeq 1 */
    char call_id[256];
    char *local_uri, *remote_uri; /* for sip_dialog_get_state() */
    url_t *target, *first_hop;    /* UAC, until routed */
    sip_out_t *outs;              /* requests in flight sent in this dialog */
    su_home_t home[1];
};

struct sip_out {
    sip_out_t *next, **prev; /* in its dialog's list, while the dialog lives */
    sip_dialog_t *dialog;    /* NULL: out of dialog, or the dialog went */
    nta_outgoing_t *orq;
    sip_answer_f cb;
    void *arg;
    int in_cb;
};

static const sip_dialog_headers_t no_headers;

/* The headers as nta tags; every value is evaluated, so h is never NULL here. */
#define HEADER_TAGS(h)                                                                             \
    TAG_IF((h)->event, SIPTAG_EVENT_STR((h)->event)),                                              \
        TAG_IF((h)->accept, SIPTAG_ACCEPT_STR((h)->accept)),                                       \
        TAG_IF((h)->expires, SIPTAG_EXPIRES_STR((h)->expires)),                                    \
        TAG_IF((h)->contact, SIPTAG_CONTACT_STR((h)->contact)),                                    \
        TAG_IF((h)->subscription_state, SIPTAG_SUBSCRIPTION_STATE_STR((h)->subscription_state)),   \
        TAG_IF((h)->retry_after, SIPTAG_RETRY_AFTER_STR((h)->retry_after)),                        \
        TAG_IF((h)->min_expires, SIPTAG_MIN_EXPIRES_STR((h)->min_expires)),                        \
        TAG_IF((h)->extra &&*(h)->extra, SIPTAG_HEADER_STR((h)->extra)),                           \
        TAG_IF((h)->body && (h)->content_type, SIPTAG_CONTENT_TYPE_STR((h)->content_type)),        \
        TAG_IF((h)->body, SIPTAG_PAYLOAD_STR((h)->body))

/* ---- requests in flight ---- */

static void out_unlink(sip_out_t *o)
{
    if (!o->prev)
        return;
    *o->prev = o->next;
    if (o->next)
        o->next->prev = o->prev;
    o->prev = NULL;
    o->next = NULL;
}

/* 2xx to a request of a UAC dialog: remote tag, route set from Record-Route (reversed by nta),
 * remote target from Contact (RFC 3261 12.1.2; a refresh updates the target). */
static void establish(sip_dialog_t *d, sip_t const *sip)
{
    if (sip->sip_to && sip->sip_to->a_tag && !nta_leg_get_rtag(d->leg))
        nta_leg_rtag(d->leg, sip->sip_to->a_tag);
    nta_leg_client_route(d->leg, sip->sip_record_route, sip->sip_contact);
    d->routed = 1;
}

static int out_answer(nta_outgoing_magic_t *magic, nta_outgoing_t *orq, sip_t const *sip)
{
    sip_out_t *o = (sip_out_t *)magic;
    int status = sip ? sip->sip_status->st_status : nta_outgoing_status(orq);
    if (status < 200)
        return 0;
    if (o->dialog && o->dialog->uac && sip && status < 300)
        establish(o->dialog, sip);
    out_unlink(o);
    o->in_cb = 1;
    o->cb(o->arg, status, sip);
    nta_outgoing_destroy(orq); /* last: sip lives in it */
    free(o);
    return 0;
}

static sip_out_t *out_new(sip_answer_f cb, void *arg)
{
    sip_out_t *o = calloc(1, sizeof *o);
    if (o) {
        o->cb = cb;
        o->arg = arg;
    }
    return o;
}

void sip_out_cancel(sip_out_t *o)
{
    if (!o || o->in_cb)
        return;
    out_unlink(o);
    nta_outgoing_destroy(o->orq);
    free(o);
}

/* ---- dialogs ---- */

static int leg_request(nta_leg_magic_t *magic, nta_leg_t *leg, nta_incoming_t *irq,
                       sip_t const *sip)
{
    sip_dialog_t *d = (sip_dialog_t *)magic;
    /* A NOTIFY may beat the 2xx to the SUBSCRIBE (RFC 6665 4.1.2.4): its From tag is the
     * remote tag. */
    if (d->uac && !nta_leg_get_rtag(leg) && sip->sip_from && sip->sip_from->a_tag)
        nta_leg_rtag(leg, sip->sip_from->a_tag);
    return d->on_request(d->arg, d, irq, sip); /* last: it may destroy d */
}

static sip_dialog_t *dialog_new(sip_core_t *core, sip_dialog_request_f on_request, void *arg)
{
    sip_dialog_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    su_home_init(d->home);
    d->core = core;
    d->on_request = on_request;
    d->arg = arg;
    return d;
}

static void dialog_free(sip_dialog_t *d)
{
    if (d->leg)
        nta_leg_destroy(d->leg);
    su_home_deinit(d->home);
    free(d);
}

/* The URI of a name-addr or addr-spec ("<sip:a@b>;x=y" -> "sip:a@b"), in home; NULL when bad. */
static char *addr_uri(su_home_t *home, const char *addr)
{
    sip_from_t *a = addr ? sip_from_make(home, addr) : NULL;
    return a ? url_as_string(home, a->a_url) : NULL;
}

sip_dialog_t *sip_dialog_uac(sip_core_t *core, const char *from, const char *to, const char *target,
                             const char *first_hop, sip_dialog_request_f on_request, void *arg)
{
    sip_dialog_t *d = dialog_new(core, on_request, arg);
    if (!d)
        return NULL;
    d->uac = 1;
    sip_call_id_t *id = sip_call_id_create(d->home, NULL);
    d->target = url_hdup(d->home, URL_STRING_MAKE(target)->us_url);
    d->first_hop = first_hop ? url_hdup(d->home, URL_STRING_MAKE(first_hop)->us_url) : NULL;
    if (!id || !d->target || (first_hop && !d->first_hop)) {
        dialog_free(d);
        return NULL;
    }
    snprintf(d->call_id, sizeof d->call_id, "%s", id->i_id);
    d->local_uri = addr_uri(d->home, from);
    d->remote_uri = addr_uri(d->home, to);
    d->leg = nta_leg_tcreate(sip_core_agent(core), leg_request, (nta_leg_magic_t *)d,
                             SIPTAG_FROM_STR(from), SIPTAG_TO_STR(to),
                             SIPTAG_CALL_ID_STR(d->call_id), TAG_END());
    if (!d->leg || !nta_leg_tag(d->leg, NULL)) {
        log_warn("sip_dialog: cannot start a dialog from %s to %s", from, to);
        dialog_free(d);
        return NULL;
    }
    return d;
}

sip_dialog_t *sip_dialog_uas(sip_core_t *core, sip_t const *request,
                             sip_dialog_request_f on_request, void *arg)
{
    if (!request->sip_call_id || !request->sip_from || !request->sip_to)
        return NULL;
    sip_dialog_t *d = dialog_new(core, on_request, arg);
    if (!d)
        return NULL;
    d->routed = 1;
    snprintf(d->call_id, sizeof d->call_id, "%s", request->sip_call_id->i_id);
    d->local_uri = url_as_string(d->home, request->sip_to->a_url);
    d->remote_uri = url_as_string(d->home, request->sip_from->a_url);
    d->leg = nta_leg_tcreate(sip_core_agent(core), leg_request, (nta_leg_magic_t *)d,
                             SIPTAG_CALL_ID(request->sip_call_id), SIPTAG_FROM(request->sip_to),
                             SIPTAG_TO(request->sip_from), TAG_END());
    if (!d->leg || !nta_leg_tag(d->leg, NULL) ||
        nta_leg_server_route(d->leg, request->sip_record_route, request->sip_contact) < 0) {
        log_warn("sip_dialog: cannot take the dialog of %s", d->call_id);
        dialog_free(d);
        return NULL;
    }
    return d;
}

sip_dialog_t *sip_dialog_restore(sip_core_t *core, const sip_dialog_state_t *st,
                                 sip_dialog_request_f on_request, void *arg)
{
    if (!st->call_id || !st->local_uri || !st->local_tag || !st->remote_uri || !st->remote_tag ||
        !st->target || strlen(st->call_id) >= sizeof((sip_dialog_t *)0)->call_id)
        return NULL;
    sip_dialog_t *d = dialog_new(core, on_request, arg);
    if (!d)
        return NULL;
    su_home_t *home = d->home;
    d->routed = 1;
    d->cseq_one = st->cseq == 0;
    snprintf(d->call_id, sizeof d->call_id, "%s", st->call_id);
    d->local_uri = su_strdup(home, st->local_uri);
    d->remote_uri = su_strdup(home, st->remote_uri);
    sip_from_t *local = sip_from_create(home, URL_STRING_MAKE(st->local_uri));
    sip_to_t *remote = sip_to_create(home, URL_STRING_MAKE(st->remote_uri));
    sip_contact_t *target = sip_contact_create(home, URL_STRING_MAKE(st->target), NULL);
    /* The route set as Record-Route in request order, which is what a UAS takes it from: nta
     * then marks the leg loose-routed or not by the first entry's lr (nta_leg_tcreate's own
     * SIPTAG_ROUTE would leave every route set strict). */
    int routes = st->route_set && *st->route_set;
    sip_record_route_t *rr = routes ? sip_record_route_make(home, st->route_set) : NULL;
    char seq[16];
    snprintf(seq, sizeof seq, "%u", (unsigned)st->cseq);
    if (local && remote && sip_from_tag(home, local, st->local_tag) == 0 &&
        sip_to_tag(home, remote, st->remote_tag) == 0)
        d->leg = nta_leg_tcreate(sip_core_agent(core), leg_request, (nta_leg_magic_t *)d,
                                 SIPTAG_CALL_ID_STR(d->call_id), SIPTAG_FROM(local),
                                 SIPTAG_TO(remote), SIPTAG_CSEQ_STR(seq), TAG_END());
    if (!d->local_uri || !d->remote_uri || !target || !target->m_url->url_scheme ||
        (routes && !rr) || !d->leg || nta_leg_server_route(d->leg, rr, target) < 0) {
        log_warn("sip_dialog: cannot take up the dialog of %s", st->call_id);
        dialog_free(d);
        return NULL;
    }
    return d;
}

/* The route set as requests carry it: each entry as its header value, comma-joined. */
static char *route_text(su_home_t *home, const sip_route_t *r)
{
    char *out = NULL;
    for (; r; r = r->r_next) {
        char *one = sip_header_as_string(home, (const sip_header_t *)r);
        char *joined =
            one ? su_sprintf(home, "%s%s%s", out ? out : "", out ? ", " : "", one) : NULL;
        if (!joined)
            return NULL;
        out = joined;
    }
    return out ? out : su_strdup(home, "");
}

int sip_dialog_get_state(sip_dialog_t *d, sip_dialog_state_t *out)
{
    const sip_route_t *route = NULL;
    const sip_contact_t *target = NULL;
    if (nta_leg_get_route(d->leg, &route, &target) < 0 || !target || !nta_leg_get_rtag(d->leg))
        return -1;
    char *t = url_as_string(d->home, target->m_url);
    char *rs = route_text(d->home, route);
    if (!t || !rs)
        return -1;
    *out = (sip_dialog_state_t){.call_id = d->call_id,
                                .local_uri = d->local_uri,
                                .local_tag = nta_leg_get_tag(d->leg),
                                .remote_uri = d->remote_uri,
                                .remote_tag = nta_leg_get_rtag(d->leg),
                                .target = t,
                                .route_set = rs,
                                .cseq = nta_leg_get_seq(d->leg)};
    return 0;
}

int sip_dialog_answer(sip_dialog_t *d, nta_incoming_t *irq, int status, const char *phrase,
                      const sip_dialog_headers_t *h)
{
    if (!h)
        h = &no_headers;
    nta_incoming_tag(irq, nta_leg_get_tag(d->leg));
    return sip_core_reply(d->core, irq, status, phrase, HEADER_TAGS(h), TAG_END());
}

int sip_request_answer(sip_core_t *core, sip_incoming_t *irq, int status, const char *phrase,
                       const sip_dialog_headers_t *h)
{
    if (!h)
        h = &no_headers;
    return sip_core_reply(core, irq, status, phrase, HEADER_TAGS(h), TAG_END());
}

sip_out_t *sip_dialog_send(sip_dialog_t *d, const char *method, const sip_dialog_headers_t *h,
                           sip_answer_f cb, void *arg)
{
    if (!h)
        h = &no_headers;
    sip_out_t *o = out_new(cb, arg);
    if (!o)
        return NULL;
    /* Before the dialog is routed (UAC, no 2xx yet) the request goes to the first hop with
     * the target as Request-URI; after, nta takes Route and Request-URI from the leg. */
    int first = !d->routed;
    /* nta numbers a leg's first request at random unless the request brings its CSeq. */
    char one[48];
    snprintf(one, sizeof one, "1 %s", method);
    int give_one = d->cseq_one && nta_leg_get_seq(d->leg) == 0;
    o->orq = nta_outgoing_tcreate(
        d->leg, out_answer, (nta_outgoing_magic_t *)o,
        first && d->first_hop ? (url_string_t *)d->first_hop : NULL, sip_method_code(method),
        method, first ? (url_string_t *)d->target : NULL, SIPTAG_MAX_FORWARDS_STR("70"),
        TAG_IF(give_one, SIPTAG_CSEQ_STR(one)), HEADER_TAGS(h), TAG_END());
    if (!o->orq) {
        log_warn("sip_dialog: %s: cannot send %s", d->call_id, method);
        free(o);
        return NULL;
    }
    o->dialog = d;
    o->next = d->outs;
    if (o->next)
        o->next->prev = &o->next;
    o->prev = &d->outs;
    d->outs = o;
    return o;
}

void sip_dialog_destroy(sip_dialog_t *d)
{
    if (!d)
        return;
    while (d->outs) { /* they stay in flight, on their own */
        sip_out_t *o = d->outs;
        out_unlink(o);
        o->dialog = NULL;
    }
    dialog_free(d);
}

const char *sip_dialog_call_id(const sip_dialog_t *d)
{
    return d->call_id;
}

const char *sip_dialog_local_tag(const sip_dialog_t *d)
{
    return nta_leg_get_tag(d->leg);
}

const char *sip_dialog_remote_tag(const sip_dialog_t *d)
{
    return nta_leg_get_rtag(d->leg);
}

uint32_t sip_dialog_cseq(const sip_dialog_t *d)
{
    return nta_leg_get_seq(d->leg);
}

int sip_dialog_established(const sip_dialog_t *d)
{
    return nta_leg_get_rtag(d->leg) != NULL;
}

/* ---- out of dialog ---- */

static msg_t *request_msg(sip_core_t *core, const char *method, const char *ruri, const char *from,
                          const char *to, const sip_dialog_headers_t *h)
{
    msg_t *m = nta_msg_create(sip_core_agent(core), 0);
    if (!m)
        return NULL;
    su_home_t *home = msg_home(m);
    char tag[20], call_id[40];
    hex_random(tag, 8);
    hex_random(call_id, 16);
    sip_method_t code = sip_method_code(method);
    url_t *uri = url_hdup(home, URL_STRING_MAKE(ruri)->us_url);
    sip_from_t *f = sip_from_create(home, URL_STRING_MAKE(from));
    if (!uri || !f || sip_from_tag(home, f, tag) < 0 ||
        sip_add_tl(
            m, sip_object(m),
            SIPTAG_REQUEST(sip_request_create(home, code, method, (url_string_t *)uri, NULL)),
            SIPTAG_FROM(f), SIPTAG_TO(sip_to_create(home, URL_STRING_MAKE(to))),
            SIPTAG_CALL_ID_STR(call_id), SIPTAG_CSEQ(sip_cseq_create(home, 1, code, method)),
            SIPTAG_MAX_FORWARDS_STR("70"), HEADER_TAGS(h), TAG_END()) < 0 ||
        !sip_object(m)->sip_request || !sip_object(m)->sip_to || !sip_object(m)->sip_cseq) {
        msg_destroy(m);
        return NULL;
    }
    return m;
}

sip_out_t *sip_request_send(sip_core_t *core, const char *method, const char *ruri,
                            const char *from, const char *to, const sip_dialog_headers_t *h,
                            sip_answer_f cb, void *arg)
{
    sip_out_t *o = out_new(cb, arg);
    msg_t *m = o ? request_msg(core, method, ruri, from, to, h ? h : &no_headers) : NULL;
    if (!m) {
        log_warn("sip_dialog: cannot build %s to %s", method, ruri);
        free(o);
        return NULL;
    }
    o->orq = nta_outgoing_mcreate(sip_core_agent(core), out_answer, (nta_outgoing_magic_t *)o, NULL,
                                  m, TAG_END());
    if (!o->orq) { /* nta returns NULL before it takes the message: still ours */
        msg_destroy(m);
        log_warn("sip_dialog: cannot send %s to %s", method, ruri);
        free(o);
        return NULL;
    }
    return o;
}
