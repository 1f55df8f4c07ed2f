/* TEMPORARY, branch dp only: ipsec_dp.c names ipsec_dp_xfrm_ops, which dp_xfrm.c (branch
 * xfrmdp) provides. This stand-in lets programs that link ipsec_dp.o (tests/tools/espdp.c)
 * build here; the lead drops it when the branches merge. */
#include "common/ipsec/ipsec_dp_internal.h"

#include <stdio.h>

static void *placeholder_open(const ipsec_dp_config_t *cfg, su_root_t *root, metrics_t *metrics,
                              char *err, size_t errlen)
{
    snprintf(err, errlen, "the xfrm datapath is not in this build");
    return NULL;
}

const ipsec_dp_ops_t ipsec_dp_xfrm_ops = {
    .name = "xfrm",
    .open = placeholder_open,
};
