/* The P-CSCF's policy interface (issue 20, DESIGN section 11): what the pcscf tells the network
 * about the media of a dialog (Rx to a PCRF, TS 29.214; N5 to a PCF, TS 29.514) and what it
 * hears back. The generic part (policy.c) keeps one session per dialog and UE side, built from
 * the SDP offer/answer (policy_sdp.c), and drives one back end (policy_rx.c, policy_n5.c)
 * chosen by `policy.backend`.
 *
 * Everything here runs on the loop thread. A back end whose transport has its own thread
 * (freeDiameter) hands each answer to the loop through the program's loop queue first. */
#ifndef CSCF_POLICY_H
#define CSCF_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>

#include "common/program/program.h"
#include "cscf/pcscf/policy/policy_desc.h"

typedef struct policy policy_t;                 /* the generic part, one per pcscf */
typedef struct policy_session policy_session_t; /* one dialog side (policy.c) */

/* One back end. Its calls run on the loop; each open/update is answered later (or at once)
 * with policy_done() on the loop. A session may be released while a request of it is in
 * flight: a back end keeps policy_session_id() with the request and finds the session again
 * with policy_session_by_id() (NULL: gone, drop the answer). */
typedef struct policy_backend {
    const char *name; /* "rx", "n5" */
    /* Start the session for d (the first offer, or offer + answer). 0: policy_done() follows;
     * -1: nothing was sent (counted as a failure at once by the generic part). */
    int (*open)(void *be, policy_session_t *s, const policy_desc_t *d);
    /* The media changed (the answer, a re-INVITE/UPDATE): as open. */
    int (*update)(void *be, policy_session_t *s, const policy_desc_t *d);
    /* The dialog side ends (BYE, CANCEL, failure, deregistration, timeout, or the network
     * ended it): the back end says so to the network (STR, DELETE) and forgets s, which is
     * freed when this returns. */
    void (*release)(void *be, policy_session_t *s);
    void (*free)(void *be); /* at shutdown, after every session was released */
    void *be;
} policy_backend_t;

/* A back end's constructor: fills out (name, calls, be) from the program's config
 * (`policy.<name>.*`). 0, or -1 with a reason in err. */
typedef int (*policy_backend_new_f)(program_t *p, policy_t *pol, policy_backend_t *out, char *err,
                                    size_t errlen);

/* ---- back end -> generic part (loop thread) ---- */

/* The answer to the last open/update of s: ok non-zero when the network granted it (AAA
 * DIAMETER_SUCCESS, 201/200), 0 when it refused or could not be reached. A late answer (after
 * policy.timeout_ms, already counted as a timeout) is ignored. */
void policy_done(policy_session_t *s, int ok);
/* The network ended the session (Rx ASR, N5 termination notification): the pcscf ends the
 * call (BYE to both sides once it is established, else the INVITE is refused). The back end
 * releases nothing itself: release() follows. */
void policy_session_lost(policy_session_t *s);
/* A notification the network sent (RAR, an N5 event notify), by kind ("rar", "asr",
 * "terminate", "event"): cscf_policy_notifications_total{kind}. */
void policy_count_notification(policy_t *pol, const char *kind);
/* A request of the back end's own whose result policy_done() does not carry (the release:
 * STR/STA, DELETE): cscf_policy_requests_total{op,result}. */
void policy_count_request(policy_t *pol, const char *op, const char *result);

uint64_t policy_session_id(const policy_session_t *s);
policy_session_t *policy_session_by_id(policy_t *pol, uint64_t id);
/* The back end's per-session state (NULL until set); it frees it in release(). */
void *policy_session_data(const policy_session_t *s);
void policy_session_set_data(policy_session_t *s, void *data);
/* The description last sent for s (for a back end that re-sends all of it). */
const policy_desc_t *policy_session_desc(const policy_session_t *s);
program_t *policy_program(const policy_t *pol);
/* policy.timeout_ms: how long one request may wait for its answer. */
int policy_timeout_ms(const policy_t *pol);

/* ---- the pcscf -> generic part (loop thread) ---- */

