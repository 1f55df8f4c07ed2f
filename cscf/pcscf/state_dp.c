/* The real datapath for state.c. Its own object: a pcscf that never attaches a datapath (and
 * the unit tests, which pass fakes) does not link the datapaths in through state.c. */
#include "cscf/pcscf/state.h"
#include "cscf/pcscf/state_internal.h"

static const pc_dp_ops_t dp_ops = {
    .install = ipsec_dp_install,
    .stats = ipsec_dp_stats,
};

int pcscf_state_attach_dp(pcscf_t *pc, ipsec_dp_t *dp, pcscf_sa_restored_f restored, void *arg)
{
    return pcscf_state_attach(pc, dp, &dp_ops, restored, arg);
}
