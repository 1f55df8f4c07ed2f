/* The xfrm datapath's decisions as data: which NETLINK_XFRM messages install or remove one UE's
 * SA set (ipsec_dp.h), before any socket is involved, so they can be checked field by field on a
 * kernel that has no ESP (and the GETSA question and answer stats() needs). dp_xfrm.c turns each
 * step into an xfrm_msg.h message and sends it.
 *
 * One set is four SAs and four policies (TS 33.203 7.1), all ESP in transport mode, for UDP and
 * TCP (selector protocol 0) between exactly the UE's address and ports and ours:
 *   in  spi_ps: ue:port_uc -> local:port_ps   (UPDSA: the SPI came from ALLOCSPI)
 *   in  spi_pc: ue:port_us -> local:port_pc   (UPDSA)
 *   out spi_uc: local:port_ps -> ue:port_uc   (NEWSA)
 *   out spi_us: local:port_pc -> ue:port_us   (NEWSA)
 * and a policy per flow (dir out for our two, dir in for the UE's two) whose ESP template
 * requires an SA between the two addresses (any SPI, reqid 0): the SAs' own selectors pick the
 * SA of the flow. */
#ifndef CSCF_DP_XFRM_PLAN_H
#define CSCF_DP_XFRM_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/ipsec/ipsec_dp.h"
#include "common/ipsec/xfrm_msg.h"

typedef enum dp_xfrm_step_kind {
    DP_XFRM_ADD_POLICY, /* XFRM_MSG_NEWPOLICY with step.policy */
    DP_XFRM_UPD_SA,     /* XFRM_MSG_UPDSA with step.sa (fills an SPI from ALLOCSPI) */
    DP_XFRM_ADD_SA,     /* XFRM_MSG_NEWSA with step.sa (and step.oseq) */
    DP_XFRM_DEL_SA,     /* XFRM_MSG_DELSA: step.sa.flow.family, .flow.dst, .spi, .mark */
    DP_XFRM_DEL_POLICY, /* XFRM_MSG_DELPOLICY by step.policy's flow, dir and mark */
} dp_xfrm_step_kind_t;

typedef struct dp_xfrm_step {
    dp_xfrm_step_kind_t kind;
    xfrm_msg_sa_t sa;         /* the SA kinds; its keys point into the set the plan was made from */
    uint32_t oseq;            /* ADD_SA: outbound sequence number to resume from (0: fresh) */
    xfrm_msg_policy_t policy; /* the policy kinds */
} dp_xfrm_step_t;

#define DP_XFRM_PLAN_MAX 8

typedef struct dp_xfrm_plan {
    size_t n;
    dp_xfrm_step_t steps[DP_XFRM_PLAN_MAX];
} dp_xfrm_plan_t;

/* What every set of one datapath shares. */
typedef struct dp_xfrm_ctx {
    uint16_t family;       /* AF_INET (the interface is IPv4 for now) */
    xfrm_address_t local;  /* our Gm address */
    xfrm_msg_mark_t mark;  /* on every SA and policy (see dp_xfrm.c for why value 0) */
    uint32_t priority;     /* of our policies */
    uint8_t replay_window; /* of our inbound SAs */
} dp_xfrm_ctx_t;

/* The set's four policies, by flow; a mask of them says which a plan adds or deletes. A policy
 * is shared by every installed set with the same flow (the kernel keeps one policy per
 * selector, direction and mark: a second NEWPOLICY fails with EEXIST), so the datapath adds
 * only those no other set has and deletes only those no other set still uses. */
enum {
    DP_XFRM_POL_IN_PC = 1 << 0,  /* in:  ue:port_us -> local:port_pc */
    DP_XFRM_POL_IN_PS = 1 << 1,  /* in:  ue:port_uc -> local:port_ps */
    DP_XFRM_POL_OUT_US = 1 << 2, /* out: local:port_pc -> ue:port_us */
    DP_XFRM_POL_OUT_UC = 1 << 3, /* out: local:port_ps -> ue:port_uc */
    DP_XFRM_POL_ALL = 0xf,
};

/* The mask of the policies sets a and b share (same UE address and the flow's two ports). */
unsigned dp_xfrm_shared_policies(const ipsec_sa_set_t *a, const ipsec_sa_set_t *b);

/* The install of set s, in order: the policies in the mask (DP_XFRM_POL_*), then the two
 * inbound SAs (UPD_SA) and the two outbound ones (ADD_SA). Policies first, so no packet of these
 * flows ever passes in clear while the SAs go in. 0, or -1 (bad address, port 0, algorithm or
 * key length, SPI 0). */
int dp_xfrm_plan_install(const dp_xfrm_ctx_t *ctx, const ipsec_sa_set_t *s, unsigned policies,
                         dp_xfrm_plan_t *out);

/* The removal of set s: the four SAs (DEL_SA), then the policies in the mask. */
int dp_xfrm_plan_remove(const dp_xfrm_ctx_t *ctx, const ipsec_sa_set_t *s, unsigned policies,
                        dp_xfrm_plan_t *out);

/* The step that undoes an install step (rollback after a later step failed): DEL_SA for an
 * UPD_SA or ADD_SA, DEL_POLICY for an ADD_POLICY. 0, or -1 for a step that adds nothing. */
int dp_xfrm_plan_undo(const dp_xfrm_step_t *done, dp_xfrm_step_t *undo);

/* XFRM_MSG_GETSA for one SA (xfrm_msg has no builder for it): the payload and mark of DELSA,
 * no ACK (the answer is the SA). Length, or -1. */
int dp_xfrm_getsa(void *buf, size_t size, uint32_t seq, uint16_t family, const xfrm_address_t *dst,
                  uint32_t spi, const xfrm_msg_mark_t *mark);

/* What stats() wants of the kernel's answer to GETSA (an XFRM_MSG_NEWSA message). */
typedef struct dp_xfrm_counters {
    uint64_t bytes, packets; /* since the SA was added */
    uint64_t use_time;       /* wall-clock seconds of the FIRST use (the kernel sets it once);
                                0: none yet */
    uint32_t oseq;           /* the last outbound sequence number (XFRMA_REPLAY_VAL or _ESN_VAL) */
} dp_xfrm_counters_t;

/* 0, or -1 when buf is not a whole, well-formed NEWSA. */
int dp_xfrm_parse_counters(const void *buf, size_t len, dp_xfrm_counters_t *out);

/* The xfrm names of the algorithms of ipsec_keys_t; -1 for a value outside the enums. */
int dp_xfrm_auth_of(ipsec_alg_t alg, xfrm_msg_auth_t *out);
int dp_xfrm_enc_of(ipsec_ealg_t ealg, xfrm_msg_enc_t *out);

#endif
