/* sip_core's state, shared only by the sip_*.c files of common/. */
#ifndef CSCF_SIP_CORE_INTERNAL_H
#define CSCF_SIP_CORE_INTERNAL_H

#include <sofia-sip/su_alloc.h>
#include <sofia-sip/su_wait.h>

#include "common/sip/sip_core.h"

struct sip_core {
    su_home_t home[1]; /* first: the struct is allocated with su_home_new() */
    su_root_t *root;
    sip_core_config_t cfg;
    nta_agent_t *agent;
    nta_leg_t *leg;
    url_t *self;
    metrics_t *metrics;
    metric_t *m_requests, *m_responses, *m_bad, *m_transactions, *m_duration;
    usize_t bad_seen[2]; /* nta's bad request/response counts already added to m_bad */
    su_timer_t *trim_timer;
    usize_t held_peak; /* most transactions nta held since the heap was last trimmed */
    sip_request_f handler;
    void *app;
    int draining;
    size_t inflight;      /* proxy transactions not yet finished */
    struct sip_fwd *fwds; /* ... listed, so teardown can free what nta never reports back */
    /* Set by sip_proxy.c when it lists a forward: the core frees them at teardown without
     * knowing the proxy (the proxy sits above the core). */
    void (*release_fwds)(struct sip_core *core);
    struct dialogs *dialogs;
    struct sip_trace *trace;
    su_timer_t *sweep;
    /* Listeners added after start-up (sip_core_add_listener): they count as this node. */
    char **extra_listen;
    size_t nextra;
    char *supported; /* cfg.supported plus sip_core_add_supported()'s tags */
    sip_core_source_f source;
    void *source_ctx;
    struct sip_adm *adm; /* admission control (sip_admission.c) */
};

/* The listener ident a request to dest leaves from (sip_core_set_source), or NULL. */
const char *sip_core_source_ident(sip_core_t *core, const url_t *dest);

#endif
