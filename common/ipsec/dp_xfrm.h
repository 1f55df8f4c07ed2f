/* The xfrm datapath (ipsec_dp_xfrm_ops, ipsec_dp.h's contract) and the two hooks its tests use
 * on a kernel without ESP. The pcscf goes through ipsec_dp.h only. */
#ifndef CSCF_DP_XFRM_H
#define CSCF_DP_XFRM_H

#include <stddef.h>

#include "common/ipsec/ipsec_dp.h"

/* ipsec_dp_xfrm_ops.open with the ESP probe made optional (probe_esp 0): lets a test drive SPI
 * allocation, the policies and the rollback of a failed install on a kernel whose xfrm takes
 * policies and ALLOCSPI but no ESP SA. The pcscf always probes. */
void *dp_xfrm_open(const ipsec_dp_config_t *cfg, int probe_esp, char *err, size_t errlen);

/* Runs a plan's steps as install does (a failure undoes the steps before it): lets a test put
 * only a set's policies into a kernel without ESP and watch them drop clear packets. 0, or -1
 * (dp_xfrm_last_error says which step failed and why). */
struct dp_xfrm_plan;
int dp_xfrm_run_steps(void *be, const struct dp_xfrm_plan *plan);

/* XFRM_MSG_GETSA for the SA to dst (numeric) with spi and our mark, as stats() asks for each
 * of a set's four: 0 with the counters, or a negative errno (-ESRCH: no such SA). */
struct dp_xfrm_counters;
int dp_xfrm_sa_counters(void *be, const char *dst, uint32_t spi, struct dp_xfrm_counters *out);

/* What the last failed call did not manage, in words ("UPDSA spi 0x1234: Protocol not
 * supported (the kernel said: Requested type not found)"); "" when none failed. */
const char *dp_xfrm_last_error(const void *be);

#endif
