/* The IPsec algorithms of 3GPP sec-agree (TS 33.203 6.3) and their SA keys from the AKA CK and
 * IK (TS 33.203 Annex I). Pure functions: no state, no I/O. */
#ifndef CSCF_SA_KEYS_H
#define CSCF_SA_KEYS_H

#include <stddef.h>
#include <stdint.h>

/* Integrity algorithms ("alg" of Security-Client/Server); ESP always carries one. */
typedef enum ipsec_alg {
    IPSEC_ALG_HMAC_SHA1_96, /* "hmac-sha-1-96", RFC 2404 */
    IPSEC_ALG_HMAC_MD5_96,  /* "hmac-md5-96", RFC 2403 */
} ipsec_alg_t;

/* Encryption algorithms ("ealg"); "null" is RFC 2410's, no confidentiality. */
typedef enum ipsec_ealg {
    IPSEC_EALG_NULL,         /* "null" */
    IPSEC_EALG_AES_CBC,      /* "aes-cbc", RFC 3602, 128-bit key */
    IPSEC_EALG_DES_EDE3_CBC, /* "des-ede3-cbc", RFC 2451 */
} ipsec_ealg_t;

#define IPSEC_AKA_KEY_LEN  16 /* CK and IK are 128 bits */
#define IPSEC_AUTH_KEY_MAX 20
#define IPSEC_ENC_KEY_MAX  24

/* The name as Security-Client/Server spell it, or NULL for a value outside the enum. */
const char *ipsec_alg_name(ipsec_alg_t alg);
const char *ipsec_ealg_name(ipsec_ealg_t ealg);
/* 0 and *out set when name (case-insensitive: the header values are tokens) is one we know,
 * -1 otherwise (NULL included). */
int ipsec_alg_from_name(const char *name, ipsec_alg_t *out);
int ipsec_ealg_from_name(const char *name, ipsec_ealg_t *out);

/* Key lengths in bytes as Annex I expands them: 16 or 20 for alg, 0, 16 or 24 for ealg;
 * 0 for a value outside the enum (and for null). */
size_t ipsec_alg_key_len(ipsec_alg_t alg);
size_t ipsec_ealg_key_len(ipsec_ealg_t ealg);

/* The keys of one SA. */
typedef struct ipsec_keys {
    ipsec_alg_t alg;
    ipsec_ealg_t ealg;
    uint8_t auth_key[IPSEC_AUTH_KEY_MAX];
    size_t auth_key_len;
    uint8_t enc_key[IPSEC_ENC_KEY_MAX];
    size_t enc_key_len; /* 0 for null */
} ipsec_keys_t;

/* TS 33.203 Annex I from CK and IK (16 bytes each):
 *   hmac-md5-96:   IK (128 bits)            hmac-sha-1-96: IK || 32 zero bits (160 bits)
 *   aes-cbc:       CK (128 bits)            des-ede3-cbc:  CK1 || CK2 || CK1 (192 bits), where
 *   null:          no key                                  CK = CK1 || CK2, 64 bits each
 * 0, or -1 (out zeroed) for an alg or ealg outside the enums. */
int ipsec_derive_keys(ipsec_alg_t alg, ipsec_ealg_t ealg, const uint8_t ck[IPSEC_AKA_KEY_LEN],
                      const uint8_t ik[IPSEC_AKA_KEY_LEN], ipsec_keys_t *out);

#endif
