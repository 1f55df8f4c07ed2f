/* The registrar's configuration (registrar.* keys): the rows of the scscf's key table, the
 * policies each REGISTER is held to, their check, and which keys a reload applies. Every
 * registrar key is spelled here (the rows) and in reg_config.c (the read), nowhere else. */
#ifndef CSCF_SCSCF_REG_CONFIG_H
#define CSCF_SCSCF_REG_CONFIG_H

#include <stddef.h>

#include "common/ops/config.h"
#include "cscf/scscf/core/auth_guard.h"

/* The most registrar.max_contacts may be. The store is sized for it and the registrar enforces
 * the configured cap itself (bindings.c), before the SAR, so a reload that raises or lowers the
 * cap takes effect at the next REGISTER while the store's limit stays the hard bound. */
#define REGISTRAR_CONTACTS_LIMIT 100

/* The policies: read at start-up and again by a reload of any of REG_CONFIG_POLICY_ROWS. */
typedef struct registrar_config {
    long min_expires, max_expires, default_expires;
    int allow_direct;              /* REGISTER without Path (no P-CSCF) accepted */
    int trust_integrity_protected; /* re-REGISTER marked integrity-protected="yes" not challenged */
    int max_auth_failures;         /* wrong answers re-challenged before 403 */
    long max_contacts;             /* new contacts beyond it get 403; those bound stay */
    long retry_after;              /* store.retry_after: Retry-After when the store failed */
    auth_guard_policy_t guard;     /* the Cx budget of authentication (core/auth_guard.h) */
} registrar_config_t;

