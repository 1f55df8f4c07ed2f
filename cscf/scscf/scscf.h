/* The scscf's one context struct (hangs off program_t.app). */
#ifndef CSCF_SCSCF_H
#define CSCF_SCSCF_H

#include "common/program/program.h"
#include "common/store/store.h"
#include "cscf/scscf/auth.h"
#include "cscf/scscf/regevent.h"
#include "cscf/scscf/registrar.h"
#include "cscf/scscf/route.h"
#include "diameter/cx_node.h"

struct scscf {
    program_t *p;
    cx_node_t cx;
    char server_name[256];   /* our SIP URI, sent as Server-Name in MAR/SAR */
    char service_route[300]; /* "<sip:orig@host:port;lr", closed per REGISTER (bindings.c) */
    registrar_config_t rc;
    url_t *next_hop; /* other domains' requests (BGCF, I-CSCF, peer); NULL: 404 */
    auth_table_t auth;
    store_t *store;
    su_timer_t *tick;
    metric_t *m_regs, *m_contacts, *m_auth, *m_events;
    regevent_t *regevent;          /* reg event subscriptions (regevent.c) */
    struct isc *isc;               /* application servers: iFCs and odi tokens (isc.c) */
    struct unreg *unreg;           /* profiles of users registered nowhere (unreg.c) */
    struct thirdparty *thirdparty; /* third-party REGISTERs in flight (thirdparty.c) */
    struct icscf *icscf;           /* the I-CSCF role (icscf.c); NULL when icscf.enabled is off */
};

/* cx_handlers.c: what the scscf answers (RTR, PPR). */
extern const cx_node_handler_t scscf_cx_handlers[];
extern const size_t scscf_cx_nhandlers;

/* cx_debug.c: POST /api/v1/cx/{command}, an operator's way to ask the HSS by hand. */
int scscf_cx_debug_routes(scscf_t *s);

#endif
