/* sip_core's state, shared only by the sip_*.c files of common/. */
#ifndef CSCF_SIP_CORE_INTERNAL_H
#define CSCF_SIP_CORE_INTERNAL_H

#include <stdint.h>
#include <time.h>

#include <sofia-sip/su_alloc.h>
#include <sofia-sip/su_wait.h>

#include "common/sip/sip_core.h"

/* The sockets of the primary UDP tports (sip_udp_listeners.c): at most max (and at most
 * SIP_UDP_LISTENERS_MAX) written to out; how many. tport does not give them out. */
enum { SIP_UDP_LISTENERS_MAX = 16 };
typedef struct {
    struct tport_s *tp;
    int fd;
} sip_udp_listener_t;
size_t sip_udp_listeners(nta_agent_t *agent, sip_udp_listener_t *out, size_t max);

struct sip_core {
    su_home_t home[1]; /* first: the struct is allocated with su_home_new() */
    su_root_t *root;
    sip_core_config_t cfg;
    nta_agent_t *agent;
    url_t *self;
    url_t *tls_self;           /* sip_core_tls_url(), NULL without a TLS listener */
    url_t *tcp_self;           /* sip_core_tcp_url(), NULL without TCP among the transports */
    char *tls_hostport;        /* ... its host:port, which counts as this node */
    metric_t *m_send_failures; /* messages nta could not hand to a transport, by kind */
    time_t send_failure_at;    /* the last one (log once per episode) */
    metric_t *m_tls_names;     /* peers' certificates refused for their names, by direction */
    char tls_names_last[256];  /* the host last logged for it, and when (log once per episode) */
    time_t tls_names_at;
    metrics_t *metrics;
    metric_t *m_requests, *m_responses, *m_bad, *m_transactions, *m_duration, *m_trims;
    usize_t bad_seen[2]; /* nta's bad request/response counts already added to m_bad */
    su_timer_t *trim_timer;
    struct sip_answered *answered; /* final answers kept for UDP retransmissions */
    metric_t *m_absorbed;
    uint64_t absorbed_seen;
    metric_t *m_turn_reads;
    uint64_t turn_reads_seen;
    usize_t held_peak; /* most transactions nta held since the heap was last trimmed */
    sip_request_f handler;
    void *app;
    int draining;
    size_t inflight;                           /* proxy transactions not yet finished */
    size_t inflight_invites;                   /* ... of them INVITEs (sip.max_pending_invites) */
    struct cap *cap_transactions, *cap_relays; /* limits.transactions, limits.relays */
    struct cap *cap_invites;                   /* sip.max_pending_invites */
    struct sip_fwd *fwds; /* ... listed, so teardown can free what nta never reports back */
    /* Set by sip_proxy.c when it lists a forward: the core frees them at teardown without
     * knowing the proxy (the proxy sits above the core). */
    void (*release_fwds)(struct sip_core *core);
    /* INVITE branches over UDP the proxy took over from nta at their first provisional
     * (sip_proxy.c, detach_branch()): their responses come to on_stray_message(), which offers
     * them to fwd_stray first (0: taken); fwd_sweep runs their Timer C. Set like release_fwds. */
    struct strmap *detached;  /* top Via branch -> the branch */
    struct kept_table *acked; /* their ACKs of a final >= 300, kept 64*T1 (sip_proxy.c) */
    int (*fwd_stray)(struct sip_core *core, msg_t *msg, sip_t *sip);
    void (*fwd_sweep)(struct sip_core *core, int64_t now_ms);
    struct dialogs *dialogs;
    struct sip_trace *trace;
    su_timer_t *sweep;
    /* Listeners added after start-up (sip_core_add_listener): they count as this node. */
    char **extra_listen;
    size_t nextra;
    char *supported; /* cfg.supported plus sip_core_add_supported()'s tags */
    sip_core_source_f source;
    void *source_ctx;
    struct sip_adm *adm;           /* admission control (sip_admission.c) */
    struct sip_udp_turn *udp_turn; /* extra reads of the UDP listeners (sip_udp_turn.c) */
    /* The UDP listeners' sockets, found once after each bind (sip_udp_listeners()) for the two
     * above. */
    sip_udp_listener_t udp[SIP_UDP_LISTENERS_MAX];
    size_t nudp;
    /* The To tag of our stateless answers (reply_stateless()). */
    const char *sl_tag;
    /* What a program screens out of every response it relays (sip_proxy_set_response_screen). */
    void (*screen_response)(void *ctx, msg_t *msg, sip_t *sip);
    void *screen_ctx;
    /* sip_proxy_set_response_observer: sees each response a relay passes upstream */
    void (*observe_response)(void *ctx, msg_t *request, int status, msg_t *response);
    void *observe_ctx;
};

/* sip_send_errors.c: count what nta could not send (its log is the only place it says so). */
void sip_send_errors_watch(sip_core_t *core);
void sip_send_errors_unwatch(sip_core_t *core);

/* Admission control glue (sip_admission.c): the lag probe, request classes, the 503. */
typedef struct sip_adm sip_adm_t;
struct adm_config;
/* cfg NULL: the defaults (enabled, 100 ms target). NULL when out of memory. */
sip_adm_t *sip_adm_new(sip_core_t *core, const struct adm_config *cfg);
void sip_adm_free(sip_adm_t *sa);
void sip_adm_set_config(sip_adm_t *sa, const struct adm_config *cfg);
void sip_adm_set_classify(sip_adm_t *sa, sip_adm_classify_f fn, void *ctx);
/* Listeners were added (sip_core_add_listener): watch core->udp again. */
void sip_adm_find_listeners(sip_adm_t *sa);

/* The UDP listeners read until empty (bounded) before each turn of the loop (sip_udp_turn.c),
 * so a busy TCP leg cannot starve them. NULL: out of memory, or su_root's prepoll hook taken. */
typedef struct sip_udp_turn sip_udp_turn_t;
sip_udp_turn_t *sip_udp_turn_new(su_root_t *root, const sip_udp_listener_t *l, size_t n);
/* Listeners were added: read these from now on. */
void sip_udp_turn_refresh(sip_udp_turn_t *t, const sip_udp_listener_t *l, size_t n);
uint64_t sip_udp_turn_reads(const sip_udp_turn_t *t); /* datagrams read by it so far */
void sip_udp_turn_free(sip_udp_turn_t *t, su_root_t *root);
/* 0: admitted. 503: refused; phrase and retry (Retry-After) say how to answer. *ongoing: 1
 * when the request belongs to work admitted already (a dialog's, ACK/CANCEL, one the other CSCF
 * admitted, an emergency call), which the caps let into their reserve (limits.h). */
int sip_adm_check(sip_adm_t *sa, msg_t *msg, sip_t const *sip, const char **phrase, char *retry,
                  size_t retry_len, int *ongoing);
void sip_adm_publish(sip_adm_t *sa);
json_t *sip_adm_json(sip_adm_t *sa, size_t top);

/* sip_stun_off.c: no STUN server on the SIP ports (always 1; calling it links the file). */
int sip_stun_off(void);
/* sip_timer_wait.c: su_duration() rounded up, so the loop sleeps until its next timer (1 when
 * in force; calling it links the file). */
int sip_timer_wait_rounded(void);

#endif
