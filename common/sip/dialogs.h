/* The dialogs a proxy has seen established (INVITE answered 2xx) and not yet ended by BYE, for
 * REST and metrics: calls attempted, answered, failed by code, dialogs active. A proxy does not
 * need dialog state to route (Record-Route does that), so this is bookkeeping only, bounded in
 * count and age. Loop thread only. */
#ifndef CSCF_DIALOGS_H
#define CSCF_DIALOGS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sofia-sip/sip.h>

#include "common/ops/metrics.h"

typedef struct dialogs dialogs_t;

/* max: dialogs held (limits.dialogs: new initial INVITEs get 503 at it, dialogs_admit(); one
 * answered meanwhile replaces the oldest); max_age_s: a dialog nobody ended (lost BYE) is
 * forgotten after this; ack_wait_s (64*T1): a 2xx not ACKed by then leaves no dialog, nor does a
 * session timer (Session-Expires) this long past its end without a refresh; retry_after_s: the
 * Retry-After of that 503. */
dialogs_t *dialogs_new(metrics_t *m, size_t max, int64_t max_age_s, int64_t ack_wait_s,
                       unsigned retry_after_s);
void dialogs_free(dialogs_t *d);

/* May a new initial INVITE be forwarded? 1 yes; 0 the table is at its cap (counted in
 * cscf_table_refused_total{table="dialogs"}): answer 503 with dialogs_retry_after(). */
int dialogs_admit(dialogs_t *d);
const char *dialogs_retry_after(const dialogs_t *d);
/* An initial INVITE was forwarded (a call attempt). */
void dialogs_attempt(dialogs_t *d);
/* The final response to an initial INVITE relayed upstream (answered or failed by code). */
void dialogs_final(dialogs_t *d, int status, sip_t const *response);
/* A final response to a BYE relayed, or, with none from the far end, the BYE itself: the dialog
 * ends (RFC 3261 15.1.1: also on a 408, 481 or no answer at all). */
void dialogs_bye(dialogs_t *d, int status, sip_t const *response);
/* An ACK passed: the dialog its 2xx made is confirmed. */
void dialogs_ack(dialogs_t *d, sip_t const *ack);
/* A 2xx to a request inside a dialog (a re-INVITE or UPDATE: RFC 4028's session refresh). */
void dialogs_refresh(dialogs_t *d, sip_t const *response);
/* Forgets dialogs over (dialogs_new()); updates the gauge. */
void dialogs_sweep(dialogs_t *d, int64_t now);
size_t dialogs_count(const dialogs_t *d);
/* {"active": n, "dialogs": [{call_id, from, to, age_seconds}] } with at most limit entries. */
json_t *dialogs_json(const dialogs_t *d, size_t limit, int64_t now);

#endif
