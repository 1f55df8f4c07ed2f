/* S-CSCF request routing (route.c). */
#ifndef CSCF_SCSCF_ROUTE_H
#define CSCF_SCSCF_ROUTE_H

#include <sofia-sip/msg.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/sip.h>

typedef struct scscf scscf_t;

/* One initial request being routed: the prepared copy waits here while the store answers. */
typedef struct route_req {
    scscf_t *s;
    nta_incoming_t *irq;
    msg_t *msg; /* prepared copy (Route preprocessed, Max-Forwards, Record-Route) */
    sip_t *sip;
    int orig;
    char target[300]; /* aor of the Request-URI */
} route_req_t;

/* Every request but REGISTER and OPTIONS to us. Returns a status for nta, or 0. */
int scscf_route(scscf_t *s, nta_incoming_t *irq, sip_t const *sip);
void route_terminating(route_req_t *rt);
void route_req_fail(route_req_t *rt, int status, const char *phrase);
void route_req_free(route_req_t *rt);

#endif
