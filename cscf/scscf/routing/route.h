/* S-CSCF request routing (route.c). */
#ifndef CSCF_SCSCF_ROUTE_H
#define CSCF_SCSCF_ROUTE_H

#include <sofia-sip/msg.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/sip.h>

#include "common/store/store.h"

typedef struct scscf scscf_t;

/* One initial request being routed: the prepared copy waits here while the store answers and
 * while an application server has it. */
typedef struct route_req {
    scscf_t *s;
    nta_incoming_t *irq;
    msg_t *msg; /* prepared copy (Route preprocessed, Max-Forwards, Record-Route) */
    sip_t *sip;
    int orig;
    char target[300]; /* aor of the Request-URI (terminating) */
    char served[300]; /* the user whose iFCs apply (P-Served-User) */
    int sc;           /* ifc_case_t */
    size_t ifc_from;  /* the next iFC to evaluate */
    /* while at an application server (isc.c) */
    char odi[17];
    int default_handling, as_answered, resume;
} route_req_t;

/* Every request but REGISTER and OPTIONS to us. Returns a status for nta, or 0. */
int scscf_route(scscf_t *s, nta_incoming_t *irq, sip_t const *sip);
void route_terminating(route_req_t *rt);
/* No iFC left for rt->sc: originating goes to the terminating side, terminating to reg's
 * contacts. */
void route_after_ifc(route_req_t *rt, const store_reg_t *reg);
/* rt->target is a home user of this S-CSCF registered nowhere: unregistered services, else 480
 * (the I-CSCF role calls it when the HSS says the user is served here). */
void route_unregistered(route_req_t *rt);
/* Goes on with iFC evaluation for rt->served from rt->ifc_from (after an AS). */
void route_resume(route_req_t *rt);
void route_req_fail(route_req_t *rt, int status, const char *phrase);
void route_req_free(route_req_t *rt);

#endif
