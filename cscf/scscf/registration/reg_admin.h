/* What happens to registrations without a REGISTER: expiry (the tick), RTR from the HSS,
 * network-initiated deregistration, the registration gauges and the REST view. */
#ifndef CSCF_SCSCF_REG_ADMIN_H
#define CSCF_SCSCF_REG_ADMIN_H

#include <stddef.h>

#include "cscf/scscf/core/context.h"

/* Once a second (scscf_init's timer): expired contacts and challenges, then the gauges. */
void reg_admin_tick(scscf_t *s);
/* The expiry sweep alone: registrations whose contacts expired lose them (the last one: SAR
 * TIMEOUT_DEREGISTRATION, NOTIFY terminated), once the store took the change. The tick runs it
 * when reg_admin_can_sweep(); so does the start-up, for what expired while the process was
 * down (when the HSS is not reachable yet, the first tick that finds it so). */
void reg_admin_sweep(scscf_t *s);
/* 1 when an expiry can have its effects now: the store is "ok" and a Cx peer is open. */
int reg_admin_can_sweep(scscf_t *s);
/* The registration gauges, from the store (each tick and before a scrape). */
void reg_admin_publish(scscf_t *s);
/* RTR: the HSS deregisters impi's registration (impus: those named, or all). */
void reg_admin_rtr(scscf_t *s, const char *impi, char *const *impus, size_t nimpus, int reason);
/* Network-initiated deregistration of the registration holding impu; why is a string constant
 * for the log. */
void reg_admin_deregister(scscf_t *s, const char *impu, const char *why);
/* GET/DELETE /api/v1/registrations... */
int reg_admin_rest_routes(scscf_t *s);

#endif
