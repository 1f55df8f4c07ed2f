/* Emergency requests at the P-CSCF (TS 24.229 5.2.10, RFC 5031, TS 23.167).
 *
 * Recognised (emergency_request()), outside a dialog:
 *   - a Request-URI that is an emergency service URN: urn:service:sos and its sub-services
 *     (urn:service:sos.police, ...);
 *   - a Request-URI whose number is one of emergency.numbers: tel:112, sip:911@any.host (the
 *     user part, visual separators removed, parameters ignored);
 *   - a REGISTER with a Contact carrying the `sos` URI parameter (emergency registration,
 *     5.2.10.2): it goes to the registrar as any REGISTER, it is only never shed.
 * Admission (the pcscf's classify callback) never sheds them for lag; routing sends the other
 * methods to emergency.ecscf_uri (pc_emergency_route()). The metric
 * cscf_emergency_requests_total{result} counts what became of each. */
#ifndef CSCF_PCSCF_EMERGENCY_H
#define CSCF_PCSCF_EMERGENCY_H

#include <stdbool.h>

#include "cscf/pcscf/pcscf.h"

#define PC_EMERGENCY_KEYS                                                                          \
    {"emergency.ecscf_uri",                                                                        \
     CFG_STRING,                                                                                   \
     "",                                                                                           \
     "where emergency requests go (the E-CSCF, a SIP URI, e.g. sip:ecscf.example.net;lr); \"\": "  \
     "none here, an emergency request is answered 380 Alternative Service with the 3GPP IM CN "    \
     "subsystem XML body (type emergency, no action: the UE tries another domain, TS 24.229 "      \
     "5.2.10); a reload applies it",                                                               \
     0,                                                                                            \
     0,                                                                                            \
     NULL},                                                                                        \
        {"emergency.numbers",                                                                      \
         CFG_LIST,                                                                                 \
         "112,911",                                                                                \
         "dialled numbers that are emergency calls: a Request-URI tel:N or sip:N@host goes to "    \
         "the E-CSCF as urn:service:sos; an entry N=SUB maps to urn:service:sos.SUB "              \
         "(110=police); "                                                                          \
         "a reload applies it",                                                                    \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {"emergency.allow_unregistered",                                                           \
         CFG_BOOL,                                                                                 \
         "true",                                                                                   \
         "emergency requests from UEs not registered here (no binding, no IPsec) go to the "       \
         "E-CSCF too (TS 24.229 5.2.10.3, UEs without credentials); false: they get 380 with "     \
         "action emergency-registration; a reload applies it",                                     \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
    {                                                                                              \
        "emergency.resource_priority", CFG_STRING, "esnet.1",                                      \
            "Resource-Priority (RFC 4412, namespace esnet of RFC 7135) added to an emergency "     \
            "request that has none; \"\": none added; a reload applies it",                        \
            0, 0, NULL                                                                             \
    }

/* Is this an emergency request (see above)? Cheap: no allocation, one pass over the list. */
bool emergency_request(const sip_t *sip, const pcscf_t *pc);

int pc_emergency_check(const cfg_t *cfg, char *err, size_t len);
int pc_emergency_init(pcscf_t *pc);
void pc_emergency_fini(pcscf_t *pc);
/* A reload of one key: 1 applied, 0 not an emergency key (or not applied). */
int pc_emergency_reload(pcscf_t *pc, const cfg_t *cfg, const char *key);
/* Counts one request under cscf_emergency_requests_total{result}. */
void pc_emergency_count(pcscf_t *pc, const char *result);

/* An emergency request (not REGISTER) from a UE: to the E-CSCF, or 380. b: its binding, NULL
 * when unregistered. Returns a status or 0, as pcscf_route(). */
int pc_emergency_route(pcscf_t *pc, sip_incoming_t *irq, sip_t const *sip, const pc_binding_t *b);

#endif
