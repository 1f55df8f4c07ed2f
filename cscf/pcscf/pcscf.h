/* The pcscf's one context struct (program_t.app). */
#ifndef CSCF_PCSCF_H
#define CSCF_PCSCF_H

#include <stdint.h>

#include <jansson.h>

#include "common/ipsec/ipsec_dp.h"
#include "common/program/program.h"
#include "common/util/strmap.h"
#include "cscf/pcscf/target.h"

/* Where one SA set of a protected UE stands (TS 33.203 7.4). */
typedef enum pc_sa_state {
    PC_SA_NONE,      /* slot unused: the UE is not protected */
    PC_SA_TEMPORARY, /* installed when the 401 went out; waits for the 200 (or expires unused) */
    PC_SA_ACTIVE,    /* the registration's set: everything to and from the UE goes through it */
    PC_SA_OLD,       /* replaced by a newer ACTIVE set; usable until until_ms (ipsec.grace) */
} pc_sa_state_t;

/* One SA set with what is needed to re-install it after a restart. What our Security-Server
 * said follows from it (alg/ealg from set.keys, SPIs and ports from set; we send no q), so the
 * Security-Verify of a later request is checked against it (reg_ipsec.c). */
typedef struct pc_sa {
    pc_sa_state_t state;
    ipsec_sa_set_t set; /* addresses, ports, SPIs, keys (never shown), outbound sequences */
    int64_t until_ms;   /* wall clock (ms since the epoch): when a TEMPORARY set expires unused
                         * or an OLD set is removed; 0 for NONE and ACTIVE */
} pc_sa_t;

/* What the P-CSCF keeps of a registered UE (TS 24.229 5.2.2): fed by the 200 to its REGISTER. */
typedef struct pc_binding {
    char flow[96];  /* where the UE sends from: "udp:192.0.2.1:5060" */
    char token[24]; /* in our Path: sip:term.<token>@pcscf;lr finds this flow again */
    char contact[512];
    int outbound;  /* registered with RFC 5626 outbound: requests go over the flow */
    int flow_dead; /* its TCP/TLS connection is gone (flow_conn.c): 430/480, not a new one */
    char impi[256];
    char impu[256];           /* default IMPU: first P-Associated-URI, else To (reg event) */
    char associated[1024];    /* P-Associated-URI as received */
    char service_route[1024]; /* Service-Route as received, to pre-load on requests */
    int64_t expires_at, registered_at;
    char profile[32]; /* the handset profile matched at REGISTER (profiles.h); "": default */
    /* IPsec (ipsec.mode not off and the UE agreed): [0] the ACTIVE set, [1] the OLD set during
     * its grace period; state NONE when unused. An unprotected UE has sa[0].state NONE. */
    pc_sa_t sa[2];
} pc_binding_t;

typedef struct pcscf {
    program_t *p;
    const char *registrar; /* next hop for REGISTER (a SIP URI) */
    int core_tcp;          /* it names TCP: our Path asks the S-CSCF to come back that way */
    /* It is sips: or names TLS and we have a TLS listener: the core leg is TLS both ways (our
     * Path and core-side Record-Route are the TLS listener's). */
    int core_tls;
    const char *visited_network;
    pc_delivery_t delivery; /* pcscf.terminating_delivery (a reload changes it) */
    strmap_t *by_flow, *by_token;
    su_timer_t *tick;
    metric_t *m_regs;
    struct regsub_ctx *regsub; /* reg event subscriptions (regsub.c) */
    struct pc_state *state;    /* pcscf.state_file, SA metrics (state.c) */
    struct pc_ipsec *ipsec;    /* sec-agree and the SA datapath (reg_ipsec.c); NULL: mode off */
    struct trust_guard *trust; /* trust.peers: the S-CSCFs that may use our Path tokens */
    struct cap *cap_bindings, *cap_regsubs; /* limits.bindings, limits.reg_subscriptions */
    struct pc_challenged *challenged; /* nonces of the 401s relayed (challenged.h) */
    struct pc_flows *flows;          /* the UEs' connections, keep-alives, UDP size (flow_conn.c) */
    struct pcscf_profiles *profiles; /* pcscf.profiles (profiles.c) */
    struct pc_emergency *emergency;  /* emergency.* (emergency.c) */
    struct policy *policy;           /* policy.backend (policy/policy.c); NULL: none */
    const char *ioi;                 /* charging.ioi, else sip.domain (orig-ioi) */
    const char *const *ccf, *const *ecf; /* charging.ccf, charging.ecf */
    size_t nccf, necf;
} pcscf_t;

