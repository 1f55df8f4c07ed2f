#include "cscf/scscf/registration/reg_config.h"

#include <stdio.h>
#include <string.h>

void reg_config_read(const cfg_t *cfg, registrar_config_t *rc)
{
    *rc = (registrar_config_t){
        .min_expires = cfg_int(cfg, "registrar.min_expires"),
        .max_expires = cfg_int(cfg, "registrar.max_expires"),
        .default_expires = cfg_int(cfg, "registrar.default_expires"),
        .allow_direct = cfg_bool(cfg, "registrar.allow_direct"),
        .trust_integrity_protected = cfg_bool(cfg, "registrar.trust_integrity_protected"),
        .max_auth_failures = (int)cfg_int(cfg, "registrar.max_auth_failures"),
        .max_contacts = cfg_int(cfg, "registrar.max_contacts"),
    };
}

int reg_config_check(const cfg_t *cfg, char *err, size_t len)
{
    registrar_config_t rc;
    reg_config_read(cfg, &rc);
    if (rc.min_expires > rc.max_expires || rc.default_expires < rc.min_expires) {
        snprintf(err, len,
                 "registrar: need min_expires <= default_expires and min_expires <= max_expires");
        return -1;
    }
    return 0;
}

int reg_config_reloads(const char *key)
{
    static const cfg_key_t policies[] = {REG_CONFIG_POLICY_ROWS, CFG_END};
    for (const cfg_key_t *k = policies; k->path; k++)
        if (strcmp(key, k->path) == 0)
            return 1;
    return 0;
}

int reg_config_auth_timeout_ms(const cfg_t *cfg)
{
    return (int)cfg_int(cfg, "registrar.auth_timeout_seconds") * 1000;
}

size_t reg_config_max_registrations(const cfg_t *cfg)
{
    return (size_t)cfg_int(cfg, "registrar.max_registrations");
}
