/* Digest credentials in a REGISTER's Authorization header (RFC 2617, RFC 3310, TS 24.229),
 * as a plain struct: what the S-CSCF verifies and the P-CSCF rewrites. */
#ifndef CSCF_SIP_DIGEST_H
#define CSCF_SIP_DIGEST_H

#include <sofia-sip/sip.h>
#include <sofia-sip/su_alloc.h>

typedef struct digest_creds {
    char username[256], realm[256], nonce[256], uri[512], response[64];
    char algorithm[32], qop[32], nc[16], cnonce[256], opaque[256], auts[64];
    char integrity_protected[32]; /* "", "no", "yes", "tls-pending", "ip-assoc-pending", ... */
} digest_creds_t;

/* The first Digest credentials in the header list (for `realm` when given, else any).
 * 0, or -1 when there are none or a value does not fit or is malformed. */
int digest_creds_parse(const sip_authorization_t *au, const char *realm, digest_creds_t *out);

/* The Authorization parameters of in as out (a new NULL-terminated array from home): those
 * sofia joined because only white space (a fold, say) separated them are split, and each is
 * name=value with no white space around name, '=' and value. 0, or -1 (out of memory). */
int digest_params_normalize(su_home_t *home, msg_param_t const *in, msg_param_t **out);

/* 1 when in holds a parameter digest_params_normalize would change (joined to the next one,
 * or white space around '='), 0 when all are clean, -1 (out of memory). */
int digest_params_odd(msg_param_t const *in);

/* Copies a parameter value without the surrounding quotes (and \-escapes) into out. */
int digest_unquote(const char *value, char *out, size_t outlen);

/* The value (unquoted) of parameter name of the first Digest header in the list (an
 * Authorization or a WWW-Authenticate): 0, or -1 when there is none or it does not fit. */
int digest_param(const msg_auth_t *au, const char *name, char *out, size_t outlen);

#endif
