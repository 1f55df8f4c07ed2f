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
        .retry_after = cfg_int(cfg, "store.retry_after"),
        .guard =
            {
                .backoff_base_ms = cfg_int(cfg, "registrar.auth_backoff_base_ms"),
                .backoff_max_ms = cfg_int(cfg, "registrar.auth_backoff_max_ms"),
                .free_failures = cfg_int(cfg, "registrar.auth_backoff_free_failures"),
                .impi_burst = cfg_int(cfg, "registrar.auth_challenge_burst"),
                .impi_interval_ms = cfg_int(cfg, "registrar.auth_challenge_interval_ms"),
                .mar_rate = cfg_int(cfg, "registrar.max_mar_rate"),
                .max_in_flight = cfg_int(cfg, "registrar.max_mars_in_flight"),
            },
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
    if (rc.guard.backoff_base_ms > rc.guard.backoff_max_ms) {
        snprintf(err, len, "registrar: need auth_backoff_base_ms <= auth_backoff_max_ms");
        return -1;
    }
    const char *journal = cfg_str(cfg, "store.journal");
    if (journal && strchr(journal, ',')) {
        snprintf(err, len,
                 "store.journal: no comma in the path (it goes into the store's options)");
        return -1;
    }
    if (journal && *journal && strcmp(cfg_str(cfg, "store.backend"), "memory") != 0) {
        snprintf(err, len, "store.journal is for the memory backend (redis keeps its own state)");
        return -1;
    }
    const char *prefix = cfg_str(cfg, "store.redis.prefix");
    if (!prefix || strchr(prefix, ',')) {
        snprintf(err, len, "store.redis.prefix: no comma (it goes into the store's options)");
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
    return strcmp(key, "store.retry_after") == 0;
}

int reg_config_store_options(const cfg_t *cfg, char *out, size_t len)
{
    const char *backend = cfg_str(cfg, "store.backend");
    const char *journal = cfg_str(cfg, "store.journal");
    int n = 0;
    if (strcmp(backend, "redis") == 0)
        n = snprintf(out, len, "address=%s,timeout_ms=%ld,prefix=%s",
                     cfg_str(cfg, "store.redis.address"), cfg_int(cfg, "store.redis.timeout_ms"),
                     cfg_str(cfg, "store.redis.prefix"));
    else if (journal && *journal)
        n = snprintf(out, len, "journal=%s", journal);
    else if (len)
        out[0] = '\0';
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int reg_config_auth_timeout_ms(const cfg_t *cfg)
{
    return (int)cfg_int(cfg, "registrar.auth_timeout_seconds") * 1000;
}

size_t reg_config_max_registrations(const cfg_t *cfg)
{
    return (size_t)cfg_int(cfg, "registrar.max_registrations");
}

size_t reg_config_auth_guard_entries(const cfg_t *cfg)
{
    return (size_t)cfg_int(cfg, "registrar.auth_guard_entries");
}

size_t reg_config_max_challenges(const cfg_t *cfg)
{
    return (size_t)cfg_int(cfg, "limits.challenges");
}
