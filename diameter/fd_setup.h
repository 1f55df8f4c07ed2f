/* freeDiameter in one of our programs: its configuration comes from the `diameter:` section of
 * the program's YAML (written to a temporary freeDiameter file, parsed, deleted), the Cx
 * dictionary is loaded, Cx is advertised, and freeDiameter's log lines become ours.
 *
 * freeDiameter is process-global (ARCHITECTURE.md section 2): one fd_setup per process. */
#ifndef CSCF_FD_SETUP_H
#define CSCF_FD_SETUP_H

#include <stddef.h>
#include <jansson.h>

#include "common/ops/config.h"
#include "common/ops/metrics.h"
#include "diameter/cx_dict.h"

/* The `<prefix>.*` rows of a program's key table (prefix: a string literal, "diameter" for the
 * Cx nodes, "policy.rx" for the pcscf's Rx). listen and peers are the program's defaults
 * ("127.0.0.1:3869", "hss.example@127.0.0.1:3868" or ""); workers is diameter.accept_workers'
 * (the HSS, which every S-CSCF dials, needs many; each is a thread, and under AddressSanitizer
 * a start costs a few milliseconds per thread). */
#define FD_SETUP_KEY_ROWS_P(prefix, identity, listen, peers, workers)                              \
    {prefix ".identity",                                                                           \
     CFG_STRING,                                                                                   \
     identity,                                                                                     \
     "Diameter Identity (Origin-Host) of this node",                                               \
     0,                                                                                            \
     0,                                                                                            \
     NULL},                                                                                        \
        {prefix ".realm",                                                                          \
         CFG_STRING,                                                                               \
         "ims.mnc001.mcc001.3gppnetwork.org",                                                      \
         "Diameter realm (Origin-Realm)",                                                          \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {prefix ".listen", CFG_ADDR, listen, "address freeDiameter accepts peers on", 0, 0, NULL}, \
        {prefix ".peers",                                                                          \
         CFG_LIST,                                                                                 \
         peers,                                                                                    \
         "peers to connect to and keep connected, each identity@host:port",                        \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {prefix ".accept_realms",                                                                  \
         CFG_LIST,                                                                                 \
         "",                                                                                       \
         "realms whose undeclared peers may connect (empty: " prefix ".realm only)",               \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {prefix ".tls",                                                                            \
         CFG_BOOL,                                                                                 \
         "false",                                                                                  \
         "TLS to and from peers (needs tls_cert and tls_key)",                                     \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {prefix ".tls_cert", CFG_STRING, NULL, "PEM certificate for TLS", 0, 0, NULL},             \
        {prefix ".tls_key", CFG_STRING, NULL, "PEM private key for TLS", 0, 0, NULL},              \
        {prefix ".tls_ca",                                                                         \
         CFG_STRING,                                                                               \
         NULL,                                                                                     \
         "PEM CA bundle that peers' certificates must chain "                                      \
         "to",                                                                                     \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {prefix ".watchdog_seconds",                                                               \
         CFG_INT,                                                                                  \
         "6",                                                                                      \
         "DWR interval (Tw, RFC 3539: at least 6)",                                                \
         6,                                                                                        \
         3600,                                                                                     \
         NULL},                                                                                    \
        {prefix ".reconnect_seconds",                                                              \
         CFG_INT,                                                                                  \
         "3",                                                                                      \
         "how soon a lost peer is dialled again (Tc)",                                             \
         1,                                                                                        \
         3600,                                                                                     \
         NULL},                                                                                    \
    {                                                                                              \
        prefix ".accept_workers", CFG_INT, workers,                                                \
            "incoming connections taken through the capability exchange at once, per listening "   \
            "socket; each waits up to 20 s for its CER (freeDiameter ThreadsPerServer)",           \
            5, 4096, NULL                                                                          \
    }

/* The Cx nodes' rows: the above under "diameter", and the Cx request timeout. */
#define FD_SETUP_KEY_ROWS(identity, listen, peers, workers)                                        \
    FD_SETUP_KEY_ROWS_P("diameter", identity, listen, peers, workers),                             \
    {                                                                                              \
        "diameter.request_timeout_ms", CFG_INT, "2000",                                            \
            "how long a Cx request waits for its answer", 100, 60000, NULL                         \
    }

typedef struct fd_peer_status {
    char identity[256];
    char state[32]; /* freeDiameter's state name: STATE_OPEN, STATE_CLOSED, ... */
    int open;
    int configured; /* from diameter.peers (else it connected to us) */
} fd_peer_status_t;

/* Starts freeDiameter with the Cx application registered (advertised in CER, so peers open).
 * cx receives the resolved dictionary objects. 0, or -1 with one reason in err. */
int fd_setup_start(const cfg_t *cfg, cx_dict_t *cx, char *err, size_t errlen);

/* The same for any application: the settings are the `<prefix>.*` keys; once freeDiameter has
 * read them (its dictionaries loaded), load(ctx) adds the program's dictionary objects and
 * advertises its application(s) (fd_disp_app_support), returning 0 or -1. */
int fd_setup_start_with(const cfg_t *cfg, const char *prefix, int (*load)(void *ctx), void *ctx,
                        char *err, size_t errlen);

/* Disconnects peers (DPR) and stops freeDiameter's threads; no callback runs afterwards. */
void fd_setup_stop(void);

/* Per-peer counters the freeDiameter hooks keep (set before fd_setup_start; NULL: none):
 * requests{peer} counts Cx requests sent to each peer, failovers{peer,reason} the requests
 * freeDiameter took off a peer whose connection closed (reason "connection_lost"). */
void fd_setup_count_into(metric_t *requests, metric_t *failovers);

/* 1 when a peer of that Diameter identity is open. Any thread. */
int fd_setup_peer_open(const char *identity);

/* An open peer from diameter.peers other than avoid (NULL or "": any), written to out: 0, or
 * -1 when there is none. Any thread. */
int fd_setup_alternative(const char *avoid, char *out, size_t len);

/* Every peer freeDiameter knows. Returns how many were written (at most max). Any thread. */
size_t fd_setup_peers(fd_peer_status_t *out, size_t max);

/* 1 when at least one configured peer is open; else 0 and the reason. */
int fd_setup_ready(char *reason, size_t len);

/* The peers as a JSON array for the REST API. */
json_t *fd_setup_peers_json(void);

/* Our Diameter identity and realm (valid after start). */
const char *fd_setup_identity(void);
const char *fd_setup_realm(void);

#endif
