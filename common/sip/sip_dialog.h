/* SIP dialogs for the programs' own UA roles (reg event SUBSCRIBE/NOTIFY, RFC 6665), over nta's
 * legs, so cscf/ code never calls nta itself. A dialog remembers Call-ID, local and remote tags,
 * route set, remote target and local CSeq; requests sent in it and their answers go through
 * callbacks in our terms. A request out of any dialog (third-party REGISTER) is sent the same
 * way with sip_request_send(). Loop thread only.
 *
 * A request in flight (sip_out_t) is independent of its dialog: destroying the dialog leaves
 * it to be answered, so its callback still runs (and must not assume the dialog lives on). */
#ifndef CSCF_SIP_DIALOG_H
#define CSCF_SIP_DIALOG_H

#include <stdint.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/sip.h>

#include "common/sip/sip_core.h"

typedef struct sip_dialog sip_dialog_t;
typedef struct sip_out sip_out_t;

/* Headers a request or answer carries besides those the dialog fills in (From, To, Call-ID,
 * CSeq, Route, Max-Forwards). A NULL field is left out. */
typedef struct sip_dialog_headers {
    const char *event;
    const char *accept;
    const char *expires;
    const char *contact;
    const char *subscription_state;
    const char *retry_after;
    const char *min_expires;
    const char *extra;        /* more header lines, "Name: value" each, CRLF between them */
    const char *content_type; /* with body */
    const char *body;
} sip_dialog_headers_t;

/* The final answer to a request we sent: status, and the response (NULL when none came: a
 * timeout or a transport error, status 408 or 503 as nta reports it). sip lives until the
 * callback returns; the request in flight is gone after it. */
typedef void (*sip_answer_f)(void *arg, int status, sip_t const *sip);

/* A request within the dialog (NOTIFY at a subscriber, refresh SUBSCRIBE at a notifier).
 * Return a status for nta to answer with, or 0 when answered (sip_core_reply) or kept. The
 * callback may destroy the dialog. */
typedef int (*sip_dialog_request_f)(void *arg, sip_dialog_t *d, nta_incoming_t *irq,
                                    sip_t const *sip);

/* UAC: a dialog we start (SUBSCRIBE). from, to: name-addr ("<sip:a@b>"); a new Call-ID and
 * local tag are made. Until a 2xx establishes it, requests go to first_hop (a URI, NULL: by
 * the target) with Request-URI target. */
sip_dialog_t *sip_dialog_uac(sip_core_t *core, const char *from, const char *to, const char *target,
                             const char *first_hop, sip_dialog_request_f on_request, void *arg);

/* UAS: a dialog from an initial request we answer 2xx (SUBSCRIBE at the notifier): Call-ID,
 * remote tag from From, a new local tag, route set from Record-Route, target from Contact
 * (RFC 3261 12.1.1). Answer the request with sip_dialog_answer(). */
sip_dialog_t *sip_dialog_uas(sip_core_t *core, sip_t const *request,
                             sip_dialog_request_f on_request, void *arg);

/* A dialog's state as it can be kept outside this process (a store) and taken up again by
 * another process or after a restart (RFC 3261 12.1): URIs without display names or header
 * parameters; route_set: the Route values in the order requests in the dialog carry them,
 * comma-joined ("<sip:p1;lr>, <sip:p2;lr>"), NULL or "" for none; cseq: of the last request we
 * sent, 0 when none was (the next one then carries 1). */
typedef struct sip_dialog_state {
    const char *call_id;
    const char *local_uri, *local_tag;
    const char *remote_uri, *remote_tag;
    const char *target; /* the remote target (the peer's Contact URI) */
    const char *route_set;
    uint32_t cseq;
} sip_dialog_state_t;

/* A dialog taken up from its state, with no transaction or leg of its own before: requests sent
 * in it carry the stored Call-ID and tags, CSeq st->cseq + 1 and up, and go along the route set
 * to the target as RFC 3261 12.2.1.1 says (loose routing when the first route has lr, else the
 * first route is the Request-URI and the target the last Route). Requests that match it reach
 * on_request. NULL when st lacks a field or is malformed. */
sip_dialog_t *sip_dialog_restore(sip_core_t *core, const sip_dialog_state_t *st,
                                 sip_dialog_request_f on_request, void *arg);

/* The state of an established dialog (a UAS dialog right after sip_dialog_uas(), a UAC one
 * after its 2xx), to keep it elsewhere. The strings live in d until it is destroyed. 0, or -1
 * when the remote tag or target is not known yet. */
int sip_dialog_get_state(sip_dialog_t *d, sip_dialog_state_t *out);

/* Answer a request of this dialog with our local tag in To. h may be NULL. A handler then
 * returns the status (nta releases the transaction), a kept request is released with
 * sip_incoming_release(). */
int sip_dialog_answer(sip_dialog_t *d, nta_incoming_t *irq, int status, const char *phrase,
                      const sip_dialog_headers_t *h);

/* Answer a request with these headers and no tag of a new dialog: a refused request, or one
 * within a dialog (its To has our tag already). h may be NULL. Returns as sip_core_reply(). */
int sip_request_answer(sip_core_t *core, sip_incoming_t *irq, int status, const char *phrase,
                       const sip_dialog_headers_t *h);

/* Send method within the dialog (the initial request too, for a UAC dialog); cb gets the final
 * answer. A 2xx sets the remote tag, route set and target of a UAC dialog. NULL on failure
 * (no callback then). */
sip_out_t *sip_dialog_send(sip_dialog_t *d, const char *method, const sip_dialog_headers_t *h,
                           sip_answer_f cb, void *arg);

/* Forget the dialog: no more requests reach on_request. Requests in flight stay. */
void sip_dialog_destroy(sip_dialog_t *d);

const char *sip_dialog_call_id(const sip_dialog_t *d);
const char *sip_dialog_local_tag(const sip_dialog_t *d);
const char *sip_dialog_remote_tag(const sip_dialog_t *d); /* NULL until known */
uint32_t sip_dialog_cseq(const sip_dialog_t *d);          /* of the last request we sent */
int sip_dialog_established(const sip_dialog_t *d);        /* remote tag known */

/* A request out of any dialog (third-party REGISTER): a new Call-ID and From tag, CSeq 1,
 * sent by its Request-URI. ruri, from, to: URIs. cb gets the final answer; NULL on failure
 * (no callback then). */
sip_out_t *sip_request_send(sip_core_t *core, const char *method, const char *ruri,
                            const char *from, const char *to, const sip_dialog_headers_t *h,
                            sip_answer_f cb, void *arg);

/* Drop a request in flight without waiting for its answer (no callback). Not from its own
 * callback (the request goes after the callback by itself). */
void sip_out_cancel(sip_out_t *o);

#endif
