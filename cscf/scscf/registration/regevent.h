/* The S-CSCF as notifier of the registration event package (RFC 3680 over RFC 6665, TS 24.229
 * 5.4.2.1): SUBSCRIBE to "reg" from the UE or the P-CSCF that registered it, full state in the
 * first NOTIFY and after each refresh, partial state when bindings change, terminated when the
 * registration ends. Loop thread only (REST through loopq_call).
 *
 * In-dialog SUBSCRIBEs: Debian's sofia-sip 1.12.11 hands them to the dialog's leg (the agent
 * is a proxy, NTATAG_UA(0), but nta still matches dialogs); later sofia-sip versions never
 * match a SUBSCRIBE to a leg, so refreshes reach the default leg like new ones. Both paths end
 * in regevent_on_subscribe(), which matches the dialog itself by Call-ID and tags against the
 * stored record. No dialog is kept in memory: each NOTIFY is sent by a sip_dialog restored from
 * the stored dialog state (route set, target, tags, CSeq), so after a restart or from another
 * replica the subscriber sees the same dialog. */
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
 * Subscription-State reason (RFC 3680 5.3, RFC 6665 4.1.3; see end_reason() in regevent.c). */
typedef enum regevent_cause {
    REGEVENT_REGISTER,      /* the UE's REGISTER: registered, refreshed, shortened, unregistered
                               (the end: reason noresource) */
    REGEVENT_EXPIRY,        /* contacts ran out: expired (reason noresource) */
    REGEVENT_RTR_PERMANENT, /* HSS RTR, PERMANENT_TERMINATION: rejected (reason rejected) */
    REGEVENT_RTR,           /* HSS RTR, other reasons: deactivated (reason deactivated) */
    REGEVENT_ADMIN,         /* REST deregistration: deactivated (reason deactivated) */
} regevent_cause_t;

/* Called from registrar_init()/registrar_fini(). Total subscriptions are bounded by twice
 * registrar.max_registrations (the UE and its P-CSCF), as this process counts them (see
 * regevent.c: with replicas each counts the subscriptions it made and ended). */
int regevent_init(scscf_t *s);
void regevent_fini(scscf_t *s);

/* SUBSCRIBE with Event: reg (new or in-dialog). Returns 0 (answered or in progress) or a
 * status for sip_core to answer with. The subscription is written into the registration's
 * stored record (store_reg_t.subs) before the 200: that record is the truth, so any replica
 * or a restarted process carries the dialog on. */
int regevent_on_subscribe(scscf_t *s, sip_incoming_t *irq, sip_t const *sip);

/* Does anyone subscribe to this registration (so a caller can skip copying it)? reg->nsubs > 0. */
int regevent_watched(const store_reg_t *reg);

/* Bindings changed from before (NULL: none) to after (NULL or no contacts: the registration
 * ended). after is the record as now stored: after->rev is its stored revision (the caller put
 * with rev r: r + 1; with STORE_REV_NEW: 1). Each subscription of after gets a partial NOTIFY
 * (full state when only the implicit set changed); their CSeq and version are reserved first by
 * a conditional write of the record from after->rev (re-read on conflict). When the registration
 * ended (the caller deletes the record), the subscriptions of before get a terminated NOTIFY with
 * before's counters + 1, and nothing is written. A REGISTER whose contacts both ended and live
 * on (a contact replaced: the same +sip.instance from a new URI) costs two NOTIFYs per
 * subscription, the ended contacts first, the live ones once the first is answered, each with its
 * own CSeq and version. Neither argument is kept. */
void regevent_changed(scscf_t *s, const store_reg_t *before, const store_reg_t *after,
                      regevent_cause_t cause);

/* The expiry sweep: removes from reg the subscriptions whose expires_at <= now and returns how
 * many. Nothing is sent yet: regevent keeps the removed ones until the caller has stored reg
 * (put with its rev, or deleted it when the registration ended too) and reports how that went
 * with regevent_expired_stored(); call this before copying reg as regevent_changed()'s before,
 * so a subscription is not told twice. */
size_t regevent_drop_expired(scscf_t *s, store_reg_t *reg, int64_t now);
/* rc as the store answered the put/delete of impi's record after regevent_drop_expired(): 0 sends
 * the removed subscriptions their terminated;reason=timeout NOTIFY (their counters + 1); anything
 * else forgets them (read again, call regevent_drop_expired() again). */
void regevent_expired_stored(scscf_t *s, const char *impi, int rc);

#endif
