/* The S-CSCF's side of ISC (TS 24.229 5.4.3.2/5.4.3.3, TS 23.218): a request whose served user
 * has iFCs matching it goes to each matching application server in turn, with a Route back to
 * us that names where evaluation stopped (an "odi" token), and P-Served-User (RFC 5502). When
 * an AS fails before answering, its iFC's default handling decides: go on with the next iFC
 * (SESSION_CONTINUED) or pass the failure back (SESSION_TERMINATED). */
#ifndef CSCF_SCSCF_ISC_H
#define CSCF_SCSCF_ISC_H

#include <sofia-sip/sip.h>

#include "common/store/store.h"
#include "cscf/scscf/routing/route_req.h"

typedef struct isc isc_t;

/* Owns the odi table (sweep timer) and the iFC cache; registers the cscf_isc_* metrics. */
isc_t *isc_new(scscf_t *s);
void isc_free(isc_t *isc);

/* Evaluates the served user's iFCs (reg is its registration) from rt->ifc_from for session
 * case rt->sc: the request goes to the next matching AS, or, when none is left, on (see
 * route_after_ifc). Takes rt. */
void isc_next(route_req_t *rt, const store_reg_t *reg);

/* The parsed iFCs of reg's profile (cached per IMPI), or NULL. Valid until the next call. */
const struct ifc_list *isc_ifcs(isc_t *isc, const store_reg_t *reg);

/* The request came back from an AS: when its top Route is an odi Route of ours, fills rt's
 * served user, session case, next iFC and target in from the token (used once) and returns 1;
 * 0 when the top Route is not an odi one; -1 when the token is unknown or expired. */
int isc_odi_take(isc_t *isc, sip_t const *sip, route_req_t *rt);

#endif
