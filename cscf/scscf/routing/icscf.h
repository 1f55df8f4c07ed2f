/* The I-CSCF role of the scscf program (TS 24.229 5.3, TS 29.228 6.1.1 and 6.1.4): with
 * icscf.enabled, a REGISTER first asks the HSS which S-CSCF serves the user (UAR) and goes to
 * the local registrar or to that S-CSCF; a terminating request for a home user not registered
 * here asks where the user is served (LIR) and goes there. Everything runs on the loop; each Cx
 * answer continues in a callback. */
#ifndef CSCF_SCSCF_ICSCF_H
#define CSCF_SCSCF_ICSCF_H

#include <sofia-sip/sip.h>

#include "common/ops/config.h"
#include "common/sip/sip_core.h"
#include "cscf/scscf/routing/route_req.h"

typedef struct icscf icscf_t;

#define ICSCF_KEY_ROWS                                                                             \
    {"icscf.enabled",                                                                              \
     CFG_BOOL,                                                                                     \
     "false",                                                                                      \
     "also act as the network's I-CSCF: UAR on REGISTER, LIR for home users not registered "       \
     "here",                                                                                       \
     0,                                                                                            \
     0,                                                                                            \
     NULL},                                                                                        \
    {                                                                                              \
        "icscf.scscfs", CFG_LIST, "",                                                              \
            "S-CSCFs to choose from when the HSS answers with Server-Capabilities only: "          \
            "\"URI [capability ...]\", e.g. \"sip:10.0.0.7:6060 1 2\"",                            \
            0, 0, NULL                                                                             \
    }

/* --check: every icscf.scscfs entry parses. 0, or -1 with the key named in err. */
int icscf_check_config(const cfg_t *cfg, char *err, size_t len);

/* NULL when icscf.enabled is false (s->icscf stays NULL) or on error (*failed set). */
icscf_t *icscf_new(scscf_t *s, int *failed);
/* After cx_node_stop: requests whose Cx answer will never come are released. */
void icscf_free(icscf_t *ic);

/* REGISTER with the role on. Returns 0 (answered or in progress) or a status for nta. */
int icscf_on_register(scscf_t *s, sip_incoming_t *irq, sip_t const *sip);

/* A terminating request whose target is not registered here. 1 when the I-CSCF took rt (it
 * asks the HSS and ends or forwards rt), 0 when the role is off or the Request-URI is not a
 * home-domain user (the caller goes on as before). */
int icscf_locate(route_req_t *rt);

#endif
