/* UMTS/IMS AKA on top of Milenage (3GPP TS 33.102) and its SIP digest form (RFC 3310 AKAv1-MD5,
 * RFC 4169 AKAv2-MD5, RFC 2617 digest): what the HSS builds and the S-CSCF checks. */
#ifndef CSCF_AKA_H
#define CSCF_AKA_H

#include <stddef.h>
#include <stdint.h>

typedef struct aka_vector {
    uint8_t rand[16], autn[16], xres[8], ck[16], ik[16], ak[6];
} aka_vector_t;

/* AUTN = (SQN xor AK) || AMF || MAC-A. 0, or -1 when the crypto library fails. */
int aka_vector_make(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                    const uint8_t sqn[6], const uint8_t amf[2], aka_vector_t *v);

/* Resynchronisation (TS 33.102 6.3.3): AUTS = (SQN_MS xor AK*) || MAC-S, MAC-S = f1*(K, SQN_MS,
 * RAND, AMF 0000). verify: 0 and SQN_MS when MAC-S is right, -1 otherwise. */
int aka_auts_verify(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                    const uint8_t auts[14], uint8_t sqn_ms[6]);
/* The handset's side, for tests and test clients. */
int aka_auts_make(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                  const uint8_t sqn_ms[6], uint8_t auts[14]);

/* RFC 2617 response (MD5) with a password of raw bytes (RFC 3310: the XRES). qop NULL or "" is
 * the RFC 2069 form without nc/cnonce. out: 32 lowercase hex digits and a NUL. */
void aka_digest_response(const char *username, const char *realm, const uint8_t *password,
                         size_t password_len, const char *method, const char *uri,
                         const char *nonce, const char *nc, const char *cnonce, const char *qop,
                         char out[33]);

/* RFC 4169 AKAv2-MD5 password: base64(HMAC-MD5(key = XRES || IK || CK,
 * "http-digest-akav2-password")). 0, or -1 when out is too small. */
/* The same from HA1 (32 lowercase hex), as the HSS gives it for the MD5 scheme. */
void aka_digest_response_ha1(const char ha1[32], const char *method, const char *uri,
                             const char *nonce, const char *nc, const char *cnonce, const char *qop,
                             char out[33]);

int aka_v2_password(const uint8_t *xres, size_t xres_len, const uint8_t ik[16],
                    const uint8_t ck[16], char *out, size_t outlen);

/* The WWW-Authenticate nonce: base64(RAND || AUTN), and back (-1 on anything but exactly 32
 * bytes of valid base64, whatever the input). */
int aka_nonce_encode(const uint8_t rand[16], const uint8_t autn[16], char *out, size_t outlen);
int aka_nonce_decode(const char *nonce, uint8_t rand[16], uint8_t autn[16]);

#endif
