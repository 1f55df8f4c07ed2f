/* Third-party registration (TS 24.229 5.4.1.7, TS 29.228 B.2.2): after a REGISTER succeeds, the
 * S-CSCF tells every application server whose iFC matches the REGISTER with a REGISTER of its
 * own (From/Contact the S-CSCF, To the IMPU, the Expires granted), carrying the UE's REGISTER,
 * our 200 and/or the iFC's ServiceInfo as the iFC asks. An AS that fails when its default
 * handling is SESSION_TERMINATED deregisters the user (network-initiated). */
#ifndef CSCF_SCSCF_THIRDPARTY_H
#define CSCF_SCSCF_THIRDPARTY_H

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>

#include "common/store/store.h"

typedef struct scscf scscf_t;
typedef struct thirdparty thirdparty_t;
typedef struct tpr_batch tpr_batch_t;

thirdparty_t *thirdparty_new(scscf_t *s);
/* Transactions still open are released (nta reports nothing once it is destroyed). */
void thirdparty_free(thirdparty_t *t);

/* Before the 200: the application servers reg's iFCs pick for this REGISTER (sip/msg, the UE's
 * request), copied out. NULL when none matches. */
tpr_batch_t *thirdparty_prepare(scscf_t *s, const store_reg_t *reg, const char *impu,
                                sip_t const *sip, msg_t *msg);
/* After the 200 (response: its text, or NULL): sends one REGISTER to each. Takes b. */
void thirdparty_send(scscf_t *s, tpr_batch_t *b, const char *response, long expires);

#endif
