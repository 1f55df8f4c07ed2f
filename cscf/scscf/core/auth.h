/* The S-CSCF's side of IMS authentication (TS 33.203, RFC 3310/4169/2617): challenges handed
 * out in 401s, each kept until used once or expired, and the check of the handset's answer.
 * Loop thread only. */
#ifndef CSCF_SCSCF_AUTH_H
#define CSCF_SCSCF_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common/auth/sip_digest.h"
#include "common/util/strmap.h"
#include "diameter/cx_msg.h"

typedef enum { AUTH_AKAV1 = 0, AUTH_AKAV2, AUTH_MD5, AUTH_SCHEMES } auth_scheme_t;

typedef struct auth_challenge {
    char impi[256], impu[256];
    char nonce[64];
    char realm[128];
    auth_scheme_t scheme;
    uint8_t rand[16];
    uint8_t xres[16];
    size_t xres_len;
    uint8_t ck[16], ik[16];
    char ha1[33];
    int64_t expires_ms; /* monotonic */
    int failures;  /* wrong answers so far for this IMPI (policy: registrar.max_auth_failures) */
    char hss[256]; /* Origin-Host of the MAA it came from: the registration's SAR goes there */
} auth_challenge_t;

typedef struct auth_table {
    strmap_t *by_nonce;
    size_t max;
    int ttl_ms;
} auth_table_t;

int auth_table_init(auth_table_t *t, size_t max, int ttl_ms);
void auth_table_fini(auth_table_t *t);
/* Drops expired challenges; returns how many. */
size_t auth_table_expire(auth_table_t *t, int64_t now_ms);

/* Wire names: "AKAv1-MD5" / "Digest-AKAv1-MD5" (Cx) and back. */
const char *auth_scheme_name(auth_scheme_t s);
const char *auth_scheme_cx(auth_scheme_t s);
int auth_scheme_from_algorithm(const char *algorithm, auth_scheme_t *out); /* "" -> -1 */
int auth_scheme_from_cx(const char *cx_scheme, auth_scheme_t *out);

/* Turns the first vector of an MAA into a challenge stored under its nonce. The table owns
 * the returned entry. NULL when the item is unusable or the table is full. */
auth_challenge_t *auth_challenge_add(auth_table_t *t, const cx_auth_item_t *item, const char *impi,
                                     const char *impu, const char *realm, int failures,
                                     int64_t now_ms);

/* The challenge a nonce names, removed from the table (single use); NULL when unknown or
 * expired. The caller frees it. */
auth_challenge_t *auth_challenge_take(auth_table_t *t, const char *nonce, int64_t now_ms);

/* 1 when a challenge with this nonce waits for its answer (not taken, not expired). */
int auth_challenge_pending(const auth_table_t *t, const char *nonce, int64_t now_ms);

/* The WWW-Authenticate value for a challenge (with ck/ik for AKA, ARCHITECTURE.md section 4). */
int auth_www_authenticate(const auth_challenge_t *c, int stale, char *out, size_t outlen);

/* Checks the handset's answer to challenge c: 0 right, -1 wrong. method/uri as in the request. */
int auth_verify(const auth_challenge_t *c, const digest_creds_t *cr, const char *method);

#endif
