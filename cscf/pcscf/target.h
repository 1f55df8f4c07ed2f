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
    int flow;        /* 1: the flow itself (its source address and port, its connection) */
} pc_target_t;

/* The next hop for a terminating request to this UE. 0, or -1 when neither the flow nor the
 * Contact gives an address. A Contact that names no transport is reached over the transport
 * the UE registered on (the flow's), not over whatever the request came to us on: a UE
 * registered over UDP gets its INVITE over UDP even when the core sent it over TCP. */
int pc_binding_target(const pc_reach_t *r, pc_delivery_t mode, pc_target_t *out);

/* RFC 5626 4.2 and 6: the REGISTER's (first) Contact has +sip.instance and reg-id, and the UE
 * supports outbound (Supported: outbound, or ;ob on the Contact URI). */
int pc_register_outbound(sip_t const *sip);

/* RFC 3261 18.1.1 towards a UE reached over UDP: a request of size bytes (Via included) above
 * limit goes over TCP only where TCP is known to reach the UE, otherwise over UDP anyway
 * (fragmented), unless the handset profile forces a transport. */
typedef enum pc_size_choice {
    PC_SEND_UDP,      /* over UDP, whatever the size (nta must not switch on its own) */
    PC_SEND_TCP_FLOW, /* over the UE's live TCP connection to us */
    PC_SEND_TCP_NEW,  /* over TCP to the UE's address (a new connection: profile says tcp) */
} pc_size_choice_t;

/* force: 0 none, 1 udp, 2 tcp (pcscf_profile_t.force_transport); have_tcp_flow: the UE has a
 * live TCP connection to us (flow_conn.c). */
pc_size_choice_t pc_udp_size_choice(size_t size, size_t limit, int force, int have_tcp_flow);

#endif
