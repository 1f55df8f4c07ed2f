/* S-CSCF request routing (route.c): the entry for every request but REGISTER and OPTIONS to
 * us; it hands initial requests to isc.c and icscf.c and continues them (route_req.h). */
#ifndef CSCF_SCSCF_ROUTE_H
#define CSCF_SCSCF_ROUTE_H

#include <sofia-sip/sip.h>

#include "common/sip/sip_core.h"
#include "cscf/scscf/core/context.h"

/* Every request but REGISTER and OPTIONS to us. Returns a status for nta, or 0. */
int route_request(scscf_t *s, sip_incoming_t *irq, sip_t const *sip);

/* The trust domain (RFC 3325, TS 24.229 4.4), for every request before it is handled: from a
 * source outside trust.peers, a request asking for originating service (our orig Route, an AS's
 * odi Route) or naming a further hop in its Route is refused with 403 (an ACK is dropped);
 * any other has its trust-domain headers removed (P-Asserted-Identity, ...) and goes on.
 * 0 to go on, the status it was answered with, or -1 for an ACK dropped. */
int route_screen(scscf_t *s, sip_incoming_t *irq, sip_t const *sip);

#endif
