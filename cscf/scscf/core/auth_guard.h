/* The S-CSCF's Cx budget for authentication: what keeps a guessing or flooding client from
 * turning the registrar into a MAR amplifier towards the HSS. Pure bookkeeping (the caller
 * passes the clock), loop thread only.
 *
 * Per IMPI (a bounded table; beyond its size the record touched longest ago is forgotten):
 *   - back-off: failed authentications in a row beyond policy.free_failures refuse new
 *     challenges for base, 2*base, 4*base ... up to max ms. A right answer forgets the record;
 *     a REGISTER answering a challenge it already holds is always checked (that costs no MAR),
 *     so a real UE holding a challenge is never locked out by someone guessing for its IMPI;
 *   - one MAR in flight: a new challenge is not asked for while one is on its way;
 *   - challenges nobody answers: policy.impi_burst at once, then one per impi_interval_ms (a
 *     challenge that gets answered gives its share back, so registrations in a row never
 *     wait).
 * For all IMPIs: at most policy.mar_rate new challenges per second (a token bucket holding one
 * second's worth), and at most policy.max_in_flight MARs awaiting the HSS at once. The rate is a
 * fixed ceiling; the in-flight bound follows the HSS's own pace: when it (or the Cx path) slows
 * down, answers come later, MARs pile up, and new challenges are refused at once with 503
 * instead of waiting seconds in a queue (scripts/bench_register.sh, 2,500 new registrations a
 * second on two cores: without it 541/s succeeded, p50 2.5 s; with it 2,219-2,488/s).
 * Challenges that follow an answer (a re-challenge after a wrong answer, a resynchronisation)
 * pass always: each consumed a challenge that was counted. */
#ifndef CSCF_SCSCF_AUTH_GUARD_H
#define CSCF_SCSCF_AUTH_GUARD_H

#include <stddef.h>
#include <stdint.h>

typedef struct auth_guard_policy {
    long backoff_base_ms;  /* the first back-off; 0: none */
    long backoff_max_ms;   /* the longest */
    long free_failures;    /* failed authentications in a row before the back-off starts */
    long impi_burst;       /* unanswered challenges one IMPI may get at once */
    long impi_interval_ms; /* then one more per interval; 0: no per-IMPI limit */
    long mar_rate;         /* new challenges (MARs) per second, all IMPIs; 0: no limit */
    long max_in_flight;    /* MARs awaiting the HSS, all IMPIs, beyond which a new challenge is
                              refused; 0: no limit */
} auth_guard_policy_t;

typedef enum auth_guard_verdict {
    AUTH_GUARD_OK = 0,
    AUTH_GUARD_BACKOFF,   /* the IMPI failed too often lately */
    AUTH_GUARD_IN_FLIGHT, /* a MAR for the IMPI is on its way */
    AUTH_GUARD_IMPI_RATE, /* the IMPI's unanswered challenges are spent for now */
    AUTH_GUARD_BUDGET,    /* the MARs per second of all IMPIs are spent for now */
    AUTH_GUARD_HSS_BUSY,  /* max_in_flight MARs of all IMPIs await the HSS */
    AUTH_GUARD_VERDICTS
} auth_guard_verdict_t;

typedef struct auth_guard auth_guard_t;

/* max_entries >= 1: IMPIs remembered. NULL when out of memory. */
auth_guard_t *auth_guard_new(size_t max_entries);
void auth_guard_free(auth_guard_t *g);
size_t auth_guard_size(const auth_guard_t *g);
/* MARs admitted and not yet done, all IMPIs. */
size_t auth_guard_in_flight(const auth_guard_t *g);

/* The metric label of a refusal: "backoff", "mar_in_flight", "impi_rate", "mar_budget",
 * "hss_busy". */
const char *auth_guard_verdict_name(auth_guard_verdict_t v);

/* May impi's REGISTER have a MAR now? fresh: it asks for a new challenge (no credentials, an
 * unknown nonce); 0: a challenge that follows an answer. AUTH_GUARD_OK: send it, and call
 * auth_guard_mar_done when it is answered. Otherwise *retry_after_s (>= 1) says when to come
 * back, and no record is made (a flood of invented IMPIs refused by the budget leaves none). */
auth_guard_verdict_t auth_guard_admit(auth_guard_t *g, const auth_guard_policy_t *p,
                                      const char *impi, int fresh, int64_t now_ms,
                                      long *retry_after_s);
/* The MAR admitted for impi was answered (or failed). */
void auth_guard_mar_done(auth_guard_t *g, const char *impi);
/* A challenge of impi was answered (right or wrong): its share of impi_burst comes back. */
void auth_guard_answered(auth_guard_t *g, const auth_guard_policy_t *p, const char *impi);
/* A failed authentication of impi: the back-off (ms) now in force, 0 when none. */
long auth_guard_failed(auth_guard_t *g, const auth_guard_policy_t *p, const char *impi,
                       int64_t now_ms);
/* A right answer: impi's record goes (no back-off, full burst). */
void auth_guard_succeeded(auth_guard_t *g, const char *impi);
/* Forgets records with nothing left to say (no MAR in flight, back-off over for max ms, burst
 * refilled); returns how many. */
size_t auth_guard_expire(auth_guard_t *g, const auth_guard_policy_t *p, int64_t now_ms);

/* The back-off after `failures` failed authentications in a row (0 when none). */
long auth_guard_backoff_ms(const auth_guard_policy_t *p, long failures);

#endif
