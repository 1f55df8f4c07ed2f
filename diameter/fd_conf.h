/* The freeDiameter configuration a program needs, written from our own settings, so a user
 * edits one YAML file per program and never a freeDiameter one (ARCHITECTURE.md section 2). */
#ifndef CSCF_FD_CONF_H
#define CSCF_FD_CONF_H

#include <stddef.h>

typedef struct fd_conf {
    const char *identity; /* Diameter Identity (FQDN) */
    const char *realm;
    const char *listen; /* "host:port" to accept peers on, or NULL to only connect out */
    int tls;            /* 0: plain TCP (SecPort = 0, peers No_TLS) */
    const char *tls_cert, *tls_key, *tls_ca;
    const char *const *peers; /* "identity@host:port" */
    size_t npeers;
    int watchdog_seconds;  /* Tw: DWR interval */
    int reconnect_seconds; /* Tc: how soon a lost peer is retried (freeDiameter's default 30 s) */
    int accept_workers;    /* ThreadsPerServer: incoming connections taken to their CER at once,
                            * per listening socket (0: freeDiameter's default, 5) */
    const char *ext_dir;   /* where the dict_*.fdx extensions live */
} fd_conf_t;

/* Validates a peer entry: 0 and the parts, or -1. */
int fd_conf_split_peer(const char *entry, char *identity, size_t idlen, char *host, size_t hostlen,
                       int *port);

/* The configuration text (malloc'd), or NULL with a reason in err naming the setting. */
char *fd_conf_render(const fd_conf_t *c, char *err, size_t errlen);

#endif
