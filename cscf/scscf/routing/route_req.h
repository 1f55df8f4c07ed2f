/* One initial request being routed by the S-CSCF, the steps it goes on with, and its end: the
 * bottom of routing's request path. route.c creates it and names its continuations; isc.c (an
 * application server's turn) and icscf.c (the HSS asked where the user is) continue it through
 * them, so neither calls back into route.c. */
#ifndef CSCF_SCSCF_ROUTE_REQ_H
#define CSCF_SCSCF_ROUTE_REQ_H

#include <stddef.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>

#include "common/sip/sip_core.h"
#include "common/store/store.h"
#include "cscf/scscf/core/context.h"

/* One initial request being routed: the prepared copy waits here while the store answers and
 * while an application server has it. */
typedef struct route_req {
    scscf_t *s;
    sip_incoming_t *irq;
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
    int as_tls_rr; /* our Record-Route entry went to the AS as the TLS listener's (isc.c) */
    /* where the request goes on (route.c); isc.c and icscf.c continue through it */
    const struct route_req_next *next;
} route_req_t;

/* How a request goes on after a step that another module took (route.c fills them in). */
typedef struct route_req_next {
    /* No iFC left for rt->sc: originating goes to the terminating side, terminating to reg's
     * contacts. */
    void (*after_ifc)(route_req_t *rt, const store_reg_t *reg);
    /* Goes on with iFC evaluation for rt->served from rt->ifc_from (after an AS). */
    void (*resume)(route_req_t *rt);
    /* rt->target is a home user of this S-CSCF registered nowhere: unregistered services, else
     * 480 (the I-CSCF role, when the HSS says the user is served here). */
    void (*unregistered)(route_req_t *rt);
} route_req_next_t;

/* Ends the request with a status of ours (the irq was kept: it is answered and released). */
void route_req_fail(route_req_t *rt, int status, const char *phrase);
void route_req_free(route_req_t *rt);

#endif
