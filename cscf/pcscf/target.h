/* Where the P-CSCF sends a terminating request for a registered UE (RFC 3261 10.3 and 16.6,
 * RFC 5626 5.3 and 6, TS 24.229 5.2.6.4): over the UE's registered flow, or to its Contact.
 * Pure functions of a binding and the configured mode, so they are unit tested without a
 * network; the IPsec datapath later adds its protected server port (port_us) here. */
#ifndef CSCF_PCSCF_TARGET_H
#define CSCF_PCSCF_TARGET_H

#include <stddef.h>

#include <sofia-sip/sip.h>

/* pcscf.terminating_delivery */
typedef enum {
    PC_DELIVER_AUTO,    /* the flow for RFC 5626 outbound registrations and NATed UEs, else the
                           Contact */
    PC_DELIVER_CONTACT, /* always the Contact's address and port */
    PC_DELIVER_FLOW,    /* always the address, port and connection the REGISTER came from */
} pc_delivery_t;

/* "auto", "contact" or "flow"; 0, or -1 for anything else. */
int pc_delivery_parse(const char *s, pc_delivery_t *out);

/* What the choice needs of a binding (pc_binding_t holds it). */
typedef struct pc_reach {
    const char *flow;    /* where the REGISTER came from: "udp:192.0.2.1:5060" */
    const char *contact; /* the registered Contact URI */
    int outbound;        /* registered with RFC 5626 outbound (pc_register_outbound) */
} pc_reach_t;

typedef struct pc_target {
    char url[300];   /* the next hop, e.g. "sip:192.0.2.1:5062;transport=udp" */
    const char *why; /* for the log: "outbound flow", "flow (NAT)", "contact", ... */
} pc_target_t;

/* The next hop for a terminating request to this UE. 0, or -1 when neither the flow nor the
 * Contact gives an address. */
int pc_binding_target(const pc_reach_t *r, pc_delivery_t mode, pc_target_t *out);

/* RFC 5626 4.2 and 6: the REGISTER's (first) Contact has +sip.instance and reg-id, and the UE
 * supports outbound (Supported: outbound, or ;ob on the Contact URI). */
int pc_register_outbound(sip_t const *sip);

#endif
