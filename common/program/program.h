/* What every program (pcscf, scscf, hss) shares: command line, config, logging, the
 * su_root loop, the cross-thread queue, REST + metrics, signals and graceful shutdown.
 *
 * A program describes itself with a program_def_t and calls program_main(). Its own state hangs
 * off program_t.app; program_t is the one context struct of the process. */
#ifndef CSCF_PROGRAM_H
#define CSCF_PROGRAM_H

#include <stddef.h>
#include <time.h>
#include <sofia-sip/su_wait.h>

#include "common/ops/api.h"
#include "common/ops/config.h"
#include "common/ops/loopq.h"
#include "common/ops/metrics.h"
#include "common/sip/sip_core.h"

typedef struct program program_t;

typedef struct program_def {
    const char *name;       /* "pcscf" */
    const char *env_prefix; /* "PCSCF" */
    const char *summary;    /* one line for --help */
    int has_sip;
    const char *default_sip_listen; /* "127.0.0.1:5060" */
    const char *default_api_listen; /* "127.0.0.1:8081" */
    const cfg_key_t *keys;          /* program's own keys, or NULL */
    /* SIP capabilities advertised in OPTIONS and used for Require checks */
    const char *allow, *supported, *accept;
    sip_request_f on_request; /* NULL: program_default_request */
    /* After the configuration loaded, also for --check: program-specific validation (files the
     * configuration names). -1 with one message in err: exit 2. */
    int (*check)(const cfg_t *cfg, char *err, size_t len);
    /* After the loop, SIP and API exist and before api_start(): create app state, routes. */
    int (*init)(program_t *p);
    void (*fini)(program_t *p);
    /* Extra readiness (Diameter peers): 1 ready, 0 not (reason filled). Runs on the loop. */
    int (*ready)(program_t *p, char *reason, size_t len);
    /* GET /api/v1/status, on the loop: the program adds its own members to status (the
     * scscf's "store"). NULL: none. */
    void (*status)(program_t *p, json_t *status);
    /* Before each /metrics scrape, on the loop: refresh the program's gauges. */
    void (*publish)(program_t *p);
    /* Config reload, on the loop, for each key whose value changed (cfg is the new config,
     * already checked): 1 when the new value is in effect, 0 when it needs a restart. */
    int (*reload)(program_t *p, const cfg_t *cfg, const char *key);
} program_def_t;

struct program {
    const program_def_t *def;
    cfg_t *cfg;
    su_root_t *root;
    loopq_t *queue;
    metrics_t *metrics;
    api_t *api;
    sip_core_t *sip;
    void *app;
    time_t start_time;
    char *api_token;
    /* shutdown */
    int stopping;
    su_time_t drain_deadline;
    su_timer_t *drain_timer;
    int signal_fd;
    su_wait_t signal_wait[1];
    int signal_index;
    metric_t *m_queue_depth, *m_rss, *m_fds, *m_cpu, *m_heap;
    double cpu_counted; /* CPU seconds already added to m_cpu */
    const char *config_path;
    struct program_reload *reloaded; /* the config last read by a reload (program_reload.c) */
};

int program_main(const program_def_t *def, int argc, char **argv);

/* The handler sip_core gets when a program has none: OPTIONS to this node gets 200, a request
 * that would need forwarding with Max-Forwards 0 gets 483, the rest 501. The pcscf and scscf
 * call it for OPTIONS addressed to the node itself (and before their init has run). */
int program_default_request(void *app, sip_core_t *core, sip_incoming_t *irq, sip_t const *sip);

#endif
