/* What state.c and sa_view.c share (state.h is the interface for the rest of the pcscf). */
#ifndef CSCF_PCSCF_STATE_INTERNAL_H
#define CSCF_PCSCF_STATE_INTERNAL_H

#include "cscf/pcscf/pcscf.h"
#include "cscf/pcscf/state.h"

/* The datapath calls state.c makes, handed over with the datapath (state_dp.c passes
 * ipsec_dp_install and ipsec_dp_stats; the unit tests pass fakes). */
typedef struct pc_dp_ops {
    int (*install)(ipsec_dp_t *dp, const ipsec_sa_set_t *s);
    int (*stats)(ipsec_dp_t *dp, uint32_t spi_pc, uint32_t spi_ps, ipsec_sa_stats_t *out);
} pc_dp_ops_t;

typedef struct pc_state {
    const char *path;         /* pcscf.state_file; "": nothing kept */
    su_timer_t *save, *check; /* the delayed write; the 1 s sequence and retry check */
    int pending;              /* a write is due (save is set) */
    int failing;              /* the last write failed: retried every second */
    ipsec_dp_t *dp;           /* pcscf_state_attach_dp; NULL: no SAs installed here */
    const pc_dp_ops_t *ops;   /* with dp */
    pcscf_sa_restored_f restored;
    void *restored_arg;
    metric_t *m_failures; /* ipsec_sa_failures_total{op} */
    metric_t *m_sets;     /* ipsec_sa_sets{state,alg,ealg} */
} pc_state_t;

/* pcscf_state_attach_dp with the calls to make on dp. */
int pcscf_state_attach(pcscf_t *pc, ipsec_dp_t *dp, const pc_dp_ops_t *ops,
                       pcscf_sa_restored_f restored, void *arg);
/* ops->stats on the attached datapath: 0, or -1 (none attached, or no such set). */
int pcscf_state_sa_stats(const pcscf_t *pc, const ipsec_sa_set_t *s, ipsec_sa_stats_t *out);

/* "none", "temporary", "active", "old". */
const char *pcscf_sa_state_name(pc_sa_state_t s);

#endif
