/* SIP over TLS (RFC 3261 26.3.1, sips: and transport=tls on port 5061 by default) with
 * sofia-sip's own TLS transport (tport_type_tls.c, OpenSSL).
 *
 * sofia 1.12 takes its certificate material only as a directory (TPTAG_CERTIFICATE) holding
 * agent.pem (certificate and private key in one file) and cafile.pem (trusted CAs). Our
 * configuration names the files separately (sip.tls.*), so sip_tls_stage() assembles that
 * directory privately (mkdtemp, mode 0700, files 0600) just before the listener is bound, and
 * sip_tls_unstage() removes it right after: OpenSSL has read everything by then, and no copy of
 * the private key stays on disk.
 *
 * sofia has no tag for the protocol versions (its TPTAG_TLS_VERSION only chooses between
 * OpenSSL's negotiating method and TLS 1.0 alone) nor a hook to its SSL_CTX, so the lowest
 * version is set as OpenSSL's system default (MinProtocol) for the process before sofia makes
 * its context: SIP is the process's only OpenSSL TLS user (Diameter and REST use GnuTLS). */
#ifndef CSCF_SIP_TLS_H
#define CSCF_SIP_TLS_H

#include <stddef.h>

/* sip.tls.verify_peer; the values are sofia's TPTLS_VERIFY_* bits (tport_tag.h). */
enum {
    SIP_TLS_VERIFY_NONE = 0,
    SIP_TLS_VERIFY_INCOMING = 1, /* connections accepted: the peer must show a certificate */
    SIP_TLS_VERIFY_OUTGOING = 2, /* connections made: the server's certificate must verify */
    SIP_TLS_VERIFY_BOTH = 3,
};

typedef struct sip_tls_config {
    const char *listen;      /* host:port; NULL or "": no TLS */
    const char *certificate; /* PEM: this node's certificate */
    const char *private_key; /* PEM: its key, unencrypted */
    const char *ca_file;     /* PEM: the CAs peers' certificates must chain to */
    unsigned verify;         /* SIP_TLS_VERIFY_* */
    unsigned min_version;    /* 12 (TLS 1.2) or 13 (TLS 1.3) */
    int verify_names; /* a server this node dials must name the host dialled (RFC 5922 7.2) */
    const char *const *subjects; /* a client's certificate must name one of these (empty: any) */
    size_t nsubjects;
} sip_tls_config_t;

/* sofia's TPTLS_VERIFY_* policy for tc: the verified sides, plus the name checks
 * (TPTLS_VERIFY_SUBJECTS_OUT when verify_names and outgoing connections are verified,
 * TPTLS_VERIFY_SUBJECTS_IN when subjects are listed and incoming ones are). */
unsigned sip_tls_policy(const sip_tls_config_t *tc);

/* "none", "incoming", "outgoing" or "both" to SIP_TLS_VERIFY_*; "1.2"/"1.3" to 12/13. 0 or -1. */
int sip_tls_verify_parse(const char *s, unsigned *out);
int sip_tls_version_parse(const char *s, unsigned *out);

/* Config check (also --check): with a listener, the certificate and key load and match, the CA
 * file loads (required when a side is verified). 0, or -1 with one message in err. */
int sip_tls_check(const sip_tls_config_t *tc, char *err, size_t len);

/* The directory sofia reads (see above): dir gets its path. 0, or -1 (logged). */
int sip_tls_stage(const sip_tls_config_t *tc, char *dir, size_t len);
/* Removes what sip_tls_stage() made. */
void sip_tls_unstage(const char *dir);

/* A peer's certificate refused for its names. sofia decides that inside its handshake and
 * says so only in its own log ("Peer Subject Mismatch (HOST)" at level 3 of tport_log), so
 * sip_tls_watch() takes tport's log over: on says which host was refused (host NULL for a
 * client's certificate naming none of sip.tls.allowed_subjects); every other tport line goes
 * on to our log at debug level, as program.c does for the rest of sofia. */
typedef void (*sip_tls_mismatch_f)(void *arg, const char *host);
void sip_tls_watch(sip_tls_mismatch_f on, void *arg);

/* The parser behind sip_tls_watch(), for the unit test: 1 and the host (empty for an incoming
 * connection) in host when line is sofia's mismatch line, else 0. */
int sip_tls_mismatch_line(const char *line, char *host, size_t len);

#endif