/* register.c */
int pcscf_on_register(pcscf_t *pc, sip_incoming_t *irq, sip_t const *sip);
/* route.c: every request but REGISTER and OPTIONS to us. Returns a status or 0. */
int pcscf_route(pcscf_t *pc, sip_incoming_t *irq, sip_t const *sip);
/* P-Charging-Vector (icid-value kept from a trusted sender, else new; orig-ioi charging.ioi)
 * and P-Charging-Function-Addresses (charging.ccf/ecf, unless present) on a request from a UE
 * to the core (RFC 7315, TS 24.229 5.2.2, 5.2.6.3). */
int pcscf_add_charging_vector(pcscf_t *pc, msg_t *msg, sip_t *sip);
/* The relay's response observer (sip_proxy_set_response_observer) when policy.backend is set:
 * offers/answers and outcomes of INVITE/UPDATE to the policy sessions. */
void pcscf_policy_observe(void *ctx, msg_t *request, int status, msg_t *response);
/* The identity a registered UE's request is asserted as (RFC 3325, TS 24.229 5.2.6.3.1). */
int pcscf_assert_identity(msg_t *msg, sip_t *sip, const pc_binding_t *b);
/* Forwards a request from a UE (b: its binding, NULL when unregistered) with our Record-Route
 * (the protected port's towards a protected UE); msg is taken. A status or 0. */
int pcscf_forward_from_ue(pcscf_t *pc, sip_incoming_t *irq, msg_t *msg, const pc_binding_t *b);
/* The next hop of a terminating request to this UE (target.h), by pc->delivery. */
int pcscf_binding_target(const pcscf_t *pc, const pc_binding_t *b, pc_target_t *out);
/* flows.c */
pc_binding_t *pcscf_binding_by_token(pcscf_t *pc, const char *token);
int pcscf_flows_init(pcscf_t *pc);
void pcscf_flows_fini(pcscf_t *pc);
pc_binding_t *pcscf_binding(pcscf_t *pc, const char *flow);
/* After a 2xx to a REGISTER: store (expires > 0) or remove. */
void pcscf_binding_update(pcscf_t *pc, const pc_binding_t *b, long expires);
/* A binding read back from pcscf.state_file (state.c), kept as it was (expiry included); b is
 * malloc'd and becomes the table's, or is freed. 0, or -1 (a flow or token already taken). */
int pcscf_binding_restore(pcscf_t *pc, pc_binding_t *b);
/* One binding as GET /api/v1/registrations shows it: flow, identities, contact, delivery
 * target, expiry (seconds left at now) and its SA sets (`sa`, sa_view.c; never keys). */
json_t *pcscf_binding_json(const pcscf_t *pc, const pc_binding_t *b, int64_t now);
/* Is aor the binding's default IMPU or one of its P-Associated-URIs? */
int pcscf_binding_has_identity(const pc_binding_t *b, const char *aor);
/* A reg event NOTIFY said so: drop the bindings of this IMPU (aor) or with this contact URI. */
void pcscf_bindings_drop(pcscf_t *pc, const char *aor, const char *contact);
/* Removes the binding of this flow (its SA sets go too), logging why. */
void pcscf_binding_drop(pcscf_t *pc, const char *flow, const char *why);

#endif
