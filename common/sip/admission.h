/* Admission control: which incoming requests a CSCF takes on when it is overloaded.
 *
 * Pure logic (no sockets, no clock of its own: callers pass the time), so it is unit-tested
 * alone (tests/unit/test_admission.c); sip_admission.c feeds it loop-lag samples and asks it
 * about every request sip_core receives.
 *
 * Overload is measured as queueing delay ("lag", seconds): how late the loop gets to work that
 * is due (a periodic timer's lateness, the age of the oldest datagram waiting on a UDP
 * listener). The controller acts on the smallest sample of the last ADM_LAG_WINDOW and of the
 * newest one before it: a standing queue (as CoDel), not a burst that drains at once, one late
 * tick, or the backlog found after the process was descheduled once. It sheds requests at random
 * with a probability that follows that lag, class by class:
 *
 *   new initial requests (INVITE, MESSAGE, SUBSCRIBE, ..., initial REGISTER): the larger of
 *     a proportional part, 0 at `target` rising linearly to 1 at 2 x target, and an integral
 *     part that grows while the lag is over the target (ADM_GAIN_UP per second per target of
 *     excess) and shrinks while it is under (ADM_GAIN_DOWN per second at most), so the lag
 *     settles at the target, well under SIP's retransmission timer (T1, 500 ms), whatever
 *     share of the offered load has to go;
 *   a known UE's re-REGISTER (the P-CSCF: from a flow registered for the same IMPI; the
 *     S-CSCF: an IMPI it holds): from 3 x target to 4 x target;
 *   in-dialog requests (To tag: BYE, re-INVITE, PRACK, UPDATE...), ACK, CANCEL, requests
 *     the other CSCF admitted already (a P-CSCF's originating request on the S-CSCF's orig
 *     route, an S-CSCF's terminating request on the P-CSCF's Path) and the answer to a
 *     challenge this node sent or relayed (the REGISTER carrying the nonce of a 401: its MAR
 *     is spent): never, they finish work already admitted where it entered the core (a call
 *     refused at its BYE, or at the second CSCF, is a failed call; a registration refused at
 *     its answer wasted the challenge);
 *   emergency (urn:service:sos) and OPTIONS to this node (keepalives, probes): never.
 *
 * So work already admitted completes and the node settles at a lag a little above the target,
 * serving what it can instead of queueing everything past SIP's retransmission timer.
 *
 * Independently of the lag, one misbehaving device is held to a token bucket per flow (the
 * transport source it sends from: "udp:192.0.2.1:5060", one TCP connection) and per IMPI
 * (Authorization username, else the From URI); not per IP address, since many UEs share a NAT.
 * Buckets apply to requests outside a dialog (not ACK/CANCEL). Each table holds at most
 * `table_size` entries; when full, the entry used least recently makes room (an idle device's
 * bucket is full anyway, so forgetting it changes nothing). */
#ifndef CSCF_ADMISSION_H
#define CSCF_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef enum adm_class {
    ADM_EMERGENCY,        /* urn:service:sos, or what the program's classify says (the pcscf's
                           * emergency numbers, emergency REGISTER): never shed for lag */
    ADM_OPTIONS,          /* OPTIONS to this node (keepalive, health probes): never shed */
    ADM_ACK_CANCEL,       /* never shed, never limited */
    ADM_IN_DIALOG,        /* To tag: part of admitted work: never shed for lag */
    ADM_ADMITTED,         /* admitted by the other CSCF already: never shed for lag */
    ADM_KNOWN,            /* re-REGISTER of a known UE, challenge answer */
    ADM_INITIAL_REGISTER, /* REGISTER of a UE not known here */
    ADM_INITIAL,          /* new INVITE, MESSAGE, SUBSCRIBE, ... */
    ADM_NCLASSES
} adm_class_t;

typedef enum adm_reason {
    ADM_ADMIT,
    ADM_SHED_LAG,  /* overload: the loop lags */
    ADM_SHED_FLOW, /* the flow's token bucket is empty */
    ADM_SHED_IMPI, /* the IMPI's token bucket is empty */
    ADM_NREASONS
} adm_reason_t;

/* The lag's window, seconds. */
#define ADM_LAG_WINDOW 0.1
/* The longest time between two lag samples the integral part counts, seconds. */
#define ADM_DT_MAX 0.02
/* The integral part's gains, per second (see above). */
#define ADM_GAIN_UP   5.0
#define ADM_GAIN_DOWN 2.0

typedef struct adm_config {
    int enabled;          /* 0: measure and count, never refuse */
    double target;        /* seconds of lag where shedding of new initial requests starts */
    unsigned retry_after; /* 503's Retry-After: drawn in [retry_after, 2 x retry_after] */
    double flow_rate;     /* tokens per second per flow; 0: no per-flow limit */
    double flow_burst;    /* bucket size (at least 1) */
    double impi_rate;     /* tokens per second per IMPI; 0: no per-IMPI limit */
    double impi_burst;    /* bucket size (at least 1) */
    size_t table_size;    /* entries per table (flows, IMPIs) */
} adm_config_t;

typedef struct adm adm_t;

/* seed: for the shedding draws and the Retry-After jitter (tests pass a fixed one). */
adm_t *adm_new(const adm_config_t *cfg, uint64_t seed);
void adm_free(adm_t *a);
/* New limits (a reload); the tables keep their entries, trimmed to a smaller table_size. */
void adm_set_config(adm_t *a, const adm_config_t *cfg);
const adm_config_t *adm_config(const adm_t *a);

/* A lag sample (seconds) taken at `now` (seconds, any monotonic origin). */
void adm_lag_sample(adm_t *a, double now, double lag);
double adm_lag(const adm_t *a); /* the lag acted on (the window's smallest sample) */

/* The probability that a request of class c is shed for lag at the current lag. */
double adm_shed_probability(const adm_t *a, adm_class_t c);

/* Decide one request. flow and impi may be NULL (not known or not limited: a core peer's flow
 * carries many UEs). Counts the decision. */
adm_reason_t adm_decide(adm_t *a, double now, adm_class_t c, const char *flow, const char *impi);

/* Seconds for the Retry-After of a refusal: jittered so refused clients do not come back in
 * step. */
unsigned adm_retry_after(adm_t *a);

/* Counters since start. */
uint64_t adm_admitted(const adm_t *a, adm_class_t c);
uint64_t adm_shed(const adm_t *a, adm_class_t c, adm_reason_t r);
/* Share of requests refused over the last few seconds (0..1). */
double adm_shed_ratio(const adm_t *a, double now);
/* Entries held in the flow (0) or IMPI (1) table. */
size_t adm_table_count(const adm_t *a, int impi);

const char *adm_class_name(adm_class_t c);
/* 1 for the classes that finish work admitted already (in a dialog, ACK/CANCEL, admitted by the
 * other CSCF, emergency): never shed for lag, and the caps' reserve is theirs (limits.h). */
int adm_class_ongoing(adm_class_t c);
const char *adm_reason_name(adm_reason_t r);

/* The REST view: config, lag, shed probabilities and ratio, counters per class, the `top` flows
 * and IMPIs refused most. */
json_t *adm_json(const adm_t *a, double now, size_t top);

#endif
