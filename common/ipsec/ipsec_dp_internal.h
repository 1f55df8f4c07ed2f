/* What a datapath provides (ipsec_dp.h's contract applies to each entry): ipsec_dp.c's public
 * calls go through this table, so the pcscf never knows which datapath it talks to. */
#ifndef CSCF_IPSEC_DP_INTERNAL_H
#define CSCF_IPSEC_DP_INTERNAL_H

#include "common/ipsec/ipsec_dp.h"

typedef struct ipsec_dp_ops {
    const char *name; /* as ipsec.datapath spells it */
    /* The datapath's state; NULL with the reason in err. */
    void *(*open)(const ipsec_dp_config_t *cfg, su_root_t *root, metrics_t *metrics, char *err,
                  size_t errlen);
    void (*close)(void *be);
    int (*guard_sockets)(void *be, char *err, size_t errlen);
    int (*alloc_spis)(void *be, const char *ue_addr, uint32_t *spi_pc, uint32_t *spi_ps);
    int (*install)(void *be, const ipsec_sa_set_t *s);
    int (*remove)(void *be, uint32_t spi_pc, uint32_t spi_ps);
    int (*stats)(void *be, uint32_t spi_pc, uint32_t spi_ps, ipsec_sa_stats_t *out);
} ipsec_dp_ops_t;

extern const ipsec_dp_ops_t ipsec_dp_userspace_ops; /* dp_userspace.c */
extern const ipsec_dp_ops_t ipsec_dp_xfrm_ops;      /* dp_xfrm.c */

#endif
