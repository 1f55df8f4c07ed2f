/* The S-CSCF as notifier of the registration event package (RFC 3680 over RFC 6665, TS 24.229
 * 5.4.2.1): SUBSCRIBE to "reg" from the UE or the P-CSCF that registered it, full state in the
 * first NOTIFY and after each refresh, partial state when bindings change, terminated when the
 * registration ends. Loop thread only (REST through loopq_call).
 *
 * In-dialog SUBSCRIBEs: Debian's sofia-sip 1.12.11 hands them to the dialog's leg (the agent
 * is a proxy, NTATAG_UA(0), but nta still matches dialogs); later sofia-sip versions never
 * match a SUBSCRIBE to a leg, so refreshes reach the default leg like new ones. Both paths end
 * in regevent_on_subscribe(), which matches the dialog itself by Call-ID and tags. Each
 * subscription is a dialog of common/sip/sip_dialog.h (a leg underneath), which also sends the
 * NOTIFYs (route set from Record-Route, target from Contact, CSeq). */
#ifndef CSCF_SCSCF_REGEVENT_H
#define CSCF_SCSCF_REGEVENT_H

#include <sofia-sip/sip.h>

#include "common/sip/sip_core.h"
#include "common/store/store.h"

typedef struct scscf scscf_t;
typedef struct regevent regevent_t;

#define REGEVENT_DEFAULT_EXPIRES 600000 /* TS 24.229 5.1.1.3: what a UE asks for */
#define REGEVENT_MAX_PER_REG     8      /* subscriptions to one registration */

/* Why bindings changed: decides the contacts' event and, when the registration ends, the
 * Subscription-State reason (RFC 3680 5.3, RFC 6665 4.1.3). */
typedef enum regevent_cause {
    REGEVENT_REGISTER,      /* the UE's REGISTER: registered, refreshed, shortened, unregistered */
    REGEVENT_EXPIRY,        /* contacts ran out: expired (reason timeout) */
    REGEVENT_RTR_PERMANENT, /* HSS RTR, PERMANENT_TERMINATION: rejected */
    REGEVENT_RTR,           /* HSS RTR, other reasons: deactivated */
    REGEVENT_ADMIN,         /* REST deregistration: deactivated */
} regevent_cause_t;

/* Called from registrar_init()/registrar_fini(). Total subscriptions are bounded by twice
 * registrar.max_registrations (the UE and its P-CSCF). */
int regevent_init(scscf_t *s);
void regevent_fini(scscf_t *s);

/* SUBSCRIBE with Event: reg (new or in-dialog). Returns 0 (answered or in progress) or a
 * status for sip_core to answer with. */
int regevent_on_subscribe(scscf_t *s, sip_incoming_t *irq, sip_t const *sip);

/* Does anyone subscribe to this registration (so a caller can skip copying it)? */
int regevent_watched(const scscf_t *s, const char *impi);

/* Bindings changed from before (NULL: none) to after (NULL or no contacts: the registration
 * ended). Sends a partial NOTIFY to each subscription of the registration; when it ended, the
 * NOTIFY says terminated and the subscriptions go. Neither argument is kept. */
void regevent_changed(scscf_t *s, const store_reg_t *before, const store_reg_t *after,
                      regevent_cause_t cause);

#endif
