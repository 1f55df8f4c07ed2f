/* Transaction-stateful proxying on top of nta (RFC 3261 16): header work on the request to be
 * forwarded, the client transaction, response relay and CANCEL.
 *
 * The header functions work on a msg_t/sip_t only, so unit tests drive them without a network. */
#ifndef CSCF_SIP_PROXY_H
#define CSCF_SIP_PROXY_H

#include <sofia-sip/msg.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/sip.h>

#include "common/sip/sip_core.h"

#define SIP_PROXY_DEFAULT_MAX_FORWARDS 70

/* Does this URI name us? Used for Route/Request-URI preprocessing. */
typedef int (*sip_is_self_f)(const void *ctx, const url_t *url);

/* RFC 3261 16.3 step 3: 483 when Max-Forwards is 0, else 0. */
int sip_proxy_check_max_forwards(sip_t const *sip);

/* RFC 3261 16.4: if the Request-URI is ours (a strict router before us put our Record-Route
 * there), restore it from the last Route; then drop a topmost Route that names us. */
void sip_proxy_preprocess_route(msg_t *msg, sip_t *sip, sip_is_self_f is_self, const void *ctx);

/* RFC 3261 16.6: decrement Max-Forwards (or add 70), add Record-Route when rr != NULL, and when
 * the next Route is a strict router (no lr) move it into the Request-URI (step 7 / 16.12).
 * Returns 0, or -1 when memory runs out. */
int sip_proxy_prepare(msg_t *msg, sip_t *sip, const url_t *rr);

/* Replaces the Request-URI; 0 or -1. */
int sip_proxy_set_request_uri(msg_t *msg, sip_t *sip, const url_t *uri);

/* Where the request goes next: the topmost Route, else the Request-URI. */
const url_t *sip_proxy_next_hop(sip_t const *sip);

/* RFC 3261 16.3 step 4: 482 when a Via of ours carries the branch this request would get
 * again (it has looped back unchanged, not spiralled), else 0. */
int sip_proxy_check_loop(sip_core_t *core, sip_t const *sip);

/* A forwarded request's relay. The program may look at each response before it is relayed. */
typedef struct sip_fwd sip_fwd_t;
/* Called on the loop for every response about to go upstream (msg/sip NULL for a status of the
 * relay's own: nta's verdict or no branch left). Returning non-zero drops that response. Called
 * once more with status 0 when the relay ends, so ctx can be released then. */
typedef int (*sip_fwd_response_f)(void *ctx, sip_fwd_t *fwd, int status, msg_t *msg, sip_t *sip);

/* Every response from a next hop passes fn before it is relayed upstream (before the relay's own
 * callback, and for a late 2xx relayed statelessly too): the program's screening of what a peer
 * may say (trust.c: trust-domain headers from an untrusted peer go). fn NULL: none. */
typedef void (*sip_response_screen_f)(void *ctx, msg_t *msg, sip_t *sip);
void sip_proxy_set_response_screen(sip_core_t *core, sip_response_screen_f fn, void *ctx);

/* Every response a relay passes upstream (and a final status of the relay's own: response
 * NULL), once it is sure to go, with the request it answers: a program's observer of
 * offer/answer and call outcomes (the pcscf's policy sessions). It must not change either
 * message. fn NULL: none (nothing is looked up then). */
typedef void (*sip_response_observe_f)(void *ctx, msg_t *request, int status, msg_t *response);
void sip_proxy_set_response_observer(sip_core_t *core, sip_response_observe_f fn, void *ctx);

/* From the response callback, for a final status >= 300 that has not gone upstream: ends the
 * relay without answering and hands the caller's transaction back (to answer, or to fork
 * again: an S-CSCF going on past a failed application server, TS 24.229 default handling).
 * The callback must then return non-zero. */
nta_incoming_t *sip_fwd_take(sip_fwd_t *f);
/* 1 once the caller's CANCEL was passed down. */
int sip_fwd_cancelled(const sip_fwd_t *f);

/* One branch: a prepared copy of the request (ownership is taken) and where it goes (NULL: its
 * Route/Request-URI). */
typedef struct sip_target {
    msg_t *msg;
    const url_t *next_hop;
    /* 0: nta's size rule (over UDP above its MTU it tries TCP, RFC 3261 18.1.1); else the
     * largest message sent as is over this branch's transport (the pcscf decides for its UEs) */
    unsigned mtu;
} sip_target_t;

/* Forward to n branches in parallel (RFC 3261 16.7): provisionals and every 2xx are relayed as
 * they come, a 2xx or 6xx cancels the branches still pending, otherwise the best final response
 * goes up once all have answered; a CANCEL of irq is passed down every branch; no answer
 * becomes 408, a transport failure 500. Returns 0, or a status the caller should answer with
 * (the messages are freed then). */
int sip_fork(sip_core_t *core, nta_incoming_t *irq, const sip_target_t *t, size_t n,
             sip_fwd_response_f cb, void *ctx);
/* sip_fork() with one branch. */
int sip_forward(sip_core_t *core, nta_incoming_t *irq, msg_t *msg, const url_t *next_hop,
                sip_fwd_response_f cb, void *ctx);

/* Ends every relay still open, calling each response callback with status 0 (nothing is sent;
 * nta_agent_destroy() reports nothing). A program calls it before freeing what those callbacks'
 * contexts point to; sip_core_free() calls it too. */
void sip_proxy_release_all(sip_core_t *core);

/* ACK to a 2xx and other requests with no transaction: sent statelessly (ownership taken). */
int sip_forward_stateless(sip_core_t *core, msg_t *msg, const url_t *next_hop);

/* A private copy of irq's request to modify before forwarding; NULL when memory runs out. */
msg_t *sip_proxy_copy_request(nta_incoming_t *irq);

#endif
