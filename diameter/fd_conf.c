#include "diameter/fd_conf.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/ops/config.h"

/* Loaded in this order: dict_dcca_3gpp needs the other two (diameter/README.md). */
static const char *const dictionaries[] = {"dict_nasreq.fdx", "dict_dcca.fdx",
                                           "dict_dcca_3gpp.fdx"};

int fd_conf_split_peer(const char *entry, char *identity, size_t idlen, char *host, size_t hostlen,
                       int *port)
{
    const char *at = strchr(entry, '@');
    if (!at || at == entry || (size_t)(at - entry) >= idlen)
        return -1;
    for (const char *p = entry; p < at; p++)
        if (*p == '"' || *p == ' ' || *p == ';' || *p == '{' || *p == '}')
            return -1; /* it goes inside a quoted freeDiameter string */
    memcpy(identity, entry, (size_t)(at - entry));
    identity[at - entry] = '\0';
    return cfg_split_addr(at + 1, host, hostlen, port);
}

/* Strings we put between quotes in the freeDiameter file must not be able to close them. */
static int quotable(const char *s)
{
    return s && *s && !strpbrk(s, "\"\n\r\\");
}

/* freeDiameter 1.2.1 takes only a numeric ConnectTo: given a name it silently falls back to
 * resolving the peer's Diameter identity. So a DNS name (a Kubernetes Service) is resolved here,
 * once, at start-up; the first address wins. */
static int resolve_host(const char *host, char *addr, size_t addrlen, char *err, size_t errlen)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1) {
        snprintf(addr, addrlen, "%s", host);
        return 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(err, errlen, "diameter.peers: cannot resolve '%s': %s", host,
                 rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    rc =
        getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, (socklen_t)addrlen, NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(ai);
    if (rc != 0) {
        snprintf(err, errlen, "diameter.peers: cannot resolve '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    return 0;
}

static int render_peer(FILE *f, const fd_conf_t *c, const char *entry, char *err, size_t errlen)
{
    char id[256], host[256];
    int port;
    if (fd_conf_split_peer(entry, id, sizeof id, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "diameter.peers: '%s' is not identity@host:port", entry);
        return -1;
    }
    char addr[256];
    if (resolve_host(host, addr, sizeof addr, err, errlen) < 0)
        return -1;
    fprintf(f, "ConnectPeer = \"%s\" { ConnectTo = \"%s\"; Port = %d; No_SCTP;%s };\n", id, addr,
            port, c->tls ? "" : " No_TLS;");
    return 0;
}

/* With TLS, the listen port is freeDiameter's TLS port (RFC 6733: TLS from the first byte) and
 * the plain one is closed (Port = 0); peers are dialled the same way. */
static int render_tls(FILE *f, const fd_conf_t *c, int port, char *err, size_t errlen)
{
    if (!c->tls) {
        /* freeDiameter 1.2.1 accepts a missing TLS_Cred only with the TLS port off. */
        fprintf(f, "Port = %d;\nSecPort = 0;\n", port);
        return 0;
    }
    if (!quotable(c->tls_cert) || !quotable(c->tls_key) || !quotable(c->tls_ca)) {
        snprintf(err, errlen,
                 "diameter.tls_cert, diameter.tls_key and diameter.tls_ca are needed with TLS on");
        return -1;
    }
    fprintf(f, "Port = 0;\nSecPort = %d;\n", port);
    fprintf(f, "TLS_Cred = \"%s\", \"%s\";\nTLS_CA = \"%s\";\n", c->tls_cert, c->tls_key,
            c->tls_ca);
    return 0;
}

static int check_names(const fd_conf_t *c, char *host, size_t hostlen, int *port, char *err,
                       size_t errlen)
{
    if (!quotable(c->identity) || !quotable(c->realm)) {
        snprintf(err, errlen, "diameter.identity and diameter.realm are needed (plain names)");
        return -1;
    }
    if (!c->listen || cfg_split_addr(c->listen, host, hostlen, port) < 0) {
        snprintf(err, errlen, "diameter.listen: expected host:port");
        return -1;
    }
    /* RFC 3539 wants Tw >= 6 s; freeDiameter refuses less. */
    if (c->watchdog_seconds < 6 || c->reconnect_seconds < 1) {
        snprintf(err, errlen,
                 "diameter.watchdog_seconds must be at least 6 and diameter.reconnect_seconds at "
                 "least 1");
        return -1;
    }
    return 0;
}

char *fd_conf_render(const fd_conf_t *c, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (check_names(c, host, sizeof host, &port, err, errlen) < 0)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    fprintf(f,
            "# Written by the program from its YAML configuration at start-up; do not edit.\n"
            "Identity = \"%s\";\nRealm = \"%s\";\nListenOn = \"%s\";\nNo_SCTP;\n"
            "NoRelay;\nTwTimer = %d;\nTcTimer = %d;\n",
            c->identity, c->realm, host, c->watchdog_seconds, c->reconnect_seconds);
    int rc = render_tls(f, c, port, err, errlen);
    const char *dir = c->ext_dir ? c->ext_dir : "/usr/lib/freeDiameter";
    for (size_t i = 0; rc == 0 && i < sizeof dictionaries / sizeof dictionaries[0]; i++)
        fprintf(f, "LoadExtension = \"%s/%s\";\n", dir, dictionaries[i]);
    for (size_t i = 0; rc == 0 && i < c->npeers; i++)
        rc = render_peer(f, c, c->peers[i], err, errlen);
    /* freeDiameter 1.2.1 hands each accepted connection to one of ThreadsPerServer workers,
     * which waits up to 20 s (INCNX_TIMEOUT, fixed at build time) for its CER; behind them
     * are a queue of 5 and a listen backlog of 5. With its default of 5 workers, ten silent
     * connections stop the listener taking anyone else for 20 s, and each new one another
     * 20 s: so many workers that a burst of half-open connections cannot occupy them all. */
    if (rc == 0 && c->accept_workers > 0)
        fprintf(f, "ThreadsPerServer = %d;\n", c->accept_workers);
    fclose(f);
    if (rc < 0) {
        free(text);
        return NULL;
    }
    return text;
}
