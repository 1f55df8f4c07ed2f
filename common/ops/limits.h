/* Caps on the tables a program keeps (transactions, bindings, registrations, challenges,
 * subscriptions, dialogs, relays): each table has a cap_t with its configured capacity. Before
 * adding an entry the table asks cap_admit(); at the cap the caller refuses the new work (503
 * with cap_retry_after() for a request) and the table never grows past its limit.
 *
 * Metrics (families shared by every cap of the process):
 *   cscf_table_entries{table}        gauge: entries held at the last look
 *   cscf_table_capacity{table}       gauge: the configured cap
 *   cscf_table_refused_total{table}  counter: new entries refused at the cap
 * One warning per episode: the first refusal logs; the episode ends (one info line with the
 * count refused) once the table is back under CAP_RESUME_PERCENT of its capacity, so a table
 * that hovers at its cap does not log per request. Loop thread only (the metrics are
 * thread-safe, the episode state is not). */
#ifndef CSCF_LIMITS_H
#define CSCF_LIMITS_H

#include <stddef.h>

#include "common/ops/metrics.h"

#define CAP_RESUME_PERCENT  90
#define CAP_RESERVE_PERCENT 10

typedef struct cap cap_t;

/* table: the label value ("registrations"); key: the configuration key that sets the cap (for
 * the log line); capacity >= 1. m may be NULL (no metrics). retry_after_s: what
 * cap_retry_after() says (seconds, >= 1). NULL when out of memory. */
cap_t *cap_new(metrics_t *m, const char *table, const char *key, size_t capacity,
               unsigned retry_after_s);
void cap_free(cap_t *c);

/* May one more entry be added to the table, which holds `entries` now? 1 yes; 0 no: the
 * refusal is counted (and logged once per episode). A NULL cap admits everything. */
int cap_admit(cap_t *c, size_t entries);
/* The same for work admitted already (a request inside a dialog, an ACK, a request the other
 * CSCF admitted, an emergency call): it may go CAP_RESERVE_PERCENT past the capacity, so a call
 * set up before the table filled still ends (its BYE) and only new work is refused at the cap.
 * Past the reserve it is refused too: that is the table's hard limit. */
int cap_admit_reserved(cap_t *c, size_t entries);
/* The table holds `entries` now (the gauge; ends an episode once under the resume mark). */
void cap_update(cap_t *c, size_t entries);
/* A new capacity (a reload); entries already held stay. */
void cap_set_capacity(cap_t *c, size_t capacity);

size_t cap_capacity(const cap_t *c);
size_t cap_entries(const cap_t *c); /* as last told by cap_admit/cap_update */
size_t cap_refused(const cap_t *c); /* refusals since start */
int cap_refusing(const cap_t *c);   /* 1 inside an episode */
/* The Retry-After value (decimal seconds) for a refusal, e.g. "5". */
const char *cap_retry_after(const cap_t *c);
const char *cap_table(const cap_t *c);

#endif
