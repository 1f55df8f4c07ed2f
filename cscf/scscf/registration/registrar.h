/* The S-CSCF registrar (ARCHITECTURE.md section 4, TS 24.229 5.4.1): REGISTER authenticated with
 * vectors from the HSS (MAR), then handed to the bindings (SAR, store, 200). Everything here runs
 * on the loop; each step that waits (store, Cx) continues in a callback. */
#ifndef CSCF_SCSCF_REGISTRAR_H
#define CSCF_SCSCF_REGISTRAR_H

#include <sofia-sip/sip.h>

#include "common/sip/sip_core.h"
#include "cscf/scscf/core/context.h"

/* The policies (s->rc), the store, the challenge table and the registration metrics. */
int registrar_init(scscf_t *s);
void registrar_fini(scscf_t *s);

/* sip_core handler part: REGISTER. Returns 0 (answered or in progress) or a status. */
int registrar_on_register(scscf_t *s, sip_incoming_t *irq, sip_t const *sip);

#endif
