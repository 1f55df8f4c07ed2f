/* The datapath interface (ipsec_dp.h): one table per kind, chosen at open. */
#include "common/ipsec/ipsec_dp_internal.h"

#include <stdlib.h>
#include <string.h>

struct ipsec_dp {
    const ipsec_dp_ops_t *ops;
    void *be;
};

static const ipsec_dp_ops_t *ops_of(ipsec_dp_kind_t kind)
{
    switch (kind) {
    case IPSEC_DP_USERSPACE:
        return &ipsec_dp_userspace_ops;
    case IPSEC_DP_XFRM:
        return &ipsec_dp_xfrm_ops;
    }
    return NULL;
}

const char *ipsec_dp_kind_name(ipsec_dp_kind_t kind)
{
    const ipsec_dp_ops_t *ops = ops_of(kind);
    return ops ? ops->name : NULL;
}

int ipsec_dp_kind_parse(const char *s, ipsec_dp_kind_t *out)
{
    static const ipsec_dp_kind_t kinds[] = {IPSEC_DP_USERSPACE, IPSEC_DP_XFRM};
    for (size_t i = 0; s && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(s, ipsec_dp_kind_name(kinds[i])) == 0) {
            *out = kinds[i];
            return 0;
        }
    return -1;
}

ipsec_dp_t *ipsec_dp_open(const ipsec_dp_config_t *cfg, su_root_t *root, metrics_t *metrics,
                          char *err, size_t errlen)
{
    const ipsec_dp_ops_t *ops = ops_of(cfg->kind);
    ipsec_dp_t *dp = ops ? calloc(1, sizeof *dp) : NULL;
    if (!dp)
        return NULL;
    dp->ops = ops;
    dp->be = ops->open(cfg, root, metrics, err, errlen);
    if (!dp->be) {
        free(dp);
        return NULL;
    }
    return dp;
}

void ipsec_dp_close(ipsec_dp_t *dp)
{
    if (!dp)
        return;
    dp->ops->close(dp->be);
    free(dp);
}

int ipsec_dp_guard_sockets(ipsec_dp_t *dp, char *err, size_t errlen)
{
    return dp->ops->guard_sockets(dp->be, err, errlen);
}

int ipsec_dp_alloc_spis(ipsec_dp_t *dp, const char *ue_addr, uint32_t *spi_pc, uint32_t *spi_ps)
{
    return dp->ops->alloc_spis(dp->be, ue_addr, spi_pc, spi_ps);
}

int ipsec_dp_install(ipsec_dp_t *dp, const ipsec_sa_set_t *s)
{
    return dp->ops->install(dp->be, s);
}

int ipsec_dp_remove(ipsec_dp_t *dp, uint32_t spi_pc, uint32_t spi_ps)
{
    return dp->ops->remove(dp->be, spi_pc, spi_ps);
}

int ipsec_dp_stats(ipsec_dp_t *dp, uint32_t spi_pc, uint32_t spi_ps, ipsec_sa_stats_t *out)
{
    return dp->ops->stats(dp->be, spi_pc, spi_ps, out);
}