/* The `policy.*` key rows (generic; each back end adds its own `policy.<name>.*` rows). */
#define POLICY_KEY_ROWS                                                                            \
    {"policy.backend",                                                                             \
     CFG_ENUM,                                                                                     \
     "none",                                                                                       \
     "QoS for the media of calls (issue 20): none = the P-CSCF asks nothing; rx = Diameter Rx to " \
     "a PCRF (TS 29.214, policy.rx.*); n5 = Npcf_PolicyAuthorization to a PCF (TS 29.514, "        \
     "policy.n5.*)",                                                                               \
     0,                                                                                            \
     0,                                                                                            \
     "none|rx|n5"},                                                                                \
        {"policy.on_failure",                                                                      \
         CFG_ENUM,                                                                                 \
         "open",                                                                                   \
         "when the PCRF/PCF refuses or does not answer: open = the call goes on (on the default "  \
         "bearer; counted in cscf_policy_failopen_total); closed = a UE's INVITE is refused "      \
         "(580 Precondition Failure) and an established call is ended",                            \
         0,                                                                                        \
         0,                                                                                        \
         "open|closed"},                                                                           \
        {"policy.timeout_ms",                                                                      \
         CFG_INT,                                                                                  \
         "2000",                                                                                   \
         "how long one policy request waits for its answer before it counts as failed",            \
         100,                                                                                      \
         60000,                                                                                    \
         NULL},                                                                                    \
        {"policy.session_seconds",                                                                 \
         CFG_INT,                                                                                  \
         "14400",                                                                                  \
         "a policy session still open this long after its last change is released (a dialog "      \
         "whose BYE never passed here)",                                                           \
         60,                                                                                       \
         604800,                                                                                   \
         NULL},                                                                                    \
    {                                                                                              \
        "limits.policy_sessions", CFG_INT, "100000",                                               \
            "policy sessions (one per dialog and UE side) held; at the cap a new call goes on "    \
            "without one (counted as a failure: fail-closed refuses it)",                          \
            1, 10000000, NULL                                                                      \
    }

/* The back ends the program has: policy.backend names one (its constructor NULL: `none`).
 * The table lives in the pcscf's main.c, above the back ends, so no module here includes
 * one of them. */
typedef struct policy_backend_entry {
    const char *name;
    policy_backend_new_f make;
} policy_backend_entry_t;

/* Starts the back end policy.backend names. *out NULL when it is `none` (the pcscf then calls
 * nothing here). 0, or -1 with a reason in err. */
int policy_start(program_t *p, const policy_backend_entry_t *backends, size_t n, policy_t **out,
                 char *err, size_t errlen);
/* Releases every session (telling the network), frees the back end. */
void policy_stop(policy_t *pol);

/* Where a request or response stands towards the UE this policy session serves. */
typedef struct policy_leg {
    int from_ue;            /* the request came from the UE (else it goes to the UE) */
    const char *impu;       /* the UE's IMPU (its binding's default) */
    const char *ue_ip;      /* the UE's signalling address */
    const char *ue_flow;    /* the UE's flow ("udp:192.0.2.1:5060"), for a BYE to it */
    const char *ue_contact; /* the UE's registered Contact */
    const char *ue_target;  /* the next hop to the UE (its flow, SA or Contact: the pcscf's
                             * delivery choice), for a BYE of ours; NULL: its flow address */
} policy_leg_t;

/* What to do with a request after policy_request(). */
typedef enum policy_verdict {
    POLICY_GO = 0,   /* forward it now */
    POLICY_WAIT = 1, /* fail-closed: held until the network answers; cont() is called then */
} policy_verdict_t;

/* cont(ctx, refuse): refuse 0: forward the held request; else answer it with that status. */
typedef void (*policy_cont_f)(void *ctx, int refuse);

/* An INVITE/UPDATE/re-INVITE/BYE/CANCEL passing the pcscf for leg (msg: the copy about to be
 * forwarded). An SDP offer opens or updates the session; BYE/CANCEL release it. With
 * policy.on_failure closed, an offer from the UE in a new INVITE returns POLICY_WAIT and
 * cont(ctx, ...) runs once the network answered (or the timeout passed). */
policy_verdict_t policy_request(policy_t *pol, const policy_leg_t *leg, msg_t *msg,
                                policy_cont_f cont, void *ctx);
/* A response about to be relayed for a request that passed policy_request() with this leg (the
 * same from_ue): an SDP answer in 18x/2xx completes the description; a final failure to an
 * initial INVITE releases the session. */
void policy_response(policy_t *pol, const policy_leg_t *leg, msg_t *request, int status,
                     msg_t *response);
/* The UE's registration ended: its sessions go (TS 29.214 4.4.4: STR). */
void policy_ue_gone(policy_t *pol, const char *impu);

/* Active sessions (cscf_policy_sessions), and the JSON for GET /api/v1/policy/sessions. */
size_t policy_session_count(const policy_t *pol);

#endif
