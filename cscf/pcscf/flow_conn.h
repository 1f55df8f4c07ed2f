/* The UEs' connections (RFC 5626 flows) at the P-CSCF: which TCP/TLS connection each binding
 * registered over, whether it is still there, keep-alives on it, and the RFC 3261 18.1.1 size
 * rule towards UEs reached over UDP.
 *
 * - Every REGISTER over TCP/TLS leaves its connection here (a tport reference, by flow). The
 *   1 s tick looks at them: one the UE closed or reset, or that missed its pongs, marks its
 *   binding's flow dead (log line, cscf_flows_dead_total). A terminating request for a dead
 *   flow gets 430 Flow Failed (outbound binding, RFC 5626 5.3) or 480 at once instead of a
 *   connection attempt towards the UE's ephemeral port that hangs until Timer B/F.
 * - CRLF keep-alive (RFC 5626 4.4.1, 3.5.1): every TCP listener answers a double-CRLF ping with
 *   a single CRLF pong (sofia tport's TPTAG_PONG2PING); flows.ping_seconds makes the P-CSCF
 *   ping a registered UE's connection itself and close it (flow dead) when no pong comes within
 *   flows.pong_timeout_ms (TPTAG_KEEPALIVE / TPTAG_PINGPONG on that connection only, so the
 *   core's connections are never pinged). The 2xx to a REGISTER over TCP/TLS, or with outbound,
 *   gets Flow-Timer: flows.keepalive_seconds; an outbound one gets Require: outbound.
 * - Size: a request above flows.max_udp_size for a UE reached over UDP goes over TCP only over
 *   a live TCP connection from the same IP address that registered the same IMPI (the only
 *   TCP known to reach it); otherwise over UDP anyway, never through nta's own switch to a new
 *   TCP connection (target.h pc_udp_size_choice).
 * Loop thread only. */
#ifndef CSCF_PCSCF_FLOW_CONN_H
#define CSCF_PCSCF_FLOW_CONN_H

#include "cscf/pcscf/pcscf.h"

/* What a handset profile may change here. i19-profiles' pcscf_profile_t carries these
 * (keepalive_seconds, force_transport, max_udp_size); until it is joined, every binding gets
 * the config's values (pc_flows_hint). */
typedef struct flows_profile_hint {
    int keepalive_seconds; /* Flow-Timer; 0: none */
    int force_transport;   /* 0 none, 1 udp, 2 tcp */
    int max_udp_size;      /* RFC 3261 18.1.1's 1300 by default */
} flows_profile_hint_t;

/* The config's values for this binding (b may be NULL), then the profile's where it sets them. */
void pc_flows_hint(const pcscf_t *pc, const pc_binding_t *b, flows_profile_hint_t *out);

#define PC_FLOWS_KEYS                                                                              \
    {"flows.keepalive_seconds",                                                                    \
     CFG_INT,                                                                                      \
     "120",                                                                                        \
     "Flow-Timer (RFC 5626 4.4.1) in the 2xx to a REGISTER over TCP/TLS or with outbound: how "    \
     "often the UE sends its CRLF keep-alive (answered with a CRLF pong on every TCP listener); "  \
     "0: no Flow-Timer (a reload applies it)",                                                     \
     0,                                                                                            \
     3600,                                                                                         \
     NULL},                                                                                        \
        {"flows.ping_seconds",                                                                     \
         CFG_INT,                                                                                  \
         "0",                                                                                      \
         "the P-CSCF pings a registered UE's TCP/TLS connection (double CRLF) every N s and "      \
         "closes it, marking the flow dead, when no pong comes within flows.pong_timeout_ms; 0: "  \
         "no pings (the UE keeps its flow alive); applies to connections registering after a "     \
         "reload",                                                                                 \
         0,                                                                                        \
         3600,                                                                                     \
         NULL},                                                                                    \
        {"flows.pong_timeout_ms",                                                                  \
         CFG_INT,                                                                                  \
         "10000",                                                                                  \
         "how long a ping of flows.ping_seconds waits for its pong (RFC 5626 4.4.1: 10 s)",        \
         100,                                                                                      \
         120000,                                                                                   \
         NULL},                                                                                    \
    {                                                                                              \
        "flows.max_udp_size", CFG_INT, "1300",                                                     \
            "RFC 3261 18.1.1: a request to a UE reached over UDP larger than this goes over TCP "  \
            "when the UE has a live TCP connection to us (same IP address, same IMPI), else over " \
            "UDP anyway (a reload applies it)",                                                    \
            500, 65535, NULL                                                                       \
    }

int pc_flows_conn_init(pcscf_t *pc);
void pc_flows_conn_fini(pcscf_t *pc);
/* flows.* changed on a reload: 1 applied. */
int pc_flows_reload(pcscf_t *pc, const cfg_t *cfg, const char *key);
/* After every listener is bound (IPsec adds its own): CRLF pongs on all TCP/TLS ones. */
void pc_flows_listeners_ready(pcscf_t *pc);

/* A REGISTER arrived on flow (register.c): its connection is kept when it is one. */
void pc_flow_seen(pcscf_t *pc, sip_incoming_t *irq, const char *flow);
/* A binding was stored / is going (flows.c). */
void pc_flow_bound(pcscf_t *pc, const pc_binding_t *b);
void pc_flow_unbound(pcscf_t *pc, const pc_binding_t *b);
/* Every second (flows.c's tick): connections gone mark their flows dead. */
void pc_flows_tick(pcscf_t *pc);

/* A terminating request is about to go to t (route.c): 0 to send it (t may now name the UE's
 * TCP connection; *mtu is the branch's size limit, 0 for nta's), or the status to answer with
 * (430 / 480: the flow is dead). */
int pc_flow_deliver(pcscf_t *pc, pc_binding_t *b, msg_t *msg, pc_target_t *t, unsigned *mtu);

/* RFC 5626 5.3: the token for our Record-Route entry (sip:flow.<token>@pcscf;lr) in a dialog
 * of this binding's UE, when it is an outbound one on a live TCP/TLS connection; else NULL (our
 * usual entry: the dialog's requests follow the UE's Contact). */
const char *pc_flow_rr_token(pcscf_t *pc, const pc_binding_t *b);
/* An in-dialog request (or ACK) from flow `from`: 1 when its top Route is one of our flow
 * tokens, it does not come from that flow and it comes from the trust domain (t is then that
 * flow); 430 when the token's flow is gone; 0 for anything else (route it as usual). */
int pc_flow_in_dialog(pcscf_t *pc, sip_incoming_t *irq, sip_t const *sip, const char *from,
                      pc_target_t *t);

/* The 2xx to this REGISTER is about to go to the UE (register.c): Flow-Timer, Require:
 * outbound. */
void pc_flows_on_register_ok(pcscf_t *pc, const pc_binding_t *b, msg_t *msg, sip_t *sip);

#endif
