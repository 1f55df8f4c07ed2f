/* S-CSCF request routing (route.c): the entry for every request but REGISTER and OPTIONS to
 * us; it hands initial requests to isc.c and icscf.c and continues them (route_req.h). */
#ifndef CSCF_SCSCF_ROUTE_H
#define CSCF_SCSCF_ROUTE_H

#include <sofia-sip/sip.h>

#include "common/sip/sip_core.h"
#include "cscf/scscf/core/context.h"

/* Every request but REGISTER and OPTIONS to us. Returns a status for nta, or 0. */
int route_request(scscf_t *s, sip_incoming_t *irq, sip_t const *sip);

#endif
