/* The P-CSCF as subscriber to the registration event package (TS 24.229 5.2.3, RFC 3680): one
 * subscription per registered IMPU (the UE's default IMPU), started when its first binding
 * appears, refreshed before it expires, ended when its last binding goes. NOTIFYs that say a
 * registration or contact is terminated remove the matching bindings from the P-CSCF's view.
 * Loop thread only (REST through loopq_call). */
#ifndef CSCF_PCSCF_REGSUB_H
#define CSCF_PCSCF_REGSUB_H

#include <sofia-sip/sip.h>

#include "common/sip/sip_core.h"

typedef struct pcscf pcscf_t;

#define REGSUB_EXPIRES 600000 /* asked for; the S-CSCF cuts it to the registration's */

int regsub_init(pcscf_t *pc);
void regsub_fini(pcscf_t *pc);

/* A binding for impu appeared (the first one subscribes) or went (the last one unsubscribes). */
void regsub_ref(pcscf_t *pc, const char *impu);
void regsub_unref(pcscf_t *pc, const char *impu);

/* A reg NOTIFY for a dialog nta no longer knows (we forgot the subscription): 481, so the
 * S-CSCF drops it too. Returns the status sent, or 0 when the request is not one of ours. */
int regsub_stray_notify(pcscf_t *pc, sip_incoming_t *irq, sip_t const *sip);

#endif
