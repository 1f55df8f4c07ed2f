/* The charging and access headers of RFC 7315 that stay inside the trust domain
 * (TS 24.229 4.4, 5.2.6, 5.4): P-Charging-Vector (icid-value, orig-ioi, term-ioi),
 * P-Charging-Function-Addresses and P-Access-Network-Info.
 *
 * P-Access-Network-Info comes from the UE and is passed on within the trust domain;
 * P-Charging-Vector and P-Charging-Function-Addresses are the network's (trust.h removes them
 * from what an untrusted source sends). None of the three leaves the trust domain:
 * charging_screen_hop() removes them from a request whose next hop is not a trusted peer. */
#ifndef CSCF_SIP_CHARGING_H
#define CSCF_SIP_CHARGING_H

#include <stddef.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>

#include "common/sip/trust.h"

/* The keys both CSCFs read (each program's table includes them; a change needs a restart). */
#define CHARGING_KEY_ROWS                                                                          \
    {"charging.ioi",                                                                               \
     CFG_STRING,                                                                                   \
     "",                                                                                           \
     "this network's Inter Operator Identifier (RFC 7315 4.6, TS 24.229 4.5.5): the pcscf puts "   \
     "it as orig-ioi in the P-Charging-Vector of REGISTER and originating requests, the scscf "    \
     "as term-ioi in its 200 to REGISTER (type 1 IOIs) and as orig-ioi of requests to an "         \
     "application server (type 3); \"\": the pcscf's sip.domain, the domain of the REGISTER's "    \
     "Request-URI at the scscf (sip.domain towards an application server)",                        \
     0,                                                                                            \
     0,                                                                                            \
     NULL},                                                                                        \
        {"charging.ccf",                                                                           \
         CFG_LIST,                                                                                 \
         "",                                                                                       \
         "Charging Collection Function addresses (ccf= of P-Charging-Function-Addresses, RFC "     \
         "7315 4.5): the pcscf adds them to REGISTER and originating requests that have none, "    \
         "the scscf to its 200 to REGISTER; empty (and charging.ecf empty): no header",            \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
    {                                                                                              \
        "charging.ecf", CFG_LIST, "",                                                              \
            "Event Charging Function addresses (ecf= of P-Charging-Function-Addresses), as "       \
            "charging.ccf",                                                                        \
            0, 0, NULL                                                                             \
    }

/* The headers removed from a request that leaves the trust domain. NULL-terminated. */
extern const char *const charging_domain_headers[];

/* A new icid-value: 32 hex digits. 0 or -1. */
int charging_new_icid(char *out, size_t len);

/* The value of parameter `name` of a P-Charging-Vector value ("icid-value=x;orig-ioi=y"),
 * quotes kept; 0, or -1 when it is not there (out is "" then). */
int charging_vector_param(const char *pcv, const char *name, char *out, size_t len);

/* Sets the request's P-Charging-Vector: the icid-value (and icid-generated-at) of the one it
 * carries, else a new one generated at `host`; orig_ioi and term_ioi when not NULL or "" (a
 * parameter the old value had is dropped otherwise: IOIs are per hop). 0 or -1. */
int charging_set_vector(msg_t *msg, sip_t *sip, const char *host, const char *orig_ioi,
                        const char *term_ioi);

/* Adds P-Charging-Function-Addresses from the lists (quoted when not a token) when the request
 * has none and a list is not empty. 0 or -1. */
int charging_add_function_addresses(msg_t *msg, sip_t *sip, const char *const *ccf, size_t nccf,
                                    const char *const *ecf, size_t necf);

/* The P-Charging-Function-Addresses value of the lists into out; 0, or -1 (too long, or both
 * lists empty: no header). */
int charging_function_addresses(const char *const *ccf, size_t nccf, const char *const *ecf,
                                size_t necf, char *out, size_t len);

/* The P-Charging-Vector of the 200 to a REGISTER (TS 24.229 5.4.1.2.2): the request's icid-value
 * (a new one when it had none) and orig-ioi, term-ioi naming this network. 0 or -1. */
int charging_register_vector(sip_t const *request, const char *term_ioi, char *out, size_t len);

/* Removes every charging_domain_headers entry; how many. */
int charging_strip(msg_t *msg, sip_t *sip);

/* The request is about to go to next (NULL: its topmost Route, else its Request-URI): when that
 * hop is not a trusted peer (trust_guard_url_trusted()), charging_strip(). How many went. */
int charging_screen_hop(const trust_guard_t *g, msg_t *msg, sip_t *sip, const url_t *next);

#endif
