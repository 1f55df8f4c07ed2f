/* pcscf.state_file: the P-CSCF's bindings, their SA sets included, kept across a restart (or a
 * crash) as one JSON snapshot, so a protected UE stays reachable without registering again.
 *
 * - Written whole and atomically (temp file, fsync, rename, mode 0600: it holds SA keys), at most
 *   once per PCSCF_STATE_DELAY_MS after a change (pcscf_state_changed), never per packet.
 * - Read once at start, before the loop runs (so before SIP takes traffic). Bindings and SA sets
 *   already expired are dropped. A file that does not parse or holds anything out of place is
 *   moved aside to <file>.bad, one log line says why, and the P-CSCF starts empty.
 * - Outbound ESP sequence numbers (RFC 4303 3.3.3: never reused under one SA) are stored rounded
 *   up by PCSCF_SEQ_MARGIN, and rewritten before the datapath's counters get near the stored
 *   value, so after a restart the SAs resume above anything sent. The live set's seq_out_uc and
 *   seq_out_us hold the value last written (what ipsec_dp_install takes after a restart).
 * Loop thread only. */
#ifndef CSCF_PCSCF_STATE_H
#define CSCF_PCSCF_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cscf/pcscf/pcscf.h"

#define PCSCF_STATE_VERSION  1
#define PCSCF_STATE_DELAY_MS 100
/* 65536 numbers ahead; rewritten once half is used, checked every second: a set would have to
 * send 32768 packets in a second to get past the stored value. */
#define PCSCF_SEQ_MARGIN 65536u

/* What to store for an SA whose last sent sequence number is sent: sent + PCSCF_SEQ_MARGIN,
 * UINT32_MAX when that does not fit (the SA is used up; it must be replaced, not resumed). */
uint32_t pcscf_seq_reserve(uint32_t sent);
/* 1 when the stored value must be moved on: sent has used up half of the margin (or nothing
 * was stored yet, stored 0). Never for a stored UINT32_MAX, which cannot move on. */
int pcscf_seq_due(uint32_t stored, uint32_t sent);

/* One binding as the state file holds it (keys included: never for REST). */
json_t *pcscf_binding_state_json(const pc_binding_t *b);
/* The reverse, checking every field (type, length, range); unknown keys are ignored. 0, or -1
 * with the reason (naming the field) in err. */
int pcscf_binding_from_state(const json_t *j, pc_binding_t *out, char *err, size_t errlen);

/* The whole snapshot: {"version": 1, "bindings": [...]}. */
json_t *pcscf_state_json(pcscf_t *pc);
/* Writes text to path atomically with mode 0600. 0, or -1 with errno. */
int pcscf_state_write_file(const char *path, const char *text);
/* Reads path into the binding table: 1 loaded (count in *n), 0 no file, -1 bad (err says why;
 * nothing was added). Expired bindings and SA sets are left out (counted in *dropped). With a
 * datapath attached already, the restored SA sets are installed. */
int pcscf_state_read(pcscf_t *pc, const char *path, size_t *n, size_t *dropped, char *err,
                     size_t errlen);

/* pcscf_init, after flows and regsub: reads pcscf.state_file (a bad file goes aside) and starts
 * the timers. -1 only when the timers cannot be made. */
int pcscf_state_init(pcscf_t *pc);
/* First thing at teardown, while the bindings and the datapath are still there: a last write. */
void pcscf_state_fini(pcscf_t *pc);
/* A binding or SA set changed: a write within PCSCF_STATE_DELAY_MS. Cheap; call on every
 * change. */
void pcscf_state_changed(pcscf_t *pc);

/* Called for each restored SA set once the datapath holds it again, for the IPsec side's own
 * bookkeeping (where responses to that UE leave from, ...). */
typedef void (*pcscf_sa_restored_f)(void *arg, pc_binding_t *b, pc_sa_t *sa);

/* The IPsec side (reg_ipsec.c) hands over its datapath once it is open, before or after
 * pcscf_state_init (the sets are installed once both happened): every ACTIVE and OLD SA set of
 * the restored bindings is installed again (ipsec_dp_install, with the stored sequence
 * numbers), then restored(arg, ...) is called for it (restored may be NULL); a set that fails
 * is dropped from its binding (logged, counted in ipsec_sa_failures_total{op="create"}). From
 * then on the datapath's counters feed REST, metrics and the stored sequence numbers. dp NULL
 * detaches it. Returns the number of sets installed now. */
int pcscf_state_attach_dp(pcscf_t *pc, ipsec_dp_t *dp, pcscf_sa_restored_f restored, void *arg);

/* End of pcscf_init, after the IPsec side had its chance to attach: SA sets restored with no
 * datapath to carry them (ipsec.mode off now) are dropped, with a warning. */
void pcscf_state_ready(pcscf_t *pc);

/* ipsec_sa_failures_total{op}: op is "create" or "delete". */
void pcscf_sa_failure(pcscf_t *pc, const char *op);

/* sa_view.c: the binding's SA sets as GET /api/v1/registrations shows them (a new JSON array,
 * empty for an unprotected UE; never keys), and the ipsec_sa_sets{state,alg,ealg} gauge
 * refreshed before each scrape (program_def.publish). */
json_t *pcscf_sa_sets_json(const pcscf_t *pc, const pc_binding_t *b);
void pcscf_sa_publish(pcscf_t *pc);

#endif
