/* What the generic part of the policy interface shares between its files: policy.c (sessions,
 * the failure policy, the hooks, the sweep), policy_bye.c (the network ends a call: BYE both
 * ways) and policy_rest.c (GET /api/v1/policy/sessions). Loop thread only. */
#ifndef CSCF_POLICY_INTERNAL_H
#define CSCF_POLICY_INTERNAL_H

#include <stdint.h>

#include <sofia-sip/su_wait.h>

#include "common/ops/limits.h"
#include "common/ops/metrics.h"
#include "common/util/strmap.h"
#include "cscf/pcscf/policy/policy.h"

#define SWEEP_MS 100
/* A call whose policy failed with on_failure closed after its INVITE went on is ended this
 * long after its 2xx: the UAs ACK first (RFC 3261 15: no BYE before the ACK). */
#define DOOM_DELAY_MS 500

struct policy {
    program_t *p;
    policy_backend_t be;
    int closed;
    int timeout_ms;
    int64_t session_ms;
    strmap_t *by_key, *by_id;
    uint64_t next_id;
    int in_sweep; /* a strmap_sweep of by_id is running: it removes what its callback released */
    su_timer_t *sweep;
    cap_t *cap;
    metric_t *m_requests, *m_latency, *m_sessions, *m_notifications, *m_failopen;
};

typedef enum pstate {
    S_PENDING, /* a request to the network is waiting for its answer */
    S_GRANTED, /* the last answer granted it */
    S_FAILED,  /* refused or not answered */
} pstate_t;

struct policy_session {
    policy_t *pol;
    uint64_t id;
    char key[320];
    void *data; /* the back end's */
    policy_desc_t desc;
    pstate_t state;
    int sent;            /* open() went out (later changes are update()) */
    const char *op;      /* of the request in flight: "open" / "update" */
    int64_t sent_ms;     /* when it went, for the latency */
    int64_t deadline_ms; /* 0: nothing in flight */
    int64_t touched_ms;  /* the last change */
    int64_t doom_ms;     /* with on_failure closed: end the call once established */
    policy_cont_f cont;  /* a held INVITE (fail-closed) */
    void *cont_ctx;
    char *ue_sdp, *peer_sdp; /* the last SDP of each side */
    int ue_offered;
    /* What a BYE of ours needs (policy_session_lost): the dialog's two ends. */
    int established;               /* a 2xx to the initial INVITE passed */
    char caller[512], callee[512]; /* From and To headers (the callee's with its tag) */
    uint32_t caller_cseq, callee_cseq;
    char ue_contact[512], ue_flow[96], ue_target[300];
    char far_target[512]; /* the far side's Contact */
    char far_route[1024]; /* the route set beyond us towards the far side */
};

/* "originating" or "terminating": the UE's side of the dialog. */
const char *policy_side_of(const policy_session_t *s);
/* The session ends here: the back end is told (release()), then it is forgotten. */
void policy_release(policy_session_t *s, const char *why);
/* policy_bye.c: BYE to both ends of an established call, then policy_release(). */
void policy_end_call(policy_session_t *s, const char *why);
/* policy_rest.c: the REST view of pol's sessions; with policy.backend none, an empty one. */
int policy_rest_start(policy_t *pol);
int policy_rest_none(program_t *p);

#endif
