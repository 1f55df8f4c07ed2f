/* Digest credentials in a REGISTER's Authorization header (RFC 2617, RFC 3310, TS 24.229),
 * as a plain struct: what the S-CSCF verifies and the P-CSCF rewrites. */
#ifndef CSCF_SIP_DIGEST_H
#define CSCF_SIP_DIGEST_H

#include <sofia-sip/sip.h>

typedef struct digest_creds {
    char username[256], realm[256], nonce[256], uri[512], response[64];
    char algorithm[32], qop[32], nc[16], cnonce[256], opaque[256], auts[64];
    char integrity_protected[32]; /* "", "no", "yes", "tls-pending", "ip-assoc-pending", ... */
} digest_creds_t;

/* The first Digest credentials in the header list (for `realm` when given, else any).
 * 0, or -1 when there are none or a value does not fit or is malformed. */
int digest_creds_parse(const sip_authorization_t *au, const char *realm, digest_creds_t *out);

/* Copies a parameter value without the surrounding quotes (and \-escapes) into out. */
int digest_unquote(const char *value, char *out, size_t outlen);

#endif
