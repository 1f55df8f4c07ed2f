/* The scscf's one context struct (hangs off program_t.app), at the bottom of cscf/scscf so every
 * layer above (registration, routing, the top) reads it without including the others: the
 * modules' own state is named by opaque pointers, each module's header gives its type. */
#ifndef CSCF_SCSCF_CORE_CONTEXT_H
#define CSCF_SCSCF_CORE_CONTEXT_H

#include "common/program/program.h"
#include "common/store/store.h"
#include "cscf/scscf/core/auth.h"
#include "diameter/cx_node.h"

typedef struct scscf scscf_t;

struct scscf {
    program_t *p;
    cx_node_t cx;
    char server_name[256];       /* our SIP URI, sent as Server-Name in MAR/SAR */
    char service_route[300];     /* "<sip:orig@host:port;lr", closed per REGISTER (bindings.c) */
    char service_route_tls[300]; /* the same on the TLS listener; "" without one */
    struct registrar_config *rc; /* the registrar.* policies (registration/reg_config.h) */
    url_t *next_hop;             /* other domains' requests (BGCF, I-CSCF, peer); NULL: 404 */
    auth_table_t auth;
    struct auth_guard *guard; /* per-IMPI back-off and the MAR budget (core/auth_guard.h) */
    store_t *store;
    int store_outage; /* a store failure was logged and no call succeeded since (reg_req.c) */
    su_timer_t *tick;
    metric_t *m_regs, *m_contacts, *m_auth, *m_events;
    metric_t *m_auth_failures, *m_auth_refused; /* cscf_auth_failures_total{reason}, ..._refused */
    metric_t *m_mars_in_flight;                 /* cscf_auth_mars_in_flight */
    /* caps: registrar.max_registrations, limits.challenges (common/ops/limits.h) */
    struct cap *cap_regs, *cap_challenges;
    struct regevent *regevent;     /* reg event subscriptions (registration/regevent.c) */
    struct isc *isc;               /* application servers: iFCs and odi tokens (routing/isc.c) */
    struct unreg *unreg;           /* profiles of users registered nowhere (routing/unreg.c) */
    struct thirdparty *thirdparty; /* third-party REGISTERs in flight (routing/thirdparty.c) */
    const struct reg_req_hooks *reg_hooks; /* a 200 to REGISTER, reported upward (scscf_init) */
    struct icscf *icscf; /* the I-CSCF role (routing/icscf.c); NULL when icscf.enabled is off */
    struct trust_guard *trust; /* trust.peers: whose identity and orig Route we believe */
};

#endif