/* The keys registrar_config_t holds; a reload applies them to the next REGISTER. */
#define REG_CONFIG_POLICY_ROWS                                                                     \
    {"registrar.min_expires",                                                                      \
     CFG_INT,                                                                                      \
     "60",                                                                                         \
     "shortest registration accepted (else 423)",                                                  \
     1,                                                                                            \
     86400,                                                                                        \
     NULL},                                                                                        \
        {"registrar.max_expires",                                                                  \
         CFG_INT,                                                                                  \
         "600000",                                                                                 \
         "longest registration granted (longer requests are cut to it)",                           \
         1,                                                                                        \
         31536000,                                                                                 \
         NULL},                                                                                    \
        {"registrar.default_expires",                                                              \
         CFG_INT,                                                                                  \
         "3600",                                                                                   \
         "when the REGISTER names no expiry",                                                      \
         1,                                                                                        \
         31536000,                                                                                 \
         NULL},                                                                                    \
        {"registrar.allow_direct",                                                                 \
         CFG_BOOL,                                                                                 \
         "true",                                                                                   \
         "accept REGISTER without Path (no P-CSCF in front; a lab); false: 403",                   \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {"registrar.trust_integrity_protected",                                                    \
         CFG_BOOL,                                                                                 \
         "false",                                                                                  \
         "a re-REGISTER with a Path that the P-CSCF marks integrity-protected=\"yes\" is not "     \
         "challenged",                                                                             \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {"registrar.max_auth_failures",                                                            \
         CFG_INT,                                                                                  \
         "0",                                                                                      \
         "wrong digest answers re-challenged before 403",                                          \
         0,                                                                                        \
         10,                                                                                       \
         NULL},                                                                                    \
        {"registrar.auth_backoff_base_ms",                                                         \
         CFG_INT,                                                                                  \
         "1000",                                                                                   \
         "first back-off of an IMPI whose authentications keep failing: a REGISTER asking it a "   \
         "new challenge gets 503 with Retry-After, no MAR (0: no back-off)",                       \
         0,                                                                                        \
         600000,                                                                                   \
         NULL},                                                                                    \
        {"registrar.auth_backoff_max_ms",                                                          \
         CFG_INT,                                                                                  \
         "30000",                                                                                  \
         "the back-off doubles per failure up to this; a right answer ends it, and a quiet "       \
         "period "                                                                                 \
         "this long after it forgets the failures",                                                \
         0,                                                                                        \
         3600000,                                                                                  \
         NULL},                                                                                    \
        {"registrar.auth_backoff_free_failures",                                                   \
         CFG_INT,                                                                                  \
         "1",                                                                                      \
         "failed authentications of an IMPI in a row before its back-off starts",                  \
         0,                                                                                        \
         100,                                                                                      \
         NULL},                                                                                    \
        {"registrar.auth_challenge_burst",                                                         \
         CFG_INT,                                                                                  \
         "5",                                                                                      \
         "unanswered challenges (MARs) one IMPI may get at once; an answered one gives its share " \
         "back",                                                                                   \
         1,                                                                                        \
         1000,                                                                                     \
         NULL},                                                                                    \
        {"registrar.auth_challenge_interval_ms",                                                   \
         CFG_INT,                                                                                  \
         "1000",                                                                                   \
         "then one more per interval; beyond: 503 with Retry-After, no MAR (0: no per-IMPI "       \
         "limit)",                                                                                 \
         0,                                                                                        \
         3600000,                                                                                  \
         NULL},                                                                                    \
        {"registrar.max_mar_rate",                                                                 \
         CFG_INT,                                                                                  \
         "2000",                                                                                   \
         "new challenges (MARs) per second for all IMPIs; above it a REGISTER asking one gets "    \
         "503 with Retry-After (0: no limit)",                                                     \
         0,                                                                                        \
         1000000,                                                                                  \
         NULL},                                                                                    \
        {"registrar.max_mars_in_flight",                                                           \
         CFG_INT,                                                                                  \
         "200",                                                                                    \
         "MARs awaiting the HSS at once, all IMPIs; with that many a REGISTER asking a new "       \
         "challenge gets 503 with Retry-After at once rather than wait behind them (0: no limit)", \
         0,                                                                                        \
         1000000,                                                                                  \
         NULL},                                                                                    \
    {                                                                                              \
        "registrar.max_contacts", CFG_INT, "10",                                                   \
            "contacts per registration: a REGISTER adding one beyond it gets 403 (before the "     \
            "SAR); "                                                                               \
            "a reload applies a new value to the next REGISTER, and lowering it keeps the "        \
            "contacts "                                                                            \
            "bound",                                                                               \
            1, REGISTRAR_CONTACTS_LIMIT, NULL                                                      \
    }

/* The keys read once at start-up (they size the store and the challenge table). */
#define REG_CONFIG_SETUP_ROWS                                                                      \
    {"registrar.auth_timeout_seconds",                                                             \
     CFG_INT,                                                                                      \
     "30",                                                                                         \
     "how long a challenge (vector) may be answered",                                              \
     5,                                                                                            \
     600,                                                                                          \
     NULL},                                                                                        \
        {"registrar.auth_guard_entries",                                                           \
         CFG_INT,                                                                                  \
         "100000",                                                                                 \
         "IMPIs whose authentication back-off and MARs in flight are remembered; beyond it the "   \
         "one "                                                                                    \
         "touched longest ago is forgotten",                                                       \
         1,                                                                                        \
         100000000,                                                                                \
         NULL},                                                                                    \
        {"registrar.max_registrations",                                                            \
         CFG_INT,                                                                                  \
         "100000",                                                                                 \
         "registrations held: a REGISTER of a new IMPI at the cap gets 503 with Retry-After "      \
         "(before the MAR); reg event subscriptions are capped at twice it",                       \
         1,                                                                                        \
         100000000,                                                                                \
         NULL},                                                                                    \
    {                                                                                              \
        "limits.challenges", CFG_INT, "100000",                                                    \
            "challenges (authentication vectors) waiting for their answer; a REGISTER that "       \
            "needs a new one at the cap gets 503 with Retry-After (before the MAR)",               \
            1, 100000000, NULL                                                                     \
    }

/* The store the registrations live in (common/store/store.h), read once at start-up, and
 * store.retry_after, which a reload applies. */
#define REG_CONFIG_STORE_ROWS                                                                      \
    {"store.backend",                                                                              \
     CFG_ENUM,                                                                                     \
     "memory",                                                                                     \
     "where registrations live: memory (this process's; kept across a restart only with "          \
     "store.journal) or redis (shared by every replica: store.redis.*); a store that cannot "      \
     "open stops the start",                                                                       \
     0,                                                                                            \
     0,                                                                                            \
     "memory|redis"},                                                                              \
        {"store.journal",                                                                          \
         CFG_STRING,                                                                               \
         NULL,                                                                                     \
         "memory backend: the journal file that keeps the registrations across a restart "         \
         "(none or \"\": registrations are lost when the process ends)",                           \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {"store.redis.address",                                                                    \
         CFG_ADDR,                                                                                 \
         "127.0.0.1:6379",                                                                         \
         "redis backend: the Redis server (host:port)",                                            \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {"store.redis.timeout_ms",                                                                 \
         CFG_INT,                                                                                  \
         "500",                                                                                    \
         "redis backend: a command not answered within it fails (the request gets 504)",           \
         10,                                                                                       \
         60000,                                                                                    \
         NULL},                                                                                    \
        {"store.redis.prefix",                                                                     \
         CFG_STRING,                                                                               \
         "ims:",                                                                                   \
         "redis backend: the start of every key (replicas sharing registrations use the same)",    \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
    {                                                                                              \
        "store.retry_after", CFG_INT, "5",                                                         \
            "Retry-After (seconds) of the 500 (store error) or 504 (store timeout) a request "     \
            "gets while the store fails; a reload applies it",                                     \
            1, 3600, NULL                                                                          \
    }

/* Every row of the scscf's key table that this file reads: registrar.* and store.*. */
#define REG_CONFIG_KEY_ROWS REG_CONFIG_POLICY_ROWS, REG_CONFIG_SETUP_ROWS, REG_CONFIG_STORE_ROWS

void reg_config_read(const cfg_t *cfg, registrar_config_t *rc);
/* -1 with err when they do not fit together (the program's check: start-up and reload; the
 * only place the invariant is checked). */
int reg_config_check(const cfg_t *cfg, char *err, size_t len);
/* 1 when key is one of the policies (a reload re-reads them with reg_config_read), else 0. */
int reg_config_reloads(const char *key);
/* The options string store_open_on() takes for the configured backend (store.journal for
 * memory, store.redis.* for redis); 0, or -1 when it does not fit in len. */
int reg_config_store_options(const cfg_t *cfg, char *out, size_t len);
/* The challenge lifetime and the registrations held, for the set-up. */
int reg_config_auth_timeout_ms(const cfg_t *cfg);
size_t reg_config_max_registrations(const cfg_t *cfg);
size_t reg_config_auth_guard_entries(const cfg_t *cfg);
size_t reg_config_max_challenges(const cfg_t *cfg); /* limits.challenges */

#endif
